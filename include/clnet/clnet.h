/* clnet public API: what a C program links against to read a topology
 * file, build a network from plugins, train, evaluate, save and predict.
 *
 * Every function that can fail takes a clnet_error * (may be NULL) and
 * returns a status or NULL; the message says what went wrong and what to
 * do about it. Nothing here calls exit().
 *
 * Lifetimes (who must outlive whom, and what frees what):
 * - clnet_registry (clnet_registry_open / _new, clnet_registry_free): its
 *   plugins run every network built from it, so it must outlive every
 *   clnet_net built with it. Strings it returns (refusals, plugin
 *   fields) live as long as it does.
 * - clnet_topology (clnet_topology_load / _parse, clnet_topology_free):
 *   needed only while clnet_net_build and clnet_tune run; a network keeps
 *   its own copy of what it needs, so the topology may be freed after.
 * - clnet_net (clnet_net_build, clnet_net_free): owns its buffers on
 *   every backend; free it before its registry.
 * - clnet_comm (clnet_comm_open, clnet_comm_close): its plugin comes
 *   from a registry, which must outlive it; it must outlive every
 *   network it was set on (clnet_net_set_comm), and is closed once, after
 *   them (closing leaves the job: MPI_Finalize).
 * - clnet_dataset (clnet_dataset_load*, clnet_dataset_free): data sets
 *   the library loaded own their pixels, labels and class names; one the
 *   caller filled is the caller's (clnet_dataset_free frees its pointers
 *   with free(), so fill it with malloc'd memory or do not call it). A
 *   data set is read only during the call it is passed to.
 * - clnet_eval_result (clnet_eval_result_free) and clnet_bench_result
 *   (clnet_bench_free): the structs are the caller's, what they point to
 *   the library's until freed.
 * - Callbacks (clnet_train_options) are called only during clnet_train,
 *   on the calling thread; `user` is passed back untouched.
 * - Pointers given to a call (pixels, labels, values, out) are not kept
 *   after it returns. clnet_version() is a static string.
 * Calls on one network must not overlap; calls from several threads at
 * once are not promised to work even on distinct networks (the
 * checkpoint writer's temporary file is one per process).
 */
#ifndef CLNET_H
#define CLNET_H

#include <stdint.h>
#include <stdio.h>

#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLNET_VERSION "0.1.0"

/* The library is built with hidden visibility; this API is what it exports. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

typedef enum {
    CLNET_OK = 0,
    /* bad input: the user can fix a file or an option */
    CLNET_E_ARG,        /* invalid argument or option value */
    CLNET_E_NOTFOUND,   /* a file or folder does not exist */
    CLNET_E_PARSE,      /* malformed topology file */
    CLNET_E_SHAPE,      /* shapes do not fit together */
    CLNET_E_DATA,       /* malformed data or image file */
    CLNET_E_CHECKPOINT, /* corrupt or mismatched checkpoint */
    /* failures at run time */
    CLNET_E_IO,         /* reading or writing failed */
    CLNET_E_NOMEM,      /* out of memory */
    CLNET_E_PLUGIN,     /* no plugin for a layer, or a plugin failed */
    CLNET_E_INTERNAL,
    CLNET_E_NONFINITE,  /* training met a NaN or infinite loss */
    CLNET_E_INTERRUPTED /* should_stop asked training to stop; the network
                           holds the state to save and resume from */
} clnet_status;

typedef struct {
    clnet_status status;
    char msg[CLNET_ERRLEN];
} clnet_error;

/* 1 when the status means bad input (the command line exits 2). */
int clnet_status_is_input(clnet_status s);
const char *clnet_status_name(clnet_status s);

/* The version of the library loaded at run time ("0.1.0"), which may
 * differ from the CLNET_VERSION a program was compiled against, and the
 * plugin ABI version it loads plugins of. */
const char *clnet_version(void);
unsigned clnet_plugin_abi(void);

/* The word of `words` (NULL-terminated) nearest to `word` by edit
 * distance, or NULL when none is close enough to be a plausible typo:
 * what clnet's own "did you mean" messages use, for a program's. */
const char *clnet_nearest_word(const char *word, const char *const *words);

