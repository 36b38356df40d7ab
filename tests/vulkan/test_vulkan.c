/* What only the Vulkan backend has: bringing your own VkDevice, every memory type, mappings
 * against real device transfers, VkBuffers in the application's own commands, the
 * application's own VkDeviceMemory imported, out-of-memory,
 * stream ordering, and validation. Every test runs with the Khronos validation layer
 * (GPUMEM_VULKAN_VALIDATION=1) and fails on any message it reports; each skips with the reason
 * when the backend has no device here. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>


#include "vulkan_test.h"

TestSuite(vulkan, .init = vulkan_test_setup, .timeout = 120);

/* --- bring your own device --- */

/* gpumem on the application's objects; afterwards the application's device still works. */
Test(vulkan, bring_your_own_device)
{
    app_vk app;
    require_app_device(&app);
    gpumem_device device;
    OK(open_on_app(&app, GPUMEM_VULKAN_FEATURE_TIMELINE_SEMAPHORE, &device));

    gpumem_device_properties props;
    OK(gpumem_device_properties_get(device, &props));
    cr_expect_eq(props.is_external, 1);
    gpumem_external_device native;
    OK(gpumem_device_native(device, &native));
    cr_expect_eq(native.device, (uint64_t)(uintptr_t)app.device);
    cr_expect_eq(native.instance, (uint64_t)(uintptr_t)app.instance);
    cr_expect_eq(native.queue_family, app.queue_family);
    uint64_t queue = 0;
    gpumem_stream stream;
    OK(gpumem_device_default_stream(device, &stream));
    OK(gpumem_stream_native(stream, &queue));
    cr_expect_eq(queue, (uint64_t)(uintptr_t)app.queue, "streams submit to the given queue");

    gpumem_pool_desc pool_desc = {.page_size = MIB};
    gpumem_pool pool;
    OK(gpumem_pool_create(device, &pool_desc, &pool));
    gpumem_buffer a = buffer_of(pool, 64 * KIB, 0), b = buffer_of(pool, 64 * KIB, 0);
    uint8_t *in = alloc_or_die(64 * KIB), *out = alloc_or_die(64 * KIB);
    pattern(in, 64 * KIB, 1);
    OK(gpumem_buffer_write(a, 0, in, 64 * KIB));
    OK(gpumem_buffer_copy(a, 0, b, 0, 64 * KIB));
    OK(gpumem_buffer_read(b, 0, out, 64 * KIB));
    assert_bytes(out, in, 64 * KIB, "through gpumem on the application's device");
    OK(gpumem_device_close(device)); /* leaves the pool's objects destroyed, not the app's */

    /* The application's device, after gpumem: a copy of its own, read back. */
    app_buffer src, dst;
    VK_OK(app_buffer_create(&app, 4096, &src));
    VK_OK(app_buffer_create(&app, 4096, &dst));
    pattern(src.data, 4096, 2);
    memset(dst.data, 0, 4096);
    VK_OK(app_copy(&app, src.buffer, dst.buffer, 4096));
    assert_bytes(dst.data, src.data, 4096, "the application's own copy after gpumem closed");
    app_buffer_destroy(&app, &src);
    app_buffer_destroy(&app, &dst);
    app_destroy(&app); /* validation reports any object gpumem left on the device */
    free(in);
    free(out);
}

/* --- memory types --- */

/* Every type: a device copy, and where the host sees the memory, mapping against copies. */
static void check_type(gpumem_device device, const gpumem_device_properties *props, uint32_t type)
{
    const uint64_t n = 256 * KIB;
    gpumem_pool pool = pool_of_type(device, type, MIB);
    gpumem_buffer a = buffer_of(pool, n, 0), b = buffer_of(pool, n, 0);
    gpumem_buffer_info info;
    OK(gpumem_buffer_info_get(a, &info));
    cr_expect_eq(info.memory_type, type);
    cr_expect_eq(info.offset % props->min_alignment, 0);
    uint8_t *in = alloc_or_die(n), *out = alloc_or_die(n);
    pattern(in, n, 10 + type);
    OK(gpumem_buffer_write(a, 0, in, n));
    OK(gpumem_buffer_copy(a, 0, b, 0, n));
    OK(gpumem_buffer_read(b, 0, out, n));
    assert_bytes(out, in, n, "write, device copy, read");

    uint32_t flags = props->memory_types[type].flags;
    if (flags & GPUMEM_MEMORY_HOST_VISIBLE) {
        void *mapped;
        pattern(in, n, 20 + type);
        OK(gpumem_buffer_map(a, &mapped));
        memcpy(mapped, in, n);
        OK(gpumem_buffer_flush(a, 0, n));
        OK(gpumem_buffer_unmap(a));
        OK(gpumem_buffer_copy(a, 0, b, 0, n)); /* vkCmdCopyBuffer reads what the host wrote */
        OK(gpumem_buffer_fill(a, 0, n, 0));
        OK(gpumem_buffer_copy(b, 0, a, 0, n));
        OK(gpumem_buffer_map(a, &mapped));
        OK(gpumem_buffer_invalidate(a, 0, n)); /* the host reads what the device wrote */
        assert_bytes(mapped, in, n, "mapped write, device copies, mapped read");
        OK(gpumem_buffer_unmap(a));
    }
    OK(gpumem_pool_destroy(pool));
    free(in);
    free(out);
}

