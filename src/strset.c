/* The string set of strset.h. */
#include "strset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int clnet_strset_init(clnet_strset *s, size_t expected)
{
    size_t cap = 16;
    while (cap < 2 * expected + 1)
        cap *= 2;
    s->keys = calloc(cap, sizeof *s->keys);
    s->values = calloc(cap, sizeof *s->values);
    s->cap = cap;
    s->count = 0;
    if (!s->keys || !s->values) {
        clnet_strset_free(s);
        return -1;
    }
    return 0;
}

static size_t slot_of(const clnet_strset *s, const char *key)
{
    size_t i = (size_t)clnet_fnv1a(CLNET_FNV_INIT, key, strlen(key)) &
               (s->cap - 1);
    while (s->keys[i] && strcmp(s->keys[i], key) != 0)
        i = (i + 1) & (s->cap - 1);
    return i;
}

static int grow(clnet_strset *s)
{
    clnet_strset g;
    if (clnet_strset_init(&g, s->cap))
        return -1;
    for (size_t i = 0; i < s->cap; i++)
        if (s->keys[i]) {
            size_t j = slot_of(&g, s->keys[i]);
            g.keys[j] = s->keys[i];
            g.values[j] = s->values[i];
        }
    g.count = s->count;
    clnet_strset_free(s);
    *s = g;
    return 0;
}

int clnet_strset_put(clnet_strset *s, const char *key, int value)
{
    size_t i = slot_of(s, key);
    if (s->keys[i])
        return s->values[i];
    if (2 * (s->count + 1) > s->cap) {
        if (grow(s))
            return -2;
        i = slot_of(s, key);
    }
    s->keys[i] = key;
    s->values[i] = value;
    s->count++;
    return -1;
}

void clnet_strset_free(clnet_strset *s)
{
    free(s->keys);
    free(s->values);
    s->keys = NULL;
    s->values = NULL;
    s->cap = s->count = 0;
}

int clnet_strset_get(const clnet_strset *s, const char *key)
{
    size_t i = slot_of(s, key);
    return s->keys[i] ? s->values[i] : -1;
}
