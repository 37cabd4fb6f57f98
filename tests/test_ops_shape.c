/* test_ops_shape.c — concat, slice, gather, reshape: hand-computed values and shapes, gradients
 * (central differences and forward/reverse duality) along every axis, scatter-add of repeated gather
 * indices, and the errors (bad axis, shape mismatch, bad range or index) with a sticky tape. */
#include <stdlib.h>
#include "vf_test.h"
#include "gradcheck.h"

static int shape_is(const vf_tensor *v, int nd, const int64_t *s)
{
    if (!v || v->ndim != nd) return 0;
    for (int k = 0; k < nd; k++)
        if (v->shape[k] != s[k]) return 0;
    return 1;
}

static void check_values(vf_tape *t, vf_var y, int nd, const int64_t *s, const vf_real *want)
{
    const vf_tensor *v = vf_value(t, y);
    CHECK_MSG(shape_is(v, nd, s), "shape (%s)", vf_tape_error(t));
    if (!shape_is(v, nd, s)) return;
    for (int64_t i = 0; i < vf_tensor_numel(v); i++) CHECK_MSG(v->data[i] == want[i], "element %lld", (long long)i);
}

/* ---- concat --------------------------------------------------------------------------------- */
static void test_concat_values(void)
{
    vf_tape *t = vf_tape_new();
    vf_real a[4] = {1, 2, 3, 4}, b[2] = {5, 6}, c[2] = {7, 8}, d[4] = {9, 10, 11, 12};
    vf_var va = vf_input(t, a, 2, (int64_t[]){2, 2});
    vf_var vb = vf_input(t, b, 2, (int64_t[]){1, 2});
    check_values(t, vf_concat(t, 2, (vf_var[]){va, vb}, 0), 2, (int64_t[]){3, 2}, (vf_real[]){1, 2, 3, 4, 5, 6});
    vf_var vc = vf_input(t, c, 2, (int64_t[]){2, 1});
    vf_var vd = vf_input(t, d, 2, (int64_t[]){2, 2});
    check_values(t, vf_concat(t, 3, (vf_var[]){vc, va, vd}, -1), 2, (int64_t[]){2, 5},
                 (vf_real[]){7, 1, 2, 9, 10, 8, 3, 4, 11, 12});
    check_values(t, vf_concat(t, 1, &va, 1), 2, (int64_t[]){2, 2}, a);
    /* six inputs (more than a node stores inline) */
    vf_real one[6] = {1, 2, 3, 4, 5, 6};
    vf_var six[6];
    for (int i = 0; i < 6; i++) six[i] = vf_input(t, &one[i], 1, (int64_t[]){1});
    check_values(t, vf_concat(t, 6, six, 0), 1, (int64_t[]){6}, one);
    CHECK_STATUS(vf_tape_status(t), VF_OK);
    vf_tape_free(t);
}

typedef struct concat_ctx {
    int n, axis;
} concat_ctx;

static vf_var build_concat(vf_tape *t, const vf_var *in, void *ctx)
{
    const concat_ctx *c = ctx;
    return vf_concat(t, c->n, in, c->axis);
}

/* Three inputs along every axis (positive and negative) of 1-D..4-D shapes; extents 1, 2, 3 along
 * the axis; then with the middle input constant. */
static void test_concat_gradcheck(void)
{
    static const struct {
        int nd;
        int64_t s[4];
    } bases[] = {{1, {2}}, {2, {2, 3}}, {3, {2, 3, 2}}, {4, {2, 1, 2, 2}}};
    for (int bi = 0; bi < 4; bi++) {
        const int nd = bases[bi].nd;
        for (int axis = -nd; axis < nd; axis++) {
            const int a = axis < 0 ? axis + nd : axis;
            for (int constant_mid = 0; constant_mid < 2; constant_mid++) {
                vf_real data[3][64];
                gc_input in[3];
                for (int i = 0; i < 3; i++) {
                    in[i].data = data[i];
                    in[i].ndim = nd;
                    memcpy(in[i].shape, bases[bi].s, sizeof in[i].shape);
                    in[i].shape[a] = i + 1;
                    in[i].differentiate = !(constant_mid && i == 1);
                    gc_fill(data[i], gc_numel(&in[i]), 60 + (uint64_t)(10 * bi + i), 0.0, 1.0);
                }
                concat_ctx ctx = {3, axis};
                CHECK_MSG(gradcheck("concat", build_concat, &ctx, 3, in), "concat base %d axis %d", bi, axis);
            }
        }
    }
}

/* ---- slice ---------------------------------------------------------------------------------- */
typedef struct slice_ctx {
    int axis;
    int64_t start, stop;
} slice_ctx;

