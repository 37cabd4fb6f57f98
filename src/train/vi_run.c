/* vi_run.c — vf_vi_run: what `varflow vi` does around vf_vi_train (the flow with its box map, the
 * checkpoints, the log, the importance-sampling summary, the metadata); vf_train.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train/train_internal.h"

#define fail(sm, st, s, ...) ((sm)->stage = (st), vf__train_fail((sm)->error, s, __VA_ARGS__))

vf_vi_run_options vf_vi_run_default_options(void)
{
    vf_vi_run_options o;
    memset(&o, 0, sizeof o);
    o.vi = vf_vi_default_options();
    o.box = -1;
    o.is_samples = 10000;
    return o;
}

double vf_vi_default_box(const vf_target *t)
{
    const char *n = t ? t->name : "";
    return strcmp(n, "u2") == 0 || strcmp(n, "u3") == 0 || strcmp(n, "u4") == 0 ? 4.0 : 0.0;
}

/* A new flow of spec for d columns: [atanh box map,] the preset; finalized. */
static vf_status new_flow(const char *spec, int64_t d, double box, uint64_t seed, vf_fitted **out, vf_vi_summary *sm)
{
    vf_params *p = vf_params_new();
    vf_flow *f = NULL;
    if (!p) return fail(sm, VF_FIT_STAGE_INPUT, VF_ERR_NOMEM, "out of memory");
    vf_status s;
    if (box > 0) {
        vf_tanh_params tp = vf_tanh_default_params(d);
        tp.scale = box;
        vf_transform *lead = NULL;
        s = vf_atanh_new(p, "transforms.0", &tp, &lead);
        if (s == VF_OK) s = vf_flow_from_spec_after(spec, d, 0, 1, &lead, p, &f);
    } else {
        s = vf_flow_from_spec(spec, d, 0, p, &f);
    }
    if (s == VF_OK) s = vf_params_finalize(p, seed);
    if (s != VF_OK) {
        fail(sm, s == VF_ERR_ARG ? VF_FIT_STAGE_SPEC : VF_FIT_STAGE_INPUT, s, "%s", vf_last_error());
        vf_flow_free(f);
        vf_params_free(p);
        return s;
    }
    if ((s = vf_fitted_from_flow(f, p, out)) != VF_OK) return fail(sm, VF_FIT_STAGE_INPUT, s, "out of memory");
    return VF_OK;
}

/* The run's settings (checked on resume by callers) as metadata on m. */
static vf_status settings_meta(vf_fitted *m, const vf_target *t, const char *spec, const vf_vi_run_options *o,
                               double box)
{
    char seed[32], batch[32], lr[40], bx[40], steps[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->vi.seed);
    snprintf(batch, sizeof batch, "%lld", (long long)o->vi.batch);
    snprintf(lr, sizeof lr, "%g", o->vi.lr);
    snprintf(bx, sizeof bx, "%g", box);
    snprintf(steps, sizeof steps, "%lld", (long long)o->vi.steps);
    const char *keys[] = {"vi.target", "vi.flow", "vi.objective", "vi.seed", "vi.batch", "vi.lr", "vi.box", "vi.steps",
                          "varflow_version"};
    const char *values[] = {o->target_spec ? o->target_spec : t->name, spec, vf_vi_objective_name(o->vi.objective),
                            seed, batch, lr, bx, steps, vf_version()};
    vf__fitted_clear_meta(m);
    vf_status s = VF_OK;
    for (int i = 0; s == VF_OK && i < (int)(sizeof keys / sizeof keys[0]); i++) s = vf_fitted_set_meta(m, keys[i], values[i]);
    if (s == VF_OK && o->vi.anneal > 0) { /* annealed runs only, so other runs' metadata is unchanged */
        char anneal[32], beta0[40];
        snprintf(anneal, sizeof anneal, "%lld", (long long)o->vi.anneal);
        snprintf(beta0, sizeof beta0, "%g", o->vi.beta0);
        s = vf_fitted_set_meta(m, "vi.anneal", anneal);
        if (s == VF_OK) s = vf_fitted_set_meta(m, "vi.beta0", beta0);
    }
    if (s == VF_OK && o->vi.patience > 0) { /* validated runs only, likewise */
        char num[3][32];
        snprintf(num[0], 32, "%lld", (long long)o->vi.patience);
        snprintf(num[1], 32, "%lld", (long long)o->vi.valid_every);
        snprintf(num[2], 32, "%lld", (long long)o->vi.valid_draws);
        s = vf_fitted_set_meta(m, "vi.patience", num[0]);
        if (s == VF_OK) s = vf_fitted_set_meta(m, "vi.valid_every", num[1]);
        if (s == VF_OK) s = vf_fitted_set_meta(m, "vi.valid_draws", num[2]);
    }
    return s;
}

