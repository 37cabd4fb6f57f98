/* vf_vfield.h — vector fields v(x, t[, c]) for continuous flows, and MeanFlow's average velocity
 * u(x, r, t): an MLP or residual MLP on the state, features of time, and an optional condition (a
 * context vector, a class label with a learned embedding, or both).
 *
 * Usage
 *   vf_vfield_params vp = vf_vfield_default_params(2);      // d = 2, MLP 64x3 SiLU, 16 sinusoidal time features
 *   vp.classes = 10;                                         // labels 0..9, plus the null label 10 (guidance)
 *   vf_vfield *v; vf_vfield_new(p, "field", &vp, &v);        // registers parameters in p
 *   vf_params_finalize(p, seed);
 *   vf_var vt = vf_vfield_forward(v, p, t, x, time, VF_NOVAR, VF_NOVAR, labels);   // x [n, 2], time [n, 1] -> [n, 2]
 *
 * Time enters as itself (VF_TIME_INPUT: one column t) or as sinusoidal features (VF_TIME_SINUSOIDAL:
 * sin(2 pi f_k t) and cos(2 pi f_k t) for time_features / 2 frequencies f_k spaced geometrically from
 * 1 / 2 to time_max_frequency). Time is a tape variable, so derivatives with respect to it (forward
 * mode, as MeanFlow's training needs) flow through the features. With two_times = 1 the field takes
 * a second time r (MeanFlow's u(x, r, t)): the features of t and of t - r are both input.
 *
 * Labels: with classes = K > 0 a table "<name>.label_embedding.weight" [K + 1, class_embedding] is
 * learned; row K is the null label (classifier-free guidance drops labels to it during training and
 * evaluates it for the unconditional field). labels NULL means every row gets the null label.
 *
 * Network input: [x, time features (of t, then of t - r), context, label embedding] -> hidden ->
 * dim outputs; the output layer starts at zero when zero_init_output is set (default 0).
 */
#ifndef VF_VFIELD_H
#define VF_VFIELD_H

#include "vf_nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vf_time_embedding { VF_TIME_INPUT = 0, VF_TIME_SINUSOIDAL } vf_time_embedding;

typedef struct vf_vfield_params {
    int64_t dim;                  /* state dimension d */
    int64_t context;              /* width of a context vector (default 0) */
    int64_t classes;              /* number of class labels (default 0: none) */
    int64_t class_embedding;      /* width of a label's embedding (default 16) */
    vf_time_embedding time;       /* default VF_TIME_SINUSOIDAL */
    int64_t time_features;        /* sinusoidal: an even number >= 2 (default 16) */
    double time_max_frequency;    /* sinusoidal: the highest frequency (default 64) */
    int two_times;                /* 1: MeanFlow's u(x, r, t) (default 0) */
    int residual;                 /* 1: residual MLP of width hidden[0] and n_hidden blocks (default 0) */
    int n_hidden;                 /* default 3 */
    int64_t hidden[VF_NN_MAX_HIDDEN]; /* default 64 */
    vf_activation act;            /* default VF_ACT_SILU */
    int zero_init_output;         /* default 0 */
} vf_vfield_params;

typedef struct vf_vfield vf_vfield;

vf_vfield_params vf_vfield_default_params(int64_t dim);
/* Registers the network's parameters under name; VF_ERR_ARG for bad params. */
vf_status vf_vfield_new(vf_params *p, const char *name, const vf_vfield_params *vp, vf_vfield **out);
void vf_vfield_free(vf_vfield *v);
const vf_vfield_params *vf_vfield_get_params(const vf_vfield *v);
/* Width of the time features for one time (1 for VF_TIME_INPUT). */
int64_t vf_vfield_time_width(const vf_vfield *v);

/* x [n, d], time [n, 1], r [n, 1] (two_times only, else VF_NOVAR), context [n, c] or VF_NOVAR,
 * labels [n] in 0..classes (classes = the null label) or NULL -> v [n, d]. A label outside that range
 * records VF_ERR_ARG on the tape naming the row. */
vf_var vf_vfield_forward(const vf_vfield *v, vf_params *p, vf_tape *t, vf_var x, vf_var time, vf_var r,
                         vf_var context, const int64_t *labels);

/* The time features alone: time [n, 1] -> [n, vf_vfield_time_width(v)]. */
vf_var vf_vfield_time_features(const vf_vfield *v, vf_tape *t, vf_var time);

#ifdef __cplusplus
}
#endif
#endif
