/* test_model_file.c — flow model files: save, load, compare log-densities bitwise; the file as plain
 * safetensors; malformed files; allocation failures while loading. */
#include <stdlib.h>
#include <string.h>
#include <varflow.h>
#include "alloc_fail.h"
#include "tmpdir.h"
#include "vf_test.h"

#define N_ROWS 7

/* ---- building pieces by kind -------------------------------------------------------------- */

typedef vf_status (*transform_maker)(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out);
typedef vf_status (*dist_maker)(vf_params *p, const char *name, int64_t d, int64_t c, vf_dist **out);

static vf_status mk_reverse(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    (void)p, (void)name;
    return vf_reverse_new(d, c, out);
}
static vf_status mk_actnorm(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    vf_actnorm_params kp = vf_actnorm_default_params(d);
    kp.context = c;
    kp.min_scale = 1e-4;
    return vf_actnorm_new(p, name, &kp, out);
}
static vf_status mk_elementwise(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    vf_elementwise_affine_params kp = vf_elementwise_affine_default_params(d);
    kp.context = c;
    return vf_elementwise_affine_new(p, name, &kp, out);
}
static const double box_lo[3] = {-0.5, 0.0, 0.05}, box_hi[3] = {1.0, 1.25, 0.95};
static vf_status mk_logit(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    vf_logit_params kp = vf_logit_default_params(d);
    kp.context = c;
    kp.lo = box_lo;
    kp.hi = box_hi;
    return vf_logit_new(p, name, &kp, out);
}
static vf_status mk_sigmoid(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    vf_sigmoid_params kp = vf_sigmoid_default_params(d);
    kp.context = c;
    kp.lo = box_lo;
    kp.hi = box_hi;
    return vf_sigmoid_new(p, name, &kp, out);
}
static vf_status mk_tanh(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    vf_tanh_params kp = vf_tanh_default_params(d);
    kp.context = c;
    kp.scale = 1.5;
    return vf_tanh_new(p, name, &kp, out);
}
static vf_status mk_atanh(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    vf_tanh_params kp = vf_tanh_default_params(d);
    kp.context = c;
    kp.scale = 1.5;
    return vf_atanh_new(p, name, &kp, out);
}
static vf_status mk_lu(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    vf_lu_linear_params kp = vf_lu_linear_default_params(d);
    kp.context = c;
    kp.seed = 12345678901234567ULL;
    kp.init_std = 0.1;
    return vf_lu_linear_new(p, name, &kp, out);
}
static vf_status mk_lu_nobias(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    vf_lu_linear_params kp = vf_lu_linear_default_params(d);
    kp.context = c;
    kp.bias = 0;
    kp.random_perm = 0;
    return vf_lu_linear_new(p, name, &kp, out);
}
static vf_status mk_perm_random(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    vf_permutation_params kp = vf_permutation_default_params(d);
    kp.context = c;
    kp.seed = 18446744073709551615ULL; /* the largest seed survives the file */
    return vf_permutation_new(p, name, &kp, out);
}
static vf_status mk_perm_given(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    static const int64_t perm[3] = {2, 0, 1};
    vf_permutation_params kp = vf_permutation_default_params(d);
    kp.context = c;
    kp.perm = perm;
    return vf_permutation_new(p, name, &kp, out);
}
static vf_status mk_affine_coupling(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    static const int mask[3] = {1, 0, 1};
    vf_affine_coupling_params kp = vf_affine_coupling_default_params(d);
    kp.context = c;
    kp.mask = mask;
    kp.n_hidden = 2;
    kp.hidden[0] = 5;
    kp.hidden[1] = 4;
    kp.act = VF_ACT_TANH;
    kp.scale_clamp = 2.5;
    return vf_affine_coupling_new(p, name, &kp, out);
}
static vf_status mk_additive_coupling(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    vf_additive_coupling_params kp = vf_additive_coupling_default_params(d);
    kp.context = c;
    kp.parity = 1;
    kp.n_hidden = 1;
    kp.hidden[0] = 6;
    kp.zero_init = 0;
    return vf_additive_coupling_new(p, name, &kp, out);
}
static vf_status mk_maf(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    vf_maf_params kp = vf_maf_default_params(d);
    kp.context = c;
    kp.hidden = 6;
    kp.order = VF_ORDER_RANDOM;
    kp.seed = 99;
    kp.random_degrees = 1;
    kp.act = VF_ACT_ELU;
    return vf_maf_new(p, name, &kp, out);
}
static vf_status mk_iaf(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    vf_iaf_params kp = vf_iaf_default_params(d);
    kp.context = c;
    kp.hidden = 5;
    kp.depth = 1;
    kp.residual = 1;
    kp.order = VF_ORDER_REVERSED;
    kp.log_scale_bound = 0;
    return vf_iaf_new(p, name, &kp, out);
}
static vf_status mk_planar(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    vf_planar_params kp = vf_planar_default_params(d);
    kp.context = c;
    kp.n_hidden = 1;
    kp.hidden = 4;
    kp.init_scale = 0.3;
    return vf_planar_new(p, name, &kp, out);
}
static vf_status mk_radial(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    vf_radial_params kp = vf_radial_default_params(d);
    kp.context = c;
    kp.n_hidden = 1;
    kp.hidden = 4;
    kp.act = VF_ACT_SILU;
    return vf_radial_new(p, name, &kp, out);
}

