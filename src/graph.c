/* The network's graph: names every topology line (name= or KIND_N) and
 * resolves `inputs=` and `from=` into each layer's inputs, checking the
 * rules of DESIGN.md ("Networks that branch") with located messages:
 * names refer to lines above, no cycle, every layer but the last read,
 * and each kind given as many inputs as it takes. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "strset.h"


int clnet_graph_kind_words(const clnet_registry *r, const char **words,
                           int max)
{
    int n = 0;
    for (int i = 0; i < clnet_registry_count(r) && n < max - 1; i++) {
        const clnet_plugin *p = clnet_registry_get(r, i, NULL);
        if (p->role == CLNET_ROLE_KIND)
            words[n++] = p->kind;
    }
    words[n] = NULL;
    return n;
}

static int valid_name(const char *s)
{
    if (!*s || strlen(s) >= 64)
        return 0;
    for (; *s; s++)
        if (!(*s == '_' || *s == '-' || *s == '.' ||
              (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
              (*s >= 'A' && *s <= 'Z')))
            return 0;
    return 1;
}

/* Kinds and names, line by line. */
static int name_layers(clnet_net *net, const clnet_topology *t,
                       const clnet_registry *r, clnet_strset *names,
                       clnet_error *err)
{
    const char *kinds[CLNET_GRAPH_MAX_KINDS + 1];
    int nkinds = clnet_graph_kind_words(r, kinds, CLNET_GRAPH_MAX_KINDS + 1);
    int counts[CLNET_GRAPH_MAX_KINDS] = {0};
    for (int i = 0; i < t->nlayers; i++) {
        const clnet_topo_line *l = &t->layers[i];
        clnet_net_layer *L = &net->layers[i];
        L->line = l->line;
        L->col = l->col;
        int k = 0;
        while (k < nkinds && strcmp(kinds[k], l->kind) != 0)
            k++;
        if (k == nkinds) {
            char msg[CLNET_ERRLEN];
            const clnet_plugin *p = clnet_registry_find(r, l->kind, NULL);
            if (p && (p->role == CLNET_ROLE_LOSS ||
                      p->role == CLNET_ROLE_OPTIMIZER))
                return clnet_fail(err, CLNET_E_PARSE,
                                  "%s:%d:%d: '%s' is a %s, not a layer; set "
                                  "it on the 'train' line",
                                  t->file, l->line, l->col, l->kind,
                                  p->role == CLNET_ROLE_LOSS ? "loss"
                                                             : "optimizer");
            snprintf(msg, sizeof msg, "%s:%d:%d: unknown layer '%s'",
                     t->file, l->line, l->col, l->kind);
            clnet_append_suggestion(msg, sizeof msg, l->kind, kinds);
            return clnet_fail(err, CLNET_E_PARSE, "%s", msg);
        }
        L->kind = clnet_registry_kind(r, l->kind);
        if ((i == 0) != (strcmp(l->kind, "input") == 0))
            return clnet_fail(err, CLNET_E_PARSE,
                              i == 0 ? "%s:%d:%d: the first layer must be "
                                       "'input' (e.g. 'input shape=28x28x1'), "
                                       "got '%s'"
                                     : "%s:%d:%d: '%s' may only be the first "
                                       "line",
                              t->file, l->line, l->col, l->kind);
        const clnet_topo_setting *nm = clnet_topo_find(l, "name");
        if (nm) {
            if (!valid_name(nm->value))
                return clnet_fail(err, CLNET_E_PARSE,
                                  "%s:%d:%d: a name is 1 to 63 letters, "
                                  "digits, '_', '-' or '.', got '%s'",
                                  t->file, nm->line, nm->value_col, nm->value);
            snprintf(L->name, sizeof L->name, "%s", nm->value);
        } else {
            snprintf(L->name, sizeof L->name, "%s_%d", l->kind, ++counts[k]);
        }
        /* a set, not a scan of the layers above: 150,000 lines took
         * minutes */
        int j = clnet_strset_put(names, L->name, i);
        if (j == -2)
            return clnet_fail(err, CLNET_E_NOMEM, "out of memory");
        if (j >= 0)
            return clnet_fail(err, CLNET_E_PARSE,
                              "%s:%d:%d: the name '%s' is already used by "
                              "the layer on line %d",
                              t->file, l->line, l->col, L->name,
                              net->layers[j].line);
    }
    return CLNET_OK;
}

