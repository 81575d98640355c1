/* Plugin loader and registry: finds shared objects, refuses folders and
 * files other users could have written (before dlopen runs any of their
 * code), checks their ABI version and keeps one plugin per (kind,
 * backend, implementation). */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#ifndef CLNET_INSTALL_PLUGINDIR
#define CLNET_INSTALL_PLUGINDIR "/usr/local/lib/clnet/plugins"
#endif
/* Meson writes this file into the build tree's plugin folder. */
#define BUILD_TREE_MARKER "clnet-build-tree"

typedef struct {
    const clnet_plugin *plugin;
    void *handle;
    char *path;
} entry;

struct clnet_registry {
    int count, cap;
    entry *entries;
    int nrefused;
    char **refused;
};

clnet_registry *clnet_registry_new(clnet_error *err)
{
    clnet_openmp_defaults(); /* before any plugin brings libgomp in */
    clnet_registry *r = calloc(1, sizeof *r);
    if (!r)
        clnet_fail(err, CLNET_E_NOMEM, "out of memory creating the plugin "
                                       "registry");
    return r;
}

void clnet_registry_free(clnet_registry *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->count; i++) {
        free(r->entries[i].path);
        /* handles stay open: plugin code may still be referenced by
         * networks the caller has not freed yet, and unloading buys
         * nothing in a process that is about to end */
    }
    free(r->entries);
    for (int i = 0; i < r->nrefused; i++)
        free(r->refused[i]);
    free(r->refused);
    free(r);
}

int clnet_registry_count(const clnet_registry *r) { return r ? r->count : 0; }

const clnet_plugin *clnet_registry_get(const clnet_registry *r, int i,
                                       const char **path)
{
    if (!r || i < 0 || i >= r->count)
        return NULL;
    if (path)
        *path = r->entries[i].path;
    return r->entries[i].plugin;
}

int clnet_registry_info(const clnet_registry *r, int i,
                        clnet_plugin_info *info, clnet_error *err)
{
    clnet_error_clear(err);
    if (!r || !info || i < 0 || i >= r->count)
        return clnet_fail(err, CLNET_E_ARG,
                          "clnet_registry_info: no plugin %d (the registry "
                          "holds %d)",
                          i, r ? r->count : 0);
    const clnet_plugin *p = r->entries[i].plugin;
    static const char *const roles[] = {"", "layer", "loss", "optimizer",
                                        "device", "kind", "communicator"};
    int kind = p->role == CLNET_ROLE_KIND;
    *info = (clnet_plugin_info){
        .kind = p->kind ? p->kind : "",
        .backend = kind || !p->backend ? "" : p->backend,
        .impl = kind || !p->impl ? "" : p->impl,
        .role = (unsigned)p->role < sizeof roles / sizeof *roles
                    ? roles[p->role]
                    : "",
        .summary = p->summary ? p->summary : "",
        .path = r->entries[i].path ? r->entries[i].path : "",
        .abi = p->abi_version};
    return CLNET_OK;
}

const clnet_plugin *clnet_registry_find(const clnet_registry *r,
                                        const char *kind, const char *backend)
{
    if (!r || !kind)
        return NULL;
    for (int i = 0; i < r->count; i++) {
        const clnet_plugin *p = r->entries[i].plugin;
        if (strcmp(p->kind, kind) == 0 &&
            (!backend || strcmp(p->backend, backend) == 0))
            return p;
    }
    return NULL;
}

int clnet_registry_refused_count(const clnet_registry *r)
{
    return r ? r->nrefused : 0;
}

const char *clnet_registry_refused(const clnet_registry *r, int i)
{
    if (!r || i < 0 || i >= r->nrefused)
        return NULL;
    return r->refused[i];
}

static void refuse(clnet_registry *r, const char *fmt, const char *path,
                   const char *detail)
{
    int n = snprintf(NULL, 0, fmt, path, detail);
    char *msg = n >= 0 ? malloc((size_t)n + 1) : NULL;
    char **grown = msg ? realloc(r->refused,
                                 sizeof *grown * (size_t)(r->nrefused + 1))
                       : NULL;
    if (!grown) {
        free(msg);
        return;
    }
    snprintf(msg, (size_t)n + 1, fmt, path, detail);
    r->refused = grown;
    r->refused[r->nrefused++] = msg;
}

