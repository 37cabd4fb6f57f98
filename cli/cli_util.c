/* cli_util.c — what the subcommands share: error lines, strict number parsing, the common options. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

/* Writes "varflow[ cmd]: message[suffix]" as one line on stderr (newlines in the message become spaces);
 * on a process other than rank 0 of a shared fit, "varflow[ cmd] (process R of K): ...". */
static void error_line(const char *cmd, const char *suffix, const char *fmt, va_list ap)
{
    char msg[1024], who[64] = "";
    vsnprintf(msg, sizeof msg, fmt, ap);
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    if (cli_mpi_rank() > 0) snprintf(who, sizeof who, " (process %d of %d)", cli_mpi_rank(), cli_mpi_size());
    if (cmd)
        fprintf(stderr, "varflow %s%s: %s%s\n", cmd, who, msg, suffix ? suffix : "");
    else
        fprintf(stderr, "varflow%s: %s%s\n", who, msg, suffix ? suffix : "");
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char suffix[128];
    if (cmd)
        snprintf(suffix, sizeof suffix, " (see varflow %s --help)", cmd);
    else
        snprintf(suffix, sizeof suffix, " (see varflow --help)");
    if (cli_mpi_rank() > 0) return 2; /* the same arguments: rank 0 prints the same usage error */
    va_list ap;
    va_start(ap, fmt);
    error_line(cmd, suffix, fmt, ap);
    va_end(ap);
    return 2;
}

int cli_runtime_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_line(cmd, NULL, fmt, ap);
    va_end(ap);
    return 1;
}

/* A number must start with a digit, a sign or a dot (no blanks, no empty string) and be written in
 * decimal: strtod would also take hexadecimal ("0x10", "0x1p-3"). */
static int number_start(const char *s)
{
    return s && (isdigit((unsigned char)*s) || *s == '-' || *s == '+' || *s == '.') &&
           strspn(s, "0123456789+-.eE") == strlen(s);
}

int cli_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!number_start(s)) return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s) return -1;
    if (*end == 'e' || *end == 'E') {
        /* "1e5": accepted when the value is a whole number in range. */
        double d;
        if (cli_parse_double(s, &d) || d != floor(d) || d < (double)lo || d > (double)hi) return -1;
        if (d >= 9223372036854775808.0 || d < -9223372036854775808.0) return -1; /* the cast would overflow */
        *out = (int64_t)d;
        return 0;
    }
    if (*end != '\0' || errno == ERANGE || v < lo || v > hi) return -1;
    *out = (int64_t)v;
    return 0;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s)) return -1;   /* strtoull would accept "-1" and wrap */
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end != s && (*end == 'e' || *end == 'E')) {
        /* "1e5": accepted when the value is a whole number in range, as for the signed options */
        double d;
        if (cli_parse_double(s, &d) || d != floor(d) || d >= 18446744073709551616.0) return -1;
        *out = (uint64_t)d;
        return 0;
    }
    if (end == s || *end != '\0' || errno == ERANGE) return -1;
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_double(const char *s, double *out)
{
    if (!number_start(s)) return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v)) return -1;
    if (errno == ERANGE && fabs(v) >= 1.0) return -1;   /* overflow; gradual underflow is accepted */
    *out = v;
    return 0;
}

