/* conv2d's settings, shared by every backend's implementation. */
#ifndef CLNET_CONV2D_SETTINGS_H
#define CLNET_CONV2D_SETTINGS_H
#include <stdio.h>

#include "../common/activation.h"
#include "../common/window.h"
#include "clnet/plugin.h"

enum {
    CONV_FILTERS,
    CONV_KERNEL,
    CONV_STRIDES,
    CONV_PADDING,
    CONV_ACTIVATION,
    CONV_KERNEL_INITIALIZER,
    CONV_DILATION,
    CONV_NSETTINGS
};

static const clnet_setting_spec conv2d_settings[CONV_NSETTINGS] = {
    {"filters", NULL, CLNET_SET_INT, NULL, NULL, 1, 65536},
    {"kernel", "kernel_size", CLNET_SET_SIZE2, NULL, NULL, 1, 1024},
    {"strides", NULL, CLNET_SET_SIZE2, "1", NULL, 1, 1024},
    {"padding", NULL, CLNET_SET_CHOICE, "valid", "valid|same", 0, 0},
    {"activation", NULL, CLNET_SET_CHOICE, "linear", CLNET_ACTIVATION_CHOICES,
     0, 0},
    {"kernel_initializer", NULL, CLNET_SET_CHOICE, "glorot_uniform",
     CLNET_INIT_CHOICES, 0, 0},
    {"dilation", "dilation_rate", CLNET_SET_SIZE2, "1", NULL, 1, 1024},
};

/* The geometry settings v give on input `in`. */
static inline int conv2d_window(const clnet_value *v, clnet_shape in,
                                clnet_window *g, char *err)
{
    const int32_t *d = v[CONV_DILATION].i;
    if ((d[0] > 1 || d[1] > 1) &&
        (v[CONV_STRIDES].i[0] > 1 || v[CONV_STRIDES].i[1] > 1)) {
        snprintf(err, CLNET_ERRLEN,
                 "strides %dx%d with dilation %dx%d: as in Keras, a "
                 "convolution strides or dilates, not both",
                 v[CONV_STRIDES].i[0], v[CONV_STRIDES].i[1], d[0], d[1]);
        return -1;
    }
    return window_geometry_dilated(
        in, v[CONV_KERNEL].i[0], v[CONV_KERNEL].i[1], v[CONV_STRIDES].i[0],
        v[CONV_STRIDES].i[1], d[0] ? d[0] : 1, d[1] ? d[1] : 1,
        v[CONV_PADDING].i[0] == 1, "kernel", g, err);
}

/* Which of a layer's figures passes CLNET_MAX_ELEMENTS, or NULL. In 64
 * bits, capped: 1024x1024 kernels over 2048 channels wrapped to a
 * receptive field the direct plugin took for a small one. */
static inline const char *conv2d_too_large(const clnet_window *g, int32_t F,
                                           int32_t B)
{
    int64_t K = clnet_size_mul(clnet_size_mul(g->KH, g->KW), g->C);
    int64_t P = clnet_size_mul(g->OH, g->OW);
    int64_t out = clnet_size_mul(clnet_size_mul(P, F), B);
    return K < 0                       ? "receptive field"
           : clnet_size_mul(K, F) < 0 ? "kernel"
           : out < 0                   ? "output"
           : clnet_size_mul(P, K) < 0  ? "im2col matrix"
                                       : NULL;
}

/* "the receptive field of this layer (...) has more than ..." into err. */
static inline int conv2d_refuse_size(const char *what, const clnet_window *g,
                                     int32_t F, int32_t B, char *err)
{
    snprintf(err, CLNET_ERRLEN,
             "the %s of this layer (kernel %dx%d, channels %d, "
             "filters %d, output %dx%d, batch %d) has more than %lld "
             "values; use a smaller kernel, fewer channels or filters, "
             "or a smaller batch",
             what, g->KH, g->KW, g->C, F, g->OH, g->OW, B,
             CLNET_MAX_ELEMENTS);
    return -1;
}

