/* Helpers shared by the check suites; see helpers.h. */
#define _POSIX_C_SOURCE 200809L
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[256];

static void remove_tmpdir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

const char *test_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/clnet-test-XXXXXX",
                 base && *base ? base : "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        atexit(remove_tmpdir);
    }
    return tmpdir;
}

static char *next_path(const char *name)
{
    static char ring[8][512];
    static int next;
    char *p = ring[next++ % 8];
    snprintf(p, 512, "%s/%s", test_tmpdir(), name);
    return p;
}

const char *test_write(const char *name, const void *data, size_t n)
{
    char *p = next_path(name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
    return p;
}

const char *test_write_gz(const char *name, const void *data, size_t n)
{
    char *p = next_path(name);
    gzFile f = gzopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(gzwrite(f, data, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(f), Z_OK);
    return p;
}

const clnet_registry *test_registry(void)
{
    static clnet_registry *r;
    if (!r) {
        clnet_error e;
        r = clnet_registry_open(&e);
        ck_assert_msg(r != NULL, "%s", e.msg);
    }
    return r;
}

const clnet_plugin *test_plugin(const char *kind)
{
    const clnet_plugin *p = clnet_registry_find(test_registry(), kind, "cpu");
    ck_assert_msg(p != NULL, "no cpu plugin for %s", kind);
    return p;
}

const clnet_plugin *test_plugin_impl(const char *kind, const char *impl)
{
    const clnet_registry *r = test_registry();
    for (int i = 0; i < clnet_registry_count(r); i++) {
        const clnet_plugin *p = clnet_registry_get(r, i, NULL);
        if (!strcmp(p->kind, kind) && !strcmp(p->backend, "cpu") &&
            !strcmp(p->impl, impl))
            return p;
    }
    ck_abort_msg("no cpu plugin %s/%s", kind, impl);
    return NULL;
}

void test_fill(float *x, size_t n, float lo, float hi, unsigned *seed)
{
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        x[i] = lo + (hi - lo) * (float)((*seed >> 8) & 0xffffff) / 16777216.0f;
    }
}

const clnet_plugin *test_opencl(void **ctx)
{
    static int state = -1;
    static const clnet_plugin *dev;
    static void *dctx;
    if (state < 0) {
        static clnet_registry *r;
        clnet_error e;
        if (!(r = clnet_registry_open(&e))) {
            fprintf(stderr, "%s\n", e.msg);
            return NULL;
        }
        dev = clnet_registry_find(r, "device", "opencl");
        clnet_device_info info[4];
        int n = dev ? clnet_devices(r, "opencl", info, 4, &e) : 0;
        char err[CLNET_ERRLEN];
        state = n > 0 && dev->device.open(0, &dctx, err) == 0;
        if (!state)
            fprintf(stderr, "OpenCL tests skipped: %s\n",
                    dev ? "no OpenCL platform or device was found"
                        : "the OpenCL backend was not built");
    }
    *ctx = dctx;
    return state ? dev : NULL;
}

void *test_upload(const clnet_plugin *dev, void *ctx, const float *host,
                  size_t n)
{
    void *buf;
    char err[CLNET_ERRLEN];
    ck_assert_msg(dev->device.alloc(ctx, n * 4 + 4, &buf, err) == 0, "%s",
                  err);
    if (host)
        ck_assert_msg(dev->device.write(ctx, buf, host, n * 4, err) == 0,
                      "%s", err);
    return buf;
}

void test_download(const clnet_plugin *dev, void *ctx, const void *buf,
                   float *host, size_t n)
{
    char err[CLNET_ERRLEN];
    ck_assert_msg(dev->device.read(ctx, buf, host, n * 4, err) == 0, "%s",
                  err);
}

const clnet_plugin *test_kind(const char *kind)
{
    const clnet_registry *r = test_registry();
    for (int i = 0; i < clnet_registry_count(r); i++) {
        const clnet_plugin *p = clnet_registry_get(r, i, NULL);
        if (p->role == CLNET_ROLE_KIND && !strcmp(p->kind, kind))
            return p;
    }
    ck_abort_msg("no definition of the kind %s", kind);
    return NULL;
}

int test_infer(const char *kind, const clnet_value *values,
               const clnet_shape *in, int32_t ninputs, clnet_layer_plan *plan,
               char *err)
{
    const clnet_plugin *k = test_kind(kind);
    const char *names[CLNET_MAX_INPUTS];
    for (int i = 0; i < ninputs && i < CLNET_MAX_INPUTS; i++)
        names[i] = "input";
    clnet_kind_args a = {values, ninputs, in, names};
    memset(plan, 0, sizeof *plan);
    return k->def.infer(&a, plan, err);
}

int test_forward(const clnet_plugin *p, void *state, const clnet_step *st,
                 const void *x, void *y, char *err)
{
    const void *xs[1] = {x};
    return p->layer.forward(state, st, xs, y, err);
}

int test_backward(const clnet_plugin *p, void *state, const clnet_step *st,
                  const void *x, const void *y, void *dy, void *dx, char *err)
{
    const void *xs[1] = {x};
    void *dxs[1] = {dx};
    return p->layer.backward(state, st, xs, y, dy, dxs, err);
}

void test_layer_create(test_layer *l, const char *kind,
                       const clnet_value *values, clnet_shape in,
                       int32_t batch, int fuse, unsigned seed)
{
    memset(l, 0, sizeof *l);
    const char *slash = strchr(kind, '/');
    if (slash) {
        char k[64];
        snprintf(k, sizeof k, "%.*s", (int)(slash - kind), kind);
        l->p = test_plugin_impl(k, slash + 1);
    } else {
        l->p = test_plugin(kind);
    }
    l->in = in;
    l->batch = batch;
    char err[CLNET_ERRLEN] = "";
    ck_assert_msg(test_infer(l->p->kind, values, &l->in, 1, &l->plan, err) ==
                      0,
                  "%s: %s", kind, err);
    clnet_create_args a = {0};
    a.settings = values;
    a.ninputs = 1;
    a.in = &l->in;
    a.plan = &l->plan;
    a.max_batch = batch;
    a.threads = 2;
    a.fuse_softmax_loss = fuse;
    a.layer_index = 3;
    a.tuning = "";
    ck_assert_msg(l->p->create(&a, &l->state, err) == 0, "%s: %s", kind, err);
    l->in_size = (size_t)in.h * in.w * in.c;
    l->out_size = (size_t)l->plan.out.h * l->plan.out.w * l->plan.out.c;
    for (int k = 0; k < l->plan.nparams; k++) {
        size_t n = 1;
        for (int d = 0; d < l->plan.params[k].ndim; d++)
            n *= (size_t)l->plan.params[k].dims[d];
        l->nparam[k] = n;
        l->params[k] = calloc(n, sizeof(float));
        l->grads[k] = l->plan.params[k].non_trainable
                          ? NULL
                          : calloc(n, sizeof(float));
        test_fill(l->params[k], n, -1, 1, &seed);
    }
    if (l->plan.nparams)
        ck_assert_int_eq(l->p->layer.bind(l->state, (void *const *)l->params,
                                          (void *const *)l->grads),
                         0);
}

void test_layer_destroy(test_layer *l)
{
    l->p->destroy(l->state);
    for (int k = 0; k < l->plan.nparams; k++) {
        free(l->params[k]);
        free(l->grads[k]);
    }
}

static double objective(test_layer *l, const float *x, const float *r,
                        float *y)
{
    clnet_step st = {l->batch, 1, 42, 7, 1.0, 0};
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_forward(l->p, l->state, &st, x, y, err), 0);
    double s = 0;
    for (size_t i = 0; i < l->out_size * (size_t)l->batch; i++)
        s += (double)y[i] * r[i];
    return s;
}

