/* arena.c — bump allocator for per-step intermediates.
 *
 * Memory is a list of chunks. Allocation bumps an offset in the newest chunk, or adds a chunk at
 * least twice the size of the last. vf_arena_reset() keeps only one chunk, sized to hold everything
 * the round before needed, so a training loop reaches a steady state with no allocation per step.
 */
#include <string.h>
#include "internal.h"

#define ARENA_ALIGN 64

typedef struct chunk {
    struct chunk *prev;
    size_t size;    /* usable bytes after the header */
    size_t used;
    void *raw;      /* what vf_malloc returned */
    unsigned char *base;
} chunk;

struct vf_arena {
    chunk *top;
    size_t first;   /* size of a fresh chunk */
    size_t used;    /* bytes handed out since reset */
    size_t peak;    /* largest total used in one round */
};

static chunk *chunk_new(size_t size)
{
    size_t bytes = sizeof(chunk) + size + ARENA_ALIGN;
    if (bytes < size) {
        vf__error(VF_ERR_NOMEM, "arena: chunk of %zu bytes is too large", size);
        return NULL;
    }
    void *raw = vf_malloc(bytes);
    if (!raw) return NULL;
    chunk *c = raw;
    c->prev = NULL;
    c->size = size;
    c->used = 0;
    c->raw = raw;
    uintptr_t p = (uintptr_t)((unsigned char *)raw + sizeof(chunk));
    p = (p + ARENA_ALIGN - 1) & ~(uintptr_t)(ARENA_ALIGN - 1);
    c->base = (unsigned char *)p;
    return c;
}

vf_arena *vf_arena_new(size_t first_chunk_bytes)
{
    vf_arena *a = vf_malloc(sizeof *a);
    if (!a) return NULL;
    a->top = NULL;
    a->first = first_chunk_bytes ? first_chunk_bytes : (size_t)1 << 16;
    a->used = a->peak = 0;
    return a;
}

void vf_arena_free(vf_arena *a)
{
    if (!a) return;
    chunk *c = a->top;
    while (c) {
        chunk *p = c->prev;
        vf_free(c->raw);
        c = p;
    }
    vf_free(a);
}

void *vf_arena_alloc(vf_arena *a, size_t bytes)
{
    if (!a) {
        vf__error(VF_ERR_ARG, "arena: NULL arena");
        return NULL;
    }
    size_t need = (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < bytes) {
        vf__error(VF_ERR_NOMEM, "arena: allocation size overflows");
        return NULL;
    }
    chunk *c = a->top;
    if (!c || c->size - c->used < need) {
        size_t size = !c ? a->first : (c->size > SIZE_MAX / 2 ? SIZE_MAX : c->size * 2);
        if (size < need) size = need;
        chunk *n = chunk_new(size);
        if (!n) return NULL;
        n->prev = c;
        a->top = c = n;
    }
    void *p = c->base + c->used;
    c->used += need;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

void *vf_arena_calloc(vf_arena *a, size_t bytes)
{
    void *p = vf_arena_alloc(a, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void vf_arena_reset(vf_arena *a)
{
    if (!a) return;
    if (a->top && a->top->prev) {
        /* Several chunks: replace them by one that holds the whole peak. */
        chunk *c = a->top;
        while (c) {
            chunk *p = c->prev;
            vf_free(c->raw);
            c = p;
        }
        a->top = NULL;
        size_t size = a->peak + a->peak / 4;
        if (size < a->first) size = a->first;
        a->top = chunk_new(size); /* on failure the next alloc retries */
    }
    if (a->top) a->top->used = 0;
    a->used = 0;
}

size_t vf_arena_used(const vf_arena *a) { return a ? a->used : 0; }
