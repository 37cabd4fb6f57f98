/* test_nn.c — the parameter store, initializers, MADE degrees/masks/autoregressive property, MLP and
 * residual MLP forward values and gradients, zero-initialized outputs, names, errors and
 * allocation failures. */
#include <stdlib.h>
#include "vf_test.h"
#include "gradcheck.h"

#if VF_USE_DOUBLE
#define TOL_FWD 1e-12
#else
#define TOL_FWD 2e-5
#endif

/* ---- counting allocator with one injected failure --------------------------------------------- */
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
static void counting_allocator(int k)
{
    static const vf_allocator al = {t_alloc, t_realloc, t_free, NULL};
    fail_at = k;
    n_allocs = 0;
    vf_set_allocator(&al);
}

/* ---- the store ---------------------------------------------------------------------------- */
static void test_registry(void)
{
    vf_params *p = vf_params_new();
    int32_t a = -1, b = -1, c = -1, d = -1;
    CHECK_STATUS(vf_params_add(p, "layers.0.weight", 2, (int64_t[]){3, 2}, vf_init_constant(1.5), &a), VF_OK);
    CHECK_STATUS(vf_params_add(p, "layers.0.bias", 1, (int64_t[]){3}, vf_init_zeros(), &b), VF_OK);
    CHECK_STATUS(vf_params_add(p, "scale", 3, (int64_t[]){2, 1, 2}, vf_init_uniform(-1, 1), &c), VF_OK);
    CHECK(a == 0 && b == 1 && c == 2);
    CHECK_STATUS(vf_params_add(p, "layers.0.bias", 1, (int64_t[]){3}, vf_init_zeros(), &d), VF_ERR_ARG);
    CHECK_STATUS(vf_params_add(p, "", 1, (int64_t[]){3}, vf_init_zeros(), &d), VF_ERR_ARG);
    CHECK_STATUS(vf_params_add(p, "z", 1, (int64_t[]){0}, vf_init_zeros(), &d), VF_ERR_SHAPE);
    CHECK_STATUS(vf_params_add(p, "z", 0, (int64_t[]){1}, vf_init_zeros(), &d), VF_ERR_SHAPE);
    CHECK_STATUS(vf_params_add(p, "z", 1, (int64_t[]){2}, vf_init_normal(0, -1), &d), VF_ERR_ARG);
    char longname[VF_PARAM_NAME_MAX + 1];
    memset(longname, 'x', VF_PARAM_NAME_MAX);
    longname[VF_PARAM_NAME_MAX] = '\0';
    CHECK_STATUS(vf_params_add(p, longname, 1, (int64_t[]){2}, vf_init_zeros(), &d), VF_ERR_ARG);
    CHECK(vf_params_count(p) == 3 && vf_params_size(p) == 6 + 3 + 4);
    CHECK(vf_params_values(p) == NULL && vf_params_data(p, a) == NULL);

    CHECK_STATUS(vf_params_finalize(p, 7), VF_OK);
    CHECK(vf_params_is_finalized(p));
    CHECK_STATUS(vf_params_finalize(p, 7), VF_ERR_STATE);
    CHECK_STATUS(vf_params_add(p, "late", 1, (int64_t[]){1}, vf_init_zeros(), &d), VF_ERR_STATE);

    vf_param_info info;
    CHECK_STATUS(vf_params_info(p, b, &info), VF_OK);
    CHECK(strcmp(info.name, "layers.0.bias") == 0 && info.offset == 6 && info.numel == 3 && info.ndim == 1 &&
          info.shape[0] == 3);
    CHECK_STATUS(vf_params_info(p, c, &info), VF_OK);
    CHECK(info.offset == 9 && info.ndim == 3 && info.shape[0] == 2 && info.shape[1] == 1 && info.shape[2] == 2);
    CHECK_STATUS(vf_params_info(p, 3, &info), VF_ERR_ARG);
    CHECK(vf_params_find(p, "scale") == c && vf_params_find(p, "nope") == -1);

    vf_real *v = vf_params_values(p), *g = vf_params_grads(p);
    CHECK(vf_params_data(p, b) == v + 6 && vf_params_grad(p, c) == g + 9);
    for (int i = 0; i < 6; i++) CHECK(v[i] == (vf_real)1.5);
    for (int i = 6; i < 9; i++) CHECK(v[i] == 0);
    for (int i = 9; i < 13; i++) CHECK(v[i] >= -1 && v[i] < 1 && v[i] != 0);
    for (int i = 0; i < 13; i++) CHECK(g[i] == 0);

    /* leaves point into the flat buffers: backward adds into them, zero_grad clears them */
    vf_tape *t = vf_tape_new();
    vf_var w = vf_params_var(p, t, c);
    CHECK(w != VF_NOVAR && vf_value(t, w)->data == v + 9);
    CHECK_STATUS(vf_backward(t, vf_sum(t, vf_square(t, w), VF_ALL_AXES, 0)), VF_OK);
    for (int i = 0; i < 4; i++) CHECK_NEAR(g[9 + i], 2 * v[9 + i], 1e-6);
    CHECK(g[0] == 0);
    vf_params_zero_grad(p);
    CHECK(g[9] == 0 && g[12] == 0);
    CHECK(vf_params_var(p, t, 17) == VF_NOVAR && vf_tape_status(t) == VF_ERR_ARG);
    vf_tape_free(t);
    vf_params_free(p);
}

