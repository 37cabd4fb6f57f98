/* npy.c — NumPy .npy files: header parsing (versions 1-3, a Python dict literal), conversion of the
 * common numeric dtypes to vf_real, and the little-endian writer.
 *
 * Layout: "\x93NUMPY", major, minor, header length (2 bytes LE for version 1, 4 bytes for 2 and 3),
 * the header "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }" padded with spaces and a
 * newline, then the raw elements. The data size the header implies is checked against the bytes
 * present before the output is allocated. */
#include <stdio.h>
#include "io_internal.h"

#define NPY_MAX_PARSED_DIMS 32

typedef struct npy_header {
    vf__elem elem;
    int big_endian;
    int fortran;
    int ndim;
    int64_t shape[NPY_MAX_PARSED_DIMS];
} npy_header;

typedef struct cursor {
    const char *s;
    size_t n, i;
} cursor;

static void ws(cursor *c)
{
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' || c->s[c->i] == '\r'))
        c->i++;
}

static int eat(cursor *c, char ch)
{
    ws(c);
    if (c->i < c->n && c->s[c->i] == ch) { c->i++; return 1; }
    return 0;
}

/* A quoted Python string without escapes: its span. */
static int pystring(cursor *c, const char **p, size_t *len)
{
    ws(c);
    if (c->i >= c->n || (c->s[c->i] != '\'' && c->s[c->i] != '"')) return -1;
    char q = c->s[c->i++];
    size_t start = c->i;
    while (c->i < c->n && c->s[c->i] != q) {
        if (c->s[c->i] == '\\') return -1;
        c->i++;
    }
    if (c->i >= c->n) return -1;
    *p = c->s + start;
    *len = c->i - start;
    c->i++;
    return 0;
}

static int span_is(const char *p, size_t n, const char *word) { return strlen(word) == n && memcmp(p, word, n) == 0; }

static vf_status parse_descr(const char *path, const char *p, size_t n, npy_header *h)
{
    static const struct { const char *code; vf__elem e; } table[] = {
        {"f2", VF__E_F16}, {"f4", VF__E_F32}, {"f8", VF__E_F64}, {"i1", VF__E_I8}, {"u1", VF__E_U8},
        {"i2", VF__E_I16}, {"u2", VF__E_U16}, {"i4", VF__E_I32}, {"u4", VF__E_U32}, {"i8", VF__E_I64},
        {"u8", VF__E_U64}, {"b1", VF__E_B1}};
    if (n == 3 && (p[0] == '<' || p[0] == '>' || p[0] == '|' || p[0] == '=')) {
        for (size_t k = 0; k < sizeof table / sizeof table[0]; k++)
            if (p[1] == table[k].code[0] && p[2] == table[k].code[1]) {
                h->elem = table[k].e;
                if (p[0] == '|' && vf__elem_size(h->elem) != 1) break;
                h->big_endian = p[0] == '>' || (p[0] == '=' && !vf__host_le());
                return VF_OK;
            }
    }
    return vf__error(VF_ERR_UNSUPPORTED,
                     "%s: dtype '%.*s' is not supported (use float32 '<f4' or float64 '<f8'; integer, bool and "
                     "float16 arrays are converted too)", path, (int)(n > 32 ? 32 : n), p);
}

