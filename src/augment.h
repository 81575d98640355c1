/* Training-time augmentation of the train line (random_crop=, flip=,
 * translate=): each sample's shift and flip drawn from Philox keyed by
 * the run's seed, the epoch and the sample's index in the data set, so
 * the same on every backend and thread count. Done on the host, by the
 * loader's thread (loader.h), on the pixel bytes. */
#ifndef CLNET_AUGMENT_H
#define CLNET_AUGMENT_H

#include <stdint.h>

typedef struct {
    int32_t crop;     /* pad by this many zeros a side, take a random
                         window of the image's size (0: none) */
    int32_t flip;     /* 1: mirror left-right with probability 1/2 */
    double translate; /* shift by up to this fraction of the height and
                         width each way, zeros filling (0: none) */
} clnet_augment;

static inline int clnet_augment_on(const clnet_augment *a)
{
    return a->crop > 0 || a->flip || a->translate > 0;
}

/* dst = sample `index` of epoch `epoch` augmented from src (H x W x C
 * bytes); dst and src do not overlap. */
void clnet_augment_sample(const clnet_augment *a, uint64_t seed,
                          int32_t epoch, int32_t index, const uint8_t *src,
                          uint8_t *dst, int32_t H, int32_t W, int32_t C);

#endif
