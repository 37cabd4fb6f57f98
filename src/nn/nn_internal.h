/* nn_internal.h — helpers shared by the nn layer's files (not installed). */
#ifndef VF_NN_INTERNAL_H
#define VF_NN_INTERNAL_H

#include "ad/ad_internal.h"

/* buf [VF_PARAM_NAME_MAX] <- "prefix.suffix", or "suffix" when prefix is NULL or "".
 * VF_ERR_ARG if it does not fit. */
vf_status vf__nn_name(char *buf, const char *prefix, const char *suffix);

/* 1 if v is a 2-d node of tape t with `cols` columns (its row count in *rows). Otherwise records a
 * tape error naming `what` (unless the tape has failed already) and returns 0. */
int vf__nn_check_2d(vf_tape *t, const char *what, vf_var v, int64_t cols, int64_t *rows);

/* 1 if `context` suits a module `what` built with c context features, for x of n rows: a [n, c]
 * node when c > 0, VF_NOVAR when c = 0. Otherwise records a tape error and returns 0. */
int vf__nn_check_context(vf_tape *t, const char *what, vf_var context, int64_t c, int64_t n);

/* Drops every tensor registered after the first `count` parameters, and the buffers registered after
 * parameter `count` (a failed constructor's rollback); only before finalize. */
void vf__params_truncate(vf_params *p, int32_t count);

/* Gives parameter id (buffer id when buffer = 1) a new name (1 to VF_PARAM_NAME_MAX - 1 characters).
 * Uniqueness is NOT checked: a caller renaming several tensors at once checks the final set
 * (vf_flow_from_spec_after does). */
vf_status vf__params_rename(vf_params *p, int buffer, int32_t id, const char *name);

#endif
