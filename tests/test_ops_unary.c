/* test_ops_unary.c — elementwise ops and activations: gradients (reverse against central
 * differences, forward against reverse), values against double-precision reference formulas
 * written here independently, the activation helpers of the fused linear layer against the
 * standalone ops, saturation and special values, and the fast exponential's accuracy.
 */
#include <float.h>
#include "vf_test.h"
#include "gradcheck.h"
#include "ad/ad_internal.h"

/* Values and derivatives: relative error below VAL_TOL, or absolute error below VAL_ABS (an
 * exponential under the smallest normal number may be flushed to zero; tanh' = 4 exp(-2|x|) ...). */
#if VF_USE_DOUBLE
#define VAL_TOL (64 * DBL_EPSILON)
#define VAL_ABS (4 * DBL_MIN)
#else
#define VAL_TOL (16 * FLT_EPSILON)
#define VAL_ABS (4 * FLT_MIN)
#endif
#define CLOSE(got, want, scale) (fabs((double)(got) - (double)(want)) <= fmax(VAL_TOL * (scale), VAL_ABS))

#define SELU_L 1.0507009873554804934193349852946
#define SELU_A 1.6732632423543772848170429916717
#define LOGSIG VF_ACT_COUNT /* logsigmoid, not an activation, tested alongside them */

/* ---- references (double) ---------------------------------------------------------------- */
static double ref_sigmoid(double x) { return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)); }
static double ref_softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double ref_phi(double x) { return exp(-0.5 * x * x) * 0.39894228040143267793994605993438; }

/* Value of activation a (or LOGSIG) with parameter p (leaky slope, elu alpha). */
static double ref_f(int a, double x, double p)
{
    switch (a) {
    case VF_ACT_NONE: return x;
    case VF_ACT_RELU: return x > 0 ? x : 0;
    case VF_ACT_LEAKY_RELU: return x > 0 ? x : p * x;
    case VF_ACT_ELU: return x > 0 ? x : p * expm1(x);
    case VF_ACT_SELU: return SELU_L * (x > 0 ? x : SELU_A * expm1(x));
    case VF_ACT_SILU: return x * ref_sigmoid(x);
    case VF_ACT_GELU: return 0.5 * x * erfc(-x / sqrt(2.0));
    case VF_ACT_TANH: return tanh(x);
    case VF_ACT_SIGMOID: return ref_sigmoid(x);
    case VF_ACT_SOFTPLUS: return ref_softplus(x);
    case LOGSIG: return -ref_softplus(-x);
    }
    return NAN;
}

/* Derivative of the same. */
static double ref_d(int a, double x, double p)
{
    double s = ref_sigmoid(x);
    switch (a) {
    case VF_ACT_NONE: return 1;
    case VF_ACT_RELU: return x > 0 ? 1 : 0;
    case VF_ACT_LEAKY_RELU: return x > 0 ? 1 : p;
    case VF_ACT_ELU: return x > 0 ? 1 : p * exp(x);
    case VF_ACT_SELU: return SELU_L * (x > 0 ? 1 : SELU_A * exp(x));
    case VF_ACT_SILU: return s + x * s * ref_sigmoid(-x);
    case VF_ACT_GELU: return 0.5 * erfc(-x / sqrt(2.0)) + x * ref_phi(x);
    case VF_ACT_TANH: return 1 / (cosh(x) * cosh(x));
    case VF_ACT_SIGMOID: return s * ref_sigmoid(-x);
    case VF_ACT_SOFTPLUS: return s;
    case LOGSIG: return ref_sigmoid(-x);
    }
    return NAN;
}

static double default_param(int a) { return a == VF_ACT_LEAKY_RELU ? 0.01 : a == VF_ACT_ELU ? 1.0 : 0.0; }

