/* Memory planning: what every buffer a training step needs will cost on
 * each backend, checked against the limit before anything is allocated;
 * the buffers themselves, on the backend of the layer that uses them,
 * allocated once before the first step; the initial parameters; and
 * parameter copies to and from the host. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends.h"
#include "clnet/philox.h"

/* A uniform draw in [0, 1) for element k of a layer's parameter `which`,
 * attempt `a` (the truncated normal redraws). */
static double uniform(uint64_t seed, uint32_t layer, uint32_t which,
                      uint32_t a, uint32_t k)
{
    return clnet_philox_uniform(seed, 0x80000000u | layer,
                                (uint64_t)which | (uint64_t)a << 32, k);
}

/* Keras's initializers (plugin.h): the normal ones are truncated at two
 * standard deviations and scaled up by 1 / 0.8796, as Keras's
 * VarianceScaling draws them, so the variance is the one asked for. */
static void init_param(float *p, size_t n, const clnet_param_info *info,
                       uint64_t seed, uint32_t layer, uint32_t which)
{
    double fan_in = info->fan_in > 0 ? info->fan_in : 1;
    double fan_avg = info->fan_in + info->fan_out > 0
                         ? (info->fan_in + info->fan_out) / 2.0
                         : 1;
    double limit = 0, stddev = 0;
    switch (info->init) {
    case CLNET_INIT_ZEROS:
    case CLNET_INIT_ONES:
        for (size_t k = 0; k < n; k++)
            p[k] = info->init == CLNET_INIT_ONES ? 1.0f : 0.0f;
        return;
    case CLNET_INIT_GLOROT_UNIFORM:
        limit = sqrt(3.0 / fan_avg);
        break;
    case CLNET_INIT_HE_UNIFORM:
        limit = sqrt(6.0 / fan_in);
        break;
    case CLNET_INIT_GLOROT_NORMAL:
        stddev = sqrt(1.0 / fan_avg) / 0.87962566103423978;
        break;
    case CLNET_INIT_HE_NORMAL:
        stddev = sqrt(2.0 / fan_in) / 0.87962566103423978;
        break;
    }
    for (size_t k = 0; k < n; k++) {
        if (limit > 0) {
            double u = uniform(seed, layer, which, 0, (uint32_t)k);
            p[k] = (float)((2.0 * u - 1.0) * limit);
            continue;
        }
        double z = 0;
        for (uint32_t a = 0;; a += 2) {
            /* Box-Muller on a pair of draws; redrawn past 2 deviations */
            double u1 = uniform(seed, layer, which, a, (uint32_t)k);
            double u2 = uniform(seed, layer, which, a + 1, (uint32_t)k);
            z = sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
            if (fabs(z) <= 2.0 || a > 64)
                break;
        }
        p[k] = (float)(z * stddev);
    }
}

int clnet_net_param_write(clnet_net *net, const clnet_net_layer *L, int k,
                          const float *host, clnet_error *err)
{
    clnet_backend *b = &net->backends[L->bk];
    char perr[CLNET_ERRLEN] = "";
    net->param_writes++; /* the inference chains fold again */
    if (b->ops->write(b->ctx, L->params[k], host,
                      L->param_count[k] * sizeof(float), perr))
        return clnet_fail(err, CLNET_E_IO, "writing %s to %s: %s", L->name,
                          b->name, perr);
    return CLNET_OK;
}

int clnet_net_param_read(const clnet_net *net, const clnet_net_layer *L,
                         int k, float *host, clnet_error *err)
{
    const clnet_backend *b = &net->backends[L->bk];
    char perr[CLNET_ERRLEN] = "";
    if (b->ops->read(b->ctx, L->params[k], host,
                     L->param_count[k] * sizeof(float), perr))
        return clnet_fail(err, CLNET_E_IO, "reading %s from %s: %s", L->name,
                          b->name, perr);
    return CLNET_OK;
}

static size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

/* Output gradients share buffers where their lives do not overlap: layer
 * p's is written first by its last reader's backward pass (the loss's,
 * for the last layer) and read last by p's own, so it lives while
 * backward runs layers r(p) down to p. Intervals are given slots in the
 * order backward meets them, each the free slot (on the layer's backend,
 * its last user's life over) closest in size; a slot is as large as the
 * largest tensor it holds. slot[i] is -1 for a layer without one. */
