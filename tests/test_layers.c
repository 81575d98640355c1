/* Each native CPU layer: forward on hand-computed values, backward against
 * finite differences. The plugins are reached through the registry and the
 * plugin ABI, as the core reaches them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/conv2d/conv2d_settings.h"
#include "../plugins/dense/dense_settings.h"
#include "../plugins/maxpool2d/maxpool2d_settings.h"
#include "helpers.h"

static clnet_step train_step(int32_t batch)
{
    clnet_step s = {batch, 1, 42, 7, 1.0};
    return s;
}

static void conv_values(clnet_value *v, int filters, int kh, int kw, int s,
                        int same, int act)
{
    memset(v, 0, sizeof(clnet_value) * CONV_NSETTINGS);
    v[CONV_FILTERS].i[0] = filters;
    v[CONV_KERNEL].i[0] = kh;
    v[CONV_KERNEL].i[1] = kw;
    v[CONV_STRIDES].i[0] = v[CONV_STRIDES].i[1] = s;
    v[CONV_PADDING].i[0] = same;
    v[CONV_ACTIVATION].i[0] = act;
}

static const char *const conv_impls[] = {"conv2d/gemm",
                                         "conv2d/direct"};

START_TEST(conv2d_forward_by_hand)
{
    clnet_value v[CONV_NSETTINGS];
    conv_values(v, 1, 2, 2, 1, 0, 1 /* relu */);
    test_layer l;
    test_layer_create(&l, conv_impls[_i], v, (clnet_shape){3, 3, 1}, 1, 0, 1);
    ck_assert_int_eq(l.plan.out.h, 2);
    ck_assert_int_eq(l.plan.out.c, 1);
    for (int i = 0; i < 4; i++)
        l.params[0][i] = 1.0f;
    l.params[1][0] = -13.0f;
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, y[4];
    clnet_step st = train_step(1);
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    /* window sums 12 16 24 28, minus 13, then relu */
    ck_assert_float_eq_tol(y[0], 0.0f, 1e-6f);
    ck_assert_float_eq_tol(y[1], 3.0f, 1e-6f);
    ck_assert_float_eq_tol(y[2], 11.0f, 1e-6f);
    ck_assert_float_eq_tol(y[3], 15.0f, 1e-6f);
    test_layer_destroy(&l);
}
END_TEST

START_TEST(conv2d_same_padding_by_hand)
{
    /* 3x3 input, 3x3 kernel of ones, same padding, stride 2: outputs at
     * (0,0), (0,2), (2,0), (2,2) sum their in-bounds 2x2 neighbourhoods */
    clnet_value v[CONV_NSETTINGS];
    conv_values(v, 1, 3, 3, 2, 1, 0);
    test_layer l;
    test_layer_create(&l, conv_impls[_i], v, (clnet_shape){3, 3, 1}, 1, 0, 1);
    ck_assert_int_eq(l.plan.out.h, 2);
    ck_assert_int_eq(l.plan.out.w, 2);
    for (int i = 0; i < 9; i++)
        l.params[0][i] = 1.0f;
    l.params[1][0] = 0.0f;
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, y[4];
    clnet_step st = train_step(1);
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    ck_assert_float_eq_tol(y[0], 1 + 2 + 4 + 5, 1e-5f);
    ck_assert_float_eq_tol(y[1], 2 + 3 + 5 + 6, 1e-5f);
    ck_assert_float_eq_tol(y[2], 4 + 5 + 7 + 8, 1e-5f);
    ck_assert_float_eq_tol(y[3], 5 + 6 + 8 + 9, 1e-5f);
    test_layer_destroy(&l);
}
END_TEST

