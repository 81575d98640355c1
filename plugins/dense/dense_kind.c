/* dense's definition, for every backend: Keras's Dense, applied to the
 * last (channel) axis of its input, so a rank-1 input (h = w = 1) gives
 * the usual fully connected layer and an h x w x c input h x w x units. */
#include "../common/kind.h"
#include "dense_settings.h"

static int infer(const clnet_kind_args *a, clnet_layer_plan *plan, char *err)
{
    clnet_shape in = a->in[0];
    int32_t U = a->settings[DENSE_UNITS].i[0];
    int64_t rows = clnet_size_mul(in.h, in.w);
    if (clnet_size_mul(in.c, U) < 0 || clnet_size_mul(rows, U) < 0)
        return kind_errorf(err, "%d inputs x %d units is too many weights; "
                                "add pooling before it",
                           (int)in.c, (int)U);
    plan->out = (clnet_shape){in.h, in.w, U};
    plan->nparams = 2;
    plan->params[0] = (clnet_param_info){
        "kernel", 2, {in.c, U, 0, 0},
        (clnet_init)a->settings[DENSE_KERNEL_INITIALIZER].i[0], in.c, U, 0};
    plan->params[1] =
        (clnet_param_info){"bias", 1, {U, 0, 0, 0}, CLNET_INIT_ZEROS, 0, 0, 0};
    plan->output_softmax = a->settings[DENSE_ACTIVATION].i[0] == ACT_SOFTMAX;
    plan->folds = 1;
    double macs = (double)rows * in.c * U;
    plan->flops_forward = 2.0 * macs;
    plan->flops_backward = 4.0 * macs; /* kernel and input gradients */
    return 0;
}

CLNET_KIND_PLUGIN("dense", "fully connected layer over the last axis",
                  DENSE_NSETTINGS, dense_settings, 1, 1, infer)
