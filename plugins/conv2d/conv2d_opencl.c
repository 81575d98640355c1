/* conv2d on OpenCL with the project's GEMM, NHWC, one plugin per
 * algorithm (each with the parameter sets of its family of cl/gemm.cl). The tiles family (GPUs) goes through im2col; the column
 * matrix of the whole batch is kept from forward to backward when it fits
 * a budget, else rebuilt per chunk of images. The vector family (CPU
 * devices) reads x straight from its forward product and weight gradient
 * (an implicit GEMM: no column matrix), and for stride 1 forms the input
 * gradient the same way, as a convolution of dy with the flipped
 * weights; otherwise the input gradient is dy w' and col2im. Bias and
 * relu go in the product's epilogue, softmax after it. */
#include <stdlib.h>

#include "../common/activation.h"
#include "../opencl/ocl_common.h"
#include "conv2d_cl.h"
#include "conv2d_settings.h"

#define KEEP_COLS_BYTES (256u << 20)
#define CHUNK_BYTES (32u << 20)

/* OCL_GEMM_VEC picks the algorithm: the implicit GEMM of the vector
 * family, or im2col and the tiles family; each takes its family's
 * parameter sets */
#ifdef OCL_GEMM_VARIANT_VEC
#define OCL_GEMM_VEC 1
#define CONV_IMPL "implicit-gemm"
static const char *const tunings[] = {OCL_GEMM_VEC_SETS, NULL};
#else
#define OCL_GEMM_VEC 0
#define CONV_IMPL "im2col-gemm"
static const char *const tunings[] = {OCL_GEMM_TILES_SETS, NULL};
#endif

typedef struct {
    ocl_gemm g;
    ocl_act a;
    ocl_kernel col2im;
#if OCL_GEMM_VEC
    ocl_kernel weight_grad, forward, flip;
#else
    ocl_kernel im2col;
#endif
} kernels;
static const char *const names[] = {OCL_GEMM_KERNELS,
                                    OCL_ACT_KERNELS,
                                    "col2im",
#if OCL_GEMM_VEC
                                    "conv_weight_grad",
                                    "conv_forward",
                                    "flip_weights",
#else
                                    "im2col",
#endif
                                    NULL};

typedef struct {
    clnet_ocl *o;
    cl_program prog;
    kernels k;
    conv2d_layer l;
    int32_t chunk, keep_cols;
    int transposed; /* dx by transposed_grad, not dy w' and col2im */
    ocl_gemm_shape gs;
    cl_mem col, dcol, w, b, dw, db;
    cl_mem pre; /* l.post's input: the last forward pass's sums */
    ocl_scratch scratch;
} conv;

static void destroy(void *s) {
    conv *c = s;
    if (!c)
        return;
    if (c->col)
        clReleaseMemObject(c->col);
    if (c->dcol)
        clReleaseMemObject(c->dcol);
    if (c->pre)
        clReleaseMemObject(c->pre);
    if (c->scratch.buf)
        clReleaseMemObject(c->scratch.buf);
    ocl_release(c->prog, (ocl_kernel *)&c->k, sizeof c->k / sizeof(ocl_kernel));
    free(c);
}

