/* vf_model.h — flow model files: a flow's architecture and parameters in one safetensors file.
 *
 * Usage
 *   // save (the flow's transforms registered as "transforms.<i>", its base as "base")
 *   const char *keys[] = {"epochs", "data.mean"}, *values[] = {"200", "[0.5,-1.25]"};
 *   vf_status s = vf_flow_save(flow, p, "moons.safetensors", 2, keys, values);   // atomic
 *
 *   // load: nothing but the file is needed
 *   vf_params *p2 = NULL;
 *   vf_flow *f2 = NULL;
 *   vf_model_meta extra;                                   // may be NULL if not wanted
 *   if (vf_flow_load("moons.safetensors", &p2, &f2, &extra) != VF_OK)
 *       fprintf(stderr, "%s\n", vf_last_error());          // "moons.safetensors: transform 2 ..."
 *   const char *epochs = vf_model_meta_get(&extra, "epochs");   // "200"
 *   vf_model_meta_free(&extra);
 *   ... vf_flow_log_prob(f2, p2, t, x, VF_NOVAR) ...
 *   vf_flow_free(f2); vf_params_free(p2);
 *
 * File layout (readable by the safetensors library and PyTorch's safetensors.torch.load_file):
 * every tensor of the parameter store under its registered name ("transforms.0.net.layers.0.weight",
 * "base.loc", ...) with its registered shape, F32 in float builds and F64 in double builds; and
 * string metadata in __metadata__:
 *   "format"          "varflow.flow"
 *   "format_version"  "1" (a loader refuses a larger version)
 *   "flow"            {"dim": d, "context": c, "base": <base describe()>,
 *                      "transforms": [<transform 0 describe()>, ...]} (data -> latent order)
 *   any extra keys the caller adds (a training record, a data standardization, ...).
 * and, optionally (vf_flow_save_with), training-state tensors whose names start with "fit." (a
 * checkpoint's optimizer moments, best parameters, ...): the loader ignores them, so a checkpoint is
 * also a usable model file.
 *
 * Loading rebuilds every piece through a registry of kinds: each describe() object is read back and
 * the public constructor is called with exactly the recorded settings under the canonical name; the
 * rebuilt piece's describe() must then equal the recorded one (as JSON values), so a permutation or
 * a degree order drawn from a seed is checked against the recorded array. Every tensor must exist
 * with the registered shape, and no other tensor may be present except training state ("fit.*"). Any problem gives VF_ERR_FORMAT (or
 * VF_ERR_IO when the file cannot be read) with a message naming the file and what is wrong.
 */
#ifndef VF_MODEL_H
#define VF_MODEL_H

#include "vf_flow.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Metadata keys a model file reserves (extra keys may not use them). */
#define VF_MODEL_FORMAT "varflow.flow"
#define VF_MODEL_FORMAT_VERSION 1

/* Extra metadata read from a model file: n owned key/value strings (file order, reserved keys left
 * out). */
typedef struct vf_model_meta {
    int64_t n;
    char **keys;
    char **values;
} vf_model_meta;

/* Frees the strings and leaves m empty (n = 0). NULL is ignored. */
void vf_model_meta_free(vf_model_meta *m);
/* The value of key, or NULL when absent. */
const char *vf_model_meta_get(const vf_model_meta *m, const char *key);

/* Write the flow's architecture and every tensor of p (which must be finalized) to path, atomically.
 * extra: n_extra key/value pairs (keys[i] -> values[i], copied) added to the metadata; n_extra may
 * be 0 with NULL arrays. VF_ERR_ARG for NULL arguments, an unfinalized store, an empty or reserved
 * extra key ("format", "format_version", "flow"); VF_ERR_IO when the file cannot be written. */
vf_status vf_flow_save(const vf_flow *f, vf_params *p, const char *path, int64_t n_extra,
                       const char *const *keys, const char *const *values);

/* Training state stored beside a flow (checkpoints): tensor names begin with this prefix. */
#define VF_MODEL_STATE_PREFIX "fit."

/* One extra tensor for vf_flow_save_with: name (starting with VF_MODEL_STATE_PREFIX), shape [ndim],
 * contiguous values data [prod(shape)] (borrowed until the call returns), or, with data NULL,
 * data_f64 [prod(shape)]: doubles stored as F64, so they load back exactly in either build. */
typedef struct vf_model_tensor {
    const char *name;
    int ndim;
    int64_t shape[VF_MAX_DIMS];
    const vf_real *data;
    const double *data_f64;
} vf_model_tensor;

/* vf_flow_save plus n_tensors extra tensors (a checkpoint's training state; n_tensors may be 0 with
 * NULL). VF_ERR_ARG as vf_flow_save, and for an extra tensor whose name does not start with
 * VF_MODEL_STATE_PREFIX or appears twice, or whose shape or data is invalid. Written atomically: on
 * any failure an existing file at path is left as it was. */
vf_status vf_flow_save_with(const vf_flow *f, vf_params *p, const char *path, int64_t n_extra,
                            const char *const *keys, const char *const *values, int64_t n_tensors,
                            const vf_model_tensor *tensors);

/* Read a model file: *f receives the rebuilt flow and *p a new finalized store holding the file's
 * values (the caller frees both); extra (may be NULL) receives the non-reserved metadata (free it
 * with vf_model_meta_free). On failure *p and *f are NULL, extra is empty and nothing is leaked. */
vf_status vf_flow_load(const char *path, vf_params **p, vf_flow **f, vf_model_meta *extra);

/* The registry on its own: build a transform (or base distribution) from one describe() object,
 * registering its parameters under `name` in p (before finalize). VF_ERR_FORMAT for malformed JSON,
 * an unknown kind, a missing or mistyped setting or settings the constructor rejects, or when the
 * rebuilt piece does not describe itself as recorded; VF_ERR_NOMEM leaves nothing registered. */
vf_status vf_transform_from_json(const char *json, vf_params *p, const char *name, vf_transform **out);
vf_status vf_dist_from_json(const char *json, vf_params *p, const char *name, vf_dist **out);

#ifdef __cplusplus
}
#endif
#endif
