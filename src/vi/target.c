/* target.c — targets by spec string ("NAME[:key=value,...]", "plugin:PATH[:ARG]"), and the row-wise
 * helpers of vf_target.h (scores of many points, exact samples). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/io_internal.h" /* vf__parse_double */
#include "vi/vi_internal.h"

static const char *const target_name_list[] = {"gauss", "8gaussians", "banana", "u1",     "u2",         "u3",
                                                "u4",    "funnel",     "gmm40",  "manywell", "rosenbrock", NULL};

const char *const *vf_target_names(void) { return target_name_list; }

static const vf__target_builtin *find_builtin(const char *name, size_t len)
{
    for (int i = 0; i < vf__target_builtin_count; i++)
        if (strlen(vf__target_builtins[i].name) == len && strncmp(vf__target_builtins[i].name, name, len) == 0)
            return &vf__target_builtins[i];
    return NULL;
}

const char *vf_target_defaults(const char *name)
{
    const vf__target_builtin *b = name ? find_builtin(name, strlen(name)) : NULL;
    return b ? b->defaults : NULL;
}

static vf_status unknown_target(const char *name, size_t len)
{
    char valid[256];
    size_t used = 0;
    valid[0] = '\0';
    for (int i = 0; i < vf__target_builtin_count && used < sizeof valid; i++)
        used += (size_t)snprintf(valid + used, sizeof valid - used, "%s, ", vf__target_builtins[i].name);
    return vf__error(VF_ERR_ARG, "target: unknown name '%.*s' (valid: %splugin:PATH[:ARG])", (int)VF_MIN(len, 64),
                     name, valid);
}

static vf_status parse_item(const vf__target_builtin *b, const char *item, size_t len, double *vals,
                            char (*strs)[VF__TARGET_STRING_MAX], unsigned char *seen)
{
    const char *eq = memchr(item, '=', len);
    if (!eq || eq == item)
        return vf__error(VF_ERR_ARG, "target %s: option '%.*s' is not key=value (keys: %s)", b->name,
                         (int)VF_MIN(len, 64), item, b->defaults);
    size_t klen = (size_t)(eq - item), vlen = len - klen - 1;
    int k = -1;
    for (int i = 0; i < b->nkeys; i++)
        if (strlen(b->keys[i].name) == klen && strncmp(b->keys[i].name, item, klen) == 0) k = i;
    if (k < 0)
        return vf__error(VF_ERR_ARG, "target %s: unknown key '%.*s' (keys: %s)", b->name, (int)VF_MIN(klen, 64), item,
                         b->defaults);
    if (seen[k]) return vf__error(VF_ERR_ARG, "target %s: duplicate key '%s'", b->name, b->keys[k].name);
    seen[k] = 1;
    if (b->keys[k].integer == VF__TARGET_KEY_STRING) {
        if (vlen == 0 || vlen >= VF__TARGET_STRING_MAX)
            return vf__error(VF_ERR_ARG, "target %s: %s needs a file name of 1 to %d characters", b->name,
                             b->keys[k].name, VF__TARGET_STRING_MAX - 1);
        memcpy(strs[k], eq + 1, vlen);
        strs[k][vlen] = '\0';
        return VF_OK;
    }
    char buf[64];
    double v;
    if (vlen == 0 || vlen >= sizeof buf)
        return vf__error(VF_ERR_ARG, "target %s: %s needs a number, got '%.*s'", b->name, b->keys[k].name,
                         (int)VF_MIN(vlen, 64), eq + 1);
    memcpy(buf, eq + 1, vlen);
    buf[vlen] = '\0';
    if (vf__parse_double(buf, vlen, &v) || !isfinite(v))
        return vf__error(VF_ERR_ARG, "target %s: %s needs a finite number, got '%s'", b->name, b->keys[k].name, buf);
    if (b->keys[k].integer && (v != floor(v) || v < 1 || v > 1e6))
        return vf__error(VF_ERR_ARG, "target %s: %s must be a whole number in [1, 1e6], got %g", b->name,
                         b->keys[k].name, v);
    vals[k] = v;
    return VF_OK;
}

