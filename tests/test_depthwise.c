/* depthwise_conv2d (Keras's DepthwiseConv2D): the kind's shapes,
 * parameters and refusals; the native CPU plugin on hand-computed values
 * and against finite differences (the smooth activations too); the OpenCL
 * plugin against the CPU one on odd sizes with every activation (skipped
 * without an OpenCL device); and a MobileNet-style network built by the
 * core whose parameter count is Keras's, trained a few steps. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/depthwise_conv2d/depthwise_conv2d_settings.h"
#include "helpers.h"

static void dw_values(clnet_value *v, int kh, int kw, int s, int same, int M,
                      int act, int bias)
{
    memset(v, 0, sizeof(clnet_value) * DW_NSETTINGS);
    v[DW_KERNEL].i[0] = kh;
    v[DW_KERNEL].i[1] = kw;
    v[DW_STRIDES].i[0] = v[DW_STRIDES].i[1] = s;
    v[DW_PADDING].i[0] = same;
    v[DW_DEPTH_MULTIPLIER].i[0] = M;
    v[DW_ACTIVATION].i[0] = act;
    v[DW_USE_BIAS].i[0] = bias ? DW_USE_BIAS_TRUE : 1;
    v[DW_KERNEL_INITIALIZER].i[0] = CLNET_INIT_GLOROT_UNIFORM;
}

static clnet_step train_step(int32_t batch)
{
    clnet_step s = {batch, 1, 42, 7, 1.0};
    return s;
}

START_TEST(kind_shapes_parameters_and_fans)
{
    clnet_value v[DW_NSETTINGS];
    clnet_layer_plan p;
    char err[CLNET_ERRLEN] = "";
    /* 5x7x3, 3x3 kernel, stride 2, same, multiplier 2: Keras gives
     * ceil(5/2) x ceil(7/2) x 6 */
    dw_values(v, 3, 3, 2, 1, 2, ACT_RELU, 1);
    v[DW_KERNEL_INITIALIZER].i[0] = CLNET_INIT_HE_NORMAL;
    clnet_shape in = {5, 7, 3};
    ck_assert_msg(test_infer("depthwise_conv2d", v, &in, 1, &p, err) == 0,
                  "%s", err);
    ck_assert_int_eq(p.out.h, 3);
    ck_assert_int_eq(p.out.w, 4);
    ck_assert_int_eq(p.out.c, 6);
    ck_assert_int_eq(p.nparams, 2);
    ck_assert_str_eq(p.params[0].name, "depthwise_kernel");
    ck_assert_int_eq(p.params[0].ndim, 4);
    const int32_t dims[4] = {3, 3, 3, 2};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(p.params[0].dims[i], dims[i]);
    ck_assert_int_eq(p.params[0].init, CLNET_INIT_HE_NORMAL);
    /* Keras's compute_fans for (3, 3, 3, 2): receptive field 9, fan_in
     * 9 * 3, fan_out 9 * 2 */
    ck_assert_int_eq(p.params[0].fan_in, 27);
    ck_assert_int_eq(p.params[0].fan_out, 18);
    ck_assert_str_eq(p.params[1].name, "bias");
    ck_assert_int_eq(p.params[1].dims[0], 6);
    ck_assert_int_eq(p.params[1].init, CLNET_INIT_ZEROS);
    ck_assert_int_eq(p.output_softmax, 0);
    /* 3 * 4 * 6 outputs of 9 taps each */
    ck_assert_double_eq(p.flops_forward, 2.0 * 72 * 9);
    ck_assert_double_eq(p.flops_backward, 4.0 * 72 * 9);

    /* valid padding, no bias, softmax */
    dw_values(v, 3, 2, 1, 0, 1, ACT_SOFTMAX, 0);
    ck_assert_msg(test_infer("depthwise_conv2d", v, &in, 1, &p, err) == 0,
                  "%s", err);
    ck_assert_int_eq(p.out.h, 3);
    ck_assert_int_eq(p.out.w, 6);
    ck_assert_int_eq(p.out.c, 3);
    ck_assert_int_eq(p.nparams, 1);
    ck_assert_int_eq(p.output_softmax, 1);
}
END_TEST

