/* test_train_api.c — the one-call training API of vf_train.h: vf_fit_table fits a flow (and a
 * conditional flow) and a continuous flow (also class-conditional), the handle saves, and the
 * reloaded model's log-densities equal the in-memory model's; the reported train NLL is the mean of those log-densities; the metadata is `varflow fit`'s;
 * vf_vi_run on a Gaussian target estimates its known log Z within the reported standard error and its
 * saved flow is the q of its draws; bad input is an error with a message and no handle. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <varflow.h>
#include "tmpdir.h"
#include "vf_test.h"

#define N 600

/* x [N, 2]: a correlated Gaussian far from the origin (so standardization matters); ctx [N] the
 * context that shifts the first column when cond. */
static void make_data(vf_real *x, vf_real *ctx, int cond)
{
    vf_rng r;
    vf_rng_init(&r, 5, 0);
    for (int i = 0; i < N; i++) {
        double a = vf_rng_normal(&r), b = vf_rng_normal(&r), c = vf_rng_uniform(&r) * 2 - 1;
        ctx[i] = (vf_real)c;
        x[2 * i] = (vf_real)(10 + 3 * a + (cond ? 4 * c : 0));
        x[2 * i + 1] = (vf_real)(-5 + a + 0.5 * b);
    }
}

/* Max |lp_a - lp_b| over the rows of the fitted flow m and the flow loaded from path. */
static double reload_gap(const vf_fitted *m, const char *path, const vf_real *x, const vf_real *ctx, int64_t c,
                         double *mean_lp)
{
    vf_params *p = NULL;
    vf_flow *f = NULL;
    vf_model_meta meta;
    static vf_real a[N], b[N];
    CHECK_STATUS(vf_flow_log_prob_rows(vf_fitted_flow(m), vf_fitted_params(m), NULL, N, x, c ? ctx : NULL,
                                       c ? N : 0, a), VF_OK);
    CHECK_STATUS(vf_flow_load(path, &p, &f, &meta), VF_OK);
    if (!f) return INFINITY;
    const char *spec = vf_model_meta_get(&meta, "fit.spec");
    CHECK(spec && strcmp(spec, vf_fitted_meta_get(m, "fit.spec")) == 0);
    CHECK_STATUS(vf_flow_log_prob_rows(f, p, NULL, N, x, c ? ctx : NULL, c ? N : 0, b), VF_OK);
    double gap = 0, sum = 0;
    for (int i = 0; i < N; i++) {
        gap = fmax(gap, fabs((double)a[i] - (double)b[i]));
        sum += a[i];
    }
    *mean_lp = sum / N;
    vf_model_meta_free(&meta);
    vf_flow_free(f);
    vf_params_free(p);
    return gap;
}

