/* test_batch_norm.c — the batch_norm transform and the parameter store's non-trainable buffers:
 * flowcheck in evaluation mode, training-mode values and running-statistic updates against hand
 * computations, gradients in training mode, buffers outside the optimizer's view, model-file round
 * trip of the buffers, registry, errors and rollback. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "alloc_fail.h"
#include "flowcheck.h"
#include "tmpdir.h"
#include "vf_test.h"

#if VF_USE_DOUBLE
#define TOL 1e-12
#else
#define TOL 3e-5
#endif

static vf_transform *make(vf_params *p, const char *name, int64_t d, int64_t c)
{
    vf_batch_norm_params kp = vf_batch_norm_default_params(d);
    kp.context = c;
    vf_transform *tr = NULL;
    CHECK_STATUS(vf_batch_norm_new(p, name, &kp, &tr), VF_OK);
    return tr;
}

/* Running statistics away from (0, 1) so the evaluation map is not trivial. */
static void set_running(vf_params *p, const char *name, int64_t d, uint64_t seed)
{
    char a[64], b[64];
    snprintf(a, sizeof a, "%s.running_mean", name);
    snprintf(b, sizeof b, "%s.running_var", name);
    vf_real *rm = vf_params_buffer_data(p, vf_params_find_buffer(p, a));
    vf_real *rv = vf_params_buffer_data(p, vf_params_find_buffer(p, b));
    vf_rng r;
    vf_rng_init(&r, seed, 0);
    for (int64_t j = 0; rm && rv && j < d; j++) {
        rm[j] = (vf_real)vf_rng_normal(&r);
        rv[j] = (vf_real)(0.2 + 2 * vf_rng_uniform(&r));
    }
}

static void test_store(void)
{
    vf_params *p = vf_params_new();
    vf_transform *tr = make(p, "bn", 3, 0);
    CHECK(vf_params_count(p) == 2 && vf_params_size(p) == 6);
    CHECK(vf_params_buffer_count(p) == 2 && vf_params_buffer_size(p) == 6);
    CHECK(vf_params_find(p, "bn.log_gamma") == 0 && vf_params_find(p, "bn.running_mean") < 0);
    CHECK(vf_params_find_buffer(p, "bn.running_var") == 1);
    vf_param_info info;
    CHECK_STATUS(vf_params_buffer_info(p, 1, &info), VF_OK);
    CHECK(strcmp(info.name, "bn.running_var") == 0 && info.offset == 3 && info.numel == 3);
    CHECK_STATUS(vf_params_buffer_info(p, 2, &info), VF_ERR_ARG);
    CHECK(vf_params_buffers(p) == NULL && vf_params_buffer_data(p, 0) == NULL);
    /* one name space: a parameter may not take a buffer's name and the reverse */
    int32_t id;
    CHECK_STATUS(vf_params_add(p, "bn.running_mean", 1, (int64_t[]){1}, vf_init_zeros(), &id), VF_ERR_ARG);
    CHECK_STATUS(vf_params_add_buffer(p, "bn.beta", 1, (int64_t[]){1}, vf_init_zeros(), &id), VF_ERR_ARG);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    const vf_real *rm = vf_params_buffer_data(p, 0), *rv = vf_params_buffer_data(p, 1);
    CHECK(rm && rv && rm[2] == 0 && rv[0] == 1 && rv[2] == 1);
    CHECK_STATUS(vf_params_add_buffer(p, "late", 1, (int64_t[]){1}, vf_init_zeros(), &id), VF_ERR_STATE);
    CHECK(vf_params_training(p) == 0);
    vf_params_set_training(p, 5);
    CHECK(vf_params_training(p) == 1);
    vf_transform_free(tr);
    vf_params_free(p);
    /* a failing constructor leaves neither parameters nor buffers behind */
    p = vf_params_new();
    CHECK_STATUS(vf_params_add_buffer(p, "x.running_var", 1, (int64_t[]){2}, vf_init_zeros(), &id), VF_OK);
    vf_batch_norm_params kp = vf_batch_norm_default_params(2);
    CHECK_STATUS(vf_batch_norm_new(p, "x", &kp, &tr), VF_ERR_ARG); /* its running_var name is taken */
    CHECK(tr == NULL && vf_params_count(p) == 0 && vf_params_buffer_count(p) == 1);
    kp.momentum = 1.5;
    CHECK_STATUS(vf_batch_norm_new(p, "y", &kp, &tr), VF_ERR_ARG);
    kp = vf_batch_norm_default_params(2);
    kp.eps = 0;
    CHECK_STATUS(vf_batch_norm_new(p, "y", &kp, &tr), VF_ERR_ARG);
    CHECK(vf_params_count(p) == 0 && vf_params_buffer_count(p) == 1);
    vf_params_free(p);
}

