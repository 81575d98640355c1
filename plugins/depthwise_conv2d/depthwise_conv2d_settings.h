/* depthwise_conv2d's settings, shared by its kind and every backend's
 * implementation: Keras 3's DepthwiseConv2D. Each input channel c has its
 * own depth_multiplier filters of kh x kw taps; output channel
 * c * depth_multiplier + m is channel c convolved with filter m. The
 * kernel is stored as Keras stores it, [kh][kw][channels][multiplier], so
 * for tap t = ky * kw + kx the weights of the C * multiplier outputs are
 * the contiguous row w[t * C * multiplier ...], in output-channel order. */
#ifndef CLNET_DEPTHWISE_CONV2D_SETTINGS_H
#define CLNET_DEPTHWISE_CONV2D_SETTINGS_H
#include "../common/activation.h"
#include "../common/window.h"
#include "clnet/plugin.h"

enum {
    DW_KERNEL,
    DW_STRIDES,
    DW_PADDING,
    DW_DEPTH_MULTIPLIER,
    DW_ACTIVATION,
    DW_USE_BIAS,
    DW_KERNEL_INITIALIZER,
    DW_NSETTINGS
};

/* use_bias's words: index 0 is true */
#define DW_USE_BIAS_TRUE 0

static const clnet_setting_spec depthwise_conv2d_settings[DW_NSETTINGS] = {
    {"kernel", "kernel_size", CLNET_SET_SIZE2, NULL, NULL, 1, 1024},
    {"strides", NULL, CLNET_SET_SIZE2, "1", NULL, 1, 1024},
    {"padding", NULL, CLNET_SET_CHOICE, "valid", "valid|same", 0, 0},
    {"depth_multiplier", NULL, CLNET_SET_INT, "1", NULL, 1, 65536},
    {"activation", NULL, CLNET_SET_CHOICE, "linear", CLNET_ACTIVATION_CHOICES,
     0, 0},
    {"use_bias", NULL, CLNET_SET_CHOICE, "true", "true|false", 0, 0},
    {"kernel_initializer", "depthwise_initializer", CLNET_SET_CHOICE,
     "glorot_uniform", CLNET_INIT_CHOICES, 0, 0},
};

/* What every implementation reads from its create arguments (the kind's
 * infer() has checked the sizes). */
typedef struct {
    clnet_window g;  /* input (C channels), kernel, strides, output */
    int32_t M, CO;   /* depth multiplier, output channels C * M */
    int32_t T;       /* taps, kh * kw */
    int32_t bias;    /* use_bias */
    int32_t act;     /* activation (activation.h) */
    int32_t fused;   /* softmax fused with the loss (plugin.h) */
    int32_t B;       /* largest batch */
} dw_layer;

/* The window geometry of these settings on input `in`. */
static inline int dw_window(const clnet_value *v, clnet_shape in,
                            clnet_window *g, char *err)
{
    return window_geometry(in, v[DW_KERNEL].i[0], v[DW_KERNEL].i[1],
                           v[DW_STRIDES].i[0], v[DW_STRIDES].i[1],
                           v[DW_PADDING].i[0] == 1, "kernel", g, err);
}

static inline int dw_read(const clnet_create_args *a, dw_layer *l, char *err)
{
    const clnet_value *v = a->settings;
    if (dw_window(v, a->in[0], &l->g, err))
        return -1;
    l->M = v[DW_DEPTH_MULTIPLIER].i[0];
    l->CO = a->plan->out.c;
    l->T = l->g.KH * l->g.KW;
    l->bias = v[DW_USE_BIAS].i[0] == DW_USE_BIAS_TRUE;
    l->act = v[DW_ACTIVATION].i[0];
    l->fused = a->fuse_softmax_loss;
    l->B = a->max_batch;
    return 0;
}
#endif
