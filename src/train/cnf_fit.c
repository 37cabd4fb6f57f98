/* cnf_fit.c — minibatch training of a continuous flow's field (vf_cnf_fit, vf_train.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train/train_internal.h"

#define fail(r, s, ...) vf__train_fail((r)->error, s, __VA_ARGS__)

/* One batch's arrays, [cap] rows. */
typedef struct batch_buf {
    int64_t cap, d;
    vf_real *x0, *x1, *x0c, *x1c, *t, *e, *z;
    int64_t *lab, *labc, *i0, *i1;
} batch_buf;

static int batch_alloc(batch_buf *b, int64_t cap, int64_t d)
{
    memset(b, 0, sizeof *b);
    b->cap = cap;
    b->d = d;
    size_t rows = (size_t)cap, vals = (size_t)(cap * d);
    b->x0 = malloc(vals * sizeof(vf_real));
    b->x1 = malloc(vals * sizeof(vf_real));
    b->x0c = malloc(vals * sizeof(vf_real));
    b->x1c = malloc(vals * sizeof(vf_real));
    b->z = malloc(vals * sizeof(vf_real));
    b->t = malloc(rows * sizeof(vf_real));
    b->e = malloc(rows * sizeof(vf_real));
    b->lab = malloc(rows * sizeof(int64_t));
    b->labc = malloc(rows * sizeof(int64_t));
    b->i0 = malloc(rows * sizeof(int64_t));
    b->i1 = malloc(rows * sizeof(int64_t));
    return b->x0 && b->x1 && b->x0c && b->x1c && b->z && b->t && b->e && b->lab && b->labc && b->i0 && b->i1 ? 0 : -1;
}

static void batch_free(batch_buf *b)
{
    free(b->x0), free(b->x1), free(b->x0c), free(b->x1c), free(b->z), free(b->t), free(b->e);
    free(b->lab), free(b->labc), free(b->i0), free(b->i1);
}

/* Paths whose velocity is infinite at t = 0 or 1, or whose noise vanishes there (no score), take times
 * in [1e-3, 1 - 1e-3]. */
static int open_ends(const vf_path *p)
{
    return p->kind == VF_PATH_BRIDGE || p->kind == VF_PATH_SI_SQRT || p->kind == VF_PATH_SI_SIN2; /* si_sin2: g = 0 at the ends */
}

/* Fills the batch for target rows idx[0..m) (or rows first..first+m when idx is NULL): targets
 * (dequantized when dequantize: U(0, 1) noise in original units, u / std_j in the model's
 * standardized ones), sources, coupling, labels (dropped when drop), times, noise. Result in x0c,
 * x1c, labc (labc NULL-able). */
static vf_status make_batch(const vf_cnf_model *mdl, const vf_cnf_fit_data *data, const vf_real *x1src,
                            const int64_t *labsrc, const vf_real *x0fixed, const size_t *idx, int64_t first, int64_t m,
                            int drop, int dequantize, vf_rng *r, batch_buf *b)
{
    int64_t d = b->d;
    const vf_cnf_spec *sp = &mdl->spec;
    for (int64_t k = 0; k < m; k++) {
        int64_t row = idx ? (int64_t)idx[k] : first + k;
        memcpy(b->x1 + k * d, x1src + row * d, sizeof(vf_real) * (size_t)d);
        if (labsrc) b->lab[k] = labsrc[row];
        if (x0fixed) memcpy(b->x0 + k * d, x0fixed + row * d, sizeof(vf_real) * (size_t)d);
        else if (data->source)
            memcpy(b->x0 + k * d, data->source + (int64_t)vf_rng_below(r, (uint64_t)data->ns) * d,
                   sizeof(vf_real) * (size_t)d);
    }
    for (int64_t k = 0; dequantize && k < m; k++)
        for (int64_t j = 0; j < d; j++)
            b->x1[k * d + j] = (vf_real)((double)b->x1[k * d + j] + vf_rng_uniform(r) / (double)mdl->std[j]);
    vf_status s = VF_OK;
    if (!x0fixed && !data->source && (s = vf_cnf_model_source_sample(mdl, m, r, b->x0)) != VF_OK) return s;
    if (sp->coupling.kind != VF_COUPLING_INDEPENDENT && !x0fixed) {
        if ((s = vf_coupling_pairs(&sp->coupling, m, d, b->x0, b->x1, labsrc ? b->lab : NULL, r, b->i0, b->i1)) != VF_OK)
            return s;
        for (int64_t k = 0; k < m; k++) {
            memcpy(b->x0c + k * d, b->x0 + b->i0[k] * d, sizeof(vf_real) * (size_t)d);
            memcpy(b->x1c + k * d, b->x1 + b->i1[k] * d, sizeof(vf_real) * (size_t)d);
            if (labsrc) b->labc[k] = b->lab[b->i1[k]];
        }
    } else {
        memcpy(b->x0c, b->x0, sizeof(vf_real) * (size_t)(m * d));
        memcpy(b->x1c, b->x1, sizeof(vf_real) * (size_t)(m * d));
        if (labsrc) memcpy(b->labc, b->lab, sizeof(int64_t) * (size_t)m);
    }
    if (labsrc && drop && sp->p_uncond > 0 &&
        (s = vf_cfm_drop_labels(m, b->labc, sp->field.classes, sp->p_uncond, r, b->labc)) != VF_OK)
        return s;
    double lo = open_ends(&sp->path) ? 1e-3 : 0.0, hi = open_ends(&sp->path) ? 1 - 1e-3 : 1.0;
    vf_rng_uniform_fill(r, b->t, (size_t)m, lo, hi);
    if (data->distill) memset(b->t, 0, sizeof(vf_real) * (size_t)m);
    vf_rng_normal_fill(r, b->z, (size_t)(m * d), 0.0, 1.0);
    if (sp->objective == VF_CNF_MEANFLOW) { /* s <= e by the MeanFlow options; validation: e = s (see cnf_fit.h) */
        if ((s = vf_meanflow_times(data->meanflow, m, r, b->t, b->e)) != VF_OK) return s;
        if (!drop) memcpy(b->e, b->t, sizeof(vf_real) * (size_t)m); /* drop is 0 only for the validation draw */
    }
    return VF_OK;
}

