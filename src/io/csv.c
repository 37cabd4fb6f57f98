/* csv.c — delimited text tables: delimiter and header detection, quoted fields, comments, errors
 * with line:column positions; and the CSV writer.
 *
 * The reader never trusts the text: values are appended to a buffer that grows with the fields really
 * present (at most one value per two bytes of input), every row must have as many fields as the first
 * data row, and each cell must be a whole number in C-locale syntax. */
#include <math.h>
#include <stdio.h>
#include "io_internal.h"

typedef struct field {
    const char *p;      /* content (inside the quotes for a quoted field) */
    size_t n;
    int quoted;         /* content may hold "" pairs standing for one quote */
} field;

typedef struct fieldvec {
    field *f;
    size_t n, cap;
} fieldvec;

vf_csv_options vf_csv_default_options(void)
{
    vf_csv_options o;
    memset(&o, 0, sizeof o);
    o.delimiter = 0;
    o.header = VF_CSV_HEADER_AUTO;
    o.comment = '#';
    o.allow_nonfinite = 0;
    return o;
}

void vf_strlist_free(vf_strlist *l)
{
    if (!l) return;
    for (int64_t i = 0; i < l->n; i++) vf_free(l->items[i]);
    vf_free(l->items);
    l->items = NULL;
    l->n = 0;
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }
/* Padding around a field: a blank that is not itself the delimiter (a tab in a TSV file is not). */
static int is_pad(char c, char delim) { return is_blank(c) && c != delim; }

/* Printable excerpt of s[0..n) (at most 40 characters) for messages. */
static const char *excerpt(const char *s, size_t n, char *buf, size_t size)
{
    size_t m = n < 40 ? n : 40, j = 0;
    for (size_t i = 0; i < m && j + 4 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (m < n && j + 4 < size) { buf[j++] = '.'; buf[j++] = '.'; buf[j++] = '.'; }
    buf[j] = 0;
    return buf;
}

static vf_status push_field(fieldvec *v, const char *p, size_t n, int quoted)
{
    if (v->n == v->cap) {
        size_t c = v->cap ? v->cap * 2 : 16;
        field *f = vf_realloc(v->f, c * sizeof *f);
        if (!f) return VF_ERR_NOMEM;
        v->f = f;
        v->cap = c;
    }
    v->f[v->n++] = (field){p, n, quoted};
    return VF_OK;
}

/* Split one line (without its newline) into fields. delim ' ' means runs of blanks. */
static vf_status split(const char *name, size_t lineno, const char *s, size_t n, char delim, fieldvec *v)
{
    size_t i = 0;
    v->n = 0;
    if (delim == ' ') {
        while (i < n && is_blank(s[i])) i++;
        if (i == n) return VF_OK;
    }
    for (;;) {
        while (i < n && is_pad(s[i], delim)) i++;
        size_t col = v->n + 1;
        const char *start;
        size_t len;
        int quoted = 0;
        if (i < n && s[i] == '"') {
            quoted = 1;
            start = s + ++i;
            for (;;) {
                if (i >= n)
                    return vf__error(VF_ERR_FORMAT, "%s:%zu:%zu: unterminated quoted field", name, lineno, col);
                if (s[i] == '"') {
                    if (i + 1 < n && s[i + 1] == '"') { i += 2; continue; }
                    break;
                }
                i++;
            }
            len = (size_t)(s + i - start);
            i++;
            while (i < n && delim != ' ' && is_pad(s[i], delim)) i++;
            if (delim == ' ') {
                if (i < n && !is_blank(s[i]))
                    return vf__error(VF_ERR_FORMAT, "%s:%zu:%zu: text after a closing quote", name, lineno, col);
            } else if (i < n && s[i] != delim) {
                return vf__error(VF_ERR_FORMAT, "%s:%zu:%zu: text after a closing quote", name, lineno, col);
            }
        } else {
            start = s + i;
            if (delim == ' ') while (i < n && !is_blank(s[i])) i++;
            else while (i < n && s[i] != delim) i++;
            len = (size_t)(s + i - start);
            while (len > 0 && is_blank(start[len - 1])) len--;
        }
        if (push_field(v, start, len, quoted)) return vf__error(VF_ERR_NOMEM, "%s: out of memory", name);
        if (delim == ' ') {
            while (i < n && is_blank(s[i])) i++;
            if (i >= n) return VF_OK;
        } else {
            if (i >= n) return VF_OK;
            i++; /* the delimiter; a trailing one makes an empty last field */
        }
    }
}

/* Copy of a field's text with "" pairs folded (owned, NUL-terminated), or NULL. */
static char *field_text(const field *f)
{
    char *t = vf_malloc(f->n + 1);
    if (!t) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < f->n; i++) {
        t[j++] = f->p[i];
        if (f->quoted && f->p[i] == '"' && i + 1 < f->n && f->p[i + 1] == '"') i++;
    }
    t[j] = 0;
    return t;
}

