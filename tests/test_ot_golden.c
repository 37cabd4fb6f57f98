/* test_ot_golden.c — optimal transport against POT 0.8.2 on 12 random instances (n, m from 10 to
 * 2000, d from 1 to 50, uneven and zero weights, one user cost matrix with negative entries):
 *   exact OT (vf_emd, vf_emd_matrix) within 1e-6 relative of ot.emd2, with the dual certificate;
 *   Sinkhorn's <P, C> (vf_sinkhorn) within 1e-5 relative of ot.sinkhorn2 at the same eps;
 *   sliced W_p, p = 1, 2 (vf_sliced_wasserstein_dirs) with POT's directions within 1e-9 relative.
 * References: tests/golden/pot_ot.safetensors, written by tests/golden/make_ot_golden.py (its
 * docstring lists the keys). Points, weight counts, directions and the user matrix are float32
 * values, read exactly in both builds; weights are counts / their sum, in double as in the script. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "varflow.h"
#include "vf_test.h"

#ifndef VF_TEST_GOLDEN_DIR
#define VF_TEST_GOLDEN_DIR VF_TEST_DATA_DIR "/../golden"
#endif

static vf_st_file *golden;

/* A tensor of the golden file as doubles (owned), with its shape; NULL when absent. */
static double *get(const char *inst, const char *what, int64_t *rows, int64_t *cols)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", inst, what);
    if (!vf_st_has(golden, key)) return NULL;
    vf_st_dtype dt;
    int ndim;
    int64_t shape[4] = {0, 1, 1, 1};
    if (vf_st_info(golden, key, &dt, &ndim, shape, NULL) != VF_OK) return NULL;
    int64_t numel = shape[0] * (ndim > 1 ? shape[1] : 1);
    vf_real *tmp = malloc((size_t)numel * sizeof *tmp);
    double *out = malloc((size_t)numel * sizeof *out);
    if (!tmp || !out || vf_st_get_into(golden, key, tmp, numel) != VF_OK) {
        free(tmp);
        free(out);
        return NULL;
    }
    for (int64_t i = 0; i < numel; i++) out[i] = (double)tmp[i];
    free(tmp);
    if (rows) *rows = shape[0];
    if (cols) *cols = ndim > 1 ? shape[1] : 1;
    return out;
}

/* The same as vf_real (points). */
static vf_real *get_points(const char *inst, const char *what, int64_t *rows, int64_t *cols)
{
    double *d = get(inst, what, rows, cols);
    if (!d) return NULL;
    vf_real *r = malloc((size_t)(*rows * *cols) * sizeof *r);
    for (int64_t i = 0; r && i < *rows * *cols; i++) r[i] = (vf_real)d[i]; /* exact: float32 values */
    free(d);
    return r;
}

/* Metadata number, or NAN when absent. */
static double meta(const char *inst, const char *what)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", inst, what);
    const char *s = vf_st_meta(golden, key);
    return s ? strtod(s, NULL) : NAN;
}

/* counts / sum(counts), in place (NULL stays NULL: uniform). */
static void normalize(double *w, int64_t n)
{
    if (!w) return;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += w[i];
    for (int64_t i = 0; i < n; i++) w[i] /= s;
}

static int relative_ok(double got, double want, double rel)
{
    return fabs(got - want) <= rel * fabs(want);
}

/* Dual certificate of vf_emd_matrix: u + v <= C (to 1e-12 max|C|), equality on the plan, plan
 * marginals a and b, and primal = dual objective. */
static void check_certificate(const char *inst, int64_t n, int64_t m, const double *C, const double *a,
                              const double *b, double total)
{
    double *u = malloc((size_t)n * sizeof *u), *v = malloc((size_t)m * sizeof *v);
    double *ra = calloc((size_t)n, sizeof *ra), *cb = calloc((size_t)m, sizeof *cb);
    vf_ot_plan P;
    double t2;
    CHECK_STATUS(vf_emd_matrix(n, m, C, a, b, &t2, &P, u, v), VF_OK);
    CHECK_MSG(t2 == total, "%s: matrix and point-cloud front ends differ: %.17g %.17g", inst, t2, total);
    double maxabs = 0, viol = 0, slack = 0, dual = 0, primal = 0;
    for (int64_t k = 0; k < n * m; k++) maxabs = fmax(maxabs, fabs(C[k]));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) viol = fmax(viol, u[i] + v[j] - C[i * m + j]);
    CHECK(P.nnz <= n + m - 1);
    for (int64_t k = 0; k < P.nnz; k++) {
        int64_t i = P.rows[k], j = P.cols[k];
        slack = fmax(slack, fabs(C[i * m + j] - u[i] - v[j]));
        ra[i] += P.mass[k];
        cb[j] += P.mass[k];
        primal += P.mass[k] * C[i * m + j];
    }
    double merr = 0;
    for (int64_t i = 0; i < n; i++) {
        dual += (a ? a[i] : 1.0 / (double)n) * u[i];
        merr = fmax(merr, fabs(ra[i] - (a ? a[i] : 1.0 / (double)n)));
    }
    for (int64_t j = 0; j < m; j++) {
        dual += (b ? b[j] : 1.0 / (double)m) * v[j];
        merr = fmax(merr, fabs(cb[j] - (b ? b[j] : 1.0 / (double)m)));
    }
    CHECK_MSG(viol <= 1e-12 * maxabs && slack <= 1e-12 * maxabs, "%s: dual infeasibility %g, slack on plan %g", inst,
              viol, slack);
    CHECK_MSG(merr <= 1e-12, "%s: plan marginal error %g", inst, merr);
    CHECK_MSG(fabs(dual - total) <= 1e-10 * maxabs && fabs(primal - total) <= 1e-12 * maxabs,
              "%s: primal %.17g, dual %.17g, total %.17g", inst, primal, dual, total);
    vf_ot_plan_free(&P);
    free(u);
    free(v);
    free(ra);
    free(cb);
}

