/* The input layer: pixel bytes to floats, x a[c] + b[c] for channel c
 * (the scale, then less the mean over the standard deviation). */
__kernel void bytes_to_float(__global const uchar *x, __global float *y,
                             const float4 a, const float4 b, const int C,
                             const int n)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    const int c = i % C;
    const float ac = c == 0 ? a.s0 : c == 1 ? a.s1 : c == 2 ? a.s2 : a.s3;
    const float bc = c == 0 ? b.s0 : c == 1 ? b.s1 : c == 2 ? b.s2 : b.s3;
    y[i] = (float)x[i] * ac + bc;
}
