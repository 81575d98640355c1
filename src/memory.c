/* Memory planning: every buffer a training step needs, on the backend of
 * the layer that uses it, allocated once before the first step; the
 * initial parameters; and parameter copies to and from the host. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"
#include "clnet/philox.h"

static void init_param(float *p, size_t n, const clnet_param_info *info,
                       uint64_t seed, uint32_t layer, uint32_t which)
{
    if (info->init == CLNET_INIT_ZEROS) {
        memset(p, 0, n * sizeof *p);
        return;
    }
    double limit = sqrt(6.0 / (double)(info->fan_in + info->fan_out));
    for (size_t k = 0; k < n; k++) {
        float u = clnet_philox_uniform(seed, 0x80000000u | layer, which,
                                       (uint32_t)k);
        p[k] = (float)((2.0 * u - 1.0) * limit);
    }
}

int clnet_net_param_write(clnet_net *net, const clnet_net_layer *L, int k,
                          const float *host, clnet_error *err)
{
    clnet_backend *b = &net->backends[L->bk];
    char perr[CLNET_ERRLEN] = "";
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

/* Counts every parameter tensor's elements; returns the largest. */
static int count_params(clnet_net *net, size_t *largest, clnet_error *err)
{
    net->total_params = 0;
    for (int i = 0; i < net->nlayers; i++) {
        clnet_net_layer *L = &net->layers[i];
        if (L->plan.nparams < 0 || L->plan.nparams > CLNET_MAX_PARAMS)
            return clnet_fail(err, CLNET_E_INTERNAL,
                              "plugin %s declares %d parameters",
                              L->plugin->kind, L->plan.nparams);
        for (int k = 0; k < L->plan.nparams; k++) {
            size_t n = 1;
            for (int d = 0; d < L->plan.params[k].ndim; d++)
                n *= (size_t)L->plan.params[k].dims[d];
            L->param_count[k] = n;
            net->total_params += n;
            *largest = n > *largest ? n : *largest;
        }
    }
    return CLNET_OK;
}

/* Parameters, their gradients and optimizer state on each layer's
 * backend (every backend's alloc returns zeroed memory); initial values
 * drawn on the host (scratch) and written once. */
static int plan_params(clnet_net *net, float *scratch, clnet_error *err)
{
    for (int i = 0; i < net->nlayers; i++) {
        clnet_net_layer *L = &net->layers[i];
        const clnet_backend *b = &net->backends[L->bk];
        int32_t nslots = b->optimizer ? b->optimizer->optimizer.nslots : 0;
        for (int k = 0; k < L->plan.nparams; k++) {
            size_t n = L->param_count[k], bytes = n * sizeof(float);
            if (!(L->params[k] = clnet_backend_alloc(net, L->bk, bytes, err)) ||
                !(L->grads[k] = clnet_backend_alloc(net, L->bk, bytes, err)))
                return err ? err->status : CLNET_E_NOMEM;
            for (int s = 0; s < nslots; s++)
                if (!(L->slots[k][s] = clnet_backend_alloc(net, L->bk, bytes, err)))
                    return err ? err->status : CLNET_E_NOMEM;
            init_param(scratch, n, &L->plan.params[k], net->seed, (uint32_t)i,
                       (uint32_t)k);
            int rc = clnet_net_param_write(net, L, k, scratch, err);
            if (rc)
                return rc;
        }
        if (L->plan.nparams && L->plugin->layer.bind &&
            L->plugin->layer.bind(L->state, L->params, L->grads))
            return clnet_fail(err, CLNET_E_PLUGIN, "plugin %s refused its "
                              "parameters", L->plugin->kind);
    }
    return CLNET_OK;
}

