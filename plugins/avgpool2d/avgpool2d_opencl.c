/* avgpool2d on OpenCL: cl/avgpool2d.cl, a work-item per output pixel
 * forward and per input pixel backward (gather, no atomics). */
#include <stdlib.h>

#include "../opencl/ocl_common.h"
#include "avgpool2d_cl.h"
#include "avgpool2d_settings.h"

typedef struct {
    ocl_kernel fwd, bwd;
} kernels;
static const char *const names[] = {"avgpool_forward", "avgpool_backward",
                                    NULL};

typedef struct {
    clnet_ocl *o;
    cl_program prog;
    kernels k;
    clnet_window g; /* input, pool, strides, output, padding */
} pool;

static void destroy(void *s)
{
    pool *p = s;
    if (!p)
        return;
    ocl_release(p->prog, (ocl_kernel *)&p->k, 2);
    free(p);
}

static int create(const clnet_create_args *a, void **state, char *err)
{
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return ocl_errorf(err, "out of memory"), -1;
    p->o = a->device;
    if (avgpool2d_window(a->settings, a->in[0], &p->g, err) ||
        ocl_program(p->o, avgpool2d_cl, NULL, &p->prog, names,
                    (ocl_kernel *)&p->k, err)) {
        destroy(p);
        return -1;
    }
    *state = p;
    return 0;
}

static int launch(pool *p, ocl_kernel *k, cl_mem a, cl_mem b, int32_t n,
                  size_t items, char *err)
{
    if (ocl_args(k, 3, OCL_ARG(a), OCL_ARG(b), OCL_ARG(n)) ||
        ocl_window_args(k, 3, &p->g))
        return ocl_errorf(err, "avgpool2d: bad kernel arguments"), -1;
    return ocl_run1d(p->o, k, items, err);
}

static int forward(void *s, const clnet_step *st, const void *const *x,
                   void *y, char *err)
{
    pool *p = s;
    return launch(p, &p->k.fwd, (cl_mem)x[0], (cl_mem)y, st->batch,
                  (size_t)st->batch * p->g.OH * p->g.OW, err);
}

static int backward(void *s, const clnet_step *st, const void *const *x,
                    const void *y, void *dy, void *const *dx, char *err)
{
    (void)x;
    (void)y;
    pool *p = s;
    if (!dx[0])
        return 0;
    return launch(p, &p->k.bwd, (cl_mem)dy, (cl_mem)dx[0], st->batch,
                  (size_t)st->batch * p->g.H * p->g.W, err);
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "avgpool2d",
    .backend = "opencl",
    .impl = "direct",
    .summary = "2-D average pooling, gather backward (no atomics)",
    .nsettings = AVGPOOL_NSETTINGS,
    .settings = avgpool2d_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, NULL, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
