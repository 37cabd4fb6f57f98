/* test_plot.c — pictures (vf_plot.h): the colour map orders colours by lightness, ticks are nice and
 * cover the range, every SVG is well-formed (a tag-balance checker) with the requested size and
 * viewBox and draws what it was given (points inside the extent, curves split at gaps, corner
 * panels), the heat map of a known Gaussian (a model file drawn by `varflow plot density`) is
 * brightest at its mean, PNG grids have the signature, the requested IHDR size and (decoded back
 * through libpng) the expected pixels; bad requests give clear errors, out-of-memory paths are
 * clean. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "alloc_fail.h"
#include "tmpdir.h"
#include "varflow.h"
#include "vf_test.h"
#if VF_HAVE_PNG
#include <png.h>
#endif

/* ---- reading the files back ---------------------------------------------------------------- */

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

/* 1 when every element opened in s is closed in order, the root is <svg>, attribute values are
 * quoted, and no raw '<' or '&' (other than an entity) appears in text. */
static int tags_balanced(const char *s)
{
    char stack[64][32];
    int depth = 0, roots = 0;
    const char *p = s;
    if (strncmp(p, "<?xml", 5) == 0) p = strstr(p, "?>") + 2;
    while (*p) {
        if (*p == '&') {
            const char *semi = strchr(p, ';');
            if (!semi || semi - p > 6) return 0;
            p = semi + 1;
            continue;
        }
        if (*p != '<') {
            p++;
            continue;
        }
        const char *end = p + 1;
        char quote = 0;
        while (*end && (quote || *end != '>')) {
            if (quote && *end == quote) quote = 0;
            else if (!quote && (*end == '"' || *end == '\'')) quote = *end;
            else if (!quote && *end == '<') return 0;
            end++;
        }
        if (!*end) return 0;
        if (p[1] == '/') {
            size_t n = strcspn(p + 2, " >");
            if (depth == 0 || strlen(stack[depth - 1]) != n || strncmp(stack[depth - 1], p + 2, n) != 0) return 0;
            depth--;
        } else if (end[-1] != '/') {
            size_t n = strcspn(p + 1, " />");
            if (depth == 64 || n == 0 || n >= 32) return 0;
            if (depth == 0 && (roots++ || strncmp(p + 1, "svg", n) != 0)) return 0;
            memcpy(stack[depth], p + 1, n);
            stack[depth++][n] = '\0';
        } else if (depth == 0) {
            return 0; /* a self-closed element outside the root */
        }
        p = end + 1;
    }
    return depth == 0 && roots == 1;
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what)) n++;
    return n;
}

/* The part of s from `<g id="NAME"` to its closing </g> (no nested groups inside ours). */
static const char *group(const char *s, const char *name, size_t *len)
{
    char pat[64];
    snprintf(pat, sizeof pat, "<g id=\"%s\"", name);
    const char *a = strstr(s, pat);
    if (!a) return NULL;
    const char *b = strstr(a, "</g>");
    *len = b ? (size_t)(b - a) : 0;
    return a;
}

static int count_in(const char *s, size_t len, const char *what)
{
    int n = 0;
    size_t k = strlen(what);
    for (const char *p = s; (p = strstr(p, what)) != NULL && (size_t)(p - s) + k <= len; p += k) n++;
    return n;
}

/* The header checks every SVG must pass. */
static void check_svg(const char *path, int w, int h)
{
    char *s = read_all(path);
    CHECK_MSG(s != NULL, "%s missing", path);
    if (!s) return;
    CHECK_MSG(tags_balanced(s), "%s is not well-formed", path);
    char want[200];
    snprintf(want, sizeof want, "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\"", w, h, w, h);
    CHECK_MSG(strstr(s, want) != NULL, "%s lacks %s", path, want);
    free(s);
}

/* Centre (in cell units: column, row from the bottom) of the brightest run of the heat map, by the
 * relative luminance of its fill. */
