/* network_simplex.c — exact optimal transport between two discrete measures (vf_emd_matrix in vf_ot.h):
 *   min <P, C>  over P [n, m] >= 0 with row sums a and column sums b,
 * by the primal network simplex method on the transportation network (Ahuja, Magnanti and Orlin,
 * "Network Flows", 1993, ch. 11), with the block search pivot rule (Grigoriadis 1986; the choice of
 * Bonneel, van de Panne, Paris and Heidrich 2011 for displacement interpolation).
 *
 * Network. Node i < n is a source with supply a[i], node n + j a sink with demand b[j], and every
 * pair has an arc i -> n + j of cost C[i, j] and unbounded capacity. An extra root node R = n + m
 * carries one artificial arc per node (i -> R for a source, R -> n + j for a sink) of cost `art`, so
 * that "all artificial" is a first feasible spanning tree. A unit of flow on a path i -> R -> n + j
 * costs 2 art, which we take larger than every C[i, j]: the shortcut i -> n + j is then strictly
 * cheaper, so no optimal flow uses the root and the artificial arcs end up empty (checked at the end).
 * Because the graph is complete bipartite this small `art` suffices (no big-M of the order of a path
 * length), which keeps the node potentials, and their rounding, at the scale of the costs.
 *
 * Basis. A basic solution is a spanning tree of the n + m + 1 nodes rooted at R; every non-tree arc
 * carries no flow (uncapacitated arcs sit at their lower bound). Each non-root node w stores its
 * tree arc to parent[w] (pred[w], its direction up[w]: 1 when the arc points w -> parent) and that
 * arc's flow, flow[w]. So the state is O(n + m) whatever the number of arcs; the costs are read from
 * the matrix. Children are kept in doubly linked lists (child / next / prev), size[w] is the number
 * of nodes in the subtree of w (an ancestor is always larger, which finds the cycle's apex: walk up
 * from the smaller). Potentials pi make every tree arc's reduced cost rc(u -> v) = c + pi[u] - pi[v]
 * zero.
 *
 * Pivot. The block search scans the arcs cyclically in blocks of about sqrt(#arcs) and takes the
 * most negative reduced cost of the first block that has one below -tol. The entering arc s -> t
 * closes a cycle with the tree paths s -> apex <- t; flow is pushed along s -> t, the largest amount
 * delta is the least flow on the arcs the cycle traverses backwards, and the leaving arc is the LAST
 * such blocking arc met when walking the cycle in its orientation from the apex (Cunningham's rule:
 * the tree stays strongly feasible, so degenerate pivots cannot cycle). The subtree cut off by the
 * leaving arc is re-hung from the entering arc (its path to the entering end is reversed) and its
 * potentials shift by one constant, found from rc(s -> t) = 0 (when the subtree holds more than half
 * of the nodes, the rest shifts the other way instead: only differences of potentials matter). The
 * subtree sizes change only on the two tree paths to the apex and on the reversed path.
 *
 * Termination and exactness. Optimal when no arc has rc < -tol, tol = 1e-12 max|C|: since the plan
 * has mass 1 and rc = 0 on its support, its cost exceeds the optimum by at most tol. Before stopping,
 * the potentials are recomputed from the tree (erasing the rounding accumulated by the incremental
 * shifts) and the arcs priced again. The potentials are the dual certificate: u[i] = -pi[i],
 * v[j] = pi[n + j] satisfy u[i] + v[j] <= C[i, j] (+ tol) with equality on the plan's support.
 *
 * Zero weights: nodes of weight 0 are removed before solving (the costs are then compacted into a
 * copy); their dual values are set afterwards to the largest that keep u[i] + v[j] <= C[i, j].
 * Memory: about 11 (n + m) words, plus n m doubles when a copy of the costs is needed (zero weights, or
 * costs so large that sums of potentials could overflow, which are scaled by a power of two). */
#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "varflow/vf_ot.h"

