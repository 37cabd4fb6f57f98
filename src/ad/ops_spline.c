/* ops_spline.c — the rational-quadratic spline (vf_spline.h) as two tape nodes sharing one state.
 *
 * Usage: through vf_rq_spline / vf_rq_spline_packed (vf_spline.h); this file holds their kernels.
 *
 * Node 1 ("rq_spline", inputs x, uw, uh, ud; or x, theta for vf_rq_spline_packed, the state then
 * addressing widths, heights and slopes inside theta by offset and stride) computes everything at
 * once: the softmaxes of the width and height logits, the knots, the bin, the output, log|d out / d in|,
 * and the partial derivatives of both with respect to the seven local quantities
 * p = (in, X_k, X_{k+1}, Y_k, Y_{k+1}, ud_{k-1}, ud_k). It saves the partials, the bin and the
 * softmaxes in an rq_state (tape memory). Node 2 ("rq_spline_ladj", the same inputs) only copies
 * the saved log-derivatives; its VJP and JVP use the same state with the log-derivative's partials.
 *
 * Blocks. Elements go through in blocks of RQ_LANES, stored as structure of arrays ([K][lanes]:
 * row j holds bin j of every element of the block), so that every step is a loop over lanes that
 * the compiler vectorizes (VF_HOT compiles it for several vector widths):
 *   1. the block's width and height logits are copied into [K][lanes] rows (padding lanes get 0);
 *   2. softmax over the rows, with the exponential of vmath.h, in double;
 *   3. the knots by a running sum, in double;
 *   4. the bin by counting the knots <= the input, then its knots picked row by row; no binary
 *      search, no branches;
 *   5. the bin's two slope logits are read by index and put through the softplus (in vf_real);
 *   6. the rational-quadratic formula, its log-derivative and the partials, in double.
 * Only step 5 runs in float in the float build (a slope is a per-element constant, so its rounding
 * cannot break monotonicity); everything that depends on the input runs in double and is rounded
 * once, so the map stays monotone. The partials are saved in vf_real.
 *
 * Backward from the locals to the logits is closed form: X_k = -B + 2B (k m_w + (1 - K m_w) S_k)
 * with S_k = sum_{j<k} softmax(uw)_j, so d X_k / d uw_j = c_w s_j ([j < k] - S_k) with
 * c_w = 2B (1 - K m_w), and likewise for heights; D_k = m_d + softplus(ud_{k-1} + shift) has
 * d D_k / d ud_{k-1} = sigmoid(ud_{k-1} + shift). The first and last knots and slopes are
 * constants: their partials are set to 0 (by selection) when saved.
 *
 * The inverse solves the bin's quadratic a xi^2 + b xi + c = 0 by xi = 2c / (-b - sqrt(b^2 - 4ac))
 * and differentiates implicitly: with F the forward map at the solution, dx/dy = 1 / F_x,
 * dx/dtheta = -F_theta / F_x, and for its log-derivative -L: d(-L)/dtheta = -(L_theta + L_x dx/dtheta).
 *
 * Inference mode (a tape with gradients disabled): only the values and log-derivatives are computed;
 * the softmaxes go to per-chunk scratch and no partials are formed or saved.
 *
 * Safety: an element is inside when -B <= in <= B. The formula runs on every lane, on the input
 * clamped into [-B, B] (a tail or NaN input is replaced by -B before any arithmetic; xi is clamped
 * into [0, 1]); tail lanes then get out = in, ladj = 0, partials (1, 0, ...) by selection, so nothing
 * computed for one branch reaches the other, and the backward pass adds nothing for them. Every
 * quantity the formula divides by is bounded away from 0 by the minimum width, height and slope.
 */
#include <math.h>
#include <string.h>
#include "ad/ad_internal.h"
#include "ad/vmath.h"
#include "varflow/vf_spline.h"

#if VF_HAVE_OPENMP
#define RQ_OMP_FOR(nchunk) _Pragma("omp parallel for schedule(static) if(nchunk > 1) num_threads(vf__threads())")
#else
#define RQ_OMP_FOR(nchunk)
#endif

#define RQ_LANES 16   /* elements per block: two AVX2 vectors of floats, four of doubles */
#define RQ_CHUNK 1024 /* elements per thread task, a multiple of RQ_LANES */

/* The softmaxes are computed and saved in double in both builds: in float, the rounding of
 * u_j - max alone moves the knots by 1e-7 B, which reaches the log-derivative as 1e-4 where bins are
 * narrow (1 / w large). */
typedef double rq_soft;
/* Their exponential: to the ulp in the double build; in the float build to 2.2e-10 relative
 * (vmath.h), which moves the knots by less than 1e-9 B, far below the float result's rounding. */
#if VF_USE_DOUBLE
#define RQ_EXP vf__exp_neg_d
#else
#define RQ_EXP vf__exp_neg_d_fast
#endif

typedef struct rq_conf {
    int64_t K;
    double bound, min_w, min_h, min_d, shift;
} rq_conf;

/* Where element i's widths, heights or slopes are: input `input`'s values (or gradients, tangents)
 * + offset + i * stride. Separate tensors have stride K (or K - 1); one packed tensor has stride 3K - 1. */
typedef struct rq_params_at {
    int input;
    int64_t offset, stride;
} rq_params_at;

/* Saved per block b (elements b L .. b L + L - 1, L = RQ_LANES), structure of arrays:
 * softmaxes sw, sh [K][L], partials py, pl [7][L] (d out, d ladj / d (in, X_k, X_{k+1}, Y_k,
 * Y_{k+1}, ud_{k-1}, ud_k)), bins [L] (k, or -1 in a tail). */
