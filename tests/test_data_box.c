/* test_data_box.c — data on a box: continuous-flow models (vf_cnf_model.h, "Data on a box"):
 * the logit and its inverse against closed forms and each other, the log-Jacobian against central
 * differences; a zero field's exact log-density through the box; a random 1-D field's density
 * integrates to 1 over the box; sampling's log-densities equal log_prob's on the samples, and the
 * samples lie in the box's support; -inf (never NaN) outside it; the box survives a save/load (file
 * version 2, 1 without a box) and a bad box in a file is refused; argument errors; vf_fit_table with a
 * box (a U-shaped Beta density is fitted far better with the box than without) and its errors; and
 * flows fitted by vf_fit_table with a box (the logit of the widened box leads the flow): better on
 * the Beta data, samples inside, -inf outside, dequantization, the errors. */
#include <math.h>
#include <string.h>
#include "cnf/cnf_internal.h"
#include "tmpdir.h"
#include "vf_test.h"
#include "varflow/vf_io.h"
#include "varflow/vf_train.h"

#define TEST_PI 3.14159265358979323846
#define FLOAT_TOL (sizeof(vf_real) == 8 ? 1e-9 : 2e-4)

static double logit_of(const vf_cnf_box *b, double x)
{
    double p = b->alpha + (1 - 2 * b->alpha) * (x - b->lo) / (b->hi - b->lo);
    return log(p / (1 - p));
}

static vf_cnf_model *make(int64_t d, int zero, uint64_t seed)
{
    vf_cnf_spec spec = vf_cnf_spec_default(VF_CNF_CFM, d);
    spec.field.n_hidden = 2;
    spec.field.hidden[0] = spec.field.hidden[1] = 16;
    spec.field.zero_init_output = zero;
    vf_cnf_model *m = NULL;
    CHECK_STATUS(vf_cnf_model_new(&spec, seed, &m), VF_OK);
    return m;
}

/* y = logit(p), back to x, and log dy/dx from either side against a central difference of the
 * logit (in double, step 1e-9 of the width: the ends, at p = alpha, are steep). */
static void test_transform(void)
{
    const vf_cnf_box boxes[2] = {{0, 256, 1e-6}, {-2, 3, 0.05}};
    for (int k = 0; k < 2; k++) {
        const vf_cnf_box *b = &boxes[k];
        enum { N = 7, D = 2 };
        vf_real x[N * D], y[N * D];
        double ld_x[N], ld_y[N];
        unsigned char outside[N];
        for (int i = 0; i < N * D; i++) x[i] = (vf_real)(b->lo + (b->hi - b->lo) * (0.001 + 0.998 * i / (N * D - 1.0)));
        x[0] = (vf_real)b->lo, x[N * D - 1] = (vf_real)b->hi; /* the ends themselves are inside when alpha > 0 */
        vf__cnf_box_to_field(b, N, D, x, y, ld_x, outside);
        for (int i = 0; i < N; i++) {
            CHECK(outside[i] == 0);
            double want = 0;
            for (int j = 0; j < D; j++) {
                double xv = (double)x[i * D + j], h = 1e-9 * (b->hi - b->lo);
                CHECK_NEAR(y[i * D + j], logit_of(b, xv), FLOAT_TOL * (1 + fabs(logit_of(b, xv))));
                want += log((logit_of(b, xv + h) - logit_of(b, xv - h)) / (2 * h));
            }
            CHECK_NEAR(ld_x[i], want, 1e-5 * (1 + fabs(want)));
        }
        vf_real back[N * D];
        memcpy(back, y, sizeof back);
        vf__cnf_box_from_field(b, N, D, back, ld_y);
        for (int i = 0; i < N * D; i++) CHECK_NEAR(back[i], x[i], FLOAT_TOL * 4 * (b->hi - b->lo) + 1e-12);
        for (int i = 0; i < N; i++) CHECK_NEAR(ld_y[i], ld_x[i], sizeof(vf_real) == 8 ? 1e-6 : 1e-3 * (1 + fabs(ld_x[i])));
        /* huge logits map to the edges of the support, finite */
        vf_real far[2] = {(vf_real)1e30, (vf_real)-1e30};
        double ld2[1];
        vf__cnf_box_from_field(b, 1, 2, far, ld2);
        double slack = (b->hi - b->lo) * b->alpha / (1 - 2 * b->alpha) * 1.0001 + 1e-9;
        CHECK(far[0] <= b->hi + slack && far[0] >= b->hi - 1e-3 * (b->hi - b->lo) && far[1] >= b->lo - slack &&
              far[1] <= b->lo + 1e-3 * (b->hi - b->lo));
        CHECK(isfinite((double)far[0]) && isfinite((double)far[1]));
    }
}