Test(vulkan, every_memory_type)
{
    gpumem_device device = open_vulkan();
    gpumem_device_properties props;
    OK(gpumem_device_properties_get(device, &props));
    cr_assert_gt(props.memory_type_count, 0);
    for (uint32_t t = 0; t < props.memory_type_count; t++) {
        uint32_t heap = props.memory_types[t].heap_index;
        cr_assert_lt(heap, props.memory_heap_count);
        cr_expect_gt(props.memory_heaps[heap].budget, 0, "heap %u has a budget", heap);
        check_type(device, &props, t);
    }
    OK(gpumem_device_close(device));
}

/* Core stages every write and read through host-visible pages with copy_page_to_page and
 * events: data written through a mapping is read back through device transfers, and the
 * other way round. */
Test(vulkan, mapping_against_staged_transfers)
{
    setenv("GPUMEM_STAGING", "always", 1);
    /* Many chunks in flight, reused by events; chunks of 1 MiB, as small as the best-practices
     * layer lets memory objects be without a warning. */
    setenv("GPUMEM_STAGING_CHUNK", "1048576", 1);
    gpumem_device device = open_vulkan();
    gpumem_pool_desc desc = {.required_flags = GPUMEM_MEMORY_HOST_VISIBLE, .page_size = 16 * MIB};
    gpumem_pool pool;
    OK(gpumem_pool_create(device, &desc, &pool));
    const uint64_t n = 6 * MIB + 4 * KIB + 12;
    gpumem_buffer buffer = buffer_of(pool, n, 0);
    uint8_t *in = alloc_or_die(n), *out = alloc_or_die(n);
    void *mapped;

    pattern(in, n, 3);
    OK(gpumem_buffer_map(buffer, &mapped));
    memcpy(mapped, in, n);
    OK(gpumem_buffer_flush(buffer, 0, n));
    OK(gpumem_buffer_read(buffer, 0, out, n));
    assert_bytes(out, in, n, "mapped write, staged read");

    pattern(in, n, 4);
    OK(gpumem_buffer_write(buffer, 0, in, n));
    OK(gpumem_buffer_invalidate(buffer, 0, n));
    assert_bytes(mapped, in, n, "staged write, mapped read");
    OK(gpumem_buffer_unmap(buffer));
    OK(gpumem_device_close(device));
    free(in);
    free(out);
}

/* --- native objects in the application's own commands --- */

Test(vulkan, native_buffer_in_application_copy)
{
    gpumem_device device = open_vulkan();
    gpumem_pool_desc desc = {.page_size = MIB};
    gpumem_pool pool;
    OK(gpumem_pool_create(device, &desc, &pool));
    const uint64_t n = 100 * KIB + 4;
    gpumem_buffer a = buffer_of(pool, n, 0), b = buffer_of(pool, n, 0);
    gpumem_native_buffer na, nb;
    OK(gpumem_buffer_native(a, &na));
    OK(gpumem_buffer_native(b, &nb));
    cr_assert_neq(na.buffer, 0);
    cr_assert_neq(na.memory, 0);
    cr_expect_eq(na.memory, nb.memory, "both buffers are in one page");
    cr_expect_neq(na.offset, nb.offset);

    uint8_t *in = alloc_or_die(n), *out = alloc_or_die(n);
    pattern(in, n, 5);
    OK(gpumem_buffer_write(a, 0, in, n));
    app_vk app;
    wrap_device(device, &app);
    VK_OK(app_copy(&app, (VkBuffer)(uintptr_t)na.buffer, (VkBuffer)(uintptr_t)nb.buffer, n));
    OK(gpumem_buffer_read(b, 0, out, n));
    assert_bytes(out, in, n, "the application's vkCmdCopyBuffer between gpumem buffers");
    OK(gpumem_device_close(device));
    free(in);
    free(out);
}

/* --- the application's memory imported --- */

/* The Vulkan type an application allocates for gpumem's memory type `type`: the first with its
 * four flags and heap that a buffer can live in (gpumem's types are such Vulkan types, and on
 * most drivers numbered alike). */
static uint32_t vulkan_type_of(app_vk *app, const gpumem_device_properties *props, uint32_t type,
                               uint32_t buffer_bits)
{
    VkPhysicalDeviceMemoryProperties m;
    app->vkGetPhysicalDeviceMemoryProperties(app->physical_device, &m);
    const VkMemoryPropertyFlags four =
        VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
        VK_MEMORY_PROPERTY_HOST_COHERENT_BIT | VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
    for (uint32_t i = 0; i < m.memoryTypeCount; i++)
        if ((buffer_bits & (1u << i)) && (m.memoryTypes[i].propertyFlags & four) ==
                                             props->memory_types[type].flags &&
            m.memoryTypes[i].heapIndex == props->memory_types[type].heap_index)
            return i;
    return UINT32_MAX;
}

#define IMPORT_SIZE MIB /* no smaller: the best-practices layer warns of small memory objects */

/* The application's memory object around an imported range: `before` and `after` bytes of its
 * own on either side, which gpumem must leave alone. */
typedef struct app_memory {
    VkDeviceMemory memory;
    uint64_t before, after;
    int host_coherent;
} app_memory;

static uint8_t *app_map(app_vk *app, app_memory *m)
{
    void *data = NULL;
    VK_OK(app->vkMapMemory(app->device, m->memory, 0, VK_WHOLE_SIZE, 0, &data));
    return data;
}

/* Transfers, a native buffer in the application's own copies, a mapping; then the bytes around
 * the range are checked through the application's own mapping. */
