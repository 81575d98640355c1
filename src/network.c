/* Network builder: binds each topology line to a plugin on its chosen
 * backend, checks settings and shapes, plans parameters and every buffer
 * a step needs (the hot loop allocates nothing), and prints summaries. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"
#include "distributed.h"
#include "graph.h"
#include "fuse.h"
#include "schedule.h"
#include "tune.h"

#define KERAS_DEFAULT_BATCH 32
#define KERAS_DEFAULT_EPOCHS 1
#define MAX_KINDS 64 /* losses and optimizers, for suggestions */

static void list_backends(const clnet_registry *r, const char *kind,
                          char *buf, size_t len)
{
    buf[0] = '\0';
    for (int i = 0; i < clnet_registry_count(r); i++) {
        const clnet_plugin *p = clnet_registry_get(r, i, NULL);
        if (strcmp(p->kind, kind) == 0) {
            size_t used = strlen(buf);
            snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
                     p->backend);
        }
    }
}


/* Validates a line's settings against a plugin's table and fills values.
 * `extra` lists keys the caller handles itself. */
static int parse_settings(const char *file, const clnet_topo_line *l,
                          const clnet_plugin *p, const char *const *extra,
                          clnet_value *values, clnet_error *err)
{
    /* the plugin's keys and aliases, then the extra ones (the train
     * line's own keys and its loss's: under CLNET_MAX_SETTINGS + 32) */
    const char *words[CLNET_MAX_SETTINGS * 3 + 33];
    int nw = 0;
    for (int s = 0; s < p->nsettings; s++) {
        words[nw++] = p->settings[s].key;
        if (p->settings[s].alias)
            words[nw++] = p->settings[s].alias;
    }
    for (int e = 0; extra && extra[e] && nw < CLNET_MAX_SETTINGS * 3 + 32;
         e++)
        words[nw++] = extra[e];
    words[nw] = NULL;

    for (int i = 0; i < l->nsettings; i++) {
        const clnet_topo_setting *st = &l->settings[i];
        int known = 0;
        for (int w = 0; w < nw; w++)
            known |= strcmp(words[w], st->key) == 0;
        if (!known) {
            char msg[CLNET_ERRLEN];
            snprintf(msg, sizeof msg, "%s:%d:%d: unknown setting '%s' for %s",
                     file, st->line, st->col, st->key, l->kind);
            clnet_append_suggestion(msg, sizeof msg, st->key, words);
            if (!clnet_nearest_word(st->key, words)) {
                size_t used = strlen(msg);
                snprintf(msg + used, sizeof msg - used, " (it takes:");
                for (int w = 0; w < nw; w++) {
                    used = strlen(msg);
                    snprintf(msg + used, sizeof msg - used, " %s", words[w]);
                }
                used = strlen(msg);
                snprintf(msg + used, sizeof msg - used, ")");
            }
            return clnet_fail(err, CLNET_E_PARSE, "%s", msg);
        }
    }
    for (int s = 0; s < p->nsettings; s++) {
        const clnet_setting_spec *spec = &p->settings[s];
        const clnet_topo_setting *st = clnet_topo_find(l, spec->key);
        const clnet_topo_setting *st2 =
            spec->alias ? clnet_topo_find(l, spec->alias) : NULL;
        if (st && st2)
            return clnet_fail(err, CLNET_E_PARSE,
                              "%s:%d:%d: '%s' and '%s' are the same setting; "
                              "give only one",
                              file, st2->line, st2->col, spec->key,
                              spec->alias);
        if (!st)
            st = st2;
        char msg[CLNET_ERRLEN];
        if (st) {
            if (clnet_parse_value(spec, st->value, &values[s], msg,
                                  sizeof msg))
                return clnet_fail(err, CLNET_E_PARSE, "%s:%d:%d: %s", file,
                                  st->line, st->value_col, msg);
        } else if (spec->default_value) {
            if (clnet_parse_value(spec, spec->default_value, &values[s], msg,
                                  sizeof msg))
                return clnet_fail(err, CLNET_E_INTERNAL,
                                  "plugin %s has a bad default: %s", p->kind,
                                  msg);
        } else {
            return clnet_fail(err, CLNET_E_PARSE,
                              "%s:%d:%d: %s needs '%s=' (expected %s)", file,
                              l->line, l->col, l->kind, spec->key,
                              spec->type == CLNET_SET_INT      ? "a whole number"
                              : spec->type == CLNET_SET_FLOAT  ? "a number"
                              : spec->type == CLNET_SET_SIZE2  ? "a size like 3x3"
                              : spec->type == CLNET_SET_SHAPE3 ? "a shape like 28x28x1"
                              : spec->type == CLNET_SET_FLOATS ? "numbers like 0.5,0.25"
                                                               : spec->choices);
        }
    }
    return CLNET_OK;
}

/* --backend overrides: "KIND=BACKEND" or "NAME=BACKEND", comma-separated. */
static const char *override_for(const char *overrides, const char *kind,
                                const char *name, char *buf, size_t len)
{
    if (!overrides)
        return NULL;
    const char *found = NULL;
    const char *p = overrides;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (eq) {
            size_t kl = (size_t)(eq - p);
            int by_name = strlen(name) == kl && memcmp(p, name, kl) == 0;
            int by_kind = strlen(kind) == kl && memcmp(p, kind, kl) == 0;
            /* a layer's name is more specific than its kind */
            if (by_name || (by_kind && !found)) {
                snprintf(buf, len, "%.*s", (int)(n - kl - 1), eq + 1);
                found = buf;
                if (by_name)
                    return found;
            }
        }
        p = comma ? comma + 1 : p + n;
    }
    return found;
}

