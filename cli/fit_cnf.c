/* fit_cnf.c — `varflow fit --model cfm|otcfm|sbcfm|fm|rf|si|meanflow[:keys]`: a continuous flow
 * trained on a data table and saved as a varflow.cnf model file (vf_cnf_model.h). cmd_fit.c hands
 * over when --model names one of these objectives; the loop is cnf_fit.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "fit_options.h"
#include "progress.h"
#include "fit_cnf.h"

#define CMD "fit"
#define NLL_ROWS 1000 /* default of --nll-rows */
#define NLL_MAX_DIM 16

void fit_cnf_help(FILE *out)
{
    fputs("\nContinuous flows (--model NAME[:key=value,...]; docs/cnf.md):\n"
          "  cfm        I-CFM: linear path, sigma 0, independent pairs\n"
          "  otcfm      OT-CFM: linear path, sigma 0, exact minibatch OT pairs\n"
          "  sbcfm      SB-CFM: Brownian bridge, sigma 0.1, Sinkhorn pairs at eps = 2 sigma^2\n"
          "  fm         Lipman et al. flow matching, sigma_min 1e-4\n"
          "  rf         rectified flow: linear path, sigma 0 (straighten with varflow reflow)\n"
          "  si         stochastic interpolant, g(t) = sqrt(sigma t (1 - t)), sigma 1\n"
          "  meanflow   MeanFlow: average velocity u(x, s, e); 1- or k-step sampling\n"
          "  keys: hidden=64x3 (widths: WxL or W1xW2x...), act=silu|selu|relu|gelu|tanh|elu|softplus,\n"
          "        residual=0|1, time=input|sinusoidal (default input; sinusoidal: 16 features up to freq=F,\n"
          "        default 64), sigma=S (path noise), coupling=independent|ot|sinkhorn,\n"
          "        eps=E (Sinkhorn, absolute), iters=N (Sinkhorn's iteration limit; sbcfm default 1000),\n"
          "        source=gaussian|student[:df=D] (or df=D), p_uncond=P (label\n"
          "        dropout for classifier-free guidance, default 0.1 with --labels), embed=E (label embedding),\n"
          "        score=0|1 (a second field learns the score, [SF]2M; default 1 for sbcfm and si: needs path\n"
          "        noise; such models also sample with the SDE solvers em and sheun)\n"
          "  meanflow keys: distinct=F (fraction of rows with s != e, default 0.25; the rest are plain flow\n"
          "        matching), times=uniform|logit_normal (s, e: the smaller and larger of two draws; default\n"
          "        uniform), time_mu=M, time_sigma=S (logit-normal sigmoid(N(M, S^2)), default 0.4, 1),\n"
          "        weight_p=P, weight_c=C (adaptive loss weights 1 / (err^2 + C)^P; default P = 0, the plain\n"
          "        squared error; the paper's P = 1, C = 1e-3 trained worse on 2-D data). MeanFlow's\n"
          "        validation loss is the plain flow-matching error (e = s on every validation row), since\n"
          "        its training target moves with the network. Default coupling=ot for meanflow\n",
          out);
    fputs(          "  --labels FILE        one integer class label 0..K-1 per row of --data: a class-conditional\n"
          "                       model (K = largest label + 1); sample with --label L [--guidance W]\n"
          "  --valid-labels FILE  labels of --valid's rows (needed with --valid and --labels)\n"
          "  --nll-rows N         rows (training and validation each) for the exact NLLs reported at the\n"
          "                       end (default 1000; 0: none)\n"
          "  --source FILE        data-to-data transport: source rows (same columns as --data) drawn with\n"
          "                       replacement instead of a noise source; sample takes --source FILE too\n"
          "  --box LO,HI          as above (the field works on the logits), but not with --dequantize (add\n"
          "                       the noise to the data once beforehand) or --source\n"
          "  Training minimizes the objective's regression loss; --patience counts epochs without a lower\n"
          "  validation loss (one fixed draw of sources, times and noise for the validation rows).\n"
          "  --dequantize, --checkpoint, --checkpoint-every, --resume and --stop-after work as for flows: the\n"
          "  noise is added to the targets of every batch (and to the validation draw and the rows of the\n"
          "  exact NLLs); a checkpoint is a varflow.cnf model file (sample and logprob read it) that also\n"
          "  holds the optimizer, the generators (batch order; sources, couplings, label dropout, times and\n"
          "  noise), the best parameters and the patience counter, so --resume continues bit for bit (give\n"
          "  the same --labels and --source too; --model may be left out).\n"
          "  With --json: {\"train_loss\", \"valid_loss\", \"train_nll\", \"valid_nll\", \"steps\", \"epochs\",\n"
          "  \"best_epoch\", \"stopped_early\", \"paused\", \"seconds\", \"params\", \"model\"}; the NLLs are exact\n"
          "  log-likelihoods (rk4, 100 steps, exact divergence) of the first --nll-rows training and validation\n"
          "  rows when the dimension is <= 16 (null otherwise, for meanflow and for --source models).\n",
          out);
}

