/* vf_io.h — data files (CSV, NPY, IDX, any of them gzipped), model files (safetensors), atomic writes.
 *
 * Usage
 *   vf_tensor x;                                          // [n, d], owned
 *   if (vf_read_table("data.csv", &x) != VF_OK)           // .csv .tsv .txt .npy *idx* (+ .gz)
 *       fprintf(stderr, "%s\n", vf_last_error());         // "data.csv:3:2: 'abc' is not a number"
 *   vf_write_table("out.npy", &x);                        // or out.csv; atomic (temp + fsync + rename)
 *   vf_tensor_free(&x);
 *
 *   vf_csv_options o = vf_csv_default_options();          // delimiter auto, header auto, '#' comments
 *   o.delimiter = ';';
 *   vf_strlist names;                                     // column names (n = 0 when no header)
 *   vf_read_csv("data.csv", &o, &x, &names);
 *   vf_strlist_free(&names);
 *
 *   // model files: a set of named tensors plus string metadata (the architecture)
 *   vf_st_writer *w = vf_st_writer_new();
 *   vf_st_writer_add(w, "layer0.weight", VF_ST_F32, 2, (int64_t[]){64, 2}, weights);  // borrowed
 *   vf_st_writer_set_meta(w, "arch", "{\"kind\":\"maf\",\"layers\":5}");               // copied
 *   vf_status s = vf_st_writer_write(w, "model.safetensors");                          // atomic
 *   vf_st_writer_free(w);
 *
 *   vf_st_file *f;
 *   if (vf_st_open("model.safetensors", &f) == VF_OK) {  // reads and validates the whole file
 *       const char *arch = vf_st_meta(f, "arch");         // NULL when absent
 *       vf_tensor wt;
 *       vf_st_get(f, "layer0.weight", &wt);               // owned copy converted to vf_real
 *       vf_st_close(f);
 *   }
 *
 * Every reader loads the file into memory, checks every size a header claims against the bytes that
 * are really there before allocating anything for the data, and returns VF_ERR_IO (cannot open or
 * read), VF_ERR_FORMAT (malformed), VF_ERR_UNSUPPORTED (valid but not handled: Fortran order, a
 * dtype, .gz without zlib) or VF_ERR_NUMERIC (NaN/Inf in a data table), with a message that names
 * the file and where in it the problem is. Outputs are left empty on failure. Limits: 64 GiB per file
 * (after decompression), 100 MiB for a safetensors header, JSON nesting 16 levels deep there.
 * Every writer writes a temporary file in the destination's folder, fsyncs it and renames it over
 * the destination: on any failure the destination is untouched and the temporary file is removed.
 */
#ifndef VF_IO_H
#define VF_IO_H

#include "vf_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- data tables ---------------------------------------------------------------------------- */

/* Read a data table as an owned out [n, d]. The format comes from the name (after removing ".gz"):
 * .csv/.tsv/.txt -> CSV (default options), .npy -> NPY, a name containing "idx" -> IDX; any other
 * name is recognized by its first bytes. NPY and IDX arrays of more dimensions are flattened to
 * [shape[0], rest]; a 1-D array becomes [n, 1]. A NaN or infinite value is VF_ERR_NUMERIC naming the
 * file, the line (CSV) or row, and the column. Binary content read as CSV is VF_ERR_FORMAT naming the
 * line of its first zero byte; a safetensors file (a model file, under any name) is VF_ERR_FORMAT
 * saying so. */
vf_status vf_read_table(const char *path, vf_tensor *out);
/* Write x [n, d] or [n] by extension: .npy (<f4 in float builds, <f8 in double builds) or .csv
 * (%.9g / %.17g, no header). Any strides. Atomic. */
vf_status vf_write_table(const char *path, const vf_tensor *x);

/* ---- CSV ------------------------------------------------------------------------------------- */

typedef enum vf_csv_header {
    VF_CSV_HEADER_AUTO = 0,     /* first row is a header when one of its fields is not a number */
    VF_CSV_HEADER_YES,
    VF_CSV_HEADER_NO
} vf_csv_header;

typedef struct vf_csv_options {
    char delimiter;             /* 0: auto (',' then ';' then tab, else runs of blanks); or ',' ';' '\t' ' ' */
    vf_csv_header header;
    char comment;               /* lines whose first non-blank character is this are skipped; 0: none */
    int allow_nonfinite;        /* 1: accept nan/inf cells; 0 (default): VF_ERR_NUMERIC */
} vf_csv_options;

/* A list of owned strings. */
typedef struct vf_strlist {
    int64_t n;
    char **items;
} vf_strlist;

/* delimiter auto, header auto, comment '#', non-finite values rejected. */
vf_csv_options vf_csv_default_options(void);
/* Read out [n, d]; names (may be NULL) receives the d header fields, or n = 0 when there is none.
 * Blank lines and comment lines are skipped; fields may be quoted ("a ""b"""). opt NULL: defaults.
 * Text holding a zero byte is binary data: VF_ERR_FORMAT naming its line. */
vf_status vf_read_csv(const char *path, const vf_csv_options *opt, vf_tensor *out, vf_strlist *names);
/* The same over text in memory; `name` is used in messages. */
vf_status vf_parse_csv(const char *name, const char *text, size_t len, const vf_csv_options *opt,
                       vf_tensor *out, vf_strlist *names);
/* Write x [n, d] or [n] as CSV with an optional header row of d names (NULL: none). Atomic. */
vf_status vf_write_csv(const char *path, const vf_tensor *x, const char *const *names);
void vf_strlist_free(vf_strlist *l);

