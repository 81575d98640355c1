/* In-place layers (memory.c: clnet_net_plan_in_place): a relu or add
 * whose input has no other reader, after a layer whose backward does not
 * read its own output (batchnorm, add), writes over that input's buffer.
 * The training trajectory is the one of the same network with every
 * output in its own buffer (keep_outputs), step for step, on every
 * backend; the plan is smaller by exactly the buffers shared; a relu after
 * a conv2d (whose backward reads its output), or after a batchnorm with a
 * second reader, keeps its own. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static const char *const net_text =
    "input shape=8x8x3\n"
    "conv2d filters=8 kernel=3 padding=same name=c1\n"
    "batchnorm name=b1\n"
    "relu name=r1\n"                       /* over b1 */
    "conv2d filters=8 kernel=3 padding=same name=c2\n"
    "batchnorm name=b2\n"
    "add inputs=b2,r1 name=a2\n"           /* over b2 */
    "relu name=r2\n"                       /* over a2, so over b2 */
    "conv2d filters=8 kernel=1 name=c3\n"
    "relu name=r3\n"                       /* conv2d's output: its own */
    "batchnorm name=b4\n"
    "relu name=r4\n"                       /* b4 has two readers: its own */
    "add inputs=r4,b4 name=a4\n"           /* r4 is a relu: its own */
    "global_avgpool2d\n"
    "dense units=5\n"
    "softmax\n"
    "train optimizer=adam lr=0.01 batch=6\n";

enum { B = 6, CLASSES = 5, PIXELS = 8 * 8 * 3 };

static clnet_net *build(const char *device, int keep)
{
    clnet_build_options o = {.device = device, .seed = 3,
                             .keep_outputs = keep};
    clnet_error e;
    clnet_net *n = test_build(net_text, &o, &e);
    ck_assert_msg(n != NULL || !strcmp(device, "opencl"), "%s: %s", device,
                  e.msg);
    return n;
}

/* Step s's images and labels, the same for every network compared. */
static void step_data(int s, uint8_t *px, int32_t *labels)
{
    for (int i = 0; i < B * PIXELS; i++)
        px[i] = (uint8_t)((i * 37 + s * 11) % 256);
    for (int i = 0; i < B; i++)
        labels[i] = (i + s) % CLASSES;
}

/* The in-place network on OpenCL follows the native CPU's trajectory
 * within float32 noise: sharing buffers must not change what any
 * backend computes (the kept-outputs comparison alone would not see a
 * gradient both variants lose alike). */
START_TEST(opencl_follows_cpu)
{
    clnet_net *cl = build("opencl", 0);
    if (!cl) {
        fprintf(stderr, "no OpenCL device: opencl not compared\n");
        return;
    }
    clnet_net *cpu = build("cpu", 0);
    uint8_t px[B * PIXELS];
    int32_t labels[B];
    clnet_error e;
    for (int s = 0; s < 5; s++) {
        step_data(s, px, labels);
        double la, lb;
        ck_assert_msg(clnet_net_train_batch(cl, px, labels, B, &la, NULL,
                                            &e) == 0, "%s", e.msg);
        ck_assert_msg(clnet_net_train_batch(cpu, px, labels, B, &lb, NULL,
                                            &e) == 0, "%s", e.msg);
        ck_assert_msg(fabs(la - lb) <= 1e-4 * fabs(lb) + 1e-5,
                      "step %d: loss %.9g on opencl, %.9g on cpu", s, la, lb);
    }
    const char *tensors[] = {"c1/kernel", "c2/kernel", "c3/kernel"};
    for (int t = 0; t < 3; t++) {
        int64_t n = clnet_net_param_size(cpu, tensors[t]);
        float *a = malloc(sizeof *a * (size_t)n), *b = malloc(sizeof *b * (size_t)n);
        ck_assert_int_eq(clnet_net_param_get(cl, tensors[t], a, (size_t)n, &e), 0);
        ck_assert_int_eq(clnet_net_param_get(cpu, tensors[t], b, (size_t)n, &e), 0);
        double worst = 0;
        for (int64_t i = 0; i < n; i++)
            worst = fmax(worst, fabs(a[i] - b[i]));
        ck_assert_msg(worst < 1e-4, "%s differs by %g", tensors[t], worst);
        free(a);
        free(b);
    }
    clnet_net_free(cl);
    clnet_net_free(cpu);
}
END_TEST

