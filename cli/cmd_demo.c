/* cmd_demo.c — `varflow demo [-o DIR]`: what `make demo` runs.
 *
 * Until the flows land, the demo is the engine's reference workload done for real: an MLP
 * 3 -> 256 -> 256 -> 256 -> 2 (SiLU) learns a smooth function from noisy samples with Adam and a cosine
 * schedule. It prints the loss falling, compares the held-out error with the noise floor (the best any
 * model can do), writes a JSON-lines training log and the model as a safetensors file, and reloads the
 * file to check it reproduces the same error.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "cli.h"
#include "mlp_regression.h"

#define DEMO_STEPS 3000 /* default */
#define DEMO_BATCH 512
#define DEMO_TEST 8192
#define DEMO_REPORT 300

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int save_model(mlp_regression *r, const char *path)
{
    vf_st_writer *w = vf_st_writer_new();
    if (!w) return -1;
    vf_st_dtype dtype = VF_USE_DOUBLE ? VF_ST_F64 : VF_ST_F32;
    vf_status s = VF_OK;
    for (int32_t i = 0; i < vf_params_count(r->params) && s == VF_OK; i++) {
        vf_param_info info;
        s = vf_params_info(r->params, i, &info);
        if (s == VF_OK) s = vf_st_writer_add(w, info.name, dtype, info.ndim, info.shape, vf_params_data(r->params, i));
    }
    char arch[160];
    snprintf(arch, sizeof arch,
             "{\"type\":\"mlp\",\"in\":%d,\"out\":%d,\"hidden\":[%d,%d,%d],\"act\":\"silu\",\"prefix\":\"net\"}",
             MLP_REG_IN, MLP_REG_OUT, MLP_REG_HIDDEN, MLP_REG_HIDDEN, MLP_REG_HIDDEN);
    if (s == VF_OK) s = vf_st_writer_set_meta(w, "format", "varflow");
    if (s == VF_OK) s = vf_st_writer_set_meta(w, "varflow_version", vf_version());
    if (s == VF_OK) s = vf_st_writer_set_meta(w, "architecture", arch);
    if (s == VF_OK) s = vf_st_writer_write(w, path);
    vf_st_writer_free(w);
    return s == VF_OK ? 0 : -1;
}

/* Overwrite the parameters of r from the model file at path. */
static int load_model(mlp_regression *r, const char *path)
{
    vf_st_file *f = NULL;
    if (vf_st_open(path, &f) != VF_OK) return -1;
    vf_status s = VF_OK;
    for (int32_t i = 0; i < vf_params_count(r->params) && s == VF_OK; i++) {
        vf_param_info info;
        s = vf_params_info(r->params, i, &info);
        if (s == VF_OK) s = vf_st_get_into(f, info.name, vf_params_data(r->params, i), info.numel);
    }
    vf_st_close(f);
    return s == VF_OK ? 0 : -1;
}

static void help(FILE *out)
{
    fputs("Usage: varflow demo [-o DIR] [--steps K] [--seed S] [--threads T] [--quiet]\n"
          "\n"
          "Trains an MLP 3-256-256-256-2 (SiLU) on a generated regression problem (y = f(x) + noise,\n"
          "noise sd 0.1) for K (default 3000) Adam steps at batch 512, shows the loss falling, compares the held-out\n"
          "mean squared error with the noise floor 0.01, and writes into DIR (default varflow-demo):\n"
          "  train_log.jsonl     one JSON object per reported step (step, train_mse, lr, seconds)\n"
          "  mlp.safetensors     the trained weights (PyTorch names, architecture in the metadata)\n",
          out);
    cli_print_common_help(out);
}

