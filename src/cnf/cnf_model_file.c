/* cnf_model_file.c — vf_cnf_model_save / vf_cnf_model_load: the model's settings as JSON in the
 * safetensors metadata ("cnf"), the field's parameters as named tensors (layout in vf_cnf_model.h).
 * Tensors are read and checked by the flow files' loader (vf__model_load_tensors). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cnf/cnf_internal.h"
#include "flows/model_internal.h"
#include "io/json.h"
#include "varflow/vf_cnf_model.h"

#define KEY_FORMAT "format"
#define KEY_CNF "cnf"

static const char *const coupling_names[] = {"independent", "ot", "sinkhorn"};
static const char *const source_names[] = {"gaussian", "student_t", "data"};

/* ---- the settings as JSON ------------------------------------------------------------------ */

typedef struct jbuf {
    char *s;
    size_t n, cap;
    int nomem;
} jbuf;

static void jb_printf(jbuf *b, const char *fmt, ...) VF_PRINTF(2, 3);
static void jb_printf(jbuf *b, const char *fmt, ...)
{
    if (b->nomem) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->nomem = 1;
            return;
        }
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap : 512;
        while (cap <= b->n + (size_t)k) cap *= 2;
        char *s = vf_realloc(b->s, cap);
        if (!s) {
            b->nomem = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

/* The shortest of %.15g, %.16g, %.17g that reads back as x exactly. */
static void jb_number(jbuf *b, double x)
{
    char text[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, x);
        if (strtod(text, NULL) == x) break;
    }
    jb_printf(b, "%s", text);
}

static void jb_array(jbuf *b, const vf_real *x, int64_t n)
{
    jb_printf(b, "[");
    for (int64_t i = 0; i < n; i++) {
        if (i) jb_printf(b, ",");
        jb_number(b, (double)x[i]);
    }
    jb_printf(b, "]");
}

static char *settings_json(const vf_cnf_model *m)
{
    const vf_cnf_spec *s = &m->spec;
    const vf_vfield_params *f = vf_vfield_get_params(m->field); /* the field as built */
    jbuf b = {NULL, 0, 0, 0};
    jb_printf(&b, "{\"objective\":\"%s\",\"dim\":%lld,", vf_cnf_objective_name(s->objective), (long long)f->dim);
    jb_printf(&b, "\"path\":{\"kind\":\"%s\",\"sigma\":", vf_path_name(s->path.kind));
    jb_number(&b, s->path.sigma);
    jb_printf(&b, "},\"coupling\":{\"kind\":\"%s\",\"eps\":", coupling_names[s->coupling.kind]);
    jb_number(&b, s->coupling.eps);
    jb_printf(&b, ",\"max_iter\":%lld", (long long)s->coupling.max_iter);
    jb_printf(&b, "},\"source\":{\"kind\":\"%s\",\"df\":", source_names[s->source.kind]);
    jb_number(&b, s->source.df);
    jb_printf(&b, "},\"p_uncond\":");
    jb_number(&b, s->p_uncond);
    jb_printf(&b, ",\"score\":%d", m->score ? 1 : 0);
    jb_printf(&b, ",\"field\":{\"classes\":%lld,\"class_embedding\":%lld,\"time\":\"%s\",\"time_features\":%lld,"
                  "\"time_max_frequency\":",
              (long long)f->classes, (long long)f->class_embedding, f->time == VF_TIME_INPUT ? "input" : "sinusoidal",
              (long long)f->time_features);
    jb_number(&b, f->time_max_frequency);
    jb_printf(&b, ",\"two_times\":%d,\"residual\":%d,\"hidden\":", f->two_times, f->residual);
    jb_printf(&b, "[");
    for (int i = 0; i < f->n_hidden; i++) jb_printf(&b, "%s%lld", i ? "," : "", (long long)f->hidden[i]);
    jb_printf(&b, "],\"act\":\"%s\",\"zero_init_output\":%d},", vf_activation_name(f->act), f->zero_init_output);
    jb_printf(&b, "\"standardize\":{\"mean\":");
    jb_array(&b, m->mean, f->dim);
    jb_printf(&b, ",\"std\":");
    jb_array(&b, m->std, f->dim);
    jb_printf(&b, "}");
    if (vf__cnf_box_on(&m->box)) {
        jb_printf(&b, ",\"box\":{\"lo\":");
        jb_number(&b, m->box.lo);
        jb_printf(&b, ",\"hi\":");
        jb_number(&b, m->box.hi);
        jb_printf(&b, ",\"alpha\":");
        jb_number(&b, m->box.alpha);
        jb_printf(&b, "}");
    }
    jb_printf(&b, "}");
    if (b.nomem) {
        vf_free(b.s);
        return NULL;
    }
    return b.s;
}

