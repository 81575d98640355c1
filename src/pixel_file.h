/* A data set's pixels in an unlinked temporary file, mapped read-only
 * (pixel_file.c): a large set then lives in the kernel's page cache,
 * which it may evict and read again, instead of in the process's memory;
 * the pages a reader has mapped are handed back after each batch
 * (clnet_pixels_used), so the
 * process's resident set holds only the batches in flight. Without a
 * writable temporary folder the pixels are kept in memory as before. */
#ifndef CLNET_PIXEL_FILE_H
#define CLNET_PIXEL_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "internal.h"

typedef struct {
    FILE *f;       /* the temporary file, or NULL: in memory */
    uint8_t *mem;  /* the pixels when in memory */
    size_t bytes, cap;
} clnet_pixel_file;

/* In $TMPDIR (else /tmp); falls back to memory, silently. */
void clnet_pixel_file_open(clnet_pixel_file *pf);
int clnet_pixel_file_append(clnet_pixel_file *pf, const uint8_t *px,
                            size_t n, const char *what, clnet_error *err);
/* The pixels, and in *mapped their mapping's length (0: memory to
 * free()); NULL with err on failure. pf is closed either way. */
uint8_t *clnet_pixel_file_finish(clnet_pixel_file *pf, size_t *mapped,
                                 const char *what, clnet_error *err);
void clnet_pixel_file_discard(clnet_pixel_file *pf);
/* A reader is done with a batch of ds's pixels: the pages it mapped go
 * back (nothing when the pixels are in memory). */
void clnet_pixels_used(const clnet_dataset *ds);

#endif
