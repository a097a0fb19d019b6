#include <stdlib.h>
#include <string.h>

#include "wfmpi/util.h"

/* Open-addressing hash table of ids; strings are packed back to back in large
 * byte chunks (no per-string malloc, no alignment padding).
 *
 * A million-job workflow interns tens of millions of strings, most of them
 * already present, so a lookup is kept to as few cache misses as possible:
 * each slot holds the id and the string's hash side by side (a probe that
 * hits another string is rejected without leaving the slot array), and an
 * id's pointer, length and hash share one 16-byte entry (a hit costs the
 * slot, the entry and the bytes). */
#define POOL_CHUNK ((size_t)1 << 20)

struct pool_chunk {
    struct pool_chunk *next;
    size_t used, size;
    char data[];
};

struct entry {
    const char *str;
    uint32_t len;
    uint32_t hash;
};

struct wfmpi_strtab {
    struct entry *ent; /* ent[id], id 1..count */
    size_t cap; /* capacity of ent */
    uint32_t count;
    uint64_t *slots; /* 0 = empty, else hash << 32 | id */
    size_t nslots; /* power of two */
    /* Chunks in the order they were made, so the strings of ids 1..count
     * lie in them in id order (serialization relies on it); strings go into
     * the last one. */
    struct pool_chunk *pool_first, *pool_last;
    size_t bytes;
};

/* Word-at-a-time multiplicative hash: strings here are short (ids, file
 * names, numbers), where a byte loop spends more time than the probe. */
static uint32_t str_hash(const char *s, size_t len)
{
    const uint64_t k = 0x9E3779B97F4A7C15ull;
    uint64_t h = (uint64_t)len * k;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * k;
        h ^= h >> 32;
    }
    if (i < len) {
        uint64_t w = 0;
        for (size_t j = 0; i + j < len; j++)
            w |= (uint64_t)(unsigned char)s[i + j] << (8 * j);
        h = (h ^ w) * k;
    }
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return (uint32_t)h;
}

struct wfmpi_strtab *wfmpi_strtab_create(void)
{
    struct wfmpi_strtab *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->nslots = 1024;
    t->slots = calloc(t->nslots, sizeof(*t->slots));
    if (!t->slots) {
        free(t);
        return NULL;
    }
    return t;
}

void wfmpi_strtab_destroy(struct wfmpi_strtab *t)
{
    if (!t)
        return;
    struct pool_chunk *c = t->pool_first;
    while (c) {
        struct pool_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(t->ent);
    free(t->slots);
    free(t);
}

static uint32_t lookup(const struct wfmpi_strtab *t, const char *s, size_t len, uint32_t h,
                       size_t *slot)
{
    size_t mask = t->nslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint64_t v = t->slots[i];
        if (v == 0) {
            *slot = i;
            return 0;
        }
        if ((uint32_t)(v >> 32) != h)
            continue;
        uint32_t id = (uint32_t)v;
        const struct entry *e = &t->ent[id];
        if (e->len == len && memcmp(e->str, s, len) == 0) {
            *slot = i;
            return id;
        }
    }
}

