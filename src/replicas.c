/* Data-parallel training in one process: replicas of one network (built
 * from the same topology and seed, typically one per device) each take a
 * slice of the batch, their gradients are summed through the host into
 * the whole batch's mean, and every replica applies the same update, so
 * they stay equal and follow the trajectory one network would on the
 * whole batch (dropout draws by the sample's global index; batch
 * normalization's statistics are each slice's, as in frameworks'
 * data-parallel training without synchronized batch norm). */
#include <stdlib.h>
#include <string.h>

#include "backends.h"

/* The largest trainable tensor of the network, in values. */
static size_t largest_tensor(const clnet_net *net)
{
    size_t m = 0;
    for (int i = 0; i < net->nlayers; i++)
        for (int k = 0; k < net->layers[i].plan.nparams; k++)
            if (net->layers[i].grads[k] && net->layers[i].param_count[k] > m)
                m = net->layers[i].param_count[k];
    return m;
}

static int grad_io(clnet_net *net, const clnet_net_layer *L, int k,
                   float *host, int write, clnet_error *err)
{
    clnet_backend *b = &net->backends[L->bk];
    char perr[CLNET_ERRLEN] = "";
    size_t bytes = L->param_count[k] * sizeof(float);
    int rc = write ? b->ops->write(b->ctx, L->grads[k], host, bytes, perr)
                   : b->ops->read(b->ctx, L->grads[k], host, bytes, perr);
    return rc ? clnet_fail(err, CLNET_E_IO, "%s: %s gradients of %s: %s",
                           b->name, write ? "writing" : "reading", L->name,
                           perr)
              : CLNET_OK;
}

/* grads of every replica = sum over replicas of weight[r] * grads[r]. */
static int all_reduce(clnet_net *const *nets, int32_t n, const double *weight,
                      clnet_error *err)
{
    /* the host buffers live in the first replica: allocated once, not
     * at every step */
    clnet_net *a = nets[0];
    size_t m = largest_tensor(a);
    if (a->reduce_cap < m) {
        float *g = realloc(a->reduce_buf, sizeof *g * 2 * m);
        if (!g)
            return clnet_fail(err, CLNET_E_NOMEM, "out of memory for the "
                              "gradient sum (%zu values)", 2 * m);
        a->reduce_buf = g;
        a->reduce_cap = m;
    }
    float *sum = a->reduce_buf, *one = a->reduce_buf + a->reduce_cap;
    int rc = CLNET_OK;
    for (int i = 0; !rc && i < a->nlayers; i++)
        for (int k = 0; !rc && k < a->layers[i].plan.nparams; k++) {
            if (!a->layers[i].grads[k])
                continue;
            size_t c = a->layers[i].param_count[k];
            memset(sum, 0, sizeof *sum * c);
            /* a replica without samples this step (weight 0) computed no
             * gradients: it only receives the sum */
            for (int32_t r = 0; !rc && r < n; r++) {
                if (weight[r] == 0)
                    continue;
                rc = grad_io(nets[r], &nets[r]->layers[i], k, one, 0, err);
                for (size_t j = 0; !rc && j < c; j++)
                    sum[j] += (float)(weight[r] * one[j]);
            }
            for (int32_t r = 0; !rc && r < n; r++)
                rc = grad_io(nets[r], &nets[r]->layers[i], k, sum, 1, err);
        }
    return rc;
}