typedef struct rq_state {
    rq_conf c;
    int inverse;
    int saved;      /* 0 on a tape in inference mode: sw, sh are per-chunk scratch, no partials */
    int64_t m;      /* elements */
    rq_params_at pw, ph, pd;
    rq_soft *sw;    /* [nblock, K, L] softmax(uw) (saved), else [nchunk, K, L] scratch */
    rq_soft *sh;    /* [nblock, K, L] softmax(uh) (saved), else [nchunk, K, L] scratch */
    vf_real *py;    /* [nblock, 7, L] (saved) */
    vf_real *pl;    /* [nblock, 7, L] (saved) */
    int32_t *bin;   /* [nblock, L] (saved) */
    double *work;   /* [nchunk, 2 (K + 1), L] scratch: the knots, then the backward's terms */
    vf_real *ladj;  /* [m] */
    const vf_real *ladj_grad;  /* during a backward pass: the log-derivative node's adjoint, handed to
                                * the value node's VJP (which runs next) so one pass serves both */
    uint64_t ladj_pass;        /* the tape's backward pass that left ladj_grad */
} rq_state;

/* One block's per-element quantities in double (L = RQ_LANES lanes). */
typedef struct rq_lanes {
    double x[RQ_LANES];         /* the input as given */
    double vc[RQ_LANES];        /* the input clamped into [-B, B] (-B for a tail or NaN) */
    double k[RQ_LANES];         /* bin */
    double xk[RQ_LANES], xk1[RQ_LANES], yk[RQ_LANES], yk1[RQ_LANES]; /* the bin's knots */
    vf_real u[2 * RQ_LANES];    /* slope logits ud_{k-1} then ud_k (0 where there is none) */
    double dv[2 * RQ_LANES];    /* D(u) */
    double sig[2 * RQ_LANES];   /* dD/du */
    double out[RQ_LANES], lad[RQ_LANES];
} rq_lanes;

/* ---- one block: softmax, knots, slopes (shared with vf_rq_spline_knots) ---------------------- */
/* s [K, L] <- softmax of each column of s [K, L] (logits in, probabilities out), shifted by the
 * column's maximum. L <= RQ_LANES. */
static inline __attribute__((always_inline)) void rq_softmax_lanes(rq_soft *s, int64_t K, int64_t L)
{
    rq_soft mx[RQ_LANES], sum[RQ_LANES];
    for (int64_t e = 0; e < L; e++) {
        mx[e] = s[e];
        sum[e] = 0;
    }
    /* Not unrolled: with L a constant, GCC unrolled this loop whole and kept mx in 16 scalar
     * registers (one vmaxsd per lane and row); rolled, it is one vector maximum per 8 lanes. */
    for (int64_t j = 1; j < K; j++)
#pragma GCC unroll 1
        for (int64_t e = 0; e < L; e++) mx[e] = s[j * L + e] > mx[e] ? s[j * L + e] : mx[e];
    for (int64_t j = 0; j < K; j++)
        for (int64_t e = 0; e < L; e++) {
            rq_soft q = RQ_EXP(s[j * L + e] - mx[e]);
            s[j * L + e] = q;
            sum[e] += q;
        }
    for (int64_t e = 0; e < L; e++) sum[e] = 1 / sum[e];
    for (int64_t j = 0; j < K; j++)
        for (int64_t e = 0; e < L; e++) s[j * L + e] *= sum[e];
}

static VF_HOT void rq_softmax_block(rq_soft *s, int64_t K, int64_t L) { rq_softmax_lanes(s, K, L); }
/* The same on a whole block, L = RQ_LANES: with the lane count a constant the lane loops are whole
 * vectors without masks (perf, NSF's 10k-row log-density on the Xeon: the softmaxes went from 0.24 to
 * 0.20 of the products' time). The knots have the same pair (rq_knots_full below). */
static VF_HOT void rq_softmax_full(rq_soft *s, int64_t K) { rq_softmax_lanes(s, K, RQ_LANES); }

/* knot [K+1, L] from s [K, L]: knot_0 = -B, knot_k = -B + 2B sum_{j<k} (m + (1 - K m) s_j), knot_K = B. */
static inline __attribute__((always_inline)) void rq_knots_lanes(const rq_soft *restrict s, int64_t K, int64_t L,
                                                                 double minv, double B, double *restrict knot)
{
    double scale = 1.0 - (double)K * minv, c[RQ_LANES];
    for (int64_t e = 0; e < L; e++) {
        c[e] = 0.0;
        knot[e] = -B;
        knot[K * L + e] = B;
    }
    /* The lane loop rolled, as in rq_softmax_lanes: unrolled whole (L a constant), GCC kept the
     * running sums in scalar registers. */
    for (int64_t j = 0; j + 1 < K; j++)
#pragma GCC unroll 1
        for (int64_t e = 0; e < L; e++) {
            c[e] += minv + scale * s[j * L + e];
            knot[(j + 1) * L + e] = -B + 2.0 * B * c[e];
        }
}

static VF_HOT void rq_knots_block(const rq_soft *s, int64_t K, int64_t L, double minv, double B, double *knot)
{
    rq_knots_lanes(s, K, L, minv, B, knot);
}
/* The same on a whole block, L = RQ_LANES (vector lane loops without remainders). */
static VF_HOT void rq_knots_full(const rq_soft *s, int64_t K, double minv, double B, double *knot)
{
    rq_knots_lanes(s, K, RQ_LANES, minv, B, knot);
}

/* Slopes D = m_d + softplus(u + shift) and dD/du = sigmoid(u + shift) of u [n], overflow-free:
 * softplus(z) = max(z, 0) + log1p(e) with e = exp(-|z|) in (0, 1]. In double (vf_rq_spline_knots,
 * and the op in the double build). */
static VF_HOT void rq_slopes_block_d(const vf_real *u, int64_t n, double min_d, double shift, double *D, double *sig)
{
    for (int64_t i = 0; i < n; i++) {
        double z = (double)u[i] + shift, ez = vf__exp_neg_d(-fabs(z));
        D[i] = min_d + (z > 0 ? z : 0.0) + vf__log1p_d(ez);
        sig[i] = (z >= 0 ? 1.0 : ez) / (1.0 + ez);
    }
}

