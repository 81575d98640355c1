/* Networks that branch: the topology rules of inputs= and from= with
 * their located messages, add and concat, gradients summed where a
 * tensor feeds several layers (against finite differences of the loss),
 * and the same gradients when the layers sit on other backends. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static void expect_error(const char *text, const char *where,
                         const char *what)
{
    clnet_error e;
    clnet_net *n = test_build(text, NULL, &e);
    ck_assert_msg(n == NULL, "built: %s", text);
    ck_assert_msg(strstr(e.msg, where), "%s lacks '%s'", e.msg, where);
    ck_assert_msg(strstr(e.msg, what), "%s lacks '%s'", e.msg, what);
}

START_TEST(graph_errors)
{
    const char *head = "input shape=4x4x2\n"
                       "conv2d filters=2 kernel=3 padding=same name=a\n";
    char t[1024];
    snprintf(t, sizeof t, "%sconv2d filters=2 kernel=1 inputs=aa\n"
                          "add from=a\nflatten\ndense units=2\n", head);
    expect_error(t, "t.net:3:", "no layer above is named 'aa'; did you mean 'a'?");
    snprintf(t, sizeof t, "%sconv2d filters=2 kernel=1 inputs=b\n"
                          "conv2d filters=2 kernel=1 name=b inputs=a\n"
                          "flatten\ndense units=2\n", head);
    expect_error(t, "t.net:3:", "defined later (line 4)");
    snprintf(t, sizeof t, "%sadd from=c name=b\n"
                          "conv2d filters=2 kernel=1 name=c\n"
                          "flatten\ndense units=2\n", head);
    expect_error(t, "t.net:3:", "a cycle");
    snprintf(t, sizeof t, "%sconv2d filters=2 kernel=1 inputs=b name=b\n"
                          "flatten\ndense units=2\n", head);
    expect_error(t, "t.net:3:", "reads itself, a cycle");
    snprintf(t, sizeof t, "%sconv2d filters=2 kernel=1 name=unused\n"
                          "flatten inputs=a\ndense units=2\n", head);
    expect_error(t, "t.net:3:", "no layer reads unused's output");
    snprintf(t, sizeof t, "%sconv2d filters=3 kernel=1\nadd from=a\n"
                          "flatten\ndense units=2\n", head);
    expect_error(t, "t.net:4:", "conv2d_1 (t.net:3) gives 4x4x3");
    expect_error(t, "t.net:4:", "a (t.net:2) gives 4x4x2");
    snprintf(t, sizeof t, "%smaxpool2d pool=2\nconcat from=a\n"
                          "flatten\ndense units=2\n", head);
    expect_error(t, "t.net:4:", "one height and width");
    expect_error(t, "t.net:4:", "maxpool2d_1 (t.net:3) gives 2x2x2");
    snprintf(t, sizeof t, "%sconv2d filters=2 kernel=1 from=a\n"
                          "flatten\ndense units=2\n", head);
    expect_error(t, "t.net:3:", "conv2d reads one input; use inputs=");
    snprintf(t, sizeof t, "%sadd\nflatten\ndense units=2\n", head);
    expect_error(t, "t.net:3:", "add reads at least 2 inputs, it was given 1");
    snprintf(t, sizeof t, "%sadd inputs=a from=a\nflatten\ndense units=2\n",
             head);
    expect_error(t, "t.net:3:", "not both");
    snprintf(t, sizeof t, "%sadd inputs=a,\nflatten\ndense units=2\n", head);
    expect_error(t, "t.net:3:", "a layer name must follow the comma");
}
END_TEST

/* A tensor (a) read by four layers, an add and a concat. */
static const char *branchy =
    "input shape=5x5x2\n"
    "conv2d filters=3 kernel=3 padding=same name=a\n"
    "conv2d filters=3 kernel=3 padding=same activation=relu name=b\n"
    "add from=a name=s\n"
    "conv2d filters=2 kernel=1 inputs=a name=c\n"
    "concat inputs=s,c,a\n"
    "flatten\n"
    "dense units=3 activation=softmax\n"
    "train optimizer=sgd lr=0.1\n";

