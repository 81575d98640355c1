/* concat's definition, for every backend: Keras's Concatenate on the
 * channel axis (its default, axis=-1): inputs of one height and width,
 * their channels side by side in input order. */
#include "../common/kind.h"

static int infer(const clnet_kind_args *a, clnet_layer_plan *plan, char *err)
{
    int64_t c = 0;
    for (int k = 0; k < a->ninputs; k++) {
        clnet_shape s = a->in[0], t = a->in[k];
        if (s.h != t.h || s.w != t.w)
            return kind_errorf(err,
                               "concat joins channels of one height and "
                               "width: %s gives %dx%dx%d, %s gives %dx%dx%d",
                               a->in_names[0], s.h, s.w, s.c, a->in_names[k],
                               t.h, t.w, t.c);
        c += t.c;
    }
    plan->out = (clnet_shape){a->in[0].h, a->in[0].w,
                              c > CLNET_MAX_ELEMENTS ? -1 : (int32_t)c};
    if (kind_elems(plan->out) < 0)
        return kind_errorf(err, "concat of %lld channels has more than %lld "
                                "values",
                           (long long)c, CLNET_MAX_ELEMENTS);
    plan->flops_forward = plan->flops_backward = 0; /* copies */
    return 0;
}

CLNET_KIND_PLUGIN("concat", "channels side by side (Keras's Concatenate)", 0,
                  NULL, 2, CLNET_MAX_INPUTS, infer)
