/* test_fit_resume.c — `varflow fit --checkpoint / --resume / --stop-after`: a run cut in two continues
 * bit for bit as the uninterrupted run (parameters and log), with and without dequantization and a
 * box; a checkpoint is a loadable model; divergence leaves the last good checkpoint untouched;
 * mismatched resumes are clear errors. The program at VF_BINARY_DIR "/varflow" runs in a private folder. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <varflow.h>
#include "tmpdir.h"
#include "vf_test.h"

#define VARFLOW VF_BINARY_DIR "/varflow"

static int run(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd %s && %s %s >out.txt 2>err.txt", dir, VARFLOW, args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char text[1 << 16];

static const char *read_text(const char *name)
{
    size_t n = slurp(path_of(name), (unsigned char *)text, sizeof text - 1);
    text[n] = '\0';
    return text;
}

/* 1 when two model files hold the same flow tensors bit for bit (and the same architecture). */
static int same_models(const char *a, const char *b)
{
    vf_params *pa = NULL, *pb = NULL;
    vf_flow *fa = NULL, *fb = NULL;
    int same = vf_flow_load(path_of(a), &pa, &fa, NULL) == VF_OK && vf_flow_load(path_of(b), &pb, &fb, NULL) == VF_OK &&
               vf_params_size(pa) == vf_params_size(pb) &&
               memcmp(vf_params_values(pa), vf_params_values(pb), sizeof(vf_real) * (size_t)vf_params_size(pa)) == 0;
    if (!same) fprintf(stderr, "%s and %s differ (%s)\n", a, b, vf_last_error());
    vf_flow_free(fa);
    vf_flow_free(fb);
    vf_params_free(pa);
    vf_params_free(pb);
    return same;
}

static void write_data(const char *name, int integer)
{
    vf_rng r;
    vf_rng_init(&r, 21, 0);
    vf_tensor x;
    CHECK_STATUS(vf_toy_sample("8gaussians", NULL, 1200, &r, &x), VF_OK);
    for (int64_t i = 0; integer && i < 2400; i++) x.data[i] = (vf_real)floor(3.0 * (double)x.data[i] + 0.5);
    CHECK_STATUS(vf_write_table(path_of(name), &x), VF_OK);
    vf_tensor_free(&x);
}

/* What a run killed after its last checkpoint (epoch 3) leaves in its log: the uninterrupted run's
 * lines of epochs 4 and 5 (written after that checkpoint) and a line cut short. The resumed run must
 * drop them. */
static void append_lines_after_the_checkpoint(const char *full, const char *split)
{
    read_text(full);
    const char *from = text;
    for (int k = 0; k < 3 && from; k++) from = strchr(from, '\n') ? strchr(from, '\n') + 1 : NULL;
    const char *to = from ? strstr(from, "{\"epoch\":6,") : NULL;
    CHECK_MSG(from && to, "%s has no lines after epoch 3: %s", full, text);
    if (!from || !to) return;
    FILE *f = fopen(path_of(split), "ab");
    CHECK(f != NULL);
    if (!f) return;
    fwrite(from, 1, (size_t)(to - from), f);
    fputs("{\"epoch\":6,\"st", f);
    fclose(f);
}

/* 6 epochs in one run against 3 + 3 with a checkpoint in between (and the log a crash leaves). */
static void check_split_run(const char *extra, const char *tag)
{
    char common[512], args[1024], a[8192], b[8192];
    snprintf(common, sizeof common, "--model maf:transforms=2,hidden=16x2 --epochs 6 --batch 128 --lr 3e-3 --seed 5 %s",
             extra);
    snprintf(args, sizeof args, "fit %s --log full.log -o full.safetensors", common);
    CHECK_MSG(run(args) == 0, "%s: %s", tag, read_text("err.txt"));
    snprintf(args, sizeof args, "fit %s --log split.log --checkpoint ck.safetensors --stop-after 3 --json -o half.safetensors",
             common);
    CHECK_MSG(run(args) == 0, "%s: %s", tag, read_text("err.txt"));
    CHECK_MSG(strstr(read_text("out.txt"), "\"epochs\":3,") && strstr(text, "\"paused\":true"), "%s: %s", tag, text);
    /* the checkpoint is a usable model file holding the epoch-3 state */
    vf_params *p = NULL;
    vf_flow *f = NULL;
    vf_model_meta meta;
    CHECK_STATUS(vf_flow_load(path_of("ck.safetensors"), &p, &f, &meta), VF_OK);
    if (f) {
        const char *e = vf_model_meta_get(&meta, "fit.resume.epoch");
        CHECK_MSG(e && strcmp(e, "3") == 0, "%s: fit.resume.epoch %s", tag, e ? e : "missing");
        vf_model_meta_free(&meta);
    }
    vf_flow_free(f);
    vf_params_free(p);
    append_lines_after_the_checkpoint("full.log", "split.log");
    snprintf(args, sizeof args, "fit %s --log split.log --resume ck.safetensors --checkpoint ck.safetensors --json -o "
             "split.safetensors", common);
    CHECK_MSG(run(args) == 0, "%s: %s", tag, read_text("err.txt"));
    CHECK_MSG(strstr(read_text("out.txt"), "\"epochs\":6,") && strstr(text, "\"paused\":false"), "%s: %s", tag, text);
    CHECK_MSG(same_models("full.safetensors", "split.safetensors"), "%s: final parameters differ", tag);
    slurp_without_seconds("full.log", a, sizeof a);
    slurp_without_seconds("split.log", b, sizeof b);
    CHECK_MSG(strcmp(a, b) == 0, "%s: logs differ:\n%s---\n%s", tag, a, b);
    CHECK(strstr(a, "\"epoch\":6,") != NULL);
}