START_TEST(branches_build_and_count)
{
    clnet_error e;
    clnet_build_options o = {.max_batch = 4, .seed = 5};
    clnet_net *n = test_build(branchy, &o, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    /* by Keras's rules for the same functional model: Conv2D 3x3x2x3+3,
     * 3x3x3x3+3, 1x1x3x2+2; the concat has 3 + 2 + 3 channels, so Dense
     * (5*5*8)x3+3 */
    ck_assert_int_eq(clnet_net_param_count(n), 57 + 84 + 8 + 603);
    ck_assert_int_eq(clnet_net_param_size(n, "dense_1/kernel"), 200 * 3);
    ck_assert_int_eq(clnet_net_param_size(n, "a/bias"), 3);
    ck_assert_int_eq(clnet_net_param_size(n, "a/gamma"), -1);
    clnet_net_free(n);
}
END_TEST

enum { B = 3, IN = 5 * 5 * 2 };

static void batch(uint8_t *pixels, int32_t *labels, int s)
{
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < IN; i++)
            pixels[b * IN + i] = (uint8_t)((i * 53 + (b + s) * 97) % 256);
        labels[b] = (b + s) % 3;
    }
}

/* The batch's mean cross-entropy, from the network's predictions. */
static double batch_loss(clnet_net *net, const uint8_t *pixels,
                         const int32_t *labels)
{
    float probs[B * 3];
    clnet_error e;
    ck_assert_msg(clnet_predict(net, pixels, B, probs, &e) == 0, "%s", e.msg);
    double loss = 0;
    for (int b = 0; b < B; b++)
        loss -= log(fmax(probs[b * 3 + labels[b]], 1e-7));
    return loss / B;
}

/* The gradient of the mean loss with respect to tensor `name`, from one
 * step of SGD at lr 1 (the parameters' change), against central
 * differences at a few elements. */
static void gradients_match_differences(const char *name)
{
    clnet_error e;
    clnet_build_options o = {.max_batch = B, .seed = 9};
    char text[1024];
    snprintf(text, sizeof text, "%.*strain optimizer=sgd lr=1\n",
             (int)(strstr(branchy, "train ") - branchy), branchy);
    clnet_net *net = test_build(text, &o, &e);
    ck_assert_msg(net != NULL, "%s", e.msg);
    size_t n = (size_t)clnet_net_param_size(net, name);
    float *p0 = malloc(n * sizeof *p0), *p1 = malloc(n * sizeof *p1);
    uint8_t pixels[B * IN];
    int32_t labels[B];
    batch(pixels, labels, 0);
    ck_assert_int_eq(clnet_net_param_get(net, name, p0, n, &e), 0);
    ck_assert_msg(clnet_net_train_batch(net, pixels, labels, B, NULL, NULL,
                                        &e) == 0,
                  "%s", e.msg);
    ck_assert_int_eq(clnet_net_param_get(net, name, p1, n, &e), 0);
    /* the other tensors moved too: put them back by rebuilding */
    clnet_net_free(net);
    net = test_build(text, &o, &e);
    for (size_t k = 0; k < n; k += n / 7 + 1) {
        const float h = 1e-2f;
        float keep = p0[k];
        p0[k] = keep + h;
        ck_assert_int_eq(clnet_net_param_set(net, name, p0, n, &e), 0);
        double up = batch_loss(net, pixels, labels);
        p0[k] = keep - h;
        ck_assert_int_eq(clnet_net_param_set(net, name, p0, n, &e), 0);
        double down = batch_loss(net, pixels, labels);
        p0[k] = keep;
        double num = (up - down) / (2 * h), g = (double)keep - p1[k];
        ck_assert_msg(fabs(num - g) <= 2e-3 + 2e-2 * fabs(num),
                      "%s[%zu]: backward %g, differences %g", name, k, g, num);
    }
    clnet_net_free(net);
    free(p0);
    free(p1);
}

START_TEST(fan_out_gradients_are_summed)
{
    /* a is read four times, so its gradient is the sum of four */
    gradients_match_differences("a/kernel");
    gradients_match_differences("b/kernel");
    gradients_match_differences("c/kernel");
}
END_TEST

static int have_opencl(void)
{
    clnet_device_info d;
    clnet_error e;
    return clnet_registry_find(test_registry(), "add", "opencl") &&
           clnet_devices(test_registry(), "opencl", &d, 1, &e) > 0;
}

