/* linear.c — the linear layer act(x W^T + b) and the masked linear layer x (W * mask)^T + b, both
 * with PyTorch's parameter layout (weight [out, in], bias [out]). */
#include "nn/nn_internal.h"

vf_linear_params vf_linear_default_params(int64_t in_features, int64_t out_features)
{
    vf_linear_params lp;
    lp.in_features = in_features;
    lp.out_features = out_features;
    lp.bias = 1;
    lp.act = VF_ACT_NONE;
    lp.init = VF_INIT_TORCH;
    lp.init_scale = 1.0;
    return lp;
}

/* Weight and bias initializers of a layer with the given fan-in and fan-out. */
static vf_status layer_inits(vf_init_kind kind, double scale, int64_t in, int64_t out, vf_init *w, vf_init *b)
{
    *b = vf_init_zeros();
    switch (kind) {
    case VF_INIT_TORCH:
        *w = vf_init_torch(in);
        *b = vf_init_torch(in);
        return VF_OK;
    case VF_INIT_XAVIER_UNIFORM: *w = vf_init_xavier_uniform(in, out, scale); return VF_OK;
    case VF_INIT_NORMAL: *w = vf_init_normal(0.0, scale); return VF_OK;
    case VF_INIT_ZEROS: *w = vf_init_zeros(); return VF_OK;
    case VF_INIT_UNIFORM: *w = vf_init_uniform(-scale, scale); return VF_OK;
    case VF_INIT_CONSTANT: *w = vf_init_constant(scale); return VF_OK;
    }
    return vf__error(VF_ERR_ARG, "linear: unknown initializer kind %d", (int)kind);
}

/* Registers "<name>.weight" [out, in] and, if want_bias, "<name>.bias" [out]. */
static vf_status register_wb(vf_params *p, const char *name, int64_t in, int64_t out, int want_bias,
                             vf_init_kind kind, double scale, int32_t *wid, int32_t *bid)
{
    char buf[VF_PARAM_NAME_MAX];
    vf_init wi, bi;
    if (!p) return vf__error(VF_ERR_ARG, "linear: NULL parameter store");
    if (in < 1 || out < 1)
        return vf__error(VF_ERR_ARG, "linear: features must be >= 1 (in %lld, out %lld)", (long long)in, (long long)out);
    vf_status s = layer_inits(kind, scale, in, out, &wi, &bi);
    if (s == VF_OK) s = vf__nn_name(buf, name, "weight");
    if (s == VF_OK) s = vf_params_add(p, buf, 2, (int64_t[]){out, in}, wi, wid);
    if (s != VF_OK) return s;
    *bid = -1;
    if (!want_bias) return VF_OK;
    s = vf__nn_name(buf, name, "bias");
    if (s == VF_OK) s = vf_params_add(p, buf, 1, (int64_t[]){out}, bi, bid);
    if (s != VF_OK) vf__params_truncate(p, *wid); /* all or nothing: drop the weight again */
    return s;
}

vf_status vf_linear_layer_init(vf_linear_layer *l, vf_params *p, const char *name, const vf_linear_params *lp)
{
    if (!l || !lp) return vf__error(VF_ERR_ARG, "linear: NULL argument");
    if ((int)lp->act < 0 || lp->act >= VF_ACT_COUNT) return vf__error(VF_ERR_ARG, "linear: unknown activation %d", (int)lp->act);
    vf_linear_layer tmp;
    tmp.in_features = lp->in_features;
    tmp.out_features = lp->out_features;
    tmp.act = lp->act;
    vf_status s = register_wb(p, name, lp->in_features, lp->out_features, lp->bias, lp->init, lp->init_scale,
                              &tmp.weight, &tmp.bias);
    if (s == VF_OK) *l = tmp;
    return s;
}

vf_var vf_linear_layer_forward(const vf_linear_layer *l, vf_params *p, vf_tape *t, vf_var x)
{
    if (!vf__ok(t, "linear_layer", 0, NULL)) return VF_NOVAR;
    if (!l) return vf__fail(t, VF_ERR_ARG, "linear_layer: NULL layer");
    if (!vf__nn_check_2d(t, "linear_layer", x, l->in_features, NULL)) return VF_NOVAR;
    vf_var w = vf_params_var(p, t, l->weight);
    vf_var b = l->bias >= 0 ? vf_params_var(p, t, l->bias) : VF_NOVAR;
    if (w == VF_NOVAR || (l->bias >= 0 && b == VF_NOVAR)) return VF_NOVAR;
    return vf_linear(t, x, w, b, l->act);
}

vf_status vf_masked_linear_layer_init(vf_masked_linear_layer *l, vf_params *p, const char *name,
                                      int64_t in_features, int64_t out_features, const vf_real *mask,
                                      vf_init_kind init)
{
    if (!l || !mask) return vf__error(VF_ERR_ARG, "masked_linear: NULL argument");
    vf_masked_linear_layer tmp;
    tmp.in_features = in_features;
    tmp.out_features = out_features;
    tmp.mask = mask;
    vf_status s = register_wb(p, name, in_features, out_features, 1, init, 1.0, &tmp.weight, &tmp.bias);
    if (s == VF_OK) *l = tmp;
    return s;
}

vf_var vf_masked_linear_layer_forward(const vf_masked_linear_layer *l, vf_params *p, vf_tape *t, vf_var x)
{
    return vf_masked_linear_layer_forward_act(l, p, t, x, VF_ACT_NONE);
}

vf_var vf_masked_linear_layer_forward_act(const vf_masked_linear_layer *l, vf_params *p, vf_tape *t, vf_var x,
                                          vf_activation act)
{
    if (!vf__ok(t, "masked_linear_layer", 0, NULL)) return VF_NOVAR;
    if (!l) return vf__fail(t, VF_ERR_ARG, "masked_linear_layer: NULL layer");
    if (!vf__nn_check_2d(t, "masked_linear_layer", x, l->in_features, NULL)) return VF_NOVAR;
    vf_var m = vf_input(t, l->mask, 2, (int64_t[]){l->out_features, l->in_features});
    vf_var w = vf_params_var(p, t, l->weight);
    vf_var b = vf_params_var(p, t, l->bias);
    if (m == VF_NOVAR || w == VF_NOVAR || b == VF_NOVAR) return VF_NOVAR;
    return vf_masked_linear_rows(t, x, w, m, b, 0, l->out_features, act);
}
