/* global_avgpool2d's and global_maxpool2d's definitions, for every
 * backend (global_pool.h). */
#include "../common/kind.h"
#include "global_pool.h"

static int infer(const clnet_kind_args *a, clnet_layer_plan *plan, char *err)
{
    (void)err;
    clnet_shape in = a->in[0];
    plan->out = (clnet_shape){1, 1, in.c};
    double values = (double)kind_elems(in);
    plan->flops_forward = values;
    plan->flops_backward = values;
    return 0;
}

#if GLOBAL_POOL_MAX
#define GLOBAL_POOL_SUMMARY                                                  \
    "maximum over positions (Keras's GlobalMaxPooling2D)"
#else
#define GLOBAL_POOL_SUMMARY                                                  \
    "mean over positions (Keras's GlobalAveragePooling2D)"
#endif

CLNET_KIND_PLUGIN(GLOBAL_POOL_KIND, GLOBAL_POOL_SUMMARY, 0, NULL, 1, 1, infer)
