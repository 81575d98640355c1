/* The IDX loader on good and bad files, and the PGM/PNG image reader;
 * tiny hostile files must be refused without the memory their headers
 * claim. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include <stb_image_write.h>
#include <unistd.h>

#include "helpers.h"

static size_t idx_header(unsigned char *b, int ndim, const uint32_t *dims)
{
    b[0] = b[1] = 0;
    b[2] = 8;
    b[3] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) {
        b[4 + 4 * i] = (unsigned char)(dims[i] >> 24);
        b[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
        b[6 + 4 * i] = (unsigned char)(dims[i] >> 8);
        b[7 + 4 * i] = (unsigned char)dims[i];
    }
    return 4 + 4 * (size_t)ndim;
}

/* An image file of n images of r x c, with `cut` bytes removed. */
static const char *images_file(const char *name, uint32_t n, uint32_t r,
                               uint32_t c, size_t cut, int gz)
{
    size_t len = 16 + (size_t)n * r * c;
    unsigned char *b = malloc(len);
    uint32_t dims[3] = {n, r, c};
    idx_header(b, 3, dims);
    for (size_t i = 16; i < len; i++)
        b[i] = (unsigned char)(i * 31);
    const char *p = gz ? test_write_gz(name, b, len - cut)
                       : test_write(name, b, len - cut);
    free(b);
    return p;
}

static const char *labels_file(const char *name, uint32_t n)
{
    unsigned char *b = malloc(8 + n);
    uint32_t dims[1] = {n};
    idx_header(b, 1, dims);
    for (uint32_t i = 0; i < n; i++)
        b[8 + i] = (unsigned char)(i % 10);
    const char *p = test_write(name, b, 8 + n);
    free(b);
    return p;
}

