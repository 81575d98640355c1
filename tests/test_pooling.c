/* avgpool2d, global_avgpool2d and global_maxpool2d: forward on
 * hand-computed values and backward against finite differences on the
 * native CPU, networks that use them built and trained with
 * clnet_net_build, and the OpenCL plugins against the CPU ones (skipped
 * without an OpenCL device). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/avgpool2d/avgpool2d_settings.h"
#include "helpers.h"

static clnet_step train_step(int32_t batch)
{
    clnet_step s = {batch, 1, 42, 7, 1.0};
    return s;
}

static void avg_values(clnet_value *v, int ph, int pw, int sh, int sw,
                       int same)
{
    memset(v, 0, sizeof(clnet_value) * AVGPOOL_NSETTINGS);
    v[AVGPOOL_POOL].i[0] = ph;
    v[AVGPOOL_POOL].i[1] = pw;
    v[AVGPOOL_STRIDES].i[0] = sh;
    v[AVGPOOL_STRIDES].i[1] = sw;
    v[AVGPOOL_PADDING].i[0] = same;
}

/* Runs forward, then backward with dy (ones when NULL), and compares
 * with the expected output and (when not NULL) input gradient. */
static void by_hand(const char *kind, const clnet_value *v, clnet_shape in,
                    int32_t batch, const float *x, const float *want_y,
                    const float *dy, const float *want_dx)
{
    test_layer l;
    test_layer_create(&l, kind, v, in, batch, 0, 1);
    size_t nin = l.in_size * (size_t)batch, nout = l.out_size * (size_t)batch;
    float *y = malloc(nout * 4), *g = malloc(nout * 4), *dx = malloc(nin * 4);
    clnet_step st = train_step(batch);
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    for (size_t i = 0; i < nout; i++)
        ck_assert_msg(fabsf(y[i] - want_y[i]) <= 1e-6f * (1 + fabsf(want_y[i])),
                      "%s: y[%zu] = %g, want %g", kind, i, y[i], want_y[i]);
    for (size_t i = 0; i < nout; i++)
        g[i] = dy ? dy[i] : 1.0f;
    for (size_t i = 0; i < nin; i++)
        dx[i] = NAN;
    ck_assert_int_eq(test_backward(l.p, l.state, &st, x, y, g, dx, err), 0);
    for (size_t i = 0; want_dx && i < nin; i++)
        ck_assert_msg(fabsf(dx[i] - want_dx[i]) <=
                          1e-6f * (1 + fabsf(want_dx[i])),
                      "%s: dx[%zu] = %g, want %g", kind, i, dx[i], want_dx[i]);
    /* no input gradient wanted: nothing to write, and no failure */
    ck_assert_int_eq(test_backward(l.p, l.state, &st, x, y, g, NULL, err), 0);
    free(y);
    free(g);
    free(dx);
    test_layer_destroy(&l);
}

START_TEST(avgpool2d_by_hand)
{
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}; /* 3x3x1 */
    clnet_value v[AVGPOOL_NSETTINGS];
    /* valid, pool 2 (strides 2): one window; the last row and column are
     * left over and get no gradient */
    avg_values(v, 2, 2, 0, 0, 0);
    const float y1[1] = {3};
    const float dx1[9] = {0.25f, 0.25f, 0, 0.25f, 0.25f, 0, 0, 0, 0};
    by_hand("avgpool2d", v, (clnet_shape){3, 3, 1}, 1, x, y1, NULL, dx1);
    /* same, pool 2, strides 1: the windows of the last row and column
     * reach into the padding, which counts for nothing (Keras divides by
     * the values inside the input only) */
    avg_values(v, 2, 2, 1, 1, 1);
    const float y2[9] = {3, 4, 4.5f, 6, 7, 7.5f, 7.5f, 8.5f, 9};
    /* each input value: the sum of 1 / taps over the windows holding it */
    const float dx2[9] = {0.25f, 0.5f, 0.75f, 0.5f, 1,
                          1.5f,  0.75f, 1.5f, 2.25f};
    by_hand("avgpool2d", v, (clnet_shape){3, 3, 1}, 1, x, y2, NULL, dx2);
    /* same, pool 2, strides 2: windows of 4, 2 and 1 values */
    avg_values(v, 2, 2, 0, 0, 1);
    const float y3[4] = {3, 4.5f, 7.5f, 9};
    const float dy3[4] = {4, 2, 2, 1};
    const float dx3[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    by_hand("avgpool2d", v, (clnet_shape){3, 3, 1}, 1, x, y3, dy3, dx3);
    /* a 3x1 pool, strides 1, over two channels */
    const float x4[12] = {1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60};
    avg_values(v, 3, 1, 1, 1, 0);
    const float y4[4] = {3, 30, 4, 40};
    by_hand("avgpool2d", v, (clnet_shape){3, 2, 2}, 1, x4, y4, NULL, NULL);
}
END_TEST

