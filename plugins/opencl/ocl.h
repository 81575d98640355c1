/* What the OpenCL device plugin shares with the OpenCL layer plugins: the
 * open device (the `device` pointer in clnet_create_args) and the program
 * builder with its binary cache, so no layer plugin builds on its own. */
#ifndef CLNET_OCL_H
#define CLNET_OCL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stddef.h>

#include "clnet/plugin.h"

typedef struct clnet_ocl clnet_ocl;

struct clnet_ocl {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue; /* in order */
    size_t max_work_group;
    int is_gpu;
    int32_t index; /* as `clnet devices` numbers it */
    cl_ulong local_mem, max_alloc;
    char device_name[128], vendor[128], driver_version[64],
        platform_version[128];
    /* Builds `source` with `options` (OpenCL C 1.2), from the binary cache
     * when it holds a build for this device, driver, platform, source and
     * options; writes the build log into err when the build fails. */
    int (*build)(clnet_ocl *o, const char *source, const char *options,
                 cl_program *out, char *err);
    /* Profiling (clnet bench): while `profiling`, every launch through
     * ocl_common keeps its event here until the device plugin adds up the
     * kernel time. */
    int profiling;
    cl_event *events;
    size_t nevents, cap_events;
    /* the device plugin's own kernels (cl/tensor.cl), built on first use */
    cl_program tensor_prog;
    cl_kernel tensor_k[3];
    cl_mem partials; /* sum_squares's per-group sums */
    size_t base_align; /* CL_DEVICE_MEM_BASE_ADDR_ALIGN, in bytes */
};

#endif
