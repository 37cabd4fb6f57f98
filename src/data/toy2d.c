/* toy2d.c — the 2-D toy data sets of vf_data.h: a table of sets, each a list of keys with defaults and
 * a function drawing one point from the parameter values; plus the "key=value,..." option parser.
 *
 * Each point is computed in double from vf_rng draws taken in a fixed order, then stored as vf_real,
 * so a seed gives the same points in every build (up to the final rounding to float).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "io/io_internal.h" /* vf__parse_double */

#define TOY_PI 3.14159265358979323846
#define TOY_MAX_KEYS 6
#define TOY_SCALE_NAME "scale"

typedef struct toy_key {
    const char *name;
    double def;        /* default value */
    double lo;         /* smallest allowed value */
    int integer;       /* 1: the value must be a whole number */
} toy_key;

/* p: the key values in table order (scale is applied by the caller); out: one point [2]. */
typedef void (*toy_draw_fn)(const double *p, vf_rng *r, double out[2]);

typedef struct toy_set {
    const char *name;
    const char *defaults;               /* the same keys as text, for help screens */
    toy_draw_fn draw;
    int nkeys;
    toy_key keys[TOY_MAX_KEYS];         /* the last one is always "scale" */
} toy_set;

/* ---- the samplers ------------------------------------------------------------------------- */

static void draw_moons(const double *p, vf_rng *r, double out[2])
{
    double noise = p[0];
    double t = TOY_PI * vf_rng_uniform(r);
    double x, y;
    if (vf_rng_bernoulli(r, 0.5)) {         /* outer moon */
        x = cos(t);
        y = sin(t);
    } else {                                /* inner moon */
        x = 1.0 - cos(t);
        y = 0.5 - sin(t);
    }
    x += noise * vf_rng_normal(r);
    y += noise * vf_rng_normal(r);
    out[0] = 2.0 * x - 1.0;
    out[1] = 2.0 * y - 0.2;
}

static void draw_8gaussians(const double *p, vf_rng *r, double out[2])
{
    double noise = p[0];
    uint64_t k = vf_rng_below(r, 8);
    double a = (double)k * TOY_PI / 4.0;
    double ex = vf_rng_normal(r), ey = vf_rng_normal(r);
    out[0] = (4.0 * cos(a) + noise * ex) / 1.414;
    out[1] = (4.0 * sin(a) + noise * ey) / 1.414;
}

static void draw_checkerboard(const double *p, vf_rng *r, double out[2])
{
    (void)p;
    double x1 = 4.0 * vf_rng_uniform(r) - 2.0;
    double x2 = vf_rng_uniform(r) - 2.0 * (double)vf_rng_bernoulli(r, 0.5);
    double f = floor(x1);
    x2 += f - 2.0 * floor(f / 2.0);         /* floor(x1) mod 2, in {0, 1} */
    out[0] = 2.0 * x1;
    out[1] = 2.0 * x2;
}

static void draw_pinwheel(const double *p, vf_rng *r, double out[2])
{
    double radial = p[0], tangential = p[1], arms = p[2], rate = p[3];
    uint64_t k = vf_rng_below(r, (uint64_t)arms);
    double rr = 1.0 + radial * vf_rng_normal(r);
    double s = tangential * vf_rng_normal(r);
    double a = 2.0 * TOY_PI * (double)k / arms + rate * exp(rr);
    double c = cos(a), sn = sin(a);
    out[0] = 2.0 * (rr * c + s * sn);
    out[1] = 2.0 * (-rr * sn + s * c);
}

static void draw_2spirals(const double *p, vf_rng *r, double out[2])
{
    double noise = p[0];
    double u = 3.0 * TOY_PI * sqrt(vf_rng_uniform(r));
    double dx = -u * cos(u) + 0.5 * vf_rng_uniform(r);
    double dy = u * sin(u) + 0.5 * vf_rng_uniform(r);
    double sign = vf_rng_bernoulli(r, 0.5) ? 1.0 : -1.0;
    out[0] = sign * dx / 3.0 + noise * vf_rng_normal(r);
    out[1] = sign * dy / 3.0 + noise * vf_rng_normal(r);
}

static void draw_rings(const double *p, vf_rng *r, double out[2])
{
    double noise = p[0];
    double rho = 0.25 * (double)(vf_rng_below(r, 4) + 1);
    double a = 2.0 * TOY_PI * vf_rng_uniform(r);
    out[0] = 3.0 * rho * cos(a) + noise * vf_rng_normal(r);
    out[1] = 3.0 * rho * sin(a) + noise * vf_rng_normal(r);
}

