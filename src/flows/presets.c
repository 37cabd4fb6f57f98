/* presets.c — complete flows by name from a spec string (the presets and their keys are documented in
 * vf_presets.h). Every transform i registers under "transforms.<i>", the base under "base"; a failure
 * frees what was built and drops every parameter registered since the call began. */
#include <stdio.h>
#include <string.h>

#include "flows/flow_internal.h"
#include "nn/nn_internal.h"
#include "varflow/vf_autoregressive.h"
#include "varflow/vf_coupling.h"
#include "varflow/vf_dist.h"
#include "varflow/vf_nsf.h"
#include "varflow/vf_planar.h"
#include "varflow/vf_presets.h"
#include "varflow/vf_transforms.h"

#define DEFAULT_MIXTURE_COMPONENTS 8
/* The spline presets' tail bound: Durkan et al. (2019) use B = 3 on standardized data, which is what
 * `varflow fit` gives the flow by default; at zuko's B = 5 a standardized 2-D set spans a third of the
 * interval and the 8 bins are spent on empty space (docs/quality.md has the measurements). The
 * transforms' own default (VF_NSF_DEFAULT_BOUND) is unchanged. */
#define PRESET_SPLINE_BOUND 3.0
#define MAX_COMPONENTS 4096

typedef enum base_kind { BASE_NORMAL, BASE_DIAG_NORMAL, BASE_STUDENT_T, BASE_MIXTURE } base_kind;

/* The settings every preset reads from its spec. */
typedef struct preset_cfg {
    const char *preset;
    int64_t d, c;
    int transforms;
    int n_hidden;
    int64_t width;
    vf_activation act;
    base_kind base;
    int64_t components;        /* BASE_MIXTURE */
    uint64_t seed;
    int residual;              /* maf / iaf / nsf */
    int random_order;          /* maf / iaf / nsf */
    int batchnorm;             /* maf / iaf / nsf: batch normalization between the layers */
    int bins;                  /* nsf / nsf_coupling */
    double bound;              /* nsf / nsf_coupling */
} preset_cfg;

/* The transforms under construction: tr[0..n) are owned here until handed to vf_flow_new. */
typedef struct build {
    vf_transform **tr;
    int n, cap;
} build;

typedef vf_status (*build_fn)(const preset_cfg *k, vf_params *p, build *b);

typedef struct preset {
    const char *name;
    int default_transforms;
    int min_dim;
    int autoregressive;        /* accepts residual and order */
    int spline;                /* accepts bins and bound */
    build_fn fn;
    const char *help;
} preset;

static vf_status tname(char *buf, size_t len, int i)
{
    int w = snprintf(buf, len, "transforms.%d", i);
    return w > 0 && (size_t)w < len ? VF_OK : vf__error(VF_ERR_ARG, "presets: transform name too long");
}

/* ---- the builders --------------------------------------------------------------------------- */

/* After autoregressive layer i of k->transforms: a batch normalization when batchnorm=1, between
 * layers as in the MAF paper (Papamakarios et al. 2017), not after the last. */
static vf_status maybe_batch_norm(const preset_cfg *k, vf_params *p, build *b, int i)
{
    if (!k->batchnorm || i + 1 == k->transforms) return VF_OK;
    char name[32];
    vf_status s = tname(name, sizeof name, b->n);
    if (s != VF_OK) return s;
    vf_batch_norm_params bp = vf_batch_norm_default_params(k->d);
    bp.context = k->c;
    if ((s = vf_batch_norm_new(p, name, &bp, &b->tr[b->n])) != VF_OK) return s;
    b->n++;
    return VF_OK;
}

/* The MADE order of autoregressive layer i: alternating sequential / reversed, or (order=random) a
 * random permutation drawn from seed + i. */
static void layer_order(const preset_cfg *k, int i, vf_made_order *order, uint64_t *seed)
{
    if (k->random_order) {
        *order = VF_ORDER_RANDOM;
        *seed = k->seed + (uint64_t)i;
    } else {
        *order = i % 2 ? VF_ORDER_REVERSED : VF_ORDER_SEQUENTIAL;
    }
}

