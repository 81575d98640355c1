/* The clnet command: exit status 2 and one clear message for each kind of
 * bad input, and a whole train / eval / predict cycle on small data. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <stb_image_write.h>

#include "helpers.h"

static char output[65536];

/* Runs clnet with the arguments (a printf format) and returns its exit
 * status; stdout and stderr land in `output`. */
static int run(const char *fmt, ...)
{
    char args[4096], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s 2>&1", test_tmpdir(),
             getenv("CLNET_BINARY"), args);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(output, 1, sizeof output - 1, p);
    output[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void expect(int status, const char *fragment, const char *args)
{
    int got = run("%s", args);
    ck_assert_msg(got == status, "clnet %s: exit %d, expected %d:\n%s", args,
                  got, status, output);
    ck_assert_msg(strstr(output, fragment), "clnet %s: '%s' not in:\n%s",
                  args, fragment, output);
}

static const char *net_path(void)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/models/mnist.net", getenv("CLNET_SOURCE_ROOT"));
    return p;
}

START_TEST(usage_and_options)
{
    expect(0, "usage: clnet", "--help");
    expect(2, "usage: clnet", "");
    expect(2, "did you mean 'train'?", "trian x.net");
    char a[2048];
    snprintf(a, sizeof a, "train %s --epoch 3", net_path());
    expect(2, "did you mean '--epochs'?", a);
    snprintf(a, sizeof a, "train %s --epochs three", net_path());
    expect(2, "--epochs takes a whole number", a);
    snprintf(a, sizeof a, "train %s --epochs", net_path());
    expect(2, "--epochs needs a value", a);
    snprintf(a, sizeof a, "summary %s --out x", net_path());
    expect(2, "does not apply to 'summary'", a);
    expect(2, "give a topology file", "summary");
    expect(2, "--model", "eval x.net");
    snprintf(a, sizeof a, "summary %s -x", net_path());
    expect(2, "unknown option '-x'", a);
    snprintf(a, sizeof a, "summary %s", net_path());
    expect(0, "Total params: 280,010", a);
    /* the memory plan: shown, and a batch that cannot fit is refused
     * before anything is allocated or any data read */
    snprintf(a, sizeof a, "summary %s --max-memory 1G", net_path());
    expect(0, " on cpu at batch 128 (parameters 1.1 MiB", a);
    ck_assert_ptr_nonnull(strstr(output, "limit 1.0 GiB (--max-memory)"));
    snprintf(a, sizeof a, "train %s --batch 65536 --max-memory 1G --data "
             "/nonexistent", net_path());
    expect(2, "batch 65536 needs 31.2 GiB on cpu", a);
    ck_assert_ptr_nonnull(strstr(output, "limit is 1.0 GiB (--max-memory)"));
    snprintf(a, sizeof a, "train %s --max-memory lots", net_path());
    expect(2, "--max-memory takes a size", a);
    expect(0, "conv2d", "plugins");
    expect(0, "cpu:0", "devices");
}
END_TEST

/* No line of the output is 80 columns or wider. */
static void fits_80_columns(const char *args)
{
    for (const char *l = output; *l;) {
        size_t n = strcspn(l, "\n");
        ck_assert_msg(n < 80, "clnet %s: a line of %zu columns: %.*s", args,
                      n, (int)n, l);
        l += n + (l[n] == '\n');
    }
}

START_TEST(help_per_command)
{
    expect(0, "--version", "--help");
    fits_80_columns("--help");
    /* a command's help has its own usage and options, and no others */
    expect(0, "usage: clnet train NET", "train --help");
    fits_80_columns("train --help");
    ck_assert_ptr_nonnull(strstr(output, "  --epochs N "));
    ck_assert_ptr_null(strstr(output, "--steps"));
    ck_assert_ptr_null(strstr(output, "--model"));
    expect(0, "usage: clnet bench NET", "help bench");
    ck_assert_ptr_nonnull(strstr(output, "--steps"));
    ck_assert_ptr_null(strstr(output, "--epochs"));
    /* --help wins after any option, even one that wanted a value */
    expect(0, "usage: clnet train NET", "train x.net --epochs --help");
    expect(0, "usage: clnet predict NET", "--device cpu predict -h");
    expect(0, "clnet 0.1.0 (plugin ABI 3)", "summary --version");
    expect(2, "no command 'trian' to help with", "help trian");
    expect(2, "give a command", "--device cpu");
    /* options before the command */
    char a[2048];
    snprintf(a, sizeof a, "--device cpu --seed 3 summary %s", net_path());
    expect(0, "Total params: 280,010", a);
    snprintf(a, sizeof a, "--epochs 2 summary %s", net_path());
    expect(2, "--epochs does not apply to 'summary'", a);
}
END_TEST

