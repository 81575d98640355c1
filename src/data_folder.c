/* Image folders: DIR/CLASS/NAME.png (or .jpg, .jpeg, .pgm, .ppm), class
 * names from the folder names in byte order, each image decoded by
 * clnet_image_decode (src/image.c, stb_image) on worker threads into
 * NHWC bytes of the network's input shape. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "internal.h"

#define MAX_IMAGES 100000000

typedef struct {
    char **v;
    size_t n, cap;
} list;

static int push(list *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **g = realloc(l->v, cap * sizeof *g);
        if (!g)
            return -1;
        l->v = g;
        l->cap = cap;
    }
    return (l->v[l->n] = strdup(s)) ? (int)(l->n++, 0) : -1;
}

static void list_free(list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image(const char *name)
{
    const char *dot = strrchr(name, '.');
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".pgm",
                                      ".ppm", ".pnm", NULL};
    for (int i = 0; dot && ext[i]; i++)
        if (!strcasecmp(dot, ext[i]))
            return 1;
    return 0;
}

/* The entries of dir that are folders (dirs) or image files, sorted. */
static int scan(const char *dir, int dirs, list *out, clnet_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return clnet_fail(err, errno == ENOENT ? CLNET_E_NOTFOUND : CLNET_E_IO,
                          "%s: cannot read the folder: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = CLNET_OK;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0)
            continue;
        int want = dirs ? S_ISDIR(st.st_mode)
                        : S_ISREG(st.st_mode) && is_image(e->d_name);
        if (want && push(out, e->d_name))
            rc = clnet_fail(err, CLNET_E_NOMEM, "out of memory");
    }
    closedir(d);
    if (out->n)
        qsort(out->v, out->n, sizeof *out->v, by_name);
    return rc;
}

typedef struct {
    char **paths;
    const int32_t *labels;
    size_t n;
    int32_t rows, cols, channels;
    clnet_resize rule;
    uint8_t *pixels;
    atomic_size_t next, done;
    atomic_int failed;
    pthread_mutex_t lock;
    char err[CLNET_ERRLEN];
    size_t err_index; /* the failed image with the lowest index */
} job;

static void fail_at(job *j, size_t i, const char *fmt, const char *a,
                    const char *b)
{
    pthread_mutex_lock(&j->lock);
    if (!atomic_load(&j->failed) || i < j->err_index) {
        snprintf(j->err, sizeof j->err, fmt, a, b);
        j->err_index = i;
    }
    atomic_store(&j->failed, 1);
    pthread_mutex_unlock(&j->lock);
}

static void *worker(void *arg)
{
    job *j = arg;
    size_t sz = (size_t)j->rows * j->cols * j->channels;
    char why[CLNET_ERRLEN - 64];
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n || atomic_load(&j->failed))
            break;
        if (clnet_image_decode(j->paths[i], j->rows, j->cols, j->channels,
                               j->rule, j->pixels + i * sz, why, sizeof why))
            fail_at(j, i, "%s %s", j->paths[i], why);
        atomic_fetch_add(&j->done, 1);
    }
    return NULL;
}

