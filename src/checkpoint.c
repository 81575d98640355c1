/* Checkpoints: a versioned header, the topology's hash, named tensors with
 * their shapes, and a CRC-32 of everything before it. Saved through a
 * temporary file and a rename, so a good checkpoint is never replaced by a
 * partial one. All numbers little-endian. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "net.h"

#define CKPT_MAGIC "CLNETCKP"
#define CKPT_VERSION 1u
#define CKPT_MAX_BYTES (1ull << 31)

typedef struct {
    unsigned char *p;
    size_t len, cap;
} buf_t;

static int put(buf_t *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *g = realloc(b->p, cap);
        if (!g)
            return -1;
        b->p = g;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    return 0;
}

static int put32(buf_t *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                          (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    return put(b, x, 4);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void tensor_name(const clnet_net_layer *L, int k, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", L->name, L->plan.params[k].name);
}

/* Returns non-zero when memory ran out or a parameter could not be read. */
static int serialize(const clnet_net *net, buf_t *b)
{
    uint32_t count = 0;
    for (int i = 0; i < net->nlayers; i++)
        count += (uint32_t)net->layers[i].plan.nparams;
    int bad = put(b, CKPT_MAGIC, 8) || put32(b, CKPT_VERSION) ||
              put32(b, count) || put32(b, (uint32_t)net->topo_hash) ||
              put32(b, (uint32_t)(net->topo_hash >> 32));
    for (int i = 0; i < net->nlayers && !bad; i++) {
        const clnet_net_layer *L = &net->layers[i];
        for (int k = 0; k < L->plan.nparams && !bad; k++) {
            char name[160];
            tensor_name(L, k, name, sizeof name);
            const clnet_param_info *pi = &L->plan.params[k];
            bad |= put32(b, (uint32_t)strlen(name)) ||
                   put(b, name, strlen(name)) || put32(b, (uint32_t)pi->ndim);
            for (int d = 0; d < pi->ndim && !bad; d++)
                bad |= put32(b, (uint32_t)pi->dims[d]);
            float *host = bad ? NULL : malloc(4 * L->param_count[k]);
            bad |= !host ||
                   clnet_net_param_read(net, L, k, host, NULL) != CLNET_OK;
            for (size_t e = 0; e < L->param_count[k] && !bad; e++) {
                uint32_t u;
                memcpy(&u, &host[e], 4);
                bad |= put32(b, u);
            }
            free(host);
        }
    }
    if (!bad)
        bad = put32(b, (uint32_t)crc32(0L, b->p, (uInt)b->len));
    return bad;
}

