/* Keras-style training progress: on a terminal one line per epoch,
 * redrawn in place (training steps, then the validation pass) and ended
 * by the epoch's figures, every line cut down to the terminal's width
 * less one column; plain lines at every tenth of an epoch otherwise. */
#ifndef CLNET_CLI_PROGRESS_H
#define CLNET_CLI_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#include "clnet/clnet.h"

typedef struct {
    FILE *out;
    int tty, quiet;
    int32_t epochs;
    double last_draw;
    int64_t last_tenth;
    int32_t epoch;     /* the epoch whose header is out; 0: none yet */
    int64_t steps;     /* its steps, for the epoch line's count */
    int drawn;         /* a redrawn line is on the screen, not ended */
    int validating;    /* the epoch's steps are done, its line not out:
                          an evaluation now is its validation pass */
    double eval_start;
    /* --log-json, or NULL: opened at the first epoch's line, so a run
     * that fails before it leaves an old log as it was; appended to when
     * resuming */
    const char *json_path;
    int json_append, json_failed;
    FILE *json;
    const clnet_net *net; /* for the learning rate; may be NULL */
} cli_progress;

void cli_progress_init(cli_progress *p, FILE *out, int32_t epochs, int quiet,
                       const char *json_path, int json_append);
/* Closes the log; returns non-zero when it could not be written. */
int cli_progress_close(cli_progress *p);
void cli_progress_step(int32_t epoch, int64_t step, int64_t steps, double loss,
                       double accuracy, double seconds, void *user);
/* clnet_train_options.on_eval_progress: "Validating" (after an epoch's
 * steps) or "Testing" (after training) with a bar, on a terminal only. */
void cli_progress_eval(int64_t done, int64_t total, void *user);
void cli_progress_epoch(const clnet_epoch_stats *s, void *user);
/* The test set's figures after a run with a validation split: printed,
 * and logged as one last object {"test_loss", "test_accuracy"}. */
void cli_progress_test(cli_progress *p, double loss, double accuracy);

#endif