static void check_instance(const char *inst)
{
    int64_t n, m, d, d2, na = 0, nb = 0, k = 0, kd = 0;
    vf_real *x = get_points(inst, "x", &n, &d), *y = get_points(inst, "y", &m, &d2);
    double *a = get(inst, "ka", &na, NULL), *b = get(inst, "kb", &nb, NULL);
    double *dirs = get(inst, "dirs", &k, &kd);
    CHECK_MSG(x && y && dirs && d == d2 && kd == d, "%s: incomplete golden data", inst);
    if (!x || !y || !dirs) goto done;
    normalize(a, n);
    normalize(b, m);
    double *C = malloc((size_t)(n * m) * sizeof *C);

    static const char *const kinds[] = {"sqeuclidean", "euclidean"};
    for (int kind = 0; kind < 2; kind++) {
        char key[64];
        snprintf(key, sizeof key, "emd_%s", kinds[kind]);
        double want = meta(inst, key);
        if (isnan(want)) continue;
        double got = NAN;
        CHECK_STATUS(vf_emd(n, d, x, m, d, y, a, b, (vf_cost_kind)kind, &got, NULL), VF_OK);
        CHECK_MSG(relative_ok(got, want, 1e-6), "%s: emd %s %.17g, POT %.17g", inst, kinds[kind], got, want);
        CHECK_STATUS(vf_cost_matrix(n, m, d, x, y, (vf_cost_kind)kind, C), VF_OK);
        check_certificate(inst, n, m, C, a, b, got);
    }
    int64_t cr, cc;
    double *U = get(inst, "cost", &cr, &cc);
    if (U) {
        double want = meta(inst, "emd_matrix"), got = NAN;
        CHECK(cr == n && cc == m);
        CHECK_STATUS(vf_emd_matrix(n, m, U, a, b, &got, NULL, NULL, NULL), VF_OK);
        CHECK_MSG(relative_ok(got, want, 1e-6), "%s: emd (user matrix) %.17g, POT %.17g", inst, got, want);
        check_certificate(inst, n, m, U, a, b, got);
    }

    for (int s = 0; s < 4; s++) {
        char key[64];
        snprintf(key, sizeof key, "sinkhorn%d.eps", s);
        double eps = meta(inst, key);
        if (isnan(eps)) break;
        snprintf(key, sizeof key, "sinkhorn%d.cost", s);
        double want = meta(inst, key);
        snprintf(key, sizeof key, "sinkhorn%d.kind", s);
        const char *ks = vf_st_meta(golden, (snprintf(key, sizeof key, "%s.sinkhorn%d.kind", inst, s), key));
        const double *cost = C;
        if (ks && strcmp(ks, "matrix") == 0)
            cost = U;
        else
            vf_cost_matrix(n, m, d, x, y, ks && strcmp(ks, "euclidean") == 0 ? VF_COST_EUCLIDEAN : VF_COST_SQEUCLIDEAN,
                           C);
        vf_sinkhorn_options o = vf_sinkhorn_default_options();
        o.eps = eps;
        o.tol = 1e-12;
        o.max_iter = 200000;
        vf_sinkhorn_result res;
        double *f = malloc((size_t)n * sizeof *f), *g = malloc((size_t)m * sizeof *g);
        CHECK_STATUS(vf_sinkhorn(n, m, cost, a, b, &o, f, g, &res), VF_OK);
        CHECK_MSG(relative_ok(res.transport_cost, want, 1e-5), "%s: sinkhorn eps %g: %.17g, POT %.17g", inst, eps,
                  res.transport_cost, want);
        free(f);
        free(g);
    }

    for (int p = 1; p <= 2; p++) {
        double got = NAN, want = meta(inst, p == 1 ? "sw1" : "sw2");
        CHECK_STATUS(vf_sliced_wasserstein_dirs(n, m, d, x, y, a, b, k, dirs, p, &got), VF_OK);
        CHECK_MSG(relative_ok(got, want, 1e-9), "%s: sliced W%d %.17g, POT %.17g", inst, p, got, want);
    }
    free(U);
    free(C);
done:
    free(x);
    free(y);
    free(a);
    free(b);
    free(dirs);
}

static void test_pot_instances(void)
{
    const char *list = vf_st_meta(golden, "instances");
    CHECK(list != NULL);
    if (!list) return;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", list);
    int count = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        check_instance(tok);
        count++;
    }
    CHECK(count == 12);
}

int main(void)
{
    const char *path = VF_TEST_GOLDEN_DIR "/pot_ot.safetensors";
    if (vf_st_open(path, &golden) != VF_OK) {
        fprintf(stderr, "cannot open %s: %s\n", path, vf_last_error());
        return 1;
    }
    RUN(test_pot_instances);
    vf_st_close(golden);
    return vf_test_summary();
}
