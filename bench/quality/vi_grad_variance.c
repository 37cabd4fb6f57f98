/* vi_grad_variance.c — issue 5's gradient-variance measurement on u1 (docs/vi.md, "Gradient
 * variance"): fits the default VI flow to u1 by rkl and by path (3000 steps, batch 512, lr 3e-3, seeds
 * 0..2, vf_vi_run), then measures at each fitted flow the total variance over parameters of a 256-draw
 * gradient of each estimator from 30 batches.
 *   cc -O2 -Iinclude -Ibuild/include bench/quality/vi_grad_variance.c build/libvarflow.a \
 *      $(pkg-config --static --libs varflow 2>/dev/null || echo -lopenblas -lgomp -lz -lpng -lm -ldl)
 *   OMP_NUM_THREADS=1 ./a.out [STEPS [LR [0|1: rkl or path fits only]]] */
#include <stdio.h>
#include <stdlib.h>
#include "varflow.h"
static double gvar(vf_vi *v, vf_params *p, int obj, vf_rng *r) {
    int64_t size = vf_params_size(p);
    double *sum = calloc(size, sizeof *sum), *sq = calloc(size, sizeof *sq), var = 0;
    for (int rep = 0; rep < 30; rep++) {
        vf_params_zero_grad(p);
        if (vf_vi_grad(v, (vf_vi_objective)obj, 256, r, NULL)) { printf("err %s\n", vf_last_error()); exit(1); }
        const vf_real *g = vf_params_grads(p);
        for (int64_t i = 0; i < size; i++) sum[i] += g[i], sq[i] += (double)g[i] * g[i];
    }
    for (int64_t i = 0; i < size; i++) var += (sq[i] - sum[i] * sum[i] / 30) / 29;
    free(sum); free(sq); return var;
}
int main(int argc, char **argv) {
    int64_t steps = argc > 1 ? atoll(argv[1]) : 3000;   /* optional: steps, learning rate, fit objectives */
    double lr = argc > 2 ? atof(argv[2]) : 3e-3;
    int fit_lo = argc > 3 ? atoi(argv[3]) : 0, fit_hi = argc > 3 ? atoi(argv[3]) : 1;
    for (int fitobj = fit_lo; fitobj <= fit_hi; fitobj++)
    for (int seed = 0; seed < 3; seed++) {
        vf_target t; vf_target_from_spec("u1", &t);
        vf_vi_run_options o = vf_vi_run_default_options();
        o.vi.steps = steps; o.vi.batch = 512; o.vi.lr = lr; o.vi.seed = seed; o.vi.objective = fitobj;
        o.is_samples = 20000;
        vf_fitted *m = NULL; vf_vi_summary s;
        if (vf_vi_run(&t, NULL, &o, &m, &s)) { printf("%s\n", s.error); return 1; }
        vf_vi *v = NULL; vf_vi_new(vf_fitted_flow(m), vf_fitted_params(m), &t, &v);
        vf_rng r; vf_rng_init(&r, 100 + seed, 3);
        double a = gvar(v, vf_fitted_params(m), 0, &r), b = gvar(v, vf_fitted_params(m), 1, &r);
        printf("fit %s seed %d: gap %.4f  var rkl %.4g path %.4g ratio %.2f\n", fitobj ? "path" : "rkl", seed,
               t.log_z - s.elbo, a, b, a / b);
        fflush(stdout);
        vf_vi_free(v); vf_fitted_free(m); vf_target_free(&t);
    }
    return 0;
}
