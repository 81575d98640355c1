/* dense's settings, shared by every backend's implementation. */
#ifndef CLNET_DENSE_SETTINGS_H
#define CLNET_DENSE_SETTINGS_H
#include "../common/activation.h"
#include "clnet/plugin.h"

enum {
    DENSE_UNITS,
    DENSE_ACTIVATION,
    DENSE_KERNEL_INITIALIZER,
    DENSE_NSETTINGS
};

static const clnet_setting_spec dense_settings[DENSE_NSETTINGS] = {
    {"units", NULL, CLNET_SET_INT, NULL, NULL, 1, 1 << 24},
    {"activation", NULL, CLNET_SET_CHOICE, "linear", CLNET_ACTIVATION_CHOICES,
     0, 0},
    {"kernel_initializer", NULL, CLNET_SET_CHOICE, "glorot_uniform",
     CLNET_INIT_CHOICES, 0, 0},
};
#endif