typedef struct ns {
    int64_t n, m, root;  /* sources, sinks (after removing zero weights), root = n + m */
    int64_t narcs;       /* n m real arcs, then n + m artificial ones */
    const double *c;     /* [n, m] costs, row stride m */
    double art;          /* cost of an artificial arc */
    double tol;          /* entering threshold: rc < -tol */
    int64_t *parent, *pred, *child, *next, *prev, *size, *stack; /* [n + m + 1] each */
    unsigned char *up;   /* [n + m + 1] */
    double *flow, *pi;   /* [n + m + 1] */
    int64_t pos;         /* where the next block search starts */
    int64_t block;       /* block size */
} ns;

/* Arc e: real e < n m is (e / m) -> n + e % m; artificial nm + k is k -> R (k < n) or R -> k. */
static void arc_ends(const ns *S, int64_t e, int64_t *tail, int64_t *head, double *cost)
{
    int64_t nm = S->n * S->m;
    if (e < nm) {
        int64_t i = e / S->m, j = e - i * S->m;
        *tail = i;
        *head = S->n + j;
        *cost = S->c[e];
    } else {
        int64_t k = e - nm;
        *tail = k < S->n ? k : S->root;
        *head = k < S->n ? S->root : k;
        *cost = S->art;
    }
}

static void detach(ns *S, int64_t x)
{
    int64_t p = S->parent[x];
    if (S->prev[x] >= 0)
        S->next[S->prev[x]] = S->next[x];
    else
        S->child[p] = S->next[x];
    if (S->next[x] >= 0) S->prev[S->next[x]] = S->prev[x];
}

static void attach(ns *S, int64_t x, int64_t p)
{
    S->parent[x] = p;
    S->prev[x] = -1;
    S->next[x] = S->child[p];
    if (S->child[p] >= 0) S->prev[S->child[p]] = x;
    S->child[p] = x;
}

/* The first tree: every node hangs from the root by its artificial arc, carrying its weight. */
static void init_tree(ns *S, const double *a, const double *b)
{
    const int64_t n = S->n, m = S->m, R = S->root;
    S->parent[R] = -1;
    S->pred[R] = -1;
    S->child[R] = -1;
    S->size[R] = n + m + 1;
    S->pi[R] = 0;
    S->flow[R] = 0;
    S->up[R] = 0;
    for (int64_t w = 0; w < n + m; w++) {
        S->child[w] = -1;
        S->pred[w] = n * m + w;
        S->size[w] = 1;
        S->up[w] = w < n;                  /* i -> R points up; R -> n + j points down */
        S->flow[w] = w < n ? a[w] : b[w - n];
        S->pi[w] = w < n ? -S->art : S->art; /* rc = art + pi[tail] - pi[head] = 0 */
        attach(S, w, R);
    }
}

/* Block search: an arc with rc < -tol (the most negative of its block), or -1 when there is none. */
static int64_t find_entering(ns *S)
{
    const int64_t n = S->n, m = S->m, nm = n * m, A = S->narcs, B = S->block;
    const double *c = S->c, *pi = S->pi, *pis = S->pi + n;
    double best = -S->tol;
    int64_t best_e = -1, e = S->pos, scanned = 0, cnt = 0;
    while (scanned < A) {
        int64_t len;
        if (e < nm) {
            int64_t i = e / m, j = e - i * m;
            len = VF_MIN(m - j, B - cnt);
            len = VF_MIN(len, A - scanned);
            const double *ci = c + e, *pj = pis + j;
            const double pii = pi[i];
            int64_t t = 0;
            /* eight at a time: a branch-free minimum, then (rarely) the exact position */
            for (; t + 8 <= len; t += 8) {
                double r[8];
                for (int q = 0; q < 8; q++) r[q] = ci[t + q] + pii - pj[t + q];
                double m0 = r[0] < r[1] ? r[0] : r[1], m1 = r[2] < r[3] ? r[2] : r[3];
                double m2 = r[4] < r[5] ? r[4] : r[5], m3 = r[6] < r[7] ? r[6] : r[7];
                m0 = m0 < m1 ? m0 : m1;
                m2 = m2 < m3 ? m2 : m3;
                if ((m0 < m2 ? m0 : m2) < best) {
                    for (int q = 0; q < 8; q++)
                        if (r[q] < best) {
                            best = r[q];
                            best_e = e + t + q;
                        }
                }
            }
            for (; t < len; t++) {
                double r = ci[t] + pii - pj[t];
                if (r < best) {
                    best = r;
                    best_e = e + t;
                }
            }
        } else {
            int64_t k = e - nm;
            double r = k < n ? S->art + pi[k] - pi[S->root] : S->art + pi[S->root] - pi[k];
            if (r < best) {
                best = r;
                best_e = e;
            }
            len = 1;
        }
        e += len;
        if (e == A) e = 0;
        scanned += len;
        cnt += len;
        if (cnt == B) {
            if (best_e >= 0) break;
            cnt = 0;
        }
    }
    S->pos = e;
    return best_e;
}

