/* The optimizers and the loss's label smoothing on the CPU against steps
 * worked out by hand (Keras's formulas, written out below in double), the
 * learning-rate schedule's factor honoured, Keras's defaults in the
 * settings tables, and the train line's new settings reaching the plugins
 * on every device, or refused with file:line:column. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/losses/scce_settings.h"
#include "../plugins/optimizers/adam_settings.h"
#include "../plugins/optimizers/rmsprop_settings.h"
#include "../plugins/optimizers/sgd_settings.h"
#include "helpers.h"

/* An optimizer's cpu plugin created with `values`. */
static void *make(const char *kind, const clnet_value *values,
                  const clnet_plugin **p)
{
    *p = test_plugin(kind);
    clnet_create_args a = {0};
    a.settings = values;
    a.threads = 1;
    void *state;
    char err[CLNET_ERRLEN];
    ck_assert_msg((*p)->create(&a, &state, err) == 0, "%s", err);
    return state;
}

static void step(const clnet_plugin *p, void *state, uint64_t t,
                 double lr_scale, float *w, const float *g, void **slots,
                 size_t n)
{
    clnet_step st = {1, 1, 0, t, lr_scale};
    char err[CLNET_ERRLEN];
    ck_assert_msg(p->optimizer.update(state, &st, w, g, slots, n, err) == 0,
                  "%s", err);
}

static void near(double got, double want, const char *what)
{
    ck_assert_msg(fabs(got - want) <= 1e-6 + 1e-6 * fabs(want),
                  "%s: %.9g, expected %.9g", what, got, want);
}

/* The default value the kind's table gives `key`. */
static const char *default_of(const char *kind, const char *key)
{
    const clnet_plugin *p = test_plugin(kind);
    for (int i = 0; i < p->nsettings; i++)
        if (!strcmp(p->settings[i].key, key))
            return p->settings[i].default_value;
    ck_abort_msg("%s has no setting %s", kind, key);
    return NULL;
}

START_TEST(keras_defaults)
{
    const char *cases[][3] = {
        {"adamw", "lr", "0.001"},          {"adamw", "beta1", "0.9"},
        {"adamw", "beta2", "0.999"},       {"adamw", "epsilon", "1e-7"},
        {"adamw", "weight_decay", "0.004"}, {"sgd", "nesterov", "false"},
        {"sgd", "weight_decay", "0"},      {"rmsprop", "lr", "0.001"},
        {"rmsprop", "rho", "0.9"},         {"rmsprop", "momentum", "0"},
        {"rmsprop", "epsilon", "1e-7"},    {"rmsprop", "centered", "false"},
        {"sparse_categorical_crossentropy", "label_smoothing", "0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(!strcmp(default_of(cases[i][0], cases[i][1]),
                              cases[i][2]),
                      "%s %s: default %s, Keras's is %s", cases[i][0],
                      cases[i][1], default_of(cases[i][0], cases[i][1]),
                      cases[i][2]);
    /* each backend shares its kind's table */
    const char *kinds[] = {"adamw", "rmsprop", "sgd",
                           "sparse_categorical_crossentropy"};
    for (int k = 0; k < 4; k++) {
        const clnet_plugin *o =
            clnet_registry_find(test_registry(), kinds[k], "opencl");
        if (o)
            ck_assert_int_eq(o->nsettings, test_plugin(kinds[k])->nsettings);
    }
}
END_TEST

START_TEST(sgd_lr_scale_halves_the_step)
{
    clnet_value v[SGD_NSETTINGS] = {{{0}, 0.1}, {{0}, 0.9}, {{0}, 0}, {{0}, 0}};
    const clnet_plugin *p;
    void *s = make("sgd", v, &p);
    float w[1] = {1.0f}, g[1] = {2.0f}, vel[1] = {0};
    void *slots[1] = {vel};
    /* lr 0.1 * 0.5: v = -0.05 * 2 = -0.1, w = 1 - 0.1 */
    step(p, s, 1, 0.5, w, g, slots, 1);
    near(vel[0], -0.1, "velocity");
    near(w[0], 0.9, "w after a halved step");
    /* full rate again: v = 0.9 * -0.1 - 0.1 * 2 = -0.29 */
    step(p, s, 2, 1.0, w, g, slots, 1);
    near(vel[0], -0.29, "velocity");
    near(w[0], 0.61, "w");
    p->destroy(s);
}
END_TEST