static void test_fit_flow(void)
{
    static vf_real x[2 * N], ctx[N];
    make_data(x, ctx, 0);
    vf_fit_table_options o = vf_fit_table_default_options();
    o.fit.epochs = 8;
    o.fit.batch = 128;
    o.fit.seed = 3;
    o.data_name = "toy";
    vf_fitted *m = NULL;
    vf_fit_result r;
    CHECK_STATUS(vf_fit_table("maf:transforms=2,hidden=16x2", x, N, 2, NULL, 0, NULL, 0, NULL, &o, &m, &r), VF_OK);
    if (!m) return;
    CHECK(r.train_rows == N - 60 && r.valid_rows == 60 && r.stage == VF_FIT_STAGE_NONE);
    CHECK(vf_fitted_get_kind(m) == VF_FITTED_FLOW && vf_fitted_dim(m) == 2);
    CHECK(r.params == vf_fitted_param_count(m) && r.params > 0);
    CHECK(isfinite(r.train_nll) && isfinite(r.valid_nll) && isnan(r.train_loss));
    CHECK(strcmp(vf_fitted_meta_get(m, "fit.data"), "toy") == 0);
    CHECK(strcmp(vf_fitted_meta_get(m, "fit.standardize"), "1") == 0);
    CHECK(strcmp(vf_fitted_meta_get(m, "fit.valid"), "fraction 0.1 of fit.data") == 0);
    CHECK(vf_fitted_meta_get(m, "fit.steps") && vf_fitted_meta_get(m, "fit.dequantize") == NULL);
    CHECK_STATUS(vf_fitted_save(m, path_of("flow.safetensors")), VF_OK);
    double mean_lp = 0;
    CHECK(reload_gap(m, path_of("flow.safetensors"), x, ctx, 0, &mean_lp) == 0.0);
    /* the model learned the scale of the data: a standard normal in the original units would give
     * an NLL near 60 nats per row; the data's own entropy is log(2 pi e) + log(3 * 0.5) = 3.24 */
    CHECK_MSG(r.valid_nll < 4.0, "valid NLL %g", r.valid_nll);
    vf_fitted_free(m);

    /* without validation every row trains, so the reported NLL is the mean over x */
    o.valid_fraction = 0;
    CHECK_STATUS(vf_fit_table("maf:transforms=2,hidden=16x2", x, N, 2, NULL, 0, NULL, 0, NULL, &o, &m, &r), VF_OK);
    if (!m) return;
    CHECK(r.valid_rows == 0 && isnan(r.valid_nll) && r.best_epoch == 8);
    CHECK_STATUS(vf_fitted_save(m, path_of("flow.safetensors")), VF_OK);
    CHECK(reload_gap(m, path_of("flow.safetensors"), x, ctx, 0, &mean_lp) == 0.0);
    CHECK_NEAR(r.train_nll, -mean_lp, 1e-4 * (1 + fabs(mean_lp)));
    /* the generic handle: loaded back with its metadata, the same log-densities, finite draws */
    vf_fitted *g = NULL;
    CHECK_STATUS(vf_fitted_load(path_of("flow.safetensors"), &g), VF_OK);
    if (g) {
        static vf_real a[N], b[N], draws[2 * 8];
        CHECK(vf_fitted_get_kind(g) == VF_FITTED_FLOW && strcmp(vf_fitted_meta_get(g, "fit.data"), "toy") == 0);
        CHECK_STATUS(vf_fitted_log_prob(m, N, x, NULL, NULL, a), VF_OK);
        CHECK_STATUS(vf_fitted_log_prob(g, N, x, NULL, NULL, b), VF_OK);
        CHECK(memcmp(a, b, sizeof a) == 0);
        CHECK_STATUS(vf_fitted_sample(g, 8, NULL, NULL, 1, draws), VF_OK);
        for (int i = 0; i < 16; i++) CHECK(isfinite(draws[i]));
        CHECK_STATUS(vf_fitted_set_meta(g, "note", "kept"), VF_OK);
        CHECK_STATUS(vf_fitted_save(g, path_of("flow2.safetensors")), VF_OK);
        vf_fitted_free(g);
        g = NULL;
        CHECK_STATUS(vf_fitted_load(path_of("flow2.safetensors"), &g), VF_OK);
        CHECK(g && strcmp(vf_fitted_meta_get(g, "note"), "kept") == 0 && vf_fitted_meta_get(g, "fit.spec"));
        vf_fitted_free(g);
    }
    vf_fitted_free(m);
}

static void test_fit_conditional(void)
{
    static vf_real x[2 * N], ctx[N];
    make_data(x, ctx, 1);
    vf_fit_table_options o = vf_fit_table_default_options();
    o.fit.epochs = 6;
    o.fit.batch = 100;
    vf_fitted *m = NULL;
    vf_fit_result r;
    CHECK_STATUS(vf_fit_table("maf:transforms=2,hidden=16x2", x, N, 2, ctx, 1, NULL, 0, NULL, &o, &m, &r), VF_OK);
    if (!m) return;
    CHECK(vf_flow_context_dim(vf_fitted_flow(m)) == 1);
    CHECK_STATUS(vf_fitted_save(m, path_of("cond.safetensors")), VF_OK);
    double mean_lp = 0;
    CHECK(reload_gap(m, path_of("cond.safetensors"), x, ctx, 1, &mean_lp) == 0.0);
    vf_fitted_free(m);
}

