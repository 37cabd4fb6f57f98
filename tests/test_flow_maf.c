/* test_flow_maf.c — MAF and IAF (src/flows/maf.c): identity at initialization, values against hand
 * computations, the D-pass inverse against an independent fixed-point solve, triangular Jacobians in
 * the MADE order, every flowcheck.h check (orders, contexts, residual and plain MADEs), training on
 * moons, describe(), errors and allocation failures. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <varflow/vf_autoregressive.h>
#include "alloc_fail.h"
#include "flowcheck.h"
#include "vf_test.h"

#define VF_PI_TEST 3.14159265358979323846
#define MOONS_MARGIN_NORMAL 1.0 /* nats above N(0, I), see test_train_moons */
#define MOONS_MARGIN_GAUSS 0.4  /* nats above the fitted Gaussian */

#if VF_USE_DOUBLE
#define TIGHT 1e-12
#else
#define TIGHT 2e-6
#endif

typedef struct setup {
    int iaf;
    int64_t d, c;
    vf_made_order order;
    int residual;
    vf_activation act;
    int64_t hidden;
    int depth;
} setup;

/* A finalized store with one transform (named "t0") whose parameters are ~ N(0, sd^2) when sd > 0. */
static vf_transform *build(const setup *s, vf_params **pp, double sd, uint64_t seed)
{
    vf_params *p = vf_params_new();
    vf_maf_params kp = vf_maf_default_params(s->d);
    kp.context = s->c;
    kp.order = s->order;
    kp.seed = seed;
    kp.residual = s->residual;
    kp.act = s->act;
    kp.hidden = s->hidden;
    kp.depth = s->depth;
    vf_transform *tr = NULL;
    vf_status st = s->iaf ? vf_iaf_new(p, "t0", &kp, &tr) : vf_maf_new(p, "t0", &kp, &tr);
    if (st != VF_OK || vf_params_finalize(p, seed + 1) != VF_OK) {
        fprintf(stderr, "build: %s\n", vf_last_error());
        vf_transform_free(tr);
        vf_params_free(p);
        *pp = NULL;
        return NULL;
    }
    if (sd > 0) fc_randomize(p, seed + 7, sd);
    *pp = p;
    return tr;
}

static void fill_normal(vf_real *x, int64_t n, uint64_t seed, double sd) { gc_fill(x, n, seed, 0.0, sd); }

/* ---- identity at initialization ------------------------------------------------------------ */

static void test_identity_at_init(void)
{
    for (int iaf = 0; iaf < 2; iaf++)
        for (int c = 0; c <= 2; c += 2) {
            setup s = {iaf, 4, c, VF_ORDER_RANDOM, iaf, VF_ACT_RELU, 16, 2};
            vf_params *p;
            vf_transform *tr = build(&s, &p, 0, 11);
            CHECK(tr != NULL);
            if (!tr) continue;
            vf_real x[5 * 4], ctx[5 * 2];
            fill_normal(x, 20, 1, 2.0);
            fill_normal(ctx, 10, 2, 1.0);
            vf_tape *t = vf_tape_new();
            vf_var cv = c ? vf_input(t, ctx, 2, (int64_t[]){5, 2}) : VF_NOVAR, lf, li;
            vf_var xv = vf_input(t, x, 2, (int64_t[]){5, 4});
            vf_var z = vf_transform_forward(tr, p, t, xv, cv, &lf);
            vf_var w = vf_transform_inverse(tr, p, t, xv, cv, &li);
            CHECK_STATUS(vf_tape_status(t), VF_OK);
            if (vf_tape_status(t) == VF_OK) {
                for (int i = 0; i < 20; i++) {
                    CHECK(vf_value(t, z)->data[i] == x[i]);
                    CHECK(vf_value(t, w)->data[i] == x[i]);
                }
                for (int i = 0; i < 5; i++) {
                    CHECK(vf_value(t, lf)->data[i] == 0);
                    CHECK(vf_value(t, li)->data[i] == 0);
                }
            }
            vf_tape_free(t);
            vf_transform_free(tr);
            vf_params_free(p);
        }
}

/* ---- hand computations ------------------------------------------------------------------------ */

/* Output weights 0 and output bias (b_0, a_0, b_1, a_1, ...) given: z_i = x_i exp(s_i) + b_i with
 * s_i = a_i / (1 + |a_i| / B), for MAF forward, and the same map for IAF's inverse. */