/* A zero field moves nothing: log p(x) = log N((y - mean) / std) - sum log std + sum log dy/dx. */
static void test_zero_field_density(void)
{
    vf_cnf_model *m = make(2, 1, 1);
    if (!m) return;
    const vf_real mean[2] = {-1, 0.5f}, sd[2] = {2, 3};
    CHECK_STATUS(vf_cnf_model_set_standardization(m, mean, sd), VF_OK);
    CHECK_STATUS(vf_cnf_model_set_box(m, 0, 10, 0.01), VF_OK);
    enum { N = 5 };
    const vf_real x[N * 2] = {0, 10, 5, 5, 0.01f, 9.5f, 2.5f, 7.25f, 9.99f, 0.3f};
    vf_real lp[N];
    vf_cnf_sample_options o = vf_cnf_sample_default_options();
    o.ode.steps = 4;
    CHECK_STATUS(vf_cnf_model_log_prob(m, N, x, NULL, &o, lp, NULL), VF_OK);
    for (int i = 0; i < N; i++) {
        double want = -log(2.0) - log(3.0);
        for (int j = 0; j < 2; j++) {
            double xv = (double)x[i * 2 + j], p = 0.01 + 0.98 * xv / 10;
            double z = (log(p / (1 - p)) - mean[j]) / sd[j];
            want += -0.5 * z * z - 0.5 * log(2 * TEST_PI) + log(0.98 / 10) - log(p) - log1p(-p);
        }
        CHECK_NEAR(lp[i], want, FLOAT_TOL * 10 * (1 + fabs(want)));
    }
    vf_cnf_model_free(m);
}

/* A random 1-D field on the box [-1, 2]: exp(log p) integrates to 1 over the box (midpoint rule,
 * 20000 cells; the logit's ends hold little mass with alpha 0.01 and the standardization below). */
static void test_density_integrates_to_one(void)
{
    vf_cnf_model *m = make(1, 0, 11);
    if (!m) return;
    const vf_real mean[1] = {0.3f}, sd[1] = {1.5f};
    CHECK_STATUS(vf_cnf_model_set_standardization(m, mean, sd), VF_OK);
    CHECK_STATUS(vf_cnf_model_set_box(m, -1, 2, 0.01), VF_OK);
    enum { G = 20000 };
    static vf_real x[G], lp[G];
    /* the support reaches (hi - lo) alpha / (1 - 2 alpha) beyond each end */
    double ext = 3 * 0.01 / 0.98, lo = -1 - ext, hi = 2 + ext, h = (hi - lo) / G;
    for (int i = 0; i < G; i++) x[i] = (vf_real)(lo + h * (i + 0.5));
    vf_cnf_sample_options o = vf_cnf_sample_default_options();
    o.ode.steps = 50;
    CHECK_STATUS(vf_cnf_model_log_prob(m, G, x, NULL, &o, lp, NULL), VF_OK);
    double mass = 0;
    for (int i = 0; i < G; i++) mass += h * exp((double)lp[i]);
    CHECK_MSG(fabs(mass - 1) < 3e-3, "the density integrates to %.6f", mass);
    vf_cnf_model_free(m);
}

/* Sampling's log-densities equal log_prob of the samples; the samples lie in the support; rows
 * outside it get -inf, never NaN; a NaN row is an error (it is no point, inside or outside). */