static void draw_scurve(const double *p, vf_rng *r, double out[2])
{
    double noise = p[0];
    double t = 3.0 * TOY_PI * (vf_rng_uniform(r) - 0.5);
    double x = sin(t);
    double z = (t > 0.0 ? 1.0 : (t < 0.0 ? -1.0 : 0.0)) * (cos(t) - 1.0);
    out[0] = 2.0 * (x + noise * vf_rng_normal(r));
    out[1] = 2.0 * (z + noise * vf_rng_normal(r));
}

/* ---- the sets of Tong et al.'s [SF]2M Table 2 (their code release's generators) ---------------
 * Points are drawn independently: sklearn's make_moons places points on an even grid of the arc
 * parameter and splits them equally between the moons, whose limit is the uniform arc parameter and a
 * fair coin used here; the code release's equal mode counts likewise become a uniform mode. */

/* sklearn's make_moons point (before any scaling) with noise sd `noise`. */
static void moons_point(double noise, vf_rng *r, double out[2])
{
    double t = TOY_PI * vf_rng_uniform(r);
    int outer = vf_rng_bernoulli(r, 0.5);
    out[0] = (outer ? cos(t) : 1.0 - cos(t)) + noise * vf_rng_normal(r);
    out[1] = (outer ? sin(t) : 0.5 - sin(t)) + noise * vf_rng_normal(r);
}

/* N -> 8 Gaussians: centres 5 (cos 2 pi k / 8, sin 2 pi k / 8), sd 1, plus N(0, 1e-4^2) jitter. */
static void draw_sf2m_gaussians(const double *p, vf_rng *r, double out[2])
{
    double radius = p[0], sd = p[1];
    double a = 2.0 * TOY_PI * (double)vf_rng_below(r, 8) / 8.0;
    out[0] = radius * cos(a) + sd * vf_rng_normal(r) + 1e-4 * vf_rng_normal(r);
    out[1] = radius * sin(a) + sd * vf_rng_normal(r) + 1e-4 * vf_rng_normal(r);
}

/* N -> moons: 2 make_moons(noise) - (1, 0). */
static void draw_sf2m_moons(const double *p, vf_rng *r, double out[2])
{
    moons_point(p[0], r, out);
    out[0] = 2.0 * out[0] - 1.0;
    out[1] = 2.0 * out[1];
}

/* N -> scurve: 1.5 (x, z) of make_s_curve(noise) (its y coordinate, uniform on [0, 2], is dropped). */
static void draw_sf2m_scurve(const double *p, vf_rng *r, double out[2])
{
    double noise = p[0];
    double t = 3.0 * TOY_PI * (vf_rng_uniform(r) - 0.5);
    double ex = vf_rng_normal(r), ez = vf_rng_normal(r);
    out[0] = 1.5 * (sin(t) + noise * ex);
    out[1] = 1.5 * ((t > 0.0 ? 1.0 : (t < 0.0 ? -1.0 : 0.0)) * (cos(t) - 1.0) + noise * ez);
}

/* The source of 8gaussians -> moons: 3 (4 c + noise z), c one of FFJORD's 8 unit centres. */
static void draw_sf2m_8gaussians(const double *p, vf_rng *r, double out[2])
{
    double noise = p[0];
    double a = (double)vf_rng_below(r, 8) * TOY_PI / 4.0;
    out[0] = 3.0 * (4.0 * cos(a) + noise * vf_rng_normal(r));
    out[1] = 3.0 * (4.0 * sin(a) + noise * vf_rng_normal(r));
}

/* The target of 8gaussians -> moons: make_moons(noise) standardized by the scalar mean and sd of all its
 * coordinates (both columns pooled), times 7. The code release standardizes by its sample's mean and sd;
 * these are the distribution's (t ~ U(0, pi), E cos t = 0, E sin t = 2/pi, E sin^2 t = 1/2):
 *   E x = 1/2, E y = 1/4, pooled mean 3/8;  E x^2 = 1 + noise^2, E y^2 = 5/8 - 1/pi + noise^2. */
static void draw_sf2m_moons7(const double *p, vf_rng *r, double out[2])
{
    double noise = p[0];
    double mean = 0.375;
    double second = 0.5 * ((1.0 + noise * noise) + (0.625 - 1.0 / TOY_PI + noise * noise));
    double sd = sqrt(second - mean * mean);
    moons_point(noise, r, out);
    out[0] = 7.0 * (out[0] - mean) / sd;
    out[1] = 7.0 * (out[1] - mean) / sd;
}

/* ---- the table ---------------------------------------------------------------------------- */

#define KEY_NOISE(d) {"noise", d, 0.0, 0}
#define KEY_SCALE {TOY_SCALE_NAME, 1.0, -HUGE_VAL, 0}