/* clnet config, and a configuration file read by the build commands */
START_TEST(configuration_file)
{
    const char *cfg = "threads count=1\nbackend dense=cpu/gemm\n";
    test_write("my.cfg", cfg, strlen(cfg));
    expect(0, "threads      1                                    my.cfg:1",
           "config --config my.cfg");
    expect(0, "threads      2 ", "config --config my.cfg --threads 2");
    char a[2048];
    snprintf(a, sizeof a, "summary %s --config my.cfg", net_path());
    expect(0, "cpu/gemm                  my.cfg:2", a);
    /* found through $CLNET_CONFIG too; a bad line is located, exit 2 */
    const char *bad = "\nthreads count=1 cores=2\n";
    test_write("bad.cfg", bad, strlen(bad));
    snprintf(a, sizeof a, "summary %s --config bad.cfg", net_path());
    expect(2, "bad.cfg:2:17: 'threads' takes no setting 'cores'", a);
    expect(2, "bad.cfg:2:17", "config --config bad.cfg");
    snprintf(a, sizeof a, "summary %s --config missing.cfg", net_path());
    expect(2, "missing.cfg: cannot open the configuration file", a);
}
END_TEST

/* A layer on a second OpenCL device (backend=opencl:N): oclgrind's ICD
 * beside PoCL's gives this machine two; the run follows the native
 * CPU's, copies between the devices included. Skipped without both. */
START_TEST(two_opencl_devices)
{
    const char *pocl = "/etc/OpenCL/vendors/pocl.icd";
    const char *grind = "/usr/lib/oclgrind/liboclgrind-rt-icd.so";
    struct stat st;
    if (stat(pocl, &st) || stat(grind, &st)) {
        fprintf(stderr, "two_opencl_devices skipped: needs %s and %s\n",
                pocl, grind);
        return;
    }
    char icd[1200], a[4096];
    snprintf(icd, sizeof icd, "%s/icd", test_tmpdir());
    snprintf(a, sizeof a, "mkdir -p '%s' && cp %s '%s/' && echo %s > "
             "'%s/oclgrind.icd'", icd, pocl, icd, grind, icd);
    ck_assert_int_eq(system(a), 0);
    test_write_mnist("train", 64, 1);
    test_write_mnist("t10k", 32, 1);
    const char *net = "input shape=28x28x1\n"
                      "conv2d filters=4 kernel=3 activation=relu name=c\n"
                      "maxpool2d pool=2\nflatten\ndense units=10 name=d\n"
                      "softmax\ntrain optimizer=adam lr=0.01 batch=32\n";
    test_write("two.net", net, strlen(net));
    /* oclgrind is opencl:0 there, PoCL opencl:1 */
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "cd '%s' && OCL_ICD_VENDORS='%s' '%s' devices",
             test_tmpdir(), icd, getenv("CLNET_BINARY"));
    FILE *p = popen(cmd, "r");
    size_t n = fread(output, 1, sizeof output - 1, p);
    output[n] = '\0';
    pclose(p);
    if (!strstr(output, "opencl:1")) {
        fprintf(stderr, "two_opencl_devices skipped: one device:\n%s",
                output);
        return;
    }
    expect(0, "Saved cpu.ckpt", "train two.net --data . --epochs 1 --quiet "
           "--out cpu.ckpt --log-json cpu.json");
    snprintf(cmd, sizeof cmd, "cd '%s' && OCL_ICD_VENDORS='%s' '%s' summary "
             "two.net --device opencl:1 --backend d=opencl:0 2>&1",
             test_tmpdir(), icd, getenv("CLNET_BINARY"));
    p = popen(cmd, "r");
    n = fread(output, 1, sizeof output - 1, p);
    output[n] = '\0';
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_msg(strstr(output, "Device: opencl:0 Oclgrind") &&
                  strstr(output, "Device: opencl:1 "), "%s", output);
    /* a layer on opencl:1 first does not make it the default: the rest
     * go to the default device (the first GPU: oclgrind's, opencl:0) */
    snprintf(cmd, sizeof cmd, "cd '%s' && OCL_ICD_VENDORS='%s' '%s' summary "
             "two.net --device opencl --backend input=opencl:1 2>&1",
             test_tmpdir(), icd, getenv("CLNET_BINARY"));
    p = popen(cmd, "r");
    n = fread(output, 1, sizeof output - 1, p);
    output[n] = '\0';
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_msg(strstr(output, "Device: opencl:0 Oclgrind") &&
                  strstr(output, "Device: opencl:1 "), "%s", output);
    snprintf(cmd, sizeof cmd, "cd '%s' && OCL_ICD_VENDORS='%s' '%s' train "
             "two.net --data . --epochs 1 --quiet --out two.ckpt --log-json "
             "two.json --device opencl:1 --backend d=opencl:0 2>&1",
             test_tmpdir(), icd, getenv("CLNET_BINARY"));
    p = popen(cmd, "r");
    n = fread(output, 1, sizeof output - 1, p);
    output[n] = '\0';
    ck_assert_msg(pclose(p) == 0, "%s", output);
    double l1 = 0, l2 = 0, v1 = 0, v2 = 0;
    char path[1200];
    snprintf(path, sizeof path, "%s/cpu.json", test_tmpdir());
    FILE *f = fopen(path, "r");
    ck_assert_int_eq(fscanf(f, "{\"epoch\": 1, \"loss\": %lf, \"accuracy\": "
                                "%*f, \"val_loss\": %lf", &l1, &v1), 2);
    fclose(f);
    snprintf(path, sizeof path, "%s/two.json", test_tmpdir());
    f = fopen(path, "r");
    ck_assert_int_eq(fscanf(f, "{\"epoch\": 1, \"loss\": %lf, \"accuracy\": "
                                "%*f, \"val_loss\": %lf", &l2, &v2), 2);
    fclose(f);
    ck_assert_msg(fabs(l1 - l2) < 1e-4 && fabs(v1 - v2) < 1e-4,
                  "cpu loss %g val_loss %g; two devices %g, %g", l1, v1, l2,
                  v2);
}
END_TEST

