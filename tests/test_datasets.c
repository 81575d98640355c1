/* The data set loaders on files the tests write in the official formats:
 * CIFAR-10 and CIFAR-100 binaries (planar pixels to NHWC, fine and coarse
 * labels, class names) and image folders (PNG, PGM and JPEG through
 * stb_image, grey and colour, transparency, the two size rules), format
 * detection, and the refusals: truncated records, labels past the class
 * count, missing files, a class without images, an undecodable image,
 * mixed sizes under the fixed rule, data whose shape is not the input's. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb_image_write.h>

#include "helpers.h"

/* A folder under the test's temporary space, made with its parents. */
static const char *folder(const char *rel)
{
    static char ring[8][1024];
    static int k;
    char *p = ring[k++ % 8];
    snprintf(p, 1024, "%s/%s", test_tmpdir(), rel);
    for (char *s = p + strlen(test_tmpdir()) + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0700);
            *s = '/';
        }
    mkdir(p, 0700);
    return p;
}

static void write_file(const char *dir, const char *name, const void *data,
                       size_t n)
{
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* n CIFAR records: label bytes, then pixel (r, g, b) of record i at
 * position p = (i + p + 7 c) % 256 in planes. */
static unsigned char *cifar_records(int n, int nlab, const int *labels)
{
    size_t rec = (size_t)nlab + 3072;
    unsigned char *b = malloc(rec * (size_t)n);
    for (int i = 0; i < n; i++) {
        unsigned char *r = b + rec * (size_t)i;
        for (int l = 0; l < nlab; l++)
            r[l] = (unsigned char)labels[i * nlab + l];
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 1024; p++)
                r[nlab + c * 1024 + p] = (unsigned char)((i + p + 7 * c) % 256);
    }
    return b;
}

static const char *cifar10(const char *rel, int bad)
{
    const char *d = folder(rel);
    int labels[3] = {1, 9, 0};
    unsigned char *b = cifar_records(3, 1, labels);
    for (int k = 1; k <= 5; k++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.bin", k);
        if (bad == 1 && k == 3)
            continue; /* missing */
        write_file(d, name, b, bad == 2 && k == 2 ? 3073 * 2 + 5 : 3073 * 3);
    }
    if (bad == 3)
        b[3073] = 10; /* record 1 of the test batch: label 10 */
    write_file(d, "test_batch.bin", b, 3073 * 3);
    const char *names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\n"
                        "horse\nship\ntruck\n\n";
    write_file(d, "batches.meta.txt", names, strlen(names));
    free(b);
    return d;
}

START_TEST(cifar10_reads_nhwc_and_names)
{
    clnet_dataset ds;
    clnet_error e;
    const char *d = cifar10("c10", 0);
    ck_assert_int_eq(clnet_cifar_kind(d), 10);
    ck_assert_msg(clnet_dataset_load_cifar(&ds, d, "train", 0, 0, &e) == 0,
                  "%s", e.msg);
    ck_assert_int_eq(ds.count, 15);
    ck_assert_int_eq(ds.rows, 32);
    ck_assert_int_eq(ds.cols, 32);
    ck_assert_int_eq(ds.channels, 3);
    ck_assert_int_eq(ds.labels[1], 9);
    ck_assert_int_eq(ds.labels[3], 1);
    /* record 1, pixel 5: planes' values (1 + 5 + 7c) side by side */
    const uint8_t *px = ds.pixels + 3072 * 1 + 5 * 3;
    ck_assert_int_eq(px[0], 6);
    ck_assert_int_eq(px[1], 13);
    ck_assert_int_eq(px[2], 20);
    ck_assert_int_eq(ds.nclasses, 10);
    ck_assert_str_eq(ds.class_names[9], "truck");
    clnet_dataset_free(&ds);
    ck_assert_int_eq(clnet_dataset_load_cifar(&ds, d, "test", 0, 2, &e), 0);
    ck_assert_int_eq(ds.count, 2);
    clnet_dataset_free(&ds);
    /* through the one door, detected */
    ck_assert_str_eq(clnet_data_format(d), "cifar");
    ck_assert_int_eq(clnet_dataset_load(&ds, d, "train", NULL, &e), 0);
    ck_assert_int_eq(ds.count, 15);
    clnet_dataset_free(&ds);
}
END_TEST

/* The pixels live in a mapped temporary file (pixel_file.c) where TMPDIR
 * can hold one, else in memory: the same bytes either way, and a batch
 * read through the mapping gives its pages back. */
