/* `clnet check`: every layer implementation (each parameter set), every
 * optimizer and the loss a device's backend has, run over a table of
 * shapes (small odd ones, and the seed model's) against the native CPU.
 * Each case is a small network with the implementation under test as one
 * layer between native-CPU layers: a trainable layer before it (so its
 * input gradient is used) and a dense head after it. Two training steps
 * on both networks, from the same seed and data; then the layer's output,
 * its parameters (moved by its gradients and the device's optimizer) and
 * the layer before it (moved by the input gradient) are compared with
 * the reference's. The worst relative error per implementation is what
 * the table shows. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"

#define CHECK_BATCH 4
#define CHECK_STEPS 2

/* One shape to run a kind at: the input, the settings of its line, and
 * whether it is one of the small shapes (oclgrind runs those only). */
typedef struct {
    const char *kind;
    int h, w, c;
    const char *settings;
    int small;
} check_case;

static const check_case cases[] = {
    {"conv2d", 6, 7, 3, "filters=5 kernel=3 padding=same", 1},
    {"conv2d", 9, 8, 2, "filters=7 kernel=3 strides=2", 1},
    {"conv2d", 10, 10, 16, "filters=16 kernel=3", 1},
    {"conv2d", 5, 4, 19, "filters=5 kernel=1", 1},
    {"conv2d", 28, 28, 1, "filters=64 kernel=3", 0},   /* the seed model's */
    {"conv2d", 13, 13, 64, "filters=128 kernel=3", 0}, /* its second */
    {"depthwise_conv2d", 7, 6, 5, "kernel=3 padding=same", 1},
    {"depthwise_conv2d", 9, 9, 4, "kernel=3 strides=2 depth_multiplier=2", 1},
    {"dense", 1, 1, 45, "units=19", 1},
    {"dense", 2, 3, 7, "units=13 activation=relu", 1},
    {"dense", 1, 1, 3200, "units=64", 0},
    {"maxpool2d", 7, 6, 5, "pool=2", 1},
    {"maxpool2d", 8, 5, 7, "pool=3 strides=2 padding=same", 1},
    {"maxpool2d", 26, 26, 64, "pool=2", 0},
    {"avgpool2d", 7, 5, 3, "pool=3 strides=2 padding=same", 1},
    {"global_avgpool2d", 5, 3, 17, "", 1},
    {"global_maxpool2d", 5, 3, 17, "", 1},
    {"batchnorm", 5, 3, 7, "", 1},
    {"relu", 3, 5, 7, "", 1},
    {"sigmoid", 3, 2, 5, "", 1},
    {"tanh", 3, 2, 5, "", 1},
    {"leaky_relu", 3, 2, 5, "", 1},
    {"elu", 3, 2, 5, "", 1},
    {"gelu", 3, 2, 5, "", 1},
    {"swish", 3, 2, 5, "", 1},
    {"dropout", 1, 1, 33, "rate=0.5", 1},
    {"add", 4, 3, 5, "", 1},
    {"concat", 4, 3, 5, "", 1},
    {"softmax", 1, 1, 11, "", 1},
    {"input", 5, 7, 3, "", 1},
};

static void append(char *buf, size_t len, const char *fmt, const char *a,
                   const char *b)
{
    size_t used = strlen(buf);
    if (used < len)
        snprintf(buf + used, len - used, fmt, a, b);
}

/* The case's network, the layer under test named t on `where`, the rest
 * on the native CPU; the optimizer `opt`. */
