/* test_flow_nsf.c — Neural Spline Flows: spline coupling and autoregressive splines (spline_maf,
 * spline_iaf). Every flowcheck.h check with randomized parameters, with and without a context (round
 * trip, brute-force Jacobian at d = 5, grid normalization at d = 2 for the coupling and d = 1, 2 for
 * the autoregressive forms, gradients w.r.t. input, context and parameters in both directions, context
 * dependence); the coupling against a hand evaluation of the spline from its knots (checks the
 * conditioner's output layout); triangular Jacobians of the autoregressive forms (checks the MADE's
 * output layout against its degrees); the identity at initialization; identity tails outside
 * [-B, B]; describe(); argument errors; allocation failures; and a four-layer spline-coupling flow
 * fitted to 8gaussians. */
#include <stdlib.h>
#include "vf_test.h"
#include "flowfit.h"
#include "alloc_fail.h"
#include "flowcheck.h"
#include "varflow/vf_nsf.h"
#include "varflow/vf_spline.h"

#if VF_USE_DOUBLE
#define VALUE_TOL 1e-11
#else
#define VALUE_TOL 5e-5
#endif

#define PARAM_SD 0.4     /* randomized parameters ~ N(0, PARAM_SD^2) */
#define X_SD 1.5         /* check inputs ~ N(0, X_SD^2): a few land in the tails */
#define BOUND 3.0

enum { COUPLING, SMAF, SIAF };
static const char *const kind_names[] = {"spline_coupling", "spline_maf", "spline_iaf"};

typedef struct cfg {
    int kind;
    int64_t d, c;
    int variant;          /* coupling: 0/1 parity, 2 custom mask; autoregressive: 0 sequential, 1 reversed order */
    int bins;
    double bound;
    int64_t width;        /* hidden width */
} cfg;

static vf_status make(const cfg *k, vf_params *p, const char *name, vf_transform **tr)
{
    static const int mask2[2] = {0, 1}, mask5[5] = {1, 1, 0, 0, 1};
    if (k->kind == COUPLING) {
        vf_spline_coupling_params sp = vf_spline_coupling_default_params(k->d);
        sp.context = k->c;
        sp.parity = k->variant == 1;
        if (k->variant == 2) sp.mask = k->d == 2 ? mask2 : mask5;
        sp.hidden[0] = sp.hidden[1] = k->width;
        sp.act = VF_ACT_TANH;
        sp.bins = k->bins;
        sp.bound = k->bound;
        return vf_spline_coupling_new(p, name, &sp, tr);
    }
    vf_spline_ar_params ap = vf_spline_ar_default_params(k->d);
    ap.context = k->c;
    ap.order = k->variant ? VF_ORDER_REVERSED : VF_ORDER_SEQUENTIAL;
    ap.hidden = k->width;
    ap.act = VF_ACT_TANH;
    ap.bins = k->bins;
    ap.bound = k->bound;
    return k->kind == SMAF ? vf_spline_maf_new(p, name, &ap, tr) : vf_spline_iaf_new(p, name, &ap, tr);
}

/* ---- every flowcheck.h check ------------------------------------------------------------------ */

/* Parameters ~ N(0, PARAM_SD^2) (splines clearly away from the identity), 4 bins on [-3, 3], inputs
 * ~ N(0, X_SD^2) so that some fall in the tails.
 * Gradients (input, context, parameters) are checked in the double build only: flowcheck's central
 * differences use a step of 1e-2 (relative) in float, which straddles knots and the tail boundaries,
 * where the spline's second derivative (so the gradient of its log-det) jumps; the graph and the
 * kernels are the same in both builds, and test_ops_spline checks the op's float gradients with points
 * placed inside bins.
 * Grid normalization over [-8, 8]^d by the midpoint rule: the density is continuous and piecewise
 * smooth (the spline is C^1), so the rule converges at about O(h^2), with some scatter from where the
 * knots fall in the cells. Measured (double) for the four autoregressive d = 2 cases, worst
 * |integral - 1|: 2.8e-3 at 200 cells per axis, 5.0e-4 at 240, 3.2e-4 at 400 (an IAF-style transform,
 * whose forward is the inverse spline, is the sharpest); so 240 cells and a tolerance of 4e-3 (the
 * worst level seen from a bad knot alignment, plus margin). The couplings stay below 1e-4 at 160
 * cells (tolerance 5e-4); d = 1 uses 2000 cells (errors below 2e-5, tolerance 1e-4). A wrong log-det
 * gives an error that does not shrink with the grid. */
