/* flow.c — the public transform and distribution wrappers (argument checks, then the vtable), and the
 * flow: a base distribution composed with a chain of transforms.
 *
 * log p(x) = log p_base(z) + sum_k ladj_k with z = T_K(... T_1(x)); sampling draws z from the base and
 * runs the inverses from T_K down to T_1.
 */
#include <stdio.h>
#include <string.h>
#include "flows/flow_internal.h"

struct vf_flow {
    vf_dist *base;
    int n;
    vf_transform **tr;
};

/* ---- helpers for implementations ---------------------------------------------------------- */

vf_var vf__flow_zeros(vf_tape *t, int64_t n)
{
    int64_t shape[1] = {n};
    return vf_zeros(t, 1, shape);
}

int64_t vf__flow_rows(vf_tape *t, vf_var x) { return vf__node(t, x)->value.shape[0]; }

vf_status vf__json_printf(char *json, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(json, len, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= len) return vf__error(VF_ERR_ARG, "describe: %zu bytes are not enough", len);
    return VF_OK;
}

vf_status vf__json_append(char *json, size_t len, size_t *pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = *pos < len ? vsnprintf(json + *pos, len - *pos, fmt, ap) : -1;
    va_end(ap);
    if (k < 0 || (size_t)k >= len - *pos) {
        if (len) json[len - 1] = '\0';
        return vf__error(VF_ERR_ARG, "describe: %zu bytes are not enough", len);
    }
    *pos += (size_t)k;
    return VF_OK;
}

vf_status vf__param_name(char *buf, size_t len, const char *name, const char *what)
{
    int k = name && name[0] ? snprintf(buf, len, "%s.%s", name, what) : snprintf(buf, len, "%s", what);
    if (k < 0 || (size_t)k >= len) return vf__error(VF_ERR_ARG, "parameter name '%s.%s' is too long", name, what);
    return VF_OK;
}

vf_var vf__flow_row_sum(vf_tape *t, vf_var x) { return vf_sum(t, x, -1, 0); }

vf_status vf__coupling_split_init(vf__coupling_split *s, int64_t d, const int *mask, int parity)
{
    memset(s, 0, sizeof *s);
    s->mask = vf_calloc((size_t)d, sizeof *s->mask);
    s->idx_a = vf_calloc((size_t)d, sizeof *s->idx_a);
    s->idx_b = vf_calloc((size_t)d, sizeof *s->idx_b);
    s->merge = vf_calloc((size_t)d, sizeof *s->merge);
    if (!s->mask || !s->idx_a || !s->idx_b || !s->merge) {
        vf__coupling_split_free(s);
        return VF_ERR_NOMEM;
    }
    for (int64_t i = 0; i < d; i++) s->mask[i] = mask ? mask[i] : (int)(i % 2 == parity);
    for (int64_t i = 0; i < d; i++) {
        if (s->mask[i]) s->idx_b[s->nb++] = i;
        else s->idx_a[s->na++] = i;
    }
    for (int64_t j = 0; j < s->na; j++) s->merge[s->idx_a[j]] = j;
    for (int64_t j = 0; j < s->nb; j++) s->merge[s->idx_b[j]] = s->na + j;
    return VF_OK;
}

void vf__coupling_split_free(vf__coupling_split *s)
{
    vf_free(s->mask);
    vf_free(s->idx_a);
    vf_free(s->idx_b);
    vf_free(s->merge);
    memset(s, 0, sizeof *s);
}

/* ---- argument checks shared by the wrappers ----------------------------------------------- */

/* x must be [n, d]; context [n, c] when c > 0, VF_NOVAR when c == 0. */
static int check_io(vf_tape *t, const char *what, vf_var x, int64_t d, vf_var ctx, int64_t c)
{
    vf_var in[2] = {x, ctx};
    if (!vf__ok(t, what, ctx == VF_NOVAR ? 1 : 2, in)) return 0;
    const vf_tensor *xv = vf_value(t, x);
    if (xv->ndim != 2 || xv->shape[1] != d) {
        char s[64];
        vf_tensor_shape_str(xv, s, sizeof s);
        vf__fail(t, VF_ERR_SHAPE, "%s: input has shape %s, expected [n, %lld]", what, s, (long long)d);
        return 0;
    }
    if (c == 0 && ctx != VF_NOVAR) {
        vf__fail(t, VF_ERR_ARG, "%s: a context was given to an unconditional model", what);
        return 0;
    }
    if (c > 0) {
        if (ctx == VF_NOVAR) {
            vf__fail(t, VF_ERR_ARG, "%s: the model needs a context of %lld columns", what, (long long)c);
            return 0;
        }
        const vf_tensor *cv = vf_value(t, ctx);
        if (cv->ndim != 2 || cv->shape[1] != c || cv->shape[0] != xv->shape[0]) {
            char s[64];
            vf_tensor_shape_str(cv, s, sizeof s);
            vf__fail(t, VF_ERR_SHAPE, "%s: context has shape %s, expected [%lld, %lld]", what, s,
                     (long long)xv->shape[0], (long long)c);
            return 0;
        }
    }
    return 1;
}