/* train --devices: one replica a device, the figures of one device;
 * a device named twice is refused */
START_TEST(data_parallel_devices)
{
    test_write_mnist("train", 96, 1);
    test_write_mnist("t10k", 32, 1);
    const char *net = "input shape=28x28x1\n"
                      "conv2d filters=4 kernel=3 activation=relu\n"
                      "maxpool2d pool=2\nflatten\ndropout rate=0.25\n"
                      "dense units=10\nsoftmax\n"
                      "train optimizer=adam lr=0.01 batch=32\n";
    test_write("dp.net", net, strlen(net));
    expect(2, "--devices names cpu twice", "train dp.net --data . "
           "--devices cpu,cpu");
    expect(2, "two or more devices", "train dp.net --data . --devices cpu");
    if (run("devices") != 0 || !strstr(output, "opencl:0"))
        return;
    expect(0, "Saved a.ckpt", "train dp.net --data . --epochs 2 --quiet "
           "--out a.ckpt --log-json a.json");
    expect(0, "on cpu,opencl:0", "train dp.net --data . --epochs 2 --quiet "
           "--out b.ckpt --log-json b.json --devices cpu,opencl:0");
    for (int ep = 0; ep < 2; ep++) {
        double la = 0, lb = 0;
        char path[1200], line[1024];
        snprintf(path, sizeof path, "%s/a.json", test_tmpdir());
        FILE *f = fopen(path, "r");
        for (int k = 0; k <= ep; k++)
            ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
        fclose(f);
        ck_assert_int_eq(sscanf(strstr(line, "\"loss\""), "\"loss\": %lf", &la),
                         1);
        snprintf(path, sizeof path, "%s/b.json", test_tmpdir());
        f = fopen(path, "r");
        for (int k = 0; k <= ep; k++)
            ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
        fclose(f);
        ck_assert_int_eq(sscanf(strstr(line, "\"loss\""), "\"loss\": %lf", &lb),
                         1);
        ck_assert_msg(fabs(la - lb) < 1e-3 * la, "epoch %d: loss %g on cpu, "
                      "%g on cpu and opencl:0", ep + 1, la, lb);
    }
}
END_TEST

/* clnet check: every implementation passes on the native CPU and on
 * OpenCL, the JSON parses; a broken implementation fails, exit 1. */
