/* model_registry.c — kind -> constructor table for model files: each entry reads one describe()
 * object (the layout each kind's describe() writes, see its header) and calls the public constructor
 * with exactly those settings. After construction the piece's own describe() is compared with the
 * recorded object, so a setting the constructor derives (a permutation drawn from a seed, a mask) is
 * checked against what was saved.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "flows/model_internal.h"
#include "nn/nn_internal.h"
#include "varflow/vf_autoregressive.h"
#include "varflow/vf_coupling.h"
#include "varflow/vf_dist.h"
#include "varflow/vf_nsf.h"
#include "varflow/vf_planar.h"
#include "varflow/vf_transforms.h"

/* ---- reading settings (each failure: VF_ERR_FORMAT naming the kind and the key) -------------- */

static const vf__json *member(const vf__json *d, const char *kind, const char *key, vf__json_type type,
                              vf_status *s)
{
    const vf__json *v = vf__json_get(d, key);
    if (!v) {
        *s = vf__error(VF_ERR_FORMAT, "%s: missing setting \"%s\"", kind, key);
        return NULL;
    }
    if (v->type != type) {
        *s = vf__error(VF_ERR_FORMAT, "%s: setting \"%s\" has the wrong type", kind, key);
        return NULL;
    }
    return v;
}

static vf_status get_i64(const vf__json *d, const char *kind, const char *key, int64_t *out)
{
    vf_status s = VF_OK;
    const vf__json *v = member(d, kind, key, VF__JSON_NUMBER, &s);
    if (!v) return s;
    if (vf__json_int64(v, out) != 0)
        return vf__error(VF_ERR_FORMAT, "%s: setting \"%s\" = %s is not an integer", kind, key, v->str);
    return VF_OK;
}

static vf_status get_int(const vf__json *d, const char *kind, const char *key, int *out)
{
    int64_t x = 0;
    vf_status s = get_i64(d, kind, key, &x);
    if (s != VF_OK) return s;
    if (x < -2147483647 || x > 2147483647)
        return vf__error(VF_ERR_FORMAT, "%s: setting \"%s\" = %lld is out of range", kind, key, (long long)x);
    *out = (int)x;
    return VF_OK;
}

/* A seed: an unsigned 64-bit integer written in decimal. */
static vf_status get_u64(const vf__json *d, const char *kind, const char *key, uint64_t *out)
{
    vf_status s = VF_OK;
    const vf__json *v = member(d, kind, key, VF__JSON_NUMBER, &s);
    if (!v) return s;
    const char *c = v->str;
    int ok = c && c[0] != '\0';
    for (const char *q = c; ok && *q; q++) ok = *q >= '0' && *q <= '9';
    if (ok) {
        errno = 0;
        unsigned long long x = strtoull(c, NULL, 10);
        ok = errno == 0;
        *out = (uint64_t)x;
    }
    if (!ok) return vf__error(VF_ERR_FORMAT, "%s: setting \"%s\" = %s is not an unsigned 64-bit integer", kind, key, c);
    return VF_OK;
}

static vf_status get_double(const vf__json *d, const char *kind, const char *key, double *out)
{
    vf_status s = VF_OK;
    const vf__json *v = member(d, kind, key, VF__JSON_NUMBER, &s);
    if (!v) return s;
    *out = v->number;
    return VF_OK;
}

static vf_status get_act(const vf__json *d, const char *kind, const char *key, vf_activation *out)
{
    vf_status s = VF_OK;
    const vf__json *v = member(d, kind, key, VF__JSON_STRING, &s);
    if (!v) return s;
    int a = vf_activation_from_name(v->str);
    if (a < 0) return vf__error(VF_ERR_FORMAT, "%s: unknown activation \"%s\"", kind, v->str);
    *out = (vf_activation)a;
    return VF_OK;
}

/* An array of exactly n numbers (n < 0: any length up to -n, its length in *got). */
static vf_status get_array(const vf__json *d, const char *kind, const char *key, int64_t n, int64_t *got,
                           const vf__json **items)
{
    vf_status s = VF_OK;
    const vf__json *v = member(d, kind, key, VF__JSON_ARRAY, &s);
    if (!v) return s;
    if ((n >= 0 && (int64_t)v->n != n) || (n < 0 && (int64_t)v->n > -n))
        return vf__error(VF_ERR_FORMAT, "%s: setting \"%s\" has %zu entries (%s%lld)", kind, key, v->n,
                         n >= 0 ? "" : "at most ", (long long)(n >= 0 ? n : -n));
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i].type != VF__JSON_NUMBER)
            return vf__error(VF_ERR_FORMAT, "%s: entry %zu of \"%s\" is not a number", kind, i, key);
    if (got) *got = (int64_t)v->n;
    *items = v->items;
    return VF_OK;
}