/* Sample moments of initializers against their distributions (5 standard errors). */
static void test_init_stats(void)
{
    enum { N = 20000 };
    static vf_real x[N];
    vf_rng r;
    vf_rng_init(&r, 99, 0);
    /* torch: U(-b, b), b = 1/sqrt(400) = 0.05: E x^2 = b^2/3, Var x^2 = 4 b^4 / 45 */
    vf_init in = vf_init_torch(400);
    CHECK_STATUS(vf_init_fill(&in, &r, x, N), VF_OK);
    double b = 0.05, s2 = 0, mx = 0;
    for (int i = 0; i < N; i++) {
        s2 += (double)x[i] * x[i];
        mx = fmax(mx, fabs((double)x[i]));
    }
    CHECK(mx <= b && mx > 0.999 * b);
    CHECK_NEAR(s2 / N, b * b / 3, 5 * sqrt(4.0 / 45.0) * b * b / sqrt((double)N));
    /* xavier: b = gain sqrt(6 / (fan_in + fan_out)) = 2 sqrt(6 / 600) = 0.2 */
    in = vf_init_xavier_uniform(200, 400, 2.0);
    CHECK_STATUS(vf_init_fill(&in, &r, x, N), VF_OK);
    b = 0.2;
    s2 = 0;
    mx = 0;
    for (int i = 0; i < N; i++) {
        s2 += (double)x[i] * x[i];
        mx = fmax(mx, fabs((double)x[i]));
    }
    CHECK(mx <= b && mx > 0.999 * b);
    CHECK_NEAR(s2 / N, b * b / 3, 5 * sqrt(4.0 / 45.0) * b * b / sqrt((double)N));
    /* normal(1, 0.1): mean se 0.1/sqrt(N), variance se 0.01 sqrt(2/N) */
    in = vf_init_normal(1.0, 0.1);
    CHECK_STATUS(vf_init_fill(&in, &r, x, N), VF_OK);
    double m = 0, v = 0;
    for (int i = 0; i < N; i++) m += x[i];
    m /= N;
    for (int i = 0; i < N; i++) v += ((double)x[i] - m) * ((double)x[i] - m);
    v /= N - 1;
    CHECK_NEAR(m, 1.0, 5 * 0.1 / sqrt((double)N));
    CHECK_NEAR(v, 0.01, 5 * 0.01 * sqrt(2.0 / N));
    in = vf_init_torch(0);
    CHECK_STATUS(vf_init_fill(&in, &r, x, 4), VF_ERR_ARG);
}

/* Same seed, same values; another seed, other values; streams differ between tensors. */
static void test_init_seeded(void)
{
    vf_real keep[20];
    for (int round = 0; round < 3; round++) {
        vf_params *p = vf_params_new();
        vf_linear_layer l;
        CHECK_STATUS(vf_linear_layer_init(&l, p, "fc", &(vf_linear_params){5, 3, 1, VF_ACT_NONE, VF_INIT_TORCH, 1.0}), VF_OK);
        vf_linear_layer l2;
        vf_linear_params lp = vf_linear_default_params(5, 3);
        lp.bias = 0;
        CHECK_STATUS(vf_linear_layer_init(&l2, p, "fc2", &lp), VF_OK);
        CHECK(l2.bias == -1 && vf_params_size(p) == 15 + 3 + 15);
        CHECK_STATUS(vf_params_finalize(p, round == 2 ? 5 : 4), VF_OK);
        const vf_real *v = vf_params_values(p);
        if (round == 0) memcpy(keep, v, sizeof keep);
        int same = memcmp(keep, v, sizeof keep) == 0;
        CHECK(round == 2 ? !same : same);
        /* the two weights come from different streams */
        CHECK(memcmp(v, v + 18, 15 * sizeof(vf_real)) != 0);
        /* torch bound 1/sqrt(5) for weight and bias */
        for (int i = 0; i < 33; i++) CHECK(fabs((double)v[i]) <= 1 / sqrt(5.0));
        CHECK_STATUS(vf_params_reinit(p, 4), VF_OK);
        CHECK((memcmp(keep, v, sizeof keep) == 0));
        vf_params_free(p);
    }
}

