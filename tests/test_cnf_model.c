/* test_cnf_model.c — continuous-flow model files (vf_cnf_model.h): exact log-densities of a zero
 * field (the source's density, Gaussian and Student-t, through the standardization's Jacobian); a
 * random 1-D field's density integrates to 1 on a grid; log-densities from the sampling solve equal
 * those of log_prob on the samples (plain and guided); Hutchinson is exact in 1-D; a save/load round
 * trip gives the same samples and log-densities bit for bit; MeanFlow and data sources; every
 * argument error; every load error (one edit of a good file each, truncations) with the file named
 * and nothing leaked; out of memory in save, load, sample and log_prob. */
#include <math.h>
#include <string.h>
#include "alloc_fail.h"
#include "tmpdir.h"
#include "vf_test.h"

#define TEST_PI 3.14159265358979323846
#define FLOAT_TOL (sizeof(vf_real) == 8 ? 1e-9 : 2e-4)

static vf_cnf_model *make(vf_cnf_objective obj, int64_t d, int64_t classes, int zero, uint64_t seed)
{
    vf_cnf_spec spec = vf_cnf_spec_default(obj, d);
    spec.field.n_hidden = 2;
    spec.field.hidden[0] = spec.field.hidden[1] = 16;
    spec.field.time_features = 8;
    spec.field.time_max_frequency = 4;
    spec.field.classes = classes;
    spec.field.zero_init_output = zero;
    spec.p_uncond = classes ? 0.2 : 0;
    vf_cnf_model *m = NULL;
    CHECK_STATUS(vf_cnf_model_new(&spec, seed, &m), VF_OK);
    return m;
}

/* A sample that overflows in the data's units (a standardization's scale near the largest float) is
 * VF_ERR_NUMERIC naming its row, by every solver kind and with the path energy; it used to come back
 * as -inf with VF_OK (found by tests/fuzz/fuzz_fit.c). Modest scales still sample. */
static void test_overflowing_samples_reported(void)
{
    vf_cnf_model *m = make(VF_CNF_CFM, 1, 0, 1, 3);
    if (!m) return;
    enum { N = 64 };
    vf_real x[N], lp[N], mean = 0, std = (vf_real)(sizeof(vf_real) == 8 ? 1e308 : 3e38);
    CHECK_STATUS(vf_cnf_model_set_standardization(m, &mean, &std), VF_OK);
    vf_cnf_sample_options o = vf_cnf_sample_default_options();
    o.ode.solver = VF_SOLVER_EULER;
    o.ode.steps = 2;
    vf_rng r;
    vf_rng_init(&r, 4, 0);
    CHECK_STATUS(vf_cnf_model_sample(m, N, NULL, NULL, &r, &o, x, NULL, NULL), VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "gives a non-finite result") != NULL);
    CHECK_STATUS(vf_cnf_model_sample(m, N, NULL, NULL, &r, &o, x, lp, NULL), VF_ERR_NUMERIC);
    double energy = 0;
    CHECK_STATUS(vf_cnf_model_sample_energy(m, N, NULL, NULL, &r, &o, x, &energy, NULL), VF_ERR_NUMERIC);
    std = 1e3;
    CHECK_STATUS(vf_cnf_model_set_standardization(m, &mean, &std), VF_OK);
    CHECK_STATUS(vf_cnf_model_sample(m, N, NULL, NULL, &r, &o, x, lp, NULL), VF_OK);
    for (int i = 0; i < N; i++) CHECK(isfinite((double)x[i]) && isfinite((double)lp[i]));
    vf_cnf_model_free(m);
}

/* A zero field moves nothing: log p(x) = log p0((x - mean) / std) - sum log std, and samples are
 * mean + std * source draws. */
static void test_zero_field_is_the_source(void)
{
    for (int student = 0; student < 2; student++) {
        vf_cnf_spec spec = vf_cnf_spec_default(VF_CNF_CFM, 2);
        spec.field.zero_init_output = 1;
        if (student) spec.source.kind = VF_CNF_SOURCE_STUDENT_T, spec.source.df = 3;
        vf_cnf_model *m = NULL;
        CHECK_STATUS(vf_cnf_model_new(&spec, 1, &m), VF_OK);
        if (!m) return;
        const vf_real mean[2] = {1, -2}, sd[2] = {2, 0.5f};
        CHECK_STATUS(vf_cnf_model_set_standardization(m, mean, sd), VF_OK);
        enum { N = 5 };
        const vf_real x[N * 2] = {0, 0, 1, -2, 3.5f, 1, -4, -2.5f, 10, 0.25f};
        vf_real lp[N];
        vf_cnf_sample_options o = vf_cnf_sample_default_options();
        o.ode.steps = 4;
        vf_ode_stats st;
        CHECK_STATUS(vf_cnf_model_log_prob(m, N, x, NULL, &o, lp, &st), VF_OK);
        CHECK(st.nfe == 16);
        for (int i = 0; i < N; i++) {
            double want = -log(2.0) - log(0.5);
            for (int j = 0; j < 2; j++) {
                double z = ((double)x[i * 2 + j] - mean[j]) / sd[j];
                want += student ? lgamma(2.0) - lgamma(1.5) - 0.5 * log(3 * TEST_PI) - 2 * log1p(z * z / 3)
                                : -0.5 * z * z - 0.5 * log(2 * TEST_PI);
            }
            CHECK_NEAR(lp[i], want, FLOAT_TOL * (1 + fabs(want)));
        }
        /* samples: the source draws, scaled */
        vf_rng r1, r2;
        vf_rng_init(&r1, 7, 0);
        vf_rng_init(&r2, 7, 0);
        vf_real xs[N * 2], x0[N * 2], lps[N], lp0[N];
        CHECK_STATUS(vf_cnf_model_sample(m, N, NULL, NULL, &r1, &o, xs, lps, NULL), VF_OK);
        CHECK_STATUS(vf_cnf_model_source_sample(m, N, &r2, x0), VF_OK);
        CHECK_STATUS(vf_cnf_model_source_log_prob(m, N, x0, lp0), VF_OK);
        for (int i = 0; i < N; i++) {
            for (int j = 0; j < 2; j++) CHECK_NEAR(xs[i * 2 + j], mean[j] + sd[j] * x0[i * 2 + j], FLOAT_TOL);
            CHECK_NEAR(lps[i], lp0[i] - log(2.0) - log(0.5), FLOAT_TOL * (1 + fabs(lp0[i])));
        }
        vf_cnf_model_free(m);
    }
}

