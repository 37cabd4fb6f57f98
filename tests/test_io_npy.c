/* test_io_npy.c — NPY: round trips of every rank and of strided views, the exact header layout, files
 * written by hand in every supported dtype and both byte orders, every malformed header, truncation
 * at every length, hostile sizes that must fail before allocating, vf_read_table flattening and
 * NaN detection, and .npy.gz. */
#include <stdlib.h>
#include <unistd.h>
#define AF_MAX_BYTES ((size_t)1 << 24) /* a request above 16 MiB fails: hostile headers must not get there */
#include <varflow.h>
#if VF_HAVE_ZLIB
#include <zlib.h>
#endif
#include "alloc_fail.h"
#include "tmpdir.h"
#include "vf_test.h"

/* An NPY v1 file: preamble + header dict (padded to 64) + data. Returns its length. */
static size_t make_npy(unsigned char *out, const char *dict, const void *data, size_t n)
{
    size_t hl = strlen(dict);
    size_t total = 10 + hl + 1;
    size_t pad = (64 - total % 64) % 64;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    size_t h = hl + pad + 1;
    out[8] = (unsigned char)(h & 255);
    out[9] = (unsigned char)(h >> 8);
    memcpy(out + 10, dict, hl);
    memset(out + 10 + hl, ' ', pad);
    out[10 + hl + pad] = '\n';
    if (n) memcpy(out + 10 + h, data, n);
    return 10 + h + n;
}

static vf_status read_npy_bytes(const char *name, const unsigned char *b, size_t n, vf_tensor *x)
{
    return vf_npy_read(put_bytes(name, b, n), x);
}

static void test_round_trip_ranks(void)
{
    int64_t shapes[5][4] = {{0}, {7}, {3, 5}, {2, 3, 4}, {2, 1, 3, 2}};
    for (int nd = 0; nd <= 4; nd++) {
        vf_tensor x, y;
        CHECK_STATUS(vf_tensor_alloc(&x, nd, shapes[nd]), VF_OK);
        int64_t n = vf_tensor_numel(&x);
        for (int64_t i = 0; i < n; i++) x.data[i] = (vf_real)((double)i * 0.37 - 1.0 / 3.0);
        CHECK_STATUS(vf_npy_write(path_of("r.npy"), &x), VF_OK);
        CHECK_STATUS(vf_npy_read(path_of("r.npy"), &y), VF_OK);
        CHECK_MSG(vf_tensor_same_shape(&x, &y), "rank %d", nd);
        int same = vf_tensor_same_shape(&x, &y);
        for (int64_t i = 0; same && i < n; i++) same &= x.data[i] == y.data[i];
        CHECK_MSG(same, "rank %d values differ", nd);
        vf_tensor_free(&x);
        vf_tensor_free(&y);
    }
    /* A zero-size array. */
    vf_tensor z, w;
    CHECK_STATUS(vf_tensor_alloc(&z, 2, (int64_t[]){0, 3}), VF_OK);
    CHECK_STATUS(vf_npy_write(path_of("z.npy"), &z), VF_OK);
    CHECK_STATUS(vf_npy_read(path_of("z.npy"), &w), VF_OK);
    CHECK(w.ndim == 2 && w.shape[0] == 0 && w.shape[1] == 3);
    vf_tensor_free(&z);
    vf_tensor_free(&w);
}

static void test_strided_and_table(void)
{
    vf_tensor x, t, y;
    CHECK_STATUS(vf_tensor_alloc(&x, 2, (int64_t[]){4, 3}), VF_OK);
    for (int i = 0; i < 12; i++) x.data[i] = (vf_real)i;
    vf_tensor_transpose(&x, 0, 1, &t);
    CHECK_STATUS(vf_write_table(path_of("t.npy"), &t), VF_OK);
    CHECK_STATUS(vf_read_table(path_of("t.npy"), &y), VF_OK);
    CHECK(y.shape[0] == 3 && y.shape[1] == 4);
    if (y.shape[0] == 3) CHECK(y.data[1 * 4 + 2] == x.data[2 * 3 + 1] && y.data[11] == 11);
    vf_tensor_free(&y);
    /* 3-D through vf_read_table is [n, rest]; 1-D is [n, 1]. */
    vf_tensor c;
    CHECK_STATUS(vf_tensor_alloc(&c, 3, (int64_t[]){2, 3, 2}), VF_OK);
    CHECK_STATUS(vf_npy_write(path_of("c.npy"), &c), VF_OK);
    CHECK_STATUS(vf_read_table(path_of("c.npy"), &y), VF_OK);
    CHECK(y.ndim == 2 && y.shape[0] == 2 && y.shape[1] == 6);
    vf_tensor_free(&y);
    vf_tensor_free(&c);
    vf_tensor v;
    vf_tensor_select(&x, 1, 0, &v);
    CHECK_STATUS(vf_write_table(path_of("v.npy"), &v), VF_OK);
    CHECK_STATUS(vf_read_table(path_of("v.npy"), &y), VF_OK);
    CHECK(y.shape[0] == 4 && y.shape[1] == 1 && y.data[3] == 9);
    vf_tensor_free(&y);
    vf_tensor_free(&x);
}

