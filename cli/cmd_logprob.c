/* cmd_logprob.c — `varflow logprob`: the log-density of each row of a data file under a flow model
 * file, a summary on stdout and optionally the per-row values in a file.
 *
 * The rows go through vf_flow_log_prob_rows (vf_eval.h: blocks of rows on one tape in inference mode),
 * so memory stays bounded whatever the number of rows. Conditional models (context dimension c > 0)
 * take --context FILE with one row of c values per data row.
 */
#include <math.h>
#include <string.h>
#include "cli.h"
#include "cnf_commands.h"

static void logprob_help(FILE *out)
{
    fputs("Usage: varflow logprob --model MODEL --data FILE [--context FILE] [-o FILE]\n"
          "\n"
          "Evaluates log p(x) for each row x of FILE (.csv, .npy, IDX, optionally .gz) under the flow\n"
          "model MODEL (a .safetensors model file), and prints the number of rows, the dimension, the\n"
          "mean log-density with its standard error, and the minimum and maximum.\n"
          "\n"
          "Options:\n"
          "  --model MODEL   flow model file (required)\n"
          "  --data FILE     data, one row per point with as many columns as the model's dimension (required)\n"
          "  --context FILE  for a conditional model (required there, refused otherwise): one row of context\n"
          "                  values per data row\n"
          "  -o, --output F  also write the log-densities, shape [n, 1], to F (.csv or .npy)\n",
          out);
    cli_print_common_help(out);
    cnf_logprob_help(out);
    fputs("\n"
          "Example:\n"
          "  varflow logprob --model moons.safetensors --data moons_test.npy -o lp.npy\n"
          "\n"
          "With --json, prints {\"mean_log_prob\", \"stderr\", \"n\", \"dim\", \"min\", \"max\", \"model\",\n"
          "\"data\"} and \"path\" when -o is given; a value that is not finite is written as null.\n",
          out);
}

static int64_t columns(const vf_tensor *x) { return x->ndim > 1 ? x->shape[1] : 1; }

/* Evaluates the log-densities of x [n, d] (read from the file `data`; context ctx [n, c] or NULL) into
 * lp [n] through the array API (blocks in inference mode); returns the exit code. Rows whose
 * log-density is NaN or +inf are an error counting them and naming the first (from 1). */
static int evaluate(const vf_flow *f, vf_params *p, const char *data, const vf_tensor *x, const vf_tensor *ctx,
                    vf_real *lp)
{
    vf_status s = vf_flow_log_prob_rows(f, p, NULL, x->shape[0], x->data, ctx ? ctx->data : NULL,
                                        ctx ? ctx->shape[0] : 0, lp);
    if (s == VF_ERR_NUMERIC) { /* NaN or +inf rows: an error naming them, never a file of NaN */
        int64_t bad = 0, first = -1;
        for (int64_t i = 0; i < x->shape[0]; i++)
            if (isnan(lp[i]) || lp[i] == INFINITY) first = first < 0 ? i : first, bad++;
        if (first >= 0)
            return cli_runtime_error("logprob", "%s: %lld of %lld rows give no finite log-density (the first: row %lld, "
                                     "counted from 1, gives %g): points far outside the data the model was fit to "
                                     "overflow its arithmetic; nothing was written", data, (long long)bad,
                                     (long long)x->shape[0], (long long)first + 1, (double)lp[first]);
    }
    return s == VF_OK ? 0 : cli_runtime_error("logprob", "%s", vf_last_error());
}

