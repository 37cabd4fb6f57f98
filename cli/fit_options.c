/* fit_options.c — fit_parse_option (fit_options.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "fit_options.h"

int fit_parse_option(const char *cmd, const char *name, const char *v, vf_fit_options *o, int *have_epochs)
{
    static const char *const reals[] = {"--lr", "--weight-decay", "--clip", NULL};
    static const char *const counts[] = {"--epochs", "--steps", "--batch", "--checkpoint-every", "--stop-after",
                                         "--warmup", "--patience", NULL};
    for (int k = 0; reals[k]; k++) {
        if (strcmp(name, reals[k]) != 0) continue;
        int wd = k == 1;
        double dv;
        if (cli_parse_double(v, &dv) || !isfinite(dv) || dv < 0.0 || (!wd && dv == 0.0)) {
            cli_usage_error(cmd, "%s: '%s' is not a %s number", name, v, wd ? "non-negative" : "positive");
            return -1;
        }
        if (k == 0) o->lr = dv;
        else if (k == 1) o->weight_decay = dv;
        else o->clip = dv;
        return 1;
    }
    for (int k = 0; counts[k]; k++) {
        if (strcmp(name, counts[k]) != 0) continue;
        int64_t lo = k >= 5 ? 0 : 1, iv;
        if (cli_parse_i64(v, lo, INT64_C(1) << 40, &iv)) {
            cli_usage_error(cmd, "%s: '%s' is not a whole number >= %lld", name, v, (long long)lo);
            return -1;
        }
        int64_t *dst[] = {&o->epochs, &o->steps, &o->batch, &o->checkpoint_every, &o->stop_after, &o->warmup,
                          &o->patience};
        *dst[k] = iv;
        if (k == 0 && have_epochs) *have_epochs = 1;
        return 1;
    }
    return 0;
}

vf_real *fit_table_copy(const vf_tensor *x)
{
    int64_t n = x->shape[0], d = x->shape[1];
    vf_real *out = malloc(sizeof(vf_real) * (size_t)(n * d > 0 ? n * d : 1));
    if (!out) return NULL;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) out[i * d + j] = x->data[i * x->stride[0] + j * x->stride[1]];
    return out;
}

vf_fit_table_options fit_table_options(const vf_fit_options *fo, double valid_fraction, int no_standardize,
                                       const char *data, const char *valid, const vf_tensor *xv, const char *log)
{
    vf_fit_table_options o = vf_fit_table_default_options();
    o.fit = *fo;
    o.valid_fraction = valid_fraction;
    o.standardize = !no_standardize;
    o.valid_dim = valid ? xv->shape[1] : 0;
    o.data_name = data;
    o.valid_name = valid;
    o.log_path = log;
    return o;
}