static void test_constant_conditioner(void)
{
    const double bias[6] = {0.5, -1.25, -2.0, 30.0, 0.75, 0.4};
    for (int iaf = 0; iaf < 2; iaf++)
        for (int bounded = 0; bounded < 2; bounded++) {
            vf_params *p = vf_params_new();
            vf_maf_params kp = vf_maf_default_params(3);
            kp.hidden = 8;
            kp.log_scale_bound = bounded ? 2.5 : 0.0;
            vf_transform *tr = NULL;
            CHECK_STATUS(iaf ? vf_iaf_new(p, "t", &kp, &tr) : vf_maf_new(p, "t", &kp, &tr), VF_OK);
            CHECK_STATUS(vf_params_finalize(p, 3), VF_OK);
            int32_t ob = vf_params_find(p, "t.net.output.bias");
            CHECK(ob >= 0);
            if (ob < 0) {
                vf_transform_free(tr);
                vf_params_free(p);
                continue;
            }
            for (int i = 0; i < 6; i++) vf_params_data(p, ob)[i] = (vf_real)(bounded ? bias[i] : bias[i] / 10);
            double b[3], sc[3], sum = 0;
            for (int i = 0; i < 3; i++) {
                double a = bounded ? bias[2 * i + 1] : bias[2 * i + 1] / 10;
                b[i] = bounded ? bias[2 * i] : bias[2 * i] / 10;
                sc[i] = bounded ? a / (1 + fabs(a) / 2.5) : a;
                sum += sc[i];
            }
            if (bounded) CHECK(fabs(sc[1]) < 2.5); /* a = 30 is bounded */
            vf_real x[2 * 3] = {0.3f, -1.2f, 2.0f, -0.7f, 0.0f, 1.5f};
            vf_tape *t = vf_tape_new();
            vf_var l;
            vf_var xv = vf_input(t, x, 2, (int64_t[]){2, 3});
            vf_var z = iaf ? vf_transform_inverse(tr, p, t, xv, VF_NOVAR, &l) : vf_transform_forward(tr, p, t, xv, VF_NOVAR, &l);
            CHECK_STATUS(vf_tape_status(t), VF_OK);
            if (vf_tape_status(t) == VF_OK)
                for (int r = 0; r < 2; r++) {
                    for (int i = 0; i < 3; i++) {
                        double want = (double)x[r * 3 + i] * exp(sc[i]) + b[i];
                        CHECK_NEAR(vf_value(t, z)->data[r * 3 + i], want, 4 * TIGHT * fmax(1, fabs(want)));
                    }
                    CHECK_NEAR(vf_value(t, l)->data[r], sum, 4 * TIGHT * fmax(1, fabs(sum)));
                }
            vf_tape_free(t);
            vf_transform_free(tr);
            vf_params_free(p);
        }
}

/* MAF forward with random parameters against the formula applied to the MADE's own output. */
static void test_one_pass_formula(void)
{
    setup s = {0, 4, 2, VF_ORDER_RANDOM, 1, VF_ACT_SILU, 12, 2};
    vf_params *p;
    vf_transform *tr = build(&s, &p, 0.5, 21);
    CHECK(tr != NULL && vf_autoregressive_made(tr) != NULL);
    if (!tr) return;
    const vf_made *net = vf_autoregressive_made(tr);
    vf_real x[3 * 4], ctx[3 * 2];
    fill_normal(x, 12, 5, 1.5);
    fill_normal(ctx, 6, 6, 1.0);
    vf_tape *t = vf_tape_new();
    vf_var l, xv = vf_input(t, x, 2, (int64_t[]){3, 4}), cv = vf_input(t, ctx, 2, (int64_t[]){3, 2});
    vf_var z = vf_transform_forward(tr, p, t, xv, cv, &l);
    vf_var y = vf_made_forward(net, p, t, xv, cv);
    CHECK_STATUS(vf_tape_status(t), VF_OK);
    if (vf_tape_status(t) == VF_OK) {
        const vf_real *yv = vf_value(t, y)->data;
        for (int r = 0; r < 3; r++) {
            double sum = 0;
            for (int i = 0; i < 4; i++) {
                double a = yv[r * 8 + 2 * i + 1], sc = a / (1 + fabs(a) / VF_MAF_LOG_SCALE_BOUND);
                double want = (double)x[r * 4 + i] * exp(sc) + yv[r * 8 + 2 * i];
                sum += sc;
                CHECK_NEAR(vf_value(t, z)->data[r * 4 + i], want, 8 * TIGHT * fmax(1, fabs(want)));
            }
            CHECK_NEAR(vf_value(t, l)->data[r], sum, 8 * TIGHT * fmax(1, fabs(sum)));
        }
    }
    vf_tape_free(t);
    vf_transform_free(tr);
    vf_params_free(p);
}