/* Checks the syntax of --backend, and with `net` (after the layers have
 * their names) that every key is a layer kind or a layer name. */
static int check_overrides(const char *overrides, const clnet_net *net,
                           const clnet_registry *r, clnet_error *err)
{
    if (!overrides)
        return CLNET_OK;
    const char *p = overrides;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (!eq || eq == p || eq == p + n - 1)
            return clnet_fail(err, CLNET_E_ARG,
                              "--backend: expected KIND=BACKEND or "
                              "NAME=BACKEND, got '%.*s'",
                              (int)n, p);
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(eq - p), p);
        int known = clnet_registry_kind(r, key) != NULL;
        for (int i = 0; net && i < net->nlayers && !known; i++)
            known = strcmp(net->layers[i].name, key) == 0;
        if (net && !known) {
            const char *words[CLNET_GRAPH_MAX_KINDS + 1];
            clnet_graph_kind_words(r, words, CLNET_GRAPH_MAX_KINDS + 1);
            char msg[CLNET_ERRLEN];
            snprintf(msg, sizeof msg,
                     "--backend: '%s' is neither a layer kind nor a layer "
                     "name in %s",
                     key, net->file);
            clnet_append_suggestion(msg, sizeof msg, key, words);
            return clnet_fail(err, CLNET_E_ARG, "%s", msg);
        }
        p = comma ? comma + 1 : p + n;
    }
    return CLNET_OK;
}

/* Elements per sample, or -1 when a dimension is not positive or the
 * product does not fit. */
static int64_t shape_elems(clnet_shape s)
{
    if (s.h < 1 || s.w < 1 || s.c < 1)
        return -1;
    return clnet_size_mul(clnet_size_mul(s.h, s.w), s.c);
}

/* Refuses a layer whose output over the batch, or one of whose
 * parameters, has no element or more than CLNET_MAX_ELEMENTS, before
 * anything is allocated for it. */
static int check_plan_sizes(const clnet_net *net, const clnet_topology *t,
                            const clnet_topo_line *l, const clnet_net_layer *L,
                            int32_t batch, clnet_error *err)
{
    /* one sample, or the batch: the memory plan, checked in between,
     * names the batch's figure against the machine's first */
    int64_t per = shape_elems(L->plan.out);
    if (per < 0 || clnet_size_mul(per, batch) < 0)
        return clnet_fail(err, CLNET_E_SHAPE,
                          "%s:%d:%d: %s gives an output of %dx%dx%d, which "
                          "is empty, or over a batch of %d more than %lld "
                          "values; use a smaller input, more striding or a "
                          "smaller --batch",
                          t->file, l->line, l->col, l->kind, L->plan.out.h,
                          L->plan.out.w, L->plan.out.c, net->max_batch,
                          CLNET_MAX_ELEMENTS);
    if (L->plan.nparams < 0 || L->plan.nparams > CLNET_MAX_PARAMS)
        return clnet_fail(err, CLNET_E_INTERNAL,
                          "plugin %s declares %d parameters", L->plugin->kind,
                          L->plan.nparams);
    for (int k = 0; k < L->plan.nparams; k++) {
        const clnet_param_info *pi = &L->plan.params[k];
        int64_t n = pi->ndim >= 1 && pi->ndim <= 4 ? 1 : -1;
        for (int d = 0; d < pi->ndim && n > 0; d++)
            n = pi->dims[d] > 0 ? clnet_size_mul(n, pi->dims[d]) : -1;
        if (n < 0)
            return clnet_fail(err, CLNET_E_SHAPE,
                              "%s:%d:%d: %s's %s would have no element or "
                              "more than %lld values; use fewer units, "
                              "filters or a smaller kernel",
                              t->file, l->line, l->col, l->kind,
                              pi->name ? pi->name : "parameter",
                              CLNET_MAX_ELEMENTS);
    }
    return CLNET_OK;
}

/* Of the implementations of p's kind on p's backend, the one that scores
 * best for these arguments (ties: the first loaded); NULL when all score
 * 0. */
static const clnet_plugin *best_implementation(const clnet_registry *r,
                                               const clnet_plugin *p,
                                               const clnet_create_args *args)
{
    const clnet_plugin *best = NULL;
    int32_t best_score = 0;
    for (int i = 0; i < clnet_registry_count(r); i++) {
        const clnet_plugin *q = clnet_registry_get(r, i, NULL);
        if (q->role != CLNET_ROLE_LAYER || strcmp(q->kind, p->kind) != 0 ||
            strcmp(q->backend, p->backend) != 0)
            continue;
        int32_t score = q->layer.score ? q->layer.score(args) : 1;
        if (score > best_score) {
            best = q;
            best_score = score;
        }
    }
    return best;
}

static const clnet_plugin *named_implementation(const clnet_registry *r,
                                                const clnet_plugin *p,
                                                const char *impl)
{
    for (int i = 0; i < clnet_registry_count(r); i++) {
        const clnet_plugin *q = clnet_registry_get(r, i, NULL);
        if (q->role == CLNET_ROLE_LAYER && !strcmp(q->kind, p->kind) &&
            !strcmp(q->backend, p->backend) && !strcmp(q->impl, impl))
            return q;
    }
    return NULL;
}

static void list_implementations(const clnet_registry *r,
                                 const clnet_plugin *p, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int i = 0; i < clnet_registry_count(r); i++) {
        const clnet_plugin *q = clnet_registry_get(r, i, NULL);
        if (q->role == CLNET_ROLE_LAYER && !strcmp(q->kind, p->kind) &&
            !strcmp(q->backend, p->backend)) {
            size_t used = strlen(buf);
            snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
                     q->impl);
        }
    }
}

