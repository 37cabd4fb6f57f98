/* model_file.c — vf_flow_save / vf_flow_load: a flow's architecture (its pieces' describe() objects)
 * in the safetensors metadata and its parameters as named tensors (layout in vf_model.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include "flows/model_internal.h"

#define KEY_FORMAT "format"
#define KEY_VERSION "format_version"
#define KEY_FLOW "flow"

/* "format", "format_version" and the architecture's key model_key are reserved. */
static int reserved_key(const char *k, const char *model_key)
{
    return strcmp(k, KEY_FORMAT) == 0 || strcmp(k, KEY_VERSION) == 0 || strcmp(k, model_key) == 0;
}

vf_status vf__model_check_extra(const char *who, const char *model_key, int64_t n_extra, const char *const *keys,
                                const char *const *values)
{
    if (n_extra < 0 || (n_extra > 0 && (!keys || !values)))
        return vf__error(VF_ERR_ARG, "%s: %lld extra metadata entries without arrays", who, (long long)n_extra);
    for (int64_t i = 0; i < n_extra; i++) {
        if (!keys[i] || !values[i] || keys[i][0] == '\0')
            return vf__error(VF_ERR_ARG, "%s: extra metadata entry %lld has a NULL or empty key or value", who,
                             (long long)i);
        if (reserved_key(keys[i], model_key))
            return vf__error(VF_ERR_ARG, "%s: extra metadata key \"%s\" is reserved", who, keys[i]);
    }
    return VF_OK;
}

vf_status vf__model_set_meta(vf_st_writer *w, const char *format, int version, const char *model_key, const char *arch,
                             int64_t n_extra, const char *const *keys, const char *const *values)
{
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    vf_status s = vf_st_writer_set_meta(w, KEY_FORMAT, format);
    if (s == VF_OK) s = vf_st_writer_set_meta(w, KEY_VERSION, v);
    if (s == VF_OK) s = vf_st_writer_set_meta(w, model_key, arch);
    for (int64_t i = 0; s == VF_OK && i < n_extra; i++) s = vf_st_writer_set_meta(w, keys[i], values[i]);
    return s;
}

/* ---- a growing string --------------------------------------------------------------------- */

typedef struct strbuf {
    char *s;
    size_t n, cap;
} strbuf;

static vf_status sb_add(strbuf *b, const char *text)
{
    size_t k = strlen(text);
    if (b->n + k + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + k + 1) cap *= 2;
        char *s = vf_realloc(b->s, cap);
        if (!s) return VF_ERR_NOMEM;
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->n, text, k + 1);
    b->n += k;
    return VF_OK;
}

/* {"dim":d,"context":c,"base":{...},"transforms":[{...},...]} */
static vf_status architecture_json(const vf_flow *f, strbuf *b)
{
    char head[96];
    snprintf(head, sizeof head, "{\"dim\":%lld,\"context\":%lld,\"base\":", (long long)vf_flow_dim(f),
             (long long)vf_flow_context_dim(f));
    char *piece = NULL;
    vf_status s = sb_add(b, head);
    if (s == VF_OK) s = vf__model_describe_dist(vf_flow_base(f), &piece);
    if (s == VF_OK) s = sb_add(b, piece);
    vf_free(piece);
    if (s == VF_OK) s = sb_add(b, ",\"transforms\":[");
    for (int i = 0; s == VF_OK && i < vf_flow_n_transforms(f); i++) {
        piece = NULL;
        if (i > 0) s = sb_add(b, ",");
        if (s == VF_OK) s = vf__model_describe_transform(vf_flow_transform(f, i), &piece);
        if (s == VF_OK) s = sb_add(b, piece);
        vf_free(piece);
    }
    if (s == VF_OK) s = sb_add(b, "]}");
    return s;
}

/* ---- save --------------------------------------------------------------------------------- */

static int is_state(const char *name) { return strncmp(name, VF_MODEL_STATE_PREFIX, strlen(VF_MODEL_STATE_PREFIX)) == 0; }

