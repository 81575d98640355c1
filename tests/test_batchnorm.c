/* batchnorm (Keras 3's BatchNormalization over the channel axis): its
 * plan, forward on hand-computed values in training and inference, the
 * moving statistics after a step, backward against closed forms and finite
 * differences, thread-count independence, and networks that use it: Keras's
 * parameter counts, training, checkpoints of the moving statistics, and the
 * OpenCL backend following the CPU one. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/batchnorm/batchnorm_settings.h"
#include "helpers.h"

/* index of "true" and "false" in center= and scale= */
#define YES 0
#define NO 1

static void bn_values(clnet_value *v, double momentum, int center, int scale)
{
    memset(v, 0, sizeof(clnet_value) * BN_NSETTINGS);
    v[BN_MOMENTUM].f = momentum;
    v[BN_EPSILON].f = 1e-3;
    v[BN_CENTER].i[0] = center;
    v[BN_SCALE].i[0] = scale;
}

static clnet_step step(int32_t batch, int32_t training)
{
    clnet_step s = {batch, training, 42, 7, 1.0};
    return s;
}

/* A layer's parameters set to gamma, beta (when it has them) and Keras's
 * initial moving statistics (zeros, ones). */
static void set_params(test_layer *l, const float *gamma, const float *beta)
{
    for (int i = 0; i < l->plan.nparams; i++) {
        const char *n = l->plan.params[i].name;
        for (int32_t c = 0; c < l->in.c; c++)
            l->params[i][c] = !strcmp(n, "gamma")         ? gamma[c]
                              : !strcmp(n, "beta")        ? beta[c]
                              : !strcmp(n, "moving_mean") ? 0.0f
                                                          : 1.0f;
    }
}

START_TEST(plan_is_keras)
{
    clnet_value v[BN_NSETTINGS];
    bn_values(v, 0.99, YES, YES);
    clnet_shape in = {5, 7, 17};
    clnet_layer_plan p;
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_infer("batchnorm", v, &in, 1, &p, err), 0);
    ck_assert_int_eq(p.out.h, 5);
    ck_assert_int_eq(p.out.w, 7);
    ck_assert_int_eq(p.out.c, 17);
    ck_assert_int_eq(p.nparams, 4);
    const char *names[] = {"gamma", "beta", "moving_mean", "moving_variance"};
    const clnet_init init[] = {CLNET_INIT_ONES, CLNET_INIT_ZEROS,
                               CLNET_INIT_ZEROS, CLNET_INIT_ONES};
    for (int k = 0; k < 4; k++) {
        ck_assert_str_eq(p.params[k].name, names[k]);
        ck_assert_int_eq(p.params[k].ndim, 1);
        ck_assert_int_eq(p.params[k].dims[0], 17);
        ck_assert_int_eq(p.params[k].init, init[k]);
        ck_assert_int_eq(p.params[k].non_trainable, k >= 2);
    }
    ck_assert(p.flops_forward == 7.0 * 5 * 7 * 17);
    ck_assert(p.flops_backward == 9.0 * 5 * 7 * 17);
    ck_assert_int_eq(p.alias_input, 0);

    bn_values(v, 0.99, NO, YES);
    ck_assert_int_eq(test_infer("batchnorm", v, &in, 1, &p, err), 0);
    ck_assert_int_eq(p.nparams, 3);
    ck_assert_str_eq(p.params[0].name, "gamma");
    ck_assert_str_eq(p.params[1].name, "moving_mean");
    bn_values(v, 0.99, YES, NO);
    ck_assert_int_eq(test_infer("batchnorm", v, &in, 1, &p, err), 0);
    ck_assert_int_eq(p.nparams, 3);
    ck_assert_str_eq(p.params[0].name, "beta");
    bn_values(v, 0.99, NO, NO);
    ck_assert_int_eq(test_infer("batchnorm", v, &in, 1, &p, err), 0);
    ck_assert_int_eq(p.nparams, 2);
    ck_assert_str_eq(p.params[0].name, "moving_mean");
    ck_assert_str_eq(p.params[1].name, "moving_variance");
}
END_TEST