static vf_var build_slice(vf_tape *t, const vf_var *in, void *ctx)
{
    const slice_ctx *c = ctx;
    return vf_slice(t, in[0], c->axis, c->start, c->stop);
}

static void test_slice_values(void)
{
    vf_tape *t = vf_tape_new();
    vf_real m[12];
    for (int i = 0; i < 12; i++) m[i] = (vf_real)i; /* [[0..3], [4..7], [8..11]] */
    vf_var x = vf_input(t, m, 2, (int64_t[]){3, 4});
    check_values(t, vf_slice(t, x, 0, 1, 3), 2, (int64_t[]){2, 4}, (vf_real[]){4, 5, 6, 7, 8, 9, 10, 11});
    check_values(t, vf_slice(t, x, 1, 1, 3), 2, (int64_t[]){3, 2}, (vf_real[]){1, 2, 5, 6, 9, 10});
    check_values(t, vf_slice(t, x, -1, 3, 4), 2, (int64_t[]){3, 1}, (vf_real[]){3, 7, 11});
    check_values(t, vf_slice(t, x, 0, 0, 3), 2, (int64_t[]){3, 4}, m);
    vf_var e = vf_slice(t, x, 1, 2, 2); /* empty */
    CHECK(shape_is(vf_value(t, e), 2, (int64_t[]){3, 0}));
    /* the gradient lands in the sliced rows only */
    vf_var xg = vf_input_grad(t, m, 2, (int64_t[]){3, 4});
    vf_var y = vf_sum(t, vf_slice(t, xg, 1, 1, 3), VF_ALL_AXES, 0);
    CHECK_STATUS(vf_backward(t, y), VF_OK);
    for (int i = 0; i < 12; i++) CHECK(vf_grad(t, xg)[i] == ((i % 4 == 1 || i % 4 == 2) ? 1 : 0));
    vf_tape_free(t);
}

static void test_slice_gradcheck(void)
{
    vf_real x[60];
    const int64_t s[4] = {3, 4, 5, 1};
    for (int nd = 1; nd <= 4; nd++)
        for (int axis = -nd; axis < nd; axis++) {
            const int a = axis < 0 ? axis + nd : axis;
            const int64_t len = s[a];
            const int64_t ranges[3][2] = {{0, len}, {len > 1 ? 1 : 0, len}, {0, len > 2 ? len - 1 : len}};
            for (int r = 0; r < 3; r++) {
                gc_input in[1] = {{x, nd, {0}, 1}};
                memcpy(in[0].shape, s, sizeof s);
                gc_fill(x, gc_numel(&in[0]), 70 + (uint64_t)nd, 0.0, 1.0);
                slice_ctx ctx = {axis, ranges[r][0], ranges[r][1]};
                CHECK_MSG(gradcheck("slice", build_slice, &ctx, 1, in), "slice nd %d axis %d range %d", nd, axis, r);
            }
        }
}

/* ---- gather --------------------------------------------------------------------------------- */
typedef struct gather_ctx {
    int axis;
    const int64_t *index;
    int64_t count;
} gather_ctx;

static vf_var build_gather(vf_tape *t, const vf_var *in, void *ctx)
{
    const gather_ctx *c = ctx;
    return vf_gather(t, in[0], c->axis, c->index, c->count);
}

static void test_gather_values(void)
{
    vf_tape *t = vf_tape_new();
    vf_real m[6] = {1, 2, 3, 4, 5, 6};
    int64_t rows[3] = {1, 0, 1}, cols[4] = {2, 2, 0, 1};
    vf_var x = vf_input(t, m, 2, (int64_t[]){2, 3});
    check_values(t, vf_gather(t, x, 0, rows, 3), 2, (int64_t[]){3, 3}, (vf_real[]){4, 5, 6, 1, 2, 3, 4, 5, 6});
    check_values(t, vf_gather(t, x, -1, cols, 4), 2, (int64_t[]){2, 4}, (vf_real[]){3, 3, 1, 2, 6, 6, 4, 5});
    CHECK(shape_is(vf_value(t, vf_gather(t, x, 1, NULL, 0)), 2, (int64_t[]){2, 0}));

    /* repeated indices accumulate; the index array is copied, so changing it later is harmless */
    vf_real v[4] = {10, 20, 30, 40};
    int64_t idx[3] = {1, 1, 3};
    vf_var xg = vf_input_grad(t, v, 1, (int64_t[]){4});
    vf_var g = vf_gather(t, xg, 0, idx, 3);
    idx[0] = 0;
    idx[1] = 0;
    idx[2] = 0;
    vf_var y = vf_sum(t, vf_mul(t, g, vf_input(t, (vf_real[]){1, 2, 3}, 1, (int64_t[]){3})), VF_ALL_AXES, 0);
    CHECK(vf_value(t, y)->data[0] == 20 * 1 + 20 * 2 + 40 * 3);
    CHECK_STATUS(vf_backward(t, y), VF_OK);
    const vf_real want[4] = {0, 3, 0, 3};
    for (int i = 0; i < 4; i++) CHECK(vf_grad(t, xg)[i] == want[i]);
    vf_real dv[4] = {1, 10, 100, 1000};
    CHECK_STATUS(vf_set_tangent(t, xg, dv), VF_OK);
    CHECK_STATUS(vf_jvp(t), VF_OK);
    CHECK(vf_tangent(t, g)[0] == 10 && vf_tangent(t, g)[1] == 10 && vf_tangent(t, g)[2] == 1000);
    vf_tape_free(t);
}