static int brightest_cell(const char *svg, int64_t ny, double *col, double *row)
{
    size_t len;
    const char *g = group(svg, "heatmap", &len);
    if (!g) return -1;
    double best = -1;
    for (const char *p = g; (p = strstr(p, "<rect ")) != NULL && (size_t)(p - g) < len; p++) {
        long x, y, w;
        unsigned r, gg, b;
        if (sscanf(p, "<rect x=\"%ld\" y=\"%ld\" width=\"%ld\" height=\"1\" fill=\"#%2x%2x%2x\"", &x, &y, &w, &r, &gg, &b) != 6)
            return -1;
        double lum = 0.2126 * r + 0.7152 * gg + 0.0722 * b;
        if (lum > best) {
            best = lum;
            *col = (double)x + 0.5 * (double)w;
            *row = (double)(ny - 1 - y) + 0.5;
        }
    }
    return best >= 0 ? 0 : -1;
}

/* ---- tests ------------------------------------------------------------------------------------ */

static double luminance(double t)
{
    unsigned char c[3];
    vf_plot_colormap(t, c);
    double lin[3];
    for (int k = 0; k < 3; k++) {
        double v = c[k] / 255.0;
        lin[k] = v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
    }
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
}

static void test_colormap(void)
{
    double prev = -1;
    int increasing = 1;
    for (int k = 0; k <= 64; k++) {
        double l = luminance(k / 64.0);
        if (l <= prev) increasing = 0;
        prev = l;
    }
    CHECK(increasing);                         /* lightness orders the colours */
    CHECK(luminance(0) < 0.05 && luminance(1) > 0.7);
    unsigned char a[3], b[3];
    vf_plot_colormap(-3, a);
    vf_plot_colormap(0, b);
    CHECK(memcmp(a, b, 3) == 0);               /* clamped */
    vf_plot_colormap(NAN, a);
    CHECK(memcmp(a, b, 3) == 0);
}

static void test_ticks(void)
{
    double t[32];
    int n = vf_plot_ticks(0, 1, 5, t, 32);
    CHECK(n == 6);
    for (int k = 0; k < n; k++) CHECK_NEAR(t[k], 0.2 * k, 1e-12);
    n = vf_plot_ticks(-3.7, 12.2, 6, t, 32);
    CHECK(n >= 3 && n <= 10);
    double step = t[1] - t[0], mag = pow(10, floor(log10(step))), f = step / mag;
    CHECK(fabs(f - 1) < 1e-9 || fabs(f - 2) < 1e-9 || fabs(f - 5) < 1e-9);
    CHECK(t[0] >= -3.7 && t[0] - step < -3.7 && t[n - 1] <= 12.2 && t[n - 1] + step > 12.2);
    n = vf_plot_ticks(-1e-3, 1e-3, 4, t, 32);
    CHECK(n >= 3);
    int zero = 0;
    for (int k = 0; k < n; k++) zero |= t[k] == 0.0 && !signbit(t[k]);
    CHECK(zero);                               /* an exact 0, not -0 or 1e-19 */
    CHECK(vf_plot_ticks(1, 1, 5, t, 32) == 0);
    CHECK(vf_plot_ticks(NAN, 1, 5, t, 32) == 0);
}

static void test_heatmap(void)
{
    enum { NX = 40, NY = 30 };
    static vf_real v[NY * NX];
    double ext[4] = {-2, 2, -1, 2}, mx = 0.7, my = 1.1; /* a bump at (0.7, 1.1) */
    for (int r = 0; r < NY; r++)
        for (int c = 0; c < NX; c++) {
            double x = ext[0] + (c + 0.5) * 4.0 / NX, y = ext[2] + (r + 0.5) * 3.0 / NY;
            v[r * NX + c] = (vf_real)exp(-((x - mx) * (x - mx) + (y - my) * (y - my)) / 0.5);
        }
    v[0] = (vf_real)-INFINITY; /* a -inf log-density is drawn, not an error */
    vf_real pts[] = {0, 0, 1, 1, 5, 0 /* outside */, -1.5f, 1.9f, NAN, 0 /* skipped */};
    vf_plot_options o = vf_plot_default_options();
    o.title = "a<b & \"c\" 'd'";
    o.xlabel = "x1";
    o.ylabel = "x2";
    o.value_label = "p(x)";
    o.width = 500;
    o.height = 400;
    const char *path = path_of("heat.svg");
    CHECK(vf_plot_heatmap(path, NY, NX, v, ext, 5, pts, &o) == VF_OK);
    check_svg(path, 500, 400);
    char *s = read_all(path);
    if (!s) return;
    CHECK(strstr(s, "a&lt;b &amp; &quot;c&quot; &apos;d&apos;") != NULL);
    size_t len;
    const char *g = group(s, "points", &len);
    CHECK(g && count_in(g, len, "<circle") == 3);
    g = group(s, "heatmap", &len);
    CHECK(g != NULL);
    double col, row;
    CHECK(brightest_cell(s, NY, &col, &row) == 0);
    CHECK_NEAR(ext[0] + col * 4.0 / NX, mx, 4.0 / NX);
    CHECK_NEAR(ext[2] + row * 3.0 / NY, my, 3.0 / NY);
    CHECK(group(s, "colorbar", &len) != NULL);
    free(s);
}