/* The D-pass direction (MAF inverse, IAF forward) against an independent solve: Jacobi iteration
 * u <- (v - b(u)) exp(-s(u)) on ALL dimensions at once, d times, from u = 0 (exact after d sweeps,
 * since sweep k fixes the dimensions of degree k). */
static void test_d_pass_exact(void)
{
    for (int iaf = 0; iaf < 2; iaf++) {
        setup s = {iaf, 5, 1, VF_ORDER_RANDOM, 0, VF_ACT_TANH, 16, 2};
        vf_params *p;
        vf_transform *tr = build(&s, &p, 0.5, 31 + (uint64_t)iaf);
        if (!tr) {
            CHECK(0);
            continue;
        }
        const vf_made *net = vf_autoregressive_made(tr);
        enum { N = 4, D = 5 };
        vf_real v[N * D], ctx[N], u[N * D] = {0};
        fill_normal(v, N * D, 8, 1.5);
        fill_normal(ctx, N, 9, 1.0);
        vf_tape *t = vf_tape_new();
        double ladj_ref[N] = {0};
        for (int sweep = 0; sweep < D; sweep++) {
            vf_tape_reset(t);
            vf_var y = vf_made_forward(net, p, t, vf_input(t, u, 2, (int64_t[]){N, D}), vf_input(t, ctx, 2, (int64_t[]){N, 1}));
            if (vf_tape_status(t) != VF_OK) break;
            const vf_real *yv = vf_value(t, y)->data;
            for (int r = 0; r < N; r++) {
                ladj_ref[r] = 0;
                for (int i = 0; i < D; i++) {
                    double a = yv[r * 2 * D + 2 * i + 1], sc = a / (1 + fabs(a) / VF_MAF_LOG_SCALE_BOUND);
                    u[r * D + i] = (vf_real)(((double)v[r * D + i] - yv[r * 2 * D + 2 * i]) * exp(-sc));
                    ladj_ref[r] -= sc;
                }
            }
        }
        vf_tape_reset(t);
        vf_var l, cv = vf_input(t, ctx, 2, (int64_t[]){N, 1}), vv = vf_input(t, v, 2, (int64_t[]){N, D});
        vf_var out = iaf ? vf_transform_forward(tr, p, t, vv, cv, &l) : vf_transform_inverse(tr, p, t, vv, cv, &l);
        CHECK_STATUS(vf_tape_status(t), VF_OK);
        if (vf_tape_status(t) == VF_OK) {
            CHECK_MSG(fc_maxrel(vf_value(t, out)->data, u, N * D) <= 8 * TIGHT, "%s: D-pass result off by %.3g",
                      iaf ? "iaf" : "maf", fc_maxrel(vf_value(t, out)->data, u, N * D));
            for (int r = 0; r < N; r++) CHECK_NEAR(vf_value(t, l)->data[r], ladj_ref[r], 8 * TIGHT * fmax(1, fabs(ladj_ref[r])));
        }
        vf_tape_free(t);
        vf_transform_free(tr);
        vf_params_free(p);
    }
}

/* ---- Jacobian structure ----------------------------------------------------------------------- */

/* d z_j / d x_k == 0 exactly whenever deg_k > deg_j, in all four maps; and some entry below the
 * diagonal is nonzero (so the check is not passed by a diagonal map). */
