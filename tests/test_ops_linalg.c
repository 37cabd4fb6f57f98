/* test_ops_linalg.c — matmul, fused linear (every activation), MADE masked linear, bias add. */
#include <string.h>
#include "vf_test.h"
#include "internal.h"
#include "gradcheck.h"

typedef struct { int ta, tb; } mm_ctx;

static vf_var build_matmul(vf_tape *t, const vf_var *in, void *ctx)
{
    mm_ctx *c = ctx;
    return vf_matmul(t, in[0], in[1], c->ta, c->tb);
}

static void test_matmul(void)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            vf_real a[12], b[20];
            gc_fill(a, 12, 1, 0, 1);
            gc_fill(b, 20, 2, 0, 1);
            mm_ctx c = {ta, tb};
            gc_input in[2] = {{a, 2, {ta ? 4 : 3, ta ? 3 : 4}, 1}, {b, 2, {tb ? 5 : 4, tb ? 4 : 5}, 1}};
            CHECK_MSG(gradcheck("matmul", build_matmul, &c, 2, in), "matmul ta=%d tb=%d", ta, tb);
            in[0].differentiate = 0; /* gradient to one side only */
            CHECK_MSG(gradcheck("matmul/b", build_matmul, &c, 2, in), "matmul b-only ta=%d tb=%d", ta, tb);
        }
}

static void test_matmul_values(void)
{
    vf_tape *t = vf_tape_new();
    vf_real a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}; /* a [2,3], b [3,2] */
    vf_var va = vf_input(t, a, 2, (int64_t[]){2, 3}), vb = vf_input(t, b, 2, (int64_t[]){3, 2});
    const vf_tensor *y = vf_value(t, vf_matmul(t, va, vb, 0, 0));
    CHECK(y && y->shape[0] == 2 && y->shape[1] == 2);
    if (y) {
        CHECK(y->data[0] == 4 && y->data[1] == 5 && y->data[2] == 10 && y->data[3] == 11);
    }
    CHECK(vf_matmul(t, va, va, 0, 0) == VF_NOVAR); /* [2,3] x [2,3] */
    CHECK(vf_tape_status(t) == VF_ERR_SHAPE);
    vf_tape_free(t);
}

typedef struct { vf_activation act; int bias; } lin_ctx;

static vf_var build_linear(vf_tape *t, const vf_var *in, void *ctx)
{
    lin_ctx *c = ctx;
    return vf_linear(t, in[0], in[1], c->bias ? in[2] : VF_NOVAR, c->act);
}

static void test_linear_all_activations(void)
{
    for (int act = 0; act < VF_ACT_COUNT; act++)
        for (int bias = 0; bias < 2; bias++) {
            vf_real x[8], w[12], b[3];
            gc_fill(x, 8, 3, 0, 1);
            gc_fill(w, 12, 4, 0, 0.7);
            gc_fill(b, 3, 5, 0.1, 0.5);
            lin_ctx c = {(vf_activation)act, bias};
            gc_input in[3] = {{x, 2, {2, 4}, 1}, {w, 2, {3, 4}, 1}, {b, 1, {3}, 1}};
            CHECK_MSG(gradcheck("linear", build_linear, &c, bias ? 3 : 2, in), "linear act=%s bias=%d",
                      vf_activation_name((vf_activation)act), bias);
        }
}

/* The fused layer equals matmul + bias + activation built from separate ops. */
static void test_linear_matches_composition(void)
{
    vf_tape *t = vf_tape_new();
    vf_real x[15], w[20], b[4];
    gc_fill(x, 15, 6, 0, 1);
    gc_fill(w, 20, 7, 0, 1);
    gc_fill(b, 4, 8, 0, 1);
    vf_var vx = vf_input(t, x, 2, (int64_t[]){3, 5}), vw = vf_input(t, w, 2, (int64_t[]){4, 5});
    vf_var vb = vf_input(t, b, 1, (int64_t[]){4});
    for (int act = 0; act < VF_ACT_COUNT; act++) {
        const vf_tensor *f = vf_value(t, vf_linear(t, vx, vw, vb, (vf_activation)act));
        const vf_tensor *g = vf_value(t, vf_activate(t, vf_bias_add(t, vf_matmul(t, vx, vw, 0, 1), vb),
                                                     (vf_activation)act));
        CHECK(f && g);
        if (!f || !g) break;
        double err = 0;
        for (int i = 0; i < 12; i++) err = fmax(err, fabs((double)f->data[i] - (double)g->data[i]));
        CHECK_MSG(err <= (VF_USE_DOUBLE ? 1e-14 : 1e-6), "act %d err %g", act, err);
    }
    CHECK(vf_tape_status(t) == VF_OK);
    vf_tape_free(t);
}