static void test_sample_and_outside(void)
{
    vf_cnf_model *m = make(2, 0, 5);
    if (!m) return;
    CHECK_STATUS(vf_cnf_model_set_box(m, 0, 1, 1e-3), VF_OK);
    enum { N = 40 };
    vf_real x[N * 2], lp[N], back[N];
    vf_rng r;
    vf_rng_init(&r, 9, 0);
    vf_cnf_sample_options o = vf_cnf_sample_default_options();
    CHECK_STATUS(vf_cnf_model_sample(m, N, NULL, NULL, &r, &o, x, lp, NULL), VF_OK);
    double slack = 1e-3 / (1 - 2e-3) * 1.0001;
    for (int i = 0; i < N * 2; i++) CHECK(x[i] >= -slack && x[i] <= 1 + slack);
    CHECK_STATUS(vf_cnf_model_log_prob(m, N, x, NULL, &o, back, NULL), VF_OK);
    for (int i = 0; i < N; i++) CHECK_NEAR(lp[i], back[i], sizeof(vf_real) == 8 ? 1e-6 : 2e-3 * (1 + fabs(back[i])));
    /* outside: beyond the support, and infinite */
    const vf_real bad[3 * 2] = {0.5f, 1.1f, -0.2f, 0.5f, (vf_real)INFINITY, 0.5f};
    vf_real lpb[3];
    CHECK_STATUS(vf_cnf_model_log_prob(m, 3, bad, NULL, &o, lpb, NULL), VF_OK);
    for (int i = 0; i < 3; i++) CHECK(isinf((double)lpb[i]) && lpb[i] < 0);
    /* a NaN: refused, named (it used to come back as -inf, as if outside the box) */
    const vf_real with_nan[3 * 2] = {0.5f, 0.5f, 0.25f, 0.75f, 0.5f, (vf_real)NAN};
    CHECK_STATUS(vf_cnf_model_log_prob(m, 3, with_nan, NULL, &o, lpb, NULL), VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "row 2 column 1 is NaN") != NULL);
    /* vf_cnf_model_box_logits refuses them, naming the value */
    vf_real y[2];
    CHECK_STATUS(vf_cnf_model_box_logits(m, 1, bad, y), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "column 2") != NULL);
    CHECK_STATUS(vf_cnf_model_box_logits(m, 1, x, y), VF_OK);
    vf_cnf_model_free(m);
}

static void test_files(void)
{
    vf_cnf_model *m = make(2, 0, 3);
    if (!m) return;
    CHECK_STATUS(vf_cnf_model_set_box(m, -0.5, 255.5, 0.001), VF_OK);
    const char *p = path_of("box.safetensors");
    CHECK_STATUS(vf_cnf_model_save(m, p, 0, NULL, NULL, 0, NULL), VF_OK);
    vf_cnf_model *g = NULL;
    CHECK_STATUS(vf_cnf_model_load(p, &g, NULL), VF_OK);
    if (g) {
        CHECK(g->box.lo == -0.5 && g->box.hi == 255.5 && g->box.alpha == 0.001);
        const vf_real x[4] = {0, 255, 100, 3};
        vf_real a[2], b[2];
        vf_cnf_sample_options o = vf_cnf_sample_default_options();
        o.ode.steps = 10;
        CHECK_STATUS(vf_cnf_model_log_prob(m, 2, x, NULL, &o, a, NULL), VF_OK);
        CHECK_STATUS(vf_cnf_model_log_prob(g, 2, x, NULL, &o, b, NULL), VF_OK);
        CHECK(a[0] == b[0] && a[1] == b[1]);
        vf_cnf_model_free(g);
    }
    vf_st_file *st = NULL;
    CHECK_STATUS(vf_st_open(p, &st), VF_OK);
    if (st) {
        CHECK(strcmp(vf_st_meta(st, "format_version"), "2") == 0);
        vf_st_close(st);
    }
    /* without a box: version 1, as before */
    CHECK_STATUS(vf_cnf_model_set_box(m, 0, 0, 0), VF_OK);
    CHECK_STATUS(vf_cnf_model_save(m, p, 0, NULL, NULL, 0, NULL), VF_OK);
    st = NULL;
    CHECK_STATUS(vf_st_open(p, &st), VF_OK);
    if (st) {
        CHECK(strcmp(vf_st_meta(st, "format_version"), "1") == 0);
        vf_st_close(st);
    }
    vf_cnf_model_free(m);
}

