/* test_presets.c — the spec parser (valid forms, every malformed form with its message), the flow
 * presets built from specs (every preset for d = 1, 2, 5 with and without a context: finite log-densities,
 * sample shapes, the "transforms.<i>." / "base." naming contract), defaults and the effect of each key
 * seen through the registered parameters, error messages, rollback of the store, a short fit to
 * 8gaussians, and an allocation-failure sweep. */
#include <stdlib.h>
#include "vf_test.h"
#include "flowfit.h"
#include "alloc_fail.h"
#include "varflow/vf_autoregressive.h"
#include "varflow/vf_presets.h"


static int contains(const char *s, const char *sub) { return s && sub && strstr(s, sub) != NULL; }

/* ---- the parser -------------------------------------------------------------------------------- */

static void test_parse_valid(void)
{
    vf_spec s;
    CHECK_STATUS(vf_spec_parse("maf", &s), VF_OK);
    CHECK(strcmp(s.name, "maf") == 0 && s.n == 0);
    CHECK_STATUS(vf_spec_parse("maf:transforms=5,hidden=128x2", &s), VF_OK);
    CHECK(strcmp(s.name, "maf") == 0 && s.n == 2);
    CHECK(strcmp(s.keys[0], "transforms") == 0 && strcmp(s.values[0], "5") == 0);
    CHECK(strcmp(s.keys[1], "hidden") == 0 && strcmp(s.values[1], "128x2") == 0);
    CHECK(strcmp(vf_spec_get(&s, "hidden"), "128x2") == 0);
    CHECK(vf_spec_get(&s, "bins") == NULL);
    /* names with paths and dots; values holding ':' */
    CHECK_STATUS(vf_spec_parse("./dir/my-target.so:arg=a:b", &s), VF_OK);
    CHECK(strcmp(s.name, "./dir/my-target.so") == 0 && s.n == 1 && strcmp(s.values[0], "a:b") == 0);
    CHECK_STATUS(vf_spec_parse("cfm:coupling=ot,hidden=64x3,act=selu", &s), VF_OK);
    CHECK(s.n == 3 && strcmp(vf_spec_get(&s, "act"), "selu") == 0);
    /* the maximum number of pairs fits; one more does not */
    char buf[1024] = "x:";
    for (int i = 0; i < VF_SPEC_MAX_PAIRS; i++) {
        char kv[16];
        snprintf(kv, sizeof kv, "%sk%d=%d", i ? "," : "", i, i);
        strcat(buf, kv);
    }
    CHECK_STATUS(vf_spec_parse(buf, &s), VF_OK);
    CHECK(s.n == VF_SPEC_MAX_PAIRS && strcmp(vf_spec_get(&s, "k31"), "31") == 0);
    strcat(buf, ",k99=1");
    CHECK_STATUS(vf_spec_parse(buf, &s), VF_ERR_ARG);
    CHECK(contains(vf_last_error(), "more than"));
}

static void test_parse_malformed(void)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"", "empty spec"},
        {":a=1", "empty name"},
        {"maf:", "must be followed"},
        {"maf: transforms=5", "whitespace at column 5"},
        {" maf", "whitespace at column 1"},
        {"maf:transforms=5 ", "whitespace"},
        {"maf:transforms", "is not key=value"},
        {"maf:transforms=", "empty value for key 'transforms'"},
        {"maf:=5", "empty key"},
        {"maf:a=1,,b=2", "stray ','"},
        {"maf:,a=1", "stray ','"},
        {"maf:a=1,", "trailing ','"},
        {"maf:a=1,a=2", "duplicate key 'a'"},
        {"maf:a=1=2", "second '='"},
        {"maf:a=1,b=2=3", "second '='"},
        {"maftransforms=5", "missing ':'"},
        {"maf,transforms=5", "missing ':'"},
        {"ma$f", "not allowed in a name"},
        {"maf:tr@nsforms=5", "not allowed in a key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vf_spec s;
        vf_clear_error();
        vf_status st = vf_spec_parse(cases[i].text, &s);
        CHECK_MSG(st == VF_ERR_ARG, "'%s': status %d", cases[i].text, (int)st);
        CHECK_MSG(contains(vf_last_error(), cases[i].msg), "'%s': message '%s' lacks '%s'", cases[i].text,
                  vf_last_error(), cases[i].msg);
    }
    vf_spec s;
    CHECK_STATUS(vf_spec_parse(NULL, &s), VF_ERR_ARG);
    CHECK_STATUS(vf_spec_parse("maf", NULL), VF_ERR_ARG);
    char longname[VF_SPEC_MAX_TEXT + 10];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK_STATUS(vf_spec_parse(longname, &s), VF_ERR_ARG);
    CHECK(contains(vf_last_error(), "longer than"));
}

