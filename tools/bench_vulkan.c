/* gpumem-bench's vulkan section (see bench_vulkan.h). The plain-Vulkan side works on gpumem's
 * own VkDevice, reached through gpumem_device_native(), so both sides run on one device, one
 * memory type and one driver; libvulkan is never linked, only its headers are used. */
#define VK_NO_PROTOTYPES
#include "bench_vulkan.h"
#include "bench_trace.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vulkan/vulkan.h>

#define SEED 0x76756c6b616e2101ull
#define SMALLEST 256u
#define LARGEST (1u << 20)

#define BENCH_VK_DEVICE_FUNCTIONS(X) \
    X(vkCreateBuffer)                \
    X(vkDestroyBuffer)               \
    X(vkGetBufferMemoryRequirements) \
    X(vkAllocateMemory)              \
    X(vkFreeMemory)                  \
    X(vkBindBufferMemory)            \
    X(vkMapMemory)                   \
    X(vkUnmapMemory)

typedef struct bench_vk {
    VkPhysicalDevice physical_device;
    VkDevice device;
    PFN_vkGetPhysicalDeviceMemoryProperties vkGetPhysicalDeviceMemoryProperties;
#define FIELD(name) PFN_##name name;
    BENCH_VK_DEVICE_FUNCTIONS(FIELD)
#undef FIELD
} bench_vk;

static const char *SECTION = "vulkan";

static int gpumem_failed(gpumem_result r, const char *what)
{
    fprintf(stderr, "gpumem-bench: vulkan: %s: %s: %s\n", what, gpumem_result_string(r),
            gpumem_last_error());
    return 1;
}

static int vk_failed(VkResult r, const char *what)
{
    fprintf(stderr, "gpumem-bench: vulkan: %s: VkResult %d\n", what, (int)r);
    return 1;
}