static int valid_role(const clnet_plugin *p)
{
    switch (p->role) {
    case CLNET_ROLE_LAYER:
        return p->create && p->destroy && p->layer.forward &&
               p->layer.backward && p->backend[0] && p->impl[0];
    case CLNET_ROLE_KIND:
        return p->def.infer && p->def.min_inputs >= 0 &&
               p->def.min_inputs <= p->def.max_inputs &&
               p->def.max_inputs <= CLNET_MAX_INPUTS;
    case CLNET_ROLE_LOSS:
        return p->create && p->destroy && p->loss.compute;
    case CLNET_ROLE_OPTIMIZER:
        return p->create && p->destroy && p->optimizer.update;
    case CLNET_ROLE_DEVICE:
        return p->device.list && p->device.open && p->device.close &&
               p->device.alloc && p->device.release && p->device.write &&
               p->device.read && p->device.finish && p->device.profile &&
               p->device.kernel_seconds && p->device.accumulate &&
               p->device.sum_squares && p->device.scale && p->device.view &&
               p->device.release_view;
    case CLNET_ROLE_COMMUNICATOR:
        return p->comm.open && p->comm.close && p->comm.abort &&
               p->comm.all_reduce && p->comm.start_all_reduce &&
               p->comm.test && p->comm.wait && p->comm.all_gather &&
               p->comm.describe;
    }
    return 0;
}

/* Why a plugin file or folder may not be trusted, as ssh judges key
 * files: NULL when it belongs to this user or root and no one else may
 * write to it; else a reason with the fix. */
static const char *loose(const struct stat *st, const char *path, char *why,
                         size_t n)
{
    if (st->st_uid != geteuid() && st->st_uid != 0) {
        snprintf(why, n,
                 "it belongs to uid %u, neither this user (uid %u) nor "
                 "root, so its owner could change the code clnet runs; "
                 "remove it or run `chown %u '%s'`",
                 (unsigned)st->st_uid, (unsigned)geteuid(),
                 (unsigned)geteuid(), path);
        return why;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(why, n,
                 "it is writable by %s (mode %03o), who could change the "
                 "code clnet runs; run `chmod go-w '%s'`",
                 st->st_mode & S_IWOTH ? "others" : "its group",
                 (unsigned)(st->st_mode & 0777), path);
        return why;
    }
    return NULL;
}

/* What can be checked before dlopen runs the file's constructors: a
 * regular file named *.so, trusted (see loose), starting with the ELF
 * magic. 0 when it may be loaded; else -1 after refusing it. */
