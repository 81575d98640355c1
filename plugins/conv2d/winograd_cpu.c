/* The native CPU's Winograd convolution F(2x2, 3x3) (Lavin and Gray,
 * "Fast Algorithms for Convolutional Neural Networks", 2015). Each 2x2
 * tile of output pixels reads a 4x4 input patch d; with the kernel g of
 * one channel/filter pair turned into u = G g G', the tile is
 * A' [u . (B' d B)] A: 16 multiplications where the direct sum takes 36.
 * Summed over channels, the 16 elementwise products become 16 GEMMs of
 * (tiles x C) by (C x F), which run here as register tiles of 4 rows by
 * 64 columns, like implicit_conv_cpu.c.
 *
 * The weight gradient is the same bilinear form read the other way:
 * dw = G' [sum over tiles of (A dy A') . (B' d B)] G, 16 GEMMs of
 * (C x tiles) by (tiles x F) and one transform at the end.
 *
 * Tiles go through in blocks of TB, so that the transformed patches and
 * products of a block stay in the core's cache instead of making a round
 * trip through memory (for the seed model's conv2 they would be 57 MB).
 * Each thread takes a contiguous share of the tiles. */
#include <omp.h>
#include <string.h>

#include "winograd_cpu.h"

#define TB 32    /* tiles per block, a multiple of RM */
#define RM 4     /* rows of a register tile */
#define NVMAX 4  /* 16-float vectors across a register tile */

/* aligned(4): rows start wherever a layer's buffer and offsets put them */
typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef int32_t i16v __attribute__((vector_size(64), aligned(4)));

int winograd_fits(const clnet_window *g, int32_t F) {
    return g->KH == 3 && g->KW == 3 && g->SH == 1 && g->SW == 1 &&
           g->C > 0 && g->C % 16 == 0 && F > 0 && F % 16 == 0;
}

static int32_t widest(const clnet_window *g, int32_t F) {
    return g->C > F ? g->C : F;
}

size_t winograd_scratch_floats(const clnet_window *g, int32_t F) {
    return 2 * (size_t)16 * TB * (size_t)widest(g, F);
}

size_t winograd_weight_floats(const clnet_window *g, int32_t F) {
    return (size_t)16 * g->C * F;
}

/* Where tile t of a window's output lies: image n, output origin (oy,
 * ox), input origin (iy, ix). */
typedef struct {
    long n;
    int32_t oy, ox, iy, ix;
} tile_at;

static tile_at locate(const clnet_window *g, long t) {
    long tw = (g->OW + 1) / 2, th = (g->OH + 1) / 2;
    tile_at a;
    a.n = t / (th * tw);
    a.oy = (int32_t)(t / tw % th) * 2;
    a.ox = (int32_t)(t % tw) * 2;
    a.iy = a.oy - g->PT;
    a.ix = a.ox - g->PL;
    return a;
}

/* The 4x4 patch of channels c0 .. c0+15 under tile a, zeros outside x. */
static inline void gather(const clnet_window *g, const float *x,
                          const tile_at *a, int32_t c0, v16 d[16]) {
    const float *xi = x + (size_t)a->n * g->H * g->W * g->C + c0;
    if (a->iy >= 0 && a->iy + 4 <= g->H && a->ix >= 0 && a->ix + 4 <= g->W) {
        for (int r = 0; r < 4; r++)
            for (int s = 0; s < 4; s++)
                d[4 * r + s] = *(const v16 *)(
                    xi + ((size_t)(a->iy + r) * g->W + a->ix + s) * g->C);
        return;
    }
    for (int r = 0; r < 4; r++)
        for (int s = 0; s < 4; s++) {
            int32_t iy = a->iy + r, ix = a->ix + s;
            d[4 * r + s] =
                (uint32_t)iy < (uint32_t)g->H && (uint32_t)ix < (uint32_t)g->W
                    ? *(const v16 *)(xi + ((size_t)iy * g->W + ix) * g->C)
                    : (v16){0};
        }
}