/* ---- save ------------------------------------------------------------------------------------ */

vf_status vf_cnf_model_save(const vf_cnf_model *m, const char *path, int64_t n_extra, const char *const *keys,
                            const char *const *values, int64_t n_tensors, const vf_model_tensor *tensors)
{
    if (!m || !path) return vf__error(VF_ERR_ARG, "vf_cnf_model_save: NULL model or path");
    vf_status s = vf__model_check_extra("vf_cnf_model_save", KEY_CNF, n_extra, keys, values);
    if (s == VF_OK) s = vf__model_check_state_tensors(n_tensors, tensors);
    if (s != VF_OK) return s;
    char *arch = settings_json(m);
    vf_st_writer *w = arch ? vf_st_writer_new() : NULL;
    if (!w) {
        vf_free(arch);
        return vf__error(VF_ERR_NOMEM, "vf_cnf_model_save: out of memory");
    }
    /* version 2 only with a box, so that files without one stay readable by older loaders */
    s = vf__model_set_meta(w, VF_CNF_MODEL_FORMAT, vf__cnf_box_on(&m->box) ? 2 : 1, KEY_CNF, arch, n_extra, keys, values);
    const vf_st_dtype dtype = sizeof(vf_real) == sizeof(double) ? VF_ST_F64 : VF_ST_F32;
    vf_params *p = m->params;
    for (int32_t id = 0; s == VF_OK && id < vf_params_count(p); id++) {
        vf_param_info info;
        s = vf_params_info(p, id, &info);
        if (s == VF_OK) s = vf_st_writer_add(w, info.name, dtype, info.ndim, info.shape, vf_params_data(p, id));
    }
    if (s == VF_OK) s = vf__model_add_state_tensors(w, dtype, n_tensors, tensors);
    if (s == VF_OK) s = vf_st_writer_write(w, path);
    vf_st_writer_free(w);
    vf_free(arch);
    return s;
}

/* ---- load: the settings ------------------------------------------------------------------------ */

/* Member `key` of object o with the given type, or NULL after recording a VF_ERR_FORMAT message. */
static const vf__json *member(const vf__json *o, const char *where, const char *key, vf__json_type type)
{
    static const char *const type_names[] = {"null", "a boolean", "a number", "a string", "an array", "an object"};
    const vf__json *v = vf__json_get(o, key);
    if (!v) {
        vf__error(VF_ERR_FORMAT, "%s has no \"%s\"", where, key);
        return NULL;
    }
    if (v->type != type) {
        vf__error(VF_ERR_FORMAT, "%s: \"%s\" is not %s", where, key, type_names[type]);
        return NULL;
    }
    return v;
}

static int get_number(const vf__json *o, const char *where, const char *key, double *out)
{
    const vf__json *v = member(o, where, key, VF__JSON_NUMBER);
    if (!v) return -1;
    *out = v->number;
    return 0;
}

static int get_int(const vf__json *o, const char *where, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    const vf__json *v = member(o, where, key, VF__JSON_NUMBER);
    if (!v) return -1;
    if (vf__json_int64(v, out) != 0 || *out < lo || *out > hi) {
        vf__error(VF_ERR_FORMAT, "%s: \"%s\" is %s, not a whole number in %lld..%lld", where, key, v->str, (long long)lo,
                  (long long)hi);
        return -1;
    }
    return 0;
}

/* A string member that must be one of names[0..k) (or, with lookup, a name lookup() knows). */
static int get_name(const vf__json *o, const char *where, const char *key, int (*lookup)(const char *), int *out)
{
    const vf__json *v = member(o, where, key, VF__JSON_STRING);
    if (!v) return -1;
    *out = lookup(v->str);
    if (*out < 0) {
        vf__error(VF_ERR_FORMAT, "%s: unknown %s \"%s\"", where, key, v->str);
        return -1;
    }
    return 0;
}

static int coupling_lookup(const char *s) { return vf_coupling_from_name(s); }
static int source_lookup(const char *s)
{
    for (int k = 0; k < 3; k++)
        if (strcmp(s, source_names[k]) == 0) return k;
    return -1;
}
static int time_lookup(const char *s) { return strcmp(s, "input") == 0 ? 0 : strcmp(s, "sinusoidal") == 0 ? 1 : -1; }

