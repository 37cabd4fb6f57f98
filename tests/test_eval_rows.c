/* test_eval_rows.c — the array API of vf_eval.h: the same numbers as one tape pass, across block
 * boundaries, with a shared or a per-row context; samples reproducible by seed and consistent with
 * their log-densities; forward and inverse inverse to each other; the same bits on 1, 2 or 3
 * threads; every bad argument refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "varflow.h"
#include "vf_test.h"

enum { N = 1100, D = 3, C = 2 }; /* N spans three blocks of VF_EVAL_BLOCK_ROWS */

typedef struct fixture {
    vf_params *p;
    vf_flow *f;
    vf_real x[N * D], ctx[N * C];
} fixture;

static void setup(fixture *fx, const char *spec, int64_t c)
{
    fx->p = vf_params_new();
    CHECK_STATUS(vf_flow_from_spec(spec, D, c, fx->p, &fx->f), VF_OK);
    CHECK_STATUS(vf_params_finalize(fx->p, 3), VF_OK);
    vf_rng r;
    vf_rng_init(&r, 8, 0);
    /* small random parameters: away from the identity, still well conditioned */
    vf_rng_normal_fill(&r, vf_params_values(fx->p), (size_t)vf_params_size(fx->p), 0.0, 0.1);
    vf_rng_normal_fill(&r, fx->x, N * D, 0.0, 1.0);
    vf_rng_normal_fill(&r, fx->ctx, N * C, 0.0, 1.0);
}

static void teardown(fixture *fx)
{
    vf_flow_free(fx->f);
    vf_params_free(fx->p);
}

static double tol(void) { return VF_USE_DOUBLE ? 1e-10 : 2e-4; }

static void test_log_prob_matches_tape(void)
{
    static const char *const specs[] = {"nsf:transforms=2,hidden=16x2", "maf:transforms=2,hidden=16x2",
                                        "realnvp:transforms=2,hidden=8x1"};
    for (int s = 0; s < 3; s++)
        for (int64_t c = 0; c <= C; c += C) {
            fixture *fx = calloc(1, sizeof *fx);
            setup(fx, specs[s], c);
            vf_real *lp = malloc(N * sizeof *lp);
            vf_tape *t = vf_tape_new();
            /* per-row context */
            CHECK_STATUS(vf_flow_log_prob_rows(fx->f, fx->p, t, N, fx->x, c ? fx->ctx : NULL, c ? N : 0, lp), VF_OK);
            vf_tape *ref = vf_tape_new();
            vf_var want = vf_flow_log_prob(fx->f, fx->p, ref, vf_input(ref, fx->x, 2, (int64_t[]){N, D}),
                                           c ? vf_input(ref, fx->ctx, 2, (int64_t[]){N, C}) : VF_NOVAR);
            CHECK(vf_tape_status(ref) == VF_OK);
            double worst = 0;
            for (int64_t i = 0; i < N; i++) {
                double e = fabs((double)lp[i] - (double)vf_value(ref, want)->data[i]);
                worst = e > worst ? e : worst;
            }
            CHECK_MSG(worst <= tol(), "%s c=%lld: worst difference %g", specs[s], (long long)c, worst);
            if (c) { /* one shared context row == that row repeated */
                vf_real *rep = malloc(N * C * sizeof *rep), *lp1 = malloc(N * sizeof *lp1);
                for (int64_t i = 0; i < N; i++) memcpy(rep + i * C, fx->ctx, C * sizeof *rep);
                CHECK_STATUS(vf_flow_log_prob_rows(fx->f, fx->p, NULL, N, fx->x, fx->ctx, 1, lp1), VF_OK);
                CHECK_STATUS(vf_flow_log_prob_rows(fx->f, fx->p, t, N, fx->x, rep, N, lp), VF_OK);
                CHECK(memcmp(lp, lp1, N * sizeof *lp) == 0);
                free(rep);
                free(lp1);
            }
            vf_tape_free(ref);
            vf_tape_free(t);
            free(lp);
            teardown(fx);
            free(fx);
        }
}

/* An evaluation over many blocks keeps what the masked layers derive from the weights (W * M and
 * its plan) from block to block, and nothing after it: with the caller's tape, changed parameters
 * between two calls give the new model's numbers (those of a fresh tape), for log-densities and the
 * forward map, and the tape is left as it was found (records derivatives again). */