START_TEST(kind_refusals)
{
    clnet_value v[DW_NSETTINGS];
    clnet_layer_plan p;
    char err[CLNET_ERRLEN] = "";
    dw_values(v, 3, 3, 1, 0, 1, ACT_LINEAR, 1);
    clnet_shape small = {2, 2, 3};
    ck_assert_int_ne(test_infer("depthwise_conv2d", v, &small, 1, &p, err), 0);
    ck_assert_msg(strstr(err, "larger than") && strstr(err, "padding=same"),
                  "%s", err);
    /* an output of 60000 x 60000 x 1000 values per sample */
    dw_values(v, 3, 3, 1, 1, 1, ACT_LINEAR, 1);
    clnet_shape big = {60000, 60000, 1000};
    ck_assert_int_ne(test_infer("depthwise_conv2d", v, &big, 1, &p, err), 0);
    ck_assert_msg(strstr(err, "more than 2147483647"), "%s", err);
    /* channels x multiplier past the limit */
    dw_values(v, 3, 3, 1, 1, 65536, ACT_LINEAR, 1);
    clnet_shape wide = {4, 4, 70000};
    ck_assert_int_ne(test_infer("depthwise_conv2d", v, &wide, 1, &p, err), 0);
    ck_assert_msg(strstr(err, "depth_multiplier"), "%s", err);
}
END_TEST

START_TEST(forward_and_backward_by_hand)
{
    /* 3x3x1 image 1..9, 2x2 kernel [1 2; 3 4], bias 0.5, valid */
    clnet_value v[DW_NSETTINGS];
    dw_values(v, 2, 2, 1, 0, 1, ACT_LINEAR, 1);
    test_layer l;
    test_layer_create(&l, "depthwise_conv2d", v, (clnet_shape){3, 3, 1}, 1, 0,
                      1);
    const float w[4] = {1, 2, 3, 4};
    memcpy(l.params[0], w, sizeof w);
    l.params[1][0] = 0.5f;
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, y[4], dx[9];
    clnet_step st = train_step(1);
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    /* 1+4+12+20, 2+6+15+24, 4+10+21+32, 5+12+24+36, plus 0.5 */
    const float ey[4] = {37.5f, 47.5f, 67.5f, 77.5f};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq_tol(y[i], ey[i], 1e-5f);
    /* the gradient picks outputs (0,0) and (1,1) */
    float dy[4] = {1, 0, 0, 1};
    ck_assert_int_eq(test_backward(l.p, l.state, &st, x, y, dy, dx, err), 0);
    /* kernel: the two windows added, [1+5 2+6; 4+8 5+9]; bias: 2 */
    const float edw[4] = {6, 8, 12, 14};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq_tol(l.grads[0][i], edw[i], 1e-5f);
    ck_assert_float_eq_tol(l.grads[1][0], 2.0f, 1e-6f);
    /* input: the kernel laid on each window, overlapping in the centre */
    const float edx[9] = {1, 2, 0, 3, 5, 2, 0, 3, 4};
    for (int i = 0; i < 9; i++)
        ck_assert_float_eq_tol(dx[i], edx[i], 1e-6f);
    test_layer_destroy(&l);
}
END_TEST

START_TEST(multiplier_channel_order_by_hand)
{
    /* one pixel of 2 channels (2, -3), 1x1 kernel, multiplier 2, relu, no
     * bias: output c * 2 + m is channel c times w[c][m] */
    clnet_value v[DW_NSETTINGS];
    dw_values(v, 1, 1, 1, 0, 2, ACT_RELU, 0);
    test_layer l;
    test_layer_create(&l, "depthwise_conv2d", v, (clnet_shape){1, 1, 2}, 1, 0,
                      1);
    ck_assert_int_eq(l.plan.out.c, 4);
    const float w[4] = {1, -1, 2, -2}; /* w[c][m] */
    memcpy(l.params[0], w, sizeof w);
    float x[2] = {2, -3}, y[4], dy[4] = {1, 1, 1, 1}, dx[2];
    clnet_step st = train_step(1);
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    /* before relu 2, -2, -6, 6 */
    const float ey[4] = {2, 0, 0, 6};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq_tol(y[i], ey[i], 1e-6f);
    ck_assert_int_eq(test_backward(l.p, l.state, &st, x, y, dy, dx, err), 0);
    /* relu passes outputs 0 and 3 only */
    const float edw[4] = {2, 0, 0, -3};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq_tol(l.grads[0][i], edw[i], 1e-6f);
    ck_assert_float_eq_tol(dx[0], 1.0f, 1e-6f);
    ck_assert_float_eq_tol(dx[1], -2.0f, 1e-6f);
    test_layer_destroy(&l);
}
END_TEST

