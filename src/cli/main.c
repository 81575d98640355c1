/* The clnet command-line tool: parses the command line and runs one
 * command through the public API. The only place that decides exit codes:
 * 2 for bad input, 1 for failures at run time. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clnet/clnet.h"
#include "bench_cmd.h"
#include "check_cmd.h"
#include "job.h"
#include "json.h"
#include "options.h"
#include "plugins_cmd.h"
#include "progress.h"

#define DEFAULT_CHECKPOINT "clnet-model.ckpt"

static int fail(const clnet_error *e)
{
    return cli_job_fail(e, clnet_status_is_input(e->status) ? EXIT_INPUT
                                                           : EXIT_RUNTIME);
}

static clnet_registry *open_registry(clnet_error *e)
{
    clnet_registry *r = clnet_registry_open(e);
    for (int i = 0; r && cli_job_writer() && i < clnet_registry_refused_count(r);
         i++)
        fprintf(stderr, "clnet: warning: %s\n", clnet_registry_refused(r, i));
    return r;
}

static void print_devices(const char *backend, const clnet_device_info *d,
                          int n)
{
    for (int i = 0; i < n; i++) {
        printf("%s:%d  %s [%s]\n", backend, i, d[i].name, d[i].type);
        if (!d[i].c_version[0]) { /* the native CPU */
            printf("    %d cores, %.1f GiB memory\n", d[i].compute_units,
                   d[i].global_mem / 1073741824.0);
            continue;
        }
        printf("    platform %s, vendor %s, driver %s, %s\n"
               "    %d compute units, %.1f GiB global memory (largest "
               "buffer %.1f GiB), %llu KiB local memory, work-groups up to "
               "%llu\n",
               d[i].platform, d[i].vendor, d[i].driver_version, d[i].c_version,
               d[i].compute_units, d[i].global_mem / 1073741824.0,
               d[i].max_alloc / 1073741824.0,
               (unsigned long long)(d[i].local_mem / 1024),
               (unsigned long long)d[i].max_work_group);
    }
}

static int cmd_devices(void)
{
    clnet_error e;
    clnet_registry *r = open_registry(&e);
    if (!r)
        return fail(&e);
    clnet_device_info d[64];
    int n = clnet_devices(r, "cpu", d, 64, &e);
    print_devices("cpu", d, n < 64 ? n : 64);
    int device_plugins = 0;
    for (int i = 0; i < clnet_registry_count(r); i++) {
        clnet_plugin_info p;
        if (clnet_registry_info(r, i, &p, NULL) || strcmp(p.role, "device"))
            continue;
        device_plugins++;
        n = clnet_devices(r, p.backend, d, 64, &e);
        if (n < 0)
            printf("%s: %s\n", p.backend, e.msg);
        else if (n == 0)
            printf("%s: no platform or device was found (%s)\n", p.backend,
                   p.summary);
        else
            print_devices(p.backend, d, n < 64 ? n : 64);
    }
    if (!device_plugins)
        printf("no device plugin is loaded (clnet built without OpenCL?), so "
               "only the native CPU is listed\n");
    clnet_registry_free(r);
    return 0;
}

#define TUNE_STEPS 5

/* The configuration file, loaded once in main() for the commands that
 * build a network and for `clnet config`. */
static clnet_config *config;

/* The device and threads a run uses: the command line's, else the
 * configuration's, else the defaults. */
static const char *default_device(const cli_options *o)
{
    const char *d = o->device ? o->device : clnet_config_device(config);
    return d ? d : "cpu";
}

static long run_threads(const cli_options *o)
{
    int32_t t = o->threads ? o->threads : clnet_config_threads(config);
    return t ? t : clnet_default_threads();
}

static int cmd_config(const cli_options *o)
{
    clnet_build_options b = {0};
    b.config = config;
    b.device = o->device;
    b.threads = o->threads;
    b.backends = o->backend;
    clnet_error e;
    return clnet_config_print(config, &b, stdout, &e) ? fail(&e) : 0;
}