/* The standalone op of activation a (or LOGSIG) with parameter p. */
static vf_var apply(vf_tape *t, vf_var x, int a, double p)
{
    switch (a) {
    case VF_ACT_NONE: return x;
    case VF_ACT_RELU: return vf_relu(t, x);
    case VF_ACT_LEAKY_RELU: return vf_leaky_relu(t, x, p);
    case VF_ACT_ELU: return vf_elu(t, x, p);
    case VF_ACT_SELU: return vf_selu(t, x);
    case VF_ACT_SILU: return vf_silu(t, x);
    case VF_ACT_GELU: return vf_gelu(t, x);
    case VF_ACT_TANH: return vf_tanh(t, x);
    case VF_ACT_SIGMOID: return vf_sigmoid(t, x);
    case VF_ACT_SOFTPLUS: return vf_softplus(t, x);
    case LOGSIG: return vf_logsigmoid(t, x);
    }
    return VF_NOVAR;
}

static const char *act_label(int a) { return a == LOGSIG ? "logsigmoid" : vf_activation_name((vf_activation)a); }

/* ---- gradient checks ---------------------------------------------------------------------- */
typedef vf_var (*unary_fn)(vf_tape *, vf_var);
typedef struct { unary_fn f; int act; double p, q; int which; } op_ctx;

enum { W_PLAIN, W_ACT, W_PARAM_ACT, W_CLAMP, W_SCALE, W_ADD, W_ACTIVATE };

static vf_var build_op(vf_tape *t, const vf_var *in, void *ctx)
{
    const op_ctx *c = ctx;
    switch (c->which) {
    case W_PLAIN: return c->f(t, in[0]);
    case W_ACT:
    case W_PARAM_ACT: return apply(t, in[0], c->act, c->p);
    case W_CLAMP: return vf_clamp(t, in[0], c->p, c->q);
    case W_SCALE: return vf_scale(t, in[0], c->p);
    case W_ADD: return vf_add_scalar(t, in[0], c->p);
    case W_ACTIVATE: return vf_activate(t, in[0], (vf_activation)c->act);
    }
    return VF_NOVAR;
}

/* Inputs of both signs, none within 0.1 of 0 (kinks of relu, abs, ...). */
static const double mixed[12] = {-2.3, -1.1, -0.6, -0.25, -0.12, 0.15, 0.3, 0.55, 0.9, 1.4, 2.2, 3.1};
/* Wider spread, including saturated regions. */
static const double wide[12] = {-7.5, -4.2, -2.7, -1.3, -0.45, -0.11, 0.17, 0.62, 1.8, 3.3, 5.1, 8.4};
/* Positive (log, sqrt). */
static const double positive[12] = {0.2, 0.35, 0.5, 0.8, 1.0, 1.3, 1.7, 2.4, 3.0, 4.5, 6.0, 9.0};

static int check_op(const char *name, const double *values, op_ctx c)
{
    vf_real x[12];
    for (int i = 0; i < 12; i++) x[i] = (vf_real)values[i];
    gc_input in[1] = {{x, 2, {3, 4}, 1}};
    return gradcheck(name, build_op, &c, 1, in);
}

static void test_gradcheck_math_ops(void)
{
    CHECK(check_op("exp", mixed, (op_ctx){vf_exp, 0, 0, 0, W_PLAIN}));
    CHECK(check_op("log", positive, (op_ctx){vf_log, 0, 0, 0, W_PLAIN}));
    CHECK(check_op("sqrt", positive, (op_ctx){vf_sqrt, 0, 0, 0, W_PLAIN}));
    static const double above_m1[12] = {-0.7, -0.5, -0.3, -0.1, 0.0, 0.2, 0.5, 0.9, 1.5, 2.5, 4.0, 7.0};
    CHECK(check_op("log1p", above_m1, (op_ctx){vf_log1p, 0, 0, 0, W_PLAIN}));
    CHECK(check_op("sin", wide, (op_ctx){vf_sin, 0, 0, 0, W_PLAIN}));
    CHECK(check_op("cos", wide, (op_ctx){vf_cos, 0, 0, 0, W_PLAIN}));
    CHECK(check_op("square", wide, (op_ctx){vf_square, 0, 0, 0, W_PLAIN}));
    CHECK(check_op("abs", mixed, (op_ctx){vf_abs, 0, 0, 0, W_PLAIN}));
    CHECK(check_op("neg", wide, (op_ctx){vf_neg, 0, 0, 0, W_PLAIN}));
    /* clamp: bounds at -0.4 and 1.0, no input within 0.1 of either */
    CHECK(check_op("clamp", mixed, (op_ctx){NULL, 0, -0.4, 1.0, W_CLAMP}));
    CHECK(check_op("clamp one-sided", mixed, (op_ctx){NULL, 0, -INFINITY, 1.0, W_CLAMP}));
    CHECK(check_op("scale", wide, (op_ctx){NULL, 0, -1.7, 0, W_SCALE}));
    CHECK(check_op("add_scalar", wide, (op_ctx){NULL, 0, 2.5, 0, W_ADD}));
}

