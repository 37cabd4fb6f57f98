/* test_paths.c — the probability paths of vf_paths.h: each velocity is the time derivative of its
 * path (central differences of the coefficients, and of x_t itself), the endpoints are x0 and x1,
 * the score is -(x_t - a x0 - b x1) / g^2, batches agree with the coefficients row by row, and every
 * bad argument is an error. */
#include <math.h>
#include <stdlib.h>
#include "varflow.h"
#include "vf_test.h"

static const vf_path_kind kinds[] = {VF_PATH_LINEAR, VF_PATH_LIPMAN, VF_PATH_VP,
                                     VF_PATH_BRIDGE, VF_PATH_SI_SQRT, VF_PATH_SI_SIN2};
enum { N_KINDS = sizeof kinds / sizeof kinds[0] };

/* Coefficients' derivatives against central differences at interior times. */
static void test_derivatives(void)
{
    for (int k = 0; k < N_KINDS; k++) {
        vf_path p = vf_path_default(kinds[k]);
        if (p.sigma == 0) p.sigma = 0.3; /* exercise the noise term of the linear path too */
        for (double t = 0.05; t < 0.96; t += 0.15) {
            double a, b, g, da, db, dg, ap, bp, gp, am, bm, gm, h = 1e-6;
            CHECK_STATUS(vf_path_coefficients(&p, t, &a, &b, &g, &da, &db, &dg), VF_OK);
            CHECK_STATUS(vf_path_coefficients(&p, t + h, &ap, &bp, &gp, NULL, NULL, NULL), VF_OK);
            CHECK_STATUS(vf_path_coefficients(&p, t - h, &am, &bm, &gm, NULL, NULL, NULL), VF_OK);
            double ea = fabs((ap - am) / (2 * h) - da), eb = fabs((bp - bm) / (2 * h) - db);
            double eg = fabs((gp - gm) / (2 * h) - dg);
            CHECK_MSG(ea < 1e-6 && eb < 1e-6 && eg < 1e-6, "%s t=%g: derivative errors %g %g %g",
                      vf_path_name(kinds[k]), t, ea, eb, eg);
            CHECK(g >= 0);
        }
    }
}

/* x_t at the ends; the velocity of whole rows against central differences of x_t in t; the score. */
static void test_batches(void)
{
    enum { N = 64, D = 3 };
    vf_real x0[N * D], x1[N * D], z[N * D], t[N], xt[N * D], ut[N * D], sc[N * D];
    vf_rng r;
    vf_rng_init(&r, 3, 0);
    vf_rng_normal_fill(&r, x0, N * D, 0.0, 1.0);
    vf_rng_normal_fill(&r, x1, N * D, 2.0, 0.5);
    vf_rng_normal_fill(&r, z, N * D, 0.0, 1.0);
    vf_rng_uniform_fill(&r, t, N, 0.02, 0.98);
    for (int k = 0; k < N_KINDS; k++) {
        vf_path p = vf_path_default(kinds[k]);
        int has_score = kinds[k] == VF_PATH_BRIDGE || kinds[k] == VF_PATH_SI_SQRT || kinds[k] == VF_PATH_SI_SIN2;
        CHECK_STATUS(vf_path_sample(&p, N, D, x0, x1, t, z, xt, ut, has_score ? sc : NULL), VF_OK);
        double worst_u = 0, worst_s = 0;
        for (int i = 0; i < N; i++) {
            double a, b, g, da, db, dg, h = 1e-6, ap, bp, gp, am, bm, gm;
            vf_path_coefficients(&p, (double)t[i], &a, &b, &g, &da, &db, &dg);
            vf_path_coefficients(&p, (double)t[i] + h, &ap, &bp, &gp, NULL, NULL, NULL);
            vf_path_coefficients(&p, (double)t[i] - h, &am, &bm, &gm, NULL, NULL, NULL);
            for (int j = 0; j < D; j++) {
                double v0 = x0[i * D + j], v1 = x1[i * D + j], zz = z[i * D + j];
                double want_x = a * v0 + b * v1 + g * zz;
                CHECK_NEAR(xt[i * D + j], want_x, VF_USE_DOUBLE ? 1e-12 : 1e-5);
                double fd = ((ap * v0 + bp * v1 + gp * zz) - (am * v0 + bm * v1 + gm * zz)) / (2 * h);
                worst_u = fmax(worst_u, fabs((double)ut[i * D + j] - fd) / (1 + fabs(fd)));
                if (has_score) {
                    double want_s = -((double)xt[i * D + j] - a * v0 - b * v1) / (g * g);
                    worst_s = fmax(worst_s, fabs((double)sc[i * D + j] - want_s) / (1 + fabs(want_s)));
                }
            }
        }
        CHECK_MSG(worst_u < (VF_USE_DOUBLE ? 1e-6 : 1e-4), "%s: velocity vs d x_t / dt: %g", vf_path_name(kinds[k]),
                  worst_u);
        CHECK_MSG(worst_s < (VF_USE_DOUBLE ? 1e-6 : 2e-3), "%s: score: %g", vf_path_name(kinds[k]), worst_s);
    }
    /* endpoints: x0 at t = 0 and x1 at t = 1 (lipman ends at x1 + sigma_min x0) */
    vf_real ends[2] = {0, 1};
    vf_real e0[2 * D], e1[2 * D];
    memcpy(e0, x0, sizeof e0);
    memcpy(e1, x1, sizeof e1);
    static const vf_path_kind closed[] = {VF_PATH_LINEAR, VF_PATH_LIPMAN, VF_PATH_VP, VF_PATH_SI_SIN2};
    for (int k = 0; k < 4; k++) {
        vf_path p = vf_path_default(closed[k]);
        CHECK_STATUS(vf_path_sample(&p, 2, D, e0, e1, ends, z, xt, ut, NULL), VF_OK);
        for (int j = 0; j < D; j++) {
            CHECK_NEAR(xt[j], e0[j], 1e-6);
            double want = closed[k] == VF_PATH_LIPMAN ? (double)e1[D + j] + p.sigma * (double)e0[D + j] : (double)e1[D + j];
            CHECK_NEAR(xt[D + j], want, 1e-6);
        }
    }
    /* rectified flow's velocity is the straight line x1 - x0, whatever t */
    vf_path lin = vf_path_default(VF_PATH_LINEAR);
    CHECK_STATUS(vf_path_sample(&lin, N, D, x0, x1, t, NULL, xt, ut, NULL), VF_OK);
    for (int i = 0; i < N * D; i++) CHECK(ut[i] == (vf_real)((double)x1[i] - (double)x0[i]));
}

