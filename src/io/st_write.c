/* st_write.c — the safetensors writer: collects named tensors (borrowed) and metadata (copied), then
 * writes header and data atomically. The header lists "__metadata__" first, then the tensors sorted
 * by name with packed data offsets, and is padded with spaces to a multiple of 8 bytes. */
#include <stdlib.h>
#include "io_internal.h"
#include "st_dtype.h"

#define ST_MAX_DIMS 8

typedef struct w_entry {
    char *name;
    vf_st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t numel;
    const vf_real *data;    /* contiguous source, or NULL when view or data64 is used */
    const double *data64;   /* contiguous double source (vf_st_writer_add_f64), or NULL */
    vf_tensor view;         /* strided source */
} w_entry;

struct vf_st_writer {
    w_entry *e;
    size_t n, cap;
    char **mkey, **mval;
    size_t nm, capm;
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = vf_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

vf_st_writer *vf_st_writer_new(void) { return vf_calloc(1, sizeof(vf_st_writer)); }

void vf_st_writer_free(vf_st_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) vf_free(w->e[i].name);
    for (size_t i = 0; i < w->nm; i++) {
        vf_free(w->mkey[i]);
        vf_free(w->mval[i]);
    }
    vf_free(w->e);
    vf_free(w->mkey);
    vf_free(w->mval);
    vf_free(w);
}

static vf_status add_common(vf_st_writer *w, const char *name, vf_st_dtype dtype, int ndim, const int64_t *shape,
                            w_entry **slot)
{
    if (!w || !name) return vf__error(VF_ERR_ARG, "safetensors writer: NULL argument");
    if (!*name || strcmp(name, "__metadata__") == 0)
        return vf__error(VF_ERR_ARG, "safetensors writer: invalid tensor name '%s'", name);
    if (dtype != VF_ST_F32 && dtype != VF_ST_F64)
        return vf__error(VF_ERR_UNSUPPORTED, "safetensors writer: '%s': only F32 and F64 can be written", name);
    if (ndim < 0 || ndim > ST_MAX_DIMS || (ndim && !shape))
        return vf__error(VF_ERR_SHAPE, "safetensors writer: '%s': bad rank %d", name, ndim);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->e[i].name, name) == 0)
            return vf__error(VF_ERR_ARG, "safetensors writer: tensor '%s' added twice", name);
    size_t numel = 1, bytes;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return vf__error(VF_ERR_SHAPE, "safetensors writer: '%s': negative extent", name);
        if (vf__mul_size(numel, (size_t)shape[i], &numel))
            return vf__error(VF_ERR_SHAPE, "safetensors writer: '%s': shape too large", name);
    }
    if (vf__mul_size(numel, 8, &bytes)) return vf__error(VF_ERR_SHAPE, "safetensors writer: '%s': shape too large", name);
    if (w->n == w->cap) {
        size_t c = w->cap ? w->cap * 2 : 16;
        w_entry *e = vf_realloc(w->e, c * sizeof *e);
        if (!e) return VF_ERR_NOMEM;
        w->e = e;
        w->cap = c;
    }
    w_entry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = dup_str(name))) return VF_ERR_NOMEM;
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->numel = numel;
    w->n++;
    *slot = e;
    return VF_OK;
}

/* Adds an entry with a contiguous source: data (vf_real) or data64 (double), the other NULL. */
static vf_status add_contiguous(vf_st_writer *w, const char *name, vf_st_dtype dtype, int ndim, const int64_t *shape,
                                const vf_real *data, const double *data64)
{
    w_entry *e = NULL;
    vf_status s = add_common(w, name, dtype, ndim, shape, &e);
    if (s) return s;
    if (!data && !data64 && e->numel) {
        vf_free(e->name);
        w->n--;
        return vf__error(VF_ERR_ARG, "safetensors writer: '%s': NULL data", name);
    }
    e->data = data;
    e->data64 = data64;
    return VF_OK;
}

vf_status vf_st_writer_add(vf_st_writer *w, const char *name, vf_st_dtype dtype, int ndim, const int64_t *shape,
                           const vf_real *data)
{
    return add_contiguous(w, name, dtype, ndim, shape, data, NULL);
}

vf_status vf_st_writer_add_f64(vf_st_writer *w, const char *name, int ndim, const int64_t *shape, const double *data)
{
    return add_contiguous(w, name, VF_ST_F64, ndim, shape, NULL, data);
}

vf_status vf_st_writer_add_tensor(vf_st_writer *w, const char *name, vf_st_dtype dtype, const vf_tensor *t)
{
    if (!t) return vf__error(VF_ERR_ARG, "safetensors writer: NULL tensor");
    if (!t->data && t->ndim >= 0 && t->ndim <= VF_MAX_DIMS) { /* data is needed unless there are no elements */
        int64_t numel = 1;
        for (int i = 0; i < t->ndim; i++) numel *= t->shape[i] > 0 ? t->shape[i] : 0;
        if (numel > 0) return vf__error(VF_ERR_ARG, "safetensors writer: tensor '%s' has no data", name ? name : "");
    }
    w_entry *e = NULL;
    vf_status s = add_common(w, name, dtype, t->ndim, t->shape, &e);
    if (s) return s;
    e->view = *t;
    e->view.owned = NULL;
    if (vf_tensor_is_contiguous(t)) e->data = t->data;
    return VF_OK;
}