/* The Student-t source's draws: the variance of t(df = 5) is 5 / 3; 20000 draws put the sample
 * variance within 5 standard errors (its kurtosis is 9 for df = 5, so the standard error is
 * sqrt((9 - 1) / N) times the variance). */
static void test_student_source_draws(void)
{
    vf_cnf_spec spec = vf_cnf_spec_default(VF_CNF_CFM, 1);
    spec.source.kind = VF_CNF_SOURCE_STUDENT_T;
    spec.source.df = 5;
    vf_cnf_model *m = NULL;
    CHECK_STATUS(vf_cnf_model_new(&spec, 1, &m), VF_OK);
    if (!m) return;
    enum { N = 20000 };
    static vf_real x[N];
    vf_rng r;
    vf_rng_init(&r, 3, 0);
    CHECK_STATUS(vf_cnf_model_source_sample(m, N, &r, x), VF_OK);
    double s2 = 0;
    for (int i = 0; i < N; i++) s2 += (double)x[i] * x[i];
    s2 /= N;
    double var = 5.0 / 3.0;
    CHECK_MSG(fabs(s2 - var) < 5 * var * sqrt(8.0 / N), "variance %g, want %g", s2, var);
    vf_cnf_model_free(m);
}

/* A random 1-D field, standardized with mean 1 and std 2: exp(log p) integrates to 1 over a grid
 * (trapezoid on [-25, 25], 2001 points; the tails beyond hold < 1e-6 of the Gaussian source's mass
 * once the field has moved it by O(1)). rk4 with 50 steps: the ODE error is far below 1e-3. */
static void test_density_integrates_to_one(void)
{
    vf_cnf_model *m = make(VF_CNF_CFM, 1, 0, 0, 11);
    if (!m) return;
    const vf_real mean[1] = {1}, sd[1] = {2};
    CHECK_STATUS(vf_cnf_model_set_standardization(m, mean, sd), VF_OK);
    enum { G = 2001 };
    static vf_real x[G], lp[G];
    double lo = -25, hi = 25, h = (hi - lo) / (G - 1);
    for (int i = 0; i < G; i++) x[i] = (vf_real)(lo + h * i);
    vf_cnf_sample_options o = vf_cnf_sample_default_options();
    o.ode.steps = 50;
    CHECK_STATUS(vf_cnf_model_log_prob(m, G, x, NULL, &o, lp, NULL), VF_OK);
    double mass = 0, moved = 0;
    for (int i = 0; i < G; i++) {
        double w = (i == 0 || i == G - 1) ? 0.5 : 1;
        mass += w * h * exp((double)lp[i]);
        double ref = -0.5 * log(2 * TEST_PI) - log(2.0) - 0.5 * pow(((double)x[i] - 1) / 2, 2);
        moved += w * h * fabs(exp((double)lp[i]) - exp(ref));
    }
    CHECK_MSG(fabs(mass - 1) < 2e-3, "the density integrates to %.6f", mass);
    CHECK_MSG(moved > 0.01, "the random field barely moves the source (L1 %.4f): the test would not see a sign error",
              moved);
    vf_cnf_model_free(m);
}

/* Log-densities from the sampling solve equal log_prob of the samples (forward vs backward solve:
 * equal up to the ODE error of rk4 with 100 steps), without and with guidance; in 1-D Hutchinson's
 * estimate is exact (eps^2 = 1). */
