/* dropout on OpenCL: the Philox mask of the CPU backend, computed on the
 * device (cl/philox.cl, cl/dropout.cl), so both draw the same mask. */
#include <stdlib.h>

#include "../opencl/ocl_common.h"
#include "dropout_cl.h"
#include "dropout_settings.h"

typedef struct {
    clnet_ocl *o;
    cl_program prog;
    ocl_kernel apply, copy;
    int32_t size;
    float rate, scale;
    cl_uint stream;
} dropout;

static void destroy(void *s)
{
    dropout *d = s;
    if (!d)
        return;
    ocl_release(d->prog, &d->apply, 2);
    free(d);
}

static int create(const clnet_create_args *a, void **state, char *err)
{
    static const char *const names[] = {"dropout_apply", "copy", NULL};
    dropout *d = calloc(1, sizeof *d);
    if (!d)
        return ocl_errorf(err, "out of memory"), -1;
    d->o = a->device;
    d->size = a->in[0].h * a->in[0].w * a->in[0].c;
    d->rate = (float)a->settings[DROPOUT_RATE].f;
    d->scale = 1.0f / (1.0f - d->rate);
    d->stream = (cl_uint)a->layer_index;
    if (ocl_program(d->o, dropout_cl, NULL, &d->prog, names, &d->apply, err)) {
        destroy(d);
        return -1;
    }
    *state = d;
    return 0;
}

static int run(dropout *d, const clnet_step *st, cl_mem x, cl_mem y, int mask,
               char *err)
{
    int n = d->size * st->batch;
    int bad;
    ocl_kernel *k = mask ? &d->apply : &d->copy;
    if (mask) {
        cl_ulong seed = st->seed, step = st->step;
        cl_uint first = (cl_uint)((uint64_t)st->sample_offset * d->size);
        bad = ocl_args(k, 9, OCL_ARG(x), OCL_ARG(y), OCL_ARG(n),
                       OCL_ARG(d->rate), OCL_ARG(d->scale), OCL_ARG(seed),
                       OCL_ARG(d->stream), OCL_ARG(step), OCL_ARG(first));
    } else {
        bad = ocl_args(k, 3, OCL_ARG(x), OCL_ARG(y), OCL_ARG(n));
    }
    if (bad)
        return ocl_errorf(err, "dropout: bad kernel arguments"), -1;
    return ocl_run1d(d->o, k, (size_t)n, err);
}

static int forward(void *s, const clnet_step *st, const void *const *xs,
                   void *y, char *err)
{
    const void *x = xs[0];
    dropout *d = s;
    return run(d, st, (cl_mem)x, (cl_mem)y, st->training && d->rate > 0, err);
}

static int backward(void *s, const clnet_step *st, const void *const *xs,
                    const void *y, void *dy, void *const *dxs, char *err)
{
    const void *x = xs[0];
    void *dx = dxs[0];
    (void)x;
    (void)y;
    dropout *d = s;
    if (!dx)
        return 0;
    return run(d, st, (cl_mem)dy, (cl_mem)dx, d->rate > 0, err);
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "dropout",
    .backend = "opencl",
    .impl = "philox",
    .summary = "inverted dropout, Philox counter-based mask",
    .nsettings = DROPOUT_NSETTINGS,
    .settings = dropout_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
