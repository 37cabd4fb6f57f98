/* plot_density.c — `varflow plot density`: a 2-D model's density on a grid of cell centres, with
 * data rows and/or model samples over it. Flow files go through vf_flow_log_prob_rows (blocks on one
 * tape), continuous-flow files through vf_cnf_model_log_prob (the ODE with its exact divergence,
 * rk4 with 100 steps). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "plot_cli.h"

#define DEFAULT_GRID 100
#define DEFAULT_GRID_CNF 60 /* each cell of a continuous flow is an ODE solve with its divergence */
#define DEFAULT_POINTS 5000
#define RANGE_DRAWS 2000
#define LOG_FLOOR 12.0 /* nats below the maximum shown by --log-density */

/* One loaded model of either kind. */
typedef struct model {
    vf_flow *flow;
    vf_params *params;
    vf_cnf_model *cnf;
} model;

static void model_free(model *m)
{
    vf_flow_free(m->flow);
    vf_params_free(m->params);
    vf_cnf_model_free(m->cnf);
}

/* Loads path and checks that it has a 2-D density; 0 or the exit code. */
static int model_load(const char *path, model *m)
{
    int64_t d;
    if (vf_cnf_model_file_is_cnf(path)) {
        if (vf_cnf_model_load(path, &m->cnf, NULL) != VF_OK) return cli_runtime_error("plot", "%s", vf_last_error());
        if (m->cnf->spec.source.kind == VF_CNF_SOURCE_DATA || m->cnf->spec.objective == VF_CNF_MEANFLOW)
            return cli_runtime_error("plot", "%s: a %s model has no log-density to draw",
                                     path, m->cnf->spec.objective == VF_CNF_MEANFLOW ? "MeanFlow" : "data-to-data");
        d = m->cnf->spec.field.dim;
    } else {
        if (vf_flow_load(path, &m->params, &m->flow, NULL) != VF_OK) return cli_runtime_error("plot", "%s", vf_last_error());
        if (vf_flow_context_dim(m->flow) > 0)
            return cli_runtime_error("plot", "%s is a conditional model: plot density draws unconditional ones", path);
        d = vf_flow_dim(m->flow);
    }
    if (d != 2)
        return cli_runtime_error("plot", "%s has dimension %lld: plot density needs a 2-D model (plot corner shows samples "
                                 "of any dimension)", path, (long long)d);
    return 0;
}

static vf_status model_log_prob(const model *m, int64_t n, const vf_real *x, vf_real *lp)
{
    if (m->cnf) {
        vf_cnf_sample_options so = vf_cnf_sample_default_options();
        return vf_cnf_model_log_prob(m->cnf, n, x, NULL, &so, lp, NULL);
    }
    return vf_flow_log_prob_rows(m->flow, m->params, NULL, n, x, NULL, 0, lp);
}

static vf_status model_sample(const model *m, int64_t n, uint64_t seed, vf_real *x)
{
    vf_rng r;
    vf_rng_init(&r, seed, 0);
    if (m->cnf) {
        vf_cnf_sample_options so = vf_cnf_sample_default_options();
        return vf_cnf_model_sample(m->cnf, n, NULL, NULL, &r, &so, x, NULL, NULL);
    }
    return vf_flow_sample_rows(m->flow, m->params, NULL, n, NULL, 0, &r, x, NULL);
}

static int compare_double(const void *p, const void *q)
{
    double a = *(const double *)p, b = *(const double *)q;
    return (a > b) - (a < b);
}

/* The square to show: the 0.5 .. 99.5 percentiles of the n points x [n, 2] per axis, padded by 10%. */
static int range_of(int64_t n, const vf_real *x, double ext[4])
{
    double *v = malloc((size_t)n * sizeof *v);
    if (!v) return cli_runtime_error("plot", "out of memory");
    for (int axis = 0; axis < 2; axis++) {
        int64_t k = 0;
        for (int64_t i = 0; i < n; i++)
            if (isfinite((double)x[2 * i + axis])) v[k++] = (double)x[2 * i + axis];
        if (k == 0) {
            free(v);
            return cli_runtime_error("plot", "no finite point to take the range from (give --range)");
        }
        qsort(v, (size_t)k, sizeof *v, compare_double);
        double lo = v[(int64_t)floor(0.005 * (double)(k - 1))], hi = v[(int64_t)ceil(0.995 * (double)(k - 1))];
        double pad = hi > lo ? 0.1 * (hi - lo) : 1.0;
        ext[2 * axis] = lo - pad;
        ext[2 * axis + 1] = hi + pad;
    }
    free(v);
    return 0;
}

/* The points to draw: the first `cap` rows of --data, then --samples draws; *n receives their count. */
static int gather_points(const plot_args *a, const model *m, vf_real **out, int64_t *n)
{
    vf_tensor d = {0};
    int64_t nd = 0, ns = a->samples > 0 ? a->samples : 0, cap = a->points > 0 ? a->points : DEFAULT_POINTS;
    if (a->data) {
        if (plot_read_table(a->data, &d)) return 1;
        if (d.ndim != 2 || d.shape[1] != 2) {
            int64_t cols = d.ndim > 1 ? d.shape[1] : 1;
            vf_tensor_free(&d);
            return cli_runtime_error("plot", "%s has %lld columns but the model is 2-D", a->data, (long long)cols);
        }
        nd = d.shape[0] < cap ? d.shape[0] : cap;
    }
    *n = nd + ns;
    *out = NULL;
    if (*n == 0) return 0;
    vf_real *p = malloc((size_t)*n * 2 * sizeof *p);
    if (!p) {
        vf_tensor_free(&d);
        return cli_runtime_error("plot", "out of memory");
    }
    if (nd) memcpy(p, d.data, (size_t)nd * 2 * sizeof *p);
    vf_tensor_free(&d);
    if (ns) {
        vf_status s = model_sample(m, ns, a->common.have_seed ? a->common.seed : 0, p + 2 * nd);
        if (s != VF_OK && s != VF_ERR_NUMERIC) {
            free(p);
            return cli_runtime_error("plot", "sampling %s: %s", a->model, vf_last_error());
        }
    }
    *out = p;
    return 0;
}

