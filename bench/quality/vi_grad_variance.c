/* vi_grad_variance.c — issue 5's gradient-variance measurement on u1 (docs/vi.md, "Gradient
 * variance"): fits a flow to a target by rkl or path (vf_vi_train, as vf_vi_run builds and seeds the
 * flow) and, at chosen steps along the fit (and after an optional second, low-learning-rate phase),
 * prints one line per evaluation:
 *   gap      log Z - ELBO, the ELBO from `is` draws of q (stream 23) with its standard error;
 *   rkl,path the total variance over parameters (trace of the covariance) of a `batch`-draw gradient
 *            of each estimator, from `reps` independent batches (generator seed 100 + fit seed);
 *            each trace has a relative standard error of about sqrt(2 / (reps - 1)) or more;
 *   ratio    rkl / path, with a crude 2-sigma range from those standard errors;
 *   fisher   E_q |grad log q - grad log p|^2 from the same draws (the relative Fisher divergence
 *            KL gaps do not see; the path estimator is (grad log q - grad log p) . dx/dtheta per draw).
 *
 *   cc -O2 -Iinclude -Ibuild/include bench/quality/vi_grad_variance.c build/libvarflow.a \
 *      $(pkg-config --static --libs varflow 2>/dev/null || echo -lopenblas -lgomp -lz -lpng -lm -ldl)
 *   OMP_NUM_THREADS=1 ./a.out [key=value ...]
 * keys (defaults): target=u1, flow=VF_VI_DEFAULT_FLOW, fit=rkl|path (rkl), seed=0, steps=3000,
 *   lr=3e-3, trainbatch=512, every=0 (evaluate every this many steps as well as at the end),
 *   polish=0 (steps of a second phase, fresh Adam and cosine schedule), polishlr=3e-4,
 *   polishfit=same as fit, clip=5 (the loop's gradient-norm clip), reps=100, batch=256, is=20000.
 * The measurements of docs/vi.md come from bench/quality/vi_grad_variance.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "varflow.h"

typedef struct study {
    vf_vi *v;               /* the evaluations' own (its tapes are not the training loop's) */
    const vf_flow *f;
    vf_params *p;
    const vf_target *t;
    const char *phase;
    int64_t every, offset, reps, batch, is;
    uint64_t seed;
} study;

/* Trace of the covariance of obj's batch-draw gradient over reps batches, into *var, and its standard
 * error from the per-batch squared deviations (the trace is a sum of correlated variances, so the
 * spread of |g_r - mean|^2 over batches is what sets its error). */
static int gvar(study *s, vf_vi_objective obj, vf_rng *r, double *var, double *se)
{
    int64_t size = vf_params_size(s->p), R = s->reps;
    double *g = malloc(sizeof *g * (size_t)(size * R)), *mean = calloc((size_t)size, sizeof *mean);
    if (!g || !mean) return 1;
    for (int64_t rep = 0; rep < R; rep++) {
        vf_params_zero_grad(s->p);
        if (vf_vi_grad(s->v, obj, s->batch, r, NULL)) {
            fprintf(stderr, "grad: %s\n", vf_last_error());
            return 1;
        }
        const vf_real *gr = vf_params_grads(s->p);
        for (int64_t i = 0; i < size; i++) g[rep * size + i] = gr[i], mean[i] += gr[i] / (double)R;
    }
    double acc = 0, acc2 = 0;
    for (int64_t rep = 0; rep < R; rep++) {
        double d2 = 0;
        for (int64_t i = 0; i < size; i++) d2 += (g[rep * size + i] - mean[i]) * (g[rep * size + i] - mean[i]);
        acc += d2, acc2 += d2 * d2;
    }
    *var = acc / (double)(R - 1);
    double m = acc / (double)R, sd = sqrt(fmax(acc2 / (double)R - m * m, 0));
    *se = sd / sqrt((double)R) * (double)R / (double)(R - 1);
    free(g);
    free(mean);
    return 0;
}

/* E_q |grad log q - grad log p~|^2 from n draws, and the ELBO's mean and standard error. */
static int fisher_and_elbo(study *s, vf_rng *r, double *fisher, double *elbo, double *elbo_se)
{
    int64_t n = s->is, d = s->t->dim;
    vf_real *x = malloc(sizeof *x * (size_t)(n * d));
    double *logw = malloc(sizeof *logw * (size_t)n);
    if (!x || !logw || vf_vi_draw(s->v, n, r, x, logw, NULL, NULL)) return 1;
    double a = 0, a2 = 0;
    for (int64_t i = 0; i < n; i++) a += logw[i], a2 += logw[i] * logw[i];
    *elbo = a / (double)n;
    *elbo_se = sqrt(fmax(a2 / (double)n - *elbo * *elbo, 0) / (double)n);
    /* grad log q at the first min(n, 4096) draws by a density pass on a tape of our own */
    int64_t m = n < 4096 ? n : 4096;
    vf_tape *t = vf_tape_new();
    double *lp = malloc(sizeof *lp * (size_t)m), *gp = malloc(sizeof *gp * (size_t)(m * d));
    vf_real *saved = malloc(sizeof *saved * (size_t)vf_params_size(s->p));
    if (!t || !lp || !gp || !saved) return 1;
    memcpy(saved, vf_params_grads(s->p), sizeof *saved * (size_t)vf_params_size(s->p));
    vf_var xi = vf_input_grad(t, x, 2, (int64_t[]){m, d});
    vf_var lq = vf_flow_log_prob(s->f, s->p, t, xi, VF_NOVAR);
    if (vf_backward(t, vf_sum(t, lq, VF_ALL_AXES, 0)) != VF_OK) return 1;
    memcpy(vf_params_grads(s->p), saved, sizeof *saved * (size_t)vf_params_size(s->p));
    if (vf_target_scores(s->t, m, x, lp, gp)) return 1;
    const vf_real *h = vf_grad(t, xi);
    double f = 0;
    for (int64_t i = 0; i < m * d; i++) f += ((double)h[i] - gp[i]) * ((double)h[i] - gp[i]);
    *fisher = f / (double)m;
    vf_tape_free(t);
    free(lp), free(gp), free(saved), free(x), free(logw);
    return 0;
}

