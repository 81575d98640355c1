/* maxpool2d's definition, for every backend: Keras's MaxPooling2D. */
#include "../common/kind.h"
#include "maxpool2d_settings.h"

static int infer(const clnet_kind_args *a, clnet_layer_plan *plan, char *err)
{
    clnet_window g;
    if (maxpool2d_window(a->settings, a->in[0], &g, err))
        return -1;
    plan->out = (clnet_shape){g.OH, g.OW, g.C};
    double compares = (double)g.OH * g.OW * g.C * g.KH * g.KW;
    plan->flops_forward = compares;
    plan->flops_backward = (double)g.OH * g.OW * g.C;
    return 0;
}

CLNET_KIND_PLUGIN("maxpool2d", "2-D max pooling (Keras's MaxPooling2D)",
                  POOL_NSETTINGS, maxpool2d_settings, 1, 1, infer)