static void test_parameters_changed_between_calls(void)
{
    static const char *const specs[] = {"maf:transforms=2,hidden=16x2", "nsf:transforms=2,hidden=16x2"};
    for (int s = 0; s < 2; s++) {
        fixture *fx = calloc(1, sizeof *fx);
        setup(fx, specs[s], 0);
        vf_real *lp0 = malloc(N * sizeof *lp0), *lp1 = malloc(N * sizeof *lp1), *lp2 = malloc(N * sizeof *lp2);
        vf_real *z1 = malloc(N * D * sizeof *z1), *z2 = malloc(N * D * sizeof *z2);
        vf_real *ladj1 = malloc(N * sizeof *ladj1), *ladj2 = malloc(N * sizeof *ladj2);
        vf_tape *t = vf_tape_new();
        CHECK_STATUS(vf_flow_log_prob_rows(fx->f, fx->p, t, N, fx->x, NULL, 0, lp0), VF_OK);
        CHECK(vf_tape_grad_enabled(t));
        vf_real *values = vf_params_values(fx->p);
        for (int64_t i = 0; i < vf_params_size(fx->p); i++) values[i] = values[i] * (vf_real)1.3 + (vf_real)0.01;
        CHECK_STATUS(vf_flow_log_prob_rows(fx->f, fx->p, t, N, fx->x, NULL, 0, lp1), VF_OK);
        CHECK_STATUS(vf_flow_log_prob_rows(fx->f, fx->p, NULL, N, fx->x, NULL, 0, lp2), VF_OK);
        CHECK_MSG(memcmp(lp1, lp2, N * sizeof *lp1) == 0, "%s: the second call used the first call's weights",
                  specs[s]);
        CHECK(memcmp(lp0, lp1, N * sizeof *lp0) != 0);
        CHECK_STATUS(vf_flow_forward_rows(fx->f, fx->p, t, N, fx->x, NULL, 0, z1, ladj1), VF_OK);
        for (int64_t i = 0; i < vf_params_size(fx->p); i++) values[i] = values[i] * (vf_real)0.7;
        CHECK_STATUS(vf_flow_forward_rows(fx->f, fx->p, t, N, fx->x, NULL, 0, z1, ladj1), VF_OK);
        CHECK_STATUS(vf_flow_forward_rows(fx->f, fx->p, NULL, N, fx->x, NULL, 0, z2, ladj2), VF_OK);
        CHECK(memcmp(z1, z2, N * D * sizeof *z1) == 0 && memcmp(ladj1, ladj2, N * sizeof *ladj1) == 0);
        vf_tape_free(t);
        free(lp0); free(lp1); free(lp2); free(z1); free(z2); free(ladj1); free(ladj2);
        teardown(fx);
        free(fx);
    }
}

/* The d-step direction of autoregressive flows: in inference mode (the array API) it runs the
 * incremental MADE stepper, on a recording tape the differentiable restricted steps; both give the
 * same rows and log-determinants. */
static void test_autoregressive_inverse_matches_tape(void)
{
    static const struct {
        const char *spec;
        int inverse; /* the d-step direction: 1 inverse (maf, nsf), 0 forward (iaf) */
    } cases[] = {{"maf:transforms=2,hidden=16x2", 1},
                 {"maf:transforms=2,hidden=16x3,residual=1,act=silu", 1},
                 {"iaf:transforms=2,hidden=16x2", 0},
                 {"nsf:transforms=2,hidden=16x2", 1},
                 {"nsf:transforms=2,hidden=16x2,residual=1", 1}};
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++)
        for (int64_t c = 0; c <= C; c += C) {
            fixture *fx = calloc(1, sizeof *fx);
            setup(fx, cases[s].spec, c);
            vf_real *y = malloc(N * D * sizeof *y), *l = malloc(N * sizeof *l);
            const vf_real *ctx = c ? fx->ctx : NULL;
            vf_status st = cases[s].inverse ? vf_flow_inverse_rows(fx->f, fx->p, NULL, N, fx->x, ctx, c ? N : 0, y, l)
                                            : vf_flow_forward_rows(fx->f, fx->p, NULL, N, fx->x, ctx, c ? N : 0, y, l);
            CHECK_STATUS(st, VF_OK);
            vf_tape *ref = vf_tape_new();
            vf_var in = vf_input(ref, fx->x, 2, (int64_t[]){N, D}), lv = VF_NOVAR;
            vf_var cv = c ? vf_input(ref, fx->ctx, 2, (int64_t[]){N, C}) : VF_NOVAR;
            vf_var want = cases[s].inverse ? vf_flow_inverse(fx->f, fx->p, ref, in, cv, &lv)
                                           : vf_flow_forward(fx->f, fx->p, ref, in, cv, &lv);
            CHECK(vf_tape_status(ref) == VF_OK && vf_tape_grad_enabled(ref));
            double worst = 0;
            for (int64_t i = 0; i < N * D; i++)
                worst = fmax(worst, fabs((double)y[i] - (double)vf_value(ref, want)->data[i]));
            for (int64_t i = 0; i < N; i++) worst = fmax(worst, fabs((double)l[i] - (double)vf_value(ref, lv)->data[i]));
            CHECK_MSG(worst <= tol(), "%s c=%lld: worst difference %g", cases[s].spec, (long long)c, worst);
            vf_tape_free(ref);
            free(y);
            free(l);
            teardown(fx);
            free(fx);
        }
}

