/* The small fixed network the checkpoint fuzz target loads into, shared
 * with the program that writes its seed checkpoints. One layer of each
 * kind that has parameters, so every tensor-walking branch is reachable. */
#ifndef CLNET_FUZZ_CKPT_NET_H
#define CLNET_FUZZ_CKPT_NET_H

#include <stdio.h>
#include <stdlib.h>

#include "clnet/clnet.h"

static const char ckpt_topology[] =
    "input shape=6x6x1\n"
    "conv2d filters=2 kernel=3 activation=relu\n"
    "maxpool2d pool=2x2\n"
    "flatten\n"
    "dense units=3 activation=softmax\n"
    "train optimizer=sgd lr=0.1 loss=sparse_categorical_crossentropy "
    "batch=2 epochs=1\n";

/* Builds the network from the build tree's CPU plugins or aborts. */
static clnet_net *ckpt_net(clnet_registry **reg)
{
    clnet_error e;
    clnet_topology *t = NULL;
    clnet_net *net = NULL;
    *reg = clnet_registry_open(&e);
    if (*reg)
        t = clnet_topology_parse(ckpt_topology, "ckpt.net", &e);
    if (t) {
        clnet_build_options o = {.max_batch = 2, .threads = 1, .seed = 1,
                                 .device = "cpu"};
        net = clnet_net_build(t, *reg, &o, &e);
        clnet_topology_free(t);
    }
    if (!net) {
        fprintf(stderr, "checkpoint fuzz network: %s\n", e.msg);
        abort();
    }
    return net;
}

#endif