static const toy_set toy_sets[] = {
    {"moons", "noise=0.1,scale=1", draw_moons, 2, {KEY_NOISE(0.1), KEY_SCALE}},
    {"8gaussians", "noise=0.5,scale=1", draw_8gaussians, 2, {KEY_NOISE(0.5), KEY_SCALE}},
    {"checkerboard", "scale=1", draw_checkerboard, 1, {KEY_SCALE}},
    {"pinwheel", "radial=0.3,tangential=0.1,arms=5,rate=0.25,scale=1", draw_pinwheel, 5,
     {{"radial", 0.3, 0.0, 0}, {"tangential", 0.1, 0.0, 0}, {"arms", 5.0, 1.0, 1},
      {"rate", 0.25, -HUGE_VAL, 0}, KEY_SCALE}},
    {"2spirals", "noise=0.1,scale=1", draw_2spirals, 2, {KEY_NOISE(0.1), KEY_SCALE}},
    {"rings", "noise=0.08,scale=1", draw_rings, 2, {KEY_NOISE(0.08), KEY_SCALE}},
    {"scurve", "noise=0.1,scale=1", draw_scurve, 2, {KEY_NOISE(0.1), KEY_SCALE}},
    {"sf2m-gaussians", "radius=5,sd=1,scale=1", draw_sf2m_gaussians, 3,
     {{"radius", 5.0, 0.0, 0}, {"sd", 1.0, 0.0, 0}, KEY_SCALE}},
    {"sf2m-moons", "noise=0.05,scale=1", draw_sf2m_moons, 2, {KEY_NOISE(0.05), KEY_SCALE}},
    {"sf2m-scurve", "noise=0.05,scale=1", draw_sf2m_scurve, 2, {KEY_NOISE(0.05), KEY_SCALE}},
    {"sf2m-8gaussians", "noise=0.5,scale=1", draw_sf2m_8gaussians, 2, {KEY_NOISE(0.5), KEY_SCALE}},
    {"sf2m-moons7", "noise=0.1,scale=1", draw_sf2m_moons7, 2, {KEY_NOISE(0.1), KEY_SCALE}},
};
#define TOY_COUNT ((int)(sizeof toy_sets / sizeof toy_sets[0]))
#define TOY_MAX_ARMS 1000000.0

static const char *const toy_name_list[] = {"moons",          "8gaussians",  "checkerboard",    "pinwheel",
                                            "2spirals",       "rings",       "scurve",          "sf2m-gaussians",
                                            "sf2m-moons",     "sf2m-scurve", "sf2m-8gaussians", "sf2m-moons7",
                                            NULL};

const char *const *vf_toy_names(void) { return toy_name_list; }

static const toy_set *find_set(const char *name, size_t len)
{
    for (int i = 0; i < TOY_COUNT; i++)
        if (strlen(toy_sets[i].name) == len && strncmp(toy_sets[i].name, name, len) == 0) return &toy_sets[i];
    return NULL;
}

const char *vf_toy_defaults(const char *name)
{
    const toy_set *s = name ? find_set(name, strlen(name)) : NULL;
    return s ? s->defaults : NULL;
}

/* ---- options ------------------------------------------------------------------------------ */

static vf_status unknown_set(const char *name, size_t len)
{
    char valid[512];
    size_t used = 0;
    valid[0] = '\0';
    for (int i = 0; i < TOY_COUNT && used < sizeof valid; i++)
        used += (size_t)snprintf(valid + used, sizeof valid - used, "%s%s", i ? ", " : "", toy_sets[i].name);
    return vf__error(VF_ERR_ARG, "toy data: unknown set '%.*s' (valid: %s)", (int)VF_MIN(len, 64), name, valid);
}

static vf_status unknown_key(const toy_set *s, const char *key, size_t len)
{
    char valid[256];
    size_t used = 0;
    valid[0] = '\0';
    for (int i = 0; i < s->nkeys && used < sizeof valid; i++)
        used += (size_t)snprintf(valid + used, sizeof valid - used, "%s%s", i ? ", " : "", s->keys[i].name);
    return vf__error(VF_ERR_ARG, "toy data %s: unknown key '%.*s' (valid: %s)", s->name, (int)VF_MIN(len, 64),
                     key, valid);
}

