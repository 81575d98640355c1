/* conv2d computed directly, for small receptive fields (KH*KW*C <= 32, as
 * in a first layer): no im2col matrix, whose rows would be nine values
 * long. NHWC; weights K x F with K running (ky, kx, c). The window (DKH x
 * DKW over DC channels) comes from the build options, so a receptive field
 * is a fixed-size array the compiler keeps in registers; the kernels take
 * the whole geometry as every window kernel does (ocl_window_args), and
 * their C, KH and KW equal DC, DKH and DKW. Work-items take 16 filters at
 * a time as float16 vectors. */
#define DK (DKH * DKW * DC)
#define FPX 4 /* output pixels per forward work-item */

/* The receptive field of output pixel p (zeros for padding, and for p
 * past P) into f[DK]. */
void field(__global const float *x, const int p, const int P, const int H,
           const int W, const int SH, const int SW, const int PT,
           const int PL, const int OH, const int OW, float *f)
{
    const int ox = p % OW, oy = (p / OW) % OH, b = p / (OW * OH);
    __global const float *xb = x + b * H * W * DC;
    _Pragma("unroll") for (int ky = 0; ky < DKH; ky++) {
        const int iy = oy * SH - PT + ky;
        _Pragma("unroll") for (int kx = 0; kx < DKW; kx++) {
            const int ix = ox * SW - PL + kx;
            const int in = p < P && iy >= 0 && iy < H && ix >= 0 && ix < W;
            _Pragma("unroll") for (int c = 0; c < DC; c++)
                f[(ky * DKW + kx) * DC + c] =
                    in ? xb[(iy * W + ix) * DC + c] : 0.0f;
        }
    }
}

/* y = relu?(x * w + b) for pixels [0, P): a work-item per FPX pixels, all
 * filters, 16 at a time (the last ones scalar if F is not a multiple of
 * 16). */
__kernel void direct_forward(__global const float *x, __global const float *w,
                             __global const float *bias, __global float *y,
                             const int P, const int F, const int relu,
                             const int H, const int W, const int C,
                             const int KH, const int KW, const int SH,
                             const int SW, const int PT, const int PL,
                             const int OH, const int OW)
{
    const int p0 = get_global_id(0) * FPX;
    if (p0 >= P)
        return;
    const int n = min(FPX, P - p0);
    float f[FPX][DK];
    _Pragma("unroll") for (int q = 0; q < FPX; q++)
        field(x, p0 + q, P, H, W, SH, SW, PT, PL, OH, OW, f[q]);
    int f0 = 0;
    for (; f0 + 16 <= F; f0 += 16) {
        float16 acc[FPX];
        const float16 b = vload16(0, bias + f0);
        _Pragma("unroll") for (int q = 0; q < FPX; q++)
            acc[q] = b;
        _Pragma("unroll") for (int k = 0; k < DK; k++) {
            const float16 wk = vload16(0, w + k * F + f0);
            _Pragma("unroll") for (int q = 0; q < FPX; q++)
                acc[q] = fma((float16)(f[q][k]), wk, acc[q]);
        }
        for (int q = 0; q < n; q++)
            vstore16(relu ? fmax(acc[q], (float16)(0.0f)) : acc[q], 0,
                     y + (p0 + q) * F + f0);
    }
    for (; f0 < F; f0++)
        for (int q = 0; q < n; q++) {
            float acc = bias[f0];
            for (int k = 0; k < DK; k++)
                acc += f[q][k] * w[k * F + f0];
            y[(p0 + q) * F + f0] = relu ? fmax(acc, 0.0f) : acc;
        }
}

/* The receptive field of the output pixel at (b, oy, ox) into f[DK]. */
void field_at(__global const float *x, const int b, const int oy,
              const int ox, const int H, const int W, const int SH,
              const int SW, const int PT, const int PL, float *f)
{
    __global const float *xb = x + b * H * W * DC;
    _Pragma("unroll") for (int ky = 0; ky < DKH; ky++) {
        const int iy = oy * SH - PT + ky;
        _Pragma("unroll") for (int kx = 0; kx < DKW; kx++) {
            const int ix = ox * SW - PL + kx;
            const int in = iy >= 0 && iy < H && ix >= 0 && ix < W;
            _Pragma("unroll") for (int c = 0; c < DC; c++)
                f[(ky * DKW + kx) * DC + c] =
                    in ? xb[(iy * W + ix) * DC + c] : 0.0f;
        }
    }
}

