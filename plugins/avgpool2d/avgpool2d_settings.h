/* avgpool2d's settings, shared by its kind and every backend's
 * implementation: Keras's AveragePooling2D. */
#ifndef CLNET_AVGPOOL2D_SETTINGS_H
#define CLNET_AVGPOOL2D_SETTINGS_H
#include "../common/window.h"
#include "clnet/plugin.h"

enum { AVGPOOL_POOL, AVGPOOL_STRIDES, AVGPOOL_PADDING, AVGPOOL_NSETTINGS };

/* strides=0 means "the pool size", Keras's default. */
static const clnet_setting_spec avgpool2d_settings[AVGPOOL_NSETTINGS] = {
    {"pool", "pool_size", CLNET_SET_SIZE2, "2", NULL, 1, 1024},
    {"strides", NULL, CLNET_SET_SIZE2, "0", NULL, 0, 1024},
    {"padding", NULL, CLNET_SET_CHOICE, "valid", "valid|same", 0, 0},
};

/* The geometry settings v give on input `in` (strides default to the
 * pool size). */
static inline int avgpool2d_window(const clnet_value *v, clnet_shape in,
                                   clnet_window *g, char *err)
{
    int32_t ph = v[AVGPOOL_POOL].i[0], pw = v[AVGPOOL_POOL].i[1];
    return window_geometry(
        in, ph, pw, v[AVGPOOL_STRIDES].i[0] ? v[AVGPOOL_STRIDES].i[0] : ph,
        v[AVGPOOL_STRIDES].i[1] ? v[AVGPOOL_STRIDES].i[1] : pw,
        v[AVGPOOL_PADDING].i[0] == 1, "pool", g, err);
}

/* How many of the KH (or KW) taps of output o's window along one axis fall
 * inside the input (n values, padding p before it, stride s): what the
 * average divides by, so that padding counts for nothing, as Keras (TF,
 * JAX) does with padding=same. Always >= 1 for Keras's geometry. */
static inline int32_t avgpool2d_taps(int32_t o, int32_t k, int32_t s,
                                     int32_t p, int32_t n)
{
    int32_t lo = o * s - p, hi = lo + k;
    lo = lo > 0 ? lo : 0;
    hi = hi < n ? hi : n;
    return hi > lo ? hi - lo : 0;
}
#endif
