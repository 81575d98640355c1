/* RMSprop on the native CPU, in Keras's order of operations:
 *   v = rho v + (1 - rho) g^2
 *   centered: a = rho a + (1 - rho) g;  d = v - a^2 + epsilon
 *   otherwise d = v + epsilon
 *   inc = lr g / sqrt(d)
 *   momentum > 0: m = momentum m + inc;  w -= m;  otherwise w -= inc */
#include <math.h>
#include <stdlib.h>

#include "../common/cpu_common.h"
#include "rmsprop_settings.h"

typedef struct {
    double lr, rho, momentum, eps;
    int centered;
} rmsprop;

static void destroy(void *s) { free(s); }

static int create(const clnet_create_args *a, void **state, char *err)
{
    rmsprop *o = calloc(1, sizeof *o);
    if (!o)
        return cpu_errorf(err, "out of memory"), -1;
    o->lr = a->settings[RMSPROP_LR].f;
    o->rho = a->settings[RMSPROP_RHO].f;
    o->momentum = a->settings[RMSPROP_MOMENTUM].f;
    o->eps = a->settings[RMSPROP_EPSILON].f;
    o->centered = a->settings[RMSPROP_CENTERED].i[0] == 1;
    *state = o;
    cpu_set_threads(a->threads);
    return 0;
}

static int update(void *s, const clnet_step *st, void *paramv,
                  const void *gradv, void *const *slots, size_t count,
                  char *err)
{
    (void)err;
    rmsprop *o = s;
    float *w = paramv, *v = slots[RMSPROP_VELOCITY];
    float *m = slots[RMSPROP_MOMENTUMS], *avg = slots[RMSPROP_AVERAGE];
    const float *g = gradv;
    float lr = (float)(o->lr * st->lr_scale);
    /* 1 - rho in double, as Keras computes it in Python before the cast */
    float rho = (float)o->rho, c = (float)(1.0 - o->rho);
    float mu = (float)o->momentum, eps = (float)o->eps;
    int centered = o->centered, with_momentum = o->momentum > 0;
    long n = (long)count;
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) {
        float gi = g[i];
        float vi = rho * v[i] + c * (gi * gi);
        v[i] = vi;
        float d;
        if (centered) {
            float ai = rho * avg[i] + c * gi;
            avg[i] = ai;
            d = vi - ai * ai + eps;
        } else {
            d = vi + eps;
        }
        float inc = lr * gi / sqrtf(d);
        if (with_momentum) {
            float mi = mu * m[i] + inc;
            m[i] = mi;
            w[i] -= mi;
        } else {
            w[i] -= inc;
        }
    }
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_OPTIMIZER,
    .kind = "rmsprop",
    .backend = "cpu",
    .impl = "direct",
    .summary = "RMSprop, with momentum and centered (Keras semantics and "
               "defaults)",
    .nsettings = RMSPROP_NSETTINGS,
    .settings = rmsprop_settings,
    .create = create,
    .destroy = destroy,
    .optimizer = {RMSPROP_NSLOTS, update},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