static int check_file(clnet_registry *r, const char *path)
{
    size_t len = strlen(path);
    if (len < 4 || strcmp(path + len - 3, ".so") != 0) {
        refuse(r, "%s: refused: %s", path, "its name does not end in .so");
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        refuse(r, "%s: refused: cannot open it: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    char why[PATH_MAX + 256];
    const char *bad = NULL;
    unsigned char magic[4] = {0};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        bad = "it is not a regular file";
    else if (!(bad = loose(&st, path, why, sizeof why)) &&
             (read(fd, magic, 4) != 4 || memcmp(magic, "\177ELF", 4) != 0))
        bad = "cannot load it: it is not an ELF shared object";
    close(fd);
    if (bad) {
        refuse(r, "%s: refused: %s", path, bad);
        return -1;
    }
    return 0;
}

/* Loads one file; returns 1 when a plugin was added. */
static int load_file(clnet_registry *r, const char *path)
{
    if (check_file(r, path))
        return 0;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        refuse(r, "%s: refused: cannot load it: %s", path, dlerror());
        return 0;
    }
    clnet_plugin_entry_fn fn;
    void *sym = dlsym(h, CLNET_PLUGIN_ENTRY);
    if (!sym) {
        refuse(r, "%s: refused: it has no '%s' symbol, so it is not a clnet "
                  "plugin",
               path, CLNET_PLUGIN_ENTRY);
        dlclose(h);
        return 0;
    }
    memcpy(&fn, &sym, sizeof fn);
    const clnet_plugin *p = fn();
    if (!p) {
        refuse(r, "%s: refused: %s returned no plugin", path,
               CLNET_PLUGIN_ENTRY);
        dlclose(h);
        return 0;
    }
    if (p->abi_version != CLNET_PLUGIN_ABI_VERSION) {
        char detail[128];
        snprintf(detail, sizeof detail,
                 "it was built for plugin ABI version %u, this clnet uses "
                 "version %u; rebuild it against this clnet's plugin.h",
                 p->abi_version, CLNET_PLUGIN_ABI_VERSION);
        refuse(r, "%s: refused: %s", path, detail);
        dlclose(h);
        return 0;
    }
    if (p->struct_size != sizeof(clnet_plugin) || !p->kind || !p->backend ||
        !p->impl || !valid_role(p) || p->nsettings < 0 ||
        p->nsettings > CLNET_MAX_SETTINGS || (p->nsettings && !p->settings)) {
        refuse(r, "%s: refused: %s", path,
               "its plugin struct is incomplete (size, names, settings or "
               "the functions its role needs)");
        dlclose(h);
        return 0;
    }
    for (int i = 0; i < r->count; i++) {
        const clnet_plugin *q = r->entries[i].plugin;
        if (strcmp(q->kind, p->kind) == 0 && q->role == p->role &&
            strcmp(q->backend, p->backend) == 0 &&
            strcmp(q->impl, p->impl) == 0) {
            char detail[PATH_MAX + 128];
            snprintf(detail, sizeof detail,
                     "duplicate of %s/%s/%s already loaded from %s", p->kind,
                     p->backend, p->impl, r->entries[i].path);
            refuse(r, "%s: refused: %s", path, detail);
            dlclose(h);
            return 0;
        }
    }
    if (r->count == r->cap) {
        int cap = r->cap ? r->cap * 2 : 16;
        entry *grown = realloc(r->entries, sizeof *grown * (size_t)cap);
        if (!grown) {
            dlclose(h);
            return 0;
        }
        r->entries = grown;
        r->cap = cap;
    }
    char *copy = strdup(path);
    if (!copy) {
        dlclose(h);
        return 0;
    }
    r->entries[r->count++] = (entry){p, h, copy};
    return 1;
}

static int same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Whether two settings tables say the same: a layer plugin indexes the
 * values the core parses with its kind's table by its own. */
static int same_settings(const clnet_plugin *a, const clnet_plugin *b)
{
    if (a->nsettings != b->nsettings)
        return 0;
    for (int i = 0; i < a->nsettings; i++) {
        const clnet_setting_spec *x = &a->settings[i], *y = &b->settings[i];
        if (!same_text(x->key, y->key) || !same_text(x->alias, y->alias) ||
            x->type != y->type ||
            !same_text(x->default_value, y->default_value) ||
            !same_text(x->choices, y->choices) || x->min != y->min ||
            x->max != y->max)
            return 0;
    }
    return 1;
}

const clnet_plugin *clnet_registry_kind(const clnet_registry *r,
                                        const char *kind)
{
    for (int i = 0; r && kind && i < r->count; i++) {
        const clnet_plugin *p = r->entries[i].plugin;
        if (p->role == CLNET_ROLE_KIND && strcmp(p->kind, kind) == 0)
            return p;
    }
    return NULL;
}

/* Refuses every layer plugin whose settings table differs from its
 * kind's definition (loaded in any order). */
static void check_kinds(clnet_registry *r)
{
    int kept = 0;
    for (int i = 0; i < r->count; i++) {
        entry e = r->entries[i];
        const clnet_plugin *k = e.plugin->role == CLNET_ROLE_LAYER
                                    ? clnet_registry_kind(r, e.plugin->kind)
                                    : NULL;
        if (k && !same_settings(k, e.plugin)) {
            char detail[256];
            snprintf(detail, sizeof detail,
                     "its settings for %s differ from the kind's definition "
                     "(%d settings against %d); rebuild it against the "
                     "kind's settings header",
                     e.plugin->kind, e.plugin->nsettings, k->nsettings);
            refuse(r, "%s: refused: %s", e.path, detail);
            free(e.path);
            continue; /* its handle stays open, as every handle does */
        }
        r->entries[kept++] = e;
    }
    r->count = kept;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int clnet_registry_add_dir(clnet_registry *r, const char *dir,
                           clnet_error *err)
{
    if (!r || !dir)
        return clnet_fail(err, CLNET_E_ARG,
                          "clnet_registry_add_dir: NULL argument"),
               -1;
    DIR *d = opendir(dir);
    if (!d) {
        clnet_fail(err, CLNET_E_NOTFOUND, "%s: cannot open the plugin folder: %s",
                   dir, strerror(errno));
        return -1;
    }
    /* anyone who may write to the folder may put a plugin in it */
    struct stat st;
    char why[PATH_MAX + 256];
    const char *bad = fstat(dirfd(d), &st) != 0
                          ? strerror(errno)
                          : loose(&st, dir, why, sizeof why);
    if (bad) {
        closedir(d);
        clnet_fail(err, CLNET_E_PLUGIN,
                   "refused plugin folder %s, and every plugin in it: %s", dir,
                   bad);
        return -1;
    }
    char **names = NULL;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 3, ".so") != 0)
            continue;
        char **grown = realloc(names, sizeof *names * (size_t)(n + 1));
        if (!grown)
            break;
        names = grown;
        if (!(names[n] = strdup(de->d_name)))
            break;
        n++;
    }
    closedir(d);
    /* sorted, so which of two duplicates wins does not depend on the
     * file system's order */
    qsort(names, (size_t)n, sizeof *names, compare_names);
    int added = 0;
    for (int i = 0; i < n; i++) {
        char path[2 * PATH_MAX + 2];
        if (dir[0] == '/')
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        else {
            /* dlopen searches the library path for names without a slash;
             * make the path explicit */
            char abs[PATH_MAX];
            if (!realpath(dir, abs))
                snprintf(abs, sizeof abs, "%s", dir);
            snprintf(path, sizeof path, "%s/%s", abs, names[i]);
        }
        added += load_file(r, path);
        free(names[i]);
    }
    free(names);
    int before = r->count;
    check_kinds(r);
    return added - (before - r->count);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The folder holding libclnet itself, found through one of its symbols. */