/* The build options the command line gives, at this batch. */
static clnet_build_options build_options(const cli_options *o, int32_t batch)
{
    clnet_build_options b = {0};
    b.config = config;
    b.max_batch = batch;
    b.threads = o->threads;
    b.seed = o->seed;
    b.device = o->device;
    b.backends = o->backend;
    b.max_memory = o->max_memory;
    b.strict = o->strict;
    b.no_fusion = o->no_fuse;
    return b;
}

/* Registry, topology and network, as the build commands all need them;
 * with --autotune (or for `clnet tune`) the implementations are measured
 * and the choices cached first. */
static clnet_net *open_net(const cli_options *o, int32_t batch,
                           clnet_registry **reg, clnet_error *e)
{
    *reg = open_registry(e);
    if (!*reg)
        return NULL;
    clnet_topology *t = clnet_topology_load(o->net, e);
    if (!t)
        return NULL;
    clnet_build_options b = build_options(o, batch);
    int tune = o->autotune || !strcmp(o->command, "tune");
    if (tune && clnet_tune(t, *reg, &b, o->steps ? o->steps : TUNE_STEPS,
                           stdout, e)) {
        clnet_topology_free(t);
        return NULL;
    }
    clnet_net *net = clnet_net_build(t, *reg, &b, e);
    clnet_topology_free(t);
    return net;
}

static int cmd_tune(const cli_options *o)
{
    clnet_error e;
    clnet_registry *r = NULL;
    clnet_net *net = open_net(o, o->batch, &r, &e);
    int rc = net ? 0 : fail(&e);
    clnet_net_free(net);
    clnet_registry_free(r);
    return rc;
}

static const char *data_dir(const cli_options *o)
{
    if (o->data)
        return o->data;
    const char *env = getenv("CLNET_MNIST_DIR");
    return env && *env ? env : "data/mnist";
}

typedef struct {
    char what[4200];
    double start;
} decoding;

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A count on stderr while an image folder decodes (redrawn on a
 * terminal), and the rate at the end. */
static void decode_progress(int64_t done, int64_t total, void *user)
{
    decoding *d = user;
    int tty = isatty(fileno(stderr));
    if (!d->start)
        d->start = seconds_now();
    if (done < total) {
        if (tty)
            fprintf(stderr, "\rDecoding %s: %lld/%lld images", d->what,
                    (long long)done, (long long)total);
        return;
    }
    double s = seconds_now() - d->start;
    fprintf(stderr, "%sDecoded %s: %lld images in %.2f s (%.0f images/s)\n",
            tty ? "\r\033[K" : "", d->what, (long long)total, s,
            s > 0 ? (double)total / s : 0.0);
}

/* The `which` part ("train" or "test") of --data, in the input's shape. */
static int load_data(const cli_options *o, const clnet_net *net,
                     const char *which, int32_t limit, clnet_dataset *ds,
                     clnet_error *e)
{
    clnet_shape in = clnet_net_input_shape(net);
    decoding dec = {.start = 0};
    snprintf(dec.what, sizeof dec.what, "%s/%s", data_dir(o), which);
    clnet_data_options d = {.format = o->format, .coarse = o->coarse,
                            .limit = limit, .rows = in.h, .cols = in.w,
                            .channels = in.c, .resize = o->resize,
                            .progress = limit == 1 ? NULL : decode_progress,
                            .user = &dec};
    return clnet_dataset_load(ds, data_dir(o), which, &d, e);
}

static int cmd_summary(const cli_options *o)
{
    clnet_error e;
    clnet_registry *r = NULL;
    /* at the training batch, so the memory line tells what training needs */
    clnet_net *net = open_net(o, 0, &r, &e);
    int rc = net ? (clnet_net_summary(net, stdout, &e) ? fail(&e) : 0)
                 : fail(&e);
    clnet_net_free(net);
    clnet_registry_free(r);
    return rc;
}

