/* cnf_model.c — a continuous-flow model (vf_cnf_model.h): the objective's defaults, construction,
 * the standardization, the source distribution, and sampling and log-densities through the ODE in
 * standardized coordinates. The file format is in cnf_model_file.c. */
#include <math.h>
#include <string.h>
#include "ad/ad_internal.h"
#include "cnf/cnf_internal.h"
#include "internal.h"
#include "varflow/vf_cnf_model.h"
#include "varflow/vf_dist.h"
#include "varflow/vf_eval.h"

static const char *const objective_names[VF_CNF_OBJECTIVE_COUNT] = {"cfm", "otcfm", "sbcfm", "fm", "rf", "si",
                                                                     "meanflow"};

int vf_cnf_objective_from_name(const char *name)
{
    for (int k = 0; name && k < VF_CNF_OBJECTIVE_COUNT; k++)
        if (strcmp(name, objective_names[k]) == 0) return k;
    return -1;
}

const char *vf_cnf_objective_name(vf_cnf_objective o)
{
    return (int)o >= 0 && o < VF_CNF_OBJECTIVE_COUNT ? objective_names[o] : "unknown";
}

vf_cnf_spec vf_cnf_spec_default(vf_cnf_objective objective, int64_t dim)
{
    vf_cnf_spec s;
    memset(&s, 0, sizeof s);
    s.objective = objective;
    s.path = vf_path_default(VF_PATH_LINEAR);
    s.coupling = vf_coupling_default(VF_COUPLING_INDEPENDENT);
    s.source.kind = VF_CNF_SOURCE_GAUSSIAN;
    s.field = vf_vfield_default_params(dim);
    switch (objective) {
    case VF_CNF_OTCFM: s.coupling = vf_coupling_default(VF_COUPLING_OT); break;
    case VF_CNF_SBCFM:
        s.path = vf_path_default(VF_PATH_BRIDGE); /* sigma 0.1 */
        s.coupling = vf_coupling_default(VF_COUPLING_SINKHORN);
        s.coupling.eps = 2 * s.path.sigma * s.path.sigma;
        /* POT's iteration limit (torchcfm's sampler calls POT): 100 left the plan at eps 0.02 far from
         * converged and the flow distorted (docs/cnf.md); the marginal tolerance (1e-6) stops easy
         * batches sooner. ~0.1 ms an iteration at batch 512 (VF_SINKHORN_SCALING). */
        s.coupling.max_iter = 1000;
        s.score = 1;
        break;
    case VF_CNF_FM: s.path = vf_path_default(VF_PATH_LIPMAN); break;
    case VF_CNF_SI:
        s.path = vf_path_default(VF_PATH_SI_SQRT);
        s.score = 1;
        break;
    case VF_CNF_MEANFLOW: /* OT pairs: straighter paths, which one jump learns better (docs/cnf.md) */
        s.field.two_times = 1;
        s.coupling = vf_coupling_default(VF_COUPLING_OT);
        break;
    default: break;
    }
    return s;
}

