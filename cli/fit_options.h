/* fit_options.h — the training options the fitting commands share (fit, continuous-flow fit, reflow)
 * parsed into the library's vf_fit_options (vf_train.h, where the loops live).
 *
 * Usage
 *   vf_fit_options o = vf_fit_default_options();
 *   int t = fit_parse_option("fit", name, value, &o, &have_epochs);   // 1 taken, 0 not ours, -1 printed
 */
#ifndef VF_CLI_FIT_OPTIONS_H
#define VF_CLI_FIT_OPTIONS_H

#include "varflow.h"

/* The training options shared by the fitting commands, option `name` with value v into o:
 * --lr, --weight-decay, --clip (numbers: positive, weight decay non-negative), --epochs, --steps,
 * --batch, --checkpoint-every, --stop-after (whole numbers >= 1), --warmup, --patience (>= 0).
 * Returns 1 when name is one of them (*have_epochs = 1 for --epochs), 0 when it is not, -1 after
 * printing the usage error of command cmd (the caller returns 2). */
int fit_parse_option(const char *cmd, const char *name, const char *v, vf_fit_options *o, int *have_epochs);

/* --box LO,HI (finite, LO < HI) and --box-alpha A (0 <= A < 0.5) into *lo, *hi, *alpha: 1 when name
 * is one of them, 0 when not, -1 after printing the usage error of command cmd. */
int fit_parse_box(const char *cmd, const char *name, const char *v, double *lo, double *hi, double *alpha);

/* A contiguous [n, d] copy of the table x [n, d] (any strides) for vf_fit_table; NULL when out of memory. */
vf_real *fit_table_copy(const vf_tensor *x);

/* vf_fit_table's options for a command's: the loop's fo, the split, --no-standardize, the data and
 * validation file names (xv: the validation table, read when valid is not NULL), --log. */
vf_fit_table_options fit_table_options(const vf_fit_options *fo, double valid_fraction, int no_standardize,
                                       const char *data, const char *valid, const vf_tensor *xv, const char *log);

/* With --dequantize every value of table x (read from path) must be an integer: 0, or the exit code
 * of the error already printed for cmd. */
int fit_check_integers(const char *cmd, const char *path, const vf_tensor *x);

/* Training rows after the validation split vf_fit_table makes of n rows (no split with a --valid
 * file or fraction 0): what a --resume checkpoint must record. */
int64_t fit_train_rows(int have_valid, double valid_fraction, int64_t n);

/* What a --resume checkpoint must share with this run. */
typedef struct fit_resume_want {
    const char *path;           /* --resume FILE */
    const char *model;          /* --model SPEC, NULL when not given (the checkpoint's is used) */
    const char *data;           /* --data FILE (named in messages) */
    int64_t train_rows, dim;    /* fit_train_rows, the data's columns */
    int standardize, dequantize;
    uint64_t seed;
    int64_t batch;
    int processes;              /* MPI processes of this run (1 without mpirun) */
} fit_resume_want;

/* --resume: the model (a flow or a continuous flow, vf_fitted_load) and its training state st (free
 * with vf_fitted_free, vf_fit_state_free), checked against w: one error line naming the mismatch
 * (--model, the dimension, the training rows, --no-standardize, --dequantize, --seed, --batch, the
 * number of MPI processes).
 * *spec: a malloc'd copy of the checkpoint's fit.spec. 0, or the exit code of the error printed. */
int fit_load_resume(const char *cmd, const fit_resume_want *w, vf_fitted **model, vf_fit_state *st, char **spec);

/* Prints the failure of vf_fit_table in the fitting commands' words (a bad --model is a usage error;
 * a divergence names the checkpoint left as it was); returns the exit code. */
int fit_report_error(const char *cmd, const char *model, const char *checkpoint, const char *resume,
                     const vf_fit_result *r);

#endif
