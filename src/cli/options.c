/* Parsing of the clnet command line against one table of options. */
#define _POSIX_C_SOURCE 200809L
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clnet/clnet.h"

enum {
    C_PLUGINS = 1 << 0,
    C_DEVICES = 1 << 1,
    C_SUMMARY = 1 << 2,
    C_TRAIN = 1 << 3,
    C_EVAL = 1 << 4,
    C_PREDICT = 1 << 5,
    C_BENCH = 1 << 6,
    C_TUNE = 1 << 7,
    C_CONFIG = 1 << 8,
    C_CHECK = 1 << 9,
    C_BUILD = C_SUMMARY | C_TRAIN | C_EVAL | C_PREDICT | C_BENCH | C_TUNE,
    C_ALL = C_BUILD | C_PLUGINS | C_DEVICES | C_CONFIG | C_CHECK
};

typedef struct {
    const char *name;
    int commands;      /* the C_ bits of the commands that accept it */
    const char *value; /* what it takes, as help shows it; NULL: a flag */
    const char *help;
} option_spec;

static const option_spec options[] = {
    {"data", C_TRAIN | C_EVAL | C_PREDICT, "PATH",
     "the data set: a folder of IDX files (MNIST, Fashion-MNIST), "
     "CIFAR-10 or CIFAR-100 binaries, or an image folder "
     "PATH/train/CLASS/*.png and PATH/test/CLASS/... (default: "
     "$CLNET_MNIST_DIR, else data/mnist); predict: where the class "
     "names come from"},
    {"format", C_TRAIN | C_EVAL | C_PREDICT, "F",
     "idx, cifar or folder, in place of what --data holds deciding"},
    {"labels", C_TRAIN | C_EVAL | C_PREDICT, "L",
     "CIFAR-100's fine (default, 100 classes) or coarse (20) labels"},
    {"resize", C_TRAIN | C_EVAL | C_PREDICT, "R",
     "image folders: stretch (default: every image scaled to the "
     "input's height and width, aspect not kept) or fixed (an image "
     "of another size is an error)"},
    {"model", C_EVAL | C_PREDICT, "CKPT",
     "checkpoint to load"},
    {"out", C_TRAIN, "FILE",
     "checkpoint to write (default clnet-model.ckpt)"},
    {"resume", C_TRAIN, "CKPT",
     "continue the run that wrote CKPT (weights, optimizer state, "
     "epoch and step; --epochs counts to the run's last epoch)"},
    {"init-weights", C_TRAIN, "CKPT",
     "start a new training from CKPT's weights (fresh optimizer; the "
     "same topology)"},
    {"save-every", C_TRAIN, "N",
     "also write --out after every N epochs, so a crash loses at "
     "most N epochs"},
    {"log-json", C_TRAIN, "FILE",
     "one JSON object per epoch: epoch, loss, accuracy, val_loss, "
     "val_accuracy, seconds, eval_seconds, lr, data_wait, "
     "images_per_second (under mpirun also allreduce_wait and "
     "allreduce_imbalance, shares of the epoch, and allreduce_bytes "
     "per step); after a --val-split run, test_loss and "
     "test_accuracy"},
    {"devices", C_TRAIN, "LIST",
     "train data-parallel, one replica per device (e.g. cpu,opencl:0), "
     "each on its slice of every batch, their gradients summed before "
     "one identical update; --batch stays the whole batch"},
    {"bucket-kb", C_TRAIN, "N",
     "under mpirun: all-reduce the gradients in buckets of about N KiB, "
     "each started as the backward pass finishes it (default 1024)"},
    {"config", C_BUILD | C_CONFIG, "FILE",
     "the configuration file (default: $CLNET_CONFIG, else "
     "$XDG_CONFIG_HOME/clnet/config, else ~/.config/clnet/config; "
     "README: Configuration)"},
    {"device", C_BUILD | C_CONFIG | C_CHECK, "D",
     "cpu, opencl (the first GPU, else the first OpenCL device), "
     "opencl:N (device N of `clnet devices`) or auto (a GPU if there "
     "is one, else cpu); default cpu; bench and check also take all "
     "(every "
     "device)"},
    {"backend", C_BUILD | C_CONFIG, "LIST",
     "KIND=BACKEND or NAME=BACKEND[:N][/IMPL[@SET]], comma-separated, "
     "per layer (N: a device of the backend, e.g. opencl:1; SET: a "
     "parameter set, e.g. opencl/gemm@vec8x2)"},
    {"no-fuse", C_BUILD, NULL,
     "in inference run every layer as written, not conv2d, dense or "
     "depthwise_conv2d + batchnorm [+ activation] as one call"},
    {"strict", C_BUILD, NULL,
     "refuse a layer whose backend has no implementation of its "
     "kind, instead of running it on the native CPU"},
    {"seed", C_BUILD, "N",
     "seed for weights, shuffling and dropout (default 1)"},
    {"epochs", C_TRAIN, "N",
     "epochs (default: the topology's train line)"},
    {"batch", C_TRAIN | C_EVAL | C_PREDICT | C_BENCH | C_TUNE, "N",
     "batch size (default: the topology's train line; eval 500, "
     "predict 64)"},
    {"threads", C_BUILD | C_CONFIG, "N",
     "worker threads (default: the CPUs this process may use, within "
     "its cgroup's quota)"},
    {"max-memory", C_BUILD, "SIZE",
     "the most the network may need on each backend, the host "
     "included, in place of the detected limit (available RAM for "
     "cpu, the device's global memory for OpenCL); e.g. 512M, 8G, "
     "1.5GiB (K, M, G, T: powers of 1024; KB, MB, GB, TB: of 1000)"},
    {"limit-train", C_TRAIN, "N",
     "train on the first N images only"},
    {"limit-test", C_TRAIN | C_EVAL, "N",
     "test on the first N images only"},
    {"invert", C_PREDICT, NULL,
     "invert images (for dark digits on a light background)"},
    {"quiet", C_TRAIN, NULL,
     "no progress bar, epoch lines only"},
    {"schedule", C_TRAIN, "SPEC",
     "learning-rate schedule in place of the train line's: "
     "NAME[,KEY=VALUE...], e.g. cosine,warmup=2 (README: Topology "
     "files)"},
    {"val-split", C_TRAIN, "F",
     "hold out the last fraction F (0 to 1) of the training set to "
     "validate on (Keras's validation_split); the test set is then "
     "evaluated once, after training"},
    {"patience", C_TRAIN, "N",
     "stop after N epochs without a lower val_loss and bring back "
     "the best epoch's weights (Keras's EarlyStopping, "
     "restore_best_weights)"},
    {"save-best", C_TRAIN, "FILE",
     "write a checkpoint at every epoch with the lowest val_loss so "
     "far"},
    {"stop-at", C_TRAIN, "ACC",
     "stop once validation accuracy reaches ACC (0 to 1), e.g. 0.99"},
    {"steps", C_BENCH | C_TUNE, "N",
     "timed steps after warm-up (default 20 for bench, 5 for tune)"},
    {"repeats", C_BENCH, "N",
     "timed rounds of --steps steps (default 3): the figures are "
     "their medians; --json adds each figure's min, median and max"},
    {"autotune", C_TRAIN | C_BENCH, NULL,
     "run tune first (choices are cached for later runs)"},
    {"json", C_BENCH, "FILE",
     "write the figures as JSON, with each device's name, vendor and "
     "driver"},
    {"json", C_CHECK, "FILE",
     "write the table as JSON (device, driver, each implementation's "
     "cases, worst error and result)"},
    {"small", C_CHECK, NULL,
     "the small shapes only (quick; what oclgrind can run), not the seed "
     "model's"},
    {"json", C_PREDICT, NULL,
     "print one JSON object per image (file, class, class_name where "
     "the data set names its classes, probabilities) instead of text"},
    {"top", C_PREDICT, "K",
     "show the K most probable classes of each image (default: all in "
     "the text form's probabilities, the best one first with --top)"},
    {"help", C_ALL, NULL,
     "this text; after a command, that command's usage and options"},
    {"version", C_ALL, NULL,
     "the version of clnet and of its plugin ABI"},
    {NULL, 0, NULL, NULL},
};