int cli_is_option(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

int cli_looks_like_option(const char *arg)
{
    if (arg[0] != '-' || arg[1] == '\0') return 0;
    return !(isdigit((unsigned char)arg[1]) || arg[1] == '.');
}

const char *cli_option_value(const char *cmd, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    if (arg[0] == '-' && arg[1] == '-' && eq) return eq + 1;
    if (*i + 1 >= argc) {
        cli_usage_error(cmd, "option %s needs a value", arg);
        return NULL;
    }
    *i += 1;
    return argv[*i];
}

/* Copies the option's name (up to any '=') into buf for messages. */
static const char *option_name(const char *arg, char *buf, size_t len)
{
    size_t n = strcspn(arg, "=");
    if (n >= len) n = len - 1;
    memcpy(buf, arg, n);
    buf[n] = '\0';
    return buf;
}

static int flag_without_value(const char *cmd, const char *arg)
{
    if (strchr(arg, '=')) {
        char name[64];
        cli_usage_error(cmd, "option %s takes no value", option_name(arg, name, sizeof name));
        return -1;
    }
    return 1;
}

int cli_common_option(const char *cmd, int argc, char **argv, int *i, cli_common *c)
{
    const char *arg = argv[*i];
    char name[64];
    if (cli_is_option(arg, "--seed")) {
        const char *v = cli_option_value(cmd, argc, argv, i);
        if (!v) return -1;
        if (cli_parse_u64(v, &c->seed)) {
            cli_usage_error(cmd, "%s: '%s' is not a non-negative integer", option_name(arg, name, sizeof name), v);
            return -1;
        }
        c->have_seed = 1;
        return 1;
    }
    if (cli_is_option(arg, "--threads")) {
        const char *v = cli_option_value(cmd, argc, argv, i);
        if (!v) return -1;
        int64_t t;
        if (cli_parse_i64(v, 0, 4096, &t)) {
            cli_usage_error(cmd, "%s: '%s' is not a thread count in 0..4096",
                            option_name(arg, name, sizeof name), v);
            return -1;
        }
        c->threads = (int)t;
        return 1;
    }
    if (cli_is_option(arg, "--json")) {
        c->json = 1;
        return flag_without_value(cmd, arg);
    }
    if (cli_is_option(arg, "--quiet")) {
        c->quiet = 1;
        return flag_without_value(cmd, arg);
    }
    return 0;
}

int cli_show_progress(const cli_common *c) { return isatty(2) && !c->quiet; }

void cli_print_common_help(FILE *out)
{
    fputs("\n"
          "Common options:\n"
          "  --seed S        random seed, a non-negative integer (default 0); the same seed gives the same output\n"
          "  --threads T     worker threads (0: the library default)\n"
          "  --json          print one JSON object on stdout at the end, and nothing else on stdout\n"
          "  --quiet         no progress or summary lines\n"
          "  -h, --help      this help\n",
          out);
}

void cli_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

const char *cli_extension(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    return (dot && dot != base) ? dot + 1 : "";
}

int cli_file_option(const char *cmd, int argc, char **argv, int *i, const cli_file_opt *opts)
{
    const char *arg = argv[*i];
    for (const cli_file_opt *o = opts; o->name; o++) {
        int match = strcmp(o->name, "-o") == 0 ? strcmp(arg, "-o") == 0 || cli_is_option(arg, "--output")
                                               : cli_is_option(arg, o->name);
        if (!match) continue;
        const char *v = cli_option_value(cmd, argc, argv, i);
        if (!v) return -1;
        if (!*v) {
            cli_usage_error(cmd, "%s: empty file name", arg);
            return -1;
        }
        *o->value = v;
        return 1;
    }
    return 0;
}

int cli_check_table_name(const char *cmd, const char *option, const char *path)
{
    const char *ext = cli_extension(path);
    if (strcasecmp(ext, "csv") == 0 || strcasecmp(ext, "npy") == 0) return 0;
    return cli_usage_error(cmd, "%s %s: the file name must end in .csv or .npy", option, path);
}

/* Why the file path cannot be written (into why [size]), or 0 when it can: path is a folder, or the
 * folder that would hold it is missing, is not a folder, or refuses a new file. The last is tried, not
 * guessed from permission bits (which root ignores and a read-only file system overrides): a probe
 * file is created there and removed at once. Files written in place need no new file there: an
 * existing device, pipe or socket (/dev/null, /dev/stdout, a shell's >(...)), and with in_place (a
 * --log, appended to or rewritten by fopen) an existing regular file, which must open for appending. */
static int output_problem(const char *path, int in_place, char *why, size_t size)
{
    char dir[4096], probe[4200];
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode) && (!S_ISREG(st.st_mode) || in_place)) {
        if (!S_ISREG(st.st_mode)) return 0;
        FILE *f = fopen(path, "a"); /* changes nothing */
        if (!f) return snprintf(why, size, "%s", strerror(errno)), 1;
        fclose(f);
        return 0;
    }
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 1;
    if (slash && len == 0) len = 1; /* "/name" */
    if (len >= sizeof dir) return snprintf(why, size, "its folder's name is too long"), 1;
    memcpy(dir, slash ? path : ".", len);
    dir[len] = '\0';
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return snprintf(why, size, "it is a folder"), 1;
    if (stat(dir, &st) != 0) return snprintf(why, size, "its folder %s: %s", dir, strerror(errno)), 1;
    if (!S_ISDIR(st.st_mode)) return snprintf(why, size, "%s is not a folder", dir), 1;
    snprintf(probe, sizeof probe, "%s/.varflow-probe-XXXXXX", dir);
    int fd = mkstemp(probe);
    if (fd < 0) return snprintf(why, size, "its folder %s does not take new files: %s", dir, strerror(errno)), 1;
    close(fd);
    unlink(probe);
    return 0;
}

