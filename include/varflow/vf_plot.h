/* vf_plot.h — pictures from plain arrays: heat maps with points, corner plots, training curves (SVG),
 * and image grids (PNG through libpng, or SVG).
 *
 * Usage
 *   vf_plot_options o = vf_plot_default_options();
 *   o.title = "moons: log p(x)"; o.xlabel = "x1"; o.ylabel = "x2";
 *   // values [ny, nx]: row 0 is the bottom row (y = y_lo), column 0 the left column (x = x_lo)
 *   vf_plot_heatmap("density.svg", ny, nx, values, (double[]){-3, 3, -2, 2}, n, points, &o);
 *
 *   vf_plot_corner("corner.svg", n, d, x, m, y, names, 0, &o);     // x [n, d], y [m, d] or NULL; 0: 30 bins
 *
 *   vf_plot_series s[2] = {{"train_nll", n, steps, train}, {"valid_nll", n, steps, valid}};
 *   vf_plot_curves("curves.svg", 2, s, &o);
 *
 *   vf_plot_images("grid.png", n, 28, 28, pixels, 4, 8, 0.0, 255.0, &o);   // pixels [n, 28 * 28]
 *
 * Every function writes its file atomically (temporary file + rename) and returns VF_OK, VF_ERR_ARG
 * (NULL pointers, sizes out of range, an output name that is neither .svg nor .png, a range that is
 * empty), VF_ERR_NUMERIC (a NaN where a finite number is needed), VF_ERR_UNSUPPORTED (a .png name
 * when this build has no libpng, or a picture kind that has no PNG form), VF_ERR_IO or VF_ERR_NOMEM.
 * Nothing is printed. Non-finite heat-map values (-inf log-densities) are drawn in the colour map's
 * lowest colour; non-finite points and curve values are skipped.
 *
 * Formats: heat maps, corner plots and curves are SVG only (text, axes with "nice" ticks, labels,
 * a colour bar; every string is XML-escaped). Image grids are PNG (8-bit grey) or SVG (one rect per
 * pixel run). The colour map is varflow's own perceptual map: lightness rising linearly in OKLab
 * from dark violet through teal to yellow (viridis-like), so the brightest colour marks the largest
 * value.
 *
 * SVG structure, for programs that read the files back: the root has width, height and a viewBox
 * "0 0 width height"; the heat map's cells are <rect>s in <g id="heatmap"> whose x and y are cell
 * indices (x = column, y counted from the top row) under a scaling transform, runs of equal colour
 * merged; the points are <circle>s in <g id="points"> (only those inside the extent); each curve is
 * a <polyline> in <g id="curves">; the corner plot's panels are <g class="panel"> elements.
 */
#ifndef VF_PLOT_H
#define VF_PLOT_H

#include <stdint.h>
#include "vf_core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vf_plot_options {
    const char *title;          /* NULL: none */
    const char *xlabel;         /* NULL: none */
    const char *ylabel;         /* NULL: none */
    const char *value_label;    /* the colour bar's label (heat map); NULL: none */
    int width, height;          /* picture size in pixels (default 640 x 480; corner: per panel 160) */
    double point_radius;        /* heat map points (default 1.5) */
    const char *label_a;        /* corner plot: legend names of x and y (default "data", "model") */
    const char *label_b;
    int log_y;                  /* curves: logarithmic y axis (values <= 0 skipped); default 0 */
    int pixel_scale;            /* images: picture pixels per image pixel, 1..64 (default 1) */
} vf_plot_options;

vf_plot_options vf_plot_default_options(void);

/* 1 when this build writes PNG files (libpng was found), else 0. */
int vf_plot_have_png(void);

/* Heat map of values [ny, nx] over extent {x_lo, x_hi, y_lo, y_hi} (row 0 at y_lo), with a colour
 * bar, axes, ticks, labels and title, and n points [n, 2] (may be 0 with NULL) drawn over it. SVG. */
vf_status vf_plot_heatmap(const char *path, int64_t ny, int64_t nx, const vf_real *values /* [ny, nx] */,
                          const double extent[4], int64_t n, const vf_real *points /* [n, 2] */,
                          const vf_plot_options *o);

/* Corner plot of x [n, d] (d >= 1): 1-D histograms on the diagonal (x filled, y as an outline),
 * 2-D histograms of x below the diagonal and of y (when m > 0) above it, on shared ranges per
 * column (the 0.5 .. 99.5 percentiles of both sets together). names: d column names or NULL
 * ("x1", "x2", ...). bins: histogram bins per axis (0: 30). SVG. */
vf_status vf_plot_corner(const char *path, int64_t n, int64_t d, const vf_real *x /* [n, d] */, int64_t m,
                         const vf_real *y /* [m, d] */, const char *const *names, int bins,
                         const vf_plot_options *o);

/* One curve: n points (x[i], y[i]); non-finite values are skipped (a gap). */
typedef struct vf_plot_series {
    const char *name;           /* legend text */
    int64_t n;
    const double *x;            /* [n] */
    const double *y;            /* [n] */
} vf_plot_series;

/* Line plot of k series with a legend, shared axes (x: o->xlabel, y: o->ylabel). SVG. */
vf_status vf_plot_curves(const char *path, int64_t k, const vf_plot_series *series, const vf_plot_options *o);

/* Grid of rows x cols grey images from pixels [n, h * w] (row-major images; image i fills cell
 * i in row-major grid order; cells past n stay black). Values are mapped linearly from [lo, hi] to
 * black..white and clamped (NaN: black). Each image pixel becomes s x s picture pixels (s =
 * o->pixel_scale) and cells are separated by 2 pixels of mid grey (128), so the picture is
 * W = cols (s w + 2) + 2 wide and H = rows (s h + 2) + 2 high. PNG (8-bit grey, W x H; o may be
 * NULL) or SVG (4 units per picture pixel, with the title above when given). */
vf_status vf_plot_images(const char *path, int64_t n, int64_t h, int64_t w, const vf_real *pixels /* [n, h*w] */,
                         int64_t rows, int64_t cols, double lo, double hi, const vf_plot_options *o);

/* The colour map at t in [0, 1] (clamped) as 8-bit sRGB. */
void vf_plot_colormap(double t, unsigned char rgb[3]);

/* Nice tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten, about `target` of
 * them (>= 2). Writes up to max ticks into ticks and returns their count (0 if lo, hi are not
 * finite or hi <= lo). */
int vf_plot_ticks(double lo, double hi, int target, double *ticks, int max);

#ifdef __cplusplus
}
#endif
#endif