/* Parse a field as a number. Quoted fields hold no quotes when numeric, so no folding is needed. */
static int field_number(const field *f, double *v)
{
    const char *p = f->p;
    size_t n = f->n;
    if (f->quoted) {
        while (n > 0 && is_blank(*p)) { p++; n--; }
        while (n > 0 && is_blank(p[n - 1])) n--;
    }
    return vf__parse_double(p, n, v);
}

static char detect_delimiter(const char *s, size_t n)
{
    size_t count[3] = {0, 0, 0};
    const char cand[3] = {',', ';', '\t'};
    int inq = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') inq = !inq;
        else if (!inq)
            for (int k = 0; k < 3; k++) count[k] += s[i] == cand[k];
    }
    for (int k = 0; k < 3; k++)
        if (count[k]) return cand[k];
    return ' ';
}

vf_status vf_parse_csv(const char *name, const char *text, size_t len, const vf_csv_options *opt,
                       vf_tensor *out, vf_strlist *names)
{
    vf_csv_options o = opt ? *opt : vf_csv_default_options();
    if (!name) name = "<csv>";
    if (!out || (!text && len)) return vf__error(VF_ERR_ARG, "%s: NULL argument", name);
    memset(out, 0, sizeof *out);
    if (names) { names->n = 0; names->items = NULL; }
    if (o.delimiter != 0 && o.delimiter != ',' && o.delimiter != ';' && o.delimiter != '\t' && o.delimiter != ' ')
        return vf__error(VF_ERR_ARG, "%s: unsupported delimiter (use ',', ';', tab or space)", name);
    if ((unsigned)o.header > VF_CSV_HEADER_NO) return vf__error(VF_ERR_ARG, "%s: bad header option", name);

    fieldvec fv = {NULL, 0, 0};
    vf_real *vals = NULL;
    size_t nvals = 0, capvals = 0, rows = 0, d = 0, first_data_line = 0, lineno = 0, pos = 0;
    int have_first = 0;
    char delim = o.delimiter;
    vf_status s = VF_OK;
    char ex[64];

    const char *zero = len ? memchr(text, 0, len) : NULL;
    if (zero) { /* a binary file given as a table: say so rather than fail on its first field */
        size_t line_of_zero = 1;
        for (const char *c = text; c < zero; c++) line_of_zero += *c == '\n';
        return vf__error(VF_ERR_FORMAT, "%s: line %zu holds a zero byte: binary data, not CSV text", name,
                         line_of_zero);
    }
    if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB && (unsigned char)text[2] == 0xBF)
        pos = 3;
    while (pos < len && s == VF_OK) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        lineno++;
        if (n > 0 && line[n - 1] == '\r') n--;
        size_t k = 0;
        while (k < n && is_blank(line[k])) k++;
        if (k == n) continue;                                   /* blank line */
        if (o.comment && line[k] == o.comment) continue;        /* comment line */
        if (!delim) delim = detect_delimiter(line, n);
        if ((s = split(name, lineno, line, n, delim, &fv)) != VF_OK) break;

        if (!have_first) {
            have_first = 1;
            d = fv.n;
            int header = o.header == VF_CSV_HEADER_YES;
            if (o.header == VF_CSV_HEADER_AUTO)
                for (size_t j = 0; j < fv.n && !header; j++) {
                    double v;
                    if (fv.f[j].n > 0 && field_number(&fv.f[j], &v)) header = 1;
                }
            if (header) {
                if (names) {
                    names->items = vf_calloc(d, sizeof *names->items);
                    if (!names->items) { s = vf__error(VF_ERR_NOMEM, "%s: out of memory", name); break; }
                    names->n = (int64_t)d;
                    for (size_t j = 0; j < d; j++)
                        if (!(names->items[j] = field_text(&fv.f[j]))) {
                            s = vf__error(VF_ERR_NOMEM, "%s: out of memory", name);
                            break;
                        }
                }
                continue;
            }
        }
        if (!first_data_line) {
            first_data_line = lineno;
            if (fv.n != d) {
                s = vf__error(VF_ERR_FORMAT, "%s:%zu: %zu fields, but the header has %zu", name, lineno, fv.n, d);
                break;
            }
        }
        if (fv.n != d) {
            s = vf__error(VF_ERR_FORMAT, "%s:%zu: %zu fields, expected %zu (as on line %zu)", name, lineno, fv.n,
                          d, first_data_line);
            break;
        }
        if (nvals + d > capvals) {
            size_t c = capvals ? capvals : 1024;
            while (c < nvals + d) c *= 2;
            size_t bytes;
            vf_real *nv = vf__mul_size(c, sizeof *nv, &bytes) ? NULL : vf_realloc(vals, bytes);
            if (!nv) { s = vf__error(VF_ERR_NOMEM, "%s: out of memory", name); break; }
            vals = nv;
            capvals = c;
        }
        for (size_t j = 0; j < d; j++) {
            const field *f = &fv.f[j];
            double v;
            if (f->n == 0) {
                s = vf__error(VF_ERR_FORMAT, "%s:%zu:%zu: empty field", name, lineno, j + 1);
                break;
            }
            if (field_number(f, &v)) {
                s = vf__error(VF_ERR_FORMAT, "%s:%zu:%zu: '%s' is not a number", name, lineno, j + 1,
                              excerpt(f->p, f->n, ex, sizeof ex));
                break;
            }
            vf_real r = (vf_real)v;
            if (!o.allow_nonfinite && !isfinite(r)) {
                s = vf__error(VF_ERR_NUMERIC, "%s:%zu:%zu: '%s' is %s", name, lineno, j + 1,
                              excerpt(f->p, f->n, ex, sizeof ex),
                              isfinite(v) ? "out of range for this build's precision" : "not a finite number");
                break;
            }
            vals[nvals++] = r;
        }
        rows++;
    }
    vf_free(fv.f);
    if (s == VF_OK && !have_first) s = vf__error(VF_ERR_FORMAT, "%s: no data (the file is empty)", name);
    if (s == VF_OK && rows == 0) s = vf__error(VF_ERR_FORMAT, "%s: a header but no data rows", name);
    if (s) {
        vf_free(vals);
        if (names) vf_strlist_free(names);
        return s;
    }
    int64_t shape[2] = {(int64_t)rows, (int64_t)d};
    *out = vf_tensor_wrap(vals, 2, shape);
    out->owned = vals;
    return VF_OK;
}

