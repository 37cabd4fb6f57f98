/* sinkhorn.c — balanced entropic optimal transport by Sinkhorn's iterations in the log domain
 * (vf_ot.h), with eps-scaling and a POT-compatible marginal-error stopping rule, and pairs drawn
 * from the resulting plan.
 *
 * With P_ij = exp((f_i + g_j - C_ij) / eps), the row sums equal a when
 *   f_i = eps log a_i - eps log sum_j exp((g_j - C_ij) / eps)
 * and the column sums equal b when g_j is updated likewise (g first, from f = 0, as POT does).
 *
 * The kernel (one pass over the cost per iteration). Each log-sum-exp is shifted by the potential it
 * replaces instead of by its largest term: the row update sums the current plan's row,
 *   s_i = sum_j exp(fs_i + gs_j - Cs_ij)        (fs = f / eps, gs = g / eps, Cs = C / eps)
 * and sets fs_i += log a_i - log s_i. Every term is an entry of a plan whose columns are exact, so it
 * is at most b_j <= 1: no exponential overflows, and no second pass for the maximum is needed. The
 * terms are kept in a row buffer; multiplied by a_i / s_i they are the entries of the new row, which
 * are added into the column sums (for the next g update and the stopping rule) and into <P, C>
 * while the row is still in cache. So each iteration reads the cost once and evaluates one
 * exponential per entry (vf__exp_neg_d: vectorizable, about 2 ulps; vf__exp_neg_d_fast, 3e-10 relative,
 * when tol >= 1e-7, where its effect on the marginals is below 0.3% of tol). A sum that leaves
 * [1e-250, 1e250] (a poor shift: the first iteration, a new eps) is recomputed with the classical
 * max-shifted log-sum-exp, so the result does not depend on how good the shift was.
 *
 * The stopping rule is POT's: the norm (L1 or L2) of the column-marginal error of the plan whose
 * rows have just been made exact, tested every check_every iterations (POT: L2, every 10).
 *
 * method VF_SINKHORN_SCALING runs the same iterations on a stabilized kernel (sinkhorn_scaling.c):
 * vf_sinkhorn only chooses the stage function and allocates the kernel. */
#include <math.h>
#include <string.h>
#include "ad/vmath.h"
#include "internal.h"
#include "ot/sinkhorn_internal.h"
#include "varflow/vf_ot.h"

vf_sinkhorn_options vf_sinkhorn_default_options(void)
{
    vf_sinkhorn_options o;
    o.eps = 0.1;
    o.tol = 1e-9;
    o.max_iter = 10000;
    o.check_every = 1;
    o.error_norm = 1;
    o.eps_start = 0;
    o.eps_factor = 0.5;
    o.stage_tol = 1e-3;
    o.method = VF_SINKHORN_LOG;
    return o;
}

/* ---- kernels ---------------------------------------------------------------------------------- */

#define FAST_EXP_MIN_TOL 1e-7

/* e [m] = exp(fsi + gs[j] - ie c[j]) for a row c [m] of the cost; returns sum_j e[j] (8 partial sums,
 * so the reduction vectorizes without reassociating a single sum). fast: vf__exp_neg_d_fast (3e-10
 * relative, 1.4x faster here) instead of vf__exp_neg_d (2 ulps). */
VF_HOT static double row_terms(int64_t m, const double *restrict c, const double *restrict gs, double fsi, double ie,
                               double *restrict e, int fast)
{
    if (fast)
        for (int64_t j = 0; j < m; j++) e[j] = vf__exp_neg_d_fast(fsi + gs[j] - ie * c[j]);
    else
        for (int64_t j = 0; j < m; j++) e[j] = vf__exp_neg_d(fsi + gs[j] - ie * c[j]);
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= m; j += 8)
        for (int k = 0; k < 8; k++) acc[k] += e[j + k];
    double s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; j < m; j++) s += e[j];
    return s;
}

/* colsum [m] += r e[j], pc [m] += r e[j] c[j]: the new row's entries into the column sums and <P, C>. */
VF_HOT static void add_row(int64_t m, const double *restrict e, const double *restrict c, double r,
                           double *restrict colsum, double *restrict pc)
{
    for (int64_t j = 0; j < m; j++) {
        double p = r * e[j];
        colsum[j] += p;
        pc[j] += p * c[j];
    }
}

double vf__sinkhorn_row_lse(int64_t m, const double *c, const double *gs, double fsi, double ie, double *e)
{
    double mx = -INFINITY;
    for (int64_t j = 0; j < m; j++) {
        e[j] = fsi + gs[j] - ie * c[j];
        mx = e[j] > mx ? e[j] : mx;
    }
    double s = 0;
    for (int64_t j = 0; j < m; j++) s += vf__exp_neg_d(e[j] - mx);
    return mx + log(s);
}

