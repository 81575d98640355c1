/* One door to every data set format: what --data PATH holds decides the
 * loader (or clnet_data_options.format names it). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

static int has_idx(const char *dir)
{
    char p[4096];
    return clnet_idx_find(dir, "train", "images-idx3", p, sizeof p) == 0;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *clnet_data_format(const char *path)
{
    if (!path || !is_dir(path))
        return NULL;
    if (has_idx(path))
        return "idx";
    if (clnet_cifar_kind(path))
        return "cifar";
    char p[4096];
    snprintf(p, sizeof p, "%s/train", path);
    return is_dir(p) ? "folder" : NULL;
}

int clnet_dataset_load(clnet_dataset *ds, const char *path, const char *which,
                       const clnet_data_options *opt, clnet_error *err)
{
    clnet_error_clear(err);
    clnet_data_options none = {0};
    const clnet_data_options *o = opt ? opt : &none;
    if (!ds || !path || !which ||
        (strcmp(which, "train") && strcmp(which, "test")))
        return clnet_fail(err, CLNET_E_ARG,
                          "clnet_dataset_load: path and which (train or "
                          "test) are needed");
    const char *fmt = o->format && strcmp(o->format, "auto") ? o->format
                                                             : NULL;
    if (!fmt && !(fmt = clnet_data_format(path)))
        return clnet_fail(err, is_dir(path) ? CLNET_E_DATA : CLNET_E_NOTFOUND,
                          "%s %s: it should hold MNIST's IDX files "
                          "(train-images-idx3-ubyte[.gz] ...), CIFAR-10's "
                          "data_batch_1.bin ..., CIFAR-100's train.bin or "
                          "an image folder train/CLASS/...",
                          path, is_dir(path) ? "is no data set I know"
                                             : "not found (no such folder)");
    int train = !strcmp(which, "train");
    if (!strcmp(fmt, "idx"))
        return clnet_dataset_load_mnist(ds, path, train ? "train" : "t10k",
                                        o->limit, err);
    if (!strcmp(fmt, "cifar") || !strcmp(fmt, "cifar10") ||
        !strcmp(fmt, "cifar100"))
        return clnet_dataset_load_cifar(ds, path, which, o->coarse, o->limit,
                                        err);
    if (!strcmp(fmt, "folder")) {
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, which);
        if (o->rows < 1 || o->cols < 1)
            return clnet_fail(err, CLNET_E_ARG,
                              "an image folder needs the input's shape to "
                              "decode to");
        return clnet_dataset_load_folder(ds, sub, o->rows, o->cols,
                                         o->channels ? o->channels : 1,
                                         o->resize, o->limit, o->progress,
                                         o->user, err);
    }
    return clnet_fail(err, CLNET_E_ARG,
                      "unknown data format '%s'; expected idx, cifar or "
                      "folder",
                      fmt);
}
