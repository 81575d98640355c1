/* depthwise_conv2d on the native CPU (depthwise_conv2d_kind.c), computed
 * directly. NHWC keeps a pixel's channels contiguous and the kernel's
 * [kh][kw][C][multiplier] layout keeps a tap's weights contiguous in the
 * same output-channel order, so with depth_multiplier 1 (MobileNet) every
 * inner step is an elementwise product over 16-float vectors of channels:
 * - forward: register tiles of PX pixels x 64 channels summed over the
 *   taps, a weight vector loaded once per tap for the PX pixels, stored
 *   once with bias and relu applied, bypassing the cache (v16_stream);
 *   the border pixels one at a time with their taps checked;
 * - kernel gradient: for each tap, the range of a row's outputs whose tap
 *   lies inside the input is known in advance (xlo, xhi), and the tap's
 *   gradient is summed over it in registers; relu's mask and the bias
 *   gradient are taken in the same pass over the row;
 * - input gradient: each input row gathers, tap by tap, from the output
 *   row the tap came from, in chunks of XCHUNK pixels that stay in L1.
 * OpenMP runs over batch x rows. The kernel and bias gradients are summed
 * per thread over fixed ranges of rows and the partial sums added in
 * thread order (cpu_sum_partials); every input-gradient row is written by
 * one thread in a fixed order: results do not depend on timing.
 * A depth multiplier M above 1 runs the same code on the input expanded
 * to C M channels (channel c repeated M times, a workspace of the input's
 * size times M): output c M + m is then the multiplier-1 convolution of
 * expanded channel c M + m, and the input gradient of the expanded input,
 * written over the same workspace, is summed over each channel's M
 * copies. Relu is applied in the forward tiles and its mask in the
 * kernel-gradient pass; the other activations and their gradients go
 * through the shared helpers (cpu_common.h), gelu and swish with the
 * pre-activation values the forward pass keeps in a workspace. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cpu_common.h"
#include "../common/vec16.h"
#include "depthwise_conv2d_settings.h"

#define NVMAX 4 /* 16-float vectors of channels per register block */
#define CBLOCK (16 * NVMAX)
#define PX 4 /* output pixels per forward register tile */
/* The loops over a tile's pixels and vectors (at most PX and NVMAX,
 * constants once inlined) carry `#pragma GCC unroll 4` so that -O2 builds
 * keep the tiles in registers as -O3 does. */
/* Output pixels per pass over the taps: a block of channels of this many
 * pixels stays in L1 whatever the channel stride (with 256 channels, a
 * whole row's pixels fall in few cache sets). */
#define XCHUNK 8

typedef struct {
    dw_layer l;
    int32_t nthreads;
    const float *w, *b;
    float *dw, *db;
    float *partial; /* nthreads x (T x CO kernel, CO bias) */
    /* outputs [xlo[kx], xhi[kx]) of a row have tap column kx inside the
     * input */
    int32_t *xlo, *xhi;
    /* outputs [ia, ib) of a row have all their tap columns inside */
    int32_t ia, ib;
    float *wide; /* multiplier > 1: max_batch x H x W x CO floats */
    /* gelu and swish, whose gradient needs the pre-activation values:
     * those of the last forward pass, max_batch x OH x OW x CO */
    float *pre;
} dwconv;

/* The range [*lo, *hi) of outputs along an axis (n of them, stride s,
 * padding p) whose tap k lies inside an input of size `in`. */
static void inside(int32_t k, int32_t s, int32_t p, int32_t in, int32_t n,
                   int32_t *lo, int32_t *hi)
{
    /* o s - p + k >= 0 and o s - p + k <= in - 1 */
    int32_t a = p - k, b = in - 1 + p - k;
    *lo = a <= 0 ? 0 : (a + s - 1) / s;
    *hi = b < 0 ? 0 : b / s + 1;
    if (*hi > n)
        *hi = n;
    if (*lo > *hi)
        *lo = *hi;
}

static void destroy(void *s)
{
    dwconv *d = s;
    if (d) {
        free(d->partial);
        free(d->wide);
        free(d->pre);
        free(d->xlo);
        free(d->xhi);
    }
    free(d);
}