typedef struct cnf_args {
    const char *data, *valid, *model, *output, *log, *labels, *valid_labels, *source, *checkpoint, *resume;
    double valid_fraction;
    int64_t nll_rows;
    int no_standardize;
    double box_lo, box_hi, box_alpha; /* --box LO,HI (none when hi <= lo), --box-alpha A */
    vf_fit_options o;
    cli_common common;
    cli_progress pg;
} cnf_args;

static int parse_args(int argc, char **argv, cnf_args *a)
{
    int have_epochs = 0, have_fraction = 0;
    memset(a, 0, sizeof *a);
    a->valid_fraction = 0.1;
    a->nll_rows = NLL_ROWS;
    a->box_alpha = VF_CNF_BOX_ALPHA;
    a->o = vf_fit_default_options();
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v = NULL;
        int c = cli_common_option(CMD, argc, argv, &i, &a->common);
        if (c < 0) return 2;
        if (c > 0) continue;
        if (strcmp(arg, "--no-standardize") == 0) {
            a->no_standardize = 1;
            continue;
        }
        if (strcmp(arg, "--dequantize") == 0) {
            a->o.dequantize = 1;
            continue;
        }
        static const char *const valued[] = {"--data", "--valid", "--model", "--output", "--log", "--valid-fraction",
                                             "--epochs", "--steps", "--batch", "--lr", "--weight-decay", "--warmup",
                                             "--clip", "--patience", "--labels", "--valid-labels", "--source", "--nll-rows",
                                             "--checkpoint", "--resume", "--checkpoint-every", "--stop-after", "--box",
                                             "--box-alpha", NULL};
        const char *name;
        if (cli_take_valued(CMD, argc, argv, &i, valued, &name, &v)) return 2;
        int t = fit_parse_option(CMD, name, v, &a->o, &have_epochs);
        if (t < 0) return 2;
        if (t > 0) continue;
        double dv;
        if ((t = fit_parse_box(CMD, name, v, &a->box_lo, &a->box_hi, &a->box_alpha)) < 0) return 2;
        if (t > 0) continue;
        if (strcmp(name, "--data") == 0) a->data = v;
        else if (strcmp(name, "--valid") == 0) a->valid = v;
        else if (strcmp(name, "--model") == 0) a->model = v;
        else if (strcmp(name, "--output") == 0) a->output = v;
        else if (strcmp(name, "--log") == 0) a->log = v;
        else if (strcmp(name, "--labels") == 0) a->labels = v;
        else if (strcmp(name, "--valid-labels") == 0) a->valid_labels = v;
        else if (strcmp(name, "--source") == 0) a->source = v;
        else if (strcmp(name, "--checkpoint") == 0) a->checkpoint = v;
        else if (strcmp(name, "--resume") == 0) a->resume = v;
        else if (strcmp(name, "--valid-fraction") == 0) {
            if (cli_parse_double(v, &dv) || !(dv >= 0.0 && dv < 1.0))
                return cli_usage_error(CMD, "--valid-fraction: '%s' is not a number in [0, 1)", v);
            a->valid_fraction = dv;
            have_fraction = 1;
        } else {
            int64_t iv; /* --nll-rows */
            if (cli_parse_i64(v, 0, INT64_C(1) << 40, &iv))
                return cli_usage_error(CMD, "%s: '%s' is not a whole number >= 0", name, v);
            a->nll_rows = iv;
        }
    }
    if (!a->data) return cli_usage_error(CMD, "missing --data FILE");
    if (!a->output || !*a->output) return cli_usage_error(CMD, "missing -o MODEL");
    if (have_epochs && a->o.steps > 0) return cli_usage_error(CMD, "give --epochs or --steps, not both");
    if (a->valid && have_fraction) /* the fraction would be ignored: a file gives the validation rows */
        return cli_usage_error(CMD, "give --valid FILE or --valid-fraction F, not both");
    if (!a->checkpoint && (a->o.stop_after > 0 || a->o.checkpoint_every != 1))
        return cli_usage_error(CMD, "--stop-after and --checkpoint-every need --checkpoint FILE");
    if (a->checkpoint && !*a->checkpoint) return cli_usage_error(CMD, "--checkpoint: empty file name");
    if (a->valid_labels && !(a->labels && a->valid))
        return cli_usage_error(CMD, "--valid-labels goes with --labels and --valid");
    if (a->labels && a->valid && !a->valid_labels)
        return cli_usage_error(CMD, "--valid FILE with --labels needs --valid-labels FILE");
    if (a->o.warmup >= 0 && a->o.steps > 0 && a->o.warmup >= a->o.steps)
        return cli_usage_error(CMD, "--warmup %lld must be smaller than --steps %lld", (long long)a->o.warmup,
                               (long long)a->o.steps);
    a->o.seed = a->common.seed;
    a->pg.on = cli_show_progress(&a->common);
    a->o.progress = cli_progress_loss; /* also ends the graceful Ctrl-C with the loop (cli_interrupt.c) */
    a->o.progress_ctx = &a->pg; /* a is not copied after parsing */
    return 0;
}

