/* Checkpoints: a versioned header, the topology's hash, the training
 * state (seed, step, epoch, the unfinished epoch's figures, the optimizer's
 * kind), named tensors with their shapes (every parameter, then every
 * optimizer slot), and a CRC-32 of everything before it. All numbers
 * little-endian, sizes 64-bit. Written as a stream through a temporary
 * file, fsync and a rename, so a good checkpoint is never replaced by a
 * partial one; read in two passes (check, then copy), so a bad file leaves
 * the network untouched. Version 3: the layouts of plugin ABI 2, with
 * non-trainable state (a moving mean) among the parameters, without
 * optimizer slots; files of versions 1 and 2 are refused. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "net.h"

#define CKPT_MAGIC "CLNETCKP"
#define CKPT_VERSION 3u /* 3: plugin ABI 2 (kinds, graphs, state) */
#define CKPT_HAS_STATE 1u
#define CHUNK (1u << 20)

/* ---- the save in progress, for signal handlers ---- */

static char temp_path[4096];
static volatile sig_atomic_t temp_live;

const char *clnet_checkpoint_temp_file(void)
{
    return temp_live ? temp_path : NULL;
}

/* ---- writing ---- */

typedef struct {
    int fd, err;
    uLong crc;
    size_t n;
    unsigned char buf[CHUNK];
} writer;

static void flush(writer *w)
{
    size_t done = 0;
    w->crc = crc32_z(w->crc, w->buf, w->n);
    while (done < w->n && !w->err) {
        ssize_t k = write(w->fd, w->buf + done, w->n - done);
        if (k < 0 && errno != EINTR)
            w->err = errno;
        else if (k > 0)
            done += (size_t)k;
    }
    w->n = 0;
}

static void put(writer *w, const void *d, size_t n)
{
    const unsigned char *p = d;
    while (n && !w->err) {
        size_t k = CHUNK - w->n < n ? CHUNK - w->n : n;
        memcpy(w->buf + w->n, p, k);
        w->n += k;
        p += k;
        n -= k;
        if (w->n == CHUNK)
            flush(w);
    }
}

static void put32(writer *w, uint32_t v)
{
    unsigned char x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (unsigned char)(v >> 8 * i);
    put(w, x, 4);
}

static void put64(writer *w, uint64_t v)
{
    put32(w, (uint32_t)v);
    put32(w, (uint32_t)(v >> 32));
}

static void putf64(writer *w, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    put64(w, u);
}

static void put_str(writer *w, const char *s)
{
    put32(w, (uint32_t)strlen(s));
    put(w, s, strlen(s));
}

/* One tensor's host handle or device buffer; slot -1 is the parameter. */
static void *tensor_handle(const clnet_net_layer *L, int k, int slot)
{
    return slot < 0 ? L->params[k] : L->slots[k][slot];
}

static void tensor_name(const clnet_net_layer *L, int k, int slot, char *out,
                        size_t n)
{
    if (slot < 0)
        snprintf(out, n, "%s/%s", L->name, L->plan.params[k].name);
    else
        snprintf(out, n, "%s/%s#%d", L->name, L->plan.params[k].name, slot);
}

/* Whether tensor k of L has optimizer slots: trainable parameters do,
 * non-trainable state does not. */
static int has_slots(const clnet_net_layer *L, int k)
{
    return !L->plan.params[k].non_trainable;
}

static int nslots_of(const clnet_net *net)
{
    int n = -1;
    for (int b = 0; b < net->nbackends; b++)
        if (net->backends[b].optimizer) {
            int s = net->backends[b].optimizer->optimizer.nslots;
            n = n < 0 || s < n ? s : n;
        }
    return n < 0 ? 0 : n;
}

static int count_tensors(const clnet_net *net)
{
    int n = 0;
    for (int i = 0; i < net->nlayers; i++)
        n += net->layers[i].plan.nparams;
    return n;
}

/* Streams tensor (layer L, parameter k, slot) through host memory. */
static int put_tensor(writer *w, const clnet_net *net,
                      const clnet_net_layer *L, int k, int slot, float *host)
{
    char name[160];
    tensor_name(L, k, slot, name, sizeof name);
    const clnet_param_info *pi = &L->plan.params[k];
    put_str(w, name);
    put32(w, (uint32_t)pi->ndim);
    for (int d = 0; d < pi->ndim; d++)
        put32(w, (uint32_t)pi->dims[d]);
    put64(w, (uint64_t)L->param_count[k]);
    const clnet_backend *b = &net->backends[L->bk];
    char perr[CLNET_ERRLEN];
    if (b->ops->read(b->ctx, tensor_handle(L, k, slot), host,
                     L->param_count[k] * sizeof(float), perr))
        return -1;
    for (size_t e = 0; e < L->param_count[k]; e++) {
        uint32_t u;
        memcpy(&u, &host[e], 4);
        put32(w, u);
    }
    return 0;
}

