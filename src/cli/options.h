/* Command-line options of the clnet tool: one table says which options
 * exist, what they take and which commands accept them. */
#ifndef CLNET_CLI_OPTIONS_H
#define CLNET_CLI_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

#define EXIT_INPUT 2   /* bad input: options, files the user gave */
#define EXIT_RUNTIME 1 /* failure at run time */

typedef struct {
    const char *command;
    const char *net;
    const char *data, *model, *out, *log_json, *device, *backend, *json;
    const char *resume, *init_weights, *schedule, *save_best;
    const char *config;  /* --config FILE */
    const char *devices; /* train --devices LIST */
    double val_split;
    int32_t patience;
    int32_t save_every;
    int32_t bucket_kb; /* train --bucket-kb N, 0: the default */
    uint64_t seed, max_memory;
    double stop_at;
    int32_t epochs, batch, threads, limit_train, limit_test, steps;
    int32_t repeats; /* bench: timed rounds, 0: the default */
    int invert, quiet, autotune, strict, no_fuse;
    int small; /* check --small */
    const char *format; /* --format, NULL: detected */
    int coarse;         /* --labels coarse */
    int resize;         /* --resize: a clnet_resize */
    int json_lines; /* predict --json: one object per image on stdout */
    int32_t top;    /* predict --top K */
    const char **images;
    int nimages;
} cli_options;

/* Parses argv; on error prints a message and returns the exit status,
 * else 0. *done is set when --help or --version was answered. */
int cli_parse(int argc, char **argv, cli_options *o, int *done);
/* The whole usage, or with a command's name that command's usage and
 * its options only; wrapped to 80 columns. */
void cli_usage(FILE *out, const char *command);
/* The man page clnet(1), in roff, from the same tables as the usage. */
void cli_man_page(FILE *out);

#endif