START_TEST(forward_1x1x2_by_hand)
{
    clnet_value v[BN_NSETTINGS];
    bn_values(v, 0.99, YES, YES);
    test_layer l;
    test_layer_create(&l, "batchnorm", v, (clnet_shape){1, 1, 2}, 3, 0, 1);
    const float ones[2] = {1, 1}, zeros[2] = {0, 0};
    set_params(&l, ones, zeros);
    /* channel 0: 1 3 5, mean 3, variance 8/3; channel 1: 2 6 10, mean 6,
     * variance 32/3 */
    float x[6] = {1, 2, 3, 6, 5, 10}, y[6];
    clnet_step st = step(3, 1);
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    const double a = 2 / sqrt(8.0 / 3 + 1e-3), b = 4 / sqrt(32.0 / 3 + 1e-3);
    const double want[6] = {-a, -b, 0, 0, a, b};
    for (int i = 0; i < 6; i++)
        ck_assert_double_eq_tol(y[i], want[i], 1e-6);
    /* moving = moving * 0.99 + batch * 0.01, the biased variance */
    ck_assert_double_eq_tol(l.params[2][0], 0.03, 1e-7);
    ck_assert_double_eq_tol(l.params[2][1], 0.06, 1e-7);
    ck_assert_double_eq_tol(l.params[3][0], 0.99 + 0.01 * 8.0 / 3, 1e-6);
    ck_assert_double_eq_tol(l.params[3][1], 0.99 + 0.01 * 32.0 / 3, 1e-6);
    /* inference: the moving statistics, which change no more */
    float mm0 = l.params[2][0], mv1 = l.params[3][1];
    st = step(3, 0);
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    for (int i = 0; i < 6; i++) {
        const float *mm = l.params[2], *mv = l.params[3];
        ck_assert_double_eq_tol(
            y[i], (x[i] - mm[i % 2]) / sqrt(mv[i % 2] + 1e-3), 1e-6);
    }
    ck_assert(l.params[2][0] == mm0 && l.params[3][1] == mv1);
    /* one sample of one value: variance 0, the output is beta */
    const float beta[2] = {0.5f, -0.25f};
    set_params(&l, ones, beta);
    st = step(1, 1);
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    ck_assert(y[0] == 0.5f && y[1] == -0.25f);
    test_layer_destroy(&l);
}
END_TEST

