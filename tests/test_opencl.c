/* The OpenCL backend against the native CPU one: every layer's forward and
 * backward, the loss (with and without label smoothing) and each
 * optimizer's variants on random inputs (sizes that are no multiple of
 * any tile, and batch 1) must agree within 1e-4 relative error, and label
 * smoothing matches a batch worked out by hand;
 * a mixed CPU/OpenCL network must follow the all-CPU loss trajectory; and
 * build failures, oversized buffers and unknown devices give clear errors;
 * a damaged or loose kernel cache entry is rebuilt, not run.
 * Without an OpenCL device every test reports itself skipped. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../plugins/conv2d/conv2d_settings.h"
#include "../plugins/dense/dense_settings.h"
#include "../plugins/losses/scce_settings.h"
#include "../plugins/maxpool2d/maxpool2d_settings.h"
#include "../plugins/opencl/ocl.h"
#include "helpers.h"

static const clnet_plugin *dev;
static void *ctx;

static int have_opencl(void) { return (dev = test_opencl(&ctx)) != NULL; }

#define REQUIRE_OPENCL()                                                     \
    if (!have_opencl())                                                      \
        return;

static void *upload(const float *host, size_t n)
{
    return test_upload(dev, ctx, host, n);
}

static void download(const void *buf, float *host, size_t n)
{
    test_download(dev, ctx, buf, host, n);
}

static void expect_close(const char *what, const float *cpu, const float *ocl,
                         size_t n)
{
    double diff = 0, norm = 0;
    for (size_t i = 0; i < n; i++) {
        diff += ((double)cpu[i] - ocl[i]) * ((double)cpu[i] - ocl[i]);
        norm += (double)cpu[i] * cpu[i];
    }
    double rel = norm > 0 ? sqrt(diff / norm) : sqrt(diff);
    ck_assert_msg(rel <= 1e-4, "%s: relative error %g between the CPU and "
                  "OpenCL results", what, rel);
}

/* Runs one layer kind on both backends with the same parameters, input and
 * output gradient, and compares output, input gradient and parameter
 * gradients. */
static void compare_layer(const char *kind, const clnet_value *v,
                          clnet_shape in, int32_t batch, int fuse,
                          float lo, float hi)
{
    /* "kind/impl" picks the OpenCL implementation, "kind/impl@set" also
     * its parameter set; a bare kind the one the device would pick, the
     * best score */
    char base[64], name[64] = "", err[CLNET_ERRLEN];
    const char *impl = strchr(kind, '/');
    snprintf(base, sizeof base, "%.*s",
             (int)(impl ? (size_t)(impl - kind) : strlen(kind)), kind);
    const char *tuning = impl && strchr(impl, '@') ? strchr(impl, '@') + 1
                                                   : "";
    if (impl)
        snprintf(name, sizeof name, "%.*s",
                 (int)(strcspn(impl + 1, "@")), impl + 1);
    clnet_layer_plan plc = {0};
    ck_assert_msg(test_infer(base, v, &in, 1, &plc, err) == 0, "%s", err);
    clnet_create_args a = {0};
    a.settings = v;
    a.ninputs = 1;
    a.in = &in;
    a.plan = &plc;
    a.max_batch = batch;
    a.threads = 2;
    a.fuse_softmax_loss = fuse;
    a.layer_index = 2;
    a.tuning = tuning;
    const clnet_plugin *pc = test_plugin(base);
    const clnet_plugin *po = NULL;
    int32_t best = -1;
    a.device = ctx;
    for (int i = 0; i < clnet_registry_count(test_registry()); i++) {
        const clnet_plugin *q = clnet_registry_get(test_registry(), i, NULL);
        if (strcmp(q->kind, base) || strcmp(q->backend, "opencl") ||
            (impl && strcmp(q->impl, name)))
            continue;
        int32_t sc = q->layer.score ? q->layer.score(&a) : 0;
        if (sc > best)
            po = q, best = sc;
    }
    a.device = NULL;
    ck_assert_msg(po != NULL, "no opencl %s", kind);
    void *sc, *so;
    ck_assert_msg(pc->create(&a, &sc, err) == 0, "%s", err);
    a.device = ctx;
    ck_assert_msg(po->create(&a, &so, err) == 0, "%s: %s", kind, err);
    size_t nin = (size_t)in.h * in.w * in.c * batch;
    size_t nout = (size_t)plc.out.h * plc.out.w * plc.out.c * batch;
    unsigned seed = 17;
    float *pc_p[4], *pc_g[4];
    void *po_p[4], *po_g[4];
    size_t np[4];
    for (int k = 0; k < plc.nparams; k++) {
        np[k] = 1;
        for (int d = 0; d < plc.params[k].ndim; d++)
            np[k] *= (size_t)plc.params[k].dims[d];
        pc_p[k] = malloc(np[k] * 4);
        pc_g[k] = calloc(np[k], 4);
        test_fill(pc_p[k], np[k], -0.5f, 0.5f, &seed);
        po_p[k] = upload(pc_p[k], np[k]);
        po_g[k] = upload(pc_g[k], np[k]);
    }
    if (plc.nparams) {
        ck_assert_int_eq(pc->layer.bind(sc, (void *const *)pc_p,
                                        (void *const *)pc_g), 0);
        ck_assert_int_eq(po->layer.bind(so, po_p, po_g), 0);
    }
    int bytes_in = strcmp(kind, "input") == 0;
    float *x = malloc(nin * 4), *y = malloc(nout * 4), *dy = malloc(nout * 4);
    float *dx = malloc(nin * 4), *r = malloc((nout > nin ? nout : nin) * 4);
    test_fill(x, nin, lo, hi, &seed);
    test_fill(dy, nout, -1, 1, &seed);
    uint8_t *xb = malloc(nin);
    for (size_t i = 0; i < nin; i++)
        xb[i] = (uint8_t)(i * 37);
    void *ox = bytes_in ? NULL : upload(x, nin);
    if (bytes_in) {
        ck_assert_int_eq(dev->device.alloc(ctx, nin + 4, &ox, err), 0);
        ck_assert_int_eq(dev->device.write(ctx, ox, xb, nin, err), 0);
    }
    void *oy = upload(y, nout), *ody = upload(dy, nout), *odx = upload(dx, nin);
    clnet_step st = {batch, 1, 42, 5, 1.0};
    ck_assert_msg(test_forward(pc, sc, &st, bytes_in ? (void *)xb : x, y,
                               err) == 0, "%s", err);
    ck_assert_msg(test_forward(po, so, &st, ox, oy, err) == 0, "%s", err);
    download(oy, r, nout);
    char what[128];
    snprintf(what, sizeof what, "%s forward", kind);
    expect_close(what, y, r, nout);
    if (!bytes_in) {
        ck_assert_msg(test_backward(pc, sc, &st, x, y, dy, dx, err) == 0, "%s",
                      err);
        ck_assert_msg(test_backward(po, so, &st, ox, oy, ody, odx, err) == 0,
                      "%s", err);
        download(odx, r, nin);
        snprintf(what, sizeof what, "%s input gradient", kind);
        expect_close(what, dx, r, nin);
        for (int k = 0; k < plc.nparams; k++) {
            float *g = malloc(np[k] * 4);
            download(po_g[k], g, np[k]);
            snprintf(what, sizeof what, "%s %s gradient", kind,
                     plc.params[k].name);
            expect_close(what, pc_g[k], g, np[k]);
            free(g);
        }
    }
    for (int k = 0; k < plc.nparams; k++) {
        dev->device.release(ctx, po_p[k]);
        dev->device.release(ctx, po_g[k]);
        free(pc_p[k]);
        free(pc_g[k]);
    }
    dev->device.release(ctx, ox);
    dev->device.release(ctx, oy);
    dev->device.release(ctx, ody);
    dev->device.release(ctx, odx);
    pc->destroy(sc);
    po->destroy(so);
    free(x), free(y), free(dy), free(dx), free(r), free(xb);
}