static void test_sample_and_maps(void)
{
    fixture *fx = calloc(1, sizeof *fx);
    setup(fx, "nsf:transforms=2,hidden=16x2", C);
    vf_real *a = malloc(N * D * sizeof *a), *b = malloc(N * D * sizeof *b), *lp = malloc(N * sizeof *lp);
    vf_real *lp2 = malloc(N * sizeof *lp2), *z = malloc(N * D * sizeof *z), *l1 = malloc(N * sizeof *l1);
    vf_real *l2 = malloc(N * sizeof *l2);
    vf_rng r;
    vf_rng_init(&r, 5, 0);
    CHECK_STATUS(vf_flow_sample_rows(fx->f, fx->p, NULL, N, fx->ctx, N, &r, a, lp), VF_OK);
    vf_rng_init(&r, 5, 0);
    CHECK_STATUS(vf_flow_sample_rows(fx->f, fx->p, NULL, N, fx->ctx, N, &r, b, NULL), VF_OK);
    CHECK(memcmp(a, b, N * D * sizeof *a) == 0); /* same seed, same rows */
    /* the samples' log-densities agree with log_prob_rows on them */
    CHECK_STATUS(vf_flow_log_prob_rows(fx->f, fx->p, NULL, N, a, fx->ctx, N, lp2), VF_OK);
    double worst = 0;
    for (int64_t i = 0; i < N; i++) worst = fmax(worst, fabs((double)lp[i] - (double)lp2[i]) / (1 + fabs((double)lp[i])));
    CHECK_MSG(worst <= (VF_USE_DOUBLE ? 1e-9 : 1e-3), "sample log-density vs log_prob: %g", worst);
    /* forward then inverse: the rows come back, and the log-determinants cancel */
    CHECK_STATUS(vf_flow_forward_rows(fx->f, fx->p, NULL, N, fx->x, fx->ctx, N, z, l1), VF_OK);
    CHECK_STATUS(vf_flow_inverse_rows(fx->f, fx->p, NULL, N, z, fx->ctx, N, b, l2), VF_OK);
    worst = 0;
    for (int64_t i = 0; i < N * D; i++) worst = fmax(worst, fabs((double)b[i] - (double)fx->x[i]));
    for (int64_t i = 0; i < N; i++) worst = fmax(worst, fabs((double)l1[i] + (double)l2[i]));
    CHECK_MSG(worst <= (VF_USE_DOUBLE ? 1e-9 : 2e-3), "round trip: %g", worst);
    CHECK_STATUS(vf_flow_forward_rows(fx->f, fx->p, NULL, N, fx->x, fx->ctx, N, z, NULL), VF_OK);
    free(a); free(b); free(lp); free(lp2); free(z); free(l1); free(l2);
    teardown(fx);
    free(fx);
}

/* Every function gives the same bits on 1, 2 and 3 threads (the blocks run in parallel; sampling
 * draws its base points in block order), with the caller's tape or none, and leaves the caller's
 * tape in gradient mode. Student-t and mixture bases draw a varying number of random numbers per
 * row (rejection, component choice). */