static void test_curves(void)
{
    double x[6] = {1, 2, 3, 4, 5, 6}, a[6] = {3, 2.5, 2.2, 2.1, 2.05, 2.0}, b[6] = {3.1, 2.6, NAN, 2.3, 2.2, 2.2};
    vf_plot_series s[2] = {{"train_nll", 6, x, a}, {"valid<nll>", 6, x, b}};
    const char *path = path_of("curves.svg");
    CHECK(vf_plot_curves(path, 2, s, NULL) == VF_OK);
    check_svg(path, 640, 480);
    char *t = read_all(path);
    if (!t) return;
    CHECK(count(t, "<polyline class=\"series0\"") == 1);
    CHECK(count(t, "<polyline class=\"series1\"") == 2); /* the NaN breaks the line */
    CHECK(strstr(t, "valid&lt;nll&gt;") != NULL);
    free(t);
    vf_plot_options o = vf_plot_default_options();
    o.log_y = 1;
    double neg[2] = {-1, 0};
    vf_plot_series bad = {"neg", 2, x, neg};
    CHECK(vf_plot_curves(path, 1, &bad, &o) == VF_ERR_NUMERIC);
}

static void test_corner(void)
{
    enum { N = 500, D = 3 };
    static vf_real x[N * D], y[N * D];
    vf_rng r;
    vf_rng_init(&r, 7, 0);
    for (int i = 0; i < N * D; i++) {
        x[i] = (vf_real)(vf_rng_uniform(&r) * 2 - 1);
        y[i] = (vf_real)(vf_rng_uniform(&r) * 3);
    }
    const char *path = path_of("corner.svg");
    CHECK(vf_plot_corner(path, N, D, x, N, y, NULL, 20, NULL) == VF_OK);
    char *s = read_all(path);
    if (!s) return;
    CHECK(tags_balanced(s));
    CHECK(count(s, "<g class=\"panel\"") == 9);
    CHECK(count(s, "<g class=\"hist2d\"") == 6);
    free(s);
    CHECK(vf_plot_corner(path, N, D, x, 0, NULL, (const char *const[]){"a", "b&", "c"}, 0, NULL) == VF_OK);
    s = read_all(path);
    if (!s) return;
    CHECK(tags_balanced(s));
    CHECK(count(s, "<g class=\"panel\"") == 6); /* nothing above the diagonal */
    CHECK(strstr(s, ">b&amp;<") != NULL);
    free(s);
    CHECK(vf_plot_corner(path, N, 21, x, 0, NULL, NULL, 0, NULL) == VF_ERR_ARG);
}

/* 4 images of 3 x 2: image i has value i * 10 + (row * 2 + col) (range 0..40). */
static vf_real image_pixels[4 * 6];

static void make_images(void)
{
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 6; k++) image_pixels[i * 6 + k] = (vf_real)(i * 10 + k);
}

#if VF_HAVE_PNG
/* Expected grey at picture pixel (px, py) of a 2 x 3 grid of the images, scale s, range 0..40. */
static int expected_grey(int px, int py, int s)
{
    int cw = 2 * s + 2, ch = 3 * s + 2;
    int cx = (px - 2) % cw, cy = (py - 2) % ch, c = (px - 2) / cw, r = (py - 2) / ch;
    if (px < 2 || py < 2 || cx >= 2 * s || cy >= 3 * s) return 128;
    int i = r * 3 + c;
    if (i >= 4) return 0;
    double v = i * 10 + (cy / s) * 2 + (cx / s);
    return (int)lround(255.0 * v / 40.0);
}
#endif