static void compare(const char *what, const float *ana, const double *num,
                    size_t n, double tol)
{
    double diff = 0, norm_a = 0, norm_n = 0;
    for (size_t i = 0; i < n; i++) {
        diff += (ana[i] - num[i]) * (ana[i] - num[i]);
        norm_a += (double)ana[i] * ana[i];
        norm_n += num[i] * num[i];
    }
    double scale = fmax(sqrt(norm_a), sqrt(norm_n));
    double rel = scale > 0 ? sqrt(diff) / scale : 0;
    ck_assert_msg(scale > 0, "%s: the gradient is all zeros", what);
    ck_assert_msg(rel < tol, "%s: relative error %g of the gradient exceeds %g",
                  what, rel, tol);
}

void test_gradcheck(test_layer *l, const float *x0, float h, double tol)
{
    size_t nin = l->in_size * (size_t)l->batch;
    size_t nout = l->out_size * (size_t)l->batch;
    float *x = malloc(nin * sizeof *x), *y = malloc(nout * sizeof *y);
    float *r = malloc(nout * sizeof *r), *dy = malloc(nout * sizeof *dy);
    float *dx = malloc(nin * sizeof *dx);
    double *num = malloc((nin > 4096 ? nin : 4096) * sizeof *num);
    unsigned seed = 99;
    test_fill(r, nout, -1, 1, &seed);
    memcpy(x, x0, nin * sizeof *x);

    objective(l, x, r, y);
    memcpy(dy, r, nout * sizeof *dy);
    /* backward must write every value of dx, not count on a clean buffer */
    for (size_t i = 0; i < nin; i++)
        dx[i] = NAN;
    clnet_step st = {l->batch, 1, 42, 7, 1.0, 0};
    char err[CLNET_ERRLEN];
    ck_assert_int_eq(test_backward(l->p, l->state, &st, x, y, dy, dx, err), 0);

    for (size_t i = 0; i < nin; i++) {
        float keep = x[i];
        x[i] = keep + h;
        double up = objective(l, x, r, y);
        x[i] = keep - h;
        double down = objective(l, x, r, y);
        x[i] = keep;
        num[i] = (up - down) / (2.0 * h);
    }
    compare("input gradient", dx, num, nin, tol);

    for (int k = 0; k < l->plan.nparams; k++) {
        float *p = l->params[k];
        size_t n = l->nparam[k];
        if (!l->grads[k])
            continue; /* state the layer updates itself */
        double *numk = malloc(n * sizeof *numk);
        for (size_t i = 0; i < n; i++) {
            float keep = p[i];
            p[i] = keep + h;
            double up = objective(l, x, r, y);
            p[i] = keep - h;
            double down = objective(l, x, r, y);
            p[i] = keep;
            numk[i] = (up - down) / (2.0 * h);
        }
        compare(l->plan.params[k].name, l->grads[k], numk, n, tol);
        free(numk);
    }
    free(x);
    free(y);
    free(r);
    free(dy);
    free(dx);
    free(num);
}

