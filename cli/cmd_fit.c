/* cmd_fit.c — `varflow fit`: maximum-likelihood training of a normalizing flow on a data table, saved
 * as a model file (vf_model.h). The work is the library's vf_fit_table (vf_train.h); this file reads
 * the files, checks a --resume checkpoint against the run, and prints. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "fit_cnf.h"
#include "fit_options.h"
#include "progress.h"

#define FIT_DEFAULT_MODEL "maf"

static void fit_help(FILE *out)
{
    vf_fit_options o = vf_fit_default_options();
    fprintf(out,
            "Usage: varflow fit --data FILE [--valid FILE] [--model SPEC] -o MODEL [options]\n"
            "\n"
            "Fits a normalizing flow to the rows of FILE (.csv, .npy, IDX; d = its columns) by minibatch\n"
            "maximum likelihood and writes it to MODEL (.safetensors, written atomically). Adam (AdamW when\n"
            "--weight-decay > 0), cosine learning rate with linear warm-up, gradient-norm clipping. After\n"
            "every epoch the validation NLL is measured; the parameters of the best epoch are saved.\n"
            "\n"
            "Options:\n"
            "  --data FILE          training data (required)\n"
            "  -o, --output MODEL   model file to write (required)\n"
            "  --model SPEC         flow preset NAME[:key=value,...] (default %s; list below)\n"
            "  --valid FILE         validation data (default: hold out --valid-fraction of FILE)\n"
            "  --valid-fraction F   rows of FILE held out for validation, 0 <= F < 1 (default 0.1;\n"
            "                       0: no validation, the last epoch's parameters are kept; not with\n"
            "                       --valid)\n"
            "  --epochs E           passes over the training rows (default %lld)\n"
            "  --steps K            stop after K optimizer steps instead of counting epochs\n"
            "  --batch B            rows per step (default %lld; a last batch of one row joins the one\n"
            "                       before it)\n"
            "  --lr LR              peak learning rate (default %g)\n"
            "  --weight-decay W     AdamW decoupled weight decay (default 0: Adam)\n"
            "  --warmup W           warm-up steps (default min(100, total steps / 10))\n"
            "  --clip C             gradient-norm clipping threshold (default %g)\n"
            "  --patience P         stop after P epochs without a better validation NLL (default %lld;\n"
            "                       0: never stop early)\n"
            "  --log FILE           one JSON line per epoch: epoch, step, train_nll, valid_nll, lr, seconds\n"
            "  --dequantize         integer data: add fresh U(0, 1) noise to every value of every batch and\n"
            "                       evaluation, so the flow's density integrates over each unit cell to the\n"
            "                       probability of that integer vector (non-integer data is an error)\n"
            "  --no-standardize     do not standardize: by default the flow's first transform maps each\n"
            "                       column to (x - mean) / std (statistics of the training rows; a constant\n"
            "                       column gets std 1; with --dequantize those of the noisy values: mean + 0.5,\n"
            "                       sqrt(var + 1/12)). It is part of the saved model, so logprob, sample and\n"
            "                       vf_flow_load work on the original scale and every log-density includes\n"
            "                       its Jacobian, -sum(log std)\n"
            "  --box LO,HI          data on a box: every value lies in [LO, HI] (pixel values after\n"
            "                       dequantization: 0,256), and the model works on the logits\n"
            "                       y = logit(alpha + (1 - 2 alpha) (x - LO) / (HI - LO)), standardized after\n"
            "                       them: a flow gets that logit as its first transform, a continuous flow\n"
            "                       transports y. Log-densities include its Jacobian (-inf outside the box),\n"
            "                       samples come back into it. With --dequantize, x + 1 must lie in it too\n"
            "  --box-alpha A        the box's alpha, 0 <= A < 0.5 (default 1e-6)\n",
            FIT_DEFAULT_MODEL, (long long)o.epochs, (long long)o.batch, o.lr, o.clip, (long long)o.patience);
    fputs("  --checkpoint FILE    after every epoch (or every --checkpoint-every N epochs) write FILE\n"
          "                       atomically: a model file of the current parameters (logprob, sample\n"
          "                       and vf_flow_load accept it) that also holds the optimizer state, the\n"
          "                       generators, the best parameters and validation NLL and the patience\n"
          "                       counter. After a divergence (NaN or infinite loss) the last good\n"
          "                       checkpoint is left as it was\n"
          "  --checkpoint-every N checkpoint after every N-th epoch (default 1)\n"
          "  --resume FILE        continue from checkpoint FILE exactly as the uninterrupted run would\n"
          "                       (same parameters bit for bit): give the same data and options (--model\n"
          "                       may be left out; a different one, another data dimension, row count,\n"
          "                       --seed, --batch, --dequantize or --no-standardize is an error). --epochs\n"
          "                       or --lr may change. --log FILE keeps its lines up to the checkpoint\n"
          "                       (an interrupted run's later ones are dropped) and is appended to\n"
          "  --stop-after N       end this run after N epochs, writing the checkpoint and MODEL (the best\n"
          "                       so far); the schedule still spans --epochs, so a later --resume run\n"
          "                       finishes the training as if never interrupted (needs --checkpoint)\n",
          out);
    cli_print_common_help(out);
    fputs("\nFlow presets (--model NAME[:key=value,...]; keys common to all: transforms, hidden, act,\n"
          "base, seed; docs/flows.md describes them):\n",
          out);
    for (const char *const *n = vf_preset_names(); *n; n++) fprintf(out, "  %-13s %s\n", *n, vf_preset_help(*n));
    fit_cnf_help(out);
    fputs("\n"
          "--seed S seeds the initialization, the validation split, the shuffling and the dequantization\n"
          "noise. On a terminal (without --quiet) a progress line is shown on stderr.\n"
          "The model file records the training in its metadata (fit.spec, fit.data, fit.epochs, fit.steps,\n"
          "fit.train_nll, fit.valid_nll, fit.standardize, ...; fit.dequantize with --dequantize).\n"
          "\n"
          "Example:\n"
          "  varflow data 8gaussians -n 20000 -o 8g.npy\n"
          "  varflow fit --data 8g.npy --model nsf:transforms=5,hidden=64x2 --epochs 50 -o 8g.safetensors\n"
          "\n"
          "With --json, prints {\"train_nll\", \"valid_nll\" (nats per row, mean; null without validation),\n"
          "\"steps\", \"epochs\", \"best_epoch\", \"stopped_early\", \"paused\", \"seconds\", \"params\", \"model\"}.\n",
          out);
}

typedef struct fit_args {
    const char *data, *valid, *model, *output, *log, *checkpoint, *resume;
    double valid_fraction;
    int no_standardize, have_model;
    double box_lo, box_hi, box_alpha; /* --box LO,HI (none when hi <= lo), --box-alpha A */
    vf_fit_options o;
    cli_common common;
    cli_progress pg;
} fit_args;

