/* Topology files: the line syntax (kind, then key=value settings, '#'
 * comments) and the typed values settings hold. What each kind accepts is
 * checked later, against its plugin's setting table, in network.c. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "strset.h"

#define MAX_TOPOLOGY_BYTES (1 << 20)

static void free_line(clnet_topo_line *l)
{
    free(l->kind);
    for (int i = 0; i < l->nsettings; i++) {
        free(l->settings[i].key);
        free(l->settings[i].value);
    }
    free(l->settings);
}

void clnet_topology_free(clnet_topology *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->nlayers; i++)
        free_line(&t->layers[i]);
    free(t->layers);
    if (t->has_train)
        free_line(&t->train);
    free(t->file);
    free(t);
}

int clnet_topology_layer_count(const clnet_topology *t)
{
    return t ? t->nlayers : 0;
}

static char *dup_range(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int is_word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* Parses one line (without its newline) into out; returns 0 for a blank
 * or comment line, 1 for a line with a kind, negative on error. */
static int parse_line(const char *file, int lineno, const char *s, size_t n,
                      clnet_topo_line *out, clnet_strset *keys,
                      clnet_error *err)
{
    memset(out, 0, sizeof *out);
    int cap = 0;
    size_t i = 0;
    int have_kind = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
            i++;
        if (i >= n || s[i] == '#')
            break;
        size_t start = i;
        while (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
               s[i] != '#')
            i++;
        const char *tok = s + start;
        size_t len = i - start;
        int col = (int)start + 1;
        if (!have_kind) {
            for (size_t k = 0; k < len; k++) {
                if (!is_word_char(tok[k])) {
                    clnet_fail(err, CLNET_E_PARSE,
                               "%s:%d:%d: expected a layer kind (a word such "
                               "as 'conv2d'), got '%.*s'",
                               file, lineno, col, (int)len, tok);
                    return -1;
                }
            }
            out->kind = dup_range(tok, len);
            out->line = lineno;
            out->col = col;
            if (!out->kind)
                return -2;
            have_kind = 1;
            continue;
        }
        const char *eq = memchr(tok, '=', len);
        if (!eq || eq == tok || eq == tok + len - 1) {
            clnet_fail(err, CLNET_E_PARSE,
                       "%s:%d:%d: expected key=value, got '%.*s'", file, lineno,
                       col, (int)len, tok);
            return -1;
        }
        size_t klen = (size_t)(eq - tok);
        if (out->nsettings == cap) {
            /* doubling: a line of 100,000 settings parses in linear time */
            cap = cap ? 2 * cap : 8;
            clnet_topo_setting *grown =
                realloc(out->settings, sizeof *grown * (size_t)cap);
            if (!grown)
                return -2;
            out->settings = grown;
        }
        clnet_topo_setting *st = &out->settings[out->nsettings];
        st->key = dup_range(tok, klen);
        st->value = dup_range(eq + 1, len - klen - 1);
        st->line = lineno;
        st->col = col;
        st->value_col = col + (int)klen + 1;
        if (!st->key || !st->value) {
            free(st->key);
            free(st->value);
            return -2;
        }
        int first = clnet_strset_put(keys, st->key, out->nsettings);
        out->nsettings++;
        if (first == -2)
            return -2;
        if (first >= 0) {
            clnet_fail(err, CLNET_E_PARSE,
                       "%s:%d:%d: '%s' is set twice on this line (first at "
                       "column %d)",
                       file, lineno, col, st->key, out->settings[first].col);
            return -1;
        }
    }
    return have_kind;
}

int clnet_lines_parse(const char *text, const char *file,
                      clnet_topo_line **out, int *count, clnet_error *err)
{
    *out = NULL;
    *count = 0;
    const char *p = text;
    /* editors on Windows start UTF-8 files with a byte-order mark */
    if (strncmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3;
    int lineno = 0, cap = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        lineno++;
        clnet_topo_line line;
        clnet_strset keys;
        int r = clnet_strset_init(&keys, 8) ? -2 : 0;
        if (!r) {
            r = parse_line(file, lineno, p, n, &line, &keys, err);
            clnet_strset_free(&keys);
        } else {
            memset(&line, 0, sizeof line);
        }
        if (r == 1 && *count == cap) {
            cap = cap ? 2 * cap : 16;
            clnet_topo_line *grown = realloc(*out, sizeof *grown * (size_t)cap);
            if (!grown)
                r = -2;
            else
                *out = grown;
        }
        if (r < 0) {
            free_line(&line);
            if (r == -2)
                clnet_fail(err, CLNET_E_NOMEM, "out of memory reading %s",
                           file);
            clnet_lines_free(*out, *count);
            *out = NULL;
            *count = 0;
            return err ? err->status : CLNET_E_PARSE;
        }
        if (r == 1)
            (*out)[(*count)++] = line;
        p = nl ? nl + 1 : p + n;
    }
    return CLNET_OK;
}

