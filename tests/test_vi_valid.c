/* test_vi_valid.c — validation in variational inference: vf_vi_loss's three formulas (-mean log w,
 * the self-normalized forward KL, 1/2 log mean w^2) against the closed forms for a Gaussian q and a
 * correlated Gaussian target (within the spread of repeated estimates), common draws from the same
 * generator state, +inf when no draw is inside the support; and vf_vi_train with patience: the
 * validation log, the early stop exactly `patience` validations after the best, the best parameters
 * restored (their loss at the validation draws equals the reported one), no validation without
 * patience, and the argument errors; a patience counter that runs without any best (+inf losses)
 * survives a checkpoint and resume. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <varflow.h>
#include "vf_test.h"

/* q = N(0, s^2 I) in 2-D: base N(0, I), one elementwise affine z = x e^ls (ls = -log s). */
static vf_status gauss_q(double s, vf_params **p, vf_flow **f)
{
    *p = vf_params_new();
    *f = NULL;
    if (!*p) return VF_ERR_NOMEM;
    vf_dist *base = NULL;
    vf_transform *tr = NULL;
    vf_status st = vf_dist_normal_new(2, 0, &base);
    vf_elementwise_affine_params ap = vf_elementwise_affine_default_params(2);
    if (st == VF_OK) st = vf_elementwise_affine_new(*p, "transforms.0", &ap, &tr);
    if (st != VF_OK) {
        vf_dist_free(base);
        return st;
    }
    st = vf_flow_new(base, 1, &tr, f);
    if (st == VF_OK) st = vf_params_finalize(*p, 1);
    if (st != VF_OK) return st;
    vf_real *ls = vf_params_data(*p, vf_params_find(*p, "transforms.0.log_scale"));
    ls[0] = ls[1] = (vf_real)-log(s);
    return VF_OK;
}

static double outside_log_prob(void *state, const double *x, double *grad)
{
    (void)state, (void)x;
    if (grad) grad[0] = grad[1] = 0;
    return -INFINITY;
}

/* What both tests start from: q = N(0, 1.5^2 I) (gauss_q), the target gauss:d=2,rho=0.5 and their vf_vi. */
typedef struct fixture {
    vf_params *p;
    vf_flow *f;
    vf_target t;
    vf_vi *v;
} fixture;

static void fixture_open(fixture *x)
{
    CHECK_STATUS(gauss_q(1.5, &x->p, &x->f), VF_OK);
    CHECK_STATUS(vf_target_from_spec("gauss:d=2,rho=0.5", &x->t), VF_OK);
    CHECK_STATUS(vf_vi_new(x->f, x->p, &x->t, &x->v), VF_OK);
}

static void fixture_close(fixture *x)
{
    vf_vi_free(x->v);
    vf_target_free(&x->t);
    vf_flow_free(x->f);
    vf_params_free(x->p);
}

/* q = N(0, 1.5^2 I), p = N(0, [[1, .5], [.5, 1]]) (gauss:d=2,rho=0.5, log Z = 0). Closed forms (the
 * eigenvalues of p's covariance are 1.5 and 0.5, q's variance 2.25):
 *   KL(q || p) = 1/2 (tr(P^-1 S) - 2 + log(det P / det S)) = 1/2 (6 - 2 + log(0.75 / 5.0625))
 *   KL(p || q) = 1/2 (tr(S^-1 P) - 2 + log(det S / det P)) = 1/2 (2 / 2.25 - 2 + log(5.0625 / 0.75))
 *   E_q[w^2] = int p^2 / q = det(S)^1/2 / det(P) / det(2 P^-1 - S^-1)^1/2 = 2.25 / 0.75 / sqrt(0.8889 * 3.5556)
 * Each objective is estimated R times from N fresh draws; the mean must lie within 4 standard errors
 * of the R estimates (their own spread) of the closed form. */
