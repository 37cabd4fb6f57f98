/* cmd_mcmc.c — `varflow mcmc`: Markov chain Monte Carlo on a target (vf_mcmc.h), plain (mala, hmc) or
 * assisted by a flow model written by `varflow vi` (imh, isir, neutra-mala, neutra-hmc); writes the
 * draws (chain-major) and reports the acceptance rate, the smallest bulk ESS and the largest R-hat. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "progress.h"

static void mcmc_help(FILE *out)
{
    vf_mcmc_params d = vf_mcmc_default_params(VF_MCMC_HMC);
    fprintf(out,
            "Usage: varflow mcmc --target SPEC --sampler NAME [--model MODEL] -n N -o FILE [options]\n"
            "\n"
            "Runs --chains independent Markov chains on the unnormalized density of --target, discards\n"
            "--warmup iterations of each (adapting the step size), keeps the next N, and writes them to FILE\n"
            "(.npy or .csv): chains * N rows of d columns, chain-major (chain c's draw i is row c * N + i).\n"
            "Reports the acceptance rate, the bulk effective sample size and the rank-normalized split R-hat\n"
            "(Vehtari et al. 2021), per coordinate; the summary gives the smallest ESS and the largest R-hat.\n"
            "\n"
            "Samplers:\n"
            "  mala          Metropolis-adjusted Langevin (gradient of the target)\n"
            "  hmc           Hamiltonian Monte Carlo, --leapfrog steps per iteration\n"
            "  imh           independent Metropolis-Hastings with the flow as proposal (needs --model)\n"
            "  isir          iterated sampling importance resampling, --proposals flow draws per step (--model)\n"
            "  neutra-mala   MALA in the flow's latent space on the pulled-back density (--model)\n"
            "  neutra-hmc    HMC in the flow's latent space (--model)\n"
            "\n"
            "Options:\n"
            "  --target SPEC        the target (required): NAME[:key=value,...] or plugin:PATH[:ARG] (list below)\n"
            "  --sampler NAME       one of the samplers above (required)\n"
            "  --model MODEL        a flow model file of the target's dimension, e.g. from varflow vi (its\n"
            "                       draws are in the target's coordinates, --box included)\n"
            "  -n N                 draws kept per chain (required)\n"
            "  -o, --output FILE    draws to write, .npy or .csv (required)\n"
            "  --chains C           independent chains (default %lld)\n"
            "  --warmup W           iterations discarded per chain, adapting the step size (default %lld)\n"
            "  --step-size H        the (initial) step size of mala, hmc, neutra-* (default from the dimension;\n"
            "                       with --warmup 0 it is used as is)\n"
            "  --leapfrog L         leapfrog steps per HMC iteration (default %lld)\n"
            "  --proposals K        isir: fresh flow draws per step (default %lld)\n"
            "  --target-accept A    acceptance the step size adapts to (default 0.574 MALA, 0.65 HMC)\n"
            "  --diag-mass          adapt a diagonal mass matrix during warm-up (mala, hmc, neutra-*)\n"
            "  --log FILE           one JSON line every --log-every iterations and at the last: iteration\n"
            "                       (warm-up included), phase (warmup or sampling), acceptance (the sampling\n"
            "                       iterations' so far; null in warm-up), seconds\n"
            "  --log-every K        iterations between log lines (default 100)\n",
            (long long)d.chains, (long long)d.warmup, (long long)d.leapfrog, (long long)d.proposals);
    cli_print_common_help(out);
    cli_print_targets(out);
    fprintf(out,
            "\nWith --json, prints {\"acceptance\", \"ess_min\", \"rhat_max\", \"n\" (draws written, chains * N),\n"
            "\"chains\", \"sampler\", \"step_size\", \"grad_evals\" and \"logp_evals\" (per chain, warm-up included),\n"
            "\"divergences\", \"seconds\", \"output\"}. Exit codes: 0 success, 1 runtime error (a target that\n"
            "returns NaN, a bad model file, a dimension mismatch), 2 usage error.\n");
}

typedef struct mcmc_args {
    const char *target, *model, *output, *sampler, *log;
    int64_t n, log_every;
    vf_mcmc_params mp;
    cli_common common;
} mcmc_args;

static int parse_args(int argc, char **argv, mcmc_args *a)
{
    const char *cmd = "mcmc";
    memset(a, 0, sizeof *a);
    a->mp = vf_mcmc_default_params(VF_MCMC_HMC);
    a->log_every = 100;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v = NULL;
        int c = cli_common_option(cmd, argc, argv, &i, &a->common);
        if (c < 0) return 2;
        if (c > 0) continue;
        if (strcmp(arg, "--diag-mass") == 0) {
            a->mp.diag_mass = 1;
            continue;
        }
        static const char *const valued[] = {"--target", "--model", "--output", "--sampler", "-n", "--chains",
                                             "--warmup", "--step-size", "--leapfrog", "--proposals",
                                             "--target-accept", "--log", "--log-every", NULL};
        const char *name;
        if (cli_take_valued(cmd, argc, argv, &i, valued, &name, &v)) return 2;
        int64_t iv;
        double dv;
        if (strcmp(name, "--target") == 0) a->target = v;
        else if (strcmp(name, "--model") == 0) a->model = v;
        else if (strcmp(name, "--output") == 0) a->output = v;
        else if (strcmp(name, "--log") == 0) a->log = v;
        else if (strcmp(name, "--sampler") == 0) {
            int s = vf_mcmc_sampler_from_name(v);
            if (s < 0) return cli_usage_error(cmd, "--sampler: unknown '%s' (valid: mala, hmc, imh, isir, neutra-mala, neutra-hmc)", v);
            a->mp.sampler = (vf_mcmc_sampler)s;
            a->sampler = v;
        } else if (strcmp(name, "--step-size") == 0) {
            if (cli_parse_double(v, &dv) || !isfinite(dv) || dv <= 0)
                return cli_usage_error(cmd, "--step-size: '%s' is not a positive number", v);
            a->mp.step_size = dv;
        } else if (strcmp(name, "--target-accept") == 0) {
            if (cli_parse_double(v, &dv) || !(dv > 0 && dv < 1))
                return cli_usage_error(cmd, "--target-accept: '%s' is not a number in (0, 1)", v);
            a->mp.target_accept = dv;
        } else {
            int64_t lo = strcmp(name, "--warmup") == 0 ? 0 : 1;
            if (cli_parse_i64(v, lo, INT64_C(1) << 40, &iv))
                return cli_usage_error(cmd, "%s: '%s' is not a whole number >= %lld", name, v, (long long)lo);
            if (strcmp(name, "-n") == 0) a->n = iv;
            else if (strcmp(name, "--chains") == 0) a->mp.chains = iv;
            else if (strcmp(name, "--warmup") == 0) a->mp.warmup = iv;
            else if (strcmp(name, "--leapfrog") == 0) a->mp.leapfrog = iv;
            else if (strcmp(name, "--log-every") == 0) a->log_every = iv;
            else a->mp.proposals = iv;
        }
    }
    if (!a->target) return cli_usage_error(cmd, "missing --target SPEC");
    if (!a->sampler) return cli_usage_error(cmd, "missing --sampler NAME (mala, hmc, imh, isir, neutra-mala, neutra-hmc)");
    if (a->n < 1) return cli_usage_error(cmd, "missing -n N");
    if (!a->output) return cli_usage_error(cmd, "missing -o FILE");
    if (cli_check_table_name(cmd, "-o", a->output)) return 2;
    if (vf_mcmc_sampler_needs_flow(a->mp.sampler) && !a->model)
        return cli_usage_error(cmd, "--sampler %s needs --model MODEL (a flow, e.g. from varflow vi)", a->sampler);
    if (!vf_mcmc_sampler_needs_flow(a->mp.sampler) && a->model)
        return cli_usage_error(cmd, "--model is for the flow-assisted samplers (imh, isir, neutra-mala, neutra-hmc), "
                               "not --sampler %s", a->sampler);
    if (a->model && !*a->model) return cli_usage_error(cmd, "--model: empty file name");
    if (a->n < 4) return cli_usage_error(cmd, "-n %lld: the diagnostics need at least 4 draws per chain", (long long)a->n);
    a->mp.seed = a->common.seed;
    return 0;
}

typedef struct progress_ctx {
    cli_progress pg;
    double t0;
    const char *sampler;
    FILE *log;              /* --log, or NULL */
    int64_t log_every;
} progress_ctx;