static vf_status mk_spline_coupling(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    vf_spline_coupling_params kp = vf_spline_coupling_default_params(d);
    kp.context = c;
    kp.parity = 1;
    kp.n_hidden = 1;
    kp.hidden[0] = 5;
    kp.bins = 5;
    kp.bound = 3.0;
    kp.min_derivative = 0.01;
    kp.zero_init = 0;
    return vf_spline_coupling_new(p, name, &kp, out);
}
static vf_status mk_spline_maf(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    vf_spline_ar_params kp = vf_spline_ar_default_params(d);
    kp.context = c;
    kp.hidden = 5;
    kp.bins = 4;
    kp.order = VF_ORDER_RANDOM;
    kp.seed = 5;
    kp.min_bin_width = 0.01;
    return vf_spline_maf_new(p, name, &kp, out);
}
static vf_status mk_spline_iaf(vf_params *p, const char *name, int64_t d, int64_t c, vf_transform **out)
{
    vf_spline_ar_params kp = vf_spline_ar_default_params(d);
    kp.context = c;
    kp.hidden = 4;
    kp.depth = 1;
    kp.residual = 1;
    kp.bins = 3;
    kp.bound = 2.0;
    kp.min_bin_height = 0.02;
    return vf_spline_iaf_new(p, name, &kp, out);
}

static const struct {
    const char *label;
    transform_maker make;
} transform_cases[] = {
    {"reverse", mk_reverse},           {"actnorm", mk_actnorm},
    {"elementwise_affine", mk_elementwise}, {"logit", mk_logit},
    {"sigmoid", mk_sigmoid},           {"tanh", mk_tanh},
    {"atanh", mk_atanh},               {"lu_linear", mk_lu},
    {"lu_linear (no bias, P = I)", mk_lu_nobias}, {"permutation (random)", mk_perm_random},
    {"permutation (given)", mk_perm_given}, {"affine_coupling", mk_affine_coupling},
    {"additive_coupling", mk_additive_coupling}, {"maf", mk_maf},
    {"iaf", mk_iaf},                   {"planar", mk_planar},
    {"radial", mk_radial},              {"spline_coupling", mk_spline_coupling},
    {"spline_maf", mk_spline_maf},      {"spline_iaf", mk_spline_iaf},
};

static vf_status mk_normal(vf_params *p, const char *name, int64_t d, int64_t c, vf_dist **out)
{
    (void)p, (void)name;
    return vf_dist_normal_new(d, c, out);
}
static vf_status mk_uniform(vf_params *p, const char *name, int64_t d, int64_t c, vf_dist **out)
{
    (void)p, (void)name;
    return vf_dist_uniform_new(d, c, -3.0, 4.0, out);
}
static vf_status mk_diag_normal(vf_params *p, const char *name, int64_t d, int64_t c, vf_dist **out)
{
    vf_dist_diag_normal_params kp = vf_dist_diag_normal_default_params(d);
    kp.context = c;
    kp.net.n_hidden = 1;
    kp.net.hidden[0] = 5;
    return vf_dist_diag_normal_new(p, name, &kp, out);
}
static vf_status mk_student_t(vf_params *p, const char *name, int64_t d, int64_t c, vf_dist **out)
{
    vf_dist_student_t_params kp = vf_dist_student_t_default_params(d);
    kp.context = c;
    kp.df_min = 0.5;
    kp.df_init = 3.0;
    kp.net.n_hidden = 2;
    kp.net.hidden[0] = 3;
    kp.net.hidden[1] = 4;
    kp.net.act = VF_ACT_GELU;
    return vf_dist_student_t_new(p, name, &kp, out);
}
static vf_status mk_mixture(vf_params *p, const char *name, int64_t d, int64_t c, vf_dist **out)
{
    vf_dist_mixture_params kp = vf_dist_mixture_default_params(d, 3);
    kp.context = c;
    kp.seed = 7;
    kp.init_scale = 1.5;
    kp.net.n_hidden = 0;
    return vf_dist_mixture_new(p, name, &kp, out);
}

static const struct {
    const char *label;
    dist_maker make;
} dist_cases[] = {
    {"normal", mk_normal}, {"uniform", mk_uniform}, {"diag_normal", mk_diag_normal},
    {"student_t", mk_student_t}, {"gaussian_mixture", mk_mixture},
};

