/* libFuzzer target: the CIFAR loader. A folder made once holds symlinks
 * to two in-memory files, the batch and the class names, under CIFAR-10's
 * or CIFAR-100's names. An input is
 *   1 byte   bit 0: CIFAR-100 (else 10), bit 1: coarse labels
 *   2 bytes  N, little-endian: the names file's length (cut to what is
 *            left)
 *   N bytes  the names file
 *   rest     the test batch */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clnet/clnet.h"
#include "fuzz_file.h"

static char dirs[2][64];

/* dir/name -> the in-memory file's /proc/self/fd path */
static void link_to(const char *dir, const char *name, const char *target)
{
    char p[160];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (symlink(target, p) != 0)
        abort();
}

static void make_dirs(void)
{
    const char *batch = fuzz_file(0, "", 0), *names = fuzz_file(1, "", 0);
    for (int k = 0; k < 2; k++) {
        snprintf(dirs[k], sizeof dirs[k], "/tmp/clnet-fuzz-cifar-XXXXXX");
        if (!mkdtemp(dirs[k]))
            abort();
    }
    /* CIFAR-10: the test batch, and the first training batch that tells
     * the kind (its contents are not read for "test") */
    link_to(dirs[0], "test_batch.bin", batch);
    link_to(dirs[0], "data_batch_1.bin", batch);
    link_to(dirs[0], "batches.meta.txt", names);
    link_to(dirs[1], "test.bin", batch);
    link_to(dirs[1], "train.bin", batch);
    link_to(dirs[1], "fine_label_names.txt", names);
    link_to(dirs[1], "coarse_label_names.txt", names);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dirs[0][0])
        make_dirs();
    if (size < 3)
        return 0;
    int flags = data[0];
    size_t nn = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (nn > size)
        nn = size;
    fuzz_file(1, data, nn);
    fuzz_file(0, data + nn, size - nn);
    clnet_dataset ds;
    clnet_error e;
    if (clnet_dataset_load_cifar(&ds, dirs[flags & 1], "test", (flags & 2) != 0,
                                 0, &e) == CLNET_OK)
        clnet_dataset_free(&ds);
    return 0;
}
