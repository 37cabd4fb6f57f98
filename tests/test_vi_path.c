/* test_vi_path.c — the path (sticking-the-landing) gradient of vf_vi_grad on spline coupling flows of
 * the kind `varflow vi` fits to u1 (rational-quadratic splines with linear tails, bound 5), against an
 * independent reference: central differences, at fixed base draws z, of
 *     P(theta) = mean_i [log q_theta0(x_theta(z_i)) - log p~(x_theta(z_i))],
 * the reverse-KL loss with the density's parameters held at theta0, whose gradient at theta0 is the
 * path gradient by definition (Roeder et al. 2017), and of the full loss L(theta) (log q_theta at
 * x_theta), whose gradient is the rkl one; so rkl - path is checked to be the score term too. Three
 * flows: a random one with a fixed N(0, I) base, one whose Student-t base puts draws in the splines'
 * linear tails (|x| > 5; the batch is checked to hold some), and one with a learnable diagonal normal
 * base (the base's parameters get path gradients too). Also: the path step's loss is the rkl step's
 * at the same draws (the negative ELBO). Tight in the double build; loose in the float build, which
 * checks the score term only through the other two. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <varflow.h>
#include "vf_test.h"

enum { N = 16 };

/* mean_i log q_{thq}(x_{thx}(z_i)) - log p~(x_{thx}(z_i)) over the N draws of generator (seed, 0);
 * *tails = draws with a coordinate outside [-5, 5]. The store's values are thq on return. */
static double loss_at(const vf_flow *f, vf_params *p, const vf_target *t, uint64_t seed, const vf_real *thx,
                      const vf_real *thq, int *tails)
{
    int64_t size = vf_params_size(p);
    vf_real *val = vf_params_values(p), x[2 * N];
    double lp[N], acc = 0;
    memcpy(val, thx, (size_t)size * sizeof *val);
    vf_tape *tp = vf_tape_new();
    vf_tape_set_grad_enabled(tp, 0);
    vf_rng r;
    vf_rng_init(&r, seed, 0);
    vf_var xs = vf_flow_sample(f, p, tp, N, VF_NOVAR, &r, NULL);
    CHECK(vf_tape_status(tp) == VF_OK);
    memcpy(x, vf_value(tp, xs)->data, sizeof x);
    memcpy(val, thq, (size_t)size * sizeof *val);
    vf_tape_reset(tp);
    vf_var lq = vf_flow_log_prob(f, p, tp, vf_input(tp, x, 2, (int64_t[]){N, 2}), VF_NOVAR);
    CHECK(vf_tape_status(tp) == VF_OK);
    CHECK_STATUS(vf_target_scores(t, N, x, lp, NULL), VF_OK);
    if (tails) *tails = 0;
    for (int i = 0; i < N; i++) {
        acc += (double)vf_value(tp, lq)->data[i] - lp[i];
        if (tails) *tails += fabs((double)x[2 * i]) > 5 || fabs((double)x[2 * i + 1]) > 5;
    }
    vf_tape_free(tp);
    return acc / N;
}

/* spec on u1 at parameters off their initialization by N(0, jitter^2): both estimators against
 * central differences on every `stride`-th parameter and the last 8; returns the batch's tail draws. */
