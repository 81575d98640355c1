/* clnet plugin ABI: the one door between the core runtime and the plugins
 * that define layer kinds and implement layers, losses and optimizers.
 *
 * A plugin is a shared object exporting one symbol, CLNET_PLUGIN_ENTRY, a
 * function returning a pointer to a static clnet_plugin. The loader reads
 * abi_version and struct_size first and refuses any other version before it
 * touches anything else in the struct.
 *
 * Version 2: a layer kind is defined once, by a plugin of role
 * CLNET_ROLE_KIND (its settings, shape inference, parameters and FLOPs,
 * independent of any backend); a backend's layer plugin brings only the
 * kernels for a kind, built against the same settings table (the loader
 * refuses one whose table differs). Layers may read several inputs; the
 * core sums the gradients of a tensor that feeds several layers. A layer
 * may hold state that is not trained (a moving mean), saved in checkpoints
 * with its parameters.
 *
 * Version 3 adds the communicator role (CLNET_ROLE_COMMUNICATOR): the
 * collective operations data-parallel training across processes needs
 * (MPI's all-reduce), so that libclnet itself links no MPI library.
 *
 * Data layout (the same on every backend, so tensors move between devices
 * without reshuffling): activations are float32, batch-major NHWC, dense:
 * element (n, y, x, c) of a tensor of per-sample shape h x w x c lives at
 * ((n * h + y) * w + x) * c + c. A rank-1 tensor (dense layers) has h = w = 1.
 * Convolution kernels are stored as [kh][kw][in][out], dense kernels as
 * [in][out]: Keras's own layouts, so weights move between the two unchanged.
 *
 * Buffers are opaque `void *` handles: a float * (or uint8_t * for the
 * input layer's raw pixels, int32_t * for labels) on the native CPU
 * backend; on another backend, whatever its device plugin's alloc()
 * returns (a cl_mem for OpenCL). A layer only ever sees buffers of its own
 * backend: the core copies activations and gradients across backends.
 */
#ifndef CLNET_PLUGIN_H
#define CLNET_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLNET_PLUGIN_ABI_VERSION 3u
#define CLNET_PLUGIN_ENTRY "clnet_plugin_entry"
#define CLNET_MAX_PARAMS 4
#define CLNET_MAX_INPUTS 16
#define CLNET_MAX_SETTINGS 16
/* The most elements any one tensor may hold: a layer's output or input
 * gradient over max_batch samples, a parameter, a plugin's scratch. OpenCL
 * kernels index with int. The core refuses a network whose input batch,
 * outputs or parameters pass it, checking a layer's input before its
 * create() and its plan after; a plugin computes its own sizes in 64 bits
 * and refuses any scratch past it before allocating. */
#define CLNET_MAX_ELEMENTS 2147483647ll

/* a * b for such sizes, in 64 bits: -1 when a or b is negative (an earlier
 * product that did not fit) or the product passes CLNET_MAX_ELEMENTS, so
 * a chain of products stays -1 once one does not fit. */
static inline int64_t clnet_size_mul(int64_t a, int64_t b)
{
    if (a < 0 || b < 0 || (a != 0 && b > CLNET_MAX_ELEMENTS / a))
        return -1;
    return a * b;
}

#if defined(__GNUC__)
#define CLNET_EXPORT __attribute__((visibility("default")))
#else
#define CLNET_EXPORT
#endif

typedef enum {
    CLNET_ROLE_LAYER = 1,
    CLNET_ROLE_LOSS = 2,
    CLNET_ROLE_OPTIMIZER = 3,
    CLNET_ROLE_DEVICE = 4, /* a backend's devices and memory (OpenCL) */
    CLNET_ROLE_KIND = 5,   /* a layer kind's definition, no kernels */
    CLNET_ROLE_COMMUNICATOR = 6 /* collectives across processes (MPI) */
} clnet_role;


/* Setting types a plugin may declare. The core parses and validates the
 * text of the topology file against them, so every plugin gets the same
 * error messages for free. */
