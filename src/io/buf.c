/* buf.c — a growable byte buffer for building file contents, with JSON-string and number output. */
#include <stdarg.h>
#include <stdio.h>
#include <locale.h>
#include "io_internal.h"

void vf__buf_init(vf__buf *b) { memset(b, 0, sizeof *b); }

void vf__buf_free(vf__buf *b)
{
    vf_free(b->data);
    memset(b, 0, sizeof *b);
}

static int reserve(vf__buf *b, size_t extra)
{
    if (b->failed) return -1;
    if (extra > SIZE_MAX - b->len - 1) { b->failed = 1; return -1; }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t c = b->cap ? b->cap : 256;
    while (c < need) c = c > SIZE_MAX / 2 ? need : c * 2;
    char *p = vf_realloc(b->data, c);
    if (!p) { b->failed = 1; return -1; }
    b->data = p;
    b->cap = c;
    return 0;
}

void vf__buf_put(vf__buf *b, const void *p, size_t n)
{
    if (reserve(b, n)) return;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void vf__buf_puts(vf__buf *b, const char *s) { vf__buf_put(b, s, strlen(s)); }

void vf__buf_printf(vf__buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) { b->failed = 1; return; }
    if ((size_t)n < sizeof small) { vf__buf_put(b, small, (size_t)n); return; }
    if (reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void vf__buf_json_string(vf__buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    vf__buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        switch (c) {
        case '"': vf__buf_put(b, "\\\"", 2); break;
        case '\\': vf__buf_put(b, "\\\\", 2); break;
        case '\n': vf__buf_put(b, "\\n", 2); break;
        case '\r': vf__buf_put(b, "\\r", 2); break;
        case '\t': vf__buf_put(b, "\\t", 2); break;
        case '\b': vf__buf_put(b, "\\b", 2); break;
        case '\f': vf__buf_put(b, "\\f", 2); break;
        default:
            if (c < 0x20) {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                vf__buf_put(b, e, 6);
            } else {
                vf__buf_put(b, p, 1);
            }
        }
    }
    vf__buf_put(b, "\"", 1);
}

void vf__buf_real(vf__buf *b, double v)
{
    char tmp[64];
#if VF_USE_DOUBLE
    int n = snprintf(tmp, sizeof tmp, "%.17g", v);
#else
    int n = snprintf(tmp, sizeof tmp, "%.9g", v);
#endif
    if (n < 0 || (size_t)n >= sizeof tmp) { b->failed = 1; return; }
    const char *lp = localeconv()->decimal_point;
    char dp = lp && lp[0] ? lp[0] : '.';
    if (dp != '.')
        for (int i = 0; i < n; i++)
            if (tmp[i] == dp) tmp[i] = '.';
    vf__buf_put(b, tmp, (size_t)n);
}