static void test_gradcheck_activation_ops(void)
{
    for (int a = 1; a <= LOGSIG; a++) {
        char name[64];
        snprintf(name, sizeof name, "%s (mixed)", act_label(a));
        CHECK_MSG(check_op(name, mixed, (op_ctx){NULL, a, default_param(a), 0, W_ACT}), "%s", name);
        snprintf(name, sizeof name, "%s (wide)", act_label(a));
        CHECK_MSG(check_op(name, wide, (op_ctx){NULL, a, default_param(a), 0, W_ACT}), "%s", name);
    }
    /* parameters other than the defaults */
    CHECK(check_op("leaky_relu 0.2", mixed, (op_ctx){NULL, VF_ACT_LEAKY_RELU, 0.2, 0, W_PARAM_ACT}));
    CHECK(check_op("leaky_relu -0.5", wide, (op_ctx){NULL, VF_ACT_LEAKY_RELU, -0.5, 0, W_PARAM_ACT}));
    CHECK(check_op("elu 0.7", mixed, (op_ctx){NULL, VF_ACT_ELU, 0.7, 0, W_PARAM_ACT}));
    CHECK(check_op("elu 2.5", wide, (op_ctx){NULL, VF_ACT_ELU, 2.5, 0, W_PARAM_ACT}));
}

static void test_gradcheck_activate(void)
{
    for (int a = 0; a < VF_ACT_COUNT; a++) {
        char name[64];
        snprintf(name, sizeof name, "activate %s", act_label(a));
        CHECK_MSG(check_op(name, mixed, (op_ctx){NULL, a, 0, 0, W_ACTIVATE}), "%s", name);
    }
}

/* A long chain of unary ops: softplus, tanh, scale, shift, square, sin, log1p, sqrt, elu,
 * logsigmoid, neg, selu, gelu, sigmoid, exp, softplus. */
static vf_var build_chain(vf_tape *t, const vf_var *in, void *ctx)
{
    (void)ctx;
    vf_var h = vf_square(t, vf_add_scalar(t, vf_scale(t, vf_tanh(t, vf_softplus(t, in[0])), 1.5), -0.3));
    h = vf_log1p(t, vf_square(t, vf_sin(t, h)));
    h = vf_sqrt(t, vf_add_scalar(t, h, 0.5));
    h = vf_selu(t, vf_neg(t, vf_logsigmoid(t, vf_elu(t, h, 0.8))));
    h = vf_exp(t, vf_scale(t, vf_sigmoid(t, vf_gelu(t, h)), -0.5));
    return vf_activate(t, h, VF_ACT_SOFTPLUS);
}

/* silu, tanh, elu through vf_activate, then cos, gelu, clamp, abs, log. */
static vf_var build_chain2(vf_tape *t, const vf_var *in, void *ctx)
{
    (void)ctx;
    vf_var h = vf_activate(t, vf_scale(t, in[0], 0.9), VF_ACT_SILU);
    h = vf_activate(t, vf_add_scalar(t, h, 0.1), VF_ACT_TANH);
    h = vf_cos(t, vf_activate(t, vf_scale(t, h, 2.0), VF_ACT_ELU));
    return vf_log(t, vf_add_scalar(t, vf_abs(t, vf_clamp(t, vf_gelu(t, h), -5, 5)), 1.0));
}

static void test_gradcheck_chains(void)
{
    vf_real x[12];
    gc_input in[1] = {{x, 2, {3, 4}, 1}};
    for (int i = 0; i < 12; i++) x[i] = (vf_real)mixed[i];
    CHECK(gradcheck("chain 1", build_chain, NULL, 1, in));
    CHECK(gradcheck("chain 2", build_chain2, NULL, 1, in));
    for (int i = 0; i < 12; i++) x[i] = (vf_real)wide[i];
    CHECK(gradcheck("chain 1 (wide)", build_chain, NULL, 1, in));
}