static void test_argument_errors(void)
{
    vf_cnf_model *m = make(1, 0, 1);
    if (!m) return;
    CHECK_STATUS(vf_cnf_model_set_box(m, 1, 1, 0.1), VF_ERR_ARG);
    CHECK_STATUS(vf_cnf_model_set_box(m, 2, 1, 0.1), VF_ERR_ARG);
    CHECK_STATUS(vf_cnf_model_set_box(m, 0, INFINITY, 0.1), VF_ERR_ARG);
    CHECK_STATUS(vf_cnf_model_set_box(m, NAN, 1, 0.1), VF_ERR_ARG);
    CHECK_STATUS(vf_cnf_model_set_box(m, 0, 1, 0.5), VF_ERR_ARG);
    CHECK_STATUS(vf_cnf_model_set_box(m, 0, 1, -0.1), VF_ERR_ARG);
    CHECK_STATUS(vf_cnf_model_set_box(NULL, 0, 1, 0.1), VF_ERR_ARG);
    CHECK(m->box.hi <= m->box.lo); /* nothing was set */
    vf_cnf_model_free(m);
    vf_cnf_spec spec = vf_cnf_spec_default(VF_CNF_CFM, 1);
    spec.source.kind = VF_CNF_SOURCE_DATA;
    CHECK_STATUS(vf_cnf_model_new(&spec, 1, &m), VF_OK);
    if (m) CHECK_STATUS(vf_cnf_model_set_box(m, 0, 1, 0.1), VF_ERR_UNSUPPORTED);
    vf_cnf_model_free(m);
}

/* Beta(0.5, 0.5) in 2-D (entropy -0.483 nats per row): OT-CFM fitted with the box reaches a
 * validation NLL near it, far below the same fit without the box (seeded; 1500 rows, 30 epochs). */
static void test_fit(void)
{
    enum { N = 1500, D = 2 };
    static vf_real x[N * D];
    vf_rng r;
    vf_rng_init(&r, 4, 0);
    for (int i = 0; i < N * D; i++) { /* Beta(1/2, 1/2) = sin^2 of a uniform angle */
        double s = sin(0.5 * TEST_PI * vf_rng_uniform(&r));
        x[i] = (vf_real)(s * s);
    }
    double nll[2];
    for (int box = 0; box < 2; box++) {
        vf_fit_table_options o = vf_fit_table_default_options();
        o.fit.epochs = 30;
        o.fit.batch = 128;
        o.fit.seed = 1;
        o.fit.patience = 0;
        o.nll_rows = 300;
        if (box) {
            o.box_lo = 0;
            o.box_hi = 1;
        }
        vf_fitted *m = NULL;
        vf_fit_result res;
        CHECK_STATUS(vf_fit_table("otcfm", x, N, D, NULL, 0, NULL, 0, NULL, &o, &m, &res), VF_OK);
        nll[box] = res.valid_nll;
        vf_fitted_free(m);
    }
    CHECK_MSG(nll[1] < 0 && nll[1] < nll[0] - 0.5, "valid NLL with the box %.4f, without %.4f", nll[1], nll[0]);

    /* errors: a value outside the box (named), dequantization, a data source */
    vf_fit_table_options o = vf_fit_table_default_options();
    o.fit.epochs = 1;
    o.box_lo = 0;
    o.box_hi = 0.5;
    vf_fitted *m = NULL;
    vf_fit_result res;
    CHECK_STATUS(vf_fit_table("otcfm", x, N, D, NULL, 0, NULL, 0, NULL, &o, &m, &res), VF_ERR_ARG);
    CHECK(strstr(res.error, "outside the box") != NULL);
    o.box_hi = 1;
    static vf_real whole[N * D]; /* integers, as dequantization needs */
    for (int i = 0; i < N * D; i++) whole[i] = (vf_real)(x[i] > 0.5f);
    o.fit.dequantize = 1;
    o.box_hi = 2;
    CHECK_STATUS(vf_fit_table("otcfm", whole, N, D, NULL, 0, NULL, 0, NULL, &o, &m, &res), VF_ERR_UNSUPPORTED);
    o.fit.dequantize = 0;
    o.box_hi = 1;
    o.source = x;
    o.source_rows = 10;
    CHECK_STATUS(vf_fit_table("otcfm", x, N, D, NULL, 0, NULL, 0, NULL, &o, &m, &res), VF_ERR_UNSUPPORTED);
    o.source = NULL;
    o.source_rows = 0;
    o.box_alpha = 0.7;
    CHECK_STATUS(vf_fit_table("otcfm", x, N, D, NULL, 0, NULL, 0, NULL, &o, &m, &res), VF_ERR_ARG);
    CHECK(m == NULL);
}

