/* test_made_step.c — vf_made_forward_step, and the tape-free incremental stepper of the sorted
 * layout (nn/made_stepper.h; both ways to the outputs), give exactly the full MADE pass's columns of one dimension (plain and
 * residual, with and without a context, every order, cycling and random hidden degrees); the step's
 * gradients agree with the full pass's, and bad arguments fail cleanly. */
#include <stdlib.h>
#include "nn/made_stepper.h"
#include "varflow.h"
#include "vf_test.h"

typedef struct step_case {
    int64_t d, h, c, k;
    int depth, residual, random_degrees;
    vf_made_order order;
    vf_made_hidden_layout layout;
    vf_activation act; /* VF_ACT_NONE (0): the default, ReLU, which the products' stores apply */
} step_case;

/* Fills buf [n] with N(0, 1) values from seed. */
static void normal_fill(vf_real *buf, int64_t n, uint64_t seed)
{
    vf_rng r;
    vf_rng_init(&r, seed, 0);
    vf_rng_normal_fill(&r, buf, (size_t)n, 0.0, 1.0);
}

static void check_case(const step_case *sc)
{
    enum { N = 7 };
    vf_params *p = vf_params_new();
    vf_tape *t = vf_tape_new();
    vf_made *m = NULL;
    vf_made_params mp = vf_made_default_params(sc->d);
    mp.hidden = sc->h;
    mp.depth = sc->depth;
    mp.residual = sc->residual;
    mp.context_features = sc->c;
    mp.output_multiplier = sc->k;
    mp.order = sc->order;
    mp.random_degrees = sc->random_degrees;
    mp.hidden_layout = sc->layout;
    if (sc->act != VF_ACT_NONE) mp.act = sc->act;
    mp.seed = 11;
    CHECK_STATUS(vf_made_new(p, "net", &mp, &m), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 5), VF_OK);
    /* random values everywhere, the zero-initialized residual layers included */
    normal_fill(vf_params_values(p), vf_params_size(p), 9);
    vf_real x[N * 16], ctx[N * 4];
    normal_fill(x, N * sc->d, 1);
    normal_fill(ctx, N * 4, 2);
    vf_var xv = vf_input(t, x, 2, (int64_t[]){N, sc->d});
    vf_var cv = sc->c ? vf_input(t, ctx, 2, (int64_t[]){N, sc->c}) : VF_NOVAR;
    vf_var full = vf_made_forward(m, p, t, xv, cv);
    /* Differences of summation order scale with the size of the summed terms, not with each result
     * (which can cancel: with random weights everywhere the outputs reach hundreds), so they are
     * measured against 1 + the full pass's largest magnitude. */
    double scale = 1;
    for (int64_t i = 0; i < N * sc->d * sc->k; i++) scale = fmax(scale, 1 + fabs((double)vf_value(t, full)->data[i]));
    double worst = 0;
    for (int64_t deg = 1; deg <= sc->d; deg++) {
        int64_t dim = vf_made_dim_of_degree(m, deg);
        CHECK(dim >= 0 && dim < sc->d && vf_made_degrees(m)[dim] == deg);
        int64_t known_cols[16];
        for (int64_t j = 0; j + 1 < deg; j++) known_cols[j] = vf_made_dim_of_degree(m, j + 1);
        vf_var known = deg > 1 ? vf_gather(t, xv, 1, known_cols, deg - 1) : VF_NOVAR;
        vf_var y = vf_made_forward_step(m, p, t, N, known, cv, deg);
        CHECK(vf_tape_status(t) == VF_OK);
        if (vf_tape_status(t) != VF_OK) {
            fprintf(stderr, "%s\n", vf_tape_error(t));
            break;
        }
        const vf_real *yf = vf_value(t, full)->data, *ys = vf_value(t, y)->data;
        CHECK(vf_value(t, y)->shape[0] == N && vf_value(t, y)->shape[1] == sc->k);
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < sc->k; j++) {
                double a = yf[i * sc->d * sc->k + dim * sc->k + j], b = ys[i * sc->k + j];
                double e = fabs(a - b) / scale;
                worst = e > worst ? e : worst;
            }
    }
    /* same numbers up to the summation order of the smaller products */
    CHECK_MSG(worst <= (VF_USE_DOUBLE ? 1e-12 : 2e-5), "d=%lld h=%lld c=%lld residual=%d: relative difference %g",
              (long long)sc->d, (long long)sc->h, (long long)sc->c, sc->residual, worst);
    /* the incremental stepper, fed the inputs one degree at a time (the others zero) */
    CHECK(vf__made_stepper_supported(m) == (sc->layout == VF_HIDDEN_SORTED));
    for (int mode = 1; sc->layout == VF_HIDDEN_SORTED && mode <= 2; mode++) { /* each way to the outputs */
        vf__made_stepper_output_mode(mode);
        vf__made_stepper st;
        vf_real x_known[N * 16] = {0}, *theta = malloc((size_t)(N * sc->k) * sizeof *theta);
        CHECK_STATUS(vf__made_stepper_begin(&st, m, p, t, N, sc->c ? ctx : NULL), VF_OK);
        worst = 0;
        for (int64_t deg = 1; deg <= sc->d; deg++) {
            if (deg > 1) {
                int64_t solved = vf_made_dim_of_degree(m, deg - 1);
                for (int64_t i = 0; i < N; i++) x_known[i * sc->d + solved] = x[i * sc->d + solved];
            }
            CHECK_STATUS(vf__made_stepper_step(&st, deg, x_known, theta), VF_OK);
            int64_t dim = vf_made_dim_of_degree(m, deg);
            const vf_real *yf = vf_value(t, full)->data;
            for (int64_t i = 0; i < N; i++)
                for (int64_t j = 0; j < sc->k; j++) {
                    double a = yf[i * sc->d * sc->k + dim * sc->k + j], b = theta[i * sc->k + j];
                    double e = fabs(a - b) / scale;
                    worst = e > worst ? e : worst;
                }
        }
        CHECK_MSG(worst <= (VF_USE_DOUBLE ? 1e-12 : 2e-5),
                  "stepper d=%lld h=%lld c=%lld residual=%d depth=%d, output mode %d: relative difference %g",
                  (long long)sc->d, (long long)sc->h, (long long)sc->c, sc->residual, sc->depth, mode, worst);
        CHECK(vf__made_stepper_step(&st, sc->d + 1, x_known, theta) == VF_ERR_ARG);
        free(theta);
        vf__made_stepper_output_mode(0);
    }
    vf_made_free(m);
    vf_params_free(p);
    vf_tape_free(t);
}

