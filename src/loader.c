/* The double-buffered loader (loader.h): the thread fills one buffer
 * while the loop trains on the other, and where the input layer runs on
 * a device, uploads it there into a device buffer of its own. */
#define _POSIX_C_SOURCE 200809L
#include "loader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "backends.h"
#include "distributed.h"
#include "pixel_file.h"

struct clnet_loader {
    clnet_net *net;
    const clnet_dataset *ds;
    const int32_t *idx;
    int32_t epoch, batch, H, W, C;
    int64_t next_fill, next_take, steps;
    size_t sz;
    uint8_t *pixels[2];
    int32_t *labels[2], count[2], whole[2];
    int ready[2], stop;
    /* the input layer's device: each buffer uploaded by the thread into
     * net->pixels_loader (allocated once, in the memory plan); a
     * slot is given back one take later, once the step reading it has
     * been queued, so the upload (queued after it, on an in-order queue)
     * cannot overtake it */
    int upload, held;
    void *dev[2];
    char failed[2][CLNET_ERRLEN];
    pthread_t thread;
    int started, inited;
    pthread_mutex_t lock;
    pthread_cond_t changed;
};

static void fill(clnet_loader *l, int64_t s, int b)
{
    const clnet_dataset *ds = l->ds;
    int32_t start = (int32_t)(s * l->batch);
    int32_t all = ds->count - start < l->batch ? ds->count - start : l->batch;
    int32_t first, n;
    clnet_dist_slice(l->net, all, &first, &n);
    l->whole[b] = all;
    start += first;
    const clnet_augment *a = &l->net->augment;
    int on = clnet_augment_on(a);
    for (int32_t i = 0; i < n; i++) {
        int32_t k = l->idx ? l->idx[start + i] : start + i;
        const uint8_t *src = ds->pixels + (size_t)k * l->sz;
        uint8_t *dst = l->pixels[b] + (size_t)i * l->sz;
        if (on)
            clnet_augment_sample(a, l->net->seed, l->epoch, k, src, dst, l->H,
                                 l->W, l->C);
        else
            memcpy(dst, src, l->sz);
        l->labels[b][i] = ds->labels[k];
    }
    clnet_pixels_used(ds);
    l->count[b] = n;
    l->failed[b][0] = '\0';
    if (l->upload) {
        clnet_backend *in = &l->net->backends[l->net->layers[0].bk];
        if (in->ops->write(in->ctx, l->dev[b], l->pixels[b],
                           (size_t)n * l->sz, l->failed[b]) &&
            !l->failed[b][0])
            snprintf(l->failed[b], CLNET_ERRLEN, "the upload failed");
    }
}

static void *run(void *arg)
{
    clnet_loader *l = arg;
    pthread_mutex_lock(&l->lock);
    while (!l->stop && l->next_fill < l->steps) {
        int b = (int)(l->next_fill % 2);
        if (l->ready[b]) { /* both buffers full: wait for the loop */
            pthread_cond_wait(&l->changed, &l->lock);
            continue;
        }
        int64_t s = l->next_fill;
        pthread_mutex_unlock(&l->lock);
        fill(l, s, b);
        pthread_mutex_lock(&l->lock);
        l->ready[b] = 1;
        l->next_fill++;
        pthread_cond_broadcast(&l->changed);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

clnet_loader *clnet_loader_start(clnet_net *net, const clnet_dataset *ds,
                                 const int32_t *idx, int32_t epoch,
                                 int64_t first_step, int64_t steps,
                                 int32_t batch, clnet_error *err)
{
    clnet_loader *l = calloc(1, sizeof *l);
    if (!l) {
        clnet_fail(err, CLNET_E_NOMEM, "out of memory for the loader");
        return NULL;
    }
    *l = (clnet_loader){.net = net, .ds = ds, .idx = idx, .epoch = epoch,
                        .batch = batch, .next_fill = first_step,
                        .next_take = first_step, .steps = steps};
    l->H = ds->rows;
    l->W = ds->cols;
    l->C = ds->channels ? ds->channels : 1;
    l->sz = clnet_dataset_sample_bytes(ds);
    /* replicas take slices of the host's copy (replicas.c) */
    l->upload = net->pixels_dev != NULL && net->nreplicas == 0;
    l->held = -1;
    for (int b = 0; b < 2; b++) {
        l->pixels[b] = malloc((size_t)batch * l->sz + 1);
        l->labels[b] = malloc(sizeof(int32_t) * (size_t)batch);
        if (!l->pixels[b] || !l->labels[b]) {
            clnet_loader_stop(l);
            clnet_fail(err, CLNET_E_NOMEM, "out of memory for the loader");
            return NULL;
        }
        l->dev[b] = net->pixels_loader[b]; /* the memory plan's */
    }
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->changed, NULL);
    l->inited = 1;
    l->started = pthread_create(&l->thread, NULL, run, l) == 0;
    return l;
}

int32_t clnet_loader_next(clnet_loader *l, double *waited, int32_t *whole,
                          clnet_error *err)
{
    double t0 = clnet_now();
    int b = (int)(l->next_take % 2);
    if (!l->started) { /* no thread could start: fill here */
        fill(l, l->next_take, b);
        l->ready[b] = 1;
    }
    pthread_mutex_lock(&l->lock);
    while (!l->ready[b])
        pthread_cond_wait(&l->changed, &l->lock);
    pthread_mutex_unlock(&l->lock);
    if (waited)
        *waited = clnet_now() - t0;
    int32_t n = l->count[b];
    if (whole)
        *whole = l->whole[b];
    memcpy(l->net->batch_labels, l->labels[b], sizeof(int32_t) * (size_t)n);
    if (l->upload)
        l->net->pixels_uploaded = l->dev[b];
    else
        memcpy(l->net->batch_pixels, l->pixels[b], (size_t)n * l->sz);
    /* without uploads the batch is copied out: its slot is free now */
    int give = l->upload ? l->held : b;
    l->held = l->upload ? b : -1;
    pthread_mutex_lock(&l->lock);
    if (give >= 0)
        l->ready[give] = 0;
    l->next_take++;
    pthread_cond_broadcast(&l->changed);
    pthread_mutex_unlock(&l->lock);
    if (l->failed[b][0]) {
        l->net->pixels_uploaded = NULL;
        return clnet_fail(err, CLNET_E_IO, "%s: %s",
                          l->net->backends[l->net->layers[0].bk].name,
                          l->failed[b]), -1;
    }
    return n;
}

void clnet_loader_stop(clnet_loader *l)
{
    if (!l)
        return;
    if (l->started) {
        pthread_mutex_lock(&l->lock);
        l->stop = 1;
        pthread_cond_broadcast(&l->changed);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->thread, NULL);
    }
    if (l->inited) {
        pthread_mutex_destroy(&l->lock);
        pthread_cond_destroy(&l->changed);
    }
    if (l->upload) {
        /* the last step may still read a buffer: wait for the device */
        clnet_backend *in = &l->net->backends[l->net->layers[0].bk];
        char perr[CLNET_ERRLEN];
        if (in->ops->finish)
            in->ops->finish(in->ctx, perr);
        l->net->pixels_uploaded = NULL;
    }
    for (int b = 0; b < 2; b++) {
        free(l->pixels[b]);
        free(l->labels[b]);
    }
    free(l);
}