static int serialize(writer *w, const clnet_net *net)
{
    size_t largest = 1;
    for (int i = 0; i < net->nlayers; i++)
        for (int k = 0; k < net->layers[i].plan.nparams; k++)
            if (net->layers[i].param_count[k] > largest)
                largest = net->layers[i].param_count[k];
    float *host = malloc(largest * sizeof(float));
    if (!host)
        return -1;
    const clnet_progress *pg = &net->progress;
    int nslots = nslots_of(net);
    put(w, CKPT_MAGIC, 8);
    put32(w, CKPT_VERSION);
    put32(w, CKPT_HAS_STATE);
    put64(w, net->topo_hash);
    put64(w, net->seed);
    put64(w, net->step);
    put_str(w, net->optimizer_kind ? net->optimizer_kind : "");
    put32(w, (uint32_t)nslots);
    put32(w, (uint32_t)pg->epoch);
    put64(w, (uint64_t)pg->epoch_step);
    put32(w, (uint32_t)pg->batch);
    put32(w, (uint32_t)pg->count);
    putf64(w, pg->loss_sum);
    put64(w, (uint64_t)pg->correct);
    put64(w, (uint64_t)pg->seen);
    putf64(w, pg->seconds);
    putf64(w, pg->first_loss);
    put32(w, (uint32_t)count_tensors(net));
    int bad = 0;
    for (int slot = -1; slot < nslots && !bad; slot++)
        for (int i = 0; i < net->nlayers && !bad; i++)
            for (int k = 0; k < net->layers[i].plan.nparams && !bad; k++)
                if (slot < 0 || has_slots(&net->layers[i], k))
                    bad = put_tensor(w, net, &net->layers[i], k, slot, host);
    free(host);
    return bad;
}

int clnet_checkpoint_save(const clnet_net *net, const char *path,
                          clnet_error *err)
{
    if (!net || !path || !*path)
        return clnet_fail(err, CLNET_E_ARG, "clnet_checkpoint_save: no network "
                                            "or path");
    size_t plen = strlen(path);
    if (plen + 16 > sizeof temp_path)
        return clnet_fail(err, CLNET_E_ARG, "checkpoint path too long: %s",
                          path);
    writer *w = malloc(sizeof *w);
    if (!w)
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory");
    char tmp[sizeof temp_path];
    snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    /* a signal handler may remove the file as soon as it exists */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    memcpy(temp_path, tmp, plen + 16);
    int fd = mkstemp(temp_path);
    temp_live = fd >= 0;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (fd < 0) {
        int e = errno;
        free(w);
        return clnet_fail(err, e == ENOENT || e == EACCES || e == EROFS ||
                                       e == ENOTDIR
                                   ? CLNET_E_ARG
                                   : CLNET_E_IO,
                          "%s: cannot write the checkpoint: %s", path, strerror(e));
    }
    memset(w, 0, offsetof(writer, buf));
    w->fd = fd;
    w->crc = crc32_z(0L, NULL, 0);
    int gathered = serialize(w, net) == 0;
    if (gathered && !w->err) {
        flush(w);
        uint32_t crc = (uint32_t)w->crc;
        put32(w, crc);
        /* the CRC itself is not part of what it sums */
        size_t done = 0;
        while (done < w->n && !w->err) {
            ssize_t k = write(fd, w->buf + done, w->n - done);
            if (k < 0 && errno != EINTR)
                w->err = errno;
            else if (k > 0)
                done += (size_t)k;
        }
    }
    int e = w->err;
    if (!e && fsync(fd) != 0)
        e = errno;
    /* mkstemp made it 0600; give it the mode a new file gets here */
    mode_t mask = umask(0);
    umask(mask);
    if (!e && fchmod(fd, 0666 & ~mask) != 0)
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    if (!e && gathered && rename(temp_path, path) != 0)
        e = errno;
    if (e || !gathered)
        unlink(temp_path);
    temp_live = 0;
    free(w);
    if (!gathered)
        return clnet_fail(err, CLNET_E_IO, "cannot gather the parameters for "
                          "%s (out of memory or a device read failed)", path);
    if (e)
        return clnet_fail(err, CLNET_E_IO, "%s: cannot write the checkpoint: %s",
                          path, strerror(e));
    return CLNET_OK;
}

/* ---- reading ---- */

