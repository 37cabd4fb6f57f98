/* fitted_eval.c — a fitted model from a file, and its log-densities and samples on plain arrays,
 * whichever its kind (vf_train.h). */
#include <string.h>
#include "train/train_internal.h"

vf_status vf_fitted_load(const char *path, vf_fitted **out)
{
    if (!out || !path) return vf__error(VF_ERR_ARG, "vf_fitted_load: NULL path or output");
    *out = NULL;
    int cnf = vf_cnf_model_file_is_cnf(path);
    vf_fitted *m = vf__fitted_new(cnf ? VF_FITTED_CNF : VF_FITTED_FLOW);
    if (!m) return VF_ERR_NOMEM;
    vf_status s = cnf ? vf_cnf_model_load(path, &m->cnf, &m->meta) : vf_flow_load(path, &m->params, &m->flow, &m->meta);
    if (s != VF_OK) {
        vf_fitted_free(m);
        return s;
    }
    m->cap = m->meta.n;
    *out = m;
    return VF_OK;
}

vf_status vf_fitted_log_prob(const vf_fitted *m, int64_t n, const vf_real *x, const vf_real *context,
                             const int64_t *labels, vf_real *out)
{
    if (!m || !x || !out || n < 0) return vf__error(VF_ERR_ARG, "vf_fitted_log_prob: NULL argument or n < 0");
    if (m->cnf) {
        vf_cnf_sample_options so = vf_cnf_sample_default_options();
        return vf_cnf_model_log_prob(m->cnf, n, x, labels, &so, out, NULL);
    }
    return vf_flow_log_prob_rows(m->flow, m->params, NULL, n, x, context, context ? n : 0, out);
}

vf_status vf_fitted_sample(const vf_fitted *m, int64_t n, const vf_real *context, const int64_t *labels, uint64_t seed,
                           vf_real *out)
{
    if (!m || !out || n < 0) return vf__error(VF_ERR_ARG, "vf_fitted_sample: NULL argument or n < 0");
    vf_rng r;
    vf_rng_init(&r, seed, 0);
    if (m->cnf) {
        vf_cnf_sample_options so = vf_cnf_sample_default_options();
        return vf_cnf_model_sample(m->cnf, n, NULL, labels, &r, &so, out, NULL, NULL);
    }
    return vf_flow_sample_rows(m->flow, m->params, NULL, n, context, context ? n : 0, &r, out, NULL);
}