typedef enum {
    CLNET_SET_INT = 1,   /* 64 */
    CLNET_SET_FLOAT,     /* 0.5, 1e-7 */
    CLNET_SET_SIZE2,     /* 3x3 or 3 (square) */
    CLNET_SET_SHAPE3,    /* 28x28x1, or 28x28 for one channel */
    CLNET_SET_CHOICE,    /* one word of `choices`, "valid|same" */
    CLNET_SET_FLOATS     /* 1 to CLNET_MAX_FLOATS numbers, "0.5,0.25" */
} clnet_setting_type;
#define CLNET_MAX_FLOATS 4

typedef struct {
    const char *key;           /* Keras's name: "filters", "kernel" */
    const char *alias;         /* another accepted name, or NULL */
    clnet_setting_type type;
    const char *default_value; /* text as in a topology file; NULL = required */
    const char *choices;       /* CLNET_SET_CHOICE: words separated by '|' */
    double min, max;           /* bounds for numbers and each size dimension */
} clnet_setting_spec;

/* A parsed setting: i[] for sizes and shapes (i[0] alone for INT and for
 * CHOICE, where it is the index of the word), f for FLOAT; FLOATS: i[0]
 * numbers in fv. */
typedef struct {
    int32_t i[3];
    double f;
    double fv[CLNET_MAX_FLOATS];
} clnet_value;

/* How the core fills a parameter tensor before training: Keras's
 * initializers, in the order of CLNET_INIT_CHOICES (a kind's
 * `kernel_initializer=` setting is a CHOICE of these words, so its index
 * is the value). The normal ones are truncated at two standard
 * deviations, as Keras's VarianceScaling draws them. */
typedef enum {
    CLNET_INIT_ZEROS = 0,
    CLNET_INIT_ONES = 1,
    CLNET_INIT_GLOROT_UNIFORM = 2, /* limit sqrt(6 / (fan_in + fan_out)) */
    CLNET_INIT_GLOROT_NORMAL = 3,  /* stddev sqrt(2 / (fan_in + fan_out)) */
    CLNET_INIT_HE_UNIFORM = 4,     /* limit sqrt(6 / fan_in) */
    CLNET_INIT_HE_NORMAL = 5       /* stddev sqrt(2 / fan_in) */
} clnet_init;
#define CLNET_INIT_CHOICES \
    "zeros|ones|glorot_uniform|glorot_normal|he_uniform|he_normal"

typedef struct {
    const char *name;    /* "kernel", "bias", "moving_mean" */
    int32_t ndim;
    int32_t dims[4];
    clnet_init init;
    int32_t fan_in, fan_out;
    /* 1: state the layer updates itself in training forward passes (a
     * moving mean): saved in checkpoints, given no gradient and no
     * optimizer state, counted as Keras's Non-trainable params */
    int32_t non_trainable;
} clnet_param_info;

/* What a kind's infer() reports about a layer, and what the core hands
 * the layer plugin that implements it. */
typedef struct {
    clnet_shape out;
    int32_t nparams;
    clnet_param_info params[CLNET_MAX_PARAMS];
    int32_t alias_input;      /* output is the input buffer reinterpreted
                                 (flatten): the core shares the buffers and
                                 needs no layer plugin for the kind */
    int32_t output_softmax;   /* the output is a softmax over the channel
                                 axis: a cross-entropy loss may fuse its
                                 derivative with it */
    double flops_forward;     /* per sample, for reports */
    double flops_backward;    /* per sample: input and parameter gradients */
    /* What the core's inference fusion (src/fuse.c) may do with the
     * layer, declared by its kind:
     * folds: params[0]'s last axis and params[1], a bias of out.c values,
     *   index the output channels, so a per-channel affine map after the
     *   layer folds into them; its `activation` setting, when it is
     *   linear, may then take over the activation layer after that.
     * affine: in inference the output is x * scale + shift per channel,
     *   from the kind's def.inference_affine.
     * activation_word: an activation layer: the `activation=` word that
     *   computes what the layer computes with its settings; NULL when no
     *   word does. */
    int32_t folds;
    int32_t affine;
    const char *activation_word;
    /* What lets the core write one layer's output over another's, as
     * frameworks' in-place operations do (src/memory.c):
     * in_place: forward may be called with y the buffer of x[0] (same
     *   size; each element of x[0] is read before that element of y is
     *   written), and backward never reads x[0] (relu: its mask is y > 0;
     *   add: it reads no values);
     * backward_skips_output: backward never reads y, so a later in_place
     *   layer may overwrite this layer's output (batchnorm: it reads its
     *   input and the batch statistics). */
    int32_t in_place;
    int32_t backward_skips_output;
} clnet_layer_plan;

