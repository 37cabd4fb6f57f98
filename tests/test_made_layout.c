/* test_made_layout.c — MADE hidden layouts: the sorted layout (the default) gives block-triangular
 * masks; the interleaved layout is the cycling one of older model files; a transform described without
 * "hidden_layout" (an older file) rebuilds interleaved, one with "sorted" rebuilds sorted, and a model
 * file of either layout loads back to the same log-densities. */
#include "varflow.h"
#include "tmpdir.h"
#include "vf_test.h"

static vf_made *new_made(vf_params *p, int64_t d, int64_t h, int depth, vf_made_hidden_layout layout)
{
    vf_made *m = NULL;
    vf_made_params mp = vf_made_default_params(d);
    mp.hidden = h;
    mp.depth = depth;
    mp.hidden_layout = layout;
    CHECK_STATUS(vf_made_new(p, "net", &mp, &m), VF_OK);
    return m;
}

/* Row o of mask [out, in] allows exactly the inputs [0, prefix(o)), prefix non-decreasing in o. */
static int is_block_triangular(const vf_real *mask, int64_t out, int64_t in)
{
    int64_t last = 0;
    for (int64_t o = 0; o < out; o++) {
        int64_t pre = 0;
        while (pre < in && mask[o * in + pre] != 0) pre++;
        for (int64_t i = pre; i < in; i++)
            if (mask[o * in + i] != 0) return 0;
        if (pre < last) return 0;
        last = pre;
    }
    return 1;
}

static void test_sorted_masks(void)
{
    vf_params *p = vf_params_new();
    vf_made *m = new_made(p, 6, 23, 3, VF_HIDDEN_SORTED);
    int64_t out, in;
    for (int l = 0; l < vf_made_n_masks(m); l++) {
        const vf_real *mask = vf_made_mask_of(m, l, &out, &in);
        CHECK_MSG(is_block_triangular(mask, out, in), "mask %d is not block triangular", l);
    }
    vf_made_free(m);
    vf_params_free(p);
}

static void test_interleaved_cycles(void)
{
    vf_params *p = vf_params_new();
    vf_made *m = new_made(p, 4, 7, 2, VF_HIDDEN_INTERLEAVED);
    int64_t out, in;
    const vf_real *mask = vf_made_mask_of(m, 0, &out, &in); /* [7, 4]: unit k has degree 1 + k mod 3 */
    for (int64_t k = 0; k < 7; k++) {
        int64_t seen = 0;
        for (int64_t i = 0; i < 4; i++) seen += mask[k * 4 + i] != 0;
        CHECK(seen == 1 + k % 3);
    }
    CHECK(!is_block_triangular(vf_made_mask_of(m, 1, &out, &in), out, in));
    vf_made_free(m);
    vf_params_free(p);
}

static void check_rebuild(const char *json, int want_sorted)
{
    vf_params *p = vf_params_new();
    vf_transform *tr = NULL;
    CHECK_STATUS(vf_transform_from_json(json, p, "transforms.0", &tr), VF_OK);
    char back[1024];
    CHECK_STATUS(vf_transform_describe(tr, back, sizeof back), VF_OK);
    CHECK_MSG(strcmp(back, json) == 0, "%s -> %s", json, back);
    CHECK((strstr(back, "\"hidden_layout\":\"sorted\"") != NULL) == want_sorted);
    vf_transform_free(tr);
    vf_params_free(p);
}