static void expect_refused(const char *images, const char *labels,
                           clnet_status status, const char *fragment)
{
    clnet_dataset ds;
    clnet_error e = {0};
    ck_assert_int_ne(clnet_dataset_load_idx(&ds, images, labels, &e), 0);
    ck_assert_msg(e.status == status, "status %s: %s",
                  clnet_status_name(e.status), e.msg);
    ck_assert_msg(strstr(e.msg, fragment), "'%s' not in: %s", fragment, e.msg);
    ck_assert_ptr_null(ds.pixels);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

START_TEST(idx_good_plain_and_gzip)
{
    for (int gz = 0; gz < 2; gz++) {
        clnet_dataset ds;
        clnet_error e;
        const char *img = images_file(gz ? "g-images" : "p-images", 5, 3, 4, 0,
                                      gz);
        const char *lab = labels_file("labels", 5);
        ck_assert_msg(clnet_dataset_load_idx(&ds, img, lab, &e) == 0, "%s",
                      e.msg);
        ck_assert_int_eq(ds.count, 5);
        ck_assert_int_eq(ds.rows, 3);
        ck_assert_int_eq(ds.cols, 4);
        ck_assert_int_eq(ds.pixels[0], (unsigned char)(16 * 31));
        ck_assert_int_eq(ds.labels[4], 4);
        clnet_dataset_free(&ds);
    }
}
END_TEST

START_TEST(idx_bad_files)
{
    const char *lab5 = labels_file("labels5", 5);
    expect_refused(images_file("trunc", 5, 3, 4, 7, 0), lab5, CLNET_E_DATA,
                   "truncated");
    expect_refused(images_file("trunc.gz", 5, 3, 4, 7, 1), lab5, CLNET_E_DATA,
                   "truncated");
    expect_refused(images_file("count", 4, 3, 4, 0, 0), lab5, CLNET_E_DATA,
                   "4 images but");
    expect_refused(images_file("absurd", 5, 100000, 4, 0, 0), lab5,
                   CLNET_E_DATA, "absurd dimensions");
    expect_refused(images_file("zero", 0, 3, 4, 0, 0), lab5, CLNET_E_DATA,
                   "absurd dimensions");
    /* labels given where images belong: wrong magic */
    expect_refused(lab5, lab5, CLNET_E_DATA, "not an IDX file");
    unsigned char junk[64];
    memset(junk, 'x', sizeof junk);
    expect_refused(test_write("junk", junk, sizeof junk), lab5, CLNET_E_DATA,
                   "magic");
    expect_refused(test_write("short", junk, 3), lab5, CLNET_E_DATA,
                   "too short");
    expect_refused("/nonexistent/images", lab5, CLNET_E_NOTFOUND,
                   "/nonexistent/images");
    /* trailing bytes after the promised data */
    unsigned char b[16 + 12 + 1] = {0};
    uint32_t dims[3] = {1, 3, 4};
    idx_header(b, 3, dims);
    expect_refused(test_write("long", b, sizeof b), labels_file("l1", 1),
                   CLNET_E_DATA, "more data");
    /* a damaged gzip stream */
    const char *gz = images_file("damaged.gz", 5, 3, 4, 0, 1);
    FILE *f = fopen(gz, "r+b");
    fseek(f, 20, SEEK_SET);
    fputc(0xff, f);
    fputc(0x00, f);
    fclose(f);
    clnet_dataset ds;
    clnet_error e;
    ck_assert_int_ne(clnet_dataset_load_idx(&ds, gz, lab5, &e), 0);
}
END_TEST

/* 16-byte headers claiming 65536 images of 256x256 (4 GiB) with no data:
 * refused as truncated, within 64 MiB and at once. */
START_TEST(idx_header_claims_huge)
{
    unsigned char b[16];
    uint32_t dims[3] = {65536, 256, 256}, ldims[1] = {65536};
    idx_header(b, 3, dims);
    unsigned char lb[8];
    idx_header(lb, 1, ldims);
    const char *plain = test_write("huge", b, sizeof b);
    const char *gz = test_write_gz("huge.gz", b, sizeof b);
    const char *lab = test_write("huge-labels", lb, sizeof lb);
    test_cap_memory(64u << 20);
    double t0 = now();
    expect_refused(plain, lab, CLNET_E_DATA, "truncated");
    expect_refused(gz, lab, CLNET_E_DATA, "truncated");
    ck_assert_double_lt(now() - t0, 1.0);
}
END_TEST

START_TEST(mnist_folder_lookup)
{
    clnet_dataset ds;
    clnet_error e;
    ck_assert_int_ne(clnet_dataset_load_mnist(&ds, "/nonexistent", "train", 0,
                                              &e),
                     0);
    ck_assert_int_eq(e.status, CLNET_E_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "train-images-idx3-ubyte"));
}
END_TEST

static void png_chunk(unsigned char **p, const char *type,
                      const unsigned char *d, uint32_t n)
{
    unsigned char *q = *p;
    q[0] = (unsigned char)(n >> 24);
    q[1] = (unsigned char)(n >> 16);
    q[2] = (unsigned char)(n >> 8);
    q[3] = (unsigned char)n;
    memcpy(q + 4, type, 4);
    if (n)
        memcpy(q + 8, d, n);
    uint32_t crc = (uint32_t)crc32(crc32(0, q + 4, 4), q + 8, n);
    q[8 + n] = (unsigned char)(crc >> 24);
    q[9 + n] = (unsigned char)(crc >> 16);
    q[10 + n] = (unsigned char)(crc >> 8);
    q[11 + n] = (unsigned char)crc;
    *p = q + 12 + n;
}

/* An 8-bit PNG of w x h with the given colour type and channels, every
 * row using filter `filter` on values v(x, y) = (x + y) * 16. */
