/* json.c — strict recursive-descent JSON parser with bounded depth and bounds-checked reads. */
#include <stdio.h>
#include "json.h"
#include "io_internal.h"

typedef struct parser {
    const char *s;
    size_t len, pos;
    int depth, max_depth;
} parser;

static vf_status fail(const parser *p, const char *what)
{
    return vf__error(VF_ERR_FORMAT, "offset %zu: %s", p->pos, what);
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int peek(const parser *p) { return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1; }

static void free_node(vf__json *v)
{
    if (v->type == VF__JSON_ARRAY || v->type == VF__JSON_OBJECT) {
        for (size_t i = 0; i < v->n; i++) {
            free_node(&v->items[i]);
            if (v->keys) vf_free(v->keys[i]);
        }
        vf_free(v->items);
        vf_free(v->keys);
        vf_free(v->key_lens);
    }
    vf_free(v->str);
    memset(v, 0, sizeof *v);
}

static int hex4(parser *p, uint32_t *out)
{
    if (p->len - p->pos < 4) return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos + (size_t)i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return -1;
    }
    p->pos += 4;
    *out = v;
    return 0;
}

static void put_utf8(vf__buf *b, uint32_t cp)
{
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (unsigned char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (unsigned char)(0xC0 | (cp >> 6)); u[1] = (unsigned char)(0x80 | (cp & 63)); n = 2; }
    else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12)); u[1] = (unsigned char)(0x80 | ((cp >> 6) & 63));
        u[2] = (unsigned char)(0x80 | (cp & 63)); n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | (cp >> 18)); u[1] = (unsigned char)(0x80 | ((cp >> 12) & 63));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 63)); u[3] = (unsigned char)(0x80 | (cp & 63)); n = 4;
    }
    vf__buf_put(b, u, n);
}

