/* test_mcmc.c — the samplers of vf_mcmc.h on the `gauss` target (known mean and covariance): every
 * sampler's means within 4 Monte Carlo standard errors (sd / sqrt(bulk ESS)) and its variances within
 * 5 standard errors of theirs, R-hat < 1.01; IMH with an exact proposal (an affine flow equal to the
 * target) accepting every move; the same seed giving the same draws whatever the thread count, and a
 * chain's draws not depending on how many chains run beside it; the step size adapting toward the
 * target acceptance; and the errors (no flow, wrong dimension, bad settings, a start outside the
 * support, a target returning NaN). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <varflow.h>
#include "alloc_fail.h"
#include "vf_test.h"
#include "vi/mcmc_internal.h"

/* q = N(mu, sigma^2 I) as a flow: base N(0, I), one elementwise affine z = x e^ls + shift, so
 * ls = -log sigma and shift = -mu / sigma. With box > 0 an atanh(x / box) comes first (data side),
 * so q is that Gaussian pushed through box tanh(.): a flow whose log-determinant is not constant. */
typedef struct gflow {
    vf_params *p;
    vf_flow *f;
} gflow;

static vf_status gflow_new(int64_t d, double mu, double sigma, double box, gflow *g)
{
    memset(g, 0, sizeof *g);
    g->p = vf_params_new();
    if (!g->p) return VF_ERR_NOMEM;
    vf_dist *base = NULL;
    vf_transform *tr[2] = {NULL, NULL};
    int nt = box > 0 ? 2 : 1;
    vf_status s = vf_dist_normal_new(d, 0, &base);
    vf_elementwise_affine_params ap = vf_elementwise_affine_default_params(d);
    vf_tanh_params tp = vf_tanh_default_params(d);
    tp.scale = box;
    if (s == VF_OK && box > 0) s = vf_atanh_new(g->p, "transforms.0", &tp, &tr[0]);
    if (s == VF_OK) s = vf_elementwise_affine_new(g->p, nt == 2 ? "transforms.1" : "transforms.0", &ap, &tr[nt - 1]);
    if (s != VF_OK) {
        vf_dist_free(base);
        vf_transform_free(tr[0]);
        return s;
    }
    s = vf_flow_new(base, nt, tr, &g->f);
    if (s == VF_OK) s = vf_params_finalize(g->p, 1);
    if (s != VF_OK) return s;
    vf_real *shift = vf_params_data(g->p, vf_params_find(g->p, nt == 2 ? "transforms.1.shift" : "transforms.0.shift"));
    vf_real *ls = vf_params_data(g->p, vf_params_find(g->p, nt == 2 ? "transforms.1.log_scale" : "transforms.0.log_scale"));
    for (int64_t k = 0; k < d; k++) {
        ls[k] = (vf_real)(-log(sigma));
        shift[k] = (vf_real)(-mu / sigma);
    }
    return VF_OK;
}

static void gflow_free(gflow *g)
{
    vf_flow_free(g->f);
    vf_params_free(g->p);
}

/* gauss:d=2,rho=0.5,mu=1: mean 1, unit variances. For each coordinate the mean within 4 standard
 * errors sd / sqrt(ESS) (bulk ESS) and the variance within 5 standard errors sqrt(2 / ESS) (the
 * variance of a squared normal's mean; the ESS of x^2 is not smaller here than the bulk ESS of
 * x for these reversible samplers, within the tolerance); R-hat < 1.01. */
static void check_gauss_moments(const char *what, int64_t m, int64_t n, const vf_real *draws)
{
    int64_t d = 2;
    double rhat[2], ess[2];
    CHECK_STATUS(vf_mcmc_diagnose(m, n, d, draws, rhat, ess), VF_OK);
    for (int64_t k = 0; k < d; k++) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < m * n; i++) {
            double v = (double)draws[i * d + k];
            s += v;
            s2 += v * v;
        }
        double mean = s / (double)(m * n), var = s2 / (double)(m * n) - mean * mean;
        double se = 1 / sqrt(ess[k]);
        CHECK_MSG(fabs(mean - 1) < 4 * se, "%s: coordinate %lld mean %.4f, want 1 +- %.4f (ESS %.0f)", what, (long long)k,
                  mean, 4 * se, ess[k]);
        CHECK_MSG(fabs(var - 1) < 5 * sqrt(2 / ess[k]), "%s: coordinate %lld variance %.4f, want 1 +- %.4f", what,
                  (long long)k, var, 5 * sqrt(2 / ess[k]));
        CHECK_MSG(rhat[k] < 1.01, "%s: coordinate %lld R-hat %.4f", what, (long long)k, rhat[k]);
        CHECK_MSG(ess[k] > 0.05 * (double)(m * n), "%s: coordinate %lld ESS %.0f of %lld draws", what, (long long)k, ess[k],
                  (long long)(m * n));
    }
}