#if VF_USE_DOUBLE
#define rq_slopes_block rq_slopes_block_d
#else
/* The same in float (the op in the float build: D is a per-element constant, so float rounding of
 * it cannot break monotonicity; the knots helper keeps double). */
static VF_HOT void rq_slopes_block(const float *u, int64_t n, double min_d, double shift, double *D, double *sig)
{
    const float md = (float)min_d, sh = (float)shift;
    for (int64_t i = 0; i < n; i++) {
        float z = u[i] + sh, ez = vf__exp_neg_f(-fabsf(z));
        D[i] = (double)(md + (z > 0 ? z : 0.0f) + vf__log1p_f(ez));
        sig[i] = (double)((z >= 0 ? 1.0f : ez) / (1.0f + ez));
    }
}
#endif

/* ---- one block: the bin and the formula ------------------------------------------------------ */
/* The bin of each lane: k = the number of knots knot_1 .. knot_{K-1} <= vc (knots of y when
 * inverse), the last bin whose left knot is <= vc since the knots increase; then X_k, X_{k+1}, Y_k,
 * Y_{k+1} picked by adding the one matching row to 0 (exact). Counting and adding instead of
 * selecting into the same array keeps GCC from emitting masked stores, which are slow on AMD.
 * kx, ky: [K+1, RQ_LANES]. */
static VF_HOT void rq_bin_block(const double *restrict kx, const double *restrict ky, int64_t K, int inverse,
                                rq_lanes *restrict ln)
{
    enum { L = RQ_LANES };
    const double *kn = inverse ? ky : kx;
    double k[L], xk[L], xk1[L], yk[L], yk1[L];
    for (int e = 0; e < L; e++) k[e] = K > 1 && kn[L + e] <= ln->vc[e] ? 1.0 : 0.0; /* (not a memset) */
    for (int64_t j = 2; j < K; j++)
        for (int e = 0; e < L; e++) k[e] += kn[j * L + e] <= ln->vc[e] ? 1.0 : 0.0;
    for (int e = 0; e < L; e++) {
        double hit = k[e] == 0.0 ? 1.0 : 0.0;
        xk[e] = hit * kx[e];
        xk1[e] = hit * kx[L + e];
        yk[e] = hit * ky[e];
        yk1[e] = hit * ky[L + e];
    }
    for (int64_t j = 1; j < K; j++) {
        const double *x0 = kx + j * L, *y0 = ky + j * L, jd = (double)j;
        for (int e = 0; e < L; e++) {
            double hit = k[e] == jd ? 1.0 : 0.0; /* 0 x knot stays in this lane, whose knots are finite
                                                     * unless its own parameters are not */
            xk[e] += hit * x0[e];
            xk1[e] += hit * x0[L + e];
            yk[e] += hit * y0[e];
            yk1[e] += hit * y0[L + e];
        }
    }
    memcpy(ln->k, k, sizeof k);
    memcpy(ln->xk, xk, sizeof xk);
    memcpy(ln->xk1, xk1, sizeof xk1);
    memcpy(ln->yk, yk, sizeof yk);
    memcpy(ln->yk1, yk1, sizeof yk1);
}

/* The forward map in one bin at relative position xi in [0, 1], bin width w, knot heights yk, yk1,
 * end slopes d0, d1: the output y, L = log dy/dx, and (when partials) their partials with respect to
 * (x, X_k, X_{k+1}, Y_k, Y_{k+1}, D_k, D_{k+1}). y is evaluated from the nearer knot, so xi = 0
 * and xi = 1 give the knot heights exactly. With e = xi (1 - xi), s = h / w:
 *   y = Y_k + h N / Den,  N = s xi^2 + d0 e,  Den = s + (d0 + d1 - 2s) e,  Den - N = (1-xi)(s(1-xi) + d1 xi)
 *   dy/dx = s^2 G / Den^2,  G = d1 xi^2 + 2 s e + d0 (1 - xi)^2. */
static inline void rq_formula(double xi, double w, double yk, double yk1, double d0, double d1, int partials,
                              double *y, double *lad, double *py, double *pl)
{
    double h = yk1 - yk, s = h / w, om = 1.0 - xi, e = xi * om, tt = d0 + d1 - 2.0 * s;
    double den = s + tt * e;
    double nl = xi * (s * xi + d0 * om); /* N */
    double nr = om * (s * om + d1 * xi); /* Den - N */
    double iden = 1.0 / den, iden2 = iden * iden;
    *y = xi < 0.5 ? yk + h * (nl * iden) : yk1 - h * (nr * iden);
    double g = d1 * xi * xi + 2.0 * s * e + d0 * om * om;
    double q = s * iden, dydx = q * q * g;
    *lad = vf__log_d(dydx);
    if (!partials) return; /* inference: the value and its log-derivative only */
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
    double ig = 1.0 / g, iw = 1.0 / w;
    double g_xi = 2.0 * (d1 * xi + s * (1.0 - 2.0 * xi) - d0 * om);
    double l_xi = g_xi * ig - 2.0 * tt * (1.0 - 2.0 * xi) * iden;
    double l_s = 2.0 / s + 2.0 * e * ig - 2.0 * (1.0 - 2.0 * e) * iden;
    double l_w = -(xi * l_xi + s * l_s) * iw;
    double l_h = l_s * iw;
    pl[0] = l_xi * iw;
    pl[1] = -l_xi * iw - l_w;
    pl[2] = l_w;
    pl[3] = -l_h;
    pl[4] = l_h;
    pl[5] = om * om * ig - 2.0 * e * iden;
    pl[6] = xi * xi * ig - 2.0 * e * iden;
}

