/* flow_internal.h — what a transform or a base distribution implements (not installed).
 *
 * Writing a transform (src/flows/reverse.c is the smallest complete example):
 *   1. a struct that starts with `vf_transform base;` followed by its settings and parameter ids;
 *   2. forward and inverse functions building the map on the tape from vf_ad.h ops (so gradients,
 *      contexts and errors come for free), each setting *ladj to a [n] node (never VF_NOVAR on
 *      success: use vf__flow_zeros for a volume-preserving map);
 *   3. a describe function writing {"kind": "...", settings...} with vf__json_printf;
 *   4. destroy, freeing what the constructor allocated (including the struct itself);
 *   5. optionally data_init (ActNorm-style initialization from a batch); NULL means none;
 *   6. a `static const vf_transform_vtable` and a public constructor
 *      `vf_status vf_<kind>_new(vf_params *p, const char *name, const vf_<kind>_params *kp, vf_transform **out)`
 *      that registers parameters as "<name>.<what>" and fills base (vt, dim, context).
 * The public wrappers in flow.c check the common arguments (shapes of x and context) before calling
 * the vtable, so implementations may assume x is [n, dim] and context is [n, context] or VF_NOVAR
 * exactly when context > 0.
 */
#ifndef VF_FLOW_INTERNAL_H
#define VF_FLOW_INTERNAL_H

#include "ad/ad_internal.h"

typedef struct vf_transform_vtable {
    const char *kind;
    vf_var (*forward)(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx, vf_var *ladj);
    vf_var (*inverse)(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var z, vf_var ctx, vf_var *ladj);
    vf_status (*describe)(const vf_transform *tr, char *json, size_t len);
    void (*destroy)(vf_transform *tr);
    vf_var (*data_init)(vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var ctx); /* may be NULL */
} vf_transform_vtable;

struct vf_transform {
    const vf_transform_vtable *vt;
    int64_t dim;        /* d */
    int64_t context;    /* c, 0 when unconditional */
};

typedef struct vf_dist_vtable {
    const char *kind;
    vf_var (*log_prob)(const vf_dist *b, vf_params *p, vf_tape *t, vf_var z, vf_var ctx);
    vf_var (*sample)(const vf_dist *b, vf_params *p, vf_tape *t, int64_t n, vf_var ctx, vf_rng *r);
    vf_status (*describe)(const vf_dist *b, char *json, size_t len);
    void (*destroy)(vf_dist *b);
} vf_dist_vtable;

struct vf_dist {
    const vf_dist_vtable *vt;
    int64_t dim, context;
};

/* The feature split of a coupling layer: mask [d] (1 = transformed), the identity features idx_a [na]
 * and the transformed ones idx_b [nb] in increasing order, and merge [d], the position of feature i in
 * [x_a, x_b] (a gather with merge puts the halves back in feature order). */
typedef struct vf__coupling_split {
    int *mask;
    int64_t na, nb;
    int64_t *idx_a, *idx_b, *merge;
} vf__coupling_split;
/* From a custom mask (copied; NULL: parity, feature i transformed when i % 2 == parity). On failure
 * (VF_ERR_NOMEM) everything allocated so far is freed and *s is left empty. */
vf_status vf__coupling_split_init(vf__coupling_split *s, int64_t d, const int *mask, int parity);
void vf__coupling_split_free(vf__coupling_split *s);

/* Puts lead[0..n) in front of f's transforms (lead[0] applied to the data first). Takes ownership of
 * every lead[i], also on failure (VF_ERR_ARG / VF_ERR_SHAPE for a NULL or mismatched one, VF_ERR_NOMEM);
 * on failure f is unchanged. */
vf_status vf__flow_prepend(vf_flow *f, int n, vf_transform *const *lead);
/* The transform on the data's side (the first applied to x), or NULL. */
vf_transform *vf__flow_first_transform(const vf_flow *f);
/* A logit transform's samples (its inverse, box side) clamped to [lo, hi], a box inside its own (with
 * `fit --box`: the data's box, inside the logit's widened one), ends moved one step inward where they
 * meet its own: sampling then stays in the data's box, with a finite log-density. */
vf_status vf__logit_keep_samples_in(vf_transform *tr, double lo, double hi);

/* A constant [n] of zeros (the log-determinant of a volume-preserving map). */
vf_var vf__flow_zeros(vf_tape *t, int64_t n);
/* Rows of x (x must be a node of t). */
int64_t vf__flow_rows(vf_tape *t, vf_var x);
/* snprintf into json; VF_ERR_ARG when it does not fit in len. */
vf_status vf__json_printf(char *json, size_t len, const char *fmt, ...) VF_PRINTF(3, 4);
/* Appends printf output at json[*pos] and advances *pos; VF_ERR_ARG when it does not fit in len. */
vf_status vf__json_append(char *json, size_t len, size_t *pos, const char *fmt, ...) VF_PRINTF(4, 5);
/* "<name>.<what>" into buf (name may be NULL or "": then just what); VF_ERR_ARG if too long. */
vf_status vf__param_name(char *buf, size_t len, const char *name, const char *what);
/* Sum over the last axis: x [n, d] -> [n]. */
vf_var vf__flow_row_sum(vf_tape *t, vf_var x);
/* The second half of vf_flow_sample: x = f^{-1}(z) for base draws z [n, d] (drawn by vf_dist_sample
 * from f->base), and, when log_prob is not NULL, log p(x) = log p_base(z) - log|det J_f^{-1}(z)| [n]. */
vf_var vf__flow_sample_from_base(const vf_flow *f, vf_params *p, vf_tape *t, vf_var z, vf_var context,
                                 vf_var *log_prob);

#endif
