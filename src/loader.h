/* The training loop's data path: a thread that gathers (and augments)
 * the next batch, and uploads it to the input layer's device, while the
 * current step runs, so a fast device does not wait for the host; the
 * time the loop still waits is measured. */
#ifndef CLNET_LOADER_H
#define CLNET_LOADER_H

#include "net.h"

typedef struct clnet_loader clnet_loader;

/* Batches first_step .. steps - 1 of one epoch: samples idx[s * batch ..]
 * of ds (idx: the epoch's shuffle), augmented as the train line says. */
clnet_loader *clnet_loader_start(clnet_net *net, const clnet_dataset *ds,
                                 const int32_t *idx, int32_t epoch,
                                 int64_t first_step, int64_t steps,
                                 int32_t batch, clnet_error *err);
/* The next batch into net->batch_labels, and its pixels into
 * net->batch_pixels or, where the input layer runs on a device, already
 * uploaded there (net->pixels_uploaded, which the next forward pass
 * reads): its sample count, or -1 with err when the upload failed;
 * *waited gets the seconds spent waiting for it. Across ranks
 * (net->comm) the batch is this rank's slice (clnet_dist_slice) of the
 * whole batch, whose count goes to *whole. */
int32_t clnet_loader_next(clnet_loader *l, double *waited, int32_t *whole,
                          clnet_error *err);
/* Stops the thread (also before the epoch's last batch) and frees. */
void clnet_loader_stop(clnet_loader *l);

#endif