void test_cap_memory(size_t extra)
{
    FILE *f = fopen("/proc/self/status", "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %llu kB", &kb) == 1)
            break;
    fclose(f);
    ck_assert_uint_gt(kb, 0);
    struct rlimit r;
    r.rlim_cur = r.rlim_max = (rlim_t)(kb * 1024 + extra);
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &r), 0);
}

void test_write_mnist(const char *prefix, uint32_t n, int gz)
{
    for (int images = 0; images < 2; images++) {
        size_t hdr = images ? 16 : 8;
        size_t len = hdr + (size_t)n * (images ? 784 : 1);
        unsigned char *b = calloc(1, len);
        ck_assert_ptr_nonnull(b);
        b[2] = 8;
        b[3] = images ? 3 : 1;
        for (int i = 0; i < 4; i++)
            b[4 + i] = (unsigned char)(n >> (24 - 8 * i));
        if (images) {
            b[11] = b[15] = 28;
            for (uint32_t i = 0; i < n; i++) /* a bright row band a class */
                memset(b + hdr + (size_t)i * 784 + (i % 10) * 78, 230, 78);
        } else {
            for (uint32_t i = 0; i < n; i++)
                b[hdr + i] = (unsigned char)(i % 10);
        }
        char name[128];
        snprintf(name, sizeof name, "%s-%s-idx%d-ubyte%s", prefix,
                 images ? "images" : "labels", images ? 3 : 1,
                 gz ? ".gz" : "");
        if (gz)
            test_write_gz(name, b, len);
        else
            test_write(name, b, len);
        free(b);
    }
}

clnet_net *test_build(const char *text, const clnet_build_options *o,
                      clnet_error *e)
{
    clnet_topology *t = clnet_topology_parse(text, "t.net", e);
    if (!t)
        return NULL;
    clnet_net *n = clnet_net_build(t, test_registry(), o, e);
    clnet_topology_free(t);
    return n;
}

int test_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

char *test_summary(const clnet_net *n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    clnet_error e;
    ck_assert_msg(clnet_net_summary(n, f, &e) == 0, "%s", e.msg);
    fclose(f);
    return text;
}
