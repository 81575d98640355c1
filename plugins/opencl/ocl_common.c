/* Helpers the OpenCL plugins share; see ocl_common.h. */
#include "ocl_common.h"
#include "gemm_defaults.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/activation.h"

void ocl_errorf(char *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, CLNET_ERRLEN, fmt, ap);
    va_end(ap);
}

uint64_t ocl_fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

const char *ocl_strerror(cl_int rc) {
    switch (rc) {
    case CL_SUCCESS:
        return "CL_SUCCESS";
    case CL_DEVICE_NOT_FOUND:
        return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE:
        return "CL_DEVICE_NOT_AVAILABLE";
    case CL_COMPILER_NOT_AVAILABLE:
        return "CL_COMPILER_NOT_AVAILABLE";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE:
        return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES:
        return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY:
        return "CL_OUT_OF_HOST_MEMORY";
    case CL_BUILD_PROGRAM_FAILURE:
        return "CL_BUILD_PROGRAM_FAILURE";
    case CL_INVALID_VALUE:
        return "CL_INVALID_VALUE";
    case CL_INVALID_BINARY:
        return "CL_INVALID_BINARY";
    case CL_INVALID_BUILD_OPTIONS:
        return "CL_INVALID_BUILD_OPTIONS";
    case CL_INVALID_KERNEL_NAME:
        return "CL_INVALID_KERNEL_NAME";
    case CL_INVALID_KERNEL_ARGS:
        return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_ARG_INDEX:
        return "CL_INVALID_ARG_INDEX";
    case CL_INVALID_ARG_SIZE:
        return "CL_INVALID_ARG_SIZE";
    case CL_INVALID_WORK_GROUP_SIZE:
        return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_WORK_ITEM_SIZE:
        return "CL_INVALID_WORK_ITEM_SIZE";
    case CL_INVALID_GLOBAL_WORK_SIZE:
        return "CL_INVALID_GLOBAL_WORK_SIZE";
    case CL_INVALID_BUFFER_SIZE:
        return "CL_INVALID_BUFFER_SIZE";
    case CL_INVALID_MEM_OBJECT:
        return "CL_INVALID_MEM_OBJECT";
    case CL_INVALID_COMMAND_QUEUE:
        return "CL_INVALID_COMMAND_QUEUE";
    case CL_INVALID_CONTEXT:
        return "CL_INVALID_CONTEXT";
    case CL_INVALID_PROGRAM_EXECUTABLE:
        return "CL_INVALID_PROGRAM_EXECUTABLE";
    }
    return "an unknown OpenCL error";
}

/* Under `oclgrind --uninitialized` buffers are cleared by writes from the
 * host: its checker still takes a buffer cleared by clEnqueueFillBuffer
 * for uninitialised, all but its first value, after a kernel has written
 * every value (a copy of such a buffer is reported value by value; cleared
 * by a write, or not at all, nothing is reported), which hid every real
 * finding. */
static cl_int write_zeros(clnet_ocl *o, cl_mem m, size_t bytes) {
    enum { CHUNK = 1 << 20 };
    void *zeros = calloc(1, bytes < CHUNK ? bytes : CHUNK);
    if (!zeros)
        return CL_OUT_OF_HOST_MEMORY;
    cl_int rc = CL_SUCCESS;
    for (size_t at = 0; at < bytes && rc == CL_SUCCESS; at += CHUNK)
        rc = clEnqueueWriteBuffer(o->queue, m, CL_TRUE, at,
                                  bytes - at < CHUNK ? bytes - at : CHUNK,
                                  zeros, 0, NULL, NULL);
    free(zeros);
    return rc;
}