static vf_status get_i64_array(const vf__json *d, const char *kind, const char *key, int64_t n, int64_t *got,
                               int64_t *out)
{
    const vf__json *items = NULL;
    int64_t m = 0;
    vf_status s = get_array(d, kind, key, n, &m, &items);
    for (int64_t i = 0; s == VF_OK && i < m; i++)
        if (vf__json_int64(&items[i], &out[i]) != 0)
            s = vf__error(VF_ERR_FORMAT, "%s: entry %lld of \"%s\" is not an integer", kind, (long long)i, key);
    if (s == VF_OK && got) *got = m;
    return s;
}

static vf_status get_dim(const vf__json *d, const char *kind, const char *key, int64_t *out)
{
    vf_status s = get_i64(d, kind, key, out);
    /* A bound well above any real model keeps the arrays sized from it small. */
    if (s == VF_OK && (*out < 0 || *out > ((int64_t)1 << 24)))
        return vf__error(VF_ERR_FORMAT, "%s: setting \"%s\" = %lld is out of range", kind, key, (long long)*out);
    return s;
}

/* A constructor's VF_ERR_ARG means the file's settings are invalid. */
static vf_status settings_status(vf_status s, const char *kind)
{
    if (s != VF_ERR_ARG) return s;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", vf_last_error());
    return vf__error(VF_ERR_FORMAT, "%s: invalid settings: %s", kind, msg);
}

/* ---- transforms --------------------------------------------------------------------------- */

typedef vf_status (*transform_builder)(const vf__json *d, const char *kind, vf_params *p, const char *name,
                                       vf_transform **out);

static vf_status build_reverse(const vf__json *d, const char *kind, vf_params *p, const char *name, vf_transform **out)
{
    (void)p, (void)name;
    int64_t dim = 0, c = 0;
    vf_status s = get_dim(d, kind, "dim", &dim);
    if (s == VF_OK) s = get_dim(d, kind, "context", &c);
    if (s == VF_OK) s = vf_reverse_new(dim, c, out);
    return s;
}

static vf_status build_actnorm(const vf__json *d, const char *kind, vf_params *p, const char *name, vf_transform **out)
{
    vf_actnorm_params kp = vf_actnorm_default_params(1);
    vf_status s = get_dim(d, kind, "dim", &kp.dim);
    if (s == VF_OK) s = get_dim(d, kind, "context", &kp.context);
    if (s == VF_OK) s = get_double(d, kind, "min_scale", &kp.min_scale);
    if (s == VF_OK) s = vf_actnorm_new(p, name, &kp, out);
    return s;
}

static vf_status build_elementwise_affine(const vf__json *d, const char *kind, vf_params *p, const char *name,
                                          vf_transform **out)
{
    vf_elementwise_affine_params kp = vf_elementwise_affine_default_params(1);
    vf_status s = get_dim(d, kind, "dim", &kp.dim);
    if (s == VF_OK) s = get_dim(d, kind, "context", &kp.context);
    if (s == VF_OK) s = vf_elementwise_affine_new(p, name, &kp, out);
    return s;
}

static vf_status build_box(const vf__json *d, const char *kind, vf_params *p, const char *name, vf_transform **out)
{
    vf_box_params kp = vf_logit_default_params(1);
    vf_status s = get_dim(d, kind, "dim", &kp.dim);
    if (s == VF_OK) s = get_dim(d, kind, "context", &kp.context);
    if (s != VF_OK) return s;
    const vf__json *lo = NULL, *hi = NULL;
    s = get_array(d, kind, "lo", kp.dim, NULL, &lo);
    if (s == VF_OK) s = get_array(d, kind, "hi", kp.dim, NULL, &hi);
    if (s != VF_OK) return s;
    double *b = vf_calloc(2 * (size_t)kp.dim, sizeof *b);
    if (!b) return VF_ERR_NOMEM;
    for (int64_t i = 0; i < kp.dim; i++) {
        b[i] = lo[i].number;
        b[kp.dim + i] = hi[i].number;
    }
    kp.lo = b;
    kp.hi = b + kp.dim;
    s = strcmp(kind, "logit") == 0 ? vf_logit_new(p, name, &kp, out) : vf_sigmoid_new(p, name, &kp, out);
    vf_free(b);
    return s;
}

