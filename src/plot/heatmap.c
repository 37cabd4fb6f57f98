/* heatmap.c — vf_plot_heatmap: a grid of values in the colour map, points over it, a colour bar,
 * axes, labels and title, as SVG.
 *
 * The cells are written row by row from the top, runs of equal (8-bit quantized) colour merged into
 * one rect, in cell coordinates under a scaling transform: a 200 x 200 grid of a smooth density is
 * typically a few thousand rects. */
#include <math.h>
#include <string.h>
#include "plot_internal.h"

#define MARGIN_LEFT 72
#define MARGIN_RIGHT 104
#define MARGIN_TOP 40
#define MARGIN_BOTTOM 56
#define COLORBAR_STEPS 128

/* Position of v in [lo, hi] quantized to 256 levels (0 for non-finite values). */
static double level(double v, double lo, double hi)
{
    if (!isfinite(v)) return 0.0;
    double t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
    return round(fmin(fmax(t, 0.0), 1.0) * 255.0) / 255.0;
}

static void cells(vf__buf *b, const vf__panel *p, int64_t ny, int64_t nx, const vf_real *v, double lo, double hi)
{
    vf__buf_printf(b, "<g id=\"heatmap\" transform=\"translate(%.2f %.2f) scale(%.6g %.6g)\" shape-rendering=\"crispEdges\">\n",
                   p->px, p->py, p->pw / (double)nx, p->ph / (double)ny);
    for (int64_t j = 0; j < ny; j++) {
        const vf_real *row = v + (ny - 1 - j) * nx; /* the top row of the picture is the last row of values */
        int64_t start = 0;
        while (start < nx) {
            double t = level((double)row[start], lo, hi);
            int64_t end = start + 1;
            while (end < nx && level((double)row[end], lo, hi) == t) end++;
            char hex[8];
            vf__color_hex(t, hex);
            vf__buf_printf(b, "<rect x=\"%lld\" y=\"%lld\" width=\"%lld\" height=\"1\" fill=\"%s\"/>\n", (long long)start,
                           (long long)j, (long long)(end - start), hex);
            start = end;
        }
    }
    vf__buf_puts(b, "</g>\n");
}

static void colorbar(vf__buf *b, const vf__panel *p, double lo, double hi, const char *label)
{
    vf__panel bar = {p->px + p->pw + 18, p->py, 16, p->ph, 0.0, 1.0, lo, hi > lo ? hi : lo + 1.0};
    double h = bar.ph / COLORBAR_STEPS;
    vf__buf_puts(b, "<g id=\"colorbar\" shape-rendering=\"crispEdges\">\n");
    for (int k = 0; k < COLORBAR_STEPS; k++) {
        char hex[8];
        vf__color_hex((k + 0.5) / COLORBAR_STEPS, hex);
        vf__buf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.3f\" fill=\"%s\"/>\n", bar.px,
                       bar.py + bar.ph - (k + 1) * h, bar.pw, h + 0.05, hex);
    }
    vf__buf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"#000000\"/>\n",
                   bar.px, bar.py, bar.pw, bar.ph);
    double t[32];
    char lab[48];
    int n = vf_plot_ticks(bar.y0, bar.y1, 6, t, 32);
    double step = n > 1 ? t[1] - t[0] : bar.y1 - bar.y0;
    for (int k = 0; k < n; k++) {
        double y = vf__panel_y(&bar, t[k]);
        vf__buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#000000\"/>\n", bar.px + bar.pw, y,
                       bar.px + bar.pw + 4, y);
        vf__tick_label(t[k], step, lab, sizeof lab);
        vf__svg_text(b, bar.px + bar.pw + 7, y + 4, 11, "start", 0, lab);
    }
    vf__buf_puts(b, "</g>\n");
    if (label && *label) vf__svg_text(b, bar.px + bar.pw + 56, bar.py + bar.ph / 2, 13, "middle", -90, label);
}

static void draw_points(vf__buf *b, const vf__panel *p, int64_t n, const vf_real *x, double r)
{
    vf__buf_puts(b, "<g id=\"points\" fill=\"#ffffff\" fill-opacity=\"0.75\" stroke=\"#000000\" stroke-width=\"0.4\">\n");
    for (int64_t i = 0; i < n; i++) {
        double a = (double)x[2 * i], c = (double)x[2 * i + 1];
        if (!(a >= p->x0 && a <= p->x1 && c >= p->y0 && c <= p->y1)) continue; /* outside, or NaN */
        vf__buf_printf(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%.3g\"/>\n", vf__panel_x(p, a), vf__panel_y(p, c), r);
    }
    vf__buf_puts(b, "</g>\n");
}

vf_status vf_plot_heatmap(const char *path, int64_t ny, int64_t nx, const vf_real *values, const double extent[4],
                          int64_t n, const vf_real *points, const vf_plot_options *o)
{
    const char *what = "plot heatmap";
    vf_plot_options def;
    vf_status s = vf__svg_options(what, path, &o, &def, 1);
    if (s != VF_OK) return s;
    if (!values || !extent || (n > 0 && !points) || n < 0) return vf__error(VF_ERR_ARG, "%s: NULL argument or n < 0", what);
    if (nx < 1 || ny < 1 || nx > 4096 || ny > 4096)
        return vf__error(VF_ERR_ARG, "%s: grid %lld x %lld outside 1..4096 per side", what, (long long)ny, (long long)nx);
    if (!(extent[1] > extent[0]) || !(extent[3] > extent[2]) || !isfinite(extent[1] - extent[0]) ||
        !isfinite(extent[3] - extent[2]))
        return vf__error(VF_ERR_ARG, "%s: the extent [%g, %g] x [%g, %g] is empty or not finite", what, extent[0], extent[1],
                         extent[2], extent[3]);
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t k = 0; k < nx * ny; k++)
        if (isfinite((double)values[k])) {
            lo = fmin(lo, (double)values[k]);
            hi = fmax(hi, (double)values[k]);
        }
    if (!isfinite(lo)) return vf__error(VF_ERR_NUMERIC, "%s: no value of the grid is finite", what);

    vf__panel p = {MARGIN_LEFT, MARGIN_TOP, o->width - MARGIN_LEFT - MARGIN_RIGHT, o->height - MARGIN_TOP - MARGIN_BOTTOM,
                   extent[0], extent[1], extent[2], extent[3]};
    vf__buf b;
    vf__buf_init(&b);
    vf__svg_begin(&b, o->width, o->height);
    if (o->title && *o->title) vf__svg_text(&b, o->width / 2.0, 24, 15, "middle", 0, o->title);
    cells(&b, &p, ny, nx, values, lo, hi);
    if (n > 0) draw_points(&b, &p, n, points, o->point_radius > 0 ? o->point_radius : 1.5);
    vf__svg_axes(&b, &p, o->xlabel, o->ylabel, 1, 1);
    colorbar(&b, &p, lo, hi, o->value_label);
    return vf__svg_finish(&b, path);
}
