/* vf_ot.h — optimal transport: exact assignment, exact OT between equal-size uniform samples and
 * between weighted measures (network simplex), entropic OT (Sinkhorn) with pairs drawn from its plan,
 * sliced Wasserstein, energy distance and MMD.
 *
 * Usage
 *   // A minimum-cost perfect matching of a dense square cost matrix (row i -> column perm[i]):
 *   int64_t perm[3];
 *   double total;
 *   const double cost[9] = {4, 1, 3,  2, 0, 5,  3, 2, 2};            // [3, 3] row-major
 *   vf_status s = vf_assignment_solve(3, cost, perm, &total);       // perm = {1, 0, 2}, total = 5
 *
 *   // Minibatch OT coupling (OT-CFM) and the exact W2^2 of two equal-size sample sets:
 *   vf_ot_pairs_sqeuclidean(n, d, x, y, perm, &w2sq);   // x, y [n, d]; x[i] is paired with y[perm[i]]
 *
 *   // Exact OT between weighted clouds x [n, d], y [m, d] (network simplex): W2^2 and the sparse plan:
 *   vf_ot_plan plan;
 *   vf_emd(n, d, x, m, d, y, a, b, VF_COST_SQEUCLIDEAN, &w2sq, &plan);   // a [n], b [m] or NULL
 *   ... plan.rows[k], plan.cols[k], plan.mass[k] for k < plan.nnz (<= n + m - 1) ...
 *   vf_ot_plan_free(&plan);
 *
 *   // Entropic OT: dual potentials, <P, C>, and pairs drawn from the plan (SB-CFM):
 *   vf_sinkhorn_options so = vf_sinkhorn_default_options();  so.eps = 0.05;
 *   vf_sinkhorn(n, m, cost, NULL, NULL, &so, f, g, &res);         // res.transport_cost = <P, C>
 *   vf_sinkhorn_sample_pairs(n, m, cost, f, g, so.eps, k, &rng, rows, cols);
 *   so.error_norm = 2; so.check_every = 10;                      // POT's stopping rule; so.eps_start: eps-scaling
 *   so.method = VF_SINKHORN_SCALING;                             // the same iterations on a kernel: faster
 *   vf_sinkhorn_unbalanced(n, m, cost, a, b, rho, &so, f, g, &ures);   // KL-relaxed marginals
 *   vf_sinkhorn_divergence(n, m, d, x, y, NULL, NULL, &so, &sdiv, NULL); // debiased, cost |x - y|^2
 *   vf_sinkhorn_newton(n, m, cost, a, b, &so, &sns, f, g, &sres);        // Sinkhorn-Newton-Sparse
 *   vf_gaussian_w2sq(d, m1, S1, m2, S2, &w2sq);                         // Bures-Wasserstein closed form
 *
 *   // Kernel Stein discrepancy of samples x [n, d] against a target (scores = grad log p per row):
 *   vf_target_scores(&target, n, x, NULL, scores);
 *   vf_ksd_options ko = vf_ksd_default_options();                // IMQ, c = 1, beta = -1/2, V-statistic
 *   vf_ksd(n, d, x, scores, &ko, &ksd2, NULL);
 *
 *   // Particle flows: move x [n, d] in place toward a target (SVGD) or samples y [m, d] (mmd, swf):
 *   vf_particle_options po = vf_particle_default_options(VF_PARTICLES_MMD);
 *   po.steps = 300; po.seed = 1;
 *   vf_particles_run(&po, NULL, m, y, n, d, x, NULL, NULL);     // SVGD: (&po, &target, 0, NULL, ...)
 *
 * Both are exact: the matching minimizes the total cost over all n! permutations (up to floating-point
 * rounding of the dual variables, which for integer costs below 2^50 / n is no rounding at all).
 * The solver is the shortest augmenting path algorithm of Jonker and Volgenant (1987): O(n^3) in the
 * worst case, far less on typical costs (see docs/ot.md for timings). Work arrays come from vf_malloc;
 * the cost matrix is borrowed, never modified. All functions return VF_ERR_ARG with a message naming
 * the entry on a NaN or infinite input.
 */
