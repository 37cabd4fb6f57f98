/* atomic.c — crash-safe file replacement: write a temporary file beside the destination, fsync it,
 * rename it over the destination, fsync the folder. Any failure removes the temporary file and leaves
 * the destination as it was. The temporary files being written are also listed (lock-free slots), so
 * that a program's signal handler can remove them (vf__atomic_remove_pending) before it dies. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "io_internal.h"

/* A slot is free (0), being filled or emptied (1), or holds the name of a temporary file (2); a name
 * longer than a slot, or a write while every slot is taken, is simply not listed. */
enum { PENDING_SLOTS = 16, PENDING_NAME = 4096 };
static char pending_names[PENDING_SLOTS][PENDING_NAME];
static atomic_int pending_state[PENDING_SLOTS];

static int list_pending(const char *tmp)
{
    size_t n = strlen(tmp) + 1;
    for (int k = 0; k < PENDING_SLOTS && n <= PENDING_NAME; k++) {
        int free_slot = 0;
        if (!atomic_compare_exchange_strong(&pending_state[k], &free_slot, 1)) continue;
        memcpy(pending_names[k], tmp, n);
        atomic_store(&pending_state[k], 2);
        return k;
    }
    return -1;
}

static void unlist_pending(vf__atomic *a)
{
    if (a->pending < 0) return;
    atomic_store(&pending_state[a->pending], 1); /* a handler no longer reads the name */
    atomic_store(&pending_state[a->pending], 0);
    a->pending = -1;
}

void vf__atomic_remove_pending(void)
{
    for (int k = 0; k < PENDING_SLOTS; k++)
        if (atomic_load(&pending_state[k]) == 2) unlink(pending_names[k]);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = vf_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

vf_status vf__atomic_begin(vf__atomic *a, const char *path)
{
    memset(a, 0, sizeof *a);
    a->fd = -1;
    a->pending = -1;
    if (!path || !*path) return vf__error(VF_ERR_ARG, "write: empty file name");
    size_t n = strlen(path);
    if (path[n - 1] == '/') return vf__error(VF_ERR_IO, "%s: is a directory, not a file", path);
    a->path = dup_str(path);
    a->tmp = vf_malloc(n + 48);
    if (!a->path || !a->tmp) {
        vf__atomic_abort(a);
        return vf__error(VF_ERR_NOMEM, "%s: out of memory", path);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)a;
    for (int attempt = 0; attempt < 100; attempt++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        snprintf(a->tmp, n + 48, "%s.tmp-%ld-%08llx", path, (long)getpid(),
                 (unsigned long long)(seed >> 32));
        a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (a->fd >= 0) {
            a->pending = list_pending(a->tmp);
            return VF_OK;
        }
        if (errno != EEXIST) break;
    }
    int e = errno;
    vf_free(a->tmp);
    a->tmp = NULL;
    vf__atomic_abort(a);
    return vf__error(VF_ERR_IO, "%s: cannot create a file in its folder: %s", path, strerror(e));
}

vf_status vf__atomic_write(vf__atomic *a, const void *p, size_t n)
{
    const unsigned char *c = p;
    if (a->fd < 0) return vf__error(VF_ERR_STATE, "write: file is not open");
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? (size_t)1 << 30 : n;
        ssize_t w = write(a->fd, c, chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            vf_status s = vf__error(VF_ERR_IO, "%s: write failed: %s", a->path, strerror(e));
            vf__atomic_abort(a);
            return s;
        }
        c += w;
        n -= (size_t)w;
    }
    return VF_OK;
}

static void sync_folder(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir) snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else return;
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

vf_status vf__atomic_commit(vf__atomic *a)
{
    if (a->fd < 0) return vf__error(VF_ERR_STATE, "write: file is not open");
    vf_status s = VF_OK;
    if (fsync(a->fd) != 0) s = vf__error(VF_ERR_IO, "%s: fsync failed: %s", a->path, strerror(errno));
    if (close(a->fd) != 0 && s == VF_OK)
        s = vf__error(VF_ERR_IO, "%s: close failed: %s", a->path, strerror(errno));
    a->fd = -1;
    if (s == VF_OK && rename(a->tmp, a->path) != 0)
        s = vf__error(VF_ERR_IO, "%s: cannot replace: %s", a->path, strerror(errno));
    if (s) {
        vf__atomic_abort(a);
        return s;
    }
    unlist_pending(a);
    sync_folder(a->path);
    vf_free(a->tmp);
    vf_free(a->path);
    a->tmp = a->path = NULL;
    return VF_OK;
}

void vf__atomic_abort(vf__atomic *a)
{
    if (a->fd >= 0) close(a->fd);
    a->fd = -1;
    if (a->tmp) unlink(a->tmp);
    unlist_pending(a);
    vf_free(a->tmp);
    vf_free(a->path);
    a->tmp = a->path = NULL;
}

vf_status vf_atomic_write_file(const char *path, const void *bytes, size_t n)
{
    if (!bytes && n) return vf__error(VF_ERR_ARG, "vf_atomic_write_file: NULL bytes");
    vf__atomic a;
    vf_status s = vf__atomic_begin(&a, path);
    if (s) return s;
    if (n && (s = vf__atomic_write(&a, bytes, n)) != VF_OK) return s;
    return vf__atomic_commit(&a);
}
