/* batchnorm on OpenCL (batchnorm_kind.c): cl/batchnorm.cl. Each way, a
 * pass of work-groups summing runs of rows into partial sums (no
 * atomics), a work-item per channel adding them in order into per-channel
 * factors, and an element-wise pass. */
#include <stdlib.h>

#include "../opencl/ocl_common.h"
#include "batchnorm_cl.h"
#include "batchnorm_settings.h"

/* At most this many work-groups of rows in a reduction (the partial sums
 * are BN_GROUPS x 2C floats, allocated once), each of whose work-items
 * sums about BN_ROWS_PER_ITEM rows when there are enough. */
#define BN_GROUPS 256
#define BN_ROWS_PER_ITEM 32
#define BN_WG 64

/* cl/batchnorm.cl's flags */
#define BN_GAMMA 1
#define BN_BETA 2
#define BN_TRAINING 4
#define BN_DGAMMA 8
#define BN_DBETA 16

typedef struct {
    ocl_kernel partials, stats, apply, grads, dx;
} kernels;
static const char *const names[] = {"bn_partials", "bn_stats", "bn_apply",
                                    "bn_grads", "bn_dx", NULL};

typedef struct {
    clnet_ocl *o;
    cl_program prog;
    kernels k;
    int32_t C;
    size_t rows_per_sample;
    float momentum, eps;
    bn_param_slots s;
    cl_mem gamma, beta, mm, mv, dgamma, dbeta;
    /* mean, inv_std: the last training forward pass's statistics; ka, kb,
     * kd: per-channel factors; parts: BN_GROUPS x 2C partial sums */
    cl_mem mean, inv_std, ka, kb, kd, parts;
    size_t lr; /* bn_partials' work-group: rows */
} bn;

/* An element-wise kernel over rows x C: a work-group of all C channels
 * (up to BN_WG) by as many rows as fit in BN_WG work-items, within the
 * kernel's limit. */
static int elementwise(bn *l, ocl_kernel *k, int rows, char *err)
{
    size_t wg = BN_WG;
    while (wg > k->wg || wg > l->o->max_work_group)
        wg /= 2;
    if (wg == 0)
        wg = 1;
    size_t C = (size_t)l->C;
    size_t local[2] = {C < wg ? C : wg, 1};
    local[1] = wg / local[0];
    size_t global[2] = {(C + local[0] - 1) / local[0] * local[0],
                        ((size_t)rows + local[1] - 1) / local[1] * local[1]};
    return ocl_launch(l->o, k, 2, global, local, err);
}

static void destroy(void *p)
{
    bn *l = p;
    if (!l)
        return;
    cl_mem *own[] = {&l->mean, &l->inv_std, &l->ka, &l->kb, &l->kd, &l->parts};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (*own[i])
            clReleaseMemObject(*own[i]);
    ocl_release(l->prog, (ocl_kernel *)&l->k, 5);
    free(l);
}

static int create(const clnet_create_args *a, void **state, char *err)
{
    bn *l = calloc(1, sizeof *l);
    if (!l)
        return ocl_errorf(err, "out of memory"), -1;
    l->o = a->device;
    l->C = a->in[0].c;
    l->rows_per_sample = (size_t)a->in[0].h * (size_t)a->in[0].w;
    l->momentum = (float)a->settings[BN_MOMENTUM].f;
    l->eps = (float)a->settings[BN_EPSILON].f;
    l->s = bn_slots(a->settings);
    size_t C = (size_t)l->C;
    if (l->rows_per_sample * C * (size_t)a->max_batch > OCL_MAX_INT_ELEMENTS) {
        ocl_errorf(err, "this layer's tensors are too large for 32-bit "
                        "indices; use a smaller batch");
        destroy(l);
        return -1;
    }
    if (ocl_program(l->o, batchnorm_cl, NULL, &l->prog, names,
                    (ocl_kernel *)&l->k, err) ||
        !(l->mean = ocl_buffer(l->o, C * sizeof(float), err)) ||
        !(l->inv_std = ocl_buffer(l->o, C * sizeof(float), err)) ||
        !(l->ka = ocl_buffer(l->o, C * sizeof(float), err)) ||
        !(l->kb = ocl_buffer(l->o, C * sizeof(float), err)) ||
        !(l->kd = ocl_buffer(l->o, C * sizeof(float), err)) ||
        !(l->parts = ocl_buffer(l->o, (size_t)BN_GROUPS * 2 * C *
                                          sizeof(float), err))) {
        destroy(l);
        return -1;
    }
    /* bn_partials' work-group: BN_WG rows of 16 channels, within the
     * kernel's limit */
    l->lr = BN_WG;
    while (l->lr > l->k.partials.wg || l->lr > l->o->max_work_group)
        l->lr /= 2;
    if (l->lr == 0)
        l->lr = 1;
    *state = l;
    return 0;
}

static int bind(void *p, void *const *params, void *const *grads)
{
    bn *l = p;
    if (l->s.gamma >= 0) {
        l->gamma = params[l->s.gamma];
        l->dgamma = grads[l->s.gamma];
    }
    if (l->s.beta >= 0) {
        l->beta = params[l->s.beta];
        l->dbeta = grads[l->s.beta];
    }
    l->mm = params[l->s.mean];
    l->mv = params[l->s.var];
    return 0;
}

/* bn_partials over `rows` rows; returns the number of groups of rows
 * (rows of parts written), or -1. */