static void run_checks(const cfg *k)
{
    const int64_t n = 4, d = k->d, c = k->c;
    vf_params *p = vf_params_new();
    vf_transform *tr = NULL;
    CHECK_STATUS(make(k, p, "ns", &tr), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 3), VF_OK);
    if (!tr) {
        vf_params_free(p);
        return;
    }
    fc_randomize(p, 11 + (uint64_t)d + 7 * (uint64_t)k->variant + 100 * (uint64_t)k->kind, PARAM_SD);
    vf_real x[4 * 5], ctx[4 * 3], ctx2[4 * 3], row[3];
    gc_fill(x, n * d, 5 + (uint64_t)k->kind, 0, X_SD);
    gc_fill(ctx, n * 3, 6, 0, 1);
    gc_fill(ctx2, n * 3, 7, 0, 1);
    gc_fill(row, 3, 8, 0, 1);
    const vf_real *cx = c ? ctx : NULL;
    int ok = 1;
    ok &= fc_roundtrip(tr, p, n, x, cx);
    ok &= fc_logdet(tr, p, n, x, cx);
#if VF_USE_DOUBLE
    ok &= fc_gradcheck(tr, p, n, x, cx, 0);
    ok &= fc_gradcheck(tr, p, n, x, cx, 1);
#endif
    if (d == 1) ok &= fc_normalization(tr, p, c ? row : NULL, -8, 8, 2000, 1e-4);
    if (d == 2 && k->kind == COUPLING) ok &= fc_normalization(tr, p, c ? row : NULL, -8, 8, 160, 5e-4);
    if (d == 2 && k->kind != COUPLING) ok &= fc_normalization(tr, p, c ? row : NULL, -8, 8, 240, 4e-3);
    if (c) ok &= fc_context_matters(tr, p, n, x, ctx, ctx2);
    CHECK_MSG(ok, "%s d=%lld c=%lld variant=%d", kind_names[k->kind], (long long)d, (long long)c, k->variant);
    vf_transform_free(tr);
    vf_params_free(p);
}

static void test_flowcheck_coupling(void)
{
    for (int64_t d = 2; d <= 5; d += 3)
        for (int64_t c = 0; c <= 3; c += 3)
            for (int variant = 0; variant < 3; variant++) {
                if (d == 5 && c == 0 && variant == 1) continue; /* parity 1 at d = 5 is covered with a context */
                cfg k = {COUPLING, d, c, variant, 4, BOUND, 3};
                run_checks(&k);
            }
}

static void test_flowcheck_autoregressive(void)
{
    static const int64_t dims[3] = {1, 2, 5};
    for (int kind = SMAF; kind <= SIAF; kind++)
        for (int i = 0; i < 3; i++)
            for (int64_t c = 0; c <= 3; c += 3) {
                cfg k = {kind, dims[i], c, (int)(c > 0), 4, BOUND, 4};
                run_checks(&k);
            }
}

/* ---- the coupling against a hand evaluation ---------------------------------------------------- */

/* y and log dy/dx of one spline from its knots (vf_spline.h's formulas, in double). */
static double rqs_eval(const double *kx, const double *ky, const double *kd, int K, double x, double *logdydx)
{
    if (x < kx[0] || x > kx[K]) {
        *logdydx = 0;
        return x;
    }
    int b = 0;
    while (b < K - 1 && x >= kx[b + 1]) b++;
    double w = kx[b + 1] - kx[b], h = ky[b + 1] - ky[b], s = h / w, xi = (x - kx[b]) / w, e = xi * (1 - xi);
    double den = s + (kd[b] + kd[b + 1] - 2 * s) * e;
    *logdydx = log(s * s * (kd[b + 1] * xi * xi + 2 * s * e + kd[b] * (1 - xi) * (1 - xi)) / (den * den));
    return ky[b] + h * (s * xi * xi + kd[b] * e) / den;
}

/* d = 3, mask {1, 0, 1}, one context column, no hidden layer, K = 3, B = 2: the conditioner is
 * h = W [x_1, c] + b with 2 x 8 outputs; feature 0 uses columns 0..7, feature 2 columns 8..15, each
 * block [3 widths, 3 heights, 2 slopes]. */