static void test_sample_log_prob_consistent(void)
{
    vf_cnf_model *m = make(VF_CNF_CFM, 2, 3, 0, 5);
    if (!m) return;
    enum { N = 40 };
    vf_real x[N * 2], lp[N], back[N];
    int64_t labels[N];
    for (int i = 0; i < N; i++) labels[i] = i % 3;
    for (int g = 0; g < 2; g++) {
        vf_cnf_sample_options o = vf_cnf_sample_default_options();
        o.guidance = g ? 1.5 : 0;
        vf_rng r;
        vf_rng_init(&r, 9, 0);
        vf_ode_stats st;
        CHECK_STATUS(vf_cnf_model_sample(m, N, NULL, labels, &r, &o, x, lp, &st), VF_OK);
        CHECK(st.nfe == 400);
        CHECK_STATUS(vf_cnf_model_log_prob(m, N, x, labels, &o, back, NULL), VF_OK);
        for (int i = 0; i < N; i++) CHECK_NEAR(lp[i], back[i], sizeof(vf_real) == 8 ? 1e-6 : 2e-3);
    }
    vf_cnf_model_free(m);

    m = make(VF_CNF_CFM, 1, 0, 0, 6);
    if (!m) return;
    vf_real x1[N], exact[N], hutch[N];
    for (int i = 0; i < N; i++) x1[i] = (vf_real)(-3 + 0.15 * i);
    vf_cnf_sample_options o = vf_cnf_sample_default_options();
    o.ode.steps = 20;
    CHECK_STATUS(vf_cnf_model_log_prob(m, N, x1, NULL, &o, exact, NULL), VF_OK);
    o.density.divergence = VF_DIVERGENCE_HUTCHINSON;
    o.density.probes = 2;
    CHECK_STATUS(vf_cnf_model_log_prob(m, N, x1, NULL, &o, hutch, NULL), VF_OK);
    for (int i = 0; i < N; i++) CHECK_NEAR(exact[i], hutch[i], FLOAT_TOL * 10);
    vf_cnf_model_free(m);
}

/* The path energy: with one Euler step it is mean |x1 - x0|^2 (x0 the same source draws), with K
 * steps the samples equal vf_cnf_model_sample's, and the energy is at least the one-step value's
 * lower bound mean |x_K - x_0|^2 (Cauchy-Schwarz: the straight path has the least energy). Solvers
 * without fixed steps are refused. */
static void test_path_energy(void)
{
    vf_cnf_model *m = make(VF_CNF_CFM, 2, 0, 0, 8);
    if (!m) return;
    vf_real mean[2] = {1, -2}, sd[2] = {2, 0.5};
    CHECK_STATUS(vf_cnf_model_set_standardization(m, mean, sd), VF_OK);
    enum { N = 50 };
    vf_real x0[N * 2], x[N * 2], y[N * 2];
    for (int k = 1; k <= 16; k *= 16) {
        vf_cnf_sample_options o = vf_cnf_sample_default_options();
        o.ode.solver = VF_SOLVER_EULER;
        o.ode.steps = k;
        vf_rng r;
        vf_rng_init(&r, 3, 0);
        CHECK_STATUS(vf_cnf_model_source_sample(m, N, &r, x0), VF_OK);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < 2; j++) x0[2 * i + j] = mean[j] + sd[j] * x0[2 * i + j];
        double energy = -1, straight = 0;
        vf_ode_stats st;
        vf_rng_init(&r, 3, 0);
        CHECK_STATUS(vf_cnf_model_sample_energy(m, N, NULL, NULL, &r, &o, x, &energy, &st), VF_OK);
        CHECK(st.nfe == k);
        vf_rng_init(&r, 3, 0);
        CHECK_STATUS(vf_cnf_model_sample(m, N, NULL, NULL, &r, &o, y, NULL, NULL), VF_OK);
        for (int i = 0; i < 2 * N; i++) CHECK_NEAR(x[i], y[i], FLOAT_TOL);
        for (int i = 0; i < 2 * N; i++) straight += ((double)x[i] - x0[i]) * ((double)x[i] - x0[i]) / N;
        if (k == 1)
            CHECK_NEAR(energy, straight, 1e-5 * straight);
        else
            CHECK(energy >= straight * (1 - 1e-6) && energy < 10 * straight);
    }
    vf_cnf_sample_options o = vf_cnf_sample_default_options();
    double e;
    vf_rng r;
    vf_rng_init(&r, 3, 0);
    o.ode.solver = VF_SOLVER_DOPRI5;
    CHECK_STATUS(vf_cnf_model_sample_energy(m, N, NULL, NULL, &r, &o, x, &e, NULL), VF_ERR_UNSUPPORTED);
    o.ode.solver = VF_SOLVER_EM;
    CHECK_STATUS(vf_cnf_model_sample_energy(m, N, NULL, NULL, &r, &o, x, &e, NULL), VF_ERR_UNSUPPORTED);
    vf_cnf_model_free(m);
}

/* Save and load: same settings, parameters, samples and log-densities bit for bit; extra metadata
 * and "fit.*" tensors; the file is plain safetensors with the build's dtype. */