/* ---- plugin registry ---- */
typedef struct clnet_registry clnet_registry;

/* Searches CLNET_PLUGIN_PATH (':'-separated), then the build tree when
 * libclnet runs from one, else the install directory. Never the current
 * directory. Plugins that are refused are kept as messages. */
clnet_registry *clnet_registry_open(clnet_error *err);
/* An empty registry, for callers that choose their folders themselves. */
clnet_registry *clnet_registry_new(clnet_error *err);
/* Loads every *.so of dir; returns the number loaded. */
int clnet_registry_add_dir(clnet_registry *r, const char *dir,
                           clnet_error *err);
int clnet_registry_count(const clnet_registry *r);
/* What a loaded plugin is, for listing them (the structs themselves are
 * the plugin ABI's, include/clnet/plugin.h). The strings live as long as
 * the registry. */
typedef struct {
    const char *kind;    /* the layer kind, loss or optimizer: "conv2d" */
    const char *backend; /* "cpu", "opencl"; "" for a kind's definition */
    const char *impl;    /* "winograd"; "" for a kind's definition */
    const char *role;    /* "layer", "kind", "loss", "optimizer", "device" */
    const char *summary; /* one line about it */
    const char *path;    /* the shared object it came from */
    unsigned abi;        /* the plugin ABI version it was built for */
} clnet_plugin_info;
/* Fills info for the i-th plugin (0 to clnet_registry_count - 1);
 * CLNET_E_ARG for an index out of range. */
int clnet_registry_info(const clnet_registry *r, int i,
                        clnet_plugin_info *info, clnet_error *err);
int clnet_registry_refused_count(const clnet_registry *r);
const char *clnet_registry_refused(const clnet_registry *r, int i);
void clnet_registry_free(clnet_registry *r);

/* The worker threads a network uses when its build options say 0: the
 * CPUs this process may run on (affinity mask), capped by its cgroup's
 * CPU quota; OMP_NUM_THREADS when set. */
int32_t clnet_default_threads(void);

/* ---- devices ---- */
/* The devices of a backend ("cpu", "opencl"): fills up to max entries and
 * returns how many there are (0 when none), or -1 with err. */
int clnet_devices(const clnet_registry *r, const char *backend,
                  clnet_device_info *out, int32_t max, clnet_error *err);

/* ---- topology files ---- */
typedef struct clnet_topology clnet_topology;

clnet_topology *clnet_topology_load(const char *path, clnet_error *err);
/* `name` is used in messages ("net.txt:3:1"). */
clnet_topology *clnet_topology_parse(const char *text, const char *name,
                                     clnet_error *err);
int clnet_topology_layer_count(const clnet_topology *t);
void clnet_topology_free(clnet_topology *t);

/* ---- configuration ---- */
/* The user's defaults for every run, in the topology files' line syntax:
 *   device default=opencl            # as --device
 *   backend conv2d=opencl/im2col-gemm dense_2=cpu   # as --backend
 *   threads count=4
 *   cache dir=/var/cache/clnet       # compiled kernels and tune.tsv
 *   opencl device=0 build_options=-cl-mad-enable,-cl-no-signed-zeros
 * Ranks below the command line (clnet_build_options' own fields, the
 * environment) and a layer's backend= in its topology file. */
typedef struct clnet_config clnet_config;
/* path: a file that must exist (the tool's --config); NULL: the one
 * $CLNET_CONFIG names (must exist), else $XDG_CONFIG_HOME/clnet/config,
 * else ~/.config/clnet/config, either of which may be absent (an empty
 * configuration). Errors are located, FILE:LINE:COL. */
clnet_config *clnet_config_load(const char *path, clnet_error *err);
clnet_config *clnet_config_parse(const char *text, const char *name,
                                 clnet_error *err);
void clnet_config_free(clnet_config *c);
/* The file it was read from, or NULL when none was found. */
const char *clnet_config_file(const clnet_config *c);
/* Its `device default=` (NULL when none) and `threads count=` (0). */
const char *clnet_config_device(const clnet_config *c);
int32_t clnet_config_threads(const clnet_config *c);
/* Sets what the configuration gives for the environment the library and
 * the plugins read, where it is not set already: CLNET_CACHE_DIR (cache
 * dir=) and CLNET_CL_BUILD_OPTIONS_N (opencl device=N build_options=). */
