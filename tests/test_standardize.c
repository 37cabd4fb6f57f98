/* test_standardize.c — the fixed standardize transform (hand values, flowcheck, describe and the
 * registry, errors, allocation failures), the column statistics helper, and vf_flow_from_spec_after:
 * renumbered names, a model file that restores the flow bit for bit, and the log-density identity
 * log p(x) = log q((x - loc) / scale) - sum(log scale) against the same preset without standardization. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "alloc_fail.h"
#include "flowcheck.h"
#include "tmpdir.h"
#include "vf_test.h"

#if VF_USE_DOUBLE
#define TOL 1e-12
#else
#define TOL 2e-5
#endif

static vf_transform *make(int64_t d, int64_t c, const double *loc, const double *scale)
{
    vf_standardize_params sp = vf_standardize_default_params(d);
    sp.context = c;
    sp.loc = loc;
    sp.scale = scale;
    vf_transform *tr = NULL;
    CHECK_STATUS(vf_standardize_new(NULL, NULL, &sp, &tr), VF_OK);
    return tr;
}

static void test_values(void)
{
    const double loc[3] = {1.5, -2, 1e4}, scale[3] = {0.5, 4, 2e3};
    vf_transform *tr = make(3, 0, loc, scale);
    if (!tr) return;
    CHECK(strcmp(vf_transform_kind(tr), "standardize") == 0);
    CHECK(vf_standardize_loc(tr)[2] == 1e4 && vf_standardize_scale(tr)[1] == 4);
    vf_tape *t = vf_tape_new();
    const vf_real x[6] = {2, 0, 12000, 1.5, -6, 9000};
    vf_var l, li;
    vf_var z = vf_transform_forward(tr, NULL, t, vf_input(t, x, 2, (int64_t[]){2, 3}), VF_NOVAR, &l);
    CHECK_STATUS(vf_tape_status(t), VF_OK);
    const double want[6] = {1, 0.5, 1, 0, -1, -0.5};
    const double ladj = -(log(0.5) + log(4.0) + log(2e3));
    for (int i = 0; z != VF_NOVAR && i < 6; i++) CHECK_NEAR(vf_value(t, z)->data[i], want[i], TOL);
    for (int i = 0; z != VF_NOVAR && i < 2; i++) CHECK_NEAR(vf_value(t, l)->data[i], ladj, TOL * 10);
    vf_var back = vf_transform_inverse(tr, NULL, t, z, VF_NOVAR, &li);
    for (int i = 0; back != VF_NOVAR && i < 6; i++) CHECK_NEAR(vf_value(t, back)->data[i], x[i], TOL * 1e4);
    for (int i = 0; back != VF_NOVAR && i < 2; i++) CHECK_NEAR(vf_value(t, li)->data[i], -ladj, TOL * 10);
    vf_tape_free(t);
    vf_transform_free(tr);
    /* no settings: the identity */
    tr = make(2, 0, NULL, NULL);
    CHECK(tr && vf_standardize_loc(tr)[0] == 0 && vf_standardize_scale(tr)[1] == 1);
    CHECK(vf_standardize_loc(NULL) == NULL);
    vf_transform *rev = NULL;
    CHECK_STATUS(vf_reverse_new(2, 0, &rev), VF_OK);
    CHECK(vf_standardize_loc(rev) == NULL && vf_standardize_scale(rev) == NULL);
    vf_transform_free(rev);
    vf_transform_free(tr);
}