static void conv_values(clnet_value *v, int f, int k, int s, int same, int act)
{
    memset(v, 0, sizeof(clnet_value) * CONV_NSETTINGS);
    v[CONV_FILTERS].i[0] = f;
    v[CONV_KERNEL].i[0] = v[CONV_KERNEL].i[1] = k;
    v[CONV_STRIDES].i[0] = v[CONV_STRIDES].i[1] = s;
    v[CONV_PADDING].i[0] = same;
    v[CONV_ACTIVATION].i[0] = act;
}

/* One conv2d layer to compare: filters, square kernel, stride, same
 * padding, activation; input shape, batch, and the inputs' lower bound
 * (they run to 1). */
typedef struct {
    int f, k, s, same, act;
    clnet_shape in;
    int32_t batch;
    float lo;
} conv_case;

static void compare_convs(const char *kind, const conv_case *cases, int n)
{
    for (int i = 0; i < n; i++) {
        const conv_case *c = &cases[i];
        clnet_value v[CONV_NSETTINGS];
        conv_values(v, c->f, c->k, c->s, c->same, c->act);
        compare_layer(kind, v, c->in, c->batch, 0, c->lo, 1);
    }
}

START_TEST(dilated_conv2d_matches_cpu)
{
    REQUIRE_OPENCL();
    /* im2col and col2im with dilated taps, valid and same padding; the
     * implicit GEMM stands aside (score 0), so any device takes
     * im2col-gemm */
    for (int same = 0; same < 2; same++) {
        clnet_value v[CONV_NSETTINGS];
        conv_values(v, 5, 3, 1, same, 1);
        v[CONV_DILATION].i[0] = 2;
        v[CONV_DILATION].i[1] = 3;
        compare_layer("conv2d", v, (clnet_shape){9, 11, 4}, 3, 0, -1, 1);
        compare_layer("conv2d/im2col-gemm@tiles32x8", v,
                      (clnet_shape){9, 11, 4}, 3, 0, -1, 1);
    }
}
END_TEST

