/* Choosing among a layer's implementations by measuring them (clnet tune)
 * and remembering the choice per device, driver and layer shape. */
#ifndef CLNET_TUNE_H
#define CLNET_TUNE_H

#include "net.h"

/* The text that identifies a layer's shape and settings in the cache. */
void clnet_tune_key(const clnet_create_args *args, const char *kind,
                    int32_t batch, char *out, size_t len);
/* 1 and the implementation's name when the cache holds a choice for this
 * device, driver and key; 0 otherwise. */
int clnet_tune_lookup(const clnet_backend *b, const char *kind,
                      const char *key, char *impl, size_t len);
/* The cache file's path (which may not exist yet); -1 when there is no
 * cache folder (no CLNET_CACHE_DIR, XDG_CACHE_HOME or HOME). */
int clnet_tune_cache_file(char *out, size_t len);
/* Records a choice; 0 on success. */
int clnet_tune_store(const clnet_backend *b, const char *kind,
                     const char *key, const char *impl, clnet_error *err);

#endif
