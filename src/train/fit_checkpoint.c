/* fit_checkpoint.c — writing and reading training checkpoints (layout in vf_train.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train/train_internal.h"

#define KEY_LEN 40
#define VALUE_LEN 96
#define N_RESUME_KEYS 13

static const char *const state_prefix[3] = {"fit.adam.m.", "fit.adam.v.", "fit.best."};
#define EXTRA_PREFIX "fit.extra."

static void put_real(char *out, double x) { snprintf(out, VALUE_LEN, "%.17g", x); }

static void put_rng(char *out, const vf_rng *r)
{
    snprintf(out, VALUE_LEN, "%" PRIu32 " %" PRIu32 " %" PRIu64 " %" PRIu64, r->key[0], r->key[1], r->counter,
             r->stream);
}

vf_status vf_fit_checkpoint_write(void *ctx, const vf_fit_state *st)
{
    const vf_fit_ckpt *ck = ctx;
    vf_params *p = ck->cnf ? ck->cnf->params : ck->p;
    int32_t count = vf_params_count(p);
    if (st->size != vf_params_size(p)) return vf__error(VF_ERR_STATE, "checkpoint: state and store sizes differ");
    /* metadata: the run's keys (fit.epochs, fit.steps and fit.valid_nll replaced by the state's) + resume keys */
    int64_t nk = ck->n_meta + N_RESUME_KEYS + 3;
    const char **keys = calloc((size_t)nk, sizeof *keys), **values = calloc((size_t)nk, sizeof *values);
    char(*text)[VALUE_LEN] = calloc(N_RESUME_KEYS + 3, sizeof *text);
    int32_t nbuf = vf_params_buffer_count(p);
    size_t slots = 3 * (size_t)count + (size_t)nbuf + (size_t)(st->n_extra > 0 ? st->n_extra : 0) + 1;
    vf_model_tensor *tensors = calloc(slots, sizeof *tensors);
    char(*names)[VF_PARAM_NAME_MAX + 16] = calloc(slots, sizeof *names);
    vf_status s = VF_OK;
    if (!keys || !values || !text || !tensors || !names) {
        s = vf__error(VF_ERR_NOMEM, "%s: out of memory writing the checkpoint", ck->path);
        goto done;
    }
    int64_t k = 0;
    for (int64_t i = 0; i < ck->n_meta; i++) {
        if (strcmp(ck->keys[i], "fit.epochs") == 0 || strcmp(ck->keys[i], "fit.steps") == 0 ||
            strcmp(ck->keys[i], "fit.valid_nll") == 0 || strcmp(ck->keys[i], "fit.train_nll") == 0 ||
            strcmp(ck->keys[i], "fit.train_loss") == 0 || strcmp(ck->keys[i], "fit.valid_loss") == 0)
            continue;
        keys[k] = ck->keys[i];
        values[k++] = ck->values[i];
    }
    static const char *const rk[N_RESUME_KEYS + 3] = {
        "fit.resume.epoch",      "fit.resume.step",       "fit.resume.bad",        "fit.resume.best_epoch",
        "fit.resume.best_valid", "fit.resume.last_train", "fit.resume.last_valid", "fit.resume.seconds",
        "fit.resume.adam_step",  "fit.resume.shuffle",    "fit.resume.noise",      "fit.resume.train_rows",
        "fit.resume.dim",        "fit.epochs",            "fit.steps",             "fit.train_nll"};
    const char *const last_key = ck->cnf ? "fit.train_loss" : rk[N_RESUME_KEYS + 2]; /* a loss, not an NLL */
    int j = 0;
    snprintf(text[j++], VALUE_LEN, "%lld", (long long)st->epoch);
    snprintf(text[j++], VALUE_LEN, "%lld", (long long)st->step);
    snprintf(text[j++], VALUE_LEN, "%lld", (long long)st->bad);
    snprintf(text[j++], VALUE_LEN, "%lld", (long long)st->best_epoch);
    put_real(text[j++], st->best_valid);
    put_real(text[j++], st->last_train);
    put_real(text[j++], st->last_valid);
    put_real(text[j++], st->seconds);
    snprintf(text[j++], VALUE_LEN, "%lld", (long long)st->adam_step);
    put_rng(text[j++], &st->shuffle);
    put_rng(text[j++], &st->noise);
    snprintf(text[j++], VALUE_LEN, "%lld", (long long)ck->train_rows);
    snprintf(text[j++], VALUE_LEN, "%lld", (long long)ck->dim);
    snprintf(text[j++], VALUE_LEN, "%lld", (long long)st->epoch);
    snprintf(text[j++], VALUE_LEN, "%lld", (long long)st->step);
    put_real(text[j++], st->last_train);
    for (int i = 0; i < j; i++) {
        keys[k] = i == N_RESUME_KEYS + 2 ? last_key : rk[i];
        values[k++] = text[i];
    }
    const vf_real *src[3] = {st->adam_m, st->adam_v, st->best};
    int64_t nt = 0;
    for (int32_t id = 0; id < count; id++) {
        vf_param_info info;
        if ((s = vf_params_info(p, id, &info)) != VF_OK) goto done;
        for (int w = 0; w < 3; w++, nt++) {
            snprintf(names[nt], sizeof names[nt], "%s%s", state_prefix[w], info.name);
            tensors[nt].name = names[nt];
            tensors[nt].ndim = info.ndim;
            memcpy(tensors[nt].shape, info.shape, sizeof info.shape);
            tensors[nt].data = src[w] + info.offset;
        }
    }
    if (st->buffer_size != vf_params_buffer_size(p)) {
        s = vf__error(VF_ERR_STATE, "checkpoint: state and store buffer sizes differ");
        goto done;
    }
    for (int32_t id = 0; id < nbuf; id++, nt++) {
        vf_param_info info;
        if ((s = vf_params_buffer_info(p, id, &info)) != VF_OK) goto done;
        snprintf(names[nt], sizeof names[nt], "%s%s", state_prefix[2], info.name);
        tensors[nt].name = names[nt];
        tensors[nt].ndim = info.ndim;
        memcpy(tensors[nt].shape, info.shape, sizeof info.shape);
        tensors[nt].data = st->best_buffers + info.offset;
    }
    for (int32_t i = 0; i < st->n_extra; i++, nt++) {
        const vf_fit_extra *x = &st->extra[i];
        snprintf(names[nt], sizeof names[nt], "%s%s", EXTRA_PREFIX, x->name);
        tensors[nt].name = names[nt];
        tensors[nt].ndim = 1;
        tensors[nt].shape[0] = x->numel;
        tensors[nt].data_f64 = x->data;
    }
    if (ck->cnf) s = vf_cnf_model_save(ck->cnf, ck->path, k, keys, values, nt, tensors);
    else s = vf_flow_save_with(ck->flow, p, ck->path, k, keys, values, nt, tensors);
    if (s != VF_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s", vf_last_error());
        s = strstr(msg, ck->path) ? vf__error(s, "%s", msg) : vf__error(s, "cannot write checkpoint %s: %s", ck->path, msg);
    }
