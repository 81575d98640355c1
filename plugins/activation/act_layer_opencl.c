/* The activation layers of act_settings.h on OpenCL: cl/activation.cl's
 * act_forward and act_backward, a work-item per value. */
#include <stdlib.h>

#include "../opencl/ocl_common.h"
#include "act_settings.h"
#include "activation_cl.h"

typedef struct {
    ocl_kernel fwd, bwd;
} kernels;
static const char *const names[] = {"act_forward", "act_backward", NULL};

typedef struct {
    clnet_ocl *o;
    cl_program prog;
    kernels k;
    size_t per_sample;
    cl_int act;
    cl_float alpha;
} layer;

static void destroy(void *s)
{
    layer *l = s;
    if (!l)
        return;
    ocl_release(l->prog, (ocl_kernel *)&l->k, 2);
    free(l);
}

static int create(const clnet_create_args *a, void **state, char *err)
{
    layer *l = calloc(1, sizeof *l);
    if (!l)
        return ocl_errorf(err, "out of memory"), -1;
    l->o = a->device;
    l->per_sample =
        (size_t)a->in[0].h * (size_t)a->in[0].w * (size_t)a->in[0].c;
    int act;
    float alpha;
    act_layer_params(a->settings, &act, &alpha);
    l->act = act;
    l->alpha = alpha;
    if (ocl_program(l->o, activation_cl, NULL, &l->prog, names,
                    (ocl_kernel *)&l->k, err)) {
        destroy(l);
        return -1;
    }
    *state = l;
    return 0;
}

static int forward(void *s, const clnet_step *st, const void *const *x,
                   void *y, char *err)
{
    layer *l = s;
    cl_mem in = (cl_mem)x[0], out = (cl_mem)y;
    cl_int n = (cl_int)(l->per_sample * (size_t)st->batch);
    if (ocl_args(&l->k.fwd, 5, OCL_ARG(in), OCL_ARG(out), OCL_ARG(l->act),
                 OCL_ARG(l->alpha), OCL_ARG(n)))
        return ocl_errorf(err, ACT_LAYER_KIND ": bad kernel arguments"), -1;
    return ocl_run1d(l->o, &l->k.fwd, (size_t)n, err);
}

static int backward(void *s, const clnet_step *st, const void *const *x,
                    const void *y, void *dy, void *const *dx, char *err)
{
    layer *l = s;
    if (!dx[0])
        return 0;
    cl_mem in = (cl_mem)x[0], out = (cl_mem)y, g = (cl_mem)dy,
           d = (cl_mem)dx[0];
    cl_int n = (cl_int)(l->per_sample * (size_t)st->batch);
    if (ocl_args(&l->k.bwd, 7, OCL_ARG(in), OCL_ARG(out), OCL_ARG(g),
                 OCL_ARG(d), OCL_ARG(l->act), OCL_ARG(l->alpha), OCL_ARG(n)))
        return ocl_errorf(err, ACT_LAYER_KIND ": bad kernel arguments"), -1;
    return ocl_run1d(l->o, &l->k.bwd, (size_t)n, err);
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = ACT_LAYER_KIND,
    .backend = "opencl",
    .impl = "elementwise",
    .summary = ACT_LAYER_SUMMARY,
    .nsettings = ACT_NSETTINGS,
    .settings = ACT_SETTINGS,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, NULL, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
