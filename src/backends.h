/* Backends a network uses; see backends.c. Not installed. */
#ifndef CLNET_BACKENDS_H
#define CLNET_BACKENDS_H

#include "net.h"

/* Splits --device ("cpu", "auto", "opencl", "opencl:1") into a backend
 * name and a device index (-1: the backend's default device). */
int clnet_parse_device(const clnet_registry *r, const char *device,
                       char *backend, size_t len, int32_t *index,
                       clnet_error *err);
/* 1 when backend bk of the network is the native CPU's memory. */
int clnet_backend_is_host(const clnet_net *net, int bk);
/* The index of the backend in net->backends, opening its device on first
 * use (index -1: its default device). -1 on error. */
/* The device a bare backend name ("opencl") means: the first GPU, else
 * the first device. */
int32_t clnet_default_device_index(const clnet_device_info *d, int n);
int clnet_backend_acquire(clnet_net *net, const clnet_registry *r,
                          const char *backend, int32_t index,
                          clnet_error *err);
void clnet_backends_close(clnet_net *net);

void *clnet_backend_alloc(clnet_net *net, int bk, size_t bytes,
                          clnet_error *err);
void clnet_backend_release(clnet_net *net, int bk, void *buf);
/* Copies bytes between buffers of two different backends. */
int clnet_backend_copy(clnet_net *net, int from, const void *src, int to,
                       void *dst, size_t bytes, clnet_error *err);

/* memory.c: every buffer of a step, allocated on its layer's backend, and
 * the initial parameters; and their release. */
int clnet_net_plan_memory(clnet_net *net, clnet_error *err);
void clnet_net_release_memory(clnet_net *net);

#endif
