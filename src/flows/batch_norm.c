/* batch_norm.c — batch normalization as a flow transform (Dinh et al. 2017, RealNVP; Papamakarios et
 * al. 2017, MAF):
 *
 *   z = exp(log_gamma) * (x - mu) / sqrt(v + eps) + beta,   log|det| = sum(log_gamma - 0.5 log(v + eps))
 *
 * In training mode (vf_params_training) mu and v are the batch mean and biased variance (computed on
 * the tape, so gradients flow through them; the log-determinant treats them as in the MAF paper, the
 * Jacobian of the map with the statistics held fixed), and every forward call updates the running
 * statistics: running = (1 - momentum) running + momentum batch, with the unbiased variance for
 * running_var (PyTorch's BatchNorm1d convention). In evaluation mode, and always for the inverse, mu
 * and v are the running statistics, so the map is a fixed bijection and the flow a proper density.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "flows/flow_internal.h"
#include "nn/nn_internal.h"
#include "varflow/vf_transforms.h"

typedef struct batch_norm_transform {
    vf_transform base;
    int32_t log_gamma, beta;           /* parameters [d] */
    int32_t running_mean, running_var; /* buffers [d] */
    double eps, momentum;
} batch_norm_transform;

/* Adds the batch statistics mean [d] and biased var [d] of n rows to the running ones. */
static void update_running(const batch_norm_transform *bn, vf_params *p, const vf_real *mean, const vf_real *var,
                           int64_t n)
{
    vf_real *rm = vf_params_buffer_data(p, bn->running_mean), *rv = vf_params_buffer_data(p, bn->running_var);
    const double m = bn->momentum, unbias = (double)n / (double)(n - 1);
    for (int64_t j = 0; j < bn->base.dim; j++) {
        rm[j] = (vf_real)((1.0 - m) * (double)rm[j] + m * (double)mean[j]);
        rv[j] = (vf_real)((1.0 - m) * (double)rv[j] + m * (double)var[j] * unbias);
    }
}

/* The running statistics as tape constants: mean [d] and v + eps [d]. */
static void running(const batch_norm_transform *bn, vf_params *p, vf_tape *t, vf_var *mu, vf_var *veps)
{
    const int64_t d = bn->base.dim;
    const vf_real *rm = vf_params_buffer_data(p, bn->running_mean), *rv = vf_params_buffer_data(p, bn->running_var);
    if (!rm || !rv) {
        *mu = *veps = vf__fail(t, VF_ERR_STATE, "batch_norm: parameter store missing or not finalized");
        return;
    }
    *mu = vf_input(t, rm, 1, &d);
    *veps = vf_add_scalar(t, vf_input(t, rv, 1, &d), bn->eps);
}

static vf_var bn_forward(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx, vf_var *ladj)
{
    (void)ctx;
    const batch_norm_transform *bn = (const batch_norm_transform *)tr;
    const int64_t n = vf__flow_rows(t, x);
    vf_var mu, veps;
    if (vf_params_training(p)) {
        if (n < 2) return vf__fail(t, VF_ERR_ARG, "batch_norm: training mode needs at least 2 rows (got %lld)", (long long)n);
        mu = vf_mean(t, x, 0, 0);
        vf_var xc = vf_sub(t, x, mu);
        vf_var var = vf_mean(t, vf_square(t, xc), 0, 0);
        if (vf_tape_status(t) != VF_OK) return VF_NOVAR;
        if (!vf_params_buffer_data(p, bn->running_mean))
            return vf__fail(t, VF_ERR_STATE, "batch_norm: parameter store missing or not finalized");
        update_running(bn, p, vf_value(t, mu)->data, vf_value(t, var)->data, n);
        veps = vf_add_scalar(t, var, bn->eps);
    } else {
        running(bn, p, t, &mu, &veps);
    }
    vf_var lg = vf_params_var(p, t, bn->log_gamma), b = vf_params_var(p, t, bn->beta);
    vf_var term = vf_sub(t, lg, vf_scale(t, vf_log(t, veps), 0.5));
    *ladj = vf_add(t, vf__flow_zeros(t, n), vf_sum(t, term, VF_ALL_AXES, 0));
    vf_var xhat = vf_div(t, vf_sub(t, x, mu), vf_sqrt(t, veps));
    return vf_add(t, vf_mul(t, xhat, vf_exp(t, lg)), b);
}

