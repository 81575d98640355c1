/* depthwise_conv2d (plugins/depthwise_conv2d), NHWC: output channel
 * o = c * DM + m is input channel c convolved with filter m; the kernel
 * is [kh][kw][C][DM], so tap t's weights are the row w[t * CO ...] in
 * output-channel order. The window's size (DKH x DKW) and the depth
 * multiplier DM come from the build options, the rest of the geometry
 * from the arguments every window kernel takes (ocl_window_args); their
 * KH and KW equal DKH and DKW. The forward pass and the input gradient
 * take a work-item per value; the kernel and bias gradients are summed
 * per work-group over a slice of pixels, in local memory in a fixed
 * order, and the slices then added up in order by reduce.cl's
 * sum_slices: no atomics, the same result on every run. */

/* y, a work-item per output value: bias (when has_bias) plus the taps
 * inside the input, then the activation act when it is elementwise
 * (activation.cl's act_apply with act_default_alpha's parameter; softmax,
 * act 2, is softmax_rows's, after). With store_pre the sums before the
 * activation go to pre as well (gelu's and swish's gradients need them).
 * n: values in y. */
__kernel void dw_forward(__global const float *x, __global const float *w,
                         __global const float *bias, __global float *y,
                         __global float *pre, const int n, const int CO,
                         const int has_bias, const int act,
                         const int store_pre, const int H, const int W,
                         const int C, const int KH, const int KW,
                         const int SH, const int SW, const int PT,
                         const int PL, const int OH, const int OW)
{
    const size_t gi = get_global_id(0);
    if (gi >= (size_t)n)
        return;
    const int i = (int)gi;
    const int o = i % CO, q = i / CO, c = o / DM;
    const int ox = q % OW, oy = (q / OW) % OH, b = q / (OW * OH);
    __global const float *xb = x + b * H * W * C + c;
    float acc = has_bias ? bias[o] : 0.0f;
    _Pragma("unroll") for (int ky = 0; ky < DKH; ky++) {
        const int iy = oy * SH - PT + ky;
        if (iy < 0 || iy >= H)
            continue;
        _Pragma("unroll") for (int kx = 0; kx < DKW; kx++) {
            const int ix = ox * SW - PL + kx;
            if (ix >= 0 && ix < W)
                acc = fma(xb[(iy * W + ix) * C], w[(ky * DKW + kx) * CO + o],
                          acc);
        }
    }
    if (store_pre)
        pre[i] = acc;
    y[i] = act == 1   ? fmax(acc, 0.0f)
           : act >= 3 ? act_apply(act, acc, act_default_alpha(act))
                      : acc;
}

/* dx, a work-item per input value of the batch's `batch` images: the sum
 * over the outputs whose window covers it and over the DM filters of its
 * channel (needs window.cl's covering()). */
__kernel void dw_input_grad(__global const float *dy,
                            __global const float *w, __global float *dx,
                            const int batch, const int CO, const int H,
                            const int W, const int C, const int KH,
                            const int KW, const int SH, const int SW,
                            const int PT, const int PL, const int OH,
                            const int OW)
{
    const size_t gi = get_global_id(0);
    if (gi >= (size_t)batch * H * W * C)
        return;
    const int i = (int)gi;
    const int c = i % C, q = i / C;
    const int ix = q % W, iy = (q / W) % H, b = q / (W * H);
    int oy0, oy1, ox0, ox1;
    covering(iy, DKH, SH, PT, OH, &oy0, &oy1);
    covering(ix, DKW, SW, PL, OW, &ox0, &ox1);
    float s = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++)
        for (int ox = ox0; ox <= ox1; ox++) {
            const int tap = (iy + PT - oy * SH) * DKW + ix + PL - ox * SW;
            __global const float *g =
                dy + ((b * OH + oy) * OW + ox) * CO + c * DM;
            __global const float *wr = w + tap * CO + c * DM;
            _Pragma("unroll") for (int m = 0; m < DM; m++)
                s = fma(g[m], wr[m], s);
        }
    dx[i] = s;
}

/* Partial kernel and bias gradients. Value j < KH KW CO is tap j / CO of
 * output channel j % CO, and with has_bias the next CO values are the
 * biases. Work-group (j block, s) sums pixels [s ps, s ps + ps) of the
 * P = batch OH OW output pixels: its LY rows of work-items take every
 * LY-th pixel, and their sums are added in local memory in a fixed tree.
 * Slice s's kernel values go to parts[s KH KW CO + j], its biases after
 * all slices' kernels, to parts[slices KH KW CO + s CO + o]. */
__kernel __attribute__((reqd_work_group_size(LX, LY, 1))) void
dw_grad_partials(__global const float *x, __global const float *dy,
                 __global float *parts, const int P, const int CO,
                 const int has_bias, const int ps, const int H, const int W,
                 const int C, const int KH, const int KW, const int SH,
                 const int SW, const int PT, const int PL, const int OH,
                 const int OW)
{
    __local float red[LY][LX];
    const int lx = get_local_id(0), ly = get_local_id(1);
    const int s = get_group_id(1), slices = get_num_groups(1);
    const int TC = DKH * DKW * CO, NV = TC + (has_bias ? CO : 0);
    const int j = get_global_id(0);
    float acc = 0.0f;
    if (j < NV) {
        const int tap = j / CO, o = j % CO, c = o / DM;
        const int isbias = tap == DKH * DKW;
        const int ky = isbias ? 0 : tap / DKW, kx = isbias ? 0 : tap % DKW;
        const int p0 = s * ps + ly, p1 = min(P, s * ps + ps);
        /* pixel p's position, stepped along instead of divided out */
        int ox = p0 % OW, oy = (p0 / OW) % OH, b = p0 / (OW * OH);
        for (int p = p0; p < p1; p += LY) {
            const float d = dy[p * CO + o];
            if (isbias) {
                acc += d;
            } else {
                const int iy = oy * SH - PT + ky, ix = ox * SW - PL + kx;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                    acc = fma(x[((b * H + iy) * W + ix) * C + c], d, acc);
            }
            ox += LY;
            while (ox >= OW) {
                ox -= OW;
                if (++oy == OH)
                    oy = 0, b++;
            }
        }
    }
    red[ly][lx] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = LY / 2; h > 0; h /= 2) {
        if (ly < h)
            red[ly][lx] += red[ly + h][lx];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (ly == 0 && j < NV) {
        if (j < TC)
            parts[s * TC + j] = red[0][lx];
        else
            parts[slices * TC + s * CO + j - TC] = red[0][lx];
    }
}
