/*
 * A map from MPI handles (datatypes, requests) to pointers: open addressing on
 * the handle's bits, with deleted slots kept until the next growth.
 */
#include <stdlib.h>
#include <string.h>
#include "mpiw.h"

#define DELETED ((void *) -1)

static size_t slot(const mpiw_map *m, uintptr_t key)
{
    uint64_t h = (uint64_t) key * 0x9E3779B97F4A7C15ull;
    return (size_t) (h >> 17) & (m->capacity - 1);
}

void *mpiw_map_get(const mpiw_map *m, uintptr_t key)
{
    if (!m->live)
        return NULL;
    for (size_t i = slot(m, key);; i = (i + 1) & (m->capacity - 1)) {
        if (!m->keys[i])
            return NULL;
        if (m->keys[i] == key && m->values[i] != DELETED)
            return m->values[i];
    }
}

static int grow(mpiw_map *m)
{
    mpiw_map old = *m;

    m->capacity = old.capacity ? old.capacity * 2 : 64;
    m->keys = calloc(m->capacity, sizeof *m->keys);
    m->values = calloc(m->capacity, sizeof *m->values);
    if (!m->keys || !m->values) {
        free(m->keys);
        free(m->values);
        *m = old;
        return 1;
    }
    m->used = m->live = 0;
    for (size_t i = 0; i < old.capacity; i++)
        if (old.keys[i] && old.values[i] != DELETED)
            mpiw_map_put(m, old.keys[i], old.values[i]);
    free(old.keys);
    free(old.values);
    return 0;
}

int mpiw_map_put(mpiw_map *m, uintptr_t key, void *value)
{
    size_t i, reuse = (size_t) -1;

    if ((m->used + 1) * 2 > m->capacity && grow(m))
        return 1;
    for (i = slot(m, key); m->keys[i]; i = (i + 1) & (m->capacity - 1)) {
        if (m->keys[i] == key && m->values[i] != DELETED) {
            m->values[i] = value;
            return 0;
        }
        if (m->values[i] == DELETED && reuse == (size_t) -1)
            reuse = i;
    }
    if (reuse != (size_t) -1)
        i = reuse;
    else
        m->used++;
    m->keys[i] = key;
    m->values[i] = value;
    m->live++;
    return 0;
}

void *mpiw_map_remove(mpiw_map *m, uintptr_t key)
{
    if (!m->live)
        return NULL;
    for (size_t i = slot(m, key);; i = (i + 1) & (m->capacity - 1)) {
        if (!m->keys[i])
            return NULL;
        if (m->keys[i] == key && m->values[i] != DELETED) {
            void *v = m->values[i];
            m->values[i] = DELETED;
            m->live--;
            return v;
        }
    }
}

void mpiw_map_clear(mpiw_map *m, void (*release)(void *))
{
    for (size_t i = 0; i < m->capacity; i++)
        if (m->keys[i] && m->values[i] != DELETED && release)
            release(m->values[i]);
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}
