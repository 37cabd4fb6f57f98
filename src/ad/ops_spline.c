/* ops_spline.c — the rational-quadratic spline (vf_spline.h) as two tape nodes sharing one state.
 *
 * Node 1 ("rq_spline", inputs x, uw, uh, ud; or x, theta for vf_rq_spline_packed, the state then
 * addressing widths, heights and slopes inside theta by offset and stride) computes, per element,
 * everything at once: the
 * softmaxes of its width and height logits, the knots (in double), the bin by binary search, the
 * output, log|d out / d in|, and the partial derivatives of both with respect to the seven local
 * quantities p = (in, X_k, X_{k+1}, Y_k, Y_{k+1}, ud_{k-1}, ud_k). It saves the partials, the bin and
 * the softmaxes in an rq_state (tape memory). Node 2 ("rq_spline_ladj", the same inputs) only copies
 * the saved log-derivatives; its VJP and JVP use the same state with the log-derivative's partials.
 *
 * Backward from the locals to the logits is closed form: X_k = -B + 2B (k m_w + (1 - K m_w) S_k)
 * with S_k = sum_{j<k} softmax(uw)_j, so d X_k / d uw_j = c_w s_j ([j < k] - S_k) with
 * c_w = 2B (1 - K m_w), and likewise for heights; D_k = m_d + softplus(ud_{k-1} + shift) has
 * d D_k / d ud_{k-1} = sigmoid(ud_{k-1} + shift). The first and last knots and slopes are
 * constants: their partials are set to 0 (by assignment) when saved.
 *
 * The inverse solves the bin's quadratic a xi^2 + b xi + c = 0 by xi = 2c / (-b - sqrt(b^2 - 4ac))
 * and differentiates implicitly: with F the forward map at the solution, dx/dy = 1 / F_x,
 * dx/dtheta = -F_theta / F_x, and for its log-derivative -L: d(-L)/dtheta = -(L_theta + L_x dx/dtheta).
 *
 * Inference mode (a tape with gradients disabled): only the values and log-derivatives are computed;
 * the softmaxes go to per-chunk scratch and no partials are formed or saved.
 *
 * Safety: an element is inside when -B <= in <= B; the inside branch is computed only there, on the
 * input clamped into [-B, B] (and xi clamped into [0, 1]); tail elements get out = in, ladj = 0,
 * partials (1, 0, ...) by selection, so nothing computed for one branch reaches the other. Every
 * quantity the inside branch divides by is bounded away from 0 by the minimum width, height and
 * slope. All arithmetic is in double; values are rounded once when stored.
 */
#include <math.h>
#include <string.h>
#include "ad/ad_internal.h"
#include "varflow/vf_spline.h"

#if VF_HAVE_OPENMP
#define RQ_OMP_FOR(nchunk) _Pragma("omp parallel for schedule(static) if(nchunk > 1) num_threads(vf__threads())")
#else
#define RQ_OMP_FOR(nchunk)
#endif

#if defined(__GNUC__)
#define RQ_NOINLINE __attribute__((noinline))
#else
#define RQ_NOINLINE
#endif

#define RQ_CHUNK 1024 /* elements per thread task */

/* exp(x) for x <= 0, branch-free so the softmax loop vectorizes (libm's exp is a call per element
 * and was most of the op's time). x = k ln2 + r with k = round(x / ln2) (by adding 1.5 * 2^52,
 * whose double then holds k in its low bits), |r| <= ln2/2, ln2 split as fdlibm's ln2_hi + ln2_lo so
 * k ln2_hi is exact; exp(r) by its Taylor series to r^13 (truncation below 5e-18 relative); 2^k
 * built from its exponent bits. x is raised to -708 first (2^k stays normal; exp(-708) = 3e-308
 * stands for anything smaller, immaterial next to the other softmax terms, which include 1).
 * NaN passes through the polynomial as NaN. Relative error: a few ulps. */
static inline double rq_exp(double x)
{
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    x = x < -708.0 ? -708.0 : x;
    double t = x * 1.4426950408889634074 + shifter;
    double kf = t - shifter;
    double r = x - kf * 6.93147180369123816490e-01;
    r = r - kf * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;  /* 1/13! */
    p = p * r + 1.0 / 479001600.0;  /* 1/12! */
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int64_t tb, sb;
    const double shift_d = shifter;
    memcpy(&tb, &t, sizeof tb);
    memcpy(&sb, &shift_d, sizeof sb);
    int64_t k = tb - sb;
    uint64_t eb = (uint64_t)(k + 1023) << 52;
    double scale;
    memcpy(&scale, &eb, sizeof scale);
    return p * scale;
}

