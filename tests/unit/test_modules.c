/* Module folders: refused modules take no place an accepted backend needs, every file of a
 * folder is read and sorted before any is loaded, each refusal gives its real reason, and
 * folders anyone could write to (or relative ones) are not loaded from. */
#include "registry_helpers.h"

#define JUNK_COUNT 100 /* more than the 64 backends the registry once held */

static void junk_module(const char *folder, const char *name, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/libgpumem-%s.so", folder, name);
    write_file(path, text, strlen(text), 0644);
}

/* The index of a backend in the list, or -1. */
static int index_of(const char *name, const char *path_part)
{
    uint32_t n = 0;
    cr_assert_eq(gpumem_backend_count(&n), GPUMEM_OK);
    for (uint32_t i = 0; i < n; i++) {
        gpumem_backend_info info;
        cr_assert_eq(gpumem_backend_info_get(i, &info), GPUMEM_OK, "%s", gpumem_last_error());
        if (strcmp(info.name, name) == 0 && (!path_part || strstr(info.module_path, path_part)))
            return (int)i;
    }
    return -1;
}

Test(modules, junk_files_take_no_place_of_a_real_module, .fini = remove_test_folder)
{
    const char *folder = make_test_folder();
    for (int i = 0; i < JUNK_COUNT; i++) {
        char name[32];
        snprintf(name, sizeof name, "junk%03d", i);
        junk_module(folder, name, "not a shared object\n");
    }
    link_fixture(folder, "good", "zzz-good"); /* sorted after every junk file */
    setenv("GPUMEM_PLUGIN_PATH", folder, 1);

    gpumem_backend_info good = find_backend("good");
    cr_expect(good.available, "the real module was pushed out: %s", good.reason);
    gpumem_backend_info host = find_backend("host");
    cr_expect(host.available && host.is_module,
              "the module folder's host module was pushed out (%s)", host.reason);
    uint32_t count = 0;
    cr_assert_eq(gpumem_backend_count(&count), GPUMEM_OK);
    cr_expect_geq(count, JUNK_COUNT + 2, "every junk file is listed, refused");

    /* Refused modules come after every accepted backend, each junk file in name order. */
    int last_accepted = index_of("good", NULL);
    int host_index = index_of("host", NULL);
    if (host_index > last_accepted)
        last_accepted = host_index;
    int previous = -1;
    for (int i = 0; i < JUNK_COUNT; i++) {
        char name[32];
        snprintf(name, sizeof name, "junk%03d", i);
        int index = index_of(name, folder);
        cr_assert_geq(index, 0, "%s is not listed", name);
        cr_expect_gt(index, last_accepted, "%s is listed before an accepted backend", name);
        cr_expect_gt(index, previous, "%s is out of name order", name);
        previous = index;
        gpumem_backend_info junk;
        cr_assert_eq(gpumem_backend_info_get((uint32_t)index, &junk), GPUMEM_OK);
        cr_expect_not(junk.available);
        cr_expect(junk.is_module);
        cr_expect(strncmp(junk.reason, "dlopen failed: ", 15) == 0, "%s: %s", name, junk.reason);
    }

    gpumem_device_desc desc = {.backend = "good"};
    gpumem_device device;
    cr_assert_eq(gpumem_device_open(&desc, &device), GPUMEM_OK, "%s", gpumem_last_error());
    check_transfers(device, 4096);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

/* The real modules of the build's module folder stay, however many files the plugin path
 * holds: among them the Vulkan module, when this build has one. */
Test(modules, junk_files_leave_the_installed_modules, .fini = remove_test_folder)
{
    if (access(MODULE_DIR "/libgpumem-vulkan.so", F_OK) != 0)
        cr_skip_test("this build has no Vulkan module");
    const char *folder = make_test_folder();
    for (int i = 0; i < JUNK_COUNT; i++) {
        char name[32];
        snprintf(name, sizeof name, "junk%03d", i);
        junk_module(folder, name, "");
    }
    setenv("GPUMEM_PLUGIN_PATH", folder, 1);
    int index = index_of("vulkan", MODULE_DIR "/libgpumem-vulkan.so");
    cr_assert_geq(index, 0, "the Vulkan module is not listed");
    gpumem_backend_info vulkan;
    cr_assert_eq(gpumem_backend_info_get((uint32_t)index, &vulkan), GPUMEM_OK);
    cr_expect(strstr(vulkan.reason, "more than") == NULL, "%s", vulkan.reason);
    gpumem_backend_info found = find_backend("vulkan");
    cr_expect(strstr(found.module_path, "libgpumem-vulkan.so"), "%s", found.module_path);
    cr_expect_eq(found.available, vulkan.available);
}

/* dlerror's own words for a file, as dlopen reports them after the path. */
static const char *dlopen_error(const char *path)
{
    static char text[512];
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    cr_assert_null(handle, "%s loaded", path);
    const char *why = dlerror();
    size_t n = strlen(path);
    if (strncmp(why, path, n) == 0 && why[n] == ':')
        why += n + 2;
    snprintf(text, sizeof text, "%s", why);
    return text;
}

Test(modules, each_refusal_gives_its_reason, .fini = remove_test_folder)
{
    const char *folder = make_test_folder();
    char path[PATH_MAX];
    junk_module(folder, "text", "a text file\n");
    snprintf(path, sizeof path, "%s/libgpumem-text.so", folder);
    char dl_words[512];
    snprintf(dl_words, sizeof dl_words, "%s", dlopen_error(path));
    link_fixture(folder, "noentry", "noentry");
    link_fixture(folder, "nullentry", "nullentry");
    snprintf(path, sizeof path, "%s/libgpumem-badabi.so", folder);
    cr_assert_eq(symlink(BAD_MODULES_DIR "/libgpumem-badabi.so", path), 0);
    copy_file(fixture_path("good"), folder, "libgpumem-writable.so", 0666);
    setenv("GPUMEM_PLUGIN_PATH", folder, 1);
    capture_warnings();

    /* The fixture says it was built for the version after this header's. */
    char badabi[64];
    snprintf(badabi, sizeof badabi, "built for backend table version %u",
             GPUMEM_BACKEND_VERSION + 1);
    const struct {
        const char *name, *reason;
    } rows[] = {
        {"text", "dlopen failed: "},
        {"noentry", "the module exports no gpumem_backend_entry"},
        {"nullentry", "the module's gpumem_backend_entry returned NULL"},
        {"badabi", badabi},
        {"writable", "the module file is world-writable"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        gpumem_backend_info info = find_backend(rows[i].name);
        cr_expect_not(info.available, "%s", rows[i].name);
        cr_expect(strstr(info.reason, rows[i].reason), "%s: '%s', expected '%s'", rows[i].name,
                  info.reason, rows[i].reason);
        cr_expect_eq(warnings_with(info.module_path, rows[i].reason), 1,
                     "%s: one warning with the reason:%s", rows[i].name, all_warnings());
        gpumem_device_desc desc = {.backend = rows[i].name};
        gpumem_device device;
        /* A table of a version this libgpumem does not know: the documented code. */
        gpumem_result expected = strcmp(rows[i].name, "badabi") == 0
                                     ? GPUMEM_ERROR_ABI_MISMATCH
                                     : GPUMEM_ERROR_UNAVAILABLE;
        cr_expect_eq(gpumem_device_open(&desc, &device), expected, "%s", rows[i].name);
        cr_expect(strstr(gpumem_last_error(), rows[i].reason), "%s: %s", rows[i].name,
                  gpumem_last_error());
    }
    gpumem_backend_info text = find_backend("text");
    cr_expect(strstr(text.reason, dl_words), "the reason '%s' lacks dlerror's '%s'", text.reason,
              dl_words);
}

/* Two modules of one backend name: the first file in name order wins, whatever order the
 * directory lists them in, and the other is listed with the reason. */
Test(modules, the_order_is_that_of_the_names, .fini = remove_test_folder)
{
    const char *folder = make_test_folder();
    link_fixture(folder, "good", "b-second");
    junk_module(folder, "c", "junk");
    link_fixture(folder, "good", "a-first");
    junk_module(folder, "a", "junk");
    setenv("GPUMEM_PLUGIN_PATH", folder, 1);
    gpumem_backend_info good = find_backend("good");
    cr_expect(strstr(good.module_path, "libgpumem-a-first.so"), "%s", good.module_path);
    int second = index_of("good", "libgpumem-b-second.so");
    cr_assert_geq(second, 0);
    gpumem_backend_info refused;
    cr_assert_eq(gpumem_backend_info_get((uint32_t)second, &refused), GPUMEM_OK);
    cr_expect(strstr(refused.reason, "already registered from"), "%s", refused.reason);
    cr_expect(strstr(refused.reason, "libgpumem-a-first.so"), "%s", refused.reason);
    cr_expect_eq(refused.refused, 1, "the second module is marked refused");
    cr_expect(!refused.available, "a refused module is never available");
    cr_expect_eq(good.refused, 0, "the module in use is not marked refused");
    int a = index_of("a", folder), c = index_of("c", folder);
    cr_expect(a >= 0 && c > a, "refused modules in name order: a at %d, c at %d", a, c);
    cr_expect_gt(a, index_of("good", "libgpumem-a-first.so"));
}

Test(modules, a_world_writable_folder_is_not_loaded_from, .fini = remove_test_folder)
{
    const char *folder = make_test_folder();
    link_fixture(folder, "good", "good");
    cr_assert_eq(chmod(folder, 0777), 0);
    setenv("GPUMEM_PLUGIN_PATH", folder, 1);
    capture_warnings();
    gpumem_backend_info info;
    cr_expect_eq(gpumem_backend_find("good", &info), GPUMEM_ERROR_NOT_FOUND,
                 "a module of a world-writable folder was loaded");
    cr_expect_eq(warnings_with(folder, "world-writable"), 1,
                 "one warning naming the folder and why:%s", all_warnings());
    cr_expect_eq(warnings_with(folder, "GPUMEM_PLUGIN_PATH"), 1, "%s", all_warnings());
    cr_expect(find_backend("host").available, "the other folders still count");
}

Test(modules, a_relative_folder_is_not_loaded_from, .fini = remove_test_folder)
{
    const char *folder = make_test_folder();
    char sub[512];
    snprintf(sub, sizeof sub, "%s/modules", folder);
    cr_assert_eq(mkdir(sub, 0755), 0);
    link_fixture(sub, "good", "good");
    cr_assert_eq(chdir(folder), 0);
    setenv("GPUMEM_PLUGIN_PATH", "modules", 1);
    capture_warnings();
    gpumem_backend_info info;
    cr_expect_eq(gpumem_backend_find("good", &info), GPUMEM_ERROR_NOT_FOUND,
                 "a module of a relative folder was loaded");
    cr_expect_eq(warnings_with("'modules'", "not an absolute path"), 1,
                 "one warning naming the folder and why:%s", all_warnings());
}

Test(modules, empty_plugin_path_items_are_skipped, .fini = remove_test_folder)
{
    const char *folder = make_test_folder();
    link_fixture(folder, "good", "good");
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "::%s::", folder);
    setenv("GPUMEM_PLUGIN_PATH", path, 1);
    capture_warnings();
    cr_expect(find_backend("good").available);
    cr_expect_eq(warnings_with("GPUMEM_PLUGIN_PATH", NULL), 0, "%s", all_warnings());
}

/* A module's entry function runs while gpumem loads it, inside the registry's fill: a call it
 * makes to gpumem is refused with GPUMEM_ERROR_BAD_STATE (it waited forever on the fill's
 * lock), and the module loads all the same. */
Test(modules, an_entry_that_calls_gpumem_is_refused_not_hung, .timeout = 30,
     .fini = remove_test_folder)
{
    const char *folder = make_test_folder();
    link_fixture(folder, "calls", "calls");
    setenv("GPUMEM_PLUGIN_PATH", folder, 1);
    unsetenv("FIXTURE_ENTRY_CALL");
    gpumem_backend_info info = find_backend("calls");
    cr_expect(info.available, "%s", info.reason);
    const char *said = getenv("FIXTURE_ENTRY_CALL");
    cr_assert_not_null(said, "the module's entry did not run");
    cr_expect_eq(atoi(said), GPUMEM_ERROR_BAD_STATE, "the entry's call answered %s", said);
    gpumem_device_desc desc = {.backend = "calls"};
    gpumem_device device;
    cr_assert_eq(gpumem_device_open(&desc, &device), GPUMEM_OK, "%s", gpumem_last_error());
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}
