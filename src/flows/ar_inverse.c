/* ar_inverse.c — d-step inversion of an autoregressive map (ar_inverse.h). Step k costs one
 * restricted MADE pass (only the hidden units of degree < k) and one transformer inverse on a
 * single column, so the whole inversion costs a few full passes instead of d. */
#include "flows/ar_inverse.h"

vf_var vf__ar_invert(const vf_made *net, const void *self, vf__ar_dim_inverse inverse_dim, vf_params *p,
                     vf_tape *t, vf_var v, vf_var ctx, vf_var *ladj)
{
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
