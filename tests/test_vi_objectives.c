/* test_vi_objectives.c — the forward-KL and chi^2 objectives and the temperature of vf_vi.h:
 * each objective's gradient against central differences of the same Monte Carlo estimator with fixed
 * draws (the surrogate -c sum w~_i log q(x_i), c = 1 for fkl and 1/2 for chi^2, with the draws x_i and
 * the self-normalized weights w~ of w, resp. w^2, held at their values), both losses against their
 * definitions from vf_vi_draw's weights at the same seed (so the same draws), every objective lowering
 * its own loss and reaching log Z = 0 of a normalized correlated Gaussian within importance-sampling
 * error, and a fixed temperature beta fitting q to p^beta (variance 1/beta). (Allocation failures of
 * fkl and chi2 steps: test_vi.c's sweep.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <varflow.h>
#include "vf_test.h"

typedef struct fixture {
    vf_params *p;
    vf_flow *f;
    vf_target t;
    vf_vi *v;
} fixture;

static void fixture_new(fixture *x, const char *flow, const char *target, double jitter)
{
    memset(x, 0, sizeof *x);
    x->p = vf_params_new();
    CHECK_STATUS(vf_flow_from_spec(flow, 2, 0, x->p, &x->f), VF_OK);
    CHECK_STATUS(vf_params_finalize(x->p, 3), VF_OK);
    vf_rng r;
    vf_rng_init(&r, 5, 0);
    vf_real *val = vf_params_values(x->p);
    for (int64_t i = 0; i < vf_params_size(x->p); i++) val[i] += (vf_real)(jitter * vf_rng_normal(&r));
    CHECK_STATUS(vf_target_from_spec(target, &x->t), VF_OK);
    CHECK_STATUS(vf_vi_new(x->f, x->p, &x->t, &x->v), VF_OK);
}

static void fixture_free(fixture *x)
{
    vf_vi_free(x->v);
    vf_target_free(&x->t);
    vf_flow_free(x->f);
    vf_params_free(x->p);
}

enum { FD_N = 32 };
#define FD_SEED 9

/* The surrogate -c sum w~_i log q(x_i) at the fixed draws x [FD_N, 2] and weights w~. */
static double surrogate(vf_vi *v, const vf_real *x, const double *wt, double c)
{
    double lq[FD_N], s = 0;
    CHECK_STATUS(vf_vi_log_q(v, FD_N, x, lq), VF_OK);
    for (int i = 0; i < FD_N; i++) s -= c * wt[i] * lq[i];
    return s;
}

/* Self-normalized weights wt [FD_N] of exp(a logw); returns log mean exp(a logw). */
static double normalize(const double *logw, double a, double *wt)
{
    double mx = -INFINITY, sw = 0;
    for (int i = 0; i < FD_N; i++) mx = fmax(mx, a * logw[i]);
    for (int i = 0; i < FD_N; i++) sw += wt[i] = exp(a * logw[i] - mx);
    for (int i = 0; i < FD_N; i++) wt[i] /= sw;
    return mx + log(sw / FD_N);
}

