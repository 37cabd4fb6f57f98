/* cmd_info.c — `varflow info FILE`: what a model file or a data file holds.
 *
 * A model file (safetensors: by name, or by its first bytes whatever the name): its metadata (architecture, training record), every tensor's name,
 * dtype and shape, and the parameter count. A data file (.csv .npy idx, .gz): rows, columns and
 * per-column mean, standard deviation, minimum and maximum. Reading goes through the library's
 * validating readers, so a malformed file ends in one line naming the file and the problem.
 */
#include <math.h>
#include <string.h>
#include "cli.h"
#include "io/io_internal.h"

/* 1 if the file starts as a safetensors file does, whatever its name (`varflow fit -o` takes any):
 * its first 9 bytes and its size, through the readers' own check. */
static int starts_as_safetensors(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char head[9];
    size_t have = fread(head, 1, sizeof head, f);
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    fclose(f);
    return size >= 0 && vf__looks_like_safetensors(head, have, (uint64_t)size);
}

static int info_model(const char *path, const cli_common *c)
{
    vf_st_file *f = NULL;
    if (vf_st_open(path, &f) != VF_OK) return cli_runtime_error("info", "%s", vf_last_error());
    int64_t total = 0, count = vf_st_count(f), state = 0;
    for (int64_t i = 0; i < count; i++) {
        int ndim = 0;
        int64_t shape[8], numel = 1;
        const char *name = vf_st_name(f, i);
        if (strncmp(name, VF_MODEL_STATE_PREFIX, strlen(VF_MODEL_STATE_PREFIX)) == 0) { /* a checkpoint's state */
            state++;
            continue;
        }
        vf_st_info(f, name, NULL, &ndim, shape, NULL);
        for (int k = 0; k < ndim; k++) numel *= shape[k] == 0 ? 0 : 1; /* a zero extent first: no values, */
        for (int k = 0; k < ndim && numel; k++) numel *= shape[k];   /* whatever the others' product */
        total += numel;
    }
    if (c->json) {
        printf("{\"path\":");
        cli_json_string(stdout, path);
        printf(",\"kind\":\"model\",\"params\":%lld,\"state_tensors\":%lld,\"metadata\":{", (long long)total,
               (long long)state);
        for (int64_t i = 0; i < vf_st_meta_count(f); i++) {
            const char *key = vf_st_meta_key(f, i);
            if (i) putchar(',');
            cli_json_string(stdout, key);
            putchar(':');
            cli_json_string(stdout, vf_st_meta(f, key));
        }
        printf("},\"tensors\":[");
    } else {
        printf("%s: model file, %lld tensors, %lld parameters", path, (long long)count, (long long)total);
        if (state) printf(" (a checkpoint: %lld tensors of training state, fit.*)", (long long)state);
        putchar('\n');
        for (int64_t i = 0; i < vf_st_meta_count(f); i++) {
            const char *key = vf_st_meta_key(f, i);
            printf("  %s: %s\n", key, vf_st_meta(f, key));
        }
    }
    for (int64_t i = 0; i < count; i++) {
        const char *name = vf_st_name(f, i), *dtype = "";
        int ndim = 0;
        int64_t shape[8];
        vf_st_info(f, name, NULL, &ndim, shape, &dtype);
        if (c->json) {
            printf("%s{\"name\":", i ? "," : "");
            cli_json_string(stdout, name);
            printf(",\"dtype\":");
            cli_json_string(stdout, dtype);
            printf(",\"shape\":[");
            for (int k = 0; k < ndim; k++) printf("%s%lld", k ? "," : "", (long long)shape[k]);
            printf("]}");
        } else {
            printf("  %-40s %-5s [", name, dtype);
            for (int k = 0; k < ndim; k++) printf("%s%lld", k ? ", " : "", (long long)shape[k]);
            printf("]\n");
        }
    }
    if (c->json) printf("]}\n");
    vf_st_close(f);
    return 0;
}