static void test_flowcheck(void)
{
    for (int64_t d = 1; d <= 3; d++)
        for (int64_t c = 0; c <= 2; c += 2) {
            const double loc[3] = {0.3, -1.2, 2}, scale[3] = {0.7, 1.9, 0.25};
            vf_transform *tr = make(d, c, loc, scale);
            if (!tr) continue;
            vf_params *p = vf_params_new();
            CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
            const int64_t n = 3;
            vf_real x[9], ctx[6];
            gc_fill(x, n * d, 4, 0, 1.5);
            gc_fill(ctx, n * 2, 6, 0, 1);
            const vf_real *cx = c ? ctx : NULL;
            CHECK_MSG(fc_roundtrip(tr, p, n, x, cx), "d=%lld c=%lld", (long long)d, (long long)c);
            CHECK_MSG(fc_logdet(tr, p, n, x, cx), "d=%lld c=%lld", (long long)d, (long long)c);
            CHECK_MSG(fc_gradcheck(tr, p, n, x, cx, 0), "d=%lld c=%lld forward", (long long)d, (long long)c);
            CHECK_MSG(fc_gradcheck(tr, p, n, x, cx, 1), "d=%lld c=%lld inverse", (long long)d, (long long)c);
            /* (x - loc) / scale then N(0, I) is N(loc, diag(scale^2)): on loc +- 12 scale the midpoint
             * rule's error is far below 1e-6 */
            if (d <= 2 && c == 0)
                CHECK_MSG(fc_normalization(tr, p, NULL, -10, 10, d == 1 ? 4000 : 800, 1e-4), "d=%lld", (long long)d);
            vf_params_free(p);
            vf_transform_free(tr);
        }
}

static void test_describe_registry(void)
{
    /* values that %.6g would not restore, and extremes of the double range */
    const double loc[3] = {0.1, -1.0 / 3.0, 123456789.123456789}, scale[3] = {1e-30, 3.0000000000000004, 1e30};
    vf_transform *tr = make(3, 1, loc, scale);
    if (!tr) return;
    char json[512];
    CHECK_STATUS(vf_transform_describe(tr, json, sizeof json), VF_OK);
    CHECK_MSG(strstr(json, "\"kind\":\"standardize\",\"dim\":3,\"context\":1,\"loc\":[") == json + 1, "%s", json);
    vf_params *p = vf_params_new();
    vf_transform *back = NULL;
    CHECK_STATUS(vf_transform_from_json(json, p, "transforms.0", &back), VF_OK);
    for (int i = 0; back && i < 3; i++) {
        CHECK(vf_standardize_loc(back)[i] == loc[i]);
        CHECK(vf_standardize_scale(back)[i] == scale[i]);
    }
    CHECK(vf_params_count(p) == 0);
    char small[16];
    CHECK_STATUS(vf_transform_describe(tr, small, sizeof small), VF_ERR_ARG);
    /* malformed records */
    vf_transform *bad = NULL;
    CHECK_STATUS(vf_transform_from_json("{\"kind\":\"standardize\",\"dim\":2,\"context\":0,\"loc\":[1],\"scale\":[1,1]}", p,
                                        "x", &bad), VF_ERR_FORMAT);
    CHECK_STATUS(vf_transform_from_json("{\"kind\":\"standardize\",\"dim\":1,\"context\":0,\"loc\":[1],\"scale\":[0]}", p,
                                        "x", &bad), VF_ERR_FORMAT);
    CHECK_STATUS(vf_transform_from_json("{\"kind\":\"standardize\",\"dim\":1,\"context\":0,\"loc\":[1]}", p, "x", &bad),
                 VF_ERR_FORMAT);
    CHECK(bad == NULL);
    vf_transform_free(back);
    vf_params_free(p);
    vf_transform_free(tr);
}

static void test_errors(void)
{
    vf_standardize_params sp = vf_standardize_default_params(2);
    vf_transform *tr = (vf_transform *)&sp; /* must be reset to NULL on failure */
    CHECK_STATUS(vf_standardize_new(NULL, NULL, NULL, &tr), VF_ERR_ARG);
    CHECK(tr == NULL);
    CHECK_STATUS(vf_standardize_new(NULL, NULL, &sp, NULL), VF_ERR_ARG);
    double bad_scale[2] = {1, -1}, zero_scale[2] = {0, 1}, inf_scale[2] = {1, INFINITY}, nan_loc[2] = {NAN, 0};
    sp.scale = bad_scale;
    CHECK_STATUS(vf_standardize_new(NULL, NULL, &sp, &tr), VF_ERR_ARG);
    sp.scale = zero_scale;
    CHECK_STATUS(vf_standardize_new(NULL, NULL, &sp, &tr), VF_ERR_ARG);
    sp.scale = inf_scale;
    CHECK_STATUS(vf_standardize_new(NULL, NULL, &sp, &tr), VF_ERR_ARG);
    sp.scale = NULL;
    sp.loc = nan_loc;
    CHECK_STATUS(vf_standardize_new(NULL, NULL, &sp, &tr), VF_ERR_ARG);
    sp = vf_standardize_default_params(0);
    CHECK_STATUS(vf_standardize_new(NULL, NULL, &sp, &tr), VF_ERR_ARG);
    sp = vf_standardize_default_params(2);
    sp.context = -1;
    CHECK_STATUS(vf_standardize_new(NULL, NULL, &sp, &tr), VF_ERR_ARG);
    CHECK(tr == NULL);
    /* wrong input width: a tape error, not a crash */
    tr = make(2, 0, NULL, NULL);
    vf_tape *t = vf_tape_new();
    vf_real x[3] = {1, 2, 3};
    vf_var l;
    CHECK(vf_transform_forward(tr, NULL, t, vf_input(t, x, 2, (int64_t[]){1, 3}), VF_NOVAR, &l) == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_SHAPE);
    vf_tape_free(t);
    vf_transform_free(tr);
}