/* Add sigma to the potentials of the subtree of r. */
static void shift_subtree(ns *S, int64_t r, double sigma)
{
    int64_t top = 0;
    S->stack[top++] = r;
    while (top > 0) {
        int64_t w = S->stack[--top];
        S->pi[w] += sigma;
        for (int64_t x = S->child[w]; x >= 0; x = S->next[x]) S->stack[top++] = x;
    }
}

/* Add sigma to the potentials of every node outside the subtree of r. */
static void shift_outside(ns *S, int64_t r, double sigma)
{
    int64_t top = 0;
    S->stack[top++] = S->root;
    while (top > 0) {
        int64_t w = S->stack[--top];
        S->pi[w] += sigma;
        for (int64_t x = S->child[w]; x >= 0; x = S->next[x])
            if (x != r) S->stack[top++] = x;
    }
}

/* Recompute all potentials (pi[R] = 0) from the tree arcs. */
static void recompute_potentials(ns *S)
{
    int64_t top = 0;
    S->pi[S->root] = 0;
    S->stack[top++] = S->root;
    while (top > 0) {
        int64_t w = S->stack[--top];
        for (int64_t x = S->child[w]; x >= 0; x = S->next[x]) {
            int64_t tl, hd;
            double cost;
            arc_ends(S, S->pred[x], &tl, &hd, &cost);
            /* up: x -> w, cost + pi[x] - pi[w] = 0; down: w -> x, cost + pi[w] - pi[x] = 0 */
            S->pi[x] = S->up[x] ? S->pi[w] - cost : S->pi[w] + cost;
            S->stack[top++] = x;
        }
    }
}

