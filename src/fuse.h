/* Inference fusion: a layer whose kind folds (conv2d, dense,
 * depthwise_conv2d with a bias), followed by a per-channel affine layer
 * (batchnorm) and optionally an activation layer, runs in inference as
 * one call of its own implementation, with the affine map folded into a
 * copy of its weights and the activation as its activation=. The core
 * knows neither kind: the kinds' plans say what folds (plugin.h). */
#ifndef CLNET_FUSE_H
#define CLNET_FUSE_H

#include "net.h"

/* Finds the chains and creates their layers and folded weights; after
 * clnet_net_plan_memory. No chain when net->fuse_off. */
int clnet_net_plan_fusion(clnet_net *net, clnet_error *err);
/* Folds the current weights into the chains' copies when they changed
 * since the last fold; before an inference pass. */
int clnet_net_refold(clnet_net *net, clnet_error *err);
void clnet_net_free_fusion(clnet_net *net);

#endif