/* Distinct values 0.05 apart, so no perturbation of 1e-2 changes a
 * max, in an order that puts maxima anywhere (37 is prime to the
 * sizes used here). */
static void spaced_values(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((i * 37) % n) * 0.05f - 1.0f;
}

START_TEST(avgpool2d_gradients)
{
    /* pool h, w, strides h, w, same, channels on 5x7 inputs: tiling with a
     * row and a column left over, padded, overlapping, strided past the
     * window, rectangular; 3 channels, and 20 (a 16-vector and four) */
    static const int cases[][6] = {
        {2, 2, 0, 0, 0, 3}, {2, 2, 0, 0, 1, 3}, {3, 3, 1, 1, 1, 3},
        {3, 3, 2, 2, 0, 3}, {2, 3, 1, 2, 1, 3}, {1, 1, 3, 3, 1, 3},
        {4, 4, 1, 1, 1, 20}, {3, 3, 2, 2, 1, 20}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        clnet_value v[AVGPOOL_NSETTINGS];
        avg_values(v, cases[c][0], cases[c][1], cases[c][2], cases[c][3],
                   cases[c][4]);
        int C = cases[c][5], batch = C > 3 ? 1 : 2;
        test_layer l;
        test_layer_create(&l, "avgpool2d", v, (clnet_shape){5, 7, C}, batch,
                          0, 1);
        float x[5 * 7 * 20 * 2];
        spaced_values(x, (size_t)batch * 5 * 7 * C);
        test_gradcheck(&l, x, 1e-2f, 1e-3);
        test_layer_destroy(&l);
    }
}
END_TEST

START_TEST(global_pools_by_hand)
{
    /* two 2x2x2 samples; ties in sample 0's channel 1 (5 at positions 0
     * and 1) and sample 1's channel 0 (-1 at positions 0 and 2) */
    const float x[16] = {1,  5,  2,  5,  3,  -1, 4,  0,
                         -1, -2, -3, -4, -1, -5, -6, -7};
    const float dy[4] = {4, 8, 1, 2};
    const float avg[4] = {2.5f, 2.25f, -2.75f, -4.5f};
    const float avg_dx[16] = {1,     2,    1,     2,    1,     2,
                              1,     2,    0.25f, 0.5f, 0.25f, 0.5f,
                              0.25f, 0.5f, 0.25f, 0.5f};
    by_hand("global_avgpool2d", NULL, (clnet_shape){2, 2, 2}, 2, x, avg, dy,
            avg_dx);
    /* the gradient of a tied maximum goes to its first position, in
     * row-major order, as maxpool2d's does */
    const float max[4] = {4, 5, -1, -2};
    const float max_dx[16] = {0, 8, 0, 0, 0, 0, 4, 0,
                              1, 2, 0, 0, 0, 0, 0, 0};
    by_hand("global_maxpool2d", NULL, (clnet_shape){2, 2, 2}, 2, x, max, dy,
            max_dx);
    /* the output is one value per channel */
    clnet_layer_plan plan;
    char err[CLNET_ERRLEN];
    clnet_shape in = {5, 7, 3};
    ck_assert_int_eq(test_infer("global_maxpool2d", NULL, &in, 1, &plan, err),
                     0);
    ck_assert_int_eq(plan.out.h, 1);
    ck_assert_int_eq(plan.out.w, 1);
    ck_assert_int_eq(plan.out.c, 3);
    ck_assert_int_eq(plan.nparams, 0);
}
END_TEST

START_TEST(global_pools_gradients)
{
    static const clnet_shape shapes[] = {{5, 7, 3}, {5, 7, 20}, {1, 1, 5}};
    static const char *const kinds[] = {"global_avgpool2d",
                                        "global_maxpool2d"};
    for (int k = 0; k < 2; k++)
        for (int s = 0; s < 3; s++) {
            test_layer l;
            int batch = s == 1 ? 1 : 2;
            test_layer_create(&l, kinds[k], NULL, shapes[s], batch, 0, 1);
            float x[5 * 7 * 20 * 2];
            size_t n = (size_t)batch * shapes[s].h * shapes[s].w * shapes[s].c;
            /* the maximum: no two values within h; the mean: values near
             * 0, where its change (2 h / 35 positions) is not lost in
             * the rounding of the mean itself */
            unsigned seed = 11;
            if (k == 1)
                spaced_values(x, n);
            else
                test_fill(x, n, -1, 1, &seed);
            test_gradcheck(&l, x, 1e-2f, 1e-3);
            test_layer_destroy(&l);
        }
}
END_TEST

/* ---- networks ---- */

typedef struct {
    int n;
    double loss[64];
} trajectory;

static void record(int64_t step, double loss, void *user)
{
    (void)step;
    trajectory *t = user;
    if (t->n < 64)
        t->loss[t->n++] = loss;
}

