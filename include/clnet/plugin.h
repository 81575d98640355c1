/* clnet plugin ABI: the one door between the core runtime and the plugins
 * that implement layers, losses and optimizers.
 *
 * A plugin is a shared object exporting one symbol, CLNET_PLUGIN_ENTRY, a
 * function returning a pointer to a static clnet_plugin. The loader reads
 * abi_version and struct_size first and refuses any other version before it
 * touches anything else in the struct.
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

#ifdef __cplusplus
extern "C" {
#endif

#define CLNET_PLUGIN_ABI_VERSION 1u
#define CLNET_PLUGIN_ENTRY "clnet_plugin_entry"
#define CLNET_MAX_PARAMS 4
#define CLNET_MAX_SETTINGS 16
#define CLNET_ERRLEN 512
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
    CLNET_ROLE_DEVICE = 4 /* a backend's devices and memory (OpenCL) */
} clnet_role;

/* Per-sample shape; n is the batch dimension where a count is meant. */
typedef struct {
    int32_t h, w, c;
} clnet_shape;

/* Setting types a plugin may declare. The core parses and validates the
 * text of the topology file against them, so every plugin gets the same
 * error messages for free. */
typedef enum {
    CLNET_SET_INT = 1,   /* 64 */
    CLNET_SET_FLOAT,     /* 0.5, 1e-7 */
    CLNET_SET_SIZE2,     /* 3x3 or 3 (square) */
    CLNET_SET_SHAPE3,    /* 28x28x1, or 28x28 for one channel */
    CLNET_SET_CHOICE     /* one word of `choices`, "valid|same" */
} clnet_setting_type;

typedef struct {
    const char *key;           /* Keras's name: "filters", "kernel" */
    const char *alias;         /* another accepted name, or NULL */
    clnet_setting_type type;
    const char *default_value; /* text as in a topology file; NULL = required */
    const char *choices;       /* CLNET_SET_CHOICE: words separated by '|' */
    double min, max;           /* bounds for numbers and each size dimension */
} clnet_setting_spec;

/* A parsed setting: i[] for sizes and shapes (i[0] alone for INT and for
 * CHOICE, where it is the index of the word), f for FLOAT. */
typedef struct {
    int32_t i[3];
    double f;
} clnet_value;

/* How the core fills a parameter tensor before training. */
typedef enum {
    CLNET_INIT_ZEROS = 0,
    CLNET_INIT_GLOROT_UNIFORM = 1 /* limit sqrt(6 / (fan_in + fan_out)) */
} clnet_init;

typedef struct {
    const char *name;    /* "kernel", "bias" */
    int32_t ndim;
    int32_t dims[4];
    clnet_init init;
    int32_t fan_in, fan_out;
} clnet_param_info;

/* What the core passes to create(). */
typedef struct {
    const clnet_value *settings; /* in the order of the plugin's spec */
    clnet_shape in;              /* per-sample input shape (layers) */
    int32_t max_batch;           /* every buffer holds this many samples */
    int32_t threads;             /* worker threads the plugin may use */
    int32_t fuse_softmax_loss;   /* layers: the incoming gradient is already
                                    taken with respect to the logits (the
                                    loss fused softmax and cross-entropy) */
    int32_t layer_index;         /* position in the network, for RNG keys */
    void *device;                /* the backend's open device (the context
                                    its device plugin's open() returned);
                                    NULL on the native CPU backend */
} clnet_create_args;

/* What create() reports back about a layer. */
typedef struct {
    clnet_shape out;
    int32_t nparams;
    clnet_param_info params[CLNET_MAX_PARAMS];
    int32_t alias_input;      /* output is the input buffer reinterpreted
                                 (flatten): the core shares the buffers and
                                 calls neither forward nor backward */
    int32_t needs_input_grad; /* 0 when dx is never useful (input layer) */
    double flops_forward;     /* per sample, for reports */
} clnet_layer_plan;

/* Per-call context. */
typedef struct {
    int32_t batch;     /* samples in this call, 1..max_batch */
    int32_t training;  /* 1 in a training step, 0 in inference */
    uint64_t seed;     /* the run's seed */
    uint64_t step;     /* global training step, for counter-based RNG */
} clnet_step;

typedef struct {
    int (*forward)(void *state, const clnet_step *step, const void *x, void *y,
                   char *err);
    /* Writes parameter gradients (overwriting them) and, when dx is not
     * NULL, the gradient with respect to the input. May overwrite dy. */
    int (*backward)(void *state, const clnet_step *step, const void *x,
                    const void *y, void *dy, void *dx, char *err);
    /* Hands the layer its parameter and gradient buffers, in the order of
     * plan.params. Called once, after create and before any forward, and
     * only once the network's memory plan fits: a large workspace (one the
     * size of the kernel, or of an image's im2col matrix) is allocated
     * here, not in create(), which the core also calls for one sample to
     * learn shapes before it plans. Non-zero: out of memory. */
    int (*bind)(void *state, void *const *params, void *const *grads);
    /* How well this implementation suits the layer described by args
     * (settings and input shape; create() has not run): 0 when it cannot
     * run it, higher is better. When a backend has several
     * implementations of a kind, the core creates the best-scoring one.
     * NULL counts as 1. */
    int32_t (*score)(const clnet_create_args *args);
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

/* One device a backend can run on, as `clnet devices` lists it. */
typedef struct {
    char name[128], vendor[128], platform[128], type[16];
    char driver_version[64], c_version[64];
    int32_t compute_units;
    uint64_t global_mem, local_mem, max_alloc, max_work_group;
} clnet_device_info;

/* A backend's device plugin: finds devices, opens one, and owns its
 * memory. Copies are blocking, so the host may reuse `src` at once. */
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
} clnet_device_ops;

typedef struct clnet_plugin {
    uint32_t abi_version;   /* CLNET_PLUGIN_ABI_VERSION */
    uint32_t struct_size;   /* sizeof(clnet_plugin) */
    clnet_role role;
    const char *kind;       /* "conv2d", "adam", "sparse_categorical_crossentropy" */
    const char *backend;    /* "cpu" */
    const char *impl;       /* "gemm", "direct" */
    const char *summary;    /* one line for `clnet plugins` */
    int32_t nsettings;
    const clnet_setting_spec *settings;
    /* err points to CLNET_ERRLEN bytes; on failure write a sentence there
     * and return non-zero. */
    int (*create)(const clnet_create_args *args, clnet_layer_plan *plan,
                  void **state, char *err);
    void (*destroy)(void *state);
    clnet_layer_ops layer;         /* CLNET_ROLE_LAYER */
    clnet_loss_ops loss;           /* CLNET_ROLE_LOSS */
    clnet_optimizer_ops optimizer; /* CLNET_ROLE_OPTIMIZER */
    clnet_device_ops device;       /* CLNET_ROLE_DEVICE (create, destroy
                                      unused) */
} clnet_plugin;

typedef const clnet_plugin *(*clnet_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
