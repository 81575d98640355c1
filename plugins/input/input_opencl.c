/* input on OpenCL: the batch arrives as bytes (a quarter of the transfer
 * of floats) and is scaled on the device. */
#include <stdlib.h>

#include "../opencl/ocl_common.h"
#include "input_cl.h"
#include "input_settings.h"

typedef struct {
    clnet_ocl *o;
    cl_program prog;
    ocl_kernel k;
    int32_t size, C;
    cl_float4 a, b; /* y = x a[c] + b[c] (input_settings.h) */
} input;

static void destroy(void *s)
{
    input *l = s;
    if (!l)
        return;
    ocl_release(l->prog, &l->k, 1);
    free(l);
}

static int create(const clnet_create_args *a, void **state, char *err)
{
    static const char *const names[] = {"bytes_to_float", NULL};
    input *l = calloc(1, sizeof *l);
    if (!l)
        return ocl_errorf(err, "out of memory"), -1;
    l->o = a->device;
    const int32_t *s = a->settings[INPUT_SHAPE].i;
    l->size = s[0] * s[1] * s[2];
    l->C = s[2] <= CLNET_MAX_FLOATS ? s[2] : 1; /* more: one value for all */
    float fa[CLNET_MAX_FLOATS] = {0}, fb[CLNET_MAX_FLOATS] = {0};
    input_affine(a->settings, l->C, fa, fb);
    for (int c = 0; c < CLNET_MAX_FLOATS; c++) {
        l->a.s[c] = fa[c];
        l->b.s[c] = fb[c];
    }
    if (ocl_program(l->o, input_cl, NULL, &l->prog, names, &l->k, err)) {
        destroy(l);
        return -1;
    }
    *state = l;
    return 0;
}

static int forward(void *s, const clnet_step *st, const void *const *xs,
                   void *y, char *err)
{
    const void *x = xs[0];
    input *l = s;
    int n = l->size * st->batch;
    cl_mem xm = (cl_mem)x, ym = (cl_mem)y;
    if (ocl_args(&l->k, 6, OCL_ARG(xm), OCL_ARG(ym), OCL_ARG(l->a),
                 OCL_ARG(l->b), OCL_ARG(l->C), OCL_ARG(n)))
        return ocl_errorf(err, "input: bad kernel arguments"), -1;
    return ocl_run1d(l->o, &l->k, (size_t)n, err);
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
    .backend = "opencl",
    .impl = "bytes-to-float",
    .summary = "network input: pixel bytes scaled to floats on the device",
    .nsettings = INPUT_NSETTINGS,
    .settings = input_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
