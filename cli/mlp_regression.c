/* mlp_regression.c — the engine's reference workload (see mlp_regression.h). */
#include <math.h>
#include <string.h>
#include "mlp_regression.h"

vf_status mlp_regression_init(mlp_regression *r, int64_t batch, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    r->batch = batch;
    vf_mlp_params mp = vf_mlp_default_params(MLP_REG_IN, MLP_REG_OUT);
    mp.n_hidden = MLP_REG_LAYERS;
    for (int i = 0; i < MLP_REG_LAYERS; i++) mp.hidden[i] = MLP_REG_HIDDEN;
    mp.act = VF_ACT_SILU;
    vf_adam_params ap = vf_adam_default_params();
    vf_status s = VF_ERR_NOMEM;
    r->params = vf_params_new();
    r->tape = vf_tape_new();
    if (!r->params || !r->tape) goto fail;
    if ((s = vf_mlp_new(r->params, "net", &mp, &r->net)) != VF_OK) goto fail;
    if ((s = vf_params_finalize(r->params, seed)) != VF_OK) goto fail;
    if ((s = vf_adam_new(vf_params_size(r->params), &ap, &r->opt)) != VF_OK) goto fail;
    return VF_OK;
fail:
    mlp_regression_free(r);
    return s;
}

void mlp_regression_free(mlp_regression *r)
{
    vf_adam_free(r->opt);
    vf_mlp_free(r->net);
    vf_params_free(r->params);
    vf_tape_free(r->tape);
    memset(r, 0, sizeof *r);
}

void mlp_regression_target(int64_t n, const vf_real *x, vf_real *y)
{
    for (int64_t i = 0; i < n; i++) {
        double a = x[3 * i], b = x[3 * i + 1], c = x[3 * i + 2];
        y[2 * i] = (vf_real)(sin(1.5 * a) * cos(b) + 0.5 * c);
        y[2 * i + 1] = (vf_real)(tanh(a * b) - 0.3 * c * c + 0.2 * a);
    }
}

void mlp_regression_batch(const mlp_regression *r, vf_rng *rng, vf_real *x, vf_real *y)
{
    vf_real noise[2];
    vf_rng_normal_fill(rng, x, (size_t)(r->batch * MLP_REG_IN), 0.0, 1.0);
    mlp_regression_target(r->batch, x, y);
    for (int64_t i = 0; i < r->batch; i++) {
        vf_rng_normal_fill(rng, noise, 2, 0.0, MLP_REG_NOISE);
        y[2 * i] += noise[0];
        y[2 * i + 1] += noise[1];
    }
}

/* loss = mean((net(x) - y)^2) on a reset tape; returns the loss node. */
static vf_var build_loss(mlp_regression *r, int64_t n, const vf_real *x, const vf_real *y)
{
    vf_tape *t = r->tape;
    vf_tape_reset(t);
    vf_var vx = vf_input(t, x, 2, (int64_t[]){n, MLP_REG_IN});
    vf_var vy = vf_input(t, y, 2, (int64_t[]){n, MLP_REG_OUT});
    vf_var pred = vf_mlp_forward(r->net, r->params, t, vx, VF_NOVAR);
    return vf_mean(t, vf_square(t, vf_sub(t, pred, vy)), VF_ALL_AXES, 0);
}

vf_status mlp_regression_step(mlp_regression *r, const vf_real *x, const vf_real *y, double *loss)
{
    vf_params_zero_grad(r->params);
    vf_var l = build_loss(r, r->batch, x, y);
    vf_status s = vf_backward(r->tape, l);
    if (s != VF_OK) return s; /* the tape left its message in vf_last_error() */
    *loss = (double)vf_value(r->tape, l)->data[0];
    return vf_adam_step(r->opt, vf_params_values(r->params), vf_params_grads(r->params));
}

vf_status mlp_regression_eval(mlp_regression *r, int64_t n, const vf_real *x, const vf_real *y, double *mse)
{
    vf_var l = build_loss(r, n, x, y);
    if (l == VF_NOVAR) return vf_tape_status(r->tape);
    *mse = (double)vf_value(r->tape, l)->data[0];
    return VF_OK;
}

double mlp_regression_flops(int64_t batch)
{
    double macs = (double)MLP_REG_IN * MLP_REG_HIDDEN +
                  (double)(MLP_REG_LAYERS - 1) * MLP_REG_HIDDEN * MLP_REG_HIDDEN +
                  (double)MLP_REG_HIDDEN * MLP_REG_OUT;
    return 6.0 * (double)batch * macs;
}