START_TEST(check_devices)
{
    expect(0, "0 failed (relative error above 0.001)",
           "check --small --json c.json");
    ck_assert_ptr_nonnull(strstr(output, "conv2d/gemm "));
    expect(0, "passed", "--version > /dev/null && python3 -c 'import json; "
           "r = json.load(open(\"c.json\"))[\"results\"][0]; "
           "assert r[\"device\"][\"label\"] == \"cpu:0\", r; "
           "assert all(x[\"pass\"] for x in r[\"implementations\"]); "
           "assert len(r[\"implementations\"]) > 20; print(\"passed\")'");
    char a[2048];
    snprintf(a, sizeof a, "--version > /dev/null; CLNET_PLUGIN_PATH='%s' "
             "'%s' check --small", getenv("CLNET_BROKEN_DIR"),
             getenv("CLNET_BINARY"));
    expect(1, "relu/broken", a);
    ck_assert_msg(strstr(output, "FAIL (1 of 1 cases; worst: 3x5x7)") &&
                  strstr(output, "1 failed"), "%s", output);
    if (run("devices") == 0 && strstr(output, "opencl:0"))
        expect(0, "0 failed", "check --device opencl --small");
}
END_TEST

START_TEST(bad_files)
{
    const char *bad = "input shape=28x28x1\nconv2 filters=3\n";
    test_write("bad.net", bad, strlen(bad));
    expect(2, "bad.net:2:1: unknown layer 'conv2'; did you mean 'conv2d'?",
           "summary bad.net");
    expect(2, "missing.net: cannot open the topology file", "summary missing.net");
    char a[2048];
    snprintf(a, sizeof a, "train %s --data /nonexistent", net_path());
    expect(2, "not found", a);
    snprintf(a, sizeof a, "train %s --data . --out /nonexistent/m.ckpt",
             net_path());
    expect(2, "cannot write the checkpoint", a);
    /* found before any data is read or training runs: a folder, and a
     * path that root's access() lets through */
    snprintf(a, sizeof a, "train %s --data /nonexistent --out .", net_path());
    expect(2, "it is a folder", a);
    snprintf(a, sizeof a, "train %s --data /nonexistent --out /proc/x.ckpt",
             net_path());
    expect(2, "/proc/x.ckpt: cannot write the checkpoint", a);
    expect(2, ".: a folder, not a topology file", "summary .");
    /* a run that fails leaves an old log as it was */
    test_write("old.json", "{\"epoch\": 1}\n", 14);
    snprintf(a, sizeof a, "train %s --data /nonexistent --log-json old.json",
             net_path());
    expect(2, "not found", a);
    char lp[1024], line[64] = "";
    snprintf(lp, sizeof lp, "%s/old.json", test_tmpdir());
    FILE *lf = fopen(lp, "r");
    ck_assert_ptr_nonnull(lf);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, lf));
    fclose(lf);
    ck_assert_str_eq(line, "{\"epoch\": 1}\n");
    snprintf(a, sizeof a, "train %s --data . --log-json /nonexistent/l.json",
             net_path());
    expect(2, "/nonexistent/l.json: cannot write the log", a);
    test_write("junk.ckpt", "junk", 4);
    snprintf(a, sizeof a, "eval %s --model junk.ckpt --data .", net_path());
    expect(2, "not a clnet checkpoint", a);
    snprintf(a, sizeof a, "predict %s --model none.ckpt x.png", net_path());
    expect(2, "none.ckpt: cannot open the checkpoint", a);
}
END_TEST