static void test_flowcheck_eval(void)
{
    for (int64_t d = 1; d <= 3; d++)
        for (int64_t c = 0; c <= 2; c += 2) {
            vf_params *p = vf_params_new();
            vf_transform *tr = make(p, "bn", d, c);
            CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
            if (!tr) continue;
            fc_randomize(p, 3 + (uint64_t)d, 0.4);
            set_running(p, "bn", d, 9 + (uint64_t)d);
            const int64_t n = 3;
            vf_real x[9], ctx[6];
            gc_fill(x, n * d, 4, 0, 1.5);
            gc_fill(ctx, n * 2, 6, 0, 1);
            const vf_real *cx = c ? ctx : NULL;
            CHECK_MSG(fc_roundtrip(tr, p, n, x, cx), "d=%lld c=%lld", (long long)d, (long long)c);
            CHECK_MSG(fc_logdet(tr, p, n, x, cx), "d=%lld c=%lld", (long long)d, (long long)c);
            CHECK_MSG(fc_gradcheck(tr, p, n, x, cx, 0), "d=%lld c=%lld forward", (long long)d, (long long)c);
            CHECK_MSG(fc_gradcheck(tr, p, n, x, cx, 1), "d=%lld c=%lld inverse", (long long)d, (long long)c);
            /* an affine map with scales between 0.4 and 5: N(0, I) pulled back lies well inside [-12, 12] */
            if (d <= 2 && c == 0)
                CHECK_MSG(fc_normalization(tr, p, NULL, -12, 12, d == 1 ? 4000 : 800, 1e-4), "d=%lld", (long long)d);
            /* evaluation mode never changes the running statistics */
            CHECK(vf_params_buffers(p)[0] != 0 || d == 0);
            vf_params_free(p);
            vf_transform_free(tr);
        }
}

/* Training mode on 4 rows of 2 features against the formulas, then the running-statistic update. */
static void test_training_values(void)
{
    vf_params *p = vf_params_new();
    vf_transform *tr = make(p, "bn", 2, 0);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    if (!tr) return;
    vf_real *lg = vf_params_data(p, 0), *beta = vf_params_data(p, 1);
    lg[0] = (vf_real)0.5;
    lg[1] = (vf_real)-0.25;
    beta[0] = (vf_real)1;
    beta[1] = (vf_real)-2;
    const vf_real x[8] = {1, 10, 2, 20, 4, 10, 5, 40};
    /* column 0: 1 2 4 5, mean 3, biased var (4 + 1 + 1 + 4) / 4 = 2.5; column 1: mean 20, var (100 + 0 + 100 + 400) / 4 = 150 */
    const double mean[2] = {3, 20}, var[2] = {2.5, 150}, eps = 1e-5;
    vf_params_set_training(p, 1);
    vf_tape *t = vf_tape_new();
    vf_var l, z = vf_transform_forward(tr, p, t, vf_input(t, x, 2, (int64_t[]){4, 2}), VF_NOVAR, &l);
    CHECK_STATUS(vf_tape_status(t), VF_OK);
    double ladj = 0;
    for (int j = 0; j < 2; j++) ladj += (double)lg[j] - 0.5 * log(var[j] + eps);
    for (int i = 0; z != VF_NOVAR && i < 4; i++) {
        for (int j = 0; j < 2; j++) {
            double want = exp((double)lg[j]) * ((double)x[2 * i + j] - mean[j]) / sqrt(var[j] + eps) + (double)beta[j];
            CHECK_NEAR(vf_value(t, z)->data[2 * i + j], want, TOL * 10);
        }
        CHECK_NEAR(vf_value(t, l)->data[i], ladj, TOL * 10);
    }
    const vf_real *rm = vf_params_buffer_data(p, 0), *rv = vf_params_buffer_data(p, 1);
    for (int j = 0; j < 2; j++) {
        CHECK_NEAR(rm[j], 0.1 * mean[j], TOL * 100);
        CHECK_NEAR(rv[j], 0.9 + 0.1 * var[j] * 4.0 / 3.0, TOL * 100);
    }
    /* a second batch: the update compounds */
    vf_tape_reset(t);
    vf_transform_forward(tr, p, t, vf_input(t, x, 2, (int64_t[]){4, 2}), VF_NOVAR, &l);
    for (int j = 0; j < 2; j++) {
        CHECK_NEAR(rm[j], 0.9 * 0.1 * mean[j] + 0.1 * mean[j], TOL * 100);
        CHECK_NEAR(rv[j], 0.9 * (0.9 + 0.1 * var[j] * 4.0 / 3.0) + 0.1 * var[j] * 4.0 / 3.0, TOL * 1000);
    }
    /* evaluation mode uses them and leaves them alone */
    double rm0 = rm[0], rv1 = rv[1];
    vf_params_set_training(p, 0);
    vf_tape_reset(t);
    z = vf_transform_forward(tr, p, t, vf_input(t, x, 2, (int64_t[]){4, 2}), VF_NOVAR, &l);
    CHECK(rm[0] == rm0 && rv[1] == rv1);
    double want = exp((double)lg[1]) * ((double)x[1] - (double)rm[1]) / sqrt((double)rv[1] + eps) + (double)beta[1];
    if (z != VF_NOVAR) CHECK_NEAR(vf_value(t, z)->data[1], want, TOL * 10);
    /* training mode needs two rows */
    vf_params_set_training(p, 1);
    vf_tape_reset(t);
    CHECK(vf_transform_forward(tr, p, t, vf_input(t, x, 2, (int64_t[]){1, 2}), VF_NOVAR, &l) == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_ARG && rm[0] == rm0);
    vf_tape_free(t);
    /* gradients through the batch statistics */
    vf_real xr[10];
    gc_fill(xr, 10, 5, 0, 1.5);
    CHECK(fc_gradcheck(tr, p, 5, xr, NULL, 0));
    vf_transform_free(tr);
    vf_params_free(p);
}

