/* im2col and its adjoint for NHWC convolutions (needs window.cl). A row of
 * the column matrix is one output position; its K = KH*KW*C columns run
 * (ky, kx, c). im2col gives a work-item one output position; col2im one
 * input pixel, gathering from every window that covers it, so it needs no
 * atomics. xoff and dxoff (in elements) select the chunk of images. */

__kernel void im2col(__global const float *x, const int xoff,
                     __global float *col, const int n, const int H, const int W, const int C,
                     const int KH, const int KW, const int SH, const int SW,
                     const int PT, const int PL, const int OH, const int OW,
                     const int DH, const int DW)
{
    const int p = get_global_id(0);
    if (p >= n * OH * OW)
        return;
    const int ox = p % OW, oy = (p / OW) % OH, b = p / (OW * OH);
    const int K = KH * KW * C;
    __global const float *xb = x + xoff + b * H * W * C;
    __global float *row = col + p * K;
    for (int ky = 0; ky < KH; ky++) {
        const int iy = oy * SH - PT + ky * DH;
        for (int kx = 0; kx < KW; kx++) {
            const int ix = ox * SW - PL + kx * DW;
            const int in = iy >= 0 && iy < H && ix >= 0 && ix < W;
            copy_channels(row + (ky * KW + kx) * C,
                          in ? xb + (iy * W + ix) * C : 0, C);
        }
    }
}

