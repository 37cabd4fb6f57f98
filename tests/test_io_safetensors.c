/* test_io_safetensors.c — safetensors: round trip with metadata, the exact byte layout PyTorch's
 * safetensors writes and reads, files in that layout written by hand (F16/BF16/I64 too), every
 * malformed header and offset case, truncation at every length, allocation failures; the JSON
 * parser (escapes, \uXXXX, numbers, depth, every prefix) and JSON string escaping; atomic writes. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#define AF_MAX_BYTES ((size_t)1 << 24) /* a request above 16 MiB fails: hostile headers must not get there */
#include <varflow.h>
#include "alloc_fail.h"
#include "io/io_internal.h"
#include "io/json.h"
#include "tmpdir.h"
#include "vf_test.h"

/* A safetensors image: 8-byte LE length, header padded with spaces to a multiple of 8, data. */
static size_t make_st(unsigned char *out, const char *header, const void *data, size_t n)
{
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
    for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(out + 8, header, hl);
    memset(out + 8 + hl, ' ', padded - hl);
    if (n) memcpy(out + 8 + padded, data, n);
    return 8 + padded + n;
}

static void test_round_trip(void)
{
    vf_real w[6] = {1, -2, 3.5f, 4, 5, 1e-3f}, b[4] = {0.1f, 0.2f, 0.3f, 1.0f / 3.0f}, s0 = 42;
    vf_real big[3 * 4], t3[24];
    for (int i = 0; i < 12; i++) big[i] = (vf_real)(i * 0.5 - 2);
    for (int i = 0; i < 24; i++) t3[i] = (vf_real)i;
    vf_tensor m = vf_tensor_wrap(big, 2, (int64_t[]){3, 4}), mt;
    vf_tensor_transpose(&m, 0, 1, &mt);    /* strided source [4, 3] */
    vf_st_writer *wr = vf_st_writer_new();
    CHECK(wr != NULL);
    CHECK_STATUS(vf_st_writer_add(wr, "layer1.weight", VF_ST_F32, 2, (int64_t[]){2, 3}, w), VF_OK);
    CHECK_STATUS(vf_st_writer_add(wr, "layer1.bias", VF_ST_F64, 1, (int64_t[]){4}, b), VF_OK);
    CHECK_STATUS(vf_st_writer_add(wr, "scale", VF_ST_F64, 0, NULL, &s0), VF_OK);
    CHECK_STATUS(vf_st_writer_add(wr, "empty", VF_ST_F32, 2, (int64_t[]){0, 3}, NULL), VF_OK);
    CHECK_STATUS(vf_st_writer_add(wr, "t5", VF_ST_F32, 5, (int64_t[]){1, 2, 3, 4, 1}, t3), VF_OK);
    CHECK_STATUS(vf_st_writer_add_tensor(wr, "mt", VF_ST_F32, &mt), VF_OK);
    CHECK_STATUS(vf_st_writer_set_meta(wr, "arch", "{\"kind\":\"maf\",\"layers\":[64,64]}"), VF_OK);
    CHECK_STATUS(vf_st_writer_set_meta(wr, "note", "tab\there\nnew \"quoted\" \\ caf\xc3\xa9 \x01"), VF_OK);
    CHECK_STATUS(vf_st_writer_set_meta(wr, "arch", "{\"kind\":\"nsf\"}"), VF_OK); /* replaced */
    /* Writer errors. */
    CHECK_STATUS(vf_st_writer_add(wr, "scale", VF_ST_F32, 0, NULL, &s0), VF_ERR_ARG);
    CHECK_STATUS(vf_st_writer_add(wr, "__metadata__", VF_ST_F32, 0, NULL, &s0), VF_ERR_ARG);
    CHECK_STATUS(vf_st_writer_add(wr, "", VF_ST_F32, 0, NULL, &s0), VF_ERR_ARG);
    CHECK_STATUS(vf_st_writer_add(wr, "h", VF_ST_F16, 0, NULL, &s0), VF_ERR_UNSUPPORTED);
    CHECK_STATUS(vf_st_writer_add(wr, "n", VF_ST_F32, 1, (int64_t[]){-1}, w), VF_ERR_SHAPE);
    CHECK_STATUS(vf_st_writer_add(wr, "z", VF_ST_F32, 1, (int64_t[]){2}, NULL), VF_ERR_ARG);
    const char *p = path_of("model.safetensors");
    CHECK_STATUS(vf_st_writer_write(wr, p), VF_OK);
    CHECK_STATUS(vf_st_writer_write(wr, path_of("missing/model.safetensors")), VF_ERR_IO);
    vf_st_writer_free(wr);

    vf_st_file *f;
    CHECK_STATUS(vf_st_open(p, &f), VF_OK);
    if (!f) return;
    CHECK(vf_st_count(f) == 6);
    CHECK(strcmp(vf_st_name(f, 0), "empty") == 0 && strcmp(vf_st_name(f, 5), "t5") == 0);
    CHECK(vf_st_name(f, 6) == NULL && vf_st_has(f, "mt") && !vf_st_has(f, "nope"));
    CHECK(strcmp(vf_st_meta(f, "arch"), "{\"kind\":\"nsf\"}") == 0);
    CHECK(strcmp(vf_st_meta(f, "note"), "tab\there\nnew \"quoted\" \\ caf\xc3\xa9 \x01") == 0);
    CHECK(vf_st_meta(f, "other") == NULL && vf_st_meta_count(f) == 2);
    vf_tensor t;
    CHECK_STATUS(vf_st_get(f, "layer1.weight", &t), VF_OK);
    CHECK(t.ndim == 2 && t.shape[0] == 2 && t.shape[1] == 3);
    for (int i = 0; i < 6 && t.data; i++) CHECK(t.data[i] == (vf_real)(float)w[i]);
    vf_tensor_free(&t);
    CHECK_STATUS(vf_st_get(f, "layer1.bias", &t), VF_OK);
    for (int i = 0; i < 4 && t.data; i++) CHECK(t.data[i] == b[i]);   /* F64 holds any vf_real exactly */
    vf_tensor_free(&t);
    CHECK_STATUS(vf_st_get(f, "scale", &t), VF_OK);
    CHECK(t.ndim == 0 && t.data[0] == 42);
    vf_tensor_free(&t);
    CHECK_STATUS(vf_st_get(f, "empty", &t), VF_OK);
    CHECK(t.ndim == 2 && t.shape[0] == 0 && t.shape[1] == 3);
    vf_tensor_free(&t);
    CHECK_STATUS(vf_st_get(f, "mt", &t), VF_OK);
    CHECK(t.shape[0] == 4 && t.shape[1] == 3 && t.data[1 * 3 + 2] == big[2 * 4 + 1]);
    vf_tensor_free(&t);
    /* 5-D: not a vf_tensor, but readable into a flat buffer. */
    int nd;
    int64_t shape[8];
    vf_st_dtype dt;
    const char *dn;
    CHECK_STATUS(vf_st_info(f, "t5", &dt, &nd, shape, &dn), VF_OK);
    CHECK(dt == VF_ST_F32 && nd == 5 && shape[3] == 4 && strcmp(dn, "F32") == 0);
    CHECK_STATUS(vf_st_get(f, "t5", &t), VF_ERR_UNSUPPORTED);
    vf_real flat[24];
    CHECK_STATUS(vf_st_get_into(f, "t5", flat, 24), VF_OK);
    CHECK(flat[23] == 23);
    CHECK_STATUS(vf_st_get_into(f, "t5", flat, 23), VF_ERR_SHAPE);
    CHECK_STATUS(vf_st_get(f, "nope", &t), VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), "no tensor named 'nope'"));
    vf_st_close(f);
}

