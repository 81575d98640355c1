/* depthwise_conv2d on the native CPU (depthwise_conv2d_kind.c), computed
 * directly: NHWC keeps a pixel's channels contiguous and the kernel's
 * [kh][kw][C][multiplier] layout keeps a tap's weights contiguous in the
 * same output-channel order, so with depth_multiplier 1 every inner loop
 * is an elementwise product over CB channels the compiler vectorises,
 * accumulated in registers across the taps (forward, input gradient) or
 * across a row's pixels (kernel gradient, where the range of pixels each
 * tap reaches inside the input is worked out once, with no test per
 * pixel). OpenMP runs over batch x rows; the kernel gradient is summed
 * per thread over fixed ranges of rows and the partial sums added in
 * thread order (cpu_sum_partials), so results do not depend on timing.
 * Bias and relu are fused into the forward pass, softmax and the
 * activations' gradients use the shared helpers. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cpu_common.h"
#include "depthwise_conv2d_settings.h"

#define CB 32 /* output channels per register block */

typedef struct {
    dw_layer l;
    int32_t nthreads;
    const float *w, *b;
    float *dw, *db;
    float *partial; /* nthreads x T x CO */
} dwconv;

static void destroy(void *s)
{
    dwconv *d = s;
    if (d)
        free(d->partial);
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
    int64_t n = clnet_size_mul(clnet_size_mul(d->nthreads, d->l.T), d->l.CO);
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
                           (size_t)d->l.T * (size_t)d->l.CO);
    return d->partial ? 0 : -1;
}

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

/* Output pixel (b, oy, ox): yp[o] = bias + sum over taps, multiplier 1,
 * channels o0 .. o0 + CB - 1 held in registers. */
static inline void forward_pixel1(const dwconv *d, const float *restrict xb,
                                  int32_t oy, int32_t ox, float *restrict yp)
{
    const clnet_window *g = &d->l.g;
    const int32_t CO = d->l.CO;
    const int32_t iy0 = oy * g->SH - g->PT, ix0 = ox * g->SW - g->PL;
    for (int32_t o0 = 0; o0 < CO; o0 += CB) {
        if (o0 + CB <= CO) {
            float acc[CB];
            for (int j = 0; j < CB; j++)
                acc[j] = d->b ? d->b[o0 + j] : 0.0f;
            for (int32_t ky = 0; ky < g->KH; ky++) {
                int32_t iy = iy0 + ky;
                if (iy < 0 || iy >= g->H)
                    continue;
                for (int32_t kx = 0; kx < g->KW; kx++) {
                    int32_t ix = ix0 + kx;
                    if (ix < 0 || ix >= g->W)
                        continue;
                    const float *restrict xp =
                        xb + ((size_t)iy * g->W + ix) * CO + o0;
                    const float *restrict wp =
                        d->w + (size_t)(ky * g->KW + kx) * CO + o0;
#pragma omp simd
                    for (int j = 0; j < CB; j++)
                        acc[j] += xp[j] * wp[j];
                }
            }
            if (d->l.act == ACT_RELU)
                for (int j = 0; j < CB; j++)
                    acc[j] = acc[j] > 0.0f ? acc[j] : 0.0f;
            memcpy(yp + o0, acc, sizeof acc);
            continue;
        }
        for (int32_t o = o0; o < CO; o++) {
            float acc = d->b ? d->b[o] : 0.0f;
            for (int32_t ky = 0; ky < g->KH; ky++) {
                int32_t iy = iy0 + ky;
                if (iy < 0 || iy >= g->H)
                    continue;
                for (int32_t kx = 0; kx < g->KW; kx++) {
                    int32_t ix = ix0 + kx;
                    if (ix < 0 || ix >= g->W)
                        continue;
                    acc += xb[((size_t)iy * g->W + ix) * CO + o] *
                           d->w[(size_t)(ky * g->KW + kx) * CO + o];
                }
            }
            yp[o] = d->l.act == ACT_RELU && !(acc > 0.0f) ? 0.0f : acc;
        }
    }
}

/* The same for a depth multiplier M > 1: output c M + m reads channel c;
 * yp itself accumulates. */
