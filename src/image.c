/* Images for `clnet predict`: PGM (P2, P5) and PNG (8 or 16 bits, grey,
 * grey+alpha, RGB, RGBA or palette, not interlaced), read as grey bytes
 * and scaled to the network's input size by area averaging. PNG's zlib
 * streams are inflated with zlib; everything else is here. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "internal.h"

/* Buffers grow as data arrives, never to what a header merely claims: a
 * tiny file must not cost more than a little memory. */
#define MAX_IMAGE_BYTES (64u << 20)
#define MAX_SIDE 8192
#define FIRST_CHUNK (64u << 10)

typedef struct {
    int32_t w, h;
    uint8_t *grey;
} image_t;

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static int too_large(const char *path, unsigned long w, unsigned long h,
                     clnet_error *err)
{
    return clnet_fail(err, CLNET_E_DATA,
                      "%s: image is %lux%lu; at most %d x %d is supported",
                      path, w, h, MAX_SIDE, MAX_SIDE);
}

/* ---- PGM ---- */
static int pgm_token(const unsigned char *d, size_t n, size_t *pos, long *v)
{
    while (*pos < n) {
        if (d[*pos] == '#') {
            while (*pos < n && d[*pos] != '\n')
                (*pos)++;
        } else if (isspace(d[*pos])) {
            (*pos)++;
        } else {
            break;
        }
    }
    if (*pos >= n || !isdigit(d[*pos]))
        return -1;
    long x = 0;
    while (*pos < n && isdigit(d[*pos]) && x < 1000000)
        x = x * 10 + (d[(*pos)++] - '0');
    *v = x;
    return 0;
}

static int decode_pgm(const char *path, const unsigned char *d, size_t n,
                      image_t *img, clnet_error *err)
{
    size_t pos = 2;
    long w, h, maxv;
    if (pgm_token(d, n, &pos, &w) || pgm_token(d, n, &pos, &h) ||
        pgm_token(d, n, &pos, &maxv) || w < 1 || h < 1 || maxv < 1 ||
        maxv > 65535)
        return clnet_fail(err, CLNET_E_DATA,
                          "%s: bad PGM header (width, height and a maximum "
                          "value of 1 to 65535 expected)",
                          path);
    if (w > MAX_SIDE || h > MAX_SIDE)
        return too_large(path, (unsigned long)w, (unsigned long)h, err);
    size_t count = (size_t)w * (size_t)h;
    int binary = d[1] == '5';
    int wide = maxv > 255;
    if (binary)
        pos++; /* the single whitespace after maxval */
    /* P5 holds one or two bytes a pixel, P2 at least one digit: the file
     * must be long enough before the pixels are allocated */
    if (pos > n || count * (binary && wide ? 2 : 1) > n - pos)
        return clnet_fail(err, CLNET_E_DATA, "%s: PGM pixel data is cut "
                          "short (%ldx%ld pixels promised)", path, w, h);
    img->w = (int32_t)w;
    img->h = (int32_t)h;
    img->grey = malloc(count);
    if (!img->grey)
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory for %s", path);
    for (size_t i = 0; i < count; i++) {
        long v;
        if (binary) {
            v = wide ? (d[pos] << 8 | d[pos + 1]) : d[pos];
            pos += wide ? 2 : 1;
        } else if (pgm_token(d, n, &pos, &v)) {
            return clnet_fail(err, CLNET_E_DATA,
                              "%s: PGM pixel %zu is missing or not a number",
                              path, i);
        }
        if (v > maxv)
            v = maxv;
        img->grey[i] = (uint8_t)((v * 255 + maxv / 2) / maxv);
    }
    return CLNET_OK;
}

/* ---- PNG ---- */
static int paeth(int a, int b, int c)
{
    int p = a + b - c;
    int pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    if (pa <= pb && pa <= pc)
        return a;
    return pb <= pc ? b : c;
}

/* Inflates every IDAT chunk of the file, in order, into a buffer that
 * grows as output arrives up to `want` bytes: a header claiming a huge
 * image costs only what its data really inflates to. */