static size_t make_png(unsigned char *out, int w, int h, int ctype, int ch,
                       int filter)
{
    size_t stride = (size_t)w * ch;
    unsigned char raw[4096], prev[256] = {0}, cur[256];
    size_t o = 0;
    for (int y = 0; y < h; y++) {
        raw[o++] = (unsigned char)filter;
        for (size_t x = 0; x < stride; x++)
            cur[x] = (unsigned char)((x / ch + y) * 16);
        for (size_t x = 0; x < stride; x++) {
            int a = x >= (size_t)ch ? cur[x - ch] : 0, b = prev[x];
            int pred = filter == 1 ? a : filter == 2 ? b : filter == 3 ? (a + b) / 2 : 0;
            raw[o++] = (unsigned char)(cur[x] - pred);
        }
        memcpy(prev, cur, stride);
    }
    unsigned char z[4096];
    uLongf zl = sizeof z;
    compress(z, &zl, raw, o);
    unsigned char ihdr[13] = {0, 0, 0, (unsigned char)w, 0, 0, 0,
                              (unsigned char)h, 8, (unsigned char)ctype, 0, 0,
                              0};
    unsigned char *p = out;
    memcpy(p, "\x89PNG\r\n\x1a\n", 8);
    p += 8;
    png_chunk(&p, "IHDR", ihdr, 13);
    png_chunk(&p, "IDAT", z, (uint32_t)zl);
    png_chunk(&p, "IEND", NULL, 0);
    return (size_t)(p - out);
}

/* A PNG of the given header whose image data is one zero byte. */
static size_t hostile_png(unsigned char *out, uint32_t w, uint32_t h,
                          int ctype)
{
    unsigned char ihdr[13] = {
        (unsigned char)(w >> 24), (unsigned char)(w >> 16),
        (unsigned char)(w >> 8),  (unsigned char)w,
        (unsigned char)(h >> 24), (unsigned char)(h >> 16),
        (unsigned char)(h >> 8),  (unsigned char)h,
        8, (unsigned char)ctype, 0, 0, 0};
    unsigned char z[64];
    uLongf zl = sizeof z;
    compress(z, &zl, (const unsigned char *)"", 1); /* one filter byte */
    unsigned char *p = out;
    memcpy(p, "\x89PNG\r\n\x1a\n", 8);
    p += 8;
    png_chunk(&p, "IHDR", ihdr, 13);
    png_chunk(&p, "IDAT", z, (uint32_t)zl);
    png_chunk(&p, "IEND", NULL, 0);
    return (size_t)(p - out);
}

static void expect_image_refused(const char *path, clnet_status status,
                                 const char *fragment)
{
    uint8_t px[4];
    clnet_error e = {0};
    ck_assert_int_ne(clnet_image_load(path, 2, 2, px, &e), 0);
    ck_assert_msg(e.status == status, "status %s: %s",
                  clnet_status_name(e.status), e.msg);
    ck_assert_msg(strstr(e.msg, fragment), "'%s' not in: %s", fragment, e.msg);
    ck_assert_msg(strstr(e.msg, path), "'%s' not in: %s", path, e.msg);
}

/* Headers claiming huge images cost nothing until their data exists; an
 * image costs about its own size; sides are bounded with a message. */
START_TEST(images_hostile_headers)
{
    unsigned char png[256];
    size_t n16k = hostile_png(png, 16384, 16384, 0);
    ck_assert_uint_eq(n16k, 66);
    const char *p16k = test_write("16k.png", png, n16k);
    const char *p20k = test_write("20k.png", png,
                                  hostile_png(png, 20000, 20000, 0));
    /* 8192x8192 RGBA: a 256 MiB buffer if allocated from the header */
    const char *p8k = test_write("8k.png", png, hostile_png(png, 8192, 8192,
                                                            6));
    const char pgm[] = "P5 20000 20000 255\n\x01\x02";
    const char *g20k = test_write("20k.pgm", pgm, sizeof pgm - 1);
    const char pgm8k[] = "P5 8192 8192 255\n\x01\x02";
    const char *g8k = test_write("8k.pgm", pgm8k, sizeof pgm8k - 1);
    unsigned char small[8192];
    const char *ok = test_write("ok.png", small, make_png(small, 4, 4, 0, 1,
                                                          0));
    test_cap_memory(32u << 20);
    double t0 = now();
    expect_image_refused(p16k, CLNET_E_DATA,
                         "claims 16384x16384 pixels (height x width), more "
                         "than 64 megapixels");
    expect_image_refused(p20k, CLNET_E_DATA,
                         "claims 20000x20000 pixels (height x width), more "
                         "than 64 megapixels");
    expect_image_refused(g20k, CLNET_E_DATA, "more than 64 megapixels");
    expect_image_refused(p8k, CLNET_E_DATA, "more than its bytes can hold");
    expect_image_refused(g8k, CLNET_E_DATA, "more than its bytes can hold");
    uint8_t px[16];
    clnet_error e;
    for (int i = 0; i < 100; i++)
        ck_assert_msg(clnet_image_load(ok, 4, 4, px, &e) == 0, "%s", e.msg);
    ck_assert_double_lt(now() - t0, 1.0);
}
END_TEST