static vf_status build_batch_norm(const vf__json *d, const char *kind, vf_params *p, const char *name,
                                  vf_transform **out)
{
    vf_batch_norm_params kp = vf_batch_norm_default_params(1);
    vf_status s = get_dim(d, kind, "dim", &kp.dim);
    if (s == VF_OK) s = get_dim(d, kind, "context", &kp.context);
    if (s == VF_OK) s = get_double(d, kind, "eps", &kp.eps);
    if (s == VF_OK) s = get_double(d, kind, "momentum", &kp.momentum);
    if (s == VF_OK) s = vf_batch_norm_new(p, name, &kp, out);
    return s;
}

static vf_status build_standardize(const vf__json *d, const char *kind, vf_params *p, const char *name,
                                   vf_transform **out)
{
    vf_standardize_params kp = vf_standardize_default_params(1);
    vf_status s = get_dim(d, kind, "dim", &kp.dim);
    if (s == VF_OK) s = get_dim(d, kind, "context", &kp.context);
    if (s != VF_OK) return s;
    const vf__json *loc = NULL, *scale = NULL;
    s = get_array(d, kind, "loc", kp.dim, NULL, &loc);
    if (s == VF_OK) s = get_array(d, kind, "scale", kp.dim, NULL, &scale);
    if (s != VF_OK) return s;
    double *b = vf_calloc(2 * (size_t)(kp.dim > 0 ? kp.dim : 1), sizeof *b);
    if (!b) return VF_ERR_NOMEM;
    for (int64_t i = 0; i < kp.dim; i++) {
        b[i] = loc[i].number;
        b[kp.dim + i] = scale[i].number;
    }
    kp.loc = b;
    kp.scale = b + kp.dim;
    s = vf_standardize_new(p, name, &kp, out);
    vf_free(b);
    return s;
}

static vf_status build_tanh(const vf__json *d, const char *kind, vf_params *p, const char *name, vf_transform **out)
{
    vf_tanh_params kp = vf_tanh_default_params(1);
    vf_status s = get_dim(d, kind, "dim", &kp.dim);
    if (s == VF_OK) s = get_dim(d, kind, "context", &kp.context);
    if (s == VF_OK) s = get_double(d, kind, "scale", &kp.scale);
    if (s != VF_OK) return s;
    return strcmp(kind, "tanh") == 0 ? vf_tanh_new(p, name, &kp, out) : vf_atanh_new(p, name, &kp, out);
}

static vf_status build_lu_linear(const vf__json *d, const char *kind, vf_params *p, const char *name, vf_transform **out)
{
    vf_lu_linear_params kp = vf_lu_linear_default_params(1);
    vf_status s = get_dim(d, kind, "dim", &kp.dim);
    if (s == VF_OK) s = get_dim(d, kind, "context", &kp.context);
    if (s == VF_OK) s = get_int(d, kind, "bias", &kp.bias);
    if (s == VF_OK) s = get_int(d, kind, "random_perm", &kp.random_perm);
    if (s == VF_OK) s = get_u64(d, kind, "seed", &kp.seed);
    if (s == VF_OK) s = get_double(d, kind, "init_std", &kp.init_std);
    /* "perm" is derived from random_perm and seed; the describe() comparison checks it. */
    if (s == VF_OK) s = vf_lu_linear_new(p, name, &kp, out);
    return s;
}

static vf_status build_permutation(const vf__json *d, const char *kind, vf_params *p, const char *name,
                                   vf_transform **out)
{
    vf_permutation_params kp = vf_permutation_default_params(1);
    int random = 0;
    vf_status s = get_dim(d, kind, "dim", &kp.dim);
    if (s == VF_OK) s = get_dim(d, kind, "context", &kp.context);
    if (s == VF_OK) s = get_int(d, kind, "random", &random);
    if (s == VF_OK) s = get_u64(d, kind, "seed", &kp.seed);
    if (s != VF_OK) return s;
    int64_t *perm = vf_calloc((size_t)(kp.dim > 0 ? kp.dim : 1), sizeof *perm);
    if (!perm) return VF_ERR_NOMEM;
    s = get_i64_array(d, kind, "perm", kp.dim, NULL, perm);
    if (s == VF_OK) {
        kp.perm = random ? NULL : perm; /* a random one is drawn again from its seed and compared */
        s = vf_permutation_new(p, name, &kp, out);
    }
    vf_free(perm);
    return s;
}

