/* SGEMM, row-major: C[M,N] = alpha op(A) B + beta C, in two families
 * chosen at build time; both define gemm_nn (A stored M x K) and gemm_tn
 * (A stored K x M). Products with B transposed go through `transpose`
 * first: every B the layers transpose is a weight matrix, small next to
 * the activations. Offsets are in elements, so callers can work on slices
 * of one buffer.
 *
 * Without GEMM_VEC: local-memory tiles for GPUs. A work-group computes a
 * TS x TS tile of C with TS x (TS/WPT) work-items, each accumulating WPT
 * outputs of one column in registers; tiles of A and B pass through local
 * memory, each work-item fetching WPT neighbouring values of each with one
 * vector load.
 *
 * With GEMM_VEC: register tiles in explicit float16 vectors for CPU
 * devices (PoCL, Intel's CPU runtime). Such runtimes run a work-group's
 * work-items one after another on one core and vectorize across them only
 * when the kernel has no loops of its own, so a GEMM has to carry its own
 * vectors: each work-item owns TM rows by NV x 16 columns of C and no
 * local memory or barrier is needed. 230-320 GFLOP/s on PoCL here against
 * 20 for scalar code (BENCHMARKS.md).
 *
 * TS, WPT, TM and NV come from the build options. bias and epi describe
 * the epilogue below; callers pass them only for a whole product (not a
 * slice of K). */
/* What the product's store may add (epi, a bit set): the bias of column j,
 * then relu; so a layer's forward pass writes its output once. */
#define EPI_BIAS 1
#define EPI_RELU 2

float epilogue(float v, __global const float *bias, const int j,
               const int epi)
{
    if (epi & EPI_BIAS)
        v += bias[j];
    return epi & EPI_RELU ? fmax(v, 0.0f) : v;
}

/* Split K: work-items with get_global_id(2) == s sum k in [s ks, s ks +
 * ks) only, into the s-th M x ldc block after C; sum_slices adds the
 * blocks up. With one slice (ks >= K) this is the plain product. Shadows
 * A, B, C and K with the slice's. */
#define SLICE(A_STEP)                                                        \
    const int slice = get_global_id(2);                                      \
    A += aoff + slice * ks * (A_STEP);                                       \
    B += boff + slice * ks * ldb;                                            \
    C += coff + slice * M * ldc;                                             \
    K = min(K - slice * ks, ks)

#define A_N(i, k) A[(i) * lda + (k)]
#define A_T(i, k) A[(k) * lda + (i)]
#define B_N(k, j) B[(k) * ldb + (j)]

#ifndef GEMM_VEC
#define RTS (TS / WPT)

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define floatW CAT(float, WPT)
#define vloadW CAT(vload, WPT)
#define vstoreW CAT(vstore, WPT)

/* Tile loads: each work-item fetches WPT neighbouring values of the A tile
 * and of the B tile with one vector load (scalar loads with bounds checks
 * at the matrices' edges). e: the first of its values in the tile, row-
 * major over TS x TS. Bs[k][j] and As[i][k] as the product reads them. */
/* A tile of row-major X (ROWS x NCOLS, row stride LD) whose top-left
 * value is (ROW0, COL0), into S[tr][tc]. */
#define LOAD_TILE(S, X, LD, ROW0, COL0, ROWS, NCOLS, e)                      \
    {                                                                        \
        const int tr = (e) / TS, tc = (e) % TS;                              \
        const int r = (ROW0) + tr, c = (COL0) + tc;                          \
        if (r < (ROWS) && c + WPT <= (NCOLS))                                \
            vstoreW(vloadW(0, X + r * (LD) + c), 0, &S[tr][tc]);             \
        else                                                                 \
            for (int q = 0; q < WPT; q++)                                    \
                S[tr][tc + q] =                                              \
                    r < (ROWS) && c + q < (NCOLS) ? X[r * (LD) + c + q]      \
                                                  : 0.0f;                    \
    }
#define LOAD_B(e) LOAD_TILE(Bs, B, ldb, t, get_group_id(0) * TS, K, N, e)
/* A stored M x K: a tile row is contiguous along k */
#define LOAD_A_N(e) LOAD_TILE(As, A, lda, grow, t, M, K, e)
/* A stored K x M: a tile row of the storage is contiguous along i */
#define LOAD_A_T(e)                                                          \
    {                                                                        \
        const int tr = (e) / TS, tc = (e) % TS;                              \
        const int k = t + tr, i = grow + tc;                                 \
        if (k < K && i + WPT <= M) {                                         \
            const floatW v = vloadW(0, A + k * lda + i);                     \
            for (int q = 0; q < WPT; q++)                                    \
                As[tc + q][tr] = ((const float *)&v)[q];                     \
        } else                                                               \
            for (int q = 0; q < WPT; q++)                                    \
                As[tc + q][tr] = k < K && i + q < M ? A_T(i + q, k) : 0.0f;  \
    }