static vf_status check_spec(const vf_cnf_spec *s)
{
    if ((int)s->objective < 0 || s->objective >= VF_CNF_OBJECTIVE_COUNT)
        return vf__error(VF_ERR_ARG, "cnf model: unknown objective %d", (int)s->objective);
    if ((int)s->path.kind < 0 || s->path.kind >= VF_PATH_COUNT || !(s->path.sigma >= 0) || !isfinite(s->path.sigma))
        return vf__error(VF_ERR_ARG, "cnf model: bad path (kind %d, sigma %g)", (int)s->path.kind, s->path.sigma);
    if ((int)s->coupling.kind < 0 || s->coupling.kind > VF_COUPLING_SINKHORN || !(s->coupling.eps > 0) ||
        !isfinite(s->coupling.eps) || s->coupling.max_iter < 1)
        return vf__error(VF_ERR_ARG, "cnf model: bad coupling (kind %d, eps %g, max_iter %lld)", (int)s->coupling.kind,
                         s->coupling.eps, (long long)s->coupling.max_iter);
    if ((int)s->source.kind < 0 || s->source.kind > VF_CNF_SOURCE_DATA)
        return vf__error(VF_ERR_ARG, "cnf model: unknown source kind %d", (int)s->source.kind);
    if (s->source.kind == VF_CNF_SOURCE_STUDENT_T && !(s->source.df > 0 && isfinite(s->source.df)))
        return vf__error(VF_ERR_ARG, "cnf model: the Student-t source needs df > 0 (got %g)", s->source.df);
    if (!(s->p_uncond >= 0 && s->p_uncond <= 1))
        return vf__error(VF_ERR_ARG, "cnf model: p_uncond must be in [0, 1] (got %g)", s->p_uncond);
    if (s->field.context != 0) return vf__error(VF_ERR_ARG, "cnf model: fields with a context are not supported");
    if (s->score != 0 && s->score != 1) return vf__error(VF_ERR_ARG, "cnf model: score must be 0 or 1 (got %d)", s->score);
    if (s->score && (s->objective == VF_CNF_MEANFLOW || !(s->path.sigma > 0) || s->path.kind == VF_PATH_LIPMAN ||
                     s->path.kind == VF_PATH_VP))
        return vf__error(VF_ERR_ARG, "cnf model: a score field needs a path with noise (bridge, si_sqrt, si_sin2, or "
                         "linear with sigma > 0) and not MeanFlow");
    if ((s->objective == VF_CNF_MEANFLOW) != (s->field.two_times != 0))
        return vf__error(VF_ERR_ARG, "cnf model: a two-time field goes with the meanflow objective and only with it");
    return VF_OK;
}

vf_status vf_cnf_model_new(const vf_cnf_spec *spec, uint64_t seed, vf_cnf_model **out)
{
    if (!spec || !out) return vf__error(VF_ERR_ARG, "cnf model: NULL argument");
    *out = NULL;
    vf_status s = check_spec(spec);
    if (s != VF_OK) return s;
    vf_cnf_model *m = vf_calloc(1, sizeof *m);
    if (!m) return vf__error(VF_ERR_NOMEM, "cnf model: out of memory");
    m->spec = *spec;
    int64_t d = spec->field.dim > 0 ? spec->field.dim : 1;
    m->params = vf_params_new();
    m->mean = vf_malloc((size_t)d * sizeof *m->mean);
    m->std = vf_malloc((size_t)d * sizeof *m->std);
    if (!m->params || !m->mean || !m->std) s = vf__error(VF_ERR_NOMEM, "cnf model: out of memory");
    if (s == VF_OK) s = vf_vfield_new(m->params, "field", &spec->field, &m->field);
    if (s == VF_OK && spec->score) s = vf_vfield_new(m->params, "score", &spec->field, &m->score);
    if (s == VF_OK) s = vf_params_finalize(m->params, seed);
    if (s != VF_OK) {
        vf_cnf_model_free(m);
        return s;
    }
    for (int64_t j = 0; j < d; j++) m->mean[j] = 0, m->std[j] = 1;
    m->box.alpha = VF_CNF_BOX_ALPHA;
    *out = m;
    return VF_OK;
}

void vf_cnf_model_free(vf_cnf_model *m)
{
    if (!m) return;
    vf_vfield_free(m->field);
    vf_vfield_free(m->score);
    vf_params_free(m->params);
    vf_free(m->mean);
    vf_free(m->std);
    vf_free(m);
}

vf_status vf_cnf_model_set_standardization(vf_cnf_model *m, const vf_real *mean, const vf_real *std)
{
    if (!m || !mean || !std) return vf__error(VF_ERR_ARG, "cnf model: NULL standardization");
    for (int64_t j = 0; j < m->spec.field.dim; j++)
        if (!isfinite((double)mean[j]) || !(std[j] > 0) || !isfinite((double)std[j]))
            return vf__error(VF_ERR_ARG, "cnf model: column %lld: the mean must be finite and the std finite and > 0 "
                             "(got %g, %g)", (long long)j, (double)mean[j], (double)std[j]);
    memcpy(m->mean, mean, (size_t)m->spec.field.dim * sizeof *mean);
    memcpy(m->std, std, (size_t)m->spec.field.dim * sizeof *std);
    return VF_OK;
}

int64_t vf_cnf_model_param_count(const vf_cnf_model *m) { return m ? vf_params_size(m->params) : 0; }

/* ---- the source ------------------------------------------------------------------------------ */