static int run(int argc, char **argv)
{
    cli_common c = {0};
    const char *dir = "varflow-demo";
    int64_t steps = DEMO_STEPS;
    for (int i = 1; i < argc; i++) {
        int k = cli_common_option("demo", argc, argv, &i, &c);
        if (k < 0) return 2;
        if (k > 0) continue;
        if (cli_is_option(argv[i], "-o") || cli_is_option(argv[i], "--output")) {
            if (!(dir = cli_option_value("demo", argc, argv, &i))) return 2;
        } else if (cli_is_option(argv[i], "--steps")) {
            const char *v = cli_option_value("demo", argc, argv, &i);
            if (!v) return 2;
            if (cli_parse_i64(v, 1, 100000000, &steps))
                return cli_usage_error("demo", "--steps: '%s' is not a whole number in 1..1e8", v);
        } else {
            return cli_usage_error("demo", "unexpected argument '%s'", argv[i]);
        }
    }
    if (c.threads > 0) vf_set_num_threads(c.threads);
    uint64_t seed = c.have_seed ? c.seed : 0;
    if (mkdir(dir, 0777) != 0) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return cli_runtime_error("demo", "cannot create directory '%s'", dir);
    }
    char log_path[4096], model_path[4096];
    snprintf(log_path, sizeof log_path, "%s/train_log.jsonl", dir);
    snprintf(model_path, sizeof model_path, "%s/mlp.safetensors", dir);

    mlp_regression r;
    if (mlp_regression_init(&r, DEMO_BATCH, seed) != VF_OK) return cli_runtime_error("demo", "%s", vf_last_error());
    int rc = 1;
    FILE *log = NULL;
    vf_real *x = malloc(sizeof(vf_real) * DEMO_BATCH * MLP_REG_IN), *y = malloc(sizeof(vf_real) * DEMO_BATCH * MLP_REG_OUT);
    vf_real *tx = malloc(sizeof(vf_real) * DEMO_TEST * MLP_REG_IN), *ty = malloc(sizeof(vf_real) * DEMO_TEST * MLP_REG_OUT);
    if (!x || !y || !tx || !ty) {
        cli_runtime_error("demo", "out of memory");
        goto done;
    }
    char tmp_log[4200];
    snprintf(tmp_log, sizeof tmp_log, "%s.tmp", log_path);
    if (!(log = fopen(tmp_log, "w"))) {
        cli_runtime_error("demo", "cannot write '%s'", tmp_log);
        goto done;
    }
    vf_rng data_rng, test_rng;
    vf_rng_init(&data_rng, seed, 100);
    vf_rng_init(&test_rng, seed, 200);
    mlp_regression test = r; /* same shapes; only its batch size matters for the test set */
    test.batch = DEMO_TEST;
    mlp_regression_batch(&test, &test_rng, tx, ty);

    vf_schedule sch = vf_schedule_default(2e-3, steps);
    sch.kind = VF_SCHED_COSINE;
    sch.warmup_steps = 100;
    sch.final_fraction = 0.02;
    double noise_floor = MLP_REG_NOISE * MLP_REG_NOISE, mse0 = 0, mse = 0, window = 0;
    mlp_regression_eval(&r, DEMO_TEST, tx, ty, &mse0);
    if (!c.quiet) {
        printf("varflow demo: an MLP 3-256-256-256-2 (SiLU, %lld parameters) learns y = f(x) + noise\n",
               (long long)vf_params_size(r.params));
        printf("  (noise sd %.2g, so no model can beat a held-out MSE of %.4f); Adam, cosine lr 2e-3, batch %d\n",
               MLP_REG_NOISE, noise_floor, DEMO_BATCH);
        printf("  step %5d  held-out MSE %.4f (untrained)\n", 0, mse0);
    }
    int64_t report = steps >= 10 * DEMO_REPORT ? DEMO_REPORT : (steps + 9) / 10;
    double t0 = now_seconds();
    for (int64_t step = 1; step <= steps; step++) {
        double loss;
        vf_adam_set_lr(r.opt, vf_schedule_lr(&sch, step - 1));
        mlp_regression_batch(&r, &data_rng, x, y);
        if (mlp_regression_step(&r, x, y, &loss) != VF_OK || !isfinite(loss)) {
            cli_runtime_error("demo", "training failed at step %lld: %s", (long long)step, vf_last_error());
            goto done;
        }
        window += loss;
        if (step % report == 0 || step == steps) {
            double secs = now_seconds() - t0;
            int64_t span = step % report ? step % report : report;
            fprintf(log, "{\"step\":%lld,\"train_mse\":%.6g,\"lr\":%.6g,\"seconds\":%.3f}\n", (long long)step,
                    window / (double)span, vf_schedule_lr(&sch, step - 1), secs);
            if (!c.quiet)
                printf("  step %5lld  train MSE %.4f  (%.0f steps/s)\n", (long long)step, window / (double)span,
                       (double)step / secs);
            window = 0;
        }
    }
    double seconds = now_seconds() - t0;
    if (fclose(log) != 0 || rename(tmp_log, log_path) != 0) {
        log = NULL;
        cli_runtime_error("demo", "cannot write '%s'", log_path);
        goto done;
    }
    log = NULL;
    mlp_regression_eval(&r, DEMO_TEST, tx, ty, &mse);
    if (save_model(&r, model_path)) {
        cli_runtime_error("demo", "cannot save the model: %s", vf_last_error());
        goto done;
    }
    /* Reload into a fresh network with other initial weights: the file alone must reproduce the error. */
    mlp_regression r2;
    double mse2 = NAN;
    if (mlp_regression_init(&r2, DEMO_BATCH, seed + 1) != VF_OK) {
        cli_runtime_error("demo", "%s", vf_last_error());
        goto done;
    }
    int loaded = load_model(&r2, model_path) == 0 && mlp_regression_eval(&r2, DEMO_TEST, tx, ty, &mse2) == VF_OK;
    mlp_regression_free(&r2);
    if (!loaded || mse2 != mse) {
        cli_runtime_error("demo", "reloading '%s' did not reproduce the model: %s", model_path, vf_last_error());
        goto done;
    }
    if (c.json) {
        printf("{\"steps\":%lld,\"seconds\":%.3f,\"test_mse_initial\":%.6g,\"test_mse\":%.6g,\"noise_floor\":%.6g,"
               "\"params\":%lld,\"log\":",
               (long long)steps, seconds, mse0, mse, noise_floor, (long long)vf_params_size(r.params));
        cli_json_string(stdout, log_path);
        printf(",\"model\":");
        cli_json_string(stdout, model_path);
        printf("}\n");
    } else if (!c.quiet) {
        printf("done: %lld steps in %.1f s (%.0f steps/s); held-out MSE %.4f -> %.4f (noise floor %.4f, %.0f%% above it)\n",
               (long long)steps, seconds, (double)steps / seconds, mse0, mse, noise_floor, 100.0 * (mse / noise_floor - 1.0));
        printf("wrote %s (training log, JSON lines)\n", log_path);
        printf("wrote %s (model; reloaded and checked: same held-out MSE)\n", model_path);
    }
    rc = 0;
done:
    if (log) {
        fclose(log);
        remove(tmp_log);
    }
    free(x); free(y); free(tx); free(ty);
    mlp_regression_free(&r);
    return rc;
}

const cli_command cli_cmd_demo = {"demo", "train the reference MLP and show the loss falling", run, help};
