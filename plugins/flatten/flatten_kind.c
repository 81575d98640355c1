/* flatten, for every backend. NHWC data is already in Keras's flattened
 * order, so the layer only changes the shape: its output is its input's
 * buffer, and no backend needs an implementation of it. */
#include "../common/kind.h"

static int infer(const clnet_kind_args *a, clnet_layer_plan *plan, char *err)
{
    (void)err;
    plan->out = (clnet_shape){1, 1, a->in[0].h * a->in[0].w * a->in[0].c};
    plan->alias_input = 1;
    return 0;
}

CLNET_KIND_PLUGIN("flatten", "reshape to one dimension (no copy)", 0, NULL,
                  1, 1, infer)