typedef struct {
    int n;
    int *slot;      /* per layer */
    int *bk;        /* per slot */
    uint64_t *bytes;
    int *free_from; /* per slot: the lowest layer index still using it */
} grad_slots;

static void grad_slots_free(grad_slots *g)
{
    free(g->slot);
    free(g->bk);
    free(g->bytes);
    free(g->free_from);
    memset(g, 0, sizeof *g);
}

static int plan_grad_slots(const clnet_net *net, grad_slots *g)
{
    int N = net->nlayers;
    memset(g, 0, sizeof *g);
    int *first = malloc(sizeof(int) * (size_t)N);
    g->slot = malloc(sizeof(int) * (size_t)N);
    g->bk = malloc(sizeof(int) * (size_t)N);
    g->bytes = malloc(sizeof(uint64_t) * (size_t)N);
    g->free_from = malloc(sizeof(int) * (size_t)N);
    if (!first || !g->slot || !g->bk || !g->bytes || !g->free_from) {
        free(first);
        grad_slots_free(g);
        return -1;
    }
    for (int i = 0; i < N; i++) {
        first[i] = -1;
        g->slot[i] = -1;
    }
    /* the loss writes the last layer's gradient first: the owner's, when
     * the last layer aliases its input (a network ending in flatten) */
    const clnet_net_layer *last = &net->layers[N - 1];
    first[last->plan.alias_input ? last->inputs[0].src : N - 1] = N;
    for (int j = 0; j < N; j++) {
        const clnet_net_layer *L = &net->layers[j];
        if (L->plan.alias_input)
            continue;
        for (int k = 0; k < L->ninputs; k++)
            if (L->inputs[k].dx_mode != CLNET_DX_NONE &&
                j > first[L->inputs[k].src])
                first[L->inputs[k].src] = j;
    }
    /* backward order: the interval that starts latest in the file first
     * (layers bucketed by first[], so long networks stay linear) */
    int *head = malloc(sizeof(int) * (size_t)(N + 2)),
        *next = malloc(sizeof(int) * (size_t)N);
    if (!head || !next) {
        free(head);
        free(next);
        free(first);
        grad_slots_free(g);
        return -1;
    }
    for (int t = 0; t <= N + 1; t++)
        head[t] = -1;
    for (int p = 0; p < N; p++) /* lists in decreasing p */
        if (first[p] >= 0) {
            next[p] = head[first[p]];
            head[first[p]] = p;
        }
    for (int t = N; t >= 0; t--)
        for (int p = head[t]; p >= 0; p = next[p]) {
            const clnet_net_layer *L = &net->layers[p];
            if (!L->wants_grad || L->plan.alias_input)
                continue;
            uint64_t need = (uint64_t)net->max_batch * L->out_size *
                            sizeof(float);
            int best = -1;
            for (int s = 0; s < g->n; s++) {
                /* free: its users all ran their backward after t */
                if (g->bk[s] != L->bk || g->free_from[s] <= t)
                    continue;
                if (best < 0)
                    best = s;
                else {
                    int fits = g->bytes[s] >= need, bfits = g->bytes[best] >= need;
                    if ((fits && (!bfits || g->bytes[s] < g->bytes[best])) ||
                        (!fits && !bfits && g->bytes[s] > g->bytes[best]))
                        best = s;
                }
            }
            if (best < 0) {
                best = g->n++;
                g->bk[best] = L->bk;
                g->bytes[best] = 0;
            }
            if (g->bytes[best] < need)
                g->bytes[best] = need;
            g->free_from[best] = p;
            g->slot[p] = best;
        }
    free(head);
    free(next);
    free(first);
    return 0;
}

/* A layer writes its output over its input 0's buffer, saving one
 * activation of the batch, when nothing can tell: its kind allows it
 * (plan.in_place: forward may alias, backward reads no x[0]); it reads
 * the producer's own buffer (no alias layer between, same backend, so no
 * staging copy); the producer is not the input layer, has no other
 * reader, and its backward never reads its output. A chain is fine
 * (batchnorm, then add over it, then relu over that): each layer
 * overwritten declares its backward does not read what it wrote. */
