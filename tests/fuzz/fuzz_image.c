/* libFuzzer target: the image decoder (PGM P2/P5 and PNG) with the area
 * scaling to 28 x 28 that `clnet predict` uses. */
#include <stdint.h>

#include "clnet/clnet.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t out[28 * 28];
    clnet_error e;
    clnet_image_load(fuzz_file(0, data, size), 28, 28, out, &e);
    return 0;
}
