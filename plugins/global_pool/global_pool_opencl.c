/* global_avgpool2d and global_maxpool2d on OpenCL (global_pool.h):
 * cl/global_pool.cl, a work-item per sample and channel forward (adjacent
 * work-items read adjacent channels), per input value backward. */
#include <stdlib.h>

#include "../opencl/ocl_common.h"
#include "global_pool.h"
#include "global_pool_cl.h"

typedef struct {
    ocl_kernel fwd, bwd;
} kernels;
#if GLOBAL_POOL_MAX
static const char *const names[] = {"global_max_forward",
                                    "global_max_backward", NULL};
#else
static const char *const names[] = {"global_avg_forward",
                                    "global_avg_backward", NULL};
#endif

typedef struct {
    clnet_ocl *o;
    cl_program prog;
    kernels k;
    int32_t HW, C;
    cl_mem arg; /* maximum: per sample and channel, its position */
} pool;

static void destroy(void *s)
{
    pool *p = s;
    if (!p)
        return;
    if (p->arg)
        clReleaseMemObject(p->arg);
    ocl_release(p->prog, (ocl_kernel *)&p->k, 2);
    free(p);
}

static int create(const clnet_create_args *a, void **state, char *err)
{
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return ocl_errorf(err, "out of memory"), -1;
    p->o = a->device;
    p->HW = a->in[0].h * a->in[0].w;
    p->C = a->in[0].c;
    if (ocl_program(p->o, global_pool_cl, NULL, &p->prog, names,
                    (ocl_kernel *)&p->k, err) ||
        (GLOBAL_POOL_MAX &&
         !(p->arg = ocl_buffer(p->o,
                               sizeof(cl_int) * (size_t)a->max_batch * p->C,
                               err)))) {
        destroy(p);
        return -1;
    }
    *state = p;
    return 0;
}

static int forward(void *s, const clnet_step *st, const void *const *x,
                   void *y, char *err)
{
    pool *p = s;
    ocl_kernel *k = &p->k.fwd;
    cl_mem in = (cl_mem)x[0], out = (cl_mem)y;
    int32_t n = st->batch;
    int bad = ocl_args(k, 5, OCL_ARG(in), OCL_ARG(out), OCL_ARG(n),
                       OCL_ARG(p->HW), OCL_ARG(p->C));
#if GLOBAL_POOL_MAX
    bad = bad || clSetKernelArg(k->k, 5, sizeof p->arg, &p->arg) != CL_SUCCESS;
#endif
    if (bad)
        return ocl_errorf(err, GLOBAL_POOL_KIND ": bad kernel arguments"), -1;
    return ocl_run1d(p->o, k, (size_t)n * p->C, err);
}

static int backward(void *s, const clnet_step *st, const void *const *x,
                    const void *y, void *dy, void *const *dx, char *err)
{
    (void)x;
    (void)y;
    pool *p = s;
    if (!dx[0])
        return 0;
    ocl_kernel *k = &p->k.bwd;
    cl_mem g = (cl_mem)dy, d = (cl_mem)dx[0];
    int32_t n = st->batch;
    int bad = ocl_args(k, 5, OCL_ARG(g), OCL_ARG(d), OCL_ARG(n),
                       OCL_ARG(p->HW), OCL_ARG(p->C));
#if GLOBAL_POOL_MAX
    bad = bad || clSetKernelArg(k->k, 5, sizeof p->arg, &p->arg) != CL_SUCCESS;
#endif
    if (bad)
        return ocl_errorf(err, GLOBAL_POOL_KIND ": bad kernel arguments"), -1;
    return ocl_run1d(p->o, k, (size_t)n * p->HW * p->C, err);
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = GLOBAL_POOL_KIND,
    .backend = "opencl",
    .impl = "direct",
#if GLOBAL_POOL_MAX
    .summary = "maximum over positions, gradient to the first maximum",
#else
    .summary = "mean over positions",
#endif
    .nsettings = 0,
    .settings = NULL,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, NULL, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