/* ---- MADE degrees and masks ----------------------------------------------------------------- */
static void test_made_degrees(void)
{
    int32_t d[10], e[10], h[10];
    CHECK_STATUS(vf_made_input_degrees(4, VF_ORDER_SEQUENTIAL, 0, d), VF_OK);
    CHECK(d[0] == 1 && d[1] == 2 && d[2] == 3 && d[3] == 4);
    CHECK_STATUS(vf_made_input_degrees(4, VF_ORDER_REVERSED, 0, d), VF_OK);
    CHECK(d[0] == 4 && d[1] == 3 && d[2] == 2 && d[3] == 1);
    CHECK_STATUS(vf_made_input_degrees(10, VF_ORDER_RANDOM, 3, d), VF_OK);
    CHECK_STATUS(vf_made_input_degrees(10, VF_ORDER_RANDOM, 3, e), VF_OK);
    CHECK(memcmp(d, e, sizeof d) == 0);
    int seen[11] = {0}, sequential = 1;
    for (int i = 0; i < 10; i++) {
        if (d[i] >= 1 && d[i] <= 10) seen[d[i]]++;
        sequential &= d[i] == i + 1;
    }
    for (int i = 1; i <= 10; i++) CHECK(seen[i] == 1);
    CHECK(!sequential);
    CHECK_STATUS(vf_made_input_degrees(10, VF_ORDER_RANDOM, 4, e), VF_OK);
    CHECK(memcmp(d, e, sizeof d) != 0);
    CHECK_STATUS(vf_made_input_degrees(0, VF_ORDER_SEQUENTIAL, 0, d), VF_ERR_ARG);

    /* cycling: k mod (d-1) + 1 */
    CHECK_STATUS(vf_made_hidden_degrees(5, 10, 0, 1, NULL, h), VF_OK);
    const int32_t want[10] = {1, 2, 3, 4, 1, 2, 3, 4, 1, 2};
    CHECK(memcmp(h, want, sizeof want) == 0);
    CHECK_STATUS(vf_made_hidden_degrees(1, 3, 0, 1, NULL, h), VF_OK);
    CHECK(h[0] == 0 && h[1] == 0 && h[2] == 0);
    CHECK_STATUS(vf_made_hidden_degrees(3, 5, 0, 0, NULL, h), VF_OK); /* with degree-0 units */
    CHECK(h[0] == 0 && h[1] == 1 && h[2] == 2 && h[3] == 0 && h[4] == 1);
    vf_rng r;
    vf_rng_init(&r, 1, 0);
    CHECK_STATUS(vf_made_hidden_degrees(6, 10, 1, 3, &r, h), VF_OK);
    for (int i = 0; i < 10; i++) CHECK(h[i] >= 3 && h[i] <= 5);
    CHECK_STATUS(vf_made_hidden_degrees(6, 10, 1, 3, NULL, h), VF_ERR_ARG);

    /* masks: hidden >=, output > */
    int32_t din[3] = {2, 1, 3}, dh[2] = {1, 2};
    vf_real m[6];
    vf_made_mask(din, 3, dh, 2, 0, m);
    const vf_real mh[6] = {0, 1, 0, 1, 1, 0};
    CHECK(memcmp(m, mh, sizeof m) == 0);
    vf_made_mask(dh, 2, din, 3, 1, m);
    const vf_real mo[6] = {1, 0, 0, 0, 1, 1};
    CHECK(memcmp(m, mo, sizeof m) == 0);
}

/* Reachability through a MADE's masks: R[u, j] = 1 when unit u can see input j. */
static void mask_reach(const vf_made *m, int residual, int depth, int64_t d, int64_t h, unsigned char *out_reach)
{
    int64_t ko, ki;
    unsigned char *r = calloc((size_t)(h * d), 1), *tmp = calloc((size_t)(h * d), 1), *tmp2 = calloc((size_t)(h * d), 1);
    const vf_real *mk = vf_made_mask_of(m, 0, &ko, &ki);
    for (int64_t u = 0; u < h; u++)
        for (int64_t j = 0; j < d; j++) r[u * d + j] = mk[u * d + j] != 0;
    int l = 1;
    int steps = residual ? depth : depth - 1;
    for (int s = 0; s < steps; s++) {
        int n_in_step = residual ? 2 : 1;
        memcpy(tmp, r, (size_t)(h * d));
        for (int q = 0; q < n_in_step; q++) {
            mk = vf_made_mask_of(m, l++, &ko, &ki);
            memset(tmp2, 0, (size_t)(h * d));
            for (int64_t u = 0; u < h; u++)
                for (int64_t v = 0; v < h; v++)
                    if (mk[u * h + v] != 0)
                        for (int64_t j = 0; j < d; j++) tmp2[u * d + j] |= tmp[v * d + j];
            memcpy(tmp, tmp2, (size_t)(h * d));
        }
        for (int64_t i = 0; i < h * d; i++) r[i] = residual ? (unsigned char)(r[i] | tmp[i]) : tmp[i];
    }
    mk = vf_made_mask_of(m, l, &ko, &ki);
    CHECK(l == vf_made_n_masks(m) - 1 && ki == h);
    memset(out_reach, 0, (size_t)(ko * d));
    for (int64_t o = 0; o < ko; o++)
        for (int64_t v = 0; v < h; v++)
            if (mk[o * h + v] != 0)
                for (int64_t j = 0; j < d; j++) out_reach[o * d + j] |= r[v * d + j];
    free(r);
    free(tmp);
    free(tmp2);
}

typedef struct made_case {
    int residual, depth, random_degrees;
    vf_made_order order;
    int64_t k, ctx;
    vf_activation act;
} made_case;

static const made_case made_cases[] = {
    {0, 2, 0, VF_ORDER_SEQUENTIAL, 1, 0, VF_ACT_TANH},
    {0, 3, 0, VF_ORDER_RANDOM, 3, 2, VF_ACT_TANH},
    {1, 2, 0, VF_ORDER_REVERSED, 2, 0, VF_ACT_TANH},
    {1, 2, 0, VF_ORDER_RANDOM, 2, 3, VF_ACT_TANH},
    {0, 2, 1, VF_ORDER_RANDOM, 2, 0, VF_ACT_RELU},
    {1, 1, 1, VF_ORDER_SEQUENTIAL, 1, 2, VF_ACT_RELU},
};

#define MADE_D 5
#define MADE_H 12

static vf_made *make_made(vf_params *p, const made_case *c)
{
    vf_made_params mp = vf_made_default_params(MADE_D);
    mp.hidden = MADE_H;
    mp.depth = c->depth;
    mp.residual = c->residual;
    mp.random_degrees = c->random_degrees;
    mp.order = c->order;
    mp.output_multiplier = c->k;
    mp.context_features = c->ctx;
    mp.act = c->act;
    mp.seed = 11;
    vf_made *m = NULL;
    CHECK_STATUS(vf_made_new(p, "made", &mp, &m), VF_OK);
    return m;
}

/* The masks alone make output block i see exactly the inputs of lower degree (cycling degrees
 * connect every allowed pair; random degrees connect a subset, never a forbidden one). */
