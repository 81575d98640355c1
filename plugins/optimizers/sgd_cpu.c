/* SGD with momentum on the native CPU, as Keras defines it:
 *   w -= lr wd w                       (weight_decay, before the step)
 *   v = momentum v - lr g;  w += v     (plain SGD when momentum is 0)
 *   nesterov: w += momentum v - lr g, with the new v */
#include <stdlib.h>

#include "../common/cpu_common.h"
#include "sgd_settings.h"


typedef struct {
    float lr, momentum;
    double wd;
    int nesterov;
} sgd;

static void destroy(void *s) { free(s); }

static int create(const clnet_create_args *a, void **state, char *err)
{
    sgd *o = calloc(1, sizeof *o);
    if (!o)
        return cpu_errorf(err, "out of memory"), -1;
    o->lr = (float)a->settings[SGD_LR].f;
    o->momentum = (float)a->settings[SGD_MOMENTUM].f;
    o->nesterov = a->settings[SGD_NESTEROV].i[0] == 1;
    o->wd = a->settings[SGD_WEIGHT_DECAY].f;
    *state = o;
    cpu_set_threads(a->threads);
    return 0;
}

static int update(void *s, const clnet_step *st, void *paramv,
                  const void *gradv, void *const *slots, size_t count,
                  char *err)
{
    (void)err;
    sgd *o = s;
    float *w = paramv, *v = slots[0];
    const float *g = gradv;
    float lr = (float)(o->lr * st->lr_scale), mu = o->momentum;
    /* Keras decays with the scheduled rate too */
    float decay = (float)(lr * o->wd);
    int nesterov = o->nesterov;
    long n = (long)count;
    /* the branches are the same for every element: without decay and
     * nesterov the arithmetic is the plain momentum step's, bit for bit */
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) {
        float wi = w[i];
        if (decay != 0.0f)
            wi -= wi * decay;
        float vi = mu * v[i] - lr * g[i];
        v[i] = vi;
        w[i] = wi + (nesterov ? mu * vi - lr * g[i] : vi);
    }
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_OPTIMIZER,
    .kind = "sgd",
    .backend = "cpu",
    .impl = "direct",
    .summary = "SGD with momentum, Nesterov and weight decay (Keras semantics)",
    .nsettings = SGD_NSETTINGS,
    .settings = sgd_settings,
    .create = create,
    .destroy = destroy,
    .optimizer = {1, update},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