static void round_trip(app_vk *app, gpumem_pool pool, app_memory *m, uint32_t seed)
{
    gpumem_import_desc desc = {.memory = (uint64_t)(uintptr_t)m->memory,
                               .offset = m->before,
                               .size = IMPORT_SIZE};
    gpumem_buffer imported;
    OK(gpumem_buffer_import(pool, &desc, &imported));
    gpumem_buffer_info info;
    OK(gpumem_buffer_info_get(imported, &info));
    uint8_t *model = alloc_or_die(IMPORT_SIZE), *out = alloc_or_die(IMPORT_SIZE);
    pattern(model, IMPORT_SIZE, seed);
    OK(gpumem_buffer_write(imported, 0, model, IMPORT_SIZE));
    uint32_t word = 0x0BADCAFEu;
    OK(gpumem_buffer_fill(imported, 16, 1024, word));
    for (uint64_t i = 16; i < 16 + 1024; i += 4)
        memcpy(model + i, &word, 4);
    OK(gpumem_buffer_read(imported, 0, out, IMPORT_SIZE));
    assert_bytes(out, model, IMPORT_SIZE, "write, fill, read of the import");

    /* The native VkBuffer is bound at the range's offset in the application's memory. */
    gpumem_native_buffer native;
    OK(gpumem_buffer_native(imported, &native));
    cr_assert_eq(native.memory, desc.memory);
    cr_assert_eq(native.offset, m->before);
    app_buffer host;
    VK_OK(app_buffer_create(app, IMPORT_SIZE, &host));
    VK_OK(app_copy(app, (VkBuffer)(uintptr_t)native.buffer, host.buffer, IMPORT_SIZE));
    assert_bytes(host.data, model, IMPORT_SIZE, "the application's copy out of the import");
    pattern(host.data, IMPORT_SIZE, seed + 1);
    memcpy(model, host.data, IMPORT_SIZE);
    VK_OK(app_copy(app, host.buffer, (VkBuffer)(uintptr_t)native.buffer, IMPORT_SIZE));
    app_buffer_destroy(app, &host);
    OK(gpumem_buffer_read(imported, 0, out, IMPORT_SIZE));
    assert_bytes(out, model, IMPORT_SIZE, "the application's copy into the import");

    if (m->host_coherent) {
        void *mapped;
        OK(gpumem_buffer_map(imported, &mapped));
        assert_bytes(mapped, model, IMPORT_SIZE, "the import's mapping");
        OK(gpumem_buffer_unmap(imported));
    }
    OK(gpumem_buffer_destroy(imported));

    /* Still the application's, with its own bytes around the range untouched: gpumem neither
     * freed the memory nor left it mapped (a second map would be a validation error). */
    if (m->host_coherent) {
        uint8_t *all = app_map(app, m);
        assert_bytes(all + m->before, model, IMPORT_SIZE, "the range, through the application");
        for (uint64_t i = 0; i < m->before; i++)
            cr_assert_eq(all[i], 0xEE, "byte %llu before the range", (unsigned long long)i);
        for (uint64_t i = 0; i < m->after; i++)
            cr_assert_eq(all[m->before + IMPORT_SIZE + i], 0xEE, "byte %llu after the range",
                         (unsigned long long)i);
        app->vkUnmapMemory(app->device, m->memory);
    }
    free(model);
    free(out);
}

/* Memory the application allocated on its device, a range of it at an offset imported into a
 * pool of each memory type; gpumem's destroy, pool destroy and device close leave it to the
 * application, which frees it at the end (its own validation would report a second free, or a
 * free of memory gpumem still had mapped). */
