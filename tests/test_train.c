/* Whole networks: checkpoints, determinism, refusals of bad data and the
 * tune cache. The run on real MNIST is tests/test_mnist.c. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "helpers.h"

static char *seed_model_path(void)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/models/mnist.net",
             getenv("CLNET_SOURCE_ROOT"));
    return path;
}

static clnet_net *build_text(const char *text, uint64_t seed, int32_t batch)
{
    clnet_error e;
    clnet_topology *t = text ? clnet_topology_parse(text, "t.net", &e)
                             : clnet_topology_load(seed_model_path(), &e);
    ck_assert_msg(t != NULL, "%s", e.msg);
    clnet_build_options o = {0};
    o.max_batch = batch;
    o.seed = seed;
    o.threads = 2;
    clnet_net *n = clnet_net_build(t, test_registry(), &o, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    clnet_topology_free(t);
    return n;
}

/* Random 28x28 images whose label is a function of the pixels. */
static void synthetic(clnet_dataset *ds, int32_t count, unsigned seed)
{
    *ds = (clnet_dataset){0};
    ds->count = count;
    ds->rows = ds->cols = 28;
    ds->pixels = malloc((size_t)count * 784);
    ds->labels = malloc(sizeof(int32_t) * (size_t)count);
    for (int32_t i = 0; i < count; i++) {
        int32_t label = (int32_t)(i % 10);
        for (int p = 0; p < 784; p++) {
            seed = seed * 1103515245u + 12345u;
            int bright = p / 78 == label; /* a band of rows per class */
            ds->pixels[(size_t)i * 784 + p] =
                (uint8_t)(bright ? 200 + (seed >> 28) : (seed >> 27));
        }
        ds->labels[i] = label;
    }
}

static void predict_all(clnet_net *n, const clnet_dataset *ds, float *out)
{
    clnet_error e;
    ck_assert_msg(clnet_predict(n, ds->pixels, ds->count, out, &e) == 0, "%s",
                  e.msg);
}

static const char *small_net = "input shape=28x28x1\n"
                               "conv2d filters=4 kernel=3 activation=relu\n"
                               "maxpool2d pool=2\n"
                               "flatten\n"
                               "dense units=10 activation=softmax\n";

