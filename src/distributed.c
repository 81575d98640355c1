/* Data-parallel training across processes: every rank holds the whole
 * network, trains on its slice of each batch, and the ranks' gradients
 * are summed into the whole batch's mean before one identical update.
 *
 * Gradients on the native CPU are all-reduced in buckets straight out of
 * the gradient arena, each started as soon as the backward pass has
 * written all of it (the last layers' first), so the transfer of one
 * overlaps the backward pass of the layers below, as PyTorch's
 * DistributedDataParallel does. A device backend's arena is read to the
 * host in one transfer after the backward pass, summed, written back. */
#include "distributed.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int bk;
    size_t lo, hi;     /* bytes of the backend's gradient arena */
    int first_layer;   /* the lowest layer with gradients in it */
    int started;
    void *request;
} bucket;

struct clnet_dist {
    bucket *buckets;
    int nbuckets;
    float *host; /* device arenas and non-trainable state, summed here */
    size_t host_cap;
    double scale; /* this rank's samples / the batch's */
    double bytes;
    int64_t steps;
    /* each step's wait at its end, since the last clnet_dist_take_stats */
    double *waits;
    size_t nwaits, waits_cap;
    char failed[CLNET_ERRLEN]; /* why a bucket's all-reduce did not start */
    /* the step's loss sum, correct count, non-finite and stop flags,
     * summed over the ranks while the backward pass runs */
    double flags[4];
    void *flags_request;
};

static int on_host(const clnet_net *net, int bk)
{
    return net->backends[bk].ops == clnet_host_device_ops();
}

static int grow_host(struct clnet_dist *d, size_t values, clnet_error *err)
{
    if (values <= d->host_cap)
        return CLNET_OK;
    float *h = realloc(d->host, sizeof *h * values);
    if (!h)
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory for the "
                          "gradient sum (%zu values)", values);
    d->host = h;
    d->host_cap = values;
    return CLNET_OK;
}

/* Host arenas: from the last layer down, buckets of about `cap` bytes
 * that cover the arena without gaps (the padding between tensors is
 * zero on every rank); a device arena: one bucket. */
static int plan_buckets(clnet_net *net, size_t cap, clnet_error *err)
{
    struct clnet_dist *d = net->dist;
    int most = net->nbackends;
    for (int i = 0; i < net->nlayers; i++)
        most += net->layers[i].plan.nparams;
    if (!(d->buckets = calloc((size_t)most, sizeof *d->buckets)))
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory for buckets");
    for (int b = 0; b < net->nbackends; b++) {
        clnet_backend *bk = &net->backends[b];
        if (!bk->grad_arena)
            continue;
        if (!on_host(net, b)) {
            d->buckets[d->nbuckets++] = (bucket){b, 0, bk->arena_bytes, 0,
                                                 0, NULL};
            if (grow_host(d, bk->arena_bytes / sizeof(float), err))
                return err ? err->status : CLNET_E_NOMEM;
            continue;
        }
        size_t hi = bk->arena_bytes;
        int open = 0;
        bucket cur = {0};
        for (int i = net->nlayers - 1; i >= 0; i--) {
            clnet_net_layer *L = &net->layers[i];
            size_t lo = hi;
            for (int k = 0; L->bk == b && k < L->plan.nparams; k++)
                if (L->grads[k] && L->param_offset[k] < lo)
                    lo = L->param_offset[k];
            if (lo == hi)
                continue;
            if (!open)
                cur = (bucket){b, lo, hi, i, 0, NULL};
            cur.lo = lo;
            cur.first_layer = i;
            open = 1;
            hi = lo;
            if (cur.hi - cur.lo >= cap) {
                d->buckets[d->nbuckets++] = cur;
                open = 0;
            }
        }
        if (open)
            d->buckets[d->nbuckets++] = cur;
        /* the arena's start, when the lowest tensor is not at 0 */
        if (d->nbuckets && d->buckets[d->nbuckets - 1].bk == b)
            d->buckets[d->nbuckets - 1].lo = 0;
    }
    return CLNET_OK;
}