const char *cli_valued_option(const char *arg, const char *const *valued)
{
    if (strcmp(arg, "-o") == 0) return "--output";
    for (int k = 0; valued[k]; k++)
        if (strcmp(arg, valued[k]) == 0 || (valued[k][1] == '-' && cli_is_option(arg, valued[k]))) return valued[k];
    return NULL;
}

int cli_take_valued(const char *cmd, int argc, char **argv, int *i, const char *const *valued, const char **name,
                    const char **value)
{
    const char *arg = argv[*i];
    if (!(*name = cli_valued_option(arg, valued))) {
        if (cli_looks_like_option(arg)) return cli_usage_error(cmd, "unknown option '%s'", arg);
        return cli_usage_error(cmd, "unexpected argument '%s'", arg);
    }
    return (*value = cli_option_value(cmd, argc, argv, i)) ? 0 : 2;
}

cli_lp_summary cli_lp_summarize(const vf_real *lp, int64_t n)
{
    cli_lp_summary s = {0, NAN, INFINITY, -INFINITY, n, 0};
    double m2 = 0, other = 0; /* other: the sum of the rows that are not finite */
    int64_t finite = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = (double)lp[i];
        s.lo = fmin(s.lo, v);
        s.hi = fmax(s.hi, v);
        if (!isfinite(v)) { /* a running mean would turn -inf - -inf into NaN */
            s.outside += v == -INFINITY;
            other += v;
            continue;
        }
        double delta = v - s.mean;
        s.mean += delta / (double)++finite;
        m2 += delta * (v - s.mean);
    }
    if (finite < n) s.mean = other; /* -inf when rows lie outside the support */
    else if (n > 1) s.se = sqrt(m2 / (double)(n - 1) / (double)n);
    return s;
}

void cli_lp_print_json(const cli_lp_summary *s)
{
    const char *const keys[4] = {"mean_log_prob", "stderr", "min", "max"};
    const double values[4] = {s->mean, s->se, s->lo, s->hi};
    for (int k = 0; k < 4; k++) { /* all digits: a double build's values survive the round trip */
        printf("%s\"%s\":", k ? "," : "", keys[k]);
        if (isfinite(values[k])) printf("%.17g", values[k]);
        else fputs("null", stdout);
    }
}

void cli_lp_print_text(const cli_lp_summary *s)
{
    if (isfinite(s->se)) printf("  mean log-density  %.6f +- %.6f (standard error)\n", s->mean, s->se);
    else if (s->outside > 0)
        printf("  mean log-density  %.6f (%lld of %lld rows at -inf: outside the support, or too far out)\n", s->mean, (long long)s->outside,
               (long long)s->rows);
    else if (s->rows == 1) printf("  mean log-density  %.6f (no standard error from one row)\n", s->mean);
    else printf("  mean log-density  %.6f (no standard error)\n", s->mean);
    printf("  min %.6f  max %.6f\n", s->lo, s->hi);
}

/* ---- outputs that would overwrite another file of the command ----------------------------------- */

/* The options of `cmd` that name files it writes (NULL-terminated), or NULL. */
static const char *const *output_options(const char *cmd)
{
    static const char *const fit[] = {"--output", "--log", "--checkpoint", NULL};
    static const char *const vi[] = {"--output", "--samples", "--log", "--checkpoint", NULL};
    static const char *const sample[] = {"--output", "--log-prob", NULL};
    static const char *const logs[] = {"--output", "--log", NULL}; /* mcmc, reflow */
    static const char *const particles[] = {"--output", "--trajectory", "--log", NULL};
    static const char *const output[] = {"--output", NULL};
    static const struct { const char *cmd; const char *const *outputs; } table[] = {
        {"fit", fit}, {"vi", vi}, {"sample", sample}, {"mcmc", logs}, {"reflow", logs}, {"particles", particles},
        {"logprob", output}, {"plot", output}, {"data", output}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].cmd, cmd) == 0) return table[i].outputs;
    return NULL;
}

