/* Bad input that once crashed, hung or was silently accepted (issue 10 of
 * the fuzzing campaign): sizes that overflow, files that are folders,
 * topologies that took quadratic time, a byte-order mark, and topology
 * hashes that must tell networks apart. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

static clnet_net *build(const char *text, const char *backends,
                        int32_t batch, clnet_error *e)
{
    clnet_build_options o = {.max_batch = batch, .backends = backends};
    return test_build(text, &o, e);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A receptive field of 1024 * 1024 * 2048 wrapped int32 to a small value
 * that the direct plugin took, and its create() wrote past its tables. */
START_TEST(conv_receptive_field_overflow)
{
    const char *impls[] = {NULL, "conv2d=cpu/direct", "conv2d=cpu/gemm"};
    for (int i = 0; i < 3; i++) {
        clnet_error e = {0};
        clnet_net *n = build("input shape=1x1x2048\n"
                             "conv2d filters=1 kernel=1024 padding=same\n"
                             "flatten\ndense units=2\n",
                             impls[i], 2, &e);
        ck_assert_msg(n == NULL, "accepted with %s", impls[i]);
        ck_assert_msg(e.status == CLNET_E_SHAPE ||
                          e.status == CLNET_E_ARG,
                      "%s: %s", clnet_status_name(e.status), e.msg);
        ck_assert_msg(strstr(e.msg, "t.net:2:1"), "%s", e.msg);
    }
    clnet_error e = {0};
    clnet_net *n = build("input shape=1x1x2048\n"
                         "conv2d filters=1 kernel=1024 padding=same\n"
                         "flatten\ndense units=2\n",
                         "conv2d=cpu/gemm", 2, &e);
    ck_assert_ptr_null(n);
    ck_assert_msg(strstr(e.msg, "receptive field") &&
                      strstr(e.msg, "2147483647"),
                  "%s", e.msg);
}
END_TEST

/* Found by fuzzing after the fixes above: a 1024x1024 kernel over 2024
 * channels fits the element limit, but conv2d's create() allocated its
 * per-thread weight gradient (8.5 GB each) in the build's planning pass,
 * before the memory plan could refuse the network. */
START_TEST(planning_allocates_no_workspace)
{
    test_cap_memory(512u << 20);
    clnet_error e = {0};
    clnet_net *n = build("input shape=1x1x2024\n"
                         "conv2d filters=1 kernel=1024 padding=same\n"
                         "flatten\ndense units=2\n",
                         NULL, 2, &e);
    ck_assert_ptr_null(n);
    ck_assert_msg(strstr(e.msg, "needs") && strstr(e.msg, "GiB on cpu"),
                  "%s: %s", clnet_status_name(e.status), e.msg);
}
END_TEST

/* Outputs and parameters past CLNET_MAX_ELEMENTS are refused before any
 * allocation, whatever the layer kind. */
START_TEST(tensor_size_limits)
{
    clnet_error e = {0};
    /* 65536 x 65536 x 16 values a sample */
    ck_assert_ptr_null(build("input shape=65536x65536x16\nflatten\n"
                             "dense units=2\n",
                             NULL, 1, &e));
    ck_assert_msg(strstr(e.msg, "t.net:1:1") &&
                      strstr(e.msg, "2147483647"),
                  "%s", e.msg);
    /* fine alone, too large over the batch */
    ck_assert_ptr_null(build("input shape=1024x1024x64\nflatten\n"
                             "dense units=2\n",
                             NULL, 64, &e));
    ck_assert_msg(strstr(e.msg, "batch"), "%s", e.msg);
    /* 65536 filters of 1024 x 1024 x 1: a kernel of 2^36 values */
    ck_assert_ptr_null(build("input shape=1024x1024x1\n"
                             "conv2d filters=65536 kernel=1024\n"
                             "flatten\ndense units=2\n",
                             NULL, 1, &e));
    ck_assert_msg(strstr(e.msg, "t.net:2:1"), "%s", e.msg);
    ck_assert_ptr_null(build("input shape=4096x4096x1\nflatten\n"
                             "dense units=16777216\ndense units=2\n",
                             NULL, 1, &e));
    ck_assert_msg(strstr(e.msg, "t.net:3:1"), "%s", e.msg);
}
END_TEST

/* A fuzzed topology on which the direct convolution's gather formed
 * pointers before its input (UBSan: pointer overflow); it must compute the
 * same as the im2col implementation. */
START_TEST(direct_conv_padding_gather)
{
    const char *text = "input shape=5x5x2\n"
                       "conv2d filters=33 kernel=4 strides=3 padding=same\n"
                       "flatten\ndense units=2 activation=softmax\n";
    clnet_error e = {0};
    clnet_net *a = build(text, "conv2d=cpu/direct", 3, &e);
    ck_assert_msg(a != NULL, "%s", e.msg);
    clnet_net *b = build(text, "conv2d=cpu/gemm", 3, &e);
    ck_assert_msg(b != NULL, "%s", e.msg);
    uint8_t px[3 * 50];
    for (int i = 0; i < 150; i++)
        px[i] = (uint8_t)(i * 37 + 11);
    float pa[6], pb[6];
    ck_assert_int_eq(clnet_predict(a, px, 3, pa, &e), 0);
    ck_assert_int_eq(clnet_predict(b, px, 3, pb, &e), 0);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq_tol(pa[i], pb[i], 1e-5);
    clnet_net_free(a);
    clnet_net_free(b);
}
END_TEST