int clnet_config_apply_environment(const clnet_config *c, clnet_error *err);

/* ---- networks ---- */
typedef struct clnet_net clnet_net;

typedef struct {
    int32_t max_batch; /* 0: the topology's train batch */
    int32_t threads;   /* 0: clnet_default_threads() */
    uint64_t seed;
    const char *device;   /* "cpu" (default), "opencl", "opencl:N", "auto" */
    const char *backends; /* "conv2d=opencl,dense_1=cpu/gemm" or NULL:
                             KIND or NAME = BACKEND[/IMPL] */
    uint64_t max_memory;  /* bytes the network may plan on each backend
                             (the host included); 0: the host's available
                             RAM, each device's global memory */
    int32_t strict;       /* 1: refuse a layer whose backend has no
                             implementation of its kind, instead of
                             running it on the native CPU */
    int32_t no_fusion;    /* 1: inference runs every layer as written; 0:
                             a conv2d, dense or depthwise_conv2d followed
                             by batchnorm (and an activation layer) runs
                             as one call, batchnorm folded into a copy of
                             its weights */
    int32_t keep_outputs; /* 1: every layer's output keeps a buffer of
                             its own (to read any layer's output); 0: a
                             relu or add whose input has no other reader,
                             and whose producer's backward does not need
                             its output, writes over that input, as
                             frameworks' in-place operations do */
    /* NULL, or the configuration (must outlive the build call only):
     * its device when device is NULL, its threads when threads is 0,
     * its backend lines below backends and a layer's own backend= */
    const clnet_config *config;
} clnet_build_options;

/* The effective configuration for these build options: the default
 * device, threads, the cache folder, the backend rules and OpenCL build
 * options, each with where it came from (the command line, the
 * environment, FILE:LINE, default); what `clnet config` prints. */
int clnet_config_print(const clnet_config *c, const clnet_build_options *o,
                       FILE *out, clnet_error *err);

/* Plans every buffer before allocating any and refuses (CLNET_E_ARG) a
 * network that needs more than the limit on some backend. */
clnet_net *clnet_net_build(const clnet_topology *t, const clnet_registry *r,
                           const clnet_build_options *opt, clnet_error *err);
void clnet_net_free(clnet_net *net);
/* Keras-style table: layer, output shape, parameters, backend. */
int clnet_net_summary(const clnet_net *net, FILE *out, clnet_error *err);
int64_t clnet_net_param_count(const clnet_net *net);
/* Forward FLOPs per sample, as the layer kinds count them. */
double clnet_net_flops(const clnet_net *net);
/* Input height * width * channels, and output classes. */
int32_t clnet_net_input_size(const clnet_net *net);
clnet_shape clnet_net_input_shape(const clnet_net *net);
int32_t clnet_net_classes(const clnet_net *net);
uint64_t clnet_net_topology_hash(const clnet_net *net);

/* ---- data ---- */
typedef struct {
    int32_t count, rows, cols;
    uint8_t *pixels;  /* count * rows * cols * channels bytes, NHWC */
    int32_t *labels;  /* count values */
    int32_t channels; /* per pixel; 0 means 1 (grey) */
    int32_t nclasses; /* entries of class_names; 0 when none */
    char **class_names; /* the data set's names of its classes, or NULL;
                           clnet_dataset_free frees them */
    /* not 0: pixels is a read-only mapping of that many bytes of a
     * temporary file the loader wrote (CIFAR: the set lives in the page
     * cache, not in the process), unmapped by clnet_dataset_free; 0:
     * memory to free() */
    size_t mapped;
} clnet_dataset;

/* Bytes of one sample: rows x cols x channels. */
size_t clnet_dataset_sample_bytes(const clnet_dataset *ds);

/* Reads an IDX image file and its label file, plain or gzip, checking
 * magic numbers, dimensions, lengths and that the counts agree. */
int clnet_dataset_load_idx(clnet_dataset *ds, const char *images_path,
                           const char *labels_path, clnet_error *err);
