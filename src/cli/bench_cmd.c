/* `clnet bench`: runs clnet_bench --repeats times on each chosen device,
 * prints the per-layer table of the median round and writes the --json
 * report: the host, clnet's version and commit, each device, and every
 * figure's median with its min and max over the rounds. */
#define _POSIX_C_SOURCE 200809L
#include "bench_cmd.h"
#include "device_list.h"
#include "commit.h"
#include "json.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_STEPS 20
#define DEFAULT_REPEATS 3

/* One figure over the rounds. */
typedef struct {
    double min, median, max;
} spread;

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The figure at byte `offset` of each round's result (or of its layer
 * `layer`'s timing when layer >= 0); v is scratch of n doubles. */
static spread spread_of(const clnet_bench_result *rounds, int n, int layer,
                        size_t offset, double *v)
{
    for (int k = 0; k < n; k++) {
        const char *base = layer >= 0 ? (const char *)&rounds[k].layers[layer]
                                      : (const char *)&rounds[k];
        memcpy(&v[k], base + offset, sizeof(double));
    }
    qsort(v, (size_t)n, sizeof *v, by_value);
    spread s = {v[0], n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2,
                v[n - 1]};
    return s;
}

#define RESULT_FIGURES(X)                                                     \
    X(step_ms) X(loss_ms) X(update_ms) X(train_images_per_second)              \
        X(infer_images_per_second) X(outside_kernels) X(data_wait)
#define LAYER_FIGURES(X) X(forward_ms) X(backward_ms)

/* The rounds' medians, in the form of one result, and their spreads. */
typedef struct {
    clnet_bench_result med; /* layers owned here */
    int repeats;
#define FIELD(f) spread f;
    RESULT_FIGURES(FIELD)
    struct layer_spread {
        LAYER_FIGURES(FIELD)
    } * layers;
#undef FIELD
} bench_summary;

/* GFLOP/s at the median time: the work is the same in every round */
static double gflops_at(const clnet_bench_result *r0, int i, int backward,
                        double ms)
{
    const clnet_layer_timing *t = &r0->layers[i];
    double g = backward ? t->backward_gflops : t->forward_gflops;
    double m = backward ? t->backward_ms : t->forward_ms;
    return g > 0 && ms > 0 ? g * m / ms : 0;
}

static int summarize(const clnet_bench_result *rounds, int n,
                     bench_summary *s)
{
    memset(s, 0, sizeof *s);
    int nl = rounds[0].nlayers;
    double *v = malloc(sizeof *v * (size_t)n);
    s->med = rounds[0];
    s->med.layers = calloc(nl > 0 ? (size_t)nl : 1, sizeof *s->med.layers);
    s->layers = calloc(nl > 0 ? (size_t)nl : 1, sizeof *s->layers);
    if (!v || !s->med.layers || !s->layers) {
        free(v);
        free(s->med.layers);
        free(s->layers);
        return -1;
    }
    s->repeats = n;
#define FIELD(f)                                                               \
    s->f = spread_of(rounds, n, -1, offsetof(clnet_bench_result, f), v);       \
    s->med.f = s->f.median;
    RESULT_FIGURES(FIELD)
#undef FIELD
    for (int i = 0; i < nl; i++) {
        s->med.layers[i] = rounds[0].layers[i];
#define FIELD(f)                                                               \
    s->layers[i].f = spread_of(rounds, n, i, offsetof(clnet_layer_timing, f),  \
                               v);                                             \
    s->med.layers[i].f = s->layers[i].f.median;
        LAYER_FIGURES(FIELD)
#undef FIELD
        s->med.layers[i].forward_gflops =
            gflops_at(&rounds[0], i, 0, s->med.layers[i].forward_ms);
        s->med.layers[i].backward_gflops =
            gflops_at(&rounds[0], i, 1, s->med.layers[i].backward_ms);
    }
    free(v);
    return 0;
}

static void summary_free(bench_summary *s)
{
    free(s->med.layers);
    free(s->layers);
}