/* Parses argv into a; returns 0, or the exit code of a usage error already printed. */
static int parse_args(int argc, char **argv, fit_args *a)
{
    const char *cmd = "fit";
    int have_epochs = 0, have_fraction = 0;
    memset(a, 0, sizeof *a);
    a->model = FIT_DEFAULT_MODEL;
    a->valid_fraction = 0.1;
    a->box_alpha = VF_CNF_BOX_ALPHA;
    a->o = vf_fit_default_options();
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v = NULL;
        int c = cli_common_option(cmd, argc, argv, &i, &a->common);
        if (c < 0) return 2;
        if (c > 0) continue;
        if (strcmp(arg, "--dequantize") == 0) {
            a->o.dequantize = 1;
            continue;
        }
        if (strcmp(arg, "--no-standardize") == 0) {
            a->no_standardize = 1;
            continue;
        }
        static const char *const valued[] = {"--data", "--valid", "--model", "--output", "--log", "--valid-fraction",
                                             "--epochs", "--steps", "--batch", "--lr", "--weight-decay", "--warmup",
                                             "--clip", "--patience", "--checkpoint", "--resume", "--checkpoint-every",
                                             "--stop-after", "--box", "--box-alpha", NULL};
        const char *name;
        if (cli_take_valued(cmd, argc, argv, &i, valued, &name, &v)) return 2;
        int t = fit_parse_option(cmd, name, v, &a->o, &have_epochs);
        if (t < 0) return 2;
        if (t > 0) continue;
        if ((t = fit_parse_box(cmd, name, v, &a->box_lo, &a->box_hi, &a->box_alpha)) < 0) return 2;
        if (t > 0) continue;
        double dv;
        if (strcmp(name, "--data") == 0) a->data = v;
        else if (strcmp(name, "--valid") == 0) a->valid = v;
        else if (strcmp(name, "--model") == 0) {
            a->model = v;
            a->have_model = 1;
        } else if (strcmp(name, "--checkpoint") == 0) a->checkpoint = v;
        else if (strcmp(name, "--resume") == 0) a->resume = v;
        else if (strcmp(name, "--output") == 0) a->output = v;
        else if (strcmp(name, "--log") == 0) a->log = v;
        else if (strcmp(name, "--valid-fraction") == 0) {
            if (cli_parse_double(v, &dv) || !(dv >= 0.0 && dv < 1.0))
                return cli_usage_error(cmd, "--valid-fraction: '%s' is not a number in [0, 1)", v);
            a->valid_fraction = dv;
            have_fraction = 1;
        }
    }
    if (!a->data) return cli_usage_error(cmd, "missing --data FILE");
    if (!a->output) return cli_usage_error(cmd, "missing -o MODEL");
    if (!*a->output) return cli_usage_error(cmd, "-o: empty file name");
    if (have_epochs && a->o.steps > 0) return cli_usage_error(cmd, "give --epochs or --steps, not both");
    if (a->valid && have_fraction) /* the fraction would be ignored: a file gives the validation rows */
        return cli_usage_error(cmd, "give --valid FILE or --valid-fraction F, not both");
    if (!a->checkpoint && (a->o.stop_after > 0 || a->o.checkpoint_every != 1))
        return cli_usage_error(cmd, "--stop-after and --checkpoint-every need --checkpoint FILE");
    if (a->checkpoint && !*a->checkpoint) return cli_usage_error(cmd, "--checkpoint: empty file name");
    if (a->o.warmup >= 0 && a->o.steps > 0 && a->o.warmup >= a->o.steps)
        return cli_usage_error(cmd, "--warmup %lld must be smaller than --steps %lld", (long long)a->o.warmup,
                               (long long)a->o.steps);
    a->o.seed = a->common.seed;
    a->pg.on = cli_show_progress(&a->common);
    a->o.progress = cli_progress_nll; /* also ends the graceful Ctrl-C with the loop (cli_interrupt.c) */
    a->o.progress_ctx = &a->pg; /* a is not copied after parsing */
    return 0;
}

