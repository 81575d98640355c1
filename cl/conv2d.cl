/* im2col and its adjoint for NHWC convolutions (needs window.cl). A row of
 * the column matrix is one output position; its K = KH*KW*C columns run
 * (ky, kx, c). im2col gives a work-item one output position; col2im one
 * input pixel, gathering from every window that covers it, so it needs no
 * atomics. xoff and dxoff (in elements) select the chunk of images. */

__kernel void im2col(__global const float *x, const int xoff,
                     __global float *col, const int n, const int H, const int W, const int C,
                     const int KH, const int KW, const int SH, const int SW,
                     const int PT, const int PL, const int OH, const int OW)
{
    const int p = get_global_id(0);
    if (p >= n * OH * OW)
        return;
    const int ox = p % OW, oy = (p / OW) % OH, b = p / (OW * OH);
    const int K = KH * KW * C;
    __global const float *xb = x + xoff + b * H * W * C;
    __global float *row = col + p * K;
    for (int ky = 0; ky < KH; ky++) {
        const int iy = oy * SH - PT + ky;
        for (int kx = 0; kx < KW; kx++) {
            const int ix = ox * SW - PL + kx;
            const int in = iy >= 0 && iy < H && ix >= 0 && ix < W;
            copy_channels(row + (ky * KW + kx) * C,
                          in ? xb + (iy * W + ix) * C : 0, C);
        }
    }
}

__kernel void col2im(__global const float *dcol, __global float *dx,
                     const int dxoff, const int n, const int H, const int W, const int C,
                     const int KH, const int KW, const int SH, const int SW,
                     const int PT, const int PL, const int OH, const int OW)
{
    const int q = get_global_id(0);
    if (q >= n * H * W)
        return;
    const int ix = q % W, iy = (q / W) % H, b = q / (W * H);
    const int K = KH * KW * C;
    int oy0, oy1, ox0, ox1;
    covering(iy, KH, SH, PT, OH, &oy0, &oy1);
    covering(ix, KW, SW, PL, OW, &ox0, &ox1);
    __global const float *db = dcol + b * OH * OW * K;
    __global float *out = dx + dxoff + q * C;
    int c = 0;
    for (; c + 16 <= C; c += 16) {
        float16 s = (float16)(0.0f);
        for (int oy = oy0; oy <= oy1; oy++)
            for (int ox = ox0; ox <= ox1; ox++) {
                const int tap = (iy + PT - oy * SH) * KW + ix + PL - ox * SW;
                s += vload16(0, db + (oy * OW + ox) * K + tap * C + c);
            }
        vstore16(s, 0, out + c);
    }
    for (; c < C; c++) {
        float s = 0.0f;
        for (int oy = oy0; oy <= oy1; oy++)
            for (int ox = ox0; ox <= ox1; ox++) {
                const int tap = (iy + PT - oy * SH) * KW + ix + PL - ox * SW;
                s += db[(oy * OW + ox) * K + tap * C + c];
            }
        out[c] = s;
    }
}
