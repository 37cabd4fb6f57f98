/* test_ops_reduce.c — sum, mean, max, logsumexp, softmax, log_softmax, cumsum: hand-computed values
 * and shapes, gradients (central differences and forward/reverse duality) for every axis, negative
 * axes, all axes and keepdim, stability, double accumulation, thread-count independence, errors. */
#include <stdlib.h>
#include "vf_test.h"
#include "gradcheck.h"

#define TOL (VF_USE_DOUBLE ? 1e-12 : 1e-6)

typedef struct red_ctx {
    int op;      /* index into REDUCTIONS or ALONG */
    int axis;
    int keepdim;
} red_ctx;

typedef vf_var (*reduce_fn)(vf_tape *, vf_var, int, int);
typedef vf_var (*along_fn)(vf_tape *, vf_var, int);
static const reduce_fn REDUCTIONS[4] = {vf_sum, vf_mean, vf_max, vf_logsumexp};
static const char *const REDUCTION_NAMES[4] = {"sum", "mean", "max", "logsumexp"};
static const along_fn ALONG[3] = {vf_softmax, vf_log_softmax, vf_cumsum};
static const char *const ALONG_NAMES[3] = {"softmax", "log_softmax", "cumsum"};

static vf_var build_reduce(vf_tape *t, const vf_var *in, void *ctx)
{
    const red_ctx *c = ctx;
    return REDUCTIONS[c->op](t, in[0], c->axis, c->keepdim);
}

static vf_var build_along(vf_tape *t, const vf_var *in, void *ctx)
{
    const red_ctx *c = ctx;
    return ALONG[c->op](t, in[0], c->axis);
}

static const vf_real M23[6] = {1, 2, 3, 4, 5, 6}; /* [[1, 2, 3], [4, 5, 6]] */

static int shape_is(const vf_tensor *v, int nd, const int64_t *s)
{
    if (!v || v->ndim != nd) return 0;
    for (int k = 0; k < nd; k++)
        if (v->shape[k] != s[k]) return 0;
    return 1;
}

static void check_values(vf_tape *t, vf_var y, int nd, const int64_t *s, const double *want, double tol)
{
    const vf_tensor *v = vf_value(t, y);
    CHECK_MSG(shape_is(v, nd, s), "shape (%s)", vf_tape_error(t));
    if (!shape_is(v, nd, s)) return;
    for (int64_t i = 0; i < vf_tensor_numel(v); i++) CHECK_NEAR(v->data[i], want[i], tol);
}

static void test_sum_mean_values(void)
{
    vf_tape *t = vf_tape_new();
    vf_var x = vf_input(t, M23, 2, (int64_t[]){2, 3});
    check_values(t, vf_sum(t, x, VF_ALL_AXES, 0), 0, NULL, (double[]){21}, 0);
    check_values(t, vf_sum(t, x, VF_ALL_AXES, 1), 2, (int64_t[]){1, 1}, (double[]){21}, 0);
    check_values(t, vf_sum(t, x, 0, 0), 1, (int64_t[]){3}, (double[]){5, 7, 9}, 0);
    check_values(t, vf_sum(t, x, 0, 1), 2, (int64_t[]){1, 3}, (double[]){5, 7, 9}, 0);
    check_values(t, vf_sum(t, x, 1, 0), 1, (int64_t[]){2}, (double[]){6, 15}, 0);
    check_values(t, vf_sum(t, x, -1, 1), 2, (int64_t[]){2, 1}, (double[]){6, 15}, 0);
    check_values(t, vf_sum(t, x, -2, 0), 1, (int64_t[]){3}, (double[]){5, 7, 9}, 0);
    check_values(t, vf_mean(t, x, VF_ALL_AXES, 0), 0, NULL, (double[]){3.5}, 0);
    check_values(t, vf_mean(t, x, 0, 0), 1, (int64_t[]){3}, (double[]){2.5, 3.5, 4.5}, 0);
    check_values(t, vf_mean(t, x, -1, 1), 2, (int64_t[]){2, 1}, (double[]){2, 5}, TOL);
    /* 3-D, middle axis: x[i, j, k] = 100 i + 10 j + k over [2, 3, 2] */
    vf_real c[12];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++) c[(i * 3 + j) * 2 + k] = (vf_real)(100 * i + 10 * j + k);
    vf_var x3 = vf_input(t, c, 3, (int64_t[]){2, 3, 2});
    check_values(t, vf_sum(t, x3, 1, 0), 2, (int64_t[]){2, 2}, (double[]){30, 33, 330, 333}, 0);
    check_values(t, vf_mean(t, x3, 1, 1), 3, (int64_t[]){2, 1, 2}, (double[]){10, 11, 110, 111}, TOL * 100);
    /* a scalar reduces to itself */
    vf_real s = 2.5;
    check_values(t, vf_sum(t, vf_input(t, &s, 0, NULL), VF_ALL_AXES, 0), 0, NULL, (double[]){2.5}, 0);
    CHECK_STATUS(vf_tape_status(t), VF_OK);
    vf_tape_free(t);
}

