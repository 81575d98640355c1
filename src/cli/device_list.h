/* The devices a command runs on (--device D, or all) and how the tool
 * writes one device in JSON: shared by bench and check. */
#ifndef CLNET_CLI_DEVICE_LIST_H
#define CLNET_CLI_DEVICE_LIST_H

#include <stdio.h>

#include "clnet/clnet.h"

#define CLI_MAX_DEVICES 65
typedef char cli_device_label[24];

/* device "all": cpu, then every device of every device plugin; else
 * device itself (NULL: cpu). Returns how many labels it wrote. */
int cli_device_labels(const clnet_registry *r, const char *device,
                      cli_device_label *labels);
/* "\"device\": {label, name, type, vendor, platform, driver, opencl_c,
 * compute_units, global_mem}" */
void cli_json_device(FILE *f, const char *label, const clnet_device_info *d);

#endif
