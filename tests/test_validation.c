/* Validation split and early stopping: the last fraction of the training
 * set validates (val_loss equals an evaluation of exactly those samples),
 * the test set is evaluated once at the end, bad fractions are refused,
 * and patience stops training and brings back the best epoch's weights
 * (Keras's EarlyStopping with restore_best_weights). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

enum { N = 60, SIDE = 4 };

static const char *const text =
    "input shape=4x4x1\nflatten\ndense units=2 activation=softmax name=d\n"
    "train optimizer=sgd lr=0.5 batch=10\n";

/* Class i % 2 is bright in the top or the bottom half; from sample
 * `flip` on, the labels are the other way round, so learning the first
 * part makes the loss on the rest grow. */
static void data(clnet_dataset *ds, uint8_t *px, int32_t *labels, int flip)
{
    for (int i = 0; i < N; i++) {
        int c = i % 2;
        for (int p = 0; p < SIDE * SIDE; p++)
            px[i * 16 + p] = (uint8_t)(((p < 8) == c ? 200 : 20) + i % 7);
        labels[i] = i >= flip ? 1 - c : c;
    }
    *ds = (clnet_dataset){N, SIDE, SIDE, px, labels, 1, 0, NULL};
}

typedef struct {
    clnet_net *net;
    double val_loss[32];
    int epochs, tests, early, best_epoch;
    float w[32][32];
} seen;

static void on_epoch(const clnet_epoch_stats *s, void *user)
{
    seen *t = user;
    clnet_error e;
    t->val_loss[t->epochs] = s->val_loss;
    ck_assert_int_eq(clnet_net_param_get(t->net, "d/kernel", t->w[t->epochs],
                                         32, &e), 0);
    t->epochs++;
    t->early = s->early_stop;
    t->best_epoch = s->best_epoch;
}

static void on_test(double loss, double acc, void *user)
{
    (void)loss;
    (void)acc;
    ((seen *)user)->tests++;
}

START_TEST(split_validates_on_the_held_out_end)
{
    uint8_t px[N * 16];
    int32_t labels[N];
    clnet_dataset ds;
    data(&ds, px, labels, N);
    clnet_error e;
    clnet_net *n = test_build(text, NULL, &e);
    seen t = {.net = n};
    clnet_train_options o = {.epochs = 3, .val_split = 0.25, .on_epoch = on_epoch,
                             .on_test = on_test, .user = &t};
    ck_assert_msg(clnet_train(n, &ds, &ds, &o, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(t.epochs, 3);
    ck_assert_int_eq(t.tests, 1);
    /* the last 15 samples, evaluated with the final weights */
    clnet_dataset held = ds;
    held.count = 15;
    held.pixels = px + 45 * 16;
    held.labels = labels + 45;
    clnet_eval_result r = {0};
    ck_assert_int_eq(clnet_evaluate(n, &held, &r, &e), 0);
    free(r.confusion);
    ck_assert_double_eq_tol(t.val_loss[2], r.loss, 1e-12);
    /* fractions outside (0, 1), or leaving no image on either side */
    const double bad[] = {-0.1, 1.0, 1.5, 0.999};
    const char *why[] = {"between 0 and 1", "between 0 and 1",
                         "between 0 and 1", "none to train on"};
    for (int k = 0; k < 4; k++) {
        o.val_split = bad[k];
        ck_assert_int_eq(clnet_train(n, &ds, NULL, &o, &e), CLNET_E_ARG);
        ck_assert_msg(strstr(e.msg, why[k]), "%g: %s", bad[k], e.msg);
    }
    clnet_net_free(n);
}
END_TEST

START_TEST(patience_restores_the_best_weights)
{
    uint8_t px[N * 16];
    int32_t labels[N];
    clnet_dataset ds;
    /* the held-out third has the labels reversed: val_loss is lowest
     * early and rises as the first two thirds are learnt */
    data(&ds, px, labels, 40);
    clnet_error e;
    clnet_net *n = test_build(text, NULL, &e);
    seen t = {.net = n};
    clnet_train_options o = {.epochs = 20, .val_split = 1.0 / 3,
                             .patience = 2, .on_epoch = on_epoch, .user = &t};
    ck_assert_msg(clnet_train(n, &ds, NULL, &o, &e) == 0, "%s", e.msg);
    ck_assert_msg(t.early, "no early stop in %d epochs", t.epochs);
    ck_assert_int_eq(t.epochs, t.best_epoch + 2);
    for (int k = 0; k < t.epochs; k++)
        ck_assert(t.val_loss[t.best_epoch - 1] <= t.val_loss[k]);
    float now[32];
    ck_assert_int_eq(clnet_net_param_get(n, "d/kernel", now, 32, &e), 0);
    ck_assert_msg(!memcmp(now, t.w[t.best_epoch - 1], sizeof now),
                  "the weights are not epoch %d's", t.best_epoch);
    /* (on_epoch saw the last epoch after the restore) the epoch after the
     * best one had moved them */
    ck_assert(memcmp(now, t.w[t.best_epoch], sizeof now));
    clnet_net_free(n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("validation");
    TCase *tc = tcase_create("validation");
    tcase_add_test(tc, split_validates_on_the_held_out_end);
    tcase_add_test(tc, patience_restores_the_best_weights);
    suite_add_tcase(s, tc);
    return test_run(s);
}