static void test_header_layout(void)
{
    vf_tensor x;
    CHECK_STATUS(vf_tensor_alloc(&x, 2, (int64_t[]){3, 2}), VF_OK);
    CHECK_STATUS(vf_npy_write(path_of("h.npy"), &x), VF_OK);
    unsigned char b[256];
    size_t n = slurp(path_of("h.npy"), b, sizeof b);
    CHECK(memcmp(b, "\x93NUMPY\x01\x00", 8) == 0);
    size_t hl = b[8] | (b[9] << 8);
    CHECK((10 + hl) % 64 == 0 && b[10 + hl - 1] == '\n');
    const char *want = VF_USE_DOUBLE ? "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }"
                                     : "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
    CHECK(memcmp(b + 10, want, strlen(want)) == 0);
    CHECK(n == 10 + hl + 6 * sizeof(vf_real));
    vf_tensor_free(&x);
}

static void test_dtypes(void)
{
    unsigned char b[512];
    vf_tensor x;
    size_t n;
    double d[6] = {1.5, -2, 3.25, 1e10, -0.0, 7};
    n = make_npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", d, sizeof d);
    CHECK_STATUS(read_npy_bytes("f8.npy", b, n, &x), VF_OK);
    CHECK(x.ndim == 2 && x.shape[0] == 2 && x.shape[1] == 3);
    for (int i = 0; i < 6 && x.data; i++) CHECK(x.data[i] == (vf_real)d[i]);
    vf_tensor_free(&x);

    int32_t i4[3] = {-7, 0, 123456};
    n = make_npy(b, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", i4, sizeof i4);
    CHECK_STATUS(read_npy_bytes("i4.npy", b, n, &x), VF_OK);
    CHECK(x.ndim == 1 && x.shape[0] == 3 && x.data[0] == -7 && x.data[2] == 123456);
    vf_tensor_free(&x);

    int64_t i8[2] = {-5, 1LL << 40};
    n = make_npy(b, "{\"descr\": \"<i8\", \"fortran_order\": False, \"shape\": (2L,)}", i8, sizeof i8);
    CHECK_STATUS(read_npy_bytes("i8.npy", b, n, &x), VF_OK);
    CHECK(x.shape[0] == 2 && x.data[0] == -5 && x.data[1] == (vf_real)(double)(1LL << 40));
    vf_tensor_free(&x);

    unsigned char u1[4] = {0, 1, 200, 255};
    n = make_npy(b, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }", u1, sizeof u1);
    CHECK_STATUS(read_npy_bytes("u1.npy", b, n, &x), VF_OK);
    CHECK(x.shape[0] == 2 && x.data[2] == 200 && x.data[3] == 255);
    vf_tensor_free(&x);

    /* Big-endian float64: 1.0 = 3f f0 00 .. 00; -2.5 = c0 04 00 .. 00. */
    unsigned char be[16] = {0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xc0, 0x04, 0, 0, 0, 0, 0, 0};
    n = make_npy(b, "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", be, sizeof be);
    CHECK_STATUS(read_npy_bytes("be.npy", b, n, &x), VF_OK);
    CHECK(x.shape[0] == 2 && x.data[0] == 1 && x.data[1] == (vf_real)-2.5);
    vf_tensor_free(&x);

    /* float16: 0x3c00 = 1, 0xc000 = -2, 0x0001 = 2^-24 (subnormal), 0x7bff = 65504. */
    uint16_t f2[4] = {0x3c00, 0xc000, 0x0001, 0x7bff};
    n = make_npy(b, "{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }", f2, sizeof f2);
    CHECK_STATUS(read_npy_bytes("f2.npy", b, n, &x), VF_OK);
    CHECK(x.shape[0] == 4 && x.data[0] == 1 && x.data[1] == -2 && x.data[2] == (vf_real)ldexp(1.0, -24) &&
          x.data[3] == 65504);
    vf_tensor_free(&x);

    /* Scalar (shape ()) and a Fortran-order 1-D array (same bytes as C order). */
    float one = 4.5f;
    n = make_npy(b, "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", &one, 4);
    CHECK_STATUS(read_npy_bytes("f1.npy", b, n, &x), VF_OK);
    CHECK(x.data && x.data[0] == (vf_real)4.5);
    vf_tensor_free(&x);
    n = make_npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", &one, 4);
    CHECK_STATUS(read_npy_bytes("s.npy", b, n, &x), VF_OK);
    CHECK(x.ndim == 0 && x.data[0] == (vf_real)4.5);
    vf_tensor_free(&x);

    /* Version 2.0 header (4-byte length). */
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }";
    size_t hl = strlen(dict);
    memcpy(b, "\x93NUMPY\x02\x00", 8);
    b[8] = (unsigned char)hl; b[9] = 0; b[10] = 0; b[11] = 0;
    memcpy(b + 12, dict, hl);
    memcpy(b + 12 + hl, &one, 4);
    CHECK_STATUS(read_npy_bytes("v2.npy", b, 12 + hl + 4, &x), VF_OK);
    CHECK(x.ndim == 1 && x.data[0] == (vf_real)4.5);
    vf_tensor_free(&x);
}

