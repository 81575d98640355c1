/* Data-parallel training across processes (distributed.c): what the
 * training loop calls when a network has a communicator. */
#ifndef CLNET_DISTRIBUTED_H
#define CLNET_DISTRIBUTED_H

#include "comm.h"
#include "net.h"

/* This rank's slice of a batch of n: samples [*first, *first + *m). */
void clnet_dist_slice(const clnet_net *net, int32_t n, int32_t *first,
                      int32_t *m);
/* One step over this rank's slice of a batch of n (already in the batch
 * buffers): the loss and accuracy of the whole batch added to *loss_sum
 * and *correct, the gradients of all ranks summed, one update.
 * stop: this rank was asked to stop; *stop_all: some rank was. */
int clnet_dist_step(clnet_net *net, int32_t n, int stop, int *stop_all,
                    double *loss_sum, int64_t *correct, clnet_error *err);
/* Called by the backward pass after layer i: starts the all-reduce of
 * every bucket whose gradients are all written. */
void clnet_dist_layer_done(clnet_net *net, int i);
/* Non-trainable state (moving statistics) averaged over the ranks, so
 * that every rank evaluates, decides and saves the same network. */
int clnet_dist_sync_state(clnet_net *net, clnet_error *err);
/* Collective, at an epoch's end: the seconds the all-reduce cost beyond
 * the backward pass (each step's least wait over the ranks), the seconds
 * this rank waited beyond that for slower ranks, the bytes all-reduced
 * and the steps, since the last call. */
int clnet_dist_take_stats(clnet_net *net, double *transfer,
                          double *imbalance, double *bytes, int64_t *steps,
                          clnet_error *err);
void clnet_dist_free(clnet_net *net);

#endif
