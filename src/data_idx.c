/* IDX data files (MNIST's format), plain or gzip: checked headers,
 * dimensions and lengths, so a bad file is refused with a clear message. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"

#define IDX_UBYTE 0x08
#define MAX_SAMPLES 100000000
#define MAX_SIDE 4096
#define MAX_PIXEL_BYTES (1ull << 32)
/* a gzip stream's payload is read into a buffer that starts at this and
 * doubles as data arrives, so a header's claim costs nothing until the
 * data proves it */
#define FIRST_CHUNK (1u << 20)

static int read_exact(gzFile f, void *buf, size_t n, size_t *got)
{
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done > (1u << 30) ? (1u << 30) : n - done;
        int r = gzread(f, (char *)buf + done, (unsigned)chunk);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

/* Opens path and reads an IDX header of `ndim` dimensions; *size is the
 * file's length on disk. */
static gzFile open_idx(const char *path, int ndim, uint32_t *dims,
                       off_t *size, clnet_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        clnet_fail(err, CLNET_E_NOTFOUND, "%s: cannot open: %s", path,
                   strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        clnet_fail(err, CLNET_E_DATA, "%s: not a regular file", path);
        return NULL;
    }
    gzFile f = gzopen(path, "rb");
    if (!f) {
        clnet_fail(err, CLNET_E_IO, "%s: cannot open: %s", path,
                   errno ? strerror(errno) : "out of memory");
        return NULL;
    }
    unsigned char hdr[4 + 4 * 3];
    size_t want = 4, got = 0;
    /* the magic first, so a wrong file is named as such even when short */
    for (int part = 0; part < 2; part++) {
        if (read_exact(f, hdr + (part ? 4 : 0), want, &got) || got != want) {
            int zerr;
            const char *zmsg = gzerror(f, &zerr);
            clnet_fail(err, CLNET_E_DATA,
                       "%s: too short for an IDX header%s%s", path,
                       zerr ? ": " : "", zerr ? zmsg : "");
            gzclose(f);
            return NULL;
        }
        if (part == 0 && (hdr[0] != 0 || hdr[1] != 0 || hdr[2] != IDX_UBYTE ||
                          hdr[3] != ndim)) {
            clnet_fail(err, CLNET_E_DATA,
                       "%s: not an IDX file of unsigned bytes with %d "
                       "dimensions (magic %02x %02x %02x %02x, expected 00 00 "
                       "08 %02x); is it the right file?",
                       path, ndim, hdr[0], hdr[1], hdr[2], hdr[3], ndim);
            gzclose(f);
            return NULL;
        }
        want = 4 * (size_t)ndim;
    }
    for (int i = 0; i < ndim; i++)
        dims[i] = be32(hdr + 4 + 4 * i);
    *size = st.st_size;
    return f;
}

static int truncated(const char *path, size_t n, size_t got,
                     clnet_error *err)
{
    return clnet_fail(err, CLNET_E_DATA,
                      "%s: truncated: the header promises %zu bytes of "
                      "data, the file holds %zu",
                      path, n, got);
}

/* Reads exactly n bytes of payload after a header of hdr bytes and checks
 * nothing follows. A plain file's length is checked before anything is
 * allocated; a gzip stream's buffer grows only as data arrives. */
static int read_payload(gzFile f, const char *path, off_t size, size_t hdr,
                        size_t n, uint8_t **out, clnet_error *err)
{
    int plain = gzdirect(f);
    if (plain && (uint64_t)size < hdr + (uint64_t)n)
        return truncated(path, n, (size_t)size - hdr, err);
    if (plain && (uint64_t)size > hdr + (uint64_t)n)
        return clnet_fail(err, CLNET_E_DATA,
                          "%s: more data than its header describes", path);
    size_t cap = plain || n < FIRST_CHUNK ? n : FIRST_CHUNK, done = 0;
    uint8_t *buf = malloc(cap ? cap : 1);
    int zerr, rc = CLNET_OK;
    while (!rc) {
        if (!buf) {
            rc = clnet_fail(err, CLNET_E_NOMEM,
                            "out of memory reading %s (%zu bytes)", path, cap);
            break;
        }
        size_t got = 0;
        if (read_exact(f, buf + done, cap - done, &got)) {
            const char *zmsg = gzerror(f, &zerr);
            rc = clnet_fail(err, CLNET_E_DATA, "%s: cannot decompress: %s",
                            path, zmsg);
            break;
        }
        done += got;
        if (done < cap) {
            rc = truncated(path, n, done, err);
            break;
        }
        if (done == n)
            break;
        cap = cap > n / 2 ? n : cap * 2;
        uint8_t *g = realloc(buf, cap);
        if (!g)
            free(buf);
        buf = g;
    }
    unsigned char extra;
    size_t got = 0;
    if (!rc && read_exact(f, &extra, 1, &got) == 0 && got != 0)
        rc = clnet_fail(err, CLNET_E_DATA,
                        "%s: more data than its header describes", path);
    if (rc)
        free(buf);
    else
        *out = buf;
    return rc;
}

void clnet_dataset_free(clnet_dataset *ds)
{
    if (!ds)
        return;
    if (ds->mapped)
        munmap(ds->pixels, ds->mapped);
    else
        free(ds->pixels);
    free(ds->labels);
    for (int32_t i = 0; ds->class_names && i < ds->nclasses; i++)
        free(ds->class_names[i]);
    free(ds->class_names);
    memset(ds, 0, sizeof *ds);
}

size_t clnet_dataset_sample_bytes(const clnet_dataset *ds)
{
    if (!ds)
        return 0;
    return (size_t)ds->rows * (size_t)ds->cols *
           (size_t)(ds->channels ? ds->channels : 1);
}

int clnet_dataset_load_idx(clnet_dataset *ds, const char *images_path,
                           const char *labels_path, clnet_error *err)
{
    clnet_error_clear(err);
    if (!ds || !images_path || !labels_path)
        return clnet_fail(err, CLNET_E_ARG,
                          "clnet_dataset_load_idx: NULL argument");
    memset(ds, 0, sizeof *ds);
    uint32_t idims[3], ldims[1];
    off_t isize, lsize;
    gzFile fi = open_idx(images_path, 3, idims, &isize, err);
    if (!fi)
        return err ? err->status : CLNET_E_DATA;
    if (idims[0] == 0 || idims[0] > MAX_SAMPLES || idims[1] == 0 ||
        idims[1] > MAX_SIDE || idims[2] == 0 || idims[2] > MAX_SIDE ||
        (uint64_t)idims[0] * idims[1] * idims[2] > MAX_PIXEL_BYTES) {
        gzclose(fi);
        return clnet_fail(err, CLNET_E_DATA,
                          "%s: absurd dimensions %u x %u x %u (at most %d "
                          "images of %dx%d)",
                          images_path, idims[0], idims[1], idims[2],
                          MAX_SAMPLES, MAX_SIDE, MAX_SIDE);
    }
    gzFile fl = open_idx(labels_path, 1, ldims, &lsize, err);
    if (!fl) {
        gzclose(fi);
        return err ? err->status : CLNET_E_DATA;
    }
    if (ldims[0] != idims[0]) {
        gzclose(fi);
        gzclose(fl);
        return clnet_fail(err, CLNET_E_DATA,
                          "%s holds %u images but %s holds %u labels; they "
                          "must be a matching pair",
                          images_path, idims[0], labels_path, ldims[0]);
    }
    size_t npix = (size_t)idims[0] * idims[1] * idims[2];
    uint8_t *pixels = NULL, *raw = NULL;
    int32_t *labels = NULL;
    int rc = read_payload(fi, images_path, isize, 16, npix, &pixels, err);
    if (!rc)
        rc = read_payload(fl, labels_path, lsize, 8, ldims[0], &raw, err);
    gzclose(fi);
    gzclose(fl);
    if (!rc && !(labels = malloc(sizeof *labels * ldims[0])))
        rc = clnet_fail(err, CLNET_E_NOMEM, "out of memory for %u labels",
                        ldims[0]);
    if (!rc) {
        for (uint32_t i = 0; i < ldims[0]; i++)
            labels[i] = raw[i];
        ds->count = (int32_t)idims[0];
        ds->rows = (int32_t)idims[1];
        ds->cols = (int32_t)idims[2];
        ds->pixels = pixels;
        ds->labels = labels;
    } else {
        free(pixels);
    }
    free(raw);
    return rc;
}

int clnet_idx_find(const char *dir, const char *prefix, const char *kind,
                   char *out, size_t len)
{
    const char *suffix[] = {"", ".gz"};
    for (int s = 0; s < 2; s++) {
        snprintf(out, len, "%s/%s-%s-ubyte%s", dir, prefix, kind, suffix[s]);
        if (access(out, F_OK) == 0)
            return 0;
    }
    snprintf(out, len, "%s/%s-%s-ubyte[.gz]", dir, prefix, kind);
    return -1;
}

int clnet_dataset_load_mnist(clnet_dataset *ds, const char *dir,
                             const char *prefix, int32_t limit,
                             clnet_error *err)
{
    if (!ds || !dir || !prefix || limit < 0)
        return clnet_fail(err, CLNET_E_ARG,
                          "clnet_dataset_load_mnist: bad argument");
    char images[4096], labels[4096];
    int mi = clnet_idx_find(dir, prefix, "images-idx3", images, sizeof images);
    int ml = clnet_idx_find(dir, prefix, "labels-idx1", labels, sizeof labels);
    if (mi || ml)
        return clnet_fail(err, CLNET_E_NOTFOUND,
                          "%s: not found; --data must name a folder holding "
                          "the MNIST files (tools/get-mnist.sh fetches them)",
                          mi ? images : labels);
    int rc = clnet_dataset_load_idx(ds, images, labels, err);
    if (rc == CLNET_OK && limit > 0 && limit < ds->count)
        ds->count = limit; /* the first `limit` samples; memory stays owned */
    return rc;
}
