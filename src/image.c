/* Image files for image folders and `clnet predict`: PNG (every bit depth
 * and colour type, interlaced or not), JPEG (baseline and progressive),
 * binary PGM and PPM (P5, P6), BMP and GIF, decoded by stb_image
 * (Debian's libstb), then
 * - made the input's channels: grey is replicated to RGB, RGB becomes
 *   grey by stb_image's weights (77 R + 150 G + 29 B) / 256;
 * - composited onto the background the drawing needs when the image has
 *   transparency: onto white when what is drawn is dark (a black digit
 *   on a transparent page becomes a black digit on white, which
 *   --invert turns into an MNIST-like white digit on black), else onto
 *   black (MNIST's own background);
 * - scaled to the input's height and width by area averaging
 *   (CLNET_RESIZE_STRETCH, aspect not kept; stb's resizer asserted on
 *   inputs the fuzzer made) or refused at another size
 *   (CLNET_RESIZE_FIXED).
 * stb_image does not read ASCII PGM (P2): such a file is refused with a
 * message that says so. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb_image.h>

#include "internal.h"

#define MAX_FILE_BYTES (64u << 20)
#define MAX_IMAGE_PIXELS (64u << 20)

/* Reads the whole file, growing the buffer as data arrives (never to
 * what a header merely claims), up to MAX_FILE_BYTES. */
