/* fuzz_util.h — shared by the libFuzzer targets (tests/fuzz/README.md): the fuzzer's bytes as a file
 * for the readers that take a path. */
#ifndef VF_FUZZ_UTIL_H
#define VF_FUZZ_UTIL_H
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Writes data [size] to a file of this process under $TMPDIR (or /tmp) with the given suffix; returns
 * its path (static storage), or NULL when it cannot be written. */
static const char *fuzz_as_file(const unsigned char *data, size_t size, const char *suffix)
{
    static char path[512];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/vf_fuzz_%ld%s", dir && *dir ? dir : "/tmp", (long)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    int ok = fwrite(data, 1, size, f) == size;
    ok = fclose(f) == 0 && ok;
    return ok ? path : NULL;
}
#endif
