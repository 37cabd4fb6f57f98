/* test_flow_cli.c — `varflow logprob` and `varflow sample` against the library.
 *
 * A preset flow (realnvp, 2 couplings, d = 2; and a conditional one with c = 1) gets random
 * parameters and is saved as a model file; the varflow program (VF_BINARY_DIR/varflow) is then run
 * with system() and its outputs are compared with the library's own vf_flow_log_prob and
 * vf_flow_sample on the same model: per-row values, the summary, the JSON keys, .npy/.csv outputs,
 * determinism by --seed, the batch boundary (4100 rows > one batch of 4096), and the error cases
 * (exit 1 or 2 with exactly one line on stderr).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "varflow.h"
#include "vf_test.h"
#include "tmpdir.h"

#define BIN VF_BINARY_DIR "/varflow"
#define NROWS 4100 /* crosses the commands' batch size of 4096 */

#ifdef VF_DOUBLE
#define TOL 1e-9
#else
#define TOL 2e-5
#endif

static vf_params *P, *PC;   /* unconditional / conditional model */
static vf_flow *F, *FC;
static char model[256], cmodel[256], datafile[256], ctxfile[256];
static vf_real data[NROWS * 2], ctx[NROWS];

/* Runs the varflow program with args; stdout goes to <dir>/out, stderr to <dir>/err. Exit code. */
static int run(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "\"%s\" %s >\"%s/out\" 2>\"%s/err\"", BIN, args, dir, dir);
    int s = system(cmd);
    return s == -1 || !WIFEXITED(s) ? -1 : WEXITSTATUS(s);
}

static char out_text[8192], err_text[8192];

static void read_outputs(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/out", dir);
    size_t n = slurp(path, (unsigned char *)out_text, sizeof out_text - 1);
    out_text[n] = '\0';
    snprintf(path, sizeof path, "%s/err", dir);
    n = slurp(path, (unsigned char *)err_text, sizeof err_text - 1);
    err_text[n] = '\0';
}

/* The command failed with `code`, nothing on stdout and one line on stderr starting with prefix
 * and containing `word` (if not NULL). */
static void check_error(const char *args, int code, const char *prefix, const char *word)
{
    int rc = run(args);
    read_outputs();
    CHECK_MSG(rc == code, "'%s': exit %d, expected %d (stderr: %s)", args, rc, code, err_text);
    CHECK_MSG(out_text[0] == '\0', "'%s': stdout not empty: %s", args, out_text);
    size_t len = strlen(err_text);
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += err_text[i] == '\n';
    CHECK_MSG(lines == 1 && err_text[len - 1] == '\n', "'%s': %d lines on stderr: %s", args, lines, err_text);
    CHECK_MSG(strncmp(err_text, prefix, strlen(prefix)) == 0, "'%s': stderr '%s'", args, err_text);
    if (word) CHECK_MSG(strstr(err_text, word) != NULL, "'%s': stderr lacks '%s': %s", args, word, err_text);
}

/* The number after "key": in json; NAN when the key is absent. */
static double json_get(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *s = strstr(json, pat);
    return s ? strtod(s + strlen(pat), NULL) : NAN;
}

static void randomize(vf_params *p, uint64_t seed)
{
    vf_rng r;
    vf_rng_init(&r, seed, 0);
    vf_rng_normal_fill(&r, vf_params_values(p), (size_t)vf_params_size(p), 0.0, 0.3);
}

/* Library log-densities of data (and ctx when c > 0) into lp [NROWS]. */
static void reference_log_prob(const vf_flow *f, vf_params *p, int conditional, double *lp)
{
    vf_tape *t = vf_tape_new();
    vf_var x = vf_input(t, data, 2, (int64_t[]){NROWS, 2});
    vf_var c = conditional ? vf_input(t, ctx, 2, (int64_t[]){NROWS, 1}) : VF_NOVAR;
    vf_var l = vf_flow_log_prob(f, p, t, x, c);
    CHECK_STATUS(vf_tape_status(t), VF_OK);
    const vf_tensor *v = vf_value(t, l);
    for (int i = 0; i < NROWS; i++) lp[i] = v ? (double)v->data[i * v->stride[0]] : NAN;
    vf_tape_free(t);
}

