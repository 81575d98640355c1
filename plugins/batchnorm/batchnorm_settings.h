/* batchnorm's settings, shared by every backend's implementation: Keras
 * 3's BatchNormalization, with its names and defaults. The axis is always
 * the channel (last) axis, so it is not a setting. */
#ifndef CLNET_BATCHNORM_SETTINGS_H
#define CLNET_BATCHNORM_SETTINGS_H
#include "clnet/plugin.h"

enum {
    BN_MOMENTUM,
    BN_EPSILON,
    BN_CENTER,
    BN_SCALE,
    BN_NSETTINGS
};

/* CHOICE index of "true" in center= and scale= */
#define BN_TRUE 0

static const clnet_setting_spec batchnorm_settings[BN_NSETTINGS] = {
    {"momentum", NULL, CLNET_SET_FLOAT, "0.99", NULL, 0.0, 1.0},
    {"epsilon", NULL, CLNET_SET_FLOAT, "1e-3", NULL, 1e-12, 1e6},
    {"center", NULL, CLNET_SET_CHOICE, "true", "true|false", 0, 0},
    {"scale", NULL, CLNET_SET_CHOICE, "true", "true|false", 0, 0},
};

/* Where each parameter sits in plan.params (and in bind's arrays): gamma
 * when scale, beta when center, then the moving statistics; -1 for a
 * parameter the layer does not have. */
typedef struct {
    int gamma, beta, mean, var, n;
} bn_param_slots;

static inline bn_param_slots bn_slots(const clnet_value *settings)
{
    bn_param_slots s = {-1, -1, 0, 0, 0};
    if (settings[BN_SCALE].i[0] == BN_TRUE)
        s.gamma = s.n++;
    if (settings[BN_CENTER].i[0] == BN_TRUE)
        s.beta = s.n++;
    s.mean = s.n++;
    s.var = s.n++;
    return s;
}

/* FLOPs per element of the implementations (batchnorm_cpu.c,
 * cl/batchnorm.cl), in a training step. Forward: the statistics (x - shift,
 * its sum, its square and that sum: 4) and y = (x - mean) a + b (3; an
 * inference pass does only these 3). Backward: the sums (x - mean, dy's
 * sum, dy (x - mean) and that sum: 4) and dx = a dy + b (x - mean) + d (a
 * subtraction and two multiply-adds: 5). Per-channel work (C values, not
 * per element) is left out. */
#define BN_FLOPS_FORWARD 7.0
#define BN_FLOPS_BACKWARD 9.0
#endif