typedef struct rq_conf {
    int64_t K;
    double bound, min_w, min_h, min_d, shift;
} rq_conf;

typedef struct rq_elem {
    double py[7];   /* d out / d (in, X_k, X_{k+1}, Y_k, Y_{k+1}, ud_{k-1}, ud_k) */
    double pl[7];   /* d ladj / d (the same) */
    int64_t bin;    /* k, or -1 in a tail */
} rq_elem;

/* Where element i's widths, heights or slopes are: input `input`'s values (or gradients, tangents)
 * + offset + i * stride. Separate tensors have stride K (or K - 1); one packed tensor has stride 3K - 1. */
typedef struct rq_params_at {
    int input;
    int64_t offset, stride;
} rq_params_at;

typedef struct rq_state {
    rq_conf c;
    int inverse;
    int saved;      /* 0 on a tape in inference mode: el, sw, sh are per-chunk scratch, no partials */
    int64_t m;      /* elements */
    rq_params_at pw, ph, pd;
    rq_elem *el;    /* [m] (saved) */
    double *sw;     /* [m, K] softmax(uw) (saved), else [nchunk, K] scratch */
    double *sh;     /* [m, K] softmax(uh) (saved), else [nchunk, K] scratch */
    double *knots;  /* [nchunk, 2 (K + 1)] scratch for the forward */
    vf_real *ladj;  /* [m] */
    const vf_real *ladj_grad;  /* during a backward pass: the log-derivative node's adjoint, handed to
                                * the value node's VJP (which runs next) so one pass serves both */
    uint64_t ladj_pass;        /* the tape's backward pass that left ladj_grad */
} rq_state;

/* ---- one element's spline ------------------------------------------------------------------ */
/* s [K] = softmax(u [K]), in double, shifted by the maximum. Compiled for several vector widths
 * (VF_HOT); the op and vf_rq_spline_knots call the same function, so they round identically. */
static VF_HOT void rq_softmax(const vf_real *u, int64_t K, double *s)
{
    double mx = (double)u[0], sum = 0.0;
    for (int64_t j = 1; j < K; j++)
        if ((double)u[j] > mx) mx = (double)u[j];
    for (int64_t j = 0; j < K; j++) s[j] = rq_exp((double)u[j] - mx);
    for (int64_t j = 0; j < K; j++) sum += s[j];
    double inv = 1.0 / sum;
    for (int64_t j = 0; j < K; j++) s[j] *= inv;
}

/* knot [K+1] from s [K]: knot_0 = -B, knot_k = -B + 2B sum_{j<k} (m + (1 - K m) s_j), knot_K = B.
 * Not inlined, so the op and vf_rq_spline_knots round identically. */
static RQ_NOINLINE void rq_knots(const double *s, int64_t K, double minv, double B, double *knot)
{
    double scale = 1.0 - (double)K * minv, c = 0.0;
    knot[0] = -B;
    for (int64_t j = 0; j + 1 < K; j++) {
        c += minv + scale * s[j];
        knot[j + 1] = -B + 2.0 * B * c;
    }
    knot[K] = B;
}

/* Interior slope D = m_d + softplus(u + shift) and dD/du = sigmoid(u + shift), overflow-free:
 * softplus(z) = max(z, 0) + log1p(e), e = exp(-|z|) in (0, 1], with log1p(e) = log(1 + e) (absolute
 * error 1e-16, the double log being much faster than log1p) or, for e < 1e-5 where that would lose
 * relative accuracy, e (1 - e (1/2 - e/3)) (relative truncation below 3e-11). */
static void rq_slope(double u, const rq_conf *c, double *D, double *sig)
{
    double z = u + c->shift, ez = exp(-fabs(z)); /* scalar: libm beats the polynomial here */
    double lp = ez < 1e-5 ? ez * (1.0 - ez * (0.5 - ez / 3.0)) : log(1.0 + ez);
    *D = c->min_d + (z > 0 ? z : 0.0) + lp;
    *sig = z >= 0 ? 1.0 / (1.0 + ez) : ez / (1.0 + ez);
}

