/* Arithmetic the core needs on any device's float buffers (the OpenCL
 * device plugin builds it): sums of gradients where a tensor feeds
 * several layers, and the gradient arena's norm and scaling. */

__kernel void accumulate(__global float *dst, __global const float *src,
                         const int n)
{
    const int i = get_global_id(0);
    if (i < n)
        dst[i] += src[i];
}

__kernel void scale(__global float *x, const int n, const float factor)
{
    const int i = get_global_id(0);
    if (i < n)
        x[i] *= factor;
}

/* Each work-group writes the sum of squares of its strided share of x
 * into partial[group]; the host adds the partials in order, so the
 * result does not depend on scheduling. Work-groups of SUMSQ_WG. */
#define SUMSQ_WG 256
__kernel __attribute__((reqd_work_group_size(SUMSQ_WG, 1, 1))) void
sum_squares(__global const float *x, const int n, __global float *partial)
{
    __local float part[SUMSQ_WG];
    const int lid = get_local_id(0);
    float s = 0.0f;
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        s += x[i] * x[i];
    part[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = SUMSQ_WG / 2; step > 0; step >>= 1) {
        if (lid < step)
            part[lid] += part[lid + step];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0)
        partial[get_group_id(0)] = part[0];
}