/* Fails early, before any training, when `path` cannot be written: a
 * folder, a missing or read-only folder, /proc (root passes access()
 * there). Creates and removes a probe file; never truncates path. */
static int check_writable(const char *path, const char *what, clnet_error *e)
{
    struct stat st;
    e->status = CLNET_E_ARG;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(e->msg, sizeof e->msg,
                 "%s: cannot write the %s: it is a folder; name a file", path,
                 what);
        return -1;
    }
    size_t n = strlen(path) + 16;
    char *probe = malloc(n);
    if (!probe) {
        snprintf(e->msg, sizeof e->msg, "out of memory");
        e->status = CLNET_E_NOMEM;
        return -1;
    }
    snprintf(probe, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(probe);
    if (fd < 0) {
        snprintf(e->msg, sizeof e->msg, "%s: cannot write the %s: %s", path,
                 what, strerror(errno));
        free(probe);
        return -1;
    }
    close(fd);
    unlink(probe);
    free(probe);
    e->status = CLNET_OK;
    return 0;
}

/* SIGINT and SIGTERM: the first asks training to stop after the current
 * step (it then saves --out); the second stops at once, removing the
 * temporary file of a save in progress. */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    if (stop_signal) {
        const char *tmp = clnet_checkpoint_temp_file();
        if (tmp)
            unlink(tmp);
        _exit(128 + sig);
    }
    stop_signal = sig;
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* What the training callbacks share. */
typedef struct {
    cli_progress prog;
    clnet_net *net;
    const char *out;
    int32_t save_every;
    int diverged;       /* the last epoch's clnet_epoch_stats.diverged */
    int save_failed;
    clnet_error save_err;
    const char *save_best; /* --save-best FILE */
} train_run;

/* With --val-split: the test set's figures after training. */
static void on_test(double loss, double accuracy, void *user)
{
    train_run *t = user;
    cli_progress_test(&t->prog, loss, accuracy);
}

static int should_stop(void *user)
{
    const train_run *t = user;
    return stop_signal != 0 || t->save_failed;
}

static void on_epoch(const clnet_epoch_stats *s, void *user)
{
    train_run *t = user;
    cli_progress_epoch(s, &t->prog);
    t->diverged = s->diverged;
    /* across ranks, rank 0 alone warns and writes */
    if (!cli_job_writer())
        return;
    if (s->diverged == 1)
        fprintf(stderr, "clnet: warning: epoch %d: the loss (%.4g) is far "
                        "above where the run started (%.4g): it has "
                        "diverged; try a smaller learning rate\n",
                s->epoch, s->loss, s->first_loss);
    else if (s->diverged == 2)
        fprintf(stderr, "clnet: warning: epoch %d: accuracy %.4f is at "
                        "chance and the loss (%.4g) no better than at the "
                        "start (%.4g): the network is not learning; try a "
                        "smaller learning rate\n",
                s->epoch, s->accuracy, s->loss, s->first_loss);
    /* a diverged state is never saved over the last good one */
    if (t->save_best && s->best && !s->diverged && !t->save_failed) {
        if (clnet_checkpoint_save(t->net, t->save_best, &t->save_err))
            t->save_failed = 1;
        else if (!t->prog.quiet)
            printf("Saved %s (val_loss %.4f, the best so far)\n",
                   t->save_best, s->val_loss);
    }
    if (s->early_stop)
        printf("Early stopping: val_loss has not improved for %d epochs; "
               "the weights of epoch %d (val_loss best) are back\n",
               s->epoch - s->best_epoch, s->best_epoch);
    if (t->save_every && s->epoch % t->save_every == 0 && !s->diverged &&
        !t->save_failed) {
        if (clnet_checkpoint_save(t->net, t->out, &t->save_err))
            t->save_failed = 1;
        else if (!t->prog.quiet)
            printf("Saved %s (epoch %d)\n", t->out, s->epoch);
    }
}

