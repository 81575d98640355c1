/* Adam on the native CPU, with Keras's semantics and defaults:
 *   alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
 *   m += (g - m) (1 - beta1);  v += (g^2 - v) (1 - beta2)
 *   w -= alpha m / (sqrt(v) + epsilon)
 * Built with -DADAMW it is Keras's AdamW: first w -= lr wd w, lr the
 * scheduled rate. */
#include <math.h>
#include <stdlib.h>

#include "../common/cpu_common.h"
#include "adam_settings.h"

typedef struct {
    double lr, b1, b2, eps, wd;
} adam;

static void destroy(void *s) { free(s); }

static int create(const clnet_create_args *a, void **state, char *err)
{
    adam *o = calloc(1, sizeof *o);
    if (!o)
        return cpu_errorf(err, "out of memory"), -1;
    o->lr = a->settings[ADAM_LR].f;
    o->b1 = a->settings[ADAM_BETA1].f;
    o->b2 = a->settings[ADAM_BETA2].f;
    o->eps = a->settings[ADAM_EPSILON].f;
#ifdef ADAMW
    o->wd = a->settings[ADAMW_WEIGHT_DECAY].f;
#endif
    *state = o;
    cpu_set_threads(a->threads);
    return 0;
}

static int update(void *s, const clnet_step *st, void *paramv,
                  const void *gradv, void *const *slots, size_t count,
                  char *err)
{
    adam *o = s;
    if (st->step < 1)
        return cpu_errorf(err, "Adam steps count from 1"), -1;
    float *w = paramv, *m = slots[0], *v = slots[1];
    const float *g = gradv;
    double t = (double)st->step;
    float alpha = (float)(o->lr * st->lr_scale * sqrt(1.0 - pow(o->b2, t)) /
                          (1.0 - pow(o->b1, t)));
    float decay = (float)(o->lr * st->lr_scale * o->wd);
    float c1 = (float)(1.0 - o->b1), c2 = (float)(1.0 - o->b2);
    float eps = (float)o->eps;
    long n = (long)count;
    /* decay is the same for every element, and 0 leaves Adam's arithmetic
     * as it is without it */
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) {
        float wi = w[i];
        if (decay != 0.0f)
            wi -= wi * decay;
        float gi = g[i];
        float mi = m[i] + (gi - m[i]) * c1;
        float vi = v[i] + (gi * gi - v[i]) * c2;
        m[i] = mi;
        v[i] = vi;
        w[i] = wi - alpha * mi / (sqrtf(vi) + eps);
    }
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_OPTIMIZER,
    .kind = ADAM_KIND,
    .backend = "cpu",
    .impl = "direct",
    .summary = ADAM_SUMMARY,
    .nsettings = ADAM_TABLE_SIZE,
    .settings = ADAM_TABLE,
    .create = create,
    .destroy = destroy,
    .optimizer = {2, update},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