void vf__sinkhorn_col_lse(int64_t n, int64_t m, const double *cost, const double *fs, double ie, double *lse,
                          double *tmp)
{
    for (int64_t j = 0; j < m; j++) lse[j] = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) {
            double x = fs[i] - ie * cost[i * m + j];
            lse[j] = x > lse[j] ? x : lse[j];
        }
    for (int64_t j = 0; j < m; j++) tmp[j] = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) tmp[j] += vf__exp_neg_d(fs[i] - ie * cost[i * m + j] - lse[j]);
    for (int64_t j = 0; j < m; j++) lse[j] += log(tmp[j]);
}

vf_status vf__sinkhorn_check(const char *who, int64_t n, int64_t m, const double *cost, const double *a,
                             const double *b, double eps, int normalized)
{
    if (n < 1 || m < 1) return vf__error(VF_ERR_ARG, "%s: need n, m >= 1 (got %lld, %lld)", who, (long long)n, (long long)m);
    if (!cost) return vf__error(VF_ERR_ARG, "%s: NULL cost", who);
    if (!(eps > 0) || !isfinite(eps)) return vf__error(VF_ERR_ARG, "%s: eps must be > 0 (got %g)", who, eps);
    size_t nm;
    if (vf__mul_size((size_t)n, (size_t)m, &nm) || nm > SIZE_MAX / (4 * sizeof(double)))
        return vf__error(VF_ERR_ARG, "%s: %lld x %lld is too large", who, (long long)n, (long long)m);
    for (int64_t i = 0; i < n * m; i++)
        if (!isfinite(cost[i]))
            return vf__error(VF_ERR_ARG, "%s: cost[%lld, %lld] is not finite", who, (long long)(i / m), (long long)(i % m));
    const double *w[2] = {a, b};
    const int64_t len[2] = {n, m};
    for (int k = 0; k < 2; k++) {
        if (!w[k]) continue;
        double s = 0;
        for (int64_t i = 0; i < len[k]; i++) {
            if (!(w[k][i] > 0) || !isfinite(w[k][i]))
                return vf__error(VF_ERR_ARG, "%s: weight %s[%lld] = %g must be positive and finite", who, k ? "b" : "a",
                                 (long long)i, w[k][i]);
            s += w[k][i];
        }
        if (normalized && fabs(s - 1) > 1e-9)
            return vf__error(VF_ERR_ARG, "%s: the weights %s sum to %.17g, not 1", who, k ? "b" : "a", s);
    }
    return VF_OK;
}

/* ---- the solver ------------------------------------------------------------------------------- */

/* Iterations at eps until the marginal error (checked as o says) is <= tol or *it reaches max_it.
 * On entry gs makes the columns of the plan (fs, gs) exact, or fresh = 1 asks to compute it. On
 * return (fs, gs) is the last plan with exact rows, *err its column error and *cost its <P, C>. */
static void run_stage(vf__sk_work *w, double eps, double tol, const vf_sinkhorn_options *o, int64_t max_it, int64_t *it,
                      double *err, double *cost)
{
    const int64_t n = w->n, m = w->m;
    const double ie = 1.0 / eps;
    /* the faster exponential when its error (3e-10 relative in each entry, so at most 3e-10 in the
     * marginal error of a plan of mass 1) is below 0.3% of the tolerance */
    const int fast = tol >= FAST_EXP_MIN_TOL;
    double *fs = w->fs, *gs = w->gs;
    /* g from the current f, exactly (max-shifted): the columns of (fs, gs) are then exact */
    vf__sinkhorn_col_lse(n, m, w->cost, fs, ie, w->colsum, w->e);
    for (int64_t j = 0; j < m; j++) gs[j] = w->lb[j] - w->colsum[j];
    int64_t k = 0;
    for (;;) {
        memset(w->colsum, 0, (size_t)m * sizeof(double));
        memset(w->pc, 0, (size_t)m * sizeof(double));
        for (int64_t i = 0; i < n; i++) {
            const double *c = w->cost + i * m;
            double s = row_terms(m, c, gs, fs[i], ie, w->e, fast), r;
            if (s >= 1e-250 && s <= 1e250) {
                r = w->a[i] / s; /* the new row is r times the old one */
                fs[i] += w->la[i] - log(s);
            } else { /* a poor shift: the classical update, then the new row from scratch */
                fs[i] = w->la[i] - vf__sinkhorn_row_lse(m, c, gs, 0, ie, w->e);
                row_terms(m, c, gs, fs[i], ie, w->e, fast);
                r = 1;
            }
            add_row(m, w->e, c, r, w->colsum, w->pc);
        }
        k++;
        (*it)++;
        double e1 = 0, e2 = 0, pcs = 0;
        for (int64_t j = 0; j < m; j++) {
            double d = w->colsum[j] - w->b[j];
            e1 += fabs(d);
            e2 += d * d;
            pcs += w->pc[j];
        }
        *err = o->error_norm == 2 ? sqrt(e2) : e1;
        *cost = pcs;
        if (!isfinite(*err)) return;
        if ((k - 1) % o->check_every == 0 && *err <= tol) return;
        if (*it >= max_it) return;
        int poor = 0;
        for (int64_t j = 0; j < m; j++) {
            double s = w->colsum[j];
            if (!(s >= 1e-250 && s <= 1e250)) poor = 1;
            gs[j] += w->lb[j] - log(s);
        }
        if (poor) { /* recompute g exactly from f */
            vf__sinkhorn_col_lse(n, m, w->cost, fs, ie, w->colsum, w->e);
            for (int64_t j = 0; j < m; j++) gs[j] = w->lb[j] - w->colsum[j];
        }
    }
}

