/* One table of layer cases, run on every backend a device plugin brings
 * against the native CPU: each row is a topology fragment between a
 * trainable 1x1 convolution (so the row's input gradient is used) and a
 * dense softmax head. For every row: gradients by finite differences of
 * the loss on the CPU, and on each other backend the predictions and the
 * parameters after a training step equal the CPU's, at batch 1 and an odd
 * batch. A new kind adds rows here; a new backend adds no test. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

typedef struct {
    const char *name;
    const char *input; /* HxWxC */
    const char *body;  /* lines after "conv2d ... name=pre" */
    /* tensors compared (and checked by differences) besides pre's and
     * the head's */
    const char *tensors[4];
    int no_differences; /* training and inference differ (dropout,
                           batch statistics): no finite differences */
} row;

static const row rows[] = {
    {"conv2d valid", "6x5x3", "conv2d filters=4 kernel=3 name=t\n",
     {"t/kernel", "t/bias"}, 0},
    {"conv2d same strided relu", "7x6x2",
     "conv2d filters=5 kernel=3 strides=2 padding=same activation=relu "
     "name=t\n",
     {"t/kernel", "t/bias"}, 0},
    {"conv2d dilated", "7x8x2",
     "conv2d filters=3 kernel=3x2 dilation=2x3 padding=same name=t\n",
     {"t/kernel", "t/bias"}, 0},
    {"conv2d 1x1 softmax", "3x4x5",
     "conv2d filters=4 kernel=1 activation=softmax name=t\n",
     {"t/kernel", "t/bias"}, 0},
    {"maxpool2d", "7x6x3", "maxpool2d pool=2\n", {NULL}, 0},
    {"maxpool2d same strided", "8x5x3",
     "maxpool2d pool=3 strides=2 padding=same\n", {NULL}, 0},
    {"dense over the last axis", "2x3x4",
     "dense units=5 activation=relu name=t\n", {"t/kernel", "t/bias"}, 0},
    {"flatten dense", "3x3x2", "flatten\ndense units=6 name=t\n",
     {"t/kernel", "t/bias"}, 0},
    {"dropout", "4x4x3", "dropout rate=0.3\n", {NULL}, 1},
    {"relu", "4x3x3", "relu\n", {NULL}, 0},
    {"softmax", "3x3x4", "softmax\n", {NULL}, 0},
    {"add of one tensor twice and another", "5x4x3",
     "conv2d filters=3 kernel=1 name=other inputs=input_1\n"
     "add inputs=pre,other,pre\n",
     {"other/kernel"}, 0},
    {"conv2d tanh", "5x5x2", "conv2d filters=3 kernel=3 activation=tanh name=t\n",
     {"t/kernel"}, 0},
    {"conv2d elu same", "5x4x3",
     "conv2d filters=4 kernel=3 padding=same activation=elu name=t\n",
     {"t/kernel"}, 0},
    {"dense sigmoid", "1x1x6", "dense units=4 activation=sigmoid name=t\n",
     {"t/kernel"}, 0},
    {"conv2d gelu", "5x5x2", "conv2d filters=3 kernel=3 activation=gelu name=t\n",
     {"t/kernel", "t/bias"}, 0},
    {"dense swish", "2x2x5", "dense units=4 activation=swish name=t\n",
     {"t/kernel", "t/bias"}, 0},
    {"dense leaky_relu", "2x2x5",
     "dense units=4 activation=leaky_relu name=t\n", {"t/kernel"}, 0},
    {"sigmoid", "3x3x3", "sigmoid\n", {NULL}, 0},
    {"tanh", "3x3x3", "tanh\n", {NULL}, 0},
    {"leaky_relu", "3x4x3", "leaky_relu negative_slope=0.1\n", {NULL}, 0},
    {"elu", "4x3x2", "elu alpha=0.7\n", {NULL}, 0},
    {"gelu", "3x3x3", "gelu\n", {NULL}, 0},
    {"gelu tanh form", "3x3x3", "gelu approximate=true\n", {NULL}, 0},
    {"swish", "3x3x3", "swish\n", {NULL}, 0},
    {"avgpool2d", "6x7x3", "avgpool2d pool=2\n", {NULL}, 0},
    {"avgpool2d same strided", "7x5x2",
     "avgpool2d pool=3 strides=2 padding=same\n", {NULL}, 0},
    {"global_avgpool2d", "5x6x4", "global_avgpool2d\n", {NULL}, 0},
    {"global_maxpool2d", "5x6x4", "global_maxpool2d\n", {NULL}, 0},
    {"batchnorm", "4x5x3", "batchnorm name=t\n",
     {"t/gamma", "t/beta", "t/moving_mean", "t/moving_variance"}, 1},
    {"batchnorm without scale", "3x3x4", "batchnorm scale=false name=t\n",
     {"t/beta", "t/moving_mean"}, 1},
    {"depthwise_conv2d", "6x5x3",
     "depthwise_conv2d kernel=3 name=t\n", {"t/depthwise_kernel", "t/bias"},
     0},
    {"depthwise_conv2d multiplier strided relu", "7x6x2",
     "depthwise_conv2d kernel=3 strides=2 padding=same depth_multiplier=2 "
     "activation=relu name=t\n",
     {"t/depthwise_kernel", "t/bias"}, 0},
    {"depthwise_conv2d swish no bias", "5x5x4",
     "depthwise_conv2d kernel=2x3 padding=same activation=swish use_bias=false "
     "name=t\n",
     {"t/depthwise_kernel"}, 0},
    {"concat", "4x5x2",
     "conv2d filters=3 kernel=3 padding=same name=other inputs=input_1\n"
     "concat inputs=other,pre\n",
     {"other/kernel"}, 0},
};
#define NROWS (int)(sizeof rows / sizeof rows[0])