START_TEST(train_eval_predict_cycle)
{
    test_write_mnist("train", 640, 1);
    test_write_mnist("t10k", 100, 1);
    char a[2048];
    snprintf(a, sizeof a, "train %s --data . --epochs 2 --batch 32 --out m.ckpt "
             "--log-json log.json --seed 3", net_path());
    expect(0, "Saved m.ckpt", a);
    ck_assert_ptr_nonnull(strstr(output, "val_accuracy"));
    char path[1024];
    snprintf(path, sizeof path, "%s/log.json", test_tmpdir());
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        const char *keys[] = {"\"epoch\"", "\"loss\"", "\"accuracy\"",
                              "\"val_loss\"", "\"val_accuracy\"", "\"seconds\"",
                              "\"images_per_second\"", NULL};
        for (int k = 0; keys[k]; k++)
            ck_assert_msg(strstr(line, keys[k]), "%s missing in %s", keys[k],
                          line);
    }
    fclose(f);
    ck_assert_int_eq(lines, 2);
    snprintf(a, sizeof a, "eval %s --model m.ckpt --data .", net_path());
    expect(0, "Confusion matrix", a);
    /* a PGM of class 4's band */
    char pgm[64 + 784];
    int h = snprintf(pgm, 64, "P5\n28 28\n255\n");
    memset(pgm + h, 0, 784);
    memset(pgm + h + 4 * 78, 230, 78);
    test_write("four.pgm", pgm, (size_t)h + 784);
    snprintf(a, sizeof a, "predict %s --model m.ckpt four.pgm", net_path());
    expect(0, "four.pgm: ", a);
    snprintf(a, sizeof a, "predict %s --model m.ckpt four.pgm missing.png",
             net_path());
    /* the bad file is named, the good one still predicted */
    expect(2, "missing.png: cannot be read: No such file", a);
    ck_assert_msg(strstr(output, "four.pgm: "), "%s", output);
    snprintf(a, sizeof a, "predict %s --model m.ckpt .", net_path());
    expect(2, ".: is a directory", a);
    /* --json: one valid object per file, in order, a file name with a
     * quote and a file that failed included; --top ranks the classes */
    test_write("we\"ird.pgm", pgm, (size_t)h + 784);
    snprintf(a, sizeof a, "predict %s --model m.ckpt --json --top 3 four.pgm "
             "'we\"ird.pgm' missing.png 2>/dev/null > out.jsonl; st=$?; "
             "(exit $st)", net_path());
    ck_assert_int_eq(run("%s", a), 2);
    expect(0, "3 objects", "--version >/dev/null && python3 -c 'import json; "
           "o = [json.loads(l) for l in open(\"out.jsonl\")]; "
           "assert [x[\"file\"] for x in o] == [\"four.pgm\", "
           "\"we\\\"ird.pgm\", \"missing.png\"], o; "
           "assert \"error\" in o[2] and len(o[0][\"top\"]) == 3; "
           "p = o[0][\"probabilities\"]; "
           "assert o[0][\"top\"][0][\"probability\"] == max(p); "
           "assert abs(sum(p) - 1) < 1e-4; print(len(o), \"objects\")'");
    snprintf(a, sizeof a, "predict %s --model m.ckpt --top 2 four.pgm",
             net_path());
    expect(0, "  top 2: ", a);
    /* a black band on a transparent page predicts as the same band on
     * white, both with --invert */
    unsigned char clear[784 * 2], white[784];
    for (int i = 0; i < 784; i++) {
        int band = i / 28 >= 4 * 78 / 28 && i / 28 < 5 * 78 / 28;
        clear[2 * i] = 0;
        clear[2 * i + 1] = band ? 255 : 0;
        white[i] = band ? 0 : 255;
    }
    char cp[1100], wp[1100];
    snprintf(cp, sizeof cp, "%s/clear.png", test_tmpdir());
    snprintf(wp, sizeof wp, "%s/white.png", test_tmpdir());
    ck_assert(stbi_write_png(cp, 28, 28, 2, clear, 56));
    ck_assert(stbi_write_png(wp, 28, 28, 1, white, 28));
    snprintf(a, sizeof a, "predict %s --model m.ckpt --invert clear.png "
             "white.png", net_path());
    expect(0, "white.png: ", a);
    char *second = strstr(output, "white.png: ");
    const char *first = strstr(output, "clear.png: ");
    ck_assert_ptr_nonnull(first);
    ck_assert_msg(!strncmp(strchr(first, ' '), strchr(second, ' '),
                           strcspn(second, "\n") - 10),
                  "%s", output);
    /* without --invert, a dark drawing on white gets a hint */
    snprintf(a, sizeof a, "predict %s --model m.ckpt white.png", net_path());
    expect(0, "try --invert", a);
    /* a checkpoint of another topology is refused */
    const char *other = "input shape=28x28x1\nflatten\n"
                        "dense units=10 activation=softmax\n";
    test_write("other.net", other, strlen(other));
    expect(2, "another topology", "eval other.net --model m.ckpt --data .");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("command");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, usage_and_options);
    tcase_add_test(tc, help_per_command);
    tcase_add_test(tc, configuration_file);
    tcase_add_test(tc, two_opencl_devices);
    tcase_add_test(tc, check_devices);
    tcase_add_test(tc, data_parallel_devices);
    tcase_add_test(tc, bad_files);
    tcase_add_test(tc, train_eval_predict_cycle);
    suite_add_tcase(s, tc);
    return test_run(s);
}
