/* libFuzzer target: the IDX loader, plain and gzip. An input is
 *   1 byte   flags: bit 0 gzips the image file, bit 1 the label file
 *   2 bytes  L, little-endian: the label file's length (cut to what is left)
 *   L bytes  the label file
 *   rest     the image file
 * The flags let mutations of the payload reach the checks behind zlib's
 * own; gzip files in the input itself fuzz zlib's error paths. */
#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "clnet/clnet.h"
#include "fuzz_file.h"

/* Writes data, gzip-compressed when gz, to in-memory file `slot`. */
static const char *put(int slot, const uint8_t *data, size_t n, int gz)
{
    if (!gz)
        return fuzz_file(slot, data, n);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
        abort();
    size_t cap = deflateBound(&z, (uLong)n);
    uint8_t *buf = malloc(cap);
    if (!buf)
        abort();
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)n;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        abort();
    const char *path = fuzz_file(slot, buf, z.total_out);
    deflateEnd(&z);
    free(buf);
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    int flags = data[0];
    size_t nl = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (nl > size)
        nl = size;
    const char *labels = put(1, data, nl, flags & 2);
    const char *images = put(0, data + nl, size - nl, flags & 1);
    clnet_dataset ds;
    clnet_error e;
    if (clnet_dataset_load_idx(&ds, images, labels, &e) == CLNET_OK)
        clnet_dataset_free(&ds);
    return 0;
}
