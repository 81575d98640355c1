/* 16-float vectors (the GCC and Clang vector extension) for the native
 * CPU plugins' register tiles: one AVX-512 register each, two AVX2 ones
 * where the build has no AVX-512. */
#ifndef CLNET_VEC16_H
#define CLNET_VEC16_H

#include <stdint.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

/* aligned(4): a vector may be read or written at any float's address (a
 * row of a layer starts wherever its buffer and its width put it) */
typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef int32_t i16v __attribute__((vector_size(64), aligned(4)));

/* o with its negative values (and NaNs) replaced by zeros; a macro, as a
 * function passing a v16 by value draws gcc's note on AVX-512 calling
 * conventions in builds without AVX-512 */
#define V16_RELU(o) ((v16)((i16v)(o) & ((o) > (v16){0})))

/* Stores o at dst without reading dst's cache line first, where the
 * build has AVX-512 and dst is 64-byte aligned: for outputs of tens of
 * megabytes, which a plain store would first fetch from memory. Call
 * v16_stream_fence before other threads read what was stored. o is passed
 * by address for the reason V16_RELU is a macro. */
static inline void v16_stream(float *dst, const v16 *o) {
#ifdef __AVX512F__
    if (((uintptr_t)dst & 63) == 0) {
        _mm512_stream_ps(dst, (__m512)*o);
        return;
    }
#endif
    *(v16 *)dst = *o;
}

static inline void v16_stream_fence(void) {
#ifdef __AVX512F__
    _mm_sfence();
#endif
}

#endif