static void test_spec_values(void)
{
    vf_spec s;
    CHECK_STATUS(vf_spec_parse("t:i=-12,u=18446744073709551615,r=2.5e-3,bad=1x,neg=-3,big=99999999999999999999", &s),
                 VF_OK);
    int64_t i = 0;
    CHECK_STATUS(vf_spec_int(&s, "i", 7, -100, 100, &i), VF_OK);
    CHECK(i == -12);
    CHECK_STATUS(vf_spec_int(&s, "absent", 7, -100, 100, &i), VF_OK);
    CHECK(i == 7);
    CHECK_STATUS(vf_spec_int(&s, "i", 7, 0, 100, &i), VF_ERR_ARG);
    CHECK(contains(vf_last_error(), "out of range [0, 100]"));
    CHECK_STATUS(vf_spec_int(&s, "bad", 7, 0, 100, &i), VF_ERR_ARG);
    CHECK(contains(vf_last_error(), "'1x' is not an integer"));
    CHECK_STATUS(vf_spec_int(&s, "big", 7, 0, 100, &i), VF_ERR_ARG);
    uint64_t u = 0;
    CHECK_STATUS(vf_spec_u64(&s, "u", 3, &u), VF_OK);
    CHECK(u == UINT64_MAX);
    CHECK_STATUS(vf_spec_u64(&s, "neg", 3, &u), VF_ERR_ARG);
    CHECK_STATUS(vf_spec_u64(&s, "big", 3, &u), VF_ERR_ARG);
    CHECK_STATUS(vf_spec_u64(&s, "nothing", 3, &u), VF_OK);
    CHECK(u == 3);
    double r = 0;
    CHECK_STATUS(vf_spec_real(&s, "r", 1, 0, 1, &r), VF_OK);
    CHECK(r == 2.5e-3);
    CHECK_STATUS(vf_spec_real(&s, "r", 1, 0.5, 1, &r), VF_ERR_ARG);
    CHECK_STATUS(vf_spec_real(&s, "bad", 1, 0, 10, &r), VF_ERR_ARG);
    static const char *const allowed[] = {"i", "u", "r", "bad", "neg", NULL};
    CHECK_STATUS(vf_spec_check_keys(&s, allowed, "thing"), VF_ERR_ARG);
    CHECK(contains(vf_last_error(), "thing: unknown key 'big' (valid keys: i, u, r, bad, neg)"));
    static const char *const all[] = {"i", "u", "r", "bad", "neg", "big", NULL};
    CHECK_STATUS(vf_spec_check_keys(&s, all, "thing"), VF_OK);
}

/* ---- building presets ----------------------------------------------------------------------------- */

/* 1 if every registered name is "transforms.<i>.<...>" with i < n or "base.<...>". */
static int names_follow_contract(vf_params *p, int n)
{
    for (int32_t id = 0; id < vf_params_count(p); id++) {
        vf_param_info info;
        if (vf_params_info(p, id, &info) != VF_OK) return 0;
        if (strncmp(info.name, "base.", 5) == 0 && info.name[5]) continue;
        int i = -1, used = 0;
        if (sscanf(info.name, "transforms.%d.%n", &i, &used) == 1 && used > 0 && i >= 0 && i < n && info.name[used])
            continue;
        fprintf(stderr, "parameter '%s' breaks the naming contract\n", info.name);
        return 0;
    }
    return 1;
}

/* Builds spec for (d, c), finalizes, checks the contract, finite log-densities of random data (also
 * with the parameters perturbed off the identity) and the shape and finiteness of samples. */
static int check_preset(const char *spec, int64_t d, int64_t c)
{
    int ok = 1;
    const int64_t n = 16;
    vf_params *p = vf_params_new();
    vf_flow *f = NULL;
    vf_tape *t = vf_tape_new();
    vf_real *x = malloc((size_t)(n * d) * sizeof *x), *ctx = c ? malloc((size_t)(n * c) * sizeof *ctx) : NULL;
    vf_status s = vf_flow_from_spec(spec, d, c, p, &f);
    if (s != VF_OK) {
        fprintf(stderr, "%s (d %lld, c %lld): %s\n", spec, (long long)d, (long long)c, vf_last_error());
        ok = 0;
        goto done;
    }
    ok &= vf_flow_dim(f) == d && vf_flow_context_dim(f) == c;
    ok &= names_follow_contract(p, vf_flow_n_transforms(f));
    ok &= vf_params_finalize(p, 11) == VF_OK;
    vf_rng r;
    vf_rng_init(&r, 5, 0);
    vf_rng_normal_fill(&r, x, (size_t)(n * d), 0.0, 1.0);
    if (ctx) vf_rng_normal_fill(&r, ctx, (size_t)(n * c), 0.0, 1.0);
    for (int pass = 0; pass < 2 && ok; pass++) {
        if (pass == 1) { /* off the identity: every parameter nudged by N(0, 0.05^2) */
            vf_real *v = vf_params_values(p);
            for (int64_t i = 0; i < vf_params_size(p); i++) v[i] += (vf_real)(0.05 * vf_rng_normal(&r));
        }
        vf_tape_reset(t);
        vf_var cv = c ? vf_input(t, ctx, 2, (int64_t[]){n, c}) : VF_NOVAR;
        vf_var lp = vf_flow_log_prob(f, p, t, vf_input(t, x, 2, (int64_t[]){n, d}), cv);
        vf_var lq = VF_NOVAR;
        vf_var smp = vf_flow_sample(f, p, t, n, cv, &r, &lq);
        if (vf_tape_status(t) != VF_OK) {
            fprintf(stderr, "%s (d %lld, c %lld): %s\n", spec, (long long)d, (long long)c, vf_tape_error(t));
            ok = 0;
            break;
        }
        const vf_tensor *lv = vf_value(t, lp), *sv = vf_value(t, smp), *qv = vf_value(t, lq);
        ok &= lv->ndim == 1 && lv->shape[0] == n;
        ok &= sv->ndim == 2 && sv->shape[0] == n && sv->shape[1] == d;
        ok &= qv->ndim == 1 && qv->shape[0] == n;
        for (int64_t i = 0; i < n; i++) ok &= isfinite((double)lv->data[i]) && isfinite((double)qv->data[i]);
        for (int64_t i = 0; i < n * d; i++) ok &= isfinite((double)sv->data[i]);
        if (!ok) fprintf(stderr, "%s (d %lld, c %lld), pass %d: bad shapes or non-finite values\n", spec,
                         (long long)d, (long long)c, pass);
    }
done:
    free(x);
    free(ctx);
    vf_tape_free(t);
    vf_flow_free(f);
    vf_params_free(p);
    return ok;
}

