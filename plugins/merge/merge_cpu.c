/* add and concat on the native CPU; one source built twice (MERGE_ADD
 * picks add). Both are memory-bound passes over the batch. */
#include <stdlib.h>
#include <string.h>

#include "../common/cpu_common.h"

typedef struct {
    int32_t n;               /* inputs */
    size_t rows;             /* positions per sample (h x w) */
    size_t c[CLNET_MAX_INPUTS], cout; /* channels of each input, output */
} merge;

static void destroy(void *s) { free(s); }

static int create(const clnet_create_args *a, void **state, char *err)
{
    merge *m = calloc(1, sizeof *m);
    if (!m)
        return cpu_errorf(err, "out of memory"), -1;
    m->n = a->ninputs;
    m->rows = (size_t)a->in[0].h * (size_t)a->in[0].w;
    for (int k = 0; k < m->n; k++)
        m->c[k] = (size_t)a->in[k].c;
    m->cout = (size_t)a->plan->out.c;
    cpu_set_threads(a->threads);
    *state = m;
    return 0;
}

#ifdef MERGE_ADD
static int forward(void *s, const clnet_step *st, const void *const *x,
                   void *yv, char *err)
{
    (void)err;
    const merge *m = s;
    float *y = yv;
    long n = (long)(m->rows * m->cout * (size_t)st->batch);
    const float *x0 = x[0], *x1 = x[1];
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++)
        y[i] = x0[i] + x1[i];
    for (int k = 2; k < m->n; k++) {
        const float *xk = x[k];
#pragma omp parallel for simd schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++)
            y[i] += xk[i];
    }
    return 0;
}

static int backward(void *s, const clnet_step *st, const void *const *x,
                    const void *y, void *dy, void *const *dx, char *err)
{
    (void)x;
    (void)y;
    (void)err;
    const merge *m = s;
    size_t bytes = m->rows * m->cout * (size_t)st->batch * sizeof(float);
    for (int k = 0; k < m->n; k++)
        if (dx[k])
            memcpy(dx[k], dy, bytes);
    return 0;
}
#else
static int forward(void *s, const clnet_step *st, const void *const *x,
                   void *yv, char *err)
{
    (void)err;
    const merge *m = s;
    float *y = yv;
    long rows = (long)(m->rows * (size_t)st->batch);
#pragma omp parallel for schedule(static) if (rows * (long)m->cout > 65536)
    for (long r = 0; r < rows; r++) {
        size_t off = 0;
        for (int k = 0; k < m->n; k++) {
            const float *xk = x[k];
            memcpy(y + (size_t)r * m->cout + off, xk + (size_t)r * m->c[k],
                   m->c[k] * sizeof(float));
            off += m->c[k];
        }
    }
    return 0;
}

static int backward(void *s, const clnet_step *st, const void *const *x,
                    const void *y, void *dyv, void *const *dx, char *err)
{
    (void)x;
    (void)y;
    (void)err;
    const merge *m = s;
    const float *dy = dyv;
    long rows = (long)(m->rows * (size_t)st->batch);
#pragma omp parallel for schedule(static) if (rows * (long)m->cout > 65536)
    for (long r = 0; r < rows; r++) {
        size_t off = 0;
        for (int k = 0; k < m->n; k++) {
            if (dx[k])
                memcpy((float *)dx[k] + (size_t)r * m->c[k],
                       dy + (size_t)r * m->cout + off,
                       m->c[k] * sizeof(float));
            off += m->c[k];
        }
    }
    return 0;
}
#endif

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_LAYER,
#ifdef MERGE_ADD
    .kind = "add",
    .summary = "element-wise sum of its inputs",
#else
    .kind = "concat",
    .summary = "channels of its inputs side by side",
#endif
    .backend = "cpu",
    .impl = "direct",
    .create = create,
    .destroy = destroy,
    .layer = {forward, backward, NULL, NULL},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