/* Doubles written by vf_st_writer_add_f64 read back bit for bit by vf_st_get_into_f64 in either
 * build (values float cannot hold); an F32 tensor reads into doubles too. */
static void test_f64_exact(void)
{
    double d[5] = {1.0 / 3.0, -1e-300, 6.02214076e23, 0.1 + 0.2, -0.0};
    vf_real r[2] = {0.25f, -3};
    vf_st_writer *wr = vf_st_writer_new();
    CHECK_STATUS(vf_st_writer_add_f64(wr, "d", 1, (int64_t[]){5}, d), VF_OK);
    CHECK_STATUS(vf_st_writer_add_f64(wr, "d", 1, (int64_t[]){5}, d), VF_ERR_ARG); /* twice */
    CHECK_STATUS(vf_st_writer_add_f64(wr, "z", 1, (int64_t[]){2}, NULL), VF_ERR_ARG);
    CHECK_STATUS(vf_st_writer_add_f64(wr, "e", 1, (int64_t[]){0}, NULL), VF_OK);
    CHECK_STATUS(vf_st_writer_add(wr, "r", VF_ST_F32, 1, (int64_t[]){2}, r), VF_OK);
    const char *p = path_of("f64.safetensors");
    CHECK_STATUS(vf_st_writer_write(wr, p), VF_OK);
    vf_st_writer_free(wr);
    vf_st_file *f;
    CHECK_STATUS(vf_st_open(p, &f), VF_OK);
    if (!f) return;
    vf_st_dtype dt;
    int nd;
    int64_t shape[8];
    CHECK_STATUS(vf_st_info(f, "d", &dt, &nd, shape, NULL), VF_OK);
    CHECK(dt == VF_ST_F64 && nd == 1 && shape[0] == 5);
    double back[5] = {0}, rb[2] = {0};
    CHECK_STATUS(vf_st_get_into_f64(f, "d", back, 5), VF_OK);
    CHECK(memcmp(back, d, sizeof d) == 0);
    CHECK_STATUS(vf_st_get_into_f64(f, "r", rb, 2), VF_OK);
    CHECK(rb[0] == 0.25 && rb[1] == -3);
    CHECK_STATUS(vf_st_get_into_f64(f, "d", back, 4), VF_ERR_SHAPE);
    CHECK_STATUS(vf_st_get_into_f64(f, "e", NULL, 0), VF_OK);
    CHECK_STATUS(vf_st_get_into_f64(f, "nope", back, 5), VF_ERR_ARG);
    vf_st_close(f);
}