/* What the core passes a kind's infer(). */
typedef struct {
    const clnet_value *settings; /* in the order of the kind's spec */
    int32_t ninputs;
    const clnet_shape *in;       /* per-sample shape of each input */
    const char *const *in_names; /* each input's layer and line, as
                                    "conv2d_1 (net.net:3)", for messages */
} clnet_kind_args;

typedef struct {
    /* how many inputs the kind reads: input 0..0, most 1..1, add
     * 2..CLNET_MAX_INPUTS */
    int32_t min_inputs, max_inputs;
    /* Output shape, parameters and FLOPs from settings and input shapes;
     * a sentence in err (naming the inputs by in_names) when they do not
     * fit. No allocation beyond the plan. */
    int (*infer)(const clnet_kind_args *args, clnet_layer_plan *plan,
                 char *err);
    /* plan->affine kinds: the inference map's scale and shift for each of
     * `channels` channels, from the layer's settings and parameters
     * (host copies, in the plan's order). */
    int (*inference_affine)(const clnet_value *settings,
                            const float *const *params, int32_t channels,
                            float *scale, float *shift, char *err);
} clnet_kind_ops;

/* What the core passes to create() (and to score(), before create). */
typedef struct {
    const clnet_value *settings; /* in the order of the plugin's spec */
    int32_t ninputs;             /* layers: how many inputs, and */
    const clnet_shape *in;       /* each one's per-sample shape; the loss:
                                    one, its predictions' shape */
    const clnet_layer_plan *plan; /* layers: what the kind's infer() gave;
                                     NULL for losses and optimizers */
    int32_t max_batch;           /* every buffer holds this many samples */
    int32_t threads;             /* worker threads the plugin may use */
    int32_t fuse_softmax_loss;   /* layers: the incoming gradient is already
                                    taken with respect to the logits (the
                                    loss fused softmax and cross-entropy) */
    int32_t layer_index;         /* position in the network, for RNG keys */
    const char *tuning;          /* layers: one of layer.tunings, from
                                    --backend NAME=BACKEND/IMPL@TUNING or
                                    the tune cache; "" when none is
                                    chosen: the plugin uses its default
                                    table (per vendor and device type) */
    void *device;                /* the backend's open device (the context
                                    its device plugin's open() returned);
                                    NULL on the native CPU backend */
} clnet_create_args;

/* Per-call context. */
typedef struct {
    int32_t batch;     /* samples in this call, 1..max_batch */
    int32_t training;  /* 1 in a training step, 0 in inference */
    uint64_t seed;     /* the run's seed */
    uint64_t step;     /* global training step, for counter-based RNG */
    double lr_scale;   /* optimizers: the learning-rate schedule's factor
                          on their own lr for this update (1: none) */
    /* the global index, in the step's whole batch, of this call's first
     * sample: 0, or where a data-parallel replica's slice starts; what a
     * layer draws per sample (dropout's mask) keys on the global index,
     * so a replica draws what one device would for those samples */
    int64_t sample_offset;
} clnet_step;