done:
    free(keys);
    free(values);
    free(text);
    free(tensors);
    free(names);
    return s;
}

int vf_fit_checkpoint_is(const vf_model_meta *meta) { return vf_model_meta_get(meta, "fit.resume.epoch") != NULL; }

void vf_fit_state_free(vf_fit_state *st)
{
    if (!st) return;
    free(st->best);
    free(st->adam_m);
    free(st->adam_v);
    free(st->best_buffers);
    st->best = st->adam_m = st->adam_v = st->best_buffers = NULL;
    for (int32_t i = 0; i < st->n_extra; i++) free(st->extra[i].data);
    free(st->extra);
    st->extra = NULL;
    st->n_extra = 0;
}

/* The metadata value of key: an integer in 0..2^53 (a count of epochs, steps or rows: far below, and
 * room to count on without overflow), a real, or a generator. VF_ERR_FORMAT when missing or
 * malformed. */
static vf_status get_i64(const vf_model_meta *m, const char *path, const char *key, int64_t *out)
{
    const char *v = vf_model_meta_get(m, key);
    char *end = NULL;
    errno = 0;
    long long x = v ? strtoll(v, &end, 10) : -1;
    if (!v || end == v || *end || errno || x < 0 || x > (1LL << 53))
        return vf__error(VF_ERR_FORMAT, "%s: checkpoint key %s is %s", path, key, v ? "malformed" : "missing");
    *out = (int64_t)x;
    return VF_OK;
}

