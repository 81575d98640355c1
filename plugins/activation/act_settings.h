/* The activation layers sigmoid, tanh, leaky_relu, elu, gelu and swish
 * (Keras 3's layers and keras.activations, formulas in
 * ../common/activation.h): one kind source (act_kind.c) and one source per
 * backend (act_layer_cpu.c, act_layer_opencl.c), built once per kind with
 * one of -DACT_LAYER_SIGMOID, _TANH, _LEAKY_RELU, _ELU, _GELU, _SWISH.
 * This header gives the kind's name, its activation id and its settings,
 * the one table the kind and its layer plugins share:
 *   leaky_relu  alpha (alias negative_slope) = 0.3, >= 0: Keras's
 *               LeakyReLU layer (the `activation=` string's slope is 0.2)
 *   elu         alpha = 1.0: Keras's ELU layer
 *   gelu        approximate = false | true: erf form, or the tanh one
 * sigmoid, tanh and swish have none. */
#ifndef CLNET_ACT_SETTINGS_H
#define CLNET_ACT_SETTINGS_H
#include "../common/activation.h"
#include "clnet/plugin.h"

#if defined(ACT_LAYER_SIGMOID)
#define ACT_LAYER_KIND "sigmoid"
#define ACT_LAYER_ID ACT_SIGMOID
#define ACT_LAYER_SUMMARY "logistic sigmoid 1 / (1 + exp(-x))"
#define ACT_LAYER_COST 4
#elif defined(ACT_LAYER_TANH)
#define ACT_LAYER_KIND "tanh"
#define ACT_LAYER_ID ACT_TANH
#define ACT_LAYER_SUMMARY "hyperbolic tangent"
#define ACT_LAYER_COST 4
#elif defined(ACT_LAYER_LEAKY_RELU)
#define ACT_LAYER_KIND "leaky_relu"
#define ACT_LAYER_ID ACT_LEAKY_RELU
#define ACT_LAYER_SUMMARY "x, or alpha x below 0 (Keras's LeakyReLU)"
#define ACT_LAYER_COST 1
#define ACT_LAYER_ALPHA_KEY "alpha", "negative_slope"
#define ACT_LAYER_ALPHA_DEFAULT "0.3"
#define ACT_LAYER_ALPHA_MIN 0
#elif defined(ACT_LAYER_ELU)
#define ACT_LAYER_KIND "elu"
#define ACT_LAYER_ID ACT_ELU
#define ACT_LAYER_SUMMARY "x, or alpha (exp(x) - 1) below 0 (Keras's ELU)"
#define ACT_LAYER_COST 4
#define ACT_LAYER_ALPHA_KEY "alpha", NULL
#define ACT_LAYER_ALPHA_DEFAULT "1.0"
#define ACT_LAYER_ALPHA_MIN -1e6
#elif defined(ACT_LAYER_GELU)
#define ACT_LAYER_KIND "gelu"
#define ACT_LAYER_ID ACT_GELU
#define ACT_LAYER_SUMMARY "Gaussian error linear unit x Phi(x), exact or tanh"
#define ACT_LAYER_COST 8
#elif defined(ACT_LAYER_SWISH)
#define ACT_LAYER_KIND "swish"
#define ACT_LAYER_ID ACT_SWISH
#define ACT_LAYER_SUMMARY "x sigmoid(x) (swish, silu)"
#define ACT_LAYER_COST 5
#else
#error "build with -DACT_LAYER_SIGMOID (or _TANH, _LEAKY_RELU, _ELU, ...)"
#endif

#if defined(ACT_LAYER_ALPHA_KEY)
enum { ACT_ALPHA, ACT_NSETTINGS };
static const clnet_setting_spec act_settings[ACT_NSETTINGS] = {
    {ACT_LAYER_ALPHA_KEY, CLNET_SET_FLOAT, ACT_LAYER_ALPHA_DEFAULT, NULL,
     ACT_LAYER_ALPHA_MIN, 1e6},
};
#define ACT_SETTINGS act_settings
#elif defined(ACT_LAYER_GELU)
enum { ACT_APPROXIMATE, ACT_NSETTINGS };
static const clnet_setting_spec act_settings[ACT_NSETTINGS] = {
    {"approximate", NULL, CLNET_SET_CHOICE, "false", "false|true", 0, 0},
};
#define ACT_SETTINGS act_settings
#else
enum { ACT_NSETTINGS };
#define ACT_SETTINGS NULL
#endif

/* The id and parameter a layer's kernels take, from its settings. */
static inline void act_layer_params(const clnet_value *v, int *act,
                                    float *alpha)
{
    (void)v;
    *act = ACT_LAYER_ID;
    *alpha = 0.0f;
#if defined(ACT_LAYER_ALPHA_KEY)
    *alpha = (float)v[ACT_ALPHA].f;
#elif defined(ACT_LAYER_GELU)
    if (v[ACT_APPROXIMATE].i[0] == 1)
        *act = ACT_GELU_TANH;
#endif
}
#endif
