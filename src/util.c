/* Small helpers the core shares: hashing, aligned allocation, clock,
 * and the nearest-word suggestions used by every error message. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

uint64_t clnet_fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void *clnet_alloc(size_t bytes)
{
    void *p = NULL;
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded == 0)
        rounded = 64;
    if (posix_memalign(&p, 64, rounded) != 0)
        return NULL;
    memset(p, 0, rounded);
    return p;
}

void clnet_free(void *p) { free(p); }

double clnet_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return (size_t)-1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *clnet_nearest_word(const char *word, const char *const *words)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; words && words[i]; i++) {
        size_t d = edit_distance(word, words[i]);
        if (d < best_d) {
            best_d = d;
            best = words[i];
        }
    }
    /* a third of the word's length, at least 2: catches typos, not guesses */
    size_t limit = strlen(word) / 3;
    if (limit < 2)
        limit = 2;
    if (best && best_d <= limit && best_d > 0)
        return best;
    return NULL;
}

void clnet_append_suggestion(char *buf, size_t len, const char *word,
                             const char *const *words)
{
    const char *near = clnet_nearest_word(word, words);
    if (near) {
        size_t used = strlen(buf);
        if (used < len)
            snprintf(buf + used, len - used, "; did you mean '%s'?", near);
    }
}
