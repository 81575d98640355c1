/* One OpenMP runtime per process (issue 10, defect 14): after the CPU
 * plugins are loaded and have run their OpenMP loops and BLAS calls, at
 * most one of gcc's libgomp and LLVM's libomp (or its libiomp5 alias) may
 * be mapped. Two runtimes mean two thread pools, a thread count that
 * reaches only one of them, and LeakSanitizer trouble in clang builds. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static const char *const runtimes[] = {"/libgomp.so", "/libomp.so",
                                       "/libiomp5.so"};
#define NRUNTIMES (int)(sizeof runtimes / sizeof runtimes[0])

/* Sets found[i] for each runtime mapped into this process. */
static void mapped_runtimes(int found[NRUNTIMES])
{
    FILE *f = fopen("/proc/self/maps", "r");
    ck_assert_msg(f != NULL, "cannot read /proc/self/maps");
    char line[4096];
    while (fgets(line, sizeof line, f))
        for (int i = 0; i < NRUNTIMES; i++)
            if (strstr(line, runtimes[i]))
                found[i] = 1;
    fclose(f);
}

START_TEST(one_openmp_runtime)
{
    /* conv2d runs the plugins' OpenMP loops, dense calls BLAS */
    const char *text = "input shape=8x8x1\n"
                       "conv2d filters=4 kernel=3\n"
                       "relu\n"
                       "flatten\n"
                       "dense units=3\n"
                       "softmax\n"
                       "train optimizer=sgd lr=0.1 "
                       "loss=sparse_categorical_crossentropy batch=4\n";
    clnet_error e;
    clnet_topology *t = clnet_topology_parse(text, "runtimes.net", &e);
    ck_assert_msg(t != NULL, "%s", e.msg);
    clnet_build_options o = {.max_batch = 4, .threads = 2, .seed = 1};
    clnet_net *net = clnet_net_build(t, test_registry(), &o, &e);
    ck_assert_msg(net != NULL, "%s", e.msg);
    uint8_t pixels[4 * 64];
    for (int i = 0; i < 4 * 64; i++)
        pixels[i] = (uint8_t)(i * 37);
    float probs[4 * 3];
    ck_assert_msg(clnet_predict(net, pixels, 4, probs, &e) == CLNET_OK, "%s",
                  e.msg);
    int found[NRUNTIMES] = {0};
    mapped_runtimes(found);
    int n = found[0] + found[1] + found[2];
    ck_assert_msg(n <= 1,
                  "%d OpenMP runtimes are mapped (libgomp %s, libomp %s, "
                  "libiomp5 %s); the plugins and the BLAS must share one",
                  n, found[0] ? "yes" : "no", found[1] ? "yes" : "no",
                  found[2] ? "yes" : "no");
    clnet_net_free(net);
    clnet_topology_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runtimes");
    TCase *tc = tcase_create("openmp");
    tcase_add_test(tc, one_openmp_runtime);
    suite_add_tcase(s, tc);
    return test_run(s);
}
