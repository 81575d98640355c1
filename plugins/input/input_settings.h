/* input's settings, shared by every backend's implementation. */
#ifndef CLNET_INPUT_SETTINGS_H
#define CLNET_INPUT_SETTINGS_H
#include "clnet/plugin.h"

enum { INPUT_SHAPE, INPUT_SCALE, INPUT_MEAN, INPUT_STD, INPUT_NSETTINGS };
static const clnet_setting_spec input_settings[INPUT_NSETTINGS] = {
    {"shape", NULL, CLNET_SET_SHAPE3, NULL, NULL, 1, 65536},
    {"scale", NULL, CLNET_SET_FLOAT, "0.00392156862745098", NULL, 0, 1e6},
    /* per channel (one value: every channel), after the scale */
    {"mean", NULL, CLNET_SET_FLOATS, "0", NULL, -1e6, 1e6},
    {"std", NULL, CLNET_SET_FLOATS, "1", NULL, 1e-12, 1e6},
};

/* y = x * a[c] + b[c] for channel c: scale, then (. - mean) / std. No
 * values (values built without the defaults) mean 0 and 1. */
static inline void input_affine(const clnet_value *v, int32_t channels,
                                float *a, float *b)
{
    for (int32_t c = 0; c < channels && c < CLNET_MAX_FLOATS; c++) {
        int nm = v[INPUT_MEAN].i[0], ns = v[INPUT_STD].i[0];
        double mean = nm ? v[INPUT_MEAN].fv[nm == 1 ? 0 : c] : 0.0;
        double sd = ns ? v[INPUT_STD].fv[ns == 1 ? 0 : c] : 1.0;
        a[c] = (float)(v[INPUT_SCALE].f / sd);
        b[c] = (float)(-mean / sd);
    }
}
#endif
