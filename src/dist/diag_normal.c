/* diag_normal.c — the learnable diagonal normal N(loc, diag(exp(log_scale))^2), free or produced by an
 * MLP of the context, and the conditioner settings shared by the learnable distributions.
 *
 * log p(z) = -sum_j [((z_j - loc_j) / s_j)^2 / 2 + log s_j] - (d / 2) log(2 pi), s = exp(log_scale);
 * sample x = loc + s * eps, eps ~ N(0, I) (reparameterized in loc, log_scale and the context). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "dist/dist_internal.h"
#include "nn/nn_internal.h"
#include "varflow/vf_dist.h"

vf_dist_net_params vf_dist_net_default_params(void)
{
    vf_dist_net_params np;
    memset(&np, 0, sizeof np);
    np.n_hidden = 2;
    for (int i = 0; i < VF_NN_MAX_HIDDEN; i++) np.hidden[i] = 64;
    np.act = VF_ACT_RELU;
    return np;
}

typedef struct diag_normal {
    vf_dist base;
    char name[VF_PARAM_NAME_MAX];
    vf_dist_net_params net_params;
    int32_t loc, log_scale;       /* unconditional: tensor ids; -1 in the conditional form */
    vf_mlp *net;                  /* conditional: context [n, c] -> [n, 2d] */
} diag_normal;

/* loc and log_scale on the tape: [d] each (unconditional) or [n, d] each (conditional). */
static int dn_params(const diag_normal *g, vf_params *p, vf_tape *t, vf_var ctx, vf_var *loc, vf_var *ls)
{
    int64_t d = g->base.dim;
    if (g->net) {
        vf_var h = vf_mlp_forward(g->net, p, t, ctx, VF_NOVAR);
        *loc = vf_slice(t, h, 1, 0, d);
        *ls = vf_slice(t, h, 1, d, 2 * d);
    } else {
        *loc = vf_params_var(p, t, g->loc);
        *ls = vf_params_var(p, t, g->log_scale);
    }
    return *loc != VF_NOVAR && *ls != VF_NOVAR;
}

static vf_var dn_log_prob(const vf_dist *b, vf_params *p, vf_tape *t, vf_var z, vf_var ctx)
{
    const diag_normal *g = (const diag_normal *)b;
    vf_var loc, ls;
    if (!dn_params(g, p, t, ctx, &loc, &ls)) return VF_NOVAR;
    vf_var y = vf_mul(t, vf_sub(t, z, loc), vf_exp(t, vf_neg(t, ls)));          /* [n, d] */
    vf_var per = vf_add(t, vf_scale(t, vf_square(t, y), -0.5), vf_neg(t, ls));    /* [n, d] */
    return vf_add_scalar(t, vf__flow_row_sum(t, per), -0.5 * (double)b->dim * log(2.0 * VF_PI));
}

static vf_var dn_sample(const vf_dist *b, vf_params *p, vf_tape *t, int64_t n, vf_var ctx, vf_rng *r)
{
    const diag_normal *g = (const diag_normal *)b;
    vf_var loc, ls;
    if (!dn_params(g, p, t, ctx, &loc, &ls)) return VF_NOVAR;
    size_t m = (size_t)(n * b->dim);
    vf_real *buf = vf__tape_alloc(t, (m ? m : 1) * sizeof *buf);
    if (!buf) return VF_NOVAR;
    vf_rng_normal_fill(r, buf, m, 0.0, 1.0);
    vf_var eps = vf_input(t, buf, 2, (int64_t[]){n, b->dim});
    return vf_add(t, vf_mul(t, eps, vf_exp(t, ls)), loc);
}

static vf_status dn_describe(const vf_dist *b, char *json, size_t len)
{
    const diag_normal *g = (const diag_normal *)b;
    char net[VF_DIST_NET_JSON_MAX];
    vf_status s = vf__dist_net_json(&g->net_params, net, sizeof net);
    if (s != VF_OK) return s;
    return vf__json_printf(json, len, "{\"kind\":\"diag_normal\",\"name\":\"%s\",\"dim\":%lld,\"context\":%lld,\"net\":%s}",
                           g->name, (long long)b->dim, (long long)b->context, net);
}

static void dn_destroy(vf_dist *b)
{
    diag_normal *g = (diag_normal *)b;
    vf_mlp_free(g->net);
    vf_free(g);
}

static const vf_dist_vtable dn_vt = {"diag_normal", dn_log_prob, dn_sample, dn_describe, dn_destroy};

vf_dist_diag_normal_params vf_dist_diag_normal_default_params(int64_t d)
{
    vf_dist_diag_normal_params kp;
    memset(&kp, 0, sizeof kp);
    kp.dim = d;
    kp.context = 0;
    kp.net = vf_dist_net_default_params();
    return kp;
}

static vf_status dn_register(diag_normal *g, vf_params *p, const char *name, int64_t d, int64_t c)
{
    char buf[VF_PARAM_NAME_MAX];
    vf_status s;
    if (c > 0) {
        vf_mlp_params mp = vf_mlp_default_params(c, 2 * d);
        mp.n_hidden = g->net_params.n_hidden;
        memcpy(mp.hidden, g->net_params.hidden, sizeof mp.hidden);
        mp.act = g->net_params.act;
        mp.zero_init_output = 1;
        s = vf__param_name(buf, sizeof buf, name, "net");
        return s == VF_OK ? vf_mlp_new(p, buf, &mp, &g->net) : s;
    }
    s = vf__param_name(buf, sizeof buf, name, "loc");
    if (s == VF_OK) s = vf_params_add(p, buf, 1, (int64_t[]){d}, vf_init_zeros(), &g->loc);
    if (s == VF_OK) s = vf__param_name(buf, sizeof buf, name, "log_scale");
    if (s == VF_OK) s = vf_params_add(p, buf, 1, (int64_t[]){d}, vf_init_zeros(), &g->log_scale);
    return s;
}

vf_status vf_dist_diag_normal_new(vf_params *p, const char *name, const vf_dist_diag_normal_params *kp, vf_dist **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "diag_normal: NULL output");
    *out = NULL;
    if (!p || !kp) return vf__error(VF_ERR_ARG, "diag_normal: NULL parameter store or settings");
    if (kp->dim < 1 || kp->context < 0)
        return vf__error(VF_ERR_ARG, "diag_normal: dimension %lld (>= 1), context %lld (>= 0)", (long long)kp->dim,
                         (long long)kp->context);
    if (!name) name = "";
    if (strlen(name) >= VF_PARAM_NAME_MAX) return vf__error(VF_ERR_ARG, "diag_normal: name is too long");
    vf_status s = vf__dist_net_check("diag_normal", &kp->net);
    if (s != VF_OK) return s;
    diag_normal *g = vf_calloc(1, sizeof *g);
    if (!g) return vf__error(VF_ERR_NOMEM, "diag_normal: out of memory");
    g->base.vt = &dn_vt;
    g->base.dim = kp->dim;
    g->base.context = kp->context;
    g->net_params = kp->net;
    g->loc = g->log_scale = -1;
    strcpy(g->name, name);
    int32_t count = vf_params_count(p);
    s = dn_register(g, p, name, kp->dim, kp->context);
    if (s != VF_OK) {
        vf__params_truncate(p, count);
        dn_destroy(&g->base);
        return s;
    }
    *out = &g->base;
    return VF_OK;
}