static unsigned char *read_whole(const char *path, size_t *len, char *why,
                                 size_t whylen)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "%s",
                 S_ISDIR(st.st_mode) ? "is a directory"
                                     : "is not a regular file");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whylen, "cannot be read: %s", strerror(errno));
        return NULL;
    }
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16384;
            unsigned char *g = cap <= MAX_FILE_BYTES ? realloc(buf, cap) : NULL;
            if (!g) {
                snprintf(why, whylen, "is larger than %u MiB",
                         MAX_FILE_BYTES >> 20);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = g;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(why, whylen, "cannot be read: reading failed");
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* The background an image with transparency is composited onto: white
 * when the pixels that are drawn (weighted by their alpha) are dark on
 * average, else black. n: stb_image's channels (2 and 4 have alpha). */
static int background(const unsigned char *src, int n, size_t pixels)
{
    if (n != 2 && n != 4)
        return 0;
    double ink = 0, cover = 0;
    for (size_t p = 0; p < pixels; p++) {
        const unsigned char *s = src + p * (size_t)n;
        int lum = n == 2 ? s[0] : (s[0] * 77 + s[1] * 150 + s[2] * 29) >> 8;
        int a = s[n - 1];
        ink += (double)a * lum;
        cover += a;
    }
    return cover > 0 && ink / cover < 128 ? 255 : 0;
}

/* src (stb_image's n channels: grey, grey + alpha, RGB, RGBA) as
 * `channels` (1 or 3) values a pixel, alpha composited onto bg. */
static void convert(const unsigned char *src, int n, size_t pixels,
                    int channels, int bg, uint8_t *dst)
{
    for (size_t p = 0; p < pixels; p++) {
        const unsigned char *s = src + p * (size_t)n;
        int r, g, b;
        if (n <= 2)
            r = g = b = s[0];
        else {
            r = s[0];
            g = s[1];
            b = s[2];
        }
        int a = n == 2 ? s[1] : n == 4 ? s[3] : 255;
        if (a != 255) {
            r = (r * a + bg * (255 - a) + 127) / 255;
            g = (g * a + bg * (255 - a) + 127) / 255;
            b = (b * a + bg * (255 - a) + 127) / 255;
        }
        if (channels == 1)
            dst[p] = n <= 2 ? (uint8_t)r
                            : (uint8_t)((r * 77 + g * 150 + b * 29) >> 8);
        else {
            dst[p * 3] = (uint8_t)r;
            dst[p * 3 + 1] = (uint8_t)g;
            dst[p * 3 + 2] = (uint8_t)b;
        }
    }
}

/* Area averaging along one axis: in is outer x n x inner, out outer x m
 * x inner; output j is the mean of input [j n/m, (j+1) n/m), fractional
 * ends weighted. One of in8/ind is the input (bytes or doubles), one of
 * out8/outd the output (rounded to bytes, or doubles). The cost is
 * (n + 2m) x outer x inner, whatever the ratio. */
static void area_axis(const uint8_t *in8, const double *ind, size_t outer,
                      int32_t n, size_t inner, int32_t m, uint8_t *out8,
                      double *outd)
{
    double s = (double)n / m;
    for (int32_t j = 0; j < m; j++) {
        double a0 = j * s, a1 = a0 + s;
        int32_t first = (int32_t)a0;
        for (size_t o = 0; o < outer; o++)
            for (size_t k = 0; k < inner; k++) {
                double sum = 0, area = 0;
                for (int32_t i = first; i < n && i < a1; i++) {
                    double w = (i + 1 < a1 ? i + 1 : a1) - (i > a0 ? i : a0);
                    size_t at = (o * (size_t)n + (size_t)i) * inner + k;
                    sum += w * (in8 ? in8[at] : ind[at]);
                    area += w;
                }
                double v = area > 0 ? sum / area : 0;
                size_t to = (o * (size_t)m + (size_t)j) * inner + k;
                if (out8)
                    out8[to] = (uint8_t)(v + 0.5);
                else
                    outd[to] = v;
            }
    }
}

int clnet_resize_area(const uint8_t *in, int32_t h, int32_t w, int32_t c,
                      int32_t rows, int32_t cols, uint8_t *out)
{
    /* separable: the axis whose pass leaves the smaller intermediate
     * first (a 4096 x 1 strip would otherwise be read once per output
     * row); an area weight is the product of the two axes' weights */
    size_t across_first = (size_t)h * cols, down_first = (size_t)rows * w;
    double *mid = malloc(sizeof *mid * (across_first < down_first
                                            ? across_first
                                            : down_first) *
                         (size_t)c);
    if (!mid)
        return -1;
    if (across_first <= down_first) {
        area_axis(in, NULL, (size_t)h, w, (size_t)c, cols, NULL, mid);
        area_axis(NULL, mid, 1, h, (size_t)cols * c, rows, out, NULL);
    } else {
        area_axis(in, NULL, 1, h, (size_t)w * c, rows, NULL, mid);
        area_axis(NULL, mid, (size_t)rows, w, (size_t)c, cols, out, NULL);
    }
    free(mid);
    return 0;
}

/* What stb_image does not check before it allocates or decodes: a
 * cut-short PGM/PPM or JPEG it pads instead of failing (a binary PNM's
 * header must be followed by all its samples, a JPEG must end with its
 * EOI marker), and PNG chunk lengths past the end of the file. Returns a
 * reason, or NULL. */
static const char *cut_short(const unsigned char *d, size_t n, int w, int h,
                             int channels)
{
    /* PNG: every chunk's length must fit in the file, or stb_image grows
     * its buffer to what a 70-byte file claims (gigabytes) before it
     * finds out */
    if (n >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) {
        size_t at = 8;
        while (at + 8 <= n) {
            uint32_t len = (uint32_t)d[at] << 24 | (uint32_t)d[at + 1] << 16 |
                           (uint32_t)d[at + 2] << 8 | d[at + 3];
            if (len > n - at - 8 || n - at - 8 - len < 4)
                return "is cut short or damaged: a PNG chunk claims more "
                       "bytes than the file holds";
            if (!memcmp(d + at + 4, "IEND", 4))
                return NULL;
            at += 12 + (size_t)len;
        }
        return "is cut short: the PNG has no IEND chunk";
    }
    if (n >= 2 && d[0] == 0xff && d[1] == 0xd8) {
        /* trailing bytes after EOI are common; look at the last 64 */
        for (size_t i = n >= 64 ? n - 64 : 0; i + 1 < n; i++)
            if (d[i] == 0xff && d[i + 1] == 0xd9)
                return NULL;
        return "is cut short: the JPEG has no end-of-image marker";
    }
    if (n < 2 || d[0] != 'P' || (d[1] != '5' && d[1] != '6'))
        return NULL;
    size_t pos = 2;
    long v[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
        for (;;) {
            while (pos < n && (d[pos] == ' ' || d[pos] == '\t' ||
                               d[pos] == '\r' || d[pos] == '\n'))
                pos++;
            if (pos < n && d[pos] == '#')
                while (pos < n && d[pos] != '\n')
                    pos++;
            else
                break;
        }
        while (pos < n && d[pos] >= '0' && d[pos] <= '9' && v[k] < 1000000)
            v[k] = v[k] * 10 + (d[pos++] - '0');
    }
    pos++; /* the one whitespace byte before the samples */
    uint64_t need = (uint64_t)w * (uint64_t)h * (uint64_t)channels *
                    (v[2] > 255 ? 2u : 1u);
    return pos > n || n - pos < need ? "is cut short: fewer samples than its "
                                       "header's size"
                                     : NULL;
}

int clnet_image_decode(const char *path, int32_t rows, int32_t cols,
                       int32_t channels, clnet_resize rule, uint8_t *out,
                       char *why, size_t whylen)
{
    if (!why || whylen == 0)
        return -1;
    if (!path || !out || rows < 1 || cols < 1 ||
        (channels != 1 && channels != 3) ||
        (rule != CLNET_RESIZE_STRETCH && rule != CLNET_RESIZE_FIXED)) {
        snprintf(why, whylen, "clnet_image_decode: bad argument (images are "
                              "read as 1 or 3 channels)");
        return -1;
    }
    size_t len = 0;
    unsigned char *file = read_whole(path, &len, why, whylen);
    if (!file)
        return -1;
    int w, h, n;
    /* the header's size first: stb_image allocates what a header claims
     * (a 20-byte PGM asked for 26520 x 53506) and fills what is missing */
    if (len > 0x7fffffff || !stbi_info_from_memory(file, (int)len, &w, &h, &n)) {
        int ascii_pgm = len >= 2 && file[0] == 'P' &&
                        (file[1] == '2' || file[1] == '3');
        if (ascii_pgm)
            snprintf(why, whylen, "is an ASCII (P%c) PGM/PPM, which is not "
                                  "read; save it as binary (P5 or P6)",
                     file[1]);
        else
            snprintf(why, whylen, "cannot be decoded: %s",
                     stbi_failure_reason() ? stbi_failure_reason()
                                           : "unknown");
        free(file);
        return -1;
    }
    if ((uint64_t)w * (uint64_t)h > MAX_IMAGE_PIXELS ||
        /* deflate packs at most 1032 bytes into one */
        (uint64_t)w * (uint64_t)h * (uint64_t)n > 1100 * (uint64_t)len + 4096) {
        snprintf(why, whylen,
                 "claims %dx%d pixels (height x width), more than %s; the "
                 "file is damaged or too large an image",
                 h, w,
                 (uint64_t)w * h > MAX_IMAGE_PIXELS
                     ? "64 megapixels"
                     : "its bytes can hold");
        free(file);
        return -1;
    }
    const char *short_by = cut_short(file, len, w, h, n);
    if (short_by) {
        snprintf(why, whylen, "%s", short_by);
        free(file);
        return -1;
    }
    unsigned char *img = stbi_load_from_memory(file, (int)len, &w, &h, &n, 0);
    free(file);
    if (!img) {
        snprintf(why, whylen, "cannot be decoded: %s",
                 stbi_failure_reason() ? stbi_failure_reason() : "unknown");
        return -1;
    }
    size_t px = (size_t)w * (size_t)h;
    int bg = background(img, n, px);
    int rc = 0;
    if (w == cols && h == rows) {
        convert(img, n, px, channels, bg, out);
    } else if (rule == CLNET_RESIZE_FIXED) {
        snprintf(why, whylen,
                 "is %dx%d, not the input's %dx%d (height x width); "
                 "--resize stretch scales every image to it",
                 h, w, (int)rows, (int)cols);
        rc = -1;
    } else {
        uint8_t *tmp = malloc(px * (size_t)channels);
        if (!tmp) {
            snprintf(why, whylen, "out of memory");
            rc = -1;
        } else {
            convert(img, n, px, channels, bg, tmp);
            if (clnet_resize_area(tmp, h, w, channels, rows, cols, out)) {
                snprintf(why, whylen, "out of memory scaling it");
                rc = -1;
            }
            free(tmp);
        }
    }
    stbi_image_free(img);
    return rc;
}

int clnet_image_load(const char *path, int32_t rows, int32_t cols,
                     uint8_t *out, clnet_error *err)
{
    clnet_error_clear(err);
    if (!path || !out || rows < 1 || cols < 1)
        return clnet_fail(err, CLNET_E_ARG, "clnet_image_load: bad argument");
    char why[CLNET_ERRLEN - 64];
    if (clnet_image_decode(path, rows, cols, 1, CLNET_RESIZE_STRETCH, out, why,
                           sizeof why) == 0)
        return CLNET_OK;
    /* a missing file, and a path that is no file, are the caller's to
     * fix; anything else is the image's content */
    struct stat st;
    int missing = stat(path, &st) != 0;
    clnet_status s = missing && errno == ENOENT ? CLNET_E_NOTFOUND
                     : missing || !S_ISREG(st.st_mode) ? CLNET_E_ARG
                                                       : CLNET_E_DATA;
    return clnet_fail(err, s, "%s: %s", path, why);
}