static void test_loss_formulas(void)
{
    enum { N = 4000, R = 20 };
    fixture x;
    fixture_open(&x);
    vf_vi *v = x.v;
    double want[3] = {0.5 * (6.0 - 2.0 + log(0.75 / 5.0625)), 0.5 * (2.0 / 2.25 - 2.0 + log(5.0625 / 0.75)),
                      0.5 * log(2.25 / 0.75 / sqrt((2.0 / 1.5 - 1.0 / 2.25) * (2.0 / 0.5 - 1.0 / 2.25)))};
    vf_vi_objective obj[3] = {VF_VI_RKL, VF_VI_FKL, VF_VI_CHI2};
    const char *name[3] = {"rkl", "fkl", "chi2"};
    vf_rng r;
    vf_rng_init(&r, 5, 0);
    for (int k = 0; k < 3; k++) {
        double s1 = 0, s2 = 0, loss;
        for (int rep = 0; rep < R; rep++) {
            CHECK_STATUS(vf_vi_loss(v, obj[k], N, &r, &loss), VF_OK);
            s1 += loss, s2 += loss * loss;
        }
        double m = s1 / R, se = sqrt((s2 - R * m * m) / (R - 1) / R);
        CHECK_MSG(fabs(m - want[k]) < 4 * se, "%s loss %.5f +- %.5f, closed form %.5f", name[k], m, se, want[k]);
    }
    /* the path and fab losses are rkl's; the same generator state gives the same draws, hence the same loss */
    vf_rng a = r, b = r;
    double la, lb, lc;
    CHECK_STATUS(vf_vi_loss(v, VF_VI_RKL, 500, &a, &la), VF_OK);
    CHECK_STATUS(vf_vi_loss(v, VF_VI_PATH, 500, &b, &lb), VF_OK);
    b = r;
    CHECK_STATUS(vf_vi_loss(v, VF_VI_FAB, 500, &b, &lc), VF_OK);
    CHECK(la == lb && la == lc);
    /* and equals -mean log w of vf_vi_draw's weights at that state */
    double *logw = malloc(sizeof(double) * 500), acc = 0;
    a = r;
    CHECK_STATUS(vf_vi_draw(v, 500, &a, NULL, logw, NULL, NULL), VF_OK);
    for (int i = 0; i < 500; i++) acc += logw[i];
    CHECK_NEAR(la, -acc / 500, 1e-12 * (1 + fabs(la)));
    free(logw);
    CHECK_STATUS(vf_vi_loss(v, VF_VI_RKL, 1, &r, &la), VF_ERR_ARG);
    CHECK_STATUS(vf_vi_loss(v, (vf_vi_objective)9, 10, &r, &la), VF_ERR_ARG);
    /* every draw outside the support: no information, +inf for every objective (never a best) */
    vf_target out = {2, outside_log_prob, NULL, NULL, NULL, "outside", 0, 0, NULL, 0, NULL};
    CHECK_STATUS(vf_vi_new(x.f, x.p, &out, &v), VF_OK);
    for (int k = 0; k < 3; k++) {
        CHECK_STATUS(vf_vi_loss(v, obj[k], 50, &r, &la), VF_OK);
        CHECK_MSG(la == INFINITY, "%s loss %g with every draw outside", name[k], la);
    }
    vf_vi_free(v);
    fixture_close(&x);
}

/* The validation lines of a vf_vi_train log: steps [*n] and losses; returns the count. */
static int read_validations(FILE *log, long long *steps, double *losses, int max)
{
    char line[512]; /* the log prints 9 significant digits */
    int n = 0;
    rewind(log);
    while (fgets(line, sizeof line, log) && n < max) {
        const char *vl = strstr(line, "\"valid_loss\":");
        if (!vl) continue;
        steps[n] = atoll(strstr(line, "\"step\":") + 7);
        losses[n++] = atof(vl + 13);
    }
    return n;
}

/* A deliberately noisy fit (learning rate 0.05, 32 draws per step) of q to the correlated Gaussian:
 * the validation loss stops improving well before 3000 steps. */
