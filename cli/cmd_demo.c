/* cmd_demo.c — `varflow demo [-o DIR]`: what `make demo` runs.
 *
 * A neural spline flow (the `nsf` preset with its defaults) learns a 2-D toy distribution whose entropy
 * is known, so the held-out negative log-likelihood has an absolute yardstick: no model can do better
 * than the entropy on average. The demo is the same five commands a user would type (`varflow data`
 * three times, `varflow fit`, `varflow sample`), run in-process with their output files in DIR; it
 * prints them, shows the validation NLL falling from the training log, scores the test split with the
 * saved model file, checks where the samples fall, and prints the commands to look at the results.
 * Every file is written atomically (the training log through a temporary name), so an interrupted
 * demo leaves earlier results whole.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"

#define DEMO_TRAIN 50000
#define DEMO_VALID 10000
#define DEMO_TEST 20000
#define DEMO_SAMPLES 5000
#define DEMO_EPOCHS 40 /* default */
#define DEMO_BATCH "256"
#define DEMO_LR "3e-3"
#define DEMO_EVAL_CHUNK 4096

/* The data sets the demo knows the entropy of (FFJORD definitions, docs/cli.md). */
typedef struct demo_set {
    const char *name;
    double entropy;             /* nats */
    const char *entropy_text;   /* how it follows from the definition */
    const char *sample_check;   /* what inside() tests */
    double inside_expected;     /* fraction of true draws inside */
} demo_set;

static const demo_set demo_sets[] = {
    {"checkerboard", 3.4657359027997265, "log 32: uniform on 8 squares of area 4",
     "on the 8 dark squares of the board", 1.0},
    /* 8 components of variance 1/8 per axis, centres 6.1 sd apart: log 8 + log(2 pi e / 8) = log(2 pi e),
     * less a mixing correction below 1e-4 nats. Within 3 sd of a centre: 1 - exp(-9/2). */
    {"8gaussians", 2.8378770664093453, "about log(2 pi e): 8 barely overlapping Gaussians of variance 1/8",
     "within 3 sd of one of the 8 centres", 0.98889100346175773},
};

/* 1 when the point (a, b) is where the distribution puts its mass (see demo_set.sample_check). */
static int inside(const demo_set *s, double a, double b)
{
    if (s == &demo_sets[0]) {
        if (!(fabs(a) <= 4.0 && fabs(b) <= 4.0)) return 0;
        long k = (long)floor(a / 2.0) + (long)floor(b / 2.0);
        return k % 2 == 0;
    }
    const double r = 4.0 / 1.414, sd = 0.5 / 1.414, pi = 3.14159265358979323846;
    for (int k = 0; k < 8; k++) {
        double ca = r * cos(k * pi / 4.0), cb = r * sin(k * pi / 4.0);
        if ((a - ca) * (a - ca) + (b - cb) * (b - cb) <= 9.0 * sd * sd) return 1;
    }
    return 0;
}

static void help(FILE *out)
{
    fprintf(out,
            "Usage: varflow demo [-o DIR] [--set NAME] [--epochs E | --steps K] [--seed S] [--threads T]\n"
            "                    [--json] [--quiet]\n"
            "\n"
            "Fits a neural spline flow (the nsf preset, its defaults) to a built-in 2-D data set whose entropy\n"
            "is known, reports the held-out test NLL beside that entropy (the best any model can do), and\n"
            "writes into DIR (default varflow-demo; make demo uses build/demo):\n"
            "  train.npy, valid.npy, test.npy   %d / %d / %d points of the data set\n"
            "  model.safetensors                the fitted flow (varflow info / logprob / sample read it)\n"
            "  train_log.jsonl                  one JSON line per epoch (train and validation NLL, lr, ...)\n"
            "  samples.csv                      %d points drawn from the flow\n"
            "  density.svg                      the flow's density with test points over it (varflow plot)\n"
            "  curves.svg                       the training and validation NLL per epoch (varflow plot)\n"
            "It runs the varflow commands it prints (data, fit, sample), so they reproduce its files.\n"
            "\n"
            "Options:\n"
            "  -o, --output DIR   output folder, created if missing (default varflow-demo)\n"
            "  --set NAME         checkerboard (default; entropy log 32 = 3.466 nats) or 8gaussians (2.838)\n"
            "  --epochs E         training epochs (default %d; under a minute on one core)\n"
            "  --steps K          stop after K optimizer steps instead (a quick look)\n",
            DEMO_TRAIN, DEMO_VALID, DEMO_TEST, DEMO_SAMPLES, DEMO_EPOCHS);
    cli_print_common_help(out);
    fputs("\n"
          "With --json, prints {\"set\", \"entropy\", \"test_nll\", \"test_nll_stderr\", \"valid_nll\",\n"
          "\"epochs\", \"steps\", \"seconds\", \"params\", \"samples_inside\", \"samples_inside_expected\",\n"
          "\"dir\", \"model\", \"samples\", \"log\", \"density_plot\", \"curves_plot\"}.\n",
          out);
}