/* Exact log-densities (rk4, 40 steps) of the first k rows of x under m and under the model loaded
 * from path; returns the largest difference. */
static double cnf_reload_gap(const vf_cnf_model *m, const char *path, const vf_real *x, const int64_t *labels, int k)
{
    vf_cnf_model *g = NULL;
    CHECK_STATUS(vf_cnf_model_load(path, &g, NULL), VF_OK);
    if (!g) return INFINITY;
    vf_cnf_sample_options so = vf_cnf_sample_default_options();
    so.ode.steps = 40;
    vf_real a[32], b[32];
    CHECK_STATUS(vf_cnf_model_log_prob(m, k, x, labels, &so, a, NULL), VF_OK);
    CHECK_STATUS(vf_cnf_model_log_prob(g, k, x, labels, &so, b, NULL), VF_OK);
    double gap = 0;
    for (int i = 0; i < k; i++) gap = fmax(gap, fabs((double)a[i] - (double)b[i]));
    CHECK(isfinite(gap));
    vf_cnf_model_free(g);
    return gap;
}

static void test_fit_cnf(void)
{
    static vf_real x[2 * N], ctx[N];
    static int64_t labels[N];
    make_data(x, ctx, 0);
    for (int i = 0; i < N; i++) labels[i] = ctx[i] > 0;
    vf_fit_table_options o = vf_fit_table_default_options();
    o.fit.epochs = 4;
    o.fit.batch = 128;
    o.nll_rows = 20;
    o.data_name = "toy";
    vf_fitted *m = NULL;
    vf_fit_result r;
    CHECK_STATUS(vf_fit_table("otcfm:hidden=16x2", x, N, 2, NULL, 0, NULL, 0, NULL, &o, &m, &r), VF_OK);
    if (!m) return;
    CHECK(vf_fitted_get_kind(m) == VF_FITTED_CNF && vf_fitted_flow(m) == NULL && vf_fitted_cnf(m) != NULL);
    CHECK(r.train_rows == N - 60 && r.valid_rows == 60 && r.params == vf_fitted_param_count(m));
    CHECK(isfinite(r.train_loss) && isfinite(r.valid_loss) && isfinite(r.train_nll) && isfinite(r.valid_nll));
    CHECK(strcmp(vf_fitted_meta_get(m, "fit.spec"), "otcfm:hidden=16x2") == 0);
    CHECK(vf_fitted_meta_get(m, "fit.train_loss") && vf_fitted_meta_get(m, "fit.source") == NULL);
    /* standardized inside the model: the saved mean is the data's (about 10 and -5) */
    CHECK(fabs((double)vf_fitted_cnf(m)->mean[0] - 10) < 1 && fabs((double)vf_fitted_cnf(m)->mean[1] + 5) < 1);
    CHECK_STATUS(vf_fitted_save(m, path_of("cfm.safetensors")), VF_OK);
    CHECK(cnf_reload_gap(vf_fitted_cnf(m), path_of("cfm.safetensors"), x, NULL, 16) == 0.0);
    vf_fitted *g = NULL;
    CHECK_STATUS(vf_fitted_load(path_of("cfm.safetensors"), &g), VF_OK);
    if (g) {
        vf_real a[4], b[4], draws[8];
        CHECK(vf_fitted_get_kind(g) == VF_FITTED_CNF && vf_fitted_meta_get(g, "fit.train_loss"));
        CHECK_STATUS(vf_fitted_log_prob(m, 4, x, NULL, NULL, a), VF_OK);
        CHECK_STATUS(vf_fitted_log_prob(g, 4, x, NULL, NULL, b), VF_OK);
        CHECK(memcmp(a, b, sizeof a) == 0);
        CHECK_STATUS(vf_fitted_sample(g, 4, NULL, NULL, 1, draws), VF_OK);
        for (int i = 0; i < 8; i++) CHECK(isfinite(draws[i]));
        vf_fitted_free(g);
    }
    vf_fitted_free(m);

    o.labels = labels; /* class-conditional */
    CHECK_STATUS(vf_fit_table("cfm:hidden=16x2", x, N, 2, NULL, 0, NULL, 0, NULL, &o, &m, &r), VF_OK);
    if (!m) return;
    CHECK(vf_fitted_cnf(m)->spec.field.classes == 2);
    CHECK_STATUS(vf_fitted_save(m, path_of("cond_cfm.safetensors")), VF_OK);
    CHECK(cnf_reload_gap(vf_fitted_cnf(m), path_of("cond_cfm.safetensors"), x, labels, 16) == 0.0);
    vf_fitted_free(m);
}

