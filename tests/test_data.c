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
                         "image is 16384x16384; at most 8192 x 8192");
    expect_image_refused(p20k, CLNET_E_DATA,
                         "image is 20000x20000; at most 8192 x 8192");
    expect_image_refused(g20k, CLNET_E_DATA,
                         "image is 20000x20000; at most 8192 x 8192");
    expect_image_refused(p8k, CLNET_E_DATA, "does not inflate to 8192x8192");
    expect_image_refused(g8k, CLNET_E_DATA, "cut short");
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
    const char pgm[] = "P2\n# comment\n2 2\n255\n0 255\n128 64\n";
    ck_assert_int_eq(clnet_image_load(test_write("a.pgm", pgm, sizeof pgm - 1),
                                      2, 2, px, &e), 0);
    ck_assert_int_eq(px[1], 255);
    ck_assert_int_eq(px[3], 64);
    const unsigned char p5[] = "P5 2 1 255\n\x10\x20";
    ck_assert_int_eq(clnet_image_load(test_write("b.pgm", p5, sizeof p5 - 1),
                                      1, 2, px, &e), 0);
    ck_assert_int_eq(px[1], 0x20);
    ck_assert_int_ne(clnet_image_load(test_write("c.pgm", p5, sizeof p5 - 2),
                                      1, 2, px, &e), 0);
    ck_assert_int_ne(clnet_image_load(test_write("d.txt", "hello", 5), 1, 2,
                                      px, &e), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, "neither a PNG nor a PGM"));
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
