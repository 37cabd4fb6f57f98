/* test_vfield.c — the vector field of vf_vfield.h: its parameter layout, the sinusoidal time features'
 * values, gradients and forward-mode derivatives through x, t and r against central differences,
 * class labels (the null label by default, gradients only into the rows used), the residual form,
 * and every bad argument recorded as a tape error. */
#include <math.h>
#include <stdlib.h>
#include "gradcheck.h"
#include "vf_test.h"

typedef struct field_fixture {
    vf_params *p;
    vf_vfield *v;
} field_fixture;

static void make_field(field_fixture *f, const vf_vfield_params *vp, uint64_t seed)
{
    f->p = vf_params_new();
    CHECK_STATUS(vf_vfield_new(f->p, "field", vp, &f->v), VF_OK);
    CHECK_STATUS(vf_params_finalize(f->p, seed), VF_OK);
}

static void free_field(field_fixture *f)
{
    vf_vfield_free(f->v);
    vf_params_free(f->p);
}

static void test_layout_and_time_features(void)
{
    vf_vfield_params vp = vf_vfield_default_params(2);
    vp.classes = 3;
    field_fixture f;
    make_field(&f, &vp, 1);
    vf_param_info info;
    CHECK_STATUS(vf_params_info(f.p, vf_params_find(f.p, "field.net.layers.0.weight"), &info), VF_OK);
    CHECK(info.shape[0] == 64 && info.shape[1] == 2 + 16 + 16); /* x, 16 time features, 16-wide label embedding */
    CHECK_STATUS(vf_params_info(f.p, vf_params_find(f.p, "field.label_embedding.weight"), &info), VF_OK);
    CHECK(info.shape[0] == 4 && info.shape[1] == 16);
    CHECK(vf_params_find(f.p, "field.net.layers.3.weight") >= 0 && vf_vfield_time_width(f.v) == 16);
    /* sin(2 pi f_k t), cos(2 pi f_k t), f_k geometric from 1/2 to 64 */
    vf_tape *t = vf_tape_new();
    vf_real tm[2] = {0.25, 0.7};
    vf_var feats = vf_vfield_time_features(f.v, t, vf_input(t, tm, 2, (int64_t[]){2, 1}));
    CHECK(vf_tape_status(t) == VF_OK && vf_value(t, feats)->shape[1] == 16);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 8; k++) {
            double fk = 0.5 * pow(128.0, k / 7.0), a = 2 * 3.14159265358979323846 * fk * (double)tm[i];
            CHECK_NEAR(vf_value(t, feats)->data[i * 16 + k], sin(a), VF_USE_DOUBLE ? 1e-12 : 1e-4);
            CHECK_NEAR(vf_value(t, feats)->data[i * 16 + 8 + k], cos(a), VF_USE_DOUBLE ? 1e-12 : 1e-4);
        }
    vf_tape_free(t);
    free_field(&f);
}

/* gradcheck of the whole field in x, t (and r) */
typedef struct gc_field {
    field_fixture *f;
    const int64_t *labels;
    int with_r, with_ctx;
} gc_field;

static vf_var build_field(vf_tape *t, const vf_var *in, void *ctx)
{
    gc_field *g = ctx;
    return vf_vfield_forward(g->f->v, g->f->p, t, in[0], in[1], g->with_r ? in[2] : VF_NOVAR,
                             g->with_ctx ? in[g->with_r ? 3 : 2] : VF_NOVAR, g->labels);
}

static void test_gradients(void)
{
    enum { N = 4, D = 3 };
    for (int variant = 0; variant < 3; variant++) {
        vf_vfield_params vp = vf_vfield_default_params(D);
        vp.n_hidden = 2;
        vp.hidden[0] = vp.hidden[1] = 12;
        vp.time_features = 6;
        vp.time_max_frequency = 4; /* gentle enough for the float build's differences */
        vp.act = VF_ACT_TANH;
        if (variant == 1) vp.two_times = 1, vp.classes = 2, vp.context = 2;
        if (variant == 2) vp.residual = 1, vp.time = VF_TIME_INPUT;
        field_fixture f;
        make_field(&f, &vp, 7 + (uint64_t)variant);
        vf_real x[N * D], tm[N] = {0.1, 0.4, 0.65, 0.9}, r[N] = {0.0, 0.2, 0.3, 0.5}, c[N * 2];
        vf_rng rng;
        vf_rng_init(&rng, 3, 0);
        vf_rng_normal_fill(&rng, x, N * D, 0.0, 1.0);
        vf_rng_normal_fill(&rng, c, N * 2, 0.0, 1.0);
        int64_t labels[N] = {0, 1, 2, 1};
        gc_field g = {&f, variant == 1 ? labels : NULL, variant == 1, variant == 1};
        gc_input in[4] = {{x, 2, {N, D}, 1}, {tm, 2, {N, 1}, 1}, {r, 2, {N, 1}, 1}, {c, 2, {N, 2}, 1}};
        if (variant != 1) in[2] = in[3]; /* no r, no context: only x and t */
        int n_in = variant == 1 ? 4 : 2;
        CHECK_MSG(gradcheck("vfield", build_field, &g, n_in, in), "variant %d", variant);
        free_field(&f);
    }
}

