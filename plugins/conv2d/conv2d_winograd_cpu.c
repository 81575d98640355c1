/* conv2d on the native CPU by Winograd's F(4x4, 3x3) (winograd_cpu.c),
 * for 3x3 stride-1 layers whose channels and filters come in 16s (the
 * seed model's conv2): the forward pass, the input gradient (a 3x3
 * convolution of dy with the flipped kernel) and the weight gradient each
 * take 36 multiplications per 4x4 tile where a GEMM takes 144. Its
 * results differ from the GEMM's by rounding: on the seed model's conv2,
 * at most 7e-6 of the largest value (tests/test_layers.c allows 2e-5). */
#include <omp.h>
#include <stdlib.h>

#include "../common/cpu_common.h"
#include "conv2d_settings.h"
#include "winograd_cpu.h"

typedef struct {
    conv2d_layer l;
    clnet_window gt; /* the input gradient's convolution over dy */
    int nthreads;
    float *u;       /* transformed kernel: 36 x C x F */
    float *scratch; /* nthreads x winograd_scratch_floats */
    float *partial; /* nthreads x (36 x C x F + F) */
    float *pre;     /* l.post's input: the last forward pass's sums */
    float *w, *b, *dw, *db;
} conv;

static int fits(const clnet_create_args *a, conv2d_layer *l) {
    char err[CLNET_ERRLEN];
    return conv2d_read(a, l, err) == 0 && conv2d_winograd_fits(l);
}

/* Above the GEMM implementation (no score: 1), which it beats on every
 * layer it takes (BENCHMARKS.md). */
static int32_t score(const clnet_create_args *a) {
    conv2d_layer l;
    return fits(a, &l) ? 5 : 0;
}

static void destroy(void *s) {
    conv *c = s;
    if (!c)
        return;
    free(c->u);
    free(c->scratch);
    free(c->partial);
    free(c->pre);
    free(c);
}

static int create(const clnet_create_args *a, void **state, char *err) {
    conv *c = calloc(1, sizeof *c);
    if (!c)
        return cpu_errorf(err, "out of memory"), -1;
    if (conv2d_read(a, &c->l, err)) {
        destroy(c);
        return -1;
    }
    if (!conv2d_winograd_fits(&c->l)) {
        conv2d_winograd_refuse(a, &c->l, err);
        destroy(c);
        return -1;
    }
    c->gt = window_transposed(&c->l.g, c->l.F);
    cpu_set_threads(a->threads);
    c->nthreads = omp_get_max_threads();
    size_t T = (size_t)c->nthreads;
    c->scratch =
        cpu_alloc(T * winograd_scratch_floats(&c->l.g, c->l.F) * sizeof(float));
    if (!c->scratch) {
        destroy(c);
        return cpu_errorf(err, "out of memory for the Winograd buffers"), -1;
    }
    *state = c;
    return 0;
}

/* Buffers the size of the kernel: here, not in create(), which the core
 * also calls to plan memory before anything large may exist. */
static int bind(void *s, void *const *params, void *const *grads) {
    conv *c = s;
    c->w = params[0];
    c->b = params[1];
    c->dw = grads[0];
    c->db = grads[1];
    size_t T = (size_t)c->nthreads;
    if (!c->u)
        c->u = cpu_alloc(winograd_weight_floats(&c->l.g, c->l.F) *
                         sizeof(float));
    if (!c->partial)
        c->partial = cpu_alloc(T * winograd_partial_floats(&c->l.g, c->l.F) *
                               sizeof(float));
    if (c->l.post != ACT_LINEAR && !c->pre)
        c->pre = cpu_alloc(sizeof(float) * (size_t)c->l.B * c->l.P * c->l.F);
    return !c->u || !c->partial || (c->l.post != ACT_LINEAR && !c->pre) ? -1
                                                                        : 0;
}

static int forward(void *s, const clnet_step *st, const void *const *xs,
                   void *yv, char *err)
{
    const void *x = xs[0];
    (void)err;
    conv *c = s;
    float *y = yv;
    winograd_weights(&c->l.g, c->l.F, c->w, 0, c->u);
    winograd_forward(&c->l.g, c->l.F, x, c->u, c->b, c->l.act == ACT_RELU, y,
                     st->batch, c->nthreads, c->scratch);
    if (c->l.act != ACT_RELU && c->l.act != ACT_LINEAR)
        cpu_bias_activation(y, (size_t)st->batch * c->l.P, (size_t)c->l.F, NULL,
                            c->l.act);
    if (c->pre)
        cpu_post_activation(y, c->pre, (size_t)st->batch * c->l.P * c->l.F,
                            c->l.post);
    return 0;
}

static int backward(void *s, const clnet_step *st, const void *const *xs,
                    const void *y, void *dyv, void *const *dxs,
                    char *err)
{
    const void *x = xs[0];
    void *dx = dxs[0];
    (void)err;
    conv *c = s;
    float *dy = dyv;
    /* relu's mask is applied as the weight gradient reads dy */
    int relu = c->l.act == ACT_RELU;
    if (c->pre)
        cpu_post_activation_grad(c->pre, y, dy,
                                 (size_t)st->batch * c->l.P * c->l.F,
                                 c->l.post);
    if (!relu)
        cpu_activation_backward(y, dy, (size_t)st->batch * c->l.P,
                                (size_t)c->l.F, c->l.act, c->l.fused);
    winograd_weight_grad(&c->l.g, c->l.F, x, dy, relu ? y : NULL, dx != NULL,
                         c->dw, c->db, st->batch, c->nthreads, c->scratch,
                         c->partial);
    if (dx) {
        /* u is free until the next forward transforms w again */
        winograd_weights(&c->gt, c->l.g.C, c->w, 1, c->u);
        winograd_forward(&c->gt, c->l.g.C, dy, c->u, NULL, 0, dx, st->batch,
                         c->nthreads, c->scratch);
    }
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "conv2d",
    .backend = "cpu",
    .impl = "winograd",
    .summary = "2-D convolution by Winograd's F(4x4, 3x3), for 3x3 stride-1 "
               "layers with channels and filters in 16s",
    .nsettings = CONV_NSETTINGS,
    .settings = conv2d_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, bind, score},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
