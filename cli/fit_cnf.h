/* fit_cnf.h — `varflow fit` for continuous flows (fit_cnf.c), entered from cmd_fit.c when --model
 * names a continuous-flow objective. */
#ifndef VF_CLI_FIT_CNF_H
#define VF_CLI_FIT_CNF_H

#include <stdint.h>
#include <stdio.h>

/* The continuous-flow part of `varflow fit --help`. */
void fit_cnf_help(FILE *out);
/* `varflow fit` with such a --model; returns the exit code. */
int fit_cnf_run(int argc, char **argv);
/* A labels file (one whole number >= 0 per row) of n rows (n < 0: any) into *out [rows] (malloc'd);
 * 0, or the exit code of the error already printed for `cmd`. */
int cli_read_labels(const char *cmd, const char *path, int64_t n, int64_t **out);

#endif
