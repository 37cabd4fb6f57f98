/* test_optim.c — Adam/AdamW against hand-derived updates, convergence on least squares, state
 * save/restore, gradient clipping, learning-rate schedules, EMA, and allocation failures. */
#include <math.h>
#include <stdlib.h>
#include "vf_test.h"
#include "varflow.h"

#if VF_USE_DOUBLE
#define TOL_STEP 1e-12
#else
#define TOL_STEP 2e-6
#endif

/* ---- Adam / AdamW by hand ---------------------------------------------------------------------
 * Problem: f(x) = 1/2 [1 (x0 - 0.5)^2 + 10 (x1 - 1)^2], gradient g = (x0 - 0.5, 10 (x1 - 1)),
 * start x = (1, -2), lr = 0.1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8. PyTorch's update is
 *   m = b1 m + (1-b1) g,  v = b2 v + (1-b2) g^2,
 *   x -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 * Step 1 in closed form: m_hat = g, v_hat = g^2, so x -= lr g / (|g| + eps):
 *   g = (0.5, -30): x0 = 1 - 0.1 * 0.5/(0.5 + 1e-8) = 0.900000002 (to 1e-15: 0.9 + 0.1*2e-8)
 *                   x1 = -2 + 0.1 * 30/(30 + 1e-8) = -1.90000000003333
 *   m = (0.05, -3), v = (0.00025, 0.9).
 * Step 2: g = (0.400000002, -29.0000000003); m = 0.9 m + 0.1 g = (0.0850000002, -5.60000000003),
 *   v = 0.999 v + 0.001 g^2 = (0.0004097500016, 1.74010000002); 1 - b1^2 = 0.19, 1 - b2^2 = 0.001999:
 *   x0 = 0.900000002 - 0.1/0.19 * 0.0850000002 / (sqrt(0.0004097500016/0.001999) + 1e-8)
 *      = 0.80118742373064,  x1 = -1.80010270714618.
 * Step 3: g = (0.301187423731, -28.0010270715); m = (0.106618742553, -7.84010270718),
 *   v = (0.000500054115812, 2.52241741708); 1 - b1^3 = 0.271, 1 - b2^3 = 0.002997001:
 *   x = (0.704871255739451, -1.70038152304509).
 * Adam with weight_decay 0.5 (L2: g += 0.5 x before the moments), same steps:
 *   step 1 g = (1, -31): x = (0.900000001, -1.90000000003226)
 *   step 2 g = (0.850000001, -29.9500000003): x = (0.800748444411798, -1.80010463121455)
 *   step 3: x = (0.702970495645139, -1.70038876622722)
 * AdamW with weight_decay 0.5 (x *= 1 - lr wd = 0.95 first, moments from the raw gradient):
 *   step 1: x = (0.95 - 0.1*0.5/(0.5+1e-8), -1.9 + 0.1*30/(30+1e-8)) = (0.850000002, -1.80000000003333)
 *   step 2 g = (0.350000002, -28.0000000003): x = (0.709927954050474, -1.61023906168217)
 *   step 3: x = (0.582322106689494, -1.43036961220659)
 * (Intermediate digits from the formulas above evaluated in double precision.) */
static void run_hand(int decoupled, double wd, const double expect[3][2])
{
    vf_adam_params ap = vf_adam_default_params();
    ap.lr = 0.1;
    ap.weight_decay = wd;
    ap.decoupled = decoupled;
    vf_adam *o = NULL;
    CHECK_STATUS(vf_adam_new(2, &ap, &o), VF_OK);
    if (!o) return;
    vf_real x[2] = {1, -2}, g[2];
    for (int k = 0; k < 3; k++) {
        g[0] = (vf_real)(x[0] - 0.5);
        g[1] = (vf_real)(10 * (x[1] - 1.0));
        CHECK_STATUS(vf_adam_step(o, x, g), VF_OK);
        CHECK_NEAR(x[0], expect[k][0], TOL_STEP);
        CHECK_NEAR(x[1], expect[k][1], TOL_STEP);
    }
    int64_t step = 0;
    vf_adam_state(o, NULL, NULL, &step);
    CHECK(step == 3);
    vf_adam_free(o);
}

