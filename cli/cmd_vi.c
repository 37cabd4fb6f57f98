/* cmd_vi.c — `varflow vi`: fits a normalizing flow to an unnormalized target density by reverse KL
 * (vf_vi.h), then reports the importance-sampling estimates (log Z, ESS, k-hat) and saves the flow as
 * an ordinary model file. The work is the library's vf_vi_run (vf_train.h); this file checks a
 * --resume checkpoint against the run, writes the files and prints. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "progress.h"

#define VI_DEFAULT_FLOW VF_VI_DEFAULT_FLOW
#define VI_DEFAULT_FLOW_1D VF_VI_DEFAULT_FLOW_1D
#define VI_DEFAULT_IS 10000

static void vi_help(FILE *out)
{
    vf_vi_options o = vf_vi_default_options();
    fprintf(out,
            "Usage: varflow vi --target SPEC [--flow SPEC] [--objective rkl|path|fkl|chi2|fab] -o MODEL [options]\n"
            "\n"
            "Fits a normalizing flow q to the unnormalized density p~ = Z p of --target by minimizing the\n"
            "reverse KL divergence (the loss E_q[log q - log p~] = KL(q || p) - log Z, the negative ELBO),\n"
            "with draws through the flow's sampling direction; Adam, cosine learning rate with linear\n"
            "warm-up, gradient-norm clipping. Then draws --is-samples points of q and reports importance-\n"
            "sampling estimates: the ELBO, log Z with its standard error, the ESS, and the PSIS k-hat (a\n"
            "warning above 0.7: the weights are too heavy-tailed to trust). MODEL is an ordinary flow model\n"
            "file (.safetensors): varflow sample, logprob and info work on it.\n"
            "\n"
            "Options:\n"
            "  --target SPEC        the target (required): NAME[:key=value,...] or plugin:PATH[:ARG] (list below)\n"
            "  -o, --output MODEL   model file to write (required)\n"
            "  --flow SPEC          flow preset (varflow fit --help lists them; default %s,\n"
            "                       in 1-D %s)\n"
            "  --objective NAME     rkl: reparameterization gradient (default); path: the path (sticking-\n"
            "                       the-landing) gradient, lower variance near convergence, about twice the cost\n"
            "                       fkl: forward KL(p || q) by self-normalized weights of q's own draws;\n"
            "                       chi2: the chi^2 divergence, minimizing 1/2 log E_q[(p~/q)^2] (both mass-\n"
            "                       covering; the training loss is then that objective's, docs/vi.md)\n"
            "                       fab: the alpha = 2 divergence by annealed importance sampling toward p^2/q\n"
            "                       with a replay buffer (FAB; mass-covering, for multimodal targets; docs/vi.md)\n"
            "  --anneal K           temperature: log p~ is multiplied by beta rising linearly from --beta0 to 1\n"
            "                       over the first K steps (default 0: no annealing)\n"
            "  --beta0 B            the first step's beta, in (0, 1] (default 0.01; used with --anneal)\n"
            "  --box A              put a scaled tanh last in the sampling direction, so every draw lies in\n"
            "                       (-A, A)^d (default 4 for u2, u3, u4, which live on [-4, 4]^2; 0: none)\n"
            "  --steps K            optimizer steps (default %lld)\n"
            "  --batch B            draws per step (default %lld)\n"
            "  --lr LR              peak learning rate (default %g)\n"
            "  --warmup W           warm-up steps (default min(100, steps / 10))\n"
            "  --clip C             gradient-norm clipping threshold (default %g; with --objective path\n"
            "                       a large value such as 1e9 fits u1 closer: clipping biases that\n"
            "                       heavy-tailed estimator, docs/vi.md)\n",
            VI_DEFAULT_FLOW, VI_DEFAULT_FLOW_1D, (long long)o.steps, (long long)o.batch, o.lr, o.clip);
    fprintf(out,
            "  --patience P         validate every --valid-every steps (after --anneal) by the objective's loss\n"
            "                       at the same --valid-draws draws of q each time; stop after P validations\n"
            "                       without a lower loss and keep the best parameters (default 0: no\n"
            "                       validation, the last parameters are kept)\n"
            "  --valid-every N      steps between validations, and the last step (default %lld)\n"
            "  --valid-draws N      draws of each validation (default %lld; at least 2)\n"
            "  --is-samples N       draws for the final estimates (default %d; at least 25)\n"
            "  --samples FILE       write those draws with their log weights (.csv or .npy): N rows of d + 1\n"
            "                       columns, x_1..x_d then log w = log p~(x) - log q(x); self-normalized\n"
            "                       weights exp(log w - max) / sum give importance-weighted expectations\n"
            "  --constrained        --samples holds the target's constrained parameters instead of x (plugins\n"
            "                       exporting varflow_target_constrain, e.g. examples/targets/: tau = exp(u))\n"
            "  --log FILE           a JSON line every 10 steps: step, loss, lr, seconds (and valid_loss at\n"
            "                       each validation)\n"
            "  --checkpoint FILE    write FILE atomically every --checkpoint-every N steps (default %lld) and\n"
            "                       at the end: a model file of the current flow that also holds the optimizer\n"
            "                       state and the sampling generator\n"
            "  --resume FILE        continue from checkpoint FILE exactly as the uninterrupted run would: give\n"
            "                       the same --target, --flow, --objective, --batch, --box, --seed, --anneal,\n"
            "                       --beta0 and validation options (--steps and --lr may change); --log\n"
            "                       FILE keeps its lines up to the checkpoint's step and is appended to\n"
            "  --stop-after N       end this run after N steps with a checkpoint (needs --checkpoint)\n",
            (long long)o.valid_every, (long long)o.valid_draws, VI_DEFAULT_IS, (long long)o.checkpoint_every);
    cli_print_common_help(out);
    cli_print_targets(out);
    fprintf(out,
            "\nWith --json, prints {\"elbo\", \"elbo_stderr\", \"log_z\", \"log_z_stderr\", \"ess\", \"ess_fraction\",\n"
            "\"khat\", \"forward_ess_fraction\" (targets with exact samples; else null), \"log_z_true\" (when\n"
            "known; else null), \"loss\" (mean of the last 100 training losses), \"valid_loss\" and \"best_step\"\n"
            "(with --patience: the best validation loss and the step whose parameters the model holds; else\n"
            "null), \"stopped_early\", \"steps\", \"seconds\", \"params\", \"is_samples\", \"paused\", \"model\"}. Exit codes: 0 success, 1 runtime error (a target that\n"
            "returns NaN, an unloadable plugin, divergence), 2 usage error.\n");
}

typedef struct vi_args {
    const char *target, *flow, *output, *log, *checkpoint, *resume, *samples;
    double box;
    int have_box;
    int constrained;
    int64_t is_samples;
    vf_vi_options o;
    cli_common common;
    cli_progress pg;
} vi_args;

static int parse_args(int argc, char **argv, vi_args *a)
{
    const char *cmd = "vi";
    memset(a, 0, sizeof *a);
    a->o = vf_vi_default_options();
    a->is_samples = VI_DEFAULT_IS;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v = NULL;
        int c = cli_common_option(cmd, argc, argv, &i, &a->common);
        if (c < 0) return 2;
        if (c > 0) continue;
        if (strcmp(arg, "--epochs") == 0 || strcmp(arg, "--valid-fraction") == 0 || strcmp(arg, "--valid") == 0)
            return cli_usage_error(cmd, "%s: vi has no data: it draws fresh points of q at every step, so it counts "
                                   "--steps K and validates with --patience P on --valid-draws fixed draws", arg);
        if (strcmp(arg, "--constrained") == 0) {
            a->constrained = 1;
            continue;
        }
        static const char *const valued[] = {"--anneal", "--beta0", "--target", "--flow", "--objective", "--output", "--log", "--checkpoint",
                                             "--resume", "--samples", "--box", "--steps", "--batch", "--lr",
                                             "--warmup", "--clip", "--is-samples", "--checkpoint-every",
                                             "--stop-after", "--patience", "--valid-every", "--valid-draws", NULL};
        const char *name;
        if (cli_take_valued(cmd, argc, argv, &i, valued, &name, &v)) return 2;
        int64_t iv;
        double dv;
        if (strcmp(name, "--target") == 0) a->target = v;
        else if (strcmp(name, "--flow") == 0) a->flow = v;
        else if (strcmp(name, "--output") == 0) a->output = v;
        else if (strcmp(name, "--log") == 0) a->log = v;
        else if (strcmp(name, "--checkpoint") == 0) a->checkpoint = v;
        else if (strcmp(name, "--resume") == 0) a->resume = v;
        else if (strcmp(name, "--samples") == 0) a->samples = v;
        else if (strcmp(name, "--objective") == 0) {
            int ob = vf_vi_objective_from_name(v);
            if (ob < 0) return cli_usage_error(cmd, "--objective: unknown '%s' (valid: rkl, path, fkl, chi2, fab)", v);
            a->o.objective = (vf_vi_objective)ob;
        } else if (strcmp(name, "--beta0") == 0) {
            if (cli_parse_double(v, &dv) || !(dv > 0.0 && dv <= 1.0))
                return cli_usage_error(cmd, "--beta0: '%s' is not a number in (0, 1]", v);
            a->o.beta0 = dv;
        } else if (strcmp(name, "--anneal") == 0) {
            if (cli_parse_i64(v, 0, INT64_C(1) << 40, &iv))
                return cli_usage_error(cmd, "--anneal: '%s' is not a whole number >= 0", v);
            a->o.anneal = iv;
        } else if (strcmp(name, "--box") == 0 || strcmp(name, "--lr") == 0 || strcmp(name, "--clip") == 0) {
            int box = name[2] == 'b';
            if (cli_parse_double(v, &dv) || !isfinite(dv) || dv < 0.0 || (!box && dv == 0.0))
                return cli_usage_error(cmd, "%s: '%s' is not a %s number", name, v, box ? "non-negative" : "positive");
            if (box) a->box = dv, a->have_box = 1;
            else if (name[2] == 'l') a->o.lr = dv;
            else a->o.clip = dv;
        } else {
            int64_t lo = strcmp(name, "--warmup") == 0 || strcmp(name, "--patience") == 0 ? 0
                         : strcmp(name, "--is-samples") == 0 ? 25
                         : strcmp(name, "--valid-draws") == 0 ? 2 : 1;
            if (cli_parse_i64(v, lo, INT64_C(1) << 40, &iv))
                return cli_usage_error(cmd, "%s: '%s' is not a whole number >= %lld", name, v, (long long)lo);
            if (strcmp(name, "--steps") == 0) a->o.steps = iv;
            else if (strcmp(name, "--batch") == 0) a->o.batch = iv;
            else if (strcmp(name, "--warmup") == 0) a->o.warmup = iv;
            else if (strcmp(name, "--is-samples") == 0) a->is_samples = iv;
            else if (strcmp(name, "--checkpoint-every") == 0) a->o.checkpoint_every = iv;
            else if (strcmp(name, "--patience") == 0) a->o.patience = iv;
            else if (strcmp(name, "--valid-every") == 0) a->o.valid_every = iv;
            else if (strcmp(name, "--valid-draws") == 0) a->o.valid_draws = iv;
            else a->o.stop_after = iv;
        }
    }
    if (!a->target) return cli_usage_error(cmd, "missing --target SPEC");
    if (!a->output) return cli_usage_error(cmd, "missing -o MODEL");
    if (!*a->output) return cli_usage_error(cmd, "-o: empty file name");
    if (a->samples && cli_check_table_name(cmd, "--samples", a->samples)) return 2;
    if (a->constrained && !a->samples) return cli_usage_error(cmd, "--constrained needs --samples FILE");
    if (!a->checkpoint && a->o.stop_after > 0) return cli_usage_error(cmd, "--stop-after needs --checkpoint FILE");
    if (a->checkpoint && !*a->checkpoint) return cli_usage_error(cmd, "--checkpoint: empty file name");
    if (a->o.patience > 0 && a->o.anneal >= a->o.steps)
        return cli_usage_error(cmd, "--patience: validation starts after the annealing, but --anneal %lld is not "
                               "below --steps %lld", (long long)a->o.anneal, (long long)a->o.steps);
    if (a->o.warmup >= a->o.steps) return cli_usage_error(cmd, "--warmup %lld must be smaller than --steps %lld",
                                                          (long long)a->o.warmup, (long long)a->o.steps);
    a->o.seed = a->common.seed;
    a->pg.on = cli_show_progress(&a->common);
    a->o.progress = cli_progress_vi; /* also ends the graceful Ctrl-C with the loop (cli_interrupt.c) */
    a->o.progress_ctx = &a->pg; /* a is not copied after parsing */
    return 0;
}