static void test_round_trip(void)
{
    static const vf_cnf_objective objs[] = {VF_CNF_CFM, VF_CNF_SBCFM, VF_CNF_SI, VF_CNF_MEANFLOW};
    for (size_t k = 0; k < sizeof objs / sizeof objs[0]; k++) {
        vf_cnf_model *m = make(objs[k], 3, k == 0 ? 4 : 0, 0, 21 + k);
        if (!m) return;
        if (k == 1) m->spec.source.kind = VF_CNF_SOURCE_STUDENT_T, m->spec.source.df = 2.5;
        if (k == 2) m->spec.field.act = VF_ACT_TANH; /* ignored: the file records the field as it was made */
        const vf_real mean[3] = {0.1f, -7, 1e3f}, sd[3] = {0.3f, 1, 1.0f / 3};
        CHECK_STATUS(vf_cnf_model_set_standardization(m, mean, sd), VF_OK);
        const char *path = path_of("rt.safetensors");
        const char *keys[] = {"fit.steps"}, *values[] = {"123"};
        const vf_real adam[4] = {1, 2, 3, 4};
        vf_model_tensor t = {"fit.adam.m", 1, {4}, adam, NULL};
        CHECK_STATUS(vf_cnf_model_save(m, path, 1, keys, values, 1, &t), VF_OK);
        CHECK(vf_cnf_model_file_is_cnf(path) == 1);
        vf_cnf_model *g = NULL;
        vf_model_meta meta;
        CHECK_STATUS(vf_cnf_model_load(path, &g, &meta), VF_OK);
        if (!g) return;
        CHECK(meta.n == 1 && strcmp(vf_model_meta_get(&meta, "fit.steps"), "123") == 0);
        vf_model_meta_free(&meta);
        CHECK(g->spec.objective == m->spec.objective && g->spec.path.kind == m->spec.path.kind &&
              g->spec.path.sigma == m->spec.path.sigma && g->spec.coupling.kind == m->spec.coupling.kind &&
              g->spec.coupling.eps == m->spec.coupling.eps && g->spec.source.kind == m->spec.source.kind &&
              g->spec.source.df == m->spec.source.df && g->spec.p_uncond == m->spec.p_uncond);
        CHECK(memcmp(&g->spec.field, vf_vfield_get_params(m->field), sizeof g->spec.field) == 0);
        CHECK(memcmp(g->mean, mean, sizeof mean) == 0 && memcmp(g->std, sd, sizeof sd) == 0);
        CHECK(vf_cnf_model_param_count(g) == vf_cnf_model_param_count(m) &&
              memcmp(vf_params_values(g->params), vf_params_values(m->params),
                     (size_t)vf_cnf_model_param_count(m) * sizeof(vf_real)) == 0);
        enum { N = 16 };
        vf_real xa[N * 3], xb[N * 3], la[N], lb[N];
        vf_cnf_sample_options o = vf_cnf_sample_default_options();
        o.ode.steps = objs[k] == VF_CNF_MEANFLOW ? 2 : 10;
        vf_rng ra, rb;
        vf_rng_init(&ra, 4, 0);
        vf_rng_init(&rb, 4, 0);
        int mf = objs[k] == VF_CNF_MEANFLOW;
        CHECK_STATUS(vf_cnf_model_sample(m, N, NULL, NULL, &ra, &o, xa, mf ? NULL : la, NULL), VF_OK);
        CHECK_STATUS(vf_cnf_model_sample(g, N, NULL, NULL, &rb, &o, xb, mf ? NULL : lb, NULL), VF_OK);
        CHECK_MSG(memcmp(xa, xb, sizeof xa) == 0, "objective %s: samples differ (%g vs %g)", vf_cnf_objective_name(objs[k]), (double)xa[0], (double)xb[0]);
        if (!mf) {
            CHECK_MSG(memcmp(la, lb, sizeof la) == 0, "objective %s: log-densities differ (%.9g vs %.9g)", vf_cnf_objective_name(objs[k]), (double)la[0], (double)lb[0]);
            CHECK_STATUS(vf_cnf_model_log_prob(m, N, xa, NULL, &o, la, NULL), VF_OK);
            CHECK_STATUS(vf_cnf_model_log_prob(g, N, xa, NULL, &o, lb, NULL), VF_OK);
            CHECK_MSG(memcmp(la, lb, sizeof la) == 0, "objective %s: log-densities differ (%.9g vs %.9g)", vf_cnf_objective_name(objs[k]), (double)la[0], (double)lb[0]);
        }
        /* PyTorch-readable: plain tensors of the build's dtype */
        vf_st_file *st = NULL;
        CHECK_STATUS(vf_st_open(path, &st), VF_OK);
        vf_st_dtype dt;
        int nd;
        int64_t shape[8];
        CHECK_STATUS(vf_st_info(st, "field.net.layers.0.weight", &dt, &nd, shape, NULL), VF_OK);
        CHECK(dt == (sizeof(vf_real) == 8 ? VF_ST_F64 : VF_ST_F32) && nd == 2 && shape[0] == 16);
        CHECK(strcmp(vf_st_meta(st, "format"), "varflow.cnf") == 0 && strcmp(vf_st_meta(st, "format_version"), "1") == 0);
        vf_st_close(st);
        vf_cnf_model_free(g);
        vf_cnf_model_free(m);
    }
    CHECK(vf_cnf_model_file_is_cnf(path_of("absent.safetensors")) == 0);
}

/* MeanFlow's log-density is that of the ODE of its instantaneous velocity u(x, t, t): checked against
 * the change of variables through the same ODE, log N(z(x); 0, I) + log |det dz/dx|, with the
 * Jacobian of the map x -> z (carried from t = 1 back to 0) by central differences. */
