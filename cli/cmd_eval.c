/* cmd_eval.c — `varflow eval`: a distance between two sample files (docs/cli.md, the metrics of
 * `eval`), printed as one number or, with --json, as {"metric", "value", ...}.
 *
 * The metrics are the C API's (vf_ot.h); this file only reads the files, checks that they agree, and
 * reports. Weights (--weights-a / --weights-b: one non-negative number per row) are normalized to sum
 * to one; only the transport metrics take them.
 */
#include <math.h>
#include <string.h>
#include <strings.h>
#include "cli.h"
#include "internal.h"

static void eval_help(FILE *out)
{
    fputs("Usage: varflow eval --metric NAME A B [options]\n"
          "\n"
          "Prints a distance between the samples in files A [n, d] and B [m, d] (.csv, .npy, IDX).\n"
          "\n"
          "Metrics:\n"
          "  emd           exact optimal transport cost (W2^2 for the default cost)\n"
          "  w2            its square root\n"
          "  sinkhorn      transport cost <P, C> of the entropic plan P at --eps (POT's sinkhorn2)\n"
          "  sinkhorn_div  debiased Sinkhorn divergence OT(A, B) - OT(A, A)/2 - OT(B, B)/2 at --eps, OT the\n"
          "                entropic objective, squared Euclidean cost (Feydy et al. 2019)\n"
          "  sw            sliced Wasserstein W_p over --projections random directions\n"
          "  mmd           squared maximum mean discrepancy (--kernel, --bandwidth, --unbiased)\n"
          "  energy        energy distance (exact; --slices K for the sliced estimate)\n"
          "  ksd           squared kernel Stein discrepancy of the samples in A against --target SPEC\n"
          "                (no file B; --kernel imq (default) or gaussian, --bandwidth, --unbiased)\n"
          "\n"
          "Options:\n"
          "  --metric NAME        one of the metrics above (required)\n"
          "  --cost C             sqeuclidean (default) or euclidean, for emd, w2 and sinkhorn\n"
          "  --weights-a FILE     weights of A's rows (one non-negative column; normalized to sum 1)\n"
          "  --weights-b FILE     weights of B's rows (emd, w2, sinkhorn, sinkhorn_div)\n"
          "  --eps E              entropic regularization of sinkhorn and sinkhorn_div, in units of the cost\n"
          "                       (default 0.05)\n"
          "  --tol T              sinkhorn: L1 error of the marginals at which to stop (default 1e-9)\n"
          "  --max-iter K         sinkhorn: iteration limit (default 10000)\n"
          "  --projections K      sw: number of random directions (default 50)\n"
          "  --p P                sw: 1 or 2 (default 2)\n"
          "  --directions K       sw: random (default) or qmc (a shifted Halton sequence: less spread\n"
          "                       between seeds for the same number of projections)\n"
          "  --kernel K           mmd: gaussian (default), laplace or imq\n"
          "  --bandwidth H        mmd: kernel bandwidth; 0 (default) takes the median distance\n"
          "  --unbiased           mmd: the unbiased U-statistic instead of the V-statistic\n"
          "  --slices K           energy: sliced estimate over K directions (default 0: exact)\n"
          "  --target SPEC        ksd: the target, NAME[:key=value,...] or plugin:PATH[:ARG]\n"
          "                       (varflow particles --help lists the built-in targets)\n"
          "                       ksd's --bandwidth is the IMQ kernel's c (default 1) or the Gaussian\n"
          "                       kernel's h (default: the median distance)\n",
          out);
    cli_print_common_help(out);
    fputs("\n"
          "--seed draws the directions of sw and sliced energy.\n"
          "\n"
          "Example:\n"
          "  varflow eval --metric w2 samples.npy test.npy\n"
          "\n"
          "With --json, prints {\"metric\", \"value\", \"n\", \"m\", \"dim\"} and the metric's settings\n"
          "(and \"iterations\" for sinkhorn).\n",
          out);
}