static void test_every_sampler_on_gauss(void)
{
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("gauss:d=2,rho=0.5,mu=1", &t), VF_OK);
    gflow g, gb; /* proposals that are not the target: N(0.8, 1.3^2 I), no correlation; for neutra a
                  * flow through 6 tanh(.), so the pulled-back density has a non-constant log|det J| */
    CHECK_STATUS(gflow_new(2, 0.8, 1.3, 0, &g), VF_OK);
    CHECK_STATUS(gflow_new(2, 0.17, 0.2, 6, &gb), VF_OK);
    int64_t n = 1500;
    for (int s = 0; s < 6; s++) {
        vf_mcmc_params mp = vf_mcmc_default_params((vf_mcmc_sampler)s);
        mp.chains = 4;
        mp.warmup = 300;
        mp.leapfrog = 5;
        mp.proposals = 4;
        mp.seed = 10 + (uint64_t)s;
        vf_real *draws = malloc(sizeof(vf_real) * (size_t)(mp.chains * n * 2));
        vf_mcmc_result res;
        int neutra = s == VF_MCMC_NEUTRA_MALA || s == VF_MCMC_NEUTRA_HMC;
        CHECK_STATUS(vf_mcmc_run(&t, neutra ? gb.f : g.f, neutra ? gb.p : g.p, &mp, n, draws, &res), VF_OK);
        check_gauss_moments(vf_mcmc_sampler_name(mp.sampler), mp.chains, n, draws);
        CHECK_MSG(res.acceptance > 0.3 && res.acceptance <= 1, "%s: acceptance %.3f", vf_mcmc_sampler_name(mp.sampler),
                  res.acceptance);
        int grad = s == VF_MCMC_MALA || s == VF_MCMC_HMC || neutra;
        int64_t per = s == VF_MCMC_HMC || s == VF_MCMC_NEUTRA_HMC ? 5 : 1;
        CHECK_MSG(res.grad_evals == (grad ? 1 + per * (n + mp.warmup) : 0), "%s: %lld gradient evaluations",
                  vf_mcmc_sampler_name(mp.sampler), (long long)res.grad_evals);
        CHECK(grad ? res.step_size > 0 : res.step_size == 0);
        free(draws);
    }
    gflow_free(&g);
    gflow_free(&gb);
    vf_target_free(&t);
}

/* A proposal equal to the target (gauss with rho = 0, mu = 1 and the flow N(1, I)): w = p / q is
 * constant, so IMH accepts every move (up to rounding of log q in float) and isir moves to a fresh
 * point with probability K / (K + 1). */
static void test_exact_proposal(void)
{
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("gauss:d=3,rho=0,mu=1", &t), VF_OK);
    gflow g;
    CHECK_STATUS(gflow_new(3, 1.0, 1.0, 0, &g), VF_OK);
    vf_mcmc_params mp = vf_mcmc_default_params(VF_MCMC_IMH);
    mp.chains = 2;
    mp.warmup = 10;
    mp.seed = 3;
    int64_t n = 2000;
    vf_real *draws = malloc(sizeof(vf_real) * (size_t)(mp.chains * n * 3));
    vf_mcmc_result res;
    CHECK_STATUS(vf_mcmc_run(&t, g.f, g.p, &mp, n, draws, &res), VF_OK);
    CHECK_MSG(res.acceptance == 1.0, "IMH with the exact proposal: acceptance %.6f", res.acceptance);
    mp.sampler = VF_MCMC_ISIR;
    mp.proposals = 3;
    CHECK_STATUS(vf_mcmc_run(&t, g.f, g.p, &mp, n, draws, &res), VF_OK);
    /* moves ~ Binomial(4000, 3/4): sd 0.0068 in the fraction */
    CHECK_MSG(fabs(res.acceptance - 0.75) < 4 * sqrt(0.75 * 0.25 / 4000.0), "isir with the exact proposal: %.4f",
              res.acceptance);
    free(draws);
    gflow_free(&g);
    vf_target_free(&t);
}

