/* Helpers for the sliding-window kernels (conv2d, maxpool2d), NHWC.
 * Their kernels give a work-item one pixel and loop over its C channels 16
 * at a time: contiguous in NHWC, so CPU devices get whole vector loads and
 * the index arithmetic is paid once per pixel, not once per value. */

/* Along one axis, the outputs whose window (size k, stride s, padding p,
 * n outputs) covers input i: o in [*lo, *hi], empty when *lo > *hi; the
 * tap inside the window is i + p - o * s. */
void covering(const int i, const int k, const int s, const int p,
              const int n, int *lo, int *hi)
{
    const int t = i + p;
    *lo = t - k + 1 <= 0 ? 0 : (t - k + s) / s;
    *hi = min(t / s, n - 1);
}

/* dst[0..C) = src[0..C), or zeros when src is NULL. */
void copy_channels(__global float *dst, __global const float *src,
                   const int C)
{
    int c = 0;
    if (src) {
        for (; c + 16 <= C; c += 16)
            vstore16(vload16(0, src + c), 0, dst + c);
        for (; c < C; c++)
            dst[c] = src[c];
    } else {
        for (; c + 16 <= C; c += 16)
            vstore16((float16)(0.0f), 0, dst + c);
        for (; c < C; c++)
            dst[c] = 0.0f;
    }
}
