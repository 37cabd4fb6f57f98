/* mixture.c — Gaussian mixture with K diagonal components and learnable logits, means and log-scales,
 * free or produced by an MLP of the context.
 *
 * log p(z) = logsumexp_k [log_softmax(logits)_k - sum_j ((z_j - mu_kj)^2 / (2 s_kj^2) + log s_kj)]
 *            - (d / 2) log(2 pi).
 * Sample: component k ~ Categorical(softmax(logits)) (a discrete draw, no gradient to the logits),
 * then x = mu_k + s_k eps, selected with a constant one-hot mask so it is reparameterized in the
 * chosen component's mean and log-scale (and the context through them). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "dist/dist_internal.h"
#include "nn/nn_internal.h"
#include "varflow/vf_dist.h"

typedef struct mixture {
    vf_dist base;
    char name[VF_PARAM_NAME_MAX];
    vf_dist_net_params net_params;
    int64_t k;                        /* components */
    double init_scale;
    uint64_t seed;
    int32_t logits, means, log_scales; /* unconditional: tensor ids; -1 in the conditional form */
    vf_mlp *net;                      /* conditional: context [n, c] -> [n, K + 2Kd] */
    vf_real *offsets;                 /* conditional: [K, d] added to the net's means */
} mixture;

/* logits [1 or n, K], means and log-scales [1 or n, K, d] on the tape. */
static int mx_params(const mixture *m, vf_params *p, vf_tape *t, vf_var ctx, vf_var *lg, vf_var *mu, vf_var *ls)
{
    int64_t k = m->k, d = m->base.dim;
    if (m->net) {
        vf_var h = vf_mlp_forward(m->net, p, t, ctx, VF_NOVAR);
        int64_t n = h == VF_NOVAR ? 0 : vf__flow_rows(t, h);
        vf_var off = vf_input(t, m->offsets, 2, (int64_t[]){k, d});
        *lg = vf_slice(t, h, 1, 0, k);
        *mu = vf_add(t, vf_reshape(t, vf_slice(t, h, 1, k, k + k * d), 3, (int64_t[]){n, k, d}), off);
        *ls = vf_reshape(t, vf_slice(t, h, 1, k + k * d, k + 2 * k * d), 3, (int64_t[]){n, k, d});
    } else {
        *lg = vf_reshape(t, vf_params_var(p, t, m->logits), 2, (int64_t[]){1, k});
        *mu = vf_reshape(t, vf_params_var(p, t, m->means), 3, (int64_t[]){1, k, d});
        *ls = vf_reshape(t, vf_params_var(p, t, m->log_scales), 3, (int64_t[]){1, k, d});
    }
    return *lg != VF_NOVAR && *mu != VF_NOVAR && *ls != VF_NOVAR;
}

static vf_var mx_log_prob(const vf_dist *b, vf_params *p, vf_tape *t, vf_var z, vf_var ctx)
{
    const mixture *m = (const mixture *)b;
    vf_var lg, mu, ls;
    if (!mx_params(m, p, t, ctx, &lg, &mu, &ls)) return VF_NOVAR;
    int64_t n = vf__flow_rows(t, z), d = b->dim;
    vf_var z3 = vf_reshape(t, z, 3, (int64_t[]){n, 1, d});
    vf_var y = vf_mul(t, vf_sub(t, z3, mu), vf_exp(t, vf_neg(t, ls)));                /* [n, K, d] */
    vf_var per = vf_add(t, vf_scale(t, vf_square(t, y), -0.5), vf_neg(t, ls));
    vf_var comp = vf_add(t, vf_sum(t, per, -1, 0), vf_log_softmax(t, lg, 1));          /* [n, K] */
    return vf_add_scalar(t, vf_logsumexp(t, comp, 1, 0), -0.5 * (double)d * log(2.0 * VF_PI));
}

static vf_var mx_sample(const vf_dist *b, vf_params *p, vf_tape *t, int64_t n, vf_var ctx, vf_rng *r)
{
    const mixture *m = (const mixture *)b;
    vf_var lg, mu, ls;
    if (!mx_params(m, p, t, ctx, &lg, &mu, &ls)) return VF_NOVAR;
    int64_t k = m->k, d = b->dim;
    vf_var w = vf_softmax(t, lg, 1);
    size_t nk = (size_t)(n * k), nd = (size_t)(n * d);
    vf_real *onehot = vf__tape_alloc(t, (nk ? nk : 1) * sizeof *onehot);
    vf_real *eps = vf__tape_alloc(t, (nd ? nd : 1) * sizeof *eps);
    double *wd = vf__tape_alloc(t, (size_t)k * sizeof *wd);
    if (w == VF_NOVAR || !onehot || !eps || !wd) return VF_NOVAR;
    const vf_tensor *wv = vf_value(t, w);
    int per_row = wv->shape[0] > 1 || m->net;
    memset(onehot, 0, (nk ? nk : 1) * sizeof *onehot);
    for (int64_t i = 0; i < n; i++) {
        const vf_real *wi = wv->data + (per_row ? i * k : 0);
        for (int64_t c = 0; c < k; c++) wd[c] = (double)wi[c];
        size_t idx = 0;
        vf_status s = vf_rng_categorical(r, wd, (size_t)k, &idx);
        if (s != VF_OK) return vf__fail(t, s, "gaussian_mixture: component weights are not a distribution");
        onehot[i * k + (int64_t)idx] = 1;
    }
    vf_rng_normal_fill(r, eps, nd, 0.0, 1.0);
    vf_var sel = vf_input(t, onehot, 3, (int64_t[]){n, k, 1});
    vf_var mu_n = vf_sum(t, vf_mul(t, mu, sel), 1, 0);                                 /* [n, d] */
    vf_var ls_n = vf_sum(t, vf_mul(t, ls, sel), 1, 0);                                 /* [n, d] */
    vf_var e = vf_input(t, eps, 2, (int64_t[]){n, d});
    return vf_add(t, vf_mul(t, e, vf_exp(t, ls_n)), mu_n);
}

