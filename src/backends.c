/* Backends a network uses: reading --device, finding a backend's device
 * plugin, choosing and opening its device, and closing it again. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"

#define MAX_DEVICES 64

static const clnet_plugin *device_plugin(const clnet_registry *r,
                                         const char *backend)
{
    for (int i = 0; i < clnet_registry_count(r); i++) {
        const clnet_plugin *p = clnet_registry_get(r, i, NULL);
        if (p->role == CLNET_ROLE_DEVICE && strcmp(p->backend, backend) == 0)
            return p;
    }
    return NULL;
}

int clnet_devices(const clnet_registry *r, const char *backend,
                  clnet_device_info *out, int32_t max, clnet_error *err)
{
    if (!r || !backend || (!out && max > 0) || max < 0)
        return clnet_fail(err, CLNET_E_ARG, "clnet_devices: bad argument"), -1;
    const clnet_device_ops *ops;
    if (strcmp(backend, "cpu") == 0) {
        ops = clnet_host_device_ops();
    } else {
        const clnet_plugin *p = device_plugin(r, backend);
        if (!p)
            return clnet_fail(err, CLNET_E_ARG,
                              "no device plugin for the '%s' backend is "
                              "loaded (`clnet plugins` lists what is)",
                              backend),
                   -1;
        ops = &p->device;
    }
    char perr[CLNET_ERRLEN] = "";
    int n = ops->list(out, max, perr);
    if (n < 0)
        clnet_fail(err, CLNET_E_PLUGIN, "%s: %s", backend, perr);
    return n;
}

int clnet_backend_is_host(const clnet_net *net, int bk)
{
    return net->backends[bk].ops == clnet_host_device_ops();
}

int32_t clnet_default_device_index(const clnet_device_info *d, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(d[i].type, "GPU") == 0)
            return i;
    return 0;
}

int clnet_parse_device(const clnet_registry *r, const char *device,
                       char *backend, size_t len, int32_t *index,
                       clnet_error *err)
{
    *index = -1;
    if (!device || !*device)
        device = "cpu";
    if (strcmp(device, "auto") == 0) {
        /* the first GPU any device plugin finds, else the CPU */
        snprintf(backend, len, "cpu");
        clnet_device_info *d = calloc(MAX_DEVICES, sizeof *d);
        for (int p = 0; d && p < clnet_registry_count(r) && *index < 0; p++) {
            const clnet_plugin *q = clnet_registry_get(r, p, NULL);
            if (q->role != CLNET_ROLE_DEVICE)
                continue;
            int n = clnet_devices(r, q->backend, d, MAX_DEVICES, NULL);
            for (int i = 0; i < n && i < MAX_DEVICES; i++)
                if (strcmp(d[i].type, "GPU") == 0) {
                    snprintf(backend, len, "%s", q->backend);
                    *index = i;
                    break;
                }
        }
        free(d);
        return CLNET_OK;
    }
    size_t n = strcspn(device, ":");
    snprintf(backend, len, "%.*s", (int)n, device);
    if (device[n] == ':') {
        char *end;
        long v = strtol(device + n + 1, &end, 10);
        if (!device[n + 1] || *end || v < 0 || v > 1000000)
            return clnet_fail(err, CLNET_E_ARG,
                              "--device %s: expected BACKEND:INDEX with a "
                              "device index from `clnet devices`",
                              device);
        *index = (int32_t)v;
    }
    if (strcmp(backend, "cpu") != 0 && !device_plugin(r, backend)) {
        const char *known[MAX_DEVICES + 3] = {"cpu", "auto"};
        int nk = 2;
        for (int p = 0; p < clnet_registry_count(r) && nk < MAX_DEVICES; p++)
            if (clnet_registry_get(r, p, NULL)->role == CLNET_ROLE_DEVICE)
                known[nk++] = clnet_registry_get(r, p, NULL)->backend;
        known[nk] = NULL;
        char msg[CLNET_ERRLEN];
        snprintf(msg, sizeof msg,
                 "--device %s: no plugins for the '%s' backend were found "
                 "(`clnet plugins` lists what is loaded)",
                 device, backend);
        clnet_append_suggestion(msg, sizeof msg, backend, known);
        return clnet_fail(err, CLNET_E_ARG, "%s", msg);
    }
    return CLNET_OK;
}