/* A coupling mask: "mask" [dim] of 0/1 into an owned int array *out. */
static vf_status get_mask(const vf__json *d, const char *kind, int64_t dim, int **out)
{
    *out = NULL;
    int64_t *m64 = vf_calloc((size_t)(dim > 0 ? dim : 1), sizeof *m64);
    int *mask = m64 ? vf_calloc((size_t)(dim > 0 ? dim : 1), sizeof *mask) : NULL;
    if (!mask) {
        vf_free(m64);
        return VF_ERR_NOMEM;
    }
    vf_status s = get_i64_array(d, kind, "mask", dim, NULL, m64);
    for (int64_t i = 0; s == VF_OK && i < dim; i++) {
        if (m64[i] != 0 && m64[i] != 1) s = vf__error(VF_ERR_FORMAT, "%s: mask entry %lld is not 0 or 1", kind, (long long)i);
        mask[i] = (int)m64[i];
    }
    vf_free(m64);
    if (s != VF_OK) {
        vf_free(mask);
        return s;
    }
    *out = mask;
    return VF_OK;
}

static vf_status build_coupling(const vf__json *d, const char *kind, vf_params *p, const char *name, vf_transform **out)
{
    int affine = strcmp(kind, "affine_coupling") == 0;
    vf_coupling_params kp = affine ? vf_affine_coupling_default_params(2) : vf_additive_coupling_default_params(2);
    int64_t n_hidden = 0;
    vf_status s = get_dim(d, kind, "dim", &kp.dim);
    if (s == VF_OK) s = get_dim(d, kind, "context", &kp.context);
    if (s == VF_OK) s = get_i64_array(d, kind, "hidden", -VF_NN_MAX_HIDDEN, &n_hidden, kp.hidden);
    if (s == VF_OK) s = get_act(d, kind, "act", &kp.act);
    if (s == VF_OK && affine) s = get_double(d, kind, "scale_clamp", &kp.scale_clamp);
    if (s == VF_OK) s = get_int(d, kind, "zero_init", &kp.zero_init);
    if (s != VF_OK) return s;
    kp.n_hidden = (int)n_hidden;
    int *mask = NULL;
    s = get_mask(d, kind, kp.dim, &mask);
    if (s != VF_OK) return s;
    kp.mask = mask;
    s = affine ? vf_affine_coupling_new(p, name, &kp, out) : vf_additive_coupling_new(p, name, &kp, out);
    vf_free(mask);
    return s;
}

static vf_status get_order(const vf__json *d, const char *kind, vf_made_order *out)
{
    vf_status s = VF_OK;
    const vf__json *v = member(d, kind, "order", VF__JSON_STRING, &s);
    if (!v) return s;
    if (strcmp(v->str, "sequential") == 0) *out = VF_ORDER_SEQUENTIAL;
    else if (strcmp(v->str, "reversed") == 0) *out = VF_ORDER_REVERSED;
    else if (strcmp(v->str, "random") == 0) *out = VF_ORDER_RANDOM;
    else return vf__error(VF_ERR_FORMAT, "%s: unknown order \"%s\"", kind, v->str);
    return VF_OK;
}

/* "hidden_layout": "sorted", or absent for the interleaved layout of files written before it. */
static vf_status get_hidden_layout(const vf__json *d, const char *kind, vf_made_hidden_layout *out)
{
    const vf__json *v = vf__json_get(d, "hidden_layout");
    *out = VF_HIDDEN_INTERLEAVED;
    if (!v) return VF_OK;
    if (v->type != VF__JSON_STRING || strcmp(v->str, "sorted") != 0)
        return vf__error(VF_ERR_FORMAT, "%s: setting \"hidden_layout\" must be \"sorted\" when present", kind);
    *out = VF_HIDDEN_SORTED;
    return VF_OK;
}