/* The summary's record: vi.elbo, vi.log_z, vi.log_z_stderr, vi.ess_fraction, vi.khat, vi.steps_done, vi.loss
 * (and vi.valid_loss, vi.best_step after a validated run). */
static vf_status result_meta(vf_fitted *m, const vf_vi_summary *sm)
{
    char num[7][40];
    snprintf(num[0], 40, "%.9g", sm->elbo);
    snprintf(num[1], 40, "%.9g", sm->log_z);
    snprintf(num[2], 40, "%.9g", sm->log_z_stderr);
    snprintf(num[3], 40, "%.9g", sm->ess_fraction);
    snprintf(num[4], 40, "%.9g", sm->khat);
    snprintf(num[5], 40, "%lld", (long long)sm->steps);
    snprintf(num[6], 40, "%.9g", sm->loss);
    const char *keys[] = {"vi.elbo", "vi.log_z", "vi.log_z_stderr", "vi.ess_fraction", "vi.khat", "vi.steps_done", "vi.loss"};
    vf_status s = VF_OK;
    for (int i = 0; s == VF_OK && i < 7; i++) s = vf_fitted_set_meta(m, keys[i], num[i]);
    if (s == VF_OK && sm->best_step > 0) { /* validated: which parameters the model holds */
        snprintf(num[0], 40, "%.9g", sm->valid_loss);
        snprintf(num[1], 40, "%lld", (long long)sm->best_step);
        s = vf_fitted_set_meta(m, "vi.valid_loss", num[0]);
        if (s == VF_OK) s = vf_fitted_set_meta(m, "vi.best_step", num[1]);
    }
    return s;
}

/* The importance-sampling summary of n draws of q (and the forward ESS from exact draws of t). */
static vf_status estimate(vf_vi *v, const vf_target *t, const vf_vi_run_options *o, int64_t d, vf_vi_summary *sm)
{
    int64_t n = o->is_samples;
    vf_real *x = malloc(sizeof(vf_real) * (size_t)(n * d));
    double *logw = malloc(sizeof(double) * (size_t)n), *lq = malloc(sizeof(double) * (size_t)n);
    vf_status s = VF_OK;
    if (!x || !logw || !lq) {
        s = fail(sm, VF_FIT_STAGE_ESTIMATE, VF_ERR_NOMEM, "out of memory for %lld draws", (long long)n);
        goto done;
    }
    vf_rng rng;
    vf_rng_init(&rng, o->vi.seed, 23);
    vf_is_stats st;
    if ((s = vf_vi_draw(v, n, &rng, x, logw, NULL, NULL)) != VF_OK || (s = vf_is_summarize(n, logw, &st)) != VF_OK) {
        fail(sm, VF_FIT_STAGE_ESTIMATE, s, "importance sampling: %s", vf_last_error());
        goto done;
    }
    sm->elbo = st.elbo, sm->elbo_stderr = st.elbo_stderr, sm->log_z = st.log_z, sm->log_z_stderr = st.log_z_stderr;
    sm->ess = st.ess, sm->ess_fraction = st.ess_fraction, sm->khat = st.khat;
    if (o->draws) memcpy(o->draws, x, sizeof(vf_real) * (size_t)(n * d));
    if (o->log_weights) memcpy(o->log_weights, logw, sizeof(double) * (size_t)n);
    if (t->sample) { /* forward ESS from exact draws of the target */
        if ((s = vf_target_sample(t, n, &rng, x)) != VF_OK || (s = vf_vi_log_q(v, n, x, lq)) != VF_OK ||
            (s = vf_target_scores(t, n, x, logw, NULL)) != VF_OK) {
            fail(sm, VF_FIT_STAGE_ESTIMATE, s, "forward ESS: %s", vf_last_error());
            goto done;
        }
        for (int64_t i = 0; i < n; i++) logw[i] -= lq[i];
        if (vf_is_forward_ess(n, logw, &sm->forward_ess_fraction) != VF_OK)
            sm->forward_ess_fraction = NAN; /* q = 0 at a draw of p: no estimate */
    }
done:
    free(x);
    free(logw);
    free(lq);
    return s;
}