static void test_registry(void)
{
    check_rebuild("{\"kind\":\"maf\",\"dim\":3,\"context\":0,\"hidden\":8,\"depth\":2,\"residual\":0,\"act\":\"relu\","
                  "\"order\":\"sequential\",\"seed\":0,\"random_degrees\":0,\"log_scale_bound\":0}",
                  0);
    check_rebuild("{\"kind\":\"maf\",\"dim\":3,\"context\":0,\"hidden\":8,\"depth\":2,\"residual\":0,\"act\":\"relu\","
                  "\"order\":\"sequential\",\"seed\":0,\"random_degrees\":0,\"log_scale_bound\":0,"
                  "\"hidden_layout\":\"sorted\"}",
                  1);
    check_rebuild("{\"kind\":\"spline_maf\",\"dim\":2,\"context\":0,\"hidden\":6,\"depth\":1,\"residual\":0,"
                  "\"act\":\"relu\",\"order\":\"reversed\",\"seed\":0,\"random_degrees\":0,\"bins\":4,\"bound\":3,"
                  "\"min_bin_width\":0.001,\"min_bin_height\":0.001,\"min_derivative\":0.001}",
                  0);
    vf_params *p = vf_params_new();
    vf_transform *tr = NULL;
    CHECK_STATUS(vf_transform_from_json("{\"kind\":\"iaf\",\"dim\":3,\"context\":0,\"hidden\":8,\"depth\":2,\"residual\":0,"
                                        "\"act\":\"relu\",\"order\":\"sequential\",\"seed\":0,\"random_degrees\":0,"
                                        "\"log_scale_bound\":0,\"hidden_layout\":\"diagonal\"}",
                                        p, "transforms.0", &tr),
                 VF_ERR_FORMAT);
    CHECK(tr == NULL && strstr(vf_last_error(), "hidden_layout") != NULL);
    vf_params_free(p);
}

/* A flow of both layouts saved and loaded gives the same log-densities. */
static void test_model_files(void)
{
    for (int layout = 0; layout < 2; layout++) {
        vf_params *p = vf_params_new();
        vf_dist *base = NULL;
        vf_transform *tr[2] = {NULL, NULL};
        vf_flow *f = NULL;
        vf_maf_params kp = vf_maf_default_params(3);
        kp.hidden = 10;
        kp.hidden_layout = layout ? VF_HIDDEN_INTERLEAVED : VF_HIDDEN_SORTED;
        vf_spline_ar_params sp = vf_spline_ar_default_params(3);
        sp.hidden = 9;
        sp.hidden_layout = kp.hidden_layout;
        CHECK_STATUS(vf_maf_new(p, "transforms.0", &kp, &tr[0]), VF_OK);
        CHECK_STATUS(vf_spline_maf_new(p, "transforms.1", &sp, &tr[1]), VF_OK);
        CHECK_STATUS(vf_dist_normal_new(3, 0, &base), VF_OK);
        CHECK_STATUS(vf_flow_new(base, 2, tr, &f), VF_OK);
        CHECK_STATUS(vf_params_finalize(p, 4), VF_OK);
        vf_rng r;
        vf_rng_init(&r, 2, 0);
        vf_rng_normal_fill(&r, vf_params_values(p), (size_t)vf_params_size(p), 0.0, 0.2);
        vf_real x[20 * 3], a[20], b[20];
        vf_rng_normal_fill(&r, x, 60, 0.0, 1.0);
        CHECK_STATUS(vf_flow_log_prob_rows(f, p, NULL, 20, x, NULL, 0, a), VF_OK);
        const char *path = path_of(layout ? "interleaved.safetensors" : "sorted.safetensors");
        CHECK_STATUS(vf_flow_save(f, p, path, 0, NULL, NULL), VF_OK);
        vf_params *p2 = NULL;
        vf_flow *f2 = NULL;
        CHECK_STATUS(vf_flow_load(path, &p2, &f2, NULL), VF_OK);
        CHECK_STATUS(vf_flow_log_prob_rows(f2, p2, NULL, 20, x, NULL, 0, b), VF_OK);
        CHECK(memcmp(a, b, sizeof a) == 0);
        vf_flow_free(f2);
        vf_params_free(p2);
        vf_flow_free(f);
        vf_params_free(p);
    }
}

int main(void)
{
    if (tmpdir_open("vf_made_layout")) return 1;
    RUN(test_sorted_masks);
    RUN(test_interleaved_cycles);
    RUN(test_registry);
    RUN(test_model_files);
    tmpdir_close();
    return vf_test_summary();
}