START_TEST(forward_2x2x3_by_hand)
{
    clnet_value v[BN_NSETTINGS];
    bn_values(v, 0.99, YES, YES);
    test_layer l;
    test_layer_create(&l, "batchnorm", v, (clnet_shape){2, 2, 3}, 1, 0, 2);
    const float gamma[3] = {2, 1, 1}, beta[3] = {0, 1, -1};
    set_params(&l, gamma, beta);
    /* channel 0: 1 2 3 4 (mean 2.5, variance 1.25); channel 1: 0 0 0 8
     * (2, 12); channel 2: 5 5 5 5 (5, 0) */
    float x[12] = {1, 0, 5, 2, 0, 5, 3, 0, 5, 4, 8, 5}, y[12];
    clnet_step st = step(1, 1);
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_forward(l.p, l.state, &st, x, y, err), 0);
    const double mean[3] = {2.5, 2, 5}, var[3] = {1.25, 12, 0};
    for (int i = 0; i < 12; i++) {
        int c = i % 3;
        ck_assert_double_eq_tol(
            y[i], gamma[c] * (x[i] - mean[c]) / sqrt(var[c] + 1e-3) + beta[c],
            1e-5);
    }
    ck_assert_double_eq_tol(y[0], 2 * -1.5 / sqrt(1.251), 1e-5);
    ck_assert_double_eq_tol(y[10], 1 + 6 / sqrt(12.001), 1e-5);
    ck_assert(y[2] == -1.0f);
    for (int c = 0; c < 3; c++) {
        ck_assert_double_eq_tol(l.params[2][c], 0.01 * mean[c], 1e-7);
        ck_assert_double_eq_tol(l.params[3][c], 0.99 + 0.01 * var[c], 1e-6);
    }

    /* backward with dy = 1: dbeta = M = 4, dgamma = sum xhat = 0, dx = 0 */
    float dy[12], dx[12];
    for (int i = 0; i < 12; i++)
        dy[i] = 1;
    ck_assert_int_eq(test_backward(l.p, l.state, &st, x, y, dy, dx, err), 0);
    for (int c = 0; c < 3; c++) {
        ck_assert_double_eq_tol(l.grads[1][c], 4, 1e-6);
        ck_assert_double_eq_tol(l.grads[0][c], 0, 1e-5);
    }
    for (int i = 0; i < 12; i++)
        ck_assert_double_eq_tol(dx[i], 0, 1e-5);
    /* dy = xhat: dgamma = M var / (var + eps), dx = gamma inv_std xhat eps
     * / (var + eps) */
    for (int i = 0; i < 12; i++)
        dy[i] = (float)((x[i] - mean[i % 3]) / sqrt(var[i % 3] + 1e-3));
    ck_assert_int_eq(test_backward(l.p, l.state, &st, x, y, dy, dx, err), 0);
    for (int c = 0; c < 2; c++)
        ck_assert_double_eq_tol(l.grads[0][c], 4 * var[c] / (var[c] + 1e-3),
                                1e-5);
    for (int i = 0; i < 12; i++) {
        int c = i % 3;
        double is = 1 / sqrt(var[c] + 1e-3);
        ck_assert_double_eq_tol(dx[i],
                                gamma[c] * is * dy[i] * 1e-3 / (var[c] + 1e-3),
                                1e-5);
    }
    /* without an input gradient, the same parameter gradients */
    float dg = l.grads[0][0];
    l.grads[0][0] = 99;
    ck_assert_int_eq(test_backward(l.p, l.state, &st, x, y, dy, NULL, err), 0);
    ck_assert(l.grads[0][0] == dg);
    test_layer_destroy(&l);
}
END_TEST

/* center and scale on and off; odd shapes, batch 1 */
static const int grad_cases[][6] = {
    /* h, w, c, batch, center, scale */
    {2, 2, 3, 2, YES, YES}, {1, 1, 5, 7, YES, YES}, {3, 5, 17, 1, YES, NO},
    {3, 3, 1, 3, NO, YES},  {2, 3, 4, 2, NO, NO},
};

START_TEST(backward_matches_finite_differences)
{
    const int *g = grad_cases[_i];
    clnet_value v[BN_NSETTINGS];
    bn_values(v, 0.99, g[4], g[5]);
    test_layer l;
    test_layer_create(&l, "batchnorm", v, (clnet_shape){g[0], g[1], g[2]},
                      g[3], 0, 3 + (unsigned)_i);
    size_t n = l.in_size * (size_t)g[3];
    float *x = malloc(n * sizeof *x);
    unsigned seed = 11 + (unsigned)_i;
    test_fill(x, n, -2, 3, &seed);
    test_gradcheck(&l, x, 1e-2f, 2e-3);
    free(x);
    test_layer_destroy(&l);
}
END_TEST