/* 150,000 relu lines took 151 s (a scan of every name above each line);
 * 100,000 settings on one line 24 s (the same for keys). */
START_TEST(parsing_is_linear)
{
    const int lines = 150000;
    size_t cap = (size_t)lines * 5 + 64;
    char *text = malloc(cap), *p = text;
    p += sprintf(p, "input shape=2x2x1\nflatten\n");
    for (int i = 0; i < lines; i++)
        p += sprintf(p, "relu\n");
    sprintf(p, "dense units=2\n");
    double t0 = seconds();
    clnet_error e = {0};
    clnet_net *n = build(text, NULL, 1, &e);
    double dt = seconds() - t0;
    ck_assert_msg(n != NULL, "%s", e.msg);
    clnet_net_free(n);
    ck_assert_msg(dt < 10, "%d relu lines took %.1f s", lines, dt);

    const int keys = 100000;
    char *line = malloc((size_t)keys * 16 + 64);
    p = line + sprintf(line, "input shape=2x2x1\nflatten");
    for (int i = 0; i < keys; i++)
        p += sprintf(p, " k%d=1", i);
    sprintf(p, "\ndense units=2\n");
    t0 = seconds();
    clnet_topology *t = clnet_topology_parse(line, "k.net", &e);
    dt = seconds() - t0;
    ck_assert_msg(t != NULL, "%s", e.msg);
    clnet_topology_free(t);
    ck_assert_msg(dt < 3, "%d settings on a line took %.1f s", keys, dt);
    /* the duplicate key is still found, at its column */
    sprintf(p, " k7=2\n");
    ck_assert_ptr_null(clnet_topology_parse(line, "k.net", &e));
    ck_assert_msg(strstr(e.msg, "'k7' is set twice"), "%s", e.msg);
    free(line);
    free(text);
}
END_TEST

START_TEST(byte_order_mark_and_folders)
{
    clnet_error e = {0};
    clnet_net *n = build("\xef\xbb\xbfinput shape=2x2x1\nflatten\n"
                         "dense units=2\n",
                         NULL, 1, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    clnet_net_free(n);
    ck_assert_ptr_null(clnet_topology_load(test_tmpdir(), &e));
    ck_assert_int_eq(e.status, CLNET_E_ARG);
    ck_assert_msg(strstr(e.msg, ": a folder, not a topology file"), "%s", e.msg);
}
END_TEST

/* A checkpoint is tied to what its weights mean: networks that differ
 * only in an activation, a stride or the input's scale hash differently;
 * names and implementations alone do not change the meaning... except
 * names, which checkpoints use to find tensors. */
START_TEST(topology_hash_covers_settings)
{
    const char *texts[] = {
        "input shape=6x6x1\nconv2d filters=2 kernel=3\nflatten\n"
        "dense units=2\n",
        "input shape=6x6x1\nconv2d filters=2 kernel=3 activation=relu\n"
        "flatten\ndense units=2\n",
        "input shape=6x6x1\nconv2d filters=2 kernel=3\nflatten\n"
        "dense units=2 activation=softmax\n",
        "input shape=6x6x1 scale=1\nconv2d filters=2 kernel=3\nflatten\n"
        "dense units=2\n",
        "input shape=7x7x1\nconv2d filters=2 kernel=3 strides=2\nflatten\n"
        "dense units=2\n",
        "input shape=7x7x1\nconv2d filters=2 kernel=3 strides=2 "
        "padding=same\nflatten\ndense units=2\n",
    };
    enum { N = sizeof texts / sizeof *texts };
    uint64_t h[N];
    for (int i = 0; i < N; i++) {
        clnet_error e = {0};
        clnet_net *n = build(texts[i], NULL, 1, &e);
        ck_assert_msg(n != NULL, "%s", e.msg);
        h[i] = clnet_net_topology_hash(n);
        clnet_net_free(n);
        for (int j = 0; j < i; j++)
            ck_assert_msg(h[i] != h[j], "texts %d and %d hash alike", j, i);
    }
    clnet_error e = {0};
    clnet_net *n = build(texts[0], "conv2d=cpu/direct", 1, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    ck_assert_msg(clnet_net_topology_hash(n) == h[0],
                  "the implementation changed the hash");
    clnet_net_free(n);
}
END_TEST

/* On a machine where this process may use one CPU, the default is one
 * thread, not the number online. */
START_TEST(default_threads_follow_affinity)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        unsetenv("OMP_NUM_THREADS");
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(0, &one);
        if (sched_setaffinity(0, sizeof one, &one) != 0)
            _exit(3);
        _exit(clnet_default_threads() == 1 ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "clnet_default_threads ignores the affinity mask");
    setenv("OMP_NUM_THREADS", "3", 1);
    ck_assert_int_eq(clnet_default_threads(), 3);
    unsetenv("OMP_NUM_THREADS");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("robust");
    TCase *tc = tcase_create("robust");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, conv_receptive_field_overflow);
    tcase_add_test(tc, tensor_size_limits);
    tcase_add_test(tc, planning_allocates_no_workspace);
    tcase_add_test(tc, direct_conv_padding_gather);
    tcase_add_test(tc, parsing_is_linear);
    tcase_add_test(tc, byte_order_mark_and_folders);
    tcase_add_test(tc, topology_hash_covers_settings);
    tcase_add_test(tc, default_threads_follow_affinity);
    suite_add_tcase(s, tc);
    return test_run(s);
}