static void test_gather_gradcheck(void)
{
    vf_real x[24];
    const int64_t idx[3][5] = {{2, 0, 2, 1, 2}, {1, 1, 0, 1, 0}, {3, 0, 3, 3, 1}}; /* per axis, with repeats */
    for (int axis = -3; axis < 3; axis++) {
        const int a = axis < 0 ? axis + 3 : axis;
        for (int64_t count = 1; count <= 5; count += 2) {
            gc_input in[1] = {{x, 3, {3, 2, 4}, 1}};
            gc_fill(x, 24, 80, 0.0, 1.0);
            gather_ctx ctx = {axis, idx[a], count};
            CHECK_MSG(gradcheck("gather", build_gather, &ctx, 1, in), "gather axis %d count %lld", axis, (long long)count);
        }
    }
}

/* ---- reshape -------------------------------------------------------------------------------- */
typedef struct reshape_ctx {
    int nd;
    int64_t s[4];
} reshape_ctx;

static vf_var build_reshape(vf_tape *t, const vf_var *in, void *ctx)
{
    const reshape_ctx *c = ctx;
    /* square first so the reshape's gradient is checked inside a non-linear graph */
    return vf_mul(t, vf_reshape(t, vf_mul(t, in[0], in[0]), c->nd, c->s), vf_reshape(t, in[0], c->nd, c->s));
}

static void test_reshape(void)
{
    vf_tape *t = vf_tape_new();
    vf_real m[6] = {1, 2, 3, 4, 5, 6};
    vf_var x = vf_input(t, m, 2, (int64_t[]){2, 3});
    check_values(t, vf_reshape(t, x, 2, (int64_t[]){3, 2}), 2, (int64_t[]){3, 2}, m);
    check_values(t, vf_reshape(t, x, 1, (int64_t[]){6}), 1, (int64_t[]){6}, m);
    check_values(t, vf_reshape(t, x, 4, (int64_t[]){1, 2, 3, 1}), 4, (int64_t[]){1, 2, 3, 1}, m);
    vf_real one = 7;
    check_values(t, vf_reshape(t, vf_input(t, &one, 2, (int64_t[]){1, 1}), 0, NULL), 0, NULL, &one);
    CHECK_STATUS(vf_tape_status(t), VF_OK);
    vf_tape_free(t);

    static const reshape_ctx shapes[] = {{2, {3, 2}}, {1, {6}}, {4, {1, 3, 1, 2}}, {3, {2, 1, 3}}};
    for (int i = 0; i < 4; i++) {
        vf_real d[6];
        gc_fill(d, 6, 90, 0.0, 1.0);
        gc_input in[1] = {{d, 2, {2, 3}, 1}};
        CHECK_MSG(gradcheck("reshape", build_reshape, (void *)&shapes[i], 1, in), "reshape %d", i);
    }
}

