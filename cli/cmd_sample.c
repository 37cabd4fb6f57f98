/* cmd_sample.c — `varflow sample`: draw N points from a flow model file and write them to a .csv or
 * .npy file.
 *
 * The points are drawn by vf_flow_sample_rows (vf_eval.h: blocks of rows on one tape in inference mode,
 * memory bounded), from one random stream seeded by --seed, so the same model, N and seed give the
 * same file. Conditional models (context dimension c > 0) take --context FILE with one row (used for
 * every point) or N rows.
 */
#include <string.h>
#include "cli.h"
#include "cnf_commands.h"

static void sample_help(FILE *out)
{
    fputs("Usage: varflow sample --model MODEL -n N -o FILE [--seed S] [--context FILE]\n"
          "\n"
          "Draws N points from the flow model MODEL (a .safetensors model file) and writes them to FILE,\n"
          "[N, dim], as .csv (no header) or .npy by its extension. The same model, N and seed give the\n"
          "same points.\n"
          "\n"
          "Options:\n"
          "  --model MODEL   flow model file (required)\n"
          "  -n N            number of points, >= 1 (required)\n"
          "  -o, --output F  output file, ending in .csv or .npy (required)\n"
          "  --context FILE  for a conditional model (required there, refused otherwise): one row of\n"
          "                  context values used for every point, or N rows, one per point\n",
          out);
    cli_print_common_help(out);
    cnf_sample_help(out);
    fputs("\n"
          "Example:\n"
          "  varflow sample --model moons.safetensors -n 5000 --seed 1 -o samples.npy\n"
          "\n"
          "With --json, prints {\"n\", \"dim\", \"seed\", \"model\", \"path\"}.\n",
          out);
}

static int64_t columns(const vf_tensor *x) { return x->ndim > 1 ? x->shape[1] : 1; }

/* Draws out->shape[0] points into out [n, d] through vf_flow_sample_rows (blocks in inference mode,
 * one random stream); ctx is NULL or [1, c] or [n, c]. Returns the exit code. */
static int draw(const vf_flow *f, vf_params *p, const vf_tensor *ctx, uint64_t seed, vf_tensor *out)
{
    vf_rng rng;
    vf_rng_init(&rng, seed, 0);
    vf_status s = vf_flow_sample_rows(f, p, NULL, out->shape[0], ctx ? ctx->data : NULL, ctx ? ctx->shape[0] : 0, &rng,
                                      out->data, NULL);
    return s == VF_OK ? 0 : cli_runtime_error("sample", "%s", vf_last_error());
}

/* Everything after the options were parsed: the model and files are read and released here. */
static int sample_files(const char *model, const char *context, const char *out_path, int64_t n,
                        const cli_common *common)
{
    const char *cmd = "sample";
    vf_params *p = NULL;
    vf_flow *f = NULL;
    if (vf_flow_load(model, &p, &f, NULL) != VF_OK) return cli_runtime_error(cmd, "%s", vf_last_error());
    int64_t d = vf_flow_dim(f), c = vf_flow_context_dim(f);
    int rc = 0;
    vf_tensor ctx = {0}, x = {0};
    if (c > 0 && !context) {
        rc = cli_usage_error(cmd, "%s is a conditional model (context dimension %lld): --context FILE is required",
                             model, (long long)c);
        goto done;
    }
    if (c == 0 && context) {
        rc = cli_usage_error(cmd, "%s is not a conditional model: --context is not accepted", model);
        goto done;
    }
    if (context) {
        if (vf_read_table(context, &ctx) != VF_OK) {
            rc = cli_runtime_error(cmd, "%s", vf_last_error());
            goto done;
        }
        if (columns(&ctx) != c || (ctx.shape[0] != 1 && ctx.shape[0] != n)) {
            rc = cli_runtime_error(cmd, "%s is %lld x %lld but the context must be 1 x %lld or %lld x %lld", context,
                                   (long long)ctx.shape[0], (long long)columns(&ctx), (long long)c, (long long)n,
                                   (long long)c);
            goto done;
        }
    }
    if (vf_tensor_alloc(&x, 2, (int64_t[]){n, d}) != VF_OK) {
        rc = cli_runtime_error(cmd, "out of memory");
        goto done;
    }
    if ((rc = draw(f, p, context ? &ctx : NULL, common->seed, &x)) != 0) goto done;
    if (vf_write_table(out_path, &x) != VF_OK) {
        rc = cli_write_error(cmd, out_path);
        goto done;
    }
    if (common->json) {
        printf("{\"n\":%lld,\"dim\":%lld,\"seed\":%llu,\"model\":", (long long)n, (long long)d,
               (unsigned long long)common->seed);
        cli_json_string(stdout, model);
        fputs(",\"path\":", stdout);
        cli_json_string(stdout, out_path);
        fputs("}\n", stdout);
    } else if (!common->quiet) {
        printf("wrote %lld samples of dimension %lld from %s to %s\n", (long long)n, (long long)d, model, out_path);
    }
done:
    vf_tensor_free(&x);
    vf_tensor_free(&ctx);
    vf_flow_free(f);
    vf_params_free(p);
    return rc;
}

static int sample_run(int argc, char **argv)
{
    const char *cnf = cnf_model_option(argc, argv);
    if (cnf && vf_cnf_model_file_is_cnf(cnf)) return cnf_sample_run(argc, argv); /* a continuous flow: cnf_commands.c */
    const char *cmd = "sample";
    cli_common common = {0};
    const char *model = NULL, *context = NULL, *out_path = NULL;
    int64_t n = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int k = cli_common_option(cmd, argc, argv, &i, &common);
        if (k < 0) return 2;
        if (k > 0) continue;
        if (strcmp(arg, "-n") == 0 || cli_is_option(arg, "--n")) {
            const char *v = cli_option_value(cmd, argc, argv, &i);
            if (!v) return 2;
            if (cli_parse_i64(v, 1, INT64_C(1) << 40, &n))
                return cli_usage_error(cmd, "-n: '%s' is not a positive whole number", v);
            continue;
        }
        const cli_file_opt files[] = {{"--model", &model}, {"--context", &context}, {"-o", &out_path}, {NULL, NULL}};
        int f = cli_file_option(cmd, argc, argv, &i, files);
        if (f < 0) return 2;
        if (f > 0) continue;
        if (cnf_only_option(cmd, arg))
            return cli_usage_error(cmd, "%s is an option for continuous-flow models; %s is a normalizing flow", arg,
                                   model ? model : cnf ? cnf : "the model");
        if (cli_looks_like_option(arg)) return cli_usage_error(cmd, "unknown option '%s'", arg);
        return cli_usage_error(cmd, "unexpected argument '%s'", arg);
    }
    if (!model) return cli_usage_error(cmd, "missing --model MODEL");
    if (n == 0) return cli_usage_error(cmd, "missing -n N");
    if (!out_path) return cli_usage_error(cmd, "missing -o FILE");
    if (cli_check_table_name(cmd, "-o", out_path)) return 2;
    if (common.threads > 0) vf_set_num_threads(common.threads);
    return sample_files(model, context, out_path, n, &common);
}

const cli_command cli_cmd_sample = {
    "sample",
    "draw points from a flow model file into a .csv or .npy file",
    sample_run,
    sample_help,
};