static void test_coupling_hand_values(void)
{
    static const int mask[3] = {1, 0, 1};
    const int K = 3;
    vf_spline_coupling_params sp = vf_spline_coupling_default_params(3);
    sp.mask = mask;
    sp.context = 1;
    sp.n_hidden = 0;
    sp.bins = K;
    sp.bound = 2.0;
    sp.min_derivative = 0.01;
    vf_params *p = vf_params_new();
    vf_transform *tr = NULL;
    CHECK_STATUS(vf_spline_coupling_new(p, "h", &sp, &tr), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 0), VF_OK);
    int32_t wid = vf_params_find(p, "h.net.layers.0.weight"), bid = vf_params_find(p, "h.net.layers.0.bias");
    CHECK(wid >= 0 && bid >= 0 && vf_params_count(p) == 2);
    if (!tr || wid < 0 || bid < 0) {
        vf_transform_free(tr);
        vf_params_free(p);
        return;
    }
    vf_param_info info;
    vf_params_info(p, wid, &info);
    CHECK(info.ndim == 2 && info.shape[0] == 16 && info.shape[1] == 2);
    vf_real *w = vf_params_data(p, wid), *bb = vf_params_data(p, bid);
    gc_fill(w, 32, 31, 0, 0.7);
    gc_fill(bb, 16, 32, 0, 0.7);
    vf_real x[3 * 3] = {0.3f, -1.2f, 1.9f, -2.5f, 0.9f, -0.4f, 1.1f, 0.2f, 2.2f}, cx[3] = {0.6f, -1.5f, 0.1f};
    vf_tape *t = vf_tape_new();
    vf_var cv = vf_input(t, cx, 2, (int64_t[]){3, 1}), l, li;
    vf_var z = vf_transform_forward(tr, p, t, vf_input(t, x, 2, (int64_t[]){3, 3}), cv, &l);
    vf_var xb = vf_transform_inverse(tr, p, t, z, cv, &li);
    CHECK_STATUS(vf_tape_status(t), VF_OK);
    vf_rq_spline_options opt = vf_rq_spline_default_options();
    opt.identity_at_zero = 1;
    opt.min_derivative = 0.01;
    for (int r = 0; r < 3 && vf_tape_status(t) == VF_OK; r++) {
        double want[3] = {0, x[3 * r + 1], 0}, lad = 0;
        for (int j = 0; j < 2; j++) { /* transformed feature j = 0, 1 is x_0, x_2 */
            vf_real h[8];
            for (int m = 0; m < 8; m++) {
                int o = 8 * j + m;
                h[m] = (vf_real)((double)w[2 * o] * x[3 * r + 1] + (double)w[2 * o + 1] * cx[r] + (double)bb[o]);
            }
            double kx[4], ky[4], kd[4], lj;
            CHECK_STATUS(vf_rq_spline_knots(h, h + K, h + 2 * K, K, 2.0, &opt, kx, ky, kd), VF_OK);
            want[2 * j] = rqs_eval(kx, ky, kd, K, x[3 * r + 2 * j], &lj);
            lad += lj;
        }
        const vf_real *zv = vf_value(t, z)->data, *xv = vf_value(t, xb)->data;
        for (int j = 0; j < 3; j++) {
            CHECK_NEAR(zv[3 * r + j], want[j], VALUE_TOL * 4);
            CHECK_NEAR(xv[3 * r + j], x[3 * r + j], VALUE_TOL * 10);
        }
        CHECK(zv[3 * r + 1] == x[3 * r + 1]); /* the identity part passes bit for bit */
        CHECK_NEAR(vf_value(t, l)->data[r], lad, VALUE_TOL * 10);
        CHECK_NEAR(vf_value(t, li)->data[r], -lad, VALUE_TOL * 10);
    }
    CHECK(x[3] == vf_value(t, z)->data[3]); /* -2.5 lies in the lower tail */
    vf_tape_free(t);
    vf_transform_free(tr);
    vf_params_free(p);
}

/* ---- autoregressive structure ------------------------------------------------------------------ */

/* With reversed order (degrees 3, 2, 1) and random parameters, dz_i/dx_j must vanish unless the
 * degree of j is below that of i or i == j, in both directions; and changing x_j changes z_i for
 * some pair of that kind (the conditioner is used). A wrong split of the MADE's output would make a
 * dimension's spline depend on itself or later dimensions. */
static void test_triangular(void)
{
    for (int kind = SMAF; kind <= SIAF; kind++) {
        cfg k = {kind, 3, 0, 1, 5, 3.0, 8};
        vf_params *p = vf_params_new();
        vf_transform *tr = NULL;
        CHECK_STATUS(make(&k, p, "tri", &tr), VF_OK);
        CHECK_STATUS(vf_params_finalize(p, 2), VF_OK);
        if (!tr) {
            vf_params_free(p);
            continue;
        }
        fc_randomize(p, 77, 0.5);
        vf_real x[2 * 3] = {0.4f, -1.1f, 0.8f, -0.3f, 1.7f, -2.0f}, seed[6];
        int lower_ok = 1, used = 0;
        vf_tape *t = vf_tape_new();
        for (int dir = 0; dir < 2; dir++)
            for (int i = 0; i < 3; i++) {
                vf_tape_reset(t);
                vf_var l, v = vf_input_grad(t, x, 2, (int64_t[]){2, 3});
                vf_var z = dir ? vf_transform_inverse(tr, p, t, v, VF_NOVAR, &l)
                               : vf_transform_forward(tr, p, t, v, VF_NOVAR, &l);
                for (int q = 0; q < 6; q++) seed[q] = (vf_real)(q % 3 == i);
                CHECK_STATUS(vf_backward_seed(t, z, seed), VF_OK);
                const vf_real *g = vf_grad(t, v);
                if (!g) continue;
                for (int r = 0; r < 2; r++)
                    for (int j = 0; j < 3; j++) {
                        int before = j > i; /* reversed order: degree 3 - j < 3 - i */
                        if (j != i && !before) lower_ok &= g[3 * r + j] == 0;
                        if (before && g[3 * r + j] != 0) used++;
                    }
            }
        CHECK_MSG(lower_ok, "%s: the Jacobian is not triangular in the MADE's order", kind_names[kind]);
        CHECK(used >= 6);
        vf_tape_free(t);
        vf_transform_free(tr);
        vf_params_free(p);
    }
}

