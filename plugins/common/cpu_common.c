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
        }
    }
}

void cpu_activation_backward(const float *y, float *dy, size_t rows,
                             size_t cols, int act, int fused)
{
    long n = (long)rows;
    if (act == ACT_LINEAR || (act == ACT_SOFTMAX && fused))
        return;
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
