/* The configuration file: the defaults a user sets once for every run
 * (the device, per-kind and per-name backends, threads, the cache folder,
 * per-device OpenCL build options), in the topology files' line syntax
 * with the same located errors. Found through an explicit path (the
 * tool's --config), $CLNET_CONFIG, or $XDG_CONFIG_HOME/clnet/config
 * (~/.config/clnet/config). Its settings rank below the command line and
 * a layer's own backend= (network.c applies them). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "net.h"

static void free_lists(clnet_config *c)
{
    for (int i = 0; i < c->nrules; i++) {
        free(c->rules[i].key);
        free(c->rules[i].value);
    }
    free(c->rules);
    for (int i = 0; i < c->nbuild; i++)
        free(c->build[i].options);
    free(c->build);
}

void clnet_config_free(clnet_config *c)
{
    if (!c)
        return;
    free_lists(c);
    free(c->file);
    free(c->device);
    free(c->cache_dir);
    free(c);
}

/* "FILE:LINE", where a setting came from, into buf. */
void clnet_config_where(const clnet_config *c, int line, char *buf,
                        size_t len)
{
    snprintf(buf, len, "%s:%d", c && c->file ? c->file : "config", line);
}

static const char *const words[] = {"device", "backend", "threads", "cache",
                                    "opencl", NULL};

/* Refuses, located and with the nearest word, a setting of line l that
 * is not one of keys (NULL-terminated). */
static int only_keys(const clnet_config *c, const clnet_topo_line *l,
                     const char *const *keys, clnet_error *err)
{
    for (int s = 0; s < l->nsettings; s++) {
        const clnet_topo_setting *st = &l->settings[s];
        int k = 0;
        while (keys[k] && strcmp(keys[k], st->key))
            k++;
        if (!keys[k]) {
            char msg[CLNET_ERRLEN];
            snprintf(msg, sizeof msg, "%s:%d:%d: '%s' takes no setting '%s'",
                     c->file, st->line, st->col, l->kind, st->key);
            clnet_append_suggestion(msg, sizeof msg, st->key, keys);
            return clnet_fail(err, CLNET_E_PARSE, "%s", msg);
        }
    }
    return CLNET_OK;
}

static int need(const clnet_config *c, const clnet_topo_line *l,
                const char *key, const char *example, clnet_error *err)
{
    if (clnet_topo_find(l, key))
        return CLNET_OK;
    return clnet_fail(err, CLNET_E_PARSE, "%s:%d:%d: '%s' needs %s= (e.g. "
                                          "'%s')",
                      c->file, l->line, l->col, l->kind, key, example);
}

/* A whole number in [lo, hi] from a setting, or an error at its value. */
static int number(const clnet_config *c, const clnet_topo_setting *s,
                  long lo, long hi, long *out, clnet_error *err)
{
    char *end;
    errno = 0;
    long v = strtol(s->value, &end, 10);
    if (!*s->value || *end || errno || v < lo || v > hi)
        return clnet_fail(err, CLNET_E_PARSE,
                          "%s:%d:%d: %s= takes a whole number from %ld to "
                          "%ld, got '%s'",
                          c->file, s->line, s->value_col, s->key, lo, hi,
                          s->value);
    *out = v;
    return CLNET_OK;
}

static int add_rule(clnet_config *c, const clnet_topo_setting *s,
                    clnet_error *err)
{
    /* BACKEND[/IMPL[@SET]], as --backend takes it */
    const char *v = s->value;
    size_t n = strcspn(v, "/@");
    if (n == 0 || strchr(v, ',') || strchr(v, '='))
        return clnet_fail(err, CLNET_E_PARSE,
                          "%s:%d:%d: %s= takes BACKEND[/IMPLEMENTATION"
                          "[@SET]], e.g. opencl or opencl/im2col-gemm, got "
                          "'%s'",
                          c->file, s->line, s->value_col, s->key, v);
    clnet_config_rule *g = realloc(c->rules, sizeof *g * (size_t)(c->nrules + 1));
    if (!g)
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory reading %s",
                          c->file);
    c->rules = g;
    clnet_config_rule *r = &c->rules[c->nrules];
    r->key = strdup(s->key);
    r->value = strdup(v);
    r->line = s->line;
    if (!r->key || !r->value) {
        free(r->key);
        free(r->value);
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory reading %s",
                          c->file);
    }
    c->nrules++;
    return CLNET_OK;
}

