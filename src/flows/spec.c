/* spec.c — the "NAME[:key=value,...]" parser shared by flow presets, targets and models
 * (syntax in vf_presets.h), and vf_flow_from_spec_after: a preset behind leading transforms. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flows/flow_internal.h"
#include "nn/nn_internal.h"
#include "varflow/vf_presets.h"

static int is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f'; }

static int is_word(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
           ch == '-' || ch == '.';
}

/* Copies text[a, b) into dst [VF_SPEC_MAX_TEXT]; VF_ERR_ARG naming `what` if it is too long. */
static vf_status copy_part(char *dst, const char *text, size_t a, size_t b, const char *what)
{
    if (b - a >= VF_SPEC_MAX_TEXT)
        return vf__error(VF_ERR_ARG, "spec '%.60s': %s at column %zu is longer than %d characters", text, what,
                         a + 1, VF_SPEC_MAX_TEXT - 1);
    memcpy(dst, text + a, b - a);
    dst[b - a] = '\0';
    return VF_OK;
}

vf_status vf_spec_parse(const char *text, vf_spec *out)
{
    if (!out) return vf__error(VF_ERR_ARG, "spec: NULL output");
    memset(out, 0, sizeof *out);
    if (!text || !text[0]) return vf__error(VF_ERR_ARG, "spec: empty spec (expected NAME[:key=value,...])");
    size_t len = strlen(text);
    for (size_t i = 0; i < len; i++)
        if (is_space(text[i]))
            return vf__error(VF_ERR_ARG, "spec '%.60s': whitespace at column %zu (a spec has no spaces)", text, i + 1);
    size_t colon = strcspn(text, ":");
    for (size_t i = 0; i < colon; i++) {
        if (text[i] == '=' || text[i] == ',')
            return vf__error(VF_ERR_ARG,
                             "spec '%.60s': '%c' at column %zu in the name (missing ':' between NAME and "
                             "key=value?)", text, text[i], i + 1);
        if (!is_word(text[i]) && text[i] != '/')
            return vf__error(VF_ERR_ARG, "spec '%.60s': character '%c' at column %zu is not allowed in a name", text,
                             text[i], i + 1);
    }
    if (colon == 0) return vf__error(VF_ERR_ARG, "spec '%.60s': empty name before ':'", text);
    vf_status s = copy_part(out->name, text, 0, colon, "the name");
    if (s != VF_OK) return s;
    if (colon == len) return VF_OK;
    if (colon + 1 == len)
        return vf__error(VF_ERR_ARG, "spec '%.60s': ':' must be followed by key=value pairs (or leave it out)", text);
    size_t pos = colon + 1;
    while (pos <= len) {
        size_t end = pos + strcspn(text + pos, ",");
        if (end == pos)
            return vf__error(VF_ERR_ARG, "spec '%.60s': empty key=value pair at column %zu (stray ',')", text,
                             pos + 1);
        size_t eq = pos + strcspn(text + pos, "=,");
        if (eq >= end)
            return vf__error(VF_ERR_ARG, "spec '%.60s': '%.*s' at column %zu is not key=value", text,
                             (int)(end - pos > 40 ? 40 : end - pos), text + pos, pos + 1);
        if (eq == pos) return vf__error(VF_ERR_ARG, "spec '%.60s': empty key at column %zu", text, pos + 1);
        for (size_t i = pos; i < eq; i++)
            if (!is_word(text[i]))
                return vf__error(VF_ERR_ARG, "spec '%.60s': character '%c' at column %zu is not allowed in a key",
                                 text, text[i], i + 1);
        if (eq + 1 == end)
            return vf__error(VF_ERR_ARG, "spec '%.60s': empty value for key '%.*s' at column %zu", text,
                             (int)(eq - pos), text + pos, eq + 2);
        size_t eq2 = eq + 1 + strcspn(text + eq + 1, "=,");
        if (eq2 < end)
            return vf__error(VF_ERR_ARG, "spec '%.60s': second '=' at column %zu in one pair (missing ','?)", text,
                             eq2 + 1);
        if (out->n == VF_SPEC_MAX_PAIRS)
            return vf__error(VF_ERR_ARG, "spec '%.60s': more than %d key=value pairs", text, VF_SPEC_MAX_PAIRS);
        char *key = out->keys[out->n], *value = out->values[out->n];
        if ((s = copy_part(key, text, pos, eq, "a key")) != VF_OK) return s;
        if ((s = copy_part(value, text, eq + 1, end, "a value")) != VF_OK) return s;
        for (int i = 0; i < out->n; i++)
            if (strcmp(out->keys[i], key) == 0)
                return vf__error(VF_ERR_ARG, "spec '%.60s': duplicate key '%s' (column %zu)", text, key, pos + 1);
        out->n++;
        if (end == len) break;
        if (end + 1 == len)
            return vf__error(VF_ERR_ARG, "spec '%.60s': trailing ',' at column %zu", text, end + 1);
        pos = end + 1;
    }
    return VF_OK;
}

