/* activations.c — the activation functions (vf_activation), their derivative kernels, the ops
 * vf_relu ... vf_softplus, vf_logsigmoid and vf_activate, and the helpers vf__act_forward,
 * vf__act_backward and vf__act_jvp used by the fused linear layer.
 *
 * Kernels. Every activation is written once as two scalar functions of x (and the parameter p:
 * the slope of leaky relu, the alpha of elu; ignored by the others): its value and its derivative.
 * ACT_KERNELS() turns the pair into loops over arrays (forward; backward with and without
 * accumulation, which also serves as the JVP), each in a variant for separate arrays (`restrict`)
 * and one for in-place use (output array == input array; other overlaps are not allowed).
 * Derivatives are computed from x, never from y (the helpers accept y but do not read it),
 * because 1 - tanh^2, y (1 - y) and friends lose all relative accuracy where the activation
 * saturates.
 *
 * Float build: the loops must auto-vectorize, so the scalar functions use no libm calls: exp(-|z|),
 * expm1(-|z|) and log1p(u) come from the branch-free polynomial kernels below, with a few float
 * ulps of relative error (checked against double references in tests/test_ops_unary.c). GELU
 * still calls libm's erfc, so its loops stay scalar. The double build calls libm throughout.
 *
 * Numerics: sigmoid, softplus and tanh are written through e = exp(-|x|) (never overflows);
 * softplus(x) = max(x, 0) + log1p(e); logsigmoid(x) = -softplus(-x) = min(x, 0) - log1p(e);
 * elu(x) = alpha expm1(x) for x <= 0 (accurate near 0); NaN in gives NaN out.
 */

#include <math.h>
#include <string.h>
#include "ad/ad_internal.h"

#define SELU_LAMBDA ((vf_real)1.0507009873554804934193349852946)
#define SELU_ALPHA ((vf_real)1.6732632423543772848170429916717)
#define INV_SQRT_2PI ((vf_real)0.39894228040143267793994605993438)
#define LEAKY_DEFAULT 0.01 /* vf_activate's and the linear layer's slope */
#define ELU_DEFAULT 1.0    /* ... and alpha */

/* ---- scalar building blocks: exp(-|z|), expm1(-|z|), log1p(u) for u in [0, 1] ------------ */
#if VF_USE_DOUBLE
static inline vf_real exp_negabs(vf_real z) { return exp(-fabs(z)); }
static inline vf_real expm1_negabs(vf_real z) { return expm1(-fabs(z)); }
static inline vf_real log1p_unit(vf_real u) { return log1p(u); }
#else
typedef union { uint32_t u; float f; } fbits;
typedef struct { float r, s; } exp_split;

/* Range reduction without branches or float-to-int conversions (both keep GCC from vectorizing):
 * a (|a| <= 89) is split as k ln2 + r with k integral and |r| <= ln2/2, and s = 2^k from the
 * exponent bits: 0 for k = -127, +inf for k = 128. k is rounded to nearest by adding 1.5 * 2^23,
 * whose float then holds k in its low bits; ln2 = 0.693359375 - 2.12194440e-4, the first part exact
 * in few bits. */
static inline exp_split exp_split_of(float a)
{
    fbits kb = {.f = a * 1.44269504088896341f + 12582912.0f};
    float kf = kb.f - 12582912.0f;
    float r = a - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    fbits s = {.u = (kb.u - 0x4b400000u + 127u) << 23};
    exp_split q = {r, s.f};
    return q;
}

/* -|z|, its magnitude capped at `cap` (given by its bits; NaN passes), split as above. */
static inline exp_split exp_reduce(float z, uint32_t cap)
{
    fbits b = {.f = z};
    uint32_t m = b.u & 0x7fffffffu;
    uint32_t mc = m < cap ? m : cap;
    mc = m > 0x7f800000u ? m : mc; /* NaN stays NaN */
    b.u = mc | 0x80000000u;
    return exp_split_of(b.f);
}

/* exp(r) = 1 + r + r^2 (1/2! + r/3! + ... + r^5/7!) for |r| <= ln2/2 (truncation below 1e-8
 * relative); times s, 2^k. */
