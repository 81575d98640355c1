/* maxpool2d on the native CPU, NHWC: 16 contiguous channels at a time in
 * vector registers; the forward pass records each maximum's input offset
 * for the backward pass. When windows do not overlap (the usual strides =
 * pool size) the backward pass writes each input value once; otherwise it
 * clears dx and adds each output gradient where its maximum came from.
 * Against the previous per-channel loop, the seed model's pool1 took
 * 1.40 ms forward and 1.73 backward instead of 1.66 and 2.42
 * (BENCHMARKS.md). */
#include <stdlib.h>
#include <string.h>

#include "../common/cpu_common.h"
#include "../common/vec16.h"
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

static int create(const clnet_create_args *a, void **state, char *err) {
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return cpu_errorf(err, "out of memory"), -1;
    p->B = a->max_batch;
    if (maxpool2d_window(a->settings, a->in[0], &p->g, err)) {
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
    return 0;
}

/* The valid part of output pixel (oy, ox)'s window: rows [y0, y1),
 * columns [x0, x1) of the input. */
typedef struct {
    int32_t y0, y1, x0, x1;
} span;

static span window_at(const clnet_window *g, int32_t oy, int32_t ox) {
    span s;
    s.y0 = oy * g->SH - g->PT;
    s.x0 = ox * g->SW - g->PL;
    s.y1 = s.y0 + g->KH < g->H ? s.y0 + g->KH : g->H;
    s.x1 = s.x0 + g->KW < g->W ? s.x0 + g->KW : g->W;
    s.y0 = s.y0 > 0 ? s.y0 : 0;
    s.x0 = s.x0 > 0 ? s.x0 : 0;
    return s;
}

/* The max and its offset for channels c0 .. c0+15 of one window, kept in
 * registers until the end: stores that only some lanes take (what the
 * compiler made of a max kept in memory) stall the loads after them. */
static inline void pool16(const clnet_window *g, const float *xi, span w,
                          int32_t c0, float *yo, int32_t *ao) {
    const i16v lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    int32_t off = (w.y0 * g->W + w.x0) * g->C + c0;
    v16 best = *(const v16 *)(xi + off);
    i16v arg = lane + off;
    for (int32_t iy = w.y0; iy < w.y1; iy++)
        for (int32_t ix = w.x0; ix < w.x1; ix++) {
            off = (iy * g->W + ix) * g->C + c0;
            v16 v = *(const v16 *)(xi + off);
            i16v gt = v > best; /* all ones where v wins */
            best = (v16)(((i16v)v & gt) | ((i16v)best & ~gt));
            arg = ((lane + off) & gt) | (arg & ~gt);
        }
    *(v16 *)(yo + c0) = best;
    *(i16v *)(ao + c0) = arg;
}

static void pool1(const clnet_window *g, const float *xi, span w, int32_t c,
                  float *yo, int32_t *ao) {
    int32_t off = (w.y0 * g->W + w.x0) * g->C + c, arg = off;
    float best = xi[off];
    for (int32_t iy = w.y0; iy < w.y1; iy++)
        for (int32_t ix = w.x0; ix < w.x1; ix++) {
            off = (iy * g->W + ix) * g->C + c;
            if (xi[off] > best) {
                best = xi[off];
                arg = off;
            }
        }
    yo[c] = best;
    ao[c] = arg;
}

static int forward(void *s, const clnet_step *st, const void *const *xs,
                   void *yv, char *err)
{
    const void *xv = xs[0];
    (void)err;
    pool *p = s;
    const clnet_window *g = &p->g;
    const float *x = xv;
    float *y = yv;
    long rows = (long)st->batch * g->OH;
    size_t in_img = (size_t)g->H * g->W * g->C;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        int32_t oy = (int32_t)(r % g->OH);
        const float *xi = x + (size_t)(r / g->OH) * in_img;
        for (int32_t ox = 0; ox < g->OW; ox++) {
            size_t o = ((size_t)r * g->OW + ox) * g->C;
            span w = window_at(g, oy, ox);
            int32_t c = 0;
            for (; c + 16 <= g->C; c += 16)
                pool16(g, xi, w, c, y + o, p->arg + o);
            for (; c < g->C; c++)
                pool1(g, xi, w, c, y + o, p->arg + o);
        }
    }
    return 0;
}

/* dx of one image when no two windows overlap (strides = pool size):
 * each input value is written once, dy where its window took it and 0
 * elsewhere, with no pass to clear dx first. (Stores that bypass the
 * cache made this 0.6 ms faster for the seed model's pool1 and conv1's
 * backward pass, which reads dx next, 0.4 ms slower.) */
static void unpool_tiled(const clnet_window *g, const float *dyi,
                         const int32_t *ai, float *di) {
    const int32_t C = g->C;
    /* The first window starts at or before row and column 0 (padding
     * comes before the input); rows from y1 and columns from x1 are left
     * over when the windows end before the input does. */
    int32_t y1 = window_at(g, g->OH - 1, 0).y1;
    int32_t x1 = window_at(g, 0, g->OW - 1).x1;
    for (int32_t iy = 0; iy < g->H; iy++) {
        float *row = di + (size_t)iy * g->W * C;
        int32_t from = iy < y1 ? x1 : 0;
        memset(row + (size_t)from * C, 0,
               sizeof(float) * (size_t)(g->W - from) * C);
    }
    for (int32_t oy = 0; oy < g->OH; oy++)
        for (int32_t ox = 0; ox < g->OW; ox++) {
            size_t o = ((size_t)oy * g->OW + ox) * C;
            span w = window_at(g, oy, ox);
            for (int32_t iy = w.y0; iy < w.y1; iy++)
                for (int32_t ix = w.x0; ix < w.x1; ix++) {
                    int32_t off = (iy * g->W + ix) * C;
#pragma omp simd
                    for (int32_t c = 0; c < C; c++)
                        di[off + c] = ai[o + c] == off + c ? dyi[o + c] : 0.0f;
                }
        }
}

static int backward(void *s, const clnet_step *st, const void *const *xs,
                    const void *yv, void *dyv, void *const *dxs,
                    char *err)
{
    const void *xv = xs[0];
    void *dxv = dxs[0];
    (void)xv;
    (void)yv;
    (void)err;
    pool *p = s;
    if (!dxv)
        return 0;
    const clnet_window *g = &p->g;
    const float *dy = dyv;
    float *dx = dxv;
    size_t in_img = (size_t)g->H * g->W * g->C;
    size_t out_img = (size_t)g->OH * g->OW * g->C;
    int tiled = g->SH == g->KH && g->SW == g->KW;
#pragma omp parallel for schedule(static)
    for (long b = 0; b < st->batch; b++) {
        float *di = dx + (size_t)b * in_img;
        const float *gi = dy + (size_t)b * out_img;
        const int32_t *a = p->arg + (size_t)b * out_img;
        if (tiled) {
            unpool_tiled(g, gi, a, di);
            continue;
        }
        memset(di, 0, sizeof(float) * in_img);
        for (size_t o = 0; o < out_img; o++)
            di[a[o]] += gi[o];
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