typedef struct {
    int H, W, C, kh, kw, s, same, M, act, bias, batch;
} dw_case;

/* Sizes that are no multiple of any vector or tile: batch 1, 5x7 images,
 * 3 channels, multiplier 2, stride 2 with same padding; 40 and 17
 * channels for the vector blocks and their tails. */
static const dw_case grad_cases[] = {
    {5, 7, 3, 3, 3, 2, 1, 2, ACT_LINEAR, 1, 1},
    {5, 7, 3, 3, 3, 1, 0, 1, ACT_LINEAR, 1, 2},
    {6, 5, 4, 3, 2, 2, 1, 3, ACT_SOFTMAX, 0, 2},
    {4, 6, 2, 5, 5, 1, 1, 1, ACT_SOFTMAX, 1, 2},
    {6, 6, 5, 2, 2, 2, 1, 1, ACT_LINEAR, 0, 2},
    {6, 5, 40, 3, 3, 1, 1, 1, ACT_LINEAR, 1, 1},
    {5, 6, 17, 3, 3, 2, 1, 2, ACT_LINEAR, 1, 1},
    /* the smooth activations: from y alone, and from the sums before the
     * activation (gelu, swish) */
    {5, 7, 3, 3, 3, 2, 1, 2, ACT_SIGMOID, 1, 2},
    {5, 7, 3, 3, 3, 1, 1, 1, ACT_TANH, 1, 2},
    {5, 7, 3, 3, 3, 2, 1, 2, ACT_ELU, 1, 2},
    {5, 7, 3, 3, 3, 2, 1, 2, ACT_GELU, 1, 2},
    {6, 5, 20, 3, 3, 1, 1, 1, ACT_SWISH, 1, 2},
};

START_TEST(gradients_match_finite_differences)
{
    const dw_case *c = &grad_cases[_i];
    clnet_value v[DW_NSETTINGS];
    dw_values(v, c->kh, c->kw, c->s, c->same, c->M, c->act, c->bias);
    test_layer l;
    test_layer_create(&l, "depthwise_conv2d", v,
                      (clnet_shape){c->H, c->W, c->C}, c->batch, 0, 5);
    unsigned seed = 11;
    float *x = malloc(sizeof(float) * l.in_size * (size_t)c->batch);
    test_fill(x, l.in_size * (size_t)c->batch, -1, 1, &seed);
    test_gradcheck(&l, x, 1e-2f, 2e-3);
    free(x);
    test_layer_destroy(&l);
}
END_TEST

/* The relu case against a plain reference (finite differences stumble on
 * relu's kink): forward and all three gradients, and a second backward
 * giving bit-identical parameter gradients. */