/* Whether p runs with parameter set `tuning` ("" always). */
static int offers_tuning(const clnet_plugin *p, const char *tuning)
{
    if (!tuning[0])
        return 1;
    for (int k = 0; p->layer.tunings && p->layer.tunings[k]; k++)
        if (strcmp(p->layer.tunings[k], tuning) == 0)
            return 1;
    return 0;
}

/* A layer plugin of `kind` on `backend`, or NULL. */
static const clnet_plugin *layer_plugin(const clnet_registry *r,
                                        const char *kind, const char *backend)
{
    for (int i = 0; i < clnet_registry_count(r); i++) {
        const clnet_plugin *q = clnet_registry_get(r, i, NULL);
        if (q->role == CLNET_ROLE_LAYER && !strcmp(q->kind, kind) &&
            !strcmp(q->backend, backend))
            return q;
    }
    return NULL;
}

/* Whether `backend` is one this registry can run: the native CPU, or one
 * with a device plugin. */
static int known_backend(const clnet_registry *r, const char *backend)
{
    if (!strcmp(backend, "cpu"))
        return 1;
    for (int i = 0; i < clnet_registry_count(r); i++) {
        const clnet_plugin *q = clnet_registry_get(r, i, NULL);
        if (q->role == CLNET_ROLE_DEVICE && !strcmp(q->backend, backend))
            return 1;
    }
    return 0;
}

/* Settings, input shapes and the kind's plan of layer i; the buffers'
 * owners of its inputs. */
static int infer_layer(clnet_net *net, const clnet_topology *t, int i,
                       clnet_error *err)
{
    static const char *const extra[] = {"name", "backend", "inputs", "from",
                                        NULL};
    const clnet_topo_line *l = &t->layers[i];
    clnet_net_layer *L = &net->layers[i];
    int rc = parse_settings(t->file, l, L->kind, extra, L->settings, err);
    if (rc)
        return rc;
    char names[CLNET_MAX_INPUTS][160];
    const char *name_ptrs[CLNET_MAX_INPUTS];
    for (int k = 0; k < L->ninputs; k++) {
        clnet_net_input *e = &L->inputs[k];
        const clnet_net_layer *N = &net->layers[e->named];
        L->in[k] = N->out;
        e->size = N->out_size;
        /* a layer that aliases its input owns no buffers: its input does */
        e->src = N->plan.alias_input ? N->inputs[0].src : e->named;
        snprintf(names[k], sizeof names[k], "%s (%s:%d)", N->name, t->file,
                 N->line);
        name_ptrs[k] = names[k];
    }
    clnet_kind_args ka = {L->settings, L->ninputs, L->in, name_ptrs};
    char perr[CLNET_ERRLEN] = "";
    memset(&L->plan, 0, sizeof L->plan);
    if (L->kind->def.infer(&ka, &L->plan, perr))
        return clnet_fail(err, CLNET_E_SHAPE, "%s:%d:%d: %s: %s", t->file,
                          l->line, l->col, l->kind,
                          perr[0] ? perr : "the kind refused these inputs");
    if ((rc = check_plan_sizes(net, t, l, L, 1, err)))
        return rc;
    L->out = L->plan.out;
    L->out_size = (size_t)shape_elems(L->out);
    if (L->plan.alias_input &&
        (L->ninputs != 1 || L->out_size != L->inputs[0].size))
        return clnet_fail(err, CLNET_E_INTERNAL,
                          "kind %s aliases its input but changes its size",
                          l->kind);
    return CLNET_OK;
}

/* What score() and create() of layer i's implementation are given; the
 * tuning is read through L->tuning, which the choice may still fill. */
clnet_create_args clnet_net_layer_args(const clnet_net *net, int i)
{
    const clnet_net_layer *L = &net->layers[i];
    clnet_create_args a = {0};
    a.settings = L->settings;
    a.ninputs = L->ninputs;
    a.in = L->in;
    a.plan = &L->plan;
    a.max_batch = net->max_batch;
    a.threads = net->threads;
    a.layer_index = i;
    a.tuning = L->tuning;
    a.device = net->backends[L->bk].ctx;
    a.fuse_softmax_loss = i == net->nlayers - 1 && net->fused;
    return a;
}

/* The backend and implementation of layer i: --backend, the line's
 * backend=, the default device; the native CPU when the backend has no
 * implementation of the kind (unless --strict). */