static void test_adam_hand(void)
{
    const double adam[3][2] = {{0.900000002, -1.90000000003333},
                               {0.80118742373064, -1.80010270714618},
                               {0.704871255739451, -1.70038152304509}};
    const double adam_l2[3][2] = {{0.900000001, -1.90000000003226},
                                  {0.800748444411798, -1.80010463121455},
                                  {0.702970495645139, -1.70038876622722}};
    const double adamw[3][2] = {{0.850000002, -1.80000000003333},
                                {0.709927954050474, -1.61023906168217},
                                {0.582322106689494, -1.43036961220659}};
    run_hand(0, 0.0, adam);
    run_hand(0, 0.5, adam_l2);
    run_hand(1, 0.5, adamw);
}

/* ---- convergence on least squares --------------------------------------------------------- */
#define LS_M 40
#define LS_D 4

/* Solves the d x d system a z = r in place (Gaussian elimination with partial pivoting). */
static void solve(double a[LS_D][LS_D], double r[LS_D], double z[LS_D])
{
    for (int c = 0; c < LS_D; c++) {
        int p = c;
        for (int i = c + 1; i < LS_D; i++)
            if (fabs(a[i][c]) > fabs(a[p][c])) p = i;
        for (int j = 0; j < LS_D; j++) {
            double tmp = a[c][j];
            a[c][j] = a[p][j];
            a[p][j] = tmp;
        }
        double tmp = r[c];
        r[c] = r[p];
        r[p] = tmp;
        for (int i = c + 1; i < LS_D; i++) {
            double f = a[i][c] / a[c][c];
            for (int j = c; j < LS_D; j++) a[i][j] -= f * a[c][j];
            r[i] -= f * r[c];
        }
    }
    for (int i = LS_D - 1; i >= 0; i--) {
        double s = r[i];
        for (int j = i + 1; j < LS_D; j++) s -= a[i][j] * z[j];
        z[i] = s / a[i][i];
    }
}

/* Loss (1/2m) |A x - b|^2 with a fixed random A [40, 4] and b [40]; Adam with a cosine schedule
 * from lr 0.05 down to 0.05 * 1e-3 over 4000 steps must land on the normal-equations solution.
 * Tolerance: near the optimum each Adam step moves a coordinate by at most about the current lr
 * (|m_hat| / sqrt(v_hat) <= 1 up to the moment lag), and the rate has decayed to 5e-5, so a
 * converged iterate sits within a couple of final steps of x*: 1e-4. Float rounding of the
 * gradient (~1e-7 relative, condition number ~3) is far below that (observed error ~1e-7). The
 * bound is 1e4 times smaller than x*'s entries, so an update with a wrong sign or scale fails. */