static vf_status parse_header(const char *path, const char *s, size_t n, npy_header *h)
{
    cursor c = {s, n, 0};
    int seen_descr = 0, seen_fortran = 0, seen_shape = 0;
    memset(h, 0, sizeof *h);
    if (!eat(&c, '{')) return vf__error(VF_ERR_FORMAT, "%s: NPY header is not a dict", path);
    for (;;) {
        if (eat(&c, '}')) break;
        const char *k;
        size_t kn;
        if (pystring(&c, &k, &kn)) return vf__error(VF_ERR_FORMAT, "%s: NPY header: key expected at byte %zu", path, c.i);
        if (!eat(&c, ':')) return vf__error(VF_ERR_FORMAT, "%s: NPY header: ':' expected at byte %zu", path, c.i);
        if (span_is(k, kn, "descr")) {
            const char *v;
            size_t vn;
            ws(&c);
            if (c.i < c.n && c.s[c.i] == '[')
                return vf__error(VF_ERR_UNSUPPORTED, "%s: structured dtypes are not supported", path);
            if (pystring(&c, &v, &vn)) return vf__error(VF_ERR_FORMAT, "%s: NPY header: bad 'descr'", path);
            vf_status st = parse_descr(path, v, vn, h);
            if (st) return st;
            seen_descr = 1;
        } else if (span_is(k, kn, "fortran_order")) {
            ws(&c);
            if (c.n - c.i >= 4 && memcmp(c.s + c.i, "True", 4) == 0) { h->fortran = 1; c.i += 4; }
            else if (c.n - c.i >= 5 && memcmp(c.s + c.i, "False", 5) == 0) { h->fortran = 0; c.i += 5; }
            else return vf__error(VF_ERR_FORMAT, "%s: NPY header: 'fortran_order' must be True or False", path);
            seen_fortran = 1;
        } else if (span_is(k, kn, "shape")) {
            if (!eat(&c, '(')) return vf__error(VF_ERR_FORMAT, "%s: NPY header: 'shape' must be a tuple", path);
            h->ndim = 0;
            for (;;) {
                if (eat(&c, ')')) break;
                ws(&c);
                if (c.i >= c.n || c.s[c.i] < '0' || c.s[c.i] > '9')
                    return vf__error(VF_ERR_FORMAT, "%s: NPY header: bad extent in 'shape' at byte %zu", path, c.i);
                uint64_t v = 0;
                while (c.i < c.n && c.s[c.i] >= '0' && c.s[c.i] <= '9') {
                    v = v * 10 + (uint64_t)(c.s[c.i++] - '0');
                    if (v > (uint64_t)INT64_MAX / 16)
                        return vf__error(VF_ERR_FORMAT, "%s: NPY header: extent too large", path);
                }
                if (c.i < c.n && c.s[c.i] == 'L') c.i++;
                if (h->ndim >= NPY_MAX_PARSED_DIMS)
                    return vf__error(VF_ERR_FORMAT, "%s: NPY header: too many dimensions", path);
                h->shape[h->ndim++] = (int64_t)v;
                if (eat(&c, ',')) continue;
                if (eat(&c, ')')) break;
                return vf__error(VF_ERR_FORMAT, "%s: NPY header: ',' or ')' expected in 'shape'", path);
            }
            seen_shape = 1;
        } else {
            return vf__error(VF_ERR_FORMAT, "%s: NPY header: unexpected key '%.*s'", path, (int)(kn > 32 ? 32 : kn), k);
        }
        if (eat(&c, ',')) continue;
        if (eat(&c, '}')) break;
        return vf__error(VF_ERR_FORMAT, "%s: NPY header: ',' or '}' expected at byte %zu", path, c.i);
    }
    ws(&c);
    if (c.i != c.n) return vf__error(VF_ERR_FORMAT, "%s: NPY header: unexpected text after the dict", path);
    if (!seen_descr || !seen_fortran || !seen_shape)
        return vf__error(VF_ERR_FORMAT, "%s: NPY header lacks '%s'", path,
                         !seen_descr ? "descr" : !seen_fortran ? "fortran_order" : "shape");
    return VF_OK;
}

/* Parse an NPY image in memory into out (file's shape). */
static vf_status npy_parse(const char *path, const unsigned char *d, size_t len, vf_tensor *out)
{
    if (len < 10 || memcmp(d, "\x93NUMPY", 6) != 0)
        return vf__error(VF_ERR_FORMAT, "%s: not an NPY file (bad magic)", path);
    unsigned major = d[6];
    size_t hlen, off;
    if (major == 1) {
        hlen = (size_t)d[8] | ((size_t)d[9] << 8);
        off = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) return vf__error(VF_ERR_FORMAT, "%s: truncated NPY preamble", path);
        hlen = (size_t)d[8] | ((size_t)d[9] << 8) | ((size_t)d[10] << 16) | ((size_t)d[11] << 24);
        off = 12;
    } else {
        return vf__error(VF_ERR_UNSUPPORTED, "%s: NPY format version %u.%u is not supported", path, major, d[7]);
    }
    if (hlen > len - off)
        return vf__error(VF_ERR_FORMAT, "%s: truncated: the NPY header claims %zu bytes, the file has %zu after the preamble",
                         path, hlen, len - off);
    npy_header h;
    vf_status s = parse_header(path, (const char *)d + off, hlen, &h);
    if (s) return s;
    if (h.ndim > VF_MAX_DIMS)
        return vf__error(VF_ERR_UNSUPPORTED, "%s: %d-dimensional arrays are not supported (at most %d)", path, h.ndim,
                         VF_MAX_DIMS);
    if (h.fortran && h.ndim > 1)
        return vf__error(VF_ERR_UNSUPPORTED,
                         "%s: Fortran-order arrays are not supported; save with np.save(f, np.ascontiguousarray(a))", path);
    size_t numel = 1, bytes;
    for (int i = 0; i < h.ndim; i++)
        if (vf__mul_size(numel, (size_t)h.shape[i], &numel))
            return vf__error(VF_ERR_FORMAT, "%s: NPY shape is too large", path);
    size_t have = len - off - hlen;
    if (vf__mul_size(numel, vf__elem_size(h.elem), &bytes) || bytes > have)
        return vf__error(VF_ERR_FORMAT, "%s: truncated: the shape needs %zu elements, the file holds %zu bytes of data",
                         path, numel, have);
    s = vf_tensor_alloc(out, h.ndim, h.shape);
    if (s) return vf__reraise(s, path);
    vf__convert(out->data, d + off + hlen, numel, h.elem, h.big_endian);
    return VF_OK;
}