/* `prefix` is "train" or "t10k": finds PREFIX-images-idx3-ubyte[.gz] in
 * dir. limit > 0 keeps the first `limit` samples. */
int clnet_dataset_load_mnist(clnet_dataset *ds, const char *dir,
                             const char *prefix, int32_t limit,
                             clnet_error *err);
/* CIFAR-10 (dir holds data_batch_1..5.bin and test_batch.bin) or
 * CIFAR-100 (train.bin, test.bin) in the official binary form: `which`
 * "train" or "test"; CIFAR-100's fine labels, or its coarse ones with
 * `coarse`; class names from batches.meta.txt or fine_label_names.txt /
 * coarse_label_names.txt when present. limit > 0 keeps the first
 * `limit` records. */
int clnet_dataset_load_cifar(clnet_dataset *ds, const char *dir,
                             const char *which, int coarse, int32_t limit,
                             clnet_error *err);
/* How an image folder's images meet the input's height and width. */
typedef enum {
    CLNET_RESIZE_STRETCH, /* scaled to it (area averaging, aspect not
                             kept) */
    CLNET_RESIZE_FIXED    /* must already have it; another size is refused */
} clnet_resize;
/* Called now and then while images are decoded. */
typedef void (*clnet_load_progress_fn)(int64_t done, int64_t total,
                                       void *user);
/* An image folder: dir/CLASS/NAME.png (or .jpg, .jpeg, .pgm, .ppm), the
 * classes numbered in the byte order of their folder names (which become the class names),
 * decoded as rows x cols x channels (1 or 3) bytes on worker threads. A
 * class folder without images, an image that cannot be decoded (named,
 * with the decoder's reason) or one of another size under
 * CLNET_RESIZE_FIXED is refused. limit > 0 keeps that many images, the
 * classes in turn. */
int clnet_dataset_load_folder(clnet_dataset *ds, const char *dir,
                              int32_t rows, int32_t cols, int32_t channels,
                              clnet_resize rule, int32_t limit,
                              clnet_load_progress_fn progress, void *user,
                              clnet_error *err);
/* One image file decoded and sized as the folder loader does it; -1 with
 * the reason (after the file's name) in why. */
int clnet_image_decode(const char *path, int32_t rows, int32_t cols,
                       int32_t channels, clnet_resize rule, uint8_t *out,
                       char *why, size_t whylen);
/* How clnet_dataset_load reads a data set. */
typedef struct {
    const char *format; /* NULL or "auto": from what the path holds; "idx",
                           "cifar" (10 or 100, from the files) or "folder" */
    int32_t coarse;     /* CIFAR-100: the 20 coarse labels, not the fine */
    int32_t limit;      /* > 0: keep this many samples */
    /* image folders: the shape to decode to (the network's input) */
    int32_t rows, cols, channels;
    clnet_resize resize;
    clnet_load_progress_fn progress; /* may be NULL */
    void *user;
} clnet_data_options;
/* The training ("train") or test ("test") part of the data set at path:
 * IDX files (train-/t10k-images-idx3-ubyte[.gz]), CIFAR-10 or -100
 * binaries, or an image folder (path/train/CLASS/..., path/test/...). */
int clnet_dataset_load(clnet_dataset *ds, const char *path, const char *which,
                       const clnet_data_options *opt, clnet_error *err);
/* "idx", "cifar" or "folder": what path holds; NULL when none. */
const char *clnet_data_format(const char *path);
/* 10 when dir holds CIFAR-10's files, 100 for CIFAR-100's, else 0. */
int clnet_cifar_kind(const char *dir);
void clnet_dataset_free(clnet_dataset *ds);