/* Rows [lo, lo + m) of b, as a batch of its own (its arrays point into b's; for the loss only). */
static batch_buf batch_rows(const batch_buf *b, int64_t lo, int64_t m)
{
    batch_buf v = *b;
    v.cap = m;
    v.x0c = b->x0c + lo * b->d;
    v.x1c = b->x1c + lo * b->d;
    v.z = b->z + lo * b->d;
    v.t = b->t + lo;
    v.e = b->e + lo;
    v.labc = b->labc + lo;
    return v;
}

/* The objective's loss on rows [0, m) of the batch. */
static vf_var batch_loss(const vf_cnf_model *mdl, const vf_cnf_fit_data *data, vf_tape *t, const batch_buf *b, int64_t m,
                         int labelled, int valid)
{
    if (mdl->spec.objective == VF_CNF_MEANFLOW) {
        vf_meanflow_options o = data->meanflow ? *data->meanflow : vf_meanflow_default_options();
        if (valid) o.weight_p = 0; /* the validation loss: plain squared error of flow matching (e = s) */
        vf_meanflow_batch mb = {m, b->d, b->x0c, b->x1c, b->t, b->e, labelled ? b->labc : NULL, NULL, &o};
        return vf_meanflow_loss(mdl->field, mdl->params, t, &mb);
    }
    vf_cfm_batch cb = {m, b->d, b->x0c, b->x1c, b->t, b->z, labelled ? b->labc : NULL, NULL};
    vf_var loss = vf_cfm_loss(mdl->field, mdl->params, t, &mdl->spec.path, &cb);
    if (mdl->score) /* [SF]2M / interpolants: the velocity loss plus the score loss on the same points */
        loss = vf_add(t, loss, vf_cfm_score_loss(mdl->score, mdl->params, t, &mdl->spec.path, &cb));
    return loss;
}

/* The fixed validation draw: every validation row's batch arrays, made once in chunks of `batch`. */
typedef struct valid_set {
    int64_t n, chunk;
    batch_buf *chunks;   /* [ceil(n / chunk)] */
    int64_t count;
} valid_set;

static void valid_free(valid_set *v)
{
    for (int64_t i = 0; i < v->count; i++) batch_free(&v->chunks[i]);
    free(v->chunks);
}