vf_status vf_sinkhorn(int64_t n, int64_t m, const double *cost, const double *a, const double *b,
                      const vf_sinkhorn_options *o, double *f_out, double *g_out, vf_sinkhorn_result *res)
{
    if (!o) return vf__error(VF_ERR_ARG, "sinkhorn: NULL options");
    vf_status st = vf__sinkhorn_check("sinkhorn", n, m, cost, a, b, o->eps, 1);
    if (st != VF_OK) return st;
    if (!(o->tol > 0) || o->max_iter < 1) return vf__error(VF_ERR_ARG, "sinkhorn: need tol > 0 and max_iter >= 1");
    if (o->check_every < 1 || (o->error_norm != 1 && o->error_norm != 2))
        return vf__error(VF_ERR_ARG, "sinkhorn: need check_every >= 1 and error_norm 1 or 2 (got %lld, %d)",
                         (long long)o->check_every, o->error_norm);
    if (o->eps_start > o->eps && !(o->eps_factor > 0 && o->eps_factor < 1 && isfinite(o->eps_start)))
        return vf__error(VF_ERR_ARG, "sinkhorn: eps-scaling needs 0 < eps_factor < 1 (got %g)", o->eps_factor);
    if (o->method != VF_SINKHORN_LOG && o->method != VF_SINKHORN_SCALING)
        return vf__error(VF_ERR_ARG, "sinkhorn: unknown method %d (VF_SINKHORN_LOG or VF_SINKHORN_SCALING)", o->method);
    const int scaling = o->method == VF_SINKHORN_SCALING;
    int64_t big = n > m ? n : m;
    /* fs, la, a [n], gs, lb, b, colsum, pc [m], e [big]; scaling: u [n], v [m], kernel [n, m] (size checked) */
    size_t len = (size_t)(3 * n + 6 * m + big) + (scaling ? (size_t)(n + m) + (size_t)n * (size_t)m : 0);
    double *buf = vf_malloc(len * sizeof *buf);
    if (!buf) return vf__error(VF_ERR_NOMEM, "sinkhorn: out of memory");
    vf__sk_work w = {0};
    double *q = buf;
    w.n = n, w.m = m, w.cost = cost;
    w.fs = q, q += n;
    w.la = q, q += n;
    w.a = q, q += n;
    w.gs = q, q += m;
    w.lb = q, q += m;
    w.b = q, q += m;
    w.colsum = q, q += m;
    w.pc = q, q += m;
    w.e = q, q += big;
    if (scaling) {
        w.u = q, q += n;
        w.v = q, q += m;
        w.kernel = q;
    }
    for (int64_t i = 0; i < n; i++) w.la[i] = a ? log(a[i]) : -log((double)n), w.a[i] = exp(w.la[i]), w.fs[i] = 0;
    for (int64_t j = 0; j < m; j++) w.lb[j] = b ? log(b[j]) : -log((double)m), w.b[j] = exp(w.lb[j]);
    int64_t it = 0, stages = 0;
    double err = INFINITY, total = 0, eps = o->eps;
    if (o->eps_start > o->eps) { /* eps-scaling: eps_start, eps_start q, eps_start q^2, ... down to eps */
        double stage_tol = o->stage_tol > o->tol ? o->stage_tol : o->tol;
        for (double e = o->eps_start; e > o->eps && it < o->max_iter; e *= o->eps_factor) {
            if (stages > 0) /* potentials are kept in cost units: rescale fs = f / eps */
                for (int64_t i = 0; i < n; i++) w.fs[i] *= eps / e;
            eps = e;
            if (scaling) vf__sinkhorn_scaling_stage(&w, eps, stage_tol, o, o->max_iter, &it, &err, &total);
            else run_stage(&w, eps, stage_tol, o, o->max_iter, &it, &err, &total);
            stages++;
        }
        if (stages > 0)
            for (int64_t i = 0; i < n; i++) w.fs[i] *= eps / o->eps;
        eps = o->eps;
    }
    int64_t last_max = o->max_iter > it ? o->max_iter : it + 1;
    if (scaling) vf__sinkhorn_scaling_stage(&w, eps, o->tol, o, last_max, &it, &err, &total);
    else run_stage(&w, eps, o->tol, o, last_max, &it, &err, &total);
    stages++;
    double objective = 0;
    for (int64_t i = 0; i < n; i++) objective += w.a[i] * eps * (w.fs[i] - w.la[i]);
    for (int64_t j = 0; j < m; j++) objective += w.b[j] * eps * (w.gs[j] - w.lb[j]);
    if (f_out)
        for (int64_t i = 0; i < n; i++) f_out[i] = eps * w.fs[i];
    if (g_out)
        for (int64_t j = 0; j < m; j++) g_out[j] = eps * w.gs[j];
    if (res) {
        res->iterations = it;
        res->marginal_error = err;
        res->transport_cost = total;
        res->objective = objective;
        res->stages = stages;
    }
    vf_free(buf);
    if (!(err <= o->tol))
        return vf__error(VF_ERR_NUMERIC, "sinkhorn: the marginals are off by %g after %lld iterations (tol %g; "
                         "a smaller eps needs more)", err, (long long)it, o->tol);
    return VF_OK;
}