/* One pivot on the entering arc e (rc < 0). */
static void pivot(ns *S, int64_t e)
{
    int64_t s, t;
    double ce;
    arc_ends(S, e, &s, &t, &ce);
    const double rc = ce + S->pi[s] - S->pi[t];
    int64_t *parent = S->parent, *size = S->size;
    double *flow = S->flow;
    const unsigned char *up = S->up;

    int64_t x = s, y = t;
    while (x != y) {
        if (size[x] < size[y])
            x = parent[x];
        else
            y = parent[y];
    }
    const int64_t apex = x;

    /* The cycle in its orientation: apex down to s, s -> t, t up to apex. An arc is met backwards
     * (its flow decreases) on the s side when it points up, on the t side when it points down. Ties:
     * the last blocking arc in that order, so the t side wins (<=) and, on the s side walked upwards,
     * the first one found (<). */
    double delta = INFINITY;
    int64_t leave = -1, side = 0;
    for (int64_t w = s; w != apex; w = parent[w])
        if (up[w] && flow[w] < delta) {
            delta = flow[w];
            leave = w;
            side = 0;
        }
    for (int64_t w = t; w != apex; w = parent[w])
        if (!up[w] && flow[w] <= delta) {
            delta = flow[w];
            leave = w;
            side = 1;
        }
    assert(leave >= 0); /* the network has no directed cycle, so some arc blocks */
    if (delta > 0) {
        for (int64_t w = s; w != apex; w = parent[w]) flow[w] += up[w] ? -delta : delta;
        for (int64_t w = t; w != apex; w = parent[w]) flow[w] += up[w] ? delta : -delta;
    }

    /* Re-hang the subtree below the leaving arc from the entering arc: the path q = w_0, ..., w_k = leave
     * (q the entering end inside the subtree) is reversed, then w_0 hangs from p by e. */
    const int64_t q = side ? t : s, p = side ? s : t;
    int64_t k = 0;
    int64_t *path = S->stack;
    for (int64_t w = q;; w = parent[w]) {
        path[k] = w;
        if (w == leave) break;
        k++;
    }
    /* subtree sizes: the old ancestors of `leave` below the apex lose the subtree, the new ones gain it */
    const int64_t moved = size[leave];
    for (int64_t w = parent[leave]; w != apex; w = parent[w]) size[w] -= moved;
    for (int64_t w = p; w != apex; w = parent[w]) size[w] += moved;
    /* along the reversed path: w_i keeps its subtree less that of w_{i-1}, plus its new child w_{i+1} */
    for (int64_t i = k, above = 0; i >= 1; i--) {
        int64_t sz = size[path[i]] - size[path[i - 1]] + above;
        size[path[i]] = sz;
        above = sz;
    }
    size[q] = moved;
    for (int64_t i = 0; i <= k; i++) detach(S, path[i]); /* each from its old parent */
    for (int64_t i = k; i >= 1; i--) {
        int64_t w = path[i], below = path[i - 1];
        S->pred[w] = S->pred[below];
        S->up[w] = !S->up[below];
        S->flow[w] = S->flow[below];
    }
    for (int64_t i = 1; i <= k; i++) attach(S, path[i], path[i - 1]);
    S->pred[q] = e;
    S->up[q] = side == 0; /* s -> t points from child s to parent t */
    S->flow[q] = delta;
    attach(S, q, p);
    const double sigma = side ? rc : -rc;
    if (2 * moved <= size[S->root])
        shift_subtree(S, q, sigma);
    else
        shift_outside(S, q, -sigma);
}

/* Validate weights w [k]: finite, >= 0, summing to 1 within 1e-6. NULL is uniform. */
static vf_status check_weights(const char *name, int64_t k, const double *w, double *sum)
{
    if (!w) {
        *sum = 1;
        return VF_OK;
    }
    double s = 0;
    for (int64_t i = 0; i < k; i++) {
        if (!isfinite(w[i]))
            return vf__error(VF_ERR_ARG, "emd: %s[%lld] is %g (weights must be finite)", name, (long long)i, w[i]);
        if (w[i] < 0)
            return vf__error(VF_ERR_ARG, "emd: %s[%lld] = %g is negative (weights must be >= 0)", name, (long long)i,
                             w[i]);
        s += w[i];
    }
    if (!(fabs(s - 1) <= 1e-6))
        return vf__error(VF_ERR_ARG, "emd: the weights %s sum to %.17g, not 1 (within 1e-6)", name, s);
    *sum = s;
    return VF_OK;
}

/* Shift u, v by a constant so that sum a u = sum b v (the dual objective is unchanged). */
static void center_duals(int64_t n, int64_t m, const double *a, const double *b, double *u, double *v)
{
    if (!u || !v) return;
    double su = 0, sv = 0;
    for (int64_t i = 0; i < n; i++) su += (a ? a[i] : 1.0 / (double)n) * u[i];
    for (int64_t j = 0; j < m; j++) sv += (b ? b[j] : 1.0 / (double)m) * v[j];
    double sh = (su - sv) / 2;
    for (int64_t i = 0; i < n; i++) u[i] -= sh;
    for (int64_t j = 0; j < m; j++) v[j] += sh;
}