static int create(const clnet_create_args *a, void **state, char *err) {
    conv *c = calloc(1, sizeof *c);
    if (!c)
        return ocl_errorf(err, "out of memory"), -1;
    c->o = a->device;
    if (conv2d_read(a, &c->l, err) ||
        ocl_gemm_choose(c->o, a->tuning, OCL_GEMM_VEC, a->plan->out.c,
                        &c->gs, err)) {
        destroy(c);
        return -1;
    }
    if (OCL_GEMM_VEC && conv2d_dilated(&c->l.g)) {
        ocl_errorf(err, "the implicit GEMM does not dilate; use "
                        "opencl/im2col-gemm");
        destroy(c);
        return -1;
    }
    size_t per_image = (size_t)c->l.P * (size_t)c->l.K * sizeof(float);
    c->keep_cols = (size_t)c->l.B * per_image <= KEEP_COLS_BYTES &&
                   (size_t)c->l.B * per_image <= c->o->max_alloc;
    c->chunk = (int32_t)(CHUNK_BYTES / per_image);
    c->chunk = c->chunk < 1 ? 1 : c->chunk > c->l.B ? c->l.B : c->chunk;
    if (c->keep_cols)
        c->chunk = c->l.B;
    if ((size_t)c->l.B * c->l.g.H * c->l.g.W * c->l.g.C >
            OCL_MAX_INT_ELEMENTS ||
        (size_t)c->l.B * c->l.P * c->l.F > OCL_MAX_INT_ELEMENTS ||
        (size_t)c->chunk * per_image / 4 > OCL_MAX_INT_ELEMENTS) {
        ocl_errorf(err, "this layer's tensors are too large for 32-bit "
                        "indices; use a smaller batch");
        destroy(c);
        return -1;
    }
    c->scratch.floats =
        ocl_layer_scratch(&c->gs, (size_t)c->chunk * c->l.P,
                          (size_t)c->l.B * c->l.P, c->l.K, c->l.F);
#if OCL_GEMM_VEC
    /* a larger stride would need dy spread out with zeros; channels in
     * whole column blocks keep conv_forward on its vector path */
    c->transposed = c->l.g.SH == 1 && c->l.g.SW == 1 &&
                    c->l.g.C % (16 * c->gs.nv) == 0;
    if (c->transposed && c->scratch.floats < (size_t)c->l.K * c->l.F)
        c->scratch.floats = (size_t)c->l.K * c->l.F; /* flipped weights */
#endif
    if (ocl_gemm_program(c->o, &c->gs, conv2d_cl, &c->prog, names,
                         (ocl_kernel *)&c->k, err) ||
        (!OCL_GEMM_VEC &&
         !(c->col = ocl_buffer(c->o, (size_t)c->chunk * per_image, err))) ||
        (!c->transposed &&
         !(c->dcol = ocl_buffer(c->o, (size_t)c->chunk * per_image, err))) ||
        !(c->scratch.buf =
              ocl_buffer(c->o, c->scratch.floats * sizeof(float), err)) ||
        (c->l.post != ACT_LINEAR &&
         !(c->pre = ocl_buffer(c->o,
                               sizeof(float) * (size_t)c->l.B * c->l.P *
                                   (size_t)c->l.F,
                               err)))) {
        destroy(c);
        return -1;
    }
    *state = c;
    return 0;
}

/* each algorithm where its family suits the device */
static int32_t score(const clnet_create_args *a) {
    if (OCL_GEMM_VEC && conv2d_settings_dilated(a))
        return 0; /* the implicit GEMM reads undilated windows */
    return ((const clnet_ocl *)a->device)->is_gpu == !OCL_GEMM_VEC ? 10 : 1;
}

static int bind(void *s, void *const *params, void *const *grads) {
    conv *c = s;
    c->w = params[0];
    c->b = params[1];
    c->dw = grads[0];
    c->db = grads[1];
    return 0;
}

/* im2col's and col2im's last two arguments, after the window's. */
static int dilation_args(ocl_kernel *k, const clnet_window *g) {
    return clSetKernelArg(k->k, 15, sizeof g->DH, &g->DH) != CL_SUCCESS ||
           clSetKernelArg(k->k, 16, sizeof g->DW, &g->DW) != CL_SUCCESS;
}

#if !OCL_GEMM_VEC
/* col <- im2col of n images starting at image `start` of x. */
static int im2col(conv *c, cl_mem x, int32_t start, int32_t n, char *err) {
    int xoff = start * c->l.g.H * c->l.g.W * c->l.g.C;
    int args_bad = ocl_args(&c->k.im2col, 4, OCL_ARG(x), OCL_ARG(xoff),
                            OCL_ARG(c->col), OCL_ARG(n)) ||
                   ocl_window_args(&c->k.im2col, 4, &c->l.g) ||
                   dilation_args(&c->k.im2col, &c->l.g);
    if (args_bad)
        return ocl_errorf(err, "im2col: bad arguments"), -1;
    return ocl_run1d(c->o, &c->k.im2col, (size_t)n * c->l.P, err);
}
#endif

