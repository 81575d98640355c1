/* Bias, activations and their gradients over rows of `cols` values:
 * ACT 0 linear, 1 relu, 2 softmax (over each row), as the plugins' enum. */

/* y[i] += bias[i % cols] (when has_bias), then relu when act == 1. */
__kernel void bias_act(__global float *y, __global const float *bias,
                       const int has_bias, const int act, const int n,
                       const int cols)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    float v = y[i];
    if (has_bias)
        v += bias[i % cols];
    if (act == 1)
        v = fmax(v, 0.0f);
    y[i] = v;
}

/* Softmax of each row in place, one work-item per row. */
__kernel void softmax_rows(__global float *y, const int rows, const int cols)
{
    const int r = get_global_id(0);
    if (r >= rows)
        return;
    __global float *p = y + r * cols;
    float m = p[0];
    for (int c = 1; c < cols; c++)
        m = fmax(m, p[c]);
    float s = 0.0f;
    for (int c = 0; c < cols; c++) {
        const float e = exp(p[c] - m);
        p[c] = e;
        s += e;
    }
    const float inv = 1.0f / s;
    for (int c = 0; c < cols; c++)
        p[c] *= inv;
}

/* dy *= (y > 0), in place. */
__kernel void relu_backward(__global const float *y, __global float *dy,
                            const int n)
{
    const int i = get_global_id(0);
    if (i < n && !(y[i] > 0.0f))
        dy[i] = 0.0f;
}

/* dy = y * (dy - sum(dy * y)) per row, in place. */
__kernel void softmax_backward(__global const float *y, __global float *dy,
                               const int rows, const int cols)
{
    const int r = get_global_id(0);
    if (r >= rows)
        return;
    __global const float *yr = y + r * cols;
    __global float *dr = dy + r * cols;
    float dot = 0.0f;
    for (int c = 0; c < cols; c++)
        dot += dr[c] * yr[c];
    for (int c = 0; c < cols; c++)
        dr[c] = yr[c] * (dr[c] - dot);
}

/* db[c] = sum over rows of dy[r][c], summed in row order like the CPU
 * backend; with relu (y given), dy is first zeroed where y <= 0, in place,
 * in the same pass. A work-item takes 16 neighbouring columns, so it reads
 * whole vectors (rows are contiguous) and the sum needs no reduction tree;
 * get_global_id(1) = s takes rows [s rs, s rs + rs) only and writes its
 * sums to the s-th row after db (sum_slices adds them up). */
__kernel void bias_grad(__global const float *y, __global float *dy,
                        __global float *db, const int relu, int rows,
                        const int cols, const int rs)
{
    const int c0 = get_global_id(0) * 16, slice = get_global_id(1);
    if (c0 >= cols)
        return;
    y += slice * rs * cols;
    dy += slice * rs * cols;
    db += slice * cols;
    rows = min(rows - slice * rs, rs);
    if (c0 + 16 <= cols) {
        float16 s = (float16)(0.0f);
        for (int r = 0; r < rows; r++) {
            float16 d = vload16(0, dy + r * cols + c0);
            if (relu) {
                d = select((float16)(0.0f), d,
                           vload16(0, y + r * cols + c0) > 0.0f);
                vstore16(d, 0, dy + r * cols + c0);
            }
            s += d;
        }
        vstore16(s, 0, db + c0);
        return;
    }
    for (int c = c0; c < cols; c++) {
        float s = 0.0f;
        for (int r = 0; r < rows; r++) {
            float d = dy[r * cols + c];
            if (relu && !(y[r * cols + c] > 0.0f))
                dy[r * cols + c] = d = 0.0f;
            s += d;
        }
        db[c] = s;
    }
}

__kernel void copy(__global const float *x, __global float *y, const int n)
{
    const int i = get_global_id(0);
    if (i < n)
        y[i] = x[i];
}
