/* params.c — the parameter store: a registry of named tensors over one flat value buffer and one
 * flat gradient buffer.
 *
 * Registration only records (name, shape, offset, initializer); offsets are assigned in order, so
 * tensor i occupies [offset_i, offset_i + numel_i) and the tensors tile [0, size) without gaps.
 * vf_params_finalize allocates both buffers at once and runs the initializers, tensor i drawing
 * from stream i of the seed (so adding a tensor at the end does not change the others).
 * The store owns both buffers; vf_params_var hands out borrowed pointers into them, valid until
 * vf_params_free.
 *
 * Non-trainable buffers (running statistics) live in a second registry over a third flat array,
 * outside the values/gradients the optimizer sees. Names are unique across both registries. Each
 * buffer remembers how many parameters existed when it was registered (`mark`), so the rollback
 * vf__params_truncate(count) also drops the buffers registered after parameter `count`: exact as long
 * as a module registers at least one parameter before its buffers (batch_norm does).
 */
#include <string.h>
#include "nn/nn_internal.h"

typedef struct entry {
    char name[VF_PARAM_NAME_MAX];
    int64_t offset, numel;
    int ndim;
    int64_t shape[VF_MAX_DIMS];
    vf_init init;
    int32_t mark;              /* buffers: the parameter count when registered */
} entry;

struct vf_params {
    entry *e;
    int32_t n, cap;
    int64_t size;
    vf_real *values, *grads;   /* [size] each, after finalize */
    entry *b;                  /* buffers */
    int32_t nb, bcap;
    int64_t bsize;
    vf_real *bvalues;          /* [bsize], after finalize */
    int training;
};

vf_params *vf_params_new(void) { return vf_calloc(1, sizeof(vf_params)); }

void vf_params_free(vf_params *p)
{
    if (!p) return;
    vf_free(p->e);
    vf_free(p->values);
    vf_free(p->grads);
    vf_free(p->b);
    vf_free(p->bvalues);
    vf_free(p);
}

int32_t vf_params_find(const vf_params *p, const char *name)
{
    if (!p || !name) return -1;
    for (int32_t i = 0; i < p->n; i++)
        if (strcmp(p->e[i].name, name) == 0) return i;
    return -1;
}

int32_t vf_params_find_buffer(const vf_params *p, const char *name)
{
    if (!p || !name) return -1;
    for (int32_t i = 0; i < p->nb; i++)
        if (strcmp(p->b[i].name, name) == 0) return i;
    return -1;
}

/* Appends an entry to the list (e, n, cap, size): checks shared by parameters and buffers. */
static vf_status add_entry(vf_params *p, int buffer, const char *name, int ndim, const int64_t *shape, vf_init init,
                           int32_t *id)
{
    const char *what = buffer ? "params_add_buffer" : "params_add";
    if (!p || !name || !shape) return vf__error(VF_ERR_ARG, "%s: NULL argument", what);
    if (p->values) return vf__error(VF_ERR_STATE, "%s: '%s' registered after finalize", what, name);
    size_t len = strlen(name);
    if (len == 0 || len >= VF_PARAM_NAME_MAX)
        return vf__error(VF_ERR_ARG, "%s: name must have 1 to %d characters", what, VF_PARAM_NAME_MAX - 1);
    if (vf_params_find(p, name) >= 0 || vf_params_find_buffer(p, name) >= 0)
        return vf__error(VF_ERR_ARG, "%s: duplicate name '%s'", what, name);
    if (ndim < 1 || ndim > VF_MAX_DIMS)
        return vf__error(VF_ERR_SHAPE, "%s: '%s' has %d dimensions (1 to %d)", what, name, ndim, VF_MAX_DIMS);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1 || numel > INT64_MAX / shape[i] / 2)
            return vf__error(VF_ERR_SHAPE, "%s: '%s' has an invalid extent %lld", what, name, (long long)shape[i]);
        numel *= shape[i];
    }
    int64_t *size = buffer ? &p->bsize : &p->size;
    if (*size > INT64_MAX / 4 - numel) return vf__error(VF_ERR_NOMEM, "%s: total size overflows", what);
    vf_rng probe;
    vf_rng_init(&probe, 0, 0);
    vf_status s = vf_init_fill(&init, &probe, NULL, 0);
    if (s != VF_OK) return vf__error(s, "%s: '%s': %s", what, name, vf_last_error());
    entry **list = buffer ? &p->b : &p->e;
    int32_t *n = buffer ? &p->nb : &p->n, *cap = buffer ? &p->bcap : &p->cap;
    if (*n == *cap) {
        int32_t c = *cap ? 2 * *cap : 16;
        entry *e = vf_realloc(*list, (size_t)c * sizeof *e);
        if (!e) return VF_ERR_NOMEM;
        *list = e;
        *cap = c;
    }
    entry *e = &(*list)[*n];
    memset(e, 0, sizeof *e);
    memcpy(e->name, name, len + 1);
    e->offset = *size;
    e->numel = numel;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->init = init;
    e->mark = p->n;
    *size += numel;
    if (id) *id = *n;
    (*n)++;
    return VF_OK;
}