typedef enum eval_metric { M_EMD, M_W2, M_SINKHORN, M_SINKHORN_DIV, M_SW, M_MMD, M_ENERGY, M_KSD, M_COUNT } eval_metric;
static const char *const metric_names[M_COUNT] = {"emd", "w2", "sinkhorn", "sinkhorn_div", "sw", "mmd", "energy", "ksd"};

typedef struct eval_args {
    eval_metric metric;
    const char *a_path, *b_path, *wa_path, *wb_path, *target;
    int have_bandwidth;   /* --bandwidth given */
    int euclidean;        /* --cost euclidean */
    double eps, tol, bandwidth;
    int64_t max_iter, projections, slices;
    int p, unbiased, kernel, qmc;
} eval_args;

/* Reads a sample file into x, refusing an empty one. */
static int read_samples(const char *path, vf_tensor *x)
{
    if (vf_read_table(path, x) != VF_OK) return cli_runtime_error("eval", "%s", vf_last_error());
    if (x->shape[0] < 1) {
        vf_tensor_free(x);
        return cli_runtime_error("eval", "%s has no rows", path);
    }
    return 0;
}

static int64_t columns(const vf_tensor *x) { return x->ndim > 1 ? x->shape[1] : 1; }

/* Reads a weight file of n rows into w [n] (double), checks every weight is finite and >= 0 with a
 * positive total, and divides by the total. */
static int read_weights(const char *path, int64_t n, const char *of, double *w)
{
    vf_tensor t = {0};
    int rc = 0;
    if (vf_read_table(path, &t) != VF_OK) return cli_runtime_error("eval", "%s", vf_last_error());
    if (columns(&t) != 1 || t.shape[0] != n) {
        rc = cli_runtime_error("eval", "%s is %lld x %lld but the weights of %s must be %lld x 1", path,
                               (long long)t.shape[0], (long long)columns(&t), of, (long long)n);
        goto done;
    }
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        w[i] = t.data[i];
        if (!(w[i] >= 0)) {
            rc = cli_runtime_error("eval", "%s: weight %lld is %g; weights must be non-negative", path,
                                   (long long)i + 1, w[i]);
            goto done;
        }
        total += w[i];
    }
    if (!(total > 0) || !isfinite(total)) {
        rc = cli_runtime_error("eval", "%s: the weights must have a positive, finite sum", path);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) w[i] /= total;
done:
    vf_tensor_free(&t);
    return rc;
}

/* Exact OT (network simplex; a permutation for equal-size uniform samples). */
static vf_status exact_ot(const eval_args *a, const vf_tensor *x, const vf_tensor *y, const double *wa,
                          const double *wb, double *value)
{
    return vf_emd(x->shape[0], columns(x), x->data, y->shape[0], columns(y), y->data, wa, wb,
                  a->euclidean ? VF_COST_EUCLIDEAN : VF_COST_SQEUCLIDEAN, value, NULL);
}

static vf_status run_sinkhorn(const eval_args *a, const vf_tensor *x, const vf_tensor *y, const double *wa,
                              const double *wb, double *value, int64_t *iterations)
{
    int64_t n = x->shape[0], m = y->shape[0];
    double *cost = vf_malloc((size_t)n * (size_t)m * sizeof *cost);
    if (!cost) return VF_ERR_NOMEM;
    vf_status s = vf_cost_matrix(n, m, columns(x), x->data, y->data, a->euclidean ? VF_COST_EUCLIDEAN : VF_COST_SQEUCLIDEAN,
                                 cost);
    if (s != VF_OK) {
        vf_free(cost);
        return s;
    }
    vf_sinkhorn_options o = vf_sinkhorn_default_options();
    o.eps = a->eps;
    o.tol = a->tol;
    o.max_iter = a->max_iter;
    vf_sinkhorn_result r;
    s = vf_sinkhorn(n, m, cost, wa, wb, &o, NULL, NULL, &r);
    *value = r.transport_cost;
    *iterations = r.iterations;
    vf_free(cost);
    return s;
}