START_TEST(sgd_defaults_are_the_momentum_step)
{
    /* numbers whose every product and sum is exact, so the default
     * settings must give the plain momentum step to the bit:
     * v = 0.5 * 0 - 0.5 * 2 = -1, w = 4 - 1 = 3;
     * v = 0.5 * -1 - 1 = -1.5, w = 3 - 1.5 = 1.5 */
    clnet_value v[SGD_NSETTINGS] = {{{0}, 0.5}, {{0}, 0.5}, {{0}, 0}, {{0}, 0}};
    const clnet_plugin *p;
    void *s = make("sgd", v, &p);
    float w[1] = {4.0f}, g[1] = {2.0f}, vel[1] = {0};
    void *slots[1] = {vel};
    step(p, s, 1, 1.0, w, g, slots, 1);
    ck_assert_float_eq(vel[0], -1.0f);
    ck_assert_float_eq(w[0], 3.0f);
    step(p, s, 2, 1.0, w, g, slots, 1);
    ck_assert_float_eq(vel[0], -1.5f);
    ck_assert_float_eq(w[0], 1.5f);
    p->destroy(s);
}
END_TEST

START_TEST(sgd_nesterov_by_hand)
{
    clnet_value v[SGD_NSETTINGS] = {{{0}, 0.1}, {{0}, 0.9}, {{1}, 0}, {{0}, 0}};
    const clnet_plugin *p;
    void *s = make("sgd", v, &p);
    float w[1] = {1.0f}, g[1] = {2.0f}, vel[1] = {0};
    void *slots[1] = {vel};
    /* Keras: v = mu v - lr g; w += mu v - lr g with the new v.
     * step 1: v = -0.2; w = 1 + 0.9 * -0.2 - 0.2 = 0.62 */
    step(p, s, 1, 1.0, w, g, slots, 1);
    near(vel[0], -0.2, "velocity");
    near(w[0], 1 + 0.9 * -0.2 - 0.2, "w after step 1");
    /* step 2: v = 0.9 * -0.2 - 0.2 = -0.38; w = 0.62 + 0.9 * -0.38 - 0.2 */
    step(p, s, 2, 1.0, w, g, slots, 1);
    near(vel[0], -0.38, "velocity");
    near(w[0], 0.62 + 0.9 * -0.38 - 0.2, "w after step 2");
    p->destroy(s);
}
END_TEST

START_TEST(sgd_weight_decay_by_hand)
{
    /* momentum 0: w -= lr wd w, then w -= lr g */
    clnet_value v[SGD_NSETTINGS] = {{{0}, 0.1}, {{0}, 0}, {{0}, 0}, {{0}, 0.5}};
    const clnet_plugin *p;
    void *s = make("sgd", v, &p);
    float w[1] = {1.0f}, g[1] = {2.0f}, vel[1] = {0};
    void *slots[1] = {vel};
    /* step 1: w = 1 - 0.1 * 0.5 * 1 = 0.95; w = 0.95 - 0.1 * 2 = 0.75 */
    step(p, s, 1, 1.0, w, g, slots, 1);
    near(w[0], 0.75, "w after step 1");
    /* step 2 at half the rate, which the decay follows:
     * w = 0.75 - 0.05 * 0.5 * 0.75 = 0.73125; w = 0.73125 - 0.05 * 2 */
    step(p, s, 2, 0.5, w, g, slots, 1);
    near(w[0], 0.73125 - 0.1, "w after step 2");
    p->destroy(s);
    /* with momentum 0.9 the decay still comes first:
     * step 1: w = 0.95; v = -0.2; w = 0.75
     * step 2: w = 0.75 - 0.05 * 0.75 = 0.7125; v = 0.9 * -0.2 - 0.2 = -0.38;
     * w = 0.7125 - 0.38 */
    v[SGD_MOMENTUM].f = 0.9;
    s = make("sgd", v, &p);
    w[0] = 1.0f;
    vel[0] = 0;
    step(p, s, 1, 1.0, w, g, slots, 1);
    near(w[0], 0.75, "w after step 1 with momentum");
    step(p, s, 2, 1.0, w, g, slots, 1);
    near(w[0], 0.7125 - 0.38, "w after step 2 with momentum");
    p->destroy(s);
}
END_TEST