static vf_status build_autoregressive(const vf__json *d, const char *kind, vf_params *p, const char *name,
                                      vf_transform **out)
{
    vf_maf_params kp = vf_maf_default_params(1);
    vf_status s = get_dim(d, kind, "dim", &kp.features);
    if (s == VF_OK) s = get_dim(d, kind, "context", &kp.context);
    if (s == VF_OK) s = get_dim(d, kind, "hidden", &kp.hidden);
    if (s == VF_OK) s = get_int(d, kind, "depth", &kp.depth);
    if (s == VF_OK) s = get_int(d, kind, "residual", &kp.residual);
    if (s == VF_OK) s = get_act(d, kind, "act", &kp.act);
    if (s == VF_OK) s = get_order(d, kind, &kp.order);
    if (s == VF_OK) s = get_u64(d, kind, "seed", &kp.seed);
    if (s == VF_OK) s = get_int(d, kind, "random_degrees", &kp.random_degrees);
    if (s == VF_OK) s = get_hidden_layout(d, kind, &kp.hidden_layout);
    if (s == VF_OK) s = get_double(d, kind, "log_scale_bound", &kp.log_scale_bound);
    if (s != VF_OK) return s;
    return strcmp(kind, "maf") == 0 ? vf_maf_new(p, name, &kp, out) : vf_iaf_new(p, name, &kp, out);
}

static vf_status build_planar_radial(const vf__json *d, const char *kind, vf_params *p, const char *name,
                                     vf_transform **out)
{
    /* vf_planar_params and vf_radial_params have the same fields. */
    vf_planar_params kp = vf_planar_default_params(1);
    vf_status s = get_dim(d, kind, "dim", &kp.dim);
    if (s == VF_OK) s = get_dim(d, kind, "context", &kp.context);
    if (s == VF_OK) s = get_int(d, kind, "n_hidden", &kp.n_hidden);
    if (s == VF_OK) s = get_dim(d, kind, "hidden", &kp.hidden);
    if (s == VF_OK) s = get_act(d, kind, "act", &kp.act);
    if (s == VF_OK) s = get_double(d, kind, "init_scale", &kp.init_scale);
    if (s != VF_OK) return s;
    if (strcmp(kind, "planar") == 0) return vf_planar_new(p, name, &kp, out);
    vf_radial_params rp = vf_radial_default_params(1);
    rp.dim = kp.dim;
    rp.context = kp.context;
    rp.n_hidden = kp.n_hidden;
    rp.hidden = kp.hidden;
    rp.act = kp.act;
    rp.init_scale = kp.init_scale;
    return vf_radial_new(p, name, &rp, out);
}

/* The spline settings spline coupling and autoregressive splines share. */
static vf_status get_spline(const vf__json *d, const char *kind, int *bins, double *bound, double *w, double *h,
                            double *slope)
{
    vf_status s = get_int(d, kind, "bins", bins);
    if (s == VF_OK) s = get_double(d, kind, "bound", bound);
    if (s == VF_OK) s = get_double(d, kind, "min_bin_width", w);
    if (s == VF_OK) s = get_double(d, kind, "min_bin_height", h);
    if (s == VF_OK) s = get_double(d, kind, "min_derivative", slope);
    return s;
}

static vf_status build_spline_coupling(const vf__json *d, const char *kind, vf_params *p, const char *name,
                                       vf_transform **out)
{
    vf_spline_coupling_params kp = vf_spline_coupling_default_params(2);
    int64_t n_hidden = 0;
    vf_status s = get_dim(d, kind, "dim", &kp.dim);
    if (s == VF_OK) s = get_dim(d, kind, "context", &kp.context);
    if (s == VF_OK) s = get_i64_array(d, kind, "hidden", -VF_NN_MAX_HIDDEN, &n_hidden, kp.hidden);
    if (s == VF_OK) s = get_act(d, kind, "act", &kp.act);
    if (s == VF_OK)
        s = get_spline(d, kind, &kp.bins, &kp.bound, &kp.min_bin_width, &kp.min_bin_height, &kp.min_derivative);
    if (s == VF_OK) s = get_int(d, kind, "zero_init", &kp.zero_init);
    if (s != VF_OK) return s;
    kp.n_hidden = (int)n_hidden;
    int *mask = NULL;
    s = get_mask(d, kind, kp.dim, &mask);
    if (s != VF_OK) return s;
    kp.mask = mask;
    s = vf_spline_coupling_new(p, name, &kp, out);
    vf_free(mask);
    return s;
}

