/* An image on the application's own Vulkan device, with no host wait until the end:
 *
 *   1. gpumem uploads a 2D image of floats on a stream (the image is a VkImage in gpumem's
 *      pool, left in VK_IMAGE_LAYOUT_GENERAL by gpumem's copies);
 *   2. the application's compute pass waits for the upload on the GPU (the event's timeline
 *      semaphore and value), reads the image as a storage image in GENERAL, and writes
 *      2 * texel + 1 into a gpumem buffer, signalling its own timeline semaphore;
 *   3. gpumem's stream waits for that semaphore on the GPU and reads the buffer back.
 *
 * Any validation message (synchronization validation on) fails the program.
 * Usage: gpumem-vulkan-image SHADER.spv [WIDTH HEIGHT] */
#include <stdio.h>
#include <stdlib.h>

#include "vk_app.h"

/* gpumem's image in the descriptor set: a view of its VkImage, in the layout gpumem leaves it
 * in. */
static VkImageView bind_image(const app *a, app_pass *p, gpumem_image image)
{
    gpumem_native_image native;
    CHECK(gpumem_image_native(image, &native));
    VkImageViewCreateInfo view = {.sType = VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO,
                                  .image = (VkImage)(uintptr_t)native.image,
                                  .viewType = VK_IMAGE_VIEW_TYPE_2D,
                                  .format = (VkFormat)native.format,
                                  .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1}};
    VkImageView v;
    CHECK_VK(vkCreateImageView(a->device, &view, NULL, &v));
    VkDescriptorImageInfo info = {.imageView = v, .imageLayout = (VkImageLayout)native.layout};
    VkWriteDescriptorSet write = {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                  .dstSet = p->set,
                                  .dstBinding = 0,
                                  .descriptorCount = 1,
                                  .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_IMAGE,
                                  .pImageInfo = &info};
    vkUpdateDescriptorSets(a->device, 1, &write, 0, NULL);
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: gpumem-vulkan-image SHADER.spv [WIDTH HEIGHT]\n");
        return 2;
    }
    uint32_t width = argc > 3 ? (uint32_t)strtoul(argv[2], NULL, 10) : 640;
    uint32_t height = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 480;
    uint32_t n = width * height;
    app a = {0};
    app_create(&a, "gpumem-vulkan-image");
    gpumem_device device = app_open_gpumem(&a);
    gpumem_pool pool;
    gpumem_pool_desc pool_desc = {.preferred_flags = GPUMEM_MEMORY_DEVICE_LOCAL,
                                  .name = "image example"};
    CHECK(gpumem_pool_create(device, &pool_desc, &pool));
    gpumem_image_desc image_desc = {.type = GPUMEM_IMAGE_2D,
                                    .format = GPUMEM_FORMAT_R32_SFLOAT,
                                    .width = width,
                                    .height = height,
                                    .usage = GPUMEM_IMAGE_USAGE_STORAGE,
                                    .name = "picture"};
    gpumem_image image;
    CHECK(gpumem_image_create(pool, &image_desc, &image));
    gpumem_buffer_desc buffer_desc = {.size = (uint64_t)n * sizeof(float),
                                      .usage = GPUMEM_BUFFER_USAGE_STORAGE,
                                      .name = "result"};
    gpumem_buffer result;
    CHECK(gpumem_buffer_create(pool, &buffer_desc, &result));
    float *texels = malloc(n * sizeof *texels), *back = malloc(n * sizeof *back);
    for (uint32_t i = 0; i < n; i++)
        texels[i] = (float)(i % 1000) * 0.25f;

    /* 1. The upload, and the event the application's pass waits for. */
    gpumem_stream stream;
    gpumem_event uploaded;
    CHECK(gpumem_stream_create(device, &stream));
    CHECK(gpumem_event_create(device, &uploaded));
    gpumem_image_region all = {.width = width, .height = height};
    CHECK(gpumem_stream_image_write(stream, image, &all, texels));
    CHECK(gpumem_event_record(uploaded, stream));
    gpumem_native_event upload_done;
    CHECK(gpumem_event_native(uploaded, &upload_done));

    /* 2. The application's pass: it reads the image where gpumem left it (GENERAL). */
    const VkDescriptorType types[2] = {VK_DESCRIPTOR_TYPE_STORAGE_IMAGE,
                                       VK_DESCRIPTOR_TYPE_STORAGE_BUFFER};
    app_pass p;
    app_pass_create(&a, argv[1], types, 2, 0, &p);
    VkImageView view = bind_image(&a, &p, image);
    app_pass_bind_buffers(&a, &p, 1, &result, 1);
    VkSemaphore computed = app_timeline(&a);
    VkCommandBuffer cb = app_begin(&a);
    app_pass_record(&p, cb);
    vkCmdDispatch(cb, (width + 7) / 8, (height + 7) / 8, 1);
    uint64_t signal_value = 1;
    app_submit(&a, cb, (VkSemaphore)(uintptr_t)upload_done.handle, upload_done.value,
               VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, computed, signal_value);

    /* 3. gpumem reads the result once the pass is done, waiting on the GPU. */
    gpumem_event pass_done;
    CHECK(gpumem_event_wrap(device, (uint64_t)(uintptr_t)computed, signal_value, &pass_done));
    CHECK(gpumem_stream_wait_event(stream, pass_done));
    CHECK(gpumem_stream_read(stream, result, 0, back, (uint64_t)n * sizeof(float)));
    CHECK(gpumem_stream_synchronize(stream));

    uint32_t wrong = 0;
    for (uint32_t i = 0; i < n; i++)
        wrong += back[i] != 2.0f * texels[i] + 1.0f;
    printf("a %ux%u image read by the application's compute pass: %s\n", width, height,
           wrong ? "WRONG" : "right");
    if (wrong)
        printf("%u of %u results are wrong\n", wrong, n);

    CHECK(gpumem_event_destroy(pass_done));
    CHECK(gpumem_event_destroy(uploaded));
    vkDestroyImageView(a.device, view, NULL); /* before gpumem destroys the image */
    app_pass_destroy(&a, &p);
    CHECK(gpumem_device_close(device)); /* gpumem's objects; the device stays the app's */
    app_timeline_destroy(&a, computed);
    int messages = app_destroy(&a);
    free(texels);
    free(back);
    return app_verdict("gpumem-vulkan-image", wrong, messages);
}
