/* Fuzz targets: the loaders take paths, so each input is written to an
 * anonymous in-memory file (memfd) and handed over as /proc/self/fd/N:
 * no disk traffic, nothing left behind, and a regular file as the loaders
 * require. */
#ifndef CLNET_FUZZ_FILE_H
#define CLNET_FUZZ_FILE_H

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_FILES 2

/* Replaces the contents of in-memory file `slot` with data and returns its
 * path (valid until the next call for the same slot). */
static const char *fuzz_file(int slot, const void *data, size_t n)
{
    static int fd[FUZZ_FILES] = {-1, -1};
    static char path[FUZZ_FILES][64];
    if (fd[slot] < 0) {
        fd[slot] = memfd_create("clnet-fuzz", 0);
        if (fd[slot] < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path[slot], sizeof path[slot], "/proc/self/fd/%d", fd[slot]);
    }
    if (ftruncate(fd[slot], 0) != 0 ||
        (n && pwrite(fd[slot], data, n, 0) != (ssize_t)n)) {
        perror("fuzz_file");
        abort();
    }
    return path[slot];
}

#endif