static void test_errors(void)
{
    vf_real x[2] = {0, 1}, t[1] = {0.5}, out[2], out2[2], sc[2];
    vf_path p = vf_path_default(VF_PATH_BRIDGE);
    CHECK(vf_path_sample(&p, 1, 2, x, x, t, NULL, out, out2, NULL) == VF_ERR_ARG); /* needs noise */
    CHECK(strstr(vf_last_error(), "noise") != NULL);
    t[0] = 0;
    CHECK(vf_path_sample(&p, 1, 2, x, x, t, x, out, out2, NULL) == VF_ERR_ARG); /* infinite velocity at t = 0 */
    CHECK(strstr(vf_last_error(), "row 0") != NULL);
    t[0] = 1.5;
    vf_path vp = vf_path_default(VF_PATH_VP);
    CHECK(vf_path_sample(&vp, 1, 2, x, x, t, NULL, out, out2, NULL) == VF_ERR_ARG);
    t[0] = 0.5;
    CHECK(vf_path_sample(&vp, 1, 2, x, x, t, NULL, out, out2, sc) == VF_ERR_ARG); /* no score */
    vf_path sin2 = vf_path_default(VF_PATH_SI_SIN2);
    t[0] = 0;
    CHECK(vf_path_sample(&sin2, 1, 2, x, x, t, x, out, out2, sc) == VF_ERR_ARG); /* g(0) = 0: no score there */
    CHECK_STATUS(vf_path_sample(&sin2, 1, 2, x, x, t, x, out, out2, NULL), VF_OK);
    vf_path bad = {VF_PATH_LINEAR, -1};
    CHECK(vf_path_coefficients(&bad, 0.5, NULL, NULL, NULL, NULL, NULL, NULL) == VF_ERR_ARG);
    bad.kind = (vf_path_kind)42;
    bad.sigma = 0;
    CHECK(vf_path_coefficients(&bad, 0.5, NULL, NULL, NULL, NULL, NULL, NULL) == VF_ERR_ARG);
    CHECK(vf_path_sample(&p, -1, 2, x, x, t, x, out, out2, NULL) == VF_ERR_ARG);
    CHECK(vf_path_sample(&p, 1, 2, NULL, x, t, x, out, out2, NULL) == VF_ERR_ARG);
    CHECK_STATUS(vf_path_sample(&p, 0, 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL), VF_OK);
    for (int k = 0; k < VF_PATH_COUNT; k++) CHECK(vf_path_from_name(vf_path_name((vf_path_kind)k)) == k);
    CHECK(vf_path_from_name("cosine") == -1 && vf_path_from_name(NULL) == -1);
}

int main(void)
{
    RUN(test_derivatives);
    RUN(test_batches);
    RUN(test_errors);
    return vf_test_summary();
}