START_TEST(cifar_pixels_mapped_or_in_memory)
{
    clnet_dataset mapped, memory;
    clnet_error e;
    const char *d = cifar10("cm", 0);
    const char *old = getenv("TMPDIR");
    char *saved = old ? strdup(old) : NULL;
    unsetenv("TMPDIR");
    ck_assert_msg(clnet_dataset_load_cifar(&mapped, d, "train", 0, 0, &e) == 0,
                  "%s", e.msg);
    ck_assert_uint_eq(mapped.mapped, (size_t)15 * 3072);
    setenv("TMPDIR", "/nonexistent-clnet-dir", 1);
    ck_assert_msg(clnet_dataset_load_cifar(&memory, d, "train", 0, 0, &e) == 0,
                  "%s", e.msg);
    if (saved)
        setenv("TMPDIR", saved, 1);
    else
        unsetenv("TMPDIR");
    free(saved);
    ck_assert_uint_eq(memory.mapped, 0);
    ck_assert_int_eq(memory.count, mapped.count);
    ck_assert(memcmp(memory.pixels, mapped.pixels, (size_t)15 * 3072) == 0);
    ck_assert(memcmp(memory.labels, mapped.labels, sizeof(int32_t) * 15) == 0);
    clnet_dataset_free(&memory);
    clnet_dataset_free(&mapped);
    ck_assert_ptr_null(mapped.pixels);
}
END_TEST

START_TEST(cifar_refusals)
{
    clnet_dataset ds;
    clnet_error e;
    ck_assert_int_ne(clnet_dataset_load_cifar(&ds, cifar10("m", 1), "train",
                                              0, 0, &e), 0);
    ck_assert_msg(strstr(e.msg, "data_batch_3.bin: missing"), "%s", e.msg);
    ck_assert_int_ne(clnet_dataset_load_cifar(&ds, cifar10("t", 2), "train",
                                              0, 0, &e), 0);
    ck_assert_msg(strstr(e.msg, "data_batch_2.bin: 6151 bytes is no whole "
                                "number of 3073-byte CIFAR-10 records"),
                  "%s", e.msg);
    ck_assert_int_ne(clnet_dataset_load_cifar(&ds, cifar10("l", 3), "test",
                                              0, 0, &e), 0);
    ck_assert_msg(strstr(e.msg, "test_batch.bin: record 1 has label 10, "
                                "outside the 10 classes"),
                  "%s", e.msg);
    ck_assert_int_ne(clnet_dataset_load_cifar(&ds, folder("empty"), "train",
                                              0, 0, &e), 0);
    ck_assert_msg(strstr(e.msg, "neither CIFAR-10's"), "%s", e.msg);
    ck_assert_int_ne(clnet_dataset_load(&ds, folder("empty"), "train", NULL,
                                        &e), 0);
    ck_assert_msg(strstr(e.msg, "is no data set I know"), "%s", e.msg);
}
END_TEST

START_TEST(cifar100_fine_and_coarse)
{
    const char *d = folder("c100");
    int labels[4] = {3, 77, 19, 99}; /* (coarse, fine) pairs */
    unsigned char *b = cifar_records(2, 2, labels);
    write_file(d, "train.bin", b, 3074 * 2);
    write_file(d, "test.bin", b, 3074 * 2);
    clnet_dataset ds;
    clnet_error e;
    ck_assert_int_eq(clnet_cifar_kind(d), 100);
    ck_assert_int_eq(clnet_dataset_load_cifar(&ds, d, "train", 0, 0, &e), 0);
    ck_assert_int_eq(ds.labels[0], 77);
    ck_assert_int_eq(ds.labels[1], 99);
    ck_assert_ptr_null(ds.class_names); /* no names file */
    ck_assert_int_eq(ds.pixels[3072 + 3 * 2 + 1], (1 + 2 + 7) % 256);
    clnet_dataset_free(&ds);
    ck_assert_int_eq(clnet_dataset_load_cifar(&ds, d, "test", 1, 0, &e), 0);
    ck_assert_int_eq(ds.labels[0], 3);
    ck_assert_int_eq(ds.labels[1], 19);
    clnet_dataset_free(&ds);
    b[1] = 100; /* fine label 100 */
    write_file(d, "train.bin", b, 3074 * 2);
    ck_assert_int_ne(clnet_dataset_load_cifar(&ds, d, "train", 0, 0, &e), 0);
    ck_assert_msg(strstr(e.msg, "record 0 has label 100, outside the 100"),
                  "%s", e.msg);
    free(b);
}
END_TEST