static inline float exp_of_split(exp_split q)
{
    float r = q.r, p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    return (1.0f + (r + r * r * p)) * q.s;
}

/* exp(-|z|); |z| is capped at 88, so results below about 1e-38 are 0. NaN gives NaN. */
static inline float exp_negabs(float z) { return exp_of_split(exp_reduce(z, 0x42b00000u /* 88 */)); }

/* expm1(-|z|) = 2^k expm1(r) + (2^k - 1), expm1(r) = r + r^2 (1/2! + r/3! + ... + r^6/8!)
 * (truncation below 1e-8 relative); |z| is capped at 30, beyond which the float result is -1. */
static inline float expm1_negabs(float z)
{
    exp_split q = exp_reduce(z, 0x41f00000u /* 30 */);
    float r = q.r, p = 1.0f / 40320.0f;
    p = p * r + 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    float em = r + r * r * p;
    return q.s * em + (q.s - 1.0f);
}

/* log1p(u) for u in [0, 1]: with s = u / (2 + u) in [0, 1/3], log1p(u) = 2 atanh(s)
 * = 2 (s + s^3/3 + ... + s^13/13) (truncation below 2e-8 relative); no 1 + u is ever formed. */
static inline float log1p_unit(float u)
{
    float s = u / (2.0f + u), s2 = s * s;
    float q = 1.0f / 13.0f;
    q = q * s2 + 1.0f / 11.0f;
    q = q * s2 + 1.0f / 9.0f;
    q = q * s2 + 1.0f / 7.0f;
    q = q * s2 + 1.0f / 5.0f;
    q = q * s2 + 1.0f / 3.0f;
    return 2.0f * s + 2.0f * s * s2 * q;
}
#endif

/* sigmoid(x) and 1 - sigmoid(x), both to full relative accuracy, from e = exp(-|x|). */
typedef struct { vf_real s, sc; } sig_pair;
static inline sig_pair sigmoid_pair(vf_real x)
{
    vf_real e = exp_negabs(x);
    vf_real r = (vf_real)1 / ((vf_real)1 + e), er = e * r;
    sig_pair p = {x >= 0 ? r : er, x >= 0 ? er : r}; /* NaN x: e, hence both, are NaN */
    return p;
}

/* Standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2 and density phi(x). */
static inline vf_real norm_cdf(vf_real x) { return (vf_real)(0.5 * erfc(-(double)x * 0.70710678118654752440)); }
static inline vf_real norm_pdf(vf_real x) { return INV_SQRT_2PI * exp_negabs((vf_real)0.5 * x * x); }

/* ---- value f(x; p) and derivative f'(x; p) of each activation ----------------------------- */
static inline vf_real none_f(vf_real x, vf_real p) { (void)p; return x; }
static inline vf_real none_d(vf_real x, vf_real p) { (void)x; (void)p; return 1; }

static inline vf_real relu_f(vf_real x, vf_real p) { (void)p; return x < 0 ? 0 : x; }
static inline vf_real relu_d(vf_real x, vf_real p) { (void)p; return x > 0 ? 1 : 0; }

static inline vf_real leaky_f(vf_real x, vf_real p) { return x * (x < 0 ? p : 1); }
static inline vf_real leaky_d(vf_real x, vf_real p) { return x > 0 ? 1 : p; }

/* elu: x for x > 0, p expm1(x) otherwise; derivative p exp(x) there. */
static inline vf_real elu_f(vf_real x, vf_real p)
{
    vf_real neg = p * expm1_negabs(x);
    return x > 0 ? x : neg;
}
static inline vf_real elu_d(vf_real x, vf_real p)
{
    vf_real neg = p * exp_negabs(x);
    return x > 0 ? 1 : neg;
}

static inline vf_real selu_f(vf_real x, vf_real p) { (void)p; return SELU_LAMBDA * elu_f(x, SELU_ALPHA); }
static inline vf_real selu_d(vf_real x, vf_real p) { (void)p; return SELU_LAMBDA * elu_d(x, SELU_ALPHA); }

