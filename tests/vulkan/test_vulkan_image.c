/* Images on Vulkan, under the validation layer (the suite runs it with synchronization
 * validation and best practices; every message fails the test): every portable format in each
 * dimension and both tilings, in every memory type the driver allows; optimal images between
 * buffers on whole units of bufferImageGranularity; memory allocated for an image (dedicated)
 * where asked; native formats, and clear refusals of what the driver cannot make. What the
 * application does with the VkImage is in examples/vulkan-image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vulkan_test.h"

TestSuite(vulkan_image, .init = vulkan_test_setup, .timeout = 120);

static VkPhysicalDeviceLimits limits_of(gpumem_device device)
{
    app_vk app;
    wrap_device(device, &app);
    VkPhysicalDeviceProperties p;
    app.vkGetPhysicalDeviceProperties(app.physical_device, &p);
    app_destroy(&app); /* wrapped: destroys nothing of gpumem's */
    return p.limits;
}

/* Writes a box, reads it back. */
static void round_trip(gpumem_image image, uint32_t width, uint32_t height, uint32_t depth,
                       uint32_t texel, uint32_t seed, const char *what)
{
    size_t bytes = (size_t)width * height * depth * texel;
    uint8_t *data = alloc_or_die(bytes), *back = alloc_or_die(bytes);
    pattern(data, bytes, seed);
    gpumem_image_region all = {.width = width, .height = height, .depth = depth};
    OK(gpumem_image_write(image, &all, data));
    OK(gpumem_image_read(image, &all, back));
    assert_bytes(back, data, bytes, what);
    free(data);
    free(back);
}

Test(vulkan_image, every_format_dimension_and_tiling_in_every_memory_type)
{
    gpumem_device device = open_vulkan();
    gpumem_device_properties props;
    OK(gpumem_device_properties_get(device, &props));
    uint32_t made = 0, refused = 0;
    int optimal_made[GPUMEM_FORMAT_COUNT][GPUMEM_IMAGE_3D + 1] = {{0}};
    for (uint32_t type = 0; type < props.memory_type_count; type++) {
        gpumem_pool pool = pool_of_type(device, type, 4 * MIB);
        for (uint32_t format = GPUMEM_FORMAT_R8_UNORM; format < GPUMEM_FORMAT_COUNT; format++)
            for (uint32_t dim = GPUMEM_IMAGE_1D; dim <= GPUMEM_IMAGE_3D; dim++)
                for (uint32_t tiling = 0; tiling <= GPUMEM_IMAGE_TILING_LINEAR; tiling++) {
                    gpumem_image_desc desc = {.type = dim,
                                              .format = format,
                                              .width = 19,
                                              .height = dim > 1 ? 11 : 1,
                                              .depth = dim > 2 ? 3 : 1,
                                              .tiling = tiling};
                    gpumem_image image;
                    gpumem_result r = gpumem_image_create(pool, &desc, &image);
                    if (r == GPUMEM_ERROR_UNSUPPORTED) {
                        /* The driver said no (linear 3D images, say): the message says what. */
                        cr_assert(strstr(gpumem_last_error(), "VkFormat") ||
                                      strstr(gpumem_last_error(), "memory type"),
                                  "%s", gpumem_last_error());
                        refused++;
                        continue;
                    }
                    OK(r);
                    char what[96];
                    snprintf(what, sizeof what, "format %u, %uD, tiling %u, memory type %u",
                             format, dim, tiling, type);
                    round_trip(image, desc.width, desc.height, desc.depth,
                               gpumem_format_texel_size(format), format * 8 + dim, what);
                    OK(gpumem_image_destroy(image));
                    made++;
                    if (tiling == GPUMEM_IMAGE_TILING_OPTIMAL)
                        optimal_made[format][dim] = 1;
                }
        OK(gpumem_pool_destroy(pool));
    }
    /* Optimal tiling of every portable format and dimension is made in some memory type. */
    for (uint32_t format = GPUMEM_FORMAT_R8_UNORM; format < GPUMEM_FORMAT_COUNT; format++)
        for (uint32_t dim = GPUMEM_IMAGE_1D; dim <= GPUMEM_IMAGE_3D; dim++)
            cr_assert(optimal_made[format][dim],
                      "format %u, %uD: no optimal image in any memory type (%u made, %u refused)",
                      format, dim, made, refused);
    OK(gpumem_device_close(device));
}