static vf_status build_spline_ar(const vf__json *d, const char *kind, vf_params *p, const char *name,
                                 vf_transform **out)
{
    vf_spline_ar_params kp = vf_spline_ar_default_params(1);
    vf_status s = get_dim(d, kind, "dim", &kp.features);
    if (s == VF_OK) s = get_dim(d, kind, "context", &kp.context);
    if (s == VF_OK) s = get_dim(d, kind, "hidden", &kp.hidden);
    if (s == VF_OK) s = get_int(d, kind, "depth", &kp.depth);
    if (s == VF_OK) s = get_int(d, kind, "residual", &kp.residual);
    if (s == VF_OK) s = get_act(d, kind, "act", &kp.act);
    if (s == VF_OK) s = get_order(d, kind, &kp.order);
    if (s == VF_OK) s = get_u64(d, kind, "seed", &kp.seed);
    if (s == VF_OK) s = get_int(d, kind, "random_degrees", &kp.random_degrees);
    if (s == VF_OK) s = get_hidden_layout(d, kind, &kp.hidden_layout);
    if (s == VF_OK)
        s = get_spline(d, kind, &kp.bins, &kp.bound, &kp.min_bin_width, &kp.min_bin_height, &kp.min_derivative);
    if (s != VF_OK) return s;
    return strcmp(kind, "spline_maf") == 0 ? vf_spline_maf_new(p, name, &kp, out) : vf_spline_iaf_new(p, name, &kp, out);
}

static const struct {
    const char *kind;
    transform_builder build;
} transform_kinds[] = {
    {"reverse", build_reverse},
    {"actnorm", build_actnorm},
    {"elementwise_affine", build_elementwise_affine},
    {"logit", build_box},
    {"sigmoid", build_box},
    {"standardize", build_standardize},
    {"batch_norm", build_batch_norm},
    {"tanh", build_tanh},
    {"atanh", build_tanh},
    {"lu_linear", build_lu_linear},
    {"permutation", build_permutation},
    {"affine_coupling", build_coupling},
    {"additive_coupling", build_coupling},
    {"maf", build_autoregressive},
    {"iaf", build_autoregressive},
    {"planar", build_planar_radial},
    {"radial", build_planar_radial},
    {"spline_coupling", build_spline_coupling},
    {"spline_maf", build_spline_ar},
    {"spline_iaf", build_spline_ar},
};

/* ---- base distributions ------------------------------------------------------------------- */

typedef vf_status (*dist_builder)(const vf__json *d, const char *kind, vf_params *p, const char *name, vf_dist **out);

static vf_status build_normal(const vf__json *d, const char *kind, vf_params *p, const char *name, vf_dist **out)
{
    (void)p, (void)name;
    int64_t dim = 0, c = 0;
    vf_status s = get_dim(d, kind, "dim", &dim);
    if (s == VF_OK) s = get_dim(d, kind, "context", &c);
    if (s == VF_OK) s = vf_dist_normal_new(dim, c, out);
    return s;
}

static vf_status build_uniform(const vf__json *d, const char *kind, vf_params *p, const char *name, vf_dist **out)
{
    (void)p, (void)name;
    int64_t dim = 0, c = 0;
    double lo = 0, hi = 0;
    vf_status s = get_dim(d, kind, "dim", &dim);
    if (s == VF_OK) s = get_dim(d, kind, "context", &c);
    if (s == VF_OK) s = get_double(d, kind, "lo", &lo);
    if (s == VF_OK) s = get_double(d, kind, "hi", &hi);
    if (s == VF_OK) s = vf_dist_uniform_new(dim, c, lo, hi, out);
    return s;
}

/* The common part of the learnable bases: dim, context and the context network. */
static vf_status get_net(const vf__json *d, const char *kind, int64_t *dim, int64_t *c, vf_dist_net_params *np)
{
    vf_status s = get_dim(d, kind, "dim", dim);
    if (s == VF_OK) s = get_dim(d, kind, "context", c);
    if (s != VF_OK) return s;
    const vf__json *net = member(d, kind, "net", VF__JSON_OBJECT, &s);
    if (!net) return s;
    int64_t n_hidden = 0;
    s = get_int(net, kind, "n_hidden", &np->n_hidden);
    if (s == VF_OK) s = get_i64_array(net, kind, "hidden", -VF_NN_MAX_HIDDEN, &n_hidden, np->hidden);
    if (s == VF_OK) s = get_act(net, kind, "act", &np->act);
    if (s == VF_OK && n_hidden != np->n_hidden)
        s = vf__error(VF_ERR_FORMAT, "%s: net has n_hidden %d but %lld widths", kind, np->n_hidden, (long long)n_hidden);
    return s;
}

