/* The native CPU's implicit-GEMM convolution: the forward product read
 * straight from the NHWC input, no im2col matrix. */
#ifndef CLNET_IMPLICIT_CONV_CPU_H
#define CLNET_IMPLICIT_CONV_CPU_H

#include "../common/window.h"

/* Whether implicit_conv_forward takes a layer of F filters: whole
 * 16-filter vectors. */
int implicit_conv_fits(int32_t F);

/* y (pixels x F) <- x * w + bias (none when NULL), relu when relu, over
 * output pixels [0, pixels) of window g; w is K x F with K running (ky,
 * kx, c). Runs its own OpenMP parallel for. */
void implicit_conv_forward(const clnet_window *g, int32_t F, const float *x,
                           const float *w, const float *bias, int relu,
                           float *y, long pixels);

/* Whether implicit_conv_input_grad takes window g: stride 1 (a larger one
 * would need dy spread out with zeros) and channels in 16s. */
int implicit_conv_input_grad_fits(const clnet_window *g);

/* wflip (K x C, K running ky, kx, f) <- the kernel w (K x F) of window g
 * turned half a turn, its filter and channel axes swapped: the kernel of
 * the convolution of dy that gives a stride-1 convolution's dx. */
void conv_flipped_weights(const clnet_window *g, int32_t F, const float *w,
                          float *wflip);

/* dx of `images` images <- the input gradient of the convolution (window
 * g, F filters, weights w) for output gradient dy: a stride-1 convolution
 * of dy with w turned half a turn, its filter and channel axes swapped
 * (written into wflip by conv_flipped_weights), by implicit_conv_forward. */
void implicit_conv_input_grad(const clnet_window *g, int32_t F,
                              const float *dy, const float *w, float *wflip,
                              float *dx, long images);

#endif
