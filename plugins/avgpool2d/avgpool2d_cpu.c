/* avgpool2d on the native CPU, NHWC: each output pixel sums its window's
 * channel vectors row by row and divides by the number of values inside
 * the input (avgpool2d_taps). The backward pass gathers: a thread takes
 * an input row and adds, for each pixel, dy / taps of every output whose
 * window covers it, so it writes each dx value once, needs no clearing
 * pass and no atomics, and overlapping windows need no special case. */
#include <stdlib.h>

#include "../common/cpu_common.h"
#include "avgpool2d_settings.h"

typedef struct {
    clnet_window g;     /* input, pool, strides, output, padding */
    int32_t *rows_in;   /* per output row: window rows inside the input */
    int32_t *cols_in;   /* per output column: window columns inside it */
} pool;

static void destroy(void *s)
{
    pool *p = s;
    if (p) {
        free(p->rows_in);
        free(p->cols_in);
    }
    free(p);
}

static int create(const clnet_create_args *a, void **state, char *err)
{
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return cpu_errorf(err, "out of memory"), -1;
    if (avgpool2d_window(a->settings, a->in[0], &p->g, err)) {
        destroy(p);
        return -1;
    }
    const clnet_window *g = &p->g;
    p->rows_in = malloc(sizeof(int32_t) * (size_t)g->OH);
    p->cols_in = malloc(sizeof(int32_t) * (size_t)g->OW);
    if (!p->rows_in || !p->cols_in) {
        destroy(p);
        return cpu_errorf(err, "out of memory"), -1;
    }
    for (int32_t o = 0; o < g->OH; o++)
        p->rows_in[o] = avgpool2d_taps(o, g->KH, g->SH, g->PT, g->H);
    for (int32_t o = 0; o < g->OW; o++)
        p->cols_in[o] = avgpool2d_taps(o, g->KW, g->SW, g->PL, g->W);
    *state = p;
    cpu_set_threads(a->threads);
    return 0;
}

static int32_t max32(int32_t a, int32_t b) { return a > b ? a : b; }
static int32_t min32(int32_t a, int32_t b) { return a < b ? a : b; }

static int forward(void *s, const clnet_step *st, const void *const *xs,
                   void *yv, char *err)
{
    (void)err;
    pool *p = s;
    const clnet_window *g = &p->g;
    const float *x = xs[0];
    float *y = yv;
    const int32_t C = g->C;
    long rows = (long)st->batch * g->OH;
    size_t in_img = (size_t)g->H * g->W * C;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        int32_t oy = (int32_t)(r % g->OH);
        const float *xi = x + (size_t)(r / g->OH) * in_img;
        int32_t y0 = max32(oy * g->SH - g->PT, 0);
        int32_t y1 = min32(oy * g->SH - g->PT + g->KH, g->H);
        for (int32_t ox = 0; ox < g->OW; ox++) {
            float *yo = y + ((size_t)r * g->OW + ox) * C;
            int32_t x0 = max32(ox * g->SW - g->PL, 0);
            int32_t x1 = min32(ox * g->SW - g->PL + g->KW, g->W);
#pragma omp simd
            for (int32_t c = 0; c < C; c++)
                yo[c] = 0.0f;
            for (int32_t iy = y0; iy < y1; iy++)
                for (int32_t ix = x0; ix < x1; ix++) {
                    const float *xp = xi + ((size_t)iy * g->W + ix) * C;
#pragma omp simd
                    for (int32_t c = 0; c < C; c++)
                        yo[c] += xp[c];
                }
            float n = (float)(p->rows_in[oy] * p->cols_in[ox]);
            if (n > 0.0f) {
#pragma omp simd
                for (int32_t c = 0; c < C; c++)
                    yo[c] /= n;
            }
        }
    }
    return 0;
}

/* The outputs whose window (size k, stride s, padding p, n outputs) covers
 * input i along one axis: [*lo, *hi], empty when *lo > *hi (cl/window.cl's
 * covering). */
static void covering(int32_t i, int32_t k, int32_t s, int32_t p, int32_t n,
                     int32_t *lo, int32_t *hi)
{
    int32_t t = i + p;
    *lo = t - k + 1 <= 0 ? 0 : (t - k + s) / s;
    *hi = min32(t / s, n - 1);
}

static int backward(void *s, const clnet_step *st, const void *const *xs,
                    const void *yv, void *dyv, void *const *dxs, char *err)
{
    (void)xs;
    (void)yv;
    (void)err;
    pool *p = s;
    if (!dxs[0])
        return 0;
    const clnet_window *g = &p->g;
    const float *dy = dyv;
    float *dx = dxs[0];
    const int32_t C = g->C;
    long rows = (long)st->batch * g->H;
    size_t out_img = (size_t)g->OH * g->OW * C;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        int32_t iy = (int32_t)(r % g->H), oy0, oy1;
        const float *gi = dy + (size_t)(r / g->H) * out_img;
        covering(iy, g->KH, g->SH, g->PT, g->OH, &oy0, &oy1);
        for (int32_t ix = 0; ix < g->W; ix++) {
            float *d = dx + ((size_t)r * g->W + ix) * C;
            int32_t ox0, ox1;
            covering(ix, g->KW, g->SW, g->PL, g->OW, &ox0, &ox1);
#pragma omp simd
            for (int32_t c = 0; c < C; c++)
                d[c] = 0.0f;
            for (int32_t oy = oy0; oy <= oy1; oy++)
                for (int32_t ox = ox0; ox <= ox1; ox++) {
                    const float *go = gi + ((size_t)oy * g->OW + ox) * C;
                    float n = (float)(p->rows_in[oy] * p->cols_in[ox]);
#pragma omp simd
                    for (int32_t c = 0; c < C; c++)
                        d[c] += go[c] / n;
                }
        }
    }
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "avgpool2d",
    .backend = "cpu",
    .impl = "direct",
    .summary = "2-D average pooling over channel vectors, gather backward",
    .nsettings = AVGPOOL_NSETTINGS,
    .settings = avgpool2d_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, NULL, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