/* Without OpenBLAS the layer runs its product on the built-in kernel with bias and activation fused
 * (vf__gemm_fusing_pays); with it, through vf__gemm_ws and passes after it (the CI's builds cover
 * both). Either equals matmul + bias + activation: every activation, with and without bias, with the
 * tape recording (z kept for the derivatives) and in inference mode (the activation in place), over
 * shapes with partial tiles and strips, several row blocks and two depth slices; and its derivatives
 * pass gradcheck. */
static void test_linear_fused_product(void)
{
    static const int64_t shapes[][3] = {{7, 5, 6}, {13, 37, 29}, {130, 300, 70}}; /* rows, in, out */
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        int64_t rows = shapes[sh][0], in = shapes[sh][1], out = shapes[sh][2];
        CHECK(vf__gemm_fusing_pays(rows, out, in) == (strcmp(vf__gemm_backend(), "builtin") == 0));
        vf_real *x = malloc((size_t)(rows * in) * sizeof *x), *w = malloc((size_t)(out * in) * sizeof *w);
        vf_real *b = malloc((size_t)out * sizeof *b);
        gc_fill(x, rows * in, 61, 0, 1);
        gc_fill(w, out * in, 62, 0, 1.0 / sqrt((double)in));
        gc_fill(b, out, 63, 0, 1);
        for (int recording = 0; recording < 2; recording++)
            for (int act = 0; act < VF_ACT_COUNT; act++)
                for (int bias = 0; bias < 2; bias++) {
                    vf_tape *t = vf_tape_new();
                    vf_tape_set_grad_enabled(t, recording);
                    vf_var vx = vf_input_grad(t, x, 2, (int64_t[]){rows, in});
                    vf_var vw = vf_input_grad(t, w, 2, (int64_t[]){out, in}), vb = vf_input(t, b, 1, (int64_t[]){out});
                    vf_var prod = vf_matmul(t, vx, vw, 0, 1);
                    const vf_tensor *f = vf_value(t, vf_linear(t, vx, vw, bias ? vb : VF_NOVAR, (vf_activation)act));
                    const vf_tensor *g = vf_value(t, vf_activate(t, bias ? vf_bias_add(t, prod, vb) : prod,
                                                                 (vf_activation)act));
                    CHECK_STATUS(vf_tape_status(t), VF_OK);
                    double err = f && g ? 0 : INFINITY;
                    for (int64_t i = 0; f && g && i < rows * out; i++)
                        err = fmax(err, fabs((double)f->data[i] - (double)g->data[i]));
                    CHECK_MSG(err <= (VF_USE_DOUBLE ? 1e-13 : 2e-6) * (double)(in + 1),
                              "%lldx%lldx%lld act %s bias %d recording %d: %g", (long long)rows, (long long)in,
                              (long long)out, vf_activation_name((vf_activation)act), bias, recording, err);
                    vf_tape_free(t);
                }
        free(x); free(w); free(b);
    }
    for (int act = 0; act < VF_ACT_COUNT; act++) {
        /* data whose pre-activations all lie at least 0.12 from 0, past the finite differences' reach
         * (the kinks of relu, leaky_relu and selu) */
        vf_real x[35], w[30], b[6];
        gc_fill(x, 35, 91, 0, 1);
        gc_fill(w, 30, 92, 0, 0.7);
        gc_fill(b, 6, 93, 0.1, 0.5);
        double nearest = INFINITY;
        for (int i = 0; i < 7; i++)
            for (int j = 0; j < 6; j++) {
                double z = b[j];
                for (int p = 0; p < 5; p++) z += (double)x[i * 5 + p] * (double)w[j * 5 + p];
                nearest = fmin(nearest, fabs(z));
            }
        CHECK(nearest > 0.12);
        lin_ctx c = {(vf_activation)act, 1};
        gc_input gi[3] = {{x, 2, {7, 5}, 1}, {w, 2, {6, 5}, 1}, {b, 1, {6}, 1}};
        CHECK_MSG(gradcheck("linear", build_linear, &c, 3, gi), "fused linear act=%s",
                  vf_activation_name((vf_activation)act));
    }
}

