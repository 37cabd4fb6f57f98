/* safetensors.c — the safetensors reader: loads the whole file, validates the JSON header (dtypes,
 * shapes, offsets packed without gaps or overlaps inside the data section) and gives lookup by name
 * with conversion to vf_real, plus the "__metadata__" string map. */
#include <stdio.h>
#include <stdlib.h>
#include "io_internal.h"
#include "json.h"
#include "st_dtype.h"

#define ST_MAX_HEADER ((uint64_t)100 << 20)   /* the reference implementation's limit */
#define ST_MAX_DIMS 8

static const vf__st_dtype_info dtype_table[] = {
    {"F64", 8, VF_ST_F64, 1, VF__E_F64},   {"F32", 4, VF_ST_F32, 1, VF__E_F32},
    {"F16", 2, VF_ST_F16, 1, VF__E_F16},   {"BF16", 2, VF_ST_BF16, 1, VF__E_BF16},
    {"I64", 8, VF_ST_OTHER, 1, VF__E_I64}, {"I32", 4, VF_ST_OTHER, 1, VF__E_I32},
    {"I16", 2, VF_ST_OTHER, 1, VF__E_I16}, {"I8", 1, VF_ST_OTHER, 1, VF__E_I8},
    {"U64", 8, VF_ST_OTHER, 1, VF__E_U64}, {"U32", 4, VF_ST_OTHER, 1, VF__E_U32},
    {"U16", 2, VF_ST_OTHER, 1, VF__E_U16}, {"U8", 1, VF_ST_OTHER, 1, VF__E_U8},
    {"BOOL", 1, VF_ST_OTHER, 1, VF__E_B1}, {"F8_E4M3", 1, VF_ST_OTHER, 0, VF__E_U8},
    {"F8_E5M2", 1, VF_ST_OTHER, 0, VF__E_U8},
};

const vf__st_dtype_info *vf__st_dtype_lookup(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++)
        if (strlen(dtype_table[i].name) == n && memcmp(dtype_table[i].name, name, n) == 0) return &dtype_table[i];
    return NULL;
}

typedef struct st_entry {
    char *name;
    const vf__st_dtype_info *info;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t numel, begin, end;   /* offsets in the data section */
} st_entry;

struct vf_st_file {
    char *path;
    unsigned char *bytes;       /* whole file */
    size_t len;
    const unsigned char *data;  /* data section */
    size_t data_len;
    st_entry *e;
    int64_t n;
    char **meta_key, **meta_val;
    int64_t nmeta;
};

void vf_st_close(vf_st_file *f)
{
    if (!f) return;
    for (int64_t i = 0; i < f->n; i++) vf_free(f->e[i].name);
    for (int64_t i = 0; i < f->nmeta; i++) {
        vf_free(f->meta_key[i]);
        vf_free(f->meta_val[i]);
    }
    vf_free(f->e);
    vf_free(f->meta_key);
    vf_free(f->meta_val);
    vf_free(f->bytes);
    vf_free(f->path);
    vf_free(f);
}

