/* file.c — load a whole file (optionally gzip-compressed) into memory, with errors that name it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io_internal.h"
#if VF_HAVE_ZLIB
#include <zlib.h>
#endif

int vf__ends_with(const char *name, const char *suffix)
{
    size_t n = strlen(name), m = strlen(suffix);
    if (m > n) return 0;
    for (size_t i = 0; i < m; i++) {
        char a = name[n - m + i], b = suffix[i];
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
        if (a != b) return 0;
    }
    return 1;
}

vf_status vf__reraise(vf_status s, const char *prefix)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", vf_last_error());
    return vf__error(s, "%s: %s", prefix, msg);
}

/* Grow *buf (capacity *cap) so that it holds at least need bytes plus a NUL. */
static vf_status grow(const char *path, unsigned char **buf, size_t *cap, size_t need)
{
    if (need + 1 <= *cap) return VF_OK;
    if ((uint64_t)need > VF__IO_MAX_BYTES)
        return vf__error(VF_ERR_FORMAT, "%s: larger than %llu bytes", path,
                         (unsigned long long)VF__IO_MAX_BYTES);
    size_t c = *cap ? *cap : 4096;
    while (c < need + 1) c = c > SIZE_MAX / 2 ? need + 1 : c * 2;
    unsigned char *p = vf_realloc(*buf, c);
    if (!p) return vf__error(VF_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, need);
    *buf = p;
    *cap = c;
    return VF_OK;
}

static vf_status open_checked(const char *path, int *fd_out, struct stat *st)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return vf__error(VF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        return vf__error(VF_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st->st_mode)) {
        close(fd);
        return vf__error(VF_ERR_IO, "%s: is a directory, not a file", path);
    }
    *fd_out = fd;
    return VF_OK;
}

static vf_status read_plain(const char *path, unsigned char **data, size_t *len)
{
    int fd = -1;
    struct stat st;
    vf_status s = open_checked(path, &fd, &st);
    if (s) return s;
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    size_t hint = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size : 0;
    s = grow(path, &buf, &cap, hint);
    while (s == VF_OK) {
        if (n + 1 >= cap && (s = grow(path, &buf, &cap, n + 65536)) != VF_OK) break;
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            s = vf__error(VF_ERR_IO, "%s: read failed: %s", path, strerror(errno));
            break;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (s) {
        vf_free(buf);
        return s;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return VF_OK;
}

#if VF_HAVE_ZLIB
static vf_status read_gz(const char *path, unsigned char **data, size_t *len)
{
    int fd;
    struct stat st;
    vf_status s = open_checked(path, &fd, &st);
    if (s) return s;
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return vf__error(VF_ERR_NOMEM, "%s: cannot start decompression", path);
    }
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    size_t hint = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size : 0;
    hint = hint > ((size_t)1 << 28) ? (size_t)1 << 30 : hint * 4; /* a guess; the loop grows as needed */
    s = grow(path, &buf, &cap, hint);
    while (s == VF_OK) {
        if (n + 1 >= cap && (s = grow(path, &buf, &cap, n + n / 2 + 65536)) != VF_OK) break;
        size_t want = cap - 1 - n;
        if (want > (1u << 30)) want = 1u << 30;
        int r = gzread(gz, buf + n, (unsigned)want);
        if (r < 0) {
            int err;
            const char *m = gzerror(gz, &err);
            s = vf__error(VF_ERR_FORMAT, "%s: corrupt gzip data: %s", path, m ? m : "read error");
            break;
        }
        if (r == 0) {
            int err;
            const char *m = gzerror(gz, &err);
            if (err != Z_OK && err != Z_STREAM_END)
                s = vf__error(VF_ERR_FORMAT, "%s: corrupt or truncated gzip data: %s", path,
                              m ? m : "read error");
            break;
        }
        n += (size_t)r;
    }
    gzclose(gz);
    if (s) {
        vf_free(buf);
        return s;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return VF_OK;
}
#endif

vf_status vf__read_file(const char *path, unsigned char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (!path || !*path) return vf__error(VF_ERR_ARG, "read: empty file name");
    if (vf__ends_with(path, ".gz")) {
#if VF_HAVE_ZLIB
        return read_gz(path, data, len);
#else
        return vf__error(VF_ERR_UNSUPPORTED, "%s: this varflow was built without zlib; decompress it first (gunzip)",
                         path);
#endif
    }
    return read_plain(path, data, len);
}