/* A w x h image of n channels whose value at (x, y, c) is v + x + 3y + c. */
static void png(const char *dir, const char *name, int w, int h, int n, int v)
{
    unsigned char *p = malloc((size_t)w * h * n);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < n; c++)
                p[(y * w + x) * n + c] = (unsigned char)(v + x + 3 * y + c);
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ck_assert(stbi_write_png(path, w, h, n, p, w * n));
    free(p);
}

START_TEST(image_folder)
{
    const char *root = folder("imgs");
    const char *zebra = folder("imgs/train/zebra");
    const char *ant = folder("imgs/train/ant");
    png(zebra, "b.png", 4, 3, 1, 10);
    png(zebra, "a.png", 4, 3, 3, 40); /* colour into grey */
    png(ant, "x.png", 4, 3, 2, 100);  /* grey + alpha, composited */
    const char pgm[] = "P5\n4 3\n255\n"
                       "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c";
    write_file(ant, "y.pgm", pgm, sizeof pgm - 1);
    clnet_dataset ds;
    clnet_error e;
    ck_assert_str_eq(clnet_data_format(root), "folder");
    clnet_data_options o = {.rows = 3, .cols = 4, .channels = 1};
    ck_assert_msg(clnet_dataset_load(&ds, root, "train", &o, &e) == 0, "%s",
                  e.msg);
    ck_assert_int_eq(ds.count, 4);
    ck_assert_int_eq(ds.nclasses, 2);
    ck_assert_str_eq(ds.class_names[0], "ant");
    ck_assert_str_eq(ds.class_names[1], "zebra");
    /* ant/x.png, ant/y.pgm, zebra/a.png, zebra/b.png */
    ck_assert_int_eq(ds.labels[0], 0);
    ck_assert_int_eq(ds.labels[3], 1);
    /* (x 1, y 2) of x.png: grey 100 + 7 = 107 at alpha 108; what is
     * drawn is dark (below 128), so the background is white */
    ck_assert_int_eq(ds.pixels[0 * 12 + 2 * 4 + 1],
                     (107 * 108 + 255 * (255 - 108) + 127) / 255);
    ck_assert_int_eq(ds.pixels[1 * 12 + 5], 6);
    /* a.png at (0, 0): (77 * 40 + 150 * 41 + 29 * 42) / 256 */
    ck_assert_int_eq(ds.pixels[2 * 12], (77 * 40 + 150 * 41 + 29 * 42) >> 8);
    ck_assert_int_eq(ds.pixels[3 * 12 + 4], 13);
    clnet_dataset_free(&ds);
    /* a limit takes the classes in turn: ant/x, zebra/a, ant/y */
    o.limit = 3;
    ck_assert_int_eq(clnet_dataset_load(&ds, root, "train", &o, &e), 0);
    ck_assert_int_eq(ds.count, 3);
    ck_assert_int_eq(ds.labels[0], 0);
    ck_assert_int_eq(ds.labels[1], 1);
    ck_assert_int_eq(ds.labels[2], 0);
    ck_assert_int_eq(ds.pixels[2 * 12 + 5], 6); /* y.pgm's sixth value */
    clnet_dataset_free(&ds);
    o.limit = 0;
    /* as colour: grey replicated */
    o.channels = 3;
    ck_assert_int_eq(clnet_dataset_load(&ds, root, "train", &o, &e), 0);
    ck_assert_int_eq(ds.pixels[3 * 36 + 3 * 4 + 2], 13);
    ck_assert_int_eq(ds.pixels[2 * 36 + 2], 42);
    clnet_dataset_free(&ds);
    /* another size: stretched, or refused under the fixed rule */
    png(zebra, "c.png", 8, 6, 1, 0);
    o.channels = 1;
    ck_assert_int_eq(clnet_dataset_load(&ds, root, "train", &o, &e), 0);
    ck_assert_int_eq(ds.count, 5);
    clnet_dataset_free(&ds);
    o.resize = CLNET_RESIZE_FIXED;
    ck_assert_int_ne(clnet_dataset_load(&ds, root, "train", &o, &e), 0);
    ck_assert_msg(strstr(e.msg, "zebra/c.png is 6x8, not the input's 3x4"),
                  "%s", e.msg);
}
END_TEST