static void topology(const row *r, char *out, size_t n)
{
    snprintf(out, n,
             "input shape=%s\n"
             "conv2d filters=3 kernel=1 name=pre\n"
             "%s"
             "%s"
             "dense units=3 activation=softmax name=head\n"
             "train optimizer=sgd lr=1\n",
             r->input, r->body,
             strstr(r->body, "flatten") ? "" : "flatten\n");
}

enum { MAXB = 3 };

static void batch(const clnet_net *n, int b, uint8_t *pixels, int32_t *labels)
{
    size_t in = (size_t)clnet_net_input_size(n);
    for (int i = 0; i < b; i++) {
        for (size_t k = 0; k < in; k++)
            pixels[(size_t)i * in + k] = (uint8_t)((k * 37 + (size_t)i * 71) %
                                                   256);
        labels[i] = i % 3;
    }
}

static clnet_net *build(const row *r, const char *device, int32_t b)
{
    char text[2048];
    topology(r, text, sizeof text);
    clnet_build_options o = {.max_batch = b, .seed = 4, .device = device,
                             .strict = 1};
    clnet_error e;
    clnet_net *n = test_build(text, &o, &e);
    ck_assert_msg(n != NULL, "%s on %s: %s", r->name, device, e.msg);
    return n;
}

/* Every tensor the row compares, with pre's and the head's. */
static int tensor_names(const row *r, const char **out)
{
    int n = 0;
    out[n++] = "pre/kernel";
    out[n++] = "head/kernel";
    for (int k = 0; k < 4 && r->tensors[k]; k++)
        out[n++] = r->tensors[k];
    return n;
}

static double loss_of(clnet_net *n, const uint8_t *pixels,
                      const int32_t *labels, int b)
{
    float probs[MAXB * 3];
    clnet_error e;
    ck_assert_msg(clnet_predict(n, pixels, b, probs, &e) == 0, "%s", e.msg);
    double l = 0;
    for (int i = 0; i < b; i++)
        l -= log(fmax(probs[i * 3 + labels[i]], 1e-7));
    return l / b;
}

/* SGD at lr 1: a step moves each tensor by minus its gradient. */
static void differences(const row *r)
{
    const char *names[6];
    int nt = tensor_names(r, names);
    uint8_t pixels[MAXB * 1024];
    int32_t labels[MAXB];
    for (int t = 0; t < nt; t++) {
        clnet_net *n = build(r, "cpu", MAXB);
        batch(n, MAXB, pixels, labels);
        size_t c = (size_t)clnet_net_param_size(n, names[t]);
        float *p0 = malloc(c * sizeof *p0), *p1 = malloc(c * sizeof *p1);
        clnet_error e;
        clnet_net_param_get(n, names[t], p0, c, &e);
        ck_assert_int_eq(clnet_net_train_batch(n, pixels, labels, MAXB, NULL,
                                               NULL, &e),
                         0);
        clnet_net_param_get(n, names[t], p1, c, &e);
        clnet_net_free(n);
        n = build(r, "cpu", MAXB);
        for (size_t k = 0; k < c; k += c / 5 + 1) {
            /* two steps: a relu or max kink within one of them bends the
             * difference, rarely within both */
            const float hs[2] = {2e-3f, 5e-4f};
            double g = (double)p0[k] - p1[k], num[2];
            int ok = 0;
            for (int j = 0; j < 2; j++) {
                float keep = p0[k];
                p0[k] = keep + hs[j];
                clnet_net_param_set(n, names[t], p0, c, &e);
                double up = loss_of(n, pixels, labels, MAXB);
                p0[k] = keep - hs[j];
                clnet_net_param_set(n, names[t], p0, c, &e);
                double down = loss_of(n, pixels, labels, MAXB);
                p0[k] = keep;
                num[j] = (up - down) / (2 * hs[j]);
                ok |= fabs(num[j] - g) <= 3e-3 + 3e-2 * fabs(num[j]);
            }
            clnet_net_param_set(n, names[t], p0, c, &e);
            ck_assert_msg(ok, "%s: %s[%zu]: backward %g, differences %g and %g",
                          r->name, names[t], k, g, num[0], num[1]);
        }
        clnet_net_free(n);
        free(p0);
        free(p1);
    }
}

