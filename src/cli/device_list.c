/* The devices a command runs on, and one device in JSON (bench, check). */
#define _POSIX_C_SOURCE 200809L
#include "device_list.h"

#include <string.h>

#include "json.h"

int cli_device_labels(const clnet_registry *r, const char *device,
                      cli_device_label *labels)
{
    int n = 0;
    if (!device || strcmp(device, "all")) {
        snprintf(labels[n++], sizeof labels[0], "%s", device ? device : "cpu");
        return n;
    }
    snprintf(labels[n++], sizeof labels[0], "cpu");
    clnet_device_info d[64];
    for (int p = 0; p < clnet_registry_count(r); p++) {
        clnet_plugin_info q;
        if (clnet_registry_info(r, p, &q, NULL) || strcmp(q.role, "device"))
            continue;
        int nd = clnet_devices(r, q.backend, d, 64, NULL);
        for (int i = 0; i < nd && i < 64 && n < CLI_MAX_DEVICES; i++)
            snprintf(labels[n++], sizeof labels[0], "%.16s:%d", q.backend, i);
    }
    return n;
}

void cli_json_device(FILE *f, const char *label, const clnet_device_info *d)
{
    fprintf(f, "\"device\": {");
    cli_json_field(f, "label", label, 1);
    cli_json_field(f, "name", d->name, 1);
    cli_json_field(f, "type", d->type, 1);
    cli_json_field(f, "vendor", d->vendor, 1);
    cli_json_field(f, "platform", d->platform, 1);
    cli_json_field(f, "driver", d->driver_version, 1);
    cli_json_field(f, "opencl_c", d->c_version, 1);
    fprintf(f, "\"compute_units\": %d, \"global_mem\": %llu}", d->compute_units,
            (unsigned long long)d->global_mem);
}