static void print_table(const bench_summary *s, int threads)
{
    const clnet_bench_result *r = &s->med;
    printf("\n%s  %s [%s], %s%s%s, driver %s\nbatch %d, %d thread%s; the "
           "median of %d round%s of %d timed steps after warm-up\n",
           r->device_label, r->device.name, r->device.type, r->device.platform,
           r->device.c_version[0] ? " " : "", r->device.c_version,
           r->device.driver_version[0]
                                    ? r->device.driver_version
                                    : "-",
           r->batch, threads, threads == 1 ? "" : "s", s->repeats,
           s->repeats == 1 ? "" : "s", r->steps);
    /* columns as wide as the longest name in them */
    int wn = 14, wi = 16;
    for (int i = 0; i < r->nlayers; i++) {
        int n = (int)strlen(r->layers[i].name);
        int m = (int)strlen(r->layers[i].impl);
        wn = n > wn ? n : wn;
        wi = m > wi ? m : wi;
    }
    printf("%-*s %-8s %-*s %11s %11s %10s %10s\n", wn, "layer", "backend", wi,
           "implementation", "forward ms", "backward ms", "fwd GFLOP/s",
           "bwd GFLOP/s");
    for (int i = 0; i < r->nlayers; i++) {
        const clnet_layer_timing *t = &r->layers[i];
        char fg[16] = "-", bg[16] = "-";
        if (t->forward_gflops > 0)
            snprintf(fg, sizeof fg, "%.1f", t->forward_gflops);
        if (t->backward_gflops > 0)
            snprintf(bg, sizeof bg, "%.1f", t->backward_gflops);
        printf("%-*s %-8s %-*s %11.3f %11.3f %10s %10s\n", wn, t->name,
               t->backend, wi, t->impl, t->forward_ms, t->backward_ms, fg, bg);
    }
    printf("%-*s %-8s %-*s %11.3f\n", wn, "loss", "", wi, "", r->loss_ms);
    printf("%-*s %-8s %-*s %11.3f\n", wn, "optimizer", "", wi, "",
           r->update_ms);
    printf("training:  %.0f images/s (%.0f to %.0f over the rounds; %.2f ms "
           "per step; %.1f%% of it outside kernels: transfers, launches, "
           "host work; %.1f%% waiting for data)\n",
           r->train_images_per_second, s->train_images_per_second.min,
           s->train_images_per_second.max, r->step_ms,
           100 * r->outside_kernels, 100 * r->data_wait);
    printf("inference: %.0f images/s (%.0f to %.0f)\n",
           r->infer_images_per_second, s->infer_images_per_second.min,
           s->infer_images_per_second.max);
}

static void write_spread(FILE *f, const char *name, spread s, int comma)
{
    cli_json_string(f, name);
    fprintf(f, ": {\"min\": %.6g, \"median\": %.6g, \"max\": %.6g}%s", s.min,
            s.median, s.max, comma ? ", " : "");
}

/* One result; after the first a comma goes before it, so that a device
 * that fails later leaves valid JSON. */
static void write_json(FILE *f, const bench_summary *s, int threads,
                       int first)
{
    const clnet_bench_result *r = &s->med;
    fprintf(f, "%s  {", first ? "" : ",\n");
    cli_json_device(f, r->device_label, &r->device);
    fprintf(f, ",\n");
    /* the medians, under the names the figures always had */
    fprintf(f, "   \"threads\": %d, \"batch\": %d, \"steps\": %d, "
               "\"repeats\": %d, \"loss_ms\": %.6g, \"update_ms\": %.6g, "
               "\"step_ms\": %.6g,\n"
               "   \"train_images_per_second\": %.6g, "
               "\"infer_images_per_second\": %.6g, \"outside_kernels\": %.4f,\n"
               "   \"data_wait\": %.4f,\n   \"spread\": {",
            threads, r->batch, r->steps, s->repeats, r->loss_ms, r->update_ms,
            r->step_ms, r->train_images_per_second,
            r->infer_images_per_second, r->outside_kernels, r->data_wait);
#define FIELD(x) write_spread(f, #x, s->x, strcmp(#x, "data_wait") != 0);
    RESULT_FIGURES(FIELD)
#undef FIELD
    fprintf(f, "},\n   \"layers\": [\n");
    for (int i = 0; i < r->nlayers; i++) {
        const clnet_layer_timing *t = &r->layers[i];
        fprintf(f, "    {");
        cli_json_field(f, "name", t->name, 1);
        cli_json_field(f, "kind", t->kind, 1);
        cli_json_field(f, "backend", t->backend, 1);
        cli_json_field(f, "impl", t->impl, 1);
        fprintf(f, "\"forward_ms\": %.6g, \"backward_ms\": %.6g, "
                   "\"forward_gflops\": %.6g, \"backward_gflops\": %.6g,\n"
                   "     \"spread\": {",
                t->forward_ms, t->backward_ms, t->forward_gflops,
                t->backward_gflops);
        write_spread(f, "forward_ms", s->layers[i].forward_ms, 1);
        write_spread(f, "backward_ms", s->layers[i].backward_ms, 0);
        fprintf(f, "}}%s\n", i + 1 < r->nlayers ? "," : "");
    }
    fprintf(f, "   ]}");
}

/* What /proc/cpuinfo says of the first processor: its model and the
 * vector extensions among its flags that matter for clnet's kernels and
 * BLAS (AVX-512, AMX on x86; ASIMD, SVE on ARM). */