static int create(const clnet_create_args *a, void **state, char *err)
{
    dwconv *d = calloc(1, sizeof *d);
    if (!d)
        return cpu_errorf(err, "out of memory"), -1;
    if (dw_read(a, &d->l, err)) {
        destroy(d);
        return -1;
    }
    cpu_set_threads(a->threads);
    d->nthreads = omp_get_max_threads();
    int64_t n = clnet_size_mul(clnet_size_mul(d->nthreads, d->l.T + 1),
                               d->l.CO);
    int64_t wide = clnet_size_mul(
        clnet_size_mul(clnet_size_mul(d->l.B, d->l.g.H), d->l.g.W), d->l.CO);
    if (d->l.M > 1 && wide < 0) {
        cpu_errorf(err,
                   "depthwise_conv2d: the input expanded to %d channels "
                   "(%d x depth_multiplier %d) over a batch of %d would "
                   "pass %lld values; use a smaller batch",
                   (int)d->l.CO, (int)d->l.g.C, (int)d->l.M, (int)d->l.B,
                   CLNET_MAX_ELEMENTS);
        destroy(d);
        return -1;
    }
    if (n < 0) {
        cpu_errorf(err,
                   "depthwise_conv2d: %d threads' kernel gradients (kernel "
                   "%dx%d, %d output channels) pass %lld values; use fewer "
                   "threads",
                   (int)d->nthreads, (int)d->l.g.KH, (int)d->l.g.KW,
                   (int)d->l.CO, CLNET_MAX_ELEMENTS);
        destroy(d);
        return -1;
    }
    d->xlo = malloc(sizeof(int32_t) * (size_t)d->l.g.KW);
    d->xhi = malloc(sizeof(int32_t) * (size_t)d->l.g.KW);
    if (!d->xlo || !d->xhi) {
        destroy(d);
        return cpu_errorf(err, "out of memory"), -1;
    }
    d->ia = 0;
    d->ib = d->l.g.OW;
    for (int32_t kx = 0; kx < d->l.g.KW; kx++) {
        inside(kx, d->l.g.SW, d->l.g.PL, d->l.g.W, d->l.g.OW, &d->xlo[kx],
               &d->xhi[kx]);
        d->ia = d->xlo[kx] > d->ia ? d->xlo[kx] : d->ia;
        d->ib = d->xhi[kx] < d->ib ? d->xhi[kx] : d->ib;
    }
    if (d->ib < d->ia)
        d->ib = d->ia;
    *state = d;
    return 0;
}

static int bind(void *s, void *const *params, void *const *grads)
{
    dwconv *d = s;
    d->w = params[0];
    d->dw = grads[0];
    d->b = d->l.bias ? params[1] : NULL;
    d->db = d->l.bias ? grads[1] : NULL;
    free(d->partial);
    d->partial = cpu_alloc(sizeof(float) * (size_t)d->nthreads *
                           ((size_t)d->l.T + 1) * (size_t)d->l.CO);
    if (d->l.M > 1) {
        free(d->wide);
        d->wide = cpu_alloc(sizeof(float) * (size_t)d->l.B * d->l.g.H *
                            d->l.g.W * d->l.CO);
        if (!d->wide)
            return -1;
    }
    if (act_needs_input(d->l.act)) {
        free(d->pre);
        d->pre = cpu_alloc(sizeof(float) * (size_t)d->l.B * d->l.g.OH *
                           d->l.g.OW * d->l.CO);
        if (!d->pre)
            return -1;
    }
    return d->partial ? 0 : -1;
}


/* dst[i dstep + c] += src[i sstep + c] w[c] for i < n, c < CH: one tap
 * of a row, the weights held in registers (NV 16-float vectors) while
 * the row's pixels stream past. */
static inline __attribute__((always_inline)) void
row_fma_block(float *restrict dst, size_t dstep, const float *restrict src,
              size_t sstep, const float *restrict w, int32_t n, int nv)
{
    v16 wv[NVMAX];
    #pragma GCC unroll 4
    for (int v = 0; v < nv; v++)
        wv[v] = *(const v16 *)(w + 16 * v);
    for (int32_t i = 0; i < n; i++) {
        float *dp = dst + (size_t)i * dstep;
        const float *sp = src + (size_t)i * sstep;
        #pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            *(v16 *)(dp + 16 * v) += *(const v16 *)(sp + 16 * v) * wv[v];
    }
}

