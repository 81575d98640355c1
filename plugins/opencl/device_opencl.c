/* The OpenCL backend's device plugin: finds platforms and devices through
 * the ICD loader, opens one device (context and in-order queue), owns its
 * buffers, and builds programs with an on-disk binary cache keyed by
 * device, driver, platform, source and options (CLNET_CACHE_DIR, default
 * ~/.cache/clnet), each entry checksummed and written through a synced
 * temporary file and a rename. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ocl.h"
#include "ocl_common.h"
#include "tensor_cl.h"

#define MAX_PLATFORMS 16
#define MAX_DEVICES 64

/* Every device of every platform, in platform order. */
static int enumerate(cl_platform_id *plat_of, cl_device_id *devs, int max)
{
    cl_platform_id plats[MAX_PLATFORMS];
    cl_uint np = 0;
    if (clGetPlatformIDs(MAX_PLATFORMS, plats, &np) != CL_SUCCESS)
        return 0; /* no ICD or no platform: no devices, not an error */
    int n = 0;
    for (cl_uint p = 0; p < np && p < MAX_PLATFORMS; p++) {
        cl_device_id d[MAX_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, d, &nd) !=
            CL_SUCCESS)
            continue;
        for (cl_uint i = 0; i < nd && i < MAX_DEVICES && n < max; i++) {
            plat_of[n] = plats[p];
            devs[n++] = d[i];
        }
    }
    return n;
}

static void info_str(cl_device_id d, cl_device_info what, char *out, size_t n)
{
    out[0] = '\0';
    if (clGetDeviceInfo(d, what, n, out, NULL) != CL_SUCCESS)
        out[0] = '\0';
    out[n - 1] = '\0';
}

/* CL_DEVICE_MEM_BASE_ADDR_ALIGN in bytes (the device gives bits): a
 * sub-buffer's origin must be a multiple of it. */
static size_t base_align(cl_device_id dev)
{
    cl_uint bits = 0;
    clGetDeviceInfo(dev, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof bits, &bits,
                    NULL);
    return bits >= 8 ? bits / 8 : 128;
}

static int list(clnet_device_info *out, int32_t max, char *err)
{
    (void)err;
    cl_platform_id plat[MAX_DEVICES];
    cl_device_id devs[MAX_DEVICES];
    int n = enumerate(plat, devs, MAX_DEVICES);
    for (int i = 0; i < n && i < max; i++) {
        clnet_device_info *d = &out[i];
        memset(d, 0, sizeof *d);
        info_str(devs[i], CL_DEVICE_NAME, d->name, sizeof d->name);
        info_str(devs[i], CL_DEVICE_VENDOR, d->vendor, sizeof d->vendor);
        info_str(devs[i], CL_DRIVER_VERSION, d->driver_version,
                 sizeof d->driver_version);
        info_str(devs[i], CL_DEVICE_OPENCL_C_VERSION, d->c_version,
                 sizeof d->c_version);
        clGetPlatformInfo(plat[i], CL_PLATFORM_NAME, sizeof d->platform,
                          d->platform, NULL);
        d->platform[sizeof d->platform - 1] = '\0';
        cl_device_type type = 0;
        clGetDeviceInfo(devs[i], CL_DEVICE_TYPE, sizeof type, &type, NULL);
        snprintf(d->type, sizeof d->type, "%s",
                 type & CL_DEVICE_TYPE_GPU ? "GPU"
                 : type & CL_DEVICE_TYPE_CPU ? "CPU"
                 : type & CL_DEVICE_TYPE_ACCELERATOR ? "ACCELERATOR"
                                                     : "OTHER");
        cl_uint cu = 0;
        clGetDeviceInfo(devs[i], CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu,
                        NULL);
        d->compute_units = (int32_t)cu;
        cl_ulong v = 0;
        clGetDeviceInfo(devs[i], CL_DEVICE_GLOBAL_MEM_SIZE, sizeof v, &v, NULL);
        d->global_mem = v;
        clGetDeviceInfo(devs[i], CL_DEVICE_LOCAL_MEM_SIZE, sizeof v, &v, NULL);
        d->local_mem = v;
        clGetDeviceInfo(devs[i], CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof v, &v,
                        NULL);
        d->max_alloc = v;
        size_t wg = 0;
        clGetDeviceInfo(devs[i], CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg,
                        NULL);
        d->max_work_group = wg;
        d->base_align = base_align(devs[i]);
    }
    return n;
}

