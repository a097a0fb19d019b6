#include <stdlib.h>
#include <string.h>

#include "wfmpi/util.h"

void wfmpi_heap_init(struct wfmpi_heap *h, wfmpi_heap_cmp_fn *cmp, void *ctx)
{
    memset(h, 0, sizeof(*h));
    h->cmp = cmp;
    h->ctx = ctx;
}

void wfmpi_heap_fini(struct wfmpi_heap *h)
{
    free(h->items);
    h->items = NULL;
    h->len = h->cap = 0;
}

int wfmpi_heap_reserve(struct wfmpi_heap *h, size_t n)
{
    return wfmpi_grow((void **)&h->items, &h->cap, n, sizeof(*h->items));
}

int wfmpi_heap_push(struct wfmpi_heap *h, uint32_t item)
{
    int rc = wfmpi_heap_reserve(h, h->len + 1);
    if (rc < 0)
        return rc;
    size_t i = h->len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->cmp(item, h->items[parent], h->ctx) >= 0)
            break;
        h->items[i] = h->items[parent];
        i = parent;
    }
    h->items[i] = item;
    return 0;
}

bool wfmpi_heap_pop(struct wfmpi_heap *h, uint32_t *out)
{
    if (h->len == 0)
        return false;
    *out = h->items[0];
    uint32_t last = h->items[--h->len];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->len)
            break;
        if (c + 1 < h->len && h->cmp(h->items[c + 1], h->items[c], h->ctx) < 0)
            c++;
        if (h->cmp(last, h->items[c], h->ctx) <= 0)
            break;
        h->items[i] = h->items[c];
        i = c;
    }
    if (h->len)
        h->items[i] = last;
    return true;
}