static void test_stats(void)
{
    /* column 0: 1, 2, 3, 6 (mean 3, var (4 + 1 + 0 + 9) / 4 = 3.5); column 1 constant; column 2 huge */
    const vf_real x[12] = {1, 5, 1e4f, 2, 5, 3e4f, 3, 5, 1e4f, 6, 5, 3e4f};
    double loc[3], scale[3];
    CHECK_STATUS(vf_standardize_stats(x, 4, 3, 0, loc, scale), VF_OK);
    CHECK_NEAR(loc[0], 3.0, 1e-15);
    CHECK_NEAR(scale[0], sqrt(3.5), 1e-15);
    CHECK(loc[1] == 5 && scale[1] == 1);
    CHECK_NEAR(loc[2], 2e4, 1e-11);
    CHECK_NEAR(scale[2], 1e4, 1e-11);
    CHECK_STATUS(vf_standardize_stats(x, 4, 3, 1, loc, scale), VF_OK);
    CHECK_NEAR(loc[0], 3.5, 1e-15);
    CHECK_NEAR(scale[0], sqrt(3.5 + 1.0 / 12.0), 1e-15);
    CHECK_NEAR(loc[1], 5.5, 1e-15);
    CHECK_NEAR(scale[1], sqrt(1.0 / 12.0), 1e-15);
    CHECK_STATUS(vf_standardize_stats(x, 0, 3, 0, loc, scale), VF_ERR_ARG);
    CHECK_STATUS(vf_standardize_stats(NULL, 4, 3, 0, loc, scale), VF_ERR_ARG);
    const vf_real bad[2] = {1, INFINITY};
    CHECK_STATUS(vf_standardize_stats(bad, 2, 1, 0, loc, scale), VF_ERR_ARG);
    /* the statistics make the column exactly standardized: mean 0 and variance 1 in double */
    vf_transform *tr = NULL;
    CHECK_STATUS(vf_standardize_stats(x, 4, 3, 0, loc, scale), VF_OK);
    tr = make(3, 0, loc, scale);
    vf_tape *t = vf_tape_new();
    vf_var l, z = vf_transform_forward(tr, NULL, t, vf_input(t, x, 2, (int64_t[]){4, 3}), VF_NOVAR, &l);
    for (int j = 0; z != VF_NOVAR && j < 3; j += 2) {
        double m = 0, v = 0;
        for (int i = 0; i < 4; i++) m += vf_value(t, z)->data[3 * i + j] / 4.0;
        for (int i = 0; i < 4; i++) v += pow(vf_value(t, z)->data[3 * i + j] - m, 2) / 4.0;
        CHECK_NEAR(m, 0, TOL * 10);
        CHECK_NEAR(v, 1, TOL * 10);
    }
    vf_tape_free(t);
    vf_transform_free(tr);
}

/* ---- vf_flow_from_spec_after ---------------------------------------------------------------- */

#define SPEC "realnvp:transforms=3,hidden=8x2,base=diag_normal"
static const double LOC[2] = {0.25, 2e4}, SCALE[2] = {1.75, 1.5e4};

