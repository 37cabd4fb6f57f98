/* images.c — vf_plot_images: rows of a data file shown as a grid of grey images (Fashion-MNIST,
 * digits, ...), as PNG (one file pixel per image pixel) or SVG (scaled, runs of equal grey merged).
 *
 * The grid is rendered once into an 8-bit raster [H, W]; the PNG writer encodes it and the SVG
 * writer draws it: the two files show the same pixels. */
#include <math.h>
#include <string.h>
#include "plot_internal.h"

#define SEP 2              /* pixels between cells and around the grid */
#define SEP_GREY 128
#define SVG_SCALE 4        /* SVG units per image pixel */

/* The grid raster: out [H, W] with H = rows (s h + SEP) + SEP, W = cols (s w + SEP) + SEP. */
static void render(int64_t n, int64_t h, int64_t w, int64_t s, const vf_real *px, int64_t rows, int64_t cols, double lo,
                   double hi, unsigned char *out, int64_t W, int64_t H)
{
    memset(out, SEP_GREY, (size_t)W * (size_t)H);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            int64_t i = r * cols + c, top = SEP + r * (s * h + SEP), left = SEP + c * (s * w + SEP);
            for (int64_t y = 0; y < s * h; y++) {
                unsigned char *dst = out + (top + y) * W + left;
                if (i >= n) {
                    memset(dst, 0, (size_t)(s * w));
                    continue;
                }
                const vf_real *src = px + i * h * w + (y / s) * w;
                for (int64_t x = 0; x < s * w; x++) {
                    double t = ((double)src[x / s] - lo) / (hi - lo);
                    t = t >= 0.0 ? (t <= 1.0 ? t : 1.0) : 0.0; /* NaN -> 0 */
                    dst[x] = (unsigned char)lround(255.0 * t);
                }
            }
        }
}

static vf_status write_svg(const char *path, const unsigned char *g, int64_t W, int64_t H, const vf_plot_options *o)
{
    int title = o && o->title && *o->title;
    int top = title ? 30 : 0;
    int width = (int)(W * SVG_SCALE), height = (int)(H * SVG_SCALE) + top;
    vf__buf b;
    vf__buf_init(&b);
    vf__svg_begin(&b, width, height);
    if (title) vf__svg_text(&b, width / 2.0, 20, 15, "middle", 0, o->title);
    vf__buf_printf(&b, "<g id=\"images\" transform=\"translate(0 %d) scale(%d)\" shape-rendering=\"crispEdges\">\n", top, SVG_SCALE);
    for (int64_t y = 0; y < H; y++)
        for (int64_t x0 = 0; x0 < W;) {
            int64_t x1 = x0 + 1;
            while (x1 < W && g[y * W + x1] == g[y * W + x0]) x1++;
            unsigned v = g[y * W + x0];
            vf__buf_printf(&b, "<rect x=\"%lld\" y=\"%lld\" width=\"%lld\" height=\"1\" fill=\"#%02x%02x%02x\"/>\n", (long long)x0,
                           (long long)y, (long long)(x1 - x0), v, v, v);
            x0 = x1;
        }
    vf__buf_puts(&b, "</g>\n");
    return vf__svg_finish(&b, path);
}

vf_status vf_plot_images(const char *path, int64_t n, int64_t h, int64_t w, const vf_real *pixels, int64_t rows,
                         int64_t cols, double lo, double hi, const vf_plot_options *o)
{
    const char *what = "plot images";
    int png = 0;
    vf_status s = vf__plot_kind(what, path, 1, &png);
    if (s != VF_OK) return s;
    if (n < 1 || !pixels) return vf__error(VF_ERR_ARG, "%s: no images (n = %lld)", what, (long long)n);
    if (h < 1 || w < 1 || h > 4096 || w > 4096)
        return vf__error(VF_ERR_ARG, "%s: image shape %lld x %lld outside 1..4096 per side", what, (long long)h, (long long)w);
    if (rows < 1 || cols < 1 || rows > 1000 || cols > 1000)
        return vf__error(VF_ERR_ARG, "%s: grid %lld x %lld outside 1..1000 per side", what, (long long)rows, (long long)cols);
    if (!isfinite(lo) || !isfinite(hi) || !(hi > lo))
        return vf__error(VF_ERR_ARG, "%s: the value range [%g, %g] is empty or not finite", what, lo, hi);
    int64_t sc = o ? o->pixel_scale : 1;
    if (sc < 1 || sc > 64) return vf__error(VF_ERR_ARG, "%s: pixel scale %lld outside 1..64", what, (long long)sc);
    int64_t W = cols * (sc * w + SEP) + SEP, H = rows * (sc * h + SEP) + SEP;
    if (W * H > ((int64_t)1 << 28)) return vf__error(VF_ERR_ARG, "%s: the grid would be %lld x %lld pixels (too large)", what, (long long)H, (long long)W);
    if (!png && W * H > ((int64_t)1 << 22))
        return vf__error(VF_ERR_ARG, "%s: %lld x %lld pixels is too large for SVG (write .png)", what, (long long)H, (long long)W);
    unsigned char *g = vf_malloc((size_t)W * (size_t)H);
    if (!g) return VF_ERR_NOMEM;
    if (n > rows * cols) n = rows * cols;
    render(n, h, w, sc, pixels, rows, cols, lo, hi, g, W, H);
    s = png ? vf__png_write(path, W, H, 1, g) : write_svg(path, g, W, H, o);
    vf_free(g);
    return s;
}