static vf_status build_diag_normal(const vf__json *d, const char *kind, vf_params *p, const char *name, vf_dist **out)
{
    vf_dist_diag_normal_params kp = vf_dist_diag_normal_default_params(1);
    vf_status s = get_net(d, kind, &kp.dim, &kp.context, &kp.net);
    if (s == VF_OK) s = vf_dist_diag_normal_new(p, name, &kp, out);
    return s;
}

static vf_status build_student_t(const vf__json *d, const char *kind, vf_params *p, const char *name, vf_dist **out)
{
    vf_dist_student_t_params kp = vf_dist_student_t_default_params(1);
    vf_status s = get_net(d, kind, &kp.dim, &kp.context, &kp.net);
    if (s == VF_OK) s = get_double(d, kind, "df_min", &kp.df_min);
    if (s == VF_OK) s = get_double(d, kind, "df_init", &kp.df_init);
    if (s == VF_OK) s = vf_dist_student_t_new(p, name, &kp, out);
    return s;
}

static vf_status build_mixture(const vf__json *d, const char *kind, vf_params *p, const char *name, vf_dist **out)
{
    vf_dist_mixture_params kp = vf_dist_mixture_default_params(1, 1);
    vf_status s = get_net(d, kind, &kp.dim, &kp.context, &kp.net);
    if (s == VF_OK) s = get_dim(d, kind, "components", &kp.components);
    if (s == VF_OK) s = get_double(d, kind, "init_scale", &kp.init_scale);
    if (s == VF_OK) s = get_u64(d, kind, "seed", &kp.seed);
    if (s == VF_OK) s = vf_dist_mixture_new(p, name, &kp, out);
    return s;
}

static const struct {
    const char *kind;
    dist_builder build;
} dist_kinds[] = {
    {"normal", build_normal},
    {"uniform", build_uniform},
    {"diag_normal", build_diag_normal},
    {"student_t", build_student_t},
    {"gaussian_mixture", build_mixture},
};

/* ---- describe() into an owned string ------------------------------------------------------ */

#define DESCRIBE_MAX ((size_t)64 << 20)

static vf_status describe_grow(const vf_transform *tr, const vf_dist *b, char **out)
{
    *out = NULL;
    for (size_t len = 1024; len <= DESCRIBE_MAX; len *= 4) {
        char *buf = vf_malloc(len);
        if (!buf) return VF_ERR_NOMEM;
        vf_status s = tr ? vf_transform_describe(tr, buf, len) : vf_dist_describe(b, buf, len);
        if (s == VF_OK) {
            *out = buf;
            return VF_OK;
        }
        vf_free(buf);
        if (s != VF_ERR_ARG) return s;
    }
    return vf__error(VF_ERR_ARG, "%s: description longer than %zu bytes", tr ? vf_transform_kind(tr) : vf_dist_kind(b),
                     DESCRIBE_MAX);
}

vf_status vf__model_describe_transform(const vf_transform *tr, char **out) { return describe_grow(tr, NULL, out); }
vf_status vf__model_describe_dist(const vf_dist *b, char **out) { return describe_grow(NULL, b, out); }

/* ---- comparing JSON values ---------------------------------------------------------------- */

int vf__model_json_equal(const vf__json *a, const vf__json *b)
{
    if (a->type != b->type) return 0;
    switch (a->type) {
    case VF__JSON_NULL: return 1;
    case VF__JSON_BOOL: return a->boolean == b->boolean;
    case VF__JSON_NUMBER: return a->number == b->number;
    case VF__JSON_STRING: return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
    case VF__JSON_ARRAY:
        if (a->n != b->n) return 0;
        for (size_t i = 0; i < a->n; i++)
            if (!vf__model_json_equal(&a->items[i], &b->items[i])) return 0;
        return 1;
    case VF__JSON_OBJECT:
        if (a->n != b->n) return 0;
        for (size_t i = 0; i < a->n; i++) {
            const vf__json *w = vf__json_get(b, a->keys[i]);
            if (!w || !vf__model_json_equal(&a->items[i], w)) return 0;
        }
        return 1;
    }
    return 0;
}

/* 1 when the rebuilt description json[0..) equals the recorded one; VF_ERR_NOMEM passes through. */
static vf_status same_description(const char *kind, const char *json, const vf__json *recorded)
{
    vf__json *now = NULL;
    vf_status s = vf__json_parse(json, strlen(json), 16, &now);
    if (s != VF_OK) return s == VF_ERR_NOMEM ? s : vf__error(VF_ERR_FORMAT, "%s: describe() is not valid JSON", kind);
    int same = vf__model_json_equal(now, recorded);
    vf__json_free(now);
    if (!same)
        return vf__error(VF_ERR_FORMAT, "%s: the rebuilt piece describes itself as %s, not as recorded", kind, json);
    return VF_OK;
}

