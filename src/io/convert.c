/* convert.c — element conversion from on-disk numeric types to vf_real, and locale-free number parsing. */
#include <locale.h>
#include <stdlib.h>
#include "io_internal.h"

size_t vf__elem_size(vf__elem e)
{
    switch (e) {
    case VF__E_I8: case VF__E_U8: case VF__E_B1: return 1;
    case VF__E_F16: case VF__E_BF16: case VF__E_I16: case VF__E_U16: return 2;
    case VF__E_F32: case VF__E_I32: case VF__E_U32: return 4;
    case VF__E_F64: case VF__E_I64: case VF__E_U64: return 8;
    }
    return 1;
}

/* IEEE half -> float: sign, 5-bit exponent, 10-bit mantissa. */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31u, m = h & 1023u, bits;
    if (e == 0) {
        if (m == 0) bits = sign;
        else { /* subnormal: m * 2^-24 */
            float v = (float)m * (1.0f / 16777216.0f);
            return sign ? -v : v;
        }
    } else if (e == 31) {
        bits = sign | 0x7f800000u | (m << 13);
    } else {
        bits = sign | ((e + 112u) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Element i of src (of element type e, byte order given) as a double. */
static double decode_at(const unsigned char *src, size_t i, size_t sz, vf__elem e, int swap)
{
    unsigned char b[8];
    memcpy(b, src + i * sz, sz);
    if (swap) vf__swap_bytes(b, sz);
    double v = 0;
    switch (e) {
    case VF__E_F16: { uint16_t h; memcpy(&h, b, 2); v = half_to_float(h); break; }
    case VF__E_BF16: {
        uint16_t h; memcpy(&h, b, 2);
        uint32_t bits = (uint32_t)h << 16; float f; memcpy(&f, &bits, 4); v = f; break;
    }
    case VF__E_F32: { float f; memcpy(&f, b, 4); v = f; break; }
    case VF__E_F64: { memcpy(&v, b, 8); break; }
    case VF__E_I8: { int8_t x; memcpy(&x, b, 1); v = x; break; }
    case VF__E_U8: v = b[0]; break;
    case VF__E_B1: v = b[0] != 0; break;
    case VF__E_I16: { int16_t x; memcpy(&x, b, 2); v = x; break; }
    case VF__E_U16: { uint16_t x; memcpy(&x, b, 2); v = x; break; }
    case VF__E_I32: { int32_t x; memcpy(&x, b, 4); v = x; break; }
    case VF__E_U32: { uint32_t x; memcpy(&x, b, 4); v = x; break; }
    case VF__E_I64: { int64_t x; memcpy(&x, b, 8); v = (double)x; break; }
    case VF__E_U64: { uint64_t x; memcpy(&x, b, 8); v = (double)x; break; }
    }
    return v;
}

void vf__convert(vf_real *dst, const unsigned char *src, size_t n, vf__elem e, int big_endian)
{
    size_t sz = vf__elem_size(e);
    int swap = sz > 1 && (big_endian ? vf__host_le() : !vf__host_le());
    for (size_t i = 0; i < n; i++) dst[i] = (vf_real)decode_at(src, i, sz, e, swap);
}

void vf__convert_f64(double *dst, const unsigned char *src, size_t n, vf__elem e, int big_endian)
{
    size_t sz = vf__elem_size(e);
    int swap = sz > 1 && (big_endian ? vf__host_le() : !vf__host_le());
    for (size_t i = 0; i < n; i++) dst[i] = decode_at(src, i, sz, e, swap);
}

int vf__parse_double(const char *s, size_t n, double *out)
{
    char tmp[512];
    if (n == 0 || n >= sizeof tmp) return -1;
    const char *lp = localeconv()->decimal_point;
    char dp = lp && lp[0] ? lp[0] : '.';
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') return -1;
        if (dp != '.' && c == dp) return -1;
        if (c == 'x' || c == 'X') return -1; /* decimal only: strtod would read "0x10" as 16 */
        tmp[i] = (c == '.' && dp != '.') ? dp : c;
    }
    tmp[n] = 0;
    char *end;
    double v = strtod(tmp, &end);
    if (end != tmp + n) return -1;
    *out = v;
    return 0;
}
