/* test_tensor.c — tensors: wrap/alloc/free, views (slice, select, transpose, reshape) and their
 * errors, strided copies, clone, fill, all_finite, shape_str, sizes that overflow, 0-d and 0-size. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <varflow.h>
#include "alloc_fail.h"
#include "vf_test.h"

/* Value at idx of an [a, b, c] tensor whose element (i, j, k) was set to 100 i + 10 j + k. */
static vf_real code3(int64_t i, int64_t j, int64_t k) { return (vf_real)(100 * i + 10 * j + k); }

static void fill_code3(vf_tensor *t)
{
    for (int64_t i = 0; i < t->shape[0]; i++)
        for (int64_t j = 0; j < t->shape[1]; j++)
            for (int64_t k = 0; k < t->shape[2]; k++) *vf_tensor_at(t, (int64_t[]){i, j, k}) = code3(i, j, k);
}

/* The scalar size the library reports at run time (what the Python binding reads) is this build's. */
static void test_real_size(void)
{
    CHECK(vf_real_size() == (int)sizeof(vf_real));
    CHECK(vf_real_size() == (VF_USE_DOUBLE ? 8 : 4));
}

static void test_wrap(void)
{
    vf_real buf[24];
    for (int i = 0; i < 24; i++) buf[i] = (vf_real)i;
    vf_tensor t = vf_tensor_wrap(buf, 3, (int64_t[]){2, 3, 4});
    CHECK(t.data == buf && t.ndim == 3 && t.owned == NULL);
    CHECK(t.shape[0] == 2 && t.shape[1] == 3 && t.shape[2] == 4);
    CHECK(t.stride[0] == 12 && t.stride[1] == 4 && t.stride[2] == 1);
    CHECK(vf_tensor_numel(&t) == 24);
    CHECK(vf_tensor_is_contiguous(&t));
    CHECK(*vf_tensor_at(&t, (int64_t[]){1, 2, 3}) == 23);
    CHECK(*vf_tensor_at(&t, (int64_t[]){1, 0, 2}) == 14);
    vf_tensor_free(&t); /* a wrapped array is not freed; t is emptied */
    CHECK(t.data == NULL && t.ndim == 0);
    CHECK(buf[23] == 23);
    vf_tensor_free(NULL);
}

static void test_alloc_free(void)
{
    vf_tensor t;
    af_install(0, 0); /* count what alloc and free do */
    CHECK_STATUS(vf_tensor_alloc(&t, 2, (int64_t[]){3, 5}), VF_OK);
    CHECK(af.live == 1);
    CHECK(t.owned != NULL && t.data == t.owned);
    CHECK(t.ndim == 2 && t.shape[0] == 3 && t.shape[1] == 5 && t.stride[0] == 5 && t.stride[1] == 1);
    int zero = 1;
    for (int i = 0; i < 15; i++) zero &= t.data[i] == 0;
    CHECK(zero);
    vf_tensor_free(&t);
    CHECK(t.owned == NULL && t.data == NULL);
    CHECK(af.live == 0);
    vf_tensor_free(&t); /* twice is harmless */
    af_remove();

    /* The shape may be the output's own shape array. */
    vf_tensor u;
    CHECK_STATUS(vf_tensor_alloc(&u, 2, (int64_t[]){4, 6}), VF_OK);
    vf_tensor keep = u;
    CHECK_STATUS(vf_tensor_alloc(&u, u.ndim, u.shape), VF_OK);
    CHECK(u.ndim == 2 && u.shape[0] == 4 && u.shape[1] == 6 && u.stride[0] == 6);
    vf_tensor_free(&u);
    vf_tensor_free(&keep);

    /* Bad shapes. */
    vf_clear_error();
    CHECK_STATUS(vf_tensor_alloc(&t, 5, (int64_t[]){1, 1, 1, 1, 1}), VF_ERR_SHAPE);
    CHECK(vf_last_error()[0] != '\0');
    CHECK(t.owned == NULL && t.data == NULL);
    CHECK_STATUS(vf_tensor_alloc(&t, -1, NULL), VF_ERR_SHAPE);
    CHECK_STATUS(vf_tensor_alloc(&t, 2, (int64_t[]){3, -1}), VF_ERR_SHAPE);
    CHECK_STATUS(vf_tensor_alloc(&t, 2, NULL), VF_ERR_ARG);
    CHECK_STATUS(vf_tensor_alloc(NULL, 1, (int64_t[]){3}), VF_ERR_ARG);
}

