/* The training loop across ranks (clnet_net_set_comm), in one process
 * through a communicator of one rank (tests/fixtures/solo): a network
 * trained through it follows the trajectory of one trained without it
 * exactly, whatever the bucket size, and the buckets are started and
 * waited for as planned; the launcher's environment is read, a missing
 * communicator plugin and bad arguments are refused with messages. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static const char *const text =
    "input shape=8x8x1\n"
    "conv2d filters=4 kernel=3 name=c\n"
    "batchnorm name=bn\n"
    "relu\n"
    "maxpool2d pool=2\n"
    "flatten\n"
    "dropout rate=0.3\n"
    "dense units=3 name=d\n"
    "softmax\n"
    "train optimizer=adam lr=0.01 batch=16 epochs=2\n";

enum { N = 100, PX = 64, STEPS_MAX = 64 };

static void unset_launcher(void)
{
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("OMPI_COMM_WORLD_RANK");
    unsetenv("PMI_SIZE");
    unsetenv("PMI_RANK");
}

START_TEST(launcher_environment)
{
    int32_t rank = -1;
    unset_launcher();
    ck_assert_int_eq(clnet_launched_ranks(&rank), 1);
    ck_assert_int_eq(rank, 0);
    setenv("OMPI_COMM_WORLD_SIZE", "3", 1);
    setenv("OMPI_COMM_WORLD_RANK", "2", 1);
    ck_assert_int_eq(clnet_launched_ranks(&rank), 3);
    ck_assert_int_eq(rank, 2);
    unset_launcher();
    setenv("PMI_SIZE", "4", 1);
    setenv("PMI_RANK", "1", 1);
    ck_assert_int_eq(clnet_launched_ranks(&rank), 4);
    ck_assert_int_eq(rank, 1);
    unset_launcher();
}
END_TEST

START_TEST(no_communicator_plugin)
{
    clnet_error e;
    clnet_registry *empty = clnet_registry_new(&e);
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    setenv("OMPI_COMM_WORLD_RANK", "1", 1);
    ck_assert_ptr_null(clnet_comm_open(empty, NULL, &e));
    unset_launcher();
    ck_assert_int_eq(e.status, CLNET_E_ARG);
    ck_assert_msg(strstr(e.msg, "rank 1 of 2") &&
                      strstr(e.msg, "no communicator plugin") &&
                      strstr(e.msg, "libopenmpi-dev"),
                  "%s", e.msg);
    clnet_registry_free(empty);
    /* what a program without a job may call */
    ck_assert_int_eq(clnet_comm_rank(NULL), 0);
    ck_assert_int_eq(clnet_comm_size(NULL), 1);
    ck_assert_int_eq(clnet_comm_failed_together(NULL), 0);
    ck_assert_int_ne(clnet_net_set_comm(NULL, NULL, 0, &e), 0);
    ck_assert_int_eq(e.status, CLNET_E_ARG);
}
END_TEST

static clnet_registry *solo_registry(void)
{
    clnet_error e;
    clnet_registry *r = clnet_registry_open(&e);
    ck_assert_msg(r != NULL, "%s", e.msg);
    ck_assert_int_eq(clnet_registry_add_dir(r, getenv("CLNET_SOLO_DIR"), &e),
                     1);
    return r;
}

/* The one-rank communicator, joined, and its registry in *r. */
static clnet_comm *open_solo(clnet_registry **r)
{
    clnet_error e;
    *r = solo_registry();
    unset_launcher();
    clnet_comm *c = clnet_comm_open(*r, "solo", &e);
    ck_assert_msg(c != NULL, "%s", e.msg);
    return c;
}

static void solo_counts(int *buckets, int *waits)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/communicator-solo.so",
             getenv("CLNET_SOLO_DIR"));
    void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    ck_assert_msg(h != NULL, "%s is not loaded", path);
    void (*fn)(int *, int *);
    void *sym = dlsym(h, "solo_counts");
    ck_assert_ptr_nonnull(sym);
    memcpy(&fn, &sym, sizeof fn);
    fn(buckets, waits);
    dlclose(h);
}

typedef struct {
    double loss[STEPS_MAX];
    int steps;
    double comm_bytes;
} trace;

static void on_step(int64_t step, double loss, void *user)
{
    trace *t = user;
    (void)step;
    if (t->steps < STEPS_MAX)
        t->loss[t->steps++] = loss;
}

static void on_epoch(const clnet_epoch_stats *s, void *user)
{
    ((trace *)user)->comm_bytes = s->comm_bytes;
}

