/* vf_data.h — built-in data sets: the 2-D toy distributions of the flow literature.
 *
 * Usage
 *   vf_rng r;
 *   vf_rng_init(&r, 0, 0);
 *   vf_tensor x;                                            // becomes owned, shape [n, 2]
 *   if (vf_toy_sample("moons", "noise=0.05", 1000, &r, &x) != VF_OK)
 *       fprintf(stderr, "%s\n", vf_last_error());
 *   ...
 *   vf_tensor_free(&x);
 *
 *   vf_toy_sample_spec("checkerboard:scale=0.5", 1000, &r, &x);   // "NAME[:key=value,...]" in one string
 *   for (const char *const *p = vf_toy_names(); *p; p++)           // every set, with its keys and defaults
 *       printf("%s  %s\n", *p, vf_toy_defaults(*p));
 *
 * The sets follow the generative definitions of FFJORD (Grathwohl et al., 2019, lib/toy_data.py), with
 * points drawn independently (FFJORD splits a batch into equal groups; the limit is the same mixture):
 *   moons         sklearn's two half-circles p (outer: (cos t, sin t); inner: (1 - cos t, 1/2 - sin t),
 *                 t ~ U(0, pi), each moon with probability 1/2) plus noise * N(0, I), then
 *                 2 p + (-1, -0.2).                                           keys: noise=0.1, scale=1
 *   8gaussians    (c + noise * N(0, I)) / 1.414, c uniform among 4 (cos k pi/4, sin k pi/4), k = 0..7.
 *                                                                             keys: noise=0.5, scale=1
 *   checkerboard  x1 ~ U(-2, 2), x2 = U(0, 1) - 2 Bernoulli(1/2) + (floor(x1) mod 2); output 2 (x1, x2):
 *                 uniform on the 8 "black" squares of a 4x4 board on [-4, 4]^2. keys: scale=1
 *   pinwheel      arm k uniform in 0..arms-1, r = 1 + radial N(0,1), s = tangential N(0,1),
 *                 a = 2 pi k / arms + rate exp(r); output 2 (r cos a + s sin a, -r sin a + s cos a).
 *                                             keys: radial=0.3, tangential=0.1, arms=5, rate=0.25, scale=1
 *   2spirals      u = 3 pi sqrt(U), d = (-u cos u + U(0, 1/2), u sin u + U(0, 1/2)), sign +-1 with
 *                 probability 1/2; output sign d / 3 + noise N(0, I).           keys: noise=0.1, scale=1
 *   rings         radius rho uniform in {1, 3/4, 1/2, 1/4}, angle ~ U(0, 2 pi); output
 *                 3 rho (cos, sin) + noise N(0, I).                             keys: noise=0.08, scale=1
 *   scurve        (not in FFJORD) the (x, z) coordinates of sklearn's make_s_curve: t ~ U(-3 pi/2, 3 pi/2),
 *                 p = (sin t, sign(t) (cos t - 1)); output 2 (p + noise N(0, I)), so it spans
 *                 [-2, 2] x [-4, 4] like the others.                            keys: noise=0.1, scale=1
 * The tasks of Tong et al.'s [SF]2M Table 2 (their code release's generators, points drawn independently):
 *   sf2m-gaussians   radius (cos 2 pi k/8, sin 2 pi k/8) + sd N(0, I) + 1e-4 N(0, I)  keys: radius=5, sd=1, scale=1
 *   sf2m-moons       2 m - (1, 0), m a make_moons point (as in `moons`) with noise    keys: noise=0.05, scale=1
 *   sf2m-scurve      1.5 (sin t, sign(t) (cos t - 1)) + 1.5 noise N(0, I)             keys: noise=0.05, scale=1
 *   sf2m-8gaussians  3 (4 c + noise N(0, I)), c uniform among (cos k pi/4, sin k pi/4) keys: noise=0.5, scale=1
 *   sf2m-moons7      7 (m - 3/8) / s: a make_moons point standardized by the pooled mean and sd of both
 *                    coordinates' distribution (s^2 = (1 + 5/8 - 1/pi) / 2 + noise^2 - 9/64)
 *                                                                                 keys: noise=0.1, scale=1
 * Every set multiplies its final output by `scale`. All randomness comes from the vf_rng passed in, so
 * the same seed gives the same points.
 */
#ifndef VF_DATA_H
#define VF_DATA_H

#include "vf_rng.h"
#include "vf_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Names of the 2-D toy sets, NULL-terminated ({"moons", "8gaussians", ..., NULL}). */
const char *const *vf_toy_names(void);

/* The keys of set `name` with their defaults, as "key=value,..." (NULL for an unknown name). */
const char *vf_toy_defaults(const char *name);

/* Draws n >= 1 points of toy set `name` with options "key=value,..." (NULL or "" for the defaults).
 * out: becomes an owned [n, 2] tensor (left empty on failure); free it with vf_tensor_free.
 * VF_ERR_ARG for an unknown name or key, a malformed or out-of-range value, n < 1 or a NULL pointer;
 * the message lists the valid names or keys. */
vf_status vf_toy_sample(const char *name, const char *options, int64_t n, vf_rng *rng,
                        vf_tensor *out /* owned [n, 2] */);

/* The same from one spec string "NAME[:key=value,...]", e.g. "moons:noise=0.05,scale=1". */
vf_status vf_toy_sample_spec(const char *spec, int64_t n, vf_rng *rng, vf_tensor *out /* owned [n, 2] */);

#ifdef __cplusplus
}
#endif
#endif
