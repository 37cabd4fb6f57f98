/* made.c — the MADE network (Germain et al. 2015) with optional residual blocks (as in Durkan et
 * al.'s neural spline flows), a context reaching every hidden unit, and k outputs per dimension.
 *
 * The module owns its degrees and its 0/1 masks (one buffer); its masked layers borrow them.
 * Masked layer order (as vf_made_mask_of numbers them): the input layer; then the hidden layers
 * (plain) or linear1, linear2 of each block (residual); then the output layer. In the residual
 * network every hidden unit keeps the degrees of the input layer's units, so h + f(h) stays
 * autoregressive, and the blocks share one [hidden, hidden] mask.
 */
#include <stdio.h>
#include <stdlib.h>
#include "nn/made_internal.h"

vf_made_params vf_made_default_params(int64_t features)
{
    vf_made_params mp;
    mp.features = features;
    mp.hidden = 64;
    mp.depth = 2;
    mp.residual = 0;
    mp.context_features = 0;
    mp.output_multiplier = 1;
    mp.order = VF_ORDER_SEQUENTIAL;
    mp.random_degrees = 0;
    mp.hidden_layout = VF_HIDDEN_SORTED;
    mp.seed = 0;
    mp.act = VF_ACT_RELU;
    mp.init = VF_INIT_TORCH;
    mp.zero_init_output = 0;
    return mp;
}

void vf_made_free(vf_made *m)
{
    if (!m) return;
    vf_free(m->deg_in);
    vf_free(m->mask);
    vf_free(m->mask_out);
    vf_free(m->mask_in);
    vf_free(m->mask_buf);
    vf_free(m->hidden);
    vf_free(m->blocks);
    vf_free(m->hid_perm);
    vf_free(m->hid_count);
    vf_free(m->in_by_degree);
    vf_free(m);
}

static int32_t min_degree(const int32_t *deg, int64_t n)
{
    int32_t lo = deg[0];
    for (int64_t i = 1; i < n; i++) lo = deg[i] < lo ? deg[i] : lo;
    return lo;
}