int clnet_replicas_train_batch(clnet_net *const *replicas, int32_t n,
                               const uint8_t *pixels, const int32_t *labels,
                               int32_t batch, double *loss, int64_t *correct,
                               clnet_error *err)
{
    clnet_error_clear(err);
    if (!replicas || n < 1 || n > 64 || !pixels || !labels || batch < 1)
        return clnet_fail(err, CLNET_E_ARG,
                          "clnet_replicas_train_batch: give 1 to 64 replicas, "
                          "pixels, labels and at least one sample");
    const clnet_net *a = replicas[0];
    for (int32_t r = 0; r < n; r++) {
        const clnet_net *b = replicas[r];
        if (!b || b->topo_hash != a->topo_hash || b->seed != a->seed ||
            b->step != a->step)
            return clnet_fail(err, CLNET_E_ARG,
                              "replica %d is not a replica of the first: "
                              "build every one from the same topology and "
                              "seed, and train them only together",
                              (int)r);
        for (int32_t q = 0; q < r; q++)
            if (replicas[q] == b)
                return clnet_fail(err, CLNET_E_ARG,
                                  "replica %d is replica %d again; give "
                                  "each once",
                                  (int)r, (int)q);
    }
    double weight[64];
    double sum = 0;
    int64_t right = 0;
    size_t in = a->layers[0].out_size;
    int rc = CLNET_OK;
    /* slices in order, as equal as can be: replica r gets
     * [r B / n, (r + 1) B / n) */
    for (int32_t r = 0; r < n && !rc; r++) {
        clnet_net *net = replicas[r];
        int32_t first, m;
        clnet_batch_slice(r, n, batch, &first, &m);
        if (m > net->max_batch)
            return clnet_fail(err, CLNET_E_ARG,
                              "replica %d takes %d samples of the batch of "
                              "%d, more than the %d it was built for",
                              (int)r, (int)m, (int)batch,
                              (int)net->max_batch);
        for (int32_t b = 0; b < m; b++)
            if (labels[first + b] < 0 || labels[first + b] >= net->classes)
                return clnet_fail(err, CLNET_E_DATA,
                                  "label %d of sample %d is outside the "
                                  "network's %d classes",
                                  labels[first + b], first + b, net->classes);
        weight[r] = (double)m / batch;
        if (m == 0)
            continue; /* a batch with fewer samples than replicas */
        memcpy(net->batch_pixels, pixels + (size_t)first * in, (size_t)m * in);
        memcpy(net->batch_labels, labels + first, (size_t)m * sizeof *labels);
        net->sample_offset = first;
        rc = clnet_net_step_gradients(net, m, &sum, &right, err);
        net->sample_offset = 0;
    }
    if (!rc && n > 1)
        rc = all_reduce(replicas, n, weight, err);
    for (int32_t r = 0; r < n && !rc; r++)
        rc = clnet_net_step_update(replicas[r], err);
    if (loss)
        *loss = sum / batch;
    if (correct)
        *correct = right;
    return rc;
}

int clnet_replicas_step(clnet_net *net, int32_t batch, double *loss_sum,
                        int64_t *correct, clnet_error *err)
{
    clnet_net *all[65];
    all[0] = net;
    for (int32_t r = 0; r < net->nreplicas; r++) {
        all[r + 1] = net->replicas[r];
        all[r + 1]->lr_scale = net->lr_scale;
    }
    int32_t n = net->nreplicas + 1;
    double loss = 0;
    int64_t right = 0;
    int rc = clnet_replicas_train_batch(all, n, net->batch_pixels,
                                        net->batch_labels, batch, &loss,
                                        &right, err);
    *loss_sum += loss * batch;
    *correct += right;
    return rc;
}

int clnet_net_set_replicas(clnet_net *net, clnet_net *const *others,
                           int32_t n, clnet_error *err)
{
    clnet_error_clear(err);
    if (!net || n < 0 || n > 63 || (n && !others))
        return clnet_fail(err, CLNET_E_ARG,
                          "clnet_net_set_replicas: 0 to 63 other replicas");
    for (int32_t r = 0; r < n; r++) {
        const clnet_net *b = others[r];
        if (!b || b == net || b->topo_hash != net->topo_hash ||
            b->seed != net->seed || b->step != net->step)
            return clnet_fail(err, CLNET_E_ARG,
                              "replica %d is not a replica of the network: "
                              "build every one from the same topology and "
                              "seed (and resume each from the same "
                              "checkpoint)",
                              (int)r + 1);
        for (int32_t q = 0; q < r; q++)
            if (others[q] == b)
                return clnet_fail(err, CLNET_E_ARG,
                                  "replica %d is replica %d again",
                                  (int)r + 1, (int)q + 1);
        net->replicas[r] = others[r];
    }
    net->nreplicas = n;
    return CLNET_OK;
}
