/* clnet bench: per-layer forward and backward times, training and
 * inference throughput, and the share of a step spent outside kernels,
 * measured on synthetic data with the network's own code paths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"
#include "loader.h"

#define WARMUP_STEPS 3

static int finish_all(clnet_net *net, clnet_error *err)
{
    char perr[CLNET_ERRLEN] = "";
    for (int b = 0; b < net->nbackends; b++)
        if (net->backends[b].ops->finish(net->backends[b].ctx, perr))
            return clnet_fail(err, CLNET_E_PLUGIN, "%s: %s",
                              net->backends[b].name, perr);
    return CLNET_OK;
}

static void profile_all(clnet_net *net, int on)
{
    for (int b = 0; b < net->nbackends; b++) {
        clnet_backend *bk = &net->backends[b];
        bk->ops->profile(bk->ctx, on);
        bk->ops->kernel_seconds(bk->ctx); /* drop what was recorded */
    }
}

static double device_kernel_seconds(clnet_net *net)
{
    double s = 0;
    for (int b = 0; b < net->nbackends; b++)
        if (!clnet_backend_is_host(net, b))
            s += net->backends[b].ops->kernel_seconds(net->backends[b].ctx);
    return s;
}

/* clnet bench's timers, an observer of the network's plugin calls. Host
 * plugins are timed by the clock (their work is done when they return);
 * device plugins by the kernel time their device recorded. */
typedef struct {
    enum { TIME_LAYERS, TIME_SUM } mode; /* waiting for each layer's
                                            device, or summed freely */
    double *forward, *backward; /* seconds per layer */
    double loss, update, host;
    double t0;
} timers;

static double *slot_of(timers *t, clnet_call call, int layer)
{
    switch (call) {
    case CLNET_CALL_FORWARD:
        return &t->forward[layer];
    case CLNET_CALL_BACKWARD:
        return &t->backward[layer];
    case CLNET_CALL_LOSS:
        return &t->loss;
    default:
        return &t->update;
    }
}

static void time_call(void *user, clnet_net *net, clnet_call call, int layer,
                      int bk, int end)
{
    timers *t = user;
    clnet_backend *b = &net->backends[bk];
    int host = clnet_backend_is_host(net, bk);
    if (!end) {
        if (t->mode == TIME_LAYERS && !host)
            b->ops->kernel_seconds(b->ctx); /* waits, drops earlier work */
        t->t0 = clnet_now();
        return;
    }
    double *acc = slot_of(t, call, layer);
    if (host) {
        double dt = clnet_now() - t->t0;
        *acc += dt;
        t->host += dt;
    } else if (t->mode == TIME_LAYERS) {
        *acc += b->ops->kernel_seconds(b->ctx);
    }
}

static void attach(clnet_net *net, timers *t, int mode)
{
    for (int i = 0; i < net->nlayers; i++)
        t->forward[i] = t->backward[i] = 0;
    t->loss = t->update = t->host = 0;
    t->mode = mode;
    net->observer = time_call;
    net->observer_user = t;
}

static void detach(clnet_net *net)
{
    net->observer = NULL;
    net->observer_user = NULL;
}

static int train_steps(clnet_net *net, int32_t steps, clnet_error *err)
{
    for (int32_t s = 0; s < steps; s++) {
        double loss = 0;
        int64_t correct = 0;
        int rc = clnet_net_train_step(net, net->max_batch, &loss, &correct,
                                      err);
        if (rc)
            return rc;
    }
    return finish_all(net, err);
}

/* Fixed pseudo-random bytes and labels cycling through the classes. */
static void synthetic(uint8_t *pixels, size_t n, int32_t *labels, int32_t count,
                      int32_t classes)
{
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        pixels[i] = (uint8_t)(x >> 24);
    }
    for (int32_t b = 0; b < count; b++)
        labels[b] = b % classes;
}

/* Batches of synthetic data a loader epoch goes over: its buffers hold
 * this many batches at most, whatever --steps says. */
#define LOADER_BATCHES 4

/* `steps` steps on synthetic images through the loader (loader.h), with
 * the train line's augmentation: *seconds in all, *waited for data. */
static int loader_steps(clnet_net *net, int32_t steps, double *seconds,
                        double *waited, clnet_error *err)
{
    clnet_dataset ds = {0};
    size_t sz = (size_t)net->layers[0].out_size;
    clnet_shape in = net->layers[0].out;
    int32_t per = steps < LOADER_BATCHES ? steps : LOADER_BATCHES;
    ds.count = per * net->max_batch;
    ds.rows = in.h;
    ds.cols = in.w;
    ds.channels = in.c;
    if (!(ds.pixels = malloc((size_t)ds.count * sz)) ||
        !(ds.labels = malloc(sizeof(int32_t) * (size_t)ds.count))) {
        free(ds.pixels);
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory for bench data");
    }
    synthetic(ds.pixels, (size_t)ds.count * sz, ds.labels, ds.count,
              net->classes);
    double t0 = clnet_now();
    int rc = CLNET_OK;
    *waited = 0;
    /* loader epochs of `per` batches until `steps` are done */
    for (int32_t done = 0, e = 1; done < steps && !rc; e++) {
        int32_t now = steps - done < per ? steps - done : per;
        clnet_loader *ld = clnet_loader_start(net, &ds, NULL, e, 0, now,
                                              net->max_batch, err);
        if (!ld)
            rc = err ? err->status : CLNET_E_NOMEM;
        for (int32_t s = 0; s < now && !rc; s++) {
            double w = 0, loss = 0;
            int64_t correct = 0;
            int32_t n = clnet_loader_next(ld, &w, NULL, err);
            *waited += w;
            rc = n < 0 ? (err ? (int)err->status : (int)CLNET_E_IO)
                       : clnet_net_train_step(net, n, &loss, &correct, err);
        }
        clnet_loader_stop(ld);
        done += now;
    }
    if (!rc)
        rc = finish_all(net, err);
    *seconds = clnet_now() - t0;
    free(ds.pixels);
    free(ds.labels);
    return rc;
}