static void test_fd(void)
{
    fixture fx;
    fixture_new(&fx, "realnvp:transforms=2,hidden=8x1,act=tanh", "banana:b=0.5,sigma=1.5", 0.3);
    int64_t size = vf_params_size(fx.p);
    vf_real *val = vf_params_values(fx.p), *gr = vf_params_grads(fx.p);
    double *g0 = malloc((size_t)size * sizeof *g0);
    double h = VF_USE_DOUBLE ? 1e-5 : 3e-3, tol = VF_USE_DOUBLE ? 1e-6 : 2e-2;
    vf_rng r;
    /* the fixed draws and their self-normalized weights, from the same seed as the gradient step */
    vf_real x[FD_N * 2];
    double logw[FD_N], wt[FD_N];
    vf_rng_init(&r, FD_SEED, 0);
    CHECK_STATUS(vf_vi_draw(fx.v, FD_N, &r, x, logw, NULL, NULL), VF_OK);
    for (int obj = VF_VI_FKL; obj <= VF_VI_CHI2; obj++) {
        int chi2 = obj == VF_VI_CHI2;
        double loss, c = chi2 ? 0.5 : 1.0, want = normalize(logw, chi2 ? 2.0 : 1.0, wt);
        if (chi2) {
            want *= 0.5;                                            /* 1/2 log mean w^2 */
        } else {                                                    /* sum w~ log w - log mean w */
            double kl = -want;
            for (int i = 0; i < FD_N; i++) kl += wt[i] * logw[i];
            want = kl;
        }
        vf_params_zero_grad(fx.p);
        vf_rng_init(&r, FD_SEED, 0);
        CHECK_STATUS(vf_vi_grad(fx.v, (vf_vi_objective)obj, FD_N, &r, &loss), VF_OK);
        /* the same draws as vf_vi_draw's: the loss matches its definition from those weights */
        CHECK_MSG(fabs(loss - want) < 1e-9 + (VF_USE_DOUBLE ? 1e-9 : 1e-5) * fabs(want), "%s loss %.9g, expected %.9g",
                  vf_vi_objective_name((vf_vi_objective)obj), loss, want);
        for (int64_t i = 0; i < size; i++) g0[i] = gr[i];
        int checked = 0;
        for (int64_t i = 0; i < size; i += 5) {
            vf_real keep = val[i];
            double up, down;
            val[i] = (vf_real)(keep + h);
            up = surrogate(fx.v, x, wt, c);
            val[i] = (vf_real)(keep - h);
            down = surrogate(fx.v, x, wt, c);
            val[i] = keep;
            double fd = (up - down) / (((double)(vf_real)(keep + h)) - (double)(vf_real)(keep - h));
            CHECK_MSG(fabs(fd - g0[i]) < tol * (1 + fabs(fd)), "%s param %lld: fd %.7g, gradient %.7g",
                      vf_vi_objective_name((vf_vi_objective)obj), (long long)i, fd, g0[i]);
            checked += fabs(g0[i]) > 1e-3;
        }
        CHECK_MSG(checked >= 5, "%s: only %d non-negligible gradients", vf_vi_objective_name((vf_vi_objective)obj), checked);
    }
    free(g0);
    fixture_free(&fx);
}

enum { TRAIN_STEPS = 400, TRAIN_BATCH = 128, WINDOW = 20, IS_N = 8000 };

/* Mean and standard error of loss[from, from + WINDOW). */
static void window_stats(const double *loss, int from, double *mean, double *se)
{
    double s = 0, q = 0;
    for (int i = from; i < from + WINDOW; i++) s += loss[i], q += loss[i] * loss[i];
    *mean = s / WINDOW;
    *se = sqrt(fmax(q / WINDOW - *mean * *mean, 0) / (WINDOW - 1));
}

/* steps of Adam (lr 1e-2, gradient norm clipped at 5) on obj with batches of 128; loss [steps] or NULL. */
static void fit(fixture *fx, vf_vi_objective obj, int steps, vf_rng *r, double *loss)
{
    int64_t n = vf_params_size(fx->p);
    vf_adam_params ap = vf_adam_default_params();
    ap.lr = 1e-2;
    vf_adam *opt = NULL;
    CHECK_STATUS(vf_adam_new(n, &ap, &opt), VF_OK);
    for (int k = 0; k < steps && opt; k++) {
        vf_params_zero_grad(fx->p);
        CHECK_STATUS(vf_vi_grad(fx->v, obj, TRAIN_BATCH, r, loss ? &loss[k] : NULL), VF_OK);
        vf_clip_grad_norm(vf_params_grads(fx->p), n, 5.0, NULL);
        vf_adam_step(opt, vf_params_values(fx->p), vf_params_grads(fx->p));
    }
    vf_adam_free(opt);
}

/* Trains with obj from the identity on the normalized gauss:rho=0.6,mu=2 (log Z = 0); then checks the
 * loss fell and the IS log Z. */
