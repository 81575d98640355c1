/* Error reporting (status names, the helper that fills clnet_error) and
 * the runtime version queries. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

clnet_status clnet_fail(clnet_error *err, clnet_status s, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = s;
    }
    return s;
}

void clnet_error_clear(clnet_error *err)
{
    if (err) {
        err->status = CLNET_OK;
        err->msg[0] = '\0';
    }
}

int clnet_status_is_input(clnet_status s)
{
    return s >= CLNET_E_ARG && s <= CLNET_E_CHECKPOINT;
}

const char *clnet_status_name(clnet_status s)
{
    switch (s) {
    case CLNET_OK: return "ok";
    case CLNET_E_ARG: return "invalid argument";
    case CLNET_E_NOTFOUND: return "not found";
    case CLNET_E_PARSE: return "topology error";
    case CLNET_E_SHAPE: return "shape error";
    case CLNET_E_DATA: return "data error";
    case CLNET_E_CHECKPOINT: return "checkpoint error";
    case CLNET_E_IO: return "I/O error";
    case CLNET_E_NOMEM: return "out of memory";
    case CLNET_E_PLUGIN: return "plugin error";
    case CLNET_E_INTERNAL: return "internal error";
    case CLNET_E_NONFINITE: return "non-finite loss";
    case CLNET_E_INTERRUPTED: return "interrupted";
    }
    return "unknown error";
}

const char *clnet_version(void)
{
    return CLNET_VERSION;
}

unsigned clnet_plugin_abi(void)
{
    return CLNET_PLUGIN_ABI_VERSION;
}

void clnet_error_locate(clnet_error *err, const char *where,
                        const char *because)
{
    if (!err || !where)
        return;
    char msg[CLNET_ERRLEN];
    snprintf(msg, sizeof msg, "%s", err->msg);
    if (because)
        snprintf(err->msg, sizeof err->msg, "%.150s: %.300s (from %.50s)",
                 where, msg, because);
    else
        snprintf(err->msg, sizeof err->msg, "%.150s: %.350s", where, msg);
}
