/* vf_tensor.h — row-major tensors of vf_real, up to 4 dimensions, with strided views.
 *
 * Usage
 *   int64_t shape[2] = {n, d};
 *   vf_tensor x;
 *   if (vf_tensor_alloc(&x, 2, shape) != VF_OK) ...;      // owned, zeroed
 *   vf_tensor rows;
 *   vf_tensor_slice(&x, 0, 10, 20, 1, &rows);              // view of rows 10..19 (no copy)
 *   vf_tensor col = ...; vf_tensor_select(&x, 1, 0, &col);  // view of column 0: shape [n]
 *   vf_tensor_free(&x);                                     // frees only what x owns
 *
 *   vf_tensor v = vf_tensor_wrap(my_array, 2, shape);       // borrow a caller's contiguous array
 *
 * Shapes are NumPy order; strides are in elements. A tensor made by vf_tensor_alloc owns its data
 * (`owned` != NULL); views and wrapped arrays do not, and must not outlive what they point into.
 */
#ifndef VF_TENSOR_H
#define VF_TENSOR_H

#include "vf_core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VF_MAX_DIMS 4

typedef struct vf_tensor {
    vf_real *data;                  /* first element */
    int ndim;                       /* 0 (scalar) .. VF_MAX_DIMS */
    int64_t shape[VF_MAX_DIMS];
    int64_t stride[VF_MAX_DIMS];    /* in elements */
    void *owned;                    /* buffer to free, or NULL for a view */
} vf_tensor;

/* A contiguous view of a caller's array (nothing allocated, nothing freed). */
vf_tensor vf_tensor_wrap(vf_real *data, int ndim, const int64_t *shape);
/* Owned contiguous zeroed tensor. */
vf_status vf_tensor_alloc(vf_tensor *t, int ndim, const int64_t *shape);
/* Frees the buffer if t owns it; leaves t empty. */
void vf_tensor_free(vf_tensor *t);

int64_t vf_tensor_numel(const vf_tensor *t);
int vf_tensor_is_contiguous(const vf_tensor *t);
/* 1 when shapes are equal. */
int vf_tensor_same_shape(const vf_tensor *a, const vf_tensor *b);
/* Pointer to the element at idx[0..ndim-1] (no bounds check). */
vf_real *vf_tensor_at(const vf_tensor *t, const int64_t *idx);

/* View of indices start, start+step, ... < stop along axis (step > 0). */
vf_status vf_tensor_slice(const vf_tensor *t, int axis, int64_t start, int64_t stop, int64_t step,
                          vf_tensor *view);
/* View with `axis` removed, fixed at `index`. */
vf_status vf_tensor_select(const vf_tensor *t, int axis, int64_t index, vf_tensor *view);
/* View with axes a and b swapped. */
vf_status vf_tensor_transpose(const vf_tensor *t, int a, int b, vf_tensor *view);
/* View with a new shape of the same element count; t must be contiguous. */
vf_status vf_tensor_reshape(const vf_tensor *t, int ndim, const int64_t *shape, vf_tensor *view);
/* dst <- src element by element (any strides); shapes must be equal. */
vf_status vf_tensor_copy(vf_tensor *dst, const vf_tensor *src);
/* Owned contiguous copy of any view. clone(x, x) replaces x by an owned copy (freeing what x owned).
 * Shapes too large to address give VF_ERR_NOMEM. */
vf_status vf_tensor_clone(const vf_tensor *src, vf_tensor *out);
void vf_tensor_fill(vf_tensor *t, vf_real value);
/* 1 if every element is finite. */
int vf_tensor_all_finite(const vf_tensor *t);
/* Writes "[2, 3]" style text of the shape into buf (always NUL-terminated). */
void vf_tensor_shape_str(const vf_tensor *t, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
