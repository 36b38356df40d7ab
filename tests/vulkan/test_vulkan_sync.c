/* Buffer usage and GPU-side synchronization with the application's own work, on Vulkan: every
 * usage gives a VkBuffer of that usage at an offset it allows (the validation layer checks the
 * application's use of it), device addresses, concurrent sharing, the application's queue work
 * waiting for a gpumem stream's timeline value and a gpumem stream waiting for the
 * application's timeline semaphore, and the checks of an application's own device. Run with
 * GPUMEM_VULKAN_VALIDATION=all in the suite: synchronization validation and best practices
 * included, every message fails the test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bystander.h"
#include "vulkan_test.h"

TestSuite(vulkan_sync, .init = vulkan_test_setup, .timeout = 120);

/* --- usage --- */

Test(vulkan_sync, every_usage_gives_a_vkbuffer_of_that_usage)
{
    gpumem_device device = open_vulkan();
    app_vk app;
    wrap_device(device, &app);
    VkPhysicalDeviceProperties props;
    app.vkGetPhysicalDeviceProperties(app.physical_device, &props);
    gpumem_external_device native_device;
    OK(gpumem_device_native(device, &native_device));
    int addresses = (native_device.vulkan_features &
                     GPUMEM_VULKAN_FEATURE_BUFFER_DEVICE_ADDRESS) != 0;
    gpumem_pool pool = device_local_pool(device, 16 * MIB);
    app_buffer host;
    VK_OK(app_buffer_create(&app, 64 * KIB, &host));
    uint8_t expected[256];
    srand(12);
    /* Every combination of usages, in one pool: buffers of different usage share pages. */
    for (uint32_t usage = 1; usage <= GPUMEM_BUFFER_USAGE_ALL; usage++) {
        if ((usage & GPUMEM_BUFFER_USAGE_DEVICE_ADDRESS) && !addresses)
            continue;
        uint64_t size = 1 + (uint64_t)rand() % (64 * KIB - 1);
        gpumem_buffer_desc desc = {.size = size, .usage = usage};
        gpumem_buffer buffer;
        OK(gpumem_buffer_create(pool, &desc, &buffer));
        gpumem_native_buffer native;
        OK(gpumem_buffer_native(buffer, &native));
        VkBuffer vk = (VkBuffer)(uintptr_t)native.buffer;
        cr_assert(vk != VK_NULL_HANDLE, "usage 0x%x: no VkBuffer", usage);
        VkMemoryRequirements req;
        app.vkGetBufferMemoryRequirements(app.device, vk, &req);
        cr_assert_eq(native.offset % req.alignment, 0, "usage 0x%x: offset %llu, alignment %llu",
                     usage, (unsigned long long)native.offset,
                     (unsigned long long)req.alignment);
        if (usage & GPUMEM_BUFFER_USAGE_UNIFORM)
            cr_assert_eq(native.offset % props.limits.minUniformBufferOffsetAlignment, 0);
        if (usage & GPUMEM_BUFFER_USAGE_STORAGE)
            cr_assert_eq(native.offset % props.limits.minStorageBufferOffsetAlignment, 0);
        if (usage & GPUMEM_BUFFER_USAGE_DEVICE_ADDRESS) {
            VkBufferDeviceAddressInfo info = {
                .sType = VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO, .buffer = vk};
            cr_assert_neq(native.address, 0, "usage 0x%x: no device address", usage);
            cr_assert_eq(native.address, app.vkGetBufferDeviceAddress(app.device, &info));
        } else {
            cr_assert_eq(native.address, 0, "usage 0x%x: an address without DEVICE_ADDRESS",
                         usage);
        }
        /* The application's own copy from the buffer: valid only with transfer usage. */
        if (usage & GPUMEM_BUFFER_USAGE_TRANSFER) {
            uint64_t n = size < sizeof expected ? size : sizeof expected;
            pattern(expected, n, usage);
            OK(gpumem_buffer_write(buffer, 0, expected, n));
            VK_OK(app_copy(&app, vk, host.buffer, n));
            assert_bytes(host.data, expected, n, "the application's copy of the buffer");
        }
        if (rand() % 3) /* some stay, so that later usages are placed beside them */
            OK(gpumem_buffer_destroy(buffer));
    }
    app_buffer_destroy(&app, &host);
    OK(gpumem_device_close(device));
}