/* Runs the varflow command cmd with the words of args (separated by single spaces, none empty);
 * returns its exit code. */
static int run_command(const cli_command *cmd, const char *args)
{
    char buf[8192];
    char *argv[64];
    int argc = 0;
    snprintf(buf, sizeof buf, "%s", args);
    argv[argc++] = (char *)cmd->name;
    for (char *w = strtok(buf, " "); w && argc < 63; w = strtok(NULL, " ")) argv[argc++] = w;
    argv[argc] = NULL;
    return cmd->run(argc, argv);
}

/* The number after "key": in the JSON line s (NAN when absent). */
static double json_number(const char *s, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(s, pat);
    if (!p) return NAN;
    char *end;
    double v = strtod(p + strlen(pat), &end);
    return end == p + strlen(pat) ? NAN : v;
}

/* Prints about eight lines of the training log at path: the NLL falling. */
static void show_log(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f)) n++;
    rewind(f);
    int every = n > 8 ? (n + 7) / 8 : 1, k = 0;
    while (fgets(line, sizeof line, f)) {
        k++;
        if (k % every && k != n) continue;
        printf("  epoch %3.0f  step %6.0f  train NLL %.4f  validation NLL %.4f\n", json_number(line, "epoch"),
               json_number(line, "step"), json_number(line, "train_nll"), json_number(line, "valid_nll"));
    }
    fclose(f);
}

typedef struct scored {
    double mean_nll, stderr_nll;
    int64_t n, params;
} scored;

/* Mean NLL of the rows of data under the model file, with its standard error. 0, or the exit code of the
 * error already printed. */
static int score(const char *model, const char *data, scored *out)
{
    vf_params *p = NULL;
    vf_flow *f = NULL;
    vf_tensor x = {0};
    vf_tape *t = NULL;
    int rc = 1;
    if (vf_flow_load(model, &p, &f, NULL) != VF_OK || vf_read_table(data, &x) != VF_OK) {
        cli_runtime_error("demo", "%s", vf_last_error());
        goto done;
    }
    int64_t n = x.shape[0], d = x.shape[1];
    if (!(t = vf_tape_new())) {
        cli_runtime_error("demo", "out of memory");
        goto done;
    }
    double sum = 0.0, sum2 = 0.0;
    for (int64_t i = 0; i < n; i += DEMO_EVAL_CHUNK) {
        int64_t m = n - i < DEMO_EVAL_CHUNK ? n - i : DEMO_EVAL_CHUNK;
        vf_tape_reset(t);
        vf_var lp = vf_flow_log_prob(f, p, t, vf_input(t, x.data + i * d, 2, (int64_t[]){m, d}), VF_NOVAR);
        if (lp == VF_NOVAR) {
            cli_runtime_error("demo", "scoring %s: %s", data, vf_tape_error(t));
            goto done;
        }
        for (int64_t k = 0; k < m; k++) {
            double v = (double)vf_value(t, lp)->data[k];
            sum += v;
            sum2 += v * v;
        }
    }
    out->n = n;
    out->mean_nll = -sum / (double)n;
    out->stderr_nll = n > 1 ? sqrt(fmax(0.0, (sum2 - sum * sum / (double)n) / (double)(n - 1)) / (double)n) : NAN;
    out->params = vf_params_size(p);
    rc = isfinite(out->mean_nll) ? 0 : cli_runtime_error("demo", "the test NLL under %s is not finite", model);
done:
    vf_tape_free(t);
    vf_tensor_free(&x);
    vf_flow_free(f);
    vf_params_free(p);
    return rc;
}