/* The exact bytes: what the safetensors library writes for the same tensors, modulo key order. */
static void test_byte_layout(void)
{
    vf_real a[6] = {1, 2, 3, 4, 5, 6}, c[2] = {-1, 0.5};
    vf_st_writer *wr = vf_st_writer_new();
    vf_st_writer_add(wr, "b", VF_ST_F64, 1, (int64_t[]){2}, c);
    vf_st_writer_add(wr, "a", VF_ST_F32, 2, (int64_t[]){2, 3}, a);
    vf_st_writer_set_meta(wr, "format", "pt");
    const char *p = path_of("layout.safetensors");
    CHECK_STATUS(vf_st_writer_write(wr, p), VF_OK);
    vf_st_writer_free(wr);
    unsigned char got[512];
    size_t n = slurp(p, got, sizeof got);
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                      "\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[24,40]}}";
    float fa[6] = {1, 2, 3, 4, 5, 6};
    double bd[2] = {-1, 0.5};
    unsigned char data[40], want[512];
    memcpy(data, fa, 24);
    memcpy(data + 24, bd, 16);
    size_t wn = make_st(want, hdr, data, 40);
    CHECK(n == wn && memcmp(got, want, wn) == 0);
    uint64_t hl = vf__le64(got);
    CHECK(hl % 8 == 0 && got[8 + strlen(hdr)] == ' ' && got[8 + hl - 1] == ' ');
}

/* A file laid out as the Python library writes it (tensors sorted by dtype size, metadata last),
 * with dtypes varflow converts but does not write. */
static void test_pytorch_style(void)
{
    const char *hdr = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]},"
                      "\"g\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[12,16]},"
                      "\"i\":{\"dtype\":\"I64\",\"shape\":[1,1],\"data_offsets\":[16,24]},"
                      "\"e\":{\"dtype\":\"F8_E4M3\",\"shape\":[],\"data_offsets\":[24,25]},"
                      "\"__metadata__\":{\"format\":\"pt\"}}";
    unsigned char data[25] = {0}, img[512];
    float wv[2] = {0.25f, -8};
    uint16_t hv[2] = {0x3c00, 0xbc00}, gv[2] = {0x3f80, 0xc040}; /* 1, -1 ; 1, -3 */
    int64_t iv = -123456789;
    memcpy(data, wv, 8);
    memcpy(data + 8, hv, 4);
    memcpy(data + 12, gv, 4);
    memcpy(data + 16, &iv, 8);
    size_t n = make_st(img, hdr, data, 25);
    vf_st_file *f;
    CHECK_STATUS(vf_st_open_buffer("pt.safetensors", img, n, &f), VF_OK);
    if (!f) return;
    vf_real v[2];
    CHECK_STATUS(vf_st_get_into(f, "w", v, 2), VF_OK);
    CHECK(v[0] == (vf_real)0.25 && v[1] == -8);
    CHECK_STATUS(vf_st_get_into(f, "h", v, 2), VF_OK);
    CHECK(v[0] == 1 && v[1] == -1);
    CHECK_STATUS(vf_st_get_into(f, "g", v, 2), VF_OK);
    CHECK(v[0] == 1 && v[1] == -3);
    CHECK_STATUS(vf_st_get_into(f, "i", v, 1), VF_OK);
    CHECK(v[0] == (vf_real)-123456789.0);
    CHECK_STATUS(vf_st_get_into(f, "e", v, 1), VF_ERR_UNSUPPORTED);
    vf_st_dtype dt;
    vf_st_info(f, "g", &dt, NULL, NULL, NULL);
    CHECK(dt == VF_ST_BF16);
    CHECK(strcmp(vf_st_meta(f, "format"), "pt") == 0 && strcmp(vf_st_meta_key(f, 0), "format") == 0);
    vf_st_close(f);
}

