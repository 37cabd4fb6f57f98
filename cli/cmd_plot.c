/* cmd_plot.c — `varflow plot KIND ...`: pictures of models, data, training logs and images.
 *
 *   varflow plot density --model MODEL [--data FILE] [--samples N] -o density.svg
 *   varflow plot corner  --data FILE [--compare FILE] -o corner.svg
 *   varflow plot curves  --log train_log.jsonl -o curves.svg
 *   varflow plot images  --data FILE --shape 28x28 [--rows R --cols C] -o grid.png
 *
 * This file parses the options (one table for every kind; each kind accepts its own subset) and
 * dispatches; the drawing is in the library (vf_plot.h), the reading of models and files in
 * plot_density.c, plot_data.c and plot_curves.c. */
#include <stddef.h>
#include <string.h>
#include "plot_cli.h"

static void plot_help(FILE *out)
{
    fputs("Usage: varflow plot density --model MODEL [--data FILE] [--samples N] [options] -o OUT.svg\n"
          "       varflow plot corner  --data FILE [--compare FILE] [options] -o OUT.svg\n"
          "       varflow plot curves  --log LOG.jsonl [--keys K1,K2] [options] -o OUT.svg\n"
          "       varflow plot images  --data FILE --shape HxW [--rows R] [--cols C] [options] -o OUT.png|OUT.svg\n"
          "\n"
          "Draws a picture file. Heat maps, corner plots and curves are SVG (open them in a browser);\n"
          "image grids are PNG (needs libpng at build time) or SVG.\n"
          "\n"
          "density  the density of a 2-D model (flow or continuous-flow .safetensors file) on a grid, as a\n"
          "         heat map with a colour bar, and points over it: the rows of --data and/or --samples N\n"
          "         draws from the model.\n"
          "  --grid N          cells per side (default 100; 60 for continuous flows)\n"
          "  --range X0,X1,Y0,Y1  the square shown (default: the points' range, or 2000 model draws', padded)\n"
          "  --log-density     colour by log p(x), floored 12 nats below its maximum (default: p(x))\n"
          "  --points N        draw at most the first N rows of --data (default 5000)\n"
          "  --samples N       also draw N samples of the model (seeded by --seed)\n"
          "corner   pairwise marginals of the rows of --data (d >= 1): 1-D histograms on the diagonal, 2-D\n"
          "         histograms below it; with --compare FILE (e.g. model samples), that file's 2-D histograms\n"
          "         above the diagonal and its 1-D histograms as outlines on the diagonal.\n"
          "  --columns I,J,... the columns to show, counted from 1 (default all; at most 20)\n"
          "  --bins B          histogram bins per axis (default 30)\n"
          "  --legend A,B      names of the two files in the legend (default: the file names)\n"
          "curves   training curves from a JSON-lines log (varflow fit/vi --log): one line per --keys key\n"
          "         (default: those of train_nll, valid_nll, train_loss, valid_loss, loss the log has)\n"
          "         against --x KEY (default epoch when present, else step).\n"
          "  --log-y           logarithmic y axis\n"
          "images   rows of --data (.npy, .csv, IDX such as Fashion-MNIST's, .gz too) as H x W grey images\n"
          "         in a grid of --rows R and --cols C (default 8 x 8), from row --start K (default 0).\n"
          "  --shape HxW       image shape; H * W must equal the file's columns (required)\n"
          "  --range LO,HI     values shown black..white (default 0,255 when the data exceed 1.5, else 0,1)\n"
          "  --scale K         picture pixels per image pixel (default: enough for 28 per image side)\n"
          "  --labels FILE     one label per row: grid row r shows the first C images of the r-th\n"
          "                    smallest label (classes in order)\n"
          "Shared:\n"
          "  -o, --output OUT  the picture (.svg; .png for images)\n"
          "  --title T, --xlabel T, --ylabel T   texts (defaults describe the picture)\n",
          out);
    cli_print_common_help(out);
    fputs("\n"
          "Examples:\n"
          "  varflow plot density --model model.safetensors --data test.npy -o density.svg\n"
          "  varflow plot corner --data data.npy --compare samples.npy -o corner.svg\n"
          "  varflow plot curves --log train_log.jsonl -o curves.svg\n"
          "  varflow plot images --data train-images-idx3-ubyte.gz --shape 28x28 --rows 4 --cols 10 -o grid.png\n"
          "\n"
          "With --json, prints {\"kind\", \"path\"} plus the kind's counts (\"points\", \"rows\", \"series\", \"images\").\n",
          out);
}

/* Every option of every kind: where its value goes and which kinds take it (a space-separated list). */
typedef enum opt_type { OPT_FILE, OPT_TEXT, OPT_INT, OPT_FLAG } opt_type;
typedef struct plot_opt {
    const char *name;
    opt_type type;
    size_t offset;
    const char *kinds;
} plot_opt;

