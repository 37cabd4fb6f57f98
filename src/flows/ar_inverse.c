/* ar_inverse.c — d-step inversion of an autoregressive map (ar_inverse.h).
 *
 * On a tape that records gradients, step k costs one restricted MADE pass (vf_made_forward_step:
 * the hidden units of degree < k) and one transformer inverse on a single column, so the whole
 * inversion costs a few full passes instead of d, and stays differentiable. In inference mode (no
 * gradients: sampling and the array API of vf_eval.h) a network in the sorted layout is stepped
 * incrementally instead (made_stepper.h): each step computes only the hidden units of degree k - 1,
 * so the d steps together cost one full pass. */
#include <string.h>
#include "flows/ar_inverse.h"
#include "nn/made_stepper.h"

/* The inference-mode inversion: the MADE steps run on raw buffers; the per-dimension inverse still
 * goes through the tape (one column at a time, no derivative state). */
static vf_var invert_incremental(const vf_made *net, const void *self, vf__ar_dim_inverse inverse_dim, vf_params *p,
                                 vf_tape *t, vf_var v, vf_var ctx, vf_var *ladj)
{
    const vf_made_params *mp = vf_made_get_params(net);
    int64_t n = vf__flow_rows(t, v), d = mp->features, kout = mp->output_multiplier;
    *ladj = VF_NOVAR;
    vf__made_stepper s;
    vf_status st = vf__made_stepper_begin(&s, net, p, t, n, ctx != VF_NOVAR ? vf_value(t, ctx)->data : NULL);
    vf_real *x = vf__tape_alloc(t, (size_t)(n * d) * sizeof *x);      /* [n, d] solved so far, position order */
    double *ladj_sum = vf__tape_alloc(t, (size_t)n * sizeof *ladj_sum); /* [n] */
    vf_real *ladj_out = vf__tape_alloc(t, (size_t)n * sizeof *ladj_out); /* [n] */
    if (st != VF_OK || !x || !ladj_sum || !ladj_out)
        return vf__fail(t, st != VF_OK ? st : VF_ERR_NOMEM, "autoregressive inverse: %s",
                        st != VF_OK ? vf_last_error() : "out of memory");
    memset(x, 0, (size_t)(n * d) * sizeof *x);
    memset(ladj_sum, 0, (size_t)n * sizeof *ladj_sum);
    for (int64_t k = 1; k <= d; k++) {
        int64_t i = vf_made_dim_of_degree(net, k);
        vf_real *theta = vf__tape_alloc(t, (size_t)(n * kout) * sizeof *theta); /* [n, kout] */
        if (!theta) return VF_NOVAR;
        if ((st = vf__made_stepper_step(&s, k, x, theta)) != VF_OK)
            return vf__fail(t, st, "autoregressive inverse: %s", vf_last_error());
        vf_var l = VF_NOVAR;
        vf_var u = inverse_dim(self, t, vf_gather(t, v, 1, &i, 1), vf_input(t, theta, 2, (int64_t[]){n, kout}), &l);
        if (vf_tape_status(t) != VF_OK) return VF_NOVAR;
        const vf_real *uc = vf_value(t, u)->data, *lc = vf_value(t, l)->data; /* [n, 1] each */
        for (int64_t r = 0; r < n; r++) {
            x[r * d + i] = uc[r];
            ladj_sum[r] += lc[r];
        }
    }
    for (int64_t r = 0; r < n; r++) ladj_out[r] = (vf_real)ladj_sum[r];
    *ladj = vf_input(t, ladj_out, 1, &n);
    return vf_input(t, x, 2, (int64_t[]){n, d});
}

vf_var vf__ar_invert(const vf_made *net, const void *self, vf__ar_dim_inverse inverse_dim, vf_params *p,
                     vf_tape *t, vf_var v, vf_var ctx, vf_var *ladj)
{
    if (vf_tape_status(t) == VF_OK && !vf_tape_grad_enabled(t) && vf__made_stepper_supported(net))
        return invert_incremental(net, self, inverse_dim, p, t, v, ctx, ladj);
    int64_t n = vf__flow_rows(t, v), d = vf_made_get_params(net)->features;
    vf_var known = VF_NOVAR, logs = VF_NOVAR; /* [n, k-1] in degree order */
    for (int64_t k = 1; k <= d && vf_tape_status(t) == VF_OK; k++) {
        int64_t i = vf_made_dim_of_degree(net, k);
        vf_var theta = vf_made_forward_step(net, p, t, n, known, ctx, k);
        vf_var l = VF_NOVAR;
        vf_var u = inverse_dim(self, t, vf_gather(t, v, 1, &i, 1), theta, &l);
        known = k == 1 ? u : vf_concat(t, 2, (vf_var[]){known, u}, 1);
        logs = k == 1 ? l : vf_concat(t, 2, (vf_var[]){logs, l}, 1);
    }
    if (vf_tape_status(t) != VF_OK) {
        *ladj = VF_NOVAR;
        return VF_NOVAR;
    }
    /* back to position order: dimension i is column deg(i) - 1 of `known` */
    int64_t *col = vf_malloc((size_t)d * sizeof *col);
    if (!col) {
        *ladj = VF_NOVAR;
        return vf__fail(t, VF_ERR_NOMEM, "autoregressive inverse: out of memory");
    }
    for (int64_t k = 1; k <= d; k++) col[vf_made_dim_of_degree(net, k)] = k - 1;
    *ladj = vf__flow_row_sum(t, logs);
    vf_var u = vf_gather(t, known, 1, col, d); /* copies the indices */
    vf_free(col);
    return u;
}