/* One evaluation line at the current parameters. */
static int evaluate(study *s, int64_t step)
{
    vf_rng r, ri;
    vf_rng_init(&r, 100 + s->seed, 3);
    vf_rng_init(&ri, 100 + s->seed, 23);
    double vr, sr, vp, sp, fisher, elbo, ese;
    if (fisher_and_elbo(s, &ri, &fisher, &elbo, &ese) || gvar(s, VF_VI_RKL, &r, &vr, &sr) ||
        gvar(s, VF_VI_PATH, &r, &vp, &sp))
        return 1;
    double ratio = vr / vp, rel = sqrt((sr / vr) * (sr / vr) + (sp / vp) * (sp / vp));
    printf("%s step %6lld: gap %.5f +- %.5f  var rkl %.4g +- %.2g  path %.4g +- %.2g  ratio %.3g [%.3g, %.3g]"
           "  fisher %.4g\n",
           s->phase, (long long)step, s->t->log_z - elbo, ese, vr, sr, vp, sp, ratio, ratio * exp(-2 * rel),
           ratio * exp(2 * rel), fisher);
    fflush(stdout);
    return 0;
}

static vf_status at_checkpoint(void *ctx, const vf_fit_state *st)
{
    study *s = ctx;
    if (st->step % s->every != 0) return VF_OK; /* the loop also calls at the last step */
    return evaluate(s, s->offset + st->step) ? VF_ERR_NUMERIC : VF_OK;
}

static const char *arg(int argc, char **argv, const char *key, const char *def)
{
    size_t n = strlen(key);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], key, n) == 0 && argv[i][n] == '=') return argv[i] + n + 1;
    return def;
}

int main(int argc, char **argv)
{
    const char *tspec = arg(argc, argv, "target", "u1"), *spec = arg(argc, argv, "flow", VF_VI_DEFAULT_FLOW);
    int fitobj = vf_vi_objective_from_name(arg(argc, argv, "fit", "rkl"));
    int polishobj = vf_vi_objective_from_name(arg(argc, argv, "polishfit", vf_vi_objective_name(fitobj)));
    uint64_t seed = strtoull(arg(argc, argv, "seed", "0"), NULL, 10);
    int64_t steps = atoll(arg(argc, argv, "steps", "3000")), every = atoll(arg(argc, argv, "every", "0"));
    int64_t polish = atoll(arg(argc, argv, "polish", "0"));
    double lr = atof(arg(argc, argv, "lr", "3e-3")), polishlr = atof(arg(argc, argv, "polishlr", "3e-4"));
    vf_target t;
    if (fitobj < 0 || polishobj < 0 || vf_target_from_spec(tspec, &t)) {
        fprintf(stderr, "bad fit, polishfit or target: %s\n", vf_last_error());
        return 2;
    }
    vf_params *p = vf_params_new();
    vf_flow *f = NULL;
    if (vf_flow_from_spec(spec, t.dim, 0, p, &f) || vf_params_finalize(p, seed)) { /* as vf_vi_run (no box) */
        fprintf(stderr, "%s\n", vf_last_error());
        return 1;
    }
    study s = {NULL, f, p, &t, "fit", 0, 0, atoll(arg(argc, argv, "reps", "100")),
               atoll(arg(argc, argv, "batch", "256")), atoll(arg(argc, argv, "is", "20000")), seed};
    vf_vi *v = NULL;
    if (vf_vi_new(f, p, &t, &v) || vf_vi_new(f, p, &t, &s.v)) return 1;
    printf("# target %s flow %s fit %s seed %llu steps %lld lr %g batch %lld clip %g; polish %lld steps lr %g by %s; "
           "%lld batches of %lld per variance\n",
           tspec, spec, vf_vi_objective_name(fitobj), (unsigned long long)seed, (long long)steps, lr,
           (long long)atoll(arg(argc, argv, "trainbatch", "512")), atof(arg(argc, argv, "clip", "5")), (long long)polish, polishlr,
           vf_vi_objective_name(polishobj), (long long)s.reps, (long long)s.batch);
    for (int phase = 0; phase < 2; phase++) {
        if (phase == 1 && polish <= 0) break;
        vf_vi_options o = vf_vi_default_options();
        o.steps = phase ? polish : steps;
        o.lr = phase ? polishlr : lr;
        o.objective = phase ? polishobj : fitobj;
        o.batch = atoll(arg(argc, argv, "trainbatch", "512"));
        o.seed = seed + (uint64_t)phase * 1000;
        o.clip = atof(arg(argc, argv, "clip", "5"));
        s.every = every > 0 ? every : o.steps;
        s.phase = phase ? "polish" : "fit";
        s.offset = phase ? steps : 0;
        o.checkpoint = at_checkpoint;
        o.checkpoint_ctx = &s;
        o.checkpoint_every = s.every;
        vf_vi_result r;
        if (vf_vi_train(v, p, &o, NULL, &r)) {
            fprintf(stderr, "%s\n", r.error);
            return 1;
        }
        if (o.steps % s.every != 0 && evaluate(&s, s.offset + o.steps)) return 1;
    }
    vf_vi_free(v);
    vf_vi_free(s.v);
    vf_flow_free(f);
    vf_params_free(p);
    vf_target_free(&t);
    return 0;
}