static void test_adam_least_squares(void)
{
    vf_rng r;
    vf_rng_init(&r, 2024, 1);
    double a[LS_M][LS_D], b[LS_M];
    for (int i = 0; i < LS_M; i++) {
        for (int j = 0; j < LS_D; j++) a[i][j] = vf_rng_normal(&r);
        b[i] = vf_rng_normal(&r) + a[i][0] - 2 * a[i][1];
    }
    double ata[LS_D][LS_D] = {{0}}, atb[LS_D] = {0}, xstar[LS_D];
    for (int i = 0; i < LS_M; i++)
        for (int j = 0; j < LS_D; j++) {
            atb[j] += a[i][j] * b[i];
            for (int k = 0; k < LS_D; k++) ata[j][k] += a[i][j] * a[i][k];
        }
    solve(ata, atb, xstar);

    vf_adam_params ap = vf_adam_default_params();
    vf_adam *o = NULL;
    CHECK_STATUS(vf_adam_new(LS_D, &ap, &o), VF_OK);
    if (!o) return;
    vf_schedule sch = vf_schedule_default(0.05, 4000);
    sch.kind = VF_SCHED_COSINE;
    sch.final_fraction = 1e-3;
    CHECK_STATUS(vf_schedule_check(&sch), VF_OK);
    vf_real x[LS_D] = {0}, g[LS_D];
    for (int64_t k = 0; k < sch.total_steps; k++) {
        double gd[LS_D] = {0};
        for (int i = 0; i < LS_M; i++) {
            double res = -b[i];
            for (int j = 0; j < LS_D; j++) res += a[i][j] * (double)x[j];
            for (int j = 0; j < LS_D; j++) gd[j] += a[i][j] * res / LS_M;
        }
        for (int j = 0; j < LS_D; j++) g[j] = (vf_real)gd[j];
        CHECK_STATUS(vf_adam_set_lr(o, vf_schedule_lr(&sch, k)), VF_OK);
        CHECK_STATUS(vf_adam_step(o, x, g), VF_OK);
    }
    for (int j = 0; j < LS_D; j++) CHECK_NEAR(x[j], xstar[j], 1e-4);
    vf_adam_free(o);
}

/* A non-finite gradient leaves parameters, moments and the step count untouched. */
static void test_adam_nonfinite(void)
{
    vf_adam_params ap = vf_adam_default_params();
    vf_adam *o = NULL;
    CHECK_STATUS(vf_adam_new(2, &ap, &o), VF_OK);
    if (!o) return;
    vf_real x[2] = {1, 2}, g[2] = {0.5, -1};
    CHECK_STATUS(vf_adam_step(o, x, g), VF_OK);
    vf_real keep[2] = {x[0], x[1]}, *m, *v;
    int64_t step;
    vf_adam_state(o, &m, &v, &step);
    vf_real m0 = m[0], v1 = v[1];
    g[1] = (vf_real)NAN;
    CHECK_STATUS(vf_adam_step(o, x, g), VF_ERR_NUMERIC);
    g[1] = (vf_real)INFINITY;
    CHECK_STATUS(vf_adam_step(o, x, g), VF_ERR_NUMERIC);
    vf_adam_state(o, &m, &v, &step);
    CHECK(x[0] == keep[0] && x[1] == keep[1]);
    CHECK(m[0] == m0 && v[1] == v1 && step == 1);
    vf_adam_free(o);
}

/* Restoring (m, v, step) into a fresh optimizer continues the exact same trajectory. */
static void test_adam_state_roundtrip(void)
{
    vf_adam_params ap = vf_adamw_default_params();
    ap.lr = 0.05;
    vf_adam *a = NULL, *b = NULL;
    CHECK_STATUS(vf_adam_new(3, &ap, &a), VF_OK);
    CHECK_STATUS(vf_adam_new(3, &ap, &b), VF_OK);
    if (!a || !b) return;
    vf_real x[3] = {1, -1, 0.5}, g[3];
    for (int k = 0; k < 2; k++) {
        for (int j = 0; j < 3; j++) g[j] = (vf_real)(x[j] * (j + 1) - 0.3);
        vf_adam_step(a, x, g);
    }
    vf_real *ma, *va, *mb, *vb;
    int64_t sa;
    vf_adam_state(a, &ma, &va, &sa);
    vf_adam_state(b, &mb, &vb, NULL);
    memcpy(mb, ma, sizeof x);
    memcpy(vb, va, sizeof x);
    CHECK_STATUS(vf_adam_set_step(b, sa), VF_OK);
    vf_real y[3] = {x[0], x[1], x[2]};
    for (int j = 0; j < 3; j++) g[j] = (vf_real)(x[j] * (j + 1) - 0.3);
    vf_adam_step(a, x, g);
    vf_adam_step(b, y, g);
    for (int j = 0; j < 3; j++) CHECK(x[j] == y[j]);
    /* a fresh optimizer (step 0, zero moments) would have moved differently */
    vf_adam_reset(b);
    vf_real z[3] = {y[0], y[1], y[2]};
    vf_adam_step(b, z, g);
    vf_adam_state(b, NULL, NULL, &sa);
    CHECK(sa == 1);
    vf_adam_free(a);
    vf_adam_free(b);
}