/* The extra tensors' names and shapes. */
vf_status vf__model_check_state_tensors(int64_t n, const vf_model_tensor *tensors)
{
    if (n < 0 || (n > 0 && !tensors))
        return vf__error(VF_ERR_ARG, "vf_flow_save_with: %lld extra tensors without an array", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        const vf_model_tensor *x = &tensors[i];
        if (!x->name || !is_state(x->name) || (!x->data) == (!x->data_f64))
            return vf__error(VF_ERR_ARG, "vf_flow_save_with: extra tensor %lld needs data or data_f64 (one of them) and "
                             "a name starting with \"%s\"", (long long)i, VF_MODEL_STATE_PREFIX);
        if (x->ndim < 0 || x->ndim > VF_MAX_DIMS)
            return vf__error(VF_ERR_ARG, "vf_flow_save_with: extra tensor \"%s\" has %d dimensions", x->name, x->ndim);
        for (int k = 0; k < x->ndim; k++)
            if (x->shape[k] < 0)
                return vf__error(VF_ERR_ARG, "vf_flow_save_with: extra tensor \"%s\" has a negative extent", x->name);
        for (int64_t j = 0; j < i; j++)
            if (strcmp(tensors[j].name, x->name) == 0)
                return vf__error(VF_ERR_ARG, "vf_flow_save_with: extra tensor \"%s\" appears twice", x->name);
    }
    return VF_OK;
}

vf_status vf__model_add_state_tensors(vf_st_writer *w, vf_st_dtype dtype, int64_t n, const vf_model_tensor *tensors)
{
    vf_status s = VF_OK;
    for (int64_t i = 0; s == VF_OK && i < n; i++) {
        const vf_model_tensor *x = &tensors[i];
        s = x->data_f64 ? vf_st_writer_add_f64(w, x->name, x->ndim, x->shape, x->data_f64)
                        : vf_st_writer_add(w, x->name, dtype, x->ndim, x->shape, x->data);
    }
    return s;
}

vf_status vf_flow_save(const vf_flow *f, vf_params *p, const char *path, int64_t n_extra, const char *const *keys,
                       const char *const *values)
{
    return vf_flow_save_with(f, p, path, n_extra, keys, values, 0, NULL);
}

vf_status vf_flow_save_with(const vf_flow *f, vf_params *p, const char *path, int64_t n_extra,
                            const char *const *keys, const char *const *values, int64_t n_tensors,
                            const vf_model_tensor *tensors)
{
    if (!f || !p || !path) return vf__error(VF_ERR_ARG, "vf_flow_save: NULL flow, parameters or path");
    if (!vf_params_is_finalized(p)) return vf__error(VF_ERR_ARG, "vf_flow_save: the parameter store is not finalized");
    vf_status s = vf__model_check_extra("vf_flow_save", KEY_FLOW, n_extra, keys, values);
    if (s == VF_OK) s = vf__model_check_state_tensors(n_tensors, tensors);
    if (s != VF_OK) return s;
    strbuf arch = {NULL, 0, 0};
    s = architecture_json(f, &arch);
    vf_st_writer *w = s == VF_OK ? vf_st_writer_new() : NULL;
    if (s == VF_OK && !w) s = VF_ERR_NOMEM;
    if (s == VF_OK)
        s = vf__model_set_meta(w, VF_MODEL_FORMAT, VF_MODEL_FORMAT_VERSION, KEY_FLOW, arch.s, n_extra, keys, values);
    const vf_st_dtype dtype = sizeof(vf_real) == sizeof(double) ? VF_ST_F64 : VF_ST_F32;
    for (int32_t id = 0; s == VF_OK && id < vf_params_count(p); id++) {
        vf_param_info info;
        s = vf_params_info(p, id, &info);
        if (s == VF_OK) s = vf_st_writer_add(w, info.name, dtype, info.ndim, info.shape, vf_params_data(p, id));
    }
    for (int32_t id = 0; s == VF_OK && id < vf_params_buffer_count(p); id++) {
        vf_param_info info;
        s = vf_params_buffer_info(p, id, &info);
        if (s == VF_OK) s = vf_st_writer_add(w, info.name, dtype, info.ndim, info.shape, vf_params_buffer_data(p, id));
    }
    if (s == VF_OK) s = vf__model_add_state_tensors(w, dtype, n_tensors, tensors);
    if (s == VF_OK) s = vf_st_writer_write(w, path);
    vf_st_writer_free(w);
    vf_free(arch.s);
    return s;
}

