/* assignment.c — exact minimum-cost perfect matching of a dense square cost matrix (the linear
 * assignment problem), by the shortest augmenting path method of Jonker and Volgenant (1987).
 *
 * Primal: min sum_i c[i, x(i)] over permutations x. Dual: max sum_i u[i] + sum_j v[j] subject to
 * u[i] + v[j] <= c[i, j]. The solver keeps only the column prices v; a row's price is implicit,
 * u[i] = min_j (c[i, j] - v[j]), and every assigned row holds a column attaining that minimum (the
 * invariant below). A free row is then assigned by a Dijkstra search for the cheapest path, in the
 * reduced costs c[i, j] - v[j] - u[i] >= 0, to a free column through alternating assigned edges;
 * updating the prices of the scanned columns by the path distances keeps the invariant, and the
 * assignment grows by one. After n augmentations the matching and the prices satisfy complementary
 * slackness, so both are optimal.
 *
 * Invariant (I): for every assigned row i, c[i, x(i)] - v[x(i)] <= c[i, j] - v[j] for all j.
 *
 * Three phases, as in the paper:
 *   1. column reduction: v[j] = min_i c[i, j], each column offered to its cheapest row; then
 *      "reduction transfer" lowers the price of each assigned row's column by the gap to that row's
 *      second-cheapest column (the row's own price rises, (I) is kept).
 *   2. augmenting row reduction (twice): each free row takes its cheapest column j1, lowering v[j1]
 *      by the gap to its second-cheapest, and the evicted row (if any) tries again. This is a fast
 *      auction-like heuristic; it keeps (I) after every step, so its work is capped (ties and rounding
 *      could make it cycle on tiny price changes) and whatever rows it leaves free go to phase 3.
 *   3. augmentation: one Dijkstra search per remaining free row (O(n) per scanned row).
 * Worst case O(n^3); on random dense costs the first two phases assign most rows cheaply.
 *
 * Floating point: prices are differences and sums of costs, so the result is optimal up to the
 * rounding of those sums (exactly optimal for integer costs of moderate size). A rounding-negative
 * reduced cost is treated as zero in the search. Costs so large that price sums could overflow are
 * scaled by a power of two first (exact, changes no comparison except through underflow).
 *
 * Memory: 8 n words of work space, plus a scaled copy of the costs in that overflow case only. */
#include <float.h>
#include <math.h>
#include <string.h>
#include "internal.h"

/* Work arrays of one solve (one allocation). */
typedef struct lap {
    int64_t n;
    const double *c;   /* [n, n] costs (maybe a scaled copy) */
    int64_t *x;        /* [n] row -> column, -1 free (the caller's perm) */
    int64_t *y;        /* [n] column -> row, -1 free */
    double *v;         /* [n] column prices */
    double *d;         /* [n] search distances */
    double *vm;        /* [n] prices, -inf on columns already scanned in the current search */
    double *dr;        /* [n] distances of scanned columns */
    int64_t *pred;     /* [n] search tree: row that reached column j */
    int64_t *cols;     /* [n] columns scanned in the current search */
    int64_t *free_rows; /* [n] */
} lap;

/* Phase 1: column reduction and reduction transfer. Returns the number of free rows, listed in
 * free_rows. Uses pred as scratch (the cheapest row of each column). */
static int64_t lap_column_reduction(lap *L)
{
    const int64_t n = L->n;
    const double *c = L->c;
    int64_t *x = L->x, *y = L->y, *argmin = L->pred;
    double *v = L->v;
    /* v[j] = min_i c[i, j], argmin[j] = the first row attaining it (row-major friendly). */
    for (int64_t j = 0; j < n; j++) {
        v[j] = c[j];
        argmin[j] = 0;
    }
    for (int64_t i = 1; i < n; i++) {
        const double *ci = c + i * n;
        for (int64_t j = 0; j < n; j++) {
            if (ci[j] < v[j]) {
                v[j] = ci[j];
                argmin[j] = i;
            }
        }
    }
    /* Offer each column to its cheapest row; a row offered several keeps the cheapest (any would do:
     * all have reduced cost 0 for it, the minimum). Columns scanned from the last, as in the paper. */
    for (int64_t i = 0; i < n; i++) x[i] = -1;
    for (int64_t j = n - 1; j >= 0; j--) {
        int64_t i = argmin[j];
        if (x[i] < 0) {
            x[i] = j;
            y[j] = i;
        } else if (v[j] < v[x[i]]) {
            y[x[i]] = -1;
            x[i] = j;
            y[j] = i;
        } else {
            y[j] = -1;
        }
    }
    /* Reduction transfer: an assigned row's column gets cheaper by the row's gap to its next best. */
    int64_t nfree = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t j1 = x[i];
        if (j1 < 0) {
            L->free_rows[nfree++] = i;
            continue;
        }
        const double *ci = c + i * n;
        double mn = INFINITY;
        for (int64_t j = 0; j < n; j++) {
            double r = ci[j] - v[j];
            if (j != j1 && r < mn) mn = r;
        }
        /* mn >= 0 in exact arithmetic (v is the column minimum); guard rounding. */
        if (mn > 0) v[j1] -= mn;
    }
    return nfree;
}

