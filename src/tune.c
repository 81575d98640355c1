/* clnet tune: for every layer whose backend has several implementations of
 * its kind, or one with several tuning parameter sets, build the network
 * once per implementation and set, check that its output matches the
 * native CPU's (on the CPU itself: the default choice's), time it with
 * clnet_bench, and keep the fastest in the tuning cache (as IMPL or
 * IMPL@TUNING). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tune.h"

#define MATCH_TOLERANCE 1e-3
#define TOLERANCE_TEXT "1e-3"

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

/* "13x13x64 -> 11x11x128, 3x3, stride 2, on cpu": what the layer
 * computes, for the report. */
static void describe(const clnet_net *net, const clnet_net_layer *L,
                     char *out, size_t len)
{
    int n = snprintf(out, len, "%dx%dx%d -> %dx%dx%d", L->in[0].h, L->in[0].w,
                     L->in[0].c, L->out.h, L->out.w, L->out.c);
    const clnet_plugin *k = L->kind;
    for (int s = 0; k && s < k->nsettings && n > 0 && (size_t)n < len; s++) {
        const clnet_setting_spec *sp = &k->settings[s];
        const clnet_value *v = &L->settings[s];
        if (sp->type != CLNET_SET_SIZE2)
            continue;
        if (!strcmp(sp->key, "kernel") || !strcmp(sp->key, "pool"))
            n += snprintf(out + n, len - (size_t)n, ", %dx%d", v->i[0],
                          v->i[1]);
        else if (!strcmp(sp->key, "strides") && (v->i[0] != 1 || v->i[1] != 1))
            n += snprintf(out + n, len - (size_t)n, ", stride %dx%d", v->i[0],
                          v->i[1]);
    }
    if (n > 0 && (size_t)n < len)
        snprintf(out + n, len - (size_t)n, ", on %s",
                 net->backends[L->bk].name);
}

#define SLOW_BUILD_SECONDS 0.5

/* Times every choice of layer i, one line as they finish ("conv2d_2
 * (...): winograd 3.6 ms, gemm 5.1 ms -> winograd (...)"), flushed after
 * each, so that a tune whose OpenCL kernels are compiled cold shows its
 * progress. *stored is set when a choice went into the cache. */