/* Flows (NSF) on the same Beta(1/2, 1/2) rows through vf_fit_table: the box's logit leads the flow,
 * the fit beats the one without (validation NLL -0.43 against -0.11 here; 150 rows, se about 0.08),
 * samples lie in the widened box, log-densities outside it are -inf; integer rows with
 * dequantization need the box to hold x + 1. */
static void test_flow_fit(void)
{
    enum { N = 1500, D = 2 };
    static vf_real x[N * D];
    vf_rng r;
    vf_rng_init(&r, 4, 0);
    for (int i = 0; i < N * D; i++) {
        double s = sin(0.5 * TEST_PI * vf_rng_uniform(&r));
        x[i] = (vf_real)(s * s);
    }
    double nll[2];
    vf_fitted *boxed = NULL;
    for (int box = 0; box < 2; box++) {
        vf_fit_table_options o = vf_fit_table_default_options();
        o.fit.epochs = 40;
        o.fit.batch = 128;
        o.fit.seed = 1;
        o.fit.patience = 0;
        if (box) {
            o.box_lo = 0;
            o.box_hi = 1;
        }
        vf_fitted *m = NULL;
        vf_fit_result res;
        CHECK_STATUS(vf_fit_table("nsf:transforms=2,hidden=16x2", x, N, D, NULL, 0, NULL, 0, NULL, &o, &m, &res), VF_OK);
        nll[box] = res.valid_nll;
        if (box) boxed = m;
        else vf_fitted_free(m);
    }
    CHECK_MSG(nll[1] < 0 && nll[1] < nll[0] - 0.1, "valid NLL with the box %.4f, without %.4f", nll[1], nll[0]);
    if (boxed) {
        CHECK(vf_fitted_meta_get(boxed, "fit.box") != NULL);
        vf_real s[200 * D], lp[3];
        CHECK_STATUS(vf_fitted_sample(boxed, 200, NULL, NULL, 3, s), VF_OK);
        double slack = 1e-6 / (1 - 2e-6) * 1.0001 + 1e-7;
        for (int i = 0; i < 200 * D; i++) CHECK(s[i] >= -slack && s[i] <= 1 + slack);
        const vf_real probe[3 * D] = {0.5f, 0.5f, 1.5f, 0.5f, 0.5f, -0.5f};
        CHECK_STATUS(vf_fitted_log_prob(boxed, 3, probe, NULL, NULL, lp), VF_OK);
        CHECK(isfinite((double)lp[0]) && isinf((double)lp[1]) && lp[1] < 0 && isinf((double)lp[2]) && lp[2] < 0);
        vf_fitted_free(boxed);
    }
    /* integers 0..3 with dequantization: the box must hold x + 1 */
    static vf_real k[N * D];
    for (int i = 0; i < N * D; i++) k[i] = (vf_real)floor(3.999 * (double)x[i]);
    vf_fit_table_options o = vf_fit_table_default_options();
    o.fit.epochs = 2;
    o.fit.dequantize = 1;
    o.box_lo = 0;
    o.box_hi = 4;
    vf_fitted *m = NULL;
    vf_fit_result res;
    CHECK_STATUS(vf_fit_table("nsf:transforms=1,hidden=8x2", k, N, D, NULL, 0, NULL, 0, NULL, &o, &m, &res), VF_OK);
    vf_fitted_free(m);
    m = NULL;
    o.box_hi = 3.5;
    CHECK_STATUS(vf_fit_table("nsf:transforms=1,hidden=8x2", k, N, D, NULL, 0, NULL, 0, NULL, &o, &m, &res), VF_ERR_ARG);
    CHECK(strstr(res.error, "dequantization noise") != NULL && m == NULL);
}

int main(void)
{
    if (tmpdir_open("vf_data_box")) return 1;
    RUN(test_transform);
    RUN(test_zero_field_density);
    RUN(test_density_integrates_to_one);
    RUN(test_sample_and_outside);
    RUN(test_files);
    RUN(test_argument_errors);
    RUN(test_fit);
    RUN(test_flow_fit);
    tmpdir_close();
    return vf_test_summary();
}
