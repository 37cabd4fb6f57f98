/* gamma_grad.c — the regularized incomplete gamma function and the implicit reparameterization
 * gradient of a Gamma draw in its shape (Figurnov, Mohamed and Mnih 2018), so that Student-t samples
 * carry a gradient to their degrees of freedom.
 *
 * For G ~ Gamma(a, 1) with CDF P(a, x), G = P^-1(u; a) for a uniform u held fixed, so
 *   dG/da = -(dP/da)(a, G) / p(G; a),   p(x; a) = x^(a-1) e^-x / Gamma(a).
 * dP/da has no closed form: it is a central difference of P in a (step 1e-5 a), taken on P below
 * the mean and on Q = 1 - P above it (the smaller one, or near it), which the series and the
 * continued fraction below give to about 1e-15 relative; the difference is then good to about 1e-9
 * relative, far below float rounding.
 *
 * P(a, x) by its series e^-x x^a / Gamma(a + 1) sum_n x^n / ((a + 1) ... (a + n)) for x < a + 1, and
 * Q(a, x) by its continued fraction (modified Lentz) otherwise (Abramowitz and Stegun 6.5.29 and
 * 6.5.31).
 */
#include <float.h>
#include <math.h>
#include "dist/dist_internal.h"

enum { GAMMA_MAX_TERMS = 1000 };

/* log of the prefactor e^-x x^a / Gamma(a) */
static double log_prefactor(double a, double x) { return -x + a * log(x) - lgamma(a); }

/* P(a, x) by the series, x < a + 1. */
static double p_series(double a, double x)
{
    double term = 1.0 / a, sum = term;
    for (int n = 1; n < GAMMA_MAX_TERMS; n++) {
        term *= x / (a + n);
        sum += term;
        if (fabs(term) < fabs(sum) * 1e-17) break;
    }
    return sum * exp(log_prefactor(a, x));
}

/* Q(a, x) by the continued fraction, x >= a + 1. */
static double q_fraction(double a, double x)
{
    const double tiny = 1e-300;
    double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
    for (int i = 1; i < GAMMA_MAX_TERMS; i++) {
        double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < tiny) d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        double delta = d * c;
        h *= delta;
        if (fabs(delta - 1.0) < 1e-16) break;
    }
    return exp(log_prefactor(a, x)) * h;
}

void vf__gamma_pq(double a, double x, double *p, double *q)
{
    if (!(a > 0) || !(x >= 0) || isinf(a)) {
        *p = *q = NAN;
        return;
    }
    if (x == 0) {
        *p = 0, *q = 1;
    } else if (isinf(x)) {
        *p = 1, *q = 0;
    } else if (x < a + 1.0) {
        *p = p_series(a, x);
        *q = 1.0 - *p;
    } else {
        *q = q_fraction(a, x);
        *p = 1.0 - *q;
    }
}

double vf__gamma_draw_dshape(double a, double g)
{
    if (!(a > 0) || !(g > 0) || !isfinite(a) || !isfinite(g)) return 0.0;
    double h = 1e-5 * a, pp, qp, pm, qm;
    vf__gamma_pq(a + h, g, &pp, &qp);
    vf__gamma_pq(a - h, g, &pm, &qm);
    /* below the mean a, P is the smaller (the median is about a - 1/3): difference it, else Q */
    double dp = g < a ? (pp - pm) / (2 * h) : -(qp - qm) / (2 * h);
    double dens = exp((a - 1.0) * log(g) - g - lgamma(a));
    double r = dens > 0 ? -dp / dens : 0.0;
    return isfinite(r) ? r : 0.0;
}