static const char *kind_of(const vf__json *desc, vf_status *s)
{
    if (!desc || desc->type != VF__JSON_OBJECT) {
        *s = vf__error(VF_ERR_FORMAT, "a description is not a JSON object");
        return NULL;
    }
    const vf__json *k = vf__json_get(desc, "kind");
    if (!k || k->type != VF__JSON_STRING) {
        *s = vf__error(VF_ERR_FORMAT, "a description has no \"kind\" string");
        return NULL;
    }
    return k->str;
}

/* ---- entry points ------------------------------------------------------------------------- */

vf_status vf__model_transform_build(const vf__json *desc, vf_params *p, const char *name, vf_transform **out)
{
    *out = NULL;
    vf_status s = VF_OK;
    const char *kind = kind_of(desc, &s);
    if (!kind) return s;
    transform_builder build = NULL;
    for (size_t i = 0; i < sizeof transform_kinds / sizeof transform_kinds[0]; i++)
        if (strcmp(transform_kinds[i].kind, kind) == 0) build = transform_kinds[i].build;
    if (!build) return vf__error(VF_ERR_FORMAT, "unknown transform kind \"%s\"", kind);
    int32_t count = vf_params_count(p);
    vf_transform *tr = NULL;
    s = settings_status(build(desc, kind, p, name, &tr), kind);
    char *json = NULL;
    if (s == VF_OK) s = vf__model_describe_transform(tr, &json);
    if (s == VF_OK) s = same_description(kind, json, desc);
    vf_free(json);
    if (s != VF_OK) {
        vf_transform_free(tr);
        vf__params_truncate(p, count);
        return s;
    }
    *out = tr;
    return VF_OK;
}

vf_status vf__model_dist_build(const vf__json *desc, vf_params *p, const char *name, vf_dist **out)
{
    *out = NULL;
    vf_status s = VF_OK;
    const char *kind = kind_of(desc, &s);
    if (!kind) return s;
    dist_builder build = NULL;
    for (size_t i = 0; i < sizeof dist_kinds / sizeof dist_kinds[0]; i++)
        if (strcmp(dist_kinds[i].kind, kind) == 0) build = dist_kinds[i].build;
    if (!build) return vf__error(VF_ERR_FORMAT, "unknown base distribution kind \"%s\"", kind);
    int32_t count = vf_params_count(p);
    vf_dist *b = NULL;
    s = settings_status(build(desc, kind, p, name, &b), kind);
    char *json = NULL;
    if (s == VF_OK) s = vf__model_describe_dist(b, &json);
    if (s == VF_OK) s = same_description(kind, json, desc);
    vf_free(json);
    if (s != VF_OK) {
        vf_dist_free(b);
        vf__params_truncate(p, count);
        return s;
    }
    *out = b;
    return VF_OK;
}

static vf_status parse_one(const char *json, vf__json **root)
{
    if (!json) return vf__error(VF_ERR_ARG, "from_json: NULL description");
    vf_status s = vf__json_parse(json, strlen(json), 16, root);
    if (s == VF_OK || s == VF_ERR_NOMEM) return s;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", vf_last_error());
    return vf__error(VF_ERR_FORMAT, "malformed description: %s", msg);
}

vf_status vf_transform_from_json(const char *json, vf_params *p, const char *name, vf_transform **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "vf_transform_from_json: NULL output");
    *out = NULL;
    if (!p) return vf__error(VF_ERR_ARG, "vf_transform_from_json: NULL parameter store");
    vf__json *root = NULL;
    vf_status s = parse_one(json, &root);
    if (s == VF_OK) s = vf__model_transform_build(root, p, name, out);
    vf__json_free(root);
    return s;
}

vf_status vf_dist_from_json(const char *json, vf_params *p, const char *name, vf_dist **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "vf_dist_from_json: NULL output");
    *out = NULL;
    if (!p) return vf__error(VF_ERR_ARG, "vf_dist_from_json: NULL parameter store");
    vf__json *root = NULL;
    vf_status s = parse_one(json, &root);
    if (s == VF_OK) s = vf__model_dist_build(root, p, name, out);
    vf__json_free(root);
    return s;
}
