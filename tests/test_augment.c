/* Augmentation (train line: random_crop=, flip=, translate=) seen
 * through SGD: with one sample a batch, the first dense layer's kernel
 * moves by x (p - y), so where it moves is where the augmented image's
 * pixels are. One bright pixel must land only where the crop, the
 * translation and the flip allow, reach every such place over the epochs,
 * and land in the same place on every backend and thread count; without
 * augmentation it stays put. Over a data set of several images, the step
 * tells which image was read: OpenCL's uploaded batches follow the CPU's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

enum { S = 7, EPOCHS = 60 };

typedef struct {
    clnet_net *net;
    float before[S * S * 2];
    int where[EPOCHS];
    int n;
} trace;

static void on_step(int64_t step, double loss, void *user)
{
    (void)step;
    (void)loss;
    trace *t = user;
    float w[S * S * 2];
    clnet_error e;
    ck_assert_int_eq(clnet_net_param_get(t->net, "d/kernel", w, S * S * 2, &e),
                     0);
    int best = -1;
    float most = 0;
    for (int i = 0; i < S * S; i++) {
        float d = fabsf(w[i * 2] - t->before[i * 2]);
        if (d > most) {
            most = d;
            best = i;
        }
    }
    t->where[t->n++] = best;
    memcpy(t->before, w, sizeof w);
}

/* Where the bright pixel of each step's image went, over EPOCHS steps of
 * a data set of `samples` images (1: the pixel at row 3, column 1; more:
 * image i's at (5 i + 3) mod 49, so the step tells which image it was). */
static void run_set(const char *aug, const char *device, int threads,
                    int samples, int *where)
{
    char text[512];
    snprintf(text, sizeof text,
             "input shape=7x7x1\nflatten\ndense units=2 activation=softmax "
             "name=d\ntrain optimizer=sgd lr=1 batch=1 %s\n", aug);
    clnet_build_options o = {.device = device, .threads = threads, .seed = 9};
    clnet_error e;
    clnet_net *n = test_build(text, &o, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    uint8_t px[EPOCHS * S * S] = {0};
    int32_t labels[EPOCHS] = {0};
    for (int i = 0; i < samples; i++)
        px[i * S * S + (samples == 1 ? 3 * S + 1 : (5 * i + 3) % (S * S))] =
            255;
    clnet_dataset ds = {samples, S, S, px, labels, 1, 0, NULL};
    trace t = {.net = n};
    ck_assert_int_eq(clnet_net_param_get(n, "d/kernel", t.before, S * S * 2,
                                         &e), 0);
    clnet_train_options to = {.epochs = EPOCHS / samples, .on_step = on_step,
                              .user = &t};
    ck_assert_msg(clnet_train(n, &ds, NULL, &to, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(t.n, EPOCHS);
    memcpy(where, t.where, sizeof t.where);
    clnet_net_free(n);
}

static void run(const char *aug, const char *device, int threads, int *where)
{
    run_set(aug, device, threads, 1, where);
}

START_TEST(crop_flip_translate)
{
    int where[EPOCHS], again[EPOCHS];
    run("", "cpu", 1, where);
    for (int k = 0; k < EPOCHS; k++)
        ck_assert_int_eq(where[k], 3 * S + 1);
    /* random_crop=1: rows 2..4, columns 0..2, all nine reached */
    run("random_crop=1", "cpu", 1, where);
    int hit[S * S] = {0};
    for (int k = 0; k < EPOCHS; k++) {
        int r = where[k] / S, c = where[k] % S;
        ck_assert_msg(r >= 2 && r <= 4 && c >= 0 && c <= 2,
                      "epoch %d: the pixel at %d,%d", k + 1, r, c);
        hit[where[k]] = 1;
    }
    for (int r = 2; r <= 4; r++)
        for (int c = 0; c <= 2; c++)
            ck_assert_msg(hit[r * S + c], "never at %d,%d", r, c);
    /* flip alone: column 1 or its mirror, 5; both seen */
    run("flip=horizontal", "cpu", 1, where);
    int seen1 = 0, seen5 = 0;
    for (int k = 0; k < EPOCHS; k++) {
        ck_assert(where[k] == 3 * S + 1 || where[k] == 3 * S + 5);
        seen1 |= where[k] == 3 * S + 1;
        seen5 |= where[k] == 3 * S + 5;
    }
    ck_assert(seen1 && seen5);
    /* translate=0.15: round(0.15 x 7) = 1 pixel each way, as the crop */
    run("translate=0.15", "cpu", 1, where);
    for (int k = 0; k < EPOCHS; k++) {
        int r = where[k] / S, c = where[k] % S;
        ck_assert(r >= 2 && r <= 4 && c >= 0 && c <= 2);
    }
    /* the same draws on another thread count and on OpenCL */
    run("random_crop=1 flip=horizontal", "cpu", 1, where);
    run("random_crop=1 flip=horizontal", "cpu", 2, again);
    ck_assert_int_eq(memcmp(where, again, sizeof where), 0);
    clnet_error e;
    clnet_net *probe = test_build("input shape=2x2x1\nflatten\ndense units=2\n",
                                  &(clnet_build_options){.device = "opencl"},
                                  &e);
    if (probe) {
        clnet_net_free(probe);
        run("random_crop=1 flip=horizontal", "opencl", 1, again);
        ck_assert_int_eq(memcmp(where, again, sizeof where), 0);
    }
}
END_TEST

/* On OpenCL the loader uploads each batch into one of two device buffers
 * while the step before runs: every step must still read its own batch,
 * in the shuffled order the CPU sees, with and without augmentation. */
START_TEST(uploads_follow_the_batches)
{
    clnet_error e;
    clnet_net *probe = test_build("input shape=2x2x1\nflatten\ndense units=2\n",
                                  &(clnet_build_options){.device = "opencl"},
                                  &e);
    if (!probe) {
        fprintf(stderr, "no OpenCL device: uploads not checked\n");
        return;
    }
    clnet_net_free(probe);
    const char *augs[] = {"", "flip=horizontal"};
    for (int a = 0; a < 2; a++) {
        int where[EPOCHS], again[EPOCHS], distinct = 0;
        run_set(augs[a], "cpu", 1, 12, where);
        run_set(augs[a], "opencl", 1, 12, again);
        for (int k = 0; k < EPOCHS; k++) {
            ck_assert_msg(where[k] == again[k], "%s: step %d read the image "
                          "with the pixel at %d on opencl, %d on cpu",
                          augs[a], k + 1, again[k], where[k]);
            distinct += k == 0 || where[k] != where[k - 1];
        }
        ck_assert_int_gt(distinct, EPOCHS / 2); /* the images do change */
    }
}
END_TEST

START_TEST(bad_settings)
{
    const char *cases[][2] = {
        {"random_crop=-1", "t.net:4:19: 'random_crop' must be between"},
        {"flip=vertical", "t.net:4:12: "},
        {"translate=0.7", "t.net:4:17: 'translate' must be between 0 and 0.5"},
    };
    for (int i = 0; i < 3; i++) {
        char text[256];
        snprintf(text, sizeof text, "input shape=2x2x1\nflatten\ndense "
                 "units=2\ntrain %s\n", cases[i][0]);
        clnet_error e;
        ck_assert_ptr_null(test_build(text, NULL, &e));
        ck_assert_msg(strstr(e.msg, cases[i][1]), "%s", e.msg);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("augment");
    TCase *tc = tcase_create("augment");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, crop_flip_translate);
    tcase_add_test(tc, uploads_follow_the_batches);
    tcase_add_test(tc, bad_settings);
    suite_add_tcase(s, tc);
    return test_run(s);
}