static void describe_layers(clnet_net *net, const timers *tm,
                            clnet_bench_result *res, int32_t steps)
{
    double b = net->max_batch;
    for (int i = 0; i < net->nlayers; i++) {
        const clnet_net_layer *L = &net->layers[i];
        clnet_layer_timing *t = &res->layers[i];
        snprintf(t->name, sizeof t->name, "%s", L->name);
        snprintf(t->kind, sizeof t->kind, "%s", L->kind->kind);
        snprintf(t->backend, sizeof t->backend, "%s",
                 net->backends[L->bk].name);
        snprintf(t->impl, sizeof t->impl, "%s",
                 L->plugin ? L->plugin->impl : "alias");
        t->forward_ms = tm->forward[i] / steps * 1e3;
        t->backward_ms = tm->backward[i] / steps * 1e3;
        /* the kind's FLOPs: backward's covers the weight and the input
         * gradient; without an input gradient (the first layer after the
         * input) only the weight's half of it is computed */
        int dx = 0;
        for (int k = 0; k < L->ninputs; k++)
            dx |= L->inputs[k].dx_mode != CLNET_DX_NONE;
        double fwd = L->plan.flops_forward * b;
        double bwd = L->plan.flops_backward * b * (dx ? 1.0 : 0.5);
        if (!L->wants_grad)
            bwd = 0;
        if (L->plan.nparams && t->forward_ms > 0)
            t->forward_gflops = fwd / (t->forward_ms * 1e-3) / 1e9;
        if (bwd > 0 && t->backward_ms > 0)
            t->backward_gflops = bwd / (t->backward_ms * 1e-3) / 1e9;
    }
    res->loss_ms = tm->loss / steps * 1e3;
    res->update_ms = tm->update / steps * 1e3;
}

void clnet_net_synthetic_batch(clnet_net *net)
{
    synthetic(net->batch_pixels,
              (size_t)net->max_batch * (size_t)net->layers[0].out_size,
              net->batch_labels, net->max_batch, net->classes);
}

int clnet_bench(clnet_net *net, int32_t steps, clnet_bench_result *res,
                clnet_error *err)
{
    clnet_error_clear(err);
    if (!net || !res || steps < 1)
        return clnet_fail(err, CLNET_E_ARG, "clnet_bench: bad argument");
    memset(res, 0, sizeof *res);
    res->layers = calloc((size_t)net->nlayers, sizeof *res->layers);
    if (!res->layers)
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory");
    res->nlayers = net->nlayers;
    res->batch = net->max_batch;
    res->steps = steps;
    const clnet_backend *first = &net->backends[net->layers[0].bk];
    res->device = first->info;
    snprintf(res->device_label, sizeof res->device_label, "%s:%d", first->name,
             first->index);

    timers tm = {0};
    tm.forward = calloc((size_t)net->nlayers, sizeof(double));
    tm.backward = calloc((size_t)net->nlayers, sizeof(double));
    if (!tm.forward || !tm.backward) {
        free(tm.forward);
        free(tm.backward);
        clnet_bench_free(res);
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory");
    }
    clnet_net_synthetic_batch(net);
    int rc = train_steps(net, WARMUP_STEPS, err);
    /* per layer, waiting for each layer's device */
    if (!rc) {
        profile_all(net, 1);
        attach(net, &tm, TIME_LAYERS);
        rc = train_steps(net, steps, err);
        detach(net);
        profile_all(net, 0);
        describe_layers(net, &tm, res, steps);
    }
    /* whole steps at full speed, fed by the training loop's loader */
    if (!rc) {
        double dt = 0, waited = 0;
        rc = loader_steps(net, steps, &dt, &waited, err);
        res->step_ms = dt / steps * 1e3;
        res->train_images_per_second = (double)steps * net->max_batch / dt;
        res->data_wait = dt > 0 ? waited / dt : 0;
    }
    /* the same, counting time in plugin calls and device kernels */
    if (!rc) {
        profile_all(net, 1);
        attach(net, &tm, TIME_SUM);
        double t0 = clnet_now();
        rc = train_steps(net, steps, err);
        double wall = clnet_now() - t0;
        double busy = tm.host + device_kernel_seconds(net);
        detach(net);
        profile_all(net, 0);
        res->outside_kernels = wall > 0 ? 1.0 - busy / wall : 0;
        if (res->outside_kernels < 0)
            res->outside_kernels = 0;
    }
    /* inference */
    if (!rc) {
        double t0 = clnet_now();
        for (int32_t s = 0; s < steps && !rc; s++) {
            rc = clnet_net_forward(net, net->max_batch, 0, err);
            if (!rc && !clnet_net_predictions(net, net->max_batch, err))
                rc = err ? err->status : CLNET_E_IO;
        }
        double dt = clnet_now() - t0;
        res->infer_images_per_second = (double)steps * net->max_batch / dt;
    }
    free(tm.forward);
    free(tm.backward);
    if (rc)
        clnet_bench_free(res);
    return rc;
}

void clnet_bench_free(clnet_bench_result *res)
{
    if (res) {
        free(res->layers);
        res->layers = NULL;
        res->nlayers = 0;
    }
}