/* 1 + 20000 copies of a small number: a float accumulator drifts by ~1e-3, a double one does not. */
static void test_double_accumulation(void)
{
    enum { N = 20001 };
    static vf_real x[N];
    x[0] = 1;
    for (int i = 1; i < N; i++) x[i] = (vf_real)1e-4;
    double want = 1.0;
    for (int i = 1; i < N; i++) want += (double)x[i];
    vf_tape *t = vf_tape_new();
    vf_var v = vf_input(t, x, 1, (int64_t[]){N});
    CHECK_NEAR(vf_value(t, vf_sum(t, v, 0, 0))->data[0], want, 3e-7 * want);
    CHECK_NEAR(vf_value(t, vf_mean(t, v, VF_ALL_AXES, 0))->data[0], want / N, 3e-7 * want / N);
    vf_var c = vf_cumsum(t, v, 0);
    CHECK_NEAR(vf_value(t, c)->data[N - 1], want, 3e-7 * want);
    vf_tape_free(t);
}

static void test_max_values_and_ties(void)
{
    vf_tape *t = vf_tape_new();
    vf_real m[6] = {1, 5, 3, 7, 2, 6};
    vf_var x = vf_input(t, m, 2, (int64_t[]){2, 3});
    check_values(t, vf_max(t, x, 1, 0), 1, (int64_t[]){2}, (double[]){5, 7}, 0);
    check_values(t, vf_max(t, x, 0, 1), 2, (int64_t[]){1, 3}, (double[]){7, 5, 6}, 0);
    check_values(t, vf_max(t, x, VF_ALL_AXES, 0), 0, NULL, (double[]){7}, 0);
    vf_real neg[3] = {-3, -1, -2};
    check_values(t, vf_max(t, vf_input(t, neg, 1, (int64_t[]){3}), 0, 0), 0, NULL, (double[]){-1}, 0);

    /* ties: the whole gradient goes to the first maximal element, and so does the tangent */
    vf_real tie[6] = {3, 1, 3, 0, 2, 2};
    vf_var xt = vf_input_grad(t, tie, 2, (int64_t[]){2, 3});
    vf_var y = vf_max(t, xt, -1, 0);
    CHECK_STATUS(vf_backward_seed(t, y, (vf_real[]){1, 10}), VF_OK);
    const vf_real want[6] = {1, 0, 0, 0, 10, 0};
    for (int i = 0; i < 6; i++) CHECK(vf_grad(t, xt)[i] == want[i]);
    CHECK_STATUS(vf_set_tangent(t, xt, (vf_real[]){1, 2, 3, 4, 5, 6}), VF_OK);
    CHECK_STATUS(vf_jvp(t), VF_OK);
    CHECK(vf_tangent(t, y)[0] == 1 && vf_tangent(t, y)[1] == 5);

    /* NaN propagates */
    vf_real nan3[3] = {1, NAN, 2};
    CHECK(isnan(vf_value(t, vf_max(t, vf_input(t, nan3, 1, (int64_t[]){3}), 0, 0))->data[0]));
    vf_tape_free(t);
}