/* silu = x sigmoid(x); derivative s + x s (1 - s). */
#if VF_USE_DOUBLE
static inline vf_real silu_f(vf_real x, vf_real p) { (void)p; return x * sigmoid_pair(x).s; }
static inline vf_real silu_d(vf_real x, vf_real p)
{
    (void)p;
    sig_pair q = sigmoid_pair(x);
    return q.s + x * q.s * q.sc;
}
#else
/* Float: E = exp(-x) with -x held in [-88, 89], so that 2^k is 0 for k = -127 (x >= 88: E = 0, s = 1)
 * and +inf for k = 128 (x below about -88.4: E = inf, silu = -0, as the exact value is below 1e-36),
 * then s = 1 / (1 + E) and silu = x s: relative-accurate in either sign, with no sign split of
 * the argument (sigmoid_pair's), which silu's value does not need. Its derivative takes 1 - s as E s
 * for x >= 0 (small there) and as 1 - s below (exact enough, and defined where E is inf). silu is the
 * default activation of the vector fields and runs on every hidden unit of every ODE step. A NaN x
 * reaches the quotient. */
static inline float exp_neg_clamped(float x)
{
    /* a = -x with |a| capped at 88 for a <= 0 and at 89 for a > 0, on the bits: an unsigned min,
     * which GCC keeps as one (a float clamp it splits into a quotient per clamped branch). */
    fbits b = {.f = x};
    uint32_t sign_x = b.u & 0x80000000u, m = b.u & 0x7fffffffu;
    uint32_t cap = 0x42b00000u + (sign_x >> 14); /* 88, or 89 (0x42b20000) when x < 0 */
    b.u = (m < cap ? m : cap) | (sign_x ^ 0x80000000u); /* NaN: capped (the quotient still sees x) */
    return exp_of_split(exp_split_of(b.f));
}
/* x s with s = 1 / (1 + E), not x / (1 + E): the same quotient as the derivative's, so that the
 * training pass (value and derivative in one loop) divides once per element, not twice (each a
 * 16-lane division of about 10 cycles' throughput on AVX-512); within 1.5 ulp instead of 0.5. */
static inline float silu_f(float x, float p)
{
    (void)p;
    return x * (1.0f / (1.0f + exp_neg_clamped(x)));
}
static inline float silu_d(float x, float p)
{
    (void)p;
    float e = exp_neg_clamped(x), s = 1.0f / (1.0f + e);
    float sc = x < 0 ? 1.0f - s : e * s;
    return s + x * s * sc;
}
#endif

/* gelu = x Phi(x); derivative Phi(x) + x phi(x). */
static inline vf_real gelu_f(vf_real x, vf_real p) { (void)p; return x * norm_cdf(x); }
static inline vf_real gelu_d(vf_real x, vf_real p) { (void)p; return norm_cdf(x) + x * norm_pdf(x); }

/* tanh |x| = -m / (2 + m), m = expm1(-2|x|); derivative 4 e / (1 + e)^2, e = exp(-2|x|). */
static inline vf_real tanh_f(vf_real x, vf_real p)
{
    (void)p;
#if VF_USE_DOUBLE
    return tanh(x);
#else
    vf_real m = expm1_negabs(2 * x);
    vf_real t = -m / (2 + m);
    return copysignf(t, x);
#endif
}
static inline vf_real tanh_d(vf_real x, vf_real p)
{
    (void)p;
    vf_real e = exp_negabs(2 * x);
    vf_real r = (vf_real)1 / (1 + e);
    return 4 * e * r * r;
}

static inline vf_real sigmoid_f(vf_real x, vf_real p) { (void)p; return sigmoid_pair(x).s; }
static inline vf_real sigmoid_d(vf_real x, vf_real p)
{
    (void)p;
    sig_pair q = sigmoid_pair(x);
    return q.s * q.sc;
}

static inline vf_real softplus_f(vf_real x, vf_real p)
{
    (void)p;
    vf_real l = log1p_unit(exp_negabs(x));
    return (x > 0 ? x : 0) + l;
}
static inline vf_real softplus_d(vf_real x, vf_real p) { (void)p; return sigmoid_pair(x).s; }