static vf_status compute(const eval_args *a, const vf_tensor *x, const vf_tensor *y, const double *wa,
                         const double *wb, uint64_t seed, double *value, int64_t *iterations)
{
    int64_t n = x->shape[0], m = y->shape[0], d = columns(x);
    switch (a->metric) {
    case M_EMD:
    case M_W2: {
        vf_status s = exact_ot(a, x, y, wa, wb, value);
        if (s == VF_OK && a->metric == M_W2) *value = sqrt(fmax(*value, 0.0));
        return s;
    }
    case M_SINKHORN: return run_sinkhorn(a, x, y, wa, wb, value, iterations);
    case M_SINKHORN_DIV: {
        vf_sinkhorn_options o = vf_sinkhorn_default_options();
        o.eps = a->eps;
        o.tol = a->tol;
        o.max_iter = a->max_iter;
        vf_sinkhorn_result parts[3];
        vf_status s = vf_sinkhorn_divergence(n, m, d, x->data, y->data, wa, wb, &o, value, parts);
        *iterations = parts[0].iterations;
        return s;
    }
    case M_SW: {
        if (!a->qmc) return vf_sliced_wasserstein(n, m, d, x->data, y->data, a->p, a->projections, seed, value);
        double *dirs = vf_malloc((size_t)(a->projections * d) * sizeof *dirs);
        if (!dirs) return vf__error(VF_ERR_NOMEM, "sw: out of memory");
        vf_status s = vf_directions(a->projections, d, VF_DIRECTIONS_QMC, seed, dirs);
        if (s == VF_OK)
            s = vf_sliced_wasserstein_dirs(n, m, d, x->data, y->data, NULL, NULL, a->projections, dirs, a->p, value);
        vf_free(dirs);
        return s;
    }
    case M_MMD:
        return vf_mmd2(n, m, d, x->data, y->data, (vf_kernel)a->kernel, a->bandwidth, a->unbiased, value, NULL);
    case M_ENERGY: return vf_energy_distance(n, m, d, x->data, y->data, a->slices, seed, value);
    default: return VF_ERR_ARG; /* ksd: ksd_file() */
    }
}

/* KSD^2 of the samples x against the target's scores. */
static vf_status ksd_of(const eval_args *a, const vf_target *t, const vf_tensor *x, double *value)
{
    int64_t n = x->shape[0], d = columns(x);
    double *scores = vf_malloc((size_t)n * (size_t)d * sizeof *scores);
    if (!scores) return vf__error(VF_ERR_NOMEM, "ksd: out of memory");
    vf_status s = vf_target_scores(t, n, x->data, NULL, scores);
    if (s == VF_OK) {
        vf_ksd_options o = vf_ksd_default_options();
        o.kernel = a->kernel == VF_KERNEL_GAUSSIAN ? VF_KERNEL_GAUSSIAN : VF_KERNEL_IMQ;
        if (a->have_bandwidth) o.bandwidth = a->bandwidth;
        else if (o.kernel == VF_KERNEL_GAUSSIAN) o.bandwidth = 0;
        o.unbiased = a->unbiased;
        s = vf_ksd(n, d, x->data, scores, &o, value, NULL);
    }
    vf_free(scores);
    return s;
}

/* `eval --metric ksd A --target SPEC`. */
static int ksd_file(const eval_args *a, const cli_common *common)
{
    const char *cmd = "eval";
    vf_tensor x = {0};
    vf_target t;
    int rc = read_samples(a->a_path, &x);
    if (rc) return rc;
    memset(&t, 0, sizeof t);
    if ((rc = cli_target_open(cmd, a->target, &t)) != 0) goto done;
    if (t.dim != columns(&x)) {
        rc = cli_runtime_error(cmd, "%s has %lld columns but the target %s has dimension %lld", a->a_path,
                               (long long)columns(&x), a->target, (long long)t.dim);
    } else {
        double value = NAN;
        if (ksd_of(a, &t, &x, &value) != VF_OK) {
            rc = cli_runtime_error(cmd, "%s", vf_last_error());
        } else if (common->json) { /* (vf_ksd refuses a value that is not finite) */
            fputs("{\"metric\":\"ksd\",", stdout);
            if (isfinite(value))
                printf("\"value\":%.17g", value);
            else
                fputs("\"value\":null", stdout);
            printf(",\"n\":%lld,\"dim\":%lld,\"kernel\":\"%s\",\"unbiased\":%s,\"target\":", (long long)x.shape[0],
                   (long long)columns(&x), a->kernel == VF_KERNEL_GAUSSIAN ? "gaussian" : "imq",
                   a->unbiased ? "true" : "false");
            cli_json_string(stdout, a->target);
            fputs("}\n", stdout);
        } else {
            printf("%.10g\n", value);
        }
    }
done:
    cli_target_close(&t);
    vf_tensor_free(&x);
    return rc;
}