cl_mem ocl_buffer(clnet_ocl *o, size_t bytes, char *err) {
    if (bytes == 0)
        bytes = 4;
    if ((cl_ulong)bytes > o->max_alloc) {
        ocl_errorf(err,
                   "a buffer of %zu bytes exceeds %s's largest "
                   "allocation (CL_DEVICE_MAX_MEM_ALLOC_SIZE, %llu bytes); "
                   "use a smaller batch",
                   bytes, o->device_name, (unsigned long long)o->max_alloc);
        return NULL;
    }
    cl_int rc;
    cl_mem m = clCreateBuffer(o->context, CL_MEM_READ_WRITE, bytes, NULL, &rc);
    if (rc != CL_SUCCESS) {
        ocl_errorf(err, "cannot allocate %zu bytes on %s: %s", bytes,
                   o->device_name, ocl_strerror(rc));
        return NULL;
    }
    /* zeroed, as the native backend's buffers are */
    float zero = 0.0f;
    if (getenv("OCLGRIND_UNINITIALIZED"))
        rc = write_zeros(o, m, bytes);
    else
        rc = clEnqueueFillBuffer(o->queue, m, &zero, sizeof zero, 0,
                                 bytes / 4 * 4, 0, NULL, NULL);
    if (rc != CL_SUCCESS) {
        clReleaseMemObject(m);
        ocl_errorf(err, "cannot clear %zu bytes on %s: %s", bytes,
                   o->device_name, ocl_strerror(rc));
        return NULL;
    }
    return m;
}

int ocl_program(clnet_ocl *o, const char *source, const char *options,
                cl_program *prog, const char *const *names, ocl_kernel *out,
                char *err) {
    *prog = NULL;
    char opts[512];
    snprintf(opts, sizeof opts, "%s", options ? options : "");
    if (o->build(o, source, opts, prog, err))
        return -1;
    for (int i = 0; names[i]; i++) {
        cl_int rc;
        out[i].k = clCreateKernel(*prog, names[i], &rc);
        if (rc != CL_SUCCESS) {
            ocl_errorf(err, "kernel %s: %s", names[i], ocl_strerror(rc));
            return -1;
        }
        out[i].wg = 1;
        clGetKernelWorkGroupInfo(out[i].k, o->device, CL_KERNEL_WORK_GROUP_SIZE,
                                 sizeof out[i].wg, &out[i].wg, NULL);
    }
    return 0;
}

void ocl_release(cl_program prog, ocl_kernel *k, int n) {
    for (int i = 0; i < n; i++)
        if (k[i].k)
            clReleaseKernel(k[i].k);
    if (prog)
        clReleaseProgram(prog);
}

int ocl_args(ocl_kernel *k, int n, ...) {
    va_list ap;
    va_start(ap, n);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        size_t size = va_arg(ap, size_t);
        const void *value = va_arg(ap, const void *);
        rc = clSetKernelArg(k->k, (cl_uint)i, size, value) != CL_SUCCESS;
    }
    va_end(ap);
    return rc ? -1 : 0;
}

/* The event to ask for when profiling, else NULL. */
static cl_event *track(clnet_ocl *o) {
    if (!o->profiling)
        return NULL;
    if (o->nevents == o->cap_events) {
        size_t cap = o->cap_events ? o->cap_events * 2 : 256;
        cl_event *grown = realloc(o->events, cap * sizeof *grown);
        if (!grown)
            return NULL; /* the launch goes on, untimed */
        o->events = grown;
        o->cap_events = cap;
    }
    return &o->events[o->nevents];
}

static void tracked(clnet_ocl *o, cl_event *ev) {
    if (ev)
        o->nevents++;
}

int ocl_launch(clnet_ocl *o, ocl_kernel *k, cl_uint dims, const size_t *global,
               const size_t *local, char *err) {
    cl_event *ev = track(o);
    cl_int rc = clEnqueueNDRangeKernel(o->queue, k->k, dims, NULL, global,
                                       local, 0, NULL, ev);
    if (rc != CL_SUCCESS) {
        ocl_errorf(err, "launching a kernel of %zu work-items: %s",
                   global[0] * (dims > 1 ? global[1] : 1), ocl_strerror(rc));
        return -1;
    }
    tracked(o, ev);
    return 0;
}