void clnet_dist_free(clnet_net *net)
{
    if (!net || !net->dist)
        return;
    free(net->dist->buckets);
    free(net->dist->host);
    free(net->dist->waits);
    free(net->dist);
    net->dist = NULL;
    net->comm = NULL;
}

int clnet_net_set_comm(clnet_net *net, clnet_comm *c, size_t bucket_bytes,
                       clnet_error *err)
{
    clnet_error_clear(err);
    if (!net)
        return clnet_fail(err, CLNET_E_ARG, "clnet_net_set_comm: no network");
    clnet_dist_free(net);
    if (!c)
        return CLNET_OK;
    if (net->nreplicas)
        return clnet_fail(err, CLNET_E_ARG,
                          "a network training replicas on several devices "
                          "(--devices) cannot also train across ranks");
    const uint64_t mine[] = {net->topo_hash, net->seed,
                             (uint64_t)net->max_batch};
    static const char *const what[] = {
        "topology (its hash: the topology files differ)", "seed",
        "batch the network was built for"};
    int rc = clnet_comm_agree(c, mine, 3, what, err);
    if (rc)
        return rc;
    if (!(net->dist = calloc(1, sizeof *net->dist)))
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory for the "
                                              "communicator's buckets");
    net->comm = c;
    if ((rc = plan_buckets(net, bucket_bytes ? bucket_bytes : 1u << 20,
                           err))) {
        clnet_dist_free(net);
        return rc;
    }
    return CLNET_OK;
}

void clnet_dist_slice(const clnet_net *net, int32_t n, int32_t *first,
                      int32_t *m)
{
    clnet_batch_slice(net->comm ? net->comm->rank : 0,
                      net->comm ? net->comm->size : 1, n, first, m);
}

static void start(clnet_net *net, bucket *b)
{
    struct clnet_dist *d = net->dist;
    clnet_backend *bk = &net->backends[b->bk];
    float *g = (float *)((char *)bk->grad_arena + b->lo);
    size_t n = (b->hi - b->lo) / sizeof(float);
    char perr[CLNET_ERRLEN] = "";
    b->started = 1;
    /* a failure shows when the step finishes: the backward pass goes on
     * (and the bucket still goes, so no other rank waits for it) */
    if (bk->ops->scale(bk->ctx, g, n, (float)d->scale, perr) &&
        !d->failed[0])
        snprintf(d->failed, sizeof d->failed, "%s", perr);
    if (net->comm->plugin->comm.start_all_reduce(net->comm->ctx, g, n,
                                                 CLNET_COMM_FLOAT,
                                                 &b->request, perr)) {
        b->request = NULL;
        if (!d->failed[0])
            snprintf(d->failed, sizeof d->failed, "%s",
                     perr[0] ? perr : "the all-reduce did not start");
    }
}

void clnet_dist_layer_done(clnet_net *net, int i)
{
    struct clnet_dist *d = net->dist;
    char perr[CLNET_ERRLEN];
    int flags_done = 0;
    if (d->flags_request &&
        net->comm->plugin->comm.test(net->comm->ctx, d->flags_request,
                                     &flags_done, perr) == 0 &&
        flags_done)
        d->flags_request = NULL;
    for (int k = 0; k < d->nbuckets; k++) {
        bucket *b = &d->buckets[k];
        if (!on_host(net, b->bk))
            continue;
        if (!b->started && b->first_layer >= i)
            start(net, b);
        else if (b->started && b->request) {
            /* lets the transfers started earlier progress */
            int done = 0;
            if (net->comm->plugin->comm.test(net->comm->ctx, b->request,
                                             &done, perr) == 0 && done)
                b->request = NULL;
        }
    }
}