/* Shapes whose byte size does not fit a size_t are refused before anything is allocated. */
static void test_size_overflow(void)
{
    static const int64_t big[][4] = {
        {INT64_MAX, 2, 1, 1},
        {(int64_t)1 << 31, (int64_t)1 << 31, 4, 1},  /* 2^64 elements */
        {(int64_t)1 << 62, 1, 1, 1},                 /* 2^62 elements: bytes overflow */
        {(int64_t)1 << 21, (int64_t)1 << 21, (int64_t)1 << 21, 2},
        {0, (int64_t)1 << 40, (int64_t)1 << 40, 1},  /* 0 elements, but strides would overflow */
    };
    for (size_t c = 0; c < sizeof big / sizeof *big; c++) {
        vf_tensor t;
        af_install(0, 0);
        vf_clear_error();
        vf_status s = vf_tensor_alloc(&t, 4, big[c]);
        af_remove();
        CHECK_MSG(s == VF_ERR_NOMEM || s == VF_ERR_SHAPE, "case %zu: %s", c, vf_status_name(s));
        CHECK(vf_last_error()[0] != '\0');
        CHECK_MSG(af.calls == 0, "case %zu: %ld allocations for an impossible size", c, af.calls);
        CHECK(t.owned == NULL);
    }
    /* Reshape to an impossible shape fails the same way. */
    vf_real x[4] = {0};
    vf_tensor v, w = vf_tensor_wrap(x, 1, (int64_t[]){4});
    vf_status s = vf_tensor_reshape(&w, 4, big[1], &v);
    CHECK(s == VF_ERR_NOMEM || s == VF_ERR_SHAPE);
    /* A large but representable size that the allocator refuses gives VF_ERR_NOMEM. */
    vf_tensor t;
    af_install(0, 0);
    vf_clear_error();
    s = vf_tensor_alloc(&t, 2, (int64_t[]){(int64_t)1 << 20, (int64_t)1 << 20}); /* above AF_MAX_BYTES */
    af_remove();
    CHECK_STATUS(s, VF_ERR_NOMEM);
    CHECK(strstr(vf_last_error(), "memory") != NULL);
    CHECK(af.live == 0);
}

static void test_zero_d_and_empty(void)
{
    vf_tensor s, e, c;
    CHECK_STATUS(vf_tensor_alloc(&s, 0, NULL), VF_OK);
    CHECK(s.ndim == 0 && vf_tensor_numel(&s) == 1 && s.data != NULL);
    CHECK(vf_tensor_is_contiguous(&s));
    vf_tensor_fill(&s, (vf_real)2.5);
    CHECK(s.data[0] == (vf_real)2.5);
    CHECK(*vf_tensor_at(&s, NULL) == (vf_real)2.5);
    CHECK(vf_tensor_all_finite(&s));
    char buf[32];
    vf_tensor_shape_str(&s, buf, sizeof buf);
    CHECK(strcmp(buf, "[]") == 0);
    CHECK_STATUS(vf_tensor_clone(&s, &c), VF_OK);
    CHECK(c.ndim == 0 && c.data[0] == (vf_real)2.5 && c.data != s.data);
    vf_tensor view;
    CHECK_STATUS(vf_tensor_select(&s, 0, 0, &view), VF_ERR_ARG); /* no axis to select */
    CHECK_STATUS(vf_tensor_reshape(&s, 2, (int64_t[]){1, 1}, &view), VF_OK);
    CHECK(view.ndim == 2 && view.data == s.data);
    vf_tensor_free(&c);
    vf_tensor_free(&s);

    CHECK_STATUS(vf_tensor_alloc(&e, 2, (int64_t[]){0, 3}), VF_OK);
    CHECK(vf_tensor_numel(&e) == 0);
    vf_tensor_fill(&e, 1); /* writes nothing */
    CHECK(vf_tensor_all_finite(&e));
    CHECK_STATUS(vf_tensor_clone(&e, &c), VF_OK);
    CHECK(c.ndim == 2 && c.shape[0] == 0 && c.shape[1] == 3);
    CHECK_STATUS(vf_tensor_copy(&c, &e), VF_OK);
    CHECK_STATUS(vf_tensor_reshape(&e, 1, (int64_t[]){0}, &view), VF_OK);
    CHECK_STATUS(vf_tensor_reshape(&e, 3, (int64_t[]){5, 0, 7}, &view), VF_OK);
    CHECK_STATUS(vf_tensor_transpose(&e, 0, 1, &view), VF_OK);
    CHECK(view.shape[0] == 3 && view.shape[1] == 0);
    vf_tensor_shape_str(&e, buf, sizeof buf);
    CHECK(strcmp(buf, "[0, 3]") == 0);
    vf_tensor_free(&c);
    vf_tensor_free(&e);
}

