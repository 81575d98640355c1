/* The native CPU's Winograd convolution F(4x4, 3x3) (Lavin and Gray,
 * "Fast Algorithms for Convolutional Neural Networks", 2015). Each 4x4
 * tile of output pixels reads a 6x6 input patch d; with the kernel g of
 * one channel/filter pair turned into u = G g G', the tile is
 * A' [u . (B' d B)] A: 36 multiplications where the direct sum takes
 * 144. Summed over channels, the 36 elementwise products become 36 GEMMs
 * of (tiles x C) by (C x F), which run here as register tiles of 4 rows
 * by 64 columns, like implicit_conv_cpu.c. (F(2x2, 3x3), 16 products per
 * 2x2 tile, was measured too: conv2 took 1.1-2.7 ms longer a step,
 * BENCHMARKS.md.) B' has entries up to 5 and A' up to 8, so results
 * differ from a direct sum by more rounding than F(2x2, 3x3)'s: at most
 * 7e-6 of the largest value on the seed model's conv2.
 *
 * The weight gradient is the same bilinear form read the other way:
 * dw = G' [sum over tiles of (A dy A') . (B' d B)] G, 36 GEMMs of
 * (C x tiles) by (tiles x F) and one transform at the end.
 *
 * Tiles go through in blocks of TB, so that the transformed patches and
 * products of a block stay in the core's cache instead of making a round
 * trip through memory (for the seed model's conv2, up to 57 MB a pass).
 * Each thread takes a contiguous share of the tiles. */
#include <omp.h>
#include <string.h>

#include "../common/vec16.h"
#include "winograd_cpu.h"

#define WM 4         /* output tile: WM x WM pixels */
#define WN (WM + 2)  /* input patch: WN x WN */
#define NP (WN * WN) /* elementwise products per tile */
#define TB 32        /* tiles per block, a multiple of RM */
#define RM 4         /* rows of a register tile */
#define NVMAX 4      /* 16-float vectors across a register tile */

static int32_t widest(const clnet_window *g, int32_t F) {
    return g->C > F ? g->C : F;
}

/* Floats from one position's block of TB rows of n values to the next.
 * The 64 bytes over TB x n keep the NP values of one tile (read or
 * written together by a transform) out of a single cache set: at a
 * multiple of 4 KB they would all compete for one set of L1's 12 ways. */
static long pstride(int32_t n) { return (long)TB * n + 16; }

size_t winograd_scratch_floats(const clnet_window *g, int32_t F) {
    return 2 * (size_t)NP * (size_t)pstride(widest(g, F));
}

size_t winograd_weight_floats(const clnet_window *g, int32_t F) {
    return (size_t)NP * g->C * F;
}

/* Where tile t of a window's output lies: image n, output origin (oy,
 * ox), input origin (iy, ix). */
typedef struct {
    long n;
    int32_t oy, ox, iy, ix;
} tile_at;

static tile_at locate(const clnet_window *g, long t) {
    long tw = (g->OW + WM - 1) / WM, th = (g->OH + WM - 1) / WM;
    tile_at a;
    a.n = t / (th * tw);
    a.oy = (int32_t)(t / tw % th) * WM;
    a.ox = (int32_t)(t % tw) * WM;
    a.iy = a.oy - g->PT;
    a.ix = a.ox - g->PL;
    return a;
}

/* The WN x WN patch of channels c0 .. c0+15 under tile a, zeros outside
 * x. */
static inline __attribute__((always_inline)) void
gather(const clnet_window *g, const float *x, const tile_at *a, int32_t c0,
       v16 d[NP]) {
    const float *xi = x + (size_t)a->n * g->H * g->W * g->C + c0;
    if (a->iy >= 0 && a->iy + WN <= g->H && a->ix >= 0 && a->ix + WN <= g->W) {
        for (int r = 0; r < WN; r++)
            for (int s = 0; s < WN; s++)
                d[WN * r + s] = *(
                    const v16 *)(xi + ((size_t)(a->iy + r) * g->W + a->ix + s) *
                                          g->C);
        return;
    }
    for (int r = 0; r < WN; r++)
        for (int s = 0; s < WN; s++) {
            int32_t iy = a->iy + r, ix = a->ix + s;
            d[WN * r + s] =
                (uint32_t)iy < (uint32_t)g->H && (uint32_t)ix < (uint32_t)g->W
                    ? *(const v16 *)(xi + ((size_t)iy * g->W + ix) * g->C)
                    : (v16){0};
        }
}