/* Adam steps over the store's values never reach the buffers: in evaluation mode they stay bitwise. */
static void test_optimizer_ignores_buffers(void)
{
    vf_params *p = vf_params_new();
    vf_transform *tr = make(p, "bn", 2, 0);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    if (!tr) return;
    set_running(p, "bn", 2, 3);
    vf_real saved[4];
    memcpy(saved, vf_params_buffers(p), sizeof saved);
    vf_adam *opt = NULL;
    vf_adam_params ap = vf_adam_default_params();
    ap.lr = 0.1;
    CHECK_STATUS(vf_adam_new(vf_params_size(p), &ap, &opt), VF_OK);
    vf_tape *t = vf_tape_new();
    const vf_real x[6] = {1, 2, 3, 5, -1, 0};
    for (int k = 0; opt && k < 5; k++) {
        vf_tape_reset(t);
        vf_params_zero_grad(p);
        vf_var l, z = vf_transform_forward(tr, p, t, vf_input(t, x, 2, (int64_t[]){3, 2}), VF_NOVAR, &l);
        vf_var loss = vf_sum(t, vf_add(t, vf_sum(t, vf_square(t, z), 1, 0), l), VF_ALL_AXES, 0);
        CHECK_STATUS(vf_backward(t, loss), VF_OK);
        CHECK_STATUS(vf_adam_step(opt, vf_params_values(p), vf_params_grads(p)), VF_OK);
    }
    CHECK(memcmp(saved, vf_params_buffers(p), sizeof saved) == 0);
    CHECK(vf_params_values(p)[0] != 0); /* the parameters did move */
    vf_adam_free(opt);
    vf_tape_free(t);
    vf_transform_free(tr);
    vf_params_free(p);
}

