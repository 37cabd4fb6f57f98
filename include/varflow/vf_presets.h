/* vf_presets.h — complete normalizing flows by name: spec strings "NAME[:key=value,...]" (the
 * command line's `--model` / `--flow`), and the general spec parser behind them.
 *
 * Usage
 *   vf_params *p = vf_params_new();
 *   vf_flow *flow = NULL;
 *   if (vf_flow_from_spec("maf:transforms=5,hidden=128x2,base=mixture8", 2, 0, p, &flow) != VF_OK)
 *       fprintf(stderr, "%s\n", vf_last_error());       // names the problem and the valid names/keys
 *   vf_params_finalize(p, 42);                           // the preset registers; the caller finalizes
 *   vf_var lp = vf_flow_log_prob(flow, p, t, x, VF_NOVAR);
 *   ...
 *   vf_flow_free(flow); vf_params_free(p);
 *
 *   for (const char *const *n = vf_preset_names(); *n; n++)  // for --help
 *       printf("%s: %s\n", *n, vf_preset_help(*n));
 *
 *   vf_spec s;                                           // the parser alone, for other kinds of spec
 *   vf_spec_parse("funnel:d=10", &s);                    // s.name = "funnel", s.keys[0] = "d", s.values[0] = "10"
 *
 * Spec syntax (vf_spec_parse). NAME, optionally followed by ':' and a non-empty, comma-separated list
 * of key=value pairs. Whitespace anywhere is an error (no trimming: a spec is one shell word). NAME
 * and keys use letters, digits and '_', '-', '.' (a name may also hold '/', for paths); a value is
 * any non-empty run of characters other than ',', '=' and whitespace (':' is allowed, so a value may
 * itself look like "mixture:8" — the presets below do not use that). A key may appear once. Limits:
 * VF_SPEC_MAX_PAIRS pairs, names/keys/values shorter than VF_SPEC_MAX_TEXT characters.
 *
 * The presets (vf_flow_from_spec). Transform i of the flow registers its parameters as
 * "transforms.<i>.*" (i counts every transform of the flow, parameterless ones included) and the base
 * distribution as "base.*"; model files rely on these names. Keys common to all presets (defaults in
 * brackets):
 *   transforms  number of layers (steps for glow), >= 1 (1 .. VF_PRESET_MAX_TRANSFORMS)   [per preset]
 *   hidden      WIDTHxLAYERS, e.g. 128x2; a bare WIDTH means one layer; WIDTH >= 1,
 *               1 <= LAYERS <= VF_NN_MAX_HIDDEN. The conditioner networks (MADE, coupling MLP, the
 *               context MLP of planar/radial and of a conditional base)                    [64x2]
 *   act         activation of those networks: relu, leaky_relu, elu, selu, silu, gelu, tanh,
 *               sigmoid, softplus                                                          [relu]
 *   base        normal | diag_normal | student_t | mixture | mixtureK (K >= 1 components, e.g.
 *               mixture8; plain "mixture" is 8). With a context (c > 0) every base but normal is
 *               conditional through a context MLP (vf_dist.h) of the hidden/act above      [normal]
 *   seed        unsigned integer seeding the fixed random choices: random MADE orders (maf/iaf
 *               with order=random), glow's LU permutations (step k: seed + k), the mixture base's
 *               conditional mean offsets                                                    [0]
 * Presets and their own keys:
 *   maf      `transforms` affine MAF layers (vf_autoregressive.h) whose MADE orders alternate
 *            sequential / reversed (order=alternate) or are random permutations drawn from seed + i
 *            (order=random) — zuko's MAF: transforms=3, hidden_features=(64, 64), orders alternating
 *            unless randperm. Keys residual (0/1: residual MADE, then LAYERS counts residual blocks)
 *            [0], order [alternate], batchnorm (0/1: a batch_norm transform, vf_transforms.h, between
 *            consecutive layers, as in the MAF paper) [0]. transforms [3]. Needs d >= 1.
 *   iaf      as maf with IAF layers (one-pass sampling, D-pass density). transforms [3].
 *   nsf      neural spline flow as zuko's NSF: `transforms` autoregressive rational-quadratic spline
 *            layers (spline_maf, vf_nsf.h) with maf's orders; keys residual, order, batchnorm as maf, bins
 *            (K >= 2, at most 1024) [8], bound (B of the spline interval [-B, B], identity outside;
 *            in [1e-6, 1e6]) [3], coupling (0 | 1) [0]: coupling=1 builds nsf_coupling instead.
 *            transforms [3]. Needs d >= 1. The bound is Durkan et al.'s (2019) B = 3 for standardized
 *            data, which `varflow fit` feeds the flow by default (zuko's own default is 5, for raw
 *            data: nsf:bound=5). With these defaults, fitted by `varflow fit` (standardizing), the
 *            2-D targets of docs/quality.md are met: checkerboard test NLL 3.51 (entropy 3.466),
 *            8gaussians 2.85 (entropy 2.838).
 *   nsf_coupling  `transforms` spline couplings of alternating parity; bins [8], bound [3] (as nsf)
 *            (same as nsf:coupling=1; coupling=0 here is an error). transforms [4]. Needs d >= 2.
 *   realnvp  `transforms` affine couplings (vf_coupling.h) of alternating parity 0, 1, 0, ...
 *            transforms [4]. Needs d >= 2.
 *   nice     `transforms` additive couplings of alternating parity, then one elementwise affine
 *            layer (the diagonal scaling of Dinh et al. 2014): transforms + 1 transforms.
 *            transforms [4]. Needs d >= 2.
 *   glow     `transforms` steps of ActNorm, LU linear (random permutation from seed + step, bias),
 *            affine coupling (parity alternating per step): 3 x transforms transforms, step k's at
 *            indices 3k, 3k + 1, 3k + 2. transforms [4]. Needs d >= 2. Call vf_flow_data_init on a
 *            batch after finalizing to use ActNorm's data initialization.
 *   planar   `transforms` planar layers (vf_planar.h). transforms [8]. Needs d >= 1.
 *   radial   `transforms` radial layers. transforms [8]. Needs d >= 1.
 * Transforms start at the identity where their constructors do so (couplings, MAF/IAF, splines, ActNorm,
 * elementwise affine); planar and radial start at a random map from the store's seed.
 */
