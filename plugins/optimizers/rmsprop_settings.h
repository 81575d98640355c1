/* rmsprop's settings (Keras's names and defaults), shared by every
 * backend. */
#ifndef CLNET_RMSPROP_SETTINGS_H
#define CLNET_RMSPROP_SETTINGS_H
#include "clnet/plugin.h"

enum {
    RMSPROP_LR,
    RMSPROP_RHO,
    RMSPROP_MOMENTUM,
    RMSPROP_EPSILON,
    RMSPROP_CENTERED,
    RMSPROP_NSETTINGS
};
/* The state tensors of each parameter, in this order: velocity always;
 * momentum and average_gradient only move when momentum > 0 and with
 * centered=true, but the slot count is fixed per plugin. */
enum { RMSPROP_VELOCITY, RMSPROP_MOMENTUMS, RMSPROP_AVERAGE, RMSPROP_NSLOTS };
static const clnet_setting_spec rmsprop_settings[RMSPROP_NSETTINGS] = {
    {"lr", "learning_rate", CLNET_SET_FLOAT, "0.001", NULL, 0, 10},
    /* rho = 1 would never move the velocity off 0 */
    {"rho", NULL, CLNET_SET_FLOAT, "0.9", NULL, 0, 0.999999},
    {"momentum", NULL, CLNET_SET_FLOAT, "0", NULL, 0, 0.999999},
    {"epsilon", NULL, CLNET_SET_FLOAT, "1e-7", NULL, 0, 1},
    {"centered", NULL, CLNET_SET_CHOICE, "false", "false|true", 0, 0},
};
#endif