static void test_model_file(void)
{
    vf_params *p = vf_params_new();
    vf_transform *tr[2] = {make(p, "transforms.0", 2, 0), NULL};
    vf_affine_coupling_params cp = vf_affine_coupling_default_params(2);
    CHECK_STATUS(vf_affine_coupling_new(p, "transforms.1", &cp, &tr[1]), VF_OK);
    vf_dist *base = NULL;
    CHECK_STATUS(vf_dist_normal_new(2, 0, &base), VF_OK);
    vf_flow *f = NULL;
    CHECK_STATUS(vf_flow_new(base, 2, tr, &f), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 2), VF_OK);
    if (!f) {
        vf_params_free(p);
        return;
    }
    fc_randomize(p, 8, 0.3);
    set_running(p, "transforms.0", 2, 4);
    const char *path = path_of("bn.safetensors");
    CHECK_STATUS(vf_flow_save(f, p, path, 0, NULL, NULL), VF_OK);
    vf_st_file *st = NULL;
    CHECK_STATUS(vf_st_open(path, &st), VF_OK);
    CHECK(st && vf_st_has(st, "transforms.0.running_mean") && vf_st_has(st, "transforms.0.running_var"));
    vf_st_close(st);
    vf_params *q = NULL;
    vf_flow *g = NULL;
    CHECK_STATUS(vf_flow_load(path, &q, &g, NULL), VF_OK);
    if (g) {
        CHECK(vf_params_buffer_count(q) == 2 && vf_params_buffer_size(q) == 4);
        CHECK(memcmp(vf_params_buffers(q), vf_params_buffers(p), 4 * sizeof(vf_real)) == 0);
        CHECK(memcmp(vf_params_values(q), vf_params_values(p), sizeof(vf_real) * (size_t)vf_params_size(p)) == 0);
        const vf_real x[4] = {0.5, -1, 2, 0.25};
        vf_tape *t = vf_tape_new();
        vf_var a = vf_flow_log_prob(f, p, t, vf_input(t, x, 2, (int64_t[]){2, 2}), VF_NOVAR);
        vf_var b = vf_flow_log_prob(g, q, t, vf_input(t, x, 2, (int64_t[]){2, 2}), VF_NOVAR);
        CHECK(a != VF_NOVAR && b != VF_NOVAR && memcmp(vf_value(t, a)->data, vf_value(t, b)->data, 2 * sizeof(vf_real)) == 0);
        vf_tape_free(t);
    }
    vf_flow_free(g);
    vf_params_free(q);
    /* the description round trip through the registry, and a record with a bad momentum */
    char json[256];
    CHECK_STATUS(vf_transform_describe(vf_flow_transform(f, 0), json, sizeof json), VF_OK);
    CHECK_MSG(strcmp(json, "{\"kind\":\"batch_norm\",\"dim\":2,\"context\":0,\"eps\":1.0000000000000001e-05,\"momentum\":"
                           "0.10000000000000001}") == 0, "%s", json);
    vf_params *r = vf_params_new();
    vf_transform *back = NULL;
    CHECK_STATUS(vf_transform_from_json("{\"kind\":\"batch_norm\",\"dim\":2,\"context\":0,\"eps\":1e-5,\"momentum\":2}", r,
                                        "t", &back), VF_ERR_FORMAT);
    CHECK(back == NULL && vf_params_count(r) == 0 && vf_params_buffer_count(r) == 0);
    CHECK_STATUS(vf_transform_from_json(json, r, "t", &back), VF_OK);
    CHECK(vf_params_buffer_count(r) == 2);
    vf_transform_free(back);
    vf_params_free(r);
    vf_flow_free(f);
    vf_params_free(p);
}

static vf_status alloc_scenario(void *ctx)
{
    (void)ctx;
    vf_params *p = vf_params_new();
    if (!p) return VF_ERR_NOMEM;
    vf_batch_norm_params kp = vf_batch_norm_default_params(2);
    vf_transform *tr = NULL;
    vf_tape *t = NULL;
    vf_status s = vf_batch_norm_new(p, "bn", &kp, &tr);
    if (s == VF_OK) s = vf_params_finalize(p, 1);
    if (s == VF_OK && !(t = vf_tape_new())) s = VF_ERR_NOMEM;
    const vf_real x[4] = {0.5f, 0.25f, 0.75f, -0.5f};
    if (s == VF_OK) {
        vf_params_set_training(p, 1);
        vf_var l1, l2, z = vf_transform_forward(tr, p, t, vf_input(t, x, 2, (int64_t[]){2, 2}), VF_NOVAR, &l1);
        vf_params_set_training(p, 0);
        vf_var back = vf_transform_inverse(tr, p, t, z, VF_NOVAR, &l2);
        if (back != VF_NOVAR) vf_backward(t, vf_sum(t, back, VF_ALL_AXES, 0));
        s = vf_tape_status(t);
    }
    vf_tape_free(t);
    vf_transform_free(tr);
    vf_params_free(p);
    return s;
}

static void test_alloc_failures(void)
{
    CHECK(alloc_scenario(NULL) == VF_OK);
    CHECK(af_sweep("batch_norm", alloc_scenario, NULL, 0) == 0);
    CHECK(af_sweep("batch_norm (sticky)", alloc_scenario, NULL, 1) == 0);
}

int main(void)
{
    if (tmpdir_open("vf_bn")) return 1;
    RUN(test_store);
    RUN(test_flowcheck_eval);
    RUN(test_training_values);
    RUN(test_optimizer_ignores_buffers);
    RUN(test_model_file);
    RUN(test_alloc_failures);
    tmpdir_close();
    return vf_test_summary();
}
