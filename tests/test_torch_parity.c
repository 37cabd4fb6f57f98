/* test_torch_parity.c — the engine against PyTorch: for every activation, an MLP 3-8-8-2 with
 * PyTorch's weights gives PyTorch's outputs, loss, input and parameter gradients, and the same
 * weights after 3 Adam and 3 AdamW steps. References: tests/golden/torch_mlp.safetensors, written in
 * float64 by tests/golden/make_torch_mlp.py (Debian python3-torch 1.13).
 *
 * Tolerances: the double build repeats PyTorch's float64 arithmetic up to rounding order: 1e-10
 * relative, element by element. The float build rounds the weights and every intermediate to float
 * (2^-24 = 6e-8 relative each); an entry that is a sum of terms of either sign carries an absolute
 * error of a few 2^-24 times the size of the terms, not of the entry, so float errors are measured
 * against the tensor's largest entry (normwise): three layers of 8-term sums stay below 1e-5. */
#include <stdlib.h>
#include "vf_test.h"
#include "varflow.h"

#ifndef VF_TEST_GOLDEN_DIR
#define VF_TEST_GOLDEN_DIR VF_TEST_DATA_DIR "/../golden"
#endif

#if VF_USE_DOUBLE
#define TOL 1e-10
#define NORMWISE 0
#else
#define TOL 1e-5
#define NORMWISE 1
#endif

static vf_st_file *golden;

/* max_i |a_i - ref_i| / max(|ref_i|, floor, NORMWISE * max_j |ref_j|) over n values; the reference
 * tensor is `name`. */
static double rel_err(const char *name, const vf_real *a, int64_t n, double floor)
{
    vf_tensor ref;
    if (vf_st_get(golden, name, &ref) != VF_OK) {
        fprintf(stderr, "missing golden tensor %s: %s\n", name, vf_last_error());
        return INFINITY;
    }
    double worst = vf_tensor_numel(&ref) == n ? 0 : INFINITY;
    for (int64_t i = 0; NORMWISE && i < n && isfinite(worst); i++) floor = fmax(floor, fabs((double)ref.data[i]));
    for (int64_t i = 0; i < n && isfinite(worst); i++) {
        double r = (double)ref.data[i], e = fabs((double)a[i] - r) / fmax(fabs(r), floor);
        if (!(e <= worst)) worst = e;
    }
    vf_tensor_free(&ref);
    return worst;
}

typedef struct net {
    vf_params *p;
    vf_mlp *mlp;
} net;

/* The MLP 3-8-8-2 with activation `act`, weights loaded from "<act>.<tag>layers.<i>.weight|bias". */
static int net_load(net *n, const char *act_name, const char *tag)
{
    vf_mlp_params mp = vf_mlp_default_params(3, 2);
    mp.n_hidden = 2;
    mp.hidden[0] = mp.hidden[1] = 8;
    mp.act = (vf_activation)vf_activation_from_name(act_name);
    n->p = vf_params_new();
    n->mlp = NULL;
    if (!n->p || vf_mlp_new(n->p, "net", &mp, &n->mlp) != VF_OK || vf_params_finalize(n->p, 0) != VF_OK) return -1;
    for (int32_t i = 0; i < vf_params_count(n->p); i++) {
        vf_param_info info;
        char key[256];
        vf_params_info(n->p, i, &info);
        snprintf(key, sizeof key, "%s.%s%s", act_name, tag, info.name + strlen("net."));
        if (vf_st_get_into(golden, key, vf_params_data(n->p, i), info.numel) != VF_OK) {
            fprintf(stderr, "%s: %s\n", key, vf_last_error());
            return -1;
        }
    }
    return 0;
}

static void net_free(net *n)
{
    vf_mlp_free(n->mlp);
    vf_params_free(n->p);
}

/* loss = mean((net(x) - y)^2) on tape t; *out gets the output node. */
static vf_var loss_of(net *n, vf_tape *t, vf_var x, const vf_tensor *y, vf_var *out)
{
    *out = vf_mlp_forward(n->mlp, n->p, t, x, VF_NOVAR);
    vf_var vy = vf_input(t, y->data, 2, y->shape);
    return vf_mean(t, vf_square(t, vf_sub(t, *out, vy)), VF_ALL_AXES, 0);
}