static void test_matches_full_pass(void)
{
    static const step_case cases[] = {
        {5, 16, 0, 2, 2, 0, 0, VF_ORDER_SEQUENTIAL, VF_HIDDEN_SORTED, VF_ACT_NONE},
        {5, 16, 0, 3, 3, 0, 0, VF_ORDER_REVERSED, VF_HIDDEN_SORTED, VF_ACT_NONE},
        {6, 13, 3, 2, 2, 0, 0, VF_ORDER_RANDOM, VF_HIDDEN_SORTED, VF_ACT_NONE},
        {4, 9, 0, 5, 2, 1, 0, VF_ORDER_SEQUENTIAL, VF_HIDDEN_SORTED, VF_ACT_NONE},
        {4, 9, 2, 1, 1, 1, 0, VF_ORDER_REVERSED, VF_HIDDEN_SORTED, VF_ACT_NONE},
        {7, 20, 0, 2, 2, 0, 1, VF_ORDER_RANDOM, VF_HIDDEN_SORTED, VF_ACT_NONE},
        {1, 4, 0, 2, 2, 0, 0, VF_ORDER_SEQUENTIAL, VF_HIDDEN_SORTED, VF_ACT_NONE},
        {1, 4, 2, 2, 2, 0, 0, VF_ORDER_SEQUENTIAL, VF_HIDDEN_SORTED, VF_ACT_NONE},
        {3, 2, 0, 2, 3, 0, 0, VF_ORDER_SEQUENTIAL, VF_HIDDEN_SORTED, VF_ACT_NONE}, /* fewer hidden units than degrees */
        {6, 13, 0, 2, 2, 0, 0, VF_ORDER_RANDOM, VF_HIDDEN_INTERLEAVED, VF_ACT_NONE},
        {5, 11, 2, 3, 2, 1, 1, VF_ORDER_REVERSED, VF_HIDDEN_INTERLEAVED, VF_ACT_NONE},
        {3, 8, 0, 300, 2, 0, 0, VF_ORDER_SEQUENTIAL, VF_HIDDEN_SORTED, VF_ACT_NONE}, /* many outputs per dimension */
        {8, 40, 3, 3, 3, 1, 1, VF_ORDER_RANDOM, VF_HIDDEN_SORTED, VF_ACT_NONE},      /* wider than a GEMM strip */
        {9, 70, 0, 23, 2, 0, 0, VF_ORDER_REVERSED, VF_HIDDEN_SORTED, VF_ACT_NONE},
        /* activations applied after the product (ReLU runs inside it) */
        {6, 13, 3, 2, 2, 0, 0, VF_ORDER_RANDOM, VF_HIDDEN_SORTED, VF_ACT_TANH},
        {5, 16, 0, 3, 3, 0, 0, VF_ORDER_SEQUENTIAL, VF_HIDDEN_SORTED, VF_ACT_SILU},
        {4, 9, 2, 1, 2, 1, 0, VF_ORDER_REVERSED, VF_HIDDEN_SORTED, VF_ACT_ELU},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
}

/* The gradient of sum(step outputs of degree deg) w.r.t. the parameters equals that of the same
 * columns of the full pass (fed the same known inputs). */
static void test_gradients_match(void)
{
    enum { N = 5, D = 4, K = 2 };
    vf_params *p = vf_params_new();
    vf_tape *t = vf_tape_new();
    vf_made *m = NULL;
    vf_made_params mp = vf_made_default_params(D);
    mp.hidden = 12;
    mp.context_features = 2;
    mp.output_multiplier = K;
    CHECK_STATUS(vf_made_new(p, "net", &mp, &m), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 3), VF_OK);
    int64_t size = vf_params_size(p);
    normal_fill(vf_params_values(p), size, 4);
    vf_real x[N * D], ctx[N * 2];
    normal_fill(x, N * D, 6);
    normal_fill(ctx, N * 2, 7);
    vf_real *g_full = malloc((size_t)size * sizeof *g_full);
    const int64_t deg = 3, dim = 2; /* sequential order: dimension 2 has degree 3 */
    /* full pass: sum of dimension dim's columns */
    vf_params_zero_grad(p);
    vf_tape_reset(t);
    vf_var full = vf_made_forward(m, p, t, vf_input(t, x, 2, (int64_t[]){N, D}), vf_input(t, ctx, 2, (int64_t[]){N, 2}));
    int64_t cols[K] = {dim * K, dim * K + 1};
    CHECK_STATUS(vf_backward(t, vf_sum(t, vf_gather(t, full, 1, cols, K), VF_ALL_AXES, 0)), VF_OK);
    memcpy(g_full, vf_params_grads(p), (size_t)size * sizeof *g_full);
    /* step */
    vf_params_zero_grad(p);
    vf_tape_reset(t);
    int64_t known_cols[2] = {0, 1};
    vf_var known = vf_gather(t, vf_input(t, x, 2, (int64_t[]){N, D}), 1, known_cols, deg - 1);
    vf_var y = vf_made_forward_step(m, p, t, N, known, vf_input(t, ctx, 2, (int64_t[]){N, 2}), deg);
    CHECK_STATUS(vf_backward(t, vf_sum(t, y, VF_ALL_AXES, 0)), VF_OK);
    double worst = 0;
    for (int64_t i = 0; i < size; i++) {
        double e = fabs((double)g_full[i] - (double)vf_params_grads(p)[i]) / (1 + fabs((double)g_full[i]));
        worst = e > worst ? e : worst;
    }
    CHECK_MSG(worst <= (VF_USE_DOUBLE ? 1e-12 : 2e-5), "gradient relative difference %g", worst);
    free(g_full);
    vf_made_free(m);
    vf_params_free(p);
    vf_tape_free(t);
}