/* Partial weight and bias gradients: work-item (block, s) sums pixels
 * [s ps, s ps + ps) for filters f0 .. f0+BF-1 (BF = 32: two vectors, so a
 * receptive field gathered once serves both) into slice s of parts: the
 * slices' K x F weight blocks come first, then their F biases each
 * (sum_slices adds the slices up). With relu, dy is masked by y > 0 on the
 * fly and, when store, written back (the input gradient reads it). */
#define BF 32
__kernel void direct_backward(__global const float *x, __global const float *y,
                              __global float *dy, __global float *parts,
                              const int P, const int F, const int relu,
                              const int store, const int ps,
                              const int H, const int W, const int C,
                              const int KH, const int KW, const int SH,
                              const int SW, const int PT, const int PL,
                              const int OH, const int OW)
{
    const int f0 = get_global_id(0) * BF, s = get_global_id(1);
    if (f0 >= F)
        return;
    const int p0 = s * ps, p1 = min(P, p0 + ps);
    __global float *pw = parts + s * DK * F;
    __global float *pb = parts + get_global_size(1) * DK * F + s * F;
    float f[DK];
    /* the pixel's position, stepped along instead of divided out */
    int ox = p0 % OW, oy = (p0 / OW) % OH, b = p0 / (OW * OH);
    if (f0 + BF <= F) {
        float16 acc[DK][2], accb[2] = {(float16)(0.0f), (float16)(0.0f)};
        _Pragma("unroll") for (int k = 0; k < DK; k++)
            acc[k][0] = acc[k][1] = (float16)(0.0f);
        for (int p = p0; p < p1; p++) {
            float16 d[2];
            _Pragma("unroll") for (int v = 0; v < 2; v++) {
                d[v] = vload16(v, dy + p * F + f0);
                if (relu) {
                    d[v] = select((float16)(0.0f), d[v],
                                  vload16(v, y + p * F + f0) > 0.0f);
                    if (store)
                        vstore16(d[v], v, dy + p * F + f0);
                }
                accb[v] += d[v];
            }
            field_at(x, b, oy, ox, H, W, SH, SW, PT, PL, f);
            _Pragma("unroll") for (int k = 0; k < DK; k++)
                _Pragma("unroll") for (int v = 0; v < 2; v++)
                    acc[k][v] = fma((float16)(f[k]), d[v], acc[k][v]);
            if (++ox == OW) {
                ox = 0;
                if (++oy == OH)
                    oy = 0, b++;
            }
        }
        _Pragma("unroll") for (int k = 0; k < DK; k++)
            _Pragma("unroll") for (int v = 0; v < 2; v++)
                vstore16(acc[k][v], v, pw + k * F + f0);
        vstore16(accb[0], 0, pb + f0);
        vstore16(accb[1], 1, pb + f0);
        return;
    }
    for (int j = f0; j < F; j++) {
        for (int k = 0; k < DK; k++)
            pw[k * F + j] = 0.0f;
        pb[j] = 0.0f;
    }
    for (int p = p0; p < p1; p++) {
        field_at(x, b, oy, ox, H, W, SH, SW, PT, PL, f);
        for (int j = f0; j < F; j++) {
            float d = dy[p * F + j];
            if (relu && !(y[p * F + j] > 0.0f)) {
                d = 0.0f;
                if (store)
                    dy[p * F + j] = 0.0f;
            }
            for (int k = 0; k < DK; k++)
                pw[k * F + j] += f[k] * d;
            pb[j] += d;
        }
        if (++ox == OW) {
            ox = 0;
            if (++oy == OH)
                oy = 0, b++;
        }
    }
}

/* dx, a work-item per input value: the sum over the outputs whose window
 * covers it (needs window.cl's covering()). */
__kernel void direct_input_grad(__global const float *dy,
                                __global const float *w, __global float *dx,
                                const int n, const int F,
                                const int H, const int W, const int C,
                                const int KH, const int KW, const int SH,
                                const int SW, const int PT, const int PL,
                                const int OH, const int OW)
{
    const int i = get_global_id(0);
    if (i >= n * H * W * DC)
        return;
    const int c = i % DC, q = i / DC;
    const int ix = q % W, iy = (q / W) % H, b = q / (W * H);
    int oy0, oy1, ox0, ox1;
    covering(iy, DKH, SH, PT, OH, &oy0, &oy1);
    covering(ix, DKW, SW, PL, OW, &ox0, &ox1);
    float s = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++)
        for (int ox = ox0; ox <= ox1; ox++) {
            const int tap = (iy + PT - oy * SH) * DKW + ix + PL - ox * SW;
            __global const float *g = dy + ((b * OH + oy) * OW + ox) * F;
            __global const float *wr = w + (tap * DC + c) * F;
            for (int j = 0; j < F; j++)
                s += g[j] * wr[j];
        }
    dx[i] = s;
}