vf_status vf_target_from_spec(const char *spec, vf_target *out)
{
    if (out) memset(out, 0, sizeof *out);
    if (!spec || !out) return vf__error(VF_ERR_ARG, "target: NULL argument");
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    if (len == 6 && strncmp(spec, "plugin", 6) == 0) {
        if (!colon || !colon[1]) return vf__error(VF_ERR_ARG, "target plugin: missing PATH (plugin:PATH[:ARG])");
        return vf__target_plugin_open(colon + 1, out);
    }
    const vf__target_builtin *b = find_builtin(spec, len);
    if (!b) return unknown_target(spec, len);
    double vals[VF__TARGET_MAX_KEYS];
    char strs[VF__TARGET_MAX_KEYS][VF__TARGET_STRING_MAX];
    const char *sp[VF__TARGET_MAX_KEYS] = {0};
    for (int i = 0; i < b->nkeys; i++) {
        vals[i] = b->keys[i].def;
        strs[i][0] = '\0';
    }
    if (colon && !colon[1])
        return vf__error(VF_ERR_ARG, "target %s: ':' must be followed by key=value pairs (or leave it out; keys: %s)",
                         b->name, b->defaults);
    if (colon) {
        unsigned char seen[VF__TARGET_MAX_KEYS] = {0};
        const char *p = colon + 1;
        for (;;) {
            const char *comma = strchr(p, ',');
            size_t ilen = comma ? (size_t)(comma - p) : strlen(p);
            vf_status s = parse_item(b, p, ilen, vals, strs, seen);
            if (s != VF_OK) return s;
            if (!comma) break;
            p = comma + 1;
        }
    }
    for (int i = 0; i < b->nkeys; i++) sp[i] = strs[i][0] ? strs[i] : NULL;
    vf_status s = b->make(vals, sp, out);
    if (s != VF_OK) {
        vf_target keep = *out;
        memset(out, 0, sizeof *out);
        if (keep.free && keep.state) keep.free(keep.state);
        return s;
    }
    snprintf(out->name, sizeof out->name, "%s", b->name);
    return VF_OK;
}

void vf_target_free(vf_target *t)
{
    if (!t) return;
    if (t->free && t->state) t->free(t->state);
    memset(t, 0, sizeof *t);
}

static vf_status check_target(const char *who, const vf_target *t)
{
    if (!t || !t->log_prob || t->dim < 1) return vf__error(VF_ERR_ARG, "%s: NULL or empty target", who);
    return VF_OK;
}

static int row_finite(int64_t d, const double *x)
{
    for (int64_t k = 0; k < d; k++)
        if (!isfinite(x[k])) return 0;
    return 1;
}

/* A batch function that returned rc != 0: its own message when it left one (vf_set_error), else ours. */
static vf_status batch_failed(const vf_target *t, int64_t n, int rc)
{
    if (vf_last_error()[0]) return vf__error(VF_ERR_NUMERIC, "%s", vf_last_error());
    return vf__error(VF_ERR_NUMERIC, "target %s: the batch log-density of %lld rows failed (returned %d)", t->name,
                     (long long)n, rc);
}

/* The rows' log-densities (and gradients), through the batch function when the target has one. */
static vf_status target_eval_rows(const vf_target *t, int64_t n, const double *x, double *logp, double *grad,
                                  int skip_nonfinite)
{
    int64_t d = t->dim, kept = 0;
    if (!t->log_prob_batch) {
        for (int64_t i = 0; i < n; i++) {
            if (skip_nonfinite && !row_finite(d, x + i * d)) {
                logp[i] = -INFINITY;
                if (grad) memset(grad + i * d, 0, (size_t)d * sizeof *grad);
            } else {
                logp[i] = t->log_prob(t->state, x + i * d, grad ? grad + i * d : NULL);
            }
        }
        return VF_OK;
    }
    for (int64_t i = 0; i < n; i++) kept += !skip_nonfinite || row_finite(d, x + i * d);
    vf_clear_error(); /* a batch function may leave its message */
    if (kept == n) { /* every row: one call on the caller's arrays */
        int rc = n > 0 ? t->log_prob_batch(t->state, n, x, logp, grad) : 0;
        return rc ? batch_failed(t, n, rc) : VF_OK;
    }
    /* the finite rows compacted, evaluated, and put back in place */
    double *xs = vf_malloc((size_t)(kept * d + kept + (grad ? kept * d : 0) + 1) * sizeof *xs);
    if (!xs) return vf__error(VF_ERR_NOMEM, "target %s: out of memory for %lld rows", t->name, (long long)kept);
    double *ls = xs + kept * d, *gs = grad ? ls + kept : NULL;
    for (int64_t i = 0, j = 0; i < n; i++)
        if (row_finite(d, x + i * d)) memcpy(xs + j++ * d, x + i * d, (size_t)d * sizeof *xs);
    int rc = kept > 0 ? t->log_prob_batch(t->state, kept, xs, ls, gs) : 0;
    for (int64_t i = 0, j = 0; i < n && !rc; i++) {
        int fin = row_finite(d, x + i * d);
        logp[i] = fin ? ls[j] : -INFINITY;
        if (grad) {
            if (fin) memcpy(grad + i * d, gs + j * d, (size_t)d * sizeof *grad);
            else memset(grad + i * d, 0, (size_t)d * sizeof *grad);
        }
        j += fin;
    }
    vf_free(xs);
    return rc ? batch_failed(t, kept, rc) : VF_OK;
}

/* +inf is no log-density (NaN is the callers' to report, with their context). */
static vf_status no_plus_infinity(const vf_target *t, int64_t n, const double *logp)
{
    for (int64_t i = 0; i < n; i++)
        if (logp[i] == INFINITY)
            return vf__error(VF_ERR_NUMERIC, "target %s: log-density is +inf at row %lld (it must be finite, or -inf "
                             "outside the support)", t->name, (long long)i);
    return VF_OK;
}

