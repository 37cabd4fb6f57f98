/* test_quality_2d.c — the 2-D quality targets of issue 3 through the program, as a user reaches them:
 * `varflow data` writes train/valid/test splits of checkerboard and 8gaussians (FFJORD definitions),
 * `varflow fit` fits the `nsf` preset with its DEFAULT architecture, and the saved model file is judged
 * on the held-out test split: mean NLL <= 3.55 nats on checkerboard (entropy log 32 = 3.466) and
 * <= 2.90 on 8gaussians (entropy about log(2 pi e) = 2.838).
 *
 * The setting is bench/quality/toy2d.sh's `ci` mode with seed 1 (20000 / 5000 / 20000 rows, 4000 steps
 * at batch 256, lr 3e-3: about 8 s per fit on an idle core). Measured over seeds 1..8 (docs/quality.md):
 * checkerboard 3.515 mean, 0.003 sd, worst 3.520; 8gaussians 2.849 mean, 0.010 sd, worst 2.864. The
 * targets sit 10 and 5 seed-to-seed sd above those means, so this test asserts the numbers
 * themselves (seed 1 gave 3.514 and 2.854 in the float build).
 * It also bounds the NLL from below: a mean of 20000 rows cannot fall more than 5 standard errors under
 * the entropy (a density that integrates to more than 1, e.g. a dropped Jacobian term, would).
 *
 * Runs only in optimized builds without sanitizers (the fits take minutes in a Debug/ASan build); there
 * it prints a "skipped" line and passes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <varflow.h>
#include "tmpdir.h"
#include "vf_test.h"

#define VARFLOW VF_BINARY_DIR "/varflow"

#if defined(__has_feature)
#define QT_HAS_FEATURE(x) __has_feature(x)
#else
#define QT_HAS_FEATURE(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || QT_HAS_FEATURE(address_sanitizer)
#define QT_SKIP "a sanitizer build"
#elif !defined(__OPTIMIZE__)
#define QT_SKIP "an unoptimized build"
#endif

/* Runs `varflow ARGS` in the private folder, stdout to out.txt and stderr to err.txt; the exit code. */
static int run(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd %s && %s %s >out.txt 2>err.txt", dir, VARFLOW, args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char text[1 << 14];

static const char *read_text(const char *name)
{
    size_t n = slurp(path_of(name), (unsigned char *)text, sizeof text - 1);
    text[n] = '\0';
    return text;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Mean NLL of the rows of the data file under the model file, its standard error, and fit.spec. */
static void test_nll(const char *model, const char *data, double *mean, double *se, char *spec, size_t cap)
{
    vf_params *p = NULL;
    vf_flow *f = NULL;
    vf_model_meta meta;
    vf_tensor x = {0};
    *mean = *se = NAN;
    spec[0] = '\0';
    CHECK_STATUS(vf_flow_load(path_of(model), &p, &f, &meta), VF_OK);
    if (!f) return;
    const char *s = vf_model_meta_get(&meta, "fit.spec");
    snprintf(spec, cap, "%s", s ? s : "");
    vf_model_meta_free(&meta);
    CHECK_STATUS(vf_read_table(path_of(data), &x), VF_OK);
    vf_tape *t = vf_tape_new();
    int64_t n = x.shape[0];
    vf_var lp = vf_flow_log_prob(f, p, t, vf_input(t, x.data, 2, (int64_t[]){n, 2}), VF_NOVAR);
    CHECK(lp != VF_NOVAR);
    if (lp != VF_NOVAR) {
        double sum = 0, sum2 = 0;
        for (int64_t i = 0; i < n; i++) {
            double v = (double)vf_value(t, lp)->data[i];
            sum += v;
            sum2 += v * v;
        }
        *mean = -sum / (double)n;
        *se = sqrt(fmax(0.0, (sum2 - sum * sum / (double)n) / (double)(n - 1)) / (double)n);
    }
    vf_tape_free(t);
    vf_tensor_free(&x);
    vf_flow_free(f);
    vf_params_free(p);
}

/* One data set: splits with data seeds 101 / 201 / 301, the fit with --seed 1 (toy2d.sh ci, seed 1). */
static void check_set(const char *set, double entropy, double target)
{
    char args[1024];
    static const char *const part[3] = {"train", "valid", "test"};
    static const int rows[3] = {20000, 5000, 20000};
    for (int k = 0; k < 3; k++) {
        snprintf(args, sizeof args, "data %s -n %d --seed %d -o %s-%s.npy --quiet", set, rows[k], 101 + 100 * k, set,
                 part[k]);
        int rc = run(args);
        CHECK_MSG(rc == 0, "%s: exit %d: %s", args, rc, read_text("err.txt"));
    }
    snprintf(args, sizeof args,
             "fit --data %s-train.npy --valid %s-valid.npy --model nsf --steps 4000 --batch 256 --lr 3e-3 --seed 1 "
             "--quiet -o %s.safetensors",
             set, set, set);
    double t0 = now_seconds();
    int rc = run(args);
    double seconds = now_seconds() - t0;
    CHECK_MSG(rc == 0, "%s: exit %d: %s", args, rc, read_text("err.txt"));
    char model[64], test[64], spec[128];
    snprintf(model, sizeof model, "%s.safetensors", set);
    snprintf(test, sizeof test, "%s-test.npy", set);
    double nll, se;
    test_nll(model, test, &nll, &se, spec, sizeof spec);
    CHECK_MSG(strcmp(spec, "nsf") == 0, "%s: fit.spec '%s', wanted the preset's defaults 'nsf'", set, spec);
    printf("%-12s test NLL %.4f +- %.4f nats (target <= %.2f, entropy %.3f), fit %.1f s\n", set, nll, se, target,
           entropy, seconds);
    CHECK_MSG(nll <= target, "%s: test NLL %.4f above the target %.2f", set, nll, target);
    CHECK_MSG(nll >= entropy - 5.0 * se, "%s: test NLL %.4f +- %.4f below the entropy %.4f", set, nll, se, entropy);
    CHECK_MSG(se > 0.0 && se < 0.02, "%s: standard error %g", set, se);
}

static void test_checkerboard(void) { check_set("checkerboard", log(32.0), 3.55); }
static void test_8gaussians(void) { check_set("8gaussians", 1.0 + log(2.0 * 3.14159265358979323846), 2.90); }

int main(void)
{
#ifdef QT_SKIP
    printf("test_quality_2d: skipped in %s (the fits need an optimized build)\n", QT_SKIP);
    (void)test_checkerboard; /* compiled and type-checked in every build, run only in optimized ones */
    (void)test_8gaussians;
    return vf_test_summary();
#else
    if (tmpdir_open("vf_quality")) return 1;
    RUN(test_checkerboard);
    RUN(test_8gaussians);
    tmpdir_close();
    return vf_test_summary();
#endif
}
