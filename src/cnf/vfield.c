/* vfield.c — the vector-field network of vf_vfield.h: input features (state, time features, context,
 * label embedding) concatenated on the tape, then an MLP or a residual MLP. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "nn/nn_internal.h"
#include "varflow/vf_vfield.h"

struct vf_vfield {
    vf_vfield_params vp;
    vf_mlp *mlp;            /* one of the two */
    vf_resmlp *res;
    int32_t embedding;      /* "<name>.label_embedding.weight" [classes + 1, class_embedding], or -1 */
    vf_real *omega;         /* [time_features / 2]: 2 pi f_k (sinusoidal) */
};

vf_vfield_params vf_vfield_default_params(int64_t dim)
{
    vf_vfield_params vp;
    memset(&vp, 0, sizeof vp);
    vp.dim = dim;
    vp.class_embedding = 16;
    vp.time = VF_TIME_SINUSOIDAL;
    vp.time_features = 16;
    vp.time_max_frequency = 64;
    vp.n_hidden = 3;
    for (int i = 0; i < VF_NN_MAX_HIDDEN; i++) vp.hidden[i] = 64;
    vp.act = VF_ACT_SILU;
    return vp;
}

const vf_vfield_params *vf_vfield_get_params(const vf_vfield *v) { return v ? &v->vp : NULL; }

int64_t vf_vfield_time_width(const vf_vfield *v)
{
    return !v ? 0 : v->vp.time == VF_TIME_SINUSOIDAL ? v->vp.time_features : 1;
}

void vf_vfield_free(vf_vfield *v)
{
    if (!v) return;
    vf_mlp_free(v->mlp);
    vf_resmlp_free(v->res);
    vf_free(v->omega);
    vf_free(v);
}

static vf_status check_params(const vf_vfield_params *vp)
{
    if (vp->dim < 1) return vf__error(VF_ERR_ARG, "vfield: dim must be >= 1 (got %lld)", (long long)vp->dim);
    if (vp->context < 0 || vp->classes < 0)
        return vf__error(VF_ERR_ARG, "vfield: context and classes must be >= 0");
    if (vp->classes > 0 && vp->class_embedding < 1)
        return vf__error(VF_ERR_ARG, "vfield: class_embedding must be >= 1 with classes");
    if (vp->time != VF_TIME_INPUT && vp->time != VF_TIME_SINUSOIDAL)
        return vf__error(VF_ERR_ARG, "vfield: unknown time embedding %d", (int)vp->time);
    if (vp->time == VF_TIME_SINUSOIDAL && (vp->time_features < 2 || vp->time_features % 2))
        return vf__error(VF_ERR_ARG, "vfield: time_features must be even and >= 2 (got %lld)",
                         (long long)vp->time_features);
    if (vp->time == VF_TIME_SINUSOIDAL && !(vp->time_max_frequency >= 0.5 && isfinite(vp->time_max_frequency)))
        return vf__error(VF_ERR_ARG, "vfield: time_max_frequency must be finite and >= 0.5 (got %g)",
                         vp->time_max_frequency);
    if (vp->n_hidden < (vp->residual ? 1 : 0) || vp->n_hidden > VF_NN_MAX_HIDDEN)
        return vf__error(VF_ERR_ARG, "vfield: n_hidden must be in %d..%d", vp->residual ? 1 : 0, VF_NN_MAX_HIDDEN);
    return VF_OK;
}

vf_status vf_vfield_new(vf_params *p, const char *name, const vf_vfield_params *vp, vf_vfield **out)
{
    if (!p || !name || !vp || !out) return vf__error(VF_ERR_ARG, "vfield: NULL argument");
    *out = NULL;
    vf_status s = check_params(vp);
    if (s != VF_OK) return s;
    vf_vfield *v = vf_calloc(1, sizeof *v);
    if (!v) return vf__error(VF_ERR_NOMEM, "vfield: out of memory");
    v->vp = *vp;
    v->embedding = -1;
    int64_t tw = vp->time == VF_TIME_SINUSOIDAL ? vp->time_features : 1;
    if (vp->time == VF_TIME_SINUSOIDAL) {
        int64_t nf = vp->time_features / 2;
        if (!(v->omega = vf_malloc((size_t)nf * sizeof *v->omega))) {
            vf_free(v);
            return vf__error(VF_ERR_NOMEM, "vfield: out of memory");
        }
        for (int64_t k = 0; k < nf; k++) { /* f_k from 1/2 to the maximum, geometrically */
            double f = nf == 1 ? 0.5 : 0.5 * pow(vp->time_max_frequency / 0.5, (double)k / (double)(nf - 1));
            v->omega[k] = (vf_real)(2 * VF_PI * f);
        }
    }
    int64_t in = vp->dim + tw * (vp->two_times ? 2 : 1) + vp->context + (vp->classes > 0 ? vp->class_embedding : 0);
    int32_t mark = vf_params_count(p);
    char buf[256];
    if (vp->classes > 0) {
        snprintf(buf, sizeof buf, "%s.label_embedding.weight", name);
        s = vf_params_add(p, buf, 2, (int64_t[]){vp->classes + 1, vp->class_embedding}, vf_init_normal(0, 1),
                          &v->embedding);
    }
    if (s == VF_OK && !vp->residual) {
        vf_mlp_params mp = vf_mlp_default_params(in, vp->dim);
        mp.n_hidden = vp->n_hidden;
        memcpy(mp.hidden, vp->hidden, sizeof mp.hidden);
        mp.act = vp->act;
        mp.zero_init_output = vp->zero_init_output;
        snprintf(buf, sizeof buf, "%s.net", name);
        s = vf_mlp_new(p, buf, &mp, &v->mlp);
    } else if (s == VF_OK) {
        vf_resmlp_params rp = vf_resmlp_default_params(in, vp->dim);
        rp.hidden = vp->hidden[0];
        rp.n_blocks = vp->n_hidden;
        rp.act = vp->act;
        rp.zero_init_output = vp->zero_init_output;
        snprintf(buf, sizeof buf, "%s.net", name);
        s = vf_resmlp_new(p, buf, &rp, &v->res);
    }
    if (s != VF_OK) {
        vf__params_truncate(p, mark);
        vf_vfield_free(v);
        return s;
    }
    *out = v;
    return VF_OK;
}