/* Parses one "key=value" item of length len into vals. */
static vf_status parse_item(const toy_set *s, const char *item, size_t len, double *vals, unsigned char *seen)
{
    const char *eq = memchr(item, '=', len);
    if (!eq || eq == item)
        return vf__error(VF_ERR_ARG, "toy data %s: option '%.*s' is not key=value (keys: %s)", s->name,
                         (int)VF_MIN(len, 64), item, s->defaults);
    size_t klen = (size_t)(eq - item), vlen = len - klen - 1;
    int k = -1;
    for (int i = 0; i < s->nkeys; i++)
        if (strlen(s->keys[i].name) == klen && strncmp(s->keys[i].name, item, klen) == 0) k = i;
    if (k < 0) return unknown_key(s, item, klen);
    const toy_key *key = &s->keys[k];
    if (seen[k]) return vf__error(VF_ERR_ARG, "toy data %s: duplicate key '%s'", s->name, key->name);
    seen[k] = 1;

    char buf[64];
    if (vlen == 0 || vlen >= sizeof buf)
        return vf__error(VF_ERR_ARG, "toy data %s: %s needs a number, got '%.*s'", s->name, key->name,
                         (int)VF_MIN(vlen, 64), eq + 1);
    memcpy(buf, eq + 1, vlen);
    buf[vlen] = '\0';
    double v;
    if (vf__parse_double(buf, vlen, &v) || !isfinite(v)) /* locale-independent, whole string */
        return vf__error(VF_ERR_ARG, "toy data %s: %s needs a finite number, got '%s'", s->name, key->name, buf);
    if (v < key->lo)
        return vf__error(VF_ERR_ARG, "toy data %s: %s must be >= %g, got %g", s->name, key->name, key->lo, v);
    if (key->integer && (v != floor(v) || v > TOY_MAX_ARMS))
        return vf__error(VF_ERR_ARG, "toy data %s: %s must be a whole number <= %g, got %g", s->name, key->name,
                         TOY_MAX_ARMS, v);
    vals[k] = v;
    return VF_OK;
}

/* Fills vals with the defaults of s, then applies "key=value,..." (NULL or "" keeps the defaults). */
static vf_status parse_options(const toy_set *s, const char *options, double *vals)
{
    for (int i = 0; i < s->nkeys; i++) vals[i] = s->keys[i].def;
    if (!options || !*options) return VF_OK;
    unsigned char seen[TOY_MAX_KEYS] = {0};
    const char *p = options;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        vf_status st = parse_item(s, p, len, vals, seen);
        if (st) return st;
        if (!comma) return VF_OK;
        p = comma + 1;
    }
}

/* ---- sampling ----------------------------------------------------------------------------- */

/* n points of set s with options into out; `label` names the set in errors (the spec as given). */
static vf_status sample_set(const toy_set *s, const char *label, const char *options, int64_t n, vf_rng *rng,
                            vf_tensor *out)
{
    double vals[TOY_MAX_KEYS];
    vf_status st = parse_options(s, options, vals);
    if (st) return st;
    if (n < 1) return vf__error(VF_ERR_ARG, "toy data %s: n = %lld, need at least 1 point", s->name, (long long)n);
    int64_t shape[2] = {n, 2};
    st = vf_tensor_alloc(out, 2, shape);
    if (st) return st;
    double scale = vals[s->nkeys - 1];
    for (int64_t i = 0; i < n; i++) {
        double pt[2];
        s->draw(vals, rng, pt);
        for (int k = 0; k < 2; k++) {
            out->data[2 * i + k] = (vf_real)(scale * pt[k]);
            if (!isfinite(out->data[2 * i + k])) { /* a scale beyond the number range: refused, not inf */
                vf_tensor_free(out);
                return vf__error(VF_ERR_NUMERIC, "%s: row %lld, column %d is not finite (%g): the scale is too large "
                                 "for the number range", label, (long long)(i + 1), k + 1, scale * pt[k]);
            }
        }
    }
    return VF_OK;
}

vf_status vf_toy_sample(const char *name, const char *options, int64_t n, vf_rng *rng,
                        vf_tensor *out /* owned [n, 2] */)
{
    if (out) memset(out, 0, sizeof *out);
    if (!name || !rng || !out) return vf__error(VF_ERR_ARG, "toy data: NULL argument");
    const toy_set *s = find_set(name, strlen(name));
    if (!s) return unknown_set(name, strlen(name));
    return sample_set(s, name, options, n, rng, out);
}

vf_status vf_toy_sample_spec(const char *spec, int64_t n, vf_rng *rng, vf_tensor *out /* owned [n, 2] */)
{
    if (out) memset(out, 0, sizeof *out);
    if (!spec || !rng || !out) return vf__error(VF_ERR_ARG, "toy data: NULL argument");
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    const toy_set *s = find_set(spec, len);
    if (!s) return unknown_set(spec, len);
    if (colon && !colon[1])
        return vf__error(VF_ERR_ARG, "toy data %s: ':' must be followed by key=value pairs (or leave it out; keys: %s)",
                         s->name, s->defaults);
    return sample_set(s, spec, colon ? colon + 1 : NULL, n, rng, out);
}