static vf_var build_masked(vf_tape *t, const vf_var *in, void *ctx)
{
    (void)ctx;
    return vf_masked_linear(t, in[0], in[1], in[2], in[3]);
}

static void test_masked_linear(void)
{
    vf_real x[8], w[12], b[3];
    vf_real m[12] = {1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0};
    gc_fill(x, 8, 9, 0, 1);
    gc_fill(w, 12, 10, 0, 1);
    gc_fill(b, 3, 11, 0, 1);
    gc_input in[4] = {{x, 2, {2, 4}, 1}, {w, 2, {3, 4}, 1}, {m, 2, {3, 4}, 0}, {b, 1, {3}, 1}};
    CHECK(gradcheck("masked_linear", build_masked, NULL, 4, in));

    /* Masked-out weights get exactly zero gradient and have no effect on the output. */
    vf_tape *t = vf_tape_new();
    vf_real gw[12] = {0}, gb[3] = {0};
    vf_var vx = vf_input(t, x, 2, (int64_t[]){2, 4});
    vf_var vw = vf_param(t, w, gw, 2, (int64_t[]){3, 4});
    vf_var vm = vf_input(t, m, 2, (int64_t[]){3, 4});
    vf_var vb = vf_param(t, b, gb, 1, (int64_t[]){3});
    vf_var y = vf_sum(t, vf_masked_linear(t, vx, vw, vm, vb), VF_ALL_AXES, 0);
    CHECK(vf_backward(t, y) == VF_OK);
    for (int i = 0; i < 12; i++)
        if (m[i] == 0) CHECK(gw[i] == 0);
    vf_tape_free(t);
}

/* A block-triangular mask over several MASK_BLOCK runs (the sorted MADE layout), with an irregular
 * row and an empty row: values and gradients equal the dense formulas. */
static void test_masked_linear_blocks(void)
{
    enum { R = 5, OUT = 45, IN = 37 };
    static vf_real x[R * IN], w[OUT * IN], m[OUT * IN], b[OUT], r[R * OUT], gw[OUT * IN], gb[OUT], gx[R * IN];
    gc_fill(x, R * IN, 1, 0, 1);
    gc_fill(w, OUT * IN, 2, 0, 1);
    gc_fill(b, OUT, 3, 0, 1);
    gc_fill(r, R * OUT, 4, 0, 1);
    for (int o = 0; o < OUT; o++) /* output o sees inputs [0, prefix(o)), prefix rising with o */
        for (int i = 0; i < IN; i++) m[o * IN + i] = i < (o * IN) / OUT ? 1 : 0;
    for (int i = 0; i < IN; i++) m[20 * IN + i] = i % 3 == 0; /* an irregular row */
    vf_tape *t = vf_tape_new();
    vf_var vx = vf_param(t, x, gx, 2, (int64_t[]){R, IN});
    vf_var vw = vf_param(t, w, gw, 2, (int64_t[]){OUT, IN});
    vf_var vb = vf_param(t, b, gb, 1, (int64_t[]){OUT});
    vf_var y = vf_masked_linear(t, vx, vw, vf_input(t, m, 2, (int64_t[]){OUT, IN}), vb);
    vf_var loss = vf_sum(t, vf_mul(t, y, vf_input(t, r, 2, (int64_t[]){R, OUT})), VF_ALL_AXES, 0);
    CHECK(vf_backward(t, loss) == VF_OK);
    double tol = VF_USE_DOUBLE ? 1e-12 : 1e-4, worst = 0;
    for (int n = 0; n < R; n++)
        for (int o = 0; o < OUT; o++) {
            double want = b[o];
            for (int i = 0; i < IN; i++) want += (double)x[n * IN + i] * w[o * IN + i] * m[o * IN + i];
            worst = fmax(worst, fabs(want - vf_value(t, y)->data[n * OUT + o]));
        }
    for (int o = 0; o < OUT; o++) {
        double want_b = 0;
        for (int n = 0; n < R; n++) want_b += r[n * OUT + o];
        worst = fmax(worst, fabs(want_b - gb[o]));
        for (int i = 0; i < IN; i++) {
            double want = 0;
            for (int n = 0; n < R; n++) want += (double)r[n * OUT + o] * x[n * IN + i];
            worst = fmax(worst, fabs(want * m[o * IN + i] - gw[o * IN + i]));
        }
    }
    for (int n = 0; n < R; n++)
        for (int i = 0; i < IN; i++) {
            double want = 0;
            for (int o = 0; o < OUT; o++) want += (double)r[n * OUT + o] * w[o * IN + i] * m[o * IN + i];
            worst = fmax(worst, fabs(want - gx[n * IN + i]));
        }
    CHECK_MSG(worst <= tol, "largest difference from the dense formulas: %g", worst);
    vf_tape_free(t);
}

