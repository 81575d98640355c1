/* depthwise_conv2d on OpenCL (cl/depthwise_conv2d.cl): the forward pass
 * and the input gradient a work-item per value, bias and the elementwise
 * activations fused into the forward pass (softmax after it, gelu and
 * swish keeping the sums before the activation for their gradients); the
 * kernel and bias gradients summed per work-group
 * over slices of pixels, then the slices added up in order (reduce.cl's
 * sum_slices): no atomics, the same result on every run. */
#include <stdio.h>
#include <stdlib.h>

#include "../common/activation.h"
#include "../opencl/ocl_common.h"
#include "depthwise_conv2d_cl.h"
#include "depthwise_conv2d_settings.h"

#define LX 16         /* gradient values per work-group */
#define PIXELS 32     /* pixels each work-item sums, at least */
#define MAX_SLICES 256

typedef struct {
    ocl_kernel fwd, input_grad, grad, sum_slices;
    ocl_act a;
} kernels;
static const char *const names[] = {
    "dw_forward", "dw_input_grad", "dw_grad_partials", "sum_slices",
    OCL_ACT_KERNELS, NULL};

typedef struct {
    clnet_ocl *o;
    cl_program prog;
    kernels k;
    dw_layer l;
    int ly;        /* work-items per group along the pixels */
    int slices;    /* most slices, for the largest batch */
    cl_mem parts;  /* slices x T x CO kernel partials, then slices x CO */
    cl_mem pre;    /* gelu, swish: the last forward pass's sums before the
                      activation, max_batch x OH x OW x CO */
    cl_mem w, b, dw, db;
} dwconv;

static void destroy(void *s)
{
    dwconv *d = s;
    if (!d)
        return;
    if (d->parts)
        clReleaseMemObject(d->parts);
    if (d->pre)
        clReleaseMemObject(d->pre);
    ocl_release(d->prog, (ocl_kernel *)&d->k,
                sizeof d->k / sizeof(ocl_kernel));
    free(d);
}

/* Pixels per slice for P pixels: at least ly PIXELS, and few enough
 * slices to fit the partials buffer. */
static int slice_pixels(const dwconv *d, int P)
{
    int ps = d->ly * PIXELS;
    if ((P + ps - 1) / ps > MAX_SLICES)
        ps = (P + MAX_SLICES - 1) / MAX_SLICES;
    return ps;
}

static int create(const clnet_create_args *a, void **state, char *err)
{
    dwconv *d = calloc(1, sizeof *d);
    if (!d)
        return ocl_errorf(err, "out of memory"), -1;
    d->o = a->device;
    if (dw_read(a, &d->l, err)) {
        destroy(d);
        return -1;
    }
    d->ly = 16;
    while (d->ly > 1 && (size_t)(LX * d->ly) > d->o->max_work_group)
        d->ly /= 2;
    int64_t P = clnet_size_mul(
        clnet_size_mul(d->l.B, d->l.g.OH), d->l.g.OW);
    int64_t in = clnet_size_mul(
        clnet_size_mul(clnet_size_mul(d->l.B, d->l.g.H), d->l.g.W),
        d->l.g.C);
    int64_t tc = clnet_size_mul(d->l.T, d->l.CO);
    if (P < 0 || in < 0 || clnet_size_mul(P, d->l.CO) < 0 || tc < 0 ||
        clnet_size_mul(tc + d->l.CO, MAX_SLICES) < 0) {
        ocl_errorf(err, "depthwise_conv2d: this layer's tensors are too "
                        "large for 32-bit indices; use a smaller batch");
        destroy(d);
        return -1;
    }
    int ps = slice_pixels(d, (int)P);
    d->slices = (int)((P + ps - 1) / ps);
    if (d->slices < 1)
        d->slices = 1;
    char opts[96];
    snprintf(opts, sizeof opts, "-DDKH=%d -DDKW=%d -DDM=%d -DLX=%d -DLY=%d",
             (int)d->l.g.KH, (int)d->l.g.KW, (int)d->l.M, LX, d->ly);
    size_t parts = (size_t)d->slices * (size_t)(tc + d->l.CO);
    if (ocl_program(d->o, depthwise_conv2d_cl, opts, &d->prog, names,
                    (ocl_kernel *)&d->k, err) ||
        !(d->parts = ocl_buffer(d->o, parts * sizeof(float), err))) {
        destroy(d);
        return -1;
    }
    if (act_needs_input(d->l.act) &&
        !(d->pre = ocl_buffer(d->o,
                              (size_t)P * (size_t)d->l.CO * sizeof(float),
                              err))) {
        destroy(d);
        return -1;
    }
    if (d->k.grad.wg < (size_t)(LX * d->ly)) {
        ocl_errorf(err,
                   "depthwise_conv2d: the device runs the gradient kernel "
                   "in work-groups of %zu work-items, fewer than its %d",
                   d->k.grad.wg, LX * d->ly);
        destroy(d);
        return -1;
    }
    *state = d;
    return 0;
}

