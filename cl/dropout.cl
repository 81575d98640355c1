/* Inverted dropout; also its backward pass (x = dy, y = dx), since the
 * mask is a function of (seed, stream, step, element). Needs philox.cl. */
/* first: the index of x[0] in the step's whole batch (a data-parallel
 * replica's slice starts past 0), so masks follow global indices. */
__kernel void dropout_apply(__global const float *x, __global float *y,
                            const int n, const float rate, const float scale,
                            const ulong seed, const uint stream,
                            const ulong step, const uint first)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    const float u = clnet_philox_uniform(seed, stream, step, first + (uint)i);
    y[i] = u >= rate ? x[i] * scale : 0.0f;
}