/* The implementation must leave a [n] log-determinant; anything else is a bug reported as an error. */
static vf_var checked_result(vf_tape *t, const char *what, vf_var y, vf_var x, vf_var *ladj)
{
    if (y == VF_NOVAR || vf_tape_status(t) != VF_OK) return VF_NOVAR;
    const vf_tensor *l = *ladj == VF_NOVAR ? NULL : vf_value(t, *ladj);
    if (!l || l->ndim != 1 || l->shape[0] != vf__flow_rows(t, x) ||
        !vf_tensor_same_shape(vf_value(t, y), vf_value(t, x)))
        return vf__fail(t, VF_ERR_STATE, "%s: transform returned malformed results", what);
    return y;
}

/* ---- transforms --------------------------------------------------------------------------- */

vf_var vf_transform_forward(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var context,
                            vf_var *ladj)
{
    if (!ladj) return vf__fail(t, VF_ERR_ARG, "transform: ladj is NULL");
    *ladj = VF_NOVAR;
    if (!tr) return vf__fail(t, VF_ERR_ARG, "transform: NULL transform");
    if (!check_io(t, tr->vt->kind, x, tr->dim, context, tr->context)) return VF_NOVAR;
    return checked_result(t, tr->vt->kind, tr->vt->forward(tr, p, t, x, context, ladj), x, ladj);
}

vf_var vf_transform_inverse(const vf_transform *tr, vf_params *p, vf_tape *t, vf_var z, vf_var context,
                            vf_var *ladj)
{
    if (!ladj) return vf__fail(t, VF_ERR_ARG, "transform: ladj is NULL");
    *ladj = VF_NOVAR;
    if (!tr) return vf__fail(t, VF_ERR_ARG, "transform: NULL transform");
    if (!check_io(t, tr->vt->kind, z, tr->dim, context, tr->context)) return VF_NOVAR;
    return checked_result(t, tr->vt->kind, tr->vt->inverse(tr, p, t, z, context, ladj), z, ladj);
}

vf_var vf_transform_data_init(vf_transform *tr, vf_params *p, vf_tape *t, vf_var x, vf_var context)
{
    if (!tr) return vf__fail(t, VF_ERR_ARG, "transform: NULL transform");
    if (!check_io(t, tr->vt->kind, x, tr->dim, context, tr->context)) return VF_NOVAR;
    if (tr->vt->data_init) return tr->vt->data_init(tr, p, t, x, context);
    vf_var ladj = VF_NOVAR;
    return tr->vt->forward(tr, p, t, x, context, &ladj);
}

void vf_transform_free(vf_transform *tr)
{
    if (tr) tr->vt->destroy(tr);
}

int64_t vf_transform_dim(const vf_transform *tr) { return tr ? tr->dim : 0; }
int64_t vf_transform_context_dim(const vf_transform *tr) { return tr ? tr->context : 0; }
const char *vf_transform_kind(const vf_transform *tr) { return tr ? tr->vt->kind : ""; }

vf_status vf_transform_describe(const vf_transform *tr, char *json, size_t len)
{
    if (!tr || !json || len == 0) return vf__error(VF_ERR_ARG, "describe: NULL argument");
    return tr->vt->describe(tr, json, len);
}

/* ---- base distributions ------------------------------------------------------------------- */

vf_var vf_dist_log_prob(const vf_dist *b, vf_params *p, vf_tape *t, vf_var z, vf_var context)
{
    if (!b) return vf__fail(t, VF_ERR_ARG, "distribution: NULL");
    if (!check_io(t, b->vt->kind, z, b->dim, context, b->context)) return VF_NOVAR;
    return b->vt->log_prob(b, p, t, z, context);
}