/* logsigmoid(x) = min(x, 0) - log1p(exp(-|x|)); derivative 1 - sigmoid(x). */
static inline vf_real logsig_f(vf_real x, vf_real p)
{
    (void)p;
    vf_real l = log1p_unit(exp_negabs(x));
    return (x < 0 ? x : 0) - l;
}
static inline vf_real logsig_d(vf_real x, vf_real p) { (void)p; return sigmoid_pair(x).sc; }

/* ---- array kernels ------------------------------------------------------------------------
 * NAME_fwd:  y[i] = f(x[i])                       (x == y allowed: NAME_fwd_ip)
 * NAME_bwd:  dx[i] (+)= dy[i] f'(x[i])            (dx == dy allowed: NAME_bwd_ip)
 * NAME_jvp:  ty[i] = f'(x[i]) tx[i]               (tx == ty allowed: NAME_jvp_ip)
 * NAME_fwd_deriv: y[i] = f(z[i]), then z[i] = f'(z[i]): value and derivative in one pass, which
 *            shares their common work (silu's exp and quotient)                              */
#define ACT_KERNELS(NAME)                                                                         \
    static VF_HOT void NAME##_fwd(int64_t n, const vf_real *restrict x, vf_real *restrict y,      \
                                  vf_real p)                                                      \
    {                                                                                             \
        for (int64_t i = 0; i < n; i++) y[i] = NAME##_f(x[i], p);                                 \
    }                                                                                             \
    static VF_HOT void NAME##_fwd_ip(int64_t n, vf_real *restrict x, vf_real p)                   \
    {                                                                                             \
        for (int64_t i = 0; i < n; i++) x[i] = NAME##_f(x[i], p);                                 \
    }                                                                                             \
    static VF_HOT void NAME##_bwd(int64_t n, const vf_real *restrict x,                           \
                                  const vf_real *restrict dy, vf_real *restrict dx, int acc,      \
                                  vf_real p)                                                      \
    {                                                                                             \
        if (acc)                                                                                  \
            for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * NAME##_d(x[i], p);                   \
        else                                                                                      \
            for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * NAME##_d(x[i], p);                    \
    }                                                                                             \
    static VF_HOT void NAME##_bwd_ip(int64_t n, const vf_real *restrict x, vf_real *restrict d,   \
                                     int acc, vf_real p)                                          \
    {                                                                                             \
        if (acc)                                                                                  \
            for (int64_t i = 0; i < n; i++) d[i] += d[i] * NAME##_d(x[i], p);                     \
        else                                                                                      \
            for (int64_t i = 0; i < n; i++) d[i] *= NAME##_d(x[i], p);                            \
    }                                                                                             \
    static VF_HOT void NAME##_fwd_deriv(int64_t n, vf_real *restrict z, vf_real *restrict y,      \
                                        vf_real p)                                                \
    {                                                                                             \
        for (int64_t i = 0; i < n; i++) {                                                         \
            vf_real zi = z[i];                                                                    \
            y[i] = NAME##_f(zi, p);                                                               \
            z[i] = NAME##_d(zi, p);                                                               \
        }                                                                                         \
    }

ACT_KERNELS(none)
ACT_KERNELS(relu)
ACT_KERNELS(leaky)
ACT_KERNELS(elu)
ACT_KERNELS(selu)
ACT_KERNELS(silu)
ACT_KERNELS(gelu)
ACT_KERNELS(tanh)
ACT_KERNELS(sigmoid)
ACT_KERNELS(softplus)
ACT_KERNELS(logsig)

/* Kernel table, indexed by vf_activation; logsigmoid (not an activation) sits at VF_ACT_COUNT. */
typedef struct act_kernels {
    const char *name;
    void (*fwd)(int64_t, const vf_real *restrict, vf_real *restrict, vf_real);
    void (*fwd_ip)(int64_t, vf_real *restrict, vf_real);
    void (*bwd)(int64_t, const vf_real *restrict, const vf_real *restrict, vf_real *restrict, int, vf_real);
    void (*bwd_ip)(int64_t, const vf_real *restrict, vf_real *restrict, int, vf_real);
    void (*fwd_deriv)(int64_t, vf_real *restrict, vf_real *restrict, vf_real);
} act_kernels;