static int vk_load(gpumem_device device, bench_vk *vk)
{
    gpumem_external_device native;
    gpumem_result r = gpumem_device_native(device, &native);
    if (r != GPUMEM_OK)
        return gpumem_failed(r, "gpumem_device_native");
    PFN_vkGetInstanceProcAddr gipa = (PFN_vkGetInstanceProcAddr)native.get_instance_proc_addr;
    VkInstance instance = (VkInstance)(uintptr_t)native.instance;
    vk->physical_device = (VkPhysicalDevice)(uintptr_t)native.physical_device;
    vk->device = (VkDevice)(uintptr_t)native.device;
    PFN_vkGetDeviceProcAddr gdpa =
        gipa ? (PFN_vkGetDeviceProcAddr)gipa(instance, "vkGetDeviceProcAddr") : NULL;
    vk->vkGetPhysicalDeviceMemoryProperties =
        gipa ? (PFN_vkGetPhysicalDeviceMemoryProperties)gipa(instance,
                                                             "vkGetPhysicalDeviceMemoryProperties")
             : NULL;
    int ok = gdpa && vk->vkGetPhysicalDeviceMemoryProperties;
#define RESOLVE(name)                                           \
    vk->name = ok ? (PFN_##name)gdpa(vk->device, #name) : NULL; \
    ok = ok && vk->name;
    BENCH_VK_DEVICE_FUNCTIONS(RESOLVE)
#undef RESOLVE
    if (!ok)
        fprintf(stderr, "gpumem-bench: vulkan: cannot resolve the device's functions\n");
    return !ok;
}

/* --- the same memory type on both sides --- */

static uint32_t gpumem_flags_of(VkMemoryPropertyFlags f)
{
    return ((f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) ? GPUMEM_MEMORY_DEVICE_LOCAL : 0) |
           ((f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) ? GPUMEM_MEMORY_HOST_VISIBLE : 0) |
           ((f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) ? GPUMEM_MEMORY_HOST_COHERENT : 0) |
           ((f & VK_MEMORY_PROPERTY_HOST_CACHED_BIT) ? GPUMEM_MEMORY_HOST_CACHED : 0);
}

/* gpumem numbers only the types its buffers can use, so the Vulkan index of a gpumem type is
 * the first Vulkan type with the same flags and heap that such a buffer accepts. */
static int vk_type_of(const bench_vk *vk, const gpumem_device_properties *p, uint32_t type,
                      uint32_t buffer_bits, uint32_t *vk_type)
{
    VkPhysicalDeviceMemoryProperties m;
    vk->vkGetPhysicalDeviceMemoryProperties(vk->physical_device, &m);
    for (uint32_t i = 0; i < m.memoryTypeCount; i++)
        if ((buffer_bits & (1u << i)) &&
            gpumem_flags_of(m.memoryTypes[i].propertyFlags) == p->memory_types[type].flags &&
            m.memoryTypes[i].heapIndex == p->memory_types[type].heap_index) {
            *vk_type = i;
            return 0;
        }
    fprintf(stderr, "gpumem-bench: vulkan: no Vulkan memory type matches gpumem's type %u\n", type);
    return 1;
}

static VkResult vk_buffer(const bench_vk *vk, uint64_t size, VkBuffer *buffer,
                          VkMemoryRequirements *req)
{
    VkBufferCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                 VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = vk->vkCreateBuffer(vk->device, &info, NULL, buffer);
    if (r == VK_SUCCESS)
        vk->vkGetBufferMemoryRequirements(vk->device, *buffer, req);
    return r;
}

static int vk_type_for_pool(const bench_vk *vk, gpumem_device device, gpumem_pool pool,
                            uint32_t *vk_type)
{
    gpumem_device_properties p;
    gpumem_pool_stats stats;
    gpumem_result r = gpumem_device_properties_get(device, &p);
    if (r == GPUMEM_OK)
        r = gpumem_pool_stats_get(pool, &stats);
    if (r != GPUMEM_OK)
        return gpumem_failed(r, "pool memory type");
    VkBuffer probe;
    VkMemoryRequirements req;
    VkResult vr = vk_buffer(vk, 4096, &probe, &req);
    if (vr != VK_SUCCESS)
        return vk_failed(vr, "vkCreateBuffer");
    vk->vkDestroyBuffer(vk->device, probe, NULL);
    return vk_type_of(vk, &p, stats.memory_type, req.memoryTypeBits, vk_type);
}

/* --- (a) buffer create + destroy --- */

/* Sizes log-uniform in [SMALLEST, LARGEST], rounded to 16 bytes. */
static void random_sizes(uint64_t *sizes, uint32_t n)
{
    rng r = {SEED};
    for (uint32_t i = 0; i < n; i++) {
        /* 2^(8 + 12u): the exponent is uniform, so small and large sizes are both common */
        double u = rng_unit(&r);
        uint64_t size = ((uint64_t)exp2(8.0 + 12.0 * u) + 15) & ~15ull;
        sizes[i] = size < SMALLEST ? SMALLEST : size > LARGEST ? LARGEST : size;
    }
}

/* With `native`, each buffer's VkBuffer is asked for too, which creates and binds it (the
 * backend creates it on first use only). */
static int gpumem_round(gpumem_pool pool, const uint64_t *sizes, uint32_t n, int native,
                        gpumem_buffer *buffers, double *seconds)
{
    double start = bench_now();
    for (uint32_t i = 0; i < n; i++) {
        gpumem_buffer_desc desc = {.size = sizes[i]};
        gpumem_native_buffer handles;
        gpumem_result r = gpumem_buffer_create(pool, &desc, &buffers[i]);
        if (r == GPUMEM_OK && native &&
            (r = gpumem_buffer_native(buffers[i], &handles)) != GPUMEM_OK)
            gpumem_buffer_destroy(buffers[i]);
        if (r != GPUMEM_OK) {
            while (i--)
                gpumem_buffer_destroy(buffers[i]);
            return gpumem_failed(r, "gpumem_buffer_create");
        }
    }
    for (uint32_t i = 0; i < n; i++)
        gpumem_buffer_destroy(buffers[i]);
    *seconds = bench_now() - start;
    return 0;
}

typedef struct vk_allocation {
    VkBuffer buffer;
    VkDeviceMemory memory;
} vk_allocation;

static VkResult vk_create_one(const bench_vk *vk, uint64_t size, uint32_t type, vk_allocation *a)
{
    VkMemoryRequirements req;
    VkResult r = vk_buffer(vk, size, &a->buffer, &req);
    if (r != VK_SUCCESS)
        return r;
    VkMemoryAllocateInfo info = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                 .allocationSize = req.size,
                                 .memoryTypeIndex = type};
    if ((r = vk->vkAllocateMemory(vk->device, &info, NULL, &a->memory)) != VK_SUCCESS) {
        vk->vkDestroyBuffer(vk->device, a->buffer, NULL);
        return r;
    }
    return vk->vkBindBufferMemory(vk->device, a->buffer, a->memory, 0);
}