vf_var vf_dist_sample(const vf_dist *b, vf_params *p, vf_tape *t, int64_t n, vf_var context, vf_rng *r)
{
    if (!b || !r) return vf__fail(t, VF_ERR_ARG, "sample: NULL distribution or generator");
    if (!vf__ok(t, b->vt->kind, context == VF_NOVAR ? 0 : 1, &context)) return VF_NOVAR;
    if (n < 0) return vf__fail(t, VF_ERR_ARG, "%s: cannot draw %lld samples", b->vt->kind, (long long)n);
    if (b->context > 0) {
        if (context == VF_NOVAR)
            return vf__fail(t, VF_ERR_ARG, "%s: the model needs a context of %lld columns", b->vt->kind,
                            (long long)b->context);
        const vf_tensor *cv = vf_value(t, context);
        if (cv->ndim != 2 || cv->shape[1] != b->context || cv->shape[0] != n)
            return vf__fail(t, VF_ERR_SHAPE, "%s: %lld samples need a context of [%lld, %lld]", b->vt->kind,
                            (long long)n, (long long)n, (long long)b->context);
    } else if (context != VF_NOVAR) {
        return vf__fail(t, VF_ERR_ARG, "%s: a context was given to an unconditional model", b->vt->kind);
    }
    return b->vt->sample(b, p, t, n, context, r);
}

void vf_dist_free(vf_dist *b)
{
    if (b) b->vt->destroy(b);
}

int64_t vf_dist_dim(const vf_dist *b) { return b ? b->dim : 0; }
int64_t vf_dist_context_dim(const vf_dist *b) { return b ? b->context : 0; }
const char *vf_dist_kind(const vf_dist *b) { return b ? b->vt->kind : ""; }

vf_status vf_dist_describe(const vf_dist *b, char *json, size_t len)
{
    if (!b || !json || len == 0) return vf__error(VF_ERR_ARG, "describe: NULL argument");
    return b->vt->describe(b, json, len);
}

/* ---- the flow ----------------------------------------------------------------------------- */

vf_status vf_flow_new(vf_dist *base, int n, vf_transform *const *tr, vf_flow **out)
{
    vf_status s = VF_OK;
    if (out) *out = NULL;
    if (!base || !out || n < 0 || (n > 0 && !tr)) {
        s = vf__error(VF_ERR_ARG, "flow: NULL base, transforms or output");
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        if (!tr[i]) {
            s = vf__error(VF_ERR_ARG, "flow: transform %d is NULL", i);
            goto fail;
        }
        if (tr[i]->dim != base->dim || tr[i]->context != base->context) {
            s = vf__error(VF_ERR_SHAPE,
                          "flow: transform %d (%s) has dimension %lld and context %lld; the base has %lld and %lld", i,
                          tr[i]->vt->kind, (long long)tr[i]->dim, (long long)tr[i]->context, (long long)base->dim,
                          (long long)base->context);
            goto fail;
        }
    }
    vf_flow *f = vf_calloc(1, sizeof *f);
    vf_transform **list = n ? vf_calloc((size_t)n, sizeof *list) : NULL;
    if (!f || (n && !list)) {
        vf_free(f);
        vf_free(list);
        s = VF_ERR_NOMEM;
        goto fail;
    }
    for (int i = 0; i < n; i++) list[i] = tr[i];
    f->base = base;
    f->n = n;
    f->tr = list;
    *out = f;
    return VF_OK;
fail: /* ownership was taken: release everything */
    vf_dist_free(base);
    for (int i = 0; tr && i < n; i++) vf_transform_free(tr[i]);
    return s;
}

vf_transform *vf__flow_first_transform(const vf_flow *f) { return f && f->n > 0 ? f->tr[0] : NULL; }

vf_status vf__flow_prepend(vf_flow *f, int n, vf_transform *const *lead)
{
    vf_status s = VF_OK;
    if (!f || n < 0 || (n > 0 && !lead)) {
        s = vf__error(VF_ERR_ARG, "flow: NULL flow or leading transforms");
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        if (!lead[i] || lead[i]->dim != f->base->dim || lead[i]->context != f->base->context) {
            s = vf__error(lead[i] ? VF_ERR_SHAPE : VF_ERR_ARG,
                          "flow: leading transform %d is NULL or does not match the flow's dimension %lld and "
                          "context %lld", i, (long long)f->base->dim, (long long)f->base->context);
            goto fail;
        }
    }
    if (f->n > INT32_MAX - n) {
        s = vf__error(VF_ERR_ARG, "flow: too many transforms");
        goto fail;
    }
    if (n == 0) return VF_OK;
    vf_transform **list = vf_calloc((size_t)(f->n + n), sizeof *list);
    if (!list) {
        s = VF_ERR_NOMEM;
        goto fail;
    }
    for (int i = 0; i < n; i++) list[i] = lead[i];
    for (int i = 0; i < f->n; i++) list[n + i] = f->tr[i];
    vf_free(f->tr);
    f->tr = list;
    f->n += n;
    return VF_OK;
fail:
    for (int i = 0; lead && i < n; i++) vf_transform_free(lead[i]);
    return s;
}