static char *dup_n(const char *s, size_t n)
{
    char *p = vf_malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

static int by_begin(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

static vf_status parse_entry(const vf_st_file *f, const char *name, const vf__json *v, st_entry *e)
{
    const char *p = f->path;
    if (v->type != VF__JSON_OBJECT) return vf__error(VF_ERR_FORMAT, "%s: tensor '%s': entry is not an object", p, name);
    const vf__json *dt = vf__json_get(v, "dtype"), *sh = vf__json_get(v, "shape"), *off = vf__json_get(v, "data_offsets");
    if (!dt || dt->type != VF__JSON_STRING) return vf__error(VF_ERR_FORMAT, "%s: tensor '%s': no \"dtype\" string", p, name);
    if (!sh || sh->type != VF__JSON_ARRAY) return vf__error(VF_ERR_FORMAT, "%s: tensor '%s': no \"shape\" array", p, name);
    if (!off || off->type != VF__JSON_ARRAY || off->n != 2)
        return vf__error(VF_ERR_FORMAT, "%s: tensor '%s': \"data_offsets\" must be [begin, end]", p, name);
    e->info = vf__st_dtype_lookup(dt->str, dt->len);
    if (!e->info)
        return vf__error(VF_ERR_UNSUPPORTED, "%s: tensor '%s': unknown dtype \"%.16s\"", p, name, dt->str);
    if (sh->n > ST_MAX_DIMS)
        return vf__error(VF_ERR_UNSUPPORTED, "%s: tensor '%s': %zu dimensions (at most %d)", p, name, sh->n, ST_MAX_DIMS);
    e->ndim = (int)sh->n;
    e->numel = 1;
    for (int i = 0; i < e->ndim; i++) {
        int64_t k;
        if (vf__json_int64(&sh->items[i], &k) || k < 0)
            return vf__error(VF_ERR_FORMAT, "%s: tensor '%s': shape entry %d is not a non-negative integer", p, name, i);
        e->shape[i] = k;
        if (vf__mul_size(e->numel, (size_t)k, &e->numel))
            return vf__error(VF_ERR_FORMAT, "%s: tensor '%s': shape is too large", p, name);
    }
    int64_t b, en;
    if (vf__json_int64(&off->items[0], &b) || vf__json_int64(&off->items[1], &en) || b < 0 || en < b)
        return vf__error(VF_ERR_FORMAT, "%s: tensor '%s': bad data_offsets", p, name);
    if ((uint64_t)en > f->data_len)
        return vf__error(VF_ERR_FORMAT, "%s: tensor '%s': data_offsets end %lld is past the end of the data (%zu bytes); "
                         "the file is truncated or corrupt", p, name, (long long)en, f->data_len);
    e->begin = (size_t)b;
    e->end = (size_t)en;
    size_t bytes;
    if (vf__mul_size(e->numel, e->info->size, &bytes) || bytes != e->end - e->begin)
        return vf__error(VF_ERR_FORMAT, "%s: tensor '%s': shape and dtype need %zu bytes, data_offsets span %zu", p, name,
                         bytes, e->end - e->begin);
    return VF_OK;
}

static vf_status parse_meta(vf_st_file *f, const vf__json *m)
{
    if (m->type != VF__JSON_OBJECT)
        return vf__error(VF_ERR_FORMAT, "%s: \"__metadata__\" must be an object of strings", f->path);
    if (m->n == 0) return VF_OK;
    f->meta_key = vf_calloc(m->n, sizeof *f->meta_key);
    f->meta_val = vf_calloc(m->n, sizeof *f->meta_val);
    if (!f->meta_key || !f->meta_val) return vf__error(VF_ERR_NOMEM, "%s: out of memory", f->path);
    for (size_t i = 0; i < m->n; i++) {
        if (m->items[i].type != VF__JSON_STRING)
            return vf__error(VF_ERR_FORMAT, "%s: metadata value of \"%.64s\" is not a string", f->path, m->keys[i]);
        f->meta_key[i] = dup_n(m->keys[i], m->key_lens[i]);
        f->meta_val[i] = dup_n(m->items[i].str, m->items[i].len);
        f->nmeta = (int64_t)i + 1;
        if (!f->meta_key[i] || !f->meta_val[i]) return vf__error(VF_ERR_NOMEM, "%s: out of memory", f->path);
    }
    return VF_OK;
}

static vf_status parse_file(vf_st_file *f)
{
    const char *p = f->path;
    if (f->len < 8) return vf__error(VF_ERR_FORMAT, "%s: not a safetensors file (%zu bytes, too short)", p, f->len);
    uint64_t hlen = vf__le64(f->bytes);
    if (hlen > f->len - 8 && f->bytes[8] != '{') /* no header at all: a data table or another file as a model */
        return vf__error(VF_ERR_FORMAT,
                         "%s: not a safetensors file (a model file starts with its header's length and '{')", p);
    if (hlen > f->len - 8)
        return vf__error(VF_ERR_FORMAT, "%s: header length %llu is larger than the rest of the file (%zu bytes)", p,
                         (unsigned long long)hlen, f->len - 8);
    if (hlen > ST_MAX_HEADER)
        return vf__error(VF_ERR_FORMAT, "%s: header length %llu is over the %llu-byte limit", p, (unsigned long long)hlen,
                         (unsigned long long)ST_MAX_HEADER);
    if (hlen < 2 || f->bytes[8] != '{')
        return vf__error(VF_ERR_FORMAT, "%s: not a safetensors file (header does not start with '{')", p);
    f->data = f->bytes + 8 + hlen;
    f->data_len = f->len - 8 - (size_t)hlen;
    vf__json *root;
    vf_status s = vf__json_parse((const char *)f->bytes + 8, (size_t)hlen, 16, &root);
    if (s) {
        char prefix[600];
        snprintf(prefix, sizeof prefix, "%s: JSON header", p);
        return vf__reraise(s, prefix);
    }
    if (root->type != VF__JSON_OBJECT) {
        vf__json_free(root);
        return vf__error(VF_ERR_FORMAT, "%s: header is not a JSON object", p);
    }
    size_t ntensor = 0;
    for (size_t i = 0; i < root->n; i++) ntensor += strcmp(root->keys[i], "__metadata__") != 0;
    if (ntensor) f->e = vf_calloc(ntensor, sizeof *f->e);
    if (ntensor && !f->e) s = vf__error(VF_ERR_NOMEM, "%s: out of memory", p);
    int seen_meta = 0;
    for (size_t i = 0; i < root->n && s == VF_OK; i++) {
        if (strcmp(root->keys[i], "__metadata__") == 0) {
            if (seen_meta++) s = vf__error(VF_ERR_FORMAT, "%s: \"__metadata__\" appears twice", p);
            else s = parse_meta(f, &root->items[i]);
            continue;
        }
        if (root->key_lens[i] != strlen(root->keys[i])) {
            s = vf__error(VF_ERR_FORMAT, "%s: a tensor name holds a NUL character", p);
            break;
        }
        st_entry *e = &f->e[f->n];
        if (!(e->name = dup_n(root->keys[i], root->key_lens[i]))) {
            s = vf__error(VF_ERR_NOMEM, "%s: out of memory", p);
            break;
        }
        f->n++;
        s = parse_entry(f, e->name, &root->items[i], e);
    }
    vf__json_free(root);
    if (s) return s;
    /* Tensors must tile the data section exactly: sorted by offset, each starts where the last ended. */
    if (f->n > 1) qsort(f->e, (size_t)f->n, sizeof *f->e, by_begin);
    size_t at = 0;
    for (int64_t i = 0; i < f->n; i++) {
        if (f->e[i].begin != at)
            return vf__error(VF_ERR_FORMAT, "%s: tensor '%s' starts at data offset %zu, expected %zu (%s)", p, f->e[i].name,
                             f->e[i].begin, at, f->e[i].begin < at ? "overlap" : "gap");
        at = f->e[i].end;
    }
    if (at != f->data_len)
        return vf__error(VF_ERR_FORMAT, "%s: the tensors cover %zu bytes of data, the file has %zu", p, at, f->data_len);
    if (f->n > 1) qsort(f->e, (size_t)f->n, sizeof *f->e, by_name);
    for (int64_t i = 1; i < f->n; i++)
        if (strcmp(f->e[i - 1].name, f->e[i].name) == 0)
            return vf__error(VF_ERR_FORMAT, "%s: tensor '%s' appears twice", p, f->e[i].name);
    return VF_OK;
}

static vf_status finish_open(vf_st_file *f, vf_st_file **out)
{
    vf_status s = parse_file(f);
    if (s) {
        vf_st_close(f);
        return s;
    }
    *out = f;
    return VF_OK;
}

vf_status vf_st_open(const char *path, vf_st_file **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "vf_st_open: NULL output");
    *out = NULL;
    if (!path) return vf__error(VF_ERR_ARG, "vf_st_open: NULL path");
    vf_st_file *f = vf_calloc(1, sizeof *f);
    if (!f) return VF_ERR_NOMEM;
    if (!(f->path = dup_n(path, strlen(path)))) {
        vf_st_close(f);
        return VF_ERR_NOMEM;
    }
    vf_status s = vf__read_file(path, &f->bytes, &f->len);
    if (s) {
        vf_st_close(f);
        return s;
    }
    return finish_open(f, out);
}

vf_status vf_st_open_buffer(const char *name, const void *bytes, size_t len, vf_st_file **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "vf_st_open_buffer: NULL output");
    *out = NULL;
    if (!bytes && len) return vf__error(VF_ERR_ARG, "vf_st_open_buffer: NULL bytes");
    if (!name) name = "<safetensors>";
    vf_st_file *f = vf_calloc(1, sizeof *f);
    if (!f) return VF_ERR_NOMEM;
    f->path = dup_n(name, strlen(name));
    f->bytes = vf_malloc(len + 1);
    if (!f->path || !f->bytes) {
        vf_st_close(f);
        return VF_ERR_NOMEM;
    }
    f->bytes[len] = 0; /* as vf__read_file leaves it: the parser may look one byte past a short file */
    if (len) memcpy(f->bytes, bytes, len);
    f->len = len;
    return finish_open(f, out);
}