int clnet_checkpoint_save(const clnet_net *net, const char *path,
                          clnet_error *err)
{
    if (!net || !path || !*path)
        return clnet_fail(err, CLNET_E_ARG, "clnet_checkpoint_save: no network "
                                            "or path");
    buf_t b = {0};
    if (serialize(net, &b)) {
        free(b.p);
        return clnet_fail(err, CLNET_E_IO, "cannot gather the parameters for "
                          "%s (out of memory or a device read failed)", path);
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        free(b.p);
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory");
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(b.p);
        free(tmp);
        return clnet_fail(err, e == ENOENT || e == EACCES || e == EROFS
                                   ? CLNET_E_ARG
                                   : CLNET_E_IO,
                          "cannot write checkpoint %s: %s", path, strerror(e));
    }
    size_t done = 0;
    int e = 0;
    while (done < b.len) {
        ssize_t w = write(fd, b.p + done, b.len - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            e = errno;
            break;
        }
        done += (size_t)w;
    }
    if (!e && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    if (!e && chmod(tmp, 0644) != 0)
        e = errno;
    if (!e && rename(tmp, path) != 0)
        e = errno;
    if (e)
        unlink(tmp);
    free(tmp);
    free(b.p);
    if (e)
        return clnet_fail(err, CLNET_E_IO, "cannot write checkpoint %s: %s",
                          path, strerror(e));
    return CLNET_OK;
}

static unsigned char *read_all(const char *path, size_t *len, clnet_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        clnet_fail(err, errno == ENOENT ? CLNET_E_NOTFOUND : CLNET_E_IO,
                   "cannot open checkpoint %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
        (unsigned long long)st.st_size > CKPT_MAX_BYTES) {
        fclose(f);
        clnet_fail(err, CLNET_E_CHECKPOINT,
                   "%s is not a regular file of a plausible size", path);
        return NULL;
    }
    unsigned char *p = malloc((size_t)st.st_size + 1);
    if (!p) {
        fclose(f);
        clnet_fail(err, CLNET_E_NOMEM, "out of memory reading %s", path);
        return NULL;
    }
    *len = fread(p, 1, (size_t)st.st_size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || *len != (size_t)st.st_size) {
        free(p);
        clnet_fail(err, CLNET_E_IO, "cannot read %s", path);
        return NULL;
    }
    return p;
}

int clnet_checkpoint_load(clnet_net *net, const char *path, clnet_error *err)
{
    clnet_error_clear(err);
    if (!net || !path)
        return clnet_fail(err, CLNET_E_ARG, "clnet_checkpoint_load: no network "
                                            "or path");
    size_t len = 0;
    unsigned char *p = read_all(path, &len, err);
    if (!p)
        return err ? err->status : CLNET_E_IO;
    int rc = CLNET_OK;
    const size_t header = 8 + 4 * 4;
    if (len < header + 4 || memcmp(p, CKPT_MAGIC, 8) != 0) {
        rc = clnet_fail(err, CLNET_E_CHECKPOINT,
                        "%s is not a clnet checkpoint (no %s header)", path,
                        CKPT_MAGIC);
        goto out;
    }
    uint32_t version = get32(p + 8);
    if (version != CKPT_VERSION) {
        rc = clnet_fail(err, CLNET_E_CHECKPOINT,
                        "%s is a version %u checkpoint; this clnet reads "
                        "version %u",
                        path, version, CKPT_VERSION);
        goto out;
    }
    if (get32(p + len - 4) != (uint32_t)crc32(0L, p, (uInt)(len - 4))) {
        rc = clnet_fail(err, CLNET_E_CHECKPOINT,
                        "%s is corrupt: its checksum does not match its "
                        "contents",
                        path);
        goto out;
    }
    uint64_t hash = (uint64_t)get32(p + 16) | (uint64_t)get32(p + 20) << 32;
    if (hash != net->topo_hash) {
        rc = clnet_fail(err, CLNET_E_CHECKPOINT,
                        "%s was saved from another topology than %s (layer "
                        "names, kinds or shapes differ); use the topology file "
                        "it was trained with",
                        path, net->file);
        goto out;
    }
    /* Walk once to validate everything, then once more to copy, so a bad
     * file leaves the parameters untouched. */
    for (int pass = 0; pass < 2 && !rc; pass++) {
        size_t off = header;
        uint32_t count = get32(p + 12), seen = 0;
        for (int i = 0; i < net->nlayers && !rc; i++) {
            clnet_net_layer *L = &net->layers[i];
            for (int k = 0; k < L->plan.nparams && !rc; k++, seen++) {
                char want[160];
                tensor_name(L, k, want, sizeof want);
                const clnet_param_info *pi = &L->plan.params[k];
                if (seen >= count || off + 4 > len - 4) {
                    rc = clnet_fail(err, CLNET_E_CHECKPOINT,
                                    "%s ends before tensor %s", path, want);
                    break;
                }
                uint32_t nl = get32(p + off);
                off += 4;
                if (nl != strlen(want) || off + nl + 4 > len - 4 ||
                    memcmp(p + off, want, nl) != 0) {
                    rc = clnet_fail(err, CLNET_E_CHECKPOINT,
                                    "%s: expected tensor %s next", path, want);
                    break;
                }
                off += nl;
                uint32_t nd = get32(p + off);
                off += 4;
                int ok = nd == (uint32_t)pi->ndim && off + 4 * nd <= len - 4;
                for (uint32_t d = 0; ok && d < nd; d++)
                    ok = get32(p + off + 4 * d) == (uint32_t)pi->dims[d];
                off += 4 * (size_t)nd;
                size_t bytes = 4 * L->param_count[k];
                if (!ok || off + bytes > len - 4) {
                    rc = clnet_fail(err, CLNET_E_CHECKPOINT,
                                    "%s: tensor %s has another shape or is "
                                    "cut short",
                                    path, want);
                    break;
                }
                if (pass == 1) {
                    float *host = malloc(bytes);
                    if (!host) {
                        rc = clnet_fail(err, CLNET_E_NOMEM, "out of memory");
                        break;
                    }
                    for (size_t e = 0; e < L->param_count[k]; e++) {
                        uint32_t u = get32(p + off + 4 * e);
                        memcpy(&host[e], &u, 4);
                    }
                    rc = clnet_net_param_write(net, L, k, host, err);
                    free(host);
                }
                off += bytes;
            }
        }
        if (!rc && (seen != count || off != len - 4))
            rc = clnet_fail(err, CLNET_E_CHECKPOINT,
                            "%s holds other tensors than %s expects", path,
                            net->file);
    }
out:
    free(p);
    return rc;
}