vf_status vf_vi_run(const vf_target *t, const char *flow_spec, const vf_vi_run_options *o, vf_fitted **out,
                    vf_vi_summary *sm)
{
    vf_vi_summary local;
    if (!sm) sm = &local;
    memset(sm, 0, sizeof *sm);
    sm->forward_ess_fraction = sm->log_z_true = sm->valid_loss = NAN;
    if (out) *out = NULL;
    if (!t || !o || (!out && !o->resume))
        return fail(sm, VF_FIT_STAGE_INPUT, VF_ERR_ARG, "vf_vi_run: NULL target, options or output");
    int64_t d = t->dim;
    if (d < 1) return fail(sm, VF_FIT_STAGE_INPUT, VF_ERR_ARG, "the target has dimension %lld", (long long)d);
    if (o->is_samples < 2) return fail(sm, VF_FIT_STAGE_INPUT, VF_ERR_ARG, "is_samples %lld is below 2",
                                       (long long)o->is_samples);
    const char *spec = flow_spec ? flow_spec : d >= 2 ? VF_VI_DEFAULT_FLOW : VF_VI_DEFAULT_FLOW_1D;
    double box = o->box < 0 ? vf_vi_default_box(t) : o->box;
    snprintf(sm->flow, sizeof sm->flow, "%s", spec);
    sm->box = box;
    sm->is_samples = o->is_samples;
    if (t->has_log_z) sm->log_z_true = t->log_z;
    vf_fitted *m = o->resume;
    vf_vi *v = NULL;
    FILE *log = NULL;
    vf_status s;
    if (m && (m->kind != VF_FITTED_FLOW || vf_flow_dim(m->flow) != d || !o->resume_state)) {
        s = fail(sm, VF_FIT_STAGE_INPUT, VF_ERR_ARG, "the model to resume is not a flow of dimension %lld with its "
                 "state", (long long)d);
        m = NULL;
        goto done;
    }
    if (!m && (s = new_flow(spec, d, box, o->vi.seed, &m, sm)) != VF_OK) goto done;
    if ((s = settings_meta(m, t, spec, o, box)) != VF_OK || (s = vf_vi_new(m->flow, m->params, t, &v)) != VF_OK) {
        fail(sm, VF_FIT_STAGE_INPUT, s, "%s", vf_last_error());
        goto done;
    }
    vf_vi_options vo = o->vi;
    if (o->resume) vo.resume = o->resume_state;
    vf_fit_ckpt ck = {o->checkpoint, m->flow, m->params, m->meta.n, (const char *const *)m->meta.keys,
                      (const char *const *)m->meta.values, o->vi.batch, d, NULL};
    if (o->checkpoint) {
        vo.checkpoint = vf_fit_checkpoint_write;
        vo.checkpoint_ctx = &ck;
    }
    if ((s = vf__open_training_log(o->log_path, o->resume && o->resume_state ? o->resume_state->step : -1, &log)) !=
        VF_OK) {
        fail(sm, VF_FIT_STAGE_LOG, s, "%s", vf_last_error());
        goto done;
    }
    vf_vi_result r;
    if ((s = vf_vi_train(v, m->params, &vo, log, &r)) != VF_OK) {
        fail(sm, VF_FIT_STAGE_TRAIN, s, "%s", r.error);
        goto done;
    }
    sm->loss = r.loss, sm->steps = r.steps, sm->paused = r.paused, sm->seconds = r.seconds;
    sm->valid_loss = r.valid_loss, sm->best_step = r.best_step, sm->stopped_early = r.stopped_early;
    sm->params = vf_params_size(m->params);
    if (log) {
        int bad = ferror(log);
        bad |= fclose(log) != 0;
        log = NULL;
        if (bad) {
            s = fail(sm, VF_FIT_STAGE_LOG, VF_ERR_IO, "cannot write %s", o->log_path);
            goto done;
        }
    }
    if ((s = estimate(v, t, o, d, sm)) != VF_OK) goto done;
    if ((s = result_meta(m, sm)) != VF_OK) {
        fail(sm, VF_FIT_STAGE_INPUT, s, "%s", vf_last_error());
        goto done;
    }
    if (!o->resume) *out = m;
    m = NULL;
done:
    if (log) fclose(log);
    vf_vi_free(v);
    if (m != o->resume) vf_fitted_free(m);
    return s;
}
