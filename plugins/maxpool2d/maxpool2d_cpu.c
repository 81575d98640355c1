/* maxpool2d on the native CPU, NHWC: the inner loop runs over channels,
 * which are contiguous, so it vectorizes; the forward pass records each
 * maximum's input offset for the backward scatter. */
#include <stdlib.h>
#include <string.h>

#include "../common/cpu_common.h"
#include "maxpool2d_settings.h"

typedef struct {
    clnet_window g; /* input, pool, strides, output, padding */
    int32_t B;
    int32_t *arg; /* per output: offset of the max within its image */
} pool;

static void destroy(void *s) {
    pool *p = s;
    if (p)
        free(p->arg);
    free(p);
}

static int create(const clnet_create_args *a, clnet_layer_plan *plan,
                  void **state, char *err) {
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return cpu_errorf(err, "out of memory"), -1;
    p->B = a->max_batch;
    if (maxpool2d_window(a, &p->g, err)) {
        destroy(p);
        return -1;
    }
    p->arg =
        cpu_alloc(sizeof(int32_t) * (size_t)p->B * p->g.OH * p->g.OW * p->g.C);
    if (!p->arg) {
        destroy(p);
        return cpu_errorf(err, "out of memory"), -1;
    }
    *state = p;
    cpu_set_threads(a->threads);
    plan->out = (clnet_shape){p->g.OH, p->g.OW, p->g.C};
    plan->needs_input_grad = 1;
    plan->flops_forward =
        (double)p->g.OH * p->g.OW * p->g.C * p->g.KH * p->g.KW;
    return 0;
}

static int forward(void *s, const clnet_step *st, const void *xv, void *yv,
                   char *err) {
    (void)err;
    pool *p = s;
    const float *x = xv;
    float *y = yv;
    long rows = (long)st->batch * p->g.OH;
    size_t in_img = (size_t)p->g.H * p->g.W * p->g.C;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        int32_t b = (int32_t)(r / p->g.OH), oy = (int32_t)(r % p->g.OH);
        const float *xi = x + (size_t)b * in_img;
        for (int32_t ox = 0; ox < p->g.OW; ox++) {
            size_t o = ((size_t)r * p->g.OW + ox) * p->g.C;
            float *yo = y + o;
            int32_t *ao = p->arg + o;
            int first = 1;
            for (int32_t ky = 0; ky < p->g.KH; ky++) {
                int32_t iy = oy * p->g.SH - p->g.PT + ky;
                if (iy < 0 || iy >= p->g.H)
                    continue;
                for (int32_t kx = 0; kx < p->g.KW; kx++) {
                    int32_t ix = ox * p->g.SW - p->g.PL + kx;
                    if (ix < 0 || ix >= p->g.W)
                        continue;
                    int32_t off = (iy * p->g.W + ix) * p->g.C;
                    const float *xs = xi + off;
                    if (first) {
#pragma omp simd
                        for (int32_t c = 0; c < p->g.C; c++) {
                            yo[c] = xs[c];
                            ao[c] = off + c;
                        }
                        first = 0;
                        continue;
                    }
#pragma omp simd
                    for (int32_t c = 0; c < p->g.C; c++) {
                        int gt = xs[c] > yo[c];
                        yo[c] = gt ? xs[c] : yo[c];
                        ao[c] = gt ? off + c : ao[c];
                    }
                }
            }
        }
    }
    return 0;
}

static int backward(void *s, const clnet_step *st, const void *xv,
                    const void *yv, void *dyv, void *dxv, char *err) {
    (void)xv;
    (void)yv;
    (void)err;
    pool *p = s;
    if (!dxv)
        return 0;
    const float *dy = dyv;
    float *dx = dxv;
    size_t in_img = (size_t)p->g.H * p->g.W * p->g.C;
    size_t out_img = (size_t)p->g.OH * p->g.OW * p->g.C;
#pragma omp parallel for schedule(static)
    for (long b = 0; b < st->batch; b++) {
        float *di = dx + (size_t)b * in_img;
        memset(di, 0, sizeof(float) * in_img);
        const float *g = dy + (size_t)b * out_img;
        const int32_t *a = p->arg + (size_t)b * out_img;
        for (size_t o = 0; o < out_img; o++)
            di[a[o]] += g[o];
    }
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "maxpool2d",
    .backend = "cpu",
    .impl = "direct",
    .summary = "2-D max pooling over channel vectors",
    .nsettings = POOL_NSETTINGS,
    .settings = maxpool2d_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
