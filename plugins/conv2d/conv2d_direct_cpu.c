/* conv2d on the native CPU, computed directly: for layers whose receptive
 * field is small (kh * kw * channels <= 32, as in a first layer on grey or
 * RGB images) an im2col matrix would be mostly copying, and its product
 * too thin for a GEMM to run well. PX neighbouring output pixels are done
 * together: their receptive fields are read where they lie in x (or, for
 * blocks that touch the padding, gathered once into a small array), then
 * up to 64 filters accumulate in 16-float vectors held in registers
 * (a weight vector loaded once serves PX pixels); bias and relu are
 * applied in the same pass, and the outputs bypass the cache on their way
 * to memory (v16_stream): the seed model's conv1 writes 22 MB a step, and
 * with plain stores, which fetch each line first, its forward pass took
 * 2.3-2.6 ms instead of 1.1-1.2 (BENCHMARKS.md). The weight gradient is
 * summed per thread the same way and the partial sums added in thread
 * order, so results do not depend on timing. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cpu_common.h"
#include "../common/vec16.h"
#include "conv2d_settings.h"

#define PX 4    /* output pixels per block */
#define NVMAX 4 /* 16-filter vectors per register tile */

typedef struct {
    conv2d_layer l;
    int32_t nthreads;
    float *w, *b, *dw, *db;
    float *partial; /* nthreads x (K * F + F) */
    float *pre;     /* l.post's input: the last forward pass's sums */
    /* receptive-field value k's offset in x from its window's first
     * value, and k itself (the offset in a gathered copy) */
    int32_t tap_at[CONV_DIRECT_MAX_K], tap_id[CONV_DIRECT_MAX_K];
} conv;

/* Where a block's receptive-field values lie: value k of pixel p at
 * base[p * step + at[k]], either in x itself or in a gathered copy. */
typedef struct {
    const float *base;
    long step;
    const int32_t *at;
} fields;

#define FIELD(f, p, k) ((f)->base[(p) * (f)->step + (f)->at[k]])

static int32_t score(const clnet_create_args *a) {
    return conv2d_receptive(a) <= CONV_DIRECT_MAX_K ? 10 : 0;
}

static void destroy(void *s) {
    conv *c = s;
    if (c) {
        free(c->partial);
        free(c->pre);
    }
    free(c);
}

static int create(const clnet_create_args *a, void **state, char *err) {
    if (conv2d_receptive(a) > CONV_DIRECT_MAX_K)
        return cpu_errorf(err,
                          "the direct convolution takes undilated "
                          "receptive fields of at most %d values",
                          CONV_DIRECT_MAX_K),
               -1;
    conv *c = calloc(1, sizeof *c);
    if (!c)
        return cpu_errorf(err, "out of memory"), -1;
    if (conv2d_read(a, &c->l, err)) {
        destroy(c);
        return -1;
    }
    for (int32_t ky = 0, k = 0; ky < c->l.g.KH; ky++)
        for (int32_t kx = 0; kx < c->l.g.KW; kx++)
            for (int32_t ch = 0; ch < c->l.g.C; ch++, k++) {
                c->tap_at[k] = (ky * c->l.g.W + kx) * c->l.g.C + ch;
                c->tap_id[k] = k;
            }
    cpu_set_threads(a->threads);
    c->nthreads = omp_get_max_threads();
    c->partial = cpu_alloc(sizeof(float) * (size_t)c->nthreads *
                           ((size_t)c->l.K * c->l.F + c->l.F));
    if (!c->partial) {
        destroy(c);
        return cpu_errorf(err, "out of memory"), -1;
    }
    *state = c;
    return 0;
}

static int bind(void *s, void *const *params, void *const *grads) {
    conv *c = s;
    c->w = params[0];
    c->b = params[1];
    c->dw = grads[0];
    c->db = grads[1];
    if (c->l.post != ACT_LINEAR && !c->pre)
        c->pre = cpu_alloc(sizeof(float) * (size_t)c->l.B * c->l.P * c->l.F);
    return c->l.post != ACT_LINEAR && !c->pre ? -1 : 0;
}

/* The receptive fields of output pixels ox0 .. ox0+n-1 of row oy (k
 * runs ky, kx, channel): read in place from image xi when all PX windows
 * lie inside it, else copied into xv with zeros for padding and for p >=
 * n. (Copying every block's fields took 4% of a `perf` profile of the
 * seed model's step.) */
