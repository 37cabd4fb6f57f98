/* vf_cnf_model.h — continuous-flow model files: a vector field with its training objective, path,
 * source distribution and data standardization, saved to and loaded from one safetensors file, and
 * sampling and log-densities on the loaded model.
 *
 * Usage
 *   vf_cnf_spec spec = vf_cnf_spec_default(VF_CNF_OTCFM, 2);    // OT-CFM in 2-D, MLP 64x3 SiLU
 *   vf_cnf_model *m;
 *   vf_cnf_model_new(&spec, 42, &m);                               // field "field.*", finalized
 *   vf_cnf_model_set_standardization(m, mean, std);                // mean, std [2]
 *   ... train m->field with m->params (vf_cfm_loss on standardized rows; vf_cfm.h) ...
 *   vf_cnf_model_save(m, "moons.safetensors", 0, NULL, NULL, 0, NULL);   // atomic
 *
 *   vf_cnf_model *g; vf_model_meta extra;
 *   vf_cnf_model_load("moons.safetensors", &g, &extra);            // nothing else needed
 *   vf_cnf_sample_options so = vf_cnf_sample_default_options();    // rk4, 100 steps, exact divergence
 *   vf_cnf_model_sample(g, n, NULL, NULL, &rng, &so, x, lp, &stats);   // x [n, 2], lp [n] (or NULL)
 *   vf_cnf_model_log_prob(g, n, x, NULL, &so, lp, &stats);          // lp [n] = log p(x)
 *
 * The model lives in standardized coordinates z = (x - mean) / std (per column; identity by
 * default): the flow carries the source at t = 0 to the standardized data at t = 1. Samples are
 * returned as x = mean + std z, and log-densities include the Jacobian: log p(x) = log p_z(z) -
 * sum_j log std_j. Sources: the standard normal, a standard Student-t with df degrees of freedom
 * independent per dimension (heavy-tailed targets), or data (data-to-data transport: the caller
 * gives the source rows at sampling time, in the units the model was trained with; such a model has
 * no log-density). Models with a score field (sbcfm and si by default) also sample the SDE
 *   dx = [v(x, t) + (sigma^2 / 2) s(x, t)] dt + sigma dW
 * with the em or sheun solver (sigma: the options' ode.sigma, or the path's sigma when that is 0),
 * which has the same marginals as the ODE when v and s are exact ([SF]2M; Albergo et al.'s forward
 * SDE with epsilon = sigma^2 / 2). MeanFlow models (VF_CNF_MEANFLOW, a two-time field) sample in `steps` jumps
 * x <- x + h u(x, s, s + h); their log-density (vf_cnf_model_log_prob) is that of the ODE of the
 * instantaneous velocity u(x, t, t), which those jumps approach as their number grows.
 *
 * File layout (readable by the safetensors library and PyTorch, like vf_model.h's flow files): the
 * field's tensors under their registered names ("field.net.layers.0.weight", ...), F32 in float
 * builds and F64 in double builds; training-state tensors "fit.*" (ignored by the loader); and
 * string metadata:
 *   "format"          "varflow.cnf"
 *   "format_version"  "1" (a loader refuses a larger version)
 *   "cnf"             {"objective": "otcfm", "dim": d,
 *                      "path": {"kind": "linear", "sigma": 0},
 *                      "coupling": {"kind": "ot", "eps": 0.02, "max_iter": 10000},
 *                      "source": {"kind": "gaussian" | "student_t" | "data", "df": 0},
 *                      "p_uncond": 0, "score": 0,
 *                      "field": {"classes": 0, "class_embedding": 16, "time": "sinusoidal",
 *                                "time_features": 16, "time_max_frequency": 64, "two_times": 0,
 *                                "residual": 0, "hidden": [64, 64, 64], "act": "silu",
 *                                "zero_init_output": 0},
 *                      "standardize": {"mean": [...], "std": [...]},   (numbers with 17 digits)
 *                      "box": {"lo": 0, "hi": 256, "alpha": 1e-06}}   (only with a box; see below)
 *   plus any extra keys of the caller (a training record).
 * A file with a box has "format_version" "2", so that an older loader, which would ignore the box,
 * refuses it; one without is written as version 1.
 *
 * Data on a box (vf_cnf_model_set_box; `varflow fit --box LO,HI`): for data that lie in [lo, hi] in
 * every column, such as pixel values, the model can see each value through the logit
 *   y = logit(p),  p = alpha + (1 - 2 alpha) (x - lo) / (hi - lo)
 * (RealNVP's preprocessing, Dinh et al. 2017), and standardize and transport y instead of x. A
 * density that crowds against an end of the range, like the many dequantized zeros of an image, is
 * spread out in y, where the field can follow it. Log-densities add sum_j log dy_j/dx_j; samples are
 * mapped back by x = lo + (hi - lo) (sigmoid(y) - alpha) / (1 - 2 alpha), so they lie within
 * (hi - lo) alpha / (1 - 2 alpha) of the box. A row outside that support has log-density -inf.
 * Loading checks every member (presence, type, range), rebuilds the field with exactly the recorded
 * settings, and requires every tensor with its registered shape and no other tensor but "fit.*".
 * Any problem is VF_ERR_FORMAT (VF_ERR_IO when the file cannot be read) naming the file and what is
 * wrong.
 */
