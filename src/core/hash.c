/* hash.c — vf__hash_bytes: FNV-1a, the fingerprint the processes of a data-parallel fit compare. */
#include "internal.h"

uint64_t vf__hash_bytes(uint64_t h, const void *data, size_t n)
{
    const unsigned char *c = data;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ULL;
    return h;
}
