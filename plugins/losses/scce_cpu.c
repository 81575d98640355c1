/* sparse_categorical_crossentropy on the native CPU, with the accuracy
 * count. Probabilities are clipped to [1e-7, 1 - 1e-7] as Keras does. When
 * the last layer is a softmax, the gradient is taken with respect to its
 * logits, (p - onehot) / batch, which is both cheaper and more accurate
 * than going through the softmax's Jacobian. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cpu_common.h"

#define CLIP_EPS 1e-7f

static int create(const clnet_create_args *a, void **state, char *err)
{
    (void)a;
    (void)err;
    static int token;
    *state = &token;
    return 0;
}

static void destroy(void *s) { (void)s; }

static int compute(void *s, const clnet_step *st, const void *predv,
                   const void *labelsv, int32_t classes, int32_t fused,
                   void *dpredv, double *loss_sum, int64_t *correct, char *err)
{
    (void)s;
    const float *pred = predv;
    const int32_t *labels = labelsv;
    float *dpred = dpredv;
    float inv_n = 1.0f / (float)st->batch;
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
        float clipped = py < CLIP_EPS ? CLIP_EPS
                      : py > 1.0f - CLIP_EPS ? 1.0f - CLIP_EPS : py;
        loss -= log((double)clipped);
        if (!dpred)
            continue;
        float *d = dpred + (size_t)b * classes;
        if (fused) {
            for (int32_t c = 0; c < classes; c++)
                d[c] = p[c] * inv_n;
            d[y] -= inv_n;
        } else {
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
    .nsettings = 0,
    .settings = NULL,
    .create = create,
    .destroy = destroy,
    .loss = {compute, 1},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
