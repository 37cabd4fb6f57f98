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

/* A contiguous [n, d] copy of the table x [n, d] (any strides) for vf_fit_table; NULL when out of memory. */
vf_real *fit_table_copy(const vf_tensor *x);

/* vf_fit_table's options for a command's: the loop's fo, the split, --no-standardize, the data and
 * validation file names (xv: the validation table, read when valid is not NULL), --log. */
vf_fit_table_options fit_table_options(const vf_fit_options *fo, double valid_fraction, int no_standardize,
                                       const char *data, const char *valid, const vf_tensor *xv, const char *log);

#endif