static int read_data(const char *path, vf_tensor *x)
{
    if (vf_read_table(path, x) != VF_OK) {
        const char *msg = vf_last_error();
        if (strstr(msg, path)) return cli_runtime_error("fit", "%s", msg);
        return cli_runtime_error("fit", "cannot read %s: %s", path, msg);
    }
    if (x->ndim != 2 || x->shape[0] < 1 || x->shape[1] < 1) {
        vf_tensor_free(x);
        return cli_runtime_error("fit", "%s: no data rows", path);
    }
    return 0;
}

/* The value of option `name` ("--model") in argv (NULL when absent). */
static const char *option_value(int argc, char **argv, const char *name)
{
    const char *value = NULL;
    size_t k = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], name) == 0 && i + 1 < argc) value = argv[++i];
        else if (strncmp(argv[i], name, k) == 0 && argv[i][k] == '=') value = argv[i] + k + 1;
    }
    return value;
}

static int fit_run(int argc, char **argv)
{
    const char *spec_opt = option_value(argc, argv, "--model"), *resume_opt = option_value(argc, argv, "--resume");
    if (vf_fit_is_cnf_spec(spec_opt) || (!spec_opt && resume_opt && vf_cnf_model_file_is_cnf(resume_opt)))
        return fit_cnf_run(argc, argv); /* continuous flows (or resuming one): fit_cnf.c */
    fit_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    if (a.common.threads > 0) vf_set_num_threads(a.common.threads);
    int ranks = cli_mpi_size(), rank = cli_mpi_share_fit(&a.o, &a.log, &a.checkpoint);

    vf_tensor x = {0}, xv = {0};
    vf_fitted *model = NULL, *resumed = NULL;
    vf_real *data = NULL, *valid = NULL;
    char *spec = NULL;
    vf_fit_state state;
    memset(&state, 0, sizeof state);
    if ((rc = read_data(a.data, &x)) != 0) return rc;
    if (a.o.dequantize && (rc = fit_check_integers("fit", a.data, &x)) != 0) {
        vf_tensor_free(&x);
        return rc;
    }
    int64_t n = x.shape[0], d = x.shape[1], nv = 0, nt = fit_train_rows(a.valid != NULL, a.valid_fraction, n);
    rc = 1;
    if (a.valid) {
        if (read_data(a.valid, &xv) != 0 || (a.o.dequantize && fit_check_integers("fit", a.valid, &xv) != 0)) goto done;
        nv = xv.shape[0];
    }
    if (!(data = fit_table_copy(&x)) || (a.valid && !(valid = fit_table_copy(&xv)))) {
        cli_runtime_error("fit", "out of memory");
        goto done;
    }
    a.o.interrupt = cli_interrupt_graceful();
    vf_fit_table_options o = fit_table_options(&a.o, a.valid_fraction, a.no_standardize, a.data, a.valid, &xv, a.log);
    o.checkpoint = a.checkpoint;
    o.box_lo = a.box_lo;
    o.box_hi = a.box_hi;
    o.box_alpha = a.box_alpha;
    int split_ok = nt >= 1 && (!a.valid || xv.shape[1] == d); /* else vf_fit_table reports it */
    if (a.resume && split_ok) {
        fit_resume_want w = {a.resume, a.have_model ? a.model : NULL, a.data, nt, d, !a.no_standardize,
                             a.o.dequantize, a.o.seed, a.o.batch, ranks};
        if ((rc = fit_load_resume("fit", &w, &resumed, &state, &spec)) != 0) goto done;
        a.model = spec;
        rc = 1;
        o.resume = resumed;
        o.resume_state = &state;
    }
    vf_fit_result r;
    if (vf_fit_table(a.model, data, n, d, NULL, 0, valid, nv, NULL, &o, &model, &r) != VF_OK) {
        rc = fit_report_error("fit", a.model, a.checkpoint, a.resume, &r);
        goto done;
    }
    if (resumed) model = resumed, resumed = NULL;
    int interrupted = r.paused == 2; /* Ctrl-C, not --stop-after */
    if (rank == 0 && vf_fitted_save(model, a.output) != VF_OK) {
        cli_write_error("fit", a.output);
        goto done;
    }
    if (a.common.json) {
        printf("{\"train_nll\":%.9g,\"valid_nll\":", r.train_nll);
        if (r.valid_rows > 0) printf("%.9g", r.valid_nll);
        else fputs("null", stdout);
        printf(",\"steps\":%lld,\"epochs\":%lld,\"best_epoch\":%lld,\"stopped_early\":%s,\"paused\":%s,"
               "\"seconds\":%.3f,\"params\":%lld,\"model\":",
               (long long)r.steps, (long long)r.epochs, (long long)r.best_epoch, r.stopped_early ? "true" : "false",
               r.paused ? "true" : "false", r.seconds, (long long)r.params);
        cli_json_string(stdout, a.output);
        fputs("}\n", stdout);
    } else if (!a.common.quiet) {
        printf("fitted %s (%lld parameters) to %lld rows of %s: %lld steps, %lld epochs%s in %.1f s\n", a.model,
               (long long)r.params, (long long)r.train_rows, a.data, (long long)r.steps, (long long)r.epochs,
               r.stopped_early ? " (stopped early)" : !r.paused ? "" : interrupted ? " (interrupted)" : " (paused by --stop-after)",
               r.seconds);
        printf("kept epoch %lld: train NLL %.4f", (long long)r.best_epoch, r.train_nll);
        if (r.valid_rows > 0) printf(", validation NLL %.4f (%lld rows)", r.valid_nll, (long long)r.valid_rows);
        printf(" nats per row\nwrote %s\n", a.output);
        if (r.paused && !interrupted && a.checkpoint) /* rank 0 of several processes holds the checkpoint */
            printf("checkpoint %s: continue with the same command and --resume %s\n", a.checkpoint, a.checkpoint);
    }
    rc = rank == 0 ? cli_interrupt_report("fit", interrupted, a.output, a.checkpoint) : 0;
done:
    vf_fitted_free(model);
    vf_fitted_free(resumed);
    free(data);
    free(valid);
    free(spec);
    vf_fit_state_free(&state);
    vf_tensor_free(&x);
    vf_tensor_free(&xv);
    return rc;
}

const cli_command cli_cmd_fit = {
    "fit",
    "fit a normalizing flow (maximum likelihood) or a continuous flow (flow matching) to data",
    fit_run,
    fit_help,
};
