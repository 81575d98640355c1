/* relu and softmax as layers of their own on the native CPU. One source,
 * built twice: ACTIVATION_KIND names the plugin and ACTIVATION_ID picks the
 * function (see cpu_common.h). softmax runs over the last (channel) axis,
 * as Keras's Softmax does. */
#include <stdlib.h>
#include <string.h>

#include "../common/cpu_common.h"

#if !defined(ACTIVATION_KIND) || !defined(ACTIVATION_ID)
#error "build with -DACTIVATION_KIND=\"relu\" -DACTIVATION_ID=ACT_RELU"
#endif

typedef struct {
    size_t rows_per_sample, cols;
    int fused;
} activation;

static void destroy(void *s) { free(s); }

static int create(const clnet_create_args *a, void **state, char *err)
{
    activation *l = calloc(1, sizeof *l);
    if (!l)
        return cpu_errorf(err, "out of memory"), -1;
    l->rows_per_sample = (size_t)a->in[0].h * (size_t)a->in[0].w;
    l->cols = (size_t)a->in[0].c;
    l->fused = a->fuse_softmax_loss;
    *state = l;
    cpu_set_threads(a->threads);
    return 0;
}

static int forward(void *s, const clnet_step *st, const void *const *xs,
                   void *y, char *err)
{
    const void *x = xs[0];
    (void)err;
    activation *l = s;
    size_t rows = l->rows_per_sample * (size_t)st->batch;
    /* one pass, x to y; in place (plan.in_place) x is y */
    cpu_activation(x, y, rows, l->cols, ACTIVATION_ID,
                   act_default_alpha(ACTIVATION_ID));
    return 0;
}

static int backward(void *s, const clnet_step *st, const void *const *xs,
                    const void *y, void *dy, void *const *dxs, char *err)
{
    const void *x = xs[0];
    void *dx = dxs[0];
    (void)x;
    (void)err;
    activation *l = s;
    if (!dx)
        return 0;
    size_t rows = l->rows_per_sample * (size_t)st->batch;
    cpu_activation_backward(y, dy, rows, l->cols, ACTIVATION_ID, l->fused);
    memcpy(dx, dy, sizeof(float) * rows * l->cols);
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = ACTIVATION_KIND,
    .backend = "cpu",
    .impl = "direct",
    .summary = ACTIVATION_KIND " activation as a layer",
    .nsettings = 0,
    .settings = NULL,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