vf_status vf_cnf_model_source_sample(const vf_cnf_model *m, int64_t n, vf_rng *r, vf_real *x0)
{
    if (!m || !r || n < 0 || (n > 0 && !x0)) return vf__error(VF_ERR_ARG, "cnf source: bad arguments");
    int64_t d = m->spec.field.dim;
    switch (m->spec.source.kind) {
    case VF_CNF_SOURCE_GAUSSIAN: vf_rng_normal_fill(r, x0, (size_t)(n * d), 0.0, 1.0); return VF_OK;
    case VF_CNF_SOURCE_STUDENT_T: { /* eps / sqrt(g / df), g ~ chi^2(df) = 2 Gamma(df / 2) */
        double df = m->spec.source.df;
        for (int64_t i = 0; i < n * d; i++) {
            double eps = vf_rng_normal(r), g = 2 * vf_gamma_draw(r, 0.5 * df);
            x0[i] = (vf_real)(eps / sqrt(g / df));
        }
        return VF_OK;
    }
    default:
        return vf__error(VF_ERR_UNSUPPORTED, "cnf source: a data source has no draws of its own (give the source rows)");
    }
}

vf_status vf_cnf_model_source_log_prob(const vf_cnf_model *m, int64_t n, const vf_real *x0, vf_real *log_prob)
{
    if (!m || n < 0 || (n > 0 && (!x0 || !log_prob))) return vf__error(VF_ERR_ARG, "cnf source: bad arguments");
    int64_t d = m->spec.field.dim;
    const double half_log_2pi = 0.91893853320467274178;
    double df = m->spec.source.df;
    double t_norm = m->spec.source.kind == VF_CNF_SOURCE_STUDENT_T
                        ? lgamma(0.5 * (df + 1)) - lgamma(0.5 * df) - 0.5 * log(df * VF_PI) : 0;
    for (int64_t i = 0; i < n; i++) {
        double lp = 0;
        for (int64_t j = 0; j < d; j++) {
            double z = (double)x0[i * d + j];
            switch (m->spec.source.kind) {
            case VF_CNF_SOURCE_GAUSSIAN: lp += -0.5 * z * z - half_log_2pi; break;
            case VF_CNF_SOURCE_STUDENT_T: lp += t_norm - 0.5 * (df + 1) * log1p(z * z / df); break;
            default: return vf__error(VF_ERR_UNSUPPORTED, "cnf source: a data source has no log-density");
            }
        }
        log_prob[i] = (vf_real)lp;
    }
    return VF_OK;
}

/* ---- sampling and log-densities ----------------------------------------------------------------- */

vf_cnf_sample_options vf_cnf_sample_default_options(void)
{
    vf_cnf_sample_options o;
    o.ode = vf_ode_default_options();
    o.guidance = 0;
    o.density = vf_cfm_density_default_options();
    return o;
}

/* The checks sample and log_prob share: labels, guidance, the solver. */
static vf_status check_call(const vf_cnf_model *m, const char *what, int64_t n, const int64_t *labels,
                            const vf_cnf_sample_options *o)
{
    int64_t k = m->spec.field.classes;
    if (labels && k < 1) return vf__error(VF_ERR_ARG, "%s: the model has no class labels", what);
    for (int64_t i = 0; labels && i < n; i++)
        if (labels[i] < 0 || labels[i] >= k)
            return vf__error(VF_ERR_ARG, "%s: label %lld of row %lld is outside the model's labels 0..%lld", what,
                             (long long)labels[i], (long long)i, (long long)(k - 1));
    if (!isfinite(o->guidance)) return vf__error(VF_ERR_ARG, "%s: guidance must be finite (got %g)", what, o->guidance);
    if (o->guidance != 0 && (k < 1 || !labels))
        return vf__error(VF_ERR_ARG, "%s: guidance needs a class-conditional model and labels", what);
    if ((int)o->ode.solver < 0 || o->ode.solver >= VF_SOLVER_COUNT)
        return vf__error(VF_ERR_ARG, "%s: unknown solver %d", what, (int)o->ode.solver);
    if (vf_solver_is_stochastic(o->ode.solver) && !m->score)
        return vf__error(VF_ERR_ARG, "%s: the SDE solver %s needs a learned score, which this model does not have", what,
                         vf_solver_name(o->ode.solver));
    if (o->ode.steps < 1) return vf__error(VF_ERR_ARG, "%s: steps must be >= 1 (got %lld)", what, (long long)o->ode.steps);
    return VF_OK;
}

