/* Size arithmetic that cannot overflow, for plugins' create(): products of
 * dimensions in 64 bits, capped at CLNET_MAX_ELEMENTS (plugin.h). */
#ifndef CLNET_SIZES_H
#define CLNET_SIZES_H

#include <stdint.h>

#include "clnet/plugin.h"

/* a * b, or -1 when either is negative (an earlier product that did not
 * fit) or the product passes CLNET_MAX_ELEMENTS; chains: a size of -1
 * stays -1. */
static inline int64_t size_mul(int64_t a, int64_t b)
{
    if (a < 0 || b < 0 || (a != 0 && b > CLNET_MAX_ELEMENTS / a))
        return -1;
    return a * b;
}

static inline int64_t size_mul3(int64_t a, int64_t b, int64_t c)
{
    return size_mul(size_mul(a, b), c);
}
#endif
