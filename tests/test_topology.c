/* Topology files: parsing good files, refusing each kind of bad one with
 * file:line:column and a suggestion, and shape inference at build time. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "helpers.h"

static const char *seed_model =
    "input shape=28x28x1\n"
    "conv2d filters=64 kernel=3x3 activation=relu\n"
    "maxpool2d pool=2x2\n"
    "conv2d filters=128 kernel=3x3 activation=relu\n"
    "maxpool2d pool=2x2\n"
    "flatten\n"
    "dense units=64 activation=relu\n"
    "dropout rate=0.5\n"
    "dense units=10 activation=softmax\n"
    "train optimizer=adam lr=0.001 loss=sparse_categorical_crossentropy "
    "batch=128 epochs=10\n";

/* Builds text; returns the network or NULL with the error in e. */
static clnet_net *build(const char *text, const char *backends, clnet_error *e)
{
    clnet_build_options o = {.max_batch = 4, .backends = backends};
    return test_build(text, &o, e);
}

/* Builds text at max_batch `batch` with a memory limit. */
static clnet_net *build_limited(const char *text, int32_t batch,
                                uint64_t max_memory, clnet_error *e)
{
    clnet_build_options o = {.max_batch = batch, .max_memory = max_memory};
    return test_build(text, &o, e);
}

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

/* Expects text to be refused with `status` and a message holding each of
 * the NULL-terminated fragments. */
static void expect_error(const char *text, clnet_status status, ...)
{
    clnet_error e = {0};
    clnet_net *n = build(text, NULL, &e);
    ck_assert_msg(n == NULL, "accepted: %s", text);
    ck_assert_msg(e.status == status, "status %s for %s: %s",
                  clnet_status_name(e.status), text, e.msg);
    va_list ap;
    va_start(ap, status);
    for (const char *frag = va_arg(ap, const char *); frag;
         frag = va_arg(ap, const char *))
        ck_assert_msg(strstr(e.msg, frag), "'%s' not in: %s", frag, e.msg);
    va_end(ap);
}

START_TEST(seed_model_summary)
{
    clnet_error e;
    clnet_net *n = build(seed_model, NULL, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    ck_assert_int_eq(clnet_net_param_count(n), 280010);
    ck_assert_int_eq(clnet_net_classes(n), 10);
    ck_assert_int_eq(clnet_net_input_size(n), 784);
    ck_assert_int_eq(clnet_net_default_batch(n), 128);
    ck_assert_int_eq(clnet_net_default_epochs(n), 10);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(clnet_net_summary(n, f, &e), 0);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "Total params: 280,010"));
    ck_assert_ptr_nonnull(strstr(buf, "(None, 26, 26, 64)"));
    ck_assert_ptr_nonnull(strstr(buf, "(None, 5, 5, 128)"));
    ck_assert_ptr_nonnull(strstr(buf, "(None, 3200)"));
    ck_assert_ptr_nonnull(strstr(buf, "73,856"));
    free(buf);
    clnet_net_free(n);
}
END_TEST

/* The plan at batch 4: 73,690 activations a sample and the output
 * gradients in two shared buffers (a chain's backward pass holds two at a
 * time: the largest even- and odd-placed layers', conv2d_1's 43,264 and
 * maxpool2d_1's 10,816 values), 1.9 MiB in all; 280,010 parameters (1.1
 * MiB) with two Adam slots. */