/* Lane e of a block: out, ladj and (when partials) the partials p[7] of out and of ladj, given
 * the bin, its knots and slopes in ln. Branch-free (selects), so the loop over lanes vectorizes. */
static inline void rq_lane(rq_lanes *ln, int e, double B, double K, int inverse, int partials, double *py,
                           double *pl)
{
    double k = ln->k[e], vc = ln->vc[e], xk = ln->xk[e], xk1 = ln->xk1[e], yk = ln->yk[e], yk1 = ln->yk1[e];
    int first = k == 0.0, last = k + 1.0 == K;
    double d0 = first ? 1.0 : ln->dv[e], d1 = last ? 1.0 : ln->dv[RQ_LANES + e];
    double w = xk1 - xk, xi, y, lad;
    if (!inverse) {
        xi = (vc - xk) / w;
        xi = xi > 0.0 ? (xi < 1.0 ? xi : 1.0) : 0.0;
        rq_formula(xi, w, yk, yk1, d0, d1, partials, &y, &lad, py, pl);
    } else {
        double h = yk1 - yk, s = h / w, tt = d0 + d1 - 2.0 * s, dl = vc - yk;
        double a = h * (s - d0) + dl * tt, b = h * d0 - dl * tt, cc = -s * dl;
        double disc = b * b - 4.0 * a * cc;
        disc = disc > 0.0 ? disc : 0.0;
        double dn = -b - sqrt(disc);
        xi = dn < 0.0 ? 2.0 * cc / dn : 0.0;
        xi = xi > 0.0 ? (xi < 1.0 ? xi : 1.0) : 0.0;
        xi = dl >= h ? 1.0 : xi; /* the upper knot (only B itself lands there) maps exactly */
        double fy;
        rq_formula(xi, w, yk, yk1, d0, d1, partials, &fy, &lad, py, pl);
        y = xi < 0.5 ? xk + xi * w : xk1 - (1.0 - xi) * w;
        lad = -lad;
        if (partials) { /* implicit differentiation of F(x, theta) = y */
            double ifx = 1.0 / py[0], lx = pl[0];
            py[0] = ifx;
            pl[0] = -lx * ifx;
            for (int j = 1; j < 7; j++) {
                py[j] = -py[j] * ifx;
                pl[j] = -(pl[j] + lx * py[j]);
            }
        }
    }
    int inside = ln->x[e] >= -B && ln->x[e] <= B;
    ln->out[e] = inside ? y : ln->x[e];
    ln->lad[e] = inside ? lad : 0.0;
    if (!partials) return;
    /* constants: the end knots and end slopes; slopes through the softplus; tails: (1, 0, ...) */
    double s0 = first ? 0.0 : ln->sig[e], s1 = last ? 0.0 : ln->sig[RQ_LANES + e];
    py[5] *= s0;
    pl[5] *= s0;
    py[6] *= s1;
    pl[6] *= s1;
    for (int j = 1; j < 5; j++) {
        int zero = !inside || (first && (j & 1)) || (last && !(j & 1));
        py[j] = zero ? 0.0 : py[j];
        pl[j] = zero ? 0.0 : pl[j];
    }
    py[0] = inside ? py[0] : 1.0;
    pl[0] = inside ? pl[0] : 0.0;
    py[5] = inside ? py[5] : 0.0;
    pl[5] = inside ? pl[5] : 0.0;
    py[6] = inside ? py[6] : 0.0;
    pl[6] = inside ? pl[6] : 0.0;
}

/* The formula on every lane of a block: ln->out, ln->lad; with partials, py, pl [7, L] and bin [L]
 * (k, or -1 in a tail) too (NULL in inference mode). */
static VF_HOT void rq_formula_block(rq_lanes *restrict ln, const rq_conf *c, int inverse, vf_real *restrict py,
                                    vf_real *restrict pl, int32_t *restrict bin)
{
    enum { L = RQ_LANES };
    const double B = c->bound, K = (double)c->K;
    if (!py) {
        if (inverse)
            for (int e = 0; e < L; e++) rq_lane(ln, e, B, K, 1, 0, NULL, NULL);
        else
            for (int e = 0; e < L; e++) rq_lane(ln, e, B, K, 0, 0, NULL, NULL);
        return;
    }
    /* the partials first in double, converted and stored by a second loop: with float stores in
     * the formula's loop, GCC vectorized it eight lanes wide (two double vectors per quantity) and
     * spilled several kilobytes of registers */
    double qy[7 * L], ql[7 * L];
    for (int e = 0; e < L; e++) {
        double a[7], b[7];
        if (inverse) rq_lane(ln, e, B, K, 1, 1, a, b);
        else rq_lane(ln, e, B, K, 0, 1, a, b);
        for (int j = 0; j < 7; j++) {
            qy[j * L + e] = a[j];
            ql[j * L + e] = b[j];
        }
    }
    for (int j = 0; j < 7 * L; j++) {
        py[j] = (vf_real)qy[j];
        pl[j] = (vf_real)ql[j];
    }
    for (int e = 0; e < L; e++) {
        int inside = ln->x[e] >= -B && ln->x[e] <= B;
        bin[e] = inside ? (int32_t)ln->k[e] : -1;
    }
}

/* dst [count, L] <- column e holding src[e * stride + j] for the block's ne elements, 0 beyond:
 * a transpose (with conversion to rq_soft). Where the compiler has vector shuffles (GCC 12+,
 * clang), tiles of 8 elements x 8 values (float build, K a multiple of 8), else of 4 x 4, are
 * loaded as row vectors, transposed by shuffles, converted and stored as column vectors; the rest
 * go value by value. (Reading row by row across all sixteen elements made GCC emit a long shuffle
 * sequence with spills that cost several times as much.) */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define RQ_HAVE_SHUFFLE 1