START_TEST(conv2d_matches_cpu)
{
    REQUIRE_OPENCL();
    static const conv_case cases[] = {
        {5, 3, 1, 0, 1, {7, 9, 3}, 3, -1},
        {3, 3, 2, 1, 0, {9, 8, 2}, 1, -1},
        {4, 1, 1, 0, 2, {3, 5, 6}, 2, -1},
        /* the seed model's shapes, batch 1 */
        {64, 3, 1, 0, 1, {28, 28, 1}, 1, 0},
        {128, 3, 1, 0, 1, {13, 13, 64}, 2, 0},
    };
    compare_convs("conv2d", cases, sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(direct_conv2d_matches_cpu)
{
    REQUIRE_OPENCL();
    /* receptive fields up to 27 values; 5 and 67 filters take the scalar
     * tail and a full 16-filter vector; batch 16 of 28x28 splits the
     * gradients over slices of pixels; same padding with stride 2 */
    static const conv_case cases[] = {
        {5, 3, 1, 0, 1, {9, 11, 3}, 3, -1},
        {67, 3, 2, 1, 0, {9, 8, 2}, 2, -1},
        {64, 3, 1, 0, 1, {28, 28, 1}, 16, 0},
        {16, 1, 1, 0, 2, {3, 5, 6}, 2, -1},
    };
    compare_convs("conv2d/direct", cases, sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(both_gemm_variants_match_cpu)
{
    REQUIRE_OPENCL();
    /* each build variant (family and parameter set) of the GEMM-based
     * plugins, whichever the device would pick by itself; 67 filters or
     * units take the vector family's full 64-column block and its scalar
     * tail, 19 channels the window kernels' 16-channel vectors and their
     * tail, and batch 300 over 2000 inputs splits dense's A' B into slices
     * of K; 8 filters over 16 x 18 x 18 = 5,184 output pixels splits
     * conv2d's weight and bias gradients into partial sums */
    const char *convs[] = {"conv2d/im2col-gemm@tiles16x4",
                           "conv2d/implicit-gemm@vec4x4",
                           "conv2d/im2col-gemm@tiles32x8",
                           "conv2d/implicit-gemm@vec8x2",
                           "conv2d/implicit-gemm@vec8x1"};
    const char *denses[] = {"dense/gemm@tiles16x4", "dense/gemm@vec4x4",
                            "dense/gemm@tiles32x8", "dense/gemm@vec8x2",
                            "dense/gemm@vec8x1"};
    static const conv_case cases[] = {
        {7, 3, 1, 0, 1, {9, 11, 5}, 3, -1},
        {67, 3, 2, 1, 1, {7, 9, 19}, 3, -1},
        {8, 3, 1, 0, 1, {20, 20, 1}, 16, -1},
        /* 1,452 output pixels: the vector family's weight gradient in two
         * slices */
        {64, 3, 1, 0, 1, {13, 13, 16}, 12, -1},
        /* 64 channels at stride 1: the vector family's input gradient as
         * a transposed convolution, with even and odd windows' same
         * padding */
        {9, 3, 1, 1, 1, {6, 7, 64}, 2, -1},
        {5, 2, 1, 1, 0, {5, 4, 128}, 3, -1},
    };
    for (int i = 0; i < 5; i++) {
        const char *dense = denses[i];
        compare_convs(convs[i], cases, sizeof cases / sizeof cases[0]);
        clnet_value d[DENSE_NSETTINGS] = {{{19, 0, 0}, 0}, {{0, 0, 0}, 0}};
        compare_layer(dense, d, (clnet_shape){1, 1, 45}, 7, 0, -1, 1);
        clnet_value d2[DENSE_NSETTINGS] = {{{67, 0, 0}, 0}, {{1, 0, 0}, 0}};
        compare_layer(dense, d2, (clnet_shape){1, 1, 2000}, 300, 0, -1, 1);
    }
}
END_TEST

/* relu, softmax, dropout and the input layer on small shapes: the same
 * in the whole suite and in the small tcase oclgrind runs. */
static void compare_small_layers(void)
{
    compare_layer("relu", NULL, (clnet_shape){3, 5, 7}, 2, 0, -1, 1);
    compare_layer("softmax", NULL, (clnet_shape){1, 2, 11}, 3, 0, -2, 2);
    clnet_value dr[1] = {{{0, 0, 0}, 0.5}};
    compare_layer("dropout", dr, (clnet_shape){1, 1, 333}, 3, 0, -1, 1);
    clnet_value in[4] = {{{5, 7, 1}, 0}, {{0, 0, 0}, 1.0 / 255}};
    /* the input layer ignores `in`; here it sizes the test's byte batch */
    compare_layer("input", in, (clnet_shape){5, 7, 1}, 3, 0, 0, 1);
    /* plugin ABI 2's kinds, on shapes that are no multiple of a
     * work-group, so oclgrind sees every kernel's edges */
    clnet_value bn[4] = {{{0, 0, 0}, 0.9}, {{0, 0, 0}, 1e-3}, {{0}, 0}, {{0}, 0}};
    compare_layer("batchnorm", bn, (clnet_shape){5, 3, 7}, 2, 0, -1, 1);
    clnet_value ap[3] = {{{3, 3, 0}, 0}, {{2, 2, 0}, 0}, {{1, 0, 0}, 0}};
    compare_layer("avgpool2d", ap, (clnet_shape){7, 5, 3}, 2, 0, -1, 1);
    compare_layer("global_avgpool2d", NULL, (clnet_shape){5, 3, 17}, 2, 0, -1,
                  1);
    compare_layer("global_maxpool2d", NULL, (clnet_shape){5, 3, 17}, 1, 0, -1,
                  1);
    clnet_value alpha[1] = {{{0, 0, 0}, 0.2}}, approx[1] = {{{1, 0, 0}, 0}};
    compare_layer("sigmoid", NULL, (clnet_shape){3, 2, 5}, 2, 0, -3, 3);
    compare_layer("tanh", NULL, (clnet_shape){3, 2, 5}, 2, 0, -3, 3);
    compare_layer("leaky_relu", alpha, (clnet_shape){3, 2, 5}, 2, 0, -3, 3);
    compare_layer("elu", alpha, (clnet_shape){3, 2, 5}, 2, 0, -3, 3);
    compare_layer("gelu", approx, (clnet_shape){3, 2, 5}, 2, 0, -3, 3);
    compare_layer("swish", NULL, (clnet_shape){3, 2, 5}, 2, 0, -3, 3);
}

START_TEST(pooling_dense_and_activations_match_cpu)
{
    REQUIRE_OPENCL();
    clnet_value p[POOL_NSETTINGS] = {{{2, 2, 0}, 0}, {{0, 0, 0}, 0},
                                     {{0, 0, 0}, 0}};
    compare_layer("maxpool2d", p, (clnet_shape){7, 6, 5}, 3, 0, -1, 1);
    clnet_value p2[POOL_NSETTINGS] = {{{3, 3, 0}, 0}, {{2, 2, 0}, 0},
                                      {{1, 0, 0}, 0}};
    compare_layer("maxpool2d", p2, (clnet_shape){7, 9, 3}, 1, 0, -1, 1);
    compare_layer("maxpool2d", p2, (clnet_shape){8, 5, 37}, 2, 0, -1, 1);
    for (int act = 0; act <= 2; act++) {
        clnet_value d[DENSE_NSETTINGS] = {{{13, 0, 0}, 0}, {{act, 0, 0}, 0}};
        compare_layer("dense", d, (clnet_shape){1, 1, 37}, 5, 0, -1, 1);
        compare_layer("dense", d, (clnet_shape){2, 3, 7}, 1, act == 2, -1, 1);
    }
    compare_small_layers();
    compare_layer("softmax", NULL, (clnet_shape){1, 1, 10}, 1, 1, -2, 2);
}
END_TEST

/* Every layer and implementation on shapes small enough for oclgrind
 * (tools/oclgrind-check.sh runs this tcase alone): 7, 13, 17 and 67
 * filters, 3x3, 5x5 and 1x1 kernels, stride 2, same padding, 19 and 64
 * channels (the window kernels' vector tails and the vector family's
 * transposed-convolution input gradient), and 4,352 output pixels so
 * conv2d's weight and bias gradients split into slices. */
START_TEST(small_shapes_match_cpu)
{
    REQUIRE_OPENCL();
    static const conv_case direct[] = {
        {7, 3, 1, 0, 1, {6, 7, 3}, 2, -1},
        {13, 3, 2, 1, 0, {9, 8, 2}, 1, -1},
        {17, 1, 1, 0, 2, {3, 4, 5}, 2, -1},
    };
    static const conv_case gemm[] = {
        {7, 3, 1, 0, 1, {6, 7, 3}, 2, -1},
        {13, 5, 2, 1, 0, {9, 8, 2}, 1, -1},
        {17, 1, 1, 0, 2, {3, 4, 5}, 2, -1},
        {67, 3, 2, 1, 1, {5, 5, 2}, 1, -1},
        {5, 3, 1, 1, 1, {5, 4, 19}, 1, -1},
        {5, 3, 1, 1, 1, {4, 4, 64}, 1, -1},
        {4, 1, 1, 0, 1, {16, 16, 1}, 17, 0},
    };
    const char *convs[] = {"conv2d/im2col-gemm@tiles16x4",
                           "conv2d/implicit-gemm@vec4x4",
                           "conv2d/im2col-gemm@tiles32x8",
                           "conv2d/implicit-gemm@vec8x2",
                           "conv2d/implicit-gemm@vec8x1"};
    const char *denses[] = {"dense/gemm@tiles16x4", "dense/gemm@vec4x4",
                            "dense/gemm@tiles32x8", "dense/gemm@vec8x2",
                            "dense/gemm@vec8x1"};
    compare_convs("conv2d/direct", direct, sizeof direct / sizeof direct[0]);
    /* dilated taps through im2col and col2im */
    clnet_value dv[CONV_NSETTINGS];
    conv_values(dv, 3, 3, 1, 1, 1);
    dv[CONV_DILATION].i[0] = 2;
    dv[CONV_DILATION].i[1] = 3;
    compare_layer("conv2d/im2col-gemm@tiles16x4", dv, (clnet_shape){5, 7, 2},
                  1, 0, -1, 1);
    for (int i = 0; i < 5; i++) {
        compare_convs(convs[i], gemm, sizeof gemm / sizeof gemm[0]);
        clnet_value d[DENSE_NSETTINGS] = {{{19, 0, 0}, 0}, {{0, 0, 0}, 0}};
        compare_layer(denses[i], d, (clnet_shape){1, 1, 45}, 7, 0, -1, 1);
        clnet_value d2[DENSE_NSETTINGS] = {{{67, 0, 0}, 0}, {{1, 0, 0}, 0}};
        compare_layer(denses[i], d2, (clnet_shape){2, 3, 7}, 3, 0, -1, 1);
    }
    clnet_value p[POOL_NSETTINGS] = {{{2, 2, 0}, 0}, {{0, 0, 0}, 0},
                                     {{0, 0, 0}, 0}};
    compare_layer("maxpool2d", p, (clnet_shape){7, 6, 5}, 2, 0, -1, 1);
    clnet_value p2[POOL_NSETTINGS] = {{{3, 3, 0}, 0}, {{2, 2, 0}, 0},
                                      {{1, 0, 0}, 0}};
    compare_layer("maxpool2d", p2, (clnet_shape){8, 5, 19}, 1, 0, -1, 1);
    clnet_value sm[DENSE_NSETTINGS] = {{{10, 0, 0}, 0}, {{2, 0, 0}, 0}};
    compare_layer("dense", sm, (clnet_shape){1, 1, 13}, 3, 1, -1, 1);
    compare_small_layers();
}
END_TEST

START_TEST(loss_and_optimizers_match_cpu)
{
    REQUIRE_OPENCL();
    char err[CLNET_ERRLEN];
    const clnet_plugin *lc = test_plugin("sparse_categorical_crossentropy");
    const clnet_plugin *lo = clnet_registry_find(
        test_registry(), "sparse_categorical_crossentropy", "opencl");
    void *sc, *so;
    enum { B = 300, K = 10 };
    float pred[B * K], d[B * K], r[B * K];
    int32_t labels[B];
    unsigned seed = 3;
    test_fill(pred, B * K, 0.001f, 1, &seed);
    pred[5] = 0; /* clipped, with and without smoothing */
    for (int b = 0; b < B; b++)
        labels[b] = (b * 7) % K;
    void *op = upload(pred, B * K), *od = upload(d, B * K);
    void *ol = upload((const float *)labels, B);
    const double smoothing[] = {0, 0.1};
    for (int ls = 0; ls < 2; ls++) {
        clnet_value lv[SCCE_NSETTINGS] = {{{0}, smoothing[ls]}};
        clnet_create_args a = {0};
        a.settings = lv;
        ck_assert_int_eq(lc->create(&a, &sc, err), 0);
        a.device = ctx;
        ck_assert_msg(lo->create(&a, &so, err) == 0, "%s", err);
        for (int fused = 0; fused < 2; fused++) {
            double l1 = 0, l2 = 0;
            int64_t c1 = 0, c2 = 0;
            clnet_step st = {B, 1, 1, 1, 1.0};
            ck_assert_int_eq(lc->loss.compute(sc, &st, pred, labels, K, fused,
                                              d, &l1, &c1, err), 0);
            ck_assert_msg(lo->loss.compute(so, &st, op, ol, K, fused, od, &l2,
                                           &c2, err) == 0, "%s", err);
            ck_assert_double_eq_tol(l1, l2, 1e-4 * fabs(l1));
            ck_assert_int_eq(c1, c2);
            download(od, r, B * K);
            expect_close("loss gradient", d, r, B * K);
        }
        lc->destroy(sc);
        lo->destroy(so);
    }
    /* each optimizer and setting that changes its arithmetic, over three
     * steps at changing lr_scale */
    clnet_value adam[4] = {{{0}, 0.01}, {{0}, 0.9}, {{0}, 0.999}, {{0}, 1e-7}};
    clnet_value adamw[5] = {{{0}, 0.01}, {{0}, 0.9}, {{0}, 0.999}, {{0}, 1e-7},
                            {{0}, 0.05}};
    clnet_value sgd[4] = {{{0}, 0.05}, {{0}, 0.9}, {{0}, 0}, {{0}, 0}};
    clnet_value sgd_nw[4] = {{{0}, 0.05}, {{0}, 0.9}, {{1}, 0}, {{0}, 0.1}};
    clnet_value rms[5] = {{{0}, 0.01}, {{0}, 0.9}, {{0}, 0}, {{0}, 1e-7},
                          {{0}, 0}};
    clnet_value rms_cm[5] = {{{0}, 0.01}, {{0}, 0.8}, {{0}, 0.5}, {{0}, 1e-7},
                             {{1}, 0}};
    const struct {
        const char *kind;
        const clnet_value *v;
    } opts[] = {{"adam", adam},       {"adamw", adamw}, {"sgd", sgd},
                {"sgd", sgd_nw},      {"rmsprop", rms}, {"rmsprop", rms_cm}};
    const double scales[] = {1.0, 0.5, 0.25};
    for (size_t o = 0; o < sizeof opts / sizeof opts[0]; o++) {
        const clnet_plugin *oc = test_plugin(opts[o].kind);
        const clnet_plugin *oo =
            clnet_registry_find(test_registry(), opts[o].kind, "opencl");
        ck_assert_msg(oo != NULL, "no opencl %s", opts[o].kind);
        clnet_create_args oa = {0};
        oa.settings = opts[o].v;
        ck_assert_int_eq(oc->create(&oa, &sc, err), 0);
        oa.device = ctx;
        ck_assert_msg(oo->create(&oa, &so, err) == 0, "%s", err);
        enum { N = 1001 };
        int ns = oc->optimizer.nslots;
        ck_assert_int_le(ns, 3);
        float w[N], g[N], slot[3][N] = {{0}}, wr[N], sr[N];
        test_fill(w, N, -1, 1, &seed);
        void *ow = upload(w, N), *og, *slots_c[3], *slots_o[3];
        for (int k = 0; k < ns; k++) {
            slots_c[k] = slot[k];
            slots_o[k] = upload(slot[k], N);
        }
        for (int step = 1; step <= 3; step++) {
            test_fill(g, N, -1, 1, &seed);
            og = upload(g, N);
            clnet_step st = {1, 1, 0, (uint64_t)step, scales[step - 1]};
            ck_assert_int_eq(oc->optimizer.update(sc, &st, w, g, slots_c, N,
                                                  err), 0);
            ck_assert_msg(oo->optimizer.update(so, &st, ow, og, slots_o, N,
                                               err) == 0, "%s", err);
            dev->device.release(ctx, og);
        }
        download(ow, wr, N);
        expect_close(opts[o].kind, w, wr, N);
        for (int k = 0; k < ns; k++) {
            download(slots_o[k], sr, N);
            expect_close("optimizer state", slot[k], sr, N);
            dev->device.release(ctx, slots_o[k]);
        }
        dev->device.release(ctx, ow);
        oc->destroy(sc);
        oo->destroy(so);
    }
    dev->device.release(ctx, op);
    dev->device.release(ctx, od);
    dev->device.release(ctx, ol);
}
END_TEST

/* The OpenCL loss on a batch worked out by hand: label_smoothing 0.3 over
 * 3 classes makes the targets (0.1, 0.8, 0.1) and (0.1, 0.1, 0.8). */
/* A slice of the batch that knows where it starts (clnet_step's
 * sample_offset, what a data-parallel replica gets) draws dropout's
 * masks of those samples in the whole batch, on both backends. */
START_TEST(dropout_slices_draw_the_whole_batch_masks)
{
    REQUIRE_OPENCL();
    enum { B = 6, N = 37, FIRST = 2, M = 3 };
    clnet_value rate[1] = {{{0, 0, 0}, 0.5}};
    clnet_shape in = {1, 1, N};
    clnet_layer_plan plan = {0};
    char err[CLNET_ERRLEN];
    ck_assert_msg(test_infer("dropout", rate, &in, 1, &plan, err) == 0, "%s",
                  err);
    clnet_create_args a = {0};
    a.settings = rate;
    a.ninputs = 1;
    a.in = &in;
    a.plan = &plan;
    a.max_batch = B;
    a.threads = 1;
    a.layer_index = 3;
    a.tuning = "";
    const clnet_plugin *pc = test_plugin("dropout");
    const clnet_plugin *po = clnet_registry_find(test_registry(), "dropout",
                                                 "opencl");
    ck_assert_ptr_nonnull(po);
    void *sc, *so;
    ck_assert_msg(pc->create(&a, &sc, err) == 0, "%s", err);
    a.device = ctx;
    ck_assert_msg(po->create(&a, &so, err) == 0, "%s", err);
    float x[B * N], whole[B * N], part[M * N], r[M * N];
    for (int i = 0; i < B * N; i++)
        x[i] = 1.0f + (float)i;
    clnet_step st = {B, 1, 42, 9, 1.0, 0};
    ck_assert_int_eq(test_forward(pc, sc, &st, x, whole, err), 0);
    /* samples FIRST .. FIRST + M - 1 alone, told where they start */
    clnet_step sl = {M, 1, 42, 9, 1.0, FIRST};
    ck_assert_int_eq(test_forward(pc, sc, &sl, x + FIRST * N, part, err), 0);
    ck_assert_msg(!memcmp(part, whole + FIRST * N, sizeof part),
                  "cpu: the slice's mask is not the whole batch's");
    void *ox = upload(x + FIRST * N, M * N), *oy = upload(part, M * N);
    ck_assert_msg(test_forward(po, so, &sl, ox, oy, err) == 0, "%s", err);
    download(oy, r, M * N);
    ck_assert_msg(!memcmp(r, whole + FIRST * N, sizeof r),
                  "opencl: the slice's mask is not the whole batch's");
    /* told nothing, a slice draws the first samples' masks instead */
    sl.sample_offset = 0;
    ck_assert_int_eq(test_forward(pc, sc, &sl, x + FIRST * N, part, err), 0);
    ck_assert(memcmp(part, whole + FIRST * N, sizeof part) != 0);
    dev->device.release(ctx, ox);
    dev->device.release(ctx, oy);
    pc->destroy(sc);
    po->destroy(so);
}
END_TEST

START_TEST(label_smoothing_by_hand)
{
    REQUIRE_OPENCL();
    char err[CLNET_ERRLEN];
    const clnet_plugin *lo = clnet_registry_find(
        test_registry(), "sparse_categorical_crossentropy", "opencl");
    clnet_value lv[SCCE_NSETTINGS] = {{{0}, 0.3}};
    clnet_create_args a = {0};
    a.settings = lv;
    a.device = ctx;
    void *so;
    ck_assert_msg(lo->create(&a, &so, err) == 0, "%s", err);
    float pred[6] = {0.2f, 0.5f, 0.3f, 0.7f, 0.2f, 0.1f}, d[6];
    int32_t labels[2] = {1, 2};
    void *op = upload(pred, 6), *od = upload(NULL, 6);
    void *ol = upload((const float *)labels, 2);
    double want = -(0.1 * log(0.2) + 0.8 * log(0.5) + 0.1 * log(0.3)) -
                  (0.1 * log(0.7) + 0.1 * log(0.2) + 0.8 * log(0.1));
    /* unfused -t / (n p), fused (p - t) / n */
    const double grads[2][6] = {
        {-0.1 / (2 * 0.2), -0.8 / (2 * 0.5), -0.1 / (2 * 0.3),
         -0.1 / (2 * 0.7), -0.1 / (2 * 0.2), -0.8 / (2 * 0.1)},
        {(0.2 - 0.1) / 2, (0.5 - 0.8) / 2, (0.3 - 0.1) / 2, (0.7 - 0.1) / 2,
         (0.2 - 0.1) / 2, (0.1 - 0.8) / 2}};
    for (int fused = 0; fused < 2; fused++) {
        double loss = 0;
        int64_t correct = 0;
        clnet_step st = {2, 1, 0, 1, 1.0};
        ck_assert_msg(lo->loss.compute(so, &st, op, ol, 3, fused, od, &loss,
                                       &correct, err) == 0, "%s", err);
        ck_assert_double_eq_tol(loss, want, 1e-5);
        ck_assert_int_eq(correct, 1);
        download(od, d, 6);
        for (int i = 0; i < 6; i++)
            ck_assert_msg(fabs(d[i] - grads[fused][i]) <= 1e-6,
                          "fused %d: gradient %d is %g, expected %g", fused,
                          i, d[i], grads[fused][i]);
    }
    lo->destroy(so);
    dev->device.release(ctx, op);
    dev->device.release(ctx, od);
    dev->device.release(ctx, ol);
}
END_TEST

typedef struct {
    double loss[32];
    int n;
} trajectory;

static void record(int64_t step, double loss, void *user)
{
    (void)step;
    trajectory *t = user;
    if (t->n < 32)
        t->loss[t->n++] = loss;
}

static void train_steps(const char *device, const char *backends,
                        trajectory *t)
{
    const char *text = "input shape=12x12x1\n"
                       "conv2d filters=6 kernel=3 activation=relu\n"
                       "maxpool2d pool=2\n"
                       "conv2d filters=5 kernel=3 padding=same\n"
                       "relu\nflatten\n"
                       "dense units=16 activation=relu\n"
                       "dropout rate=0.25\n"
                       "dense units=4 activation=softmax\n"
                       "train optimizer=adam lr=0.01\n";
    clnet_error e;
    clnet_topology *top = clnet_topology_parse(text, "mixed.net", &e);
    clnet_build_options o = {0};
    o.max_batch = 16;
    o.seed = 9;
    o.threads = 2;
    o.device = device;
    o.backends = backends;
    clnet_net *n = clnet_net_build(top, test_registry(), &o, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    clnet_topology_free(top);
    clnet_dataset ds = {40, 12, 12, malloc(40 * 144), malloc(40 * 4), 1, 0, NULL};
    for (int i = 0; i < 40; i++) {
        ds.labels[i] = i % 4;
        for (int p = 0; p < 144; p++)
            ds.pixels[i * 144 + p] =
                (uint8_t)(p / 36 == i % 4 ? 200 + p % 50 : (p * 13 + i) % 60);
    }
    clnet_train_options to = {0};
    to.epochs = 3;
    to.on_step = record;
    to.user = t;
    ck_assert_msg(clnet_train(n, &ds, NULL, &to, &e) == 0, "%s", e.msg);
    clnet_dataset_free(&ds);
    clnet_net_free(n);
}

START_TEST(mixed_network_follows_cpu)
{
    REQUIRE_OPENCL();
    trajectory cpu = {0}, mixed = {0}, ocl = {0};
    train_steps("cpu", NULL, &cpu);
    train_steps("cpu", "conv2d_2=opencl,dense=opencl,relu=opencl", &mixed);
    train_steps("opencl", NULL, &ocl);
    ck_assert_int_eq(cpu.n, 9);
    for (int i = 0; i < cpu.n; i++) {
        ck_assert_msg(fabs(cpu.loss[i] - mixed.loss[i]) <=
                          1e-3 * fabs(cpu.loss[i]),
                      "step %d: cpu %.6f, mixed %.6f", i + 1, cpu.loss[i],
                      mixed.loss[i]);
        ck_assert_msg(fabs(cpu.loss[i] - ocl.loss[i]) <=
                          1e-3 * fabs(cpu.loss[i]),
                      "step %d: cpu %.6f, opencl %.6f", i + 1, cpu.loss[i],
                      ocl.loss[i]);
    }
}
END_TEST

START_TEST(clear_errors)
{
    REQUIRE_OPENCL();
    char err[CLNET_ERRLEN];
    clnet_ocl *o = ctx;
    cl_program prog;
    ck_assert_int_ne(o->build(o, "__kernel void broken(void) { nonsense; }",
                              "", &prog, err), 0);
    ck_assert_msg(strstr(err, "build log"), "%s", err);
    ck_assert_msg(strstr(err, "nonsense"), "the log should quote the "
                  "offending code: %s", err);
    void *buf;
    ck_assert_int_ne(dev->device.alloc(ctx, (size_t)o->max_alloc + 1, &buf,
                                       err), 0);
    ck_assert_msg(strstr(err, "CL_DEVICE_MAX_MEM_ALLOC_SIZE"), "%s", err);
    clnet_error e;
    clnet_topology *t = clnet_topology_parse("input shape=4x4x1\nflatten\n"
                                             "dense units=2\n", "t.net", &e);
    clnet_build_options bo = {0};
    bo.device = "opencl:99";
    ck_assert_ptr_null(clnet_net_build(t, test_registry(), &bo, &e));
    ck_assert_msg(strstr(e.msg, "there is no opencl device 99"), "%s", e.msg);
    bo.device = "opencl:x";
    ck_assert_ptr_null(clnet_net_build(t, test_registry(), &bo, &e));
    ck_assert_int_eq(e.status, CLNET_E_ARG);
    clnet_topology_free(t);
}
END_TEST

/* ---- the kernel cache, across processes ---- */

/* This test program, run again as a fresh process for the cache tests. */
static char self[PATH_MAX];

#define CACHE_CHILD "--cache-child"

/* The child: builds one program through the device plugin's cache
 * (CLNET_CACHE_DIR, set by the parent) and checks what it computes, 4 i +
 * shift, where the build options may define SHIFT; exit 0 when right. */
static int cache_child(int shift)
{
    if (!have_opencl())
        return 77;
    clnet_ocl *o = ctx;
    const char *src = "#ifndef SHIFT\n#define SHIFT 0\n#endif\n"
                      "__kernel void affine(__global float *x, float a) {\n"
                      "    size_t i = get_global_id(0);\n"
                      "    x[i] = a * x[i] + (float)i + SHIFT;\n"
                      "}\n";
    enum { N = 64 };
    float x[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)i;
    char err[CLNET_ERRLEN];
    cl_program prog;
    if (o->build(o, src, "-DCLNET_CACHE_TEST", &prog, err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    cl_int rc;
    cl_kernel k = clCreateKernel(prog, "affine", &rc);
    cl_mem buf = clCreateBuffer(o->context, CL_MEM_READ_WRITE, sizeof x, NULL,
                                &rc);
    float a = 3;
    size_t global = N;
    rc |= clEnqueueWriteBuffer(o->queue, buf, CL_TRUE, 0, sizeof x, x, 0,
                               NULL, NULL);
    rc |= clSetKernelArg(k, 0, sizeof buf, &buf);
    rc |= clSetKernelArg(k, 1, sizeof a, &a);
    rc |= clEnqueueNDRangeKernel(o->queue, k, 1, NULL, &global, NULL, 0, NULL,
                                 NULL);
    rc |= clEnqueueReadBuffer(o->queue, buf, CL_TRUE, 0, sizeof x, x, 0, NULL,
                              NULL);
    int wrong = rc != CL_SUCCESS;
    for (int i = 0; i < N; i++)
        wrong += x[i] != 4.0f * (float)i + (float)shift;
    clReleaseMemObject(buf);
    clReleaseKernel(k);
    clReleaseProgram(prog);
    dev->device.close(ctx);
    if (wrong)
        fprintf(stderr, "cache child: %d wrong values\n", wrong);
    return wrong ? 1 : 0;
}

static char child_out[16384];

/* Runs the child with the cache in dir, after the environment
 * assignments in env, expecting `shift`; its stderr lands in child_out. */
static int run_child_with(const char *dir, const char *env, int shift)
{
    char cmd[2 * PATH_MAX + 512];
    snprintf(cmd, sizeof cmd,
             "CLNET_CACHE_DIR='%s' %s '%s' " CACHE_CHILD " %d 2>&1", dir, env,
             self, shift);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(child_out, 1, sizeof child_out - 1, p);
    child_out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run_child(const char *dir) { return run_child_with(dir, "", 0); }

/* Entries (*.bin) in dir. */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int found = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        found += len > 4 && strcmp(de->d_name + len - 4, ".bin") == 0;
    }
    closedir(d);
    return found;
}

/* The one entry in dir, its size, and its bytes in *data (malloc'ed). */
static off_t entry(const char *dir, char *path, size_t n, unsigned char **data)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int found = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        ck_assert_msg(!strstr(de->d_name, ".tmp."), "temporary file %s left "
                      "in the cache", de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".bin") == 0) {
            snprintf(path, n, "%s/%s", dir, de->d_name);
            found++;
        }
    }
    closedir(d);
    ck_assert_int_eq(found, 1);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    *data = malloc((size_t)st.st_size);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(*data, 1, (size_t)st.st_size, f),
                      (size_t)st.st_size);
    fclose(f);
    return st.st_size;
}

/* After damage: the child computes the right result, says why it did not
 * use the entry, and leaves a private entry behind that the next run uses
 * without a word (so it is intact: a damaged one would be reported). Its
 * size is not compared: PoCL's binary also carries the work-group
 * variants compiled so far, so it grows between runs. */
static void expect_rebuilt(const char *dir, const char *what,
                           const char *why)
{
    int rc = run_child(dir);
    ck_assert_msg(rc == 0, "%s: the run exited %d:\n%s", what, rc, child_out);
    ck_assert_msg(strstr(child_out, why), "%s: '%s' not in:\n%s", what, why,
                  child_out);
    char path[PATH_MAX + 256];
    unsigned char *data;
    entry(dir, path, sizeof path, &data);
    free(data);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_msg(!(st.st_mode & (S_IWGRP | S_IWOTH)) &&
                      st.st_uid == geteuid(),
                  "%s: the entry was not replaced (mode %o, uid %u)", what,
                  (unsigned)st.st_mode, (unsigned)st.st_uid);
    ck_assert_msg(run_child(dir) == 0 && !strstr(child_out, "warning"),
                  "%s: the rewritten entry was not used cleanly:\n%s", what,
                  child_out);
}

START_TEST(damaged_cache_entries_are_rebuilt)
{
    REQUIRE_OPENCL();
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/kernel-cache", test_tmpdir());
    ck_assert_int_eq(run_child(dir), 0);
    ck_assert_msg(!strstr(child_out, "warning"), "%s", child_out);
    char path[PATH_MAX + 256];
    unsigned char *orig;
    off_t size = entry(dir, path, sizeof path, &orig);
    ck_assert_int_gt(size, 64);
    free(orig);

    ck_assert_int_eq(truncate(path, size / 2), 0);
    expect_rebuilt(dir, "truncated to half", "damaged");

    unsigned char *data;
    size = entry(dir, path, sizeof path, &data);
    data[size / 2] ^= 0x10;
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    free(data);
    expect_rebuilt(dir, "one bit flipped", "checksum");

    ck_assert_int_eq(chmod(path, 0666), 0);
    expect_rebuilt(dir, "world-writable", "writable by others");

    /* root may hand the entry to another user: refused as well */
    if (geteuid() == 0 && chown(path, 1, (gid_t)-1) == 0)
        expect_rebuilt(dir, "another user's", "belongs to uid 1");

    /* a loose folder is not used at all, and says how to fix it */
    ck_assert_int_eq(chmod(dir, 0777), 0);
    ck_assert_int_eq(run_child(dir), 0);
    ck_assert_msg(strstr(child_out, "chmod go-w"), "%s", child_out);
    ck_assert_int_eq(chmod(dir, 0700), 0);
}
END_TEST

START_TEST(cache_key_has_every_build_option)
{
    REQUIRE_OPENCL();
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/options-cache", test_tmpdir());
    ck_assert_msg(run_child(dir) == 0, "%s", child_out);
    ck_assert_int_eq(entries(dir), 1);
    /* clnet's own extra options: used, and a build of their own */
    int rc = run_child_with(dir, "CLNET_CL_BUILD_OPTIONS=-DSHIFT=7", 7);
    ck_assert_msg(rc == 0, "CLNET_CL_BUILD_OPTIONS was not used (exit %d):\n%s",
                  rc, child_out);
    ck_assert_int_eq(entries(dir), 2);
    ck_assert_msg(run_child(dir) == 0, "%s", child_out);
    /* oclgrind's, which its runtime appends itself: PoCL ignores the
     * variable, but the build is cached apart */
    ck_assert_msg(run_child_with(dir, "OCLGRIND_BUILD_OPTIONS=-cl-opt-disable",
                                 0) == 0, "%s", child_out);
    ck_assert_int_eq(entries(dir), 3);
}
END_TEST

int main(int argc, char **argv)
{
    if (!realpath(argv[0], self))
        snprintf(self, sizeof self, "%s", argv[0]);
    if (argc > 2 && strcmp(argv[1], CACHE_CHILD) == 0)
        return cache_child(atoi(argv[2]));
    if (!have_opencl())
        return 77; /* meson's exit status for a skipped test */
    Suite *s = suite_create("opencl");
    TCase *tc = tcase_create("versus-cpu");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, conv2d_matches_cpu);
    tcase_add_test(tc, dilated_conv2d_matches_cpu);
    tcase_add_test(tc, both_gemm_variants_match_cpu);
    tcase_add_test(tc, direct_conv2d_matches_cpu);
    tcase_add_test(tc, pooling_dense_and_activations_match_cpu);
    tcase_add_test(tc, mixed_network_follows_cpu);
    tcase_add_test(tc, clear_errors);
    suite_add_tcase(s, tc);
    /* small shapes only, for tools/oclgrind-check.sh (CK_RUN_CASE=small) */
    TCase *small = tcase_create("small");
    tcase_set_timeout(small, 600);
    tcase_add_test(small, small_shapes_match_cpu);
    tcase_add_test(small, loss_and_optimizers_match_cpu);
    tcase_add_test(small, label_smoothing_by_hand);
    tcase_add_test(small, dropout_slices_draw_the_whole_batch_masks);
    suite_add_tcase(s, small);
    TCase *cache = tcase_create("cache");
    tcase_set_timeout(cache, 120);
    tcase_add_test(cache, damaged_cache_entries_are_rebuilt);
    tcase_add_test(cache, cache_key_has_every_build_option);
    suite_add_tcase(s, cache);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (ctx)
        dev->device.close(ctx);
    return failed ? 1 : 0;
}
