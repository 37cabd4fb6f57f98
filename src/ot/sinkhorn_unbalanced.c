/* sinkhorn_unbalanced.c — entropic unbalanced OT: marginals relaxed by KL penalties (vf_ot.h).
 *
 * The plan minimizes
 *   <P, C> + eps KL(P | a b^T) + rho KL(P 1 | a) + rho KL(P^T 1 | b)
 * (generalized KL(p | q) = sum p log(p / q) - p + q; a, b any positive masses). With
 * P_ij = a_i b_j exp(u_i + v_j - C_ij / eps), the first-order conditions are
 *   u_i = -phi log sum_j b_j exp(v_j - C_ij / eps),   v_j = -phi log sum_i a_i exp(u_i - C_ij / eps),
 * phi = rho / (rho + eps) (Chizat et al. 2018; phi = 1 is balanced Sinkhorn). They are iterated in
 * the log domain (max-shifted log-sum-exps), rows then columns as POT's sinkhorn_unbalanced does,
 * until no u_i or v_j moves by more than tol (POT's test on the relative change of the scalings
 * exp(u), exp(v)). The map is a contraction of ratio phi^2 per sweep in the sup norm, so it
 * converges for any rho < infinity. */
#include <math.h>
#include <string.h>
#include "internal.h"
#include "ot/sinkhorn_internal.h"
#include "varflow/vf_ot.h"

vf_status vf_sinkhorn_unbalanced(int64_t n, int64_t m, const double *cost, const double *a, const double *b,
                                 double rho, const vf_sinkhorn_options *o, double *f_out, double *g_out,
                                 vf_sinkhorn_unbalanced_result *res)
{
    if (!o) return vf__error(VF_ERR_ARG, "sinkhorn_unbalanced: NULL options");
    vf_status st = vf__sinkhorn_check("sinkhorn_unbalanced", n, m, cost, a, b, o->eps, 0);
    if (st != VF_OK) return st;
    if (!(rho > 0)) return vf__error(VF_ERR_ARG, "sinkhorn_unbalanced: rho must be > 0 (got %g)", rho);
    if (!(o->tol > 0) || o->max_iter < 1)
        return vf__error(VF_ERR_ARG, "sinkhorn_unbalanced: need tol > 0 and max_iter >= 1");
    const double eps = o->eps, ie = 1 / eps, phi = isinf(rho) ? 1 : rho / (rho + eps);
    int64_t big = n > m ? n : m;
    double *buf = vf_malloc((size_t)(3 * n + 4 * m + big) * sizeof *buf);
    if (!buf) return vf__error(VF_ERR_NOMEM, "sinkhorn_unbalanced: out of memory");
    double *u = buf, *la = u + n, *fs = la + n, *v = fs + n, *lb = v + m, *gs = lb + m, *lse = gs + m, *tmp = lse + m;
    for (int64_t i = 0; i < n; i++) la[i] = a ? log(a[i]) : -log((double)n), u[i] = 0;
    for (int64_t j = 0; j < m; j++) lb[j] = b ? log(b[j]) : -log((double)m), v[j] = 0;
    int64_t it = 0;
    double change = INFINITY;
    while (it < o->max_iter) {
        it++;
        change = 0;
        for (int64_t j = 0; j < m; j++) gs[j] = lb[j] + v[j];
        for (int64_t i = 0; i < n; i++) {
            double ui = -phi * vf__sinkhorn_row_lse(m, cost + i * m, gs, 0, ie, tmp);
            change = fmax(change, fabs(ui - u[i]));
            u[i] = ui;
            fs[i] = la[i] + ui;
        }
        vf__sinkhorn_col_lse(n, m, cost, fs, ie, lse, tmp);
        for (int64_t j = 0; j < m; j++) {
            double vj = -phi * lse[j];
            change = fmax(change, fabs(vj - v[j]));
            v[j] = vj;
        }
        if (!(change > o->tol)) break; /* also stops on NaN, reported below */
    }
    /* the plan's marginals, <P, C>, and the objective's terms */
    double pc = 0, ent = 0, mass = 0, kla = 0, klb = 0, ma = 0, mb = 0;
    for (int64_t j = 0; j < m; j++) lse[j] = 0; /* column sums */
    for (int64_t i = 0; i < n; i++) {
        double r = 0;
        for (int64_t j = 0; j < m; j++) {
            double c = cost[i * m + j], lp = u[i] + v[j] - ie * c; /* log(P_ij / (a_i b_j)) */
            double p = exp(la[i] + lb[j] + lp);
            r += p;
            lse[j] += p;
            pc += p * c;
            ent += p * lp;
        }
        mass += r;
        ma += exp(la[i]);
        kla += r > 0 ? r * (log(r) - la[i]) - r + exp(la[i]) : exp(la[i]);
    }
    for (int64_t j = 0; j < m; j++) {
        mb += exp(lb[j]);
        klb += lse[j] > 0 ? lse[j] * (log(lse[j]) - lb[j]) - lse[j] + exp(lb[j]) : exp(lb[j]);
    }
    double objective = pc + eps * (ent - mass + ma * mb);
    if (!isinf(rho)) objective += rho * (kla + klb);
    if (f_out)
        for (int64_t i = 0; i < n; i++) f_out[i] = eps * (u[i] + la[i]);
    if (g_out)
        for (int64_t j = 0; j < m; j++) g_out[j] = eps * (v[j] + lb[j]);
    if (res) {
        res->iterations = it;
        res->max_change = change;
        res->transport_cost = pc;
        res->objective = objective;
        res->mass = mass;
    }
    vf_free(buf);
    if (!(change <= o->tol))
        return vf__error(VF_ERR_NUMERIC, "sinkhorn_unbalanced: the potentials still move by %g (in units of eps) "
                         "after %lld iterations (tol %g)", change, (long long)it, o->tol);
    return VF_OK;
}
