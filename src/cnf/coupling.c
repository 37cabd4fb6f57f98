/* coupling.c — minibatch couplings for flow matching (vf_cfm.h): independent, exact OT, and pairs
 * drawn from the entropic plan, optionally within each class of the targets. */
#include <math.h>
#include <string.h>
#include "internal.h"
#include "varflow/vf_cfm.h"
#include "varflow/vf_ot.h"

vf_coupling vf_coupling_default(vf_coupling_kind kind)
{
    vf_coupling c;
    c.kind = kind;
    c.eps = 2 * 0.1 * 0.1;
    c.max_iter = 10000;
    return c;
}

int vf_coupling_from_name(const char *name)
{
    static const char *const names[] = {"independent", "ot", "sinkhorn"};
    for (int k = 0; name && k < 3; k++)
        if (strcmp(name, names[k]) == 0) return k;
    return -1;
}

/* Couples sources rows0 [m] with targets rows1 [m] (row indices into x0, x1): writes m pairs into
 * i0, i1. buf0, buf1: [m, d] scratch; perm [m]; cost [m, m] (Sinkhorn) scratch. */
static vf_status couple_group(const vf_coupling *c, int64_t m, int64_t d, const vf_real *x0, const vf_real *x1,
                              const int64_t *rows0, const int64_t *rows1, vf_rng *r, vf_real *buf0, vf_real *buf1,
                              int64_t *perm, double *cost, int64_t *i0, int64_t *i1)
{
    for (int64_t k = 0; k < m; k++) {
        memcpy(buf0 + k * d, x0 + rows0[k] * d, (size_t)d * sizeof *buf0);
        memcpy(buf1 + k * d, x1 + rows1[k] * d, (size_t)d * sizeof *buf1);
    }
    vf_status s;
    if (c->kind == VF_COUPLING_OT) {
        if ((s = vf_ot_pairs_sqeuclidean(m, d, buf0, buf1, perm, NULL)) != VF_OK) return s;
        for (int64_t k = 0; k < m; k++) i0[k] = rows0[k], i1[k] = rows1[perm[k]];
        return VF_OK;
    }
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < m; j++) {
            double q = 0;
            for (int64_t k = 0; k < d; k++) {
                double e = (double)buf0[i * d + k] - (double)buf1[j * d + k];
                q += e * e;
            }
            cost[i * m + j] = q;
        }
    vf_sinkhorn_options so = vf_sinkhorn_default_options();
    so.eps = c->eps;
    so.tol = 1e-6; /* a sampling plan: marginals to 1e-6 are plenty */
    so.method = VF_SINKHORN_SCALING; /* the same plan as the log domain's, several times faster */
    if (c->max_iter > 0) so.max_iter = c->max_iter;
    double *f = vf_malloc((size_t)(2 * m) * sizeof *f);
    if (!f) return vf__error(VF_ERR_NOMEM, "coupling: out of memory");
    s = vf_sinkhorn(m, m, cost, NULL, NULL, &so, f, f + m, NULL);
    /* a plan for sampling: one whose marginals are still off after max_iter iterations (a small eps)
     * is used as it is, as POT's and torchcfm's samplers do after their iteration limits */
    if (s == VF_ERR_NUMERIC) {
        vf_clear_error();
        s = VF_OK;
    }
    if (s == VF_OK) s = vf_sinkhorn_sample_pairs(m, m, cost, f, f + m, so.eps, m, r, perm, i1);
    vf_free(f);
    if (s != VF_OK) return s;
    for (int64_t k = 0; k < m; k++) i0[k] = rows0[perm[k]], i1[k] = rows1[i1[k]];
    return VF_OK;
}

vf_status vf_coupling_pairs(const vf_coupling *c, int64_t n, int64_t d, const vf_real *x0, const vf_real *x1,
                            const int64_t *labels1, vf_rng *r, int64_t *i0, int64_t *i1)
{
    if (!c || n < 0 || d < 1 || (n > 0 && (!x0 || !x1 || !i0 || !i1)))
        return vf__error(VF_ERR_ARG, "coupling: bad sizes or NULL argument");
    if (c->kind != VF_COUPLING_INDEPENDENT && c->kind != VF_COUPLING_OT && c->kind != VF_COUPLING_SINKHORN)
        return vf__error(VF_ERR_ARG, "coupling: unknown kind %d", (int)c->kind);
    if (c->kind == VF_COUPLING_SINKHORN && (!r || !(c->eps > 0)))
        return vf__error(VF_ERR_ARG, "coupling: sinkhorn needs a generator and eps > 0 (got %g)", c->eps);
    if (c->kind == VF_COUPLING_INDEPENDENT || n == 0) {
        for (int64_t k = 0; k < n; k++) i0[k] = i1[k] = k;
        return VF_OK;
    }
    /* groups: one of all rows, or one per class of labels1 (classes in order of first appearance) */
    int64_t *rows0 = vf_malloc((size_t)(4 * n) * sizeof *rows0);
    vf_real *buf = vf_malloc((size_t)(2 * n * d) * sizeof *buf);
    double *cost = c->kind == VF_COUPLING_SINKHORN ? vf_malloc((size_t)(n * n) * sizeof *cost) : NULL;
    if (!rows0 || !buf || (c->kind == VF_COUPLING_SINKHORN && !cost)) {
        vf_free(rows0);
        vf_free(buf);
        vf_free(cost);
        return vf__error(VF_ERR_NOMEM, "coupling: out of memory for %lld rows", (long long)n);
    }
    int64_t *rows1 = rows0 + n, *perm = rows1 + n, *done = perm + n;
    vf_status s = VF_OK;
    memset(done, 0, (size_t)n * sizeof *done);
    int64_t next0 = 0; /* sources are taken in row order */
    for (int64_t first = 0; first < n && s == VF_OK; first++) {
        if (done[first]) continue;
        int64_t m = 0;
        for (int64_t j = first; j < n; j++)
            if (!done[j] && (!labels1 || labels1[j] == labels1[first])) {
                done[j] = 1;
                rows1[m] = j;
                rows0[m] = next0++;
                m++;
            }
        s = couple_group(c, m, d, x0, x1, rows0, rows1, r, buf, buf + n * d, perm, cost, i0 + (next0 - m),
                         i1 + (next0 - m));
    }
    vf_free(rows0);
    vf_free(buf);
    vf_free(cost);
    return s;
}