/* The optional box of the "cnf" object into *box; *present = whether there is one. */
static vf_status read_box(const vf__json *root, vf_cnf_box *box, int *present)
{
    *present = vf__json_get(root, "box") != NULL;
    if (!*present) return VF_OK;
    const vf__json *b = member(root, "\"cnf\"", "box", VF__JSON_OBJECT);
    if (!b || get_number(b, "box", "lo", &box->lo) || get_number(b, "box", "hi", &box->hi) ||
        get_number(b, "box", "alpha", &box->alpha))
        return VF_ERR_FORMAT;
    return VF_OK;
}

/* The spec and standardization from the "cnf" object; VF_ERR_FORMAT with the message recorded. */
static vf_status read_settings(const vf__json *root, vf_cnf_spec *spec, vf_real **mean, vf_real **std)
{
    const int64_t big = INT64_C(1) << 30;
    if (root->type != VF__JSON_OBJECT) return vf__error(VF_ERR_FORMAT, "\"cnf\" is not a JSON object");
    int objective, kind;
    int64_t dim;
    if (get_name(root, "\"cnf\"", "objective", vf_cnf_objective_from_name, &objective) ||
        get_int(root, "\"cnf\"", "dim", 1, big, &dim))
        return VF_ERR_FORMAT;
    *spec = vf_cnf_spec_default((vf_cnf_objective)objective, dim);
    const vf__json *path = member(root, "\"cnf\"", "path", VF__JSON_OBJECT);
    const vf__json *coup = member(root, "\"cnf\"", "coupling", VF__JSON_OBJECT);
    const vf__json *src = member(root, "\"cnf\"", "source", VF__JSON_OBJECT);
    const vf__json *field = member(root, "\"cnf\"", "field", VF__JSON_OBJECT);
    const vf__json *stdz = member(root, "\"cnf\"", "standardize", VF__JSON_OBJECT);
    if (!path || !coup || !src || !field || !stdz) return VF_ERR_FORMAT;
    if (get_name(path, "path", "kind", vf_path_from_name, &kind) || get_number(path, "path", "sigma", &spec->path.sigma))
        return VF_ERR_FORMAT;
    spec->path.kind = (vf_path_kind)kind;
    if (get_name(coup, "coupling", "kind", coupling_lookup, &kind) ||
        get_number(coup, "coupling", "eps", &spec->coupling.eps))
        return VF_ERR_FORMAT;
    spec->coupling.kind = (vf_coupling_kind)kind;
    if (get_int(coup, "coupling", "max_iter", 1, big, &spec->coupling.max_iter)) return VF_ERR_FORMAT;
    if (get_name(src, "source", "kind", source_lookup, &kind) || get_number(src, "source", "df", &spec->source.df))
        return VF_ERR_FORMAT;
    spec->source.kind = (vf_cnf_source_kind)kind;
    if (get_number(root, "\"cnf\"", "p_uncond", &spec->p_uncond)) return VF_ERR_FORMAT;
    int64_t score;
    if (get_int(root, "\"cnf\"", "score", 0, 1, &score)) return VF_ERR_FORMAT;
    spec->score = (int)score;
    vf_vfield_params *f = &spec->field;
    int64_t two, res, zero, tf;
    int time, act;
    if (get_int(field, "field", "classes", 0, big, &f->classes) ||
        get_int(field, "field", "class_embedding", 0, big, &f->class_embedding) ||
        get_name(field, "field", "time", time_lookup, &time) || get_int(field, "field", "time_features", 0, big, &tf) ||
        get_number(field, "field", "time_max_frequency", &f->time_max_frequency) ||
        get_int(field, "field", "two_times", 0, 1, &two) || get_int(field, "field", "residual", 0, 1, &res) ||
        get_name(field, "field", "act", vf_activation_from_name, &act) ||
        get_int(field, "field", "zero_init_output", 0, 1, &zero))
        return VF_ERR_FORMAT;
    f->time = (vf_time_embedding)time;
    f->time_features = tf;
    f->two_times = (int)two;
    f->residual = (int)res;
    f->zero_init_output = (int)zero;
    f->act = (vf_activation)act;
    const vf__json *hid = member(field, "field", "hidden", VF__JSON_ARRAY);
    if (!hid) return VF_ERR_FORMAT;
    if (hid->n > VF_NN_MAX_HIDDEN)
        return vf__error(VF_ERR_FORMAT, "field: %zu hidden layers (at most %d)", hid->n, VF_NN_MAX_HIDDEN);
    f->n_hidden = (int)hid->n;
    for (size_t i = 0; i < hid->n; i++) {
        int64_t w;
        if (hid->items[i].type != VF__JSON_NUMBER || vf__json_int64(&hid->items[i], &w) != 0 || w < 1 ||
            w > VF_NN_MAX_WIDTH) /* the limit of specs: a corrupt file must not build a huge network */
            return vf__error(VF_ERR_FORMAT, "field: hidden width %zu is not a whole number in [1, %d]", i,
                             VF_NN_MAX_WIDTH);
        f->hidden[i] = w;
    }
    const vf__json *mu = member(stdz, "standardize", "mean", VF__JSON_ARRAY);
    const vf__json *sd = mu ? member(stdz, "standardize", "std", VF__JSON_ARRAY) : NULL;
    if (!mu || !sd) return VF_ERR_FORMAT;
    if ((int64_t)mu->n != dim || (int64_t)sd->n != dim)
        return vf__error(VF_ERR_FORMAT, "standardize: mean and std need %lld numbers each (got %zu, %zu)", (long long)dim,
                         mu->n, sd->n);
    *mean = vf_malloc((size_t)dim * sizeof **mean);
    *std = vf_malloc((size_t)dim * sizeof **std);
    if (!*mean || !*std) return vf__error(VF_ERR_NOMEM, "out of memory");
    for (int64_t j = 0; j < dim; j++) {
        if (mu->items[j].type != VF__JSON_NUMBER || sd->items[j].type != VF__JSON_NUMBER)
            return vf__error(VF_ERR_FORMAT, "standardize: entry %lld is not a number", (long long)j);
        (*mean)[j] = (vf_real)mu->items[j].number;
        (*std)[j] = (vf_real)sd->items[j].number;
    }
    return VF_OK;
}