static const char *const pool_net =
    "input shape=12x12x1\n"
    "conv2d filters=6 kernel=3 padding=same activation=relu\n"
    "avgpool2d pool=2\n"
    "conv2d filters=8 kernel=3 activation=relu\n"
    "avgpool2d pool_size=3 strides=1 padding=same\n"
    "%s\n"
    "dense units=4 activation=softmax\n"
    "train optimizer=adam lr=0.01 batch=8\n";

/* Trains the network on 40 12x12 images of 4 classes (a bright quarter of
 * the rows each) for 6 epochs of 5 steps. */
static void train(const char *text, const char *device, trajectory *t,
                  int64_t *params)
{
    clnet_error e;
    clnet_topology *top = clnet_topology_parse(text, "pool.net", &e);
    ck_assert_msg(top != NULL, "%s", e.msg);
    clnet_build_options o = {0};
    o.max_batch = 8;
    o.seed = 3;
    o.threads = 2;
    o.device = device;
    clnet_net *n = clnet_net_build(top, test_registry(), &o, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    clnet_topology_free(top);
    if (params)
        *params = clnet_net_param_count(n);
    clnet_dataset ds = {40, 12, 12, malloc(40 * 144), malloc(40 * 4), 1, 0, NULL};
    for (int i = 0; i < 40; i++) {
        ds.labels[i] = i % 4;
        for (int p = 0; p < 144; p++)
            ds.pixels[i * 144 + p] =
                (uint8_t)(p / 36 == i % 4 ? 200 + p % 50 : (p * 13 + i) % 60);
    }
    clnet_train_options to = {0};
    to.epochs = 6;
    to.on_step = record;
    to.user = t;
    ck_assert_msg(clnet_train(n, &ds, NULL, &to, &e) == 0, "%s", e.msg);
    clnet_dataset_free(&ds);
    clnet_net_free(n);
}

static void learns(const trajectory *t)
{
    ck_assert_int_eq(t->n, 30);
    double last = 0;
    for (int i = 25; i < 30; i++) {
        ck_assert(isfinite(t->loss[i]));
        last += t->loss[i] / 5;
    }
    ck_assert_msg(last < 0.8 * t->loss[0],
                  "the loss went from %g to %g (last epoch's mean)",
                  t->loss[0], last);
}

START_TEST(pooling_networks_learn)
{
    static const char *const heads[] = {"global_avgpool2d",
                                        "global_maxpool2d"};
    for (int h = 0; h < 2; h++) {
        char text[1024];
        snprintf(text, sizeof text, pool_net, heads[h]);
        trajectory t = {0};
        int64_t params;
        train(text, "cpu", &t, &params);
        /* conv2d 3*3*1*6 + 6, conv2d 3*3*6*8 + 8, dense 8*4 + 4; the
         * pools have none */
        ck_assert_int_eq(params, 60 + 440 + 36);
        learns(&t);
    }
}
END_TEST

START_TEST(pooling_topology_errors)
{
    clnet_error e;
    clnet_build_options o = {0};
    o.threads = 1;
    /* a valid window larger than the input */
    clnet_net *n = test_build("input shape=4x4x1\navgpool2d pool=5\n"
                              "flatten\ndense units=2 activation=softmax\n"
                              "train optimizer=sgd lr=0.1\n",
                              &o, &e);
    ck_assert_ptr_null(n);
    ck_assert_msg(strstr(e.msg, "larger than") != NULL, "%s", e.msg);
    /* with padding=same it fits: the window is clipped to the input */
    n = test_build("input shape=4x4x1\navgpool2d pool=5 padding=same\n"
                   "global_maxpool2d\ndense units=2 activation=softmax\n"
                   "train optimizer=sgd lr=0.1\n",
                   &o, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    clnet_net_free(n);
}
END_TEST

/* ---- OpenCL against the CPU ---- */

static const clnet_plugin *dev;
static void *ctx;

static int have_opencl(void) { return (dev = test_opencl(&ctx)) != NULL; }

static void *upload(const float *host, size_t n)
{
    return test_upload(dev, ctx, host, n);
}

static void expect_close(const char *what, const float *cpu, const void *buf,
                         size_t n)
{
    char err[CLNET_ERRLEN];
    float *o = malloc(n * 4);
    ck_assert_msg(dev->device.read(ctx, buf, o, n * 4, err) == 0, "%s", err);
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)cpu[i] - o[i]));
    ck_assert_msg(m <= 1e-5, "%s: the CPU and OpenCL results differ by %g",
                  what, m);
    free(o);
}