static vf_status valid_make(const vf_cnf_model *mdl, const vf_cnf_fit_data *data, int64_t chunk, uint64_t seed,
                            int dequantize, valid_set *v)
{
    memset(v, 0, sizeof *v);
    if (data->nv < 1) return VF_OK;
    int64_t d = mdl->spec.field.dim, count = (data->nv + chunk - 1) / chunk;
    v->n = data->nv;
    v->chunk = chunk;
    if (!(v->chunks = calloc((size_t)count, sizeof *v->chunks))) return VF_ERR_NOMEM;
    vf_rng r;
    vf_rng_init(&r, seed, 17);
    for (int64_t c = 0; c < count; c++) {
        int64_t first = c * chunk, m = data->nv - first < chunk ? data->nv - first : chunk;
        v->count++;
        if (batch_alloc(&v->chunks[c], m, d)) return VF_ERR_NOMEM;
        vf_status s = make_batch(mdl, data, data->valid, data->valid_labels, data->valid_x0, NULL, first, m, 0,
                                 dequantize, &r, &v->chunks[c]);
        if (s != VF_OK) return s;
    }
    return VF_OK;
}

/* The mean validation loss; in a data-parallel fit each process takes its share of every chunk and
 * the sums are added up over the processes (every process reaches the reduction). */
static vf_status valid_loss(const vf_cnf_model *mdl, const vf_cnf_fit_data *data, vf_tape *t, const valid_set *v,
                            int labelled, const vf_fit_options *o, double *out)
{
    double sum = 0;
    vf_status s = VF_OK;
    int grad_was_enabled = vf_tape_grad_enabled(t);
    /* inference mode (no derivative state) except for MeanFlow, whose loss takes a JVP */
    if (mdl->spec.objective != VF_CNF_MEANFLOW) vf_tape_set_grad_enabled(t, 0);
    for (int64_t c = 0; c < v->count; c++) {
        int64_t lo, hi;
        vf__fit_shard(o, v->chunks[c].cap, &lo, &hi);
        if (hi == lo) continue;
        batch_buf share = batch_rows(&v->chunks[c], lo, hi - lo);
        vf_tape_reset(t);
        vf_var loss = batch_loss(mdl, data, t, &share, hi - lo, labelled, 1);
        if (loss == VF_NOVAR) {
            s = vf_tape_status(t);
            break;
        }
        sum += (double)vf_value(t, loss)->data[0] * (double)(hi - lo);
    }
    vf_tape_reset(t);
    vf_tape_set_grad_enabled(t, grad_was_enabled);
    if ((s = vf__fit_sum_shares(o, &sum, s)) != VF_OK) return s;
    *out = sum / (double)v->n;
    return isfinite(*out) ? VF_OK : VF_ERR_NUMERIC;
}

/* The step of a process of a data-parallel fit, once the whole batch b of mrows rows is made (alike on
 * every process, coupling included): the loss of its share of the rows, weighted by the share's size
 * (so that the sum is the batch's mean), its gradient, then both summed over the processes. *lv gets
 * the batch's loss and *bs the backward pass's outcome as the one-process step reports them (VF_OK,
 * VF_ERR_NUMERIC for a loss that is not finite); an error of a process's own is returned after the
 * reduction, on every process. */
static vf_status parallel_step(vf_cnf_model *m, const vf_cnf_fit_data *data, vf_tape *t, const vf_fit_options *o,
                               const batch_buf *b, int64_t mrows, int labelled, double *lv, vf_status *bs,
                               vf_cnf_fit_result *r)
{
    int64_t lo, hi;
    vf__fit_shard(o, mrows, &lo, &hi);
    double part = 0.0; /* this process's part of the batch's mean loss */
    char why[sizeof r->error] = "";
    vf_status own = VF_OK;
    if (hi > lo) {
        batch_buf share = batch_rows(b, lo, hi - lo);
        vf_var loss = vf_scale(t, batch_loss(m, data, t, &share, hi - lo, labelled, 0), (double)(hi - lo) / (double)mrows);
        own = vf__fit_share_backward(t, loss, &part, why, sizeof why);
    }
    vf_status s = vf__fit_reduce_step(o, m->params, &part, own, (double)(hi - lo) / (double)mrows);
    if (s != VF_OK) return fail(r, s, "%s", why[0] ? why : vf_last_error());
    *lv = part;
    *bs = isfinite(part) ? VF_OK : VF_ERR_NUMERIC;
    return VF_OK;
}