static int bind(void *s, void *const *params, void *const *grads)
{
    dwconv *d = s;
    d->w = params[0];
    d->dw = grads[0];
    d->b = d->l.bias ? params[1] : NULL;
    d->db = d->l.bias ? grads[1] : NULL;
    return 0;
}

static int forward(void *s, const clnet_step *st, const void *const *xv,
                   void *yv, char *err)
{
    dwconv *d = s;
    cl_mem x = (cl_mem)xv[0], y = yv;
    /* without a bias the kernel never reads it, but needs a buffer */
    cl_mem bias = d->b ? d->b : d->w;
    int P = st->batch * d->l.g.OH * d->l.g.OW, n = P * d->l.CO;
    int has_bias = d->b != NULL, act = d->l.act, store_pre = d->pre != NULL;
    cl_mem pre = d->pre ? d->pre : y;
    if (ocl_args(&d->k.fwd, 10, OCL_ARG(x), OCL_ARG(d->w), OCL_ARG(bias),
                 OCL_ARG(y), OCL_ARG(pre), OCL_ARG(n), OCL_ARG(d->l.CO),
                 OCL_ARG(has_bias), OCL_ARG(act), OCL_ARG(store_pre)) ||
        ocl_window_args(&d->k.fwd, 10, &d->l.g))
        return ocl_errorf(err, "depthwise_conv2d: bad kernel arguments"), -1;
    if (ocl_run1d(d->o, &d->k.fwd, (size_t)n, err))
        return -1;
    if (d->l.act != ACT_SOFTMAX)
        return 0;
    return ocl_bias_activation(d->o, &d->k.a, y, NULL, ACT_SOFTMAX,
                               (size_t)P, d->l.CO, err);
}

/* dy through the activation, in place, for n = P x CO values: gelu and
 * swish from the sums the forward pass kept, the others from y. */
static int activation_backward(dwconv *d, cl_mem y, cl_mem dy, int n, int P,
                               char *err)
{
    if (d->pre)
        return ocl_post_activation_grad(d->o, &d->k.a, d->pre, y, dy,
                                        d->l.act, (size_t)n, err);
    return ocl_activation_backward(d->o, &d->k.a, y, dy, d->l.act,
                                   d->l.fused, (size_t)P, d->l.CO, err);
}

static int backward(void *s, const clnet_step *st, const void *const *xv,
                    const void *yv, void *dyv, void *const *dxv, char *err)
{
    dwconv *d = s;
    cl_mem x = (cl_mem)xv[0], y = (cl_mem)yv, dy = dyv, dx = dxv[0];
    int P = st->batch * d->l.g.OH * d->l.g.OW, batch = st->batch;
    int has_bias = d->db != NULL, CO = d->l.CO;
    if (activation_backward(d, y, dy, P * CO, P, err))
        return -1;
    int ps = slice_pixels(d, P), slices = (P + ps - 1) / ps;
    if (ocl_args(&d->k.grad, 7, OCL_ARG(x), OCL_ARG(dy), OCL_ARG(d->parts),
                 OCL_ARG(P), OCL_ARG(CO), OCL_ARG(has_bias), OCL_ARG(ps)) ||
        ocl_window_args(&d->k.grad, 7, &d->l.g))
        return ocl_errorf(err, "depthwise_conv2d: bad kernel arguments"), -1;
    size_t nv = (size_t)(d->l.T + has_bias) * (size_t)CO;
    size_t local[2] = {LX, (size_t)d->ly};
    size_t global[2] = {(nv + LX - 1) / LX * LX,
                        (size_t)slices * (size_t)d->ly};
    int TC = d->l.T * CO;
    if (ocl_launch(d->o, &d->k.grad, 2, global, local, err) ||
        ocl_sum_slices(d->o, &d->k.sum_slices, d->parts, 0, slices, d->l.T,
                       CO, 0.0f, d->dw, CO, 0, err) ||
        (has_bias &&
         ocl_sum_slices(d->o, &d->k.sum_slices, d->parts, slices * TC, slices,
                        1, CO, 0.0f, d->db, CO, 0, err)))
        return -1;
    if (!dx)
        return 0;
    if (ocl_args(&d->k.input_grad, 5, OCL_ARG(dy), OCL_ARG(d->w), OCL_ARG(dx),
                 OCL_ARG(batch), OCL_ARG(CO)) ||
        ocl_window_args(&d->k.input_grad, 5, &d->l.g))
        return ocl_errorf(err, "depthwise_conv2d: bad kernel arguments"), -1;
    return ocl_run1d(d->o, &d->k.input_grad,
                     (size_t)batch * d->l.g.H * d->l.g.W * d->l.g.C, err);
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "depthwise_conv2d",
    .backend = "opencl",
    .impl = "direct",
    .summary = "depthwise 2-D convolution, a work-item per value, "
               "deterministic kernel-gradient reduction",
    .nsettings = DW_NSETTINGS,
    .settings = depthwise_conv2d_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, bind, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