/* Everything after the options were parsed: the model and files are read and released here. */
static int logprob_files(const char *model, const char *data, const char *context, const char *out_path,
                         const cli_common *common)
{
    const char *cmd = "logprob";
    vf_params *p = NULL;
    vf_flow *f = NULL;
    if (vf_flow_load(model, &p, &f, NULL) != VF_OK) return cli_runtime_error(cmd, "%s", vf_last_error());
    int64_t d = vf_flow_dim(f), c = vf_flow_context_dim(f);
    int rc = 0;
    vf_tensor x = {0}, ctx = {0}, lpt = {0};
    if (c > 0 && !context) {
        rc = cli_usage_error(cmd, "%s is a conditional model (context dimension %lld): --context FILE is required",
                             model, (long long)c);
        goto done;
    }
    if (c == 0 && context) {
        rc = cli_usage_error(cmd, "%s is not a conditional model: --context is not accepted", model);
        goto done;
    }
    if (vf_read_table(data, &x) != VF_OK) {
        rc = cli_runtime_error(cmd, "%s", vf_last_error());
        goto done;
    }
    int64_t n = x.shape[0];
    if (columns(&x) != d) {
        rc = cli_runtime_error(cmd, "%s has %lld columns but the model's dimension is %lld", data,
                               (long long)columns(&x), (long long)d);
        goto done;
    }
    if (n < 1) {
        rc = cli_runtime_error(cmd, "%s has no rows", data);
        goto done;
    }
    if (context) {
        if (vf_read_table(context, &ctx) != VF_OK) {
            rc = cli_runtime_error(cmd, "%s", vf_last_error());
            goto done;
        }
        if (columns(&ctx) != c || ctx.shape[0] != n) {
            rc = cli_runtime_error(cmd, "%s is %lld x %lld but the context must be %lld x %lld (one row per data row)",
                                   context, (long long)ctx.shape[0], (long long)columns(&ctx), (long long)n,
                                   (long long)c);
            goto done;
        }
    }
    if (vf_tensor_alloc(&lpt, 2, (int64_t[]){n, 1}) != VF_OK) {
        rc = cli_runtime_error(cmd, "out of memory");
        goto done;
    }
    if ((rc = evaluate(f, p, data, &x, context ? &ctx : NULL, lpt.data)) != 0) goto done;
    if (out_path && vf_write_table(out_path, &lpt) != VF_OK) {
        rc = cli_write_error(cmd, out_path);
        goto done;
    }

    cli_lp_summary sum = cli_lp_summarize(lpt.data, n);
    if (common->json) {
        fputs("{", stdout);
        cli_lp_print_json(&sum);
        printf(",\"n\":%lld,\"dim\":%lld", (long long)n, (long long)d);
        fputs(",\"model\":", stdout);
        cli_json_string(stdout, model);
        fputs(",\"data\":", stdout);
        cli_json_string(stdout, data);
        if (out_path) {
            fputs(",\"path\":", stdout);
            cli_json_string(stdout, out_path);
        }
        fputs("}\n", stdout);
    } else if (!common->quiet) {
        printf("%s under %s: %lld rows, dim %lld\n", data, model, (long long)n, (long long)d);
        cli_lp_print_text(&sum);
        if (out_path) printf("wrote %lld log-densities to %s\n", (long long)n, out_path);
    }
done:
    vf_tensor_free(&lpt);
    vf_tensor_free(&ctx);
    vf_tensor_free(&x);
    vf_flow_free(f);
    vf_params_free(p);
    return rc;
}

static int logprob_run(int argc, char **argv)
{
    const char *cnf = cnf_model_option(argc, argv);
    if (cnf && vf_cnf_model_file_is_cnf(cnf)) return cnf_logprob_run(argc, argv); /* a continuous flow: cnf_commands.c */
    const char *cmd = "logprob";
    cli_common common = {0};
    const char *model = NULL, *data = NULL, *context = NULL, *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int k = cli_common_option(cmd, argc, argv, &i, &common);
        if (k < 0) return 2;
        if (k > 0) continue;
        const cli_file_opt files[] = {{"--model", &model}, {"--data", &data}, {"--context", &context},
                                      {"-o", &out_path}, {NULL, NULL}};
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
    if (!data) return cli_usage_error(cmd, "missing --data FILE");
    if (out_path && cli_check_table_name(cmd, "-o", out_path)) return 2;
    if (common.threads > 0) vf_set_num_threads(common.threads);
    return logprob_files(model, data, context, out_path, &common);
}

const cli_command cli_cmd_logprob = {
    "logprob",
    "log-density of each row of a data file under a flow model",
    logprob_run,
    logprob_help,
};