/* ---- values and derivatives against the references ---------------------------------------- */
/* Scale of a value: erfc(-x / sqrt 2) in gelu has a relative condition number of about x^2. */
static double v_scale(int a, double x, double p)
{
    double v = fabs(ref_f(a, x, p));
    return a == VF_ACT_GELU ? v * (1 + x * x) : v;
}

/* Scale of the derivative's terms: silu' = s + x s (1 - s) and gelu' = Phi + x phi cancel; phi's
 * argument x^2 / 2 is rounded, so its relative error grows like x^2. */
static double d_scale(int a, double x, double p)
{
    if (a == VF_ACT_SILU) return ref_sigmoid(x) * (1 + fabs(x) * ref_sigmoid(-x));
    if (a == VF_ACT_GELU) return 0.5 * erfc(-x / sqrt(2.0)) + fabs(x) * ref_phi(x) * (1 + x * x);
    return fabs(ref_d(a, x, p));
}

/* Grid over [-85, 30], powers of ten of both signs down to 1e-30, and saturated values. */
static int64_t make_grid(vf_real *x, int64_t cap)
{
    int64_t n = 0;
    for (int64_t i = 0; i <= 23000 && n < cap; i++) x[n++] = (vf_real)(-85.0 + 0.005 * (double)i);
    for (int k = -30; k <= 30 && n + 2 <= cap; k++) {
        x[n++] = (vf_real)pow(10.0, k / 2.0);
        x[n++] = (vf_real)-pow(10.0, k / 2.0);
    }
    return n;
}

static void check_values(int a, double p, const vf_real *x, int64_t n)
{
    vf_tape *t = vf_tape_new();
    vf_real *ones = malloc((size_t)n * sizeof *ones);
    for (int64_t i = 0; i < n; i++) ones[i] = 1;
    vf_var xv = vf_input_grad(t, x, 1, (int64_t[]){n});
    vf_var y = apply(t, xv, a, p);
    CHECK_STATUS(vf_tape_status(t), VF_OK);
    CHECK_STATUS(vf_backward_seed(t, y, ones), VF_OK);
    const vf_real *yv = vf_value(t, y)->data, *g = vf_grad(t, xv);
    int bad_v = 0, bad_d = 0;
    for (int64_t i = 0; i < n && g; i++) {
        double xi = (double)x[i], rf = ref_f(a, xi, p), rd = ref_d(a, xi, p);
        if (!CLOSE(yv[i], rf, v_scale(a, xi, p)) && bad_v++ < 3)
            CHECK_MSG(0, "%s(%.9g; %g) = %.9g, reference %.9g", act_label(a), xi, p, (double)yv[i], rf);
        if (!CLOSE(g[i], rd, d_scale(a, xi, p)) && bad_d++ < 3)
            CHECK_MSG(0, "%s'(%.9g; %g) = %.9g, reference %.9g", act_label(a), xi, p, (double)g[i], rd);
    }
    CHECK(g != NULL);
    free(ones);
    vf_tape_free(t);
}

static void test_activation_values(void)
{
    static vf_real x[23200];
    int64_t n = make_grid(x, 23200);
    for (int a = 0; a <= LOGSIG; a++) check_values(a, default_param(a), x, n);
    check_values(VF_ACT_LEAKY_RELU, 0.2, x, n);
    check_values(VF_ACT_ELU, 0.7, x, n);
    check_values(VF_ACT_ELU, 3.0, x, n);
}

