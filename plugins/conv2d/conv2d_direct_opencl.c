/* conv2d on OpenCL computed directly (cl/conv2d_direct.cl), for receptive
 * fields of at most CONV_DIRECT_MAX_K values, as in a first layer: no
 * im2col matrix, bias and relu in the same pass; the weight and bias
 * gradients summed over slices of pixels in parallel, then added up. */
#include <stdio.h>
#include <stdlib.h>

#include "../common/activation.h"
#include "../opencl/ocl_common.h"
#include "conv2d_direct_cl.h"
#include "conv2d_settings.h"

typedef struct {
    ocl_kernel fwd, bwd, input_grad, sum_slices;
    ocl_act a;
} kernels;
static const char *const names[] = {"direct_forward",    "direct_backward",
                                    "direct_input_grad", "sum_slices",
                                    OCL_ACT_KERNELS,     NULL};

typedef struct {
    clnet_ocl *o;
    cl_program prog;
    kernels k;
    conv2d_layer l;
    cl_mem parts, w, b, dw, db; /* parts: slices x (K + 1) x F floats */
    cl_mem pre; /* l.post's input: the last forward pass's sums */
} conv;

static void destroy(void *s) {
    conv *c = s;
    if (!c)
        return;
    if (c->parts)
        clReleaseMemObject(c->parts);
    if (c->pre)
        clReleaseMemObject(c->pre);
    ocl_release(c->prog, (ocl_kernel *)&c->k, sizeof c->k / sizeof(ocl_kernel));
    free(c);
}

static int32_t score(const clnet_create_args *a) {
    if (conv2d_receptive(a) > CONV_DIRECT_MAX_K)
        return 0;
    /* CPU devices: above the im2col variants; GPUs: below the tiles,
     * whose backward pass spreads wider than these long work-items */
    return ((const clnet_ocl *)a->device)->is_gpu ? 5 : 20;
}

static int create(const clnet_create_args *a, void **state, char *err) {
    if (conv2d_receptive(a) > CONV_DIRECT_MAX_K)
        return ocl_errorf(err,
                          "the direct convolution takes receptive fields of "
                          "at most %d values",
                          CONV_DIRECT_MAX_K),
               -1;
    conv *c = calloc(1, sizeof *c);
    if (!c)
        return ocl_errorf(err, "out of memory"), -1;
    c->o = a->device;
    if (conv2d_read(a, &c->l, err)) {
        destroy(c);
        return -1;
    }
    size_t P = (size_t)c->l.B * c->l.g.OH * c->l.g.OW;
    if ((size_t)c->l.B * c->l.g.H * c->l.g.W * c->l.g.C >
            OCL_MAX_INT_ELEMENTS ||
        P * (size_t)c->l.F > OCL_MAX_INT_ELEMENTS) {
        ocl_errorf(err, "this layer's tensors are too large for 32-bit "
                        "indices; use a smaller batch");
        destroy(c);
        return -1;
    }
    size_t slices = (size_t)ocl_row_slices(P, c->l.F);
    char opts[64];
    snprintf(opts, sizeof opts, "-DDKH=%d -DDKW=%d -DDC=%d", (int)c->l.g.KH,
             (int)c->l.g.KW, (int)c->l.g.C);
    if (ocl_program(c->o, conv2d_direct_cl, opts, &c->prog, names,
                    (ocl_kernel *)&c->k, err) ||
        !(c->parts = ocl_buffer(
              c->o, slices * (size_t)(c->l.K + 1) * c->l.F * sizeof(float),
              err)) ||
        (c->l.post != ACT_LINEAR &&
         !(c->pre = ocl_buffer(c->o, P * (size_t)c->l.F * sizeof(float),
                               err)))) {
        destroy(c);
        return -1;
    }
    *state = c;
    return 0;
}

static int bind(void *s, void *const *params, void *const *grads) {
    conv *c = s;
    c->w = params[0];
    c->b = params[1];
    c->dw = grads[0];
    c->db = grads[1];
    return 0;
}