/* Fills ext from --range, the points, or model draws; 0 or the exit code. */
static int choose_range(const plot_args *a, const model *m, int64_t n, const vf_real *pts, double ext[4])
{
    if (a->range) {
        if (plot_parse_list(a->range, ext, 4) != 4 || !(ext[1] > ext[0]) || !(ext[3] > ext[2]))
            return cli_usage_error("plot", "--range '%s': want X0,X1,Y0,Y1 with X0 < X1 and Y0 < Y1", a->range);
        return 0;
    }
    if (n > 0) return range_of(n, pts, ext);
    vf_real *draws = malloc(2 * RANGE_DRAWS * sizeof *draws);
    if (!draws) return cli_runtime_error("plot", "out of memory");
    vf_status s = model_sample(m, RANGE_DRAWS, 12345, draws);
    int rc = s == VF_OK || s == VF_ERR_NUMERIC ? range_of(RANGE_DRAWS, draws, ext)
                                               : cli_runtime_error("plot", "sampling %s: %s", a->model, vf_last_error());
    free(draws);
    return rc;
}

/* values [g, g] (row 0 at the bottom) of p(x) or of log p(x) floored, at the cell centres. */
static int grid_values(const plot_args *a, const model *m, int64_t g, const double ext[4], vf_real *values)
{
    vf_real *x = malloc((size_t)(g * g) * 2 * sizeof *x);
    if (!x) return cli_runtime_error("plot", "out of memory");
    for (int64_t r = 0; r < g; r++)
        for (int64_t c = 0; c < g; c++) {
            x[2 * (r * g + c)] = (vf_real)(ext[0] + (c + 0.5) * (ext[1] - ext[0]) / (double)g);
            x[2 * (r * g + c) + 1] = (vf_real)(ext[2] + (r + 0.5) * (ext[3] - ext[2]) / (double)g);
        }
    vf_status s = model_log_prob(m, g * g, x, values);
    free(x);
    if (s != VF_OK && s != VF_ERR_NUMERIC) return cli_runtime_error("plot", "evaluating %s: %s", a->model, vf_last_error());
    double top = -INFINITY;
    for (int64_t k = 0; k < g * g; k++)
        if (isfinite((double)values[k])) top = fmax(top, (double)values[k]);
    if (!isfinite(top)) return cli_runtime_error("plot", "%s: no finite log-density on the grid (try another --range)", a->model);
    for (int64_t k = 0; k < g * g; k++) {
        double v = isfinite((double)values[k]) ? (double)values[k] : -INFINITY;
        values[k] = (vf_real)(a->log_density ? fmax(v, top - LOG_FLOOR) : exp(v));
    }
    return 0;
}

int plot_density(const plot_args *a)
{
    if (!a->model) return cli_usage_error("plot", "missing --model MODEL");
    if (a->grid > 1000) return cli_usage_error("plot", "--grid %lld: at most 1000 cells per side", (long long)a->grid);
    model m = {0};
    vf_real *pts = NULL, *values = NULL;
    int64_t n = 0;
    double ext[4];
    int rc = model_load(a->model, &m);
    int64_t g = a->grid > 0 ? a->grid : m.cnf ? DEFAULT_GRID_CNF : DEFAULT_GRID;
    if (!rc) rc = gather_points(a, &m, &pts, &n);
    if (!rc) rc = choose_range(a, &m, n, pts, ext);
    if (!rc && !(values = malloc((size_t)(g * g) * sizeof *values))) rc = cli_runtime_error("plot", "out of memory");
    if (!rc) rc = grid_values(a, &m, g, ext, values);
    if (!rc) {
        char title[1200];
        snprintf(title, sizeof title, "%s of %s", a->log_density ? "log-density" : "density", a->model);
        vf_plot_options o = vf_plot_default_options();
        o.title = a->title ? a->title : title;
        o.xlabel = a->xlabel ? a->xlabel : "x1";
        o.ylabel = a->ylabel ? a->ylabel : "x2";
        o.value_label = a->log_density ? "log p(x)" : "p(x)";
        vf_status s = vf_plot_heatmap(a->out, g, g, values, ext, n, pts, &o);
        if (s != VF_OK) rc = plot_library_error(s);
    }
    if (!rc) {
        int64_t inside = 0;
        for (int64_t i = 0; i < n; i++)
            inside += pts[2 * i] >= ext[0] && pts[2 * i] <= ext[1] && pts[2 * i + 1] >= ext[2] && pts[2 * i + 1] <= ext[3];
        if (a->common.json) {
            printf("{\"kind\":\"density\",\"path\":");
            cli_json_string(stdout, a->out);
            printf(",\"grid\":%lld,\"range\":[%.9g,%.9g,%.9g,%.9g],\"points\":%lld}\n", (long long)g, ext[0], ext[1], ext[2],
                   ext[3], (long long)inside);
        } else if (!a->common.quiet) {
            printf("wrote %s: %s of %s on a %lldx%lld grid over [%.4g, %.4g] x [%.4g, %.4g], %lld points\n", a->out,
                   a->log_density ? "log-density" : "density", a->model, (long long)g, (long long)g, ext[0], ext[1], ext[2],
                   ext[3], (long long)inside);
        }
    }
    free(values);
    free(pts);
    model_free(&m);
    return rc;
}