/* ---- identity at initialization and the tails ------------------------------------------------- */

static void test_identity_at_init(void)
{
    for (int kind = COUPLING; kind <= SIAF; kind++) {
        cfg k = {kind, 4, 2, 0, 8, 3.0, 16};
        vf_params *p = vf_params_new();
        vf_transform *tr = NULL;
        CHECK_STATUS(make(&k, p, "i", &tr), VF_OK);
        CHECK_STATUS(vf_params_finalize(p, 5), VF_OK);
        vf_real x[3 * 4] = {0.1f, -2.9f, 2.5f, 3.5f, -4, 1.25f, 0, -0.75f, 2.999f, -1.5f, 0.5f, 7}, cx[3 * 2];
        gc_fill(cx, 6, 2, 0, 1);
        vf_tape *t = vf_tape_new();
        vf_var cv = vf_input(t, cx, 2, (int64_t[]){3, 2}), l, li;
        vf_var z = vf_transform_forward(tr, p, t, vf_input(t, x, 2, (int64_t[]){3, 4}), cv, &l);
        vf_var xi = vf_transform_inverse(tr, p, t, vf_input(t, x, 2, (int64_t[]){3, 4}), cv, &li);
        CHECK_STATUS(vf_tape_status(t), VF_OK);
        if (z != VF_NOVAR && xi != VF_NOVAR) {
            double ez = 0, ei = 0, el = 0;
            for (int i = 0; i < 12; i++) {
                ez = fmax(ez, fabs((double)vf_value(t, z)->data[i] - x[i]));
                ei = fmax(ei, fabs((double)vf_value(t, xi)->data[i] - x[i]));
            }
            for (int i = 0; i < 3; i++)
                el = fmax(el, fmax(fabs((double)vf_value(t, l)->data[i]), fabs((double)vf_value(t, li)->data[i])));
            /* the identity up to the spline's rounding (its knots are sums of softmax terms) */
            CHECK_MSG(ez <= VALUE_TOL && ei <= VALUE_TOL && el <= VALUE_TOL, "%s: |z - x| %.3g, |x' - x| %.3g, |ladj| %.3g",
                      kind_names[kind], ez, ei, el);
        }
        vf_tape_free(t);
        vf_transform_free(tr);
        vf_params_free(p);
    }
}

/* Randomized parameters, every transformed input outside [-B, B]: the output is the input, bit for
 * bit, with log-det 0, in both directions; a row with one input inside moves only that one (coupling:
 * feature 0 is transformed and feature 1 is the conditioner's input). */
static void test_tails(void)
{
    for (int kind = COUPLING; kind <= SIAF; kind++) {
        cfg k = {kind, 2, 1, 0, 6, 2.0, 8};
        vf_params *p = vf_params_new();
        vf_transform *tr = NULL;
        CHECK_STATUS(make(&k, p, "tail", &tr), VF_OK);
        CHECK_STATUS(vf_params_finalize(p, 5), VF_OK);
        fc_randomize(p, 9, 0.6);
        vf_real x[4 * 2] = {2.5f, -3, -2.01f, 40, 100, 2.0001f, 0.5f, 7}, cx[4] = {0.3f, -1, 2, 0.5f};
        vf_tape *t = vf_tape_new();
        vf_var cv = vf_input(t, cx, 2, (int64_t[]){4, 1}), l, li;
        vf_var z = vf_transform_forward(tr, p, t, vf_input(t, x, 2, (int64_t[]){4, 2}), cv, &l);
        vf_var xi = vf_transform_inverse(tr, p, t, vf_input(t, x, 2, (int64_t[]){4, 2}), cv, &li);
        CHECK_STATUS(vf_tape_status(t), VF_OK);
        if (z != VF_NOVAR && xi != VF_NOVAR) {
            const vf_real *zv = vf_value(t, z)->data, *xv = vf_value(t, xi)->data;
            int same = 1;
            for (int i = 0; i < 6; i++) same &= zv[i] == x[i] && xv[i] == x[i];
            for (int r = 0; r < 3; r++) same &= vf_value(t, l)->data[r] == 0 && vf_value(t, li)->data[r] == 0;
            CHECK_MSG(same, "%s: inputs outside [-B, B] moved", kind_names[kind]);
            CHECK(zv[6] != x[6] && zv[7] == x[7] && xv[6] != x[6] && xv[7] == x[7]);
            CHECK(vf_value(t, l)->data[3] != 0);
        }
        vf_tape_free(t);
        vf_transform_free(tr);
        vf_params_free(p);
    }
}

/* ---- describe ---------------------------------------------------------------------------------- */