#if OCL_GEMM_VEC
/* y from x directly (cl/conv2d.cl's conv_forward), bias and relu in its
 * epilogue. */
static int forward_direct(conv *c, cl_mem x, cl_mem y, int pixels, char *err) {
    ocl_kernel *k = &c->k.forward;
    int epi = 1 | (c->l.act == ACT_RELU ? 2 : 0); /* gemm.cl's EPI_ bits */
    if (ocl_args(k, 7, OCL_ARG(x), OCL_ARG(c->w), OCL_ARG(y), OCL_ARG(pixels),
                 OCL_ARG(c->l.F), OCL_ARG(c->b), OCL_ARG(epi)) ||
        ocl_window_args(k, 7, &c->l.g))
        return ocl_errorf(err, "conv_forward: bad arguments"), -1;
    return ocl_launch_vec(c->o, k, &c->gs, pixels, c->l.F, 1, err);
}
#endif

static int forward(void *s, const clnet_step *st, const void *const *xs,
                   void *yv, char *err)
{
    const void *xv = xs[0];
    conv *c = s;
    cl_mem x = (cl_mem)xv, y = (cl_mem)yv;
#if OCL_GEMM_VEC
    if (forward_direct(c, x, y, st->batch * c->l.P, err))
        return -1;
#else
    ocl_epilogue ep = {c->b, c->l.act == ACT_RELU};
    for (int32_t start = 0; start < st->batch; start += c->chunk) {
        int32_t n = st->batch - start < c->chunk ? st->batch - start : c->chunk;
        if (im2col(c, x, start, n, err) ||
            ocl_sgemm(c->o, &c->k.g, &c->gs, 0, 0, n * c->l.P, c->l.F, c->l.K,
                      1.0f, c->col, c->l.K, 0, c->w, c->l.F, 0, 0.0f, y, c->l.F,
                      (size_t)start * c->l.P * c->l.F, NULL, &ep, err))
            return -1;
    }
#endif
    if (c->pre)
        return ocl_post_activation(c->o, &c->k.a, y, c->pre, c->l.post,
                                   (size_t)st->batch * c->l.P * c->l.F, err);
    if (c->l.act == ACT_RELU || c->l.act == ACT_LINEAR)
        return 0;
    return ocl_bias_activation(c->o, &c->k.a, y, NULL, c->l.act,
                               (size_t)st->batch * c->l.P, c->l.F, err);
}

#if OCL_GEMM_VEC
/* dw from x and dy directly (cl/conv2d.cl's conv_weight_grad), in
 * cache-sized slices of output pixels added up, as ocl_sgemm's A' B. */
static int weight_grad(conv *c, cl_mem x, cl_mem dy, int pixels, char *err) {
    ocl_kernel *k = &c->k.weight_grad;
    int step = ocl_cache_slice(c->l.K, c->l.F);
    for (int p0 = 0; p0 < pixels; p0 += step) {
        int p1 = pixels - p0 < step ? pixels : p0 + step;
        float beta = p0 ? 1.0f : 0.0f;
        if (ocl_args(k, 7, OCL_ARG(x), OCL_ARG(dy), OCL_ARG(c->dw), OCL_ARG(p0),
                     OCL_ARG(p1), OCL_ARG(beta), OCL_ARG(c->l.F)) ||
            ocl_window_args(k, 7, &c->l.g))
            return ocl_errorf(err, "conv_weight_grad: bad arguments"), -1;
        if (ocl_launch_vec(c->o, k, &c->gs, c->l.K, c->l.F, 1, err))
            return -1;
    }
    return 0;
}

/* dx as a stride-1 convolution of dy with the flipped weights (in
 * scratch), by conv_forward: no column matrix and no col2im (conv2 on
 * PoCL: 12.4 -> 9.7 ms). */