typedef vf_real rq_v4r __attribute__((vector_size(4 * sizeof(vf_real))));
typedef rq_soft rq_v4s __attribute__((vector_size(4 * sizeof(rq_soft))));
typedef vf_real rq_v8r __attribute__((vector_size(8 * sizeof(vf_real))));
typedef rq_soft rq_v8s __attribute__((vector_size(8 * sizeof(rq_soft))));
#else
#define RQ_HAVE_SHUFFLE 0
#endif
static VF_HOT void rq_gather_rows(const vf_real *restrict src, int64_t stride, int64_t count, int64_t ne,
                                  rq_soft *restrict dst)
{
    enum { L = RQ_LANES };
    int64_t e = 0;
#if RQ_HAVE_SHUFFLE && !VF_USE_DOUBLE
    /* Eight elements by eight values at a time when K is a multiple of 8 (float rows of 32 bytes): an
     * 8 x 8 transpose in three rounds of shuffles, then each column converted and stored as one 8-lane
     * vector: about 0.6 times the instructions of the 4 x 4 tiles below (NSF's 10k-row log-density on
     * the Xeon: 31.5 against 32.8 ms, best of 40 calls, five interleaved pairs; same bits, a copy). */
    for (; count % 8 == 0 && e + 8 <= ne; e += 8)
        for (int64_t j = 0; j < count; j += 8) {
            rq_v8r a[8], t[8], u[8];
            for (int r = 0; r < 8; r++) memcpy(&a[r], src + (e + r) * stride + j, sizeof a[r]);
            for (int r = 0; r < 8; r += 2) { /* rows r, r + 1 interleaved within each half */
                t[r] = __builtin_shufflevector(a[r], a[r + 1], 0, 8, 1, 9, 4, 12, 5, 13);
                t[r + 1] = __builtin_shufflevector(a[r], a[r + 1], 2, 10, 3, 11, 6, 14, 7, 15);
            }
            for (int h = 0; h < 8; h += 4) /* u[h + c]: rows h..h+3 of column c (low half), c + 4 (high) */
                for (int q = 0; q < 2; q++) {
                    u[h + 2 * q] = __builtin_shufflevector(t[h + q], t[h + q + 2], 0, 1, 8, 9, 4, 5, 12, 13);
                    u[h + 2 * q + 1] = __builtin_shufflevector(t[h + q], t[h + q + 2], 2, 3, 10, 11, 6, 7, 14, 15);
                }
            for (int c = 0; c < 4; c++) { /* columns c and c + 4: halves of u[c] and u[c + 4] */
                rq_v8r col = __builtin_shufflevector(u[c], u[c + 4], 0, 1, 2, 3, 8, 9, 10, 11);
                rq_v8r col4 = __builtin_shufflevector(u[c], u[c + 4], 4, 5, 6, 7, 12, 13, 14, 15);
                rq_v8s lo = __builtin_convertvector(col, rq_v8s), hi = __builtin_convertvector(col4, rq_v8s);
                memcpy(dst + (j + c) * L + e, &lo, sizeof lo);
                memcpy(dst + (j + c + 4) * L + e, &hi, sizeof hi);
            }
        }
#endif
    for (; e + 4 <= ne; e += 4) {
        const vf_real *r0 = src + e * stride, *r1 = r0 + stride, *r2 = r1 + stride, *r3 = r2 + stride;
        int64_t j = 0;
#if RQ_HAVE_SHUFFLE
        for (; j + 4 <= count; j += 4) {
            rq_v4r a0, a1, a2, a3;
            memcpy(&a0, r0 + j, sizeof a0);
            memcpy(&a1, r1 + j, sizeof a1);
            memcpy(&a2, r2 + j, sizeof a2);
            memcpy(&a3, r3 + j, sizeof a3);
            rq_v4r t0 = __builtin_shufflevector(a0, a1, 0, 4, 1, 5), t1 = __builtin_shufflevector(a2, a3, 0, 4, 1, 5);
            rq_v4r t2 = __builtin_shufflevector(a0, a1, 2, 6, 3, 7), t3 = __builtin_shufflevector(a2, a3, 2, 6, 3, 7);
            rq_v4s c0 = __builtin_convertvector(__builtin_shufflevector(t0, t1, 0, 1, 4, 5), rq_v4s);
            rq_v4s c1 = __builtin_convertvector(__builtin_shufflevector(t0, t1, 2, 3, 6, 7), rq_v4s);
            rq_v4s c2 = __builtin_convertvector(__builtin_shufflevector(t2, t3, 0, 1, 4, 5), rq_v4s);
            rq_v4s c3 = __builtin_convertvector(__builtin_shufflevector(t2, t3, 2, 3, 6, 7), rq_v4s);
            memcpy(dst + j * L + e, &c0, sizeof c0);
            memcpy(dst + (j + 1) * L + e, &c1, sizeof c1);
            memcpy(dst + (j + 2) * L + e, &c2, sizeof c2);
            memcpy(dst + (j + 3) * L + e, &c3, sizeof c3);
        }
#endif
        for (; j < count; j++) {
            rq_soft *d = dst + j * L + e;
            d[0] = (rq_soft)r0[j];
            d[1] = (rq_soft)r1[j];
            d[2] = (rq_soft)r2[j];
            d[3] = (rq_soft)r3[j];
        }
    }
    for (; e < ne; e++)
        for (int64_t j = 0; j < count; j++) dst[j * L + e] = (rq_soft)src[e * stride + j];
    for (; e < L; e++)
        for (int64_t j = 0; j < count; j++) dst[j * L + e] = 0;
}

/* ---- kernels --------------------------------------------------------------------------------- */
static int64_t rq_nchunk(int64_t m) { return (m + RQ_CHUNK - 1) / RQ_CHUNK; }
static int64_t rq_nblock(int64_t m) { return (m + RQ_LANES - 1) / RQ_LANES; }

