/* maxpool2d on OpenCL: cl/maxpool2d.cl, argmax recorded in the forward
 * pass and gathered in the backward pass. */
#include <stdlib.h>

#include "../opencl/ocl_common.h"
#include "maxpool2d_cl.h"
#include "maxpool2d_settings.h"

typedef struct {
    ocl_kernel fwd, bwd;
} kernels;
static const char *const names[] = {"maxpool_forward", "maxpool_backward",
                                    NULL};

typedef struct {
    clnet_ocl *o;
    cl_program prog;
    kernels k;
    clnet_window g; /* input, pool, strides, output, padding */
    cl_mem arg;
} pool;

static void destroy(void *s) {
    pool *p = s;
    if (!p)
        return;
    if (p->arg)
        clReleaseMemObject(p->arg);
    ocl_release(p->prog, (ocl_kernel *)&p->k, 2);
    free(p);
}

static int create(const clnet_create_args *a, void **state, char *err) {
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return ocl_errorf(err, "out of memory"), -1;
    p->o = a->device;
    if (maxpool2d_window(a->settings, a->in[0], &p->g, err)) {
        destroy(p);
        return -1;
    }
    size_t outs = (size_t)a->max_batch * p->g.OH * p->g.OW * p->g.C;
    size_t ins = (size_t)a->max_batch * p->g.H * p->g.W * p->g.C;
    if (outs > OCL_MAX_INT_ELEMENTS || ins > OCL_MAX_INT_ELEMENTS) {
        ocl_errorf(err, "this layer's tensors are too large for 32-bit "
                        "indices; use a smaller batch");
        destroy(p);
        return -1;
    }
    if (ocl_program(p->o, maxpool2d_cl, NULL, &p->prog, names,
                    (ocl_kernel *)&p->k, err) ||
        !(p->arg = ocl_buffer(p->o, outs * sizeof(cl_int), err))) {
        destroy(p);
        return -1;
    }
    *state = p;
    return 0;
}

static int launch(pool *p, ocl_kernel *k, cl_mem a, cl_mem b, cl_mem c,
                  int32_t n, size_t items, char *err) {
    if (ocl_args(k, 4, OCL_ARG(a), OCL_ARG(b), OCL_ARG(c), OCL_ARG(n)) ||
        ocl_window_args(k, 4, &p->g))
        return ocl_errorf(err, "maxpool: bad kernel arguments"), -1;
    return ocl_run1d(p->o, k, items, err);
}

static int forward(void *s, const clnet_step *st, const void *const *xs,
                   void *y, char *err)
{
    const void *x = xs[0];
    pool *p = s;
    return launch(p, &p->k.fwd, (cl_mem)x, (cl_mem)y, p->arg, st->batch,
                  (size_t)st->batch * p->g.OH * p->g.OW, err);
}

static int backward(void *s, const clnet_step *st, const void *const *xs,
                    const void *y, void *dy, void *const *dxs,
                    char *err)
{
    const void *x = xs[0];
    void *dx = dxs[0];
    (void)x;
    (void)y;
    pool *p = s;
    if (!dx)
        return 0;
    return launch(p, &p->k.bwd, (cl_mem)dy, p->arg, (cl_mem)dx, st->batch,
                  (size_t)st->batch * p->g.H * p->g.W, err);
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "maxpool2d",
    .backend = "opencl",
    .impl = "direct",
    .summary = "2-D max pooling, gather backward (no atomics)",
    .nsettings = POOL_NSETTINGS,
    .settings = maxpool2d_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