static int inflate_idat(const char *path, const unsigned char *d, size_t n,
                        uint32_t w, uint32_t h, size_t want,
                        unsigned char **out, clnet_error *err)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK)
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory for %s", path);
    size_t cap = want < FIRST_CHUNK ? want : FIRST_CHUNK, have = 0;
    unsigned char *raw = malloc(cap);
    int zr = Z_OK, rc = CLNET_OK;
    if (!raw)
        rc = clnet_fail(err, CLNET_E_NOMEM, "out of memory for %s", path);
    /* the chunks were checked by the caller: lengths fit, IEND exists */
    for (size_t pos = 8; !rc && zr != Z_STREAM_END && pos + 12 <= n;) {
        uint32_t len = be32(d + pos);
        const unsigned char *type = d + pos + 4;
        if (!memcmp(type, "IEND", 4))
            break;
        if (memcmp(type, "IDAT", 4)) {
            pos += 12 + (size_t)len;
            continue;
        }
        z.next_in = (unsigned char *)d + pos + 8;
        z.avail_in = len;
        while (!rc && z.avail_in > 0 && zr != Z_STREAM_END) {
            if (have == cap && cap < want) {
                size_t grown = cap > want / 2 ? want : cap * 2;
                unsigned char *g = realloc(raw, grown);
                if (!g) {
                    rc = clnet_fail(err, CLNET_E_NOMEM,
                                    "out of memory for %s", path);
                    break;
                }
                raw = g;
                cap = grown;
            }
            /* with the buffer full, inflate may still read the trailer */
            z.next_out = raw + have;
            z.avail_out = (uInt)(cap - have > (1u << 30) ? (1u << 30)
                                                          : cap - have);
            uInt before = z.avail_out;
            zr = inflate(&z, Z_NO_FLUSH);
            have += before - z.avail_out;
            if (zr == Z_BUF_ERROR && have == want)
                rc = clnet_fail(err, CLNET_E_DATA,
                                "%s: PNG image data inflates to more than "
                                "the %ux%u pixels of its header",
                                path, w, h);
            else if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
                rc = clnet_fail(err, CLNET_E_DATA,
                                "%s: PNG image data is damaged: %s", path,
                                z.msg ? z.msg : "inflate failed");
        }
        pos += 12 + (size_t)len;
    }
    inflateEnd(&z);
    if (!rc && (zr != Z_STREAM_END || have != want))
        rc = clnet_fail(err, CLNET_E_DATA,
                        "%s: PNG image data does not inflate to %ux%u "
                        "pixels (%zu of %zu bytes)",
                        path, w, h, have, want);
    if (rc)
        free(raw);
    else
        *out = raw;
    return rc;
}