/* The preset behind a standardize transform, finalized with parameters randomized. */
static vf_status standardized_flow(const char *spec, vf_params **pp, vf_flow **ff)
{
    vf_params *p = vf_params_new();
    if (!p) return VF_ERR_NOMEM;
    vf_standardize_params sp = vf_standardize_default_params(2);
    sp.loc = LOC;
    sp.scale = SCALE;
    vf_transform *lead = NULL;
    vf_flow *f = NULL;
    vf_status s = vf_standardize_new(p, "transforms.0", &sp, &lead);
    if (s == VF_OK) s = vf_flow_from_spec_after(spec, 2, 0, 1, &lead, p, &f);
    if (s == VF_OK) s = vf_params_finalize(p, 3);
    if (s != VF_OK) {
        vf_flow_free(f);
        vf_params_free(p);
        return s;
    }
    fc_randomize(p, 5, 0.3);
    *pp = p;
    *ff = f;
    return VF_OK;
}

/* log p(x) of rows x [n, 2] into out [n]. */
static vf_status log_prob(const vf_flow *f, vf_params *p, const vf_real *x, int64_t n, vf_real *out)
{
    vf_tape *t = vf_tape_new();
    if (!t) return VF_ERR_NOMEM;
    vf_var lp = vf_flow_log_prob(f, p, t, vf_input(t, x, 2, (int64_t[]){n, 2}), VF_NOVAR);
    vf_status s = vf_tape_status(t);
    if (s == VF_OK) memcpy(out, vf_value(t, lp)->data, sizeof(vf_real) * (size_t)n);
    vf_tape_free(t);
    return s;
}

static void test_spec_after(void)
{
    vf_params *p = NULL;
    vf_flow *f = NULL;
    CHECK_STATUS(standardized_flow(SPEC, &p, &f), VF_OK);
    if (!f) return;
    CHECK(vf_flow_n_transforms(f) == 4);
    CHECK(strcmp(vf_transform_kind(vf_flow_transform(f, 0)), "standardize") == 0);
    CHECK(strcmp(vf_transform_kind(vf_flow_transform(f, 1)), "affine_coupling") == 0);
    CHECK(vf_params_find(p, "transforms.1.net.layers.0.weight") >= 0);
    CHECK(vf_params_find(p, "transforms.3.net.layers.2.bias") >= 0);
    CHECK(vf_params_find(p, "transforms.0.net.layers.0.weight") < 0);
    CHECK(vf_params_find(p, "base.loc") >= 0);

    /* the same preset without the leading transform, with the same parameter values (names shifted) */
    vf_params *q = vf_params_new();
    vf_flow *g = NULL;
    CHECK_STATUS(vf_flow_from_spec(SPEC, 2, 0, q, &g), VF_OK);
    CHECK_STATUS(vf_params_finalize(q, 0), VF_OK);
    CHECK(vf_params_count(q) == vf_params_count(p) && vf_params_size(q) == vf_params_size(p));
    for (int32_t id = 0; g && id < vf_params_count(q); id++) {
        vf_param_info info;
        vf_params_info(q, id, &info);
        char name[VF_PARAM_NAME_MAX];
        int i = -1;
        if (sscanf(info.name, "transforms.%d.", &i) == 1) {
            const char *rest = strchr(info.name + 11, '.');
            snprintf(name, sizeof name, "transforms.%d%s", i + 1, rest);
        } else {
            snprintf(name, sizeof name, "%s", info.name);
        }
        int32_t src = vf_params_find(p, name);
        CHECK_MSG(src >= 0, "%s", name);
        if (src >= 0) memcpy(vf_params_data(q, id), vf_params_data(p, src), sizeof(vf_real) * (size_t)info.numel);
    }
    enum { N = 64 };
    vf_real x[2 * N], xs[2 * N], lp[N], lq[N], ll[N];
    vf_rng r;
    vf_rng_init(&r, 11, 0);
    for (int i = 0; i < N; i++) {
        x[2 * i] = (vf_real)(LOC[0] + SCALE[0] * vf_rng_normal(&r));
        x[2 * i + 1] = (vf_real)(LOC[1] + SCALE[1] * vf_rng_normal(&r));
        for (int j = 0; j < 2; j++) xs[2 * i + j] = (vf_real)(((double)x[2 * i + j] - LOC[j]) / SCALE[j]);
    }
    CHECK_STATUS(log_prob(f, p, x, N, lp), VF_OK);
    CHECK_STATUS(log_prob(g, q, xs, N, lq), VF_OK);
    const double sum_log = log(SCALE[0]) + log(SCALE[1]);
    double worst = 0;
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs((double)lp[i] - ((double)lq[i] - sum_log)) / fmax(1, fabs(lp[i])));
    /* float: the standardized inputs of the two paths differ in rounding (vf_real vs double division) */
    CHECK_MSG(worst < (VF_USE_DOUBLE ? 1e-13 : 1e-4), "log p(x) vs log q(standardized x) - sum log scale: %g", worst);

    /* save and load: every log-density equal to the last bit */
    CHECK_STATUS(vf_flow_save(f, p, path_of("std.safetensors"), 0, NULL, NULL), VF_OK);
    vf_params *p2 = NULL;
    vf_flow *f2 = NULL;
    CHECK_STATUS(vf_flow_load(path_of("std.safetensors"), &p2, &f2, NULL), VF_OK);
    if (f2) {
        CHECK_STATUS(log_prob(f2, p2, x, N, ll), VF_OK);
        CHECK(memcmp(ll, lp, sizeof lp) == 0);
        CHECK(vf_standardize_scale(vf_flow_transform(f2, 0))[1] == SCALE[1]);
        CHECK(vf_standardize_loc(vf_flow_transform(f2, 0))[0] == LOC[0]);
    }
    vf_flow_free(f2);
    vf_params_free(p2);
    vf_flow_free(g);
    vf_params_free(q);
    vf_flow_free(f);
    vf_params_free(p);
}