/* ---- load --------------------------------------------------------------------------------- */

void vf_model_meta_free(vf_model_meta *m)
{
    if (!m) return;
    for (int64_t i = 0; i < m->n; i++) {
        vf_free(m->keys[i]);
        vf_free(m->values[i]);
    }
    vf_free(m->keys);
    vf_free(m->values);
    m->n = 0;
    m->keys = NULL;
    m->values = NULL;
}

const char *vf_model_meta_get(const vf_model_meta *m, const char *key)
{
    if (!m || !key) return NULL;
    for (int64_t i = 0; i < m->n; i++)
        if (strcmp(m->keys[i], key) == 0) return m->values[i];
    return NULL;
}

static char *dup_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = vf_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

vf_status vf__model_copy_extra(const vf_st_file *st, const char *model_key, vf_model_meta *m)
{
    int64_t total = vf_st_meta_count(st);
    size_t cap = (size_t)(total > 0 ? total : 1);
    m->keys = vf_calloc(cap, sizeof *m->keys);
    m->values = vf_calloc(cap, sizeof *m->values);
    if (!m->keys || !m->values) return VF_ERR_NOMEM;
    for (int64_t i = 0; i < total; i++) {
        const char *k = vf_st_meta_key(st, i);
        if (reserved_key(k, model_key)) continue;
        m->keys[m->n] = dup_string(k);
        m->values[m->n] = m->keys[m->n] ? dup_string(vf_st_meta(st, k)) : NULL;
        if (!m->keys[m->n] || !m->values[m->n]) {
            vf_free(m->keys[m->n]);
            vf_free(m->values[m->n]);
            m->keys[m->n] = m->values[m->n] = NULL;
            return VF_ERR_NOMEM;
        }
        m->n++;
    }
    return VF_OK;
}

/* The format keys: "format" must be `format`, "format_version" an integer 1..version. */
static vf_status check_format(const vf_st_file *st, const char *format, int version)
{
    const char *fmt = vf_st_meta(st, KEY_FORMAT);
    if (!fmt) return vf__error(VF_ERR_FORMAT, "no \"%s\" metadata: not a varflow model file", KEY_FORMAT);
    if (strcmp(fmt, format) != 0) return vf__error(VF_ERR_FORMAT, "format \"%s\" is not \"%s\"", fmt, format);
    const char *ver = vf_st_meta(st, KEY_VERSION);
    if (!ver) return vf__error(VF_ERR_FORMAT, "no \"%s\" metadata", KEY_VERSION);
    char *end = NULL;
    long v = strtol(ver, &end, 10);
    if (end == ver || *end != '\0' || v < 1)
        return vf__error(VF_ERR_FORMAT, "format version \"%s\" is not a positive integer", ver);
    if (v > version)
        return vf__error(VF_ERR_FORMAT, "format version %ld is newer than this library reads (%d)", v, version);
    return VF_OK;
}