int clnet_dataset_load_folder(clnet_dataset *ds, const char *dir,
                              int32_t rows, int32_t cols, int32_t channels,
                              clnet_resize rule, int32_t limit,
                              clnet_load_progress_fn progress, void *user,
                              clnet_error *err)
{
    clnet_error_clear(err);
    if (!ds || !dir || rows < 1 || cols < 1 ||
        (channels != 1 && channels != 3) || limit < 0)
        return clnet_fail(err, CLNET_E_ARG,
                          "clnet_dataset_load_folder: bad argument (images "
                          "are read as 1 or 3 channels)");
    memset(ds, 0, sizeof *ds);
    list classes = {0}, files = {0};
    int32_t *labels = NULL;
    int rc = scan(dir, 1, &classes, err);
    if (!rc && !classes.n)
        rc = clnet_fail(err, CLNET_E_DATA,
                        "%s: no class folders (DIR/CLASS/*.png)", dir);
    for (size_t c = 0; c < classes.n && !rc; c++) {
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", dir, classes.v[c]);
        list here = {0};
        rc = scan(sub, 0, &here, err);
        if (!rc && !here.n)
            rc = clnet_fail(err, CLNET_E_DATA,
                            "%s: no images (.png, .jpg, .jpeg, .pgm, "
                            ".ppm): every class folder needs some",
                            sub);
        for (size_t k = 0; k < here.n && !rc; k++) {
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", sub, here.v[k]);
            int32_t *g = files.n % 1024 ? labels
                                        : realloc(labels, (files.n + 1024) *
                                                              sizeof *labels);
            if (!g || files.n >= MAX_IMAGES || push(&files, path))
                rc = clnet_fail(err, CLNET_E_NOMEM, "out of memory");
            else {
                labels = g;
                labels[files.n - 1] = (int32_t)c;
            }
        }
        list_free(&here);
    }
    /* a limit keeps an even share of every class: the first images of
     * each in turn, as they are listed */
    size_t n = files.n;
    if (!rc && limit > 0 && (size_t)limit < n)
        n = (size_t)limit;
    size_t sz = (size_t)rows * cols * channels;
    job j = {.paths = files.v, .labels = labels, .n = n, .rows = rows,
             .cols = cols, .channels = channels, .rule = rule};
    if (!rc && !(j.pixels = malloc(n * sz)))
        rc = clnet_fail(err, CLNET_E_NOMEM,
                        "out of memory for %zu images of %dx%dx%d", n,
                        (int)rows, (int)cols, (int)channels);
    if (!rc && limit > 0 && n < files.n) {
        /* round-robin over the classes so a limit keeps all of them */
        char **pick = malloc(n * sizeof *pick);
        int32_t *plab = malloc(n * sizeof *plab);
        size_t *at = calloc(classes.n + 1, sizeof *at);
        size_t *taken = calloc(classes.n, sizeof *taken);
        if (!pick || !plab || !at || !taken)
            rc = clnet_fail(err, CLNET_E_NOMEM, "out of memory");
        for (size_t i = 0; !rc && i < files.n; i++)
            at[labels[i] + 1]++;
        for (size_t c = 0; !rc && c < classes.n; c++)
            at[c + 1] += at[c];
        /* the picked names move to pick; list_free frees the rest */
        for (size_t k = 0, c = 0; !rc && k < n; c = (c + 1) % classes.n)
            if (at[c] + taken[c] < at[c + 1]) {
                size_t i = at[c] + taken[c]++;
                pick[k] = files.v[i];
                files.v[i] = NULL;
                plab[k++] = (int32_t)c;
            }
        if (!rc) {
            list_free(&files);
            files.v = pick;
            files.n = files.cap = n;
            memcpy(labels, plab, n * sizeof *plab);
            j.paths = files.v;
            pick = NULL;
        }
        free(pick);
        free(plab);
        free(at);
        free(taken);
    }
    if (!rc) {
        pthread_mutex_init(&j.lock, NULL);
        /* at least 8 threads however few the cores: from a cold page
         * cache most of a thread's time is waiting for its file, and
         * more reads in flight keep the disk's queue full */
        int T = clnet_default_threads();
        T = T < 8 ? 8 : T > 16 ? 16 : T;
        pthread_t th[16];
        int started = 0;
        if (progress)
            progress(0, (int64_t)n, user);
        for (int t = 0; t < T; t++)
            if (pthread_create(&th[t], NULL, worker, &j) == 0)
                started++;
        if (!started)
            worker(&j);
        /* the caller's thread reports progress while the workers decode */
        while (started && atomic_load(&j.done) < n && !atomic_load(&j.failed)) {
            if (progress)
                progress((int64_t)atomic_load(&j.done), (int64_t)n, user);
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        for (int t = 0; t < started; t++)
            pthread_join(th[t], NULL);
        if (progress && !atomic_load(&j.failed))
            progress((int64_t)n, (int64_t)n, user);
        pthread_mutex_destroy(&j.lock);
        if (atomic_load(&j.failed))
            rc = clnet_fail(err, CLNET_E_DATA, "%s", j.err);
    }
    if (!rc) {
        ds->count = (int32_t)n;
        ds->rows = rows;
        ds->cols = cols;
        ds->channels = channels;
        ds->pixels = j.pixels;
        ds->labels = labels;
        ds->nclasses = (int32_t)classes.n;
        ds->class_names = classes.v;
        classes.v = NULL;
        classes.n = 0;
    } else {
        free(j.pixels);
        free(labels);
    }
    list_free(&classes);
    list_free(&files);
    return rc;
}
