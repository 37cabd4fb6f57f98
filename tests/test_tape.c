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

int main(void)
{
    RUN(test_exp_chain);
    RUN(test_sticky_error);
    return vf_test_summary();
}
