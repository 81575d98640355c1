/* Helpers shared by the check suites: temporary files, plugin lookup and
 * a finite-difference gradient checker for layer plugins. */
#ifndef CLNET_TEST_HELPERS_H
#define CLNET_TEST_HELPERS_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "clnet/clnet.h"
#include "clnet/plugin.h"

/* A fresh folder under the build's temporary space; removed at exit. */
const char *test_tmpdir(void);
/* Writes n bytes to dir/name and returns the path (static buffer ring). */
const char *test_write(const char *name, const void *data, size_t n);
/* Writes a gzip file. */
const char *test_write_gz(const char *name, const void *data, size_t n);

/* Runs suite s (check's default fork mode) and returns main's exit
 * status: 1 when any test failed. */
int test_run(Suite *s);

/* Parses text as "t.net" and builds it with the build tree's plugins;
 * NULL with the error in e. */
clnet_net *test_build(const char *text, const clnet_build_options *o,
                      clnet_error *e);

/* Writes PREFIX-images-idx3-ubyte and PREFIX-labels-idx1-ubyte (".gz"
 * with gz) of n 28x28 images, class i % 10 a bright band of rows, into
 * the test folder: MNIST's form for the tool's --data. */
void test_write_mnist(const char *prefix, uint32_t n, int gz);

/* Caps this process's address space at its current size plus extra
 * bytes, so that an allocation of what a hostile header claims fails the
 * test instead of passing on overcommitted memory. Call it in a forked
 * test (CK_FORK). */
void test_cap_memory(size_t extra);

/* What clnet_net_summary prints for n, as a string to free(). */
char *test_summary(const clnet_net *n);

/* The registry of the build tree, opened once. */
const clnet_registry *test_registry(void);
const clnet_plugin *test_plugin(const char *kind);
/* The cpu plugin of kind with implementation impl. */
const clnet_plugin *test_plugin_impl(const char *kind, const char *impl);

/* The first OpenCL device, through the OpenCL device plugin, opened once
 * (*ctx its context): the plugin, or NULL when there is none (said once on
 * stderr). Safe outside a test (no assertions). */
const clnet_plugin *test_opencl(void **ctx);
/* n floats to a new device buffer (host NULL: left as allocated), and
 * back. */
void *test_upload(const clnet_plugin *dev, void *ctx, const float *host,
                  size_t n);
void test_download(const clnet_plugin *dev, void *ctx, const void *buf,
                   float *host, size_t n);

/* The kind's definition, and its plan for settings and inputs. */
const clnet_plugin *test_kind(const char *kind);
int test_infer(const char *kind, const clnet_value *values,
               const clnet_shape *in, int32_t ninputs, clnet_layer_plan *plan,
               char *err);
/* A single-input layer's forward and backward through the ABI's arrays. */
int test_forward(const clnet_plugin *p, void *state, const clnet_step *st,
                 const void *x, void *y, char *err);
int test_backward(const clnet_plugin *p, void *state, const clnet_step *st,
                  const void *x, const void *y, void *dy, void *dx, char *err);

/* A layer created from a plugin for tests. */
typedef struct {
    const clnet_plugin *p;
    void *state;
    clnet_layer_plan plan;
    float *params[CLNET_MAX_PARAMS], *grads[CLNET_MAX_PARAMS];
    size_t nparam[CLNET_MAX_PARAMS];
    clnet_shape in;
    int32_t batch;
    size_t in_size, out_size; /* per sample */
} test_layer;

/* Creates kind with `values`, input shape `in`, batch `batch`; fills
 * parameters with uniform values in [-1, 1] from `seed`. */
/* kind may be "kind/impl" to pick an implementation. */
void test_layer_create(test_layer *l, const char *kind,
                       const clnet_value *values, clnet_shape in,
                       int32_t batch, int fuse, unsigned seed);
void test_layer_destroy(test_layer *l);

/* Uniform numbers in [lo, hi). */
void test_fill(float *x, size_t n, float lo, float hi, unsigned *seed);

/* Checks the layer's backward against central finite differences of
 * L = sum(y * r) for random r, for the input and every parameter; the
 * relative error of each gradient (as a vector) must stay below tol. */
void test_gradcheck(test_layer *l, const float *x, float h, double tol);

#endif