/* Rows [7, 27) of a 45 x 37 masked layer on the first 30 inputs: the dense formulas on that block;
 * the weight and bias gradients outside it stay zero. */
static void test_masked_linear_rows(void)
{
    enum { R = 4, OUT = 45, IN = 37, ROW0 = 7, ROWS = 20, K = 30 };
    static vf_real x[R * K], w[OUT * IN], m[OUT * IN], b[OUT], r[R * ROWS], gw[OUT * IN], gb[OUT], gx[R * K];
    gc_fill(x, R * K, 11, 0, 1);
    gc_fill(w, OUT * IN, 12, 0, 1);
    gc_fill(b, OUT, 13, 0, 1);
    gc_fill(r, R * ROWS, 14, 0, 1);
    for (int o = 0; o < OUT; o++)
        for (int i = 0; i < IN; i++) m[o * IN + i] = i <= o / 2 + 3 ? 1 : 0;
    vf_tape *t = vf_tape_new();
    vf_var y = vf_masked_linear_rows(t, vf_param(t, x, gx, 2, (int64_t[]){R, K}), vf_param(t, w, gw, 2, (int64_t[]){OUT, IN}),
                                     vf_input(t, m, 2, (int64_t[]){OUT, IN}), vf_param(t, b, gb, 1, (int64_t[]){OUT}),
                                     ROW0, ROWS, VF_ACT_NONE);
    vf_var loss = vf_sum(t, vf_mul(t, y, vf_input(t, r, 2, (int64_t[]){R, ROWS})), VF_ALL_AXES, 0);
    CHECK(vf_backward(t, loss) == VF_OK);
    double tol = VF_USE_DOUBLE ? 1e-12 : 1e-4, worst = 0;
    for (int n = 0; n < R; n++)
        for (int o = 0; o < ROWS; o++) {
            double want = b[ROW0 + o];
            for (int i = 0; i < K; i++) want += (double)x[n * K + i] * w[(ROW0 + o) * IN + i] * m[(ROW0 + o) * IN + i];
            worst = fmax(worst, fabs(want - vf_value(t, y)->data[n * ROWS + o]));
        }
    for (int o = 0; o < OUT; o++) {
        int in_block = o >= ROW0 && o < ROW0 + ROWS;
        double want_b = 0;
        for (int n = 0; n < R && in_block; n++) want_b += r[n * ROWS + o - ROW0];
        worst = fmax(worst, fabs(want_b - gb[o]));
        for (int i = 0; i < IN; i++) {
            double want = 0;
            for (int n = 0; n < R && in_block && i < K; n++) want += (double)r[n * ROWS + o - ROW0] * x[n * K + i];
            worst = fmax(worst, fabs(want * m[o * IN + i] - gw[o * IN + i]));
        }
    }
    for (int n = 0; n < R; n++)
        for (int i = 0; i < K; i++) {
            double want = 0;
            for (int o = 0; o < ROWS; o++) want += (double)r[n * ROWS + o] * w[(ROW0 + o) * IN + i] * m[(ROW0 + o) * IN + i];
            worst = fmax(worst, fabs(want - gx[n * K + i]));
        }
    CHECK_MSG(worst <= tol, "largest difference from the dense formulas: %g", worst);
    /* rows outside the weight, or more inputs than it has: errors */
    vf_tape_reset(t);
    CHECK(vf_masked_linear_rows(t, vf_input(t, x, 2, (int64_t[]){R, K}), vf_input(t, w, 2, (int64_t[]){OUT, IN}),
                                vf_input(t, m, 2, (int64_t[]){OUT, IN}), VF_NOVAR, 40, 6, VF_ACT_NONE) == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_ARG);
    vf_tape_reset(t);
    CHECK(vf_masked_linear_rows(t, vf_input(t, w, 2, (int64_t[]){1, 40}), vf_input(t, w, 2, (int64_t[]){OUT, IN}),
                                vf_input(t, m, 2, (int64_t[]){OUT, IN}), VF_NOVAR, 0, 6, VF_ACT_NONE) == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_SHAPE);
    vf_tape_free(t);
}