static void test_images(void)
{
    make_images();
    const char *path = path_of("grid.png");
    vf_plot_options o = vf_plot_default_options();
    o.pixel_scale = 2;
    vf_status s = vf_plot_images(path, 4, 3, 2, image_pixels, 2, 3, 0, 40, &o);
    int W = 3 * (2 * 2 + 2) + 2, H = 2 * (3 * 2 + 2) + 2; /* 20 x 18 */
    if (!vf_plot_have_png()) {
        CHECK(s == VF_ERR_UNSUPPORTED);
        CHECK(strstr(vf_last_error(), "libpng") != NULL);
        struct stat st;
        CHECK(stat(path, &st) != 0);
    } else {
        CHECK(s == VF_OK);
        unsigned char head[33];
        CHECK(slurp(path, head, sizeof head) == sizeof head);
        CHECK(memcmp(head, "\x89PNG\r\n\x1a\n", 8) == 0);
        CHECK(memcmp(head + 12, "IHDR", 4) == 0);
        uint32_t w = (uint32_t)head[16] << 24 | (uint32_t)head[17] << 16 | (uint32_t)head[18] << 8 | head[19];
        uint32_t h = (uint32_t)head[20] << 24 | (uint32_t)head[21] << 16 | (uint32_t)head[22] << 8 | head[23];
        CHECK(w == (uint32_t)W && h == (uint32_t)H);
        CHECK(head[24] == 8 && head[25] == 0); /* 8-bit grey */
#if VF_HAVE_PNG
        png_image img;
        memset(&img, 0, sizeof img);
        img.version = PNG_IMAGE_VERSION;
        CHECK(png_image_begin_read_from_file(&img, path) != 0);
        img.format = PNG_FORMAT_GRAY;
        unsigned char *buf = malloc(PNG_IMAGE_SIZE(img));
        CHECK(buf && png_image_finish_read(&img, NULL, buf, 0, NULL) != 0);
        int bad = 0;
        for (int py = 0; py < H && buf; py++)
            for (int px = 0; px < W; px++)
                if (buf[py * W + px] != expected_grey(px, py, 2)) bad++;
        CHECK_MSG(bad == 0, "%d pixels differ from the expected grid", bad);
        CHECK(buf && buf[2 * W + 2] == 0 && buf[0] == 128 && buf[(H - 3) * W + (W - 3)] == 0);
        free(buf);
        png_image_free(&img);
#endif
    }
    /* the same grid as SVG */
    path = path_of("grid.svg");
    o.title = "grid";
    CHECK(vf_plot_images(path, 4, 3, 2, image_pixels, 2, 3, 0, 40, &o) == VF_OK);
    check_svg(path, 4 * W, 4 * H + 30);
}

static void test_errors(void)
{
    vf_real v[4] = {1, 2, 3, 4};
    double ext[4] = {0, 1, 0, 1};
    CHECK(vf_plot_heatmap(path_of("h.txt"), 2, 2, v, ext, 0, NULL, NULL) == VF_ERR_ARG);
    CHECK(strstr(vf_last_error(), ".svg") != NULL);
    CHECK(vf_plot_heatmap(path_of("h.png"), 2, 2, v, ext, 0, NULL, NULL) == VF_ERR_UNSUPPORTED);
    CHECK(strstr(vf_last_error(), "SVG only") != NULL);
    double flat[4] = {0, 0, 0, 1};
    CHECK(vf_plot_heatmap(path_of("h.svg"), 2, 2, v, flat, 0, NULL, NULL) == VF_ERR_ARG);
    vf_real nan4[4] = {NAN, NAN, NAN, NAN};
    CHECK(vf_plot_heatmap(path_of("h.svg"), 2, 2, nan4, ext, 0, NULL, NULL) == VF_ERR_NUMERIC);
    CHECK(vf_plot_heatmap("/nonexistent-dir/h.svg", 2, 2, v, ext, 0, NULL, NULL) == VF_ERR_IO);
    CHECK(vf_plot_images(path_of("i.svg"), 1, 2, 2, v, 1, 1, 1, 1, NULL) == VF_ERR_ARG); /* empty range */
    CHECK(vf_plot_images(path_of("i.svg"), 1, 0, 2, v, 1, 1, 0, 1, NULL) == VF_ERR_ARG);
    struct stat st;
    CHECK(stat(path_of("h.svg"), &st) != 0 && stat(path_of("i.svg"), &st) != 0); /* nothing written */
}

