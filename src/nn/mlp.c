/* mlp.c — multilayer perceptron: in (+ context) -> hidden[0] -> ... -> out, the activation after
 * every hidden layer and none after the last. */
#include <stdio.h>
#include "nn/nn_internal.h"

struct vf_mlp {
    vf_mlp_params mp;
    int n_layers;                                  /* n_hidden + 1 */
    vf_linear_layer layer[VF_NN_MAX_HIDDEN + 1];
};

vf_mlp_params vf_mlp_default_params(int64_t in_features, int64_t out_features)
{
    vf_mlp_params mp = {0};
    mp.in_features = in_features;
    mp.out_features = out_features;
    mp.context_features = 0;
    mp.n_hidden = 2;
    for (int i = 0; i < VF_NN_MAX_HIDDEN; i++) mp.hidden[i] = 64;
    mp.act = VF_ACT_RELU;
    mp.init = VF_INIT_TORCH;
    mp.zero_init_output = 0;
    return mp;
}

vf_status vf_mlp_new(vf_params *p, const char *name, const vf_mlp_params *mp, vf_mlp **out)
{
    if (!p || !mp || !out) return vf__error(VF_ERR_ARG, "mlp: NULL argument");
    *out = NULL;
    if (mp->in_features < 1 || mp->out_features < 1 || mp->context_features < 0 || mp->n_hidden < 0 ||
        mp->n_hidden > VF_NN_MAX_HIDDEN)
        return vf__error(VF_ERR_ARG, "mlp: need in, out >= 1, context >= 0 and 0..%d hidden layers", VF_NN_MAX_HIDDEN);
    for (int i = 0; i < mp->n_hidden; i++)
        if (mp->hidden[i] < 1) return vf__error(VF_ERR_ARG, "mlp: hidden layer %d has width %lld", i, (long long)mp->hidden[i]);
    if ((int)mp->act < 0 || mp->act >= VF_ACT_COUNT) return vf__error(VF_ERR_ARG, "mlp: unknown activation %d", (int)mp->act);
    vf_mlp *m = vf_calloc(1, sizeof *m);
    if (!m) return VF_ERR_NOMEM;
    m->mp = *mp;
    m->n_layers = mp->n_hidden + 1;
    int32_t mark = vf_params_count(p);
    int64_t width = mp->in_features + mp->context_features;
    for (int i = 0; i < m->n_layers; i++) {
        int last = i == m->n_layers - 1;
        int64_t next = last ? mp->out_features : mp->hidden[i];
        vf_linear_params lp = vf_linear_default_params(width, next);
        lp.act = last ? VF_ACT_NONE : mp->act;
        lp.init = last && mp->zero_init_output ? VF_INIT_ZEROS : mp->init;
        char buf[VF_PARAM_NAME_MAX], idx[32];
        snprintf(idx, sizeof idx, "layers.%d", i);
        vf_status s = vf__nn_name(buf, name, idx);
        if (s == VF_OK) s = vf_linear_layer_init(&m->layer[i], p, buf, &lp);
        if (s != VF_OK) {
            vf__params_truncate(p, mark);
            vf_free(m);
            return s;
        }
        width = next;
    }
    *out = m;
    return VF_OK;
}

void vf_mlp_free(vf_mlp *m) { vf_free(m); }

const vf_mlp_params *vf_mlp_get_params(const vf_mlp *m) { return m ? &m->mp : NULL; }

vf_var vf_mlp_forward(const vf_mlp *m, vf_params *p, vf_tape *t, vf_var x, vf_var context)
{
    if (!vf__ok(t, "mlp", 0, NULL)) return VF_NOVAR;
    if (!m) return vf__fail(t, VF_ERR_ARG, "mlp: NULL module");
    int64_t n = 0;
    if (!vf__nn_check_2d(t, "mlp", x, m->mp.in_features, &n)) return VF_NOVAR;
    vf_var h = x;
    if (!vf__nn_check_context(t, "mlp", context, m->mp.context_features, n)) return VF_NOVAR;
    if (m->mp.context_features > 0) {
        vf_var parts[2] = {x, context};
        h = vf_concat(t, 2, parts, 1);
    }
    for (int i = 0; i < m->n_layers && h != VF_NOVAR; i++) h = vf_linear_layer_forward(&m->layer[i], p, t, h);
    return h;
}