/* ---- helpers ------------------------------------------------------------------------------ */

/* Overwrite every parameter with U(-0.4, 0.4) so nothing passes at an initialization value. */
static void randomize(vf_params *p, uint64_t seed)
{
    vf_rng r;
    vf_rng_init(&r, seed, 0);
    vf_rng_uniform_fill(&r, vf_params_values(p), (size_t)vf_params_size(p), -0.4, 0.4);
}

/* log p(x) [N_ROWS] of fixed data x in (0.1, 0.9) (inside every box above) and a fixed context. */
static vf_status log_prob(const vf_flow *f, vf_params *p, vf_real *out)
{
    int64_t d = vf_flow_dim(f), c = vf_flow_context_dim(f);
    vf_real x[N_ROWS * 8], ctx[N_ROWS * 8];
    vf_rng r;
    vf_rng_init(&r, 2024, 1);
    vf_rng_uniform_fill(&r, x, (size_t)(N_ROWS * d), 0.1, 0.9);
    vf_rng_normal_fill(&r, ctx, (size_t)(N_ROWS * (c > 0 ? c : 1)), 0.0, 1.0);
    vf_tape *t = vf_tape_new();
    if (!t) return VF_ERR_NOMEM;
    vf_var xv = vf_input(t, x, 2, (int64_t[]){N_ROWS, d});
    vf_var cv = c > 0 ? vf_input(t, ctx, 2, (int64_t[]){N_ROWS, c}) : VF_NOVAR;
    vf_var lp = vf_flow_log_prob(f, p, t, xv, cv);
    vf_status s = vf_tape_status(t);
    if (s == VF_OK) memcpy(out, vf_value(t, lp)->data, N_ROWS * sizeof *out);
    vf_tape_free(t);
    return s;
}

static int same_descriptions(const vf_flow *a, const vf_flow *b)
{
    static char x[1 << 14], y[1 << 14];
    if (vf_flow_n_transforms(a) != vf_flow_n_transforms(b)) return 0;
    if (vf_dist_describe(vf_flow_base(a), x, sizeof x) != VF_OK) return 0;
    if (vf_dist_describe(vf_flow_base(b), y, sizeof y) != VF_OK || strcmp(x, y) != 0) return 0;
    for (int i = 0; i < vf_flow_n_transforms(a); i++) {
        if (vf_transform_describe(vf_flow_transform(a, i), x, sizeof x) != VF_OK) return 0;
        if (vf_transform_describe(vf_flow_transform(b, i), y, sizeof y) != VF_OK || strcmp(x, y) != 0) return 0;
    }
    return 1;
}

