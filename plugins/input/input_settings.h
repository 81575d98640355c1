/* input's settings, shared by every backend's implementation. */
#ifndef CLNET_INPUT_SETTINGS_H
#define CLNET_INPUT_SETTINGS_H
#include "clnet/plugin.h"

enum { INPUT_SHAPE, INPUT_SCALE, INPUT_NSETTINGS };
static const clnet_setting_spec input_settings[INPUT_NSETTINGS] = {
    {"shape", NULL, CLNET_SET_SHAPE3, NULL, NULL, 1, 65536},
    {"scale", NULL, CLNET_SET_FLOAT, "0.00392156862745098", NULL, 0, 1e6},
};
#endif