START_TEST(adamw_by_hand)
{
    clnet_value v[ADAMW_NSETTINGS] = {{{0}, 0.1}, {{0}, 0.9}, {{0}, 0.999},
                                      {{0}, 1e-7}, {{0}, 0.1}};
    const clnet_plugin *p;
    void *s = make("adamw", v, &p);
    float w[2] = {1.0f, -2.0f}, g[2] = {0.5f, -0.1f}, m[2] = {0}, vv[2] = {0};
    void *slots[2] = {m, vv};
    step(p, s, 1, 1.0, w, g, slots, 2);
    /* step 1: decay w -= 0.1 * 0.1 * w: 0.99 and -1.98; then Adam:
     * m = 0.1 g, v = 0.001 g^2, alpha = 0.1 sqrt(1 - 0.999) / (1 - 0.9) */
    double alpha = 0.1 * sqrt(1 - 0.999) / (1 - 0.9);
    double w0 = 0.99 - alpha * 0.05 / (sqrt(0.001 * 0.25) + 1e-7);
    double w1 = -1.98 - alpha * -0.01 / (sqrt(0.001 * 0.01) + 1e-7);
    near(m[0], 0.05, "m");
    near(vv[0], 0.00025, "v");
    near(w[0], w0, "w[0] after step 1");
    near(w[1], w1, "w[1] after step 1");
    /* step 2 at lr_scale 0.5, g again: lr 0.05 for the decay and alpha;
     * m = 0.9 * 0.05 + 0.1 * 0.5, v = 0.999 * 0.00025 + 0.001 * 0.25 */
    step(p, s, 2, 0.5, w, g, slots, 2);
    w0 -= 0.05 * 0.1 * w0;
    double m2 = 0.9 * 0.05 + 0.1 * 0.5, v2 = 0.999 * 0.00025 + 0.001 * 0.25;
    alpha = 0.05 * sqrt(1 - 0.999 * 0.999) / (1 - 0.9 * 0.9);
    w0 -= alpha * m2 / (sqrt(v2) + 1e-7);
    near(m[0], m2, "m after step 2");
    near(w[0], w0, "w[0] after step 2");
    p->destroy(s);
    /* weight_decay 0 is adam */
    v[ADAMW_WEIGHT_DECAY].f = 0;
    s = make("adamw", v, &p);
    const clnet_plugin *pa;
    void *sa = make("adam", v, &pa);
    float wa[2] = {1.0f, -2.0f}, ma[2] = {0}, va[2] = {0};
    void *slots_a[2] = {ma, va};
    w[0] = 1.0f, w[1] = -2.0f, m[0] = m[1] = vv[0] = vv[1] = 0;
    for (uint64_t t = 1; t <= 3; t++) {
        step(p, s, t, 1.0, w, g, slots, 2);
        step(pa, sa, t, 1.0, wa, g, slots_a, 2);
    }
    ck_assert(!memcmp(w, wa, sizeof w));
    p->destroy(s);
    pa->destroy(sa);
}
END_TEST