static void vk_destroy_one(const bench_vk *vk, vk_allocation *a)
{
    vk->vkDestroyBuffer(vk->device, a->buffer, NULL);
    vk->vkFreeMemory(vk->device, a->memory, NULL);
}

static int vk_round(const bench_vk *vk, uint32_t type, const uint64_t *sizes, uint32_t n,
                    vk_allocation *allocations, double *seconds)
{
    double start = bench_now();
    for (uint32_t i = 0; i < n; i++) {
        VkResult r = vk_create_one(vk, sizes[i], type, &allocations[i]);
        if (r != VK_SUCCESS) {
            while (i--)
                vk_destroy_one(vk, &allocations[i]);
            return vk_failed(r, "vkAllocateMemory/vkCreateBuffer/vkBindBufferMemory");
        }
    }
    for (uint32_t i = 0; i < n; i++)
        vk_destroy_one(vk, &allocations[i]);
    *seconds = bench_now() - start;
    return 0;
}

typedef struct create_run {
    uint32_t count;
    uint64_t *sizes;
    gpumem_buffer *buffers;
    vk_allocation *allocations;
    double *gpumem_seconds;
    double *native_seconds;
    double *vk_seconds;
} create_run;

/* Rounds alternate between the two sides, so drift in the machine hits both alike. */
static int create_rounds(const bench_vk *vk, gpumem_pool pool, uint32_t type, create_run *run,
                         const bench_options *options)
{
    int status = 0;
    uint32_t repeats = options->repeats ? options->repeats : 1;
    bench_progress(options, "vulkan create/destroy", 0, repeats);
    for (uint32_t i = 0; i < repeats && !status; i++) {
        status =
            gpumem_round(pool, run->sizes, run->count, 0, run->buffers, &run->gpumem_seconds[i]);
        if (!status)
            status = gpumem_round(pool, run->sizes, run->count, 1, run->buffers,
                                  &run->native_seconds[i]);
        if (!status)
            status =
                vk_round(vk, type, run->sizes, run->count, run->allocations, &run->vk_seconds[i]);
        bench_progress(options, "vulkan create/destroy", i + 1, repeats);
    }
    return status;
}