static void test_adam_args(void)
{
    vf_adam *o = NULL;
    vf_adam_params ap = vf_adam_default_params();
    ap.beta1 = 1.0;
    CHECK_STATUS(vf_adam_new(4, &ap, &o), VF_ERR_ARG);
    ap = vf_adam_default_params();
    ap.lr = -1;
    CHECK_STATUS(vf_adam_new(4, &ap, &o), VF_ERR_ARG);
    ap = vf_adam_default_params();
    ap.weight_decay = NAN;
    CHECK_STATUS(vf_adam_new(4, &ap, &o), VF_ERR_ARG);
    CHECK(o == NULL);
    ap = vf_adam_default_params();
    CHECK_STATUS(vf_adam_new(4, &ap, &o), VF_OK);
    CHECK_STATUS(vf_adam_set_lr(o, INFINITY), VF_ERR_ARG);
    CHECK_STATUS(vf_adam_set_lr(o, 0.25), VF_OK);
    CHECK(vf_adam_get_lr(o) == 0.25);
    CHECK(vf_adam_size(o) == 4);
    CHECK_STATUS(vf_adam_set_step(o, -1), VF_ERR_ARG);
    vf_adam_free(o);
    vf_adamw_default_params();
    CHECK(vf_adamw_default_params().decoupled == 1 && vf_adamw_default_params().weight_decay == 1e-2);
}

/* ---- clipping ----------------------------------------------------------------------------- */
static void test_clip(void)
{
    vf_real g[2] = {3, 4};
    double norm = 0;
    CHECK_STATUS(vf_clip_grad_norm(g, 2, 10.0, &norm), VF_OK);
    CHECK_NEAR(norm, 5.0, 1e-12);
    CHECK(g[0] == 3 && g[1] == 4); /* below the bound: unchanged */
    CHECK_STATUS(vf_clip_grad_norm(g, 2, 1.0, &norm), VF_OK);
    CHECK_NEAR(norm, 5.0, 1e-12);
    CHECK_NEAR(g[0], 3.0 / (5.0 + 1e-6), 1e-7);
    CHECK_NEAR(g[1], 4.0 / (5.0 + 1e-6), 1e-7);
    CHECK_NEAR(vf_grad_norm(g, 2), 1.0, 1e-6);

    vf_real bad[3] = {1, (vf_real)NAN, 2};
    CHECK_STATUS(vf_clip_grad_norm(bad, 3, 1.0, &norm), VF_ERR_NUMERIC);
    CHECK(bad[0] == 1 && bad[2] == 2);
    vf_real inf[2] = {1, (vf_real)-INFINITY};
    CHECK_STATUS(vf_clip_grad_norm(inf, 2, 1.0, &norm), VF_ERR_NUMERIC);
    CHECK(inf[0] == 1);
    CHECK_STATUS(vf_clip_grad_norm(g, 2, 0.0, &norm), VF_ERR_ARG);

    /* large entries: the norm is computed without overflow (squares of 1e30 overflow float) */
    vf_real big[2] = {(vf_real)3e30, (vf_real)4e30};
    CHECK_NEAR(vf_grad_norm(big, 2) / 5e30, 1.0, 1e-6);
#if VF_USE_DOUBLE
    vf_real huge[2] = {3e200, 4e200};   /* squares overflow double */
    CHECK_NEAR(vf_grad_norm(huge, 2) / 5e200, 1.0, 1e-12);
#endif
    CHECK(vf_grad_norm(g, 0) == 0.0);

    /* a long vector (the vectorized lanes and the tail) against a sum in long double; tiny entries
     * (squares below float's range) still count; NaN or infinity anywhere gives NaN / infinity */
    enum { LONG_N = 1003 };
    vf_real v[LONG_N];
    long double ref = 0;
    for (int i = 0; i < LONG_N; i++) {
        v[i] = (vf_real)((i % 7 - 3) * 1e-3 * (1 + i % 5));
        ref += (long double)v[i] * (long double)v[i];
    }
    CHECK_NEAR(vf_grad_norm(v, LONG_N) / (double)sqrtl(ref), 1.0, 1e-12);
    vf_real tiny[3] = {(vf_real)3e-30, (vf_real)4e-30, 0};
    CHECK_NEAR(vf_grad_norm(tiny, 3) / 5e-30, 1.0, 1e-6);
    for (int at = 0; at < LONG_N; at += 500) {
        vf_real keep = v[at];
        v[at] = (vf_real)NAN;
        CHECK(isnan(vf_grad_norm(v, LONG_N)));
        v[at] = (vf_real)-INFINITY;
        CHECK(vf_grad_norm(v, LONG_N) == INFINITY);
        v[at] = keep;
    }
    v[LONG_N - 1] = (vf_real)NAN; /* in the tail, after an infinity */
    v[0] = (vf_real)INFINITY;
    CHECK(isnan(vf_grad_norm(v, LONG_N)));
}

