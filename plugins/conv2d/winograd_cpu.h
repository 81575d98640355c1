/* The native CPU's Winograd convolution F(4x4, 3x3): 3x3 stride-1
 * convolutions (forward and input gradient) and their weight gradients
 * with 36 multiplications per 4x4 output tile and channel pair instead
 * of 144, for the layers conv2d_winograd_fits takes. */
#ifndef CLNET_WINOGRAD_CPU_H
#define CLNET_WINOGRAD_CPU_H

#include <stddef.h>

#include "../common/window.h"

/* Floats of the scratch each thread needs for window g, F filters, and
 * (winograd_weight_floats) of a transformed kernel: 36 x C x F. */
size_t winograd_scratch_floats(const clnet_window *g, int32_t F);
size_t winograd_weight_floats(const clnet_window *g, int32_t F);

/* u <- the transformed kernel of window g (C channels, F filters) from
 * w. Not flipped: w is that kernel, K x F with K running ky, kx, c.
 * Flipped: g is a layer's window_transposed and w that layer's own
 * kernel (9 x F x C in g's terms), read turned half a turn with its axes
 * swapped: the kernel whose convolution of dy gives the layer's dx. */
void winograd_weights(const clnet_window *g, int32_t F, const float *w,
                      int flipped, float *u);

/* y <- the convolution of x (`images` NHWC images) with the kernel whose
 * transform is u, plus bias (none when NULL), relu when relu. scratch:
 * nthreads x winograd_scratch_floats. */
void winograd_forward(const clnet_window *g, int32_t F, const float *x,
                      const float *u, const float *bias, int relu, float *y,
                      long images, int nthreads, float *scratch);

/* Floats of each thread's partial sums in winograd_weight_grad. */
size_t winograd_partial_floats(const clnet_window *g, int32_t F);

/* dw (K x F) and db (F) <- the weight and bias gradients for input x and
 * output gradient dy of `images` images. With relu_y (the layer's relu
 * output) dy is first masked to where relu_y > 0, in place when keep_dy;
 * without, dy is taken as it is. partial: nthreads x
 * winograd_partial_floats, the threads' sums, added in thread order. */
void winograd_weight_grad(const clnet_window *g, int32_t F, const float *x,
                          float *dy, const float *relu_y, int keep_dy,
                          float *dw, float *db, long images, int nthreads,
                          float *scratch, float *partial);

#endif
