/* cnf_commands.h — `varflow sample` and `varflow logprob` on continuous-flow model files
 * (cnf_commands.c), entered from cmd_sample.c and cmd_logprob.c when --model is such a file. */
#ifndef VF_CLI_CNF_COMMANDS_H
#define VF_CLI_CNF_COMMANDS_H

#include <stdio.h>

/* The value of --model in argv, or NULL. */
const char *cnf_model_option(int argc, char **argv);
/* 1 when arg is an option of `cmd` ("sample" or "logprob") that only continuous flows take (--solver,
 * --steps, --log-prob, ...): a normalizing flow's command names it as such instead of "unknown". */
int cnf_only_option(const char *cmd, const char *arg);
int cnf_sample_run(int argc, char **argv);
int cnf_logprob_run(int argc, char **argv);
/* The continuous-flow parts of the commands' --help. */
void cnf_sample_help(FILE *out);
void cnf_logprob_help(FILE *out);

#endif