static inline void forward_pixel(const dwconv *d, const float *restrict xb,
                                 int32_t oy, int32_t ox, float *restrict yp)
{
    const clnet_window *g = &d->l.g;
    const int32_t CO = d->l.CO, C = g->C, M = d->l.M;
    const int32_t iy0 = oy * g->SH - g->PT, ix0 = ox * g->SW - g->PL;
    for (int32_t o = 0; o < CO; o++)
        yp[o] = d->b ? d->b[o] : 0.0f;
    for (int32_t ky = 0; ky < g->KH; ky++) {
        int32_t iy = iy0 + ky;
        if (iy < 0 || iy >= g->H)
            continue;
        for (int32_t kx = 0; kx < g->KW; kx++) {
            int32_t ix = ix0 + kx;
            if (ix < 0 || ix >= g->W)
                continue;
            const float *restrict xp = xb + ((size_t)iy * g->W + ix) * C;
            const float *restrict wp =
                d->w + (size_t)(ky * g->KW + kx) * CO;
            for (int32_t c = 0; c < C; c++) {
                const float xv = xp[c];
#pragma omp simd
                for (int32_t m = 0; m < M; m++)
                    yp[c * M + m] += xv * wp[c * M + m];
            }
        }
    }
    if (d->l.act == ACT_RELU)
#pragma omp simd
        for (int32_t o = 0; o < CO; o++)
            yp[o] = yp[o] > 0.0f ? yp[o] : 0.0f;
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
    const size_t in_image = (size_t)g->H * g->W * g->C;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        const int32_t b = (int32_t)(r / g->OH), oy = (int32_t)(r % g->OH);
        const float *xb = x + (size_t)b * in_image;
        float *yr = y + (size_t)r * g->OW * d->l.CO;
        for (int32_t ox = 0; ox < g->OW; ox++) {
            if (d->l.M == 1)
                forward_pixel1(d, xb, oy, ox, yr + (size_t)ox * d->l.CO);
            else
                forward_pixel(d, xb, oy, ox, yr + (size_t)ox * d->l.CO);
        }
    }
    if (d->l.act == ACT_SOFTMAX)
        cpu_bias_activation(y, (size_t)rows * g->OW, (size_t)d->l.CO, NULL,
                            ACT_SOFTMAX);
    return 0;
}

/* Adds output row (b, oy)'s share of the kernel gradient into pw (T x CO):
 * for each tap, the pixels it reaches inside the input, summed in
 * registers per block of CB channels. */
static void kernel_grad_row(const dwconv *d, const float *restrict xb,
                            const float *restrict gr, int32_t oy,
                            float *restrict pw)
{
    const clnet_window *g = &d->l.g;
    const int32_t CO = d->l.CO, C = g->C, M = d->l.M;
    const size_t xstep = (size_t)g->SW * C;
    for (int32_t ky = 0; ky < g->KH; ky++) {
        const int32_t iy = oy * g->SH - g->PT + ky;
        if (iy < 0 || iy >= g->H)
            continue;
        for (int32_t kx = 0; kx < g->KW; kx++) {
            int32_t lo, hi;
            inside(kx, g->SW, g->PL, g->W, g->OW, &lo, &hi);
            if (lo >= hi)
                continue;
            /* input pixel of output lo at this tap */
            const float *xrow =
                xb + ((size_t)iy * g->W + (lo * g->SW - g->PL + kx)) * C;
            const float *grow = gr + (size_t)lo * CO;
            float *restrict wr = pw + (size_t)(ky * g->KW + kx) * CO;
            if (M != 1) {
                for (int32_t ox = lo; ox < hi; ox++) {
                    const float *xp = xrow + (size_t)(ox - lo) * xstep;
                    const float *gp = grow + (size_t)(ox - lo) * CO;
                    for (int32_t c = 0; c < C; c++) {
                        const float xv = xp[c];
#pragma omp simd
                        for (int32_t m = 0; m < M; m++)
                            wr[c * M + m] += xv * gp[c * M + m];
                    }
                }
                continue;
            }
            int32_t o0 = 0;
            for (; o0 + CB <= CO; o0 += CB) {
                float acc[CB];
                memcpy(acc, wr + o0, sizeof acc);
                for (int32_t ox = lo; ox < hi; ox++) {
                    const float *restrict xp =
                        xrow + (size_t)(ox - lo) * xstep + o0;
                    const float *restrict gp =
                        grow + (size_t)(ox - lo) * CO + o0;
#pragma omp simd
                    for (int j = 0; j < CB; j++)
                        acc[j] += xp[j] * gp[j];
                }
                memcpy(wr + o0, acc, sizeof acc);
            }
            for (; o0 < CO; o0++) {
                float acc = wr[o0];
                for (int32_t ox = lo; ox < hi; ox++)
                    acc += xrow[(size_t)(ox - lo) * xstep + o0] *
                           grow[(size_t)(ox - lo) * CO + o0];
                wr[o0] = acc;
            }
        }
    }
}

