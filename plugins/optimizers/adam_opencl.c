/* Adam on OpenCL (cl/optimizers.cl), Keras's semantics and defaults; the
 * bias-correction factor is computed on the host in double, as on the
 * CPU. Built with -DADAMW it is Keras's AdamW (decoupled weight decay). */
#include <math.h>
#include <stdlib.h>

#include "../opencl/ocl_common.h"
#include "adam_settings.h"
#include "optimizers_cl.h"

typedef struct {
    clnet_ocl *o;
    cl_program prog;
    ocl_kernel k;
    double lr, b1, b2, eps, wd;
} adam;

static void destroy(void *s)
{
    adam *a = s;
    if (!a)
        return;
    ocl_release(a->prog, &a->k, 1);
    free(a);
}

static int create(const clnet_create_args *args, void **state, char *err)
{
    static const char *const names[] = {"adam_update", NULL};
    adam *a = calloc(1, sizeof *a);
    if (!a)
        return ocl_errorf(err, "out of memory"), -1;
    a->o = args->device;
    a->lr = args->settings[ADAM_LR].f;
    a->b1 = args->settings[ADAM_BETA1].f;
    a->b2 = args->settings[ADAM_BETA2].f;
    a->eps = args->settings[ADAM_EPSILON].f;
#ifdef ADAMW
    a->wd = args->settings[ADAMW_WEIGHT_DECAY].f;
#endif
    if (ocl_program(a->o, optimizers_cl, NULL, &a->prog, names, &a->k, err)) {
        destroy(a);
        return -1;
    }
    *state = a;
    return 0;
}

static int update(void *s, const clnet_step *st, void *param, const void *grad,
                  void *const *slots, size_t count, char *err)
{
    adam *a = s;
    if (st->step < 1)
        return ocl_errorf(err, "Adam steps count from 1"), -1;
    double t = (double)st->step;
    float alpha = (float)(a->lr * st->lr_scale * sqrt(1.0 - pow(a->b2, t)) /
                          (1.0 - pow(a->b1, t)));
    float decay = (float)(a->lr * st->lr_scale * a->wd);
    float c1 = (float)(1.0 - a->b1), c2 = (float)(1.0 - a->b2);
    float eps = (float)a->eps;
    int n = (int)count;
    cl_mem w = param, g = (cl_mem)grad, m = slots[0], v = slots[1];
    if (ocl_args(&a->k, 10, OCL_ARG(w), OCL_ARG(g), OCL_ARG(m), OCL_ARG(v),
                 OCL_ARG(alpha), OCL_ARG(c1), OCL_ARG(c2), OCL_ARG(eps),
                 OCL_ARG(decay), OCL_ARG(n)))
        return ocl_errorf(err, "adam: bad kernel arguments"), -1;
    return ocl_run1d(a->o, &a->k, count, err);
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_OPTIMIZER,
    .kind = ADAM_KIND,
    .backend = "opencl",
    .impl = "direct",
    .summary = ADAM_SUMMARY,
    .nsettings = ADAM_TABLE_SIZE,
    .settings = ADAM_TABLE,
    .create = create,
    .destroy = destroy,
    .optimizer = {2, update},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