/* --devices D1,D2,...: the devices after the first, each a replica of
 * net built alike (its batch: its slice of the global batch) and brought
 * to the same state (--resume, --init-weights); they are freed by
 * free_replicas. Returns 0, or an exit status after a message. */
#define MAX_REPLICAS 16
typedef struct {
    clnet_net *net[MAX_REPLICAS];
    int n;
} replica_set;

static void free_replicas(replica_set *s)
{
    for (int i = 0; i < s->n; i++)
        clnet_net_free(s->net[i]);
    s->n = 0;
}

/* r: the registry net was built from, which outlives the replicas too */
static int build_replicas(const cli_options *o, clnet_net *net,
                          const clnet_registry *r, replica_set *s,
                          clnet_error *e)
{
    char list[512], *names[MAX_REPLICAS + 1];
    snprintf(list, sizeof list, "%s", o->devices);
    int n = 0;
    for (char *save = NULL, *d = strtok_r(list, ",", &save); d;
         d = strtok_r(NULL, ",", &save)) {
        if (n == MAX_REPLICAS + 1) {
            fprintf(stderr, "clnet train: --devices takes at most %d "
                            "devices\n", MAX_REPLICAS + 1);
            return EXIT_INPUT;
        }
        for (int k = 0; k < n; k++)
            if (!strcmp(names[k], d)) {
                fprintf(stderr, "clnet train: --devices names %s twice; "
                                "give each device once\n", d);
                return EXIT_INPUT;
            }
        names[n++] = d;
    }
    if (n < 2) {
        fprintf(stderr, "clnet train: --devices takes two or more devices, "
                        "e.g. --devices cpu,opencl:0 (one replica each)\n");
        return EXIT_INPUT;
    }
    int32_t batch = o->batch ? o->batch : clnet_net_default_batch(net);
    clnet_topology *t = clnet_topology_load(o->net, e);
    if (!t)
        return fail(e);
    for (int i = 1; i < n; i++) {
        /* its slice: at most ceil(batch / n) samples */
        clnet_build_options b = build_options(o, (batch + n - 1) / n);
        b.device = names[i];
        clnet_net *rep = clnet_net_build(t, r, &b, e);
        s->net[s->n++] = rep;
        if (!rep || (o->resume && clnet_checkpoint_resume(rep, o->resume, e)) ||
            (o->init_weights &&
             clnet_checkpoint_load(rep, o->init_weights, e))) {
            clnet_topology_free(t);
            return fail(e);
        }
    }
    clnet_topology_free(t);
    if (clnet_net_set_replicas(net, s->net, s->n, e))
        return fail(e);
    return 0;
}

