/* dense on OpenCL: the project's GEMM (either family of cl/gemm.cl, one
 * plugin each) for all three products, bias and relu in the forward
 * product's epilogue, softmax from cl/activation.cl. */
#include <stdlib.h>

#include "../common/activation.h"
#include "../opencl/ocl_common.h"
#include "dense_cl.h"
#include "dense_settings.h"

typedef struct {
    ocl_gemm g;
    ocl_act a;
} kernels;
static const char *const names[] = {OCL_GEMM_KERNELS, OCL_ACT_KERNELS, NULL};
static const ocl_gemm_shape shape = OCL_GEMM_SHAPE;

typedef struct {
    clnet_ocl *o;
    cl_program prog;
    kernels k;
    int32_t D, U, act, fused;
    cl_mem w, b, dw, db;
    ocl_scratch scratch;
} dense;

static void destroy(void *s) {
    dense *d = s;
    if (!d)
        return;
    if (d->scratch.buf)
        clReleaseMemObject(d->scratch.buf);
    ocl_release(d->prog, (ocl_kernel *)&d->k, sizeof d->k / sizeof(ocl_kernel));
    free(d);
}

static int create(const clnet_create_args *a, clnet_layer_plan *plan,
                  void **state, char *err) {
    dense *d = calloc(1, sizeof *d);
    if (!d)
        return ocl_errorf(err, "out of memory"), -1;
    d->o = a->device;
    int64_t D = (int64_t)a->in.h * a->in.w * a->in.c;
    d->U = a->settings[DENSE_UNITS].i[0];
    if (D * d->U > CLNET_MAX_ELEMENTS || D * a->max_batch > CLNET_MAX_ELEMENTS) {
        ocl_errorf(err,
                   "%lld inputs x %d units is too many weights; add "
                   "pooling before it",
                   (long long)D, (int)d->U);
        free(d);
        return -1;
    }
    d->D = (int32_t)D;
    d->act = a->settings[DENSE_ACTIVATION].i[0];
    d->fused = a->fuse_softmax_loss;
    d->scratch.floats = ocl_layer_scratch(&shape, (size_t)a->max_batch,
                                          (size_t)a->max_batch, d->D, d->U);
    if (ocl_gemm_program(d->o, &shape, dense_cl, &d->prog, names,
                         (ocl_kernel *)&d->k, err) ||
        !(d->scratch.buf =
              ocl_buffer(d->o, d->scratch.floats * sizeof(float), err))) {
        destroy(d);
        return -1;
    }
    *state = d;
    plan->out = (clnet_shape){1, 1, d->U};
    plan->nparams = 2;
    plan->params[0] = (clnet_param_info){
        "kernel", 2, {d->D, d->U, 0, 0}, CLNET_INIT_GLOROT_UNIFORM, d->D, d->U};
    plan->params[1] =
        (clnet_param_info){"bias", 1, {d->U, 0, 0, 0}, CLNET_INIT_ZEROS, 0, 0};
    plan->needs_input_grad = 1;
    plan->flops_forward = 2.0 * d->D * d->U;
    return 0;
}

static int32_t score(const clnet_create_args *a) {
    return OCL_GEMM_SCORE((const clnet_ocl *)a->device);
}

static int bind(void *s, void *const *params, void *const *grads) {
    dense *d = s;
    d->w = params[0];
    d->b = params[1];
    d->dw = grads[0];
    d->db = grads[1];
    return 0;
}

static int forward(void *s, const clnet_step *st, const void *x, void *y,
                   char *err) {
    dense *d = s;
    ocl_epilogue ep = {d->b, d->act == ACT_RELU};
    if (ocl_sgemm(d->o, &d->k.g, &shape, 0, 0, st->batch, d->U, d->D, 1.0f,
                  (cl_mem)x, d->D, 0, d->w, d->U, 0, 0.0f, (cl_mem)y, d->U, 0,
                  NULL, &ep, err))
        return -1;
    if (d->act != ACT_SOFTMAX)
        return 0;
    return ocl_bias_activation(d->o, &d->k.a, (cl_mem)y, NULL, d->act,
                               (size_t)st->batch, d->U, err);
}

static int backward(void *s, const clnet_step *st, const void *x, const void *y,
                    void *dy, void *dx, char *err) {
    dense *d = s;
    if (ocl_bias_activation_backward(
            d->o, &d->k.a, &d->k.g, (cl_mem)y, (cl_mem)dy, d->db, d->act,
            d->fused, (size_t)st->batch, d->U, &d->scratch, err) ||
        ocl_sgemm(d->o, &d->k.g, &shape, 1, 0, d->D, d->U, st->batch, 1.0f,
                  (cl_mem)x, d->D, 0, (cl_mem)dy, d->U, 0, 0.0f, d->dw, d->U, 0,
                  &d->scratch, NULL, err))
        return -1;
    if (dx && ocl_sgemm(d->o, &d->k.g, &shape, 0, 1, st->batch, d->D, d->U,
                        1.0f, (cl_mem)dy, d->U, 0, d->w, d->U, 0, 0.0f,
                        (cl_mem)dx, d->D, 0, &d->scratch, NULL, err))
        return -1;
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "dense",
    .backend = "opencl",
    .impl = "gemm-" OCL_GEMM_SUFFIX,
    .summary = "fully connected layer, GEMM kernels (" OCL_GEMM_SUFFIX ")",
    .nsettings = DENSE_NSETTINGS,
    .settings = dense_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, bind, score},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
