/* global_avgpool2d and global_maxpool2d on the native CPU (global_pool.h),
 * NHWC: a thread takes a sample and walks its positions in order, the C
 * channels of each a contiguous vector; the maximum records its position
 * per channel. Backward writes each dx value once (dy / positions, or dy
 * at the recorded position and 0 elsewhere), a thread per input row. */
#include <stdlib.h>

#include "../common/cpu_common.h"
#include "global_pool.h"

typedef struct {
    int32_t HW, C;
    int32_t *arg; /* maximum: per sample and channel, its position */
} pool;

static void destroy(void *s)
{
    pool *p = s;
    if (p)
        free(p->arg);
    free(p);
}

static int create(const clnet_create_args *a, void **state, char *err)
{
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return cpu_errorf(err, "out of memory"), -1;
    p->HW = a->in[0].h * a->in[0].w;
    p->C = a->in[0].c;
#if GLOBAL_POOL_MAX
    p->arg = cpu_alloc(sizeof(int32_t) * (size_t)a->max_batch * (size_t)p->C);
    if (!p->arg) {
        destroy(p);
        return cpu_errorf(err, "out of memory"), -1;
    }
#endif
    *state = p;
    cpu_set_threads(a->threads);
    return 0;
}

static int forward(void *s, const clnet_step *st, const void *const *xs,
                   void *yv, char *err)
{
    (void)err;
    pool *p = s;
    const int32_t HW = p->HW, C = p->C;
    const float *x = xs[0];
    float *y = yv;
#pragma omp parallel for schedule(static)
    for (long b = 0; b < st->batch; b++) {
        const float *xi = x + (size_t)b * HW * C;
        float *yo = y + (size_t)b * C;
#if GLOBAL_POOL_MAX
        int32_t *ao = p->arg + (size_t)b * C;
#pragma omp simd
        for (int32_t c = 0; c < C; c++) {
            yo[c] = xi[c];
            ao[c] = 0;
        }
        for (int32_t q = 1; q < HW; q++) {
            const float *xq = xi + (size_t)q * C;
#pragma omp simd
            for (int32_t c = 0; c < C; c++)
                if (xq[c] > yo[c]) {
                    yo[c] = xq[c];
                    ao[c] = q;
                }
        }
#else
#pragma omp simd
        for (int32_t c = 0; c < C; c++)
            yo[c] = 0.0f;
        for (int32_t q = 0; q < HW; q++) {
            const float *xq = xi + (size_t)q * C;
#pragma omp simd
            for (int32_t c = 0; c < C; c++)
                yo[c] += xq[c];
        }
        const float n = (float)HW;
#pragma omp simd
        for (int32_t c = 0; c < C; c++)
            yo[c] /= n;
#endif
    }
    return 0;
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
    const int32_t HW = p->HW, C = p->C;
    const float *dy = dyv;
    float *dx = dxs[0];
    long rows = (long)st->batch * HW;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        size_t b = (size_t)(r / HW);
        const float *g = dy + b * C;
        float *d = dx + (size_t)r * C;
#if GLOBAL_POOL_MAX
        const int32_t q = (int32_t)(r % HW), *a = p->arg + b * C;
#pragma omp simd
        for (int32_t c = 0; c < C; c++)
            d[c] = a[c] == q ? g[c] : 0.0f;
#else
        const float n = (float)HW;
#pragma omp simd
        for (int32_t c = 0; c < C; c++)
            d[c] = g[c] / n;
#endif
    }
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = GLOBAL_POOL_KIND,
    .backend = "cpu",
    .impl = "direct",
#if GLOBAL_POOL_MAX
    .summary = "maximum over positions, gradient to the first maximum",
#else
    .summary = "mean over positions",
#endif
    .nsettings = 0,
    .settings = NULL,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, NULL, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