static fields fields_of(const conv *c, const float *xi, int32_t oy, int32_t ox0,
                        int32_t n, float xv[PX][CONV_DIRECT_MAX_K]) {
    const clnet_window *g = &c->l.g;
    int32_t iy0 = oy * g->SH - g->PT;
    int rows_in = iy0 >= 0 && iy0 + g->KH <= g->H;
    int32_t first = ox0 * g->SW - g->PL, last = (ox0 + PX - 1) * g->SW - g->PL;
    if (n == PX && rows_in && first >= 0 && last + g->KW <= g->W)
        return (fields){xi + ((size_t)iy0 * g->W + first) * g->C,
                        (long)g->SW * g->C, c->tap_at};
    for (int32_t p = 0; p < PX; p++) {
        int32_t k = 0, ix0 = (ox0 + p) * g->SW - g->PL;
        if (p < n && rows_in && ix0 >= 0 && ix0 + g->KW <= g->W) {
            /* the whole window inside x: rows of KW * C values */
            int32_t run = g->KW * g->C;
            for (int32_t ky = 0; ky < g->KH; ky++) {
                const float *xp = xi + ((size_t)(iy0 + ky) * g->W + ix0) * g->C;
                for (int32_t i = 0; i < run; i++)
                    xv[p][k++] = xp[i];
            }
            continue;
        }
        for (int32_t ky = 0; ky < g->KH; ky++) {
            int32_t iy = iy0 + ky;
            for (int32_t kx = 0; kx < g->KW; kx++) {
                int32_t ix = ix0 + kx;
                int in = p < n && iy >= 0 && iy < g->H && ix >= 0 && ix < g->W;
                /* the pointer is formed only inside x: a padding offset
                 * before x is undefined even unread (UBSan) */
                const float *xp =
                    in ? xi + ((size_t)iy * g->W + ix) * g->C : NULL;
                for (int32_t ch = 0; ch < g->C; ch++)
                    xv[p][k++] = in ? xp[ch] : 0.0f;
            }
        }
    }
    return (fields){xv[0], CONV_DIRECT_MAX_K, c->tap_id};
}

/* Outputs of pixels ox0 .. ox0+n-1 of a row (yp: the first one's) for
 * filters f0 .. f0+16 nv-1. Inlined with a constant nv so that acc stays
 * in registers. */
static inline __attribute__((always_inline)) void
forward_tile(const conv *c, const fields *fv, int32_t n, float *yp, int32_t f0,
             int nv) {
    const int32_t F = c->l.F, K = c->l.K;
    v16 acc[PX][NVMAX];
    for (int p = 0; p < PX; p++)
        for (int v = 0; v < nv; v++)
            acc[p][v] = *(const v16 *)(c->b + f0 + 16 * v);
    for (int32_t k = 0; k < K; k++) {
        v16 wv[NVMAX];
        for (int v = 0; v < nv; v++)
            wv[v] = *(const v16 *)(c->w + (size_t)k * F + f0 + 16 * v);
        for (int p = 0; p < PX; p++) {
            const v16 a = FIELD(fv, p, k) - (v16){0};
            for (int v = 0; v < nv; v++)
                acc[p][v] += a * wv[v];
        }
    }
    for (int p = 0; p < n; p++)
        for (int v = 0; v < nv; v++) {
            v16 o = acc[p][v];
            if (c->l.act == ACT_RELU)
                o = V16_RELU(o);
            v16_stream(yp + (size_t)p * F + f0 + 16 * v, &o);
        }
}

/* y for pixels ox0 .. ox0+n-1 of row oy (yp: the first one's outputs). */
static void forward_block(const conv *c, const fields *fv, int32_t n,
                          float *yp) {
    const int32_t F = c->l.F, K = c->l.K, relu = c->l.act == ACT_RELU;
    int32_t f0 = 0;
    for (; f0 + 16 * NVMAX <= F; f0 += 16 * NVMAX)
        forward_tile(c, fv, n, yp, f0, NVMAX);
    for (; f0 + 16 <= F; f0 += 16)
        forward_tile(c, fv, n, yp, f0, 1);
    for (; f0 < F; f0++)
        for (int32_t p = 0; p < n; p++) {
            float v = c->b[f0];
            for (int32_t k = 0; k < K; k++)
                v += FIELD(fv, p, k) * c->w[(size_t)k * F + f0];
            yp[(size_t)p * F + f0] = relu && v < 0.0f ? 0.0f : v;
        }
}

