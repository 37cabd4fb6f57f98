/* model_internal.h — the kind registry behind model files (not installed).
 *
 * vf__model_transform_build / vf__model_dist_build read one describe() object (already parsed), call
 * the kind's public constructor with exactly the recorded settings under `name`, and check that the
 * rebuilt piece describes itself as recorded. Errors: VF_ERR_FORMAT with a message saying which
 * setting is missing or wrong (no file name: the caller prefixes it), VF_ERR_NOMEM with nothing
 * registered in p and nothing leaked.
 */
#ifndef VF_MODEL_INTERNAL_H
#define VF_MODEL_INTERNAL_H

#include "flows/flow_internal.h"
#include "io/json.h"
#include "varflow/vf_model.h"

vf_status vf__model_transform_build(const vf__json *desc, vf_params *p, const char *name, vf_transform **out);
vf_status vf__model_dist_build(const vf__json *desc, vf_params *p, const char *name, vf_dist **out);
/* 1 when a and b are the same JSON value (numbers by value, object members in any order). */
int vf__model_json_equal(const vf__json *a, const vf__json *b);
/* A transform's (or base's) describe() in an owned string *out (grown until it fits). */
vf_status vf__model_describe_transform(const vf_transform *tr, char **out);
vf_status vf__model_describe_dist(const vf_dist *b, char **out);

/* Shared with the continuous-flow model files (src/cnf/cnf_model_file.c):
 * the training-state tensors of a save: names "fit.*", unique, valid shapes and data (VF_ERR_ARG);
 * and the load of every registered tensor of p (parameters, then buffers) from st, checking dtype
 * and shape, with no tensor left over but training state (VF_ERR_FORMAT naming the tensor). */
vf_status vf__model_check_state_tensors(int64_t n, const vf_model_tensor *tensors);
/* Adds them to w (vf_real data as dtype, data_f64 as F64). */
vf_status vf__model_add_state_tensors(vf_st_writer *w, vf_st_dtype dtype, int64_t n, const vf_model_tensor *tensors);
vf_status vf__model_load_tensors(const vf_st_file *st, vf_params *p);
/* Extra metadata of a save (caller `who` in messages): n_extra >= 0 pairs, keys non-empty, values
 * non-NULL, no key reserved ("format", "format_version", model_key); VF_ERR_ARG otherwise. */
vf_status vf__model_check_extra(const char *who, const char *model_key, int64_t n_extra, const char *const *keys,
                                const char *const *values);
/* The metadata of a model file into w: "format", "format_version" (version), model_key -> arch, then
 * the extra pairs. */
vf_status vf__model_set_meta(vf_st_writer *w, const char *format, int version, const char *model_key, const char *arch,
                             int64_t n_extra, const char *const *keys, const char *const *values);
/* The header of a model file being loaded: "format" must be `format` and "format_version" an integer
 * 1..version, then the JSON under model_key
 * parsed into *root (free with vf__json_free). VF_ERR_FORMAT "no \"KEY\" metadata (what)" when absent,
 * "WHAT_IS malformed JSON: ..." when it does not parse; VF_ERR_NOMEM. */
vf_status vf__model_read_header(const vf_st_file *st, const char *format, int version, const char *model_key,
                                const char *what, const char *what_is, vf__json **root);
/* The metadata of st into m (owned copies), leaving out "format", "format_version" and model_key
 * (the architecture). VF_ERR_NOMEM leaves m with what was copied (free it with vf_model_meta_free). */
vf_status vf__model_copy_extra(const vf_st_file *st, const char *model_key, vf_model_meta *m);

#endif