vf_status vf_npy_read(const char *path, vf_tensor *out)
{
    if (!out) return vf__error(VF_ERR_ARG, "vf_npy_read: NULL output");
    memset(out, 0, sizeof *out);
    unsigned char *data;
    size_t len;
    vf_status s = vf__read_file(path, &data, &len);
    if (s) return s;
    s = npy_parse(path, data, len, out);
    vf_free(data);
    return s;
}

vf_status vf_npy_write(const char *path, const vf_tensor *x)
{
    if (!path || !x) return vf__error(VF_ERR_ARG, "vf_npy_write: NULL argument");
    if (x->ndim < 0 || x->ndim > VF_MAX_DIMS) return vf__error(VF_ERR_SHAPE, "%s: bad tensor rank %d", path, x->ndim);
    int64_t numel = 1;
    for (int i = 0; i < x->ndim; i++) {
        if (x->shape[i] < 0) return vf__error(VF_ERR_SHAPE, "%s: negative extent %lld", path, (long long)x->shape[i]);
        numel = x->shape[i] == 0 || numel == 0 ? 0 : numel * x->shape[i];
    }
    if (numel > 0 && !x->data) return vf__error(VF_ERR_ARG, "%s: the tensor has no data", path);
    vf__buf h;
    vf__buf_init(&h);
    vf__buf_printf(&h, "{'descr': '<%s', 'fortran_order': False, 'shape': (", VF_USE_DOUBLE ? "f8" : "f4");
    for (int i = 0; i < x->ndim; i++) vf__buf_printf(&h, i ? ", %lld" : "%lld", (long long)x->shape[i]);
    vf__buf_puts(&h, x->ndim == 1 ? ",), }" : "), }");
    /* Pad with spaces and a newline so that the data starts at a multiple of 64 bytes. */
    size_t pre = h.len + 10 + 64 > 65535 ? 12 : 10; /* version 2 (4-byte length) past 64 KiB */
    for (size_t pad = (64 - (pre + h.len + 1) % 64) % 64; pad > 0; pad--) vf__buf_put(&h, " ", 1);
    vf__buf_put(&h, "\n", 1);
    if (h.failed) { vf__buf_free(&h); return vf__error(VF_ERR_NOMEM, "%s: out of memory", path); }
    unsigned char preamble[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', pre == 10 ? 1 : 2, 0};
    for (size_t i = 0; i < pre - 8; i++) preamble[8 + i] = (unsigned char)(h.len >> (8 * i));

    vf__atomic a;
    vf_status s = vf__atomic_begin(&a, path);
    if (s == VF_OK) s = vf__atomic_write(&a, preamble, pre);
    if (s == VF_OK) s = vf__atomic_write(&a, h.data, h.len);
    vf__buf_free(&h);
    /* Elements in C order through the strides, in chunks. */
    unsigned char chunk[8192];
    size_t used = 0, es = sizeof(vf_real);
    int64_t idx[VF_MAX_DIMS] = {0, 0, 0, 0};
    for (int64_t e = 0; e < numel && s == VF_OK; e++) {
        vf_real v = *vf_tensor_at(x, idx);
        memcpy(chunk + used, &v, es);
        if (!vf__host_le()) vf__swap_bytes(chunk + used, es);
        used += es;
        if (used == sizeof chunk) { s = vf__atomic_write(&a, chunk, used); used = 0; }
        for (int k = x->ndim - 1; k >= 0; k--) {
            if (++idx[k] < x->shape[k]) break;
            idx[k] = 0;
        }
    }
    if (s == VF_OK && used) s = vf__atomic_write(&a, chunk, used);
    if (s == VF_OK) s = vf__atomic_commit(&a);
    return s;
}

vf_status vf__npy_parse(const char *path, const unsigned char *d, size_t len, vf_tensor *out)
{
    memset(out, 0, sizeof *out);
    return npy_parse(path, d, len, out);
}
