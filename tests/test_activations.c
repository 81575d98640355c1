/* The activation layers sigmoid, tanh, leaky_relu, elu, gelu and swish:
 * values against double-precision formulas (Keras 3's keras.activations
 * and layers), large inputs, gradients against finite differences, the
 * new `activation=` ids through dense's fused activation, networks that
 * use them built and trained with clnet_net_build, and the OpenCL plugins
 * against the CPU ones (skipped without an OpenCL device). */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/common/activation.h"
#include "../plugins/dense/dense_settings.h"
#include "helpers.h"

static clnet_step train_step(int32_t batch)
{
    clnet_step s = {batch, 1, 42, 7, 1.0};
    return s;
}

/* One layer's settings: alpha for leaky_relu and elu, approximate for
 * gelu (1: the tanh form), none for the others. */
static const clnet_value *act_values(const char *kind, double alpha,
                                     int approximate)
{
    static clnet_value v[1];
    memset(v, 0, sizeof v);
    if (!strcmp(kind, "leaky_relu") || !strcmp(kind, "elu")) {
        v[0].f = alpha;
        return v;
    }
    if (!strcmp(kind, "gelu")) {
        v[0].i[0] = approximate;
        return v;
    }
    return NULL;
}

static double reference(const char *kind, double x, double alpha,
                        int approximate)
{
    if (!strcmp(kind, "sigmoid"))
        return 1 / (1 + exp(-x));
    if (!strcmp(kind, "tanh"))
        return tanh(x);
    if (!strcmp(kind, "leaky_relu"))
        return x > 0 ? x : alpha * x;
    if (!strcmp(kind, "elu"))
        return x > 0 ? x : alpha * expm1(x);
    if (!strcmp(kind, "gelu"))
        return approximate
                   ? 0.5 * x *
                         (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)))
                   : 0.5 * x * erfc(-x / sqrt(2));
    /* swish */
    return x / (1 + exp(-x));
}

static const char *const kinds[] = {"sigmoid", "tanh", "leaky_relu",
                                    "elu",     "gelu", "swish"};

/* The layer on 22 values from -1e4 to 1e4, against the double formula
 * (within 2e-6 of the value, or 1e-37 where float underflows), and its
 * derivative finite everywhere. */
static void values_match(const char *kind, double alpha, int approximate)
{
    static const float xs[] = {-1e4f, -200,  -88,   -20,  -5,    -2, -1,
                               -0.5f, -1e-3f, -1e-30f, 0,   1e-30f, 1e-3f,
                               0.5f,  1,      2,      5,    20,    88, 200,
                               1e4f,  3.25f};
    enum { N = sizeof xs / sizeof xs[0] };
    const clnet_value *v = act_values(kind, alpha, approximate);
    test_layer l;
    test_layer_create(&l, kind, v, (clnet_shape){1, 1, N}, 1, 0, 1);
    float y[N], dy[N], dx[N];
    clnet_step st = train_step(1);
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_forward(l.p, l.state, &st, xs, y, err), 0);
    for (int i = 0; i < N; i++) {
        double want = reference(kind, xs[i], alpha, approximate);
        ck_assert_msg(isfinite(y[i]) &&
                          fabs(y[i] - want) <= 2e-6 * fabs(want) + 1e-37,
                      "%s (alpha %g, approximate %d): f(%g) = %.9g, want "
                      "%.9g",
                      kind, alpha, approximate, xs[i], y[i], want);
        dy[i] = 1;
    }
    ck_assert_int_eq(test_backward(l.p, l.state, &st, xs, y, dy, dx, err), 0);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(isfinite(dx[i]), "%s: f'(%g) = %g", kind, xs[i], dx[i]);
        /* far out every one is flat, or the identity on the right */
        if (fabsf(xs[i]) >= 200 && strcmp(kind, "leaky_relu"))
            ck_assert_float_eq(dx[i], xs[i] > 0 && strcmp(kind, "sigmoid") &&
                                              strcmp(kind, "tanh")
                                          ? 1.0f
                                          : 0.0f);
    }
    /* x = 0 takes the x <= 0 side's derivative, as TF and JAX do */
    if (!strcmp(kind, "leaky_relu") || !strcmp(kind, "elu"))
        ck_assert_float_eq_tol(dx[10], (float)alpha, 1e-7f);
    test_layer_destroy(&l);
}

START_TEST(activation_values)
{
    for (int k = 0; k < 6; k++) {
        /* the layers' defaults: LeakyReLU 0.3, ELU 1.0 */
        double alpha = k == 2 ? 0.3 : k == 3 ? 1.0 : 0;
        values_match(kinds[k], alpha, 0);
    }
    values_match("leaky_relu", 0.01, 0);
    values_match("leaky_relu", 0.2, 0);
    values_match("elu", 0.5, 0);
    values_match("elu", 2.5, 0);
    values_match("gelu", 0, 1);
}
END_TEST