static int cmd_train(const cli_options *o)
{
    clnet_error e = {0};
    clnet_registry *r = NULL;
    clnet_dataset train = {0}, test = {0};
    train_run run;
    memset(&run, 0, sizeof run);
    int rc = 0, logging = 0;
    const char *out = o->out ? o->out : DEFAULT_CHECKPOINT;
    replica_set reps = {.n = 0};
    cli_options first = *o;
    char first_device[64] = "";
    if (o->devices) {
        /* the first device's replica is the network itself */
        snprintf(first_device, sizeof first_device, "%.*s",
                 (int)strcspn(o->devices, ","), o->devices);
        first.device = first_device;
    }
    clnet_net *net = open_net(&first, o->batch, &r, &e);
    int writer = cli_job_writer();
    int bad = !net ||
              (writer && check_writable(out, "checkpoint", &e)) ||
              (writer && o->log_json && check_writable(o->log_json, "log", &e)) ||
              (writer && o->save_best &&
               check_writable(o->save_best, "checkpoint", &e)) ||
              (o->resume && clnet_checkpoint_resume(net, o->resume, &e)) ||
              (o->init_weights && clnet_checkpoint_load(net, o->init_weights,
                                                        &e));
    /* across ranks: whatever failed on any rank stops every rank here */
    if (cli_job_check(bad, &e)) {
        rc = fail(&e);
        goto done;
    }
    if (o->devices && cli_job_size() > 1) {
        snprintf(e.msg, sizeof e.msg, "--devices and mpirun do not go "
                 "together: give each rank one device (--device)");
        e.status = CLNET_E_ARG;
        cli_job_check(1, &e);
        rc = fail(&e);
        goto done;
    }
    if (o->devices && (rc = build_replicas(o, net, r, &reps, &e)))
        goto done;
    bad = load_data(o, net, "train", o->limit_train, &train, &e) ||
          load_data(o, net, "test", o->limit_test, &test, &e);
    if (cli_job_check(bad, &e) ||
        (cli_job_comm() &&
         clnet_net_set_comm(net, cli_job_comm(),
                            (size_t)(o->bucket_kb ? o->bucket_kb : 1024) * 1024,
                            &e))) {
        rc = fail(&e);
        goto done;
    }
    int32_t epochs = o->epochs ? o->epochs : clnet_net_default_epochs(net);
    int32_t batch = o->batch ? o->batch : clnet_net_default_batch(net);
    int32_t done_epochs = 0;
    int64_t done_steps = 0;
    clnet_net_progress(net, &done_epochs, &done_steps);
    if (o->resume && done_epochs >= epochs) {
        fprintf(stderr, "clnet: %s finished epoch %d of its run; give "
                        "--epochs with a later last epoch to train on\n",
                o->resume, done_epochs);
        rc = EXIT_INPUT;
        goto done;
    }
    long threads = run_threads(o);
    if (o->val_split > 0) {
        int32_t keep = (int32_t)((double)train.count * (1.0 - o->val_split));
        printf("Training %s on %s: %d training, %d validation (the last "
               "%g of the training set) and %d test images, batch %d, "
               "%d epoch%s, %ld thread%s, seed %llu\n",
               o->net, o->devices ? o->devices : default_device(o), keep,
               train.count - keep, o->val_split, test.count, batch, epochs,
               epochs == 1 ? "" : "s", threads, threads == 1 ? "" : "s",
               (unsigned long long)o->seed);
    } else {
        printf("Training %s on %s: %d training and %d test images (the "
               "test set validates), batch %d, %d epoch%s, %ld thread%s, "
               "seed %llu\n",
               o->net, o->devices ? o->devices : default_device(o),
               train.count,
               test.count, batch, epochs, epochs == 1 ? "" : "s", threads,
               threads == 1 ? "" : "s", (unsigned long long)o->seed);
    }
    if (cli_job_comm())
        printf("Across %d ranks (%s): each takes 1/%d of every batch of "
               "%d; rank 0 prints, logs and saves\n",
               (int)cli_job_size(), clnet_comm_describe(cli_job_comm()),
               (int)cli_job_size(), batch);
    if (o->resume)
        printf("Resuming %s after epoch %d, step %lld\n", o->resume,
               done_epochs, (long long)done_steps);
    cli_progress_init(&run.prog, stdout, epochs, o->quiet,
                      writer ? o->log_json : NULL, o->resume != NULL);
    logging = 1;
    run.net = net;
    run.prog.net = net;
    run.out = out;
    run.save_every = o->save_every;
    clnet_train_options t = {0};
    t.epochs = epochs;
    t.batch = batch;
    t.stop_at = o->stop_at;
    t.schedule = o->schedule;
    t.val_split = o->val_split;
    t.patience = o->patience;
    t.on_test = on_test;
    run.save_best = o->save_best;
    t.on_epoch = on_epoch;
    t.on_progress = cli_progress_step;
    t.on_eval_progress = cli_progress_eval;
    t.should_stop = should_stop;
    t.user = &run;
    catch_signals();
    int trc = clnet_train(net, &train, &test, &t, &e);
    if (run.save_failed) {
        rc = fail(&run.save_err);
        goto done;
    }
    if (trc && trc != CLNET_E_INTERRUPTED) {
        rc = fail(&e);
        if (trc == CLNET_E_NONFINITE && writer)
            fprintf(stderr, "clnet: nothing was written over %s\n", out);
        goto done;
    }
    if (run.diverged) {
        if (writer)
            fprintf(stderr, "clnet: the run diverged; nothing was written "
                            "over %s\n", out);
        rc = EXIT_RUNTIME;
        goto done;
    }
    if (writer && clnet_checkpoint_save(net, out, &e)) {
        rc = fail(&e);
        goto done;
    }
    if (trc == CLNET_E_INTERRUPTED || stop_signal) {
        clnet_net_progress(net, &done_epochs, &done_steps);
        char where[64];
        if (done_steps)
            snprintf(where, sizeof where, "in epoch %d after step %lld",
                     done_epochs + 1, (long long)done_steps);
        else
            snprintf(where, sizeof where, "after epoch %d", done_epochs);
        printf("\nStopped by %s %s: saved %s; continue with clnet train %s "
               "--resume %s\n",
               stop_signal == SIGTERM ? "SIGTERM" : "SIGINT", where, out,
               o->net, out);
        rc = 128 + (stop_signal ? stop_signal : SIGINT);
        goto done;
    }
    printf("Saved %s\n", out);
done:
    if (logging && cli_progress_close(&run.prog) && rc == 0) {
        fprintf(stderr, "clnet: %s: cannot write\n", o->log_json);
        rc = EXIT_RUNTIME;
    }
    clnet_dataset_free(&train);
    clnet_dataset_free(&test);
    /* the replicas before the network that steps them */
    if (net)
        clnet_net_set_replicas(net, NULL, 0, NULL);
    free_replicas(&reps);
    clnet_net_free(net);
    clnet_registry_free(r);
    return rc;
}

