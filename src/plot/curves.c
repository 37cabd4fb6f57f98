/* curves.c — vf_plot_curves: training and validation curves (or any x-y series) with axes, a
 * legend and a title, as SVG. A non-finite value (a missing validation loss) breaks the line. */
#include <math.h>
#include <string.h>
#include "plot_internal.h"

static const char *const palette[] = {"#2c5fa8", "#d9480f", "#2b8a3e", "#862e9c", "#495057", "#c2255c", "#0b7285", "#e67700"};
#define PALETTE_N 8

static int usable(double x, double y, int log_y) { return isfinite(x) && isfinite(y) && (!log_y || y > 0); }

vf_status vf_plot_curves(const char *path, int64_t k, const vf_plot_series *series, const vf_plot_options *o)
{
    const char *what = "plot curves";
    vf_plot_options def;
    vf_status s = vf__svg_options(what, path, &o, &def, 1);
    if (s != VF_OK) return s;
    if (k < 1 || k > 64 || !series) return vf__error(VF_ERR_ARG, "%s: %lld series (1..64 allowed)", what, (long long)k);
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int64_t c = 0; c < k; c++) {
        if (series[c].n < 0 || (series[c].n > 0 && (!series[c].x || !series[c].y)))
            return vf__error(VF_ERR_ARG, "%s: series %lld has NULL arrays or n < 0", what, (long long)c);
        for (int64_t i = 0; i < series[c].n; i++) {
            double x = series[c].x[i], y = series[c].y[i];
            if (!usable(x, y, o->log_y)) continue;
            if (o->log_y) y = log10(y);
            x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
        }
    }
    if (!isfinite(x0)) return vf__error(VF_ERR_NUMERIC, "%s: no series has a finite point%s", what, o->log_y ? " above 0" : "");
    if (x1 == x0) x0 -= 0.5, x1 += 0.5;
    if (y1 == y0) y0 -= 0.5, y1 += 0.5;
    double pad = 0.05 * (y1 - y0);
    y0 -= pad, y1 += pad;

    vf__panel p = {78, 40, o->width - 78 - 24, o->height - 40 - 56, x0, x1, y0, y1};
    vf__buf b;
    vf__buf_init(&b);
    vf__svg_begin(&b, o->width, o->height);
    if (o->title && *o->title) vf__svg_text(&b, o->width / 2.0, 24, 15, "middle", 0, o->title);
    char ylab[300];
    snprintf(ylab, sizeof ylab, "%s%s", o->log_y ? "log10 " : "", o->ylabel ? o->ylabel : "");
    vf__svg_axes(&b, &p, o->xlabel, ylab, 1, 1);
    vf__buf_printf(&b, "<g id=\"curves\" fill=\"none\" stroke-width=\"1.6\" stroke-linejoin=\"round\">\n");
    for (int64_t c = 0; c < k; c++) {
        const vf_plot_series *sr = &series[c];
        int open = 0;
        for (int64_t i = 0; i < sr->n; i++) {
            double x = sr->x[i], y = sr->y[i];
            if (!usable(x, y, o->log_y)) {
                if (open) vf__buf_puts(&b, "\"/>\n");
                open = 0;
                continue;
            }
            if (o->log_y) y = log10(y);
            if (!open) vf__buf_printf(&b, "<polyline class=\"series%lld\" stroke=\"%s\" points=\"", (long long)c, palette[c % PALETTE_N]);
            vf__buf_printf(&b, "%s%.2f,%.2f", open ? " " : "", vf__panel_x(&p, x), vf__panel_y(&p, y));
            open = 1;
        }
        if (open) vf__buf_puts(&b, "\"/>\n");
    }
    vf__buf_puts(&b, "</g>\n<g id=\"legend\">\n");
    for (int64_t c = 0; c < k; c++) {
        double y = p.py + 14 + 18.0 * (double)c, x = p.px + p.pw - 150;
        vf__buf_printf(&b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"2\"/>\n", x, y - 4,
                       x + 22, y - 4, palette[c % PALETTE_N]);
        vf__svg_text(&b, x + 28, y, 12, "start", 0, series[c].name ? series[c].name : "");
    }
    vf__buf_puts(&b, "</g>\n");
    return vf__svg_finish(&b, path);
}
