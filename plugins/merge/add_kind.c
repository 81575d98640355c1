/* add's definition, for every backend: Keras's Add, the element-wise sum
 * of two or more tensors of one shape (a residual block's shortcut). */
#include "../common/kind.h"

static int infer(const clnet_kind_args *a, clnet_layer_plan *plan, char *err)
{
    for (int k = 1; k < a->ninputs; k++) {
        clnet_shape s = a->in[0], t = a->in[k];
        if (s.h != t.h || s.w != t.w || s.c != t.c)
            return kind_errorf(err,
                               "add needs inputs of one shape: %s gives "
                               "%dx%dx%d, %s gives %dx%dx%d",
                               a->in_names[0], s.h, s.w, s.c, a->in_names[k],
                               t.h, t.w, t.c);
    }
    plan->out = a->in[0];
    double n = (double)kind_elems(a->in[0]);
    plan->flops_forward = n * (a->ninputs - 1);
    plan->flops_backward = 0; /* the gradient passes through unchanged */
    /* the sum may land on input 0's buffer; the gradient needs no values */
    plan->in_place = 1;
    plan->backward_skips_output = 1;
    return 0;
}

CLNET_KIND_PLUGIN("add", "element-wise sum of equal shapes (Keras's Add)", 0,
                  NULL, 2, CLNET_MAX_INPUTS, infer)