void clnet_net_plan_in_place(clnet_net *net, int keep_outputs)
{
    for (int i = 1; i < net->nlayers; i++) {
        clnet_net_layer *L = &net->layers[i];
        L->in_place = 0;
        if (keep_outputs || !L->plan.in_place || L->plan.alias_input ||
            L->ninputs < 1)
            continue;
        const clnet_net_input *e = &L->inputs[0];
        const clnet_net_layer *P = &net->layers[e->src];
        L->in_place = e->named == e->src && e->src > 0 && P->bk == L->bk &&
                      P->readers == 1 && P->plan.backward_skips_output &&
                      !P->plan.alias_input && e->size == L->out_size;
    }
}

/* Counts every parameter tensor's elements and lays the trainable ones
 * of each backend out in its arenas; returns the largest tensor. */
static size_t count_params(clnet_net *net)
{
    size_t largest = 0;
    net->total_params = net->trainable_params = 0;
    for (int b = 0; b < net->nbackends; b++)
        net->backends[b].arena_bytes = 0;
    for (int i = 0; i < net->nlayers; i++) {
        clnet_net_layer *L = &net->layers[i];
        clnet_backend *b = &net->backends[L->bk];
        size_t align = b->info.base_align ? b->info.base_align : 64;
        for (int k = 0; k < L->plan.nparams; k++) {
            size_t n = 1;
            for (int d = 0; d < L->plan.params[k].ndim; d++)
                n *= (size_t)L->plan.params[k].dims[d];
            L->param_count[k] = n;
            net->total_params += n;
            largest = n > largest ? n : largest;
            if (L->plan.params[k].non_trainable)
                continue;
            net->trainable_params += n;
            L->param_offset[k] = b->arena_bytes;
            b->arena_bytes = align_up(b->arena_bytes + n * sizeof(float),
                                      align);
        }
    }
    return largest;
}

static void *view_of(clnet_net *net, int bk, void *arena, size_t offset,
                     size_t bytes, clnet_error *err)
{
    clnet_backend *b = &net->backends[bk];
    void *v = NULL;
    char perr[CLNET_ERRLEN] = "";
    if (b->ops->view(b->ctx, arena, offset, bytes, &v, perr)) {
        clnet_fail(err, CLNET_E_NOMEM, "%s: %s", b->name, perr);
        return NULL;
    }
    return v;
}

/* Each backend's arenas (every backend's alloc returns zeroed memory),
 * each layer's tensors as views of them, non-trainable state in buffers
 * of its own; initial values drawn on the host (scratch) and written
 * once. */
static int plan_params(clnet_net *net, float *scratch, clnet_error *err)
{
    for (int b = 0; b < net->nbackends; b++) {
        clnet_backend *bk = &net->backends[b];
        int32_t nslots = bk->optimizer ? bk->optimizer->optimizer.nslots : 0;
        if (!bk->arena_bytes)
            continue;
        if (!(bk->param_arena = clnet_backend_alloc(net, b, bk->arena_bytes,
                                                    err)) ||
            !(bk->grad_arena = clnet_backend_alloc(net, b, bk->arena_bytes,
                                                   err)))
            return err ? err->status : CLNET_E_NOMEM;
        for (int s = 0; s < nslots; s++)
            if (!(bk->slot_arena[s] =
                      clnet_backend_alloc(net, b, bk->arena_bytes, err)))
                return err ? err->status : CLNET_E_NOMEM;
    }
    for (int i = 0; i < net->nlayers; i++) {
        clnet_net_layer *L = &net->layers[i];
        clnet_backend *bk = &net->backends[L->bk];
        int32_t nslots = bk->optimizer ? bk->optimizer->optimizer.nslots : 0;
        for (int k = 0; k < L->plan.nparams; k++) {
            size_t n = L->param_count[k], bytes = n * sizeof(float);
            size_t off = L->param_offset[k];
            if (L->plan.params[k].non_trainable) {
                if (!(L->params[k] =
                          clnet_backend_alloc(net, L->bk, bytes, err)))
                    return err ? err->status : CLNET_E_NOMEM;
            } else {
                if (!(L->params[k] = view_of(net, L->bk, bk->param_arena, off,
                                             bytes, err)) ||
                    !(L->grads[k] = view_of(net, L->bk, bk->grad_arena, off,
                                            bytes, err)))
                    return err ? err->status : CLNET_E_NOMEM;
                for (int s = 0; s < nslots; s++)
                    if (!(L->slots[k][s] = view_of(net, L->bk,
                                                   bk->slot_arena[s], off,
                                                   bytes, err)))
                        return err ? err->status : CLNET_E_NOMEM;
            }
            init_param(scratch, n, &L->plan.params[k], net->seed, (uint32_t)i,
                       (uint32_t)k);
            int rc = clnet_net_param_write(net, L, k, scratch, err);
            if (rc)
                return rc;
        }
        if (L->plugin && L->plugin->layer.bind &&
            L->plugin->layer.bind(L->state, L->params, L->grads))
            return clnet_fail(err, CLNET_E_NOMEM,
                              "%s (%s/%s) could not take its parameters: out "
                              "of memory for its workspace",
                              L->name, L->plugin->backend, L->plugin->impl);
    }
    return CLNET_OK;
}