static const struct {
    const char *name;
    int bit;
    const char *args;
    const char *help;
} commands[] = {
    {"devices", C_DEVICES, "",
     "list the native CPU and every OpenCL device"},
    {"plugins", C_PLUGINS, "",
     "list the plugins found: kind, backend, implementation, ABI, path"},
    {"summary", C_SUMMARY, "NET", "Keras-style table of a topology file"},
    {"train", C_TRAIN, "NET [--data DIR]",
     "train, print per-epoch metrics, write a checkpoint"},
    {"eval", C_EVAL, "NET --model CKPT [--data DIR]",
     "test loss, accuracy and confusion matrix"},
    {"predict", C_PREDICT, "NET --model CKPT IMAGE...",
     "class and probabilities for PNG, JPEG, PGM or PPM images"},
    {"bench", C_BENCH, "NET [--device D|all]",
     "per-layer forward/backward times, GFLOP/s, images/s"},
    {"tune", C_TUNE, "NET [--device D]",
     "time each layer's implementations, cache the fastest correct one"},
    {"check", C_CHECK, "[--device D|all]",
     "every implementation on the device against the native CPU: a "
     "pass/fail table with each one's worst error"},
    {"config", C_CONFIG, "",
     "the effective configuration: device, threads, cache, backends and "
     "OpenCL build options, each with where it came from"},
    {NULL, 0, NULL, NULL},
};

