/* spline_coupling.c — rational-quadratic spline coupling (Neural Spline Flows); the math and the
 * conditioner's layout are in include/varflow/vf_nsf.h.
 *
 * The constructor turns the mask into idx_a (identity features), idx_b (splined ones), both in
 * increasing order, and merge, the permutation with [x_a, z_b][merge[i]] = z_i. The conditioner's
 * output [n, nb (3K-1)] holds, per splined feature, its K width logits, K height logits and K-1
 * slopes: the layout vf_rq_spline_packed reads directly. Both directions run the MLP on x_a (= z_a),
 * so the inverse is exact; everything is a tape op.
 */
#include <math.h>
#include <string.h>
#include "flows/flow_internal.h"
#include "varflow/vf_nsf.h"
#include "varflow/vf_spline.h"

typedef struct spline_coupling {
    vf_transform base;
    vf_spline_coupling_params kp;   /* settings as given (kp.mask points at split.mask) */
    vf_rq_spline_options opt;       /* identity_at_zero = 1 */
    vf__coupling_split split;       /* mask, idx_a, idx_b, merge, na, nb */
    vf_mlp *net;                    /* [x_a, context] -> [nb (3K-1)] */
} spline_coupling;

vf_spline_coupling_params vf_spline_coupling_default_params(int64_t d)
{
    vf_spline_coupling_params kp;
    memset(&kp, 0, sizeof kp);
    kp.dim = d;
    kp.context = 0;
    kp.parity = 0;
    kp.mask = NULL;
    kp.n_hidden = 2;
    for (int i = 0; i < VF_NN_MAX_HIDDEN; i++) kp.hidden[i] = 64;
    kp.act = VF_ACT_RELU;
    kp.bins = VF_NSF_DEFAULT_BINS;
    kp.bound = VF_NSF_DEFAULT_BOUND;
    kp.min_bin_width = 1e-3;
    kp.min_bin_height = 1e-3;
    kp.min_derivative = 1e-3;
    kp.zero_init = 1;
    return kp;
}

/* y_b = spline(x_b) with parameters from the conditioner on x_a; *ladj [n] = sum of log-slopes. */
static vf_var spline_part(const spline_coupling *sc, vf_params *p, vf_tape *t, vf_var xa, vf_var xb, vf_var ctx,
                          int inverse, vf_var *ladj)
{
    vf_var h = vf_mlp_forward(sc->net, p, t, xa, ctx); /* [n, nb (3K-1)] */
    vf_var l = VF_NOVAR;
    vf_var y = vf_rq_spline_packed(t, xb, h, sc->kp.bins, sc->kp.bound, inverse, &sc->opt, &l);
    *ladj = vf__flow_row_sum(t, l);
    return y;
}

static vf_var run(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx, int inverse, vf_var *ladj)
{
    const spline_coupling *sc = (const spline_coupling *)tr;
    vf_var xa = vf_gather(t, x, 1, sc->split.idx_a, sc->split.na);
    vf_var xb = vf_gather(t, x, 1, sc->split.idx_b, sc->split.nb);
    vf_var parts[2] = {xa, spline_part(sc, p, t, xa, xb, ctx, inverse, ladj)};
    return vf_gather(t, vf_concat(t, 2, parts, 1), 1, sc->split.merge, tr->dim);
}

static vf_var sc_forward(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx, vf_var *ladj)
{
    return run(tr, p, t, x, ctx, 0, ladj);
}

static vf_var sc_inverse(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var z, vf_var ctx, vf_var *ladj)
{
    return run(tr, p, t, z, ctx, 1, ladj);
}

static vf_status sc_describe(const vf_transform *tr, char *json, size_t len)
{
    const spline_coupling *sc = (const spline_coupling *)tr;
    const vf_spline_coupling_params *kp = &sc->kp;
    size_t pos = 0;
    vf_status s = vf__json_append(json, len, &pos, "{\"kind\":\"spline_coupling\",\"dim\":%lld,\"context\":%lld,\"mask\":[",
                                  (long long)tr->dim, (long long)tr->context);
    for (int64_t i = 0; i < tr->dim && s == VF_OK; i++) s = vf__json_append(json, len, &pos, "%s%d", i ? "," : "", sc->split.mask[i]);
    if (s == VF_OK) s = vf__json_append(json, len, &pos, "],\"hidden\":[");
    for (int i = 0; i < kp->n_hidden && s == VF_OK; i++)
        s = vf__json_append(json, len, &pos, "%s%lld", i ? "," : "", (long long)kp->hidden[i]);
    if (s == VF_OK)
        s = vf__json_append(json, len, &pos,
                            "],\"act\":\"%s\",\"bins\":%d,\"bound\":%.17g,\"min_bin_width\":%.17g,"
                            "\"min_bin_height\":%.17g,\"min_derivative\":%.17g,\"zero_init\":%d}",
                            vf_activation_name(kp->act), kp->bins, kp->bound, kp->min_bin_width, kp->min_bin_height,
                            kp->min_derivative, kp->zero_init);
    return s;
}