START_TEST(activation_by_hand)
{
    /* a few values worked out by hand */
    const float x[4] = {-1, 0, 0.5f, 2};
    struct {
        const char *kind;
        double alpha;
        int approximate;
        float y[4], dx[4];
    } cases[] = {
        {"leaky_relu", 0.3, 0, {-0.3f, 0, 0.5f, 2}, {0.3f, 0.3f, 1, 1}},
        {"elu", 1.0, 0, {-0.632120559f, 0, 0.5f, 2}, {0.367879441f, 1, 1, 1}},
        {"sigmoid", 0, 0, {0.268941421f, 0.5f, 0.622459331f, 0.880797078f},
         {0.196611933f, 0.25f, 0.235003712f, 0.104993585f}},
        {"tanh", 0, 0, {-0.761594156f, 0, 0.462117157f, 0.964027580f},
         {0.419974342f, 1, 0.786447733f, 0.0706508249f}},
        /* gelu: x Phi(x); derivative Phi(x) + x phi(x) */
        {"gelu", 0, 0, {-0.158655254f, 0, 0.345731231f, 1.95449974f},
         {-0.0833154706f, 0.5f, 0.867495125f, 1.0852318f}},
        /* swish: x s(x); derivative s(x) (1 + x (1 - s(x))) */
        {"swish", 0, 0, {-0.268941421f, 0, 0.311229666f, 1.76159416f},
         {0.0723294881f, 0.5f, 0.739961187f, 1.09078425f}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        test_layer l;
        test_layer_create(&l, cases[c].kind,
                          act_values(cases[c].kind, cases[c].alpha,
                                     cases[c].approximate),
                          (clnet_shape){1, 2, 2}, 1, 0, 1);
        float y[4], dy[4] = {1, 1, 1, 1}, dx[4];
        clnet_step st = train_step(1);
        char err[CLNET_ERRLEN];
        ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
        ck_assert_int_eq(test_backward(l.p, l.state, &st, x, y, dy, dx, err),
                         0);
        for (int i = 0; i < 4; i++) {
            ck_assert_msg(fabsf(y[i] - cases[c].y[i]) <= 1e-6f,
                          "%s(%g) = %.9g, want %.9g", cases[c].kind, x[i],
                          y[i], cases[c].y[i]);
            ck_assert_msg(fabsf(dx[i] - cases[c].dx[i]) <= 1e-6f,
                          "%s'(%g) = %.9g, want %.9g", cases[c].kind, x[i],
                          dx[i], cases[c].dx[i]);
        }
        /* no input gradient wanted */
        ck_assert_int_eq(test_backward(l.p, l.state, &st, x, y, dy, NULL, err),
                         0);
        test_layer_destroy(&l);
    }
}
END_TEST

/* Values 0.0125 from 0 and from each other at least, none within h of the
 * kink at 0 (37 is prime to the sizes used here). */
static void spread(float *x, size_t n, float range)
{
    for (size_t i = 0; i < n; i++)
        x[i] = ((float)((i * 37) % n) + 0.25f) * (2 * range / (float)n) -
               range;
}

START_TEST(activation_gradients)
{
    static const clnet_shape shapes[] = {{5, 7, 3}, {1, 1, 17}};
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 7 + 3; k++) {
            /* each kind with its defaults, then leaky_relu 0.01, elu
             * 0.5, gelu's tanh form */
            const char *kind = k < 6 ? kinds[k]
                               : k == 6 ? "leaky_relu"
                               : k == 7 ? "elu"
                                        : "gelu";
            if (k == 9)
                continue;
            double alpha = k == 2   ? 0.3
                           : k == 3 ? 1.0
                           : k == 6 ? 0.01
                           : k == 7 ? 0.5
                                    : 0;
            int approximate = k == 8;
            test_layer l;
            int batch = 2;
            test_layer_create(&l, kind, act_values(kind, alpha, approximate),
                              shapes[s], batch, 0, 1);
            float x[5 * 7 * 3 * 2];
            spread(x, l.in_size * 2, 4);
            test_gradcheck(&l, x, 1e-3f, 2e-3);
            test_layer_destroy(&l);
        }
}
END_TEST

/* dense's fused activation with the new ids whose gradient follows from
 * the output (activation.h): sigmoid, tanh, leaky_relu (0.2), elu. */