/* sum_j log std_j */
static double log_std_sum(const vf_cnf_model *m)
{
    double s = 0;
    for (int64_t j = 0; j < m->spec.field.dim; j++) s += log((double)m->std[j]);
    return s;
}

/* ---- the SDE dx = [v + (sigma^2 / 2) s] dt + sigma dW ------------------------------------------ */

typedef struct sde_ctx {
    const vf_cnf_model *m;
    vf__tape_pool *pool;       /* the tapes, one per thread */
    const int64_t *labels;
    double half_var;           /* sigma^2 / 2 */
    vf_real *time;             /* [VF_EVAL_BLOCK_ROWS], the evaluation's time */
    int64_t n;                 /* rows */
    const vf_real *x;          /* [n, d]: the evaluation's points */
    vf_real *dxdt;             /* [n, d]: their drifts */
} sde_ctx;

/* The drift of one block of rows, on tape t (inference mode). */
static vf_status sde_drift_block(void *ctx, vf_tape *t, int worker, int64_t start, int64_t rows)
{
    (void)worker;
    sde_ctx *c = ctx;
    int64_t d = c->m->spec.field.dim;
    vf_tape_reset(t);
    vf_var xv = vf_input(t, c->x + start * d, 2, (int64_t[]){rows, d});
    vf_var tv = vf_input(t, c->time, 2, (int64_t[]){rows, 1});
    const int64_t *lab = c->labels ? c->labels + start : NULL;
    vf_var v = vf_vfield_forward(c->m->field, c->m->params, t, xv, tv, VF_NOVAR, VF_NOVAR, lab);
    vf_var sc = vf_vfield_forward(c->m->score, c->m->params, t, xv, tv, VF_NOVAR, VF_NOVAR, lab);
    vf_var out = vf_add(t, v, vf_scale(t, sc, c->half_var));
    vf_status s = vf_tape_status(t);
    if (s != VF_OK) return vf__error(s, "cnf sample: %s", vf_tape_error(t));
    memcpy(c->dxdt + start * d, vf_value(t, out)->data, (size_t)(rows * d) * sizeof *c->dxdt);
    return VF_OK;
}

/* The drift of all rows, the blocks on the pool's threads. */
static vf_status sde_drift(void *ctx, double tm, int64_t size, const vf_real *x, vf_real *dxdt)
{
    sde_ctx *c = ctx;
    for (int64_t i = 0; i < VF_EVAL_BLOCK_ROWS; i++) c->time[i] = (vf_real)tm;
    c->n = size / c->m->spec.field.dim;
    c->x = x;
    c->dxdt = dxdt;
    return vf__tape_pool_run(c->pool, c->n, sde_drift_block, c);
}

static vf_status sample_sde(const vf_cnf_model *m, int64_t n, vf_real *x, const int64_t *labels, vf_rng *r,
                            const vf_cnf_sample_options *o, vf_ode_stats *stats)
{
    double sigma = o->ode.sigma > 0 ? o->ode.sigma : m->spec.path.sigma;
    if (!(sigma > 0) || !isfinite(sigma))
        return vf__error(VF_ERR_ARG, "cnf sample: the SDE needs a diffusion sigma > 0 (got %g)", sigma);
    vf__tape_pool pool;
    sde_ctx c = {m, &pool, labels, 0.5 * sigma * sigma, NULL, 0, NULL, NULL};
    /* one tape per thread, in inference mode with the parameters frozen over the solve (layers keep
     * their packed weights) */
    vf_status s = vf__tape_pool_open(&pool, NULL, n, VF__POOL_INFERENCE);
    if (s == VF_OK && !(c.time = vf_malloc(VF_EVAL_BLOCK_ROWS * sizeof(vf_real))))
        s = vf__error(VF_ERR_NOMEM, "cnf sample: out of memory");
    if (s == VF_OK) {
        vf_ode_options so = o->ode;
        so.sigma = sigma;
        s = vf_sde_solve(sde_drift, NULL, &c, n * m->spec.field.dim, x, 0.0, 1.0, &so, r, stats);
    }
    vf__tape_pool_close(&pool);
    vf_free(c.time);
    return s;
}