START_TEST(rmsprop_by_hand)
{
    /* epsilon 0.01, large enough to tell Keras's sqrt(v + epsilon) from
     * sqrt(v) + epsilon */
    clnet_value v[RMSPROP_NSETTINGS] = {{{0}, 0.01}, {{0}, 0.9}, {{0}, 0},
                                        {{0}, 0.01}, {{0}, 0}};
    const clnet_plugin *p;
    void *s = make("rmsprop", v, &p);
    ck_assert_int_eq(p->optimizer.nslots, 3);
    float w[1] = {1.0f}, g[1] = {0.5f}, vel[1] = {0}, mom[1] = {0},
          avg[1] = {0};
    void *slots[3] = {vel, mom, avg};
    /* step 1: v = 0.1 * 0.25 = 0.025; w -= 0.01 * 0.5 / sqrt(0.025 + 0.01) */
    step(p, s, 1, 1.0, w, g, slots, 1);
    double wh = 1 - 0.005 / sqrt(0.025 + 0.01);
    near(vel[0], 0.025, "velocity after step 1");
    near(w[0], wh, "w after step 1");
    /* step 2: v = 0.9 * 0.025 + 0.025 = 0.0475 */
    step(p, s, 2, 1.0, w, g, slots, 1);
    wh -= 0.005 / sqrt(0.0475 + 0.01);
    near(vel[0], 0.0475, "velocity after step 2");
    near(w[0], wh, "w after step 2");
    /* step 3 at lr_scale 0.5: v = 0.9 * 0.0475 + 0.025 = 0.06775 */
    step(p, s, 3, 0.5, w, g, slots, 1);
    wh -= 0.0025 / sqrt(0.06775 + 0.01);
    near(w[0], wh, "w after step 3");
    /* momentum 0 and centered=false leave their slots alone */
    ck_assert_float_eq(mom[0], 0);
    ck_assert_float_eq(avg[0], 0);
    p->destroy(s);
}
END_TEST

START_TEST(rmsprop_centered_momentum_by_hand)
{
    clnet_value v[RMSPROP_NSETTINGS] = {{{0}, 0.01}, {{0}, 0.9}, {{0}, 0.5},
                                        {{0}, 1e-7}, {{1}, 0}};
    const clnet_plugin *p;
    void *s = make("rmsprop", v, &p);
    float w[1] = {1.0f}, g[1] = {0.5f}, vel[1] = {0}, mom[1] = {0},
          avg[1] = {0};
    void *slots[3] = {vel, mom, avg};
    /* step 1: v = 0.025; a = 0.1 * 0.5 = 0.05;
     * inc = 0.01 * 0.5 / sqrt(0.025 - 0.05^2 + 1e-7); m = inc; w -= m */
    step(p, s, 1, 1.0, w, g, slots, 1);
    double m1 = 0.005 / sqrt(0.025 - 0.0025 + 1e-7), wh = 1 - m1;
    near(avg[0], 0.05, "average gradient after step 1");
    near(mom[0], m1, "momentum after step 1");
    near(w[0], wh, "w after step 1");
    /* step 2, g = -0.5: v = 0.9 * 0.025 + 0.1 * 0.25 = 0.0475;
     * a = 0.9 * 0.05 - 0.1 * 0.5 = -0.005;
     * inc = 0.01 * -0.5 / sqrt(0.0475 - 0.005^2 + 1e-7); m = 0.5 m1 + inc */
    g[0] = -0.5f;
    step(p, s, 2, 1.0, w, g, slots, 1);
    double m2 = 0.5 * m1 - 0.005 / sqrt(0.0475 - 0.000025 + 1e-7);
    wh -= m2;
    near(vel[0], 0.0475, "velocity after step 2");
    near(avg[0], -0.005, "average gradient after step 2");
    near(mom[0], m2, "momentum after step 2");
    near(w[0], wh, "w after step 2");
    p->destroy(s);
}
END_TEST

