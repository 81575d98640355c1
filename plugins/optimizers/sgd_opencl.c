/* SGD with momentum, Nesterov and weight decay on OpenCL
 * (cl/optimizers.cl), Keras's semantics, as on the CPU. */
#include <stdlib.h>

#include "../opencl/ocl_common.h"
#include "optimizers_cl.h"
#include "sgd_settings.h"

typedef struct {
    clnet_ocl *o;
    cl_program prog;
    ocl_kernel k;
    float lr, momentum;
    double wd;
    int nesterov;
} sgd;

static void destroy(void *s)
{
    sgd *o = s;
    if (!o)
        return;
    ocl_release(o->prog, &o->k, 1);
    free(o);
}

static int create(const clnet_create_args *a, void **state, char *err)
{
    static const char *const names[] = {"sgd_update", NULL};
    sgd *o = calloc(1, sizeof *o);
    if (!o)
        return ocl_errorf(err, "out of memory"), -1;
    o->o = a->device;
    o->lr = (float)a->settings[SGD_LR].f;
    o->momentum = (float)a->settings[SGD_MOMENTUM].f;
    o->nesterov = a->settings[SGD_NESTEROV].i[0] == 1;
    o->wd = a->settings[SGD_WEIGHT_DECAY].f;
    if (ocl_program(o->o, optimizers_cl, NULL, &o->prog, names, &o->k, err)) {
        destroy(o);
        return -1;
    }
    *state = o;
    return 0;
}

static int update(void *s, const clnet_step *st, void *param, const void *grad,
                  void *const *slots, size_t count, char *err)
{
    sgd *o = s;
    int n = (int)count;
    float lr = (float)(o->lr * st->lr_scale);
    float decay = (float)(lr * o->wd); /* with the scheduled rate, as Keras */
    cl_mem w = param, g = (cl_mem)grad, v = slots[0];
    if (ocl_args(&o->k, 8, OCL_ARG(w), OCL_ARG(g), OCL_ARG(v), OCL_ARG(lr),
                 OCL_ARG(o->momentum), OCL_ARG(decay), OCL_ARG(o->nesterov),
                 OCL_ARG(n)))
        return ocl_errorf(err, "sgd: bad kernel arguments"), -1;
    return ocl_run1d(o->o, &o->k, count, err);
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_OPTIMIZER,
    .kind = "sgd",
    .backend = "opencl",
    .impl = "direct",
    .summary = "SGD with momentum, Nesterov and weight decay (Keras semantics)",
    .nsettings = SGD_NSETTINGS,
    .settings = sgd_settings,
    .create = create,
    .destroy = destroy,
    .optimizer = {1, update},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