static int read_table(const char *path, vf_tensor *x)
{
    if (vf_read_table(path, x) != VF_OK) {
        const char *msg = vf_last_error();
        if (strstr(msg, path)) return cli_runtime_error(CMD, "%s", msg);
        return cli_runtime_error(CMD, "cannot read %s: %s", path, msg);
    }
    if (x->ndim == 1) { /* a single column */
        x->ndim = 2;
        x->shape[1] = 1;
        x->stride[1] = 1;
    }
    if (x->ndim != 2 || x->shape[0] < 1 || x->shape[1] < 1) {
        vf_tensor_free(x);
        return cli_runtime_error(CMD, "%s: no data rows", path);
    }
    return 0;
}

/* Labels file: one integer >= 0 per row, n rows; *out [n] (malloc'd). */
int cli_read_labels(const char *cmd, const char *path, int64_t n, int64_t **out)
{
    vf_tensor t = {0};
    if (vf_read_table(path, &t) != VF_OK) return cli_runtime_error(cmd, "%s", vf_last_error());
    int64_t rows = t.shape[0], cols = t.ndim > 1 ? t.shape[1] : 1;
    int rc = 0;
    if (cols != 1) rc = cli_runtime_error(cmd, "%s: labels need one column (got %lld)", path, (long long)cols);
    else if (n >= 0 && rows != n)
        rc = cli_runtime_error(cmd, "%s has %lld labels for %lld data rows", path, (long long)rows, (long long)n);
    int64_t *lab = rc ? NULL : malloc(sizeof(int64_t) * (size_t)(rows > 0 ? rows : 1));
    if (!rc && !lab) rc = cli_runtime_error(cmd, "out of memory");
    for (int64_t i = 0; !rc && i < rows; i++) {
        double v = (double)t.data[i * t.stride[0]];
        if (!(v >= 0 && v < 1e9 && floor(v) == v))
            rc = cli_runtime_error(cmd, "%s: row %lld: label %.9g is not a whole number >= 0", path, (long long)(i + 1), v);
        else lab[i] = (int64_t)v;
    }
    vf_tensor_free(&t);
    if (rc) {
        free(lab);
        return rc;
    }
    *out = lab;
    return 0;
}