/* ---- NPY ------------------------------------------------------------------------------------- */

/* Read an .npy file (versions 1, 2, 3; C order; dtypes f2 f4 f8 i1 u1 i2 u2 i4 u4 i8 u8 b1, either
 * byte order) as an owned out of the file's shape (0 to 4 dimensions). Values are converted to
 * vf_real as they are; no finiteness check. */
vf_status vf_npy_read(const char *path, vf_tensor *out);
/* Write x (0 to 4 dimensions, any strides) as little-endian <f4 (float builds) or <f8 (double). */
vf_status vf_npy_write(const char *path, const vf_tensor *x);

/* ---- IDX ------------------------------------------------------------------------------------- */

/* Read an IDX file (magic 00 00 TT NN: TT = 08 ubyte, 09 byte, 0B int16, 0C int32, 0D float32,
 * 0E float64; NN = 1..4 big-endian 32-bit extents) as an owned out of the file's shape. Unsigned
 * bytes become 0..255. A name ending in .gz is decompressed with zlib. */
vf_status vf_idx_read(const char *path, vf_tensor *out);

/* ---- safetensors ----------------------------------------------------------------------------- *
 * File layout (compatible with the safetensors library and PyTorch): 8-byte little-endian header
 * length N; N bytes of JSON, padded with spaces to a multiple of 8:
 *   {"__metadata__":{"key":"value"},"name":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},...}
 * then the tensors' little-endian bytes, packed without gaps; offsets count from the first byte
 * after the header. */

typedef enum vf_st_dtype {
    VF_ST_F32 = 0,
    VF_ST_F64,
    VF_ST_F16,      /* readable only */
    VF_ST_BF16,     /* readable only */
    VF_ST_OTHER     /* integers and BOOL (converted when read), F8_E4M3 / F8_E5M2 (not convertible) */
} vf_st_dtype;

typedef struct vf_st_writer vf_st_writer;

/* An empty writer, or NULL (with VF_ERR_NOMEM) on allocation failure. */
vf_st_writer *vf_st_writer_new(void);
void vf_st_writer_free(vf_st_writer *w);
/* Add tensor `name` of the given shape [shape[0], ..., shape[ndim-1]] (ndim 0..8) stored on disk as
 * dtype (VF_ST_F32 or VF_ST_F64). data (contiguous, numel values) is borrowed until the write;
 * the name is copied. Names must be unique, non-empty and not "__metadata__". */
vf_status vf_st_writer_add(vf_st_writer *w, const char *name, vf_st_dtype dtype, int ndim,
                           const int64_t *shape, const vf_real *data);
/* The same from doubles, stored as VF_ST_F64 (exactly, whatever vf_real is). */
vf_status vf_st_writer_add_f64(vf_st_writer *w, const char *name, int ndim, const int64_t *shape,
                               const double *data);
/* The same from a tensor view t (any strides; borrowed until the write). */
vf_status vf_st_writer_add_tensor(vf_st_writer *w, const char *name, vf_st_dtype dtype,
                                  const vf_tensor *t);
/* Set metadata key -> value (both copied; a key set twice keeps the last value). */
vf_status vf_st_writer_set_meta(vf_st_writer *w, const char *key, const char *value);
/* Write every tensor (sorted by name) and the metadata to path, atomically. */
vf_status vf_st_writer_write(vf_st_writer *w, const char *path);

typedef struct vf_st_file vf_st_file;

/* Read and validate a whole safetensors file; *out is NULL on failure. */
vf_status vf_st_open(const char *path, vf_st_file **out);
/* The same over bytes in memory (copied); `name` is used in messages. */
vf_status vf_st_open_buffer(const char *name, const void *bytes, size_t len, vf_st_file **out);
void vf_st_close(vf_st_file *f);

/* Number of tensors and the name of the i-th (sorted by name). */
int64_t vf_st_count(const vf_st_file *f);
const char *vf_st_name(const vf_st_file *f, int64_t i);
/* 1 if the file has a tensor of that name. */
int vf_st_has(const vf_st_file *f, const char *name);
/* Dtype, dimension count and shape of a tensor; shape needs room for 8 extents (may be NULL).
 * dtype_name (may be NULL) receives the file's dtype string. */
vf_status vf_st_info(const vf_st_file *f, const char *name, vf_st_dtype *dtype, int *ndim,
                     int64_t *shape, const char **dtype_name);
/* Owned copy of tensor `name` converted to vf_real, of its shape (0..4 dimensions). */
vf_status vf_st_get(const vf_st_file *f, const char *name, vf_tensor *out);
/* Copy tensor `name` converted to vf_real into dst[0 .. n-1]; VF_ERR_SHAPE unless it has n values. */
vf_status vf_st_get_into(const vf_st_file *f, const char *name, vf_real *dst, int64_t n);
/* The same into doubles: an F64 tensor reads back exactly in either build. */
vf_status vf_st_get_into_f64(const vf_st_file *f, const char *name, double *dst, int64_t n);

/* Metadata value of key, or NULL. Keys in file order by index. */
const char *vf_st_meta(const vf_st_file *f, const char *key);
int64_t vf_st_meta_count(const vf_st_file *f);
const char *vf_st_meta_key(const vf_st_file *f, int64_t i);

/* ---- atomic writes --------------------------------------------------------------------------- */

/* Write n bytes to path through a temporary file in the same folder, fsync and rename. On failure
 * the destination is untouched and nothing is left behind. */
vf_status vf_atomic_write_file(const char *path, const void *bytes, size_t n);

#ifdef __cplusplus
}
#endif
#endif
