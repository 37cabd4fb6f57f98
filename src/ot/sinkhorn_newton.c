/* sinkhorn_newton.c — Sinkhorn-Newton-Sparse (Tang et al. 2024, "Accelerating Sinkhorn algorithm
 * with sparse Newton iterations"): a few Sinkhorn iterations, then Newton steps on the dual with a
 * sparsified Hessian (vf_ot.h).
 *
 * The dual of entropic OT (P_ij = exp((f_i + g_j - C_ij) / eps), as vf_sinkhorn) is the concave
 *   L(f, g) = <a, f> + <b, g> - eps sum_ij P_ij,
 * with gradient (a - P 1, b - P^T 1) and Hessian -(1 / eps) [[diag(P 1), P], [P^T, diag(P^T 1)]].
 * Once Sinkhorn has found the right neighbourhood, P is nearly sparse: the Newton system is solved
 * with P replaced by P_s, its entries P_ij >= drop_tol * max_j P_ij (CSR storage; the diagonal blocks
 * keep the full row and column sums, so the matrix stays diagonally dominant, hence positive
 * semi-definite), by conjugate gradients with a Jacobi preconditioner; the step is then scaled by
 * backtracking until L increases enough (Armijo, c = 1e-4). Each Newton iteration costs two or
 * more exponentials per entry (the plan, the line search) plus the CG work on the sparse matrix;
 * near convergence the iterations converge quadratically where Sinkhorn's are linear, with a
 * rate that degrades as eps -> 0. */
#include <math.h>
#include <string.h>
#include "internal.h"
#include "ot/sinkhorn_internal.h"
#include "varflow/vf_ot.h"

vf_sns_options vf_sns_default_options(void)
{
    vf_sns_options s;
    s.sinkhorn_iterations = 20;
    s.max_newton = 50;
    s.drop_tol = 1e-8;
    s.max_cg = 1000;
    s.cg_tol = 1e-10;
    return s;
}

typedef struct sns_work {
    int64_t n, m, nnz;
    const double *cost;
    double eps;
    double *p;                /* [n, m] the plan */
    double *r, *c;            /* [n], [m] its marginals */
    int64_t *rowptr, *colidx; /* CSR of P_s: [n + 1], [nnz] */
    double *val;              /* [nnz] */
} sns_work;

/* L(f, g) without the constant; the plan into p (when not NULL) with its marginals r, c. */
static double dual_value(const sns_work *w, const double *la, const double *lb, const double *f, const double *g,
                         double *p, double *r, double *c)
{
    const int64_t n = w->n, m = w->m;
    const double ie = 1 / w->eps;
    double total = 0, lin = 0;
    if (c)
        for (int64_t j = 0; j < m; j++) c[j] = 0;
    for (int64_t i = 0; i < n; i++) {
        double rs = 0;
        for (int64_t j = 0; j < m; j++) {
            double q = exp((f[i] + g[j] - w->cost[i * m + j]) * ie);
            rs += q;
            if (p) p[i * m + j] = q;
            if (c) c[j] += q;
        }
        if (r) r[i] = rs;
        total += rs;
        lin += exp(la[i]) * f[i];
    }
    for (int64_t j = 0; j < m; j++) lin += exp(lb[j]) * g[j];
    return lin - w->eps * total;
}

/* y = H x for H = (1/eps) [[diag r, P_s], [P_s^T, diag c]] (plus a tiny ridge); x, y [n + m]. */
static void hess_mul(const sns_work *w, const double *x, double *y, double ridge)
{
    const int64_t n = w->n, m = w->m;
    const double ie = 1 / w->eps;
    for (int64_t i = 0; i < n; i++) y[i] = (w->r[i] + ridge) * x[i];
    for (int64_t j = 0; j < m; j++) y[n + j] = (w->c[j] + ridge) * x[n + j];
    for (int64_t i = 0; i < n; i++) {
        double s = 0, xi = x[i];
        for (int64_t k = w->rowptr[i]; k < w->rowptr[i + 1]; k++) {
            int64_t j = w->colidx[k];
            s += w->val[k] * x[n + j];
            y[n + j] += w->val[k] * xi;
        }
        y[i] += s;
    }
    for (int64_t k = 0; k < n + m; k++) y[k] *= ie;
}