START_TEST(checkpoint_round_trip_and_refusals)
{
    clnet_dataset ds;
    synthetic(&ds, 64, 1);
    clnet_net *a = build_text(small_net, 1, 32);
    clnet_error e;
    clnet_train_options o = {0};
    o.epochs = 1;
    ck_assert_msg(clnet_train(a, &ds, NULL, &o, &e) == 0, "%s", e.msg);
    char path[512];
    snprintf(path, sizeof path, "%s/a.ckpt", test_tmpdir());
    ck_assert_msg(clnet_checkpoint_save(a, path, &e) == 0, "%s", e.msg);

    clnet_net *b = build_text(small_net, 2, 32);
    float pa[640], pb[640], pb0[640];
    predict_all(a, &ds, pa);
    predict_all(b, &ds, pb0);
    ck_assert(memcmp(pa, pb0, sizeof pa) != 0);
    ck_assert_msg(clnet_checkpoint_load(b, path, &e) == 0, "%s", e.msg);
    predict_all(b, &ds, pb);
    ck_assert(memcmp(pa, pb, sizeof pa) == 0);

    /* a flipped byte: refused, parameters untouched */
    FILE *f = fopen(path, "rb");
    static unsigned char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    clnet_net *c = build_text(small_net, 3, 32);
    float pc0[640], pc[640];
    predict_all(c, &ds, pc0);
    buf[len / 2] ^= 1;
    ck_assert_int_ne(clnet_checkpoint_load(c, test_write("flip.ckpt", buf, len),
                                           &e), 0);
    ck_assert_int_eq(e.status, CLNET_E_CHECKPOINT);
    ck_assert_msg(strstr(e.msg, "corrupt"), "%s", e.msg);
    predict_all(c, &ds, pc);
    ck_assert(memcmp(pc0, pc, sizeof pc) == 0);
    buf[len / 2] ^= 1;
    /* truncated, not a checkpoint, missing */
    ck_assert_int_ne(clnet_checkpoint_load(c, test_write("cut.ckpt", buf,
                                                         len - 9), &e), 0);
    ck_assert_int_ne(clnet_checkpoint_load(c, test_write("x.ckpt", "hello", 5),
                                           &e), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, "not a clnet checkpoint"));
    ck_assert_int_ne(clnet_checkpoint_load(c, "/nonexistent.ckpt", &e), 0);
    ck_assert_int_eq(e.status, CLNET_E_NOTFOUND);
    /* another version */
    buf[8] = 9;
    ck_assert_int_ne(clnet_checkpoint_load(c, test_write("v.ckpt", buf, len),
                                           &e), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, "version 9"));
    buf[8] = 2;

    /* another topology */
    clnet_net *d = build_text("input shape=28x28x1\n"
                              "conv2d filters=5 kernel=3 activation=relu\n"
                              "maxpool2d pool=2\nflatten\n"
                              "dense units=10 activation=softmax\n",
                              1, 32);
    ck_assert_int_ne(clnet_checkpoint_load(d, path, &e), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, "another topology"));

    /* unwritable: an error, and nothing left behind */
    ck_assert_int_ne(clnet_checkpoint_save(a, "/nonexistent/dir/a.ckpt", &e),
                     0);
    ck_assert_int_eq(e.status, CLNET_E_ARG);
    /* saving again replaces the file and leaves no temporary file */
    ck_assert_int_eq(clnet_checkpoint_save(a, path, &e), 0);
    DIR *dir = opendir(test_tmpdir());
    struct dirent *de;
    while ((de = readdir(dir)))
        ck_assert_msg(!strstr(de->d_name, ".tmp."), "left behind: %s",
                      de->d_name);
    closedir(dir);
    clnet_net_free(a);
    clnet_net_free(b);
    clnet_net_free(c);
    clnet_net_free(d);
    clnet_dataset_free(&ds);
}
END_TEST

typedef struct {
    double loss[64];
    int n;
} losses;

static void record(int64_t step, double loss, void *user)
{
    (void)step;
    losses *l = user;
    if (l->n < 64)
        l->loss[l->n++] = loss;
}

static void run_steps(uint64_t seed, losses *out)
{
    clnet_dataset ds;
    synthetic(&ds, 320, 7);
    clnet_net *n = build_text(NULL, seed, 32);
    clnet_train_options o = {0};
    o.epochs = 2;
    o.on_step = record;
    o.user = out;
    clnet_error e;
    ck_assert_msg(clnet_train(n, &ds, NULL, &o, &e) == 0, "%s", e.msg);
    clnet_net_free(n);
    clnet_dataset_free(&ds);
}

START_TEST(same_seed_same_losses)
{
    losses a = {0}, b = {0}, c = {0};
    run_steps(5, &a);
    run_steps(5, &b);
    run_steps(6, &c);
    ck_assert_int_eq(a.n, 20);
    ck_assert_int_eq(b.n, 20);
    for (int i = 0; i < a.n; i++)
        ck_assert_msg(a.loss[i] == b.loss[i], "step %d: %.9g vs %.9g", i + 1,
                      a.loss[i], b.loss[i]);
    ck_assert(a.loss[0] != c.loss[0]);
    /* it learns the synthetic task */
    ck_assert_double_lt(a.loss[19], a.loss[0] * 0.5);
}
END_TEST

START_TEST(train_refuses_bad_data)
{
    clnet_dataset ds;
    synthetic(&ds, 10, 3);
    clnet_net *n = build_text(small_net, 1, 8);
    clnet_error e;
    ds.labels[3] = 10;
    ck_assert_int_ne(clnet_train(n, &ds, NULL, NULL, &e), 0);
    ck_assert_int_eq(e.status, CLNET_E_DATA);
    ds.labels[3] = 3;
    ds.rows = 27;
    ck_assert_int_ne(clnet_train(n, &ds, NULL, NULL, &e), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, "27x28"));
    ds.rows = 28;
    clnet_train_options o = {0};
    o.batch = 9;
    ck_assert_int_ne(clnet_train(n, &ds, NULL, &o, &e), 0);
    clnet_net_free(n);
    clnet_dataset_free(&ds);
}
END_TEST