static vf_status build_autoregressive(const preset_cfg *k, vf_params *p, build *b, int iaf)
{
    vf_maf_params mp = iaf ? vf_iaf_default_params(k->d) : vf_maf_default_params(k->d);
    mp.context = k->c;
    mp.hidden = k->width;
    mp.depth = k->n_hidden;
    mp.residual = k->residual;
    mp.act = k->act;
    for (int i = 0; i < k->transforms; i++) {
        char name[32];
        vf_status s = tname(name, sizeof name, b->n);
        if (s != VF_OK) return s;
        layer_order(k, i, &mp.order, &mp.seed);
        s = iaf ? vf_iaf_new(p, name, &mp, &b->tr[b->n]) : vf_maf_new(p, name, &mp, &b->tr[b->n]);
        if (s != VF_OK) return s;
        b->n++;
        if ((s = maybe_batch_norm(k, p, b, i)) != VF_OK) return s;
    }
    return VF_OK;
}

static vf_status build_maf(const preset_cfg *k, vf_params *p, build *b) { return build_autoregressive(k, p, b, 0); }
static vf_status build_iaf(const preset_cfg *k, vf_params *p, build *b) { return build_autoregressive(k, p, b, 1); }

static vf_coupling_params coupling_params(const preset_cfg *k, int affine)
{
    vf_coupling_params cp = affine ? vf_affine_coupling_default_params(k->d) : vf_additive_coupling_default_params(k->d);
    cp.context = k->c;
    cp.n_hidden = k->n_hidden;
    for (int j = 0; j < k->n_hidden; j++) cp.hidden[j] = k->width;
    cp.act = k->act;
    return cp;
}

static vf_status build_couplings(const preset_cfg *k, vf_params *p, build *b, int affine)
{
    vf_coupling_params cp = coupling_params(k, affine);
    for (int i = 0; i < k->transforms; i++) {
        char name[32];
        vf_status s = tname(name, sizeof name, b->n);
        if (s != VF_OK) return s;
        cp.parity = i % 2;
        s = affine ? vf_affine_coupling_new(p, name, &cp, &b->tr[b->n]) : vf_additive_coupling_new(p, name, &cp, &b->tr[b->n]);
        if (s != VF_OK) return s;
        b->n++;
    }
    return VF_OK;
}

static vf_status build_realnvp(const preset_cfg *k, vf_params *p, build *b) { return build_couplings(k, p, b, 1); }

static vf_status build_nice(const preset_cfg *k, vf_params *p, build *b)
{
    vf_status s = build_couplings(k, p, b, 0);
    if (s != VF_OK) return s;
    char name[32];
    if ((s = tname(name, sizeof name, b->n)) != VF_OK) return s;
    vf_elementwise_affine_params ep = vf_elementwise_affine_default_params(k->d);
    ep.context = k->c;
    if ((s = vf_elementwise_affine_new(p, name, &ep, &b->tr[b->n])) != VF_OK) return s;
    b->n++;
    return VF_OK;
}

static vf_status build_glow(const preset_cfg *k, vf_params *p, build *b)
{
    vf_actnorm_params an = vf_actnorm_default_params(k->d);
    an.context = k->c;
    vf_lu_linear_params lu = vf_lu_linear_default_params(k->d);
    lu.context = k->c;
    vf_coupling_params cp = coupling_params(k, 1);
    for (int i = 0; i < k->transforms; i++) {
        char name[32];
        vf_status s;
        if ((s = tname(name, sizeof name, b->n)) != VF_OK || (s = vf_actnorm_new(p, name, &an, &b->tr[b->n])) != VF_OK)
            return s;
        b->n++;
        lu.seed = k->seed + (uint64_t)i;
        if ((s = tname(name, sizeof name, b->n)) != VF_OK || (s = vf_lu_linear_new(p, name, &lu, &b->tr[b->n])) != VF_OK)
            return s;
        b->n++;
        cp.parity = i % 2;
        if ((s = tname(name, sizeof name, b->n)) != VF_OK ||
            (s = vf_affine_coupling_new(p, name, &cp, &b->tr[b->n])) != VF_OK)
            return s;
        b->n++;
    }
    return VF_OK;
}

