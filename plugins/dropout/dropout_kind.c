/* dropout's definition, for every backend: Keras's Dropout (inverted:
 * kept values are scaled by 1 / (1 - rate) in training). */
#include "../common/kind.h"
#include "dropout_settings.h"

static int infer(const clnet_kind_args *a, clnet_layer_plan *plan, char *err)
{
    (void)err;
    plan->out = a->in[0];
    plan->flops_forward = plan->flops_backward = (double)kind_elems(a->in[0]);
    return 0;
}

CLNET_KIND_PLUGIN("dropout", "drops a share of the values in training",
                  DROPOUT_NSETTINGS, dropout_settings, 1, 1, infer)
