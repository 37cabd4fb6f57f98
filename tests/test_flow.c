/* test_flow.c — the flow plumbing: the reversal transform and the standard normal base through every
 * flowcheck.h check, composition (log_prob, sample, forward/inverse), argument checks, and a flow of
 * reversals being exactly the standard normal. */
#include "vf_test.h"
#include "flowcheck.h"

static void test_reverse_checks(void)
{
    for (int64_t d = 1; d <= 5; d += 2) {
        vf_transform *tr = NULL;
        vf_params *p = vf_params_new();
        CHECK_STATUS(vf_reverse_new(d, 0, &tr), VF_OK);
        CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
        vf_real x[20];
        gc_fill(x, 4 * d, 3, 0, 1);
        CHECK(fc_roundtrip(tr, p, 4, x, NULL));
        CHECK(fc_logdet(tr, p, 4, x, NULL));
        CHECK(fc_gradcheck(tr, p, 4, x, NULL, 0));
        CHECK(fc_gradcheck(tr, p, 4, x, NULL, 1));
        if (d == 1) CHECK(fc_normalization(tr, p, NULL, -9, 9, 2000, 1e-6));
        vf_transform_free(tr);
        vf_params_free(p);
    }
    /* values: reversal of [1, 2, 3] */
    vf_transform *tr = NULL;
    vf_params *p = vf_params_new();
    vf_reverse_new(3, 0, &tr);
    vf_params_finalize(p, 1);
    vf_tape *t = vf_tape_new();
    vf_real x[3] = {1, 2, 3};
    vf_var l, z = vf_transform_forward(tr, p, t, vf_input(t, x, 2, (int64_t[]){1, 3}), VF_NOVAR, &l);
    CHECK(z != VF_NOVAR && vf_value(t, z)->data[0] == 3 && vf_value(t, z)->data[2] == 1 && vf_value(t, l)->data[0] == 0);
    char json[128];
    CHECK_STATUS(vf_transform_describe(tr, json, sizeof json), VF_OK);
    CHECK(strcmp(json, "{\"kind\":\"reverse\",\"dim\":3,\"context\":0}") == 0);
    CHECK_STATUS(vf_transform_describe(tr, json, 8), VF_ERR_ARG);
    vf_tape_free(t);
    vf_transform_free(tr);
    vf_params_free(p);
}

/* A flow of reversals over N(0, I) is N(0, I): log_prob, samples and their log-densities agree. */
static void test_flow_composition(void)
{
    const int64_t d = 2, n = 5;
    vf_dist *base = NULL;
    vf_transform *tr[3] = {0};
    CHECK_STATUS(vf_dist_normal_new(d, 0, &base), VF_OK);
    for (int i = 0; i < 3; i++) CHECK_STATUS(vf_reverse_new(d, 0, &tr[i]), VF_OK);
    vf_flow *f = NULL;
    CHECK_STATUS(vf_flow_new(base, 3, tr, &f), VF_OK);
    CHECK(vf_flow_dim(f) == 2 && vf_flow_n_transforms(f) == 3);
    vf_params *p = vf_params_new();
    vf_params_finalize(p, 0);
    vf_tape *t = vf_tape_new();
    vf_real x[10];
    gc_fill(x, 10, 5, 0, 1);
    const vf_tensor *lp = vf_value(t, vf_flow_log_prob(f, p, t, vf_input(t, x, 2, (int64_t[]){n, d}), VF_NOVAR));
    CHECK(lp && lp->ndim == 1 && lp->shape[0] == n);
    for (int64_t i = 0; lp && i < n; i++) {
        double want = -0.5 * ((double)x[2 * i] * x[2 * i] + (double)x[2 * i + 1] * x[2 * i + 1]) - log(2 * 3.14159265358979323846);
        CHECK_NEAR(lp->data[i], want, VF_USE_DOUBLE ? 1e-12 : 1e-5);
    }
    vf_rng r;
    vf_rng_init(&r, 7, 0);
    vf_var lps;
    vf_var s = vf_flow_sample(f, p, t, 1000, VF_NOVAR, &r, &lps);
    CHECK(s != VF_NOVAR && vf_value(t, s)->shape[0] == 1000 && vf_value(t, s)->shape[1] == 2);
    /* the sample's log-density from the sampling pass equals log_prob of the sample */
    if (s != VF_NOVAR) {
        const vf_tensor *again = vf_value(t, vf_flow_log_prob(f, p, t, s, VF_NOVAR));
        CHECK(fc_maxrel(again->data, vf_value(t, lps)->data, 1000) <= (VF_USE_DOUBLE ? 1e-12 : 1e-5));
        /* sample mean within 5 standard errors (sd 1/sqrt(1000) per coordinate) */
        double m0 = 0, m1 = 0;
        for (int i = 0; i < 1000; i++) {
            m0 += vf_value(t, s)->data[2 * i];
            m1 += vf_value(t, s)->data[2 * i + 1];
        }
        CHECK(fabs(m0 / 1000) < 5 / sqrt(1000.0) && fabs(m1 / 1000) < 5 / sqrt(1000.0));
    }
    CHECK(vf_tape_status(t) == VF_OK);
    vf_tape_free(t);
    vf_params_free(p);
    vf_flow_free(f);
}

static void test_argument_checks(void)
{
    vf_dist *base = NULL;
    vf_transform *tr = NULL, *bad = NULL;
    vf_dist_normal_new(2, 0, &base);
    vf_reverse_new(3, 0, &bad);
    vf_flow *f = NULL;
    CHECK_STATUS(vf_flow_new(base, 1, &bad, &f), VF_ERR_SHAPE); /* takes ownership even on failure */
    CHECK(f == NULL);
    vf_dist_normal_new(2, 0, &base);
    vf_reverse_new(2, 0, &tr);
    CHECK_STATUS(vf_flow_new(base, 1, &tr, &f), VF_OK);
    vf_params *p = vf_params_new();
    vf_params_finalize(p, 0);
    vf_tape *t = vf_tape_new();
    vf_real x[6] = {0};
    CHECK(vf_flow_log_prob(f, p, t, vf_input(t, x, 2, (int64_t[]){2, 3}), VF_NOVAR) == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_SHAPE);
    CHECK(strstr(vf_tape_error(t), "expected [n, 2]") != NULL);
    vf_tape_reset(t);
    vf_var cx = vf_input(t, x, 2, (int64_t[]){3, 2});
    CHECK(vf_flow_log_prob(f, p, t, cx, cx) == VF_NOVAR); /* context given to an unconditional flow */
    CHECK(vf_tape_status(t) == VF_ERR_ARG);
    vf_tape_reset(t);
    vf_rng r;
    vf_rng_init(&r, 0, 0);
    CHECK(vf_flow_sample(f, p, t, -1, VF_NOVAR, &r, NULL) == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_ARG);
    vf_tape_free(t);
    vf_params_free(p);
    vf_flow_free(f);
    CHECK_STATUS(vf_reverse_new(0, 0, &tr), VF_ERR_ARG);
    CHECK_STATUS(vf_dist_normal_new(2, -1, &base), VF_ERR_ARG);
}

int main(void)
{
    RUN(test_reverse_checks);
    RUN(test_flow_composition);
    RUN(test_argument_checks);
    return vf_test_summary();
}
