/* Writes seed inputs for fuzz_checkpoint into a folder: the fixed
 * network's checkpoint as clnet saves it, in the target's two framings
 * (CRC appended by the harness, or the whole file), cut short, and with
 * another version number. Run by tools/fuzz.sh, so the seeds follow the
 * checkpoint format and the topology hash as they change. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_net.h"

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    unsigned char *p = len > 0 ? malloc((size_t)len) : NULL;
    if (p && fread(p, 1, (size_t)len, f) != (size_t)len) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return p;
}

/* Writes framing byte `mode` then n bytes of d to dir/name. */
static int seed(const char *dir, const char *name, int mode,
                const unsigned char *d, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    unsigned char m = (unsigned char)mode;
    int ok = f && fwrite(&m, 1, 1, f) == 1 && fwrite(d, 1, n, f) == n;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "gen_checkpoint_seeds: cannot write %s\n", path);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_checkpoint_seeds DIR\n");
        return 2;
    }
    clnet_registry *reg;
    clnet_net *net = ckpt_net(&reg);
    char path[4096];
    snprintf(path, sizeof path, "%s/saved.ckpt", argv[1]);
    clnet_error e;
    if (clnet_checkpoint_save(net, path, &e) != CLNET_OK) {
        fprintf(stderr, "gen_checkpoint_seeds: %s\n", e.msg);
        return 1;
    }
    size_t n;
    unsigned char *d = slurp(path, &n);
    remove(path);
    if (!d || n < 28) {
        fprintf(stderr, "gen_checkpoint_seeds: cannot read back %s\n", path);
        return 1;
    }
    int bad = seed(argv[1], "whole", 0, d, n);
    bad |= seed(argv[1], "crc-fixed", 1, d, n - 4);
    bad |= seed(argv[1], "cut-short", 1, d, n / 2);
    bad |= seed(argv[1], "header-only", 1, d, 24);
    d[8] ^= 2; /* the version number */
    bad |= seed(argv[1], "other-version", 1, d, n - 4);
    free(d);
    clnet_net_free(net);
    clnet_registry_free(reg);
    return bad;
}