/* Elements of the largest tensor copied between two backends that are
 * both devices: only such a copy goes through host_stage. */
static size_t device_copy_elems(const clnet_net *net)
{
    size_t largest = 0;
    for (int i = 1; i < net->nlayers; i++) {
        const clnet_net_layer *L = &net->layers[i];
        for (int k = 0; k < L->ninputs; k++) {
            const clnet_net_layer *P = &net->layers[L->inputs[k].src];
            size_t n = (size_t)net->max_batch * L->inputs[k].size;
            if (P->bk != L->bk && !clnet_backend_is_host(net, P->bk) &&
                !clnet_backend_is_host(net, L->bk) && n > largest)
                largest = n;
        }
    }
    return largest;
}

/* Each input's staging and gradient buffers (see clnet_dx_mode). */
static int plan_inputs(clnet_net *net, clnet_net_layer *L, clnet_error *err)
{
    for (int k = 0; k < L->ninputs; k++) {
        clnet_net_input *e = &L->inputs[k];
        const clnet_net_layer *P = &net->layers[e->src];
        size_t bytes = (size_t)net->max_batch * e->size * sizeof(float);
        int cross = P->bk != L->bk;
        if (cross && !(e->stage = clnet_backend_alloc(net, L->bk, bytes, err)))
            return err ? err->status : CLNET_E_NOMEM;
    }
    return CLNET_OK;
}

/* The bytes each (backend, input position) pool buffer must hold: the
 * largest dx_own or dx_remote it stands for. */
static void dx_pool_sizes(const clnet_net *net,
                          uint64_t sizes[CLNET_MAX_BACKENDS][CLNET_MAX_INPUTS])
{
    memset(sizes, 0, sizeof(uint64_t) * CLNET_MAX_BACKENDS * CLNET_MAX_INPUTS);
    for (int i = 0; i < net->nlayers; i++) {
        const clnet_net_layer *L = &net->layers[i];
        for (int k = 0; k < L->ninputs; k++) {
            const clnet_net_input *e = &L->inputs[k];
            uint64_t bytes =
                (uint64_t)net->max_batch * e->size * sizeof(float);
            int own = e->dx_mode != CLNET_DX_NONE &&
                      e->dx_mode != CLNET_DX_DIRECT;
            if (own && sizes[L->bk][k] < bytes)
                sizes[L->bk][k] = bytes;
            int pbk = net->layers[e->src].bk;
            if (e->dx_mode == CLNET_DX_COPY_ADD && sizes[pbk][k] < bytes)
                sizes[pbk][k] = bytes;
        }
    }
}

/* Allocates the pools and points every input's dx_own and dx_remote at
 * them. Safe because pass_gradients consumes both right after the
 * layer's backward, and within one layer inputs differ in position and a
 * dx_remote's backend differs from its layer's. */
static int plan_dx_pool(clnet_net *net, clnet_error *err)
{
    uint64_t sizes[CLNET_MAX_BACKENDS][CLNET_MAX_INPUTS];
    dx_pool_sizes(net, sizes);
    for (int b = 0; b < net->nbackends; b++)
        for (int k = 0; k < CLNET_MAX_INPUTS; k++)
            if (sizes[b][k] &&
                !(net->dx_pool[b][k] =
                      clnet_backend_alloc(net, b, (size_t)sizes[b][k], err)))
                return err ? err->status : CLNET_E_NOMEM;
    for (int i = 0; i < net->nlayers; i++) {
        clnet_net_layer *L = &net->layers[i];
        for (int k = 0; k < L->ninputs; k++) {
            clnet_net_input *e = &L->inputs[k];
            if (e->dx_mode != CLNET_DX_NONE && e->dx_mode != CLNET_DX_DIRECT)
                e->dx_own = net->dx_pool[L->bk][k];
            if (e->dx_mode == CLNET_DX_COPY_ADD)
                e->dx_remote = net->dx_pool[net->layers[e->src].bk][k];
        }
    }
    return CLNET_OK;
}

