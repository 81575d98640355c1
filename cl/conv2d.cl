/* im2col and its adjoint for NHWC convolutions. A row of the column matrix
 * is one output position; its K = KH*KW*C columns run (ky, kx, c). col2im
 * gathers, one work-item per input element, so it needs no atomics.
 * xoff and dxoff (in elements) select the chunk of images to work on. */

__kernel void im2col(__global const float *x, const int xoff,
                     __global float *col, const int n, const int H, const int W, const int C,
                     const int KH, const int KW, const int SH, const int SW,
                     const int PT, const int PL, const int OH, const int OW)
{
    const int K = KH * KW * C;
    const long total = (long)n * OH * OW * K;
    const long i = get_global_id(0);
    if (i >= total)
        return;
    const int k = (int)(i % K);
    const long p = i / K;
    const int ox = (int)(p % OW), oy = (int)((p / OW) % OH);
    const int b = (int)(p / ((long)OW * OH));
    const int c = k % C, kx = (k / C) % KW, ky = k / (C * KW);
    const int iy = oy * SH - PT + ky, ix = ox * SW - PL + kx;
    col[i] = (iy >= 0 && iy < H && ix >= 0 && ix < W)
                 ? x[xoff + (((long)b * H + iy) * W + ix) * C + c]
                 : 0.0f;
}

__kernel void col2im(__global const float *dcol, __global float *dx,
                     const int dxoff, const int n, const int H, const int W, const int C,
                     const int KH, const int KW, const int SH, const int SW,
                     const int PT, const int PL, const int OH, const int OW)
{
    const long total = (long)n * H * W * C;
    const long i = get_global_id(0);
    if (i >= total)
        return;
    const int c = (int)(i % C);
    const int ix = (int)((i / C) % W), iy = (int)((i / ((long)C * W)) % H);
    const int b = (int)(i / ((long)C * W * H));
    const int K = KH * KW * C;
    float s = 0.0f;
    for (int ky = 0; ky < KH; ky++) {
        const int ty = iy + PT - ky;
        if (ty < 0 || ty % SH)
            continue;
        const int oy = ty / SH;
        if (oy >= OH)
            continue;
        for (int kx = 0; kx < KW; kx++) {
            const int tx = ix + PL - kx;
            if (tx < 0 || tx % SW)
                continue;
            const int ox = tx / SW;
            if (ox >= OW)
                continue;
            s += dcol[(((long)b * OH + oy) * OW + ox) * K + (ky * KW + kx) * C +
                      c];
        }
    }
    dx[dxoff + i] = s;
}
