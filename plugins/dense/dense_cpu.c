/* dense (fully connected) on the native CPU: one SGEMM per pass over
 * every position's channels (dense_kind.c), bias and activation fused
 * after it. */
#include <cblas.h>
#include <stdlib.h>

#include "../common/cpu_common.h"
#include "dense_settings.h"

typedef struct {
    int32_t D, U, act, fused, B;
    int32_t post;           /* gelu or swish after the bias, act linear */
    size_t rows_per_sample; /* h x w positions the units apply at */
    float *w, *b, *dw, *db;
    float *pre; /* post's input: the last forward pass's sums */
} dense;

static void destroy(void *s)
{
    dense *d = s;
    if (d)
        free(d->pre);
    free(d);
}

static int create(const clnet_create_args *a, void **state, char *err)
{
    dense *d = calloc(1, sizeof *d);
    if (!d)
        return cpu_errorf(err, "out of memory"), -1;
    d->D = a->in[0].c;
    d->U = a->plan->out.c;
    d->rows_per_sample = (size_t)a->in[0].h * (size_t)a->in[0].w;
    d->act = a->settings[DENSE_ACTIVATION].i[0];
    d->post = act_needs_input(d->act) ? d->act : ACT_LINEAR;
    if (d->post != ACT_LINEAR)
        d->act = ACT_LINEAR;
    d->B = a->max_batch;
    d->fused = a->fuse_softmax_loss;
    *state = d;
    cpu_set_threads(a->threads);
    return 0;
}

static int bind(void *s, void *const *params, void *const *grads)
{
    dense *d = s;
    d->w = params[0];
    d->b = params[1];
    d->dw = grads[0];
    d->db = grads[1];
    if (d->post != ACT_LINEAR && !d->pre)
        d->pre = cpu_alloc(sizeof(float) * d->rows_per_sample * (size_t)d->B *
                           (size_t)d->U);
    return d->post != ACT_LINEAR && !d->pre ? -1 : 0;
}

static int forward(void *s, const clnet_step *st, const void *const *x,
                   void *y, char *err)
{
    (void)err;
    dense *d = s;
    int rows = (int)(d->rows_per_sample * (size_t)st->batch);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d->U, d->D,
                1.0f, x[0], d->D, d->w, d->U, 0.0f, y, d->U);
    cpu_bias_activation(y, (size_t)rows, (size_t)d->U, d->b, d->act);
    if (d->pre)
        cpu_post_activation(y, d->pre, (size_t)rows * d->U, d->post);
    return 0;
}

static int backward(void *s, const clnet_step *st, const void *const *x,
                    const void *y, void *dy, void *const *dx, char *err)
{
    (void)err;
    dense *d = s;
    int rows = (int)(d->rows_per_sample * (size_t)st->batch);
    if (d->pre)
        cpu_post_activation_grad(d->pre, y, dy, (size_t)rows * d->U, d->post);
    cpu_activation_backward(y, dy, (size_t)rows, (size_t)d->U, d->act,
                            d->fused);
    cpu_bias_grad(dy, (size_t)rows, (size_t)d->U, d->db);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d->D, d->U, rows,
                1.0f, x[0], d->D, dy, d->U, 0.0f, d->dw, d->U);
    if (dx[0])
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, d->D, d->U,
                    1.0f, dy, d->U, d->w, d->U, 0.0f, dx[0], d->D);
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
