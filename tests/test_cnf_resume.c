/* test_cnf_resume.c — checkpoints, resume and dequantization of continuous flows through the library
 * (vf_fit_table, vf_fit_checkpoint_read): for cfm, otcfm, meanflow, a labelled model (label
 * dropout), sbcfm (score head, Sinkhorn pairs), a data source and dequantized integer data, 6 epochs
 * in one run equal 3 + 3 epochs with a checkpoint in between, bit for bit (parameters, training
 * record, log); the checkpoint loads as a model; a divergence leaves it unchanged; a mismatched
 * resume is an error; dequantization shifts the standardization and the fitted density by the
 * noise's mean 1/2. (The CLI's side: tests/cli/test_cnf_resume.sh.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <varflow.h>
#include "tmpdir.h"
#include "vf_test.h"

#define N_ROWS 600

/* Two moons, [N_ROWS, 2]; integer: rounded to whole numbers after scaling by 3. labels [N_ROWS]: 1
 * on the right half of the plane. */
static vf_real *moons(int integer, int64_t *labels)
{
    vf_rng r;
    vf_rng_init(&r, 21, 0);
    vf_tensor t;
    CHECK_STATUS(vf_toy_sample("moons", NULL, N_ROWS, &r, &t), VF_OK);
    vf_real *x = malloc(sizeof(vf_real) * 2 * N_ROWS);
    for (int64_t i = 0; x && i < 2 * N_ROWS; i++)
        x[i] = integer ? (vf_real)floor(3.0 * (double)t.data[i] + 0.5) : t.data[i];
    for (int64_t i = 0; labels && i < N_ROWS; i++) labels[i] = t.data[2 * i] > 0;
    vf_tensor_free(&t);
    return x;
}

typedef struct run_case {
    const char *tag, *spec;
    int labelled, source, dequantize;
    int64_t patience;
} run_case;

static vf_fit_table_options options(const run_case *c, const int64_t *labels, const vf_real *src)
{
    vf_fit_table_options o = vf_fit_table_default_options();
    o.fit.epochs = 6;
    o.fit.batch = 64;
    o.fit.lr = 3e-3;
    o.fit.seed = 5;
    o.fit.patience = c->patience;
    o.fit.dequantize = c->dequantize;
    o.nll_rows = 50;
    o.labels = c->labelled ? labels : NULL;
    if (c->source) o.source = src, o.source_rows = 200;
    return o;
}

/* 1 when two handles hold the same parameters bit for bit. */
static int same_params(const vf_fitted *a, const vf_fitted *b)
{
    vf_params *pa = vf_fitted_params(a), *pb = vf_fitted_params(b);
    return vf_params_size(pa) == vf_params_size(pb) &&
           memcmp(vf_params_values(pa), vf_params_values(pb), sizeof(vf_real) * (size_t)vf_params_size(pa)) == 0;
}

static int same_meta(const vf_fitted *a, const vf_fitted *b, const char *key)
{
    const char *x = vf_fitted_meta_get(a, key), *y = vf_fitted_meta_get(b, key);
    int same = x && y && strcmp(x, y) == 0;
    if (!same) fprintf(stderr, "%s: '%s' and '%s'\n", key, x ? x : "(none)", y ? y : "(none)");
    return same;
}

/* "<dir>/<name>" in a buffer of the caller's (path_of's rotate, and options keep their paths). */
static const char *held_path(char *buf, const char *name)
{
    snprintf(buf, 256, "%s/%s", dir, name);
    return buf;
}

/* Loads checkpoint `name` with its state into *m and st; VF_OK or the failure. */
static vf_status load_checkpoint(const char *name, vf_fitted **m, vf_fit_state *st)
{
    vf_status s = vf_fitted_load(path_of(name), m);
    if (s == VF_OK) s = vf_fit_checkpoint_read(path_of(name), vf_fitted_meta(*m), vf_fitted_params(*m), st);
    return s;
}

