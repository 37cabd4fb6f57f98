/* cli_target.c — what the commands on a target (vi, mcmc, particles, eval) share: the targets' help section, opening
 * --target with the command's error (shared among the processes of an MPI run: cli_mpi.c), and JSON
 * numbers. */
#include <math.h>
#include <string.h>
#include "cli.h"

void cli_print_targets(FILE *out)
{
    fprintf(out, "\nTargets:\n");
    for (const char *const *p = vf_target_names(); *p; p++) fprintf(out, "  %-13s %s\n", *p, vf_target_defaults(*p));
    fprintf(out, "  %-13s a shared library with the varflow_target_* ABI (docs/plugins.md)\n", "plugin:PATH[:ARG]");
}

/* On several MPI processes the command's target is a shard of this one (one target per command). */
static vf_target shared_inner;

int cli_target_share(const char *cmd, const char *spec, vf_target *t)
{
    if (cli_mpi_size() < 2) return 0;
    shared_inner = *t;
    memset(t, 0, sizeof *t);
    if (vf_target_shard(&shared_inner, cli_mpi_rank(), cli_mpi_size(), cli_mpi_sum, NULL, t) != VF_OK) {
        vf_target_free(&shared_inner);
        return cli_runtime_error(cmd, "--target %s: %s", spec, vf_last_error());
    }
    return 0;
}

int cli_target_open(const char *cmd, const char *spec, vf_target *t)
{
    vf_status s = vf_target_from_spec(spec, t);
    if (s == VF_ERR_ARG) return cli_usage_error(cmd, "--target %s: %s", spec, vf_last_error());
    if (s != VF_OK) return cli_runtime_error(cmd, "--target %s: %s", spec, vf_last_error());
    return cli_target_share(cmd, spec, t);
}

void cli_target_close(vf_target *t)
{
    vf_target_free(t);
    vf_target_free(&shared_inner); /* zeroed (nothing to free) when not shared */
}

void cli_json_num(const char *key, double v, int comma)
{
    printf("%s\"%s\":", comma ? "," : "", key);
    if (isfinite(v)) printf("%.9g", v);
    else fputs("null", stdout);
}