vf_status vf_params_add(vf_params *p, const char *name, int ndim, const int64_t *shape, vf_init init, int32_t *id)
{
    return add_entry(p, 0, name, ndim, shape, init, id);
}

vf_status vf_params_add_buffer(vf_params *p, const char *name, int ndim, const int64_t *shape, vf_init init,
                               int32_t *id)
{
    return add_entry(p, 1, name, ndim, shape, init, id);
}

void vf__params_truncate(vf_params *p, int32_t count)
{
    if (!p || p->values || count < 0 || count >= p->n) return;
    p->n = count;
    p->size = count ? p->e[count - 1].offset + p->e[count - 1].numel : 0;
    while (p->nb > 0 && p->b[p->nb - 1].mark > count) p->nb--;
    p->bsize = p->nb ? p->b[p->nb - 1].offset + p->b[p->nb - 1].numel : 0;
}

vf_status vf__params_rename(vf_params *p, int buffer, int32_t id, const char *name)
{
    if (!p || !name || id < 0 || id >= (buffer ? p->nb : p->n))
        return vf__error(VF_ERR_ARG, "params_rename: invalid tensor or name");
    size_t len = strlen(name);
    if (len == 0 || len >= VF_PARAM_NAME_MAX)
        return vf__error(VF_ERR_ARG, "params_rename: name must have 1 to %d characters", VF_PARAM_NAME_MAX - 1);
    memcpy((buffer ? p->b : p->e)[id].name, name, len + 1);
    return VF_OK;
}

/* Parameter i draws from stream i of the seed, buffer i from stream 2^32 + i. */
static vf_status init_all(vf_params *p, uint64_t seed)
{
    for (int32_t i = 0; i < p->n; i++) {
        vf_rng r;
        vf_rng_init(&r, seed, (uint64_t)i);
        vf_status s = vf_init_fill(&p->e[i].init, &r, p->values + p->e[i].offset, p->e[i].numel);
        if (s != VF_OK) return s;
    }
    for (int32_t i = 0; i < p->nb; i++) {
        vf_rng r;
        vf_rng_init(&r, seed, ((uint64_t)1 << 32) + (uint64_t)i);
        vf_status s = vf_init_fill(&p->b[i].init, &r, p->bvalues + p->b[i].offset, p->b[i].numel);
        if (s != VF_OK) return s;
    }
    return VF_OK;
}

vf_status vf_params_finalize(vf_params *p, uint64_t seed)
{
    if (!p) return vf__error(VF_ERR_ARG, "params_finalize: NULL store");
    if (p->values) return vf__error(VF_ERR_STATE, "params_finalize: already finalized");
    size_t n = (size_t)(p->size ? p->size : 1);
    vf_real *v = vf_calloc(n, sizeof(vf_real));
    vf_real *g = v ? vf_calloc(n, sizeof(vf_real)) : NULL;
    vf_real *bv = g ? vf_calloc((size_t)(p->bsize ? p->bsize : 1), sizeof(vf_real)) : NULL;
    if (!v || !g || !bv) {
        vf_free(v);
        vf_free(g);
        return VF_ERR_NOMEM;
    }
    p->values = v;
    p->grads = g;
    p->bvalues = bv;
    return init_all(p, seed);
}