static int setup(void)
{
    P = vf_params_new();
    PC = vf_params_new();
    if (vf_flow_from_spec("realnvp:transforms=2,hidden=8x1", 2, 0, P, &F) != VF_OK ||
        vf_flow_from_spec("realnvp:transforms=2,hidden=8x1", 2, 1, PC, &FC) != VF_OK ||
        vf_params_finalize(P, 1) != VF_OK || vf_params_finalize(PC, 2) != VF_OK) {
        fprintf(stderr, "setup: %s\n", vf_last_error());
        return -1;
    }
    randomize(P, 11);
    randomize(PC, 12);
    snprintf(model, sizeof model, "%s", path_of("m.safetensors"));
    snprintf(cmodel, sizeof cmodel, "%s", path_of("cm.safetensors"));
    snprintf(datafile, sizeof datafile, "%s", path_of("x.npy"));
    snprintf(ctxfile, sizeof ctxfile, "%s", path_of("c.npy"));
    vf_rng r;
    vf_rng_init(&r, 5, 0);
    vf_rng_normal_fill(&r, data, NROWS * 2, 0.0, 1.5);
    vf_rng_normal_fill(&r, ctx, NROWS, 0.0, 1.0);
    vf_tensor xt = vf_tensor_wrap(data, 2, (int64_t[]){NROWS, 2});
    vf_tensor ct = vf_tensor_wrap(ctx, 2, (int64_t[]){NROWS, 1});
    if (vf_flow_save(F, P, model, 0, NULL, NULL) != VF_OK || vf_flow_save(FC, PC, cmodel, 0, NULL, NULL) != VF_OK ||
        vf_write_table(datafile, &xt) != VF_OK || vf_write_table(ctxfile, &ct) != VF_OK) {
        fprintf(stderr, "setup: %s\n", vf_last_error());
        return -1;
    }
    return 0;
}

/* Reads a table and checks its shape. */
static int read_checked(const char *path, int64_t n, int64_t d, vf_tensor *out)
{
    if (vf_read_table(path, out) != VF_OK) {
        CHECK_MSG(0, "reading %s: %s", path, vf_last_error());
        return -1;
    }
    int64_t cols = out->ndim > 1 ? out->shape[1] : 1;
    CHECK_MSG(out->shape[0] == n && cols == d, "%s is %lld x %lld, expected %lld x %lld", path,
              (long long)out->shape[0], (long long)cols, (long long)n, (long long)d);
    if (out->shape[0] != n || cols != d) {
        vf_tensor_free(out);
        return -1;
    }
    return 0;
}

static void compare_rows(const char *path, const double *ref)
{
    vf_tensor t;
    if (read_checked(path, NROWS, 1, &t)) return;
    double worst = 0;
    for (int i = 0; i < NROWS; i++) worst = fmax(worst, fabs((double)t.data[i] - ref[i]) / (1 + fabs(ref[i])));
    CHECK_MSG(worst < TOL, "%s: largest relative difference %g", path, worst);
    vf_tensor_free(&t);
}

static void summary_of(const double *ref, double *mean, double *se, double *lo, double *hi)
{
    double s = 0, s2 = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < NROWS; i++) {
        s += ref[i];
        *lo = fmin(*lo, ref[i]);
        *hi = fmax(*hi, ref[i]);
    }
    *mean = s / NROWS;
    for (int i = 0; i < NROWS; i++) s2 += (ref[i] - *mean) * (ref[i] - *mean);
    *se = sqrt(s2 / (NROWS - 1) / NROWS);
}

