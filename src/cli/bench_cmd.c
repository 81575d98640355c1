/* `clnet bench`: runs clnet_bench on each chosen device, prints the
 * per-layer table and writes the --json report. */
#define _POSIX_C_SOURCE 200809L
#include "bench_cmd.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void print_table(const clnet_bench_result *r)
{
    printf("\n%s  %s [%s], %s %s, driver %s\nbatch %d, %d timed steps after "
           "warm-up\n",
           r->device_label, r->device.name, r->device.type, r->device.platform,
           r->device.c_version, r->device.driver_version[0]
                                    ? r->device.driver_version
                                    : "-",
           r->batch, r->steps);
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
    printf("training:  %.0f images/s (%.2f ms per step; %.1f%% of it outside "
           "kernels: transfers, launches, host work; %.1f%% waiting for "
           "data)\n",
           r->train_images_per_second, r->step_ms, 100 * r->outside_kernels,
           100 * r->data_wait);
    printf("inference: %.0f images/s\n", r->infer_images_per_second);
}

static void write_json(FILE *f, const clnet_bench_result *r, int comma)
{
    fprintf(f, "  {\"device\": {");
    cli_json_field(f, "label", r->device_label, 1);
    cli_json_field(f, "name", r->device.name, 1);
    cli_json_field(f, "type", r->device.type, 1);
    cli_json_field(f, "vendor", r->device.vendor, 1);
    cli_json_field(f, "platform", r->device.platform, 1);
    cli_json_field(f, "driver", r->device.driver_version, 1);
    cli_json_field(f, "opencl_c", r->device.c_version, 0);
    fprintf(f, "},\n   \"batch\": %d, \"steps\": %d, \"loss_ms\": %.6g, "
               "\"update_ms\": %.6g, \"step_ms\": %.6g,\n"
               "   \"train_images_per_second\": %.6g, "
               "\"infer_images_per_second\": %.6g, \"outside_kernels\": %.4f,\n"
               "   \"data_wait\": %.4f, \"layers\": [\n",
            r->batch, r->steps, r->loss_ms, r->update_ms, r->step_ms,
            r->train_images_per_second, r->infer_images_per_second,
            r->outside_kernels, r->data_wait);
    for (int i = 0; i < r->nlayers; i++) {
        const clnet_layer_timing *t = &r->layers[i];
        fprintf(f, "    {");
        cli_json_field(f, "name", t->name, 1);
        cli_json_field(f, "kind", t->kind, 1);
        cli_json_field(f, "backend", t->backend, 1);
        cli_json_field(f, "impl", t->impl, 1);
        fprintf(f, "\"forward_ms\": %.6g, \"backward_ms\": %.6g, "
                   "\"forward_gflops\": %.6g, \"backward_gflops\": %.6g}%s\n",
                t->forward_ms, t->backward_ms, t->forward_gflops,
                t->backward_gflops, i + 1 < r->nlayers ? "," : "");
    }
    fprintf(f, "   ]}%s\n", comma ? "," : "");
}

int cli_bench(const cli_options *o, cli_open_net_fn open_net, cli_fail_fn fail)
{
    clnet_error e = {0};
    clnet_registry *r = clnet_registry_open(&e);
    if (!r)
        return fail(&e);
    /* the devices to run on */
    char labels[65][24];
    int n = 0;
    if (o->device && !strcmp(o->device, "all")) {
        snprintf(labels[n++], sizeof labels[0], "cpu");
        clnet_device_info d[64];
        for (int p = 0; p < clnet_registry_count(r); p++) {
            const clnet_plugin *q = clnet_registry_get(r, p, NULL);
            if (q->role != CLNET_ROLE_DEVICE)
                continue;
            int nd = clnet_devices(r, q->backend, d, 64, &e);
            for (int i = 0; i < nd && i < 64 && n < 65; i++)
                snprintf(labels[n++], sizeof labels[0], "%s:%d", q->backend,
                         i);
        }
    } else {
        snprintf(labels[n++], sizeof labels[0], "%s",
                 o->device ? o->device : "cpu");
    }
    clnet_registry_free(r);
    FILE *json = NULL;
    if (o->json && !(json = fopen(o->json, "w"))) {
        fprintf(stderr, "clnet: cannot write %s\n", o->json);
        return EXIT_INPUT;
    }
    if (json) {
        char date[32];
        time_t now = time(NULL);
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
        fputs("{\"network\": ", json);
        cli_json_string(json, o->net);
        fprintf(json, ", \"date\": \"%s\", \"results\": [\n", date);
    }
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        cli_options od = *o;
        od.device = labels[i];
        clnet_registry *reg = NULL;
        clnet_net *net = open_net(&od, o->batch, &reg, &e);
        clnet_bench_result res;
        if (!net || clnet_bench(net, o->steps ? o->steps : 20, &res, &e)) {
            rc = fail(&e);
        } else {
            print_table(&res);
            if (json)
                write_json(json, &res, i + 1 < n);
            clnet_bench_free(&res);
        }
        clnet_net_free(net);
        clnet_registry_free(reg);
    }
    if (json) {
        fprintf(json, "]}\n");
        if (fclose(json) != 0 && !rc) {
            fprintf(stderr, "clnet: cannot write %s\n", o->json);
            rc = EXIT_RUNTIME;
        }
    }
    return rc;
}
