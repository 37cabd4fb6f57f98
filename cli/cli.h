/* cli.h — what the subcommands of the `varflow` program share. The CLI is the only code that prints
 * or exits; each subcommand is one file cmd_<name>.c exporting a cli_command.
 *
 * Exit codes: 0 success, 1 runtime error (bad file, divergence, ...), 2 usage error.
 * Errors are one line on stderr: "varflow <command>: <what was wrong>".
 */
#ifndef VF_CLI_H
#define VF_CLI_H

#include <stdint.h>
#include <stdio.h>
#include "varflow.h"

typedef struct cli_command {
    const char *name;
    const char *summary;                    /* one line for `varflow --help` */
    int (*run)(int argc, char **argv);      /* argv[0] is the command name; returns the exit code */
    void (*help)(FILE *out);                /* full `varflow <name> --help` text */
} cli_command;

extern const cli_command cli_cmd_data;
extern const cli_command cli_cmd_eval;
extern const cli_command cli_cmd_bench;
extern const cli_command cli_cmd_demo;
extern const cli_command cli_cmd_info;
extern const cli_command cli_cmd_fit;
extern const cli_command cli_cmd_logprob;
extern const cli_command cli_cmd_sample;
extern const cli_command cli_cmd_particles;
extern const cli_command cli_cmd_reflow;
extern const cli_command cli_cmd_vi;
extern const cli_command cli_cmd_plot;
extern const cli_command cli_cmd_mcmc;

/* Options every command accepts (docs/cli.md). */
typedef struct cli_common {
    uint64_t seed;      /* --seed S (default 0) */
    int have_seed;
    int threads;        /* --threads T (0 = default) */
    int json;           /* --json: one JSON object (or JSON lines for bench) on stdout, nothing else */
    int quiet;          /* --quiet */
} cli_common;

/* Print "varflow <cmd>: <message>" and "(see varflow <cmd> --help)" on stderr; return 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...);
/* Print "varflow <cmd>: <message>" on stderr; return 1. */
int cli_runtime_error(const char *cmd, const char *fmt, ...);
/* Parse a whole string as a number; 0 on success, -1 (nothing printed) when malformed/out of range. */
int cli_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_double(const char *s, double *out);
/* If argv[*i] is a common option, consume it (and its value) into c and return 1; on a malformed value
 * print the usage error and return -1 (the caller returns 2); otherwise return 0. */
int cli_common_option(const char *cmd, int argc, char **argv, int *i, cli_common *c);
/* The value of option argv[*i] (advancing *i), or NULL after printing a usage error. */
const char *cli_option_value(const char *cmd, int argc, char **argv, int *i);
/* 1 when stderr is a terminal and progress lines should be shown. */
int cli_show_progress(const cli_common *c);

/* 1 when arg is option `name` itself ("--seed") or "name=value" ("--seed=3"). */
int cli_is_option(const char *arg, const char *name);
/* The option that arg names among the NULL-terminated `valued` names ("--lr" or "--lr=..."; a
 * one-dash name such as "-n" only exactly), "-o" standing for "--output"; NULL when none. */
const char *cli_valued_option(const char *arg, const char *const *valued);
/* argv[*i] as one of the `valued` options (cli_valued_option) with its value (advancing *i):
 * *name and *value set, 0; or a usage error of cmd printed ("unknown option", "unexpected
 * argument", a missing value) and 2. */
int cli_take_valued(const char *cmd, int argc, char **argv, int *i, const char *const *valued, const char **name,
                    const char **value);
/* 1 when arg looks like an option ("-x", "--xyz"); "-" alone and negative numbers are not options. */
int cli_looks_like_option(const char *arg);
/* Help text of the common options, one per line, indented like the commands' own option lists. */
void cli_print_common_help(FILE *out);
/* Write s as a JSON string literal (with quotes and escapes). */
void cli_json_string(FILE *out, const char *s);
/* Extension of path after the last '.' of its last component, without the dot ("" if none). */
const char *cli_extension(const char *path);

/* A command's file options: `name` ("--model"; "-o" also answers to "--output") and where its value
 * goes. cli_file_option consumes argv[*i] and its value when it is one of them (a NULL-name-terminated
 * table): 1 when consumed, 0 when argv[*i] is none of them, -1 after printing a usage error (missing or
 * empty value; the caller returns 2). */
typedef struct cli_file_opt {
    const char *name;
    const char **value;
} cli_file_opt;
int cli_file_option(const char *cmd, int argc, char **argv, int *i, const cli_file_opt *opts);
/* 0 when path ends in .csv or .npy; otherwise prints the usage error, naming option ("-o",
 * "--samples", ...), and returns 2. */
int cli_check_table_name(const char *cmd, const char *option, const char *path);