static vf_status build_nsf(const preset_cfg *k, vf_params *p, build *b)
{
    vf_spline_ar_params sp = vf_spline_ar_default_params(k->d);
    sp.context = k->c;
    sp.hidden = k->width;
    sp.depth = k->n_hidden;
    sp.residual = k->residual;
    sp.act = k->act;
    sp.bins = k->bins;
    sp.bound = k->bound;
    for (int i = 0; i < k->transforms; i++) {
        char name[32];
        vf_status s = tname(name, sizeof name, b->n);
        if (s != VF_OK) return s;
        layer_order(k, i, &sp.order, &sp.seed);
        if ((s = vf_spline_maf_new(p, name, &sp, &b->tr[b->n])) != VF_OK) return s;
        b->n++;
        if ((s = maybe_batch_norm(k, p, b, i)) != VF_OK) return s;
    }
    return VF_OK;
}

static vf_status build_nsf_coupling(const preset_cfg *k, vf_params *p, build *b)
{
    vf_spline_coupling_params sp = vf_spline_coupling_default_params(k->d);
    sp.context = k->c;
    sp.n_hidden = k->n_hidden;
    for (int j = 0; j < k->n_hidden; j++) sp.hidden[j] = k->width;
    sp.act = k->act;
    sp.bins = k->bins;
    sp.bound = k->bound;
    for (int i = 0; i < k->transforms; i++) {
        char name[32];
        vf_status s = tname(name, sizeof name, b->n);
        if (s != VF_OK) return s;
        sp.parity = i % 2;
        if ((s = vf_spline_coupling_new(p, name, &sp, &b->tr[b->n])) != VF_OK) return s;
        b->n++;
    }
    return VF_OK;
}

static vf_status build_planar_radial(const preset_cfg *k, vf_params *p, build *b, int radial)
{
    for (int i = 0; i < k->transforms; i++) {
        char name[32];
        vf_status s = tname(name, sizeof name, b->n);
        if (s != VF_OK) return s;
        if (radial) {
            vf_radial_params rp = vf_radial_default_params(k->d);
            rp.context = k->c;
            rp.n_hidden = k->n_hidden;
            rp.hidden = k->width;
            rp.act = k->act;
            s = vf_radial_new(p, name, &rp, &b->tr[b->n]);
        } else {
            vf_planar_params pp = vf_planar_default_params(k->d);
            pp.context = k->c;
            pp.n_hidden = k->n_hidden;
            pp.hidden = k->width;
            pp.act = k->act;
            s = vf_planar_new(p, name, &pp, &b->tr[b->n]);
        }
        if (s != VF_OK) return s;
        b->n++;
    }
    return VF_OK;
}

static vf_status build_planar(const preset_cfg *k, vf_params *p, build *b) { return build_planar_radial(k, p, b, 0); }
static vf_status build_radial(const preset_cfg *k, vf_params *p, build *b) { return build_planar_radial(k, p, b, 1); }

/* ---- the table ------------------------------------------------------------------------------ */

#define COMMON_HELP "hidden=WIDTHxLAYERS (64x2), act=relu|silu|tanh|... (relu), base=normal|diag_normal|student_t|mixture|mixtureK (normal; mixture: 8 components, mixture4: 4), seed=N (0)"

static const preset presets[] = {
    {"maf", 3, 1, 1, 0, build_maf,
     "masked autoregressive flow: transforms=N affine MAF layers (3), MADE orders alternating or order=random "
     "(alternate), residual=0|1 (0), batchnorm=0|1 (0; 1: batch normalization between layers), " COMMON_HELP},
    {"iaf", 3, 1, 1, 0, build_iaf,
     "inverse autoregressive flow: transforms=N affine IAF layers (3), order=alternate|random (alternate), "
     "residual=0|1 (0), batchnorm=0|1 (0), " COMMON_HELP},
    {"nsf", 3, 1, 1, 1, build_nsf,
     "neural spline flow (autoregressive, as zuko's NSF): transforms=N spline MAF layers (3), bins=K (8), "
     "bound=B (3: splines on [-B, B], identity outside), order=alternate|random (alternate), residual=0|1 (0), "
     "batchnorm=0|1 (0), coupling=0|1 (0; 1 is nsf_coupling), " COMMON_HELP},
    {"nsf_coupling", 4, 2, 0, 1, build_nsf_coupling,
     "neural spline flow with couplings: transforms=N spline couplings of alternating parity (4), bins=K (8), "
     "bound=B (3), d >= 2, " COMMON_HELP},
    {"realnvp", 4, 2, 0, 0, build_realnvp,
     "RealNVP: transforms=N affine couplings of alternating parity (4), d >= 2, " COMMON_HELP},
    {"nice", 4, 2, 0, 0, build_nice,
     "NICE: transforms=N additive couplings of alternating parity (4) then an elementwise affine scaling, d >= 2, "
     COMMON_HELP},
    {"glow", 4, 2, 0, 0, build_glow,
     "Glow: transforms=N steps of ActNorm, LU linear (permutation from seed + step), affine coupling (4; 3N "
     "transforms), d >= 2, " COMMON_HELP},
    {"planar", 8, 1, 0, 0, build_planar,
     "planar flow: transforms=N planar layers (8); hidden/act shape the context network when c > 0, " COMMON_HELP},
    {"radial", 8, 1, 0, 0, build_radial,
     "radial flow: transforms=N radial layers (8); hidden/act shape the context network when c > 0, " COMMON_HELP},
};

