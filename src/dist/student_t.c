/* student_t.c — independent Student-t per dimension with learnable loc, log_scale and degrees of
 * freedom nu = softplus(raw_df) + df_min; a private lgamma op (derivative: digamma) so the density is
 * differentiable in nu; Gamma draws by Marsaglia and Tsang (2000).
 *
 * log p(z) = sum_j lgamma((nu+1)/2) - lgamma(nu/2) - log(nu pi)/2 - log s - (nu+1)/2 log1p(y^2 / nu),
 * y = (z - loc) / s, s = exp(log_scale). Sample: loc + s eps sqrt(nu / g), g ~ chi^2(nu) = 2 Gamma(nu/2),
 * with its derivative in nu by implicit reparameterization of the Gamma draw (gamma_grad.c). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "dist/dist_internal.h"
#include "nn/nn_internal.h"
#include "varflow/vf_dist.h"

/* ---- lgamma op ---------------------------------------------------------------------------- */

/* digamma(x) for x > 0: recurrence up to x >= 6, then the asymptotic series (error < 1e-12). */
static double digamma(double x)
{
    if (!(x > 0)) return NAN;
    double acc = 0.0;
    while (x < 6.0) {
        acc -= 1.0 / x;
        x += 1.0;
    }
    double r = 1.0 / x, r2 = r * r;
    return acc + log(x) - 0.5 * r -
           r2 * (1.0 / 12 - r2 * (1.0 / 120 - r2 * (1.0 / 252 - r2 * (1.0 / 240 - r2 * (1.0 / 132)))));
}

static vf_status lgamma_fwd(vf_tape *t, vf_node *n)
{
    const vf_real *x = vf__in(t, n, 0)->value.data;
    vf_real *y = n->value.data;
    for (int64_t i = 0, m = vf__numel(n); i < m; i++) y[i] = (vf_real)lgamma((double)x[i]);
    return VF_OK;
}

static void lgamma_vjp(vf_tape *t, vf_node *n)
{
    vf_real *gx = vf__in(t, n, 0)->grad;
    if (!gx) return;
    const vf_real *x = vf__in(t, n, 0)->value.data, *gy = n->grad;
    for (int64_t i = 0, m = vf__numel(n); i < m; i++) gx[i] += (vf_real)((double)gy[i] * digamma((double)x[i]));
}

static void lgamma_jvp(vf_tape *t, vf_node *n)
{
    const vf_real *x = vf__in(t, n, 0)->value.data, *dx = vf__in(t, n, 0)->tangent;
    vf_real *dy = n->tangent;
    for (int64_t i = 0, m = vf__numel(n); i < m; i++) dy[i] = (vf_real)((double)dx[i] * digamma((double)x[i]));
}

static const vf_op_def lgamma_op = {"lgamma", lgamma_fwd, lgamma_vjp, lgamma_jvp, 0};

/* lgamma(x) elementwise, x > 0 (the derivative is only defined there). */
static vf_var tape_lgamma(vf_tape *t, vf_var x)
{
    if (!vf__ok(t, "lgamma", 1, &x)) return VF_NOVAR;
    const vf_tensor *v = &vf__node(t, x)->value;
    vf_var y = vf__push(t, &lgamma_op, 1, &x, v->ndim, v->shape);
    return vf__run(t, y);
}

/* ---- Gamma draws -------------------------------------------------------------------------- */

double vf_gamma_draw(vf_rng *r, double shape)
{
    if (!r || !(shape > 0) || !isfinite(shape)) return NAN;
    double boost = 0.0; /* log of the factor U^(1/shape) for shape < 1 */
    if (shape < 1.0) {
        double u = 1.0 - vf_rng_uniform(r); /* (0, 1] */
        boost = log(u) / shape;
        shape += 1.0;
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d), g;
    for (;;) {
        double x = vf_rng_normal(r), v = 1.0 + c * x;
        if (v <= 0.0) continue;
        v = v * v * v;
        double u = vf_rng_uniform(r);
        if (u < 1.0 - 0.0331 * x * x * x * x) {
            g = d * v;
            break;
        }
        if (u > 0.0 && log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) {
            g = d * v;
            break;
        }
    }
    double out = boost == 0.0 ? g : exp(log(g) + boost);
    return out < DBL_MIN ? DBL_MIN : out;
}

/* ---- the distribution --------------------------------------------------------------------- */

typedef struct student_t {
    vf_dist base;
    char name[VF_PARAM_NAME_MAX];
    vf_dist_net_params net_params;
    double df_min, df_init, raw0;     /* raw0 = softplus^-1(df_init - df_min) */
    int32_t loc, log_scale, raw_df;   /* unconditional: tensor ids; -1 in the conditional form */
    vf_mlp *net;                      /* conditional: context [n, c] -> [n, 3d] */
} student_t;