int clnet_net_plan_memory(clnet_net *net, clnet_error *err)
{
    size_t largest_param = count_params(net);
    float *scratch = malloc((largest_param ? largest_param : 1) *
                            sizeof(float));
    net->host_stage_elems = device_copy_elems(net);
    net->host_stage = clnet_alloc(net->host_stage_elems * sizeof(float));
    /* predictions are read back only from a device */
    int pred_on_host =
        clnet_backend_is_host(net, net->layers[net->nlayers - 1].bk);
    net->host_pred = pred_on_host ? NULL
                                  : clnet_alloc((size_t)net->max_batch *
                                                (size_t)net->classes *
                                                sizeof(float));
    net->batch_pixels =
        clnet_alloc((size_t)net->max_batch * net->layers[0].out_size);
    net->batch_labels = clnet_alloc((size_t)net->max_batch * sizeof(int32_t));
    if (!scratch || !net->host_stage || (!pred_on_host && !net->host_pred) ||
        !net->batch_pixels || !net->batch_labels) {
        free(scratch);
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory for a batch");
    }
    int rc = plan_params(net, scratch, err);
    free(scratch);
    grad_slots g;
    if (!rc && plan_grad_slots(net, &g))
        rc = clnet_fail(err, CLNET_E_NOMEM, "out of memory");
    if (!rc && (!(net->grad_slots = calloc((size_t)g.n + 1, sizeof(void *))) ||
                !(net->grad_slot_bk = calloc((size_t)g.n + 1, sizeof(int)))))
        rc = clnet_fail(err, CLNET_E_NOMEM, "out of memory");
    for (int s = 0; !rc && s < g.n; s++) {
        net->grad_slot_bk[s] = g.bk[s];
        if (!(net->grad_slots[s] = clnet_backend_alloc(net, g.bk[s],
                                                       (size_t)g.bytes[s],
                                                       err)))
            rc = err ? err->status : CLNET_E_NOMEM;
        else
            net->ngrad_slots = s + 1;
    }
    for (int i = 0; !rc && i < net->nlayers; i++) {
        clnet_net_layer *L = &net->layers[i];
        size_t bytes = (size_t)net->max_batch * L->out_size * sizeof(float);
        if (L->plan.alias_input) {
            const clnet_net_layer *S = &net->layers[L->inputs[0].src];
            L->act = S->act;
            L->dact = S->dact;
            continue;
        }
        if (L->in_place)
            L->act = net->layers[L->inputs[0].src].act;
        else if (!(L->act = clnet_backend_alloc(net, L->bk, bytes, err)))
            rc = err ? err->status : CLNET_E_NOMEM;
        if (!rc && g.slot[i] >= 0)
            L->dact = net->grad_slots[g.slot[i]];
        if (!rc)
            rc = plan_inputs(net, L, err);
    }
    if (g.slot)
        grad_slots_free(&g);
    if (!rc)
        rc = plan_dx_pool(net, err);
    if (rc)
        return rc;
    int in_bk = net->layers[0].bk;
    size_t in_bytes = (size_t)net->max_batch * net->layers[0].out_size;
    if (!clnet_backend_is_host(net, in_bk) &&
        (!(net->pixels_dev = clnet_backend_alloc(net, in_bk, in_bytes, err)) ||
         !(net->pixels_loader[0] =
               clnet_backend_alloc(net, in_bk, in_bytes, err)) ||
         !(net->pixels_loader[1] =
               clnet_backend_alloc(net, in_bk, in_bytes, err))))
        return err ? err->status : CLNET_E_NOMEM;
    if (!clnet_backend_is_host(net, net->loss_bk) &&
        !(net->labels_dev = clnet_backend_alloc(net, net->loss_bk,
                                   (size_t)net->max_batch * sizeof(int32_t),
                                   err)))
        return err ? err->status : CLNET_E_NOMEM;
    return CLNET_OK;
}

static void release_view(clnet_net *net, int bk, void *v)
{
    if (v)
        net->backends[bk].ops->release_view(net->backends[bk].ctx, v);
}

