/* test_io_idx.c — IDX: every element type written by hand, flattening by vf_read_table, malformed and
 * hostile headers (which must fail before allocating), truncation at every length, .gz, and a real
 * Fashion-MNIST file when the machine has one. */
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

/* IDX header: 00 00 type ndim, then big-endian extents. Returns its length. */
static size_t idx_header(unsigned char *b, int type, int ndim, const uint32_t *dims)
{
    b[0] = 0; b[1] = 0; b[2] = (unsigned char)type; b[3] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) {
        b[4 + 4 * i] = (unsigned char)(dims[i] >> 24);
        b[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
        b[6 + 4 * i] = (unsigned char)(dims[i] >> 8);
        b[7 + 4 * i] = (unsigned char)dims[i];
    }
    return 4 + 4 * (size_t)ndim;
}

static void test_ubyte_images(void)
{
    unsigned char b[64];
    uint32_t dims[3] = {3, 2, 2};
    size_t h = idx_header(b, 0x08, 3, dims);
    for (int i = 0; i < 12; i++) b[h + i] = (unsigned char)(i * 23);
    b[h + 11] = 255;
    vf_tensor x;
    CHECK_STATUS(vf_idx_read(put_bytes("img-idx3-ubyte", b, h + 12), &x), VF_OK);
    CHECK(x.ndim == 3 && x.shape[0] == 3 && x.shape[1] == 2 && x.shape[2] == 2);
    if (x.data) CHECK(x.data[0] == 0 && x.data[5] == 115 && x.data[11] == 255);
    vf_tensor_free(&x);
    CHECK_STATUS(vf_read_table(path_of("img-idx3-ubyte"), &x), VF_OK);
    CHECK(x.ndim == 2 && x.shape[0] == 3 && x.shape[1] == 4 && x.data[11] == 255);
    vf_tensor_free(&x);
    /* Labels: 1-D becomes [n, 1]; a name without "idx" is recognized by its magic. */
    uint32_t n = 5;
    h = idx_header(b, 0x08, 1, &n);
    for (int i = 0; i < 5; i++) b[h + i] = (unsigned char)(9 - i);
    CHECK_STATUS(vf_read_table(put_bytes("labels.bin", b, h + 5), &x), VF_OK);
    CHECK(x.shape[0] == 5 && x.shape[1] == 1 && x.data[0] == 9 && x.data[4] == 5);
    vf_tensor_free(&x);
}

static void test_other_types(void)
{
    unsigned char b[128];
    uint32_t n = 2;
    vf_tensor x;
    size_t h = idx_header(b, 0x09, 1, &n); /* signed bytes */
    b[h] = 0xff; b[h + 1] = 0x7f;
    CHECK_STATUS(vf_idx_read(put_bytes("s.idx", b, h + 2), &x), VF_OK);
    CHECK(x.data && x.data[0] == -1 && x.data[1] == 127);
    vf_tensor_free(&x);
    h = idx_header(b, 0x0B, 1, &n); /* int16: -2, 300 */
    unsigned char i2[4] = {0xff, 0xfe, 0x01, 0x2c};
    memcpy(b + h, i2, 4);
    CHECK_STATUS(vf_idx_read(put_bytes("i2.idx", b, h + 4), &x), VF_OK);
    CHECK(x.data && x.data[0] == -2 && x.data[1] == 300);
    vf_tensor_free(&x);
    h = idx_header(b, 0x0C, 1, &n); /* int32: -70000, 16909060 */
    unsigned char i4[8] = {0xff, 0xfe, 0xee, 0x90, 0x01, 0x02, 0x03, 0x04};
    memcpy(b + h, i4, 8);
    CHECK_STATUS(vf_idx_read(put_bytes("i4.idx", b, h + 8), &x), VF_OK);
    CHECK(x.data && x.data[0] == -70000 && x.data[1] == (vf_real)16909060);
    vf_tensor_free(&x);
    h = idx_header(b, 0x0D, 1, &n); /* float32: 1.5 = 3fc00000, -0.25 = be800000 */
    unsigned char f4[8] = {0x3f, 0xc0, 0, 0, 0xbe, 0x80, 0, 0};
    memcpy(b + h, f4, 8);
    CHECK_STATUS(vf_idx_read(put_bytes("f4.idx", b, h + 8), &x), VF_OK);
    CHECK(x.data && x.data[0] == (vf_real)1.5 && x.data[1] == (vf_real)-0.25);
    vf_tensor_free(&x);
    h = idx_header(b, 0x0E, 1, &n); /* float64: 2 = 4000..., -3 = c008... */
    unsigned char f8[16] = {0x40, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0x08, 0, 0, 0, 0, 0, 0};
    memcpy(b + h, f8, 16);
    CHECK_STATUS(vf_idx_read(put_bytes("f8.idx", b, h + 16), &x), VF_OK);
    CHECK(x.data && x.data[0] == 2 && x.data[1] == -3);
    vf_tensor_free(&x);
}