/* The usage is real: the layer refuses the application's copy from a buffer made without
 * transfer usage. */
Test(vulkan_sync, a_buffer_without_transfer_usage_cannot_be_copied_by_the_application)
{
    if (!app_has_validation_layer())
        cr_skip_test("the Vulkan validation layer is not installed, so nothing reports the copy");
    gpumem_device device = open_vulkan();
    app_vk app;
    wrap_device(device, &app);
    gpumem_pool pool = device_local_pool(device, 16 * MIB);
    gpumem_buffer_desc desc = {.size = 4 * KIB, .usage = GPUMEM_BUFFER_USAGE_UNIFORM};
    gpumem_buffer buffer;
    OK(gpumem_buffer_create(pool, &desc, &buffer));
    gpumem_native_buffer native;
    OK(gpumem_buffer_native(buffer, &native));
    app_buffer host;
    VK_OK(app_buffer_create(&app, 4 * KIB, &host));
    expect_validation_error(1);
    app_copy(&app, (VkBuffer)(uintptr_t)native.buffer, host.buffer, 4 * KIB);
    expect_validation_error(0);
    int seen = expected_validation_errors();
    app_buffer_destroy(&app, &host);
    OK(gpumem_device_close(device));
    cr_expect_gt(seen, 0, "the validation layer did not report the copy");
}

Test(vulkan_sync, concurrent_buffers_and_usage_alignment_in_host_visible_memory)
{
    gpumem_device device = open_vulkan();
    gpumem_pool_desc pool_desc = {.required_flags = GPUMEM_MEMORY_HOST_VISIBLE, .name = "visible"};
    gpumem_pool pool;
    OK(gpumem_pool_create(device, &pool_desc, &pool));
    for (int i = 0; i < 64; i++) {
        gpumem_buffer_desc desc = {.size = 100 + 37 * (uint64_t)i,
                                   .alignment = i % 3 ? 0 : 512,
                                   .flags = i % 2 ? GPUMEM_BUFFER_CONCURRENT : 0,
                                   .usage = (uint32_t)(i % 4 ? GPUMEM_BUFFER_USAGE_UNIFORM
                                                             : GPUMEM_BUFFER_USAGE_DEFAULT)};
        gpumem_buffer buffer;
        OK(gpumem_buffer_create(pool, &desc, &buffer));
        gpumem_native_buffer native;
        OK(gpumem_buffer_native(buffer, &native));
        cr_assert_neq(native.buffer, 0);
        if (desc.alignment)
            cr_assert_eq(native.offset % desc.alignment, 0);
        uint8_t data[512], back[512];
        pattern(data, sizeof data, (uint32_t)i);
        uint64_t n = desc.size < sizeof data ? desc.size : sizeof data;
        OK(gpumem_buffer_write(buffer, 0, data, n));
        OK(gpumem_buffer_read(buffer, 0, back, n));
        assert_bytes(back, data, n, "a buffer of usage and sharing");
    }
    OK(gpumem_device_close(device));
}

/* --- GPU-side synchronization --- */

/* Slow device work on a gpumem stream into `destination`: copies of the source. */
static void queue_copies(gpumem_stream stream, gpumem_buffer source, gpumem_buffer destination,
                         uint64_t size, int count)
{
    for (int i = 0; i < count; i++)
        OK(gpumem_stream_copy(stream, source, 0, destination, 0, size));
}

/* The application's copy out of a gpumem buffer waits on the device for gpumem's stream: the
 * semaphore and value of gpumem's event. */