/* loc, log_scale, nu on the tape: [d] each (unconditional) or [n, d] each (conditional). */
static int st_params(const student_t *s, vf_params *p, vf_tape *t, vf_var ctx, vf_var *loc, vf_var *ls, vf_var *nu)
{
    int64_t d = s->base.dim;
    vf_var raw;
    if (s->net) {
        vf_var h = vf_mlp_forward(s->net, p, t, ctx, VF_NOVAR);
        *loc = vf_slice(t, h, 1, 0, d);
        *ls = vf_slice(t, h, 1, d, 2 * d);
        raw = vf_add_scalar(t, vf_slice(t, h, 1, 2 * d, 3 * d), s->raw0);
    } else {
        *loc = vf_params_var(p, t, s->loc);
        *ls = vf_params_var(p, t, s->log_scale);
        raw = vf_params_var(p, t, s->raw_df);
    }
    *nu = vf_add_scalar(t, vf_softplus(t, raw), s->df_min);
    return *loc != VF_NOVAR && *ls != VF_NOVAR && *nu != VF_NOVAR;
}

static vf_var st_log_prob(const vf_dist *b, vf_params *p, vf_tape *t, vf_var z, vf_var ctx)
{
    const student_t *s = (const student_t *)b;
    vf_var loc, ls, nu;
    if (!st_params(s, p, t, ctx, &loc, &ls, &nu)) return VF_NOVAR;
    vf_var half_nu = vf_scale(t, nu, 0.5);
    vf_var norm = vf_sub(t, tape_lgamma(t, vf_add_scalar(t, half_nu, 0.5)), tape_lgamma(t, half_nu));
    norm = vf_sub(t, norm, vf_add_scalar(t, vf_scale(t, vf_log(t, nu), 0.5), 0.5 * log(VF_PI)));
    norm = vf_sub(t, norm, ls);                                                      /* [d] or [n, d] */
    vf_var y = vf_mul(t, vf_sub(t, z, loc), vf_exp(t, vf_neg(t, ls)));              /* [n, d] */
    vf_var tail = vf_mul(t, vf_add_scalar(t, half_nu, 0.5), vf_log1p(t, vf_div(t, vf_square(t, y), nu)));
    return vf__flow_row_sum(t, vf_sub(t, norm, tail));
}

static vf_var st_sample(const vf_dist *b, vf_params *p, vf_tape *t, int64_t n, vf_var ctx, vf_rng *r)
{
    const student_t *s = (const student_t *)b;
    vf_var loc, ls, nu;
    if (!st_params(s, p, t, ctx, &loc, &ls, &nu)) return VF_NOVAR;
    int64_t d = b->dim;
    size_t m = (size_t)(n * d);
    vf_real *buf = vf__tape_alloc(t, (m ? m : 1) * sizeof *buf);
    if (!buf) return VF_NOVAR;
    int grad = vf_tape_grad_enabled(t); /* the derivative in nu only where it can be used */
    vf_real *dt = grad ? vf__tape_alloc(t, (m ? m : 1) * sizeof *dt) : NULL;
    if (grad && !dt) return VF_NOVAR;
    vf_rng_normal_fill(r, buf, m, 0.0, 1.0);
    const vf_tensor *nv = vf_value(t, nu);
    int per_row = nv->ndim == 2;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) {
            double v = (double)nv->data[per_row ? i * d + j : j];
            double half = vf_gamma_draw(r, 0.5 * v), g = 2.0 * half;
            double draw = (double)buf[i * d + j] * sqrt(v / g);
            /* t = eps sqrt(nu / g), g = 2 G, G ~ Gamma(nu / 2): dg/dnu = dG/da, so
             * dt/dnu = t / (2 nu) - t / (2 g) dG/da (implicit reparameterization of the draw) */
            buf[i * d + j] = (vf_real)draw;
            if (grad)
                dt[i * d + j] = (vf_real)(draw / (2.0 * v) - draw / (2.0 * g) * vf__gamma_draw_dshape(0.5 * v, half));
        }
    vf_var tdraw = vf_input(t, buf, 2, (int64_t[]){n, d});
    if (grad) { /* the draw as a value with derivative dt in nu: t + dt (nu - nu), the second term 0 */
        vf_var held = vf_input(t, nv->data, nv->ndim, nv->shape);
        tdraw = vf_add(t, tdraw, vf_mul(t, vf_input(t, dt, 2, (int64_t[]){n, d}), vf_sub(t, nu, held)));
    }
    return vf_add(t, vf_mul(t, tdraw, vf_exp(t, ls)), loc);
}

