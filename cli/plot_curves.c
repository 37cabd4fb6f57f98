/* plot_curves.c — `varflow plot curves`: training curves from a JSON-lines log, one flat object per
 * line as `varflow fit --log` ({"epoch", "step", "train_nll", "valid_nll", "lr", "seconds"}),
 * continuous-flow fits ({"train_loss", "valid_loss", ...}) and `varflow vi --log` ({"step", "loss",
 * ...}) write them. A key that is null or missing on a line leaves a gap in its curve. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "plot_cli.h"

#define MAX_KEYS 8
static const char *const default_keys[] = {"train_nll", "valid_nll", "train_loss", "valid_loss", "loss", NULL};

/* The value of "key": in the flat JSON object line: 1 and *v (NAN for null or a non-number) when
 * the key is there, 0 when it is not. */
static int json_value(const char *line, const char *key, double *v)
{
    size_t n = strlen(key);
    for (const char *p = line; (p = strchr(p, '"')) != NULL;) {
        const char *k = p + 1, *end = strchr(k, '"');
        if (!end) return 0;
        const char *q = end + 1;
        while (isspace((unsigned char)*q)) q++;
        if (*q != ':') { /* a string value: skip it */
            p = end + 1;
            continue;
        }
        q++;
        while (isspace((unsigned char)*q)) q++;
        if ((size_t)(end - k) == n && strncmp(k, key, n) == 0) {
            char *stop;
            *v = strtod(q, &stop);
            if (stop == q) *v = NAN;
            return 1;
        }
        p = q;
    }
    return 0;
}

typedef struct curve_data {
    int64_t n, cap;
    double *x, *y[MAX_KEYS];
    int nk;
} curve_data;

static void curve_free(curve_data *c)
{
    free(c->x);
    for (int k = 0; k < MAX_KEYS; k++) free(c->y[k]);
}

static int grow(curve_data *c)
{
    int64_t cap = c->cap ? 2 * c->cap : 256;
    double *x = realloc(c->x, (size_t)cap * sizeof *x);
    if (!x) return -1;
    c->x = x;
    for (int k = 0; k < c->nk; k++) {
        double *y = realloc(c->y[k], (size_t)cap * sizeof *y);
        if (!y) return -1;
        c->y[k] = y;
    }
    c->cap = cap;
    return 0;
}

/* Reads the log into c for the keys; xkey NULL: the line number. 0 or the exit code. */
static int read_log(const char *path, const char *xkey, const char *const *keys, int nk, curve_data *c)
{
    FILE *f = fopen(path, "r");
    if (!f) return cli_runtime_error("plot", "cannot open %s", path);
    char *line = NULL;
    size_t cap = 0;
    int64_t lineno = 0;
    int rc = 0;
    c->nk = nk;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        const char *p = line;
        while (isspace((unsigned char)*p)) p++;
        if (!*p) continue;
        if (*p != '{') {
            rc = cli_runtime_error("plot", "%s:%lld: not a JSON object", path, (long long)lineno);
            break;
        }
        if (c->n == c->cap && grow(c)) {
            rc = cli_runtime_error("plot", "out of memory");
            break;
        }
        double v = (double)lineno;
        if (xkey && !json_value(p, xkey, &v)) v = NAN;
        c->x[c->n] = v;
        for (int k = 0; k < nk; k++)
            if (!json_value(p, keys[k], &c->y[k][c->n])) c->y[k][c->n] = NAN;
        c->n++;
    }
    free(line);
    fclose(f);
    if (!rc && c->n == 0) rc = cli_runtime_error("plot", "%s has no log lines", path);
    return rc;
}

/* 1 when some line of the file has the key. */
static int log_has_key(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char *line = NULL;
    size_t cap = 0;
    int found = 0;
    double v;
    while (!found && getline(&line, &cap, f) > 0) found = json_value(line, key, &v);
    free(line);
    fclose(f);
    return found;
}

int plot_curves(const plot_args *a)
{
    if (!a->log) return cli_usage_error("plot", "missing --log FILE (a JSON-lines training log)");
    FILE *probe = fopen(a->log, "r");
    if (!probe) return cli_runtime_error("plot", "cannot open %s", a->log);
    int unreadable = fgetc(probe) == EOF && ferror(probe); /* a folder opens, but reads fail */
    int e = errno;
    fclose(probe);
    if (unreadable) return cli_runtime_error("plot", "cannot read %s: %s", a->log, strerror(e));
    const char *keys[MAX_KEYS];
    char keybuf[512];
    int nk = 0;
    if (a->keys) {
        if (strlen(a->keys) >= sizeof keybuf) return cli_usage_error("plot", "--keys: too long");
        snprintf(keybuf, sizeof keybuf, "%s", a->keys);
        char *save = NULL;
        for (char *w = strtok_r(keybuf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
            if (nk == MAX_KEYS) return cli_usage_error("plot", "--keys: at most %d keys", MAX_KEYS);
            if (!log_has_key(a->log, w)) return cli_runtime_error("plot", "%s has no key '%s'", a->log, w);
            keys[nk++] = w;
        }
        if (nk == 0) return cli_usage_error("plot", "--keys: no key given");
    } else {
        for (int k = 0; default_keys[k]; k++)
            if (log_has_key(a->log, default_keys[k])) keys[nk++] = default_keys[k];
        if (nk == 0)
            return cli_runtime_error("plot", "%s has none of train_nll, valid_nll, train_loss, valid_loss, loss: name the keys "
                                     "with --keys", a->log);
    }
    const char *xkey = a->xkey;
    if (xkey && !log_has_key(a->log, xkey)) return cli_runtime_error("plot", "%s has no key '%s'", a->log, xkey);
    if (!xkey) xkey = log_has_key(a->log, "epoch") ? "epoch" : log_has_key(a->log, "step") ? "step" : NULL;
    curve_data c = {0};
    int rc = read_log(a->log, xkey, keys, nk, &c);
    if (!rc) {
        vf_plot_series s[MAX_KEYS];
        int nll = 0;
        for (int k = 0; k < nk; k++) {
            s[k] = (vf_plot_series){keys[k], c.n, c.x, c.y[k]};
            nll |= strstr(keys[k], "nll") != NULL;
        }
        vf_plot_options o = vf_plot_default_options();
        char title[1200];
        snprintf(title, sizeof title, "training log %s", a->log);
        o.title = a->title ? a->title : title;
        o.xlabel = a->xlabel ? a->xlabel : xkey ? xkey : "line";
        o.ylabel = a->ylabel ? a->ylabel : nll ? "NLL (nats per row)" : "loss";
        o.log_y = a->log_y;
        vf_status st = vf_plot_curves(a->out, nk, s, &o);
        if (st != VF_OK) rc = plot_library_error(st);
    }
    if (!rc) {
        if (a->common.json) {
            printf("{\"kind\":\"curves\",\"path\":");
            cli_json_string(stdout, a->out);
            printf(",\"series\":%d,\"lines\":%lld}\n", nk, (long long)c.n);
        } else if (!a->common.quiet) {
            printf("wrote %s: %d curve%s (", a->out, nk, nk == 1 ? "" : "s");
            for (int k = 0; k < nk; k++) printf("%s%s", k ? ", " : "", keys[k]);
            printf(") over %lld lines of %s\n", (long long)c.n, a->log);
        }
    }
    curve_free(&c);
    return rc;
}