/* Phase 2: one pass of augmenting row reduction over the nfree listed free rows; returns the number
 * left free (listed in free_rows again). At most `budget` row steps. */
static int64_t lap_row_reduction(lap *L, int64_t nfree, int64_t budget)
{
    const int64_t n = L->n;
    const double *c = L->c;
    int64_t *x = L->x, *y = L->y, *fr = L->free_rows;
    double *v = L->v;
    int64_t k = 0, prev = nfree, steps = 0;
    nfree = 0;
    while (k < prev) {
        if (steps++ >= budget) {
            while (k < prev) fr[nfree++] = fr[k++]; /* nfree <= k: moving down is safe */
            break;
        }
        int64_t i = fr[k++];
        /* Cheapest and second-cheapest column of row i in reduced cost. */
        const double *ci = c + i * n;
        double u1 = ci[0] - v[0], u2 = INFINITY;
        int64_t j1 = 0, j2 = -1;
        for (int64_t j = 1; j < n; j++) {
            double h = ci[j] - v[j];
            if (h < u2) {
                if (h >= u1) {
                    u2 = h;
                    j2 = j;
                } else {
                    u2 = u1;
                    j2 = j1;
                    u1 = h;
                    j1 = j;
                }
            }
        }
        int64_t i0 = y[j1];
        if (u1 < u2) {
            v[j1] -= u2 - u1; /* j1 stays row i's cheapest (tied with j2); other rows: j1 got dearer */
        } else if (i0 >= 0) {
            j1 = j2; /* a tie: take the second column, which may be free */
            i0 = y[j1];
        }
        if (i0 >= 0) {
            x[i0] = -1;
            if (u1 < u2)
                fr[--k] = i0; /* the evicted row tries again at once */
            else
                fr[nfree++] = i0;
        }
        x[i] = j1;
        y[j1] = i;
    }
    return nfree;
}

/* Phase 3: assign free row f along a shortest augmenting path (Dijkstra over columns, dense).
 * d[j]: tentative distance of unscanned column j, +inf once scanned (its distance moves to dr[j]);
 * vm[j] = v[j] for unscanned columns, -inf for scanned ones, so the relaxation below skips scanned
 * columns without a branch (c - (-inf) = +inf is never below d). Each scanned row costs three
 * branch-free passes over the n columns: relax, minimum, and the search for a column at it. */
VF_HOT static void lap_augment(lap *L, int64_t f)
{
    const int64_t n = L->n;
    const double *c = L->c;
    int64_t *x = L->x, *y = L->y, *pred = L->pred, *ready = L->cols;
    double *restrict v = L->v, *restrict d = L->d, *restrict vm = L->vm, *restrict dr = L->dr;
    const double *cf = c + f * n;
    for (int64_t j = 0; j < n; j++) {
        d[j] = cf[j] - v[j];
        vm[j] = v[j];
        pred[j] = f;
    }
    int64_t nready = 0, end = -1;
    double mn;
    for (;;) {
        /* The minimum distance over unscanned columns, in 4 independent lanes. */
        double m4[4] = {INFINITY, INFINITY, INFINITY, INFINITY};
        int64_t j = 0;
        for (; j + 4 <= n; j += 4)
            for (int l = 0; l < 4; l++) m4[l] = d[j + l] < m4[l] ? d[j + l] : m4[l];
        for (; j < n; j++) m4[0] = d[j] < m4[0] ? d[j] : m4[0];
        mn = m4[0];
        for (int l = 1; l < 4; l++) mn = m4[l] < mn ? m4[l] : mn;
        /* A free column at the minimum ends the search; otherwise scan the first one found. */
        int64_t j1 = -1;
        for (j = 0; j < n; j++) {
            if (d[j] == mn) {
                if (y[j] < 0) {
                    end = j;
                    break;
                }
                if (j1 < 0) j1 = j;
            }
        }
        if (end >= 0) break;
        dr[j1] = mn;
        d[j1] = INFINITY;
        vm[j1] = -INFINITY;
        ready[nready++] = j1;
        const int64_t i = y[j1];
        const double *restrict ci = c + i * n;
        const double h1 = ci[j1] - v[j1] - mn; /* u[i] - mn */
        for (j = 0; j < n; j++) {
            double dj = ci[j] - vm[j] - h1;
            dj = dj < mn ? mn : dj; /* below mn only by rounding: reduced costs are >= 0 */
            int better = dj < d[j];
            d[j] = better ? dj : d[j];
            pred[j] = better ? i : pred[j];
        }
    }
    /* Price update of the scanned columns keeps (I) for every row on the search tree. */
    for (int64_t k = 0; k < nready; k++) {
        int64_t j = ready[k];
        v[j] += dr[j] - mn;
    }
    /* Flip the path: each row on it takes the column it reached. */
    for (;;) {
        int64_t i = pred[end];
        int64_t next = x[i];
        y[end] = i;
        x[i] = end;
        if (i == f) break;
        end = next;
    }
}

