/* libFuzzer target: both image decoders on the same input: the PGM/PNG
 * decoder with the area scaling to 28 x 28 (clnet_image_load), and the
 * stb_image path of image folders and predict (clnet_image_decode) to
 * 28 x 28 grey and 7 x 5 RGB, stretched (clnet's conversion and
 * stb_image_resize) and under the fixed-size rule. */
#include <stdint.h>

#include "clnet/clnet.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t out[28 * 28], rgb[7 * 5 * 3];
    char why[256];
    clnet_error e;
    const char *path = fuzz_file(0, data, size);
    clnet_image_load(path, 28, 28, out, &e);
    clnet_image_decode(path, 28, 28, 1, CLNET_RESIZE_STRETCH, out, why,
                       sizeof why);
    clnet_image_decode(path, 7, 5, 3, CLNET_RESIZE_STRETCH, rgb, why,
                       sizeof why);
    clnet_image_decode(path, 7, 5, 3, CLNET_RESIZE_FIXED, rgb, why,
                       sizeof why);
    return 0;
}
