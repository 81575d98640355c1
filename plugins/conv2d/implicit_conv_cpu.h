/* The native CPU's implicit-GEMM convolution: the forward product read
 * straight from the NHWC input, no im2col matrix. */
#ifndef CLNET_IMPLICIT_CONV_CPU_H
#define CLNET_IMPLICIT_CONV_CPU_H

#include "../common/window.h"

/* Whether implicit_conv_forward takes a layer of F filters: whole
 * 16-filter vectors. */
int implicit_conv_fits(int32_t F);

/* y (pixels x F) <- x * w + bias, relu when relu, over output pixels
 * [0, pixels) of window g; w is K x F with K running (ky, kx, c). Runs on
 * the calling OpenMP team's threads (a parallel for). */
void implicit_conv_forward(const clnet_window *g, int32_t F, const float *x,
                           const float *w, const float *bias, int relu,
                           float *y, long pixels);

#endif