/* Forward and backward of kind on both backends, same input and dy. */
static void agree(const char *kind, const clnet_value *v, clnet_shape in,
                  int32_t batch)
{
    const clnet_plugin *po =
        clnet_registry_find(test_registry(), kind, "opencl");
    ck_assert_msg(po != NULL, "no opencl plugin for %s", kind);
    test_layer l;
    test_layer_create(&l, kind, v, in, batch, 0, 1);
    clnet_create_args a = {0};
    a.settings = v;
    a.ninputs = 1;
    a.in = &in;
    a.plan = &l.plan;
    a.max_batch = batch;
    a.threads = 2;
    a.tuning = "";
    a.device = ctx;
    void *so;
    char err[CLNET_ERRLEN], what[96];
    ck_assert_msg(po->create(&a, &so, err) == 0, "%s: %s", kind, err);
    size_t nin = l.in_size * (size_t)batch, nout = l.out_size * (size_t)batch;
    float *x = malloc(nin * 4), *y = malloc(nout * 4), *dy = malloc(nout * 4),
          *dx = malloc(nin * 4);
    spaced_values(x, nin);
    unsigned seed = 17;
    test_fill(dy, nout, -1, 1, &seed);
    void *ox = upload(x, nin), *oy = upload(y, nout), *ody = upload(dy, nout),
         *odx = upload(dx, nin);
    clnet_step st = train_step(batch);
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    ck_assert_msg(test_forward(po, so, &st, ox, oy, err) == 0, "%s", err);
    snprintf(what, sizeof what, "%s %dx%dx%d forward", kind, in.h, in.w,
             in.c);
    expect_close(what, y, oy, nout);
    ck_assert_int_eq(test_backward(l.p, l.state, &st, x, y, dy, dx, err), 0);
    ck_assert_msg(test_backward(po, so, &st, ox, oy, ody, odx, err) == 0,
                  "%s", err);
    snprintf(what, sizeof what, "%s %dx%dx%d input gradient", kind, in.h,
             in.w, in.c);
    expect_close(what, dx, odx, nin);
    ck_assert_int_eq(test_backward(po, so, &st, ox, oy, ody, NULL, err), 0);
    dev->device.release(ctx, ox);
    dev->device.release(ctx, oy);
    dev->device.release(ctx, ody);
    dev->device.release(ctx, odx);
    po->destroy(so);
    test_layer_destroy(&l);
    free(x), free(y), free(dy), free(dx);
}

START_TEST(opencl_pools_agree)
{
    if (!have_opencl())
        return;
    /* odd sizes: batch 1 and 2, 5x7 images, 3 and 17 channels */
    static const clnet_shape shapes[] = {{5, 7, 3}, {5, 7, 17}};
    static const int cases[][5] = {{2, 2, 0, 0, 0}, {2, 2, 0, 0, 1},
                                   {3, 3, 1, 1, 1}, {3, 3, 2, 2, 0},
                                   {2, 3, 1, 2, 1}, {4, 4, 1, 1, 1}};
    for (int s = 0; s < 2; s++)
        for (int batch = 1; batch <= 2; batch++) {
            for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
                clnet_value v[AVGPOOL_NSETTINGS];
                avg_values(v, cases[c][0], cases[c][1], cases[c][2],
                           cases[c][3], cases[c][4]);
                agree("avgpool2d", v, shapes[s], batch);
            }
            agree("global_avgpool2d", NULL, shapes[s], batch);
            agree("global_maxpool2d", NULL, shapes[s], batch);
        }
}
END_TEST

START_TEST(opencl_pooling_network_follows_cpu)
{
    if (!have_opencl())
        return;
    char text[1024];
    snprintf(text, sizeof text, pool_net, "global_maxpool2d");
    trajectory cpu = {0}, ocl = {0};
    train(text, "cpu", &cpu, NULL);
    train(text, "opencl", &ocl, NULL);
    ck_assert_int_eq(cpu.n, ocl.n);
    for (int i = 0; i < cpu.n; i++)
        ck_assert_msg(fabs(cpu.loss[i] - ocl.loss[i]) <=
                          1e-3 * fabs(cpu.loss[i]) + 1e-4,
                      "step %d: loss %g on the CPU, %g on OpenCL", i,
                      cpu.loss[i], ocl.loss[i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pooling");
    TCase *tc = tcase_create("cpu");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, avgpool2d_by_hand);
    tcase_add_test(tc, avgpool2d_gradients);
    tcase_add_test(tc, global_pools_by_hand);
    tcase_add_test(tc, global_pools_gradients);
    tcase_add_test(tc, pooling_networks_learn);
    tcase_add_test(tc, pooling_topology_errors);
    suite_add_tcase(s, tc);
    TCase *ocl = tcase_create("opencl");
    tcase_set_timeout(ocl, 300);
    tcase_add_test(ocl, opencl_pools_agree);
    tcase_add_test(ocl, opencl_pooling_network_follows_cpu);
    suite_add_tcase(s, ocl);
    return test_run(s);
}
