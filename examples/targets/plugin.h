/* plugin.h — what the example target plugins in this folder share: the prototypes of the target
 * plugin ABI (docs/plugins.md, with the optional constraining map) and a minimal reader for the flat JSON
 * data files of posteriordb (an object whose values are numbers, arrays of numbers or arrays of arrays
 * of numbers). Header-only (static functions) so each plugin stays one self-contained .so.
 *
 * Usage
 *   json_doc doc;
 *   if (json_load(path, &doc, err, errlen) != 0) return NULL;          // err says why
 *   double J;  int64_t n;
 *   if (json_number(&doc, "J", &J, err, errlen) != 0) ...             // a plain number
 *   double *y = json_array(&doc, "y", &n, err, errlen);               // every number inside the value,
 *                                                                      // nested arrays flattened row-major
 *   free(y);  json_close(&doc);
 *
 * Limits (enough for the data files, not a general parser): keys are found by their quoted name
 * followed by ':' anywhere in the text, so a key must not also appear inside a string value; strings,
 * true/false/null and objects as values are not supported. */
#ifndef VF_EXAMPLE_PLUGIN_H
#define VF_EXAMPLE_PLUGIN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The plugin ABI each example defines (state: what varflow_target_init returned). */
void *varflow_target_init(const char *arg, char *err, unsigned long errlen);
int varflow_target_dim(void *state);
double varflow_target_log_prob(void *state, const double *x, double *grad);
void varflow_target_constrain(void *state, const double *x, double *out);   /* x [dim] -> out [dim] */
void varflow_target_free(void *state);

typedef struct json_doc {
    char *text;
} json_doc;

static int json_load(const char *path, json_doc *doc, char *err, unsigned long errlen)
{
    doc->text = NULL;
    FILE *f = path && *path ? fopen(path, "rb") : NULL;
    if (!f) {
        snprintf(err, errlen, "cannot open the data file '%s' (give its path as the plugin ARG)", path ? path : "");
        return -1;
    }
    size_t cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        snprintf(err, errlen, "cannot read '%s'", path);
        return -1;
    }
    buf[len] = '\0';
    doc->text = buf;
    return 0;
}

static void json_close(json_doc *doc)
{
    free(doc->text);
    doc->text = NULL;
}

/* The text right after `"key"` and its ':' (NULL when absent). */
static const char *json_value(const json_doc *doc, const char *key)
{
    size_t k = strlen(key);
    for (const char *p = doc->text; (p = strchr(p, '"')) != NULL; p++) {
        if (strncmp(p + 1, key, k) == 0 && p[1 + k] == '"') {
            const char *q = p + 2 + k;
            while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') q++;
            if (*q == ':') return q + 1;
        }
    }
    return NULL;
}

static int json_number(const json_doc *doc, const char *key, double *out, char *err, unsigned long errlen)
{
    const char *v = json_value(doc, key);
    char *end;
    if (!v) {
        snprintf(err, errlen, "the data file has no key \"%s\"", key);
        return -1;
    }
    *out = strtod(v, &end);
    if (end == v) {
        snprintf(err, errlen, "the value of \"%s\" is not a number", key);
        return -1;
    }
    return 0;
}

/* All numbers of the (possibly nested) array under key, flattened; *n their count. NULL on error. */
static double *json_array(const json_doc *doc, const char *key, int64_t *n, char *err, unsigned long errlen)
{
    const char *v = json_value(doc, key);
    *n = 0;
    while (v && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')) v++;
    if (!v || *v != '[') {
        snprintf(err, errlen, "the data file has no array \"%s\"", key);
        return NULL;
    }
    int depth = 0;
    int64_t cap = 64;
    double *out = malloc((size_t)cap * sizeof *out);
    for (const char *p = v; out; ) {
        if (*p == '[') depth++, p++;
        else if (*p == ']') {
            p++;
            if (--depth == 0) return out;
        } else if (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        else {
            char *end;
            double x = strtod(p, &end);
            if (end == p) break;
            if (*n == cap) {
                double *nb = realloc(out, (size_t)(cap *= 2) * sizeof *out);
                if (!nb) free(out);
                out = nb;
                if (!out) break;
            }
            out[(*n)++] = x;
            p = end;
        }
    }
    free(out);
    snprintf(err, errlen, "the array \"%s\" is malformed or memory ran out", key);
    return NULL;
}

#endif
