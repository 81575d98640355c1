/* libFuzzer target: the checkpoint loader, into a small fixed network
 * built once. A checkpoint ends in a CRC-32 that random mutations almost
 * never match, so the first byte of an input chooses: odd, the harness
 * appends the right CRC to the rest (reaching the tensor checks behind
 * it); even, the rest is the whole file (the CRC check itself). */
#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "ckpt_net.h"
#include "fuzz_file.h"

static clnet_registry *registry;
static clnet_net *net;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    net = ckpt_net(&registry);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int fix_crc = data[0] & 1;
    data++;
    size--;
    uint8_t *file = malloc(size + 4);
    if (!file)
        return 0;
    memcpy(file, data, size);
    if (fix_crc) {
        uint32_t c = (uint32_t)crc32(0L, data, (uInt)size);
        for (int i = 0; i < 4; i++)
            file[size + i] = (uint8_t)(c >> 8 * i);
    }
    const char *path = fuzz_file(0, file, size + (fix_crc ? 4 : 0));
    free(file);
    clnet_error e;
    clnet_checkpoint_load(net, path, &e);
    return 0;
}
