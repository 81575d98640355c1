/* adam's and adamw's settings (Keras's defaults), shared by every backend:
 * adamw is Adam with Keras's decoupled weight decay, its table adam's
 * with weight_decay after it. */
#ifndef CLNET_ADAM_SETTINGS_H
#define CLNET_ADAM_SETTINGS_H
#include "clnet/plugin.h"

enum {
    ADAM_LR,
    ADAM_BETA1,
    ADAM_BETA2,
    ADAM_EPSILON,
    ADAM_NSETTINGS,
    ADAMW_WEIGHT_DECAY = ADAM_NSETTINGS,
    ADAMW_NSETTINGS
};
#define ADAM_SETTING_ROWS                                                    \
    {"lr", "learning_rate", CLNET_SET_FLOAT, "0.001", NULL, 0, 10},          \
    {"beta1", "beta_1", CLNET_SET_FLOAT, "0.9", NULL, 0, 0.999999},          \
    {"beta2", "beta_2", CLNET_SET_FLOAT, "0.999", NULL, 0, 0.999999},        \
    {"epsilon", NULL, CLNET_SET_FLOAT, "1e-7", NULL, 0, 1}
static const clnet_setting_spec adam_settings[ADAM_NSETTINGS] = {
    ADAM_SETTING_ROWS};
static const clnet_setting_spec adamw_settings[ADAMW_NSETTINGS] = {
    ADAM_SETTING_ROWS,
    /* w -= lr * weight_decay * w before the Adam step */
    {"weight_decay", NULL, CLNET_SET_FLOAT, "0.004", NULL, 0, 1}};

/* One source per backend builds both kinds: -DADAMW gives adamw. */
#ifdef ADAMW
#define ADAM_KIND "adamw"
#define ADAM_SUMMARY \
    "AdamW: Adam with decoupled weight decay (Keras semantics and defaults)"
#define ADAM_TABLE adamw_settings
#define ADAM_TABLE_SIZE ADAMW_NSETTINGS
#else
#define ADAM_KIND "adam"
#define ADAM_SUMMARY "Adam (Keras semantics and defaults)"
#define ADAM_TABLE adam_settings
#define ADAM_TABLE_SIZE ADAM_NSETTINGS
#endif
#endif
