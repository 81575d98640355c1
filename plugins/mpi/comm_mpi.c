/* The MPI communicator (plugin ABI role CLNET_ROLE_COMMUNICATOR): the
 * processes an mpirun started, joined through MPI_COMM_WORLD. Only this
 * plugin links MPI, so libclnet and a clnet built without Open MPI do
 * not depend on it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "clnet/plugin.h"

/* A request's storage; finished ones wait on a free list for the next
 * step's buckets, so a training step allocates nothing here. */
typedef struct slot {
    MPI_Request r;
    struct slot *next;
} slot;

typedef struct {
    int we_initialized; /* MPI_Init was ours, so MPI_Finalize is too */
    char describe[MPI_MAX_LIBRARY_VERSION_STRING + 32];
    slot *spare;
} comm;

static slot *take_slot(comm *c)
{
    slot *s = c->spare;
    if (s)
        c->spare = s->next;
    else
        s = malloc(sizeof *s);
    return s;
}

static void give_slot(comm *c, slot *s)
{
    s->next = c->spare;
    c->spare = s;
}

static void mpi_message(int code, const char *what, char *err)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(code, text, &len);
    snprintf(err, CLNET_ERRLEN, "%s failed: %s", what, text);
}

/* The core loads plugins with RTLD_LOCAL; Open MPI then loads its own
 * components, which need libmpi's symbols global. Promote the already
 * loaded library before MPI_Init. */
static void make_mpi_global(void)
{
    Dl_info info;
    void *sym = (void *)&MPI_Init;
    if (dladdr(sym, &info) && info.dli_fname)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
}

static int comm_open(void **ctx, int32_t *rank, int32_t *size, char *err)
{
    comm *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, CLNET_ERRLEN, "out of memory");
        return 1;
    }
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        make_mpi_global();
        int provided = 0;
        /* only the thread that opened the communicator calls MPI */
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) {
            mpi_message(rc, "MPI_Init_thread", err);
            free(c);
            return 1;
        }
        c->we_initialized = 1;
    }
    /* failures come back as codes with messages, not as an abort */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int r = 0, n = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    char version[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0;
    MPI_Get_library_version(version, &len);
    /* the first line of the library's version, without its build details */
    version[strcspn(version, ",\n")] = '\0';
    snprintf(c->describe, sizeof c->describe, "%s", version);
    *rank = r;
    *size = n;
    *ctx = c;
    return 0;
}

static void comm_close(void *ctx)
{
    comm *c = ctx;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (c && c->we_initialized && !finalized)
        MPI_Finalize();
    while (c && c->spare) {
        slot *n = c->spare->next;
        free(c->spare);
        c->spare = n;
    }
    free(c);
}

static void comm_abort(void *ctx, int code)
{
    (void)ctx;
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code); /* MPI_Abort does not return; if it did, stop anyway */
}

static MPI_Datatype datatype(clnet_comm_type t)
{
    return t == CLNET_COMM_DOUBLE ? MPI_DOUBLE : MPI_FLOAT;
}

static int comm_all_reduce(void *ctx, void *buf, size_t count,
                           clnet_comm_type type, char *err)
{
    (void)ctx;
    /* MPI counts are int: a larger buffer goes in pieces */
    size_t elem = type == CLNET_COMM_DOUBLE ? sizeof(double) : sizeof(float);
    for (size_t at = 0; at < count;) {
        size_t n = count - at > (1u << 30) ? (1u << 30) : count - at;
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + at * elem, (int)n,
                               datatype(type), MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) {
            mpi_message(rc, "MPI_Allreduce", err);
            return 1;
        }
        at += n;
    }
    return 0;
}

static int comm_start(void *ctx, void *buf, size_t count,
                      clnet_comm_type type, void **request, char *err)
{
    if (count > (1u << 30)) {
        snprintf(err, CLNET_ERRLEN, "a bucket of %zu values is too large "
                 "for one MPI call", count);
        return 1;
    }
    slot *r = take_slot(ctx);
    if (!r) {
        snprintf(err, CLNET_ERRLEN, "out of memory");
        return 1;
    }
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)count, datatype(type),
                            MPI_SUM, MPI_COMM_WORLD, &r->r);
    if (rc != MPI_SUCCESS) {
        give_slot(ctx, r);
        mpi_message(rc, "MPI_Iallreduce", err);
        return 1;
    }
    *request = r;
    return 0;
}

static int comm_test(void *ctx, void *request, int *done, char *err)
{
    slot *r = request;
    int rc = MPI_Test(&r->r, done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
        mpi_message(rc, "MPI_Test", err);
        return 1;
    }
    if (*done)
        give_slot(ctx, r);
    return 0;
}

static int comm_wait(void *ctx, void *request, char *err)
{
    slot *r = request;
    int rc = MPI_Wait(&r->r, MPI_STATUS_IGNORE);
    give_slot(ctx, r);
    if (rc != MPI_SUCCESS) {
        mpi_message(rc, "MPI_Wait", err);
        return 1;
    }
    return 0;
}

static int comm_all_gather(void *ctx, const void *mine, size_t bytes,
                           void *all, char *err)
{
    (void)ctx;
    int rc = MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes,
                           MPI_BYTE, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        mpi_message(rc, "MPI_Allgather", err);
        return 1;
    }
    return 0;
}

static const char *comm_describe(void *ctx)
{
    comm *c = ctx;
    return c ? c->describe : "MPI";
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_COMMUNICATOR,
    .kind = "communicator",
    .backend = "mpi",
    .impl = "world",
    .summary = "all-reduce across the processes of an mpirun (MPI_COMM_WORLD)",
    .comm = {.open = comm_open,
             .close = comm_close,
             .abort = comm_abort,
             .all_reduce = comm_all_reduce,
             .start_all_reduce = comm_start,
             .test = comm_test,
             .wait = comm_wait,
             .all_gather = comm_all_gather,
             .describe = comm_describe},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
