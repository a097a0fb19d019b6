/* A resettable bump allocator for the per-item YAML trees. */
#include <stdlib.h>
#include <string.h>

#include "wf_int.h"

#define POOL_MIN_CHUNK ((size_t)64 * 1024)
#define POOL_ALIGN ((size_t)8)

struct wf_pool_chunk {
    struct wf_pool_chunk *next;
    size_t size, used;
    _Alignas(8) unsigned char data[];
};

void wf_pool_init(struct wf_pool *p)
{
    memset(p, 0, sizeof(*p));
}

void wf_pool_fini(struct wf_pool *p)
{
    struct wf_pool_chunk *c = p->first;
    while (c) {
        struct wf_pool_chunk *next = c->next;
        free(c);
        c = next;
    }
    memset(p, 0, sizeof(*p));
}

/* Keep every chunk: the next item reuses them, so steady-state loading of a
 * million jobs allocates nothing here. */
void wf_pool_reset(struct wf_pool *p)
{
    for (struct wf_pool_chunk *c = p->first; c; c = c->next)
        c->used = 0;
    p->head = p->first;
    p->nodes = 0;
}

static struct wf_pool_chunk *pool_new_chunk(struct wf_pool *p, size_t need)
{
    size_t sz = p->head ? p->head->size * 2 : POOL_MIN_CHUNK;
    if (sz > ((size_t)16 << 20))
        sz = (size_t)16 << 20;
    if (sz < need)
        sz = need;
    size_t bytes;
    if (!wfmpi_add_ok(sizeof(struct wf_pool_chunk), sz, &bytes))
        return NULL;
    struct wf_pool_chunk *c = malloc(bytes);
    if (!c)
        return NULL;
    c->size = sz;
    c->used = 0;
    c->next = NULL;
    /* Append after head so the chunk order stays the reuse order. */
    if (p->head) {
        c->next = p->head->next;
        p->head->next = c;
    } else {
        c->next = p->first;
        p->first = c;
    }
    return c;
}

void *wf_pool_alloc(struct wf_pool *p, size_t size)
{
    size_t need;
    if (!wfmpi_add_ok(size, POOL_ALIGN - 1, &need))
        return NULL;
    need &= ~(POOL_ALIGN - 1);
    if (need == 0)
        need = POOL_ALIGN;
    if (!p->head && p->first)
        p->head = p->first;
    /* Move on through chunks kept from earlier items before allocating. */
    while (p->head && p->head->size - p->head->used < need && p->head->next &&
           p->head->next->used == 0 && p->head->next->size >= need)
        p->head = p->head->next;
    if (!p->head || p->head->size - p->head->used < need) {
        struct wf_pool_chunk *c = pool_new_chunk(p, need);
        if (!c)
            return NULL;
        p->head = c;
    }
    void *ptr = p->head->data + p->head->used;
    p->head->used += need;
    return ptr;
}
