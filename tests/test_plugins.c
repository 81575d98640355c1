/* The plugin loader: good plugins load, and a wrong ABI version, a missing
 * entry symbol, a duplicate or a file that is no shared object is refused
 * with a message naming the file and the reason. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static int refused_with(const clnet_registry *r, const char *file,
                        const char *reason)
{
    for (int i = 0; i < clnet_registry_refused_count(r); i++) {
        const char *m = clnet_registry_refused(r, i);
        if (strstr(m, file) && strstr(m, reason))
            return 1;
    }
    return 0;
}

START_TEST(fixture_refusals)
{
    clnet_error e;
    clnet_registry *r = clnet_registry_new(&e);
    ck_assert_int_eq(clnet_registry_add_dir(r, getenv("CLNET_FIXTURE_DIR"), &e),
                     1);
    ck_assert_int_eq(clnet_registry_count(r), 1);
    const char *path;
    const clnet_plugin *p = clnet_registry_get(r, 0, &path);
    ck_assert_str_eq(p->kind, "fixture");
    ck_assert_ptr_nonnull(strstr(path, "a-good.so"));
    ck_assert(refused_with(r, "b-duplicate.so", "duplicate of fixture/cpu/alias"));
    ck_assert(refused_with(r, "c-wrong-abi.so", "ABI version 999"));
    ck_assert(refused_with(r, "c-wrong-abi.so", "version 1"));
    ck_assert(refused_with(r, "d-no-entry.so", "no 'clnet_plugin_entry'"));
    clnet_registry_free(r);
}
END_TEST

START_TEST(not_a_shared_object)
{
    clnet_error e;
    clnet_registry *r = clnet_registry_new(&e);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    test_write("fake.so", "not an ELF file", 15);
    ck_assert_int_eq(clnet_registry_add_dir(r, dir, &e), 0);
    ck_assert(refused_with(r, "fake.so", "cannot load"));
    ck_assert_int_lt(clnet_registry_add_dir(r, "/nonexistent", &e), 0);
    ck_assert_int_eq(e.status, CLNET_E_NOTFOUND);
    clnet_registry_free(r);
}
END_TEST

START_TEST(build_tree_plugins)
{
    const clnet_registry *r = test_registry();
    const char *kinds[] = {"input", "conv2d", "maxpool2d", "flatten", "dense",
                           "dropout", "relu", "softmax",
                           "sparse_categorical_crossentropy", "adam", "sgd",
                           NULL};
    for (int i = 0; kinds[i]; i++) {
        const clnet_plugin *p = clnet_registry_find(r, kinds[i], "cpu");
        ck_assert_msg(p != NULL, "no cpu %s", kinds[i]);
        ck_assert_uint_eq(p->abi_version, CLNET_PLUGIN_ABI_VERSION);
    }
    ck_assert_int_eq(clnet_registry_refused_count(r), 0);
}
END_TEST

START_TEST(plugin_path_variable)
{
    /* CLNET_PLUGIN_PATH comes first, so the fixture loads next to the build
     * tree's plugins, and its duplicate is refused */
    setenv("CLNET_PLUGIN_PATH", getenv("CLNET_FIXTURE_DIR"), 1);
    clnet_error e;
    clnet_registry *r = clnet_registry_open(&e);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_nonnull(clnet_registry_find(r, "fixture", "cpu"));
    ck_assert_ptr_nonnull(clnet_registry_find(r, "conv2d", "cpu"));
    ck_assert(refused_with(r, "b-duplicate.so", "duplicate"));
    clnet_registry_free(r);
    unsetenv("CLNET_PLUGIN_PATH");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plugins");
    TCase *tc = tcase_create("loader");
    tcase_add_test(tc, fixture_refusals);
    tcase_add_test(tc, not_a_shared_object);
    tcase_add_test(tc, build_tree_plugins);
    tcase_add_test(tc, plugin_path_variable);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
