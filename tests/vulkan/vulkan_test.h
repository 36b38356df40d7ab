/* What the Vulkan tests share (vulkan_test.c). Every test runs with the Khronos validation
 * layer (GPUMEM_VULKAN_VALIDATION) and fails on any message it reports. */
#ifndef GPUMEM_TESTS_VULKAN_TEST_H
#define GPUMEM_TESTS_VULKAN_TEST_H

#include <stddef.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include "app.h"
#include "check.h"
#include "gpumem/gpumem.h"
#include "pattern.h"

#define KIB (1ull << 10)
#define MIB (1ull << 20)

#define VK_OK(call)                                                              \
    do {                                                                         \
        VkResult vk_r_ = (call);                                                 \
        cr_assert_eq(vk_r_, VK_SUCCESS, "%s -> VkResult %d", #call, (int)vk_r_); \
    } while (0)

/* Suites' init: the validation level (GPUMEM_VULKAN_VALIDATION=1 unless set from outside) and
 * the log callback that fails a test on a validation message. */
void vulkan_test_setup(void);
/* The application's messenger, for app_create: warnings and errors fail the test. */
void on_app_message(int serious, const char *message);
/* While on, validation errors are counted (expected_validation_errors) instead of failing. */
void expect_validation_error(int on);
int expected_validation_errors(void);

/* Skips the test, with the reason, when the Vulkan backend has no device here. */
void require_vulkan(void);
gpumem_device open_vulkan(void);
/* The test's own Vulkan device (app_create with on_app_message); skips the test, with the
 * reason, when it cannot be made. */
void require_app_device(app_vk *app);
/* gpumem on the application's device, with its queue 0 and `features` (GPUMEM_VULKAN_FEATURE_*). */
gpumem_result open_on_app(app_vk *app, uint32_t features, gpumem_device *device);
void pattern(void *data, size_t size, uint32_t seed);
void assert_bytes(const void *actual, const void *expected, size_t size, const char *what);
void *alloc_or_die(size_t size);
gpumem_pool pool_of_type(gpumem_device device, uint32_t type, uint64_t page_size);
/* A pool that prefers device-local memory. */
gpumem_pool device_local_pool(gpumem_device device, uint64_t page_size);
/* The application's view of gpumem's own device (app_wrap): app_destroy on it destroys
 * nothing of gpumem's. */
void wrap_device(gpumem_device device, app_vk *app);
gpumem_buffer buffer_of(gpumem_pool pool, uint64_t size, uint32_t flags);

#endif