static void case_text(const check_case *k, const char *where, const char *opt,
                      char *buf, size_t len)
{
    char in[96], test[256];
    snprintf(in, sizeof in, "input shape=%dx%dx%d backend=%s\n", k->h, k->w,
             k->c, strcmp(k->kind, "input") ? "cpu" : where);
    snprintf(buf, len, "%s", in);
    if (!strcmp(k->kind, "input")) {
        append(buf, len, "%s%s", "conv2d filters=2 kernel=1 name=t2 ",
               "backend=cpu\n");
    } else if (!strcmp(k->kind, "softmax")) {
        append(buf, len, "%s%s", "flatten backend=cpu\n",
               "dense units=5 name=pre backend=cpu\n");
        snprintf(test, sizeof test, "softmax name=t backend=%s\n", where);
        append(buf, len, "%s%s", test, "");
        goto train;
    } else {
        /* a trainable layer before it: its weights take the input
         * gradient the layer under test computes */
        char pre[96];
        snprintf(pre, sizeof pre, "conv2d filters=%d kernel=1 name=pre "
                 "backend=cpu\n", k->c);
        append(buf, len, "%s%s", pre, "");
        if (!strcmp(k->kind, "add") || !strcmp(k->kind, "concat")) {
            snprintf(pre, sizeof pre, "conv2d filters=%d kernel=1 name=pre2 "
                     "backend=cpu\n", k->c);
            append(buf, len, "%s%s", pre, "");
            snprintf(test, sizeof test, "%s inputs=pre,pre2 name=t "
                     "backend=%s\n", k->kind, where);
        } else {
            snprintf(test, sizeof test, "%s %s name=t backend=%s\n", k->kind,
                     k->settings, where);
        }
        append(buf, len, "%s%s", test, "");
    }
    append(buf, len, "%s%s", "flatten backend=cpu\n",
           "dense units=3 name=head backend=cpu\nsoftmax backend=cpu\n");
train:;
    char line[128];
    snprintf(line, sizeof line, "train optimizer=%s lr=0.05 batch=%d\n", opt,
             CHECK_BATCH);
    append(buf, len, "%s%s", line, "");
}

/* max |a - b| / max(max |b|, 1e-3): the error of a against the reference
 * b, relative to b's scale, with a floor: a tensor that should stay at
 * zero (a bias before a batchnorm, whose gradient is 0 up to rounding)
 * is judged by its absolute error, not by noise over noise. A non-finite
 * a is an infinite error. */
static double relative_error(const float *a, const float *b, size_t n)
{
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]))
            return INFINITY;
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return diff / fmax(scale, 1e-3);
}

/* The error of tensor `name` of n against ref; 0 when neither has it. */
static double tensor_error(clnet_net *n, clnet_net *ref, const char *name,
                           clnet_error *err)
{
    int64_t count = clnet_net_param_size(ref, name);
    if (count <= 0)
        return 0;
    float *a = malloc(sizeof *a * (size_t)count);
    float *b = malloc(sizeof *b * (size_t)count);
    double e = INFINITY;
    if (a && b && !clnet_net_param_get(n, name, a, (size_t)count, err) &&
        !clnet_net_param_get(ref, name, b, (size_t)count, err))
        e = relative_error(a, b, (size_t)count);
    free(a);
    free(b);
    return e;
}

/* Runs one case: the worst relative error, or -1 when the case cannot be
 * built (the implementation does not take this shape: not counted), or
 * INFINITY when the device failed. */