static int info_data(const char *path, const cli_common *c)
{
    vf_tensor x;
    if (vf_read_table(path, &x) != VF_OK) return cli_runtime_error("info", "%s", vf_last_error());
    int64_t n = x.shape[0], d = x.ndim > 1 ? x.shape[1] : 1;
    if (c->json) {
        printf("{\"path\":");
        cli_json_string(stdout, path);
        printf(",\"kind\":\"data\",\"n\":%lld,\"dim\":%lld", (long long)n, (long long)d);
    } else {
        printf("%s: data, %lld rows x %lld columns\n", path, (long long)n, (long long)d);
        if (n > 0) printf("  %-6s %14s %14s %14s %14s\n", "column", "mean", "std", "min", "max");
    }
    static const char *const keys[4] = {"mean", "std", "min", "max"};
    if (n == 0) { /* no statistics of no rows (and the columns may be many: a header's claim) */
        if (c->json) printf(",\"mean\":null,\"std\":null,\"min\":null,\"max\":null}\n");
        vf_tensor_free(&x);
        return 0;
    }
    double *stats = vf_calloc((size_t)(4 * (d ? d : 1)), sizeof *stats);
    if (!stats) {
        vf_tensor_free(&x);
        return cli_runtime_error("info", "out of memory");
    }
    for (int64_t j = 0; j < d; j++) {
        double mean = 0, m2 = 0, lo = INFINITY, hi = -INFINITY;
        for (int64_t i = 0; i < n; i++) { /* Welford: stable for columns with a large offset */
            double v = (double)x.data[i * d + j], delta = v - mean;
            mean += delta / (double)(i + 1);
            m2 += delta * (v - mean);
            lo = fmin(lo, v);
            hi = fmax(hi, v);
        }
        stats[0 * d + j] = mean;
        stats[1 * d + j] = n > 1 ? sqrt(m2 / (double)(n - 1)) : 0.0;
        stats[2 * d + j] = lo;
        stats[3 * d + j] = hi;
        if (!c->json)
            printf("  %-6lld %14.6g %14.6g %14.6g %14.6g\n", (long long)j, mean, stats[d + j], lo, hi);
    }
    if (c->json) {
        for (int s = 0; s < 4; s++) {
            printf(",\"%s\":[", keys[s]);
            for (int64_t j = 0; j < d; j++) printf("%s%.9g", j ? "," : "", stats[s * d + j]);
            printf("]");
        }
        printf("}\n");
    }
    vf_free(stats);
    vf_tensor_free(&x);
    return 0;
}

static void help(FILE *out)
{
    fputs("Usage: varflow info FILE [--json]\n"
          "\n"
          "Describes a model file (safetensors, by its name or its first bytes: metadata such as the\n"
          "architecture, tensors with dtype and shape, parameter count) or a data file (.csv, .npy, IDX,\n"
          "optionally .gz: rows, columns, and each column's mean, standard deviation, minimum and\n"
          "maximum).\n"
          "\n"
          "With --json: a model gives {\"path\", \"kind\": \"model\", \"params\", \"state_tensors\" (a checkpoint's\n"
          "fit.* training state, not counted in params), \"metadata\", \"tensors\"};\n"
          "data gives {\"path\", \"kind\": \"data\", \"n\", \"dim\", \"mean\", \"std\", \"min\", \"max\"} (arrays; null for a file\n"
          "with no rows).\n",
          out);
    cli_print_common_help(out);
}

static int run(int argc, char **argv)
{
    cli_common c = {0};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        int k = cli_common_option("info", argc, argv, &i, &c);
        if (k < 0) return 2;
        if (k > 0) continue;
        if (cli_looks_like_option(argv[i])) return cli_usage_error("info", "unknown option '%s'", argv[i]);
        if (path) return cli_usage_error("info", "one file at a time ('%s' and '%s')", path, argv[i]);
        path = argv[i];
    }
    if (!path) return cli_usage_error("info", "missing FILE");
    int model = vf__ends_with(path, ".safetensors") || starts_as_safetensors(path);
    return model ? info_model(path, &c) : info_data(path, &c);
}

const cli_command cli_cmd_info = {"info", "describe a model file or a data file", run, help};