static void test_describe(void)
{
    static const int mask[5] = {1, 1, 0, 0, 1};
    vf_spline_coupling_params sp = vf_spline_coupling_default_params(5);
    sp.mask = mask;
    sp.context = 3;
    sp.n_hidden = 3;
    sp.hidden[0] = 32;
    sp.hidden[1] = 16;
    sp.hidden[2] = 8;
    sp.act = VF_ACT_SILU;
    sp.bins = 6;
    sp.bound = 2.5;
    sp.min_bin_width = 0.01;
    sp.min_bin_height = 0.02;
    sp.min_derivative = 0.05;
    sp.zero_init = 0;
    vf_params *p = vf_params_new();
    vf_transform *a = NULL, *b = NULL, *m = NULL, *i = NULL;
    CHECK_STATUS(vf_spline_coupling_new(p, "a", &sp, &a), VF_OK);
    vf_spline_coupling_params dp = vf_spline_coupling_default_params(3);
    dp.parity = 1;
    CHECK_STATUS(vf_spline_coupling_new(p, "b", &dp, &b), VF_OK);
    vf_spline_ar_params ap = vf_spline_ar_default_params(4);
    CHECK_STATUS(vf_spline_maf_new(p, "m", &ap, &m), VF_OK);
    ap.context = 2;
    ap.hidden = 10;
    ap.depth = 1;
    ap.residual = 1;
    ap.act = VF_ACT_ELU;
    ap.order = VF_ORDER_RANDOM;
    ap.seed = 12345;
    ap.random_degrees = 1;
    ap.bins = 5;
    ap.bound = 4;
    ap.min_derivative = 0.125;
    ap.hidden_layout = VF_HIDDEN_INTERLEAVED; /* recorded by leaving the key out, as older files did */
    CHECK_STATUS(vf_spline_iaf_new(p, "i", &ap, &i), VF_OK);
    char json[512];
    CHECK_STATUS(vf_transform_describe(a, json, sizeof json), VF_OK);
    CHECK(strcmp(json, "{\"kind\":\"spline_coupling\",\"dim\":5,\"context\":3,\"mask\":[1,1,0,0,1],"
                       "\"hidden\":[32,16,8],\"act\":\"silu\",\"bins\":6,\"bound\":2.5,\"min_bin_width\":0.01,"
                       "\"min_bin_height\":0.02,\"min_derivative\":0.050000000000000003,\"zero_init\":0}") == 0);
    CHECK_STATUS(vf_transform_describe(b, json, sizeof json), VF_OK);
    CHECK(strcmp(json, "{\"kind\":\"spline_coupling\",\"dim\":3,\"context\":0,\"mask\":[0,1,0],"
                       "\"hidden\":[64,64],\"act\":\"relu\",\"bins\":8,\"bound\":5,\"min_bin_width\":0.001,"
                       "\"min_bin_height\":0.001,\"min_derivative\":0.001,\"zero_init\":1}") == 0);
    CHECK_STATUS(vf_transform_describe(m, json, sizeof json), VF_OK);
    CHECK(strcmp(json, "{\"kind\":\"spline_maf\",\"dim\":4,\"context\":0,\"hidden\":64,\"depth\":2,\"residual\":0,"
                       "\"act\":\"relu\",\"order\":\"sequential\",\"seed\":0,\"random_degrees\":0,\"bins\":8,"
                       "\"bound\":5,\"min_bin_width\":0.001,\"min_bin_height\":0.001,\"min_derivative\":0.001,"
                       "\"hidden_layout\":\"sorted\"}") == 0);
    CHECK_STATUS(vf_transform_describe(i, json, sizeof json), VF_OK);
    CHECK(strcmp(json, "{\"kind\":\"spline_iaf\",\"dim\":4,\"context\":2,\"hidden\":10,\"depth\":1,\"residual\":1,"
                       "\"act\":\"elu\",\"order\":\"random\",\"seed\":12345,\"random_degrees\":1,\"bins\":5,"
                       "\"bound\":4,\"min_bin_width\":0.001,\"min_bin_height\":0.001,\"min_derivative\":0.125}") == 0);
    CHECK(strcmp(vf_transform_kind(a), "spline_coupling") == 0 && strcmp(vf_transform_kind(m), "spline_maf") == 0 &&
          strcmp(vf_transform_kind(i), "spline_iaf") == 0);
    CHECK(vf_transform_dim(a) == 5 && vf_transform_context_dim(a) == 3 && vf_transform_context_dim(i) == 2);
    /* too small a buffer, at every length that cuts the text */
    for (int which = 0; which < 2; which++) {
        vf_transform *tr = which ? i : b;
        CHECK_STATUS(vf_transform_describe(tr, json, sizeof json), VF_OK);
        size_t full = strlen(json);
        for (size_t len = 1; len <= full; len++) CHECK_STATUS(vf_transform_describe(tr, json, len), VF_ERR_ARG);
        CHECK_STATUS(vf_transform_describe(tr, json, full + 1), VF_OK);
    }
    vf_transform_free(a);
    vf_transform_free(b);
    vf_transform_free(m);
    vf_transform_free(i);
    vf_params_free(p);
}

/* ---- errors ------------------------------------------------------------------------------------ */