static const st_entry *find(const vf_st_file *f, const char *name)
{
    if (!f || !name || f->n == 0) return NULL;
    st_entry key;
    key.name = (char *)name;
    return bsearch(&key, f->e, (size_t)f->n, sizeof *f->e, by_name);
}

int64_t vf_st_count(const vf_st_file *f) { return f ? f->n : 0; }

const char *vf_st_name(const vf_st_file *f, int64_t i) { return f && i >= 0 && i < f->n ? f->e[i].name : NULL; }

int vf_st_has(const vf_st_file *f, const char *name) { return find(f, name) != NULL; }

static vf_status missing(const vf_st_file *f, const char *name)
{
    return vf__error(VF_ERR_ARG, "%s: no tensor named '%s'", f ? f->path : "safetensors", name ? name : "(null)");
}

vf_status vf_st_info(const vf_st_file *f, const char *name, vf_st_dtype *dtype, int *ndim, int64_t *shape,
                     const char **dtype_name)
{
    const st_entry *e = find(f, name);
    if (!e) return missing(f, name);
    if (dtype) *dtype = e->info->dtype;
    if (ndim) *ndim = e->ndim;
    if (shape)
        for (int i = 0; i < e->ndim; i++) shape[i] = e->shape[i];
    if (dtype_name) *dtype_name = e->info->name;
    return VF_OK;
}