/* The five matrices as maps of one line of values (stride is, into
 * stride os): B' (input patches), G (kernels), A' (products to
 * outputs), A (output gradients into products) and G' (products to
 * weight gradients). Each 2-D transform applies one of them down the
 * columns and then along the rows. */
static inline void bt_line(const v16 *d, long is, v16 *o, long os) {
    v16 d0 = d[0], d1 = d[is], d2 = d[2 * is], d3 = d[3 * is], d4 = d[4 * is],
        d5 = d[5 * is];
    o[0] = 4.0f * d0 - 5.0f * d2 + d4;
    o[os] = d3 + d4 - 4.0f * (d1 + d2);
    o[2 * os] = d4 - d3 + 4.0f * (d1 - d2);
    o[3 * os] = d4 - d2 + 2.0f * (d3 - d1);
    o[4 * os] = d4 - d2 + 2.0f * (d1 - d3);
    o[5 * os] = 4.0f * d1 - 5.0f * d3 + d5;
}
static inline void g_line(const v16 *k, long is, v16 *o, long os) {
    v16 k0 = k[0], k1 = k[is], k2 = k[2 * is];
    o[0] = 0.25f * k0;
    o[os] = (-1.0f / 6) * (k0 + k1 + k2);
    o[2 * os] = (-1.0f / 6) * (k0 - k1 + k2);
    o[3 * os] = (1.0f / 24) * k0 + (1.0f / 12) * k1 + (1.0f / 6) * k2;
    o[4 * os] = (1.0f / 24) * k0 - (1.0f / 12) * k1 + (1.0f / 6) * k2;
    o[5 * os] = k2;
}
static inline void at_line(const v16 *m, long is, v16 *o, long os) {
    v16 m0 = m[0], m1 = m[is], m2 = m[2 * is], m3 = m[3 * is], m4 = m[4 * is],
        m5 = m[5 * is];
    v16 s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
    o[0] = m0 + s12 + s34;
    o[os] = d12 + 2.0f * d34;
    o[2 * os] = s12 + 4.0f * s34;
    o[3 * os] = d12 + 8.0f * d34 + m5;
}
static inline void a_line(const v16 *q, long is, v16 *o, long os) {
    v16 q0 = q[0], q1 = q[is], q2 = q[2 * is], q3 = q[3 * is];
    o[0] = q0;
    o[os] = q0 + q1 + q2 + q3;
    o[2 * os] = q0 - q1 + q2 - q3;
    o[3 * os] = q0 + 2.0f * q1 + 4.0f * q2 + 8.0f * q3;
    o[4 * os] = q0 - 2.0f * q1 + 4.0f * q2 - 8.0f * q3;
    o[5 * os] = q3;
}
static inline void gt_line(const v16 *m, long is, v16 *o, long os) {
    v16 m0 = m[0], m1 = m[is], m2 = m[2 * is], m3 = m[3 * is], m4 = m[4 * is],
        m5 = m[5 * is];
    o[0] = 0.25f * m0 - (1.0f / 6) * (m1 + m2) + (1.0f / 24) * (m3 + m4);
    o[os] = (1.0f / 6) * (m2 - m1) + (1.0f / 12) * (m3 - m4);
    o[2 * os] = (1.0f / 6) * (m3 + m4 - m1 - m2) + m5;
}

/* out (ro x ro) <- L in L' for a ri x ri array in, L being `line` (ro
 * outputs from ri inputs). */
#define TRANSFORM_2D(line, in, ri, out, ro)                                    \
    do {                                                                       \
        v16 cols_[(ro) * (ri)];                                                \
        for (int j_ = 0; j_ < (ri); j_++)                                      \
            line((in) + j_, (ri), cols_ + j_, (ri));                           \
        for (int i_ = 0; i_ < (ro); i_++)                                      \
            line(cols_ + i_ * (ri), 1, (out) + i_ * (ro), 1);                  \
    } while (0)

