/* Helpers the native CPU plugins share; see cpu_common.h. */
#define _POSIX_C_SOURCE 200809L
#include "cpu_common.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS's own setter; declared here because cblas.h of other BLAS
 * builds lacks it. */
void openblas_set_num_threads(int num_threads);

void cpu_set_threads(int32_t threads)
{
    if (threads <= 0)
        threads = omp_get_num_procs();
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
}

/* Elementwise loops below this size are not worth waking threads for. */
#define PARALLEL_MIN 32768

/* The elementwise activations of activation.h and their derivatives, one
 * value at a time; act_span and grad_span call them with a constant id in
 * each loop, so the switch folds away and the loops vectorize. */
#define SQRT1_2 0.70710678118654752f   /* 1 / sqrt 2 */
#define INV_SQRT_2PI 0.39894228040143268f
#define GELU_K 0.79788456080286536f    /* sqrt(2 / pi) */
#define GELU_C 0.044715f

/* 1 / (1 + exp(-x)) with exp of -|x| only, which cannot overflow. */
static inline float sigmoid1(float x)
{
    float e = expf(-fabsf(x));
    float s = 1.0f / (1.0f + e);
    return x >= 0.0f ? s : e * s;
}

static inline float act1(int act, float x, float alpha)
{
    switch (act) {
    case ACT_RELU:
        return x > 0.0f ? x : 0.0f;
    case ACT_SIGMOID:
        return sigmoid1(x);
    case ACT_TANH:
        return tanhf(x);
    case ACT_LEAKY_RELU:
        return x > 0.0f ? x : alpha * x;
    case ACT_ELU:
        return x > 0.0f ? x : alpha * expm1f(x);
    case ACT_GELU: /* Phi(x) = erfc(-x / sqrt 2) / 2, exact in both tails */
        return 0.5f * x * erfcf(-x * SQRT1_2);
    case ACT_GELU_TANH: /* 0.5 (1 + tanh u) = sigmoid(2 u), exact in the
                           tails where 1 + tanh u cancels */
        return x * sigmoid1(2.0f * GELU_K * x * (1.0f + GELU_C * x * x));
    case ACT_SWISH:
        return x * sigmoid1(x);
    default:
        return x;
    }
}

/* d act / dx at x, where y = act1(act, x, alpha). */
static inline float dact1(int act, float x, float y, float alpha)
{
    switch (act) {
    case ACT_RELU:
        return x > 0.0f ? 1.0f : 0.0f;
    case ACT_SIGMOID:
        return y * (1.0f - y);
    case ACT_TANH:
        return 1.0f - y * y;
    case ACT_LEAKY_RELU:
        return x > 0.0f ? 1.0f : alpha;
    case ACT_ELU: /* alpha exp(x) = y + alpha below 0 */
        return x > 0.0f ? 1.0f : y + alpha;
    case ACT_GELU:
        return 0.5f * erfcf(-x * SQRT1_2) +
               x * INV_SQRT_2PI * expf(-0.5f * x * x);
    case ACT_GELU_TANH: {
        /* past |x| = 10 the sigmoid is 0 or 1 in float and x^3 may
         * overflow */
        if (fabsf(x) > 10.0f)
            return x > 0.0f ? 1.0f : 0.0f;
        /* s = sigmoid(2 u) = (1 + tanh u) / 2, 1 - tanh^2 u = 4 s (1 - s) */
        float u = x * x;
        float s = sigmoid1(2.0f * GELU_K * x * (1.0f + GELU_C * u));
        return s +
               2.0f * x * s * (1.0f - s) * GELU_K * (1.0f + 3.0f * GELU_C * u);
    }
    case ACT_SWISH: {
        float s = sigmoid1(x);
        return s * (1.0f + x * (1.0f - s));
    }
    default:
        return 1.0f;
    }
}

#define ACT_CASES(X)                                                         \
    X(ACT_RELU) X(ACT_SIGMOID) X(ACT_TANH) X(ACT_LEAKY_RELU) X(ACT_ELU)      \
        X(ACT_GELU) X(ACT_GELU_TANH) X(ACT_SWISH)