START_TEST(tune_records_and_build_reads_the_choice)
{
    /* a private cache; check runs each test in its own process */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/tune-cache", test_tmpdir());
    setenv("CLNET_CACHE_DIR", dir, 1);
    const char *text = "input shape=12x12x1\n"
                       "conv2d filters=8 kernel=3 activation=relu\n"
                       "maxpool2d pool=2\nflatten\n"
                       "dense units=4 activation=softmax\n";
    clnet_error e;
    clnet_topology *t = clnet_topology_parse(text, "t.net", &e);
    clnet_build_options o = {0};
    o.max_batch = 16;
    o.threads = 2;
    char *buf = NULL;
    size_t len = 0;
    FILE *report = open_memstream(&buf, &len);
    ck_assert_msg(clnet_tune(t, test_registry(), &o, 2, report, &e) == 0,
                  "%s", e.msg);
    fclose(report);
    /* in words: the layer, each implementation's time, the choice, the
     * tolerance check, where the cache went */
    const char *line1 = strstr(buf, "conv2d_1 (12x12x1 -> 10x10x8, 3x3, on "
                                    "cpu): ");
    ck_assert_msg(line1 != NULL, "no layer line in:\n%s", buf);
    const char *end1 = strchr(line1, '\n');
    ck_assert_ptr_nonnull(end1);
    char l1[1024];
    snprintf(l1, sizeof l1, "%.*s", (int)(end1 - line1), line1);
    ck_assert_msg(strstr(l1, "gemm ") && strstr(l1, "direct ") &&
                      strstr(l1, " ms, "),
                  "%s", l1);
    const char *arrow = strstr(strstr(l1, "): "), " -> ");
    ck_assert_msg(arrow != NULL, "%s", l1);
    int direct = !strncmp(arrow + 4, "direct", 6);
    ck_assert_msg(direct || !strncmp(arrow + 4, "gemm", 4), "%s", l1);
    ck_assert_msg(strstr(arrow, "within 1e-3"), "%s", l1);
    /* winograd takes channels in 16s: said so, below the line */
    ck_assert_msg(strstr(buf, "  cpu/winograd cannot run conv2d_1: "), "%s",
                  buf);
    char path[700], wrote[800];
    snprintf(path, sizeof path, "%s/tune.tsv", dir);
    snprintf(wrote, sizeof wrote, "Wrote 1 choice to %s (", path);
    ck_assert_msg(strstr(buf, wrote), "'%s' not in:\n%s", wrote, buf);
    free(buf);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    fclose(f);
    ck_assert_ptr_nonnull(strstr(line, "\tconv2d\tin=12x12x1;batch=16;"));
    /* write the other choice into the cache: the next build follows it */
    const char *other = direct ? "gemm" : "direct";
    line[strlen(line) - strlen(direct ? "direct\n" : "gemm\n")] = '\0';
    f = fopen(path, "w");
    fprintf(f, "%s%s\n", line, other);
    fclose(f);
    clnet_net *n = clnet_net_build(t, test_registry(), &o, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    char *sum = NULL;
    FILE *sf = open_memstream(&sum, &len);
    clnet_net_summary(n, sf, &e);
    fclose(sf);
    char want[64];
    snprintf(want, sizeof want, "cpu/%s", other);
    ck_assert_msg(strstr(sum, want), "the cached %s was not used:\n%s", other,
                  sum);
    free(sum);
    clnet_net_free(n);
    clnet_topology_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("network");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, checkpoint_round_trip_and_refusals);
    tcase_add_test(tc, same_seed_same_losses);
    tcase_add_test(tc, train_refuses_bad_data);
    tcase_add_test(tc, tune_records_and_build_reads_the_choice);
    suite_add_tcase(s, tc);
    return test_run(s);
}
