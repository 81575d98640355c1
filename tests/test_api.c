/* The C API as a program embedding clnet uses it (clnet.h only): one
 * batch at a time, cancelling, tensors by name with their shapes, any
 * layer's output, the version, and the free functions. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static const char *const text =
    "input shape=6x6x1\n"
    "conv2d filters=3 kernel=3 name=c\n"
    "batchnorm name=bn\n"
    "relu name=r\n"
    "flatten name=f\n"
    "dense units=4 name=d\n"
    "softmax name=s\n"
    "train optimizer=sgd lr=0.05 batch=8\n";

enum { B = 8, PX = 36, K = 4 };

static clnet_net *build(int no_fusion, int keep)
{
    clnet_build_options o = {.seed = 5, .no_fusion = no_fusion,
                             .keep_outputs = keep};
    clnet_error e;
    clnet_net *n = test_build(text, &o, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    return n;
}

static void batch(uint8_t *px, int32_t *labels)
{
    for (int i = 0; i < B; i++) {
        labels[i] = i % K;
        for (int p = 0; p < PX; p++)
            px[i * PX + p] = (uint8_t)((p % 6 == labels[i]) * 200 + i);
    }
}

START_TEST(version_and_shapes)
{
    ck_assert_str_eq(clnet_version(), CLNET_VERSION);
    ck_assert_uint_eq(clnet_plugin_abi(), 3);
    clnet_net *n = build(0, 0);
    int32_t dims[4];
    clnet_error e;
    ck_assert_int_eq(clnet_net_param_shape(n, "c/kernel", dims, &e), 4);
    ck_assert_int_eq(dims[0], 3);
    ck_assert_int_eq(dims[1], 3);
    ck_assert_int_eq(dims[2], 1);
    ck_assert_int_eq(dims[3], 3);
    ck_assert_int_eq(clnet_net_param_shape(n, "d/kernel", dims, &e), 2);
    ck_assert_int_eq(dims[0], 48);
    ck_assert_int_eq(dims[1], 4);
    ck_assert_int_eq(clnet_net_param_shape(n, "bn/moving_mean", dims, &e), 1);
    ck_assert_int_eq(dims[0], 3);
    ck_assert_int_eq(clnet_net_param_shape(n, "d/gamma", dims, &e), -1);
    ck_assert_msg(strstr(e.msg, "has no tensor 'gamma' (it has: kernel, bias)"),
                  "%s", e.msg);
    clnet_shape s;
    ck_assert_int_eq(clnet_net_layer_shape(n, "c", &s, &e), 0);
    ck_assert_int_eq(s.h * 100 + s.w * 10 + s.c, 443);
    ck_assert_int_ne(clnet_net_layer_shape(n, "conv", &s, &e), 0);
    ck_assert_int_eq(e.status, CLNET_E_NOTFOUND);
    clnet_net_free(n);
}
END_TEST

/* A tensor written is the tensor read; a step changes it. */
START_TEST(tensors_and_steps)
{
    clnet_net *n = build(0, 0);
    clnet_error e;
    float w[12], r[12];
    for (int i = 0; i < 12; i++)
        w[i] = 0.01f * (float)i;
    ck_assert_int_eq(clnet_net_param_set(n, "d/bias", w, 4, &e), 0);
    ck_assert_int_eq(clnet_net_param_get(n, "d/bias", r, 4, &e), 0);
    ck_assert(!memcmp(w, r, 4 * sizeof *w));
    ck_assert_int_ne(clnet_net_param_get(n, "d/bias", r, 5, &e), 0);
    uint8_t px[B * PX];
    int32_t labels[B];
    batch(px, labels);
    double first = 0, loss = 0;
    int64_t correct = -1;
    for (int s = 0; s < 30; s++) {
        ck_assert_msg(clnet_net_train_batch(n, px, labels, B, &loss, &correct,
                                            &e) == 0, "%s", e.msg);
        if (s == 0)
            first = loss;
    }
    ck_assert_double_lt(loss, 0.5 * first);
    ck_assert_int_ge(correct, 0);
    ck_assert_int_le(correct, B);
    ck_assert_int_eq(clnet_net_param_get(n, "d/bias", r, 4, &e), 0);
    ck_assert(memcmp(w, r, 4 * sizeof *w) != 0);
    clnet_net_free(n);
}
END_TEST

