/* depthwise_conv2d's definition, for every backend: Keras 3's
 * DepthwiseConv2D (MobileNet's building block). Output shape as Keras's
 * valid and same padding give it, C * depth_multiplier channels; the
 * depthwise kernel [kh][kw][C][multiplier] with Keras's fans for a 4-D
 * kernel (fan_in kh kw C, fan_out kh kw multiplier) and, with use_bias,
 * a bias of C * multiplier zeros. */
#include "../common/kind.h"
#include "depthwise_conv2d_settings.h"

static int infer(const clnet_kind_args *a, clnet_layer_plan *plan, char *err)
{
    const clnet_value *v = a->settings;
    clnet_shape in = a->in[0];
    const char *name = a->in_names ? a->in_names[0] : "its input";
    clnet_window g;
    char why[CLNET_ERRLEN];
    if (dw_window(v, in, &g, why))
        return kind_errorf(err, "%s (input %s)", why, name);
    int32_t M = v[DW_DEPTH_MULTIPLIER].i[0];
    int64_t taps = clnet_size_mul(g.KH, g.KW);
    int64_t co = clnet_size_mul(in.c, M);
    int64_t kernel = clnet_size_mul(taps, co);
    int64_t out = clnet_size_mul(clnet_size_mul(g.OH, g.OW), co);
    if (co < 0)
        return kind_errorf(err,
                           "%d channels from %s times depth_multiplier %d "
                           "is more than %lld output channels; use a "
                           "smaller depth_multiplier",
                           (int)in.c, name, (int)M, CLNET_MAX_ELEMENTS);
    const char *what = kernel < 0 ? "depthwise kernel"
                       : out < 0  ? "output (per sample)"
                                  : NULL;
    if (what)
        return kind_errorf(err,
                           "this layer's %s would hold more than %lld "
                           "values (kernel %dx%d, %d channels from %s, "
                           "depth_multiplier %d, output %dx%d); use a "
                           "smaller depth_multiplier or kernel, fewer "
                           "channels or a smaller image",
                           what, CLNET_MAX_ELEMENTS, (int)g.KH, (int)g.KW,
                           (int)in.c, name, (int)M, (int)g.OH, (int)g.OW);
    /* Keras's fans for a kernel of shape (kh, kw, C, M): the receptive
     * field kh kw times the second-last and the last dimension; both fit,
     * being at most the kernel's size */
    int32_t fan_in = (int32_t)(taps * in.c), fan_out = (int32_t)(taps * M);
    int use_bias = v[DW_USE_BIAS].i[0] == DW_USE_BIAS_TRUE;
    plan->out = (clnet_shape){g.OH, g.OW, (int32_t)co};
    plan->nparams = use_bias ? 2 : 1;
    plan->params[0] = (clnet_param_info){
        "depthwise_kernel", 4, {g.KH, g.KW, in.c, M},
        (clnet_init)v[DW_KERNEL_INITIALIZER].i[0], fan_in, fan_out, 0};
    if (use_bias)
        plan->params[1] = (clnet_param_info){
            "bias", 1, {(int32_t)co, 0, 0, 0}, CLNET_INIT_ZEROS, 0, 0, 0};
    plan->output_softmax = v[DW_ACTIVATION].i[0] == ACT_SOFTMAX;
    plan->folds = use_bias; /* output channel c M + m: the kernel's last
                               two axes, flattened */
    double macs = (double)out * (double)taps;
    plan->flops_forward = 2.0 * macs;
    plan->flops_backward = 4.0 * macs; /* kernel and input gradients */
    return 0;
}

CLNET_KIND_PLUGIN("depthwise_conv2d",
                  "depthwise 2-D convolution (Keras DepthwiseConv2D): each "
                  "channel convolved with its own depth_multiplier filters",
                  DW_NSETTINGS, depthwise_conv2d_settings, 1, 1, infer)