/* Save f, load it back, and compare log-densities bitwise, descriptions and stored values. */
static void round_trip(const char *label, const vf_flow *f, vf_params *p)
{
    const char *path = path_of("rt.safetensors");
    vf_real a[N_ROWS], b[N_ROWS];
    CHECK_STATUS(log_prob(f, p, a), VF_OK);
    CHECK_STATUS(vf_flow_save(f, p, path, 0, NULL, NULL), VF_OK);
    vf_params *q = NULL;
    vf_flow *g = NULL;
    vf_status s = vf_flow_load(path, &q, &g, NULL);
    CHECK_MSG(s == VF_OK, "%s: load failed: %s", label, vf_last_error());
    if (s != VF_OK) return;
    CHECK_STATUS(log_prob(g, q, b), VF_OK);
    CHECK_MSG(memcmp(a, b, sizeof a) == 0, "%s: log_prob differs after loading (%.9g vs %.9g)", label, (double)a[0],
              (double)b[0]);
    int finite = 0;
    for (int i = 0; i < N_ROWS; i++) finite += isfinite((double)a[i]);
    CHECK_MSG(finite == N_ROWS, "%s: %d of %d log-densities finite", label, finite, N_ROWS);
    CHECK_MSG(same_descriptions(f, g), "%s: descriptions differ after loading", label);
    CHECK(vf_params_size(q) == vf_params_size(p) && vf_params_count(q) == vf_params_count(p));
    if (vf_params_size(q) == vf_params_size(p))
        CHECK_MSG(memcmp(vf_params_values(q), vf_params_values(p), (size_t)vf_params_size(p) * sizeof(vf_real)) == 0,
                  "%s: parameter values differ", label);
    vf_flow_free(g);
    vf_params_free(q);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_every_transform_kind(void)
{
    for (size_t k = 0; k < sizeof transform_cases / sizeof transform_cases[0]; k++)
        for (int64_t c = 0; c <= 2; c += 2) {
            vf_params *p = vf_params_new();
            vf_dist *base = NULL;
            vf_transform *tr = NULL;
            vf_flow *f = NULL;
            CHECK_STATUS(vf_dist_normal_new(3, c, &base), VF_OK);
            CHECK_STATUS(transform_cases[k].make(p, "transforms.0", 3, c, &tr), VF_OK);
            CHECK_STATUS(vf_flow_new(base, 1, &tr, &f), VF_OK);
            CHECK_STATUS(vf_params_finalize(p, 3), VF_OK);
            if (f && vf_params_size(p) > 0) randomize(p, 100 + k);
            char label[96];
            snprintf(label, sizeof label, "%s, context %lld", transform_cases[k].label, (long long)c);
            if (f) round_trip(label, f, p);
            vf_flow_free(f);
            vf_params_free(p);
        }
}

static void test_every_base_kind(void)
{
    for (size_t k = 0; k < sizeof dist_cases / sizeof dist_cases[0]; k++)
        for (int64_t c = 0; c <= 2; c += 2) {
            vf_params *p = vf_params_new();
            vf_dist *base = NULL;
            vf_transform *tr = NULL;
            vf_flow *f = NULL;
            CHECK_STATUS(dist_cases[k].make(p, "base", 3, c, &base), VF_OK);
            CHECK_STATUS(mk_elementwise(p, "transforms.0", 3, c, &tr), VF_OK);
            CHECK_STATUS(vf_flow_new(base, 1, &tr, &f), VF_OK);
            CHECK_STATUS(vf_params_finalize(p, 3), VF_OK);
            if (f) randomize(p, 200 + k);
            char label[96];
            snprintf(label, sizeof label, "base %s, context %lld", dist_cases[k].label, (long long)c);
            if (f) round_trip(label, f, p);
            vf_flow_free(f);
            vf_params_free(p);
        }
}

/* A five-transform conditional flow with a learnable base. */
static vf_status make_big(int64_t c, vf_params **pp, vf_flow **ff)
{
    *pp = NULL;
    *ff = NULL;
    vf_params *p = vf_params_new();
    if (!p) return VF_ERR_NOMEM;
    transform_maker makers[5] = {mk_actnorm, mk_affine_coupling, mk_lu, mk_maf, mk_perm_random};
    vf_transform *tr[5] = {NULL};
    vf_dist *base = NULL;
    vf_status s = mk_student_t(p, "base", 3, c, &base);
    for (int i = 0; s == VF_OK && i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "transforms.%d", i);
        s = makers[i](p, name, 3, c, &tr[i]);
    }
    if (s != VF_OK) {
        for (int i = 0; i < 5; i++) vf_transform_free(tr[i]);
        vf_dist_free(base);
        vf_params_free(p);
        return s;
    }
    vf_flow *f = NULL;
    s = vf_flow_new(base, 5, tr, &f);
    if (s == VF_OK) s = vf_params_finalize(p, 5);
    if (s != VF_OK) {
        vf_flow_free(f);
        vf_params_free(p);
        return s;
    }
    randomize(p, 77);
    *pp = p;
    *ff = f;
    return VF_OK;
}

static void test_multi_transform_flow(void)
{
    for (int64_t c = 0; c <= 2; c += 2) {
        vf_params *p = NULL;
        vf_flow *f = NULL;
        CHECK_STATUS(make_big(c, &p, &f), VF_OK);
        if (f) round_trip(c ? "five transforms, context 2" : "five transforms", f, p);
        vf_flow_free(f);
        vf_params_free(p);
    }
}

static void test_extra_metadata(void)
{
    vf_params *p = NULL;
    vf_flow *f = NULL;
    CHECK_STATUS(make_big(0, &p, &f), VF_OK);
    if (!f) return;
    const char *path = path_of("extra.safetensors");
    const char *keys[] = {"training", "standardize"};
    const char *values[] = {"{\"epochs\":200,\"loss\":1.25}", "{\"mean\":[0.5,-1],\"std\":[2,3]}"};
    CHECK_STATUS(vf_flow_save(f, p, path, 2, keys, values), VF_OK);
    vf_params *q = NULL;
    vf_flow *g = NULL;
    vf_model_meta m;
    CHECK_STATUS(vf_flow_load(path, &q, &g, &m), VF_OK);
    CHECK(m.n == 2);
    CHECK(vf_model_meta_get(&m, "training") && strcmp(vf_model_meta_get(&m, "training"), values[0]) == 0);
    CHECK(vf_model_meta_get(&m, "standardize") && strcmp(vf_model_meta_get(&m, "standardize"), values[1]) == 0);
    CHECK(vf_model_meta_get(&m, "flow") == NULL && vf_model_meta_get(&m, "format") == NULL);
    vf_model_meta_free(&m);
    CHECK(m.n == 0 && m.keys == NULL);
    vf_flow_free(g);
    vf_params_free(q);
    /* reserved or empty keys, an unfinalized store, NULL arguments */
    const char *bad[] = {"format"}, *empty[] = {""};
    CHECK_STATUS(vf_flow_save(f, p, path, 1, bad, values), VF_ERR_ARG);
    CHECK_STATUS(vf_flow_save(f, p, path, 1, empty, values), VF_ERR_ARG);
    CHECK_STATUS(vf_flow_save(f, p, path, 1, NULL, NULL), VF_ERR_ARG);
    CHECK_STATUS(vf_flow_save(NULL, p, path, 0, NULL, NULL), VF_ERR_ARG);
    vf_params *unfinalized = vf_params_new();
    CHECK_STATUS(vf_flow_save(f, unfinalized, path, 0, NULL, NULL), VF_ERR_ARG);
    vf_params_free(unfinalized);
    CHECK_STATUS(vf_flow_load(NULL, &q, &g, NULL), VF_ERR_ARG);
    vf_flow_free(f);
    vf_params_free(p);
}