static int forward(void *s, const clnet_step *st, const void *const *xs,
                   void *yv, char *err)
{
    const void *xv = xs[0];
    conv *c = s;
    cl_mem x = (cl_mem)xv, y = (cl_mem)yv;
    int P = st->batch * c->l.g.OH * c->l.g.OW, relu = c->l.act == ACT_RELU;
    if (ocl_args(&c->k.fwd, 7, OCL_ARG(x), OCL_ARG(c->w), OCL_ARG(c->b),
                 OCL_ARG(y), OCL_ARG(P), OCL_ARG(c->l.F), OCL_ARG(relu)) ||
        ocl_window_args(&c->k.fwd, 7, &c->l.g))
        return ocl_errorf(err, "conv2d direct: bad kernel arguments"), -1;
    /* cl/conv2d_direct.cl's FPX pixels per work-item */
    size_t global = ((size_t)P + 3) / 4;
    if (ocl_launch(c->o, &c->k.fwd, 1, &global, NULL, err))
        return -1;
    if (c->pre)
        return ocl_post_activation(c->o, &c->k.a, y, c->pre, c->l.post,
                                   (size_t)P * c->l.F, err);
    if (c->l.act == ACT_RELU || c->l.act == ACT_LINEAR)
        return 0;
    return ocl_bias_activation(c->o, &c->k.a, y, NULL, c->l.act, (size_t)P,
                               c->l.F, err);
}

static int backward(void *s, const clnet_step *st, const void *const *xs,
                    const void *yv, void *dyv, void *const *dxs,
                    char *err)
{
    const void *xv = xs[0];
    void *dxv = dxs[0];
    conv *c = s;
    cl_mem x = (cl_mem)xv, y = (cl_mem)yv, dy = dyv, dx = dxv;
    int P = st->batch * c->l.g.OH * c->l.g.OW, relu = c->l.act == ACT_RELU;
    int store = dx != NULL;
    if (c->pre && ocl_post_activation_grad(c->o, &c->k.a, c->pre, y, dy,
                                           c->l.post, (size_t)P * c->l.F, err))
        return -1;
    if (!relu && ocl_activation_backward(c->o, &c->k.a, y, dy, c->l.act,
                                         c->l.fused, (size_t)P, c->l.F, err))
        return -1;
    int slices = ocl_row_slices((size_t)P, c->l.F);
    int ps = (P + slices - 1) / slices;
    slices = (P + ps - 1) / ps;
    if (ocl_args(&c->k.bwd, 9, OCL_ARG(x), OCL_ARG(y), OCL_ARG(dy),
                 OCL_ARG(c->parts), OCL_ARG(P), OCL_ARG(c->l.F), OCL_ARG(relu),
                 OCL_ARG(store), OCL_ARG(ps)) ||
        ocl_window_args(&c->k.bwd, 9, &c->l.g))
        return ocl_errorf(err, "conv2d direct: bad kernel arguments"), -1;
    /* long work-items, one per group, so a CPU device spreads them */
    /* cl/conv2d_direct.cl's BF filters per work-item */
    size_t global[2] = {((size_t)c->l.F + 31) / 32, (size_t)slices};
    size_t local[2] = {1, 1};
    int KF = c->l.K * c->l.F, n = st->batch;
    if (ocl_launch(c->o, &c->k.bwd, 2, global, local, err) ||
        ocl_sum_slices(c->o, &c->k.sum_slices, c->parts, 0, slices, c->l.K,
                       c->l.F, 0.0f, c->dw, c->l.F, 0, err) ||
        ocl_sum_slices(c->o, &c->k.sum_slices, c->parts, slices * KF, slices, 1,
                       c->l.F, 0.0f, c->db, c->l.F, 0, err))
        return -1;
    if (!dx)
        return 0;
    if (ocl_args(&c->k.input_grad, 5, OCL_ARG(dy), OCL_ARG(c->w), OCL_ARG(dx),
                 OCL_ARG(n), OCL_ARG(c->l.F)) ||
        ocl_window_args(&c->k.input_grad, 5, &c->l.g))
        return ocl_errorf(err, "conv2d direct: bad kernel arguments"), -1;
    return ocl_run1d(c->o, &c->k.input_grad,
                     (size_t)n * c->l.g.H * c->l.g.W * c->l.g.C, err);
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "conv2d",
    .backend = "opencl",
    .impl = "direct",
    .summary = "2-D convolution computed directly, for small receptive "
               "fields (first layers)",
    .nsettings = CONV_NSETTINGS,
    .settings = conv2d_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, bind, score},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