START_TEST(label_smoothing_by_hand)
{
    const clnet_plugin *p = test_plugin("sparse_categorical_crossentropy");
    clnet_value v[SCCE_NSETTINGS] = {{{0}, 0.3}};
    clnet_create_args a = {0};
    a.settings = v;
    void *state;
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(p->create(&a, &state, err), 0);
    float pred[6] = {0.2f, 0.5f, 0.3f, 0.7f, 0.2f, 0.1f};
    int32_t labels[2] = {1, 2};
    float d[6];
    double loss = 0;
    int64_t correct = 0;
    clnet_step st = {2, 1, 0, 1, 1.0};
    ck_assert_int_eq(p->loss.compute(state, &st, pred, labels, 3, 0, d, &loss,
                                     &correct, err),
                     0);
    /* ls 0.3 over 3 classes: targets 0.1 everywhere, 0.1 + 0.7 at the
     * label: (0.1, 0.8, 0.1) and (0.1, 0.1, 0.8) */
    double want = -(0.1 * log(0.2) + 0.8 * log(0.5) + 0.1 * log(0.3)) -
                  (0.1 * log(0.7) + 0.1 * log(0.2) + 0.8 * log(0.1));
    near(loss, want, "smoothed loss");
    ck_assert_int_eq(correct, 1);
    /* d(mean loss)/dp = -t / (n p) */
    const double dp[6] = {-0.1 / (2 * 0.2), -0.8 / (2 * 0.5), -0.1 / (2 * 0.3),
                          -0.1 / (2 * 0.7), -0.1 / (2 * 0.2), -0.8 / (2 * 0.1)};
    for (int i = 0; i < 6; i++)
        near(d[i], dp[i], "gradient by the probabilities");
    /* fused with the softmax: (p - t) / n */
    loss = 0;
    ck_assert_int_eq(p->loss.compute(state, &st, pred, labels, 3, 1, d, &loss,
                                     &correct, err),
                     0);
    near(loss, want, "smoothed loss, fused");
    const double dz[6] = {(0.2 - 0.1) / 2, (0.5 - 0.8) / 2, (0.3 - 0.1) / 2,
                          (0.7 - 0.1) / 2, (0.2 - 0.1) / 2, (0.1 - 0.8) / 2};
    for (int i = 0; i < 6; i++)
        near(d[i], dz[i], "gradient by the logits");
    /* a clipped probability still adds t * -log(1e-7) and gets no
     * gradient: p = (0, 1, 0), label 1, clipped to 1e-7 and 1 - 1e-7 */
    float sure[3] = {0.0f, 1.0f, 0.0f};
    st.batch = 1;
    loss = 0;
    ck_assert_int_eq(p->loss.compute(state, &st, sure, labels, 3, 0, d, &loss,
                                     &correct, err),
                     0);
    near(loss, -(0.2 * log(1e-7) + 0.8 * log(1 - 1e-7)), "clipped loss");
    for (int i = 0; i < 3; i++)
        ck_assert_float_eq(d[i], 0.0f);
    p->destroy(state);
}
END_TEST

/* input 1x1x1 -> dense d (1 -> 2, softmax): one step on one black pixel
 * of class 0 with kernel 1 and bias 0, on `device`; d/kernel and d/bias
 * after it. The pixel is 0, so the kernel's gradient is 0 and only weight
 * decay moves it; the logits' gradient is p - target = (0.5, 0.5) - t. */
static int one_step(const char *train, const char *device, float *kernel,
                    float *bias)
{
    char text[256];
    snprintf(text, sizeof text, "input shape=1x1x1\nflatten\ndense units=2 "
                                "activation=softmax name=d\n%s batch=1\n",
             train);
    clnet_build_options bo = {.device = device, .max_batch = 1};
    clnet_error e;
    clnet_net *n = test_build(text, &bo, &e);
    if (!n && strcmp(device, "cpu")) /* no OpenCL device here */
        return 0;
    ck_assert_msg(n != NULL, "%s: %s", train, e.msg);
    float k[2] = {1, 1}, b[2] = {0, 0};
    ck_assert_int_eq(clnet_net_param_set(n, "d/kernel", k, 2, &e), 0);
    ck_assert_int_eq(clnet_net_param_set(n, "d/bias", b, 2, &e), 0);
    uint8_t pixel = 0;
    int32_t label = 0;
    double loss;
    ck_assert_msg(clnet_net_train_batch(n, &pixel, &label, 1, &loss, NULL,
                                        &e) == 0, "%s", e.msg);
    /* the logits are equal, so smoothing leaves the loss at ln 2 */
    near(loss, log(2.0), "loss");
    ck_assert_int_eq(clnet_net_param_get(n, "d/kernel", kernel, 2, &e), 0);
    ck_assert_int_eq(clnet_net_param_get(n, "d/bias", bias, 2, &e), 0);
    clnet_net_free(n);
    return 1;
}