const char *vf_spec_get(const vf_spec *s, const char *key)
{
    if (!s || !key) return NULL;
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->keys[i], key) == 0) return s->values[i];
    return NULL;
}

vf_status vf_spec_check_keys(const vf_spec *s, const char *const *allowed, const char *what)
{
    if (!s || !allowed) return vf__error(VF_ERR_ARG, "spec: NULL spec or key list");
    if (!what) what = s->name;
    for (int i = 0; i < s->n; i++) {
        int found = 0;
        for (const char *const *a = allowed; *a; a++) found |= strcmp(*a, s->keys[i]) == 0;
        if (found) continue;
        char list[320];
        size_t pos = 0;
        list[0] = '\0';
        for (const char *const *a = allowed; *a && pos < sizeof list; a++) {
            int w = snprintf(list + pos, sizeof list - pos, "%s%s", a == allowed ? "" : ", ", *a);
            if (w < 0) break;
            pos += (size_t)w;
        }
        return vf__error(VF_ERR_ARG, "%s: unknown key '%s' (valid keys: %s)", what, s->keys[i], list);
    }
    return VF_OK;
}

vf_status vf_spec_int(const vf_spec *s, const char *key, int64_t def, int64_t lo, int64_t hi, int64_t *out)
{
    const char *v = vf_spec_get(s, key);
    if (!v) {
        *out = def;
        return VF_OK;
    }
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end != '\0' || errno == ERANGE)
        return vf__error(VF_ERR_ARG, "spec key '%s': '%s' is not an integer", key, v);
    if (x < lo || x > hi)
        return vf__error(VF_ERR_ARG, "spec key '%s': %lld is out of range [%lld, %lld]", key, x, (long long)lo,
                         (long long)hi);
    *out = (int64_t)x;
    return VF_OK;
}

vf_status vf_spec_u64(const vf_spec *s, const char *key, uint64_t def, uint64_t *out)
{
    const char *v = vf_spec_get(s, key);
    if (!v) {
        *out = def;
        return VF_OK;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || end == v || *end != '\0' || errno == ERANGE)
        return vf__error(VF_ERR_ARG, "spec key '%s': '%s' is not an unsigned integer", key, v);
    *out = (uint64_t)x;
    return VF_OK;
}

vf_status vf_spec_real(const vf_spec *s, const char *key, double def, double lo, double hi, double *out)
{
    const char *v = vf_spec_get(s, key);
    if (!v) {
        *out = def;
        return VF_OK;
    }
    char *end = NULL;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end != '\0' || errno == ERANGE || !isfinite(x) || strspn(v, "0123456789+-.eE") != strlen(v))
        return vf__error(VF_ERR_ARG, "spec key '%s': '%s' is not a finite number", key, v);
    if (x < lo || x > hi) return vf__error(VF_ERR_ARG, "spec key '%s': %g is out of range [%g, %g]", key, x, lo, hi);
    *out = x;
    return VF_OK;
}

/* ---- a preset behind leading transforms ------------------------------------------------------- */