typedef struct bad_case {
    const char *name, *dict;
    size_t data_bytes;
    vf_status want;
    const char *msg;
} bad_case;

static void test_malformed_headers(void)
{
    static const bad_case cases[] = {
        {"fortran", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16, VF_ERR_UNSUPPORTED, "Fortran-order"},
        {"complex", "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16, VF_ERR_UNSUPPORTED, "dtype '<c8'"},
        {"unicode", "{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }", 24, VF_ERR_UNSUPPORTED, "dtype '<U3'"},
        {"pipe_f4", "{'descr': '|f4', 'fortran_order': False, 'shape': (2,), }", 8, VF_ERR_UNSUPPORTED, "dtype"},
        {"struct", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8, VF_ERR_UNSUPPORTED, "structured"},
        {"rank5", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 2), }", 8, VF_ERR_UNSUPPORTED, "5-dimensional"},
        {"nodescr", "{'fortran_order': False, 'shape': (2,), }", 8, VF_ERR_FORMAT, "lacks 'descr'"},
        {"noshape", "{'descr': '<f4', 'fortran_order': False, }", 8, VF_ERR_FORMAT, "lacks 'shape'"},
        {"extra", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8, VF_ERR_FORMAT, "unexpected key"},
        {"notdict", "['descr', '<f4']", 8, VF_ERR_FORMAT, "not a dict"},
        {"badbool", "{'descr': '<f4', 'fortran_order': maybe, 'shape': (2,), }", 8, VF_ERR_FORMAT, "True or False"},
        {"negshape", "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 8, VF_ERR_FORMAT, "bad extent"},
        {"floatshape", "{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,), }", 8, VF_ERR_FORMAT, "'shape'"},
        {"listshape", "{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", 8, VF_ERR_FORMAT, "must be a tuple"},
        {"unclosed", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,", 8, VF_ERR_FORMAT, "'shape'"},
        {"unquoted", "{descr: '<f4'}", 8, VF_ERR_FORMAT, "key expected"},
        {"escape", "{'descr': '<f\\4', 'fortran_order': False, 'shape': (2,), }", 8, VF_ERR_FORMAT, "bad 'descr'"},
        {"trailing", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", 8, VF_ERR_FORMAT, "after the dict"},
        /* hostile sizes: a 10^12-element claim in a small file, and products that overflow */
        {"huge", "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }", 16, VF_ERR_FORMAT, "truncated"},
        {"overflow", "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }", 16,
         VF_ERR_FORMAT, "too large"},
        {"bigext", "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }", 16, VF_ERR_FORMAT,
         "extent too large"},
        {"short", "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 16, VF_ERR_FORMAT, "truncated"},
    };
    unsigned char b[1024], zeros[64] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = make_npy(b, cases[i].dict, zeros, cases[i].data_bytes);
        char name[64];
        snprintf(name, sizeof name, "%s.npy", cases[i].name);
        vf_tensor x;
        af_install(0, 0);
        vf_status s = read_npy_bytes(name, b, n, &x);
        af_remove();
        CHECK_MSG(s == cases[i].want, "%s: %s, expected %s (%s)", name, vf_status_name(s), vf_status_name(cases[i].want),
                  vf_last_error());
        CHECK_MSG(strstr(vf_last_error(), name) && strstr(vf_last_error(), cases[i].msg), "%s: message '%s'", name,
                  vf_last_error());
        CHECK(x.owned == NULL && af.live == 0);
    }
}

static void test_bad_preamble(void)
{
    vf_tensor x;
    unsigned char b[128] = {0};
    CHECK_STATUS(read_npy_bytes("empty.npy", b, 0, &x), VF_ERR_FORMAT);
    CHECK(strstr(vf_last_error(), "bad magic"));
    memcpy(b, "\x93NUMPX\x01\x00\x10\x00", 10);
    CHECK_STATUS(read_npy_bytes("magic.npy", b, 10, &x), VF_ERR_FORMAT);
    memcpy(b, "\x93NUMPY\x09\x00\x10\x00", 10);
    CHECK_STATUS(read_npy_bytes("ver.npy", b, 10, &x), VF_ERR_UNSUPPORTED);
    CHECK(strstr(vf_last_error(), "version 9.0"));
    memcpy(b, "\x93NUMPY\x01\x00\xff\xff{}", 12);
    CHECK_STATUS(read_npy_bytes("hlen.npy", b, 12, &x), VF_ERR_FORMAT);
    CHECK(strstr(vf_last_error(), "claims 65535 bytes"));
    memcpy(b, "\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14);
    CHECK_STATUS(read_npy_bytes("hlen2.npy", b, 14, &x), VF_ERR_FORMAT);
    memcpy(b, "\x93NUMPY\x02\x00\x01", 9);
    CHECK_STATUS(read_npy_bytes("pre2.npy", b, 9, &x), VF_ERR_FORMAT);
    CHECK_STATUS(vf_npy_read(path_of("missing.npy"), &x), VF_ERR_IO);
    CHECK_STATUS(vf_npy_read(dir, &x), VF_ERR_IO);
}

/* Every truncation of a valid file fails cleanly; random corruption never crashes. */
static void test_truncation_and_corruption(void)
{
    vf_tensor x, y;
    CHECK_STATUS(vf_tensor_alloc(&x, 2, (int64_t[]){5, 3}), VF_OK);
    CHECK_STATUS(vf_npy_write(path_of("full.npy"), &x), VF_OK);
    unsigned char b[512], c[512];
    size_t n = slurp(path_of("full.npy"), b, sizeof b);
    int bad = 0;
    for (size_t k = 0; k < n; k++) {
        vf_status s = read_npy_bytes("cut.npy", b, k, &y);
        bad += s != VF_ERR_FORMAT || y.owned != NULL;
    }
    CHECK_MSG(bad == 0, "%d truncations not rejected", bad);
    CHECK_STATUS(read_npy_bytes("cut.npy", b, n, &y), VF_OK);
    vf_tensor_free(&y);
    vf_rng r;
    vf_rng_init(&r, 11, 0);
    af_install(0, 0);
    for (int it = 0; it < 400; it++) {
        memcpy(c, b, n);
        int flips = 1 + (int)(vf_rng_uniform(&r) * 4);
        for (int j = 0; j < flips; j++) c[(size_t)(vf_rng_uniform(&r) * 80)] = (unsigned char)(vf_rng_uniform(&r) * 256);
        vf_status s = read_npy_bytes("bent.npy", c, n, &y);
        if (s == VF_OK) vf_tensor_free(&y);
        else bad += y.owned != NULL || s == VF_ERR_NOMEM;
    }
    af_remove();
    CHECK(bad == 0 && af.live == 0);
    vf_tensor_free(&x);
}

static void test_nan_in_table(void)
{
    unsigned char b[256];
    float v[6] = {1, 2, 3, 4, 0, 6};
    v[4] = (float)NAN;
    size_t n = make_npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", v, sizeof v);
    vf_tensor x;
    CHECK_STATUS(vf_read_table(put_bytes("nan.npy", b, n), &x), VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "nan.npy: row 3, column 1: NaN"));
    CHECK(x.owned == NULL);
    /* vf_npy_read itself keeps the values as they are. */
    CHECK_STATUS(vf_npy_read(path_of("nan.npy"), &x), VF_OK);
    CHECK(isnan(x.data[4]));
    vf_tensor_free(&x);
    double big[2] = {1e300, 1};
    n = make_npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", big, sizeof big);
#if VF_USE_DOUBLE
    CHECK_STATUS(vf_read_table(put_bytes("big.npy", b, n), &x), VF_OK);
    vf_tensor_free(&x);
#else
    CHECK_STATUS(vf_read_table(put_bytes("big.npy", b, n), &x), VF_ERR_NUMERIC);
    CHECK(strstr(vf_last_error(), "row 1, column 1: infinity"));
#endif
}

static void test_gzip(void)
{
    vf_tensor x, y;
    CHECK_STATUS(vf_tensor_alloc(&x, 2, (int64_t[]){4, 2}), VF_OK);
    for (int i = 0; i < 8; i++) x.data[i] = (vf_real)(i * i);
    CHECK_STATUS(vf_npy_write(path_of("g.npy"), &x), VF_OK);
#if VF_HAVE_ZLIB
    unsigned char b[512];
    size_t n = slurp(path_of("g.npy"), b, sizeof b);
    gzFile g = gzopen(path_of("g.npy.gz"), "wb");
    gzwrite(g, b, (unsigned)n);
    gzclose(g);
    CHECK_STATUS(vf_read_table(path_of("g.npy.gz"), &y), VF_OK);
    CHECK(y.shape[0] == 4 && y.shape[1] == 2 && y.data[7] == 49);
    vf_tensor_free(&y);
    /* A plain (uncompressed) file wrongly named .gz is still read. */
    put_bytes("plain.npy.gz", b, n);
    CHECK_STATUS(vf_read_table(path_of("plain.npy.gz"), &y), VF_OK);
    vf_tensor_free(&y);
#else
    put_bytes("g.npy.gz", "x", 1);
    CHECK_STATUS(vf_read_table(path_of("g.npy.gz"), &y), VF_ERR_UNSUPPORTED);
#endif
    /* A .npy file under an unknown extension is recognized by its magic. */
    rename(path_of("g.npy"), path_of("g.data"));
    CHECK_STATUS(vf_read_table(path_of("g.data"), &y), VF_OK);
    CHECK(y.shape[0] == 4 && y.data[3] == 9);
    vf_tensor_free(&y);
    vf_tensor_free(&x);
}

typedef struct ctx_t { const char *path; } ctx_t;

static vf_status read_scenario(void *ctx)
{
    vf_tensor x;
    vf_status s = vf_read_table(((ctx_t *)ctx)->path, &x);
    if (s == VF_OK) vf_tensor_free(&x);
    return s;
}

static vf_status write_scenario(void *ctx)
{
    vf_real v[6] = {1, 2, 3, 4, 5, 6};
    vf_tensor x = vf_tensor_wrap(v, 2, (int64_t[]){3, 2});
    return vf_write_table(((ctx_t *)ctx)->path, &x);
}

static void test_alloc_failures(void)
{
    ctx_t c = {path_of("af.npy")};
    CHECK(af_sweep("npy write", write_scenario, &c, 0) == 0);
    CHECK(af_sweep("npy read", read_scenario, &c, 0) == 0);
}

/* A tensor without data (a zeroed or freed one) or with a negative extent is refused, not read. */
static void test_write_bad_tensors(void)
{
    vf_tensor empty = {0};
    CHECK_STATUS(vf_npy_write(path_of("empty.npy"), &empty), VF_ERR_ARG);
    vf_tensor x;
    CHECK_STATUS(vf_tensor_alloc(&x, 2, (int64_t[]){2, 2}), VF_OK);
    x.shape[0] = -5;
    CHECK_STATUS(vf_npy_write(path_of("neg.npy"), &x), VF_ERR_SHAPE);
    CHECK_STATUS(vf_write_table(path_of("neg.npy"), &x), VF_ERR_SHAPE);
    CHECK_STATUS(vf_write_table(path_of("neg.csv"), &x), VF_ERR_SHAPE);
    x.shape[0] = 2;
    vf_real *keep = x.data;
    x.data = NULL;
    CHECK_STATUS(vf_write_table(path_of("nodata.csv"), &x), VF_ERR_ARG);
    vf_st_writer *w = vf_st_writer_new();
    CHECK(w != NULL);
    CHECK_STATUS(vf_st_writer_add_tensor(w, "a", VF_ST_F32, &x), VF_ERR_ARG);
    vf_st_writer_free(w);
    x.data = keep;
    vf_tensor_free(&x);
}

int main(void)
{
    if (tmpdir_open("vf_npy")) return 1;
    RUN(test_write_bad_tensors);
    RUN(test_round_trip_ranks);
    RUN(test_strided_and_table);
    RUN(test_header_layout);
    RUN(test_dtypes);
    RUN(test_malformed_headers);
    RUN(test_bad_preamble);
    RUN(test_truncation_and_corruption);
    RUN(test_nan_in_table);
    RUN(test_gzip);
    RUN(test_alloc_failures);
    tmpdir_close();
    return vf_test_summary();
}