/* converged: 0 when Sinkhorn stopped at --max-iter with its marginals still off */
static void print_json(const eval_args *a, const vf_tensor *x, const vf_tensor *y, double value, int64_t iterations,
                       int converged)
{
    fputs("{\"metric\":", stdout);
    cli_json_string(stdout, metric_names[a->metric]);
    if (isfinite(value))
        printf(",\"value\":%.17g", value);
    else
        fputs(",\"value\":null", stdout);
    printf(",\"n\":%lld,\"m\":%lld,\"dim\":%lld", (long long)x->shape[0], (long long)y->shape[0],
           (long long)columns(x));
    switch (a->metric) {
    case M_EMD:
    case M_W2: printf(",\"cost\":\"%s\"", a->euclidean ? "euclidean" : "sqeuclidean"); break;
    case M_SINKHORN:
        printf(",\"cost\":\"%s\",\"eps\":%.17g,\"iterations\":%lld,\"converged\":%s",
               a->euclidean ? "euclidean" : "sqeuclidean", a->eps, (long long)iterations, converged ? "true" : "false");
        break;
    case M_SINKHORN_DIV:
        printf(",\"cost\":\"sqeuclidean\",\"eps\":%.17g,\"iterations\":%lld,\"converged\":%s", a->eps,
               (long long)iterations, converged ? "true" : "false");
        break;
    case M_SW:
        printf(",\"projections\":%lld,\"p\":%d,\"directions\":\"%s\"", (long long)a->projections, a->p,
               a->qmc ? "qmc" : "random");
        break;
    case M_MMD:
        printf(",\"kernel\":\"%s\",\"unbiased\":%s", a->kernel == VF_KERNEL_LAPLACE ? "laplace"
                                                    : a->kernel == VF_KERNEL_IMQ   ? "imq"
                                                                                   : "gaussian",
               a->unbiased ? "true" : "false");
        break;
    case M_ENERGY: printf(",\"slices\":%lld", (long long)a->slices); break;
    default: break;
    }
    fputs("}\n", stdout);
}

static int eval_files(const eval_args *a, const cli_common *common)
{
    const char *cmd = "eval";
    vf_tensor x = {0}, y = {0};
    double *wa = NULL, *wb = NULL;
    int rc;
    if ((rc = read_samples(a->a_path, &x)) != 0 || (rc = read_samples(a->b_path, &y)) != 0) goto done;
    if (columns(&x) != columns(&y)) {
        rc = cli_runtime_error(cmd, "%s has %lld columns but %s has %lld: the samples must have the same dimension",
                               a->a_path, (long long)columns(&x), a->b_path, (long long)columns(&y));
        goto done;
    }
    if (a->wa_path) {
        if (!(wa = vf_malloc((size_t)x.shape[0] * sizeof *wa))) goto nomem;
        if ((rc = read_weights(a->wa_path, x.shape[0], a->a_path, wa)) != 0) goto done;
    }
    if (a->wb_path) {
        if (!(wb = vf_malloc((size_t)y.shape[0] * sizeof *wb))) goto nomem;
        if ((rc = read_weights(a->wb_path, y.shape[0], a->b_path, wb)) != 0) goto done;
    }
    double value = NAN;
    int64_t iterations = 0;
    vf_status s = compute(a, &x, &y, wa, wb, common->seed, &value, &iterations);
    int converged = 1;
    if (s == VF_ERR_NUMERIC && (a->metric == M_SINKHORN || a->metric == M_SINKHORN_DIV)) {
        converged = 0; /* the warning goes to stderr with --json too: stdout keeps its one object */
        if (!common->quiet && cli_mpi_rank() == 0) /* (rank 0 speaks for an MPI job) */
            fprintf(stderr, "varflow eval: warning: %s (the value is the last iterate's)\n", vf_last_error());
    } else if (s == VF_ERR_NOMEM) {
        goto nomem;
    } else if (s != VF_OK) {
        rc = cli_runtime_error(cmd, "%s", vf_last_error());
        goto done;
    }
    if (!isfinite(value)) { /* an unconverged Sinkhorn's last iterate (the metrics refuse the rest themselves) */
        rc = cli_runtime_error(cmd, "%s: the value is not finite (%g)", metric_names[a->metric], value);
        goto done;
    }
    if (common->json)
        print_json(a, &x, &y, value, iterations, converged);
    else
        printf("%.10g\n", value);
    rc = 0;
    goto done;
nomem:
    rc = cli_runtime_error(cmd, "out of memory");
done:
    vf_free(wa);
    vf_free(wb);
    vf_tensor_free(&x);
    vf_tensor_free(&y);
    return rc;
}

