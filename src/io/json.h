/* json.h — a small strict JSON parser (RFC 8259) for file headers (not installed).
 *
 * Usage
 *   vf__json *root;
 *   if (vf__json_parse(text, len, 64, &root) != VF_OK) ... vf_last_error() says where ("offset 17: ...")
 *   const vf__json *v = vf__json_get(root, "shape");     // member of an object, or NULL
 *   int64_t k; vf__json_int64(v->items + 0, &k);          // exact integer
 *   vf__json_free(root);
 *
 * The parser reads only text[0 .. len), bounds nesting at max_depth, decodes \uXXXX escapes
 * (surrogate pairs included) to UTF-8 and rejects anything malformed, including trailing text.
 * Memory is proportional to the input.
 */
#ifndef VF_IO_JSON_H
#define VF_IO_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "internal.h"

typedef enum vf__json_type {
    VF__JSON_NULL, VF__JSON_BOOL, VF__JSON_NUMBER, VF__JSON_STRING, VF__JSON_ARRAY, VF__JSON_OBJECT
} vf__json_type;

typedef struct vf__json vf__json;
struct vf__json {
    vf__json_type type;
    int boolean;            /* BOOL */
    double number;          /* NUMBER */
    char *str;              /* STRING: decoded, NUL-terminated; NUMBER: its text */
    size_t len;             /* length of str in bytes (a string may contain \u0000) */
    size_t n;               /* ARRAY / OBJECT: number of items */
    vf__json *items;        /* ARRAY / OBJECT: the values */
    char **keys;            /* OBJECT: the keys (decoded, NUL-terminated) */
    size_t *key_lens;       /* OBJECT: their lengths */
};

/* Parse text[0..len) into an owned tree *out (NULL on failure; message "offset N: what"). */
vf_status vf__json_parse(const char *text, size_t len, int max_depth, vf__json **out);
void vf__json_free(vf__json *v);
/* Value of the first member named key in an object; NULL when absent or v is not an object. */
const vf__json *vf__json_get(const vf__json *v, const char *key);
/* The number as an exact integer (no fraction or exponent, fits int64). 0 on success. */
int vf__json_int64(const vf__json *v, int64_t *out);

#endif