/* ---- the program cache ---- */

/* An entry is this header, the key text, then the runtime's binary. The
 * key is compared in full and the binary against its checksum before the
 * runtime sees it: PoCL crashes on a damaged binary instead of refusing
 * it, and its binaries are native code, so only files that no one but
 * this user can have written are used. */
#define CACHE_MAGIC "clnetKC\n"
#define CACHE_VERSION 1u
#define CACHE_MAX_BYTES (1u << 30)

typedef struct {
    char magic[8];
    uint32_t version, key_len;
    uint64_t bin_len, bin_sum;
} cache_header;

/* Each kind of complaint once per process: a loose folder would
 * otherwise be reported for every program built. */
enum { WARN_DIR, WARN_ENTRY, WARN_DAMAGED, WARN_WRITE, WARN_KINDS };

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void warn_once(int kind, const char *fmt, ...)
{
    static int warned[WARN_KINDS];
    if (warned[kind])
        return;
    warned[kind] = 1;
    va_list ap;
    va_start(ap, fmt);
    fputs("clnet: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Why a file or folder may hold nothing this process runs: NULL when it
 * is owned by the effective user and writable by no one else. */
static const char *loose(const struct stat *st, char *why, size_t n)
{
    if (st->st_uid != geteuid()) {
        snprintf(why, n, "it belongs to uid %u, not to this process's "
                 "uid %u", (unsigned)st->st_uid, (unsigned)geteuid());
        return why;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(why, n, "it is writable by %s (mode %03o)",
                 st->st_mode & S_IWOTH ? "others" : "its group",
                 (unsigned)(st->st_mode & 0777));
        return why;
    }
    return NULL;
}

static int cache_dir(char *out, size_t n)
{
    const char *dir = getenv("CLNET_CACHE_DIR");
    if (dir && *dir) {
        snprintf(out, n, "%s", dir);
    } else {
        const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        if (xdg && *xdg)
            snprintf(out, n, "%s/clnet", xdg);
        else if (home && *home)
            snprintf(out, n, "%s/.cache/clnet", home);
        else
            return -1;
    }
    /* mkdir -p; folders made here are private */
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", out);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0700);
            *p = '/';
        }
    mkdir(tmp, 0700);
    struct stat st;
    char why[96];
    if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode))
        return -1;
    if (loose(&st, why, sizeof why)) {
        warn_once(WARN_DIR,
                  "not using the kernel cache folder %s: %s, and the "
                  "OpenCL runtime may load the native code it holds; run "
                  "`chmod go-w %s` (as its owner) or set CLNET_CACHE_DIR "
                  "to a folder of your own",
                  out, why, out);
        return -1;
    }
    return access(out, W_OK) == 0 ? 0 : -1;
}

/* Options that reach the compiler without passing through clnet's
 * clBuildProgram call: oclgrind appends its --build-options (handed to
 * its runtime as this variable) inside clBuildProgram, and a binary
 * built without them would otherwise be reused with them. */
static const char *const runtime_option_vars[] = {"OCLGRIND_BUILD_OPTIONS",
                                                  NULL};

/* The text that names a build: everything that changes the binary. */
static void cache_key(const clnet_ocl *o, const char *opts,
                      const char *source, char *key, size_t n)
{
    size_t len = strlen(source);
    int used = snprintf(key, n,
                        "device=%s\ndriver=%s\nplatform=%s\noptions=%s\n"
                        "source=%zu bytes, fnv1a %016llx\n",
                        o->device_name, o->driver_version,
                        o->platform_version, opts, len,
                        (unsigned long long)ocl_fnv1a(OCL_FNV_OFFSET, source,
                                                      len));
    for (int i = 0; runtime_option_vars[i] && used > 0 && (size_t)used < n;
         i++) {
        const char *v = getenv(runtime_option_vars[i]);
        if (v && *v)
            used += snprintf(key + used, n - (size_t)used, "%s=%s\n",
                             runtime_option_vars[i], v);
    }
}

