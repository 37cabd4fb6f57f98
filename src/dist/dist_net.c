/* dist_net.c — the context network settings every learnable base distribution shares. */
#include <stdio.h>
#include "dist/dist_internal.h"

vf_status vf__dist_net_check(const char *what, const vf_dist_net_params *np)
{
    if (np->n_hidden < 0 || np->n_hidden > VF_NN_MAX_HIDDEN)
        return vf__error(VF_ERR_ARG, "%s: %d hidden layers (0..%d)", what, np->n_hidden, VF_NN_MAX_HIDDEN);
    for (int i = 0; i < np->n_hidden; i++)
        if (np->hidden[i] < 1)
            return vf__error(VF_ERR_ARG, "%s: hidden layer %d has width %lld (>= 1)", what, i, (long long)np->hidden[i]);
    if ((int)np->act < 0 || np->act >= VF_ACT_COUNT) return vf__error(VF_ERR_ARG, "%s: unknown activation %d", what, (int)np->act);
    return VF_OK;
}

vf_status vf__dist_net_json(const vf_dist_net_params *np, char *buf, size_t len)
{
    char hid[VF_NN_MAX_HIDDEN * 24 + 4];
    size_t k = 0;
    hid[k++] = '[';
    for (int i = 0; i < np->n_hidden; i++)
        k += (size_t)snprintf(hid + k, sizeof hid - k, "%s%lld", i ? "," : "", (long long)np->hidden[i]);
    hid[k++] = ']';
    hid[k] = '\0';
    return vf__json_printf(buf, len, "{\"n_hidden\":%d,\"hidden\":%s,\"act\":\"%s\"}", np->n_hidden, hid,
                           vf_activation_name(np->act));
}