/* Parse a string literal at p->pos (which is '"') into an owned NUL-terminated buffer. */
static vf_status parse_string(parser *p, char **out, size_t *out_len)
{
    vf__buf b;
    vf__buf_init(&b);
    p->pos++; /* opening quote */
    for (;;) {
        if (p->pos >= p->len) { vf__buf_free(&b); return fail(p, "unterminated string"); }
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') { p->pos++; break; }
        if (c < 0x20) { vf__buf_free(&b); return fail(p, "control character in string"); }
        if (c != '\\') {
            size_t start = p->pos;
            while (p->pos < p->len && p->s[p->pos] != '"' && p->s[p->pos] != '\\' &&
                   (unsigned char)p->s[p->pos] >= 0x20)
                p->pos++;
            vf__buf_put(&b, p->s + start, p->pos - start);
            continue;
        }
        p->pos++;
        if (p->pos >= p->len) { vf__buf_free(&b); return fail(p, "unterminated escape"); }
        char e = p->s[p->pos++];
        switch (e) {
        case '"': vf__buf_put(&b, "\"", 1); break;
        case '\\': vf__buf_put(&b, "\\", 1); break;
        case '/': vf__buf_put(&b, "/", 1); break;
        case 'b': vf__buf_put(&b, "\b", 1); break;
        case 'f': vf__buf_put(&b, "\f", 1); break;
        case 'n': vf__buf_put(&b, "\n", 1); break;
        case 'r': vf__buf_put(&b, "\r", 1); break;
        case 't': vf__buf_put(&b, "\t", 1); break;
        case 'u': {
            uint32_t cp, lo;
            if (hex4(p, &cp)) { vf__buf_free(&b); return fail(p, "bad \\u escape"); }
            if (cp >= 0xDC00 && cp <= 0xDFFF) { vf__buf_free(&b); return fail(p, "lone low surrogate"); }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->len - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                    vf__buf_free(&b);
                    return fail(p, "high surrogate without its low half");
                }
                p->pos += 2;
                if (hex4(p, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                    vf__buf_free(&b);
                    return fail(p, "bad low surrogate");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(&b, cp);
            break;
        }
        default: vf__buf_free(&b); p->pos--; return fail(p, "unknown escape");
        }
    }
    if (b.failed) { vf__buf_free(&b); return vf__error(VF_ERR_NOMEM, "out of memory parsing JSON"); }
    if (!b.data) vf__buf_put(&b, "", 0);
    if (b.failed) { vf__buf_free(&b); return vf__error(VF_ERR_NOMEM, "out of memory parsing JSON"); }
    *out = b.data;
    *out_len = b.len;
    return VF_OK;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

static vf_status parse_number(parser *p, vf__json *v)
{
    size_t start = p->pos;
    if (peek(p) == '-') p->pos++;
    if (peek(p) == '0') p->pos++;
    else if (is_digit(peek(p))) while (is_digit(peek(p))) p->pos++;
    else return fail(p, "bad number");
    if (peek(p) == '.') {
        p->pos++;
        if (!is_digit(peek(p))) return fail(p, "bad number: digit expected after '.'");
        while (is_digit(peek(p))) p->pos++;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->pos++;
        if (peek(p) == '+' || peek(p) == '-') p->pos++;
        if (!is_digit(peek(p))) return fail(p, "bad number: digit expected in exponent");
        while (is_digit(peek(p))) p->pos++;
    }
    size_t n = p->pos - start;
    if (vf__parse_double(p->s + start, n, &v->number)) return fail(p, "number too long");
    v->str = vf_malloc(n + 1);
    if (!v->str) return vf__error(VF_ERR_NOMEM, "out of memory parsing JSON");
    memcpy(v->str, p->s + start, n);
    v->str[n] = 0;
    v->len = n;
    v->type = VF__JSON_NUMBER;
    return VF_OK;
}

static int match(parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) return 0;
    p->pos += n;
    return 1;
}

static vf_status parse_value(parser *p, vf__json *v);

/* Append a zeroed slot to a container; returns it or NULL on allocation failure. */
static vf__json *push(vf__json *v, size_t *cap, int with_key)
{
    if (v->n == *cap) {
        size_t c = *cap ? *cap * 2 : 4;
        vf__json *items = vf_realloc(v->items, c * sizeof *items);
        if (!items) return NULL;
        v->items = items;
        if (with_key) {
            char **keys = vf_realloc(v->keys, c * sizeof *keys);
            if (!keys) return NULL;
            v->keys = keys;
            size_t *kl = vf_realloc(v->key_lens, c * sizeof *kl);
            if (!kl) return NULL;
            v->key_lens = kl;
        }
        *cap = c;
    }
    vf__json *slot = &v->items[v->n];
    memset(slot, 0, sizeof *slot);
    if (with_key) { v->keys[v->n] = NULL; v->key_lens[v->n] = 0; }
    v->n++;
    return slot;
}

static vf_status parse_container(parser *p, vf__json *v, int object)
{
    char close = object ? '}' : ']';
    if (++p->depth > p->max_depth) return fail(p, "nested too deeply");
    v->type = object ? VF__JSON_OBJECT : VF__JSON_ARRAY;
    p->pos++;
    size_t cap = 0;
    skip_ws(p);
    if (peek(p) == close) { p->pos++; p->depth--; return VF_OK; }
    for (;;) {
        skip_ws(p);
        vf__json *slot = push(v, &cap, object);
        if (!slot) return vf__error(VF_ERR_NOMEM, "out of memory parsing JSON");
        vf_status s;
        if (object) {
            if (peek(p) != '"') return fail(p, "object key (a string) expected");
            if ((s = parse_string(p, &v->keys[v->n - 1], &v->key_lens[v->n - 1])) != VF_OK) return s;
            skip_ws(p);
            if (peek(p) != ':') return fail(p, "':' expected");
            p->pos++;
            skip_ws(p);
        }
        if ((s = parse_value(p, slot)) != VF_OK) return s;
        skip_ws(p);
        int c = peek(p);
        if (c == ',') { p->pos++; continue; }
        if (c == close) { p->pos++; break; }
        return fail(p, object ? "',' or '}' expected" : "',' or ']' expected");
    }
    p->depth--;
    return VF_OK;
}

static vf_status parse_value(parser *p, vf__json *v)
{
    skip_ws(p);
    int c = peek(p);
    switch (c) {
    case -1: return fail(p, "unexpected end of text");
    case '{': return parse_container(p, v, 1);
    case '[': return parse_container(p, v, 0);
    case '"': v->type = VF__JSON_STRING; return parse_string(p, &v->str, &v->len);
    case 't': if (match(p, "true")) { v->type = VF__JSON_BOOL; v->boolean = 1; return VF_OK; } break;
    case 'f': if (match(p, "false")) { v->type = VF__JSON_BOOL; v->boolean = 0; return VF_OK; } break;
    case 'n': if (match(p, "null")) { v->type = VF__JSON_NULL; return VF_OK; } break;
    default:
        if (c == '-' || is_digit(c)) return parse_number(p, v);
    }
    return fail(p, "unexpected character");
}

vf_status vf__json_parse(const char *text, size_t len, int max_depth, vf__json **out)
{
    *out = NULL;
    parser p = {text, len, 0, 0, max_depth};
    vf__json *root = vf_calloc(1, sizeof *root);
    if (!root) return vf__error(VF_ERR_NOMEM, "out of memory parsing JSON");
    vf_status s = parse_value(&p, root);
    if (s == VF_OK) {
        skip_ws(&p);
        if (p.pos != p.len) s = fail(&p, "unexpected text after the value");
    }
    if (s) {
        vf__json_free(root);
        return s;
    }
    *out = root;
    return VF_OK;
}

void vf__json_free(vf__json *v)
{
    if (!v) return;
    free_node(v);
    vf_free(v);
}

const vf__json *vf__json_get(const vf__json *v, const char *key)
{
    if (!v || v->type != VF__JSON_OBJECT) return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < v->n; i++)
        if (v->key_lens[i] == kl && memcmp(v->keys[i], key, kl) == 0) return &v->items[i];
    return NULL;
}

int vf__json_int64(const vf__json *v, int64_t *out)
{
    if (!v || v->type != VF__JSON_NUMBER) return -1;
    const char *s = v->str;
    int neg = 0;
    if (*s == '-') { neg = 1; s++; }
    if (!*s) return -1;
    uint64_t acc = 0;
    for (; *s; s++) {
        if (!is_digit((unsigned char)*s)) return -1;
        unsigned d = (unsigned)(*s - '0');
        if (acc > (UINT64_MAX - d) / 10) return -1;
        acc = acc * 10 + d;
    }
    if (neg) {
        if (acc > (uint64_t)INT64_MAX + 1) return -1;
        *out = acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc;
    } else {
        if (acc > (uint64_t)INT64_MAX) return -1;
        *out = (int64_t)acc;
    }
    return 0;
}
