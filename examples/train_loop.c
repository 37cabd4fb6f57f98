/* train_loop.c — a custom training loop over varflow's engine, to copy from.
 *
 * Fits y = sin(3 x) with an MLP 1 -> 64 -> 64 -> 1 (tanh), Adam and a cosine schedule, then saves the
 * weights as a safetensors file that PyTorch reads (names net.layers.<i>.weight / .bias).
 *
 *   cc train_loop.c $(pkg-config --cflags --libs varflow) -o train_loop && ./train_loop out.safetensors
 *
 * Exit status 0 when the fit reaches a mean squared error below 1e-3 (the noise-free target is easy).
 */
#include <math.h>
#include <stdio.h>
#include <varflow.h>

#define N 256          /* points in the batch */
#define STEPS 2000

static int fail(const char *what)
{
    fprintf(stderr, "train_loop: %s: %s\n", what, vf_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *out = argc > 1 ? argv[1] : "train_loop.safetensors";
    vf_real x[N], y[N];
    for (int i = 0; i < N; i++) {
        x[i] = (vf_real)(-1.0 + 2.0 * i / (N - 1));
        y[i] = (vf_real)sin(3.0 * x[i]);
    }

    /* 1. Parameters: register the network's tensors, then allocate and initialize them at once. */
    vf_params *params = vf_params_new();
    vf_mlp_params mp = vf_mlp_default_params(1, 1);
    mp.n_hidden = 2;
    mp.hidden[0] = mp.hidden[1] = 64;
    mp.act = VF_ACT_TANH;
    vf_mlp *net = NULL;
    if (!params || vf_mlp_new(params, "net", &mp, &net) != VF_OK || vf_params_finalize(params, 7) != VF_OK)
        return fail("building the network");

    /* 2. The optimizer works on the flat parameter vector. */
    vf_adam_params ap = vf_adam_default_params();
    vf_adam *opt = NULL;
    if (vf_adam_new(vf_params_size(params), &ap, &opt) != VF_OK) return fail("adam");
    vf_schedule sched = vf_schedule_default(1e-2, STEPS);
    sched.kind = VF_SCHED_COSINE;

    /* 3. The loop: record the loss on a tape, differentiate, step, reset the tape. */
    vf_tape *t = vf_tape_new();
    if (!t) return fail("tape");
    double loss = INFINITY;
    for (int step = 0; step < STEPS; step++) {
        vf_params_zero_grad(params);
        vf_var vx = vf_input(t, x, 2, (int64_t[]){N, 1});
        vf_var vy = vf_input(t, y, 2, (int64_t[]){N, 1});
        vf_var pred = vf_mlp_forward(net, params, t, vx, VF_NOVAR);
        vf_var l = vf_mean(t, vf_square(t, vf_sub(t, pred, vy)), VF_ALL_AXES, 0);
        if (vf_backward(t, l) != VF_OK) return fail("backward"); /* also reports any op's error */
        loss = (double)vf_value(t, l)->data[0];
        vf_clip_grad_norm(vf_params_grads(params), vf_params_size(params), 10.0, NULL);
        vf_adam_set_lr(opt, vf_schedule_lr(&sched, step));
        if (vf_adam_step(opt, vf_params_values(params), vf_params_grads(params)) != VF_OK) return fail("adam step");
        vf_tape_reset(t);
        if (step % 500 == 0) printf("step %4d  mse %.6f\n", step, loss);
    }
    printf("final mse %.2e\n", loss);

    /* 4. Save: every registered tensor under its name, plus free-form metadata. */
    vf_st_writer *w = vf_st_writer_new();
    if (!w) return fail("writer");
    for (int32_t i = 0; i < vf_params_count(params); i++) {
        vf_param_info info;
        vf_params_info(params, i, &info);
        vf_st_writer_add(w, info.name, VF_ST_F32, info.ndim, info.shape, vf_params_data(params, i));
    }
    vf_st_writer_set_meta(w, "architecture", "mlp 1-64-64-1 tanh");
    if (vf_st_writer_write(w, out) != VF_OK) return fail("saving");
    printf("wrote %s\n", out);

    vf_st_writer_free(w);
    vf_tape_free(t);
    vf_adam_free(opt);
    vf_mlp_free(net);
    vf_params_free(params);
    return loss < 1e-3 ? 0 : 1;
}