#define OFF(field) offsetof(plot_args, field)
static const plot_opt options[] = {
    {"-o", OPT_FILE, OFF(out), "density corner curves images"},
    {"--model", OPT_FILE, OFF(model), "density"},
    {"--data", OPT_FILE, OFF(data), "density corner images"},
    {"--compare", OPT_FILE, OFF(compare), "corner"},
    {"--log", OPT_FILE, OFF(log), "curves"},
    {"--labels", OPT_FILE, OFF(labels), "images"},
    {"--keys", OPT_TEXT, OFF(keys), "curves"},
    {"--x", OPT_TEXT, OFF(xkey), "curves"},
    {"--shape", OPT_TEXT, OFF(shape), "images"},
    {"--range", OPT_TEXT, OFF(range), "density images"},
    {"--columns", OPT_TEXT, OFF(columns), "corner"},
    {"--legend", OPT_TEXT, OFF(legend), "corner"},
    {"--title", OPT_TEXT, OFF(title), "density corner curves images"},
    {"--xlabel", OPT_TEXT, OFF(xlabel), "density curves"},
    {"--ylabel", OPT_TEXT, OFF(ylabel), "density curves"},
    {"--samples", OPT_INT, OFF(samples), "density"},
    {"--grid", OPT_INT, OFF(grid), "density"},
    {"--points", OPT_INT, OFF(points), "density"},
    {"--bins", OPT_INT, OFF(bins), "corner"},
    {"--rows", OPT_INT, OFF(rows), "images"},
    {"--cols", OPT_INT, OFF(cols), "images"},
    {"--start", OPT_INT, OFF(start), "images"},
    {"--scale", OPT_INT, OFF(scale), "images"},
    {"--log-density", OPT_FLAG, OFF(log_density), "density"},
    {"--log-y", OPT_FLAG, OFF(log_y), "curves"},
    {NULL, OPT_FLAG, 0, NULL},
};

/* 1 when the space-separated list has the word. */
static int has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return 1;
    return 0;
}

static const plot_opt *find_option(const char *arg)
{
    for (const plot_opt *o = options; o->name; o++) {
        if (strcmp(o->name, "-o") == 0 ? strcmp(arg, "-o") == 0 || cli_is_option(arg, "--output")
                                       : o->type == OPT_FLAG ? strcmp(arg, o->name) == 0 : cli_is_option(arg, o->name))
            return o;
    }
    return NULL;
}

/* Parses argv[2..] into a; 0, or the exit code after a usage error. */
static int parse(int argc, char **argv, plot_args *a)
{
    for (int i = 2; i < argc; i++) {
        int k = cli_common_option("plot", argc, argv, &i, &a->common);
        if (k < 0) return 2;
        if (k > 0) continue;
        const char *arg = argv[i];
        const plot_opt *o = find_option(arg);
        if (!o) {
            if (cli_looks_like_option(arg)) return cli_usage_error("plot", "unknown option '%s'", arg);
            return cli_usage_error("plot", "unexpected argument '%s'", arg);
        }
        if (!has_word(o->kinds, a->kind))
            return cli_usage_error("plot", "%s does not apply to 'plot %s' (it is for: %s)", o->name, a->kind, o->kinds);
        char *field = (char *)a + o->offset;
        if (o->type == OPT_FLAG) {
            *(int *)(void *)field = 1;
            continue;
        }
        const char *v = cli_option_value("plot", argc, argv, &i);
        if (!v) return 2;
        if (!*v && o->type != OPT_TEXT) return cli_usage_error("plot", "%s: empty value", o->name);
        if (o->type == OPT_INT) {
            int64_t lo = strcmp(o->name, "--start") == 0 ? 0 : 1, x;
            if (cli_parse_i64(v, lo, 100000000, &x))
                return cli_usage_error("plot", "%s: '%s' is not a whole number in %lld..1e8", o->name, v, (long long)lo);
            *(int64_t *)(void *)field = x;
        } else {
            *(const char **)(void *)field = v;
        }
    }
    return 0;
}

int plot_parse_list(const char *s, double *v, int max)
{
    char buf[512];
    if (!s || strlen(s) >= sizeof buf) return -1;
    snprintf(buf, sizeof buf, "%s", s);
    int n = 0;
    char *save = NULL;
    for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        if (n >= max || cli_parse_double(w, &v[n])) return -1;
        n++;
    }
    return n;
}

int plot_library_error(vf_status s)
{
    const char *msg = vf_last_error();
    if (s == VF_ERR_NOMEM && !*msg) msg = "out of memory";
    return s == VF_ERR_ARG ? cli_usage_error("plot", "%s", msg) : cli_runtime_error("plot", "%s", msg);
}

int plot_read_table(const char *path, vf_tensor *x)
{
    if (vf_read_table(path, x) != VF_OK) return cli_runtime_error("plot", "%s", vf_last_error());
    if (x->shape[0] < 1) {
        vf_tensor_free(x);
        return cli_runtime_error("plot", "%s has no rows", path);
    }
    return 0;
}

static int plot_run(int argc, char **argv)
{
    if (argc < 2) return cli_usage_error("plot", "missing the kind of picture: density, corner, curves or images");
    plot_args a;
    memset(&a, 0, sizeof a);
    a.kind = argv[1];
    a.samples = a.grid = a.bins = a.rows = a.cols = a.start = a.points = a.scale = -1;
    static const char *const kinds[] = {"density", "corner", "curves", "images"};
    int (*const run[])(const plot_args *) = {plot_density, plot_corner, plot_curves, plot_images};
    int which = -1;
    for (int k = 0; k < 4; k++)
        if (strcmp(a.kind, kinds[k]) == 0) which = k;
    if (which < 0)
        return cli_usage_error("plot", "unknown kind of picture '%s' (valid: density, corner, curves, images)", a.kind);
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    if (!a.out) return cli_usage_error("plot", "missing -o OUT (the picture file)");
    const char *ext = cli_extension(a.out);
    int svg = strcmp(ext, "svg") == 0, png = strcmp(ext, "png") == 0;
    if (which < 3 && !svg)
        return cli_usage_error("plot", "-o %s: %s plots are written as SVG only (name the file .svg)", a.out, a.kind);
    if (which == 3 && !svg && !png) return cli_usage_error("plot", "-o %s: the file name must end in .png or .svg", a.out);
    if (a.common.threads > 0) vf_set_num_threads(a.common.threads);
    return run[which](&a);
}

const cli_command cli_cmd_plot = {
    "plot",
    "pictures: density heat maps, corner plots, training curves (SVG), image grids (PNG)",
    plot_run,
    plot_help,
};