/* A folder, or a path that cannot be opened, is bad input with the
 * reason in the message. */
START_TEST(images_unreadable)
{
    expect_image_refused(test_tmpdir(), CLNET_E_ARG, "is a directory");
    const char *file = test_write("plain.png", "x", 1);
    char below[600];
    snprintf(below, sizeof below, "%s/img.png", file);
    expect_image_refused(below, CLNET_E_ARG, "Not a directory");
    expect_image_refused("/nonexistent/img.png", CLNET_E_NOTFOUND,
                         "No such file");
}
END_TEST

START_TEST(images_png_and_pgm)
{
    unsigned char png[8192];
    uint8_t px[16];
    clnet_error e;
    int filters[] = {0, 1, 2, 3};
    for (int f = 0; f < 4; f++) {
        size_t n = make_png(png, 4, 4, 0, 1, filters[f]);
        ck_assert_msg(clnet_image_load(test_write("g.png", png, n), 4, 4, px,
                                       &e) == 0, "%s", e.msg);
        ck_assert_int_eq(px[0], 0);
        ck_assert_int_eq(px[5], 32);
        ck_assert_int_eq(px[15], 96);
    }
    /* RGB: equal channels give the same grey */
    size_t n = make_png(png, 4, 4, 2, 3, 1);
    ck_assert_int_eq(clnet_image_load(test_write("rgb.png", png, n), 4, 4, px,
                                      &e), 0);
    ck_assert_int_eq(px[5], 32);
    /* scaled down 4x4 -> 2x2 by area: mean of (0,16,16,32) = 16 */
    n = make_png(png, 4, 4, 0, 1, 0);
    ck_assert_int_eq(clnet_image_load(test_write("s.png", png, n), 2, 2, px,
                                      &e), 0);
    ck_assert_int_eq(px[0], 16);
    /* a damaged chunk fails its CRC */
    png[40] ^= 0x55;
    ck_assert_int_ne(clnet_image_load(test_write("bad.png", png, n), 4, 4, px,
                                      &e), 0);
    ck_assert_int_eq(e.status, CLNET_E_DATA);
    /* cut short */
    ck_assert_int_ne(clnet_image_load(test_write("cut.png", png, 30), 4, 4, px,
                                      &e), 0);
    /* stb_image reads binary PGM only: ASCII is refused, saying so */
    const char pgm[] = "P2\n# comment\n2 2\n255\n0 255\n128 64\n";
    ck_assert_int_ne(clnet_image_load(test_write("a.pgm", pgm, sizeof pgm - 1),
                                      2, 2, px, &e), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, "ASCII (P2) PGM/PPM"));
    ck_assert_ptr_nonnull(strstr(e.msg, "save it as binary (P5"));
    const unsigned char p5[] = "P5 2 1 255\n\x10\x20";
    ck_assert_int_eq(clnet_image_load(test_write("b.pgm", p5, sizeof p5 - 1),
                                      1, 2, px, &e), 0);
    ck_assert_int_eq(px[1], 0x20);
    ck_assert_int_ne(clnet_image_load(test_write("c.pgm", p5, sizeof p5 - 2),
                                      1, 2, px, &e), 0);
    ck_assert_int_ne(clnet_image_load(test_write("d.txt", "hello", 5), 1, 2,
                                      px, &e), 0);
    ck_assert_msg(strstr(e.msg, "d.txt: cannot be decoded"), "%s", e.msg);
}
END_TEST

