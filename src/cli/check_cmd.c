/* `clnet check [--device D|all] [--json FILE] [--small]`: runs clnet_check
 * on each chosen device and prints, per implementation, its cases, the
 * worst relative error and pass or fail, under the device's name, driver
 * and OpenCL version; exits 1 when anything failed. --json writes the
 * same for tools/bench-report's compatibility matrix. */
#define _POSIX_C_SOURCE 200809L
#include "check_cmd.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clnet/clnet.h"
#include "device_list.h"
#include "json.h"

static void print_result(const clnet_check_result *r)
{
    printf("\n%s  %s [%s], %s, driver %s%s%s\n", r->device_label,
           r->device.name, r->device.type,
           r->device.platform[0] ? r->device.platform : "native",
           r->device.driver_version[0] ? r->device.driver_version : "-",
           r->device.c_version[0] ? ", " : "", r->device.c_version);
    int w = 14;
    for (int i = 0; i < r->nentries; i++) {
        int n = (int)strlen(r->entries[i].impl);
        w = n > w ? n : w;
    }
    printf("%-*s %5s %11s  %s\n", w, "IMPLEMENTATION", "CASES",
           "WORST ERROR", "RESULT");
    for (int i = 0; i < r->nentries; i++) {
        const clnet_check_entry *x = &r->entries[i];
        char err[32];
        if (isfinite(x->worst))
            snprintf(err, sizeof err, "%.2e", x->worst);
        else
            snprintf(err, sizeof err, "failed");
        printf("%-*s %5d %11s  %s", w, x->impl, x->cases, err,
               x->failed ? "FAIL" : "pass");
        if (x->failed)
            printf(" (%d of %d cases; worst: %s)", x->failed, x->cases,
                   x->worst_case);
        printf("\n");
    }
    printf("%d implementation%s, %d failed (relative error above %g)\n",
           r->nentries, r->nentries == 1 ? "" : "s", r->failed, r->tolerance);
}

/* One result; after the first a comma goes before it, so that a device
 * that fails later leaves valid JSON. */
static void write_json(FILE *f, const clnet_check_result *r, int first)
{
    fprintf(f, "%s  {", first ? "" : ",\n");
    cli_json_device(f, r->device_label, &r->device);
    fprintf(f, ",\n   \"tolerance\": %g, \"failed\": %d, \"implementations\": "
               "[\n",
            r->tolerance, r->failed);
    for (int i = 0; i < r->nentries; i++) {
        const clnet_check_entry *x = &r->entries[i];
        fprintf(f, "    {");
        cli_json_field(f, "impl", x->impl, 1);
        fprintf(f, "\"cases\": %d, \"failed\": %d, \"worst_error\": ",
                x->cases, x->failed);
        if (isfinite(x->worst))
            fprintf(f, "%.6g, ", x->worst);
        else
            fprintf(f, "null, ");
        cli_json_field(f, "worst_case", x->worst_case, 1);
        fprintf(f, "\"pass\": %s}%s\n", x->failed ? "false" : "true",
                i + 1 < r->nentries ? "," : "");
    }
    fprintf(f, "   ]}");
}

int cli_check(const cli_options *o)
{
    clnet_error e = {0};
    clnet_registry *r = clnet_registry_open(&e);
    if (!r) {
        fprintf(stderr, "clnet: %s\n", e.msg);
        return clnet_status_is_input(e.status) ? EXIT_INPUT : EXIT_RUNTIME;
    }
    cli_device_label labels[CLI_MAX_DEVICES];
    int n = cli_device_labels(r, o->device, labels);
    FILE *json = NULL;
    if (o->json && !(json = fopen(o->json, "w"))) {
        fprintf(stderr, "clnet: %s: cannot write\n", o->json);
        clnet_registry_free(r);
        return EXIT_INPUT;
    }
    if (json) {
        char host[256] = "";
        gethostname(host, sizeof host - 1);
        fprintf(json, "{\"clnet\": \"%s\", \"host\": ", clnet_version());
        cli_json_string(json, host);
        fprintf(json, ", \"results\": [\n");
    }
    int rc = 0, failed = 0;
    for (int i = 0; i < n && !rc; i++) {
        clnet_check_result res;
        if (clnet_check(r, labels[i], o->small, isatty(fileno(stderr))
                                                    ? stderr
                                                    : NULL,
                        &res, &e)) {
            fprintf(stderr, "clnet: %s: %s\n", labels[i], e.msg);
            rc = clnet_status_is_input(e.status) ? EXIT_INPUT : EXIT_RUNTIME;
            break;
        }
        print_result(&res);
        if (json)
            write_json(json, &res, i == 0);
        failed += res.failed;
        clnet_check_free(&res);
    }
    if (json) {
        fprintf(json, "\n]}\n");
        if (fclose(json) != 0 && !rc) {
            fprintf(stderr, "clnet: %s: cannot write\n", o->json);
            rc = EXIT_RUNTIME;
        }
    }
    clnet_registry_free(r);
    return rc ? rc : failed ? EXIT_RUNTIME : 0;
}
