/* sparse_categorical_crossentropy on the native CPU, with the accuracy
 * count. Probabilities are clipped to [1e-7, 1 - 1e-7] as Keras does. When
 * the last layer is a softmax, the gradient is taken with respect to its
 * logits, (p - target) / batch, which is both cheaper and more accurate
 * than going through the softmax's Jacobian. With label_smoothing ls the
 * target is Keras's (1 - ls) onehot + ls / classes, so every class adds to
 * the loss; ls = 0 keeps the one-hot arithmetic as it was. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cpu_common.h"
#include "scce_settings.h"

#define CLIP_EPS 1e-7f

typedef struct {
    float smoothing;
} scce;

static int create(const clnet_create_args *a, void **state, char *err)
{
    scce *l = calloc(1, sizeof *l);
    if (!l)
        return cpu_errorf(err, "out of memory"), -1;
    l->smoothing = (float)a->settings[SCCE_LABEL_SMOOTHING].f;
    *state = l;
    return 0;
}

static void destroy(void *s) { free(s); }

static float clip(float p)
{
    return p < CLIP_EPS ? CLIP_EPS : p > 1.0f - CLIP_EPS ? 1.0f - CLIP_EPS : p;
}

static int compute(void *s, const clnet_step *st, const void *predv,
                   const void *labelsv, int32_t classes, int32_t fused,
                   void *dpredv, double *loss_sum, int64_t *correct, char *err)
{
    const scce *l = s;
    const float *pred = predv;
    const int32_t *labels = labelsv;
    float *dpred = dpredv;
    float inv_n = 1.0f / (float)st->batch;
    float ls = l->smoothing;
    /* the target: lo everywhere, lo + hi at the label */
    float lo = ls / (float)classes, hi = 1.0f - ls;
    double loss = 0;
    int64_t hits = 0;
    for (int32_t b = 0; b < st->batch; b++) {
        const float *p = pred + (size_t)b * classes;
        int32_t y = labels[b];
        if (y < 0 || y >= classes) {
            cpu_errorf(err, "label %d of sample %d is outside 0..%d", y, b,
                       classes - 1);
            return -1;
        }
        int32_t best = 0;
        for (int32_t c = 1; c < classes; c++)
            if (p[c] > p[best])
                best = c;
        hits += best == y;
        float py = p[y];
        float clipped = clip(py);
        float *d = dpred ? dpred + (size_t)b * classes : NULL;
        if (ls == 0.0f) {
            loss -= log((double)clipped);
        } else {
            for (int32_t c = 0; c < classes; c++) {
                float t = c == y ? lo + hi : lo, pc = clip(p[c]);
                loss -= (double)t * log((double)pc);
                /* where the clip holds p, the loss does not move with it */
                if (d && !fused)
                    d[c] = p[c] == pc ? -(t * inv_n) / pc : 0.0f;
            }
        }
        if (!d)
            continue;
        if (fused) {
            for (int32_t c = 0; c < classes; c++)
                d[c] = p[c] * inv_n - lo * inv_n;
            d[y] -= hi * inv_n;
        } else if (ls == 0.0f) {
            memset(d, 0, sizeof(float) * (size_t)classes);
            if (py == clipped)
                d[y] = -inv_n / clipped;
        }
    }
    *loss_sum += loss;
    *correct += hits;
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LOSS,
    .kind = "sparse_categorical_crossentropy",
    .backend = "cpu",
    .impl = "direct",
    .summary = "cross-entropy on integer labels, fused with a final softmax",
    .nsettings = SCCE_NSETTINGS,
    .settings = scce_settings,
    .create = create,
    .destroy = destroy,
    .loss = {compute, 1},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