/* Parses the value of a numeric option into *out within [lo, hi]; prints the usage error on failure. */
static int option_i64(const char *cmd, int argc, char **argv, int *i, int64_t lo, int64_t hi, int64_t *out)
{
    const char *name = argv[*i];
    const char *v = cli_option_value(cmd, argc, argv, i);
    if (!v) return -1;
    if (cli_parse_i64(v, lo, hi, out)) {
        cli_usage_error(cmd, "%s: '%s' is not a whole number in [%lld, %lld]", name, v, (long long)lo, (long long)hi);
        return -1;
    }
    return 0;
}

static int option_double(const char *cmd, int argc, char **argv, int *i, double *out)
{
    const char *name = argv[*i];
    const char *v = cli_option_value(cmd, argc, argv, i);
    if (!v) return -1;
    if (cli_parse_double(v, out) || !isfinite(*out)) {
        cli_usage_error(cmd, "%s: '%s' is not a finite number", name, v);
        return -1;
    }
    return 0;
}

static int eval_run(int argc, char **argv)
{
    const char *cmd = "eval";
    cli_common common = {0};
    eval_args a = {.metric = M_COUNT, .eps = 0.05, .tol = 1e-9, .max_iter = 10000, .projections = 50, .p = 2};
    const char *metric = NULL, *cost = NULL, *kernel = NULL, *directions = NULL;
    int64_t p = 2;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int k = cli_common_option(cmd, argc, argv, &i, &common);
        if (k < 0) return 2;
        if (k > 0) continue;
        const cli_file_opt files[] = {{"--metric", &metric},     {"--cost", &cost},       {"--kernel", &kernel},
                                      {"--weights-a", &a.wa_path}, {"--weights-b", &a.wb_path}, {"--target", &a.target},
                                      {"--directions", &directions}, {NULL, NULL}};
        int f = cli_file_option(cmd, argc, argv, &i, files);
        if (f < 0) return 2;
        if (f > 0) continue;
        int bad = 0;
        if (cli_is_option(arg, "--eps"))
            bad = option_double(cmd, argc, argv, &i, &a.eps);
        else if (cli_is_option(arg, "--tol"))
            bad = option_double(cmd, argc, argv, &i, &a.tol);
        else if (cli_is_option(arg, "--bandwidth")) {
            bad = option_double(cmd, argc, argv, &i, &a.bandwidth);
            a.have_bandwidth = 1;
        }
        else if (cli_is_option(arg, "--max-iter"))
            bad = option_i64(cmd, argc, argv, &i, 1, INT64_C(1) << 40, &a.max_iter);
        else if (cli_is_option(arg, "--projections"))
            bad = option_i64(cmd, argc, argv, &i, 1, INT64_C(1) << 30, &a.projections);
        else if (cli_is_option(arg, "--slices"))
            bad = option_i64(cmd, argc, argv, &i, 0, INT64_C(1) << 30, &a.slices);
        else if (cli_is_option(arg, "--p"))
            bad = option_i64(cmd, argc, argv, &i, 1, 2, &p);
        else if (strcmp(arg, "--unbiased") == 0)
            a.unbiased = 1;
        else if (cli_looks_like_option(arg))
            return cli_usage_error(cmd, "unknown option '%s'", arg);
        else if (!a.a_path)
            a.a_path = arg;
        else if (!a.b_path)
            a.b_path = arg;
        else
            return cli_usage_error(cmd, "unexpected argument '%s' (the files are already %s and %s)", arg, a.a_path,
                                   a.b_path);
        if (bad) return 2;
    }
    a.p = (int)p;
    if (!metric) return cli_usage_error(cmd, "missing --metric NAME");
    for (int m = 0; m < M_COUNT; m++)
        if (strcmp(metric, metric_names[m]) == 0) a.metric = (eval_metric)m;
    if (a.metric == M_COUNT)
        return cli_usage_error(cmd, "--metric: unknown metric '%s' (emd, w2, sinkhorn, sinkhorn_div, sw, mmd, energy, ksd)",
                               metric);
    if (a.metric == M_KSD) {
        if (!a.target) return cli_usage_error(cmd, "--metric ksd needs --target SPEC");
        if (!a.a_path) return cli_usage_error(cmd, "missing the sample file A");
        if (a.b_path) return cli_usage_error(cmd, "--metric ksd takes one sample file (got %s and %s)", a.a_path, a.b_path);
    } else {
        if (a.target) return cli_usage_error(cmd, "--target is for --metric ksd");
        if (!a.a_path || !a.b_path) return cli_usage_error(cmd, "missing the sample files A and B");
    }
    if (cost) {
        if (strcmp(cost, "euclidean") == 0)
            a.euclidean = 1;
        else if (strcmp(cost, "sqeuclidean") != 0)
            return cli_usage_error(cmd, "--cost: unknown cost '%s' (sqeuclidean, euclidean)", cost);
    }
    if (directions) {
        if (strcmp(directions, "qmc") == 0)
            a.qmc = 1;
        else if (strcmp(directions, "random") != 0)
            return cli_usage_error(cmd, "--directions: unknown kind '%s' (random, qmc)", directions);
        if (a.metric != M_SW) return cli_usage_error(cmd, "--directions is for --metric sw");
    }
    if (a.metric == M_KSD && !kernel) a.kernel = VF_KERNEL_IMQ;
    if (kernel) {
        a.kernel = vf_kernel_from_name(kernel);
        if (a.metric == M_KSD && a.kernel == VF_KERNEL_LAPLACE)
            return cli_usage_error(cmd, "--kernel: ksd takes imq or gaussian, not laplace");
        if (a.kernel < 0) return cli_usage_error(cmd, "--kernel: unknown kernel '%s' (gaussian, laplace, imq)", kernel);
    }
    if (!(a.eps > 0)) return cli_usage_error(cmd, "--eps: %g is not positive", a.eps);
    if (!(a.tol > 0)) return cli_usage_error(cmd, "--tol: %g is not positive", a.tol);
    if (a.bandwidth < 0) return cli_usage_error(cmd, "--bandwidth: %g is negative", a.bandwidth);
    if (a.metric == M_SINKHORN_DIV && a.euclidean)
        return cli_usage_error(cmd, "--metric sinkhorn_div uses the squared Euclidean cost (no --cost euclidean)");
    if ((a.wa_path || a.wb_path) && a.metric != M_EMD && a.metric != M_W2 && a.metric != M_SINKHORN &&
        a.metric != M_SINKHORN_DIV)
        return cli_usage_error(cmd, "--metric %s does not take weights", metric);
    if (common.threads > 0) vf_set_num_threads(common.threads);
    return a.metric == M_KSD ? ksd_file(&a, &common) : eval_files(&a, &common);
}

const cli_command cli_cmd_eval = {
    "eval",
    "distance between two sample files (optimal transport, Sinkhorn, sliced W, MMD, energy, KSD)",
    eval_run,
    eval_help,
};
