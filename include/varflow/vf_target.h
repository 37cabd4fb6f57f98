/* vf_target.h — unnormalized log-densities ("targets") for variational inference, particle flows and
 * the kernel Stein discrepancy: a struct of function pointers, built-ins by name, and plugins.
 *
 * Usage
 *   vf_target t;
 *   if (vf_target_from_spec("8gaussians:noise=0.5", &t) != VF_OK)     // or "gauss:d=5,rho=0.9",
 *       fprintf(stderr, "%s\n", vf_last_error());                     // "banana", "plugin:./t.so:arg"
 *   double x[2] = {1, 0}, grad[2];
 *   double lp = t.log_prob(t.state, x, grad);                         // log p(x) (+ const), grad = d/dx
 *   vf_target_scores(&t, n, xs, logp, scores);                        // rows xs [n, dim]; NaN -> error
 *   if (t.sample) vf_target_sample(&t, n, &rng, ys);                  // exact draws where known
 *   vf_target_free(&t);
 *
 *   // Your own target in C: fill the struct yourself (dim, log_prob, state; free and sample may be NULL;
 *   // log_prob_batch, optional, evaluates many rows in one call).
 *
 * Targets work in double precision whatever vf_real is (docs/plugins.md). A log-density of -INFINITY
 * means outside the support; NaN is an error. The built-ins (`varflow particles --help` lists them):
 *   gauss       N(mu 1, S) in d dimensions with the equicorrelated covariance S = (1 - rho) I + rho 1 1^T
 *               (unit variances, every correlation rho; needs -1/(d-1) < rho < 1). Normalized.
 *                                                                  keys: d=2, rho=0.5, mu=0
 *   8gaussians  the mixture that the toy data set 8gaussians samples from (vf_data.h): 8 equally
 *               weighted N(scale 4 (cos k pi/4, sin k pi/4) / 1.414, (scale noise / 1.414)^2 I).
 *               Normalized.                                       keys: noise=0.5, scale=1
 *   banana      x1 ~ N(0, sigma^2), x2 | x1 ~ N(b (x1^2 - sigma^2), 1) (the VI issue's banana for
 *               the defaults). Normalized.                        keys: b=0.03, sigma=10
 *   u1..u4      Rezende & Mohamed's 2-D energies (log p = -U); u1 on the plane (log Z 1.8775016),
 *               u2, u3, u4 on the box [-4, 4]^2, -inf outside (log Z 2.0820893, 2.6417051, 2.6845676).
 *               Exact draws by rejection (target_energies.c).      no keys
 *   funnel      v = x0 ~ N(0, scale^2), x_i | v ~ N(0, e^v). Normalized.      keys: d=10, scale=3
 *   gmm40       FAB's 40-mode mixture: N(mu_k, std^2 I), equal weights, means from the CSV `means`
 *               (default <shared data>/targets/fab_gmm40_means.csv, $VF_SHARED_DATA overriding the
 *               build's folder). Normalized.                       keys: means=FILE, std=1.31326
 *   manywell    FAB's many-well: d/2 pairs (x, y) of -x^4 + 6x^2 + x/2 - y^2/2; log Z 164.6957 for
 *               d = 32; exact draws by a tabulated inverse CDF.    keys: d=32 (even)
 *   rosenbrock  -1/2 sum over d/2 pairs [(x - 1)^2 + (x^2 - y)^2 / 0.1]; log Z = (d/2)(log 2 pi +
 *               1/2 log 0.1).                                      keys: d=36 (even)
 *   plugin:PATH[:ARG]  a shared library with the ABI of docs/plugins.md (varflow_target_dim,
 *               varflow_target_log_prob, optional varflow_target_init / varflow_target_free /
 *               varflow_target_constrain / varflow_target_constrained_dim),
 *               loaded with dlopen; ARG (everything after the second ':') goes to its init.
 * Every built-in can draw exact samples (t.sample != NULL; `varflow data NAME` writes them); plugins cannot. Every built-in
 * sets has_log_z = 1 and log_z; a target filled by hand zeroed has has_log_z = 0 (unknown).
 */
#ifndef VF_TARGET_H
#define VF_TARGET_H