/* The fused activation: a row block with tanh / silu / relu passes the gradient checks (values,
 * reverse and forward mode through gradcheck.h) and equals the activation applied afterwards. */
static vf_activation fused_act;

static vf_var build_masked_rows_act(vf_tape *t, const vf_var *in, void *ctx)
{
    (void)ctx;
    return vf_masked_linear_rows(t, in[0], in[1], in[2], in[3], 2, 3, fused_act);
}

static void test_masked_linear_rows_act(void)
{
    vf_real x[3 * 4], w[6 * 5], b[6];
    vf_real m[6 * 5] = {1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1};
    gc_fill(x, 12, 21, 0, 1);
    gc_fill(w, 30, 22, 0, 1);
    gc_fill(b, 6, 23, 0, 1);
    static const vf_activation acts[] = {VF_ACT_TANH, VF_ACT_SILU, VF_ACT_SOFTPLUS};
    for (int i = 0; i < 3; i++) {
        fused_act = acts[i];
        gc_input in[4] = {{x, 2, {3, 4}, 1}, {w, 2, {6, 5}, 1}, {m, 2, {6, 5}, 0}, {b, 1, {6}, 1}};
        CHECK_MSG(gradcheck("masked_linear_rows act", build_masked_rows_act, NULL, 4, in), "activation %s",
                  vf_activation_name(acts[i]));
        vf_tape *t = vf_tape_new();
        vf_var xv = vf_input(t, x, 2, (int64_t[]){3, 4}), wv = vf_input(t, w, 2, (int64_t[]){6, 5});
        vf_var mv = vf_input(t, m, 2, (int64_t[]){6, 5}), bv = vf_input(t, b, 1, (int64_t[]){6});
        vf_var fused = vf_masked_linear_rows(t, xv, wv, mv, bv, 2, 3, acts[i]);
        vf_var apart = vf_activate(t, vf_masked_linear_rows(t, xv, wv, mv, bv, 2, 3, VF_ACT_NONE), acts[i]);
        CHECK(vf_tape_status(t) == VF_OK &&
              memcmp(vf_value(t, fused)->data, vf_value(t, apart)->data, 9 * sizeof(vf_real)) == 0);
        vf_tape_free(t);
    }
}

/* A ReLU fused into the linear or masked layer keeps no pre-activation (its output stands in for it):
 * values, reverse-mode gradients of x, W, b and forward-mode tangents equal, bit for bit, those of the
 * layer without activation followed by vf_activate's ReLU. Inputs are spread so that about half of
 * the pre-activations are negative. (A central-difference gradient check is unreliable at ReLU's
 * kink; this comparison is exact instead.) */
static vf_var relu_layer(vf_tape *t, int masked, vf_var x, vf_var w, vf_var m, vf_var b, vf_activation act)
{
    return masked ? vf_masked_linear_rows(t, x, w, m, b, 0, 6, act) : vf_linear(t, x, w, b, act);
}