static vf_status load_from(const vf_st_file *st, vf_cnf_model **out, vf_model_meta *extra)
{
    vf__json *root = NULL;
    vf_status s = vf__model_read_header(st, VF_CNF_MODEL_FORMAT, VF_CNF_MODEL_FORMAT_VERSION, KEY_CNF,
                                        "the model's settings", "the \"" KEY_CNF "\" settings are", &root);
    if (s != VF_OK) return s;
    vf_cnf_spec spec;
    vf_cnf_box box = {0, 0, VF_CNF_BOX_ALPHA};
    int has_box = 0;
    vf_real *mean = NULL, *std = NULL;
    s = read_settings(root, &spec, &mean, &std);
    if (s == VF_OK) s = read_box(root, &box, &has_box);
    vf__json_free(root);
    vf_cnf_model *m = NULL;
    if (s == VF_OK) {
        s = vf_cnf_model_new(&spec, 0, &m);
        if (s == VF_ERR_ARG) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", vf_last_error());
            s = vf__error(VF_ERR_FORMAT, "the settings are invalid: %s", msg);
        }
    }
    if (s == VF_OK && vf_cnf_model_set_standardization(m, mean, std) != VF_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", vf_last_error());
        s = vf__error(VF_ERR_FORMAT, "standardize: %s", msg);
    }
    if (s == VF_OK && has_box && !vf__cnf_box_on(&box))
        s = vf__error(VF_ERR_FORMAT, "box: need lo < hi (got %g, %g)", box.lo, box.hi);
    else if (s == VF_OK && has_box && vf_cnf_model_set_box(m, box.lo, box.hi, box.alpha) != VF_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", vf_last_error());
        s = vf__error(VF_ERR_FORMAT, "box: %s", msg);
    }
    vf_free(mean);
    vf_free(std);
    if (s == VF_OK) s = vf__model_load_tensors(st, m->params);
    if (s == VF_OK && extra) s = vf__model_copy_extra(st, KEY_CNF, extra);
    if (s != VF_OK) {
        vf_cnf_model_free(m);
        return s;
    }
    *out = m;
    return VF_OK;
}

vf_status vf_cnf_model_load(const char *path, vf_cnf_model **out, vf_model_meta *extra)
{
    if (out) *out = NULL;
    if (extra) {
        extra->n = 0;
        extra->keys = NULL;
        extra->values = NULL;
    }
    if (!path || !out) return vf__error(VF_ERR_ARG, "vf_cnf_model_load: NULL path or output");
    vf_st_file *st = NULL;
    vf_status s = vf_st_open(path, &st);
    if (s != VF_OK) return s; /* the reader's message names the file */
    s = load_from(st, out, extra);
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

int vf_cnf_model_file_is_cnf(const char *path)
{
    vf_st_file *st = NULL;
    if (!path || vf_st_open(path, &st) != VF_OK) return 0;
    const char *fmt = vf_st_meta(st, KEY_FORMAT);
    int yes = fmt && strcmp(fmt, VF_CNF_MODEL_FORMAT) == 0;
    vf_st_close(st);
    return yes;
}