/* vf_flow_save_with: training-state tensors ("fit.*") are stored exactly and ignored by the loader;
 * other names, duplicates and bad shapes are refused; an unknown non-state tensor still is an error. */
static void test_state_tensors(void)
{
    vf_params *p = NULL;
    vf_flow *f = NULL;
    CHECK_STATUS(make_big(0, &p, &f), VF_OK);
    if (!f) return;
    const char *path = path_of("state.safetensors");
    const vf_real m[6] = {1.5f, -2, 0.25f, 1e-3f, 7, 8}, v[2] = {3, 4};
    const double d[3] = {1.0 / 3.0, 1e-300, -2.5};
    vf_model_tensor t[3] = {{"fit.adam.m.x", 2, {2, 3}, m, NULL}, {"fit.step", 1, {2}, v, NULL},
                            {"fit.extra.d", 1, {3}, NULL, d}};
    CHECK_STATUS(vf_flow_save_with(f, p, path, 0, NULL, NULL, 3, t), VF_OK);
    vf_params *q = NULL;
    vf_flow *g = NULL;
    CHECK_STATUS(vf_flow_load(path, &q, &g, NULL), VF_OK);
    CHECK(g && vf_params_size(q) == vf_params_size(p) &&
          memcmp(vf_params_values(q), vf_params_values(p), sizeof(vf_real) * (size_t)vf_params_size(p)) == 0);
    vf_flow_free(g);
    vf_params_free(q);
    vf_st_file *st = NULL;
    CHECK_STATUS(vf_st_open(path, &st), VF_OK);
    vf_real back[6] = {0};
    CHECK(st && vf_st_has(st, "fit.adam.m.x") && vf_st_get_into(st, "fit.adam.m.x", back, 6) == VF_OK &&
          memcmp(back, m, sizeof m) == 0);
    double dback[3] = {0}; /* data_f64: F64 on disk, back bit for bit in either build */
    vf_st_dtype dt = VF_ST_F32;
    int nd = 0;
    CHECK(st && vf_st_info(st, "fit.extra.d", &dt, &nd, NULL, NULL) == VF_OK && dt == VF_ST_F64 &&
          vf_st_get_into_f64(st, "fit.extra.d", dback, 3) == VF_OK && memcmp(dback, d, sizeof d) == 0);
    vf_st_close(st);
    /* refused: a name outside fit.*, a duplicate, a negative extent, NULL data */
    vf_model_tensor bad[2] = {{"adam.m", 1, {2}, v, NULL}, {"fit.a", 1, {2}, v, NULL}};
    CHECK_STATUS(vf_flow_save_with(f, p, path_of("bad.safetensors"), 0, NULL, NULL, 1, bad), VF_ERR_ARG);
    bad[0] = bad[1];
    CHECK_STATUS(vf_flow_save_with(f, p, path_of("bad.safetensors"), 0, NULL, NULL, 2, bad), VF_ERR_ARG);
    bad[0].shape[0] = -1;
    CHECK_STATUS(vf_flow_save_with(f, p, path_of("bad.safetensors"), 0, NULL, NULL, 1, bad), VF_ERR_ARG);
    bad[1].data_f64 = d; /* both data and data_f64 */
    CHECK_STATUS(vf_flow_save_with(f, p, path_of("bad.safetensors"), 0, NULL, NULL, 1, bad + 1), VF_ERR_ARG);
    bad[1].data = NULL;
    bad[1].data_f64 = NULL;
    CHECK_STATUS(vf_flow_save_with(f, p, path_of("bad.safetensors"), 0, NULL, NULL, 1, bad + 1), VF_ERR_ARG);
    CHECK_STATUS(vf_flow_save_with(f, p, path_of("bad.safetensors"), 0, NULL, NULL, 1, NULL), VF_ERR_ARG);
    CHECK(slurp(path_of("bad.safetensors"), (unsigned char *)back, 1) == 0);
    vf_flow_free(f);
    vf_params_free(p);
}

