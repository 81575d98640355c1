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
#include <zlib.h>

#include "internal.h"

#define MAX_IMAGE_BYTES (64u << 20)
#define MAX_SIDE 16384

typedef struct {
    int32_t w, h;
    uint8_t *grey;
} image_t;

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
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
        pgm_token(d, n, &pos, &maxv) || w < 1 || h < 1 || w > MAX_SIDE ||
        h > MAX_SIDE || maxv < 1 || maxv > 65535)
        return clnet_fail(err, CLNET_E_DATA,
                          "%s: bad PGM header (width, height and a maximum "
                          "value of 1 to 65535 expected)",
                          path);
    img->w = (int32_t)w;
    img->h = (int32_t)h;
    size_t count = (size_t)w * (size_t)h;
    img->grey = malloc(count);
    if (!img->grey)
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory for %s", path);
    int binary = d[1] == '5';
    int wide = maxv > 255;
    if (binary) {
        pos++; /* the single whitespace after maxval */
        if (pos + count * (wide ? 2 : 1) > n)
            return clnet_fail(err, CLNET_E_DATA, "%s: PGM pixel data is cut "
                              "short", path);
    }
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

static int decode_png(const char *path, const unsigned char *d, size_t n,
                      image_t *img, clnet_error *err)
{
    size_t pos = 8;
    uint32_t w = 0, h = 0;
    int depth = 0, ctype = -1, have_ihdr = 0, done = 0;
    unsigned char palette[256 * 3];
    int npal = 0;
    unsigned char *idat = NULL;
    size_t idat_len = 0;
    int rc = CLNET_OK;
    while (!done) {
        if (pos + 12 > n) {
            rc = clnet_fail(err, CLNET_E_DATA, "%s: PNG ends before IEND",
                            path);
            goto out;
        }
        uint32_t len = be32(d + pos);
        const unsigned char *type = d + pos + 4, *body = d + pos + 8;
        if (len > n || pos + 12 + len > n) {
            rc = clnet_fail(err, CLNET_E_DATA, "%s: PNG chunk runs past the "
                            "end of the file", path);
            goto out;
        }
        if ((uint32_t)crc32(crc32(0L, type, 4), body, len) != be32(body + len)) {
            rc = clnet_fail(err, CLNET_E_DATA, "%s: PNG chunk %.4s fails its "
                            "CRC check; the file is damaged", path, type);
            goto out;
        }
        if (!memcmp(type, "IHDR", 4) && len == 13) {
            w = be32(body);
            h = be32(body + 4);
            depth = body[8];
            ctype = body[9];
            have_ihdr = 1;
            if (body[12] != 0) {
                rc = clnet_fail(err, CLNET_E_DATA, "%s: interlaced PNG is not "
                                "supported; save it without interlacing", path);
                goto out;
            }
        } else if (!memcmp(type, "PLTE", 4) && len % 3 == 0 && len <= 768) {
            memcpy(palette, body, len);
            npal = (int)(len / 3);
        } else if (!memcmp(type, "IDAT", 4)) {
            unsigned char *g = realloc(idat, idat_len + len + 1);
            if (!g) {
                rc = clnet_fail(err, CLNET_E_NOMEM, "out of memory for %s",
                                path);
                goto out;
            }
            idat = g;
            memcpy(idat + idat_len, body, len);
            idat_len += len;
        } else if (!memcmp(type, "IEND", 4)) {
            done = 1;
        }
        pos += 12 + len;
    }
    int channels = ctype == 0 ? 1 : ctype == 2 ? 3 : ctype == 3 ? 1
                 : ctype == 4 ? 2 : ctype == 6 ? 4 : 0;
    if (!have_ihdr || !channels || w < 1 || h < 1 || w > MAX_SIDE ||
        h > MAX_SIDE) {
        rc = clnet_fail(err, CLNET_E_DATA, "%s: PNG header missing or of an "
                        "unknown colour type", path);
        goto out;
    }
    if (!(depth == 8 || (depth == 16 && ctype != 3))) {
        rc = clnet_fail(err, CLNET_E_DATA, "%s: PNG bit depth %d is not "
                        "supported; save it with 8 bits per channel",
                        path, depth);
        goto out;
    }
    if (ctype == 3 && npal == 0) {
        rc = clnet_fail(err, CLNET_E_DATA, "%s: palette PNG without a palette",
                        path);
        goto out;
    }
    size_t bpp = (size_t)channels * (size_t)depth / 8;
    size_t stride = bpp * w;
    size_t raw_len = (stride + 1) * h;
    unsigned char *raw = malloc(raw_len);
    if (!raw) {
        rc = clnet_fail(err, CLNET_E_NOMEM, "out of memory for %s", path);
        goto out;
    }
    uLongf out_len = (uLongf)raw_len;
    int zr = uncompress(raw, &out_len, idat ? idat : (unsigned char *)"",
                        (uLong)idat_len);
    if (zr != Z_OK || out_len != raw_len) {
        free(raw);
        rc = clnet_fail(err, CLNET_E_DATA, "%s: PNG image data does not "
                        "inflate to %ux%u pixels", path, w, h);
        goto out;
    }
    for (uint32_t y = 0; y < h; y++) {
        unsigned char *row = raw + y * (stride + 1);
        unsigned char *prev = y ? raw + (y - 1) * (stride + 1) + 1 : NULL;
        int f = row[0];
        row++;
        if (f > 4) {
            free(raw);
            rc = clnet_fail(err, CLNET_E_DATA, "%s: bad PNG filter %d on row "
                            "%u", path, f, y);
            goto out;
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
        rc = clnet_fail(err, CLNET_E_NOMEM, "out of memory for %s", path);
        goto out;
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
out:
    free(idat);
    return rc;
}

/* Area-averaging resize: each output pixel is the mean of the input area
 * it covers, with fractional edges weighted. */
static void resize_area(const image_t *in, int32_t rows, int32_t cols,
                        uint8_t *out)
{
    double sy = (double)in->h / rows, sx = (double)in->w / cols;
    for (int32_t oy = 0; oy < rows; oy++) {
        double y0 = oy * sy, y1 = y0 + sy;
        for (int32_t ox = 0; ox < cols; ox++) {
            double x0 = ox * sx, x1 = x0 + sx, sum = 0, area = 0;
            for (int32_t y = (int32_t)y0; y < in->h && y < y1; y++) {
                double wy = (y + 1 < y1 ? y + 1 : y1) - (y > y0 ? y : y0);
                for (int32_t x = (int32_t)x0; x < in->w && x < x1; x++) {
                    double wx = (x + 1 < x1 ? x + 1 : x1) - (x > x0 ? x : x0);
                    sum += wx * wy * in->grey[(size_t)y * in->w + x];
                    area += wx * wy;
                }
            }
            double v = area > 0 ? sum / area : 0;
            out[(size_t)oy * cols + ox] = (uint8_t)(v + 0.5);
        }
    }
}

int clnet_image_load(const char *path, int32_t rows, int32_t cols,
                     uint8_t *out, clnet_error *err)
{
    clnet_error_clear(err);
    if (!path || !out || rows < 1 || cols < 1)
        return clnet_fail(err, CLNET_E_ARG, "clnet_image_load: bad argument");
    FILE *f = fopen(path, "rb");
    if (!f)
        return clnet_fail(err, errno == ENOENT ? CLNET_E_NOTFOUND : CLNET_E_IO,
                          "cannot open image %s: %s", path, strerror(errno));
    unsigned char *d = malloc(MAX_IMAGE_BYTES);
    if (!d) {
        fclose(f);
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory for %s", path);
    }
    size_t n = fread(d, 1, MAX_IMAGE_BYTES, f);
    int bad = ferror(f);
    fclose(f);
    image_t img = {0, 0, NULL};
    int rc;
    if (bad)
        rc = clnet_fail(err, CLNET_E_IO, "cannot read image %s", path);
    else if (n >= MAX_IMAGE_BYTES)
        rc = clnet_fail(err, CLNET_E_DATA, "%s is larger than %u MiB", path,
                        MAX_IMAGE_BYTES >> 20);
    else if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        rc = decode_png(path, d, n, &img, err);
    else if (n >= 2 && d[0] == 'P' && (d[1] == '5' || d[1] == '2'))
        rc = decode_pgm(path, d, n, &img, err);
    else
        rc = clnet_fail(err, CLNET_E_DATA,
                        "%s is neither a PNG nor a PGM (P2/P5) image", path);
    if (rc == CLNET_OK)
        resize_area(&img, rows, cols, out);
    free(img.grey);
    free(d);
    return rc;
}