static vf_status mx_describe(const vf_dist *b, char *json, size_t len)
{
    const mixture *m = (const mixture *)b;
    char net[VF_DIST_NET_JSON_MAX];
    vf_status s = vf__dist_net_json(&m->net_params, net, sizeof net);
    if (s != VF_OK) return s;
    return vf__json_printf(json, len,
                           "{\"kind\":\"gaussian_mixture\",\"name\":\"%s\",\"dim\":%lld,\"context\":%lld,"
                           "\"components\":%lld,\"init_scale\":%.17g,\"seed\":%llu,\"net\":%s}",
                           m->name, (long long)b->dim, (long long)b->context, (long long)m->k, m->init_scale,
                           (unsigned long long)m->seed, net);
}

static void mx_destroy(vf_dist *b)
{
    mixture *m = (mixture *)b;
    vf_mlp_free(m->net);
    vf_free(m->offsets);
    vf_free(m);
}

static const vf_dist_vtable mx_vt = {"gaussian_mixture", mx_log_prob, mx_sample, mx_describe, mx_destroy};

vf_dist_mixture_params vf_dist_mixture_default_params(int64_t d, int64_t k)
{
    vf_dist_mixture_params kp;
    memset(&kp, 0, sizeof kp);
    kp.dim = d;
    kp.components = k;
    kp.context = 0;
    kp.init_scale = 1.0;
    kp.seed = 0;
    kp.net = vf_dist_net_default_params();
    return kp;
}

static vf_status mx_check(const vf_dist_mixture_params *kp)
{
    if (kp->dim < 1 || kp->context < 0 || kp->components < 1)
        return vf__error(VF_ERR_ARG, "gaussian_mixture: dimension %lld (>= 1), components %lld (>= 1), context %lld (>= 0)",
                         (long long)kp->dim, (long long)kp->components, (long long)kp->context);
    if (kp->components > (INT64_C(1) << 40) / kp->dim)
        return vf__error(VF_ERR_ARG, "gaussian_mixture: %lld components of dimension %lld are too many",
                         (long long)kp->components, (long long)kp->dim);
    if (!(kp->init_scale >= 0) || !isfinite(kp->init_scale))
        return vf__error(VF_ERR_ARG, "gaussian_mixture: init_scale %g (finite, >= 0)", kp->init_scale);
    return vf__dist_net_check("gaussian_mixture", &kp->net);
}

static vf_status mx_register(mixture *m, vf_params *p, const char *name, int64_t d, int64_t c)
{
    char buf[VF_PARAM_NAME_MAX];
    vf_status s;
    int64_t k = m->k;
    if (c > 0) {
        m->offsets = vf_calloc((size_t)(k * d), sizeof *m->offsets);
        if (!m->offsets) return VF_ERR_NOMEM;
        vf_rng r;
        vf_rng_init(&r, m->seed, 0);
        vf_rng_normal_fill(&r, m->offsets, (size_t)(k * d), 0.0, m->init_scale);
        vf_mlp_params mp = vf_mlp_default_params(c, k + 2 * k * d);
        mp.n_hidden = m->net_params.n_hidden;
        memcpy(mp.hidden, m->net_params.hidden, sizeof mp.hidden);
        mp.act = m->net_params.act;
        mp.zero_init_output = 1;
        s = vf__param_name(buf, sizeof buf, name, "net");
        return s == VF_OK ? vf_mlp_new(p, buf, &mp, &m->net) : s;
    }
    s = vf__param_name(buf, sizeof buf, name, "logits");
    if (s == VF_OK) s = vf_params_add(p, buf, 1, (int64_t[]){k}, vf_init_zeros(), &m->logits);
    if (s == VF_OK) s = vf__param_name(buf, sizeof buf, name, "means");
    if (s == VF_OK) s = vf_params_add(p, buf, 2, (int64_t[]){k, d}, vf_init_normal(0.0, m->init_scale), &m->means);
    if (s == VF_OK) s = vf__param_name(buf, sizeof buf, name, "log_scales");
    if (s == VF_OK) s = vf_params_add(p, buf, 2, (int64_t[]){k, d}, vf_init_zeros(), &m->log_scales);
    return s;
}

vf_status vf_dist_mixture_new(vf_params *p, const char *name, const vf_dist_mixture_params *kp, vf_dist **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "gaussian_mixture: NULL output");
    *out = NULL;
    if (!p || !kp) return vf__error(VF_ERR_ARG, "gaussian_mixture: NULL parameter store or settings");
    vf_status s = mx_check(kp);
    if (s != VF_OK) return s;
    if (!name) name = "";
    if (strlen(name) >= VF_PARAM_NAME_MAX) return vf__error(VF_ERR_ARG, "gaussian_mixture: name is too long");
    mixture *m = vf_calloc(1, sizeof *m);
    if (!m) return VF_ERR_NOMEM;
    m->base.vt = &mx_vt;
    m->base.dim = kp->dim;
    m->base.context = kp->context;
    m->net_params = kp->net;
    m->k = kp->components;
    m->init_scale = kp->init_scale;
    m->seed = kp->seed;
    m->logits = m->means = m->log_scales = -1;
    strcpy(m->name, name);
    int32_t count = vf_params_count(p);
    s = mx_register(m, p, name, kp->dim, kp->context);
    if (s != VF_OK) {
        vf__params_truncate(p, count);
        mx_destroy(&m->base);
        return s;
    }
    *out = &m->base;
    return VF_OK;
}