Test(vulkan_sync, application_work_waits_for_a_gpumem_stream)
{
    gpumem_device device = open_vulkan();
    app_vk app;
    wrap_device(device, &app);
    gpumem_pool pool = device_local_pool(device, 16 * MIB);
    const uint64_t size = 4 * MIB;
    gpumem_buffer source, destination;
    source = buffer_of(pool, size, 0);
    destination = buffer_of(pool, size, 0);
    uint8_t *data = alloc_or_die(size);
    app_buffer host;
    VK_OK(app_buffer_create(&app, size, &host));
    gpumem_stream stream;
    OK(gpumem_stream_create(device, &stream));
    gpumem_event written;
    OK(gpumem_event_create(device, &written));
    for (uint32_t round = 0; round < 3; round++) {
        pattern(data, size, 40 + round);
        OK(gpumem_buffer_write(source, 0, data, size));
        queue_copies(stream, source, destination, size, 4);
        OK(gpumem_event_record(written, stream));
        gpumem_native_event sync;
        OK(gpumem_event_native(written, &sync));
        cr_assert_neq(sync.handle, 0);
        gpumem_native_buffer native;
        OK(gpumem_buffer_native(destination, &native));
        VK_OK(app_copy_ordered(&app, (VkBuffer)(uintptr_t)native.buffer, host.buffer, size,
                               (VkSemaphore)(uintptr_t)sync.handle, sync.value, VK_NULL_HANDLE,
                               0));
        assert_bytes(host.data, data, size, "the application's copy after gpumem's work");
    }
    OK(gpumem_stream_synchronize(stream));
    app_buffer_destroy(&app, &host);
    free(data);
    OK(gpumem_device_close(device));
}

static void sleep_ms(int ms)
{
    struct timespec t = {0, ms * 1000000L};
    nanosleep(&t, NULL);
}

/* A gpumem stream waits on the device for the application's timeline semaphore: its copy is
 * submitted at once and does not run until the application signals. */
Test(vulkan_sync, a_gpumem_stream_waits_for_the_application_on_the_device)
{
    gpumem_device device = open_vulkan();
    app_vk app;
    wrap_device(device, &app);
    VkSemaphore semaphore;
    VK_OK(app_timeline_create(&app, &semaphore));
    gpumem_pool pool = device_local_pool(device, 16 * MIB);
    const uint64_t size = 1 * MIB;
    gpumem_buffer source = buffer_of(pool, size, 0), destination = buffer_of(pool, size, 0);
    uint8_t *data = alloc_or_die(size), *seen = alloc_or_die(size), *old = alloc_or_die(size);
    gpumem_stream stream;
    OK(gpumem_stream_create(device, &stream));
    gpumem_event done;
    OK(gpumem_event_create(device, &done));
    for (uint64_t value = 1; value <= 3; value++) {
        pattern(old, size, 60 + (uint32_t)value);
        pattern(data, size, 70 + (uint32_t)value);
        OK(gpumem_buffer_write(destination, 0, old, size));
        OK(gpumem_buffer_write(source, 0, data, size));
        gpumem_event application;
        OK(gpumem_event_wrap(device, (uint64_t)(uintptr_t)semaphore, value, &application));
        OK(gpumem_stream_wait_event(stream, application));
        OK(gpumem_stream_copy(stream, source, 0, destination, 0, size));
        OK(gpumem_event_record(done, stream)); /* submitted now, waiting on the device */
        gpumem_native_event mine;
        OK(gpumem_event_native(done, &mine));
        sleep_ms(50);
        uint64_t reached = 0;
        VK_OK(app.vkGetSemaphoreCounterValue(app.device, (VkSemaphore)(uintptr_t)mine.handle,
                                             &reached));
        cr_assert_lt(reached, mine.value, "gpumem's copy ran before the application signalled");
        OK(gpumem_buffer_read(destination, 0, seen, size));
        assert_bytes(seen, old, size, "the destination before the application signalled");
        VkSemaphoreSignalInfo signal = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO,
                                        .semaphore = semaphore,
                                        .value = value};
        VK_OK(app.vkSignalSemaphore(app.device, &signal));
        OK(gpumem_event_synchronize(done));
        OK(gpumem_buffer_read(destination, 0, seen, size));
        assert_bytes(seen, data, size, "the destination after the application signalled");
        OK(gpumem_event_destroy(application));
    }
    OK(gpumem_stream_synchronize(stream));
    app.vkDestroySemaphore(app.device, semaphore, NULL);
    free(data);
    free(seen);
    free(old);
    OK(gpumem_device_close(device));
}