static int on_progress(void *ctx, int64_t it, int64_t total, double acc)
{
    progress_ctx *p = ctx;
    if (p->log && (it % p->log_every == 0 || it == total)) {
        fprintf(p->log, "{\"iteration\":%lld,\"phase\":\"%s\",\"acceptance\":", (long long)it,
                isfinite(acc) ? "sampling" : "warmup");
        if (isfinite(acc)) fprintf(p->log, "%.6g", acc);
        else fputs("null", p->log);
        fprintf(p->log, ",\"seconds\":%.6g}\n", cli_now_seconds() - p->t0);
        fflush(p->log); /* whole lines: an interrupted run's log ends at a line's end */
    }
    if (!cli_progress_due(&p->pg, it == total)) return 0;
    char line[160];
    if (isfinite(acc))
        snprintf(line, sizeof line, "mcmc %s: iteration %lld/%lld, acceptance %.3f, %.1f s", p->sampler, (long long)it,
                 (long long)total, acc, cli_now_seconds() - p->t0);
    else
        snprintf(line, sizeof line, "mcmc %s: warm-up %lld/%lld, %.1f s", p->sampler, (long long)it, (long long)total,
                 cli_now_seconds() - p->t0);
    cli_progress_draw(&p->pg, line);
    return 0;
}