#ifndef VF_PRESETS_H
#define VF_PRESETS_H

#include "vf_flow.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the general spec parser ------------------------------------------------------------------ */
#define VF_SPEC_MAX_PAIRS 32
#define VF_SPEC_MAX_TEXT 128      /* longest name, key or value, including the terminating NUL */

typedef struct vf_spec {
    char name[VF_SPEC_MAX_TEXT];
    int n;                                            /* number of key=value pairs */
    char keys[VF_SPEC_MAX_PAIRS][VF_SPEC_MAX_TEXT];   /* in the order written */
    char values[VF_SPEC_MAX_PAIRS][VF_SPEC_MAX_TEXT];
} vf_spec;

/* Parses text (syntax above) into *out. VF_ERR_ARG with a message naming the problem and its column
 * (1-based) for: NULL or empty text, whitespace, an empty name, key or value, a pair without '=',
 * a second '=', a name holding '=' or ',' (a missing ':'), ':' with nothing after it, a trailing
 * ',', a duplicate key, too many pairs or too long a part. Allocates nothing. */
vf_status vf_spec_parse(const char *text, vf_spec *out);
/* The value of key, or NULL when the spec does not set it. */
const char *vf_spec_get(const vf_spec *s, const char *key);
/* VF_ERR_ARG naming the first key not in allowed (a NULL-terminated list) and listing the allowed
 * ones; `what` prefixes the message (e.g. the preset's name). */
vf_status vf_spec_check_keys(const vf_spec *s, const char *const *allowed, const char *what);
/* Integer value of key in [lo, hi] (decimal, optional sign), or def when the key is absent.
 * VF_ERR_ARG for a malformed number or one out of range, naming key, value and range. */
vf_status vf_spec_int(const vf_spec *s, const char *key, int64_t def, int64_t lo, int64_t hi, int64_t *out);
/* Unsigned 64-bit decimal value of key (a seed), or def when absent. VF_ERR_ARG when malformed. */
vf_status vf_spec_u64(const vf_spec *s, const char *key, uint64_t def, uint64_t *out);
/* Finite real value of key in [lo, hi], or def when absent. VF_ERR_ARG when malformed or out of range. */
vf_status vf_spec_real(const vf_spec *s, const char *key, double def, double lo, double hi, double *out);

/* ---- flow presets --------------------------------------------------------------------------- */
#define VF_PRESET_MAX_TRANSFORMS 256

/* Builds the flow named by spec for data of dimension d >= 1 with context width c >= 0 (0: none),
 * registering every parameter in p (not yet finalized) under "transforms.<i>.*" and "base.*".
 * VF_ERR_ARG for an unknown name (the message lists the valid names), an unknown key (lists the
 * preset's keys), a malformed or out-of-range value, or d too small for the preset; VF_ERR_STATE when
 * p is finalized; VF_ERR_NOMEM on allocation failure. On failure *out is NULL, nothing is leaked and
 * nothing stays registered in p. */
vf_status vf_flow_from_spec(const char *spec, int64_t d, int64_t c, vf_params *p, vf_flow **out);
/* As vf_flow_from_spec, behind n_lead leading transforms: the flow applies lead[0], ..., lead[n_lead-1]
 * to the data first, then the preset's transforms, which register under "transforms.<n_lead + i>.*"
 * (so the flow keeps the naming contract above and a model file of it loads). The caller builds the
 * leading transforms first, registering any parameters of lead[i] as "transforms.<i>.*" (`varflow
 * fit` uses one parameterless standardize transform, vf_transforms.h). Takes ownership of every
 * lead[i], also on failure (then they are freed and nothing the preset registered stays in p).
 * Errors as vf_flow_from_spec, plus VF_ERR_ARG for a NULL lead[i] and VF_ERR_SHAPE for one whose
 * dimension or context width is not d, c. */
vf_status vf_flow_from_spec_after(const char *spec, int64_t d, int64_t c, int n_lead, vf_transform *const *lead,
                                  vf_params *p, vf_flow **out);
/* The preset names, NULL-terminated: {"maf", "iaf", "nsf", "nsf_coupling", "realnvp", "nice", "glow",
 * "planar", "radial", NULL}. */
const char *const *vf_preset_names(void);
/* One line describing the preset's keys and their defaults; NULL for an unknown name. */
const char *vf_preset_help(const char *name);

#ifdef __cplusplus
}
#endif
#endif