static void close_to(const row *r, const char *device, const char *what,
                     const float *a, const float *b, size_t n)
{
    double diff = 0, norm = 0;
    for (size_t i = 0; i < n; i++) {
        diff += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        norm += (double)a[i] * a[i];
    }
    double rel = norm > 0 ? sqrt(diff / norm) : sqrt(diff);
    ck_assert_msg(rel < 1e-4, "%s on %s: %s differs from the CPU's by %g",
                  r->name, device, what, rel);
}

/* Predictions, and every tensor after two steps, against the CPU's. */
static void against_cpu(const row *r, const char *device, int b)
{
    clnet_net *cpu = build(r, "cpu", b), *dev = build(r, device, b);
    uint8_t pixels[MAXB * 1024];
    int32_t labels[MAXB];
    batch(cpu, b, pixels, labels);
    float pc[MAXB * 3], pd[MAXB * 3];
    clnet_error e;
    ck_assert_int_eq(clnet_predict(cpu, pixels, b, pc, &e), 0);
    ck_assert_msg(clnet_predict(dev, pixels, b, pd, &e) == 0, "%s", e.msg);
    close_to(r, device, "the predictions", pc, pd, (size_t)b * 3);
    for (int s = 0; s < 2; s++) {
        double lc, ld;
        ck_assert_int_eq(clnet_net_train_batch(cpu, pixels, labels, b, &lc,
                                               NULL, &e),
                         0);
        ck_assert_msg(clnet_net_train_batch(dev, pixels, labels, b, &ld, NULL,
                                            &e) == 0,
                      "%s", e.msg);
        ck_assert_msg(fabs(lc - ld) < 1e-4 * fmax(1, fabs(lc)),
                      "%s on %s: loss %g against the CPU's %g", r->name,
                      device, ld, lc);
    }
    const char *names[6];
    int nt = tensor_names(r, names);
    for (int t = 0; t < nt; t++) {
        size_t c = (size_t)clnet_net_param_size(cpu, names[t]);
        float *a = malloc(c * sizeof *a), *d = malloc(c * sizeof *d);
        clnet_net_param_get(cpu, names[t], a, c, &e);
        clnet_net_param_get(dev, names[t], d, c, &e);
        close_to(r, device, names[t], a, d, c);
        free(a);
        free(d);
    }
    clnet_net_free(cpu);
    clnet_net_free(dev);
}

START_TEST(layer_table)
{
    const row *r = &rows[_i];
    if (!r->no_differences)
        differences(r);
    /* every backend a device plugin brings, on its first device */
    const clnet_registry *reg = test_registry();
    for (int p = 0; p < clnet_registry_count(reg); p++) {
        const clnet_plugin *q = clnet_registry_get(reg, p, NULL);
        clnet_device_info d;
        clnet_error e;
        if (q->role != CLNET_ROLE_DEVICE ||
            clnet_devices(reg, q->backend, &d, 1, &e) < 1)
            continue;
        against_cpu(r, q->backend, 1);
        against_cpu(r, q->backend, MAXB);
    }
}
END_TEST

/* gelu and swish as conv2d's and dense's activation= (the plugin keeps
 * the sums before the activation for the gradient) against the same
 * layer followed by a gelu or swish layer: predictions, the loss of two
 * steps and the tensors after them, on each implementation that takes
 * the layer. */
typedef struct {
    const char *backends; /* the implementation under test */
    const char *input;    /* the input's HxWxC */
    int32_t pre;          /* filters of the 1x1 layer before it */
    const char *layer;    /* the layer without activation= */
    const char *act;
} post_case;

static const post_case posts[] = {
    {"t=cpu/gemm", "5x6x2", 3, "conv2d filters=5 kernel=3", "gelu"},
    {"t=cpu/gemm", "5x6x2", 3, "conv2d filters=16 kernel=3 padding=same",
     "swish"},
    {"t=cpu/direct", "5x6x2", 3, "conv2d filters=17 kernel=3 strides=2",
     "gelu"},
    {"t=cpu/winograd", "6x6x2", 16,
     "conv2d filters=16 kernel=3 padding=same", "swish"},
    {"t=cpu/gemm", "2x3x4", 3, "dense units=6", "gelu"},
    {"t=opencl/im2col-gemm", "5x6x2", 3, "conv2d filters=5 kernel=3",
     "swish"},
    {"t=opencl/implicit-gemm", "5x6x2", 3,
     "conv2d filters=16 kernel=3 padding=same", "gelu"},
    {"t=opencl/direct", "5x6x2", 3, "conv2d filters=4 kernel=3",
     "swish"},
    {"t=opencl/gemm", "2x3x4", 3, "dense units=6", "swish"},
};
#define NPOSTS (int)(sizeof posts / sizeof posts[0])

