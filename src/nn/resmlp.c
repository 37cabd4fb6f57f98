/* resmlp.c — residual MLP: h = W_in [x, c] + b_in; per block
 *   u = W1 act(h) + b1 (+ W_c c + b_c),  h = h + W2 act(u) + b2   (W2, b2 start at zero);
 * y = W_out h + b_out. Each block starts as the identity, so a deep network trains like a shallow one. */
#include <stdio.h>
#include "nn/nn_internal.h"

typedef struct block {
    vf_linear_layer linear1, linear2, context;   /* context.weight is -1 without a context */
} block;

struct vf_resmlp {
    vf_resmlp_params rp;
    vf_linear_layer input, output;
    block *blocks;                               /* [n_blocks] */
};

vf_resmlp_params vf_resmlp_default_params(int64_t in_features, int64_t out_features)
{
    vf_resmlp_params rp;
    rp.in_features = in_features;
    rp.out_features = out_features;
    rp.context_features = 0;
    rp.hidden = 64;
    rp.n_blocks = 2;
    rp.act = VF_ACT_RELU;
    rp.init = VF_INIT_TORCH;
    rp.zero_init_output = 0;
    return rp;
}

/* Registers linear layer "<name>.<suffix>" in -> out. */
static vf_status add_linear(vf_linear_layer *l, vf_params *p, const char *name, const char *suffix, int64_t in,
                            int64_t out, vf_activation act, vf_init_kind init)
{
    char buf[VF_PARAM_NAME_MAX];
    vf_linear_params lp = vf_linear_default_params(in, out);
    lp.act = act;
    lp.init = init;
    vf_status s = vf__nn_name(buf, name, suffix);
    return s == VF_OK ? vf_linear_layer_init(l, p, buf, &lp) : s;
}

static vf_status build(vf_resmlp *m, vf_params *p, const char *name)
{
    const vf_resmlp_params *rp = &m->rp;
    int ctx = rp->context_features > 0;
    vf_status s = add_linear(&m->input, p, name, "input", rp->in_features + rp->context_features, rp->hidden,
                             VF_ACT_NONE, rp->init);
    for (int b = 0; b < rp->n_blocks && s == VF_OK; b++) {
        char sfx[64];
        block *k = &m->blocks[b];
        k->context.weight = -1;
        snprintf(sfx, sizeof sfx, "blocks.%d.linear1", b);
        s = add_linear(&k->linear1, p, name, sfx, rp->hidden, rp->hidden, ctx ? VF_ACT_NONE : rp->act, rp->init);
        if (s == VF_OK && ctx) {
            snprintf(sfx, sizeof sfx, "blocks.%d.context", b);
            s = add_linear(&k->context, p, name, sfx, rp->context_features, rp->hidden, VF_ACT_NONE, rp->init);
        }
        if (s == VF_OK) {
            snprintf(sfx, sizeof sfx, "blocks.%d.linear2", b);
            s = add_linear(&k->linear2, p, name, sfx, rp->hidden, rp->hidden, VF_ACT_NONE, VF_INIT_ZEROS);
        }
    }
    if (s == VF_OK)
        s = add_linear(&m->output, p, name, "output", rp->hidden, rp->out_features, VF_ACT_NONE,
                       rp->zero_init_output ? VF_INIT_ZEROS : rp->init);
    return s;
}

vf_status vf_resmlp_new(vf_params *p, const char *name, const vf_resmlp_params *rp, vf_resmlp **out)
{
    if (!p || !rp || !out) return vf__error(VF_ERR_ARG, "resmlp: NULL argument");
    *out = NULL;
    if (rp->in_features < 1 || rp->out_features < 1 || rp->context_features < 0 || rp->hidden < 1 ||
        rp->n_blocks < 0 || rp->n_blocks > 4096)
        return vf__error(VF_ERR_ARG, "resmlp: need in, out, hidden >= 1, context >= 0, 0..4096 blocks");
    if ((int)rp->act < 0 || rp->act >= VF_ACT_COUNT) return vf__error(VF_ERR_ARG, "resmlp: unknown activation %d", (int)rp->act);
    vf_resmlp *m = vf_calloc(1, sizeof *m);
    if (!m) return VF_ERR_NOMEM;
    m->rp = *rp;
    m->blocks = vf_calloc((size_t)(rp->n_blocks ? rp->n_blocks : 1), sizeof *m->blocks);
    int32_t mark = vf_params_count(p);
    vf_status s = m->blocks ? build(m, p, name) : VF_ERR_NOMEM;
    if (s != VF_OK) {
        vf__params_truncate(p, mark);
        vf_resmlp_free(m);
        return s;
    }
    *out = m;
    return VF_OK;
}

void vf_resmlp_free(vf_resmlp *m)
{
    if (!m) return;
    vf_free(m->blocks);
    vf_free(m);
}

const vf_resmlp_params *vf_resmlp_get_params(const vf_resmlp *m) { return m ? &m->rp : NULL; }

vf_var vf_resmlp_forward(const vf_resmlp *m, vf_params *p, vf_tape *t, vf_var x, vf_var context)
{
    if (!vf__ok(t, "resmlp", 0, NULL)) return VF_NOVAR;
    if (!m) return vf__fail(t, VF_ERR_ARG, "resmlp: NULL module");
    const vf_resmlp_params *rp = &m->rp;
    int64_t n = 0;
    if (!vf__nn_check_2d(t, "resmlp", x, rp->in_features, &n)) return VF_NOVAR;
    vf_var h = x;
    if (!vf__nn_check_context(t, "resmlp", context, rp->context_features, n)) return VF_NOVAR;
    if (rp->context_features > 0) {
        vf_var parts[2] = {x, context};
        h = vf_concat(t, 2, parts, 1);
    }
    h = vf_linear_layer_forward(&m->input, p, t, h);
    for (int b = 0; b < rp->n_blocks && h != VF_NOVAR; b++) {
        const block *k = &m->blocks[b];
        vf_var u = vf_linear_layer_forward(&k->linear1, p, t, vf_activate(t, h, rp->act));
        if (k->context.weight >= 0)
            u = vf_activate(t, vf_add(t, u, vf_linear_layer_forward(&k->context, p, t, context)), rp->act);
        u = vf_linear_layer_forward(&k->linear2, p, t, u);
        h = vf_add(t, h, u);
    }
    return vf_linear_layer_forward(&m->output, p, t, h);
}
