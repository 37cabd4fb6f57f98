/* made_step.c — the MADE pass restricted to the outputs of one input dimension (vf_made_forward_step).
 *
 * The outputs of the dimension of degree k see only hidden units of degree <= k - 1, and those see
 * only units of degree <= k - 1 below them and the inputs of degree <= k - 1. So the step takes, in
 * every layer, the rows of those units (hid_perm, the first hid_count[k] of them) and the matching
 * columns, and multiplies only that block (in place for the sorted layout, where they are a leading
 * block; gathered for the interleaved one); the masks still apply inside it. The result is exactly
 * the full pass's columns for that dimension, at a fraction of its cost.
 */
#include "nn/made_internal.h"

void vf__made_index_degrees(vf_made *m, const int32_t *hid_deg, int n_hid_layers)
{
    int64_t d = m->mp.features, h = m->mp.hidden;
    for (int64_t i = 0; i < d; i++) m->in_by_degree[m->deg_in[i] - 1] = i;
    for (int l = 0; l < n_hid_layers; l++) {
        const int32_t *deg = hid_deg + (int64_t)l * h;
        int64_t *perm = m->hid_perm + (int64_t)l * h, *count = m->hid_count + (int64_t)l * (d + 1);
        int64_t at = 0;
        count[0] = 0;
        /* counting sort by degree (degrees lie in 0..d-1), stable */
        for (int64_t k = 1; k <= d; k++) {
            for (int64_t u = 0; u < h; u++)
                if (deg[u] == k - 1) perm[at++] = u;
            count[k] = at;
        }
    }
}

int64_t vf_made_dim_of_degree(const vf_made *m, int64_t k)
{
    return m && k >= 1 && k <= m->mp.features ? m->in_by_degree[k - 1] : -1;
}

/* x [n, n_cols] (VF_NOVAR when n_cols = 0) times the block (rows, cols) of W * M, plus b[rows]:
 * -> [n, n_rows]. When the rows are consecutive from rows[0] and the columns are 0..n_cols-1 (the
 * sorted layout), the layer's own weights are used in place; otherwise the block is gathered. */
static vf_var masked_block(const vf_masked_linear_layer *l, vf_params *p, vf_tape *t, int64_t n, vf_var x,
                           const int64_t *rows, int64_t n_rows, const int64_t *cols, int64_t n_cols, vf_activation act)
{
    vf_var b = vf_params_var(p, t, l->bias);
    int contiguous = 1;
    for (int64_t r = 1; r < n_rows && contiguous; r++) contiguous = rows[r] == rows[0] + r;
    for (int64_t c = 0; c < n_cols && contiguous; c++) contiguous = cols[c] == c;
    if (n_cols == 0)
        return vf_activate(t, vf_add(t, vf_zeros(t, 2, (int64_t[]){n, n_rows}), vf_gather(t, b, 0, rows, n_rows)), act);
    vf_var w = vf_params_var(p, t, l->weight);
    vf_var m = vf_input(t, l->mask, 2, (int64_t[]){l->out_features, l->in_features});
    if (contiguous) return vf_masked_linear_rows(t, x, w, m, b, rows[0], n_rows, act);
    w = vf_gather(t, vf_gather(t, w, 0, rows, n_rows), 1, cols, n_cols);
    m = vf_gather(t, vf_gather(t, m, 0, rows, n_rows), 1, cols, n_cols);
    return vf_activate(t, vf_masked_linear(t, x, w, m, vf_gather(t, b, 0, rows, n_rows)), act);
}

/* The context layer's rows: ctx [n, c] -> [n, n_rows]. */
static vf_var context_rows(const vf_linear_layer *l, vf_params *p, vf_tape *t, vf_var ctx, const int64_t *rows,
                           int64_t n_rows)
{
    vf_var w = vf_gather(t, vf_params_var(p, t, l->weight), 0, rows, n_rows);
    vf_var b = vf_gather(t, vf_params_var(p, t, l->bias), 0, rows, n_rows);
    return vf_linear(t, ctx, w, b, VF_ACT_NONE);
}

