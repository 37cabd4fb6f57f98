/* gradcheck.h — checks an op's VJP against central differences and its JVP against its VJP.
 *
 * Usage
 *   static vf_var build_exp(vf_tape *t, const vf_var *in, void *ctx) { return vf_exp(t, in[0]); }
 *   vf_real x[6] = {...};
 *   gc_input in[1] = {{x, 2, {2, 3}, 1}};          // data, ndim, shape, differentiate?
 *   CHECK(gradcheck("exp", build_exp, NULL, 1, in));
 *
 * With a fixed random cotangent u of the output and tangents v of the differentiated inputs:
 *   1. reverse mode gives g_i = d<u, f(x)>/dx_i; each entry is compared with the central difference
 *      of <u, f(x)> (relative error below GC_FD_TOL, with a floor GC_FD_FLOOR on the denominator);
 *   2. <u, J v> from forward mode equals sum_i <g_i, v_i> (relative error below GC_DUAL_TOL).
 * Inputs must stay away from kinks (relu at 0, abs at 0, clamp bounds, ties of max) by more than the
 * difference step. Constants (differentiate = 0) are passed with vf_input.
 */
#ifndef VF_GRADCHECK_H
#define VF_GRADCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "varflow.h"

#if VF_USE_DOUBLE
#define GC_STEP 1e-5
#define GC_FD_TOL 1e-6
#define GC_FD_FLOOR 1e-3
#define GC_DUAL_TOL 1e-10
#else
#define GC_STEP 1e-2
#define GC_FD_TOL 3e-2
#define GC_FD_FLOOR 1e-1
#define GC_DUAL_TOL 1e-4
#endif

typedef vf_var (*gc_build_fn)(vf_tape *t, const vf_var *in, void *ctx);

typedef struct gc_input {
    vf_real *data;          /* perturbed in place during the check, restored afterwards */
    int ndim;
    int64_t shape[4];
    int differentiate;      /* 1: gradient and tangent checked; 0: constant */
} gc_input;

static inline int64_t gc_numel(const gc_input *in)
{
    int64_t n = 1;
    for (int i = 0; i < in->ndim; i++) n *= in->shape[i];
    return n;
}

/* Builds the graph on a reset tape; returns the output handle or VF_NOVAR. */
static inline vf_var gc_build(vf_tape *t, gc_build_fn f, void *ctx, int n_in, const gc_input *in, vf_var *vars)
{
    vf_tape_reset(t);
    for (int i = 0; i < n_in; i++)
        vars[i] = in[i].differentiate ? vf_input_grad(t, in[i].data, in[i].ndim, in[i].shape)
                                      : vf_input(t, in[i].data, in[i].ndim, in[i].shape);
    return f(t, vars, ctx);
}

/* <u, f(x)> in double. */
static inline double gc_objective(vf_tape *t, gc_build_fn f, void *ctx, int n_in, const gc_input *in, const double *u)
{
    vf_var vars[8];
    vf_var y = gc_build(t, f, ctx, n_in, in, vars);
    if (y == VF_NOVAR) return NAN;
    const vf_tensor *v = vf_value(t, y);
    double s = 0.0;
    for (int64_t j = 0; j < vf_tensor_numel(v); j++) s += u[j] * (double)v->data[j];
    return s;
}