/* The non-activation ops' values and derivatives at a few points (libm in double). */
static void test_math_values(void)
{
    vf_real x[5] = {(vf_real)0.3, (vf_real)1.7, (vf_real)4.0, (vf_real)0.01, (vf_real)25.0};
    struct { unary_fn f; double (*v)(double); double (*d)(double); } ops[] = {
        {vf_exp, exp, exp}, {vf_log, log, NULL}, {vf_log1p, log1p, NULL}, {vf_sin, sin, cos},
        {vf_sqrt, sqrt, NULL}, {vf_square, NULL, NULL}, {vf_cos, cos, NULL}};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        vf_tape *t = vf_tape_new();
        vf_real seed[5] = {1, 1, 1, 1, 1};
        vf_var xv = vf_input_grad(t, x, 1, (int64_t[]){5});
        vf_var y = ops[k].f(t, xv);
        CHECK_STATUS(vf_backward_seed(t, y, seed), VF_OK);
        const vf_real *yv = vf_value(t, y)->data, *g = vf_grad(t, xv);
        for (int i = 0; i < 5; i++) {
            double xi = (double)x[i], v, d;
            if (ops[k].f == vf_log) v = log(xi), d = 1 / xi;
            else if (ops[k].f == vf_log1p) v = log1p(xi), d = 1 / (1 + xi);
            else if (ops[k].f == vf_sqrt) v = sqrt(xi), d = 0.5 / sqrt(xi);
            else if (ops[k].f == vf_square) v = xi * xi, d = 2 * xi;
            else if (ops[k].f == vf_cos) v = cos(xi), d = -sin(xi);
            else v = ops[k].v(xi), d = ops[k].d(xi);
            CHECK_NEAR(yv[i], v, 2 * VAL_TOL * fmax(fabs(v), 1));
            CHECK_NEAR(g[i], d, 2 * VAL_TOL * fmax(fabs(d), 1));
        }
        vf_tape_free(t);
    }
}

/* ---- the fused-layer helpers against the standalone ops ----------------------------------- */
#define NH 37 /* odd: exercises the vector loops' remainders */

static void test_act_helpers(void)
{
    vf_real x[NH], y[NH], buf[NH], dy[NH], dx[NH], c[NH], tx[NH];
    gc_fill(x, NH, 3, 0.0, 3.0);
    x[0] = 0;
    x[1] = (vf_real)-40;
    x[2] = (vf_real)40;
    gc_fill(dy, NH, 4, 0.0, 1.0);
    gc_fill(c, NH, 5, 0.0, 1.0);
    gc_fill(tx, NH, 6, 0.0, 1.0);
    for (int a = 0; a < VF_ACT_COUNT; a++) {
        vf_activation act = (vf_activation)a;
        vf_tape *t = vf_tape_new();
        vf_var xv = vf_input_grad(t, x, 1, (int64_t[]){NH});
        vf_var yv = apply(t, xv, a, default_param(a));
        CHECK_STATUS(vf_backward_seed(t, yv, dy), VF_OK);
        const vf_real *yt = vf_value(t, yv)->data, *g = vf_grad(t, xv);
        CHECK_STATUS(vf_set_tangent(t, xv, tx), VF_OK);
        CHECK_STATUS(vf_jvp(t), VF_OK);
        const vf_real *ty = vf_tangent(t, yv);
        if (!g || !ty) {
            CHECK(g && ty);
            vf_tape_free(t);
            continue;
        }
        int bad = 0;
        vf__act_forward(act, NH, x, y);
        memcpy(buf, x, sizeof buf);
        vf__act_forward(act, NH, buf, buf); /* in place */
        for (int i = 0; i < NH; i++) bad += y[i] != yt[i] || buf[i] != yt[i];
        CHECK_MSG(bad == 0, "%s: forward differs from the op", act_label(a));

        bad = 0;
        memcpy(dx, c, sizeof dx);
        vf__act_backward(act, NH, x, y, dy, dx, 0);
        for (int i = 0; i < NH; i++) bad += !(fabs((double)dx[i] - (double)g[i]) <= 0);
        memcpy(dx, c, sizeof dx);
        vf__act_backward(act, NH, x, y, dy, dx, 1);
        for (int i = 0; i < NH; i++) bad += !(fabs((double)dx[i] - ((double)c[i] + (double)g[i])) <= VAL_TOL * (fabs((double)c[i]) + fabs((double)g[i])));
        CHECK_MSG(bad == 0, "%s: backward differs from the op's VJP", act_label(a));

        bad = 0;
        memcpy(buf, dy, sizeof buf);
        vf__act_backward(act, NH, x, y, buf, buf, 0); /* dx == dy */
        for (int i = 0; i < NH; i++) bad += buf[i] != g[i];
        memcpy(buf, dy, sizeof buf);
        vf__act_backward(act, NH, x, y, buf, buf, 1); /* dx += dx f' */
        for (int i = 0; i < NH; i++) bad += !(fabs((double)buf[i] - ((double)dy[i] + (double)g[i])) <= VAL_TOL * (fabs((double)dy[i]) + fabs((double)g[i])));
        CHECK_MSG(bad == 0, "%s: in-place backward wrong", act_label(a));

        bad = 0;
        vf__act_jvp(act, NH, x, y, tx, dx);
        memcpy(buf, tx, sizeof buf);
        vf__act_jvp(act, NH, x, y, buf, buf); /* in place */
        for (int i = 0; i < NH; i++) bad += dx[i] != ty[i] || buf[i] != ty[i];
        CHECK_MSG(bad == 0, "%s: jvp differs from the op's JVP", act_label(a));

        /* and against the references */
        bad = 0;
        for (int i = 0; i < NH; i++) {
            double xi = (double)x[i], p = default_param(a);
            bad += !CLOSE(y[i], ref_f(a, xi, p), v_scale(a, xi, p));
            bad += !CLOSE(g[i], (double)dy[i] * ref_d(a, xi, p), fabs((double)dy[i]) * d_scale(a, xi, p));
        }
        CHECK_MSG(bad == 0, "%s: helpers differ from the reference formulas", act_label(a));
        vf_tape_free(t);
    }
}