static void row_fma(float *restrict dst, size_t dstep,
                    const float *restrict src, size_t sstep,
                    const float *restrict w, int32_t n, int32_t CH)
{
    int32_t c = 0;
    for (; c + 16 * NVMAX <= CH; c += 16 * NVMAX)
        row_fma_block(dst + c, dstep, src + c, sstep, w + c, n, NVMAX);
    for (; c + 16 <= CH; c += 16)
        row_fma_block(dst + c, dstep, src + c, sstep, w + c, n, 1);
    for (; c < CH; c++)
        for (int32_t i = 0; i < n; i++)
            dst[(size_t)i * dstep + c] += src[(size_t)i * sstep + c] * w[c];
}

/* acc[c] += sum over i < n of a[i astep + c] b[i bstep + c], c < CH: a
 * tap's kernel gradient over a row, summed in registers. */
static inline __attribute__((always_inline)) void
row_dot_block(float *restrict acc, const float *restrict a, size_t astep,
              const float *restrict b, size_t bstep, int32_t n, int nv)
{
    v16 s[NVMAX];
    #pragma GCC unroll 4
    for (int v = 0; v < nv; v++)
        s[v] = *(const v16 *)(acc + 16 * v);
    for (int32_t i = 0; i < n; i++) {
        const float *ap = a + (size_t)i * astep, *bp = b + (size_t)i * bstep;
        #pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            s[v] += *(const v16 *)(ap + 16 * v) * *(const v16 *)(bp + 16 * v);
    }
    #pragma GCC unroll 4
    for (int v = 0; v < nv; v++)
        *(v16 *)(acc + 16 * v) = s[v];
}

static void row_dot(float *restrict acc, const float *restrict a,
                    size_t astep, const float *restrict b, size_t bstep,
                    int32_t n, int32_t CH)
{
    int32_t c = 0;
    for (; c + 16 * NVMAX <= CH; c += 16 * NVMAX)
        row_dot_block(acc + c, a + c, astep, b + c, bstep, n, NVMAX);
    for (; c + 16 <= CH; c += 16)
        row_dot_block(acc + c, a + c, astep, b + c, bstep, n, 1);
    for (; c < CH; c++) {
        float sum = acc[c];
        for (int32_t i = 0; i < n; i++)
            sum += a[(size_t)i * astep + c] * b[(size_t)i * bstep + c];
        acc[c] = sum;
    }
}

/* Outputs ox0 .. ox0 + np - 1 of row oy, channels c0 .. c0 + 16 nv - 1,
 * multiplier 1: the sums stay in registers across the taps, a weight
 * vector loaded once serves the np pixels, and the results bypass the
 * cache on their way to memory (v16_stream). With `check`, taps outside
 * the input in x are skipped (border pixels); without, all lie inside.
 * Inlined with constant np, check and nv so that acc stays in
 * registers. */
static inline __attribute__((always_inline)) void
forward_tile(const dwconv *d, const float *restrict xb, int32_t oy,
             int32_t ox0, float *restrict yr, int32_t c0, int np, int check,
             int nv)
{
    const clnet_window *g = &d->l.g;
    const int32_t CO = d->l.CO;
    v16 acc[PX][NVMAX];
    #pragma GCC unroll 4
    for (int p = 0; p < np; p++)
        #pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            acc[p][v] = d->b ? *(const v16 *)(d->b + c0 + 16 * v) : (v16){0};
    for (int32_t ky = 0; ky < g->KH; ky++) {
        const int32_t iy = oy * g->SH - g->PT + ky;
        if (iy < 0 || iy >= g->H)
            continue;
        const float *xrow = xb + (size_t)iy * g->W * CO + c0;
        for (int32_t kx = 0; kx < g->KW; kx++) {
            const float *wp = d->w + (size_t)(ky * g->KW + kx) * CO + c0;
            v16 wv[NVMAX];
            #pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                wv[v] = *(const v16 *)(wp + 16 * v);
            #pragma GCC unroll 4
            for (int p = 0; p < np; p++) {
                const int32_t ix = (ox0 + p) * g->SW - g->PL + kx;
                if (check && (ix < 0 || ix >= g->W))
                    continue;
                const float *xp = xrow + (size_t)ix * CO;
                #pragma GCC unroll 4
                for (int v = 0; v < nv; v++)
                    acc[p][v] += *(const v16 *)(xp + 16 * v) * wv[v];
            }
        }
    }
    #pragma GCC unroll 4
    for (int p = 0; p < np; p++)
        #pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            v16 o = acc[p][v];
            if (d->l.act == ACT_RELU)
                o = V16_RELU(o);
            v16_stream(yr + (size_t)(ox0 + p) * CO + c0 + 16 * v, &o);
        }
}

