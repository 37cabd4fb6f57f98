/* vf_eval.h — a flow on plain arrays: log-densities, samples, forward and inverse maps of any number
 * of rows, evaluated in blocks so that memory stays bounded and in cache. This is the API to embed a
 * trained model (vf_flow_load) in a program; no tape code is needed.
 *
 * Usage
 *   vf_params *p; vf_flow *f;
 *   if (vf_flow_load("model.safetensors", &p, &f, NULL) != VF_OK) { puts(vf_last_error()); ... }
 *   vf_real lp[1000];
 *   vf_flow_log_prob_rows(f, p, NULL, 1000, x, NULL, 0, lp);          // x [1000, d] -> lp [1000]
 *   vf_rng r; vf_rng_init(&r, 42, 0);
 *   vf_flow_sample_rows(f, p, NULL, 500, NULL, 0, &r, samples, NULL);  // samples [500, d]
 *
 * Arguments shared by every function:
 *   t        a tape to work on (reset by the call, reusable across calls: no allocation once it has
 *            grown), or NULL for a temporary one;
 *   context  NULL for an unconditional flow; otherwise context_rows rows of c values: 1 row (used for
 *            every row) or n rows (one per row).
 * Rows are processed in blocks of VF_EVAL_BLOCK_ROWS. The functions return VF_OK, VF_ERR_ARG (NULL
 * pointers, n < 0, a context that does not fit), VF_ERR_NOMEM, or VF_ERR_NUMERIC when a result is
 * NaN or infinite (the first such row is named in the message; outputs are still written). A
 * log-density of -inf (a point outside the support, e.g. of a uniform base) is a valid result.
 * Sampling consumes r block by block: the same seed and n give the same rows.
 */
#ifndef VF_EVAL_H
#define VF_EVAL_H

#include "vf_flow.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VF_EVAL_BLOCK_ROWS 512

/* x [n, d] -> log_prob [n] */
vf_status vf_flow_log_prob_rows(const vf_flow *f, vf_params *p, vf_tape *t, int64_t n, const vf_real *x,
                                const vf_real *context, int64_t context_rows, vf_real *log_prob);
/* n samples x [n, d]; log_prob [n] (may be NULL) receives their log-densities from the same pass. */
vf_status vf_flow_sample_rows(const vf_flow *f, vf_params *p, vf_tape *t, int64_t n, const vf_real *context,
                              int64_t context_rows, vf_rng *r, vf_real *x, vf_real *log_prob);
/* Data to latent: x [n, d] -> z [n, d], ladj [n] (may be NULL) = log|det dz/dx|. */
vf_status vf_flow_forward_rows(const vf_flow *f, vf_params *p, vf_tape *t, int64_t n, const vf_real *x,
                               const vf_real *context, int64_t context_rows, vf_real *z, vf_real *ladj);
/* Latent to data: z [n, d] -> x [n, d], ladj [n] (may be NULL) = log|det dx/dz|. */
vf_status vf_flow_inverse_rows(const vf_flow *f, vf_params *p, vf_tape *t, int64_t n, const vf_real *z,
                               const vf_real *context, int64_t context_rows, vf_real *x, vf_real *ladj);

#ifdef __cplusplus
}
#endif
#endif
