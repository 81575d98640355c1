/* Helpers the native CPU plugins share: threads, activations, bias. Linked
 * statically into each CPU plugin; the core never sees them. */
#ifndef CLNET_CPU_COMMON_H
#define CLNET_CPU_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "clnet/plugin.h"

#include "activation.h"

/* Uses `threads` worker threads (0: all cores) in OpenMP and OpenBLAS. */
void cpu_set_threads(int32_t threads);

/* y[r][c] += bias[c] (when bias is not NULL), then the activation, over
 * `rows` rows of `cols` values. */
void cpu_bias_activation(float *y, size_t rows, size_t cols, const float *bias,
                         int act);
/* Turns dy (gradient of the activation's output y) into the gradient of
 * its input, in place. With `fused` the softmax step is skipped: the loss
 * already gave the gradient with respect to the logits. Only for the
 * activations whose gradient follows from y (activation.h): with gelu or
 * swish (act_needs_input) it cannot, and leaves dy as it is; call
 * cpu_activation_grad with the pre-activation input instead. The new ids
 * take the `activation=` string's parameter (act_default_alpha). */
void cpu_activation_backward(const float *y, float *dy, size_t rows,
                             size_t cols, int act, int fused);

/* y = act(x) over `rows` rows of `cols` values (softmax over each row),
 * with alpha the slope of leaky_relu or elu's alpha (ignored by the
 * others); x may be y. Any id of activation.h, ACT_GELU_TANH included. */
void cpu_activation(const float *x, float *y, size_t rows, size_t cols,
                    int act, float alpha);
/* dx = dy times the activation's derivative at x, where y = act(x) as
 * cpu_activation computed it: every id, gelu and swish included (they read
 * x; sigmoid, tanh and softmax read y). dx may be dy; with `fused` softmax
 * passes dy through. */
void cpu_activation_grad(const float *x, const float *y, const float *dy,
                         float *dx, size_t rows, size_t cols, int act,
                         float alpha, int fused);
/* gelu or swish as a layer's `activation=`, after its linear output (bias
 * included) is in y: keeps that output in pre (n values), then y =
 * act(pre); the gradient needs it, as the fused epilogues do not. */
void cpu_post_activation(float *y, float *pre, size_t n, int act);
/* dy = dy act'(pre), in place, for cpu_post_activation's y and pre. */
void cpu_post_activation_grad(const float *pre, const float *y, float *dy,
                              size_t n, int act);
/* db[c] = sum over rows of dy[r][c], summed in a fixed order. */
void cpu_bias_grad(const float *dy, size_t rows, size_t cols, float *db);

/* out[i] = sum over t < nparts of parts[t * stride + i], i < n: threads'
 * partial sums added in thread order, so a result does not depend on
 * timing. */
void cpu_sum_partials(const float *parts, int nparts, size_t stride,
                      size_t n, float *out);

void cpu_errorf(char *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void *cpu_alloc(size_t bytes);

#endif