static void gradcheck_conv(const char *impl, int C, int H, int W, int F,
                           int k, int s, int same, int batch)
{
    clnet_value v[CONV_NSETTINGS];
    conv_values(v, F, k, k, s, same, 0);
    test_layer l;
    test_layer_create(&l, impl, v, (clnet_shape){H, W, C}, batch, 0, 5);
    unsigned seed = 11;
    float *x = malloc(sizeof(float) * l.in_size * (size_t)batch);
    test_fill(x, l.in_size * (size_t)batch, -1, 1, &seed);
    test_gradcheck(&l, x, 1e-2f, 2e-3);
    free(x);
    test_layer_destroy(&l);
}

START_TEST(conv2d_gradients_valid)
{
    gradcheck_conv("conv2d/gemm", 3, 5, 6, 4, 3, 1, 0, 2);
    gradcheck_conv("conv2d/direct", 3, 5, 6, 4, 3, 1, 0, 2);
}
END_TEST

START_TEST(conv2d_gradients_same_strided)
{
    gradcheck_conv("conv2d/gemm", 2, 7, 6, 3, 3, 2, 1, 2);
    gradcheck_conv("conv2d/direct", 2, 7, 6, 3, 3, 2, 1, 2);
}
END_TEST

START_TEST(conv2d_dilated_by_hand)
{
    /* 5x5 input 1..25, a 2x2 kernel of ones dilated 2x2 (it spans 3x3):
     * output (y, x) sums x at (y, x), (y, x+2), (y+2, x), (y+2, x+2) */
    clnet_value v[CONV_NSETTINGS];
    conv_values(v, 1, 2, 2, 1, 0, 0);
    v[CONV_DILATION].i[0] = v[CONV_DILATION].i[1] = 2;
    test_layer l;
    test_layer_create(&l, "conv2d/gemm", v, (clnet_shape){5, 5, 1}, 1, 0, 1);
    ck_assert_int_eq(l.plan.out.h, 3);
    ck_assert_int_eq(l.plan.out.w, 3);
    for (int i = 0; i < 4; i++)
        l.params[0][i] = 1.0f;
    l.params[1][0] = 0.0f;
    float x[25], y[9];
    for (int i = 0; i < 25; i++)
        x[i] = (float)(i + 1);
    clnet_step st = train_step(1);
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    for (int oy = 0; oy < 3; oy++)
        for (int ox = 0; ox < 3; ox++) {
            float want = x[oy * 5 + ox] + x[oy * 5 + ox + 2] +
                         x[(oy + 2) * 5 + ox] + x[(oy + 2) * 5 + ox + 2];
            ck_assert_float_eq_tol(y[oy * 3 + ox], want, 1e-4f);
        }
    test_layer_destroy(&l);
    /* the direct and Winograd implementations refuse it */
    clnet_shape in = {5, 5, 1};
    clnet_layer_plan plan;
    ck_assert_int_eq(test_infer("conv2d", v, &in, 1, &plan, err), 0);
    clnet_create_args a = {.settings = v, .ninputs = 1, .in = &in,
                           .plan = &plan, .max_batch = 1, .threads = 1,
                           .tuning = ""};
    ck_assert_int_eq(test_plugin_impl("conv2d", "direct")->layer.score(&a), 0);
    /* strides and dilation together are refused, as Keras does */
    v[CONV_STRIDES].i[0] = 2;
    ck_assert_int_ne(test_infer("conv2d", v, &in, 1, &plan, err), 0);
    ck_assert_ptr_nonnull(strstr(err, "strides or dilates"));
}
END_TEST

START_TEST(conv2d_gradients_dilated)
{
    clnet_value v[CONV_NSETTINGS];
    for (int same = 0; same < 2; same++) {
        /* 16 channels and filters: the implicit paths must stand aside */
        int C[2] = {3, 16};
        for (int k = 0; k < 2; k++) {
            conv_values(v, C[k], 3, 2, 1, same, 0);
            v[CONV_DILATION].i[0] = 2;
            v[CONV_DILATION].i[1] = 3;
            test_layer l;
            test_layer_create(&l, "conv2d/gemm", v, (clnet_shape){7, 8, C[k]},
                              2, 0, 5);
            unsigned seed = 11;
            float *x = malloc(sizeof(float) * l.in_size * 2);
            test_fill(x, l.in_size * 2, -1, 1, &seed);
            test_gradcheck(&l, x, 1e-2f, 2e-3);
            free(x);
            test_layer_destroy(&l);
        }
    }
}
END_TEST