int ocl_window_args(ocl_kernel *k, int first, const clnet_window *g) {
    const int32_t v[11] = {g->H,  g->W,  g->C,  g->KH, g->KW, g->SH,
                           g->SW, g->PT, g->PL, g->OH, g->OW};
    for (int i = 0; i < 11; i++)
        if (clSetKernelArg(k->k, (cl_uint)(first + i), sizeof v[i], &v[i]) !=
            CL_SUCCESS)
            return -1;
    return 0;
}

int ocl_run1d(clnet_ocl *o, ocl_kernel *k, size_t n, char *err) {
    if (n == 0)
        return 0;
    size_t local = 64;
    while (local > k->wg || local > o->max_work_group)
        local /= 2;
    if (local == 0)
        local = 1;
    size_t global = (n + local - 1) / local * local;
    return ocl_launch(o, k, 1, &global, &local, err);
}

/* cl/gemm.cl's epilogue bits */
#define EPI_BIAS 1
#define EPI_RELU 2

/* About this many bytes of A and B rows per slice: 3x faster than one
 * sweep over K=15,488 on PoCL for conv2's weight gradient. */
#define SLICE_BYTES (1u << 20)

int ocl_cache_slice(int M, int N) {
    int step = (int)(SLICE_BYTES / (4u * (unsigned)(M + N)));
    return step < 64 ? 64 : step;
}

static int gemm_args(ocl_kernel *k, int M, int N, int K, float alpha, cl_mem A,
                     int lda, int aoff, cl_mem B, int ldb, int boff, float beta,
                     cl_mem C, int ldc, int coff, const ocl_epilogue *ep,
                     int ks, char *err) {
    /* without a bias the kernel never reads it, but needs a valid buffer */
    cl_mem bias = ep && ep->bias ? ep->bias : C;
    int epi = (ep && ep->bias ? EPI_BIAS : 0) | (ep && ep->relu ? EPI_RELU : 0);
    if (ocl_args(k, 17, OCL_ARG(M), OCL_ARG(N), OCL_ARG(K), OCL_ARG(alpha),
                 OCL_ARG(A), OCL_ARG(lda), OCL_ARG(aoff), OCL_ARG(B),
                 OCL_ARG(ldb), OCL_ARG(boff), OCL_ARG(beta), OCL_ARG(C),
                 OCL_ARG(ldc), OCL_ARG(coff), OCL_ARG(bias), OCL_ARG(epi),
                 OCL_ARG(ks))) {
        ocl_errorf(err, "setting the gemm kernel's arguments failed");
        return -1;
    }
    return 0;
}

int ocl_gemm_parse(const char *name, ocl_gemm_shape *gs) {
    int a = 0, b = 0;
    char tail;
    memset(gs, 0, sizeof *gs);
    if (sscanf(name, "tiles%dx%d%c", &a, &b, &tail) == 2 &&
        (a == 16 || a == 32) && b >= 1 && a % b == 0) {
        gs->ts = a;
        gs->wpt = b;
        return 0;
    }
    if (sscanf(name, "vec%dx%d%c", &a, &b, &tail) == 2 && a >= 1 &&
        a <= 16 && b >= 1 && b <= 4) {
        gs->vec = 1;
        gs->tm = a;
        gs->nv = b;
        return 0;
    }
    return -1;
}