/* The inputs of one element block: x, and where its widths, heights and slopes start. */
typedef struct rq_inputs {
    const vf_real *x, *uw, *uh, *ud;
    int64_t sw, sh, sd;
} rq_inputs;

/* Block b (elements i0 = b L .. i0 + ne - 1): out y, ladj, and the block's saved state.
 * sw, sh: [K, L] for the softmaxes; knots: [2 (K + 1), L] scratch; py, pl, bin: NULL in inference mode. */
static void rq_block_fwd(const rq_state *st, const rq_inputs *in, int64_t i0, int64_t ne, rq_soft *sw,
                         rq_soft *sh, double *knots, vf_real *py, vf_real *pl, int32_t *bin, vf_real *y,
                         vf_real *ladj)
{
    enum { L = RQ_LANES };
    const int64_t K = st->c.K;
    const double B = st->c.bound;
    double *kx = knots, *ky = knots + (K + 1) * L;
    rq_lanes ln;
    for (int64_t e = 0; e < L; e++) {
        double v = e < ne ? (double)in->x[i0 + e] : 0.0;
        ln.x[e] = v;
        ln.vc[e] = v >= -B && v <= B ? v : -B; /* clamped before any arithmetic */
    }
    rq_gather_rows(in->uw + i0 * in->sw, in->sw, K, ne, sw);
    rq_gather_rows(in->uh + i0 * in->sh, in->sh, K, ne, sh);
    rq_softmax_full(sw, K);
    rq_softmax_full(sh, K);
    rq_knots_full(sw, K, st->c.min_w, B, kx);
    rq_knots_full(sh, K, st->c.min_h, B, ky);
    rq_bin_block(kx, ky, K, st->inverse, &ln);
    /* the bin's slope logits ud_{k-1}, ud_k, by index (clamped to the K-1 that exist; 0 for padding) */
    const vf_real *ud = K > 1 ? in->ud + i0 * in->sd : NULL;
    for (int64_t e = 0; e < L; e++) {
        int64_t k = (int64_t)ln.k[e];
        ln.u[e] = ud && e < ne ? ud[e * in->sd + (k > 0 ? k - 1 : 0)] : 0;
        ln.u[L + e] = ud && e < ne ? ud[e * in->sd + (k < K - 1 ? k : K - 2)] : 0;
    }
    rq_slopes_block(ln.u, 2 * L, st->c.min_d, st->c.shift, ln.dv, ln.sig);
    rq_formula_block(&ln, &st->c, st->inverse, py, pl, bin);
    for (int64_t e = 0; e < ne; e++) {
        y[i0 + e] = (vf_real)ln.out[e];
        ladj[i0 + e] = (vf_real)ln.lad[e];
    }
}

static rq_inputs rq_values(vf_tape *t, vf_node *n, const rq_state *st)
{
    rq_inputs in;
    in.x = vf__in(t, n, 0)->value.data;
    in.uw = vf__in(t, n, st->pw.input)->value.data + st->pw.offset;
    in.uh = vf__in(t, n, st->ph.input)->value.data + st->ph.offset;
    in.ud = vf__in(t, n, st->pd.input)->value.data + st->pd.offset;
    in.sw = st->pw.stride;
    in.sh = st->ph.stride;
    in.sd = st->pd.stride;
    return in;
}

static vf_status rq_fwd(vf_tape *t, vf_node *n)
{
    rq_state *st = n->aux;
    const int64_t K = st->c.K, m = st->m, nchunk = rq_nchunk(m);
    const rq_inputs in = rq_values(t, n, st);
    vf_real *y = n->value.data;
    RQ_OMP_FOR(nchunk)
    for (int64_t ch = 0; ch < nchunk; ch++) {
        double *knots = st->work + ch * 2 * (K + 1) * RQ_LANES;
        int64_t end = VF_MIN(m, (ch + 1) * RQ_CHUNK);
        for (int64_t i0 = ch * RQ_CHUNK; i0 < end; i0 += RQ_LANES) {
            /* saved: block b's own slots; inference: the chunk's scratch */
            int64_t b = i0 / RQ_LANES, slot = st->saved ? b : ch;
            rq_soft *sw = st->sw + slot * K * RQ_LANES, *sh = st->sh + slot * K * RQ_LANES;
            vf_real *py = st->saved ? st->py + b * 7 * RQ_LANES : NULL;
            vf_real *pl = st->saved ? st->pl + b * 7 * RQ_LANES : NULL;
            int32_t *bin = st->saved ? st->bin + b * RQ_LANES : NULL;
            rq_block_fwd(st, &in, i0, VF_MIN(RQ_LANES, end - i0), sw, sh, knots, py, pl, bin, y, st->ladj);
        }
    }
    return VF_OK;
}

/* The terms one block adds to the gradient of its width (or height) logits: with a = c q_1,
 * b = c q_2 (q_1, q_2 the adjoints of X_k and X_{k+1}), d/du_j (a X_k + b X_{k+1}) / c =
 * s_j (a [j < k] + b [j <= k] - a S_k - b S_{k+1}). s, term: [K, L]; 0 for tail lanes. */
static VF_HOT void rq_knot_vjp_block(const rq_soft *s, const int32_t *bin, const vf_real *qa, const vf_real *qb,
                                     vf_real c, int64_t K, vf_real *term)
{
    enum { L = RQ_LANES };
    vf_real mean[L];
    for (int e = 0; e < L; e++) mean[e] = 0;
    /* j compared as int32_t, as the bins are: an int64_t j made every lane's compare 64 bits wide */
    for (int64_t j = 0; j < K; j++)
        for (int e = 0; e < L; e++) {
            int32_t j32 = (int32_t)j;
            vf_real a = j32 < bin[e] ? qa[e] : 0, b = j32 <= bin[e] ? qb[e] : 0;
            mean[e] += (vf_real)s[j * L + e] * (a + b);
        }
    for (int64_t j = 0; j < K; j++)
        for (int e = 0; e < L; e++) {
            int32_t j32 = (int32_t)j;
            vf_real a = j32 < bin[e] ? qa[e] : 0, b = j32 <= bin[e] ? qb[e] : 0;
            vf_real g = c * ((vf_real)s[j * L + e] * (a + b - mean[e]));
            term[j * L + e] = bin[e] >= 0 ? g : 0;
        }
}

