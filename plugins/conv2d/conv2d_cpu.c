/* conv2d on the native CPU as GEMMs, NHWC. The forward pass of a layer
 * whose filters come in 16s is an implicit GEMM with bias and relu in its
 * store (implicit_conv_cpu.c), and so is the input gradient at stride 1
 * with channels in 16s (a convolution of dy with the flipped weights).
 * The other products go through im2col + SGEMM (OpenBLAS), with bias and
 * activation fused after the product; a 1x1, stride-1 convolution skips
 * im2col. Each thread takes its own share of the batch and works through
 * it in chunks whose im2col matrix stays in cache, calling a single-
 * threaded SGEMM; backward rebuilds each chunk's matrix. On this project's
 * 2-core machine this ran the seed model's conv2 markedly faster than one
 * multithreaded SGEMM over the whole batch's 36 MB matrix (BENCHMARKS.md).
 * Weight gradients are summed per thread and added in thread order, so the
 * result does not depend on timing. */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cpu_common.h"
#include "conv2d_settings.h"
#include "implicit_conv_cpu.h"

#define CHUNK_BYTES (512u << 10) /* im2col bytes per chunk and thread */

typedef struct {
    conv2d_layer l;
    int32_t chunk, direct, nthreads;
    int32_t implicit;   /* forward by implicit_conv_forward */
    int32_t transposed; /* dx by implicit_conv_input_grad */
    float *wflip;       /* its flipped weights, K x F */
    float *col, *dcol; /* nthreads x chunk im2col matrices */
    float *dw_part;    /* nthreads x K x F */
    float *pre;        /* l.post's input: the last forward pass's sums */
    float *w, *b, *dw, *db;
} conv;

static void destroy(void *s) {
    conv *c = s;
    if (!c)
        return;
    free(c->col);
    free(c->dcol);
    free(c->dw_part);
    free(c->wflip);
    free(c->pre);
    free(c);
}

static int create(const clnet_create_args *a, void **state, char *err) {
    conv *c = calloc(1, sizeof *c);
    if (!c)
        return cpu_errorf(err, "out of memory"), -1;
    *state = c;
    if (conv2d_read(a, &c->l, err)) {
        destroy(c);
        return -1;
    }
    c->direct =
        c->l.g.KH == 1 && c->l.g.KW == 1 && c->l.g.SH == 1 && c->l.g.SW == 1;
    /* the implicit products read undilated windows */
    int dilated = conv2d_dilated(&c->l.g);
    c->implicit = implicit_conv_fits(c->l.F) && !dilated;
    c->transposed =
        !c->direct && !dilated && implicit_conv_input_grad_fits(&c->l.g);
    size_t per_image = (size_t)c->l.P * (size_t)c->l.K * sizeof(float);
    c->chunk = (int32_t)(CHUNK_BYTES / per_image);
    c->chunk = c->chunk < 1 ? 1 : c->chunk > c->l.B ? c->l.B : c->chunk;
    cpu_set_threads(a->threads);
    c->nthreads = omp_get_max_threads();
    return 0;
}

/* The workspace (im2col matrices, per-thread weight gradients, the
 * flipped kernel) comes here, not in create(): the core creates layers
 * once to plan memory and binds only when the plan fits. Fuzzing found a
 * layer whose one-image im2col matrix and weight gradient were 8.5 GB a
 * thread, allocated in that first pass. */
static int bind(void *s, void *const *params, void *const *grads) {
    conv *c = s;
    c->w = params[0];
    c->b = params[1];
    c->dw = grads[0];
    c->db = grads[1];
    size_t T = (size_t)c->nthreads;
    size_t kf = (size_t)c->l.K * c->l.F * sizeof(float);
    size_t cols = T * (size_t)c->chunk * (size_t)c->l.P * (size_t)c->l.K *
                  sizeof(float);
    if (!c->dw_part)
        c->dw_part = cpu_alloc(T * kf);
    if (!c->direct && !c->col)
        c->col = cpu_alloc(cols);
    if (!c->direct && !c->transposed && !c->dcol)
        c->dcol = cpu_alloc(cols);
    if (c->transposed && !c->wflip)
        c->wflip = cpu_alloc(kf);
    if (c->l.post != ACT_LINEAR && !c->pre)
        c->pre = cpu_alloc(sizeof(float) * (size_t)c->l.B * c->l.P * c->l.F);
    return !c->dw_part || (!c->direct && !c->col) ||
                   (!c->direct && !c->transposed && !c->dcol) ||
                   (c->transposed && !c->wflip) ||
                   (c->l.post != ACT_LINEAR && !c->pre)
               ? -1
               : 0;
}

