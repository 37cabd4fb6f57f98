/* svg.c — the small SVG writer behind every vector picture: document frame, escaped text, axes
 * with nice ticks, the output kind from the file name. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "plot_internal.h"

vf_status vf__plot_kind(const char *what, const char *path, int png_ok, int *is_png)
{
    if (!path || !*path) return vf__error(VF_ERR_ARG, "%s: no output file name", what);
    if (vf__ends_with(path, ".svg")) {
        *is_png = 0;
        return VF_OK;
    }
    if (vf__ends_with(path, ".png")) {
        if (!png_ok) return vf__error(VF_ERR_UNSUPPORTED, "%s: %s: this picture is written as SVG only (name it .svg)", what, path);
        if (!vf_plot_have_png())
            return vf__error(VF_ERR_UNSUPPORTED, "%s: %s: PNG needs libpng, which this build of varflow lacks "
                             "(install libpng-dev and rebuild, or name the file .svg)", what, path);
        *is_png = 1;
        return VF_OK;
    }
    return vf__error(VF_ERR_ARG, "%s: %s: the output name must end in .svg%s", what, path, png_ok ? " or .png" : "");
}

vf_status vf__svg_options(const char *what, const char *path, const vf_plot_options **o, vf_plot_options *def,
                          int check_size)
{
    int png = 0;
    vf_status s = vf__plot_kind(what, path, 0, &png);
    if (s != VF_OK) return s;
    *def = vf_plot_default_options();
    if (!*o) *o = def;
    const vf_plot_options *p = *o;
    if (check_size && (p->width < 240 || p->height < 160 || p->width > 20000 || p->height > 20000))
        return vf__error(VF_ERR_ARG, "%s: size %d x %d outside 240..20000 x 160..20000", what, p->width, p->height);
    return VF_OK;
}

void vf__svg_begin(vf__buf *b, int width, int height)
{
    vf__buf_printf(b,
                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                   "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
                   "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
                   width, height, width, height, width, height);
}

vf_status vf__svg_finish(vf__buf *b, const char *path)
{
    vf__buf_puts(b, "</svg>\n");
    vf_status s = b->failed ? vf__error(VF_ERR_NOMEM, "plot: out of memory building %s", path)
                            : vf_atomic_write_file(path, b->data, b->len);
    vf__buf_free(b);
    return s;
}

void vf__svg_escape(vf__buf *b, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': vf__buf_puts(b, "&amp;"); break;
        case '<': vf__buf_puts(b, "&lt;"); break;
        case '>': vf__buf_puts(b, "&gt;"); break;
        case '"': vf__buf_puts(b, "&quot;"); break;
        case '\'': vf__buf_puts(b, "&apos;"); break;
        default:
            if (c >= 0x20 || c == '\t') vf__buf_put(b, s, 1); /* XML 1.0 forbids other control characters */
        }
    }
}

void vf__svg_text(vf__buf *b, double x, double y, double size, const char *anchor, int rotate, const char *text)
{
    vf__buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.1f\" text-anchor=\"%s\"", x, y, size, anchor);
    if (rotate) vf__buf_printf(b, " transform=\"rotate(%d %.2f %.2f)\"", rotate, x, y);
    vf__buf_puts(b, ">");
    vf__svg_escape(b, text);
    vf__buf_puts(b, "</text>\n");
}

void vf__tick_label(double v, double step, char *out, size_t cap)
{
    if (fabs(v) < 1e-9 * step) v = 0.0;
    double a = fabs(v);
    if (a != 0.0 && (a >= 1e6 || a < 1e-4)) {
        snprintf(out, cap, "%.3g", v);
        return;
    }
    int dec = step > 0 ? (int)ceil(-log10(step) - 1e-9) : 0;
    if (dec < 0) dec = 0;
    if (dec > 8) dec = 8;
    snprintf(out, cap, "%.*f", dec, v);
}

int vf_plot_ticks(double lo, double hi, int target, double *ticks, int max)
{
    if (!isfinite(lo) || !isfinite(hi) || !(hi > lo) || !ticks || max < 1) return 0;
    if (target < 2) target = 2;
    double raw = (hi - lo) / target, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    double step = (f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0) * mag;
    double first = ceil(lo / step - 1e-9) * step;
    int n = 0;
    for (int k = 0; n < max; k++) {
        double v = first + k * step;
        if (v > hi + 1e-9 * step) break;
        ticks[n++] = fabs(v) < 1e-12 * step ? 0.0 : v;
    }
    return n;
}

/* Step between consecutive ticks (or the range when there is a single one). */
static double tick_step(const double *t, int n, double lo, double hi) { return n > 1 ? t[1] - t[0] : hi - lo; }

void vf__svg_axes(vf__buf *b, const vf__panel *p, const char *xlabel, const char *ylabel, int xtick_labels,
                  int ytick_labels)
{
    double t[32];
    char lab[48];
    vf__buf_printf(b, "<g class=\"axes\" stroke=\"#000000\" stroke-width=\"1\">\n"
                      "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\"/>\n",
                   p->px, p->py, p->pw, p->ph);
    int target_x = p->pw >= 300 ? 6 : 4, target_y = p->ph >= 300 ? 6 : 4;
    int nx = vf_plot_ticks(p->x0, p->x1, target_x, t, 32);
    double sx = tick_step(t, nx, p->x0, p->x1);
    double xt[32];
    memcpy(xt, t, sizeof t);
    for (int k = 0; k < nx; k++) {
        double x = vf__panel_x(p, xt[k]);
        vf__buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", x, p->py + p->ph, x,
                       p->py + p->ph + 4);
    }
    int ny = vf_plot_ticks(p->y0, p->y1, target_y, t, 32);
    double sy = tick_step(t, ny, p->y0, p->y1);
    for (int k = 0; k < ny; k++) {
        double y = vf__panel_y(p, t[k]);
        vf__buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", p->px - 4, y, p->px, y);
    }
    vf__buf_puts(b, "</g>\n<g class=\"ticks\" fill=\"#000000\">\n");
    if (xtick_labels)
        for (int k = 0; k < nx; k++) {
            vf__tick_label(xt[k], sx, lab, sizeof lab);
            vf__svg_text(b, vf__panel_x(p, xt[k]), p->py + p->ph + 16, 11, "middle", 0, lab);
        }
    if (ytick_labels)
        for (int k = 0; k < ny; k++) {
            vf__tick_label(t[k], sy, lab, sizeof lab);
            vf__svg_text(b, p->px - 7, vf__panel_y(p, t[k]) + 4, 11, "end", 0, lab);
        }
    if (xlabel && *xlabel) vf__svg_text(b, p->px + p->pw / 2, p->py + p->ph + (xtick_labels ? 34 : 16), 13, "middle", 0, xlabel);
    if (ylabel && *ylabel) {
        double x = p->px - (ytick_labels ? 44 : 12), y = p->py + p->ph / 2;
        vf__svg_text(b, x, y, 13, "middle", -90, ylabel);
    }
    vf__buf_puts(b, "</g>\n");
}

vf_plot_options vf_plot_default_options(void)
{
    vf_plot_options o;
    memset(&o, 0, sizeof o);
    o.width = 640;
    o.height = 480;
    o.point_radius = 1.5;
    o.pixel_scale = 1;
    o.label_a = "data";
    o.label_b = "model";
    return o;
}
