/* init.c — tensor initializers: PyTorch's Linear default, Xavier/Glorot uniform, normal, uniform,
 * constant, zeros. Each draws from the generator it is given, so a seeded store is reproducible. */
#include <math.h>
#include "nn/nn_internal.h"

vf_init vf_init_torch(int64_t fan_in)
{
    vf_init i = {VF_INIT_TORCH, 0.0, 0.0, fan_in, 0};
    return i;
}

vf_init vf_init_xavier_uniform(int64_t fan_in, int64_t fan_out, double gain)
{
    vf_init i = {VF_INIT_XAVIER_UNIFORM, gain, 0.0, fan_in, fan_out};
    return i;
}

vf_init vf_init_normal(double mean, double std)
{
    vf_init i = {VF_INIT_NORMAL, mean, std, 0, 0};
    return i;
}

vf_init vf_init_uniform(double lo, double hi)
{
    vf_init i = {VF_INIT_UNIFORM, lo, hi, 0, 0};
    return i;
}

vf_init vf_init_constant(double value)
{
    vf_init i = {VF_INIT_CONSTANT, value, 0.0, 0, 0};
    return i;
}

vf_init vf_init_zeros(void)
{
    vf_init i = {VF_INIT_ZEROS, 0.0, 0.0, 0, 0};
    return i;
}

/* Checks a spec without drawing anything. */
static vf_status check(const vf_init *in)
{
    switch (in->kind) {
    case VF_INIT_TORCH:
        if (in->fan_in < 1) return vf__error(VF_ERR_ARG, "init: torch initializer needs fan_in >= 1");
        return VF_OK;
    case VF_INIT_XAVIER_UNIFORM:
        if (in->fan_in < 1 || in->fan_out < 1 || !isfinite(in->a) || in->a < 0)
            return vf__error(VF_ERR_ARG, "init: xavier initializer needs fan_in, fan_out >= 1 and gain >= 0");
        return VF_OK;
    case VF_INIT_NORMAL:
        if (!isfinite(in->a) || !isfinite(in->b) || in->b < 0)
            return vf__error(VF_ERR_ARG, "init: normal initializer needs a finite mean and std >= 0");
        return VF_OK;
    case VF_INIT_UNIFORM:
        if (!isfinite(in->a) || !isfinite(in->b) || in->a > in->b)
            return vf__error(VF_ERR_ARG, "init: uniform initializer needs finite lo <= hi");
        return VF_OK;
    case VF_INIT_CONSTANT:
        if (!isfinite(in->a)) return vf__error(VF_ERR_ARG, "init: constant is not finite");
        return VF_OK;
    case VF_INIT_ZEROS:
        return VF_OK;
    }
    return vf__error(VF_ERR_ARG, "init: unknown initializer kind %d", (int)in->kind);
}

vf_status vf_init_fill(const vf_init *in, vf_rng *r, vf_real *x, int64_t n)
{
    if (!in || !r || (!x && n > 0) || n < 0) return vf__error(VF_ERR_ARG, "init: NULL argument or negative size");
    vf_status s = check(in);
    if (s != VF_OK) return s;
    double bound;
    switch (in->kind) {
    case VF_INIT_TORCH:
        /* kaiming_uniform(a = sqrt(5)): gain sqrt(2 / (1 + 5)), bound = gain sqrt(3 / fan_in) = 1/sqrt(fan_in) */
        bound = 1.0 / sqrt((double)in->fan_in);
        vf_rng_uniform_fill(r, x, (size_t)n, -bound, bound);
        break;
    case VF_INIT_XAVIER_UNIFORM:
        bound = in->a * sqrt(6.0 / (double)(in->fan_in + in->fan_out));
        vf_rng_uniform_fill(r, x, (size_t)n, -bound, bound);
        break;
    case VF_INIT_NORMAL:
        vf_rng_normal_fill(r, x, (size_t)n, in->a, in->b);
        break;
    case VF_INIT_UNIFORM:
        vf_rng_uniform_fill(r, x, (size_t)n, in->a, in->b);
        break;
    case VF_INIT_CONSTANT:
        for (int64_t i = 0; i < n; i++) x[i] = (vf_real)in->a;
        break;
    case VF_INIT_ZEROS:
        for (int64_t i = 0; i < n; i++) x[i] = 0;
        break;
    }
    return VF_OK;
}