static void cpu_info(char *model, size_t mlen, char *flags, size_t flen)
{
    static const char *const wanted[] = {
        "sse4_2",      "avx",        "avx2",        "fma",
        "avx512f",     "avx512bw",   "avx512vl",    "avx512_vnni",
        "avx512_bf16", "avx512_fp16", "amx_tile",   "amx_bf16",
        "amx_int8",    "amx_fp16",   "asimd",       "sve",
        "sve2",        "sme",        NULL};
    snprintf(model, mlen, "unknown");
    flags[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[8192];
    int got_model = 0, got_flags = 0;
    while ((!got_model || !got_flags) && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        char *v = colon + 1 + (colon[1] == ' ');
        v[strcspn(v, "\n")] = '\0';
        if (!got_model && (!strncmp(line, "model name", 10) ||
                           !strncmp(line, "Model\t", 6))) {
            snprintf(model, mlen, "%s", v);
            got_model = 1;
        } else if (!got_flags && (!strncmp(line, "flags\t", 6) ||
                                  !strncmp(line, "Features\t", 9))) {
            got_flags = 1;
            for (int w = 0; wanted[w]; w++) {
                size_t n = strlen(wanted[w]);
                for (const char *p = v; (p = strstr(p, wanted[w])); p += n)
                    if ((p == v || p[-1] == ' ') &&
                        (p[n] == ' ' || p[n] == '\0')) {
                        size_t used = strlen(flags);
                        snprintf(flags + used, flen - used, "%s%s",
                                 used ? " " : "", wanted[w]);
                        break;
                    }
            }
        }
    }
    fclose(f);
}

/* The report's head: the network, when, clnet's version and commit, the
 * host and its processor. */
static void write_head(FILE *json, const cli_options *o, int steps,
                       int repeats)
{
    char date[32], host[256] = "unknown", model[256], flags[512];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    cpu_info(model, sizeof model, flags, sizeof flags);
    fputs("{", json);
    cli_json_field(json, "network", o->net, 1);
    cli_json_field(json, "date", date, 1);
    fputs("\n \"clnet\": {", json);
    cli_json_field(json, "version", CLNET_VERSION, 1);
    cli_json_field(json, "commit", CLNET_COMMIT, 0);
    fputs("},\n \"host\": {", json);
    cli_json_field(json, "name", host, 1);
    cli_json_field(json, "cpu", model, 1);
    fputs("\"cpu_flags\": [", json);
    /* the flags as a list of strings */
    char *save = NULL;
    int first = 1;
    for (char *w = strtok_r(flags, " ", &save); w;
         w = strtok_r(NULL, " ", &save)) {
        fputs(first ? "" : ", ", json);
        cli_json_string(json, w);
        first = 0;
    }
    fprintf(json, "], \"logical_cpus\": %ld},\n \"steps\": %d, "
                  "\"repeats\": %d, \"results\": [\n",
            sysconf(_SC_NPROCESSORS_ONLN), steps, repeats);
}

int cli_bench(const cli_options *o, cli_open_net_fn open_net, cli_fail_fn fail)
{
    clnet_error e = {0};
    clnet_registry *r = clnet_registry_open(&e);
    if (!r)
        return fail(&e);
    /* the devices to run on */
    cli_device_label labels[CLI_MAX_DEVICES];
    int n = cli_device_labels(r, o->device, labels);
    clnet_registry_free(r);
    int steps = o->steps ? o->steps : DEFAULT_STEPS;
    int repeats = o->repeats ? o->repeats : DEFAULT_REPEATS;
    int threads = o->threads ? o->threads : (int)clnet_default_threads();
    clnet_bench_result *rounds = calloc((size_t)repeats, sizeof *rounds);
    if (!rounds) {
        fprintf(stderr, "clnet: out of memory\n");
        return EXIT_RUNTIME;
    }
    FILE *json = NULL;
    if (o->json && !(json = fopen(o->json, "w"))) {
        fprintf(stderr, "clnet: %s: cannot write\n", o->json);
        free(rounds);
        return EXIT_INPUT;
    }
    if (json)
        write_head(json, o, steps, repeats);
    int rc = 0, written = 0;
    for (int i = 0; i < n && !rc; i++) {
        cli_options od = *o;
        od.device = labels[i];
        clnet_registry *reg = NULL;
        clnet_net *net = open_net(&od, o->batch, &reg, &e);
        int done = 0;
        if (!net)
            rc = fail(&e);
        for (; !rc && done < repeats; done++)
            if (clnet_bench(net, steps, &rounds[done], &e))
                rc = fail(&e);
        bench_summary s;
        if (!rc && summarize(rounds, repeats, &s)) {
            fprintf(stderr, "clnet: out of memory\n");
            rc = EXIT_RUNTIME;
        } else if (!rc) {
            print_table(&s, threads);
            if (json)
                write_json(json, &s, threads, !written++);
            summary_free(&s);
        }
        for (int k = 0; k < done; k++)
            clnet_bench_free(&rounds[k]);
        clnet_net_free(net);
        clnet_registry_free(reg);
    }
    free(rounds);
    if (json) {
        fprintf(json, "\n]}\n");
        if (fclose(json) != 0 && !rc) {
            fprintf(stderr, "clnet: %s: cannot write\n", o->json);
            rc = EXIT_RUNTIME;
        }
    }
    return rc;
}
