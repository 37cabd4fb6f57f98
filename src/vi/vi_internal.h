/* vi_internal.h — private pieces of the target layer (src/vi/): the table of built-in targets and the
 * plugin loader. To add a built-in: write a make function in target_builtin.c (or a new file) and add
 * a row to the table there; the spec parser, help text and error messages pick it up. */
#ifndef VF_VI_INTERNAL_H
#define VF_VI_INTERNAL_H

#include "internal.h"
#include "varflow/vf_target.h"
#include "varflow/vf_flow.h"

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

/* "PATH[:ARG]" after "plugin:" (target_plugin.c). */
vf_status vf__target_plugin_open(const char *path_and_arg, vf_target *out);

#endif
