/* dist_internal.h — helpers shared by the learnable base distributions (not installed). */
#ifndef VF_DIST_INTERNAL_H
#define VF_DIST_INTERNAL_H

#include "flows/flow_internal.h"
#include "varflow/vf_dist.h"

/* VF_ERR_ARG (message prefixed by `what`) unless the context network's settings are valid. */
vf_status vf__dist_net_check(const char *what, const vf_dist_net_params *np);
/* {"n_hidden":..,"hidden":[..],"act":".."} into buf (VF_ERR_ARG when it does not fit). */
vf_status vf__dist_net_json(const vf_dist_net_params *np, char *buf, size_t len);
/* Room describe() needs for vf__dist_net_json's output. */
#define VF_DIST_NET_JSON_MAX (VF_NN_MAX_HIDDEN * 24 + 96)

/* The regularized incomplete gamma functions P(a, x) and Q(a, x) = 1 - P (gamma_grad.c); NaN for
 * a <= 0, x < 0 or NaN arguments. */
void vf__gamma_pq(double a, double x, double *p, double *q);
/* dG/da of a Gamma(a, 1) draw G = g at fixed uniform level (implicit reparameterization); 0 where
 * the density at g underflows or an argument is not positive and finite. */
double vf__gamma_draw_dshape(double a, double g);

#endif