static void test_spec_after_errors(void)
{
    vf_params *p = vf_params_new();
    vf_flow *f = (vf_flow *)p;
    vf_transform *lead = make(2, 0, NULL, NULL);
    /* a bad spec frees the leading transform (ASan would report a leak) and registers nothing */
    CHECK_STATUS(vf_flow_from_spec_after("realnvp:colour=blue", 2, 0, 1, &lead, p, &f), VF_ERR_ARG);
    CHECK(f == NULL && vf_params_count(p) == 0);
    lead = make(3, 0, NULL, NULL); /* dimension mismatch */
    CHECK_STATUS(vf_flow_from_spec_after("maf", 2, 0, 1, &lead, p, &f), VF_ERR_SHAPE);
    CHECK(f == NULL && vf_params_count(p) == 0);
    vf_transform *none[1] = {NULL};
    CHECK_STATUS(vf_flow_from_spec_after("maf", 2, 0, 1, none, p, &f), VF_ERR_ARG);
    lead = make(2, 0, NULL, NULL);
    CHECK_STATUS(vf_flow_from_spec_after("maf", 2, 0, 1, &lead, NULL, &f), VF_ERR_ARG);
    /* no leading transform: the plain preset */
    CHECK_STATUS(vf_flow_from_spec_after("maf", 2, 0, 0, NULL, p, &f), VF_OK);
    CHECK(f && vf_params_find(p, "transforms.0.net.input.weight") >= 0);
    vf_flow_free(f);
    vf_params_free(p);
}

static vf_status alloc_scenario(void *ctx)
{
    (void)ctx;
    vf_params *p = NULL;
    vf_flow *f = NULL;
    vf_status s = standardized_flow("maf:transforms=2,hidden=4", &p, &f);
    vf_real x[4] = {1, 20000, -1, 30000}, lp[2];
    if (s == VF_OK) s = log_prob(f, p, x, 2, lp);
    if (s == VF_OK && !(isfinite(lp[0]) && isfinite(lp[1]))) s = VF_ERR_NUMERIC;
    vf_flow_free(f);
    vf_params_free(p);
    return s;
}

static void test_alloc_failures(void)
{
    CHECK(alloc_scenario(NULL) == VF_OK);
    CHECK(af_sweep("standardized flow", alloc_scenario, NULL, 0) == 0);
    CHECK(af_sweep("standardized flow (sticky)", alloc_scenario, NULL, 1) == 0);
}

int main(void)
{
    if (tmpdir_open("vf_std")) return 1;
    RUN(test_values);
    RUN(test_flowcheck);
    RUN(test_describe_registry);
    RUN(test_errors);
    RUN(test_stats);
    RUN(test_spec_after);
    RUN(test_spec_after_errors);
    RUN(test_alloc_failures);
    tmpdir_close();
    return vf_test_summary();
}