/* The checks every sampler starts with: arguments, labels and options (check_call), a source for a
 * data-to-data model, a generator when the source is drawn; stats zeroed. */
static vf_status start_checks(const vf_cnf_model *m, int64_t n, const vf_real *source, const int64_t *labels, vf_rng *r,
                              const vf_cnf_sample_options *o, vf_real *x, vf_ode_stats *stats)
{
    if (!m || !o || n < 0 || (n > 0 && !x)) return vf__error(VF_ERR_ARG, "cnf sample: bad arguments");
    if (stats) memset(stats, 0, sizeof *stats);
    vf_status s = check_call(m, "cnf sample", n, labels, o);
    if (s != VF_OK) return s;
    if (m->spec.source.kind == VF_CNF_SOURCE_DATA && !source)
        return vf__error(VF_ERR_ARG, "cnf sample: the model transports data: give the source rows");
    if (!source && !r) return vf__error(VF_ERR_ARG, "cnf sample: NULL random generator");
    return VF_OK;
}

/* x [n, dim] from the field's (standardized) coordinates to the data's: mean + std x. */
static void to_original_units(const vf_cnf_model *m, int64_t n, vf_real *x)
{
    int64_t d = m->spec.field.dim;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) x[i * d + j] = m->mean[j] + m->std[j] * x[i * d + j];
}

/* With a box: the logits x [n, dim] to the data's units, and log_prob [n] (when not NULL) from the
 * density of the logits to that of the data. */
static vf_status from_box(const vf_cnf_model *m, int64_t n, vf_real *x, vf_real *log_prob)
{
    if (!vf__cnf_box_on(&m->box)) return VF_OK;
    double *logdet = log_prob ? vf_malloc((size_t)n * sizeof *logdet) : NULL;
    if (log_prob && !logdet) return vf__error(VF_ERR_NOMEM, "cnf sample: out of memory for %lld rows", (long long)n);
    vf__cnf_box_from_field(&m->box, n, m->spec.field.dim, x, logdet);
    for (int64_t i = 0; log_prob && i < n; i++) log_prob[i] = (vf_real)((double)log_prob[i] + logdet[i]);
    vf_free(logdet);
    return VF_OK;
}

/* VF_ERR_NUMERIC naming the first row whose point x [n, dim] (NULL: none) is not finite or whose
 * log-density log_prob [n] (NULL: none) is NaN or +inf: back in the data's units a point the field
 * left finite can still overflow (a standardization's scale near the largest float). */
static vf_status check_rows(const char *what, int64_t n, int64_t d, const vf_real *x, const vf_real *log_prob)
{
    for (int64_t i = 0; i < n; i++) {
        int bad = log_prob && (isnan((double)log_prob[i]) || log_prob[i] == INFINITY);
        for (int64_t j = 0; x && j < d; j++) bad |= !isfinite((double)x[i * d + j]);
        if (bad) return vf__error(VF_ERR_NUMERIC, "%s: row %lld gives a non-finite result", what, (long long)i);
    }
    return VF_OK;
}

/* x [n, dim] = the given source rows, or n draws of the model's source. */
static vf_status start_points(const vf_cnf_model *m, int64_t n, const vf_real *source, vf_rng *r, vf_real *x)
{
    if (!source) return vf_cnf_model_source_sample(m, n, r, x);
    memcpy(x, source, (size_t)(n * m->spec.field.dim) * sizeof *x);
    return VF_OK;
}