/* Whether layer `from` reads layer `target`, following only references
 * already resolved (those to lines above). */
static int reaches(const clnet_net *net, int from, int target, int depth)
{
    if (from == target)
        return 1;
    if (depth > net->nlayers)
        return 0;
    const clnet_net_layer *L = &net->layers[from];
    for (int k = 0; k < L->ninputs; k++)
        if (L->inputs[k].named < from &&
            reaches(net, L->inputs[k].named, target, depth + 1))
            return 1;
    return 0;
}

/* Appends the layers a comma-separated list names to layer i's inputs. */
static int add_named(clnet_net *net, const clnet_topology *t, int i,
                     const clnet_topo_setting *st, const clnet_strset *names,
                     clnet_error *err)
{
    clnet_net_layer *L = &net->layers[i];
    const char *p = st->value;
    if (!*p)
        return clnet_fail(err, CLNET_E_PARSE,
                          "%s:%d:%d: %s= needs one or more layer names, "
                          "separated by commas",
                          t->file, st->line, st->value_col, st->key);
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        int col = st->value_col + (int)(p - st->value);
        char name[64];
        if (n == 0 || n >= sizeof name)
            return clnet_fail(err, CLNET_E_PARSE,
                              "%s:%d:%d: expected a layer name in %s=",
                              t->file, st->line, col, st->key);
        memcpy(name, p, n);
        name[n] = '\0';
        int j = clnet_strset_get(names, name);
        if (j < 0) {
            const char **words = malloc(sizeof *words * (size_t)(i + 1));
            if (!words)
                return clnet_fail(err, CLNET_E_NOMEM, "out of memory");
            for (int k = 0; k < i; k++)
                words[k] = net->layers[k].name;
            words[i] = NULL;
            char msg[CLNET_ERRLEN];
            snprintf(msg, sizeof msg,
                     "%s:%d:%d: no layer above is named '%s'", t->file,
                     st->line, col, name);
            clnet_append_suggestion(msg, sizeof msg, name, words);
            free(words);
            return clnet_fail(err, CLNET_E_PARSE, "%s", msg);
        }
        if (j == i)
            return clnet_fail(err, CLNET_E_PARSE,
                              "%s:%d:%d: %s reads itself, a cycle; name a "
                              "layer above it",
                              t->file, st->line, col, name);
        if (L->ninputs == CLNET_MAX_INPUTS)
            return clnet_fail(err, CLNET_E_PARSE,
                              "%s:%d:%d: a layer reads at most %d inputs",
                              t->file, st->line, col, CLNET_MAX_INPUTS);
        L->inputs[L->ninputs++].named = j;
        p = comma ? comma + 1 : p + n;
        if (comma && !*p)
            return clnet_fail(err, CLNET_E_PARSE,
                              "%s:%d:%d: a layer name must follow the comma",
                              t->file, st->line, col + (int)n);
    }
    return CLNET_OK;
}

/* A reference to a line below: a cycle when that line reads this one,
 * else a name used before its line. */
static int later_reference(const clnet_net *net, const clnet_topology *t,
                           int i, clnet_error *err)
{
    const clnet_net_layer *L = &net->layers[i];
    for (int k = 0; k < L->ninputs; k++) {
        int j = L->inputs[k].named;
        if (j < i)
            continue;
        const clnet_net_layer *J = &net->layers[j];
        if (reaches(net, j, i, 0) || j == i)
            return clnet_fail(err, CLNET_E_PARSE,
                              "%s:%d:%d: %s reads %s (line %d), which reads "
                              "%s: a cycle; a layer reads only layers above "
                              "it",
                              t->file, L->line, L->col, L->name, J->name,
                              J->line, L->name);
        return clnet_fail(err, CLNET_E_PARSE,
                          "%s:%d:%d: %s reads %s, which is defined later (line "
                          "%d); a layer reads only layers above it",
                          t->file, L->line, L->col, L->name, J->name, J->line);
    }
    return CLNET_OK;
}