static void test_bad_arguments(void)
{
    vf_params *p = vf_params_new();
    vf_tape *t = vf_tape_new();
    vf_made *m = NULL;
    vf_made_params mp = vf_made_default_params(3);
    CHECK_STATUS(vf_made_new(p, "net", &mp, &m), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    vf_real x[4 * 3] = {0};
    CHECK(vf_made_forward_step(m, p, t, 4, VF_NOVAR, VF_NOVAR, 0) == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_ARG && strstr(vf_tape_error(t), "degree 0") != NULL);
    vf_tape_reset(t);
    CHECK(vf_made_forward_step(m, p, t, 4, VF_NOVAR, VF_NOVAR, 4) == VF_NOVAR);
    vf_tape_reset(t);
    /* degree 3 needs two known columns */
    CHECK(vf_made_forward_step(m, p, t, 4, vf_input(t, x, 2, (int64_t[]){4, 1}), VF_NOVAR, 3) == VF_NOVAR);
    CHECK(vf_tape_status(t) != VF_OK);
    vf_tape_reset(t);
    CHECK(vf_made_forward_step(m, p, t, 0, VF_NOVAR, VF_NOVAR, 1) == VF_NOVAR);
    vf_tape_reset(t);
    CHECK(vf_made_forward_step(NULL, p, t, 4, VF_NOVAR, VF_NOVAR, 1) == VF_NOVAR);
    CHECK(vf_made_dim_of_degree(m, 0) == -1 && vf_made_dim_of_degree(m, 4) == -1 && vf_made_dim_of_degree(NULL, 1) == -1);
    vf_made_free(m);
    vf_params_free(p);
    vf_tape_free(t);
}

int main(void)
{
    RUN(test_matches_full_pass);
    RUN(test_gradients_match);
    RUN(test_bad_arguments);
    return vf_test_summary();
}