/* Commands on a target (vi, mcmc; cli_target.c): the "Targets:" section of their help (the built-ins
 * with their keys, and plugins); vf_target_from_spec with the command's error (0, or the exit code
 * after printing: 2 for a bad spec, 1 for a plugin that cannot be loaded), a shard of it on the
 * processes of an MPI run (cli_mpi.c; cli_target_share for a target opened otherwise), closed by
 * cli_target_close; and one JSON number
 * ("key":value with %.9g, or null when not finite; preceded by a comma when comma is 1) on stdout. */
void cli_print_targets(FILE *out);
int cli_target_open(const char *cmd, const char *spec, vf_target *t);
int cli_target_share(const char *cmd, const char *spec, vf_target *t);
void cli_target_close(vf_target *t);
void cli_json_num(const char *key, double v, int comma);

/* Mean, standard error of the mean (NaN for fewer than two rows), minimum and maximum of a command's n
 * log-densities (Welford, in double; a row of -inf makes the mean -inf without a standard error), and the two ways to print them: the first members of a JSON
 * object, "mean_log_prob", "stderr" (null without one), "min", "max" (%.17g, null when not finite),
 * or the text lines of `logprob`. */
typedef struct cli_lp_summary {
    double mean, se, lo, hi;
    int64_t rows, outside; /* outside: rows of log-density -inf (outside a bounded model's support) */
} cli_lp_summary;
/* Usage error (2) when a file the command writes (-o, --log, --checkpoint, --samples, --log-prob,
 * --trajectory: per command) is another argument: a second output of the same path, or an existing file
 * the command reads (a data file, a model; --resume excepted: continuing over one's checkpoint is
 * normal). Runtime error (1) when an output cannot be written: it is a folder, or its folder is missing
 * or takes no new file (tried with a probe file), so that no command does its work only to lose it.
 * 0 otherwise. argv[0] is the command's name. */
int cli_check_outputs(const char *cmd, int argc, char **argv);
/* The runtime error (1) of a failed write of path: the library's message, prefixed with "cannot write
 * PATH: " unless it names the file already. */
int cli_write_error(const char *cmd, const char *path);
/* main calls cli_mark_start first. cli_checkpoint_note writes the end of a divergence message into buf
 * [len]: that the last good checkpoint (modified since the start, or the one the run resumed from:
 * `resumed`, or NULL) is unchanged, or that this run wrote none; "" without a checkpoint. */
void cli_mark_start(void);
const char *cli_checkpoint_note(const char *checkpoint, const char *resumed, char *buf, size_t len);

cli_lp_summary cli_lp_summarize(const vf_real *lp, int64_t n);
void cli_lp_print_json(const cli_lp_summary *s);
void cli_lp_print_text(const cli_lp_summary *s);

/* MPI (cli_mpi.c): cli_mpi_start initializes MPI when an MPI launcher started `fit`, `vi`, `mcmc`,
 * `particles` or `eval` (cli_mpi_command; a no-op otherwise or without an MPI build) and shares the
 * run when every process got the same arguments; it returns 0 or the exit code of its error.
 * cli_mpi_finish(rc) ends MPI, aborting every process of a shared run when rc is not 0. rank and
 * size are 0 and 1 when the run is not shared. cli_mpi_reduce is a vf_fit_reduce_fn over all
 * processes (the same sums on every one), cli_mpi_sum the vf_target_sum_fn of a shared target
 * (cli_target_open). */
/* Signals (cli_interrupt.c): main installs the handlers; fit and vi pass cli_interrupt_graceful() as
 * their options' interrupt flag (NULL on several MPI processes), so that the first Ctrl-C ends the run
 * after the current epoch or step with the model so far (the result's paused = 2); their progress
 * callbacks call cli_interrupt_training_done at the loop's final report. cli_interrupt_report, after
 * the model is written: when the flag ended the run (interrupted_run), one line on stderr naming the
 * output and how to go on (the checkpoint, or NULL), and CLI_EXIT_INTERRUPTED; otherwise 0. */
#define CLI_EXIT_INTERRUPTED 130
void cli_interrupt_install(void);
const volatile sig_atomic_t *cli_interrupt_graceful(void);
void cli_interrupt_training_done(void);
int cli_interrupt_report(const char *cmd, int interrupted_run, const char *output, const char *checkpoint);

int cli_mpi_command(const char *cmd);
int cli_mpi_start(int *argc, char ***argv);
void cli_mpi_finish(int rc);
int cli_mpi_rank(void);
int cli_mpi_size(void);
vf_status cli_mpi_reduce(void *ctx, void *values, int64_t n, int is_double);
vf_status cli_mpi_sum(void *ctx, double *values, int64_t n);
/* A fit's options on several processes: every process takes its share of each batch (o's rank, ranks,
 * reduce); ranks other than 0 report no progress and write no log or checkpoint (*log and
 * *checkpoint set to NULL). Returns this process's rank (0 on one process, where nothing changes). */
int cli_mpi_share_fit(vf_fit_options *o, const char **log, const char **checkpoint);

#endif