START_TEST(memory_plan_in_summary)
{
    clnet_error e;
    clnet_net *n = build(seed_model, NULL, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    char *buf = summary_text(n);
    const char *want[] = {"Memory: ", " on cpu at batch 4 (parameters 1.1 MiB",
                          "gradients 1.1 MiB", "optimizer state 2.1 MiB",
                          "activations 1.9 MiB", "limit "};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        ck_assert_msg(strstr(buf, want[i]), "'%s' not in: %s", want[i], buf);
    free(buf);
    clnet_net_free(n);
}
END_TEST

/* 65536 samples of the seed model need 31.2 GiB (73,690 activations and
 * two shared gradient buffers of 43,264 and 10,816 values a sample, see
 * memory_plan_in_summary): refused at once, with
 * both figures, before anything sized by the batch is allocated (the
 * address space is capped far below it). */
START_TEST(memory_plan_refuses_before_allocating)
{
    clnet_error e = {0};
    clnet_net *ok = build_limited(seed_model, 128, 1ull << 30, &e);
    ck_assert_msg(ok != NULL, "batch 128 within 1 GiB refused: %s", e.msg);
    clnet_net_free(ok);
    test_cap_memory(256u << 20);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    clnet_net *n = build_limited(seed_model, 65536, 1ull << 30, &e);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_ptr_null(n);
    ck_assert_msg(e.status == CLNET_E_ARG, "status %s: %s",
                  clnet_status_name(e.status), e.msg);
    const char *want[] = {"t.net at batch 65536 needs 31.2 GiB on cpu",
                          "activations and their gradients 31.2 GiB",
                          "the limit is 1.0 GiB (--max-memory)",
                          "smaller --batch"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        ck_assert_msg(strstr(e.msg, want[i]), "'%s' not in: %s", want[i],
                      e.msg);
    ck_assert_double_lt((double)(t1.tv_sec - t0.tv_sec) +
                            (t1.tv_nsec - t0.tv_nsec) * 1e-9,
                        2.0);
}
END_TEST

/* 100,000 classes make the evaluation's confusion matrix 74.5 GiB: part
 * of the plan, so refused at build time rather than when eval starts. */
START_TEST(memory_plan_counts_evaluation)
{
    clnet_error e = {0};
    clnet_net *n = build_limited("input shape=1x1x1\nflatten\n"
                                 "dense units=100000\n",
                                 4, 1ull << 30, &e);
    ck_assert_ptr_null(n);
    ck_assert_msg(e.status == CLNET_E_ARG, "status %s: %s",
                  clnet_status_name(e.status), e.msg);
    ck_assert_msg(strstr(e.msg, "evaluation 74.5 GiB"), "%s", e.msg);
}
END_TEST

START_TEST(syntax_variants)
{
    /* comments, blank lines, aliases, square sizes, names, backends */
    const char *text = "# a comment\n\n"
                       "input shape=8x8   # trailing comment\n"
                       "conv2d filters=2 kernel_size=3 strides=1 padding=same "
                       "name=first backend=cpu\n"
                       "maxpool2d pool_size=2 strides=2\n"
                       "relu\n"
                       "flatten\n"
                       "dense units=3\n"
                       "softmax\n"
                       "train optimizer=sgd lr=0.1 momentum=0.9\n";
    clnet_error e;
    clnet_net *n = build(text, NULL, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    /* 3*3*1*2+2, then 4*4*2=32 inputs * 3 + 3 */
    ck_assert_int_eq(clnet_net_param_count(n), 20 + 99);
    ck_assert_int_eq(clnet_net_default_batch(n), 32); /* Keras's default */
    clnet_net_free(n);
}
END_TEST

START_TEST(parse_errors)
{
    expect_error("input shape=28x28x1\nconv2 filters=64 kernel=3\n",
                 CLNET_E_PARSE, "t.net:2:1: unknown layer 'conv2'",
                 "did you mean 'conv2d'?", NULL);
    expect_error("input shape=28x28x1\nconv2d filters=64 kernal=3\n",
                 CLNET_E_PARSE, "t.net:2:19", "unknown setting 'kernal'",
                 "did you mean 'kernel'?", NULL);
    expect_error("input shape=28x28x1\nconv2d filters=sixty kernel=3\n",
                 CLNET_E_PARSE, "t.net:2:16", "expected a whole number", NULL);
    expect_error("input shape=28x28x1\nconv2d kernel=3\n", CLNET_E_PARSE,
                 "t.net:2:1", "needs 'filters='", NULL);
    expect_error("input shape=28x28x1\nconv2d filters=4 kernel=3 filters=5\n",
                 CLNET_E_PARSE, "t.net:2:27", "set twice", NULL);
    expect_error("input shape=28x28x1\nconv2d filters=4 kernel=3x\n",
                 CLNET_E_PARSE, "expected a size like 3x3", NULL);
    expect_error("input shape=28x28x1\nconv2d filters=4 kernel=3 padding=sme\n",
                 CLNET_E_PARSE, "not one of valid|same",
                 "did you mean 'same'?", NULL);
    expect_error("input shape=28x28x1\nconv2d filters=4 kernel=3 = \n",
                 CLNET_E_PARSE, "t.net:2:27", "expected key=value", NULL);
    expect_error("input shape=28x28x1\ndense units=4\ntrain epochs=1\n"
                 "train batch=2\n",
                 CLNET_E_PARSE, "t.net:4:1", "second 'train' line", NULL);
    expect_error("dense units=4\n", CLNET_E_PARSE, "first layer must be "
                 "'input'", NULL);
    expect_error("# nothing\n\n", CLNET_E_PARSE, "no layers", NULL);
    expect_error("input shape=4x4x1\ndense units=4\ntrain optimizer=adma\n",
                 CLNET_E_PARSE, "unknown optimizer 'adma'",
                 "did you mean 'adam'?", NULL);
    expect_error("input shape=4x4x1\ndense units=4\ntrain lr=fast\n",
                 CLNET_E_PARSE, "t.net:3:10", "expected a number", NULL);
    expect_error("input shape=4x4x1\ndense units=4\ntrain beta=0.9\n",
                 CLNET_E_PARSE, "unknown setting 'beta'", NULL);
    expect_error("input shape=4x4x1\ndropout rate=1.5\ndense units=2\n",
                 CLNET_E_PARSE, "between", NULL);
    expect_error("input shape=4x4x1 name=a\ndense units=2 name=a\n",
                 CLNET_E_PARSE, "already used", NULL);
    expect_error("input shape=4x4x1\nconv/2d filters=1\n", CLNET_E_PARSE,
                 "t.net:2:1", "expected a layer kind", NULL);
}
END_TEST

START_TEST(shape_errors)
{
    expect_error("input shape=4x4x1\nconv2d filters=2 kernel=5\ndense units=2\n",
                 CLNET_E_SHAPE, "t.net:2:1", "larger than its 4x4x1 input",
                 NULL);
    expect_error("input shape=3x3x1\nmaxpool2d pool=2\nmaxpool2d pool=2\n"
                 "dense units=2\n",
                 CLNET_E_SHAPE, "t.net:3:1", "pool 2x2 is larger", NULL);
    expect_error("input shape=4x4x1\nflatten\ndense units=1\n", CLNET_E_SHAPE,
                 "at least 2 class scores", NULL);
}
END_TEST

START_TEST(backend_choice_errors)
{
    clnet_error e;
    const char *text = "input shape=4x4x1\nflatten\ndense units=2\n";
    ck_assert_ptr_null(build(text, "dense=gpu", &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "no 'gpu' implementation of dense"));
    ck_assert_ptr_null(build(text, "dens=cpu", &e));
    ck_assert_int_eq(e.status, CLNET_E_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "did you mean 'dense'?"));
    ck_assert_ptr_null(build(text, "dense", &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "expected KIND=BACKEND"));
    ck_assert_ptr_null(build(text, "dense=cpu/fast", &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "no 'fast' implementation"));
    ck_assert_ptr_nonnull(strstr(e.msg, "available: gemm"));
    clnet_net *n = build(text, "dense_1=cpu/gemm,flatten=cpu", &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    clnet_net_free(n);
    ck_assert_ptr_null(build("input shape=4x4x1\nflatten backend=tpu\n"
                             "dense units=2\n", NULL, &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "t.net:2:1"));
    clnet_topology *t = clnet_topology_parse(text, "t.net", &e);
    clnet_build_options o = {0};
    o.device = "opnecl";
    ck_assert_ptr_null(clnet_net_build(t, test_registry(), &o, &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "did you mean 'opencl'?"));
    clnet_topology_free(t);
}
END_TEST

START_TEST(load_from_files)
{
    clnet_error e;
    ck_assert_ptr_null(clnet_topology_load("/nonexistent/x.net", &e));
    ck_assert_int_eq(e.status, CLNET_E_NOTFOUND);
    ck_assert_ptr_null(clnet_topology_load(test_tmpdir(), &e));
    const char nul[] = "input shape=2x2\0dense units=2\n";
    ck_assert_ptr_null(clnet_topology_load(test_write("nul.net", nul,
                                                      sizeof nul), &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "NUL"));
    char path[1024];
    snprintf(path, sizeof path, "%s/models/mnist.net",
             getenv("CLNET_SOURCE_ROOT"));
    clnet_topology *t = clnet_topology_load(path, &e);
    ck_assert_msg(t != NULL, "%s", e.msg);
    ck_assert_int_eq(clnet_topology_layer_count(t), 9);
    clnet_topology_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("topology");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, seed_model_summary);
    tcase_add_test(tc, syntax_variants);
    tcase_add_test(tc, parse_errors);
    tcase_add_test(tc, shape_errors);
    tcase_add_test(tc, backend_choice_errors);
    tcase_add_test(tc, load_from_files);
    tcase_add_test(tc, memory_plan_in_summary);
    tcase_add_test(tc, memory_plan_refuses_before_allocating);
    tcase_add_test(tc, memory_plan_counts_evaluation);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK); /* cap_memory needs a process */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
