/* fit_record.c — what vf_fit_table writes beside the model for both kinds (fit_table.c,
 * fit_table_cnf.c): the run's settings and its training record as metadata, and the log file. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "train/train_internal.h"

void vf__fit_box_string(const vf_fit_table_options *o, char *out, size_t cap)
{
    if (o->box_hi > o->box_lo) snprintf(out, cap, "%.17g,%.17g,%.17g", o->box_lo, o->box_hi, o->box_alpha);
    else if (cap > 0) out[0] = 0;
}

vf_status vf__fit_check_resume_box(const vf_fitted *m, const vf_fit_table_options *o, vf_fit_result *r)
{
    char box[80];
    vf__fit_box_string(o, box, sizeof box);
    const char *was = vf_fitted_meta_get(m, "fit.box");
    if ((was ? was : "")[0] == 0 && !box[0]) return VF_OK;
    if (was && strcmp(was, box) == 0) return VF_OK;
    return vf__fit_fail(r, VF_FIT_STAGE_INPUT, VF_ERR_ARG, "the model to resume was fitted %s, this run has %s",
                        !was ? "without a box" : box[0] ? "with another box" : "with a box", box[0] ? "one" : "none");
}

vf_status vf__fit_settings_meta(vf_fitted *m, const char *spec, const vf_fit_table_options *o, int given_valid)
{
    char seed[32], batch[32], lr[40], valid[4200];
    const char *name = o->data_name ? o->data_name : "array";
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->fit.seed);
    snprintf(batch, sizeof batch, "%lld", (long long)o->fit.batch);
    snprintf(lr, sizeof lr, "%g", o->fit.lr);
    if (given_valid) snprintf(valid, sizeof valid, "%s", o->valid_name ? o->valid_name : "array");
    else snprintf(valid, sizeof valid, "fraction %g of fit.data", o->valid_fraction);
    char box[80], processes[16];
    vf__fit_box_string(o, box, sizeof box);
    snprintf(processes, sizeof processes, "%d", o->fit.ranks > 1 ? o->fit.ranks : 1);
    const char *keys[] = {"fit.spec", "fit.data", "fit.valid", "fit.seed", "fit.batch", "fit.lr", "varflow_version",
                          "fit.standardize", "fit.dequantize", "fit.source", "fit.box", "fit.processes"};
    const char *values[] = {spec, name, valid, seed, batch, lr, vf_version(), o->standardize ? "1" : "0", "1",
                            o->source_name ? o->source_name : "array", box, processes};
    char *own = malloc(strlen(spec) + 1); /* spec may be m's own fit.spec (a resumed model's), freed below */
    if (!own) return vf__error(VF_ERR_NOMEM, "out of memory");
    values[0] = strcpy(own, spec);
    vf__fitted_clear_meta(m);
    vf_status s = VF_OK;
    for (int i = 0; s == VF_OK && i < (int)(sizeof keys / sizeof keys[0]); i++) {
        if ((i == 8 && !o->fit.dequantize) || (i == 9 && !o->source) || (i == 10 && !box[0]) ||
            (i == 11 && o->fit.ranks <= 1))
            continue;
        s = vf_fitted_set_meta(m, keys[i], values[i]);
    }
    free(own);
    return s;
}

vf_status vf__fit_result_meta(vf_fitted *m, const vf_fit_result *r, int losses)
{
    char epochs[32], steps[32], tn[40], vn[40], tl[40], vl[40];
    snprintf(epochs, sizeof epochs, "%lld", (long long)r->epochs);
    snprintf(steps, sizeof steps, "%lld", (long long)r->steps);
    snprintf(tn, sizeof tn, isfinite(r->train_nll) ? "%.9g" : "null", r->train_nll);
    snprintf(vn, sizeof vn, isfinite(r->valid_nll) ? "%.9g" : "null", r->valid_nll);
    snprintf(tl, sizeof tl, isfinite(r->train_loss) ? "%.9g" : "null", r->train_loss);
    snprintf(vl, sizeof vl, isfinite(r->valid_loss) ? "%.9g" : "null", r->valid_loss);
    const char *keys[] = {"fit.epochs", "fit.steps", "fit.train_nll", "fit.valid_nll", "fit.train_loss", "fit.valid_loss"};
    const char *values[] = {epochs, steps, tn, vn, tl, vl};
    vf_status s = VF_OK;
    for (int i = 0; s == VF_OK && i < (losses ? 6 : 4); i++) s = vf_fitted_set_meta(m, keys[i], values[i]);
    return s;
}

