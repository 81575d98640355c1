/* batchnorm's definition, for every backend: Keras 3's
 * BatchNormalization over the channel (last) axis. The output has the
 * input's shape; the parameters are Keras's, in its order: gamma (when
 * scale), beta (when center), moving_mean and moving_variance, each [C],
 * the last two non-trainable state the layer updates in training forward
 * passes. */
#include <math.h>

#include "../common/kind.h"
#include "batchnorm_settings.h"

static int infer(const clnet_kind_args *a, clnet_layer_plan *plan, char *err)
{
    clnet_shape in = a->in[0];
    int64_t elems = kind_elems(in);
    if (elems < 0)
        return kind_errorf(err, "the input %s is too large",
                           a->in_names ? a->in_names[0] : "");
    plan->out = in;
    bn_param_slots s = bn_slots(a->settings);
    plan->nparams = s.n;
    const int32_t C = in.c;
    if (s.gamma >= 0)
        plan->params[s.gamma] = (clnet_param_info){
            "gamma", 1, {C, 0, 0, 0}, CLNET_INIT_ONES, 0, 0, 0};
    if (s.beta >= 0)
        plan->params[s.beta] = (clnet_param_info){
            "beta", 1, {C, 0, 0, 0}, CLNET_INIT_ZEROS, 0, 0, 0};
    plan->params[s.mean] = (clnet_param_info){
        "moving_mean", 1, {C, 0, 0, 0}, CLNET_INIT_ZEROS, 0, 0, 1};
    plan->params[s.var] = (clnet_param_info){
        "moving_variance", 1, {C, 0, 0, 0}, CLNET_INIT_ONES, 0, 0, 1};
    plan->affine = 1;
    /* backward reads x and the batch statistics, never y: a relu or add
     * after it may write over its output */
    plan->backward_skips_output = 1;
    plan->flops_forward = BN_FLOPS_FORWARD * (double)elems;
    plan->flops_backward = BN_FLOPS_BACKWARD * (double)elems;
    return 0;
}

/* Inference: gamma (x - mean) / sqrt(var + epsilon) + beta, the moving
 * statistics' map, as the implementations compute it. */
static int inference_affine(const clnet_value *v, const float *const *params,
                            int32_t C, float *scale, float *shift, char *err)
{
    (void)err;
    bn_param_slots s = bn_slots(v);
    double eps = v[BN_EPSILON].f;
    for (int32_t c = 0; c < C; c++) {
        float a = (float)(1.0 / sqrt((double)params[s.var][c] + eps));
        if (s.gamma >= 0)
            a *= params[s.gamma][c];
        scale[c] = a;
        shift[c] = (s.beta >= 0 ? params[s.beta][c] : 0.0f) -
                   params[s.mean][c] * a;
    }
    return 0;
}

CLNET_KIND_PLUGIN_AFFINE("batchnorm",
                         "batch normalization over the channel axis (Keras's "
                         "BatchNormalization)",
                         BN_NSETTINGS, batchnorm_settings, 1, 1, infer,
                         inference_affine)