static void test_vi_run(void)
{
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("gauss:d=2", &t), VF_OK);
    CHECK(t.has_log_z);
    vf_vi_run_options o = vf_vi_run_default_options();
    o.vi.steps = 300;
    o.vi.batch = 128;
    o.vi.lr = 3e-3;
    o.vi.seed = 7;
    o.is_samples = 4000;
    static vf_real draws[4000 * 2];
    static double logw[4000];
    o.draws = draws;
    o.log_weights = logw;
    vf_fitted *m = NULL;
    vf_vi_summary s;
    CHECK_STATUS(vf_vi_run(&t, "maf:transforms=2,hidden=16x2", &o, &m, &s), VF_OK);
    if (m) {
        printf("vi: log Z %g +- %g (true %g), ESS %.3f\n", s.log_z, s.log_z_stderr, t.log_z, s.ess_fraction);
        /* log Z from the reported standard error: within 4 of them (plus float rounding) of the truth */
        CHECK_MSG(fabs(s.log_z - t.log_z) < 4 * s.log_z_stderr + 1e-3, "log Z %g +- %g, true %g", s.log_z,
                  s.log_z_stderr, t.log_z);
        CHECK(s.log_z_stderr > 0 && s.log_z_stderr < 0.05 && s.ess_fraction > 0.5 && s.elbo <= s.log_z);
        CHECK(s.steps == 300 && s.is_samples == 4000 && s.params == vf_fitted_param_count(m) && s.box == 0);
        CHECK(isfinite(s.forward_ess_fraction) && s.log_z_true == t.log_z);
        CHECK(strcmp(vf_fitted_meta_get(m, "vi.target"), "gauss") == 0);
        double mean = 0;
        for (int i = 0; i < 4000; i++) mean += logw[i] / 4000;
        CHECK_NEAR(mean, s.elbo, 1e-9 * (1 + fabs(mean)));
        /* the saved flow is the trained q: log q of the draws = log p~ - log w */
        CHECK_STATUS(vf_fitted_save(m, path_of("vi.safetensors")), VF_OK);
        vf_params *p = NULL;
        vf_flow *f = NULL;
        CHECK_STATUS(vf_flow_load(path_of("vi.safetensors"), &p, &f, NULL), VF_OK);
        static vf_real lq[64];
        static double lp[64];
        if (f) {
            CHECK_STATUS(vf_flow_log_prob_rows(f, p, NULL, 64, draws, NULL, 0, lq), VF_OK);
            CHECK_STATUS(vf_target_scores(&t, 64, draws, lp, NULL), VF_OK);
            double gap = 0;
            for (int i = 0; i < 64; i++) gap = fmax(gap, fabs(lp[i] - (double)lq[i] - logw[i]));
            CHECK_MSG(gap < 1e-3, "log w gap %g", gap);
        }
        vf_flow_free(f);
        vf_params_free(p);
        vf_fitted_free(m);
    }
    m = NULL;
    vf_status st = vf_vi_run(&t, "maf:widht=2", &o, &m, &s);
    CHECK(st == VF_ERR_ARG && m == NULL && s.stage == VF_FIT_STAGE_SPEC && strstr(s.error, "widht"));
    o.is_samples = 1;
    st = vf_vi_run(&t, NULL, &o, &m, &s);
    CHECK(st == VF_ERR_ARG && m == NULL && s.stage == VF_FIT_STAGE_INPUT && strstr(s.error, "is_samples"));
    vf_target_free(&t);
}

