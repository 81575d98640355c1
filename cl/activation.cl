/* Bias, activations and their gradients over rows of `cols` values, with
 * the ids of plugins/common/activation.h: 0 linear, 1 relu, 2 softmax
 * (over each row), 3 sigmoid, 4 tanh, 5 leaky_relu, 6 elu, 7 gelu (erf),
 * 8 swish, 9 gelu's tanh approximation. The formulas, and which gradients
 * follow from the output alone, are written down there; these are the
 * same as plugins/common/cpu_common.c's. */

/* 1 / (1 + exp(-x)) with exp of -|x| only, which cannot overflow. */
float act_sigmoid(const float x)
{
    const float e = exp(-fabs(x));
    const float s = 1.0f / (1.0f + e);
    return x >= 0.0f ? s : e * s;
}

/* act(x) for an elementwise id; alpha: leaky_relu's slope, elu's alpha. */
float act_apply(const int act, const float x, const float alpha)
{
    switch (act) {
    case 1:
        return fmax(x, 0.0f);
    case 3:
        return act_sigmoid(x);
    case 4:
        return tanh(x);
    case 5:
        return x > 0.0f ? x : alpha * x;
    case 6:
        return x > 0.0f ? x : alpha * expm1(x);
    case 7: /* Phi(x) = erfc(-x / sqrt 2) / 2, exact in both tails */
        return 0.5f * x * erfc(-x * M_SQRT1_2_F);
    case 9: /* 0.5 (1 + tanh u) = sigmoid(2 u), exact in the tails */
        return x * act_sigmoid(2.0f * 0.79788456080286536f * x *
                               (1.0f + 0.044715f * x * x));
    case 8:
        return x * act_sigmoid(x);
    default:
        return x;
    }
}

/* d act / dx at x, where y = act_apply(act, x, alpha). */
float act_derivative(const int act, const float x, const float y,
                     const float alpha)
{
    switch (act) {
    case 1:
        return x > 0.0f ? 1.0f : 0.0f;
    case 3:
        return y * (1.0f - y);
    case 4:
        return 1.0f - y * y;
    case 5:
        return x > 0.0f ? 1.0f : alpha;
    case 6: /* alpha exp(x) = y + alpha below 0 */
        return x > 0.0f ? 1.0f : y + alpha;
    case 7:
        return 0.5f * erfc(-x * M_SQRT1_2_F) +
               x * 0.39894228040143268f * exp(-0.5f * x * x);
    case 9: {
        /* past |x| = 10 the sigmoid is 0 or 1 in float and x^3 may
         * overflow; s = sigmoid(2 u), 1 - tanh^2 u = 4 s (1 - s) */
        if (fabs(x) > 10.0f)
            return x > 0.0f ? 1.0f : 0.0f;
        const float u = x * x, k = 0.79788456080286536f;
        const float s = act_sigmoid(2.0f * k * x * (1.0f + 0.044715f * u));
        return s +
               2.0f * x * s * (1.0f - s) * k * (1.0f + 3.0f * 0.044715f * u);
    }
    case 8: {
        const float s = act_sigmoid(x);
        return s * (1.0f + x * (1.0f - s));
    }
    default:
        return 1.0f;
    }
}

/* The parameter an `activation=` string implies (act_default_alpha). */
float act_default_alpha(const int act)
{
    return act == 5 ? 0.2f : act == 6 ? 1.0f : 0.0f;
}

/* y[i] += bias[i % cols] (when has_bias), then the activation when it is
 * elementwise (relu, or an id from 3 with act_default_alpha's parameter);
 * softmax (2) is softmax_rows's. */
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
    else if (act >= 3)
        v = act_apply(act, v, act_default_alpha(act));
    y[i] = v;
}

/* y = act(x) for an elementwise id, n values; x may be y. */
__kernel void act_forward(__global const float *x, __global float *y,
                          const int act, const float alpha, const int n)
{
    const int i = get_global_id(0);
    if (i < n)
        y[i] = act_apply(act, x[i], alpha);
}

/* dx = dy act'(x), given y = act(x), n values; dx may be dy. Every
 * elementwise id, gelu and swish included. */
__kernel void act_backward(__global const float *x, __global const float *y,
                           __global const float *dy, __global float *dx,
                           const int act, const float alpha, const int n)
{
    const int i = get_global_id(0);
    if (i < n)
        dx[i] = dy[i] * act_derivative(act, x[i], y[i], alpha);
}

/* dy *= act'(y) in place, for an elementwise id whose gradient follows
 * from y (sigmoid, tanh, leaky_relu, elu: y stands in for x, whose sign
 * it keeps), with act_default_alpha's parameter: the fused activation of
 * dense and conv2d, which keep only y. */
__kernel void act_backward_y(__global const float *y, __global float *dy,
                             const int act, const int n)
{
    const int i = get_global_id(0);
    if (i < n)
        dy[i] *= act_derivative(act, y[i], y[i], act_default_alpha(act));
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