/* Runs a training step of a 16x16x32 batch of 8 on `threads` threads. */
static void run_threads(int32_t threads, const float *x, const float *dy,
                        float *y, float *dx, float *dgamma, float *mv)
{
    clnet_value v[BN_NSETTINGS];
    bn_values(v, 0.99, YES, YES);
    clnet_shape in = {16, 16, 32};
    clnet_layer_plan plan;
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_infer("batchnorm", v, &in, 1, &plan, err), 0);
    const clnet_plugin *p = test_plugin("batchnorm");
    clnet_create_args a = {0};
    a.settings = v;
    a.ninputs = 1;
    a.in = &in;
    a.plan = &plan;
    a.max_batch = 8;
    a.threads = threads;
    a.tuning = "";
    void *state;
    ck_assert_int_eq(p->create(&a, &state, err), 0);
    float params[4][32], grads[2][32];
    for (int c = 0; c < 32; c++) {
        params[0][c] = 1 + 0.01f * c;
        params[1][c] = 0.1f * c;
        params[2][c] = 0;
        params[3][c] = 1;
    }
    void *pp[4] = {params[0], params[1], params[2], params[3]};
    void *gg[4] = {grads[0], grads[1], NULL, NULL};
    ck_assert_int_eq(p->layer.bind(state, pp, gg), 0);
    clnet_step st = step(8, 1);
    ck_assert_int_eq(test_forward(p, state, &st, x, y, err), 0);
    size_t n = 16 * 16 * 32 * 8;
    float *d = malloc(n * sizeof *d);
    memcpy(d, dy, n * sizeof *d);
    ck_assert_int_eq(test_backward(p, state, &st, x, y, d, dx, err), 0);
    memcpy(dgamma, grads[0], sizeof grads[0]);
    memcpy(mv, params[3], sizeof params[3]);
    free(d);
    p->destroy(state);
}

START_TEST(same_on_any_thread_count)
{
    size_t n = 16 * 16 * 32 * 8;
    float *x = malloc(n * 4), *dy = malloc(n * 4), *y[2], *dx[2];
    float dg[2][32], mv[2][32];
    unsigned seed = 5;
    test_fill(x, n, -1, 4, &seed);
    test_fill(dy, n, -1, 1, &seed);
    for (int t = 0; t < 2; t++) {
        y[t] = malloc(n * 4);
        dx[t] = malloc(n * 4);
        run_threads(t + 1, x, dy, y[t], dx[t], dg[t], mv[t]);
    }
    ck_assert(memcmp(y[0], y[1], n * 4) == 0);
    ck_assert(memcmp(dx[0], dx[1], n * 4) == 0);
    ck_assert(memcmp(dg[0], dg[1], sizeof dg[0]) == 0);
    ck_assert(memcmp(mv[0], mv[1], sizeof mv[0]) == 0);
    for (int t = 0; t < 2; t++) {
        free(y[t]);
        free(dx[t]);
    }
    free(x);
    free(dy);
}
END_TEST

static char *summary_text(const clnet_net *n)
{
    char *buf = NULL;
    size_t len = 0;
    clnet_error e;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(clnet_net_summary(n, f, &e), 0);
    fclose(f);
    return buf;
}

static clnet_net *build(const char *text, const char *device, uint64_t seed,
                        clnet_error *e)
{
    clnet_build_options o = {0};
    o.max_batch = 8;
    o.seed = seed;
    o.threads = 2;
    o.device = device;
    o.strict = 1;
    return test_build(text, &o, e);
}