static void train_one(vf_vi_objective obj)
{
    vf_set_num_threads(1);
    fixture fx;
    fixture_new(&fx, "realnvp:transforms=4,hidden=16x1", "gauss:d=2,rho=0.6,mu=2", 0.0);
    vf_rng r;
    vf_rng_init(&r, 11, 0);
    double loss[TRAIN_STEPS];
    fit(&fx, obj, TRAIN_STEPS, &r, loss);
    double m0, s0, m1, s1;
    window_stats(loss, 0, &m0, &s0);
    window_stats(loss, TRAIN_STEPS - WINDOW, &m1, &s1);
    const char *name = vf_vi_objective_name(obj);
    printf("%s: loss %.4f +- %.4f over the first %d steps, %.4f +- %.4f over the last\n", name, m0, s0, WINDOW, m1, s1);
    CHECK_MSG(m1 < m0 - 4 * (s0 + s1), "%s: the loss did not fall (%.4f -> %.4f)", name, m0, m1);
    /* every objective's minimum at q = p: -log Z (rkl, path), 0 (fkl), log Z (chi2), and log Z = 0 */
    CHECK_MSG(fabs(m1) < 0.05, "%s: final loss %.4f, its minimum is 0 here", name, m1);
    double *logw = malloc(IS_N * sizeof *logw);
    vf_is_stats st;
    CHECK_STATUS(vf_vi_draw(fx.v, IS_N, &r, NULL, logw, NULL, NULL), VF_OK);
    CHECK_STATUS(vf_is_summarize(IS_N, logw, &st), VF_OK);
    printf("%s: IS log Z %.4f +- %.4f, ESS fraction %.3f, k-hat %.2f\n", name, st.log_z, st.log_z_stderr, st.ess_fraction,
           st.khat);
    CHECK_MSG(fabs(st.log_z) < 4 * st.log_z_stderr + 1e-4 && st.ess_fraction > 0.8, "%s: log Z %.4f +- %.4f, ESS %.3f",
              name, st.log_z, st.log_z_stderr, st.ess_fraction);
    free(logw);
    fixture_free(&fx);
}

static void test_train(void)
{
    for (int obj = VF_VI_RKL; obj <= VF_VI_CHI2; obj++) train_one((vf_vi_objective)obj);
}

/* A fixed beta = 0.25 on N(0, I) fits q = N(0, 4 I): the draws' variance 4 within 5 standard errors
 * (var of a sample variance of m normal draws: 2 sigma^4 / (m - 1)) plus a 5% fitting allowance. */
static void test_beta(void)
{
    enum { M = 4000 };
    fixture fx;
    fixture_new(&fx, "realnvp:transforms=2,hidden=8x1", "gauss:d=2,rho=0", 0.0);
    CHECK_STATUS(vf_vi_set_beta(fx.v, 0.0), VF_ERR_ARG);
    CHECK_STATUS(vf_vi_set_beta(fx.v, 1.5), VF_ERR_ARG);
    CHECK_STATUS(vf_vi_set_beta(fx.v, 0.25), VF_OK);
    vf_rng r;
    vf_rng_init(&r, 4, 0);
    fit(&fx, VF_VI_PATH, 300, &r, NULL);
    vf_real *x = malloc(M * 2 * sizeof *x);
    CHECK_STATUS(vf_vi_draw(fx.v, M, &r, x, NULL, NULL, NULL), VF_OK);
    for (int k = 0; k < 2; k++) {
        double s = 0, q = 0;
        for (int i = 0; i < M; i++) s += x[2 * i + k], q += (double)x[2 * i + k] * x[2 * i + k];
        double var = (q - s * s / M) / (M - 1), se = 4.0 * sqrt(2.0 / (M - 1));
        CHECK_MSG(fabs(var - 4.0) < 5 * se + 0.2, "coordinate %d: variance %.3f, want 4 (beta 0.25)", k, var);
    }
    free(x);
    fixture_free(&fx);
}

int main(void)
{
    RUN(test_fd);
    RUN(test_train);
    RUN(test_beta);
    return vf_test_summary();
}
