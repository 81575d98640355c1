/* Activation choices as written in topology files (`activation=`); the
 * index is what the core hands a plugin for that CLNET_SET_CHOICE setting,
 * and what cl/activation.cl's kernels take. Shared by every backend.
 *
 * Keras 3's keras.activations, with the parameters an `activation=` string
 * gets there: leaky_relu negative_slope 0.2, elu alpha 1.0, gelu exact
 * (erf; approximate=False). The activation layers (plugins/activation/
 * act_*.c) take their own alpha and pass it beside the id.
 *
 *   linear      x
 *   relu        max(x, 0)
 *   softmax     exp(x - max) / sum over the row (the channel axis)
 *   sigmoid     1 / (1 + exp(-x)), evaluated without overflow for any x
 *   tanh        tanh(x)
 *   leaky_relu  x > 0 ? x : alpha x
 *   elu         x > 0 ? x : alpha (exp(x) - 1)
 *   gelu        x Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
 *   swish       x sigmoid(x) (Keras's silu)
 *
 * ACT_GELU_TANH is gelu's approximate=True form, 0.5 x (1 + tanh(sqrt(2 /
 * pi) (x + 0.044715 x^3))), computed as x sigmoid(2 u) of the same u,
 * which is equal and does not cancel for negative x; it is no
 * `activation=` word, only the id the gelu layer passes its kernels.
 *
 * Which gradients follow from the output y alone (the fused bias and
 * activation of dense and conv2d keep only y; for the others they keep
 * the sums before it too, cpu_post_activation):
 *   linear, relu (y > 0), softmax (y (dy - sum dy y)), sigmoid (y (1 -
 *   y)), tanh (1 - y^2), leaky_relu for alpha >= 0 (y > 0 ? 1 : alpha),
 *   elu for alpha >= 0 (y > 0 ? 1 : y + alpha).
 * gelu, gelu_tanh and swish are not monotonic, so their derivative needs
 * the pre-activation input x: act_needs_input() tells. At x = 0 the
 * derivative taken is that of the x <= 0 side for relu (0), leaky_relu
 * (alpha) and elu (alpha), as TensorFlow's and JAX's gradients do. */
#ifndef CLNET_ACTIVATION_H
#define CLNET_ACTIVATION_H


#include "clnet/plugin.h"

#define CLNET_ACTIVATION_CHOICES                                             \
    "linear|relu|softmax|sigmoid|tanh|leaky_relu|elu|gelu|swish"
enum {
    ACT_LINEAR = 0,
    ACT_RELU = 1,
    ACT_SOFTMAX = 2,
    ACT_SIGMOID = 3,
    ACT_TANH = 4,
    ACT_LEAKY_RELU = 5,
    ACT_ELU = 6,
    ACT_GELU = 7,
    ACT_SWISH = 8,
    ACT_GELU_TANH = 9 /* not a choice: gelu's layer with approximate=true */
};

/* The parameter an `activation=` string implies (keras.activations'
 * defaults): what dense and conv2d pass as alpha. */
#define ACT_LEAKY_RELU_SLOPE 0.2f
#define ACT_ELU_ALPHA 1.0f
static inline float act_default_alpha(int act)
{
    return act == ACT_LEAKY_RELU ? ACT_LEAKY_RELU_SLOPE
           : act == ACT_ELU      ? ACT_ELU_ALPHA
                                 : 0.0f;
}

/* 1 when the gradient needs the pre-activation input x, not only y. */
static inline int act_needs_input(int act)
{
    return act == ACT_GELU || act == ACT_SWISH || act == ACT_GELU_TANH;
}

#endif