static void test_logsumexp_values(void)
{
    vf_tape *t = vf_tape_new();
    vf_real a[2] = {0, (vf_real)log(3.0)};
    check_values(t, vf_logsumexp(t, vf_input(t, a, 1, (int64_t[]){2}), 0, 0), 0, NULL, (double[]){log(4.0)}, TOL);
    /* stable far from 0 in both directions */
    vf_real big[4] = {1000, 1000, -1000, -1000};
    vf_var xb = vf_input(t, big, 2, (int64_t[]){2, 2});
    check_values(t, vf_logsumexp(t, xb, 1, 1), 2, (int64_t[]){2, 1},
                 (double[]){1000 + log(2.0), -1000 + log(2.0)}, 1000 * TOL);
    check_values(t, vf_logsumexp(t, xb, 0, 0), 1, (int64_t[]){2}, (double[]){1000, 1000}, 1000 * TOL);
    check_values(t, vf_logsumexp(t, xb, VF_ALL_AXES, 0), 0, NULL, (double[]){1000 + log(2.0)}, 1000 * TOL);
    /* exact on the hand-computed [[1, 2, 3], [4, 5, 6]] along the last axis */
    vf_var x = vf_input(t, M23, 2, (int64_t[]){2, 3});
    double l0 = log(exp(1.0) + exp(2.0) + exp(3.0)), l1 = log(exp(4.0) + exp(5.0) + exp(6.0));
    check_values(t, vf_logsumexp(t, x, -1, 0), 1, (int64_t[]){2}, (double[]){l0, l1}, 10 * TOL);

    /* all -inf: -inf, and the gradient stays finite (zero) */
    vf_real ninf[3] = {-INFINITY, -INFINITY, -INFINITY};
    vf_var xi = vf_input_grad(t, ninf, 1, (int64_t[]){3});
    vf_var y = vf_logsumexp(t, xi, 0, 0);
    CHECK(vf_value(t, y)->data[0] == -INFINITY);
    CHECK_STATUS(vf_backward(t, y), VF_OK);
    for (int i = 0; i < 3; i++) CHECK(vf_grad(t, xi)[i] == 0);
    /* one -inf entry among finite ones gets gradient 0 */
    vf_real part[3] = {-INFINITY, 0, 0};
    vf_var xp = vf_input_grad(t, part, 1, (int64_t[]){3});
    y = vf_logsumexp(t, xp, 0, 0);
    CHECK_NEAR(vf_value(t, y)->data[0], log(2.0), TOL);
    CHECK_STATUS(vf_backward(t, y), VF_OK);
    CHECK(vf_grad(t, xp)[0] == 0);
    CHECK_NEAR(vf_grad(t, xp)[1], 0.5, TOL);
    vf_tape_free(t);
}