START_TEST(image_folder_refusals)
{
    const char *root = folder("bad");
    png(folder("bad/train/one"), "a.png", 2, 2, 1, 0);
    folder("bad/train/two");
    clnet_dataset ds;
    clnet_error e;
    clnet_data_options o = {.rows = 2, .cols = 2, .channels = 1};
    ck_assert_int_ne(clnet_dataset_load(&ds, root, "train", &o, &e), 0);
    ck_assert_msg(strstr(e.msg, "train/two: no images"), "%s", e.msg);
    write_file(folder("bad/train/two"), "broken.png", "not a png", 9);
    ck_assert_int_ne(clnet_dataset_load(&ds, root, "train", &o, &e), 0);
    ck_assert_msg(strstr(e.msg, "two/broken.png cannot be decoded: "), "%s",
                  e.msg);
    /* a header that claims more than its bytes hold is refused before
     * anything that size is allocated (the fuzzer's 20-byte PGM) */
    const char *huge = "P5\n26520 53506\n255\n\x01\x02";
    write_file(folder("bad/train/two"), "broken.png", huge, strlen(huge));
    ck_assert_int_ne(clnet_dataset_load(&ds, root, "train", &o, &e), 0);
    ck_assert_msg(strstr(e.msg, "claims 53506x26520 pixels"), "%s", e.msg);
}
END_TEST

/* Data of another shape than the input is refused naming both. */
START_TEST(shape_named)
{
    clnet_dataset ds;
    clnet_error e;
    ck_assert_int_eq(clnet_dataset_load_cifar(&ds, cifar10("s", 0), "test",
                                              0, 0, &e), 0);
    clnet_net *n = test_build("input shape=28x28x1\nflatten\ndense units=10\n",
                              NULL, &e);
    ck_assert_ptr_nonnull(n);
    ck_assert_int_ne(clnet_train(n, &ds, NULL, NULL, &e), 0);
    ck_assert_msg(strstr(e.msg, "images are 32x32x3, but t.net:1:1 takes "
                                "input shape=28x28x1"),
                  "%s", e.msg);
    clnet_net_free(n);
    clnet_dataset_free(&ds);
}
END_TEST

/* The input layer's per-channel mean= and std=: an identity dense layer
 * shows what it gives, on every backend. */
START_TEST(input_mean_and_std)
{
    const char *text = "input shape=1x2x3 mean=0.5,0.25,0 std=0.5,1,2\n"
                       "flatten\ndense units=6 name=d\n";
    const char *devices[] = {"cpu", "opencl"};
    for (int d = 0; d < 2; d++) {
        clnet_build_options o = {.device = devices[d], .max_batch = 1};
        clnet_error e;
        clnet_net *n = test_build(text, &o, &e);
        if (!n && d == 1)
            continue; /* no OpenCL device here */
        ck_assert_msg(n != NULL, "%s", e.msg);
        float eye[36] = {0};
        for (int k = 0; k < 6; k++)
            eye[k * 6 + k] = 1;
        ck_assert_int_eq(clnet_net_param_set(n, "d/kernel", eye, 36, &e), 0);
        uint8_t px[6] = {255, 51, 0, 102, 204, 153};
        float y[6];
        ck_assert_int_eq(clnet_predict(n, px, 1, y, &e), 0);
        /* (x / 255 - mean[c]) / std[c] */
        const float want[6] = {1.0f, -0.05f, 0.0f, -0.2f, 0.55f, 0.3f};
        for (int k = 0; k < 6; k++)
            ck_assert_msg(fabsf(y[k] - want[k]) < 1e-6f,
                          "%s: value %d is %g, expected %g", devices[d], k,
                          y[k], want[k]);
        clnet_net_free(n);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("datasets");
    TCase *tc = tcase_create("datasets");
    tcase_add_test(tc, cifar10_reads_nhwc_and_names);
    tcase_add_test(tc, cifar_pixels_mapped_or_in_memory);
    tcase_add_test(tc, cifar_refusals);
    tcase_add_test(tc, cifar100_fine_and_coarse);
    tcase_add_test(tc, image_folder);
    tcase_add_test(tc, image_folder_refusals);
    tcase_add_test(tc, shape_named);
    tcase_add_test(tc, input_mean_and_std);
    suite_add_tcase(s, tc);
    return test_run(s);
}
