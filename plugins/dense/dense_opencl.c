/* dense on OpenCL, over every position's channels (dense_kind.c): the
 * project's GEMM (either family of cl/gemm.cl, one
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
static const char *const tunings[] = {OCL_GEMM_TILES_SETS, OCL_GEMM_VEC_SETS,
                                      NULL};

typedef struct {
    clnet_ocl *o;
    cl_program prog;
    kernels k;
    int32_t D, U, act, fused;
    int32_t post;            /* gelu or swish after the bias, act linear */
    int32_t rows_per_sample; /* h x w positions the units apply at */
    ocl_gemm_shape gs;       /* either family; tiles on GPUs by default */
    cl_mem w, b, dw, db;
    cl_mem pre; /* post's input: the last forward pass's sums */
    ocl_scratch scratch;
} dense;

static void destroy(void *s) {
    dense *d = s;
    if (!d)
        return;
    if (d->scratch.buf)
        clReleaseMemObject(d->scratch.buf);
    if (d->pre)
        clReleaseMemObject(d->pre);
    ocl_release(d->prog, (ocl_kernel *)&d->k, sizeof d->k / sizeof(ocl_kernel));
    free(d);
}

static int create(const clnet_create_args *a, void **state, char *err) {
    dense *d = calloc(1, sizeof *d);
    if (!d)
        return ocl_errorf(err, "out of memory"), -1;
    d->o = a->device;
    d->D = a->in[0].c;
    d->U = a->plan->out.c;
    d->rows_per_sample = a->in[0].h * a->in[0].w;
    if (ocl_gemm_choose(d->o, a->tuning, -1, d->U, &d->gs, err)) {
        free(d);
        return -1;
    }
    d->act = a->settings[DENSE_ACTIVATION].i[0];
    d->post = act_needs_input(d->act) ? d->act : ACT_LINEAR;
    if (d->post != ACT_LINEAR)
        d->act = ACT_LINEAR;
    d->fused = a->fuse_softmax_loss;
    d->scratch.floats = ocl_layer_scratch(
        &d->gs, (size_t)a->max_batch * (size_t)d->rows_per_sample,
        (size_t)a->max_batch * (size_t)d->rows_per_sample, d->D, d->U);
    if (ocl_gemm_program(d->o, &d->gs, dense_cl, &d->prog, names,
                         (ocl_kernel *)&d->k, err) ||
        !(d->scratch.buf =
              ocl_buffer(d->o, d->scratch.floats * sizeof(float), err)) ||
        (d->post != ACT_LINEAR &&
         !(d->pre = ocl_buffer(d->o,
                               sizeof(float) * (size_t)a->max_batch *
                                   (size_t)d->rows_per_sample * (size_t)d->U,
                               err)))) {
        destroy(d);
        return -1;
    }
    *state = d;
    return 0;
}

static int bind(void *s, void *const *params, void *const *grads) {
    dense *d = s;
    d->w = params[0];
    d->b = params[1];
    d->dw = grads[0];
    d->db = grads[1];
    return 0;
}

static int forward(void *s, const clnet_step *st, const void *const *xs,
                   void *y, char *err)
{
    const void *x = xs[0];
    dense *d = s;
    int rows = st->batch * d->rows_per_sample;
    ocl_epilogue ep = {d->b, d->act == ACT_RELU};
    if (ocl_sgemm(d->o, &d->k.g, &d->gs, 0, 0, rows, d->U, d->D, 1.0f,
                  (cl_mem)x, d->D, 0, d->w, d->U, 0, 0.0f, (cl_mem)y, d->U, 0,
                  NULL, &ep, err))
        return -1;
    if (d->pre)
        return ocl_post_activation(d->o, &d->k.a, (cl_mem)y, d->pre, d->post,
                                   (size_t)rows * (size_t)d->U, err);
    if (d->act == ACT_RELU || d->act == ACT_LINEAR)
        return 0;
    return ocl_bias_activation(d->o, &d->k.a, (cl_mem)y, NULL, d->act,
                               (size_t)rows, d->U, err);
}

static int backward(void *s, const clnet_step *st, const void *const *xs,
                    const void *y, void *dy, void *const *dxs,
                    char *err)
{
    const void *x = xs[0];
    void *dx = dxs[0];
    dense *d = s;
    int rows = st->batch * d->rows_per_sample;
    if (d->pre && ocl_post_activation_grad(d->o, &d->k.a, d->pre, (cl_mem)y,
                                           (cl_mem)dy, d->post,
                                           (size_t)rows * (size_t)d->U, err))
        return -1;
    if (ocl_bias_activation_backward(
            d->o, &d->k.a, &d->k.g, (cl_mem)y, (cl_mem)dy, d->db, d->act,
            d->fused, (size_t)rows, d->U, &d->scratch, err) ||
        ocl_sgemm(d->o, &d->k.g, &d->gs, 1, 0, d->D, d->U, rows, 1.0f,
                  (cl_mem)x, d->D, 0, (cl_mem)dy, d->U, 0, 0.0f, d->dw, d->U, 0,
                  &d->scratch, NULL, err))
        return -1;
    if (dx && ocl_sgemm(d->o, &d->k.g, &d->gs, 0, 1, rows, d->D, d->U,
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
    .impl = "gemm",
    .summary = "fully connected layer, GEMM kernels (either family of "
               "cl/gemm.cl, by tuning)",
    .nsettings = DENSE_NSETTINGS,
    .settings = dense_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, bind, NULL, tunings},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