Test(vulkan_image, optimal_images_take_whole_units_of_buffer_image_granularity)
{
    gpumem_device device = open_vulkan();
    uint64_t granularity = limits_of(device).bufferImageGranularity;
    gpumem_pool pool = device_local_pool(device, 4 * MIB);
    gpumem_buffer buffers[8];
    gpumem_image images[8];
    for (int i = 0; i < 8; i++) {
        buffers[i] = buffer_of(pool, 100 + 37 * (uint64_t)i, 0);
        gpumem_image_desc image = {.type = GPUMEM_IMAGE_2D,
                                   .format = GPUMEM_FORMAT_R8_UNORM,
                                   .width = 13 + (uint32_t)i,
                                   .height = 5,
                                   .tiling = i % 2 ? GPUMEM_IMAGE_TILING_LINEAR
                                                   : GPUMEM_IMAGE_TILING_OPTIMAL};
        OK(gpumem_image_create(pool, &image, &images[i]));
        gpumem_buffer_info info;
        OK(gpumem_image_info_get(images[i], &info));
        if (i % 2 == 0) {
            cr_assert_eq(info.offset % granularity, 0, "offset %llu, granularity %llu",
                         (unsigned long long)info.offset, (unsigned long long)granularity);
            cr_assert_eq(info.size % granularity, 0, "size %llu, granularity %llu",
                         (unsigned long long)info.size, (unsigned long long)granularity);
        }
        round_trip(images[i], 13 + (uint32_t)i, 5, 1, 1, (uint32_t)i, "an image among buffers");
    }
    for (int i = 0; i < 8; i++) {
        OK(gpumem_buffer_destroy(buffers[i]));
        OK(gpumem_image_destroy(images[i]));
    }
    OK(gpumem_device_close(device));
}

/* GPUMEM_IMAGE_DEDICATED: memory allocated for the image (VkMemoryDedicatedAllocateInfo, which
 * the layer checks against the image bound to it), freed with it, never given to another. */
Test(vulkan_image, dedicated_images_get_memory_allocated_for_them)
{
    gpumem_device device = open_vulkan();
    gpumem_pool pool = device_local_pool(device, 4 * MIB);
    gpumem_image_desc image = {.type = GPUMEM_IMAGE_2D,
                               .format = GPUMEM_FORMAT_R8G8B8A8_UNORM,
                               .width = 700, /* over 1 MiB: smaller dedicated allocations are */
                               .height = 400, /* what best practices warn of */
                               .flags = GPUMEM_IMAGE_DEDICATED};
    for (int round = 0; round < 3; round++) {
        gpumem_image a;
        OK(gpumem_image_create(pool, &image, &a));
        gpumem_buffer_info info;
        OK(gpumem_image_info_get(a, &info));
        cr_assert_eq(info.dedicated, 1);
        cr_assert_eq(info.offset, 0);
        round_trip(a, 700, 400, 1, 4, (uint32_t)round, "a dedicated image");
        OK(gpumem_image_destroy(a));
    }
    gpumem_pool_stats stats;
    OK(gpumem_pool_stats_get(pool, &stats)); /* no trim: the memory went with each image */
    cr_assert_eq(stats.page_count, 0, "memory allocated for images goes with them");
    OK(gpumem_device_close(device));
}

Test(vulkan_image, native_formats_and_refusals)
{
    gpumem_device device = open_vulkan();
    gpumem_pool pool = device_local_pool(device, 4 * MIB);
    gpumem_image_desc srgb = {.type = GPUMEM_IMAGE_2D,
                              .format = GPUMEM_FORMAT_NATIVE,
                              .native_format = VK_FORMAT_R8G8B8A8_SRGB,
                              .texel_size = 4,
                              .width = 31,
                              .height = 9};
    gpumem_image image;
    OK(gpumem_image_create(pool, &srgb, &image));
    gpumem_native_image native;
    OK(gpumem_image_native(image, &native));
    cr_assert_eq(native.format, VK_FORMAT_R8G8B8A8_SRGB);
    round_trip(image, 31, 9, 1, 4, 3, "a native format");
    OK(gpumem_image_destroy(image));
    /* Past the driver's largest extent: refused, with the limit in the message. */
    gpumem_image_desc too_large = {.type = GPUMEM_IMAGE_1D,
                                   .format = GPUMEM_FORMAT_R8_UNORM,
                                   .width = limits_of(device).maxImageDimension1D + 1};
    gpumem_result r = gpumem_image_create(pool, &too_large, &image);
    cr_assert_eq(r, GPUMEM_ERROR_UNSUPPORTED, "%s", gpumem_result_string(r));
    cr_assert(strstr(gpumem_last_error(), "exceed"), "%s", gpumem_last_error());
    /* A format the driver has no storage images of. */
    gpumem_image_desc storage = srgb;
    storage.usage = GPUMEM_IMAGE_USAGE_STORAGE;
    r = gpumem_image_create(pool, &storage, &image);
    cr_assert_eq(r, GPUMEM_ERROR_UNSUPPORTED, "%s", gpumem_result_string(r));
    cr_assert(strstr(gpumem_last_error(), "VkFormat 43"), "%s", gpumem_last_error());
    /* Depth, stencil and block-compressed formats: gpumem's copies move color texels only. */
    const VkFormat not_texels[] = {VK_FORMAT_D32_SFLOAT, VK_FORMAT_S8_UINT,
                                   VK_FORMAT_BC1_RGB_UNORM_BLOCK, VK_FORMAT_ASTC_4x4_UNORM_BLOCK,
                                   VK_FORMAT_G8_B8R8_2PLANE_420_UNORM};
    for (size_t i = 0; i < sizeof not_texels / sizeof not_texels[0]; i++) {
        gpumem_image_desc other = srgb;
        other.native_format = (uint32_t)not_texels[i];
        r = gpumem_image_create(pool, &other, &image);
        cr_assert_eq(r, GPUMEM_ERROR_UNSUPPORTED, "VkFormat %d: %s", (int)not_texels[i],
                     gpumem_result_string(r));
        cr_assert(strstr(gpumem_last_error(), "not an uncompressed color format"), "%s",
                  gpumem_last_error());
    }
    /* A texel size that is not the format's would move the wrong bytes: refused. */
    gpumem_image_desc wrong = srgb;
    wrong.native_format = VK_FORMAT_R32G32B32A32_SFLOAT;
    wrong.texel_size = 4;
    r = gpumem_image_create(pool, &wrong, &image);
    cr_assert_eq(r, GPUMEM_ERROR_INVALID_ARGUMENT, "%s", gpumem_result_string(r));
    cr_assert(strstr(gpumem_last_error(), "texels of 16 bytes"), "%s", gpumem_last_error());
    wrong.texel_size = 16; /* and with the right one, wide texels work */
    OK(gpumem_image_create(pool, &wrong, &image));
    round_trip(image, 31, 9, 1, 16, 4, "16-byte native texels");
    OK(gpumem_image_destroy(image));
    OK(gpumem_device_close(device));
}

