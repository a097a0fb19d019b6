#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "wfmpi/util.h"

/* Chunks grow geometrically up to 64 MiB, so a million-job plan takes a few
 * dozen mallocs rather than millions. */
#define ARENA_MIN_CHUNK ((size_t)64 * 1024)
#define ARENA_MAX_CHUNK ((size_t)64 * 1024 * 1024)

struct wfmpi_arena_chunk {
    struct wfmpi_arena_chunk *next;
    size_t size;
    alignas(max_align_t) unsigned char data[];
};

void wfmpi_arena_init(struct wfmpi_arena *a)
{
    memset(a, 0, sizeof(*a));
}

void wfmpi_arena_fini(struct wfmpi_arena *a)
{
    struct wfmpi_arena_chunk *c = a->head;
    while (c) {
        struct wfmpi_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    memset(a, 0, sizeof(*a));
}

void *wfmpi_arena_alloc(struct wfmpi_arena *a, size_t size)
{
    const size_t align = alignof(max_align_t);
    size_t need;
    if (!wfmpi_add_ok(size, align - 1, &need))
        return NULL;
    need &= ~(align - 1);
    if (need == 0)
        need = align;
    if (!a->head || a->head->size - a->used < need) {
        size_t sz = a->head ? a->head->size * 2 : ARENA_MIN_CHUNK;
        if (sz > ARENA_MAX_CHUNK)
            sz = ARENA_MAX_CHUNK;
        if (sz < need)
            sz = need;
        size_t bytes;
        if (!wfmpi_add_ok(sizeof(struct wfmpi_arena_chunk), sz, &bytes))
            return NULL;
        struct wfmpi_arena_chunk *c = malloc(bytes);
        if (!c)
            return NULL;
        c->size = sz;
        c->next = a->head;
        a->head = c;
        a->used = 0;
    }
    void *p = a->head->data + a->used;
    a->used += need;
    a->total += need;
    memset(p, 0, size);
    return p;
}

char *wfmpi_arena_strndup(struct wfmpi_arena *a, const char *s, size_t len)
{
    size_t n;
    if (!wfmpi_add_ok(len, 1, &n))
        return NULL;
    char *p = wfmpi_arena_alloc(a, n);
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}
