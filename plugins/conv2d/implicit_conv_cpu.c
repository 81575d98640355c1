/* The native CPU's implicit-GEMM convolution, for the forward product and
 * (as a convolution of dy with the flipped kernel) the stride-1 input
 * gradient: each tile of TM output pixels by 64 (or 16) filters
 * accumulates in explicit 16-float vectors that the compiler keeps in
 * registers, reading its input values straight from x, so there is no
 * im2col matrix to write and read back (the seed model's conv2 forward in
 * `clnet bench`: 6.8-7.1 ms against 9.3-9.5 by im2col + OpenBLAS,
 * BENCHMARKS.md). A tap that every pixel of the tile reaches inside x
 * takes a loop without bounds tests. Needs the build's -ffp-contract=fast
 * for fused multiply-adds. */
#include <stddef.h>

#include "../common/vec16.h"
#include "implicit_conv_cpu.h"

#define TM 4    /* output pixels per tile */
#define NVMAX 4 /* 16-filter vectors per tile */

int implicit_conv_fits(int32_t F) { return F > 0 && F % 16 == 0; }

/* Where a tile's pixels read x: window origins and image bases. Rows past
 * the last pixel repeat it; they are never stored. */
typedef struct {
    int32_t y0[TM], x0[TM];
    const float *xb[TM];
} tile_pixels;

static void locate(const clnet_window *g, const float *x, long i0,
                   long pixels, tile_pixels *t) {
    for (int ii = 0; ii < TM; ii++) {
        long p = i0 + ii < pixels ? i0 + ii : pixels - 1;
        long ox = p % g->OW, oy = (p / g->OW) % g->OH, b = p / (g->OW * g->OH);
        t->y0[ii] = (int32_t)(oy * g->SH - g->PT);
        t->x0[ii] = (int32_t)(ox * g->SW - g->PL);
        t->xb[ii] = x + (size_t)b * g->H * g->W * g->C;
    }
}

/* Channel c of one tap into acc; X_VALUE: the input under the tap for
 * pixel ii. */
#define TAP_TERMS(X_VALUE)                                                   \
    for (int32_t c = 0; c < g->C; c++) {                                     \
        v16 b[NVMAX];                                                        \
        for (int v = 0; v < nv; v++)                                         \
            b[v] = *(const v16 *)(wk + (size_t)c * F + 16 * v);              \
        for (int ii = 0; ii < TM; ii++) {                                    \
            const v16 a = (X_VALUE) - (v16){0};                              \
            for (int v = 0; v < nv; v++)                                     \
                acc[ii][v] += a * b[v];                                      \
        }                                                                    \
    }

/* One tile: nv x 16 filters from f0 for the pixels in t, rows of them
 * stored from output row i0. Inlined with a constant nv, so the loops
 * over v unroll and acc stays in registers. */
static inline __attribute__((always_inline)) void
tile(const clnet_window *g, int32_t F, const float *w, const float *bias,
     int relu, float *y, long i0, int rows, const tile_pixels *t, int32_t f0,
     int nv) {
    v16 acc[TM][NVMAX];
    for (int ii = 0; ii < TM; ii++)
        for (int v = 0; v < nv; v++)
            acc[ii][v] = (v16){0};
    for (int32_t ky = 0; ky < g->KH; ky++)
        for (int32_t kx = 0; kx < g->KW; kx++) {
            const float *src[TM];
            int ok[TM], all = 1, any = 0;
            for (int ii = 0; ii < TM; ii++) {
                int32_t iy = t->y0[ii] + ky, ix = t->x0[ii] + kx;
                ok[ii] = (uint32_t)iy < (uint32_t)g->H &&
                         (uint32_t)ix < (uint32_t)g->W;
                src[ii] = t->xb[ii] +
                          (ok[ii] ? ((size_t)iy * g->W + ix) * g->C : 0);
                all &= ok[ii];
                any |= ok[ii];
            }
            const float *wk = w + (size_t)(ky * g->KW + kx) * g->C * F + f0;
            if (all)
                TAP_TERMS(src[ii][c])
            else if (any)
                TAP_TERMS(ok[ii] ? src[ii][c] : 0.0f)
        }
    for (int ii = 0; ii < rows; ii++)
        for (int v = 0; v < nv; v++) {
            v16 o = acc[ii][v];
            if (bias)
                o += *(const v16 *)(bias + f0 + 16 * v);
            if (relu)
                o = V16_RELU(o);
            *(v16 *)(y + (size_t)(i0 + ii) * F + f0 + 16 * v) = o;
        }
}

void implicit_conv_forward(const clnet_window *g, int32_t F, const float *x,
                           const float *w, const float *bias, int relu,
                           float *y, long pixels) {
    long tiles = (pixels + TM - 1) / TM;
#pragma omp parallel for schedule(static)
    for (long n = 0; n < tiles; n++) {
        long i0 = n * TM;
        int rows = pixels - i0 < TM ? (int)(pixels - i0) : TM;
        tile_pixels t;
        locate(g, x, i0, pixels, &t);
        int32_t f0 = 0;
        for (; f0 + 16 * NVMAX <= F; f0 += 16 * NVMAX)
            tile(g, F, w, bias, relu, y, i0, rows, &t, f0, NVMAX);
        for (; f0 < F; f0 += 16)
            tile(g, F, w, bias, relu, y, i0, rows, &t, f0, 1);
    }
}

int implicit_conv_input_grad_fits(const clnet_window *g) {
    return g->SH == 1 && g->SW == 1 && implicit_conv_fits(g->C);
}

void conv_flipped_weights(const clnet_window *g, int32_t F, const float *w,
                          float *wflip) {
    int32_t taps = g->KH * g->KW, C = g->C;
#pragma omp parallel for schedule(static)
    for (int32_t tap = 0; tap < taps; tap++)
        for (int32_t c = 0; c < C; c++)
            for (int32_t f = 0; f < F; f++)
                wflip[((size_t)(taps - 1 - tap) * F + f) * C + c] =
                    w[((size_t)tap * C + c) * F + f];
}

void implicit_conv_input_grad(const clnet_window *g, int32_t F,
                              const float *dy, const float *w, float *wflip,
                              float *dx, long images) {
    int32_t C = g->C;
    conv_flipped_weights(g, F, w, wflip);
    clnet_window t = window_transposed(g, F);
    implicit_conv_forward(&t, C, dy, wflip, NULL, 0, dx,
                          images * g->H * g->W);
}
