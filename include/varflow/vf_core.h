/* vf_core.h — status codes, error messages, allocator hooks, the arena, the scalar type.
 *
 * Usage
 *   vf_status s = vf_something(...);
 *   if (s != VF_OK) fprintf(stderr, "%s: %s\n", vf_status_name(s), vf_last_error());
 *
 *   vf_arena *a = vf_arena_new(1 << 20);        // per-step scratch memory
 *   float *tmp = vf_arena_alloc(a, n * sizeof *tmp);
 *   vf_arena_reset(a);                          // everything allocated above is released at once
 *   vf_arena_free(a);
 *
 * Every fallible function returns a vf_status and leaves a one-line message in a thread-local slot
 * read by vf_last_error(). The library never exits, aborts or prints on a user error.
 * All memory goes through the hooks set by vf_set_allocator(), so tests can inject failures.
 */
#ifndef VF_CORE_H
#define VF_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <varflow/vf_config.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The scalar type of tensors and parameters, fixed when varflow is built. */
#if VF_USE_DOUBLE
typedef double vf_real;
#else
typedef float vf_real;
#endif

typedef enum vf_status {
    VF_OK = 0,
    VF_ERR_NOMEM,        /* an allocation failed */
    VF_ERR_ARG,          /* an argument is invalid (NULL, out of range, unknown name) */
    VF_ERR_SHAPE,        /* tensor shapes do not agree */
    VF_ERR_IO,           /* a file could not be opened, read or written */
    VF_ERR_FORMAT,       /* a file or string is malformed */
    VF_ERR_NUMERIC,      /* NaN or infinity where a finite number is required */
    VF_ERR_UNSUPPORTED,  /* valid request this build cannot do (e.g. .gz without zlib) */
    VF_ERR_STATE         /* an object is used in the wrong state (e.g. a tape after an error) */
} vf_status;

/* Short constant name of a status ("VF_ERR_SHAPE"). */
const char *vf_status_name(vf_status s);
/* Message of the last error raised on this thread ("" if none). Valid until the next error. */
const char *vf_last_error(void);
void vf_clear_error(void);
/* Records a printf-style message as this thread's last error and returns s: for a callback of the
 * caller's (a reduce or checkpoint function, ...) that hands a failure back to the library, whose
 * error message then includes it. */
vf_status vf_set_error(vf_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Version string "MAJOR.MINOR.PATCH" of the linked library. */
const char *vf_version(void);
/* sizeof(vf_real) in the linked library: 4 (float build) or 8 (double build). For programs that load
 * the library at run time (the Python binding) and cannot see VF_USE_DOUBLE. */
int vf_real_size(void);

/* ---- allocator hooks --------------------------------------------------------------------- */
typedef struct vf_allocator {
    void *(*alloc)(size_t size, void *user);              /* like malloc; NULL on failure */
    void *(*realloc)(void *p, size_t size, void *user);   /* like realloc */
    void (*free)(void *p, void *user);                    /* like free; p may be NULL */
    void *user;
} vf_allocator;

/* Replace the allocator (NULL restores malloc/realloc/free). Call before creating any object. */
void vf_set_allocator(const vf_allocator *a);
void *vf_malloc(size_t size);                 /* NULL + VF_ERR_NOMEM message on failure */
void *vf_calloc(size_t n, size_t size);       /* zeroed; checks n*size overflow */
void *vf_realloc(void *p, size_t size);
void vf_free(void *p);

/* ---- arena: bump allocation, released all at once ---------------------------------------- */
typedef struct vf_arena vf_arena;

vf_arena *vf_arena_new(size_t first_chunk_bytes);     /* NULL on failure */
void vf_arena_free(vf_arena *a);
/* 64-byte aligned block of `bytes` (uninitialized); NULL on failure. Grows by new chunks. */
void *vf_arena_alloc(vf_arena *a, size_t bytes);
void *vf_arena_calloc(vf_arena *a, size_t bytes);     /* zeroed */
/* Release every block; keeps (and merges) the memory for the next round. */
void vf_arena_reset(vf_arena *a);
size_t vf_arena_used(const vf_arena *a);              /* bytes handed out since the last reset */

/* ---- threads ------------------------------------------------------------------------------ */
/* Number of threads for batch loops and BLAS (0 = library default). Returns the previous value. */
int vf_set_num_threads(int n);
int vf_get_num_threads(void);

#ifdef __cplusplus
}
#endif
#endif