#ifndef VF_CNF_MODEL_H
#define VF_CNF_MODEL_H

#include "vf_cfm.h"
#include "vf_model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VF_CNF_MODEL_FORMAT "varflow.cnf"
#define VF_CNF_MODEL_FORMAT_VERSION 2 /* the largest version this library reads */

/* The training objectives (how the field is trained; the model file records it):
 *   cfm       I-CFM: linear path, sigma 0, independent coupling (Tong et al. 2024)
 *   otcfm     OT-CFM: linear path, sigma 0, exact minibatch OT coupling
 *   sbcfm     SB-CFM: Brownian bridge, sigma 0.1, Sinkhorn coupling at eps = 2 sigma^2
 *   fm        Lipman et al. (2023): their path with sigma_min 1e-4, independent coupling
 *   rf        rectified flow: linear path, sigma 0, independent coupling (reflow retrains on pairs)
 *   si        stochastic interpolant: a = 1 - t, b = t, g = sqrt(sigma t (1 - t)), sigma 1
 *   meanflow  MeanFlow: linear path, exact minibatch OT pairs, a two-time field u(x, s, e), 1- or k-step sampling */
typedef enum vf_cnf_objective {
    VF_CNF_CFM = 0,
    VF_CNF_OTCFM,
    VF_CNF_SBCFM,
    VF_CNF_FM,
    VF_CNF_RF,
    VF_CNF_SI,
    VF_CNF_MEANFLOW,
    VF_CNF_OBJECTIVE_COUNT
} vf_cnf_objective;

/* "cfm", "otcfm", ...; -1 for an unknown name. */
int vf_cnf_objective_from_name(const char *name);
const char *vf_cnf_objective_name(vf_cnf_objective o);

typedef enum vf_cnf_source_kind {
    VF_CNF_SOURCE_GAUSSIAN = 0,  /* N(0, I) */
    VF_CNF_SOURCE_STUDENT_T,     /* independent standard t(df) per dimension */
    VF_CNF_SOURCE_DATA           /* rows given by the caller (data-to-data transport) */
} vf_cnf_source_kind;

typedef struct vf_cnf_source {
    vf_cnf_source_kind kind;
    double df;                   /* Student-t: degrees of freedom, > 0 (default 5; 0 for the others) */
} vf_cnf_source;