static vf_status get_real(const vf_model_meta *m, const char *path, const char *key, double *out)
{
    const char *v = vf_model_meta_get(m, key);
    char *end = NULL;
    double x = v ? strtod(v, &end) : 0.0;
    if (!v || end == v || *end)
        return vf__error(VF_ERR_FORMAT, "%s: checkpoint key %s is %s", path, key, v ? "malformed" : "missing");
    *out = x;
    return VF_OK;
}

static vf_status get_rng(const vf_model_meta *m, const char *path, const char *key, vf_rng *r)
{
    const char *v = vf_model_meta_get(m, key);
    uint32_t k0 = 0, k1 = 0;
    uint64_t counter = 0, stream = 0;
    char tail = 0;
    if (!v || sscanf(v, "%" SCNu32 " %" SCNu32 " %" SCNu64 " %" SCNu64 " %c", &k0, &k1, &counter, &stream, &tail) != 4)
        return vf__error(VF_ERR_FORMAT, "%s: checkpoint key %s is %s", path, key, v ? "malformed" : "missing");
    r->key[0] = k0;
    r->key[1] = k1;
    r->counter = counter;
    r->stream = stream;
    return VF_OK;
}

/* Every "fit.extra.<name>" tensor of f into st->extra (owned). */
static vf_status read_extra(const vf_st_file *f, const char *path, vf_fit_state *st)
{
    size_t plen = strlen(EXTRA_PREFIX);
    int64_t count = vf_st_count(f), n = 0;
    for (int64_t i = 0; i < count; i++) n += strncmp(vf_st_name(f, i), EXTRA_PREFIX, plen) == 0;
    if (n == 0) return VF_OK;
    if (n > INT32_MAX || !(st->extra = calloc((size_t)n, sizeof *st->extra)))
        return vf__error(VF_ERR_NOMEM, "%s: out of memory reading the checkpoint", path);
    for (int64_t i = 0; i < count; i++) {
        const char *name = vf_st_name(f, i);
        if (strncmp(name, EXTRA_PREFIX, plen) != 0) continue;
        vf_fit_extra *x = &st->extra[st->n_extra];
        int ndim = 0;
        int64_t shape[8];
        vf_status s = vf_st_info(f, name, NULL, &ndim, shape, NULL);
        if (s == VF_OK && (ndim != 1 || strlen(name + plen) >= sizeof x->name))
            s = vf__error(VF_ERR_FORMAT, "%s: checkpoint tensor %s is not a 1-D array with a short name", path, name);
        if (s != VF_OK) return s;
        snprintf(x->name, sizeof x->name, "%s", name + plen);
        x->numel = shape[0];
        if (!(x->data = malloc(sizeof(double) * (size_t)(shape[0] > 0 ? shape[0] : 1))))
            return vf__error(VF_ERR_NOMEM, "%s: out of memory reading the checkpoint", path);
        st->n_extra++;
        if ((s = vf_st_get_into_f64(f, name, x->data, x->numel)) != VF_OK) return s;
    }
    return VF_OK;
}

