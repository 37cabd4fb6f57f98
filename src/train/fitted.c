/* fitted.c — vf_fitted: a fitted flow or continuous flow with its metadata (vf_train.h). */
#include <stdlib.h>
#include <string.h>
#include "flows/model_internal.h"
#include "train/train_internal.h"

vf_fitted *vf__fitted_new(vf_fitted_kind kind)
{
    vf_fitted *m = calloc(1, sizeof *m);
    if (!m) {
        vf__error(VF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    m->kind = kind;
    return m;
}

vf_status vf_fitted_from_flow(vf_flow *f, vf_params *p, vf_fitted **out)
{
    if (!out) return vf__error(VF_ERR_ARG, "vf_fitted_from_flow: NULL output");
    *out = NULL;
    vf_fitted *m = f && p ? vf__fitted_new(VF_FITTED_FLOW) : NULL;
    if (!m) {
        vf_flow_free(f);
        vf_params_free(p);
        return f && p ? VF_ERR_NOMEM : vf__error(VF_ERR_ARG, "vf_fitted_from_flow: NULL flow or store");
    }
    m->flow = f;
    m->params = p;
    *out = m;
    return VF_OK;
}

void vf__fitted_clear_meta(vf_fitted *m)
{
    vf_model_meta_free(&m->meta);
    m->cap = 0;
}

void vf_fitted_free(vf_fitted *m)
{
    if (!m) return;
    vf__fitted_clear_meta(m);
    vf_flow_free(m->flow);
    vf_params_free(m->params);
    vf_cnf_model_free(m->cnf);
    free(m);
}

vf_fitted_kind vf_fitted_get_kind(const vf_fitted *m) { return m ? m->kind : VF_FITTED_FLOW; }
vf_flow *vf_fitted_flow(const vf_fitted *m) { return m ? m->flow : NULL; }
vf_cnf_model *vf_fitted_cnf(const vf_fitted *m) { return m ? m->cnf : NULL; }
vf_params *vf_fitted_params(const vf_fitted *m) { return !m ? NULL : m->cnf ? m->cnf->params : m->params; }

int64_t vf_fitted_dim(const vf_fitted *m)
{
    if (!m) return 0;
    return m->cnf ? m->cnf->spec.field.dim : m->flow ? vf_flow_dim(m->flow) : 0;
}

int64_t vf_fitted_param_count(const vf_fitted *m)
{
    if (!m) return 0;
    return m->cnf ? vf_cnf_model_param_count(m->cnf) : m->params ? vf_params_size(m->params) : 0;
}

const char *vf_fitted_meta_get(const vf_fitted *m, const char *key) { return m ? vf_model_meta_get(&m->meta, key) : NULL; }
const vf_model_meta *vf_fitted_meta(const vf_fitted *m) { return m ? &m->meta : NULL; }

static char *copy_text(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = vf_malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

vf_status vf_fitted_set_meta(vf_fitted *m, const char *key, const char *value)
{
    if (!m || !key || !value || !*key) return vf__error(VF_ERR_ARG, "vf_fitted_set_meta: NULL or empty argument");
    const char *const one_key[1] = {key}, *const one_value[1] = {value};
    /* refused now, not at the save: the keys the model file's own header uses */
    if (vf__model_check_extra("vf_fitted_set_meta", m->cnf ? "cnf" : "flow", 1, one_key, one_value) != VF_OK)
        return VF_ERR_ARG;
    vf_model_meta *mm = &m->meta;
    char *v = copy_text(value);
    if (!v) return VF_ERR_NOMEM;
    for (int64_t i = 0; i < mm->n; i++)
        if (strcmp(mm->keys[i], key) == 0) {
            vf_free(mm->values[i]);
            mm->values[i] = v;
            return VF_OK;
        }
    if (mm->n == m->cap) {
        size_t cap = m->cap ? 2 * (size_t)m->cap : 16;
        char **k = vf_realloc(mm->keys, sizeof *k * cap);
        if (k) mm->keys = k;
        char **vv = k ? vf_realloc(mm->values, sizeof *vv * cap) : NULL;
        if (vv) mm->values = vv;
        if (!k || !vv) {
            vf_free(v);
            return vf__error(VF_ERR_NOMEM, "out of memory");
        }
        m->cap = (int64_t)cap;
    }
    char *k = copy_text(key);
    if (!k) {
        vf_free(v);
        return VF_ERR_NOMEM;
    }
    mm->keys[mm->n] = k;
    mm->values[mm->n++] = v;
    return VF_OK;
}

vf_status vf_fitted_save(const vf_fitted *m, const char *path)
{
    if (!m || !path || !*path) return vf__error(VF_ERR_ARG, "vf_fitted_save: NULL model or empty path");
    const char *const *k = (const char *const *)m->meta.keys, *const *v = (const char *const *)m->meta.values;
    if (m->cnf) return vf_cnf_model_save(m->cnf, path, m->meta.n, k, v, 0, NULL);
    if (!m->flow) return vf__error(VF_ERR_STATE, "vf_fitted_save: the handle holds no model");
    return vf_flow_save(m->flow, m->params, path, m->meta.n, k, v);
}
