/* nn_util.c — parameter names and argument checks shared by the layers. */
#include <stdio.h>
#include <string.h>
#include "nn/nn_internal.h"

vf_status vf__nn_name(char *buf, const char *prefix, const char *suffix)
{
    int len = (prefix && prefix[0]) ? snprintf(buf, VF_PARAM_NAME_MAX, "%s.%s", prefix, suffix)
                                    : snprintf(buf, VF_PARAM_NAME_MAX, "%s", suffix);
    if (len < 0 || len >= VF_PARAM_NAME_MAX)
        return vf__error(VF_ERR_ARG, "nn: parameter name '%s.%s' is longer than %d characters",
                         prefix ? prefix : "", suffix, VF_PARAM_NAME_MAX - 1);
    return VF_OK;
}

int vf__nn_check_2d(vf_tape *t, const char *what, vf_var v, int64_t cols, int64_t *rows)
{
    if (!vf__ok(t, what, 1, &v)) return 0;
    const vf_tensor *x = vf_value(t, v);
    if (x->ndim != 2 || x->shape[1] != cols) {
        char s[64];
        vf_tensor_shape_str(x, s, sizeof s);
        vf__fail(t, VF_ERR_SHAPE, "%s: input has shape %s, expected [n, %lld]", what, s, (long long)cols);
        return 0;
    }
    if (rows) *rows = x->shape[0];
    return 1;
}

int vf__nn_check_context(vf_tape *t, const char *what, vf_var context, int64_t c, int64_t n)
{
    if (c == 0) {
        if (context == VF_NOVAR) return 1;
        vf__fail(t, VF_ERR_ARG, "%s: a context was given to a network built without one", what);
        return 0;
    }
    if (context == VF_NOVAR) {
        vf__fail(t, VF_ERR_ARG, "%s: this network needs a context", what);
        return 0;
    }
    char label[64];
    int64_t nc = 0;
    snprintf(label, sizeof label, "%s context", what);
    if (!vf__nn_check_2d(t, label, context, c, &nc)) return 0;
    if (nc != n) {
        vf__fail(t, VF_ERR_SHAPE, "%s: %lld inputs but %lld contexts", what, (long long)n, (long long)nc);
        return 0;
    }
    return 1;
}
