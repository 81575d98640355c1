/* input on the native CPU: turns a batch of raw pixel bytes into floats,
 * scaled (by 1/255 unless `scale=` says otherwise), less `mean=` over
 * `std=` per channel. Keeping the data set as
 * bytes until here saves three quarters of its memory and, on devices,
 * of the transfer. */
#include <stdlib.h>

#include "../common/cpu_common.h"
#include "input_settings.h"


typedef struct {
    size_t size;
    int32_t C;       /* channels, when a[] and b[] differ across them */
    float a[CLNET_MAX_FLOATS], b[CLNET_MAX_FLOATS];
} input;

static void destroy(void *s) { free(s); }

static int create(const clnet_create_args *a, void **state, char *err)
{
    input *l = calloc(1, sizeof *l);
    if (!l)
        return cpu_errorf(err, "out of memory"), -1;
    const int32_t *s = a->settings[INPUT_SHAPE].i;
    l->size = (size_t)s[0] * s[1] * s[2];
    int32_t C = s[2] < CLNET_MAX_FLOATS ? s[2] : CLNET_MAX_FLOATS;
    input_affine(a->settings, C, l->a, l->b);
    l->C = 1;
    for (int32_t c = 1; c < C; c++)
        if (l->a[c] != l->a[0] || l->b[c] != l->b[0])
            l->C = s[2];
    *state = l;
    cpu_set_threads(a->threads);
    return 0;
}

static int forward(void *s, const clnet_step *st, const void *const *xs,
                   void *yv, char *err)
{
    const void *xv = xs[0];
    (void)err;
    input *l = s;
    const uint8_t *x = xv;
    float *y = yv;
    long n = (long)(l->size * (size_t)st->batch);
    if (l->C == 1) {
        const float a0 = l->a[0], b0 = l->b[0];
#pragma omp parallel for simd schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++)
            y[i] = (float)x[i] * a0 + b0;
        return 0;
    }
    long px = n / l->C;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long p = 0; p < px; p++)
        for (int32_t c = 0; c < l->C; c++)
            y[p * l->C + c] = (float)x[p * l->C + c] * l->a[c] + l->b[c];
    return 0;
}

/* Nothing comes before the input, so there is nothing to send back. */
static int backward(void *s, const clnet_step *st, const void *const *xs,
                    const void *y, void *dy, void *const *dxs, char *err)
{
    const void *x = xs[0];
    void *dx = dxs[0];
    (void)s, (void)st, (void)x, (void)y, (void)dy, (void)dx, (void)err;
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "input",
    .backend = "cpu",
    .impl = "bytes-to-float",
    .summary = "network input: pixel bytes scaled to floats",
    .nsettings = INPUT_NSETTINGS,
    .settings = input_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
