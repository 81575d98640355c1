/* Global average and maximum pooling over the h x w positions of NHWC
 * samples (HW positions of C channels): a work-item per sample and
 * channel forward, walking the positions in order as the CPU plugin does;
 * a work-item per input value backward. The maximum records the first
 * position holding it (replaced only by a strictly greater value) and its
 * gradient goes there alone. */

__kernel void global_avg_forward(__global const float *x, __global float *y,
                                 const int n, const int HW, const int C)
{
    const int i = get_global_id(0);
    if (i >= n * C)
        return;
    const int c = i % C, b = i / C;
    __global const float *xi = x + b * HW * C + c;
    float s = 0.0f;
    for (int q = 0; q < HW; q++)
        s += xi[q * C];
    y[i] = s / (float)HW;
}

__kernel void global_avg_backward(__global const float *dy,
                                  __global float *dx, const int n,
                                  const int HW, const int C)
{
    const int i = get_global_id(0);
    if (i >= n * HW * C)
        return;
    dx[i] = dy[(i / (HW * C)) * C + i % C] / (float)HW;
}

__kernel void global_max_forward(__global const float *x, __global float *y,
                                 const int n, const int HW, const int C,
                                 __global int *arg)
{
    const int i = get_global_id(0);
    if (i >= n * C)
        return;
    const int c = i % C, b = i / C;
    __global const float *xi = x + b * HW * C + c;
    float best = xi[0];
    int where = 0;
    for (int q = 1; q < HW; q++)
        if (xi[q * C] > best) {
            best = xi[q * C];
            where = q;
        }
    y[i] = best;
    arg[i] = where;
}

__kernel void global_max_backward(__global const float *dy,
                                  __global float *dx, const int n,
                                  const int HW, const int C,
                                  __global const int *arg)
{
    const int i = get_global_id(0);
    if (i >= n * HW * C)
        return;
    const int j = (i / (HW * C)) * C + i % C;
    dx[i] = arg[j] == (i / C) % HW ? dy[j] : 0.0f;
}