static void check_activation(const char *act_name, const vf_tensor *x, const vf_tensor *y)
{
    net n;
    char key[256];
    CHECK_MSG(net_load(&n, act_name, "") == 0, "%s: cannot load weights", act_name);
    vf_tape *t = vf_tape_new();
    vf_var vx = vf_input_grad(t, x->data, 2, x->shape), out;
    vf_var loss = loss_of(&n, t, vx, y, &out);
    CHECK_STATUS(vf_backward(t, loss), VF_OK);
    if (vf_tape_status(t) == VF_OK) {
        snprintf(key, sizeof key, "%s.out", act_name);
        double e = rel_err(key, vf_value(t, out)->data, 32, 1e-5);
        CHECK_MSG(e <= TOL, "%s: output rel err %.3g", act_name, e);
        snprintf(key, sizeof key, "%s.loss", act_name);
        e = rel_err(key, vf_value(t, loss)->data, 1, 1e-5);
        CHECK_MSG(e <= TOL, "%s: loss rel err %.3g", act_name, e);
        snprintf(key, sizeof key, "%s.grad_x", act_name);
        e = rel_err(key, vf_grad(t, vx), 48, 1e-5);
        CHECK_MSG(e <= TOL, "%s: d loss / d x rel err %.3g", act_name, e);
        for (int32_t i = 0; i < vf_params_count(n.p); i++) {
            vf_param_info info;
            vf_params_info(n.p, i, &info);
            snprintf(key, sizeof key, "%s.grad.%s", act_name, info.name + strlen("net."));
            e = rel_err(key, vf_params_grad(n.p, i), info.numel, 1e-5);
            CHECK_MSG(e <= TOL, "%s: gradient of %s rel err %.3g", act_name, info.name, e);
        }
    }
    vf_tape_free(t);
    net_free(&n);
}

/* Three optimizer steps from PyTorch's initial weights give PyTorch's weights. */
static void check_adam(const char *act_name, const vf_tensor *x, const vf_tensor *y, int decoupled)
{
    net n;
    char key[256];
    const char *tag = decoupled ? "adamw3." : "adam3.";
    CHECK_MSG(net_load(&n, act_name, "") == 0, "%s: cannot load weights", act_name);
    vf_adam_params ap = decoupled ? vf_adamw_default_params() : vf_adam_default_params();
    ap.lr = 1e-2;
    ap.weight_decay = decoupled ? 0.1 : 0.0;
    vf_adam *opt = NULL;
    CHECK_STATUS(vf_adam_new(vf_params_size(n.p), &ap, &opt), VF_OK);
    vf_tape *t = vf_tape_new();
    for (int step = 0; step < 3 && opt; step++) {
        vf_var out;
        vf_params_zero_grad(n.p);
        vf_var vx = vf_input(t, x->data, 2, x->shape);
        CHECK_STATUS(vf_backward(t, loss_of(&n, t, vx, y, &out)), VF_OK);
        CHECK_STATUS(vf_adam_step(opt, vf_params_values(n.p), vf_params_grads(n.p)), VF_OK);
        vf_tape_reset(t);
    }
    for (int32_t i = 0; i < vf_params_count(n.p); i++) {
        vf_param_info info;
        vf_params_info(n.p, i, &info);
        snprintf(key, sizeof key, "%s.%s%s", act_name, tag, info.name + strlen("net."));
        /* Adam's step is about lr per element whatever the gradient's size, so compare on the scale
         * of lr: an error of TOL relative to 1e-2 (the floor) is a fraction TOL of one step. */
        double e = rel_err(key, vf_params_data(n.p, i), info.numel, 1e-2);
        CHECK_MSG(e <= TOL, "%s %s: %s rel err %.3g", act_name, tag, info.name, e);
    }
    vf_tape_free(t);
    vf_adam_free(opt);
    net_free(&n);
}

static const char *const acts[] = {"none", "relu", "leaky_relu", "elu", "selu",
                                   "silu", "gelu", "tanh", "sigmoid", "softplus"};

static vf_tensor gx, gy;

static void test_forward_backward(void)
{
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) check_activation(acts[i], &gx, &gy);
}

static void test_adam_steps(void)
{
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        check_adam(acts[i], &gx, &gy, 0);
        check_adam(acts[i], &gx, &gy, 1);
    }
}

int main(void)
{
    const char *path = VF_TEST_GOLDEN_DIR "/torch_mlp.safetensors";
    if (vf_st_open(path, &golden) != VF_OK) {
        fprintf(stderr, "cannot open %s: %s\n", path, vf_last_error());
        printf("0 passed, 1 failed\n");
        return 1;
    }
    if (vf_st_get(golden, "x", &gx) != VF_OK || vf_st_get(golden, "y", &gy) != VF_OK) return 1;
    RUN(test_forward_backward);
    RUN(test_adam_steps);
    vf_tensor_free(&gx);
    vf_tensor_free(&gy);
    vf_st_close(golden);
    return vf_test_summary();
}
