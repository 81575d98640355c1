/* The configuration file: its lines and located errors, where it is
 * found, what it sets, and its rank: the command line (build options)
 * over a layer's backend= over the file over the default; `clnet
 * summary` names where each layer's backend came from. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static const char *const net_text =
    "input shape=8x8x1\n"
    "conv2d filters=4 kernel=3 name=c1\n"
    "conv2d filters=4 kernel=3 name=c2 backend=cpu/gemm\n"
    "flatten\n"
    "dense units=3 name=d\n"
    "softmax\n"
    "train optimizer=sgd lr=0.1 batch=4\n";

static clnet_config *parse(const char *text)
{
    clnet_error e;
    clnet_config *c = clnet_config_parse(text, "cfg", &e);
    ck_assert_msg(c != NULL, "%s", e.msg);
    return c;
}

static void refused(const char *text, const char *fragment)
{
    clnet_error e;
    ck_assert_ptr_null(clnet_config_parse(text, "cfg", &e));
    ck_assert_int_eq(e.status, CLNET_E_PARSE);
    ck_assert_msg(strstr(e.msg, fragment), "'%s' not in: %s", fragment,
                  e.msg);
}

static char *printed(const clnet_config *c, const clnet_build_options *o)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    clnet_error e;
    ck_assert_int_eq(clnet_config_print(c, o, f, &e), 0);
    fclose(f);
    return text;
}

START_TEST(lines_and_errors)
{
    clnet_config *c = parse("# defaults\n"
                            "device default=cpu\n"
                            "backend conv2d=cpu/gemm d=cpu\n"
                            "threads count=3\n"
                            "\n"
                            "cache dir=/tmp/clnet-config-cache\n"
                            "opencl device=1 build_options=-cl-mad-enable,"
                            "-cl-no-signed-zeros\n");
    ck_assert_str_eq(clnet_config_device(c), "cpu");
    ck_assert_int_eq(clnet_config_threads(c), 3);
    clnet_build_options o = {0};
    char *text = printed(c, &o);
    ck_assert_msg(strstr(text, "threads      3 "), "%s", text);
    ck_assert_msg(strstr(text, "cfg:4\n"), "%s", text);
    ck_assert_msg(strstr(text, "backend      conv2d=cpu/gemm"), "%s", text);
    ck_assert_msg(strstr(text, "opencl:1     -cl-mad-enable "
                               "-cl-no-signed-zeros"), "%s", text);
    free(text);
    /* the command line ranks above the file */
    o.threads = 2;
    o.device = "auto";
    o.backends = "dense=cpu";
    text = printed(c, &o);
    ck_assert_msg(strstr(text, "threads      2 "), "%s", text);
    ck_assert_msg(strstr(text, "--threads"), "%s", text);
    ck_assert_msg(strstr(text, "device       auto "), "%s", text);
    ck_assert_msg(strstr(text, "dense=cpu                            "
                               "--backend"), "%s", text);
    free(text);
    clnet_config_free(c);
    refused("devise default=cpu\n",
            "cfg:1:1: unknown configuration line 'devise'");
    refused("devise default=cpu\n", "did you mean 'device'?");
    refused("device\n", "cfg:1:1: 'device' needs default=");
    refused("threads n=2\n", "cfg:1:9: 'threads' takes no setting 'n'");
    refused("\nthreads count=0\n", "cfg:2:15: count= takes a whole number");
    refused("cache dir=relative\n", "cfg:1:11: dir= takes an absolute");
    refused("backend\n", "cfg:1:1: 'backend' needs KIND=BACKEND");
    refused("backend conv2d=a,b\n", "cfg:1:16: conv2d= takes BACKEND");
    refused("opencl build_options=-x\n", "needs device=");
    refused("threads count=2 count=3\n", "set twice");
}
END_TEST

static clnet_net *build(const clnet_config *c, const char *backends)
{
    clnet_build_options o = {.config = c, .backends = backends};
    clnet_error e;
    clnet_net *n = test_build(net_text, &o, &e);
    ck_assert_msg(n != NULL, "%s", e.msg);
    return n;
}

/* The summary's "Chosen by" of a layer: the row's last word. */
static void chosen(const char *summary, const char *layer, const char *impl,
                   const char *by)
{
    char row[128];
    snprintf(row, sizeof row, "\n%s (", layer);
    const char *at = strstr(summary, row);
    ck_assert_msg(at != NULL, "%s not in:\n%s", layer, summary);
    const char *end = strchr(at + 1, '\n');
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)(end - at - 1), at + 1);
    ck_assert_msg(strstr(line, impl), "%s: '%s' not in '%s'", layer, impl,
                  line);
    size_t n = strlen(line), m = strlen(by);
    ck_assert_msg(n >= m && !strcmp(line + n - m, by), "%s: chosen by '%s' "
                  "expected, row '%s'", layer, by, line);
}