/* Rebuild base and transforms from the parsed architecture into p; the flow owns them. */
static vf_status build_flow(const vf__json *arch, vf_params *p, vf_flow **out)
{
    if (arch->type != VF__JSON_OBJECT) return vf__error(VF_ERR_FORMAT, "the architecture is not a JSON object");
    const vf__json *jd = vf__json_get(arch, "dim"), *jc = vf__json_get(arch, "context");
    const vf__json *jb = vf__json_get(arch, "base"), *jt = vf__json_get(arch, "transforms");
    int64_t dim = 0, ctx = 0;
    if (!jd || jd->type != VF__JSON_NUMBER || vf__json_int64(jd, &dim) != 0 || !jc || jc->type != VF__JSON_NUMBER ||
        vf__json_int64(jc, &ctx) != 0)
        return vf__error(VF_ERR_FORMAT, "the architecture lacks integer \"dim\" and \"context\"");
    if (!jb) return vf__error(VF_ERR_FORMAT, "the architecture has no \"base\"");
    if (!jt || jt->type != VF__JSON_ARRAY) return vf__error(VF_ERR_FORMAT, "the architecture has no \"transforms\" array");
    if (jt->n > 1000000) return vf__error(VF_ERR_FORMAT, "%zu transforms", jt->n);
    vf_dist *base = NULL;
    vf_status s = vf__model_dist_build(jb, p, "base", &base);
    if (s != VF_OK) {
        if (s == VF_ERR_FORMAT) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", vf_last_error());
            s = vf__error(VF_ERR_FORMAT, "base: %s", msg);
        }
        return s;
    }
    int n = (int)jt->n;
    vf_transform **tr = vf_calloc((size_t)(n > 0 ? n : 1), sizeof *tr);
    if (!tr) {
        vf_dist_free(base);
        return VF_ERR_NOMEM;
    }
    for (int i = 0; s == VF_OK && i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "transforms.%d", i);
        s = vf__model_transform_build(&jt->items[i], p, name, &tr[i]);
        if (s == VF_ERR_FORMAT) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", vf_last_error());
            s = vf__error(VF_ERR_FORMAT, "transform %d: %s", i, msg);
        }
    }
    if (s != VF_OK) {
        for (int i = 0; i < n; i++) vf_transform_free(tr[i]);
        vf_free(tr);
        vf_dist_free(base);
        return s;
    }
    s = vf_flow_new(base, n, tr, out); /* owns base and tr[] from here, also on failure */
    vf_free(tr);
    if (s == VF_ERR_ARG) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", vf_last_error());
        return vf__error(VF_ERR_FORMAT, "the pieces do not fit together: %s", msg);
    }
    if (s == VF_OK && (vf_flow_dim(*out) != dim || vf_flow_context_dim(*out) != ctx)) {
        vf_status e = vf__error(VF_ERR_FORMAT, "the architecture records dim %lld context %lld, its pieces have %lld, %lld",
                                (long long)dim, (long long)ctx, (long long)vf_flow_dim(*out),
                                (long long)vf_flow_context_dim(*out));
        vf_flow_free(*out);
        *out = NULL;
        return e;
    }
    return s;
}

vf_status vf__model_load_tensors(const vf_st_file *st, vf_params *p)
{
    const int32_t np = vf_params_count(p);
    for (int32_t j = 0; j < np + vf_params_buffer_count(p); j++) {
        vf_param_info info;
        const int buffer = j >= np;
        const int32_t id = buffer ? j - np : j;
        vf_status s = buffer ? vf_params_buffer_info(p, id, &info) : vf_params_info(p, id, &info);
        if (s != VF_OK) return s;
        if (!vf_st_has(st, info.name)) return vf__error(VF_ERR_FORMAT, "tensor \"%s\" is missing", info.name);
        vf_st_dtype dt;
        int ndim = 0;
        int64_t shape[8];
        const char *dname = NULL;
        s = vf_st_info(st, info.name, &dt, &ndim, shape, &dname);
        if (s != VF_OK) return s;
        if (dt == VF_ST_OTHER) return vf__error(VF_ERR_FORMAT, "tensor \"%s\" has dtype %s, not a float", info.name, dname);
        int same = ndim == info.ndim;
        for (int k = 0; same && k < ndim; k++) same = shape[k] == info.shape[k];
        if (!same) {
            char want[160], got[160];
            size_t a = 0, b = 0;
            for (int k = 0; k < info.ndim && a < sizeof want - 24; k++)
                a += (size_t)snprintf(want + a, sizeof want - a, "%s%lld", k ? ", " : "", (long long)info.shape[k]);
            want[a] = '\0';
            for (int k = 0; k < ndim && b < sizeof got - 24; k++)
                b += (size_t)snprintf(got + b, sizeof got - b, "%s%lld", k ? ", " : "", (long long)shape[k]);
            got[b] = '\0';
            return vf__error(VF_ERR_FORMAT, "tensor \"%s\" has shape [%s], the architecture needs [%s]", info.name, got,
                             want);
        }
        vf_real *values = buffer ? vf_params_buffer_data(p, id) : vf_params_data(p, id);
        s = vf_st_get_into(st, info.name, values, info.numel);
        if (s != VF_OK) return s;
        for (int64_t i = 0; i < info.numel; i++) /* a broken model would give NaN results, not an error */
            if (!isfinite(values[i]))
                return vf__error(VF_ERR_FORMAT, "tensor \"%s\" holds a non-finite value (%g at element %lld)",
                                 info.name, (double)values[i], (long long)i);
    }
    for (int64_t i = 0; i < vf_st_count(st); i++)
        if (!is_state(vf_st_name(st, i)) && vf_params_find(p, vf_st_name(st, i)) < 0 &&
            vf_params_find_buffer(p, vf_st_name(st, i)) < 0)
            return vf__error(VF_ERR_FORMAT, "tensor \"%s\" is not a parameter of the architecture", vf_st_name(st, i));
    return VF_OK;
}