START_TEST(conv2d_gradients_implicit)
{
    /* channels and filters in 16s: gemm's implicit forward and its input
     * gradient as a convolution of dy with the flipped weights, with same
     * padding (odd and even windows) and valid */
    gradcheck_conv("conv2d/gemm", 16, 5, 6, 16, 3, 1, 1, 2);
    gradcheck_conv("conv2d/gemm", 16, 4, 5, 32, 2, 1, 1, 1);
    gradcheck_conv("conv2d/gemm", 32, 5, 4, 16, 3, 1, 0, 2);
}
END_TEST

/* a and b (n values) agree within 2e-5 of b's largest magnitude: sums of
 * hundreds of products rounded in different orders (or, by Winograd's
 * transforms, through different products) */
static void assert_close(const float *a, const float *b, size_t n)
{
    float scale = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmaxf(scale, fabsf(b[i]));
    for (size_t i = 0; i < n; i++)
        ck_assert_float_eq_tol(a[i], b[i], 2e-5f * (1 + scale));
}

/* Two conv2d implementations (impl_a, impl_b) on one layer: outputs and
 * all three gradients */
static void implementations_agree(const char *impl_a, const char *impl_b,
                                  const clnet_value *v, clnet_shape in,
                                  int32_t batch)
{
    test_layer a, b;
    test_layer_create(&a, impl_a, v, in, batch, 0, 8);
    test_layer_create(&b, impl_b, v, in, batch, 0, 8);
    size_t nin = (size_t)batch * in.h * in.w * in.c;
    size_t nout = (size_t)batch * a.plan.out.h * a.plan.out.w * a.plan.out.c;
    float *x = malloc(nin * 4), *ya = malloc(nout * 4), *yb = malloc(nout * 4);
    float *ga = malloc(nout * 4), *gb = malloc(nout * 4);
    float *dxa = malloc(nin * 4), *dxb = malloc(nin * 4);
    unsigned seed = 4;
    test_fill(x, nin, 0, 1, &seed);
    test_fill(ga, nout, -1, 1, &seed);
    memcpy(gb, ga, nout * 4);
    clnet_step st = train_step(batch);
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_forward(a.p, a.state, &st, x, ya, err), 0);
    ck_assert_int_eq(test_forward(b.p, b.state, &st, x, yb, err), 0);
    ck_assert_int_eq(test_backward(a.p, a.state, &st, x, ya, ga, dxa, err), 0);
    ck_assert_int_eq(test_backward(b.p, b.state, &st, x, yb, gb, dxb, err), 0);
    assert_close(ya, yb, nout);
    assert_close(dxa, dxb, nin);
    for (int k = 0; k < 2; k++)
        assert_close(a.grads[k], b.grads[k], a.nparam[k]);
    free(x), free(ya), free(yb), free(ga), free(gb), free(dxa), free(dxb);
    test_layer_destroy(&a);
    test_layer_destroy(&b);
}

/* One layer for implementations_agree: filters, square kernel, stride,
 * same padding, activation; input shape and batch. */
typedef struct {
    int filters, kernel, stride, same, act;
    clnet_shape in;
    int32_t batch;
} conv_case;

static void cases_agree(const char *impl_a, const char *impl_b,
                        const conv_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const conv_case *c = &cases[i];
        clnet_value v[CONV_NSETTINGS];
        conv_values(v, c->filters, c->kernel, c->kernel, c->stride, c->same,
                    c->act);
        implementations_agree(impl_a, impl_b, v, c->in, c->batch);
    }
}

