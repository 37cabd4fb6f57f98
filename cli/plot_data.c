/* plot_data.c — `varflow plot corner` (pairwise marginals of data files) and `varflow plot images`
 * (rows of a data file as a grid of grey images): read the files, pick columns or rows, and hand
 * the arrays to vf_plot_corner / vf_plot_images. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "plot_cli.h"

#define MAX_COLUMNS 20

static int64_t columns(const vf_tensor *x) { return x->ndim > 1 ? x->shape[1] : 1; }

/* The last component of a path. */
static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* cols [k] (0-based) from --columns (1-based) or all d columns; *k receives the count. */
static int pick_columns(const plot_args *a, int64_t d, int64_t *cols, int64_t *k)
{
    if (!a->columns) {
        if (d > MAX_COLUMNS)
            return cli_usage_error("plot", "%s has %lld columns: pick at most %d with --columns I,J,...", a->data, (long long)d,
                                   MAX_COLUMNS);
        for (int64_t j = 0; j < d; j++) cols[j] = j;
        *k = d;
        return 0;
    }
    double v[MAX_COLUMNS];
    int n = plot_parse_list(a->columns, v, MAX_COLUMNS);
    if (n < 1) return cli_usage_error("plot", "--columns '%s': want 1 to %d column numbers such as 1,2,5", a->columns, MAX_COLUMNS);
    for (int i = 0; i < n; i++) {
        if (v[i] != floor(v[i]) || v[i] < 1 || v[i] > (double)d)
            return cli_runtime_error("plot", "--columns: %g is not a column of %s (1..%lld)", v[i], a->data, (long long)d);
        cols[i] = (int64_t)v[i] - 1;
    }
    *k = n;
    return 0;
}

/* out [n, k] = the columns cols [k] of x [n, d]. */
static vf_real *select_columns(const vf_tensor *x, const int64_t *cols, int64_t k)
{
    int64_t n = x->shape[0], d = columns(x);
    vf_real *out = malloc((size_t)(n * k) * sizeof *out);
    if (!out) return NULL;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < k; j++) out[i * k + j] = x->data[i * d + cols[j]];
    return out;
}

int plot_corner(const plot_args *a)
{
    if (!a->data) return cli_usage_error("plot", "missing --data FILE");
    int64_t bins = a->bins > 0 ? a->bins : 30;
    if (bins < 2 || bins > 512) return cli_usage_error("plot", "--bins %lld: want 2..512", (long long)bins);
    vf_tensor x = {0}, y = {0};
    vf_real *xs = NULL, *ys = NULL;
    int64_t cols[MAX_COLUMNS], k = 0;
    char names[MAX_COLUMNS][24], legend[512] = "";
    const char *name_ptr[MAX_COLUMNS];
    int rc = plot_read_table(a->data, &x);
    if (!rc && a->compare && (rc = plot_read_table(a->compare, &y)) == 0 && columns(&y) != columns(&x))
        rc = cli_runtime_error("plot", "%s has %lld columns but %s has %lld", a->compare, (long long)columns(&y), a->data,
                               (long long)columns(&x));
    if (!rc) rc = pick_columns(a, columns(&x), cols, &k);
    if (!rc && (!(xs = select_columns(&x, cols, k)) || (a->compare && !(ys = select_columns(&y, cols, k)))))
        rc = cli_runtime_error("plot", "out of memory");
    if (!rc) {
        for (int64_t j = 0; j < k; j++) {
            snprintf(names[j], sizeof names[j], "x%lld", (long long)cols[j] + 1);
            name_ptr[j] = names[j];
        }
        vf_plot_options o = vf_plot_default_options();
        o.label_a = base_name(a->data);
        o.label_b = a->compare ? base_name(a->compare) : "";
        if (a->legend) {
            snprintf(legend, sizeof legend, "%s", a->legend);
            char *comma = strchr(legend, ',');
            if (comma) *comma = '\0';
            o.label_a = legend;
            if (comma) o.label_b = comma + 1;
        }
        char title[1200];
        snprintf(title, sizeof title, "%s%s%s", base_name(a->data), a->compare ? " vs " : "", a->compare ? base_name(a->compare) : "");
        o.title = a->title ? a->title : title;
        vf_status s = vf_plot_corner(a->out, x.shape[0], k, xs, a->compare ? y.shape[0] : 0, ys, name_ptr, (int)bins, &o);
        if (s != VF_OK) rc = plot_library_error(s);
    }
    if (!rc) {
        if (a->common.json) {
            printf("{\"kind\":\"corner\",\"path\":");
            cli_json_string(stdout, a->out);
            printf(",\"rows\":%lld,\"compare_rows\":%lld,\"columns\":%lld}\n", (long long)x.shape[0],
                   (long long)(a->compare ? y.shape[0] : 0), (long long)k);
        } else if (!a->common.quiet) {
            printf("wrote %s: %lld columns of %s (%lld rows)", a->out, (long long)k, a->data, (long long)x.shape[0]);
            if (a->compare) printf(" against %s (%lld rows)", a->compare, (long long)y.shape[0]);
            printf("\n");
        }
    }
    free(xs);
    free(ys);
    vf_tensor_free(&x);
    vf_tensor_free(&y);
    return rc;
}

/* "28x28" (or "28,28") into h, w; 0 or -1. */
static int parse_shape(const char *s, int64_t *h, int64_t *w)
{
    char buf[64];
    if (!s || strlen(s) >= sizeof buf) return -1;
    snprintf(buf, sizeof buf, "%s", s);
    char *sep = strpbrk(buf, "xX,");
    if (!sep) return -1;
    *sep = '\0';
    return cli_parse_i64(buf, 1, 4096, h) || cli_parse_i64(sep + 1, 1, 4096, w) ? -1 : 0;
}

