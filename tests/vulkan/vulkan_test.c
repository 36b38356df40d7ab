/* What the Vulkan tests share: validation messages fail the test, opening the backend's
 * device, pools and buffers, byte checks. */
#include "vulkan_test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- validation messages fail the test --- */

static const char validation_prefix[] = "vulkan validation: ";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int expecting_error; /* the one test that provokes a message on purpose */
static int expected_seen;

static void on_gpumem_log(void *user, int32_t level, const char *message)
{
    (void)user;
    pthread_mutex_lock(&log_lock);
    int validation = strncmp(message, validation_prefix, sizeof validation_prefix - 1) == 0;
    if (validation && level >= GPUMEM_LOG_WARNING) {
        if (expecting_error && level == GPUMEM_LOG_ERROR)
            expected_seen++;
        else
            cr_expect_fail("%s", message); /* expect, not assert: this may be another thread */
    } else if (level >= GPUMEM_LOG_WARNING) {
        fprintf(stderr, "gpumem log (%d): %s\n", (int)level, message);
    }
    pthread_mutex_unlock(&log_lock);
}

/* The application's own messenger, in the bring-your-own-device test. */
void on_app_message(int serious, const char *message)
{
    if (serious)
        cr_expect_fail("application's validation: %s", message);
}

void vulkan_test_setup(void)
{
    setenv("GPUMEM_VULKAN_VALIDATION", "1", 0); /* a value from outside (e.g. sync) wins */
    gpumem_log_set_callback(on_gpumem_log, NULL);
}

/* --- helpers --- */

/* Skips only where Vulkan is here without a device (a device open answers UNAVAILABLE): a
 * backend missing from a build that has these tests, a refused module or a failed probe fail. */
void require_vulkan(void)
{
    gpumem_backend_info info;
    cr_assert_eq(gpumem_backend_find("vulkan", &info), GPUMEM_OK,
                 "the vulkan backend is not registered: %s", gpumem_last_error());
    cr_assert_not(info.refused, "the vulkan module was refused: %s", info.reason);
    if (info.available)
        return;
    gpumem_device_desc desc = {.backend = "vulkan"};
    gpumem_device device;
    gpumem_result r = gpumem_device_open(&desc, &device);
    if (r == GPUMEM_OK)
        gpumem_device_close(device);
    if (r == GPUMEM_ERROR_UNAVAILABLE)
        cr_skip_test("the vulkan backend is unavailable: %s", info.reason);
    cr_assert_fail("the vulkan backend is not available (%s), and a device open answers %s: %s",
                   info.reason, gpumem_result_string(r), gpumem_last_error());
}

gpumem_device open_vulkan(void)
{
    require_vulkan();
    gpumem_device_desc desc = {.backend = "vulkan"};
    gpumem_device device;
    OK(gpumem_device_open(&desc, &device));
    return device;
}

void pattern(void *data, size_t size, uint32_t seed)
{
    test_pattern(data, size, seed);
}

void assert_bytes(const void *actual, const void *expected, size_t size, const char *what)
{
    const uint8_t *a = actual, *e = expected;
    for (size_t i = 0; i < size; i++)
        if (a[i] != e[i])
            cr_assert_fail("%s: byte %zu of %zu is 0x%02x, expected 0x%02x", what, i, size, a[i],
                           e[i]);
}

void *alloc_or_die(size_t size)
{
    void *p = malloc(size);
    cr_assert_not_null(p);
    return p;
}

gpumem_pool pool_of_type(gpumem_device device, uint32_t type, uint64_t page_size)
{
    gpumem_pool_desc desc = {.flags = GPUMEM_POOL_MEMORY_TYPE_INDEX,
                             .memory_type_index = type,
                             .page_size = page_size,
                             .name = "test"};
    gpumem_pool pool;
    OK(gpumem_pool_create(device, &desc, &pool));
    return pool;
}

gpumem_pool device_local_pool(gpumem_device device, uint64_t page_size)
{
    gpumem_pool_desc desc = {.preferred_flags = GPUMEM_MEMORY_DEVICE_LOCAL,
                             .page_size = page_size,
                             .name = "device-local"};
    gpumem_pool pool;
    OK(gpumem_pool_create(device, &desc, &pool));
    return pool;
}

void wrap_device(gpumem_device device, app_vk *app)
{
    gpumem_external_device native;
    OK(gpumem_device_native(device, &native));
    cr_assert_eq(app_wrap(app, native.instance, native.physical_device, native.device,
                          native.queue_family, native.queue_index, native.get_instance_proc_addr),
                 0);
}

gpumem_buffer buffer_of(gpumem_pool pool, uint64_t size, uint32_t flags)
{
    gpumem_buffer_desc desc = {.size = size, .flags = flags};
    gpumem_buffer buffer;
    OK(gpumem_buffer_create(pool, &desc, &buffer));
    return buffer;
}

void expect_validation_error(int on)
{
    pthread_mutex_lock(&log_lock);
    expecting_error = on;
    if (on)
        expected_seen = 0;
    pthread_mutex_unlock(&log_lock);
}

int expected_validation_errors(void)
{
    pthread_mutex_lock(&log_lock);
    int seen = expected_seen;
    pthread_mutex_unlock(&log_lock);
    return seen;
}

void require_app_device(app_vk *app)
{
    require_vulkan();
    char why[256] = "";
    if (app_create(app, on_app_message, why, sizeof why) != 0) { /* gpumem's opens: so must it */
        app_destroy(app);
        cr_assert_fail("the test cannot create its own Vulkan device: %s", why);
    }
}

gpumem_result open_on_app(app_vk *app, uint32_t features, gpumem_device *device)
{
    gpumem_external_device external = {
        .instance = (uint64_t)(uintptr_t)app->instance,
        .physical_device = (uint64_t)(uintptr_t)app->physical_device,
        .device = (uint64_t)(uintptr_t)app->device,
        .queue_family = app->queue_family,
        .get_instance_proc_addr = (void *)app->gipa,
        .vulkan_features = features,
    };
    gpumem_device_desc desc = {.backend = "vulkan", .external = &external};
    return gpumem_device_open(&desc, device);
}
