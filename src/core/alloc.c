/* alloc.c — replaceable allocator hooks; every allocation in varflow goes through here. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static void *default_alloc(size_t size, void *user) { (void)user; return malloc(size); }
static void *default_realloc(void *p, size_t size, void *user) { (void)user; return realloc(p, size); }
static void default_free(void *p, void *user) { (void)user; free(p); }

static vf_allocator hooks = {default_alloc, default_realloc, default_free, NULL};

void vf_set_allocator(const vf_allocator *a)
{
    if (a && a->alloc && a->realloc && a->free) hooks = *a;
    else hooks = (vf_allocator){default_alloc, default_realloc, default_free, NULL};
}

void *vf_malloc(size_t size)
{
    void *p = hooks.alloc(size ? size : 1, hooks.user);
    if (!p) vf__error(VF_ERR_NOMEM, "out of memory (%zu bytes)", size);
    return p;
}

void *vf_calloc(size_t n, size_t size)
{
    size_t bytes;
    if (vf__mul_size(n, size, &bytes)) {
        vf__error(VF_ERR_NOMEM, "allocation size overflows (%zu x %zu)", n, size);
        return NULL;
    }
    void *p = vf_malloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void *vf_realloc(void *p, size_t size)
{
    void *q = hooks.realloc(p, size ? size : 1, hooks.user);
    if (!q) vf__error(VF_ERR_NOMEM, "out of memory (%zu bytes)", size);
    return q;
}

void vf_free(void *p)
{
    if (p) hooks.free(p, hooks.user);
}