vf_status vf__target_eval(const vf_target *t, int64_t n, const double *x, double *logp, double *grad,
                          int skip_nonfinite)
{
    vf_status s = target_eval_rows(t, n, x, logp, grad, skip_nonfinite);
    return s == VF_OK ? no_plus_infinity(t, n, logp) : s;
}

/* The checks of vf_target_scores for row i (its log-density lp, its gradient g [dim] or NULL). */
static vf_status check_row(const vf_target *t, int64_t i, double lp, const double *g)
{
    if (isnan(lp) || (g && lp == -INFINITY))
        return vf__error(VF_ERR_NUMERIC, "target %s: log-density %s at row %lld", t->name,
                         isnan(lp) ? "is NaN" : "is -inf (outside the support)", (long long)i);
    for (int64_t k = 0; g && k < t->dim; k++)
        if (!isfinite(g[k]))
            return vf__error(VF_ERR_NUMERIC, "target %s: gradient entry %lld is not finite at row %lld", t->name,
                             (long long)k, (long long)i);
    return VF_OK;
}

vf_status vf_target_scores(const vf_target *t, int64_t n, const vf_real *x, double *logp, double *scores)
{
    vf_status s = check_target("target scores", t);
    if (s != VF_OK) return s;
    if (n < 0 || (n > 0 && !x)) return vf__error(VF_ERR_ARG, "target scores: bad rows (n %lld)", (long long)n);
    int64_t d = t->dim; /* the rows in double, evaluated (one batch call when the target has one), checked */
    double *xd = vf_malloc((size_t)(n * d + n + 1) * sizeof *xd);
    if (!xd) return vf__error(VF_ERR_NOMEM, "target scores: out of memory for %lld rows", (long long)n);
    double *lp = xd + n * d;
    for (int64_t i = 0; i < n * d; i++) xd[i] = (double)x[i];
    for (int64_t i = 0; i < n * d; i++) /* the points' fault, not the target's (a diverged flow's draws) */
        if (!isfinite(xd[i])) {
            vf_free(xd);
            return vf__error(VF_ERR_NUMERIC, "the point at row %lld is not finite (coordinate %lld is %g): the draws "
                             "diverged, not the target %s", (long long)(i / d), (long long)(i % d), (double)x[i], t->name);
        }
    s = vf__target_eval(t, n, xd, lp, scores, 0);
    for (int64_t i = 0; i < n && s == VF_OK; i++) {
        s = check_row(t, i, lp[i], scores ? scores + i * d : NULL);
        if (s == VF_OK && logp) logp[i] = lp[i];
    }
    vf_free(xd);
    return s;
}

vf_status vf_target_sample(const vf_target *t, int64_t n, vf_rng *r, vf_real *out)
{
    vf_status s = check_target("target sample", t);
    if (s != VF_OK) return s;
    if (!t->sample) return vf__error(VF_ERR_UNSUPPORTED, "target %s: has no exact sampler", t->name);
    if (n < 0 || !r || (n > 0 && !out)) return vf__error(VF_ERR_ARG, "target sample: bad arguments");
    int64_t d = t->dim;
    double *xi = vf_malloc((size_t)d * sizeof *xi);
    if (!xi) return vf__error(VF_ERR_NOMEM, "target sample: out of memory");
    for (int64_t i = 0; i < n; i++) {
        t->sample(t->state, r, xi);
        for (int64_t k = 0; k < d; k++) {
            out[i * d + k] = (vf_real)xi[k];
            if (!isfinite(out[i * d + k])) { /* e.g. a scale key beyond the number range */
                s = vf__error(VF_ERR_NUMERIC, "target %s: row %lld, column %lld is not finite (%g): its scale is too "
                              "large for the number range", t->name, (long long)(i + 1), (long long)(k + 1), xi[k]);
                vf_free(xi);
                return s;
            }
        }
    }
    vf_free(xi);
    return VF_OK;
}

vf_status vf_target_constrain(const vf_target *t, int64_t n, const vf_real *x, vf_real *out)
{
    vf_status s = check_target("target constrain", t);
    if (s != VF_OK) return s;
    if (!t->constrain || t->constrained_dim < 1)
        return vf__error(VF_ERR_UNSUPPORTED, "target %s: has no constraining map (varflow_target_constrain)", t->name);
    if (n < 0 || (n > 0 && (!x || !out))) return vf__error(VF_ERR_ARG, "target constrain: bad arguments");
    int64_t d = t->dim, c = t->constrained_dim;
    double *buf = vf_malloc((size_t)(d + c) * sizeof *buf);
    if (!buf) return vf__error(VF_ERR_NOMEM, "target constrain: out of memory");
    for (int64_t i = 0; i < n; i++) {
        for (int64_t k = 0; k < d; k++) buf[k] = (double)x[i * d + k];
        t->constrain(t->state, buf, buf + d);
        for (int64_t k = 0; k < c; k++) out[i * c + k] = (vf_real)buf[d + k];
    }
    vf_free(buf);
    return VF_OK;
}
