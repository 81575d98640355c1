/* sparse_categorical_crossentropy on OpenCL, with the accuracy count: one
 * work-group computes the gradient and reduces loss and hits on the
 * device, and only those two numbers come back. label_smoothing as on
 * the CPU. */
#include <stdlib.h>

#include "../opencl/ocl_common.h"
#include "loss_cl.h"
#include "scce_settings.h"

typedef struct {
    clnet_ocl *o;
    cl_program prog;
    ocl_kernel k;
    cl_mem out;
    size_t wg;
    float smoothing;
} loss;

static void destroy(void *s)
{
    loss *l = s;
    if (!l)
        return;
    if (l->out)
        clReleaseMemObject(l->out);
    ocl_release(l->prog, &l->k, 1);
    free(l);
}

static int create(const clnet_create_args *a, void **state, char *err)
{
    static const char *const names[] = {"scce", NULL};
    loss *l = calloc(1, sizeof *l);
    if (!l)
        return ocl_errorf(err, "out of memory"), -1;
    l->o = a->device;
    l->smoothing = (float)a->settings[SCCE_LABEL_SMOOTHING].f;
    if (ocl_program(l->o, loss_cl, NULL, &l->prog, names, &l->k, err) ||
        !(l->out = ocl_buffer(l->o, 2 * sizeof(float), err))) {
        destroy(l);
        return -1;
    }
    /* a power of two for the tree reduction, within every limit */
    size_t limit = l->k.wg < l->o->max_work_group ? l->k.wg
                                                  : l->o->max_work_group;
    cl_ulong local = l->o->local_mem;
    l->wg = 1;
    while (l->wg * 2 <= 256 && l->wg * 2 <= limit &&
           l->wg * 2 * (sizeof(float) + sizeof(cl_int)) <= local)
        l->wg *= 2;
    *state = l;
    return 0;
}

static int compute(void *s, const clnet_step *st, const void *pred,
                   const void *labels, int32_t classes, int32_t fused,
                   void *dpred, double *loss_sum, int64_t *correct, char *err)
{
    loss *l = s;
    cl_mem p = (cl_mem)pred, y = (cl_mem)labels;
    cl_mem d = dpred ? (cl_mem)dpred : p; /* unused without want_grad */
    int want = dpred != NULL, batch = st->batch;
    if (ocl_args(&l->k, 11, OCL_ARG(p), OCL_ARG(y), OCL_ARG(batch),
                 OCL_ARG(classes), OCL_ARG(fused), OCL_ARG(want),
                 OCL_ARG(l->smoothing), OCL_ARG(d), OCL_ARG(l->out),
                 l->wg * sizeof(float), (const void *)NULL,
                 l->wg * sizeof(cl_int), (const void *)NULL))
        return ocl_errorf(err, "loss: bad kernel arguments"), -1;
    size_t global = l->wg, local = l->wg;
    if (ocl_launch(l->o, &l->k, 1, &global, &local, err))
        return -1;
    float out[2];
    cl_int rc = clEnqueueReadBuffer(l->o->queue, l->out, CL_TRUE, 0,
                                    sizeof out, out, 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return ocl_errorf(err, "loss kernel: %s", ocl_strerror(rc)), -1;
    *loss_sum += out[0];
    *correct += (int64_t)out[1];
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LOSS,
    .kind = "sparse_categorical_crossentropy",
    .backend = "opencl",
    .impl = "workgroup-reduce",
    .summary = "cross-entropy on integer labels, fused with a final softmax",
    .nsettings = SCCE_NSETTINGS,
    .settings = scce_settings,
    .create = create,
    .destroy = destroy,
    .loss = {compute, 1},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