static void test_triangular_jacobian(void)
{
    enum { N = 3, D = 5 };
    for (int iaf = 0; iaf < 2; iaf++)
        for (int dir = 0; dir < 2; dir++) {
            setup s = {iaf, D, 0, VF_ORDER_RANDOM, dir, VF_ACT_RELU, 20, 2};
            vf_params *p;
            vf_transform *tr = build(&s, &p, 0.4, 41 + (uint64_t)(2 * iaf + dir));
            if (!tr) {
                CHECK(0);
                continue;
            }
            const int32_t *deg = vf_made_degrees(vf_autoregressive_made(tr));
            vf_real x[N * D], seed[N * D];
            fill_normal(x, N * D, 12, 1.0);
            vf_tape *t = vf_tape_new();
            int upper_zero = 1, lower_nonzero = 0, diag_nonzero = 1;
            for (int j = 0; j < D; j++) {
                vf_tape_reset(t);
                vf_var l, xv = vf_input_grad(t, x, 2, (int64_t[]){N, D});
                vf_var z = dir ? vf_transform_inverse(tr, p, t, xv, VF_NOVAR, &l) : vf_transform_forward(tr, p, t, xv, VF_NOVAR, &l);
                for (int i = 0; i < N * D; i++) seed[i] = (vf_real)(i % D == j);
                if (vf_tape_status(t) != VF_OK || vf_backward_seed(t, z, seed) != VF_OK) {
                    upper_zero = 0;
                    break;
                }
                const vf_real *g = vf_grad(t, xv);
                for (int r = 0; r < N; r++)
                    for (int k = 0; k < D; k++) {
                        double gk = g ? (double)g[r * D + k] : 0.0;
                        if (deg[k] > deg[j] && gk != 0) upper_zero = 0;
                        if (deg[k] < deg[j] && gk != 0) lower_nonzero = 1;
                        if (k == j && gk == 0) diag_nonzero = 0;
                    }
            }
            CHECK_MSG(upper_zero && lower_nonzero && diag_nonzero, "%s %s: upper zero %d, lower nonzero %d, diagonal %d",
                      iaf ? "iaf" : "maf", dir ? "inverse" : "forward", upper_zero, lower_nonzero, diag_nonzero);
            vf_tape_free(t);
            vf_transform_free(tr);
            vf_params_free(p);
        }
}

/* ---- flowcheck.h over the variants ------------------------------------------------------------ */

static void run_flowchecks(const setup *s, uint64_t seed)
{
    vf_params *p;
    vf_transform *tr = build(s, &p, 0.4, seed);
    if (!tr) {
        CHECK(0);
        return;
    }
    const char *kind = s->iaf ? "iaf" : "maf";
    enum { N = 3 };
    int64_t d = s->d, c = s->c;
    vf_real x[N * 6], ctx[N * 3], ctx_b[N * 3];
    fill_normal(x, N * d, seed + 100, 1.0);
    fill_normal(ctx, N * 3, seed + 101, 1.0);
    fill_normal(ctx_b, N * 3, seed + 102, 1.0);
    const vf_real *cp = c ? ctx : NULL;
    CHECK_MSG(fc_roundtrip(tr, p, N, x, cp), "%s d=%lld c=%lld order %d residual %d: roundtrip", kind, (long long)d,
              (long long)c, (int)s->order, s->residual);
    CHECK_MSG(fc_logdet(tr, p, N, x, cp), "%s d=%lld c=%lld order %d residual %d: logdet", kind, (long long)d, (long long)c,
              (int)s->order, s->residual);
    for (int inv = 0; inv < 2; inv++)
        CHECK_MSG(fc_gradcheck(tr, p, N, x, cp, inv), "%s d=%lld c=%lld order %d residual %d: gradcheck (inverse %d)", kind,
                  (long long)d, (long long)c, (int)s->order, s->residual, inv);
    if (c) CHECK_MSG(fc_context_matters(tr, p, N, x, ctx, ctx_b), "%s d=%lld: context matters", kind, (long long)d);
    if (d <= 2) {
        double half = d == 1 ? 25.0 : 10.0;
        int64_t cells = d == 1 ? 5000 : 250;
        CHECK_MSG(fc_normalization(tr, p, cp, -half, half, cells, 2e-3), "%s d=%lld c=%lld: normalization", kind,
                  (long long)d, (long long)c);
    }
    vf_transform_free(tr);
    vf_params_free(p);
}

/* Small networks (hidden 4-5) keep the parameter-wise gradient check short. */
static void test_flowcheck_d1(void)
{
    for (int iaf = 0; iaf < 2; iaf++)
        for (int c = 0; c <= 2; c += 2) {
            setup s = {iaf, 1, c, VF_ORDER_SEQUENTIAL, c > 0, VF_ACT_TANH, 4, c ? 1 : 2};
            run_flowchecks(&s, 200 + (uint64_t)(10 * iaf + c));
        }
}