void winograd_weights(const clnet_window *g, int32_t F, const float *w,
                      int flipped, float *u) {
    int32_t C = g->C;
#pragma omp parallel for schedule(static)
    for (int32_t c = 0; c < C; c++)
        for (int32_t f0 = 0; f0 < F; f0 += 16) {
            v16 k[9], out[NP];
            for (int tap = 0; tap < 9; tap++) {
                if (!flipped) {
                    k[tap] = *(const v16 *)(w + ((size_t)tap * C + c) * F + f0);
                    continue;
                }
                /* w is 9 x F x C here: the layer's own kernel */
                for (int q = 0; q < 16; q++)
                    k[tap][q] = w[((size_t)(8 - tap) * F + f0 + q) * C + c];
            }
            TRANSFORM_2D(g_line, k, 3, out, WN);
            for (int p = 0; p < NP; p++)
                *(v16 *)(u + ((size_t)p * C + c) * F + f0) = out[p];
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
            acc[i][v] =
                accumulate ? *(const v16 *)(out + i * os + 16 * v) : (v16){0};
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
product(const float *a, long as, long ak, int32_t rows, const float *b, long bk,
        long K, float *out, long os, int accumulate, int32_t cols) {
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
    return images * ((g->OH + WM - 1) / WM) * ((g->OW + WM - 1) / WM);
}

/* B' d B for tile a's input patch d, all C channels, into row (the
 * tile's row of position 0's block) and the same row of the NP - 1 blocks
 * after it, vs floats apart. */
static inline void transform_patch(const clnet_window *g, const float *x,
                                   const tile_at *a, float *row, long vs) {
    for (int32_t c0 = 0; c0 < g->C; c0 += 16) {
        v16 d[NP], e[NP];
        gather(g, x, a, c0, d);
        TRANSFORM_2D(bt_line, d, WN, e, WN);
        for (int k = 0; k < NP; k++)
            *(v16 *)(row + k * vs + c0) = e[k];
    }
}

/* Output tiles [t0, t0 + nt) of the forward convolution. v and m: TB
 * transformed patches and products for each of the NP positions. */
static void forward_block(const clnet_window *g, int32_t F, const float *x,
                          const float *u, const float *bias, int relu, float *y,
                          long t0, int nt, float *v, float *m) {
    const int32_t C = g->C;
    const long vs = pstride(C), ms = pstride(F);
    const int nr = (nt + RM - 1) / RM * RM;
    for (int i = 0; i < nt; i++) {
        tile_at a = locate(g, t0 + i);
        transform_patch(g, x, &a, v + (long)i * C, vs);
    }
    /* rows a register tile reads past nt: zeros rather than whatever the
     * buffer held, which might be slow denormals */
    for (int i = nt; i < nr; i++)
        for (int k = 0; k < NP; k++)
            memset(v + k * vs + (long)i * C, 0, sizeof(float) * C);
    for (int k = 0; k < NP; k++)
        product(v + k * vs, C, 1, nr, u + (size_t)k * C * F, F, C, m + k * ms,
                F, 0, F);
    for (int i = 0; i < nt; i++) {
        tile_at a = locate(g, t0 + i);
        float *yi = y + (size_t)a.n * g->OH * g->OW * F;
        for (int32_t f0 = 0; f0 < F; f0 += 16) {
            v16 p[NP], o[WM * WM];
            for (int k = 0; k < NP; k++)
                p[k] = *(const v16 *)(m + k * ms + (long)i * F + f0);
            TRANSFORM_2D(at_line, p, WN, o, WM);
            for (int q = 0; q < WM * WM; q++) {
                int32_t oy = a.oy + q / WM, ox = a.ox + q % WM;
                if (oy >= g->OH || ox >= g->OW)
                    continue;
                v16 r = o[q];
                if (bias)
                    r += *(const v16 *)(bias + f0);
                if (relu)
                    r = V16_RELU(r);
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
    (void)nthreads; /* unread where OpenMP is off (clang with libgomp) */
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
 * into part (NP x C x F) and of the bias gradient into bias_part (F),
 * masking dy by relu_y first as winograd_weight_grad says. The tiles
 * cover each output pixel once, so each dy value is read, masked and
 * kept once. */
static void weight_grad_block(const clnet_window *g, int32_t F, const float *x,
                              float *dy, const float *relu_y, int keep_dy,
                              long t0, int nt, float *v, float *e, float *part,
                              float *bias_part) {
    const int32_t C = g->C;
    const long vs = pstride(C), es = pstride(F);
    for (int i = 0; i < nt; i++) {
        tile_at a = locate(g, t0 + i);
        transform_patch(g, x, &a, v + (long)i * C, vs);
        size_t image = (size_t)a.n * g->OH * g->OW * F;
        for (int32_t f0 = 0; f0 < F; f0 += 16) {
            v16 q[WM * WM], t[NP], sum = *(v16 *)(bias_part + f0);
            for (int j = 0; j < WM * WM; j++) {
                int32_t oy = a.oy + j / WM, ox = a.ox + j % WM;
                q[j] = (v16){0};
                if (oy >= g->OH || ox >= g->OW)
                    continue;
                size_t at = image + ((size_t)oy * g->OW + ox) * F + f0;
                q[j] = *(const v16 *)(dy + at);
                if (relu_y) {
                    i16v on = *(const v16 *)(relu_y + at) > (v16){0};
                    q[j] = (v16)((i16v)q[j] & on);
                    if (keep_dy)
                        *(v16 *)(dy + at) = q[j];
                }
                sum += q[j];
            }
            *(v16 *)(bias_part + f0) = sum;
            TRANSFORM_2D(a_line, q, WM, t, WN);
            for (int k = 0; k < NP; k++)
                *(v16 *)(e + k * es + (long)i * F + f0) = t[k];
        }
    }
    for (int k = 0; k < NP; k++)
        product(v + k * vs, 1, C, C, e + k * es, F, nt,
                part + (size_t)k * C * F, F, 1, F);
}

size_t winograd_partial_floats(const clnet_window *g, int32_t F) {
    return winograd_weight_floats(g, F) + (size_t)F;
}

void winograd_weight_grad(const clnet_window *g, int32_t F, const float *x,
                          float *dy, const float *relu_y, int keep_dy,
                          float *dw, float *db, long images, int nthreads,
                          float *scratch, float *partial) {
    const long tiles = tiles_of(g, images);
    const size_t each = winograd_scratch_floats(g, F);
    const size_t wf = winograd_weight_floats(g, F);
    const size_t pf = winograd_partial_floats(g, F);
    const int32_t C = g->C;
    int used = 1;
    (void)nthreads;
#pragma omp parallel num_threads(nthreads)
    {
        int t = omp_get_thread_num();
#pragma omp single
        used = omp_get_num_threads();
        long lo, hi;
        share(tiles, t, used, &lo, &hi);
        float *v = scratch + (size_t)t * each, *e = v + each / 2;
        float *part = partial + (size_t)t * pf;
        memset(part, 0, sizeof(float) * pf);
        for (long t0 = lo; t0 < hi; t0 += TB)
            weight_grad_block(g, F, x, dy, relu_y, keep_dy, t0,
                              hi - t0 < TB ? (int)(hi - t0) : TB, v, e, part,
                              part + wf);
    }
    for (int32_t f = 0; f < F; f++) { /* in thread order */
        float sum = 0;
        for (int t = 0; t < used; t++)
            sum += partial[(size_t)t * pf + wf + f];
        db[f] = sum;
    }
    /* dw = G' (the threads' sums, in thread order) G */
#pragma omp parallel for schedule(static) num_threads(nthreads)
    for (int32_t c = 0; c < C; c++)
        for (int32_t f0 = 0; f0 < F; f0 += 16) {
            v16 m[NP], out[9];
            for (int k = 0; k < NP; k++) {
                size_t at = ((size_t)k * C + c) * F + f0;
                m[k] = *(const v16 *)(partial + at);
                for (int t = 1; t < used; t++)
                    m[k] += *(const v16 *)(partial + (size_t)t * pf + at);
            }
            TRANSFORM_2D(gt_line, m, WN, out, 3);
            for (int tap = 0; tap < 9; tap++)
                *(v16 *)(dw + ((size_t)tap * C + c) * F + f0) = out[tap];
        }
}
