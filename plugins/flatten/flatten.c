/* flatten, for every backend (FLATTEN_BACKEND names it). NHWC data is
 * already in Keras's flattened order, so the layer only changes the shape:
 * it aliases its input buffer, runs where its input lives, and the core
 * calls neither forward nor backward. */
#include "clnet/plugin.h"

#ifndef FLATTEN_BACKEND
#error "build with -DFLATTEN_BACKEND=\"cpu\""
#endif

static int create(const clnet_create_args *a, clnet_layer_plan *plan,
                  void **state, char *err)
{
    (void)err;
    static int token;
    *state = &token;
    plan->out = (clnet_shape){1, 1, a->in.h * a->in.w * a->in.c};
    plan->alias_input = 1;
    plan->needs_input_grad = 1;
    return 0;
}

static void destroy(void *s) { (void)s; }

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "flatten",
    .backend = FLATTEN_BACKEND,
    .impl = "alias",
    .summary = "reshape to one dimension (no copy)",
    .nsettings = 0,
    .settings = NULL,
    .create = create,
    .destroy = destroy,
    .layer = {NULL, NULL, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
