/* Average pooling, NHWC (needs window.cl), a work-item per pixel and its
 * channels 16 at a time, as cl/maxpool2d.cl. Each average divides by the
 * number of window values inside the input (padding=same leaves the
 * padding out, as Keras does); the CPU plugin adds in the same order, so
 * the two agree to the last bit where the compilers do. Backward gathers,
 * one work-item per input pixel: dy / taps of every output whose window
 * covers it (no atomics, and windows may overlap). */

/* The window values of output o inside the input along one axis. */
int avgpool_taps(const int o, const int k, const int s, const int p,
                 const int n)
{
    const int lo = max(o * s - p, 0), hi = min(o * s - p + k, n);
    return max(hi - lo, 0);
}

__kernel void avgpool_forward(__global const float *x, __global float *y,
                              const int n, const int H, const int W,
                              const int C, const int PH, const int PW,
                              const int SH, const int SW, const int PT,
                              const int PL, const int OH, const int OW)
{
    const int p = get_global_id(0);
    if (p >= n * OH * OW)
        return;
    const int ox = p % OW, oy = (p / OW) % OH, b = p / (OW * OH);
    __global const float *xi = x + b * H * W * C;
    const int y0 = max(oy * SH - PT, 0), y1 = min(oy * SH - PT + PH, H);
    const int x0 = max(ox * SW - PL, 0), x1 = min(ox * SW - PL + PW, W);
    const float taps = (float)((y1 - y0) * (x1 - x0));
    int c = 0;
    for (; c + 16 <= C; c += 16) {
        float16 s = (float16)(0.0f);
        for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++)
                s += vload16(0, xi + (iy * W + ix) * C + c);
        vstore16(taps > 0.0f ? s / taps : s, 0, y + p * C + c);
    }
    for (; c < C; c++) {
        float s = 0.0f;
        for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++)
                s += xi[(iy * W + ix) * C + c];
        y[p * C + c] = taps > 0.0f ? s / taps : s;
    }
}

__kernel void avgpool_backward(__global const float *dy, __global float *dx,
                               const int n, const int H, const int W,
                               const int C, const int PH, const int PW,
                               const int SH, const int SW, const int PT,
                               const int PL, const int OH, const int OW)
{
    const int q = get_global_id(0);
    if (q >= n * H * W)
        return;
    const int ix = q % W, iy = (q / W) % H, b = q / (W * H);
    int oy0, oy1, ox0, ox1;
    covering(iy, PH, SH, PT, OH, &oy0, &oy1);
    covering(ix, PW, SW, PL, OW, &ox0, &ox1);
    __global const float *gi = dy + b * OH * OW * C;
    int c = 0;
    for (; c + 16 <= C; c += 16) {
        float16 s = (float16)(0.0f);
        for (int oy = oy0; oy <= oy1; oy++) {
            const int rows = avgpool_taps(oy, PH, SH, PT, H);
            for (int ox = ox0; ox <= ox1; ox++) {
                const float taps =
                    (float)(rows * avgpool_taps(ox, PW, SW, PL, W));
                s += vload16(0, gi + (oy * OW + ox) * C + c) / taps;
            }
        }
        vstore16(s, 0, dx + q * C + c);
    }
    for (; c < C; c++) {
        float s = 0.0f;
        for (int oy = oy0; oy <= oy1; oy++) {
            const int rows = avgpool_taps(oy, PH, SH, PT, H);
            for (int ox = ox0; ox <= ox1; ox++) {
                const float taps =
                    (float)(rows * avgpool_taps(ox, PW, SW, PL, W));
                s += gi[(oy * OW + ox) * C + c] / taps;
            }
        }
        dx[q * C + c] = s;
    }
}