static void test_reproducible_and_independent_chains(void)
{
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("gauss:d=3,rho=0.3", &t), VF_OK);
    for (int s = VF_MCMC_MALA; s <= VF_MCMC_HMC; s++) {
        vf_mcmc_params mp = vf_mcmc_default_params((vf_mcmc_sampler)s);
        mp.warmup = 50;
        mp.seed = 5;
        int64_t n = 100, d = 3;
        vf_real *a = malloc(sizeof(vf_real) * (size_t)(4 * n * d)), *b = malloc(sizeof(vf_real) * (size_t)(4 * n * d));
        vf_set_num_threads(1);
        CHECK_STATUS(vf_mcmc_run(&t, NULL, NULL, &mp, n, a, NULL), VF_OK);
        vf_set_num_threads(2);
        CHECK_STATUS(vf_mcmc_run(&t, NULL, NULL, &mp, n, b, NULL), VF_OK);
        CHECK(memcmp(a, b, sizeof(vf_real) * (size_t)(4 * n * d)) == 0);
        mp.chains = 2; /* chains 0 and 1 are the same with 2 chains as with 4 */
        CHECK_STATUS(vf_mcmc_run(&t, NULL, NULL, &mp, n, b, NULL), VF_OK);
        CHECK(memcmp(a, b, sizeof(vf_real) * (size_t)(2 * n * d)) == 0);
        mp.seed = 6;
        CHECK_STATUS(vf_mcmc_run(&t, NULL, NULL, &mp, n, b, NULL), VF_OK);
        CHECK(memcmp(a, b, sizeof(vf_real) * (size_t)(2 * n * d)) != 0);
        free(a);
        free(b);
    }
    vf_target_free(&t);
}

/* Dual averaging reaches its target acceptance: over 4 chains x 2000 iterations the post-warm-up
 * acceptance of HMC aimed at 0.8 lies within 0.1 of it (the averaged step is a little smaller than
 * the last iterate, so acceptance ends slightly above the aim), and a fixed tiny step accepts
 * nearly everything. */
static void test_step_size_adaptation(void)
{
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("gauss:d=10,rho=0.2", &t), VF_OK);
    vf_mcmc_params mp = vf_mcmc_default_params(VF_MCMC_HMC);
    mp.target_accept = 0.8;
    mp.seed = 2;
    mp.warmup = 500;
    int64_t n = 1000;
    vf_real *draws = malloc(sizeof(vf_real) * (size_t)(4 * n * 10));
    vf_mcmc_result res, res2;
    CHECK_STATUS(vf_mcmc_run(&t, NULL, NULL, &mp, n, draws, &res), VF_OK);
    CHECK_MSG(fabs(res.acceptance - 0.8) < 0.1, "HMC aimed at 0.8: acceptance %.3f", res.acceptance);
    mp.target_accept = 0.5;
    CHECK_STATUS(vf_mcmc_run(&t, NULL, NULL, &mp, n, draws, &res2), VF_OK);
    CHECK_MSG(res2.step_size > res.step_size && res2.acceptance < res.acceptance,
              "aim 0.5: step %.3f acceptance %.3f; aim 0.8: step %.3f acceptance %.3f", res2.step_size, res2.acceptance,
              res.step_size, res.acceptance);
    mp.sampler = VF_MCMC_MALA;
    mp.adapt = 0;
    mp.step_size = 0.01;
    CHECK_STATUS(vf_mcmc_run(&t, NULL, NULL, &mp, n, draws, &res), VF_OK);
    CHECK(res.acceptance > 0.99 && res.step_size == 0.01);
    mp.sampler = VF_MCMC_HMC;
    mp.adapt = 1;
    mp.diag_mass = 1;
    mp.step_size = 0;
    mp.target_accept = 0;
    CHECK_STATUS(vf_mcmc_run(&t, NULL, NULL, &mp, n, draws, &res), VF_OK);
    CHECK_MSG(res.acceptance > 0.5 && res.divergences == 0, "diagonal mass: acceptance %.3f, %lld divergences",
              res.acceptance, (long long)res.divergences);
    free(draws);
    vf_target_free(&t);
}

/* The pulled-back log density of neutra and its gradient through the flow (the tape) against central
 * differences, for a flow with a non-constant log|det J| (through 6 tanh) on a correlated Gaussian. */