#define N_PRESETS ((int)(sizeof presets / sizeof presets[0]))

static const char *const preset_names[] = {"maf", "iaf", "nsf", "nsf_coupling", "realnvp", "nice", "glow", "planar",
                                           "radial", NULL};
static const char *const common_keys[] = {"transforms", "hidden", "act", "base", "seed", NULL};
static const char *const autoregressive_keys[] = {"transforms", "hidden", "act", "base", "seed", "residual", "order",
                                                  "batchnorm", NULL};
static const char *const spline_ar_keys[] = {"transforms", "hidden", "act", "base", "seed", "residual", "order", "bins",
                                             "bound", "coupling", "batchnorm", NULL};
static const char *const spline_coupling_keys[] = {"transforms", "hidden", "act", "base", "seed", "bins", "bound",
                                                   "coupling", NULL};

const char *const *vf_preset_names(void) { return preset_names; }

static const preset *find_preset(const char *name)
{
    for (int i = 0; i < N_PRESETS; i++)
        if (strcmp(presets[i].name, name) == 0) return &presets[i];
    return NULL;
}

const char *vf_preset_help(const char *name)
{
    const preset *pr = name ? find_preset(name) : NULL;
    return pr ? pr->help : NULL;
}

/* ---- reading the keys ----------------------------------------------------------------------- */

/* "WIDTHxLAYERS" or "WIDTH" into width and layers. */
static vf_status parse_hidden(const char *preset_name, const char *v, int64_t *width, int *layers)
{
    int64_t w = 0, l = 1;
    const char *q = v;
    int digits = 0;
    while (*q >= '0' && *q <= '9') {
        if (w > VF_NN_MAX_WIDTH) goto range;
        w = 10 * w + (*q++ - '0');
        digits++;
    }
    if (!digits) goto bad;
    if (*q == 'x') {
        q++;
        l = 0;
        digits = 0;
        while (*q >= '0' && *q <= '9') {
            if (l > VF_NN_MAX_HIDDEN) goto range;
            l = 10 * l + (*q++ - '0');
            digits++;
        }
        if (!digits) goto bad;
    }
    if (*q != '\0') goto bad;
    if (w < 1 || w > VF_NN_MAX_WIDTH || l < 1 || l > VF_NN_MAX_HIDDEN) goto range;
    *width = w;
    *layers = (int)l;
    return VF_OK;
range:
    return vf__error(VF_ERR_ARG, "%s: hidden=%s: need 1 <= WIDTH <= %d and 1 <= LAYERS <= %d", preset_name, v,
                     VF_NN_MAX_WIDTH, VF_NN_MAX_HIDDEN);
bad:
    return vf__error(VF_ERR_ARG, "%s: hidden=%s is not WIDTHxLAYERS (e.g. 64x2) or WIDTH", preset_name, v);
}

static vf_status parse_base(const char *preset_name, const char *v, preset_cfg *k)
{
    k->components = DEFAULT_MIXTURE_COMPONENTS;
    if (strcmp(v, "normal") == 0) k->base = BASE_NORMAL;
    else if (strcmp(v, "diag_normal") == 0) k->base = BASE_DIAG_NORMAL;
    else if (strcmp(v, "student_t") == 0) k->base = BASE_STUDENT_T;
    else if (strncmp(v, "mixture", 7) == 0) {
        k->base = BASE_MIXTURE;
        const char *q = v + 7;
        if (*q) {
            int64_t n = 0;
            for (; *q; q++) {
                if (*q < '0' || *q > '9' || n > MAX_COMPONENTS) {
                    return vf__error(VF_ERR_ARG, "%s: base=%s: the mixture's component count must be an integer in "
                                     "[1, %d] (e.g. mixture8)", preset_name, v, MAX_COMPONENTS);
                }
                n = 10 * n + (*q - '0');
            }
            if (n < 1 || n > MAX_COMPONENTS)
                return vf__error(VF_ERR_ARG, "%s: base=%s: the mixture's component count must be in [1, %d]",
                                 preset_name, v, MAX_COMPONENTS);
            k->components = n;
        }
    } else {
        return vf__error(VF_ERR_ARG, "%s: unknown base '%s' (valid: normal, diag_normal, student_t, mixture, "
                         "mixtureK)", preset_name, v);
    }
    return VF_OK;
}