static vf_status convertible(const vf_st_file *f, const st_entry *e)
{
    if (!e->info->convertible)
        return vf__error(VF_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s, which cannot be converted", f->path, e->name,
                         e->info->name);
    return VF_OK;
}

vf_status vf_st_get(const vf_st_file *f, const char *name, vf_tensor *out)
{
    if (!out) return vf__error(VF_ERR_ARG, "vf_st_get: NULL output");
    memset(out, 0, sizeof *out);
    const st_entry *e = find(f, name);
    if (!e) return missing(f, name);
    vf_status s = convertible(f, e);
    if (s) return s;
    if (e->ndim > VF_MAX_DIMS)
        return vf__error(VF_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions (vf_tensor holds %d; use vf_st_get_into)",
                         f->path, name, e->ndim, VF_MAX_DIMS);
    if ((s = vf_tensor_alloc(out, e->ndim, e->shape)) != VF_OK) return s;
    vf__convert(out->data, f->data + e->begin, e->numel, e->info->elem, 0);
    return VF_OK;
}

/* The entry for a copy of tensor `name` into n values at dst (checked: present, convertible, n values). */
static vf_status entry_for_copy(const vf_st_file *f, const char *name, const void *dst, int64_t n, const st_entry **out)
{
    const st_entry *e = find(f, name);
    if (!e) return missing(f, name);
    vf_status s = convertible(f, e);
    if (s) return s;
    if (n < 0 || (uint64_t)n != (uint64_t)e->numel)
        return vf__error(VF_ERR_SHAPE, "%s: tensor '%s' has %zu values, expected %lld", f->path, name, e->numel,
                         (long long)n);
    if (n && !dst) return vf__error(VF_ERR_ARG, "%s: tensor '%s': NULL destination", f->path, name);
    *out = e;
    return VF_OK;
}

vf_status vf_st_get_into(const vf_st_file *f, const char *name, vf_real *dst, int64_t n)
{
    const st_entry *e = NULL;
    vf_status s = entry_for_copy(f, name, dst, n, &e);
    if (s == VF_OK) vf__convert(dst, f->data + e->begin, e->numel, e->info->elem, 0);
    return s;
}

vf_status vf_st_get_into_f64(const vf_st_file *f, const char *name, double *dst, int64_t n)
{
    const st_entry *e = NULL;
    vf_status s = entry_for_copy(f, name, dst, n, &e);
    if (s == VF_OK) vf__convert_f64(dst, f->data + e->begin, e->numel, e->info->elem, 0);
    return s;
}

const char *vf_st_meta(const vf_st_file *f, const char *key)
{
    if (!f || !key) return NULL;
    for (int64_t i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta_key[i], key) == 0) return f->meta_val[i];
    return NULL;
}

int64_t vf_st_meta_count(const vf_st_file *f) { return f ? f->nmeta : 0; }

const char *vf_st_meta_key(const vf_st_file *f, int64_t i) { return f && i >= 0 && i < f->nmeta ? f->meta_key[i] : NULL; }