void clnet_net_release_memory(clnet_net *net)
{
    for (int s = 0; s < net->ngrad_slots; s++)
        clnet_backend_release(net, net->grad_slot_bk[s], net->grad_slots[s]);
    free(net->grad_slots);
    free(net->grad_slot_bk);
    net->grad_slots = NULL;
    net->grad_slot_bk = NULL;
    net->ngrad_slots = 0;
    for (int i = 0; i < net->nlayers && net->layers; i++) {
        clnet_net_layer *L = &net->layers[i];
        if (!L->plan.alias_input && !L->in_place)
            clnet_backend_release(net, L->bk, L->act);
        for (int k = 0; k < L->ninputs; k++) {
            clnet_net_input *e = &L->inputs[k];
            clnet_backend_release(net, L->bk, e->stage);
            e->dx_own = e->dx_remote = NULL; /* the pool's */
        }
        for (int k = 0; k < L->plan.nparams && k < CLNET_MAX_PARAMS; k++) {
            if (L->plan.params[k].non_trainable) {
                clnet_backend_release(net, L->bk, L->params[k]);
                continue;
            }
            release_view(net, L->bk, L->params[k]);
            release_view(net, L->bk, L->grads[k]);
            for (int s = 0; s < CLNET_MAX_SLOTS; s++)
                release_view(net, L->bk, L->slots[k][s]);
        }
    }
    for (int b = 0; b < net->nbackends; b++) {
        clnet_backend *bk = &net->backends[b];
        for (int k = 0; k < CLNET_MAX_INPUTS; k++) {
            clnet_backend_release(net, b, net->dx_pool[b][k]);
            net->dx_pool[b][k] = NULL;
        }
        clnet_backend_release(net, b, bk->param_arena);
        clnet_backend_release(net, b, bk->grad_arena);
        for (int s = 0; s < CLNET_MAX_SLOTS; s++)
            clnet_backend_release(net, b, bk->slot_arena[s]);
    }
    if (net->nlayers && net->layers) {
        clnet_backend_release(net, net->layers[0].bk, net->pixels_dev);
        for (int b = 0; b < 2; b++)
            clnet_backend_release(net, net->layers[0].bk,
                                  net->pixels_loader[b]);
        clnet_backend_release(net, net->loss_bk, net->labels_dev);
    }
    clnet_free(net->host_stage);
    clnet_free(net->host_pred);
    clnet_free(net->batch_pixels);
    clnet_free(net->batch_labels);
}

/* ---- the plan, before anything is allocated ---- */

void clnet_format_bytes(uint64_t bytes, char *buf, size_t len)
{
    static const char *unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
        return;
    }
    double v = (double)bytes / 1024;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, "%.1f %s", v, unit[u]);
}

/* Sums and products that cannot wrap: an overflow sticks in *ovf. */
static uint64_t mul(uint64_t a, uint64_t b, int *ovf)
{
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r)) {
        *ovf = 1;
        return UINT64_MAX;
    }
    return r;
}

static void add(uint64_t *acc, uint64_t v, int *ovf)
{
    if (__builtin_add_overflow(*acc, v, acc)) {
        *ovf = 1;
        *acc = UINT64_MAX;
    }
}

/* The smaller of `v` and the cgroup's remaining allowance, if any. */
static uint64_t cgroup_cap(uint64_t v, char *from, size_t len)
{
    unsigned long long max = 0, cur = 0;
    FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");
    int ok = f && fscanf(f, "%llu", &max) == 1;
    if (f)
        fclose(f);
    f = ok ? fopen("/sys/fs/cgroup/memory.current", "r") : NULL;
    ok = f && fscanf(f, "%llu", &cur) == 1;
    if (f)
        fclose(f);
    if (ok && max > cur && max - cur < v) {
        snprintf(from, len, "the cgroup's memory.max");
        return max - cur;
    }
    return v;
}

/* Host RAM a new allocation can get: MemAvailable, else physical RAM. */
static uint64_t host_available(char *from, size_t len)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    unsigned long long kb = 0;
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f))
        found = sscanf(line, "MemAvailable: %llu kB", &kb) == 1;
    if (f)
        fclose(f);
    uint64_t v;
    if (found) {
        snprintf(from, len, "MemAvailable in /proc/meminfo");
        v = (uint64_t)kb * 1024;
    } else {
        long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
        snprintf(from, len, "physical RAM");
        v = pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size
                                  : UINT64_MAX;
    }
    return cgroup_cap(v, from, len);
}