static void expect_coupling_error(const vf_spline_coupling_params *sp)
{
    vf_params *p = vf_params_new();
    vf_transform *tr = (vf_transform *)p; /* must be reset to NULL */
    CHECK_STATUS(vf_spline_coupling_new(p, "e", sp, &tr), VF_ERR_ARG);
    CHECK(tr == NULL && vf_params_count(p) == 0 && vf_last_error()[0] != '\0');
    vf_params_free(p);
}

static void expect_ar_error(const vf_spline_ar_params *ap)
{
    for (int iaf = 0; iaf < 2; iaf++) {
        vf_params *p = vf_params_new();
        vf_transform *tr = (vf_transform *)p;
        CHECK_STATUS(iaf ? vf_spline_iaf_new(p, "e", ap, &tr) : vf_spline_maf_new(p, "e", ap, &tr), VF_ERR_ARG);
        CHECK(tr == NULL && vf_params_count(p) == 0 && vf_last_error()[0] != '\0');
        vf_params_free(p);
    }
}

static void test_errors(void)
{
    static const int bad_mask[3] = {0, 2, 1}, all_ones[3] = {1, 1, 1}, all_zeros[3] = {0, 0, 0};
    vf_spline_coupling_params sp = vf_spline_coupling_default_params(1);
    expect_coupling_error(&sp);
    const int *masks[3] = {bad_mask, all_ones, all_zeros};
    for (int i = 0; i < 3; i++) {
        sp = vf_spline_coupling_default_params(3);
        sp.mask = masks[i];
        expect_coupling_error(&sp);
    }
    sp = vf_spline_coupling_default_params(3);
    sp.parity = 2;
    expect_coupling_error(&sp);
    sp = vf_spline_coupling_default_params(3);
    sp.context = -1;
    expect_coupling_error(&sp);
    sp = vf_spline_coupling_default_params(3);
    sp.zero_init = 2;
    expect_coupling_error(&sp);
    sp = vf_spline_coupling_default_params(3);
    sp.hidden[1] = 0;
    expect_coupling_error(&sp);
    sp = vf_spline_coupling_default_params(3);
    sp.act = VF_ACT_COUNT;
    expect_coupling_error(&sp);
    sp = vf_spline_coupling_default_params(3);
    sp.n_hidden = VF_NN_MAX_HIDDEN + 1;
    expect_coupling_error(&sp);

    vf_spline_ar_params ap = vf_spline_ar_default_params(0);
    expect_ar_error(&ap);
    ap = vf_spline_ar_default_params(3);
    ap.hidden = 0;
    expect_ar_error(&ap);
    ap = vf_spline_ar_default_params(3);
    ap.depth = 0;
    expect_ar_error(&ap);
    ap = vf_spline_ar_default_params(3);
    ap.residual = 3;
    expect_ar_error(&ap);
    ap = vf_spline_ar_default_params(3);
    ap.random_degrees = -1;
    expect_ar_error(&ap);
    ap = vf_spline_ar_default_params(3);
    ap.order = (vf_made_order)7;
    expect_ar_error(&ap);
    ap = vf_spline_ar_default_params(3);
    ap.act = VF_ACT_COUNT;
    expect_ar_error(&ap);

    /* the spline settings, for both */
    const double bad_bound[4] = {0, -1, NAN, INFINITY};
    for (int i = 0; i < 4; i++) {
        sp = vf_spline_coupling_default_params(2);
        sp.bound = bad_bound[i];
        expect_coupling_error(&sp);
        ap = vf_spline_ar_default_params(2);
        ap.bound = bad_bound[i];
        expect_ar_error(&ap);
    }
    for (int which = 0; which < 6; which++) {
        sp = vf_spline_coupling_default_params(2);
        ap = vf_spline_ar_default_params(2);
        switch (which) {
        case 0: sp.bins = ap.bins = 1; break;
        case 1: sp.min_bin_width = ap.min_bin_width = 0; break;
        case 2: sp.min_bin_height = ap.min_bin_height = 1.0 / 8; break; /* K * it = 1 */
        case 3: sp.min_derivative = ap.min_derivative = 1; break;
        case 4: sp.min_derivative = ap.min_derivative = 0; break;
        default: sp.min_bin_width = ap.min_bin_width = NAN; break;
        }
        expect_coupling_error(&sp);
        expect_ar_error(&ap);
    }
    /* NULL arguments, a name too long, a duplicate name */
    vf_params *p = vf_params_new();
    vf_transform *tr = NULL, *first = NULL;
    sp = vf_spline_coupling_default_params(2);
    ap = vf_spline_ar_default_params(2);
    CHECK_STATUS(vf_spline_coupling_new(NULL, "x", &sp, &tr), VF_ERR_ARG);
    CHECK_STATUS(vf_spline_coupling_new(p, "x", NULL, &tr), VF_ERR_ARG);
    CHECK_STATUS(vf_spline_coupling_new(p, "x", &sp, NULL), VF_ERR_ARG);
    CHECK_STATUS(vf_spline_maf_new(NULL, "x", &ap, &tr), VF_ERR_ARG);
    CHECK_STATUS(vf_spline_iaf_new(p, "x", NULL, &tr), VF_ERR_ARG);
    CHECK_STATUS(vf_spline_maf_new(p, "x", &ap, NULL), VF_ERR_ARG);
    char long_name[VF_PARAM_NAME_MAX + 8];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CHECK_STATUS(vf_spline_coupling_new(p, long_name, &sp, &tr), VF_ERR_ARG);
    CHECK_STATUS(vf_spline_maf_new(p, long_name, &ap, &tr), VF_ERR_ARG);
    CHECK(tr == NULL && vf_params_count(p) == 0);
    CHECK_STATUS(vf_spline_coupling_new(p, "dup", &sp, &first), VF_OK);
    int32_t count = vf_params_count(p);
    CHECK_STATUS(vf_spline_coupling_new(p, "dup", &sp, &tr), VF_ERR_ARG);
    CHECK(tr == NULL && vf_params_count(p) == count);
    vf_transform *second = NULL;
    CHECK_STATUS(vf_spline_maf_new(p, "dup2", &ap, &second), VF_OK);
    count = vf_params_count(p);
    CHECK_STATUS(vf_spline_iaf_new(p, "dup2", &ap, &tr), VF_ERR_ARG);
    CHECK(tr == NULL && vf_params_count(p) == count);
    vf_transform_free(first);
    vf_transform_free(second);
    vf_params_free(p);

    /* a missing context is the tape's error */
    ap.context = 2;
    p = vf_params_new();
    CHECK_STATUS(vf_spline_maf_new(p, "c", &ap, &tr), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 0), VF_OK);
    vf_tape *t = vf_tape_new();
    vf_real x[4] = {1, 2, 3, 4};
    vf_var l, z = vf_transform_forward(tr, p, t, vf_input(t, x, 2, (int64_t[]){2, 2}), VF_NOVAR, &l);
    CHECK(z == VF_NOVAR && vf_tape_status(t) == VF_ERR_ARG);
    vf_tape_free(t);
    vf_transform_free(tr);
    vf_params_free(p);
}