static void check_split_run(const run_case *c)
{
    int64_t labels[N_ROWS];
    vf_real *x = moons(c->dequantize, labels), *src = moons(0, NULL);
    for (int64_t i = 0; src && i < 2 * N_ROWS; i++) src[i] = (vf_real)(0.5 * (double)src[i] - 1.0); /* another cloud */
    vf_fit_table_options o = options(c, labels, src);
    vf_fit_result r;
    vf_fitted *full = NULL, *half = NULL, *resumed = NULL;
    char full_log[256], split_log[256], ck[256];
    o.log_path = held_path(full_log, "full.log");
    CHECK_MSG(vf_fit_table(c->spec, x, N_ROWS, 2, NULL, 0, NULL, 0, NULL, &o, &full, &r) == VF_OK, "%s: %s", c->tag,
              r.error);
    CHECK_MSG(!r.paused && (c->patience < 6 || r.epochs == 6), "%s: %lld epochs", c->tag, (long long)r.epochs);
    int64_t epochs_full = r.epochs;

    o.log_path = held_path(split_log, "split.log");
    o.checkpoint = held_path(ck, "ck.safetensors");
    o.fit.stop_after = 3;
    CHECK_MSG(vf_fit_table(c->spec, x, N_ROWS, 2, NULL, 0, NULL, 0, NULL, &o, &half, &r) == VF_OK, "%s: %s", c->tag,
              r.error);
    CHECK_MSG(r.paused && r.epochs == 3 && r.steps == 3 * 9, "%s: paused %d after %lld epochs, %lld steps", c->tag,
              r.paused, (long long)r.epochs, (long long)r.steps);

    /* the checkpoint is a continuous-flow model file holding the epoch-3 state */
    vf_fit_state st;
    memset(&st, 0, sizeof st);
    CHECK_STATUS(load_checkpoint("ck.safetensors", &resumed, &st), VF_OK);
    if (!resumed || st.size == 0) goto done;
    CHECK(vf_fitted_get_kind(resumed) == VF_FITTED_CNF && st.epoch == 3 && st.step == 27);
    CHECK(same_meta(resumed, half, "fit.spec") && same_meta(resumed, half, "fit.seed"));
    CHECK_MSG(vf_fitted_meta_get(resumed, "fit.train_loss") && !vf_fitted_meta_get(resumed, "fit.train_nll"),
              "%s: a continuous flow's checkpoint records its training loss", c->tag);
    CHECK((vf_fitted_meta_get(resumed, "fit.dequantize") != NULL) == c->dequantize);
    if (!c->source) {
        vf_real lp[4];
        CHECK_STATUS(vf_fitted_log_prob(resumed, 4, x, NULL, c->labelled ? labels : NULL, lp), VF_OK);
        CHECK(isfinite((double)lp[0]) && isfinite((double)lp[3]));
    }

    o.fit.stop_after = 0;
    o.resume = resumed;
    o.resume_state = &st;
    CHECK_MSG(vf_fit_table(c->spec, x, N_ROWS, 2, NULL, 0, NULL, 0, NULL, &o, NULL, &r) == VF_OK, "%s: %s", c->tag,
              r.error);
    CHECK_MSG(!r.paused && r.epochs == epochs_full, "%s: %lld epochs, not %lld", c->tag, (long long)r.epochs,
              (long long)epochs_full);
    CHECK_MSG(same_params(full, resumed), "%s: final parameters differ", c->tag);
    static const char *const keys[] = {"fit.epochs", "fit.steps", "fit.train_loss", "fit.valid_loss", "fit.train_nll",
                                       "fit.valid_nll"};
    for (int k = 0; k < 6; k++) CHECK_MSG(same_meta(full, resumed, keys[k]), "%s: %s differs", c->tag, keys[k]);
    static char a[1 << 15], b[1 << 15];
    slurp_without_seconds("full.log", a, sizeof a);
    slurp_without_seconds("split.log", b, sizeof b);
    CHECK_MSG(strcmp(a, b) == 0 && strstr(a, "\"epoch\":3,") != NULL, "%s: logs differ:\n%s---\n%s", c->tag, a, b);
done:
    vf_fit_state_free(&st);
    vf_fitted_free(full);
    vf_fitted_free(half);
    vf_fitted_free(resumed);
    free(x);
    free(src);
}

