/* test_tape.c — the tape itself: leaves, sticky errors, reverse and forward sweeps. */
#include "vf_test.h"
#include "gradcheck.h"

static vf_var build_exp(vf_tape *t, const vf_var *in, void *ctx)
{
    (void)ctx;
    return vf_exp(t, vf_exp(t, in[0]));
}

static void test_exp_chain(void)
{
    vf_real x[6];
    gc_fill(x, 6, 1, 0.0, 0.5);
    gc_input in[1] = {{x, 2, {2, 3}, 1}};
    CHECK(gradcheck("exp(exp)", build_exp, NULL, 1, in));
}

static void test_sticky_error(void)
{
    vf_tape *t = vf_tape_new();
    vf_real x = 1;
    vf_var bad = vf_exp(t, 42);                 /* not a node */
    CHECK(bad == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_ARG);
    vf_var a = vf_input(t, &x, 0, NULL);
    CHECK(a == VF_NOVAR);                       /* the tape stays failed until reset */
    vf_tape_reset(t);
    CHECK(vf_tape_status(t) == VF_OK);
    a = vf_input(t, &x, 0, NULL);
    CHECK(a != VF_NOVAR);
    CHECK(vf_backward(t, vf_exp(t, a)) == VF_OK);
    vf_tape_free(t);
}

/* A backward pass leaves every adjoint it allocates defined: nodes that no VJP reaches read as zeros
 * through vf_grad, also when y depends on no parameter or is a parameter itself. The tape is reset
 * after a pass that filled its memory with non-zero adjoints, so a buffer left unwritten would show
 * the old values. */
static void fill_arena(vf_tape *t, vf_real *x)
{
    vf_var a = vf_input_grad(t, x, 1, (int64_t[]){64});
    vf_var y = vf_sum(t, vf_exp(t, vf_exp(t, a)), VF_ALL_AXES, 0);
    CHECK_STATUS(vf_backward(t, y), VF_OK);
    vf_tape_reset(t);
}

static void test_unreached_adjoints_are_zero(void)
{
    vf_real x[64], c[64];
    for (int i = 0; i < 64; i++) x[i] = (vf_real)(0.01 * i), c[i] = 1;
    for (int kind = 0; kind < 3; kind++) {
        vf_tape *t = vf_tape_new();
        vf_params *p = vf_params_new();
        int32_t id = -1;
        CHECK_STATUS(vf_params_add(p, "w", 1, (int64_t[]){1}, vf_init_constant(0.5), &id), VF_OK);
        CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
        fill_arena(t, x);
        vf_var a = vf_input_grad(t, x, 1, (int64_t[]){64});
        vf_var branch = vf_exp(t, vf_exp(t, a)); /* needs a gradient, feeds nothing below */
        vf_var y;
        if (kind == 0) /* y uses only constants */
            y = vf_sum(t, vf_input(t, c, 1, (int64_t[]){64}), VF_ALL_AXES, 0);
        else if (kind == 1) /* y is a parameter */
            y = vf_params_var(p, t, id);
        else /* y uses a, but not the branch */
            y = vf_sum(t, vf_mul(t, a, vf_input(t, c, 1, (int64_t[]){64})), VF_ALL_AXES, 0);
        CHECK_STATUS(vf_backward(t, y), VF_OK);
        const vf_real *gb = vf_grad(t, branch), *ga = vf_grad(t, a);
        int bad = 0;
        for (int i = 0; i < 64; i++) {
            bad += gb && gb[i] != 0;
            bad += ga && ga[i] != (kind == 2 ? 1 : 0);
        }
        CHECK_MSG(gb != NULL && ga != NULL && bad == 0, "kind %d: %d adjoint entries wrong", kind, bad);
        vf_params_free(p);
        vf_tape_free(t);
    }
}

int main(void)
{
    RUN(test_exp_chain);
    RUN(test_sticky_error);
    RUN(test_unreached_adjoints_are_zero);
    return vf_test_summary();
}