static int decode_png(const char *path, const unsigned char *d, size_t n,
                      image_t *img, clnet_error *err)
{
    size_t pos = 8;
    uint32_t w = 0, h = 0;
    int depth = 0, ctype = -1, have_ihdr = 0, done = 0;
    unsigned char palette[256 * 3];
    int npal = 0;
    /* the chunks first, allocating nothing: structure, CRCs, header */
    while (!done) {
        if (pos + 12 > n)
            return clnet_fail(err, CLNET_E_DATA, "%s: PNG ends before IEND",
                              path);
        uint32_t len = be32(d + pos);
        const unsigned char *type = d + pos + 4, *body = d + pos + 8;
        if (len > n || pos + 12 + len > n)
            return clnet_fail(err, CLNET_E_DATA, "%s: PNG chunk runs past "
                              "the end of the file", path);
        if ((uint32_t)crc32(crc32(0L, type, 4), body, len) != be32(body + len))
            return clnet_fail(err, CLNET_E_DATA, "%s: PNG chunk %.4s fails "
                              "its CRC check; the file is damaged", path,
                              type);
        if (!memcmp(type, "IHDR", 4) && len == 13) {
            w = be32(body);
            h = be32(body + 4);
            depth = body[8];
            ctype = body[9];
            have_ihdr = 1;
            if (w > MAX_SIDE || h > MAX_SIDE)
                return too_large(path, w, h, err);
            if (body[12] != 0)
                return clnet_fail(err, CLNET_E_DATA, "%s: interlaced PNG is "
                                  "not supported; save it without "
                                  "interlacing", path);
        } else if (!memcmp(type, "PLTE", 4) && len % 3 == 0 && len <= 768) {
            memcpy(palette, body, len);
            npal = (int)(len / 3);
        } else if (!memcmp(type, "IEND", 4)) {
            done = 1;
        }
        pos += 12 + len;
    }
    int channels = ctype == 0 ? 1 : ctype == 2 ? 3 : ctype == 3 ? 1
                 : ctype == 4 ? 2 : ctype == 6 ? 4 : 0;
    if (!have_ihdr)
        return clnet_fail(err, CLNET_E_DATA, "%s: PNG has no IHDR header",
                          path);
    if (!channels)
        return clnet_fail(err, CLNET_E_DATA, "%s: PNG colour type %d is "
                          "unknown", path, ctype);
    if (w < 1 || h < 1)
        return clnet_fail(err, CLNET_E_DATA, "%s: PNG image is %ux%u; it "
                          "must have at least one pixel", path, w, h);
    if (!(depth == 8 || (depth == 16 && ctype != 3)))
        return clnet_fail(err, CLNET_E_DATA, "%s: PNG bit depth %d is not "
                          "supported; save it with 8 bits per channel",
                          path, depth);
    if (ctype == 3 && npal == 0)
        return clnet_fail(err, CLNET_E_DATA, "%s: palette PNG without a "
                          "palette", path);
    /* at most 8 bytes a pixel and MAX_SIDE a side: no product overflows */
    size_t bpp = (size_t)channels * (size_t)depth / 8;
    size_t stride = bpp * w;
    size_t raw_len = (stride + 1) * h;
    unsigned char *raw = NULL;
    int rc = inflate_idat(path, d, n, w, h, raw_len, &raw, err);
    if (rc)
        return rc;
    for (uint32_t y = 0; y < h; y++) {
        unsigned char *row = raw + y * (stride + 1);
        unsigned char *prev = y ? raw + (y - 1) * (stride + 1) + 1 : NULL;
        int f = row[0];
        row++;
        if (f > 4) {
            free(raw);
            return clnet_fail(err, CLNET_E_DATA, "%s: bad PNG filter %d on "
                              "row %u", path, f, y);
        }
        for (size_t x = 0; x < stride; x++) {
            int a = x >= bpp ? row[x - bpp] : 0;
            int b = prev ? prev[x] : 0;
            int c = prev && x >= bpp ? prev[x - bpp] : 0;
            int add = f == 1 ? a : f == 2 ? b : f == 3 ? (a + b) / 2
                    : f == 4 ? paeth(a, b, c) : 0;
            row[x] = (unsigned char)(row[x] + add);
        }
    }
    img->w = (int32_t)w;
    img->h = (int32_t)h;
    img->grey = malloc((size_t)w * h);
    if (!img->grey) {
        free(raw);
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory for %s", path);
    }
    for (uint32_t y = 0; y < h; y++) {
        const unsigned char *row = raw + y * (stride + 1) + 1;
        for (uint32_t x = 0; x < w; x++) {
            const unsigned char *px = row + x * bpp;
            int step = depth / 8; /* high byte of 16-bit samples */
            int v[4] = {0, 0, 0, 255};
            for (int ch = 0; ch < channels; ch++)
                v[ch] = px[ch * step];
            int grey, alpha = 255;
            if (ctype == 3) {
                int i = v[0] < npal ? v[0] : 0;
                grey = (299 * palette[3 * i] + 587 * palette[3 * i + 1] +
                        114 * palette[3 * i + 2]) / 1000;
            } else if (ctype == 2 || ctype == 6) {
                grey = (299 * v[0] + 587 * v[1] + 114 * v[2]) / 1000;
                if (ctype == 6)
                    alpha = v[3];
            } else {
                grey = v[0];
                if (ctype == 4)
                    alpha = v[1];
            }
            /* transparent pixels count as background: black, as in MNIST */
            img->grey[(size_t)y * w + x] = (uint8_t)(grey * alpha / 255);
        }
    }
    free(raw);
    return CLNET_OK;
}

