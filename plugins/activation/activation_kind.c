/* relu's and softmax's definitions, for every backend: one source, built
 * once per kind (ACTIVATION_KIND, ACTIVATION_ID as in the layer plugins).
 * softmax runs over the channel axis, as Keras's Softmax does. */
#include "../common/activation.h"
#include "../common/kind.h"

#if !defined(ACTIVATION_KIND) || !defined(ACTIVATION_ID)
#error "build with -DACTIVATION_KIND=\"relu\" -DACTIVATION_ID=ACT_RELU"
#endif

static int infer(const clnet_kind_args *a, clnet_layer_plan *plan, char *err)
{
    (void)err;
    plan->out = a->in[0];
    plan->output_softmax = ACTIVATION_ID == ACT_SOFTMAX;
    plan->activation_word = ACTIVATION_KIND;
    /* relu's derivative reads only y > 0 (softmax's reads y, but its
     * input is the logits the loss may want) */
    plan->in_place = ACTIVATION_ID == ACT_RELU;
    plan->flops_forward = plan->flops_backward = (double)kind_elems(a->in[0]);
    return 0;
}

CLNET_KIND_PLUGIN(ACTIVATION_KIND, ACTIVATION_KIND " activation as a layer", 0,
                  NULL, 1, 1, infer)