/* Largest k in [0, K-1] with knot[k] <= v (v in [knot_0, knot_K]). */
static int64_t rq_search(const double *knot, int64_t K, double v)
{
    int64_t lo = 0, hi = K;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (knot[mid] <= v) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* The forward map in one bin at relative position xi in [0, 1], bin width w, knot heights yk, yk1,
 * end slopes d0, d1: the output y, L = log dy/dx, and their partials with respect to
 * (x, X_k, X_{k+1}, Y_k, Y_{k+1}, D_k, D_{k+1}). y is evaluated from the nearer knot, so xi = 0
 * and xi = 1 give the knot heights exactly. With e = xi (1 - xi), s = h / w:
 *   y = Y_k + h N / Den,  N = s xi^2 + d0 e,  Den = s + (d0 + d1 - 2s) e,  Den - N = (1-xi)(s(1-xi) + d1 xi)
 *   dy/dx = s^2 G / Den^2,  G = d1 xi^2 + 2 s e + d0 (1 - xi)^2. */
static void rq_bin(double xi, double w, double yk, double yk1, double d0, double d1, double *y, double *lad,
                   double *py, double *pl)
{
    double h = yk1 - yk, s = h / w, om = 1.0 - xi, e = xi * om, tt = d0 + d1 - 2.0 * s;
    double den = s + tt * e;
    double nl = xi * (s * xi + d0 * om); /* N */
    double nr = om * (s * om + d1 * xi); /* Den - N */
    double iden = 1.0 / den, iden2 = iden * iden;
    *y = xi < 0.5 ? yk + h * (nl * iden) : yk1 - h * (nr * iden);
    double g = d1 * xi * xi + 2.0 * s * e + d0 * om * om;
    double q = s * iden, dydx = q * q * g;
    *lad = log(dydx);
    if (!py) return; /* inference: the value and its log-derivative only */
    /* R = N / Den and its partials in xi (through dy/dx), s, d0, d1 */
    double r = nl * iden;
    double r_s = (xi * xi * den - nl * (1.0 - 2.0 * e)) * iden2;
    double y_w = -xi * dydx - s * s * r_s; /* d y / d w at fixed x, X_k, h */
    double y_h = r + s * r_s;              /* d y / d h at fixed x, X_k, Y_k, w */
    py[0] = dydx;
    py[1] = -dydx - y_w;
    py[2] = y_w;
    py[3] = 1.0 - y_h;
    py[4] = y_h;
    py[5] = h * e * nr * iden2;
    py[6] = -h * e * nl * iden2;
    /* L = 2 log s + log G - 2 log Den */
    double ig = 1.0 / g;
    double g_xi = 2.0 * (d1 * xi + s * (1.0 - 2.0 * xi) - d0 * om);
    double l_xi = g_xi * ig - 2.0 * tt * (1.0 - 2.0 * xi) * iden;
    double l_s = 2.0 / s + 2.0 * e * ig - 2.0 * (1.0 - 2.0 * e) * iden;
    double l_w = -(xi * l_xi + s * l_s) / w;
    double l_h = l_s / w;
    pl[0] = l_xi / w;
    pl[1] = -l_xi / w - l_w;
    pl[2] = l_w;
    pl[3] = -l_h;
    pl[4] = l_h;
    pl[5] = om * om * ig - 2.0 * e * iden;
    pl[6] = xi * xi * ig - 2.0 * e * iden;
}

/* Element i: out, ladj and the saved partials. kx, ky: scratch [K+1] each. sw, sh: [K] to fill. */
static void rq_element(const rq_conf *c, int inverse, double v, const vf_real *uw, const vf_real *uh,
                       const vf_real *ud, double *sw, double *sh, double *kx, double *ky, double *out,
                       double *ladj, rq_elem *el, int partials)
{
    const int64_t K = c->K;
    const double B = c->bound;
    if (!(v >= -B && v <= B)) { /* tail (or NaN): identity, selected */
        *out = v;
        *ladj = 0.0;
        if (!partials) return;
        memset(el, 0, sizeof *el);
        el->py[0] = 1.0;
        el->bin = -1;
        return;
    }
    double vc = v < -B ? -B : v > B ? B : v; /* clamped before any arithmetic */
    rq_softmax(uw, K, sw);
    rq_softmax(uh, K, sh);
    rq_knots(sw, K, c->min_w, B, kx);
    rq_knots(sh, K, c->min_h, B, ky);
    int64_t k = rq_search(inverse ? ky : kx, K, vc);
    double d0 = 1.0, d1 = 1.0, sig0 = 0.0, sig1 = 0.0;
    if (k > 0) rq_slope((double)ud[k - 1], c, &d0, &sig0);
    if (k + 1 < K) rq_slope((double)ud[k], c, &d1, &sig1);
    double xk = kx[k], xk1 = kx[k + 1], w = xk1 - xk, y, lad;
    double *py = partials ? el->py : NULL, *pl = el->pl;
    if (!inverse) {
        double xi = (vc - xk) / w;
        xi = xi > 0.0 ? (xi < 1.0 ? xi : 1.0) : 0.0;
        rq_bin(xi, w, ky[k], ky[k + 1], d0, d1, &y, &lad, py, pl);
        *out = y;
        *ladj = lad;
    } else {
        double yk = ky[k], h = ky[k + 1] - yk, s = h / w, tt = d0 + d1 - 2.0 * s, dl = vc - yk;
        double a = h * (s - d0) + dl * tt, b = h * d0 - dl * tt, cc = -s * dl;
        double disc = b * b - 4.0 * a * cc;
        if (!(disc > 0.0)) disc = 0.0;
        double dn = -b - sqrt(disc);
        double xi = dn < 0.0 ? 2.0 * cc / dn : 0.0;
        xi = xi > 0.0 ? (xi < 1.0 ? xi : 1.0) : 0.0;
        if (dl >= h) xi = 1.0; /* the upper knot (only B itself lands there) maps exactly */
        rq_bin(xi, w, yk, ky[k + 1], d0, d1, &y, &lad, py, pl);
        *out = xi < 0.5 ? xk + xi * w : xk1 - (1.0 - xi) * w;
        *ladj = -lad;
        if (!partials) return;
        /* implicit differentiation of F(x, theta) = y */
        double ifx = 1.0 / py[0], lx = pl[0];
        py[0] = ifx;
        pl[0] = -lx * ifx;
        for (int j = 1; j < 7; j++) {
            py[j] = -py[j] * ifx;
            pl[j] = -(pl[j] + lx * py[j]);
        }
    }
    if (!partials) return;
    /* constants: the end knots and end slopes; slopes through the softplus */
    if (k == 0) {
        py[1] = py[3] = py[5] = 0.0;
        pl[1] = pl[3] = pl[5] = 0.0;
    } else {
        py[5] *= sig0;
        pl[5] *= sig0;
    }
    if (k + 1 == K) {
        py[2] = py[4] = py[6] = 0.0;
        pl[2] = pl[4] = pl[6] = 0.0;
    } else {
        py[6] *= sig1;
        pl[6] *= sig1;
    }
    el->bin = k;
}

/* ---- softmax-and-cumsum chain for knots k and k+1 -------------------------------------------- */
/* gu [K] += d/du of (a X_k + b X_{k+1}) / c_w, given s = softmax(u): s_j ((a [j<k] + b [j<=k]) - mean). */
static void rq_knot_vjp(vf_real *gu, const double *s, int64_t K, int64_t k, double a, double b)
{
    double sk = 0.0;
    for (int64_t j = 0; j < k; j++) sk += s[j];
    double mean = a * sk + b * (sk + s[k]);
    for (int64_t j = 0; j < K; j++) {
        double gs = (j < k ? a : 0.0) + (j <= k ? b : 0.0);
        gu[j] += (vf_real)(s[j] * (gs - mean));
    }
}

/* Tangents of X_k and X_{k+1} (divided by c_w) from the tangent tu [K] of the logits. */
static void rq_knot_jvp(const vf_real *tu, const double *s, int64_t K, int64_t k, double *ta, double *tb)
{
    double tot = 0.0, pk = 0.0, sk = 0.0;
    for (int64_t j = 0; j < K; j++) {
        double st = s[j] * (double)tu[j];
        tot += st;
        if (j < k) {
            pk += st;
            sk += s[j];
        }
    }
    double pk1 = pk + s[k] * (double)tu[k], sk1 = sk + s[k];
    *ta = pk - sk * tot;
    *tb = pk1 - sk1 * tot;
}

/* ---- kernels --------------------------------------------------------------------------------- */
static int64_t rq_nchunk(int64_t m) { return (m + RQ_CHUNK - 1) / RQ_CHUNK; }

static vf_status rq_fwd(vf_tape *t, vf_node *n)
{
    rq_state *st = n->aux;
    const int64_t K = st->c.K, m = st->m, nchunk = rq_nchunk(m);
    const vf_real *x = vf__in(t, n, 0)->value.data;
    const vf_real *uw = vf__in(t, n, st->pw.input)->value.data + st->pw.offset;
    const vf_real *uh = vf__in(t, n, st->ph.input)->value.data + st->ph.offset;
    const vf_real *ud = vf__in(t, n, st->pd.input)->value.data + st->pd.offset;
    const int64_t sw_ = st->pw.stride, sh_ = st->ph.stride, sd_ = st->pd.stride;
    vf_real *y = n->value.data;
    RQ_OMP_FOR(nchunk)
    for (int64_t ch = 0; ch < nchunk; ch++) {
        double *kx = st->knots + ch * 2 * (K + 1), *ky = kx + K + 1;
        int64_t end = VF_MIN(m, (ch + 1) * RQ_CHUNK);
        rq_elem scratch;
        for (int64_t i = ch * RQ_CHUNK; i < end; i++) {
            double out, lad;
            /* saved: element i's own slots; inference: the chunk's scratch */
            int64_t slot = st->saved ? i : ch;
            rq_element(&st->c, st->inverse, (double)x[i], uw + i * sw_, uh + i * sh_, K > 1 ? ud + i * sd_ : NULL,
                       st->sw + slot * K, st->sh + slot * K, kx, ky, &out, &lad, st->saved ? &st->el[i] : &scratch,
                       st->saved);
            y[i] = (vf_real)out;
            st->ladj[i] = (vf_real)lad;
        }
    }
    return VF_OK;
}

/* Adds g[i] * (partials `which` of element i) into the grads of x, uw, uh, ud. */
/* Adds g_y[i] * (partials of the value) + g_l[i] * (partials of the log-derivative) of element i
 * into the grads of x and of the widths, heights and slopes (g_l may be NULL). */
static void rq_vjp_common(vf_tape *t, vf_node *n, const vf_real *g_y, const vf_real *g_l)
{
    const rq_state *st = n->aux;
    const int64_t K = st->c.K, m = st->m, nchunk = rq_nchunk(m);
    const double cw = 2.0 * st->c.bound * (1.0 - (double)K * st->c.min_w);
    const double chh = 2.0 * st->c.bound * (1.0 - (double)K * st->c.min_h);
    vf_real *gx = vf__in(t, n, 0)->grad, *gw = vf__in(t, n, st->pw.input)->grad;
    vf_real *gh = vf__in(t, n, st->ph.input)->grad, *gd = vf__in(t, n, st->pd.input)->grad;
    const int64_t sw_ = st->pw.stride, sh_ = st->ph.stride, sd_ = st->pd.stride;
    if (gw) gw += st->pw.offset;
    if (gh) gh += st->ph.offset;
    if (gd) gd += st->pd.offset;
    RQ_OMP_FOR(nchunk)
    for (int64_t ch = 0; ch < nchunk; ch++) {
        int64_t end = VF_MIN(m, (ch + 1) * RQ_CHUNK);
        for (int64_t i = ch * RQ_CHUNK; i < end; i++) {
            const rq_elem *el = &st->el[i];
            double gy = (double)g_y[i], gl = g_l ? (double)g_l[i] : 0.0, q[7];
            for (int j = 0; j < 7; j++) q[j] = gy * el->py[j] + gl * el->pl[j];
            if (gx) gx[i] += (vf_real)q[0];
            int64_t k = el->bin;
            if (k < 0) continue;
            if (gw) rq_knot_vjp(gw + i * sw_, st->sw + i * K, K, k, cw * q[1], cw * q[2]);
            if (gh) rq_knot_vjp(gh + i * sh_, st->sh + i * K, K, k, chh * q[3], chh * q[4]);
            if (gd) {
                if (k > 0) gd[i * sd_ + k - 1] += (vf_real)q[5];
                if (k + 1 < K) gd[i * sd_ + k] += (vf_real)q[6];
            }
        }
    }
}

/* Writes the tangent of output `which` from the inputs' tangents (NULL: zero). */
static void rq_jvp_common(vf_tape *t, vf_node *n, int which)
{
    const rq_state *st = n->aux;
    const int64_t K = st->c.K, m = st->m, nchunk = rq_nchunk(m);
    const double cw = 2.0 * st->c.bound * (1.0 - (double)K * st->c.min_w);
    const double chh = 2.0 * st->c.bound * (1.0 - (double)K * st->c.min_h);
    const vf_real *tx = vf__in(t, n, 0)->tangent, *tw = vf__in(t, n, st->pw.input)->tangent;
    const vf_real *th = vf__in(t, n, st->ph.input)->tangent, *td = vf__in(t, n, st->pd.input)->tangent;
    const int64_t sw_ = st->pw.stride, sh_ = st->ph.stride, sd_ = st->pd.stride;
    if (tw) tw += st->pw.offset;
    if (th) th += st->ph.offset;
    if (td) td += st->pd.offset;
    vf_real *ty = n->tangent;
    RQ_OMP_FOR(nchunk)
    for (int64_t ch = 0; ch < nchunk; ch++) {
        int64_t end = VF_MIN(m, (ch + 1) * RQ_CHUNK);
        for (int64_t i = ch * RQ_CHUNK; i < end; i++) {
            const rq_elem *el = &st->el[i];
            const double *p = which ? el->pl : el->py;
            double acc = tx ? p[0] * (double)tx[i] : 0.0;
            int64_t k = el->bin;
            if (k >= 0) {
                double ta, tb;
                if (tw) {
                    rq_knot_jvp(tw + i * sw_, st->sw + i * K, K, k, &ta, &tb);
                    acc += cw * (p[1] * ta + p[2] * tb);
                }
                if (th) {
                    rq_knot_jvp(th + i * sh_, st->sh + i * K, K, k, &ta, &tb);
                    acc += chh * (p[3] * ta + p[4] * tb);
                }
                if (td) {
                    if (k > 0) acc += p[5] * (double)td[i * sd_ + k - 1];
                    if (k + 1 < K) acc += p[6] * (double)td[i * sd_ + k];
                }
            }
            ty[i] = (vf_real)acc;
        }
    }
}

/* The log-derivative node comes after the value node on the tape, so its VJP runs first: it only
 * leaves its adjoint in the state, and the value node's VJP does both in one pass. */
static void rq_vjp(vf_tape *t, vf_node *n)
{
    rq_state *st = n->aux;
    rq_vjp_common(t, n, n->grad, st->ladj_pass == t->backward_pass ? st->ladj_grad : NULL);
    st->ladj_grad = NULL;
}
static void rq_jvp(vf_tape *t, vf_node *n) { rq_jvp_common(t, n, 0); }

static vf_status rq_ladj_fwd(vf_tape *t, vf_node *n)
{
    (void)t;
    const rq_state *st = n->aux;
    if (st->m) memcpy(n->value.data, st->ladj, (size_t)st->m * sizeof(vf_real));
    return VF_OK;
}
static void rq_ladj_vjp(vf_tape *t, vf_node *n)
{
    rq_state *st = n->aux;
    st->ladj_grad = n->grad;
    st->ladj_pass = t->backward_pass;
}
static void rq_ladj_jvp(vf_tape *t, vf_node *n) { rq_jvp_common(t, n, 1); }

static const vf_op_def rq_op = {"rq_spline", rq_fwd, rq_vjp, rq_jvp};
static const vf_op_def rq_ladj_op = {"rq_spline_ladj", rq_ladj_fwd, rq_ladj_vjp, rq_ladj_jvp};

/* ---- arguments ------------------------------------------------------------------------------- */
vf_rq_spline_options vf_rq_spline_default_options(void)
{
    vf_rq_spline_options o;
    o.min_bin_width = 1e-3;
    o.min_bin_height = 1e-3;
    o.min_derivative = 1e-3;
    o.identity_at_zero = 0;
    return o;
}

/* Fills c from the options; VF_OK or VF_ERR_ARG with a message. */
static vf_status rq_config(const vf_rq_spline_options *opt, int64_t K, double bound, rq_conf *c)
{
    vf_rq_spline_options o = opt ? *opt : vf_rq_spline_default_options();
    if (K < 1) return vf__error(VF_ERR_ARG, "rq_spline: %lld bins (need at least 1)", (long long)K);
    if (!(bound > 0) || !isfinite(bound))
        return vf__error(VF_ERR_ARG, "rq_spline: bound %g must be positive and finite", bound);
    if (!(o.min_bin_width > 0) || !((double)K * o.min_bin_width < 1))
        return vf__error(VF_ERR_ARG, "rq_spline: min_bin_width %g must be > 0 with %lld bins times it < 1",
                         o.min_bin_width, (long long)K);
    if (!(o.min_bin_height > 0) || !((double)K * o.min_bin_height < 1))
        return vf__error(VF_ERR_ARG, "rq_spline: min_bin_height %g must be > 0 with %lld bins times it < 1",
                         o.min_bin_height, (long long)K);
    if (o.identity_at_zero != 0 && o.identity_at_zero != 1)
        return vf__error(VF_ERR_ARG, "rq_spline: identity_at_zero is %d (0 or 1)", o.identity_at_zero);
    if (!(o.min_derivative > 0) || !isfinite(o.min_derivative) || (o.identity_at_zero && !(o.min_derivative < 1)))
        return vf__error(VF_ERR_ARG, "rq_spline: min_derivative %g must be > 0 (and < 1 with identity_at_zero)",
                         o.min_derivative);
    c->K = K;
    c->bound = bound;
    c->min_w = o.min_bin_width;
    c->min_h = o.min_bin_height;
    c->min_d = o.min_derivative;
    c->shift = o.identity_at_zero ? log(expm1(1.0 - o.min_derivative)) : 0.0;
    return VF_OK;
}

/* Number of values per element of x that p holds: p's shape is S + [k] or S with the last extent
 * times k. -1 when neither fits. */
static int64_t rq_per_element(const vf_tensor *x, const vf_tensor *p)
{
    int nx = x->ndim;
    if (p->ndim == nx + 1) {
        for (int i = 0; i < nx; i++)
            if (p->shape[i] != x->shape[i]) return -1;
        return p->shape[nx];
    }
    if (p->ndim == nx && nx >= 1) {
        for (int i = 0; i + 1 < nx; i++)
            if (p->shape[i] != x->shape[i]) return -1;
        int64_t d = x->shape[nx - 1];
        if (d <= 0 || p->shape[nx - 1] % d) return -1;
        return p->shape[nx - 1] / d;
    }
    return -1;
}

static vf_var rq_shape_error(vf_tape *t, const char *what, const vf_tensor *p, const vf_tensor *x, const char *per)
{
    char sp[64], sx[64];
    vf_tensor_shape_str(p, sp, sizeof sp);
    vf_tensor_shape_str(x, sx, sizeof sx);
    return vf__fail(t, VF_ERR_SHAPE, "rq_spline: %s has shape %s; for x of shape %s it must be x's shape + [%s] "
                    "or x's shape with the last extent times %s", what, sp, sx, per, per);
}

/* Pushes the spline node (and the log-derivative node when ladj is wanted) on inputs in[0..n_in): x
 * first, the parameters where pw, ph, pd say. The shapes are checked by the callers. */
static vf_var rq_push(vf_tape *t, int n_in, const vf_var *in, const rq_conf *c, int inverse, rq_params_at pw,
                      rq_params_at ph, rq_params_at pd, vf_var *ladj)
{
    vf_tensor tx = vf__node(t, in[0])->value;
    int64_t K = c->K, m = vf_tensor_numel(&tx), nchunk = rq_nchunk(m);
    rq_state *st = vf__tape_alloc(t, sizeof *st);
    if (!st) return VF_NOVAR;
    st->c = *c;
    st->inverse = inverse;
    st->saved = !t->no_grad;
    st->ladj_grad = NULL;
    st->ladj_pass = 0;
    st->m = m;
    st->pw = pw;
    st->ph = ph;
    st->pd = pd;
    /* saved state per element, or per chunk in inference mode */
    size_t slots = st->saved ? (size_t)(m ? m : 1) : (size_t)(nchunk ? nchunk : 1), m1 = m ? (size_t)m : 1;
    st->el = st->saved ? vf__tape_alloc(t, slots * sizeof *st->el) : NULL;
    st->sw = (st->el || !st->saved) ? vf__tape_alloc(t, slots * (size_t)K * sizeof(double)) : NULL;
    st->sh = st->sw ? vf__tape_alloc(t, slots * (size_t)K * sizeof(double)) : NULL;
    st->knots = st->sh ? vf__tape_alloc(t, (size_t)(nchunk ? nchunk : 1) * 2 * (size_t)(K + 1) * sizeof(double)) : NULL;
    st->ladj = st->knots ? vf__tape_alloc(t, m1 * sizeof(vf_real)) : NULL;
    if (!st->ladj) return VF_NOVAR;

    vf_var y = vf__push(t, &rq_op, n_in, in, tx.ndim, tx.shape);
    if (y == VF_NOVAR) return y;
    vf__node(t, y)->aux = st;
    y = vf__run(t, y);
    if (y == VF_NOVAR || !ladj) return y;
    vf_var l = vf__push(t, &rq_ladj_op, n_in, in, tx.ndim, tx.shape);
    if (l == VF_NOVAR) return VF_NOVAR;
    vf__node(t, l)->aux = st;
    l = vf__run(t, l);
    if (l == VF_NOVAR) return VF_NOVAR;
    *ladj = l;
    return y;
}

vf_var vf_rq_spline(vf_tape *t, vf_var x, vf_var uw, vf_var uh, vf_var ud, double bound, int inverse,
                    const vf_rq_spline_options *opt, vf_var *ladj)
{
    vf_var in[4] = {x, uw, uh, ud};
    if (ladj) *ladj = VF_NOVAR;
    if (!vf__ok(t, "rq_spline", 4, in)) return VF_NOVAR;
    vf_tensor tx = vf__node(t, x)->value, tw = vf__node(t, uw)->value;
    vf_tensor th = vf__node(t, uh)->value, td = vf__node(t, ud)->value;
    if (tx.ndim < 1 || tx.ndim > VF_MAX_DIMS - 1)
        return vf__fail(t, VF_ERR_SHAPE, "rq_spline: x has %d dimensions (1 to %d)", tx.ndim, VF_MAX_DIMS - 1);
    int64_t K = rq_per_element(&tx, &tw);
    if (K < 1) return rq_shape_error(t, "uw", &tw, &tx, "K");
    if (!vf_tensor_same_shape(&tw, &th)) return rq_shape_error(t, "uh (which must match uw)", &th, &tx, "K");
    if (rq_per_element(&tx, &td) != K - 1) return rq_shape_error(t, "ud", &td, &tx, "(K-1)");
    if (inverse != 0 && inverse != 1) return vf__fail(t, VF_ERR_ARG, "rq_spline: inverse is %d (0 or 1)", inverse);
    rq_conf c = {0};
    if (rq_config(opt, K, bound, &c) != VF_OK) return vf__fail(t, VF_ERR_ARG, "%s", vf_last_error());
    rq_params_at pw = {1, 0, K}, ph = {2, 0, K}, pd = {3, 0, K - 1};
    return rq_push(t, 4, in, &c, inverse, pw, ph, pd, ladj);
}

vf_var vf_rq_spline_packed(vf_tape *t, vf_var x, vf_var theta, int64_t bins, double bound, int inverse,
                           const vf_rq_spline_options *opt, vf_var *ladj)
{
    vf_var in[2] = {x, theta};
    if (ladj) *ladj = VF_NOVAR;
    if (!vf__ok(t, "rq_spline", 2, in)) return VF_NOVAR;
    vf_tensor tx = vf__node(t, x)->value, tp = vf__node(t, theta)->value;
    if (tx.ndim < 1 || tx.ndim > VF_MAX_DIMS - 1)
        return vf__fail(t, VF_ERR_SHAPE, "rq_spline: x has %d dimensions (1 to %d)", tx.ndim, VF_MAX_DIMS - 1);
    if (bins < 1 || bins > (1 << 20)) return vf__fail(t, VF_ERR_ARG, "rq_spline: %lld bins (1 to 2^20)", (long long)bins);
    int64_t K = bins, per = 3 * K - 1;
    if (rq_per_element(&tx, &tp) != per) return rq_shape_error(t, "theta", &tp, &tx, "(3K-1)");
    if (inverse != 0 && inverse != 1) return vf__fail(t, VF_ERR_ARG, "rq_spline: inverse is %d (0 or 1)", inverse);
    rq_conf c = {0};
    if (rq_config(opt, K, bound, &c) != VF_OK) return vf__fail(t, VF_ERR_ARG, "%s", vf_last_error());
    rq_params_at pw = {1, 0, per}, ph = {1, K, per}, pd = {1, 2 * K, per};
    return rq_push(t, 2, in, &c, inverse, pw, ph, pd, ladj);
}

vf_status vf_rq_spline_knots(const vf_real *uw, const vf_real *uh, const vf_real *ud, int64_t K, double bound,
                             const vf_rq_spline_options *opt, double *kx, double *ky, double *kd)
{
    rq_conf c = {0};
    vf_status s = rq_config(opt, K, bound, &c);
    if (s != VF_OK) return s;
    if (!uw || !uh || (K > 1 && !ud) || !kx || !ky || !kd)
        return vf__error(VF_ERR_ARG, "rq_spline_knots: NULL array");
    /* the softmaxes go through ky / kd as scratch before the knots overwrite them */
    rq_softmax(uw, K, kd);
    rq_knots(kd, K, c.min_w, bound, kx);
    rq_softmax(uh, K, kd);
    rq_knots(kd, K, c.min_h, bound, ky);
    kd[0] = kd[K] = 1.0;
    for (int64_t k = 1; k < K; k++) {
        double sig;
        rq_slope((double)ud[k - 1], &c, &kd[k], &sig);
    }
    return VF_OK;
}
