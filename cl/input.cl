/* The input layer: pixel bytes to scaled floats. */
__kernel void bytes_to_float(__global const uchar *x, __global float *y,
                             const float scale, const int n)
{
    const int i = get_global_id(0);
    if (i < n)
        y[i] = (float)x[i] * scale;
}