static int place_layer(clnet_net *net, const clnet_topology *t,
                       const clnet_registry *r, const clnet_build_options *o,
                       int i, const char *default_backend,
                       int32_t device_index, clnet_error *err)
{
    const clnet_topo_line *l = &t->layers[i];
    clnet_net_layer *L = &net->layers[i];
    char obuf[64];
    const clnet_topo_setting *bks = clnet_topo_find(l, "backend");
    const char *backend =
        override_for(o->backends, l->kind, L->name, obuf, sizeof obuf);
    int cline = 0;
    if (backend)
        snprintf(L->chosen_by, sizeof L->chosen_by, "--backend");
    else if (bks) {
        backend = bks->value;
        snprintf(L->chosen_by, sizeof L->chosen_by, "%s:%d", t->file,
                 bks->line);
    } else if ((backend = clnet_config_backend(o->config, l->kind, L->name,
                                               &cline)))
        clnet_config_where(o->config, cline, L->chosen_by,
                           sizeof L->chosen_by);
    if (!backend || strcmp(backend, "auto") == 0) {
        backend = default_backend;
        snprintf(L->chosen_by, sizeof L->chosen_by, "%s", net->device_from);
    }
    /* BACKEND/IMPL names an implementation, BACKEND/IMPL@TUNING also its
     * parameter set; BACKEND:N a device of the backend (opencl:1) */
    char bname[32], iname[32] = "";
    const char *impl = strchr(backend, '/');
    snprintf(bname, sizeof bname, "%.*s",
             (int)(impl ? (size_t)(impl - backend) : strlen(backend)),
             backend);
    int32_t layer_device = -1;
    char *colon = strchr(bname, ':');
    if (colon) {
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (colon[1] < '0' || colon[1] > '9' || *end || v > 63)
            return clnet_fail(err, CLNET_E_ARG,
                              "%s:%d:%d: '%s' names no device: write "
                              "BACKEND:N with N as `clnet devices` numbers "
                              "them (from %s)",
                              t->file, l->line, l->col, bname, L->chosen_by);
        layer_device = (int32_t)v;
        *colon = '\0';
    }
    L->tuning[0] = '\0';
    if (impl) {
        const char *at = strchr(impl + 1, '@');
        snprintf(iname, sizeof iname, "%.*s",
                 (int)(at ? (size_t)(at - impl - 1) : strlen(impl + 1)),
                 impl + 1);
        if (at)
            snprintf(L->tuning, sizeof L->tuning, "%s", at + 1);
        impl = iname;
    }
    if (L->plan.alias_input) {
        if (!known_backend(r, bname))
            return clnet_fail(err, CLNET_E_ARG,
                              "%s:%d:%d: there is no '%s' backend (a device "
                              "plugin for it is not loaded)",
                              t->file, l->line, l->col, bname);
        /* a reshape without data runs where its input lives */
        L->bk = net->layers[L->inputs[0].src].bk;
        return CLNET_OK;
    }
    const clnet_plugin *p = layer_plugin(r, l->kind, bname);
    if (!p && known_backend(r, bname) && !impl && strcmp(bname, "cpu") != 0 &&
        layer_plugin(r, l->kind, "cpu")) {
        if (o->strict)
            return clnet_fail(err, CLNET_E_ARG,
                              "%s:%d:%d: the %s backend has no implementation "
                              "of %s (--strict refuses running it on the "
                              "native CPU instead)",
                              t->file, l->line, l->col, bname, l->kind);
        L->fallback = 1;
        snprintf(bname, sizeof bname, "cpu");
        p = layer_plugin(r, l->kind, "cpu");
    }
    if (!p) {
        char have[256];
        list_backends(r, l->kind, have, sizeof have);
        return clnet_fail(err, CLNET_E_ARG,
                          "%s:%d:%d: no '%s' implementation of %s is loaded "
                          "(available: %s)",
                          t->file, l->line, l->col, bname, l->kind,
                          have[0] ? have : "none");
    }
    int32_t want = layer_device >= 0 && !L->fallback ? layer_device
                   : strcmp(bname, default_backend) == 0 ? device_index
                                                         : -1;
    L->bk = clnet_backend_acquire(net, r, bname, want, err);
    if (L->bk < 0) {
        /* say where the device was named: the layer's placement, or the
         * configuration file's default device */
        char at[200];
        snprintf(at, sizeof at, "%s:%d:%d", t->file, l->line, l->col);
        if (layer_device >= 0)
            clnet_error_locate(err, at, L->chosen_by);
        else if (strcmp(bname, default_backend) == 0 &&
                 strchr(net->device_from, ':'))
            clnet_error_locate(err, net->device_from, NULL);
        return err ? err->status : CLNET_E_ARG;
    }

    clnet_create_args args = clnet_net_layer_args(net, i);
    clnet_tune_key(&args, l->kind, net->max_batch, L->tune_key,
                   sizeof L->tune_key);
    if (impl) {
        const clnet_plugin *q = named_implementation(r, p, impl);
        if (!q) {
            char have[256];
            list_implementations(r, p, have, sizeof have);
            return clnet_fail(err, CLNET_E_ARG,
                              "%s:%d:%d: %s has no '%s' implementation on %s "
                              "(available: %s)",
                              t->file, l->line, l->col, l->kind, impl, bname,
                              have);
        }
        p = q;
    } else {
        char cached[64];
        const clnet_plugin *q = NULL;
        if (clnet_tune_lookup(&net->backends[L->bk], l->kind, L->tune_key,
                              cached, sizeof cached)) {
            /* IMPL or IMPL@TUNING */
            char *at = strchr(cached, '@');
            if (at) {
                *at = '\0';
                snprintf(L->tuning, sizeof L->tuning, "%s", at + 1);
            }
            q = named_implementation(r, p, cached);
            if (!q || !offers_tuning(q, L->tuning))
                q = NULL, L->tuning[0] = '\0';
        }
        if (q && (!q->layer.score || q->layer.score(&args) > 0))
            p = q;
        else if (!(p = best_implementation(r, p, &args)))
            return clnet_fail(err, CLNET_E_SHAPE,
                              "%s:%d:%d: no %s implementation of %s can run "
                              "this layer's settings and shape",
                              t->file, l->line, l->col, bname, l->kind);
    }
    if (!offers_tuning(p, L->tuning)) {
        char have[256] = "";
        for (int k = 0; p->layer.tunings && p->layer.tunings[k]; k++) {
            size_t used = strlen(have);
            snprintf(have + used, sizeof have - used, "%s%s", k ? ", " : "",
                     p->layer.tunings[k]);
        }
        return clnet_fail(err, CLNET_E_ARG,
                          "%s:%d:%d: %s/%s has no parameter set '%s' (%s%s)",
                          t->file, l->line, l->col, bname, p->impl, L->tuning,
                          have[0] ? "it has: " : "it takes none",
                          have);
    }
    L->plugin = p;
    return CLNET_OK;
}

