/* Helpers for a kind's definition (CLNET_ROLE_KIND plugins): the error
 * sentence and the plugin struct every kind fills the same way. Header
 * only, so a kind's shared object needs no library. */
#ifndef CLNET_KIND_H
#define CLNET_KIND_H

#include <stdarg.h>
#include <stdio.h>

#include "clnet/plugin.h"

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline int kind_errorf(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, CLNET_ERRLEN, fmt, ap);
    va_end(ap);
    return -1;
}

/* Elements per sample of a shape, -1 past CLNET_MAX_ELEMENTS. */
static inline int64_t kind_elems(clnet_shape s)
{
    return clnet_size_mul(clnet_size_mul(s.h, s.w), s.c);
}

/* The plugin struct of a kind: NAME, its settings table and count, the
 * inputs it reads and its infer(); _AFFINE adds def.inference_affine. */
#define CLNET_KIND_PLUGIN(NAME, SUMMARY, NSET, SETTINGS, MIN_IN, MAX_IN,     \
                          INFER)                                             \
    CLNET_KIND_PLUGIN_AFFINE(NAME, SUMMARY, NSET, SETTINGS, MIN_IN, MAX_IN,  \
                             INFER, NULL)
#define CLNET_KIND_PLUGIN_AFFINE(NAME, SUMMARY, NSET, SETTINGS, MIN_IN,      \
                                 MAX_IN, INFER, AFFINE)                      \
    static const clnet_plugin kind_plugin = {                                \
        .abi_version = CLNET_PLUGIN_ABI_VERSION,                             \
        .struct_size = sizeof(clnet_plugin),                                 \
        .role = CLNET_ROLE_KIND,                                             \
        .kind = NAME,                                                        \
        .backend = "",                                                       \
        .impl = "",                                                          \
        .summary = SUMMARY,                                                  \
        .nsettings = NSET,                                                   \
        .settings = SETTINGS,                                                \
        .def = {MIN_IN, MAX_IN, INFER, AFFINE},                              \
    };                                                                       \
    CLNET_EXPORT const clnet_plugin *clnet_plugin_entry(void)                \
    {                                                                        \
        return &kind_plugin;                                                 \
    }

#endif