/* ---- allocation failures ----------------------------------------------------------------------- */

/* A conditional flow of a spline coupling (custom mask), a spline_maf and a spline_iaf: log_prob with
 * its backward pass, sampling and describe. A failed constructor must leave the store as it was. */
static vf_status alloc_scenario(void *unused)
{
    (void)unused;
    static const int mask[3] = {0, 1, 1};
    vf_status s = VF_OK;
    vf_params *p = vf_params_new();
    vf_tape *t = vf_tape_new();
    vf_dist *base = NULL;
    vf_flow *flow = NULL;
    vf_transform *tr[3] = {NULL, NULL, NULL};
    if (!p || !t) {
        s = VF_ERR_NOMEM;
        goto done;
    }
    s = vf_dist_normal_new(3, 2, &base);
    for (int i = 0; i < 3 && s == VF_OK; i++) {
        int32_t before = vf_params_count(p);
        if (i == 0) {
            vf_spline_coupling_params sp = vf_spline_coupling_default_params(3);
            sp.context = 2;
            sp.mask = mask;
            sp.bins = 3;
            sp.hidden[0] = sp.hidden[1] = 4;
            s = vf_spline_coupling_new(p, "t0", &sp, &tr[0]);
        } else {
            vf_spline_ar_params ap = vf_spline_ar_default_params(3);
            ap.context = 2;
            ap.bins = 3;
            ap.hidden = 4;
            s = i == 1 ? vf_spline_maf_new(p, "t1", &ap, &tr[1]) : vf_spline_iaf_new(p, "t2", &ap, &tr[2]);
        }
        if (s != VF_OK && vf_params_count(p) != before) s = VF_ERR_STATE;
    }
    if (s == VF_OK) {
        s = vf_flow_new(base, 3, tr, &flow); /* owns base and tr from here, also on failure */
        base = NULL;
        tr[0] = tr[1] = tr[2] = NULL;
    }
    if (s == VF_OK) s = vf_params_finalize(p, 1);
    if (s == VF_OK) {
        vf_real x[2 * 3] = {0.1f, 0.2f, 0.3f, -1, 0, 1}, c[2 * 2] = {1, 2, 3, 4};
        vf_rng r;
        vf_rng_init(&r, 0, 0);
        vf_var cv = vf_input(t, c, 2, (int64_t[]){2, 2});
        vf_var lp = vf_flow_log_prob(flow, p, t, vf_input(t, x, 2, (int64_t[]){2, 3}), cv);
        vf_var sm = vf_flow_sample(flow, p, t, 2, cv, &r, NULL);
        if (vf_tape_status(t) == VF_OK) s = vf_backward(t, vf_sum(t, lp, VF_ALL_AXES, 0));
        if (s == VF_OK) s = vf_tape_status(t);
        if (s == VF_OK && (lp == VF_NOVAR || sm == VF_NOVAR)) s = VF_ERR_STATE;
        char json[512];
        for (int i = 0; i < 3 && s == VF_OK; i++) s = vf_transform_describe(vf_flow_transform(flow, i), json, sizeof json);
    }
done:
    vf_flow_free(flow);
    vf_dist_free(base);
    for (int i = 0; i < 3; i++) vf_transform_free(tr[i]);
    vf_tape_free(t);
    vf_params_free(p);
    return s;
}