int fit_cnf_run(int argc, char **argv)
{
    cnf_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    if (a.common.threads > 0) vf_set_num_threads(a.common.threads);
    int ranks = cli_mpi_size(), rank = cli_mpi_share_fit(&a.o, &a.log, &a.checkpoint);
    vf_tensor x = {0}, xv = {0}, xs = {0};
    int64_t *lab_all = NULL, *vlab = NULL;
    vf_real *data = NULL, *valid = NULL, *source = NULL;
    vf_fitted *m = NULL, *resumed = NULL;
    char *spec = NULL;
    vf_fit_state state;
    memset(&state, 0, sizeof state);
    if ((rc = read_table(a.data, &x)) != 0) return rc;
    rc = 1;
    int64_t n = x.shape[0], d = x.shape[1], nv = 0, classes = 0;
    if (a.o.dequantize && fit_check_integers(CMD, a.data, &x) != 0) goto done;
    if (a.valid) {
        if (read_table(a.valid, &xv) != 0 || (a.o.dequantize && fit_check_integers(CMD, a.valid, &xv) != 0)) goto done;
        nv = xv.shape[0];
    }
    if (a.labels) {
        if (cli_read_labels(CMD, a.labels, n, &lab_all)) goto done;
        for (int64_t i = 0; i < n; i++) classes = lab_all[i] + 1 > classes ? lab_all[i] + 1 : classes;
        if (a.valid_labels) {
            if (cli_read_labels(CMD, a.valid_labels, nv, &vlab)) goto done;
            for (int64_t i = 0; i < nv; i++)
                if (vlab[i] >= classes) {
                    cli_runtime_error(CMD, "%s: row %lld: label %lld is not among the training labels 0..%lld",
                                      a.valid_labels, (long long)(i + 1), (long long)vlab[i], (long long)(classes - 1));
                    goto done;
                }
        }
    }
    if (a.source) {
        if (read_table(a.source, &xs) != 0) goto done;
        if (xs.shape[1] != d) {
            cli_runtime_error(CMD, "--source %s has %lld columns but %s has %lld: source and data must have the same "
                              "dimension", a.source, (long long)xs.shape[1], a.data, (long long)d);
            goto done;
        }
    }
    if (!(data = fit_table_copy(&x)) || (a.valid && !(valid = fit_table_copy(&xv))) ||
        (a.source && !(source = fit_table_copy(&xs)))) {
        cli_runtime_error(CMD, "out of memory");
        goto done;
    }
    a.o.interrupt = cli_interrupt_graceful();
    vf_fit_table_options o = fit_table_options(&a.o, a.valid_fraction, a.no_standardize, a.data, a.valid, &xv, a.log);
    o.labels = lab_all;
    o.valid_labels = vlab;
    o.source = source;
    o.source_rows = a.source ? xs.shape[0] : 0;
    o.source_name = a.source;
    o.nll_rows = a.nll_rows;
    o.checkpoint = a.checkpoint;
    o.box_lo = a.box_lo;
    o.box_hi = a.box_hi;
    o.box_alpha = a.box_alpha;
    int64_t nt = fit_train_rows(a.valid != NULL, a.valid_fraction, n);
    if (a.resume) { /* a.model is NULL when not given: the checkpoint's spec is used */
        fit_resume_want w = {a.resume, a.model, a.data, nt, d, !a.no_standardize, a.o.dequantize, a.o.seed, a.o.batch,
                             ranks};
        if ((rc = fit_load_resume(CMD, &w, &resumed, &state, &spec)) != 0) goto done;
        rc = 1;
        a.model = spec;
        o.resume = resumed;
        o.resume_state = &state;
    }
    vf_fit_result r;
    if (vf_fit_table(a.model, data, n, d, NULL, 0, valid, nv, NULL, &o, &m, &r) != VF_OK) {
        rc = fit_report_error(CMD, a.model, a.checkpoint, a.resume, &r);
        goto done;
    }
    if (resumed) m = resumed, resumed = NULL;
    int interrupted = r.paused == 2; /* Ctrl-C, not --stop-after */
    if (rank == 0 && vf_fitted_save(m, a.output) != VF_OK) {
        cli_write_error(CMD, a.output);
        goto done;
    }
    if (a.common.json) {
        printf("{\"train_loss\":%s,\"valid_loss\":%s,\"train_nll\":%s,\"valid_nll\":%s,\"steps\":%lld,"
               "\"epochs\":%lld,\"best_epoch\":%lld,\"stopped_early\":%s,\"paused\":%s,\"seconds\":%.3f,"
               "\"params\":%lld,\"model\":",
               vf_fitted_meta_get(m, "fit.train_loss"), vf_fitted_meta_get(m, "fit.valid_loss"),
               vf_fitted_meta_get(m, "fit.train_nll"), vf_fitted_meta_get(m, "fit.valid_nll"), (long long)r.steps,
               (long long)r.epochs, (long long)r.best_epoch, r.stopped_early ? "true" : "false",
               r.paused ? "true" : "false", r.seconds, (long long)r.params);
        cli_json_string(stdout, a.output);
        fputs("}\n", stdout);
    } else if (!a.common.quiet) {
        printf("fitted %s (%lld parameters) to %lld rows of %s: %lld steps, %lld epochs%s in %.1f s\n", a.model,
               (long long)r.params, (long long)r.train_rows, a.data, (long long)r.steps, (long long)r.epochs,
               r.stopped_early ? " (stopped early)" : !r.paused ? "" : interrupted ? " (interrupted)" : " (paused by --stop-after)",
               r.seconds);
        printf("kept epoch %lld: train loss %.4f", (long long)r.best_epoch, r.train_loss);
        if (r.valid_rows > 0) printf(", validation loss %.4f", r.valid_loss);
        if (isfinite(r.train_nll)) printf("; train NLL %.4f", r.train_nll);
        if (isfinite(r.valid_nll)) printf(", validation NLL %.4f nats per row", r.valid_nll);
        printf("\nwrote %s\n", a.output);
        if (r.paused && !interrupted && a.checkpoint) /* rank 0 of several processes holds the checkpoint */
            printf("checkpoint %s: continue with the same command and --resume %s\n", a.checkpoint, a.checkpoint);
    }
    rc = rank == 0 ? cli_interrupt_report(CMD, interrupted, a.output, a.checkpoint) : 0;
done:
    vf_fitted_free(m);
    vf_fitted_free(resumed);
    vf_fit_state_free(&state);
    free(spec);
    free(lab_all), free(vlab), free(data), free(valid), free(source);
    vf_tensor_free(&x);
    vf_tensor_free(&xv);
    vf_tensor_free(&xs);
    return rc;
}
