/* Helpers the OpenCL plugins share: error names, checked buffers, kernels
 * with their work-group limits, launches with rounded-up global sizes, and
 * the GEMM every product goes through. Linked statically into each OpenCL
 * plugin. */
#ifndef CLNET_OCL_COMMON_H
#define CLNET_OCL_COMMON_H

#include <stdint.h>

#include "../common/window.h"
#include "ocl.h"

const char *ocl_strerror(cl_int rc);

/* 64-bit FNV-1a of n bytes, continuing from h (start with
 * OCL_FNV_OFFSET): the kernel cache's file names and checksums. */
#define OCL_FNV_OFFSET 0xcbf29ce484222325ull
uint64_t ocl_fnv1a(uint64_t h, const void *data, size_t n);

/* A buffer of `bytes`, refused with a message when it exceeds the device's
 * CL_DEVICE_MAX_MEM_ALLOC_SIZE. */
cl_mem ocl_buffer(clnet_ocl *o, size_t bytes, char *err);

typedef struct {
    cl_kernel k;
    size_t wg; /* CL_KERNEL_WORK_GROUP_SIZE on this device */
} ocl_kernel;

/* Builds `source` (see clnet_ocl.build) and creates the named kernels,
 * NULL-terminated, into out[]. */
int ocl_program(clnet_ocl *o, const char *source, const char *options,
                cl_program *prog, const char *const *names, ocl_kernel *out,
                char *err);
void ocl_release(cl_program prog, ocl_kernel *k, int n);

/* Sets the kernel's arguments: pairs of (size_t size, const void *value),
 * `n` of them. */
int ocl_args(ocl_kernel *k, int n, ...);
#define OCL_ARG(x) sizeof(x), (const void *)&(x)

/* Enqueues k over `global` in groups of `local` (NULL: the driver's
 * choice), recording its event while the device is being profiled. */
int ocl_launch(clnet_ocl *o, ocl_kernel *k, cl_uint dims, const size_t *global,
               const size_t *local, char *err);
/* The window geometry every sliding-window kernel (cl/conv2d.cl,
 * cl/conv2d_direct.cl, cl/maxpool2d.cl) takes last: H, W, C, KH, KW, SH,
 * SW, PT, PL, OH, OW as ints, from argument index `first`. */
int ocl_window_args(ocl_kernel *k, int first, const clnet_window *g);
/* One work-item per index in [0, n), in work-groups the kernel allows. */
int ocl_run1d(clnet_ocl *o, ocl_kernel *k, size_t n, char *err);

/* The GEMM kernels of cl/gemm.cl (in one of its two families) and
 * cl/reduce.cl's sum of slices, built into a plugin's program. */
typedef struct {
    ocl_kernel nn, tn, transpose, sum_slices;
} ocl_gemm;
#define OCL_GEMM_KERNELS "gemm_nn", "gemm_tn", "transpose", "sum_slices"

/* Device memory a layer lends the helpers below for intermediate results
 * (transposed weights, partial sums); sized with ocl_layer_scratch. */
typedef struct {
    cl_mem buf;
    size_t floats;
} ocl_scratch;

/* A family of cl/gemm.cl and its tile sizes: what a GEMM-based plugin
 * variant is built with. */
typedef struct {
    int vec;     /* 1: float16 register tiles (CPU devices); 0: local-memory
                    tiles (GPUs) */
    int ts, wpt; /* tiles: TS x TS outputs per work-group, WPT per
                    work-item */
    int tm, nv;  /* vector: TM rows by NV float16 vectors per work-item */
} ocl_gemm_shape;


/* A GEMM parameter set by name: "tilesTSxWPT" (local-memory tiles, TS x
 * TS outputs per work-group, WPT per work-item) or "vecTMxNV" (TM rows
 * by NV float16 vectors per work-item); -1 on another name. */
int ocl_gemm_parse(const char *name, ocl_gemm_shape *gs);
/* The parameter set to use: `tuning` when given (it must be of the
 * family `vec` when vec >= 0), else the default table's for this
 * device's vendor and type (gemm_defaults.h), in that family (vec >= 0)
 * or the device type's (vec < 0); in the vector family, narrowed to 32
 * or 16 columns a work-item when the product's `cols` (filters, units)
 * are a multiple of those but not of 64. A sentence in err on a bad
 * name. */
int ocl_gemm_choose(const clnet_ocl *o, const char *tuning, int vec,
                    int cols, ocl_gemm_shape *gs, char *err);
/* The parameter sets the GEMM plugins offer, for their tunings lists:
 * the tiles sets, then the vector sets (64, 32 and 16 columns a
 * work-item). */
#define OCL_GEMM_TILES_SETS "tiles16x4", "tiles32x8"
#define OCL_GEMM_VEC_SETS "vec4x4", "vec8x2", "vec8x1"

/* What a product adds to each element as it stores it: bias[column]
 * (when bias is not NULL), then relu (when relu). */