/* e <- B' d B. */
static inline void input_transform(const v16 d[16], v16 e[16]) {
    v16 t[16];
    for (int j = 0; j < 4; j++) {
        t[j] = d[j] - d[8 + j];
        t[4 + j] = d[4 + j] + d[8 + j];
        t[8 + j] = d[8 + j] - d[4 + j];
        t[12 + j] = d[4 + j] - d[12 + j];
    }
    for (int i = 0; i < 4; i++) {
        e[4 * i] = t[4 * i] - t[4 * i + 2];
        e[4 * i + 1] = t[4 * i + 1] + t[4 * i + 2];
        e[4 * i + 2] = t[4 * i + 2] - t[4 * i + 1];
        e[4 * i + 3] = t[4 * i + 1] - t[4 * i + 3];
    }
}

/* o (2x2) <- A' m A. */
static inline void output_transform(const v16 m[16], v16 o[4]) {
    v16 s[8];
    for (int j = 0; j < 4; j++) {
        s[j] = m[j] + m[4 + j] + m[8 + j];
        s[4 + j] = m[4 + j] - m[8 + j] - m[12 + j];
    }
    for (int i = 0; i < 2; i++) {
        o[2 * i] = s[4 * i] + s[4 * i + 1] + s[4 * i + 2];
        o[2 * i + 1] = s[4 * i + 1] - s[4 * i + 2] - s[4 * i + 3];
    }
}

/* e (4x4) <- A q A' for a 2x2 tile q of output gradients. */
static inline void gradient_transform(const v16 q[4], v16 e[16]) {
    v16 t[8];
    for (int j = 0; j < 2; j++) {
        t[j] = q[j];
        t[2 + j] = q[j] + q[2 + j];
        t[4 + j] = q[j] - q[2 + j];
        t[6 + j] = -q[2 + j];
    }
    for (int i = 0; i < 4; i++) {
        e[4 * i] = t[2 * i];
        e[4 * i + 1] = t[2 * i] + t[2 * i + 1];
        e[4 * i + 2] = t[2 * i] - t[2 * i + 1];
        e[4 * i + 3] = -t[2 * i + 1];
    }
}

/* rows (4x3 from 3x3, or 3x4 from 4x4) of G k and G' k: the weight
 * transform and the weight gradient's way back. */
static inline void g_rows(const v16 k[3], v16 r[4]) {
    r[0] = k[0];
    r[1] = 0.5f * (k[0] + k[1] + k[2]);
    r[2] = 0.5f * (k[0] - k[1] + k[2]);
    r[3] = k[2];
}

static inline void gt_rows(const v16 m[4], v16 r[3]) {
    r[0] = m[0] + 0.5f * (m[1] + m[2]);
    r[1] = 0.5f * (m[1] - m[2]);
    r[2] = 0.5f * (m[1] + m[2]) + m[3];
}

void winograd_weights(const clnet_window *g, int32_t F, const float *w,
                      float *u) {
    int32_t C = g->C;
#pragma omp parallel for schedule(static)
    for (int32_t c = 0; c < C; c++)
        for (int32_t f0 = 0; f0 < F; f0 += 16) {
            v16 k[9], r[12], col[3], out[4];
            for (int tap = 0; tap < 9; tap++)
                k[tap] = *(const v16 *)(w + ((size_t)tap * C + c) * F + f0);
            for (int j = 0; j < 3; j++) { /* G k, column j */
                v16 kc[3] = {k[j], k[3 + j], k[6 + j]}, rc[4];
                g_rows(kc, rc);
                for (int i = 0; i < 4; i++)
                    r[3 * i + j] = rc[i];
            }
            for (int i = 0; i < 4; i++) { /* (G k) G', row i */
                for (int j = 0; j < 3; j++)
                    col[j] = r[3 * i + j];
                g_rows(col, out);
                for (int j = 0; j < 4; j++)
                    *(v16 *)(u + ((size_t)(4 * i + j) * C + c) * F + f0) =
                        out[j];
            }
        }
}

/* out[i][0 .. 16 nv) (+)= sum over kk < K of a[i][kk] b[kk][...] for RM
 * rows i; a[i][kk] at a + i as + kk ak, b[kk] at b + kk bk, out[i] at out
 * + i os. Inlined with constant nv so that acc stays in registers. */