/* What the backward pass did not start, then every bucket's end. */
static int finish(clnet_net *net, clnet_error *err)
{
    struct clnet_dist *d = net->dist;
    const clnet_comm_ops *ops = &net->comm->plugin->comm;
    char perr[CLNET_ERRLEN] = "";
    /* a device's backward pass is queued, not done: its time is the
     * step's compute, not the all-reduce's */
    for (int k = 0; k < d->nbuckets; k++) {
        clnet_backend *bk = &net->backends[d->buckets[k].bk];
        if (!on_host(net, d->buckets[k].bk) && bk->ops->finish(bk->ctx, perr))
            return clnet_fail(err, CLNET_E_PLUGIN, "%s: %s", bk->name, perr);
    }
    double t0 = clnet_now();
    for (int k = 0; k < d->nbuckets; k++)
        if (on_host(net, d->buckets[k].bk) && !d->buckets[k].started)
            start(net, &d->buckets[k]);
    int rc = CLNET_OK;
    for (int k = 0; k < d->nbuckets; k++) {
        bucket *b = &d->buckets[k];
        size_t n = (b->hi - b->lo) / sizeof(float);
        d->bytes += (double)(b->hi - b->lo);
        if (on_host(net, b->bk)) {
            if (b->request && ops->wait(net->comm->ctx, b->request, perr) &&
                !rc)
                rc = clnet_fail(err, CLNET_E_IO, "summing gradients across "
                                "ranks: %s", perr);
            b->request = NULL;
            b->started = 0;
            continue;
        }
        clnet_backend *bk = &net->backends[b->bk];
        if (rc)
            continue;
        /* scaled where the gradients are, then one read to the host */
        if (bk->ops->scale(bk->ctx, bk->grad_arena, n, (float)d->scale,
                           perr) ||
            bk->ops->read(bk->ctx, bk->grad_arena, d->host, n * sizeof(float),
                          perr)) {
            rc = clnet_fail(err, CLNET_E_IO, "%s: reading gradients: %s",
                            bk->name, perr);
            continue;
        }
        if (ops->all_reduce(net->comm->ctx, d->host, n, CLNET_COMM_FLOAT,
                            perr))
            rc = clnet_fail(err, CLNET_E_IO, "summing gradients across "
                            "ranks: %s", perr);
        else if (bk->ops->write(bk->ctx, bk->grad_arena, d->host,
                                n * sizeof(float), perr))
            rc = clnet_fail(err, CLNET_E_IO, "%s: writing gradients: %s",
                            bk->name, perr);
    }
    if (d->flags_request &&
        ops->wait(net->comm->ctx, d->flags_request, perr) && !rc)
        rc = clnet_fail(err, CLNET_E_IO, "summing the loss across ranks: %s",
                        perr);
    d->flags_request = NULL;
    if (d->nwaits == d->waits_cap) {
        size_t cap = d->waits_cap ? 2 * d->waits_cap : 256;
        double *w = realloc(d->waits, sizeof *w * cap);
        if (w)
            d->waits = w, d->waits_cap = cap;
    }
    /* (a step whose wait could not be kept counts as no wait) */
    if (d->nwaits < d->waits_cap)
        d->waits[d->nwaits++] = clnet_now() - t0;
    if (!rc && d->failed[0])
        rc = clnet_fail(err, CLNET_E_IO, "summing gradients across ranks: %s",
                        d->failed);
    d->failed[0] = '\0';
    return rc;
}