int ocl_gemm_choose(const clnet_ocl *o, const char *tuning, int vec,
                    int cols, ocl_gemm_shape *gs, char *err) {
    if (tuning && *tuning) {
        if (ocl_gemm_parse(tuning, gs) || (vec >= 0 && gs->vec != vec))
            return ocl_errorf(err,
                              "'%s' is not one of this implementation's "
                              "GEMM parameter sets (%s)",
                              tuning,
                              vec == 1   ? "vec4x4, vec8x2, vec8x1"
                              : vec == 0 ? "tiles16x4, tiles32x8"
                                         : "tiles16x4, tiles32x8, vec4x4, "
                                           "vec8x2, vec8x1"),
                   -1;
        return 0;
    }
    int want = vec >= 0 ? vec : !o->is_gpu;
    size_t n = sizeof ocl_gemm_defaults / sizeof *ocl_gemm_defaults;
    for (size_t i = 0; i < n; i++) {
        const ocl_gemm_default *d = &ocl_gemm_defaults[i];
        if (!(d->gpu == o->is_gpu && d->vec == want &&
              strstr(o->vendor, d->vendor)))
            continue;
        /* 16 or 32 columns through 64-column blocks run the scalar tail
         * only (resnet20's first stages on PoCL: 100 ms for a 14x14x32
         * convolution at batch 32, 1.7 ms with vec8x2) */
        const char *t = d->tuning;
        if (want && cols % 64 != 0 && cols % 16 == 0)
            t = cols % 32 == 0 ? "vec8x2" : "vec8x1";
        return ocl_gemm_parse(t, gs);
    }
    return ocl_errorf(err, "no default GEMM parameter set for %s",
                      o->device_name),
           -1;
}

static void gemm_options(const ocl_gemm_shape *gs, char *buf, size_t n) {
    if (gs->vec)
        snprintf(buf, n, "-DGEMM_VEC -DTM=%d -DNV=%d", gs->tm, gs->nv);
    else
        snprintf(buf, n, "-DTS=%d -DWPT=%d", gs->ts, gs->wpt);
}

/* Launches a product over `slices` slices of K (see SLICE in gemm.cl). */
static int sgemm_tiles(clnet_ocl *o, ocl_kernel *k, const ocl_gemm_shape *gs,
                       int M, int N, int slices, char *err) {
    size_t ts = (size_t)gs->ts, rts = (size_t)(gs->ts / gs->wpt);
    size_t local[3] = {ts, rts, 1};
    size_t global[3] = {((size_t)N + ts - 1) / ts * ts,
                        ((size_t)M + ts - 1) / ts * rts, (size_t)slices};
    if (local[0] * local[1] > k->wg) {
        ocl_errorf(err,
                   "%s allows %zu work-items per group; the gemm "
                   "kernel needs %zu",
                   o->device_name, k->wg, local[0] * local[1]);
        return -1;
    }
    return ocl_launch(o, k, 3, global, local, err);
}

/* Work-groups of two work-items: many small groups let a CPU runtime
 * balance them over its cores; PoCL's own choice of group size ran the
 * seed model's training step 9% slower. */
int ocl_launch_vec(clnet_ocl *o, ocl_kernel *k, const ocl_gemm_shape *gs, int M,
                   int N, int slices, char *err) {
    size_t cols = 16 * (size_t)gs->nv, tm = (size_t)gs->tm;
    size_t local[3] = {2, 1, 1};
    size_t global[3] = {((size_t)N + cols - 1) / cols,
                        ((size_t)M + tm - 1) / tm, (size_t)slices};
    global[0] = (global[0] + 1) / 2 * 2;
    if (k->wg < 2)
        local[0] = 1;
    return ocl_launch(o, k, 3, global, local, err);
}

/* Products whose C has fewer than SPLIT_UNITS work-items' (vec) or
 * work-groups' (tiles) worth of outputs and a K of at least SPLIT_MIN_K
 * run as up to SPLIT_MAX slices of K at once: the first convolution's
 * weight gradient (9 x 64 outputs over 86,528 rows) has only 3 vector
 * tiles. */
#define SPLIT_UNITS 32
#define SPLIT_MIN_K 4096
#define SPLIT_MAX 64

static int split_slices(const ocl_gemm_shape *gs, int ta, int M, int N, int K) {
    int rows = gs->vec ? gs->tm : gs->ts, cols = gs->vec ? 16 * gs->nv : gs->ts;
    size_t units =
        (size_t)((M + rows - 1) / rows) * (size_t)((N + cols - 1) / cols);
    if (!ta || units >= SPLIT_UNITS || K < SPLIT_MIN_K)
        return 1;
    return K / 1024 < SPLIT_MAX ? K / 1024 : SPLIT_MAX;
}