/* "transforms.<i>.<rest>" -> "transforms.<i + shift>.<rest>" for every parameter from id `first` on
 * (buffer = 0) or every buffer from id `first` on (buffer = 1). */
static vf_status renumber_list(vf_params *p, int buffer, int32_t first, int shift)
{
    static const char prefix[] = "transforms.";
    const size_t k = sizeof prefix - 1;
    int32_t n = buffer ? vf_params_buffer_count(p) : vf_params_count(p);
    for (int32_t id = first; id < n; id++) {
        vf_param_info info;
        vf_status s = buffer ? vf_params_buffer_info(p, id, &info) : vf_params_info(p, id, &info);
        if (s != VF_OK) return s;
        if (strncmp(info.name, prefix, k) != 0) continue;
        char *end = NULL;
        long i = strtol(info.name + k, &end, 10);
        if (end == info.name + k || *end != '.' || i < 0 || i > INT32_MAX - shift)
            return vf__error(VF_ERR_STATE, "flow spec: tensor '%s' does not follow the transforms.<i> naming", info.name);
        char name[VF_PARAM_NAME_MAX];
        int w = snprintf(name, sizeof name, "%s%ld%s", prefix, i + shift, end);
        if (w < 0 || (size_t)w >= sizeof name)
            return vf__error(VF_ERR_ARG, "flow spec: tensor name '%s' becomes too long when renumbered", info.name);
        if ((s = vf__params_rename(p, buffer, id, name)) != VF_OK) return s;
    }
    for (int32_t id = first; id < n; id++) {
        vf_param_info info;
        if (buffer) vf_params_buffer_info(p, id, &info);
        else vf_params_info(p, id, &info);
        int32_t as_param = vf_params_find(p, info.name), as_buffer = vf_params_find_buffer(p, info.name);
        if ((buffer ? as_buffer : as_param) != id || (buffer ? as_param : as_buffer) >= 0)
            return vf__error(VF_ERR_ARG, "flow spec: renumbered tensor '%s' is already registered (by a leading "
                             "transform?)", info.name);
    }
    return VF_OK;
}

static vf_status renumber(vf_params *p, int32_t first, int32_t first_buffer, int shift)
{
    vf_status s = renumber_list(p, 0, first, shift);
    return s == VF_OK ? renumber_list(p, 1, first_buffer, shift) : s;
}

vf_status vf_flow_from_spec_after(const char *spec, int64_t d, int64_t c, int n_lead, vf_transform *const *lead,
                                  vf_params *p, vf_flow **out)
{
    if (out) *out = NULL;
    vf_status s = VF_OK;
    vf_flow *f = NULL;
    if (n_lead < 0 || n_lead > VF_PRESET_MAX_TRANSFORMS || (n_lead > 0 && !lead) || !p || !out) {
        s = vf__error(VF_ERR_ARG, "flow spec: NULL store or output, or %d leading transforms without an array", n_lead);
        goto free_lead;
    }
    for (int i = 0; i < n_lead; i++)
        if (!lead[i]) {
            s = vf__error(VF_ERR_ARG, "flow spec: leading transform %d is NULL", i);
            goto free_lead;
        }
    int32_t count0 = vf_params_count(p), buffers0 = vf_params_buffer_count(p);
    if ((s = vf_flow_from_spec(spec, d, c, p, &f)) != VF_OK) goto free_lead;
    if (n_lead == 0) {
        *out = f;
        return VF_OK;
    }
    if ((s = renumber(p, count0, buffers0, n_lead)) != VF_OK) goto free_all;
    if ((s = vf__flow_prepend(f, n_lead, lead)) != VF_OK) { /* owns lead from here, also on failure */
        vf_flow_free(f);
        vf__params_truncate(p, count0);
        return s;
    }
    *out = f;
    return VF_OK;
free_all:
    vf_flow_free(f);
    vf__params_truncate(p, count0);
free_lead:
    for (int i = 0; lead && i < n_lead; i++) vf_transform_free(lead[i]);
    return s;
}