vf_status vf_fit_checkpoint_read(const char *path, const vf_model_meta *meta, vf_params *p, vf_fit_state *st)
{
    memset(st, 0, sizeof *st);
    if (!vf_fit_checkpoint_is(meta))
        return vf__error(VF_ERR_FORMAT, "%s is a model file but not a checkpoint (no fit.resume.* metadata; write one "
                         "with --checkpoint)", path);
    vf_status s = VF_OK;
    if (s == VF_OK) s = get_i64(meta, path, "fit.resume.epoch", &st->epoch);
    if (s == VF_OK) s = get_i64(meta, path, "fit.resume.step", &st->step);
    if (s == VF_OK) s = get_i64(meta, path, "fit.resume.bad", &st->bad);
    if (s == VF_OK) s = get_i64(meta, path, "fit.resume.best_epoch", &st->best_epoch);
    if (s == VF_OK) s = get_real(meta, path, "fit.resume.best_valid", &st->best_valid);
    if (s == VF_OK) s = get_real(meta, path, "fit.resume.last_train", &st->last_train);
    if (s == VF_OK) s = get_real(meta, path, "fit.resume.last_valid", &st->last_valid);
    if (s == VF_OK) s = get_real(meta, path, "fit.resume.seconds", &st->seconds);
    if (s == VF_OK) s = get_i64(meta, path, "fit.resume.adam_step", &st->adam_step);
    if (s == VF_OK) s = get_rng(meta, path, "fit.resume.shuffle", &st->shuffle);
    if (s == VF_OK) s = get_rng(meta, path, "fit.resume.noise", &st->noise);
    if (s != VF_OK) return s;
    int64_t n = vf_params_size(p);
    st->size = n;
    size_t bytes = sizeof(vf_real) * (size_t)(n > 0 ? n : 1);
    st->best = malloc(bytes);
    st->adam_m = malloc(bytes);
    st->adam_v = malloc(bytes);
    st->buffer_size = vf_params_buffer_size(p);
    st->best_buffers = malloc(sizeof(vf_real) * (size_t)(st->buffer_size > 0 ? st->buffer_size : 1));
    vf_st_file *f = NULL;
    if (!st->best || !st->adam_m || !st->adam_v || !st->best_buffers) {
        vf_fit_state_free(st);
        return vf__error(VF_ERR_NOMEM, "%s: out of memory reading the checkpoint", path);
    }
    if ((s = vf_st_open(path, &f)) != VF_OK) {
        vf_fit_state_free(st);
        return s;
    }
    vf_real *dst[3] = {st->adam_m, st->adam_v, st->best};
    for (int32_t id = 0; s == VF_OK && id < vf_params_count(p); id++) {
        vf_param_info info;
        if ((s = vf_params_info(p, id, &info)) != VF_OK) break;
        for (int w = 0; s == VF_OK && w < 3; w++) {
            char name[VF_PARAM_NAME_MAX + 16];
            snprintf(name, sizeof name, "%s%s", state_prefix[w], info.name);
            vf_st_dtype dt;
            int ndim = 0;
            int64_t shape[8];
            int same = vf_st_has(f, name) && vf_st_info(f, name, &dt, &ndim, shape, NULL) == VF_OK &&
                       ndim == info.ndim;
            for (int q = 0; same && q < ndim; q++) same = shape[q] == info.shape[q];
            if (!same) s = vf__error(VF_ERR_FORMAT, "%s: checkpoint tensor %s is missing or has the wrong shape", path, name);
            else s = vf_st_get_into(f, name, dst[w] + info.offset, info.numel);
        }
    }
    for (int32_t id = 0; s == VF_OK && id < vf_params_buffer_count(p); id++) {
        vf_param_info info;
        if ((s = vf_params_buffer_info(p, id, &info)) != VF_OK) break;
        char name[VF_PARAM_NAME_MAX + 16];
        snprintf(name, sizeof name, "%s%s", state_prefix[2], info.name);
        if (!vf_st_has(f, name)) s = vf__error(VF_ERR_FORMAT, "%s: checkpoint tensor %s is missing", path, name);
        else s = vf_st_get_into(f, name, st->best_buffers + info.offset, info.numel);
    }
    if (s == VF_OK) s = read_extra(f, path, st);
    vf_st_close(f);
    if (s != VF_OK) vf_fit_state_free(st);
    return s;
}