/* ---- schedules ---------------------------------------------------------------------------- */
static void test_schedules(void)
{
    vf_schedule s = vf_schedule_default(2.0, 100);
    CHECK_STATUS(vf_schedule_check(&s), VF_OK);
    CHECK(vf_schedule_lr(&s, 0) == 2.0 && vf_schedule_lr(&s, 57) == 2.0 && vf_schedule_lr(&s, 1000) == 2.0);

    /* warm-up 10 then cosine to 0.1 at step 110: lr(k) = 0.1 + 0.9 (1 + cos(pi (k - 10)/100))/2 */
    s.lr = 1.0;
    s.kind = VF_SCHED_COSINE;
    s.warmup_steps = 10;
    s.total_steps = 110;
    s.final_fraction = 0.1;
    CHECK_STATUS(vf_schedule_check(&s), VF_OK);
    CHECK_NEAR(vf_schedule_lr(&s, 0), 0.1, 1e-15);
    CHECK_NEAR(vf_schedule_lr(&s, 4), 0.5, 1e-15);
    CHECK_NEAR(vf_schedule_lr(&s, 9), 1.0, 1e-15);
    CHECK_NEAR(vf_schedule_lr(&s, 10), 1.0, 1e-15);
    CHECK_NEAR(vf_schedule_lr(&s, 35), 0.1 + 0.45 * (1 + sqrt(0.5)), 1e-15);
    CHECK_NEAR(vf_schedule_lr(&s, 60), 0.55, 1e-15);
    CHECK_NEAR(vf_schedule_lr(&s, 110), 0.1, 1e-15);
    CHECK_NEAR(vf_schedule_lr(&s, 5000), 0.1, 1e-15);
    CHECK_NEAR(vf_schedule_lr(&s, -3), 0.1, 1e-15);

    s.kind = VF_SCHED_LINEAR;
    CHECK_NEAR(vf_schedule_lr(&s, 10), 1.0, 1e-15);
    CHECK_NEAR(vf_schedule_lr(&s, 35), 0.775, 1e-15);
    CHECK_NEAR(vf_schedule_lr(&s, 60), 0.55, 1e-15);
    CHECK_NEAR(vf_schedule_lr(&s, 110), 0.1, 1e-15);

    s.kind = VF_SCHED_CONSTANT;   /* warm-up also applies before a constant rate */
    CHECK_NEAR(vf_schedule_lr(&s, 1), 0.2, 1e-15);
    CHECK_NEAR(vf_schedule_lr(&s, 50), 1.0, 1e-15);

    s.kind = VF_SCHED_COSINE;
    s.total_steps = 10;           /* decay span must be positive */
    CHECK_STATUS(vf_schedule_check(&s), VF_ERR_ARG);
    s.total_steps = 110;
    s.final_fraction = 1.5;
    CHECK_STATUS(vf_schedule_check(&s), VF_ERR_ARG);
}

