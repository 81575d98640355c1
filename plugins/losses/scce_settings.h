/* sparse_categorical_crossentropy's settings, shared by every backend. */
#ifndef CLNET_SCCE_SETTINGS_H
#define CLNET_SCCE_SETTINGS_H
#include "clnet/plugin.h"

enum { SCCE_LABEL_SMOOTHING, SCCE_NSETTINGS };
static const clnet_setting_spec scce_settings[SCCE_NSETTINGS] = {
    /* Keras's categorical_crossentropy label_smoothing: the target is
     * (1 - ls) onehot + ls / classes */
    {"label_smoothing", NULL, CLNET_SET_FLOAT, "0", NULL, 0, 1},
};
#endif
