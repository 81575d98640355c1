/* Data set pixels in a mapped temporary file (pixel_file.h). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include "pixel_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void clnet_pixel_file_open(clnet_pixel_file *pf)
{
    memset(pf, 0, sizeof *pf);
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/clnet-pixels-XXXXXX",
             dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return;
    /* unlinked at once: nothing is left behind, whatever ends the run */
    unlink(path);
    if (!(pf->f = fdopen(fd, "w+b")))
        close(fd);
}

int clnet_pixel_file_append(clnet_pixel_file *pf, const uint8_t *px,
                            size_t n, const char *what, clnet_error *err)
{
    if (pf->f) {
        if (fwrite(px, 1, n, pf->f) != n)
            return clnet_fail(err, CLNET_E_IO, "%s: writing its pixels to a "
                              "temporary file (TMPDIR) failed: %s",
                              what, strerror(errno));
        pf->bytes += n;
        return CLNET_OK;
    }
    if (pf->bytes + n > pf->cap) {
        size_t cap = pf->cap ? 2 * pf->cap : 1u << 20;
        while (cap < pf->bytes + n)
            cap *= 2;
        uint8_t *m = realloc(pf->mem, cap);
        if (!m)
            return clnet_fail(err, CLNET_E_NOMEM, "out of memory for %s",
                              what);
        pf->mem = m;
        pf->cap = cap;
    }
    memcpy(pf->mem + pf->bytes, px, n);
    pf->bytes += n;
    return CLNET_OK;
}

uint8_t *clnet_pixel_file_finish(clnet_pixel_file *pf, size_t *mapped,
                                 const char *what, clnet_error *err)
{
    *mapped = 0;
    if (!pf->f) {
        uint8_t *m = pf->mem ? pf->mem : malloc(1);
        pf->mem = NULL;
        if (!m)
            clnet_fail(err, CLNET_E_NOMEM, "out of memory for %s", what);
        return m;
    }
    uint8_t *m = NULL;
    if (fflush(pf->f) == 0 && pf->bytes > 0) {
        void *p = mmap(NULL, pf->bytes, PROT_READ, MAP_SHARED,
                       fileno(pf->f), 0);
        if (p != MAP_FAILED) {
            m = p;
            *mapped = pf->bytes;
        }
    }
    if (!m)
        clnet_fail(err, CLNET_E_IO, "%s: mapping its pixels from a temporary "
                   "file (TMPDIR) failed: %s", what, strerror(errno));
    /* the mapping keeps the file */
    fclose(pf->f);
    pf->f = NULL;
    return m;
}

void clnet_pixel_file_discard(clnet_pixel_file *pf)
{
    if (pf->f)
        fclose(pf->f);
    free(pf->mem);
    memset(pf, 0, sizeof *pf);
}

void clnet_pixels_used(const clnet_dataset *ds)
{
    /* The whole mapping, once a batch: the kernel maps pages around each
     * one read (fault-around), so handing back only the samples read
     * would leave their neighbours resident. The pages stay in the page
     * cache; a later read maps them again. */
    if (ds->mapped)
        madvise(ds->pixels, ds->mapped, MADV_DONTNEED);
}