static vf_status st_describe(const vf_dist *b, char *json, size_t len)
{
    const student_t *s = (const student_t *)b;
    char net[VF_DIST_NET_JSON_MAX];
    vf_status st = vf__dist_net_json(&s->net_params, net, sizeof net);
    if (st != VF_OK) return st;
    return vf__json_printf(json, len,
                           "{\"kind\":\"student_t\",\"name\":\"%s\",\"dim\":%lld,\"context\":%lld,\"df_min\":%.17g,"
                           "\"df_init\":%.17g,\"net\":%s}",
                           s->name, (long long)b->dim, (long long)b->context, s->df_min, s->df_init, net);
}

static void st_destroy(vf_dist *b)
{
    student_t *s = (student_t *)b;
    vf_mlp_free(s->net);
    vf_free(s);
}

static const vf_dist_vtable st_vt = {"student_t", st_log_prob, st_sample, st_describe, st_destroy};

vf_dist_student_t_params vf_dist_student_t_default_params(int64_t d)
{
    vf_dist_student_t_params kp;
    memset(&kp, 0, sizeof kp);
    kp.dim = d;
    kp.context = 0;
    kp.df_min = 0.01;
    kp.df_init = 5.0;
    kp.net = vf_dist_net_default_params();
    return kp;
}

static vf_status st_check(const vf_dist_student_t_params *kp)
{
    if (kp->dim < 1 || kp->context < 0)
        return vf__error(VF_ERR_ARG, "student_t: dimension %lld (>= 1), context %lld (>= 0)", (long long)kp->dim,
                         (long long)kp->context);
    if (!(kp->df_min > 0) || !isfinite(kp->df_min) || !(kp->df_init > kp->df_min) || !isfinite(kp->df_init))
        return vf__error(VF_ERR_ARG, "student_t: need 0 < df_min < df_init, finite (df_min %g, df_init %g)",
                         kp->df_min, kp->df_init);
    return vf__dist_net_check("student_t", &kp->net);
}

static vf_status st_register(student_t *s, vf_params *p, const char *name, int64_t d, int64_t c)
{
    char buf[VF_PARAM_NAME_MAX];
    vf_status st;
    if (c > 0) {
        vf_mlp_params mp = vf_mlp_default_params(c, 3 * d);
        mp.n_hidden = s->net_params.n_hidden;
        memcpy(mp.hidden, s->net_params.hidden, sizeof mp.hidden);
        mp.act = s->net_params.act;
        mp.zero_init_output = 1;
        st = vf__param_name(buf, sizeof buf, name, "net");
        return st == VF_OK ? vf_mlp_new(p, buf, &mp, &s->net) : st;
    }
    st = vf__param_name(buf, sizeof buf, name, "loc");
    if (st == VF_OK) st = vf_params_add(p, buf, 1, (int64_t[]){d}, vf_init_zeros(), &s->loc);
    if (st == VF_OK) st = vf__param_name(buf, sizeof buf, name, "log_scale");
    if (st == VF_OK) st = vf_params_add(p, buf, 1, (int64_t[]){d}, vf_init_zeros(), &s->log_scale);
    if (st == VF_OK) st = vf__param_name(buf, sizeof buf, name, "raw_df");
    if (st == VF_OK) st = vf_params_add(p, buf, 1, (int64_t[]){d}, vf_init_constant(s->raw0), &s->raw_df);
    return st;
}

vf_status vf_dist_student_t_new(vf_params *p, const char *name, const vf_dist_student_t_params *kp, vf_dist **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "student_t: NULL output");
    *out = NULL;
    if (!p || !kp) return vf__error(VF_ERR_ARG, "student_t: NULL parameter store or settings");
    vf_status st = st_check(kp);
    if (st != VF_OK) return st;
    if (!name) name = "";
    if (strlen(name) >= VF_PARAM_NAME_MAX) return vf__error(VF_ERR_ARG, "student_t: name is too long");
    student_t *s = vf_calloc(1, sizeof *s);
    if (!s) return VF_ERR_NOMEM;
    s->base.vt = &st_vt;
    s->base.dim = kp->dim;
    s->base.context = kp->context;
    s->net_params = kp->net;
    s->df_min = kp->df_min;
    s->df_init = kp->df_init;
    double y = kp->df_init - kp->df_min; /* softplus^-1(y) = log(expm1(y)), written stably for large y */
    s->raw0 = y > 30.0 ? y + log1p(-exp(-y)) : log(expm1(y));
    s->loc = s->log_scale = s->raw_df = -1;
    strcpy(s->name, name);
    int32_t count = vf_params_count(p);
    st = st_register(s, p, name, kp->dim, kp->context);
    if (st != VF_OK) {
        vf__params_truncate(p, count);
        st_destroy(&s->base);
        return st;
    }
    *out = &s->base;
    return VF_OK;
}