typedef struct {
    FILE *f;
    uint64_t off, len; /* len: the file's bytes before the CRC */
    uLong crc;
    int short_read;
    unsigned char buf[CHUNK];
} reader;

/* n bytes into d (NULL: skipped, still summed); 0 past the end. */
static int take(reader *r, void *d, size_t n)
{
    if (n > r->len - r->off) {
        r->short_read = 1;
        return 0;
    }
    unsigned char *p = d;
    while (n) {
        size_t k = n < CHUNK ? n : CHUNK;
        unsigned char *dst = p ? p : r->buf;
        if (fread(dst, 1, k, r->f) != k) {
            r->short_read = 1;
            return 0;
        }
        r->crc = crc32_z(r->crc, dst, k);
        r->off += k;
        n -= k;
        if (p)
            p += k;
    }
    return 1;
}

static uint32_t get32(reader *r)
{
    unsigned char x[4] = {0};
    take(r, x, 4);
    return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 |
           (uint32_t)x[3] << 24;
}

static uint64_t get64(reader *r)
{
    uint64_t lo = get32(r);
    return lo | (uint64_t)get32(r) << 32;
}

static double getf64(reader *r)
{
    uint64_t u = get64(r);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* The header fields this code reads back. */
typedef struct {
    uint32_t version, flags, nslots, ntensors;
    uint64_t hash, seed, step;
    char optimizer[64];
    clnet_progress progress;
} header;

static int read_header(reader *r, header *h, const char *path,
                       clnet_error *err)
{
    char magic[8] = {0};
    memset(h, 0, sizeof *h);
    if (!take(r, magic, 8) || memcmp(magic, CKPT_MAGIC, 8) != 0)
        return clnet_fail(err, CLNET_E_CHECKPOINT,
                          "%s: not a clnet checkpoint (no %s header)", path,
                          CKPT_MAGIC);
    h->version = get32(r);
    if (h->version == 1 || h->version == 2)
        return clnet_fail(err, CLNET_E_CHECKPOINT,
                          "%s: a version %u checkpoint, written before "
                          "plugin ABI 2 changed what layers hold (kernel "
                          "initializers, non-trainable state, graph inputs); "
                          "this clnet reads version %u: train the network "
                          "again",
                          path, h->version, CKPT_VERSION);
    if (h->version != CKPT_VERSION)
        return clnet_fail(err, CLNET_E_CHECKPOINT,
                          "%s: a version %u checkpoint; this clnet reads "
                          "version %u",
                          path, h->version, CKPT_VERSION);
    h->flags = get32(r);
    h->hash = get64(r);
    h->seed = get64(r);
    h->step = get64(r);
    uint32_t nl = get32(r);
    if (nl >= sizeof h->optimizer)
        return clnet_fail(err, CLNET_E_CHECKPOINT,
                          "%s: corrupt: an optimizer name of %u bytes", path,
                          nl);
    take(r, h->optimizer, nl);
    h->nslots = get32(r);
    if (h->nslots > CLNET_MAX_SLOTS)
        return clnet_fail(err, CLNET_E_CHECKPOINT,
                          "%s: corrupt: %u optimizer slots a parameter", path,
                          h->nslots);
    clnet_progress *pg = &h->progress;
    pg->epoch = (int32_t)get32(r);
    pg->epoch_step = (int64_t)get64(r);
    pg->batch = (int32_t)get32(r);
    pg->count = (int32_t)get32(r);
    pg->loss_sum = getf64(r);
    pg->correct = (int64_t)get64(r);
    pg->seen = (int64_t)get64(r);
    pg->seconds = getf64(r);
    pg->first_loss = getf64(r);
    h->ntensors = get32(r);
    if (r->short_read)
        return clnet_fail(err, CLNET_E_CHECKPOINT, "%s ends inside its header",
                          path);
    return CLNET_OK;
}

/* The file's length that net and header h imply: checked before any
 * tensor is read, so that a header cannot make this code read or
 * allocate for data the file does not hold. */
static uint64_t expected_length(const clnet_net *net, uint64_t header_bytes,
                                int slots)
{
    uint64_t n = header_bytes + 4;
    for (int slot = -1; slot < slots; slot++)
        for (int i = 0; i < net->nlayers; i++) {
            const clnet_net_layer *L = &net->layers[i];
            for (int k = 0; k < L->plan.nparams; k++) {
                char name[160];
                if (slot >= 0 && !has_slots(L, k))
                    continue;
                tensor_name(L, k, slot, name, sizeof name);
                n += 4 + strlen(name) + 4 +
                     4 * (uint64_t)L->plan.params[k].ndim + 8 +
                     4 * (uint64_t)L->param_count[k];
            }
        }
    return n;
}

/* Reads one tensor's record: checks name, shape and count, then copies
 * its values to the device when `copy`. */
static int get_tensor(reader *r, clnet_net *net, const clnet_net_layer *L,
                      int k, int slot, int copy, float *host,
                      const char *path, clnet_error *err)
{
    char want[160], got[160];
    tensor_name(L, k, slot, want, sizeof want);
    const clnet_param_info *pi = &L->plan.params[k];
    uint32_t nl = get32(r);
    int ok = nl == strlen(want) && take(r, got, nl) &&
             memcmp(got, want, nl) == 0;
    if (!ok)
        return clnet_fail(err, CLNET_E_CHECKPOINT,
                          "%s: expected tensor %s next", path, want);
    ok = get32(r) == (uint32_t)pi->ndim;
    for (int d = 0; ok && d < pi->ndim; d++)
        ok = get32(r) == (uint32_t)pi->dims[d];
    if (ok)
        ok = get64(r) == (uint64_t)L->param_count[k];
    if (!ok || r->short_read)
        return clnet_fail(err, CLNET_E_CHECKPOINT,
                          "%s: tensor %s has another shape or is cut short",
                          path, want);
    size_t left = L->param_count[k], done = 0;
    while (left) {
        size_t n = left < CHUNK / 4 ? left : CHUNK / 4;
        if (copy) {
            if (!take(r, host + done, 4 * n))
                break;
        } else if (!take(r, NULL, 4 * n)) {
            break;
        }
        done += n;
        left -= n;
    }
    if (left)
        return clnet_fail(err, CLNET_E_CHECKPOINT, "%s ends inside tensor %s",
                          path, want);
    if (!copy)
        return CLNET_OK;
    /* the file is little-endian, as every supported host */
    clnet_backend *b = &net->backends[L->bk];
    char perr[CLNET_ERRLEN] = "";
    net->param_writes++; /* the inference chains fold again */
    if (b->ops->write(b->ctx, tensor_handle(L, k, slot), host,
                      L->param_count[k] * sizeof(float), perr))
        return clnet_fail(err, CLNET_E_IO, "writing %s to %s: %s", want,
                          b->name, perr);
    return CLNET_OK;
}

static int open_checked(const char *path, reader *r, clnet_error *err)
{
    r->f = fopen(path, "rb");
    if (!r->f)
        return clnet_fail(err, errno == ENOENT ? CLNET_E_NOTFOUND
                               : errno == EISDIR ? CLNET_E_ARG
                                                 : CLNET_E_IO,
                          "%s: cannot open the checkpoint: %s", path,
                          strerror(errno));
    struct stat st;
    if (fstat(fileno(r->f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(r->f);
        r->f = NULL;
        return clnet_fail(err, CLNET_E_ARG,
                          "%s: not a regular file; give a checkpoint file",
                          path);
    }
    if (st.st_size < 12) {
        fclose(r->f);
        r->f = NULL;
        return clnet_fail(err, CLNET_E_CHECKPOINT,
                          "%s: not a clnet checkpoint (no %s header)", path,
                          CKPT_MAGIC);
    }
    r->len = (uint64_t)st.st_size - 4;
    return CLNET_OK;
}

static void rewind_reader(reader *r)
{
    rewind(r->f);
    r->off = 0;
    r->crc = crc32_z(0L, NULL, 0);
    r->short_read = 0;
}

/* Walks the file's tensor records against the network's without copying
 * (take() is bounded by the file): the error names the first tensor
 * expected and not found; CLNET_OK when every name and shape is there. */
static int first_missing(reader *r, clnet_net *net, header *h, int slots,
                         const char *path, clnet_error *err)
{
    rewind_reader(r);
    if (read_header(r, h, path, err))
        return err ? err->status : CLNET_E_CHECKPOINT;
    int rc = CLNET_OK;
    for (int slot = -1; slot < slots && !rc; slot++)
        for (int i = 0; i < net->nlayers && !rc; i++)
            for (int k = 0; k < net->layers[i].plan.nparams && !rc; k++)
                if (slot < 0 || has_slots(&net->layers[i], k))
                    rc = get_tensor(r, net, &net->layers[i], k, slot, 0, NULL,
                                    path, err);
    return rc;
}

/* Loads the weights, and with `state` the optimizer's slots and the
 * training state too. */
static int load(clnet_net *net, const char *path, int state, clnet_error *err)
{
    clnet_error_clear(err);
    if (!net || !path)
        return clnet_fail(err, CLNET_E_ARG, "clnet_checkpoint_load: no network "
                                            "or path");
    reader *r = calloc(1, sizeof *r);
    if (!r)
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory");
    int rc = open_checked(path, r, err);
    float *host = NULL;
    header h;
    if (rc)
        goto out;
    rewind_reader(r);
    if ((rc = read_header(r, &h, path, err)))
        goto out;
    if (h.hash != net->topo_hash) {
        rc = clnet_fail(err, CLNET_E_CHECKPOINT,
                        "%s: saved from another topology than %s (layer "
                        "names, kinds, shapes or settings differ); use the "
                        "topology file it was trained with",
                        path, net->file);
        goto out;
    }
    int nslots = nslots_of(net);
    if (state && !(h.flags & CKPT_HAS_STATE)) {
        rc = clnet_fail(err, CLNET_E_CHECKPOINT,
                        "%s: weights only; it can start a new training "
                        "with --init-weights, not be resumed",
                        path);
        goto out;
    }
    if (state && (strcmp(h.optimizer, net->optimizer_kind) != 0 ||
                  h.nslots != (uint32_t)nslots)) {
        rc = clnet_fail(err, CLNET_E_CHECKPOINT,
                        "%s: trained with optimizer %s; %s uses %s: resume "
                        "with the same train line, or start anew from its "
                        "weights with --init-weights",
                        path, h.optimizer, net->file, net->optimizer_kind);
        goto out;
    }
    int file_slots = (int)h.nslots;
    uint64_t expect = expected_length(net, r->off, file_slots);
    if ((uint64_t)h.ntensors != (uint64_t)count_tensors(net) ||
        expect != r->len + 4) {
        /* the first tensor that is not where it should be, when one is
         * missing (a layer's state, say); else the lengths */
        rc = first_missing(r, net, &h, file_slots, path, err);
        if (!rc)
            rc = clnet_fail(err, CLNET_E_CHECKPOINT,
                        "%s: %llu bytes, but a checkpoint of %s holds %llu "
                        "(cut short, or other tensors)",
                        path, (unsigned long long)(r->len + 4), net->file,
                        (unsigned long long)expect);
        goto out;
    }
    size_t largest = 1;
    for (int i = 0; i < net->nlayers; i++)
        for (int k = 0; k < net->layers[i].plan.nparams; k++)
            if (net->layers[i].param_count[k] > largest)
                largest = net->layers[i].param_count[k];
    if (!(host = malloc(largest * sizeof(float)))) {
        rc = clnet_fail(err, CLNET_E_NOMEM, "out of memory");
        goto out;
    }
    /* pass 0 checks names, shapes and the checksum; pass 1 copies */
    for (int pass = 0; pass < 2 && (!rc || pass == 0); pass++) {
        if (pass == 1) {
            rewind_reader(r);
            read_header(r, &h, path, err);
        }
        int last = state ? file_slots : 0;
        for (int slot = -1; slot < file_slots && !rc; slot++)
            for (int i = 0; i < net->nlayers && !rc; i++)
                for (int k = 0; k < net->layers[i].plan.nparams && !rc; k++)
                    if (slot < 0 || has_slots(&net->layers[i], k))
                        rc = get_tensor(r, net, &net->layers[i], k, slot,
                                        pass == 1 && slot < last, host, path,
                                        err);
        if (pass == 0) {
            /* a flipped byte reads as corrupt wherever it lies, not as
             * the wrong tensor name it may have made: sum the whole file */
            if (rc || r->off != r->len) {
                rewind_reader(r);
                take(r, NULL, r->len);
            }
            unsigned char x[4];
            uLong sum = r->crc;
            r->len += 4;
            r->short_read = 0;
            take(r, x, 4);
            uint32_t stored = (uint32_t)x[0] | (uint32_t)x[1] << 8 |
                              (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
            r->len -= 4;
            if (r->short_read || stored != (uint32_t)sum ||
                r->off != r->len + 4)
                rc = clnet_fail(err, CLNET_E_CHECKPOINT,
                                "%s: corrupt: its checksum does not match "
                                "its contents",
                                path);
        }
    }
    if (!rc && state) {
        net->seed = h.seed;
        net->step = h.step;
        net->progress = h.progress;
    }
out:
    free(host);
    if (r->f)
        fclose(r->f);
    free(r);
    return rc;
}

int clnet_checkpoint_load(clnet_net *net, const char *path, clnet_error *err)
{
    return load(net, path, 0, err);
}

int clnet_checkpoint_resume(clnet_net *net, const char *path,
                            clnet_error *err)
{
    return load(net, path, 1, err);
}
