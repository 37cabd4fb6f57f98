/* cnf_spec.c — continuous-flow specs "cfm:hidden=64x3,coupling=ot,..." into a vf_cnf_spec and
 * MeanFlow options (vf_cnf_spec_from_string, vf_train.h); the keys are `varflow fit --help`'s. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "io/io_internal.h" /* vf__parse_double */
#include "train/train_internal.h"

int vf_fit_is_cnf_spec(const char *spec)
{
    char name[32];
    size_t k = spec ? strcspn(spec, ":") : 0;
    if (!spec || k >= sizeof name) return 0;
    memcpy(name, spec, k);
    name[k] = '\0';
    return vf_cnf_objective_from_name(name) >= 0;
}

/* A whole string as a finite decimal number (a digit, sign or dot first): 0, or -1 when malformed. */
static int parse_real(const char *v, double *out)
{
    double x;
    if (!(*v == '-' || *v == '+' || *v == '.' || (*v >= '0' && *v <= '9'))) return -1;
    if (vf__parse_double(v, strlen(v), &x) || !isfinite(x)) return -1;
    *out = x;
    return 0;
}

/* A whole number in [lo, hi] ("1e5" too when whole): 0, or -1. */
static int parse_int(const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    double x;
    if (parse_real(v, &x) || x != floor(x) || x < (double)lo || x > (double)hi) return -1;
    *out = (int64_t)x;
    return 0;
}

/* "64x3" (width x layers) or "64x128x64" (widths): 0, or -1 when malformed. */
static int parse_hidden(const char *v, vf_vfield_params *f)
{
    int64_t w[VF_NN_MAX_HIDDEN + 1];
    int k = 0;
    const char *s = v;
    while (*s) {
        char *end = NULL;
        long long x = strtoll(s, &end, 10);
        if (end == s || x < 1 || x > VF_NN_MAX_WIDTH || k > VF_NN_MAX_HIDDEN) return -1;
        w[k++] = x;
        if (*end == 'x') s = end + 1;
        else if (*end == '\0') s = end;
        else return -1;
    }
    if (k == 0) return -1;
    if (k == 2 && w[1] <= VF_NN_MAX_HIDDEN && strchr(v, 'x') == strrchr(v, 'x')) { /* WxL */
        f->n_hidden = (int)w[1];
        for (int i = 0; i < f->n_hidden; i++) f->hidden[i] = w[0];
        return 0;
    }
    if (k > VF_NN_MAX_HIDDEN) return -1;
    f->n_hidden = k;
    for (int i = 0; i < k; i++) f->hidden[i] = w[i];
    return 0;
}