static size_t sgemm_scratch(const ocl_gemm_shape *gs, int ta, int tb, int M,
                            int N, int K) {
    if (tb)
        return (size_t)N * (size_t)K;
    int s = split_slices(gs, ta, M, N, K);
    return s > 1 ? (size_t)s * (size_t)M * (size_t)N : 0;
}

int ocl_sum_slices(clnet_ocl *o, ocl_kernel *k, cl_mem parts, int poff,
                   int slices, int M, int N, float beta, cl_mem C, int ldc,
                   int coff, char *err) {
    if (ocl_args(k, 9, OCL_ARG(parts), OCL_ARG(poff), OCL_ARG(slices),
                 OCL_ARG(M), OCL_ARG(N), OCL_ARG(beta), OCL_ARG(C),
                 OCL_ARG(ldc), OCL_ARG(coff))) {
        ocl_errorf(err, "setting the sum_slices kernel's arguments failed");
        return -1;
    }
    return ocl_run1d(o, k, (size_t)M * (size_t)N, err);
}

int ocl_sgemm(clnet_ocl *o, ocl_gemm *g, const ocl_gemm_shape *gs, int ta,
              int tb, int M, int N, int K, float alpha, cl_mem A, int lda,
              size_t aoff, cl_mem B, int ldb, size_t boff, float beta, cl_mem C,
              int ldc, size_t coff, const ocl_scratch *scratch,
              const ocl_epilogue *ep, char *err) {
    if (tb) {
        int bo = (int)boff;
        if (!scratch || scratch->floats < (size_t)N * (size_t)K) {
            ocl_errorf(err,
                       "gemm with B transposed needs %zu floats of "
                       "scratch",
                       (size_t)N * (size_t)K);
            return -1;
        }
        if (ocl_args(&g->transpose, 6, OCL_ARG(N), OCL_ARG(K), OCL_ARG(B),
                     OCL_ARG(ldb), OCL_ARG(bo), OCL_ARG(scratch->buf))) {
            ocl_errorf(err, "setting the transpose kernel's arguments failed");
            return -1;
        }
        if (ocl_run1d(o, &g->transpose, (size_t)N * (size_t)K, err))
            return -1;
        B = scratch->buf;
        ldb = N;
        boff = 0;
    }
    ocl_kernel *k = ta ? &g->tn : &g->nn;
    int vec = gs->vec;
    int slices = split_slices(gs, ta, M, N, K);
    if (slices > 1 && !ep && scratch &&
        scratch->floats >= (size_t)slices * (size_t)M * (size_t)N) {
        int ks = (K + slices - 1) / slices;
        slices = (K + ks - 1) / ks;
        return gemm_args(k, M, N, K, alpha, A, lda, (int)aoff, B, ldb,
                         (int)boff, 0.0f, scratch->buf, N, 0, NULL, ks, err) ||
                       (vec ? ocl_launch_vec(o, k, gs, M, N, slices, err)
                            : sgemm_tiles(o, k, gs, M, N, slices, err)) ||
                       ocl_sum_slices(o, &g->sum_slices, scratch->buf, 0,
                                      slices, M, N, beta, C, ldc, (int)coff,
                                      err)
                   ? -1
                   : 0;
    }
    /* A' B on the vector family: K in cache-sized slices, accumulated */
    int step = vec && ta ? ocl_cache_slice(M, N) : K;
    for (int k0 = 0; k0 < K || k0 == 0; k0 += step) {
        int kk = K - k0 < step ? K - k0 : step;
        size_t ao = aoff + (size_t)k0 * (ta ? (size_t)lda : 1);
        size_t bo = boff + (size_t)k0 * (size_t)ldb;
        if (gemm_args(k, M, N, kk, alpha, A, lda, (int)ao, B, ldb, (int)bo,
                      k0 ? 1.0f : beta, C, ldc, (int)coff,
                      k0 + kk >= K ? ep : NULL, kk, err) ||
            (vec ? ocl_launch_vec(o, k, gs, M, N, 1, err)
                 : sgemm_tiles(o, k, gs, M, N, 1, err)))
            return -1;
    }
    return 0;
}

