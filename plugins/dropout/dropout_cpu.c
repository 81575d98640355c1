/* dropout on the native CPU: inverted dropout (kept values scaled by
 * 1/(1-rate)) in training, identity in inference. The mask comes from the
 * counter-based Philox generator keyed by (seed, layer, step, element), so
 * backward recomputes it instead of storing it, and every backend draws
 * the same mask. */
#include <stdlib.h>
#include <string.h>

#include "../common/cpu_common.h"
#include "clnet/philox.h"
#include "dropout_settings.h"


typedef struct {
    size_t size;
    float rate, scale;
    uint32_t stream;
} dropout;

static void destroy(void *s) { free(s); }

static int create(const clnet_create_args *a, void **state, char *err)
{
    dropout *d = calloc(1, sizeof *d);
    if (!d)
        return cpu_errorf(err, "out of memory"), -1;
    d->size = (size_t)a->in[0].h * a->in[0].w * a->in[0].c;
    d->rate = (float)a->settings[DROPOUT_RATE].f;
    d->scale = 1.0f / (1.0f - d->rate);
    d->stream = (uint32_t)a->layer_index;
    *state = d;
    cpu_set_threads(a->threads);
    return 0;
}

/* y = x * mask * scale; also the backward pass with x = dy, y = dx. */
static void apply(const dropout *d, const clnet_step *st, const float *x,
                  float *y)
{
    long n = (long)(d->size * (size_t)st->batch);
    /* the element's index in the step's whole batch */
    uint32_t first = (uint32_t)((uint64_t)st->sample_offset * d->size);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) {
        float u = clnet_philox_uniform(st->seed, d->stream, st->step,
                                       first + (uint32_t)i);
        y[i] = u >= d->rate ? x[i] * d->scale : 0.0f;
    }
}

static int forward(void *s, const clnet_step *st, const void *const *xs,
                   void *y, char *err)
{
    const void *x = xs[0];
    (void)err;
    dropout *d = s;
    if (!st->training || d->rate == 0.0f)
        memcpy(y, x, sizeof(float) * d->size * (size_t)st->batch);
    else
        apply(d, st, x, y);
    return 0;
}

static int backward(void *s, const clnet_step *st, const void *const *xs,
                    const void *y, void *dy, void *const *dxs, char *err)
{
    const void *x = xs[0];
    void *dx = dxs[0];
    (void)x;
    (void)y;
    (void)err;
    dropout *d = s;
    if (!dx)
        return 0;
    if (d->rate == 0.0f)
        memcpy(dx, dy, sizeof(float) * d->size * (size_t)st->batch);
    else
        apply(d, st, dy, dx);
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "dropout",
    .backend = "cpu",
    .impl = "philox",
    .summary = "inverted dropout, Philox counter-based mask",
    .nsettings = DROPOUT_NSETTINGS,
    .settings = dropout_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