__kernel void col2im(__global const float *dcol, __global float *dx,
                     const int dxoff, const int n, const int H, const int W, const int C,
                     const int KH, const int KW, const int SH, const int SW,
                     const int PT, const int PL, const int OH, const int OW,
                     const int DH, const int DW)
{
    const int q = get_global_id(0);
    if (q >= n * H * W)
        return;
    const int ix = q % W, iy = (q / W) % H, b = q / (W * H);
    const int K = KH * KW * C;
    if (DH > 1 || DW > 1) {
        /* dilated taps, at stride 1 (a convolution strides or dilates):
         * tap (ky, kx) of output (iy + PT - ky DH, ix + PL - kx DW) */
        __global const float *db = dcol + b * OH * OW * K;
        __global float *out = dx + dxoff + q * C;
        for (int c = 0; c < C; c++) {
            float s = 0.0f;
            for (int ky = 0; ky < KH; ky++) {
                const int oy = iy + PT - ky * DH;
                if (oy < 0 || oy >= OH)
                    continue;
                for (int kx = 0; kx < KW; kx++) {
                    const int ox = ix + PL - kx * DW;
                    if (ox >= 0 && ox < OW)
                        s += db[(oy * OW + ox) * K + (ky * KW + kx) * C + c];
                }
            }
            out[c] = s;
        }
        return;
    }
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

#ifdef GEMM_VEC
/* The weight gradient without the column matrix, for the vector GEMM
 * family (needs gemm.cl's TM, NV, COLS and TILE_TERMS): dw[k][f] (+)= the
 * sum over output pixels p in [p0, p1) of the input value under tap k of
 * p's window times dy[p][f]. A work-item owns TM rows of k by NV x 16
 * filters, like gemm_tn, but reads its A values straight from x, which is
 * a tenth the size of the column matrix and stays in cache. Pixels come a
 * run along an output row at a time, and when no window reaches the
 * padding the loop has no bounds tests (conv2's weight gradient on PoCL:
 * 13.7 -> 10.4 ms). The stores are unrolled: a store loop with a run-time
 * bound made LLVM keep the accumulators in memory. beta 0 overwrites dw,
 * 1 adds to it. */
__kernel void conv_weight_grad(__global const float *x,
                               __global const float *dy, __global float *dw,
                               const int p0, const int p1, const float beta,
                               const int F, const int H, const int W,
                               const int C, const int KH, const int KW,
                               const int SH, const int SW, const int PT,
                               const int PL, const int OH, const int OW)
{
    const int j0 = get_global_id(0) * COLS, i0 = get_global_id(1) * TM;
    const int K = KH * KW * C;
    if (j0 >= F || i0 >= K)
        return;
    const int rows = min(TM, K - i0);
    /* rows past K repeat row K-1 and are never stored */
    int ky[TM], kx[TM], off[TM];
    _Pragma("unroll") for (int ii = 0; ii < TM; ii++) {
        const int r = min(i0 + ii, K - 1), tap = r / C;
        ky[ii] = tap / KW;
        kx[ii] = tap % KW;
        off[ii] = (ky[ii] * W + kx[ii]) * C + r % C;
    }
    /* every window inside the input: no bounds to check */
    const int inside = PT == 0 && PL == 0 && (OH - 1) * SH + KH <= H &&
                       (OW - 1) * SW + KW <= W;
    int ox = p0 % OW, oy = (p0 / OW) % OH, b = p0 / (OW * OH);
    if (j0 + COLS <= F) {
        float16 acc[TM][NV];
        _Pragma("unroll") for (int ii = 0; ii < TM; ii++)
            _Pragma("unroll") for (int v = 0; v < NV; v++)
                acc[ii][v] = (float16)(0.0f);
        /* a run of pixels along one output row at a time: the input and
         * dy pointers then step by a constant */
        for (int p = p0; p < p1;) {
            const int run = min(OW - ox, p1 - p);
            const int y0 = oy * SH - PT, x0 = ox * SW - PL;
            int yok[TM];
            _Pragma("unroll") for (int ii = 0; ii < TM; ii++)
                yok[ii] = (uint)(y0 + ky[ii]) < (uint)H;
            __global const float *xp = x + ((b * H + y0) * W + x0) * C;
            __global const float *dp = dy + p * F + j0;
            if (inside) {
                for (int q = 0; q < run; q++, xp += SW * C, dp += F)
                    TILE_TERMS(dp, xp[off[ii]])
            } else {
                for (int q = 0; q < run; q++, xp += SW * C, dp += F)
                    TILE_TERMS(dp, yok[ii] &&
                                       (uint)(x0 + q * SW + kx[ii]) < (uint)W
                                   ? xp[off[ii]]
                                   : 0.0f)
            }
            p += run;
            ox = 0;
            if (++oy == OH)
                oy = 0, b++;
        }
        _Pragma("unroll") for (int ii = 0; ii < TM; ii++)
            _Pragma("unroll") for (int v = 0; v < NV; v++) {
                __global float *c = dw + (i0 + ii) * F + j0;
                if (ii < rows)
                    vstore16(beta == 0.0f ? acc[ii][v]
                                          : acc[ii][v] + beta * vload16(v, c),
                             v, c);
            }
        return;
    }
    for (int ii = 0; ii < rows; ii++)
        for (int j = j0; j < F; j++) {
            float s = 0.0f;
            int qx = ox, qy = oy, qb = b;
            for (int p = p0; p < p1; p++) {
                const int iy = qy * SH - PT + ky[ii];
                const int ix = qx * SW - PL + kx[ii];
                if ((uint)iy < (uint)H && (uint)ix < (uint)W)
                    s += x[((qb * H + qy * SH - PT) * W + qx * SW - PL) * C +
                           off[ii]] * dy[p * F + j];
                if (++qx == OW) {
                    qx = 0;
                    if (++qy == OH)
                        qy = 0, qb++;
                }
            }
            const int idx = (i0 + ii) * F + j;
            dw[idx] = beta == 0.0f ? s : s + beta * dw[idx];
        }
}

/* wt (KH x KW x F x C) <- w (KH x KW x C x F) turned half a turn and
 * with its channel and filter axes swapped: the kernel of the transposed
 * convolution that gives a stride-1 convolution's input gradient. */
__kernel void flip_weights(__global const float *w, __global float *wt,
                           const int KH, const int KW, const int C,
                           const int F)
{
    const int n = get_global_id(0);
    if (n >= KH * KW * C * F)
        return;
    const int f = n % F, c = (n / F) % C, tap = n / (F * C);
    const int flipped = KH * KW - 1 - tap;
    wt[(flipped * F + f) * C + c] = w[n];
}

/* The forward product without the column matrix, for the vector GEMM
 * family: y[p][f] = epilogue(sum over taps and channels of the input value
 * under the tap of pixel p's window times w[k][f]), for output pixels p
 * in [0, P). A work-item owns TM pixels by NV x 16 filters, like gemm_nn
 * with A read straight from x. A tap that every pixel of the tile reaches
 * inside x runs a loop without bounds tests (conv2 forward on PoCL: 8.2-8.5
 * -> 6.7-7.5 ms); one that none reaches is skipped (the transposed
 * convolution's padding). bias and epi as gemm.cl's epilogue. */
__kernel void conv_forward(__global const float *x, __global const float *w,
                           __global float *y, const int P, const int F,
                           __global const float *bias, const int epi,
                           const int H, const int W, const int C,
                           const int KH, const int KW, const int SH,
                           const int SW, const int PT, const int PL,
                           const int OH, const int OW)
{
    const int j0 = get_global_id(0) * COLS, i0 = get_global_id(1) * TM;
    if (j0 >= F || i0 >= P)
        return;
    const int rows = min(TM, P - i0);
    /* rows past P repeat pixel P-1 and are never stored */
    int y0[TM], x0[TM];
    __global const float *xb[TM];
    _Pragma("unroll") for (int ii = 0; ii < TM; ii++) {
        const int p = min(i0 + ii, P - 1);
        const int ox = p % OW, oy = (p / OW) % OH, b = p / (OW * OH);
        y0[ii] = oy * SH - PT;
        x0[ii] = ox * SW - PL;
        xb[ii] = x + b * H * W * C;
    }
    if (j0 + COLS <= F) {
        float16 acc[TM][NV];
        _Pragma("unroll") for (int ii = 0; ii < TM; ii++)
            _Pragma("unroll") for (int v = 0; v < NV; v++)
                acc[ii][v] = (float16)(0.0f);
        for (int ky = 0; ky < KH; ky++)
            for (int kx = 0; kx < KW; kx++) {
                __global const float *src[TM];
                int ok[TM];
                _Pragma("unroll") for (int ii = 0; ii < TM; ii++) {
                    const int iy = y0[ii] + ky, ix = x0[ii] + kx;
                    ok[ii] = (uint)iy < (uint)H && (uint)ix < (uint)W;
                    src[ii] = xb[ii] + (ok[ii] ? (iy * W + ix) * C : 0);
                }
                int any = 0, all = 1;
                _Pragma("unroll") for (int ii = 0; ii < TM; ii++) {
                    any |= ok[ii];
                    all &= ok[ii];
                }
                __global const float *wk = w + (ky * KW + kx) * C * F + j0;
                if (all)
                    for (int c = 0; c < C; c++)
                        TILE_TERMS(wk + c * F, src[ii][c])
                else if (any)
                    for (int c = 0; c < C; c++)
                        TILE_TERMS(wk + c * F, ok[ii] ? src[ii][c] : 0.0f)
            }
        for (int ii = 0; ii < rows; ii++)
            _Pragma("unroll") for (int v = 0; v < NV; v++) {
                float16 out = acc[ii][v];
                if (epi & EPI_BIAS)
                    out += vload16(v, bias + j0);
                if (epi & EPI_RELU)
                    out = fmax(out, (float16)(0.0f));
                vstore16(out, v, y + (i0 + ii) * F + j0);
            }
        return;
    }
    for (int ii = 0; ii < rows; ii++)
        for (int j = j0; j < F; j++) {
            float s = 0.0f;
            for (int ky = 0; ky < KH; ky++)
                for (int kx = 0; kx < KW; kx++) {
                    const int iy = y0[ii] + ky, ix = x0[ii] + kx;
                    if ((uint)iy >= (uint)H || (uint)ix >= (uint)W)
                        continue;
                    for (int c = 0; c < C; c++)
                        s += xb[ii][(iy * W + ix) * C + c] *
                             w[((ky * KW + kx) * C + c) * F + j];
                }
            y[(i0 + ii) * F + j] = epilogue(s, bias, j, epi);
        }
}
#endif