/* Outputs ox0 .. ox0 + np - 1 of row oy, all channels, multiplier 1. */
static inline __attribute__((always_inline)) void
forward_pixels(const dwconv *d, const float *restrict xb, int32_t oy,
               int32_t ox0, float *restrict yr, int np, int check)
{
    const clnet_window *g = &d->l.g;
    const int32_t CO = d->l.CO;
    int32_t c0 = 0;
    for (; c0 + CBLOCK <= CO; c0 += CBLOCK)
        forward_tile(d, xb, oy, ox0, yr, c0, np, check, NVMAX);
    for (; c0 + 16 <= CO; c0 += 16)
        forward_tile(d, xb, oy, ox0, yr, c0, np, check, 1);
    for (; c0 < CO; c0++)
        #pragma GCC unroll 4
        for (int p = 0; p < np; p++) {
            float acc = d->b ? d->b[c0] : 0.0f;
            for (int32_t ky = 0; ky < g->KH; ky++) {
                const int32_t iy = oy * g->SH - g->PT + ky;
                if (iy < 0 || iy >= g->H)
                    continue;
                for (int32_t kx = 0; kx < g->KW; kx++) {
                    const int32_t ix = (ox0 + p) * g->SW - g->PL + kx;
                    if (ix >= 0 && ix < g->W)
                        acc += xb[((size_t)iy * g->W + ix) * CO + c0] *
                               d->w[(size_t)(ky * g->KW + kx) * CO + c0];
                }
            }
            yr[(size_t)(ox0 + p) * CO + c0] =
                d->l.act == ACT_RELU && !(acc > 0.0f) ? 0.0f : acc;
        }
}

/* Output row (b, oy) into yr, multiplier 1: the border pixels one by
 * one, the interior PX at a time. */
static void forward_row1(const dwconv *d, const float *restrict xb,
                         int32_t oy, float *restrict yr)
{
    int32_t ox = 0;
    for (; ox < d->ia; ox++)
        forward_pixels(d, xb, oy, ox, yr, 1, 1);
    for (; ox + PX <= d->ib; ox += PX)
        forward_pixels(d, xb, oy, ox, yr, PX, 0);
    for (; ox < d->l.g.OW; ox++)
        forward_pixels(d, xb, oy, ox, yr, 1, 1);
}

/* wide[c M + m] = x[c] and x[c] = sum over m of wide[c M + m] for one
 * pixel of C channels: inlined with M a constant for the usual
 * multipliers, so the compiler interleaves and vectorises them. */
static inline __attribute__((always_inline)) void
widen_pixel(const float *restrict x, float *restrict wide, int32_t C,
            int32_t M)
{
    for (int32_t c = 0; c < C; c++)
        for (int32_t m = 0; m < M; m++)
            wide[c * M + m] = x[c];
}

static inline __attribute__((always_inline)) void
narrow_pixel(const float *restrict wide, float *restrict x, int32_t C,
             int32_t M)
{
    for (int32_t c = 0; c < C; c++) {
        float sum = 0.0f;
        for (int32_t m = 0; m < M; m++)
            sum += wide[c * M + m];
        x[c] = sum;
    }
}

/* The first n pixels of x (C channels) expanded into wide (C M), or with
 * `back` the expanded gradient wide summed back into x. */
static void widen(const dwconv *d, float *x, long n, float *wide, int back)
{
    const int32_t C = d->l.g.C, M = d->l.M;
#pragma omp parallel for schedule(static)
    for (long p = 0; p < n; p++) {
        float *xp = x + (size_t)p * C, *wp = wide + (size_t)p * C * M;
        switch (back ? -M : M) {
        case 2: widen_pixel(xp, wp, C, 2); break;
        case 3: widen_pixel(xp, wp, C, 3); break;
        case 4: widen_pixel(xp, wp, C, 4); break;
        case -2: narrow_pixel(wp, xp, C, 2); break;
        case -3: narrow_pixel(wp, xp, C, 3); break;
        case -4: narrow_pixel(wp, xp, C, 4); break;
        default:
            if (back)
                narrow_pixel(wp, xp, C, M);
            else
                widen_pixel(xp, wp, C, M);
        }
    }
}

