/* The IDX loader on good and bad files, and the PGM/PNG image reader. */
#include <stdlib.h>
#include <string.h>
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
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
