/* Inference fusion (src/fuse.c): a network's predictions with its
 * conv2d/dense/depthwise_conv2d + batchnorm [+ activation] chains run as
 * one call each equal those of the same network run layer by layer, after
 * training has moved the weights and the moving statistics, again after
 * more training and after a parameter is set by hand (the fold follows
 * both), on every backend; the summary names the chains, and a
 * batchnorm whose input has a second reader is left apart. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static const char *const net_text =
    "input shape=7x6x2\n"
    "conv2d filters=16 kernel=3 padding=same name=c1\n"
    "batchnorm name=b1\n"
    "relu name=r1\n"
    "depthwise_conv2d kernel=3 name=dw\n"
    "batchnorm scale=false name=b2\n"
    "swish name=s2\n"
    "conv2d filters=5 kernel=1 name=c3\n"
    "batchnorm name=b3\n"
    "conv2d filters=5 kernel=1 name=side inputs=c3\n"
    "add inputs=b3,side\n"
    "flatten\n"
    "dense units=4 name=d\n"
    "batchnorm name=b4\n"
    "softmax name=out\n"
    "train optimizer=sgd lr=0.2 batch=6\n";

enum { B = 6, CLASSES = 4 };

static clnet_net *build(const char *device, int no_fusion)
{
    clnet_build_options o = {.device = device, .seed = 5,
                             .no_fusion = no_fusion};
    clnet_error e;
    clnet_net *n = test_build(net_text, &o, &e);
    ck_assert_msg(n != NULL || !strcmp(device, "opencl"), "%s: %s", device,
                  e.msg);
    return n;
}

static void batch(uint8_t *px, int32_t *labels, int round)
{
    for (int i = 0; i < B * 7 * 6 * 2; i++)
        px[i] = (uint8_t)((i * 29 + round * 101) % 256);
    for (int i = 0; i < B; i++)
        labels[i] = (i + round) % CLASSES;
}

static void train(clnet_net *n, int steps, int from)
{
    uint8_t px[B * 84];
    int32_t labels[B];
    clnet_error e;
    for (int s = 0; s < steps; s++) {
        batch(px, labels, from + s);
        ck_assert_msg(clnet_net_train_batch(n, px, labels, B, NULL, NULL,
                                            &e) == 0,
                      "%s", e.msg);
    }
}

static void same_predictions(clnet_net *fused, clnet_net *plain,
                             const char *device, const char *when)
{
    uint8_t px[B * 84];
    int32_t labels[B];
    batch(px, labels, 99);
    float pf[B * CLASSES], pp[B * CLASSES];
    clnet_error e;
    ck_assert_msg(clnet_predict(fused, px, B, pf, &e) == 0, "%s", e.msg);
    ck_assert_msg(clnet_predict(plain, px, B, pp, &e) == 0, "%s", e.msg);
    double worst = 0;
    for (int i = 0; i < B * CLASSES; i++)
        worst = fmax(worst, fabs((double)pf[i] - pp[i]));
    ck_assert_msg(worst < 2e-5, "%s, %s: fused predictions differ by %g",
                  device, when, worst);
}

START_TEST(fused_equals_unfused)
{
    const char *devices[] = {"cpu", "opencl"};
    for (int d = 0; d < 2; d++) {
        clnet_net *fused = build(devices[d], 0);
        if (!fused) {
            fprintf(stderr, "no OpenCL device: opencl not compared\n");
            continue;
        }
        clnet_net *plain = build(devices[d], 1);
        /* moving statistics away from 0 and 1, weights away from their
         * start */
        train(fused, 4, 0);
        train(plain, 4, 0);
        same_predictions(fused, plain, devices[d], "after 4 steps");
        train(fused, 2, 4);
        train(plain, 2, 4);
        same_predictions(fused, plain, devices[d], "after 2 more steps");
        float gamma[16];
        clnet_error e;
        for (int c = 0; c < 16; c++)
            gamma[c] = 0.5f + 0.1f * (float)c;
        ck_assert_int_eq(clnet_net_param_set(fused, "b1/gamma", gamma, 16,
                                             &e), 0);
        ck_assert_int_eq(clnet_net_param_set(plain, "b1/gamma", gamma, 16,
                                             &e), 0);
        same_predictions(fused, plain, devices[d], "after setting b1/gamma");
        clnet_net_free(fused);
        clnet_net_free(plain);
    }
}
END_TEST

START_TEST(summary_names_the_chains)
{
    clnet_net *n = build("cpu", 0);
    char *text = test_summary(n);
    /* b3 is read by add and nothing else, but c3 by b3 and side */
    ck_assert_msg(strstr(text, "c1 + b1 + r1, dw + b2 + s2, d + b4 + out\n"),
                  "%s", text);
    free(text);
    clnet_net_free(n);
    n = build("cpu", 1);
    text = test_summary(n);
    ck_assert_msg(!strstr(text, "Fused in inference"), "%s", text);
    free(text);
    clnet_net_free(n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fusion");
    TCase *tc = tcase_create("fusion");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fused_equals_unfused);
    tcase_add_test(tc, summary_names_the_chains);
    suite_add_tcase(s, tc);
    return test_run(s);
}