static int forward(void *s, const clnet_step *st, const void *const *xv,
                   void *yv, char *err)
{
    (void)err;
    dwconv *d = s;
    const clnet_window *g = &d->l.g;
    const float *x = xv[0];
    float *y = yv;
    const long rows = (long)st->batch * g->OH;
    /* the input as the multiplier-1 code reads it: CO channels */
    const size_t in_image = (size_t)g->H * g->W * d->l.CO;
    if (d->l.M > 1) {
        widen(d, (float *)x, (long)st->batch * g->H * g->W, d->wide, 0);
        x = d->wide;
    }
    /* the sums with the bias (and relu) go to y, or for gelu and swish
     * to the pre-activation workspace the backward pass reads */
    float *out = d->pre ? d->pre : y;
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (long r = 0; r < rows; r++) {
            const int32_t b = (int32_t)(r / g->OH), oy = (int32_t)(r % g->OH);
            forward_row1(d, x + (size_t)b * in_image, oy,
                         out + (size_t)r * g->OW * d->l.CO);
        }
        v16_stream_fence(); /* y is read by other threads next */
    }
    const size_t pixels = (size_t)rows * g->OW;
    if (d->pre)
        cpu_activation(d->pre, y, pixels, (size_t)d->l.CO, d->l.act,
                       act_default_alpha(d->l.act));
    else if (d->l.act != ACT_LINEAR && d->l.act != ACT_RELU)
        cpu_bias_activation(y, pixels, (size_t)d->l.CO, NULL, d->l.act);
    return 0;
}

/* Adds output row (b, oy)'s share of the kernel gradient into pw (T x CO):
 * for each tap, the outputs it reaches inside the input, in chunks of
 * XCHUNK pixels and blocks of channels. xb: image b as the multiplier-1
 * code reads it (CO channels); gr: the row's output gradient. */
static void kernel_grad_row(const dwconv *d, const float *restrict xb,
                            const float *restrict gr, int32_t oy,
                            float *restrict pw)
{
    const clnet_window *g = &d->l.g;
    const int32_t CO = d->l.CO;
    for (int32_t a = 0, c0 = 0; a < g->OW;
         (c0 += CBLOCK) < CO ? 0 : (c0 = 0, a += XCHUNK)) {
        const int32_t cw = CO - c0 < CBLOCK ? CO - c0 : CBLOCK;
        const int32_t z = g->OW - a < XCHUNK ? g->OW - a : XCHUNK;
        for (int32_t ky = 0; ky < g->KH; ky++) {
            const int32_t iy = oy * g->SH - g->PT + ky;
            if (iy < 0 || iy >= g->H)
                continue;
            for (int32_t kx = 0; kx < g->KW; kx++) {
                const int32_t lo = d->xlo[kx] > a ? d->xlo[kx] : a;
                const int32_t hi = d->xhi[kx] < a + z ? d->xhi[kx] : a + z;
                if (lo < hi)
                    row_dot(pw + (size_t)(ky * g->KW + kx) * CO + c0,
                            xb + ((size_t)iy * g->W +
                                  (lo * g->SW - g->PL + kx)) * CO + c0,
                            (size_t)g->SW * CO, gr + (size_t)lo * CO + c0,
                            (size_t)CO, hi - lo, cw);
            }
        }
    }
}

/* Input row (b, iy)'s gradient (CO channels: the expanded input's when
 * the multiplier is above 1) into dr: for each tap, the output row it
 * came from (if any) and, along it, the outputs whose tap lies inside
 * the input. gb: image b's output gradient. Each row is written by one
 * thread only, in a fixed order. */
static void input_grad_row(const dwconv *d, const float *restrict gb,
                           int32_t iy, float *restrict dr)
{
    const clnet_window *g = &d->l.g;
    const int32_t CO = d->l.CO;
    memset(dr, 0, sizeof(float) * (size_t)g->W * CO);
    for (int32_t a = 0, c0 = 0; a < g->OW;
         (c0 += CBLOCK) < CO ? 0 : (c0 = 0, a += XCHUNK)) {
        const int32_t cw = CO - c0 < CBLOCK ? CO - c0 : CBLOCK;
        const int32_t z = g->OW - a < XCHUNK ? g->OW - a : XCHUNK;
        for (int32_t ky = 0; ky < g->KH; ky++) {
            const int32_t ty = iy + g->PT - ky;
            if (ty < 0 || ty % g->SH || ty / g->SH >= g->OH)
                continue;
            const float *gr = gb + (size_t)(ty / g->SH) * g->OW * CO;
            for (int32_t kx = 0; kx < g->KW; kx++) {
                const int32_t lo = d->xlo[kx] > a ? d->xlo[kx] : a;
                const int32_t hi = d->xhi[kx] < a + z ? d->xhi[kx] : a + z;
                if (lo < hi)
                    row_fma(dr + (size_t)(lo * g->SW - g->PL + kx) * CO + c0,
                            (size_t)g->SW * CO, gr + (size_t)lo * CO + c0,
                            (size_t)CO,
                            d->w + (size_t)(ky * g->KW + kx) * CO + c0,
                            hi - lo, cw);
            }
        }
    }
}