/* ---- a model of a known Gaussian through `varflow plot density` ---------------------------- */

static void test_density_of_model(void)
{
    vf_params *p = vf_params_new();
    vf_dist *base = NULL;
    vf_flow *f = NULL;
    vf_dist_diag_normal_params dp = vf_dist_diag_normal_default_params(2);
    CHECK(p && vf_dist_diag_normal_new(p, "base", &dp, &base) == VF_OK);
    CHECK(vf_flow_new(base, 0, NULL, &f) == VF_OK);
    CHECK(vf_params_finalize(p, 1) == VF_OK);
    vf_real *loc = vf_params_data(p, vf_params_find(p, "base.loc"));
    vf_real *ls = vf_params_data(p, vf_params_find(p, "base.log_scale"));
    CHECK(loc && ls);
    if (!loc || !ls) return;
    loc[0] = 1.0f, loc[1] = -0.5f, ls[0] = (vf_real)log(0.6), ls[1] = (vf_real)log(0.9);
    char model[200];
    snprintf(model, sizeof model, "%s", path_of("gauss.safetensors"));
    CHECK(vf_flow_save(f, p, model, 0, NULL, NULL) == VF_OK);
    vf_flow_free(f);
    vf_params_free(p);

    const char *svg = path_of("gauss.svg");
    char cmd[1200];
    enum { G = 41 };
    snprintf(cmd, sizeof cmd, "%s/varflow plot density --model %s --grid %d --range -3,3,-3,3 --samples 50 --quiet -o %s",
             VF_BINARY_DIR, model, G, svg);
    CHECK(system(cmd) == 0);
    check_svg(svg, 640, 480);
    char *s = read_all(svg);
    if (!s) return;
    double col, row, cell = 6.0 / G;
    CHECK(brightest_cell(s, G, &col, &row) == 0);
    CHECK_NEAR(-3 + col * cell, 1.0, cell);    /* the brightest cell is at the mean */
    CHECK_NEAR(-3 + row * cell, -0.5, cell);
    size_t len;
    const char *g = group(s, "points", &len);
    CHECK(g && count_in(g, len, "<circle") >= 45); /* 50 draws, nearly all within 3.3 sd of the mean */
    free(s);
}

/* ---- out of memory -------------------------------------------------------------------------- */

static vf_status oom_scenario(void *ctx)
{
    (void)ctx;
    vf_real v[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8}, pts[4] = {0.5f, 0.5f, 0.2f, 0.1f};
    double ext[4] = {0, 1, 0, 1};
    vf_status s = vf_plot_heatmap(path_of("oom.svg"), 3, 3, v, ext, 2, pts, NULL);
    if (s == VF_OK) s = vf_plot_corner(path_of("oom.svg"), 4, 2, v, 0, NULL, NULL, 4, NULL);
    double x[3] = {1, 2, 3}, y[3] = {3, 2, 1};
    vf_plot_series sr = {"a", 3, x, y};
    if (s == VF_OK) s = vf_plot_curves(path_of("oom.svg"), 1, &sr, NULL);
    if (s == VF_OK) s = vf_plot_images(path_of("oom.svg"), 1, 3, 3, v, 1, 1, 0, 8, NULL);
    return s;
}

static void test_out_of_memory(void) { CHECK(af_sweep("plot", oom_scenario, NULL, 0) == 0); }

int main(void)
{
    if (tmpdir_open("vf_plot")) return 1;
    RUN(test_colormap);
    RUN(test_ticks);
    RUN(test_heatmap);
    RUN(test_curves);
    RUN(test_corner);
    RUN(test_images);
    RUN(test_errors);
    RUN(test_density_of_model);
    RUN(test_out_of_memory);
    tmpdir_close();
    return vf_test_summary();
}