/* Fraction of the rows of the samples file that fall where the distribution puts its mass. */
static int samples_inside(const demo_set *s, const char *path, double *out)
{
    vf_tensor x = {0};
    if (vf_read_table(path, &x) != VF_OK) return cli_runtime_error("demo", "%s", vf_last_error());
    int64_t n = x.shape[0], in = 0;
    for (int64_t i = 0; i < n; i++) in += inside(s, (double)x.data[2 * i], (double)x.data[2 * i + 1]);
    vf_tensor_free(&x);
    *out = (double)in / (double)n;
    return 0;
}

/* A character picture of the samples: a 2-D histogram over [-4, 4]^2, darker where denser. */
#define PIC_W 48
#define PIC_H 24
static void picture(const char *path)
{
    vf_tensor x = {0};
    if (vf_read_table(path, &x) != VF_OK) return;
    int count[PIC_H][PIC_W] = {{0}}, most = 1;
    for (int64_t i = 0; i < x.shape[0]; i++) {
        double a = (double)x.data[2 * i], b = (double)x.data[2 * i + 1];
        int col = (int)floor((a + 4.0) / 8.0 * PIC_W), row = (int)floor((4.0 - b) / 8.0 * PIC_H);
        if (col >= 0 && col < PIC_W && row >= 0 && row < PIC_H && ++count[row][col] > most) most = count[row][col];
    }
    vf_tensor_free(&x);
    static const char shade[] = " .:-=+*#";
    for (int r = 0; r < PIC_H; r++) {
        char text[PIC_W + 1];
        for (int k = 0; k < PIC_W; k++) {
            int level = count[r][k] ? 1 + (int)(6.999 * count[r][k] / most) : 0;
            text[k] = shade[level];
        }
        text[PIC_W] = '\0';
        printf("  |%s|\n", text);
    }
}

