/* Adds up partial results that kernels wrote in slices (split-K GEMM,
 * bias and weight gradients over slices of rows). */

/* C (M x N, row stride ldc, from offset coff) <- beta C + the sum of the
 * `slices` M x N blocks in parts from offset poff, one work-item per
 * element. */
__kernel void sum_slices(__global const float *parts, const int poff,
                         const int slices, const int M, const int N,
                         const float beta, __global float *C, const int ldc,
                         const int coff)
{
    const int n = get_global_id(0);
    if (n >= M * N)
        return;
    parts += poff;
    float s = 0.0f;
    for (int t = 0; t < slices; t++)
        s += parts[t * M * N + n];
    const int idx = coff + (n / N) * ldc + n % N;
    C[idx] = beta == 0.0f ? s : s + beta * C[idx];
}