static int transposed_grad(conv *c, cl_mem dy, cl_mem dx, int n, char *err) {
    const clnet_window *g = &c->l.g;
    clnet_window t = window_transposed(g, c->l.F);
    int no_epilogue = 0, pixels = n * g->H * g->W;
    ocl_kernel *f = &c->k.flip, *k = &c->k.forward;
    if (ocl_args(f, 6, OCL_ARG(c->w), OCL_ARG(c->scratch.buf),
                 OCL_ARG(g->KH), OCL_ARG(g->KW), OCL_ARG(g->C),
                 OCL_ARG(c->l.F)) ||
        ocl_args(k, 7, OCL_ARG(dy), OCL_ARG(c->scratch.buf), OCL_ARG(dx),
                 OCL_ARG(pixels), OCL_ARG(g->C), OCL_ARG(c->b),
                 OCL_ARG(no_epilogue)) ||
        ocl_window_args(k, 7, &t))
        return ocl_errorf(err, "conv2d input gradient: bad arguments"), -1;
    if (ocl_run1d(c->o, f, (size_t)c->l.K * c->l.F, err))
        return -1;
    return ocl_launch_vec(c->o, k, &c->gs, pixels, g->C, 1, err);
}
#endif

static int backward(void *s, const clnet_step *st, const void *const *xs,
                    const void *yv, void *dyv, void *const *dxs,
                    char *err)
{
    const void *xv = xs[0];
    void *dxv = dxs[0];
    conv *c = s;
    cl_mem x = (cl_mem)xv, dy = (cl_mem)dyv, dx = (cl_mem)dxv;
    size_t rows = (size_t)st->batch * c->l.P;
    if (c->pre && ocl_post_activation_grad(c->o, &c->k.a, c->pre, (cl_mem)yv,
                                           dy, c->l.post, rows * c->l.F, err))
        return -1;
    if (ocl_bias_activation_backward(c->o, &c->k.a, &c->k.g, (cl_mem)yv, dy,
                                     c->db, c->l.act, c->l.fused, rows, c->l.F,
                                     &c->scratch, err))
        return -1;
#if OCL_GEMM_VEC
    if (weight_grad(c, x, dy, (int)rows, err))
        return -1;
    if (c->transposed)
        return dx ? transposed_grad(c, dy, dx, st->batch, err) : 0;
#endif
    for (int32_t start = 0; start < st->batch; start += c->chunk) {
        int32_t n = st->batch - start < c->chunk ? st->batch - start : c->chunk;
        size_t off = (size_t)start * c->l.P * c->l.F;
#if !OCL_GEMM_VEC
        if (!c->keep_cols && im2col(c, x, start, n, err))
            return -1;
        if (ocl_sgemm(c->o, &c->k.g, &c->gs, 1, 0, c->l.K, c->l.F, n * c->l.P,
                      1.0f, c->col, c->l.K, 0, dy, c->l.F, off,
                      start == 0 ? 0.0f : 1.0f, c->dw, c->l.F, 0, &c->scratch,
                      NULL, err))
            return -1;
#endif
        if (!dx)
            continue;
        if (ocl_sgemm(c->o, &c->k.g, &c->gs, 0, 1, n * c->l.P, c->l.K, c->l.F,
                      1.0f, dy, c->l.F, off, c->w, c->l.F, 0, 0.0f, c->dcol,
                      c->l.K, 0, &c->scratch, NULL, err))
            return -1;
        int dxoff = start * c->l.g.H * c->l.g.W * c->l.g.C;
        int bad = ocl_args(&c->k.col2im, 4, OCL_ARG(c->dcol), OCL_ARG(dx),
                           OCL_ARG(dxoff), OCL_ARG(n)) ||
                  ocl_window_args(&c->k.col2im, 4, &c->l.g) ||
                  dilation_args(&c->k.col2im, &c->l.g);
        if (bad)
            return ocl_errorf(err, "col2im: bad arguments"), -1;
        if (ocl_run1d(c->o, &c->k.col2im, (size_t)n * c->l.g.H * c->l.g.W, err))
            return -1;
    }
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "conv2d",
    .backend = "opencl",
    .impl = CONV_IMPL,
    .summary = OCL_GEMM_VEC ? "2-D convolution, implicit GEMM (vector "
                              "family of cl/gemm.cl)"
                            : "2-D convolution, im2col and GEMM (tiles "
                              "family of cl/gemm.cl)",
    .nsettings = CONV_NSETTINGS,
    .settings = conv2d_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, bind, score, tunings},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