START_TEST(relu_matches_reference)
{
    const int B = 2, H = 7, W = 6, C = 33, M = 1, K = 3, S = 2;
    clnet_value v[DW_NSETTINGS];
    dw_values(v, K, K, S, 1, M, ACT_RELU, 1);
    test_layer l;
    test_layer_create(&l, "depthwise_conv2d", v, (clnet_shape){H, W, C}, B, 0,
                      3);
    const int OH = l.plan.out.h, OW = l.plan.out.w, CO = l.plan.out.c;
    ck_assert_int_eq(OH, 4);
    ck_assert_int_eq(OW, 3);
    /* Keras's same padding: total (OH - 1) S + K - H = 2, 1 before */
    const int PT = 1, PL = ((OW - 1) * S + K - W) / 2;
    size_t nx = (size_t)B * H * W * C, ny = (size_t)B * OH * OW * CO;
    float *x = malloc(nx * 4), *y = malloc(ny * 4), *dy = malloc(ny * 4);
    float *dx = malloc(nx * 4), *g = malloc(ny * 4);
    double *rdx = calloc(nx, 8), *rdw = calloc((size_t)K * K * CO, 8),
           *rdb = calloc((size_t)CO, 8);
    unsigned seed = 5;
    test_fill(x, nx, -1, 1, &seed);
    test_fill(dy, ny, -1, 1, &seed);
    clnet_step st = train_step(B);
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    const float *w = l.params[0], *b = l.params[1];
    for (int n = 0; n < B; n++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++)
                for (int o = 0; o < CO; o++) {
                    double s = b[o];
                    for (int ky = 0; ky < K; ky++)
                        for (int kx = 0; kx < K; kx++) {
                            int iy = oy * S - PT + ky, ix = ox * S - PL + kx;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                s += (double)x[((n * H + iy) * W + ix) * C +
                                               o / M] *
                                     w[(ky * K + kx) * CO + o];
                        }
                    size_t i = (((size_t)n * OH + oy) * OW + ox) * CO + o;
                    ck_assert_float_eq_tol(y[i], s > 0 ? s : 0, 1e-5);
                    double gv = s > 0 ? dy[i] : 0;
                    rdb[o] += gv;
                    for (int ky = 0; ky < K; ky++)
                        for (int kx = 0; kx < K; kx++) {
                            int iy = oy * S - PT + ky, ix = ox * S - PL + kx;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                continue;
                            size_t xi = ((n * H + iy) * W + ix) * C + o / M;
                            size_t wi = (ky * K + kx) * CO + o;
                            rdw[wi] += x[xi] * gv;
                            rdx[xi] += w[wi] * gv;
                        }
                }
    memcpy(g, dy, ny * 4);
    ck_assert_int_eq(test_backward(l.p, l.state, &st, x, y, g, dx, err), 0);
    for (size_t i = 0; i < nx; i++)
        ck_assert_float_eq_tol(dx[i], rdx[i], 1e-5);
    for (int i = 0; i < K * K * CO; i++)
        ck_assert_float_eq_tol(l.grads[0][i], rdw[i], 1e-5);
    for (int i = 0; i < CO; i++)
        ck_assert_float_eq_tol(l.grads[1][i], rdb[i], 1e-5);
    /* again, without the input gradient: the same bits */
    float *dw1 = malloc((size_t)K * K * CO * 4);
    memcpy(dw1, l.grads[0], (size_t)K * K * CO * 4);
    memcpy(g, dy, ny * 4);
    ck_assert_int_eq(test_backward(l.p, l.state, &st, x, y, g, NULL, err), 0);
    ck_assert(memcmp(dw1, l.grads[0], (size_t)K * K * CO * 4) == 0);
    free(dw1);
    free(x);
    free(y);
    free(dy);
    free(dx);
    free(g);
    free(rdx);
    free(rdw);
    free(rdb);
    test_layer_destroy(&l);
}
END_TEST

/* ---- OpenCL against the native CPU ---- */

static const clnet_plugin *dev;
static void *ctx;

static int have_opencl(void) { return (dev = test_opencl(&ctx)) != NULL; }

static void *upload(const float *host, size_t n)
{
    return test_upload(dev, ctx, host, n);
}

static void download(const void *buf, float *host, size_t n)
{
    test_download(dev, ctx, buf, host, n);
}

static void agree(const char *what, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabsf(a[i] - b[i]) <= 1e-4f * (1 + fabsf(b[i])),
                      "%s[%zu]: OpenCL %g, CPU %g", what, i, a[i], b[i]);
}

