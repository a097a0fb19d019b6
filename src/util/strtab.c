#include <stdlib.h>
#include <string.h>

#include "wfmpi/util.h"

/* Open-addressing hash table of ids; strings are packed back to back in large
 * byte chunks (no per-string malloc, no alignment padding). */
#define POOL_CHUNK ((size_t)1 << 20)

struct pool_chunk {
    struct pool_chunk *next;
    size_t used, size;
    char data[];
};

struct wfmpi_strtab {
    const char **str; /* str[id], id 1..count */
    uint32_t *len;
    uint32_t *hash;
    size_t cap; /* capacity of str/len/hash arrays */
    uint32_t count;
    uint32_t *slots; /* 0 = empty, else id */
    size_t nslots; /* power of two */
    struct pool_chunk *pool;
    size_t bytes;
};

/* FNV-1a: short keys, good enough spread, no dependencies. */
static uint32_t str_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
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
    free(t->str);
    free(t->len);
    free(t->hash);
    free(t->slots);
    free(t);
}

static uint32_t lookup(const struct wfmpi_strtab *t, const char *s, size_t len, uint32_t h,
                       size_t *slot)
{
    size_t mask = t->nslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t id = t->slots[i];
        if (id == 0) {
            *slot = i;
            return 0;
        }
        if (t->hash[id] == h && t->len[id] == len && memcmp(t->str[id], s, len) == 0) {
            *slot = i;
            return id;
        }
    }
}

static int rehash(struct wfmpi_strtab *t)
{
    size_t n = t->nslots * 2;
    uint32_t *slots = calloc(n, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    for (uint32_t id = 1; id <= t->count; id++) {
        size_t i = t->hash[id] & (n - 1);
        while (slots[i])
            i = (i + 1) & (n - 1);
        slots[i] = id;
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

static int grow_arrays(struct wfmpi_strtab *t, size_t need)
{
    if (need < t->cap)
        return 0;
    size_t cap = t->cap ? t->cap * 2 : 1024;
    const char **str = realloc(t->str, cap * sizeof(*str));
    if (!str)
        return -ENOMEM;
    t->str = str;
    uint32_t *len = realloc(t->len, cap * sizeof(*len));
    if (!len)
        return -ENOMEM;
    t->len = len;
    uint32_t *hash = realloc(t->hash, cap * sizeof(*hash));
    if (!hash)
        return -ENOMEM;
    t->hash = hash;
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
    /* Keep the load factor at most 1/2 so probes stay short (and never loop). */
    if (((size_t)t->count + 1) * 2 > t->nslots) {
        if (rehash(t) < 0)
            return 0;
        lookup(t, s, len, h, &slot);
    }
    if (grow_arrays(t, (size_t)t->count + 1) < 0)
        return 0;
    char *copy = pool_copy(t, s, len);
    if (!copy)
        return 0;
    id = ++t->count;
    t->str[id] = copy;
    t->len[id] = (uint32_t)len;
    t->hash[id] = h;
    t->slots[slot] = id;
    return id;
}

uint32_t wfmpi_strtab_intern_cstr(struct wfmpi_strtab *t, const char *s)
{
    return wfmpi_strtab_intern(t, s, strlen(s));
}

uint32_t wfmpi_strtab_find(const struct wfmpi_strtab *t, const char *s, size_t len)
{
    size_t slot;
    return lookup(t, s, len, str_hash(s, len), &slot);
}

const char *wfmpi_strtab_str(const struct wfmpi_strtab *t, uint32_t id)
{
    return (id == 0 || id > t->count) ? NULL : t->str[id];
}

uint32_t wfmpi_strtab_len(const struct wfmpi_strtab *t, uint32_t id)
{
    return (id == 0 || id > t->count) ? 0 : t->len[id];
}

uint32_t wfmpi_strtab_count(const struct wfmpi_strtab *t)
{
    return t->count;
}

size_t wfmpi_strtab_bytes(const struct wfmpi_strtab *t)
{
    return t->bytes + t->cap * (sizeof(char *) + 2 * sizeof(uint32_t)) +
           t->nslots * sizeof(uint32_t);
}