vf_status vf_st_writer_set_meta(vf_st_writer *w, const char *key, const char *value)
{
    if (!w || !key || !value) return vf__error(VF_ERR_ARG, "safetensors writer: NULL metadata argument");
    char *v = dup_str(value);
    if (!v) return VF_ERR_NOMEM;
    for (size_t i = 0; i < w->nm; i++)
        if (strcmp(w->mkey[i], key) == 0) {
            vf_free(w->mval[i]);
            w->mval[i] = v;
            return VF_OK;
        }
    if (w->nm == w->capm) {
        size_t c = w->capm ? w->capm * 2 : 8;
        char **k = vf_realloc(w->mkey, c * sizeof *k);
        if (k) w->mkey = k;
        char **vv = k ? vf_realloc(w->mval, c * sizeof *vv) : NULL;
        if (vv) w->mval = vv;
        if (!k || !vv) {
            vf_free(v);
            return VF_ERR_NOMEM;
        }
        w->capm = c;
    }
    char *k = dup_str(key);
    if (!k) {
        vf_free(v);
        return VF_ERR_NOMEM;
    }
    w->mkey[w->nm] = k;
    w->mval[w->nm] = v;
    w->nm++;
    return VF_OK;
}

static int cmp_entry_ptr(const void *a, const void *b)
{
    return strcmp((*(const w_entry *const *)a)->name, (*(const w_entry *const *)b)->name);
}

static size_t dtype_size(vf_st_dtype d) { return d == VF_ST_F64 ? 8 : 4; }

/* Stream one tensor's elements converted to its dtype, little-endian. */
static vf_status write_tensor(vf__atomic *a, const w_entry *e)
{
    unsigned char chunk[8192];
    size_t used = 0, es = dtype_size(e->dtype);
    int64_t idx[VF_MAX_DIMS] = {0, 0, 0, 0};
    vf_status s = VF_OK;
    for (size_t i = 0; i < e->numel && s == VF_OK; i++) {
        double v;
        if (e->data64) {
            v = e->data64[i];
        } else if (e->data) {
            v = (double)e->data[i];
        } else {
            v = (double)*vf_tensor_at(&e->view, idx);
            for (int k = e->view.ndim - 1; k >= 0; k--) {
                if (++idx[k] < e->view.shape[k]) break;
                idx[k] = 0;
            }
        }
        if (es == 8) {
            memcpy(chunk + used, &v, 8);
        } else {
            float f = (float)v;
            memcpy(chunk + used, &f, 4);
        }
        if (!vf__host_le()) vf__swap_bytes(chunk + used, es);
        used += es;
        if (used == sizeof chunk) {
            s = vf__atomic_write(a, chunk, used);
            used = 0;
        }
    }
    if (s == VF_OK && used) s = vf__atomic_write(a, chunk, used);
    return s;
}

vf_status vf_st_writer_write(vf_st_writer *w, const char *path)
{
    if (!w || !path) return vf__error(VF_ERR_ARG, "safetensors writer: NULL argument");
    w_entry **order = vf_calloc(w->n ? w->n : 1, sizeof *order);
    if (!order) return VF_ERR_NOMEM;
    for (size_t i = 0; i < w->n; i++) order[i] = &w->e[i];
    if (w->n > 1) qsort(order, w->n, sizeof *order, cmp_entry_ptr);

    vf__buf h;
    vf__buf_init(&h);
    vf__buf_put(&h, "{", 1);
    int first = 1;
    if (w->nm) {
        vf__buf_puts(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < w->nm; i++) {
            if (i) vf__buf_put(&h, ",", 1);
            vf__buf_json_string(&h, w->mkey[i]);
            vf__buf_put(&h, ":", 1);
            vf__buf_json_string(&h, w->mval[i]);
        }
        vf__buf_put(&h, "}", 1);
        first = 0;
    }
    size_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        const w_entry *e = order[i];
        size_t bytes = e->numel * dtype_size(e->dtype);
        if (!first) vf__buf_put(&h, ",", 1);
        first = 0;
        vf__buf_json_string(&h, e->name);
        vf__buf_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", e->dtype == VF_ST_F64 ? "F64" : "F32");
        for (int k = 0; k < e->ndim; k++) vf__buf_printf(&h, k ? ",%lld" : "%lld", (long long)e->shape[k]);
        vf__buf_printf(&h, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes);
        off += bytes;
    }
    vf__buf_put(&h, "}", 1);
    for (size_t pad = (8 - h.len % 8) % 8; pad > 0; pad--) vf__buf_put(&h, " ", 1);
    if (h.failed) {
        vf__buf_free(&h);
        vf_free(order);
        return vf__error(VF_ERR_NOMEM, "%s: out of memory", path);
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));

    vf__atomic a;
    vf_status s = vf__atomic_begin(&a, path);
    if (s == VF_OK) s = vf__atomic_write(&a, len8, 8);
    if (s == VF_OK) s = vf__atomic_write(&a, h.data, h.len);
    for (size_t i = 0; i < w->n && s == VF_OK; i++) s = write_tensor(&a, order[i]);
    if (s == VF_OK) s = vf__atomic_commit(&a);
    vf__buf_free(&h);
    vf_free(order);
    return s;
}