/* A PNG of any bit depth, colour type and interlacing, with sample
 * value(x, y, c) (at the image's depth), written as a PNG encoder would:
 * Adam7's seven passes when interlaced, filter 0, rows packed MSB first
 * below 8 bits. palette: PLTE's RGB entries for colour type 3. */
typedef int (*sample_fn)(int x, int y, int c);

static size_t encode_png(unsigned char *out, int w, int h, int depth,
                         int ctype, int interlace, sample_fn value,
                         const unsigned char *palette, int npalette)
{
    static const int pass[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8},
                                   {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2},
                                   {0, 1, 1, 2}};
    int ch = ctype == 0 || ctype == 3 ? 1 : ctype == 4 ? 2 : ctype == 2 ? 3
                                                                        : 4;
    static unsigned char raw[65536];
    size_t o = 0;
    for (int p = 0; p < (interlace ? 7 : 1); p++) {
        int x0 = interlace ? pass[p][0] : 0, y0 = interlace ? pass[p][1] : 0;
        int dx = interlace ? pass[p][2] : 1, dy = interlace ? pass[p][3] : 1;
        for (int y = y0; y < h; y += dy) {
            if (x0 >= w)
                break;
            raw[o++] = 0;
            int bits = 0, acc = 0;
            for (int x = x0; x < w; x += dx)
                for (int c = 0; c < ch; c++) {
                    int v = value(x, y, c);
                    if (depth == 16) {
                        raw[o++] = (unsigned char)(v >> 8);
                        raw[o++] = (unsigned char)v;
                    } else if (depth == 8) {
                        raw[o++] = (unsigned char)v;
                    } else {
                        acc = acc << depth | v;
                        bits += depth;
                        if (bits == 8) {
                            raw[o++] = (unsigned char)acc;
                            bits = acc = 0;
                        }
                    }
                }
            if (bits)
                raw[o++] = (unsigned char)(acc << (8 - bits));
        }
    }
    static unsigned char z[70000];
    uLongf zl = sizeof z;
    ck_assert_int_eq(compress(z, &zl, raw, o), Z_OK);
    unsigned char ihdr[13] = {0, 0, 0, (unsigned char)w, 0, 0, 0,
                              (unsigned char)h, (unsigned char)depth,
                              (unsigned char)ctype, 0, 0,
                              (unsigned char)interlace};
    unsigned char *q = out;
    memcpy(q, "\x89PNG\r\n\x1a\n", 8);
    q += 8;
    png_chunk(&q, "IHDR", ihdr, 13);
    if (palette)
        png_chunk(&q, "PLTE", palette, (uint32_t)(3 * npalette));
    png_chunk(&q, "IDAT", z, (uint32_t)zl);
    png_chunk(&q, "IEND", NULL, 0);
    return (size_t)(q - out);
}

static int ramp(int x, int y, int c) { return (void)c, (x + 2 * y) * 9; }
static int ramp16(int x, int y, int c) { return ramp(x, y, c) * 257; }
static int checker(int x, int y, int c) { return (void)c, (x + y) & 1; }
/* a digit-like cross: drawn where x == 2 or y == 2, the rest empty */
static int on_cross(int x, int y) { return x == 2 || y == 2; }
static int black_on_clear(int x, int y, int c)
{
    return c == 0 ? 0 : on_cross(x, y) ? 255 : 0;
}
static int black_on_white(int x, int y, int c)
{
    return (void)c, on_cross(x, y) ? 0 : 255;
}
static int white_on_clear(int x, int y, int c)
{
    return c == 0 ? 255 : on_cross(x, y) ? 255 : 0;
}
static int white_on_black(int x, int y, int c)
{
    return (void)c, on_cross(x, y) ? 255 : 0;
}

static void load_png(const char *name, const unsigned char *png, size_t n,
                     int side, uint8_t *px)
{
    clnet_error e;
    ck_assert_msg(clnet_image_load(test_write(name, png, n), side, side, px,
                                   &e) == 0, "%s: %s", name, e.msg);
}

static void jpeg_sink(void *ctx, void *data, int size)
{
    FILE *f = ctx;
    ck_assert_int_eq(fwrite(data, 1, (size_t)size, f), (size_t)size);
}