static int bench_create_destroy(gpumem_device device, const bench_vk *vk,
                                const bench_options *options)
{
    create_run run = {.count = options->quick ? 500 : 4000};
    uint32_t repeats = options->repeats ? options->repeats : 1;
    run.sizes = malloc(run.count * sizeof *run.sizes);
    run.buffers = malloc(run.count * sizeof *run.buffers);
    run.allocations = malloc(run.count * sizeof *run.allocations);
    run.gpumem_seconds = malloc(repeats * sizeof(double));
    run.native_seconds = malloc(repeats * sizeof(double));
    run.vk_seconds = malloc(repeats * sizeof(double));
    /* Each round frees every buffer, which a pool in steady use never does: keeping the empty
     * pages measures the steady state rather than page allocation, which the first round
     * (and the median's outliers) still pay. Pages are the default size. */
    gpumem_pool_desc desc = {.name = "bench-vulkan", .max_empty_pages = 1024};
    gpumem_pool pool = NULL;
    uint32_t type = 0;
    gpumem_result r = gpumem_pool_create(device, &desc, &pool);
    int status = !run.sizes || !run.buffers || !run.allocations || !run.gpumem_seconds ||
                 !run.native_seconds || !run.vk_seconds;
    if (status)
        bench_out_of_memory("vulkan: create and destroy timings");
    else if (r != GPUMEM_OK)
        status = gpumem_failed(r, "gpumem_pool_create");
    if (!status)
        status = vk_type_for_pool(vk, device, pool, &type);
    if (!status) {
        random_sizes(run.sizes, run.count);
        status = create_rounds(vk, pool, type, &run, options);
    }
    if (!status) {
        double g = bench_median(run.gpumem_seconds, repeats) / run.count * 1e9;
        double n = bench_median(run.native_seconds, repeats) / run.count * 1e9;
        double v = bench_median(run.vk_seconds, repeats) / run.count * 1e9;
        bench_result(options, SECTION, "create_destroy_gpumem", g, "ns/pair");
        bench_result(options, SECTION, "create_native_destroy_gpumem", n, "ns/pair");
        bench_result(options, SECTION, "create_destroy_vulkan", v, "ns/pair");
        bench_result(options, SECTION, "create_destroy_speedup", v / g, "x");
        bench_result(options, SECTION, "create_native_destroy_speedup", v / n, "x");
    }
    if (pool)
        gpumem_pool_destroy(pool);
    free(run.vk_seconds);
    free(run.native_seconds);
    free(run.gpumem_seconds);
    free(run.allocations);
    free(run.buffers);
    free(run.sizes);
    return status;
}

/* --- (b) write and read bandwidth --- */

typedef struct bandwidth {
    uint64_t size;
    unsigned char *host;
    gpumem_pool pool;
    gpumem_buffer buffer;
    VkDeviceMemory memory; /* the plain side: one allocation of the pool's type, mapped */
    unsigned char *mapped;
} bandwidth;

/* Host-visible memory, so that both sides are one host copy into the same kind of memory;
 * device-local is preferred where the host can also see it. */
static int bandwidth_open(gpumem_device device, const bench_vk *vk, bandwidth *b)
{
    gpumem_pool_desc desc = {.required_flags = GPUMEM_MEMORY_HOST_VISIBLE,
                             .preferred_flags = GPUMEM_MEMORY_DEVICE_LOCAL,
                             .name = "bench-vulkan-bandwidth"};
    gpumem_buffer_desc buffer_desc = {.size = b->size};
    gpumem_result r = gpumem_pool_create(device, &desc, &b->pool);
    if (r == GPUMEM_OK)
        r = gpumem_buffer_create(b->pool, &buffer_desc, &b->buffer);
    if (r != GPUMEM_OK)
        return gpumem_failed(r, "bandwidth buffer");
    uint32_t type;
    if (vk_type_for_pool(vk, device, b->pool, &type))
        return 1;
    VkMemoryAllocateInfo info = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                 .allocationSize = b->size,
                                 .memoryTypeIndex = type};
    VkResult vr = vk->vkAllocateMemory(vk->device, &info, NULL, &b->memory);
    if (vr == VK_SUCCESS)
        vr = vk->vkMapMemory(vk->device, b->memory, 0, VK_WHOLE_SIZE, 0, (void **)&b->mapped);
    if (vr != VK_SUCCESS)
        return vk_failed(vr, "vkAllocateMemory/vkMapMemory");
    if (!(b->host = malloc(b->size)))
        return bench_out_of_memory("vulkan: host memory to copy");
    memset(b->host, 0x5a, b->size);
    return 0;
}

static void bandwidth_close(const bench_vk *vk, bandwidth *b)
{
    if (b->mapped)
        vk->vkUnmapMemory(vk->device, b->memory);
    if (b->memory)
        vk->vkFreeMemory(vk->device, b->memory, NULL);
    if (b->pool)
        gpumem_pool_destroy(b->pool);
    free(b->host);
}

