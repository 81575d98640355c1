/* dense (fully connected) on the native CPU: one SGEMM per pass, bias and
 * activation fused after it. The input's h x w x c values are its
 * features, in NHWC order, as Keras's Flatten gives them. */
#include <cblas.h>
#include <stdlib.h>

#include "../common/cpu_common.h"
#include "dense_settings.h"

typedef struct {
    int32_t D, U, act, fused;
    float *w, *b, *dw, *db;
} dense;

static void destroy(void *s) { free(s); }

static int create(const clnet_create_args *a, clnet_layer_plan *plan,
                  void **state, char *err)
{
    dense *d = calloc(1, sizeof *d);
    if (!d)
        return cpu_errorf(err, "out of memory"), -1;
    int64_t D = (int64_t)a->in.h * a->in.w * a->in.c;
    d->U = a->settings[DENSE_UNITS].i[0];
    if (D * d->U > CLNET_MAX_ELEMENTS ||
        D * a->max_batch > CLNET_MAX_ELEMENTS) {
        cpu_errorf(err, "%lld inputs x %d units is too many weights; add "
                   "pooling before it", (long long)D, (int)d->U);
        free(d);
        return -1;
    }
    d->D = (int32_t)D;
    d->act = a->settings[DENSE_ACTIVATION].i[0];
    d->fused = a->fuse_softmax_loss;
    *state = d;
    cpu_set_threads(a->threads);
    plan->out = (clnet_shape){1, 1, d->U};
    plan->nparams = 2;
    plan->params[0] = (clnet_param_info){"kernel", 2, {d->D, d->U, 0, 0},
                                         CLNET_INIT_GLOROT_UNIFORM, d->D, d->U};
    plan->params[1] = (clnet_param_info){"bias", 1, {d->U, 0, 0, 0},
                                         CLNET_INIT_ZEROS, 0, 0};
    plan->needs_input_grad = 1;
    plan->flops_forward = 2.0 * d->D * d->U;
    return 0;
}

static int bind(void *s, void *const *params, void *const *grads)
{
    dense *d = s;
    d->w = params[0];
    d->b = params[1];
    d->dw = grads[0];
    d->db = grads[1];
    return 0;
}

static int forward(void *s, const clnet_step *st, const void *x, void *y,
                   char *err)
{
    (void)err;
    dense *d = s;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, st->batch, d->U,
                d->D, 1.0f, x, d->D, d->w, d->U, 0.0f, y, d->U);
    cpu_bias_activation(y, (size_t)st->batch, (size_t)d->U, d->b, d->act);
    return 0;
}

static int backward(void *s, const clnet_step *st, const void *x,
                    const void *y, void *dy, void *dx, char *err)
{
    (void)err;
    dense *d = s;
    cpu_activation_backward(y, dy, (size_t)st->batch, (size_t)d->U, d->act,
                            d->fused);
    cpu_bias_grad(dy, (size_t)st->batch, (size_t)d->U, d->db);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d->D, d->U, st->batch,
                1.0f, x, d->D, dy, d->U, 0.0f, d->dw, d->U);
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, st->batch, d->D,
                    d->U, 1.0f, dy, d->U, d->w, d->U, 0.0f, dx, d->D);
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "dense",
    .backend = "cpu",
    .impl = "gemm",
    .summary = "fully connected layer, OpenBLAS SGEMM, fused bias and "
               "activation",
    .nsettings = DENSE_NSETTINGS,
    .settings = dense_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, bind},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