static double run_case(const clnet_registry *r, const char *text,
                       const char *ref_text, const char *layer, char *why,
                       size_t whylen)
{
    clnet_error e;
    clnet_topology *t = clnet_topology_parse(text, "check.net", &e);
    if (!t) {
        snprintf(why, whylen, "%s", e.msg);
        return INFINITY;
    }
    clnet_build_options o = {.seed = 7, .threads = 1, .keep_outputs = 1,
                             .no_fusion = 1, .strict = 1};
    clnet_net *n = clnet_net_build(t, r, &o, &e);
    clnet_topology_free(t);
    if (!n) {
        snprintf(why, whylen, "%s", e.msg);
        return e.status == CLNET_E_SHAPE ? -1 : INFINITY;
    }
    /* the reference: the same network with every layer on the native CPU,
     * its default choice */
    clnet_topology *rt = clnet_topology_parse(ref_text, "check.net", &e);
    clnet_net *ref = rt ? clnet_net_build(rt, r, &o, &e) : NULL;
    clnet_topology_free(rt);
    double worst = INFINITY;
    if (!ref) {
        snprintf(why, whylen, "the native CPU reference: %.460s", e.msg);
        clnet_net_free(n);
        return INFINITY;
    }
    int32_t in = clnet_net_input_size(n);
    uint8_t *px = malloc((size_t)in * CHECK_BATCH);
    int32_t labels[CHECK_BATCH];
    clnet_shape s;
    clnet_net_layer_shape(ref, layer, &s, NULL);
    size_t out_n = (size_t)s.h * s.w * s.c * CHECK_BATCH;
    float *ya = malloc(sizeof *ya * out_n), *yb = malloc(sizeof *yb * out_n);
    if (!px || !ya || !yb) {
        snprintf(why, whylen, "out of memory");
        goto done;
    }
    worst = 0;
    for (int step = 0; step < CHECK_STEPS && isfinite(worst); step++) {
        for (int32_t i = 0; i < in * CHECK_BATCH; i++)
            px[i] = (uint8_t)((i * 37 + step * 101 + (i / 7) * 13) % 251);
        for (int i = 0; i < CHECK_BATCH; i++)
            labels[i] = (i + step) % 3;
        double la = 0, lb = 0;
        if (clnet_net_train_batch(n, px, labels, CHECK_BATCH, &la, NULL, &e)) {
            snprintf(why, whylen, "%s", e.msg);
            worst = INFINITY;
            break;
        }
        if (clnet_net_train_batch(ref, px, labels, CHECK_BATCH, &lb, NULL,
                                  &e)) {
            snprintf(why, whylen, "the native CPU reference: %.460s", e.msg);
            worst = INFINITY;
            break;
        }
        worst = fmax(worst, isfinite(la) ? fabs(la - lb) / (fabs(lb) + 1e-6)
                                         : INFINITY);

    }
    if (isfinite(worst)) {
        /* forward: the layer's output in inference on the last batch */
        if (clnet_net_layer_output(n, layer, px, CHECK_BATCH, ya, out_n, &e) ||
            clnet_net_layer_output(ref, layer, px, CHECK_BATCH, yb, out_n,
                                   &e)) {
            snprintf(why, whylen, "%s", e.msg);
            worst = INFINITY;
        } else {
            worst = fmax(worst, relative_error(ya, yb, out_n));
        }
    }
    /* backward and the update: every tensor the layers hold */
    static const char *const tensors[] = {
        "t/kernel", "t/bias", "t/gamma", "t/beta", "t/moving_mean",
        "t/moving_variance", "t/depthwise_kernel", "pre/kernel", "pre/bias",
        "pre2/kernel", "head/kernel", "t2/kernel", NULL};
    for (int k = 0; tensors[k] && isfinite(worst); k++)
        worst = fmax(worst, tensor_error(n, ref, tensors[k], &e));
done:
    free(px);
    free(ya);
    free(yb);
    clnet_net_free(n);
    clnet_net_free(ref);
    return worst;
}

static int add_entry(clnet_check_result *res, const char *name,
                     clnet_error *err)
{
    for (int i = 0; i < res->nentries; i++)
        if (!strcmp(res->entries[i].impl, name))
            return i;
    clnet_check_entry *g =
        realloc(res->entries, sizeof *g * (size_t)(res->nentries + 1));
    if (!g)
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory"), -1;
    res->entries = g;
    clnet_check_entry *x = &res->entries[res->nentries];
    memset(x, 0, sizeof *x);
    snprintf(x->impl, sizeof x->impl, "%s", name);
    return res->nentries++;
}

static void record(clnet_check_result *res, int i, double e, const char *what,
                   const char *why)
{
    clnet_check_entry *x = &res->entries[i];
    x->cases++;
    int bad = !(e <= res->tolerance);
    x->failed += bad;
    if (!(e <= x->worst) || x->cases == 1) {
        x->worst = e;
        snprintf(x->worst_case, sizeof x->worst_case, "%s%s%s", what,
                 bad && why[0] ? ": " : "", bad ? why : "");
    }
}