#define HELP_WIDTH 80
#define HELP_COLUMN 24    /* where an option's text starts */
#define COMMAND_COLUMN 30 /* and a command's */

static const char *const environment_text =
    "CLNET_PLUGIN_PATH: extra plugin folders, ':'-separated absolute "
    "paths; folders and plugins a group or others may write are refused. "
    "CLNET_MNIST_DIR: the default --data. CLNET_CACHE_DIR: compiled "
    "OpenCL kernels and tune.tsv (else $XDG_CACHE_HOME/clnet, else "
    "~/.cache/clnet). CLNET_CL_BUILD_OPTIONS: added to every OpenCL "
    "kernel build, CLNET_CL_BUILD_OPTIONS_N to those of OpenCL device N "
    "(the configuration file's opencl lines set it). CLNET_CONFIG: the "
    "configuration file. OMP_NUM_THREADS, OMP_WAIT_POLICY: clnet sets "
    "PASSIVE unless it or GOMP_SPINCOUNT is set.";
static const char *const exit_text =
    "0 success, 2 bad input (options, topology, data, checkpoint, an "
    "image predict could not read), 1 failure at run time (a non-finite "
    "loss, a diverged run, an implementation clnet check failed), "
    "130 / 143 after SIGINT / SIGTERM (train saves --out first; a "
    "second SIGINT stops at once).";

/* Writes text from column `col` (where the cursor is), wrapping at
 * HELP_WIDTH with continuation lines indented to `indent`; a word longer
 * than a line gets a line of its own. */
static void wrap(FILE *out, const char *text, int col, int indent)
{
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (!n)
            break;
        if (col > indent && col + 1 + (int)n > HELP_WIDTH - 1) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fwrite(p, 1, n, out);
        col += (int)n;
        p += n;
    }
    fputc('\n', out);
}

/* "  --name VALUE" padded to HELP_COLUMN, then the wrapped help; a left
 * column too wide for that puts the help on the next line. */
