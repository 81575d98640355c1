/* relu and softmax as layers of their own on OpenCL; one source built
 * twice, as activation_cpu.c is (ACTIVATION_KIND, ACTIVATION_ID). */
#include <stdlib.h>

#include "../common/activation.h"
#include "../opencl/ocl_common.h"
#include "activation_cl.h"

#if !defined(ACTIVATION_KIND) || !defined(ACTIVATION_ID)
#error "build with -DACTIVATION_KIND=\"relu\" -DACTIVATION_ID=ACT_RELU"
#endif

typedef struct {
    clnet_ocl *o;
    cl_program prog;
    ocl_act k;
    size_t rows_per_sample;
    int32_t cols, fused;
} activation;

static void destroy(void *s)
{
    activation *l = s;
    if (!l)
        return;
    ocl_release(l->prog, (ocl_kernel *)&l->k, sizeof l->k / sizeof(ocl_kernel));
    free(l);
}

static int create(const clnet_create_args *a, void **state, char *err)
{
    static const char *const names[] = {OCL_ACT_KERNELS, NULL};
    activation *l = calloc(1, sizeof *l);
    if (!l)
        return ocl_errorf(err, "out of memory"), -1;
    l->o = a->device;
    l->rows_per_sample = (size_t)a->in[0].h * (size_t)a->in[0].w;
    l->cols = a->in[0].c;
    l->fused = a->fuse_softmax_loss;
    if (ocl_program(l->o, activation_cl, NULL, &l->prog, names,
                    (ocl_kernel *)&l->k, err)) {
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
    activation *l = s;
    size_t rows = l->rows_per_sample * (size_t)st->batch;
    /* in place (plan.in_place), x is y: a copy onto itself is an error */
    if (x != y && ocl_copy(l->o, &l->k, (cl_mem)x, (cl_mem)y,
                           rows * (size_t)l->cols, err))
        return -1;
    return ocl_bias_activation(l->o, &l->k, (cl_mem)y, NULL, ACTIVATION_ID,
                               rows, l->cols, err);
}

static int backward(void *s, const clnet_step *st, const void *const *xs,
                    const void *y, void *dy, void *const *dxs, char *err)
{
    const void *x = xs[0];
    void *dx = dxs[0];
    (void)x;
    activation *l = s;
    if (!dx)
        return 0;
    size_t rows = l->rows_per_sample * (size_t)st->batch;
    if (ocl_activation_backward(l->o, &l->k, (cl_mem)y, (cl_mem)dy,
                                ACTIVATION_ID, l->fused, rows, l->cols, err))
        return -1;
    return ocl_copy(l->o, &l->k, (cl_mem)dy, (cl_mem)dx,
                    rows * (size_t)l->cols, err);
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = ACTIVATION_KIND,
    .backend = "opencl",
    .impl = "direct",
    .summary = ACTIVATION_KIND " activation as a layer",
    .nsettings = 0,
    .settings = NULL,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