START_TEST(keras_parameter_counts)
{
    /* Keras: conv2d 3 * 3 * 3 * 4 + 4 = 112; BatchNormalization 4 * 4 =
     * 16, 8 of them non-trainable; dense 64 * 2 + 2 = 130 */
    const char *text = "input shape=6x6x3\n"
                       "conv2d filters=4 kernel=3\n"
                       "batchnorm\n"
                       "flatten\n"
                       "dense units=2 activation=softmax\n";
    clnet_error e;
    clnet_net *n = build(text, "cpu", 1, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    ck_assert_int_eq(clnet_net_param_count(n), 258);
    char *s = summary_text(n);
    ck_assert_msg(strstr(s, "Total params: 258 "), "%s", s);
    ck_assert_msg(strstr(s, "Trainable params: 250 "), "%s", s);
    ck_assert_msg(strstr(s, "Non-trainable params: 8 "), "%s", s);
    ck_assert_msg(strstr(s, "(batchnorm)"), "%s", s);
    free(s);
    /* inference through the moving statistics Keras starts from */
    uint8_t px[2 * 108];
    for (int i = 0; i < 2 * 108; i++)
        px[i] = (uint8_t)(i * 37 % 251);
    float probs[4];
    ck_assert_msg(clnet_predict(n, px, 2, probs, &e) == 0, "%s", e.msg);
    for (int i = 0; i < 2; i++) {
        ck_assert(isfinite(probs[2 * i]) && isfinite(probs[2 * i + 1]));
        ck_assert_double_eq_tol(probs[2 * i] + probs[2 * i + 1], 1, 1e-5);
    }
    clnet_net_free(n);

    /* no gamma nor beta: only the 2 x 4 moving statistics */
    n = build("input shape=6x6x3\nconv2d filters=4 kernel=3\n"
              "batchnorm center=false scale=false momentum=0.9 "
              "epsilon=0.01\nflatten\ndense units=2 activation=softmax\n",
              "cpu", 1, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    ck_assert_int_eq(clnet_net_param_count(n), 112 + 8 + 130);
    s = summary_text(n);
    ck_assert_msg(strstr(s, "Non-trainable params: 8 "), "%s", s);
    ck_assert_msg(strstr(s, "Trainable params: 242 "), "%s", s);
    free(s);
    clnet_net_free(n);

    /* Keras's bounds */
    ck_assert_ptr_null(build("input shape=6x6x3\nbatchnorm momentum=1.5\n"
                             "flatten\ndense units=2\n", "cpu", 1, &e));
    ck_assert_ptr_null(build("input shape=6x6x3\nbatchnorm epsilon=0\n"
                             "flatten\ndense units=2\n", "cpu", 1, &e));
    ck_assert_ptr_null(build("input shape=6x6x3\nbatchnorm axis=1\n"
                             "flatten\ndense units=2\n", "cpu", 1, &e));
}
END_TEST

static const char *train_net = "input shape=8x8x1\n"
                               "conv2d filters=4 kernel=3\n"
                               "batchnorm momentum=0.9\n"
                               "relu\n"
                               "flatten\n"
                               "dense units=2 activation=softmax\n"
                               "train optimizer=adam lr=0.01 batch=8\n";

/* 32 images: class 0 bright in the top half, class 1 in the bottom. */
static void two_halves(clnet_dataset *ds)
{
    *ds = (clnet_dataset){0};
    ds->count = 32;
    ds->rows = ds->cols = 8;
    ds->pixels = malloc(32 * 64);
    ds->labels = malloc(32 * sizeof(int32_t));
    for (int i = 0; i < 32; i++) {
        ds->labels[i] = i % 2;
        for (int p = 0; p < 64; p++)
            ds->pixels[i * 64 + p] = (uint8_t)(
                (p / 32 == i % 2 ? 150 : 20) + (p * 7 + i * 13) % 60);
    }
}

typedef struct {
    double loss[64];
    int n;
} trajectory;

static void record(int64_t s, double loss, void *user)
{
    (void)s;
    trajectory *t = user;
    if (t->n < 64)
        t->loss[t->n++] = loss;
}

static clnet_net *train(const char *device, trajectory *t)
{
    clnet_error e;
    clnet_net *n = build(train_net, device, 3, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    clnet_dataset ds;
    two_halves(&ds);
    clnet_train_options o = {0};
    o.epochs = 4;
    o.on_step = record;
    o.user = t;
    ck_assert_msg(clnet_train(n, &ds, NULL, &o, &e) == 0, "%s", e.msg);
    clnet_dataset_free(&ds);
    return n;
}

START_TEST(trains_and_checkpoints_moving_statistics)
{
    trajectory t = {0};
    clnet_net *n = train("cpu", &t);
    ck_assert_int_eq(t.n, 16);
    for (int i = 0; i < t.n; i++)
        ck_assert(isfinite(t.loss[i]));
    ck_assert_msg(t.loss[15] < 0.5 * t.loss[0], "loss %g -> %g", t.loss[0],
                  t.loss[15]);
    clnet_dataset ds;
    two_halves(&ds);
    clnet_eval_result r = {0};
    clnet_error e;
    ck_assert_msg(clnet_evaluate(n, &ds, &r, &e) == 0, "%s", e.msg);
    free(r.confusion);
    ck_assert_msg(r.accuracy >= 0.9, "accuracy %g", r.accuracy);
    float a[64], b[64], c[64];
    ck_assert_int_eq(clnet_predict(n, ds.pixels, 32, a, &e), 0);
    /* a checkpoint carries the moving statistics: a fresh network loaded
     * from it predicts the same, and differs before loading */
    char path[1024];
    snprintf(path, sizeof path, "%s/bn.ckpt", test_tmpdir());
    ck_assert_msg(clnet_checkpoint_save(n, path, &e) == 0, "%s", e.msg);
    clnet_net *m = build(train_net, "cpu", 3, &e);
    ck_assert_msg(m != NULL, "%s", e.msg);
    ck_assert_int_eq(clnet_predict(m, ds.pixels, 32, c, &e), 0);
    ck_assert(memcmp(a, c, sizeof a) != 0);
    ck_assert_msg(clnet_checkpoint_load(m, path, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(clnet_predict(m, ds.pixels, 32, b, &e), 0);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    clnet_net_free(m);
    clnet_net_free(n);
    clnet_dataset_free(&ds);
}
END_TEST

START_TEST(opencl_follows_cpu)
{
    clnet_device_info info[4];
    clnet_error e;
    if (clnet_devices(test_registry(), "opencl", info, 4, &e) <= 0) {
        fprintf(stderr, "opencl_follows_cpu skipped: no OpenCL device\n");
        return;
    }
    trajectory cpu = {0}, ocl = {0};
    clnet_net *a = train("cpu", &cpu), *b = train("opencl", &ocl);
    ck_assert_int_eq(cpu.n, ocl.n);
    for (int i = 0; i < cpu.n; i++)
        ck_assert_msg(fabs(cpu.loss[i] - ocl.loss[i]) <=
                          1e-3 * fabs(cpu.loss[i]),
                      "step %d: cpu %.6f, opencl %.6f", i + 1, cpu.loss[i],
                      ocl.loss[i]);
    clnet_dataset ds;
    two_halves(&ds);
    float pa[64], pb[64];
    ck_assert_int_eq(clnet_predict(a, ds.pixels, 32, pa, &e), 0);
    ck_assert_int_eq(clnet_predict(b, ds.pixels, 32, pb, &e), 0);
    for (int i = 0; i < 64; i++)
        ck_assert_double_eq_tol(pa[i], pb[i], 1e-3);
    clnet_dataset_free(&ds);
    clnet_net_free(a);
    clnet_net_free(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("batchnorm");
    TCase *t = tcase_create("layer");
    tcase_add_test(t, plan_is_keras);
    tcase_add_test(t, forward_1x1x2_by_hand);
    tcase_add_test(t, forward_2x2x3_by_hand);
    tcase_add_loop_test(t, backward_matches_finite_differences, 0,
                        (int)(sizeof grad_cases / sizeof grad_cases[0]));
    tcase_add_test(t, same_on_any_thread_count);
    suite_add_tcase(s, t);
    TCase *net = tcase_create("network");
    tcase_add_test(net, keras_parameter_counts);
    tcase_add_test(net, trains_and_checkpoints_moving_statistics);
    tcase_add_test(net, opencl_follows_cpu);
    suite_add_tcase(s, net);
    return test_run(s);
}