/* The settings a --resume checkpoint must share with this run: keys [11] -> values (NULL: the key must
 * be absent, as the validation keys of a run without --patience and the annealing keys of a run
 * without --anneal; formatted as src/train/vi_run.c records them). */
#define VI_RESUME_KEYS 11
typedef struct vi_meta {
    const char *keys[VI_RESUME_KEYS], *values[VI_RESUME_KEYS];
    char seed[32], batch[32], box[40], patience[32], valid_every[32], valid_draws[32], anneal[32], beta0[40];
} vi_meta;

static void resume_settings(const vi_args *a, const char *flow, vi_meta *m)
{
    snprintf(m->seed, sizeof m->seed, "%llu", (unsigned long long)a->o.seed);
    snprintf(m->batch, sizeof m->batch, "%lld", (long long)a->o.batch);
    snprintf(m->box, sizeof m->box, "%g", a->box);
    snprintf(m->patience, sizeof m->patience, "%lld", (long long)a->o.patience);
    snprintf(m->valid_every, sizeof m->valid_every, "%lld", (long long)a->o.valid_every);
    snprintf(m->valid_draws, sizeof m->valid_draws, "%lld", (long long)a->o.valid_draws);
    snprintf(m->anneal, sizeof m->anneal, "%lld", (long long)a->o.anneal);
    snprintf(m->beta0, sizeof m->beta0, "%g", a->o.beta0);
    int valid = a->o.patience > 0, annealed = a->o.anneal > 0;
    const char *keys[] = {"vi.target", "vi.flow", "vi.objective", "vi.seed", "vi.batch", "vi.box",
                          "vi.patience", "vi.valid_every", "vi.valid_draws", "vi.anneal", "vi.beta0"};
    const char *values[] = {a->target, flow, vf_vi_objective_name(a->o.objective), m->seed, m->batch, m->box,
                            valid ? m->patience : NULL, valid ? m->valid_every : NULL, valid ? m->valid_draws : NULL,
                            annealed ? m->anneal : NULL, annealed ? m->beta0 : NULL};
    for (int i = 0; i < VI_RESUME_KEYS; i++) {
        m->keys[i] = keys[i];
        m->values[i] = values[i];
    }
}