static void print_option(FILE *out, const option_spec *o, int with_commands)
{
    char left[64];
    snprintf(left, sizeof left, "  --%s%s%s", o->name, o->value ? " " : "",
             o->value ? o->value : "");
    int col = (int)strlen(left);
    fputs(left, out);
    if (col > HELP_COLUMN - 2) {
        fprintf(out, "\n%*s", HELP_COLUMN, "");
    } else {
        fprintf(out, "%*s", HELP_COLUMN - col, "");
    }
    char text[1024];
    size_t len = (size_t)snprintf(text, sizeof text, "%s", o->help);
    if (with_commands && (o->commands & C_ALL) != C_ALL) {
        len += (size_t)snprintf(text + len, sizeof text - len, " [");
        int first = 1;
        for (int c = 0; commands[c].name && len < sizeof text; c++)
            if (o->commands & commands[c].bit) {
                len += (size_t)snprintf(text + len, sizeof text - len, "%s%s",
                                        first ? "" : " ", commands[c].name);
                first = 0;
            }
        if (len < sizeof text)
            snprintf(text + len, sizeof text - len, "]");
    }
    wrap(out, text, HELP_COLUMN, HELP_COLUMN);
}

static void print_tail(FILE *out)
{
    fputs("\nEnvironment:\n", out);
    fprintf(out, "  ");
    wrap(out, environment_text, 2, 2);
    fputs("\nExit status:\n", out);
    fprintf(out, "  ");
    wrap(out, exit_text, 2, 2);
}

/* The command's row of the table, or -1. */
static int command_index(const char *name)
{
    for (int i = 0; name && commands[i].name; i++)
        if (!strcmp(commands[i].name, name))
            return i;
    return -1;
}

void cli_usage(FILE *out, const char *command)
{
    int c = command_index(command);
    if (c >= 0) {
        fprintf(out, "usage: clnet %s%s%s [OPTIONS]\n\n", commands[c].name,
                commands[c].args[0] ? " " : "", commands[c].args);
        char what[256];
        snprintf(what, sizeof what, "%s.", commands[c].help);
        what[0] = (char)toupper((unsigned char)what[0]);
        wrap(out, what, 0, 0);
        fputs("\nOptions:\n", out);
        for (int i = 0; options[i].name; i++)
            if (options[i].commands & commands[c].bit)
                print_option(out, &options[i], 0);
        print_tail(out);
        return;
    }
    fputs("usage: clnet [OPTIONS] COMMAND [ARGS] [OPTIONS]\n\n"
          "Trains and runs convolutional networks described in topology "
          "files.\n\nCommands:\n", out);
    for (int i = 0; commands[i].name; i++) {
        char left[96];
        snprintf(left, sizeof left, "  %s %s", commands[i].name,
                 commands[i].args);
        fputs(left, out);
        int col = (int)strlen(left);
        if (col > COMMAND_COLUMN - 2)
            fprintf(out, "\n%*s", COMMAND_COLUMN, "");
        else
            fprintf(out, "%*s", COMMAND_COLUMN - col, "");
        wrap(out, commands[i].help, COMMAND_COLUMN, COMMAND_COLUMN);
    }
    fputs("\n`clnet COMMAND --help` shows one command's options.\n"
          "\nOptions (each applies to the commands named in brackets):\n",
          out);
    for (int i = 0; options[i].name; i++)
        print_option(out, &options[i], 1);
    print_tail(out);
}

