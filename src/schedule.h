/* Learning-rate schedules: the train line's `schedule=` and its settings
 * (or clnet_train_options.schedule), turned into the factor on the
 * optimizer's own lr at each update, which the optimizer plugins get as
 * clnet_step.lr_scale. Keras's and PyTorch's formulas; README's topology
 * section lists them. */
#ifndef CLNET_SCHEDULE_H
#define CLNET_SCHEDULE_H

#include <stdint.h>

#include "clnet/clnet.h"

typedef enum {
    CLNET_SCHED_CONSTANT,
    CLNET_SCHED_STEP,
    CLNET_SCHED_EXPONENTIAL,
    CLNET_SCHED_COSINE,
    CLNET_SCHED_ONECYCLE
} clnet_schedule_kind;

typedef struct {
    clnet_schedule_kind kind;
    double warmup;     /* epochs of linear warm-up from 0 (not onecycle) */
    double drop, every;                  /* step: drop^floor(epochs/every) */
    double decay;                        /* exponential: decay^epochs */
    double alpha;                        /* cosine: the floor, a fraction */
    double pct_start, div_factor, final_div_factor; /* onecycle */
    unsigned set;                        /* keys given (a bit per key) */
} clnet_schedule;

/* constant, as without a schedule= */
void clnet_schedule_default(clnet_schedule *s);
/* One setting: `schedule` (the name) or one of the schedules' own keys;
 * 1 when key is none of them, -1 with what was expected in msg. */
int clnet_schedule_set(clnet_schedule *s, const char *key, const char *value,
                       char *msg, size_t msglen);
/* 1 when key is a schedule setting (the train line's core keys). */
int clnet_schedule_key(const char *key);
/* "cosine,warmup=2": a name, then KEY=VALUE settings, replacing the
 * schedule; CLNET_E_ARG naming the bad part. */
int clnet_schedule_parse(clnet_schedule *s, const char *spec,
                         clnet_error *err);
/* Refuses settings that do not belong to the chosen schedule (*bad_key:
 * the first, when bad_key is not NULL) and a warm-up that leaves no
 * epoch of the run; CLNET_E_ARG. */
int clnet_schedule_check(const clnet_schedule *s, int32_t epochs,
                         const char **bad_key, clnet_error *err);
/* The factor for update number `update` (0 for the first) of a run of
 * `epochs` epochs of `steps` updates each. */
double clnet_schedule_factor(const clnet_schedule *s, uint64_t update,
                             int64_t steps, int32_t epochs);
/* "cosine, warm-up 2 epochs": for the summary. */
void clnet_schedule_describe(const clnet_schedule *s, char *out, size_t n);

#endif