START_TEST(conv2d_implementations_agree)
{
    static const conv_case cases[] = {
        /* the seed model's first layer, batch 3 */
        {64, 3, 1, 0, 1, {28, 28, 1}, 3},
        /* 80 filters: gemm's implicit forward in a 64-filter tile and a
         * 16-filter one; same padding with stride 2; 90 output pixels, so
         * the last tile of four is partial; no activation */
        {80, 3, 2, 1, 0, {9, 11, 3}, 3},
        /* valid padding at stride 2: direct reads whole blocks of windows
         * in place, every second pixel */
        {80, 3, 2, 0, 0, {9, 11, 3}, 2},
        /* softmax after the implicit forward */
        {16, 2, 1, 1, 2, {5, 4, 2}, 2},
    };
    cases_agree("conv2d/gemm", "conv2d/direct", cases,
                sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(conv2d_winograd_agrees_with_gemm)
{
    static const conv_case cases[] = {
        /* the seed model's conv2 on 9 images: 11x11 outputs, so the last
         * row and column of 4x4 tiles are partly outside; 81 tiles, 40
         * and 41 a thread: a whole block of 32, then a partial one that
         * is not a whole number of register tiles */
        {128, 3, 1, 0, 1, {13, 13, 64}, 9},
        /* 80 filters (a 64-wide register tile and a 16-wide one), 16
         * channels, same padding on an odd by even input, no activation */
        {80, 3, 1, 1, 0, {7, 6, 16}, 2},
        /* softmax after the Winograd forward */
        {16, 3, 1, 1, 2, {4, 5, 32}, 2},
    };
    cases_agree("conv2d/winograd", "conv2d/gemm", cases,
                sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(conv2d_gradients_winograd)
{
    gradcheck_conv("conv2d/winograd", 16, 5, 6, 16, 3, 1, 0, 2);
    gradcheck_conv("conv2d/winograd", 16, 5, 4, 32, 3, 1, 1, 1);
}
END_TEST

/* Whether conv2d/winograd takes a layer (score and create agree); on a
 * refusal, err holds create's message. */
static int winograd_takes(const clnet_value *v, clnet_shape in, char *err)
{
    const clnet_plugin *p = test_plugin_impl("conv2d", "winograd");
    clnet_layer_plan plan;
    ck_assert_int_eq(test_infer("conv2d", v, &in, 1, &plan, err), 0);
    clnet_create_args a = {0};
    a.settings = v;
    a.ninputs = 1;
    a.in = &in;
    a.plan = &plan;
    a.max_batch = 2;
    a.threads = 2;
    void *state = NULL;
    int made = p->create(&a, &state, err) == 0;
    ck_assert_int_eq(made, p->layer.score(&a) > 0);
    if (made)
        p->destroy(state);
    return made;
}

START_TEST(conv2d_winograd_refuses_other_shapes)
{
    /* filters, kernel, stride, channels; what the refusal names (NULL:
     * taken) */
    static const struct {
        int filters, kernel, stride, channels;
        const char *says;
    } cases[] = {{16, 3, 1, 16, NULL},
                 {16, 3, 2, 16, "strides 2x2"},
                 {16, 3, 1, 3, "channels 3"},
                 {24, 3, 1, 16, "filters 24"},
                 {16, 5, 1, 16, "kernel 5x5"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clnet_value v[CONV_NSETTINGS];
        char err[CLNET_ERRLEN] = "";
        conv_values(v, cases[i].filters, cases[i].kernel, cases[i].kernel,
                    cases[i].stride, 0, 0);
        int taken = winograd_takes(v, (clnet_shape){9, 9, cases[i].channels},
                                   err);
        ck_assert_int_eq(taken, cases[i].says == NULL);
        if (cases[i].says)
            ck_assert_msg(strstr(err, cases[i].says), "%s", err);
    }
}
END_TEST

START_TEST(conv2d_gradients_pointwise)
{
    gradcheck_conv("conv2d/gemm", 5, 3, 4, 3, 1, 1, 0, 3);
    gradcheck_conv("conv2d/direct", 5, 3, 4, 3, 1, 1, 0, 3);
}
END_TEST

START_TEST(maxpool2d_forward_by_hand)
{
    clnet_value v[POOL_NSETTINGS] = {{{2, 2, 0}, 0}, {{0, 0, 0}, 0},
                                     {{0, 0, 0}, 0}};
    test_layer l;
    test_layer_create(&l, "maxpool2d", v, (clnet_shape){4, 4, 1}, 1, 0, 1);
    float x[16] = {1, 5, 2, 0, 3, 4, 9, 1, 0, 0, -1, -2, 7, 0, -3, -4};
    float y[4];
    clnet_step st = train_step(1);
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    ck_assert_float_eq(y[0], 5);
    ck_assert_float_eq(y[1], 9);
    ck_assert_float_eq(y[2], 7);
    ck_assert_float_eq(y[3], -1);
    float dy[4] = {1, 2, 3, 4}, dx[16];
    ck_assert_int_eq(test_backward(l.p, l.state, &st, x, y, dy, dx, err), 0);
    ck_assert_float_eq(dx[1], 1);
    ck_assert_float_eq(dx[6], 2);
    ck_assert_float_eq(dx[12], 3);
    ck_assert_float_eq(dx[10], 4);
    float total = 0;
    for (int i = 0; i < 16; i++)
        total += dx[i];
    ck_assert_float_eq(total, 10);
    test_layer_destroy(&l);
}
END_TEST

/* Distinct values spaced well apart, so no perturbation changes a max,
 * in an order that puts maxima anywhere in a window (37 is prime to the
 * sizes used here). */
static void spaced_values(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((i * 37) % n) * 0.1f - 1.0f;
}

START_TEST(maxpool2d_gradients)
{
    /* pool, stride, same, channels, on 5x7 inputs: windows that tile the
     * input with a row and a column left over, or padded;
     * overlapping windows; 20 channels, a 16-channel vector and four
     * more */
    int cases[5][4] = {{2, 0, 0, 3}, {2, 0, 1, 3}, {4, 0, 1, 3}, {3, 2, 1, 3},
                       {2, 0, 1, 20}};
    for (int c = 0; c < 5; c++) {
        clnet_value v[POOL_NSETTINGS] = {0};
        v[POOL_POOL].i[0] = v[POOL_POOL].i[1] = cases[c][0];
        v[POOL_STRIDES].i[0] = v[POOL_STRIDES].i[1] = cases[c][1];
        v[POOL_PADDING].i[0] = cases[c][2];
        test_layer l;
        int wide = cases[c][3] > 3, batch = wide ? 1 : 2;
        test_layer_create(&l, "maxpool2d", v, (clnet_shape){5, 7, cases[c][3]},
                          batch, 0, 1);
        float x[5 * 7 * 20];
        spaced_values(x, (size_t)batch * 5 * 7 * cases[c][3]);
        /* 700 values spaced 0.1 apart reach 69, where x + h rounds h by
         * 4e-4 of itself: a looser bound there, still far below the
         * error of a wrong gradient (about 1) */
        test_gradcheck(&l, x, 1e-2f, wide ? 1e-3 : 1e-4);
        test_layer_destroy(&l);
    }
}
END_TEST

START_TEST(dense_forward_by_hand)
{
    clnet_value v[DENSE_NSETTINGS] = {{{3, 0, 0}, 0}, {{0, 0, 0}, 0}};
    test_layer l;
    test_layer_create(&l, "dense", v, (clnet_shape){1, 1, 2}, 1, 0, 1);
    float w[6] = {1, 2, 3, 4, 5, 6}, b[3] = {0.5f, 0, -1};
    memcpy(l.params[0], w, sizeof w);
    memcpy(l.params[1], b, sizeof b);
    float x[2] = {1, 2}, y[3];
    clnet_step st = train_step(1);
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    ck_assert_float_eq_tol(y[0], 9.5f, 1e-6f);
    ck_assert_float_eq_tol(y[1], 12.0f, 1e-6f);
    ck_assert_float_eq_tol(y[2], 14.0f, 1e-6f);
    test_layer_destroy(&l);
}
END_TEST

START_TEST(dense_gradients)
{
    for (int act = 0; act <= 2; act += 2) { /* linear, softmax */
        clnet_value v[DENSE_NSETTINGS] = {{{4, 0, 0}, 0}, {{act, 0, 0}, 0}};
        test_layer l;
        test_layer_create(&l, "dense", v, (clnet_shape){2, 3, 2}, 3, 0, 3);
        float x[36];
        unsigned seed = 5;
        test_fill(x, 36, -1, 1, &seed);
        test_gradcheck(&l, x, 1e-2f, 2e-3);
        test_layer_destroy(&l);
    }
}
END_TEST

START_TEST(relu_layer)
{
    test_layer l;
    test_layer_create(&l, "relu", NULL, (clnet_shape){1, 2, 3}, 2, 0, 1);
    float x[12] = {-1, 2, -3, 4, 0.5f, -0.2f, 1, 1, -1, -1, 3, -3}, y[12];
    clnet_step st = train_step(2);
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    for (int i = 0; i < 12; i++)
        ck_assert_float_eq(y[i], x[i] > 0 ? x[i] : 0);
    test_gradcheck(&l, x, 1e-3f, 1e-4);
    test_layer_destroy(&l);
}
END_TEST

START_TEST(softmax_layer)
{
    test_layer l;
    test_layer_create(&l, "softmax", NULL, (clnet_shape){1, 1, 2}, 1, 0, 1);
    float x[2] = {0.0f, logf(2.0f)}, y[2];
    clnet_step st = train_step(1);
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    ck_assert_float_eq_tol(y[0], 1.0f / 3, 1e-6f);
    ck_assert_float_eq_tol(y[1], 2.0f / 3, 1e-6f);
    test_layer_destroy(&l);
    /* per position over channels, as Keras's Softmax(axis=-1) */
    test_layer_create(&l, "softmax", NULL, (clnet_shape){2, 1, 3}, 2, 0, 1);
    float x2[12];
    unsigned seed = 3;
    test_fill(x2, 12, -2, 2, &seed);
    test_gradcheck(&l, x2, 1e-2f, 2e-3);
    test_layer_destroy(&l);
}
END_TEST

START_TEST(dropout_layer)
{
    clnet_value v[1] = {{{0, 0, 0}, 0.25}};
    test_layer l;
    test_layer_create(&l, "dropout", v, (clnet_shape){1, 1, 1000}, 4, 0, 1);
    float *x = malloc(4000 * sizeof *x), *y = malloc(4000 * sizeof *y);
    for (int i = 0; i < 4000; i++)
        x[i] = 1.0f;
    clnet_step st = train_step(4);
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    int zeros = 0;
    for (int i = 0; i < 4000; i++) {
        if (y[i] == 0)
            zeros++;
        else
            ck_assert_float_eq_tol(y[i], 1.0f / 0.75f, 1e-6f);
    }
    /* 1000 +- 4 standard deviations (27 each) */
    ck_assert_int_gt(zeros, 890);
    ck_assert_int_lt(zeros, 1110);
    /* another step draws another mask */
    float *y2 = malloc(4000 * sizeof *y2);
    st.step = 8;
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y2, err), 0);
    ck_assert(memcmp(y, y2, 4000 * sizeof *y) != 0);
    /* inference is the identity */
    st.training = 0;
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y2, err), 0);
    for (int i = 0; i < 4000; i++)
        ck_assert_float_eq(y2[i], 1.0f);
    free(y2);
    unsigned seed = 9;
    test_fill(x, 4000, -1, 1, &seed);
    test_layer_destroy(&l);
    test_layer_create(&l, "dropout", v, (clnet_shape){1, 1, 50}, 2, 0, 1);
    test_gradcheck(&l, x, 1e-2f, 1e-4);
    test_layer_destroy(&l);
    free(x);
    free(y);
}
END_TEST

START_TEST(input_and_flatten)
{
    /* mean= and std= left empty: 0 and 1 */
    clnet_value v[4] = {{{2, 2, 1}, 0}, {{0, 0, 0}, 1.0 / 255}};
    test_layer l;
    test_layer_create(&l, "input", v, (clnet_shape){0, 0, 0}, 2, 0, 1);
    ck_assert_int_eq(l.plan.out.h, 2);
    ck_assert_int_eq(l.plan.nparams, 0);
    uint8_t x[8] = {0, 255, 51, 102, 1, 2, 3, 4};
    float y[8];
    clnet_step st = train_step(2);
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    ck_assert_float_eq_tol(y[0], 0.0f, 1e-7f);
    ck_assert_float_eq_tol(y[1], 1.0f, 1e-6f);
    ck_assert_float_eq_tol(y[2], 0.2f, 1e-6f);
    test_layer_destroy(&l);
    /* flatten is only a kind: no backend runs anything for it */
    clnet_layer_plan plan;
    clnet_shape in = {3, 4, 5};
    ck_assert_int_eq(test_infer("flatten", NULL, &in, 1, &plan, err), 0);
    ck_assert_int_eq(plan.out.c, 60);
    ck_assert_int_eq(plan.out.h, 1);
    ck_assert_int_eq(plan.alias_input, 1);
    ck_assert_ptr_null(clnet_registry_find(test_registry(), "flatten", "cpu"));
}
END_TEST

START_TEST(loss_values_and_gradients)
{
    const clnet_plugin *p = test_plugin("sparse_categorical_crossentropy");
    void *state;
    clnet_value none = {{0}, 0}; /* label_smoothing 0 */
    clnet_create_args a = {0};
    a.settings = &none;
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(p->create(&a, &state, err), 0);
    float pred[6] = {0.2f, 0.5f, 0.3f, 0.7f, 0.2f, 0.1f};
    int32_t labels[2] = {1, 2};
    float d[6];
    double loss = 0;
    int64_t correct = 0;
    clnet_step st = train_step(2);
    ck_assert_int_eq(p->loss.compute(state, &st, pred, labels, 3, 0, d, &loss,
                                     &correct, err),
                     0);
    ck_assert_double_eq_tol(loss, -log(0.5) - log(0.1), 1e-6);
    ck_assert_int_eq(correct, 1);
    /* d(mean loss)/dp: -1/(n p) at the label */
    ck_assert_float_eq_tol(d[1], -1.0f / (2 * 0.5f), 1e-6f);
    ck_assert_float_eq_tol(d[5], -1.0f / (2 * 0.1f), 1e-5f);
    ck_assert_float_eq(d[0], 0);
    /* fused: (p - onehot) / n */
    ck_assert_int_eq(p->loss.compute(state, &st, pred, labels, 3, 1, d, &loss,
                                     &correct, err),
                     0);
    ck_assert_float_eq_tol(d[0], 0.1f, 1e-6f);
    ck_assert_float_eq_tol(d[1], -0.25f, 1e-6f);
    ck_assert_float_eq_tol(d[5], (0.1f - 1) / 2, 1e-6f);
    /* an out-of-range label is refused, not read past */
    labels[0] = 3;
    ck_assert_int_ne(p->loss.compute(state, &st, pred, labels, 3, 1, d, &loss,
                                     &correct, err),
                     0);
    p->destroy(state);
}
END_TEST

START_TEST(adam_step_by_hand)
{
    const clnet_plugin *p = test_plugin("adam");
    clnet_value v[4] = {{{0}, 0.1}, {{0}, 0.9}, {{0}, 0.999}, {{0}, 1e-7}};
    clnet_create_args a = {0};
    a.settings = v;
    void *state;
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(p->create(&a, &state, err), 0);
    float w[2] = {1.0f, -2.0f}, g[2] = {0.5f, -0.1f}, m[2] = {0}, vv[2] = {0};
    void *slots[2] = {m, vv};
    clnet_step st = {1, 1, 0, 1, 1.0};
    ck_assert_int_eq(p->optimizer.update(state, &st, w, g, slots, 2, err), 0);
    /* step 1: m = 0.1 g, v = 0.001 g^2, alpha = 0.1 sqrt(0.001) / 0.1,
     * so w -= 0.1 * sign(g) (up to epsilon) */
    ck_assert_float_eq_tol(m[0], 0.05f, 1e-7f);
    ck_assert_float_eq_tol(vv[0], 0.00025f, 1e-9f);
    ck_assert_float_eq_tol(w[0], 0.9f, 1e-5f);
    ck_assert_float_eq_tol(w[1], -1.9f, 1e-5f);
    /* step 2 with g = (0.5, -0.1) again, computed in double here */
    st.step = 2;
    ck_assert_int_eq(p->optimizer.update(state, &st, w, g, slots, 2, err), 0);
    double m2 = 0.9 * 0.05 + 0.1 * 0.5, v2 = 0.999 * 0.00025 + 0.001 * 0.25;
    double alpha = 0.1 * sqrt(1 - 0.999 * 0.999) / (1 - 0.9 * 0.9);
    double w2 = 0.9 - alpha * m2 / (sqrt(v2) + 1e-7);
    ck_assert_double_eq_tol(w[0], w2, 1e-5);
    p->destroy(state);
}
END_TEST

START_TEST(sgd_momentum_by_hand)
{
    const clnet_plugin *p = test_plugin("sgd");
    clnet_value v[4] = {{{0}, 0.1}, {{0}, 0.9}, {{0}, 0}, {{0}, 0}};
    clnet_create_args a = {0};
    a.settings = v;
    void *state;
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(p->create(&a, &state, err), 0);
    float w[1] = {1.0f}, g[1] = {2.0f}, vel[1] = {0};
    void *slots[1] = {vel};
    clnet_step st = {1, 1, 0, 1, 1.0};
    ck_assert_int_eq(p->optimizer.update(state, &st, w, g, slots, 1, err), 0);
    ck_assert_float_eq_tol(w[0], 0.8f, 1e-6f);
    ck_assert_int_eq(p->optimizer.update(state, &st, w, g, slots, 1, err), 0);
    /* v = 0.9 * -0.2 - 0.2 = -0.38 */
    ck_assert_float_eq_tol(w[0], 0.42f, 1e-6f);
    p->destroy(state);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("cpu");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, conv2d_forward_by_hand, 0, 2);
    tcase_add_loop_test(tc, conv2d_same_padding_by_hand, 0, 2);
    tcase_add_test(tc, conv2d_gradients_valid);
    tcase_add_test(tc, conv2d_gradients_same_strided);
    tcase_add_test(tc, conv2d_gradients_implicit);
    tcase_add_test(tc, conv2d_dilated_by_hand);
    tcase_add_test(tc, conv2d_gradients_dilated);
    tcase_add_test(tc, conv2d_gradients_pointwise);
    tcase_add_test(tc, conv2d_implementations_agree);
    tcase_add_test(tc, conv2d_winograd_agrees_with_gemm);
    tcase_add_test(tc, conv2d_gradients_winograd);
    tcase_add_test(tc, conv2d_winograd_refuses_other_shapes);
    tcase_add_test(tc, maxpool2d_forward_by_hand);
    tcase_add_test(tc, maxpool2d_gradients);
    tcase_add_test(tc, dense_forward_by_hand);
    tcase_add_test(tc, dense_gradients);
    tcase_add_test(tc, relu_layer);
    tcase_add_test(tc, softmax_layer);
    tcase_add_test(tc, dropout_layer);
    tcase_add_test(tc, input_and_flatten);
    tcase_add_test(tc, loss_values_and_gradients);
    tcase_add_test(tc, adam_step_by_hand);
    tcase_add_test(tc, sgd_momentum_by_hand);
    suite_add_tcase(s, tc);
    return test_run(s);
}