START_TEST(dense_new_activations)
{
    for (int act = ACT_SIGMOID; act <= ACT_ELU; act++) {
        clnet_value v[DENSE_NSETTINGS] = {{{4, 0, 0}, 0}, {{act, 0, 0}, 0}};
        test_layer l;
        test_layer_create(&l, "dense", v, (clnet_shape){2, 3, 2}, 3, 0, 3);
        float x[36];
        unsigned seed = 5;
        test_fill(x, 36, -1, 1, &seed);
        test_gradcheck(&l, x, 1e-3f, 2e-3);
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

static const char *const act_net =
    "input shape=12x12x1\n"
    "conv2d filters=6 kernel=3 padding=same\n"
    "elu alpha=0.5\n"
    "maxpool2d pool=2\n"
    "conv2d filters=8 kernel=3\n"
    "leaky_relu negative_slope=0.1\n"
    "flatten\n"
    "dense units=16\n"
    "gelu\n"
    "dense units=16\n"
    "swish\n"
    "dense units=16\n"
    "gelu approximate=true\n"
    "dense units=12\n"
    "tanh\n"
    "dense units=8\n"
    "sigmoid\n"
    "dense units=4 activation=softmax\n"
    "train optimizer=adam lr=0.01 batch=8\n";

/* Trains the network on 40 12x12 images of 4 classes (a bright quarter of
 * the rows each) for 6 epochs of 5 steps. */
static void train(const char *text, const char *device, trajectory *t)
{
    clnet_error e;
    clnet_topology *top = clnet_topology_parse(text, "act.net", &e);
    ck_assert_msg(top != NULL, "%s", e.msg);
    clnet_build_options o = {0};
    o.max_batch = 8;
    o.seed = 3;
    o.threads = 2;
    o.device = device;
    clnet_net *n = clnet_net_build(top, test_registry(), &o, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    clnet_topology_free(top);
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

START_TEST(activation_network_learns)
{
    trajectory t = {0};
    train(act_net, "cpu", &t);
    ck_assert_int_eq(t.n, 30);
    double last = 0;
    for (int i = 25; i < 30; i++) {
        ck_assert(isfinite(t.loss[i]));
        last += t.loss[i] / 5;
    }
    ck_assert_msg(last < 0.8 * t.loss[0],
                  "the loss went from %g to %g (last epoch's mean)",
                  t.loss[0], last);
}
END_TEST

START_TEST(activation_topology)
{
    clnet_error e;
    clnet_build_options o = {0};
    o.threads = 1;
    static const char *const bad[] = {
        "leaky_relu alpha=-0.1\n", /* Keras's LeakyReLU wants >= 0 */
        "gelu approximate=maybe\n",
        "sigmoid alpha=1\n", /* no such setting */
    };
    for (int i = 0; i < 3; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "input shape=4x4x1\nflatten\n%sdense units=2 "
                 "activation=softmax\ntrain optimizer=sgd lr=0.1\n",
                 bad[i]);
        clnet_net *n = test_build(text, &o, &e);
        ck_assert_msg(n == NULL, "%s was accepted", bad[i]);
    }
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
        m = fmax(m, fabs((double)cpu[i] - o[i]) / (1 + fabs(cpu[i])));
    ck_assert_msg(m <= 1e-5, "%s: the CPU and OpenCL results differ by %g",
                  what, m);
    free(o);
}

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
    size_t nin = l.in_size * (size_t)batch;
    float *x = malloc(nin * 4), *y = malloc(nin * 4), *dy = malloc(nin * 4),
          *dx = malloc(nin * 4);
    spread(x, nin, 6);
    x[0] = -300; /* far out on both sides */
    x[nin - 1] = 300;
    unsigned seed = 17;
    test_fill(dy, nin, -1, 1, &seed);
    void *ox = upload(x, nin), *oy = upload(y, nin), *ody = upload(dy, nin),
         *odx = upload(dx, nin);
    clnet_step st = train_step(batch);
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    ck_assert_msg(test_forward(po, so, &st, ox, oy, err) == 0, "%s", err);
    snprintf(what, sizeof what, "%s %dx%dx%d forward", kind, in.h, in.w,
             in.c);
    expect_close(what, y, oy, nin);
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

START_TEST(opencl_activations_agree)
{
    if (!have_opencl())
        return;
    static const clnet_shape shapes[] = {{5, 7, 3}, {5, 7, 17}};
    for (int s = 0; s < 2; s++)
        for (int batch = 1; batch <= 2; batch++) {
            for (int k = 0; k < 6; k++)
                agree(kinds[k],
                      act_values(kinds[k], k == 2 ? 0.3 : 1.0, 0),
                      shapes[s], batch);
            agree("leaky_relu", act_values("leaky_relu", 0.01, 0), shapes[s],
                  batch);
            agree("elu", act_values("elu", 0.5, 0), shapes[s], batch);
            agree("gelu", act_values("gelu", 0, 1), shapes[s], batch);
        }
}
END_TEST

START_TEST(opencl_activation_network_follows_cpu)
{
    if (!have_opencl())
        return;
    trajectory cpu = {0}, ocl = {0};
    train(act_net, "cpu", &cpu);
    train(act_net, "opencl", &ocl);
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
    Suite *s = suite_create("activations");
    TCase *tc = tcase_create("cpu");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, activation_values);
    tcase_add_test(tc, activation_by_hand);
    tcase_add_test(tc, activation_gradients);
    tcase_add_test(tc, dense_new_activations);
    tcase_add_test(tc, activation_network_learns);
    tcase_add_test(tc, activation_topology);
    suite_add_tcase(s, tc);
    TCase *ocl = tcase_create("opencl");
    tcase_set_timeout(ocl, 300);
    tcase_add_test(ocl, opencl_activations_agree);
    tcase_add_test(ocl, opencl_activation_network_follows_cpu);
    suite_add_tcase(s, ocl);
    return test_run(s);
}