static int create_layer(clnet_net *net, const clnet_topology *t, int i,
                        clnet_error *err)
{
    clnet_net_layer *L = &net->layers[i];
    if (!L->plugin)
        return CLNET_OK;
    clnet_create_args args = clnet_net_layer_args(net, i);
    char perr[CLNET_ERRLEN] = "";
    if (L->plugin->create(&args, &L->state, perr)) {
        L->state = NULL;
        return clnet_fail(err, CLNET_E_SHAPE, "%s:%d:%d: %s: %s", t->file,
                          L->line, L->col, L->kind->kind,
                          perr[0] ? perr : "the plugin refused it");
    }
    return CLNET_OK;
}

/* Which outputs need a gradient (a layer's own trainable parameters, or
 * a layer it reads that needs one), and how each input's gradient gets
 * to its producer: the reader that backward reaches first (the last one
 * in the file) writes the producer's gradient, the others add to it. */
static int plan_gradients(clnet_net *net, clnet_error *err)
{
    for (int i = 0; i < net->nlayers; i++) {
        clnet_net_layer *L = &net->layers[i];
        int w = 0;
        for (int k = 0; k < L->plan.nparams; k++)
            w |= !L->plan.params[k].non_trainable;
        for (int k = 0; k < L->ninputs; k++)
            w |= net->layers[L->inputs[k].src].wants_grad;
        L->wants_grad = w;
    }
    char *written = calloc((size_t)(unsigned)net->nlayers, 1);
    if (!written)
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory");
    for (int i = net->nlayers - 1; i >= 1; i--) {
        clnet_net_layer *L = &net->layers[i];
        for (int k = 0; k < L->ninputs; k++) {
            clnet_net_input *e = &L->inputs[k];
            const clnet_net_layer *P = &net->layers[e->src];
            if (!P->wants_grad || L->plan.alias_input) {
                e->dx_mode = CLNET_DX_NONE;
                continue;
            }
            int first = !written[e->src];
            written[e->src] = 1;
            e->dx_mode = P->bk == L->bk ? (first ? CLNET_DX_DIRECT
                                                 : CLNET_DX_ADD)
                                        : (first ? CLNET_DX_COPY
                                                 : CLNET_DX_COPY_ADD);
        }
    }
    free(written);
    return CLNET_OK;
}

/* Reads the train line: the optimizer's and the loss's kinds (their
 * backends are chosen later, from the layers') and their settings. */