static void test_meanflow_log_prob_is_its_ode_density(void)
{
    vf_cnf_model *m = make(VF_CNF_MEANFLOW, 2, 0, 0, 3);
    if (!m) return;
    const vf_real x[6] = {0.3, -0.7, 1.2, 0.4, -1.5, -0.2};
    vf_real lp[3];
    vf_cnf_sample_options o = vf_cnf_sample_default_options();
    o.ode.steps = 200;
    CHECK_STATUS(vf_cnf_model_log_prob(m, 3, x, NULL, &o, lp, NULL), VF_OK);
    const double h = sizeof(vf_real) == 8 ? 1e-5 : 1e-2, tol = sizeof(vf_real) == 8 ? 1e-6 : 2e-3;
    for (int i = 0; i < 3; i++) {
        vf_real pts[10]; /* the point, then +-h along each coordinate */
        for (int k = 0; k < 5; k++) {
            pts[2 * k] = x[2 * i];
            pts[2 * k + 1] = x[2 * i + 1];
        }
        pts[2] += (vf_real)h, pts[4] -= (vf_real)h, pts[7] += (vf_real)h, pts[9] -= (vf_real)h;
        CHECK_STATUS(vf_cfm_transport(m->field, m->params, NULL, 5, pts, NULL, NULL, 1.0, 0.0, &o.ode, NULL), VF_OK);
        double j00 = ((double)pts[2] - (double)pts[4]) / (2 * h), j10 = ((double)pts[3] - (double)pts[5]) / (2 * h);
        double j01 = ((double)pts[6] - (double)pts[8]) / (2 * h), j11 = ((double)pts[7] - (double)pts[9]) / (2 * h);
        double z0 = (double)pts[0], z1 = (double)pts[1];
        double want = -0.5 * (z0 * z0 + z1 * z1) - 1.83787706640934548356 + log(fabs(j00 * j11 - j01 * j10));
        CHECK_MSG(fabs((double)lp[i] - want) < tol, "row %d: log p %.9g, change of variables %.9g", i, (double)lp[i], want);
        CHECK_MSG(fabs(j00 * j11 - j01 * j10 - 1) > 1e-3, "row %d: the field is too weak to test anything", i);
    }
    vf_cnf_model_free(m);
}

/* MeanFlow: one step is one evaluation; a data source transports the given rows; unsupported
 * requests are errors. */
static void test_meanflow_and_data_source(void)
{
    vf_cnf_model *m = make(VF_CNF_MEANFLOW, 2, 0, 0, 3);
    if (!m) return;
    vf_real x[8], lp[4];
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    vf_cnf_sample_options o = vf_cnf_sample_default_options();
    o.ode.steps = 1;
    vf_ode_stats st;
    CHECK_STATUS(vf_cnf_model_sample(m, 4, NULL, NULL, &r, &o, x, NULL, &st), VF_OK);
    CHECK(st.nfe == 1);
    CHECK_STATUS(vf_cnf_model_sample(m, 4, NULL, NULL, &r, &o, x, lp, NULL), VF_ERR_UNSUPPORTED);
    vf_cnf_model_free(m);

    vf_cnf_spec spec = vf_cnf_spec_default(VF_CNF_CFM, 2);
    spec.source.kind = VF_CNF_SOURCE_DATA;
    spec.field.zero_init_output = 1;
    CHECK_STATUS(vf_cnf_model_new(&spec, 1, &m), VF_OK);
    if (!m) return;
    const vf_real mean[2] = {5, 6}, sd[2] = {1, 2};
    CHECK_STATUS(vf_cnf_model_set_standardization(m, mean, sd), VF_OK);
    const vf_real src[4] = {1, 2, 3, 4};
    CHECK_STATUS(vf_cnf_model_sample(m, 2, src, NULL, NULL, &o, x, NULL, NULL), VF_OK);
    CHECK(x[0] == 6 && x[1] == 10 && x[2] == 8 && x[3] == 14); /* zero field: mean + std * source */
    CHECK_STATUS(vf_cnf_model_sample(m, 2, NULL, NULL, &r, &o, x, NULL, NULL), VF_ERR_ARG);
    CHECK_STATUS(vf_cnf_model_sample(m, 2, src, NULL, NULL, &o, x, lp, NULL), VF_ERR_UNSUPPORTED);
    CHECK_STATUS(vf_cnf_model_log_prob(m, 2, x, NULL, &o, lp, NULL), VF_ERR_UNSUPPORTED);
    CHECK_STATUS(vf_cnf_model_source_sample(m, 2, &r, x), VF_ERR_UNSUPPORTED);
    vf_cnf_model_free(m);
}