static int cmd_eval(const cli_options *o)
{
    clnet_error e = {0};
    clnet_registry *r = NULL;
    clnet_dataset test = {0};
    clnet_eval_result res = {0};
    int rc = 0;
    clnet_net *net = open_net(o, o->batch ? o->batch : 500, &r, &e);
    if (!net || clnet_checkpoint_load(net, o->model, &e) ||
        load_data(o, net, "test", o->limit_test, &test, &e) ||
        clnet_evaluate(net, &test, &res, &e)) {
        rc = fail(&e);
        goto done;
    }
    printf("%d test images: loss %.4f, accuracy %.4f (%.2f%%)\n", test.count,
           res.loss, res.accuracy, 100 * res.accuracy);
    /* the data set's class names, where it has them, label the rows */
    int named = test.class_names && test.nclasses == res.classes;
    printf("\nConfusion matrix (rows: true class, columns: predicted)\n%*s",
           named ? 18 : 5, "");
    for (int c = 0; c < res.classes; c++)
        printf("%6d", c);
    printf("\n");
    for (int t = 0; t < res.classes; t++) {
        if (named)
            printf("%4d %-12.12s ", t, test.class_names[t]);
        else
            printf("%4d ", t);
        for (int c = 0; c < res.classes; c++)
            printf("%6lld", (long long)res.confusion[t * res.classes + c]);
        printf("\n");
    }
done:
    clnet_eval_result_free(&res);
    clnet_dataset_free(&test);
    clnet_net_free(net);
    clnet_registry_free(r);
    return rc;
}

/* 1 when the image's border is mostly light: a dark drawing on paper,
 * which MNIST-style networks (light on dark) misread without --invert. */
static int light_border(const uint8_t *px, int32_t h, int32_t w)
{
    long sum = 0, n = 0;
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++)
            if (y == 0 || x == 0 || y == h - 1 || x == w - 1) {
                sum += px[(size_t)y * w + x];
                n++;
            }
    return n && sum > 160 * n;
}