static int backward(void *s, const clnet_step *st, const void *const *xv,
                    const void *yv, void *dyv, void *const *dxv, char *err)
{
    (void)err;
    dwconv *d = s;
    const clnet_window *g = &d->l.g;
    const float *x = xv[0], *y = yv;
    float *dy = dyv, *dx = dxv[0];
    const int32_t CO = d->l.CO;
    const long rows = (long)st->batch * g->OH;
    const size_t pixels = (size_t)rows * g->OW;
    /* the input as the multiplier-1 code reads it: CO channels */
    const size_t in_image = (size_t)g->H * g->W * CO;
    const size_t out_image = (size_t)g->OH * g->OW * CO;
    if (d->l.M > 1) {
        widen(d, (float *)x, (long)st->batch * g->H * g->W, d->wide, 0);
        x = d->wide;
    }
    /* relu's mask and the bias gradient are taken row by row below, in
     * the pass that sums the kernel gradient, while the row is in cache;
     * the other activations in one pass first (gelu and swish from the
     * pre-activation values the forward pass kept) */
    if (d->pre)
        cpu_activation_grad(d->pre, y, dy, dy, pixels, (size_t)CO, d->l.act,
                            act_default_alpha(d->l.act), d->l.fused);
    else if (d->l.act != ACT_LINEAR && d->l.act != ACT_RELU)
        cpu_activation_backward(y, dy, pixels, (size_t)CO, d->l.act,
                                d->l.fused);
    const size_t tc = (size_t)d->l.T * CO, part = tc + (size_t)CO;
    memset(d->partial, 0, sizeof(float) * (size_t)d->nthreads * part);
#pragma omp parallel num_threads(d->nthreads)
    {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        float *pw = d->partial + (size_t)t * part, *pb = pw + tc;
        const long lo = rows * t / T, hi = rows * (t + 1) / T;
        const size_t n = (size_t)g->OW * CO;
        for (long r = lo; r < hi; r++) {
            const int32_t b = (int32_t)(r / g->OH), oy = (int32_t)(r % g->OH);
            float *gr = dy + (size_t)r * n;
            if (d->l.act == ACT_RELU) {
                const float *yr = y + (size_t)r * n;
#pragma omp simd
                for (size_t i = 0; i < n; i++)
                    gr[i] = yr[i] > 0.0f ? gr[i] : 0.0f;
            }
            for (int32_t ox = 0; d->db && ox < g->OW; ox++) {
                const float *gp = gr + (size_t)ox * CO;
#pragma omp simd
                for (int32_t o = 0; o < CO; o++)
                    pb[o] += gp[o];
            }
            kernel_grad_row(d, x + (size_t)b * in_image, gr, oy, pw);
        }
    }
    if (d->db)
        cpu_sum_partials(d->partial + tc, d->nthreads, part, (size_t)CO,
                         d->db);
    cpu_sum_partials(d->partial, d->nthreads, part, tc, d->dw);
    if (!dx)
        return 0;
    const long in_rows = (long)st->batch * g->H;
    /* with a multiplier, the expanded input's gradient over the expanded
     * input (the kernel gradient has read it), then each channel's M
     * copies summed */
    float *dwide = d->l.M > 1 ? d->wide : dx;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < in_rows; r++) {
        const int32_t b = (int32_t)(r / g->H), iy = (int32_t)(r % g->H);
        input_grad_row(d, dy + (size_t)b * out_image, iy,
                       dwide + (size_t)r * g->W * CO);
    }
    if (d->l.M > 1)
        widen(d, dx, in_rows * g->W, dwide, 1);
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "depthwise_conv2d",
    .backend = "cpu",
    .impl = "direct",
    .summary = "depthwise 2-D convolution computed directly, channels "
               "vectorised, fused bias and activation",
    .nsettings = DW_NSETTINGS,
    .settings = depthwise_conv2d_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, bind, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