/* The application destroys its semaphore right after the event that wraps it, as
 * gpumem_event_wrap allows, while a stream's wait on it is still held for the stream's next
 * submission: the event's destroy must leave no wait on it behind (the submission named the
 * destroyed semaphore: a crash, or a synchronize that waited for ever). Each way the held wait
 * could be met afterwards: more work and a synchronize, or the device's close alone. */
Test(vulkan_sync, a_wrapped_semaphore_may_go_right_after_its_event)
{
    for (int then_close = 0; then_close < 2; then_close++) {
        gpumem_device device = open_vulkan();
        app_vk app;
        wrap_device(device, &app);
        VkSemaphore semaphore;
        VK_OK(app_timeline_create(&app, &semaphore));
        VkSemaphoreSignalInfo signal = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO,
                                        .semaphore = semaphore,
                                        .value = 1};
        VK_OK(app.vkSignalSemaphore(app.device, &signal));
        gpumem_pool pool = device_local_pool(device, 16 * MIB);
        gpumem_buffer buffer = buffer_of(pool, MIB, 0);
        gpumem_stream stream;
        OK(gpumem_stream_create(device, &stream));
        gpumem_event application;
        OK(gpumem_event_wrap(device, (uint64_t)(uintptr_t)semaphore, 1, &application));
        OK(gpumem_stream_wait_event(stream, application));
        OK(gpumem_event_destroy(application));
        app.vkDestroySemaphore(app.device, semaphore, NULL);
        if (!then_close) {
            OK(gpumem_stream_fill(stream, buffer, 0, MIB, 0x5a5a5a5a));
            OK(gpumem_stream_synchronize(stream));
            uint8_t seen[16];
            OK(gpumem_buffer_read(buffer, 0, seen, sizeof seen));
            cr_expect_eq(seen[15], 0x5a);
        }
        OK(gpumem_device_close(device));
    }
}

/* The application's queue work signals its timeline; gpumem's stream waits for it before
 * reading what that work wrote (the synchronization validation layer checks the dependency). */
Test(vulkan_sync, a_gpumem_stream_waits_for_application_queue_work)
{
    gpumem_device device = open_vulkan();
    app_vk app;
    wrap_device(device, &app);
    VkSemaphore semaphore;
    VK_OK(app_timeline_create(&app, &semaphore));
    gpumem_pool pool = device_local_pool(device, 16 * MIB);
    const uint64_t size = 2 * MIB;
    gpumem_buffer target = buffer_of(pool, size, 0), copy = buffer_of(pool, size, 0);
    gpumem_native_buffer native;
    OK(gpumem_buffer_native(target, &native));
    app_buffer host;
    VK_OK(app_buffer_create(&app, size, &host));
    uint8_t *seen = alloc_or_die(size);
    gpumem_stream stream;
    OK(gpumem_stream_create(device, &stream));
    for (uint64_t value = 1; value <= 3; value++) {
        pattern(host.data, size, 90 + (uint32_t)value);
        VK_OK(app_copy_ordered(&app, host.buffer, (VkBuffer)(uintptr_t)native.buffer, size,
                               VK_NULL_HANDLE, 0, semaphore, value));
        gpumem_event application;
        OK(gpumem_event_wrap(device, (uint64_t)(uintptr_t)semaphore, value, &application));
        OK(gpumem_stream_wait_event(stream, application));
        OK(gpumem_stream_copy(stream, target, 0, copy, 0, size));
        OK(gpumem_stream_synchronize(stream));
        OK(gpumem_buffer_read(copy, 0, seen, size));
        assert_bytes(seen, host.data, size, "gpumem's copy of what the application wrote");
        OK(gpumem_event_destroy(application));
    }
    app_buffer_destroy(&app, &host);
    /* Mesa 22.3's common queue code (lavapipe's emulated timelines) lets go of the time point a
     * submission waited for on its submit thread, after signalling that submission's timeline:
     * a synchronized gpumem stream does not yet mean the point is released, and destroying
     * the semaphore at once was a use-after-free in lavapipe's vk_queue_submit_cleanup (seen
     * about once in 13 runs under load). Later Mesa counts references to the timeline. */
    VK_OK(app.vkQueueWaitIdle(app.queue));
    app.vkDestroySemaphore(app.device, semaphore, NULL);
    free(seen);
    OK(gpumem_device_close(device));
}