static int run_checked(clnet_ocl *o, ocl_kernel *k, int set_failed, size_t n,
                       char *err) {
    if (set_failed) {
        ocl_errorf(err, "setting a kernel's arguments failed");
        return -1;
    }
    return ocl_run1d(o, k, n, err);
}

int ocl_bias_activation(clnet_ocl *o, ocl_act *a, cl_mem y, cl_mem bias,
                        int act, size_t rows, int cols, char *err) {
    int n = (int)(rows * (size_t)cols), r = (int)rows, has_bias = bias != NULL;
    cl_mem b = bias ? bias : y;
    int lin = act == ACT_RELU ? ACT_RELU : ACT_LINEAR;
    if ((has_bias || act == ACT_RELU) &&
        run_checked(o, &a->bias_act,
                    ocl_args(&a->bias_act, 6, OCL_ARG(y), OCL_ARG(b),
                             OCL_ARG(has_bias), OCL_ARG(lin), OCL_ARG(n),
                             OCL_ARG(cols)),
                    (size_t)n, err))
        return -1;
    if (act == ACT_SOFTMAX &&
        run_checked(o, &a->softmax_rows,
                    ocl_args(&a->softmax_rows, 3, OCL_ARG(y), OCL_ARG(r),
                             OCL_ARG(cols)),
                    rows, err))
        return -1;
    /* the other activations element by element, with the `activation=`
     * string's parameter */
    float alpha = act_default_alpha(act);
    if (act >= ACT_SIGMOID &&
        run_checked(o, &a->act_forward,
                    ocl_args(&a->act_forward, 5, OCL_ARG(y), OCL_ARG(y),
                             OCL_ARG(act), OCL_ARG(alpha), OCL_ARG(n)),
                    (size_t)n, err))
        return -1;
    return 0;
}

int ocl_activation_backward(clnet_ocl *o, ocl_act *a, cl_mem y, cl_mem dy,
                            int act, int fused, size_t rows, int cols,
                            char *err) {
    int n = (int)(rows * (size_t)cols), r = (int)rows;
    if (act == ACT_RELU)
        return run_checked(
            o, &a->relu_backward,
            ocl_args(&a->relu_backward, 3, OCL_ARG(y), OCL_ARG(dy), OCL_ARG(n)),
            (size_t)n, err);
    if (act == ACT_SOFTMAX && !fused)
        return run_checked(o, &a->softmax_backward,
                           ocl_args(&a->softmax_backward, 4, OCL_ARG(y),
                                    OCL_ARG(dy), OCL_ARG(r), OCL_ARG(cols)),
                           rows, err);
    /* gelu and swish need their input: ocl_post_activation_grad */
    if (act >= ACT_SIGMOID && !act_needs_input(act))
        return run_checked(o, &a->act_backward_y,
                           ocl_args(&a->act_backward_y, 4, OCL_ARG(y),
                                    OCL_ARG(dy), OCL_ARG(act), OCL_ARG(n)),
                           (size_t)n, err);
    return 0;
}

int ocl_post_activation(clnet_ocl *o, ocl_act *a, cl_mem y, cl_mem pre,
                        int act, size_t n, char *err) {
    int ni = (int)n;
    float alpha = act_default_alpha(act);
    if (ocl_copy(o, a, y, pre, n, err))
        return -1;
    return run_checked(o, &a->act_forward,
                       ocl_args(&a->act_forward, 5, OCL_ARG(pre), OCL_ARG(y),
                                OCL_ARG(act), OCL_ARG(alpha), OCL_ARG(ni)),
                       n, err);
}

