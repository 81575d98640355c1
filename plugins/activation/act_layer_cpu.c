/* The activation layers of act_settings.h on the native CPU:
 * ../common/cpu_common.c's cpu_activation forward, cpu_activation_grad
 * backward from the layer's input and output. */
#include <stdlib.h>

#include "../common/cpu_common.h"
#include "act_settings.h"

typedef struct {
    size_t per_sample;
    int act;
    float alpha;
} layer;

static void destroy(void *s) { free(s); }

static int create(const clnet_create_args *a, void **state, char *err)
{
    layer *l = calloc(1, sizeof *l);
    if (!l)
        return cpu_errorf(err, "out of memory"), -1;
    l->per_sample =
        (size_t)a->in[0].h * (size_t)a->in[0].w * (size_t)a->in[0].c;
    act_layer_params(a->settings, &l->act, &l->alpha);
    *state = l;
    cpu_set_threads(a->threads);
    return 0;
}

static int forward(void *s, const clnet_step *st, const void *const *x,
                   void *y, char *err)
{
    (void)err;
    layer *l = s;
    cpu_activation(x[0], y, (size_t)st->batch, l->per_sample, l->act,
                   l->alpha);
    return 0;
}

static int backward(void *s, const clnet_step *st, const void *const *x,
                    const void *y, void *dy, void *const *dx, char *err)
{
    (void)err;
    layer *l = s;
    if (!dx[0])
        return 0;
    cpu_activation_grad(x[0], y, dy, dx[0], (size_t)st->batch, l->per_sample,
                        l->act, l->alpha, 0);
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = ACT_LAYER_KIND,
    .backend = "cpu",
    .impl = "elementwise",
    .summary = ACT_LAYER_SUMMARY,
    .nsettings = ACT_NSETTINGS,
    .settings = ACT_SETTINGS,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, NULL, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
