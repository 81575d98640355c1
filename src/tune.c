/* clnet tune: for every layer whose backend has several implementations of
 * its kind, or one with several tuning parameter sets, build the network
 * once per implementation and set, check that its output matches the
 * default choice's, time it with clnet_bench, and keep the fastest in the
 * tuning cache (as IMPL or IMPL@TUNING). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tune.h"

#define MATCH_TOLERANCE 1e-3

static double rel_error(const float *a, const float *b, size_t n)
{
    double diff = 0, norm = 0;
    for (size_t i = 0; i < n; i++) {
        diff += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        norm += (double)a[i] * a[i];
    }
    return norm > 0 ? sqrt(diff / norm) : sqrt(diff);
}

/* Builds with layer `name` forced to backend/choice (IMPL or
 * IMPL@TUNING); NULL when it cannot run the layer (the reason in err). */
static clnet_net *build_with(const clnet_topology *t, const clnet_registry *r,
                             const clnet_build_options *o, const char *name,
                             const char *backend, const char *choice,
                             clnet_error *err)
{
    char ov[1024];
    snprintf(ov, sizeof ov, "%s%s%s=%s/%.95s", o->backends ? o->backends : "",
             o->backends ? "," : "", name, backend, choice);
    clnet_build_options b = *o;
    b.backends = ov;
    b.no_fusion = 1; /* each layer's own output is compared */
    b.keep_outputs = 1;
    return clnet_net_build(t, r, &b, err);
}

#define MAX_CHOICES 64

/* Every implementation of layer L's kind on its backend, with each of
 * its tuning parameter sets: "IMPL" or "IMPL@TUNING". */
static int list_choices(const clnet_registry *r, const clnet_plugin *p,
                        char choices[][96], int max)
{
    int n = 0;
    for (int c = 0; c < clnet_registry_count(r); c++) {
        const clnet_plugin *q = clnet_registry_get(r, c, NULL);
        if (q->role != CLNET_ROLE_LAYER || strcmp(q->kind, p->kind) ||
            strcmp(q->backend, p->backend))
            continue;
        if (!q->layer.tunings && n < max)
            snprintf(choices[n++], 96, "%s", q->impl);
        for (int s = 0; q->layer.tunings && q->layer.tunings[s] && n < max;
             s++)
            snprintf(choices[n++], 96, "%s@%s", q->impl, q->layer.tunings[s]);
    }
    return n;
}

static int tune_layer(const clnet_topology *t, const clnet_registry *r,
                      const clnet_build_options *o, const clnet_net *base,
                      int i, int32_t steps, FILE *report, clnet_error *err)
{
    const clnet_net_layer *L = &base->layers[i];
    const clnet_plugin *p = L->plugin;
    const clnet_backend *bk = &base->backends[L->bk];
    size_t n = (size_t)base->max_batch * L->out_size;
    float *ref = malloc(n * sizeof *ref), *out = malloc(n * sizeof *out);
    if (!ref || !out) {
        free(ref);
        free(out);
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory");
    }
    static char choices[MAX_CHOICES][96];
    int nchoices = list_choices(r, p, choices, MAX_CHOICES);
    int have_ref = 0, tried = 0, rc = CLNET_OK;
    double best_ms = 0;
    char best[96] = "";
    for (int c = 0; c < nchoices && !rc; c++) {
        const char *choice = choices[c];
        clnet_error e;
        clnet_net *net = build_with(t, r, o, L->name, p->backend, choice, &e);
        if (!net) {
            if (report)
                fprintf(report, "%s: %s/%s cannot run it: %s\n", L->name,
                        p->backend, choice, e.msg);
            continue;
        }
        tried++;
        clnet_net_synthetic_batch(net);
        rc = clnet_net_forward(net, net->max_batch, 0, err);
        if (!rc)
            rc = clnet_net_read_output(net, i, net->max_batch,
                                       have_ref ? out : ref, err);
        double error = have_ref && !rc ? rel_error(ref, out, n) : 0;
        clnet_bench_result res;
        if (!rc)
            rc = clnet_bench(net, steps, &res, err);
        if (!rc) {
            double ms = res.layers[i].forward_ms + res.layers[i].backward_ms;
            int ok = error <= MATCH_TOLERANCE;
            if (report)
                fprintf(report, "%s: %s/%s %.3f ms forward + backward%s\n",
                        L->name, p->backend, choice, ms,
                        ok ? "" : " (refused: its output differs)");
            if (ok && (!best[0] || ms < best_ms)) {
                snprintf(best, sizeof best, "%.95s", choice);
                best_ms = ms;
            }
            clnet_bench_free(&res);
        }
        have_ref = 1;
        clnet_net_free(net);
    }
    if (!rc && best[0] && tried > 1) {
        rc = clnet_tune_store(bk, p->kind, L->tune_key, best, err);
        if (!rc && report)
            fprintf(report, "%s: chose %s/%s for %s on %s\n", L->name,
                    p->backend, best, L->tune_key, bk->info.name);
    }
    free(ref);
    free(out);
    return rc;
}

int clnet_tune(const clnet_topology *t, const clnet_registry *r,
               const clnet_build_options *opt, int32_t steps, FILE *report,
               clnet_error *err)
{
    clnet_error_clear(err);
    if (!t || !r || steps < 1)
        return clnet_fail(err, CLNET_E_ARG, "clnet_tune: bad argument");
    clnet_build_options defaults = {0};
    const clnet_build_options *o = opt ? opt : &defaults;
    clnet_net *base = clnet_net_build(t, r, o, err);
    if (!base)
        return err ? err->status : CLNET_E_ARG;
    int rc = CLNET_OK, tuned = 0;
    for (int i = 0; i < base->nlayers && !rc; i++) {
        const clnet_plugin *p = base->layers[i].plugin;
        if (!p)
            continue; /* it aliases its input: nothing runs */
        static char choices[MAX_CHOICES][96];
        if (list_choices(r, p, choices, MAX_CHOICES) < 2)
            continue;
        tuned++;
        rc = tune_layer(t, r, o, base, i, steps, report, err);
    }
    if (!rc && report && !tuned)
        fprintf(report, "no layer has more than one implementation or "
                        "parameter set on its "
                        "backend; nothing to tune\n");
    clnet_net_free(base);
    return rc;
}