/* vf_activate uses slope 0.01 and alpha 1, and returns x itself for VF_ACT_NONE. */
static void test_activate_defaults(void)
{
    vf_real x[4] = {(vf_real)-2, (vf_real)-0.5, (vf_real)0.5, (vf_real)2};
    vf_tape *t = vf_tape_new();
    vf_var xv = vf_input(t, x, 1, (int64_t[]){4});
    CHECK(vf_activate(t, xv, VF_ACT_NONE) == xv);
    const vf_real *l = vf_value(t, vf_activate(t, xv, VF_ACT_LEAKY_RELU))->data;
    const vf_real *e = vf_value(t, vf_activate(t, xv, VF_ACT_ELU))->data;
    CHECK_NEAR(l[0], -0.02, 1e-7);
    CHECK_NEAR(l[3], 2.0, 0);
    CHECK_NEAR(e[0], expm1(-2.0), 1e-7);
    CHECK_NEAR(e[1], expm1(-0.5), 1e-7);
    CHECK_NEAR(e[2], 0.5, 0);
    CHECK_STATUS(vf_tape_status(t), VF_OK);
    vf_tape_free(t);
}

/* ---- saturation, special values, shapes ----------------------------------------------------- */
static void test_special_values(void)
{
    /* at x = -1e30 and +1e30: {value, derivative} at each; all finite */
    const double L = SELU_L, A = SELU_A;
    struct { int a; double v_lo, d_lo, v_hi, d_hi; } cases[] = {
        {VF_ACT_RELU, 0, 0, 1e30, 1},          {VF_ACT_LEAKY_RELU, -1e28, 0.01, 1e30, 1},
        {VF_ACT_ELU, -1, 0, 1e30, 1},          {VF_ACT_SELU, -L * A, 0, L * 1e30, L},
        {VF_ACT_SILU, 0, 0, 1e30, 1},          {VF_ACT_GELU, 0, 0, 1e30, 1},
        {VF_ACT_TANH, -1, 0, 1, 0},            {VF_ACT_SIGMOID, 0, 0, 1, 0},
        {VF_ACT_SOFTPLUS, 0, 0, 1e30, 1},      {LOGSIG, -1e30, 1, 0, 0},
    };
    vf_real x[2] = {(vf_real)-1e30, (vf_real)1e30}, seed[2] = {1, 1};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int a = cases[k].a;
        vf_tape *t = vf_tape_new();
        vf_var xv = vf_input_grad(t, x, 1, (int64_t[]){2});
        vf_var y = apply(t, xv, a, default_param(a));
        CHECK_STATUS(vf_backward_seed(t, y, seed), VF_OK);
        const vf_real *v = vf_value(t, y)->data, *g = vf_grad(t, xv);
        double want[4] = {cases[k].v_lo, cases[k].v_hi, cases[k].d_lo, cases[k].d_hi};
        double got[4] = {v[0], v[1], g[0], g[1]};
        for (int i = 0; i < 4; i++)
            CHECK_MSG(isfinite(got[i]) && fabs(got[i] - want[i]) <= VAL_TOL * fmax(fabs(want[i]), 1e-30),
                      "%s: %s at %s1e30 is %.9g, expected %.9g", act_label(a), i < 2 ? "value" : "derivative",
                      i % 2 ? "+" : "-", got[i], want[i]);
        vf_tape_free(t);
    }
    /* tiny arguments keep their relative accuracy (expm1 / log1p paths) */
    vf_real tiny[3] = {(vf_real)1e-6, (vf_real)-1e-6, (vf_real)-50};
    vf_tape *t = vf_tape_new();
    vf_var xv = vf_input(t, tiny, 1, (int64_t[]){3});
    const vf_real *th = vf_value(t, vf_tanh(t, xv))->data, *el = vf_value(t, vf_elu(t, xv, 1.0))->data;
    const vf_real *sp = vf_value(t, vf_softplus(t, xv))->data, *sg = vf_value(t, vf_sigmoid(t, xv))->data;
    const vf_real *ls = vf_value(t, vf_logsigmoid(t, vf_neg(t, xv)))->data;
    CHECK_NEAR(th[0], tanh(1e-6), VAL_TOL * 1e-6);
    CHECK_NEAR(el[1], expm1(-1e-6), VAL_TOL * 1e-6);
    CHECK_NEAR(sp[2], log1p(exp(-50.0)), VAL_TOL * exp(-50.0));
    CHECK_NEAR(sg[2], exp(-50.0) / (1 + exp(-50.0)), VAL_TOL * exp(-50.0));
    CHECK_NEAR(ls[2], -log1p(exp(-50.0)), VAL_TOL * exp(-50.0));
    CHECK_NEAR(sp[0], log1p(exp(1e-6)), VAL_TOL);
    vf_tape_free(t);
}

