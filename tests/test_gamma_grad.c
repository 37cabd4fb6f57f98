/* test_gamma_grad.c — the regularized incomplete gamma functions against closed forms; the implicit
 * reparameterization derivative dG/da of a Gamma draw against the quantile function differentiated
 * by root finding; and the Student-t base's samples carrying that derivative to nu: the pathwise
 * gradient of mean(t^2) in nu is d/dnu nu / (nu - 2) = -2 / (nu - 2)^2 within Monte Carlo error
 * (before implicit reparameterization it was 0). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <varflow.h>
#include "dist/dist_internal.h"
#include "vf_test.h"

/* the smaller of P, Q and its closed form for a = 1, 1/2, 3 */
static void test_pq_closed_forms(void)
{
    const double xs[] = {1e-3, 0.2, 0.9, 2.0, 5.5, 12.0, 40.0};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        double x = xs[i], p, q;
        double tail = 0, term = x * x * x / 6; /* e^x P(3, x) = sum_{k >= 3} x^k / k!, no cancellation */
        for (int k = 3; k < 200 && term > 1e-300; k++, term *= x / k) tail += term;
        double want_q[3] = {exp(-x), erfc(sqrt(x)), exp(-x) * (1 + x + x * x / 2)};
        double want_p[3] = {-expm1(-x), erf(sqrt(x)), exp(-x) * tail};
        const double as[3] = {1.0, 0.5, 3.0};
        for (int k = 0; k < 3; k++) {
            vf__gamma_pq(as[k], x, &p, &q);
            double wq = want_q[k], wp = want_p[k];
            if (wq < 0.5) CHECK_MSG(fabs(q - wq) <= 1e-13 * wq, "Q(%g, %g) = %.17g, want %.17g", as[k], x, q, wq);
            else CHECK_MSG(fabs(p - wp) <= 1e-13 * wp + 1e-300, "P(%g, %g) = %.17g, want %.17g", as[k], x, p, wp);
            CHECK(fabs(p + q - 1) < 1e-15);
        }
    }
    double p, q;
    vf__gamma_pq(-1, 1, &p, &q);
    CHECK(isnan(p) && isnan(q));
    vf__gamma_pq(2, 0, &p, &q);
    CHECK(p == 0 && q == 1);
}

/* x with P(a, x) = u, by bisection in log x to the double's resolution */
static double quantile(double a, double u)
{
    double lo = -60, hi = log(a + 60 * sqrt(a) + 60);
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi), p, q;
        vf__gamma_pq(a, exp(mid), &p, &q);
        if ((u < 0.5 ? p : 1 - q) < u) lo = mid;
        else hi = mid;
    }
    return exp(0.5 * (lo + hi));
}

/* dG/da at fixed quantile: the formula against (G(u; a + h) - G(u; a - h)) / 2h */
static void test_dshape_against_quantiles(void)
{
    const double as[] = {0.3, 1.0, 2.5, 10.0, 55.0}, us[] = {0.01, 0.3, 0.7, 0.99};
    for (size_t i = 0; i < sizeof as / sizeof as[0]; i++)
        for (size_t j = 0; j < sizeof us / sizeof us[0]; j++) {
            double a = as[i], u = us[j], g = quantile(a, u), h = 1e-4 * a;
            double fd = (quantile(a + h, u) - quantile(a - h, u)) / (2 * h), got = vf__gamma_draw_dshape(a, g);
            CHECK_MSG(fabs(got - fd) <= 1e-5 * fabs(fd) + 1e-9, "dG/da at a = %g, u = %g: %.10g, quantiles give %.10g",
                      a, u, got, fd);
        }
    CHECK(vf__gamma_draw_dshape(0, 1) == 0 && vf__gamma_draw_dshape(2, -1) == 0);
}

/* mean(t^2) over n draws of t ~ t(nu) (loc 0, scale 1): its gradient in nu, in k batches, against
 * d/dnu E t^2 = -2 / (nu - 2)^2 */
static void test_student_t_pathwise_gradient(void)
{
    const int64_t n = 20000, k = 10;
    vf_params *p = vf_params_new();
    vf_dist_student_t_params kp = vf_dist_student_t_default_params(1);
    kp.df_init = 10;
    vf_dist *b = NULL;
    CHECK_STATUS(vf_dist_student_t_new(p, "st", &kp, &b), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    vf_param_info info;
    CHECK_STATUS(vf_params_info(p, vf_params_find(p, "st.raw_df"), &info), VF_OK);
    double raw = (double)vf_params_values(p)[info.offset], nu = log1p(exp(raw)) + kp.df_min;
    double dnu_draw = 1 / (1 + exp(-raw)); /* d nu / d raw_df */
    vf_tape *t = vf_tape_new();
    vf_rng r;
    vf_rng_init(&r, 11, 0);
    double sum = 0, sum2 = 0;
    for (int64_t i = 0; i < k; i++) {
        vf_params_zero_grad(p);
        vf_tape_reset(t);
        vf_var x = vf_dist_sample(b, p, t, n, VF_NOVAR, &r);
        vf_var loss = vf_mean(t, vf_square(t, x), VF_ALL_AXES, 0);
        CHECK_STATUS(vf_backward(t, loss), VF_OK);
        double gnu = (double)vf_params_grads(p)[info.offset] / dnu_draw;
        sum += gnu;
        sum2 += gnu * gnu;
    }
    double mean = sum / k, se = sqrt((sum2 / k - mean * mean) / (k - 1)), want = -2 / ((nu - 2) * (nu - 2));
    CHECK_MSG(fabs(mean - want) < 4 * se && se < 0.25 * fabs(want),
              "d/dnu mean(t^2) = %.5f +- %.5f, want %.5f (nu = %.3f)", mean, se, want, nu);
    /* inference mode: the same draws, no derivative state */
    vf_tape_reset(t);
    vf_tape_set_grad_enabled(t, 0);
    vf_var x = vf_dist_sample(b, p, t, 4, VF_NOVAR, &r);
    CHECK(x != VF_NOVAR && vf_tape_status(t) == VF_OK);
    vf_tape_free(t);
    vf_dist_free(b);
    vf_params_free(p);
}

int main(void)
{
    RUN(test_pq_closed_forms);
    RUN(test_dshape_against_quantiles);
    RUN(test_student_t_pathwise_gradient);
    return vf_test_summary();
}
