/* The built network: layers bound to plugins, parameters and every buffer
 * a training step needs. Shared by the builder, the training loop and the
 * checkpoint code; not installed. */
#ifndef CLNET_NET_H
#define CLNET_NET_H

#include "internal.h"

typedef struct {
    const clnet_plugin *plugin;
    void *state;
    char name[64];
    int line, col;
    clnet_shape in, out;
    size_t in_size, out_size; /* elements per sample */
    clnet_layer_plan plan;
    clnet_value settings[CLNET_MAX_SETTINGS];
    float *params[CLNET_MAX_PARAMS];
    float *grads[CLNET_MAX_PARAMS];
    float **slots[CLNET_MAX_PARAMS]; /* optimizer state per parameter */
    size_t param_count[CLNET_MAX_PARAMS];
    void *act;  /* output, max_batch * out_size floats */
    void *dact; /* gradient of the output; NULL for the input layer */
} clnet_net_layer;

struct clnet_net {
    char *file;
    int nlayers;
    clnet_net_layer *layers;
    const clnet_plugin *loss, *optimizer;
    void *loss_state, *optimizer_state;
    int fused; /* softmax and cross-entropy fused in the backward pass */
    int32_t max_batch, threads, classes;
    int32_t default_batch, default_epochs;
    uint64_t seed, step, topo_hash;
    float *param_arena, *grad_arena, *slot_arena;
    float **slot_ptrs;
    size_t total_params;
    uint8_t *batch_pixels; /* max_batch inputs, as bytes */
    int32_t *batch_labels;
};

/* Runs the forward pass over `batch` samples already in batch_pixels. */
int clnet_net_forward(clnet_net *net, int32_t batch, int training,
                      clnet_error *err);
/* Loss, gradients and one optimizer update for the current batch. */
int clnet_net_train_step(clnet_net *net, int32_t batch, double *loss_sum,
                         int64_t *correct, clnet_error *err);

#endif