static void test_labels(void)
{
    enum { N = 3, D = 2 };
    vf_vfield_params vp = vf_vfield_default_params(D);
    vp.classes = 3;
    field_fixture f;
    make_field(&f, &vp, 2);
    vf_tape *t = vf_tape_new();
    vf_real x[N * D] = {0.1, 0.2, -0.3, 0.4, 0.5, -0.6}, tm[N] = {0.2, 0.5, 0.8};
    int64_t nulls[N] = {3, 3, 3}, some[N] = {0, 0, 2};
    vf_var xv = vf_input(t, x, 2, (int64_t[]){N, D}), tv = vf_input(t, tm, 2, (int64_t[]){N, 1});
    vf_var a = vf_vfield_forward(f.v, f.p, t, xv, tv, VF_NOVAR, VF_NOVAR, NULL);
    vf_var b = vf_vfield_forward(f.v, f.p, t, xv, tv, VF_NOVAR, VF_NOVAR, nulls);
    vf_var c = vf_vfield_forward(f.v, f.p, t, xv, tv, VF_NOVAR, VF_NOVAR, some);
    CHECK(vf_tape_status(t) == VF_OK);
    CHECK(memcmp(vf_value(t, a)->data, vf_value(t, b)->data, N * D * sizeof(vf_real)) == 0); /* NULL = null label */
    CHECK(vf_value(t, a)->data[0] != vf_value(t, c)->data[0]);                             /* labels matter */
    /* gradients reach the embedding rows of the labels used (0 and 2), not row 1 or the null row 3 */
    vf_params_zero_grad(f.p);
    CHECK_STATUS(vf_backward(t, vf_sum(t, c, VF_ALL_AXES, 0)), VF_OK);
    const vf_real *ge = vf_params_grad(f.p, vf_params_find(f.p, "field.label_embedding.weight"));
    double row[4] = {0};
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 16; j++) row[k] += fabs((double)ge[k * 16 + j]);
    CHECK(row[0] > 0 && row[2] > 0 && row[1] == 0 && row[3] == 0);
    vf_tape_free(t);
    free_field(&f);
}

static void test_errors(void)
{
    vf_vfield_params vp = vf_vfield_default_params(2);
    vp.classes = 2;
    field_fixture f;
    make_field(&f, &vp, 3);
    vf_tape *t = vf_tape_new();
    vf_real x[4] = {0}, tm[2] = {0.5, 0.5};
    vf_var xv = vf_input(t, x, 2, (int64_t[]){2, 2}), tv = vf_input(t, tm, 2, (int64_t[]){2, 1});
    int64_t bad[2] = {0, 3};
    CHECK(vf_vfield_forward(f.v, f.p, t, xv, tv, VF_NOVAR, VF_NOVAR, bad) == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_ARG && strstr(vf_tape_error(t), "label 3 of row 1") != NULL);
    vf_tape_reset(t);
    xv = vf_input(t, x, 2, (int64_t[]){2, 2});
    tv = vf_input(t, tm, 2, (int64_t[]){2, 1});
    CHECK(vf_vfield_forward(f.v, f.p, t, xv, tv, tv, VF_NOVAR, NULL) == VF_NOVAR); /* no second time here */
    vf_tape_reset(t);
    xv = vf_input(t, x, 2, (int64_t[]){2, 2});
    CHECK(vf_vfield_forward(f.v, f.p, t, xv, vf_input(t, tm, 1, (int64_t[]){2}), VF_NOVAR, VF_NOVAR, NULL) == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_SHAPE);
    vf_tape_reset(t);
    CHECK(vf_vfield_forward(f.v, f.p, t, vf_input(t, x, 2, (int64_t[]){1, 4}), tv, VF_NOVAR, VF_NOVAR, NULL) == VF_NOVAR);
    vf_tape_free(t);
    free_field(&f);
    vf_params *p = vf_params_new();
    vf_vfield *v = NULL;
    vp = vf_vfield_default_params(2);
    vp.time_features = 5;
    CHECK(vf_vfield_new(p, "field", &vp, &v) == VF_ERR_ARG && v == NULL);
    vp = vf_vfield_default_params(0);
    CHECK(vf_vfield_new(p, "field", &vp, &v) == VF_ERR_ARG);
    CHECK(vf_params_count(p) == 0); /* nothing left registered */
    vf_params_free(p);
}

int main(void)
{
    RUN(test_layout_and_time_features);
    RUN(test_gradients);
    RUN(test_labels);
    RUN(test_errors);
    return vf_test_summary();
}
