/* Vector add on the application's own Vulkan device, with gpumem's buffers, uploads and
 * readback, and no host wait between them:
 *
 *   1. the application creates its VkInstance and VkDevice (timeline semaphores enabled) and
 *      opens gpumem on them ("bring your own device");
 *   2. gpumem uploads a and b on a stream; an event gives the stream's timeline semaphore and
 *      value, which the application's compute dispatch waits for on the GPU;
 *   3. the dispatch signals the application's own timeline semaphore, which gpumem wraps as an
 *      event: gpumem's stream waits for it on the GPU before it reads c back.
 *
 * The validation layer (with synchronization validation) runs when it is installed; any
 * message it reports makes the program fail. Usage: gpumem-vector-add SHADER.spv [N] */
#include <stdio.h>
#include <stdlib.h>

#include "vk_app.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: gpumem-vector-add SHADER.spv [N]\n");
        return 2;
    }
    uint32_t n = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1u << 20;
    app a = {0};
    app_create(&a, "gpumem-vector-add");
    /* One invocation per element, 64 to a workgroup: the dispatch's group count must stay
     * within the device's limit (VUID-vkCmdDispatch-groupCountX-00386). */
    VkPhysicalDeviceProperties limits;
    vkGetPhysicalDeviceProperties(a.physical_device, &limits);
    uint64_t most = (uint64_t)limits.limits.maxComputeWorkGroupCount[0] * 64;
    if (n == 0 || n > most) {
        fprintf(stderr, "gpumem-vector-add: N must be 1 to %llu on this device, not %u\n",
                (unsigned long long)most, n);
        app_destroy(&a);
        return 2;
    }
    gpumem_device device = app_open_gpumem(&a); /* it owns nothing of the application's */
    gpumem_pool pool;
    CHECK(gpumem_pool_create(device,
                             &(gpumem_pool_desc){.preferred_flags = GPUMEM_MEMORY_DEVICE_LOCAL,
                                                 .name = "vectors"},
                             &pool));
    gpumem_buffer buffers[3];
    for (int i = 0; i < 3; i++)
        CHECK(gpumem_buffer_create(pool,
                                   &(gpumem_buffer_desc){.size = n * sizeof(float),
                                                         .usage = GPUMEM_BUFFER_USAGE_STORAGE},
                                   &buffers[i]));
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *sum = malloc(n * sizeof *sum);
    for (uint32_t i = 0; i < n; i++) {
        x[i] = (float)i;
        y[i] = 0.5f * (float)(n - i);
    }

    /* 1. gpumem uploads on a stream; the event's timeline value is what the dispatch waits for. */
    gpumem_stream stream;
    gpumem_event uploaded;
    CHECK(gpumem_stream_create(device, &stream));
    CHECK(gpumem_event_create(device, &uploaded));
    CHECK(gpumem_stream_write(stream, buffers[0], 0, x, n * sizeof(float)));
    CHECK(gpumem_stream_write(stream, buffers[1], 0, y, n * sizeof(float)));
    CHECK(gpumem_event_record(uploaded, stream));
    gpumem_native_event upload_done;
    CHECK(gpumem_event_native(uploaded, &upload_done));

    /* 2. The application's dispatch waits for the upload and signals its own timeline. */
    const VkDescriptorType types[3] = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                       VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                       VK_DESCRIPTOR_TYPE_STORAGE_BUFFER};
    app_pass p;
    app_pass_create(&a, argv[1], types, 3, sizeof n, &p);
    app_pass_bind_buffers(&a, &p, 0, buffers, 3);
    VkSemaphore computed = app_timeline(&a);
    VkCommandBuffer cb = app_begin(&a);
    app_pass_record(&p, cb);
    vkCmdPushConstants(cb, p.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, 4, &n);
    vkCmdDispatch(cb, (n + 63) / 64, 1, 1);
    uint64_t signal_value = 1;
    app_submit(&a, cb,
               upload_done.value ? (VkSemaphore)(uintptr_t)upload_done.handle : VK_NULL_HANDLE,
               upload_done.value, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, computed, signal_value);

    /* 3. gpumem's stream waits for the dispatch on the GPU, then reads the sum back. */
    gpumem_event dispatch_done;
    CHECK(gpumem_event_wrap(device, (uint64_t)(uintptr_t)computed, signal_value,
                            &dispatch_done));
    CHECK(gpumem_stream_wait_event(stream, dispatch_done));
    CHECK(gpumem_stream_read(stream, buffers[2], 0, sum, n * sizeof(float)));
    CHECK(gpumem_stream_synchronize(stream));

    uint32_t wrong = 0;
    for (uint32_t i = 0; i < n; i++)
        wrong += sum[i] != x[i] + y[i];
    printf("vector add of %u floats on the application's own VkDevice: %s\n", n,
           wrong ? "WRONG" : "right");
    if (wrong)
        printf("%u of %u sums are wrong (sum[0] = %g, expected %g)\n", wrong, n, sum[0],
               x[0] + y[0]);

    CHECK(gpumem_event_destroy(dispatch_done));
    CHECK(gpumem_event_destroy(uploaded));
    CHECK(gpumem_device_close(device)); /* gpumem's objects; the device stays the app's */
    app_timeline_destroy(&a, computed);
    app_pass_destroy(&a, &p);
    int messages = app_destroy(&a);
    free(x);
    free(y);
    free(sum);
    return app_verdict("gpumem-vector-add", wrong, messages);
}
