/* The network's graph (graph.c): names, inputs and their checks. */
#ifndef CLNET_GRAPH_H
#define CLNET_GRAPH_H

#include "net.h"

#define CLNET_GRAPH_MAX_KINDS 128

/* The kinds the registry defines, NULL-terminated, for suggestions. */
int clnet_graph_kind_words(const clnet_registry *r, const char **words,
                           int max);
/* Fills every layer's kind, name, line and inputs[].named from t. */
int clnet_graph_resolve(clnet_net *net, const clnet_topology *t,
                        const clnet_registry *r, clnet_error *err);

#endif
