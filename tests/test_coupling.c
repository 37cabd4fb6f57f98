/* test_coupling.c — minibatch couplings of vf_cfm.h: independent pairs are the rows as they come; OT
 * pairs are a permutation with the exact minimum total squared distance (also within each class of
 * labelled targets); Sinkhorn pairs at a small eps mostly agree with the OT pairing and at a huge eps
 * spread over all targets; bad arguments are errors. */
#include <math.h>
#include <stdlib.h>
#include "varflow.h"
#include "vf_test.h"

enum { N = 60, D = 2 };

static double pair_cost(const vf_real *x0, const vf_real *x1, int64_t a, int64_t b)
{
    double s = 0;
    for (int k = 0; k < D; k++) s += ((double)x0[a * D + k] - x1[b * D + k]) * ((double)x0[a * D + k] - x1[b * D + k]);
    return s;
}

static void make_batch(vf_real *x0, vf_real *x1, uint64_t seed)
{
    vf_rng r;
    vf_rng_init(&r, seed, 0);
    vf_rng_normal_fill(&r, x0, N * D, 0, 1);
    vf_rng_normal_fill(&r, x1, N * D, 2, 1);
}

static void test_independent_and_ot(void)
{
    vf_real x0[N * D], x1[N * D];
    make_batch(x0, x1, 1);
    int64_t i0[N], i1[N], perm[N];
    vf_coupling c = vf_coupling_default(VF_COUPLING_INDEPENDENT);
    CHECK_STATUS(vf_coupling_pairs(&c, N, D, x0, x1, NULL, NULL, i0, i1), VF_OK);
    for (int k = 0; k < N; k++) CHECK(i0[k] == k && i1[k] == k);
    c = vf_coupling_default(VF_COUPLING_OT);
    CHECK_STATUS(vf_coupling_pairs(&c, N, D, x0, x1, NULL, NULL, i0, i1), VF_OK);
    double w2;
    CHECK_STATUS(vf_ot_pairs_sqeuclidean(N, D, x0, x1, perm, &w2), VF_OK);
    int seen[N] = {0};
    double total = 0, identity = 0;
    for (int k = 0; k < N; k++) {
        CHECK(i0[k] == k && i1[k] >= 0 && i1[k] < N);
        seen[i1[k]]++;
        total += pair_cost(x0, x1, i0[k], i1[k]);
        identity += pair_cost(x0, x1, k, k);
    }
    for (int k = 0; k < N; k++) CHECK(seen[k] == 1); /* a permutation: never with replacement */
    CHECK_NEAR(total / N, w2, 1e-9 * (1 + w2));
    CHECK(total < identity);
}

/* With labels, OT couples within each class: every target once, and each class's pairing optimal. */
static void test_label_aware_ot(void)
{
    vf_real x0[N * D], x1[N * D];
    make_batch(x0, x1, 2);
    int64_t labels[N], i0[N], i1[N];
    for (int k = 0; k < N; k++) labels[k] = (k * 7) % 3; /* three interleaved classes of 20 */
    vf_coupling c = vf_coupling_default(VF_COUPLING_OT);
    CHECK_STATUS(vf_coupling_pairs(&c, N, D, x0, x1, labels, NULL, i0, i1), VF_OK);
    int seen0[N] = {0}, seen1[N] = {0};
    for (int k = 0; k < N; k++) seen0[i0[k]]++, seen1[i1[k]]++;
    for (int k = 0; k < N; k++) CHECK(seen0[k] == 1 && seen1[k] == 1);
    for (int64_t cls = 0; cls < 3; cls++) {
        /* the pairs of this class, against the exact OT of the same two groups */
        vf_real g0[N * D], g1[N * D];
        int64_t m = 0, perm[N];
        double total = 0, w2;
        for (int k = 0; k < N; k++)
            if (labels[i1[k]] == cls) {
                memcpy(g0 + m * D, x0 + i0[k] * D, D * sizeof *g0);
                memcpy(g1 + m * D, x1 + i1[k] * D, D * sizeof *g1);
                total += pair_cost(x0, x1, i0[k], i1[k]);
                m++;
            }
        CHECK(m == 20);
        CHECK_STATUS(vf_ot_pairs_sqeuclidean(m, D, g0, g1, perm, &w2), VF_OK);
        CHECK_NEAR(total / (double)m, w2, 1e-9 * (1 + w2));
    }
}

static void test_sinkhorn_pairs(void)
{
    vf_real x0[N * D], x1[N * D];
    make_batch(x0, x1, 3);
    int64_t i0[N], i1[N], o0[N], o1[N];
    vf_coupling ot = vf_coupling_default(VF_COUPLING_OT);
    CHECK_STATUS(vf_coupling_pairs(&ot, N, D, x0, x1, NULL, NULL, o0, o1), VF_OK);
    vf_rng r;
    vf_rng_init(&r, 5, 0);
    vf_coupling c = vf_coupling_default(VF_COUPLING_SINKHORN);
    c.eps = 0.01; /* squared distances here are of order 10: nearly the OT plan */
    CHECK_STATUS(vf_coupling_pairs(&c, N, D, x0, x1, NULL, &r, i0, i1), VF_OK);
    int agree = 0;
    for (int k = 0; k < N; k++) {
        CHECK(i0[k] >= 0 && i0[k] < N && i1[k] >= 0 && i1[k] < N);
        agree += o1[i0[k]] == i1[k];
    }
    /* an independent pairing would hit an OT pair once in 60 draws (expected 1 of 60); this plan puts
     * about three quarters of its mass on the OT pairs (measured 44 of 60 with this seed) */
    CHECK_MSG(agree >= 30, "only %d of %d Sinkhorn pairs are OT pairs at eps 0.01", agree, N);
    /* a huge eps: the plan is nearly uniform, so the pairs use many different targets */
    c.eps = 1e4;
    CHECK_STATUS(vf_coupling_pairs(&c, N, D, x0, x1, NULL, &r, i0, i1), VF_OK);
    int distinct = 0, seen[N] = {0};
    for (int k = 0; k < N; k++) distinct += seen[i1[k]]++ == 0;
    /* N draws with replacement from N equally likely targets: 38 distinct expected, sd about 2.4 */
    CHECK_MSG(distinct >= 28 && distinct <= 48, "%d distinct targets", distinct);
}

static void test_errors(void)
{
    vf_real x[4] = {0, 1, 2, 3};
    int64_t i0[2], i1[2];
    vf_coupling c = vf_coupling_default(VF_COUPLING_SINKHORN);
    CHECK(vf_coupling_pairs(&c, 2, 2, x, x, NULL, NULL, i0, i1) == VF_ERR_ARG); /* no generator */
    c.kind = (vf_coupling_kind)9;
    CHECK(vf_coupling_pairs(&c, 2, 2, x, x, NULL, NULL, i0, i1) == VF_ERR_ARG);
    c = vf_coupling_default(VF_COUPLING_OT);
    CHECK(vf_coupling_pairs(&c, 2, 0, x, x, NULL, NULL, i0, i1) == VF_ERR_ARG);
    CHECK(vf_coupling_from_name("ot") == VF_COUPLING_OT && vf_coupling_from_name("sinkhorn") == VF_COUPLING_SINKHORN &&
          vf_coupling_from_name("random") == -1);
}

int main(void)
{
    RUN(test_independent_and_ot);
    RUN(test_label_aware_ot);
    RUN(test_sinkhorn_pairs);
    RUN(test_errors);
    return vf_test_summary();
}