/* --resume: the flow and state from the checkpoint, checked against this run's settings. */
static int load_resume(const vi_args *a, const vi_meta *want, int64_t d, vf_fitted **model, vf_model_meta *meta,
                       vf_fit_state *st)
{
    vf_params *p = NULL;
    vf_flow *flow = NULL;
    if (vf_flow_load(a->resume, &p, &flow, meta) != VF_OK) return cli_runtime_error("vi", "--resume: %s", vf_last_error());
    if (vf_fitted_from_flow(flow, p, model) != VF_OK) return cli_runtime_error("vi", "%s", vf_last_error());
    if (vf_fit_checkpoint_read(a->resume, meta, p, st) != VF_OK) return cli_runtime_error("vi", "--resume: %s", vf_last_error());
    if (vf_flow_dim(flow) != d)
        return cli_runtime_error("vi", "--resume %s: the checkpoint's flow has dimension %lld but target %s has %lld",
                                 a->resume, (long long)vf_flow_dim(flow), a->target, (long long)d);
    for (int k = 0; k < VI_RESUME_KEYS; k++) {
        const char *have = vf_model_meta_get(meta, want->keys[k]), *w = want->values[k];
        if (have ? !w || strcmp(have, w) != 0 : w != NULL)
            return cli_runtime_error("vi", "--resume %s: the checkpoint was made with %s %s, this run has %s", a->resume,
                                     want->keys[k], have ? have : "(none)", w ? w : "(none)");
    }
    return 0;
}