typedef struct {
    /* x[i]: input i (args->ninputs of them). In a training step a layer
     * with non-trainable state updates it here. */
    int (*forward)(void *state, const clnet_step *step, const void *const *x,
                   void *y, char *err);
    /* Writes parameter gradients (overwriting them) and, for each input i
     * whose dx[i] is not NULL, the gradient with respect to it
     * (overwriting; the core sums where a tensor feeds several layers).
     * May overwrite dy. */
    int (*backward)(void *state, const clnet_step *step,
                    const void *const *x, const void *y, void *dy,
                    void *const *dx, char *err);
    /* Hands the layer its parameter and gradient buffers, in the order of
     * plan.params (grads[k] is NULL for non-trainable state). Called
     * once, after create and before any forward; create() allocates
     * nothing sized by the batch beyond what it must, a large workspace
     * (one the size of an image's im2col matrix) is allocated here.
     * Non-zero: out of memory. */
    int (*bind)(void *state, void *const *params, void *const *grads);
    /* How well this implementation suits the layer described by args
     * (settings and input shape; create() has not run): 0 when it cannot
     * run it, higher is better. When a backend has several
     * implementations of a kind, the core creates the best-scoring one.
     * NULL counts as 1. */
    int32_t (*score)(const clnet_create_args *args);
    /* The tuning parameter sets this implementation runs with, by name
     * ("tiles32x8"), NULL-terminated; NULL when it has none. Data, not
     * plugins: one plugin per algorithm, `clnet tune` measures each set
     * and caches the fastest, and without a cached choice the plugin
     * takes the one its own default table gives for the device. */
    const char *const *tunings;
} clnet_layer_ops;

typedef struct {
    /* pred: per-sample `classes` outputs; labels: int32 class indices.
     * Adds the summed loss to *loss_sum and correct predictions to
     * *correct. When dpred is not NULL, writes d(mean loss)/d(pred), or
     * with respect to the logits when `fused` (pred came from softmax). */
    int (*compute)(void *state, const clnet_step *step, const void *pred,
                   const void *labels, int32_t classes, int32_t fused,
                   void *dpred, double *loss_sum, int64_t *correct,
                   char *err);
    int32_t can_fuse_softmax;
} clnet_loss_ops;

typedef struct {
    int32_t nslots; /* state tensors per parameter (Adam: 2), zeroed */
    /* step->step counts from 1 at the first update. */
    int (*update)(void *state, const clnet_step *step, void *param,
                  const void *grad, void *const *slots, size_t count,
                  char *err);
} clnet_optimizer_ops;


/* A backend's device plugin: finds devices, opens one, and owns its
 * memory. Copies are blocking, so the host may reuse `src` at once; a
 * copy of 0 bytes succeeds and does nothing (a data-parallel slice may be
 * empty). */
typedef struct {
    /* Fills up to `max` entries; returns how many devices exist (0 when
     * none, which is not an error), or -1 with err. */
    int (*list)(clnet_device_info *out, int32_t max, char *err);
    int (*open)(int32_t index, void **ctx, char *err);
    void (*close)(void *ctx);
    /* The buffer comes zeroed. */
    int (*alloc)(void *ctx, size_t bytes, void **buf, char *err);
    void (*release)(void *ctx, void *buf);
    int (*write)(void *ctx, void *buf, const void *src, size_t bytes,
                 char *err);
    int (*read)(void *ctx, const void *buf, void *dst, size_t bytes,
                char *err);
    /* Waits for all work queued on the device. */
    int (*finish)(void *ctx, char *err);
    /* With on = 1 the device records how long each kernel runs (OpenCL
     * profiling events); kernel_seconds() waits for the queue and returns
     * the kernel time recorded since the previous call. */
    void (*profile)(void *ctx, int on);
    double (*kernel_seconds)(void *ctx);
    /* Arithmetic the core needs on float buffers of this device: the
     * gradients of a tensor read by several layers are summed, and
     * gradient clipping measures and scales the gradient arena. */
    int (*accumulate)(void *ctx, void *dst, const void *src, size_t count,
                      char *err); /* dst[i] += src[i] */
    int (*sum_squares)(void *ctx, const void *buf, size_t count,
                       double *out, char *err);
    int (*scale)(void *ctx, void *buf, size_t count, float factor,
                 char *err);
    /* A handle on bytes [offset, offset + bytes) of buf, given back with
     * release_view() before buf is released: the parameters, gradients
     * and optimizer state of one backend are each one arena, and a
     * layer's tensors are views of it. offset is a multiple of
     * info.base_align. */
    int (*view)(void *ctx, void *buf, size_t offset, size_t bytes,
                void **out, char *err);
    void (*release_view)(void *ctx, void *view);
} clnet_device_ops;

