/* The native CPU backend's memory, behind the same functions a device
 * plugin provides, so the core moves data one way for every backend. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net.h"

/* The vector instructions the native backend was compiled for (the
 * build's -march: `native` by default), as its "driver": the plugins are
 * built with the same flags as this file. */
#if defined(__AVX512F__)
#define HOST_ISA "AVX-512"
#elif defined(__AVX2__) && defined(__FMA__)
#define HOST_ISA "AVX2+FMA"
#elif defined(__AVX__)
#define HOST_ISA "AVX"
#elif defined(__SSE2__)
#define HOST_ISA "SSE2"
#elif defined(__ARM_NEON)
#define HOST_ISA "NEON"
#else
#define HOST_ISA "scalar"
#endif

/* `key`'s value on a /proc/cpuinfo line ("key\t: value"), or NULL. */
static const char *cpuinfo_value(const char *line, const char *key)
{
    size_t n = strlen(key);
    if (strncmp(line, key, n) || (line[n] != ' ' && line[n] != '\t' &&
                                  line[n] != ':'))
        return NULL;
    const char *colon = strchr(line, ':');
    return colon ? colon + 1 + (colon[1] == ' ') : NULL;
}

static void copy_value(char *dst, size_t len, const char *v)
{
    snprintf(dst, len, "%s", v);
    dst[strcspn(dst, "\n")] = '\0';
}

static int host_list(clnet_device_info *out, int32_t max, char *err)
{
    (void)err;
    if (max < 1)
        return 1;
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "unknown processor");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        int named = 0, vendor = 0;
        const char *v;
        /* the first processor's lines; x86 and ARM words */
        while ((!named || !vendor) && fgets(line, sizeof line, f)) {
            if (!named && ((v = cpuinfo_value(line, "model name")) ||
                           (v = cpuinfo_value(line, "Model")))) {
                copy_value(out->name, sizeof out->name, v);
                named = 1;
            } else if (!vendor && ((v = cpuinfo_value(line, "vendor_id")) ||
                                   (v = cpuinfo_value(line,
                                                      "CPU implementer")))) {
                copy_value(out->vendor, sizeof out->vendor, v);
                vendor = 1;
            }
        }
        fclose(f);
    }
    snprintf(out->type, sizeof out->type, "CPU");
    snprintf(out->platform, sizeof out->platform, "native");
    snprintf(out->driver_version, sizeof out->driver_version,
             "native, %s", HOST_ISA);
    out->compute_units = (int32_t)sysconf(_SC_NPROCESSORS_ONLN);
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psize > 0)
        out->global_mem = out->max_alloc = (uint64_t)pages * (uint64_t)psize;
    out->base_align = 64; /* a cache line: views start on one */
    return 1;
}

static int host_open(int32_t index, void **ctx, char *err)
{
    if (index != 0) {
        snprintf(err, CLNET_ERRLEN, "the native CPU backend has one device, "
                 "cpu (index 0)");
        return -1;
    }
    *ctx = NULL;
    return 0;
}

static void host_close(void *ctx) { (void)ctx; }

static int host_alloc(void *ctx, size_t bytes, void **buf, char *err)
{
    (void)ctx;
    *buf = clnet_alloc(bytes);
    if (!*buf) {
        snprintf(err, CLNET_ERRLEN, "out of memory allocating %zu bytes",
                 bytes);
        return -1;
    }
    return 0;
}

static void host_release(void *ctx, void *buf)
{
    (void)ctx;
    clnet_free(buf);
}

static int host_write(void *ctx, void *buf, const void *src, size_t bytes,
                      char *err)
{
    (void)ctx;
    (void)err;
    if (buf != src)
        memcpy(buf, src, bytes);
    return 0;
}

static int host_read(void *ctx, const void *buf, void *dst, size_t bytes,
                     char *err)
{
    (void)ctx;
    (void)err;
    if (buf != dst)
        memcpy(dst, buf, bytes);
    return 0;
}

/* The CPU's work is done when a plugin call returns, and the runtime
 * times plugin calls itself, so there is nothing to wait for or record. */
static int host_finish(void *ctx, char *err)
{
    (void)ctx;
    (void)err;
    return 0;
}

static void host_profile(void *ctx, int on)
{
    (void)ctx;
    (void)on;
}

static double host_kernel_seconds(void *ctx)
{
    (void)ctx;
    return 0.0;
}

static int host_accumulate(void *ctx, void *dst, const void *src,
                           size_t count, char *err)
{
    (void)ctx;
    (void)err;
    float *d = dst;
    const float *s = src;
    for (size_t i = 0; i < count; i++)
        d[i] += s[i];
    return 0;
}

/* In double, in order: the same figure for the same gradients. */
static int host_sum_squares(void *ctx, const void *buf, size_t count,
                            double *out, char *err)
{
    (void)ctx;
    (void)err;
    const float *x = buf;
    double s = 0;
    for (size_t i = 0; i < count; i++)
        s += (double)x[i] * x[i];
    *out = s;
    return 0;
}

static int host_scale(void *ctx, void *buf, size_t count, float factor,
                      char *err)
{
    (void)ctx;
    (void)err;
    float *x = buf;
    for (size_t i = 0; i < count; i++)
        x[i] *= factor;
    return 0;
}

/* A view of host memory is a pointer into it, with nothing to give
 * back. */
static int host_view(void *ctx, void *buf, size_t offset, size_t bytes,
                     void **out, char *err)
{
    (void)ctx;
    (void)bytes;
    (void)err;
    *out = (char *)buf + offset;
    return 0;
}

static void host_release_view(void *ctx, void *view)
{
    (void)ctx;
    (void)view;
}

const clnet_device_ops *clnet_host_device_ops(void)
{
    static const clnet_device_ops ops = {
        host_list,       host_open,        host_close,  host_alloc,
        host_release,    host_write,       host_read,   host_finish,
        host_profile,    host_kernel_seconds, host_accumulate,
        host_sum_squares, host_scale,      host_view,   host_release_view};
    return &ops;
}