/* Cost array check: every entry finite. Returns VF_OK or VF_ERR_ARG naming the first bad entry;
 * *maxabs receives max |c|. */
static vf_status check_costs(int64_t n, const double *cost, double *maxabs)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        const double *ci = cost + i * n;
        int bad = 0;
        for (int64_t j = 0; j < n; j++) {
            double a = fabs(ci[j]);
            bad |= !(a <= DBL_MAX);
            m = a > m ? a : m;
        }
        if (bad) {
            for (int64_t j = 0; j < n; j++) {
                if (!isfinite(ci[j]))
                    return vf__error(VF_ERR_ARG, "assignment: cost[%lld, %lld] is %g (costs must be finite)",
                                     (long long)i, (long long)j, ci[j]);
            }
        }
    }
    *maxabs = m;
    return VF_OK;
}

vf_status vf_assignment_solve_dual(int64_t n, const double *cost, int64_t *perm, double *total, double *u,
                                   double *v)
{
    if (n < 0) return vf__error(VF_ERR_ARG, "assignment: n = %lld < 0", (long long)n);
    if (n > 0 && (!cost || !perm))
        return vf__error(VF_ERR_ARG, "assignment: %s is NULL", !cost ? "cost" : "perm");
    size_t nn;
    if (vf__mul_size((size_t)n, (size_t)n, &nn) || nn > SIZE_MAX / sizeof(double))
        return vf__error(VF_ERR_ARG, "assignment: n = %lld is too large", (long long)n);
    if (n == 0) {
        if (total) *total = 0;
        return VF_OK;
    }
    double maxabs = 0;
    vf_status s = check_costs(n, cost, &maxabs);
    if (s != VF_OK) return s;
    if (n == 1) {
        perm[0] = 0;
        if (total) *total = cost[0];
        if (u) u[0] = cost[0];
        if (v) v[0] = 0;
        return VF_OK;
    }

    /* Prices are sums of up to ~2n cost differences: keep them far from overflow. */
    const double limit = DBL_MAX / (16.0 * (double)n);
    int scale_exp = 0;
    double *scaled = NULL;
    if (maxabs > limit) {
        int e_max, e_lim;
        frexp(maxabs, &e_max);
        frexp(limit, &e_lim);
        scale_exp = e_max - e_lim + 1;
        scaled = vf_malloc(nn * sizeof *scaled);
        if (!scaled) return vf__error(VF_ERR_NOMEM, "assignment: no memory for %lld x %lld scaled costs",
                                      (long long)n, (long long)n);
        for (size_t k = 0; k < nn; k++) scaled[k] = ldexp(cost[k], -scale_exp);
    }

    size_t words = 8 * (size_t)n;
    void *block = vf_malloc(words * 8);
    if (!block) {
        vf_free(scaled);
        return vf__error(VF_ERR_NOMEM, "assignment: no memory for the work arrays (n = %lld)", (long long)n);
    }
    lap L;
    L.n = n;
    L.c = scaled ? scaled : cost;
    L.x = perm;
    L.v = (double *)block;
    L.d = L.v + n;
    L.vm = L.d + n;
    L.dr = L.vm + n;
    L.y = (int64_t *)(L.dr + n);
    L.pred = L.y + n;
    L.cols = L.pred + n;
    L.free_rows = L.cols + n;

    int64_t nfree = lap_column_reduction(&L);
    /* Two passes of row reduction, each capped at 2n row steps (more costs more than it saves on 2-D
     * squared distances, n = 512..2048). */
    for (int pass = 0; pass < 2 && nfree > 0; pass++) nfree = lap_row_reduction(&L, nfree, n / 2);
    for (int64_t k = 0; k < nfree; k++) lap_augment(&L, L.free_rows[k]);

    /* Totals and duals from the caller's (unscaled) costs; compensated sum (Neumaier). */
    if (total) {
        double sum = 0, comp = 0;
        for (int64_t i = 0; i < n; i++) {
            double t = cost[i * n + perm[i]];
            double s2 = sum + t;
            comp += fabs(sum) >= fabs(t) ? (sum - s2) + t : (t - s2) + sum;
            sum = s2;
        }
        *total = sum + comp;
    }
    if (v)
        for (int64_t j = 0; j < n; j++) v[j] = ldexp(L.v[j], scale_exp);
    if (u)
        for (int64_t i = 0; i < n; i++) u[i] = cost[i * n + perm[i]] - ldexp(L.v[perm[i]], scale_exp);
    vf_free(block);
    vf_free(scaled);
    if (total && !isfinite(*total)) /* finite costs whose sum overflows */
        return vf__error(VF_ERR_NUMERIC, "assignment: the total cost overflows the number range (costs near %g)",
                         cost[0]);
    return VF_OK;
}

vf_status vf_assignment_solve(int64_t n, const double *cost, int64_t *perm, double *total)
{
    return vf_assignment_solve_dual(n, cost, perm, total, NULL, NULL);
}
