/* cnf_box.c — data on a box for continuous-flow models (vf_cnf_model.h, "Data on a box"):
 *   to the field's side    y = logit(p), p = alpha + (1 - 2 alpha) (x - lo) / (hi - lo),
 *                          log dy/dx = log(1 - 2 alpha) - log(hi - lo) - log p - log(1 - p)
 *   back to the data       x = lo + (hi - lo) (sigmoid(y) - alpha) / (1 - 2 alpha), clamped into [lo, hi],
 *                          the same log dy/dx from y: log s = -softplus(-y), log(1 - s) = -softplus(y)
 * in double per value. The support is the x with 0 < p < 1. */
#include <math.h>
#include <string.h>
#include "cnf/cnf_internal.h"
#include "internal.h"

int vf__cnf_box_on(const vf_cnf_box *b) { return b->hi > b->lo; }

vf_status vf_cnf_model_set_box(vf_cnf_model *m, double lo, double hi, double alpha)
{
    if (!m) return vf__error(VF_ERR_ARG, "cnf box: NULL model");
    if (lo == 0 && hi == 0) {
        m->box.lo = m->box.hi = 0;
        m->box.alpha = VF_CNF_BOX_ALPHA;
        return VF_OK;
    }
    if (!isfinite(lo) || !isfinite(hi) || !(lo < hi) || !isfinite(hi - lo))
        return vf__error(VF_ERR_ARG, "cnf box: need finite lo < hi (got %g, %g)", lo, hi);
    if (!(alpha >= 0 && alpha < 0.5))
        return vf__error(VF_ERR_ARG, "cnf box: alpha must be in [0, 0.5) (got %g)", alpha);
    if (m->spec.source.kind == VF_CNF_SOURCE_DATA)
        return vf__error(VF_ERR_UNSUPPORTED, "cnf box: a data-to-data model takes no box (its source rows would need "
                         "the same logits)");
    m->box.lo = lo;
    m->box.hi = hi;
    m->box.alpha = alpha;
    return VF_OK;
}

static double softplus(double z) { return (z > 0 ? z : 0) + log1p(exp(-fabs(z))); }

/* p of x, and whether it lies in (0, 1). */
static int box_p(const vf_cnf_box *b, double x, double *p)
{
    *p = b->alpha + (1 - 2 * b->alpha) * (x - b->lo) / (b->hi - b->lo);
    return *p > 0 && *p < 1;
}

vf_status vf_cnf_model_box_logits(const vf_cnf_model *m, int64_t n, const vf_real *x, vf_real *y)
{
    if (!m || n < 0 || (n > 0 && (!x || !y))) return vf__error(VF_ERR_ARG, "cnf box: bad arguments");
    int64_t d = m->spec.field.dim;
    if (!vf__cnf_box_on(&m->box)) {
        if (x != y) memmove(y, x, (size_t)(n * d) * sizeof *y);
        return VF_OK;
    }
    for (int64_t i = 0; i < n * d; i++) {
        double p;
        if (!box_p(&m->box, (double)x[i], &p))
            return vf__error(VF_ERR_ARG, "row %lld column %lld: %.9g is outside the box [%g, %g]", (long long)(i / d + 1),
                             (long long)(i % d + 1), (double)x[i], m->box.lo, m->box.hi);
        y[i] = (vf_real)(log(p) - log1p(-p));
    }
    return VF_OK;
}

void vf__cnf_box_to_field(const vf_cnf_box *b, int64_t n, int64_t d, const vf_real *x, vf_real *y, double *logdet,
                          unsigned char *outside)
{
    const double c = log(1 - 2 * b->alpha) - log(b->hi - b->lo);
    for (int64_t i = 0; i < n; i++) {
        double sum = 0;
        outside[i] = 0;
        for (int64_t j = 0; j < d; j++) {
            double p;
            if (!box_p(b, (double)x[i * d + j], &p)) { /* outside the support (the callers refuse NaN) */
                outside[i] = 1;
                y[i * d + j] = 0;
                continue;
            }
            double lp = log(p), l1p = log1p(-p);
            y[i * d + j] = (vf_real)(lp - l1p);
            sum += c - lp - l1p;
        }
        logdet[i] = sum;
    }
}

void vf__cnf_box_from_field(const vf_cnf_box *b, int64_t n, int64_t d, vf_real *yx, double *logdet)
{
    const double c = log(1 - 2 * b->alpha) - log(b->hi - b->lo), w = (b->hi - b->lo) / (1 - 2 * b->alpha);
    for (int64_t i = 0; i < n; i++) {
        double sum = 0;
        for (int64_t j = 0; j < d; j++) {
            double y = (double)yx[i * d + j];
            double s = y >= 0 ? 1 / (1 + exp(-y)) : exp(y) / (1 + exp(y));
            /* into the data's box: the logits' support is the box widened by w alpha on each side */
            yx[i * d + j] = (vf_real)fmin(b->hi, fmax(b->lo, b->lo + w * (s - b->alpha)));
            sum += c + softplus(-y) + softplus(y);
        }
        if (logdet) logdet[i] = sum;
    }
}