/* NULL when the case's backend has no device here. */
static clnet_net *build_post(const post_case *c, int fused)
{
    char text[1024];
    if (fused)
        snprintf(text, sizeof text,
                 "input shape=%s\nconv2d filters=%d kernel=1 name=pre\n"
                 "%s activation=%s name=t\n", c->input, (int)c->pre, c->layer,
                 c->act);
    else
        snprintf(text, sizeof text,
                 "input shape=%s\nconv2d filters=%d kernel=1 name=pre\n"
                 "%s name=t\n%s\n", c->input, (int)c->pre, c->layer, c->act);
    strcat(text, "flatten\ndense units=3 activation=softmax name=head\n"
                 "train optimizer=sgd lr=1\n");
    clnet_build_options o = {.max_batch = MAXB, .seed = 4,
                             .backends = c->backends, .strict = 1};
    clnet_error e;
    clnet_net *n = test_build(text, &o, &e);
    ck_assert_msg(n != NULL || (strstr(c->backends, "opencl") &&
                                strstr(e.msg, "no device")),
                  "%s %s: %s", c->backends, c->act, e.msg);
    return n;
}

START_TEST(post_activation_matches_layer)
{
    const post_case *c = &posts[_i];
    row r = {c->backends, NULL, NULL, {NULL}, 0};
    clnet_net *fused = build_post(c, 1), *plain = build_post(c, 0);
    if (!fused || !plain) {
        fprintf(stderr, "%s: no device here, not compared\n", c->backends);
        clnet_net_free(fused);
        clnet_net_free(plain);
        return;
    }
    /* the same starting values: initializers draw by layer position */
    const char *names[] = {"pre/kernel", "pre/bias", "t/kernel",
                           "t/bias",     "head/kernel", "head/bias"};
    enum { NT = sizeof names / sizeof names[0] };
    clnet_error e;
    for (int t = 0; t < NT; t++) {
        size_t n = (size_t)clnet_net_param_size(plain, names[t]);
        float *v = malloc(n * sizeof *v);
        ck_assert_int_eq(clnet_net_param_get(plain, names[t], v, n, &e), 0);
        ck_assert_int_eq(clnet_net_param_set(fused, names[t], v, n, &e), 0);
        free(v);
    }
    uint8_t pixels[MAXB * 1024];
    int32_t labels[MAXB];
    batch(fused, MAXB, pixels, labels);
    float pf[MAXB * 3], pp[MAXB * 3];
    ck_assert_msg(clnet_predict(fused, pixels, MAXB, pf, &e) == 0, "%s", e.msg);
    ck_assert_msg(clnet_predict(plain, pixels, MAXB, pp, &e) == 0, "%s", e.msg);
    close_to(&r, c->act, "the predictions", pp, pf, MAXB * 3);
    for (int s = 0; s < 2; s++) {
        double lf, lp;
        ck_assert_int_eq(
            clnet_net_train_batch(fused, pixels, labels, MAXB, &lf, NULL, &e),
            0);
        ck_assert_int_eq(
            clnet_net_train_batch(plain, pixels, labels, MAXB, &lp, NULL, &e),
            0);
        ck_assert_msg(fabs(lf - lp) < 1e-4 * fmax(1, fabs(lp)),
                      "%s %s: loss %g, unfused %g", c->backends, c->act, lf,
                      lp);
    }
    for (int t = 0; t < NT; t++) {
        size_t n = (size_t)clnet_net_param_size(plain, names[t]);
        float *a = malloc(n * sizeof *a), *f = malloc(n * sizeof *f);
        ck_assert_int_eq(clnet_net_param_get(plain, names[t], a, n, &e), 0);
        ck_assert_int_eq(clnet_net_param_get(fused, names[t], f, n, &e), 0);
        close_to(&r, c->act, names[t], a, f, n);
        free(a);
        free(f);
    }
    clnet_net_free(fused);
    clnet_net_free(plain);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("layer_table");
    TCase *tc = tcase_create("rows");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, layer_table, 0, NROWS);
    tcase_add_loop_test(tc, post_activation_matches_layer, 0, NPOSTS);
    suite_add_tcase(s, tc);
    return test_run(s);
}