static void test_softmax_cumsum_values(void)
{
    vf_tape *t = vf_tape_new();
    vf_real a[2] = {0, (vf_real)log(3.0)};
    vf_var x = vf_input(t, a, 1, (int64_t[]){2});
    check_values(t, vf_softmax(t, x, 0), 1, (int64_t[]){2}, (double[]){0.25, 0.75}, TOL);
    check_values(t, vf_log_softmax(t, x, -1), 1, (int64_t[]){2}, (double[]){log(0.25), log(0.75)}, TOL);
    vf_real big[4] = {1000, 1000 + (vf_real)log(3.0), -1000, -1000};
    vf_var xb = vf_input(t, big, 2, (int64_t[]){2, 2});
    check_values(t, vf_softmax(t, xb, 1), 2, (int64_t[]){2, 2}, (double[]){0.25, 0.75, 0.5, 0.5}, 1e-4);
    check_values(t, vf_log_softmax(t, xb, 0), 2, (int64_t[]){2, 2}, (double[]){0, 0, -2000, -2000 - log(3.0)}, 1e-3);
    vf_var m = vf_input(t, M23, 2, (int64_t[]){2, 3});
    check_values(t, vf_cumsum(t, m, 1), 2, (int64_t[]){2, 3}, (double[]){1, 3, 6, 4, 9, 15}, 0);
    check_values(t, vf_cumsum(t, m, -2), 2, (int64_t[]){2, 3}, (double[]){1, 2, 3, 5, 7, 9}, 0);
    /* softmax along axis 0 of [[1, 2, 3], [4, 5, 6]]: every column is softmax([0, 3]) */
    double lo = 1.0 / (1.0 + exp(3.0));
    check_values(t, vf_softmax(t, m, 0), 2, (int64_t[]){2, 3}, (double[]){lo, lo, lo, 1 - lo, 1 - lo, 1 - lo}, TOL);
    CHECK_STATUS(vf_tape_status(t), VF_OK);
    vf_tape_free(t);
}

/* Test shapes and their data (max needs well-separated, untied values). */
typedef struct shape_case {
    int nd;
    int64_t s[4];
} shape_case;

static const shape_case SHAPES[] = {{1, {5}}, {2, {2, 3}}, {3, {2, 3, 4}}, {4, {2, 3, 2, 2}}, {3, {3, 1, 2}}, {3, {5, 2, 3}}};
#define N_SHAPES (int)(sizeof SHAPES / sizeof SHAPES[0])

static int64_t numel_of(const shape_case *c)
{
    int64_t n = 1;
    for (int k = 0; k < c->nd; k++) n *= c->s[k];
    return n;
}

/* x = a shuffled 0.25-spaced grid centred on 0: no two entries closer than 0.25. */
static void fill_untied(vf_real *x, int64_t n, uint64_t seed)
{
    vf_rng r;
    vf_rng_init(&r, seed, 3);
    for (int64_t i = 0; i < n; i++) x[i] = (vf_real)(0.25 * ((double)i - (double)n / 2));
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(vf_rng_uniform(&r) * (double)(i + 1));
        vf_real tmp = x[i];
        x[i] = x[j];
        x[j] = tmp;
    }
}

static void test_reductions_gradcheck(void)
{
    for (int si = 0; si < N_SHAPES; si++) {
        const shape_case *c = &SHAPES[si];
        for (int op = 0; op < 4; op++)
            for (int axis = -c->nd - 1; axis < c->nd; axis++)
                for (int keep = 0; keep < 2; keep++) {
                    red_ctx ctx = {op, axis < -c->nd ? VF_ALL_AXES : axis, keep};
                    vf_real x[64];
                    if (op == 2) fill_untied(x, numel_of(c), 10 + (uint64_t)si);
                    else gc_fill(x, numel_of(c), 10 + (uint64_t)si, 0.0, 1.0);
                    gc_input in[1] = {{x, c->nd, {0}, 1}};
                    memcpy(in[0].shape, c->s, sizeof c->s);
                    CHECK_MSG(gradcheck(REDUCTION_NAMES[op], build_reduce, &ctx, 1, in), "%s shape %d axis %d keepdim %d",
                              REDUCTION_NAMES[op], si, ctx.axis, keep);
                }
    }
}