static int compare_double(const void *p, const void *q)
{
    double a = *(const double *)p, b = *(const double *)q;
    return (a > b) - (a < b);
}

/* With --labels: out [rows * cols, hw] holds, in grid row r, the first images (from row start) of the
 * r-th smallest label; cells without an image get `blank`. *shown receives the number of images. */
static int by_label(const plot_args *a, const vf_tensor *x, int64_t hw, int64_t rows, int64_t cols, int64_t start,
                    double blank, vf_real *out, int64_t *shown)
{
    vf_tensor lab = {0};
    if (plot_read_table(a->labels, &lab)) return 1;
    int64_t n = x->shape[0];
    if (lab.shape[0] != n || columns(&lab) != 1) {
        int rc = cli_runtime_error("plot", "%s is %lld x %lld but the labels must be %lld x 1 (one per row of %s)", a->labels,
                                   (long long)lab.shape[0], (long long)columns(&lab), (long long)n, a->data);
        vf_tensor_free(&lab);
        return rc;
    }
    double *sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) {
        vf_tensor_free(&lab);
        return cli_runtime_error("plot", "out of memory");
    }
    for (int64_t i = 0; i < n; i++) sorted[i] = (double)lab.data[i];
    qsort(sorted, (size_t)n, sizeof *sorted, compare_double);
    for (int64_t k = 0; k < rows * cols * hw; k++) out[k] = (vf_real)blank;
    *shown = 0;
    double prev = NAN;
    int64_t r = 0;
    for (int64_t u = 0; u < n && r < rows; u++) {
        if (u > 0 && sorted[u] == prev) continue;
        prev = sorted[u];
        int64_t c = 0;
        for (int64_t i = start; i < n && c < cols; i++)
            if ((double)lab.data[i] == prev) {
                memcpy(out + (r * cols + c) * hw, x->data + i * hw, (size_t)hw * sizeof *out);
                c++;
            }
        *shown += c;
        r++;
    }
    free(sorted);
    vf_tensor_free(&lab);
    return 0;
}

int plot_images(const plot_args *a)
{
    if (!a->data) return cli_usage_error("plot", "missing --data FILE");
    if (!a->shape) return cli_usage_error("plot", "missing --shape HxW (for example 28x28)");
    int64_t h, w;
    if (parse_shape(a->shape, &h, &w)) return cli_usage_error("plot", "--shape '%s': want HxW such as 28x28", a->shape);
    int64_t rows = a->rows > 0 ? a->rows : 8, cols = a->cols > 0 ? a->cols : 8, start = a->start > 0 ? a->start : 0;
    if (rows > 1000 || cols > 1000) return cli_usage_error("plot", "--rows and --cols: at most 1000 each");
    if (a->scale > 64) return cli_usage_error("plot", "--scale %lld: at most 64", (long long)a->scale);
    vf_tensor x = {0};
    if (plot_read_table(a->data, &x)) return 1;
    int rc = 0;
    int64_t n = x.shape[0], d = columns(&x), shown = 0;
    vf_real *grid = NULL;
    double range[2];
    if (h * w != d) {
        rc = cli_runtime_error("plot", "--shape %lldx%lld needs %lld values per row but %s has %lld columns", (long long)h,
                               (long long)w, (long long)(h * w), a->data, (long long)d);
    } else if (start >= n) {
        rc = cli_runtime_error("plot", "--start %lld: %s has only %lld rows", (long long)start, a->data, (long long)n);
    } else if (a->range) {
        if (plot_parse_list(a->range, range, 2) != 2 || !(range[1] > range[0]))
            rc = cli_usage_error("plot", "--range '%s': want LO,HI with LO < HI", a->range);
    } else {
        double top = -INFINITY;
        for (int64_t k = 0; k < n * d; k++) top = fmax(top, (double)x.data[k]);
        range[0] = 0.0;
        range[1] = top > 1.5 ? 255.0 : 1.0;
    }
    if (!rc) {
        const vf_real *pix = x.data + start * d;
        int64_t count = n - start;
        if (a->labels) {
            if (!(grid = malloc((size_t)(rows * cols * d) * sizeof *grid))) rc = cli_runtime_error("plot", "out of memory");
            else if (!(rc = by_label(a, &x, d, rows, cols, start, range[0], grid, &shown))) {
                pix = grid;
                count = rows * cols;
            }
        } else {
            shown = count < rows * cols ? count : rows * cols;
        }
        vf_plot_options o = vf_plot_default_options();
        o.title = a->title;
        int64_t side = h < w ? h : w;
        o.pixel_scale = a->scale > 0 ? (int)a->scale : side >= 28 ? 1 : (int)((28 + side - 1) / side);
        vf_status s = rc ? VF_OK : vf_plot_images(a->out, count, h, w, pix, rows, cols, range[0], range[1], &o);
        if (s != VF_OK) rc = plot_library_error(s);
    }
    if (!rc) {
        if (a->common.json) {
            printf("{\"kind\":\"images\",\"path\":");
            cli_json_string(stdout, a->out);
            printf(",\"images\":%lld,\"rows\":%lld,\"cols\":%lld,\"range\":[%.9g,%.9g]}\n", (long long)shown, (long long)rows,
                   (long long)cols, range[0], range[1]);
        } else if (!a->common.quiet) {
            printf("wrote %s: %lld images of %s (%lldx%lld) in a %lldx%lld grid, values %g..%g shown black..white\n", a->out,
                   (long long)shown, a->data, (long long)h, (long long)w, (long long)rows, (long long)cols, range[0], range[1]);
        }
    }
    free(grid);
    vf_tensor_free(&x);
    return rc;
}