/* Preconditioned CG for H d = rhs (all [n + m]); tmp [4 (n + m)]; returns the iterations. */
static int64_t pcg(const sns_work *w, const double *rhs, double *d, double *tmp, int64_t max_it, double rtol)
{
    const int64_t k = w->n + w->m;
    double *res = tmp, *z = res + k, *pdir = z + k, *hp = pdir + k, rmax = 0;
    for (int64_t i = 0; i < w->n; i++) rmax = fmax(rmax, w->r[i]);
    for (int64_t j = 0; j < w->m; j++) rmax = fmax(rmax, w->c[j]);
    const double ridge = 1e-14 * rmax, ie = 1 / w->eps;
    double rr = 0, r0 = 0;
    for (int64_t i = 0; i < k; i++) {
        d[i] = 0;
        res[i] = rhs[i];
        double diag = ((i < w->n ? w->r[i] : w->c[i - w->n]) + ridge) * ie;
        z[i] = res[i] / diag;
        pdir[i] = z[i];
        rr += res[i] * z[i];
        r0 += res[i] * res[i];
    }
    r0 = sqrt(r0);
    int64_t it = 0;
    while (it < max_it) {
        double rn = 0;
        for (int64_t i = 0; i < k; i++) rn += res[i] * res[i];
        if (sqrt(rn) <= rtol * r0 || rn == 0) break;
        it++;
        hess_mul(w, pdir, hp, ridge);
        double php = 0;
        for (int64_t i = 0; i < k; i++) php += pdir[i] * hp[i];
        if (!(php > 0)) break;
        double alpha = rr / php, rr_new = 0;
        for (int64_t i = 0; i < k; i++) {
            d[i] += alpha * pdir[i];
            res[i] -= alpha * hp[i];
            double diag = ((i < w->n ? w->r[i] : w->c[i - w->n]) + ridge) * ie;
            z[i] = res[i] / diag;
            rr_new += res[i] * z[i];
        }
        double beta = rr_new / rr;
        rr = rr_new;
        for (int64_t i = 0; i < k; i++) pdir[i] = z[i] + beta * pdir[i];
    }
    return it;
}

static double marginal_error(int64_t n, int64_t m, const double *r, const double *c, const double *la, const double *lb,
                             int norm)
{
    double e1 = 0, e2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = r[i] - exp(la[i]);
        e1 += fabs(d);
        e2 += d * d;
    }
    for (int64_t j = 0; j < m; j++) {
        double d = c[j] - exp(lb[j]);
        e1 += fabs(d);
        e2 += d * d;
    }
    return norm == 2 ? sqrt(e2) : e1;
}