static void test_along_axis_gradcheck(void)
{
    for (int si = 0; si < N_SHAPES; si++) {
        const shape_case *c = &SHAPES[si];
        for (int op = 0; op < 3; op++)
            for (int axis = -c->nd; axis < c->nd; axis++) {
                red_ctx ctx = {op, axis, 0};
                vf_real x[64];
                gc_fill(x, numel_of(c), 20 + (uint64_t)si, 0.0, 1.5);
                gc_input in[1] = {{x, c->nd, {0}, 1}};
                memcpy(in[0].shape, c->s, sizeof c->s);
                CHECK_MSG(gradcheck(ALONG_NAMES[op], build_along, &ctx, 1, in), "%s shape %d axis %d", ALONG_NAMES[op],
                          si, axis);
            }
    }
}

/* Sums over blocks of columns (inner > 64) against a direct double reference. */
static void test_sum_wide(void)
{
    enum { R = 7, C = 150 };
    static vf_real x[R * C];
    gc_fill(x, R * C, 9, 0.0, 1.0);
    vf_tape *t = vf_tape_new();
    vf_var v = vf_input(t, x, 2, (int64_t[]){R, C});
    vf_var s0 = vf_sum(t, v, 0, 0), m1 = vf_mean(t, v, 1, 1);
    for (int j = 0; j < C; j++) {
        double want = 0.0;
        for (int r = 0; r < R; r++) want += x[r * C + j];
        CHECK_NEAR(vf_value(t, s0)->data[j], want, TOL * 10);
    }
    for (int r = 0; r < R; r++) {
        double want = 0.0;
        for (int j = 0; j < C; j++) want += x[r * C + j];
        CHECK_NEAR(vf_value(t, m1)->data[r], want / C, TOL);
    }
    vf_tape_free(t);
}

/* A reduction's keepdim result broadcasts back: x - logsumexp(x, keepdim) equals log_softmax(x). */
static void test_keepdim_broadcasts(void)
{
    vf_tape *t = vf_tape_new();
    vf_real x[24];
    gc_fill(x, 24, 3, 0.0, 2.0);
    vf_var v = vf_input(t, x, 3, (int64_t[]){2, 3, 4});
    for (int axis = 0; axis < 3; axis++) {
        vf_var a = vf_sub(t, v, vf_logsumexp(t, v, axis, 1));
        vf_var b = vf_log_softmax(t, v, axis);
        CHECK_STATUS(vf_tape_status(t), VF_OK);
        for (int i = 0; i < 24; i++) CHECK_NEAR(vf_value(t, a)->data[i], vf_value(t, b)->data[i], 10 * TOL);
    }
    vf_tape_free(t);
}

/* Big inputs take the threaded loops; 1 and 4 threads must agree bit for bit. */
static void run_big(int threads, const vf_real *x, const vf_real *seed, vf_real *out, int op)
{
    int old = vf_set_num_threads(threads);
    vf_tape *t = vf_tape_new();
    const int64_t n = 300, d = 200;
    vf_var v = vf_input_grad(t, x, 2, (int64_t[]){n, d});
    vf_var y = op == 0 ? vf_softmax(t, v, 1) : op == 1 ? vf_log_softmax(t, v, 0) : vf_cumsum(t, v, 0);
    vf_var s = vf_sum(t, vf_mul(t, y, vf_input(t, seed, 2, (int64_t[]){n, d})), 0, 0);
    vf_var l = vf_logsumexp(t, s, 0, 0);
    CHECK_STATUS(vf_backward(t, l), VF_OK);
    memcpy(out, vf_value(t, y)->data, (size_t)(n * d) * sizeof *out);
    memcpy(out + n * d, vf_grad(t, v), (size_t)(n * d) * sizeof *out);
    vf_tape_free(t);
    vf_set_num_threads(old);
}