static int set_string(char **dst, int *line_dst, const char *v, int line,
                      const char *file, clnet_error *err)
{
    char *copy = strdup(v);
    if (!copy)
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory reading %s",
                          file);
    free(*dst);
    *dst = copy;
    *line_dst = line;
    return CLNET_OK;
}

static int read_line(clnet_config *c, const clnet_topo_line *l,
                     clnet_error *err)
{
    const clnet_topo_setting *s;
    if (!strcmp(l->kind, "device")) {
        static const char *const keys[] = {"default", NULL};
        if (only_keys(c, l, keys, err) ||
            need(c, l, "default", "device default=opencl", err))
            return err ? err->status : CLNET_E_PARSE;
        s = clnet_topo_find(l, "default");
        return set_string(&c->device, &c->device_line, s->value, l->line,
                          c->file, err);
    }
    if (!strcmp(l->kind, "backend")) {
        if (l->nsettings == 0)
            return clnet_fail(err, CLNET_E_PARSE,
                              "%s:%d:%d: 'backend' needs KIND=BACKEND or "
                              "NAME=BACKEND settings (e.g. 'backend "
                              "conv2d=opencl dense_2=cpu')",
                              c->file, l->line, l->col);
        for (int k = 0; k < l->nsettings; k++)
            if (add_rule(c, &l->settings[k], err))
                return err ? err->status : CLNET_E_PARSE;
        return CLNET_OK;
    }
    if (!strcmp(l->kind, "threads")) {
        static const char *const keys[] = {"count", NULL};
        long v;
        if (only_keys(c, l, keys, err) ||
            need(c, l, "count", "threads count=4", err) ||
            number(c, clnet_topo_find(l, "count"), 1, 1024, &v, err))
            return err ? err->status : CLNET_E_PARSE;
        c->threads = (int32_t)v;
        c->threads_line = l->line;
        return CLNET_OK;
    }
    if (!strcmp(l->kind, "cache")) {
        static const char *const keys[] = {"dir", NULL};
        if (only_keys(c, l, keys, err) ||
            need(c, l, "dir", "cache dir=/var/cache/clnet", err))
            return err ? err->status : CLNET_E_PARSE;
        s = clnet_topo_find(l, "dir");
        if (s->value[0] != '/')
            return clnet_fail(err, CLNET_E_PARSE,
                              "%s:%d:%d: dir= takes an absolute folder, got "
                              "'%s'",
                              c->file, s->line, s->value_col, s->value);
        const char *env = getenv("CLNET_CACHE_DIR");
        c->env_cache = env && *env;
        return set_string(&c->cache_dir, &c->cache_line, s->value, l->line,
                          c->file, err);
    }
    /* opencl device=N build_options=-cl-mad-enable,-cl-fast-relaxed-math */
    static const char *const keys[] = {"device", "build_options", NULL};
    long dev;
    if (only_keys(c, l, keys, err) ||
        need(c, l, "device", "opencl device=0 build_options=-cl-mad-enable",
             err) ||
        need(c, l, "build_options",
             "opencl device=0 build_options=-cl-mad-enable", err) ||
        number(c, clnet_topo_find(l, "device"), 0, 63, &dev, err))
        return err ? err->status : CLNET_E_PARSE;
    s = clnet_topo_find(l, "build_options");
    clnet_config_build *g = realloc(c->build, sizeof *g * (size_t)(c->nbuild + 1));
    char *opts = strdup(s->value);
    if (!g || !opts) {
        free(opts);
        if (g)
            c->build = g;
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory reading %s",
                          c->file);
    }
    /* commas separate the options: a value holds no space */
    for (char *p = opts; *p; p++)
        if (*p == ',')
            *p = ' ';
    c->build = g;
    char env[64];
    snprintf(env, sizeof env, "CLNET_CL_BUILD_OPTIONS_%ld", dev);
    const char *have = getenv(env);
    c->build[c->nbuild++] =
        (clnet_config_build){(int32_t)dev, opts, l->line, have && *have};
    return CLNET_OK;
}

