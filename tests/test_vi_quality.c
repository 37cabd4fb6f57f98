/* test_vi_quality.c — the u1 figures of the VI issue, reached by the library in a few seconds: a
 * coupling spline flow (QUALITY_FLOW) trained by reverse KL (QUALITY_STEPS steps of QUALITY_BATCH
 * draws, Adam, cosine learning rate), from each of QUALITY_FITS fit seeds, must reach on QUALITY_IS
 * fresh draws
 *   - a gap log Z - ELBO below 0.02 nats (the bound for the reverse-KL loss) at the median
 *     seed, where every fit's ELBO standard error is required to be below 0.004, so the bound is not
 *     met by noise;
 *   - at every seed, an importance-sampling log Z within 0.01 of 1.8775 (the bound) and within
 *     5 of its reported standard errors.
 * The setting was chosen from runs over several seeds (docs/vi.md, bench/quality/vi_energies.sh
 * reproduces the figures of all four energies with the CLI's larger default flow). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <varflow.h>
#include "vf_test.h"

#define QUALITY_FLOW "nsf_coupling:transforms=8,hidden=32x2,bins=8,bound=5"
/* Under AddressSanitizer (about 15x slower) the same code runs for 150 steps and only the memory
 * checks and the variance comparison's plumbing are exercised; the figures are checked in the normal
 * and double builds. */
#if defined(__SANITIZE_ADDRESS__)
#define QUALITY_STEPS 150
#define QUALITY_FIGURES 0
#else
#define QUALITY_STEPS 2000
#define QUALITY_FIGURES 1
#endif
#define QUALITY_BATCH 512
#define QUALITY_LR 2e-3
#define QUALITY_IS 20000
#define QUALITY_SEED 1 /* the first of QUALITY_FITS fit seeds */
#define QUALITY_FITS 3

/* One fit of QUALITY_FLOW to u1 from fit seed `seed`, then QUALITY_IS fresh draws summarized in *st.
 * The flow, its parameters, the VI object and the generator stay with the caller (freed by it). */
typedef struct u1_fit {
    vf_target t;
    vf_params *p;
    vf_flow *f;
    vf_vi *v;
    vf_rng r;
    vf_is_stats st;
} u1_fit;

static int fit_u1(uint64_t seed, u1_fit *u)
{
    memset(u, 0, sizeof *u);
    CHECK_STATUS(vf_target_from_spec("u1", &u->t), VF_OK);
    u->p = vf_params_new();
    CHECK_STATUS(vf_flow_from_spec(QUALITY_FLOW, 2, 0, u->p, &u->f), VF_OK);
    CHECK_STATUS(vf_params_finalize(u->p, seed), VF_OK);
    CHECK_STATUS(vf_vi_new(u->f, u->p, &u->t, &u->v), VF_OK);
    if (!u->v) return -1;
    int64_t n = vf_params_size(u->p);
    vf_adam_params ap = vf_adam_default_params();
    ap.lr = QUALITY_LR;
    vf_adam *opt = NULL;
    CHECK_STATUS(vf_adam_new(n, &ap, &opt), VF_OK);
    vf_schedule sch = vf_schedule_default(QUALITY_LR, QUALITY_STEPS);
    sch.kind = VF_SCHED_COSINE;
    sch.warmup_steps = 100;
    sch.final_fraction = 0.01;
    vf_rng_init(&u->r, seed, 17);
    int ok = 0;
    for (int64_t k = 0; k < QUALITY_STEPS; k++) {
        vf_params_zero_grad(u->p);
        double loss;
        if (vf_vi_grad(u->v, VF_VI_RKL, QUALITY_BATCH, &u->r, &loss) != VF_OK) {
            CHECK_MSG(0, "seed %llu, step %lld: %s", (unsigned long long)seed, (long long)k, vf_last_error());
            ok = -1;
            break;
        }
        vf_clip_grad_norm(vf_params_grads(u->p), n, 5.0, NULL);
        vf_adam_set_lr(opt, vf_schedule_lr(&sch, k));
        vf_adam_step(opt, vf_params_values(u->p), vf_params_grads(u->p));
    }
    vf_adam_free(opt);
    double *logw = malloc(sizeof(double) * QUALITY_IS);
    CHECK_STATUS(vf_vi_draw(u->v, QUALITY_IS, &u->r, NULL, logw, NULL, NULL), VF_OK);
    CHECK_STATUS(vf_is_summarize(QUALITY_IS, logw, &u->st), VF_OK);
    free(logw);
    return ok;
}