static void test_flowcheck_d2(void)
{
    for (int iaf = 0; iaf < 2; iaf++)
        for (int c = 0; c <= 3; c += 3) {
            setup s = {iaf, 2, c, c ? VF_ORDER_REVERSED : VF_ORDER_SEQUENTIAL, c == 0, VF_ACT_TANH, 5, 1};
            run_flowchecks(&s, 300 + (uint64_t)(10 * iaf + c));
        }
}

/* d = 5: MAF with sequential order, no context, plain MADE, and with random order, context, residual
 * MADE; IAF with random order, context, plain MADE, and sequential order, no context, residual MADE
 * (MAF and IAF share the conditioner; d = 1, 2 cover the remaining pairings). */
static void test_flowcheck_d5(void)
{
    for (int iaf = 0; iaf < 2; iaf++)
        for (int variant = 0; variant < 2; variant++) {
            int ctx_random = variant != iaf, residual = variant;
            setup s = {iaf, 5, ctx_random ? 2 : 0, ctx_random ? VF_ORDER_RANDOM : VF_ORDER_SEQUENTIAL, residual,
                       residual ? VF_ACT_SILU : VF_ACT_TANH, 4, 1};
            run_flowchecks(&s, 400 + (uint64_t)(10 * iaf + variant));
        }
}

/* ---- training on moons -------------------------------------------------------------------------- */

/* 5 MAFs with reversals between them, Adam on moons. Held-out mean log-likelihoods: ll[0] of the flow,
 * ll[1] of N(0, I), ll[2] of the Gaussian fitted to the training set. */
static int train_moons(uint64_t seed, int steps, double ll[3])
{
    enum { NT = 5, TRAIN = 4096, TEST = 2000, BATCH = 128 };
    vf_params *p = vf_params_new();
    vf_transform *tr[2 * NT - 1] = {0};
    vf_maf_params kp = vf_maf_default_params(2);
    kp.hidden = 32;
    int ok = p != NULL;
    for (int i = 0; i < NT && ok; i++) {
        char name[32];
        snprintf(name, sizeof name, "transforms.%d", 2 * i);
        ok = vf_maf_new(p, name, &kp, &tr[2 * i]) == VF_OK;
        if (ok && i < NT - 1) ok = vf_reverse_new(2, 0, &tr[2 * i + 1]) == VF_OK;
    }
    vf_dist *base = NULL;
    vf_flow *flow = NULL;
    if (ok) ok = vf_dist_normal_new(2, 0, &base) == VF_OK;
    if (ok) ok = vf_flow_new(base, 2 * NT - 1, tr, &flow) == VF_OK;
    else {
        for (int i = 0; i < 2 * NT - 1; i++) vf_transform_free(tr[i]);
        vf_dist_free(base);
    }
    if (ok) ok = vf_params_finalize(p, seed) == VF_OK;
    vf_rng r;
    vf_rng_init(&r, seed, 77);
    vf_tensor train = {0}, test = {0};
    if (ok) ok = vf_toy_sample("moons", NULL, TRAIN, &r, &train) == VF_OK && vf_toy_sample("moons", NULL, TEST, &r, &test) == VF_OK;
    vf_adam_params ap = vf_adam_default_params();
    ap.lr = 5e-3;
    vf_adam *opt = NULL;
    if (ok) ok = vf_adam_new(vf_params_size(p), &ap, &opt) == VF_OK;
    vf_tape *t = vf_tape_new();
    ok = ok && t;
    for (int k = 0; k < steps && ok; k++) {
        vf_tape_reset(t);
        vf_params_zero_grad(p);
        int64_t start = (int64_t)(k * BATCH) % TRAIN;
        vf_var x = vf_input(t, train.data + start * 2, 2, (int64_t[]){BATCH, 2});
        vf_var loss = vf_neg(t, vf_mean(t, vf_flow_log_prob(flow, p, t, x, VF_NOVAR), VF_ALL_AXES, 0));
        ok = vf_tape_status(t) == VF_OK && vf_backward(t, loss) == VF_OK &&
             vf_adam_step(opt, vf_params_values(p), vf_params_grads(p)) == VF_OK;
    }
    if (ok) {
        vf_tape_reset(t);
        vf_var lp = vf_flow_log_prob(flow, p, t, vf_input(t, test.data, 2, (int64_t[]){TEST, 2}), VF_NOVAR);
        ok = vf_tape_status(t) == VF_OK;
        /* the Gaussian with the training set's mean and covariance (the best affine flow) */
        double m[2] = {0, 0}, S[3] = {0, 0, 0};
        for (int i = 0; i < TRAIN; i++) m[0] += train.data[2 * i] / (double)TRAIN, m[1] += train.data[2 * i + 1] / (double)TRAIN;
        for (int i = 0; i < TRAIN; i++) {
            double a = train.data[2 * i] - m[0], b = train.data[2 * i + 1] - m[1];
            S[0] += a * a / TRAIN, S[1] += a * b / TRAIN, S[2] += b * b / TRAIN;
        }
        double det = S[0] * S[2] - S[1] * S[1];
        double sum = 0, sum_n = 0, sum_g = 0;
        for (int i = 0; ok && i < TEST; i++) {
            double a = test.data[2 * i], b = test.data[2 * i + 1], da = a - m[0], db = b - m[1];
            sum += vf_value(t, lp)->data[i];
            sum_n += -0.5 * (a * a + b * b) - log(2 * VF_PI_TEST);
            sum_g += -0.5 * (S[2] * da * da - 2 * S[1] * da * db + S[0] * db * db) / det - 0.5 * log(det) - log(2 * VF_PI_TEST);
        }
        ll[0] = sum / TEST;
        ll[1] = sum_n / TEST;
        ll[2] = sum_g / TEST;
    }
    if (!ok) fprintf(stderr, "train_moons: %s / %s\n", vf_last_error(), t ? vf_tape_error(t) : "");
    vf_tape_free(t);
    vf_adam_free(opt);
    vf_tensor_free(&train);
    vf_tensor_free(&test);
    vf_flow_free(flow);
    vf_params_free(p);
    return ok;
}