static void test_made_masks(void)
{
    for (size_t ci = 0; ci < sizeof made_cases / sizeof *made_cases; ci++) {
        const made_case *c = &made_cases[ci];
        vf_params *p = vf_params_new();
        vf_made *m = make_made(p, c);
        if (!m) {
            vf_params_free(p);
            continue;
        }
        const int32_t *deg = vf_made_degrees(m);
        int64_t no = MADE_D * c->k;
        unsigned char *reach = malloc((size_t)(no * MADE_D));
        mask_reach(m, c->residual, c->depth, MADE_D, MADE_H, reach);
        int any = 0;
        for (int64_t o = 0; o < no; o++)
            for (int64_t j = 0; j < MADE_D; j++) {
                int allowed = deg[j] < deg[o / c->k];
                CHECK_MSG(!reach[o * MADE_D + j] || allowed, "case %zu: output %lld sees input %lld", ci, (long long)o, (long long)j);
                if (!c->random_degrees) CHECK_MSG(reach[o * MADE_D + j] == allowed, "case %zu: output %lld misses input %lld", ci, (long long)o, (long long)j);
                any |= reach[o * MADE_D + j];
            }
        CHECK(any);
        free(reach);
        vf_made_free(m);
        vf_params_free(p);
    }
}

/* Jacobian of the network through the tape: d y[o] / d x[j] is exactly 0 when deg j >= deg i
 * (i = o / k), nonzero for allowed pairs (tanh, cycling degrees), and rows do not mix. The
 * context reaches every output. Parameters are redrawn N(0, 0.5^2) so zero-initialized residual
 * layers take part. */
static void test_made_jacobian(void)
{
    enum { N = 2 };
    for (size_t ci = 0; ci < sizeof made_cases / sizeof *made_cases; ci++) {
        const made_case *c = &made_cases[ci];
        vf_params *p = vf_params_new();
        vf_made *m = make_made(p, c);
        if (!m || vf_params_finalize(p, 3) != VF_OK) {
            vf_made_free(m);
            vf_params_free(p);
            continue;
        }
        vf_rng r;
        vf_rng_init(&r, 5, 1);
        vf_rng_normal_fill(&r, vf_params_values(p), (size_t)vf_params_size(p), 0.0, 0.5);
        vf_real x[N * MADE_D], ctx[N * 3];
        vf_rng_normal_fill(&r, x, N * MADE_D, 0.0, 1.0);
        vf_rng_normal_fill(&r, ctx, N * 3, 0.0, 1.0);
        vf_tape *t = vf_tape_new();
        vf_var xv = vf_input_grad(t, x, 2, (int64_t[]){N, MADE_D});
        vf_var cv = c->ctx ? vf_input_grad(t, ctx, 2, (int64_t[]){N, c->ctx}) : VF_NOVAR;
        vf_var y = vf_made_forward(m, p, t, xv, cv);
        CHECK_MSG(y != VF_NOVAR, "case %zu: %s", ci, vf_tape_error(t));
        if (y == VF_NOVAR) {
            vf_tape_free(t);
            vf_made_free(m);
            vf_params_free(p);
            continue;
        }
        const int32_t *deg = vf_made_degrees(m);
        int64_t no = MADE_D * c->k;
        CHECK(vf_value(t, y)->shape[0] == N && vf_value(t, y)->shape[1] == no);
        vf_real *seed = calloc((size_t)(N * no), sizeof(vf_real));
        int nonzero = 0, ctx_ok = 1;
        for (int64_t o = 0; o < no; o++) {
            memset(seed, 0, (size_t)(N * no) * sizeof(vf_real));
            seed[o] = 1; /* row 0, output o */
            CHECK_STATUS(vf_backward_seed(t, y, seed), VF_OK);
            const vf_real *gx = vf_grad(t, xv);
            for (int64_t j = 0; j < MADE_D; j++) {
                int allowed = deg[j] < deg[o / c->k];
                if (!allowed) CHECK_MSG(gx[j] == 0, "case %zu: dy%lld/dx%lld = %g", ci, (long long)o, (long long)j, (double)gx[j]);
                else if (c->act == VF_ACT_TANH) CHECK_MSG(gx[j] != 0, "case %zu: dy%lld/dx%lld is 0", ci, (long long)o, (long long)j);
                nonzero += gx[j] != 0;
                CHECK(gx[MADE_D + j] == 0); /* row 1 does not feed row 0 */
            }
            if (c->ctx) {
                const vf_real *gc = vf_grad(t, cv);
                double s = 0;
                for (int64_t j = 0; j < c->ctx; j++) s += fabs((double)gc[j]);
                ctx_ok &= s > 0;
            }
        }
        CHECK_MSG(nonzero > 0, "case %zu: no dependencies at all", ci);
        CHECK(ctx_ok);
        free(seed);
        vf_tape_free(t);
        vf_made_free(m);
        vf_params_free(p);
    }
}