static void test_every_preset_builds(void)
{
    const char *const *names = vf_preset_names();
    int count = 0;
    for (const char *const *nm = names; *nm; nm++, count++) {
        CHECK_MSG(vf_preset_help(*nm) && strlen(vf_preset_help(*nm)) > 20, "%s: no help", *nm);
        char spec[96];
        snprintf(spec, sizeof spec, "%s:transforms=2,hidden=8x2", *nm);
        int coupling = !strcmp(*nm, "realnvp") || !strcmp(*nm, "nice") || !strcmp(*nm, "glow") ||
                       !strcmp(*nm, "nsf_coupling");
        static const int64_t dims[] = {1, 2, 5};
        for (int di = 0; di < 3; di++)
            for (int64_t c = 0; c <= 3; c += 3) {
                if (dims[di] == 1 && coupling) {
                    vf_params *p = vf_params_new();
                    vf_flow *f = (vf_flow *)p; /* must be reset to NULL */
                    CHECK_STATUS(vf_flow_from_spec(spec, 1, c, p, &f), VF_ERR_ARG);
                    CHECK_MSG(contains(vf_last_error(), "d >= 2"), "%s: '%s'", spec, vf_last_error());
                    CHECK(f == NULL && vf_params_count(p) == 0);
                    vf_params_free(p);
                    continue;
                }
                CHECK_MSG(check_preset(spec, dims[di], c), "%s d %lld c %lld", spec, (long long)dims[di], (long long)c);
            }
    }
    CHECK(count == 9);
    CHECK(vf_preset_help("nope") == NULL && vf_preset_help(NULL) == NULL);
    /* the default spec of every preset */
    for (const char *const *nm = names; *nm; nm++) CHECK_MSG(check_preset(*nm, 2, 0), "%s", *nm);
}