/* 400 steps from seed 1. Measured held-out mean log-likelihoods (nats; flow / N(0, I) / fitted Gaussian):
 *   float:  seed 1 -2.568 / -3.876 / -3.279, seed 2 -2.577 / -3.932 / -3.300, seed 3 -2.542 / -3.828 / -3.281
 *   double: seed 1 -2.572,                   seed 2 -2.550,                   seed 3 -2.565
 * so the flow beats N(0, I) by 1.29-1.38 nats and the Gaussian (the best affine flow) by 0.71-0.75: the
 * thresholds (1.0 and 0.4) leave ~0.3 nats of slack over the seeds. One seed runs here to keep the
 * sanitizer build fast; MAF_MOONS_SEEDS=3 at compile time runs all three. */
#ifndef MAF_MOONS_SEEDS
#define MAF_MOONS_SEEDS 1
#endif
static void test_train_moons(void)
{
    for (uint64_t seed = 1; seed <= MAF_MOONS_SEEDS; seed++) {
        double ll[3] = {NAN, NAN, NAN};
        CHECK(train_moons(seed, 400, ll));
        printf("moons seed %llu: held-out mean log-likelihood %.4f (N(0, I): %.4f, fitted Gaussian: %.4f)\n",
               (unsigned long long)seed, ll[0], ll[1], ll[2]);
        CHECK_MSG(ll[0] >= ll[1] + MOONS_MARGIN_NORMAL, "seed %llu: %.4f < N(0, I) %.4f + %.2f", (unsigned long long)seed,
                  ll[0], ll[1], MOONS_MARGIN_NORMAL);
        CHECK_MSG(ll[0] >= ll[2] + MOONS_MARGIN_GAUSS, "seed %llu: %.4f < Gaussian %.4f + %.2f", (unsigned long long)seed,
                  ll[0], ll[2], MOONS_MARGIN_GAUSS);
    }
}

/* ---- describe, names, errors ---------------------------------------------------------------- */