int clnet_backend_acquire(clnet_net *net, const clnet_registry *r,
                          const char *backend, int32_t index,
                          clnet_error *err)
{
    /* one entry per device: the device given by index, or with -1 the
     * backend's default device (clnet_default_device_index), which may already
     * be open under its index */
    for (int i = 0; i < net->nbackends; i++)
        if (strcmp(net->backends[i].name, backend) == 0 &&
            (index < 0 ? net->backends[i].is_default
                       : net->backends[i].index == index))
            return i;
    if (net->nbackends == CLNET_MAX_BACKENDS)
        return clnet_fail(err, CLNET_E_ARG, "more than %d backends in one "
                          "network", CLNET_MAX_BACKENDS), -1;
    clnet_backend *b = &net->backends[net->nbackends];
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, "%s", backend);
    if (strcmp(backend, "cpu") == 0) {
        b->ops = clnet_host_device_ops();
    } else {
        const clnet_plugin *p = device_plugin(r, backend);
        if (!p)
            return clnet_fail(err, CLNET_E_ARG,
                              "no device plugin for the '%s' backend is "
                              "loaded, so no layer can run there",
                              backend), -1;
        b->ops = &p->device;
    }
    clnet_device_info *d = calloc(MAX_DEVICES, sizeof *d);
    if (!d)
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory"), -1;
    int n = clnet_devices(r, backend, d, MAX_DEVICES, err);
    if (n < 0) {
        free(d);
        return -1;
    }
    if (n == 0) {
        free(d);
        return clnet_fail(err, CLNET_E_ARG,
                          "the %s backend found no devices on this machine "
                          "(`clnet devices` shows what there is)",
                          backend), -1;
    }
    int shown = n < MAX_DEVICES ? n : MAX_DEVICES;
    int is_default = index < 0;
    if (is_default) {
        index = clnet_default_device_index(d, shown);
        for (int i = 0; i < net->nbackends; i++)
            if (strcmp(net->backends[i].name, backend) == 0 &&
                net->backends[i].index == index) {
                net->backends[i].is_default = 1;
                free(d);
                return i;
            }
    }
    b->is_default = is_default;
    if (index >= shown) {
        free(d);
        return clnet_fail(err, CLNET_E_ARG,
                          "there is no %s device %d: this machine has %d "
                          "(%s:0 to %s:%d; `clnet devices` lists them)",
                          backend, index, n, backend, backend, shown - 1), -1;
    }
    b->info = d[index];
    b->index = index;
    free(d);
    char perr[CLNET_ERRLEN] = "";
    if (b->ops->open(index, &b->ctx, perr))
        return clnet_fail(err, CLNET_E_PLUGIN, "cannot open %s device %d "
                          "(%s): %s", backend, index, b->info.name, perr), -1;
    return net->nbackends++;
}

void clnet_backends_close(clnet_net *net)
{
    for (int i = 0; i < net->nbackends; i++) {
        clnet_backend *b = &net->backends[i];
        if (b->optimizer_state)
            b->optimizer->destroy(b->optimizer_state);
        b->ops->close(b->ctx);
    }
    net->nbackends = 0;
}

void *clnet_backend_alloc(clnet_net *net, int bk, size_t bytes,
                          clnet_error *err)
{
    clnet_backend *b = &net->backends[bk];
    void *buf = NULL;
    char perr[CLNET_ERRLEN] = "";
    if (b->ops->alloc(b->ctx, bytes ? bytes : 4, &buf, perr)) {
        clnet_fail(err, CLNET_E_NOMEM, "%s: %s", b->name, perr);
        return NULL;
    }
    return buf;
}

void clnet_backend_release(clnet_net *net, int bk, void *buf)
{
    if (buf)
        net->backends[bk].ops->release(net->backends[bk].ctx, buf);
}

int clnet_backend_copy(clnet_net *net, int from, const void *src, int to,
                       void *dst, size_t bytes, clnet_error *err)
{
    clnet_backend *a = &net->backends[from], *b = &net->backends[to];
    char perr[CLNET_ERRLEN] = "";
    if (from == to)
        return clnet_fail(err, CLNET_E_INTERNAL, "copy within one backend");
    /* through the host: the host ops are memcpy, so a CPU side needs no
     * staging of its own */
    const clnet_device_ops *h = clnet_host_device_ops();
    void *host = a->ops == h ? (void *)src : b->ops == h ? dst
                                                         : net->host_stage;
    if (host != src && a->ops->read(a->ctx, src, host, bytes, perr))
        return clnet_fail(err, CLNET_E_IO, "reading from %s: %s", a->name,
                          perr);
    if (host != dst && b->ops->write(b->ctx, dst, host, bytes, perr))
        return clnet_fail(err, CLNET_E_IO, "writing to %s: %s", b->name, perr);
    return CLNET_OK;
}