/* q [7, L] = g_y py + g_l pl for block b's lanes (0 beyond ne). */
static VF_HOT void rq_adjoints_block(const vf_real *py, const vf_real *pl, const vf_real *gy, const vf_real *gl,
                                     int64_t ne, vf_real *q)
{
    enum { L = RQ_LANES };
    vf_real a[L], b[L];
    for (int64_t e = 0; e < L; e++) {
        a[e] = e < ne ? gy[e] : 0;
        b[e] = gl && e < ne ? gl[e] : 0;
    }
    for (int j = 0; j < 7; j++)
        for (int e = 0; e < L; e++) q[j * L + e] = a[e] * py[j * L + e] + b[e] * pl[j * L + e];
}

/* Adds the block's terms [K, L] into the gradient rows g + e * stride (e < ne): the transpose of
 * rq_gather_rows, by the same 4 x 4 tiles where the compiler has vector shuffles. */
static VF_HOT void rq_scatter_add(const vf_real *restrict term, int64_t K, int64_t ne, vf_real *restrict g,
                                  int64_t stride)
{
    enum { L = RQ_LANES };
    int64_t e = 0;
    for (; e + 4 <= ne; e += 4) {
        vf_real *r0 = g + e * stride, *r1 = r0 + stride, *r2 = r1 + stride, *r3 = r2 + stride;
        int64_t j = 0;
#if RQ_HAVE_SHUFFLE
        for (; j + 4 <= K; j += 4) {
            rq_v4r a0, a1, a2, a3, b0, b1, b2, b3; /* a: the terms' rows j..j+3 (4 lanes); b: g's rows */
            memcpy(&a0, term + j * L + e, sizeof a0);
            memcpy(&a1, term + (j + 1) * L + e, sizeof a1);
            memcpy(&a2, term + (j + 2) * L + e, sizeof a2);
            memcpy(&a3, term + (j + 3) * L + e, sizeof a3);
            rq_v4r t0 = __builtin_shufflevector(a0, a1, 0, 4, 1, 5), t1 = __builtin_shufflevector(a2, a3, 0, 4, 1, 5);
            rq_v4r t2 = __builtin_shufflevector(a0, a1, 2, 6, 3, 7), t3 = __builtin_shufflevector(a2, a3, 2, 6, 3, 7);
            memcpy(&b0, r0 + j, sizeof b0);
            memcpy(&b1, r1 + j, sizeof b1);
            memcpy(&b2, r2 + j, sizeof b2);
            memcpy(&b3, r3 + j, sizeof b3);
            b0 += __builtin_shufflevector(t0, t1, 0, 1, 4, 5);
            b1 += __builtin_shufflevector(t0, t1, 2, 3, 6, 7);
            b2 += __builtin_shufflevector(t2, t3, 0, 1, 4, 5);
            b3 += __builtin_shufflevector(t2, t3, 2, 3, 6, 7);
            memcpy(r0 + j, &b0, sizeof b0);
            memcpy(r1 + j, &b1, sizeof b1);
            memcpy(r2 + j, &b2, sizeof b2);
            memcpy(r3 + j, &b3, sizeof b3);
        }
#endif
        for (; j < K; j++) {
            const vf_real *tj = term + j * L + e;
            r0[j] += tj[0];
            r1[j] += tj[1];
            r2[j] += tj[2];
            r3[j] += tj[3];
        }
    }
    for (; e < ne; e++)
        for (int64_t j = 0; j < K; j++) g[e * stride + j] += term[j * L + e];
}

/* Adds g_y[i] * (partials of the value) + g_l[i] * (partials of the log-derivative) of element i
 * into the grads of x and of the widths, heights and slopes (g_l may be NULL). */
static void rq_vjp_common(vf_tape *t, vf_node *n, const vf_real *g_y, const vf_real *g_l)
{
    enum { L = RQ_LANES };
    const rq_state *st = n->aux;
    const int64_t K = st->c.K, m = st->m, nchunk = rq_nchunk(m);
    const vf_real cw = (vf_real)(2.0 * st->c.bound * (1.0 - (double)K * st->c.min_w));
    const vf_real chh = (vf_real)(2.0 * st->c.bound * (1.0 - (double)K * st->c.min_h));
    vf_real *gx = vf__in(t, n, 0)->grad, *gw = vf__in(t, n, st->pw.input)->grad;
    vf_real *gh = vf__in(t, n, st->ph.input)->grad, *gd = vf__in(t, n, st->pd.input)->grad;
    const int64_t sw_ = st->pw.stride, sh_ = st->ph.stride, sd_ = st->pd.stride;
    if (gw) gw += st->pw.offset;
    if (gh) gh += st->ph.offset;
    if (gd) gd += st->pd.offset;
    RQ_OMP_FOR(nchunk)
    for (int64_t ch = 0; ch < nchunk; ch++) {
        vf_real *term = (vf_real *)(st->work + ch * 2 * (K + 1) * L); /* [K, L] */
        int64_t end = VF_MIN(m, (ch + 1) * RQ_CHUNK);
        for (int64_t i0 = ch * RQ_CHUNK; i0 < end; i0 += L) {
            int64_t b = i0 / L, ne = VF_MIN(L, end - i0);
            const int32_t *bin = st->bin + b * L;
            vf_real q[7 * L];
            rq_adjoints_block(st->py + b * 7 * L, st->pl + b * 7 * L, g_y + i0, g_l ? g_l + i0 : NULL, ne, q);
            if (gx)
                for (int64_t e = 0; e < ne; e++) gx[i0 + e] += q[e];
            if (gw) {
                rq_knot_vjp_block(st->sw + b * K * L, bin, q + 1 * L, q + 2 * L, cw, K, term);
                rq_scatter_add(term, K, ne, gw + i0 * sw_, sw_);
            }
            if (gh) {
                rq_knot_vjp_block(st->sh + b * K * L, bin, q + 3 * L, q + 4 * L, chh, K, term);
                rq_scatter_add(term, K, ne, gh + i0 * sh_, sh_);
            }
            if (gd)
                for (int64_t e = 0; e < ne; e++) {
                    int64_t k = bin[e];
                    vf_real *row = gd + (i0 + e) * sd_;
                    if (k > 0) row[k - 1] += q[5 * L + e];
                    if (k >= 0 && k + 1 < K) row[k] += q[6 * L + e];
                }
        }
    }
}