typedef struct {
    cl_mem bias;
    int relu;
} ocl_epilogue;

/* C[M,N] = alpha op(A) op(B) + beta C, then the epilogue (NULL: none),
 * row-major, with element offsets; ta: A is stored K x M; tb: B is stored
 * N x K, and is first transposed into the scratch. A' B with a small C
 * and a long K is split over K into partial products summed afterwards,
 * when the scratch is large enough, so every core gets work. gs: the
 * shape the program was built with. */
int ocl_sgemm(clnet_ocl *o, ocl_gemm *g, const ocl_gemm_shape *gs, int ta,
              int tb, int M,
              int N, int K, float alpha, cl_mem A, int lda, size_t aoff,
              cl_mem B, int ldb, size_t boff, float beta, cl_mem C, int ldc,
              size_t coff, const ocl_scratch *scratch, const ocl_epilogue *ep,
              char *err);
/* C (M x N, row stride ldc, from offset coff) <- beta C + the sum of
 * `slices` M x N blocks in parts from offset poff; k: cl/reduce.cl's
 * sum_slices. */
int ocl_sum_slices(clnet_ocl *o, ocl_kernel *k, cl_mem parts, int poff,
                   int slices, int M, int N, float beta, cl_mem C, int ldc,
                   int coff, char *err);
/* Slices to split `rows` rows of `cols` values into when summing over
 * rows, so every core gets work (1: no split). */
int ocl_row_slices(size_t rows, int cols);

/* Rows of K per slice when a vector-family kernel sums an M x N result
 * over a long K (A' B): each slice of the A and B rows stays in a core's
 * cache while the work-items sweep it. */
int ocl_cache_slice(int M, int N);
/* Launches a kernel written like cl/gemm.cl's vector family (a work-item
 * per gs->tm rows by 16 gs->nv columns of an M x N result,
 * get_global_id(2) the slice of K) over `slices` slices. */
int ocl_launch_vec(clnet_ocl *o, ocl_kernel *k, const ocl_gemm_shape *gs,
                   int M, int N, int slices, char *err);

/* The kernels of cl/activation.cl, built into a plugin's program. */
typedef struct {
    ocl_kernel bias_act, softmax_rows, relu_backward, softmax_backward,
        bias_grad, copy, act_forward, act_backward_y, act_backward;
} ocl_act;
#define OCL_ACT_KERNELS                                                      \
    "bias_act", "softmax_rows", "relu_backward", "softmax_backward",         \
        "bias_grad", "copy", "act_forward", "act_backward_y", "act_backward"

/* y += bias (NULL: none), then the activation, over rows x cols. */
int ocl_bias_activation(clnet_ocl *o, ocl_act *a, cl_mem y, cl_mem bias,
                        int act, size_t rows, int cols, char *err);
/* The gradient through the activation, in place in dy (see
 * cpu_activation_backward). */
int ocl_activation_backward(clnet_ocl *o, ocl_act *a, cl_mem y, cl_mem dy,
                            int act, int fused, size_t rows, int cols,
                            char *err);
/* gelu or swish as a layer's `activation=` (see cpu_post_activation):
 * pre = y (n values), then y = act(pre). */
int ocl_post_activation(clnet_ocl *o, ocl_act *a, cl_mem y, cl_mem pre,
                        int act, size_t n, char *err);
/* dy = dy act'(pre), in place. */
int ocl_post_activation_grad(clnet_ocl *o, ocl_act *a, cl_mem pre, cl_mem y,
                             cl_mem dy, int act, size_t n, char *err);
/* A layer's backward pass up to its product: the gradient through the
 * activation, in place in dy (as ocl_activation_backward), and db, the
 * sum of dy's rows; with relu in one pass over dy. */
int ocl_bias_activation_backward(clnet_ocl *o, ocl_act *a, ocl_gemm *g,
                                 cl_mem y, cl_mem dy, cl_mem db, int act,
                                 int fused, size_t rows, int cols,
                                 const ocl_scratch *scratch, char *err);
/* Floats of scratch for a layer with an in x out weight matrix w whose
 * products run over `rows` rows (x w, x' dy, dy w') and whose bias
 * gradient sums `bias_rows` rows: the most any of them wants. */
size_t ocl_layer_scratch(const ocl_gemm_shape *gs, size_t rows,
                         size_t bias_rows, int in, int out);
/* ocl_program with the build options that select gs in cl/gemm.cl (and
 * the kernels built with it). */
int ocl_gemm_program(clnet_ocl *o, const ocl_gemm_shape *gs,
                     const char *source, cl_program *prog,
                     const char *const *names, ocl_kernel *out, char *err);
int ocl_copy(clnet_ocl *o, ocl_act *a, cl_mem x, cl_mem y, size_t n,
             char *err);

/* Number of elements a kernel argument of type int can index. */
#define OCL_MAX_INT_ELEMENTS 0x7fffffffu

void ocl_errorf(char *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