static vf_status read_cfg(const preset *pr, const vf_spec *sp, int64_t d, int64_t c, preset_cfg *k)
{
    memset(k, 0, sizeof *k);
    k->preset = pr->name;
    k->d = d;
    k->c = c;
    const char *const *keys = pr->spline ? (pr->autoregressive ? spline_ar_keys : spline_coupling_keys)
                                         : (pr->autoregressive ? autoregressive_keys : common_keys);
    vf_status s = vf_spec_check_keys(sp, keys, pr->name);
    if (s != VF_OK) return s;
    int64_t v = 0;
    if ((s = vf_spec_int(sp, "transforms", pr->default_transforms, 1, VF_PRESET_MAX_TRANSFORMS, &v)) != VF_OK)
        return vf__error(s, "%s: %s", pr->name, vf_last_error());
    k->transforms = (int)v;
    k->width = 64;
    k->n_hidden = 2;
    const char *h = vf_spec_get(sp, "hidden");
    if (h && (s = parse_hidden(pr->name, h, &k->width, &k->n_hidden)) != VF_OK) return s;
    k->act = VF_ACT_RELU;
    const char *a = vf_spec_get(sp, "act");
    if (a) {
        int act = vf_activation_from_name(a);
        if (act < 0 || act == VF_ACT_NONE)
            return vf__error(VF_ERR_ARG, "%s: unknown activation act=%s (valid: relu, leaky_relu, elu, selu, silu, "
                             "gelu, tanh, sigmoid, softplus)", pr->name, a);
        k->act = (vf_activation)act;
    }
    const char *bs = vf_spec_get(sp, "base");
    if ((s = parse_base(pr->name, bs ? bs : "normal", k)) != VF_OK) return s;
    if ((s = vf_spec_u64(sp, "seed", 0, &k->seed)) != VF_OK) return vf__error(s, "%s: %s", pr->name, vf_last_error());
    if (pr->autoregressive) {
        if ((s = vf_spec_int(sp, "residual", 0, 0, 1, &v)) != VF_OK)
            return vf__error(s, "%s: %s", pr->name, vf_last_error());
        k->residual = (int)v;
        const char *o = vf_spec_get(sp, "order");
        if (o && strcmp(o, "random") == 0) k->random_order = 1;
        else if (o && strcmp(o, "alternate") != 0)
            return vf__error(VF_ERR_ARG, "%s: unknown order '%s' (valid: alternate, random)", pr->name, o);
        if ((s = vf_spec_int(sp, "batchnorm", 0, 0, 1, &v)) != VF_OK)
            return vf__error(s, "%s: %s", pr->name, vf_last_error());
        k->batchnorm = (int)v;
    }
    if (pr->spline) {
        if ((s = vf_spec_int(sp, "bins", VF_NSF_DEFAULT_BINS, 2, 1024, &v)) != VF_OK)
            return vf__error(s, "%s: %s", pr->name, vf_last_error());
        k->bins = (int)v;
        if ((s = vf_spec_real(sp, "bound", PRESET_SPLINE_BOUND, 1e-6, 1e6, &k->bound)) != VF_OK)
            return vf__error(s, "%s: %s", pr->name, vf_last_error());
    }
    if (d < pr->min_dim)
        return vf__error(VF_ERR_ARG, "%s: needs data of dimension d >= %d (got %lld)%s", pr->name, pr->min_dim,
                         (long long)d, pr->min_dim > 1 ? "; couplings split the features in two: use maf or planar" : "");
    return VF_OK;
}