Test(vulkan, application_memory_is_imported)
{
    app_vk app;
    require_app_device(&app);
    gpumem_device device;
    OK(open_on_app(&app, GPUMEM_VULKAN_FEATURE_TIMELINE_SEMAPHORE, &device));
    gpumem_device_properties props;
    OK(gpumem_device_properties_get(device, &props));

    /* Which Vulkan types a storage and transfer buffer can live in. */
    VkBufferCreateInfo info = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                               .size = IMPORT_SIZE,
                               .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                        VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                        VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                               .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkBuffer probe;
    VK_OK(app.vkCreateBuffer(app.device, &info, NULL, &probe));
    VkMemoryRequirements req;
    app.vkGetBufferMemoryRequirements(app.device, probe, &req);
    app.vkDestroyBuffer(app.device, probe, NULL);

    app_memory memories[GPUMEM_MAX_MEMORY_TYPES];
    uint32_t count = props.memory_type_count;
    for (uint32_t t = 0; t < count; t++) {
        app_memory *m = &memories[t];
        uint32_t vk_type = vulkan_type_of(&app, &props, t, req.memoryTypeBits);
        cr_assert_neq(vk_type, UINT32_MAX, "no Vulkan type for gpumem's type %u", t);
        /* A range not at the memory's start, nor reaching its end (room for the requirements'
         * size, which may round the buffer up). */
        m->before = 3 * props.min_alignment;
        m->after = req.size - IMPORT_SIZE + 4096;
        m->host_coherent = (props.memory_types[t].flags &
                            (GPUMEM_MEMORY_HOST_VISIBLE | GPUMEM_MEMORY_HOST_COHERENT)) ==
                           (GPUMEM_MEMORY_HOST_VISIBLE | GPUMEM_MEMORY_HOST_COHERENT);
        VkMemoryAllocateInfo alloc = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                      .allocationSize = m->before + IMPORT_SIZE + m->after,
                                      .memoryTypeIndex = vk_type};
        VK_OK(app.vkAllocateMemory(app.device, &alloc, NULL, &m->memory));
        if (m->host_coherent) {
            memset(app_map(&app, m), 0xEE, (size_t)alloc.allocationSize);
            app.vkUnmapMemory(app.device, m->memory);
        }
        gpumem_pool pool = pool_of_type(device, t, MIB);
        round_trip(&app, pool, m, 100 + t);
        round_trip(&app, pool, m, 200 + t); /* the range is free for a new import */
        /* Ended by the pool's destroy, then by the device's close. */
        gpumem_import_desc range = {.memory = (uint64_t)(uintptr_t)m->memory,
                                    .offset = m->before,
                                    .size = IMPORT_SIZE};
        gpumem_buffer b;
        OK(gpumem_buffer_import(pool, &range, &b));
        OK(gpumem_buffer_fill(b, 0, IMPORT_SIZE, 0x77777777u));
        OK(gpumem_pool_destroy(pool));
        pool = pool_of_type(device, t, MIB);
        OK(gpumem_buffer_import(pool, &range, &b));
        OK(gpumem_buffer_fill(b, 0, IMPORT_SIZE, 0x55555555u));
    }
    OK(gpumem_device_close(device));
    for (uint32_t t = 0; t < count; t++) {
        app_memory *m = &memories[t];
        if (m->host_coherent) {
            uint8_t *all = app_map(&app, m);
            for (uint64_t i = 0; i < IMPORT_SIZE; i++)
                cr_assert_eq(all[m->before + i], 0x55, "type %u: byte %llu after the close", t,
                             (unsigned long long)i);
            app.vkUnmapMemory(app.device, m->memory);
        }
        app.vkFreeMemory(app.device, m->memory, NULL);
    }
    app_destroy(&app); /* validation reports any object gpumem left on the device */
}

/* Two buffers imported from one VkDeviceMemory (an application's allocation holding several
 * buffers) and mapped at once: Vulkan maps a memory object once at a time, so gpumem maps it
 * once for both, and one buffer's unmap leaves the other's mapping working. The application's
 * validation layer reports a second map or an unmap of an unmapped object (before 2026-12-05
 * each import mapped the object again). */
Test(vulkan, two_imports_of_one_memory_object_are_mapped_at_once)
{
    app_vk app;
    require_app_device(&app);
    gpumem_device device;
    OK(open_on_app(&app, GPUMEM_VULKAN_FEATURE_TIMELINE_SEMAPHORE, &device));
    gpumem_device_properties props;
    OK(gpumem_device_properties_get(device, &props));
    uint32_t t = UINT32_MAX;
    for (uint32_t i = 0; i < props.memory_type_count && t == UINT32_MAX; i++)
        if (props.memory_types[i].flags & GPUMEM_MEMORY_HOST_VISIBLE)
            t = i;
    if (t == UINT32_MAX)
        cr_skip_test("no host-visible memory type");
    uint32_t vk_type = vulkan_type_of(&app, &props, t, UINT32_MAX);
    cr_assert_neq(vk_type, UINT32_MAX);
    const uint64_t range = 256 * 1024; /* an allocation of 2 MiB: best practices warn below 1 */
    VkDeviceMemory memory;
    VkMemoryAllocateInfo alloc = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                  .allocationSize = 8 * range,
                                  .memoryTypeIndex = vk_type};
    VK_OK(app.vkAllocateMemory(app.device, &alloc, NULL, &memory));
    gpumem_pool pool = pool_of_type(device, t, MIB);
    gpumem_buffer b[2];
    uint8_t *mapped[2];
    for (int i = 0; i < 2; i++) {
        gpumem_import_desc desc = {.memory = (uint64_t)(uintptr_t)memory,
                                   .offset = (uint64_t)(1 + 4 * i) * range,
                                   .size = range};
        OK(gpumem_buffer_import(pool, &desc, &b[i]));
        OK(gpumem_buffer_map(b[i], (void **)&mapped[i]));
    }
    cr_assert_eq(mapped[1] - mapped[0], (ptrdiff_t)(4 * range), "one mapping of the object");
    memset(mapped[0], 0x11, range);
    memset(mapped[1], 0x22, range);
    OK(gpumem_buffer_flush(b[0], 0, range));
    OK(gpumem_buffer_flush(b[1], 0, range));
    OK(gpumem_buffer_unmap(b[0]));
    mapped[1][0] = 0x23; /* still mapped */
    OK(gpumem_buffer_flush(b[1], 0, range));
    uint8_t back[2];
    OK(gpumem_buffer_read(b[0], 0, &back[0], 1));
    OK(gpumem_buffer_read(b[1], 0, &back[1], 1));
    cr_assert_eq(back[0], 0x11);
    cr_assert_eq(back[1], 0x23);
    OK(gpumem_buffer_unmap(b[1]));
    OK(gpumem_pool_destroy(pool));
    OK(gpumem_device_close(device));
    app.vkFreeMemory(app.device, memory, NULL);
    app_destroy(&app);
}

/* --- out of device memory --- */

/* Dedicated buffers as large as one allocation may be, until the heap is full: the failure is
 * GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY naming vkAllocateMemory, and the pool works on. Nothing is
 * touched, so no real memory is used (lavapipe allocates lazily). */