static void test_pulled_back_gradient(void)
{
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("gauss:d=3,rho=0.4,mu=0.5", &t), VF_OK);
    gflow g;
    CHECK_STATUS(gflow_new(3, 0.1, 0.3, 6, &g), VF_OK);
    vf__mcmc_space s;
    CHECK_STATUS(vf__mcmc_space_init(&s, &t, g.f, g.p, 1, 2), VF_OK);
    double z[6] = {0.3, -1.2, 0.7, 1.5, 0.2, -0.4}, lp[2], grad[6], x[6], zp[6], lpp[2], lpm[2];
    CHECK_STATUS(vf__mcmc_eval(&s, 2, z, lp, grad, x), VF_OK);
    int dbl = sizeof(vf_real) == 8;
    double h = dbl ? 1e-5 : 1e-2, tol = dbl ? 1e-6 : 2e-2;
    for (int k = 0; k < 6; k++) {
        memcpy(zp, z, sizeof zp);
        zp[k] += h;
        CHECK_STATUS(vf__mcmc_eval(&s, 2, zp, lpp, NULL, NULL), VF_OK);
        zp[k] -= 2 * h;
        CHECK_STATUS(vf__mcmc_eval(&s, 2, zp, lpm, NULL, NULL), VF_OK);
        double fd = (lpp[k / 3] - lpm[k / 3]) / (2 * h);
        CHECK_NEAR(grad[k], fd, tol * (1 + fabs(fd)));
    }
    /* x = 6 tanh((z - shift) / e^ls) and log p(x) + log|det dx/dz| by hand for row 0 */
    double want = 0;
    double xs[3];
    for (int k = 0; k < 3; k++) {
        double u = (z[k] - (-0.1 / 0.3)) * 0.3;
        xs[k] = 6 * tanh(u);
        CHECK_NEAR(x[k], xs[k], dbl ? 1e-12 : 1e-5);
        want += log(6 * 0.3 * (1 - tanh(u) * tanh(u)));
    }
    want += t.log_prob(t.state, xs, NULL);
    CHECK_NEAR(lp[0], want, dbl ? 1e-10 : 1e-4);
    vf__mcmc_space_free(&s);
    gflow_free(&g);
    vf_target_free(&t);
}

/* Out of memory at every allocation of a run (each sampler kind) and of the diagnostics: VF_ERR_NOMEM
 * with a message and nothing leaked (alloc_fail.h). The flow is made outside the scenario. */
typedef struct oom_ctx {
    vf_target t;
    gflow g;
    vf_mcmc_sampler s;
} oom_ctx;

static vf_status oom_scenario(void *ctx)
{
    oom_ctx *o = ctx;
    vf_mcmc_params mp = vf_mcmc_default_params(o->s);
    mp.chains = 2;
    mp.warmup = 3;
    mp.leapfrog = 2;
    mp.proposals = 2;
    vf_real draws[2 * 8 * 2];
    double rhat[2], ess[2];
    vf_status st = vf_mcmc_run(&o->t, o->g.f, o->g.p, &mp, 8, draws, NULL);
    if (st == VF_OK) st = vf_mcmc_diagnose(2, 8, 2, draws, rhat, ess);
    return st;
}

static void test_out_of_memory(void)
{
    oom_ctx o;
    CHECK_STATUS(vf_target_from_spec("gauss:d=2", &o.t), VF_OK);
    CHECK_STATUS(gflow_new(2, 0, 1.2, 5, &o.g), VF_OK);
    vf_mcmc_sampler ss[] = {VF_MCMC_HMC, VF_MCMC_NEUTRA_MALA, VF_MCMC_ISIR};
    for (int i = 0; i < 3; i++) {
        o.s = ss[i];
        CHECK(af_sweep(vf_mcmc_sampler_name(ss[i]), oom_scenario, &o, 0) == 0);
        CHECK(af_sweep(vf_mcmc_sampler_name(ss[i]), oom_scenario, &o, 1) == 0);
    }
    gflow_free(&o.g);
    vf_target_free(&o.t);
}

static double nan_lp(void *state, const double *x, double *grad)
{
    (void)state;
    if (grad) grad[0] = -x[0];
    return x[0] > 1.5 ? NAN : -0.5 * x[0] * x[0];
}