/* The file is plain safetensors: the registered names, shapes, the build's dtype, the values. */
static void test_plain_safetensors(void)
{
    vf_params *p = NULL;
    vf_flow *f = NULL;
    CHECK_STATUS(make_big(2, &p, &f), VF_OK);
    if (!f) return;
    const char *path = path_of("plain.safetensors");
    CHECK_STATUS(vf_flow_save(f, p, path, 0, NULL, NULL), VF_OK);
    vf_st_file *st = NULL;
    CHECK_STATUS(vf_st_open(path, &st), VF_OK);
    if (!st) return;
    CHECK(vf_st_count(st) == vf_params_count(p));
    CHECK(vf_st_has(st, "base.net.layers.0.weight"));
    CHECK(vf_st_has(st, "transforms.1.net.layers.2.bias"));
    CHECK(vf_st_has(st, "transforms.0.loc") && vf_st_has(st, "transforms.2.log_s"));
    for (int32_t id = 0; id < vf_params_count(p); id++) {
        vf_param_info info;
        CHECK_STATUS(vf_params_info(p, id, &info), VF_OK);
        vf_st_dtype dt;
        int ndim = -1;
        int64_t shape[8];
        CHECK_STATUS(vf_st_info(st, info.name, &dt, &ndim, shape, NULL), VF_OK);
        CHECK(dt == (sizeof(vf_real) == 8 ? VF_ST_F64 : VF_ST_F32));
        CHECK(ndim == info.ndim);
        for (int k = 0; k < ndim && k < info.ndim; k++) CHECK(shape[k] == info.shape[k]);
        vf_tensor t;
        CHECK_STATUS(vf_st_get(st, info.name, &t), VF_OK);
        CHECK(memcmp(t.data, vf_params_data(p, id), (size_t)info.numel * sizeof(vf_real)) == 0);
        vf_tensor_free(&t);
    }
    CHECK(vf_st_meta(st, "format") && strcmp(vf_st_meta(st, "format"), VF_MODEL_FORMAT) == 0);
    CHECK(vf_st_meta(st, "format_version") && strcmp(vf_st_meta(st, "format_version"), "1") == 0);
    const char *arch = vf_st_meta(st, "flow");
    CHECK(arch && strstr(arch, "\"transforms\":[{\"kind\":\"actnorm\"") != NULL);
    CHECK(arch && strstr(arch, "\"base\":{\"kind\":\"student_t\"") != NULL);
    vf_st_close(st);
    /* the registry on its own, from one description */
    char json[1024];
    CHECK_STATUS(vf_transform_describe(vf_flow_transform(f, 3), json, sizeof json), VF_OK);
    vf_params *q = vf_params_new();
    vf_transform *tr = NULL;
    CHECK_STATUS(vf_transform_from_json(json, q, "x", &tr), VF_OK);
    CHECK(tr && strcmp(vf_transform_kind(tr), "maf") == 0 && vf_transform_context_dim(tr) == 2);
    CHECK(vf_params_find(q, "x.net.output.weight") >= 0);
    vf_transform_free(tr);
    CHECK_STATUS(vf_transform_from_json("{\"kind\":\"maf\"", q, "y", &tr), VF_ERR_FORMAT);
    vf_dist *b = NULL;
    CHECK_STATUS(vf_dist_from_json("{\"kind\":\"normal\",\"dim\":2,\"context\":0}", q, "base", &b), VF_OK);
    CHECK(b && vf_dist_dim(b) == 2);
    vf_dist_free(b);
    vf_params_free(q);
    vf_flow_free(f);
    vf_params_free(p);
}

/* ---- malformed files ------------------------------------------------------------------------ */

static vf_real zeros[64];

/* Writes a file with the given metadata and the tensors of p (skip: a name left out; shape_of: a
 * name written with a wrong shape; add: an extra tensor name). */
static const char *write_variant(const char *file, vf_params *p, const char *format, const char *version,
                                 const char *arch, const char *skip, const char *shape_of, const char *add)
{
    vf_st_writer *w = vf_st_writer_new();
    if (format) vf_st_writer_set_meta(w, "format", format);
    if (version) vf_st_writer_set_meta(w, "format_version", version);
    if (arch) vf_st_writer_set_meta(w, "flow", arch);
    vf_st_dtype dt = sizeof(vf_real) == 8 ? VF_ST_F64 : VF_ST_F32;
    for (int32_t id = 0; p && id < vf_params_count(p); id++) {
        vf_param_info info;
        vf_params_info(p, id, &info);
        if (skip && strcmp(info.name, skip) == 0) continue;
        if (shape_of && strcmp(info.name, shape_of) == 0)
            vf_st_writer_add(w, info.name, dt, 1, (int64_t[]){info.numel > 1 ? info.numel - 1 : 2}, zeros);
        else
            vf_st_writer_add(w, info.name, dt, info.ndim, info.shape, vf_params_data(p, id));
    }
    if (add) vf_st_writer_add(w, add, dt, 1, (int64_t[]){3}, zeros);
    const char *path = path_of(file);
    vf_st_writer_write(w, path);
    vf_st_writer_free(w);
    return path;
}