START_TEST(opencl_agrees_with_cpu)
{
    if (!have_opencl())
        return;
    /* every activation, on sizes no multiple of anything */
    const dw_case cases[] = {
        {5, 7, 3, 3, 3, 2, 1, 2, ACT_RELU, 1, 1},
        {5, 7, 3, 3, 3, 1, 0, 1, ACT_LINEAR, 1, 3},
        {6, 5, 4, 3, 2, 2, 1, 3, ACT_SOFTMAX, 0, 2},
        {9, 8, 40, 3, 3, 1, 1, 1, ACT_RELU, 1, 2},
        {5, 7, 3, 3, 3, 2, 1, 2, ACT_SIGMOID, 1, 1},
        {5, 7, 3, 3, 3, 1, 1, 1, ACT_TANH, 0, 2},
        {5, 7, 3, 3, 3, 2, 1, 2, ACT_LEAKY_RELU, 1, 1},
        {5, 7, 3, 3, 3, 2, 1, 1, ACT_ELU, 1, 2},
        {5, 7, 3, 3, 3, 2, 1, 2, ACT_GELU, 1, 1},
        {6, 5, 17, 3, 3, 1, 1, 1, ACT_SWISH, 1, 2},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const dw_case *c = &cases[k];
        clnet_value v[DW_NSETTINGS];
        dw_values(v, c->kh, c->kw, c->s, c->same, c->M, c->act, c->bias);
        test_layer l;
        test_layer_create(&l, "depthwise_conv2d", v,
                          (clnet_shape){c->H, c->W, c->C}, c->batch, 0, 9);
        size_t nx = l.in_size * (size_t)c->batch,
               ny = l.out_size * (size_t)c->batch;
        float *x = malloc(nx * 4), *y = malloc(ny * 4), *dy = malloc(ny * 4);
        float *dx = malloc(nx * 4), *g = malloc(ny * 4);
        unsigned seed = 21;
        test_fill(x, nx, -1, 1, &seed);
        test_fill(dy, ny, -1, 1, &seed);
        clnet_step st = train_step(c->batch);
        char err[CLNET_ERRLEN];
        ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
        memcpy(g, dy, ny * 4);
        ck_assert_int_eq(test_backward(l.p, l.state, &st, x, y, g, dx, err),
                         0);

        const clnet_plugin *op =
            clnet_registry_find(test_registry(), "depthwise_conv2d", "opencl");
        ck_assert_ptr_nonnull(op);
        clnet_create_args a = {0};
        a.settings = v;
        a.ninputs = 1;
        a.in = &l.in;
        a.plan = &l.plan;
        a.max_batch = c->batch + 1; /* a call below the largest batch */
        a.threads = 2;
        a.tuning = "";
        a.device = ctx;
        void *state;
        ck_assert_msg(op->create(&a, &state, err) == 0, "%s", err);
        void *params[2] = {0}, *grads[2] = {0};
        for (int i = 0; i < l.plan.nparams; i++) {
            params[i] = upload(l.params[i], l.nparam[i]);
            grads[i] = upload(NULL, l.nparam[i]);
        }
        ck_assert_int_eq(op->layer.bind(state, params, grads), 0);
        void *bx = upload(x, nx), *by = upload(NULL, ny), *bdy = upload(dy, ny);
        void *bdx = upload(NULL, nx);
        float *oy = malloc(ny * 4), *odx = malloc(nx * 4);
        ck_assert_msg(test_forward(op, state, &st, bx, by, err) == 0, "%s",
                      err);
        ck_assert_msg(
            test_backward(op, state, &st, bx, by, bdy, bdx, err) == 0, "%s",
            err);
        download(by, oy, ny);
        download(bdx, odx, nx);
        agree("y", oy, y, ny);
        agree("dx", odx, dx, nx);
        for (int i = 0; i < l.plan.nparams; i++) {
            float *og = malloc(l.nparam[i] * 4);
            download(grads[i], og, l.nparam[i]);
            agree(l.plan.params[i].name, og, l.grads[i], l.nparam[i]);
            free(og);
            dev->device.release(ctx, params[i]);
            dev->device.release(ctx, grads[i]);
        }
        op->destroy(state);
        dev->device.release(ctx, bx);
        dev->device.release(ctx, by);
        dev->device.release(ctx, bdy);
        dev->device.release(ctx, bdx);
        free(oy);
        free(odx);
        free(x);
        free(y);
        free(dy);
        free(dx);
        free(g);
        test_layer_destroy(&l);
    }
}
END_TEST