static int build_program(cl_program prog, cl_device_id dev, const char *opts,
                         char *err)
{
    cl_int rc = clBuildProgram(prog, 1, &dev, opts, NULL, NULL);
    if (rc == CL_SUCCESS)
        return 0;
    size_t len = 0;
    clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &len);
    char *log = malloc(len + 1);
    if (log) {
        log[0] = '\0';
        clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, len, log, NULL);
        log[len] = '\0';
    }
    snprintf(err, CLNET_ERRLEN, "the OpenCL build failed (%s); build log:\n%s",
             ocl_strerror(rc), log ? log : "(none)");
    free(log);
    return -1;
}

static int write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Written in full and synced under a temporary name, then renamed over
 * the entry, so a crash or a full disk leaves the old entry or none,
 * never part of one. */
static void save_binary(cl_program prog, const char *dir, const char *path,
                        const char *key)
{
    size_t size = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size,
                         NULL) != CL_SUCCESS || size == 0 ||
        size > CACHE_MAX_BYTES)
        return;
    unsigned char *bin = malloc(size);
    if (!bin)
        return;
    unsigned char *bins[1] = {bin};
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) !=
        CL_SUCCESS) {
        free(bin);
        return;
    }
    cache_header h;
    memcpy(h.magic, CACHE_MAGIC, sizeof h.magic);
    h.version = CACHE_VERSION;
    h.key_len = (uint32_t)strlen(key);
    h.bin_len = size;
    h.bin_sum = ocl_fnv1a(OCL_FNV_OFFSET, bin, size);
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp); /* mode 0600 */
    int ok = fd >= 0;
    if (ok) {
        ok = write_all(fd, &h, sizeof h) == 0 &&
             write_all(fd, key, h.key_len) == 0 &&
             write_all(fd, bin, size) == 0 && fsync(fd) == 0;
        ok &= close(fd) == 0;
        ok = ok && rename(tmp, path) == 0;
        if (!ok)
            unlink(tmp);
    }
    if (ok) {
        /* the rename itself reaches the disk with the folder */
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    } else {
        warn_once(WARN_WRITE, "cannot write the kernel cache entry %s: %s",
                  path, strerror(errno));
    }
    free(bin);
}

static int read_all(int fd, unsigned char *buf, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, buf, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        buf += r;
        n -= (size_t)r;
    }
    return 0;
}

/* The entry's binary when the file is trustworthy and intact and holds
 * this key; else NULL (after a warning when it is loose or damaged), and
 * the caller builds from source and replaces it. */
