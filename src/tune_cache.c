/* The tuning cache: one line per choice, "device, driver, backend, kind,
 * layer key, implementation", tab-separated, in $CLNET_CACHE_DIR/tune.tsv
 * (else $XDG_CACHE_HOME/clnet, else ~/.cache/clnet). Rewritten through a
 * temporary file and a rename. Without a cache, implementations are
 * chosen by their scores. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tune.h"

#define LINE_MAX_LEN 1024

static int cache_path(char *out, size_t len, int create)
{
    const char *dir = getenv("CLNET_CACHE_DIR");
    char base[900];
    /* the same folder as the OpenCL plugin's kernel cache */
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (dir && *dir)
        snprintf(base, sizeof base, "%s", dir);
    else if (xdg && *xdg)
        snprintf(base, sizeof base, "%s/clnet", xdg);
    else if (home && *home)
        snprintf(base, sizeof base, "%s/.cache/clnet", home);
    else
        return -1;
    if (create) {
        char tmp[900];
        snprintf(tmp, sizeof tmp, "%s", base);
        for (char *p = tmp + 1; *p; p++)
            if (*p == '/') {
                *p = '\0';
                mkdir(tmp, 0755);
                *p = '/';
            }
        mkdir(tmp, 0755);
    }
    snprintf(out, len, "%s/tune.tsv", base);
    return 0;
}

int clnet_tune_cache_file(char *out, size_t len)
{
    return cache_path(out, len, 0);
}

void clnet_tune_key(const clnet_create_args *args, const char *kind,
                    int32_t batch, char *out, size_t len)
{
    (void)kind;
    int n = snprintf(out, len, "in=%dx%dx%d;batch=%d;s=", args->in[0].h,
                     args->in[0].w, args->in[0].c, batch);
    for (int k = 1; k < args->ninputs && n > 0 && (size_t)n < len; k++)
        n += snprintf(out + n, len - (size_t)n, "in%d=%dx%dx%d;", k,
                      args->in[k].h, args->in[k].w, args->in[k].c);
    /* settings: as many as fit; they are the same table for every
     * implementation of a kind */
    for (int i = 0; i < CLNET_MAX_SETTINGS && n > 0 && (size_t)n < len; i++) {
        const clnet_value *v = &args->settings[i];
        if (!v->i[0] && !v->i[1] && !v->i[2] && v->f == 0)
            continue;
        n += snprintf(out + n, len - (size_t)n, "%d:%d,%d,%d,%g;", i, v->i[0],
                      v->i[1], v->i[2], v->f);
    }
}

static void line_prefix(const clnet_backend *b, const char *kind,
                        const char *key, char *out, size_t len)
{
    snprintf(out, len, "%s\t%s\t%s\t%s\t%s\t", b->info.name,
             b->info.driver_version, b->name, kind, key);
}

int clnet_tune_lookup(const clnet_backend *b, const char *kind,
                      const char *key, char *impl, size_t len)
{
    char path[1024], prefix[LINE_MAX_LEN], line[LINE_MAX_LEN];
    if (cache_path(path, sizeof path, 0))
        return 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    line_prefix(b, kind, key, prefix, sizeof prefix);
    size_t pl = strlen(prefix);
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, prefix, pl) == 0) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(impl, len, "%s", line + pl);
            found = 1; /* the last line for a key wins */
        }
    }
    fclose(f);
    return found;
}

int clnet_tune_store(const clnet_backend *b, const char *kind,
                     const char *key, const char *impl, clnet_error *err)
{
    char path[1024], tmp[1100], prefix[LINE_MAX_LEN], line[LINE_MAX_LEN];
    if (cache_path(path, sizeof path, 1))
        return clnet_fail(err, CLNET_E_IO, "no cache folder: set "
                          "CLNET_CACHE_DIR or HOME");
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *out = fopen(tmp, "w");
    if (!out)
        return clnet_fail(err, CLNET_E_IO, "%s: cannot write", tmp);
    line_prefix(b, kind, key, prefix, sizeof prefix);
    size_t pl = strlen(prefix);
    FILE *in = fopen(path, "r");
    if (in) {
        while (fgets(line, sizeof line, in))
            if (strncmp(line, prefix, pl) != 0)
                fputs(line, out);
        fclose(in);
    }
    fprintf(out, "%s%s\n", prefix, impl);
    if (fclose(out) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return clnet_fail(err, CLNET_E_IO, "%s: cannot write", path);
    }
    return CLNET_OK;
}
