/* Runs that must not be lost: resume from a checkpoint bit for bit (at an
 * epoch boundary and in the middle of one), SIGINT and SIGTERM saving a
 * checkpoint that --resume continues, non-finite losses stopped with the
 * layer and a hint that fits, and divergence told at the end of an epoch. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "helpers.h"

static const char *small_net =
    "input shape=28x28x1\n"
    "conv2d filters=4 kernel=3 activation=relu\n"
    "maxpool2d pool=2\n"
    "flatten\n"
    "dense units=16 activation=relu\n"
    "dropout rate=0.3\n"
    "dense units=10 activation=softmax\n"
    "train optimizer=adam lr=0.003\n";

static clnet_net *build(const char *text, int32_t batch)
{
    clnet_error e;
    clnet_build_options o = {.max_batch = batch, .seed = 7, .threads = 2};
    clnet_net *n = test_build(text, &o, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    return n;
}

/* 28x28 images, a bright band of rows per class; with `dark`, the left
 * half of every image is 0, so the weights reading it get no gradient. */
static void synthetic(clnet_dataset *ds, int32_t count, int dark)
{
    unsigned seed = 11;
    *ds = (clnet_dataset){0};
    ds->count = count;
    ds->rows = ds->cols = 28;
    ds->pixels = malloc((size_t)count * 784);
    ds->labels = malloc(sizeof(int32_t) * (size_t)count);
    for (int32_t i = 0; i < count; i++) {
        for (int p = 0; p < 784; p++) {
            seed = seed * 1103515245u + 12345u;
            uint8_t v = (uint8_t)(p / 78 == i % 10 ? 200 + (seed >> 28)
                                                   : (seed >> 27));
            ds->pixels[(size_t)i * 784 + p] = dark && p % 28 < 14 ? 0 : v;
        }
        ds->labels[i] = i % 10;
    }
}

typedef struct {
    double loss[256];
    int n;
    int64_t stop_after; /* global step; 0: never */
    int64_t step;
} recorder;

static void record(int64_t step, double loss, void *user)
{
    recorder *r = user;
    ck_assert_int_lt(r->n, 256);
    r->loss[r->n++] = loss;
    r->step = step;
}

static int stop_at_step(void *user)
{
    const recorder *r = user;
    return r->stop_after && r->step >= r->stop_after;
}