static int forward(void *s, const clnet_step *st, const void *const *xs,
                   void *yv, char *err)
{
    const void *xv = xs[0];
    (void)err;
    conv *c = s;
    const float *x = xv;
    float *y = yv;
    long rows = (long)st->batch * c->l.g.OH;
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (long r = 0; r < rows; r++) {
            int32_t b = (int32_t)(r / c->l.g.OH), oy = (int32_t)(r % c->l.g.OH);
            const float *xi = x + (size_t)b * c->l.g.H * c->l.g.W * c->l.g.C;
            float field[PX][CONV_DIRECT_MAX_K];
            for (int32_t ox = 0; ox < c->l.g.OW; ox += PX) {
                int32_t n = c->l.g.OW - ox < PX ? c->l.g.OW - ox : PX;
                fields fv = fields_of(c, xi, oy, ox, n, field);
                forward_block(c, &fv, n,
                              y + ((size_t)r * c->l.g.OW + ox) * c->l.F);
            }
        }
        v16_stream_fence(); /* y is read by other threads next */
    }
    if (c->l.act != ACT_RELU && c->l.act != ACT_LINEAR)
        cpu_bias_activation(y, (size_t)rows * c->l.g.OW, (size_t)c->l.F, NULL,
                            c->l.act);
    if (c->pre)
        cpu_post_activation(y, c->pre, (size_t)rows * c->l.g.OW * c->l.F,
                            c->l.post);
    return 0;
}

/* Adds pixels ox0 .. ox0+n-1's share of the weight and bias gradients
 * for filters f0 .. f0+16 nv-1 into pw and pb; g: their output
 * gradients, masked by relu (y > 0) first when relu, in place when
 * `store` (the input gradient reads them later). The masked gradients
 * stay in registers across the taps; pw's rows take one load and store
 * per tap and 16 values. */
static inline __attribute__((always_inline)) void
backward_tile(const conv *c, const fields *fv, int32_t n, const float *y,
              float *g, int relu, int store, float *pw, float *pb, int32_t f0,
              int nv) {
    const int32_t F = c->l.F, K = c->l.K;
    v16 d[PX][NVMAX];
    for (int p = 0; p < PX; p++)
        for (int v = 0; v < nv; v++) {
            size_t o = (size_t)p * F + f0 + 16 * v;
            if (p >= n) {
                d[p][v] = (v16){0};
                continue;
            }
            v16 dv = *(const v16 *)(g + o);
            if (relu) {
                dv = (v16)((i16v)dv & (*(const v16 *)(y + o) > (v16){0}));
                if (store)
                    *(v16 *)(g + o) = dv;
            }
            d[p][v] = dv;
        }
    for (int v = 0; v < nv; v++) {
        v16 sum = *(const v16 *)(pb + f0 + 16 * v);
        for (int p = 0; p < PX; p++)
            sum += d[p][v];
        *(v16 *)(pb + f0 + 16 * v) = sum;
    }
    for (int32_t k = 0; k < K; k++) {
        float *wr = pw + (size_t)k * F + f0;
        for (int v = 0; v < nv; v++) {
            v16 sum = *(const v16 *)(wr + 16 * v);
            for (int p = 0; p < PX; p++)
                sum += FIELD(fv, p, k) * d[p][v];
            *(v16 *)(wr + 16 * v) = sum;
        }
    }
}

static void backward_block(const conv *c, const fields *fv, int32_t n,
                           const float *y, float *g, int relu, int store,
                           float *pw, float *pb) {
    const int32_t F = c->l.F, K = c->l.K;
    int32_t f0 = 0;
    for (; f0 + 16 * NVMAX <= F; f0 += 16 * NVMAX)
        backward_tile(c, fv, n, y, g, relu, store, pw, pb, f0, NVMAX);
    for (; f0 + 16 <= F; f0 += 16)
        backward_tile(c, fv, n, y, g, relu, store, pw, pb, f0, 1);
    for (; f0 < F; f0++)
        for (int32_t p = 0; p < n; p++) {
            size_t o = (size_t)p * F + f0;
            float v = g[o];
            if (relu && !(y[o] > 0.0f))
                v = 0.0f;
            if (store)
                g[o] = v;
            pb[f0] += v;
            for (int32_t k = 0; k < K; k++)
                pw[(size_t)k * F + f0] += FIELD(fv, p, k) * v;
        }
}