/* ---- training and evaluation ---- */
typedef struct {
    int32_t epoch;
    double loss, accuracy, val_loss, val_accuracy, seconds, images_per_second;
    double eval_seconds; /* the test-set evaluation after the epoch */
    /* 1: the loss is more than 3 times the run's first step's, taken
     * before any update (first_loss), and than ln(classes), the loss of
     * uniform guesses; 2: accuracy is at chance (at most
     * 1.25 / classes) and
     * the loss no better than at the start; 0: neither */
    int32_t diverged;
    double first_loss;
    double lr; /* the learning rate of the epoch's last update (the
                  optimizer's lr times the schedule's factor); NAN when
                  the optimizer has no lr */
    int32_t best;       /* 1: the best val_loss so far (the epoch a
                           save-best checkpoint keeps) */
    int32_t early_stop; /* 1: patience ran out; training stops after
                           this epoch with the best epoch's weights */
    int32_t best_epoch;
    double data_wait; /* share of the epoch's training time the loop
                         waited for its next batch (loaded, augmented) */
    /* across ranks (clnet_net_set_comm), as shares of the epoch's
     * training time: what summing the gradients cost beyond the part
     * that overlapped the backward pass (each step's least wait over the
     * ranks), and what this rank waited beyond that for slower ranks;
     * the bytes all-reduced per step. 0 without a communicator */
    double comm_wait;
    double comm_imbalance;
    double comm_bytes;
} clnet_epoch_stats;

typedef void (*clnet_epoch_fn)(const clnet_epoch_stats *s, void *user);
typedef void (*clnet_progress_fn)(int32_t epoch, int64_t step, int64_t steps,
                                  double loss, double accuracy,
                                  double seconds, void *user);
/* Called after every training step with the step's mean loss, for
 * determinism checks and loss curves. */
typedef void (*clnet_step_fn)(int64_t global_step, double loss, void *user);

/* Returns non-zero to stop training after the current step (a signal
 * handler's flag, a user's cancel). */
typedef int (*clnet_stop_fn)(void *user);

/* A network that was trained, or loaded with clnet_checkpoint_resume,
 * remembers how far its training went: clnet_train continues from there
 * (epochs counts to the run's last epoch, as Keras's fit with
 * initial_epoch), with the same batch and training set. */
typedef struct {
    int32_t epochs;     /* 0: the topology's train epochs */
    int32_t batch;      /* 0: the topology's train batch */
    double stop_at;     /* > 0: stop after the first epoch whose test
                           accuracy reaches this */
    clnet_epoch_fn on_epoch;
    clnet_progress_fn on_progress;
    clnet_step_fn on_step;
    clnet_stop_fn should_stop; /* asked after every step; may be NULL */
    void *user;
    /* NULL: the train line's schedule; else one in its words, replacing
     * it: "cosine,warmup=2" (a name, then KEY=VALUE settings) */
    const char *schedule;
    /* in (0, 1): the last fraction of the training set is held out as
     * the validation set (Keras's validation_split): val_loss and
     * val_accuracy, stop_at and patience come from it, and the test set,
     * when given, is evaluated once after training (on_test); 0: the
     * test set is the validation set */
    double val_split;
    /* > 0: Keras's EarlyStopping on val_loss with restore_best_weights:
     * after this many epochs without a lower val_loss training stops and
     * the best epoch's weights (moving statistics included) come back */
    int32_t patience;
    void (*on_test)(double loss, double accuracy, void *user);
    /* Called while the validation set (after each epoch) and, with
     * val_split, the test set (after training) are evaluated: done of
     * total samples, 0 before the first batch, then at most every 0.1 s,
     * and total after the last batch; may be NULL */
    void (*on_eval_progress)(int64_t done, int64_t total, void *user);
} clnet_train_options;

int clnet_train(clnet_net *net, const clnet_dataset *train,
                const clnet_dataset *test, const clnet_train_options *opt,
                clnet_error *err);
/* The learning rate of the next update (of the last one inside
 * on_progress and on_step): the optimizer's lr times the schedule's
 * factor inside clnet_train, the optimizer's lr outside it (steps of
 * clnet_net_train_batch follow no schedule); NAN for an optimizer
 * without an lr setting or no network. */
double clnet_net_learning_rate(const clnet_net *net);

typedef struct {
    double loss, accuracy;
    int32_t classes;
    int64_t *confusion; /* classes x classes, row = true label;
                           clnet_eval_result_free */
} clnet_eval_result;
/* Frees what clnet_evaluate allocated in res (res itself is the
 * caller's); safe on a zeroed or already freed result. */
void clnet_eval_result_free(clnet_eval_result *res);