static int parse_train_line(clnet_net *net, const clnet_topology *t,
                            const clnet_registry *r, clnet_value *opt_values,
                            clnet_value *loss_values, clnet_error *err)
{
    const clnet_topo_line empty = {.kind = "train", .line = 0, .col = 1};
    const clnet_topo_line *l = t->has_train ? &t->train : &empty;
    const clnet_topo_setting *o = clnet_topo_find(l, "optimizer");
    const clnet_topo_setting *ls = clnet_topo_find(l, "loss");
    const char *oname = o ? o->value : "adam";
    const char *lname = ls ? ls->value : "sparse_categorical_crossentropy";

    const clnet_plugin *opt = clnet_registry_find(r, oname, NULL);
    if (!opt || opt->role != CLNET_ROLE_OPTIMIZER) {
        const char *words[MAX_KINDS + 1];
        int n = 0;
        for (int i = 0; i < clnet_registry_count(r) && n < MAX_KINDS; i++) {
            const clnet_plugin *p = clnet_registry_get(r, i, NULL);
            if (p->role == CLNET_ROLE_OPTIMIZER)
                words[n++] = p->kind;
        }
        words[n] = NULL;
        char msg[CLNET_ERRLEN];
        snprintf(msg, sizeof msg, "%s:%d:%d: unknown optimizer '%s'", t->file,
                 l->line, o ? o->value_col : 1, oname);
        clnet_append_suggestion(msg, sizeof msg, oname, words);
        return clnet_fail(err, CLNET_E_PARSE, "%s", msg);
    }
    const clnet_plugin *loss = clnet_registry_find(r, lname, NULL);
    if (!loss || loss->role != CLNET_ROLE_LOSS) {
        const char *words[MAX_KINDS + 1];
        int n = 0;
        for (int i = 0; i < clnet_registry_count(r) && n < MAX_KINDS; i++) {
            const clnet_plugin *p = clnet_registry_get(r, i, NULL);
            if (p->role == CLNET_ROLE_LOSS)
                words[n++] = p->kind;
        }
        words[n] = NULL;
        char msg[CLNET_ERRLEN];
        snprintf(msg, sizeof msg, "%s:%d:%d: unknown loss '%s'", t->file,
                 l->line, ls ? ls->value_col : 1, lname);
        clnet_append_suggestion(msg, sizeof msg, lname, words);
        return clnet_fail(err, CLNET_E_PARSE, "%s", msg);
    }
    net->optimizer_kind = opt->kind;
    net->loss = loss;

    /* Split the line: the core's keys, then the optimizer's, then the
     * loss's; anything else is unknown to all three. */
    clnet_topo_line opt_line = *l, loss_line = *l;
    clnet_topo_setting *os = calloc((size_t)l->nsettings + 1, sizeof *os);
    clnet_topo_setting *lss = calloc((size_t)l->nsettings + 1, sizeof *lss);
    if (!os || !lss) {
        free(os);
        free(lss);
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory");
    }
    int no = 0, nl = 0, rc = CLNET_OK;
    const char *core_keys[] = {
        "optimizer", "loss",   "batch", "epochs",    "clipnorm",
        "global_clipnorm",     "schedule", "warmup", "drop",
        "every",     "decay",  "alpha", "pct_start", "div_factor",
        "final_div_factor",    "random_crop", "flip", "translate", NULL};
    for (int i = 0; i < l->nsettings && !rc; i++) {
        const clnet_topo_setting *st = &l->settings[i];
        int is_core = 0;
        for (int k = 0; core_keys[k]; k++)
            is_core |= strcmp(core_keys[k], st->key) == 0;
        if (is_core)
            continue;
        int in_loss = 0;
        for (int s = 0; s < loss->nsettings; s++)
            in_loss |= strcmp(loss->settings[s].key, st->key) == 0;
        if (in_loss)
            lss[nl++] = *st;
        else
            os[no++] = *st; /* unknown keys are reported against the optimizer */
    }
    opt_line.settings = os;
    opt_line.nsettings = no;
    loss_line.settings = lss;
    loss_line.nsettings = nl;
    /* an unknown key is told the loss's keys too, which the train line
     * also takes */
    const char *known[sizeof core_keys / sizeof *core_keys +
                      CLNET_MAX_SETTINGS];
    int nk = 0;
    for (int k = 0; core_keys[k]; k++)
        known[nk++] = core_keys[k];
    for (int s = 0; s < loss->nsettings; s++)
        known[nk++] = loss->settings[s].key;
    known[nk] = NULL;
    rc = parse_settings(t->file, &opt_line, opt, known, opt_values, err);
    if (!rc)
        rc = parse_settings(t->file, &loss_line, loss, NULL, loss_values, err);
    free(os);
    free(lss);
    if (rc)
        return rc;
    for (int k = 0; k < opt->nsettings; k++)
        if (!strcmp(opt->settings[k].key, "epsilon") &&
            opt->settings[k].type == CLNET_SET_FLOAT && opt_values[k].f == 0)
            net->optimizer_epsilon_zero = 1;

    static const clnet_setting_spec batch_spec = {
        "batch", NULL, CLNET_SET_INT, NULL, NULL, 1, 1 << 20};
    static const clnet_setting_spec epochs_spec = {
        "epochs", NULL, CLNET_SET_INT, NULL, NULL, 1, 1 << 20};
    net->default_batch = KERAS_DEFAULT_BATCH;
    net->default_epochs = KERAS_DEFAULT_EPOCHS;
    const clnet_setting_spec *specs[2] = {&batch_spec, &epochs_spec};
    int32_t *dest[2] = {&net->default_batch, &net->default_epochs};
    for (int k = 0; k < 2; k++) {
        const clnet_topo_setting *st = clnet_topo_find(l, specs[k]->key);
        if (!st)
            continue;
        clnet_value v;
        char msg[CLNET_ERRLEN];
        if (clnet_parse_value(specs[k], st->value, &v, msg, sizeof msg))
            return clnet_fail(err, CLNET_E_PARSE, "%s:%d:%d: %s", t->file,
                              st->line, st->value_col, msg);
        *dest[k] = v.i[0];
    }
    /* Keras's gradient clipping: clipnorm each tensor by its own norm,
     * global_clipnorm all of them by their joint norm */
    static const clnet_setting_spec clip_spec[2] = {
        {"clipnorm", NULL, CLNET_SET_FLOAT, NULL, NULL, 1e-12, 1e30},
        {"global_clipnorm", NULL, CLNET_SET_FLOAT, NULL, NULL, 1e-12, 1e30}};
    double *clip_dest[2] = {&net->clipnorm, &net->global_clipnorm};
    for (int k = 0; k < 2; k++) {
        const clnet_topo_setting *st = clnet_topo_find(l, clip_spec[k].key);
        if (!st)
            continue;
        clnet_value v;
        char msg[CLNET_ERRLEN];
        if (clnet_parse_value(&clip_spec[k], st->value, &v, msg, sizeof msg))
            return clnet_fail(err, CLNET_E_PARSE, "%s:%d:%d: %s", t->file,
                              st->line, st->value_col, msg);
        *clip_dest[k] = v.f;
    }
    /* augmentation (augment.h) */
    static const clnet_setting_spec aug_spec[3] = {
        {"random_crop", NULL, CLNET_SET_INT, NULL, NULL, 0, 4096},
        {"flip", NULL, CLNET_SET_CHOICE, NULL, "none|horizontal", 0, 0},
        {"translate", NULL, CLNET_SET_FLOAT, NULL, NULL, 0, 0.5}};
    for (int k = 0; k < 3; k++) {
        const clnet_topo_setting *st = clnet_topo_find(l, aug_spec[k].key);
        if (!st)
            continue;
        clnet_value v;
        char msg[CLNET_ERRLEN];
        if (clnet_parse_value(&aug_spec[k], st->value, &v, msg, sizeof msg))
            return clnet_fail(err, CLNET_E_PARSE, "%s:%d:%d: %s", t->file,
                              st->line, st->value_col, msg);
        if (k == 0)
            net->augment.crop = v.i[0];
        else if (k == 1)
            net->augment.flip = v.i[0];
        else
            net->augment.translate = v.f;
    }
    clnet_schedule_default(&net->schedule);
    for (int i = 0; i < l->nsettings; i++) {
        const clnet_topo_setting *st = &l->settings[i];
        char msg[CLNET_ERRLEN - 64];
        if (clnet_schedule_set(&net->schedule, st->key, st->value, msg,
                               sizeof msg) < 0)
            return clnet_fail(err, CLNET_E_PARSE, "%s:%d:%d: %s", t->file,
                              st->line, st->value_col, msg);
    }
    clnet_error e;
    const char *bad = NULL;
    if (clnet_schedule_check(&net->schedule, 1 << 20, &bad, &e)) {
        const clnet_topo_setting *st = bad ? clnet_topo_find(l, bad) : NULL;
        return clnet_fail(err, CLNET_E_PARSE, "%s:%d:%d: %s", t->file,
                          st ? st->line : l->line, st ? st->col : l->col,
                          e.msg);
    }
    /* the optimizer's lr, for the learning rate reported each step */
    net->base_lr = NAN;
    for (int k = 0; k < opt->nsettings; k++)
        if (!strcmp(opt->settings[k].key, "lr") &&
            opt->settings[k].type == CLNET_SET_FLOAT)
            net->base_lr = opt_values[k].f;
    net->lr_scale = 1.0;
    return CLNET_OK;
}

