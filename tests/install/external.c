/* A program outside the clnet tree, built against an installed prefix with
 * nothing but `pkg-config --cflags --libs clnet` (tests/install_test.sh):
 * it trains a small network on synthetic images step by step and with the
 * whole-epoch call, evaluates it, and exits 0 only when it learned. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clnet/clnet.h>

#define N 512
#define SIDE 8

static const char *const topology =
    "input shape=8x8x1\n"
    "conv2d filters=4 kernel=3 activation=relu\n"
    "flatten\n"
    "dense units=2\n"
    "softmax\n"
    "train optimizer=adam lr=0.01 batch=32 epochs=4\n";

static int failed(const char *what, const clnet_error *e)
{
    fprintf(stderr, "external: %s: %s\n", what, e->msg);
    return 1;
}

int main(void)
{
    if (strcmp(clnet_version(), CLNET_VERSION) != 0) {
        fprintf(stderr, "external: compiled against clnet %s, runs %s\n",
                CLNET_VERSION, clnet_version());
        return 1;
    }
    /* class 1: a bright left half; class 0: a bright right half */
    static uint8_t pixels[N * SIDE * SIDE];
    static int32_t labels[N];
    unsigned seed = 7;
    for (int i = 0; i < N; i++) {
        labels[i] = i % 2;
        for (int p = 0; p < SIDE * SIDE; p++) {
            seed = seed * 1103515245u + 12345u;
            int left = p % SIDE < SIDE / 2;
            int bright = left == (labels[i] == 1);
            pixels[i * SIDE * SIDE + p] =
                (uint8_t)((bright ? 160 : 0) + (seed >> 16) % 64);
        }
    }
    clnet_error e;
    clnet_registry *r = clnet_registry_open(&e);
    if (!r)
        return failed("registry", &e);
    clnet_topology *t = clnet_topology_parse(topology, "external.net", &e);
    if (!t)
        return failed("topology", &e);
    clnet_build_options o = {0};
    o.seed = 1;
    clnet_net *net = clnet_net_build(t, r, &o, &e);
    if (!net)
        return failed("build", &e);
    /* one batch at a time, as a program with its own data loop would */
    double loss = 0;
    int64_t correct = 0;
    for (int s = 0; s < 4; s++)
        if (clnet_net_train_batch(net, pixels + s * 32 * SIDE * SIDE,
                                  labels + s * 32, 32, &loss, &correct, &e))
            return failed("train_batch", &e);
    printf("external: step-by-step loss %.4f\n", loss);
    clnet_dataset ds = {.count = N, .rows = SIDE, .cols = SIDE,
                        .pixels = pixels, .labels = labels, .channels = 1};
    clnet_train_options to = {0};
    if (clnet_train(net, &ds, NULL, &to, &e))
        return failed("train", &e);
    clnet_eval_result res;
    if (clnet_evaluate(net, &ds, &res, &e))
        return failed("evaluate", &e);
    printf("external: clnet %s, accuracy %.4f, loss %.4f\n", clnet_version(),
           res.accuracy, res.loss);
    free(res.confusion);
    clnet_net_free(net);
    clnet_topology_free(t);
    clnet_registry_free(r);
    return res.accuracy >= 0.95 ? 0 : 1;
}