static void test_fused_relu_matches_apart(void)
{
    enum { R = 7, IN = 5, OUT = 6 };
    vf_real x[R * IN], w[OUT * IN], b[OUT], seed[R * OUT], tx[R * IN], tw[OUT * IN];
    vf_real m[OUT * IN] = {1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1};
    gc_fill(x, R * IN, 31, 0, 1);
    gc_fill(w, OUT * IN, 32, 0, 1);
    gc_fill(b, OUT, 33, 0, 1);
    gc_fill(seed, R * OUT, 34, 0, 1);
    gc_fill(tx, R * IN, 35, 0, 1);
    gc_fill(tw, OUT * IN, 36, 0, 1);
    for (int masked = 0; masked < 2; masked++) {
        const vf_real *vals[2], *grads[2][3], *tans[2];
        vf_tape *tp[2];
        int negative = 0;
        for (int fused = 0; fused < 2; fused++) {
            vf_tape *t = tp[fused] = vf_tape_new();
            vf_var xv = vf_input_grad(t, x, 2, (int64_t[]){R, IN}), wv = vf_input_grad(t, w, 2, (int64_t[]){OUT, IN});
            vf_var bv = vf_input_grad(t, b, 1, (int64_t[]){OUT}), mv = vf_input(t, m, 2, (int64_t[]){OUT, IN});
            vf_var y = fused ? relu_layer(t, masked, xv, wv, mv, bv, VF_ACT_RELU)
                             : vf_activate(t, relu_layer(t, masked, xv, wv, mv, bv, VF_ACT_NONE), VF_ACT_RELU);
            CHECK_STATUS(vf_tape_status(t), VF_OK);
            CHECK_STATUS(vf_set_tangent(t, xv, tx), VF_OK);
            CHECK_STATUS(vf_set_tangent(t, wv, tw), VF_OK);
            CHECK_STATUS(vf_jvp(t), VF_OK);
            CHECK_STATUS(vf_backward_seed(t, y, seed), VF_OK);
            vals[fused] = vf_value(t, y)->data;
            tans[fused] = vf_tangent(t, y);
            grads[fused][0] = vf_grad(t, xv);
            grads[fused][1] = vf_grad(t, wv);
            grads[fused][2] = vf_grad(t, bv);
        }
        if (!vals[0] || !vals[1] || !tans[0] || !tans[1]) {
            CHECK(0);
        } else {
            for (int i = 0; i < R * OUT; i++) negative += vals[1][i] == 0;
            CHECK_MSG(negative > R * OUT / 4 && negative < 3 * R * OUT / 4, "masked %d: %d of %d outputs at 0", masked,
                      negative, R * OUT);
            CHECK(memcmp(vals[0], vals[1], R * OUT * sizeof(vf_real)) == 0);
            CHECK(memcmp(tans[0], tans[1], R * OUT * sizeof(vf_real)) == 0);
            const int64_t sizes[3] = {R * IN, OUT * IN, OUT};
            for (int k = 0; k < 3; k++)
                CHECK_MSG(grads[0][k] && grads[1][k] &&
                              memcmp(grads[0][k], grads[1][k], (size_t)sizes[k] * sizeof(vf_real)) == 0,
                          "masked %d: gradient %d differs", masked, k);
        }
        vf_tape_free(tp[0]);
        vf_tape_free(tp[1]);
    }
}

/* One input feeding several consumers, in both orders around the products that write an unwritten
 * adjoint instead of adding to it (writes_first): x goes into a linear layer, a masked layer and an
 * elementwise product, and the first layer's output into a second linear layer and a square. Every
 * contribution must add up (gradient checked against central differences). */
static vf_var build_shared_input(vf_tape *t, const vf_var *in, void *ctx)
{
    (void)ctx;
    vf_var x = in[0], w1 = in[1], w2 = in[2], wm = in[3], m = in[4];
    vf_var h = vf_linear(t, vf_mul(t, x, x), w1, VF_NOVAR, VF_ACT_TANH); /* x's adjoint: an elementwise op first */
    vf_var u = vf_linear(t, h, w2, VF_NOVAR, VF_ACT_NONE);              /* h: a product, then a square */
    vf_var v = vf_masked_linear(t, x, wm, m, VF_NOVAR);
    vf_var z = vf_add(t, vf_sum(t, vf_mul(t, u, u), VF_ALL_AXES, 0), vf_sum(t, vf_square(t, h), VF_ALL_AXES, 0));
    z = vf_add(t, z, vf_sum(t, vf_mul(t, v, vf_linear(t, x, w1, VF_NOVAR, VF_ACT_SILU)), VF_ALL_AXES, 0));
    return z;
}