static void sc_destroy(vf_transform *tr)
{
    spline_coupling *sc = (spline_coupling *)tr;
    if (!sc) return;
    vf_mlp_free(sc->net);
    vf__coupling_split_free(&sc->split);
    vf_free(sc);
}

static const vf_transform_vtable spline_coupling_vt = {"spline_coupling", sc_forward, sc_inverse, sc_describe,
                                                       sc_destroy, NULL};

static vf_status check_params(const vf_spline_coupling_params *kp)
{
    const char *kind = "spline_coupling";
    if (kp->dim < 2)
        return vf__error(VF_ERR_ARG, "%s: dimension %lld: a coupling needs d >= 2 (one part conditions the other)",
                         kind, (long long)kp->dim);
    if (kp->context < 0) return vf__error(VF_ERR_ARG, "%s: context width %lld < 0", kind, (long long)kp->context);
    if (kp->mask) {
        int64_t ones = 0;
        for (int64_t i = 0; i < kp->dim; i++) {
            if (kp->mask[i] != 0 && kp->mask[i] != 1)
                return vf__error(VF_ERR_ARG, "%s: mask[%lld] = %d (must be 0 or 1)", kind, (long long)i, kp->mask[i]);
            ones += kp->mask[i];
        }
        if (ones == 0 || ones == kp->dim)
            return vf__error(VF_ERR_ARG, "%s: the mask needs at least one 0 (identity) and one 1 (transformed)", kind);
    } else if (kp->parity != 0 && kp->parity != 1) {
        return vf__error(VF_ERR_ARG, "%s: parity %d (must be 0 or 1)", kind, kp->parity);
    }
    if (kp->zero_init != 0 && kp->zero_init != 1) return vf__error(VF_ERR_ARG, "%s: zero_init must be 0 or 1", kind);
    if (kp->bins < 2) return vf__error(VF_ERR_ARG, "%s: bins %d (need K >= 2)", kind, kp->bins);
    if (!(kp->bound > 0) || !isfinite(kp->bound))
        return vf__error(VF_ERR_ARG, "%s: bound %g (must be finite and > 0)", kind, kp->bound);
    if (!(kp->min_bin_width > 0) || !(kp->min_bin_width * kp->bins < 1) || !(kp->min_bin_height > 0) ||
        !(kp->min_bin_height * kp->bins < 1))
        return vf__error(VF_ERR_ARG, "%s: min_bin_width %g, min_bin_height %g: each must be > 0 and below 1/bins = %g",
                         kind, kp->min_bin_width, kp->min_bin_height, 1.0 / kp->bins);
    if (!(kp->min_derivative > 0 && kp->min_derivative < 1))
        return vf__error(VF_ERR_ARG, "%s: min_derivative %g (must be in (0, 1))", kind, kp->min_derivative);
    return VF_OK;
}

vf_status vf_spline_coupling_new(vf_params *p, const char *name, const vf_spline_coupling_params *kp,
                                 vf_transform **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "spline_coupling: NULL output");
    *out = NULL;
    if (!p || !kp) return vf__error(VF_ERR_ARG, "spline_coupling: NULL argument");
    vf_status s = check_params(kp);
    char net_name[VF_PARAM_NAME_MAX];
    if (s == VF_OK) s = vf__param_name(net_name, sizeof net_name, name, "net");
    if (s != VF_OK) return s;

    int64_t d = kp->dim, K = kp->bins;
    spline_coupling *sc = vf_calloc(1, sizeof *sc);
    if (!sc) return VF_ERR_NOMEM;
    if (vf__coupling_split_init(&sc->split, d, kp->mask, kp->parity) != VF_OK) {
        sc_destroy(&sc->base);
        return VF_ERR_NOMEM;
    }

    int64_t per = 3 * K - 1, nb = sc->split.nb;

    vf_mlp_params mp = vf_mlp_default_params(sc->split.na, nb * per);
    mp.context_features = kp->context;
    mp.n_hidden = kp->n_hidden;
    if (kp->n_hidden >= 0 && kp->n_hidden <= VF_NN_MAX_HIDDEN)
        for (int i = 0; i < kp->n_hidden; i++) mp.hidden[i] = kp->hidden[i];
    mp.act = kp->act;
    mp.zero_init_output = kp->zero_init;
    s = vf_mlp_new(p, net_name, &mp, &sc->net); /* registers last: nothing to roll back after it */
    if (s != VF_OK) {
        sc_destroy(&sc->base);
        return s;
    }
    sc->kp = *kp;
    sc->kp.mask = sc->split.mask;
    sc->opt = vf_rq_spline_default_options();
    sc->opt.min_bin_width = kp->min_bin_width;
    sc->opt.min_bin_height = kp->min_bin_height;
    sc->opt.min_derivative = kp->min_derivative;
    sc->opt.identity_at_zero = 1;
    sc->base.vt = &spline_coupling_vt;
    sc->base.dim = d;
    sc->base.context = kp->context;
    *out = &sc->base;
    return VF_OK;
}