/* +inf where x > 1.5: no log-density either */
static double inf_lp(void *state, const double *x, double *grad)
{
    (void)state;
    if (grad) grad[0] = -x[0];
    return x[0] > 1.5 ? INFINITY : -0.5 * x[0] * x[0];
}

static double box_lp(void *state, const double *x, double *grad)
{
    (void)state;
    if (grad) grad[0] = 0;
    return x[0] > 10 ? 0 : -INFINITY;
}

static void test_errors(void)
{
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("gauss:d=2", &t), VF_OK);
    vf_real draws[4 * 10 * 3];
    vf_mcmc_params mp = vf_mcmc_default_params(VF_MCMC_NEUTRA_HMC);
    mp.warmup = 5;
    CHECK_STATUS(vf_mcmc_run(&t, NULL, NULL, &mp, 10, draws, NULL), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "neutra-hmc needs a flow") != NULL);
    gflow g;
    CHECK_STATUS(gflow_new(3, 0, 1, 0, &g), VF_OK);
    CHECK_STATUS(vf_mcmc_run(&t, g.f, g.p, &mp, 10, draws, NULL), VF_ERR_SHAPE);
    CHECK(strstr(vf_last_error(), "dimension 3") != NULL);
    gflow_free(&g);
    mp.sampler = VF_MCMC_HMC;
    mp.leapfrog = 0;
    CHECK_STATUS(vf_mcmc_run(&t, NULL, NULL, &mp, 10, draws, NULL), VF_ERR_ARG);
    mp.leapfrog = 3;
    mp.target_accept = 1.5;
    CHECK_STATUS(vf_mcmc_run(&t, NULL, NULL, &mp, 10, draws, NULL), VF_ERR_ARG);
    mp.target_accept = 0;
    mp.sampler = (vf_mcmc_sampler)17;
    CHECK_STATUS(vf_mcmc_run(&t, NULL, NULL, &mp, 10, draws, NULL), VF_ERR_ARG);
    CHECK(vf_mcmc_sampler_from_name("nuts") == -1 && vf_mcmc_sampler_from_name("neutra-hmc") == VF_MCMC_NEUTRA_HMC);
    vf_target_free(&t);
    /* NaN from the target stops the run; a support the starts never reach is reported */
    vf_target bad = {1, nan_lp, NULL, NULL, NULL, "nanny", 0, 0, NULL, 0, NULL};
    mp = vf_mcmc_default_params(VF_MCMC_MALA);
    mp.step_size = 3;
    mp.seed = 1;
    CHECK_STATUS(vf_mcmc_run(&bad, NULL, NULL, &mp, 10, draws, NULL), VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "mcmc: target nanny is NaN at iteration ") != NULL);
    CHECK(strstr(vf_last_error(), "of the batch (x = [") != NULL);
    double x0 = 0; /* the point named is one where the target is NaN */
    const char *at = strstr(vf_last_error(), "(x = [");
    CHECK(at && sscanf(at, "(x = [%lf", &x0) == 1 && x0 > 1.5);
    vf_target box = {1, box_lp, NULL, NULL, NULL, "far", 0, 0, NULL, 0, NULL};
    CHECK_STATUS(vf_mcmc_run(&box, NULL, NULL, &mp, 10, draws, NULL), VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "start point") != NULL);
    /* +inf stops the run as well (it would attract every chain), and scores refuse it */
    vf_target inf = {1, inf_lp, NULL, NULL, NULL, "infinite", 0, 0, NULL, 0, NULL};
    CHECK_STATUS(vf_mcmc_run(&inf, NULL, NULL, &mp, 10, draws, NULL), VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "log-density is +inf") != NULL);
    vf_real two = 2;
    double lp2, g2;
    CHECK_STATUS(vf_target_scores(&inf, 1, &two, &lp2, &g2), VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "target infinite: log-density is +inf at row 0") != NULL);
    /* a point that is not finite is named as such (a diverged flow's draw), not blamed on the target */
    vf_real nan_point = (vf_real)NAN;
    CHECK_STATUS(vf_target_scores(&inf, 1, &nan_point, &lp2, &g2), VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "the point at row 0 is not finite") != NULL);
}

int main(void)
{
    RUN(test_every_sampler_on_gauss);
    RUN(test_exact_proposal);
    RUN(test_reproducible_and_independent_chains);
    RUN(test_step_size_adaptation);
    RUN(test_pulled_back_gradient);
    RUN(test_out_of_memory);
    RUN(test_errors);
    return vf_test_summary();
}