/* A MobileNet-style network, from this Keras model:
 *
 *   keras.Sequential([
 *       keras.Input((28, 28, 1)),
 *       layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
 *       layers.DepthwiseConv2D(3, padding="same", activation="relu"),
 *       layers.Conv2D(32, 1, activation="relu"),
 *       layers.DepthwiseConv2D(3, strides=2, padding="same",
 *                              depth_multiplier=2, use_bias=False),
 *       layers.Conv2D(64, 1, activation="relu"),
 *       layers.MaxPooling2D(7),
 *       layers.Flatten(),
 *       layers.Dense(10, activation="softmax"),
 *   ])
 *
 * Parameters by Keras's rules: Conv2D 3*3*1*16 + 16 = 160 (14x14x16);
 * DepthwiseConv2D 3*3*16*1 + 16 = 160 (14x14x16); Conv2D 1*1*16*32 + 32 =
 * 544; DepthwiseConv2D 3*3*32*2 = 576, no bias (7x7x64); Conv2D 1*1*64*64
 * + 64 = 4160; MaxPooling2D and Flatten none (1x1x64, 64); Dense 64*10 +
 * 10 = 650. Total 6,250. */
static const char *mobile_net =
    "input shape=28x28x1\n"
    "conv2d filters=16 kernel=3 strides=2 padding=same activation=relu\n"
    "depthwise_conv2d kernel_size=3 padding=same activation=relu\n"
    "conv2d filters=32 kernel=1 activation=relu\n"
    "depthwise_conv2d kernel=3x3 strides=2 padding=same depth_multiplier=2 "
    "use_bias=false depthwise_initializer=he_uniform\n"
    "conv2d filters=64 kernel=1 activation=relu\n"
    "maxpool2d pool=7\n"
    "flatten\n"
    "dense units=10 activation=softmax\n"
    "train optimizer=adam lr=0.01 loss=sparse_categorical_crossentropy "
    "batch=16 epochs=3\n";

/* Random 28x28 images whose label is a band of bright rows. */
static void synthetic(clnet_dataset *ds, int32_t count, unsigned seed)
{
    *ds = (clnet_dataset){0};
    ds->count = count;
    ds->rows = ds->cols = 28;
    ds->pixels = malloc((size_t)count * 784);
    ds->labels = malloc(sizeof(int32_t) * (size_t)count);
    for (int32_t i = 0; i < count; i++) {
        int32_t label = i % 10;
        for (int p = 0; p < 784; p++) {
            seed = seed * 1103515245u + 12345u;
            ds->pixels[(size_t)i * 784 + p] =
                (uint8_t)(p / 78 == label ? 200 + (seed >> 28) : seed >> 27);
        }
        ds->labels[i] = label;
    }
}

typedef struct {
    double first, last;
    int n;
} loss_track;

static void on_step(int64_t step, double loss, void *user)
{
    (void)step;
    loss_track *t = user;
    if (t->n++ == 0)
        t->first = loss;
    t->last = loss;
}

START_TEST(mobilenet_block_counts_and_trains)
{
    clnet_error e;
    clnet_build_options o = {.max_batch = 16, .threads = 2, .seed = 3};
    clnet_net *n = test_build(mobile_net, &o, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    ck_assert_int_eq(clnet_net_param_count(n), 6250);
    ck_assert_int_eq(clnet_net_classes(n), 10);
    clnet_dataset ds;
    synthetic(&ds, 160, 7);
    loss_track t = {0};
    clnet_train_options to = {0};
    to.on_step = on_step;
    to.user = &t;
    ck_assert_msg(clnet_train(n, &ds, NULL, &to, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(t.n, 30);
    ck_assert_msg(isfinite(t.last) && t.last < 0.5 * t.first,
                  "loss %g -> %g", t.first, t.last);
    clnet_dataset_free(&ds);
    clnet_net_free(n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("depthwise");
    TCase *tc = tcase_create("depthwise");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, kind_shapes_parameters_and_fans);
    tcase_add_test(tc, kind_refusals);
    tcase_add_test(tc, forward_and_backward_by_hand);
    tcase_add_test(tc, multiplier_channel_order_by_hand);
    tcase_add_loop_test(tc, gradients_match_finite_differences, 0,
                        (int)(sizeof grad_cases / sizeof grad_cases[0]));
    tcase_add_test(tc, relu_matches_reference);
    tcase_add_test(tc, opencl_agrees_with_cpu);
    tcase_add_test(tc, mobilenet_block_counts_and_trains);
    suite_add_tcase(s, tc);
    return test_run(s);
}