/* p [m] = exp((fi + g[j] - c[j]) / eps), a row of the plan, by the vectorizable exponential (2 ulps
 * of libm's; below exp(-708) it gives 3e-308, a zero for the draws); returns 1 (p unset) when an
 * exponent exceeds 700 or is NaN, where that exponential does not apply. */
VF_HOT static int plan_row(int64_t m, const double *restrict c, const double *restrict g, double fi, double eps,
                           double *restrict p)
{
    double mx = -INFINITY;
    for (int64_t j = 0; j < m; j++) {
        p[j] = (fi + g[j] - c[j]) / eps;
        mx = p[j] > mx || p[j] != p[j] ? p[j] : mx; /* a NaN sticks */
    }
    if (!(mx <= 700)) return 1;
    for (int64_t j = 0; j < m; j++) p[j] = vf__exp_neg_d(p[j]);
    return 0;
}

vf_status vf_sinkhorn_sample_pairs(int64_t n, int64_t m, const double *cost, const double *f, const double *g,
                                   double eps, int64_t k, vf_rng *r, int64_t *rows, int64_t *cols)
{
    if (n < 1 || m < 1 || k < 0 || !cost || !f || !g || !r || (k > 0 && (!rows || !cols)))
        return vf__error(VF_ERR_ARG, "sinkhorn_sample_pairs: bad sizes or NULL argument");
    if (!(eps > 0)) return vf__error(VF_ERR_ARG, "sinkhorn_sample_pairs: eps must be > 0");
    double *cum = vf_malloc((size_t)(n * m) * sizeof *cum);
    if (!cum) return vf__error(VF_ERR_NOMEM, "sinkhorn_sample_pairs: out of memory for %lld entries", (long long)(n * m));
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        double *row = cum + i * m;
        if (plan_row(m, cost + i * m, g, f[i], eps, row)) /* an exponent above 700: libm, inf as 0 */
            for (int64_t j = 0; j < m; j++) {
                double p = exp((f[i] + g[j] - cost[i * m + j]) / eps);
                row[j] = isfinite(p) ? p : 0;
            }
        for (int64_t j = 0; j < m; j++) {
            s += row[j];
            row[j] = s;
        }
    }
    if (!(s > 0) || !isfinite(s)) {
        vf_free(cum);
        return vf__error(VF_ERR_NUMERIC, "sinkhorn_sample_pairs: the plan has total mass %g", s);
    }
    for (int64_t q = 0; q < k; q++) {
        double u = vf_rng_uniform(r) * s;
        int64_t lo = 0, hi = n * m - 1; /* first index with cum > u */
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (cum[mid] > u) hi = mid;
            else lo = mid + 1;
        }
        rows[q] = lo / m;
        cols[q] = lo % m;
    }
    vf_free(cum);
    return VF_OK;
}
