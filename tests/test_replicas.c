/* Data-parallel replicas (clnet_replicas_train_batch): two or three
 * replicas on slices of each batch follow the trajectory of one network
 * on the whole batch, dropout included, on the native CPU and with one
 * replica on OpenCL; replicas that are not replicas are refused. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static const char *const text =
    "input shape=8x8x1\n"
    "conv2d filters=4 kernel=3 activation=relu name=c\n"
    "maxpool2d pool=2\n"
    "flatten\n"
    "dropout rate=0.3\n"
    "dense units=3 name=d\n"
    "softmax\n"
    "train optimizer=adam lr=0.01 batch=8\n";

enum { B = 8, PX = 64, STEPS = 4 };

static clnet_net *build(const char *device, int32_t batch, uint64_t seed)
{
    clnet_build_options o = {.device = device, .max_batch = batch,
                             .seed = seed, .threads = 1};
    clnet_error e;
    clnet_net *n = test_build(text, &o, &e);
    ck_assert_msg(n != NULL || !strcmp(device, "opencl"), "%s", e.msg);
    return n;
}

static void batch(int s, uint8_t *px, int32_t *labels)
{
    for (int i = 0; i < B * PX; i++)
        px[i] = (uint8_t)((i * 29 + s * 53 + (i / 5) * 7) % 256);
    for (int i = 0; i < B; i++)
        labels[i] = (i * 5 + s) % 3;
}

static double worst_weight_gap(clnet_net *a, clnet_net *b)
{
    const char *names[] = {"c/kernel", "c/bias", "d/kernel", "d/bias"};
    double worst = 0;
    clnet_error e;
    for (int t = 0; t < 4; t++) {
        int64_t n = clnet_net_param_size(a, names[t]);
        float *x = malloc(sizeof *x * (size_t)n), *y = malloc(sizeof *y * (size_t)n);
        ck_assert_int_eq(clnet_net_param_get(a, names[t], x, (size_t)n, &e), 0);
        ck_assert_int_eq(clnet_net_param_get(b, names[t], y, (size_t)n, &e), 0);
        for (int64_t i = 0; i < n; i++)
            worst = fmax(worst, fabs(x[i] - y[i]));
        free(x);
        free(y);
    }
    return worst;
}

/* One network on the whole batch against the replicas on its slices. */
static void follow(clnet_net **reps, int32_t n, double tol)
{
    clnet_net *one = build("cpu", B, 3);
    uint8_t px[B * PX];
    int32_t labels[B];
    clnet_error e;
    for (int s = 0; s < STEPS; s++) {
        batch(s, px, labels);
        double la, lb;
        int64_t ca, cb;
        ck_assert_msg(clnet_net_train_batch(one, px, labels, B, &la, &ca,
                                            &e) == 0, "%s", e.msg);
        ck_assert_msg(clnet_replicas_train_batch(reps, n, px, labels, B, &lb,
                                                 &cb, &e) == 0, "%s", e.msg);
        ck_assert_msg(fabs(la - lb) <= tol * fabs(la), "step %d: loss %.9g "
                      "on one network, %.9g on %d replicas", s, la, lb, n);
        ck_assert_int_eq(ca, cb);
    }
    for (int32_t r = 0; r < n; r++) {
        double gap = worst_weight_gap(one, reps[r]);
        ck_assert_msg(gap <= tol, "replica %d's weights are %g from the one "
                      "network's", (int)r, gap);
    }
    clnet_net_free(one);
}

START_TEST(two_and_three_cpu_replicas)
{
    clnet_net *two[2] = {build("cpu", 4, 3), build("cpu", 4, 3)};
    follow(two, 2, 1e-5);
    clnet_net_free(two[0]);
    clnet_net_free(two[1]);
    /* 8 in three: slices of 2, 3 and 3 */
    clnet_net *three[3] = {build("cpu", 3, 3), build("cpu", 3, 3),
                           build("cpu", 3, 3)};
    follow(three, 3, 1e-5);
    for (int r = 0; r < 3; r++)
        clnet_net_free(three[r]);
}
END_TEST

START_TEST(cpu_and_opencl_replicas)
{
    clnet_net *cl = build("opencl", 4, 3);
    if (!cl) {
        fprintf(stderr, "no OpenCL device: cpu and opencl not compared\n");
        return;
    }
    clnet_net *reps[2] = {build("cpu", 4, 3), cl};
    follow(reps, 2, 1e-4);
    clnet_net_free(reps[0]);
    clnet_net_free(cl);
}
END_TEST

START_TEST(refusals)
{
    clnet_net *a = build("cpu", 4, 3), *b = build("cpu", 4, 4);
    clnet_net *small = build("cpu", 2, 3);
    uint8_t px[B * PX];
    int32_t labels[B];
    batch(0, px, labels);
    clnet_error e;
    clnet_net *other[2] = {a, b};
    ck_assert_int_ne(clnet_replicas_train_batch(other, 2, px, labels, B, NULL,
                                                NULL, &e), 0);
    ck_assert_msg(strstr(e.msg, "replica 1 is not a replica"), "%s", e.msg);
    clnet_net *twice[2] = {a, a};
    ck_assert_int_ne(clnet_replicas_train_batch(twice, 2, px, labels, B, NULL,
                                                NULL, &e), 0);
    ck_assert_msg(strstr(e.msg, "replica 1 is replica 0 again"), "%s", e.msg);
    clnet_net *narrow[2] = {a, small};
    ck_assert_int_ne(clnet_replicas_train_batch(narrow, 2, px, labels, B,
                                                NULL, NULL, &e), 0);
    ck_assert_msg(strstr(e.msg, "more than the 2 it was built for"), "%s",
                  e.msg);
    clnet_net_free(a);
    clnet_net_free(b);
    clnet_net_free(small);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("replicas");
    TCase *tc = tcase_create("replicas");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, two_and_three_cpu_replicas);
    tcase_add_test(tc, cpu_and_opencl_replicas);
    tcase_add_test(tc, refusals);
    suite_add_tcase(s, tc);
    return test_run(s);
}
