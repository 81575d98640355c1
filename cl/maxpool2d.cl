/* Max pooling, NHWC (needs window.cl), a work-item per pixel and its
 * channels 16 at a time. Forward records each maximum's offset within its
 * image; backward gathers, one work-item per input pixel, adding the
 * gradient of every output whose maximum it was (no atomics, and windows
 * may overlap). An empty window (all padding) gives 0 and offset -1. */

__kernel void maxpool_forward(__global const float *x, __global float *y,
                              __global int *arg, const int n, const int H,
                              const int W, const int C, const int PH,
                              const int PW, const int SH, const int SW,
                              const int PT, const int PL, const int OH,
                              const int OW)
{
    const int p = get_global_id(0);
    if (p >= n * OH * OW)
        return;
    const int ox = p % OW, oy = (p / OW) % OH, b = p / (OW * OH);
    __global const float *xi = x + b * H * W * C;
    const int y0 = max(oy * SH - PT, 0), y1 = min(oy * SH - PT + PH, H);
    const int x0 = max(ox * SW - PL, 0), x1 = min(ox * SW - PL + PW, W);
    int c = 0;
    for (; c + 16 <= C; c += 16) {
        float16 best = (float16)(0.0f);
        int16 where = (int16)(-1);
        const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                   13, 14, 15);
        for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++) {
                const int off = (iy * W + ix) * C + c;
                const float16 v = vload16(0, xi + off);
                const int16 take = where < 0 || v > best;
                best = select(best, v, take);
                where = select(where, (int16)(off) + lane, take);
            }
        vstore16(best, 0, y + p * C + c);
        vstore16(where, 0, arg + p * C + c);
    }
    for (; c < C; c++) {
        float best = 0.0f;
        int where = -1;
        for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++) {
                const int off = (iy * W + ix) * C + c;
                if (where < 0 || xi[off] > best) {
                    best = xi[off];
                    where = off;
                }
            }
        y[p * C + c] = best;
        arg[p * C + c] = where;
    }
}

__kernel void maxpool_backward(__global const float *dy,
                               __global const int *arg, __global float *dx,
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
    const int base = b * OH * OW * C, self = (iy * W + ix) * C;
    int c = 0;
    for (; c + 16 <= C; c += 16) {
        const int16 off = (int16)(self + c) +
                          (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                  13, 14, 15);
        float16 s = (float16)(0.0f);
        for (int oy = oy0; oy <= oy1; oy++)
            for (int ox = ox0; ox <= ox1; ox++) {
                const int o = base + (oy * OW + ox) * C + c;
                s += select((float16)(0.0f), vload16(0, dy + o),
                            vload16(0, arg + o) == off);
            }
        vstore16(s, 0, dx + q * C + c);
    }
    for (; c < C; c++) {
        float s = 0.0f;
        for (int oy = oy0; oy <= oy1; oy++)
            for (int ox = ox0; ox <= ox1; ox++) {
                const int o = base + (oy * OW + ox) * C + c;
                if (arg[o] == self + c)
                    s += dy[o];
            }
        dx[q * C + c] = s;
    }
}
