/* Learning-rate schedules: the learning rate of chosen updates against
 * values computed by hand from Keras's and PyTorch's formulas, the
 * optimizer really given it (a warm-up's first update, at lr 0, leaves
 * the weights as they were), the command-line form replacing the train
 * line's, and located refusals of bad settings. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

enum { COUNT = 40, BATCH = 10, STEPS = COUNT / BATCH };

typedef struct {
    clnet_net *net;
    double lr[64];
    int n;
} trace;

static void on_step(int64_t step, double loss, void *user)
{
    (void)step;
    (void)loss;
    trace *t = user;
    if (t->n < 64)
        t->lr[t->n++] = clnet_net_learning_rate(t->net);
}

static void dataset(clnet_dataset *ds, uint8_t *pixels, int32_t *labels)
{
    for (int i = 0; i < COUNT * 4; i++)
        pixels[i] = (uint8_t)(i * 53 % 256);
    for (int i = 0; i < COUNT; i++)
        labels[i] = i % 2;
    *ds = (clnet_dataset){COUNT, 2, 2, pixels, labels, 1, 0, NULL};
}

/* The learning rate of each update of `epochs` epochs (4 updates each)
 * of a network whose train line is `train`, with --schedule `spec`. */
static int run(const char *train, const char *spec, int epochs, double *lr)
{
    char text[512];
    snprintf(text, sizeof text,
             "input shape=2x2x1\nflatten\ndense units=2 activation=softmax\n"
             "train %s batch=%d\n",
             train, BATCH);
    clnet_error e;
    clnet_net *n = test_build(text, NULL, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    uint8_t pixels[COUNT * 4];
    int32_t labels[COUNT];
    clnet_dataset ds;
    dataset(&ds, pixels, labels);
    trace t = {.net = n};
    clnet_train_options o = {.epochs = epochs, .on_step = on_step,
                             .user = &t, .schedule = spec};
    ck_assert_msg(clnet_train(n, &ds, NULL, &o, &e) == 0, "%s", e.msg);
    memcpy(lr, t.lr, sizeof(double) * (size_t)t.n);
    clnet_net_free(n);
    return t.n;
}

static void near(double got, double want, const char *what, int k)
{
    ck_assert_msg(fabs(got - want) <= 1e-12 + 1e-9 * fabs(want),
                  "%s: update %d: lr %.12g, expected %.12g", what, k, got,
                  want);
}

START_TEST(schedules_by_hand)
{
    double lr[64];
    const double pi = 3.14159265358979323846;
    /* constant: the optimizer's lr throughout */
    ck_assert_int_eq(run("optimizer=sgd lr=0.5", NULL, 2, lr), 2 * STEPS);
    for (int k = 0; k < 2 * STEPS; k++)
        near(lr[k], 0.5, "constant", k);
    /* step: 0.1 x 0.5^floor(epoch / 2), epochs of 4 updates */
    run("optimizer=sgd lr=0.1 schedule=step drop=0.5 every=2", NULL, 5, lr);
    for (int k = 0; k < 5 * STEPS; k++)
        near(lr[k], 0.1 * pow(0.5, floor(k / STEPS / 2.0)), "step", k);
    /* exponential: Keras's ExponentialDecay(decay_steps = one epoch) */
    run("lr=0.01 schedule=exponential decay=0.8", NULL, 2, lr);
    near(lr[0], 0.01, "exponential", 0);
    near(lr[1], 0.01 * pow(0.8, 0.25), "exponential", 1);
    near(lr[6], 0.01 * pow(0.8, 1.5), "exponential", 6);
    /* cosine after one epoch of warm-up, over 3 epochs: 4 warm-up
     * updates from 0, then 8 along the cosine to alpha x lr */
    run("lr=0.002 schedule=cosine warmup=1 alpha=0.1", NULL, 3, lr);
    near(lr[0], 0, "cosine", 0);
    near(lr[1], 0.002 * 0.25, "cosine", 1);
    near(lr[3], 0.002 * 0.75, "cosine", 3);
    near(lr[4], 0.002, "cosine", 4);
    near(lr[6], 0.002 * (0.9 * 0.5 * (1 + cos(pi * 2 / 8)) + 0.1), "cosine",
         6);
    near(lr[11], 0.002 * (0.9 * 0.5 * (1 + cos(pi * 7 / 8)) + 0.1),
         "cosine", 11);
    /* onecycle: PyTorch's OneCycleLR(max_lr=0.01, total_steps=20,
     * pct_start=0.3, div_factor=25, final_div_factor=1e4): up over
     * updates 0..5, down over 5..19 */
    run("optimizer=sgd lr=0.01 schedule=onecycle", NULL, 5, lr);
    double lo = 0.01 / 25, end = lo / 1e4;
    near(lr[0], lo, "onecycle", 0);
    near(lr[2], 0.01 + (lo - 0.01) / 2 * (cos(pi * 2 / 5) + 1), "onecycle",
         2);
    near(lr[5], 0.01, "onecycle", 5);
    near(lr[12], end + (0.01 - end) / 2 * (cos(pi * 7 / 14) + 1),
         "onecycle", 12);
    near(lr[19], end, "onecycle", 19);
}
END_TEST

/* --schedule's text replaces the train line's schedule and settings. */
START_TEST(override_replaces_train_line)
{
    double lr[64];
    run("lr=0.1 schedule=step drop=0.1 every=1", "exponential,decay=0.5", 2,
        lr);
    near(lr[4], 0.1 * 0.5, "override", 4);
    near(lr[6], 0.1 * pow(0.5, 1.5), "override", 6);
}
END_TEST

/* After a run whose last update took a factor of 0.1, steps of their own
 * (clnet_net_train_batch) take the optimizer's lr again. */
START_TEST(rate_after_the_run)
{
    clnet_error e;
    clnet_net *n = test_build("input shape=2x2x1\nflatten\ndense units=2 "
                              "activation=softmax\ntrain optimizer=sgd lr=0.5 "
                              "schedule=step drop=0.1 every=1 batch=10\n",
                              NULL, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    uint8_t pixels[COUNT * 4];
    int32_t labels[COUNT];
    clnet_dataset ds;
    dataset(&ds, pixels, labels);
    trace t = {.net = n};
    clnet_train_options o = {.epochs = 2, .on_step = on_step, .user = &t};
    ck_assert_msg(clnet_train(n, &ds, NULL, &o, &e) == 0, "%s", e.msg);
    near(t.lr[t.n - 1], 0.05, "step", t.n - 1);
    near(clnet_net_learning_rate(n), 0.5, "after the run", 0);
    clnet_net_free(n);
}
END_TEST

/* The optimizer uses the scheduled rate: the warm-up's first update, at
 * lr 0, leaves every weight as it was; the second, at the full rate,
 * moves them; on each backend's optimizer. */
typedef struct {
    clnet_net *net;
    float w[2][8];
    int n;
} snapshots;

static void snapshot(int64_t step, double loss, void *user)
{
    (void)step;
    (void)loss;
    snapshots *s = user;
    clnet_error e;
    if (s->n < 2)
        ck_assert_int_eq(
            clnet_net_param_get(s->net, "d/kernel", s->w[s->n++], 8, &e), 0);
}

START_TEST(optimizer_gets_the_rate)
{
    const char *text = "input shape=2x2x1\nflatten\ndense units=2 "
                       "activation=softmax name=d\n"
                       "train optimizer=sgd lr=0.5 schedule=cosine warmup=1 "
                       "batch=10\n";
    const char *devices[] = {"cpu", "opencl"};
    for (int d = 0; d < 2; d++) {
        clnet_build_options bo = {.device = devices[d], .seed = 3};
        clnet_error e;
        clnet_net *n = test_build(text, &bo, &e);
        if (!n && d == 1) /* no OpenCL device here */
            continue;
        ck_assert_msg(n != NULL, "%s", e.msg);
        uint8_t pixels[COUNT * 4];
        int32_t labels[COUNT];
        clnet_dataset ds;
        dataset(&ds, pixels, labels);
        ds.count = BATCH; /* one update an epoch */
        float w0[8];
        ck_assert_int_eq(clnet_net_param_get(n, "d/kernel", w0, 8, &e), 0);
        snapshots s = {.net = n};
        clnet_train_options o = {.epochs = 1, .on_step = snapshot, .user = &s};
        /* one epoch with warmup=1 leaves none for the schedule: refused */
        ck_assert_int_ne(clnet_train(n, &ds, NULL, &o, &e), 0);
        ck_assert_msg(strstr(e.msg, "warmup=1 epochs leaves none"), "%s",
                      e.msg);
        o.epochs = 2;
        ck_assert_msg(clnet_train(n, &ds, NULL, &o, &e) == 0, "%s", e.msg);
        ck_assert_int_eq(s.n, 2);
        ck_assert_msg(!memcmp(w0, s.w[0], sizeof w0),
                      "%s: the update at lr 0 moved the weights", devices[d]);
        int moved = 0;
        for (int k = 0; k < 8; k++)
            moved |= s.w[1][k] != w0[k];
        ck_assert_msg(moved, "%s: the second update did not move the weights",
                      devices[d]);
        clnet_net_free(n);
    }
}
END_TEST

START_TEST(bad_settings_located)
{
    const char *cases[][2] = {
        {"train schedule=cosin\n", "t.net:4:16: unknown schedule 'cosin'"},
        {"train schedule=cosine drop=0.5\n",
         "t.net:4:23: drop does not apply to schedule=cosine"},
        {"train schedule=step drop=0\n", "t.net:4:26: drop=0: expected"},
        {"train schedule=onecycle warmup=1\n",
         "t.net:4:25: warmup does not apply to schedule=onecycle"},
        {"train schedule=cosine alpha=x\n", "t.net:4:29: alpha=x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "input shape=2x2x1\nflatten\ndense "
                                    "units=2\n%s", cases[i][0]);
        clnet_error e;
        ck_assert_ptr_null(test_build(text, NULL, &e));
        ck_assert_msg(strstr(e.msg, cases[i][1]), "%s: %s", cases[i][0],
                      e.msg);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("schedule");
    TCase *tc = tcase_create("schedules");
    tcase_add_test(tc, schedules_by_hand);
    tcase_add_test(tc, override_replaces_train_line);
    tcase_add_test(tc, rate_after_the_run);
    tcase_add_test(tc, optimizer_gets_the_rate);
    tcase_add_test(tc, bad_settings_located);
    suite_add_tcase(s, tc);
    return test_run(s);
}