/* What the weights mean: each layer's kind, name, inputs, output shape,
 * parameter shapes (trainable or not) and every setting's value (an
 * activation, a stride, the input's scale), not the implementation or
 * backend that computes it. */
static uint64_t topology_hash(const clnet_net *net)
{
    uint64_t h = CLNET_FNV_INIT;
    for (int i = 0; i < net->nlayers; i++) {
        const clnet_net_layer *L = &net->layers[i];
        h = clnet_fnv1a(h, L->kind->kind, strlen(L->kind->kind) + 1);
        h = clnet_fnv1a(h, L->name, strlen(L->name) + 1);
        for (int k = 0; k < L->ninputs; k++)
            h = clnet_fnv1a(h, &L->inputs[k].named,
                            sizeof L->inputs[k].named);
        int32_t dims[3] = {L->out.h, L->out.w, L->out.c};
        h = clnet_fnv1a(h, dims, sizeof dims);
        for (int k = 0; k < L->plan.nparams; k++) {
            h = clnet_fnv1a(h, L->plan.params[k].dims,
                            sizeof L->plan.params[k].dims);
            h = clnet_fnv1a(h, &L->plan.params[k].non_trainable,
                            sizeof L->plan.params[k].non_trainable);
        }
        for (int k = 0; k < L->kind->nsettings; k++) {
            const clnet_value *v = &L->settings[k];
            h = clnet_fnv1a(h, v->i, sizeof v->i);
            h = clnet_fnv1a(h, &v->f, sizeof v->f);
            /* only where they mean something: older checkpoints' hashes
             * stay as they were */
            if (L->kind->settings[k].type == CLNET_SET_FLOATS)
                h = clnet_fnv1a(h, v->fv, sizeof(double) * (size_t)v->i[0]);
        }
    }
    return h;
}

/* The plugin of `kind` on `backend`, or an error naming both. */
static const clnet_plugin *on_backend(const clnet_registry *r,
                                      const char *kind, const char *backend,
                                      const char *what, clnet_error *err)
{
    const clnet_plugin *p = clnet_registry_find(r, kind, backend);
    if (!p) {
        char have[256];
        list_backends(r, kind, have, sizeof have);
        clnet_fail(err, CLNET_E_ARG,
                   "the %s %s has no '%s' implementation (available: %s)",
                   what, kind, backend, have);
    }
    return p;
}

/* The loss on the last layer's backend, an optimizer on every backend
 * that holds parameters. */
static int create_training(clnet_net *net, const clnet_registry *r,
                           const clnet_value *opt_values,
                           const clnet_value *loss_values, clnet_error *err)
{
    clnet_create_args a = {0};
    char perr[CLNET_ERRLEN] = "";
    const clnet_net_layer *last = &net->layers[net->nlayers - 1];
    net->loss_bk = last->bk;
    clnet_backend *lb = &net->backends[net->loss_bk];
    const clnet_plugin *loss =
        on_backend(r, net->loss->kind, lb->name, "loss", err);
    if (!loss)
        return err ? err->status : CLNET_E_ARG;
    net->loss = loss;
    a.settings = loss_values;
    a.ninputs = 1;
    a.in = &last->out;
    a.max_batch = net->max_batch;
    a.threads = net->threads;
    a.tuning = "";
    a.device = lb->ctx;
    if (loss->create(&a, &net->loss_state, perr)) {
        net->loss_state = NULL;
        return clnet_fail(err, CLNET_E_PARSE, "%s: loss %s: %s", net->file,
                          loss->kind, perr);
    }
    for (int b = 0; b < net->nbackends; b++) {
        int holds = 0;
        for (int i = 0; i < net->nlayers; i++)
            for (int k = 0; k < net->layers[i].plan.nparams; k++)
                holds |= net->layers[i].bk == b &&
                         !net->layers[i].plan.params[k].non_trainable;
        if (!holds)
            continue;
        clnet_backend *bk = &net->backends[b];
        const clnet_plugin *opt =
            on_backend(r, net->optimizer_kind, bk->name, "optimizer", err);
        if (!opt)
            return err ? err->status : CLNET_E_ARG;
        if (opt->optimizer.nslots < 0 ||
            opt->optimizer.nslots > CLNET_MAX_SLOTS)
            return clnet_fail(err, CLNET_E_PLUGIN,
                              "optimizer %s asks for %d state tensors per "
                              "parameter, at most %d are supported",
                              opt->kind, opt->optimizer.nslots,
                              CLNET_MAX_SLOTS);
        a.settings = opt_values;
        a.ninputs = 0;
        a.in = NULL;
        a.device = bk->ctx;
        if (opt->create(&a, &bk->optimizer_state, perr)) {
            bk->optimizer_state = NULL;
            return clnet_fail(err, CLNET_E_PARSE, "%s: optimizer %s: %s",
                              net->file, opt->kind, perr);
        }
        bk->optimizer = opt;
    }
    return CLNET_OK;
}