Test(vulkan, out_of_device_memory)
{
    gpumem_device device = open_vulkan();
    gpumem_device_properties props;
    OK(gpumem_device_properties_get(device, &props));
    const uint32_t type = 0;
    uint64_t heap = props.memory_heaps[props.memory_types[type].heap_index].size;
    uint64_t big = props.max_allocation_size < heap ? props.max_allocation_size : heap;
    big &= ~(props.min_alignment - 1);
    gpumem_pool pool = pool_of_type(device, type, MIB);

    gpumem_buffer held[64];
    uint32_t count = 0, limit = (uint32_t)(heap / big) + 2;
    cr_assert_lt(limit, 64, "heap %llu in pieces of %llu", (unsigned long long)heap,
                 (unsigned long long)big);
    gpumem_result r = GPUMEM_OK;
    while (count < limit) {
        gpumem_buffer_desc desc = {.size = big, .flags = GPUMEM_BUFFER_DEDICATED};
        if ((r = gpumem_buffer_create(pool, &desc, &held[count])) != GPUMEM_OK)
            break;
        count++;
    }
    cr_assert_eq(r, GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY, "after %u buffers of %llu bytes: %s (%s)",
                 count, (unsigned long long)big, gpumem_result_string(r), gpumem_last_error());
    cr_expect(strstr(gpumem_last_error(), "vkAllocateMemory") != NULL, "%s", gpumem_last_error());
    cr_expect(strstr(gpumem_last_error(), "VK_ERROR_OUT_OF_DEVICE_MEMORY") != NULL, "%s",
              gpumem_last_error());

    for (uint32_t i = 0; i < count; i++)
        OK(gpumem_buffer_destroy(held[i]));
    gpumem_buffer again = buffer_of(pool, big, GPUMEM_BUFFER_DEDICATED); /* the heap is free */
    OK(gpumem_buffer_destroy(again));
    gpumem_buffer small = buffer_of(pool, 4 * KIB, 0);
    uint8_t in[4096], out[4096];
    pattern(in, sizeof in, 6);
    OK(gpumem_buffer_write(small, 0, in, sizeof in));
    OK(gpumem_buffer_read(small, 0, out, sizeof out));
    assert_bytes(out, in, sizeof in, "the pool after running out");
    OK(gpumem_device_close(device));
}

/* --- streams --- */

/* A chain of dependent copies and fills in one batch: each reads what the previous wrote. */
Test(vulkan, stream_orders_dependent_transfers)
{
    gpumem_device device = open_vulkan();
    gpumem_pool_desc desc = {.page_size = MIB};
    gpumem_pool pool;
    OK(gpumem_pool_create(device, &desc, &pool));
    enum { LINKS = 200, N = 4096 };
    gpumem_buffer a = buffer_of(pool, N, 0), b = buffer_of(pool, N, 0);
    gpumem_stream stream;
    OK(gpumem_stream_create(device, &stream));
    uint8_t in[N], out[N];
    pattern(in, N, 7);
    OK(gpumem_stream_write(stream, a, 0, in, N));
    for (int i = 0; i < LINKS; i++) {
        OK(gpumem_stream_fill(stream, b, 0, N, 0xffffffffu)); /* overwritten at once ... */
        OK(gpumem_stream_copy(stream, a, 0, b, 0, N));        /* ... by this copy */
        OK(gpumem_stream_fill(stream, a, 0, N, 0));           /* write after read */
        OK(gpumem_stream_copy(stream, b, 0, a, 0, N));        /* and back again */
    }
    OK(gpumem_stream_read(stream, a, 0, out, N));
    OK(gpumem_stream_synchronize(stream));
    assert_bytes(out, in, N, "after a chain of dependent transfers");
    OK(gpumem_stream_destroy(stream));
    OK(gpumem_device_close(device));
}

typedef struct worker {
    gpumem_device device;
    gpumem_pool pool;
    uint32_t seed;
    int ok;
} worker;

static void *stream_worker(void *arg)
{
    worker *w = arg;
    enum { N = 16384 };
    gpumem_stream stream;
    gpumem_buffer_desc desc = {.size = N};
    gpumem_buffer a, b;
    uint8_t in[N], out[N];
    pattern(in, N, w->seed);
    w->ok = gpumem_stream_create(w->device, &stream) == GPUMEM_OK &&
            gpumem_buffer_create(w->pool, &desc, &a) == GPUMEM_OK &&
            gpumem_buffer_create(w->pool, &desc, &b) == GPUMEM_OK;
    for (int i = 0; w->ok && i < 100; i++) {
        in[0] = (uint8_t)i;
        w->ok = gpumem_stream_write(stream, a, 0, in, N) == GPUMEM_OK &&
                gpumem_stream_copy(stream, a, 0, b, 0, N) == GPUMEM_OK &&
                gpumem_stream_read(stream, b, 0, out, N) == GPUMEM_OK &&
                gpumem_stream_synchronize(stream) == GPUMEM_OK && memcmp(in, out, N) == 0;
    }
    w->ok = w->ok && gpumem_stream_destroy(stream) == GPUMEM_OK;
    return NULL;
}

/* Streams on several threads share the device's one queue. */
Test(vulkan, streams_share_the_queue)
{
    gpumem_device device = open_vulkan();
    gpumem_pool_desc desc = {.page_size = MIB};
    gpumem_pool pool;
    OK(gpumem_pool_create(device, &desc, &pool));
    worker w[4];
    pthread_t threads[4];
    for (uint32_t i = 0; i < 4; i++) {
        w[i] = (worker){.device = device, .pool = pool, .seed = 100 + i};
        cr_assert_eq(pthread_create(&threads[i], NULL, stream_worker, &w[i]), 0);
    }
    for (uint32_t i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        cr_expect(w[i].ok, "worker %u: %s", i, gpumem_last_error());
    }
    OK(gpumem_device_close(device));
}

