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
    struct pool_chunk *pool;
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
    struct pool_chunk *c = t->pool;
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

static char *pool_copy(struct wfmpi_strtab *t, const char *s, size_t len)
{
    struct pool_chunk *c = t->pool;
    if (!c || c->size - c->used < len + 1) {
        size_t sz = len + 1 > POOL_CHUNK ? len + 1 : POOL_CHUNK;
        c = malloc(sizeof(*c) + sz);
        if (!c)
            return NULL;
        c->size = sz;
        c->used = 0;
        c->next = t->pool;
        t->pool = c;
        t->bytes += sizeof(*c) + sz;
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