static void test_describe(void)
{
    vf_params *p = vf_params_new();
    vf_maf_params kp = vf_maf_default_params(3);
    vf_transform *a = NULL, *b = NULL;
    CHECK_STATUS(vf_maf_new(p, "a", &kp, &a), VF_OK);
    kp.context = 4;
    kp.hidden = 17;
    kp.depth = 3;
    kp.residual = 1;
    kp.act = VF_ACT_SILU;
    kp.order = VF_ORDER_RANDOM;
    kp.seed = 18446744073709551615ULL;
    kp.random_degrees = 1;
    kp.log_scale_bound = 0;
    kp.hidden_layout = VF_HIDDEN_INTERLEAVED; /* recorded by leaving the key out, as older files did */
    CHECK_STATUS(vf_iaf_new(p, "b", &kp, &b), VF_OK);
    char json[512];
    CHECK_STATUS(vf_transform_describe(a, json, sizeof json), VF_OK);
    CHECK_MSG(strcmp(json, "{\"kind\":\"maf\",\"dim\":3,\"context\":0,\"hidden\":64,\"depth\":2,\"residual\":0,"
                           "\"act\":\"relu\",\"order\":\"sequential\",\"seed\":0,\"random_degrees\":0,"
                           "\"log_scale_bound\":6.9077552789821368,\"hidden_layout\":\"sorted\"}") == 0,
              "%s", json);
    CHECK_STATUS(vf_transform_describe(b, json, sizeof json), VF_OK);
    CHECK_MSG(strcmp(json, "{\"kind\":\"iaf\",\"dim\":3,\"context\":4,\"hidden\":17,\"depth\":3,\"residual\":1,"
                           "\"act\":\"silu\",\"order\":\"random\",\"seed\":18446744073709551615,\"random_degrees\":1,"
                           "\"log_scale_bound\":0}") == 0,
              "%s", json);
    CHECK_STATUS(vf_transform_describe(a, json, 20), VF_ERR_ARG);
    CHECK(strcmp(vf_transform_kind(a), "maf") == 0 && strcmp(vf_transform_kind(b), "iaf") == 0);
    CHECK(vf_transform_dim(b) == 3 && vf_transform_context_dim(b) == 4 && vf_transform_context_dim(a) == 0);
    /* parameter names and shapes: the MADE under "<name>.net" with 2 outputs per dimension */
    vf_param_info info;
    int32_t ow = vf_params_find(p, "a.net.output.weight");
    CHECK(ow >= 0 && vf_params_info(p, ow, &info) == VF_OK && info.shape[0] == 6 && info.shape[1] == 64);
    CHECK(vf_params_find(p, "a.net.input.weight") >= 0 && vf_params_find(p, "b.net.context.weight") >= 0 &&
          vf_params_find(p, "b.net.blocks.2.linear2.weight") >= 0);
    /* the degrees of a random order are a permutation, as in the MADE */
    const vf_made *net = vf_autoregressive_made(b);
    CHECK(net && vf_made_get_params(net)->order == VF_ORDER_RANDOM && vf_made_get_params(net)->output_multiplier == 2);
    vf_transform *rev = NULL;
    CHECK_STATUS(vf_reverse_new(3, 0, &rev), VF_OK);
    CHECK(vf_autoregressive_made(rev) == NULL && vf_autoregressive_made(NULL) == NULL);
    vf_transform_free(rev);
    vf_transform_free(a);
    vf_transform_free(b);
    vf_params_free(p);
}