static void test_nan_and_domain(void)
{
    vf_real x[3] = {(vf_real)NAN, (vf_real)-1, 0};
    vf_tape *t = vf_tape_new();
    vf_var xv = vf_input(t, x, 1, (int64_t[]){3});
    for (int a = 0; a <= LOGSIG; a++) {
        vf_var y = apply(t, xv, a, default_param(a));
        CHECK_MSG(y != VF_NOVAR && isnan(vf_value(t, y)->data[0]), "%s(NaN) is not NaN", act_label(a));
        vf_real o;
        vf__act_forward((vf_activation)(a % VF_ACT_COUNT), 1, x, &o);
        CHECK(isnan(o));
    }
    const vf_real *lg = vf_value(t, vf_log(t, xv))->data, *sq = vf_value(t, vf_sqrt(t, xv))->data;
    const vf_real *l1 = vf_value(t, vf_log1p(t, vf_add_scalar(t, xv, -1)))->data;
    CHECK(isnan(lg[1]) && isinf(lg[2]) && lg[2] < 0);
    CHECK(isnan(sq[1]) && sq[2] == 0);
    CHECK(isnan(l1[1]) && isinf(l1[2]) && l1[2] < 0); /* log1p(-2), log1p(-1) */
    CHECK_STATUS(vf_tape_status(t), VF_OK); /* user math, not errors */
    vf_tape_free(t);
}

static void test_shapes(void)
{
    vf_real x[24];
    gc_fill(x, 24, 9, 0.0, 1.0);
    vf_tape *t = vf_tape_new();
    vf_var a = vf_input(t, x, 3, (int64_t[]){2, 3, 4});
    vf_var s = vf_scalar(t, 0.25);
    vf_var e = vf_input(t, x, 2, (int64_t[]){0, 3});
    const vf_tensor *ya = vf_value(t, vf_clamp(t, vf_gelu(t, a), -0.1, 0.1));
    const vf_tensor *ys = vf_value(t, vf_sigmoid(t, s));
    const vf_tensor *ye = vf_value(t, vf_sqrt(t, vf_silu(t, e)));
    CHECK(ya && ya->ndim == 3 && ya->shape[0] == 2 && ya->shape[1] == 3 && ya->shape[2] == 4);
    CHECK(ys && ys->ndim == 0);
    if (ys) CHECK_NEAR(ys->data[0], 1 / (1 + exp(-0.25)), VAL_TOL);
    CHECK(ye && ye->ndim == 2 && ye->shape[0] == 0 && ye->shape[1] == 3);
    for (int i = 0; ya && i < 24; i++) CHECK(ya->data[i] >= (vf_real)-0.1 && ya->data[i] <= (vf_real)0.1);
    CHECK_STATUS(vf_tape_status(t), VF_OK);
    vf_tape_free(t);
}

