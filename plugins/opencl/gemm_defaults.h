/* The GEMM parameter set each OpenCL plugin takes when `clnet tune` has
 * cached none for the layer: per vendor and device type, first match
 * wins (as CLBlast's database, on a small scale). Measured on PoCL's CPU
 * device (BENCHMARKS.md: vec4x4 311-324 GFLOP/s against vec8x2's 282;
 * tiles32x8 14.2 against tiles16x4's 8.9); the GPU rows keep the 16 x 16
 * tiles until a GPU measurement says otherwise. */
#ifndef CLNET_GEMM_DEFAULTS_H
#define CLNET_GEMM_DEFAULTS_H

typedef struct {
    const char *vendor; /* a substring of CL_DEVICE_VENDOR; "" any */
    int gpu;            /* 1: GPUs, 0: other devices */
    int vec;            /* the family the row is for */
    const char *tuning;
} ocl_gemm_default;

static const ocl_gemm_default ocl_gemm_defaults[] = {
    {"NVIDIA", 1, 0, "tiles16x4"}, {"NVIDIA", 1, 1, "vec4x4"},
    {"", 1, 0, "tiles16x4"},       {"", 1, 1, "vec4x4"},
    {"", 0, 0, "tiles32x8"},       {"", 0, 1, "vec4x4"},
};

#endif
