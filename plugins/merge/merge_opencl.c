/* add and concat on OpenCL (cl/merge.cl); one source built twice, as
 * merge_cpu.c is (MERGE_ADD picks add). */
#include <stdlib.h>

#include "../opencl/ocl_common.h"
#include "merge_cl.h"

typedef struct {
    ocl_kernel add, add_into, copy, slice;
} kernels;

typedef struct {
    clnet_ocl *o;
    cl_program prog;
    kernels k;
    int32_t n, rows, c[CLNET_MAX_INPUTS], cout;
} merge;

static void destroy(void *s)
{
    merge *m = s;
    if (!m)
        return;
    ocl_release(m->prog, (ocl_kernel *)&m->k, sizeof m->k / sizeof(ocl_kernel));
    free(m);
}

static int create(const clnet_create_args *a, void **state, char *err)
{
    static const char *const names[] = {"merge_add", "merge_add_into",
                                        "merge_copy", "concat_slice", NULL};
    merge *m = calloc(1, sizeof *m);
    if (!m)
        return ocl_errorf(err, "out of memory"), -1;
    m->o = a->device;
    m->n = a->ninputs;
    m->rows = a->in[0].h * a->in[0].w;
    for (int k = 0; k < m->n; k++)
        m->c[k] = a->in[k].c;
    m->cout = a->plan->out.c;
    if (ocl_program(m->o, merge_cl, NULL, &m->prog, names,
                    (ocl_kernel *)&m->k, err)) {
        destroy(m);
        return -1;
    }
    *state = m;
    return 0;
}

#ifdef MERGE_ADD
static int forward(void *s, const clnet_step *st, const void *const *x,
                   void *yv, char *err)
{
    merge *m = s;
    cl_mem y = yv, x0 = (cl_mem)x[0], x1 = (cl_mem)x[1];
    int n = m->rows * m->cout * st->batch;
    if (ocl_args(&m->k.add, 4, OCL_ARG(x0), OCL_ARG(x1), OCL_ARG(y),
                 OCL_ARG(n)) ||
        ocl_run1d(m->o, &m->k.add, (size_t)n, err))
        return -1;
    for (int k = 2; k < m->n; k++) {
        cl_mem xk = (cl_mem)x[k];
        if (ocl_args(&m->k.add_into, 3, OCL_ARG(y), OCL_ARG(xk), OCL_ARG(n)) ||
            ocl_run1d(m->o, &m->k.add_into, (size_t)n, err))
            return -1;
    }
    return 0;
}

static int backward(void *s, const clnet_step *st, const void *const *x,
                    const void *y, void *dyv, void *const *dx, char *err)
{
    (void)x;
    (void)y;
    merge *m = s;
    cl_mem dy = dyv;
    int n = m->rows * m->cout * st->batch;
    for (int k = 0; k < m->n; k++) {
        cl_mem d = dx[k];
        if (d && (ocl_args(&m->k.copy, 3, OCL_ARG(dy), OCL_ARG(d), OCL_ARG(n)) ||
                  ocl_run1d(m->o, &m->k.copy, (size_t)n, err)))
            return -1;
    }
    return 0;
}
#else
/* Each input's channels to (or, with to_input, from) their slice of y. */
static int slices(merge *m, const clnet_step *st, cl_mem y,
                  void *const *inputs, int to_input, char *err)
{
    int rows = m->rows * st->batch, off = 0;
    for (int k = 0; k < m->n; k++) {
        cl_mem xk = inputs[k];
        if (xk && (ocl_args(&m->k.slice, 7, OCL_ARG(y), OCL_ARG(xk),
                            OCL_ARG(rows), OCL_ARG(m->cout), OCL_ARG(m->c[k]),
                            OCL_ARG(off), OCL_ARG(to_input)) ||
                   ocl_run1d(m->o, &m->k.slice, (size_t)rows * m->c[k], err)))
            return -1;
        off += m->c[k];
    }
    return 0;
}

static int forward(void *s, const clnet_step *st, const void *const *x,
                   void *y, char *err)
{
    void *in[CLNET_MAX_INPUTS];
    merge *m = s;
    for (int k = 0; k < m->n; k++)
        in[k] = (void *)x[k];
    return slices(m, st, y, in, 0, err);
}

static int backward(void *s, const clnet_step *st, const void *const *x,
                    const void *y, void *dy, void *const *dx, char *err)
{
    (void)x;
    (void)y;
    return slices(s, st, dy, dx, 1, err);
}
#endif

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
#ifdef MERGE_ADD
    .kind = "add",
    .summary = "element-wise sum of its inputs",
#else
    .kind = "concat",
    .summary = "channels of its inputs side by side",
#endif
    .backend = "opencl",
    .impl = "direct",
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, NULL, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
