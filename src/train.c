/* The training loop, evaluation and prediction: moves batches into the
 * network's preallocated buffers and drives the plugins. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"
#include "fuse.h"
#include "distributed.h"
#include "loader.h"
#include "pixel_file.h"

/* splitmix64: a small seeded generator for the epoch shuffle. */
static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void shuffle(int32_t *idx, int32_t n, uint64_t seed, int32_t epoch)
{
    uint64_t s = seed ^ ((uint64_t)epoch * 0xD1B54A32D192ED03ull);
    for (int32_t i = 0; i < n; i++)
        idx[i] = i;
    for (int32_t i = n - 1; i > 0; i--) {
        int32_t j = (int32_t)(splitmix(&s) % (uint64_t)(i + 1));
        int32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* Tells the observer (clnet bench's timers), if any, about a call. */
static void observe(clnet_net *net, clnet_call call, int layer, int bk,
                    int end)
{
    if (net->observer)
        net->observer(net->observer_user, net, call, layer, bk, end);
}

/* The batch's pixels to the input layer's backend (the forward pass does
 * this), and its labels to the loss's backend (each caller of the loss). */
static int upload_pixels(clnet_net *net, int32_t batch, clnet_error *err)
{
    char perr[CLNET_ERRLEN] = "";
    clnet_backend *in = &net->backends[net->layers[0].bk];
    if (net->pixels_dev &&
        in->ops->write(in->ctx, net->pixels_dev, net->batch_pixels,
                       (size_t)batch * net->layers[0].out_size, perr))
        return clnet_fail(err, CLNET_E_IO, "%s: %s", in->name, perr);
    return CLNET_OK;
}

static int upload_labels(clnet_net *net, int32_t batch, clnet_error *err)
{
    char perr[CLNET_ERRLEN] = "";
    clnet_backend *lb = &net->backends[net->loss_bk];
    if (net->labels_dev &&
        lb->ops->write(lb->ctx, net->labels_dev, net->batch_labels,
                       (size_t)batch * sizeof(int32_t), perr))
        return clnet_fail(err, CLNET_E_IO, "%s: %s", lb->name, perr);
    return CLNET_OK;
}

int clnet_net_forward(clnet_net *net, int32_t batch, int training,
                      clnet_error *err)
{
    clnet_step st = {batch, training, net->seed, net->step + 1, 1.0,
                     net->sample_offset};
    char perr[CLNET_ERRLEN] = "";
    const void *pixels = net->pixels_uploaded;
    net->pixels_uploaded = NULL; /* this pass only */
    int rc = pixels ? CLNET_OK : upload_pixels(net, batch, err);
    if (rc)
        return rc;
    if (!pixels)
        pixels = net->pixels_dev ? net->pixels_dev : net->batch_pixels;
    int fuse = !training && net->nfusions;
    if (fuse && (rc = clnet_net_refold(net, err)))
        return rc;
    for (int i = 0; i < net->nlayers; i++) {
        clnet_net_layer *L = &net->layers[i];
        if (L->plan.alias_input || (fuse && L->fused_into))
            continue;
        const void *xs[CLNET_MAX_INPUTS] = {pixels};
        for (int k = 0; k < L->ninputs; k++) {
            clnet_net_input *e = &L->inputs[k];
            const clnet_net_layer *P = &net->layers[e->src];
            xs[k] = P->act;
            if (!e->stage)
                continue;
            rc = clnet_backend_copy(net, P->bk, P->act, L->bk, e->stage,
                                    (size_t)batch * e->size * sizeof(float),
                                    err);
            if (rc)
                return rc;
            xs[k] = e->stage;
        }
        void *state = L->state, *y = L->act;
        if (fuse && L->fusion) {
            const clnet_fusion *f = &net->fusions[L->fusion - 1];
            state = f->state;
            y = net->layers[f->last].act;
        }
        observe(net, CLNET_CALL_FORWARD, i, L->bk, 0);
        if (L->plugin->layer.forward(state, &st, xs, y, perr))
            return clnet_fail(err, CLNET_E_PLUGIN, "%s forward failed: %s",
                              L->name, perr);
        observe(net, CLNET_CALL_FORWARD, i, L->bk, 1);
    }
    return CLNET_OK;
}

const float *clnet_net_predictions(clnet_net *net, int32_t batch,
                                   clnet_error *err)
{
    const clnet_net_layer *last = &net->layers[net->nlayers - 1];
    if (clnet_backend_is_host(net, last->bk))
        return last->act;
    clnet_backend *b = &net->backends[last->bk];
    char perr[CLNET_ERRLEN] = "";
    if (b->ops->read(b->ctx, last->act, net->host_pred,
                     (size_t)batch * (size_t)net->classes * sizeof(float),
                     perr)) {
        clnet_fail(err, CLNET_E_IO, "%s: %s", b->name, perr);
        return NULL;
    }
    return net->host_pred;
}

int clnet_net_read_output(clnet_net *net, int i, int32_t batch, float *host,
                          clnet_error *err)
{
    const clnet_net_layer *L = &net->layers[i];
    for (int j = i + 1; j < net->nlayers; j++)
        if (net->layers[j].in_place && net->layers[j].inputs[0].src == i)
            return clnet_fail(err, CLNET_E_ARG,
                              "%s's output is overwritten by %s, which runs "
                              "in place (build with keep_outputs to read it)",
                              L->name, net->layers[j].name);
    clnet_backend *b = &net->backends[L->bk];
    char perr[CLNET_ERRLEN] = "";
    if (b->ops->read(b->ctx, L->act, host,
                     (size_t)batch * L->out_size * sizeof(float), perr))
        return clnet_fail(err, CLNET_E_IO, "%s: %s", b->name, perr);
    return CLNET_OK;
}

static const void *labels_for_loss(const clnet_net *net)
{
    return net->labels_dev ? net->labels_dev : (const void *)net->batch_labels;
}

/* Hands on the input gradients layer L's backward pass wrote (see
 * clnet_dx_mode). */
static int pass_gradients(clnet_net *net, clnet_net_layer *L, int32_t batch,
                          clnet_error *err)
{
    char perr[CLNET_ERRLEN] = "";
    for (int k = 0; k < L->ninputs; k++) {
        clnet_net_input *e = &L->inputs[k];
        clnet_net_layer *P = &net->layers[e->src];
        size_t n = (size_t)batch * e->size;
        clnet_backend *pb = &net->backends[P->bk];
        int rc = CLNET_OK;
        switch (e->dx_mode) {
        case CLNET_DX_NONE:
        case CLNET_DX_DIRECT:
            break;
        case CLNET_DX_COPY:
            rc = clnet_backend_copy(net, L->bk, e->dx_own, P->bk, P->dact,
                                    n * sizeof(float), err);
            break;
        case CLNET_DX_ADD:
            if (pb->ops->accumulate(pb->ctx, P->dact, e->dx_own, n, perr))
                rc = clnet_fail(err, CLNET_E_PLUGIN, "%s: %s", pb->name, perr);
            break;
        case CLNET_DX_COPY_ADD:
            rc = clnet_backend_copy(net, L->bk, e->dx_own, P->bk, e->dx_remote,
                                    n * sizeof(float), err);
            if (!rc &&
                pb->ops->accumulate(pb->ctx, P->dact, e->dx_remote, n, perr))
                rc = clnet_fail(err, CLNET_E_PLUGIN, "%s: %s", pb->name, perr);
            break;
        }
        if (rc)
            return rc;
    }
    return CLNET_OK;
}

static int backward(clnet_net *net, const clnet_step *st, clnet_error *err)
{
    char perr[CLNET_ERRLEN] = "";
    for (int i = net->nlayers - 1; i >= 1; i--) {
        clnet_net_layer *L = &net->layers[i];
        if (L->plan.alias_input || !L->wants_grad)
            continue;
        const void *xs[CLNET_MAX_INPUTS];
        void *dxs[CLNET_MAX_INPUTS];
        for (int k = 0; k < L->ninputs; k++) {
            clnet_net_input *e = &L->inputs[k];
            clnet_net_layer *P = &net->layers[e->src];
            xs[k] = e->stage ? e->stage : P->act;
            dxs[k] = e->dx_mode == CLNET_DX_NONE     ? NULL
                     : e->dx_mode == CLNET_DX_DIRECT ? P->dact
                                                     : e->dx_own;
        }
        observe(net, CLNET_CALL_BACKWARD, i, L->bk, 0);
        if (L->plugin->layer.backward(L->state, st, xs, L->act, L->dact, dxs,
                                      perr))
            return clnet_fail(err, CLNET_E_PLUGIN, "%s backward failed: %s",
                              L->name, perr);
        observe(net, CLNET_CALL_BACKWARD, i, L->bk, 1);
        int rc = pass_gradients(net, L, st->batch, err);
        if (rc)
            return rc;
        if (net->dist)
            clnet_dist_layer_done(net, i);
    }
    return CLNET_OK;
}

/* Keras's gradient clipping, on the gradient arenas between backward and
 * the update: clipnorm scales each tensor whose norm passes it down to
 * it, global_clipnorm all tensors by their joint norm. */
static int clip_gradients(clnet_net *net, clnet_error *err)
{
    char perr[CLNET_ERRLEN] = "";
    for (int i = 0; net->clipnorm > 0 && i < net->nlayers; i++) {
        clnet_net_layer *L = &net->layers[i];
        clnet_backend *b = &net->backends[L->bk];
        for (int k = 0; k < L->plan.nparams; k++) {
            double ss;
            if (!L->grads[k])
                continue;
            if (b->ops->sum_squares(b->ctx, L->grads[k], L->param_count[k],
                                    &ss, perr))
                return clnet_fail(err, CLNET_E_PLUGIN, "%s: %s", b->name,
                                  perr);
            double norm = sqrt(ss);
            if (norm > net->clipnorm &&
                b->ops->scale(b->ctx, L->grads[k], L->param_count[k],
                              (float)(net->clipnorm / norm), perr))
                return clnet_fail(err, CLNET_E_PLUGIN, "%s: %s", b->name,
                                  perr);
        }
    }
    if (!(net->global_clipnorm > 0))
        return CLNET_OK;
    double total = 0;
    for (int bi = 0; bi < net->nbackends; bi++) {
        clnet_backend *b = &net->backends[bi];
        double ss = 0;
        if (b->grad_arena &&
            b->ops->sum_squares(b->ctx, b->grad_arena,
                                b->arena_bytes / sizeof(float), &ss, perr))
            return clnet_fail(err, CLNET_E_PLUGIN, "%s: %s", b->name, perr);
        total += ss;
    }
    double norm = sqrt(total);
    if (!(norm > net->global_clipnorm))
        return CLNET_OK;
    for (int bi = 0; bi < net->nbackends; bi++) {
        clnet_backend *b = &net->backends[bi];
        if (b->grad_arena &&
            b->ops->scale(b->ctx, b->grad_arena,
                          b->arena_bytes / sizeof(float),
                          (float)(net->global_clipnorm / norm), perr))
            return clnet_fail(err, CLNET_E_PLUGIN, "%s: %s", b->name, perr);
    }
    return CLNET_OK;
}

int clnet_net_train_step(clnet_net *net, int32_t batch, double *loss_sum,
                         int64_t *correct, clnet_error *err)
{
    int rc = clnet_net_step_gradients(net, batch, loss_sum, correct, err);
    return rc ? rc : clnet_net_step_update(net, err);
}

int clnet_net_step_gradients(clnet_net *net, int32_t batch, double *loss_sum,
                             int64_t *correct, clnet_error *err)
{
    int rc = clnet_net_step_loss(net, batch, loss_sum, correct, err);
    return rc ? rc : clnet_net_step_backward(net, batch, err);
}

static clnet_step train_step(const clnet_net *net, int32_t batch)
{
    return (clnet_step){batch, 1, net->seed, net->step + 1, net->lr_scale,
                        net->sample_offset};
}

int clnet_net_step_backward(clnet_net *net, int32_t batch, clnet_error *err)
{
    clnet_step st = train_step(net, batch);
    return backward(net, &st, err);
}

int clnet_net_step_loss(clnet_net *net, int32_t batch, double *loss_sum,
                        int64_t *correct, clnet_error *err)
{
    int rc = clnet_net_forward(net, batch, 1, err);
    if (!rc)
        rc = upload_labels(net, batch, err);
    if (rc)
        return rc;
    clnet_step st = train_step(net, batch);
    char perr[CLNET_ERRLEN] = "";
    clnet_net_layer *last = &net->layers[net->nlayers - 1];
    double before = *loss_sum;
    observe(net, CLNET_CALL_LOSS, -1, net->loss_bk, 0);
    if (net->loss->loss.compute(net->loss_state, &st, last->act,
                                labels_for_loss(net), net->classes, net->fused,
                                last->dact, loss_sum, correct, perr))
        return clnet_fail(err, CLNET_E_PLUGIN, "loss %s failed: %s",
                          net->loss->kind, perr);
    observe(net, CLNET_CALL_LOSS, -1, net->loss_bk, 1);
    /* no backward pass or update from a non-finite loss: the gradients
     * and parameters stay those of the step before, for the diagnosis */
    if (!isfinite(*loss_sum - before))
        return clnet_fail(err, CLNET_E_NONFINITE, "the loss became %g",
                          *loss_sum - before);
    return CLNET_OK;
}

int clnet_net_step_update(clnet_net *net, clnet_error *err)
{
    int rc = clip_gradients(net, err);
    if (rc)
        return rc;
    char perr[CLNET_ERRLEN] = "";
    net->step++;
    clnet_step st = {0, 1, net->seed, net->step, net->lr_scale,
                     net->sample_offset};
    /* one update per backend, over its whole arena */
    for (int b = 0; b < net->nbackends; b++) {
        clnet_backend *bk = &net->backends[b];
        if (!bk->grad_arena || !bk->optimizer)
            continue;
        observe(net, CLNET_CALL_UPDATE, -1, b, 0);
        void *slots[CLNET_MAX_SLOTS];
        for (int s = 0; s < CLNET_MAX_SLOTS; s++)
            slots[s] = bk->slot_arena[s];
        if (bk->optimizer->optimizer.update(
                bk->optimizer_state, &st, bk->param_arena, bk->grad_arena,
                slots, bk->arena_bytes / sizeof(float), perr))
            return clnet_fail(err, CLNET_E_PLUGIN, "optimizer %s failed on "
                              "%s: %s", bk->optimizer->kind, bk->name, perr);
        observe(net, CLNET_CALL_UPDATE, -1, b, 1);
    }
    return CLNET_OK;
}

static int check_dataset(const clnet_net *net, const clnet_dataset *ds,
                         const char *what, clnet_error *err)
{
    if (!ds || ds->count <= 0 || !ds->pixels || !ds->labels)
        return clnet_fail(err, CLNET_E_ARG, "the %s set is empty", what);
    /* the same geometry, not only as many values: 784x1x1 must not train
     * on 28x28 images as if it were their shape */
    clnet_shape in = net->layers[0].out;
    int32_t ch = ds->channels ? ds->channels : 1;
    if (ds->rows != in.h || ds->cols != in.w || ch != in.c)
        return clnet_fail(err, CLNET_E_DATA,
                          "the %s images are %dx%dx%d, but %s:%d:%d takes "
                          "input shape=%dx%dx%d; make them agree",
                          what, ds->rows, ds->cols, ch, net->file,
                          net->layers[0].line, net->layers[0].col, in.h, in.w,
                          in.c);
    for (int32_t i = 0; i < ds->count; i++)
        if (ds->labels[i] < 0 || ds->labels[i] >= net->classes)
            return clnet_fail(err, CLNET_E_DATA,
                              "%s label %d of sample %d is outside the "
                              "network's %d classes",
                              what, ds->labels[i], i, net->classes);
    return CLNET_OK;
}

static void gather(clnet_net *net, const clnet_dataset *ds, const int32_t *idx,
                   int32_t start, int32_t n)
{
    size_t sz = clnet_dataset_sample_bytes(ds);
    for (int32_t b = 0; b < n; b++) {
        int32_t s = idx ? idx[start + b] : start + b;
        memcpy(net->batch_pixels + (size_t)b * sz, ds->pixels + (size_t)s * sz,
               sz);
        net->batch_labels[b] = ds->labels[s];
    }
    clnet_pixels_used(ds);
}

/* Which layer's figures went non-finite first, for the message when the
 * loss does: in the order backward computes them, gradients (the last
 * step's), then parameters (after its update). */
static void diagnose(clnet_net *net, char *what, size_t len)
{
    snprintf(what, len, "; every gradient and parameter is finite, so an "
                        "activation overflowed");
    size_t largest = 0;
    for (int i = 0; i < net->nlayers; i++)
        for (int k = 0; k < net->layers[i].plan.nparams; k++)
            if (net->layers[i].param_count[k] > largest)
                largest = net->layers[i].param_count[k];
    float *h = largest ? malloc(largest * sizeof *h) : NULL;
    if (!h)
        return;
    for (int kind = 0; kind < 2; kind++)
        for (int i = net->nlayers - 1; i >= 0; i--) {
            clnet_net_layer *L = &net->layers[i];
            clnet_backend *b = &net->backends[L->bk];
            for (int k = 0; k < L->plan.nparams; k++) {
                char perr[CLNET_ERRLEN];
                if (!kind && !L->grads[k])
                    continue;
                if (b->ops->read(b->ctx, kind ? L->params[k] : L->grads[k], h,
                                 L->param_count[k] * sizeof *h, perr))
                    continue;
                size_t e = 0;
                while (e < L->param_count[k] && isfinite(h[e]))
                    e++;
                if (e == L->param_count[k])
                    continue;
                if (kind == 0)
                    snprintf(what, len,
                             "; the gradient of %s/%s was already %g in the "
                             "step before",
                             L->name, L->plan.params[k].name, h[e]);
                else
                    snprintf(what, len,
                             "; the gradients were finite, but the optimizer's "
                             "update made %s/%s %g",
                             L->name, L->plan.params[k].name, h[e]);
                free(h);
                return;
            }
        }
    free(h);
}

/* The hint that fits a non-finite loss: an epsilon of 0 lets Adam divide
 * zero by zero where a gradient stays 0; otherwise the step is too big. */
static const char *nonfinite_hint(const clnet_net *net)
{
    if (net->optimizer_epsilon_zero)
        return "the optimizer's epsilon is 0, which divides 0 by 0 where a "
               "gradient is 0: use epsilon=1e-7 (Keras's default)";
    return "try a smaller learning rate (lr= on the train line)";
}

/* Sets s->diverged: the loss far above the first step's and chance's
 * (1), or
 * accuracy at chance with the loss no better than at the start (2). */
static void judge(const clnet_net *net, clnet_epoch_stats *s)
{
    double first = net->progress.first_loss;
    if (!(first > 0))
        return;
    /* against chance's loss too: a run started from trained weights
     * (--init-weights) begins far below it, and may rise a little */
    double chance = log((double)net->classes);
    if (s->loss > 3 * (first > chance ? first : chance))
        s->diverged = 1;
    else if (s->accuracy <= 1.25 / net->classes && s->loss >= 0.9 * first)
        s->diverged = 2;
    s->first_loss = first;
}

/* Every parameter tensor, trainable or not, into *buf (grown to hold
 * them): what EarlyStopping keeps of the best epoch. */
static int snapshot(clnet_net *net, float **buf, clnet_error *err)
{
    if (!*buf && !(*buf = malloc(sizeof(float) * (net->total_params + 1))))
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory for the best "
                                              "epoch's weights");
    size_t at = 0;
    for (int i = 0; i < net->nlayers; i++)
        for (int k = 0; k < net->layers[i].plan.nparams; k++) {
            int rc = clnet_net_param_read(net, &net->layers[i], k, *buf + at,
                                          err);
            if (rc)
                return rc;
            at += net->layers[i].param_count[k];
        }
    return CLNET_OK;
}

static int restore(clnet_net *net, const float *buf, clnet_error *err)
{
    size_t at = 0;
    for (int i = 0; i < net->nlayers; i++)
        for (int k = 0; k < net->layers[i].plan.nparams; k++) {
            int rc = clnet_net_param_write(net, &net->layers[i], k, buf + at,
                                           err);
            if (rc)
                return rc;
            at += net->layers[i].param_count[k];
        }
    return CLNET_OK;
}

typedef void (*eval_progress_fn)(int64_t done, int64_t total, void *user);
static int evaluate(clnet_net *net, const clnet_dataset *ds,
                    clnet_eval_result *res, eval_progress_fn progress,
                    void *user, clnet_error *err);

int clnet_train(clnet_net *net, const clnet_dataset *train,
                const clnet_dataset *test, const clnet_train_options *opt,
                clnet_error *err)
{
    clnet_error_clear(err);
    if (!net)
        return clnet_fail(err, CLNET_E_ARG, "clnet_train: no network");
    clnet_train_options defaults = {0};
    const clnet_train_options *o = opt ? opt : &defaults;
    int32_t epochs = o->epochs ? o->epochs : net->default_epochs;
    int32_t batch = o->batch ? o->batch : net->max_batch;
    if (epochs < 0 || batch < 0)
        return clnet_fail(err, CLNET_E_ARG, "epochs and batch must be positive");
    if (batch > net->max_batch)
        return clnet_fail(err, CLNET_E_ARG,
                          "batch %d is larger than the %d the network was "
                          "built for",
                          batch, net->max_batch);
    int rc = check_dataset(net, train, "training", err);
    if (!rc && test)
        rc = check_dataset(net, test, "test", err);
    if (rc)
        return rc;
    /* the validation set: the test set, or the held-out end of train */
    clnet_dataset part, held;
    const clnet_dataset *val = test;
    if (o->val_split != 0) {
        if (!(o->val_split > 0 && o->val_split < 1))
            return clnet_fail(err, CLNET_E_ARG,
                              "the validation split must be between 0 and 1 "
                              "(a fraction of the training set), got %g",
                              o->val_split);
        int32_t keep = (int32_t)((double)train->count * (1.0 - o->val_split));
        if (keep < 1 || keep >= train->count)
            return clnet_fail(err, CLNET_E_ARG,
                              "a validation split of %g of %d training "
                              "images leaves %s",
                              o->val_split, train->count,
                              keep < 1 ? "none to train on"
                                       : "none to validate on");
        size_t sz = clnet_dataset_sample_bytes(train);
        part = *train;
        part.count = keep;
        held = *train;
        held.count = train->count - keep;
        held.pixels = train->pixels + (size_t)keep * sz;
        held.labels = train->labels + keep;
        train = &part;
        val = &held;
    }
    clnet_schedule sched = net->schedule;
    if (o->schedule && (rc = clnet_schedule_parse(&sched, o->schedule, err)))
        return rc;
    if ((rc = clnet_schedule_check(&sched, epochs, NULL, err)))
        return rc;
    clnet_progress *pg = &net->progress;
    if (pg->batch && (pg->batch != batch || pg->count != train->count))
        return clnet_fail(err, CLNET_E_ARG,
                          "the run being resumed took batch %d over %d "
                          "training samples; this one takes batch %d over %d: "
                          "resume with the same --batch and data",
                          pg->batch, pg->count, batch, train->count);
    pg->batch = batch;
    pg->count = train->count;
    if (net->comm) {
        const uint64_t run[] = {
            (uint64_t)batch, (uint64_t)train->count,
            (uint64_t)(val ? val->count : 0), (uint64_t)(test ? test->count : 0),
            (uint64_t)epochs, (uint64_t)pg->epoch, (uint64_t)pg->epoch_step,
            net->step};
        static const char *const what[] = {
            "batch", "number of training samples",
            "number of validation samples", "number of test samples",
            "number of epochs", "epoch resumed after", "step resumed at",
            "training step (the checkpoints resumed differ)"};
        if ((rc = clnet_comm_agree(net->comm, run, 8, what, err)))
            return rc;
    }
    int32_t *idx = malloc(sizeof *idx * (size_t)train->count);
    if (!idx)
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory for the shuffle");
    int64_t steps = (train->count + batch - 1) / batch;
    double best_loss = INFINITY;
    int32_t best_epoch = 0, wait = 0;
    float *best_weights = NULL;
    clnet_loader *ld = NULL;
    for (int32_t e = pg->epoch + 1; e <= epochs; e++) {
        shuffle(idx, train->count, net->seed, e);
        /* a resumed epoch goes on from its running figures */
        double t0 = clnet_now() - pg->seconds, loss_sum = pg->loss_sum;
        int64_t correct = pg->correct, seen = pg->seen;
        double waited = 0;
        if (!(ld = clnet_loader_start(net, train, idx, e, pg->epoch_step,
                                      steps, batch, err))) {
            rc = err ? err->status : CLNET_E_NOMEM;
            goto done;
        }
        for (int64_t s = pg->epoch_step; s < steps; s++) {
            double w = 0;
            int32_t n = 0;
            int32_t got = clnet_loader_next(ld, &w, &n, err);
            waited += w;
            if (got < 0) {
                rc = err ? err->status : CLNET_E_IO;
                goto done;
            }
            net->lr_scale =
                clnet_schedule_factor(&sched, net->step, steps, epochs);
            double before = loss_sum;
            /* across ranks the stop is asked before the step, so that
             * every rank learns of it in the step's own exchange */
            int stop = 0;
            if (net->comm)
                rc = clnet_dist_step(net, n,
                                     o->should_stop && o->should_stop(o->user),
                                     &stop, &loss_sum, &correct, err);
            else if (net->nreplicas)
                rc = clnet_replicas_step(net, n, &loss_sum, &correct, err);
            else
                rc = clnet_net_train_step(net, n, &loss_sum, &correct, err);
            if (rc == CLNET_E_NONFINITE) {
                char what[CLNET_ERRLEN];
                diagnose(net, what, sizeof what);
                /* (across ranks every rank fails here together) */
                rc = clnet_fail(err, CLNET_E_NONFINITE,
                                "the loss became %g at epoch %d step %lld%s; "
                                "%s",
                                loss_sum - before, e, (long long)s + 1, what,
                                nonfinite_hint(net));
            }
            if (rc)
                goto done;
            seen += n;
            /* before any update the loss is about ln(classes) */
            if (e == 1 && s == 0)
                pg->first_loss = loss_sum / (double)seen;
            pg->epoch_step = s + 1;
            pg->loss_sum = loss_sum;
            pg->correct = correct;
            pg->seen = seen;
            pg->seconds = clnet_now() - t0;
            if (o->on_step)
                o->on_step((int64_t)net->step, (loss_sum - before) / n,
                           o->user);
            if (o->on_progress)
                o->on_progress(e, s + 1, steps, loss_sum / (double)seen,
                               (double)correct / (double)seen,
                               clnet_now() - t0, o->user);
            if (!net->comm)
                stop = o->should_stop && o->should_stop(o->user);
            if (s + 1 < steps && stop) {
                rc = clnet_fail(err, CLNET_E_INTERRUPTED,
                                "stopped at epoch %d step %lld of %lld", e,
                                (long long)s + 1, (long long)steps);
                if (net->comm) /* every rank learnt of it in the step */
                    clnet_comm_together(net->comm, rc);
                goto done;
            }
        }
        clnet_loader_stop(ld);
        ld = NULL;
        clnet_epoch_stats st = {0};
        st.epoch = e;
        st.seconds = clnet_now() - t0;
        st.data_wait = st.seconds > 0 ? waited / st.seconds : 0;
        st.loss = loss_sum / (double)seen;
        st.accuracy = (double)correct / (double)seen;
        st.images_per_second = (double)seen / st.seconds;
        st.val_loss = st.val_accuracy = NAN;
        st.lr = clnet_net_learning_rate(net);
        if (net->comm) {
            int64_t n_steps;
            if ((rc = clnet_dist_take_stats(net, &st.comm_wait,
                                            &st.comm_imbalance, &st.comm_bytes,
                                            &n_steps, err)) ||
                (rc = clnet_dist_sync_state(net, err)))
                goto done;
            double t = st.seconds > 0 ? st.seconds : 1;
            st.comm_wait /= t;
            st.comm_imbalance /= t;
            st.comm_bytes = n_steps ? st.comm_bytes / (double)n_steps : 0;
        }
        judge(net, &st);
        *pg = (clnet_progress){.epoch = e, .batch = batch,
                               .count = train->count,
                               .first_loss = pg->first_loss};
        if (val) {
            clnet_eval_result ev = {0};
            double te = clnet_now();
            rc = evaluate(net, val, &ev, o->on_eval_progress, o->user, err);
            st.eval_seconds = clnet_now() - te;
            free(ev.confusion);
            if (rc)
                goto done;
            st.val_loss = ev.loss;
            st.val_accuracy = ev.accuracy;
        }
        if (val && st.val_loss < best_loss) {
            best_loss = st.val_loss;
            best_epoch = e;
            wait = 0;
            st.best = 1;
            if (o->patience > 0 && (rc = snapshot(net, &best_weights, err)))
                goto done;
        } else if (val) {
            wait++;
        }
        st.best_epoch = best_epoch;
        st.early_stop = o->patience > 0 && wait >= o->patience;
        /* Keras's EarlyStopping: the best weights come back when it stops */
        if (st.early_stop && best_weights &&
            (rc = restore(net, best_weights, err)))
            goto done;
        if (o->on_epoch)
            o->on_epoch(&st, o->user);
        if (st.early_stop)
            break;
        if (o->stop_at > 0 && val && st.val_accuracy >= o->stop_at)
            break;
        int stop = o->should_stop && o->should_stop(o->user);
        if (net->comm && e < epochs &&
            (rc = clnet_comm_any(net->comm, stop, &stop, err)))
            goto done;
        if (e < epochs && stop) {
            rc = clnet_fail(err, CLNET_E_INTERRUPTED,
                            "stopped after epoch %d of %d", e, epochs);
            if (net->comm)
                clnet_comm_together(net->comm, rc);
            goto done;
        }
    }
    /* with a split, the test set once, after training */
    if (!rc && val != test && test) {
        clnet_eval_result ev = {0};
        rc = evaluate(net, test, &ev, o->on_eval_progress, o->user, err);
        free(ev.confusion);
        if (!rc && o->on_test)
            o->on_test(ev.loss, ev.accuracy, o->user);
    }
done:
    /* the schedule belongs to this run: a step taken afterwards through
     * clnet_net_train_batch uses the optimizer's own lr, not the factor
     * of the run's last update (about 0 at a cosine schedule's end) */
    net->lr_scale = 1.0;
    clnet_loader_stop(ld);
    free(idx);
    free(best_weights);
    return rc;
}

double clnet_net_learning_rate(const clnet_net *net)
{
    return net ? net->base_lr * net->lr_scale : NAN;
}

void clnet_eval_result_free(clnet_eval_result *res)
{
    if (!res)
        return;
    free(res->confusion);
    res->confusion = NULL;
}

/* How often, at most, evaluate tells its progress. */
#define EVAL_PROGRESS_SECONDS 0.1

int clnet_evaluate(clnet_net *net, const clnet_dataset *ds,
                   clnet_eval_result *res, clnet_error *err)
{
    return evaluate(net, ds, res, NULL, NULL, err);
}

/* clnet_evaluate, telling progress (when given) the samples done: 0
 * first, then at most every EVAL_PROGRESS_SECONDS, and all at the end. */
static int evaluate(clnet_net *net, const clnet_dataset *ds,
                    clnet_eval_result *res, eval_progress_fn progress,
                    void *user, clnet_error *err)
{
    clnet_error_clear(err);
    if (!net || !res)
        return clnet_fail(err, CLNET_E_ARG, "clnet_evaluate: NULL argument");
    memset(res, 0, sizeof *res);
    int rc = check_dataset(net, ds, "evaluation", err);
    if (rc)
        return rc;
    int32_t k = net->classes;
    res->classes = k;
    res->confusion = calloc((size_t)k * (size_t)k, sizeof *res->confusion);
    if (!res->confusion)
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory");
    double loss_sum = 0;
    int64_t correct = 0;
    clnet_step st = {0, 0, net->seed, net->step, 1.0, 0};
    char perr[CLNET_ERRLEN] = "";
    const clnet_net_layer *last = &net->layers[net->nlayers - 1];
    double told = progress ? clnet_now() : 0;
    if (progress)
        progress(0, ds->count, user);
    for (int32_t start = 0; start < ds->count; start += net->max_batch) {
        int32_t n = ds->count - start < net->max_batch ? ds->count - start
                                                       : net->max_batch;
        gather(net, ds, NULL, start, n);
        if ((rc = clnet_net_forward(net, n, 0, err)))
            return rc;
        st.batch = n;
        if ((rc = upload_labels(net, n, err)))
            return rc;
        if (net->loss->loss.compute(net->loss_state, &st, last->act,
                                    labels_for_loss(net), k, net->fused, NULL,
                                    &loss_sum, &correct, perr))
            return clnet_fail(err, CLNET_E_PLUGIN, "loss failed: %s", perr);
        const float *p = clnet_net_predictions(net, n, err);
        if (!p)
            return err ? err->status : CLNET_E_IO;
        for (int32_t b = 0; b < n; b++) {
            int32_t best = 0;
            for (int32_t c = 1; c < k; c++)
                if (p[(size_t)b * k + c] > p[(size_t)b * k + best])
                    best = c;
            res->confusion[(size_t)net->batch_labels[b] * k + best]++;
        }
        if (progress && (start + n == ds->count ||
                         clnet_now() - told >= EVAL_PROGRESS_SECONDS)) {
            told = clnet_now();
            progress(start + n, ds->count, user);
        }
    }
    res->loss = loss_sum / ds->count;
    res->accuracy = (double)correct / ds->count;
    return CLNET_OK;
}

int clnet_predict(clnet_net *net, const uint8_t *pixels, int32_t n,
                  float *probs, clnet_error *err)
{
    clnet_error_clear(err);
    if (!net || !pixels || !probs || n < 0)
        return clnet_fail(err, CLNET_E_ARG, "clnet_predict: bad argument");
    size_t in = (size_t)clnet_net_input_size(net);
    for (int32_t start = 0; start < n; start += net->max_batch) {
        int32_t m = n - start < net->max_batch ? n - start : net->max_batch;
        memcpy(net->batch_pixels, pixels + (size_t)start * in, (size_t)m * in);
        int rc = clnet_net_forward(net, m, 0, err);
        if (rc)
            return rc;
        const float *p = clnet_net_predictions(net, m, err);
        if (!p)
            return err ? err->status : CLNET_E_IO;
        memcpy(probs + (size_t)start * net->classes, p,
               sizeof(float) * (size_t)m * (size_t)net->classes);
    }
    return CLNET_OK;
}
