/* Joining a job of several processes (an mpirun) through a communicator
 * plugin, and the few collectives the training loop needs on top of the
 * plugin's: agreement on the run's parameters, sums of figures, flags. */
#include "comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A launcher's rank count from the environment: Open MPI's, then the
 * PMI variables MPICH's and others' launchers set. */
int32_t clnet_launched_ranks(int32_t *rank)
{
    static const char *const sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    static const char *const ranks[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK"};
    for (int i = 0; i < 2; i++) {
        const char *s = getenv(sizes[i]), *r = getenv(ranks[i]);
        long n = s ? strtol(s, NULL, 10) : 0;
        if (n >= 1) {
            if (rank)
                *rank = r ? (int32_t)strtol(r, NULL, 10) : 0;
            return (int32_t)n;
        }
    }
    if (rank)
        *rank = 0;
    return 1;
}

clnet_comm *clnet_comm_open(const clnet_registry *r, const char *backend,
                            clnet_error *err)
{
    clnet_error_clear(err);
    const clnet_plugin *p = NULL;
    for (int i = 0; !p && i < clnet_registry_count(r); i++) {
        const clnet_plugin *q = clnet_registry_get(r, i, NULL);
        if (q && q->role == CLNET_ROLE_COMMUNICATOR &&
            (!backend || !strcmp(q->backend, backend)))
            p = q;
    }
    int32_t rank, n = clnet_launched_ranks(&rank);
    if (!p) {
        clnet_fail(err, CLNET_E_ARG,
                   "this process is rank %d of %d started by a launcher "
                   "(mpirun), but this clnet has no %s%scommunicator "
                   "plugin: "
                   "install Open MPI's headers (libopenmpi-dev) and set up "
                   "the build again, so that meson builds plugins/mpi "
                   "(clnet plugins lists it), or run clnet without mpirun",
                   (int)rank, (int)n, backend ? backend : "",
                   backend ? " " : "");
        return NULL;
    }
    clnet_comm *c = calloc(1, sizeof *c);
    if (!c) {
        clnet_fail(err, CLNET_E_NOMEM, "out of memory for the communicator");
        return NULL;
    }
    char perr[CLNET_ERRLEN] = "";
    c->plugin = p;
    if (p->comm.open(&c->ctx, &c->rank, &c->size, perr)) {
        clnet_fail(err, CLNET_E_PLUGIN, "communicator %s: %s", p->backend,
                   perr);
        free(c);
        return NULL;
    }
    return c;
}

int32_t clnet_comm_rank(const clnet_comm *c) { return c ? c->rank : 0; }
int32_t clnet_comm_size(const clnet_comm *c) { return c ? c->size : 1; }
int clnet_comm_failed_together(const clnet_comm *c)
{
    return c ? c->together : 0;
}

int clnet_comm_check(clnet_comm *c, clnet_error *err)
{
    if (!c)
        return err ? err->status : CLNET_OK;
    clnet_error mine = {CLNET_OK, ""};
    if (err)
        mine = *err;
    char perr[CLNET_ERRLEN] = "";
    c->together = 0;
    clnet_error *all = calloc((size_t)c->size, sizeof *all);
    if (!all) {
        clnet_fail(err, CLNET_E_NOMEM, "out of memory comparing ranks");
        return CLNET_E_NOMEM;
    }
    if (c->plugin->comm.all_gather(c->ctx, &mine, sizeof mine, all, perr)) {
        free(all);
        return clnet_fail(err, CLNET_E_IO, "comparing ranks: %s", perr);
    }
    int32_t f = -1;
    for (int32_t r = 0; r < c->size && f < 0; r++)
        if (all[r].status != CLNET_OK)
            f = r;
    if (f < 0) {
        free(all);
        return CLNET_OK;
    }
    /* one message per distinct failure: rank 0 reports its own or the
     * first failed rank's; another rank only one that rank 0 did not */
    if (c->rank == 0) {
        c->together = 1;
        if (mine.status == CLNET_OK && err) {
            err->status = all[f].status;
            snprintf(err->msg, sizeof err->msg, "rank %d: %.480s", (int)f,
                     all[f].msg);
        }
    } else {
        int same = mine.status == CLNET_OK ||
                   (all[0].status != CLNET_OK &&
                    !strcmp(all[0].msg, mine.msg)) ||
                   (all[0].status == CLNET_OK && f == c->rank);
        c->together = same ? 2 : 1;
        if (mine.status == CLNET_OK && err)
            *err = all[f];
        else if (!same && err) {
            char m[CLNET_ERRLEN];
            snprintf(m, sizeof m, "rank %d: %.480s", (int)c->rank, mine.msg);
            snprintf(err->msg, sizeof err->msg, "%s", m);
        }
    }
    clnet_status st = all[f].status;
    free(all);
    return err ? err->status : st;
}

const char *clnet_comm_describe(const clnet_comm *c)
{
    return c ? c->plugin->comm.describe(c->ctx) : "one process";
}

void clnet_comm_abort(clnet_comm *c, int code)
{
    if (c)
        c->plugin->comm.abort(c->ctx, code);
}

void clnet_comm_close(clnet_comm *c)
{
    if (!c)
        return;
    c->plugin->comm.close(c->ctx);
    free(c);
}

clnet_status clnet_comm_together(clnet_comm *c, clnet_status s)
{
    c->together = c->rank == 0 ? 1 : 2;
    return s;
}

int clnet_comm_sum(clnet_comm *c, double *v, size_t n, clnet_error *err)
{
    char perr[CLNET_ERRLEN] = "";
    c->together = 0;
    if (c->plugin->comm.all_reduce(c->ctx, v, n, CLNET_COMM_DOUBLE, perr))
        return clnet_fail(err, CLNET_E_IO, "summing across ranks: %s", perr);
    return CLNET_OK;
}

int clnet_comm_any(clnet_comm *c, int flag, int *any, clnet_error *err)
{
    double v = flag ? 1 : 0;
    int rc = clnet_comm_sum(c, &v, 1, err);
    *any = !rc && v > 0;
    return rc;
}

int clnet_comm_agree(clnet_comm *c, const uint64_t *mine, int n,
                     const char *const *what, clnet_error *err)
{
    char perr[CLNET_ERRLEN] = "";
    c->together = 0;
    uint64_t *all = malloc(sizeof *all * (size_t)n * (size_t)c->size);
    if (!all)
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory comparing ranks");
    if (c->plugin->comm.all_gather(c->ctx, mine, sizeof *mine * (size_t)n,
                                   all, perr)) {
        free(all);
        return clnet_fail(err, CLNET_E_IO, "comparing ranks: %s", perr);
    }
    /* every rank sees the same table, so every rank finds the same first
     * difference and fails with the same message */
    for (int i = 0; i < n; i++) {
        char ranks[128] = "";
        size_t len = 0;
        int32_t first = -1, differ = 0;
        for (int32_t r = 1; r < c->size; r++) {
            if (all[(size_t)r * n + i] == all[i])
                continue;
            if (first < 0)
                first = r;
            differ++;
            if (len + 16 < sizeof ranks)
                len += (size_t)snprintf(ranks + len, sizeof ranks - len,
                                        "%s%d", len ? ", " : "", (int)r);
        }
        if (first >= 0) {
            unsigned long long zero = all[i],
                               other = all[(size_t)first * n + i];
            free(all);
            return clnet_comm_together(c, clnet_fail(
                err, CLNET_E_ARG,
                "the ranks disagree on the %s: rank 0 has %llu, rank%s %s "
                "%s (rank %d: %llu); start every rank with the same "
                "topology file, seed, batch and data",
                what[i], zero, differ > 1 ? "s" : "", ranks,
                differ > 1 ? "differ" : "differs", (int)first, other));
        }
    }
    free(all);
    return CLNET_OK;
}