vf_status vf__model_read_header(const vf_st_file *st, const char *format, int version, const char *model_key,
                                const char *what, const char *what_is, vf__json **root)
{
    *root = NULL;
    vf_status s = check_format(st, format, version);
    if (s != VF_OK) return s;
    const char *text = vf_st_meta(st, model_key);
    if (!text) return vf__error(VF_ERR_FORMAT, "no \"%s\" metadata (%s)", model_key, what);
    s = vf__json_parse(text, strlen(text), 16, root);
    if (s == VF_OK || s == VF_ERR_NOMEM) return s;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", vf_last_error());
    return vf__error(VF_ERR_FORMAT, "%s malformed JSON: %s", what_is, msg);
}

/* A model fitted on a box (`fit --box`: metadata "fit.box" = "LO,HI,ALPHA", a logit transform on the
 * box widened by alpha first): its samples are clamped into [LO, HI], as at the end of the fit. */
static vf_status keep_samples_in_box(const vf_st_file *st, vf_flow *f)
{
    const char *box = vf_st_meta(st, "fit.box");
    vf_transform *first = vf__flow_first_transform(f);
    double lo, hi, alpha;
    if (!box || !first || strcmp(first->vt->kind, "logit") != 0 || sscanf(box, "%lf,%lf,%lf", &lo, &hi, &alpha) != 3)
        return VF_OK; /* no box, or a file whose record was edited: its logit's own box holds */
    if (vf__logit_keep_samples_in(first, lo, hi) != VF_OK) vf_clear_error(); /* a box that does not fit: as above */
    return VF_OK;
}

static vf_status load_from(vf_st_file *st, vf_params **pp, vf_flow **ff, vf_model_meta *extra)
{
    vf__json *root = NULL;
    vf_status s = vf__model_read_header(st, VF_MODEL_FORMAT, VF_MODEL_FORMAT_VERSION, KEY_FLOW, "the architecture",
                                        "the architecture is", &root);
    if (s != VF_OK) return s;
    vf_params *p = vf_params_new();
    vf_flow *f = NULL;
    if (!p) s = VF_ERR_NOMEM;
    if (s == VF_OK) s = build_flow(root, p, &f);
    vf__json_free(root);
    if (s == VF_OK) s = vf_params_finalize(p, 0);
    if (s == VF_OK) s = vf__model_load_tensors(st, p);
    if (s == VF_OK) s = keep_samples_in_box(st, f);
    if (s == VF_OK && extra) s = vf__model_copy_extra(st, KEY_FLOW, extra);
    if (s != VF_OK) {
        vf_flow_free(f);
        vf_params_free(p);
        return s;
    }
    *pp = p;
    *ff = f;
    return VF_OK;
}

vf_status vf_flow_load(const char *path, vf_params **p, vf_flow **f, vf_model_meta *extra)
{
    if (p) *p = NULL;
    if (f) *f = NULL;
    if (extra) {
        extra->n = 0;
        extra->keys = NULL;
        extra->values = NULL;
    }
    if (!path || !p || !f) return vf__error(VF_ERR_ARG, "vf_flow_load: NULL path or output");
    vf_st_file *st = NULL;
    vf_status s = vf_st_open(path, &st);
    if (s != VF_OK) return s; /* the reader's message names the file */
    s = load_from(st, p, f, extra);
    vf_st_close(st);
    if (s != VF_OK) {
        if (extra) vf_model_meta_free(extra);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", vf_last_error());
        if (s == VF_ERR_NOMEM && !strstr(msg, "out of memory")) return vf__error(s, "%s: out of memory (%s)", path, msg);
        return vf__error(s == VF_ERR_ARG ? VF_ERR_FORMAT : s, "%s: %s", path, msg);
    }
    return VF_OK;
}