/* gpumem's device opened again on its own native objects (gpumem_device_native): two devices,
 * one VkQueue. Their streams submit from four threads at once, and Vulkan asks that a queue's
 * host access be synchronized: the devices share the queue's lock (before 2026-12-05 each had
 * its own, and the validation layer reported the queue in use by two threads at once). */
Test(vulkan, a_device_opened_again_on_gpumems_objects_shares_the_queues_lock)
{
    gpumem_device first = open_vulkan(), second;
    gpumem_external_device native;
    OK(gpumem_device_native(first, &native));
    gpumem_device_desc desc = {.backend = "vulkan", .external = &native};
    OK(gpumem_device_open(&desc, &second));
    gpumem_device devices[2] = {first, second};
    gpumem_pool pools[2];
    worker w[4];
    pthread_t threads[4];
    for (uint32_t i = 0; i < 2; i++) {
        gpumem_pool_desc pd = {.page_size = MIB};
        OK(gpumem_pool_create(devices[i], &pd, &pools[i]));
    }
    for (uint32_t i = 0; i < 4; i++) {
        w[i] = (worker){.device = devices[i % 2], .pool = pools[i % 2], .seed = 200 + i};
        cr_assert_eq(pthread_create(&threads[i], NULL, stream_worker, &w[i]), 0);
    }
    for (uint32_t i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        cr_expect(w[i].ok, "worker %u: %s", i, gpumem_last_error());
    }
    OK(gpumem_device_close(second));
    OK(gpumem_device_close(first));
}

/* --- validation and availability --- */

/* The backend's messenger reaches gpumem's log: a wrong call on gpumem's device (a buffer of
 * size 0) is reported as an error with the prefix the tests look for. */
Test(vulkan, validation_messages_reach_the_log)
{
    const char *env = getenv("GPUMEM_VULKAN_VALIDATION");
    if (!env || strcmp(env, "0") == 0)
        cr_skip_test("GPUMEM_VULKAN_VALIDATION is off");
    if (!app_has_validation_layer())
        cr_skip_test("the Vulkan validation layer is not installed, so nothing reports the call");
    gpumem_device device = open_vulkan();
    app_vk app;
    wrap_device(device, &app);
    VkBufferCreateInfo bad = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                              .size = 0,
                              .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT};
    VkBuffer buffer = VK_NULL_HANDLE;
    expect_validation_error(1);
    VkResult r = app.vkCreateBuffer(app.device, &bad, NULL, &buffer);
    expect_validation_error(0);
    int seen = expected_validation_errors();
    if (r == VK_SUCCESS && buffer)
        app.vkDestroyBuffer(app.device, buffer, NULL);
    cr_expect_gt(seen, 0, "the validation layer did not report the bad call");
    OK(gpumem_device_close(device));
}

/* Without a driver, the backend is unavailable and says why. */
Test(vulkan, no_driver_is_unavailable_with_a_reason)
{
    setenv("VK_DRIVER_FILES", "/nonexistent/gpumem-test-icd.json", 1);
    setenv("VK_ICD_FILENAMES", "/nonexistent/gpumem-test-icd.json", 1);
    gpumem_backend_info info;
    if (gpumem_backend_find("vulkan", &info) != GPUMEM_OK)
        cr_skip_test("the vulkan backend is not registered: %s", gpumem_last_error());
    cr_assert_eq(info.available, 0);
    cr_expect(strncmp(info.reason, "no Vulkan physical device", 25) == 0 ||
                  strcmp(info.reason, "libvulkan.so.1 not found") == 0,
              "reason: '%s'", info.reason);
    gpumem_device_desc desc = {.backend = "vulkan"};
    gpumem_device device;
    cr_expect_neq(gpumem_device_open(&desc, &device), GPUMEM_OK);
}

/* --- a submission that fails ---
 * gpumem batches a stream's transfers into command buffers. When vkQueueSubmit fails (injected
 * here through the get_instance_proc_addr the application hands gpumem), the transfers batched
 * before it, whose calls had answered OK, never run: the stream's next synchronize (or event
 * record) must say so, and a failed synchronize must still wait for what was submitted before
 * (backend.h: a failed stream_synchronize leaves nothing running). */
static PFN_vkGetInstanceProcAddr real_gipa;
static PFN_vkGetDeviceProcAddr real_gdpa;
static PFN_vkQueueSubmit real_submit;
static int submits_until_failure = -1; /* the next submission that fails: 0; -1: none */

static VkResult VKAPI_CALL failing_submit(VkQueue queue, uint32_t count,
                                          const VkSubmitInfo *submits, VkFence fence)
{
    if (submits_until_failure >= 0 && submits_until_failure-- == 0)
        return VK_ERROR_OUT_OF_HOST_MEMORY;
    return real_submit(queue, count, submits, fence);
}

static PFN_vkVoidFunction VKAPI_CALL shim_device_proc(VkDevice device, const char *name)
{
    PFN_vkVoidFunction f = real_gdpa(device, name);
    if (f && strcmp(name, "vkQueueSubmit") == 0) {
        real_submit = (PFN_vkQueueSubmit)f;
        return (PFN_vkVoidFunction)failing_submit;
    }
    return f;
}