static void free_u1(u1_fit *u)
{
    vf_vi_free(u->v);
    vf_flow_free(u->f);
    vf_params_free(u->p);
    vf_target_free(&u->t);
}

static void test_u1(void)
{
    vf_set_num_threads(1); /* the float sums of a threaded run differ in the last bits, and training amplifies them */
    /* Fit seeds 1, 2, 3. Each fit's ELBO standard error and importance-sampling log Z are checked; the
     * gap is checked on the median seed: a fit lands in a worse optimum now and then (one seed in ten of
     * the float builds here, gap 0.042 against 0.002-0.007 for the other nine), and which seed does
     * depends on rounding (the compiler, the summation order of a product). */
    u1_fit fits[QUALITY_FITS];
    double gaps[QUALITY_FITS];
    for (int s = 0; s < QUALITY_FITS; s++) {
        u1_fit *u = &fits[s];
        if (fit_u1((uint64_t)(QUALITY_SEED + s), u) != 0) {
            for (int j = 0; j <= s; j++) free_u1(&fits[j]);
            return;
        }
        const vf_is_stats *st = &u->st;
        double gap = gaps[s] = u->t.log_z - st->elbo;
        printf("u1, seed %d: ELBO %.4f +- %.4f (gap %.4f), log Z %.4f +- %.4f (true %.4f), ESS %.3f, k-hat %.2f\n",
               QUALITY_SEED + s, st->elbo, st->elbo_stderr, gap, st->log_z, st->log_z_stderr, u->t.log_z,
               st->ess_fraction, st->khat);
        double err = fabs(st->log_z - 1.8775);
        if (QUALITY_FIGURES) {
            CHECK_MSG(st->elbo_stderr < 0.004, "seed %d: ELBO standard error %.4f", QUALITY_SEED + s, st->elbo_stderr);
            CHECK_MSG(err < 0.01 && err < 5 * st->log_z_stderr + 5e-5, "seed %d: IS log Z %.4f +- %.4f, want 1.8775",
                      QUALITY_SEED + s, st->log_z, st->log_z_stderr);
        }
    }
    for (int i = 1; i < QUALITY_FITS; i++) /* insertion sort; QUALITY_FITS is odd */
        for (int j = i; j > 0 && gaps[j] < gaps[j - 1]; j--) {
            double tmp = gaps[j];
            gaps[j] = gaps[j - 1];
            gaps[j - 1] = tmp;
        }
    double median = gaps[QUALITY_FITS / 2];
    if (QUALITY_FIGURES)
        CHECK_MSG(median < 0.02, "median gap log Z - ELBO over seeds %d..%d = %.4f >= 0.02", QUALITY_SEED,
                  QUALITY_SEED + QUALITY_FITS - 1, median);
    else
        printf("AddressSanitizer build: %d steps only, the figures are not checked\n", QUALITY_STEPS);
    vf_params *p = fits[0].p;
    vf_vi *v = fits[0].v;
    vf_rng r = fits[0].r;
    /* the gradient variance of both estimators at the fitted flow (issue 5 asks for it to be measured),
     * total over parameters, from 30 batches of 256 each */
    double var[2];
    int64_t size = vf_params_size(p);
    double *sum = calloc((size_t)size, sizeof *sum), *sq = calloc((size_t)size, sizeof *sq);
    for (int obj = 0; obj < 2; obj++) {
        for (int64_t i = 0; i < size; i++) sum[i] = sq[i] = 0;
        for (int rep = 0; rep < 30; rep++) {
            vf_params_zero_grad(p);
            CHECK_STATUS(vf_vi_grad(v, (vf_vi_objective)obj, 256, &r, NULL), VF_OK);
            const vf_real *g = vf_params_grads(p);
            for (int64_t i = 0; i < size; i++) sum[i] += g[i], sq[i] += (double)g[i] * g[i];
        }
        var[obj] = 0;
        for (int64_t i = 0; i < size; i++) var[obj] += (sq[i] - sum[i] * sum[i] / 30) / 29;
    }
    printf("gradient variance at the fitted u1 flow: rkl %.4g, path %.4g (ratio %.2f)\n", var[0], var[1], var[0] / var[1]);
    /* reported, not checked: at a fitted u1 flow the ordering depends on the flow reached (docs/vi.md:
     * path 4.4x lower in the float build, 4x higher in the build without BLAS); the checked claim is
     * test_vi's Gaussian one */
    free(sum);
    free(sq);
    for (int s = 0; s < QUALITY_FITS; s++) free_u1(&fits[s]);
}

int main(void)
{
    RUN(test_u1);
    return vf_test_summary();
}