static void test_training_with_patience(void)
{
    enum { PATIENCE = 3, EVERY = 10, DRAWS = 1000, MAXV = 400 };
    fixture x;
    fixture_open(&x);
    vf_vi *v = x.v;
    vf_params *p = x.p;
    vf_vi_options o = vf_vi_default_options();
    CHECK(o.patience == 0 && o.valid_every == 100 && o.valid_draws == 4096);
    o.steps = 3000, o.batch = 32, o.lr = 0.05, o.seed = 3;
    o.patience = PATIENCE, o.valid_every = EVERY, o.valid_draws = DRAWS;
    FILE *log = tmpfile();
    vf_vi_result r;
    CHECK_STATUS(vf_vi_train(v, p, &o, log, &r), VF_OK);
    CHECK_MSG(r.stopped_early && r.steps < o.steps, "stopped early %d after %lld steps", r.stopped_early,
              (long long)r.steps);
    CHECK_MSG(r.best_step > 0 && r.best_step % EVERY == 0 && r.steps == r.best_step + PATIENCE * EVERY,
              "best step %lld, steps %lld", (long long)r.best_step, (long long)r.steps);
    long long steps[MAXV];
    double losses[MAXV];
    int nv = read_validations(log, steps, losses, MAXV), after = 0, at_best = 0;
    CHECK(nv == r.steps / EVERY);
    for (int i = 0; i < nv; i++) {
        CHECK_MSG(steps[i] == (long long)(i + 1) * EVERY, "validation %d at step %lld", i, steps[i]);
        CHECK_MSG(losses[i] >= r.valid_loss - 1e-8 * fabs(r.valid_loss), "validation at step %lld: %.9g below the best %.9g", steps[i], losses[i],
                  r.valid_loss);
        after += steps[i] > r.best_step;
        at_best += steps[i] == r.best_step && fabs(losses[i] - r.valid_loss) <= 1e-8 * fabs(r.valid_loss);
    }
    CHECK(after == PATIENCE && at_best == 1);
    /* the store holds the best step's parameters: the same draws score the reported loss exactly */
    vf_rng vr;
    vf_rng_init(&vr, o.seed, 29);
    double again;
    CHECK_STATUS(vf_vi_loss(v, VF_VI_RKL, DRAWS, &vr, &again), VF_OK);
    CHECK_MSG(again == r.valid_loss, "the restored parameters score %.12g, the best validation %.12g", again,
              r.valid_loss);
    fclose(log);
    /* without patience: no validation */
    o.patience = 0, o.steps = 50;
    CHECK_STATUS(vf_vi_train(v, p, &o, NULL, &r), VF_OK);
    CHECK(r.best_step == 0 && isnan(r.valid_loss) && !r.stopped_early && r.steps == 50);
    /* a last step that is not a multiple of valid_every is validated too */
    o.patience = 100, o.steps = 25;
    log = tmpfile();
    CHECK_STATUS(vf_vi_train(v, p, &o, log, &r), VF_OK);
    nv = read_validations(log, steps, losses, MAXV);
    CHECK(nv == 3 && steps[2] == 25 && r.steps == 25 && !r.stopped_early && r.best_step > 0);
    fclose(log);
    /* validation starts after the annealing */
    o.anneal = 15;
    log = tmpfile();
    CHECK_STATUS(vf_vi_train(v, p, &o, log, &r), VF_OK);
    nv = read_validations(log, steps, losses, MAXV);
    CHECK(nv == 2 && steps[0] == 20 && steps[1] == 25);
    fclose(log);
    /* argument errors */
    o.anneal = 25;
    CHECK_STATUS(vf_vi_train(v, p, &o, NULL, &r), VF_ERR_ARG);
    CHECK(strstr(r.error, "anneal") != NULL);
    o.anneal = 0, o.valid_draws = 1;
    CHECK_STATUS(vf_vi_train(v, p, &o, NULL, &r), VF_ERR_ARG);
    o.valid_draws = 10, o.valid_every = 0;
    CHECK_STATUS(vf_vi_train(v, p, &o, NULL, &r), VF_ERR_ARG);
    o.valid_every = 10, o.patience = -1;
    CHECK_STATUS(vf_vi_train(v, p, &o, NULL, &r), VF_ERR_ARG);
    fixture_close(&x);
}

