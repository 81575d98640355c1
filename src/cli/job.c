/* The tool's side of training across ranks (job.h). */
#define _POSIX_C_SOURCE 200809L
#include "job.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct {
    int32_t rank, size;
    int saved_stderr; /* rank != 0 before joining: the real stderr */
    clnet_registry *reg;
    clnet_comm *comm;
} job = {0, 1, -1, NULL, NULL};

void cli_job_begin(void)
{
    job.size = clnet_launched_ranks(&job.rank);
    if (job.size <= 1 || job.rank == 0)
        return;
    int null = open("/dev/null", O_WRONLY);
    if (null < 0)
        return;
    fflush(stdout);
    fflush(stderr);
    dup2(null, STDOUT_FILENO);
    job.saved_stderr = dup(STDERR_FILENO);
    dup2(null, STDERR_FILENO);
    close(null);
}

int32_t cli_job_size(void) { return job.size; }
int cli_job_writer(void) { return job.rank == 0; }
clnet_comm *cli_job_comm(void) { return job.comm; }

int cli_job_join(const char *command, clnet_error *e)
{
    if (job.size <= 1)
        return 0;
    if (strcmp(command, "train")) {
        snprintf(e->msg, sizeof e->msg,
                 "clnet %s does not run across ranks (only clnet train "
                 "does); run it without mpirun",
                 command);
        e->status = CLNET_E_ARG;
        return 1;
    }
    if (!(job.reg = clnet_registry_open(e)) ||
        !(job.comm = clnet_comm_open(job.reg, "mpi", e)))
        return 1;
    if (job.saved_stderr >= 0) {
        fflush(stderr);
        dup2(job.saved_stderr, STDERR_FILENO);
        close(job.saved_stderr);
        job.saved_stderr = -1;
    }
    return 0;
}

int cli_job_check(int bad, clnet_error *e)
{
    if (!job.comm)
        return bad;
    if (!bad)
        e->status = CLNET_OK, e->msg[0] = '\0';
    return clnet_comm_check(job.comm, e) != CLNET_OK;
}

int cli_job_fail(const clnet_error *e, int code)
{
    const char *msg = e->msg[0] ? e->msg : "unknown error";
    if (!job.comm) {
        /* not joined: every rank fails alike, and only rank 0 can print */
        fprintf(stderr, "clnet: %s\n", msg);
        return code;
    }
    int together = clnet_comm_failed_together(job.comm);
    if (together == 2)
        return code;
    if (together == 1) {
        fprintf(stderr, "clnet: %s\n", msg);
        return code;
    }
    fprintf(stderr, "clnet: rank %d: %s; ending the job\n", (int)job.rank,
            msg);
    fflush(stderr);
    clnet_comm_abort(job.comm, code);
    return code;
}

void cli_job_end(void)
{
    clnet_comm_close(job.comm);
    job.comm = NULL;
    clnet_registry_free(job.reg);
    job.reg = NULL;
}