vf_status vf_sinkhorn_newton(int64_t n, int64_t m, const double *cost, const double *a, const double *b,
                             const vf_sinkhorn_options *o, const vf_sns_options *so, double *f_out, double *g_out,
                             vf_sns_result *res)
{
    if (!o || !so) return vf__error(VF_ERR_ARG, "sinkhorn_newton: NULL options");
    vf_status st = vf__sinkhorn_check("sinkhorn_newton", n, m, cost, a, b, o->eps, 1);
    if (st != VF_OK) return st;
    if (so->sinkhorn_iterations < 1 || so->max_newton < 0 || so->max_cg < 1 || !(so->drop_tol >= 0 && so->drop_tol < 1) ||
        !(so->cg_tol > 0))
        return vf__error(VF_ERR_ARG, "sinkhorn_newton: need sinkhorn_iterations >= 1, max_newton >= 0, max_cg >= 1, "
                         "0 <= drop_tol < 1 and cg_tol > 0");
    const int64_t k = n + m;
    size_t nm = (size_t)n * (size_t)m; /* checked by vf__sinkhorn_check */
    double *buf = vf_malloc((nm + (size_t)(12 * k)) * sizeof *buf);
    int64_t *rowptr = vf_malloc((size_t)(n + 1) * sizeof *rowptr);
    if (!buf || !rowptr) {
        vf_free(buf);
        vf_free(rowptr);
        return vf__error(VF_ERR_NOMEM, "sinkhorn_newton: out of memory");
    }
    double *p = buf, *fg = p + nm, *grad = fg + k, *dir = grad + k, *trial = dir + k, *cgtmp = trial + k,
           *la = cgtmp + 4 * k, *lb = la + n, *r = lb + m, *c = r + n, *tr = c + m, *tc = tr + n;
    double *f = fg, *g = fg + n;
    for (int64_t i = 0; i < n; i++) la[i] = a ? log(a[i]) : -log((double)n);
    for (int64_t j = 0; j < m; j++) lb[j] = b ? log(b[j]) : -log((double)m);
    /* stage 1: early-stopped Sinkhorn */
    vf_sinkhorn_options o1 = *o;
    o1.max_iter = so->sinkhorn_iterations;
    vf_sinkhorn_result r1;
    st = vf_sinkhorn(n, m, cost, a, b, &o1, f, g, &r1);
    if (st == VF_ERR_NUMERIC) vf_clear_error(), st = VF_OK;
    sns_work w = {n, m, 0, cost, o->eps, p, r, c, rowptr, NULL, NULL};
    int64_t newton = 0, cg_total = 0;
    int64_t *colidx = NULL;
    double *val = NULL, err = INFINITY, lval = 0;
    while (st == VF_OK) {
        lval = dual_value(&w, la, lb, f, g, p, r, c);
        err = marginal_error(n, m, r, c, la, lb, o->error_norm);
        if (!isfinite(err) || err <= o->tol || newton >= so->max_newton) break;
        newton++;
        /* the sparsified plan, CSR */
        int64_t nnz = 0;
        for (int64_t i = 0; i < n; i++) {
            double mx = 0;
            for (int64_t j = 0; j < m; j++) mx = fmax(mx, p[i * m + j]);
            for (int64_t j = 0; j < m; j++) nnz += p[i * m + j] >= so->drop_tol * mx && p[i * m + j] > 0;
        }
        if (nnz > w.nnz) {
            vf_free(colidx);
            vf_free(val);
            colidx = vf_malloc((size_t)nnz * sizeof *colidx);
            val = vf_malloc((size_t)nnz * sizeof *val);
            if (!colidx || !val) {
                st = vf__error(VF_ERR_NOMEM, "sinkhorn_newton: out of memory for %lld Hessian entries", (long long)nnz);
                break;
            }
        }
        w.nnz = nnz;
        w.colidx = colidx;
        w.val = val;
        int64_t q = 0;
        for (int64_t i = 0; i < n; i++) {
            double mx = 0;
            rowptr[i] = q;
            for (int64_t j = 0; j < m; j++) mx = fmax(mx, p[i * m + j]);
            for (int64_t j = 0; j < m; j++)
                if (p[i * m + j] >= so->drop_tol * mx && p[i * m + j] > 0) colidx[q] = j, val[q++] = p[i * m + j];
        }
        rowptr[n] = q;
        /* Newton direction: H dir = grad L */
        for (int64_t i = 0; i < n; i++) grad[i] = exp(la[i]) - r[i];
        for (int64_t j = 0; j < m; j++) grad[n + j] = exp(lb[j]) - c[j];
        cg_total += pcg(&w, grad, dir, cgtmp, so->max_cg, so->cg_tol);
        double slope = 0;
        for (int64_t i = 0; i < k; i++) slope += grad[i] * dir[i];
        if (!(slope > 0)) {
            st = vf__error(VF_ERR_NUMERIC, "sinkhorn_newton: no ascent direction at Newton iteration %lld", (long long)newton);
            break;
        }
        /* backtracking (Armijo) on L; near the optimum L's gain (~ slope / 2) drops below its rounding,
         * and a step that lowers the marginal error is taken instead */
        double t = 1;
        int accepted = 0;
        for (int ls = 0; ls < 40; ls++, t *= 0.5) {
            for (int64_t i = 0; i < k; i++) trial[i] = fg[i] + t * dir[i];
            double lt = dual_value(&w, la, lb, trial, trial + n, NULL, tr, tc);
            if (lt >= lval + 1e-4 * t * slope || marginal_error(n, m, tr, tc, la, lb, o->error_norm) < 0.5 * err) {
                accepted = 1;
                break;
            }
        }
        if (!accepted) break; /* no progress possible at this precision: report the current error */
        memcpy(fg, trial, (size_t)k * sizeof *fg);
    }
    double pc = 0, objective = 0;
    if (st == VF_OK) {
        for (int64_t q = 0; q < (int64_t)nm; q++) pc += p[q] * cost[q];
        for (int64_t i = 0; i < n; i++) objective += exp(la[i]) * (f[i] - o->eps * la[i]);
        for (int64_t j = 0; j < m; j++) objective += exp(lb[j]) * (g[j] - o->eps * lb[j]);
        if (f_out) memcpy(f_out, f, (size_t)n * sizeof *f);
        if (g_out) memcpy(g_out, g, (size_t)m * sizeof *g);
        if (res) {
            res->sinkhorn_iterations = r1.iterations;
            res->newton_iterations = newton;
            res->cg_iterations = cg_total;
            res->hessian_nnz = w.nnz;
            res->marginal_error = err;
            res->transport_cost = pc;
            res->objective = objective;
        }
        if (!(err <= o->tol))
            st = vf__error(VF_ERR_NUMERIC, "sinkhorn_newton: the marginals are off by %g after %lld Sinkhorn and %lld "
                           "Newton iterations (tol %g)", err, (long long)r1.iterations, (long long)newton, o->tol);
    }
    vf_free(colidx);
    vf_free(val);
    vf_free(rowptr);
    vf_free(buf);
    return st;
}