static void test_argument_errors(void)
{
    vf_cnf_model *m = make(VF_CNF_CFM, 2, 3, 0, 1), *u = make(VF_CNF_CFM, 2, 0, 0, 1);
    if (!m || !u) return;
    vf_real x[4] = {0}, lp[2];
    int64_t good[2] = {0, 2}, bad[2] = {1, 3}, neg[2] = {-1, 0};
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    vf_cnf_sample_options o = vf_cnf_sample_default_options();
    o.ode.steps = 2;
    CHECK_STATUS(vf_cnf_model_sample(m, 2, NULL, good, &r, &o, x, lp, NULL), VF_OK);
    CHECK_STATUS(vf_cnf_model_sample(m, 2, NULL, bad, &r, &o, x, lp, NULL), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "label 3 of row 1") != NULL);
    CHECK_STATUS(vf_cnf_model_log_prob(m, 2, x, neg, &o, lp, NULL), VF_ERR_ARG);
    CHECK_STATUS(vf_cnf_model_sample(u, 2, NULL, good, &r, &o, x, NULL, NULL), VF_ERR_ARG); /* no labels */
    o.guidance = 1;
    CHECK_STATUS(vf_cnf_model_sample(m, 2, NULL, NULL, &r, &o, x, NULL, NULL), VF_ERR_ARG); /* guidance, no labels */
    CHECK_STATUS(vf_cnf_model_sample(u, 2, NULL, NULL, &r, &o, x, NULL, NULL), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "guidance") != NULL);
    o.guidance = NAN;
    CHECK_STATUS(vf_cnf_model_sample(m, 2, NULL, good, &r, &o, x, NULL, NULL), VF_ERR_ARG);
    o.guidance = 0;
    o.ode.steps = 0;
    CHECK_STATUS(vf_cnf_model_sample(u, 2, NULL, NULL, &r, &o, x, NULL, NULL), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "steps") != NULL);
    o.ode.steps = 2;
    o.ode.solver = VF_SOLVER_EM;
    CHECK_STATUS(vf_cnf_model_sample(u, 2, NULL, NULL, &r, &o, x, NULL, NULL), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "score") != NULL);
    o.ode.solver = (vf_solver)99;
    CHECK_STATUS(vf_cnf_model_log_prob(u, 2, x, NULL, &o, lp, NULL), VF_ERR_ARG);
    o.ode.solver = VF_SOLVER_DOPRI5;
    o.ode.rtol = -1;
    CHECK_STATUS(vf_cnf_model_log_prob(u, 2, x, NULL, &o, lp, NULL), VF_ERR_ARG);
    CHECK_STATUS(vf_cnf_model_sample(u, 2, NULL, NULL, NULL, &o, x, NULL, NULL), VF_ERR_ARG);
    /* bad specs and standardizations */
    vf_cnf_spec spec = vf_cnf_spec_default(VF_CNF_CFM, 2);
    vf_cnf_model *bad_m = NULL;
    spec.source.kind = VF_CNF_SOURCE_STUDENT_T; /* df 0 */
    CHECK_STATUS(vf_cnf_model_new(&spec, 1, &bad_m), VF_ERR_ARG);
    spec = vf_cnf_spec_default(VF_CNF_CFM, 2);
    spec.p_uncond = 1.5;
    CHECK_STATUS(vf_cnf_model_new(&spec, 1, &bad_m), VF_ERR_ARG);
    spec = vf_cnf_spec_default(VF_CNF_CFM, 2);
    spec.field.two_times = 1;
    CHECK_STATUS(vf_cnf_model_new(&spec, 1, &bad_m), VF_ERR_ARG);
    spec = vf_cnf_spec_default(VF_CNF_CFM, 2);
    spec.field.context = 2;
    CHECK_STATUS(vf_cnf_model_new(&spec, 1, &bad_m), VF_ERR_ARG);
    spec = vf_cnf_spec_default(VF_CNF_CFM, 0);
    CHECK_STATUS(vf_cnf_model_new(&spec, 1, &bad_m), VF_ERR_ARG);
    CHECK(bad_m == NULL);
    const vf_real mean[2] = {0, 0}, zero_sd[2] = {1, 0};
    CHECK_STATUS(vf_cnf_model_set_standardization(u, mean, zero_sd), VF_ERR_ARG);
    const char *k[] = {"cnf"}, *v[] = {"x"};
    CHECK_STATUS(vf_cnf_model_save(u, path_of("x.safetensors"), 1, k, v, 0, NULL), VF_ERR_ARG);
    CHECK(vf_cnf_objective_from_name("otcfm") == VF_CNF_OTCFM && vf_cnf_objective_from_name("xx") == -1);
    CHECK(strcmp(vf_cnf_objective_name(VF_CNF_MEANFLOW), "meanflow") == 0);
    vf_cnf_model_free(m);
    vf_cnf_model_free(u);
}

/* ---- malformed files ------------------------------------------------------------------------ */

static vf_real zeros[4096];

/* A file with the given metadata and the tensors of p (skip: left out; reshape: written [1]; add:
 * one more tensor). */
static const char *write_variant(const char *file, vf_params *p, const char *format, const char *version,
                                 const char *cnf, const char *skip, const char *reshape, const char *add)
{
    vf_st_writer *w = vf_st_writer_new();
    if (format) vf_st_writer_set_meta(w, "format", format);
    if (version) vf_st_writer_set_meta(w, "format_version", version);
    if (cnf) vf_st_writer_set_meta(w, "cnf", cnf);
    vf_st_dtype dt = sizeof(vf_real) == 8 ? VF_ST_F64 : VF_ST_F32;
    for (int32_t id = 0; id < vf_params_count(p); id++) {
        vf_param_info info;
        vf_params_info(p, id, &info);
        if (skip && strcmp(info.name, skip) == 0) continue;
        if (reshape && strcmp(info.name, reshape) == 0)
            vf_st_writer_add(w, info.name, dt, 1, (int64_t[]){1}, zeros);
        else
            vf_st_writer_add(w, info.name, dt, info.ndim, info.shape, vf_params_data(p, id));
    }
    if (add) vf_st_writer_add(w, add, dt, 1, (int64_t[]){3}, zeros);
    const char *path = path_of(file);
    vf_st_writer_write(w, path);
    vf_st_writer_free(w);
    return path;
}