int clnet_evaluate(clnet_net *net, const clnet_dataset *ds,
                   clnet_eval_result *res, clnet_error *err);
/* pixels: n images of clnet_net_input_size bytes; probs: n * classes. */
int clnet_predict(clnet_net *net, const uint8_t *pixels, int32_t n,
                  float *probs, clnet_error *err);

/* One training step (forward, loss, backward, update) on n samples, 1 to
 * the network's batch: pixels as for clnet_predict, labels class
 * indices; *loss the batch's mean loss, *correct its right answers
 * (either may be NULL). */
int clnet_net_train_batch(clnet_net *net, const uint8_t *pixels,
                          const int32_t *labels, int32_t n, double *loss,
                          int64_t *correct, clnet_error *err);
/* One data-parallel training step over n replicas of a network (built
 * from the same topology and seed, e.g. one per device, each with a
 * batch of at least its slice): the batch is cut into n slices in order
 * (replica r gets samples r*batch/n to (r+1)*batch/n - 1), each replica
 * computes its slice's gradients, they are summed on the host into the
 * whole batch's mean, and every replica applies the same update, so the
 * replicas stay equal and follow what one network would do on the whole
 * batch (dropout draws by the sample's global index; batchnorm's batch
 * statistics are each slice's). A replica left without samples (batch <
 * n) only receives the others' sum. *loss: the batch's mean loss. */
int clnet_replicas_train_batch(clnet_net *const *replicas, int32_t n,
                               const uint8_t *pixels, const int32_t *labels,
                               int32_t batch, double *loss, int64_t *correct,
                               clnet_error *err);
/* Makes clnet_train on net train it and these n other replicas
 * data-parallel, as clnet_replicas_train_batch does each step (a batch
 * with fewer samples than replicas leaves some without a slice; they
 * still apply the same update). The replicas must outlive the training;
 * evaluation, checkpoints and predictions use net. n = 0 ends it. */
int clnet_net_set_replicas(clnet_net *net, clnet_net *const *others,
                           int32_t n, clnet_error *err);
/* ---- training across processes (MPI) ----
 * A job started by a launcher (mpirun) runs one process per rank; a
 * communicator plugin (plugins/mpi, built when meson finds Open MPI)
 * joins them. clnet_train then shards every epoch's shuffled order by
 * rank (the batch stays the global batch: rank r takes samples
 * r*n/size to (r+1)*n/size - 1 of each batch of n), sums the gradients
 * of all ranks in buckets as the backward pass finishes them, and
 * applies one identical update on every rank, so the ranks follow the
 * trajectory one process would on the whole batch. Every clnet_comm
 * call and clnet_train on a network that has one is collective: every
 * rank makes it. */
typedef struct clnet_comm clnet_comm;
/* The rank count the launcher gave this process (Open MPI's
 * OMPI_COMM_WORLD_SIZE, or PMI_SIZE) and, in *rank, its rank; 1 and 0
 * when no launcher started it. Reads the environment only. */
int32_t clnet_launched_ranks(int32_t *rank);
/* Joins the job through the registry's communicator plugin of that
 * backend ("mpi"; NULL: the first one loaded). Refused, saying how to
 * get one, when the registry has none. */
clnet_comm *clnet_comm_open(const clnet_registry *r, const char *backend,
                            clnet_error *err);
int32_t clnet_comm_rank(const clnet_comm *c);
int32_t clnet_comm_size(const clnet_comm *c);
/* The transport, "Open MPI v4.1.4", for the run's first line. */
const char *clnet_comm_describe(const clnet_comm *c);
/* Whether the last failure of a collective call was every rank's (the
 * ranks disagree on the topology, a loss became NaN, training was asked
 * to stop, clnet_comm_check found a failure): 1 on the rank that should
 * report it (rank 0, or a rank whose own failure differs from rank 0's),
 * 2 on a rank that should stay quiet because another reports it; either
 * way every rank returned it, so each may leave the job on its own. 0
 * when only this rank failed: it must clnet_comm_abort the job lest the
 * others wait for it forever. */