/* The call fails with status want, a message, the stage and no handle. */
static void expect_error(vf_status got, vf_status want, const vf_fitted *m, const vf_fit_result *r, vf_fit_stage stage,
                         const char *needle)
{
    CHECK_MSG(got == want, "status %s, wanted %s", vf_status_name(got), vf_status_name(want));
    CHECK(m == NULL);
    CHECK_MSG(r->stage == stage, "stage %d, wanted %d", (int)r->stage, (int)stage);
    CHECK_MSG(strstr(r->error, needle) && strstr(vf_last_error(), needle), "'%s' lacks '%s'", r->error, needle);
}

static void test_bad_input(void)
{
    static vf_real x[2 * N], ctx[N];
    make_data(x, ctx, 0);
    vf_fit_table_options o = vf_fit_table_default_options();
    o.fit.epochs = 1;
    vf_fitted *m = NULL;
    vf_fit_result r;
    vf_status s = vf_fit_table("maf:widht=3", x, N, 2, NULL, 0, NULL, 0, NULL, &o, &m, &r);
    expect_error(s, VF_ERR_ARG, m, &r, VF_FIT_STAGE_SPEC, "widht");
    s = vf_fit_table("cfm:widht=3", x, N, 2, NULL, 0, NULL, 0, NULL, &o, &m, &r);
    expect_error(s, VF_ERR_ARG, m, &r, VF_FIT_STAGE_SPEC, "unknown key 'widht'");
    s = vf_fit_table("cfm", x, N, 2, ctx, 1, NULL, 0, NULL, &o, &m, &r);
    expect_error(s, VF_ERR_UNSUPPORTED, m, &r, VF_FIT_STAGE_INPUT, "context");
    static int64_t labels[N];
    o.labels = labels;
    s = vf_fit_table("maf", x, N, 2, NULL, 0, NULL, 0, NULL, &o, &m, &r);
    expect_error(s, VF_ERR_UNSUPPORTED, m, &r, VF_FIT_STAGE_INPUT, "class labels");
    o.labels = NULL;
    s = vf_fit_table("nosuchflow", x, N, 2, NULL, 0, NULL, 0, NULL, &o, &m, &r);
    expect_error(s, VF_ERR_ARG, m, &r, VF_FIT_STAGE_SPEC, "nosuchflow");
    s = vf_fit_table("maf", x, 0, 2, NULL, 0, NULL, 0, NULL, &o, &m, &r);
    expect_error(s, VF_ERR_ARG, m, &r, VF_FIT_STAGE_INPUT, "no data rows");
    o.valid_dim = 3;
    o.valid_name = "v3";
    s = vf_fit_table("maf", x, N, 2, NULL, 0, x, 10, NULL, &o, &m, &r);
    expect_error(s, VF_ERR_SHAPE, m, &r, VF_FIT_STAGE_INPUT, "v3 has 3 columns but array has 2");
    o.valid_dim = 0;
    s = vf_fit_table("maf", x, 1, 2, NULL, 0, NULL, 0, NULL, &o, &m, &r);
    expect_error(s, VF_ERR_ARG, m, &r, VF_FIT_STAGE_INPUT, "too few");
    o.fit.dequantize = 1;
    s = vf_fit_table("maf", x, N, 2, NULL, 0, NULL, 0, NULL, &o, &m, &r);
    expect_error(s, VF_ERR_ARG, m, &r, VF_FIT_STAGE_INPUT, "integer");
    o.fit.dequantize = 0;
    x[7] = NAN;
    s = vf_fit_table("maf", x, N, 2, NULL, 0, NULL, 0, NULL, &o, &m, &r);
    CHECK(s != VF_OK && m == NULL && r.stage == VF_FIT_STAGE_STANDARDIZE && strstr(r.error, "cannot standardize"));
}

int main(void)
{
    if (tmpdir_open("vf_train_api")) return 1;
    RUN(test_fit_flow);
    RUN(test_fit_conditional);
    RUN(test_fit_cnf);
    RUN(test_vi_run);
    RUN(test_bad_input);
    tmpdir_close();
    return vf_test_summary();
}
