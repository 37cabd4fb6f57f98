/* plot_cli.h — what the parts of `varflow plot` share: the parsed options and one function per
 * kind of picture (cmd_plot.c parses and dispatches; plot_density.c, plot_data.c, plot_curves.c
 * draw through the library's vf_plot.h). Each function returns the exit code after printing any
 * error. */
#ifndef VF_PLOT_CLI_H
#define VF_PLOT_CLI_H

#include "cli.h"

typedef struct plot_args {
    const char *kind;                                        /* density | corner | curves | images */
    cli_common common;
    const char *out, *model, *data, *compare, *log, *labels; /* files */
    const char *keys, *xkey, *shape, *range, *columns, *title, *xlabel, *ylabel, *legend;
    int64_t samples, grid, bins, rows, cols, start, points, scale; /* -1: not given */
    int log_density, log_y;                                  /* --log-density, --log-y */
} plot_args;

int plot_density(const plot_args *a);
int plot_corner(const plot_args *a);
int plot_curves(const plot_args *a);
int plot_images(const plot_args *a);

/* The numbers of a comma-separated list s into v [max]: their count, or -1 when malformed or too
 * many. */
int plot_parse_list(const char *s, double *v, int max);
/* Prints "varflow plot: <library message>" and returns 1 (2 for VF_ERR_ARG, a request that cannot
 * be drawn). */
int plot_library_error(vf_status s);
/* Reads a data table into x [n, d]; prints the error and returns 1 on failure. */
int plot_read_table(const char *path, vf_tensor *x);

#endif