vf_var vf_made_forward_step(const vf_made *m, vf_params *p, vf_tape *t, int64_t n, vf_var x_known, vf_var context,
                            int64_t k)
{
    if (!vf__ok(t, "made_step", 0, NULL)) return VF_NOVAR;
    if (!m) return vf__fail(t, VF_ERR_ARG, "made_step: NULL module");
    const vf_made_params *mp = &m->mp;
    int64_t d = mp->features, h = mp->hidden, kout = mp->output_multiplier, rows_x = n;
    if (k < 1 || k > d) return vf__fail(t, VF_ERR_ARG, "made_step: degree %lld outside 1..%lld", (long long)k, (long long)d);
    if (n < 1) return vf__fail(t, VF_ERR_ARG, "made_step: need n >= 1 rows (got %lld)", (long long)n);
    if (k == 1 && x_known != VF_NOVAR) return vf__fail(t, VF_ERR_ARG, "made_step: degree 1 takes no known inputs");
    if (k > 1 && !vf__nn_check_2d(t, "made_step", x_known, k - 1, &rows_x)) return VF_NOVAR;
    if (rows_x != n)
        return vf__fail(t, VF_ERR_SHAPE, "made_step: x_known has %lld rows, n is %lld", (long long)rows_x, (long long)n);
    if (!vf__nn_check_context(t, "made_step", context, mp->context_features, n)) return VF_NOVAR;
    int ctx = mp->context_features > 0;

    const int64_t *rows = m->hid_perm, *count = m->hid_count;
    int64_t width = count[k]; /* units of layer 0 that the outputs of degree k can see */
    vf_var hv = VF_NOVAR;
    if (width > 0) {
        /* plain network without a context: the input layer's activation is fused into its product */
        vf_activation first_act = !mp->residual && !ctx ? mp->act : VF_ACT_NONE;
        hv = masked_block(&m->input, p, t, n, x_known, rows, width, m->in_by_degree, k - 1, first_act);
        if (ctx) hv = vf_add(t, hv, context_rows(&m->context, p, t, context, rows, width));
        if (!mp->residual) {
            if (first_act == VF_ACT_NONE) hv = vf_activate(t, hv, mp->act);
            for (int l = 1; l < mp->depth && width > 0; l++) {
                const int64_t *rows_l = m->hid_perm + (int64_t)l * h;
                int64_t width_l = m->hid_count[(int64_t)l * (d + 1) + k];
                hv = width_l > 0 ? masked_block(&m->hidden[l - 1], p, t, n, hv, rows_l, width_l, rows, width, mp->act)
                                 : VF_NOVAR;
                rows = rows_l;
                width = width_l;
            }
        } else {
            for (int b = 0; b < mp->depth; b++) {
                const made_block *blk = &m->blocks[b];
                vf_var u = masked_block(&blk->linear1, p, t, n, vf_activate(t, hv, mp->act), rows, width, rows, width,
                                        ctx ? VF_ACT_NONE : mp->act);
                if (ctx) u = vf_activate(t, vf_add(t, u, context_rows(&blk->context, p, t, context, rows, width)), mp->act);
                u = masked_block(&blk->linear2, p, t, n, u, rows, width, rows, width, VF_ACT_NONE);
                hv = vf_add(t, hv, u);
            }
        }
    }
    int64_t dim = m->in_by_degree[k - 1], out_rows[256];
    int64_t *orow = kout <= (int64_t)(sizeof out_rows / sizeof out_rows[0]) ? out_rows : vf_malloc((size_t)kout * sizeof *orow);
    if (!orow) return vf__fail(t, VF_ERR_NOMEM, "made_step: out of memory");
    for (int64_t j = 0; j < kout; j++) orow[j] = dim * kout + j;
    vf_var y = masked_block(&m->output, p, t, n, hv, orow, kout, rows, width, VF_ACT_NONE);
    if (orow != out_rows) vf_free(orow);
    return y;
}