vf_status vf_cnf_model_sample(const vf_cnf_model *m, int64_t n, const vf_real *source, const int64_t *labels,
                              vf_rng *r, const vf_cnf_sample_options *o, vf_real *x, vf_real *log_prob,
                              vf_ode_stats *stats)
{
    vf_status s = start_checks(m, n, source, labels, r, o, x, stats);
    if (s != VF_OK) return s;
    int data = m->spec.source.kind == VF_CNF_SOURCE_DATA, mf = m->spec.objective == VF_CNF_MEANFLOW;
    if (log_prob && (data || mf))
        return vf__error(VF_ERR_UNSUPPORTED, "cnf sample: a %s model has no log-density",
                         data ? "data-to-data" : "MeanFlow");
    if (mf && o->guidance != 0) return vf__error(VF_ERR_UNSUPPORTED, "cnf sample: MeanFlow sampling takes no guidance");
    int sde = vf_solver_is_stochastic(o->ode.solver);
    if (sde && (log_prob || o->guidance != 0))
        return vf__error(VF_ERR_UNSUPPORTED, "cnf sample: an SDE solve gives no log-densities and takes no guidance");
    if (sde && !r) return vf__error(VF_ERR_ARG, "cnf sample: the SDE solver needs a random generator");
    if (n == 0) return VF_OK;
    if ((s = start_points(m, n, source, r, x)) != VF_OK) return s;
    if (log_prob && (s = vf_cnf_model_source_log_prob(m, n, x, log_prob)) != VF_OK) return s;
    if (sde) {
        s = sample_sde(m, n, x, labels, r, o, stats);
    } else if (mf) {
        s = vf_meanflow_sample(m->field, m->params, NULL, n, x, NULL, labels, o->ode.steps);
        if (s == VF_OK && stats) stats->nfe = stats->steps = o->ode.steps;
    } else if (!log_prob) {
        s = vf_cfm_transport_guided(m->field, m->params, NULL, n, x, NULL, labels, o->guidance, 0.0, 1.0, &o->ode, stats);
    } else {
        vf_real *div = vf_malloc((size_t)n * sizeof *div);
        if (!div) return vf__error(VF_ERR_NOMEM, "cnf sample: out of memory for %lld rows", (long long)n);
        s = vf_cfm_transport_divergence(m->field, m->params, NULL, n, x, NULL, labels, o->guidance, 0.0, 1.0, &o->ode,
                                        &o->density, div, stats);
        double jac = log_std_sum(m);
        for (int64_t i = 0; s == VF_OK && i < n; i++)
            log_prob[i] = (vf_real)((double)log_prob[i] - (double)div[i] - jac);
        vf_free(div);
    }
    if (s != VF_OK) return s;
    to_original_units(m, n, x);
    if ((s = from_box(m, n, x, log_prob)) != VF_OK) return s;
    return check_rows("cnf sample", n, m->spec.field.dim, x, log_prob);
}

vf_status vf_cnf_model_sample_energy(const vf_cnf_model *m, int64_t n, const vf_real *source, const int64_t *labels,
                                     vf_rng *r, const vf_cnf_sample_options *o, vf_real *x, double *energy,
                                     vf_ode_stats *stats)
{
    if (!energy) return vf__error(VF_ERR_ARG, "cnf sample: bad arguments");
    if (o->ode.solver == VF_SOLVER_DOPRI5 || vf_solver_is_stochastic(o->ode.solver) ||
        m->spec.objective == VF_CNF_MEANFLOW)
        return vf__error(VF_ERR_UNSUPPORTED, "cnf sample: the path energy needs a fixed-step ODE solver (not %s)",
                         m->spec.objective == VF_CNF_MEANFLOW ? "MeanFlow" : vf_solver_name(o->ode.solver));
    if (o->ode.steps < 1) return vf__error(VF_ERR_ARG, "cnf sample: steps = %lld < 1", (long long)o->ode.steps);
    vf_status s = start_checks(m, n, source, labels, r, o, x, stats);
    if (s != VF_OK) return s;
    *energy = 0;
    if (n == 0) return VF_OK;
    int64_t d = m->spec.field.dim, steps = o->ode.steps;
    if ((s = start_points(m, n, source, r, x)) != VF_OK) return s;
    vf_real *prev = vf_malloc((size_t)(n * d) * sizeof *prev);
    if (!prev) return vf__error(VF_ERR_NOMEM, "cnf sample: out of memory for %lld rows", (long long)n);
    vf_ode_options one = o->ode;
    one.steps = 1;
    one.grid = NULL;
    one.progress = NULL; /* one step at a time: the fraction of a one-step solve means nothing here */
    double total = 0;
    vf_ode_stats st = {0};
    for (int64_t k = 0; k < steps && s == VF_OK; k++) {
        double t0 = o->ode.grid ? o->ode.grid[k] : (double)k / (double)steps;
        double t1 = o->ode.grid ? o->ode.grid[k + 1] : (double)(k + 1) / (double)steps;
        memcpy(prev, x, (size_t)(n * d) * sizeof *x);
        vf_ode_stats sk;
        s = vf_cfm_transport_guided(m->field, m->params, NULL, n, x, NULL, labels, o->guidance, t0, t1, &one, &sk);
        st.nfe += sk.nfe;
        st.steps += sk.steps;
        double sum = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < d; j++) {
                double dx = (double)m->std[j] * ((double)x[i * d + j] - (double)prev[i * d + j]);
                sum += dx * dx;
            }
        total += sum / fabs(t1 - t0);
    }
    vf_free(prev);
    if (s != VF_OK) return s;
    if (stats) *stats = st;
    *energy = total / (double)n;
    to_original_units(m, n, x);
    if ((s = from_box(m, n, x, NULL)) != VF_OK) return s;
    if (!isfinite(*energy)) return vf__error(VF_ERR_NUMERIC, "cnf sample: the path energy is not finite");
    return check_rows("cnf sample", n, d, x, NULL);
}