vf_status vf_read_csv(const char *path, const vf_csv_options *opt, vf_tensor *out, vf_strlist *names)
{
    if (!out) return vf__error(VF_ERR_ARG, "vf_read_csv: NULL output");
    memset(out, 0, sizeof *out);
    if (names) { names->n = 0; names->items = NULL; }
    unsigned char *data;
    size_t len;
    vf_status s = vf__read_file(path, &data, &len);
    if (s) return s;
    s = vf_parse_csv(path, (const char *)data, len, opt, out, names);
    vf_free(data);
    return s;
}

static void put_name(vf__buf *b, const char *s)
{
    /* Quoted when it holds a blank (with one column, the reader would take blanks for the
     * delimiter), a delimiter, a quote, a line break or the comment character. */
    int quote = 0;
    for (const char *p = s; *p; p++)
        if (is_blank(*p) || *p == ',' || *p == '"' || *p == '\n' || *p == '\r' || *p == ';' || *p == '#') quote = 1;
    if (!quote) { vf__buf_puts(b, s); return; }
    vf__buf_put(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"') vf__buf_put(b, "\"", 1);
        vf__buf_put(b, p, 1);
    }
    vf__buf_put(b, "\"", 1);
}

vf_status vf_write_csv(const char *path, const vf_tensor *x, const char *const *names)
{
    if (!x || !path) return vf__error(VF_ERR_ARG, "vf_write_csv: NULL argument");
    if (x->ndim != 1 && x->ndim != 2)
        return vf__error(VF_ERR_SHAPE, "%s: CSV needs a [n] or [n, d] tensor, got %d dimensions", path, x->ndim);
    int64_t n = x->shape[0], d = x->ndim == 2 ? x->shape[1] : 1;
    int64_t s0 = x->stride[0], s1 = x->ndim == 2 ? x->stride[1] : 0;
    vf__atomic a;
    vf_status s = vf__atomic_begin(&a, path);
    if (s) return s;
    vf__buf b;
    vf__buf_init(&b);
    if (names) {
        for (int64_t j = 0; j < d; j++) {
            if (j) vf__buf_put(&b, ",", 1);
            put_name(&b, names[j] ? names[j] : "");
        }
        vf__buf_put(&b, "\n", 1);
    }
    for (int64_t i = 0; i < n && s == VF_OK; i++) {
        for (int64_t j = 0; j < d; j++) {
            if (j) vf__buf_put(&b, ",", 1);
            vf__buf_real(&b, (double)x->data[i * s0 + j * s1]);
        }
        vf__buf_put(&b, "\n", 1);
        if (b.failed) break;
        if (b.len >= (1u << 20)) {
            s = vf__atomic_write(&a, b.data, b.len);
            b.len = 0;
        }
    }
    if (s == VF_OK && b.failed) {
        s = vf__error(VF_ERR_NOMEM, "%s: out of memory", path);
        vf__atomic_abort(&a);
    }
    if (s == VF_OK && b.len) s = vf__atomic_write(&a, b.data, b.len);
    vf__buf_free(&b);
    if (s == VF_OK) s = vf__atomic_commit(&a);
    return s;
}