int clnet_net_plan_memory(clnet_net *net, clnet_error *err)
{
    size_t largest_param = 0;
    int rc = count_params(net, &largest_param, err);
    if (rc)
        return rc;
    /* host staging carries any activation or parameter between backends */
    size_t largest = largest_param;
    for (int i = 0; i < net->nlayers; i++) {
        size_t act = (size_t)net->max_batch * net->layers[i].out_size;
        largest = act > largest ? act : largest;
    }
    float *scratch = malloc((largest_param ? largest_param : 1) *
                            sizeof(float));
    net->host_stage = clnet_alloc(largest * sizeof(float));
    net->host_pred = clnet_alloc((size_t)net->max_batch *
                                 (size_t)net->classes * sizeof(float));
    net->batch_pixels =
        clnet_alloc((size_t)net->max_batch * net->layers[0].out_size);
    net->batch_labels = clnet_alloc((size_t)net->max_batch * sizeof(int32_t));
    if (!scratch || !net->host_stage || !net->host_pred ||
        !net->batch_pixels || !net->batch_labels) {
        free(scratch);
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory for a batch");
    }
    rc = plan_params(net, scratch, err);
    free(scratch);
    for (int i = 0; !rc && i < net->nlayers; i++) {
        clnet_net_layer *L = &net->layers[i];
        size_t bytes = (size_t)net->max_batch * L->out_size * sizeof(float);
        if (i > 0 && L->plan.alias_input) {
            L->act = net->layers[i - 1].act;
            L->dact = net->layers[i - 1].dact;
            continue;
        }
        if (!(L->act = clnet_backend_alloc(net, L->bk, bytes, err)) ||
            (i > 0 && !(L->dact = clnet_backend_alloc(net, L->bk, bytes, err))))
            rc = err ? err->status : CLNET_E_NOMEM;
        const clnet_net_layer *P = i > 0 ? &net->layers[i - 1] : NULL;
        if (!rc && P && P->bk != L->bk) {
            size_t in_bytes =
                (size_t)net->max_batch * L->in_size * sizeof(float);
            if (!(L->in_stage = clnet_backend_alloc(net, L->bk, in_bytes, err)) ||
                (i > 1 && !(L->dx_stage = clnet_backend_alloc(net, L->bk, in_bytes, err))))
                rc = err ? err->status : CLNET_E_NOMEM;
        }
    }
    if (rc)
        return rc;
    int in_bk = net->layers[0].bk;
    if (!clnet_backend_is_host(net, in_bk) &&
        !(net->pixels_dev = clnet_backend_alloc(
              net, in_bk, (size_t)net->max_batch * net->layers[0].out_size,
              err)))
        return err ? err->status : CLNET_E_NOMEM;
    if (!clnet_backend_is_host(net, net->loss_bk) &&
        !(net->labels_dev = clnet_backend_alloc(net, net->loss_bk,
                                   (size_t)net->max_batch * sizeof(int32_t),
                                   err)))
        return err ? err->status : CLNET_E_NOMEM;
    return CLNET_OK;
}

void clnet_net_release_memory(clnet_net *net)
{
    for (int i = 0; i < net->nlayers && net->layers; i++) {
        clnet_net_layer *L = &net->layers[i];
        if (!(i > 0 && L->plan.alias_input)) {
            clnet_backend_release(net, L->bk, L->act);
            clnet_backend_release(net, L->bk, L->dact);
        }
        clnet_backend_release(net, L->bk, L->in_stage);
        clnet_backend_release(net, L->bk, L->dx_stage);
        for (int k = 0; k < CLNET_MAX_PARAMS; k++) {
            clnet_backend_release(net, L->bk, L->params[k]);
            clnet_backend_release(net, L->bk, L->grads[k]);
            for (int s = 0; s < CLNET_MAX_SLOTS; s++)
                clnet_backend_release(net, L->bk, L->slots[k][s]);
        }
    }
    if (net->nlayers && net->layers) {
        clnet_backend_release(net, net->layers[0].bk, net->pixels_dev);
        clnet_backend_release(net, net->loss_bk, net->labels_dev);
    }
    clnet_free(net->host_stage);
    clnet_free(net->host_pred);
    clnet_free(net->batch_pixels);
    clnet_free(net->batch_labels);
}