static int rehash(struct wfmpi_strtab *t)
{
    size_t n = t->nslots * 2;
    uint64_t *slots = calloc(n, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    for (size_t k = 0; k < t->nslots; k++) {
        uint64_t v = t->slots[k];
        if (!v)
            continue;
        size_t i = (size_t)(v >> 32) & (n - 1);
        while (slots[i])
            i = (i + 1) & (n - 1);
        slots[i] = v;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = n;
    return 0;
}

/* A new last chunk with room for `size` bytes. */
static struct pool_chunk *pool_add(struct wfmpi_strtab *t, size_t size)
{
    struct pool_chunk *c = malloc(sizeof(*c) + size);
    if (!c)
        return NULL;
    c->size = size;
    c->used = 0;
    c->next = NULL;
    if (t->pool_last)
        t->pool_last->next = c;
    else
        t->pool_first = c;
    t->pool_last = c;
    t->bytes += sizeof(*c) + size;
    return c;
}

static char *pool_copy(struct wfmpi_strtab *t, const char *s, size_t len)
{
    struct pool_chunk *c = t->pool_last;
    if (!c || c->size - c->used < len + 1) {
        c = pool_add(t, len + 1 > POOL_CHUNK ? len + 1 : POOL_CHUNK);
        if (!c)
            return NULL;
    }
    char *p = c->data + c->used;
    memcpy(p, s, len);
    p[len] = '\0';
    c->used += len + 1;
    return p;
}

static int grow_entries(struct wfmpi_strtab *t, size_t need)
{
    if (need < t->cap)
        return 0;
    size_t cap = t->cap ? t->cap * 2 : 1024;
    struct entry *ent = realloc(t->ent, cap * sizeof(*ent));
    if (!ent)
        return -ENOMEM;
    t->ent = ent;
    t->cap = cap;
    return 0;
}

uint32_t wfmpi_strtab_intern(struct wfmpi_strtab *t, const char *s, size_t len)
{
    if (len > UINT32_MAX - 1 || t->count == UINT32_MAX - 1)
        return 0;
    uint32_t h = str_hash(s, len);
    size_t slot;
    uint32_t id = lookup(t, s, len, h, &slot);
    if (id)
        return id;
    /* Keep the load factor at most 3/4: probes stay short (the hash in the
     * slot rejects most collisions cheaply) and never loop. */
    if (((size_t)t->count + 1) * 4 > t->nslots * 3) {
        if (rehash(t) < 0)
            return 0;
        lookup(t, s, len, h, &slot);
    }
    if (grow_entries(t, (size_t)t->count + 1) < 0)
        return 0;
    char *copy = pool_copy(t, s, len);
    if (!copy)
        return 0;
    id = ++t->count;
    t->ent[id] = (struct entry){copy, (uint32_t)len, h};
    t->slots[slot] = (uint64_t)h << 32 | id;
    return id;
}

uint32_t wfmpi_strtab_intern_cstr(struct wfmpi_strtab *t, const char *s)
{
    return wfmpi_strtab_intern(t, s, strlen(s));
}

uint32_t wfmpi_strtab_find(const struct wfmpi_strtab *t, const char *s, size_t len)
{
    size_t slot;
    if (len > UINT32_MAX - 1)
        return 0;
    return lookup(t, s, len, str_hash(s, len), &slot);
}

const char *wfmpi_strtab_str(const struct wfmpi_strtab *t, uint32_t id)
{
    return (id == 0 || id > t->count) ? NULL : t->ent[id].str;
}

uint32_t wfmpi_strtab_len(const struct wfmpi_strtab *t, uint32_t id)
{
    return (id == 0 || id > t->count) ? 0 : t->ent[id].len;
}

uint32_t wfmpi_strtab_count(const struct wfmpi_strtab *t)
{
    return t->count;
}

size_t wfmpi_strtab_bytes(const struct wfmpi_strtab *t)
{
    return t->bytes + t->cap * sizeof(struct entry) + t->nslots * sizeof(uint64_t);
}

/* ------------------------------------------------------- serialization */

size_t wfmpi_strtab_data_len(const struct wfmpi_strtab *t)
{
    size_t n = 0;
    for (const struct pool_chunk *c = t->pool_first; c; c = c->next)
        n += c->used;
    return n;
}

int wfmpi_strtab_write_data(const struct wfmpi_strtab *t, wfmpi_strtab_write_fn *fn, void *ctx)
{
    for (const struct pool_chunk *c = t->pool_first; c; c = c->next) {
        int rc = c->used ? fn(ctx, c->data, c->used) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

/* Entries for ids 1..count over the strings in c, checking each ends where
 * its length says. */
static int restore_entries(struct wfmpi_strtab *t, const struct pool_chunk *c, const uint32_t *lens,
                           uint32_t count)
{
    size_t off = 0;
    for (uint32_t i = 0; i < count; i++) {
        size_t len = lens[i];
        if (len >= c->used - off || c->data[off + len] != '\0')
            return WFMPI_E_CORRUPT;
        t->ent[i + 1] = (struct entry){c->data + off, lens[i], str_hash(c->data + off, len)};
        off += len + 1;
    }
    return off == c->used ? 0 : WFMPI_E_CORRUPT;
}

/* The slot index over ids 1..count, at most 3/4 full as interning keeps it. */
static int restore_index(struct wfmpi_strtab *t)
{
    size_t n = 1024;
    while (n / 4 * 3 < (size_t)t->count + 1)
        n *= 2;
    uint64_t *slots = calloc(n, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    free(t->slots);
    t->slots = slots;
    t->nslots = n;
    for (uint32_t id = 1; id <= t->count; id++) {
        const struct entry *e = &t->ent[id];
        size_t slot;
        if (lookup(t, e->str, e->len, e->hash, &slot))
            return WFMPI_E_CORRUPT; /* a string twice: ids would be ambiguous */
        t->slots[slot] = (uint64_t)e->hash << 32 | id;
    }
    return 0;
}

static int restore_fill(struct wfmpi_strtab *t, size_t size, const uint32_t *lens, uint32_t count,
                        wfmpi_strtab_read_fn *fn, void *ctx)
{
    if (count >= UINT32_MAX - 1 || (count && !size))
        return WFMPI_E_CORRUPT;
    if (!count)
        return size ? WFMPI_E_CORRUPT : 0;
    struct pool_chunk *c = pool_add(t, size);
    t->ent = malloc(((size_t)count + 1) * sizeof(*t->ent));
    if (!c || !t->ent)
        return -ENOMEM;
    t->cap = (size_t)count + 1;
    int rc = fn(ctx, c->data, size);
    if (rc)
        return rc;
    c->used = size;
    if ((rc = restore_entries(t, c, lens, count)))
        return rc;
    t->count = count;
    return restore_index(t);
}

struct wfmpi_strtab *wfmpi_strtab_restore(size_t size, const uint32_t *lens, uint32_t count,
                                          wfmpi_strtab_read_fn *fn, void *ctx, int *rc)
{
    struct wfmpi_strtab *t = wfmpi_strtab_create();
    *rc = t ? restore_fill(t, size, lens, count, fn, ctx) : -ENOMEM;
    if (*rc) {
        wfmpi_strtab_destroy(t);
        return NULL;
    }
    return t;
}
