/* Batch normalization over the channel axis of `rows` NHWC rows of C
 * channels (plugins/batchnorm/batchnorm_opencl.c), without atomics: the
 * sums over the rows in two stages, bn_partials' work-groups each reducing
 * a run of rows in local memory to a row of partial sums, and a work-item
 * per channel adding those rows in order (bn_stats, bn_grads); the
 * element-wise passes (bn_apply, bn_dx) use per-channel factors. */

/* A work-group of LR work-items (get_local_size(1), a power of two) takes
 * 16 channels from c0 = 16 get_group_id(0) (fewer at the end of the row)
 * and the rows [g rpg, min((g + 1) rpg, rows)) of group row g =
 * get_group_id(1), work-item j every LR-th row from j, in float16 vectors
 * (CPU runtimes vectorize nothing else in a kernel with loops; on a GPU a
 * work-item reads 64 contiguous bytes a row). It writes parts[g][0][c] =
 * sum u and parts[g][1][c] = sum u v for its channels, where v = x -
 * center[c] and u = v (forward: center is a shift, the first row) or u =
 * dy (backward: center is the mean). scratch holds 32 LR floats. */
__kernel void bn_partials(__global const float *x, __global const float *dy,
                          __global const float *center, const int rows,
                          const int C, const int rpg, const int backward,
                          __global float *parts, __local float *scratch)
{
    const int c0 = get_group_id(0) * 16, j = get_local_id(1);
    const int LR = get_local_size(1), g = get_group_id(1);
    /* every index stays below rows C <= INT_MAX, without overflow */
    const int start = g * rpg;
    const int r1 = rpg < rows - start ? start + rpg : rows;
    const int r0 = j < r1 - start ? start + j : r1;
    float16 a = (float16)(0.0f), b = (float16)(0.0f);
    if (c0 + 16 <= C) {
        const float16 k = vload16(0, center + c0);
        for (int r = r0; r < r1; r = r1 - r > LR ? r + LR : r1) {
            const float16 v = vload16(0, x + r * C + c0) - k;
            const float16 u = backward ? vload16(0, dy + r * C + c0) : v;
            a += u;
            b += u * v;
        }
    } else {
        /* the last channels, fewer than 16 */
        float pa[16], pb[16], k[16];
        const int n = C - c0;
        for (int i = 0; i < 16; i++) {
            pa[i] = pb[i] = 0.0f;
            k[i] = i < n ? center[c0 + i] : 0.0f;
        }
        for (int r = r0; r < r1; r = r1 - r > LR ? r + LR : r1)
            for (int i = 0; i < n; i++) {
                const float v = x[r * C + c0 + i] - k[i];
                const float u = backward ? dy[r * C + c0 + i] : v;
                pa[i] += u;
                pb[i] += u * v;
            }
        a = vload16(0, pa);
        b = vload16(0, pb);
    }
    __local float *la = scratch, *lb = scratch + 16 * LR;
    vstore16(a, j, la);
    vstore16(b, j, lb);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = LR / 2; s > 0; s >>= 1) {
        if (j < s) {
            vstore16(vload16(j, la) + vload16(j + s, la), j, la);
            vstore16(vload16(j, lb) + vload16(j + s, lb), j, lb);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (j == 0)
        for (int i = 0; i < 16 && c0 + i < C; i++) {
            parts[g * 2 * C + c0 + i] = la[i];
            parts[g * 2 * C + C + c0 + i] = lb[i];
        }
}

/* flags */
#define BN_GAMMA 1
#define BN_BETA 2
#define BN_TRAINING 4
#define BN_DGAMMA 8 /* write dgamma */
#define BN_DBETA 16 /* write dbeta */

/* A work-item per channel: the factors of bn_apply, y = (x - mean) ka +
 * kb. Training: the batch statistics from G rows of parts taken about
 * shift (x's first row), kept in mean and inv_std for the backward pass,
 * and the moving statistics updated as Keras does, with the biased
 * variance. Inference: the moving statistics (mean, inv_std untouched). */
__kernel void bn_stats(__global const float *parts, const int G, const int C,
                       __global const float *shift, const float inv_m,
                       const float eps, const float momentum, const int flags,
                       __global const float *gamma,
                       __global const float *beta, __global float *mm,
                       __global float *mv, __global float *mean,
                       __global float *inv_std, __global float *ka,
                       __global float *kb)
{
    const int c = get_global_id(0);
    if (c >= C)
        return;
    float is;
    if (flags & BN_TRAINING) {
        float s1 = 0.0f, s2 = 0.0f;
        for (int g = 0; g < G; g++) {
            s1 += parts[g * 2 * C + c];
            s2 += parts[g * 2 * C + C + c];
        }
        const float d = s1 * inv_m;
        const float var = max(s2 * inv_m - d * d, 0.0f);
        const float m = shift[c] + d;
        is = 1.0f / sqrt(var + eps);
        mean[c] = m;
        inv_std[c] = is;
        mm[c] = mm[c] * momentum + m * (1.0f - momentum);
        mv[c] = mv[c] * momentum + var * (1.0f - momentum);
    } else {
        is = 1.0f / sqrt(mv[c] + eps);
    }
    ka[c] = (flags & BN_GAMMA) ? gamma[c] * is : is;
    kb[c] = (flags & BN_BETA) ? beta[c] : 0.0f;
}

/* The element-wise passes: work-item (c, r) = (get_global_id(0),
 * get_global_id(1)) takes channel c of row r, so neighbouring work-items
 * read neighbouring values and no index is divided (x86 has no vector
 * integer division, and CPU runtimes vectorize across dimension 0). */
__kernel void bn_apply(__global const float *x, __global float *y,
                       __global const float *mean, __global const float *ka,
                       __global const float *kb, const int rows, const int C)
{
    if (get_global_id(0) >= (size_t)C || get_global_id(1) >= (size_t)rows)
        return;
    const int c = get_global_id(0), r = get_global_id(1);
    const int i = r * C + c;
    y[i] = (x[i] - mean[c]) * ka[c] + kb[c];
}

/* A work-item per channel, after bn_partials over dy and x - mean: dbeta =
 * sum dy, dgamma = inv_std sum dy (x - mean), written where the layer has
 * them, and the factors of bn_dx, dx = ka dy + kb (x - mean) + kd, which
 * is gamma inv_std / M (M dy - dbeta - xhat dgamma) in training and
 * gamma inv_std dy with the moving statistics in inference. */
__kernel void bn_grads(__global const float *parts, const int G, const int C,
                       const float inv_m, const float eps, const int flags,
                       __global const float *gamma, __global const float *mv,
                       __global const float *inv_std, __global float *dgamma,
                       __global float *dbeta, __global float *ka,
                       __global float *kb, __global float *kd)
{
    const int c = get_global_id(0);
    if (c >= C)
        return;
    float s1 = 0.0f, s2 = 0.0f;
    for (int g = 0; g < G; g++) {
        s1 += parts[g * 2 * C + c];
        s2 += parts[g * 2 * C + C + c];
    }
    const int training = (flags & BN_TRAINING) != 0;
    const float is = training ? inv_std[c] : 1.0f / sqrt(mv[c] + eps);
    const float dg = s2 * is;
    if (flags & BN_DGAMMA)
        dgamma[c] = dg;
    if (flags & BN_DBETA)
        dbeta[c] = s1;
    const float a = ((flags & BN_GAMMA) ? gamma[c] : 1.0f) * is;
    ka[c] = a;
    kb[c] = training ? -a * is * dg * inv_m : 0.0f;
    kd[c] = training ? -a * s1 * inv_m : 0.0f;
}

__kernel void bn_dx(__global const float *x, __global const float *dy,
                    __global float *dx, __global const float *mean,
                    __global const float *ka, __global const float *kb,
                    __global const float *kd, const int rows, const int C)
{
    if (get_global_id(0) >= (size_t)C || get_global_id(1) >= (size_t)rows)
        return;
    const int c = get_global_id(0), r = get_global_id(1);
    const int i = r * C + c;
    dx[i] = ka[c] * dy[i] + (kb[c] * (x[i] - mean[c]) + kd[c]);
}