/* ---- EMA ---------------------------------------------------------------------------------- */
static void test_ema(void)
{
    vf_real x[2] = {1, 2};
    vf_ema *e = NULL;
    CHECK_STATUS(vf_ema_new(x, 2, 1.5, &e), VF_ERR_ARG);
    CHECK_STATUS(vf_ema_new(x, 2, 0.9, &e), VF_OK);
    if (!e) return;
    x[0] = 3;
    vf_ema_update(e, x);                        /* (0.9*1 + 0.1*3, 2) = (1.2, 2) */
    x[1] = 0;
    vf_ema_update(e, x);                        /* (0.9*1.2 + 0.3, 0.9*2) = (1.38, 1.8) */
    CHECK_NEAR(vf_ema_values(e)[0], 1.38, 1e-6);
    CHECK_NEAR(vf_ema_values(e)[1], 1.8, 1e-6);
    CHECK(vf_ema_updates(e) == 2 && vf_ema_size(e) == 2);
    vf_ema_swap(e, x);                          /* evaluate with the average */
    CHECK_NEAR(x[0], 1.38, 1e-6);
    CHECK_NEAR(x[1], 1.8, 1e-6);
    CHECK(vf_ema_values(e)[0] == 3 && vf_ema_values(e)[1] == 0);
    vf_ema_swap(e, x);                          /* and back */
    CHECK(x[0] == 3 && x[1] == 0);
    vf_real y[2];
    vf_ema_copy_to(e, y);
    CHECK_NEAR(y[0], 1.38, 1e-6);
    vf_ema_copy_from(e, x);
    CHECK(vf_ema_values(e)[0] == 3);
    vf_ema_free(e);
}

/* ---- allocation failures ------------------------------------------------------------------ */
static int fail_at = -1, n_allocs = 0, live = 0;
static void *t_alloc(size_t n, void *u)
{
    (void)u;
    if (fail_at >= 0 && n_allocs++ == fail_at) return NULL;
    live++;
    return malloc(n);
}
static void *t_realloc(void *p, size_t n, void *u)
{
    (void)u;
    if (fail_at >= 0 && n_allocs++ == fail_at) return NULL;
    if (!p) live++;
    return realloc(p, n);
}
static void t_free(void *p, void *u)
{
    (void)u;
    if (p) live--;
    free(p);
}

static void test_nomem(void)
{
    vf_allocator al = {t_alloc, t_realloc, t_free, NULL};
    vf_set_allocator(&al);
    vf_real x[5] = {1, 2, 3, 4, 5};
    int adam_failures = 0, ema_failures = 0;
    for (int k = 0; k < 20; k++) {
        fail_at = k;
        n_allocs = 0;
        vf_adam_params ap = vf_adam_default_params();
        vf_adam *o = NULL;
        vf_status s = vf_adam_new(5, &ap, &o);
        if (s == VF_OK) vf_adam_free(o);
        else {
            CHECK(s == VF_ERR_NOMEM && o == NULL);
            adam_failures++;
        }
        n_allocs = 0;
        vf_ema *e = NULL;
        s = vf_ema_new(x, 5, 0.99, &e);
        if (s == VF_OK) vf_ema_free(e);
        else {
            CHECK(s == VF_ERR_NOMEM && e == NULL);
            ema_failures++;
        }
        CHECK(live == 0);
    }
    CHECK(adam_failures == 3 && ema_failures == 2); /* every allocation of each was made to fail once */
    fail_at = -1;
    vf_set_allocator(NULL);
}

int main(void)
{
    RUN(test_adam_hand);
    RUN(test_adam_least_squares);
    RUN(test_adam_nonfinite);
    RUN(test_adam_state_roundtrip);
    RUN(test_adam_args);
    RUN(test_clip);
    RUN(test_schedules);
    RUN(test_ema);
    RUN(test_nomem);
    return vf_test_summary();
}