static void test_errors(void)
{
    vf_params *p = vf_params_new();
    vf_transform *tr = (vf_transform *)&tr; /* must become NULL */
    vf_maf_params good = vf_maf_default_params(3), kp;
    CHECK_STATUS(vf_maf_new(NULL, "x", &good, &tr), VF_ERR_ARG);
    CHECK(tr == NULL);
    CHECK_STATUS(vf_maf_new(p, "x", NULL, &tr), VF_ERR_ARG);
    CHECK_STATUS(vf_iaf_new(p, "x", &good, NULL), VF_ERR_ARG);
    vf_maf_params bad[10];
    for (int i = 0; i < 10; i++) bad[i] = good;
    bad[0].features = 0;
    bad[1].context = -1;
    bad[2].hidden = 0;
    bad[3].depth = 0;                 /* plain MADE needs a hidden layer */
    bad[4].act = VF_ACT_COUNT;
    bad[5].order = (vf_made_order)7;
    bad[6].log_scale_bound = -1;
    bad[7].log_scale_bound = INFINITY;
    bad[8].residual = 2;
    bad[9].random_degrees = -1;
    for (int i = 0; i < 10; i++) {
        CHECK_MSG(vf_maf_new(p, "x", &bad[i], &tr) == VF_ERR_ARG && tr == NULL, "maf bad setting %d", i);
        CHECK_MSG(vf_iaf_new(p, "x", &bad[i], &tr) == VF_ERR_ARG && tr == NULL, "iaf bad setting %d", i);
        CHECK(vf_last_error()[0] != '\0');
    }
    CHECK(vf_params_count(p) == 0);
    kp = good;
    kp.residual = 1;
    kp.depth = 0; /* a residual MADE with no blocks is valid */
    CHECK_STATUS(vf_maf_new(p, "x", &kp, &tr), VF_OK);
    int32_t count = vf_params_count(p);
    vf_transform *dup = NULL;
    CHECK_STATUS(vf_iaf_new(p, "x", &good, &dup), VF_ERR_ARG); /* duplicate names */
    CHECK(dup == NULL && vf_params_count(p) == count);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    CHECK_STATUS(vf_iaf_new(p, "y", &good, &dup), VF_ERR_STATE); /* store already finalized */
    CHECK(dup == NULL);
    /* bad inputs at run time: tape errors, no crash */
    vf_tape *t = vf_tape_new();
    vf_real x[8] = {0};
    vf_var l;
    CHECK(vf_transform_forward(tr, p, t, vf_input(t, x, 2, (int64_t[]){2, 4}), VF_NOVAR, &l) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_SHAPE);
    vf_tape_reset(t);
    CHECK(vf_transform_inverse(tr, p, t, vf_input(t, x, 2, (int64_t[]){2, 3}), vf_input(t, x, 2, (int64_t[]){2, 1}), &l) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_ARG);
    vf_tape_free(t);
    vf_transform_free(tr);
    vf_params_free(p);
}

/* ---- allocation failures ------------------------------------------------------------------------ */

static vf_status alloc_scenario(void *ctx)
{
    (void)ctx;
    vf_params *p = vf_params_new();
    if (!p) return VF_ERR_NOMEM;
    vf_maf_params kp = vf_maf_default_params(3);
    kp.context = 2;
    kp.hidden = 6;
    kp.order = VF_ORDER_RANDOM;
    vf_transform *m = NULL, *i = NULL;
    vf_status s = vf_maf_new(p, "m", &kp, &m);
    kp.residual = 1;
    if (s == VF_OK) s = vf_iaf_new(p, "i", &kp, &i);
    if (s == VF_OK) s = vf_params_finalize(p, 5);
    vf_tape *t = s == VF_OK ? vf_tape_new() : NULL;
    if (s == VF_OK && !t) s = VF_ERR_NOMEM;
    if (s == VF_OK) {
        fc_randomize(p, 6, 0.3);
        vf_real x[2 * 3] = {0.5f, -1, 2, 0.1f, 0.2f, -0.3f}, c[2 * 2] = {1, 2, 3, 4};
        vf_var cv = vf_input(t, c, 2, (int64_t[]){2, 2}), l1, l2, l3, l4;
        vf_var z = vf_transform_forward(m, p, t, vf_input(t, x, 2, (int64_t[]){2, 3}), cv, &l1);
        z = vf_transform_forward(i, p, t, z, cv, &l2);
        vf_var back = vf_transform_inverse(m, p, t, vf_transform_inverse(i, p, t, z, cv, &l3), cv, &l4);
        s = vf_tape_status(t);
        if (s == VF_OK && fc_maxrel(vf_value(t, back)->data, x, 6) > FC_ROUNDTRIP_TOL) s = VF_ERR_NUMERIC;
    }
    vf_tape_free(t);
    vf_transform_free(m);
    vf_transform_free(i);
    vf_params_free(p);
    return s;
}

static void test_alloc_failures(void)
{
    CHECK(af_sweep("maf/iaf", alloc_scenario, NULL, 0) == 0);
    CHECK(af_sweep("maf/iaf sticky", alloc_scenario, NULL, 1) == 0);
}

int main(void)
{
    RUN(test_identity_at_init);
    RUN(test_constant_conditioner);
    RUN(test_one_pass_formula);
    RUN(test_d_pass_exact);
    RUN(test_triangular_jacobian);
    RUN(test_flowcheck_d1);
    RUN(test_flowcheck_d2);
    RUN(test_flowcheck_d5);
    RUN(test_train_moons);
    RUN(test_describe);
    RUN(test_errors);
    RUN(test_alloc_failures);
    return vf_test_summary();
}
