/* cli_target.c — what the commands on a target (vi, mcmc) share: the targets' help section, opening
 * --target with the command's error, and JSON numbers. */
#include <math.h>
#include "cli.h"

void cli_print_targets(FILE *out)
{
    fprintf(out, "\nTargets:\n");
    for (const char *const *p = vf_target_names(); *p; p++) fprintf(out, "  %-13s %s\n", *p, vf_target_defaults(*p));
    fprintf(out, "  %-13s a shared library with the varflow_target_* ABI (docs/particles.md)\n", "plugin:PATH[:ARG]");
}

int cli_target_open(const char *cmd, const char *spec, vf_target *t)
{
    vf_status s = vf_target_from_spec(spec, t);
    if (s == VF_ERR_ARG) return cli_usage_error(cmd, "--target %s: %s", spec, vf_last_error());
    if (s != VF_OK) return cli_runtime_error(cmd, "--target %s: %s", spec, vf_last_error());
    return 0;
}

void cli_json_num(const char *key, double v, int comma)
{
    printf("%s\"%s\":", comma ? "," : "", key);
    if (isfinite(v)) printf("%.9g", v);
    else fputs("null", stdout);
}
