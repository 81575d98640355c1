/* The geometry of a sliding window over an NHWC input (convolution
 * kernels, pooling windows), as Keras computes it for padding valid and
 * same. Backend-neutral: shared by the CPU and OpenCL plugins. */
#ifndef CLNET_WINDOW_H
#define CLNET_WINDOW_H

#include <stdint.h>

#include "clnet/plugin.h"

typedef struct {
    int32_t H, W, C;   /* input */
    int32_t KH, KW;    /* window */
    int32_t SH, SW;    /* strides */
    int32_t OH, OW;    /* output positions */
    int32_t PT, PL;    /* padding before the first row and column */
    int32_t DH, DW;    /* dilation: taps DH rows and DW columns apart */
} clnet_window;

/* Fills g for an input `in` and a window; on a window that does not fit
 * a valid-padded input, writes a message naming `what` ("kernel",
 * "pool") into err and returns -1. */
int window_geometry(clnet_shape in, int32_t kh, int32_t kw, int32_t sh,
                    int32_t sw, int same, const char *what, clnet_window *g,
                    char *err);
/* The same with dilation dh x dw (Keras's dilation_rate): the window
 * spans dh * (kh - 1) + 1 rows. */
int window_geometry_dilated(clnet_shape in, int32_t kh, int32_t kw,
                            int32_t sh, int32_t sw, int32_t dh, int32_t dw,
                            int same, const char *what, clnet_window *g,
                            char *err);

/* The window of the convolution that gives a stride-1 convolution's
 * input gradient (g: that convolution, F filters): it runs over g's output
 * (F channels) with g's kernel turned half a turn, padded so that its
 * output positions are g's input pixels. */
clnet_window window_transposed(const clnet_window *g, int32_t F);

#endif
