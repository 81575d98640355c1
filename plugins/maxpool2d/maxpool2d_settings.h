/* maxpool2d's settings, shared by every backend's implementation. */
#ifndef CLNET_MAXPOOL2D_SETTINGS_H
#define CLNET_MAXPOOL2D_SETTINGS_H
#include "../common/window.h"
#include "clnet/plugin.h"

enum { POOL_POOL, POOL_STRIDES, POOL_PADDING, POOL_NSETTINGS };

/* strides=0 means "the pool size", Keras's default. */
static const clnet_setting_spec maxpool2d_settings[POOL_NSETTINGS] = {
    {"pool", "pool_size", CLNET_SET_SIZE2, "2", NULL, 1, 1024},
    {"strides", NULL, CLNET_SET_SIZE2, "0", NULL, 0, 1024},
    {"padding", NULL, CLNET_SET_CHOICE, "valid", "valid|same", 0, 0},
};

/* The geometry settings v give on input `in` (strides default to the
 * pool size). */
static inline int maxpool2d_window(const clnet_value *v, clnet_shape in,
                                   clnet_window *g, char *err)
{
    int32_t ph = v[POOL_POOL].i[0], pw = v[POOL_POOL].i[1];
    return window_geometry(in, ph, pw,
                           v[POOL_STRIDES].i[0] ? v[POOL_STRIDES].i[0] : ph,
                           v[POOL_STRIDES].i[1] ? v[POOL_STRIDES].i[1] : pw,
                           v[POOL_PADDING].i[0] == 1, "pool", g, err);
}
#endif
