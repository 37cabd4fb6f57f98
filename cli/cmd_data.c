/* cmd_data.c — `varflow data`: write a built-in data set (the 2-D toys, or exact draws of a built-in
 * target that has a sampler, vf_target.h) to a .csv or .npy file. */
#include <string.h>
#include <strings.h>
#include "cli.h"

#define DATA_DEFAULT_N 10000

/* 1 when the spec's name (before any ':') is a toy data set. */
static int is_toy(const char *spec)
{
    size_t len = strcspn(spec, ":");
    for (const char *const *p = vf_toy_names(); *p; p++)
        if (strlen(*p) == len && strncmp(*p, spec, len) == 0) return 1;
    return 0;
}

/* N exact draws of the built-in target `spec` into x (owned [n, dim]): 0, or the exit code printed. */
static int target_draws(const char *spec, int64_t n, vf_rng *rng, vf_tensor *x)
{
    vf_target t;
    memset(x, 0, sizeof *x);
    if (strncmp(spec, "plugin:", 7) == 0)
        return cli_usage_error("data", "%s: a plugin has no exact sampler", spec);
    size_t len = strcspn(spec, ":");
    int known = 0;
    for (const char *const *p = vf_target_names(); *p; p++) known |= strlen(*p) == len && strncmp(*p, spec, len) == 0;
    if (!known) {
        char names[1024] = "";
        size_t at = 0;
        for (int k = 0; k < 2; k++) {
            const char *const *list = k == 0 ? vf_toy_names() : vf_target_names();
            at += (size_t)snprintf(names + at, sizeof names - at, "%s", k == 0 ? "data sets:" : "; targets:");
            for (const char *const *p = list; *p && at < sizeof names; p++)
                if (k == 0 || !is_toy(*p)) at += (size_t)snprintf(names + at, sizeof names - at, " %s", *p);
            if (at >= sizeof names) break;
        }
        return cli_usage_error("data", "unknown data set or target '%.*s' (%s)", (int)len, spec, names);
    }
    vf_status s = vf_target_from_spec(spec, &t);
    if (s != VF_OK) return cli_usage_error("data", "%s", vf_last_error());
    int rc = 0;
    if (!t.sample) rc = cli_usage_error("data", "target %s has no exact sampler", t.name);
    else if (vf_tensor_alloc(x, 2, (int64_t[]){n, t.dim}) != VF_OK || vf_target_sample(&t, n, rng, x->data) != VF_OK)
        rc = cli_runtime_error("data", "%s", vf_last_error());
    vf_target_free(&t);
    if (rc) vf_tensor_free(x);
    return rc;
}

static void data_help(FILE *out)
{
    fputs("Usage: varflow data NAME[:key=value,...] [-n N] [--seed S] -o FILE\n"
          "       varflow data --list\n"
          "\n"
          "Writes N points of a built-in 2-D toy data set to FILE, as .csv (no header) or .npy\n"
          "by its extension. The same NAME, options and seed give the same points.\n"
          "NAME may also be a built-in target of varflow vi with an exact sampler (gauss, funnel, banana,\n"
          "gmm40, manywell, u1..u4, ...; its keys as in varflow vi --help): N exact draws of it, in its\n"
          "dimension. A toy's name wins where both exist (8gaussians: the same distribution).\n"
          "\n"
          "Options:\n"
          "  -n N            number of points (default 10000)\n"
          "  -o, --output F  output file, ending in .csv or .npy (required)\n"
          "  --list          print the data sets and their keys, then exit\n",
          out);
    cli_print_common_help(out);
    fputs("\nData sets (key=default; every set takes scale=, which multiplies the output):\n", out);
    for (const char *const *p = vf_toy_names(); *p; p++) fprintf(out, "  %-13s %s\n", *p, vf_toy_defaults(*p));
    fputs("\nTargets with exact samples (key=default):\n", out);
    for (const char *const *p = vf_target_names(); *p; p++)
        if (!is_toy(*p)) fprintf(out, "  %-13s %s\n", *p, vf_target_defaults(*p));
    fputs("\n"
          "The sets follow FFJORD's toy data (Grathwohl et al. 2019); scurve is the (x, z) S-curve of\n"
          "scikit-learn's make_s_curve, doubled. docs/cli.md gives each generative definition.\n"
          "\n"
          "Example:\n"
          "  varflow data moons:noise=0.05 -n 5000 --seed 1 -o moons.npy\n"
          "\n"
          "With --json, prints {\"name\", \"spec\", \"n\", \"dim\", \"seed\", \"path\"}.\n",
          out);
}

