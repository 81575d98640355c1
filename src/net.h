/* The built network: layers bound to plugins, parameters and every buffer
 * a training step needs. Shared by the builder, the training loop and the
 * checkpoint code; not installed. */
#ifndef CLNET_NET_H
#define CLNET_NET_H

#include "internal.h"

#define CLNET_MAX_BACKENDS 4
#define CLNET_MAX_SLOTS 4

/* A backend in use by the network: its device and memory functions, the
 * open device, and its instance of the optimizer. */
typedef struct {
    char name[32]; /* "cpu", "opencl" */
    const clnet_device_ops *ops;
    void *ctx;     /* NULL for the native CPU */
    int32_t index; /* device index within the backend */
    clnet_device_info info;
    const clnet_plugin *optimizer;
    void *optimizer_state;
} clnet_backend;

/* What the network needs in one memory, a backend's device or the host,
 * in bytes at max_batch; planned before anything sized by the batch is
 * allocated (memory.c). */
typedef struct {
    char where[48]; /* "cpu", "opencl:0" or "host" */
    uint64_t params, grads, slots; /* parameters, gradients, optimizer */
    uint64_t acts;  /* activations and their gradients */
    uint64_t stage; /* copies of activations between backends */
    uint64_t host;  /* host batch buffers, predictions, staging */
    uint64_t eval;  /* the evaluation's classes x classes matrix */
    uint64_t total, limit;
    char limit_from[48]; /* where the limit comes from */
} clnet_mem_need;

/* The native CPU's memory functions, in the device plugins' form. */
const clnet_device_ops *clnet_host_device_ops(void);

typedef struct {
    const clnet_plugin *plugin;
    void *state;
    int bk; /* index into net->backends */
    char name[64];
    char tune_key[160]; /* the layer's shape and settings, for tune.c */
    int line, col;
    clnet_shape in, out;
    size_t in_size, out_size; /* elements per sample */
    clnet_layer_plan plan;
    clnet_value settings[CLNET_MAX_SETTINGS];
    /* handles on the layer's backend */
    void *params[CLNET_MAX_PARAMS];
    void *grads[CLNET_MAX_PARAMS];
    void *slots[CLNET_MAX_PARAMS][CLNET_MAX_SLOTS]; /* optimizer state */
    size_t param_count[CLNET_MAX_PARAMS];
    void *act;  /* output, max_batch * out_size floats */
    void *dact; /* gradient of the output; NULL for the input layer */
    void *in_stage; /* the previous layer's output copied to this layer's
                       backend, when the two differ; else NULL */
    void *dx_stage; /* the input gradient on this backend, before its copy
                       to the previous layer's backend */
} clnet_net_layer;

/* How far training has gone, saved in checkpoints so that a run resumes
 * where it stopped: `epoch` epochs finished and `epoch_step` steps of the
 * next one, taken with `batch` over `count` training samples; the
 * unfinished epoch's running figures; the first step's loss, the
 * reference for telling divergence. */
typedef struct {
    int32_t epoch, batch, count;
    int64_t epoch_step, correct, seen;
    double loss_sum, seconds, first_loss;
} clnet_progress;

struct clnet_net {
    char *file;
    int nlayers;
    clnet_net_layer *layers;
    int nbackends;
    clnet_backend backends[CLNET_MAX_BACKENDS];
    const clnet_plugin *loss;
    void *loss_state;
    int loss_bk;          /* the loss runs on the last layer's backend */
    const char *optimizer_kind;
    int optimizer_epsilon_zero; /* its `epsilon` setting is 0 (a hint) */
    int fused; /* softmax and cross-entropy fused in the backward pass */
    int32_t max_batch, threads, classes;
    int32_t default_batch, default_epochs;
    uint64_t seed, step, topo_hash;
    uint64_t topo_hash_v1; /* without settings: version 1 checkpoints */
    clnet_progress progress;
    size_t total_params;
    uint8_t *batch_pixels; /* max_batch inputs, as bytes, on the host */
    int32_t *batch_labels;
    void *pixels_dev;      /* the same on the input layer's backend */
    void *labels_dev;      /* the labels on the loss's backend */
    float *host_stage;     /* host staging for copies between backends */
    /* clnet bench's timers (bench.c): off, per layer (waiting for each
     * layer's device), or summed without waiting */
    enum { CLNET_TIME_OFF, CLNET_TIME_LAYERS, CLNET_TIME_SUM } timing;
    double *t_forward, *t_backward; /* seconds per layer */
    double t_loss, t_update, t_host;
    float *host_pred;      /* the last layer's output, read back */
    int planning; /* build pass that only learns shapes, at one sample */
    int nmem;
    clnet_mem_need mem[CLNET_MAX_BACKENDS + 1]; /* per backend, + host */
};

/* The memory plan (memory.c). The planning pass creates each layer for
 * one sample, with its kind's CPU implementation where there is one, so
 * that nothing sized by the batch exists before the plan is checked. */
int clnet_net_probe_create(const clnet_registry *r, const clnet_plugin *p,
                           const clnet_create_args *args,
                           clnet_layer_plan *plan, void **state,
                           const clnet_plugin **used, char *perr);
/* Adds up every buffer of the planned layers on each backend and refuses
 * the build when one exceeds its limit: max_memory when not 0, else the
 * host's available RAM or the device's global memory. */
int clnet_net_plan_check(clnet_net *net, const clnet_registry *r,
                         uint64_t max_memory, clnet_error *err);
/* "175.3 MiB": bytes in binary units. */
void clnet_format_bytes(uint64_t bytes, char *buf, size_t len);

/* Copies a parameter tensor between the host and its layer's backend. */
int clnet_net_param_read(const clnet_net *net, const clnet_net_layer *L,
                         int k, float *host, clnet_error *err);
int clnet_net_param_write(clnet_net *net, const clnet_net_layer *L, int k,
                          const float *host, clnet_error *err);
/* Layer i's output for the first `batch` samples, copied to the host. */
int clnet_net_read_output(clnet_net *net, int i, int32_t batch, float *host,
                          clnet_error *err);
/* Fills the batch buffers with fixed pseudo-random pixels and labels. */
void clnet_net_synthetic_batch(clnet_net *net);
/* The last layer's output for the current batch, on the host. */
const float *clnet_net_predictions(clnet_net *net, int32_t batch,
                                   clnet_error *err);

/* Whether layer i's backward pass must produce its input gradient: not
 * when its input is the input layer's output, directly or through layers
 * that only alias their input (flatten). */
int clnet_net_needs_dx(const clnet_net *net, int i);

/* Runs the forward pass over `batch` samples already in batch_pixels. */
int clnet_net_forward(clnet_net *net, int32_t batch, int training,
                      clnet_error *err);
/* Loss, gradients and one optimizer update for the current batch. */
int clnet_net_train_step(clnet_net *net, int32_t batch, double *loss_sum,
                         int64_t *correct, clnet_error *err);

#endif
