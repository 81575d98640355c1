/* The plugin loader: good plugins load, and a wrong ABI version, a missing
 * entry symbol, a duplicate or a file that is no shared object is refused
 * with a message naming the file and the reason; so are plugin files and
 * folders other users may write, and relative CLNET_PLUGIN_PATH entries. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    /* the good layer and its kind's definition */
    ck_assert_int_eq(clnet_registry_add_dir(r, getenv("CLNET_FIXTURE_DIR"), &e),
                     2);
    ck_assert_int_eq(clnet_registry_count(r), 2);
    const char *path;
    const clnet_plugin *p = clnet_registry_get(r, 0, &path);
    ck_assert_str_eq(p->kind, "fixture");
    ck_assert_ptr_nonnull(strstr(path, "a-good.so"));
    ck_assert_ptr_nonnull(clnet_registry_find(r, "fixture", "cpu"));
    ck_assert(refused_with(r, "b-duplicate.so", "duplicate of fixture/cpu/copy"));
    ck_assert(refused_with(r, "c-wrong-abi.so", "ABI version 999"));
    ck_assert(refused_with(r, "c-wrong-abi.so", "version 3"));
    ck_assert(refused_with(r, "d-no-entry.so", "no 'clnet_plugin_entry'"));
    /* loaded before its kind, refused once the kind is known */
    ck_assert(refused_with(r, "e-other-settings.so",
                           "settings for fixture differ"));
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
                           "adamw", "rmsprop", NULL};
    for (int i = 0; kinds[i]; i++) {
        const clnet_plugin *p = clnet_registry_find(r, kinds[i], "cpu");
        /* flatten is only a kind's definition: nothing runs for it */
        if (strcmp(kinds[i], "flatten") == 0) {
            ck_assert_ptr_null(p);
            ck_assert_int_eq(test_kind(kinds[i])->def.max_inputs, 1);
            continue;
        }
        ck_assert_msg(p != NULL, "no cpu %s", kinds[i]);
        ck_assert_uint_eq(p->abi_version, CLNET_PLUGIN_ABI_VERSION);
        if (p->role == CLNET_ROLE_LAYER)
            ck_assert_ptr_nonnull(test_kind(kinds[i]));
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

/* A fresh folder (mode 0700) holding a copy of the good fixture; returns
 * the copy's path in plugin. */
static void plugin_folder(const char *name, char *dir, size_t n, char *plugin,
                          size_t pn)
{
    snprintf(dir, n, "%s/%s", test_tmpdir(), name);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    snprintf(plugin, pn, "%s/a-good.so", dir);
    char from[1024];
    snprintf(from, sizeof from, "%s/a-good.so", getenv("CLNET_FIXTURE_DIR"));
    FILE *in = fopen(from, "rb"), *out = fopen(plugin, "wb");
    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(out);
    char buf[8192];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, got, out), got);
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
    ck_assert_int_eq(chmod(plugin, 0755), 0);
}

/* Loads dir into a fresh registry: the number added, the registry in *r. */
static int load(const char *dir, clnet_registry **r, clnet_error *e)
{
    *r = clnet_registry_new(e);
    ck_assert_ptr_nonnull(*r);
    return clnet_registry_add_dir(*r, dir, e);
}

START_TEST(loose_plugin_files_refused)
{
    char dir[512], plugin[600], fix[700];
    plugin_folder("loose-files", dir, sizeof dir, plugin, sizeof plugin);
    snprintf(fix, sizeof fix, "chmod go-w '%s'", plugin);
    clnet_error e;
    clnet_registry *r;
    const mode_t modes[] = {0775, 0757, 0777};
    const char *who[] = {"writable by its group", "writable by others",
                         "writable by others"};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(chmod(plugin, modes[i]), 0);
        ck_assert_int_eq(load(dir, &r, &e), 0);
        ck_assert_msg(refused_with(r, plugin, who[i]) &&
                          refused_with(r, plugin, fix),
                      "mode %o: %s", (unsigned)modes[i],
                      clnet_registry_refused_count(r)
                          ? clnet_registry_refused(r, 0)
                          : "not refused");
        clnet_registry_free(r);
        /* refused before dlopen: its code never ran, so it is not loaded */
        ck_assert_ptr_null(dlopen(plugin, RTLD_NOW | RTLD_NOLOAD));
    }
    /* root (who runs the suite in CI) may hand it to another user */
    if (geteuid() == 0) {
        ck_assert_int_eq(chmod(plugin, 0755), 0);
        ck_assert_int_eq(chown(plugin, 1, (gid_t)-1), 0);
        ck_assert_int_eq(load(dir, &r, &e), 0);
        ck_assert(refused_with(r, plugin, "belongs to uid 1"));
        clnet_registry_free(r);
        ck_assert_int_eq(chown(plugin, 0, (gid_t)-1), 0);
    }
    ck_assert_int_eq(chmod(plugin, 0755), 0);
    ck_assert_int_eq(load(dir, &r, &e), 1);
    ck_assert_int_eq(clnet_registry_refused_count(r), 0);
    clnet_registry_free(r);
}
END_TEST

START_TEST(loose_plugin_folder_refused)
{
    char dir[512], plugin[600], fix[700];
    plugin_folder("loose-folder", dir, sizeof dir, plugin, sizeof plugin);
    snprintf(fix, sizeof fix, "chmod go-w '%s'", dir);
    clnet_error e;
    clnet_registry *r;
    const mode_t modes[] = {0770, 0703};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(chmod(dir, modes[i]), 0);
        ck_assert_int_lt(load(dir, &r, &e), 0);
        ck_assert_int_eq(e.status, CLNET_E_PLUGIN);
        ck_assert_msg(strstr(e.msg, dir) && strstr(e.msg, fix), "%s", e.msg);
        ck_assert_int_eq(clnet_registry_count(r), 0);
        clnet_registry_free(r);
    }
    /* through CLNET_PLUGIN_PATH the refusal is kept with the others */
    setenv("CLNET_PLUGIN_PATH", dir, 1);
    r = clnet_registry_open(&e);
    unsetenv("CLNET_PLUGIN_PATH");
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_null(clnet_registry_find(r, "fixture", "cpu"));
    ck_assert(refused_with(r, dir, fix));
    clnet_registry_free(r);
    ck_assert_int_eq(chmod(dir, 0700), 0);
}
END_TEST

START_TEST(relative_plugin_path_refused)
{
    char dir[512], plugin[600], cwd[1024];
    plugin_folder("relative", dir, sizeof dir, plugin, sizeof plugin);
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(dir), 0);
    /* "." and a name below the current folder: neither is searched */
    setenv("CLNET_PLUGIN_PATH", ".:../relative", 1);
    clnet_error e;
    clnet_registry *r = clnet_registry_open(&e);
    unsetenv("CLNET_PLUGIN_PATH");
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_null(clnet_registry_find(r, "fixture", "cpu"));
    ck_assert(refused_with(r, "'.'", "relative entry"));
    ck_assert(refused_with(r, "'../relative'", "absolute"));
    ck_assert_ptr_nonnull(clnet_registry_find(r, "conv2d", "cpu"));
    clnet_registry_free(r);
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
    tcase_add_test(tc, loose_plugin_files_refused);
    tcase_add_test(tc, loose_plugin_folder_refused);
    tcase_add_test(tc, relative_plugin_path_refused);
    suite_add_tcase(s, tc);
    return test_run(s);
}