static void test_same_bits_any_thread_count(void)
{
    static const char *const specs[] = {"nsf:transforms=2,hidden=16x2", "maf:transforms=2,hidden=16x2,base=student_t",
                                        "realnvp:transforms=2,hidden=16x2,base=mixture"};
    enum { OUTS = 7 };
    size_t sizes[OUTS] = {N, N * D, N, N * D, N, N * D, N};
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++)
        for (int shared = 0; shared <= 1; shared++) {
            fixture *fx = calloc(1, sizeof *fx);
            setup(fx, specs[k], C);
            vf_real *ref[OUTS], *got[OUTS];
            for (int o = 0; o < OUTS; o++) ref[o] = malloc(sizes[o] * sizeof(vf_real)), got[o] = malloc(sizes[o] * sizeof(vf_real));
            int64_t ctx_rows = shared ? 1 : N;
            int old = vf_get_num_threads();
            for (int threads = 1; threads <= 3; threads++) {
                vf_set_num_threads(threads);
                vf_real **out = threads == 1 ? ref : got;
                vf_tape *t = threads == 2 ? vf_tape_new() : NULL;
                vf_rng r;
                vf_rng_init(&r, 11, 0);
                CHECK_STATUS(vf_flow_log_prob_rows(fx->f, fx->p, t, N, fx->x, fx->ctx, ctx_rows, out[0]), VF_OK);
                CHECK_STATUS(vf_flow_sample_rows(fx->f, fx->p, t, N, fx->ctx, ctx_rows, &r, out[1], out[2]), VF_OK);
                CHECK_STATUS(vf_flow_forward_rows(fx->f, fx->p, t, N, fx->x, fx->ctx, ctx_rows, out[3], out[4]), VF_OK);
                CHECK_STATUS(vf_flow_inverse_rows(fx->f, fx->p, t, N, fx->x, fx->ctx, ctx_rows, out[5], out[6]), VF_OK);
                if (t) CHECK(vf_tape_grad_enabled(t));
                vf_tape_free(t);
                if (threads == 1) continue;
                for (int o = 0; o < OUTS; o++)
                    CHECK_MSG(memcmp(ref[o], got[o], sizes[o] * sizeof(vf_real)) == 0, "%s, %s context, %d threads: output %d",
                              specs[k], shared ? "shared" : "per-row", threads, o);
            }
            vf_set_num_threads(old);
            for (int o = 0; o < OUTS; o++) free(ref[o]), free(got[o]);
            teardown(fx);
            free(fx);
        }
}

static void test_bad_arguments(void)
{
    fixture *fx = calloc(1, sizeof *fx);
    setup(fx, "maf:transforms=1,hidden=8x1", C);
    vf_real lp[4];
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    CHECK_STATUS(vf_flow_log_prob_rows(fx->f, fx->p, NULL, 4, fx->x, NULL, 0, lp), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "conditional") != NULL);
    CHECK_STATUS(vf_flow_log_prob_rows(fx->f, fx->p, NULL, 4, fx->x, fx->ctx, 3, lp), VF_ERR_ARG);
    CHECK_STATUS(vf_flow_log_prob_rows(fx->f, fx->p, NULL, -1, fx->x, fx->ctx, 1, lp), VF_ERR_ARG);
    CHECK_STATUS(vf_flow_log_prob_rows(NULL, fx->p, NULL, 4, fx->x, fx->ctx, 1, lp), VF_ERR_ARG);
    CHECK_STATUS(vf_flow_log_prob_rows(fx->f, fx->p, NULL, 4, NULL, fx->ctx, 1, lp), VF_ERR_ARG);
    CHECK_STATUS(vf_flow_sample_rows(fx->f, fx->p, NULL, 4, fx->ctx, 1, NULL, fx->x, NULL), VF_ERR_ARG);
    CHECK_STATUS(vf_flow_log_prob_rows(fx->f, fx->p, NULL, 0, fx->x, fx->ctx, 0, lp), VF_OK); /* nothing to do */
    /* a non-finite input row is named */
    vf_real bad[4 * D] = {0};
    bad[2 * D + 1] = (vf_real)NAN;
    CHECK_STATUS(vf_flow_log_prob_rows(fx->f, fx->p, NULL, 4, bad, fx->ctx, 1, lp), VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "row 2") != NULL);
    teardown(fx);
    free(fx);
    fx = calloc(1, sizeof *fx);
    setup(fx, "maf:transforms=1,hidden=8x1", 0);
    CHECK_STATUS(vf_flow_log_prob_rows(fx->f, fx->p, NULL, 4, fx->x, fx->ctx, 4, lp), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "unconditional") != NULL);
    /* the parameter store of another flow: an error on every path, not a read out of bounds (the
     * autoregressive inverse reads the store's tensors directly) */
    vf_params *other = vf_params_new();
    vf_flow *g = NULL;
    CHECK_STATUS(vf_flow_from_spec("maf:transforms=1,hidden=4x1", D, 0, other, &g), VF_OK);
    CHECK_STATUS(vf_params_finalize(other, 1), VF_OK);
    vf_real x[4 * D];
    CHECK_STATUS(vf_flow_sample_rows(fx->f, other, NULL, 4, NULL, 0, &r, x, lp), VF_ERR_SHAPE);
    CHECK(strstr(vf_last_error(), "does not match") != NULL);
    CHECK_STATUS(vf_flow_inverse_rows(fx->f, other, NULL, 4, fx->x, NULL, 0, x, lp), VF_ERR_SHAPE);
    CHECK(vf_flow_log_prob_rows(fx->f, other, NULL, 4, fx->x, NULL, 0, lp) != VF_OK);
    vf_flow_free(g);
    vf_params_free(other);
    teardown(fx);
    free(fx);
}