/* Input pixel (b, iy, ix)'s gradient: the sum over the outputs whose
 * window covers it. gb: image b's output gradient. */
static void input_grad_pixel(const dwconv *d, const float *restrict gb,
                             int32_t iy, int32_t ix, float *restrict dp)
{
    const clnet_window *g = &d->l.g;
    const int32_t CO = d->l.CO, C = g->C, M = d->l.M;
    for (int32_t c0 = 0; c0 < C; c0 += CB) {
        const int32_t n = C - c0 < CB ? C - c0 : CB;
        float acc[CB] = {0};
        for (int32_t ky = 0; ky < g->KH; ky++) {
            const int32_t ty = iy + g->PT - ky;
            if (ty < 0 || ty % g->SH || ty / g->SH >= g->OH)
                continue;
            for (int32_t kx = 0; kx < g->KW; kx++) {
                const int32_t tx = ix + g->PL - kx;
                if (tx < 0 || tx % g->SW || tx / g->SW >= g->OW)
                    continue;
                const float *restrict gp =
                    gb + ((size_t)(ty / g->SH) * g->OW + tx / g->SW) * CO +
                    (size_t)c0 * M;
                const float *restrict wp =
                    d->w + (size_t)(ky * g->KW + kx) * CO + (size_t)c0 * M;
                if (M == 1 && n == CB) {
#pragma omp simd
                    for (int j = 0; j < CB; j++)
                        acc[j] += gp[j] * wp[j];
                } else if (M == 1) {
                    for (int32_t j = 0; j < n; j++)
                        acc[j] += gp[j] * wp[j];
                } else {
                    for (int32_t j = 0; j < n; j++) {
                        float sum = 0.0f;
                        for (int32_t m = 0; m < M; m++)
                            sum += gp[j * M + m] * wp[j * M + m];
                        acc[j] += sum;
                    }
                }
            }
        }
        memcpy(dp + c0, acc, sizeof(float) * (size_t)n);
    }
}

static int backward(void *s, const clnet_step *st, const void *const *xv,
                    const void *yv, void *dyv, void *const *dxv, char *err)
{
    (void)err;
    dwconv *d = s;
    const clnet_window *g = &d->l.g;
    const float *x = xv[0];
    float *dy = dyv, *dx = dxv[0];
    const int32_t CO = d->l.CO;
    const long rows = (long)st->batch * g->OH;
    const size_t pixels = (size_t)rows * g->OW;
    const size_t in_image = (size_t)g->H * g->W * g->C;
    const size_t out_image = (size_t)g->OH * g->OW * CO;
    cpu_activation_backward(yv, dy, pixels, (size_t)CO, d->l.act, d->l.fused);
    if (d->db)
        cpu_bias_grad(dy, pixels, (size_t)CO, d->db);
    const size_t tc = (size_t)d->l.T * CO;
    memset(d->partial, 0, sizeof(float) * (size_t)d->nthreads * tc);
#pragma omp parallel num_threads(d->nthreads)
    {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        float *pw = d->partial + (size_t)t * tc;
        const long lo = rows * t / T, hi = rows * (t + 1) / T;
        for (long r = lo; r < hi; r++) {
            const int32_t b = (int32_t)(r / g->OH), oy = (int32_t)(r % g->OH);
            kernel_grad_row(d, x + (size_t)b * in_image,
                            dy + (size_t)r * g->OW * CO, oy, pw);
        }
    }
    cpu_sum_partials(d->partial, d->nthreads, tc, tc, d->dw);
    if (!dx)
        return 0;
    const long in_rows = (long)st->batch * g->H;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < in_rows; r++) {
        const int32_t b = (int32_t)(r / g->H), iy = (int32_t)(r % g->H);
        const float *gb = dy + (size_t)b * out_image;
        for (int32_t ix = 0; ix < g->W; ix++)
            input_grad_pixel(d, gb, iy, ix,
                             dx + ((size_t)r * g->W + ix) * g->C);
    }
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