int clnet_dist_step(clnet_net *net, int32_t n, int stop, int *stop_all,
                    double *loss_sum, int64_t *correct, clnet_error *err)
{
    struct clnet_dist *d = net->dist;
    int32_t first, m;
    clnet_dist_slice(net, n, &first, &m);
    double loss = 0;
    int64_t right = 0;
    int nonfinite = 0, rc = CLNET_OK;
    net->sample_offset = first;
    if (m > 0) {
        rc = clnet_net_step_loss(net, m, &loss, &right, err);
        if (rc == CLNET_E_NONFINITE)
            nonfinite = 1, rc = CLNET_OK;
    }
    if (rc) {
        net->sample_offset = 0;
        return rc;
    }
    /* The batch's figures and whether any rank met a non-finite loss or
     * was asked to stop travel while the backward pass runs, so a step
     * holds the ranks together once, at its end. A rank whose loss is
     * not finite takes no backward pass and sends zeros: every rank then
     * fails together before any update. */
    d->flags[0] = loss;
    d->flags[1] = (double)right;
    d->flags[2] = nonfinite;
    d->flags[3] = stop;
    char perr[CLNET_ERRLEN] = "";
    if (net->comm->plugin->comm.start_all_reduce(net->comm->ctx, d->flags, 4,
                                                 CLNET_COMM_DOUBLE,
                                                 &d->flags_request, perr)) {
        net->sample_offset = 0;
        return clnet_fail(err, CLNET_E_IO, "summing the loss across ranks: "
                          "%s", perr);
    }
    d->scale = nonfinite ? 0.0 : (double)m / n;
    if (m > 0 && !nonfinite)
        rc = clnet_net_step_backward(net, m, err);
    net->sample_offset = 0;
    /* even after a failure of its own this rank's buckets must go, or
     * the others would wait for them; the failure is reported after */
    clnet_error ferr = {CLNET_OK, ""};
    int frc = finish(net, &ferr);
    if (rc)
        return rc;
    if (frc) {
        if (err)
            *err = ferr;
        return frc;
    }
    *loss_sum += d->flags[0];
    *correct += (int64_t)d->flags[1];
    *stop_all = d->flags[3] > 0;
    if (d->flags[2] > 0)
        return clnet_comm_together(net->comm,
                                   clnet_fail(err, CLNET_E_NONFINITE,
                                              "the loss became %g",
                                              d->flags[0]));
    rc = clnet_net_step_update(net, err);
    d->steps++;
    return rc;
}

int clnet_dist_sync_state(clnet_net *net, clnet_error *err)
{
    struct clnet_dist *d = net->dist;
    char perr[CLNET_ERRLEN] = "";
    for (int i = 0; i < net->nlayers; i++) {
        clnet_net_layer *L = &net->layers[i];
        for (int k = 0; k < L->plan.nparams; k++) {
            if (L->grads[k] || !L->plan.params[k].non_trainable)
                continue;
            size_t n = L->param_count[k];
            int rc = grow_host(d, n, err);
            if (!rc)
                rc = clnet_net_param_read(net, L, k, d->host, err);
            if (rc)
                return rc;
            if (net->comm->plugin->comm.all_reduce(net->comm->ctx, d->host,
                                                   n, CLNET_COMM_FLOAT, perr))
                return clnet_fail(err, CLNET_E_IO, "averaging %s's state "
                                  "across ranks: %s", L->name, perr);
            for (size_t j = 0; j < n; j++)
                d->host[j] /= (float)net->comm->size;
            if ((rc = clnet_net_param_write(net, L, k, d->host, err)))
                return rc;
        }
    }
    return CLNET_OK;
}

int clnet_dist_take_stats(clnet_net *net, double *transfer,
                          double *imbalance, double *bytes, int64_t *steps,
                          clnet_error *err)
{
    struct clnet_dist *d = net->dist;
    clnet_comm *c = net->comm;
    *transfer = *imbalance = 0;
    *bytes = d->bytes;
    *steps = d->steps;
    /* every rank kept one wait per step of the epoch: the last rank to
     * finish its backward pass waits for the transfer alone, the others
     * also for it, so the least wait of a step is the all-reduce's cost
     * and the rest is imbalance */
    size_t n = d->nwaits, all_n = n * (size_t)c->size;
    double *all = n ? malloc(sizeof *all * all_n) : NULL;
    char perr[CLNET_ERRLEN] = "";
    int rc = CLNET_OK;
    if (n && !all)
        rc = clnet_fail(err, CLNET_E_NOMEM, "out of memory for the "
                        "all-reduce's timings");
    else if (n && c->plugin->comm.all_gather(c->ctx, d->waits,
                                             sizeof *all * n, all, perr))
        rc = clnet_fail(err, CLNET_E_IO, "gathering the all-reduce's "
                        "timings: %s", perr);
    for (size_t s = 0; !rc && s < n; s++) {
        double least = all[s];
        for (int32_t r = 1; r < c->size; r++)
            if (all[(size_t)r * n + s] < least)
                least = all[(size_t)r * n + s];
        *transfer += least;
        *imbalance += d->waits[s] - least;
    }
    free(all);
    d->bytes = 0;
    d->steps = 0;
    d->nwaits = 0;
    return rc;
}