/* The device's limits as the driver gives them, but for maxMemoryAllocationCount when set. */
static PFN_vkGetPhysicalDeviceProperties real_properties;
static uint32_t allocation_count_limit;

static void VKAPI_CALL limited_properties(VkPhysicalDevice device,
                                          VkPhysicalDeviceProperties *properties)
{
    real_properties(device, properties);
    if (allocation_count_limit)
        properties->limits.maxMemoryAllocationCount = allocation_count_limit;
}

static PFN_vkGetPhysicalDeviceProperties2 real_properties2;

static void VKAPI_CALL limited_properties2(VkPhysicalDevice device,
                                           VkPhysicalDeviceProperties2 *properties)
{
    real_properties2(device, properties);
    if (allocation_count_limit)
        properties->properties.limits.maxMemoryAllocationCount = allocation_count_limit;
}

static PFN_vkVoidFunction VKAPI_CALL shim_instance_proc(VkInstance instance, const char *name)
{
    if (strcmp(name, "vkGetPhysicalDeviceProperties2") == 0 ||
        strcmp(name, "vkGetPhysicalDeviceProperties2KHR") == 0) {
        real_properties2 = (PFN_vkGetPhysicalDeviceProperties2)real_gipa(instance, name);
        return real_properties2 ? (PFN_vkVoidFunction)limited_properties2 : NULL;
    }
    if (strcmp(name, "vkGetPhysicalDeviceProperties") == 0) {
        real_properties = (PFN_vkGetPhysicalDeviceProperties)real_gipa(instance, name);
        return real_properties ? (PFN_vkVoidFunction)limited_properties : NULL;
    }
    if (strcmp(name, "vkGetDeviceProcAddr") == 0) {
        real_gdpa = (PFN_vkGetDeviceProcAddr)real_gipa(instance, name);
        return (PFN_vkVoidFunction)shim_device_proc;
    }
    return real_gipa(instance, name);
}

/* The test's own device, and gpumem opened on it through the shims above. */
static gpumem_device open_through_shims(app_vk *app)
{
    require_app_device(app);
    real_gipa = app->gipa;
    app->gipa = shim_instance_proc;
    gpumem_device device;
    OK(open_on_app(app, GPUMEM_VULKAN_FEATURE_TIMELINE_SEMAPHORE, &device));
    return device;
}

Test(vulkan, a_failed_submission_is_told_and_what_ran_before_is_waited_for)
{
    app_vk app;
    gpumem_device device = open_through_shims(&app);
    gpumem_pool_desc visible = {.required_flags = GPUMEM_MEMORY_HOST_VISIBLE, .page_size = 128 * MIB};
    gpumem_pool pool;
    OK(gpumem_pool_create(device, &visible, &pool));
    const uint64_t small = 64 * KIB, big = 48 * MIB;
    gpumem_buffer src, dst, big_src, big_dst;
    OK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = small}, &src));
    OK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = small}, &dst));
    OK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = big}, &big_src));
    OK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = big}, &big_dst));
    OK(gpumem_buffer_fill(src, 0, small, 0x11111111u));
    OK(gpumem_buffer_fill(dst, 0, small, 0));
    OK(gpumem_buffer_fill(big_src, 0, big, 0x22222222u));
    OK(gpumem_buffer_fill(big_dst, 0, big, 0));
    gpumem_stream stream;
    OK(gpumem_stream_create(device, &stream));

    /* 1. Small copies batched into one command buffer, whose submission fails: the calls that
     * batched them answered OK, so the synchronize must not. */
    submits_until_failure = 0;
    int refused = 0;
    for (uint64_t at = 0; at < small; at += KIB)
        refused += gpumem_stream_copy(stream, src, at, dst, at, KIB) != GPUMEM_OK;
    gpumem_result synchronized = gpumem_stream_synchronize(stream);
    cr_assert_eq(submits_until_failure, -1, "no submission was made to fail");
    cr_assert_eq(synchronized, GPUMEM_ERROR_OUT_OF_HOST_MEMORY,
                 "the synchronize after a lost batch (%d copies refused) -> %s: %s", refused,
                 gpumem_result_string(synchronized), gpumem_last_error());
    cr_assert(strstr(gpumem_last_error(), "never ran"), "%s", gpumem_last_error());
    OK(gpumem_stream_synchronize(stream)); /* told once */

    /* 2. A long copy in flight, a short one open, and the synchronize's own submission fails:
     * the synchronize fails, but only once the long copy is done. */
    OK(gpumem_stream_copy(stream, big_src, 0, big_dst, 0, big)); /* submitted at once */
    OK(gpumem_stream_copy(stream, src, 0, dst, 0, 4));            /* stays open */
    submits_until_failure = 0;
    cr_assert_eq(gpumem_stream_synchronize(stream), GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "%s",
                 gpumem_last_error());
    void *mapped;
    OK(gpumem_buffer_map(big_dst, &mapped));
    const uint32_t *words = mapped;
    uint64_t wrong = 0;
    for (uint64_t i = 0; i < big / 4; i += 1024)
        wrong += words[i] != 0x22222222u;
    OK(gpumem_buffer_unmap(big_dst));
    cr_assert_eq(wrong, 0, "the failed synchronize returned before the copy submitted before it "
                 "was done (%llu of %llu words checked not there yet)",
                 (unsigned long long)wrong, (unsigned long long)(big / 4 / 1024));

    /* 3. The stream works on. */
    OK(gpumem_stream_copy(stream, src, 0, dst, 0, small));
    OK(gpumem_stream_synchronize(stream));
    uint8_t *back = malloc(small);
    cr_assert_not_null(back);
    OK(gpumem_buffer_read(dst, 0, back, small));
    for (uint64_t i = 0; i < small; i++)
        cr_assert_eq(back[i], 0x11, "byte %llu after the stream went on", (unsigned long long)i);
    free(back);
    OK(gpumem_stream_destroy(stream));
    OK(gpumem_device_close(device));
    app_destroy(&app);
}