void vf_flow_free(vf_flow *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++) vf_transform_free(f->tr[i]);
    vf_free(f->tr);
    vf_dist_free(f->base);
    vf_free(f);
}

int64_t vf_flow_dim(const vf_flow *f) { return f ? f->base->dim : 0; }
int64_t vf_flow_context_dim(const vf_flow *f) { return f ? f->base->context : 0; }
int vf_flow_n_transforms(const vf_flow *f) { return f ? f->n : 0; }
vf_transform *vf_flow_transform(const vf_flow *f, int i) { return f && i >= 0 && i < f->n ? f->tr[i] : NULL; }
const vf_dist *vf_flow_base(const vf_flow *f) { return f ? f->base : NULL; }

vf_var vf_flow_forward(const vf_flow *f, vf_params *p, vf_tape *t, vf_var x, vf_var context, vf_var *ladj)
{
    if (!f || !ladj) return vf__fail(t, VF_ERR_ARG, "flow: NULL flow or ladj");
    vf_var total = VF_NOVAR;
    for (int i = 0; i < f->n; i++) {
        vf_var l;
        x = vf_transform_forward(f->tr[i], p, t, x, context, &l);
        total = total == VF_NOVAR ? l : vf_add(t, total, l);
    }
    if (f->n == 0) {
        if (!check_io(t, "flow", x, f->base->dim, context, f->base->context)) return VF_NOVAR;
        total = vf__flow_zeros(t, vf__flow_rows(t, x));
    }
    *ladj = total;
    return vf_tape_status(t) == VF_OK ? x : VF_NOVAR;
}

vf_var vf_flow_inverse(const vf_flow *f, vf_params *p, vf_tape *t, vf_var z, vf_var context, vf_var *ladj)
{
    if (!f || !ladj) return vf__fail(t, VF_ERR_ARG, "flow: NULL flow or ladj");
    vf_var total = VF_NOVAR;
    for (int i = f->n - 1; i >= 0; i--) {
        vf_var l;
        z = vf_transform_inverse(f->tr[i], p, t, z, context, &l);
        total = total == VF_NOVAR ? l : vf_add(t, total, l);
    }
    if (f->n == 0) {
        if (!check_io(t, "flow", z, f->base->dim, context, f->base->context)) return VF_NOVAR;
        total = vf__flow_zeros(t, vf__flow_rows(t, z));
    }
    *ladj = total;
    return vf_tape_status(t) == VF_OK ? z : VF_NOVAR;
}

vf_var vf_flow_log_prob(const vf_flow *f, vf_params *p, vf_tape *t, vf_var x, vf_var context)
{
    vf_var ladj;
    vf_var z = vf_flow_forward(f, p, t, x, context, &ladj);
    if (z == VF_NOVAR) return VF_NOVAR;
    return vf_add(t, vf_dist_log_prob(f->base, p, t, z, context), ladj);
}

vf_var vf_flow_sample(const vf_flow *f, vf_params *p, vf_tape *t, int64_t n, vf_var context, vf_rng *r,
                      vf_var *log_prob)
{
    if (!f) return vf__fail(t, VF_ERR_ARG, "flow: NULL flow");
    if (log_prob) *log_prob = VF_NOVAR;
    vf_var z = vf_dist_sample(f->base, p, t, n, context, r);
    if (z == VF_NOVAR) return VF_NOVAR;
    return vf__flow_sample_from_base(f, p, t, z, context, log_prob);
}

vf_var vf__flow_sample_from_base(const vf_flow *f, vf_params *p, vf_tape *t, vf_var z, vf_var context,
                                 vf_var *log_prob)
{
    if (log_prob) *log_prob = VF_NOVAR;
    vf_var ladj;
    vf_var x = vf_flow_inverse(f, p, t, z, context, &ladj);
    if (x != VF_NOVAR && log_prob) *log_prob = vf_sub(t, vf_dist_log_prob(f->base, p, t, z, context), ladj);
    return x;
}

vf_status vf_flow_data_init(vf_flow *f, vf_params *p, vf_tape *t, vf_var x, vf_var context)
{
    if (!f) return vf__error(VF_ERR_ARG, "flow: NULL flow");
    for (int i = 0; i < f->n && x != VF_NOVAR; i++) x = vf_transform_data_init(f->tr[i], p, t, x, context);
    return vf_tape_status(t);
}