static void test_bases(void)
{
    static const char *const specs[] = {"maf:transforms=1,hidden=4,base=normal", "maf:transforms=1,hidden=4,base=diag_normal",
                                        "maf:transforms=1,hidden=4,base=student_t", "maf:transforms=1,hidden=4,base=mixture",
                                        "realnvp:transforms=2,hidden=4,base=mixture3", "planar:transforms=2,hidden=4,base=mixture1"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        for (int64_t c = 0; c <= 2; c += 2) CHECK_MSG(check_preset(specs[i], 3, c), "%s c %lld", specs[i], (long long)c);
}

/* ---- defaults and keys, seen through the store ----------------------------------------------------- */

typedef struct built {
    vf_params *p;
    vf_flow *f;
} built;

static built make(const char *spec, int64_t d, int64_t c)
{
    built b = {vf_params_new(), NULL};
    vf_status s = vf_flow_from_spec(spec, d, c, b.p, &b.f);
    if (s != VF_OK) fprintf(stderr, "%s: %s\n", spec, vf_last_error());
    return b;
}

static void unmake(built *b)
{
    vf_flow_free(b->f);
    vf_params_free(b->p);
}

/* shape of tensor `name` (ndim 0 when absent) */
static int shape_of(vf_params *p, const char *name, int64_t *s0, int64_t *s1)
{
    int32_t id = vf_params_find(p, name);
    vf_param_info info;
    if (id < 0 || vf_params_info(p, id, &info) != VF_OK) return 0;
    *s0 = info.shape[0];
    *s1 = info.ndim > 1 ? info.shape[1] : 0;
    return info.ndim;
}

static int n_transforms_of(const char *spec, int64_t d)
{
    built b = make(spec, d, 0);
    int n = b.f ? vf_flow_n_transforms(b.f) : -1;
    unmake(&b);
    return n;
}

/* nsf:coupling=1 builds exactly what nsf_coupling builds; coupling=0 is the autoregressive default. */
static void test_nsf_coupling_key(void)
{
    built a = make("nsf:coupling=1,bins=4", 3, 0), b = make("nsf_coupling:bins=4", 3, 0), c = make("nsf:coupling=0", 3, 0);
    CHECK(a.f && b.f && c.f);
    if (a.f && b.f && c.f) {
        CHECK(vf_flow_n_transforms(a.f) == vf_flow_n_transforms(b.f));
        for (int i = 0; i < vf_flow_n_transforms(a.f); i++) {
            char ja[4096], jb[4096];
            CHECK(vf_transform_describe(vf_flow_transform(a.f, i), ja, sizeof ja) == VF_OK);
            CHECK(vf_transform_describe(vf_flow_transform(b.f, i), jb, sizeof jb) == VF_OK);
            CHECK(strcmp(ja, jb) == 0);
        }
        CHECK(strcmp(vf_transform_kind(vf_flow_transform(a.f, 0)), "spline_coupling") == 0);
        CHECK(strcmp(vf_transform_kind(vf_flow_transform(c.f, 0)), "spline_maf") == 0);
    }
    unmake(&a);
    unmake(&b);
    unmake(&c);
}

static void test_transform_counts(void)
{
    CHECK(n_transforms_of("maf", 2) == 3);
    CHECK(n_transforms_of("nsf", 2) == 3);
    CHECK(n_transforms_of("nsf_coupling", 2) == 4);
    CHECK(n_transforms_of("nsf:transforms=7", 2) == 7);
    CHECK(n_transforms_of("nsf_coupling:transforms=7", 2) == 7);
    CHECK(n_transforms_of("nsf:coupling=1", 2) == 4); /* the coupling form and its default count */
    CHECK(n_transforms_of("nsf:coupling=1,transforms=5", 2) == 5);
    CHECK(n_transforms_of("iaf", 2) == 3);
    CHECK(n_transforms_of("realnvp", 2) == 4);
    CHECK(n_transforms_of("nice", 2) == 5);
    CHECK(n_transforms_of("glow", 2) == 12);
    CHECK(n_transforms_of("planar", 2) == 8);
    CHECK(n_transforms_of("radial", 2) == 8);
    CHECK(n_transforms_of("maf:transforms=7", 2) == 7);
    CHECK(n_transforms_of("iaf:transforms=7", 2) == 7);
    CHECK(n_transforms_of("realnvp:transforms=7", 2) == 7);
    CHECK(n_transforms_of("nice:transforms=7", 2) == 8);
    CHECK(n_transforms_of("glow:transforms=7", 2) == 21);
    CHECK(n_transforms_of("planar:transforms=7", 2) == 7);
    CHECK(n_transforms_of("radial:transforms=1", 2) == 1);
    CHECK(n_transforms_of("maf:batchnorm=1", 2) == 5); /* a batch normalization between layers */
    CHECK(n_transforms_of("iaf:batchnorm=1,transforms=1", 2) == 1);
    CHECK(n_transforms_of("nsf:batchnorm=1,transforms=4", 2) == 7);
}

static void test_batchnorm_key(void)
{
    built b = make("maf:batchnorm=1", 3, 2);
    CHECK(b.f && vf_flow_n_transforms(b.f) == 5);
    static const char *const kinds[] = {"maf", "batch_norm", "maf", "batch_norm", "maf"};
    for (int i = 0; b.f && i < 5; i++)
        CHECK_MSG(strcmp(vf_transform_kind(vf_flow_transform(b.f, i)), kinds[i]) == 0, "maf:batchnorm=1 %d: %s", i,
                  vf_transform_kind(vf_flow_transform(b.f, i)));
    int64_t s0 = 0, s1 = 0;
    CHECK(shape_of(b.p, "transforms.1.log_gamma", &s0, &s1) == 1 && s0 == 3);
    CHECK(shape_of(b.p, "transforms.2.net.input.weight", &s0, &s1) == 2);
    unmake(&b);
    b = make("nsf:batchnorm=1,transforms=2", 2, 0);
    CHECK(b.f && vf_flow_n_transforms(b.f) == 3 &&
          strcmp(vf_transform_kind(vf_flow_transform(b.f, 1)), "batch_norm") == 0);
    unmake(&b);
}

static void test_kinds_and_layout(void)
{
    built b = make("glow:transforms=2", 3, 0);
    CHECK(b.f && vf_flow_n_transforms(b.f) == 6);
    static const char *const glow_kinds[] = {"actnorm", "lu_linear", "affine_coupling"};
    for (int i = 0; b.f && i < 6; i++)
        CHECK_MSG(strcmp(vf_transform_kind(vf_flow_transform(b.f, i)), glow_kinds[i % 3]) == 0, "glow %d: %s", i,
                  vf_transform_kind(vf_flow_transform(b.f, i)));
    int64_t s0 = 0, s1 = 0;
    CHECK(shape_of(b.p, "transforms.0.loc", &s0, &s1) == 1 && s0 == 3);
    CHECK(shape_of(b.p, "transforms.1.lower", &s0, &s1) == 2 && s0 == 3 && s1 == 3);
    CHECK(shape_of(b.p, "transforms.4.log_s", &s0, &s1) == 1);
    CHECK(shape_of(b.p, "transforms.5.net.layers.0.weight", &s0, &s1) == 2 && s0 == 64);
    unmake(&b);

    b = make("nice:transforms=3", 4, 0);
    CHECK(b.f && vf_flow_n_transforms(b.f) == 4);
    for (int i = 0; b.f && i < 3; i++)
        CHECK(strcmp(vf_transform_kind(vf_flow_transform(b.f, i)), "additive_coupling") == 0);
    CHECK(b.f && strcmp(vf_transform_kind(vf_flow_transform(b.f, 3)), "elementwise_affine") == 0);
    CHECK(shape_of(b.p, "transforms.3.log_scale", &s0, &s1) == 1 && s0 == 4);
    unmake(&b);

    /* realnvp parities alternate: the transformed features of layer 0 are the kept ones of layer 1 */
    b = make("realnvp:transforms=2", 5, 0);
    char j0[1024] = "", j1[1024] = "";
    CHECK(b.f && vf_transform_describe(vf_flow_transform(b.f, 0), j0, sizeof j0) == VF_OK);
    CHECK(b.f && vf_transform_describe(vf_flow_transform(b.f, 1), j1, sizeof j1) == VF_OK);
    CHECK(strcmp(j0, j1) != 0);
    /* parity 0 transforms features 0, 2, 4 (3 of them: output 2 * 3), parity 1 features 1, 3 */
    CHECK(shape_of(b.p, "transforms.0.net.layers.2.weight", &s0, &s1) == 2 && s0 == 6 && s1 == 64);
    CHECK(shape_of(b.p, "transforms.1.net.layers.2.weight", &s0, &s1) == 2 && s0 == 4);
    CHECK(shape_of(b.p, "transforms.0.net.layers.0.weight", &s0, &s1) == 2 && s1 == 2);
    unmake(&b);
}

static void test_hidden_key(void)
{
    int64_t s0 = 0, s1 = 0;
    /* coupling MLP: 3 hidden layers of 32 = layers 0..3 */
    built b = make("realnvp:hidden=32x3", 2, 0);
    CHECK(shape_of(b.p, "transforms.0.net.layers.0.weight", &s0, &s1) == 2 && s0 == 32 && s1 == 1);
    CHECK(shape_of(b.p, "transforms.0.net.layers.1.weight", &s0, &s1) == 2 && s0 == 32 && s1 == 32);
    CHECK(shape_of(b.p, "transforms.0.net.layers.2.weight", &s0, &s1) == 2 && s0 == 32 && s1 == 32);
    CHECK(shape_of(b.p, "transforms.0.net.layers.3.weight", &s0, &s1) == 2 && s0 == 2 && s1 == 32);
    CHECK(vf_params_find(b.p, "transforms.0.net.layers.4.weight") < 0);
    unmake(&b);
    /* default 64x2 */
    b = make("realnvp", 2, 0);
    CHECK(shape_of(b.p, "transforms.3.net.layers.1.weight", &s0, &s1) == 2 && s0 == 64 && s1 == 64);
    CHECK(vf_params_find(b.p, "transforms.3.net.layers.3.weight") < 0);
    unmake(&b);
    /* MADE: input layer, depth - 1 hidden-to-hidden layers, output */
    b = make("maf:hidden=32x3", 4, 0);
    CHECK(shape_of(b.p, "transforms.2.net.input.weight", &s0, &s1) == 2 && s0 == 32 && s1 == 4);
    CHECK(shape_of(b.p, "transforms.2.net.hidden.1.weight", &s0, &s1) == 2 && s0 == 32 && s1 == 32);
    CHECK(vf_params_find(b.p, "transforms.2.net.hidden.2.weight") < 0);
    CHECK(shape_of(b.p, "transforms.2.net.output.weight", &s0, &s1) == 2 && s0 == 8 && s1 == 32);
    unmake(&b);
    b = make("maf:hidden=16", 4, 0);
    CHECK(shape_of(b.p, "transforms.0.net.input.weight", &s0, &s1) == 2 && s0 == 16);
    CHECK(vf_params_find(b.p, "transforms.0.net.hidden.0.weight") < 0);
    unmake(&b);
    /* planar with a context: the context MLP gets the hidden layers, and so does a conditional base */
    b = make("planar:transforms=1,hidden=8x3,base=diag_normal", 2, 3);
    CHECK(shape_of(b.p, "transforms.0.net.layers.0.weight", &s0, &s1) == 2 && s0 == 8 && s1 == 3);
    CHECK(shape_of(b.p, "transforms.0.net.layers.3.weight", &s0, &s1) == 2 && s0 == 5 && s1 == 8);
    CHECK(shape_of(b.p, "base.net.layers.2.weight", &s0, &s1) == 2 && s0 == 8 && s1 == 8);
    CHECK(shape_of(b.p, "base.net.layers.3.weight", &s0, &s1) == 2 && s0 == 4 && s1 == 8);
    unmake(&b);
    /* without a context, planar has no network whatever hidden says */
    b = make("planar:transforms=1,hidden=8x3", 2, 0);
    CHECK(vf_params_count(b.p) == 3);
    unmake(&b);
}

static void test_other_keys(void)
{
    char j[2048];
    /* act reaches the conditioner */
    built b = make("realnvp:act=tanh", 2, 0);
    CHECK(b.f && vf_transform_describe(vf_flow_transform(b.f, 0), j, sizeof j) == VF_OK && contains(j, "tanh"));
    unmake(&b);
    b = make("maf:act=silu", 2, 0);
    CHECK(b.f && vf_transform_describe(vf_flow_transform(b.f, 1), j, sizeof j) == VF_OK && contains(j, "silu"));
    unmake(&b);
    /* residual MADE */
    b = make("maf:residual=1,hidden=16x2", 3, 0);
    CHECK(vf_params_find(b.p, "transforms.0.net.blocks.1.linear1.weight") >= 0);
    CHECK(vf_params_find(b.p, "transforms.0.net.blocks.2.linear1.weight") < 0);
    unmake(&b);
    b = make("maf", 3, 0);
    CHECK(vf_params_find(b.p, "transforms.0.net.blocks.0.linear1.weight") < 0);
    /* alternating orders: sequential, reversed, sequential */
    for (int i = 0; b.f && i < 3; i++) {
        const int32_t *deg = vf_made_degrees(vf_autoregressive_made(vf_flow_transform(b.f, i)));
        CHECK(deg[0] == (i % 2 ? 3 : 1) && deg[2] == (i % 2 ? 1 : 3));
    }
    unmake(&b);
    /* random orders depend on the seed and differ between layers */
    int32_t first[2][8];
    for (int sd = 0; sd < 2; sd++) {
        b = make(sd ? "iaf:order=random,seed=1234" : "iaf:order=random", 8, 0);
        int differ = 0;
        for (int i = 0; b.f && i < 3; i++) {
            const int32_t *deg = vf_made_degrees(vf_autoregressive_made(vf_flow_transform(b.f, i)));
            if (i == 0) memcpy(first[sd], deg, sizeof first[sd]);
            else differ |= memcmp(first[sd], deg, sizeof first[sd]) != 0;
        }
        CHECK(differ);
        unmake(&b);
    }
    CHECK(memcmp(first[0], first[1], sizeof first[0]) != 0);
    /* glow's LU permutation follows the seed */
    char g0[2048] = "", g1[2048] = "", g2[2048] = "";
    b = make("glow:transforms=1", 6, 0);
    CHECK(b.f && vf_transform_describe(vf_flow_transform(b.f, 1), g0, sizeof g0) == VF_OK);
    unmake(&b);
    b = make("glow:transforms=1,seed=0", 6, 0);
    CHECK(b.f && vf_transform_describe(vf_flow_transform(b.f, 1), g1, sizeof g1) == VF_OK);
    unmake(&b);
    b = make("glow:transforms=1,seed=77", 6, 0);
    CHECK(b.f && vf_transform_describe(vf_flow_transform(b.f, 1), g2, sizeof g2) == VF_OK);
    unmake(&b);
    CHECK(strcmp(g0, g1) == 0 && strcmp(g0, g2) != 0);
    /* spline keys: K bins give 3K - 1 conditioner outputs per transformed feature; bound is recorded */
    int64_t s0 = 0, s1 = 0;
    b = make("nsf:bins=5,bound=3.5,hidden=16x2", 3, 0);
    CHECK(shape_of(b.p, "transforms.1.net.output.weight", &s0, &s1) == 2 && s0 == 3 * 14 && s1 == 16);
    CHECK(b.f && vf_transform_describe(vf_flow_transform(b.f, 1), j, sizeof j) == VF_OK && contains(j, "3.5") &&
          contains(j, "spline_maf"));
    unmake(&b);
    b = make("nsf", 3, 0);
    CHECK(shape_of(b.p, "transforms.0.net.output.weight", &s0, &s1) == 2 && s0 == 3 * 23 && s1 == 64);
    unmake(&b);
    b = make("nsf_coupling:bins=4", 3, 0);
    CHECK(shape_of(b.p, "transforms.0.net.layers.2.weight", &s0, &s1) == 2 && s0 == 2 * 11);
    CHECK(shape_of(b.p, "transforms.1.net.layers.2.weight", &s0, &s1) == 2 && s0 == 1 * 11);
    unmake(&b);
    /* bases */
    b = make("maf:base=mixture3", 2, 0);
    CHECK(strcmp(vf_dist_kind(vf_flow_base(b.f)), "gaussian_mixture") == 0);
    CHECK(shape_of(b.p, "base.logits", &s0, &s1) == 1 && s0 == 3);
    CHECK(shape_of(b.p, "base.means", &s0, &s1) == 2 && s0 == 3 && s1 == 2);
    unmake(&b);
    b = make("maf:base=mixture", 2, 0);
    CHECK(shape_of(b.p, "base.logits", &s0, &s1) == 1 && s0 == 8);
    unmake(&b);
    b = make("maf:base=student_t", 2, 0);
    CHECK(strcmp(vf_dist_kind(vf_flow_base(b.f)), "student_t") == 0 && vf_params_find(b.p, "base.raw_df") >= 0);
    unmake(&b);
    b = make("maf:base=diag_normal", 2, 0);
    CHECK(strcmp(vf_dist_kind(vf_flow_base(b.f)), "diag_normal") == 0 && vf_params_find(b.p, "base.loc") >= 0);
    unmake(&b);
    b = make("maf", 2, 0);
    CHECK(b.f && strcmp(vf_dist_kind(vf_flow_base(b.f)), "normal") == 0);
    for (int32_t id = 0; id < vf_params_count(b.p); id++) {
        vf_param_info info;
        CHECK(vf_params_info(b.p, id, &info) == VF_OK && strncmp(info.name, "base.", 5) != 0);
    }
    unmake(&b);
}

/* ---- errors ------------------------------------------------------------------------------------- */

static void test_errors(void)
{
    static const struct {
        const char *spec, *msg;
    } cases[] = {
        {"nope", "valid: maf, iaf, nsf, nsf_coupling, realnvp, nice, glow, planar, radial"},
        {"maf:bins=8", "unknown key 'bins'"},
        {"nsf:bins=1", "out of range [2, 1024]"},
        {"nsf:bins=eight", "not an integer"},
        {"nsf_coupling:bound=0", "out of range"},
        {"nsf_coupling:bound=inf", "not a finite number"},
        {"nsf_coupling:order=random", "unknown key 'order' (valid keys: transforms, hidden, act, base, seed, bins, bound, coupling)"},
        {"nsf:coupling=1,order=random", "unknown key 'order'"},
        {"maf:batchnorm=2", "batchnorm"},
        {"realnvp:batchnorm=1", "unknown key 'batchnorm'"},
        {"nsf:coupling=2", "out of range [0, 1]"},
        {"nsf_coupling:coupling=0", "contradicts the name"},
        {"maf:coupling=1", "unknown key 'coupling'"},
        {"maf:bound=3", "unknown key 'bound' (valid keys: transforms, hidden, act, base, seed, residual, order, batchnorm)"},
        {"realnvp:residual=1", "unknown key 'residual' (valid keys: transforms, hidden, act, base, seed)"},
        {"maf:transforms=3,transforms=4", "duplicate key 'transforms'"},
        {"maf:transforms=", "empty value"},
        {"maf:transforms=abc", "'abc' is not an integer"},
        {"maf:transforms=2.5", "not an integer"},
        {"maf:transforms=-1", "out of range [1, 256]"},
        {"maf:transforms=0", "out of range"},
        {"maf:transforms=257", "out of range"},
        {"maf:hidden=12x", "hidden=12x is not WIDTHxLAYERS"},
        {"maf:hidden=x2", "not WIDTHxLAYERS"},
        {"maf:hidden=-4x2", "not WIDTHxLAYERS"},
        {"maf:hidden=0x2", "need 1 <= WIDTH <= 1048576"},
        {"maf:hidden=1048577", "need 1 <= WIDTH <= 1048576"},      /* a typo must not fill memory */
        {"nsf:hidden=1000000000x2", "need 1 <= WIDTH <= 1048576"},
        {"realnvp:hidden=99999999999999999999999", "need 1 <= WIDTH"}, /* no overflow on the way */
        {"maf:hidden=8x0", "1 <= LAYERS <= 16"},
        {"maf:hidden=8x17", "LAYERS <= 16"},
        {"maf:hidden=8x99999999999999999999", "LAYERS <= 16"},
        {"maf:hidden=8x2x2", "not WIDTHxLAYERS"},
        {"maf:act=swish", "unknown activation act=swish (valid: relu"},
        {"maf:act=none", "unknown activation"},
        {"maf:base=cauchy", "unknown base 'cauchy' (valid: normal, diag_normal"},
        {"maf:base=mixture0", "component count must be in [1, 4096]"},
        {"maf:base=mixturex", "must be an integer"},
        {"maf:residual=2", "out of range [0, 1]"},
        {"maf:order=backwards", "unknown order 'backwards' (valid: alternate, random)"},
        {"maf:seed=-1", "not an unsigned integer"},
        {"maftransforms=5", "missing ':'"},
        {"maf transforms=5", "whitespace"},
        {"maf:", "must be followed"},
        {"", "empty spec"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vf_params *p = vf_params_new();
        vf_flow *f = NULL;
        vf_clear_error();
        vf_status s = vf_flow_from_spec(cases[i].spec, 2, 0, p, &f);
        CHECK_MSG(s == VF_ERR_ARG, "'%s': status %d", cases[i].spec, (int)s);
        CHECK_MSG(contains(vf_last_error(), cases[i].msg), "'%s': message '%s' lacks '%s'", cases[i].spec,
                  vf_last_error(), cases[i].msg);
        CHECK(f == NULL && vf_params_count(p) == 0);
        vf_flow_free(f);
        vf_params_free(p);
    }
    vf_params *p = vf_params_new();
    vf_flow *f = NULL;
    CHECK_STATUS(vf_flow_from_spec(NULL, 2, 0, p, &f), VF_ERR_ARG);
    CHECK_STATUS(vf_flow_from_spec("maf", 2, 0, NULL, &f), VF_ERR_ARG);
    CHECK_STATUS(vf_flow_from_spec("maf", 2, 0, p, NULL), VF_ERR_ARG);
    CHECK_STATUS(vf_flow_from_spec("maf", 0, 0, p, &f), VF_ERR_ARG);
    CHECK_STATUS(vf_flow_from_spec("maf", 2, -1, p, &f), VF_ERR_ARG);
    CHECK_STATUS(vf_flow_from_spec("realnvp", 1, 0, p, &f), VF_ERR_ARG);
    CHECK(contains(vf_last_error(), "realnvp: needs data of dimension d >= 2 (got 1)"));
    /* a store that already holds parameters keeps them on failure, and the preset appends after them */
    int32_t id = -1;
    CHECK_STATUS(vf_params_add(p, "other.w", 1, (int64_t[]){3}, vf_init_zeros(), &id), VF_OK);
    CHECK_STATUS(vf_flow_from_spec("glow:hidden=8x40", 2, 0, p, &f), VF_ERR_ARG);
    CHECK(vf_params_count(p) == 1);
    CHECK_STATUS(vf_flow_from_spec("maf:transforms=1", 2, 0, p, &f), VF_OK);
    CHECK(vf_params_count(p) > 1 && vf_params_find(p, "other.w") == 0);
    /* a second flow in the same store collides on "transforms.0.*": the first stays intact */
    vf_flow *g = NULL;
    int32_t before = vf_params_count(p);
    CHECK(vf_flow_from_spec("maf:transforms=1", 2, 0, p, &g) != VF_OK);
    CHECK(g == NULL && vf_params_count(p) == before);
    /* a failure after the transforms are built (the base's name is taken) drops what they registered */
    vf_params *q = vf_params_new();
    CHECK_STATUS(vf_params_add(q, "base.loc", 1, (int64_t[]){2}, vf_init_zeros(), &id), VF_OK);
    CHECK(vf_flow_from_spec("realnvp:transforms=3,base=diag_normal", 2, 0, q, &g) != VF_OK);
    CHECK(g == NULL && vf_params_count(q) == 1);
    vf_params_free(q);
    CHECK_STATUS(vf_params_finalize(p, 1), VF_OK);
    CHECK_STATUS(vf_flow_from_spec("maf", 2, 0, p, &g), VF_ERR_STATE);
    CHECK(g == NULL);
    vf_flow_free(f);
    vf_params_free(p);
}

/* ---- a short fit ------------------------------------------------------------------------------- */

/* Held-out mean log-likelihood of spec fitted to 8gaussians by `steps` Adam steps (lr 1e-2, batches of
 * 128); *normal_ll receives the standard normal's on the same held-out points. */
static double fit_8gaussians(const char *spec, uint64_t seed, int steps, double *normal_ll)
{
    const int64_t n_train = 2048, n_test = 1024, batch = 128;
    vf_rng r;
    vf_rng_init(&r, seed, 0);
    vf_tensor train = {0}, test = {0};
    CHECK_STATUS(vf_toy_sample("8gaussians", NULL, n_train, &r, &train), VF_OK);
    CHECK_STATUS(vf_toy_sample("8gaussians", NULL, n_test, &r, &test), VF_OK);
    vf_params *p = vf_params_new();
    vf_flow *flow = NULL;
    CHECK_STATUS(vf_flow_from_spec(spec, 2, 0, p, &flow), VF_OK);
    CHECK_STATUS(vf_params_finalize(p, seed), VF_OK);
    double ll = -INFINITY;
    if (flow && train.data && test.data)
        ll = ff_fit_2d(flow, p, &train, &test, &r, steps, batch, 1e-2, NULL, normal_ll);
    vf_flow_free(flow);
    vf_params_free(p);
    vf_tensor_free(&train);
    vf_tensor_free(&test);
    return ll;
}

/* Measured held-out mean log-likelihoods of FIT_SPEC after FIT_STEPS steps, seeds 1..10 (float build):
 * -3.70 -3.47 -3.71 -3.89 -3.76 -3.86 -3.59 -3.95 -3.64 -3.81, gains over the standard normal 2.05 .. 2.50.
 * The test (seed 1) asks for a gain of at least 1.5 nats (0.5 below the worst seed) and, since no density
 * beats the true one on average, at most the true density's -2.838 plus 0.2 (about 6 standard errors of a
 * 1024-point held-out mean whose per-point standard deviation is about 1): a log-determinant that
 * inflates the likelihood fails it. */
#define FIT_SPEC "realnvp:transforms=4,hidden=16x2"
#define FIT_STEPS 120
#define FIT_MIN_GAIN 1.5
#define TRUE_LL (-2.838)

static void test_fit_8gaussians(void)
{
    double normal_ll = 0;
    double ll = fit_8gaussians(FIT_SPEC, 1, FIT_STEPS, &normal_ll);
    printf("8gaussians, %s, %d steps: held-out mean log-likelihood %.3f (standard normal %.3f, true %.3f)\n",
           FIT_SPEC, FIT_STEPS, ll, normal_ll, TRUE_LL);
    CHECK(ll - normal_ll >= FIT_MIN_GAIN);
    CHECK(ll <= TRUE_LL + 0.2);
}

/* ---- allocation failures ---------------------------------------------------------------------- */

static vf_status alloc_scenario(void *ctx)
{
    const char *spec = ctx;
    vf_params *p = vf_params_new();
    if (!p) return VF_OK; /* the store's own first allocation (no message by design) is not under test */
    vf_flow *f = NULL;
    vf_status s = vf_flow_from_spec(spec, 3, 2, p, &f);
    if (s != VF_OK && (f != NULL || vf_params_count(p) != 0)) s = VF_ERR_STATE; /* not rolled back */
    if (s == VF_OK && (vf_flow_n_transforms(f) < 1 || vf_flow_dim(f) != 3)) s = VF_ERR_STATE;
    vf_flow_free(f);
    vf_params_free(p);
    return s;
}

static void test_alloc_failures(void)
{
    static const char *const specs[] = {"maf:transforms=2,hidden=4,base=mixture2", "iaf:transforms=2,hidden=4,residual=1",
                                        "realnvp:transforms=2,hidden=4,base=diag_normal", "nice:transforms=2,hidden=4",
                                        "glow:transforms=2,hidden=4,base=student_t", "planar:transforms=2,hidden=4",
                                        "radial:transforms=2,hidden=4", "nsf:transforms=2,hidden=4,bins=3",
                                        "nsf_coupling:transforms=2,hidden=4,bins=3"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        CHECK_MSG(af_sweep(specs[i], alloc_scenario, (void *)specs[i], 0) == 0, "%s", specs[i]);
        CHECK_MSG(af_sweep(specs[i], alloc_scenario, (void *)specs[i], 1) == 0, "%s (sticky)", specs[i]);
    }
}

int main(void)
{
    RUN(test_parse_valid);
    RUN(test_parse_malformed);
    RUN(test_spec_values);
    RUN(test_every_preset_builds);
    RUN(test_bases);
    RUN(test_transform_counts);
    RUN(test_batchnorm_key);
    RUN(test_nsf_coupling_key);
    RUN(test_kinds_and_layout);
    RUN(test_hidden_key);
    RUN(test_other_keys);
    RUN(test_errors);
    RUN(test_fit_8gaussians);
    RUN(test_alloc_failures);
    return vf_test_summary();
}