static void test_thread_independence(void)
{
    const int64_t n = 300, d = 200;
    vf_real *x = malloc((size_t)(n * d) * sizeof *x), *s = malloc((size_t)(n * d) * sizeof *s);
    vf_real *o1 = malloc((size_t)(2 * n * d) * sizeof *o1), *o4 = malloc((size_t)(2 * n * d) * sizeof *o4);
    gc_fill(x, n * d, 1, 0.0, 2.0);
    gc_fill(s, n * d, 2, 0.0, 1.0);
    for (int op = 0; op < 3; op++) {
        run_big(1, x, s, o1, op);
        run_big(4, x, s, o4, op);
        CHECK_MSG(memcmp(o1, o4, (size_t)(2 * n * d) * sizeof *o1) == 0, "op %d differs between 1 and 4 threads", op);
    }
    run_big(1, x, s, o1, 0); /* softmax rows sum to 1 */
    for (int64_t r = 0; r < n; r += 37) {
        double sum = 0.0;
        for (int64_t j = 0; j < d; j++) sum += o1[r * d + j];
        CHECK_NEAR(sum, 1.0, 1e-5);
    }
    free(x);
    free(s);
    free(o1);
    free(o4);
}

static void test_errors(void)
{
    vf_tape *t = vf_tape_new();
    vf_var x = vf_input(t, M23, 2, (int64_t[]){2, 3});
    CHECK(vf_sum(t, x, 2, 0) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_ARG);
    CHECK(strstr(vf_tape_error(t), "sum") && strstr(vf_tape_error(t), "axis 2"));
    CHECK(vf_mean(t, x, 0, 0) == VF_NOVAR); /* sticky */
    CHECK_STATUS(vf_tape_status(t), VF_ERR_ARG);

    for (int op = 0; op < 4; op++) {
        vf_tape_reset(t);
        x = vf_input(t, M23, 2, (int64_t[]){2, 3});
        CHECK(REDUCTIONS[op](t, x, -3, 1) == VF_NOVAR);
        CHECK_STATUS(vf_tape_status(t), VF_ERR_ARG);
        CHECK(strstr(vf_tape_error(t), REDUCTION_NAMES[op]) != NULL);
    }
    for (int op = 0; op < 3; op++) {
        vf_tape_reset(t);
        x = vf_input(t, M23, 2, (int64_t[]){2, 3});
        CHECK(ALONG[op](t, x, 2) == VF_NOVAR);
        CHECK_STATUS(vf_tape_status(t), VF_ERR_ARG);
        vf_tape_reset(t);
        x = vf_input(t, M23, 2, (int64_t[]){2, 3});
        CHECK(ALONG[op](t, x, VF_ALL_AXES) == VF_NOVAR);
        CHECK_STATUS(vf_tape_status(t), VF_ERR_ARG);
        CHECK(strstr(vf_tape_error(t), ALONG_NAMES[op]) != NULL);
    }
    /* a scalar has no axis 0 */
    vf_tape_reset(t);
    CHECK(vf_sum(t, vf_scalar(t, 1.0), 0, 0) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_ARG);
    /* max and mean of an empty axis */
    vf_tape_reset(t);
    x = vf_input(t, M23, 2, (int64_t[]){2, 0});
    CHECK(vf_sum(t, x, 1, 0) != VF_NOVAR);
    CHECK(vf_max(t, x, 1, 0) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_SHAPE);
    vf_tape_reset(t);
    x = vf_input(t, M23, 2, (int64_t[]){2, 0});
    CHECK(vf_mean(t, x, VF_ALL_AXES, 0) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_SHAPE);
    /* bad handle */
    vf_tape_reset(t);
    CHECK(vf_logsumexp(t, 7, 0, 0) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_ARG);
    vf_tape_free(t);
}

int main(void)
{
    RUN(test_sum_mean_values);
    RUN(test_double_accumulation);
    RUN(test_max_values_and_ties);
    RUN(test_logsumexp_values);
    RUN(test_softmax_cumsum_values);
    RUN(test_reductions_gradcheck);
    RUN(test_along_axis_gradcheck);
    RUN(test_sum_wide);
    RUN(test_keepdim_broadcasts);
    RUN(test_thread_independence);
    RUN(test_errors);
    return vf_test_summary();
}
