/* libFuzzer target: the image decoder (src/image.c: stb_image, the
 * cut-short checks, the compositing and the area scaling) through both
 * of its doors: clnet_image_load (grey, 28 x 28) and clnet_image_decode
 * (image folders and predict) to 28 x 28 grey and 7 x 5 RGB, stretched
 * and under the fixed-size rule. */
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
