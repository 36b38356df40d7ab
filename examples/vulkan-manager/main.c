/* A Kompute-style manager on gpumem, on a Vulkan device the application brings:
 *
 *   - a manager is the one owner of what it makes on the device: a gpumem device opened on the
 *     application's VkDevice, a pool, a stream, and its tensors (gpumem buffers with a host
 *     copy); destroying the manager releases all of them, and never the application's device;
 *   - a destroyed tensor is never silently recreated: every later use of it says so
 *     (GPUMEM_ERROR_DESTROYED), whether the tensor or its whole manager was destroyed;
 *   - several managers coexist on one device, each with its own memory and stream.
 *
 * Two managers on one VkDevice run c = a + b (add.comp of the vector-add example) on their
 * own tensors; the first is destroyed; its tensors then refuse to sync and the second still
 * computes. Any validation message fails the program. Usage: gpumem-vulkan-manager ADD.spv */
#include <stdio.h>
#include <stdlib.h>

#include "vk_app.h"

typedef struct manager {
    const app *a; /* the application's: the manager never destroys it */
    gpumem_device device;
    gpumem_pool pool;
    gpumem_stream stream;
    app_pass add;
} manager;

typedef struct tensor {
    gpumem_buffer buffer; /* owned by the manager's pool */
    float *data;          /* the host copy */
    uint32_t n;
} tensor;

static void manager_create(const app *a, const char *shader, const char *name, manager *m)
{
    m->a = a;
    m->device = app_open_gpumem(a);
    gpumem_pool_desc pool = {.preferred_flags = GPUMEM_MEMORY_DEVICE_LOCAL, .name = name};
    CHECK(gpumem_pool_create(m->device, &pool, &m->pool));
    CHECK(gpumem_stream_create(m->device, &m->stream));
    const VkDescriptorType types[3] = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                       VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                       VK_DESCRIPTOR_TYPE_STORAGE_BUFFER};
    app_pass_create(a, shader, types, 3, sizeof(uint32_t), &m->add);
}

/* A tensor of n floats, all `value`, in the manager's pool. */
static tensor manager_tensor(manager *m, uint32_t n, float value)
{
    tensor t = {.n = n, .data = malloc(n * sizeof(float))};
    for (uint32_t i = 0; i < n; i++)
        t.data[i] = value + (float)i;
    gpumem_buffer_desc desc = {.size = (uint64_t)n * sizeof(float),
                               .usage = GPUMEM_BUFFER_USAGE_STORAGE};
    CHECK(gpumem_buffer_create(m->pool, &desc, &t.buffer));
    return t;
}

/* Host copy to device; the stream orders it before later work. */
static gpumem_result sync_device(manager *m, const tensor *t)
{
    return gpumem_stream_write(m->stream, t->buffer, 0, t->data, (uint64_t)t->n * sizeof(float));
}

/* Device to host copy, waited for. */
static gpumem_result sync_local(manager *m, tensor *t)
{
    gpumem_result r = gpumem_stream_read(m->stream, t->buffer, 0, t->data,
                                         (uint64_t)t->n * sizeof(float));
    return r == GPUMEM_OK ? gpumem_stream_synchronize(m->stream) : r;
}

/* c = a + b on the GPU, after the stream's uploads and before its later reads: the dispatch
 * waits for an event of the stream, the stream for the dispatch's semaphore. */
