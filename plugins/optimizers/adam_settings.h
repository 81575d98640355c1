/* adam's settings (Keras's defaults), shared by every backend. */
#ifndef CLNET_ADAM_SETTINGS_H
#define CLNET_ADAM_SETTINGS_H
#include "clnet/plugin.h"

enum { ADAM_LR, ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON, ADAM_NSETTINGS };
static const clnet_setting_spec adam_settings[ADAM_NSETTINGS] = {
    {"lr", "learning_rate", CLNET_SET_FLOAT, "0.001", NULL, 0, 10},
    {"beta1", "beta_1", CLNET_SET_FLOAT, "0.9", NULL, 0, 0.999999},
    {"beta2", "beta_2", CLNET_SET_FLOAT, "0.999", NULL, 0, 0.999999},
    {"epsilon", NULL, CLNET_SET_FLOAT, "1e-7", NULL, 0, 1},
};
#endif