typedef struct bad_case {
    const char *name, *header;
    size_t data_bytes;
    vf_status want;
    const char *msg;
} bad_case;

static void test_malformed_headers(void)
{
    static const bad_case cases[] = {
        {"notjson", "{\"a\":", 0, VF_ERR_FORMAT, "JSON header: offset"},
        {"array", "[1,2]", 0, VF_ERR_FORMAT, "does not start with '{'"},
        {"notobject", "{\"a\":3}", 0, VF_ERR_FORMAT, "entry is not an object"},
        {"nodtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, VF_ERR_FORMAT, "no \"dtype\""},
        {"noshape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, VF_ERR_FORMAT, "no \"shape\""},
        {"nooffsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, VF_ERR_FORMAT, "data_offsets"},
        {"baddtype", "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, VF_ERR_UNSUPPORTED, "unknown dtype"},
        {"negshape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, VF_ERR_FORMAT, "non-negative"},
        {"fracshape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, VF_ERR_FORMAT, "non-negative"},
        {"strshape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, VF_ERR_FORMAT, "non-negative"},
        {"rank9", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, VF_ERR_UNSUPPORTED,
         "9 dimensions"},
        {"pastend", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, VF_ERR_FORMAT, "past the end"},
        {"hugeoff", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}}", 4, VF_ERR_FORMAT,
         "bad data_offsets"},
        {"reversed", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, VF_ERR_FORMAT, "bad data_offsets"},
        {"mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, VF_ERR_FORMAT, "need 8 bytes"},
        {"hugeshape", "{\"a\":{\"dtype\":\"F64\",\"shape\":[1000000,1000000],\"data_offsets\":[0,8]}}", 8, VF_ERR_FORMAT,
         "need 8000000000000 bytes"},
        {"overflow", "{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
         VF_ERR_FORMAT, "too large"},
        {"overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, VF_ERR_FORMAT, "overlap"},
        {"gap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, VF_ERR_FORMAT, "gap"},
        {"uncovered", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12, VF_ERR_FORMAT,
         "cover 4 bytes of data, the file has 12"},
        {"duplicate", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, VF_ERR_FORMAT, "appears twice"},
        {"metanum", "{\"__metadata__\":{\"k\":1}}", 0, VF_ERR_FORMAT, "is not a string"},
        {"metaarr", "{\"__metadata__\":[\"k\"]}", 0, VF_ERR_FORMAT, "must be an object"},
        {"metatwice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, VF_ERR_FORMAT, "appears twice"},
        {"nulname", "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, VF_ERR_FORMAT, "NUL"},
        {"badescape", "{\"a\\q\":1}", 0, VF_ERR_FORMAT, "unknown escape"},
        {"surrogate", "{\"\\ud800x\":1}", 0, VF_ERR_FORMAT, "surrogate"},
        {"trailing", "{} {}", 0, VF_ERR_FORMAT, "after the value"},
    };
    unsigned char img[1024], zeros[64] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = make_st(img, cases[i].header, zeros, cases[i].data_bytes);
        char name[64];
        snprintf(name, sizeof name, "%s.safetensors", cases[i].name);
        vf_st_file *f = (vf_st_file *)&f;
        af_install(0, 0);
        vf_status s = vf_st_open_buffer(name, img, n, &f);
        af_remove();
        CHECK_MSG(s == cases[i].want, "%s: %s, expected %s (%s)", name, vf_status_name(s), vf_status_name(cases[i].want),
                  vf_last_error());
        CHECK_MSG(strstr(vf_last_error(), name) && strstr(vf_last_error(), cases[i].msg), "%s: message '%s'", name,
                  vf_last_error());
        CHECK(f == NULL && af.live == 0);
    }
}

static void test_bad_lengths(void)
{
    unsigned char img[64] = {0};
    vf_st_file *f;
    CHECK_STATUS(vf_st_open_buffer("tiny", img, 5, &f), VF_ERR_FORMAT);
    CHECK(strstr(vf_last_error(), "too short"));
    img[0] = 200; /* header length 200 in a 40-byte file */
    memcpy(img + 8, "{}      ", 8);
    CHECK_STATUS(vf_st_open_buffer("long", img, 40, &f), VF_ERR_FORMAT);
    CHECK(strstr(vf_last_error(), "header length 200 is larger than the rest of the file (32 bytes)"));
    /* A data table given as a model: said so, not read as a header length of 3.9e18 */
    static const char table[] = "waiting,eruptions\n79,3.6\n54,1.8\n";
    CHECK_STATUS(vf_st_open_buffer("valid.csv", table, sizeof table - 1, &f), VF_ERR_FORMAT);
    CHECK(strstr(vf_last_error(), "valid.csv: not a safetensors file (a model file starts with its header's length"));
    memset(img, 0xff, 8); /* 2^64 - 1 */
    CHECK_STATUS(vf_st_open_buffer("huge", img, 40, &f), VF_ERR_FORMAT);
    img[0] = 0; memset(img + 1, 0, 7); /* zero length */
    CHECK_STATUS(vf_st_open_buffer("zero", img, 40, &f), VF_ERR_FORMAT);
    CHECK_STATUS(vf_st_open(path_of("missing.safetensors"), &f), VF_ERR_IO);
    CHECK_STATUS(vf_st_open(dir, &f), VF_ERR_IO);
    CHECK(f == NULL);
    /* An empty model is valid. */
    size_t n = make_st(img, "{}", NULL, 0);
    CHECK_STATUS(vf_st_open_buffer("empty", img, n, &f), VF_OK);
    CHECK(vf_st_count(f) == 0 && vf_st_meta_count(f) == 0);
    vf_st_close(f);
}

/* Every truncation of a valid file is rejected, and random corruption of the header never crashes. */
static void test_truncation_and_corruption(void)
{
    vf_real a[5] = {1, 2, 3, 4, 5};
    vf_st_writer *wr = vf_st_writer_new();
    vf_st_writer_add(wr, "a", VF_ST_F32, 1, (int64_t[]){5}, a);
    vf_st_writer_add(wr, "b", VF_ST_F64, 2, (int64_t[]){1, 2}, a);
    vf_st_writer_set_meta(wr, "arch", "x");
    const char *p = path_of("cut.safetensors");
    CHECK_STATUS(vf_st_writer_write(wr, p), VF_OK);
    vf_st_writer_free(wr);
    unsigned char img[512], c[512];
    size_t n = slurp(p, img, sizeof img);
    vf_st_file *f;
    int bad = 0;
    for (size_t k = 0; k < n; k++) bad += vf_st_open_buffer("cut", img, k, &f) != VF_ERR_FORMAT || f != NULL;
    CHECK_MSG(bad == 0, "%d truncations accepted", bad);
    CHECK_STATUS(vf_st_open_buffer("cut", img, n, &f), VF_OK);
    vf_st_close(f);
    vf_rng r;
    vf_rng_init(&r, 3, 0);
    af_install(0, 0);
    for (int it = 0; it < 1000; it++) {
        memcpy(c, img, n);
        int flips = 1 + (int)(vf_rng_uniform(&r) * 3);
        for (int j = 0; j < flips; j++) c[(size_t)(vf_rng_uniform(&r) * (double)n)] = (unsigned char)(vf_rng_uniform(&r) * 256);
        vf_status s = vf_st_open_buffer("bent", c, n, &f);
        if (s == VF_OK) {
            vf_tensor t;
            for (int64_t i = 0; i < vf_st_count(f); i++)
                if (vf_st_get(f, vf_st_name(f, i), &t) == VF_OK) vf_tensor_free(&t);
            vf_st_close(f);
        } else {
            bad += f != NULL || s == VF_ERR_NOMEM;
        }
    }
    af_remove();
    CHECK(bad == 0 && af.live == 0);
}

typedef struct ctx_t { const char *path; } ctx_t;

static vf_status open_scenario(void *ctx)
{
    vf_st_file *f;
    vf_status s = vf_st_open(((ctx_t *)ctx)->path, &f);
    if (s) return s;
    vf_tensor t;
    s = vf_st_get(f, "layer1.weight", &t);
    if (s == VF_OK) {
        s = t.shape[1] == 3 && strcmp(vf_st_meta(f, "arch"), "{\"kind\":\"nsf\"}") == 0 ? VF_OK : VF_ERR_STATE;
        vf_tensor_free(&t);
    }
    vf_st_close(f);
    return s;
}

static vf_status write_scenario(void *ctx)
{
    vf_real a[3] = {1, 2, 3};
    vf_st_writer *w = vf_st_writer_new();
    if (!w) return VF_ERR_NOMEM;
    vf_status s = vf_st_writer_add(w, "a", VF_ST_F32, 1, (int64_t[]){3}, a);
    if (!s) s = vf_st_writer_add(w, "b", VF_ST_F64, 1, (int64_t[]){3}, a);
    if (!s) s = vf_st_writer_set_meta(w, "k", "v");
    if (!s) s = vf_st_writer_set_meta(w, "k2", "v2");
    if (!s) s = vf_st_writer_write(w, ((ctx_t *)ctx)->path);
    vf_st_writer_free(w);
    return s;
}

static void test_alloc_failures_and_atomic(void)
{
    ctx_t c = {path_of("model.safetensors")};
    CHECK(af_sweep("vf_st_open", open_scenario, &c, 0) == 0);
    ctx_t w = {path_of("af.safetensors")};
    CHECK(af_sweep("vf_st_writer", write_scenario, &w, 0) == 0);
    CHECK(af_sweep("vf_st_writer sticky", write_scenario, &w, 1) == 0);
    /* A destination that is a folder: error, folder untouched, no temporary file left. */
    int before = count_dir_entries(dir);
    mkdir(path_of("d.safetensors"), 0700);
    ctx_t d = {path_of("d.safetensors")};
    CHECK_STATUS(write_scenario(&d), VF_ERR_IO);
    CHECK(count_dir_entries(dir) == before + 1);
    rmdir(path_of("d.safetensors"));
    CHECK_STATUS(vf_atomic_write_file(path_of("nodir/x"), "a", 1), VF_ERR_IO);
    CHECK_STATUS(vf_atomic_write_file(path_of("x.bin"), "abc", 3), VF_OK);
    unsigned char b[8];
    CHECK(slurp(path_of("x.bin"), b, sizeof b) == 3 && memcmp(b, "abc", 3) == 0);
    CHECK_STATUS(vf_atomic_write_file(path_of("x.bin"), "", 0), VF_OK);
    CHECK(slurp(path_of("x.bin"), b, sizeof b) == 0);
    unlink(path_of("x.bin"));
    CHECK(count_dir_entries(dir) == before);
}

/* ---- the JSON parser -------------------------------------------------------------------------- */

static vf_status parse(const char *s, vf__json **out) { return vf__json_parse(s, strlen(s), 64, out); }

static void test_json_values(void)
{
    vf__json *v;
    CHECK_STATUS(parse(" {\"a\": [1, -2.5e3, 0, true, false, null, \"x\"], \"b\": {}, \"c\": []} ", &v), VF_OK);
    if (!v) return;
    const vf__json *a = vf__json_get(v, "a");
    CHECK(a && a->type == VF__JSON_ARRAY && a->n == 7);
    if (a && a->n == 7) {
        CHECK(a->items[0].number == 1 && a->items[1].number == -2500 && a->items[2].number == 0);
        CHECK(a->items[3].type == VF__JSON_BOOL && a->items[3].boolean && !a->items[4].boolean);
        CHECK(a->items[5].type == VF__JSON_NULL && strcmp(a->items[6].str, "x") == 0);
        int64_t k;
        CHECK(vf__json_int64(&a->items[0], &k) == 0 && k == 1);
        CHECK(vf__json_int64(&a->items[1], &k) != 0);
    }
    CHECK(vf__json_get(v, "b")->type == VF__JSON_OBJECT && vf__json_get(v, "zz") == NULL);
    vf__json_free(v);
    CHECK_STATUS(parse("[9223372036854775807, -9223372036854775808, 9223372036854775808]", &v), VF_OK);
    int64_t k;
    CHECK(vf__json_int64(&v->items[0], &k) == 0 && k == INT64_MAX);
    CHECK(vf__json_int64(&v->items[1], &k) == 0 && k == INT64_MIN);
    CHECK(vf__json_int64(&v->items[2], &k) != 0);
    vf__json_free(v);
    /* Escapes: \" \\ \/ \b \f \n \r \t, \u00e9 (2-byte UTF-8), \u20ac (3), a surrogate pair (4), \u0000. */
    const char *s = "\"q\\\"b\\\\s\\/\\b\\f\\n\\r\\t \\u00e9 \\u20AC \\ud83d\\ude00 \\u0000end\"";
    CHECK_STATUS(parse(s, &v), VF_OK);
    const char want[] = "q\"b\\s/\b\f\n\r\t \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \0end";
    CHECK(v && v->len == sizeof want - 1 && memcmp(v->str, want, sizeof want - 1) == 0);
    vf__json_free(v);
}

static void test_json_errors(void)
{
    static const char *bad[] = {"", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{1:2}", "01", "1.", ".5", "-",
                                "1e", "1e+", "+1", "tru", "nul", "\"abc", "\"a\tb\"", "\"\\x\"", "\"\\u12\"",
                                "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "[1 2]", "{\"a\":1}}", "[]x", "nan",
                                "\"\\", "[\"a\",", "{\"a\":"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vf__json *v = (vf__json *)&v;
        vf_status s = parse(bad[i], &v);
        CHECK_MSG(s == VF_ERR_FORMAT && v == NULL, "'%s' was not rejected (%s)", bad[i], vf_status_name(s));
        CHECK_MSG(strstr(vf_last_error(), "offset "), "'%s': message '%s'", bad[i], vf_last_error());
    }
    /* Depth: 64 levels parse, 65 do not; a 100000-deep bomb fails quickly without recursion trouble. */
    char deep[200001];
    for (int d = 64; d <= 65; d++) {
        memset(deep, '[', (size_t)d);
        memset(deep + d, ']', (size_t)d);
        deep[2 * d] = 0;
        vf__json *v;
        CHECK_STATUS(parse(deep, &v), d == 64 ? VF_OK : VF_ERR_FORMAT);
        vf__json_free(v);
    }
    memset(deep, '[', 100000);
    memset(deep + 100000, ']', 100000);
    deep[200000] = 0;
    vf__json *v;
    CHECK_STATUS(parse(deep, &v), VF_ERR_FORMAT);
    CHECK(strstr(vf_last_error(), "nested too deeply"));
    /* Every proper prefix of a valid document is rejected; reads stay inside the given length. */
    const char *doc = "{\"k\":[1,-2.5e-3,\"\\u00e9\\ud83d\\ude00\",true,false,null,{\"x\":{}}]}";
    size_t n = strlen(doc);
    int accepted = 0;
    for (size_t k = 0; k < n; k++) {
        char *copy = malloc(k ? k : 1); /* exact size: ASan catches any read past k */
        memcpy(copy, doc, k);
        vf_status s = vf__json_parse(copy, k, 64, &v);
        accepted += s == VF_OK;
        if (s == VF_OK) vf__json_free(v);
        free(copy);
    }
    CHECK(accepted == 0);
}

static void test_json_escape_round_trip(void)
{
    char s[256];
    for (int i = 1; i < 256; i++) s[i - 1] = (char)i;
    s[255] = 0;
    vf__buf b;
    vf__buf_init(&b);
    vf__buf_json_string(&b, s);
    vf__buf_json_string(&b, "");
    CHECK(!b.failed);
    vf__json *v;
    CHECK_STATUS(vf__json_parse(b.data, b.len - 2, 64, &v), VF_OK);
    CHECK(v && v->type == VF__JSON_STRING && v->len == 255 && memcmp(v->str, s, 255) == 0);
    vf__json_free(v);
    CHECK(strcmp(b.data + b.len - 2, "\"\"") == 0);
    vf__buf_free(&b);
}

int main(void)
{
    if (tmpdir_open("vf_st")) return 1;
    RUN(test_round_trip);
    RUN(test_f64_exact);
    RUN(test_byte_layout);
    RUN(test_pytorch_style);
    RUN(test_malformed_headers);
    RUN(test_bad_lengths);
    RUN(test_truncation_and_corruption);
    RUN(test_alloc_failures_and_atomic);
    RUN(test_json_values);
    RUN(test_json_errors);
    RUN(test_json_escape_round_trip);
    tmpdir_close();
    return vf_test_summary();
}
