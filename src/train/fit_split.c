/* fit_split.c — the argument checks and the validation split of vf_fit_table (train_internal.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "train/train_internal.h"

vf_fit_table_options vf_fit_table_default_options(void)
{
    vf_fit_table_options o;
    memset(&o, 0, sizeof o);
    o.fit = vf_fit_default_options();
    o.valid_fraction = 0.1;
    o.standardize = 1;
    o.nll_rows = 1000;
    o.box_alpha = VF_CNF_BOX_ALPHA;
    return o;
}

void vf__split_free(vf__split *sp)
{
    free(sp->train), free(sp->valid), free(sp->train_ctx), free(sp->valid_ctx);
    free(sp->train_lab), free(sp->valid_lab);
    memset(sp, 0, sizeof *sp);
}

/* A copy of `count` rows of width w of src: rows perm[first + i] (or first + i when perm is NULL). */
static vf_real *gather(const vf_real *src, int64_t w, const size_t *perm, int64_t first, int64_t count)
{
    vf_real *out = malloc(sizeof(vf_real) * (size_t)(count * w > 0 ? count * w : 1));
    for (int64_t i = 0; out && i < count; i++) {
        int64_t row = perm ? (int64_t)perm[first + i] : first + i;
        memcpy(out + i * w, src + row * w, sizeof(vf_real) * (size_t)w);
    }
    return out;
}

static int64_t *gather_labels(const int64_t *src, const size_t *perm, int64_t first, int64_t count)
{
    int64_t *out = malloc(sizeof(int64_t) * (size_t)(count > 0 ? count : 1));
    for (int64_t i = 0; out && i < count; i++) out[i] = src[perm ? (int64_t)perm[first + i] : first + i];
    return out;
}

/* VF_OK when every value of x [n, d] is an integer (dequantization needs that). */
static vf_status check_integers(const vf_real *x, int64_t n, int64_t d, const char *name, vf_fit_result *r)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) {
            double v = (double)x[i * d + j];
            if (!(floor(v) == v))
                return vf__fit_fail(r, VF_FIT_STAGE_INPUT, VF_ERR_ARG,
                                    "dequantization needs integer data; row %lld column %lld of %s is %.9g",
                                    (long long)(i + 1), (long long)(j + 1), name, v);
        }
    return VF_OK;
}

vf_status vf__fit_split(const vf_real *x, int64_t n, int64_t d, const vf_real *context, int64_t c,
                        const int64_t *labels, const vf_real *valid, int64_t nv, const vf_real *valid_context,
                        const int64_t *valid_labels, const vf_fit_table_options *o, int64_t min_train,
                        const char *too_few, vf__split *sp, vf_fit_result *r)
{
    memset(sp, 0, sizeof *sp);
    const char *name = o->data_name ? o->data_name : "array", *vname = o->valid_name ? o->valid_name : "array";
    const vf_fit_stage in = VF_FIT_STAGE_INPUT;
    if (!x || n < 1 || d < 1)
        return vf__fit_fail(r, in, VF_ERR_ARG, "%s: no data rows (%lld rows of %lld columns)", name, (long long)n,
                            (long long)d);
    if (c < 0 || (c > 0 && !context)) return vf__fit_fail(r, in, VF_ERR_ARG, "%s: context dimension %lld without "
                                                          "its rows", name, (long long)c);
    if (!valid && nv != 0) return vf__fit_fail(r, in, VF_ERR_ARG, "%lld validation rows but no array", (long long)nv);
    if (valid) {
        int64_t vd = o->valid_dim > 0 ? o->valid_dim : d;
        if (vd != d)
            return vf__fit_fail(r, in, VF_ERR_SHAPE, "%s has %lld columns but %s has %lld", vname, (long long)vd, name,
                                (long long)d);
        if (nv < 1) return vf__fit_fail(r, in, VF_ERR_ARG, "%s: no validation rows", vname);
        if (c > 0 && !valid_context)
            return vf__fit_fail(r, in, VF_ERR_ARG, "%s: a conditional model's validation rows need their contexts",
                                vname);
        if (labels && !valid_labels)
            return vf__fit_fail(r, in, VF_ERR_ARG, "%s: labelled training rows need validation labels", vname);
    }
    if (!(o->valid_fraction >= 0 && o->valid_fraction < 1))
        return vf__fit_fail(r, in, VF_ERR_ARG, "valid_fraction %g is not in [0, 1)", o->valid_fraction);
    vf_status s;
    if (o->fit.dequantize && ((s = check_integers(x, n, d, name, r)) != VF_OK ||
                              (valid && (s = check_integers(valid, nv, d, vname, r)) != VF_OK)))
        return s;
    int64_t nt = n;
    if (!valid) nv = 0;
    if (!valid && o->valid_fraction > 0) {
        nv = (int64_t)floor(o->valid_fraction * (double)n + 0.5);
        if (nv < 1) nv = 1;
        nt = n - nv;
    }
    if (nt < min_train) return vf__fit_fail(r, in, VF_ERR_ARG, "%s: %lld rows are too few %s", name, (long long)n, too_few);
    size_t *perm = malloc(sizeof(size_t) * (size_t)n);
    if (!perm) return vf__fit_fail(r, in, VF_ERR_NOMEM, "out of memory");
    vf_rng rng;
    vf_rng_init(&rng, o->fit.seed, 3);
    vf_rng_permutation(&rng, (size_t)n, perm);
    sp->nt = nt;
    sp->nv = nv;
    int bad = !(sp->train = gather(x, d, perm, 0, nt));
    if (nv > 0) bad |= !(sp->valid = valid ? gather(valid, d, NULL, 0, nv) : gather(x, d, perm, nt, nv));
    if (c > 0) {
        bad |= !(sp->train_ctx = gather(context, c, perm, 0, nt));
        if (nv > 0) bad |= !(sp->valid_ctx = valid ? gather(valid_context, c, NULL, 0, nv) : gather(context, c, perm, nt, nv));
    }
    if (labels) {
        bad |= !(sp->train_lab = gather_labels(labels, perm, 0, nt));
        if (nv > 0) bad |= !(sp->valid_lab = valid ? gather_labels(valid_labels, NULL, 0, nv) : gather_labels(labels, perm, nt, nv));
    }
    free(perm);
    if (bad) {
        vf__split_free(sp);
        return vf__fit_fail(r, in, VF_ERR_NOMEM, "out of memory");
    }
    return VF_OK;
}