static vf_var bn_inverse(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var z, vf_var ctx, vf_var *ladj)
{
    (void)ctx;
    const batch_norm_transform *bn = (const batch_norm_transform *)tr;
    vf_var mu, veps;
    running(bn, p, t, &mu, &veps);
    vf_var lg = vf_params_var(p, t, bn->log_gamma), b = vf_params_var(p, t, bn->beta);
    vf_var term = vf_sub(t, lg, vf_scale(t, vf_log(t, veps), 0.5));
    *ladj = vf_add(t, vf__flow_zeros(t, vf__flow_rows(t, z)), vf_neg(t, vf_sum(t, term, VF_ALL_AXES, 0)));
    vf_var xhat = vf_mul(t, vf_sub(t, z, b), vf_exp(t, vf_neg(t, lg)));
    return vf_add(t, vf_mul(t, xhat, vf_sqrt(t, veps)), mu);
}

static vf_status bn_describe(const vf_transform *tr, char *json, size_t len)
{
    const batch_norm_transform *bn = (const batch_norm_transform *)tr;
    return vf__json_printf(json, len, "{\"kind\":\"batch_norm\",\"dim\":%lld,\"context\":%lld,\"eps\":%.17g,\"momentum\":%.17g}",
                           (long long)tr->dim, (long long)tr->context, bn->eps, bn->momentum);
}

static void bn_destroy(vf_transform *tr) { vf_free(tr); }

static const vf_transform_vtable batch_norm_vt = {"batch_norm", bn_forward, bn_inverse, bn_describe, bn_destroy, NULL};

vf_batch_norm_params vf_batch_norm_default_params(int64_t d)
{
    vf_batch_norm_params kp;
    kp.dim = d;
    kp.context = 0;
    kp.eps = 1e-5;
    kp.momentum = 0.1;
    return kp;
}

vf_status vf_batch_norm_new(vf_params *p, const char *name, const vf_batch_norm_params *kp, vf_transform **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "batch_norm: NULL output");
    *out = NULL;
    if (!p || !kp) return vf__error(VF_ERR_ARG, "batch_norm: NULL parameter store or settings");
    if (kp->dim < 1 || kp->context < 0)
        return vf__error(VF_ERR_ARG, "batch_norm: dimension %lld (>= 1), context %lld (>= 0)", (long long)kp->dim,
                         (long long)kp->context);
    if (!(kp->eps > 0) || !isfinite(kp->eps))
        return vf__error(VF_ERR_ARG, "batch_norm: eps %g must be positive and finite", kp->eps);
    if (!(kp->momentum >= 0 && kp->momentum <= 1))
        return vf__error(VF_ERR_ARG, "batch_norm: momentum %g must be in [0, 1]", kp->momentum);
    batch_norm_transform *bn = vf_calloc(1, sizeof *bn);
    if (!bn) return VF_ERR_NOMEM;
    const int32_t count = vf_params_count(p);
    const int64_t shape[1] = {kp->dim};
    static const char *const what[4] = {"log_gamma", "beta", "running_mean", "running_var"};
    int32_t *ids[4] = {&bn->log_gamma, &bn->beta, &bn->running_mean, &bn->running_var};
    vf_status s = VF_OK;
    for (int k = 0; s == VF_OK && k < 4; k++) { /* parameters first, then buffers (the rollback needs it) */
        char full[VF_PARAM_NAME_MAX];
        s = vf__param_name(full, sizeof full, name, what[k]);
        if (s == VF_OK && k < 2) s = vf_params_add(p, full, 1, shape, vf_init_zeros(), ids[k]);
        else if (s == VF_OK) s = vf_params_add_buffer(p, full, 1, shape, vf_init_constant(k == 2 ? 0.0 : 1.0), ids[k]);
    }
    if (s != VF_OK) {
        vf__params_truncate(p, count);
        vf_free(bn);
        return s;
    }
    bn->base.vt = &batch_norm_vt;
    bn->base.dim = kp->dim;
    bn->base.context = kp->context;
    bn->eps = kp->eps;
    bn->momentum = kp->momentum;
    *out = &bn->base;
    return VF_OK;
}