/* roff text: backslashes and leading dots or quotes made literal. */
static void roff(FILE *out, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", out);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}

void cli_man_page(FILE *out)
{
    fprintf(out, ".TH CLNET 1 \"\" \"clnet %s\" \"User Commands\"\n"
                 ".SH NAME\nclnet \\- train and run convolutional networks "
                 "described in topology files, on the CPU and on OpenCL "
                 "devices\n.SH SYNOPSIS\n",
            CLNET_VERSION);
    for (int i = 0; commands[i].name; i++) {
        fprintf(out, ".B clnet %s\n", commands[i].name);
        if (commands[i].args[0]) {
            roff(out, commands[i].args);
            fputc('\n', out);
        }
        fputs("[\\fIOPTIONS\\fR]\n.br\n", out);
    }
    fputs(".SH COMMANDS\n", out);
    for (int i = 0; commands[i].name; i++) {
        fprintf(out, ".TP\n.B %s\n", commands[i].name);
        roff(out, commands[i].help);
        fputc('\n', out);
    }
    fputs(".SH OPTIONS\n", out);
    for (int i = 0; options[i].name; i++) {
        fputs(".TP\n.B \\-\\-", out);
        roff(out, options[i].name);
        if (options[i].value) {
            fputs(" \\fI", out);
            roff(out, options[i].value);
            fputs("\\fR", out);
        }
        fputc('\n', out);
        roff(out, options[i].help);
        if ((options[i].commands & C_ALL) != C_ALL) {
            fputs(" (", out);
            int first = 1;
            for (int c = 0; commands[c].name; c++)
                if (options[i].commands & commands[c].bit) {
                    fprintf(out, "%s%s", first ? "" : ", ", commands[c].name);
                    first = 0;
                }
            fputs(")", out);
        }
        fputc('\n', out);
    }
    fputs(".SH ENVIRONMENT\n", out);
    roff(out, environment_text);
    fputs("\n.SH EXIT STATUS\n", out);
    roff(out, exit_text);
    fputs("\n.SH SEE ALSO\nREADME.md and the topology files under "
          "share/clnet/models.\n", out);
}

static int parse_number(const char *opt, const char *v, long long min,
                        long long max, long long *out)
{
    errno = 0;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < min || x > max) {
        fprintf(stderr, "clnet: --%s takes a whole number from %lld to %lld, "
                        "got '%s'\n",
                opt, min, max, v);
        return EXIT_INPUT;
    }
    *out = x;
    return 0;
}

/* "512M", "8G", "1.5GiB", "2GB", "4096": bytes, more than 0. */
static int parse_size(const char *opt, const char *v, uint64_t *out)
{
    static const char *const units = "KMGTPE";
    errno = 0;
    char *end;
    double x = strtod(v, &end);
    double scale = 1;
    const char *u = end;
    const char *at = *u ? strchr(units, toupper((unsigned char)*u)) : NULL;
    if (at) {
        int power = (int)(at - units) + 1;
        u++;
        int decimal = (*u == 'B' || *u == 'b') && u[1] == '\0';
        if (*u == 'i' || *u == 'I')
            u++;
        if (*u == 'B' || *u == 'b')
            u++;
        for (int k = 0; k < power; k++)
            scale *= decimal ? 1000.0 : 1024.0;
    } else if (*u == 'B' || *u == 'b') {
        u++;
    }
    double bytes = x * scale;
    if (end == v || *u || errno || !(bytes >= 1) || bytes >= 1.8e19) {
        fprintf(stderr, "clnet: --%s takes a size such as 512M, 8G or "
                        "1.5GiB, got '%s'\n",
                opt, v);
        return EXIT_INPUT;
    }
    *out = (uint64_t)bytes;
    return 0;
}

