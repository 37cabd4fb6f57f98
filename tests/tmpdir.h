/* tmpdir.h — a private temporary folder for the file-format tests, and small helpers to write and
 * read files in it.
 *
 * Usage
 *   #include "tmpdir.h"
 *
 *   int main(void)
 *   {
 *       if (tmpdir_open("vf_csv")) return 1;            // mkdtemp("/tmp/vf_csv_XXXXXX") into `dir`
 *       const char *p = put_text("a.csv", "1,2\n");     // writes <dir>/a.csv, returns its path
 *       put_bytes("b.npy", bytes, n);                   // the same for binary contents
 *       path_of("c.npy");                               // "<dir>/c.npy" without creating it
 *       size_t got = slurp(p, buf, sizeof buf);         // up to cap bytes of a file (0 if absent)
 *       slurp_without_seconds("log.jsonl", t, sizeof t); // a log's text minus its "seconds" values
 *       int k = count_dir_entries(dir);                 // entries other than "." and ".."
 *       tmpdir_close();                                 // removes the files in it, then the folder
 *       return vf_test_summary();
 *   }
 *
 * path_of returns one of 4 rotating static buffers, so up to 4 paths may be held at once.
 * Everything is static inline: each test program includes it once and uses what it needs.
 */
#ifndef VF_TESTS_TMPDIR_H
#define VF_TESTS_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

/* Creates the folder /tmp/<prefix>_XXXXXX; 0 on success, -1 (after perror) on failure. */
static inline int tmpdir_open(const char *prefix)
{
    snprintf(dir, sizeof dir, "/tmp/%s_XXXXXX", prefix);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return -1;
    }
    return 0;
}

/* "<dir>/<name>" in one of 4 rotating buffers. */
static inline const char *path_of(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* Writes n bytes to <dir>/<name>; returns the path. */
static inline const char *put_bytes(const char *name, const void *p, size_t n)
{
    const char *path = path_of(name);
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
    return path;
}

/* Writes a NUL-terminated text to <dir>/<name>; returns the path. */
static inline const char *put_text(const char *name, const char *text)
{
    return put_bytes(name, text, strlen(text));
}

/* Reads up to cap bytes of path into b; returns the count (0 when the file cannot be opened). */
static inline size_t slurp(const char *path, unsigned char *b, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(b, 1, cap, f);
    fclose(f);
    return n;
}

/* The text of <dir>/<name> (up to cap - 1 bytes) into out, NUL-terminated, with every
 * "seconds":<number> removed: training logs of two runs compare equal apart from their timings. */
static inline void slurp_without_seconds(const char *name, char *out, size_t cap)
{
    static char text[1 << 16];
    size_t n = slurp(path_of(name), (unsigned char *)text, sizeof text - 1), k = 0;
    text[n] = '\0';
    for (const char *s = text; *s && k + 1 < cap;) {
        if (strncmp(s, "\"seconds\":", 10) == 0) {
            s += 10;
            while ((*s >= '0' && *s <= '9') || *s == '.') s++;
            continue;
        }
        out[k++] = *s++;
    }
    out[k] = '\0';
}

/* Number of entries of folder d other than "." and "..". */
static inline int count_dir_entries(const char *d)
{
    DIR *dd = opendir(d);
    int n = 0;
    struct dirent *e;
    while (dd && (e = readdir(dd)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (dd) closedir(dd);
    return n;
}

/* Removes the files in the folder (not sub-folders), then the folder. */
static inline void tmpdir_close(void)
{
    DIR *dd = opendir(dir);
    struct dirent *e;
    char p[512];
    while (dd && (e = readdir(dd))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (dd) closedir(dd);
    rmdir(dir);
}

#endif