/* Class indices by falling probability (ties: the lower index first). */
static void rank_classes(const float *p, int32_t k, int *order)
{
    for (int c = 0; c < k; c++) {
        int at = c;
        while (at > 0 && p[order[at - 1]] < p[c]) {
            order[at] = order[at - 1];
            at--;
        }
        order[at] = c;
    }
}

/* One image's answer: a text line, or with --json one JSON object. */
static void print_prediction(const cli_options *o, const char *file,
                             const float *p, int32_t k, const int *order,
                             char *const *names)
{
    int best = order[0];
    int top = o->top && o->top < k ? o->top : k;
    if (o->json_lines) {
        printf("{\"file\": ");
        cli_json_string(stdout, file);
        printf(", \"class\": %d", best);
        if (names) {
            printf(", \"class_name\": ");
            cli_json_string(stdout, names[best]);
        }
        printf(", \"probability\": %.6g, \"probabilities\": [", p[best]);
        for (int c = 0; c < k; c++)
            printf("%s%.6g", c ? ", " : "", p[c]);
        printf("]");
        if (o->top) {
            printf(", \"top\": [");
            for (int t = 0; t < top; t++) {
                printf("%s{\"class\": %d", t ? ", " : "", order[t]);
                if (names) {
                    printf(", \"class_name\": ");
                    cli_json_string(stdout, names[order[t]]);
                }
                printf(", \"probability\": %.6g}", p[order[t]]);
            }
            printf("]");
        }
        printf("}\n");
        return;
    }
    printf("%s: %d%s%s (%.1f%%)", file, best, names ? " " : "",
           names ? names[best] : "", 100 * p[best]);
    if (o->top) {
        printf("  top %d:", top);
        for (int t = 0; t < top; t++)
            printf("%s %d%s%s %.4f", t ? "," : "", order[t],
                   names ? " " : "", names ? names[order[t]] : "",
                   p[order[t]]);
    } else {
        printf("  probabilities:");
        for (int c = 0; c < k; c++)
            printf(" %.4f", p[c]);
    }
    printf("\n");
}