static int set_option(cli_options *o, const char *name, const char *v)
{
    long long x = 0;
    int rc = 0;
    if (!strcmp(name, "data")) o->data = v;
    else if (!strcmp(name, "format")) {
        o->format = v;
        if (strcmp(v, "idx") && strcmp(v, "cifar") && strcmp(v, "folder") &&
            strcmp(v, "auto")) {
            fprintf(stderr, "clnet: --format takes idx, cifar, folder or "
                            "auto, got '%s'\n", v);
            rc = EXIT_INPUT;
        }
    }
    else if (!strcmp(name, "labels")) {
        o->coarse = !strcmp(v, "coarse");
        if (!o->coarse && strcmp(v, "fine")) {
            fprintf(stderr, "clnet: --labels takes fine or coarse, got "
                            "'%s'\n", v);
            rc = EXIT_INPUT;
        }
    }
    else if (!strcmp(name, "resize")) {
        o->resize = !strcmp(v, "fixed") ? CLNET_RESIZE_FIXED
                                        : CLNET_RESIZE_STRETCH;
        if (strcmp(v, "fixed") && strcmp(v, "stretch")) {
            fprintf(stderr, "clnet: --resize takes stretch or fixed, got "
                            "'%s'\n", v);
            rc = EXIT_INPUT;
        }
    }
    else if (!strcmp(name, "model")) o->model = v;
    else if (!strcmp(name, "out")) o->out = v;
    else if (!strcmp(name, "log-json")) o->log_json = v;
    else if (!strcmp(name, "resume")) o->resume = v;
    else if (!strcmp(name, "init-weights")) o->init_weights = v;
    else if (!strcmp(name, "save-every")) {
        rc = parse_number(name, v, 1, 1000000, &x);
        o->save_every = (int32_t)x;
    }
    else if (!strcmp(name, "bucket-kb")) {
        rc = parse_number(name, v, 1, 1 << 20, &x);
        o->bucket_kb = (int32_t)x;
    }
    else if (!strcmp(name, "device")) o->device = v;
    else if (!strcmp(name, "config")) o->config = v;
    else if (!strcmp(name, "devices")) o->devices = v;
    else if (!strcmp(name, "backend")) o->backend = v;
    else if (!strcmp(name, "invert")) o->invert = 1;
    else if (!strcmp(name, "quiet")) o->quiet = 1;
    else if (!strcmp(name, "autotune")) o->autotune = 1;
    else if (!strcmp(name, "strict")) o->strict = 1;
    else if (!strcmp(name, "no-fuse")) o->no_fuse = 1;
    else if (!strcmp(name, "small")) o->small = 1;
    else if (!strcmp(name, "json")) {
        /* bench writes a file; predict prints to stdout */
        if (v)
            o->json = v;
        else
            o->json_lines = 1;
    }
    else if (!strcmp(name, "top")) {
        rc = parse_number(name, v, 1, 100000, &x);
        o->top = (int32_t)x;
    }
    else if (!strcmp(name, "schedule")) o->schedule = v;
    else if (!strcmp(name, "save-best")) o->save_best = v;
    else if (!strcmp(name, "patience")) {
        rc = parse_number(name, v, 1, 1000000, &x);
        o->patience = (int32_t)x;
    }
    else if (!strcmp(name, "val-split")) {
        char *end;
        errno = 0;
        o->val_split = strtod(v, &end);
        if (*end || errno || !(o->val_split > 0 && o->val_split < 1)) {
            fprintf(stderr, "clnet: --val-split takes a fraction between 0 "
                            "and 1 (exclusive), got '%s'\n", v);
            rc = EXIT_INPUT;
        }
    }
    else if (!strcmp(name, "stop-at")) {
        char *end;
        errno = 0;
        o->stop_at = strtod(v, &end);
        if (*end || errno || !(o->stop_at > 0 && o->stop_at <= 1)) {
            fprintf(stderr, "clnet: --stop-at takes an accuracy between 0 "
                            "and 1, got '%s'\n", v);
            rc = EXIT_INPUT;
        }
    }
    else if (!strcmp(name, "max-memory"))
        rc = parse_size(name, v, &o->max_memory);
    else if (!strcmp(name, "steps")) {
        rc = parse_number(name, v, 1, 100000, &x);
        o->steps = (int32_t)x;
    }
    else if (!strcmp(name, "repeats")) {
        rc = parse_number(name, v, 1, 1000, &x);
        o->repeats = (int32_t)x;
    }
    else if (!strcmp(name, "seed")) {
        rc = parse_number(name, v, 0, 0x7fffffffffffffffll, &x);
        o->seed = (uint64_t)x;
    } else if (!strcmp(name, "epochs")) {
        rc = parse_number(name, v, 1, 1000000, &x);
        o->epochs = (int32_t)x;
    } else if (!strcmp(name, "batch")) {
        rc = parse_number(name, v, 1, 65536, &x);
        o->batch = (int32_t)x;
    } else if (!strcmp(name, "threads")) {
        rc = parse_number(name, v, 1, 1024, &x);
        o->threads = (int32_t)x;
    } else if (!strcmp(name, "limit-train")) {
        rc = parse_number(name, v, 1, 100000000, &x);
        o->limit_train = (int32_t)x;
    } else if (!strcmp(name, "limit-test")) {
        rc = parse_number(name, v, 1, 100000000, &x);
        o->limit_test = (int32_t)x;
    }
    return rc;
}

