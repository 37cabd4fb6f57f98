/* main.c — the `varflow` program: top-level help and version, then dispatch to a subcommand.
 *
 *   varflow <command> [options]          varflow --help | --version | <command> --help
 *
 * Exit codes: 0 success, 1 runtime error, 2 usage error, 130 a fit or vi run ended by Ctrl-C
 * (cli_interrupt.c); every error is one line on stderr.
 */
#include <string.h>
#include "cli.h"

static const cli_command *const commands[] = {
    &cli_cmd_data,
    &cli_cmd_bench,
    &cli_cmd_demo,
    &cli_cmd_info,
    &cli_cmd_fit,
    &cli_cmd_logprob,
    &cli_cmd_sample,
    &cli_cmd_eval,
    &cli_cmd_particles,
    &cli_cmd_reflow,
    &cli_cmd_vi,
    &cli_cmd_plot,
    &cli_cmd_mcmc,
    NULL,
};

static void print_help(FILE *out)
{
    fprintf(out,
            "varflow %s: normalizing flows, flow matching and variational inference\n"
            "\n"
            "Usage: varflow <command> [options]\n"
            "       varflow --help | --version | <command> --help\n"
            "\n"
            "Commands:\n",
            vf_version());
    for (int i = 0; commands[i]; i++) fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    cli_print_common_help(out);
    fputs("\n"
          "Exit codes: 0 success, 1 runtime error (bad file, ...), 2 usage error, 130 fit or vi interrupted by\n"
          "Ctrl-C (the model so far is written; see docs/cli.md).\n"
          "Errors are one line on stderr. `varflow <command> --help` describes each command.\n",
          out);
}

static const cli_command *find_command(const char *name)
{
    for (int i = 0; commands[i]; i++)
        if (strcmp(commands[i]->name, name) == 0) return commands[i];
    return NULL;
}

static int is_help(const char *arg) { return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0; }

static int run_program(int argc, char **argv);

int main(int argc, char **argv)
{
    cli_mark_start();
    cli_interrupt_install();
    int rc = cli_mpi_start(&argc, &argv); /* `fit` under mpirun: cli_mpi.c */
    if (rc == 0) rc = run_program(argc, argv);
    cli_mpi_finish(rc);
    return rc;
}

static int run_program(int argc, char **argv)
{
    if (argc < 2) return cli_usage_error(NULL, "missing command");
    const char *first = argv[1];
    if (is_help(first)) {
        if (argc > 2) return cli_usage_error(NULL, "--help takes no arguments");
        print_help(stdout);
        return 0;
    }
    if (strcmp(first, "--version") == 0) {
        if (argc > 2) return cli_usage_error(NULL, "--version takes no arguments");
        printf("varflow %s\n", vf_version());
        return 0;
    }
    if (strcmp(first, "help") == 0) {
        if (argc == 2) {
            print_help(stdout);
            return 0;
        }
        const cli_command *c = find_command(argv[2]);
        if (!c || argc > 3) return cli_usage_error(NULL, "help: unknown command '%s'", argv[2]);
        c->help(stdout);
        return 0;
    }
    if (first[0] == '-') return cli_usage_error(NULL, "unknown option '%s'", first);

    const cli_command *cmd = find_command(first);
    if (!cmd) return cli_usage_error(NULL, "unknown command '%s'", first);
    for (int i = 2; i < argc; i++)
        if (is_help(argv[i])) {
            cmd->help(stdout);
            return 0;
        }
    int rc = cli_check_outputs(cmd->name, argc - 1, argv + 1);
    if (rc) return rc;
    fflush(stdout);
    rc = cmd->run(argc - 1, argv + 1);
    if (fflush(stdout) != 0 && rc == 0) return cli_runtime_error(cmd->name, "cannot write to stdout");
    return rc;
}
