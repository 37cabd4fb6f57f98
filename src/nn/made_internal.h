/* made_internal.h — the MADE module's layout, shared by made.c (construction, the full pass) and
 * made_step.c (the pass restricted to one output dimension). Not installed. */
#ifndef VF_MADE_INTERNAL_H
#define VF_MADE_INTERNAL_H

#include "nn/nn_internal.h"

typedef struct made_block {
    vf_masked_linear_layer linear1, linear2;
    vf_linear_layer context;                  /* weight -1 without a context */
} made_block;

struct vf_made {
    vf_made_params mp;
    int32_t *deg_in;                          /* [d] */
    int n_masks;
    const vf_real **mask;                     /* [n_masks] pointers into mask_buf */
    int64_t *mask_out, *mask_in;              /* [n_masks] shapes */
    vf_real *mask_buf;
    vf_masked_linear_layer input, output;
    vf_masked_linear_layer *hidden;           /* plain: [depth - 1] */
    made_block *blocks;                       /* residual: [depth] */
    vf_linear_layer context;                  /* weight -1 without a context */
    /* For the one-dimension pass: the hidden layers' units sorted by degree (stable), and how many
     * of them have degree <= k - 1, i.e. are all that the outputs of degree k can see. */
    int n_hid_layers;                         /* plain: depth; residual: 1 (the blocks share it) */
    int64_t *hid_perm;                        /* [n_hid_layers, h] */
    int64_t *hid_count;                       /* [n_hid_layers, d + 1]: entry k for k = 1..d */
    int64_t *in_by_degree;                    /* [d]: the input dimension of degree j + 1 */
};

/* Fills hid_perm, hid_count and in_by_degree from deg_in and the hidden degrees hid_deg
 * [n_hid_layers, h]. */
void vf__made_index_degrees(vf_made *m, const int32_t *hid_deg, int n_hid_layers);

#endif