enum { WRITE_GPUMEM, READ_GPUMEM, WRITE_MEMCPY, READ_MEMCPY };

static gpumem_result bandwidth_once(bandwidth *b, int kind)
{
    switch (kind) {
    case WRITE_GPUMEM:
        return gpumem_buffer_write(b->buffer, 0, b->host, b->size);
    case READ_GPUMEM:
        return gpumem_buffer_read(b->buffer, 0, b->host, b->size);
    case WRITE_MEMCPY:
        memcpy(b->mapped, b->host, b->size);
        return GPUMEM_OK;
    default:
        memcpy(b->host, b->mapped, b->size);
        return GPUMEM_OK;
    }
}

/* GB/s of each kind. One untimed run of each first (it takes the page faults of first touch);
 * then the kinds take turns in every round, so that drift in a busy machine hits all alike,
 * and each reports the median of its rounds. */
static int bandwidth_rounds(bandwidth *b, const bench_options *options, double *seconds[4])
{
    uint32_t repeats = options->repeats ? options->repeats : 1;
    gpumem_result r = GPUMEM_OK;
    for (int kind = 0; kind < 4 && r == GPUMEM_OK; kind++)
        r = bandwidth_once(b, kind);
    for (uint32_t i = 0; i < repeats && r == GPUMEM_OK; i++) {
        for (int kind = 0; kind < 4 && r == GPUMEM_OK; kind++) {
            double start = bench_now();
            r = bandwidth_once(b, kind);
            seconds[kind][i] = bench_now() - start;
        }
        bench_progress(options, "vulkan bandwidth", i + 1, repeats);
    }
    return r == GPUMEM_OK ? 0 : gpumem_failed(r, "gpumem_buffer_write/read");
}

static void report_bandwidth(const bench_options *options, const double gbs[4])
{
    bench_result(options, SECTION, "write_gpumem", gbs[WRITE_GPUMEM], "GB/s");
    bench_result(options, SECTION, "write_memcpy", gbs[WRITE_MEMCPY], "GB/s");
    bench_result(options, SECTION, "write_ratio", 100.0 * gbs[WRITE_GPUMEM] / gbs[WRITE_MEMCPY],
                 "%");
    bench_result(options, SECTION, "read_gpumem", gbs[READ_GPUMEM], "GB/s");
    bench_result(options, SECTION, "read_memcpy", gbs[READ_MEMCPY], "GB/s");
    bench_result(options, SECTION, "read_ratio", 100.0 * gbs[READ_GPUMEM] / gbs[READ_MEMCPY], "%");
}

static int bench_bandwidth(gpumem_device device, const bench_vk *vk, const bench_options *options)
{
    bandwidth b = {.size = options->transfer_size ? options->transfer_size : 256ull << 20};
    uint32_t repeats = options->repeats ? options->repeats : 1;
    double *seconds[4];
    for (int kind = 0; kind < 4; kind++)
        seconds[kind] = malloc(repeats * sizeof(double));
    int status = !seconds[0] || !seconds[1] || !seconds[2] || !seconds[3];
    if (status)
        bench_out_of_memory("vulkan: bandwidth timings");
    if (!status)
        status = bandwidth_open(device, vk, &b);
    if (!status)
        status = bandwidth_rounds(&b, options, seconds);
    if (!status) {
        double gbs[4];
        for (int kind = 0; kind < 4; kind++)
            gbs[kind] = (double)b.size / bench_median(seconds[kind], repeats) * 1e-9;
        report_bandwidth(options, gbs);
    }
    bandwidth_close(vk, &b);
    for (int kind = 0; kind < 4; kind++)
        free(seconds[kind]);
    return status;
}

int bench_vulkan(gpumem_device device, const bench_options *options)
{
    bench_vk vk;
    if (vk_load(device, &vk))
        return 1;
    int created = bench_create_destroy(device, &vk, options);
    return bench_bandwidth(device, &vk, options) | created;
}