static int library_dir(char *out, size_t len)
{
    Dl_info info;
    if (!dladdr((void *)&clnet_registry_open, &info) || !info.dli_fname)
        return -1;
    char abs[PATH_MAX];
    if (!realpath(info.dli_fname, abs))
        return -1;
    char *slash = strrchr(abs, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    snprintf(out, len, "%s", abs);
    return 0;
}

clnet_registry *clnet_registry_open(clnet_error *err)
{
    clnet_registry *r = clnet_registry_new(err);
    if (!r)
        return NULL;
    const char *env = getenv("CLNET_PLUGIN_PATH");
    if (env && *env) {
        char *copy = strdup(env);
        if (!copy) {
            clnet_registry_free(r);
            clnet_fail(err, CLNET_E_NOMEM, "out of memory");
            return NULL;
        }
        for (char *save = NULL, *d = strtok_r(copy, ":", &save); d;
             d = strtok_r(NULL, ":", &save)) {
            clnet_error e2;
            /* resolved against the current folder, a relative entry would
             * load whatever *.so lies wherever clnet is started */
            if (d[0] != '/')
                refuse(r, "CLNET_PLUGIN_PATH: refused the relative entry "
                          "'%s' (%s)",
                       d, "only absolute folders are searched; write it as "
                          "an absolute path");
            else if (clnet_registry_add_dir(r, d, &e2) < 0)
                refuse(r, "%s: %s", "CLNET_PLUGIN_PATH", e2.msg);
        }
        free(copy);
    }
    /* The build tree's plugins when libclnet runs from one; else those
     * installed beside it (LIBDIR/clnet/plugins), so a prefix that was
     * moved or staged with DESTDIR still finds its own plugins before
     * another installation's; else the configured install folder. */
    char libdir[PATH_MAX], build[PATH_MAX + 32], marker[PATH_MAX + 128];
    char beside[PATH_MAX + 32];
    int from_build = 0, from_beside = 0;
    if (library_dir(libdir, sizeof libdir) == 0) {
        snprintf(build, sizeof build, "%s/plugins", libdir);
        snprintf(marker, sizeof marker, "%s/" BUILD_TREE_MARKER, build);
        from_build = access(marker, F_OK) == 0;
        snprintf(beside, sizeof beside, "%s/clnet/plugins", libdir);
        from_beside = !from_build && is_dir(beside);
    }
    const char *own = from_build    ? build
                      : from_beside ? beside
                      : is_dir(CLNET_INSTALL_PLUGINDIR)
                          ? CLNET_INSTALL_PLUGINDIR
                          : NULL;
    clnet_error e3;
    if (own && clnet_registry_add_dir(r, own, &e3) < 0)
        refuse(r, "%s%s", e3.msg, "");
    if (r->count == 0) {
        /* the first refusal is usually why */
        clnet_fail(err, CLNET_E_PLUGIN,
                   "no clnet plugins found (looked in CLNET_PLUGIN_PATH, the "
                   "build tree and %s); build clnet with meson or set "
                   "CLNET_PLUGIN_PATH to the folder that holds them%s%s",
                   CLNET_INSTALL_PLUGINDIR, r->nrefused ? "; " : "",
                   r->nrefused ? r->refused[0] : "");
        clnet_registry_free(r);
        return NULL;
    }
    return r;
}