/* Rows of col are output positions of n images, columns (kh, kw, c). */
static void im2col(const conv *c, const float *x, int32_t n, float *col) {
    long rows = (long)n * c->l.g.OH;
    size_t cb = (size_t)c->l.g.C * sizeof(float);
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        int32_t img = (int32_t)(r / c->l.g.OH), oy = (int32_t)(r % c->l.g.OH);
        const float *xi = x + (size_t)img * c->l.g.H * c->l.g.W * c->l.g.C;
        for (int32_t ox = 0; ox < c->l.g.OW; ox++) {
            float *dst = col + ((size_t)r * c->l.g.OW + ox) * c->l.K;
            for (int32_t ky = 0; ky < c->l.g.KH; ky++) {
                int32_t iy = oy * c->l.g.SH - c->l.g.PT + ky * c->l.g.DH;
                for (int32_t kx = 0; kx < c->l.g.KW; kx++) {
                    int32_t ix = ox * c->l.g.SW - c->l.g.PL + kx * c->l.g.DW;
                    float *d = dst + ((size_t)ky * c->l.g.KW + kx) * c->l.g.C;
                    if (iy < 0 || iy >= c->l.g.H || ix < 0 || ix >= c->l.g.W)
                        memset(d, 0, cb);
                    else
                        memcpy(d, xi + ((size_t)iy * c->l.g.W + ix) * c->l.g.C,
                               cb);
                }
            }
        }
    }
}

/* Adds each column of dcol back to the input position it came from. */
static void col2im(const conv *c, const float *dcol, int32_t n, float *dx) {
#pragma omp parallel for schedule(static)
    for (long img = 0; img < n; img++) {
        float *di = dx + (size_t)img * c->l.g.H * c->l.g.W * c->l.g.C;
        memset(di, 0, sizeof(float) * (size_t)c->l.g.H * c->l.g.W * c->l.g.C);
        for (int32_t oy = 0; oy < c->l.g.OH; oy++)
            for (int32_t ox = 0; ox < c->l.g.OW; ox++) {
                const float *src =
                    dcol +
                    (((size_t)img * c->l.g.OH + oy) * c->l.g.OW + ox) * c->l.K;
                for (int32_t ky = 0; ky < c->l.g.KH; ky++) {
                    int32_t iy = oy * c->l.g.SH - c->l.g.PT + ky * c->l.g.DH;
                    if (iy < 0 || iy >= c->l.g.H)
                        continue;
                    for (int32_t kx = 0; kx < c->l.g.KW; kx++) {
                        int32_t ix =
                            ox * c->l.g.SW - c->l.g.PL + kx * c->l.g.DW;
                        if (ix < 0 || ix >= c->l.g.W)
                            continue;
                        const float *s =
                            src + ((size_t)ky * c->l.g.KW + kx) * c->l.g.C;
                        float *d = di + ((size_t)iy * c->l.g.W + ix) * c->l.g.C;
#pragma omp simd
                        for (int32_t ch = 0; ch < c->l.g.C; ch++)
                            d[ch] += s[ch];
                    }
                }
            }
    }
}

/* The share of a batch of n images that thread t of T takes. */
static void share(int32_t n, int t, int T, int32_t *lo, int32_t *hi) {
    *lo = (int32_t)((int64_t)n * t / T);
    *hi = (int32_t)((int64_t)n * (t + 1) / T);
}

/* The im2col matrix of images [start, start + n) in thread t's buffer (or
 * the input itself for a pointwise convolution). Runs inside the caller's
 * parallel region, so im2col's own loop runs on this thread alone. */
static const float *cols_for(conv *c, const float *x, int t, int32_t start,
                             int32_t n) {
    const float *xs = x + (size_t)start * c->l.g.H * c->l.g.W * c->l.g.C;
    if (c->direct)
        return xs;
    float *col = c->col + (size_t)t * c->chunk * c->l.P * c->l.K;
    im2col(c, xs, n, col);
    return col;
}