static uint64_t layer_params(const clnet_net_layer *L, int *ovf)
{
    uint64_t n = 0;
    for (int k = 0; k < L->plan.nparams && k < CLNET_MAX_PARAMS; k++) {
        uint64_t c = 1;
        for (int d = 0; d < L->plan.params[k].ndim && d < 4; d++) {
            int32_t dim = L->plan.params[k].dims[d];
            c = mul(c, dim > 0 ? (uint64_t)dim : 0, ovf);
        }
        add(&n, c, ovf);
    }
    return n;
}

/* Every buffer clnet_net_plan_memory allocates, on the memory it lives
 * in. Plugins allocate workspace of their own (im2col columns, pooling
 * indices); the plugin ABI has no way to report it, so it is not in
 * these figures. */
static int plan_figures(clnet_net *net, const clnet_registry *r, int *ovf)
{
    uint64_t B = (uint64_t)net->max_batch, f4 = sizeof(float);
    int host = -1;
    net->nmem = net->nbackends;
    for (int b = 0; b < net->nbackends; b++) {
        clnet_mem_need *m = &net->mem[b];
        memset(m, 0, sizeof *m);
        if (clnet_backend_is_host(net, b)) {
            host = b;
            snprintf(m->where, sizeof m->where, "%s", net->backends[b].name);
        } else {
            snprintf(m->where, sizeof m->where, "%s:%d",
                     net->backends[b].name, net->backends[b].index);
        }
    }
    if (host < 0) {
        host = net->nmem++;
        memset(&net->mem[host], 0, sizeof net->mem[host]);
        snprintf(net->mem[host].where, sizeof net->mem[host].where, "host");
    }
    uint64_t largest_param = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const clnet_net_layer *L = &net->layers[i];
        clnet_mem_need *m = &net->mem[L->bk];
        const clnet_backend *bk = &net->backends[L->bk];
        const clnet_plugin *opt =
            clnet_registry_find(r, net->optimizer_kind, bk->name);
        int32_t nslots = opt && opt->role == CLNET_ROLE_OPTIMIZER
                             ? opt->optimizer.nslots
                             : 0;
        nslots = nslots < 0 ? 0 : nslots > CLNET_MAX_SLOTS ? CLNET_MAX_SLOTS
                                                           : nslots;
        uint64_t align = bk->info.base_align ? bk->info.base_align : 64;
        for (int k = 0; k < L->plan.nparams && k < CLNET_MAX_PARAMS; k++) {
            clnet_net_layer one = *L;
            one.plan.nparams = 1;
            one.plan.params[0] = L->plan.params[k];
            uint64_t n = layer_params(&one, ovf);
            largest_param = n > largest_param ? n : largest_param;
            /* trainable tensors sit at aligned offsets in the arenas */
            uint64_t bytes = mul(n, f4, ovf);
            if (L->plan.params[k].non_trainable) {
                add(&m->params, bytes, ovf);
                continue;
            }
            add(&bytes, align, ovf);
            add(&m->params, bytes, ovf);
            add(&m->grads, bytes, ovf);
            add(&m->slots, mul(bytes, (uint64_t)nslots, ovf), ovf);
        }
        if (L->plan.alias_input)
            continue; /* shares its input's buffers */
        uint64_t act = mul(mul(B, L->out_size, ovf), f4, ovf);
        if (!L->in_place) /* gradients: their shared slots, below */
            add(&m->acts, act, ovf);
        for (int k = 0; k < L->ninputs; k++) {
            const clnet_net_input *e = &L->inputs[k];
            const clnet_net_layer *P = &net->layers[e->src];
            uint64_t bytes = mul(mul(B, e->size, ovf), f4, ovf);
            if (P->bk != L->bk)
                add(&m->stage, bytes, ovf);
        }
    }
    uint64_t pool[CLNET_MAX_BACKENDS][CLNET_MAX_INPUTS];
    dx_pool_sizes(net, pool);
    for (int b = 0; b < net->nbackends; b++)
        for (int k = 0; k < CLNET_MAX_INPUTS; k++)
            add(&net->mem[b].stage, pool[b][k], ovf);
    grad_slots g;
    if (plan_grad_slots(net, &g) == 0) {
        for (int s = 0; s < g.n; s++)
            add(&net->mem[g.bk[s]].acts, g.bytes[s], ovf);
        grad_slots_free(&g);
    } else {
        *ovf = 1; /* out of memory already */
    }
    uint64_t in = net->layers[0].out_size, k = (uint64_t)net->classes;
    /* the batch's pixels on a device: the forward pass's buffer and the
     * training loader's two (loader.c) */
    if (!clnet_backend_is_host(net, net->layers[0].bk))
        add(&net->mem[net->layers[0].bk].stage, mul(3 * B, in, ovf), ovf);
    int loss_bk = net->layers[net->nlayers - 1].bk;
    if (!clnet_backend_is_host(net, loss_bk))
        add(&net->mem[loss_bk].stage, mul(B, sizeof(int32_t), ovf), ovf);
    /* host_stage, host_pred, batch_pixels, batch_labels, the initial
     * values' scratch; and the confusion matrix evaluation allocates.
     * device_copy_elems's size_t cannot overflow: a tensor over the
     * batch holds at most CLNET_MAX_ELEMENTS (network.c) */
    clnet_mem_need *h = &net->mem[host];
    add(&h->host, mul(device_copy_elems(net), f4, ovf), ovf);
    if (!clnet_backend_is_host(net, loss_bk))
        add(&h->host, mul(mul(B, k, ovf), f4, ovf), ovf);
    add(&h->host, mul(B, in, ovf), ovf);
    add(&h->host, mul(B, sizeof(int32_t), ovf), ovf);
    add(&h->host, mul(largest_param, f4, ovf), ovf);
    add(&h->eval, mul(mul(k, k, ovf), sizeof(int64_t), ovf), ovf);
    for (int b = 0; b < net->nmem; b++) {
        clnet_mem_need *m = &net->mem[b];
        uint64_t parts[] = {m->params, m->grads, m->slots, m->acts,
                            m->stage,  m->host,  m->eval};
        m->total = 0;
        for (size_t j = 0; j < sizeof parts / sizeof *parts; j++)
            add(&m->total, parts[j], ovf);
    }
    return host;
}