static int tune_layer(const clnet_topology *t, const clnet_registry *r,
                      const clnet_build_options *o, const clnet_net *base,
                      int i, int32_t steps, FILE *report, int *stored,
                      clnet_error *err)
{
    const clnet_net_layer *L = &base->layers[i];
    const clnet_plugin *p = L->plugin;
    const clnet_backend *bk = &base->backends[L->bk];
    size_t n = (size_t)base->max_batch * L->out_size;
    float *ref = malloc(n * sizeof *ref), *out = malloc(n * sizeof *out);
    /* why the choices that cannot run this layer cannot, after the line */
    size_t notes_len = 4096;
    char *notes = calloc(1, notes_len);
    if (!ref || !out || !notes) {
        free(ref);
        free(out);
        free(notes);
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory");
    }
    static char choices[MAX_CHOICES][96];
    int nchoices = list_choices(r, p, choices, MAX_CHOICES);
    int have_ref = 0, tried = 0, shown = 0, rc = CLNET_OK;
    double best_ms = 0, best_error = 0;
    char best[96] = "", ref_name[96] = "";
    if (report) {
        char what[256];
        describe(base, L, what, sizeof what);
        fprintf(report, "%s (%s): ", L->name, what);
        fflush(report);
    }
    /* on a device, every choice is checked against the native CPU's
     * output for the layer, as `clnet check` checks it, so tune never
     * keeps one that computes wrong even where all of them agree */
    if (strcmp(p->backend, "cpu") != 0) {
        clnet_error e;
        char ov[1024];
        snprintf(ov, sizeof ov, "%s%s%s=cpu", o->backends ? o->backends : "",
                 o->backends ? "," : "", L->name);
        clnet_build_options b = *o;
        b.backends = ov;
        b.no_fusion = 1;
        b.keep_outputs = 1;
        clnet_net *cpu = clnet_net_build(t, r, &b, &e);
        if (cpu) {
            clnet_net_synthetic_batch(cpu);
            if (!clnet_net_forward(cpu, cpu->max_batch, 0, &e) &&
                !clnet_net_read_output(cpu, i, cpu->max_batch, ref, &e)) {
                have_ref = 1;
                snprintf(ref_name, sizeof ref_name, "the native CPU");
            }
            clnet_net_free(cpu);
        }
    }
    for (int c = 0; c < nchoices && !rc; c++) {
        const char *choice = choices[c];
        clnet_error e;
        double t0 = clnet_now();
        clnet_net *net = build_with(t, r, o, L->name, p->backend, choice, &e);
        double built = clnet_now() - t0;
        if (!net) {
            size_t used = strlen(notes);
            snprintf(notes + used, notes_len - used,
                     "  %s/%s cannot run %s: %s\n", p->backend, choice,
                     L->name, e.msg);
            continue;
        }
        tried++;
        clnet_net_synthetic_batch(net);
        rc = clnet_net_forward(net, net->max_batch, 0, err);
        if (!rc)
            rc = clnet_net_read_output(net, i, net->max_batch,
                                       have_ref ? out : ref, err);
        double error = have_ref && !rc ? rel_error(ref, out, n) : 0;
        if (!have_ref && !rc)
            snprintf(ref_name, sizeof ref_name, "%.95s", choice);
        clnet_bench_result res;
        if (!rc)
            rc = clnet_bench(net, steps, &res, err);
        if (!rc) {
            double ms = res.layers[i].forward_ms + res.layers[i].backward_ms;
            int ok = error <= MATCH_TOLERANCE;
            if (report) {
                fprintf(report, "%s%s %.3f ms", shown++ ? ", " : "", choice,
                        ms);
                if (built >= SLOW_BUILD_SECONDS)
                    fprintf(report, " (built in %.1f s)", built);
                if (!ok)
                    fprintf(report, " (refused: its output differs from "
                                    "%s's by %.2g, over the tolerance "
                                    TOLERANCE_TEXT ")",
                            ref_name, error);
                fflush(report);
            }
            if (ok && (!best[0] || ms < best_ms)) {
                snprintf(best, sizeof best, "%.95s", choice);
                best_ms = ms;
                best_error = error;
            }
            clnet_bench_free(&res);
        }
        have_ref = 1;
        clnet_net_free(net);
    }
    if (!rc && best[0] && tried > 1) {
        rc = clnet_tune_store(bk, p->kind, L->tune_key, best, err);
        if (!rc) {
            *stored = 1;
            if (report && !strcmp(ref_name, "the native CPU"))
                fprintf(report, " -> %s (its output matches the native "
                                "CPU's within " TOLERANCE_TEXT
                                ": relative error %.2g)\n",
                        best, best_error);
            else if (report && !strcmp(best, ref_name))
                fprintf(report, " -> %s (the reference: the others' "
                                "outputs were checked against it, within "
                                TOLERANCE_TEXT ")\n",
                        best);
            else if (report)
                fprintf(report, " -> %s (its output matches %s's within "
                                TOLERANCE_TEXT ": relative error %.2g)\n",
                        best, ref_name, best_error);
        }
    } else if (!rc && report && best[0]) {
        fprintf(report, " -> %s, the only one that runs it; nothing cached\n",
                best);
    } else if (!rc && report) {
        fprintf(report, "%sno implementation runs it\n", shown ? "; " : "");
    }
    if (rc && report)
        fprintf(report, "%sfailed\n", shown ? "; " : "");
    if (report)
        fputs(notes, report);
    free(ref);
    free(out);
    free(notes);
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
    if (report) {
        /* before the first build, which compiles a cold OpenCL cache's
         * kernels */
        fprintf(report, "Tuning %s on %s: timing each implementation (and "
                        "parameter set) of every layer that has several, "
                        "forward + backward per batch, over %d step%s "
                        "after warm-up\n",
                t->file ? t->file : "the network",
                o->device ? o->device : "cpu", steps, steps == 1 ? "" : "s");
        fflush(report);
    }
    clnet_net *base = clnet_net_build(t, r, o, err);
    if (!base)
        return err ? err->status : CLNET_E_ARG;
    int rc = CLNET_OK, tuned = 0, stored = 0;
    for (int i = 0; i < base->nlayers && !rc; i++) {
        const clnet_plugin *p = base->layers[i].plugin;
        if (!p)
            continue; /* it aliases its input: nothing runs */
        static char choices[MAX_CHOICES][96];
        if (list_choices(r, p, choices, MAX_CHOICES) < 2)
            continue;
        tuned++;
        int one = 0;
        rc = tune_layer(t, r, o, base, i, steps, report, &one, err);
        stored += one;
    }
    char path[1024];
    if (!rc && report && !tuned)
        fprintf(report, "no layer has more than one implementation or "
                        "parameter set on its "
                        "backend; nothing to tune\n");
    else if (!rc && report && stored &&
             clnet_tune_cache_file(path, sizeof path) == 0)
        fprintf(report, "Wrote %d choice%s to %s (keyed by device, driver "
                        "and layer shape; later builds read it)\n",
                stored, stored == 1 ? "" : "s", path);
    clnet_net_free(base);
    return rc;
}