static void test_resume_exact(void)
{
    static const run_case cases[] = {
        {"cfm", "cfm:hidden=16x2", 0, 0, 0, 10},
        {"otcfm", "otcfm:hidden=16x2", 0, 0, 0, 10},
        {"meanflow", "meanflow:hidden=16x2", 0, 0, 0, 10},
        {"labelled", "cfm:hidden=16x2,p_uncond=0.3", 1, 0, 0, 10},
        {"sbcfm (score head, Sinkhorn pairs)", "sbcfm:hidden=16x2", 0, 0, 0, 10},
        {"data source", "otcfm:hidden=16x2", 0, 1, 0, 10},
        {"dequantized", "cfm:hidden=16x2", 0, 0, 1, 10},
        {"early stopping", "cfm:hidden=16x2", 0, 0, 0, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) check_split_run(&cases[k]);
}

/* A resume whose model does not match the run: one error each, naming what differs. */
static void test_resume_mismatch(void)
{
    int64_t labels[N_ROWS];
    vf_real *x = moons(0, labels);
    run_case c = {"cfm", "cfm:hidden=8", 0, 0, 0, 10};
    vf_fit_table_options o = options(&c, labels, NULL);
    o.fit.epochs = 2;
    char ck[256];
    o.checkpoint = held_path(ck, "m.safetensors");
    vf_fit_result r;
    vf_fitted *m = NULL, *res = NULL;
    CHECK_STATUS(vf_fit_table(c.spec, x, N_ROWS, 2, NULL, 0, NULL, 0, NULL, &o, &m, &r), VF_OK);
    vf_fit_state st;
    memset(&st, 0, sizeof st);
    CHECK_STATUS(load_checkpoint("m.safetensors", &res, &st), VF_OK);
    o.checkpoint = NULL;
    o.resume = res;
    o.resume_state = &st;
    CHECK_STATUS(vf_fit_table("cfm:hidden=9", x, N_ROWS, 2, NULL, 0, NULL, 0, NULL, &o, NULL, &r), VF_ERR_ARG);
    CHECK_MSG(strstr(r.error, "fitted as 'cfm:hidden=8', not 'cfm:hidden=9'") != NULL, "%s", r.error);
    o.labels = labels;
    CHECK_STATUS(vf_fit_table(c.spec, x, N_ROWS, 2, NULL, 0, NULL, 0, NULL, &o, NULL, &r), VF_ERR_ARG);
    CHECK_MSG(strstr(r.error, "0 class labels, this run has 2") != NULL, "%s", r.error);
    o.labels = NULL;
    o.source = x, o.source_rows = N_ROWS;
    CHECK_STATUS(vf_fit_table(c.spec, x, N_ROWS, 2, NULL, 0, NULL, 0, NULL, &o, NULL, &r), VF_ERR_ARG);
    CHECK_MSG(strstr(r.error, "without a data source") != NULL, "%s", r.error);
    o.source = NULL, o.source_rows = 0;
    CHECK_STATUS(vf_fit_table(c.spec, x, N_ROWS / 2, 4, NULL, 0, NULL, 0, NULL, &o, NULL, &r), VF_ERR_ARG);
    CHECK_MSG(strstr(r.error, "not a continuous flow of dimension 4") != NULL, "%s", r.error);
    o.resume_state = NULL;
    CHECK_STATUS(vf_fit_table(c.spec, x, N_ROWS, 2, NULL, 0, NULL, 0, NULL, &o, NULL, &r), VF_ERR_ARG);
    /* a flow's checkpoint is not a continuous flow's */
    vf_fitted_free(res);
    vf_fit_state_free(&st);
    vf_fit_table_options fo = vf_fit_table_default_options();
    fo.fit.epochs = 1;
    fo.checkpoint = held_path(ck, "flow.safetensors");
    vf_fitted *flow = NULL;
    CHECK_STATUS(vf_fit_table("maf:transforms=1,hidden=4", x, N_ROWS, 2, NULL, 0, NULL, 0, NULL, &fo, &flow, &r), VF_OK);
    res = NULL;
    CHECK_STATUS(load_checkpoint("flow.safetensors", &res, &st), VF_OK);
    o.resume = res;
    o.resume_state = &st;
    CHECK_STATUS(vf_fit_table(c.spec, x, N_ROWS, 2, NULL, 0, NULL, 0, NULL, &o, NULL, &r), VF_ERR_ARG);
    CHECK_MSG(strstr(r.error, "not a continuous flow") != NULL, "%s", r.error);
    vf_fit_state_free(&st);
    vf_fitted_free(res);
    vf_fitted_free(flow);
    vf_fitted_free(m);
    free(x);
}

/* A learning rate of 1e100 sends the parameters to about 1e100 in one Adam step: the field's output
 * overflows and the loss stops being finite. The run fails with "diverged" and the checkpoint
 * written before stays as it was, byte for byte. */
static void test_divergence_keeps_checkpoint(void)
{
    vf_real *x = moons(0, NULL);
    run_case c = {"cfm", "cfm:hidden=16x2", 0, 0, 0, 10};
    vf_fit_table_options o = options(&c, NULL, NULL);
    char ck[256];
    o.checkpoint = held_path(ck, "good.safetensors");
    o.fit.stop_after = 2;
    vf_fit_result r;
    vf_fitted *m = NULL, *res = NULL;
    CHECK_STATUS(vf_fit_table(c.spec, x, N_ROWS, 2, NULL, 0, NULL, 0, NULL, &o, &m, &r), VF_OK);
    static unsigned char before[1 << 16], after[1 << 16];
    size_t nb = slurp(path_of("good.safetensors"), before, sizeof before);
    CHECK(nb > 0 && nb < sizeof before);
    vf_fit_state st;
    memset(&st, 0, sizeof st);
    CHECK_STATUS(load_checkpoint("good.safetensors", &res, &st), VF_OK);
    o.fit.stop_after = 0;
    o.fit.lr = 1e100;
    o.resume = res;
    o.resume_state = &st;
    CHECK_STATUS(vf_fit_table(c.spec, x, N_ROWS, 2, NULL, 0, NULL, 0, NULL, &o, NULL, &r), VF_ERR_NUMERIC);
    CHECK_MSG(r.stage == VF_FIT_STAGE_TRAIN && strstr(r.error, "diverged") != NULL, "%s", r.error);
    size_t na = slurp(path_of("good.safetensors"), after, sizeof after);
    CHECK(na == nb && memcmp(before, after, nb) == 0);
    vf_fit_state_free(&st);
    vf_fitted_free(res);
    vf_fitted_free(m);
    free(x);
}

/* Dequantization of 1-D integer data (values 0..7): the recorded standardization is that of the
 * noisy values (mean + 1/2, sqrt(var + 1/12)), and the fitted density's mean is the data's plus the
 * noise's 1/2, where a fit without noise has the data's own mean. The tolerance, 0.2, is about
 * six standard errors of a mean of 3000 rows of standard deviation 1.8 (0.033 each); over three seeds the
 * fitted means were within 0.07 of their targets, and a missing (or wrongly scaled) noise is off by
 * about 0.5. The fitted density integrates to 1 on a grid. */
static void test_dequantize(void)
{
    enum { N = 3000, GRID = 1400 };
    static const double prob[8] = {.05, .1, .2, .25, .15, .1, .1, .05};
    vf_real *x = malloc(sizeof(vf_real) * N), *grid = malloc(sizeof(vf_real) * GRID), *lp = malloc(sizeof(vf_real) * GRID);
    vf_rng r;
    vf_rng_init(&r, 3, 0);
    for (int i = 0; i < N; i++) {
        double u = vf_rng_uniform(&r), c = 0;
        int k = 0;
        while (k < 7 && u >= (c += prob[k])) k++;
        x[i] = (vf_real)k;
    }
    for (int g = 0; g < GRID; g++) grid[g] = (vf_real)((g + 0.5) / 100.0 - 3.0);
    for (int dq = 1; dq >= 0; dq--) {
        vf_fit_table_options o = vf_fit_table_default_options();
        o.fit.epochs = 60;
        o.fit.patience = 0;
        o.fit.batch = 256;
        o.fit.lr = 3e-3;
        o.fit.seed = 1;
        o.fit.dequantize = dq;
        o.nll_rows = 200;
        o.valid_fraction = 0; /* every row trains: the recorded statistics are those of x */
        vf_fitted *m = NULL;
        vf_fit_result res;
        CHECK_MSG(vf_fit_table("otcfm:hidden=32x2", x, N, 1, NULL, 0, NULL, 0, NULL, &o, &m, &res) == VF_OK, "%s",
                  res.error);
        if (!m) continue;
        CHECK((vf_fitted_meta_get(m, "fit.dequantize") != NULL) == dq);
        /* the recorded standardization: the statistics of the noisy values with dequantization */
        double mean = 0, sd = 0, noisy_mean = 0, noisy_sd = 0;
        const vf_cnf_model *cm = vf_fitted_cnf(m);
        CHECK_STATUS(vf_standardize_stats(x, N, 1, 0, &mean, &sd), VF_OK);
        CHECK_STATUS(vf_standardize_stats(x, N, 1, 1, &noisy_mean, &noisy_sd), VF_OK);
        CHECK_MSG(fabs(noisy_mean - (mean + 0.5)) < 1e-9 && fabs(noisy_sd * noisy_sd - (sd * sd + 1.0 / 12)) < 1e-9,
                  "noisy statistics %g %g of %g %g", noisy_mean, noisy_sd, mean, sd);
        double want_mean = dq ? noisy_mean : mean, want_sd = dq ? noisy_sd : sd;
        CHECK_MSG(fabs((double)cm->mean[0] - want_mean) < 1e-5 * want_mean &&
                      fabs((double)cm->std[0] - want_sd) < 1e-5 * want_sd,
                  "dequantize %d: recorded mean %.9g, std %.9g; wanted %.9g, %.9g", dq, (double)cm->mean[0],
                  (double)cm->std[0], want_mean, want_sd);
        CHECK_STATUS(vf_fitted_log_prob(m, GRID, grid, NULL, NULL, lp), VF_OK);
        double mass = 0, first = 0;
        for (int g = 0; g < GRID; g++) {
            double w = exp((double)lp[g]) / 100.0;
            mass += w;
            first += w * (double)grid[g];
        }
        double fitted = first / mass, want = mean + (dq ? 0.5 : 0.0);
        CHECK_MSG(fabs(mass - 1.0) < 0.01, "dequantize %d: the density integrates to %g", dq, mass);
        CHECK_MSG(fabs(fitted - want) < 0.2, "dequantize %d: the fitted mean %g, wanted %g", dq, fitted, want);
        CHECK_MSG(isfinite(res.train_nll) && res.train_nll > 0, "dequantize %d: train NLL %g", dq, res.train_nll);
        vf_fitted_free(m);
    }
    /* non-integer data is refused */
    x[5] = (vf_real)0.5;
    vf_fit_table_options o = vf_fit_table_default_options();
    o.fit.dequantize = 1;
    vf_fitted *m = NULL;
    vf_fit_result res;
    CHECK_STATUS(vf_fit_table("cfm", x, N, 1, NULL, 0, NULL, 0, NULL, &o, &m, &res), VF_ERR_ARG);
    CHECK_MSG(strstr(res.error, "dequantization needs integer data; row 6") != NULL, "%s", res.error);
    free(x);
    free(grid);
    free(lp);
}

int main(void)
{
    if (tmpdir_open("vf_cnf_resume")) return 1;
    RUN(test_resume_exact);
    RUN(test_resume_mismatch);
    RUN(test_divergence_keeps_checkpoint);
    RUN(test_dequantize);
    tmpdir_close();
    return vf_test_summary();
}
