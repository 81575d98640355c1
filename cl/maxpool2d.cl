/* Max pooling, NHWC. Forward records each maximum's offset within its
 * image; backward gathers, one work-item per input element, adding the
 * gradient of every output whose maximum it was (no atomics, and windows
 * may overlap). */

__kernel void maxpool_forward(__global const float *x, __global float *y,
                              __global int *arg, const int n, const int H,
                              const int W, const int C, const int PH,
                              const int PW, const int SH, const int SW,
                              const int PT, const int PL, const int OH,
                              const int OW)
{
    const long total = (long)n * OH * OW * C;
    const long i = get_global_id(0);
    if (i >= total)
        return;
    const int c = (int)(i % C);
    const int ox = (int)((i / C) % OW), oy = (int)((i / ((long)C * OW)) % OH);
    const int b = (int)(i / ((long)C * OW * OH));
    __global const float *xi = x + (long)b * H * W * C;
    float best = 0.0f;
    int where = -1;
    for (int ky = 0; ky < PH; ky++) {
        const int iy = oy * SH - PT + ky;
        if (iy < 0 || iy >= H)
            continue;
        for (int kx = 0; kx < PW; kx++) {
            const int ix = ox * SW - PL + kx;
            if (ix < 0 || ix >= W)
                continue;
            const int off = (iy * W + ix) * C + c;
            if (where < 0 || xi[off] > best) {
                best = xi[off];
                where = off;
            }
        }
    }
    y[i] = best;
    arg[i] = where;
}

__kernel void maxpool_backward(__global const float *dy,
                               __global const int *arg, __global float *dx,
                               const int n, const int H, const int W,
                               const int C, const int PH, const int PW,
                               const int SH, const int SW, const int PT,
                               const int PL, const int OH, const int OW)
{
    const long total = (long)n * H * W * C;
    const long i = get_global_id(0);
    if (i >= total)
        return;
    const int c = (int)(i % C);
    const int ix = (int)((i / C) % W), iy = (int)((i / ((long)C * W)) % H);
    const int b = (int)(i / ((long)C * W * H));
    const int off = (iy * W + ix) * C + c;
    const long obase = (long)b * OH * OW * C;
    float s = 0.0f;
    for (int ky = 0; ky < PH; ky++) {
        const int ty = iy + PT - ky;
        if (ty < 0 || ty % SH)
            continue;
        const int oy = ty / SH;
        if (oy >= OH)
            continue;
        for (int kx = 0; kx < PW; kx++) {
            const int tx = ix + PL - kx;
            if (tx < 0 || tx % SW)
                continue;
            const int ox = tx / SW;
            if (ox >= OW)
                continue;
            const long o = obase + ((long)oy * OW + ox) * C + c;
            if (arg[o] == off)
                s += dy[o];
        }
    }
    dx[i] = s;
}