static vf_dist_net_params net_of(const preset_cfg *k)
{
    vf_dist_net_params net = vf_dist_net_default_params();
    net.n_hidden = k->n_hidden;
    for (int j = 0; j < k->n_hidden; j++) net.hidden[j] = k->width;
    net.act = k->act;
    return net;
}

static vf_status build_base(const preset_cfg *k, vf_params *p, vf_dist **out)
{
    switch (k->base) {
    case BASE_DIAG_NORMAL: {
        vf_dist_diag_normal_params dp = vf_dist_diag_normal_default_params(k->d);
        dp.context = k->c;
        dp.net = net_of(k);
        return vf_dist_diag_normal_new(p, "base", &dp, out);
    }
    case BASE_STUDENT_T: {
        vf_dist_student_t_params tp = vf_dist_student_t_default_params(k->d);
        tp.context = k->c;
        tp.net = net_of(k);
        return vf_dist_student_t_new(p, "base", &tp, out);
    }
    case BASE_MIXTURE: {
        vf_dist_mixture_params mp = vf_dist_mixture_default_params(k->d, k->components);
        mp.context = k->c;
        mp.seed = k->seed;
        mp.net = net_of(k);
        return vf_dist_mixture_new(p, "base", &mp, out);
    }
    case BASE_NORMAL:
    default:
        return vf_dist_normal_new(k->d, k->c, out);
    }
}

/* Largest number of transforms a preset builds for `transforms` layers. */
static int capacity(const preset *pr, int transforms)
{
    if (pr->autoregressive) return 2 * transforms; /* room for batch normalizations between layers */
    if (pr->fn == build_glow) return 3 * transforms;
    if (pr->fn == build_nice) return transforms + 1;
    return transforms;
}

vf_status vf_flow_from_spec(const char *spec, int64_t d, int64_t c, vf_params *p, vf_flow **out)
{
    if (out) *out = NULL;
    if (!spec || !p || !out) return vf__error(VF_ERR_ARG, "flow spec: NULL spec, parameter store or output");
    if (d < 1 || c < 0)
        return vf__error(VF_ERR_ARG, "flow spec '%.60s': need d >= 1 and c >= 0 (got d = %lld, c = %lld)", spec,
                         (long long)d, (long long)c);
    if (vf_params_is_finalized(p))
        return vf__error(VF_ERR_STATE, "flow spec '%.60s': the parameter store is already finalized", spec);
    vf_spec sp;
    vf_status s = vf_spec_parse(spec, &sp);
    if (s != VF_OK) return s;
    const preset *pr = find_preset(sp.name);
    if (!pr)
        return vf__error(VF_ERR_ARG,
                         "unknown flow '%s' (valid: maf, iaf, nsf, nsf_coupling, realnvp, nice, glow, planar, radial)",
                         sp.name);
    /* nsf:coupling=1 is the coupling form (the name nsf_coupling reaches it too). */
    int64_t coupling = 0;
    if (pr->spline && (s = vf_spec_int(&sp, "coupling", pr->autoregressive ? 0 : 1, 0, 1, &coupling)) != VF_OK)
        return vf__error(s, "%s: %s", pr->name, vf_last_error());
    if (pr->spline && !pr->autoregressive && !coupling)
        return vf__error(VF_ERR_ARG, "nsf_coupling: coupling=0 contradicts the name (use nsf for the autoregressive form)");
    if (pr->spline && coupling) pr = find_preset("nsf_coupling");
    preset_cfg k;
    if ((s = read_cfg(pr, &sp, d, c, &k)) != VF_OK) return s;

    int32_t count0 = vf_params_count(p);
    build b = {NULL, 0, capacity(pr, k.transforms)};
    vf_dist *base = NULL;
    b.tr = vf_calloc((size_t)b.cap, sizeof *b.tr);
    if (!b.tr) return vf__error(VF_ERR_NOMEM, "flow spec '%.60s': out of memory", spec);
    if ((s = pr->fn(&k, p, &b)) != VF_OK || (s = build_base(&k, p, &base)) != VF_OK) {
        for (int i = 0; i < b.n; i++) vf_transform_free(b.tr[i]);
        vf_free(b.tr);
        vf__params_truncate(p, count0);
        return s;
    }
    s = vf_flow_new(base, b.n, b.tr, out);  /* owns base and the transforms from here, also on failure */
    vf_free(b.tr);
    if (s != VF_OK) vf__params_truncate(p, count0);
    return s;
}
