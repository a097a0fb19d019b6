/* A small uint32 -> uint32 hash map (linear probing, load <= 1/2). */
#include <stdlib.h>

#include "plan_int.h"

static size_t slot_of(uint32_t key, size_t cap)
{
    return (size_t)(key * 2654435761u) & (cap - 1);
}

void plan_map_fini(struct plan_map *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = m->vals = NULL;
    m->cap = m->n = 0;
}

uint32_t plan_map_get(const struct plan_map *m, uint32_t key, uint32_t dflt)
{
    if (!m->cap)
        return dflt;
    for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key)
            return m->vals[i];
        if (!m->keys[i])
            return dflt;
    }
}

static int map_grow(struct plan_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 256;
    uint32_t *keys = calloc(cap, sizeof(*keys)), *vals = malloc(cap * sizeof(*vals));
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = slot_of(m->keys[i], cap);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

int plan_map_put(struct plan_map *m, uint32_t key, uint32_t val)
{
    if ((m->n + 1) * 2 > m->cap && map_grow(m))
        return -ENOMEM;
    size_t i = slot_of(key, m->cap);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->n++;
    }
    m->vals[i] = val;
    return 0;
}
