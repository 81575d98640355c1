/* global_avgpool2d and global_maxpool2d (Keras's GlobalAveragePooling2D
 * and GlobalMaxPooling2D, keepdims=False): one source per backend, built
 * once per kind with GLOBAL_POOL_MAX 0 (average) or 1 (maximum). The
 * output is 1 x 1 x C: each channel's mean, or maximum, over the h x w
 * positions. Maximum's gradient goes to the first position holding the
 * maximum, in row-major order (y, then x), as maxpool2d's does (its
 * windows scan the same way and replace only on a strictly greater value);
 * Keras's own backends may split it among equal maxima instead. No
 * settings. */
#ifndef CLNET_GLOBAL_POOL_H
#define CLNET_GLOBAL_POOL_H

#if !defined(GLOBAL_POOL_MAX)
#error "build with -DGLOBAL_POOL_MAX=0 (average) or 1 (maximum)"
#endif
#if GLOBAL_POOL_MAX
#define GLOBAL_POOL_KIND "global_maxpool2d"
#else
#define GLOBAL_POOL_KIND "global_avgpool2d"
#endif

#endif
