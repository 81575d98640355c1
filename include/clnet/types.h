/* The few types both faces of clnet share: the public API (clnet.h) and
 * the plugin ABI (plugin.h). A program that only uses the library sees
 * these and clnet.h, never the plugin ABI. */
#ifndef CLNET_TYPES_H
#define CLNET_TYPES_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Room for an error message, with its terminating NUL. */
#define CLNET_ERRLEN 512

/* Per-sample shape; n is the batch dimension where a count is meant. */
typedef struct {
    int32_t h, w, c;
} clnet_shape;

/* One device a backend can run on, as `clnet devices` lists it. */
typedef struct {
    char name[128], vendor[128], platform[128], type[16];
    char driver_version[64], c_version[64];
    int32_t compute_units;
    uint64_t global_mem, local_mem, max_alloc, max_work_group;
    uint64_t base_align; /* bytes a view's offset must be a multiple of */
} clnet_device_info;

#ifdef __cplusplus
}
#endif
#endif
