/* paths.c — the probability paths of vf_paths.h: their coefficients a, b, g and derivatives, and
 * batches of (x_t, u_t, score) for flow-matching losses. */
#include <math.h>
#include <string.h>
#include "internal.h"
#include "varflow/vf_paths.h"

static const char *const path_names[VF_PATH_COUNT] = {"linear", "lipman", "vp", "bridge", "si_sqrt", "si_sin2"};

int vf_path_from_name(const char *name)
{
    for (int k = 0; name && k < VF_PATH_COUNT; k++)
        if (strcmp(name, path_names[k]) == 0) return k;
    return -1;
}

const char *vf_path_name(vf_path_kind k) { return (unsigned)k < VF_PATH_COUNT ? path_names[k] : "unknown"; }

vf_path vf_path_default(vf_path_kind kind)
{
    static const double sigma[VF_PATH_COUNT] = {0, 1e-4, 0, 0.1, 1, 1};
    vf_path p;
    p.kind = kind;
    p.sigma = (unsigned)kind < VF_PATH_COUNT ? sigma[kind] : 0;
    return p;
}

/* 1 when the path's noise term g is zero at every t (no score exists). */
static int noiseless(const vf_path *p)
{
    return p->kind == VF_PATH_LIPMAN || p->kind == VF_PATH_VP || p->sigma == 0;
}

/* 1 when g' is infinite at t = 0 and t = 1 (g grows like sqrt(t) from the ends). */
static int open_ends(const vf_path *p)
{
    return (p->kind == VF_PATH_BRIDGE || p->kind == VF_PATH_SI_SQRT) && p->sigma > 0;
}

vf_status vf_path_coefficients(const vf_path *path, double t, double *a, double *b, double *g, double *da,
                               double *db, double *dg)
{
    if (!path || (unsigned)path->kind >= VF_PATH_COUNT) return vf__error(VF_ERR_ARG, "path: unknown kind");
    double s = path->sigma;
    if (!(s >= 0) || !isfinite(s)) return vf__error(VF_ERR_ARG, "path %s: sigma must be finite and >= 0 (got %g)",
                                                    vf_path_name(path->kind), s);
    if (!(t >= 0 && t <= 1)) return vf__error(VF_ERR_ARG, "path %s: t = %g is outside [0, 1]", vf_path_name(path->kind), t);
    if (open_ends(path) && (t == 0 || t == 1))
        return vf__error(VF_ERR_ARG, "path %s: its velocity is infinite at t = %g; sample t inside (0, 1)",
                         vf_path_name(path->kind), t);
    double A = 1 - t, B = t, G = 0, dA = -1, dB = 1, dG = 0;
    switch (path->kind) {
    case VF_PATH_LINEAR: G = s; break;
    case VF_PATH_LIPMAN:
        A = 1 - (1 - s) * t;
        dA = -(1 - s);
        break;
    case VF_PATH_VP:
        A = cos(VF_PI * t / 2), B = sin(VF_PI * t / 2);
        dA = -VF_PI / 2 * B, dB = VF_PI / 2 * A;
        break;
    case VF_PATH_BRIDGE:
        G = s * sqrt(t * (1 - t));
        dG = s > 0 ? s * (1 - 2 * t) / (2 * sqrt(t * (1 - t))) : 0;
        break;
    case VF_PATH_SI_SQRT:
        G = sqrt(s * t * (1 - t));
        dG = s > 0 ? s * (1 - 2 * t) / (2 * G) : 0;
        break;
    case VF_PATH_SI_SIN2: {
        double sn = sin(VF_PI * t);
        G = s * sn * sn;
        dG = s * VF_PI * sin(2 * VF_PI * t);
        break;
    }
    default: break;
    }
    if (a) *a = A;
    if (b) *b = B;
    if (g) *g = G;
    if (da) *da = dA;
    if (db) *db = dB;
    if (dg) *dg = dG;
    return VF_OK;
}

vf_status vf_path_sample(const vf_path *path, int64_t n, int64_t d, const vf_real *x0, const vf_real *x1,
                         const vf_real *t, const vf_real *z, vf_real *xt, vf_real *ut, vf_real *score)
{
    if (!path) return vf__error(VF_ERR_ARG, "path: NULL path");
    if (n < 0 || d < 0) return vf__error(VF_ERR_ARG, "path: negative size [%lld, %lld]", (long long)n, (long long)d);
    if (n * d > 0 && (!x0 || !x1 || !t || !xt || !ut))
        return vf__error(VF_ERR_ARG, "path %s: NULL x0, x1, t, xt or ut", vf_path_name(path->kind));
    int needs_z = !noiseless(path);
    if (n * d > 0 && needs_z && !z)
        return vf__error(VF_ERR_ARG, "path %s with sigma %g needs noise z", vf_path_name(path->kind), path->sigma);
    if (score && noiseless(path))
        return vf__error(VF_ERR_ARG, "path %s with sigma %g has no score (its noise is zero)", vf_path_name(path->kind),
                         path->sigma);
    for (int64_t i = 0; i < n; i++) {
        double A, B, G, dA, dB, dG;
        vf_status s = vf_path_coefficients(path, (double)t[i], &A, &B, &G, &dA, &dB, &dG);
        if (s != VF_OK) return vf__error(s, "%s (row %lld)", vf_last_error(), (long long)i);
        if (score && !(G > 0))
            return vf__error(VF_ERR_ARG, "path %s: no score at t = %g (row %lld), where its noise is zero",
                             vf_path_name(path->kind), (double)t[i], (long long)i);
        const vf_real *a0 = x0 + i * d, *a1 = x1 + i * d, *zi = needs_z ? z + i * d : NULL;
        vf_real *xo = xt + i * d, *uo = ut + i * d;
        for (int64_t j = 0; j < d; j++) {
            double zz = zi ? (double)zi[j] : 0;
            xo[j] = (vf_real)(A * (double)a0[j] + B * (double)a1[j] + G * zz);
            uo[j] = (vf_real)(dA * (double)a0[j] + dB * (double)a1[j] + dG * zz);
            if (score) score[i * d + j] = (vf_real)(-zz / G);
        }
    }
    return VF_OK;
}