/* What every conv2d implementation reads from its create arguments. */
typedef struct {
    clnet_window g;   /* input, kernel, strides, output, padding */
    int32_t B, F;     /* largest batch, filters */
    int32_t K, P;     /* receptive field (kh * kw * channels), output pixels */
    int32_t act;      /* activation fused in the epilogue (activation.h) */
    int32_t post;     /* gelu or swish (act_needs_input), applied after
                       * the epilogue with its input kept; act is then
                       * linear. ACT_LINEAR: none */
    int32_t fused;    /* softmax fused with the loss (plugin.h) */
} conv2d_layer;

static inline int conv2d_read(const clnet_create_args *a, conv2d_layer *l,
                              char *err)
{
    l->B = a->max_batch;
    l->F = a->settings[CONV_FILTERS].i[0];
    l->act = a->settings[CONV_ACTIVATION].i[0];
    l->post = act_needs_input(l->act) ? l->act : ACT_LINEAR;
    if (l->post != ACT_LINEAR)
        l->act = ACT_LINEAR;
    l->fused = a->fuse_softmax_loss;
    if (conv2d_window(a->settings, a->in[0], &l->g, err))
        return -1;
    const char *what = conv2d_too_large(&l->g, l->F, l->B);
    if (what)
        return conv2d_refuse_size(what, &l->g, l->F, l->B, err);
    l->K = l->g.KH * l->g.KW * l->g.C;
    l->P = l->g.OH * l->g.OW;
    return 0;
}

/* Whether a layer's taps are dilated: only the im2col paths run it. */
static inline int conv2d_dilated(const clnet_window *g)
{
    return g->DH > 1 || g->DW > 1;
}

/* Whether the Winograd implementations (every backend) take a layer:
 * F(4x4, 3x3) needs a 3x3 kernel at stride 1, and their kernels work on
 * channels and filters in whole 16-float vectors. */
static inline int conv2d_winograd_fits(const conv2d_layer *l)
{
    return l->g.KH == 3 && l->g.KW == 3 && l->g.SH == 1 && l->g.SW == 1 &&
           !conv2d_dilated(&l->g) && l->g.C % 16 == 0 && l->F % 16 == 0;
}

/* The Winograd implementations' refusal of layer l (settings a), naming
 * each figure, into err (CLNET_ERRLEN bytes); returns -1. */
static inline int conv2d_winograd_refuse(const clnet_create_args *a,
                                         const conv2d_layer *l, char *err)
{
    snprintf(err, CLNET_ERRLEN,
             "the Winograd convolution takes 3x3 kernels at stride 1 with "
             "channels and filters in multiples of 16 (this layer: kernel "
             "%dx%d, strides %dx%d, channels %d, filters %d); use another "
             "conv2d implementation",
             a->settings[CONV_KERNEL].i[0], a->settings[CONV_KERNEL].i[1],
             a->settings[CONV_STRIDES].i[0], a->settings[CONV_STRIDES].i[1],
             a->in[0].c, l->F);
    return -1;
}

/* The direct implementations (every backend) take receptive fields of at
 * most this many values (kh * kw * channels): first layers on grey or RGB
 * images, where im2col rows are too short for a GEMM to run well. */
#define CONV_DIRECT_MAX_K 32

/* Whether settings ask for dilated taps (1x1 kernels have none to
 * dilate). */
static inline int conv2d_settings_dilated(const clnet_create_args *a)
{
    const clnet_value *v = a->settings;
    return (v[CONV_DILATION].i[0] > 1 && v[CONV_KERNEL].i[0] > 1) ||
           (v[CONV_DILATION].i[1] > 1 && v[CONV_KERNEL].i[1] > 1);
}

/* kh * kw * channels, in 64 bits: it does not fit 32 for large layers.
 * Dilated layers count as too large for the direct implementations,
 * whose tap tables are not dilated. */
static inline int64_t conv2d_receptive(const clnet_create_args *a)
{
    if (conv2d_settings_dilated(a))
        return INT64_MAX;
    return (int64_t)a->settings[CONV_KERNEL].i[0] *
           a->settings[CONV_KERNEL].i[1] * a->in[0].c;
}
#endif