static void test_slice(void)
{
    vf_tensor t;
    CHECK_STATUS(vf_tensor_alloc(&t, 3, (int64_t[]){4, 5, 6}), VF_OK);
    fill_code3(&t);
    vf_tensor v;
    /* Rows 1..3 of axis 0. */
    CHECK_STATUS(vf_tensor_slice(&t, 0, 1, 4, 1, &v), VF_OK);
    CHECK(v.owned == NULL && v.shape[0] == 3 && v.shape[1] == 5 && v.shape[2] == 6);
    CHECK(*vf_tensor_at(&v, (int64_t[]){0, 2, 3}) == code3(1, 2, 3));
    CHECK(vf_tensor_is_contiguous(&v));
    /* Stepped slice on the middle axis: 0, 2, 4. */
    CHECK_STATUS(vf_tensor_slice(&t, 1, 0, 5, 2, &v), VF_OK);
    CHECK(v.shape[1] == 3 && v.stride[1] == 12);
    CHECK(!vf_tensor_is_contiguous(&v));
    CHECK(*vf_tensor_at(&v, (int64_t[]){3, 2, 5}) == code3(3, 4, 5));
    /* Negative axis, step that does not divide the length: 1, 4 of 0..5. */
    CHECK_STATUS(vf_tensor_slice(&t, -1, 1, 6, 3, &v), VF_OK);
    CHECK(v.shape[2] == 2);
    CHECK(*vf_tensor_at(&v, (int64_t[]){2, 1, 1}) == code3(2, 1, 4));
    /* A step larger than the extent: one element; a huge step must not overflow. */
    CHECK_STATUS(vf_tensor_slice(&t, 2, 2, 6, INT64_MAX, &v), VF_OK);
    CHECK(v.shape[2] == 1);
    CHECK(*vf_tensor_at(&v, (int64_t[]){1, 1, 0}) == code3(1, 1, 2));
    /* Empty slices. */
    CHECK_STATUS(vf_tensor_slice(&t, 0, 4, 4, 1, &v), VF_OK);
    CHECK(v.shape[0] == 0 && vf_tensor_numel(&v) == 0);
    CHECK_STATUS(vf_tensor_slice(&t, 0, 2, 2, 5, &v), VF_OK);
    CHECK(v.shape[0] == 0);
    /* Slice of a slice. */
    vf_tensor w;
    CHECK_STATUS(vf_tensor_slice(&t, 1, 1, 5, 1, &v), VF_OK);
    CHECK_STATUS(vf_tensor_slice(&v, 1, 1, 4, 2, &w), VF_OK);
    CHECK(w.shape[1] == 2);
    CHECK(*vf_tensor_at(&w, (int64_t[]){0, 1, 0}) == code3(0, 4, 0));
    /* Errors. */
    vf_clear_error();
    CHECK_STATUS(vf_tensor_slice(&t, 3, 0, 1, 1, &v), VF_ERR_ARG);
    CHECK(vf_last_error()[0] != '\0');
    CHECK_STATUS(vf_tensor_slice(&t, -4, 0, 1, 1, &v), VF_ERR_ARG);
    CHECK_STATUS(vf_tensor_slice(&t, 0, 0, 5, 1, &v), VF_ERR_ARG);
    CHECK_STATUS(vf_tensor_slice(&t, 0, -1, 2, 1, &v), VF_ERR_ARG);
    CHECK_STATUS(vf_tensor_slice(&t, 0, 3, 2, 1, &v), VF_ERR_ARG);
    CHECK_STATUS(vf_tensor_slice(&t, 0, 0, 2, 0, &v), VF_ERR_ARG);
    CHECK_STATUS(vf_tensor_slice(&t, 0, 0, 2, -1, &v), VF_ERR_ARG);
    vf_tensor_free(&t);
}

