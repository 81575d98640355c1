/* The built network: layers bound to plugins, parameters and every buffer
 * a training step needs. Shared by the builder, the training loop and the
 * checkpoint code; not installed. */
#ifndef CLNET_NET_H
#define CLNET_NET_H

#include "internal.h"
#include "augment.h"
#include "schedule.h"

#define CLNET_MAX_BACKENDS 4
#define CLNET_MAX_SLOTS 4

/* A backend in use by the network: its device and memory functions, the
 * open device, and its instance of the optimizer. */
typedef struct {
    char name[32]; /* "cpu", "opencl" */
    const clnet_device_ops *ops;
    void *ctx;     /* NULL for the native CPU */
    int32_t index; /* device index within the backend */
    int is_default; /* the device a layer naming only the backend gets */
    clnet_device_info info;
    const clnet_plugin *optimizer;
    void *optimizer_state;
    /* every trainable parameter of the backend's layers in one buffer,
     * each at an aligned offset; their gradients and each optimizer slot
     * in buffers of the same layout: the optimizer updates the arena in
     * one call, and clipping and (later) all-reduce see it whole */
    size_t arena_bytes;
    void *param_arena, *grad_arena;
    void *slot_arena[CLNET_MAX_SLOTS];
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

/* How a layer's backward pass hands on the gradient of one input. */
typedef enum {
    CLNET_DX_NONE,   /* no gradient is needed there */
    CLNET_DX_DIRECT, /* written straight into the producer's dact */
    CLNET_DX_COPY,   /* written into dx_own, copied to the producer's dact
                        on its backend */
    CLNET_DX_ADD,    /* written into dx_own, added to the producer's dact
                        (another reader wrote it first) */
    CLNET_DX_COPY_ADD /* dx_own copied to dx_remote on the producer's
                         backend, then added there */
} clnet_dx_mode;

/* One input of a layer: the tensor it reads and where its gradient goes. */
typedef struct {
    int named; /* the layer named (for its shape): may alias its input */
    int src;   /* the layer that owns the buffers (aliases resolved) */
    size_t size; /* elements per sample */
    void *stage; /* src's output copied to this layer's backend, when the
                    two differ; else NULL */
    clnet_dx_mode dx_mode;
    void *dx_own;    /* on this layer's backend */
    void *dx_remote; /* on the producer's backend (CLNET_DX_COPY_ADD) */
} clnet_net_input;

typedef struct {
    const clnet_plugin *plugin; /* the implementation; NULL for a kind
                                   that only aliases its input */
    const clnet_plugin *kind;   /* the kind's definition */
    void *state;
    int bk; /* index into net->backends */
    int fallback; /* runs on the native CPU: its backend has no
                     implementation of the kind */
    char name[64];
    char tune_key[160]; /* the layer's shape and settings, for tune.c */
    char tuning[32];    /* the implementation's parameter set, or "" */
    /* where its backend was chosen: "--backend", "mnist.net:4",
     * "CONFIG:2", "--device", "default" */
    char chosen_by[160];
    int line, col;
    int ninputs;
    clnet_net_input inputs[CLNET_MAX_INPUTS];
    clnet_shape in[CLNET_MAX_INPUTS], out;
    size_t out_size; /* elements per sample */
    int wants_grad;  /* its output's gradient is needed: it or a layer
                        above it has trainable parameters */
    int readers;     /* how many inputs of later layers read its output */
    clnet_layer_plan plan;
    clnet_value settings[CLNET_MAX_SETTINGS];
    /* handles on the layer's backend: trainable tensors are views of the
     * backend's arenas, non-trainable ones buffers of their own */
    void *params[CLNET_MAX_PARAMS];
    void *grads[CLNET_MAX_PARAMS];  /* NULL for non-trainable state */
    void *slots[CLNET_MAX_PARAMS][CLNET_MAX_SLOTS]; /* optimizer state */
    size_t param_count[CLNET_MAX_PARAMS];
    size_t param_offset[CLNET_MAX_PARAMS]; /* bytes into the arenas */
    void *act;  /* output, max_batch * out_size floats */
    void *dact; /* gradient of the output; NULL when not wanted */
    int in_place;   /* its output is written over input 0's buffer
                       (memory.c: clnet_net_plan_in_place) */
    int fusion;     /* 1 + the index of the inference chain it starts */
    int fused_into; /* 1 + the index of the chain it runs inside */
} clnet_net_layer;

/* The configuration file (config.c): each setting with its line. */
typedef struct {
    char *key, *value; /* KIND or NAME, BACKEND[/IMPL[@SET]] */
    int line;
} clnet_config_rule;
typedef struct {
    int32_t device;
    char *options; /* spaces between them */
    int line;
    int env_set; /* CLNET_CL_BUILD_OPTIONS_N was set before it applied */
} clnet_config_build;
struct clnet_config {
    char *file;           /* read, or looked for when absent; may be NULL */
    int absent;           /* no file: an empty configuration */
    const char *found_by; /* "--config", "$CLNET_CONFIG", ... */
    char *device;
    int device_line;
    int32_t threads;
    int threads_line;
    char *cache_dir;
    int cache_line;
    int env_cache; /* CLNET_CACHE_DIR was set before the file applied */
    clnet_config_rule *rules;
    int nrules;
    clnet_config_build *build;
    int nbuild;
};
/* The backend the configuration gives a layer (its name's line before its
 * kind's), with the line in *line; NULL when none. */
const char *clnet_config_backend(const clnet_config *c, const char *kind,
                                 const char *name, int *line);
/* "FILE:LINE" into buf. */
void clnet_config_where(const clnet_config *c, int line, char *buf,
                        size_t len);

/* A chain the inference pass runs as one call (fuse.c). */
typedef struct {
    int first, affine, act; /* layers; act -1 when none */
    int last;               /* the layer whose output the call writes */
    clnet_value settings[CLNET_MAX_SETTINGS]; /* first's, with act's word */
    void *state;            /* first's implementation, created again */
    void *params[2];        /* the folded kernel and bias, on its backend */
} clnet_fusion;

/* A plugin call of a step, for an observer (clnet bench's timers). */
typedef enum {
    CLNET_CALL_FORWARD,
    CLNET_CALL_BACKWARD,
    CLNET_CALL_LOSS,
    CLNET_CALL_UPDATE /* the optimizer, on backend bk */
} clnet_call;
/* Called before (end 0) and after (end 1) each call; layer -1 for the
 * loss and the update. */
typedef void (*clnet_net_observer)(void *user, clnet_net *net,
                                   clnet_call call, int layer, int bk,
                                   int end);

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
    double clipnorm;        /* Keras's clipnorm: each tensor's gradient */
    double global_clipnorm; /* and global_clipnorm: all of them together */
    const char *optimizer_kind;
    clnet_schedule schedule; /* the train line's (schedule.h) */
    clnet_augment augment;   /* the train line's (augment.h) */
    double base_lr;          /* the optimizer's lr setting; NAN: none */
    double lr_scale;         /* the schedule's factor for the next update */
    int optimizer_epsilon_zero; /* its `epsilon` setting is 0 (a hint) */
    int fused; /* softmax and cross-entropy fused in the backward pass */
    int32_t max_batch, threads, classes;
    int32_t default_batch, default_epochs;
    uint64_t seed, step, topo_hash;
    uint64_t topo_hash_v1; /* without settings: version 1 checkpoints */
    clnet_progress progress;
    size_t total_params, trainable_params;
    uint8_t *batch_pixels; /* max_batch inputs, as bytes, on the host */
    int32_t *batch_labels;
    void *pixels_dev;      /* the same on the input layer's backend */
    void *pixels_loader[2]; /* the training loader's uploads (loader.c),
                               on the input layer's device; NULL on host */
    const void *pixels_uploaded; /* the loader's device buffer holding the
                                    next forward pass's batch (loader.c),
                                    read instead of uploading; cleared by
                                    that pass */
    void *labels_dev;      /* the labels on the loss's backend */
    float *host_stage;     /* host staging for copies between backends */
    size_t host_stage_elems;
    /* an observer of every plugin call (clnet bench's timers) */
    clnet_net_observer observer;
    void *observer_user;
    float *host_pred;      /* the last layer's output, read back */
    /* the output gradients' shared buffers (memory.c: plan_grad_slots):
     * each layer's dact points into one */
    void **grad_slots;
    int *grad_slot_bk, ngrad_slots;
    /* input gradients that are copied or added into the producer's
     * (dx_own, dx_remote) live only through one layer's backward pass and
     * the sums after it: one buffer per backend and input position, as
     * large as the largest, serves them all */
    void *dx_pool[CLNET_MAX_BACKENDS][CLNET_MAX_INPUTS];
    int fuse_off;          /* clnet_build_options.no_fusion */
    char device_from[160]; /* where the default device came from */
    int64_t sample_offset; /* clnet_step.sample_offset of its calls: 0, or
                              a data-parallel replica's first sample */
    /* clnet_net_set_replicas: the other replicas clnet_train steps with
     * this one (the caller's; they outlive the training) */
    clnet_net *replicas[64];
    int32_t nreplicas;
    /* clnet_net_set_comm: the ranks clnet_train trains with (the
     * caller's), and the buckets of their gradient sum (distributed.c) */
    clnet_comm *comm;
    struct clnet_dist *dist;
    /* the host's two tensors of the replicas' gradient sum (replicas.c),
     * allocated at the first data-parallel step, kept for the next */
    float *reduce_buf;
    size_t reduce_cap; /* values in each of the two halves */
    int nfusions;
    clnet_fusion *fusions;
    uint64_t param_writes; /* host writes of parameters (clnet_net_param_
                              write): with step, when to fold again */
    uint64_t folded_step, folded_writes;
    int folded;            /* the chains hold folded weights */
    int nmem;
    clnet_mem_need mem[CLNET_MAX_BACKENDS + 1]; /* per backend, + host */
};