/* The "step" value of the line [line, end), or -1 when it has none. */
static long long line_step(const char *line, const char *end)
{
    for (const char *q = line; q + 7 <= end; q++)
        if (memcmp(q, "\"step\":", 7) == 0) {
            char *after = NULL;
            long long step = strtoll(q + 7, &after, 10);
            return after > q + 7 && after <= end && step >= 0 ? step : -1;
        }
    return -1;
}

/* What a run resumed at last_step keeps of the log text[0..n): the lines before the first whole line
 * (ending in a newline) whose "step" is above last_step, or before a last line cut short by a crash;
 * all n bytes when a whole line has no "step" (not a training log: nothing is cut). */
static size_t log_prefix_through(const char *text, size_t n, int64_t last_step)
{
    size_t kept = 0, cut = n;
    int over = 0;
    while (kept < n) {
        const char *line = text + kept, *end = memchr(line, '\n', n - kept);
        if (!end) { /* a line cut short */
            if (!over) cut = kept;
            break;
        }
        long long step = line_step(line, end);
        if (step < 0) return n;
        if (!over && step > last_step) over = 1, cut = kept;
        kept = (size_t)(end - text) + 1;
    }
    return cut;
}

vf_status vf__open_training_log(const char *path, int64_t resume_step, FILE **log)
{
    *log = NULL;
    if (!path) return VF_OK;
    struct stat st;
    FILE *f = resume_step >= 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode) ? fopen(path, "rb") : NULL;
    if (f) { /* the log of the run being resumed (small: a line per epoch or per --log-every steps) */
        long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
        char *text = n >= 0 ? vf_malloc((size_t)n + 1) : NULL;
        int read_ok = text && fseek(f, 0, SEEK_SET) == 0 && fread(text, 1, (size_t)n, f) == (size_t)n;
        fclose(f);
        if (!read_ok) {
            vf_free(text);
            return n >= 0 && !text ? vf__error(VF_ERR_NOMEM, "out of memory reading %s", path)
                                   : vf__error(VF_ERR_IO, "cannot read %s", path);
        }
        size_t kept = log_prefix_through(text, (size_t)n, resume_step);
        vf_free(text);
        /* cut in place (a prefix: nothing is rewritten, a link stays a link) */
        if (kept < (size_t)n && truncate(path, (off_t)kept) != 0)
            return vf__error(VF_ERR_IO, "cannot cut %s back to the checkpoint's lines: %s", path, strerror(errno));
    }
    if (!(*log = fopen(path, resume_step >= 0 ? "a" : "w"))) return vf__error(VF_ERR_IO, "cannot write %s", path);
    return VF_OK;
}

vf_status vf__fit_open_log(const vf_fit_table_options *o, FILE **log, vf_fit_result *r)
{
    vf_status s = vf__open_training_log(o->log_path, o->resume && o->resume_state ? o->resume_state->step : -1, log);
    return s == VF_OK ? s : vf__fit_fail(r, VF_FIT_STAGE_LOG, s, "%s", vf_last_error());
}

vf_status vf__fit_close_log(const vf_fit_table_options *o, FILE *log, vf_fit_result *r)
{
    if (!log) return VF_OK;
    int bad = ferror(log);
    bad |= fclose(log) != 0;
    return bad ? vf__fit_fail(r, VF_FIT_STAGE_LOG, VF_ERR_IO, "cannot write %s", o->log_path) : VF_OK;
}
