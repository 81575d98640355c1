/* Philox4x32-10 counter-based random numbers (Salmon et al., SC'11).
 *
 * A draw is a pure function of (seed, stream, step, index), so any backend
 * computes the same dropout mask for the same element without sharing
 * generator state, and a backward pass can recompute the forward's mask
 * instead of storing it. The OpenCL kernels in cl/ must compute the same
 * function bit for bit.
 */
#ifndef CLNET_PHILOX_H
#define CLNET_PHILOX_H

#include <stdint.h>

static inline uint32_t clnet_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

/* First of the four 32-bit outputs of Philox4x32-10. */
static inline uint32_t clnet_philox(uint64_t seed, uint32_t stream,
                                    uint64_t step, uint32_t index)
{
    uint32_t c0 = index, c1 = stream, c2 = (uint32_t)step,
             c3 = (uint32_t)(step >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = clnet_mulhilo32(0xD2511F53u, c0, &hi0);
        uint32_t lo1 = clnet_mulhilo32(0xCD9E8D57u, c2, &hi1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c0;
}

/* Uniform in [0, 1) with 24 bits, exactly representable in float. */
static inline float clnet_philox_uniform(uint64_t seed, uint32_t stream,
                                         uint64_t step, uint32_t index)
{
    return (float)(clnet_philox(seed, stream, step, index) >> 8) *
           (1.0f / 16777216.0f);
}

#endif