/* maxMemoryAllocationCount is a valid-usage limit (VUID-vkAllocateMemory-maxMemoryAllocationCount
 * -04101), not an error drivers must return: gpumem keeps its own allocations within it and
 * refuses the one past it with GPUMEM_ERROR_LIMIT_EXCEEDED. Here the limit is made 6. */
Test(vulkan, memory_allocations_stay_within_the_devices_count)
{
    app_vk app;
    allocation_count_limit = 6; /* read at the open */
    gpumem_device device = open_through_shims(&app);
    gpumem_device_properties properties;
    OK(gpumem_device_properties_get(device, &properties));
    cr_assert_eq(properties.max_allocation_count, 6, "the limit gpumem read: %llu",
                 (unsigned long long)properties.max_allocation_count);
    gpumem_pool pool;
    OK(gpumem_pool_create(device, &(gpumem_pool_desc){.page_size = MIB}, &pool));
    gpumem_buffer buffers[16];
    int made = 0;
    gpumem_result r = GPUMEM_OK;
    while (made < 16 && (r = gpumem_buffer_create(pool, &(gpumem_buffer_desc){
                                                          .size = 2 * MIB, /* the best practices' least */
                                                          .flags = GPUMEM_BUFFER_DEDICATED},
                                                  &buffers[made])) == GPUMEM_OK)
        made++;
    cr_assert_eq(r, GPUMEM_ERROR_LIMIT_EXCEEDED, "after %d dedicated buffers: %s (%s)", made,
                 gpumem_result_string(r), gpumem_last_error());
    cr_assert_leq(made, 6, "%d memory objects, past the device's 6", made);
    cr_assert(strstr(gpumem_last_error(), "max_allocation_count"), "%s", gpumem_last_error());
    OK(gpumem_buffer_destroy(buffers[--made])); /* one given back: one more can be made */
    OK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = 2 * MIB, /* the best practices' least */
                                                        .flags = GPUMEM_BUFFER_DEDICATED},
                            &buffers[made]));
    OK(gpumem_device_close(device));
    allocation_count_limit = 0;
    app_destroy(&app);
}


/* A machine of more physical devices than an early fixed array held (here 34 copies of the one
 * driver the tests use, through the loader's VK_ICD_FILENAMES): every index opens, and the one
 * past the last is NOT_FOUND. */
Test(vulkan, every_device_of_many_opens)
{
    /* The driver named, else lavapipe where Debian installs it (what CI runs on). */
    const char *icd = getenv("VK_ICD_FILENAMES");
    if (!icd || !*icd)
        icd = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json";
    if (strchr(icd, ':') || access(icd, R_OK) != 0)
        cr_skip_test("no one driver file to name 34 times (VK_ICD_FILENAMES: %s)", icd);
    /* Copies under names of their own: the loader takes one file once. */
    enum { COPIES = 34 };
    FILE *in = fopen(icd, "rb");
    cr_assert_not_null(in, "%s", icd);
    char text[4096];
    size_t length = fread(text, 1, sizeof text, in);
    fclose(in);
    char folder[] = "/tmp/gpumem-test-icds-XXXXXX";
    cr_assert_not_null(mkdtemp(folder));
    char *many = calloc(COPIES, sizeof folder + 32);
    cr_assert_not_null(many);
    for (int i = 0; i < COPIES; i++) {
        char path[sizeof folder + 32];
        snprintf(path, sizeof path, "%s/icd-%d.json", folder, i);
        FILE *out = fopen(path, "wb");
        cr_assert(out && fwrite(text, 1, length, out) == length && fclose(out) == 0, "%s", path);
        if (i)
            strcat(many, ":");
        strcat(many, path);
    }
    setenv("VK_ICD_FILENAMES", many, 1);
    free(many);
    uint32_t count = 0;
    OK(gpumem_device_count("vulkan", &count));
    cr_assert_geq(count, 33, "%u devices from %d copies of the driver", count, COPIES);
    for (uint32_t index = 30; index <= count; index++) {
        gpumem_device_desc desc = {.backend = "vulkan", .flags = GPUMEM_DEVICE_OPEN_INDEX,
                                   .device_index = index};
        gpumem_device device;
        gpumem_result r = gpumem_device_open(&desc, &device);
        if (index < count) {
            cr_assert_eq(r, GPUMEM_OK, "device %u of %u: %s", index, count, gpumem_last_error());
            OK(gpumem_device_close(device));
        } else {
            cr_assert_eq(r, GPUMEM_ERROR_NOT_FOUND, "device %u of %u: %s", index, count,
                         gpumem_result_string(r));
        }
    }
    for (int i = 0; i < COPIES; i++) {
        char path[sizeof folder + 32];
        snprintf(path, sizeof path, "%s/icd-%d.json", folder, i);
        unlink(path);
    }
    rmdir(folder);
}