static inline __attribute__((always_inline)) void
micro(const float *a, long as, long ak, const float *b, long bk, long K,
      float *out, long os, int accumulate, int nv) {
    v16 acc[RM][NVMAX];
    for (int i = 0; i < RM; i++)
        for (int v = 0; v < nv; v++)
            acc[i][v] = accumulate ? *(const v16 *)(out + i * os + 16 * v)
                                   : (v16){0};
    for (long kk = 0; kk < K; kk++) {
        v16 bv[NVMAX];
        for (int v = 0; v < nv; v++)
            bv[v] = *(const v16 *)(b + kk * bk + 16 * v);
        for (int i = 0; i < RM; i++) {
            const v16 av = a[i * as + kk * ak] - (v16){0};
            for (int v = 0; v < nv; v++)
                acc[i][v] += av * bv[v];
        }
    }
    for (int i = 0; i < RM; i++)
        for (int v = 0; v < nv; v++)
            *(v16 *)(out + i * os + 16 * v) = acc[i][v];
}

/* out (rows x cols) (+)= a b, rows a multiple of RM, cols of 16: column
 * blocks outside, so that a block of b stays in L1 while the rows pass. */
static inline __attribute__((always_inline)) void
product(const float *a, long as, long ak, int32_t rows, const float *b,
        long bk, long K, float *out, long os, int accumulate, int32_t cols) {
    int32_t f0 = 0;
    for (; f0 + 16 * NVMAX <= cols; f0 += 16 * NVMAX)
        for (int32_t i = 0; i < rows; i += RM)
            micro(a + i * as, as, ak, b + f0, bk, K, out + i * os + f0, os,
                  accumulate, NVMAX);
    for (; f0 < cols; f0 += 16)
        for (int32_t i = 0; i < rows; i += RM)
            micro(a + i * as, as, ak, b + f0, bk, K, out + i * os + f0, os,
                  accumulate, 1);
}

/* The share [lo, hi) of n items that thread t of T takes. */
static void share(long n, int t, int T, long *lo, long *hi) {
    *lo = n * t / T;
    *hi = n * (t + 1) / T;
}

static long tiles_of(const clnet_window *g, long images) {
    return images * ((g->OH + 1) / 2) * ((g->OW + 1) / 2);
}

/* Output tiles [t0, t0 + nt) of the forward convolution. v and m: TB
 * transformed patches and products for each of the 16 positions. */
static void forward_block(const clnet_window *g, int32_t F, const float *x,
                          const float *u, const float *bias, int relu,
                          float *y, long t0, int nt, float *v, float *m) {
    const int32_t C = g->C;
    const long vs = (long)TB * C, ms = (long)TB * F;
    const int nr = (nt + RM - 1) / RM * RM;
    for (int i = 0; i < nt; i++) {
        tile_at a = locate(g, t0 + i);
        for (int32_t c0 = 0; c0 < C; c0 += 16) {
            v16 d[16], e[16];
            gather(g, x, &a, c0, d);
            input_transform(d, e);
            for (int k = 0; k < 16; k++)
                *(v16 *)(v + k * vs + (long)i * C + c0) = e[k];
        }
    }
    for (int i = nt; i < nr; i++) /* rows a register tile reads past nt */
        for (int k = 0; k < 16; k++)
            memset(v + k * vs + (long)i * C, 0, sizeof(float) * C);
    for (int k = 0; k < 16; k++)
        product(v + k * vs, C, 1, nr, u + (size_t)k * C * F, F, C,
                m + k * ms, F, 0, F);
    for (int i = 0; i < nt; i++) {
        tile_at a = locate(g, t0 + i);
        float *yi = y + (size_t)a.n * g->OH * g->OW * F;
        for (int32_t f0 = 0; f0 < F; f0 += 16) {
            v16 p[16], o[4];
            for (int k = 0; k < 16; k++)
                p[k] = *(const v16 *)(m + k * ms + (long)i * F + f0);
            output_transform(p, o);
            for (int q = 0; q < 4; q++) {
                int32_t oy = a.oy + q / 2, ox = a.ox + q % 2;
                if (oy >= g->OH || ox >= g->OW)
                    continue;
                v16 r = o[q];
                if (bias)
                    r += *(const v16 *)(bias + f0);
                if (relu)
                    r = (v16)((i16v)r & (r > (v16){0}));
                *(v16 *)(yi + ((size_t)oy * g->OW + ox) * F + f0) = r;
            }
        }
    }
}

