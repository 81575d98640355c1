/* add and concat on OpenCL: element-wise sums and channel slices of NHWC
 * tensors, one work-item per value. */

__kernel void merge_add(__global const float *a, __global const float *b,
                        __global float *y, const int n)
{
    const int i = get_global_id(0);
    if (i < n)
        y[i] = a[i] + b[i];
}

__kernel void merge_add_into(__global float *y, __global const float *x,
                             const int n)
{
    const int i = get_global_id(0);
    if (i < n)
        y[i] += x[i];
}

__kernel void merge_copy(__global const float *x, __global float *y,
                         const int n)
{
    const int i = get_global_id(0);
    if (i < n)
        y[i] = x[i];
}

/* Input k's c channels to channels [off, off + c) of y (cy channels),
 * or back (to_input): rows positions of the batch. */
__kernel void concat_slice(__global float *y, __global float *x,
                           const int rows, const int cy, const int c,
                           const int off, const int to_input)
{
    const int i = get_global_id(0);
    if (i >= rows * c)
        return;
    const int r = i / c, ch = i % c;
    if (to_input)
        x[i] = y[r * cy + off + ch];
    else
        y[r * cy + off + ch] = x[i];
}