/* ---- MLP and residual MLP --------------------------------------------------------------------- */
/* y = W1 relu(W0 x + b0) + b1 computed by hand. */
static void test_mlp_forward_values(void)
{
    vf_params *p = vf_params_new();
    vf_mlp_params mp = vf_mlp_default_params(3, 2);
    mp.n_hidden = 1;
    mp.hidden[0] = 4;
    vf_mlp *m = NULL;
    CHECK_STATUS(vf_mlp_new(p, "net", &mp, &m), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    const vf_real *w0 = vf_params_data(p, vf_params_find(p, "net.layers.0.weight"));
    const vf_real *b0 = vf_params_data(p, vf_params_find(p, "net.layers.0.bias"));
    const vf_real *w1 = vf_params_data(p, vf_params_find(p, "net.layers.1.weight"));
    const vf_real *b1 = vf_params_data(p, vf_params_find(p, "net.layers.1.bias"));
    CHECK(w0 && b0 && w1 && b1);
    vf_real x[2 * 3] = {0.5, -1, 2, 1.5, 0.25, -0.75};
    vf_tape *t = vf_tape_new();
    vf_var y = vf_mlp_forward(m, p, t, vf_input(t, x, 2, (int64_t[]){2, 3}), VF_NOVAR);
    CHECK(y != VF_NOVAR);
    if (y != VF_NOVAR && w0 && b0 && w1 && b1) {
        const vf_real *yv = vf_value(t, y)->data;
        for (int r = 0; r < 2; r++) {
            double h[4];
            for (int u = 0; u < 4; u++) {
                double s = b0[u];
                for (int j = 0; j < 3; j++) s += (double)w0[u * 3 + j] * x[r * 3 + j];
                h[u] = s > 0 ? s : 0;
            }
            for (int o = 0; o < 2; o++) {
                double s = b1[o];
                for (int u = 0; u < 4; u++) s += (double)w1[o * 4 + u] * h[u];
                CHECK_NEAR(yv[r * 2 + o], s, TOL_FWD);
            }
        }
    }
    vf_tape_free(t);
    vf_mlp_free(m);
    vf_params_free(p);
}

/* Gradient check of a module w.r.t. its inputs (gradcheck.h) and its parameters (central
 * differences over the flat buffer, same steps and tolerances as gradcheck.h). */
typedef vf_var (*module_fwd)(const void *mod, vf_params *p, vf_tape *t, vf_var x, vf_var c);
typedef struct module_ctx {
    const void *mod;
    vf_params *p;
    module_fwd fwd;
    int has_ctx;
} module_ctx;

static vf_var build_module(vf_tape *t, const vf_var *in, void *vctx)
{
    module_ctx *c = vctx;
    return c->fwd(c->mod, c->p, t, in[0], c->has_ctx ? in[1] : VF_NOVAR);
}

static vf_var fwd_mlp(const void *m, vf_params *p, vf_tape *t, vf_var x, vf_var c) { return vf_mlp_forward(m, p, t, x, c); }
static vf_var fwd_resmlp(const void *m, vf_params *p, vf_tape *t, vf_var x, vf_var c) { return vf_resmlp_forward(m, p, t, x, c); }
static vf_var fwd_made(const void *m, vf_params *p, vf_tape *t, vf_var x, vf_var c) { return vf_made_forward(m, p, t, x, c); }

static int param_gradcheck(const char *name, module_ctx *mc, gc_input *in, int n_in)
{
    vf_tape *t = vf_tape_new();
    vf_var vars[2];
    vf_var y = gc_build(t, build_module, mc, n_in, in, vars);
    if (y == VF_NOVAR) {
        vf_tape_free(t);
        return 0;
    }
    int64_t ny = vf_tensor_numel(vf_value(t, y)), np = vf_params_size(mc->p);
    double *u = malloc((size_t)ny * sizeof *u);
    vf_real *ur = malloc((size_t)ny * sizeof *ur);
    vf_rng r;
    vf_rng_init(&r, 77, 0);
    for (int64_t j = 0; j < ny; j++) {
        ur[j] = (vf_real)vf_rng_normal(&r);
        u[j] = (double)ur[j];
    }
    vf_params_zero_grad(mc->p);
    int ok = vf_backward_seed(t, y, ur) == VF_OK;
    vf_real *grad = malloc((size_t)np * sizeof *grad), *val = vf_params_values(mc->p);
    memcpy(grad, vf_params_grads(mc->p), (size_t)np * sizeof *grad);
    for (int64_t j = 0; ok && j < np; j++) {
        vf_real keep = val[j];
        double h = GC_STEP * fmax(1.0, fabs((double)keep));
        val[j] = (vf_real)((double)keep + h);
        double hp = (double)val[j] - (double)keep;
        double fp = gc_objective(t, build_module, mc, n_in, in, u);
        val[j] = (vf_real)((double)keep - h);
        double hm = (double)keep - (double)val[j];
        double fm = gc_objective(t, build_module, mc, n_in, in, u);
        val[j] = keep;
        double fd = (fp - fm) / (hp + hm), ad = (double)grad[j];
        double err = fabs(fd - ad) / fmax(fmax(fabs(fd), fabs(ad)), GC_FD_FLOOR);
        if (!(err <= GC_FD_TOL)) {
            fprintf(stderr, "%s: parameter %lld: reverse %.10g, finite difference %.10g\n", name, (long long)j, ad, fd);
            ok = 0;
        }
    }
    free(u);
    free(ur);
    free(grad);
    vf_tape_free(t);
    return ok;
}

static void check_module_grads(const char *name, const void *mod, vf_params *p, module_fwd fwd, int64_t in_f,
                               int64_t ctx_f)
{
    enum { N = 3 };
    vf_real x[N * 8], c[N * 8];
    gc_fill(x, N * in_f, 1, 0.0, 1.0);
    gc_fill(c, N * (ctx_f ? ctx_f : 1), 2, 0.0, 1.0);
    gc_input in[2] = {{x, 2, {N, in_f}, 1}, {c, 2, {N, ctx_f}, 1}};
    module_ctx mc = {mod, p, fwd, ctx_f > 0};
    CHECK_MSG(gradcheck(name, build_module, &mc, ctx_f ? 2 : 1, in), "%s: input gradients", name);
    CHECK_MSG(param_gradcheck(name, &mc, in, ctx_f ? 2 : 1), "%s: parameter gradients", name);
}

static void test_mlp_gradients(void)
{
    vf_params *p = vf_params_new();
    vf_mlp_params mp = vf_mlp_default_params(3, 2);
    mp.context_features = 2;
    mp.hidden[0] = 5;
    mp.hidden[1] = 4;
    mp.act = VF_ACT_SILU;
    vf_mlp *m = NULL;
    CHECK_STATUS(vf_mlp_new(p, "mlp", &mp, &m), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 8), VF_OK);
    CHECK(vf_params_size(p) == (5 * 5 + 5) + (4 * 5 + 4) + (2 * 4 + 2));
    if (m) check_module_grads("mlp", m, p, fwd_mlp, 3, 2);
    vf_mlp_free(m);
    vf_params_free(p);
}