#define GEMM_KERNEL(NAME, LOAD_A, A_STEP)                                    \
__kernel __attribute__((reqd_work_group_size(TS, RTS, 1)))                   \
void NAME(const int M, const int N, int K, const float alpha,                \
          __global const float *A, const int lda, const int aoff,            \
          __global const float *B, const int ldb, const int boff,            \
          const float beta, __global float *C, const int ldc, const int coff, \
          __global const float *bias, const int epi, const int ks)           \
{                                                                            \
    const int col = get_local_id(0), row = get_local_id(1);                  \
    const int gcol = get_group_id(0) * TS + col;                             \
    const int grow = get_group_id(1) * TS;                                   \
    __local float As[TS][TS + 1];                                            \
    __local float Bs[TS][TS + 1];                                            \
    float acc[WPT];                                                          \
    for (int w = 0; w < WPT; w++)                                            \
        acc[w] = 0.0f;                                                       \
    SLICE(A_STEP);                                                           \
    for (int t = 0; t < K; t += TS) {                                        \
        LOAD_A((row * TS + col) * WPT);                                      \
        LOAD_B((row * TS + col) * WPT);                                      \
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
            const int idx = r * ldc + gcol;                                  \
            C[idx] = epilogue(beta == 0.0f ? alpha * acc[w]                  \
                              : alpha * acc[w] + beta * C[idx],              \
                              bias, gcol, epi);                              \
        }                                                                    \
    }                                                                        \
}

GEMM_KERNEL(gemm_nn, LOAD_A_N, 1)
GEMM_KERNEL(gemm_tn, LOAD_A_T, lda)

#else
#define COLS (NV * 16)

/* One term of a work-item's TM x NV*16 register tile acc: acc[ii] +=
 * A_VALUE (a float, may use ii) times the NV vectors at B_ROW. Shared
 * with the implicit-GEMM convolution kernels (conv2d.cl). */
#define TILE_TERMS(B_ROW, A_VALUE)                                           \
    {                                                                        \
        float16 row_[NV];                                                    \
        _Pragma("unroll") for (int v = 0; v < NV; v++)                       \
            row_[v] = vload16(v, B_ROW);                                     \
        _Pragma("unroll") for (int ii = 0; ii < TM; ii++) {                  \
            const float16 a_ = (float16)(A_VALUE);                           \
            _Pragma("unroll") for (int v = 0; v < NV; v++)                   \
                acc[ii][v] = fma(a_, row_[v], acc[ii][v]);                   \
        }                                                                    \
    }

/* Rows past M repeat row M-1 (clamped in r[]), so a partial block of rows
 * keeps the vector path; they are never stored. A whole block of rows has
 * a loop of its own that addresses A by i0 + ii: from the clamped r[],
 * LLVM built the row addresses in a vector register and extracted them
 * one by one each term, and the products ran at 240 (A B) and 150 (A' B)
 * GFLOP/s on PoCL here instead of 310 and 205. A partial block of columns
 * takes the scalar path. */
#define GEMM_VEC_KERNEL(NAME, A_AT, A_STEP)                                  \
__kernel void NAME(const int M, const int N, int K, const float alpha,       \
          __global const float *A, const int lda, const int aoff,            \
          __global const float *B, const int ldb, const int boff,            \
          const float beta, __global float *C, const int ldc, const int coff, \
          __global const float *bias, const int epi, const int ks)           \
{                                                                            \
    const int j0 = get_global_id(0) * COLS, i0 = get_global_id(1) * TM;      \
    if (j0 >= N || i0 >= M)                                                  \
        return;                                                              \
    SLICE(A_STEP);                                                           \
    const int rows = min(TM, M - i0);                                        \
    if (j0 + COLS <= N) {                                                    \
        int r[TM];                                                           \
        float16 acc[TM][NV];                                                 \
        _Pragma("unroll") for (int ii = 0; ii < TM; ii++) {                  \
            r[ii] = min(i0 + ii, M - 1);                                     \
            _Pragma("unroll") for (int v = 0; v < NV; v++)                   \
                acc[ii][v] = (float16)(0.0f);                                \
        }                                                                    \
        if (rows == TM)                                                      \
            for (int k = 0; k < K; k++)                                      \
                TILE_TERMS(B + k * ldb + j0, A_AT(i0 + ii, k))               \
        else                                                                 \
            for (int k = 0; k < K; k++)                                      \
                TILE_TERMS(B + k * ldb + j0, A_AT(r[ii], k))                 \
        for (int ii = 0; ii < rows; ii++)                                    \
            _Pragma("unroll") for (int v = 0; v < NV; v++) {                 \
                __global float *c = C + (i0 + ii) * ldc + j0;                \
                float16 out = alpha * acc[ii][v];                            \
                if (beta != 0.0f)                                            \
                    out += beta * vload16(v, c);                             \
                if (epi & EPI_BIAS)                                          \
                    out += vload16(v, bias + j0);                            \
                if (epi & EPI_RELU)                                          \
                    out = fmax(out, (float16)(0.0f));                        \
                vstore16(out, v, c);                                         \
            }                                                                \
        return;                                                              \
    }                                                                        \
    for (int ii = i0; ii < i0 + rows; ii++)                                  \
        for (int j = j0; j < N; j++) {                                       \
            float s = 0.0f;                                                  \
            for (int k = 0; k < K; k++)                                      \
                s += A_AT(ii, k) * B_N(k, j);                                \
            const int idx = ii * ldc + j;                                    \
            C[idx] = epilogue(beta == 0.0f ? alpha * s                       \
                              : alpha * s + beta * C[idx], bias, j, epi);    \
        }                                                                    \
}

GEMM_VEC_KERNEL(gemm_nn, A_N, 1)
GEMM_VEC_KERNEL(gemm_tn, A_T, lda)
#endif

/* out (cols x rows) <- in (rows x cols, row stride ld, from offset off). */
__kernel void transpose(const int rows, const int cols,
                        __global const float *in, const int ld, const int off,
                        __global float *out)
{
    const int n = get_global_id(0);
    if (n >= rows * cols)
        return;
    const int i = n / cols, j = n % cols;
    out[j * rows + i] = in[off + i * ld + j];
}