/* y[i] = act(x[i]), i < n, for an elementwise id; x may be y. */
static void act_span(const float *x, float *y, size_t n, int act, float alpha)
{
    switch (act) {
#define ACT_LOOP(ID)                                                         \
    case ID:                                                                 \
        _Pragma("omp simd") for (size_t i = 0; i < n; i++) y[i] =            \
            act1(ID, x[i], alpha);                                           \
        break;
        ACT_CASES(ACT_LOOP)
#undef ACT_LOOP
    default:
        if (x != y)
            memcpy(y, x, sizeof(float) * n);
    }
}

/* dx[i] = dy[i] act'(x[i]) given y[i]; dx may be dy, x may be y. */
static void grad_span(const float *x, const float *y, const float *dy,
                      float *dx, size_t n, int act, float alpha)
{
    switch (act) {
#define GRAD_LOOP(ID)                                                        \
    case ID:                                                                 \
        _Pragma("omp simd") for (size_t i = 0; i < n; i++) dx[i] =           \
            dy[i] * dact1(ID, x[i], y[i], alpha);                            \
        break;
        ACT_CASES(GRAD_LOOP)
#undef GRAD_LOOP
    default:
        if (dx != dy)
            memcpy(dx, dy, sizeof(float) * n);
    }
}

/* act_span and grad_span over n values, in chunks over the threads. */
#define ACT_CHUNK 4096
static void act_all(const float *x, float *y, size_t n, int act, float alpha)
{
    long chunks = (long)((n + ACT_CHUNK - 1) / ACT_CHUNK);
#pragma omp parallel for schedule(static) if (n > PARALLEL_MIN)
    for (long k = 0; k < chunks; k++) {
        size_t lo = (size_t)k * ACT_CHUNK;
        size_t len = n - lo < ACT_CHUNK ? n - lo : ACT_CHUNK;
        act_span(x + lo, y + lo, len, act, alpha);
    }
}

static void grad_all(const float *x, const float *y, const float *dy,
                     float *dx, size_t n, int act, float alpha)
{
    long chunks = (long)((n + ACT_CHUNK - 1) / ACT_CHUNK);
#pragma omp parallel for schedule(static) if (n > PARALLEL_MIN)
    for (long k = 0; k < chunks; k++) {
        size_t lo = (size_t)k * ACT_CHUNK;
        size_t len = n - lo < ACT_CHUNK ? n - lo : ACT_CHUNK;
        grad_span(x + lo, y + lo, dy + lo, dx + lo, len, act, alpha);
    }
}

static void softmax_row(float *y, size_t cols)
{
    float m = y[0];
    for (size_t c = 1; c < cols; c++)
        m = y[c] > m ? y[c] : m;
    float s = 0;
    for (size_t c = 0; c < cols; c++) {
        y[c] = expf(y[c] - m);
        s += y[c];
    }
    float inv = 1.0f / s;
    for (size_t c = 0; c < cols; c++)
        y[c] *= inv;
}

void cpu_bias_activation(float *y, size_t rows, size_t cols, const float *bias,
                         int act)
{
    long n = (long)rows;
#pragma omp parallel for schedule(static) if (rows * cols > PARALLEL_MIN)
    for (long r = 0; r < n; r++) {
        float *row = y + (size_t)r * cols;
        if (bias)
#pragma omp simd
            for (size_t c = 0; c < cols; c++)
                row[c] += bias[c];
        if (act == ACT_RELU) {
#pragma omp simd
            for (size_t c = 0; c < cols; c++)
                row[c] = row[c] > 0.0f ? row[c] : 0.0f;
        } else if (act == ACT_SOFTMAX) {
            softmax_row(row, cols);
        } else if (act != ACT_LINEAR) {
            act_span(row, row, cols, act, act_default_alpha(act));
        }
    }
}