/* The last line of the log at path (the kept numbers are the run's; this gives epochs and steps). */
static void last_log_line(const char *path, char *line, size_t cap)
{
    line[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return;
    char buf[1024];
    while (fgets(buf, sizeof buf, f)) snprintf(line, cap, "%s", buf);
    fclose(f);
}

static int run(int argc, char **argv)
{
    cli_common c = {0};
    const char *dir = "varflow-demo", *set_name = "checkerboard";
    int64_t epochs = DEMO_EPOCHS, steps = 0;
    int have_epochs = 0;
    for (int i = 1; i < argc; i++) {
        int k = cli_common_option("demo", argc, argv, &i, &c);
        if (k < 0) return 2;
        if (k > 0) continue;
        const char *v;
        if (cli_is_option(argv[i], "-o") || cli_is_option(argv[i], "--output")) {
            if (!(dir = cli_option_value("demo", argc, argv, &i))) return 2;
        } else if (cli_is_option(argv[i], "--set")) {
            if (!(set_name = cli_option_value("demo", argc, argv, &i))) return 2;
        } else if (cli_is_option(argv[i], "--epochs") || cli_is_option(argv[i], "--steps")) {
            int is_steps = cli_is_option(argv[i], "--steps");
            if (!(v = cli_option_value("demo", argc, argv, &i))) return 2;
            int64_t x;
            if (cli_parse_i64(v, 1, 100000000, &x))
                return cli_usage_error("demo", "%s: '%s' is not a whole number in 1..1e8", is_steps ? "--steps" : "--epochs", v);
            if (is_steps) steps = x;
            else epochs = x, have_epochs = 1;
        } else {
            return cli_usage_error("demo", "unexpected argument '%s'", argv[i]);
        }
    }
    if (have_epochs && steps > 0) return cli_usage_error("demo", "give --epochs or --steps, not both");
    const demo_set *set = NULL;
    for (size_t k = 0; k < sizeof demo_sets / sizeof demo_sets[0]; k++)
        if (strcmp(demo_sets[k].name, set_name) == 0) set = &demo_sets[k];
    if (!set) return cli_usage_error("demo", "--set: unknown set '%s' (valid: checkerboard, 8gaussians)", set_name);
    if (strlen(dir) == 0 || strlen(dir) > 1000 || strchr(dir, ' '))
        return cli_usage_error("demo", "-o: the folder name must be 1..1000 characters without spaces");
    if (mkdir(dir, 0777) != 0) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return cli_runtime_error("demo", "cannot create directory '%s'", dir);
    }
    uint64_t seed = c.have_seed ? c.seed : 0;
    int loud = !c.quiet && !c.json;
    char threads[48] = "";
    if (c.threads > 0) snprintf(threads, sizeof threads, " --threads %d", c.threads);
    char length[48];
    if (steps > 0) snprintf(length, sizeof length, "--steps %lld", (long long)steps);
    else snprintf(length, sizeof length, "--epochs %lld", (long long)epochs);

    /* The commands, as a user would type them (data seeds 3S + 1..3: three independent streams). */
    char data_cmd[3][1200], fit_cmd[6000], sample_cmd[2400], log_path[1100], tmp_log[1120], model[1100], samples[1100],
        test[1100], line[1024];
    static const char *const part[3] = {"train", "valid", "test"};
    static const int64_t rows[3] = {DEMO_TRAIN, DEMO_VALID, DEMO_TEST};
    for (int k = 0; k < 3; k++)
        snprintf(data_cmd[k], sizeof data_cmd[k], "%s -n %lld --seed %llu -o %s/%s.npy --quiet", set->name,
                 (long long)rows[k], (unsigned long long)(3 * seed + 1 + (uint64_t)k), dir, part[k]);
    snprintf(log_path, sizeof log_path, "%s/train_log.jsonl", dir);
    snprintf(tmp_log, sizeof tmp_log, "%s.tmp", log_path);
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    snprintf(samples, sizeof samples, "%s/samples.csv", dir);
    snprintf(test, sizeof test, "%s/test.npy", dir);
    const char *fit_fmt = "--data %s/train.npy --valid %s/valid.npy --model nsf %s --batch " DEMO_BATCH " --lr " DEMO_LR
                          " --seed %llu --log %s -o %s%s%s";
    snprintf(fit_cmd, sizeof fit_cmd, fit_fmt, dir, dir, length, (unsigned long long)seed, tmp_log, model, threads,
             loud ? "" : " --quiet");
    snprintf(sample_cmd, sizeof sample_cmd, "--model %s -n %d --seed %llu -o %s --quiet", model, DEMO_SAMPLES,
             (unsigned long long)seed, samples);

    if (loud) {
        printf("varflow demo: a neural spline flow learns the 2-D '%s' distribution, whose entropy is\n"
               "%.4f nats (%s): no model's mean test NLL can be lower.\n\n", set->name, set->entropy,
               set->entropy_text);
        for (int k = 0; k < 3; k++) printf("  varflow data %.*s\n", (int)(strstr(data_cmd[k], " --quiet") - data_cmd[k]), data_cmd[k]);
        char shown[6000];
        snprintf(shown, sizeof shown, fit_fmt, dir, dir, length, (unsigned long long)seed, log_path, model, threads, "");
        printf("  varflow fit %s\n\n", shown);
        fflush(stdout);
    }
    int rc;
    for (int k = 0; k < 3; k++)
        if ((rc = run_command(&cli_cmd_data, data_cmd[k])) != 0) return rc;
    if ((rc = run_command(&cli_cmd_fit, fit_cmd)) != 0) {
        remove(tmp_log);
        return rc;
    }
    if (rename(tmp_log, log_path) != 0) return cli_runtime_error("demo", "cannot write '%s'", log_path);
    if (loud) {
        printf("\nthe NLL (nats per point) falling, from %s:\n", log_path);
        show_log(log_path);
    }
    scored sc;
    if ((rc = score(model, test, &sc)) != 0) return rc;
    if ((rc = run_command(&cli_cmd_sample, sample_cmd)) != 0) return rc;
    double in = 0.0;
    if ((rc = samples_inside(set, samples, &in)) != 0) return rc;
    /* The pictures: the fitted density with test points over it, and the training curves. */
    char density_svg[1100], curves_svg[1100], plot_cmd[4400];
    snprintf(density_svg, sizeof density_svg, "%s/density.svg", dir);
    snprintf(curves_svg, sizeof curves_svg, "%s/curves.svg", dir);
    snprintf(plot_cmd, sizeof plot_cmd, "density --model %s --data %s --points 2000 --range -4.5,4.5,-4.5,4.5 --quiet -o %s",
             model, test, density_svg);
    if ((rc = run_command(&cli_cmd_plot, plot_cmd)) != 0) return rc;
    snprintf(plot_cmd, sizeof plot_cmd, "curves --log %s --quiet -o %s", log_path, curves_svg);
    if ((rc = run_command(&cli_cmd_plot, plot_cmd)) != 0) return rc;
    last_log_line(log_path, line, sizeof line);
    double valid_nll = NAN;
    {
        vf_model_meta meta;
        vf_params *p = NULL;
        vf_flow *f = NULL;
        if (vf_flow_load(model, &p, &f, &meta) == VF_OK) {
            const char *v = vf_model_meta_get(&meta, "fit.valid_nll");
            if (v) valid_nll = strtod(v, NULL);
            vf_model_meta_free(&meta);
            vf_flow_free(f);
            vf_params_free(p);
        }
    }

    if (c.json) {
        printf("{\"set\":\"%s\",\"entropy\":%.9g,\"test_nll\":%.9g,\"test_nll_stderr\":%.9g,\"valid_nll\":%.9g,"
               "\"epochs\":%.0f,\"steps\":%.0f,\"seconds\":%.3f,\"params\":%lld,\"samples_inside\":%.6g,"
               "\"samples_inside_expected\":%.6g,\"dir\":",
               set->name, set->entropy, sc.mean_nll, sc.stderr_nll, valid_nll, json_number(line, "epoch"),
               json_number(line, "step"), json_number(line, "seconds"), (long long)sc.params, in, set->inside_expected);
        cli_json_string(stdout, dir);
        printf(",\"model\":");
        cli_json_string(stdout, model);
        printf(",\"samples\":");
        cli_json_string(stdout, samples);
        printf(",\"log\":");
        cli_json_string(stdout, log_path);
        printf(",\"density_plot\":");
        cli_json_string(stdout, density_svg);
        printf(",\"curves_plot\":");
        cli_json_string(stdout, curves_svg);
        printf("}\n");
    } else if (!c.quiet) {
        printf("\nheld-out test NLL: %.4f +- %.4f nats per point (%lld points of %s)\n", sc.mean_nll, sc.stderr_nll,
               (long long)sc.n, test);
        printf("the data's entropy: %.4f nats; the flow is %.4f nats above it (%s)\n", set->entropy,
               sc.mean_nll - set->entropy,
               sc.mean_nll - set->entropy < 0.1 ? "close: a good fit" : "train longer to close the gap");
        printf("samples: %.1f%% of %d fall %s (%.1f%% of true draws do);\n"
               "their histogram on [-4, 4]^2:\n", 100.0 * in, DEMO_SAMPLES, set->sample_check,
               100.0 * set->inside_expected);
        picture(samples);
        printf("\n");
        printf("wrote %s (the flow), %s (%d samples),\n      %s (per-epoch log), train/valid/test.npy\n\n", model,
               samples, DEMO_SAMPLES, log_path);
        printf("look at them:\n");
        printf("  varflow info %s\n", model);
        printf("  varflow logprob --model %s --data %s\n", model, test);
        printf("  varflow sample --model %s -n 100000 --seed 1 -o %s/more.npy\n", model, dir);
        printf("  varflow info %s\n", samples);
        printf("\npictures (open them in a browser):\n");
        printf("  %s   the flow's density, %s's points over it\n", density_svg, test);
        printf("  %s    training and validation NLL per epoch\n", curves_svg);
        printf("  made by: varflow plot density --model %s --data %s --points 2000 --range -4.5,4.5,-4.5,4.5 -o %s\n",
               model, test, density_svg);
        printf("           varflow plot curves --log %s -o %s\n", log_path, curves_svg);
    }
    return 0;
}

const cli_command cli_cmd_demo = {"demo", "fit a spline flow to 2-D toy data and compare its test NLL with the entropy",
                                  run, help};