static int forward(void *s, const clnet_step *st, const void *const *xs,
                   void *yv, char *err)
{
    const void *xv = xs[0];
    (void)err;
    conv *c = s;
    const float *x = xv;
    float *y = yv;
    if (c->implicit) {
        long pixels = (long)st->batch * c->l.P;
        implicit_conv_forward(&c->l.g, c->l.F, x, c->w, c->b,
                              c->l.act == ACT_RELU, y, pixels);
        if (c->l.act != ACT_RELU && c->l.act != ACT_LINEAR)
            cpu_bias_activation(y, (size_t)pixels, (size_t)c->l.F, NULL,
                                c->l.act);
        if (c->pre)
            cpu_post_activation(y, c->pre, (size_t)pixels * c->l.F,
                                c->l.post);
        return 0;
    }
#pragma omp parallel num_threads(c->nthreads)
    {
        int t = omp_get_thread_num();
        int32_t lo, hi;
        share(st->batch, t, omp_get_num_threads(), &lo, &hi);
        for (int32_t start = lo; start < hi; start += c->chunk) {
            int32_t n = hi - start < c->chunk ? hi - start : c->chunk;
            const float *col = cols_for(c, x, t, start, n);
            float *yc = y + (size_t)start * c->l.P * c->l.F;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n * c->l.P,
                        c->l.F, c->l.K, 1.0f, col, c->l.K, c->w, c->l.F, 0.0f,
                        yc, c->l.F);
            cpu_bias_activation(yc, (size_t)n * c->l.P, (size_t)c->l.F, c->b,
                                c->l.act);
        }
    }
    if (c->pre)
        cpu_post_activation(y, c->pre, (size_t)st->batch * c->l.P * c->l.F,
                            c->l.post);
    return 0;
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
    size_t rows = (size_t)st->batch * c->l.P;
    if (c->pre)
        cpu_post_activation_grad(c->pre, yv, dy, rows * c->l.F, c->l.post);
    cpu_activation_backward(yv, dy, rows, (size_t)c->l.F, c->l.act, c->l.fused);
    cpu_bias_grad(dy, rows, (size_t)c->l.F, c->db);
    size_t kf = (size_t)c->l.K * c->l.F;
    int T = c->nthreads;
#pragma omp parallel num_threads(T)
    {
        int t = omp_get_thread_num();
        int32_t lo, hi;
        share(st->batch, t, omp_get_num_threads(), &lo, &hi);
        float *dwp = c->dw_part + (size_t)t * kf;
        if (lo >= hi)
            memset(dwp, 0, kf * sizeof(float));
        for (int32_t start = lo; start < hi; start += c->chunk) {
            int32_t n = hi - start < c->chunk ? hi - start : c->chunk;
            const float *col = cols_for(c, x, t, start, n);
            const float *dyc = dy + (size_t)start * c->l.P * c->l.F;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, c->l.K, c->l.F,
                        n * c->l.P, 1.0f, col, c->l.K, dyc, c->l.F,
                        start == lo ? 0.0f : 1.0f, dwp, c->l.F);
            if (!dx || c->transposed)
                continue;
            float *dxc = dx + (size_t)start * c->l.g.H * c->l.g.W * c->l.g.C;
            float *dcol =
                c->direct ? dxc
                          : c->dcol + (size_t)t * c->chunk * c->l.P * c->l.K;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n * c->l.P,
                        c->l.K, c->l.F, 1.0f, dyc, c->l.F, c->w, c->l.F, 0.0f,
                        dcol, c->l.K);
            if (!c->direct)
                col2im(c, dcol, n, dxc);
        }
    }
    cpu_sum_partials(c->dw_part, T, kf, kf, c->dw);
    if (dx && c->transposed)
        implicit_conv_input_grad(&c->l.g, c->l.F, dy, c->w, c->wflip, dx,
                                 st->batch);
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "conv2d",
    .backend = "cpu",
    .impl = "gemm",
    .summary = "2-D convolution, implicit GEMM where filters or channels "
               "come in 16s, else im2col + OpenBLAS SGEMM",
    .nsettings = CONV_NSETTINGS,
    .settings = conv2d_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, bind},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