/* --- a buffer's VkBuffer and stream-ordered destroys --- */

/* The application copies into a buffer's VkBuffer on the queue, behind a gate it opens later;
 * a gpumem stream waits for that copy (its timeline `done`), and the buffer is destroyed on the
 * stream: work queued on the stream before the destroy may still use the buffer, so its
 * VkBuffer must live until the host has waited for that work. With `bystander`, another
 * thread holds gpumem's epoch record (destroyed buffers are retired; a large one is freed at
 * its destroy). A VkBuffer destroyed under the pending copy crashed lavapipe's queue thread
 * when the copy ran (before the fix; the validation layer of Debian 12, 1.3.239, did not
 * report it). Small buffers, whose freed VkBuffer lavapipe survived, and the ordering itself
 * are checked by the simulated GPU's log (tests/conformance/test_stream_order.c). */
static void vkbuffer_outlives_the_streams_work(uint64_t size, int with_bystander)
{
    const uint64_t page_size = 4 * MIB;
    gpumem_device device = open_vulkan();
    test_bystander other_thread;
    if (with_bystander)
        cr_assert(test_bystander_start(&other_thread, device),
                  "the second thread did not start or its gpumem call failed");
    app_vk app;
    wrap_device(device, &app);
    VkSemaphore gate, done;
    VK_OK(app_timeline_create(&app, &gate));
    VK_OK(app_timeline_create(&app, &done));
    gpumem_pool pool = device_local_pool(device, page_size);
    gpumem_stream stream;
    OK(gpumem_stream_create(device, &stream));
    app_buffer host;
    VK_OK(app_buffer_create(&app, size, &host));
    pattern(host.data, size, 31);

    gpumem_buffer target = buffer_of(pool, size, 0);
    gpumem_native_buffer native;
    OK(gpumem_buffer_native(target, &native));
    app_submission copy;
    VK_OK(app_copy_submit(&app, host.buffer, (VkBuffer)(uintptr_t)native.buffer, size, gate, 1,
                          done, 1, &copy));
    gpumem_event application;
    OK(gpumem_event_wrap(device, (uint64_t)(uintptr_t)done, 1, &application));
    OK(gpumem_stream_wait_event(stream, application));
    OK(gpumem_buffer_destroy_on_stream(target, stream));
    uint64_t reached = 1;
    VK_OK(app.vkGetSemaphoreCounterValue(app.device, done, &reached));
    cr_assert_eq(reached, 0, "the application's copy ran before its gate opened: the test "
                             "tried nothing");

    VkSemaphoreSignalInfo open_gate = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO,
                                       .semaphore = gate,
                                       .value = 1};
    VK_OK(app.vkSignalSemaphore(app.device, &open_gate));
    VK_OK(app_submission_finish(&app, &copy));
    OK(gpumem_stream_synchronize(stream));
    OK(gpumem_pool_trim(pool)); /* the host waits for the free's work: the VkBuffer goes */
    gpumem_pool_stats stats;
    OK(gpumem_pool_stats_get(pool, &stats));
    cr_expect_eq(stats.allocation_count, 0);
    OK(gpumem_event_destroy(application));
    OK(gpumem_stream_destroy(stream));
    app_buffer_destroy(&app, &host);
    VK_OK(app.vkQueueWaitIdle(app.queue)); /* see a_gpumem_stream_waits_for_application_... */
    app.vkDestroySemaphore(app.device, gate, NULL);
    app.vkDestroySemaphore(app.device, done, NULL);
    if (with_bystander)
        test_bystander_stop(&other_thread);
    OK(gpumem_device_close(device));
}