/* What stb_image brings: 16-bit and 1-bit PNGs, Adam7 interlacing,
 * palettes, transparency onto the background the drawing needs, JPEG. */
START_TEST(images_every_form)
{
    static unsigned char png[80000];
    uint8_t a[64], b[64];
    /* 16 bits become their high byte; interlaced equals plain */
    load_png("p8.png", png, encode_png(png, 5, 5, 8, 0, 0, ramp, NULL, 0), 5,
             a);
    ck_assert_int_eq(a[1 * 5 + 3], (3 + 2) * 9);
    load_png("p16.png", png, encode_png(png, 5, 5, 16, 0, 0, ramp16, NULL, 0),
             5, b);
    ck_assert(!memcmp(a, b, 25));
    load_png("i8.png", png, encode_png(png, 5, 5, 8, 0, 1, ramp, NULL, 0), 5,
             b);
    ck_assert(!memcmp(a, b, 25));
    load_png("i16.png", png, encode_png(png, 5, 5, 16, 0, 1, ramp16, NULL, 0),
             5, b);
    ck_assert(!memcmp(a, b, 25));
    /* 1-bit grey: 0 and 1 are black and white */
    load_png("b1.png", png, encode_png(png, 5, 5, 1, 0, 1, checker, NULL, 0),
             5, b);
    ck_assert_int_eq(b[0], 0);
    ck_assert_int_eq(b[1], 255);
    /* a 2-bit palette of two greys */
    const unsigned char pal[6] = {10, 10, 10, 200, 200, 200};
    load_png("pal.png", png, encode_png(png, 5, 5, 2, 3, 0, checker, pal, 2),
             5, b);
    ck_assert_int_eq(b[0], 10);
    ck_assert_int_eq(b[6], 10);
    ck_assert_int_eq(b[7], 200);
    /* a black digit on a transparent page is a black digit on white (so
     * --invert makes it MNIST's white on black); a white one on
     * transparent is a white digit on black */
    load_png("bc.png", png,
             encode_png(png, 5, 5, 8, 4, 0, black_on_clear, NULL, 0), 5, a);
    load_png("bw.png", png,
             encode_png(png, 5, 5, 8, 0, 0, black_on_white, NULL, 0), 5, b);
    ck_assert(!memcmp(a, b, 25));
    load_png("wc.png", png,
             encode_png(png, 5, 5, 8, 4, 0, white_on_clear, NULL, 0), 5, a);
    load_png("wb.png", png,
             encode_png(png, 5, 5, 8, 0, 0, white_on_black, NULL, 0), 5, b);
    ck_assert(!memcmp(a, b, 25));
    ck_assert_int_eq(a[2], 255);
    ck_assert_int_eq(a[0], 0);
    /* a baseline JPEG (no EXIF) of a flat grey, then the same cut short */
    uint8_t flat[64];
    memset(flat, 120, sizeof flat);
    char path[1024];
    snprintf(path, sizeof path, "%s/flat.jpg", test_tmpdir());
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert(stbi_write_jpg_to_func(jpeg_sink, f, 8, 8, 1, flat, 95));
    long size = ftell(f);
    fclose(f);
    clnet_error e;
    ck_assert_msg(clnet_image_load(path, 8, 8, b, &e) == 0, "%s", e.msg);
    ck_assert_int_le(abs(b[27] - 120), 2);
    ck_assert_int_eq(truncate(path, size - 20), 0);
    ck_assert_int_ne(clnet_image_load(path, 8, 8, b, &e), 0);
    ck_assert_msg(strstr(e.msg, "cut short"), "%s", e.msg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("files");
    tcase_add_test(tc, idx_good_plain_and_gzip);
    tcase_add_test(tc, idx_bad_files);
    tcase_add_test(tc, mnist_folder_lookup);
    tcase_add_test(tc, images_png_and_pgm);
    tcase_add_test(tc, images_every_form);
    tcase_add_test(tc, idx_header_claims_huge);
    tcase_add_test(tc, images_hostile_headers);
    tcase_add_test(tc, images_unreadable);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK); /* cap_memory needs a process */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
