/* maxpool2d on the native CPU, NHWC: the inner loop runs over channels,
 * which are contiguous, so it vectorizes; the forward pass records each
 * maximum's input offset for the backward scatter. */
#include <stdlib.h>
#include <string.h>

#include "../common/cpu_common.h"
#include "maxpool2d_settings.h"

typedef struct {
    int32_t B, H, W, C, PH, PW, SH, SW, OH, OW, PT, PL;
    int32_t *arg; /* per output: offset of the max within its image */
} pool;

static void destroy(void *s)
{
    pool *p = s;
    if (p)
        free(p->arg);
    free(p);
}

static int create(const clnet_create_args *a, clnet_layer_plan *plan,
                  void **state, char *err)
{
    const clnet_value *v = a->settings;
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return cpu_errorf(err, "out of memory"), -1;
    p->B = a->max_batch;
    p->H = a->in.h;
    p->W = a->in.w;
    p->C = a->in.c;
    p->PH = v[POOL_POOL].i[0];
    p->PW = v[POOL_POOL].i[1];
    p->SH = v[POOL_STRIDES].i[0] ? v[POOL_STRIDES].i[0] : p->PH;
    p->SW = v[POOL_STRIDES].i[1] ? v[POOL_STRIDES].i[1] : p->PW;
    int same = v[POOL_PADDING].i[0] == 1;
    if (!same && (p->PH > p->H || p->PW > p->W)) {
        cpu_errorf(err, "pool %dx%d is larger than its %dx%dx%d input", p->PH,
                   p->PW, p->H, p->W, p->C);
        destroy(p);
        return -1;
    }
    p->OH = cpu_out_size(p->H, p->PH, p->SH, same);
    p->OW = cpu_out_size(p->W, p->PW, p->SW, same);
    p->PT = same ? cpu_pad_before(p->H, p->OH, p->PH, p->SH) : 0;
    p->PL = same ? cpu_pad_before(p->W, p->OW, p->PW, p->SW) : 0;
    p->arg = cpu_alloc(sizeof(int32_t) * (size_t)p->B * p->OH * p->OW * p->C);
    if (!p->arg) {
        destroy(p);
        return cpu_errorf(err, "out of memory"), -1;
    }
    *state = p;
    cpu_set_threads(a->threads);
    plan->out = (clnet_shape){p->OH, p->OW, p->C};
    plan->needs_input_grad = 1;
    plan->flops_forward = (double)p->OH * p->OW * p->C * p->PH * p->PW;
    return 0;
}

static int forward(void *s, const clnet_step *st, const void *xv, void *yv,
                   char *err)
{
    (void)err;
    pool *p = s;
    const float *x = xv;
    float *y = yv;
    long rows = (long)st->batch * p->OH;
    size_t in_img = (size_t)p->H * p->W * p->C;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        int32_t b = (int32_t)(r / p->OH), oy = (int32_t)(r % p->OH);
        const float *xi = x + (size_t)b * in_img;
        for (int32_t ox = 0; ox < p->OW; ox++) {
            size_t o = ((size_t)r * p->OW + ox) * p->C;
            float *yo = y + o;
            int32_t *ao = p->arg + o;
            int first = 1;
            for (int32_t ky = 0; ky < p->PH; ky++) {
                int32_t iy = oy * p->SH - p->PT + ky;
                if (iy < 0 || iy >= p->H)
                    continue;
                for (int32_t kx = 0; kx < p->PW; kx++) {
                    int32_t ix = ox * p->SW - p->PL + kx;
                    if (ix < 0 || ix >= p->W)
                        continue;
                    int32_t off = (iy * p->W + ix) * p->C;
                    const float *xs = xi + off;
                    if (first) {
#pragma omp simd
                        for (int32_t c = 0; c < p->C; c++) {
                            yo[c] = xs[c];
                            ao[c] = off + c;
                        }
                        first = 0;
                        continue;
                    }
#pragma omp simd
                    for (int32_t c = 0; c < p->C; c++) {
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
                    const void *yv, void *dyv, void *dxv, char *err)
{
    (void)xv;
    (void)yv;
    (void)err;
    pool *p = s;
    if (!dxv)
        return 0;
    const float *dy = dyv;
    float *dx = dxv;
    size_t in_img = (size_t)p->H * p->W * p->C;
    size_t out_img = (size_t)p->OH * p->OW * p->C;
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
