/* Tiled SGEMM, row-major: C[M,N] = alpha op(A) op(B) + beta C.
 * A work-group computes a TS x TS tile of C with TS x (TS/WPT) work-items,
 * each accumulating WPT outputs of one column in registers; tiles of A and
 * B pass through local memory. TS and WPT come from the build options.
 * gemm_tn reads A stored K x M, gemm_nt reads B stored N x K. Offsets are
 * in elements, so callers can work on slices of one buffer. */
#define RTS (TS / WPT)

#define GEMM_KERNEL(NAME, A_AT, B_AT)                                        \
__kernel __attribute__((reqd_work_group_size(TS, RTS, 1)))                   \
void NAME(const int M, const int N, const int K, const float alpha,          \
          __global const float *A, const int lda, const int aoff,            \
          __global const float *B, const int ldb, const int boff,            \
          const float beta, __global float *C, const int ldc, const int coff) \
{                                                                            \
    const int col = get_local_id(0), row = get_local_id(1);                  \
    const int gcol = get_group_id(0) * TS + col;                             \
    const int grow = get_group_id(1) * TS;                                   \
    __local float As[TS][TS + 1];                                            \
    __local float Bs[TS][TS + 1];                                            \
    float acc[WPT];                                                          \
    for (int w = 0; w < WPT; w++)                                            \
        acc[w] = 0.0f;                                                       \
    A += aoff;                                                               \
    B += boff;                                                               \
    for (int t = 0; t < K; t += TS) {                                        \
        for (int w = 0; w < WPT; w++) {                                      \
            const int r = row + w * RTS;                                     \
            const int ai = grow + r, ak = t + col;                           \
            As[r][col] = (ai < M && ak < K) ? A_AT(ai, ak) : 0.0f;           \
            const int bk = t + r;                                            \
            Bs[r][col] = (bk < K && gcol < N) ? B_AT(bk, gcol) : 0.0f;       \
        }                                                                    \
        barrier(CLK_LOCAL_MEM_FENCE);                                        \
        for (int k = 0; k < TS; k++) {                                       \
            const float b = Bs[k][col];                                      \
            for (int w = 0; w < WPT; w++)                                    \
                acc[w] += As[row + w * RTS][k] * b;                          \
        }                                                                    \
        barrier(CLK_LOCAL_MEM_FENCE);                                        \
    }                                                                        \
    for (int w = 0; w < WPT; w++) {                                          \
        const int r = grow + row + w * RTS;                                  \
        if (r < M && gcol < N) {                                             \
            const int idx = coff + r * ldc + gcol;                           \
            C[idx] = beta == 0.0f ? alpha * acc[w]                           \
                                  : alpha * acc[w] + beta * C[idx];          \
        }                                                                    \
    }                                                                        \
}

#define A_N(i, k) A[(i) * lda + (k)]
#define A_T(i, k) A[(k) * lda + (i)]
#define B_N(k, j) B[(k) * ldb + (j)]
#define B_T(k, j) B[(j) * ldb + (k)]

GEMM_KERNEL(gemm_nn, A_N, B_N)
GEMM_KERNEL(gemm_tn, A_T, B_N)
GEMM_KERNEL(gemm_nt, A_N, B_T)

/* The same products for CPU-like OpenCL devices (PoCL, Intel's CPU
 * runtime): no local memory and no barriers, which such runtimes turn into
 * loop splits; each work-item owns one column of C and TM rows of it in
 * registers, and neighbouring work-items take neighbouring columns, so the
 * runtime can vectorize across them. 20 GFLOP/s on PoCL here against 7 for
 * the tiled kernels above (BENCHMARKS.md). */
#ifndef TM
#define TM 8
#endif

#define GEMM_ROWS_KERNEL(NAME, A_AT, B_AT)                                   \
__kernel void NAME(const int M, const int N, const int K, const float alpha, \
          __global const float *A, const int lda, const int aoff,            \
          __global const float *B, const int ldb, const int boff,            \
          const float beta, __global float *C, const int ldc, const int coff) \
{                                                                            \
    const int j = get_global_id(0), i0 = get_global_id(1) * TM;              \
    if (j >= N || i0 >= M)                                                   \
        return;                                                              \
    A += aoff;                                                               \
    B += boff;                                                               \
    const int rows = min(TM, M - i0);                                        \
    float acc[TM];                                                           \
    for (int ii = 0; ii < TM; ii++)                                          \
        acc[ii] = 0.0f;                                                      \
    if (rows == TM) {                                                        \
        for (int k = 0; k < K; k++) {                                        \
            const float b = B_AT(k, j);                                      \
            for (int ii = 0; ii < TM; ii++)                                  \
                acc[ii] += A_AT(i0 + ii, k) * b;                             \
        }                                                                    \
    } else {                                                                 \
        for (int k = 0; k < K; k++) {                                        \
            const float b = B_AT(k, j);                                      \
            for (int ii = 0; ii < rows; ii++)                                \
                acc[ii] += A_AT(i0 + ii, k) * b;                             \
        }                                                                    \
    }                                                                        \
    for (int ii = 0; ii < rows; ii++) {                                      \
        const int idx = coff + (i0 + ii) * ldc + j;                          \
        C[idx] = beta == 0.0f ? alpha * acc[ii]                              \
                              : alpha * acc[ii] + beta * C[idx];             \
    }                                                                        \
}

/* A B only: for A' B and A B' the rows read their operands with large
 * strides, and measured slower than the tiles on PoCL (BENCHMARKS.md). */
GEMM_ROWS_KERNEL(gemm_rows_nn, A_N, B_N)