void winograd_forward(const clnet_window *g, int32_t F, const float *x,
                      const float *u, const float *bias, int relu, float *y,
                      long images, int nthreads, float *scratch) {
    const long tiles = tiles_of(g, images);
    const size_t each = winograd_scratch_floats(g, F);
#pragma omp parallel num_threads(nthreads)
    {
        int t = omp_get_thread_num();
        long lo, hi;
        share(tiles, t, omp_get_num_threads(), &lo, &hi);
        float *v = scratch + (size_t)t * each, *m = v + each / 2;
        for (long t0 = lo; t0 < hi; t0 += TB)
            forward_block(g, F, x, u, bias, relu, y, t0,
                          hi - t0 < TB ? (int)(hi - t0) : TB, v, m);
    }
}

/* Adds tiles [t0, t0 + nt)'s share of the transformed weight gradient
 * into part (16 x C x F). */
static void weight_grad_block(const clnet_window *g, int32_t F,
                              const float *x, const float *dy, long t0,
                              int nt, float *v, float *e, float *part) {
    const int32_t C = g->C;
    const long vs = (long)TB * C, es = (long)TB * F;
    for (int i = 0; i < nt; i++) {
        tile_at a = locate(g, t0 + i);
        for (int32_t c0 = 0; c0 < C; c0 += 16) {
            v16 d[16], t[16];
            gather(g, x, &a, c0, d);
            input_transform(d, t);
            for (int k = 0; k < 16; k++)
                *(v16 *)(v + k * vs + (long)i * C + c0) = t[k];
        }
        const float *dyi = dy + (size_t)a.n * g->OH * g->OW * F;
        for (int32_t f0 = 0; f0 < F; f0 += 16) {
            v16 q[4], t[16];
            for (int j = 0; j < 4; j++) {
                int32_t oy = a.oy + j / 2, ox = a.ox + j % 2;
                q[j] = oy < g->OH && ox < g->OW
                           ? *(const v16 *)(dyi +
                                            ((size_t)oy * g->OW + ox) * F + f0)
                           : (v16){0};
            }
            gradient_transform(q, t);
            for (int k = 0; k < 16; k++)
                *(v16 *)(e + k * es + (long)i * F + f0) = t[k];
        }
    }
    for (int k = 0; k < 16; k++)
        product(v + k * vs, 1, C, C, e + k * es, F, nt,
                part + (size_t)k * C * F, F, 1, F);
}

void winograd_weight_grad(const clnet_window *g, int32_t F, const float *x,
                          const float *dy, float *dw, long images,
                          int nthreads, float *scratch, float *partial) {
    const long tiles = tiles_of(g, images);
    const size_t each = winograd_scratch_floats(g, F);
    const size_t wf = winograd_weight_floats(g, F);
    const int32_t C = g->C;
    int used = 1;
#pragma omp parallel num_threads(nthreads)
    {
        int t = omp_get_thread_num();
#pragma omp single
        used = omp_get_num_threads();
        long lo, hi;
        share(tiles, t, used, &lo, &hi);
        float *v = scratch + (size_t)t * each, *e = v + each / 2;
        float *part = partial + (size_t)t * wf;
        memset(part, 0, sizeof(float) * wf);
        for (long t0 = lo; t0 < hi; t0 += TB)
            weight_grad_block(g, F, x, dy, t0,
                              hi - t0 < TB ? (int)(hi - t0) : TB, v, e, part);
    }
    /* dw = G' (the threads' sums, in thread order) G */
#pragma omp parallel for schedule(static) num_threads(nthreads)
    for (int32_t c = 0; c < C; c++)
        for (int32_t f0 = 0; f0 < F; f0 += 16) {
            v16 m[16], r[12], col[4], out[3];
            for (int k = 0; k < 16; k++) {
                size_t at = ((size_t)k * C + c) * F + f0;
                m[k] = *(const v16 *)(partial + at);
                for (int t = 1; t < used; t++)
                    m[k] += *(const v16 *)(partial + (size_t)t * wf + at);
            }
            for (int j = 0; j < 4; j++) { /* G' m, column j */
                v16 mc[4] = {m[j], m[4 + j], m[8 + j], m[12 + j]}, rc[3];
                gt_rows(mc, rc);
                for (int i = 0; i < 3; i++)
                    r[4 * i + j] = rc[i];
            }
            for (int i = 0; i < 3; i++) { /* (G' m) G, row i */
                for (int j = 0; j < 4; j++)
                    col[j] = r[4 * i + j];
                gt_rows(col, out);
                for (int j = 0; j < 3; j++)
                    *(v16 *)(dw + ((size_t)(3 * i + j) * C + c) * F + f0) =
                        out[j];
            }
        }
}
