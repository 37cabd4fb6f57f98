/* error.c — status names and the thread-local error message slot. */
#include <stdio.h>
#include <string.h>
#include "internal.h"

#if defined(__STDC_NO_THREADS__) && !defined(__GNUC__)
static char error_message[512];
#elif defined(__GNUC__) || defined(__clang__)
static __thread char error_message[512];
#else
static _Thread_local char error_message[512];
#endif

const char *vf_status_name(vf_status s)
{
    switch (s) {
    case VF_OK: return "VF_OK";
    case VF_ERR_NOMEM: return "VF_ERR_NOMEM";
    case VF_ERR_ARG: return "VF_ERR_ARG";
    case VF_ERR_SHAPE: return "VF_ERR_SHAPE";
    case VF_ERR_IO: return "VF_ERR_IO";
    case VF_ERR_FORMAT: return "VF_ERR_FORMAT";
    case VF_ERR_NUMERIC: return "VF_ERR_NUMERIC";
    case VF_ERR_UNSUPPORTED: return "VF_ERR_UNSUPPORTED";
    case VF_ERR_STATE: return "VF_ERR_STATE";
    }
    return "VF_ERR_UNKNOWN";
}

const char *vf_last_error(void) { return error_message; }

void vf_clear_error(void) { error_message[0] = '\0'; }

const char *vf_version(void) { return VF_VERSION_STRING; }

int vf_real_size(void) { return (int)sizeof(vf_real); }

/* Formats into a local buffer first: the arguments may include vf_last_error() itself (a caller
 * adding context to the message below it), and vsnprintf must not read and write one buffer. */
vf_status vf__verror(vf_status status, const char *fmt, va_list ap)
{
    char buf[sizeof error_message];
    vsnprintf(buf, sizeof buf, fmt, ap);
    memcpy(error_message, buf, sizeof buf);
    return status;
}

vf_status vf__error(vf_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vf__verror(status, fmt, ap);
    va_end(ap);
    return status;
}

vf_status vf_set_error(vf_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vf__verror(s, fmt ? fmt : "", ap);
    va_end(ap);
    return s;
}

int vf__mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}
