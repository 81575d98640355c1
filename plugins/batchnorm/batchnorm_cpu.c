/* batchnorm on the native CPU (batchnorm_kind.c): two passes over the
 * tensor each way, rows of channels with the channels inner. The sums over
 * the N x H x W rows run in double, over a fixed number of parts that
 * depends on the row count only, added up in part order: the result is the
 * same for any thread count and any timing. The forward statistics are
 * taken about a shift (the first row) so that a large mean does not cancel
 * the variance away. */
#include <math.h>
#include <stdlib.h>

#include "../common/cpu_common.h"
#include "batchnorm_settings.h"

/* The rows are summed in at most BN_PARTS parts of at least BN_PART_ROWS
 * rows (fewer for small tensors), threads taking whole parts. */
#define BN_PARTS 64
#define BN_PART_ROWS 256
/* Below this many values the passes run on one thread. */
#define BN_PARALLEL_MIN 32768

typedef struct {
    int32_t C;
    size_t rows_per_sample;
    float momentum, eps;
    bn_param_slots s;
    float *gamma, *beta, *mm, *mv, *dgamma, *dbeta;
    /* the last training forward pass's batch statistics, for backward */
    float *mean, *inv_std;
    float *ka, *kb, *kd; /* per-channel factors of the element passes */
    float *shift;
    double *parts;       /* BN_PARTS x 2C partial sums */
    double *s1, *s2;     /* C each: their totals */
} bn;

static void destroy(void *p)
{
    bn *l = p;
    if (!l)
        return;
    free(l->mean);
    free(l->parts);
    free(l->s1);
    free(l);
}

static int create(const clnet_create_args *a, void **state, char *err)
{
    bn *l = calloc(1, sizeof *l);
    if (!l)
        return cpu_errorf(err, "out of memory"), -1;
    l->C = a->in[0].c;
    l->rows_per_sample = (size_t)a->in[0].h * (size_t)a->in[0].w;
    l->momentum = (float)a->settings[BN_MOMENTUM].f;
    l->eps = (float)a->settings[BN_EPSILON].f;
    l->s = bn_slots(a->settings);
    size_t C = (size_t)l->C;
    l->mean = cpu_alloc(6 * C * sizeof(float));
    l->parts = cpu_alloc((size_t)BN_PARTS * 2 * C * sizeof(double));
    l->s1 = cpu_alloc(2 * C * sizeof(double));
    if (!l->mean || !l->parts || !l->s1) {
        destroy(l);
        return cpu_errorf(err, "out of memory"), -1;
    }
    l->inv_std = l->mean + C;
    l->ka = l->mean + 2 * C;
    l->kb = l->mean + 3 * C;
    l->kd = l->mean + 4 * C;
    l->shift = l->mean + 5 * C;
    l->s2 = l->s1 + C;
    *state = l;
    cpu_set_threads(a->threads);
    return 0;
}

static int bind(void *p, void *const *params, void *const *grads)
{
    bn *l = p;
    if (l->s.gamma >= 0) {
        l->gamma = params[l->s.gamma];
        l->dgamma = grads[l->s.gamma];
    }
    if (l->s.beta >= 0) {
        l->beta = params[l->s.beta];
        l->dbeta = grads[l->s.beta];
    }
    l->mm = params[l->s.mean];
    l->mv = params[l->s.var];
    return 0;
}

static int nparts_for(size_t rows)
{
    size_t n = (rows + BN_PART_ROWS - 1) / BN_PART_ROWS;
    return n < 1 ? 1 : n > BN_PARTS ? BN_PARTS : (int)n;
}

/* For each part p of the rows, parts[p] = (sum u, sum u v) per channel:
 * forward (dy NULL): u = v = x - center; backward: u = dy, v = x - center.
 * Then s1, s2 = the parts' sums, in part order. */
static void channel_sums(const bn *l, const float *x, const float *dy,
                         const float *center, size_t rows, double *s1,
                         double *s2)
{
    const size_t C = (size_t)l->C;
    const int np = nparts_for(rows);
    double *parts = l->parts;
#pragma omp parallel for schedule(static) if (rows * C > BN_PARALLEL_MIN)
    for (int p = 0; p < np; p++) {
        double *a = parts + (size_t)p * 2 * C, *b = a + C;
        for (size_t c = 0; c < C; c++)
            a[c] = b[c] = 0.0;
        size_t lo = rows * (size_t)p / (size_t)np,
               hi = rows * (size_t)(p + 1) / (size_t)np;
        for (size_t r = lo; r < hi; r++) {
            const float *xr = x + r * C;
            if (dy) {
                const float *dr = dy + r * C;
#pragma omp simd
                for (size_t c = 0; c < C; c++) {
                    double u = dr[c], v = xr[c] - center[c];
                    a[c] += u;
                    b[c] += u * v;
                }
            } else {
#pragma omp simd
                for (size_t c = 0; c < C; c++) {
                    double u = xr[c] - center[c];
                    a[c] += u;
                    b[c] += u * u;
                }
            }
        }
    }
    for (size_t c = 0; c < C; c++)
        s1[c] = s2[c] = 0.0;
    for (int p = 0; p < np; p++) {
        const double *a = parts + (size_t)p * 2 * C, *b = a + C;
        for (size_t c = 0; c < C; c++) {
            s1[c] += a[c];
            s2[c] += b[c];
        }
    }
}