int ocl_post_activation_grad(clnet_ocl *o, ocl_act *a, cl_mem pre, cl_mem y,
                             cl_mem dy, int act, size_t n, char *err) {
    int ni = (int)n;
    float alpha = act_default_alpha(act);
    return run_checked(o, &a->act_backward,
                       ocl_args(&a->act_backward, 7, OCL_ARG(pre), OCL_ARG(y),
                                OCL_ARG(dy), OCL_ARG(dy), OCL_ARG(act),
                                OCL_ARG(alpha), OCL_ARG(ni)),
                       n, err);
}

/* Bias gradients over few column vectors and many rows are split over
 * rows like the GEMM's K (the first convolution: 4 vectors, 86,528 rows). */
int ocl_row_slices(size_t rows, int cols) {
    if ((cols + 15) / 16 >= SPLIT_UNITS || rows < SPLIT_MIN_K)
        return 1;
    return rows / 1024 < SPLIT_MAX ? (int)(rows / 1024) : SPLIT_MAX;
}

static size_t bias_scratch(size_t rows, int cols) {
    int s = ocl_row_slices(rows, cols);
    return s > 1 ? (size_t)s * (size_t)cols : 0;
}

size_t ocl_layer_scratch(const ocl_gemm_shape *gs, size_t rows,
                         size_t bias_rows, int in, int out) {
    size_t need[3] = {sgemm_scratch(gs, 0, 1, (int)rows, in, out),
                      sgemm_scratch(gs, 1, 0, in, out, (int)rows),
                      bias_scratch(bias_rows, out)};
    size_t most = 0;
    for (int i = 0; i < 3; i++)
        most = need[i] > most ? need[i] : most;
    return most;
}

int ocl_gemm_program(clnet_ocl *o, const ocl_gemm_shape *gs, const char *source,
                     cl_program *prog, const char *const *names,
                     ocl_kernel *out, char *err) {
    char opts[96];
    gemm_options(gs, opts, sizeof opts);
    return ocl_program(o, source, opts, prog, names, out, err);
}

int ocl_bias_activation_backward(clnet_ocl *o, ocl_act *a, ocl_gemm *g,
                                 cl_mem y, cl_mem dy, cl_mem db, int act,
                                 int fused, size_t rows, int cols,
                                 const ocl_scratch *scratch, char *err) {
    int r = (int)rows, relu = act == ACT_RELU;
    if (!relu &&
        ocl_activation_backward(o, a, y, dy, act, fused, rows, cols, err))
        return -1;
    int slices = ocl_row_slices(rows, cols);
    if (!scratch || scratch->floats < (size_t)slices * (size_t)cols)
        slices = 1;
    int rs = r > 0 ? (r + slices - 1) / slices : 1;
    slices = r > 0 ? (r + rs - 1) / rs : 1;
    cl_mem out = slices > 1 ? scratch->buf : db;
    if (ocl_args(&a->bias_grad, 7, OCL_ARG(y), OCL_ARG(dy), OCL_ARG(out),
                 OCL_ARG(relu), OCL_ARG(r), OCL_ARG(cols), OCL_ARG(rs))) {
        ocl_errorf(err, "setting a kernel's arguments failed");
        return -1;
    }
    /* a handful of long work-items, one per group, so a CPU device can
     * spread them over its cores */
    size_t global[2] = {((size_t)cols + 15) / 16, (size_t)slices};
    size_t local[2] = {1, 1};
    if (ocl_launch(o, &a->bias_grad, 2, global, local, err))
        return -1;
    return slices > 1 ? ocl_sum_slices(o, &g->sum_slices, scratch->buf, 0,
                                       slices, 1, cols, 0.0f, db, cols, 0, err)
                      : 0;
}

int ocl_copy(clnet_ocl *o, ocl_act *a, cl_mem x, cl_mem y, size_t n,
             char *err) {
    int ni = (int)n;
    return run_checked(
        o, &a->copy, ocl_args(&a->copy, 3, OCL_ARG(x), OCL_ARG(y), OCL_ARG(ni)),
        n, err);
}