static void test_logprob(void)
{
    static double ref[NROWS];
    reference_log_prob(F, P, 0, ref);
    double mean, se, lo, hi;
    summary_of(ref, &mean, &se, &lo, &hi);

    char args[1024];
    snprintf(args, sizeof args, "logprob --model %s --data %s -o %s --json", model, datafile, path_of("lp.npy"));
    int rc = run(args);
    read_outputs();
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err_text);
    CHECK(err_text[0] == '\0');
    /* exactly one JSON object on one line */
    size_t len = strlen(out_text);
    CHECK(len > 2 && out_text[0] == '{' && out_text[len - 2] == '}' && out_text[len - 1] == '\n');
    CHECK(strchr(out_text, '\n') == out_text + len - 1);
    CHECK_NEAR(json_get(out_text, "n"), NROWS, 0);
    CHECK_NEAR(json_get(out_text, "dim"), 2, 0);
    CHECK_NEAR(json_get(out_text, "mean_log_prob"), mean, TOL * (1 + fabs(mean)));
    CHECK_NEAR(json_get(out_text, "stderr"), se, 1e-3 * se);
    CHECK_NEAR(json_get(out_text, "min"), lo, TOL * (1 + fabs(lo)));
    CHECK_NEAR(json_get(out_text, "max"), hi, TOL * (1 + fabs(hi)));
    CHECK(se > 0 && lo < hi);
    compare_rows(path_of("lp.npy"), ref);

    /* .csv output and the text summary */
    snprintf(args, sizeof args, "logprob --model %s --data %s -o %s", model, datafile, path_of("lp.csv"));
    rc = run(args);
    read_outputs();
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err_text);
    CHECK(strstr(out_text, "4100 rows, dim 2") != NULL);
    CHECK(strstr(out_text, "mean log-density") != NULL);
    char expect[64];
    snprintf(expect, sizeof expect, "%.6f", mean);
    CHECK_MSG(strstr(out_text, expect) != NULL, "summary lacks the mean %s: %s", expect, out_text);
    compare_rows(path_of("lp.csv"), ref);

    /* --quiet prints nothing */
    snprintf(args, sizeof args, "logprob --model %s --data %s --quiet", model, datafile);
    CHECK(run(args) == 0);
    read_outputs();
    CHECK(out_text[0] == '\0' && err_text[0] == '\0');
}

static void test_logprob_conditional(void)
{
    static double ref[NROWS];
    reference_log_prob(FC, PC, 1, ref);
    double mean, se, lo, hi;
    summary_of(ref, &mean, &se, &lo, &hi);
    char args[1024];
    snprintf(args, sizeof args, "logprob --model %s --data %s --context %s -o %s --json", cmodel, datafile, ctxfile,
             path_of("clp.npy"));
    int rc = run(args);
    read_outputs();
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err_text);
    CHECK_NEAR(json_get(out_text, "mean_log_prob"), mean, TOL * (1 + fabs(mean)));
    compare_rows(path_of("clp.npy"), ref);

    /* the context matters: the unconditional and conditional answers differ */
    static double ref0[NROWS];
    reference_log_prob(F, P, 0, ref0);
    CHECK(fabs(ref0[0] - ref[0]) > 1e-3);

    snprintf(args, sizeof args, "logprob --model %s --data %s", cmodel, datafile);
    check_error(args, 2, "varflow logprob: ", "--context");
    snprintf(args, sizeof args, "logprob --model %s --data %s --context %s", model, datafile, ctxfile);
    check_error(args, 2, "varflow logprob: ", "--context");
    /* a context with the wrong number of rows */
    snprintf(args, sizeof args, "logprob --model %s --data %s --context %s", cmodel, datafile, path_of("one.csv"));
    put_text("one.csv", "0.5\n");
    check_error(args, 1, "varflow logprob: ", "one.csv");
}

