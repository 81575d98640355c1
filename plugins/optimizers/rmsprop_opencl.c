/* RMSprop on OpenCL (cl/optimizers.cl), Keras's order of operations and
 * defaults, as on the CPU. */
#include <stdlib.h>

#include "../opencl/ocl_common.h"
#include "optimizers_cl.h"
#include "rmsprop_settings.h"

typedef struct {
    clnet_ocl *o;
    cl_program prog;
    ocl_kernel k;
    double lr, rho, momentum, eps;
    int centered;
} rmsprop;

static void destroy(void *s)
{
    rmsprop *r = s;
    if (!r)
        return;
    ocl_release(r->prog, &r->k, 1);
    free(r);
}

static int create(const clnet_create_args *a, void **state, char *err)
{
    static const char *const names[] = {"rmsprop_update", NULL};
    rmsprop *r = calloc(1, sizeof *r);
    if (!r)
        return ocl_errorf(err, "out of memory"), -1;
    r->o = a->device;
    r->lr = a->settings[RMSPROP_LR].f;
    r->rho = a->settings[RMSPROP_RHO].f;
    r->momentum = a->settings[RMSPROP_MOMENTUM].f;
    r->eps = a->settings[RMSPROP_EPSILON].f;
    r->centered = a->settings[RMSPROP_CENTERED].i[0] == 1;
    if (ocl_program(r->o, optimizers_cl, NULL, &r->prog, names, &r->k, err)) {
        destroy(r);
        return -1;
    }
    *state = r;
    return 0;
}

static int update(void *s, const clnet_step *st, void *param, const void *grad,
                  void *const *slots, size_t count, char *err)
{
    rmsprop *r = s;
    float lr = (float)(r->lr * st->lr_scale);
    float rho = (float)r->rho, c = (float)(1.0 - r->rho);
    float mu = (float)r->momentum, eps = (float)r->eps;
    int with_momentum = r->momentum > 0, n = (int)count;
    cl_mem w = param, g = (cl_mem)grad, v = slots[RMSPROP_VELOCITY];
    cl_mem m = slots[RMSPROP_MOMENTUMS], avg = slots[RMSPROP_AVERAGE];
    if (ocl_args(&r->k, 13, OCL_ARG(w), OCL_ARG(g), OCL_ARG(v), OCL_ARG(m),
                 OCL_ARG(avg), OCL_ARG(lr), OCL_ARG(rho), OCL_ARG(c),
                 OCL_ARG(mu), OCL_ARG(eps), OCL_ARG(r->centered),
                 OCL_ARG(with_momentum), OCL_ARG(n)))
        return ocl_errorf(err, "rmsprop: bad kernel arguments"), -1;
    return ocl_run1d(r->o, &r->k, count, err);
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_OPTIMIZER,
    .kind = "rmsprop",
    .backend = "opencl",
    .impl = "direct",
    .summary = "RMSprop, with momentum and centered (Keras semantics and "
               "defaults)",
    .nsettings = RMSPROP_NSETTINGS,
    .settings = rmsprop_settings,
    .create = create,
    .destroy = destroy,
    .optimizer = {RMSPROP_NSLOTS, update},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