static void test_shared_input_adjoints(void)
{
    vf_real x[4 * 5], w1[5 * 5], w2[3 * 5], wm[5 * 5], m[5 * 5];
    gc_fill(x, 20, 41, 0, 0.7);
    gc_fill(w1, 25, 42, 0, 0.5);
    gc_fill(w2, 15, 43, 0, 0.5);
    gc_fill(wm, 25, 44, 0, 0.5);
    for (int o = 0; o < 5; o++)
        for (int i = 0; i < 5; i++) m[o * 5 + i] = i <= o ? 1 : 0;
    gc_input in[5] = {{x, 2, {4, 5}, 1}, {w1, 2, {5, 5}, 1}, {w2, 2, {3, 5}, 1}, {wm, 2, {5, 5}, 1}, {m, 2, {5, 5}, 0}};
    CHECK(gradcheck("shared input adjoints", build_shared_input, NULL, 5, in));
}

static vf_var build_bias(vf_tape *t, const vf_var *in, void *ctx)
{
    (void)ctx;
    return vf_bias_add(t, in[0], in[1]);
}

static void test_bias_add(void)
{
    vf_real x[6], b[3];
    gc_fill(x, 6, 12, 0, 1);
    gc_fill(b, 3, 13, 0, 1);
    gc_input in[2] = {{x, 2, {2, 3}, 1}, {b, 1, {3}, 1}};
    CHECK(gradcheck("bias_add", build_bias, NULL, 2, in));
}

/* A two-layer network: gradients through stacked fused layers, w.r.t. input and weights. */
static vf_var build_mlp(vf_tape *t, const vf_var *in, void *ctx)
{
    (void)ctx;
    vf_var h = vf_linear(t, in[0], in[1], in[2], VF_ACT_SILU);
    return vf_linear(t, h, in[3], VF_NOVAR, VF_ACT_TANH);
}

static void test_stacked(void)
{
    vf_real x[6], w1[15], b1[5], w2[10];
    gc_fill(x, 6, 14, 0, 1);
    gc_fill(w1, 15, 15, 0, 0.6);
    gc_fill(b1, 5, 16, 0, 0.3);
    gc_fill(w2, 10, 17, 0, 0.5);
    gc_input in[4] = {{x, 2, {2, 3}, 1}, {w1, 2, {5, 3}, 1}, {b1, 1, {5}, 1}, {w2, 2, {2, 5}, 1}};
    CHECK(gradcheck("mlp", build_mlp, NULL, 4, in));
}

static void test_shape_errors(void)
{
    vf_tape *t = vf_tape_new();
    vf_real d[64] = {0};
    vf_var x = vf_input(t, d, 2, (int64_t[]){2, 4});
    vf_var w = vf_input(t, d, 2, (int64_t[]){3, 5});
    CHECK(vf_linear(t, x, w, VF_NOVAR, VF_ACT_NONE) == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_SHAPE);
    CHECK(strstr(vf_tape_error(t), "linear") != NULL);
    vf_tape_reset(t);
    x = vf_input(t, d, 2, (int64_t[]){2, 4});
    w = vf_input(t, d, 2, (int64_t[]){3, 4});
    vf_var b = vf_input(t, d, 1, (int64_t[]){4});
    CHECK(vf_linear(t, x, w, b, VF_ACT_NONE) == VF_NOVAR); /* bias [4] for 3 outputs */
    CHECK(vf_tape_status(t) == VF_ERR_SHAPE);
    vf_tape_reset(t);
    x = vf_input(t, d, 2, (int64_t[]){2, 4});
    w = vf_input(t, d, 2, (int64_t[]){3, 4});
    CHECK(vf_linear(t, x, w, VF_NOVAR, (vf_activation)99) == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_ARG);
    vf_tape_free(t);
}

int main(void)
{
    RUN(test_matmul);
    RUN(test_matmul_values);
    RUN(test_linear_all_activations);
    RUN(test_linear_matches_composition);
    RUN(test_masked_linear);
    RUN(test_masked_linear_blocks);
    RUN(test_masked_linear_rows);
    RUN(test_masked_linear_rows_act);
    RUN(test_fused_relu_matches_apart);
    RUN(test_linear_fused_product);
    RUN(test_shared_input_adjoints);
    RUN(test_bias_add);
    RUN(test_stacked);
    RUN(test_shape_errors);
    return vf_test_summary();
}