/* Tangents of X_k and X_{k+1} (divided by c_w) of lane e from the tangent tu [K] of its logits. */
static void rq_knot_jvp(const vf_real *tu, const rq_soft *s, int64_t K, int64_t k, int e, double *ta, double *tb)
{
    double tot = 0.0, pk = 0.0, sk = 0.0;
    for (int64_t j = 0; j < K; j++) {
        double sj = (double)s[j * RQ_LANES + e], st = sj * (double)tu[j];
        tot += st;
        if (j < k) {
            pk += st;
            sk += sj;
        }
    }
    double sk1 = sk + (double)s[k * RQ_LANES + e], pk1 = pk + (double)s[k * RQ_LANES + e] * (double)tu[k];
    *ta = pk - sk * tot;
    *tb = pk1 - sk1 * tot;
}

/* Writes the tangent of output `which` from the inputs' tangents (NULL: zero). */
static void rq_jvp_common(vf_tape *t, vf_node *n, int which)
{
    enum { L = RQ_LANES };
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
            int64_t b = i / L;
            int e = (int)(i % L);
            const vf_real *p = (which ? st->pl : st->py) + b * 7 * L + e;
            double acc = tx ? (double)p[0] * (double)tx[i] : 0.0;
            int64_t k = st->bin[b * L + e];
            if (k >= 0) {
                double ta, tb;
                if (tw) {
                    rq_knot_jvp(tw + i * sw_, st->sw + b * K * L, K, k, e, &ta, &tb);
                    acc += cw * ((double)p[1 * L] * ta + (double)p[2 * L] * tb);
                }
                if (th) {
                    rq_knot_jvp(th + i * sh_, st->sh + b * K * L, K, k, e, &ta, &tb);
                    acc += chh * ((double)p[3 * L] * ta + (double)p[4 * L] * tb);
                }
                if (td) {
                    if (k > 0) acc += (double)p[5 * L] * (double)td[i * sd_ + k - 1];
                    if (k + 1 < K) acc += (double)p[6 * L] * (double)td[i * sd_ + k];
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

static const vf_op_def rq_op = {"rq_spline", rq_fwd, rq_vjp, rq_jvp, 0};
static const vf_op_def rq_ladj_op = {"rq_spline_ladj", rq_ladj_fwd, rq_ladj_vjp, rq_ladj_jvp, 0};

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
    /* saved state per block, or the softmaxes per chunk in inference mode; scratch per chunk */
    size_t nb = (size_t)(rq_nblock(m) ? rq_nblock(m) : 1), nc = (size_t)(nchunk ? nchunk : 1);
    size_t slots = st->saved ? nb : nc, lanes = RQ_LANES, m1 = m ? (size_t)m : 1;
    st->sw = vf__tape_alloc(t, slots * (size_t)K * lanes * sizeof(rq_soft));
    st->sh = st->sw ? vf__tape_alloc(t, slots * (size_t)K * lanes * sizeof(rq_soft)) : NULL;
    st->work = st->sh ? vf__tape_alloc(t, nc * 2 * (size_t)(K + 1) * lanes * sizeof(double)) : NULL;
    st->ladj = st->work ? vf__tape_alloc(t, m1 * sizeof(vf_real)) : NULL;
    st->py = st->pl = NULL;
    st->bin = NULL;
    if (st->saved && st->ladj) {
        st->py = vf__tape_alloc(t, nb * 7 * lanes * sizeof(vf_real));
        st->pl = st->py ? vf__tape_alloc(t, nb * 7 * lanes * sizeof(vf_real)) : NULL;
        st->bin = st->pl ? vf__tape_alloc(t, nb * lanes * sizeof(int32_t)) : NULL;
        if (!st->bin) return VF_NOVAR;
    }
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
    /* the op's own block kernels on one lane, so the knots are the op's to the bit */
    rq_soft *sm = vf_malloc((size_t)K * sizeof(rq_soft));
    double *sig = vf_malloc((size_t)K * sizeof(double));
    if (!sm || !sig) {
        vf_free(sm);
        vf_free(sig);
        return vf__error(VF_ERR_NOMEM, "rq_spline_knots: out of memory for %lld bins", (long long)K);
    }
    for (int64_t j = 0; j < K; j++) sm[j] = (rq_soft)uw[j];
    rq_softmax_block(sm, K, 1);
    rq_knots_block(sm, K, 1, c.min_w, bound, kx);
    for (int64_t j = 0; j < K; j++) sm[j] = (rq_soft)uh[j];
    rq_softmax_block(sm, K, 1);
    rq_knots_block(sm, K, 1, c.min_h, bound, ky);
    kd[0] = kd[K] = 1.0;
    if (K > 1) rq_slopes_block_d(ud, K - 1, c.min_d, c.shift, kd + 1, sig);
    vf_free(sm);
    vf_free(sig);
    return VF_OK;
}