int clnet_check(const clnet_registry *r, const char *device, int small_only,
                FILE *progress, clnet_check_result *res, clnet_error *err)
{
    clnet_error_clear(err);
    if (!r || !res)
        return clnet_fail(err, CLNET_E_ARG, "clnet_check: NULL argument");
    memset(res, 0, sizeof *res);
    res->tolerance = 1e-3;
    char backend[32];
    int32_t index;
    if (clnet_parse_device(r, device ? device : "cpu", backend,
                           sizeof backend, &index, err))
        return err ? err->status : CLNET_E_ARG;
    clnet_device_info d[64];
    int nd = clnet_devices(r, backend, d, 64, err);
    if (nd < 0)
        return err ? err->status : CLNET_E_PLUGIN;
    if (index < 0) /* the device a bare backend name gets */
        index = clnet_default_device_index(d, nd < 64 ? nd : 64);
    if (index >= nd || index >= 64)
        return clnet_fail(err, CLNET_E_ARG, "there is no %s device %d (`clnet "
                                            "devices` lists them)",
                          backend, (int)index);
    res->device = d[index];
    snprintf(res->device_label, sizeof res->device_label, "%.16s:%d", backend,
             (int)index);
    char where[160], text[4096], ref[4096], what[256], why[CLNET_ERRLEN];
    for (int p = 0; p < clnet_registry_count(r); p++) {
        const clnet_plugin *q = clnet_registry_get(r, p, NULL);
        if (!q->backend || strcmp(q->backend, backend) != 0)
            continue;
        if (q->role == CLNET_ROLE_LAYER) {
            const char *const none[] = {"", NULL};
            const char *const *sets =
                q->layer.tunings ? q->layer.tunings : none;
            for (int s = 0; sets[s]; s++) {
                char name[96];
                snprintf(name, sizeof name, "%s/%s%s%s", q->kind, q->impl,
                         sets[s][0] ? "@" : "", sets[s]);
                int ei = -1;
                for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
                    const check_case *k = &cases[c];
                    if (strcmp(k->kind, q->kind) || (small_only && !k->small))
                        continue;
                    snprintf(where, sizeof where, "%s:%d/%s%s%s", backend,
                             (int)index, q->impl, sets[s][0] ? "@" : "",
                             sets[s]);
                    case_text(k, where, "sgd", text, sizeof text);
                    case_text(k, "cpu", "sgd", ref, sizeof ref);
                    why[0] = '\0';
                    double e = run_case(r, text, ref,
                                        strcmp(k->kind, "input") ? "t"
                                                                 : "input_1",
                                        why, sizeof why);
                    if (e < 0)
                        continue; /* a shape it does not take */
                    if (ei < 0 && (ei = add_entry(res, name, err)) < 0)
                        return err ? err->status : CLNET_E_NOMEM;
                    snprintf(what, sizeof what, "%dx%dx%d%s%s", k->h, k->w,
                             k->c, k->settings[0] ? " " : "", k->settings);
                    record(res, ei, e, what, why);
                    if (progress) {
                        fprintf(progress, "\r%-44.44s %s", name, what);
                        fflush(progress);
                    }
                }
            }
        } else if (q->role == CLNET_ROLE_OPTIMIZER ||
                   q->role == CLNET_ROLE_LOSS) {
            /* a dense layer and the softmax on the device: its optimizer
             * updates the dense weights, the loss runs beside the softmax */
            static const check_case dense = {"dense", 1, 1, 45, "units=7",
                                             1};
            static const check_case soft = {"softmax", 1, 1, 11, "", 1};
            snprintf(where, sizeof where, "%s:%d", backend, (int)index);
            char name[96];
            snprintf(name, sizeof name, "%s %s",
                     q->role == CLNET_ROLE_LOSS ? "loss" : "optimizer",
                     q->kind);
            const check_case *k = q->role == CLNET_ROLE_LOSS ? &soft : &dense;
            const char *opt = q->role == CLNET_ROLE_LOSS ? "sgd" : q->kind;
            case_text(k, where, opt, text, sizeof text);
            case_text(k, "cpu", opt, ref, sizeof ref);
            why[0] = '\0';
            double e = run_case(r, text, ref, "t", why, sizeof why);
            int ei = add_entry(res, name, err);
            if (ei < 0)
                return err ? err->status : CLNET_E_NOMEM;
            record(res, ei, e < 0 ? INFINITY : e,
                   q->role == CLNET_ROLE_LOSS ? "after a softmax" : "dense",
                   why);
        }
    }
    if (progress)
        fprintf(progress, "\r%-70s\r", "");
    for (int i = 0; i < res->nentries; i++)
        res->failed += res->entries[i].failed > 0;
    return CLNET_OK;
}

void clnet_check_free(clnet_check_result *res)
{
    if (!res)
        return;
    free(res->entries);
    res->entries = NULL;
    res->nentries = 0;
}