static int write_samples(const char *path, int64_t n, int64_t d, const vf_real *x, const double *logw)
{
    vf_real *buf = malloc(sizeof(vf_real) * (size_t)(n * (d + 1)));
    if (!buf) return cli_runtime_error("vi", "out of memory");
    for (int64_t i = 0; i < n; i++) {
        memcpy(buf + i * (d + 1), x + i * d, sizeof(vf_real) * (size_t)d);
        buf[i * (d + 1) + d] = (vf_real)logw[i];
    }
    vf_tensor t = vf_tensor_wrap(buf, 2, (int64_t[]){n, d + 1});
    vf_status s = vf_write_table(path, &t);
    free(buf);
    if (s != VF_OK) return cli_write_error("vi", path);
    return 0;
}

static void json_num(const char *key, double v, int comma) { cli_json_num(key, v, comma); }

static int vi_run(int argc, char **argv)
{
    vi_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    if (a.common.threads > 0) vf_set_num_threads(a.common.threads);
    vf_target target;
    if ((rc = cli_target_open("vi", a.target, &target)) != 0) return rc;
    if (a.constrained && !target.constrain) { /* refused before the training, not after it */
        cli_target_close(&target);
        return cli_runtime_error("vi", "--constrained: target %s has no constraining map (varflow_target_constrain)",
                                 a.target);
    }
    int64_t d = target.dim, n = a.is_samples;
    if (!a.have_box) a.box = vf_vi_default_box(&target);
    const char *spec = a.flow ? a.flow : d >= 2 ? VI_DEFAULT_FLOW : VI_DEFAULT_FLOW_1D;
    vf_fitted *model = NULL, *resumed = NULL;
    vf_model_meta meta = {0, NULL, NULL};
    vf_fit_state state;
    memset(&state, 0, sizeof state);
    vf_real *x = NULL;
    double *logw = NULL;
    rc = 1;
    int writer = cli_mpi_rank() == 0; /* on several MPI processes rank 0 alone writes files */
    if (!writer) {
        a.log = a.checkpoint = NULL;
        a.o.progress = NULL;
    }
    vi_meta m;
    resume_settings(&a, spec, &m);
    if (a.resume && (rc = load_resume(&a, &m, d, &resumed, &meta, &state)) != 0) goto done;
    rc = 1;
    if (a.samples && (!(x = malloc(sizeof(vf_real) * (size_t)(n * d))) || !(logw = malloc(sizeof(double) * (size_t)n)))) {
        cli_runtime_error("vi", "out of memory for %lld draws", (long long)n);
        goto done;
    }
    vf_vi_run_options o = vf_vi_run_default_options();
    a.o.interrupt = cli_interrupt_graceful();
    o.vi = a.o;
    o.box = a.box;
    o.is_samples = n;
    o.target_spec = a.target;
    o.log_path = a.log;
    o.checkpoint = a.checkpoint;
    o.resume = resumed;
    o.resume_state = resumed ? &state : NULL;
    o.draws = x;
    o.log_weights = logw;
    vf_vi_summary st;
    if (vf_vi_run(&target, spec, &o, &model, &st) != VF_OK) {
        if (st.stage == VF_FIT_STAGE_SPEC) rc = cli_usage_error("vi", "--flow %s: %s", spec, st.error);
        else if (st.stage == VF_FIT_STAGE_TRAIN) {
            char note[1024];
            cli_runtime_error("vi", "%s%s", st.error, cli_checkpoint_note(a.checkpoint, a.resume, note, sizeof note));
        }
        else cli_runtime_error("vi", "%s", st.error);
        goto done;
    }
    if (resumed) model = resumed, resumed = NULL;
    if (!writer) { /* the other processes' part ends with the estimates */
        rc = 0;
        goto done;
    }
    if (vf_fitted_save(model, a.output) != VF_OK) { /* the trained flow first: the costly result */
        cli_write_error("vi", a.output);
        goto done;
    }
    if (a.samples && a.constrained) { /* the model's own parameters in place of x */
        vf_real *cx = malloc(sizeof(vf_real) * (size_t)(n * target.constrained_dim)); /* constrain: checked above */
        if (!cx || vf_target_constrain(&target, n, x, cx) != VF_OK) {
            cli_runtime_error("vi", "--constrained: %s", cx ? vf_last_error() : "out of memory");
            free(cx);
            goto done;
        }
        int wrc = write_samples(a.samples, n, target.constrained_dim, cx, logw);
        free(cx);
        if (wrc) goto done;
    } else if (a.samples && write_samples(a.samples, n, d, x, logw)) goto done;
    if (st.khat > 0.7)
        fprintf(stderr, "varflow vi: warning: k-hat %.2f > 0.7: the importance weights are heavy-tailed, so log Z, "
                        "its standard error and the ESS are not reliable\n", st.khat);
    if (a.common.json) {
        printf("{");
        json_num("elbo", st.elbo, 0);
        json_num("elbo_stderr", st.elbo_stderr, 1);
        json_num("log_z", st.log_z, 1);
        json_num("log_z_stderr", st.log_z_stderr, 1);
        json_num("ess", st.ess, 1);
        json_num("ess_fraction", st.ess_fraction, 1);
        json_num("khat", st.khat, 1);
        json_num("forward_ess_fraction", st.forward_ess_fraction, 1);
        json_num("log_z_true", st.log_z_true, 1);
        json_num("loss", st.loss, 1);
        json_num("valid_loss", st.valid_loss, 1);
        json_num("best_step", st.best_step > 0 ? (double)st.best_step : NAN, 1);
        printf(",\"stopped_early\":%s", st.stopped_early ? "true" : "false");
        printf(",\"steps\":%lld,\"seconds\":%.3f,\"params\":%lld,\"is_samples\":%lld,\"paused\":%s,\"model\":",
               (long long)st.steps, st.seconds, (long long)st.params, (long long)n, st.paused ? "true" : "false");
        cli_json_string(stdout, a.output);
        fputs("}\n", stdout);
    } else if (!a.common.quiet) {
        printf("fitted %s (%lld parameters) to %s by %s: %lld steps in %.1f s, loss %.4f over the last steps\n",
               spec, (long long)st.params, a.target, vf_vi_objective_name(a.o.objective), (long long)st.steps,
               st.seconds, st.loss);
        if (st.best_step > 0)
            printf("kept the parameters of step %lld: validation loss %.4f%s\n", (long long)st.best_step, st.valid_loss,
                   st.stopped_early ? " (stopped early: no lower loss in --patience validations)" : "");
        printf("importance sampling, %lld draws: ELBO %.4f +- %.4f, log Z %.4f +- %.4f", (long long)n, st.elbo,
               st.elbo_stderr, st.log_z, st.log_z_stderr);
        if (target.has_log_z) printf(" (true %.4f)", target.log_z);
        printf(", ESS %.0f (%.1f%%), k-hat %.2f", st.ess, 100 * st.ess_fraction, st.khat);
        if (isfinite(st.forward_ess_fraction)) printf(", forward ESS %.1f%%", 100 * st.forward_ess_fraction);
        printf("\nwrote %s%s%s\n", a.output, a.samples ? " and " : "", a.samples ? a.samples : "");
        if (st.paused == 1)
            printf("checkpoint %s: continue with the same command and --resume %s\n", a.checkpoint, a.checkpoint);
    }
    rc = cli_interrupt_report("vi", st.paused == 2, a.output, a.checkpoint);
done:
    free(x);
    free(logw);
    vf_fitted_free(model);
    vf_fitted_free(resumed);
    vf_model_meta_free(&meta);
    vf_fit_state_free(&state);
    cli_target_close(&target);
    return rc;
}

const cli_command cli_cmd_vi = {
    "vi",
    "fit a flow to an unnormalized log-density (variational inference) and estimate log Z",
    vi_run,
    vi_help,
};
