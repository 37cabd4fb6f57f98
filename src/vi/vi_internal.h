/* vi_internal.h — private pieces of the target layer (src/vi/): the table of built-in targets and the
 * plugin loader. To add a built-in: write a make function in target_builtin.c (or a new file) and add
 * a row to the table there; the spec parser, help text and error messages pick it up. */
#ifndef VF_VI_INTERNAL_H
#define VF_VI_INTERNAL_H

#include "internal.h"
#include "varflow/vf_target.h"

#define VF__TARGET_MAX_KEYS 6

typedef struct vf__target_key {
    const char *name;
    double def;         /* default */
    int integer;        /* 1: must be a whole number */
} vf__target_key;

/* vals: the key values in table order; fills out (dim, log_prob, state, free, sample). Checks the
 * values' ranges itself (VF_ERR_ARG with a message naming the key). */
typedef vf_status (*vf__target_make_fn)(const double *vals, vf_target *out);

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

/* "PATH[:ARG]" after "plugin:" (target_plugin.c). */
vf_status vf__target_plugin_open(const char *path_and_arg, vf_target *out);

#endif
