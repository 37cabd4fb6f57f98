/* corner.c — vf_plot_corner: pairwise marginals of a d-dimensional sample, optionally compared with
 * a second one, as SVG.
 *
 * Panel (row i, column j) shows column j across and column i up. Below the diagonal: a 2-D
 * histogram of x; above it: of y (the same pair of columns, so the two triangles mirror each other
 * when the samples agree); on the diagonal: the 1-D histograms of column i, x filled and y as an
 * outline, both as densities. Each column's range is the 0.5 .. 99.5 percentile range of x and y
 * together (a few outliers do not squeeze the picture), the same in every panel of that column
 * and row. Empty 2-D bins stay white; the others take the colour map by count / largest count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "plot_internal.h"

#define PANEL 150
#define GAP 10
#define LEFT 64
#define TOP 70
#define BOTTOM 54
#define RIGHT 16
#define MAX_DIM 20
#define FILL_A "#5b7fb5"
#define LINE_B "#d9480f"

typedef struct corner_data {
    int64_t n, m, d;
    const vf_real *x, *y;
    int bins;
    double *lo, *hi;                /* [d] column ranges */
} corner_data;

/* Bin of v in [lo, hi) of `bins` equal bins, or -1 outside (or NaN). */
static int bin_of(double v, double lo, double hi, int bins)
{
    if (!(v >= lo && v <= hi)) return -1;
    int k = (int)((v - lo) / (hi - lo) * bins);
    return k >= bins ? bins - 1 : k;
}

/* Ranges of every column from the finite values of x and y: 0.5 and 99.5 percentiles, widened to a
 * unit interval when they coincide. */
static vf_status ranges(corner_data *c)
{
    int64_t total = c->n + c->m;
    double *v = vf_malloc((size_t)(total > 0 ? total : 1) * sizeof *v);
    if (!v) return VF_ERR_NOMEM;
    for (int64_t j = 0; j < c->d; j++) {
        int64_t k = 0;
        for (int64_t i = 0; i < c->n; i++)
            if (isfinite((double)c->x[i * c->d + j])) v[k++] = (double)c->x[i * c->d + j];
        for (int64_t i = 0; i < c->m; i++)
            if (isfinite((double)c->y[i * c->d + j])) v[k++] = (double)c->y[i * c->d + j];
        if (k == 0) {
            vf_free(v);
            return vf__error(VF_ERR_NUMERIC, "plot corner: column %lld has no finite value", (long long)j + 1);
        }
        qsort(v, (size_t)k, sizeof *v, vf__compare_doubles);
        double lo = v[(int64_t)floor(0.005 * (double)(k - 1))], hi = v[(int64_t)ceil(0.995 * (double)(k - 1))];
        if (hi <= lo) lo -= 0.5, hi += 0.5;
        double pad = 0.02 * (hi - lo);
        c->lo[j] = lo - pad;
        c->hi[j] = hi + pad;
    }
    vf_free(v);
    return VF_OK;
}

static void hist2d(vf__buf *b, const vf__panel *p, const corner_data *c, const vf_real *a, int64_t rows, int64_t cj,
                   int64_t ci, int64_t *count)
{
    int bins = c->bins;
    memset(count, 0, (size_t)bins * (size_t)bins * sizeof *count);
    int64_t most = 0;
    for (int64_t r = 0; r < rows; r++) {
        int u = bin_of((double)a[r * c->d + cj], c->lo[cj], c->hi[cj], bins);
        int w = bin_of((double)a[r * c->d + ci], c->lo[ci], c->hi[ci], bins);
        if (u < 0 || w < 0) continue;
        int64_t *q = &count[(int64_t)w * bins + u];
        if (++*q > most) most = *q;
    }
    vf__buf_printf(b, "<g class=\"hist2d\" transform=\"translate(%.2f %.2f) scale(%.6g %.6g)\" shape-rendering=\"crispEdges\">\n",
                   p->px, p->py, p->pw / bins, p->ph / bins);
    for (int w = 0; w < bins; w++)
        for (int u = 0; u < bins; u++) {
            int64_t q = count[(int64_t)w * bins + u];
            if (!q) continue;
            char hex[8];
            vf__color_hex((double)q / (double)most, hex);
            vf__buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"1\" height=\"1\" fill=\"%s\"/>\n", u, bins - 1 - w, hex);
        }
    vf__buf_puts(b, "</g>\n");
}

/* Density histogram of column j of a [rows, d] into dens [bins]; returns its largest value. */
static double hist1d(const corner_data *c, const vf_real *a, int64_t rows, int64_t j, double *dens)
{
    memset(dens, 0, (size_t)c->bins * sizeof *dens);
    for (int64_t r = 0; r < rows; r++) {
        int u = bin_of((double)a[r * c->d + j], c->lo[j], c->hi[j], c->bins);
        if (u >= 0) dens[u] += 1.0;
    }
    double width = (c->hi[j] - c->lo[j]) / c->bins, most = 0.0;
    for (int u = 0; u < c->bins; u++) {
        dens[u] /= (double)rows * width;
        most = fmax(most, dens[u]);
    }
    return most;
}

/* The outline of a histogram as a path ("M x y H x V y ..."), closed to the baseline when filled. */
static void step_path(vf__buf *b, const vf__panel *p, const double *dens, int bins, double lo, double hi, const char *attrs)
{
    double w = (hi - lo) / bins;
    vf__buf_printf(b, "<path %s d=\"M%.2f %.2f", attrs, vf__panel_x(p, lo), vf__panel_y(p, 0.0));
    for (int u = 0; u < bins; u++)
        vf__buf_printf(b, " V%.2f H%.2f", vf__panel_y(p, dens[u]), vf__panel_x(p, lo + (u + 1) * w));
    vf__buf_printf(b, " V%.2f\"/>\n", vf__panel_y(p, 0.0));
}