/* The losses of `steps` training steps. */
static void trajectory(const char *backends, const char *device, int steps,
                       double *out)
{
    clnet_error e;
    clnet_build_options o = {.max_batch = B, .seed = 3, .device = device,
                             .backends = backends};
    clnet_net *n = test_build(branchy, &o, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    for (int s = 0; s < steps; s++) {
        uint8_t pixels[B * IN];
        int32_t labels[B];
        batch(pixels, labels, s);
        ck_assert_msg(clnet_net_train_batch(n, pixels, labels, B, &out[s],
                                            NULL, &e) == 0,
                      "%s", e.msg);
    }
    clnet_net_free(n);
}

START_TEST(mixed_placement_follows_cpu)
{
    if (!have_opencl())
        return;
    enum { S = 6 };
    double cpu[S], mixed[S], ocl[S];
    trajectory(NULL, "cpu", S, cpu);
    /* a's readers on both sides: copies and sums across backends */
    trajectory("b=opencl,concat=opencl", "cpu", S, mixed);
    trajectory(NULL, "opencl", S, ocl);
    for (int s = 0; s < S; s++) {
        ck_assert_msg(fabs(cpu[s] - mixed[s]) < 1e-4 * fmax(1, fabs(cpu[s])),
                      "step %d: cpu %g, mixed %g", s, cpu[s], mixed[s]);
        ck_assert_msg(fabs(cpu[s] - ocl[s]) < 1e-4 * fmax(1, fabs(cpu[s])),
                      "step %d: cpu %g, opencl %g", s, cpu[s], ocl[s]);
    }
}
END_TEST

/* With SGD at lr 1, a step moves the parameters by minus the gradient:
 * global_clipnorm bounds the whole step's norm, clipnorm each tensor's;
 * on `device` (-1: no such device here). */
static double step_norm(const char *device, const char *clip,
                        const char *tensor)
{
    char text[1024];
    snprintf(text, sizeof text, "%.*strain optimizer=sgd lr=1 %s\n",
             (int)(strstr(branchy, "train ") - branchy), branchy, clip);
    const char *names[] = {"a/kernel", "a/bias", "b/kernel", "b/bias",
                           "c/kernel", "c/bias", "dense_1/kernel",
                           "dense_1/bias", NULL};
    clnet_error e;
    clnet_build_options o = {.max_batch = B, .seed = 2, .device = device};
    clnet_net *n = test_build(text, &o, &e);
    if (!n && strcmp(device, "cpu"))
        return -1;
    ck_assert_msg(n != NULL, "%s", e.msg);
    float *before[8];
    for (int i = 0; names[i]; i++) {
        size_t c = (size_t)clnet_net_param_size(n, names[i]);
        before[i] = malloc(c * sizeof(float));
        clnet_net_param_get(n, names[i], before[i], c, &e);
    }
    uint8_t pixels[B * IN];
    int32_t labels[B];
    batch(pixels, labels, 1);
    ck_assert_int_eq(clnet_net_train_batch(n, pixels, labels, B, NULL, NULL,
                                           &e),
                     0);
    double step = 0;
    for (int i = 0; names[i]; i++) {
        size_t c = (size_t)clnet_net_param_size(n, names[i]);
        float *q = malloc(c * sizeof *q);
        clnet_net_param_get(n, names[i], q, c, &e);
        for (size_t j = 0; j < c; j++)
            if (!tensor || strcmp(tensor, names[i]) == 0)
                step += ((double)q[j] - before[i][j]) *
                        ((double)q[j] - before[i][j]);
        free(q);
        free(before[i]);
    }
    clnet_net_free(n);
    return sqrt(step);
}

START_TEST(gradient_clipping)
{
    /* the device plugins' sum_squares and scale on OpenCL */
    const char *devices[] = {"cpu", "opencl"};
    for (int d = 0; d < 2; d++) {
        const char *dev = devices[d];
        /* the unclipped step is far larger than the limits below */
        double whole = step_norm(dev, "", NULL);
        if (whole < 0) {
            fprintf(stderr, "no %s device: clipping not checked there\n",
                    dev);
            continue;
        }
        ck_assert_double_gt(whole, 0.05);
        ck_assert_double_gt(step_norm(dev, "", "dense_1/kernel"), 0.01);
        ck_assert_double_eq_tol(step_norm(dev, "global_clipnorm=0.001", NULL),
                                1e-3, 1e-6);
        /* clipnorm: each tensor by itself */
        ck_assert_double_eq_tol(
            step_norm(dev, "clipnorm=0.001", "dense_1/kernel"), 1e-3, 1e-6);
        ck_assert_double_eq_tol(step_norm(dev, "clipnorm=0.001", "a/kernel"),
                                1e-3, 1e-6);
    }
}
END_TEST

/* clnet summary's totals against Keras's for the models in models/: the
 * figures are Keras 3.15.1's model.summary() of the same networks, built
 * by tools/topology.py (keras_model) from these files. */
START_TEST(keras_parameter_counts)
{
    static const struct {
        const char *file, *lines[3];
    } models[] = {
        {"models/resnet20.net",
         {"Total params: 274,538 (1.05 MB)\n",
          "Trainable params: 272,970 (1.04 MB)\n",
          "Non-trainable params: 1,568 (6.12 KB)\n"}},
        {"models/mobilenet.net",
         {"Total params: 140,618 (549.29 KB)\n",
          "Trainable params: 137,674 (537.79 KB)\n",
          "Non-trainable params: 2,944 (11.50 KB)\n"}},
        {"models/mnist.net",
         {"Total params: 280,010 (1.07 MB)\n",
          "Trainable params: 280,010 (1.07 MB)\n",
          "Non-trainable params: 0 (0.00 B)\n"}},
    };
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", getenv("CLNET_SOURCE_ROOT"),
                 models[m].file);
        clnet_error e;
        clnet_topology *t = clnet_topology_load(path, &e);
        ck_assert_msg(t != NULL, "%s", e.msg);
        clnet_build_options o = {.max_batch = 2};
        clnet_net *n = clnet_net_build(t, test_registry(), &o, &e);
        ck_assert_msg(n != NULL, "%s", e.msg);
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        ck_assert_int_eq(clnet_net_summary(n, f, &e), 0);
        fclose(f);
        for (int k = 0; k < 3; k++)
            ck_assert_msg(strstr(text, models[m].lines[k]), "%s: no '%s' in\n%s",
                          models[m].file, models[m].lines[k], text);
        free(text);
        clnet_net_free(n);
        clnet_topology_free(t);
    }
}
END_TEST