START_TEST(train_line_settings_reach_the_plugins)
{
    const char *devices[] = {"cpu", "opencl"};
    for (int d = 0; d < 2; d++) {
        float k[2], b[2];
        /* adamw: w = 1 - 0.001 * 0.01 * 1, and Adam's step on a zero
         * gradient is 0 */
        if (!one_step("train optimizer=adamw weight_decay=0.01", devices[d],
                      k, b))
            continue;
        near(k[0], 1 - 0.001 * 0.01, "adamw's decayed kernel");
        near(k[1], 1 - 0.001 * 0.01, "adamw's decayed kernel");
        /* label_smoothing=0.1: target (0.95, 0.05), so with sgd lr=1 the
         * bias moves by -(0.5 - 0.95) and -(0.5 - 0.05) */
        one_step("train optimizer=sgd lr=1 label_smoothing=0.1", devices[d],
                 k, b);
        near(b[0], 0.45, "bias after a smoothed step");
        near(b[1], -0.45, "bias after a smoothed step");
        near(k[0], 1, "sgd's kernel without decay");
        one_step("train optimizer=sgd lr=1", devices[d], k, b);
        near(b[0], 0.5, "bias after a one-hot step");
        /* sgd weight_decay=0.5 lr=0.1: w = 1 - 0.05 */
        one_step("train optimizer=sgd lr=0.1 weight_decay=0.5 nesterov=true "
                 "momentum=0.9", devices[d], k, b);
        near(k[0], 0.95, "sgd's decayed kernel");
        /* nesterov: v = -0.1 * 0.5, b = 0 + 0.9 v - 0.1 * 0.5 */
        near(b[1], 0.9 * -0.05 - 0.05, "nesterov bias");
        /* rmsprop on the bias: g = -0.5 for class 0; v = 0.1 * 0.25,
         * b = 0 + 0.001 * 0.5 / sqrt(0.025 + 1e-7) */
        one_step("train optimizer=rmsprop", devices[d], k, b);
        near(b[0], 0.0005 / sqrt(0.025 + 1e-7), "rmsprop bias");
    }
}
END_TEST

START_TEST(bad_settings_located)
{
    const char *cases[][3] = {
        {"train optimizer=rmsprop rho=2\n", "t.net:4:29: ",
         "'rho' must be between 0 and"},
        {"train optimizer=rmsprop centered=yes\n", "t.net:4:34: ",
         "not one of false|true"},
        {"train optimizer=sgd nesterov=1\n", "t.net:4:30: ",
         "not one of false|true"},
        {"train optimizer=adamw weight_decay=-1\n", "t.net:4:36: ",
         "'weight_decay' must be between 0 and 1"},
        {"train label_smoothing=1.5\n", "t.net:4:23: ",
         "'label_smoothing' must be between 0 and 1"},
        {"train optimizer=sgd rho=0.9\n", "t.net:4:21: ",
         "unknown setting 'rho'"},
        /* the loss's keys are among those an unknown one is offered */
        {"train label_smothing=0.1\n", "t.net:4:7: ",
         "did you mean 'label_smoothing'?"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "input shape=2x2x1\nflatten\ndense "
                                    "units=2\n%s", cases[i][0]);
        clnet_error e;
        ck_assert_ptr_null(test_build(text, NULL, &e));
        for (int k = 1; k < 3; k++)
            ck_assert_msg(strstr(e.msg, cases[i][k]), "%s: '%s' not in %s",
                          cases[i][0], cases[i][k], e.msg);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optimizers");
    TCase *tc = tcase_create("cpu");
    tcase_add_test(tc, keras_defaults);
    tcase_add_test(tc, sgd_lr_scale_halves_the_step);
    tcase_add_test(tc, sgd_defaults_are_the_momentum_step);
    tcase_add_test(tc, sgd_nesterov_by_hand);
    tcase_add_test(tc, sgd_weight_decay_by_hand);
    tcase_add_test(tc, adamw_by_hand);
    tcase_add_test(tc, rmsprop_by_hand);
    tcase_add_test(tc, rmsprop_centered_momentum_by_hand);
    tcase_add_test(tc, label_smoothing_by_hand);
    tcase_add_test(tc, train_line_settings_reach_the_plugins);
    tcase_add_test(tc, bad_settings_located);
    suite_add_tcase(s, tc);
    return test_run(s);
}