/* The last layer's output is what clnet_predict gives; a layer inside
 * a fused chain, or one a relu overwrote, is refused, naming the build
 * option that gives it an output. */
START_TEST(layer_outputs)
{
    uint8_t px[B * PX];
    int32_t labels[B];
    batch(px, labels);
    clnet_error e;
    clnet_net *n = build(0, 0);
    float probs[B * K], out[B * K], conv[B * 48];
    ck_assert_int_eq(clnet_predict(n, px, B, probs, &e), 0);
    ck_assert_msg(clnet_net_layer_output(n, "s", px, B, out, B * K, &e) == 0,
                  "%s", e.msg);
    ck_assert(!memcmp(probs, out, sizeof out));
    ck_assert_int_ne(clnet_net_layer_output(n, "c", px, B, conv, B * 48, &e),
                     0);
    ck_assert_msg(strstr(e.msg, "c runs fused into r"), "%s", e.msg);
    ck_assert_int_ne(clnet_net_layer_output(n, "s", px, B, out, 3, &e), 0);
    clnet_net_free(n);
    /* without fusion: bn's output is overwritten by r, in place */
    n = build(1, 0);
    ck_assert_int_ne(clnet_net_layer_output(n, "bn", px, B, conv, B * 48, &e),
                     0);
    ck_assert_msg(strstr(e.msg, "keep_outputs"), "%s", e.msg);
    ck_assert_int_eq(clnet_net_layer_output(n, "c", px, 2, conv, 2 * 48, &e),
                     0);
    clnet_net_free(n);
    /* with every output kept: r is bn's output with its negatives at 0 */
    n = build(1, 1);
    float bn[B * 48], r[B * 48];
    ck_assert_int_eq(clnet_net_layer_output(n, "bn", px, B, bn, B * 48, &e), 0);
    ck_assert_int_eq(clnet_net_layer_output(n, "r", px, B, r, B * 48, &e), 0);
    int negatives = 0;
    for (int i = 0; i < B * 48; i++) {
        ck_assert_float_eq(r[i], bn[i] > 0 ? bn[i] : 0.0f);
        negatives += bn[i] < 0;
    }
    ck_assert_int_gt(negatives, 0);
    clnet_net_free(n);
}
END_TEST

static int stop_after(void *user)
{
    int *steps = user;
    return ++*steps >= 3;
}

/* should_stop cancels a clnet_train after the step that asked. */
START_TEST(cancel)
{
    clnet_net *n = build(0, 0);
    clnet_dataset ds = {.count = 64, .rows = 6, .cols = 6, .channels = 1};
    ds.pixels = malloc(64 * PX);
    ds.labels = malloc(64 * sizeof *ds.labels);
    for (int i = 0; i < 64; i++) {
        ds.labels[i] = i % K;
        memset(ds.pixels + i * PX, i, PX);
    }
    int steps = 0;
    clnet_train_options o = {.epochs = 5, .should_stop = stop_after,
                             .user = &steps};
    clnet_error e;
    ck_assert_int_eq(clnet_train(n, &ds, NULL, &o, &e), CLNET_E_INTERRUPTED);
    int32_t epochs;
    int64_t done;
    clnet_net_progress(n, &epochs, &done);
    ck_assert_int_eq(epochs, 0);
    ck_assert_int_eq(done, 3);
    clnet_eval_result res = {0};
    ck_assert_int_eq(clnet_evaluate(n, &ds, &res, &e), 0);
    ck_assert_ptr_nonnull(res.confusion);
    clnet_eval_result_free(&res);
    ck_assert_ptr_null(res.confusion);
    clnet_eval_result_free(&res);
    clnet_dataset_free(&ds);
    clnet_net_free(n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("api");
    tcase_add_test(tc, version_and_shapes);
    tcase_add_test(tc, tensors_and_steps);
    tcase_add_test(tc, layer_outputs);
    tcase_add_test(tc, cancel);
    suite_add_tcase(s, tc);
    return test_run(s);
}