vf_status vf_cnf_fit(vf_cnf_model *m, const vf_cnf_fit_data *data, const vf_fit_options *o, FILE *log, vf_cnf_fit_result *r)
{
    memset(r, 0, sizeof *r);
    r->valid_loss = NAN;
    int64_t d = m->spec.field.dim, nt = data->nt, nv = data->nv;
    if (nt < 2 || o->batch < 1) return fail(r, VF_ERR_ARG, "need at least 2 training rows");
    if (o->checkpoint && o->checkpoint_every < 1) return fail(r, VF_ERR_ARG, "checkpoint interval below 1");
    if (vf__fit_parallel(o) && (!o->reduce || o->rank < 0 || o->rank >= o->ranks))
        return fail(r, VF_ERR_ARG, "process %d of %d: a data-parallel fit needs 0 <= rank < ranks and a reduce "
                    "function", o->rank, o->ranks);
    int64_t batch = o->batch < nt ? o->batch : nt;
    int64_t per_epoch = (nt + batch - 1) / batch;
    int64_t total = o->steps > 0 ? o->steps : o->epochs * per_epoch;
    int64_t epochs = o->steps > 0 ? (o->steps + per_epoch - 1) / per_epoch : o->epochs;
    int labelled = data->train_labels != NULL;
    vf_params *p = m->params;
    int64_t n = vf_params_size(p);

    vf_adam_params ap = o->weight_decay > 0 ? vf_adamw_default_params() : vf_adam_default_params();
    ap.lr = o->lr;
    ap.weight_decay = o->weight_decay;
    vf_schedule sch = vf__train_schedule(o->lr, total, o->warmup);

    vf_status s = VF_ERR_NOMEM;
    double t0 = vf__now_seconds();
    vf_tape *t = vf_tape_new();
    vf_adam *opt = NULL;
    size_t *perm = malloc(sizeof(size_t) * (size_t)nt);
    vf_fit_state st; /* epoch, step, generators (shuffle; noise: every draw of a batch), best, patience */
    vf_status sa = vf__fit_state_alloc(&st, p);
    batch_buf b;
    valid_set vs;
    memset(&vs, 0, sizeof vs);
    int bad_alloc = batch_alloc(&b, batch, d);
    if (!t || !perm || sa != VF_OK || bad_alloc) {
        fail(r, s, "out of memory");
        goto done;
    }
    if ((s = vf_adam_new(n, &ap, &opt)) != VF_OK || (s = vf_schedule_check(&sch)) != VF_OK) {
        fail(r, s, "%s", vf_last_error());
        goto done;
    }
    if ((s = valid_make(m, data, batch, o->seed, o->dequantize, &vs)) != VF_OK) {
        fail(r, s, "the validation draw: %s", vf_last_error());
        goto done;
    }
    if (o->resume) {
        if ((s = vf__fit_state_restore(o->resume, opt, &st, r->error)) != VF_OK) goto done;
    } else {
        vf__fit_state_start(&st, p, o->seed, nv > 0);
    }
    if (vf__fit_parallel(o)) { /* every process must make the same call */
        const void *arrays[] = {data->train, data->valid, data->source, data->train_x0, data->valid_x0,
                                data->train_labels, data->valid_labels, vf_params_values(p)};
        const size_t rows = sizeof(vf_real) * (size_t)d, labels = sizeof(int64_t);
        const size_t bytes[] = {rows * (size_t)nt, rows * (size_t)nv, rows * (size_t)data->ns, rows * (size_t)nt,
                                rows * (size_t)nv, labels * (size_t)nt, labels * (size_t)nv, sizeof(vf_real) * (size_t)n};
        const int64_t settings[] = {nt, nv, d, data->ns, batch, total, epochs, (int64_t)o->seed, o->dequantize,
                                    data->distill, st.step, st.epoch};
        if ((s = vf__fit_agree(o, arrays, bytes, 8, settings, 12)) != VF_OK) {
            fail(r, s, "%s", vf_last_error());
            goto done;
        }
    }
    t0 = vf__now_seconds() - st.seconds;
    int64_t first = st.epoch + 1;
    r->epochs = st.epoch;
    r->train_loss = st.last_train;
    for (int64_t e = first; e <= epochs && st.step < total; e++) {
        vf_rng_permutation(&st.shuffle, (size_t)nt, perm);
        double sum = 0;
        int64_t rows = 0;
        for (int64_t at = 0; at < nt && st.step < total; at += batch) {
            int64_t mrows = nt - at < batch ? nt - at : batch;
            if (mrows < 2) break; /* a one-row batch cannot be coupled usefully */
            s = make_batch(m, data, data->train, data->train_labels, data->train_x0, perm + at, 0, mrows, 1,
                           o->dequantize, &st.noise, &b);
            if (s != VF_OK) {
                fail(r, s, "%s", vf_last_error());
                goto done;
            }
            vf_adam_set_lr(opt, vf_schedule_lr(&sch, st.step));
            vf_tape_reset(t);
            vf_params_zero_grad(p);
            double lv = NAN;
            vf_status bs = VF_ERR_NUMERIC;
            if (vf__fit_parallel(o)) {
                if ((s = parallel_step(m, data, t, o, &b, mrows, labelled, &lv, &bs, r)) != VF_OK) goto done;
            } else {
                vf_var loss = batch_loss(m, data, t, &b, mrows, labelled, 0);
                if (loss == VF_NOVAR) {
                    s = vf_tape_status(t);
                    fail(r, s, "%s", vf_tape_error(t));
                    goto done;
                }
                lv = (double)vf_value(t, loss)->data[0];
                bs = isfinite(lv) ? vf_backward(t, loss) : VF_ERR_NUMERIC;
            }
            if (bs != VF_OK && bs != VF_ERR_NUMERIC) { /* out of memory, ...: not a divergence */
                s = fail(r, bs, "%s", vf_last_error());
                goto done;
            }
            if (bs != VF_OK || vf_clip_grad_norm(vf_params_grads(p), n, o->clip, NULL) != VF_OK ||
                vf_adam_step(opt, vf_params_values(p), vf_params_grads(p)) != VF_OK) {
                s = fail(r, VF_ERR_NUMERIC, "training diverged at step %lld (epoch %lld): the %s", (long long)(st.step + 1),
                         (long long)e, isfinite(lv) ? "gradient is not finite" : isnan(lv) ? "loss became NaN" :
                         "loss became infinite");
                goto done;
            }
            st.step++;
            sum += lv * (double)mrows;
            rows += mrows;
            vf__train_report(o->progress, o->progress_ctx, 0, e, epochs, st.step, total, 0, t0, sum / (double)rows,
                             st.last_valid);
        }
        r->epochs = e;
        r->train_loss = st.last_train = rows > 0 ? sum / (double)rows : NAN;
        double vl = NAN;
        if (nv > 0 && (s = valid_loss(m, data, t, &vs, labelled, o, &vl)) != VF_OK) {
            s = fail(r, VF_ERR_NUMERIC, "training diverged: the validation loss after epoch %lld is not finite",
                     (long long)e);
            goto done;
        }
        st.last_valid = vl;
        vf__fit_log_epoch(log, "loss", e, &st, nv > 0, vf_schedule_lr(&sch, st.step - 1), t0);
        int end = 0;
        if ((s = vf__fit_epoch_end(o, p, opt, &st, e, first, epochs, total, nv > 0, vl, t0, &end, r->error)) != VF_OK)
            goto done;
        if (end == 1) {
            r->stopped_early = 1;
            break;
        }
        if (end >= 2) { /* --stop-after (1) or the interrupt flag (2) */
            r->paused = end - 1;
            break;
        }
    }
    vf__train_report(o->progress, o->progress_ctx, 1, r->epochs, epochs, st.step, total, 0, t0, st.last_train,
                     st.last_valid);
    vf__fit_state_keep_best(&st, p);
    r->steps = st.step;
    r->best_epoch = st.best_epoch;
    r->seconds = vf__now_seconds() - t0;
    if (nv > 0) r->valid_loss = st.best_valid;
    s = VF_OK;
done:
    if (s != VF_OK)
        vf__train_report(o->progress, o->progress_ctx, -1, r->epochs, epochs, st.step, total, 0, t0, r->train_loss, NAN);
    vf_adam_free(opt);
    vf_tape_free(t);
    free(perm);
    vf_fit_state_free(&st);
    batch_free(&b);
    valid_free(&vs);
    return s;
}

vf_status vf_cnf_mean_nll(const vf_cnf_model *m, const vf_real *x, const int64_t *labels, int64_t n, int64_t limit,
                       double *out)
{
    int64_t k = n < limit ? n : limit;
    vf_real *lp = malloc(sizeof(vf_real) * (size_t)(k > 0 ? k : 1));
    if (!lp) return VF_ERR_NOMEM;
    vf_cnf_sample_options so = vf_cnf_sample_default_options();
    so.ode.steps = 100;
    vf_status s = vf_cnf_model_log_prob(m, k, x, labels, &so, lp, NULL);
    double sum = 0;
    for (int64_t i = 0; s == VF_OK && i < k; i++) sum -= (double)lp[i];
    free(lp);
    if (s != VF_OK) return s;
    *out = sum / (double)k;
    return isfinite(*out) ? VF_OK : VF_ERR_NUMERIC;
}