/* The row for --name that `bit`'s command accepts; else the first row of
 * that name (so the caller can say it does not apply); else NULL. */
static const option_spec *find_option(const char *name, int bit)
{
    const option_spec *any = NULL;
    for (int k = 0; options[k].name; k++)
        if (!strcmp(options[k].name, name)) {
            if (options[k].commands & bit)
                return &options[k];
            if (!any)
                any = &options[k];
        }
    return any;
}

/* The name of an argument "--name" or "--name=value", into out. */
static void option_name(const char *a, char *out, size_t n)
{
    const char *eq = strchr(a + 2, '=');
    snprintf(out, n, "%.*s",
             (int)(eq ? (size_t)(eq - a - 2) : strlen(a + 2)), a + 2);
}

/* "clnet: unknown WHAT 'DASHESword'; did you mean 'DASHESnear'?" */
static int unknown_word(const char *what, const char *dashes,
                        const char *word, const char *const *words)
{
    const char *near = clnet_nearest_word(word, words);
    fprintf(stderr, "clnet: unknown %s '%s%s'", what, dashes, word);
    if (near)
        fprintf(stderr, "; did you mean '%s%s'?", dashes, near);
    fprintf(stderr, " (see clnet --help)\n");
    return EXIT_INPUT;
}

static int unknown_option(const char *name)
{
    /* the table's own count: its NULL row makes room for the end */
    const char *onames[sizeof options / sizeof options[0]];
    int no = 0;
    for (int k = 0; options[k].name; k++)
        onames[no++] = options[k].name;
    onames[no] = NULL;
    return unknown_word("option", "--", name, onames);
}

/* Where the command word is: the first argument that is neither an
 * option nor the value of one; argc when there is none. */
static int find_command(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--"))
            return i + 1 < argc ? i + 1 : argc;
        if (strncmp(a, "--", 2) != 0 || !a[2])
            return a[0] == '-' && a[1] ? argc : i;
        char name[64];
        option_name(a, name, sizeof name);
        const option_spec *spec = find_option(name, C_ALL);
        if (spec && spec->value && !strchr(a, '='))
            i++;
    }
    return argc;
}

static int parse_option(int argc, char **argv, int *i, int bit,
                        const char *cmd, cli_options *o)
{
    const char *a = argv[*i];
    char name[64];
    option_name(a, name, sizeof name);
    const char *eq = strchr(a + 2, '=');
    const option_spec *spec = find_option(name, bit);
    if (!spec)
        return unknown_option(name);
    if (!(spec->commands & bit)) {
        fprintf(stderr, "clnet: --%s does not apply to '%s' (see clnet %s "
                        "--help)\n",
                name, cmd, cmd);
        return EXIT_INPUT;
    }
    const char *value = NULL;
    if (spec->value) {
        if (eq)
            value = eq + 1;
        else if (*i + 1 < argc)
            value = argv[++*i];
        if (!value || !*value) {
            fprintf(stderr, "clnet: --%s needs a value (%s)\n", name,
                    spec->value);
            return EXIT_INPUT;
        }
    } else if (eq) {
        fprintf(stderr, "clnet: --%s takes no value\n", name);
        return EXIT_INPUT;
    }
    return set_option(o, name, value);
}

