/* plot_internal.h — what the picture writers of src/plot share: an SVG writer over a growable
 * buffer (escaping, text, axes with nice ticks), the plot area of a panel, the PNG encoder.
 *
 * A panel maps data coordinates [x0, x1] x [y0, y1] to the pixel rectangle (px, py, pw, ph) of the
 * picture, y growing upwards in data and downwards in pixels. Every writer builds its whole SVG text
 * in memory (a vf__buf, whose allocation failure is sticky) and hands it to vf__svg_finish, which
 * writes it atomically.
 */
#ifndef VF_PLOT_INTERNAL_H
#define VF_PLOT_INTERNAL_H

#include "../internal.h"
#include <stdio.h>
#include "../io/io_internal.h"
#include "varflow/vf_plot.h"

typedef struct vf__panel {
    double px, py, pw, ph;      /* pixel rectangle: left, top, width, height */
    double x0, x1, y0, y1;      /* data range shown */
} vf__panel;

static inline double vf__panel_x(const vf__panel *p, double x) { return p->px + (x - p->x0) / (p->x1 - p->x0) * p->pw; }
static inline double vf__panel_y(const vf__panel *p, double y) { return p->py + (p->y1 - y) / (p->y1 - p->y0) * p->ph; }

/* The output kind from the name: 0 SVG, 1 PNG; VF_ERR_ARG for another extension or a NULL path,
 * VF_ERR_UNSUPPORTED for PNG without libpng (when png_ok). `what` names the function in messages. */
vf_status vf__plot_kind(const char *what, const char *path, int png_ok, int *is_png);

/* The checks every SVG-only picture starts with: path ends in .svg; *o NULL is replaced by the
 * defaults (kept in *def); with check_size, o's size lies in 240..20000 x 160..20000. */
vf_status vf__svg_options(const char *what, const char *path, const vf_plot_options **o, vf_plot_options *def,
                          int check_size);
/* <svg ...> with width, height, viewBox and a white background. */
void vf__svg_begin(vf__buf *b, int width, int height);
/* </svg>, then the atomic write of the buffer (VF_ERR_NOMEM when it ran out of memory). Frees b. */
vf_status vf__svg_finish(vf__buf *b, const char *path);
/* Append s with & < > " ' escaped (and control characters other than tab dropped). */
void vf__svg_escape(vf__buf *b, const char *s);
/* A text element at (x, y); anchor "start" | "middle" | "end"; rotate: -90 for a vertical label. */
void vf__svg_text(vf__buf *b, double x, double y, double size, const char *anchor, int rotate, const char *text);
/* Frame, ticks with labels (when the flags are set), axis labels (NULL: none). */
void vf__svg_axes(vf__buf *b, const vf__panel *p, const char *xlabel, const char *ylabel, int xtick_labels,
                  int ytick_labels);
/* A tick value as short text: as many decimals as the step needs, "0" never "-0". */
void vf__tick_label(double v, double step, char *out, size_t cap);
/* "#rrggbb" of the colour map at t. */
void vf__color_hex(double t, char out[8]);

/* Write an 8-bit image [h, w, channels] (channels 1 grey or 3 RGB) as PNG, atomically.
 * VF_ERR_UNSUPPORTED without libpng. */
vf_status vf__png_write(const char *path, int64_t w, int64_t h, int channels, const unsigned char *pixels);

#endif