static unsigned char *read_entry(const char *path, const char *key,
                                 size_t *bin_len, unsigned char **file)
{
    *file = NULL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL; /* absent, or a symbolic link */
    struct stat st;
    char why[96];
    const char *bad = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        bad = "it is not a regular file";
    else
        bad = loose(&st, why, sizeof why);
    if (bad) {
        warn_once(WARN_ENTRY,
                  "ignoring the kernel cache entry %s: %s, and the OpenCL "
                  "runtime may load the native code it holds; it is "
                  "rebuilt and rewritten private to you (run `chmod -R "
                  "go-w` on the cache folder if other entries are loose "
                  "too)",
                  path, bad);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size, klen = strlen(key);
    unsigned char *buf = NULL;
    cache_header h;
    if (st.st_size < (off_t)sizeof h || st.st_size > (off_t)CACHE_MAX_BYTES ||
        !(buf = malloc(size)) || read_all(fd, buf, size) != 0)
        bad = "shorter than its header, or unreadable";
    close(fd);
    if (!bad) {
        memcpy(&h, buf, sizeof h);
        if (memcmp(h.magic, CACHE_MAGIC, sizeof h.magic) != 0)
            bad = "no clnet cache header";
        else if (h.version != CACHE_VERSION || h.key_len != klen ||
                 memcmp(buf + sizeof h, key, klen) != 0) {
            /* another clnet's format, or another build under the same
             * name: not damage, just not this entry */
            free(buf);
            return NULL;
        } else if (h.bin_len != size - sizeof h - klen)
            bad = "its length does not match its header: truncated?";
        else if (h.bin_len == 0 ||
                 ocl_fnv1a(OCL_FNV_OFFSET, buf + sizeof h + klen,
                           h.bin_len) != h.bin_sum)
            bad = "its checksum does not match";
    }
    if (bad) {
        warn_once(WARN_DAMAGED,
                  "the kernel cache entry %s is damaged (%s); rebuilding it",
                  path, bad);
        free(buf);
        return NULL;
    }
    *file = buf;
    *bin_len = h.bin_len;
    return buf + sizeof h + klen;
}

static cl_program load_binary(clnet_ocl *o, const char *path, const char *key,
                              const char *opts)
{
    unsigned char *file;
    size_t len = 0;
    const unsigned char *bin = read_entry(path, key, &len, &file);
    if (!bin)
        return NULL;
    const unsigned char *bins[1] = {bin};
    cl_int status, rc;
    cl_program prog = clCreateProgramWithBinary(o->context, 1, &o->device,
                                                &len, bins, &status, &rc);
    char err[CLNET_ERRLEN];
    if (rc != CL_SUCCESS || status != CL_SUCCESS ||
        build_program(prog, o->device, opts, err)) {
        /* refused by the runtime (a driver update it cannot tell from
         * the version string): the caller builds from source and
         * overwrites it */
        if (prog)
            clReleaseProgram(prog);
        prog = NULL;
    }
    free(file);
    return prog;
}

static int ocl_build(clnet_ocl *o, const char *source, const char *options,
                     cl_program *out, char *err)
{
    /* CLNET_CL_BUILD_OPTIONS: extra options for every program, e.g.
     * -cl-opt-disable for oclgrind's uninitialised-value checker;
     * CLNET_CL_BUILD_OPTIONS_N for device N alone (the configuration
     * file's `opencl device=N build_options=...`) */
    const char *extra = getenv("CLNET_CL_BUILD_OPTIONS");
    char mine_name[48];
    snprintf(mine_name, sizeof mine_name, "CLNET_CL_BUILD_OPTIONS_%d",
             (int)o->index);
    const char *mine = getenv(mine_name);
    char opts[1024];
    snprintf(opts, sizeof opts, "-cl-std=CL1.2 %s%s%s%s%s",
             options ? options : "", extra && *extra ? " " : "",
             extra && *extra ? extra : "", mine && *mine ? " " : "",
             mine && *mine ? mine : "");
    char key[4096];
    cache_key(o, opts, source, key, sizeof key);
    char dir[1024], path[1100];
    int cached = cache_dir(dir, sizeof dir) == 0;
    if (cached) {
        snprintf(path, sizeof path, "%s/%016llx.bin", dir,
                 (unsigned long long)ocl_fnv1a(OCL_FNV_OFFSET, key,
                                               strlen(key)));
        if ((*out = load_binary(o, path, key, opts)))
            return 0;
    }
    cl_int rc;
    cl_program prog =
        clCreateProgramWithSource(o->context, 1, &source, NULL, &rc);
    if (rc != CL_SUCCESS) {
        snprintf(err, CLNET_ERRLEN, "clCreateProgramWithSource: %s",
                 ocl_strerror(rc));
        return -1;
    }
    if (build_program(prog, o->device, opts, err)) {
        clReleaseProgram(prog);
        return -1;
    }
    if (cached)
        save_binary(prog, dir, path, key);
    *out = prog;
    return 0;
}

/* ---- device and memory ---- */


static int open_device(int32_t index, void **ctx, char *err)
{
    cl_platform_id plat[MAX_DEVICES];
    cl_device_id devs[MAX_DEVICES];
    int n = enumerate(plat, devs, MAX_DEVICES);
    if (index < 0 || index >= n) {
        snprintf(err, CLNET_ERRLEN, "there is no OpenCL device %d (%d found)",
                 index, n);
        return -1;
    }
    clnet_ocl *o = calloc(1, sizeof *o);
    if (!o) {
        snprintf(err, CLNET_ERRLEN, "out of memory");
        return -1;
    }
    o->platform = plat[index];
    o->device = devs[index];
    o->index = index;
    o->build = ocl_build;
    info_str(o->device, CL_DEVICE_NAME, o->device_name, sizeof o->device_name);
    info_str(o->device, CL_DEVICE_VENDOR, o->vendor, sizeof o->vendor);
    info_str(o->device, CL_DRIVER_VERSION, o->driver_version,
             sizeof o->driver_version);
    clGetPlatformInfo(o->platform, CL_PLATFORM_VERSION,
                      sizeof o->platform_version, o->platform_version, NULL);
    o->platform_version[sizeof o->platform_version - 1] = '\0';
    clGetDeviceInfo(o->device, CL_DEVICE_MAX_WORK_GROUP_SIZE,
                    sizeof o->max_work_group, &o->max_work_group, NULL);
    clGetDeviceInfo(o->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof o->local_mem,
                    &o->local_mem, NULL);
    clGetDeviceInfo(o->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE,
                    sizeof o->max_alloc, &o->max_alloc, NULL);
    o->base_align = base_align(o->device);
    cl_device_type type = 0;
    clGetDeviceInfo(o->device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    o->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM,
                                     (cl_context_properties)o->platform, 0};
    cl_int rc;
    o->context = clCreateContext(props, 1, &o->device, NULL, NULL, &rc);
    if (rc == CL_SUCCESS)
        o->queue = clCreateCommandQueue(o->context, o->device,
                                        CL_QUEUE_PROFILING_ENABLE, &rc);
    if (rc != CL_SUCCESS) {
        snprintf(err, CLNET_ERRLEN, "cannot create a context and queue on %s: "
                 "%s", o->device_name, ocl_strerror(rc));
        if (o->context)
            clReleaseContext(o->context);
        free(o);
        return -1;
    }
    *ctx = o;
    return 0;
}

static void close_device(void *ctx)
{
    clnet_ocl *o = ctx;
    if (!o)
        return;
    clFinish(o->queue);
    for (int k = 0; k < 3; k++)
        if (o->tensor_k[k])
            clReleaseKernel(o->tensor_k[k]);
    if (o->tensor_prog)
        clReleaseProgram(o->tensor_prog);
    if (o->partials)
        clReleaseMemObject(o->partials);
    for (size_t i = 0; i < o->nevents; i++)
        clReleaseEvent(o->events[i]);
    free(o->events);
    clReleaseCommandQueue(o->queue);
    clReleaseContext(o->context);
    free(o);
}

static int alloc(void *ctx, size_t bytes, void **buf, char *err)
{
    cl_mem m = ocl_buffer(ctx, bytes, err);
    if (!m)
        return -1;
    *buf = m;
    return 0;
}

static void release(void *ctx, void *buf)
{
    (void)ctx;
    if (buf)
        clReleaseMemObject((cl_mem)buf);
}

static int write_buf(void *ctx, void *buf, const void *src, size_t bytes,
                     char *err)
{
    clnet_ocl *o = ctx;
    if (bytes == 0) /* OpenCL refuses an empty copy; there is nothing to do */
        return 0;
    cl_int rc = clEnqueueWriteBuffer(o->queue, (cl_mem)buf, CL_TRUE, 0, bytes,
                                     src, 0, NULL, NULL);
    if (rc != CL_SUCCESS) {
        snprintf(err, CLNET_ERRLEN, "clEnqueueWriteBuffer of %zu bytes: %s",
                 bytes, ocl_strerror(rc));
        return -1;
    }
    return 0;
}

static int read_buf(void *ctx, const void *buf, void *dst, size_t bytes,
                    char *err)
{
    clnet_ocl *o = ctx;
    if (bytes == 0)
        return 0;
    cl_int rc = clEnqueueReadBuffer(o->queue, (cl_mem)buf, CL_TRUE, 0, bytes,
                                    dst, 0, NULL, NULL);
    if (rc != CL_SUCCESS) {
        snprintf(err, CLNET_ERRLEN, "clEnqueueReadBuffer of %zu bytes: %s",
                 bytes, ocl_strerror(rc));
        return -1;
    }
    return 0;
}

static int finish(void *ctx, char *err)
{
    clnet_ocl *o = ctx;
    cl_int rc = clFinish(o->queue);
    if (rc != CL_SUCCESS) {
        snprintf(err, CLNET_ERRLEN, "clFinish: %s", ocl_strerror(rc));
        return -1;
    }
    return 0;
}

static void profile(void *ctx, int on)
{
    clnet_ocl *o = ctx;
    o->profiling = on;
}

static double kernel_seconds(void *ctx)
{
    clnet_ocl *o = ctx;
    clFinish(o->queue);
    double total = 0;
    for (size_t i = 0; i < o->nevents; i++) {
        cl_ulong start = 0, end = 0;
        if (clGetEventProfilingInfo(o->events[i], CL_PROFILING_COMMAND_START,
                                    sizeof start, &start, NULL) ==
                CL_SUCCESS &&
            clGetEventProfilingInfo(o->events[i], CL_PROFILING_COMMAND_END,
                                    sizeof end, &end, NULL) == CL_SUCCESS &&
            end > start)
            total += (double)(end - start) * 1e-9;
        clReleaseEvent(o->events[i]);
    }
    o->nevents = 0;
    return total;
}

/* ---- the core's arithmetic (cl/tensor.cl) ---- */

enum { K_ACCUMULATE, K_SCALE, K_SUMSQ };
#define SUMSQ_WG 256
#define SUMSQ_GROUPS 256

static int tensor_kernels(clnet_ocl *o, char *err)
{
    static const char *const names[] = {"accumulate", "scale", "sum_squares"};
    if (o->tensor_prog)
        return 0;
    cl_program prog;
    if (o->build(o, tensor_cl, "", &prog, err))
        return -1;
    cl_int rc = CL_SUCCESS;
    for (int k = 0; k < 3 && rc == CL_SUCCESS; k++)
        o->tensor_k[k] = clCreateKernel(prog, names[k], &rc);
    if (rc == CL_SUCCESS)
        o->partials = clCreateBuffer(o->context, CL_MEM_READ_WRITE,
                                     SUMSQ_GROUPS * sizeof(float), NULL, &rc);
    if (rc != CL_SUCCESS) {
        for (int k = 0; k < 3; k++)
            if (o->tensor_k[k])
                clReleaseKernel(o->tensor_k[k]);
        memset(o->tensor_k, 0, sizeof o->tensor_k);
        o->partials = NULL;
        clReleaseProgram(prog);
        snprintf(err, CLNET_ERRLEN, "cl/tensor.cl's kernels: %s",
                 ocl_strerror(rc));
        return -1;
    }
    o->tensor_prog = prog;
    return 0;
}

/* Runs kernel k over n items (rounded up to whole groups of `wg`; 0:
 * the driver's choice) after its arguments are set. */
static int run(clnet_ocl *o, cl_kernel k, size_t global, size_t wg,
               const char *what, char *err)
{
    cl_int rc = clEnqueueNDRangeKernel(o->queue, k, 1, NULL, &global,
                                       wg ? &wg : NULL, 0, NULL, NULL);
    if (rc != CL_SUCCESS) {
        snprintf(err, CLNET_ERRLEN, "%s: %s", what, ocl_strerror(rc));
        return -1;
    }
    return 0;
}

static int check_count(size_t count, char *err)
{
    if (count > (size_t)CLNET_MAX_ELEMENTS) {
        snprintf(err, CLNET_ERRLEN, "%zu values are more than a kernel "
                 "indexes", count);
        return -1;
    }
    return 0;
}

static int accumulate(void *ctx, void *dst, const void *src, size_t count,
                      char *err)
{
    clnet_ocl *o = ctx;
    if (!count)
        return 0;
    if (check_count(count, err) || tensor_kernels(o, err))
        return -1;
    cl_kernel k = o->tensor_k[K_ACCUMULATE];
    cl_mem d = dst, s = (cl_mem)src;
    int n = (int)count;
    clSetKernelArg(k, 0, sizeof d, &d);
    clSetKernelArg(k, 1, sizeof s, &s);
    clSetKernelArg(k, 2, sizeof n, &n);
    return run(o, k, (count + 255) / 256 * 256, 256, "accumulate", err);
}

static int scale(void *ctx, void *buf, size_t count, float factor, char *err)
{
    clnet_ocl *o = ctx;
    if (!count)
        return 0;
    if (check_count(count, err) || tensor_kernels(o, err))
        return -1;
    cl_kernel k = o->tensor_k[K_SCALE];
    cl_mem b = buf;
    int n = (int)count;
    clSetKernelArg(k, 0, sizeof b, &b);
    clSetKernelArg(k, 1, sizeof n, &n);
    clSetKernelArg(k, 2, sizeof factor, &factor);
    return run(o, k, (count + 255) / 256 * 256, 256, "scale", err);
}

static int sum_squares(void *ctx, const void *buf, size_t count, double *out,
                       char *err)
{
    clnet_ocl *o = ctx;
    *out = 0;
    if (!count)
        return 0;
    if (check_count(count, err) || tensor_kernels(o, err))
        return -1;
    cl_kernel k = o->tensor_k[K_SUMSQ];
    cl_mem b = (cl_mem)buf;
    int n = (int)count;
    size_t groups = (count + SUMSQ_WG - 1) / SUMSQ_WG;
    groups = groups > SUMSQ_GROUPS ? SUMSQ_GROUPS : groups;
    clSetKernelArg(k, 0, sizeof b, &b);
    clSetKernelArg(k, 1, sizeof n, &n);
    clSetKernelArg(k, 2, sizeof o->partials, &o->partials);
    float part[SUMSQ_GROUPS];
    if (run(o, k, groups * SUMSQ_WG, SUMSQ_WG, "sum_squares", err) ||
        read_buf(o, o->partials, part, groups * sizeof(float), err))
        return -1;
    for (size_t g = 0; g < groups; g++)
        *out += part[g];
    return 0;
}

static int view(void *ctx, void *buf, size_t offset, size_t bytes, void **out,
                char *err)
{
    clnet_ocl *o = ctx;
    if (offset % o->base_align) {
        snprintf(err, CLNET_ERRLEN, "a view at byte %zu is not a multiple of "
                 "the device's %zu-byte alignment", offset, o->base_align);
        return -1;
    }
    cl_buffer_region region = {offset, bytes};
    cl_int rc;
    cl_mem m = clCreateSubBuffer((cl_mem)buf, CL_MEM_READ_WRITE,
                                 CL_BUFFER_CREATE_TYPE_REGION, &region, &rc);
    if (rc != CL_SUCCESS) {
        snprintf(err, CLNET_ERRLEN, "clCreateSubBuffer of %zu bytes at %zu: "
                 "%s", bytes, offset, ocl_strerror(rc));
        return -1;
    }
    *out = m;
    return 0;
}

static const clnet_plugin plugin = {
    .abi_version = CLNET_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(clnet_plugin),
    .role = CLNET_ROLE_DEVICE,
    .kind = "device",
    .backend = "opencl",
    .impl = "opencl-1.2",
    .summary = "OpenCL devices through the ICD loader, with a program "
               "binary cache",
    .device = {list, open_device, close_device, alloc, release, write_buf,
               read_buf, finish, profile, kernel_seconds, accumulate,
               sum_squares, scale, view, release},
};

CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void) { return &plugin; }
