/* dropout's settings, shared by every backend's implementation. */
#ifndef CLNET_DROPOUT_SETTINGS_H
#define CLNET_DROPOUT_SETTINGS_H
#include "clnet/plugin.h"

enum { DROPOUT_RATE, DROPOUT_NSETTINGS };
static const clnet_setting_spec dropout_settings[DROPOUT_NSETTINGS] = {
    {"rate", NULL, CLNET_SET_FLOAT, NULL, NULL, 0.0, 0.999},
};
#endif