#ifndef VF_OT_H
#define VF_OT_H

#include "vf_rng.h"
#include "vf_target.h"

#ifdef __cplusplus
extern "C" {
#endif

/* min over permutations p of sum_i cost[i, p(i)]. cost [n, n] row-major, finite (any sign);
 * perm [n] receives p (a permutation of 0..n-1); total (NULL to skip) receives the minimum.
 * n = 0 is valid (total = 0). */
vf_status vf_assignment_solve(int64_t n, const double *cost, int64_t *perm, double *total);

/* The same, also returning an optimal solution of the dual problem
 *   max sum_i u[i] + sum_j v[j]  subject to  u[i] + v[j] <= cost[i, j],
 * with u[i] + v[perm[i]] == cost[i, perm[i]] (complementary slackness), both up to rounding.
 * u, v: [n] each, either may be NULL. sum(u) + sum(v) equals the total: a certificate of optimality. */
vf_status vf_assignment_solve_dual(int64_t n, const double *cost, int64_t *perm, double *total, double *u,
                                   double *v);

/* Exact OT between the uniform measures on x [n, d] and y [n, d] for the squared Euclidean cost:
 * perm [n] pairs x[i] with y[perm[i]] so that sum_i |x_i - y_perm(i)|^2 is minimal, and cost_out
 * (NULL to skip) receives its mean over rows, W2^2 of the two empirical measures (the `emd` metric).
 * The cost is formed and accumulated in double. n = 0 gives cost_out = 0; d >= 1. Memory: n^2 doubles. */
vf_status vf_ot_pairs_sqeuclidean(int64_t n, int64_t d, const vf_real *x, const vf_real *y, int64_t *perm,
                                  double *cost_out);

/* ---- entropic OT (Sinkhorn) ---------------------------------------------------------------
 * The entropic plan between weights a [n] and b [m] (NULL: uniform; each positive, summing to 1) for
 * cost [n, m] at regularization eps > 0 (in the units of the cost) is
 *   P_ij = exp((f_i + g_j - cost_ij) / eps)   with row sums a and column sums b,
 * the unique minimizer of <P, C> + eps KL(P | a b^T) (POT's sinkhorn plan for reg = eps). The dual
 * potentials f, g are found by Sinkhorn's alternating updates in the log domain (stable for any eps:
 * no exponential overflows), g first from f = 0 as in POT. After each f update (rows exact) the
 * column sums are compared with b; the solver stops when that error (L1, or L2 as POT) is <= tol at
 * an iteration k with (k - 1) % check_every == 0 (POT's sinkhorn_log: L2, every 10), or after
 * max_iter iterations. With eps_start > eps it first solves at eps_start, eps_start * eps_factor, ...
 * (each stage to the marginal error stage_tol, warm-started from the previous potentials), then at
 * eps to tol (eps-scaling: fewer iterations in total at small eps). One pass over the cost and one
 * exponential per entry per iteration; see docs/ot.md for timings.
 * method VF_SINKHORN_SCALING runs the same iterations as matrix-vector scalings u = a / (K v),
 * v = b / (K^T u) of a kernel K = exp((f + g - C) / eps) in double whose potentials absorb the
 * scalings when they leave [1e-50, 1e50] (Schmitzer 2019; a row or column whose sum leaves
 * [1e-200, 1e200], as when exp(-C / eps) underflows, is updated in the log domain): the same
 * potentials and result to rounding (tests: within 1e-9 eps, up to the shift f + c, g - c that leaves
 * the plan unchanged), faster when few absorptions are needed (SB-CFM's 512 x 512 coupling at
 * eps 0.02: 2.5x), at the price of n m more doubles. */
typedef enum vf_sinkhorn_method { VF_SINKHORN_LOG = 0, VF_SINKHORN_SCALING = 1 } vf_sinkhorn_method;

typedef struct vf_sinkhorn_options {
    double eps;            /* regularization, > 0 (default 0.1) */
    double tol;            /* stopping threshold on the marginal error (default 1e-9) */
    int64_t max_iter;      /* default 10000 (all stages together) */
    int64_t check_every;   /* test the error every this many iterations (default 1; POT: 10) */
    int error_norm;        /* 1: L1 norm of the marginal error (default), 2: L2 (POT) */
    double eps_start;      /* eps-scaling from this eps (default 0: off; used when > eps) */
    double eps_factor;     /* eps-scaling ratio between stages, in (0, 1) (default 0.5) */
    double stage_tol;      /* marginal error at which an intermediate stage ends (default 1e-3) */
    int method;            /* vf_sinkhorn_method: VF_SINKHORN_LOG (default) or VF_SINKHORN_SCALING
                            * (vf_sinkhorn only; the unbalanced, divergence and SNS solvers ignore it) */
} vf_sinkhorn_options;

typedef struct vf_sinkhorn_result {
    int64_t iterations;    /* f updates, all stages together */
    double marginal_error; /* the column error (norm of error_norm) of the returned plan; rows are exact */
    double transport_cost; /* <P, C>: POT's sinkhorn2 value, the `sinkhorn` metric */
    double objective;      /* the entropic OT value <P, C> + eps KL(P | a b^T), as the dual value
                            * <a, f - eps log a> + <b, g - eps log b> (exact at convergence) */
    int64_t stages;        /* eps values solved for (1 without eps-scaling) */
} vf_sinkhorn_result;

vf_sinkhorn_options vf_sinkhorn_default_options(void);

/* f [n], g [m] (either may be NULL) and the result. VF_ERR_ARG for bad input (NaN/inf cost, weights
 * that are not positive or do not sum to 1 within 1e-9, eps <= 0); VF_ERR_NUMERIC when the marginals
 * do not reach tol within max_iter (f, g and the result then hold the last iterate). */
vf_status vf_sinkhorn(int64_t n, int64_t m, const double *cost, const double *a, const double *b,
                      const vf_sinkhorn_options *o, double *f, double *g, vf_sinkhorn_result *res);

/* k index pairs (rows[i], cols[i]) drawn independently from the plan P of potentials f, g (SB-CFM's
 * coupling); a, b as given to vf_sinkhorn are not needed (P already holds them). */
vf_status vf_sinkhorn_sample_pairs(int64_t n, int64_t m, const double *cost, const double *f, const double *g,
                                   double eps, int64_t k, vf_rng *r, int64_t *rows, int64_t *cols);

/* The debiased Sinkhorn divergence (Feydy et al. 2019) between the point clouds x [n, d] and y [m, d]
 * with weights a [n], b [m] (NULL: uniform) for the squared Euclidean cost |x - y|^2 (not halved):
 *   *out = OT(a, b) - OT(a, a) / 2 - OT(b, b) / 2,   OT = vf_sinkhorn's result.objective at o->eps
 * (OT(a, b) by vf_sinkhorn with options o; the symmetric terms by Feydy's averaged symmetric
 * iteration, stopped by the same marginal-error rule). Symmetric, 0 for equal clouds, >= 0, -> W2^2
 * as eps -> 0. parts (NULL to skip) receives the three results [3] in that order. Memory: max(n, m)^2
 * doubles. VF_ERR_NUMERIC when a term does not converge within max_iter: *out and parts then hold
 * the last iterates (as vf_sinkhorn's result does), and the message names the first such term. */
vf_status vf_sinkhorn_divergence(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, const double *a,
                                 const double *b, const vf_sinkhorn_options *o, double *out, vf_sinkhorn_result *parts);

/* Sinkhorn-Newton-Sparse (Tang et al. 2024): sinkhorn_iterations Sinkhorn iterations, then Newton
 * steps on the dual L(f, g) = <a, f> + <b, g> - eps sum P with the Hessian's P block sparsified to
 * its entries >= drop_tol times their row's largest, solved by preconditioned conjugate gradients
 * (to cg_tol relative residual, at most max_cg steps), with a backtracking line search, until the
 * marginal error norm(P 1 - a) + norm(P^T 1 - b) (norm: o->error_norm) is <= o->tol. Same plan,
 * potentials and results as vf_sinkhorn at convergence; far fewer iterations at small eps. */
typedef struct vf_sns_options {
    int64_t sinkhorn_iterations; /* first stage (default 20) */
    int64_t max_newton;          /* default 50 */
    double drop_tol;             /* sparsification threshold, relative to the row maximum (default 1e-8) */
    int64_t max_cg;              /* CG steps per Newton step (default 1000) */
    double cg_tol;               /* CG relative residual (default 1e-10) */
} vf_sns_options;

typedef struct vf_sns_result {
    int64_t sinkhorn_iterations; /* done in the first stage */
    int64_t newton_iterations;
    int64_t cg_iterations;       /* all Newton steps together */
    int64_t hessian_nnz;         /* kept entries of P in the last Newton step */
    double marginal_error;       /* of both marginals, as above */
    double transport_cost;       /* <P, C> */
    double objective;            /* as vf_sinkhorn_result.objective */
} vf_sns_result;

vf_sns_options vf_sns_default_options(void);

/* f [n], g [m] (either may be NULL); o gives eps, tol, error_norm (its max_iter is not used: the
 * first stage runs so->sinkhorn_iterations). VF_ERR_NUMERIC when max_newton is reached first.
 * Memory: n m doubles for the plan plus the sparse Hessian. */
vf_status vf_sinkhorn_newton(int64_t n, int64_t m, const double *cost, const double *a, const double *b,
                             const vf_sinkhorn_options *o, const vf_sns_options *so, double *f, double *g,
                             vf_sns_result *res);

/* ---- unbalanced entropic OT --------------------------------------------------------------------
 * The plan P minimizing
 *   <P, C> + eps KL(P | a b^T) + rho KL(P 1 | a) + rho KL(P^T 1 | b)
 * (generalized KL(p | q) = sum p log(p / q) - p + q) for positive masses a [n], b [m] (NULL: uniform
 * 1/n, 1/m; they need not sum to 1 or to each other) and marginal strength rho > 0 (POT's reg_m;
 * rho = INFINITY is balanced OT). P_ij = exp((f_i + g_j - C_ij) / eps) as for vf_sinkhorn, at the
 * fixed point of the log-domain updates (rows, then columns, as POT; phi = rho / (rho + eps))
 *   f_i = eps log a_i - phi eps log sum_j exp((g_j - C_ij) / eps),   g likewise,
 * equivalently f_i - eps log a_i = -rho log((P 1)_i / a_i); iterated until no potential moves by more
 * than tol * eps. Uses o->eps, o->tol, o->max_iter.
 * VF_ERR_NUMERIC (with the last iterate) when max_iter is reached first. */
typedef struct vf_sinkhorn_unbalanced_result {
    int64_t iterations;
    double max_change;     /* the last sweep's largest potential change, in units of eps */
    double transport_cost; /* <P, C> (POT's sinkhorn_unbalanced2 value for the same plan) */
    double objective;      /* the whole objective above at P (without the rho terms when rho = INFINITY) */
    double mass;           /* sum of P */
} vf_sinkhorn_unbalanced_result;

/* f [n], g [m] (either may be NULL). */
vf_status vf_sinkhorn_unbalanced(int64_t n, int64_t m, const double *cost, const double *a, const double *b,
                                 double rho, const vf_sinkhorn_options *o, double *f, double *g,
                                 vf_sinkhorn_unbalanced_result *res);

/* ---- Gaussians (Bures-Wasserstein) -----------------------------------------------------------
 * W2^2 between N(m1, S1) and N(m2, S2) in closed form:
 *   |m1 - m2|^2 + tr(S1 + S2 - 2 (S1^{1/2} S2 S1^{1/2})^{1/2})
 * m1, m2 [d]; S1, S2 [d, d] symmetric positive semi-definite (VF_ERR_ARG otherwise). Square roots by
 * a symmetric Jacobi eigen-solver, O(d^3) per sweep: meant for d up to a few hundred. */
vf_status vf_gaussian_w2sq(int64_t d, const double *m1, const double *s1, const double *m2, const double *s2,
                           double *out);

/* The same between the Gaussians fitted to x [n, d] and y [m, d] (sample means, covariances with
 * denominator n - 1; n, m >= 2), in double. */
vf_status vf_gaussian_w2sq_samples(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, double *out);

/* ---- distances by sorting: energy distance and sliced Wasserstein ----------------------------
 * Uniform weights on x [n, d] and y [m, d] (sizes may differ). Random directions are N(0, I) draws
 * normalized to the unit sphere, from `seed` (the same seed gives the same directions). */

/* The energy distance of two 1-D samples a [n], b [m] (V-statistic):
 *   2 mean|a_i - b_j| - mean|a_i - a_j| - mean|b_i - b_j|,
 * by sorting in O((n + m) log(n + m)) (sums of pairwise distances from ranks). */
vf_status vf_energy_distance_1d(int64_t n, const double *a, int64_t m, const double *b, double *out);

/* The energy distance in d dimensions (Euclidean norms; MMD^2 with the kernel -|x - y|): slices = 0
 * computes it exactly in O(n m d); slices > 0 estimates it as c_d times the mean over `slices` random
 * directions of the 1-D energy distance of the projections, c_d = sqrt(pi) Gamma((d+1)/2) / Gamma(d/2)
 * (E|<theta, z>| = |z| / c_d), in O(slices (n + m) log(n + m)) (Hertrich et al.'s sliced MMD). */
vf_status vf_energy_distance(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, int64_t slices,
                             uint64_t seed, double *out);

/* Sliced Wasserstein: (mean over `projections` random directions of W_p^p of the projections)^(1/p),
 * p = 1 or 2, each 1-D W_p^p from the two sorted samples' quantile functions (exact for any n, m). */
vf_status vf_sliced_wasserstein(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, int p,
                                int64_t projections, uint64_t seed, double *out);

/* ---- maximum mean discrepancy ---------------------------------------------------------------
 * MMD^2 = E k(X, X') + E k(Y, Y') - 2 E k(X, Y) between uniform samples x [n, d] and y [m, d], with
 *   VF_KERNEL_GAUSSIAN  k = exp(-r^2 / (2 h^2))
 *   VF_KERNEL_LAPLACE   k = exp(-r / h)
 *   VF_KERNEL_IMQ       k = (1 + r^2 / h^2)^(-1/2)        (inverse multiquadric)
 * r = |x - y|, bandwidth h. The biased estimate (V-statistic) averages over all pairs, the unbiased
 * one (U-statistic) leaves out i = j within each sample (needs n, m >= 2; it can be negative). A
 * bandwidth <= 0 asks for the median heuristic: h = the median distance between distinct points of
 * the pooled sample (of its first 1000 points when larger). O((n + m)^2 d). */
typedef enum vf_kernel { VF_KERNEL_GAUSSIAN = 0, VF_KERNEL_LAPLACE, VF_KERNEL_IMQ } vf_kernel;

/* "gaussian", "laplace", "imq"; -1 for an unknown name. */
int vf_kernel_from_name(const char *name);

/* *out = MMD^2; *bandwidth_used (may be NULL) = h. */
vf_status vf_mmd2(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, vf_kernel kernel,
                  double bandwidth, int unbiased, double *out, double *bandwidth_used);


/* ---- exact OT between weighted measures (network simplex) ----------------------------------
 *   emd = min <P, C> over P [n, m] >= 0 with row sums a and column sums b
 * (POT's emd2). Weights a [n], b [m]: finite, >= 0 (zero weights allowed), each summing to 1 within
 * 1e-6 (b is rescaled to the total of a before solving); NULL is uniform (1/n, 1/m). The solver is
 * the primal network simplex with the block search pivot rule (network_simplex.c, docs/ot.md); with
 * a and b both NULL and n == m the plan is a permutation: n entries of mass exactly 1/n (on 2-D
 * point clouds this is several times faster than the assignment solver, see docs/ot.md).
 * Exact up to rounding: the returned cost exceeds the optimum by at most 1e-12 max|C| (absolute).
 *
 * The plan is sparse: an optimal basic solution has at most n + m - 1 nonzero entries. */
typedef struct vf_ot_plan {
    int64_t nnz;    /* number of entries */
    int64_t *rows;  /* [nnz] row index i of each entry, sorted by row, then column */
    int64_t *cols;  /* [nnz] column index j */
    double *mass;   /* [nnz] P[i, j] > 0 */
} vf_ot_plan;

/* Frees the arrays of a plan filled by vf_emd_matrix / vf_emd and zeroes it (NULL is a no-op). */
void vf_ot_plan_free(vf_ot_plan *p);

typedef enum vf_cost_kind {
    VF_COST_SQEUCLIDEAN = 0, /* |x - y|^2 (emd = W2^2) */
    VF_COST_EUCLIDEAN        /* |x - y| (emd = W1) */
} vf_cost_kind;

/* "sqeuclidean", "euclidean"; -1 for an unknown name. */
int vf_cost_kind_from_name(const char *name);

/* Exact OT for a cost matrix cost [n, m] (finite, any sign; row-major, borrowed). total (may be NULL)
 * receives the emd; plan (may be NULL) receives the optimal plan in arrays from vf_malloc (free
 * with vf_ot_plan_free; zeroed on failure); u [n], v [m] (either may be NULL) receive an optimal
 * dual solution: u[i] + v[j] <= cost[i, j] for all i, j (up to 1e-12 max|C|), with equality on the
 * plan's support, and sum a u + sum b v = total (a certificate of optimality; shifted so that
 * sum a u = sum b v). VF_ERR_ARG: n or m < 1, a NaN/infinite cost, a negative or non-finite weight,
 * weights not summing to 1. */
vf_status vf_emd_matrix(int64_t n, int64_t m, const double *cost, const double *a, const double *b, double *total,
                        vf_ot_plan *plan, double *u, double *v);

/* Exact OT between the point clouds x [n, dx] and y [m, dy] with weights a [n], b [m] (NULL:
 * uniform) for the cost `kind`, formed in double: the `emd` metric (W2^2 for VF_COST_SQEUCLIDEAN).
 * VF_ERR_ARG when dx != dy, on empty clouds, non-finite points, bad weights. Memory: n m doubles. */
vf_status vf_emd(int64_t n, int64_t dx, const vf_real *x, int64_t m, int64_t dy, const vf_real *y, const double *a,
                 const double *b, vf_cost_kind kind, double *total, vf_ot_plan *plan);

/* The cost matrix of vf_emd: cost [n, m] = c(x[i], y[j]) in double. */
vf_status vf_cost_matrix(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y, vf_cost_kind kind,
                         double *cost);

/* Directions for the sliced distances: dirs [k, d] unit rows, from `seed`.
 *   VF_DIRECTIONS_RANDOM  independent uniform directions (normalized N(0, I) draws): exactly the ones
 *                         vf_sliced_wasserstein and vf_energy_distance draw for the same seed
 *   VF_DIRECTIONS_QMC     quasi-random: a randomly shifted (Cranley-Patterson) Halton sequence mapped
 *                         to N(0, I) by Box-Muller and normalized; more evenly spread, so averages
 *                         over the directions vary less from seed to seed (still unbiased)
 * Use them with vf_sliced_wasserstein_dirs. VF_ERR_ARG for k < 1, d < 1, NULL or an unknown kind. */
typedef enum vf_directions_kind { VF_DIRECTIONS_RANDOM = 0, VF_DIRECTIONS_QMC } vf_directions_kind;
vf_status vf_directions(int64_t k, int64_t d, vf_directions_kind kind, uint64_t seed, double *dirs /* [k, d] */);

/* Sliced Wasserstein with given directions and weights (POT's sliced_wasserstein_distance with
 * `projections`): ( (1/k) sum_l W_p^p(theta_l . x ~ a, theta_l . y ~ b) )^(1/p), each 1-D W_p^p the
 * exact integral over u in (0, 1) of |F^{-1}(u) - G^{-1}(u)|^p between the weighted quantile
 * functions. dirs [k, d] holds one direction per row, used as given (pass unit vectors; note that
 * POT's `projections` array is its transpose, [d, k]). a [n], b [m]: weights as for vf_emd (NULL:
 * uniform). p >= 1. O(k (n + m) (d + log(n + m))). */
vf_status vf_sliced_wasserstein_dirs(int64_t n, int64_t m, int64_t d, const vf_real *x, const vf_real *y,
                                     const double *a, const double *b, int64_t k, const double *dirs, double p,
                                     double *out);

/* ---- kernel Stein discrepancy -----------------------------------------------------------------
 * KSD^2 of the sample x [n, d] against a target with scores s_i = grad log p(x_i) [n, d] (Liu, Lee &
 * Jordan 2016; Gorham & Mackey 2017): the mean over pairs of the Langevin Stein kernel
 *   u(x, y) = s(x)^T s(y) k(x, y) + s(x)^T grad_y k + s(y)^T grad_x k + tr(grad_x grad_y k)
 * of a base kernel k: VF_KERNEL_IMQ k = (c^2 + |x - y|^2)^beta (c = bandwidth, default 1, beta in
 * (-1, 0), default -1/2 as Gorham & Mackey recommend; note: not the normalization of vf_mmd2's IMQ) or
 * VF_KERNEL_GAUSSIAN k = exp(-|x - y|^2 / (2 h^2)) (h = bandwidth, <= 0 for the median distance of
 * the first 1000 rows). The V-statistic (mean over all n^2 pairs, >= 0) or the U-statistic (pairs
 * i != j, unbiased for KSD^2 and so about 0 for exact samples; can be negative). O(n^2 d). */
typedef struct vf_ksd_options {
    vf_kernel kernel;   /* VF_KERNEL_IMQ (default) or VF_KERNEL_GAUSSIAN */
    double bandwidth;   /* IMQ: c > 0 (default 1); Gaussian: h, <= 0 for the median heuristic */
    double beta;        /* IMQ exponent in (-1, 0) (default -0.5) */
    int unbiased;       /* 1: U-statistic; 0 (default): V-statistic */
} vf_ksd_options;

vf_ksd_options vf_ksd_default_options(void);

/* *out = KSD^2 (opt NULL: the defaults); *bandwidth_used (may be NULL) = c or h. VF_ERR_ARG for a
 * non-finite x or score, a bad option, or n < 2 for the U-statistic. */
vf_status vf_ksd(int64_t n, int64_t d, const vf_real *x /* [n, d] */, const double *scores /* [n, d] */,
                 const vf_ksd_options *opt, double *out, double *bandwidth_used);

/* ---- particle flows ---------------------------------------------------------------------------
 * Move n particles x [n, d] in place for `steps` steps of size tau_t:
 *   svgd  x_i += tau phi(x_i), Stein variational gradient descent (Liu & Wang 2016) toward a target:
 *         phi_i = mean_j k(x_j, x_i) grad log p(x_j) + grad_{x_j} k(x_j, x_i), RBF kernel
 *         exp(-r^2 / (2 sigma^2)), sigma = bandwidth or (<= 0, default) Liu & Wang's median heuristic
 *         sigma^2 = med^2 / (2 log(n + 1)) (med^2: median squared distance of the current particles).
 *         With adagrad = 1 each coordinate's step is divided by the root of a running mean of its
 *         squared directions (their reference code's default: 0.9 / 0.1 weights, 1e-6 fudge), so tau
 *         is about the distance a particle moves per step. Off by default: being per coordinate, it
 *         moves particles along the diagonals at first (sign-like steps), which on 8gaussians from
 *         N(0, I) sends ~90% of them to the 4 diagonal modes (docs/particles.md).
 *   mmd   x_i -= tau grad_i, the MMD gradient flow with the negative distance kernel -|x - y| toward
 *         samples y [m, d] (Hertrich et al. 2023): grad_i = mean_j (x_i - y_j)/|x_i - y_j| -
 *         mean_k (x_i - x_k)/|x_i - x_k| (the Wasserstein gradient of MMD^2 / 2, each term a unit
 *         vector's mean, so |grad_i| <= 2), estimated per step on `slices` random directions by
 *         sorting (unbiased; O(slices (n + m) log(n + m))); slices = 0 sums exactly in O(n m d).
 *   swf   x_i += tau v_i, the sliced-Wasserstein flow (Liutkus et al. 2019) toward y: on each of
 *         `slices` random directions theta the particle moves toward y's projected quantile at its
 *         own rank; v_i = (d / slices) sum_theta (Q_theta((rank + 1/2) / n) - <theta, x_i>) theta,
 *         Q_theta linear between the sorted projections of y placed at (j + 1/2) / m.
 * Step sizes: VF_STEP_CONSTANT tau_t = step_size; VF_STEP_EXP decays geometrically from step_size
 * at t = 0 to step_size * final_fraction at the last step. Deterministic for a seed. The callback
 * (may be NULL) sees the particles before the first step (step 0) and after each step; returning
 * non-zero stops the run early (with VF_OK). VF_ERR_NUMERIC when a particle becomes non-finite, or
 * (svgd) the target's log-density is NaN or -inf at a particle. */
typedef enum vf_particle_method { VF_PARTICLES_SVGD = 0, VF_PARTICLES_MMD, VF_PARTICLES_SWF } vf_particle_method;
typedef enum vf_step_schedule { VF_STEP_CONSTANT = 0, VF_STEP_EXP } vf_step_schedule;

typedef struct vf_particle_options {
    vf_particle_method method;
    int64_t steps;              /* >= 1 (default 500) */
    double step_size;           /* tau at step 0 (default svgd 0.02, mmd 1, swf 0.5) */
    vf_step_schedule schedule;  /* default VF_STEP_CONSTANT */
    double final_fraction;      /* VF_STEP_EXP: the last step is step_size * this, in (0, 1] (0.01) */
    int adagrad;                /* svgd: 1 for the normalized steps above (default 0) */
    double bandwidth;           /* svgd: sigma, <= 0 for the median heuristic (default) */
    int64_t slices;             /* mmd: >= 0, swf: >= 1 random directions per step (default 16) */
    uint64_t seed;              /* the directions' generator (default 0) */
} vf_particle_options;

/* step: 0 (the start) .. steps; x [n, d]. Non-zero return stops the run. */
typedef int (*vf_particle_callback)(int64_t step, int64_t n, int64_t d, const vf_real *x, void *user);

vf_particle_options vf_particle_default_options(vf_particle_method method);
/* "svgd", "mmd", "swf" (any case) -> the method; -1 for an unknown name. */
int vf_particle_method_from_name(const char *name);
const char *vf_particle_method_name(vf_particle_method method);
/* tau_t of the schedule, t = 0 .. steps - 1 (NaN for NULL options). */
double vf_particle_step_size(const vf_particle_options *o, int64_t t);

/* svgd needs target (dim d; y may be NULL); mmd and swf need y [m, d] (target may be NULL). */
vf_status vf_particles_run(const vf_particle_options *o, const vf_target *target, int64_t m,
                           const vf_real *y /* [m, d] */, int64_t n, int64_t d, vf_real *x /* [n, d] in/out */,
                           vf_particle_callback callback, void *user);

#ifdef __cplusplus
}
#endif
#endif
