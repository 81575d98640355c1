/* libFuzzer target: a topology file parsed, built into a network from the
 * build tree's CPU plugins (batch 2, one thread), summarised and, when it
 * is small, trained for one step on two images (forward, backward and the
 * optimizer of every layer). Any input must end in a network or a located
 * error message, never a crash, a leak or a slow build. The same text is
 * also read as a configuration file (the same line syntax) and printed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clnet/clnet.h"

/* Networks above these sizes are built but not trained: a legitimately
 * large network may take longer than the fuzzer's time limit to train,
 * which is no defect. */
#define TRAIN_MAX_INPUT 1024
#define TRAIN_MAX_PARAMS 100000
/* forward FLOPs per sample: a 28x28 stack of four 3x3 convolutions with
 * 62 filters (52 MFLOP) trained in 0.5 s under the sanitizers, and a
 * 3.5 MFLOP one whose direct convolution's backward pass is slow under
 * the instrumentation in 0.3-0.4 s; both passed the one-second limit
 * while the machine was busy */
#define TRAIN_MAX_FLOPS 1e6

static clnet_registry *registry;
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    clnet_error e;
    registry = clnet_registry_open(&e);
    devnull = fopen("/dev/null", "w");
    if (!registry || !devnull) {
        fprintf(stderr, "fuzz_topology: %s\n",
                registry ? "cannot open /dev/null" : e.msg);
        abort();
    }
    return 0;
}

/* One training step of batch 2 on two fixed images. */
static void train_step(clnet_net *net)
{
    int32_t in = clnet_net_input_size(net);
    if (in < 1 || in > TRAIN_MAX_INPUT ||
        clnet_net_param_count(net) > TRAIN_MAX_PARAMS ||
        clnet_net_flops(net) > TRAIN_MAX_FLOPS ||
        clnet_net_classes(net) < 1)
        return;
    clnet_shape s = clnet_net_input_shape(net);
    uint8_t pixels[2 * TRAIN_MAX_INPUT];
    int32_t labels[2] = {0, clnet_net_classes(net) - 1};
    for (int32_t i = 0; i < 2 * in; i++)
        pixels[i] = (uint8_t)(i * 37 + 11);
    clnet_dataset ds = {.count = 2, .rows = s.h, .cols = s.w * s.c,
                        .pixels = pixels, .labels = labels};
    clnet_train_options o = {.epochs = 1, .batch = 2};
    clnet_error e;
    clnet_train(net, &ds, NULL, &o, &e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    clnet_error e;
    clnet_config *c = clnet_config_parse(text, "fuzz.config", &e);
    if (c) {
        clnet_build_options none = {0};
        clnet_config_print(c, &none, devnull, &e);
        clnet_config_free(c);
    }
    clnet_topology *t = clnet_topology_parse(text, "fuzz.net", &e);
    free(text);
    if (!t)
        return 0;
    /* a 16 MiB plan: a network that plans more is refused before it
     * allocates. Larger ones are valid but slow to initialise under the
     * sanitizers (33.5 million weights of a 1024x1024 kernel over 32
     * channels took 8-13 s, past the one-second limit), and are not where
     * the parser's and builder's bugs lie. */
    clnet_build_options o = {.max_batch = 2, .threads = 1, .seed = 1,
                             .device = "cpu", .max_memory = 16ull << 20};
    clnet_net *net = clnet_net_build(t, registry, &o, &e);
    if (net) {
        clnet_net_summary(net, devnull, &e);
        train_step(net);
        clnet_net_free(net);
    }
    clnet_topology_free(t);
    return 0;
}