START_TEST(same_trajectory_as_kept_outputs)
{
    const char *devices[] = {"cpu", "opencl"};
    for (int d = 0; d < 2; d++) {
        clnet_net *in_place = build(devices[d], 0);
        if (!in_place) {
            fprintf(stderr, "no OpenCL device: opencl not compared\n");
            continue;
        }
        clnet_net *kept = build(devices[d], 1);
        uint8_t px[B * PIXELS];
        int32_t labels[B];
        clnet_error e;
        for (int s = 0; s < 5; s++) {
            step_data(s, px, labels);
            double la, lb;
            ck_assert_msg(clnet_net_train_batch(in_place, px, labels, B, &la,
                                                NULL, &e) == 0, "%s", e.msg);
            ck_assert_msg(clnet_net_train_batch(kept, px, labels, B, &lb,
                                                NULL, &e) == 0, "%s", e.msg);
            /* the same kernels on the same values: equal to the bit */
            ck_assert_msg(la == lb, "%s, step %d: loss %.9g in place, %.9g "
                          "kept", devices[d], s, la, lb);
        }
        float wa[8 * 8 * 9], wb[8 * 8 * 9];
        ck_assert_int_eq(clnet_net_param_get(in_place, "c2/kernel", wa,
                                             8 * 8 * 9, &e), 0);
        ck_assert_int_eq(clnet_net_param_get(kept, "c2/kernel", wb,
                                             8 * 8 * 9, &e), 0);
        ck_assert_msg(!memcmp(wa, wb, sizeof wa), "%s: c2's weights differ",
                      devices[d]);
        clnet_net_free(in_place);
        clnet_net_free(kept);
    }
}
END_TEST

/* The summary's "activations N MiB" figure, in bytes. */
static double activation_bytes(clnet_net *n)
{
    char *text = test_summary(n);
    const char *at = strstr(text, "activations ");
    ck_assert_msg(at != NULL, "%s", text);
    double v = 0;
    char unit[8] = "";
    ck_assert_int_eq(sscanf(at, "activations %lf %7s", &v, unit), 2);
    free(text);
    double scale = !strncmp(unit, "KiB", 3)   ? 1024.0
                   : !strncmp(unit, "MiB", 3) ? 1048576.0
                                              : 1.0;
    return v * scale;
}

START_TEST(plan_shares_exactly_the_in_place_buffers)
{
    clnet_net *in_place = build("cpu", 0), *kept = build("cpu", 1);
    /* r1, a2 and r2 share: three 8x8x8 outputs of 6 samples */
    double saved = activation_bytes(kept) - activation_bytes(in_place);
    double expect = 3.0 * B * 8 * 8 * 8 * sizeof(float);
    ck_assert_msg(fabs(saved - expect) < 0.01 * expect,
                  "saved %.0f bytes, expected %.0f", saved, expect);
    clnet_net_free(in_place);
    clnet_net_free(kept);
}
END_TEST

START_TEST(summary_names_them)
{
    clnet_net *n = build("cpu", 0);
    char *text = test_summary(n);
    ck_assert_msg(strstr(text, " r1 over b1, a2 over b2, r2 over a2\n"), "%s",
                  text);
    free(text);
    clnet_net_free(n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("in_place");
    /* "small": the trajectory, which tools/oclgrind-check.sh also runs
     * with oclgrind as the OpenCL device (CK_RUN_CASE=small), so the
     * aliased buffers' kernels are checked for races and bad reads */
    TCase *small = tcase_create("small");
    tcase_set_timeout(small, 900);
    tcase_add_test(small, same_trajectory_as_kept_outputs);
    tcase_add_test(small, opencl_follows_cpu);
    suite_add_tcase(s, small);
    TCase *tc = tcase_create("plan");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, plan_shares_exactly_the_in_place_buffers);
    tcase_add_test(tc, summary_names_them);
    suite_add_tcase(s, tc);
    return test_run(s);
}