START_TEST(rank_of_each_source)
{
    clnet_config *c = parse("backend conv2d=cpu/direct\n"
                            "backend c2=cpu/direct d=cpu/gemm\n");
    /* c1: the file's kind rule; c2: its own backend= beats the file's name
     * rule; d: the file's name rule; the rest: the default device */
    clnet_net *n = build(c, NULL);
    char *s = test_summary(n);
    chosen(s, "c1", "cpu/direct", "cfg:1");
    chosen(s, "c2", "cpu/gemm", "t.net:3");
    chosen(s, "d", "cpu/gemm", "cfg:2");
    chosen(s, "flatten_1", "cpu", "default");
    free(s);
    clnet_net_free(n);
    /* the command line beats both */
    n = build(c, "c2=cpu/gemm,conv2d=cpu/gemm");
    s = test_summary(n);
    chosen(s, "c1", "cpu/gemm", "--backend");
    chosen(s, "c2", "cpu/gemm", "--backend");
    chosen(s, "d", "cpu/gemm", "cfg:2");
    free(s);
    clnet_net_free(n);
    clnet_config_free(c);
    /* the file's device when the build options name none */
    c = parse("\ndevice default=cpu\nthreads count=1\n");
    n = build(c, NULL);
    s = test_summary(n);
    chosen(s, "c1", "cpu/", "cfg:2");
    free(s);
    clnet_net_free(n);
    clnet_config_free(c);
    /* a device that does not exist is refused, saying where it was set */
    c = parse("device default=opencl:63\n");
    clnet_build_options o = {.config = c};
    clnet_error e;
    ck_assert_ptr_null(test_build(net_text, &o, &e));
    ck_assert_msg(strstr(e.msg, "cfg:1: "), "%s", e.msg);
    clnet_config_free(c);
}
END_TEST

START_TEST(where_it_is_found)
{
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/xdg", test_tmpdir());
    snprintf(path, sizeof path, "%s/clnet", dir);
    ck_assert_int_eq(system("true"), 0);
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && printf 'threads count=5\\n' "
             "> '%s/config'", path, path);
    ck_assert_int_eq(system(cmd), 0);
    unsetenv("CLNET_CONFIG");
    setenv("XDG_CONFIG_HOME", dir, 1);
    clnet_error e;
    clnet_config *c = clnet_config_load(NULL, &e);
    ck_assert_msg(c != NULL, "%s", e.msg);
    ck_assert_int_eq(clnet_config_threads(c), 5);
    ck_assert_ptr_nonnull(strstr(clnet_config_file(c), "xdg/clnet/config"));
    clnet_config_free(c);
    /* none at the default place: an empty configuration */
    setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
    c = clnet_config_load(NULL, &e);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(clnet_config_file(c));
    clnet_config_free(c);
    /* one that was named must exist */
    setenv("CLNET_CONFIG", "/nonexistent/config", 1);
    ck_assert_ptr_null(clnet_config_load(NULL, &e));
    ck_assert_int_eq(e.status, CLNET_E_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent/config: cannot open "
                                        "the configuration file"));
    unsetenv("CLNET_CONFIG");
    ck_assert_ptr_null(clnet_config_load("/nonexistent/x", &e));
    ck_assert_ptr_null(clnet_config_load(test_tmpdir(), &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "a folder, not a configuration file"));
}
END_TEST

/* What the plugins read from the environment; what was set stays. */
START_TEST(environment)
{
    unsetenv("CLNET_CACHE_DIR");
    unsetenv("CLNET_CL_BUILD_OPTIONS_2");
    setenv("CLNET_CL_BUILD_OPTIONS_3", "-cl-fast-relaxed-math", 1);
    clnet_config *c = parse("cache dir=/tmp/clnet-config-test\n"
                            "opencl device=2 build_options=-cl-mad-enable\n"
                            "opencl device=3 build_options=-cl-opt-disable\n");
    clnet_error e;
    ck_assert_int_eq(clnet_config_apply_environment(c, &e), 0);
    ck_assert_str_eq(getenv("CLNET_CACHE_DIR"), "/tmp/clnet-config-test");
    ck_assert_str_eq(getenv("CLNET_CL_BUILD_OPTIONS_2"), "-cl-mad-enable");
    ck_assert_str_eq(getenv("CLNET_CL_BUILD_OPTIONS_3"),
                     "-cl-fast-relaxed-math");
    clnet_build_options o = {0};
    char *text = printed(c, &o);
    ck_assert_msg(strstr(text, "$CLNET_CL_BUILD_OPTIONS_3"), "%s", text);
    ck_assert_msg(strstr(text, "/tmp/clnet-config-test               cfg:1"),
                  "%s", text);
    free(text);
    clnet_config_free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, lines_and_errors);
    tcase_add_test(tc, rank_of_each_source);
    tcase_add_test(tc, where_it_is_found);
    tcase_add_test(tc, environment);
    suite_add_tcase(s, tc);
    return test_run(s);
}
