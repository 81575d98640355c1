/* The clnet tool as one rank of an mpirun: only `clnet train` runs
 * across ranks; rank 0 alone prints, logs and writes files, and a
 * failure either every rank saw (reported once) or one rank's alone
 * (reported by it, then the whole job ended so no rank waits). */
#ifndef CLNET_CLI_JOB_H
#define CLNET_CLI_JOB_H

#include "clnet/clnet.h"

/* First thing in main: where a launcher started several ranks, every
 * rank but 0 writes no stdout, and no stderr until it has joined (what
 * fails before that fails alike on every rank: rank 0 says it). */
void cli_job_begin(void);
/* The job's rank count (1: not under a launcher). */
int32_t cli_job_size(void);
/* 1 on the rank that prints and writes files (rank 0, or no job). */
int cli_job_writer(void);
/* Joins the job for `command` (only train runs across ranks). */
int cli_job_join(const char *command, clnet_error *e);
clnet_comm *cli_job_comm(void);
/* Collective after a part that may fail on some ranks: returns 1 on
 * every rank when `bad` was set on any, with e holding the message to
 * report. Without a job: returns bad. */
int cli_job_check(int bad, clnet_error *e);
/* Prints e as the job calls for ("clnet: MSG" once per distinct
 * failure) and returns code; a failure of this rank alone ends the
 * whole job with code. */
int cli_job_fail(const clnet_error *e, int code);
/* Leaves the job (after every network is freed). */
void cli_job_end(void);

#endif