static int mcmc_run(int argc, char **argv)
{
    mcmc_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    if (a.common.threads > 0) vf_set_num_threads(a.common.threads);
    vf_target target;
    if ((rc = cli_target_open("mcmc", a.target, &target)) != 0) return rc;
    vf_status s;
    int64_t d = target.dim;
    if (a.n > INT64_MAX / 64 / a.mp.chains / d) { /* the draws' bytes must be countable */
        cli_target_close(&target);
        return cli_usage_error("mcmc", "--chains %lld x -n %lld draws of dimension %lld are too many",
                               (long long)a.mp.chains, (long long)a.n, (long long)d);
    }
    int64_t rows = a.mp.chains * a.n;
    vf_params *p = NULL;
    vf_flow *flow = NULL;
    vf_real *draws = NULL;
    double *rhat = NULL, *ess = NULL;
    rc = 1;
    int writer = cli_mpi_rank() == 0; /* on several MPI processes rank 0 alone writes files */
    if (!writer) a.log = NULL;
    if (a.model && vf_mcmc_sampler_needs_flow(a.mp.sampler)) {
        if (vf_flow_load(a.model, &p, &flow, NULL) != VF_OK) {
            cli_runtime_error("mcmc", "--model: %s", vf_last_error());
            goto done;
        }
        if (vf_flow_dim(flow) != d) {
            cli_runtime_error("mcmc", "--model %s has dimension %lld but target %s has %lld", a.model,
                              (long long)vf_flow_dim(flow), a.target, (long long)d);
            goto done;
        }
        if (vf_flow_context_dim(flow) != 0) {
            cli_runtime_error("mcmc", "--model %s is a conditional flow; mcmc needs an unconditional one", a.model);
            goto done;
        }
    }
    draws = malloc(sizeof(vf_real) * (size_t)(rows * d));
    rhat = malloc(sizeof(double) * (size_t)d);
    ess = malloc(sizeof(double) * (size_t)d);
    if (!draws || !rhat || !ess) {
        cli_runtime_error("mcmc", "out of memory for %lld draws", (long long)rows);
        goto done;
    }
    progress_ctx pc = {{writer && cli_show_progress(&a.common), 0, 0, 0.0}, cli_now_seconds(), a.sampler, NULL,
                       a.log_every};
    if (a.log && !(pc.log = fopen(a.log, "w"))) {
        cli_runtime_error("mcmc", "--log %s: cannot open for writing", a.log);
        goto done;
    }
    if (pc.pg.on || pc.log) {
        a.mp.progress = on_progress;
        a.mp.progress_ctx = &pc;
    }
    vf_mcmc_result res;
    s = vf_mcmc_run(&target, flow, p, &a.mp, a.n, draws, &res);
    cli_progress_end(&pc.pg);
    if (pc.log && fclose(pc.log) != 0 && s == VF_OK) {
        cli_runtime_error("mcmc", "--log %s: write failed", a.log);
        goto done;
    }
    double seconds = cli_now_seconds() - pc.t0;
    if (s != VF_OK) { /* the library's "mcmc: " would follow the command's own "varflow mcmc: " */
        const char *why = vf_last_error();
        cli_runtime_error("mcmc", "%s", strncmp(why, "mcmc: ", 6) == 0 ? why + 6 : why);
        goto done;
    }
    if (!writer) { /* the other processes' part ends with the chains */
        rc = 0;
        goto done;
    }
    if (vf_mcmc_diagnose(a.mp.chains, a.n, d, draws, rhat, ess) != VF_OK) {
        cli_runtime_error("mcmc", "diagnostics: %s", vf_last_error());
        goto done;
    }
    double ess_min = INFINITY, rhat_max = -INFINITY;
    int nan_rhat = 0;
    for (int64_t k = 0; k < d; k++) {
        if (isnan(rhat[k]) || isnan(ess[k])) nan_rhat = 1;
        if (ess[k] < ess_min) ess_min = ess[k];
        if (rhat[k] > rhat_max) rhat_max = rhat[k];
    }
    if (nan_rhat) ess_min = rhat_max = NAN; /* a coordinate that never moved */
    vf_tensor t = vf_tensor_wrap(draws, 2, (int64_t[]){rows, d});
    if (vf_write_table(a.output, &t) != VF_OK) {
        cli_write_error("mcmc", a.output);
        goto done;
    }
    if (a.common.json) {
        printf("{");
        cli_json_num("acceptance", res.acceptance, 0);
        cli_json_num("ess_min", ess_min, 1);
        cli_json_num("rhat_max", rhat_max, 1);
        printf(",\"n\":%lld,\"chains\":%lld,\"sampler\":\"%s\"", (long long)rows, (long long)a.mp.chains,
               vf_mcmc_sampler_name(a.mp.sampler));
        cli_json_num("step_size", res.step_size, 1);
        printf(",\"grad_evals\":%lld,\"logp_evals\":%lld,\"divergences\":%lld,\"seconds\":%.3f,\"output\":",
               (long long)res.grad_evals, (long long)res.logp_evals, (long long)res.divergences, seconds);
        cli_json_string(stdout, a.output);
        fputs("}\n", stdout);
    } else if (!a.common.quiet) {
        printf("%s on %s: %lld chains x %lld draws (after %lld warm-up) in %.1f s, acceptance %.3f", a.sampler,
               a.target, (long long)a.mp.chains, (long long)a.n, (long long)a.mp.warmup, seconds, res.acceptance);
        if (res.step_size > 0) printf(", step size %.4g", res.step_size);
        if (res.divergences > 0) printf(", %lld divergences", (long long)res.divergences);
        if (isnan(rhat_max)) /* a coordinate whose chains never moved */
            printf("\nbulk ESS and R-hat undefined (constant chains) over %lld coordinates\nwrote %s\n", (long long)d,
                   a.output);
        else
            printf("\nbulk ESS min %.1f, R-hat max %.4f over %lld coordinates\nwrote %s\n", ess_min, rhat_max,
                   (long long)d, a.output);
    }
    if (res.acceptance == 0 && !a.common.quiet) /* stuck chains: their diagnostics are null, running longer won't help */
        fprintf(stderr, "varflow mcmc: warning: no proposal was accepted: the chains never moved; %s\n",
                vf_mcmc_sampler_needs_flow(a.mp.sampler) ? "the flow does not cover the target"
                                                         : "the step size is far too large (leave it to the warm-up)");
    else if (isfinite(rhat_max) && rhat_max > 1.01 && !a.common.quiet) /* stderr: --json too */
        fprintf(stderr, "varflow mcmc: warning: R-hat %.3f > 1.01: the chains have not mixed; run longer\n", rhat_max);
    rc = 0;
done:
    free(draws);
    free(rhat);
    free(ess);
    vf_flow_free(flow);
    vf_params_free(p);
    cli_target_close(&target);
    return rc;
}

const cli_command cli_cmd_mcmc = {
    "mcmc",
    "sample a target by Markov chain Monte Carlo, optionally flow-assisted (imh, isir, neutra)",
    mcmc_run,
    mcmc_help,
};