clnet_net *clnet_net_build(const clnet_topology *t, const clnet_registry *r,
                           const clnet_build_options *opt, clnet_error *err)
{
    clnet_error_clear(err);
    if (!t || !r) {
        clnet_fail(err, CLNET_E_ARG, "clnet_net_build: topology and registry "
                                     "must not be NULL");
        return NULL;
    }
    clnet_build_options defaults = {0};
    const clnet_build_options *o = opt ? opt : &defaults;
    if (o->max_batch < 0 || o->threads < 0) {
        clnet_fail(err, CLNET_E_ARG, "batch and threads must not be negative");
        return NULL;
    }
    /* the command line's device, else the configuration's, else cpu */
    const clnet_config *cfg = o->config;
    const char *device = o->device;
    char device_from[160] = "default";
    if (device)
        snprintf(device_from, sizeof device_from, "--device");
    else if (cfg && cfg->device) {
        device = cfg->device;
        clnet_config_where(cfg, cfg->device_line, device_from,
                           sizeof device_from);
    }
    char backend[32];
    int32_t device_index;
    if (clnet_parse_device(r, device, backend, sizeof backend, &device_index,
                           err) ||
        check_overrides(o->backends, NULL, r, err)) {
        if (device == (cfg ? cfg->device : NULL))
            clnet_error_locate(err, device_from, NULL);
        return NULL;
    }

    clnet_net *net = calloc(1, sizeof *net);
    if (!net ||
        !(net->layers = calloc((size_t)t->nlayers, sizeof *net->layers)) ||
        !(net->file = strdup(t->file))) {
        clnet_fail(err, CLNET_E_NOMEM, "out of memory building the network");
        clnet_net_free(net);
        return NULL;
    }
    net->nlayers = t->nlayers;
    net->seed = o->seed;
    net->threads = o->threads                  ? o->threads
                   : cfg && cfg->threads > 0 ? cfg->threads
                                             : clnet_default_threads();
    snprintf(net->device_from, sizeof net->device_from, "%s", device_from);

    clnet_value opt_values[CLNET_MAX_SETTINGS], loss_values[CLNET_MAX_SETTINGS];
    if (parse_train_line(net, t, r, opt_values, loss_values, err) ||
        clnet_graph_resolve(net, t, r, err))
        goto fail;
    net->max_batch = o->max_batch ? o->max_batch : net->default_batch;
    /* every shape and parameter from the kinds' definitions, then the
     * backends, then the memory plan: nothing sized by the batch exists
     * before the plan is checked */
    for (int i = 0; i < net->nlayers; i++)
        if (infer_layer(net, t, i, err))
            goto fail;
    clnet_net_layer *last = &net->layers[net->nlayers - 1];
    net->classes = (int32_t)last->out_size;
    if (net->nlayers < 2 || net->classes < 2) {
        clnet_fail(err, CLNET_E_SHAPE,
                   "%s:%d:%d: the last layer must give at least 2 class "
                   "scores, it gives %d",
                   t->file, last->line, last->col, net->classes);
        goto fail;
    }
    net->fused = net->loss->loss.can_fuse_softmax &&
                 last->plan.output_softmax && !last->plan.alias_input;
    for (int i = 0; i < net->nlayers; i++)
        if (place_layer(net, t, r, o, i, backend, device_index, err))
            goto fail;
    if (check_overrides(o->backends, net, r, err))
        goto fail;
    if (plan_gradients(net, err))
        goto fail;
    clnet_net_plan_in_place(net, o->keep_outputs);
    if (clnet_net_plan_check(net, r, o->max_memory, err))
        goto fail;
    for (int i = 0; i < net->nlayers; i++)
        if (check_plan_sizes(net, t, &t->layers[i], &net->layers[i],
                             net->max_batch, err))
            goto fail;
    for (int i = 0; i < net->nlayers; i++)
        if (create_layer(net, t, i, err))
            goto fail;
    net->fuse_off = o->no_fusion;
    if (create_training(net, r, opt_values, loss_values, err) ||
        clnet_net_plan_memory(net, err) || clnet_net_plan_fusion(net, err))
        goto fail;
    net->topo_hash = topology_hash(net);
    return net;
fail:
    clnet_net_free(net);
    return NULL;
}

void clnet_net_free(clnet_net *net)
{
    if (!net)
        return;
    free(net->reduce_buf);
    clnet_dist_free(net);
    if (net->layers)
        clnet_net_free_fusion(net);
    clnet_net_release_memory(net);
    for (int i = 0; i < net->nlayers && net->layers; i++) {
        clnet_net_layer *L = &net->layers[i];
        if (L->state)
            L->plugin->destroy(L->state);
    }
    if (net->loss_state)
        net->loss->destroy(net->loss_state);
    clnet_backends_close(net);
    free(net->layers);
    free(net->file);
    free(net);
}

int64_t clnet_net_param_count(const clnet_net *net)
{
    return net ? (int64_t)net->total_params : 0;
}

double clnet_net_flops(const clnet_net *net)
{
    double f = 0;
    for (int i = 0; net && i < net->nlayers; i++)
        f += net->layers[i].plan.flops_forward;
    return f;
}

int32_t clnet_net_input_size(const clnet_net *net)
{
    return net ? (int32_t)net->layers[0].out_size : 0;
}

clnet_shape clnet_net_input_shape(const clnet_net *net)
{
    clnet_shape none = {0, 0, 0};
    return net ? net->layers[0].out : none;
}

int32_t clnet_net_classes(const clnet_net *net)
{
    return net ? net->classes : 0;
}

uint64_t clnet_net_topology_hash(const clnet_net *net)
{
    return net ? net->topo_hash : 0;
}

int32_t clnet_net_default_batch(const clnet_net *net)
{
    return net ? net->default_batch : 0;
}

int32_t clnet_net_default_epochs(const clnet_net *net)
{
    return net ? net->default_epochs : 0;
}

void clnet_net_progress(const clnet_net *net, int32_t *epochs_done,
                        int64_t *epoch_steps_done)
{
    if (epochs_done)
        *epochs_done = net ? net->progress.epoch : 0;
    if (epoch_steps_done)
        *epoch_steps_done = net ? net->progress.epoch_step : 0;
}