/* Loading path must give `want` (or, when want2 != VF_OK, that instead) with the file's name in the
 * message, NULL outputs, and no block left allocated. */
static void expect_failure(const char *what, const char *path, vf_status want, vf_status want2)
{
    vf_params *q = (vf_params *)&q;
    vf_flow *g = (vf_flow *)&g;
    vf_model_meta m;
    af_install(0, 0);
    vf_status s = vf_flow_load(path, &q, &g, &m);
    af_remove();
    CHECK_MSG(s == want || (want2 != VF_OK && s == want2), "%s: status %s (%s)", what, vf_status_name(s),
              vf_last_error());
    const char *base = strrchr(path, '/');
    CHECK_MSG(strstr(vf_last_error(), base ? base + 1 : path) != NULL, "%s: message \"%s\" does not name the file",
              what, vf_last_error());
    CHECK_MSG(q == NULL && g == NULL && m.n == 0 && m.keys == NULL, "%s: outputs not cleared", what);
    CHECK_MSG(af.live == 0, "%s: %ld blocks leaked", what, af.live);
}

static void test_malformed_files(void)
{
    vf_params *p = NULL;
    vf_flow *f = NULL;
    CHECK_STATUS(make_big(0, &p, &f), VF_OK);
    if (!f) return;
    const char *good = path_of("good.safetensors");
    CHECK_STATUS(vf_flow_save(f, p, good, 0, NULL, NULL), VF_OK);
    vf_st_file *st = NULL;
    CHECK_STATUS(vf_st_open(good, &st), VF_OK);
    if (!st) return;
    char arch[8192];
    snprintf(arch, sizeof arch, "%s", vf_st_meta(st, "flow"));
    vf_st_close(st);
    const char *v = VF_MODEL_FORMAT;

    /* the untouched variant loads, so the failures below come from the one change each makes */
    vf_params *q = NULL;
    vf_flow *g = NULL;
    CHECK_STATUS(vf_flow_load(write_variant("same.safetensors", p, v, "1", arch, NULL, NULL, NULL), &q, &g, NULL), VF_OK);
    vf_flow_free(g);
    vf_params_free(q);

    expect_failure("missing tensor", write_variant("missing.safetensors", p, v, "1", arch, "transforms.2.bias", NULL, NULL),
                   VF_ERR_FORMAT, VF_OK);
    expect_failure("extra tensor", write_variant("extra.safetensors", p, v, "1", arch, NULL, NULL, "transforms.9.w"),
                   VF_ERR_FORMAT, VF_OK);
    expect_failure("mis-shaped tensor",
                   write_variant("shape.safetensors", p, v, "1", arch, NULL, "transforms.1.net.layers.0.weight", NULL),
                   VF_ERR_FORMAT, VF_OK);
    expect_failure("no format key", write_variant("nofmt.safetensors", p, NULL, "1", arch, NULL, NULL, NULL),
                   VF_ERR_FORMAT, VF_OK);
    expect_failure("wrong format", write_variant("wrongfmt.safetensors", p, "other", "1", arch, NULL, NULL, NULL),
                   VF_ERR_FORMAT, VF_OK);
    expect_failure("newer version", write_variant("newer.safetensors", p, v, "2", arch, NULL, NULL, NULL),
                   VF_ERR_FORMAT, VF_OK);
    expect_failure("bad version", write_variant("badver.safetensors", p, v, "1x", arch, NULL, NULL, NULL),
                   VF_ERR_FORMAT, VF_OK);
    expect_failure("no version", write_variant("nover.safetensors", p, v, NULL, arch, NULL, NULL, NULL),
                   VF_ERR_FORMAT, VF_OK);
    expect_failure("no architecture", write_variant("noarch.safetensors", p, v, "1", NULL, NULL, NULL, NULL),
                   VF_ERR_FORMAT, VF_OK);

    /* edits of the architecture text */
    static const struct {
        const char *from, *to, *what;
    } edits[] = {
        {"{\"dim\":3", "{\"dim\":", "malformed architecture JSON"},
        {"\"kind\":\"maf\"", "\"kind\":\"maff\"", "unknown transform kind"},
        {"\"kind\":\"student_t\"", "\"kind\":\"cauchy\"", "unknown base kind"},
        {"\"depth\":2,", "", "missing setting"},
        {"\"depth\":2", "\"depth\":\"2\"", "setting of the wrong type"},
        {"\"depth\":2", "\"depth\":2.5", "non-integer setting"},
        {"\"hidden\":6", "\"hidden\":-6", "invalid setting"},
        {"\"act\":\"elu\"", "\"act\":\"swish2\"", "unknown activation"},
        {"\"mask\":[1,0,1]", "\"mask\":[1,0]", "mask of the wrong length"},
        {"\"mask\":[1,0,1]", "\"mask\":[1,2,1]", "mask entry not 0/1"},
        {"\"seed\":18446744073709551615", "\"seed\":18446744073709551616", "seed beyond 64 bits"},
        {",\"base\":", ",\"bass\":", "no base"},
        {"{\"dim\":3,\"context\":0", "{\"dim\":4,\"context\":0", "dim disagreeing with the pieces"},
        {"\"transforms\":[", "\"transforms\":{\"a\":[", "transforms not an array"},
    };
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        char edited[8192];
        const char *at = strstr(arch, edits[e].from);
        CHECK_MSG(at != NULL, "%s: \"%s\" not in the architecture", edits[e].what, edits[e].from);
        if (!at) continue;
        size_t k = (size_t)(at - arch);
        snprintf(edited, sizeof edited, "%.*s%s%s", (int)k, arch, edits[e].to, at + strlen(edits[e].from));
        expect_failure(edits[e].what, write_variant("edit.safetensors", p, v, "1", edited, NULL, NULL, NULL),
                       VF_ERR_FORMAT, VF_OK);
    }

    /* a recorded permutation that its seed does not give (the first two entries swapped) */
    {
        char edited[8192];
        snprintf(edited, sizeof edited, "%s", arch);
        char *lu = strstr(edited, "\"kind\":\"lu_linear\"");
        char *perm = lu ? strstr(lu, "\"perm\":[") : NULL;
        CHECK(perm != NULL && perm[9] == ',' && perm[11] == ',');
        if (perm) {
            char tmp = perm[8];
            perm[8] = perm[10];
            perm[10] = tmp;
            expect_failure("permutation not drawn from its seed",
                           write_variant("perm.safetensors", p, v, "1", edited, NULL, NULL, NULL), VF_ERR_FORMAT, VF_OK);
        }
    }

    /* a file that is not there, and every truncation of the good file */
    expect_failure("no such file", path_of("absent.safetensors"), VF_ERR_IO, VF_OK);
    static unsigned char bytes[1 << 16];
    size_t n = slurp(good, bytes, sizeof bytes);
    CHECK(n > 0 && n < sizeof bytes);
    for (size_t cut = 0; cut < n; cut += (cut < 64 ? 1 : 37)) {
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu bytes", cut);
        expect_failure(what, put_bytes("cut.safetensors", bytes, cut), VF_ERR_FORMAT, VF_ERR_IO);
    }
    vf_flow_free(f);
    vf_params_free(p);
}