static int train(clnet_net *n, const clnet_dataset *ds, int32_t epochs,
                 recorder *r, clnet_error *e)
{
    clnet_train_options o = {0};
    o.epochs = epochs;
    o.batch = 32;
    o.on_step = record;
    o.should_stop = stop_at_step;
    o.user = r;
    return clnet_train(n, ds, NULL, &o, e);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*len);
    ck_assert_uint_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void same_file(const char *a, const char *b)
{
    size_t la, lb;
    unsigned char *x = slurp(a, &la), *y = slurp(b, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert_msg(memcmp(x, y, la) == 0, "%s and %s differ", a, b);
    free(x);
    free(y);
}

static const char *tmp(const char *name)
{
    static char paths[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(paths[k], sizeof paths[k], "%s/%s", test_tmpdir(), name);
    return paths[k];
}

/* 3 epochs straight, and the same run stopped and resumed twice: after
 * epoch 1 (a separate process would start from the file) and in the
 * middle of epoch 3; the per-step losses and the final checkpoints are
 * bit-identical. */
START_TEST(resume_is_bit_identical)
{
    clnet_dataset ds;
    synthetic(&ds, 300, 0); /* 10 steps an epoch, the last one short */
    clnet_error e;
    recorder straight = {0};
    clnet_net *a = build(small_net, 32);
    ck_assert_msg(train(a, &ds, 3, &straight, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(straight.n, 30);
    ck_assert_int_eq(clnet_checkpoint_save(a, tmp("straight.ckpt"), &e), 0);

    recorder parts = {0};
    clnet_net *b = build(small_net, 32);
    ck_assert_msg(train(b, &ds, 1, &parts, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(clnet_checkpoint_save(b, tmp("epoch1.ckpt"), &e), 0);
    clnet_net_free(b);

    clnet_net *c = build(small_net, 32);
    ck_assert_msg(clnet_checkpoint_resume(c, tmp("epoch1.ckpt"), &e) == 0,
                  "%s", e.msg);
    parts.stop_after = 24;
    ck_assert_int_eq(train(c, &ds, 3, &parts, &e), CLNET_E_INTERRUPTED);
    int32_t ep;
    int64_t st;
    clnet_net_progress(c, &ep, &st);
    ck_assert_int_eq(ep, 2);
    ck_assert_int_eq(st, 4);
    ck_assert_int_eq(clnet_checkpoint_save(c, tmp("mid.ckpt"), &e), 0);
    clnet_net_free(c);

    clnet_net *d = build(small_net, 32);
    ck_assert_msg(clnet_checkpoint_resume(d, tmp("mid.ckpt"), &e) == 0, "%s",
                  e.msg);
    parts.stop_after = 0;
    ck_assert_msg(train(d, &ds, 3, &parts, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(parts.n, 30);
    for (int i = 0; i < 30; i++)
        ck_assert_msg(parts.loss[i] == straight.loss[i],
                      "step %d: %.17g resumed, %.17g straight", i + 1,
                      parts.loss[i], straight.loss[i]);
    ck_assert_int_eq(clnet_checkpoint_save(d, tmp("resumed.ckpt"), &e), 0);
    same_file(tmp("straight.ckpt"), tmp("resumed.ckpt"));

    /* a checkpoint gets the mode the umask gives, not always 0644 */
    mode_t was = umask(027);
    ck_assert_int_eq(clnet_checkpoint_save(d, tmp("mode.ckpt"), &e), 0);
    umask(was);
    struct stat ms;
    ck_assert_int_eq(stat(tmp("mode.ckpt"), &ms), 0);
    ck_assert_int_eq(ms.st_mode & 0777, 0640);

    /* another batch size cannot continue the run */
    clnet_net *f = build(small_net, 32);
    ck_assert_int_eq(clnet_checkpoint_resume(f, tmp("mid.ckpt"), &e), 0);
    clnet_train_options o = {0};
    o.epochs = 3;
    o.batch = 16;
    ck_assert_int_eq(clnet_train(f, &ds, NULL, &o, &e), CLNET_E_ARG);
    ck_assert_msg(strstr(e.msg, "batch 32"), "%s", e.msg);
    clnet_net_free(f);
    /* another optimizer cannot resume it, but may start from its weights */
    char *sgd = strdup(small_net);
    memcpy(strstr(sgd, "adam"), "sgd ", 4);
    clnet_net *g = build(sgd, 32);
    ck_assert_int_eq(clnet_checkpoint_resume(g, tmp("mid.ckpt"), &e),
                     CLNET_E_CHECKPOINT);
    ck_assert_msg(strstr(e.msg, "--init-weights"), "%s", e.msg);
    ck_assert_int_eq(clnet_checkpoint_load(g, tmp("mid.ckpt"), &e), 0);
    clnet_net_free(g);
    free(sgd);
    clnet_net_free(d);
    clnet_net_free(a);
    clnet_dataset_free(&ds);
}
END_TEST

/* Adam with epsilon=0 divides 0 by 0 for weights that never get a
 * gradient: the loss turns NaN, training stops naming where and why, and
 * the hint is not the learning rate's. */
START_TEST(nonfinite_loss_names_layer_and_cause)
{
    const char *text = "input shape=28x28x1\nflatten\n"
                       "dense units=10 activation=softmax\n"
                       "train optimizer=adam epsilon=0\n";
    clnet_dataset ds;
    synthetic(&ds, 96, 1);
    clnet_net *n = build(text, 32);
    recorder r = {0};
    clnet_error e;
    ck_assert_int_eq(train(n, &ds, 2, &r, &e), CLNET_E_NONFINITE);
    ck_assert_msg(strstr(e.msg, "epoch 1 step 2"), "%s", e.msg);
    ck_assert_msg(strstr(e.msg, "dense_1/kernel"), "%s", e.msg);
    ck_assert_msg(strstr(e.msg, "epsilon"), "%s", e.msg);
    ck_assert_msg(!strstr(e.msg, "learning rate"), "%s", e.msg);
    ck_assert(!clnet_status_is_input(e.status));
    clnet_net_free(n);
    clnet_dataset_free(&ds);
}
END_TEST

static clnet_epoch_stats last_epoch;

static void keep_epoch(const clnet_epoch_stats *s, void *user)
{
    (void)user;
    last_epoch = *s;
}

/* SGD at lr=100 ends at chance with a loss far above its start (or at a
 * non-finite one); the epoch's figures say so. A sane run is not
 * flagged. */
START_TEST(divergence_is_told)
{
    clnet_dataset ds;
    synthetic(&ds, 640, 0);
    const char *rates[] = {"train optimizer=sgd lr=100\n",
                           "train optimizer=adam lr=0.003\n"};
    for (int k = 0; k < 2; k++) {
        char text[512];
        snprintf(text, sizeof text,
                 "input shape=28x28x1\nconv2d filters=4 kernel=3 "
                 "activation=relu\nmaxpool2d pool=2\nflatten\n"
                 "dense units=10 activation=softmax\n%s",
                 rates[k]);
        clnet_net *n = build(text, 32);
        clnet_train_options o = {0};
        o.epochs = 2;
        o.batch = 32;
        o.on_epoch = keep_epoch;
        clnet_error e;
        memset(&last_epoch, 0, sizeof last_epoch);
        int rc = clnet_train(n, &ds, NULL, &o, &e);
        if (k == 0)
            ck_assert_msg(rc == CLNET_E_NONFINITE || last_epoch.diverged,
                          "lr=100: rc %d, loss %g, accuracy %g, first %g", rc,
                          last_epoch.loss, last_epoch.accuracy,
                          last_epoch.first_loss);
        else
            ck_assert_msg(rc == 0 && !last_epoch.diverged,
                          "lr=0.003 flagged: loss %g, accuracy %g",
                          last_epoch.loss, last_epoch.accuracy);
        clnet_net_free(n);
    }
    clnet_dataset_free(&ds);
}
END_TEST

/* Checkpoints written before plugin ABI 2 (version 1: weights only,
 * the fuzzing seed tests/fuzz/corpus/checkpoint/whole after its one-byte
 * harness flag; version 2: with the training state) are refused with a
 * message that says why, not read as the wrong tensors. */
START_TEST(checkpoints_before_abi_2_are_refused)
{
    char src[1024];
    snprintf(src, sizeof src, "%s/tests/fuzz/corpus/checkpoint/whole",
             getenv("CLNET_SOURCE_ROOT"));
    size_t len;
    unsigned char *b = slurp(src, &len);
    ck_assert_uint_gt(len, 9);
    ck_assert_int_eq(b[9], 1); /* the version, after the flag and magic */
    const char *v1 = test_write("v1.ckpt", b + 1, len - 1);
    b[9] = 2;
    const char *v2 = test_write("v2.ckpt", b + 1, len - 1);
    free(b);
    clnet_net *n = build("input shape=6x6x1\n"
                         "conv2d filters=2 kernel=3 activation=relu\n"
                         "maxpool2d pool=2x2\nflatten\n"
                         "dense units=3 activation=softmax\n"
                         "train optimizer=sgd lr=0.1\n",
                         2);
    clnet_error e;
    const char *files[2] = {v1, v2};
    for (int v = 0; v < 2; v++) {
        ck_assert_int_eq(clnet_checkpoint_load(n, files[v], &e),
                         CLNET_E_CHECKPOINT);
        ck_assert_msg(strstr(e.msg, "before plugin ABI 2"), "%s", e.msg);
        ck_assert_msg(strstr(e.msg, v ? "version 2" : "version 1"), "%s",
                      e.msg);
    }
    clnet_net_free(n);
}
END_TEST

/* On OpenCL the resumed run agrees with the straight one within float32
 * tolerance (kernels may sum in another order from one build to the next
 * on some drivers; on PoCL they are the same). */
static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> 8 * i);
}

/* A checkpoint whose topology needs batch normalization's moving mean,
 * rewritten without that tensor (and with a checksum that fits): refused,
 * naming the tensor. */
START_TEST(missing_state_is_named)
{
    clnet_net *n = build("input shape=6x6x1\n"
                         "conv2d filters=2 kernel=3\n"
                         "batchnorm\nflatten\n"
                         "dense units=3 activation=softmax\n"
                         "train optimizer=sgd lr=0.1\n",
                         2);
    const char *path = tmp("bn.ckpt");
    clnet_error e;
    ck_assert_int_eq(clnet_checkpoint_save(n, path, &e), 0);
    size_t len;
    unsigned char *b = slurp(path, &len);
    /* the header's fixed part, the optimizer's name, the rest */
    size_t off = 8 + 4 + 4 + 8 + 8 + 8;
    off += 4 + le32(b + off);
    off += 4 + 4 + 8 + 4 + 4 + 8 + 8 + 8 + 8 + 8;
    size_t count_at = off;
    uint32_t ntensors = le32(b + off);
    off += 4;
    const char *want = "batchnorm_1/moving_mean";
    size_t cut = 0, cut_len = 0;
    for (uint32_t t = 0; t < ntensors; t++) {
        size_t start = off;
        uint32_t nl = le32(b + off);
        int hit = nl == strlen(want) && !memcmp(b + off + 4, want, nl);
        off += 4 + nl;
        uint32_t ndim = le32(b + off);
        off += 4 + 4 * (size_t)ndim;
        uint64_t count = le32(b + off) | (uint64_t)le32(b + off + 4) << 32;
        off += 8 + 4 * count;
        if (hit) {
            cut = start;
            cut_len = off - start;
        }
    }
    ck_assert_uint_gt(cut_len, 0);
    memmove(b + cut, b + cut + cut_len, len - cut - cut_len);
    len -= cut_len;
    put_le32(b + count_at, ntensors - 1);
    put_le32(b + len - 4, (uint32_t)crc32(0L, b, (uInt)(len - 4)));
    const char *bad = test_write("bn-missing.ckpt", b, len);
    free(b);
    ck_assert_int_eq(clnet_checkpoint_load(n, bad, &e), CLNET_E_CHECKPOINT);
    ck_assert_msg(strstr(e.msg, "expected tensor batchnorm_1/moving_mean"),
                  "%s", e.msg);
    clnet_net_free(n);
}
END_TEST

START_TEST(resume_on_opencl)
{
    clnet_error e;
    clnet_device_info d[4];
    if (clnet_devices(test_registry(), "opencl", d, 4, &e) <= 0) {
        fprintf(stderr, "resume_on_opencl skipped: no OpenCL device\n");
        return;
    }
    clnet_dataset ds;
    synthetic(&ds, 200, 0);
    clnet_topology *t = clnet_topology_parse(small_net, "t.net", &e);
    ck_assert_ptr_nonnull(t);
    clnet_build_options o = {.max_batch = 32, .seed = 7, .threads = 2,
                             .device = "opencl"};
    recorder straight = {0}, parts = {0};
    clnet_net *a = clnet_net_build(t, test_registry(), &o, &e);
    ck_assert_msg(a != NULL, "%s", e.msg);
    ck_assert_msg(train(a, &ds, 2, &straight, &e) == 0, "%s", e.msg);
    clnet_net *b = clnet_net_build(t, test_registry(), &o, &e);
    parts.stop_after = 10;
    ck_assert_int_eq(train(b, &ds, 2, &parts, &e), CLNET_E_INTERRUPTED);
    ck_assert_int_eq(clnet_checkpoint_save(b, tmp("ocl.ckpt"), &e), 0);
    clnet_net_free(b);
    clnet_net *c = clnet_net_build(t, test_registry(), &o, &e);
    ck_assert_msg(clnet_checkpoint_resume(c, tmp("ocl.ckpt"), &e) == 0, "%s",
                  e.msg);
    parts.stop_after = 0;
    ck_assert_msg(train(c, &ds, 2, &parts, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(parts.n, straight.n);
    for (int i = 0; i < parts.n; i++)
        ck_assert_msg(fabs(parts.loss[i] - straight.loss[i]) <=
                          1e-4 * fabs(straight.loss[i]) + 1e-6,
                      "step %d: %.9g resumed, %.9g straight", i + 1,
                      parts.loss[i], straight.loss[i]);
    clnet_net_free(a);
    clnet_net_free(c);
    clnet_topology_free(t);
    clnet_dataset_free(&ds);
}
END_TEST

/* ---- the command line: signals ---- */

/* Starts clnet train in the test folder with output to log; returns its
 * pid. */
static pid_t start_train(const char *extra, const char *log)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "exec '%s' train '%s/models/mnist.net' --data . --epochs 3 "
             "--batch 16 --limit-test 32 --seed 5 --out s.ckpt %s > %s 2>&1",
             getenv("CLNET_BINARY"), getenv("CLNET_SOURCE_ROOT"), extra, log);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (chdir(test_tmpdir()) != 0)
            _exit(99);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(98);
    }
    return pid;
}

static int wait_status(pid_t pid)
{
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Waits until log holds `text` (at most 60 s). */
static void wait_for(const char *log, const char *text)
{
    for (int i = 0; i < 600; i++) {
        FILE *f = fopen(tmp(log), "r");
        if (f) {
            char buf[65536];
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            buf[n] = '\0';
            fclose(f);
            if (strstr(buf, text))
                return;
        }
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    ck_abort_msg("'%s' never appeared in %s", text, log);
}

static void no_temp_files(void)
{
    DIR *dir = opendir(test_tmpdir());
    struct dirent *de;
    while ((de = readdir(dir)))
        ck_assert_msg(!strstr(de->d_name, ".tmp."), "left behind: %s",
                      de->d_name);
    closedir(dir);
}

static int log_has(const char *log, const char *text)
{
    size_t n;
    unsigned char *b = slurp(tmp(log), &n);
    b = realloc(b, n + 1);
    b[n] = '\0';
    int has = strstr((char *)b, text) != NULL;
    free(b);
    return has;
}

START_TEST(signals_save_and_resume)
{
    test_write_mnist("train", 640, 0);
    test_write_mnist("t10k", 64, 0);
    const int sigs[2] = {SIGINT, SIGTERM};
    const char *logs[2] = {"a.log", "t.log"};
    for (int k = 0; k < 2; k++) {
        unlink(tmp("s.ckpt"));
        pid_t pid = start_train("", logs[k]);
        wait_for(logs[k], "Epoch 2/3");
        kill(pid, sigs[k]);
        ck_assert_int_eq(wait_status(pid), 128 + sigs[k]);
        ck_assert_msg(log_has(logs[k], "--resume s.ckpt"), "no hint");
        struct stat st;
        ck_assert_int_eq(stat(tmp("s.ckpt"), &st), 0);
        no_temp_files();
    }
    /* the stopped run resumes and finishes */
    pid_t pid = start_train("--resume s.ckpt", "b.log");
    ck_assert_int_eq(wait_status(pid), 0);
    ck_assert_msg(log_has("b.log", "Resuming s.ckpt after epoch 1"),
                  "not resumed");
    ck_assert_msg(log_has("b.log", "Epoch 3/3"), "did not finish");
    ck_assert_msg(!log_has("b.log", "Epoch 1/3"), "epoch 1 again");
    /* a new training from its weights: a fresh run, not a resume */
    pid = start_train("--init-weights s.ckpt --out f.ckpt", "f.log");
    ck_assert_int_eq(wait_status(pid), 0);
    ck_assert_msg(log_has("f.log", "Epoch 1/3") && !log_has("f.log", "Resum"),
                  "--init-weights resumed");
    /* a second SIGINT stops at once, leaving no temporary file */
    pid = start_train("", "c.log");
    wait_for("c.log", "Epoch 1/3");
    kill(pid, SIGINT);
    kill(pid, SIGINT);
    ck_assert_int_eq(wait_status(pid), 130);
    no_temp_files();
}
END_TEST

/* A checkpoint over 4 GiB (SGD's slot doubles 2.2 GB of weights)
 * written and read back: version 1 capped reads at 2 GiB and cut the
 * CRC's length to 32 bits. Needs about 7 GB of memory and 4.4 GB of disk,
 * so it is added only with CLNET_SLOW_TESTS=1. */
START_TEST(checkpoint_over_4_gib)
{
    clnet_net *n = build("input shape=28x28x1\nflatten\n"
                         "dense units=690000 activation=relu\n"
                         "dense units=10 activation=softmax\n"
                         "train optimizer=sgd lr=0.01\n",
                         2);
    clnet_dataset ds;
    synthetic(&ds, 4, 0);
    clnet_error e;
    clnet_train_options o = {0};
    o.epochs = 1;
    o.batch = 2;
    ck_assert_msg(clnet_train(n, &ds, NULL, &o, &e) == 0, "%s", e.msg);
    float before[40], after[40];
    ck_assert_int_eq(clnet_predict(n, ds.pixels, 4, before, &e), 0);
    ck_assert_msg(clnet_checkpoint_save(n, tmp("big.ckpt"), &e) == 0, "%s",
                  e.msg);
    struct stat st;
    ck_assert_int_eq(stat(tmp("big.ckpt"), &st), 0);
    ck_assert_msg(st.st_size > (4ll << 30), "only %lld bytes",
                  (long long)st.st_size);
    clnet_net_free(n);
    n = build("input shape=28x28x1\nflatten\n"
              "dense units=690000 activation=relu\n"
              "dense units=10 activation=softmax\n"
              "train optimizer=sgd lr=0.01\n",
              2);
    ck_assert_msg(clnet_checkpoint_resume(n, tmp("big.ckpt"), &e) == 0, "%s",
                  e.msg);
    unlink(tmp("big.ckpt"));
    ck_assert_int_eq(clnet_predict(n, ds.pixels, 4, after, &e), 0);
    ck_assert(memcmp(before, after, sizeof before) == 0);
    clnet_net_free(n);
    clnet_dataset_free(&ds);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("resume");
    TCase *tc = tcase_create("resume");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, resume_is_bit_identical);
    tcase_add_test(tc, nonfinite_loss_names_layer_and_cause);
    tcase_add_test(tc, divergence_is_told);
    tcase_add_test(tc, checkpoints_before_abi_2_are_refused);
    tcase_add_test(tc, missing_state_is_named);
    tcase_add_test(tc, resume_on_opencl);
    tcase_add_test(tc, signals_save_and_resume);
    const char *slow = getenv("CLNET_SLOW_TESTS");
    if (slow && !strcmp(slow, "1"))
        tcase_add_test(tc, checkpoint_over_4_gib);
    suite_add_tcase(s, tc);
    return test_run(s);
}