#define ACT_ENTRY(str, NAME) {str, NAME##_fwd, NAME##_fwd_ip, NAME##_bwd, NAME##_bwd_ip, NAME##_fwd_deriv}
static const act_kernels kernels[VF_ACT_COUNT + 1] = {
    ACT_ENTRY("none", none),       ACT_ENTRY("relu", relu),   ACT_ENTRY("leaky_relu", leaky),
    ACT_ENTRY("elu", elu),         ACT_ENTRY("selu", selu),   ACT_ENTRY("silu", silu),
    ACT_ENTRY("gelu", gelu),       ACT_ENTRY("tanh", tanh),   ACT_ENTRY("sigmoid", sigmoid),
    ACT_ENTRY("softplus", softplus), ACT_ENTRY("logsigmoid", logsig),
};
#define ACT_LOGSIGMOID VF_ACT_COUNT

/* y = f(x); x == y allowed, other overlaps not. */
static void run_fwd(int k, vf_real p, int64_t n, const vf_real *x, vf_real *y)
{
    if (x == y) kernels[k].fwd_ip(n, y, p);
    else kernels[k].fwd(n, x, y, p);
}

/* dx (+)= dy f'(x); dx == dy allowed. */
static void run_bwd(int k, vf_real p, int64_t n, const vf_real *x, const vf_real *dy, vf_real *dx, int acc)
{
    if (dx == dy) kernels[k].bwd_ip(n, x, dx, acc, p);
    else kernels[k].bwd(n, x, dy, dx, acc, p);
}

static vf_real default_param(vf_activation act)
{
    return (vf_real)(act == VF_ACT_LEAKY_RELU ? LEAKY_DEFAULT : act == VF_ACT_ELU ? ELU_DEFAULT : 0.0);
}

/* ---- internal helpers for the fused linear layer ----------------------------------------- */
void vf__act_forward(vf_activation act, int64_t n, const vf_real *x, vf_real *y)
{
    if ((unsigned)act >= VF_ACT_COUNT) return;
    run_fwd(act, default_param(act), n, x, y);
}

void vf__act_forward_keep_derivative(vf_activation act, int64_t n, vf_real *z, vf_real *y)
{
    if ((unsigned)act >= VF_ACT_COUNT) return;
    kernels[act].fwd_deriv(n, z, y, default_param(act));
}

static VF_HOT void mul_derivative(int64_t n, const vf_real *d, const vf_real *g, vf_real *out)
{
    for (int64_t i = 0; i < n; i++) out[i] = d[i] * g[i];
}

void vf__mul_derivative(int64_t n, const vf_real *d, const vf_real *g, vf_real *out)
{
    mul_derivative(n, d, g, out); /* VF_HOT stays on a static function (internal.h) */
}

void vf__act_backward(vf_activation act, int64_t n, const vf_real *x, const vf_real *y,
                      const vf_real *dy, vf_real *dx, int accumulate)
{
    (void)y; /* every derivative is taken from x (see the notes at the top) */
    if ((unsigned)act >= VF_ACT_COUNT) return;
    run_bwd(act, default_param(act), n, x, dy, dx, accumulate);
}

void vf__act_jvp(vf_activation act, int64_t n, const vf_real *x, const vf_real *y,
                 const vf_real *dx, vf_real *dy)
{
    (void)y;
    if ((unsigned)act >= VF_ACT_COUNT) return;
    run_bwd(act, default_param(act), n, x, dx, dy, 0);
}

int vf_activation_from_name(const char *name)
{
    if (!name) return -1;
    for (int a = 0; a < VF_ACT_COUNT; a++)
        if (strcmp(name, kernels[a].name) == 0) return a;
    return -1;
}

const char *vf_activation_name(vf_activation a)
{
    return (unsigned)a < VF_ACT_COUNT ? kernels[a].name : "unknown";
}

/* ---- the ops ------------------------------------------------------------------------------
 * One node kind per kernel-table entry: iarg[0] = table index, farg[0] = parameter. */