static void train(clnet_registry *r, clnet_comm *c, size_t bucket, trace *t,
                  float *kernel, float *moving)
{
    clnet_error e;
    clnet_topology *top = clnet_topology_parse(text, "t.net", &e);
    ck_assert_msg(top != NULL, "%s", e.msg);
    clnet_build_options o = {.seed = 3, .threads = 1};
    clnet_net *n = clnet_net_build(top, r, &o, &e);
    clnet_topology_free(top);
    ck_assert_msg(n != NULL, "%s", e.msg);
    if (c)
        ck_assert_msg(clnet_net_set_comm(n, c, bucket, &e) == 0, "%s", e.msg);
    clnet_dataset ds = {.count = N, .rows = 8, .cols = 8};
    uint8_t px[N * PX];
    int32_t labels[N];
    for (int i = 0; i < N * PX; i++)
        px[i] = (uint8_t)((i * 29 + (i / 5) * 7) % 256);
    for (int i = 0; i < N; i++)
        labels[i] = (i * 5) % 3;
    ds.pixels = px;
    ds.labels = labels;
    memset(t, 0, sizeof *t);
    clnet_train_options to = {.on_step = on_step, .on_epoch = on_epoch,
                              .user = t};
    ck_assert_msg(clnet_train(n, &ds, NULL, &to, &e) == 0, "%s", e.msg);
    ck_assert_msg(clnet_net_param_get(n, "d/kernel", kernel, 36 * 3, &e) == 0,
                  "%s", e.msg);
    ck_assert_msg(clnet_net_param_get(n, "bn/moving_mean", moving, 4, &e) ==
                      0,
                  "%s", e.msg);
    clnet_net_free(n);
}

START_TEST(same_trajectory_whatever_the_buckets)
{
    clnet_registry *r;
    clnet_comm *c = open_solo(&r);
    ck_assert_int_eq(clnet_comm_size(c), 1);
    ck_assert_str_eq(clnet_comm_describe(c), "solo");
    trace plain, through;
    float k0[36 * 3], k1[36 * 3], m0[4], m1[4];
    train(r, NULL, 0, &plain, k0, m0);
    /* 7 steps of 2 epochs (100 samples, batch 16) */
    ck_assert_int_eq(plain.steps, 14);
    ck_assert(plain.comm_bytes == 0);
    /* 4 bytes: a bucket per layer with parameters (c, bn, d), 1 MiB: one */
    const size_t buckets[] = {4, 1u << 20};
    const int expect[] = {3, 1};
    for (int b = 0; b < 2; b++) {
        int started0, waits0, started1, waits1;
        solo_counts(&started0, &waits0);
        train(r, c, buckets[b], &through, k1, m1);
        solo_counts(&started1, &waits1);
        ck_assert_int_eq(through.steps, plain.steps);
        for (int s = 0; s < plain.steps; s++)
            ck_assert_msg(through.loss[s] == plain.loss[s],
                          "bucket %zu, step %d: %.9g against %.9g",
                          buckets[b], s, through.loss[s], plain.loss[s]);
        ck_assert(memcmp(k0, k1, sizeof k0) == 0);
        ck_assert(memcmp(m0, m1, sizeof m0) == 0);
        ck_assert_int_eq(started1 - started0, expect[b] * plain.steps);
        /* every bucket and the step's figures, waited for */
        ck_assert_int_eq(waits1 - waits0, (expect[b] + 1) * plain.steps);
        /* the trainable parameters: c 40, bn 8, d 111 floats */
        ck_assert_msg(through.comm_bytes >= 4.0 * (40 + 8 + 111),
                      "%g bytes", through.comm_bytes);
    }
    clnet_comm_close(c);
    clnet_registry_free(r);
}
END_TEST

START_TEST(not_with_replicas)
{
    clnet_registry *r;
    clnet_comm *c = open_solo(&r);
    clnet_error e;
    clnet_build_options o = {.seed = 3, .threads = 1};
    clnet_net *a = test_build(text, &o, &e), *b = test_build(text, &o, &e);
    ck_assert_msg(a && b, "%s", e.msg);
    ck_assert_int_eq(clnet_net_set_replicas(a, &b, 1, &e), 0);
    ck_assert_int_ne(clnet_net_set_comm(a, c, 0, &e), 0);
    ck_assert_msg(strstr(e.msg, "cannot also train across ranks"), "%s",
                  e.msg);
    clnet_net_set_replicas(a, NULL, 0, &e);
    ck_assert_int_eq(clnet_net_set_comm(a, c, 0, &e), 0);
    ck_assert_int_eq(clnet_net_set_comm(a, NULL, 0, &e), 0);
    clnet_net_free(b);
    clnet_net_free(a);
    clnet_comm_close(c);
    clnet_registry_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("distributed");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, launcher_environment);
    tcase_add_test(tc, no_communicator_plugin);
    tcase_add_test(tc, same_trajectory_whatever_the_buckets);
    tcase_add_test(tc, not_with_replicas);
    suite_add_tcase(s, tc);
    return test_run(s);
}