static void test_resmlp_gradients(void)
{
    vf_params *p = vf_params_new();
    vf_resmlp_params rp = vf_resmlp_default_params(3, 2);
    rp.context_features = 2;
    rp.hidden = 4;
    rp.n_blocks = 2;
    rp.act = VF_ACT_TANH;
    vf_resmlp *m = NULL;
    CHECK_STATUS(vf_resmlp_new(p, "res", &rp, &m), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 8), VF_OK);
    /* give the zero-initialized second layers values so every path is exercised */
    vf_rng r;
    vf_rng_init(&r, 4, 4);
    vf_rng_normal_fill(&r, vf_params_values(p), (size_t)vf_params_size(p), 0.0, 0.5);
    if (m) check_module_grads("resmlp", m, p, fwd_resmlp, 3, 2);
    vf_resmlp_free(m);
    vf_params_free(p);
}

static void test_made_gradients(void)
{
    vf_params *p = vf_params_new();
    vf_made_params mp = vf_made_default_params(3);
    mp.hidden = 6;
    mp.residual = 1;
    mp.depth = 1;
    mp.context_features = 2;
    mp.output_multiplier = 2;
    mp.act = VF_ACT_TANH;
    vf_made *m = NULL;
    CHECK_STATUS(vf_made_new(p, "made", &mp, &m), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 8), VF_OK);
    vf_rng r;
    vf_rng_init(&r, 4, 5);
    vf_rng_normal_fill(&r, vf_params_values(p), (size_t)vf_params_size(p), 0.0, 0.5);
    if (m) check_module_grads("made", m, p, fwd_made, 3, 2);
    vf_made_free(m);
    vf_params_free(p);
}

/* Zero-initialized output layers give exactly zero outputs; zero-initialized residual blocks make
 * the residual MLP equal to output(input(x)). */
static void test_zero_init(void)
{
    vf_params *p = vf_params_new();
    vf_mlp_params mp = vf_mlp_default_params(2, 3);
    mp.zero_init_output = 1;
    vf_resmlp_params rp = vf_resmlp_default_params(2, 3);
    rp.hidden = 8;
    rp.zero_init_output = 1;
    vf_resmlp_params rq = rp;
    rq.zero_init_output = 0;
    vf_made_params ap = vf_made_default_params(2);
    ap.output_multiplier = 3;
    ap.zero_init_output = 1;
    vf_mlp *m = NULL;
    vf_resmlp *r = NULL, *q = NULL;
    vf_made *a = NULL;
    CHECK_STATUS(vf_mlp_new(p, "mlp", &mp, &m), VF_OK);
    CHECK_STATUS(vf_resmlp_new(p, "res", &rp, &r), VF_OK);
    CHECK_STATUS(vf_resmlp_new(p, "req", &rq, &q), VF_OK);
    CHECK_STATUS(vf_made_new(p, "made", &ap, &a), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, 21), VF_OK);
    vf_real x[4 * 2] = {1, -2, 0.5, 3, -1, -1, 2, 0.25};
    vf_tape *t = vf_tape_new();
    vf_var xv = vf_input(t, x, 2, (int64_t[]){4, 2});
    vf_var ys[3] = {vf_mlp_forward(m, p, t, xv, VF_NOVAR), vf_resmlp_forward(r, p, t, xv, VF_NOVAR),
                    vf_made_forward(a, p, t, xv, VF_NOVAR)};
    vf_var yq = vf_resmlp_forward(q, p, t, xv, VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_OK);
    for (int k = 0; k < 3 && vf_tape_status(t) == VF_OK; k++) {
        const vf_tensor *v = vf_value(t, ys[k]);
        CHECK(vf_tensor_numel(v) == (k == 2 ? 24 : 12));
        for (int64_t i = 0; i < vf_tensor_numel(v); i++) CHECK(v->data[i] == 0);
    }
    if (vf_tape_status(t) == VF_OK) {
        const vf_real *wi = vf_params_data(p, vf_params_find(p, "req.input.weight"));
        const vf_real *bi = vf_params_data(p, vf_params_find(p, "req.input.bias"));
        const vf_real *wo = vf_params_data(p, vf_params_find(p, "req.output.weight"));
        const vf_real *bo = vf_params_data(p, vf_params_find(p, "req.output.bias"));
        const vf_real *yv = vf_value(t, yq)->data;
        for (int n = 0; n < 4; n++)
            for (int o = 0; o < 3; o++) {
                double s = bo[o];
                for (int u = 0; u < 8; u++) {
                    double h = bi[u] + (double)wi[u * 2] * x[n * 2] + (double)wi[u * 2 + 1] * x[n * 2 + 1];
                    s += (double)wo[o * 8 + u] * h;
                }
                CHECK_NEAR(yv[n * 3 + o], s, TOL_FWD);
            }
    }
    vf_tape_free(t);
    vf_mlp_free(m);
    vf_resmlp_free(r);
    vf_resmlp_free(q);
    vf_made_free(a);
    vf_params_free(p);
}