static void test_select_transpose(void)
{
    vf_tensor t;
    CHECK_STATUS(vf_tensor_alloc(&t, 3, (int64_t[]){4, 5, 6}), VF_OK);
    fill_code3(&t);
    vf_tensor v, w;
    CHECK_STATUS(vf_tensor_select(&t, 1, 3, &v), VF_OK);
    CHECK(v.ndim == 2 && v.shape[0] == 4 && v.shape[1] == 6 && v.owned == NULL);
    CHECK(*vf_tensor_at(&v, (int64_t[]){2, 5}) == code3(2, 3, 5));
    CHECK_STATUS(vf_tensor_select(&t, -1, 0, &v), VF_OK); /* column 0: [4, 5] */
    CHECK(v.ndim == 2 && v.shape[1] == 5 && v.stride[1] == 6);
    CHECK(*vf_tensor_at(&v, (int64_t[]){3, 4}) == code3(3, 4, 0));
    CHECK_STATUS(vf_tensor_select(&v, 0, 2, &w), VF_OK); /* down to 1-d */
    CHECK_STATUS(vf_tensor_select(&w, 0, 4, &v), VF_OK); /* and 0-d */
    CHECK(v.ndim == 0 && *v.data == code3(2, 4, 0));
    CHECK_STATUS(vf_tensor_select(&t, 0, 4, &v), VF_ERR_ARG);
    CHECK_STATUS(vf_tensor_select(&t, 0, -1, &v), VF_ERR_ARG);
    CHECK_STATUS(vf_tensor_select(&t, 3, 0, &v), VF_ERR_ARG);

    CHECK_STATUS(vf_tensor_transpose(&t, 0, 2, &v), VF_OK);
    CHECK(v.shape[0] == 6 && v.shape[1] == 5 && v.shape[2] == 4 && v.owned == NULL);
    CHECK(!vf_tensor_is_contiguous(&v));
    CHECK(*vf_tensor_at(&v, (int64_t[]){5, 1, 3}) == code3(3, 1, 5));
    CHECK_STATUS(vf_tensor_transpose(&t, -1, -1, &w), VF_OK); /* same axis: identity */
    CHECK(vf_tensor_same_shape(&w, &t) && w.stride[0] == t.stride[0]);
    CHECK_STATUS(vf_tensor_transpose(&t, 0, 3, &v), VF_ERR_ARG);
    vf_tensor_free(&t);
}

static void test_reshape(void)
{
    vf_real buf[24];
    for (int i = 0; i < 24; i++) buf[i] = (vf_real)i;
    vf_tensor t = vf_tensor_wrap(buf, 2, (int64_t[]){4, 6}), v, tr;
    CHECK_STATUS(vf_tensor_reshape(&t, 3, (int64_t[]){2, 3, 4}, &v), VF_OK);
    CHECK(v.data == buf && v.owned == NULL && v.stride[0] == 12 && v.stride[1] == 4);
    CHECK(*vf_tensor_at(&v, (int64_t[]){1, 1, 1}) == 17);
    vf_clear_error();
    CHECK_STATUS(vf_tensor_reshape(&t, 2, (int64_t[]){5, 5}, &v), VF_ERR_SHAPE);
    CHECK(vf_last_error()[0] != '\0');
    CHECK_STATUS(vf_tensor_reshape(&t, 5, (int64_t[]){1, 1, 1, 4, 6}, &v), VF_ERR_SHAPE);
    CHECK_STATUS(vf_tensor_reshape(&t, 2, (int64_t[]){-4, -6}, &v), VF_ERR_SHAPE);
    CHECK_STATUS(vf_tensor_transpose(&t, 0, 1, &tr), VF_OK);
    CHECK_STATUS(vf_tensor_reshape(&tr, 1, (int64_t[]){24}, &v), VF_ERR_ARG); /* not contiguous */
    /* A slice of whole leading rows stays contiguous and reshapes. */
    CHECK_STATUS(vf_tensor_slice(&t, 0, 1, 3, 1, &tr), VF_OK);
    CHECK_STATUS(vf_tensor_reshape(&tr, 1, (int64_t[]){12}, &v), VF_OK);
    CHECK(v.data[0] == 6 && v.data[11] == 17);
    /* Unit extents with any stride still count as contiguous. */
    CHECK_STATUS(vf_tensor_slice(&t, 0, 2, 3, 1, &tr), VF_OK);
    CHECK(vf_tensor_is_contiguous(&tr));
}

