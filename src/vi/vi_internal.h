/* vi_internal.h — private pieces of the target layer (src/vi/): the table of built-in targets and the
 * plugin loader. To add a built-in: write a make function in target_builtin.c (or a new file) and add
 * a row to the table there; the spec parser, help text and error messages pick it up. */
#ifndef VF_VI_INTERNAL_H
#define VF_VI_INTERNAL_H

#include "internal.h"
#include "varflow/vf_target.h"
#include "varflow/vf_flow.h"
#include "varflow/vf_vi.h"

#define VF__TARGET_MAX_KEYS 6

typedef struct vf__target_key {
    const char *name;
    double def;         /* default */
    int integer;        /* 1: must be a whole number; 2: a string (a file name), default NULL */
} vf__target_key;

#define VF__TARGET_KEY_STRING 2
#define VF__TARGET_STRING_MAX 1024

/* vals: the numeric key values in table order; strs: the string keys' values in table order (NULL
 * where not given; numeric keys are NULL); fills out (dim, log_prob, state, free, sample, log_z).
 * Checks the values' ranges itself (VF_ERR_ARG with a message naming the key). */
typedef vf_status (*vf__target_make_fn)(const double *vals, const char *const *strs, vf_target *out);

typedef struct vf__target_builtin {
    const char *name;
    const char *defaults;      /* "key=value,..." for help screens */
    vf__target_make_fn make;
    int nkeys;
    vf__target_key keys[VF__TARGET_MAX_KEYS];
} vf__target_builtin;

/* log p~ of rows x [n, dim] into logp [n] and, when grad is not NULL, grad [n, dim], unchecked: one
 * log_prob_batch call when the target has one, else log_prob row by row. Rows with a non-finite
 * entry are not given to the target when skip_nonfinite (they get logp -inf and a zero gradient).
 * VF_ERR_NUMERIC when the batch function fails, VF_ERR_NOMEM. */
vf_status vf__target_eval(const vf_target *t, int64_t n, const double *x, double *logp, double *grad,
                          int skip_nonfinite);

/* The table (target_builtin.c) and its length. */
extern const vf__target_builtin vf__target_builtins[];
extern const int vf__target_builtin_count;

/* Makers of the built-ins in target_energies.c (u1..u4), target_fab.c (gmm40, manywell) and
 * target_models.c (funnel, rosenbrock). */
vf_status vf__target_make_u1(const double *vals, const char *const *strs, vf_target *out);
vf_status vf__target_make_u2(const double *vals, const char *const *strs, vf_target *out);
vf_status vf__target_make_u3(const double *vals, const char *const *strs, vf_target *out);
vf_status vf__target_make_u4(const double *vals, const char *const *strs, vf_target *out);
vf_status vf__target_make_gmm40(const double *vals, const char *const *strs, vf_target *out);
vf_status vf__target_make_manywell(const double *vals, const char *const *strs, vf_target *out);
vf_status vf__target_make_funnel(const double *vals, const char *const *strs, vf_target *out);
vf_status vf__target_make_rosenbrock(const double *vals, const char *const *strs, vf_target *out);

/* The state of the `fab` objective of vf_vi_grad (fab.c): AIS step sizes and the replay buffer. */
typedef struct vf__fab vf__fab;
vf_status vf__fab_new(const vf_flow *f, vf_params *p, const vf_target *t, vf__fab **out);
void vf__fab_free(vf__fab *fb);
/* One FAB gradient from n AIS draws (n fixed for the object's life): adds to the store's gradients;
 * *loss (may be NULL) = mean(log q - log p~) at the draws of q that start AIS. */
vf_status vf__fab_grad(vf__fab *fb, int64_t n, vf_rng *r, double *loss);
/* Its first half: n draws of q carried by AIS toward p~^2 / q; x [n, d] and their log weights
 * logw [n] (either may be NULL; mean e^logw estimates the integral of p~^2 / q). */
vf_status vf__fab_ais(vf__fab *fb, int64_t n, vf_rng *r, double *loss, double *x, double *logw);

/* An objective's state across steps as named double arrays (checkpoints carry them exactly). */
typedef struct vf__state_array {
    const char *name;
    int64_t numel;
    double *data;
} vf__state_array;

/* FAB's state (fab.c), borrowed from the object: "fab.counts" {batch, rows filled, ring position},
 * "fab.log_h" [levels] (the HMC step sizes' logs), "fab.x" [rows, d], "fab.logw" [rows] and
 * "fab.logq" [rows] (the replay buffer). Returns how many arrays it filled: 0 before the first step,
 * else VF__FAB_STATE_ARRAYS. */
#define VF__FAB_STATE_ARRAYS 5
int vf__fab_state(vf__fab *fb, vf__state_array a[VF__FAB_STATE_ARRAYS]);
/* Restores what vf__fab_state gave (count arrays, any order; other names are ignored) into an object
 * that has not stepped yet, for a run of `batch` draws per step (the saved state must be of that batch
 * size: it sizes the buffers). VF_ERR_FORMAT with a message when an array is missing or inconsistent. */
vf_status vf__fab_restore(vf__fab *fb, const vf__state_array *a, int count, int64_t batch);

/* The same for a vf_vi (vi_grad.c): its objective's arrays (FAB's; none for the other objectives,
 * or before FAB's first step), at most max; and their restoration (creating FAB's state). */
int vf__vi_state(vf_vi *v, vf__state_array *a, int max);
vf_status vf__vi_restore(vf_vi *v, const vf__state_array *a, int count, int64_t batch);

/* "PATH[:ARG]" after "plugin:" (target_plugin.c). */
vf_status vf__target_plugin_open(const char *path_and_arg, vf_target *out);

#endif