static int has(vf_params *p, const char *name, int ndim, int64_t d0, int64_t d1)
{
    vf_param_info in;
    int32_t id = vf_params_find(p, name);
    if (id < 0 || vf_params_info(p, id, &in) != VF_OK) {
        fprintf(stderr, "missing parameter %s\n", name);
        return 0;
    }
    return in.ndim == ndim && in.shape[0] == d0 && (ndim == 1 || in.shape[1] == d1);
}

/* PyTorch-style names and shapes of every module's parameters. */
static void test_names(void)
{
    vf_params *p = vf_params_new();
    vf_mlp_params mp = vf_mlp_default_params(2, 5);
    mp.context_features = 3;
    mp.hidden[0] = 16;
    mp.hidden[1] = 8;
    vf_mlp *m = NULL;
    CHECK_STATUS(vf_mlp_new(p, "", &mp, &m), VF_OK);
    CHECK(has(p, "layers.0.weight", 2, 16, 5) && has(p, "layers.0.bias", 1, 16, 0));
    CHECK(has(p, "layers.1.weight", 2, 8, 16) && has(p, "layers.2.weight", 2, 5, 8) && has(p, "layers.2.bias", 1, 5, 0));
    CHECK(vf_params_count(p) == 6);
    vf_resmlp_params rp = vf_resmlp_default_params(2, 4);
    rp.context_features = 3;
    rp.hidden = 10;
    rp.n_blocks = 2;
    vf_resmlp *r = NULL;
    CHECK_STATUS(vf_resmlp_new(p, "flow.1.net", &rp, &r), VF_OK);
    CHECK(has(p, "flow.1.net.input.weight", 2, 10, 5) && has(p, "flow.1.net.blocks.1.linear1.weight", 2, 10, 10));
    CHECK(has(p, "flow.1.net.blocks.0.context.weight", 2, 10, 3) && has(p, "flow.1.net.blocks.1.linear2.bias", 1, 10, 0));
    CHECK(has(p, "flow.1.net.output.weight", 2, 4, 10));
    CHECK(vf_params_count(p) == 6 + 2 + 2 * 6 + 2);
    CHECK(vf_resmlp_get_params(r) && vf_resmlp_get_params(r)->n_blocks == 2 && vf_mlp_get_params(m)->hidden[1] == 8);
    vf_made_params ap = vf_made_default_params(4);
    ap.hidden = 7;
    ap.depth = 2;
    ap.context_features = 3;
    ap.output_multiplier = 5;
    vf_made *a = NULL, *b = NULL;
    CHECK_STATUS(vf_made_new(p, "maf", &ap, &a), VF_OK);
    CHECK(has(p, "maf.input.weight", 2, 7, 4) && has(p, "maf.context.weight", 2, 7, 3));
    CHECK(has(p, "maf.hidden.0.weight", 2, 7, 7) && has(p, "maf.output.weight", 2, 20, 7) && has(p, "maf.output.bias", 1, 20, 0));
    ap.residual = 1;
    CHECK_STATUS(vf_made_new(p, "rmaf", &ap, &b), VF_OK);
    CHECK(has(p, "rmaf.blocks.1.linear2.weight", 2, 7, 7) && has(p, "rmaf.blocks.0.context.weight", 2, 7, 3));
    CHECK(vf_made_n_masks(b) == 6 && vf_made_n_masks(a) == 3);
    /* a clash with an existing name fails and leaves the store as it was */
    int32_t before = vf_params_count(p);
    int64_t size = vf_params_size(p);
    vf_made *c = NULL;
    CHECK_STATUS(vf_made_new(p, "maf", &ap, &c), VF_ERR_ARG);
    CHECK(c == NULL && vf_params_count(p) == before && vf_params_size(p) == size);
    vf_mlp_free(m);
    vf_resmlp_free(r);
    vf_made_free(a);
    vf_made_free(b);
    vf_params_free(p);
}