static vf_status act_op_fwd(vf_tape *t, vf_node *n)
{
    run_fwd((int)n->iarg[0], (vf_real)n->farg[0], vf__numel(n), vf__in(t, n, 0)->value.data, n->value.data);
    return VF_OK;
}

static void act_op_vjp(vf_tape *t, vf_node *n)
{
    vf_node *in = vf__in(t, n, 0);
    if (!in->grad) return;
    run_bwd((int)n->iarg[0], (vf_real)n->farg[0], vf__numel(n), in->value.data, n->grad, in->grad, 1);
}

static void act_op_jvp(vf_tape *t, vf_node *n)
{
    vf_node *in = vf__in(t, n, 0); /* its tangent is non-NULL: the driver only calls with one */
    run_bwd((int)n->iarg[0], (vf_real)n->farg[0], vf__numel(n), in->value.data, in->tangent, n->tangent, 0);
}

#define ACT_OP(str) {str, act_op_fwd, act_op_vjp, act_op_jvp, 0}
static const vf_op_def act_ops[VF_ACT_COUNT + 1] = {
    ACT_OP("none"), ACT_OP("relu"),    ACT_OP("leaky_relu"), ACT_OP("elu"),
    ACT_OP("selu"), ACT_OP("silu"),    ACT_OP("gelu"),       ACT_OP("tanh"),
    ACT_OP("sigmoid"), ACT_OP("softplus"), ACT_OP("logsigmoid"),
};

/* x [any shape] -> f(x) [same shape] for kernel-table entry k with parameter p. */
static vf_var act_node(vf_tape *t, vf_var x, int k, double p)
{
    if (!vf__ok(t, act_ops[k].name, 1, &x)) return VF_NOVAR;
    if (!isfinite(p)) return vf__fail(t, VF_ERR_ARG, "%s: parameter %g is not finite", act_ops[k].name, p);
    const vf_tensor *v = &vf__node(t, x)->value;
    vf_var y = vf__push(t, &act_ops[k], 1, &x, v->ndim, v->shape);
    if (y == VF_NOVAR) return y;
    vf_node *n = vf__node(t, y);
    n->iarg[0] = k;
    n->farg[0] = p;
    return vf__run(t, y);
}

vf_var vf_relu(vf_tape *t, vf_var x) { return act_node(t, x, VF_ACT_RELU, 0.0); }
vf_var vf_leaky_relu(vf_tape *t, vf_var x, double slope) { return act_node(t, x, VF_ACT_LEAKY_RELU, slope); }
vf_var vf_elu(vf_tape *t, vf_var x, double alpha) { return act_node(t, x, VF_ACT_ELU, alpha); }
vf_var vf_selu(vf_tape *t, vf_var x) { return act_node(t, x, VF_ACT_SELU, 0.0); }
vf_var vf_silu(vf_tape *t, vf_var x) { return act_node(t, x, VF_ACT_SILU, 0.0); }
vf_var vf_gelu(vf_tape *t, vf_var x) { return act_node(t, x, VF_ACT_GELU, 0.0); }
vf_var vf_tanh(vf_tape *t, vf_var x) { return act_node(t, x, VF_ACT_TANH, 0.0); }
vf_var vf_sigmoid(vf_tape *t, vf_var x) { return act_node(t, x, VF_ACT_SIGMOID, 0.0); }
vf_var vf_softplus(vf_tape *t, vf_var x) { return act_node(t, x, VF_ACT_SOFTPLUS, 0.0); }
vf_var vf_logsigmoid(vf_tape *t, vf_var x) { return act_node(t, x, ACT_LOGSIGMOID, 0.0); }

vf_var vf_activate(vf_tape *t, vf_var x, vf_activation act)
{
    if (!vf__ok(t, "activate", 1, &x)) return VF_NOVAR;
    if ((unsigned)act >= VF_ACT_COUNT) return vf__fail(t, VF_ERR_ARG, "activate: unknown activation %d", (int)act);
    if (act == VF_ACT_NONE) return x;
    return act_node(t, x, act, (double)default_param(act));
}