static int resolve_inputs(clnet_net *net, const clnet_topology *t,
                          const clnet_strset *names, clnet_error *err)
{
    for (int i = 1; i < t->nlayers; i++) {
        const clnet_topo_line *l = &t->layers[i];
        clnet_net_layer *L = &net->layers[i];
        const clnet_topo_setting *in = clnet_topo_find(l, "inputs");
        const clnet_topo_setting *from = clnet_topo_find(l, "from");
        const clnet_kind_ops *d = &L->kind->def;
        if (in && from)
            return clnet_fail(err, CLNET_E_PARSE,
                              "%s:%d:%d: give inputs= (every input) or from= "
                              "(merged with the line above), not both",
                              t->file, from->line, from->col);
        if (from && d->max_inputs < 2)
            return clnet_fail(err, CLNET_E_PARSE,
                              "%s:%d:%d: from= names tensors to merge with the "
                              "line above, and %s reads one input; use "
                              "inputs=NAME to read another layer",
                              t->file, from->line, from->col, l->kind);
        int rc = CLNET_OK;
        if (in) {
            rc = add_named(net, t, i, in, names, err);
        } else {
            L->inputs[L->ninputs++].named = i - 1;
            if (from)
                rc = add_named(net, t, i, from, names, err);
        }
        if (rc)
            return rc;
    }
    for (int i = 1; i < t->nlayers; i++) {
        int rc = later_reference(net, t, i, err);
        if (rc)
            return rc;
    }
    return CLNET_OK;
}

/* Input counts against the kinds, and every layer but the last read. */
static int check_graph(clnet_net *net, const clnet_topology *t,
                       clnet_error *err)
{
    for (int i = 0; i < t->nlayers; i++) {
        clnet_net_layer *L = &net->layers[i];
        const clnet_kind_ops *d = &L->kind->def;
        if (i > 0 && (L->ninputs < d->min_inputs || L->ninputs > d->max_inputs))
            return clnet_fail(
                err, CLNET_E_PARSE,
                d->min_inputs == d->max_inputs
                    ? "%s:%d:%d: %s reads %d input%s, it was given %d%s"
                    : "%s:%d:%d: %s reads at least %d input%s, it was given "
                      "%d%s",
                t->file, L->line, L->col, L->kind->kind, d->min_inputs,
                d->min_inputs == 1 ? "" : "s", L->ninputs,
                d->min_inputs > 1 ? " (name the others with from= or inputs=)"
                                  : "");
        for (int k = 0; k < L->ninputs; k++)
            net->layers[L->inputs[k].named].readers++;
    }
    for (int i = 0; i < t->nlayers - 1; i++) {
        const clnet_net_layer *L = &net->layers[i];
        if (!L->readers)
            return clnet_fail(err, CLNET_E_PARSE,
                              "%s:%d:%d: no layer reads %s's output; only the "
                              "last layer may be left unread (read it with "
                              "inputs= or from=, or remove it)",
                              t->file, L->line, L->col, L->name);
    }
    return CLNET_OK;
}

int clnet_graph_resolve(clnet_net *net, const clnet_topology *t,
                        const clnet_registry *r, clnet_error *err)
{
    clnet_strset names;
    if (clnet_strset_init(&names, (size_t)t->nlayers))
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory building the "
                                              "network");
    int rc = name_layers(net, t, r, &names, err);
    if (!rc)
        rc = resolve_inputs(net, t, &names, err);
    if (!rc)
        rc = check_graph(net, t, err);
    clnet_strset_free(&names);
    return rc;
}