#include "vf_rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vf_target {
    int64_t dim;                                                     /* >= 1 */
    /* log p(x) up to a constant for x [dim]; when grad [dim] is not NULL it receives d log p / dx. */
    double (*log_prob)(void *state, const double *x, double *grad);
    void *state;                                                     /* passed to every call */
    void (*free)(void *state);                                       /* NULL: nothing to free */
    /* Optional exact sampler: one draw into x [dim] from the generator r (NULL: none). */
    void (*sample)(void *state, vf_rng *r, double *x);
    char name[32];                                                   /* "gauss", "plugin", ... */
    /* 1 when log Z = log of the integral of exp(log_prob) is known (then in log_z); 0 otherwise. */
    int has_log_z;
    double log_z;
    /* Optional map from the sampling (unconstrained) scale to the model's own parameters: x [dim] ->
     * out [constrained_dim], e.g. tau = exp(u) (NULL: none; then constrained_dim is 0). Plugins that
     * export varflow_target_constrain fill it (docs/plugins.md). */
    void (*constrain)(void *state, const double *x, double *out);
    int64_t constrained_dim;
    /* Optional: log p for n rows at once, x [n, dim] -> logp [n] and, when grad is not NULL, grad
     * [n, dim]; returns 0, or nonzero when it failed (the calling function then stops with
     * VF_ERR_NUMERIC). When set, every batch of points the library evaluates (a VI step's draws, the
     * importance-sampling draws, the chains of an MCMC iteration, FAB's AIS points, vf_target_scores)
     * goes through one call, so a target can vectorize, run on its own threads or a GPU, or amortize
     * a foreign-language call (Python's Target(f, batched=True)); log_prob is still used for single
     * points. Rows are evaluated in order, and a batch target must give the values log_prob would. A
     * failing batch function may leave its message with vf_set_error before returning nonzero. */
    int (*log_prob_batch)(void *state, int64_t n, const double *x, double *logp, double *grad);
} vf_target;

/* A target from "NAME[:key=value,...]" or "plugin:PATH[:ARG]". VF_ERR_ARG (message lists the valid
 * names or keys) for an unknown name or key or a bad value; VF_ERR_IO for a plugin that cannot be
 * loaded or lacks a required symbol (or whose init fails, with its message); VF_ERR_UNSUPPORTED for
 * plugins in a build without dlopen. out is zeroed on failure. */
vf_status vf_target_from_spec(const char *spec, vf_target *out);

/* Calls t->free(t->state) (when set) and zeroes t. NULL or a zeroed t is fine. */
void vf_target_free(vf_target *t);

/* The built-in names, NULL-terminated ({"gauss", "8gaussians", "banana", "u1", ..., NULL}; plugin is separate). */
const char *const *vf_target_names(void);
/* The keys of built-in `name` with their defaults as "key=value,..." (NULL for an unknown name). */
const char *vf_target_defaults(const char *name);

/* For each row x [n, dim]: logp [n] (NULL to skip) and scores [n, dim] = grad log p (NULL to skip),
 * in double, by one log_prob_batch call when the target has one (else log_prob row by row).
 * VF_ERR_NUMERIC naming the row when a point is not finite (the target is not called), when log p
 * is NaN, +inf or -inf (a score needs the support) or a gradient entry is not finite, and when the
 * batch function reports a failure. */
vf_status vf_target_scores(const vf_target *t, int64_t n, const vf_real *x /* [n, dim] */,
                           double *logp /* [n] */, double *scores /* [n, dim] */);

/* The constrained parameters of rows x [n, dim] into out [n, t->constrained_dim] (stored as vf_real).
 * VF_ERR_UNSUPPORTED when t->constrain is NULL. */
vf_status vf_target_constrain(const vf_target *t, int64_t n, const vf_real *x /* [n, dim] */,
                              vf_real *out /* [n, constrained_dim] */);

/* n exact draws into out [n, dim] (stored as vf_real). VF_ERR_UNSUPPORTED when t->sample is NULL. */
vf_status vf_target_sample(const vf_target *t, int64_t n, vf_rng *r, vf_real *out /* [n, dim] */);

/* ---- one target over several processes ------------------------------------------------------
 * Sums n doubles in place over the processes, every process getting the same sums bit for bit (an
 * MPI reduction to one process and a broadcast); a non-VF_OK status (with its message) fails the
 * evaluation that asked. */
typedef vf_status (*vf_target_sum_fn)(void *ctx, double *values, int64_t n);

/* out = inner with its batches shared among `ranks` processes (a process that fails outside a batch
 * never joins its sums, so the others would wait: such a failure must end the whole job, as the
 * command line's MPI_Abort does): process `rank` of a batch of n rows
 * evaluates rows [n rank / ranks, n (rank + 1) / ranks) through inner and `sum` gathers every row's
 * value and gradient on every process. Every process must run the same computation (the same
 * program, settings, seeds and thread count), so that each asks for the same batches in the same
 * order: then every result (a VI fit, MCMC chains, ...) is the one process's result bit for bit,
 * with the target's work divided by `ranks`. Each batch also compares the processes' requests (rows,
 * gradient or not, points): when they differ (processes that drifted apart, e.g. on different CPUs) the batch fails on all of them,
 * as it does when any process's share fails (VF_ERR_NUMERIC from the evaluating function, with the
 * failing process's message there and "another process's share ... failed" elsewhere). Single
 * points (log_prob) are evaluated by every process alone. out borrows
 * inner (keep it until vf_target_free(out)); exact draws and the constraining map are inner's.
 * VF_ERR_ARG for bad arguments. ranks == 1 gives a plain copy of inner's behaviour. */
vf_status vf_target_shard(const vf_target *inner, int rank, int ranks, vf_target_sum_fn sum, void *ctx,
                          vf_target *out);

#ifdef __cplusplus
}
#endif
#endif
