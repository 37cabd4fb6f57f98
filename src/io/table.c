/* table.c — vf_read_table / vf_write_table: pick the format from the file name (or, failing that,
 * from the first bytes), return a finite [n, d] table. */
#include <math.h>
#include <stdio.h>
#include "io_internal.h"

typedef enum kind { K_CSV, K_NPY, K_IDX, K_SNIFF } kind;

/* Format from the name, ignoring a trailing ".gz". */
static kind kind_of(const char *path)
{
    size_t n = strlen(path);
    if (vf__ends_with(path, ".gz")) n -= 3;
    const char *base = path;
    for (size_t i = 0; i < n; i++)
        if (path[i] == '/') base = path + i + 1;
    size_t bn = (size_t)(path + n - base);
    char low[256];
    if (bn >= sizeof low) bn = sizeof low - 1;
    for (size_t i = 0; i < bn; i++) {
        char c = base[i];
        low[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    low[bn] = 0;
    if (vf__ends_with(low, ".csv") || vf__ends_with(low, ".tsv") || vf__ends_with(low, ".txt")) return K_CSV;
    if (vf__ends_with(low, ".npy")) return K_NPY;
    if (strstr(low, "idx")) return K_IDX;
    return K_SNIFF;
}

static kind sniff(const unsigned char *d, size_t len)
{
    if (len >= 6 && memcmp(d, "\x93NUMPY", 6) == 0) return K_NPY;
    if (len >= 4 && d[0] == 0 && d[1] == 0 &&
        (d[2] == 8 || d[2] == 9 || d[2] == 0x0B || d[2] == 0x0C || d[2] == 0x0D || d[2] == 0x0E))
        return K_IDX;
    return K_CSV;
}

/* View an owned array of any rank as [shape[0], rest] (0-D: [1, 1]; 1-D: [n, 1]). */
static void as_table(vf_tensor *t)
{
    int64_t n = t->ndim == 0 ? 1 : t->shape[0], rest = 1;
    for (int i = 1; i < t->ndim; i++) rest *= t->shape[i];
    void *owned = t->owned;
    int64_t shape[2] = {n, rest};
    *t = vf_tensor_wrap(t->data, 2, shape);
    t->owned = owned;
}

static vf_status check_finite(const char *path, const vf_tensor *t)
{
    int64_t n = t->shape[0], d = t->shape[1];
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) {
            vf_real v = t->data[i * d + j];
            if (!isfinite(v))
                return vf__error(VF_ERR_NUMERIC, "%s: row %lld, column %lld: %s (a finite number is required)", path,
                                 (long long)(i + 1), (long long)(j + 1),
                                 isnan(v) ? "NaN" : "infinity, or a value beyond this build's precision");
        }
    return VF_OK;
}

vf_status vf_read_table(const char *path, vf_tensor *out)
{
    if (!out) return vf__error(VF_ERR_ARG, "vf_read_table: NULL output");
    memset(out, 0, sizeof *out);
    if (!path) return vf__error(VF_ERR_ARG, "vf_read_table: NULL path");
    unsigned char *data;
    size_t len;
    vf_status s = vf__read_file(path, &data, &len);
    if (s) return s;
    kind k = kind_of(path);
    if (k == K_SNIFF) k = sniff(data, len);
    if (k == K_CSV && vf__looks_like_safetensors(data, len, len)) {
        vf_free(data);
        return vf__error(VF_ERR_FORMAT, "%s is a safetensors file (a model?), not a data table (.csv, .npy, IDX)",
                         path);
    }
    if (k == K_CSV) {
        s = vf_parse_csv(path, (const char *)data, len, NULL, out, NULL);
        vf_free(data);
        return s;
    }
    s = k == K_NPY ? vf__npy_parse(path, data, len, out) : vf__idx_parse(path, data, len, out);
    vf_free(data);
    if (s) return s;
    as_table(out);
    if (out->ndim == 2 && out->shape[1] == 0 && out->shape[0] > 0) { /* rows of nothing: say so, not "no rows" later */
        long long rows = (long long)out->shape[0];
        vf_tensor_free(out);
        return vf__error(VF_ERR_FORMAT, "%s: the rows have no columns (shape [%lld, 0])", path, rows);
    }
    if ((s = check_finite(path, out)) != VF_OK) vf_tensor_free(out);
    return s;
}

vf_status vf_write_table(const char *path, const vf_tensor *x)
{
    if (!path || !x) return vf__error(VF_ERR_ARG, "vf_write_table: NULL argument");
    if (x->ndim != 1 && x->ndim != 2)
        return vf__error(VF_ERR_SHAPE, "%s: a table is [n] or [n, d], got %d dimensions", path, x->ndim);
    if (x->shape[0] < 0 || (x->ndim == 2 && x->shape[1] < 0))
        return vf__error(VF_ERR_SHAPE, "%s: negative extent in the table's shape", path);
    if (!x->data && x->shape[0] * (x->ndim == 2 ? x->shape[1] : 1) > 0)
        return vf__error(VF_ERR_ARG, "%s: the tensor has no data", path);
    if (vf__ends_with(path, ".npy")) return vf_npy_write(path, x);
    if (vf__ends_with(path, ".csv")) return vf_write_csv(path, x, NULL);
    return vf__error(VF_ERR_UNSUPPORTED, "%s: cannot tell the format from the name (use .npy or .csv)", path);
}