void clnet_lines_free(clnet_topo_line *lines, int count)
{
    for (int i = 0; lines && i < count; i++)
        free_line(&lines[i]);
    free(lines);
}

clnet_topology *clnet_topology_parse(const char *text, const char *name,
                                     clnet_error *err)
{
    if (!text || !name) {
        clnet_fail(err, CLNET_E_ARG, "clnet_topology_parse: text and name "
                                     "must not be NULL");
        return NULL;
    }
    clnet_topology *t = calloc(1, sizeof *t);
    if (!t || !(t->file = strdup(name))) {
        free(t);
        clnet_fail(err, CLNET_E_NOMEM, "out of memory reading %s", name);
        return NULL;
    }
    clnet_topo_line *lines;
    int n;
    if (clnet_lines_parse(text, t->file, &lines, &n, err)) {
        clnet_topology_free(t);
        return NULL;
    }
    /* the layers in order; the one train line apart */
    t->layers = lines;
    for (int i = 0; i < n; i++) {
        if (strcmp(lines[i].kind, "train") != 0) {
            t->layers[t->nlayers++] = lines[i];
            continue;
        }
        if (t->has_train) {
            clnet_fail(err, CLNET_E_PARSE,
                       "%s:%d:1: a second 'train' line (the first is on "
                       "line %d); merge them into one",
                       t->file, lines[i].line, t->train.line);
            for (int j = i; j < n; j++)
                free_line(&lines[j]);
            clnet_topology_free(t);
            return NULL;
        }
        t->train = lines[i];
        t->has_train = 1;
    }
    if (t->nlayers == 0) {
        clnet_fail(err, CLNET_E_PARSE,
                   "%s: no layers; a topology file needs at least an 'input' "
                   "line, e.g. 'input shape=28x28x1'",
                   t->file);
        clnet_topology_free(t);
        return NULL;
    }
    return t;
}