clnet_config *clnet_config_parse(const char *text, const char *name,
                                 clnet_error *err)
{
    clnet_error_clear(err);
    if (!text || !name) {
        clnet_fail(err, CLNET_E_ARG, "clnet_config_parse: text and name must "
                                     "not be NULL");
        return NULL;
    }
    clnet_config *c = calloc(1, sizeof *c);
    if (!c || !(c->file = strdup(name))) {
        free(c);
        clnet_fail(err, CLNET_E_NOMEM, "out of memory reading %s", name);
        return NULL;
    }
    clnet_topo_line *lines;
    int n;
    if (clnet_lines_parse(text, c->file, &lines, &n, err)) {
        clnet_config_free(c);
        return NULL;
    }
    int rc = CLNET_OK;
    for (int i = 0; i < n && !rc; i++) {
        int k = 0;
        while (words[k] && strcmp(words[k], lines[i].kind))
            k++;
        if (!words[k]) {
            char msg[CLNET_ERRLEN];
            snprintf(msg, sizeof msg,
                     "%s:%d:%d: unknown configuration line '%s' (the "
                     "words are device, backend, threads, cache and "
                     "opencl)",
                     c->file, lines[i].line, lines[i].col, lines[i].kind);
            clnet_append_suggestion(msg, sizeof msg, lines[i].kind, words);
            rc = clnet_fail(err, CLNET_E_PARSE, "%s", msg);
        } else {
            rc = read_line(c, &lines[i], err);
        }
    }
    clnet_lines_free(lines, n);
    if (rc) {
        clnet_config_free(c);
        return NULL;
    }
    return c;
}

clnet_config *clnet_config_load(const char *path, clnet_error *err)
{
    clnet_error_clear(err);
    char found[4096];
    const char *how = "--config";
    int must_exist = 1;
    if (!path || !*path) {
        const char *env = getenv("CLNET_CONFIG");
        const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
        if (env && *env) {
            snprintf(found, sizeof found, "%s", env);
            how = "$CLNET_CONFIG";
        } else if (xdg && *xdg) {
            snprintf(found, sizeof found, "%s/clnet/config", xdg);
            how = "$XDG_CONFIG_HOME";
            must_exist = 0;
        } else if (home && *home) {
            snprintf(found, sizeof found, "%s/.config/clnet/config", home);
            how = "~/.config";
            must_exist = 0;
        } else {
            found[0] = '\0';
            must_exist = 0;
        }
        path = found;
    }
    struct stat st;
    if (!must_exist && (!*path || stat(path, &st) != 0)) {
        /* no file where none was asked for: an empty configuration */
        clnet_config *c = calloc(1, sizeof *c);
        if (!c || (*path && !(c->file = strdup(path)))) {
            free(c);
            clnet_fail(err, CLNET_E_NOMEM, "out of memory");
            return NULL;
        }
        c->absent = 1;
        c->found_by = how;
        return c;
    }
    char *text = clnet_read_text_file(path, "configuration file", err);
    if (!text)
        return NULL;
    clnet_config *c = clnet_config_parse(text, path, err);
    free(text);
    if (c)
        c->found_by = how;
    return c;
}

const char *clnet_config_file(const clnet_config *c)
{
    return c && !c->absent ? c->file : NULL;
}

const char *clnet_config_device(const clnet_config *c)
{
    return c ? c->device : NULL;
}

int32_t clnet_config_threads(const clnet_config *c)
{
    return c ? c->threads : 0;
}

int clnet_config_apply_environment(const clnet_config *c, clnet_error *err)
{
    clnet_error_clear(err);
    if (!c)
        return CLNET_OK;
    /* the environment, like the command line, ranks above the file */
    const char *cache = getenv("CLNET_CACHE_DIR");
    if (c->cache_dir && !(cache && *cache) &&
        setenv("CLNET_CACHE_DIR", c->cache_dir, 1))
        return clnet_fail(err, CLNET_E_NOMEM, "cannot set CLNET_CACHE_DIR");
    for (int i = 0; i < c->nbuild; i++) {
        char name[64];
        snprintf(name, sizeof name, "CLNET_CL_BUILD_OPTIONS_%d",
                 (int)c->build[i].device);
        const char *have = getenv(name);
        if (!(have && *have) && setenv(name, c->build[i].options, 1))
            return clnet_fail(err, CLNET_E_NOMEM, "cannot set %s", name);
    }
    return CLNET_OK;
}

const char *clnet_config_backend(const clnet_config *c, const char *kind,
                                 const char *name, int *line)
{
    /* a layer's name is more specific than its kind; among lines naming
     * the same, the last one wins, as later lines refine */
    const clnet_config_rule *by_name = NULL, *by_kind = NULL;
    for (int i = 0; c && i < c->nrules; i++) {
        if (!strcmp(c->rules[i].key, name))
            by_name = &c->rules[i];
        else if (!strcmp(c->rules[i].key, kind))
            by_kind = &c->rules[i];
    }
    const clnet_config_rule *r = by_name ? by_name : by_kind;
    if (r)
        *line = r->line;
    return r ? r->value : NULL;
}