/* "parameters 1.1 MiB, gradients ..." for the parts that are not 0. */
static void describe(const clnet_mem_need *m, char *buf, size_t len)
{
    const char *names[] = {"parameters", "gradients", "optimizer state",
                           "activations and their gradients",
                           "staging between backends", "host buffers",
                           "evaluation"};
    uint64_t parts[] = {m->params, m->grads, m->slots, m->acts,
                        m->stage,  m->host,  m->eval};
    buf[0] = '\0';
    for (size_t j = 0; j < sizeof parts / sizeof *parts; j++) {
        if (!parts[j])
            continue;
        char v[32];
        size_t used = strlen(buf);
        clnet_format_bytes(parts[j], v, sizeof v);
        snprintf(buf + used, len - used, "%s%s %s", used ? ", " : "",
                 names[j], v);
    }
}

int clnet_net_plan_check(clnet_net *net, const clnet_registry *r,
                         uint64_t max_memory, clnet_error *err)
{
    int ovf = 0;
    net->classes = (int32_t)net->layers[net->nlayers - 1].out_size;
    int host = plan_figures(net, r, &ovf);
    if (ovf)
        return clnet_fail(err, CLNET_E_ARG,
                          "%s at batch %d needs more memory than 64 bits "
                          "can count; use a smaller --batch or smaller "
                          "layers",
                          net->file, net->max_batch);
    for (int b = 0; b < net->nmem; b++) {
        clnet_mem_need *m = &net->mem[b];
        if (max_memory) {
            m->limit = max_memory;
            snprintf(m->limit_from, sizeof m->limit_from, "--max-memory");
        } else if (b == host) {
            m->limit = host_available(m->limit_from, sizeof m->limit_from);
        } else {
            m->limit = net->backends[b].info.global_mem;
            snprintf(m->limit_from, sizeof m->limit_from,
                     "the device's global memory");
        }
        if (m->total <= m->limit || (b != host && !m->limit && !max_memory))
            continue; /* a device that reports no size is not checked */
        char need[32], limit[32], parts[320];
        clnet_format_bytes(m->total, need, sizeof need);
        clnet_format_bytes(m->limit, limit, sizeof limit);
        describe(m, parts, sizeof parts);
        return clnet_fail(err, CLNET_E_ARG,
                          "%s at batch %d needs %s on %s (%s); the limit is "
                          "%s (%s): use a smaller --batch, or --max-memory "
                          "to set the limit",
                          net->file, net->max_batch, need, m->where, parts,
                          limit, m->limit_from);
    }
    return CLNET_OK;
}