static void test_resume_exact(void)
{
    write_data("x.npy", 0);
    check_split_run("--data x.npy", "continuous");
    write_data("k.npy", 1);
    check_split_run("--data k.npy --dequantize", "dequantized");
    check_split_run("--data x.npy --no-standardize --patience 1", "early stopping");
    check_split_run("--data x.npy --box -8,8", "on a box");
    check_split_run("--data k.npy --dequantize --box -20,20 --box-alpha 0.01", "dequantized on a box");
}

/* --checkpoint-every 2: written after epochs 2 and 4 of 5, so the file holds epoch 4. */
static void test_checkpoint_every(void)
{
    write_data("x.npy", 0);
    CHECK(run("fit --data x.npy --model maf:transforms=1,hidden=8 --epochs 5 --batch 256 --patience 0 --checkpoint "
              "every.safetensors --checkpoint-every 2 -o e.safetensors") == 0);
    vf_params *p = NULL;
    vf_flow *f = NULL;
    vf_model_meta meta;
    CHECK_STATUS(vf_flow_load(path_of("every.safetensors"), &p, &f, &meta), VF_OK);
    const char *e = f ? vf_model_meta_get(&meta, "fit.resume.epoch") : NULL;
    CHECK_MSG(e && strcmp(e, "4") == 0, "epoch %s", e ? e : "missing");
    if (f) vf_model_meta_free(&meta);
    vf_flow_free(f);
    vf_params_free(p);
}

/* Counters past 2^53 in a checkpoint's metadata (a corrupt file: no run gets there) are refused, not
 * counted on into a signed overflow. */
static void test_counters_bounded(void)
{
    write_data("x.npy", 0);
    CHECK(run("fit --data x.npy --model maf:transforms=1,hidden=8 --epochs 4 --batch 256 --checkpoint "
              "bound.safetensors --stop-after 2 -o b.safetensors") == 0);
    static const char *const keys[] = {"fit.resume.epoch", "fit.resume.step", "fit.resume.adam_step"};
    for (int k = 0; k < 3; k++) {
        vf_params *p = NULL;
        vf_flow *f = NULL;
        vf_model_meta meta;
        CHECK_STATUS(vf_flow_load(path_of("bound.safetensors"), &p, &f, &meta), VF_OK);
        if (!f) return;
        vf_fit_state st;
        memset(&st, 0, sizeof st);
        CHECK_STATUS(vf_fit_checkpoint_read(path_of("bound.safetensors"), &meta, p, &st), VF_OK);
        vf_fit_state_free(&st);
        for (int64_t i = 0; i < meta.n; i++)
            if (strcmp(meta.keys[i], keys[k]) == 0) {
                char *v = vf_malloc(32);
                if (v) snprintf(v, 32, "%lld", 9223372036854775807LL);
                vf_free(meta.values[i]);
                meta.values[i] = v;
            }
        CHECK_STATUS(vf_fit_checkpoint_read(path_of("bound.safetensors"), &meta, p, &st), VF_ERR_FORMAT);
        CHECK_MSG(strstr(vf_last_error(), keys[k]) && strstr(vf_last_error(), "malformed"), "%s", vf_last_error());
        vf_fit_state_free(&st);
        vf_model_meta_free(&meta);
        vf_flow_free(f);
        vf_params_free(p);
    }
}

