/* sgd's settings (Keras's defaults), shared by every backend. */
#ifndef CLNET_SGD_SETTINGS_H
#define CLNET_SGD_SETTINGS_H
#include "clnet/plugin.h"

enum { SGD_LR, SGD_MOMENTUM, SGD_NESTEROV, SGD_WEIGHT_DECAY, SGD_NSETTINGS };
static const clnet_setting_spec sgd_settings[SGD_NSETTINGS] = {
    {"lr", "learning_rate", CLNET_SET_FLOAT, "0.01", NULL, 0, 100},
    {"momentum", NULL, CLNET_SET_FLOAT, "0", NULL, 0, 0.999999},
    {"nesterov", NULL, CLNET_SET_CHOICE, "false", "false|true", 0, 0},
    /* Keras's decoupled decay: w -= lr * weight_decay * w before the step */
    {"weight_decay", NULL, CLNET_SET_FLOAT, "0", NULL, 0, 1},
};
#endif
