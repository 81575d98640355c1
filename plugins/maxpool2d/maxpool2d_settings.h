/* maxpool2d's settings, shared by every backend's implementation. */
#ifndef CLNET_MAXPOOL2D_SETTINGS_H
#define CLNET_MAXPOOL2D_SETTINGS_H
#include "clnet/plugin.h"

enum { POOL_POOL, POOL_STRIDES, POOL_PADDING, POOL_NSETTINGS };

/* strides=0 means "the pool size", Keras's default. */
static const clnet_setting_spec maxpool2d_settings[POOL_NSETTINGS] = {
    {"pool", "pool_size", CLNET_SET_SIZE2, "2", NULL, 1, 1024},
    {"strides", NULL, CLNET_SET_SIZE2, "0", NULL, 0, 1024},
    {"padding", NULL, CLNET_SET_CHOICE, "valid", "valid|same", 0, 0},
};
#endif