/* 1 when x and y are one existing file (the same path, a link, another spelling). */
static int same_existing_file(const char *x, const char *y)
{
    struct stat a, b;
    return stat(x, &a) == 0 && stat(y, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* The option name of argument arg in name [size] (option_name's; "-o" as "--output") and *value, the
 * text after a long option's '=' (NULL without one). */
static void split_option(const char *arg, char *name, size_t size, const char **value)
{
    option_name(strcmp(arg, "-o") == 0 ? "--output" : arg, name, size);
    *value = arg[0] == '-' && arg[1] == '-' && strchr(arg, '=') ? strchr(arg, '=') + 1 : NULL;
}

int cli_check_outputs(const char *cmd, int argc, char **argv)
{
    const char *const *outputs = output_options(cmd);
    if (!outputs || argc < 2) return 0;
    /* pass 1: the outputs (option name and path), and the arguments they and --resume's value take */
    enum { MAX_OUTPUTS = 16 };
    char names[MAX_OUTPUTS][64];
    const char *paths[MAX_OUTPUTS];
    int n_out = 0;
    unsigned char *taken = calloc((size_t)argc, 1);
    if (!taken) return cli_runtime_error(cmd, "out of memory");
    for (int i = 1; i < argc; i++) {
        char name[64];
        const char *inline_value;
        split_option(argv[i], name, sizeof name, &inline_value);
        int is_output = 0;
        for (const char *const *o = outputs; *o; o++) is_output |= strcmp(*o, name) == 0;
        /* resuming from a file and writing it again is normal (a checkpoint, or the model itself) */
        if (!is_output && strcmp(name, "--resume") != 0) continue;
        const char *path = inline_value ? inline_value : i + 1 < argc ? argv[i + 1] : NULL;
        taken[i] = 1;
        if (!inline_value && i + 1 < argc) taken[++i] = 1;
        if (is_output && path && *path && n_out < MAX_OUTPUTS) {
            snprintf(names[n_out], sizeof names[n_out], "%s", name);
            paths[n_out++] = path;
        }
    }
    /* pass 2: each output against the other outputs and against every other argument (an input) */
    int rc = 0;
    for (int k = 0; k < n_out && !rc; k++) {
        for (int l = k + 1; l < n_out && !rc; l++)
            if (strcmp(paths[k], paths[l]) == 0 || same_existing_file(paths[k], paths[l]))
                rc = cli_usage_error(cmd, "%s %s would overwrite %s, which the command also writes", names[k], paths[k],
                                     paths[l]);
        for (int j = 1; j < argc && !rc; j++) {
            char name[64];
            const char *value;
            split_option(argv[j], name, sizeof name, &value);
            if (!taken[j] && same_existing_file(value ? value : argv[j], paths[k]))
                rc = cli_usage_error(cmd, "%s %s would overwrite %s, which the command reads", names[k], paths[k],
                                     value ? value : argv[j]);
        }
    }
    /* pass 3: each output can be written, found out before the work rather than after it (on several
     * MPI processes rank 0 alone writes) */
    for (int k = 0; k < n_out && !rc && cli_mpi_rank() == 0; k++) {
        char why[4400];
        if (output_problem(paths[k], strcmp(names[k], "--log") == 0, why, sizeof why))
            rc = cli_runtime_error(cmd, "cannot write %s: %s", paths[k], why);
    }
    free(taken);
    return rc;
}

int cli_write_error(const char *cmd, const char *path)
{
    const char *msg = vf_last_error();
    if (strstr(msg, path)) return cli_runtime_error(cmd, "%s", msg); /* the library's message names the file */
    return cli_runtime_error(cmd, "cannot write %s: %s", path, msg);
}

/* When this process started (main sets it): files written since belong to this run. */
static time_t program_start = 0;

void cli_mark_start(void) { program_start = time(NULL); }

/* 1 when the file exists and was modified since the program started. */
static int written_by_this_run(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && st.st_mtime >= program_start;
}

const char *cli_checkpoint_note(const char *checkpoint, const char *resumed, char *buf, size_t len)
{
    struct stat st;
    if (!checkpoint) snprintf(buf, len, "%s", "");
    else if (written_by_this_run(checkpoint) || (resumed && same_existing_file(checkpoint, resumed)))
        snprintf(buf, len, "; the last good checkpoint %s is unchanged (resume it with --resume and a smaller --lr)",
                 checkpoint);
    else if (stat(checkpoint, &st) == 0)
        snprintf(buf, len, "; this run wrote no checkpoint before that (%s is an older one)", checkpoint);
    else snprintf(buf, len, "; no checkpoint was written before that (%s)", checkpoint);
    return buf;
}