static void check_error(const char *args, int want, const char *needle)
{
    int rc = run(args);
    CHECK_MSG(rc == want, "'%s' exited %d, wanted %d", args, rc, want);
    CHECK_MSG(strstr(read_text("err.txt"), needle) != NULL, "'%s': wanted '%s' in: %s", args, needle, text);
}

static void test_divergence_keeps_checkpoint(void)
{
    write_data("x.npy", 0);
    const char *common = "--data x.npy --model maf:transforms=2,hidden=16x2 --epochs 8 --batch 128 --seed 2";
    char args[1024];
    snprintf(args, sizeof args, "fit %s --checkpoint good.safetensors --stop-after 2 -o m.safetensors", common);
    CHECK_MSG(run(args) == 0, "%s", read_text("err.txt"));
    static unsigned char before[1 << 18], after[1 << 18];
    size_t nb = slurp(path_of("good.safetensors"), before, sizeof before);
    CHECK(nb > 0 && nb < sizeof before);
    /* A learning rate of 1e100 sends the parameters to about 1e100 in one Adam step: the MADE outputs
     * overflow and the loss is NaN within the next steps, long before the epoch ends. */
    snprintf(args, sizeof args, "fit %s --lr 1e100 --resume good.safetensors --checkpoint good.safetensors -o m2.safetensors",
             common);
    check_error(args, 1, "diverged");
    CHECK_MSG(strstr(text, "good.safetensors is unchanged") != NULL, "%s", text);
    size_t na = slurp(path_of("good.safetensors"), after, sizeof after);
    CHECK(na == nb && memcmp(before, after, nb) == 0);
    CHECK(slurp(path_of("m2.safetensors"), after, 1) == 0);
    vf_params *p = NULL;
    vf_flow *f = NULL;
    CHECK_STATUS(vf_flow_load(path_of("good.safetensors"), &p, &f, NULL), VF_OK);
    vf_flow_free(f);
    vf_params_free(p);
}

static void test_resume_errors(void)
{
    write_data("x.npy", 0);
    const char *common = "--data x.npy --model maf:transforms=1,hidden=8 --epochs 4 --batch 256";
    char args[1024];
    snprintf(args, sizeof args, "fit %s --checkpoint c.safetensors --stop-after 1 -o m.safetensors", common);
    CHECK_MSG(run(args) == 0, "%s", read_text("err.txt"));
    check_error("fit --data x.npy --model realnvp --resume c.safetensors -o r.safetensors", 1, "not --model realnvp");
    put_text("three.csv", "1,2,3\n4,5,6\n7,8,9\n1,1,1\n2,3,1\n");
    check_error("fit --data three.csv --resume c.safetensors -o r.safetensors", 1, "dimension 2 but three.csv has 3");
    check_error("fit --data x.npy --resume c.safetensors --seed 9 -o r.safetensors", 1, "--seed");
    check_error("fit --data x.npy --resume c.safetensors --batch 64 -o r.safetensors", 1, "--batch");
    check_error("fit --data x.npy --resume c.safetensors --no-standardize -o r.safetensors", 1, "--no-standardize");
    check_error("fit --data x.npy --resume c.safetensors --batch 256 --box -8,8 -o r.safetensors", 1, "fitted without a box");
    check_error("fit --data x.npy --resume m.safetensors -o r.safetensors", 1, "not a checkpoint");
    check_error("fit --data x.npy --resume missing.safetensors -o r.safetensors", 1, "missing.safetensors");
    check_error("fit --data x.npy --stop-after 2 -o r.safetensors", 2, "--checkpoint");
    check_error("fit --data x.npy --checkpoint-every 0 --checkpoint c2.safetensors -o r.safetensors", 2, "--checkpoint-every");
    CHECK(slurp(path_of("r.safetensors"), (unsigned char *)text, 1) == 0);
    /* --model may be left out on resume: the checkpoint's is used */
    CHECK_MSG(run("fit --data x.npy --epochs 4 --batch 256 --resume c.safetensors -o r.safetensors") == 0, "%s",
              read_text("err.txt"));
}

int main(void)
{
    if (tmpdir_open("vf_resume")) return 1;
    RUN(test_resume_exact);
    RUN(test_checkpoint_every);
    RUN(test_counters_bounded);
    RUN(test_divergence_keeps_checkpoint);
    RUN(test_resume_errors);
    tmpdir_close();
    return vf_test_summary();
}