vf_status vf_cnf_spec_from_string(const char *spec, int64_t d, int64_t classes, vf_cnf_spec *s,
                                  vf_meanflow_options *mo)
{
    int have_labels = classes > 0;
    if (!spec || !s || !mo || !vf_fit_is_cnf_spec(spec)) return vf__error(VF_ERR_ARG, "not a continuous-flow spec");
    *mo = vf_meanflow_default_options();
    char name[32], buf[1024];
    size_t k = strcspn(spec, ":");
    memcpy(name, spec, k);
    name[k] = '\0';
    *s = vf_cnf_spec_default((vf_cnf_objective)vf_cnf_objective_from_name(name), d);
    s->field.classes = classes;
    s->field.time = VF_TIME_INPUT; /* on 2-D toys 0.2-0.3 nats better than sinusoidal features after 1500 steps */
    s->p_uncond = have_labels ? 0.1 : 0;
    int have_sigma = 0, have_eps = 0;
    if (!spec[k]) return VF_OK;
    if (!spec[k + 1]) return vf__error(VF_ERR_ARG, "':' must be followed by key=value pairs (or leave it out)");
    if (strlen(spec + k + 1) >= sizeof buf) return vf__error(VF_ERR_ARG, "the spec is too long");
    strcpy(buf, spec + k + 1);
    const char *seen[64]; /* the keys so far (in buf) */
    int n_seen = 0, have_df = 0, source_given = 0;
    for (char *item = buf; item;) {
        char *next = NULL;
        /* "source=student:df=3" keeps its colon: split on commas only */
        char *comma = strchr(item, ',');
        if (comma) *comma = '\0', next = comma + 1;
        if (!*item) return vf__error(VF_ERR_ARG, "empty key=value pair (a stray ',')");
        char *eq = strchr(item, '=');
        if (!eq) return vf__error(VF_ERR_ARG, "'%s' is not key=value", item);
        *eq = '\0';
        const char *key = item, *v = eq + 1;
        double x;
        int64_t iv;
        for (int i = 0; i < n_seen; i++)
            if (strcmp(seen[i], key) == 0) return vf__error(VF_ERR_ARG, "duplicate key '%s'", key);
        if (n_seen == (int)(sizeof seen / sizeof seen[0])) return vf__error(VF_ERR_ARG, "too many key=value pairs");
        seen[n_seen++] = key;
        if (strcmp(key, "hidden") == 0) {
            if (parse_hidden(v, &s->field))
                return vf__error(VF_ERR_ARG, "hidden=%s is not WIDTHxLAYERS or W1xW2x... (widths 1 to %d, at most %d "
                                 "layers)", v, VF_NN_MAX_WIDTH, VF_NN_MAX_HIDDEN);
        } else if (strcmp(key, "act") == 0) {
            int a = vf_activation_from_name(v);
            if (a < 0) return vf__error(VF_ERR_ARG, "unknown activation '%s'", v);
            s->field.act = (vf_activation)a;
        } else if (strcmp(key, "residual") == 0) {
            if (strcmp(v, "0") && strcmp(v, "1")) return vf__error(VF_ERR_ARG, "residual=%s is not 0 or 1", v);
            s->field.residual = v[0] == '1';
        } else if (strcmp(key, "time") == 0) {
            if (strcmp(v, "input") == 0) s->field.time = VF_TIME_INPUT;
            else if (strcmp(v, "sinusoidal") == 0) s->field.time = VF_TIME_SINUSOIDAL;
            else return vf__error(VF_ERR_ARG, "time=%s is not input or sinusoidal", v);
        } else if (strcmp(key, "sigma") == 0 || strcmp(key, "eps") == 0 || strcmp(key, "p_uncond") == 0 ||
                   strcmp(key, "df") == 0) {
            if (parse_real(v, &x) || !isfinite(x) || x < 0)
                return vf__error(VF_ERR_ARG, "%s=%s is not a non-negative number", key, v);
            if (key[0] == 's') s->path.sigma = x, have_sigma = 1;
            else if (key[0] == 'e') s->coupling.eps = x, have_eps = 1;
            else if (key[0] == 'p') s->p_uncond = x;
            else s->source.df = x, have_df = 1;
        } else if (strcmp(key, "coupling") == 0) {
            int c = vf_coupling_from_name(v);
            if (c < 0) return vf__error(VF_ERR_ARG, "coupling=%s is not independent, ot or sinkhorn", v);
            s->coupling.kind = (vf_coupling_kind)c;
        } else if (strcmp(key, "source") == 0) {
            source_given = 1;
            if (strcmp(v, "gaussian") == 0) s->source.kind = VF_CNF_SOURCE_GAUSSIAN;
            else if (strncmp(v, "student", 7) == 0) {
                s->source.kind = VF_CNF_SOURCE_STUDENT_T;
                if (s->source.df == 0) s->source.df = 5;
                const char *rest = v + 7;
                if (strncmp(rest, "_t", 2) == 0) rest += 2;
                if (strncmp(rest, ":df=", 4) == 0) {
                    if (parse_real(rest + 4, &x) || !(x > 0) || !isfinite(x))
                        return vf__error(VF_ERR_ARG, "df must be a positive number");
                    s->source.df = x;
                } else if (*rest) {
                    return vf__error(VF_ERR_ARG, "source=%s is not gaussian or student[:df=D]", v);
                }
            } else return vf__error(VF_ERR_ARG, "source=%s is not gaussian or student[:df=D]", v);
        } else if (strcmp(key, "iters") == 0) {
            if (parse_int(v, 1, INT64_C(1) << 30, &iv))
                return vf__error(VF_ERR_ARG, "iters=%s is not a whole number >= 1", v);
            s->coupling.max_iter = iv;
        } else if (strcmp(key, "score") == 0) {
            if (strcmp(v, "0") && strcmp(v, "1")) return vf__error(VF_ERR_ARG, "score=%s is not 0 or 1", v);
            s->score = v[0] == '1';
        } else if (strcmp(key, "freq") == 0) {
            if (parse_real(v, &x) || !(x >= 0.5) || !isfinite(x))
                return vf__error(VF_ERR_ARG, "freq=%s is not a number >= 0.5", v);
            s->field.time_max_frequency = x;
        } else if (strcmp(key, "weight_p") == 0 || strcmp(key, "weight_c") == 0 || strcmp(key, "time_mu") == 0 ||
                   strcmp(key, "time_sigma") == 0 || strcmp(key, "distinct") == 0 || strcmp(key, "times") == 0) {
            if (s->objective != VF_CNF_MEANFLOW)
                return vf__error(VF_ERR_ARG, "%s= is a meanflow key", key);
            if (strcmp(key, "times") == 0) {
                if (strcmp(v, "uniform") == 0) mo->time_dist = VF_MEANFLOW_TIME_UNIFORM;
                else if (strcmp(v, "logit_normal") == 0) mo->time_dist = VF_MEANFLOW_TIME_LOGIT_NORMAL;
                else return vf__error(VF_ERR_ARG, "times=%s is not uniform or logit_normal", v);
            } else if (parse_real(v, &x) || !isfinite(x)) {
                return vf__error(VF_ERR_ARG, "%s=%s is not a number", key, v);
            } else if (strcmp(key, "weight_p") == 0) {
                if (x < 0) return vf__error(VF_ERR_ARG, "weight_p must be >= 0");
                mo->weight_p = x;
            } else if (strcmp(key, "weight_c") == 0) {
                if (!(x > 0)) return vf__error(VF_ERR_ARG, "weight_c must be > 0");
                mo->weight_c = x;
            } else if (strcmp(key, "time_mu") == 0) {
                mo->time_mu = x;
            } else if (strcmp(key, "time_sigma") == 0) {
                if (x < 0) return vf__error(VF_ERR_ARG, "time_sigma must be >= 0");
                mo->time_sigma = x;
            } else {
                if (x < 0 || x > 1) return vf__error(VF_ERR_ARG, "distinct must be in [0, 1]");
                mo->p_distinct = x;
            }
        } else if (strcmp(key, "embed") == 0) {
            if (parse_int(v, 1, 1 << 16, &iv)) return vf__error(VF_ERR_ARG, "embed=%s is not a width", v);
            s->field.class_embedding = iv;
        } else {
            return vf__error(VF_ERR_ARG, "unknown key '%s' (keys: hidden, act, residual, time, freq, embed, sigma, "
                             "coupling, eps, iters, source, df, score, p_uncond; meanflow: weight_p, weight_c, times, "
                             "time_mu, time_sigma, distinct)", key);
        }
        item = next;
    }
    if (have_df && !source_given) s->source.kind = VF_CNF_SOURCE_STUDENT_T; /* "df=D" alone: source=student:df=D */
    if (have_df && s->source.kind != VF_CNF_SOURCE_STUDENT_T)
        return vf__error(VF_ERR_ARG, "df= is the Student-t source's degrees of freedom, not for source=gaussian");
    if (s->source.kind == VF_CNF_SOURCE_STUDENT_T && !(s->source.df > 0))
        return vf__error(VF_ERR_ARG, "the Student-t source needs df > 0");
    if (s->source.kind != VF_CNF_SOURCE_STUDENT_T) s->source.df = 0;
    if (have_sigma && s->coupling.kind == VF_COUPLING_SINKHORN && !have_eps)
        s->coupling.eps = s->path.sigma > 0 ? 2 * s->path.sigma * s->path.sigma : s->coupling.eps;
    if (s->p_uncond > 1) return vf__error(VF_ERR_ARG, "p_uncond must be at most 1");
    if (!(s->coupling.eps > 0)) return vf__error(VF_ERR_ARG, "eps must be positive");
    return VF_OK;
}

