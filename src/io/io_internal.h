/* io_internal.h — helpers shared by the file readers and writers of src/io (not installed).
 *
 * Reading: vf__read_file loads a whole file (decompressing a ".gz" name through zlib) into one
 * owned buffer, so every parser works on a (pointer, length) span and checks each claimed size
 * against that length before touching or allocating anything.
 * Writing: vf__buf is a growable byte buffer; vf__atomic streams bytes into a temporary file next to
 * the destination and renames it into place on commit.
 */
#ifndef VF_IO_INTERNAL_H
#define VF_IO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "internal.h"

/* ---- whole-file reading (file.c) ---- */

/* Largest file (or decompressed .gz stream) any reader accepts: 64 GiB. */
#define VF__IO_MAX_BYTES ((uint64_t)1 << 36)

/* Owned contents of path in *data (NUL-terminated, *len bytes before the NUL). Names ending in
 * ".gz" are decompressed (VF_ERR_UNSUPPORTED without zlib). Errors name the file. */
vf_status vf__read_file(const char *path, unsigned char **data, size_t *len);
/* 1 if name ends with suffix (ASCII case-insensitive). */
int vf__ends_with(const char *name, const char *suffix);
/* Re-raise the current error message prefixed by "prefix: ". Returns s. */
vf_status vf__reraise(vf_status s, const char *prefix);

/* ---- growable byte buffer (buf.c) ---- */

typedef struct vf__buf {
    char *data;
    size_t len, cap;
    int failed;                 /* sticky: an allocation failed */
} vf__buf;

void vf__buf_init(vf__buf *b);
void vf__buf_free(vf__buf *b);
/* Append; on allocation failure sets b->failed and does nothing more. */
void vf__buf_put(vf__buf *b, const void *p, size_t n);
void vf__buf_puts(vf__buf *b, const char *s);
void vf__buf_printf(vf__buf *b, const char *fmt, ...) VF_PRINTF(2, 3);
/* Append s as a JSON string literal with quotes and escapes. */
void vf__buf_json_string(vf__buf *b, const char *s);
/* Append a real number as text: %.9g (float builds) or %.17g (double), '.' as decimal point. */
void vf__buf_real(vf__buf *b, double v);

/* ---- atomic file writing (atomic.c) ---- */

typedef struct vf__atomic {
    int fd;
    char *path;                 /* destination (copied) */
    char *tmp;                  /* temporary file in the same folder */
    int pending;                /* its slot among the files vf__atomic_remove_pending removes, or -1 */
} vf__atomic;

/* Create the temporary file. */
vf_status vf__atomic_begin(vf__atomic *a, const char *path);
/* Append n bytes; on failure the file is aborted (removed). */
vf_status vf__atomic_write(vf__atomic *a, const void *p, size_t n);
/* fsync, close, rename over the destination, fsync the folder; on failure abort. */
vf_status vf__atomic_commit(vf__atomic *a);
/* Close and remove the temporary file (safe to call twice). */
void vf__atomic_abort(vf__atomic *a);

/* ---- numbers ---- */

/* Parse the whole of s[0..n) as a decimal number, independent of the C locale. 0 on success. */
int vf__parse_double(const char *s, size_t n, double *out);

/* Little-endian host? */
static inline int vf__host_le(void)
{
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

/* Reverse n bytes in place. */
static inline void vf__swap_bytes(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        unsigned char t = p[i];
        p[i] = p[n - 1 - i];
        p[n - 1 - i] = t;
    }
}

static inline uint32_t vf__be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline uint64_t vf__le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* 1 if a file of file_size bytes whose first `have` bytes are d starts as a safetensors file does: a
 * little-endian header length that fits the file, then the header's opening brace (9 bytes suffice). */
static inline int vf__looks_like_safetensors(const unsigned char *d, size_t have, uint64_t file_size)
{
    if (have < 9 || file_size < 10) return 0;
    uint64_t header = vf__le64(d);
    return header >= 2 && header <= file_size - 8 && d[8] == '{';
}

/* Element kinds shared by the NPY, IDX and safetensors converters. */
typedef enum vf__elem {
    VF__E_F16, VF__E_BF16, VF__E_F32, VF__E_F64,
    VF__E_I8, VF__E_U8, VF__E_I16, VF__E_U16, VF__E_I32, VF__E_U32, VF__E_I64, VF__E_U64, VF__E_B1
} vf__elem;

/* Size in bytes of one element. */
size_t vf__elem_size(vf__elem e);
/* dst[i] = (vf_real) src element i, for n elements stored with byte order big_endian (0/1). */
void vf__convert(vf_real *dst, const unsigned char *src, size_t n, vf__elem e, int big_endian);
/* The same into doubles (no rounding to vf_real). */
void vf__convert_f64(double *dst, const unsigned char *src, size_t n, vf__elem e, int big_endian);

/* ---- format parsers over a file image in memory (npy.c, idx.c); out gets the file's shape ---- */
vf_status vf__npy_parse(const char *path, const unsigned char *d, size_t len, vf_tensor *out);
vf_status vf__idx_parse(const char *path, const unsigned char *d, size_t len, vf_tensor *out);

#endif