void clnet_resize_area(const uint8_t *in, int32_t h, int32_t w, int32_t c,
                       int32_t rows, int32_t cols, uint8_t *out)
{
    double sy = (double)h / rows, sx = (double)w / cols;
    for (int32_t oy = 0; oy < rows; oy++) {
        double y0 = oy * sy, y1 = y0 + sy;
        for (int32_t ox = 0; ox < cols; ox++) {
            double x0 = ox * sx, x1 = x0 + sx;
            for (int32_t ch = 0; ch < c; ch++) {
                double sum = 0, area = 0;
                for (int32_t y = (int32_t)y0; y < h && y < y1; y++) {
                    double wy = (y + 1 < y1 ? y + 1 : y1) - (y > y0 ? y : y0);
                    for (int32_t x = (int32_t)x0; x < w && x < x1; x++) {
                        double wx =
                            (x + 1 < x1 ? x + 1 : x1) - (x > x0 ? x : x0);
                        sum += wx * wy * in[((size_t)y * w + x) * c + ch];
                        area += wx * wy;
                    }
                }
                double v = area > 0 ? sum / area : 0;
                out[((size_t)oy * cols + ox) * c + ch] = (uint8_t)(v + 0.5);
            }
        }
    }
}

/* Reads the whole file into a buffer sized by what it holds (a regular
 * file by its length, anything else as it arrives), up to the limit. */
static int read_image_file(const char *path, unsigned char **data,
                           size_t *len, clnet_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return clnet_fail(err, errno == ENOENT ? CLNET_E_NOTFOUND
                                               : CLNET_E_ARG,
                          "cannot open image %s: %s", path,
                          strerror(errno));
    struct stat st;
    int bad = fstat(fileno(f), &st) != 0;
    if (bad || S_ISDIR(st.st_mode)) {
        int rc = clnet_fail(err, CLNET_E_ARG, "%s: %s", path,
                            bad ? strerror(errno) : "is a directory");
        fclose(f);
        return rc;
    }
    size_t cap = S_ISREG(st.st_mode) && st.st_size < MAX_IMAGE_BYTES
                     ? (size_t)st.st_size + 1
                     : FIRST_CHUNK;
    unsigned char *d = NULL;
    size_t n = 0;
    int rc = CLNET_OK;
    for (;;) {
        if (n == cap || !d) {
            if (d)
                cap = cap > MAX_IMAGE_BYTES / 2 ? MAX_IMAGE_BYTES : cap * 2;
            unsigned char *g = realloc(d, cap);
            if (!g) {
                rc = clnet_fail(err, CLNET_E_NOMEM, "out of memory for %s",
                                path);
                break;
            }
            d = g;
        }
        size_t got = fread(d + n, 1, cap - n, f);
        n += got;
        if (ferror(f)) {
            rc = clnet_fail(err, CLNET_E_ARG, "cannot read image %s: %s",
                            path, errno ? strerror(errno) : "read error");
            break;
        }
        if (n >= MAX_IMAGE_BYTES) {
            rc = clnet_fail(err, CLNET_E_DATA, "%s is larger than %u MiB",
                            path, MAX_IMAGE_BYTES >> 20);
            break;
        }
        if (got == 0 || feof(f))
            break;
    }
    fclose(f);
    if (rc) {
        free(d);
        return rc;
    }
    *data = d;
    *len = n;
    return CLNET_OK;
}

int clnet_image_load(const char *path, int32_t rows, int32_t cols,
                     uint8_t *out, clnet_error *err)
{
    clnet_error_clear(err);
    if (!path || !out || rows < 1 || cols < 1)
        return clnet_fail(err, CLNET_E_ARG, "clnet_image_load: bad argument");
    unsigned char *d = NULL;
    size_t n = 0;
    int rc = read_image_file(path, &d, &n, err);
    if (rc)
        return rc;
    image_t img = {0, 0, NULL};
    if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        rc = decode_png(path, d, n, &img, err);
    else if (n >= 2 && d[0] == 'P' && (d[1] == '5' || d[1] == '2'))
        rc = decode_pgm(path, d, n, &img, err);
    else
        rc = clnet_fail(err, CLNET_E_DATA,
                        "%s is neither a PNG nor a PGM (P2/P5) image", path);
    if (rc == CLNET_OK)
        clnet_resize_area(img.grey, img.h, img.w, 1, rows, cols, out);
    free(img.grey);
    free(d);
    return rc;
}