static int check_flow(const char *spec, double jitter, uint64_t seed, int stride, int in_float)
{
    vf_params *p = vf_params_new();
    vf_flow *f = NULL;
    vf_target t;
    CHECK_STATUS(vf_target_from_spec("u1", &t), VF_OK);
    CHECK_STATUS(vf_flow_from_spec(spec, 2, 0, p, &f), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    int64_t size = vf_params_size(p);
    vf_real *val = vf_params_values(p);
    vf_rng r;
    vf_rng_init(&r, 5, 1);
    for (int64_t i = 0; i < size; i++) val[i] += (vf_real)(jitter * vf_rng_normal(&r));
    vf_real *th0 = malloc((size_t)size * sizeof *th0), *tp = malloc((size_t)size * sizeof *tp),
            *tm = malloc((size_t)size * sizeof *tm);
    double *g[2] = {malloc((size_t)size * sizeof(double)), malloc((size_t)size * sizeof(double))}, loss[2];
    memcpy(th0, val, (size_t)size * sizeof *th0);
    /* a Student-t base's degrees of freedom: their draws' derivative is the implicit one (quantile
     * held fixed; test_gamma_grad checks it), which a difference at fixed random numbers does not
     * see (those move the Gamma draw along Marsaglia-Tsang's transform instead): skipped here */
    int64_t skip0 = 0, skip1 = 0;
    int32_t df = vf_params_find(p, "base.raw_df");
    if (df >= 0) {
        skip0 = vf_params_data(p, df) - val;
        skip1 = skip0 + 2;
    }
    vf_vi *v = NULL;
    CHECK_STATUS(vf_vi_new(f, p, &t, &v), VF_OK);
    for (int obj = 0; obj < 2; obj++) {
        vf_params_zero_grad(p);
        vf_rng_init(&r, seed, 0);
        CHECK_STATUS(vf_vi_grad(v, (vf_vi_objective)obj, N, &r, &loss[obj]), VF_OK);
        for (int64_t i = 0; i < size; i++) g[obj][i] = vf_params_grads(p)[i];
    }
    int tails = 0;
    double l0 = loss_at(f, p, &t, seed, th0, th0, &tails);
    /* the loss of both steps is the batch's mean log q - log p~ (float: the sampling pass's log q) */
    double ltol = VF_USE_DOUBLE ? 1e-9 : 1e-3 * (1 + fabs(l0));
    CHECK_NEAR(loss[VF_VI_PATH], loss[VF_VI_RKL], 1e-12);
    CHECK_NEAR(loss[VF_VI_PATH], l0, ltol);
    double h = VF_USE_DOUBLE ? 1e-6 : 2e-3, tol = VF_USE_DOUBLE ? 1e-5 : 5e-2;
    double err[3] = {0, 0, 0}, norm[3] = {0, 0, 0};
    for (int64_t j = 0; j < size; j++) {
        if (j % stride != 0 && j < size - 8) continue; /* every stride-th, and the last 8 (the base's) */
        if (j >= skip0 && j < skip1) continue;
        memcpy(tp, th0, (size_t)size * sizeof *tp);
        memcpy(tm, th0, (size_t)size * sizeof *tm);
        tp[j] = (vf_real)(th0[j] + h);
        tm[j] = (vf_real)(th0[j] - h);
        double step = (double)tp[j] - (double)tm[j];
        double path = (loss_at(f, p, &t, seed, tp, th0, NULL) - loss_at(f, p, &t, seed, tm, th0, NULL)) / step;
        double full = (loss_at(f, p, &t, seed, tp, tp, NULL) - loss_at(f, p, &t, seed, tm, tm, NULL)) / step;
        double want[3] = {full, path, full - path}, got[3] = {g[0][j], g[1][j], g[0][j] - g[1][j]};
        for (int k = 0; k < 3; k++) err[k] += (want[k] - got[k]) * (want[k] - got[k]), norm[k] += want[k] * want[k];
    }
    memcpy(val, th0, (size_t)size * sizeof *val);
    const char *what[3] = {"rkl", "path", "score term (rkl - path)"};
    int checks = VF_USE_DOUBLE ? 3 : in_float ? 2 : 0; /* float differences are too coarse for the score's */
    for (int k = 0; k < checks; k++) {
        /* the score term is a difference of the other two: its error is relative to the larger of them */
        double rel = sqrt(err[k] / (k == 2 ? fmax(norm[2], fmax(norm[0], norm[1])) : norm[k]));
        CHECK_MSG(rel < tol && norm[k] > 1e-4, "%s on %s: relative error %.3g against central differences (|grad| %.3g)",
                  what[k], spec, rel, sqrt(norm[k]));
    }
    free(g[0]), free(g[1]), free(th0), free(tp), free(tm);
    vf_vi_free(v);
    vf_target_free(&t);
    vf_flow_free(f);
    vf_params_free(p);
    return tails;
}

static void test_spline_normal_base(void)
{
    check_flow("nsf_coupling:transforms=4,hidden=16x2,bins=8,bound=5", 0.1, 3, 5, 1);
}

/* Student-t base (5 degrees of freedom at initialization): some draws lie beyond 5, where the splines
 * are the identity; seed 285 puts 2 of the 16 there, and the check counts them. There the spline of
 * the other coordinate, conditioned on a far input, is so steep that float differences at h = 2e-3
 * say nothing (50% off where the double build agrees to 1e-7), so only the double build compares. */
static void test_spline_tails(void)
{
    int tails = check_flow("nsf_coupling:transforms=4,hidden=16x2,bins=8,bound=5,base=student_t", 0.1, 285, 5, 0);
    CHECK_MSG(tails >= 2, "%d draws in the linear tails (2 expected)", tails);
}

static void test_spline_learnable_base(void)
{
    check_flow("nsf_coupling:transforms=4,hidden=16x2,bins=8,bound=5,base=diag_normal", 0.1, 4, 5, 1);
}

int main(void)
{
    RUN(test_spline_normal_base);
    RUN(test_spline_tails);
    RUN(test_spline_learnable_base);
    return vf_test_summary();
}