/* ---- allocation failures -------------------------------------------------------------------- */

static const char *sweep_path;
static vf_real sweep_expected[N_ROWS];

static vf_status load_scenario(void *ctx)
{
    (void)ctx;
    vf_params *q = NULL;
    vf_flow *g = NULL;
    vf_model_meta m;
    vf_status s = vf_flow_load(sweep_path, &q, &g, &m);
    if (s != VF_OK) {
        if (q || g || m.n != 0) return VF_ERR_STATE;
        return s;
    }
    if (!vf_model_meta_get(&m, "note")) s = VF_ERR_STATE;
    vf_model_meta_free(&m);
    vf_real lp[N_ROWS];
    vf_clear_error();
    /* evaluating may itself run out of memory; only a successful evaluation is compared */
    vf_status e = log_prob(g, q, lp);
    if (s == VF_OK && e == VF_OK && memcmp(lp, sweep_expected, sizeof lp) != 0) s = VF_ERR_STATE;
    vf_flow_free(g);
    vf_params_free(q);
    return s == VF_OK ? (e == VF_ERR_NOMEM ? VF_OK : e) : s;
}

static void test_load_allocation_failures(void)
{
    vf_params *p = NULL;
    vf_flow *f = NULL;
    CHECK_STATUS(make_big(2, &p, &f), VF_OK);
    if (!f) return;
    sweep_path = path_of("sweep.safetensors");
    const char *keys[] = {"note"}, *values[] = {"hello"};
    CHECK_STATUS(vf_flow_save(f, p, sweep_path, 1, keys, values), VF_OK);
    CHECK_STATUS(log_prob(f, p, sweep_expected), VF_OK);
    CHECK(af_sweep("vf_flow_load", load_scenario, NULL, 0) == 0);
    CHECK(af_sweep("vf_flow_load (sticky)", load_scenario, NULL, 1) == 0);
    vf_flow_free(f);
    vf_params_free(p);
}

int main(void)
{
    if (tmpdir_open("vf_model")) return 1;
    RUN(test_every_transform_kind);
    RUN(test_every_base_kind);
    RUN(test_multi_transform_flow);
    RUN(test_extra_metadata);
    RUN(test_state_tensors);
    RUN(test_plain_safetensors);
    RUN(test_malformed_files);
    RUN(test_load_allocation_failures);
    tmpdir_close();
    return vf_test_summary();
}