static int compare_degrees(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Degrees and masks. hid_deg [n_hid_layers, h] is scratch. */
static vf_status make_masks(vf_made *m, int32_t *hid_deg, int n_hid_layers, int32_t *out_deg)
{
    const vf_made_params *mp = &m->mp;
    int64_t d = mp->features, h = mp->hidden, k = mp->output_multiplier;
    vf_rng r;
    vf_rng_init(&r, mp->seed, 0x48494444u); /* hidden-degree stream */
    vf_status s = vf_made_input_degrees(d, mp->order, mp->seed, m->deg_in);
    int32_t prev_min = mp->context_features > 0 ? 0 : 1;
    for (int l = 0; l < n_hid_layers && s == VF_OK; l++) {
        s = vf_made_hidden_degrees(d, h, mp->random_degrees, prev_min, &r, hid_deg + (int64_t)l * h);
        if (s == VF_OK && mp->hidden_layout == VF_HIDDEN_SORTED)
            qsort(hid_deg + (int64_t)l * h, (size_t)h, sizeof *hid_deg, compare_degrees);
        prev_min = min_degree(hid_deg + (int64_t)l * h, h);
    }
    if (s != VF_OK) return s;
    for (int64_t o = 0; o < d * k; o++) out_deg[o] = m->deg_in[o / k];
    vf__made_index_degrees(m, hid_deg, n_hid_layers);
    /* the buffer holds: input mask [h, d], n_hid_layers - 1 hidden masks [h, h], output mask [d k, h] */
    vf_real *at = m->mask_buf;
    const int32_t *last = hid_deg + (int64_t)(n_hid_layers - 1) * h;
    vf_made_mask(m->deg_in, d, hid_deg, h, 0, at);
    const vf_real *input_mask = at;
    at += h * d;
    const vf_real *shared = NULL;
    for (int l = 1; l < n_hid_layers; l++) {
        vf_made_mask(hid_deg + (int64_t)(l - 1) * h, h, hid_deg + (int64_t)l * h, h, 0, at);
        shared = at;
        at += h * h;
    }
    if (mp->residual) {
        vf_made_mask(hid_deg, h, hid_deg, h, 0, at);
        shared = at;
        at += h * h;
    }
    vf_made_mask(last, h, out_deg, d * k, 1, at);
    const vf_real *output_mask = at;

    int i = 0;
    m->mask[i] = input_mask;
    m->mask_out[i] = h;
    m->mask_in[i++] = d;
    for (int l = 1; !mp->residual && l < n_hid_layers; l++) {
        m->mask[i] = m->mask_buf + h * d + (int64_t)(l - 1) * h * h;
        m->mask_out[i] = h;
        m->mask_in[i++] = h;
    }
    for (int b = 0; mp->residual && b < 2 * mp->depth; b++) {
        m->mask[i] = shared;
        m->mask_out[i] = h;
        m->mask_in[i++] = h;
    }
    m->mask[i] = output_mask;
    m->mask_out[i] = d * k;
    m->mask_in[i] = h;
    return VF_OK;
}

static vf_status add_masked(vf_masked_linear_layer *l, vf_params *p, const char *name, const char *suffix,
                            const vf_made *m, int which, vf_init_kind init)
{
    char buf[VF_PARAM_NAME_MAX];
    vf_status s = vf__nn_name(buf, name, suffix);
    return s == VF_OK ? vf_masked_linear_layer_init(l, p, buf, m->mask_in[which], m->mask_out[which], m->mask[which], init)
                      : s;
}

static vf_status add_context(vf_linear_layer *l, vf_params *p, const char *name, const char *suffix, const vf_made *m)
{
    char buf[VF_PARAM_NAME_MAX];
    vf_linear_params lp = vf_linear_default_params(m->mp.context_features, m->mp.hidden);
    lp.init = m->mp.init;
    vf_status s = vf__nn_name(buf, name, suffix);
    return s == VF_OK ? vf_linear_layer_init(l, p, buf, &lp) : s;
}

static vf_status register_layers(vf_made *m, vf_params *p, const char *name)
{
    const vf_made_params *mp = &m->mp;
    int ctx = mp->context_features > 0;
    char sfx[64];
    int w = 0;
    vf_status s = add_masked(&m->input, p, name, "input", m, w++, mp->init);
    if (s == VF_OK && ctx) s = add_context(&m->context, p, name, "context", m);
    if (!mp->residual) {
        for (int l = 0; l < mp->depth - 1 && s == VF_OK; l++) {
            snprintf(sfx, sizeof sfx, "hidden.%d", l);
            s = add_masked(&m->hidden[l], p, name, sfx, m, w++, mp->init);
        }
    } else {
        for (int b = 0; b < mp->depth && s == VF_OK; b++) {
            made_block *k = &m->blocks[b];
            k->context.weight = -1;
            snprintf(sfx, sizeof sfx, "blocks.%d.linear1", b);
            s = add_masked(&k->linear1, p, name, sfx, m, w++, mp->init);
            if (s == VF_OK && ctx) {
                snprintf(sfx, sizeof sfx, "blocks.%d.context", b);
                s = add_context(&k->context, p, name, sfx, m);
            }
            if (s == VF_OK) {
                snprintf(sfx, sizeof sfx, "blocks.%d.linear2", b);
                s = add_masked(&k->linear2, p, name, sfx, m, w++, VF_INIT_ZEROS);
            }
        }
    }
    if (s == VF_OK) s = add_masked(&m->output, p, name, "output", m, w, mp->zero_init_output ? VF_INIT_ZEROS : mp->init);
    return s;
}

vf_status vf_made_new(vf_params *p, const char *name, const vf_made_params *mp, vf_made **out)
{
    if (!p || !mp || !out) return vf__error(VF_ERR_ARG, "made: NULL argument");
    *out = NULL;
    if (mp->features < 1 || mp->features > (1 << 24) || mp->hidden < 1 || mp->context_features < 0 ||
        mp->output_multiplier < 1 || mp->output_multiplier > (1 << 16) || mp->depth < (mp->residual ? 0 : 1) ||
        mp->depth > 4096)
        return vf__error(VF_ERR_ARG, "made: need features, hidden, output_multiplier >= 1, context >= 0, and depth >= 1 "
                                     "(>= 0 for a residual network)");
    if ((int)mp->act < 0 || mp->act >= VF_ACT_COUNT) return vf__error(VF_ERR_ARG, "made: unknown activation %d", (int)mp->act);
    if (mp->hidden_layout != VF_HIDDEN_SORTED && mp->hidden_layout != VF_HIDDEN_INTERLEAVED)
        return vf__error(VF_ERR_ARG, "made: unknown hidden layout %d", (int)mp->hidden_layout);
    int64_t d = mp->features, h = mp->hidden, k = mp->output_multiplier;
    int n_hid_layers = mp->residual ? 1 : mp->depth;
    /* Mask elements (below) in double first: d k h alone can pass 2^63 for valid-looking sizes. */
    double n_mask_estimate = (double)h * (double)d + (double)(mp->residual ? 1 : n_hid_layers - 1) * (double)h * (double)h +
                             (double)d * (double)k * (double)h;
    if (n_mask_estimate > 0x1p40)
        return vf__error(VF_ERR_ARG, "made: %lld features x %lld hidden x %lld outputs each is too large", (long long)d,
                         (long long)h, (long long)k);
    int n_masks = mp->residual ? 2 + 2 * mp->depth : mp->depth + 1;
    /* mask elements: input h d, plain hidden (depth - 1) h h or one shared h h, output d k h */
    int64_t n_mask = h * d + (int64_t)(mp->residual ? 1 : n_hid_layers - 1) * h * h + d * k * h;

    vf_made *m = vf_calloc(1, sizeof *m);
    if (!m) return VF_ERR_NOMEM;
    m->mp = *mp;
    m->n_masks = n_masks;
    m->deg_in = vf_calloc((size_t)d, sizeof *m->deg_in);
    m->mask = vf_calloc((size_t)n_masks, sizeof *m->mask);
    m->mask_out = vf_calloc((size_t)n_masks, sizeof *m->mask_out);
    m->mask_in = vf_calloc((size_t)n_masks, sizeof *m->mask_in);
    m->mask_buf = vf_calloc((size_t)n_mask, sizeof *m->mask_buf);
    m->hidden = vf_calloc((size_t)(n_hid_layers > 1 ? n_hid_layers - 1 : 1), sizeof *m->hidden);
    m->blocks = vf_calloc((size_t)(mp->residual && mp->depth ? mp->depth : 1), sizeof *m->blocks);
    int32_t *hid_deg = vf_calloc((size_t)n_hid_layers * (size_t)h, sizeof *hid_deg);
    int32_t *out_deg = vf_calloc((size_t)(d * k), sizeof *out_deg);
    m->n_hid_layers = n_hid_layers;
    m->hid_perm = vf_calloc((size_t)n_hid_layers * (size_t)h, sizeof *m->hid_perm);
    m->hid_count = vf_calloc((size_t)n_hid_layers * (size_t)(d + 1), sizeof *m->hid_count);
    m->in_by_degree = vf_calloc((size_t)d, sizeof *m->in_by_degree);
    m->context.weight = -1;
    vf_status s = VF_OK;
    if (!m->deg_in || !m->mask || !m->mask_out || !m->mask_in || !m->mask_buf || !m->hidden || !m->blocks ||
        !hid_deg || !out_deg || !m->hid_perm || !m->hid_count || !m->in_by_degree)
        s = VF_ERR_NOMEM;
    if (s == VF_OK) s = make_masks(m, hid_deg, n_hid_layers, out_deg);
    vf_free(hid_deg);
    vf_free(out_deg);
    int32_t mark = vf_params_count(p);
    if (s == VF_OK) s = register_layers(m, p, name);
    if (s != VF_OK) {
        vf__params_truncate(p, mark);
        vf_made_free(m);
        return s;
    }
    *out = m;
    return VF_OK;
}

vf_var vf_made_forward(const vf_made *m, vf_params *p, vf_tape *t, vf_var x, vf_var context)
{
    if (!vf__ok(t, "made", 0, NULL)) return VF_NOVAR;
    if (!m) return vf__fail(t, VF_ERR_ARG, "made: NULL module");
    const vf_made_params *mp = &m->mp;
    int64_t n = 0;
    if (!vf__nn_check_2d(t, "made", x, mp->features, &n)) return VF_NOVAR;
    if (!vf__nn_check_context(t, "made", context, mp->context_features, n)) return VF_NOVAR;
    int ctx = mp->context_features > 0;
    /* activations are fused into the masked products wherever no context term comes between */
    vf_activation first_act = !mp->residual && !ctx ? mp->act : VF_ACT_NONE;
    vf_var h = vf_masked_linear_layer_forward_act(&m->input, p, t, x, first_act);
    if (ctx) h = vf_add(t, h, vf_linear_layer_forward(&m->context, p, t, context));
    if (!mp->residual) {
        if (first_act == VF_ACT_NONE) h = vf_activate(t, h, mp->act);
        for (int l = 0; l < mp->depth - 1; l++) h = vf_masked_linear_layer_forward_act(&m->hidden[l], p, t, h, mp->act);
    } else {
        for (int b = 0; b < mp->depth && h != VF_NOVAR; b++) {
            const made_block *k = &m->blocks[b];
            vf_var u = vf_masked_linear_layer_forward_act(&k->linear1, p, t, vf_activate(t, h, mp->act),
                                                          ctx ? VF_ACT_NONE : mp->act);
            if (ctx) u = vf_activate(t, vf_add(t, u, vf_linear_layer_forward(&k->context, p, t, context)), mp->act);
            u = vf_masked_linear_layer_forward(&k->linear2, p, t, u);
            h = vf_add(t, h, u);
        }
    }
    return vf_masked_linear_layer_forward(&m->output, p, t, h);
}

const int32_t *vf_made_degrees(const vf_made *m) { return m ? m->deg_in : NULL; }
const vf_made_params *vf_made_get_params(const vf_made *m) { return m ? &m->mp : NULL; }
int vf_made_n_masks(const vf_made *m) { return m ? m->n_masks : 0; }

const vf_real *vf_made_mask_of(const vf_made *m, int l, int64_t *out_features, int64_t *in_features)
{
    if (!m || l < 0 || l >= m->n_masks) return NULL;
    if (out_features) *out_features = m->mask_out[l];
    if (in_features) *in_features = m->mask_in[l];
    return m->mask[l];
}