static int backward(void *s, const clnet_step *st, const void *const *xs,
                    const void *yv, void *dyv, void *const *dxs,
                    char *err)
{
    const void *xv = xs[0];
    void *dxv = dxs[0];
    (void)err;
    conv *c = s;
    const float *x = xv;
    float *dy = dyv, *dx = dxv;
    const int32_t F = c->l.F, K = c->l.K;
    long rows = (long)st->batch * c->l.g.OH;
    if (c->pre)
        cpu_post_activation_grad(c->pre, yv, dy,
                                 (size_t)rows * c->l.g.OW * F, c->l.post);
    if (c->l.act != ACT_RELU)
        cpu_activation_backward(yv, dy, (size_t)rows * c->l.g.OW, (size_t)F,
                                c->l.act, c->l.fused);
    const float *y = yv;
    int relu = c->l.act == ACT_RELU;
    memset(c->partial, 0,
           sizeof(float) * (size_t)c->nthreads * ((size_t)K * F + F));
#pragma omp parallel num_threads(c->nthreads)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        float *pw = c->partial + (size_t)t * ((size_t)K * F + F);
        float *pb = pw + (size_t)K * F;
        long lo = rows * t / T, hi = rows * (t + 1) / T;
        float field[PX][CONV_DIRECT_MAX_K];
        for (long r = lo; r < hi; r++) {
            int32_t b = (int32_t)(r / c->l.g.OH), oy = (int32_t)(r % c->l.g.OH);
            const float *xi = x + (size_t)b * c->l.g.H * c->l.g.W * c->l.g.C;
            for (int32_t ox = 0; ox < c->l.g.OW; ox += PX) {
                int32_t n = c->l.g.OW - ox < PX ? c->l.g.OW - ox : PX;
                size_t o = ((size_t)r * c->l.g.OW + ox) * F;
                fields fv = fields_of(c, xi, oy, ox, n, field);
                backward_block(c, &fv, n, y + o, dy + o, relu, dx != NULL, pw,
                               pb);
            }
        }
    }
    size_t kf = (size_t)K * F;
    cpu_sum_partials(c->partial, c->nthreads, kf + F, kf, c->dw);
    cpu_sum_partials(c->partial + kf, c->nthreads, kf + F, (size_t)F, c->db);
    if (!dx)
        return 0;
    /* input gradient: each input pixel gathers from the outputs it fed */
    long in_rows = (long)st->batch * c->l.g.H;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < in_rows; r++) {
        int32_t b = (int32_t)(r / c->l.g.H), iy = (int32_t)(r % c->l.g.H);
        for (int32_t ix = 0; ix < c->l.g.W; ix++) {
            float *d = dx + ((size_t)r * c->l.g.W + ix) * c->l.g.C;
            for (int32_t ch = 0; ch < c->l.g.C; ch++)
                d[ch] = 0.0f;
            for (int32_t ky = 0; ky < c->l.g.KH; ky++) {
                int32_t ty = iy + c->l.g.PT - ky;
                if (ty < 0 || ty % c->l.g.SH || ty / c->l.g.SH >= c->l.g.OH)
                    continue;
                for (int32_t kx = 0; kx < c->l.g.KW; kx++) {
                    int32_t tx = ix + c->l.g.PL - kx;
                    if (tx < 0 || tx % c->l.g.SW || tx / c->l.g.SW >= c->l.g.OW)
                        continue;
                    const float *g =
                        dy +
                        (((size_t)b * c->l.g.OH + ty / c->l.g.SH) * c->l.g.OW +
                         tx / c->l.g.SW) *
                            F;
                    const float *wp =
                        c->w + ((size_t)ky * c->l.g.KW + kx) * c->l.g.C * F;
                    for (int32_t ch = 0; ch < c->l.g.C; ch++) {
                        float sum = 0;
#pragma omp simd reduction(+ : sum)
                        for (int32_t f = 0; f < F; f++)
                            sum += g[f] * wp[(size_t)ch * F + f];
                        d[ch] += sum;
                    }
                }
            }
        }
    }
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "conv2d",
    .backend = "cpu",
    .impl = "direct",
    .summary = "2-D convolution computed directly, for small receptive "
               "fields (first layers)",
    .nsettings = CONV_NSETTINGS,
    .settings = conv2d_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, bind, score},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
