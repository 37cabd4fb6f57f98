/* idx.c — IDX files (the MNIST family): magic 00 00 TT NN, NN big-endian 32-bit extents, then the
 * big-endian elements. The size the extents imply is checked against the bytes present before the
 * output is allocated. */
#include "io_internal.h"

vf_status vf__idx_parse(const char *path, const unsigned char *d, size_t len, vf_tensor *out)
{
    memset(out, 0, sizeof *out);
    if (len < 4) return vf__error(VF_ERR_FORMAT, "%s: truncated IDX file (%zu bytes)", path, len);
    if (d[0] != 0 || d[1] != 0)
        return vf__error(VF_ERR_FORMAT, "%s: not an IDX file (magic %02x %02x %02x %02x)", path, d[0], d[1], d[2], d[3]);
    vf__elem e;
    switch (d[2]) {
    case 0x08: e = VF__E_U8; break;
    case 0x09: e = VF__E_I8; break;
    case 0x0B: e = VF__E_I16; break;
    case 0x0C: e = VF__E_I32; break;
    case 0x0D: e = VF__E_F32; break;
    case 0x0E: e = VF__E_F64; break;
    default: return vf__error(VF_ERR_FORMAT, "%s: unknown IDX element type 0x%02x", path, d[2]);
    }
    int ndim = d[3];
    if (ndim < 1) return vf__error(VF_ERR_FORMAT, "%s: IDX file with 0 dimensions", path);
    if (ndim > VF_MAX_DIMS)
        return vf__error(VF_ERR_UNSUPPORTED, "%s: %d-dimensional IDX arrays are not supported (at most %d)", path, ndim,
                         VF_MAX_DIMS);
    size_t off = 4 + 4 * (size_t)ndim;
    if (len < off) return vf__error(VF_ERR_FORMAT, "%s: truncated IDX header", path);
    int64_t shape[VF_MAX_DIMS];
    size_t numel = 1, bytes;
    for (int i = 0; i < ndim; i++) {
        shape[i] = (int64_t)vf__be32(d + 4 + 4 * i);
        if (vf__mul_size(numel, (size_t)shape[i], &numel))
            return vf__error(VF_ERR_FORMAT, "%s: IDX shape is too large", path);
    }
    size_t have = len - off;
    if (vf__mul_size(numel, vf__elem_size(e), &bytes) || bytes > have)
        return vf__error(VF_ERR_FORMAT, "%s: truncated: the IDX header claims %zu elements, the file holds %zu bytes of data",
                         path, numel, have);
    vf_status s = vf_tensor_alloc(out, ndim, shape);
    if (s) return vf__reraise(s, path);
    vf__convert(out->data, d + off, numel, e, 1);
    return VF_OK;
}

vf_status vf_idx_read(const char *path, vf_tensor *out)
{
    if (!out) return vf__error(VF_ERR_ARG, "vf_idx_read: NULL output");
    memset(out, 0, sizeof *out);
    unsigned char *data;
    size_t len;
    vf_status s = vf__read_file(path, &data, &len);
    if (s) return s;
    s = vf__idx_parse(path, data, len, out);
    vf_free(data);
    return s;
}