static void test_alloc_failures(void)
{
    CHECK(af_sweep("nsf flow", alloc_scenario, NULL, 0) == 0);
    CHECK(af_sweep("nsf flow (sticky)", alloc_scenario, NULL, 1) == 0);
}

/* ---- a spline-coupling flow fitted to 8gaussians ----------------------------------------------- */

#ifndef FIT_STEPS
#define FIT_STEPS 300
#endif
#define FIT_BATCH 128
#define FIT_HIDDEN 16
#define FIT_MIN_LL (-3.4)
#define FIT_MIN_GAIN 2.5
#define TRUE_LL (-2.838)

/* Measured held-out mean log-likelihoods, seeds 1..8 (float build; NSF_FIT_SEED=<k> picks the seed):
 * -2.968 -2.963 -2.994 -2.957 -2.999 -2.916 -3.039 -2.991 (mean -2.98, worst -3.04, standard errors
 * about 0.022); the standard normal gets -5.93 .. -6.01 on the same points and the true density
 * -2.838. The test asks for ll >= -3.4 (0.36 below the worst seed, about 16 standard errors), a gain
 * over the standard normal of at least 2.5 nats, and ll at most the true density's plus 4 standard
 * errors (a log-det that inflates the likelihood would break that).
 *
 * Mean held-out log-likelihood (and its standard error) of four spline couplings (8 bins on [-5, 5],
 * conditioners 2 x FIT_HIDDEN tanh) with alternating parity after `steps` Adam steps (lr 5e-3,
 * batches of FIT_BATCH) on 4096 training points; *normal_ll receives the standard normal's on the
 * same 2048 held-out points. */
static double fit_8gaussians(uint64_t seed, int steps, double *normal_ll, double *stderr_ll)
{
    const int64_t n_train = 4096, n_test = 2048, batch = FIT_BATCH;
    vf_rng r;
    vf_rng_init(&r, seed, 0);
    vf_tensor train = {0}, test = {0};
    CHECK_STATUS(vf_toy_sample("8gaussians", NULL, n_train, &r, &train), VF_OK);
    CHECK_STATUS(vf_toy_sample("8gaussians", NULL, n_test, &r, &test), VF_OK);
    vf_params *p = vf_params_new();
    vf_dist *base = NULL;
    CHECK_STATUS(vf_dist_normal_new(2, 0, &base), VF_OK);
    vf_transform *tr[4] = {0};
    vf_spline_coupling_params sp = vf_spline_coupling_default_params(2);
    sp.hidden[0] = sp.hidden[1] = FIT_HIDDEN;
    sp.act = VF_ACT_TANH;
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "transforms.%d", i);
        sp.parity = i % 2;
        CHECK_STATUS(vf_spline_coupling_new(p, name, &sp, &tr[i]), VF_OK);
    }
    vf_flow *flow = NULL;
    CHECK_STATUS(vf_flow_new(base, 4, tr, &flow), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, seed), VF_OK);
    double ll = -INFINITY;
    if (flow && train.data && test.data)
        ll = ff_fit_2d(flow, p, &train, &test, &r, steps, batch, 5e-3, stderr_ll, normal_ll);
    vf_flow_free(flow);
    vf_params_free(p);
    vf_tensor_free(&train);
    vf_tensor_free(&test);
    return ll;
}

static void test_fit_8gaussians(void)
{
    double normal_ll = 0, se = 0;
    uint64_t seed = 1;
    const char *env = getenv("NSF_FIT_SEED"); /* for measuring the spread over seeds */
    if (env) seed = strtoull(env, NULL, 10);
    double ll = fit_8gaussians(seed, FIT_STEPS, &normal_ll, &se);
    printf("8gaussians, 4 spline couplings, %d steps: held-out mean log-likelihood %.3f +- %.3f (standard normal "
           "%.3f, true density %.3f)\n", FIT_STEPS, ll, se, normal_ll, TRUE_LL);
    CHECK(ll >= FIT_MIN_LL);
    CHECK(ll - normal_ll >= FIT_MIN_GAIN);
    CHECK(ll <= TRUE_LL + 4 * se);
}

int main(void)
{
    RUN(test_errors);
    RUN(test_describe);
    RUN(test_identity_at_init);
    RUN(test_tails);
    RUN(test_coupling_hand_values);
    RUN(test_triangular);
    RUN(test_flowcheck_coupling);
    RUN(test_flowcheck_autoregressive);
    RUN(test_alloc_failures);
    RUN(test_fit_8gaussians);
    return vf_test_summary();
}
