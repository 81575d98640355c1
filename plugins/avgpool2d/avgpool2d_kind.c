/* avgpool2d's definition, for every backend: Keras's AveragePooling2D.
 * With padding=same each average is over the window's values inside the
 * input only (the padding is not counted), as Keras computes it. */
#include "../common/kind.h"
#include "avgpool2d_settings.h"

static int infer(const clnet_kind_args *a, clnet_layer_plan *plan, char *err)
{
    clnet_window g;
    if (avgpool2d_window(a->settings, a->in[0], &g, err))
        return -1;
    plan->out = (clnet_shape){g.OH, g.OW, g.C};
    /* an add per window value and a division per output, each way */
    double adds = (double)g.OH * g.OW * g.C * g.KH * g.KW;
    plan->flops_forward = adds + (double)g.OH * g.OW * g.C;
    plan->flops_backward = plan->flops_forward;
    return 0;
}

CLNET_KIND_PLUGIN("avgpool2d", "2-D average pooling (Keras's AveragePooling2D)",
                  AVGPOOL_NSETTINGS, avgpool2d_settings, 1, 1, infer)