int cli_parse(int argc, char **argv, cli_options *o, int *done)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    *done = 0;
    if (argc < 2) {
        cli_usage(stderr, NULL);
        return EXIT_INPUT;
    }
    int ci = find_command(argc, argv);
    const char *cmd = ci < argc ? argv[ci] : NULL;
    /* `clnet help [COMMAND]` */
    if (cmd && !strcmp(cmd, "help")) {
        const char *which = ci + 1 < argc ? argv[ci + 1] : NULL;
        if (which && command_index(which) < 0) {
            fprintf(stderr, "clnet: no command '%s' to help with (see clnet "
                            "--help)\n", which);
            return EXIT_INPUT;
        }
        cli_usage(stdout, which);
        *done = 1;
        return 0;
    }
    int known = command_index(cmd) >= 0;
    /* --help and --version win wherever they stand, even where an option
     * would have taken them as its value: asking for help never fails */
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cli_usage(stdout, known ? cmd : NULL);
            *done = 1;
            return 0;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("clnet %s (plugin ABI %u)\n", clnet_version(),
                   clnet_plugin_abi());
            *done = 1;
            return 0;
        }
    }
    if (!cmd) {
        fprintf(stderr, "clnet: give a command (see clnet --help)\n");
        return EXIT_INPUT;
    }
    int bit = known ? commands[command_index(cmd)].bit : 0;
    if (!bit) {
        const char *names[sizeof commands / sizeof commands[0]];
        int nn = 0;
        for (int i = 0; commands[i].name; i++)
            names[nn++] = commands[i].name;
        names[nn] = NULL;
        return unknown_word("command", "", cmd, names);
    }
    o->command = cmd;
    o->images = calloc((size_t)argc, sizeof *o->images);
    if (!o->images) {
        fprintf(stderr, "clnet: out of memory\n");
        return EXIT_RUNTIME;
    }
    /* options before the command word */
    for (int i = 1; i < ci; i++) {
        if (!strcmp(argv[i], "--"))
            continue;
        int rc = parse_option(argc, argv, &i, bit, cmd, o);
        if (rc)
            return rc;
    }
    int positional_only = 0;
    for (int i = ci + 1; i < argc; i++) {
        const char *a = argv[i];
        if (positional_only || strncmp(a, "--", 2) != 0 || !a[2]) {
            if (!positional_only && !strcmp(a, "--")) {
                positional_only = 1;
                continue;
            }
            if (a[0] == '-' && a[1] && !positional_only) {
                fprintf(stderr, "clnet: unknown option '%s' (options are "
                                "spelt --name; see clnet %s --help)\n",
                        a, cmd);
                return EXIT_INPUT;
            }
            if (!o->net && bit != C_DEVICES && bit != C_PLUGINS &&
                bit != C_CONFIG && bit != C_CHECK)
                o->net = a;
            else if (bit == C_PREDICT)
                o->images[o->nimages++] = a;
            else {
                fprintf(stderr, "clnet %s: unexpected argument '%s'\n", cmd, a);
                return EXIT_INPUT;
            }
            continue;
        }
        int rc = parse_option(argc, argv, &i, bit, cmd, o);
        if (rc)
            return rc;
    }
    if ((bit & C_BUILD) && !o->net) {
        fprintf(stderr, "clnet %s: give a topology file, e.g. clnet %s "
                        "models/mnist.net\n", cmd, cmd);
        return EXIT_INPUT;
    }
    if (o->resume && o->init_weights) {
        fprintf(stderr, "clnet train: --resume continues a run and "
                        "--init-weights starts a new one; give one of them\n");
        return EXIT_INPUT;
    }
    if ((bit & (C_EVAL | C_PREDICT)) && !o->model) {
        fprintf(stderr, "clnet %s: give the checkpoint to use with --model "
                        "CKPT (clnet train writes one)\n", cmd);
        return EXIT_INPUT;
    }
    if (bit == C_PREDICT && o->nimages == 0) {
        fprintf(stderr, "clnet predict: give one or more PNG or PGM images\n");
        return EXIT_INPUT;
    }
    return 0;
}