void vf_ot_plan_free(vf_ot_plan *p)
{
    if (!p) return;
    vf_free(p->rows);
    vf_free(p->cols);
    vf_free(p->mass);
    memset(p, 0, sizeof *p);
}

static vf_status plan_alloc(vf_ot_plan *p, int64_t cap)
{
    if (cap < 1) cap = 1;
    p->rows = vf_malloc((size_t)cap * sizeof *p->rows);
    p->cols = vf_malloc((size_t)cap * sizeof *p->cols);
    p->mass = vf_malloc((size_t)cap * sizeof *p->mass);
    if (!p->rows || !p->cols || !p->mass) {
        vf_ot_plan_free(p);
        return vf__error(VF_ERR_NOMEM, "emd: no memory for the plan (%lld entries)", (long long)cap);
    }
    return VF_OK;
}

typedef struct vf__plan_entry {
    int64_t key; /* i m + j */
    double mass;
} vf__plan_entry;

static int compare_entries(const void *p, const void *q)
{
    int64_t a = ((const vf__plan_entry *)p)->key, b = ((const vf__plan_entry *)q)->key;
    return (a > b) - (a < b);
}

vf_status vf_emd_matrix(int64_t n, int64_t m, const double *cost, const double *a, const double *b, double *total,
                        vf_ot_plan *plan, double *u, double *v)
{
    if (plan) memset(plan, 0, sizeof *plan);
    if (n < 1 || m < 1)
        return vf__error(VF_ERR_ARG, "emd: empty measure (n = %lld, m = %lld; both must be >= 1)", (long long)n,
                         (long long)m);
    if (!cost) return vf__error(VF_ERR_ARG, "emd: cost is NULL");
    size_t nm;
    if (vf__mul_size((size_t)n, (size_t)m, &nm) || nm > SIZE_MAX / sizeof(double) || n > INT64_MAX / 4 - m)
        return vf__error(VF_ERR_ARG, "emd: n = %lld, m = %lld is too large", (long long)n, (long long)m);
    double maxabs = 0;
    for (size_t k = 0; k < nm; k++) {
        if (!isfinite(cost[k]))
            return vf__error(VF_ERR_ARG, "emd: cost[%lld, %lld] is %g (costs must be finite)", (long long)(k / m),
                             (long long)(k % m), cost[k]);
        maxabs = VF_MAX(maxabs, fabs(cost[k]));
    }
    double sa, sb;
    vf_status s = check_weights("a", n, a, &sa);
    if (s == VF_OK) s = check_weights("b", m, b, &sb);
    if (s != VF_OK) return s;

    /* Positive-weight nodes, the scale of the costs, and whether a compact/scaled copy is needed. */
    int64_t *rmap = vf_malloc((size_t)(n + m) * sizeof *rmap); /* [n'] rows, then [m'] columns */
    if (!rmap) return vf__error(VF_ERR_NOMEM, "emd: no memory for %lld nodes", (long long)(n + m));
    int64_t n2 = 0, m2 = 0;
    for (int64_t i = 0; i < n; i++)
        if (!a || a[i] > 0) rmap[n2++] = i;
    int64_t *cmap = rmap + n2;
    for (int64_t j = 0; j < m; j++)
        if (!b || b[j] > 0) cmap[m2++] = j;
    const double limit = DBL_MAX / (64.0 * (double)(n + m + 1));
    int scale_exp = 0;
    if (maxabs > limit) {
        int e_max, e_lim;
        frexp(maxabs, &e_max);
        frexp(limit, &e_lim);
        scale_exp = e_max - e_lim + 1;
    }
    const int copy = n2 < n || m2 < m || scale_exp != 0;

    ns S;
    memset(&S, 0, sizeof S);
    S.n = n2;
    S.m = m2;
    S.root = n2 + m2;
    S.narcs = n2 * m2 + n2 + m2;
    const int64_t N = n2 + m2 + 1;
    double *ccopy = NULL;
    if (copy) {
        ccopy = vf_malloc((size_t)n2 * (size_t)m2 * sizeof *ccopy);
        if (!ccopy) {
            vf_free(rmap);
            return vf__error(VF_ERR_NOMEM, "emd: no memory for the %lld x %lld compacted costs", (long long)n2,
                             (long long)m2);
        }
        for (int64_t i = 0; i < n2; i++)
            for (int64_t j = 0; j < m2; j++) ccopy[i * m2 + j] = ldexp(cost[rmap[i] * m + cmap[j]], -scale_exp);
    }
    S.c = copy ? ccopy : cost;
    const double scale = ldexp(maxabs, -scale_exp);
    S.art = scale > 0 ? 2 * scale : 1; /* 2 art > max C: the root is never worth using */
    S.tol = 1e-12 * (scale > 0 ? scale : 1);
    S.block = VF_MAX((int64_t)sqrt((double)S.narcs), 10);

    size_t words = 7 * (size_t)N;
    int64_t *iw = vf_malloc(words * sizeof *iw);
    double *dw = vf_malloc(2 * (size_t)N * sizeof *dw);
    unsigned char *bw = vf_malloc((size_t)N);
    double *wa = vf_malloc((size_t)N * sizeof *wa); /* compact weights: a' [n2], then b' [m2] */
    if (!iw || !dw || !bw || !wa) {
        vf_free(iw);
        vf_free(dw);
        vf_free(bw);
        vf_free(wa);
        vf_free(ccopy);
        vf_free(rmap);
        return vf__error(VF_ERR_NOMEM, "emd: no memory for the network simplex (%lld nodes)", (long long)N);
    }
    S.parent = iw;
    S.pred = iw + N;
    S.child = iw + 2 * N;
    S.next = iw + 3 * N;
    S.prev = iw + 4 * N;
    S.size = iw + 5 * N;
    S.stack = iw + 6 * N;
    S.flow = dw;
    S.pi = dw + N;
    S.up = bw;
    /* b is rescaled to the total of a, so that supply and demand balance to rounding. */
    for (int64_t i = 0; i < n2; i++) wa[i] = a ? a[rmap[i]] : 1.0 / (double)n;
    for (int64_t j = 0; j < m2; j++) wa[n2 + j] = b ? b[cmap[j]] * (sa / sb) : sa / (double)m;
    init_tree(&S, wa, wa + n2);

    /* Pivot until no arc prices out; then recompute the potentials exactly and price again. */
    const int64_t max_pivots = 1000 * (n2 + m2) + 1000000;
    int64_t pivots = 0;
    for (int round = 0; round < 8; round++) {
        int64_t e;
        while (pivots < max_pivots && (e = find_entering(&S)) >= 0) {
            pivot(&S, e);
            pivots++;
        }
        recompute_potentials(&S);
        if (pivots >= max_pivots || find_entering(&S) < 0) break;
    }
    vf_status st = VF_OK;
    if (find_entering(&S) >= 0)
        st = vf__error(VF_ERR_NUMERIC, "emd: the network simplex did not reach optimality in %lld pivots",
                       (long long)pivots);

    /* Equal-size uniform measures: the optimal basic plan is a permutation (Birkhoff). Its masses are
     * 1/n up to the rounding of the flow updates (which can also leave a few ulps on a degenerate
     * arc), and are returned as exactly 1/n. */
    if (st == VF_OK && !a && !b && n == m) {
        int64_t big = 0;
        for (int64_t w = 0; w < n2 + m2; w++)
            if (S.pred[w] < n2 * m2 && S.flow[w] > 0.5 / (double)n) big++;
        if (big == n)
            for (int64_t w = 0; w < n2 + m2; w++)
                if (S.pred[w] < n2 * m2) S.flow[w] = S.flow[w] > 0.5 / (double)n ? 1.0 / (double)n : 0;
    }
    /* Flow left on artificial arcs is the imbalance of a and b (rounding only); report more. */
    double art_flow = 0, sum = 0;
    int64_t nnz = 0;
    for (int64_t w = 0; w < n2 + m2 && st == VF_OK; w++) {
        if (S.pred[w] >= n2 * m2)
            art_flow += S.flow[w];
        else if (S.flow[w] > 0) {
            int64_t i = S.pred[w] / m2, j = S.pred[w] - i * m2;
            sum += S.flow[w] * cost[rmap[i] * m + cmap[j]];
            nnz++;
        }
    }
    if (st == VF_OK && art_flow > 1e-9)
        st = vf__error(VF_ERR_NUMERIC, "emd: %g of the mass could not be transported (internal error)", art_flow);
    if (st == VF_OK && plan) {
        /* entries sorted by row, then column: by the original flat index i m + j (distinct: one
         * tree arc each) */
        vf__plan_entry *ent = vf_malloc((size_t)VF_MAX(nnz, 1) * sizeof *ent);
        st = ent ? plan_alloc(plan, nnz) : vf__error(VF_ERR_NOMEM, "emd: no memory for the plan");
        if (st == VF_OK) {
            int64_t k = 0;
            for (int64_t w = 0; w < n2 + m2; w++)
                if (S.pred[w] < n2 * m2 && S.flow[w] > 0) {
                    int64_t i = S.pred[w] / m2, j = S.pred[w] - i * m2;
                    ent[k].key = rmap[i] * m + cmap[j];
                    ent[k].mass = S.flow[w];
                    k++;
                }
            qsort(ent, (size_t)nnz, sizeof *ent, compare_entries);
            for (int64_t q = 0; q < nnz; q++) {
                plan->rows[q] = ent[q].key / m;
                plan->cols[q] = ent[q].key % m;
                plan->mass[q] = ent[q].mass;
            }
            plan->nnz = nnz;
        }
        vf_free(ent);
    }
    double *du = NULL;
    if (st == VF_OK && (u || v)) {
        du = vf_malloc((size_t)(n + m) * sizeof *du);
        if (!du) st = vf__error(VF_ERR_NOMEM, "emd: no memory for the dual potentials");
    }
    if (st == VF_OK && du) {
        /* u = -pi on sources, v = pi on sinks (rescaled); zero-weight rows take the largest u with
         * u + v <= C over the solved columns, then zero-weight columns the largest v over all rows. */
        double *u_ = du, *v_ = du + n;
        const double INF = INFINITY;
        for (int64_t i = 0; i < n; i++) u_[i] = INF;
        for (int64_t j = 0; j < m; j++) v_[j] = INF;
        for (int64_t i = 0; i < n2; i++) u_[rmap[i]] = ldexp(-S.pi[i], scale_exp);
        for (int64_t j = 0; j < m2; j++) v_[cmap[j]] = ldexp(S.pi[n2 + j], scale_exp);
        for (int64_t i = 0; i < n; i++) {
            if (u_[i] != INF) continue;
            double best = INF;
            for (int64_t j = 0; j < m2; j++) best = VF_MIN(best, cost[i * m + cmap[j]] - v_[cmap[j]]);
            u_[i] = best;
        }
        for (int64_t j = 0; j < m; j++) {
            if (v_[j] != INF) continue;
            double best = INF;
            for (int64_t i = 0; i < n; i++) best = VF_MIN(best, cost[i * m + j] - u_[i]);
            v_[j] = best;
        }
        center_duals(n, m, a, b, u_, v_);
        if (u) memcpy(u, u_, (size_t)n * sizeof *u);
        if (v) memcpy(v, v_, (size_t)m * sizeof *v);
    }
    vf_free(du);
    if (st == VF_OK && total) *total = sum;
    vf_free(iw);
    vf_free(dw);
    vf_free(bw);
    vf_free(wa);
    vf_free(ccopy);
    vf_free(rmap);
    return st;
}