static void test_copy_clone(void)
{
    vf_tensor t, d, c;
    CHECK_STATUS(vf_tensor_alloc(&t, 3, (int64_t[]){3, 4, 5}), VF_OK);
    fill_code3(&t);
    /* Transposed source into a contiguous destination. */
    vf_tensor tr;
    CHECK_STATUS(vf_tensor_transpose(&t, 0, 2, &tr), VF_OK);
    CHECK_STATUS(vf_tensor_alloc(&d, 3, (int64_t[]){5, 4, 3}), VF_OK);
    CHECK_STATUS(vf_tensor_copy(&d, &tr), VF_OK);
    int ok = 1;
    for (int64_t i = 0; i < 5; i++)
        for (int64_t j = 0; j < 4; j++)
            for (int64_t k = 0; k < 3; k++) ok &= d.data[i * 12 + j * 3 + k] == code3(k, j, i);
    CHECK(ok);
    /* Strided source into a strided destination: every other row of t into a stepped view of d. */
    vf_tensor src, dst, dview;
    CHECK_STATUS(vf_tensor_slice(&t, 1, 0, 4, 2, &src), VF_OK); /* [3, 2, 5] */
    vf_tensor big;
    CHECK_STATUS(vf_tensor_alloc(&big, 3, (int64_t[]){5, 4, 3}), VF_OK);
    vf_tensor_fill(&big, -1);
    CHECK_STATUS(vf_tensor_transpose(&big, 0, 2, &dview), VF_OK); /* [3, 4, 5] non-contiguous */
    CHECK_STATUS(vf_tensor_slice(&dview, 1, 1, 4, 2, &dst), VF_OK); /* [3, 2, 5]: rows 1, 3 */
    CHECK_STATUS(vf_tensor_copy(&dst, &src), VF_OK);
    ok = 1;
    for (int64_t i = 0; i < 3; i++)
        for (int64_t j = 0; j < 4; j++)
            for (int64_t k = 0; k < 5; k++) {
                vf_real want = j % 2 ? code3(i, j - 1, k) : -1;
                ok &= *vf_tensor_at(&dview, (int64_t[]){i, j, k}) == want;
            }
    CHECK(ok);
    /* Shape mismatch. */
    vf_clear_error();
    CHECK_STATUS(vf_tensor_copy(&d, &t), VF_ERR_SHAPE);
    CHECK(strstr(vf_last_error(), "[5, 4, 3]") && strstr(vf_last_error(), "[3, 4, 5]"));
    CHECK_STATUS(vf_tensor_copy(&src, &t), VF_ERR_SHAPE);

    /* Clone of a strided view: contiguous, owned, equal values, independent memory. */
    CHECK_STATUS(vf_tensor_clone(&dst, &c), VF_OK);
    CHECK(c.owned != NULL && vf_tensor_is_contiguous(&c) && vf_tensor_same_shape(&c, &dst));
    ok = 1;
    for (int64_t i = 0; i < 3; i++)
        for (int64_t j = 0; j < 2; j++)
            for (int64_t k = 0; k < 5; k++)
                ok &= *vf_tensor_at(&c, (int64_t[]){i, j, k}) == *vf_tensor_at(&dst, (int64_t[]){i, j, k});
    CHECK(ok);
    c.data[0] = 1234;
    CHECK(*dst.data != 1234);
    vf_tensor_free(&c);
    /* Clone in place: a view becomes an owned copy; an owned tensor is replaced without a leak. */
    vf_tensor view = dst;
    CHECK_STATUS(vf_tensor_clone(&view, &view), VF_OK);
    CHECK(view.owned != NULL && view.data != dst.data && vf_tensor_is_contiguous(&view));
    CHECK(*vf_tensor_at(&view, (int64_t[]){2, 1, 4}) == code3(2, 2, 4));
    af_install(0, 0);
    CHECK_STATUS(vf_tensor_clone(&view, &view), VF_OK);
    CHECK(af.live == 0 && af.calls == 1); /* one new block, the old one released */
    af_remove();
    CHECK(*vf_tensor_at(&view, (int64_t[]){2, 1, 4}) == code3(2, 2, 4));
    vf_tensor_free(&view);
    vf_tensor_free(&big);
    vf_tensor_free(&d);
    vf_tensor_free(&t);
}

