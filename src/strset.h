/* A set of strings mapped to ints (open addressing on FNV-1a), so that
 * duplicate checks over a file's names and keys stay linear in its size. */
#ifndef CLNET_STRSET_H
#define CLNET_STRSET_H

#include <stddef.h>

typedef struct {
    const char **keys; /* borrowed: each must outlive the set */
    int *values;
    size_t cap, count;
} clnet_strset;

/* An empty set; returns non-zero when memory runs out. */
int clnet_strset_init(clnet_strset *s, size_t expected);
/* The value stored for key, or -1 after storing (key, value) when it was
 * absent; -2 when memory runs out. value must not be negative. */
int clnet_strset_put(clnet_strset *s, const char *key, int value);
/* The value stored for key, or -1. */
int clnet_strset_get(const clnet_strset *s, const char *key);
void clnet_strset_free(clnet_strset *s);

#endif
