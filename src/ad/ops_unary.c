/* ops_unary.c — elementwise ops. (The exp op below is the pattern the remaining ops follow.) */
#include <math.h>
#include "ad/ad_internal.h"

static vf_status exp_fwd(vf_tape *t, vf_node *n)
{
    const vf_real *x = vf__in(t, n, 0)->value.data;
    vf_real *y = n->value.data;
    for (int64_t i = 0, m = vf__numel(n); i < m; i++) y[i] = (vf_real)exp(x[i]);
    return VF_OK;
}

static void exp_vjp(vf_tape *t, vf_node *n)
{
    vf_real *gx = vf__in(t, n, 0)->grad;
    if (!gx) return;
    const vf_real *y = n->value.data, *gy = n->grad;
    for (int64_t i = 0, m = vf__numel(n); i < m; i++) gx[i] += gy[i] * y[i];
}

static void exp_jvp(vf_tape *t, vf_node *n)
{
    const vf_real *dx = vf__in(t, n, 0)->tangent; /* non-NULL: the driver only calls with a tangent */
    const vf_real *y = n->value.data;
    vf_real *dy = n->tangent;
    for (int64_t i = 0, m = vf__numel(n); i < m; i++) dy[i] = dx[i] * y[i];
}

static const vf_op_def exp_op = {"exp", exp_fwd, exp_vjp, exp_jvp};

vf_var vf_exp(vf_tape *t, vf_var x)
{
    if (!vf__ok(t, "exp", 1, &x)) return VF_NOVAR;
    const vf_tensor *v = &vf__node(t, x)->value;
    vf_var y = vf__push(t, &exp_op, 1, &x, v->ndim, v->shape);
    return vf__run(t, y);
}