static int list_sets(void)
{
    for (const char *const *p = vf_toy_names(); *p; p++) printf("%-13s %s\n", *p, vf_toy_defaults(*p));
    for (const char *const *p = vf_target_names(); *p; p++)
        if (!is_toy(*p)) printf("%-13s %s (target)\n", *p, vf_target_defaults(*p));
    return 0;
}

static int data_run(int argc, char **argv)
{
    const char *cmd = "data";
    cli_common common = {0};
    const char *spec = NULL, *path = NULL;
    int64_t n = DATA_DEFAULT_N;
    int list = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int c = cli_common_option(cmd, argc, argv, &i, &common);
        if (c < 0) return 2;
        if (c > 0) continue;
        if (strcmp(arg, "-n") == 0 || cli_is_option(arg, "--n")) {
            const char *v = cli_option_value(cmd, argc, argv, &i);
            if (!v) return 2;
            if (cli_parse_i64(v, 1, INT64_C(1) << 40, &n))
                return cli_usage_error(cmd, "-n: '%s' is not a positive whole number", v);
        } else if (strcmp(arg, "-o") == 0 || cli_is_option(arg, "--output")) {
            path = cli_option_value(cmd, argc, argv, &i);
            if (!path) return 2;
            if (!*path) return cli_usage_error(cmd, "-o: empty file name");
        } else if (strcmp(arg, "--list") == 0) {
            list = 1;
        } else if (cli_looks_like_option(arg)) {
            return cli_usage_error(cmd, "unknown option '%s'", arg);
        } else if (spec) {
            return cli_usage_error(cmd, "unexpected argument '%s' (the data set is already '%s')", arg, spec);
        } else {
            spec = arg;
        }
    }
    if (list) return list_sets();
    if (!spec) return cli_usage_error(cmd, "missing data set NAME (varflow data --list shows them)");
    if (!path) return cli_usage_error(cmd, "missing -o FILE");
    const char *ext = cli_extension(path);
    if (strcasecmp(ext, "csv") != 0 && strcasecmp(ext, "npy") != 0)
        return cli_usage_error(cmd, "-o %s: the file name must end in .csv or .npy", path);
    if (common.threads > 0) vf_set_num_threads(common.threads);

    vf_rng rng;
    vf_rng_init(&rng, common.seed, 0);
    vf_tensor x;
    vf_status s = VF_OK;
    if (is_toy(spec)) {
        s = vf_toy_sample_spec(spec, n, &rng, &x);
        if (s == VF_ERR_ARG) return cli_usage_error(cmd, "%s", vf_last_error());
        if (s != VF_OK) return cli_runtime_error(cmd, "%s", vf_last_error());
    } else {
        int rc = target_draws(spec, n, &rng, &x);
        if (rc) return rc;
    }
    int64_t dim = x.shape[1];
    s = vf_write_table(path, &x);
    vf_tensor_free(&x);
    if (s != VF_OK) return cli_write_error(cmd, path);

    size_t name_len = strcspn(spec, ":");
    if (common.json) {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)name_len, spec);
        fputs("{\"name\":", stdout);
        cli_json_string(stdout, name);
        fputs(",\"spec\":", stdout);
        cli_json_string(stdout, spec);
        printf(",\"n\":%lld,\"dim\":%lld,\"seed\":%llu,\"path\":", (long long)n, (long long)dim,
               (unsigned long long)common.seed);
        cli_json_string(stdout, path);
        fputs("}\n", stdout);
    } else if (!common.quiet) {
        printf("wrote %lld points of %.*s to %s\n", (long long)n, (int)name_len, spec, path);
    }
    return 0;
}

const cli_command cli_cmd_data = {
    "data",
    "write a built-in data set (2-D toys, built-in targets' exact draws) to a .csv or .npy file",
    data_run,
    data_help,
};