int clnet_comm_failed_together(const clnet_comm *c);
/* Collective: after a part of the work every rank does and any may fail
 * in (loading the topology, the data), shares each rank's outcome (err's
 * status, CLNET_OK when it did not fail). CLNET_OK when no rank failed;
 * else that failure on every rank, failed together, with err holding
 * this rank's message or, where this rank did not fail, the first failed
 * rank's ("rank 1: FILE: ..."). */
int clnet_comm_check(clnet_comm *c, clnet_error *err);
/* Ends every rank of the job with this exit code. Does not return. */
void clnet_comm_abort(clnet_comm *c, int code);
/* Leaves the job; after every network using c is freed. */
void clnet_comm_close(clnet_comm *c);
/* Makes clnet_train on net train across the ranks of c, all-reducing
 * gradients in buckets of about bucket_bytes (0: 1 MiB). Collective:
 * every rank's network must have the same topology (by its hash), seed
 * and batch, or every rank fails with a message naming the ranks that
 * differ. c = NULL ends it. Not with clnet_net_set_replicas. */
int clnet_net_set_comm(clnet_net *net, clnet_comm *c, size_t bucket_bytes,
                       clnet_error *err);

/* A parameter or state tensor by name, "LAYER/TENSOR" as clnet summary
 * names layers and checkpoints name tensors ("conv2d_1/kernel",
 * "batchnorm_1/moving_mean"): its element count (-1 when there is no such
 * tensor), and its values copied out of or into the network, count
 * being exactly that size. Layouts as plugin.h describes them. */
int64_t clnet_net_param_size(const clnet_net *net, const char *name);
int clnet_net_param_get(clnet_net *net, const char *name, float *values,
                        size_t count, clnet_error *err);
int clnet_net_param_set(clnet_net *net, const char *name,
                        const float *values, size_t count, clnet_error *err);
/* The tensor's shape: its rank (1 to 4), with dims filled (1 past the
 * rank); -1 with err when there is no such tensor. A conv2d kernel is
 * kh x kw x in x filters, a dense kernel in x units, as Keras. */
int clnet_net_param_shape(const clnet_net *net, const char *name,
                          int32_t dims[4], clnet_error *err);

/* The output shape (per sample) of the layer named `name`. */
int clnet_net_layer_shape(const clnet_net *net, const char *name,
                          clnet_shape *shape, clnet_error *err);
/* The output of the layer named `name` for n samples (1 to the
 * network's batch) after an inference pass over pixels (as for
 * clnet_predict): count must be n * h * w * c of clnet_net_layer_shape,
 * NHWC floats. A layer with no output of its own in inference is
 * refused, naming the build option that gives it one: a relu or add
 * that runs in place over it (keep_outputs), a layer folded into a
 * fused call (no_fusion). */
int clnet_net_layer_output(clnet_net *net, const char *name,
                           const uint8_t *pixels, int32_t n, float *out,
                           size_t count, clnet_error *err);

/* How far the network's training has gone: epochs finished, and steps
 * of the next one (after clnet_train or clnet_checkpoint_resume). */
void clnet_net_progress(const clnet_net *net, int32_t *epochs_done,
                        int64_t *epoch_steps_done);

/* Batch and epochs of the topology's train line (after build). */
int32_t clnet_net_default_batch(const clnet_net *net);
int32_t clnet_net_default_epochs(const clnet_net *net);

/* ---- benchmarks ---- */
typedef struct {
    char name[64], kind[32], backend[16], impl[32];
    double forward_ms, backward_ms;         /* per batch */
    double forward_gflops, backward_gflops; /* 0 where not meaningful */
} clnet_layer_timing;

typedef struct {
    int32_t batch, steps, nlayers;
    clnet_layer_timing *layers; /* nlayers entries; clnet_bench_free */
    double loss_ms, update_ms;  /* per batch */
    double train_images_per_second, infer_images_per_second;
    double step_ms;             /* one whole training step */
    double outside_kernels;     /* share of a step spent outside plugin
                                   calls (CPU) and kernels (devices):
                                   transfers, launches, host work */
    double data_wait;           /* share of a step (train_images_per_second's
                                   steps: synthetic images through the
                                   training loop's loader, augmented as the
                                   train line says) spent waiting for the
                                   next batch */
    clnet_device_info device;   /* the device of the first layer */
    char device_label[32];      /* "cpu:0", "opencl:1" */
} clnet_bench_result;