static void expect_failure(const char *what, const char *path, vf_status want, const char *needle)
{
    vf_cnf_model *g = (vf_cnf_model *)&g;
    vf_model_meta m;
    af_install(0, 0);
    vf_status s = vf_cnf_model_load(path, &g, &m);
    af_remove();
    CHECK_MSG(s == want, "%s: status %s (%s)", what, vf_status_name(s), vf_last_error());
    const char *base = strrchr(path, '/');
    CHECK_MSG(strstr(vf_last_error(), base ? base + 1 : path) != NULL, "%s: message \"%s\" does not name the file",
              what, vf_last_error());
    CHECK_MSG(!needle || strstr(vf_last_error(), needle), "%s: message \"%s\" lacks \"%s\"", what, vf_last_error(),
              needle);
    CHECK_MSG(g == NULL && m.n == 0 && m.keys == NULL, "%s: outputs not cleared", what);
    CHECK_MSG(af.live == 0, "%s: %ld blocks leaked", what, af.live);
}

static void test_malformed_files(void)
{
    vf_cnf_model *m = make(VF_CNF_OTCFM, 2, 2, 0, 1);
    if (!m) return;
    const char *good = path_of("good.safetensors");
    CHECK_STATUS(vf_cnf_model_save(m, good, 0, NULL, NULL, 0, NULL), VF_OK);
    vf_st_file *st = NULL;
    CHECK_STATUS(vf_st_open(good, &st), VF_OK);
    if (!st) return;
    char cnf[4096];
    snprintf(cnf, sizeof cnf, "%s", vf_st_meta(st, "cnf"));
    vf_st_close(st);
    const char *f = VF_CNF_MODEL_FORMAT;
    vf_params *p = m->params;
    vf_cnf_model *g = NULL;
    CHECK_STATUS(vf_cnf_model_load(write_variant("same.safetensors", p, f, "1", cnf, NULL, NULL, NULL), &g, NULL), VF_OK);
    vf_cnf_model_free(g);

    expect_failure("missing tensor", write_variant("a.safetensors", p, f, "1", cnf, "field.net.layers.1.bias", NULL, NULL),
                   VF_ERR_FORMAT, "field.net.layers.1.bias");
    expect_failure("extra tensor", write_variant("a.safetensors", p, f, "1", cnf, NULL, NULL, "field.extra"),
                   VF_ERR_FORMAT, "field.extra");
    expect_failure("mis-shaped tensor",
                   write_variant("a.safetensors", p, f, "1", cnf, NULL, "field.label_embedding.weight", NULL),
                   VF_ERR_FORMAT, "shape");
    expect_failure("no format", write_variant("a.safetensors", p, NULL, "1", cnf, NULL, NULL, NULL), VF_ERR_FORMAT,
                   "format");
    expect_failure("a flow file's format", write_variant("a.safetensors", p, "varflow.flow", "1", cnf, NULL, NULL, NULL),
                   VF_ERR_FORMAT, "varflow.flow");
    expect_failure("newer version", write_variant("a.safetensors", p, f, "3", cnf, NULL, NULL, NULL), VF_ERR_FORMAT,
                   "newer");
    expect_failure("bad version", write_variant("a.safetensors", p, f, "one", cnf, NULL, NULL, NULL), VF_ERR_FORMAT,
                   "version");
    expect_failure("no version", write_variant("a.safetensors", p, f, NULL, cnf, NULL, NULL, NULL), VF_ERR_FORMAT,
                   "format_version");
    expect_failure("no settings", write_variant("a.safetensors", p, f, "1", NULL, NULL, NULL, NULL), VF_ERR_FORMAT,
                   "\"cnf\"");
    expect_failure("settings not an object", write_variant("a.safetensors", p, f, "1", "[1]", NULL, NULL, NULL),
                   VF_ERR_FORMAT, "object");

    static const struct {
        const char *from, *to, *needle;
    } edits[] = {
        {"{\"objective\"", "{{\"objective\"", "malformed"},
        {"\"objective\":\"otcfm\"", "\"objective\":\"xcfm\"", "xcfm"},
        {"\"objective\":\"otcfm\"", "\"objective\":\"meanflow\"", "two-time"},
        {"\"objective\":\"otcfm\",", "", "objective"},
        {"\"dim\":2", "\"dim\":0", "dim"},
        {"\"dim\":2", "\"dim\":2.5", "dim"},
        {"\"dim\":2", "\"dim\":3", "standardize"},
        {"\"kind\":\"linear\"", "\"kind\":\"curved\"", "curved"},
        {"\"sigma\":0", "\"sigma\":-1", "sigma"},
        {"\"sigma\":0", "\"sigma\":\"0\"", "sigma"},
        {"\"kind\":\"ot\"", "\"kind\":\"greedy\"", "greedy"},
        {"\"eps\":0.020000000000000004", "\"eps\":0", "eps"},
        {"\"kind\":\"gaussian\"", "\"kind\":\"cauchy\"", "cauchy"},
        {"\"kind\":\"gaussian\"", "\"kind\":\"student_t\"", "df"},
        {"\"p_uncond\":0.2", "\"p_uncond\":2", "p_uncond"},
        {"\"classes\":2", "\"classes\":3", "shape"},
        {"\"classes\":2", "\"classes\":-1", "classes"},
        {"\"time\":\"sinusoidal\"", "\"time\":\"fourier\"", "fourier"},
        {"\"time_features\":8", "\"time_features\":7", "time_features"},
        {"\"two_times\":0", "\"two_times\":2", "two_times"},
        {"\"residual\":0", "\"residual\":1", "field.net"},
        {"\"hidden\":[16,16]", "\"hidden\":[16,0]", "hidden"},
        {"\"hidden\":[16,16]", "\"hidden\":[16,16,16,16,16,16,16,16,16,16,16,16,16,16,16,16,16]", "hidden"},
        {"\"hidden\":[16,16]", "\"hidden\":16", "hidden"},
        {"\"act\":\"silu\"", "\"act\":\"swish2\"", "swish2"},
        {"\"std\":[1,1]", "\"std\":[1,0]", "std"},
        {"\"std\":[1,1]", "\"std\":[1]", "std"},
        {"\"mean\":[0,0]", "\"mean\":[0,\"a\"]", "standardize"},
        {",\"standardize\"", ",\"standardise\"", "standardize"},
        {",\"field\":{", ",\"field\":[{", "malformed"},
        /* a box (test_data_box.c has the good ones): each member checked */
        {",\"standardize\"", ",\"box\":{\"lo\":1,\"hi\":0,\"alpha\":0.1},\"standardize\"", "box"},
        {",\"standardize\"", ",\"box\":{\"lo\":0,\"hi\":1,\"alpha\":0.5},\"standardize\"", "alpha"},
        {",\"standardize\"", ",\"box\":{\"lo\":0,\"alpha\":0.1},\"standardize\"", "hi"},
        {",\"standardize\"", ",\"box\":{\"lo\":0,\"hi\":\"1\",\"alpha\":0.1},\"standardize\"", "hi"},
        {",\"standardize\"", ",\"box\":[0,1],\"standardize\"", "box"},
    };
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        char edited[8192];
        const char *at = strstr(cnf, edits[e].from);
        CHECK_MSG(at != NULL, "\"%s\" not in %s", edits[e].from, cnf);
        if (!at) continue;
        snprintf(edited, sizeof edited, "%.*s%s%s", (int)(at - cnf), cnf, edits[e].to, at + strlen(edits[e].from));
        char what[160];
        snprintf(what, sizeof what, "edit %s -> %s", edits[e].from, edits[e].to);
        expect_failure(what, write_variant("edit.safetensors", p, f, "1", edited, NULL, NULL, NULL), VF_ERR_FORMAT,
                       edits[e].needle);
    }

    /* absent, and every truncation of the good file */
    expect_failure("no such file", path_of("absent.safetensors"), VF_ERR_IO, NULL);
    static unsigned char bytes[1 << 16];
    size_t n = slurp(good, bytes, sizeof bytes);
    CHECK(n > 0 && n < sizeof bytes);
    for (size_t cut = 0; cut < n; cut += (cut < 64 ? 1 : 97)) {
        const char *path = put_bytes("cut.safetensors", bytes, cut);
        vf_cnf_model *h = NULL;
        vf_status s = vf_cnf_model_load(path, &h, NULL);
        CHECK_MSG(s == VF_ERR_FORMAT || s == VF_ERR_IO, "cut at %zu: %s", cut, vf_status_name(s));
        CHECK(h == NULL);
    }
    /* a flow file is not a cnf file */
    vf_cnf_model_free(m);
}