static void test_fill_finite_str(void)
{
    vf_tensor t, v;
    CHECK_STATUS(vf_tensor_alloc(&t, 4, (int64_t[]){2, 3, 4, 5}), VF_OK);
    CHECK_STATUS(vf_tensor_slice(&t, 2, 1, 3, 1, &v), VF_OK);
    vf_tensor_fill(&v, 7);
    int64_t n7 = 0;
    for (int64_t i = 0; i < 120; i++) n7 += t.data[i] == 7;
    CHECK(n7 == 2 * 3 * 2 * 5);
    CHECK(*vf_tensor_at(&t, (int64_t[]){1, 2, 2, 4}) == 7 && *vf_tensor_at(&t, (int64_t[]){1, 2, 3, 4}) == 0);
    CHECK(vf_tensor_all_finite(&t));
    t.data[119] = (vf_real)NAN;
    CHECK(!vf_tensor_all_finite(&t));
    CHECK(vf_tensor_all_finite(&v)); /* element 119 is outside the view */
    t.data[119] = 0;
    *vf_tensor_at(&t, (int64_t[]){0, 1, 2, 0}) = (vf_real)INFINITY;
    CHECK(!vf_tensor_all_finite(&v));
    *vf_tensor_at(&t, (int64_t[]){0, 1, 2, 0}) = (vf_real)-INFINITY;
    CHECK(!vf_tensor_all_finite(&t));

    char buf[64];
    vf_tensor_shape_str(&t, buf, sizeof buf);
    CHECK(strcmp(buf, "[2, 3, 4, 5]") == 0);
    /* Truncation: always NUL-terminated, never past len. */
    for (size_t len = 1; len < 14; len++) {
        char small[16];
        memset(small, 'x', sizeof small);
        vf_tensor_shape_str(&t, small, len);
        CHECK(strlen(small) < len);
        CHECK(strncmp(small, "[2, 3, 4, 5]", strlen(small)) == 0);
        for (size_t i = len; i < sizeof small; i++) CHECK(small[i] == 'x');
    }
    buf[0] = 'x';
    vf_tensor_shape_str(&t, buf, 0); /* nothing written */
    CHECK(buf[0] == 'x');
    vf_tensor big = vf_tensor_wrap(NULL, 4, (int64_t[]){INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX});
    vf_tensor_shape_str(&big, buf, sizeof buf);
    CHECK(strlen(buf) == sizeof buf - 1 && strncmp(buf, "[9223372036854775807, 9223372036854775807", 41) == 0);
    vf_tensor_free(&t);
}

int main(void)
{
    RUN(test_real_size);
    RUN(test_wrap);
    RUN(test_alloc_free);
    RUN(test_size_overflow);
    RUN(test_zero_d_and_empty);
    RUN(test_slice);
    RUN(test_select_transpose);
    RUN(test_reshape);
    RUN(test_copy_clone);
    RUN(test_fill_finite_str);
    return vf_test_summary();
}