/* Times a network on synthetic data: per-layer forward and backward after
 * warm-up (device kernel time from profiling events, CPU time from the
 * clock), whole training steps and inference. Trains the network's
 * parameters as a side effect. */
int clnet_bench(clnet_net *net, int32_t steps, clnet_bench_result *res,
                clnet_error *err);
void clnet_bench_free(clnet_bench_result *res);

/* Times every implementation of each layer that has several on its
 * backend (on synthetic data, `steps` steps each), keeps the fastest whose
 * forward output matches the default choice's within 1e-3 relative error,
 * and records it in the tuning cache ($CLNET_CACHE_DIR/tune.tsv, keyed by
 * device, driver and layer shape), which clnet_net_build reads from then
 * on. Writes one line per decision to report (may be NULL). */
int clnet_tune(const clnet_topology *t, const clnet_registry *r,
               const clnet_build_options *opt, int32_t steps, FILE *report,
               clnet_error *err);

/* ---- checking a device ---- */
typedef struct {
    char impl[96];       /* "conv2d/im2col-gemm@vec4x4", "optimizer adam",
                            "loss sparse_categorical_crossentropy" */
    int32_t cases, failed;
    double worst;        /* the worst relative error over its cases */
    char worst_case[640]; /* the case it was seen in, and why it failed */
} clnet_check_entry;

typedef struct {
    clnet_device_info device;
    char device_label[32]; /* "opencl:0" */
    double tolerance;      /* an error above it fails */
    int32_t nentries, failed; /* failed: entries with a failed case */
    clnet_check_entry *entries; /* clnet_check_free */
} clnet_check_result;

/* Runs every layer implementation (each parameter set), optimizer and
 * loss the device's backend has over a table of shapes (small odd ones,
 * and with small_only 0 the seed model's), each against the native CPU
 * in a small network: two training steps, then the layer's output, its
 * parameters and the input gradient's effect compared, relative error
 * 1e-3. A shape an implementation does not take is left out. progress
 * (may be NULL) gets a redrawn line per case. Returns CLNET_OK when the
 * checks ran, whatever they found (res->failed). */
int clnet_check(const clnet_registry *r, const char *device, int small_only,
                FILE *progress, clnet_check_result *res, clnet_error *err);
void clnet_check_free(clnet_check_result *res);

/* ---- checkpoints ---- */
/* Writes to a temporary file in the same folder and renames it into place,
 * so a failure never leaves a partial file where a good one was. */
int clnet_checkpoint_save(const clnet_net *net, const char *path,
                          clnet_error *err);
/* The checkpoint holds the weights, the optimizer's state (every slot and
 * the step count), the seed, and how far training went (epochs and steps
 * done, the unfinished epoch's running loss and accuracy), in 64-bit
 * sizes. */
/* Loads the weights only (for eval, predict and fine-tuning). Refuses a
 * file of another version, another topology or with a bad checksum or
 * length, leaving the network unchanged. Reads versions 1 and 2. */
int clnet_checkpoint_load(clnet_net *net, const char *path, clnet_error *err);
/* Loads everything, so that clnet_train continues where the run that
 * saved it stopped: the same steps, losses and weights as one run without
 * the stop (on the same device and thread count). Needs the same
 * optimizer; refuses weights-only (version 1) files. */
int clnet_checkpoint_resume(clnet_net *net, const char *path,
                            clnet_error *err);
/* The temporary file of a save in progress, or NULL: a signal handler may
 * unlink() it before _exit(), so that nothing is left beside the
 * checkpoint. */
const char *clnet_checkpoint_temp_file(void);

/* ---- images ---- */
/* Reads an image file as grey bytes scaled to rows x cols: the same
 * decoding as clnet_image_decode with 1 channel and CLNET_RESIZE_STRETCH
 * (PNG, JPEG, binary PGM/PPM, BMP, GIF through stb_image), the reason in
 * err ("FILE: ..."). out holds rows * cols bytes. */
int clnet_image_load(const char *path, int32_t rows, int32_t cols,
                     uint8_t *out, clnet_error *err);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