static int cmd_predict(const cli_options *o)
{
    clnet_error e = {0};
    clnet_registry *r = NULL;
    uint8_t *pixels = NULL;
    float *probs = NULL;
    clnet_dataset names = {0};
    int rc = 0;
    clnet_net *net = open_net(o, o->batch ? o->batch : 64, &r, &e);
    if (!net || clnet_checkpoint_load(net, o->model, &e)) {
        rc = fail(&e);
        goto done;
    }
    clnet_shape in = clnet_net_input_shape(net);
    if (in.c != 1 && in.c != 3) {
        fprintf(stderr, "clnet predict: images are read as grey or RGB, but "
                        "%s takes %d channels\n", o->net, in.c);
        rc = EXIT_INPUT;
        goto done;
    }
    /* class names from the data set, when --data names one that has them */
    if (o->data && load_data(o, net, "test", 1, &names, &e)) {
        rc = fail(&e);
        goto done;
    }
    size_t size = (size_t)in.h * (size_t)in.w * (size_t)in.c;
    int32_t k = clnet_net_classes(net);
    int named = names.class_names && names.nclasses == k;
    pixels = malloc(size * (size_t)o->nimages);
    probs = malloc(sizeof *probs * (size_t)k * (size_t)o->nimages);
    if (!pixels || !probs) {
        fprintf(stderr, "clnet: out of memory\n");
        rc = EXIT_RUNTIME;
        goto done;
    }
    /* a file that cannot be read is reported and left out; the others
     * are predicted, and the exit status says one failed */
    int good = 0;
    int *which = malloc(sizeof *which * (size_t)o->nimages);
    char **failures = calloc((size_t)o->nimages, sizeof *failures);
    if (!failures) {
        free(which);
        which = NULL;
    }
    int lighter = 0; /* images that look dark on light, without --invert */
    for (int i = 0; which && i < o->nimages; i++) {
        uint8_t *px = pixels + size * (size_t)good;
        char why[CLNET_ERRLEN];
        if (clnet_image_decode(o->images[i], in.h, in.w, in.c, o->resize, px,
                               why, sizeof why)) {
            fprintf(stderr, "clnet: %s: %s\n", o->images[i], why);
            /* --json keeps the files' order: the reason is printed with
             * the answers */
            failures[i] = strdup(why);
            rc = EXIT_INPUT;
            continue;
        }
        if (in.c == 1 && !o->invert && light_border(px, in.h, in.w))
            lighter++;
        if (o->invert)
            for (size_t j = 0; j < size; j++)
                px[j] = (uint8_t)(255 - px[j]);
        which[good++] = i;
    }
    if (lighter)
        fprintf(stderr, "clnet: note: %d image%s look%s like a dark drawing "
                        "on a light background; a network trained on MNIST "
                        "expects light on dark: try --invert\n",
                lighter, lighter == 1 ? "" : "s", lighter == 1 ? "s" : "");
    int *order = malloc(sizeof *order * (size_t)k);
    if (!which || !order ||
        (good && clnet_predict(net, pixels, good, probs, &e))) {
        rc = which && order ? fail(&e)
                            : (fprintf(stderr, "clnet: out of memory\n"),
                               EXIT_RUNTIME);
    } else {
        for (int i = 0, g = 0; i < o->nimages; i++) {
            if (failures[i]) {
                if (o->json_lines) {
                    printf("{\"file\": ");
                    cli_json_string(stdout, o->images[i]);
                    printf(", \"error\": ");
                    cli_json_string(stdout, failures[i]);
                    printf("}\n");
                }
                continue;
            }
            const float *p = probs + (size_t)k * g++;
            rank_classes(p, k, order);
            print_prediction(o, o->images[i], p, k, order,
                             named ? names.class_names : NULL);
        }
    }
    for (int i = 0; failures && i < o->nimages; i++)
        free(failures[i]);
    free(failures);
    free(order);
    free(which);
done:
    clnet_dataset_free(&names);
    free(pixels);
    free(probs);
    clnet_net_free(net);
    clnet_registry_free(r);
    return rc;
}

int main(int argc, char **argv)
{
    cli_options o;
    int done;
    cli_job_begin();
    int rc = cli_parse(argc, argv, &o, &done);
    if (rc == 0 && !done && strcmp(o.command, "plugins") &&
        strcmp(o.command, "devices")) {
        clnet_error e;
        config = clnet_config_load(o.config, &e);
        if (!config || clnet_config_apply_environment(config, &e))
            rc = fail(&e);
    }
    if (rc == 0 && !done) {
        clnet_error e = {0};
        if (cli_job_join(o.command, &e))
            rc = fail(&e);
    }
    if (rc == 0 && !done) {
        if (!strcmp(o.command, "plugins"))
            rc = cli_plugins();
        else if (!strcmp(o.command, "devices"))
            rc = cmd_devices();
        else if (!strcmp(o.command, "summary"))
            rc = cmd_summary(&o);
        else if (!strcmp(o.command, "train"))
            rc = cmd_train(&o);
        else if (!strcmp(o.command, "eval"))
            rc = cmd_eval(&o);
        else if (!strcmp(o.command, "predict"))
            rc = cmd_predict(&o);
        else if (!strcmp(o.command, "bench"))
            rc = cli_bench(&o, open_net, fail);
        else if (!strcmp(o.command, "tune"))
            rc = cmd_tune(&o);
        else if (!strcmp(o.command, "config"))
            rc = cmd_config(&o);
        else if (!strcmp(o.command, "check"))
            rc = cli_check(&o);
    }
    clnet_config_free(config);
    free(o.images);
    cli_job_end();
    return rc;
}