vf_var vf_vfield_time_features(const vf_vfield *v, vf_tape *t, vf_var time)
{
    if (!vf__ok(t, "vfield", 1, &time)) return VF_NOVAR;
    if (!v) return vf__fail(t, VF_ERR_ARG, "vfield: NULL field");
    const vf_tensor *tv = vf_value(t, time);
    if (tv->ndim != 2 || tv->shape[1] != 1) {
        char sh[64];
        vf_tensor_shape_str(tv, sh, sizeof sh);
        return vf__fail(t, VF_ERR_SHAPE, "vfield: time must be [n, 1] (got %s)", sh);
    }
    if (v->vp.time == VF_TIME_INPUT) return time;
    int64_t nf = v->vp.time_features / 2;
    vf_var angle = vf_mul(t, time, vf_constant(t, v->omega, 2, (int64_t[]){1, nf})); /* [n, nf] */
    return vf_concat(t, 2, (vf_var[]){vf_sin(t, angle), vf_cos(t, angle)}, 1);
}

vf_var vf_vfield_forward(const vf_vfield *v, vf_params *p, vf_tape *t, vf_var x, vf_var time, vf_var r,
                         vf_var context, const int64_t *labels)
{
    if (!vf__ok(t, "vfield", 2, (vf_var[]){x, time})) return VF_NOVAR;
    if (!v || !p) return vf__fail(t, VF_ERR_ARG, "vfield: NULL field or parameters");
    const vf_vfield_params *vp = &v->vp;
    const vf_tensor *xv = vf_value(t, x);
    if (xv->ndim != 2 || xv->shape[1] != vp->dim)
        return vf__fail(t, VF_ERR_SHAPE, "vfield: x must be [n, %lld]", (long long)vp->dim);
    int64_t n = xv->shape[0];
    if (vf_value(t, time)->ndim != 2 || vf_value(t, time)->shape[0] != n)
        return vf__fail(t, VF_ERR_SHAPE, "vfield: time must be [%lld, 1]", (long long)n);
    if (vp->two_times != (r != VF_NOVAR))
        return vf__fail(t, VF_ERR_ARG, vp->two_times ? "vfield: this field takes a second time r (MeanFlow)"
                                                     : "vfield: this field takes no second time r");
    if ((vp->context > 0) != (context != VF_NOVAR))
        return vf__fail(t, VF_ERR_ARG, "vfield: the field takes a context of width %lld (got %s)", (long long)vp->context,
                        context == VF_NOVAR ? "none" : "one");
    vf_var parts[5];
    int np = 0;
    parts[np++] = x;
    parts[np++] = vf_vfield_time_features(v, t, time);
    if (vp->two_times) parts[np++] = vf_vfield_time_features(v, t, vf_sub(t, time, r));
    if (context != VF_NOVAR) parts[np++] = context;
    if (vp->classes > 0) {
        int64_t *idx = vf_malloc((size_t)(n > 0 ? n : 1) * sizeof *idx);
        if (!idx) return vf__fail(t, VF_ERR_NOMEM, "vfield: out of memory");
        for (int64_t i = 0; i < n; i++) {
            idx[i] = labels ? labels[i] : vp->classes;
            if (idx[i] < 0 || idx[i] > vp->classes) {
                vf_var bad = vf__fail(t, VF_ERR_ARG, "vfield: label %lld of row %lld is outside 0..%lld (%lld = none)",
                                      (long long)idx[i], (long long)i, (long long)vp->classes, (long long)vp->classes);
                vf_free(idx);
                return bad;
            }
        }
        parts[np++] = vf_gather(t, vf_params_var(p, t, v->embedding), 0, idx, n); /* copies the indices */
        vf_free(idx);
    }
    vf_var in = vf_concat(t, np, parts, 1);
    return v->mlp ? vf_mlp_forward(v->mlp, p, t, in, VF_NOVAR) : vf_resmlp_forward(v->res, p, t, in, VF_NOVAR);
}
