/* conv2d's definition, for every backend and implementation: Keras's
 * Conv2D geometry (window.h), a [kh][kw][in][out] kernel and a bias. */
#include "../common/kind.h"
#include "conv2d_settings.h"

static int infer(const clnet_kind_args *a, clnet_layer_plan *plan, char *err)
{
    clnet_window g;
    int32_t F = a->settings[CONV_FILTERS].i[0];
    if (conv2d_window(a->settings, a->in[0], &g, err))
        return -1;
    /* one sample: the core checks the output over the batch */
    const char *what = conv2d_too_large(&g, F, 1);
    if (what)
        return conv2d_refuse_size(what, &g, F, 1, err);
    int32_t k = g.KH * g.KW * g.C;
    plan->out = (clnet_shape){g.OH, g.OW, F};
    plan->nparams = 2;
    plan->params[0] = (clnet_param_info){
        "kernel", 4, {g.KH, g.KW, g.C, F},
        (clnet_init)a->settings[CONV_KERNEL_INITIALIZER].i[0], k,
        g.KH * g.KW * F, 0};
    plan->params[1] =
        (clnet_param_info){"bias", 1, {F, 0, 0, 0}, CLNET_INIT_ZEROS, 0, 0, 0};
    plan->output_softmax = a->settings[CONV_ACTIVATION].i[0] == ACT_SOFTMAX;
    plan->folds = 1;
    double macs = (double)g.OH * g.OW * (double)k * F;
    plan->flops_forward = 2.0 * macs;
    plan->flops_backward = 4.0 * macs; /* kernel and input gradients */
    return 0;
}

CLNET_KIND_PLUGIN("conv2d", "2-D convolution (Keras's Conv2D)",
                  CONV_NSETTINGS, conv2d_settings, 1, 1, infer)