/* The memory plan (memory.c), from the kinds' plans before any layer
 * is created. Adds up every buffer of the planned layers on each backend and refuses
 * the build when one exceeds its limit: max_memory when not 0, else the
 * host's available RAM or the device's global memory. */
int clnet_net_plan_check(clnet_net *net, const clnet_registry *r,
                         uint64_t max_memory, clnet_error *err);
/* Marks the layers whose output may be written over their input 0's
 * buffer (plan.in_place), after placement and before the plan check;
 * none when keep_outputs. */
void clnet_net_plan_in_place(clnet_net *net, int keep_outputs);
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


/* What score() and create() of layer i's implementation are given. */
clnet_create_args clnet_net_layer_args(const clnet_net *net, int i);

/* Runs the forward pass over `batch` samples already in batch_pixels;
 * in inference the chains of fuse.h run as one call each. */
int clnet_net_forward(clnet_net *net, int32_t batch, int training,
                      clnet_error *err);
/* Loss, gradients and one optimizer update for the current batch. */
/* The step in its two halves, for data-parallel replicas whose
 * gradients are summed in between: forward, loss and backward (the
 * gradients of this batch in the arenas), then clipping and one
 * optimizer update per backend. clnet_net_train_step is both. */
int clnet_net_step_gradients(clnet_net *net, int32_t batch, double *loss_sum,
                             int64_t *correct, clnet_error *err);