static void test_sample(void)
{
    char args[1024];
    snprintf(args, sizeof args, "sample --model %s -n 300 --seed 7 -o %s --json", model, path_of("s1.npy"));
    int rc = run(args);
    read_outputs();
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err_text);
    CHECK_NEAR(json_get(out_text, "n"), 300, 0);
    CHECK_NEAR(json_get(out_text, "dim"), 2, 0);
    CHECK(strstr(out_text, "\"path\":") != NULL && strstr(out_text, "s1.npy") != NULL);

    /* the library's sampler with the same seed gives the same points */
    vf_tensor s1;
    if (read_checked(path_of("s1.npy"), 300, 2, &s1)) return;
    vf_tape *t = vf_tape_new();
    vf_rng r;
    vf_rng_init(&r, 7, 0);
    vf_var sv = vf_flow_sample(F, P, t, 300, VF_NOVAR, &r, NULL);
    const vf_tensor *ref = vf_value(t, sv);
    double worst = 0;
    for (int i = 0; ref && i < 300; i++)
        for (int j = 0; j < 2; j++) {
            double a = s1.data[i * 2 + j], b = ref->data[i * ref->stride[0] + j * ref->stride[1]];
            worst = fmax(worst, fabs(a - b) / (1 + fabs(b)));
        }
    CHECK(ref != NULL);
    CHECK_MSG(worst < TOL, "sample vs library: %g", worst);
    vf_tape_free(t);

    /* same seed: same file; another seed: other points; .csv has 300 rows */
    snprintf(args, sizeof args, "sample --model %s -n 300 --seed 7 -o %s --quiet", model, path_of("s2.npy"));
    CHECK(run(args) == 0);
    vf_tensor s2;
    if (read_checked(path_of("s2.npy"), 300, 2, &s2) == 0) {
        CHECK(memcmp(s1.data, s2.data, 600 * sizeof *s1.data) == 0);
        vf_tensor_free(&s2);
    }
    snprintf(args, sizeof args, "sample --model %s -n 300 --seed 8 -o %s", model, path_of("s3.csv"));
    CHECK(run(args) == 0);
    read_outputs();
    CHECK(strstr(out_text, "wrote 300 samples") != NULL);
    vf_tensor s3;
    if (read_checked(path_of("s3.csv"), 300, 2, &s3) == 0) {
        CHECK(fabs((double)s3.data[0] - (double)s1.data[0]) > 1e-6);
        vf_tensor_free(&s3);
    }
    vf_tensor_free(&s1);

    /* across the batch boundary: the points are distinct and spread like the model's */
    snprintf(args, sizeof args, "sample --model %s -n %d -o %s", model, NROWS, path_of("big.npy"));
    CHECK(run(args) == 0);
    vf_tensor big;
    if (read_checked(path_of("big.npy"), NROWS, 2, &big) == 0) {
        CHECK(big.data[4096 * 2] != big.data[0] && big.data[4099 * 2] != big.data[3 * 2]);
        vf_tensor_free(&big);
    }
}

static void test_sample_conditional(void)
{
    char args[1024];
    put_text("ctx1.csv", "0.75\n");
    snprintf(args, sizeof args, "sample --model %s -n 50 --seed 3 --context %s -o %s", cmodel, path_of("ctx1.csv"),
             path_of("cs.npy"));
    int rc = run(args);
    read_outputs();
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err_text);
    vf_tensor cs;
    if (read_checked(path_of("cs.npy"), 50, 2, &cs)) return;
    vf_real c50[50];
    for (int i = 0; i < 50; i++) c50[i] = (vf_real)0.75;
    vf_tape *t = vf_tape_new();
    vf_rng r;
    vf_rng_init(&r, 3, 0);
    vf_var cv = vf_input(t, c50, 2, (int64_t[]){50, 1});
    const vf_tensor *ref = vf_value(t, vf_flow_sample(FC, PC, t, 50, cv, &r, NULL));
    CHECK(ref != NULL);
    double worst = 0;
    for (int i = 0; ref && i < 50; i++)
        for (int j = 0; j < 2; j++)
            worst = fmax(worst, fabs((double)cs.data[i * 2 + j] - ref->data[i * ref->stride[0] + j * ref->stride[1]]));
    CHECK_MSG(worst < TOL * 10, "conditional sample vs library: %g", worst);
    vf_tape_free(t);
    vf_tensor_free(&cs);

    /* N context rows */
    snprintf(args, sizeof args, "sample --model %s -n %d --context %s -o %s", cmodel, NROWS, ctxfile, path_of("cs2.npy"));
    CHECK(run(args) == 0);
    /* missing, refused and mis-sized contexts */
    snprintf(args, sizeof args, "sample --model %s -n 5 -o %s", cmodel, path_of("z.npy"));
    check_error(args, 2, "varflow sample: ", "--context");
    snprintf(args, sizeof args, "sample --model %s -n 5 --context %s -o %s", cmodel, ctxfile, path_of("z.npy"));
    check_error(args, 1, "varflow sample: ", "c.npy");
}