/* Large enough that its destroy frees it at once (a page's eighth, GPUMEM_POOL_RETIRE_...). */
Test(vulkan_sync, a_large_buffers_vkbuffer_outlives_the_streams_work)
{
    vkbuffer_outlives_the_streams_work(1 * MIB, 0);
}

Test(vulkan_sync, a_dedicated_buffers_vkbuffer_outlives_the_streams_work)
{
    vkbuffer_outlives_the_streams_work(6 * MIB, 0);
}

Test(vulkan_sync, a_large_buffers_vkbuffer_outlives_the_streams_work_with_another_thread)
{
    vkbuffer_outlives_the_streams_work(1 * MIB, 1);
}

Test(vulkan_sync, wrapping_refuses_what_is_not_an_event)
{
    gpumem_device device = open_vulkan();
    gpumem_event event;
    EXPECT_RESULT(gpumem_event_wrap(device, 0, 1, &event), GPUMEM_ERROR_INVALID_ARGUMENT);
    EXPECT_RESULT(gpumem_event_wrap(device, 0x1234, 1, NULL), GPUMEM_ERROR_INVALID_ARGUMENT);
    OK(gpumem_device_close(device));
}

/* --- the application's own device --- */

Test(vulkan_sync, an_application_device_must_say_it_has_timeline_semaphores)
{
    app_vk app;
    require_app_device(&app);
    gpumem_device device;
    EXPECT_RESULT(open_on_app(&app, 0, &device), GPUMEM_ERROR_UNSUPPORTED);
    cr_expect(strstr(gpumem_last_error(), "timelineSemaphore") != NULL, "%s",
              gpumem_last_error());
    EXPECT_RESULT(open_on_app(&app, 1u << 7, &device), GPUMEM_ERROR_INVALID_ARGUMENT);
    app_destroy(&app);
}

Test(vulkan_sync, device_addresses_on_an_application_device_need_its_word)
{
    app_vk app;
    require_app_device(&app);
    gpumem_device device;
    OK(open_on_app(&app, GPUMEM_VULKAN_FEATURE_TIMELINE_SEMAPHORE, &device));
    gpumem_pool pool = device_local_pool(device, 16 * MIB);
    gpumem_buffer_desc desc = {.size = 4 * KIB, .usage = GPUMEM_BUFFER_USAGE_DEVICE_ADDRESS};
    gpumem_buffer buffer;
    EXPECT_RESULT(gpumem_buffer_create(pool, &desc, &buffer), GPUMEM_ERROR_UNSUPPORTED);
    cr_expect(strstr(gpumem_last_error(), "bufferDeviceAddress") != NULL, "%s",
              gpumem_last_error());
    OK(gpumem_device_close(device));
    /* The test's device has the feature enabled (app.c): said so, addresses work. */
    OK(open_on_app(&app,
               GPUMEM_VULKAN_FEATURE_TIMELINE_SEMAPHORE | GPUMEM_VULKAN_FEATURE_BUFFER_DEVICE_ADDRESS,
               &device));
    pool = device_local_pool(device, 16 * MIB);
    OK(gpumem_buffer_create(pool, &desc, &buffer));
    gpumem_native_buffer native;
    OK(gpumem_buffer_native(buffer, &native));
    cr_expect_neq(native.address, 0);
    OK(gpumem_device_close(device));
    app_destroy(&app);
}