vf_status vf_params_reinit(vf_params *p, uint64_t seed)
{
    if (!p) return vf__error(VF_ERR_ARG, "params_reinit: NULL store");
    if (!p->values) return vf__error(VF_ERR_STATE, "params_reinit: store is not finalized");
    return init_all(p, seed);
}

int vf_params_is_finalized(const vf_params *p) { return p && p->values; }
int32_t vf_params_count(const vf_params *p) { return p ? p->n : 0; }
int64_t vf_params_size(const vf_params *p) { return p ? p->size : 0; }
vf_real *vf_params_values(vf_params *p) { return p ? p->values : NULL; }
vf_real *vf_params_grads(vf_params *p) { return p ? p->grads : NULL; }

static vf_status info_of(const entry *e, vf_param_info *info);

vf_status vf_params_info(const vf_params *p, int32_t id, vf_param_info *info)
{
    if (!p || !info) return vf__error(VF_ERR_ARG, "params_info: NULL argument");
    if (id < 0 || id >= p->n) return vf__error(VF_ERR_ARG, "params_info: no tensor %d (store has %d)", (int)id, (int)p->n);
    return info_of(&p->e[id], info);
}

vf_status vf_params_buffer_info(const vf_params *p, int32_t id, vf_param_info *info)
{
    if (!p || !info) return vf__error(VF_ERR_ARG, "params_buffer_info: NULL argument");
    if (id < 0 || id >= p->nb)
        return vf__error(VF_ERR_ARG, "params_buffer_info: no buffer %d (store has %d)", (int)id, (int)p->nb);
    return info_of(&p->b[id], info);
}

static vf_status info_of(const entry *e, vf_param_info *info)
{
    memset(info, 0, sizeof *info);
    info->name = e->name;
    info->offset = e->offset;
    info->numel = e->numel;
    info->ndim = e->ndim;
    for (int i = 0; i < e->ndim; i++) info->shape[i] = e->shape[i];
    return VF_OK;
}

vf_real *vf_params_data(vf_params *p, int32_t id)
{
    if (!p || !p->values || id < 0 || id >= p->n) return NULL;
    return p->values + p->e[id].offset;
}

vf_real *vf_params_grad(vf_params *p, int32_t id)
{
    if (!p || !p->grads || id < 0 || id >= p->n) return NULL;
    return p->grads + p->e[id].offset;
}

void vf_params_zero_grad(vf_params *p)
{
    if (p && p->grads) memset(p->grads, 0, (size_t)p->size * sizeof(vf_real));
}

vf_var vf_params_var(vf_params *p, vf_tape *t, int32_t id)
{
    if (!vf__ok(t, "params_var", 0, NULL)) return VF_NOVAR;
    if (!p || !p->values) return vf__fail(t, VF_ERR_STATE, "params_var: parameter store missing or not finalized");
    if (id < 0 || id >= p->n) return vf__fail(t, VF_ERR_ARG, "params_var: no tensor %d (store has %d)", (int)id, (int)p->n);
    const entry *e = &p->e[id];
    return vf_param(t, p->values + e->offset, p->grads + e->offset, e->ndim, e->shape);
}

int32_t vf_params_buffer_count(const vf_params *p) { return p ? p->nb : 0; }
int64_t vf_params_buffer_size(const vf_params *p) { return p ? p->bsize : 0; }
vf_real *vf_params_buffers(vf_params *p) { return p ? p->bvalues : NULL; }

vf_real *vf_params_buffer_data(vf_params *p, int32_t id)
{
    if (!p || !p->bvalues || id < 0 || id >= p->nb) return NULL;
    return p->bvalues + p->b[id].offset;
}

void vf_params_set_training(vf_params *p, int training)
{
    if (p) p->training = training != 0;
}

int vf_params_training(const vf_params *p) { return p ? p->training : 0; }
