/* CIFAR-10 and CIFAR-100 in their official binary form: records of
 * label byte(s) and 3072 channel-planar pixel bytes (1024 red, green,
 * blue), read into NHWC bytes, with the class names of batches.meta.txt
 * or fine/coarse_label_names.txt when they are beside the files. Every
 * file is checked: a length that is no whole number of records, or a
 * label past the class count, is refused naming the file and record. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "pixel_file.h"

#define SIDE 32
#define PIXELS (SIDE * SIDE * 3)
#define MAX_BATCHES 5

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

int clnet_cifar_kind(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/data_batch_1.bin", dir);
    if (exists(p))
        return 10;
    snprintf(p, sizeof p, "%s/train.bin", dir);
    if (exists(p))
        return 100;
    return 0;
}

/* Lines of a names file, blank ones skipped; NULL (and *n 0) when the
 * file is not there or holds another count than `want`. */
static char **read_names(const char *path, int32_t want, int32_t *n)
{
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char **names = calloc((size_t)want, sizeof *names);
    char line[256];
    int32_t k = 0, bad = !names;
    while (!bad && fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        if (!len)
            continue;
        if (k == want || !(names[k] = strdup(line)))
            bad = 1;
        else
            k++;
    }
    fclose(f);
    if (bad || k != want) {
        for (int32_t i = 0; names && i < k; i++)
            free(names[i]);
        free(names);
        return NULL;
    }
    *n = want;
    return names;
}

/* Appends one file's records to ds (pixels NHWC); `lab` labels precede
 * each record's pixels and `use` is the one kept. */
static int read_file(clnet_dataset *ds, clnet_pixel_file *pf,
                     const char *path, int lab, int use, int32_t classes,
                     int32_t limit, clnet_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return clnet_fail(err, CLNET_E_NOTFOUND, "%s: cannot open: %s", path,
                          strerror(errno));
    if (!S_ISREG(st.st_mode))
        return clnet_fail(err, CLNET_E_DATA, "%s: not a regular file",
                          path);
    size_t rec = (size_t)lab + PIXELS;
    if (st.st_size == 0 || (size_t)st.st_size % rec)
        return clnet_fail(err, CLNET_E_DATA,
                          "%s: %lld bytes is no whole number of %zu-byte "
                          "CIFAR-%d records (%zu and %zu bytes left over); "
                          "the file is truncated or not CIFAR-%d",
                          path, (long long)st.st_size, rec, classes == 10 ? 10 : 100,
                          (size_t)st.st_size / rec, (size_t)st.st_size % rec,
                          classes == 10 ? 10 : 100);
    size_t n = (size_t)st.st_size / rec;
    if (limit > 0 && (size_t)(limit - ds->count) < n)
        n = (size_t)(limit - ds->count);
    if (ds->count + (int64_t)n > 100000000)
        return clnet_fail(err, CLNET_E_DATA, "%s: too many records", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return clnet_fail(err, CLNET_E_IO, "%s: cannot open: %s", path,
                          strerror(errno));
    size_t total = (size_t)ds->count + n;
    int32_t *lb = realloc(ds->labels, total * sizeof *lb);
    if (lb)
        ds->labels = lb;
    unsigned char *buf = malloc(rec + PIXELS);
    int rc = CLNET_OK;
    if (!lb || !buf)
        rc = clnet_fail(err, CLNET_E_NOMEM, "out of memory for %s", path);
    for (size_t r = 0; r < n && !rc; r++) {
        if (fread(buf, 1, rec, f) != rec) {
            rc = clnet_fail(err, CLNET_E_IO, "%s: reading record %zu failed",
                            path, r);
            break;
        }
        int32_t label = buf[use];
        if (label >= classes) {
            rc = clnet_fail(err, CLNET_E_DATA,
                            "%s: record %zu has label %d, outside the %d "
                            "classes",
                            path, r, label, classes);
            break;
        }
        size_t s = (size_t)ds->count;
        uint8_t *o = buf + rec;
        const unsigned char *plane = buf + lab;
        for (int p = 0; p < SIDE * SIDE; p++)
            for (int c = 0; c < 3; c++)
                o[p * 3 + c] = plane[c * SIDE * SIDE + p];
        if ((rc = clnet_pixel_file_append(pf, o, PIXELS, path, err)))
            break;
        ds->labels[s] = label;
        ds->count++;
    }
    free(buf);
    fclose(f);
    return rc;
}

int clnet_dataset_load_cifar(clnet_dataset *ds, const char *dir,
                             const char *which, int coarse, int32_t limit,
                             clnet_error *err)
{
    clnet_error_clear(err);
    if (!ds || !dir || !which || limit < 0 ||
        (strcmp(which, "train") && strcmp(which, "test")))
        return clnet_fail(err, CLNET_E_ARG,
                          "clnet_dataset_load_cifar: bad argument");
    memset(ds, 0, sizeof *ds);
    int kind = clnet_cifar_kind(dir);
    if (!kind)
        return clnet_fail(err, CLNET_E_NOTFOUND,
                          "%s: holds neither CIFAR-10's data_batch_1.bin nor "
                          "CIFAR-100's train.bin",
                          dir);
    int train = !strcmp(which, "train");
    char path[4096];
    int rc = CLNET_OK;
    /* 50,000 records are 154 MB: kept in a mapped file (pixel_file.h) */
    clnet_pixel_file pf;
    clnet_pixel_file_open(&pf);
    int32_t classes;
    if (kind == 10) {
        classes = 10;
        if (train) {
            for (int b = 1; b <= MAX_BATCHES && !rc; b++) {
                snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, b);
                if (!exists(path)) {
                    rc = clnet_fail(err, CLNET_E_NOTFOUND,
                                    "%s: missing: CIFAR-10's training set "
                                    "is data_batch_1.bin to _%d.bin",
                                    path, MAX_BATCHES);
                    break;
                }
                if (limit && ds->count >= limit)
                    break;
                rc = read_file(ds, &pf, path, 1, 0, classes, limit, err);
            }
        } else {
            snprintf(path, sizeof path, "%s/test_batch.bin", dir);
            rc = read_file(ds, &pf, path, 1, 0, classes, limit, err);
        }
        snprintf(path, sizeof path, "%s/batches.meta.txt", dir);
    } else {
        classes = coarse ? 20 : 100;
        snprintf(path, sizeof path, "%s/%s.bin", dir, train ? "train" : "test");
        rc = read_file(ds, &pf, path, 2, coarse ? 0 : 1, classes, limit, err);
        snprintf(path, sizeof path, "%s/%s_label_names.txt", dir,
                 coarse ? "coarse" : "fine");
    }
    if (!rc && !(ds->pixels = clnet_pixel_file_finish(&pf, &ds->mapped, dir,
                                                      err)))
        rc = err ? err->status : CLNET_E_IO;
    clnet_pixel_file_discard(&pf);
    if (!rc) {
        ds->rows = ds->cols = SIDE;
        ds->channels = 3;
        ds->class_names = read_names(path, classes, &ds->nclasses);
    } else {
        clnet_dataset_free(ds);
    }
    return rc;
}