/* N(0, I) cut to the half-plane x0 < 1.5 (-inf beyond): a share of every draw of q lies outside, so
 * every rkl-form validation loss (-mean log w) is +inf. */
static double cut_log_prob(void *state, const double *x, double *grad)
{
    (void)state;
    if (grad) grad[0] = -x[0], grad[1] = -x[1];
    return x[0] < 1.5 ? -0.5 * (x[0] * x[0] + x[1] * x[1]) : -INFINITY;
}

/* FAB (which gives draws outside the support weight 0) validated on that target: no validation is
 * ever lower than +inf, so the counter runs without a best and the run stops `patience` validations
 * in; paused at step 3 (counter 1) and resumed from the checkpoint file, it stops at the same step. */
static void test_resume_counter_without_best(void)
{
    const char *path = "test_vi_valid_ck.safetensors";
    vf_target t = {2, cut_log_prob, NULL, NULL, NULL, "cut", 0, 0, NULL, 0, NULL};
    vf_vi_run_options o = vf_vi_run_default_options();
    o.vi.objective = VF_VI_FAB, o.vi.steps = 40, o.vi.batch = 64, o.vi.seed = 2;
    o.vi.patience = 3, o.vi.valid_every = 2, o.vi.valid_draws = 400;
    o.is_samples = 100;
    vf_fitted *m = NULL;
    vf_vi_summary full, rest;
    CHECK_STATUS(vf_vi_run(&t, "realnvp:transforms=2,hidden=8x1", &o, &m, &full), VF_OK);
    vf_fitted_free(m);
    CHECK_MSG(full.stopped_early && full.steps == 6 && full.best_step == 0 && isnan(full.valid_loss),
              "stopped early %d at step %lld, best step %lld", full.stopped_early, (long long)full.steps,
              (long long)full.best_step);
    o.checkpoint = path, o.vi.stop_after = 3;
    CHECK_STATUS(vf_vi_run(&t, "realnvp:transforms=2,hidden=8x1", &o, &m, &rest), VF_OK);
    vf_fitted_free(m);
    CHECK(rest.paused && rest.steps == 3);
    vf_params *p = NULL;
    vf_flow *f = NULL;
    vf_model_meta meta = {0, NULL, NULL};
    vf_fit_state st;
    memset(&st, 0, sizeof st);
    CHECK_STATUS(vf_flow_load(path, &p, &f, &meta), VF_OK);
    CHECK_STATUS(vf_fitted_from_flow(f, p, &m), VF_OK);
    CHECK_STATUS(vf_fit_checkpoint_read(path, &meta, p, &st), VF_OK);
    CHECK(st.bad == 1 && st.best_epoch == 0);
    o.checkpoint = NULL, o.vi.stop_after = 0, o.resume = m, o.resume_state = &st;
    CHECK_STATUS(vf_vi_run(&t, "realnvp:transforms=2,hidden=8x1", &o, NULL, &rest), VF_OK);
    CHECK_MSG(rest.stopped_early && rest.steps == full.steps, "resumed: stopped early %d at step %lld (uninterrupted %lld)",
              rest.stopped_early, (long long)rest.steps, (long long)full.steps);
    vf_fitted_free(m);
    vf_model_meta_free(&meta);
    vf_fit_state_free(&st);
    remove(path);
}

int main(void)
{
    RUN(test_loss_formulas);
    RUN(test_training_with_patience);
    RUN(test_resume_counter_without_best);
    return vf_test_summary();
}