/* A kind with no OpenCL implementation (the test fixture's) runs on the
 * native CPU, summary says so, and --strict refuses it. */
START_TEST(fallback_to_the_cpu)
{
    if (!have_opencl())
        return;
    setenv("CLNET_PLUGIN_PATH", getenv("CLNET_FIXTURE_DIR"), 1);
    clnet_error e;
    clnet_registry *r = clnet_registry_open(&e);
    ck_assert_msg(r != NULL, "%s", e.msg);
    clnet_topology *t = clnet_topology_parse(
        "input shape=4x4x1\nconv2d filters=2 kernel=3\nfixture\nflatten\n"
        "dense units=2 activation=softmax\n",
        "t.net", &e);
    clnet_build_options o = {.max_batch = 2, .device = "opencl"};
    clnet_net *n = clnet_net_build(t, r, &o, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_int_eq(clnet_net_summary(n, f, &e), 0);
    fclose(f);
    ck_assert_msg(strstr(text, "cpu/copy (fallback)"), "%s", text);
    ck_assert_msg(strstr(text, "opencl/"), "%s", text);
    free(text);
    clnet_net_free(n);
    o.strict = 1;
    ck_assert_ptr_null(clnet_net_build(t, r, &o, &e));
    ck_assert_msg(strstr(e.msg, "t.net:3:1: the opencl backend has no "
                                "implementation of fixture"),
                  "%s", e.msg);
    clnet_topology_free(t);
    clnet_registry_free(r);
}
END_TEST

/* A network whose last layer aliases its input (flatten): the loss's
 * gradient goes to the aliased layer's buffer, which the shared gradient
 * buffers must give it (fuzzing found it NULL). */
START_TEST(ends_in_flatten)
{
    clnet_error e;
    clnet_build_options o = {.max_batch = 2, .seed = 3};
    clnet_net *n = test_build("input shape=4x4x1\nconv2d filters=2 kernel=3 "
                              "name=c\nflatten\n", &o, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    float w0[18], w1[18];
    ck_assert_int_eq(clnet_net_param_get(n, "c/kernel", w0, 18, &e), 0);
    uint8_t px[32];
    for (int i = 0; i < 32; i++)
        px[i] = (uint8_t)(i * 41);
    int32_t labels[2] = {1, 6};
    double loss = 0;
    ck_assert_msg(clnet_net_train_batch(n, px, labels, 2, &loss, NULL, &e) ==
                      0,
                  "%s", e.msg);
    ck_assert(isfinite(loss));
    ck_assert_int_eq(clnet_net_param_get(n, "c/kernel", w1, 18, &e), 0);
    ck_assert(memcmp(w0, w1, sizeof w0));
    clnet_net_free(n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("graph");
    TCase *tc = tcase_create("graph");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, graph_errors);
    tcase_add_test(tc, branches_build_and_count);
    tcase_add_test(tc, fan_out_gradients_are_summed);
    tcase_add_test(tc, mixed_placement_follows_cpu);
    tcase_add_test(tc, gradient_clipping);
    tcase_add_test(tc, fallback_to_the_cpu);
    tcase_add_test(tc, ends_in_flatten);
    tcase_add_test(tc, keras_parameter_counts);
    suite_add_tcase(s, tc);
    return test_run(s);
}