static int partials(bn *l, cl_mem x, cl_mem dy, cl_mem center, int rows,
                    int backward, char *err)
{
    int rpg = (int)((size_t)BN_ROWS_PER_ITEM * l->lr);
    int groups = (rows + rpg - 1) / rpg;
    if (groups > BN_GROUPS)
        groups = BN_GROUPS;
    rpg = (rows + groups - 1) / groups;
    groups = (rows + rpg - 1) / rpg;
    const int C = l->C;
    if (ocl_args(&l->k.partials, 9, OCL_ARG(x), OCL_ARG(dy), OCL_ARG(center),
                 OCL_ARG(rows), OCL_ARG(C), OCL_ARG(rpg), OCL_ARG(backward),
                 OCL_ARG(l->parts), 32 * l->lr * sizeof(float),
                 (const void *)NULL))
        return ocl_errorf(err, "batchnorm: bad kernel arguments"), -1;
    size_t local[2] = {1, l->lr};
    size_t global[2] = {((size_t)C + 15) / 16, (size_t)groups * l->lr};
    if (ocl_launch(l->o, &l->k.partials, 2, global, local, err))
        return -1;
    return groups;
}

static int forward(void *p, const clnet_step *st, const void *const *xs,
                   void *yv, char *err)
{
    bn *l = p;
    cl_mem x = (cl_mem)xs[0], y = yv;
    const int C = l->C;
    const int rows = (int)(l->rows_per_sample * (size_t)st->batch);
    int groups = 0;
    int flags = (l->gamma ? BN_GAMMA : 0) | (l->beta ? BN_BETA : 0);
    if (st->training) {
        flags |= BN_TRAINING;
        /* the statistics about the first row, read from x itself */
        if ((groups = partials(l, x, x, x, rows, 0, err)) < 0)
            return -1;
    }
    const float inv_m = (float)(1.0 / (double)rows);
    /* a layer without gamma or beta passes buffers the kernel never reads */
    cl_mem gamma = l->gamma ? l->gamma : l->ka;
    cl_mem beta = l->beta ? l->beta : l->kb;
    if (ocl_args(&l->k.stats, 16, OCL_ARG(l->parts), OCL_ARG(groups),
                 OCL_ARG(C), OCL_ARG(x), OCL_ARG(inv_m), OCL_ARG(l->eps),
                 OCL_ARG(l->momentum), OCL_ARG(flags), OCL_ARG(gamma),
                 OCL_ARG(beta), OCL_ARG(l->mm), OCL_ARG(l->mv),
                 OCL_ARG(l->mean), OCL_ARG(l->inv_std), OCL_ARG(l->ka),
                 OCL_ARG(l->kb)))
        return ocl_errorf(err, "batchnorm: bad kernel arguments"), -1;
    if (ocl_run1d(l->o, &l->k.stats, (size_t)C, err))
        return -1;
    cl_mem mean = st->training ? l->mean : l->mm;
    if (ocl_args(&l->k.apply, 7, OCL_ARG(x), OCL_ARG(y), OCL_ARG(mean),
                 OCL_ARG(l->ka), OCL_ARG(l->kb), OCL_ARG(rows), OCL_ARG(C)))
        return ocl_errorf(err, "batchnorm: bad kernel arguments"), -1;
    return elementwise(l, &l->k.apply, rows, err);
}

static int backward(void *p, const clnet_step *st, const void *const *xs,
                    const void *y, void *dyv, void *const *dx, char *err)
{
    (void)y;
    bn *l = p;
    cl_mem x = (cl_mem)xs[0], dy = dyv;
    const int C = l->C;
    const int rows = (int)(l->rows_per_sample * (size_t)st->batch);
    cl_mem mean = st->training ? l->mean : l->mm;
    int groups = partials(l, x, dy, mean, rows, 1, err);
    if (groups < 0)
        return -1;
    int flags = (l->gamma ? BN_GAMMA : 0) | (l->dgamma ? BN_DGAMMA : 0) |
                (l->dbeta ? BN_DBETA : 0) | (st->training ? BN_TRAINING : 0);
    const float inv_m = (float)(1.0 / (double)rows);
    cl_mem gamma = l->gamma ? l->gamma : l->ka;
    cl_mem dgamma = l->dgamma ? l->dgamma : l->kb;
    cl_mem dbeta = l->dbeta ? l->dbeta : l->kb;
    if (ocl_args(&l->k.grads, 14, OCL_ARG(l->parts), OCL_ARG(groups),
                 OCL_ARG(C), OCL_ARG(inv_m), OCL_ARG(l->eps), OCL_ARG(flags),
                 OCL_ARG(gamma), OCL_ARG(l->mv), OCL_ARG(l->inv_std),
                 OCL_ARG(dgamma), OCL_ARG(dbeta), OCL_ARG(l->ka),
                 OCL_ARG(l->kb), OCL_ARG(l->kd)))
        return ocl_errorf(err, "batchnorm: bad kernel arguments"), -1;
    if (ocl_run1d(l->o, &l->k.grads, (size_t)C, err))
        return -1;
    cl_mem out = dx[0];
    if (!out)
        return 0;
    if (ocl_args(&l->k.dx, 9, OCL_ARG(x), OCL_ARG(dy), OCL_ARG(out),
                 OCL_ARG(mean), OCL_ARG(l->ka), OCL_ARG(l->kb),
                 OCL_ARG(l->kd), OCL_ARG(rows), OCL_ARG(C)))
        return ocl_errorf(err, "batchnorm: bad kernel arguments"), -1;
    return elementwise(l, &l->k.dx, rows, err);
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
    .kind = "batchnorm",
    .backend = "opencl",
    .impl = "direct",
    .summary = "batch normalization, work-group partial sums added in order "
               "(no atomics)",
    .nsettings = BN_NSETTINGS,
    .settings = batchnorm_settings,
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, bind},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