static int gradcheck(const char *name, gc_build_fn f, void *ctx, int n_in, gc_input *in)
{
    int ok = 1;
    vf_tape *t = vf_tape_new();
    vf_var vars[8];
    vf_rng rng;
    vf_rng_init(&rng, 12345, 0);
    if (!t || n_in > 8) return 0;

    vf_var y = gc_build(t, f, ctx, n_in, in, vars);
    if (y == VF_NOVAR) {
        fprintf(stderr, "gradcheck %s: build failed: %s\n", name, vf_tape_error(t));
        vf_tape_free(t);
        return 0;
    }
    int64_t ny = vf_tensor_numel(vf_value(t, y));
    double *u = malloc((size_t)(ny ? ny : 1) * sizeof *u);
    vf_real *ur = malloc((size_t)(ny ? ny : 1) * sizeof *ur);
    vf_real *grads[8] = {0};
    vf_real *tang[8] = {0};
    for (int64_t j = 0; j < ny; j++) {
        u[j] = vf_rng_normal(&rng);
        ur[j] = (vf_real)u[j];
        u[j] = (double)ur[j];
    }
    if (vf_backward_seed(t, y, ur) != VF_OK) {
        fprintf(stderr, "gradcheck %s: backward failed: %s\n", name, vf_tape_error(t));
        ok = 0;
        goto done;
    }
    for (int i = 0; i < n_in; i++) {
        if (!in[i].differentiate) continue;
        int64_t n = gc_numel(&in[i]);
        grads[i] = calloc((size_t)(n ? n : 1), sizeof(vf_real));
        tang[i] = malloc((size_t)(n ? n : 1) * sizeof(vf_real));
        const vf_real *g = vf_grad(t, vars[i]);
        if (g) memcpy(grads[i], g, (size_t)n * sizeof(vf_real));
        for (int64_t j = 0; j < n; j++) tang[i][j] = (vf_real)vf_rng_normal(&rng);
    }

    /* 1. central differences */
    double worst = 0.0;
    for (int i = 0; i < n_in; i++) {
        if (!in[i].differentiate) continue;
        for (int64_t j = 0; j < gc_numel(&in[i]); j++) {
            vf_real keep = in[i].data[j];
            double h = GC_STEP * fmax(1.0, fabs((double)keep));
            in[i].data[j] = (vf_real)((double)keep + h);
            double hp = (double)in[i].data[j] - (double)keep;
            double fp = gc_objective(t, f, ctx, n_in, in, u);
            in[i].data[j] = (vf_real)((double)keep - h);
            double hm = (double)keep - (double)in[i].data[j];
            double fm = gc_objective(t, f, ctx, n_in, in, u);
            in[i].data[j] = keep;
            double fd = (fp - fm) / (hp + hm);
            double ad = (double)grads[i][j];
            double err = fabs(fd - ad) / fmax(fmax(fabs(fd), fabs(ad)), GC_FD_FLOOR);
            if (!(err <= worst)) worst = err;
            if (!(err <= GC_FD_TOL)) {
                if (ok)
                    fprintf(stderr, "gradcheck %s: input %d element %lld: reverse %.12g, finite difference %.12g (rel %.3g)\n",
                            name, i, (long long)j, ad, fd, err);
                ok = 0;
            }
        }
    }

    /* 2. <u, J v> by forward mode against sum_i <g_i, v_i> */
    y = gc_build(t, f, ctx, n_in, in, vars);
    for (int i = 0; i < n_in; i++)
        if (in[i].differentiate) vf_set_tangent(t, vars[i], tang[i]);
    if (vf_jvp(t) != VF_OK) {
        fprintf(stderr, "gradcheck %s: jvp failed: %s\n", name, vf_tape_error(t));
        ok = 0;
        goto done;
    }
    {
        const vf_real *ty = vf_tangent(t, y);
        double fwd = 0.0, rev = 0.0, scale = 0.0;
        for (int64_t j = 0; ty && j < ny; j++) {
            fwd += u[j] * (double)ty[j];
            scale += fabs(u[j] * (double)ty[j]);
        }
        for (int i = 0; i < n_in; i++) {
            if (!in[i].differentiate) continue;
            for (int64_t j = 0; j < gc_numel(&in[i]); j++) {
                rev += (double)grads[i][j] * (double)tang[i][j];
                scale += fabs((double)grads[i][j] * (double)tang[i][j]);
            }
        }
        double err = fabs(fwd - rev) / fmax(scale, 1e-300);
        if (!(err <= GC_DUAL_TOL)) {
            fprintf(stderr, "gradcheck %s: <u, Jv> forward %.17g, reverse %.17g (rel %.3g)\n", name, fwd, rev, err);
            ok = 0;
        }
    }
done:
    for (int i = 0; i < n_in; i++) {
        free(grads[i]);
        free(tang[i]);
    }
    free(u);
    free(ur);
    vf_tape_free(t);
    return ok;
}

/* Fills x[0..n-1] with N(0, sd^2) + mean from a fixed seed. */
static inline void gc_fill(vf_real *x, int64_t n, uint64_t seed, double mean, double sd)
{
    vf_rng r;
    vf_rng_init(&r, seed, 7);
    vf_rng_normal_fill(&r, x, (size_t)n, mean, sd);
}

#endif