/* ---- out of memory ---------------------------------------------------------------------------- */

static vf_status oom_scenario(void *ctx)
{
    (void)ctx;
    vf_cnf_spec spec = vf_cnf_spec_default(VF_CNF_CFM, 2);
    spec.field.n_hidden = 1;
    spec.field.hidden[0] = 4;
    spec.field.classes = 2;
    vf_cnf_model *m = NULL, *g = NULL;
    vf_status s = vf_cnf_model_new(&spec, 1, &m);
    const char *keys[] = {"k"}, *values[] = {"v"};
    if (s == VF_OK) s = vf_cnf_model_save(m, path_of("oom.safetensors"), 1, keys, values, 0, NULL);
    vf_model_meta meta = {0, NULL, NULL};
    if (s == VF_OK) s = vf_cnf_model_load(path_of("oom.safetensors"), &g, &meta);
    vf_model_meta_free(&meta);
    vf_real x[6], lp[3];
    int64_t labels[3] = {0, 1, 0};
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    vf_cnf_sample_options o = vf_cnf_sample_default_options();
    o.ode.steps = 2;
    o.guidance = 0.5;
    if (s == VF_OK) s = vf_cnf_model_sample(g, 3, NULL, labels, &r, &o, x, lp, NULL);
    if (s == VF_OK) s = vf_cnf_model_sample(g, 3, NULL, labels, &r, &o, x, NULL, NULL);
    if (s == VF_OK) s = vf_cnf_model_log_prob(g, 3, x, labels, &o, lp, NULL);
    vf_cnf_model_free(g);
    vf_cnf_model_free(m);
    return s;
}

int main(void)
{
    if (tmpdir_open("vf_cnf_model")) return 1;
    RUN(test_zero_field_is_the_source);
    RUN(test_overflowing_samples_reported);
    RUN(test_student_source_draws);
    RUN(test_density_integrates_to_one);
    RUN(test_sample_log_prob_consistent);
    RUN(test_round_trip);
    RUN(test_path_energy);
    RUN(test_meanflow_and_data_source);
    RUN(test_meanflow_log_prob_is_its_ode_density);
    RUN(test_argument_errors);
    RUN(test_malformed_files);
    CHECK(af_sweep("cnf model save, load, sample, log_prob (fail once)", oom_scenario, NULL, 0) == 0);
    CHECK(af_sweep("cnf model save, load, sample, log_prob (fail from then on)", oom_scenario, NULL, 1) == 0);
    tmpdir_close();
    return vf_test_summary();
}