/* ---- names and errors ----------------------------------------------------------------------- */
static void test_names(void)
{
    static const char *names[VF_ACT_COUNT] = {"none", "relu", "leaky_relu", "elu", "selu",
                                              "silu", "gelu", "tanh", "sigmoid", "softplus"};
    for (int a = 0; a < VF_ACT_COUNT; a++) {
        CHECK(vf_activation_from_name(names[a]) == a);
        CHECK(strcmp(vf_activation_name((vf_activation)a), names[a]) == 0);
    }
    CHECK(vf_activation_from_name("swish") == -1);
    CHECK(vf_activation_from_name("") == -1);
    CHECK(vf_activation_from_name("RELU") == -1);
    CHECK(vf_activation_from_name(NULL) == -1);
    CHECK(vf_activation_name(VF_ACT_COUNT) != NULL);
    CHECK(vf_activation_name((vf_activation)-1) != NULL);
}

static void expect_arg_error(vf_tape *t, vf_var v, const char *what)
{
    CHECK_MSG(v == VF_NOVAR && vf_tape_status(t) == VF_ERR_ARG, "%s: expected VF_ERR_ARG", what);
    CHECK_MSG(strlen(vf_tape_error(t)) > 0, "%s: no message", what);
    vf_tape_reset(t);
}

static void test_errors(void)
{
    vf_real x[2] = {1, 2};
    vf_tape *t = vf_tape_new();
#define FRESH vf_input(t, x, 1, (int64_t[]){2})
    expect_arg_error(t, vf_clamp(t, FRESH, 1.0, -1.0), "clamp lo > hi");
    expect_arg_error(t, vf_clamp(t, FRESH, NAN, 1.0), "clamp NaN bound");
    expect_arg_error(t, vf_scale(t, FRESH, NAN), "scale NaN");
    expect_arg_error(t, vf_add_scalar(t, FRESH, INFINITY), "add_scalar inf");
    expect_arg_error(t, vf_leaky_relu(t, FRESH, NAN), "leaky_relu NaN slope");
    expect_arg_error(t, vf_elu(t, FRESH, INFINITY), "elu inf alpha");
    expect_arg_error(t, vf_activate(t, FRESH, VF_ACT_COUNT), "activate out of range");
    expect_arg_error(t, vf_activate(t, FRESH, (vf_activation)-1), "activate negative");
    expect_arg_error(t, vf_tanh(t, 42), "tanh of a bad handle");
    expect_arg_error(t, vf_log(t, VF_NOVAR), "log of VF_NOVAR");
    expect_arg_error(t, vf_activate(t, 7, VF_ACT_NONE), "activate none of a bad handle");
    /* a failed tape stays failed: later builders give VF_NOVAR */
    vf_var ok = FRESH;
    CHECK(vf_clamp(t, ok, 2, 1) == VF_NOVAR);
    CHECK(vf_sigmoid(t, ok) == VF_NOVAR);
    CHECK(vf_activate(t, ok, VF_ACT_NONE) == VF_NOVAR);
    vf_tape_reset(t);
    CHECK(vf_clamp(t, FRESH, 1, 1) != VF_NOVAR); /* a point interval is fine */
#undef FRESH
    vf_tape_free(t);
}

int main(void)
{
    RUN(test_gradcheck_math_ops);
    RUN(test_gradcheck_activation_ops);
    RUN(test_gradcheck_activate);
    RUN(test_gradcheck_chains);
    RUN(test_activation_values);
    RUN(test_math_values);
    RUN(test_act_helpers);
    RUN(test_activate_defaults);
    RUN(test_special_values);
    RUN(test_nan_and_domain);
    RUN(test_shapes);
    RUN(test_names);
    RUN(test_errors);
    return vf_test_summary();
}
