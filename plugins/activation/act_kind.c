/* The definitions of the activation layers of act_settings.h (sigmoid,
 * tanh, leaky_relu, elu, gelu, swish), for every backend: the output has
 * the input's shape, no parameters. */
#include "../common/kind.h"
#include "act_settings.h"

static int infer(const clnet_kind_args *a, clnet_layer_plan *plan, char *err)
{
    (void)err;
    plan->out = a->in[0];
    /* the `activation=` word computes the same with its own parameter
     * (activation.h): elu's 1, leaky_relu's 0.2, gelu's erf form */
    int act;
    float alpha;
    act_layer_params(a->settings, &act, &alpha);
    if (act != ACT_GELU_TANH && alpha == act_default_alpha(act))
        plan->activation_word = ACT_LAYER_KIND;
    double n = (double)kind_elems(a->in[0]);
    plan->flops_forward = ACT_LAYER_COST * n;
    plan->flops_backward = (ACT_LAYER_COST + 1) * n;
    return 0;
}

CLNET_KIND_PLUGIN(ACT_LAYER_KIND, ACT_LAYER_SUMMARY " as a layer",
                  ACT_NSETTINGS, ACT_SETTINGS, 1, 1, infer)