static void test_errors(void)
{
    char args[1024];
    /* a safetensors file that is not a flow model */
    vf_st_writer *w = vf_st_writer_new();
    vf_real wts[4] = {1, 2, 3, 4};
    vf_st_writer_add(w, "layer0.weight", VF_ST_F32, 2, (int64_t[]){2, 2}, wts);
    CHECK_STATUS(vf_st_writer_write(w, path_of("mlp.safetensors")), VF_OK);
    vf_st_writer_free(w);
    put_text("three.csv", "1,2,3\n4,5,6\n");

    snprintf(args, sizeof args, "logprob --model %s --data %s", path_of("absent.safetensors"), datafile);
    check_error(args, 1, "varflow logprob: ", "absent.safetensors");
    snprintf(args, sizeof args, "logprob --model %s --data %s", path_of("mlp.safetensors"), datafile);
    check_error(args, 1, "varflow logprob: ", "mlp.safetensors");
    snprintf(args, sizeof args, "sample --model %s -n 3 -o %s", path_of("mlp.safetensors"), path_of("z.npy"));
    check_error(args, 1, "varflow sample: ", "mlp.safetensors");
    snprintf(args, sizeof args, "logprob --model %s --data %s", model, path_of("three.csv"));
    check_error(args, 1, "varflow logprob: ", "columns");
    snprintf(args, sizeof args, "logprob --model %s --data %s", model, path_of("absent.csv"));
    check_error(args, 1, "varflow logprob: ", "absent.csv");
    put_text("empty.csv", "");
    snprintf(args, sizeof args, "logprob --model %s --data %s", model, path_of("empty.csv"));
    check_error(args, 1, "varflow logprob: ", "empty.csv");
    snprintf(args, sizeof args, "sample --model %s -n 3 -o %s", model, path_of("nodir/z.npy"));
    check_error(args, 1, "varflow sample: ", "z.npy");

    /* usage errors */
    snprintf(args, sizeof args, "logprob --data %s", datafile);
    check_error(args, 2, "varflow logprob: ", "--model");
    snprintf(args, sizeof args, "logprob --model %s", model);
    check_error(args, 2, "varflow logprob: ", "--data");
    snprintf(args, sizeof args, "logprob --model %s --data %s -o %s", model, datafile, path_of("lp.txt"));
    check_error(args, 2, "varflow logprob: ", "lp.txt");
    check_error("logprob --model", 2, "varflow logprob: ", "needs a value");
    snprintf(args, sizeof args, "sample --model %s -n 0 -o %s", model, path_of("z.npy"));
    check_error(args, 2, "varflow sample: ", "-n");
    snprintf(args, sizeof args, "sample --model %s -o %s", model, path_of("z.npy"));
    check_error(args, 2, "varflow sample: ", "-n");
    snprintf(args, sizeof args, "sample --model %s -n 4", model);
    check_error(args, 2, "varflow sample: ", "-o");
    snprintf(args, sizeof args, "sample --model %s -n 4 --seed -1 -o %s", model, path_of("z.npy"));
    check_error(args, 2, "varflow sample: ", "--seed");
    CHECK(access(path_of("z.npy"), F_OK) != 0);   /* no failed command left an output behind */
}

static void test_help(void)
{
    CHECK(run("logprob --help") == 0);
    read_outputs();
    CHECK(strstr(out_text, "Usage: varflow logprob") != NULL && strstr(out_text, "--context") != NULL);
    CHECK(run("sample --help") == 0);
    read_outputs();
    CHECK(strstr(out_text, "Usage: varflow sample") != NULL && strstr(out_text, "--seed") != NULL);
}

int main(void)
{
    if (access(BIN, X_OK) != 0) {
        fprintf(stderr, "test_flow_cli: %s is not built\n", BIN);
        return 1;
    }
    if (tmpdir_open("vf_flow_cli")) return 1;
    if (setup() == 0) {
        RUN(test_help);
        RUN(test_logprob);
        RUN(test_logprob_conditional);
        RUN(test_sample);
        RUN(test_sample_conditional);
        RUN(test_errors);
    } else {
        CHECK_MSG(0, "setup failed");
    }
    vf_flow_free(F);
    vf_flow_free(FC);
    vf_params_free(P);
    vf_params_free(PC);
    tmpdir_close();
    return vf_test_summary();
}