static void test_malformed(void)
{
    unsigned char b[128] = {0};
    vf_tensor x;
    uint32_t dims[5] = {2, 2, 1, 1, 1};
    CHECK_STATUS(vf_idx_read(put_bytes("short-idx", b, 3), &x), VF_ERR_FORMAT);
    CHECK(strstr(vf_last_error(), "short-idx: truncated IDX file"));
    b[0] = 1;
    CHECK_STATUS(vf_idx_read(put_bytes("magic-idx", b, 16), &x), VF_ERR_FORMAT);
    CHECK(strstr(vf_last_error(), "not an IDX file"));
    idx_header(b, 0x07, 1, dims);
    CHECK_STATUS(vf_idx_read(put_bytes("type-idx", b, 16), &x), VF_ERR_FORMAT);
    CHECK(strstr(vf_last_error(), "unknown IDX element type 0x07"));
    idx_header(b, 0x08, 0, dims);
    CHECK_STATUS(vf_idx_read(put_bytes("rank0-idx", b, 16), &x), VF_ERR_FORMAT);
    idx_header(b, 0x08, 5, dims);
    CHECK_STATUS(vf_idx_read(put_bytes("rank5-idx", b, 40), &x), VF_ERR_UNSUPPORTED);
    idx_header(b, 0x08, 3, dims);
    CHECK_STATUS(vf_idx_read(put_bytes("hdr-idx", b, 10), &x), VF_ERR_FORMAT);
    CHECK(strstr(vf_last_error(), "truncated IDX header"));
    CHECK_STATUS(vf_idx_read(path_of("missing-idx"), &x), VF_ERR_IO);
    CHECK_STATUS(vf_idx_read(dir, &x), VF_ERR_IO);

    /* Hostile extents: 10^12 ubytes (and 2^96 doubles) claimed in a 100-byte file. */
    uint32_t huge[3] = {1000000, 1000000, 1};
    memset(b, 0, sizeof b);
    idx_header(b, 0x08, 3, huge);
    af_install(0, 0);
    CHECK_STATUS(vf_idx_read(put_bytes("huge-idx", b, 100), &x), VF_ERR_FORMAT);
    CHECK(strstr(vf_last_error(), "claims 1000000000000 elements"));
    uint32_t over[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
    idx_header(b, 0x0E, 4, over);
    CHECK_STATUS(vf_idx_read(put_bytes("over-idx", b, 100), &x), VF_ERR_FORMAT);
    af_remove();
    CHECK(af.failures == 0 && af.live == 0);
}

static void test_truncation(void)
{
    unsigned char b[128];
    uint32_t dims[2] = {4, 5};
    size_t h = idx_header(b, 0x0C, 2, dims);
    memset(b + h, 1, 80);
    size_t n = h + 80;
    vf_tensor x;
    int bad = 0;
    for (size_t k = 0; k < n; k++) bad += vf_idx_read(put_bytes("cut-idx", b, k), &x) != VF_ERR_FORMAT || x.owned;
    CHECK(bad == 0);
    CHECK_STATUS(vf_idx_read(put_bytes("cut-idx", b, n), &x), VF_OK);
    CHECK(x.shape[0] == 4 && x.shape[1] == 5 && x.data[19] == (vf_real)16843009);
    vf_tensor_free(&x);
}

static void test_gzip(void)
{
    unsigned char b[64];
    uint32_t dims[2] = {2, 3};
    size_t h = idx_header(b, 0x08, 2, dims);
    for (int i = 0; i < 6; i++) b[h + i] = (unsigned char)(250 + i);
    vf_tensor x;
#if VF_HAVE_ZLIB
    gzFile g = gzopen(path_of("t10k-images-idx3-ubyte.gz"), "wb");
    gzwrite(g, b, (unsigned)(h + 6));
    gzclose(g);
    CHECK_STATUS(vf_read_table(path_of("t10k-images-idx3-ubyte.gz"), &x), VF_OK);
    CHECK(x.shape[0] == 2 && x.shape[1] == 3 && x.data[5] == 255);
    vf_tensor_free(&x);
    /* Corrupt deflate data after a valid gzip header. */
    unsigned char z[64] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK_STATUS(vf_idx_read(put_bytes("bad-idx.gz", z, 30), &x), VF_ERR_FORMAT);
    CHECK(strstr(vf_last_error(), "bad-idx.gz"));
#else
    put_bytes("t10k-images-idx3-ubyte.gz", b, h + 6);
    CHECK_STATUS(vf_read_table(path_of("t10k-images-idx3-ubyte.gz"), &x), VF_ERR_UNSUPPORTED);
    CHECK(strstr(vf_last_error(), "without zlib"));
#endif
}

static void test_fashion_mnist(void)
{
    static const char *root = "/usr/share/datasets/fashion-mnist";
    static const char *names[] = {"t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz", "train-images-idx3-ubyte",
                                  "train-images-idx3-ubyte.gz"};
    char p[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", root, names[i]);
        if (access(p, R_OK) != 0) continue;
#if !VF_HAVE_ZLIB
        if (strstr(p, ".gz")) continue;
#endif
        vf_tensor x;
        CHECK_STATUS(vf_idx_read(p, &x), VF_OK);
        CHECK(x.ndim == 3 && (x.shape[0] == 10000 || x.shape[0] == 60000) && x.shape[1] == 28 && x.shape[2] == 28);
        int ok = 1;
        for (int64_t k = 0; x.data && k < vf_tensor_numel(&x); k++) ok &= x.data[k] >= 0 && x.data[k] <= 255;
        CHECK(ok);
        vf_tensor_free(&x);
        return;
    }
    printf("note: no Fashion-MNIST IDX file in %s; the real-file check is skipped\n", root);
}

int main(void)
{
    if (tmpdir_open("vf_idx")) return 1;
    RUN(test_ubyte_images);
    RUN(test_other_types);
    RUN(test_malformed);
    RUN(test_truncation);
    RUN(test_gzip);
    RUN(test_fashion_mnist);
    tmpdir_close();
    return vf_test_summary();
}