/* y = (x - mean) ka + kb */
static void normalize(const bn *l, const float *x, float *y, size_t rows,
                      const float *mean)
{
    const size_t C = (size_t)l->C;
    const float *ka = l->ka, *kb = l->kb;
    long n = (long)rows;
#pragma omp parallel for schedule(static) if (rows * C > BN_PARALLEL_MIN)
    for (long r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * C;
        float *yr = y + (size_t)r * C;
#pragma omp simd
        for (size_t c = 0; c < C; c++)
            yr[c] = (xr[c] - mean[c]) * ka[c] + kb[c];
    }
}

/* The per-channel factors from a mean and inverse deviation. */
static void factors(bn *l, const float *inv_std)
{
    for (int32_t c = 0; c < l->C; c++) {
        l->ka[c] = (l->gamma ? l->gamma[c] : 1.0f) * inv_std[c];
        l->kb[c] = l->beta ? l->beta[c] : 0.0f;
    }
}

static int forward(void *p, const clnet_step *st, const void *const *xs,
                   void *yv, char *err)
{
    (void)err;
    bn *l = p;
    const float *x = xs[0];
    float *y = yv;
    const size_t C = (size_t)l->C;
    const size_t rows = l->rows_per_sample * (size_t)st->batch;
    if (!st->training) {
        /* Keras's inference: the moving statistics */
        for (size_t c = 0; c < C; c++)
            l->kd[c] = 1.0f / sqrtf(l->mv[c] + l->eps);
        factors(l, l->kd);
        normalize(l, x, y, rows, l->mm);
        return 0;
    }
    for (size_t c = 0; c < C; c++)
        l->shift[c] = x[c];
    channel_sums(l, x, NULL, l->shift, rows, l->s1, l->s2);
    const double M = (double)rows;
    const float keep = l->momentum, take = 1.0f - l->momentum;
    for (size_t c = 0; c < C; c++) {
        double d = l->s1[c] / M;
        double var = l->s2[c] / M - d * d; /* biased, as Keras's */
        if (var < 0.0)
            var = 0.0;
        float mean = (float)((double)l->shift[c] + d);
        l->mean[c] = mean;
        l->inv_std[c] = (float)(1.0 / sqrt(var + (double)l->eps));
        l->mm[c] = l->mm[c] * keep + mean * take;
        l->mv[c] = l->mv[c] * keep + (float)var * take;
    }
    factors(l, l->inv_std);
    normalize(l, x, y, rows, l->mean);
    return 0;
}

static int backward(void *p, const clnet_step *st, const void *const *xs,
                    const void *y, void *dyv, void *const *dx, char *err)
{
    (void)y;
    (void)err;
    bn *l = p;
    const float *x = xs[0], *dy = dyv;
    const size_t C = (size_t)l->C;
    const size_t rows = l->rows_per_sample * (size_t)st->batch;
    /* A backward pass in inference mode differentiates the layer as it
     * ran there: the moving statistics, constants. */
    const float *mean = l->mean, *inv_std = l->inv_std;
    if (!st->training) {
        for (size_t c = 0; c < C; c++)
            l->shift[c] = 1.0f / sqrtf(l->mv[c] + l->eps);
        mean = l->mm;
        inv_std = l->shift;
    }
    channel_sums(l, x, dy, mean, rows, l->s1, l->s2);
    const double M = (double)rows;
    for (size_t c = 0; c < C; c++) {
        const double is = inv_std[c];
        const double dbeta = l->s1[c], dgamma = l->s2[c] * is;
        if (l->dgamma)
            l->dgamma[c] = (float)dgamma;
        if (l->dbeta)
            l->dbeta[c] = (float)dbeta;
        const double g = l->gamma ? l->gamma[c] : 1.0;
        /* dx = g is / M (M dy - dbeta - xhat dgamma)
         *    = ka dy + kb (x - mean) + kd */
        l->ka[c] = (float)(g * is);
        l->kb[c] = st->training ? (float)(-g * is * is * dgamma / M) : 0.0f;
        l->kd[c] = st->training ? (float)(-g * is * dbeta / M) : 0.0f;
    }
    float *out = dx[0];
    if (!out)
        return 0;
    const float *ka = l->ka, *kb = l->kb, *kd = l->kd;
    long n = (long)rows;
#pragma omp parallel for schedule(static) if (rows * C > BN_PARALLEL_MIN)
    for (long r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * C, *dr = dy + (size_t)r * C;
        float *o = out + (size_t)r * C;
#pragma omp simd
        for (size_t c = 0; c < C; c++)
            o[c] = ka[c] * dr[c] + (kb[c] * (xr[c] - mean[c]) + kd[c]);
    }
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "batchnorm",
    .backend = "cpu",
    .impl = "direct",
    .summary = "batch normalization, per-channel sums in double over fixed "
               "parts",
    .nsettings = BN_NSETTINGS,
    .settings = batchnorm_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, bind},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