/* An image copy on a stream that waits for the application's semaphore returns at once (the
 * runtime copies from image to image on the device) and lands only after the signal. */
Test(vulkan_image, a_stream_image_copy_waits_for_the_application_on_the_device)
{
    gpumem_device device = open_vulkan();
    app_vk app;
    wrap_device(device, &app);
    VkSemaphore semaphore;
    VK_OK(app_timeline_create(&app, &semaphore));
    gpumem_pool pool = device_local_pool(device, 4 * MIB);
    gpumem_image_desc image = {.type = GPUMEM_IMAGE_2D, .format = GPUMEM_FORMAT_R32_UINT,
                               .width = 64, .height = 64, .array_layers = 2};
    gpumem_image a, b;
    OK(gpumem_image_create(pool, &image, &a));
    OK(gpumem_image_create(pool, &image, &b));
    size_t bytes = 64 * 64 * 4;
    uint8_t *data = alloc_or_die(bytes), *old = alloc_or_die(bytes), *seen = alloc_or_die(bytes);
    pattern(data, bytes, 1);
    pattern(old, bytes, 2);
    gpumem_image_region all = {.width = 64, .height = 64};
    gpumem_image_region layer1 = {.width = 64, .height = 64, .base_layer = 1};
    OK(gpumem_image_write(a, &all, data));
    OK(gpumem_image_write(b, &layer1, old));
    OK(gpumem_image_write(a, &layer1, old));
    gpumem_stream stream;
    OK(gpumem_stream_create(device, &stream));
    gpumem_event application;
    OK(gpumem_event_wrap(device, (uint64_t)(uintptr_t)semaphore, 1, &application));
    OK(gpumem_stream_wait_event(stream, application));
    /* To another image, and to another layer of the same one: neither waits on the host. */
    OK(gpumem_stream_image_copy(stream, a, &all, b, &layer1));
    OK(gpumem_stream_image_copy(stream, a, &all, a, &layer1));
    OK(gpumem_image_read(b, &layer1, seen));
    assert_bytes(seen, old, bytes, "the destination before the application signalled");
    VkSemaphoreSignalInfo signal = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO,
                                    .semaphore = semaphore,
                                    .value = 1};
    VK_OK(app.vkSignalSemaphore(app.device, &signal));
    OK(gpumem_stream_synchronize(stream));
    OK(gpumem_image_read(b, &layer1, seen));
    assert_bytes(seen, data, bytes, "another image after the application signalled");
    OK(gpumem_image_read(a, &layer1, seen));
    assert_bytes(seen, data, bytes, "another layer after the application signalled");
    OK(gpumem_event_destroy(application));
    VK_OK(app.vkQueueWaitIdle(app.queue)); /* lavapipe 22.3: see test_vulkan_sync.c */
    app.vkDestroySemaphore(app.device, semaphore, NULL);
    app_destroy(&app);
    free(data);
    free(old);
    free(seen);
    OK(gpumem_device_close(device));
}