/* One row of `clnet config`: what, its value, where it came from. */
static void row(FILE *out, const char *what, const char *value,
                const char *from)
{
    fprintf(out, "%-12s %-36s %s\n", what, value, from);
}

int clnet_config_print(const clnet_config *c, const clnet_build_options *o,
                       FILE *out, clnet_error *err)
{
    clnet_error_clear(err);
    if (!out)
        return clnet_fail(err, CLNET_E_ARG, "clnet_config_print: no output");
    clnet_build_options none = {0};
    if (!o)
        o = &none;
    char where[300], value[300];
    if (clnet_config_file(c))
        fprintf(out, "Configuration file: %s (found through %s)\n",
                c->file, c->found_by);
    else if (c && c->file)
        fprintf(out, "Configuration file: none (%s does not exist)\n",
                c->file);
    else
        fprintf(out, "Configuration file: none\n");
    if (o->device)
        row(out, "device", o->device, "--device");
    else if (c && c->device) {
        clnet_config_where(c, c->device_line, where, sizeof where);
        row(out, "device", c->device, where);
    } else
        row(out, "device", "cpu", "default");
    if (o->threads) {
        snprintf(value, sizeof value, "%d", (int)o->threads);
        row(out, "threads", value, "--threads");
    } else if (c && c->threads) {
        snprintf(value, sizeof value, "%d", (int)c->threads);
        clnet_config_where(c, c->threads_line, where, sizeof where);
        row(out, "threads", value, where);
    } else {
        snprintf(value, sizeof value, "%d", (int)clnet_default_threads());
        row(out, "threads", value,
            getenv("OMP_NUM_THREADS") ? "$OMP_NUM_THREADS"
                                      : "default (the CPUs this process may "
                                        "use)");
    }
    const char *env = getenv("CLNET_CACHE_DIR");
    if (c && c->cache_dir && !c->env_cache) {
        clnet_config_where(c, c->cache_line, where, sizeof where);
        row(out, "cache", c->cache_dir, where);
    } else if (env && *env) {
        row(out, "cache", env, "$CLNET_CACHE_DIR");
    } else {
        const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        if (xdg && *xdg)
            snprintf(value, sizeof value, "%s/clnet", xdg);
        else
            snprintf(value, sizeof value, "%s/.cache/clnet",
                     home ? home : "~");
        row(out, "cache", value, "default");
    }
    /* backend rules: the command line's first, as they rank first */
    for (const char *p = o->backends; p && *p;) {
        size_t n = strcspn(p, ",");
        snprintf(value, sizeof value, "%.*s", (int)n, p);
        row(out, "backend", value, "--backend");
        p += n + (p[n] == ',');
    }
    for (int i = 0; c && i < c->nrules; i++) {
        snprintf(value, sizeof value, "%s=%s", c->rules[i].key,
                 c->rules[i].value);
        clnet_config_where(c, c->rules[i].line, where, sizeof where);
        row(out, "backend", value, where);
    }
    if ((!c || !c->nrules) && !o->backends)
        row(out, "backend", "(none)", "each layer's backend= in its "
                                      "topology file, else the device");
    const char *all = getenv("CLNET_CL_BUILD_OPTIONS");
    if (all && *all)
        row(out, "opencl", all, "$CLNET_CL_BUILD_OPTIONS (every device)");
    for (int i = 0; c && i < c->nbuild; i++) {
        char what[32];
        snprintf(what, sizeof what, "opencl:%d", (int)c->build[i].device);
        if (c->build[i].env_set) {
            char name[64];
            snprintf(name, sizeof name, "CLNET_CL_BUILD_OPTIONS_%d",
                     (int)c->build[i].device);
            snprintf(where, sizeof where, "$%s", name);
            row(out, what, getenv(name) ? getenv(name) : "", where);
        } else {
            clnet_config_where(c, c->build[i].line, where, sizeof where);
            row(out, what, c->build[i].options, where);
        }
    }
    return ferror(out) ? clnet_fail(err, CLNET_E_IO, "cannot write the "
                                                     "configuration")
                       : CLNET_OK;
}
