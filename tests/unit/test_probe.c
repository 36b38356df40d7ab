/* Probing: registration probes nothing; a call probes only the backends it needs; a definitive
 * answer is kept, and a transient failure is reported with its own cause and result and probed
 * again by the next call. The fixture modules count their probes (module_fixture.c). */
#include "registry_helpers.h"

static char flaky_path[PATH_MAX];

static void flaky_folder(const char *failures)
{
    const char *folder = make_test_folder();
    link_fixture(folder, "flaky", "flaky");
    link_fixture(folder, "nodevice", "nodevice");
    snprintf(flaky_path, sizeof flaky_path, "%s/libgpumem-flaky.so", folder);
    setenv("GPUMEM_PLUGIN_PATH", folder, 1);
    setenv("FIXTURE_PROBE_FAILURES", failures, 1);
}

static int vulkan_loader_loaded(void)
{
    void *loader = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (loader)
        dlclose(loader);
    return loader != NULL;
}

/* GPUMEM_BACKEND=host (as meson runs these tests): nothing else is probed, so the Vulkan loader
 * and its drivers are never loaded. */
Test(probe, a_named_backend_is_the_only_one_probed)
{
    cr_assert_str_eq(getenv("GPUMEM_BACKEND"), "host");
    uint32_t count;
    cr_assert_eq(gpumem_backend_count(&count), GPUMEM_OK);
    cr_expect_not(vulkan_loader_loaded(), "counting backends loaded the Vulkan loader");
    gpumem_device device;
    cr_assert_eq(gpumem_device_open(NULL, &device), GPUMEM_OK, "%s", gpumem_last_error());
    cr_expect_not(vulkan_loader_loaded(), "GPUMEM_BACKEND=host loaded the Vulkan loader");
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    unsetenv("GPUMEM_BACKEND");
    gpumem_device_desc desc = {.backend = "host"};
    cr_assert_eq(gpumem_device_open(&desc, &device), GPUMEM_OK, "%s", gpumem_last_error());
    cr_expect_not(vulkan_loader_loaded(), "desc.backend=\"host\" loaded the Vulkan loader");
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    cr_assert_eq(gpumem_device_count("host", &count), GPUMEM_OK);
    cr_expect_not(vulkan_loader_loaded(), "gpumem_device_count(\"host\") loaded it");
    /* Asking about Vulkan is what probes it (when this build has it). */
    gpumem_backend_info vulkan;
    if (gpumem_backend_find("vulkan", &vulkan) == GPUMEM_OK && vulkan.available)
        cr_expect(vulkan_loader_loaded(), "the check above would not have seen a load");
}

Test(probe, registration_probes_nothing, .fini = remove_test_folder)
{
    flaky_folder("0");
    uint32_t count;
    cr_assert_eq(gpumem_backend_count(&count), GPUMEM_OK);
    cr_expect_eq(probe_count(flaky_path), 0, "registering the module probed it");
    gpumem_device_desc desc = {.backend = "host"};
    gpumem_device device;
    cr_assert_eq(gpumem_device_open(&desc, &device), GPUMEM_OK, "%s", gpumem_last_error());
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    cr_expect_eq(probe_count(flaky_path), 0, "opening host probed another backend");
    gpumem_backend_info info = find_backend("flaky");
    cr_expect(info.available, "%s", info.reason);
    cr_expect_eq(probe_count(flaky_path), 1);
}

Test(probe, a_transient_failure_is_reported_and_probed_again, .fini = remove_test_folder)
{
    flaky_folder("2");
    capture_warnings();
    gpumem_backend_info info = find_backend("flaky");
    cr_expect_not(info.available);
    cr_expect(strstr(info.reason, "fixture: no memory for probe 1"), "%s", info.reason);
    cr_expect(strstr(info.reason, "GPUMEM_ERROR_OUT_OF_HOST_MEMORY"), "%s", info.reason);
    cr_expect_eq(warnings_with("flaky", "no memory for probe 1"), 1, "%s", all_warnings());
    cr_expect_eq(probe_count(flaky_path), 1);

    gpumem_device_desc desc = {.backend = "flaky"};
    gpumem_device device;
    cr_expect_eq(gpumem_device_open(&desc, &device), GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "%s",
                 gpumem_last_error());
    cr_expect(strstr(gpumem_last_error(), "fixture: no memory for probe 2"), "%s",
              gpumem_last_error());
    cr_expect_eq(probe_count(flaky_path), 2);

    info = find_backend("flaky");
    cr_expect(info.available, "the third probe succeeds: %s", info.reason);
    cr_expect_eq(info.device_count, 1);
    cr_expect_str_eq(info.reason, "");
    cr_assert_eq(gpumem_device_open(&desc, &device), GPUMEM_OK, "%s", gpumem_last_error());
    check_transfers(device, 1000);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    find_backend("flaky");
    cr_expect_eq(probe_count(flaky_path), 3, "an available backend is not probed again");
}

/* No name anywhere: the best backend that answers now is chosen, and the one that failed is
 * asked again next time. */
Test(probe, choosing_the_best_probes_again_after_a_transient_failure, .fini = remove_test_folder)
{
    flaky_folder("1");
    unsetenv("GPUMEM_BACKEND");
    capture_warnings();
    gpumem_device device;
    gpumem_device_properties properties;
    cr_assert_eq(gpumem_device_open(NULL, &device), GPUMEM_OK, "%s", gpumem_last_error());
    cr_assert_eq(gpumem_device_properties_get(device, &properties), GPUMEM_OK);
    cr_expect_str_neq(properties.backend, "flaky");
    cr_expect_eq(warnings_with("flaky", "probed again"), 1, "%s", all_warnings());
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    cr_assert_eq(gpumem_device_open(NULL, &device), GPUMEM_OK, "%s", gpumem_last_error());
    cr_assert_eq(gpumem_device_properties_get(device, &properties), GPUMEM_OK);
    cr_expect_str_eq(properties.backend, "flaky", "the highest priority, once it answers");
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    cr_expect_eq(probe_count(flaky_path), 2);
}

Test(probe, a_definitive_answer_is_kept, .fini = remove_test_folder)
{
    flaky_folder("0");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/libgpumem-nodevice.so", test_folder);
    gpumem_backend_info info = find_backend("nodevice");
    cr_expect_not(info.available);
    cr_expect_str_eq(info.reason, "no device");
    gpumem_device_desc desc = {.backend = "nodevice"};
    gpumem_device device;
    cr_expect_eq(gpumem_device_open(&desc, &device), GPUMEM_ERROR_UNAVAILABLE);
    cr_expect(strstr(gpumem_last_error(), "no device"), "%s", gpumem_last_error());
    uint32_t count = 0, n;
    cr_assert_eq(gpumem_backend_count(&count), GPUMEM_OK);
    for (uint32_t i = 0; i < count; i++) {
        cr_assert_eq(gpumem_backend_info_get(i, &info), GPUMEM_OK);
        cr_expect_neq(gpumem_device_count("nodevice", &n), GPUMEM_OK);
    }
    cr_expect_eq(probe_count(path), 1, "the answer was not kept");
}

/* A probe's own message stays in the backend's reason: it does not leak into a later error. */
Test(probe, a_probe_leaves_no_error_behind, .fini = remove_test_folder)
{
    flaky_folder("1");
    gpumem_backend_info info;
    cr_assert_eq(gpumem_backend_find("flaky", &info), GPUMEM_OK);
    cr_expect_str_eq(gpumem_last_error(), "");
}
