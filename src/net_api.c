/* The public API's access to a built network's tensors by name, and one
 * training step on a batch the caller gives: what a program embedding
 * clnet needs beside the whole-epoch clnet_train. */
#include <stdio.h>
#include <string.h>

#include "backends.h"

/* Layer and tensor index of "LAYER/TENSOR" ("conv2d_1/kernel"). */
static int find_tensor(const clnet_net *net, const char *name, int *li,
                       int *k, clnet_error *err)
{
    const char *slash = name ? strchr(name, '/') : NULL;
    if (!net || !slash)
        return clnet_fail(err, CLNET_E_ARG,
                          "a tensor is named LAYER/TENSOR (conv2d_1/kernel), "
                          "got '%s'",
                          name ? name : "(null)");
    size_t n = (size_t)(slash - name);
    for (int i = 0; i < net->nlayers; i++) {
        const clnet_net_layer *L = &net->layers[i];
        if (strlen(L->name) != n || memcmp(L->name, name, n) != 0)
            continue;
        for (int j = 0; j < L->plan.nparams; j++)
            if (strcmp(L->plan.params[j].name, slash + 1) == 0) {
                *li = i;
                *k = j;
                return CLNET_OK;
            }
        char have[256] = "";
        for (int j = 0; j < L->plan.nparams; j++) {
            size_t used = strlen(have);
            snprintf(have + used, sizeof have - used, "%s%s", j ? ", " : "",
                     L->plan.params[j].name);
        }
        return clnet_fail(err, CLNET_E_NOTFOUND,
                          "layer %s has no tensor '%s' (it has: %s)", L->name,
                          slash + 1, have[0] ? have : "none");
    }
    return clnet_fail(err, CLNET_E_NOTFOUND, "%s has no layer named '%.*s'",
                      net->file, (int)n, name);
}

int64_t clnet_net_param_size(const clnet_net *net, const char *name)
{
    int i, k;
    if (find_tensor(net, name, &i, &k, NULL))
        return -1;
    return (int64_t)net->layers[i].param_count[k];
}

static int tensor_io(clnet_net *net, const char *name, float *values,
                     size_t count, int write, clnet_error *err)
{
    clnet_error_clear(err);
    int i, k;
    int rc = find_tensor(net, name, &i, &k, err);
    if (rc)
        return rc;
    const clnet_net_layer *L = &net->layers[i];
    if (!values || count != L->param_count[k])
        return clnet_fail(err, CLNET_E_ARG,
                          "%s holds %zu values, the call gives room for %zu",
                          name, L->param_count[k], values ? count : 0);
    return write ? clnet_net_param_write(net, L, k, values, err)
                 : clnet_net_param_read(net, L, k, values, err);
}

int clnet_net_param_get(clnet_net *net, const char *name, float *values,
                        size_t count, clnet_error *err)
{
    return tensor_io(net, name, values, count, 0, err);
}

int clnet_net_param_set(clnet_net *net, const char *name,
                        const float *values, size_t count, clnet_error *err)
{
    return tensor_io(net, name, (float *)values, count, 1, err);
}

int clnet_net_train_batch(clnet_net *net, const uint8_t *pixels,
                          const int32_t *labels, int32_t n, double *loss,
                          int64_t *correct, clnet_error *err)
{
    clnet_error_clear(err);
    if (!net || !pixels || !labels || n < 1 || n > net->max_batch)
        return clnet_fail(err, CLNET_E_ARG,
                          "clnet_net_train_batch: needs pixels, labels and 1 "
                          "to %d samples (the network's batch)",
                          net ? net->max_batch : 0);
    for (int32_t b = 0; b < n; b++)
        if (labels[b] < 0 || labels[b] >= net->classes)
            return clnet_fail(err, CLNET_E_DATA,
                              "label %d of sample %d is outside the "
                              "network's %d classes",
                              labels[b], b, net->classes);
    size_t in = net->layers[0].out_size;
    memcpy(net->batch_pixels, pixels, (size_t)n * in);
    memcpy(net->batch_labels, labels, (size_t)n * sizeof *labels);
    double sum = 0;
    int64_t right = 0;
    int rc = clnet_net_train_step(net, n, &sum, &right, err);
    if (loss)
        *loss = sum / n;
    if (correct)
        *correct = right;
    return rc;
}

int clnet_net_param_shape(const clnet_net *net, const char *name,
                          int32_t dims[4], clnet_error *err)
{
    clnet_error_clear(err);
    int i, k;
    int rc = find_tensor(net, name, &i, &k, err);
    if (rc)
        return -1;
    if (!dims) {
        clnet_fail(err, CLNET_E_ARG, "clnet_net_param_shape: dims is NULL");
        return -1;
    }
    const clnet_param_info *d = &net->layers[i].plan.params[k];
    for (int j = 0; j < 4; j++)
        dims[j] = j < d->ndim ? d->dims[j] : 1;
    return d->ndim;
}

/* The layer named `name`, or -1 with a message naming the nearest. */
static int find_layer(const clnet_net *net, const char *name,
                      clnet_error *err)
{
    for (int i = 0; net && name && i < net->nlayers; i++)
        if (!strcmp(net->layers[i].name, name))
            return i;
    clnet_fail(err, net && name ? CLNET_E_NOTFOUND : CLNET_E_ARG,
               "%s has no layer named '%s' (clnet summary lists them)",
               net ? net->file : "(no network)", name ? name : "(null)");
    return -1;
}

int clnet_net_layer_shape(const clnet_net *net, const char *name,
                          clnet_shape *shape, clnet_error *err)
{
    clnet_error_clear(err);
    int i = find_layer(net, name, err);
    if (i < 0)
        return err ? err->status : CLNET_E_NOTFOUND;
    if (shape)
        *shape = net->layers[i].out;
    return CLNET_OK;
}

int clnet_net_layer_output(clnet_net *net, const char *name,
                           const uint8_t *pixels, int32_t n, float *out,
                           size_t count, clnet_error *err)
{
    clnet_error_clear(err);
    int i = find_layer(net, name, err);
    if (i < 0)
        return err ? err->status : CLNET_E_NOTFOUND;
    const clnet_net_layer *L = &net->layers[i];
    if (!pixels || !out || n < 1 || n > net->max_batch)
        return clnet_fail(err, CLNET_E_ARG,
                          "clnet_net_layer_output: give 1 to %d samples (the "
                          "network's batch) and room for their output",
                          net->max_batch);
    if (count != (size_t)n * L->out_size)
        return clnet_fail(err, CLNET_E_ARG,
                          "%s's output for %d samples is %zu values, the call "
                          "gives room for %zu",
                          L->name, n, (size_t)n * L->out_size, count);
    /* a layer inside an inference chain is computed by the chain's one
     * call, which writes only the chain's last output */
    int chain = L->fusion ? L->fusion : L->fused_into;
    if (chain && net->fusions[chain - 1].last != i)
        return clnet_fail(err, CLNET_E_ARG,
                          "%s runs fused into %s in inference and has no "
                          "output of its own there; build with no_fusion to "
                          "read it",
                          L->name,
                          net->layers[net->fusions[chain - 1].last].name);
    memcpy(net->batch_pixels, pixels,
           (size_t)n * (size_t)clnet_net_input_size(net));
    int rc = clnet_net_forward(net, n, 0, err);
    return rc ? rc : clnet_net_read_output(net, i, n, out, err);
}