/* The element types a communicator sums. */
typedef enum {
    CLNET_COMM_FLOAT = 1,
    CLNET_COMM_DOUBLE = 2
} clnet_comm_type;

/* A communicator plugin: the processes of one job (MPI's world), each
 * knowing its rank. Every call but abort is collective: each rank makes
 * the same calls in the same order. Only the thread that opened it calls
 * it. */
typedef struct {
    /* Joins the job; rank in [0, size). */
    int (*open)(void **ctx, int32_t *rank, int32_t *size, char *err);
    /* Leaves it (MPI_Finalize); ctx may be NULL. */
    void (*close)(void *ctx);
    /* Ends every rank of the job with this exit code, at once: for a
     * failure the other ranks cannot know of, which would leave them
     * waiting in a collective. Does not return. */
    void (*abort)(void *ctx, int code);
    /* buf[i] = the sum over ranks of buf[i], in place, blocking. */
    int (*all_reduce)(void *ctx, void *buf, size_t count,
                      clnet_comm_type type, char *err);
    /* The same without blocking: *request is finished by wait(); test()
     * lets the transfer progress and says whether it is done (*done 1,
     * the request then freed as by wait). */
    int (*start_all_reduce)(void *ctx, void *buf, size_t count,
                            clnet_comm_type type, void **request, char *err);
    int (*test)(void *ctx, void *request, int *done, char *err);
    int (*wait)(void *ctx, void *request, char *err);
    /* all[r * bytes ..] = rank r's `mine`, on every rank. */
    int (*all_gather)(void *ctx, const void *mine, size_t bytes, void *all,
                      char *err);
    /* The transport in a few words, for messages ("Open MPI 4.1.4"). */
    const char *(*describe)(void *ctx);
} clnet_comm_ops;

typedef struct clnet_plugin {
    uint32_t abi_version;   /* CLNET_PLUGIN_ABI_VERSION */
    uint32_t struct_size;   /* sizeof(clnet_plugin) */
    clnet_role role;
    const char *kind;       /* "conv2d", "adam", "sparse_categorical_crossentropy" */
    const char *backend;    /* "cpu"; "" for a kind's definition */
    const char *impl;       /* "gemm", "direct"; "" for a kind */
    const char *summary;    /* one line for `clnet plugins` */
    /* the settings: a kind defines them; a layer plugin carries the table
     * it was built against, which must equal its kind's */
    int32_t nsettings;
    const clnet_setting_spec *settings;
    /* err points to CLNET_ERRLEN bytes; on failure write a sentence there
     * and return non-zero. Not used by kinds and devices. */
    int (*create)(const clnet_create_args *args, void **state, char *err);
    void (*destroy)(void *state);
    clnet_kind_ops def;            /* CLNET_ROLE_KIND */
    clnet_layer_ops layer;         /* CLNET_ROLE_LAYER */
    clnet_loss_ops loss;           /* CLNET_ROLE_LOSS */
    clnet_optimizer_ops optimizer; /* CLNET_ROLE_OPTIMIZER */
    clnet_device_ops device;       /* CLNET_ROLE_DEVICE (create, destroy
                                      unused) */
    clnet_comm_ops comm;           /* CLNET_ROLE_COMMUNICATOR (likewise) */
} clnet_plugin;

typedef const clnet_plugin *(*clnet_plugin_entry_fn)(void);

/* The core's registry as plugin code and the project's own tests see it:
 * the loaded plugin structs themselves (programs that only use the
 * library read clnet_registry_info in clnet.h instead). */
typedef struct clnet_registry clnet_registry;
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif
/* The i-th plugin (0 to clnet_registry_count - 1) and its file, or NULL. */
const clnet_plugin *clnet_registry_get(const clnet_registry *r, int i,
                                       const char **path);
/* The first plugin of `kind` on `backend` (NULL: any backend), or NULL. */
const clnet_plugin *clnet_registry_find(const clnet_registry *r,
                                        const char *kind,
                                        const char *backend);
#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
