/* The Vulkan backend's probe on a real driver (lavapipe here), under a test layer
 * (layer_failing.c) that makes vkCreateInstance fail while FAILING_LAYER_CREATE_INSTANCE is
 * set: out of memory is reported with its VkResult and result, and probed again; a missing
 * driver is a definitive "unavailable". meson enables the layer for this executable only. */
#include "registry_helpers.h"

/* The Vulkan backend as the registry sees it now; skips when this build or machine has none. */
static gpumem_backend_info vulkan_info(void)
{
    gpumem_backend_info info;
    if (gpumem_backend_find("vulkan", &info) != GPUMEM_OK)
        cr_skip_test("this build has no Vulkan backend");
    if (strstr(info.reason, "libvulkan.so.1"))
        cr_skip_test("no Vulkan loader here: %s", info.reason);
    return info;
}

Test(probe_vulkan, out_of_memory_is_reported_and_probed_again)
{
    capture_warnings();
    setenv("FAILING_LAYER_CREATE_INSTANCE", "out_of_host_memory", 1);
    gpumem_backend_info info = vulkan_info();
    cr_assert_not(info.available, "the test layer is not active (VK_LAYER_PATH=%s)",
                  getenv("VK_LAYER_PATH"));
    cr_expect(strstr(info.reason, "vkCreateInstance: VK_ERROR_OUT_OF_HOST_MEMORY"), "%s",
              info.reason);
    cr_expect(strstr(info.reason, "no Vulkan physical device") == NULL, "%s", info.reason);
    cr_expect_eq(warnings_with("vulkan", "VK_ERROR_OUT_OF_HOST_MEMORY"), 1, "%s",
                 all_warnings());

    gpumem_device_desc desc = {.backend = "vulkan"};
    gpumem_device device;
    cr_expect_eq(gpumem_device_open(&desc, &device), GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "%s",
                 gpumem_last_error());
    cr_expect(strstr(gpumem_last_error(), "vkCreateInstance: VK_ERROR_OUT_OF_HOST_MEMORY"), "%s",
              gpumem_last_error());

    unsetenv("FAILING_LAYER_CREATE_INSTANCE");
    info = vulkan_info();
    if (!info.available && strstr(info.reason, "no Vulkan physical device"))
        cr_skip_test("no Vulkan driver here: %s", info.reason);
    cr_expect(info.available, "the memory is back, the probe is not repeated: %s", info.reason);
    cr_assert_gt(info.device_count, 0);
    cr_assert_eq(gpumem_device_open(&desc, &device), GPUMEM_OK, "%s", gpumem_last_error());
    check_transfers(device, 100);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

Test(probe_vulkan, no_driver_is_definitive)
{
    setenv("FAILING_LAYER_CREATE_INSTANCE", "incompatible_driver", 1);
    gpumem_backend_info info = vulkan_info();
    cr_assert_not(info.available, "the test layer is not active");
    cr_expect(strstr(info.reason, "no Vulkan physical device"), "%s", info.reason);
    cr_expect(strstr(info.reason, "VK_ERROR_INCOMPATIBLE_DRIVER"), "%s", info.reason);
    gpumem_device_desc desc = {.backend = "vulkan"};
    gpumem_device device;
    cr_expect_eq(gpumem_device_open(&desc, &device), GPUMEM_ERROR_UNAVAILABLE, "%s",
                 gpumem_last_error());
    unsetenv("FAILING_LAYER_CREATE_INSTANCE");
    info = vulkan_info();
    cr_expect_not(info.available, "a missing driver is not probed again");
}