/* clnet_net_step_gradients in its two halves, for ranks that share
 * their loss before the backward pass: forward and loss
 * (CLNET_E_NONFINITE, before any gradient, when the loss is not finite),
 * then backward. */
int clnet_net_step_loss(clnet_net *net, int32_t batch, double *loss_sum,
                        int64_t *correct, clnet_error *err);
int clnet_net_step_backward(clnet_net *net, int32_t batch, clnet_error *err);
int clnet_net_step_update(clnet_net *net, clnet_error *err);
/* Part r of `parts` of a batch of n, as data-parallel training cuts it
 * (in-process replicas and ranks alike): samples [*first, *first + *m),
 * in order and as equal as can be. */
static inline void clnet_batch_slice(int64_t r, int64_t parts, int32_t n,
                                     int32_t *first, int32_t *m)
{
    *first = (int32_t)(r * n / parts);
    *m = (int32_t)((r + 1) * n / parts) - *first;
}
/* A data-parallel step of net and its replicas over the batch in net's
 * batch buffers, adding to *loss_sum and *correct (replicas.c). */
int clnet_replicas_step(clnet_net *net, int32_t batch, double *loss_sum,
                        int64_t *correct, clnet_error *err);
int clnet_net_train_step(clnet_net *net, int32_t batch, double *loss_sum,
                         int64_t *correct, clnet_error *err);

#endif