/* A NaN or infinite coordinate never comes back as a finite result: every preset's forward and inverse
 * maps name the row (VF_ERR_NUMERIC), and so does the log-density of a NaN row; an infinite row may
 * instead have log-density -inf (the density's limit there), never a finite one. The radial flow used
 * to send a NaN row to its centre, a finite point with a finite log-density (found by
 * tests/fuzz/fuzz_values.c). */
static void test_nonfinite_rows_reported(void)
{
    static const char *const specs[] = {"maf:transforms=2,hidden=4x1", "iaf:transforms=2,hidden=4x1",
                                        "nsf:transforms=2,hidden=4x1,bins=3", "nsf:coupling=1,transforms=2,hidden=4x1",
                                        "realnvp:transforms=2,hidden=4x1", "nice:transforms=2,hidden=4x1",
                                        "glow:transforms=2,hidden=4x1", "planar:transforms=2", "radial:transforms=2"};
    const double bad_values[] = {NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++)
        for (size_t v = 0; v < sizeof bad_values / sizeof bad_values[0]; v++) {
            vf_params *p = vf_params_new();
            vf_flow *f = NULL;
            CHECK_STATUS(vf_flow_from_spec(specs[k], D, 0, p, &f), VF_OK);
            CHECK_STATUS(vf_params_finalize(p, 5), VF_OK);
            vf_real x[3 * D] = {0.1f, -0.2f, 0.3f, 0.4f, 0.5f, -0.6f, 0.7f, 0.8f, -0.9f}, out[3 * D], row[3];
            x[1 * D + (int)(v % D)] = (vf_real)bad_values[v];
            vf_clear_error();
            vf_status s = vf_flow_log_prob_rows(f, p, NULL, 3, x, NULL, 0, row);
            if (s == VF_OK) /* only an infinite row, at log-density -inf */
                CHECK_MSG(!isnan(bad_values[v]) && isinf((double)row[1]) && row[1] < 0, "%s, value %g: status OK, %g",
                          specs[k], bad_values[v], (double)row[1]);
            else
                CHECK_MSG(s == VF_ERR_NUMERIC && strstr(vf_last_error(), "row 1") != NULL, "%s, value %g: %d %s",
                          specs[k], bad_values[v], (int)s, vf_last_error());
            CHECK_STATUS(vf_flow_forward_rows(f, p, NULL, 3, x, NULL, 0, out, row), VF_ERR_NUMERIC);
            CHECK_MSG(strstr(vf_last_error(), "row 1") != NULL, "%s forward: %s", specs[k], vf_last_error());
            CHECK_STATUS(vf_flow_inverse_rows(f, p, NULL, 3, x, NULL, 0, out, row), VF_ERR_NUMERIC);
            CHECK_MSG(strstr(vf_last_error(), "row 1") != NULL, "%s inverse: %s", specs[k], vf_last_error());
            vf_flow_free(f);
            vf_params_free(p);
        }
}

/* A point outside a uniform base's box has log-density -inf: a valid answer, not an error (a NaN
 * result is, see test_bad_arguments). */
static void test_outside_support(void)
{
    vf_params *p = vf_params_new();
    vf_dist *base = NULL;
    vf_transform *tr = NULL;
    vf_flow *f = NULL;
    CHECK_STATUS(vf_dist_uniform_new(2, 0, -1.0, 1.0, &base), VF_OK);
    CHECK_STATUS(vf_reverse_new(2, 0, &tr), VF_OK);
    CHECK_STATUS(vf_flow_new(base, 1, &tr, &f), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    vf_real x[3 * 2] = {0.5, 0.25, 3.0, 0.0, -0.5, 0.5}, lp[3];
    CHECK_STATUS(vf_flow_log_prob_rows(f, p, NULL, 3, x, NULL, 0, lp), VF_OK);
    CHECK_NEAR((double)lp[0], -log(4.0), 1e-6);
    CHECK(isinf((double)lp[1]) && lp[1] < 0);
    CHECK_NEAR((double)lp[2], -log(4.0), 1e-6);
    vf_flow_free(f);
    vf_params_free(p);
}

int main(void)
{
    RUN(test_log_prob_matches_tape);
    RUN(test_parameters_changed_between_calls);
    RUN(test_autoregressive_inverse_matches_tape);
    RUN(test_sample_and_maps);
    RUN(test_same_bits_any_thread_count);
    RUN(test_bad_arguments);
    RUN(test_nonfinite_rows_reported);
    RUN(test_outside_support);
    return vf_test_summary();
}