static vf_status draw(vf__buf *b, corner_data *c, const char *const *names, const vf_plot_options *o, int width)
{
    int bins = c->bins;
    int64_t *count = vf_malloc((size_t)bins * (size_t)bins * sizeof *count);
    double *da = vf_malloc(2 * (size_t)bins * sizeof *da);
    if (!count || !da) {
        vf_free(count);
        vf_free(da);
        return VF_ERR_NOMEM;
    }
    double *db = da + bins;
    if (o->title && *o->title) vf__svg_text(b, width / 2.0, 22, 15, "middle", 0, o->title);
    const char *la = o->label_a ? o->label_a : "data", *lb = o->label_b ? o->label_b : "model";
    vf__buf_printf(b, "<g id=\"legend\">\n<rect x=\"%d\" y=\"32\" width=\"14\" height=\"10\" fill=\"" FILL_A "\"/>\n", LEFT);
    char text[600];
    snprintf(text, sizeof text, "%s (below the diagonal)", la);
    vf__svg_text(b, LEFT + 20, 41, 12, "start", 0, text);
    if (c->m > 0) {
        vf__buf_printf(b, "<line x1=\"%d\" y1=\"53\" x2=\"%d\" y2=\"53\" stroke=\"" LINE_B "\" stroke-width=\"2\"/>\n",
                       LEFT, LEFT + 14);
        snprintf(text, sizeof text, "%s (above the diagonal)", lb);
        vf__svg_text(b, LEFT + 20, 57, 12, "start", 0, text);
    }
    vf__buf_puts(b, "</g>\n");
    for (int64_t i = 0; i < c->d; i++)
        for (int64_t j = 0; j < c->d; j++) {
            if (j > i && c->m == 0) continue;
            vf__panel p = {LEFT + (double)j * (PANEL + GAP), TOP + (double)i * (PANEL + GAP), PANEL, PANEL,
                           c->lo[j], c->hi[j], c->lo[i], c->hi[i]};
            vf__buf_printf(b, "<g class=\"panel\" data-row=\"%lld\" data-col=\"%lld\">\n", (long long)i, (long long)j);
            if (i == j) {
                double top = hist1d(c, c->x, c->n, i, da);
                if (c->m > 0) top = fmax(top, hist1d(c, c->y, c->m, i, db));
                p.y0 = 0.0;
                p.y1 = top > 0 ? 1.08 * top : 1.0;
                step_path(b, &p, da, bins, c->lo[i], c->hi[i], "fill=\"" FILL_A "\" fill-opacity=\"0.55\" stroke=\"" FILL_A "\"");
                if (c->m > 0) step_path(b, &p, db, bins, c->lo[i], c->hi[i], "fill=\"none\" stroke=\"" LINE_B "\" stroke-width=\"1.5\"");
            } else {
                hist2d(b, &p, c, j < i ? c->x : c->y, j < i ? c->n : c->m, j, i, count);
            }
            int bottom = i == c->d - 1, left = j == 0 && i != 0;
            char nx[64], ny[64];
            snprintf(nx, sizeof nx, "x%lld", (long long)j + 1);
            snprintf(ny, sizeof ny, "x%lld", (long long)i + 1);
            vf__svg_axes(b, &p, bottom ? (names ? names[j] : nx) : NULL, left ? (names ? names[i] : ny) : NULL, bottom, left);
            vf__buf_puts(b, "</g>\n");
        }
    vf_free(count);
    vf_free(da);
    return VF_OK;
}

vf_status vf_plot_corner(const char *path, int64_t n, int64_t d, const vf_real *x, int64_t m, const vf_real *y,
                         const char *const *names, int bins, const vf_plot_options *o)
{
    const char *what = "plot corner";
    vf_plot_options def;
    vf_status s = vf__svg_options(what, path, &o, &def, 0);
    if (s != VF_OK) return s;
    if (n < 1 || !x || m < 0 || (m > 0 && !y))
        return vf__error(VF_ERR_ARG, "plot corner: needs at least one row of x (n = %lld) and y when m > 0", (long long)n);
    if (d < 1 || d > MAX_DIM)
        return vf__error(VF_ERR_ARG, "plot corner: dimension %lld outside 1..%d (pick columns first)", (long long)d, MAX_DIM);
    if (bins == 0) bins = 30;
    if (bins < 2 || bins > 512) return vf__error(VF_ERR_ARG, "plot corner: %d bins outside 2..512", bins);
    double *lohi = vf_malloc(2 * (size_t)d * sizeof *lohi);
    if (!lohi) return VF_ERR_NOMEM;
    corner_data c = {n, m, d, x, y, bins, lohi, lohi + d};
    if ((s = ranges(&c)) != VF_OK) {
        vf_free(lohi);
        return s;
    }
    int width = LEFT + (int)d * PANEL + ((int)d - 1) * GAP + RIGHT, height = TOP + (int)d * PANEL + ((int)d - 1) * GAP + BOTTOM;
    if (width < 360) width = 360; /* room for the legend */
    vf__buf b;
    vf__buf_init(&b);
    vf__svg_begin(&b, width, height);
    if ((s = draw(&b, &c, names, o, width)) != VF_OK) {
        vf__buf_free(&b);
        vf_free(lohi);
        return s;
    }
    vf_free(lohi);
    return vf__svg_finish(&b, path);
}