typedef struct vf_cnf_spec {
    vf_cnf_objective objective;
    vf_path path;                /* the objective's path (defaults above) */
    vf_coupling coupling;        /* the objective's coupling (defaults above) */
    vf_cnf_source source;        /* default Gaussian */
    double p_uncond;             /* label dropout in training, 0 <= p <= 1 (default 0; 0.1 when classes > 0 is usual) */
    int score;                   /* 1: a second field "score.*" learns the marginal score (vf_cfm_score_loss), so the
                                  * SDE solvers can sample; needs a path with noise (default 1 for sbcfm and si) */
    vf_vfield_params field;      /* vf_vfield_default_params(dim); two_times = 1 for meanflow; context must be 0 */
} vf_cnf_spec;

/* The objective's defaults for data of dimension dim. */
vf_cnf_spec vf_cnf_spec_default(vf_cnf_objective objective, int64_t dim);

/* Data on a box (above): off unless hi > lo. */
typedef struct vf_cnf_box {
    double lo, hi;               /* every column's range (default 0, 0: no box) */
    double alpha;                /* how far inside (0, 1) the ends are squeezed, 0 <= alpha < 0.5 (default 1e-6) */
} vf_cnf_box;

#define VF_CNF_BOX_ALPHA 1e-6

/* A model: its spec, the field and its parameters (owned; "field.*"), the standardization and the
 * box. */
typedef struct vf_cnf_model {
    vf_cnf_spec spec;
    vf_params *params;           /* finalized */
    vf_vfield *field;
    vf_vfield *score;            /* the score field (same architecture) when spec.score, else NULL */
    vf_real *mean, *std;         /* [dim] each: z = (y - mean) / std (default 0 and 1; y = x without a box) */
    vf_cnf_box box;              /* default none */
} vf_cnf_model;

/* A new model with parameters initialized from seed. VF_ERR_ARG for an invalid spec (unknown
 * objective, path or coupling, a source df <= 0, p_uncond outside [0, 1], a context, a meanflow
 * objective without two_times or another with it, the field's own checks). */
vf_status vf_cnf_model_new(const vf_cnf_spec *spec, uint64_t seed, vf_cnf_model **out);
void vf_cnf_model_free(vf_cnf_model *m);
/* mean [dim], std [dim] (finite; std > 0) copied into the model. */
vf_status vf_cnf_model_set_standardization(vf_cnf_model *m, const vf_real *mean, const vf_real *std);
/* Puts the model's data on the box [lo, hi] (finite, lo < hi) with 0 <= alpha < 0.5; the
 * standardization then applies to the logits y. VF_ERR_ARG otherwise; a data-source model takes
 * no box (VF_ERR_UNSUPPORTED). lo = hi = 0 removes the box. */
vf_status vf_cnf_model_set_box(vf_cnf_model *m, double lo, double hi, double alpha);
/* y [n, dim] = the box's logits of x [n, dim] (may be the same array), a copy without a box.
 * VF_ERR_ARG naming the first value outside the support. */
vf_status vf_cnf_model_box_logits(const vf_cnf_model *m, int64_t n, const vf_real *x, vf_real *y);
/* Number of scalar parameters. */
int64_t vf_cnf_model_param_count(const vf_cnf_model *m);

/* Write the model atomically, with n_extra metadata pairs (keys may not be "format",
 * "format_version" or "cnf") and n_tensors training-state tensors named "fit.*" (either may be 0
 * with NULL arrays). VF_ERR_ARG for bad arguments, VF_ERR_IO when the file cannot be written. */
vf_status vf_cnf_model_save(const vf_cnf_model *m, const char *path, int64_t n_extra, const char *const *keys,
                            const char *const *values, int64_t n_tensors, const vf_model_tensor *tensors);
/* Read a model file into *out (free with vf_cnf_model_free); extra (may be NULL) receives the
 * non-reserved metadata. On failure *out is NULL, extra is empty and nothing is leaked. */
vf_status vf_cnf_model_load(const char *path, vf_cnf_model **out, vf_model_meta *extra);
/* 1 when path is a readable safetensors file whose "format" is "varflow.cnf", else 0. */
int vf_cnf_model_file_is_cnf(const char *path);

/* x0 [n, dim]: n draws of the source (standardized coordinates). VF_ERR_UNSUPPORTED for a data
 * source. */