char *clnet_read_text_file(const char *path, const char *what,
                           clnet_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        clnet_fail(err, errno == ENOENT ? CLNET_E_NOTFOUND : CLNET_E_IO,
                   "%s: cannot open the %s: %s", path, what, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        clnet_fail(err, CLNET_E_ARG, "%s: a folder, not a %s", path, what);
        return NULL;
    }
    char *buf = malloc(MAX_TOPOLOGY_BYTES + 1);
    if (!buf) {
        fclose(f);
        clnet_fail(err, CLNET_E_NOMEM, "out of memory reading %s", path);
        return NULL;
    }
    size_t n = fread(buf, 1, MAX_TOPOLOGY_BYTES + 1, f);
    int bad = ferror(f), e = errno;
    fclose(f);
    if (bad) {
        free(buf);
        clnet_fail(err, CLNET_E_IO, "%s: cannot read: %s", path, strerror(e));
        return NULL;
    }
    if (n > MAX_TOPOLOGY_BYTES) {
        free(buf);
        clnet_fail(err, CLNET_E_PARSE,
                   "%s: larger than %d bytes; is it really a %s?", path,
                   MAX_TOPOLOGY_BYTES, what);
        return NULL;
    }
    if (memchr(buf, '\0', n)) {
        free(buf);
        clnet_fail(err, CLNET_E_PARSE, "%s: holds a NUL byte; a %s is plain "
                                       "text", path, what);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

clnet_topology *clnet_topology_load(const char *path, clnet_error *err)
{
    if (!path) {
        clnet_fail(err, CLNET_E_ARG, "no topology file given");
        return NULL;
    }
    char *buf = clnet_read_text_file(path, "topology file", err);
    if (!buf)
        return NULL;
    clnet_topology *t = clnet_topology_parse(buf, path, err);
    free(buf);
    return t;
}

/* Strict decimal integer; returns 0 on success. */
static int parse_int(const char *s, const char **end, long *v)
{
    if (!isdigit((unsigned char)*s) && *s != '-')
        return -1;
    errno = 0;
    char *e;
    long x = strtol(s, &e, 10);
    if (e == s || errno)
        return -1;
    *v = x;
    *end = e;
    return 0;
}

int clnet_parse_value(const clnet_setting_spec *spec, const char *text,
                      clnet_value *v, char *msg, size_t msglen)
{
    memset(v, 0, sizeof *v);
    const char *e;
    long x;
    switch (spec->type) {
    case CLNET_SET_INT:
        if (parse_int(text, &e, &x) || *e) {
            snprintf(msg, msglen, "expected a whole number for '%s', got '%s'",
                     spec->key, text);
            return -1;
        }
        if (x < spec->min || x > spec->max) {
            snprintf(msg, msglen, "'%s' must be between %.0f and %.0f, got %ld",
                     spec->key, spec->min, spec->max, x);
            return -1;
        }
        v->i[0] = (int32_t)x;
        return 0;
    case CLNET_SET_FLOAT: {
        errno = 0;
        char *fe;
        double d = strtod(text, &fe);
        if (fe == text || *fe || errno || !isfinite(d)) {
            snprintf(msg, msglen, "expected a number for '%s', got '%s'",
                     spec->key, text);
            return -1;
        }
        if (d < spec->min || d > spec->max) {
            snprintf(msg, msglen, "'%s' must be between %g and %g, got %s",
                     spec->key, spec->min, spec->max, text);
            return -1;
        }
        v->f = d;
        return 0;
    }
    case CLNET_SET_SIZE2:
    case CLNET_SET_SHAPE3: {
        int want = spec->type == CLNET_SET_SIZE2 ? 2 : 3;
        int n = 0;
        const char *p = text;
        long dims[3];
        int dangling = 0; /* an 'x' with no number after it */
        while (n < 3) {
            if (parse_int(p, &e, &x))
                break;
            dims[n++] = x;
            p = e;
            dangling = 0;
            if (*p != 'x' && *p != 'X')
                break;
            p++;
            dangling = 1;
        }
        int ok = *p == '\0' && n >= 1 && !dangling;
        if (ok && spec->type == CLNET_SET_SIZE2 && n == 1)
            dims[n++] = dims[0];
        if (ok && spec->type == CLNET_SET_SHAPE3 && n == 2)
            dims[n++] = 1;
        if (!ok || n != want) {
            snprintf(msg, msglen, "expected %s for '%s', got '%s'",
                     want == 2 ? "a size like 3x3 or 3"
                               : "a shape like 28x28x1 (height x width x "
                                 "channels)",
                     spec->key, text);
            return -1;
        }
        for (int k = 0; k < want; k++) {
            if (dims[k] < spec->min || dims[k] > spec->max) {
                snprintf(msg, msglen,
                         "each size in '%s' must be between %.0f and %.0f, "
                         "got '%s'",
                         spec->key, spec->min, spec->max, text);
                return -1;
            }
            v->i[k] = (int32_t)dims[k];
        }
        return 0;
    }
    case CLNET_SET_FLOATS: {
        const char *p = text;
        int n = 0;
        for (;;) {
            errno = 0;
            char *fe;
            double d = strtod(p, &fe);
            if (fe == p || errno || !isfinite(d) || (*fe && *fe != ',') ||
                n == CLNET_MAX_FLOATS) {
                snprintf(msg, msglen,
                         "expected 1 to %d numbers separated by commas for "
                         "'%s', got '%s'",
                         CLNET_MAX_FLOATS, spec->key, text);
                return -1;
            }
            if (d < spec->min || d > spec->max) {
                snprintf(msg, msglen,
                         "each number in '%s' must be between %g and %g, "
                         "got '%s'",
                         spec->key, spec->min, spec->max, text);
                return -1;
            }
            v->fv[n++] = d;
            if (!*fe)
                break;
            p = fe + 1;
        }
        v->i[0] = n;
        return 0;
    }
    case CLNET_SET_CHOICE: {
        const char *c = spec->choices;
        int idx = 0;
        size_t tl = strlen(text);
        while (c && *c) {
            const char *bar = strchr(c, '|');
            size_t wl = bar ? (size_t)(bar - c) : strlen(c);
            if (wl == tl && memcmp(c, text, tl) == 0) {
                v->i[0] = idx;
                return 0;
            }
            idx++;
            c = bar ? bar + 1 : c + wl;
        }
        /* suggestion from the choices */
        char words_buf[256];
        const char *words[17];
        snprintf(words_buf, sizeof words_buf, "%s", spec->choices);
        int nw = 0;
        for (char *w = strtok(words_buf, "|"); w && nw < 16;
             w = strtok(NULL, "|"))
            words[nw++] = w;
        words[nw] = NULL;
        snprintf(msg, msglen, "'%s' is not one of %s for '%s'", text,
                 spec->choices, spec->key);
        clnet_append_suggestion(msg, msglen, text, words);
        return -1;
    }
    }
    snprintf(msg, msglen, "setting '%s' has an unknown type", spec->key);
    return -1;
}

const clnet_topo_setting *clnet_topo_find(const clnet_topo_line *l,
                                          const char *key)
{
    for (int i = 0; i < l->nsettings; i++)
        if (strcmp(l->settings[i].key, key) == 0)
            return &l->settings[i];
    return NULL;
}