void cpu_activation_backward(const float *y, float *dy, size_t rows,
                             size_t cols, int act, int fused)
{
    long n = (long)rows;
    if (act == ACT_LINEAR || (act == ACT_SOFTMAX && fused))
        return;
    if (act != ACT_RELU && act != ACT_SOFTMAX) {
        /* activation.h: leaky_relu and elu with alpha >= 0 keep the sign
         * of x, so y stands in for x in their derivatives */
        if (!act_needs_input(act))
            grad_all(y, y, dy, dy, rows * cols, act, act_default_alpha(act));
        return;
    }
#pragma omp parallel for schedule(static) if (rows * cols > PARALLEL_MIN)
    for (long r = 0; r < n; r++) {
        const float *yr = y + (size_t)r * cols;
        float *dr = dy + (size_t)r * cols;
        if (act == ACT_RELU) {
#pragma omp simd
            for (size_t c = 0; c < cols; c++)
                dr[c] = yr[c] > 0.0f ? dr[c] : 0.0f;
        } else {
            float dot = 0;
            for (size_t c = 0; c < cols; c++)
                dot += dr[c] * yr[c];
            for (size_t c = 0; c < cols; c++)
                dr[c] = yr[c] * (dr[c] - dot);
        }
    }
}

void cpu_activation(const float *x, float *y, size_t rows, size_t cols,
                    int act, float alpha)
{
    if (act != ACT_SOFTMAX) {
        act_all(x, y, rows * cols, act, alpha);
        return;
    }
    long n = (long)rows;
#pragma omp parallel for schedule(static) if (rows * cols > PARALLEL_MIN)
    for (long r = 0; r < n; r++) {
        float *row = y + (size_t)r * cols;
        if (x != y)
            memcpy(row, x + (size_t)r * cols, sizeof(float) * cols);
        softmax_row(row, cols);
    }
}

void cpu_activation_grad(const float *x, const float *y, const float *dy,
                         float *dx, size_t rows, size_t cols, int act,
                         float alpha, int fused)
{
    if (act != ACT_SOFTMAX || fused) {
        grad_all(x, y, dy, dx, rows * cols,
                 act == ACT_SOFTMAX ? ACT_LINEAR : act, alpha);
        return;
    }
    long n = (long)rows;
#pragma omp parallel for schedule(static) if (rows * cols > PARALLEL_MIN)
    for (long r = 0; r < n; r++) {
        const float *yr = y + (size_t)r * cols, *gr = dy + (size_t)r * cols;
        float *dr = dx + (size_t)r * cols;
        float dot = 0;
        for (size_t c = 0; c < cols; c++)
            dot += gr[c] * yr[c];
        for (size_t c = 0; c < cols; c++)
            dr[c] = yr[c] * (gr[c] - dot);
    }
}

void cpu_post_activation(float *y, float *pre, size_t n, int act)
{
    memcpy(pre, y, sizeof(float) * n);
    act_all(pre, y, n, act, act_default_alpha(act));
}

void cpu_post_activation_grad(const float *pre, const float *y, float *dy,
                              size_t n, int act)
{
    grad_all(pre, y, dy, dy, n, act, act_default_alpha(act));
}

void cpu_bias_grad(const float *dy, size_t rows, size_t cols, float *db)
{
    /* Threads own columns, and each column is summed over the rows in
     * order, so the result is the same for any thread count. */
#pragma omp parallel if (rows * cols > PARALLEL_MIN)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        size_t lo = cols * (size_t)t / (size_t)T,
               hi = cols * (size_t)(t + 1) / (size_t)T;
        for (size_t c = lo; c < hi; c++)
            db[c] = 0.0f;
        for (size_t r = 0; r < rows; r++) {
            const float *row = dy + r * cols;
#pragma omp simd
            for (size_t c = lo; c < hi; c++)
                db[c] += row[c];
        }
    }
}

void cpu_sum_partials(const float *parts, int nparts, size_t stride,
                      size_t n, float *out)
{
    long count = (long)n;
#pragma omp parallel for schedule(static) if (n * (size_t)nparts > PARALLEL_MIN)
    for (long i = 0; i < count; i++) {
        float sum = 0.0f;
        for (int t = 0; t < nparts; t++)
            sum += parts[(size_t)t * stride + (size_t)i];
        out[i] = sum;
    }
}

void cpu_errorf(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, CLNET_ERRLEN, fmt, ap);
    va_end(ap);
}

void *cpu_alloc(size_t bytes)
{
    void *p = NULL;
    size_t rounded = (bytes + 63) / 64 * 64;
    if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0)
        return NULL;
    memset(p, 0, rounded ? rounded : 64);
    return p;
}