static void eval_add(manager *m, const tensor *a, const tensor *b, const tensor *c)
{
    gpumem_buffer buffers[3] = {a->buffer, b->buffer, c->buffer};
    app_pass_bind_buffers(m->a, &m->add, 0, buffers, 3);
    gpumem_event uploaded, computed_event;
    CHECK(gpumem_event_create(m->device, &uploaded));
    CHECK(gpumem_event_record(uploaded, m->stream));
    gpumem_native_event wait;
    CHECK(gpumem_event_native(uploaded, &wait));
    VkSemaphore computed = app_timeline(m->a);
    VkCommandBuffer cb = app_begin(m->a);
    app_pass_record(&m->add, cb);
    vkCmdPushConstants(cb, m->add.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof c->n, &c->n);
    vkCmdDispatch(cb, (c->n + 63) / 64, 1, 1);
    app_submit(m->a, cb, wait.value ? (VkSemaphore)(uintptr_t)wait.handle : VK_NULL_HANDLE,
               wait.value, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, computed, 1);
    CHECK(gpumem_event_wrap(m->device, (uint64_t)(uintptr_t)computed, 1, &computed_event));
    CHECK(gpumem_stream_wait_event(m->stream, computed_event));
    CHECK(gpumem_stream_synchronize(m->stream)); /* before the semaphore goes */
    CHECK(gpumem_event_destroy(computed_event));
    CHECK(gpumem_event_destroy(uploaded));
    app_timeline_destroy(m->a, computed);
}

/* Releases everything the manager made, its tensors' memory included. */
static void manager_destroy(manager *m)
{
    app_pass_destroy(m->a, &m->add);
    CHECK(gpumem_device_close(m->device));
}

static int check_sum(const char *who, const tensor *a, const tensor *b, const tensor *c)
{
    uint32_t wrong = 0;
    for (uint32_t i = 0; i < c->n; i++)
        wrong += c->data[i] != a->data[i] + b->data[i];
    printf("%s: c = a + b over %u floats: %s\n", who, c->n, wrong ? "WRONG" : "right");
    return wrong != 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: gpumem-vulkan-manager ADD.spv\n");
        return 2;
    }
    app a = {0};
    app_create(&a, "gpumem-vulkan-manager");
    manager first, second;
    manager_create(&a, argv[1], "first manager", &first);
    manager_create(&a, argv[1], "second manager", &second);
    tensor t[2][3];
    manager *managers[2] = {&first, &second};
    int wrong = 0;
    for (int k = 0; k < 2; k++) {
        manager *m = managers[k];
        uint32_t n = 10000 + 777 * (uint32_t)k;
        for (int i = 0; i < 3; i++)
            t[k][i] = manager_tensor(m, n, i == 2 ? 0.0f : (float)(k * 10 + i));
        CHECK(sync_device(m, &t[k][0]));
        CHECK(sync_device(m, &t[k][1]));
        eval_add(m, &t[k][0], &t[k][1], &t[k][2]);
        CHECK(sync_local(m, &t[k][2]));
        wrong |= check_sum(k ? "second manager" : "first manager", &t[k][0], &t[k][1],
                           &t[k][2]);
    }

    /* A destroyed tensor, then a destroyed manager: their tensors say so, nothing comes back. */
    CHECK(gpumem_buffer_destroy(t[1][0].buffer));
    gpumem_result r = sync_device(&second, &t[1][0]);
    printf("a destroyed tensor: %s\n", gpumem_result_string(r));
    wrong |= r != GPUMEM_ERROR_DESTROYED;
    manager_destroy(&first);
    r = sync_local(&first, &t[0][2]);
    printf("a tensor of the destroyed manager: %s\n", gpumem_result_string(r));
    wrong |= r != GPUMEM_ERROR_DESTROYED;

    /* The other manager on the same device carries on. */
    free(t[1][0].data);
    t[1][0] = manager_tensor(&second, t[1][1].n, 5.0f);
    CHECK(sync_device(&second, &t[1][0]));
    eval_add(&second, &t[1][0], &t[1][1], &t[1][2]);
    CHECK(sync_local(&second, &t[1][2]));
    wrong |= check_sum("second manager, after the first was destroyed", &t[1][0], &t[1][1],
                       &t[1][2]);
    manager_destroy(&second);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 3; i++)
            free(t[k][i].data);
    int messages = app_destroy(&a);
    return app_verdict("gpumem-vulkan-manager", wrong, messages);
}
