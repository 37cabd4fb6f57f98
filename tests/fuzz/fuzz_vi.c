/* fuzz_vi.c — libFuzzer target: variational inference (vf_vi_run, what `varflow vi` runs) with any
 * built-in target and settings. The bytes pick the target (with its keys), the flow, the objective
 * (rkl, path, fkl, chi2, fab), the learning rate (up to 10), the batch, the steps, the box, the
 * seed and the validation (patience 0-3, every 1-4 steps, 2-21 draws); half the inputs run again
 * through a one-process vf_target_shard (every batch through log_prob_batch), which must give the
 * same result bit for bit. A run must end in an error with a message and a failure stage, or in a model whose summary
 * numbers are finite where they must be (ELBO and log Z finite or -inf, ESS fraction in [0, 1], no
 * NaN) and whose draws are finite points; a crash, leak, hang or NaN aborts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_util.h"

static const char *const targets[] = {"gauss:d=2,rho=0.9", "gauss:d=3,rho=-0.4", "funnel:d=3", "banana",
                                      "8gaussians:noise=0.2", "u1", "u2", "u4", "manywell:d=2", "rosenbrock:d=2"};
static const char *const flows[] = {"realnvp:transforms=1,hidden=4x1", "nsf_coupling:transforms=1,hidden=4x1,bins=3",
                                    "maf:transforms=1,hidden=4x1", "planar:transforms=2", "radial:transforms=2"};
enum { N_TARGETS = sizeof targets / sizeof targets[0], N_FLOWS = sizeof flows / sizeof flows[0], IS = 64 };

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 5) return 0;
    static const double lrs[] = {1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0};
    vf_target t;
    if (vf_target_from_spec(targets[data[0] % N_TARGETS], &t) != VF_OK) abort(); /* all valid */
    const char *flow = flows[data[1] % N_FLOWS];
    vf_vi_run_options o = vf_vi_run_default_options();
    o.vi.objective = (vf_vi_objective)(data[2] % 5);
    o.vi.lr = lrs[(data[2] / 5) % 6];
    o.vi.batch = 2 + data[3] % 31;
    o.vi.steps = 1 + data[3] / 32;
    o.vi.seed = data[4] % 64;
    o.vi.patience = data[4] / 64; /* 0: no validation */
    o.vi.valid_every = 1 + data[3] % 4;
    o.vi.valid_draws = 2 + data[0] % 20;
    o.box = (data[1] / N_FLOWS) % 3 == 0 ? -1 : (data[1] / N_FLOWS) % 3 == 1 ? 0 : 3.0;
    o.is_samples = IS;
    vf_real draws[IS * 3];
    double logw[IS];
    o.draws = t.dim <= 3 ? draws : NULL;
    o.log_weights = logw;
    vf_fitted *m = NULL;
    vf_vi_summary s;
    vf_status st = vf_vi_run(&t, flow, &o, &m, &s);
    if (data[0] / N_TARGETS % 2) { /* the same run through a one-process shard (the batch path): the same result */
        vf_target one;
        if (vf_target_shard(&t, 0, 1, NULL, NULL, &one) != VF_OK) abort();
        vf_fitted *m1 = NULL;
        vf_vi_summary s1;
        double logw1[IS];
        o.log_weights = logw1;
        o.draws = NULL;
        vf_status st1 = vf_vi_run(&one, flow, &o, &m1, &s1);
        fuzz_require(st1 == st);
        if (st == VF_OK)
            fuzz_require(memcmp(&s1.elbo, &s.elbo, sizeof s.elbo) == 0 && memcmp(logw1, logw, sizeof logw) == 0 &&
                         s1.steps == s.steps && s1.best_step == s.best_step);
        vf_fitted_free(m1);
        vf_target_free(&one);
        o.log_weights = logw;
    }
    if (st != VF_OK) {
        fuzz_require(m == NULL && s.error[0] != 0 && s.stage != VF_FIT_STAGE_NONE);
    } else {
        fuzz_require(m != NULL);
        fuzz_require(!isnan(s.elbo) && s.elbo != INFINITY && !isnan(s.log_z) && s.log_z != INFINITY);
        fuzz_require(s.ess_fraction >= 0 && s.ess_fraction <= 1 + 1e-9 && !isnan(s.khat));
        for (int64_t i = 0; o.draws && i < IS * t.dim; i++) fuzz_require(isfinite((double)draws[i]));
        for (int i = 0; i < IS; i++) fuzz_require(!isnan(logw[i]) && logw[i] != INFINITY);
        /* validation: a best step within the run with a loss that is not NaN, or none at all */
        fuzz_require(s.best_step >= 0 && s.best_step <= s.steps && (s.best_step == 0) == isnan(s.valid_loss));
        fuzz_require(o.vi.patience > 0 || (s.best_step == 0 && !s.stopped_early));
        fuzz_require(!s.stopped_early || s.steps < o.vi.steps || s.steps == o.vi.steps);
        vf_fitted_free(m);
    }
    vf_clear_error();
    vf_target_free(&t);
    return 0;
}