vf_status vf_cnf_model_source_sample(const vf_cnf_model *m, int64_t n, vf_rng *r, vf_real *x0);
/* log_prob [n] of the source at x0 [n, dim]. VF_ERR_UNSUPPORTED for a data source. */
vf_status vf_cnf_model_source_log_prob(const vf_cnf_model *m, int64_t n, const vf_real *x0, vf_real *log_prob);

typedef struct vf_cnf_sample_options {
    vf_ode_options ode;               /* solver, steps, rtol, atol (default rk4, 100 steps); MeanFlow: steps jumps */
    double guidance;                  /* classifier-free guidance w (default 0; needs classes and labels) */
    vf_cfm_density_options density;   /* exact divergence (default) or Hutchinson with fixed probes */
} vf_cnf_sample_options;

vf_cnf_sample_options vf_cnf_sample_default_options(void);

/* n samples x [n, dim] (original units). An SDE solver (em, sheun) needs a model with a score
 * field and takes no guidance or log-densities; its noise comes from r. source [n, dim]: the starting points (required for a data
 * source, else NULL to draw from the model's source with r). labels [n] in 0..classes-1, or NULL
 * (the null label: the unconditional field). log_prob [n] or NULL: the log-densities of the samples
 * from the same solve (the divergence integrated along; not for data sources or MeanFlow). stats
 * (may be NULL) receives the solve's NFE. Errors: VF_ERR_ARG for a label outside the model's
 * labels (naming the row), guidance without a labelled model and labels, an SDE solver without a
 * score field, bad ODE options (steps < 1, ...); VF_ERR_UNSUPPORTED for log-densities of a data
 * source or MeanFlow model (vf_cnf_model_log_prob gives the latter's ODE density) or of an SDE solve, or guidance with MeanFlow or an SDE solver;
 * VF_ERR_NUMERIC for a diverging solve, or a sample (or its log-density) that is not finite in the
 * data's units, naming its row. */
vf_status vf_cnf_model_sample(const vf_cnf_model *m, int64_t n, const vf_real *source, const int64_t *labels,
                              vf_rng *r, const vf_cnf_sample_options *o, vf_real *x, vf_real *log_prob,
                              vf_ode_stats *stats);

/* vf_cnf_model_sample (no log-densities) that also measures the kinetic energy of the sampling path:
 *   *energy = mean_i sum_k |x_{k+1, i} - x_{k, i}|^2 / (t_{k+1} - t_k)
 * over the fixed steps k of an ODE solver (original units), which for Euler is exactly its quadrature
 * of E int |v(x_t, t)|^2 dt ([SF]2M's path energy, whose excess over W2^2 measures how far the flow
 * is from the optimal transport); with a box, in the units of the logits y. VF_ERR_UNSUPPORTED for dopri5, an SDE solver or a MeanFlow model;
 * otherwise as vf_cnf_model_sample. */
vf_status vf_cnf_model_sample_energy(const vf_cnf_model *m, int64_t n, const vf_real *source, const int64_t *labels,
                                     vf_rng *r, const vf_cnf_sample_options *o, vf_real *x, double *energy,
                                     vf_ode_stats *stats);

/* log_prob [n] of the rows x [n, dim] (original units), by solving the ODE from 1 back to 0 with the
 * divergence (o->density) and adding the source's log-density and the standardization's (and the
 * box's) Jacobian; -inf for a row outside the box's support.
 * For a MeanFlow model the ODE is that of its instantaneous velocity u(x, t, t): the density of the
 * flow its k-step jump sampler approaches as k grows (not of the 1-step samples themselves).
 * labels as vf_cnf_model_sample; guidance gives the density of the guided flow. Errors as
 * vf_cnf_model_sample, and VF_ERR_NUMERIC naming the first NaN in x (box or not). */
vf_status vf_cnf_model_log_prob(const vf_cnf_model *m, int64_t n, const vf_real *x, const int64_t *labels,
                                const vf_cnf_sample_options *o, vf_real *log_prob, vf_ode_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