/* ---- errors --------------------------------------------------------------------------------- */
static void test_errors(void)
{
    vf_tape *t = vf_tape_new();
    vf_real m[12] = {0};
    vf_var a = vf_input(t, m, 2, (int64_t[]){2, 3});
    vf_var b = vf_input(t, m, 2, (int64_t[]){2, 4});
    CHECK(vf_concat(t, 2, (vf_var[]){a, b}, 0) == VF_NOVAR); /* differ along axis 1, concat on 0 */
    CHECK_STATUS(vf_tape_status(t), VF_ERR_SHAPE);
    CHECK(strstr(vf_tape_error(t), "concat") && strstr(vf_tape_error(t), "[2, 3]") && strstr(vf_tape_error(t), "[2, 4]"));
    CHECK(vf_concat(t, 2, (vf_var[]){a, b}, 1) == VF_NOVAR); /* sticky, although valid */
    CHECK_STATUS(vf_tape_status(t), VF_ERR_SHAPE);

    vf_tape_reset(t);
    a = vf_input(t, m, 2, (int64_t[]){2, 3});
    b = vf_input(t, m, 1, (int64_t[]){3});
    CHECK(vf_concat(t, 2, (vf_var[]){a, b}, 0) == VF_NOVAR); /* ndim differs */
    CHECK_STATUS(vf_tape_status(t), VF_ERR_SHAPE);
    vf_tape_reset(t);
    a = vf_input(t, m, 2, (int64_t[]){2, 3});
    CHECK(vf_concat(t, 1, &a, 2) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_ARG);
    vf_tape_reset(t);
    CHECK(vf_concat(t, 0, NULL, 0) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_ARG);
    vf_tape_reset(t);
    a = vf_input(t, m, 2, (int64_t[]){2, 3});
    CHECK(vf_concat(t, 2, (vf_var[]){a, 99}, 0) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_ARG);

    /* slice ranges */
    const int64_t bad[4][2] = {{-1, 2}, {0, 4}, {2, 1}, {4, 4}};
    for (int i = 0; i < 4; i++) {
        vf_tape_reset(t);
        a = vf_input(t, m, 2, (int64_t[]){2, 3});
        CHECK(vf_slice(t, a, 1, bad[i][0], bad[i][1]) == VF_NOVAR);
        CHECK_STATUS(vf_tape_status(t), VF_ERR_ARG);
        CHECK(strstr(vf_tape_error(t), "slice") != NULL);
        CHECK(vf_slice(t, a, 1, 0, 1) == VF_NOVAR);
    }
    vf_tape_reset(t);
    a = vf_input(t, m, 2, (int64_t[]){2, 3});
    CHECK(vf_slice(t, a, -3, 0, 1) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_ARG);

    /* gather indices */
    const int64_t bad_idx[2] = {-1, 3};
    for (int i = 0; i < 2; i++) {
        vf_tape_reset(t);
        a = vf_input(t, m, 2, (int64_t[]){2, 3});
        int64_t idx[3] = {0, bad_idx[i], 1};
        CHECK(vf_gather(t, a, 1, idx, 3) == VF_NOVAR);
        CHECK_STATUS(vf_tape_status(t), VF_ERR_ARG);
        char want[32];
        snprintf(want, sizeof want, "index %lld", (long long)bad_idx[i]);
        CHECK_MSG(strstr(vf_tape_error(t), want) != NULL, "message '%s' lacks '%s'", vf_tape_error(t), want);
        CHECK(vf_gather(t, a, 1, idx, 1) == VF_NOVAR);
    }
    vf_tape_reset(t);
    a = vf_input(t, m, 2, (int64_t[]){2, 3});
    CHECK(vf_gather(t, a, 0, (int64_t[]){2}, 1) == VF_NOVAR); /* 2 is valid on axis 1, not axis 0 */
    CHECK_STATUS(vf_tape_status(t), VF_ERR_ARG);
    vf_tape_reset(t);
    a = vf_input(t, m, 2, (int64_t[]){2, 3});
    CHECK(vf_gather(t, a, 0, NULL, 2) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_ARG);
    vf_tape_reset(t);
    a = vf_input(t, m, 2, (int64_t[]){2, 3});
    CHECK(vf_gather(t, a, 2, (int64_t[]){0}, 1) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_ARG);

    /* reshape element counts */
    vf_tape_reset(t);
    a = vf_input(t, m, 2, (int64_t[]){2, 3});
    CHECK(vf_reshape(t, a, 2, (int64_t[]){4, 2}) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_SHAPE);
    CHECK(strstr(vf_tape_error(t), "reshape") && strstr(vf_tape_error(t), "[2, 3]") && strstr(vf_tape_error(t), "[4, 2]"));
    CHECK(vf_reshape(t, a, 2, (int64_t[]){3, 2}) == VF_NOVAR);
    vf_tape_reset(t);
    a = vf_input(t, m, 2, (int64_t[]){2, 3});
    CHECK(vf_reshape(t, a, 2, (int64_t[]){-2, -3}) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_SHAPE);
    vf_tape_reset(t);
    a = vf_input(t, m, 2, (int64_t[]){2, 3});
    CHECK(vf_reshape(t, a, 5, (int64_t[]){1, 1, 2, 3, 1}) == VF_NOVAR);
    CHECK_STATUS(vf_tape_status(t), VF_ERR_SHAPE);
    vf_tape_free(t);
}

int main(void)
{
    RUN(test_concat_values);
    RUN(test_concat_gradcheck);
    RUN(test_slice_values);
    RUN(test_slice_gradcheck);
    RUN(test_gather_values);
    RUN(test_gather_gradcheck);
    RUN(test_reshape);
    RUN(test_errors);
    return vf_test_summary();
}