vf_status vf_cnf_model_log_prob(const vf_cnf_model *m, int64_t n, const vf_real *x, const int64_t *labels,
                                const vf_cnf_sample_options *o, vf_real *log_prob, vf_ode_stats *stats)
{
    if (!m || !o || n < 0 || (n > 0 && (!x || !log_prob))) return vf__error(VF_ERR_ARG, "cnf log_prob: bad arguments");
    if (stats) memset(stats, 0, sizeof *stats);
    vf_status s = check_call(m, "cnf log_prob", n, labels, o);
    if (s != VF_OK) return s;
    /* MeanFlow: the density of the ODE of its instantaneous velocity u(x, t, t), the flow its k-step
     * jumps approach as k grows */
    if (m->spec.source.kind == VF_CNF_SOURCE_DATA)
        return vf__error(VF_ERR_UNSUPPORTED, "cnf log_prob: a data-to-data model has no log-density");
    if (n == 0) return VF_OK;
    int64_t d = m->spec.field.dim;
    for (int64_t i = 0; i < n * d; i++) /* a NaN is no point, inside or outside a box: no log-density */
        if (isnan((double)x[i]))
            return vf__error(VF_ERR_NUMERIC, "cnf log_prob: row %lld column %lld is NaN", (long long)(i / d),
                             (long long)(i % d));
    int box = vf__cnf_box_on(&m->box);
    vf_real *z = vf_malloc((size_t)(n * d) * sizeof *z), *div = vf_malloc((size_t)n * sizeof *div);
    double *logdet = box ? vf_malloc((size_t)n * sizeof *logdet) : NULL;
    unsigned char *outside = box ? vf_malloc((size_t)n) : NULL;
    if (!z || !div || (box && (!logdet || !outside))) {
        vf_free(z);
        vf_free(div);
        vf_free(logdet);
        vf_free(outside);
        return vf__error(VF_ERR_NOMEM, "cnf log_prob: out of memory for %lld rows", (long long)n);
    }
    const vf_real *y = x;
    if (box) { /* the logits (0 in a row outside the support, whose result is -inf below) */
        vf__cnf_box_to_field(&m->box, n, d, x, z, logdet, outside);
        y = z;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) z[i * d + j] = (y[i * d + j] - m->mean[j]) / m->std[j];
    /* z carried from 1 back to 0; div = integral_1^0 div v dt = -integral_0^1 */
    s = vf_cfm_transport_divergence(m->field, m->params, NULL, n, z, NULL, labels, o->guidance, 1.0, 0.0, &o->ode,
                                    &o->density, div, stats);
    if (s == VF_OK) s = vf_cnf_model_source_log_prob(m, n, z, log_prob);
    double jac = log_std_sum(m);
    for (int64_t i = 0; s == VF_OK && i < n; i++) {
        double lp = (double)log_prob[i] + (double)div[i] - jac;
        if (box) lp = outside[i] ? -INFINITY : lp + logdet[i];
        log_prob[i] = (vf_real)lp;
    }
    vf_free(z);
    vf_free(div);
    vf_free(logdet);
    vf_free(outside);
    return s == VF_OK ? check_rows("cnf log_prob", n, d, NULL, log_prob) : s;
}