/* Bad shapes and missing or unexpected contexts are tape errors, not crashes. */
static void test_forward_errors(void)
{
    vf_params *p = vf_params_new();
    vf_mlp_params mp = vf_mlp_default_params(2, 1);
    mp.context_features = 1;
    vf_mlp *m = NULL;
    vf_made *a = NULL;
    CHECK_STATUS(vf_mlp_new(p, "m", &mp, &m), VF_OK);
    vf_made_params ap = vf_made_default_params(2);
    CHECK_STATUS(vf_made_new(p, "a", &ap, &a), VF_OK);
    vf_mlp_params bad = mp;
    bad.n_hidden = VF_NN_MAX_HIDDEN + 1;
    vf_mlp *m2 = NULL;
    CHECK_STATUS(vf_mlp_new(p, "m2", &bad, &m2), VF_ERR_ARG);
    /* sizes whose mask element count d k h would overflow 64 bits are refused before any arithmetic */
    vf_made_params huge = vf_made_default_params(1 << 20);
    huge.hidden = (int64_t)1 << 30;
    huge.output_multiplier = 1 << 14;
    vf_made *a2 = NULL;
    CHECK_STATUS(vf_made_new(p, "a2", &huge, &a2), VF_ERR_ARG);
    CHECK(a2 == NULL);
    vf_tape *t = vf_tape_new();
    vf_real x[6] = {0}, c[3] = {0};
    /* not finalized */
    CHECK(vf_mlp_forward(m, p, t, vf_input(t, x, 2, (int64_t[]){3, 2}), vf_input(t, c, 2, (int64_t[]){3, 1})) == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_STATE);
    CHECK_STATUS(vf_params_finalize(p, 0), VF_OK);
    vf_tape_reset(t);
    CHECK(vf_mlp_forward(m, p, t, vf_input(t, x, 2, (int64_t[]){2, 3}), vf_input(t, c, 2, (int64_t[]){2, 1})) == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_SHAPE);
    vf_tape_reset(t);
    CHECK(vf_mlp_forward(m, p, t, vf_input(t, x, 2, (int64_t[]){3, 2}), VF_NOVAR) == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_ARG);
    vf_tape_reset(t);
    CHECK(vf_mlp_forward(m, p, t, vf_input(t, x, 2, (int64_t[]){3, 2}), vf_input(t, c, 2, (int64_t[]){1, 3})) == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_SHAPE);
    vf_tape_reset(t);
    CHECK(vf_made_forward(a, p, t, vf_input(t, x, 2, (int64_t[]){3, 2}), vf_input(t, c, 2, (int64_t[]){3, 1})) == VF_NOVAR);
    CHECK(vf_tape_status(t) == VF_ERR_ARG);
    vf_tape_reset(t);
    vf_var ok = vf_mlp_forward(m, p, t, vf_input(t, x, 2, (int64_t[]){3, 2}), vf_input(t, c, 2, (int64_t[]){3, 1}));
    CHECK(ok != VF_NOVAR && vf_value(t, ok)->shape[0] == 3 && vf_value(t, ok)->shape[1] == 1);
    vf_tape_free(t);
    vf_mlp_free(m);
    vf_made_free(a);
    vf_params_free(p);
}

/* Every allocation of building a store and each module is made to fail in turn: the call returns
 * VF_ERR_NOMEM, registers nothing, and nothing leaks. The linear and masked linear layers (4, 5)
 * start from a store of 15 tensors, so the weight fits the first capacity and the bias needs more. */
static void test_nomem(void)
{
    int failures[6] = {0}, successes[6] = {0};
    static const vf_real mask[8] = {1, 0, 1, 1, 0, 0, 1, 1};
    for (int k = 0; k < 40; k++) {
        for (int which = 0; which < 6; which++) {
            counting_allocator(-1);
            vf_params *p = vf_params_new();
            int32_t id;
            vf_params_add(p, "pre", 1, (int64_t[]){3}, vf_init_zeros(), &id);
            for (int f = 1; which >= 4 && f < 15; f++) {
                char nm[16];
                snprintf(nm, sizeof nm, "pre%d", f);
                vf_params_add(p, nm, 1, (int64_t[]){1}, vf_init_zeros(), &id);
            }
            int32_t before = vf_params_count(p);
            counting_allocator(k);
            vf_status s = VF_OK;
            void *mod = NULL;
            if (which == 0) {
                s = vf_params_add(p, "w", 2, (int64_t[]){4, 4}, vf_init_torch(4), &id);
                if (s == VF_OK) s = vf_params_finalize(p, 1);
            } else if (which == 1) {
                vf_mlp_params mp = vf_mlp_default_params(3, 2);
                mp.n_hidden = 12; /* more tensors than the registry's first capacity */
                s = vf_mlp_new(p, "m", &mp, (vf_mlp **)&mod);
            } else if (which == 2) {
                vf_made_params ap = vf_made_default_params(3);
                ap.context_features = 2;
                ap.residual = k & 1;
                s = vf_made_new(p, "a", &ap, (vf_made **)&mod);
            } else if (which == 4) {
                vf_linear_layer l;
                vf_linear_params lp = vf_linear_default_params(2, 4);
                s = vf_linear_layer_init(&l, p, "lin", &lp);
            } else if (which == 5) {
                vf_masked_linear_layer l;
                s = vf_masked_linear_layer_init(&l, p, "masked", 2, 4, mask, VF_INIT_TORCH);
            } else {
                vf_resmlp_params rp = vf_resmlp_default_params(3, 2);
                rp.context_features = 1;
                rp.n_blocks = 3;
                s = vf_resmlp_new(p, "r", &rp, (vf_resmlp **)&mod);
            }
            if (s == VF_OK) {
                successes[which]++;
            } else {
                failures[which]++;
                CHECK_MSG(s == VF_ERR_NOMEM, "module %d, failing allocation %d: status %d", which, k, (int)s);
                CHECK(mod == NULL);
                if (which == 0) CHECK(!vf_params_is_finalized(p));
                else CHECK(vf_params_count(p) == before);
            }
            if (which == 1) vf_mlp_free(mod);
            if (which == 2) vf_made_free(mod);
            if (which == 3) vf_resmlp_free(mod);
            vf_params_free(p);
            CHECK_MSG(live == 0, "module %d, failing allocation %d: %d blocks leaked", which, k, live);
            live = 0;
        }
    }
    counting_allocator(-1);
    vf_set_allocator(NULL);
    for (int w = 0; w < 6; w++) CHECK_MSG(failures[w] > 0 && successes[w] > 0, "module %d", w);
}

int main(void)
{
    RUN(test_registry);
    RUN(test_init_stats);
    RUN(test_init_seeded);
    RUN(test_made_degrees);
    RUN(test_made_masks);
    RUN(test_made_jacobian);
    RUN(test_mlp_forward_values);
    RUN(test_mlp_gradients);
    RUN(test_resmlp_gradients);
    RUN(test_made_gradients);
    RUN(test_zero_init);
    RUN(test_names);
    RUN(test_forward_errors);
    RUN(test_nomem);
    return vf_test_summary();
}
