/* The communicator the core holds (comm.c): a communicator plugin joined
 * to the job, with the collectives data-parallel training across
 * processes uses (distributed.c). Not installed. */
#ifndef CLNET_COMM_H
#define CLNET_COMM_H

#include "internal.h"

struct clnet_comm {
    const clnet_plugin *plugin;
    void *ctx;
    int32_t rank, size;
    int together; /* the last failure was every rank's */
};

/* v[i] = the sum over ranks of v[i]. A failure is this rank's alone. */
int clnet_comm_sum(clnet_comm *c, double *v, size_t n, clnet_error *err);
/* Every rank's n values against rank 0's; on a difference every rank
 * fails together, the message naming `what[i]`, both values and the
 * ranks that differ. */
int clnet_comm_agree(clnet_comm *c, const uint64_t *mine, int n,
                     const char *const *what, clnet_error *err);
/* 1 on every rank when `flag` is set on any. */
int clnet_comm_any(clnet_comm *c, int flag, int *any, clnet_error *err);
/* Marks a failure (status s, its message already in the caller's
 * error) as every rank's (clnet_comm_failed_together) and returns s:
 * return clnet_comm_together(c, clnet_fail(err, ...)). */
clnet_status clnet_comm_together(clnet_comm *c, clnet_status s);

#endif
