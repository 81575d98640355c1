/* Augmentation (augment.h): a zero-filled shift (random crop after
 * padding, and random translation, add up) and a left-right flip. */
#include "augment.h"

#include <string.h>

#include "clnet/philox.h"

#define STREAM 0xA0600000u /* Philox streams of augmentation, by draw */

/* Uniform whole number in [lo, hi]. */
static int32_t draw(uint64_t seed, int k, int32_t epoch, int32_t index,
                    int32_t lo, int32_t hi)
{
    uint32_t r = clnet_philox(seed, STREAM + (uint32_t)k, (uint64_t)epoch,
                              (uint32_t)index);
    return lo + (int32_t)((uint64_t)r * (uint64_t)(hi - lo + 1) >> 32);
}

void clnet_augment_sample(const clnet_augment *a, uint64_t seed,
                          int32_t epoch, int32_t index, const uint8_t *src,
                          uint8_t *dst, int32_t H, int32_t W, int32_t C)
{
    int32_t dy = 0, dx = 0;
    if (a->crop > 0) {
        dy += draw(seed, 0, epoch, index, -a->crop, a->crop);
        dx += draw(seed, 1, epoch, index, -a->crop, a->crop);
    }
    if (a->translate > 0) {
        int32_t ty = (int32_t)(a->translate * H + 0.5);
        int32_t tx = (int32_t)(a->translate * W + 0.5);
        dy += draw(seed, 2, epoch, index, -ty, ty);
        dx += draw(seed, 3, epoch, index, -tx, tx);
    }
    int flip = a->flip && draw(seed, 4, epoch, index, 0, 1);
    size_t row = (size_t)W * (size_t)C;
    for (int32_t y = 0; y < H; y++) {
        uint8_t *out = dst + (size_t)y * row;
        int32_t sy = y + dy;
        if (sy < 0 || sy >= H) {
            memset(out, 0, row);
            continue;
        }
        const uint8_t *in = src + (size_t)sy * row;
        for (int32_t x = 0; x < W; x++) {
            int32_t sx = (flip ? W - 1 - x : x) + dx;
            uint8_t *o = out + (size_t)x * C;
            if (sx < 0 || sx >= W)
                memset(o, 0, (size_t)C);
            else
                memcpy(o, in + (size_t)sx * C, (size_t)C);
        }
    }
}
