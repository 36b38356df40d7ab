/* What only the CUDA backend has: native pools, CUDA streams and contexts shared with the
 * application, device pointers handed to the application's own driver calls, the
 * application's own cuMemAlloc'd memory imported, pitched images bound as textures and copied
 * by the driver's own 2D and 3D copies, clean failures
 * at the device's memory limit, and byte-exact pageable transfers through core's staging (from
 * two usable CPUs; on one, synchronous ones go to the driver's own copy).
 * Without a CUDA driver or device every test skips with the reason gpumem gives. */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <criterion/criterion.h>

#include "app.h"
#include "check.h"
#include "gpumem/gpumem.h"
#include "pattern.h"

#define MiB (1ull << 20)

/* --- helpers --- */

/* Skips only where CUDA is here without a driver or device (a device open answers
 * UNAVAILABLE); a refused module, a failed probe or a failed open fail. */
static void require_cuda(void)
{
    gpumem_backend_info info;
    OK(gpumem_backend_find("cuda", &info));
    cr_assert_not(info.refused, "the cuda module was refused: %s", info.reason);
    if (info.available)
        return;
    gpumem_device_desc desc = {.backend = "cuda"};
    gpumem_device device = NULL;
    gpumem_result r = gpumem_device_open(&desc, &device);
    if (r == GPUMEM_OK)
        OK(gpumem_device_close(device));
    if (r == GPUMEM_ERROR_UNAVAILABLE)
        cr_skip("no CUDA driver or device: %s", info.reason);
    cr_assert_fail("cuda is not available (%s), and a device open answers %s: %s", info.reason,
                   gpumem_result_string(r), gpumem_last_error());
}

static gpumem_device open_cuda(void)
{
    require_cuda();
    gpumem_device_desc desc = {.backend = "cuda"};
    gpumem_device device = NULL;
    OK(gpumem_device_open(&desc, &device));
    return device;
}

static gpumem_device_properties properties_of(gpumem_device device)
{
    gpumem_device_properties p;
    OK(gpumem_device_properties_get(device, &p));
    return p;
}

/* A paged pool of device memory only (memory type 0 on CUDA). */
static gpumem_pool device_pool(gpumem_device device)
{
    gpumem_pool_desc desc = {.required_flags = GPUMEM_MEMORY_DEVICE_LOCAL,
                             .flags = GPUMEM_POOL_EXACT_MATCH,
                             .name = "cuda-test"};
    gpumem_pool pool = NULL;
    OK(gpumem_pool_create(device, &desc, &pool));
    return pool;
}

static gpumem_buffer buffer_in(gpumem_pool pool, uint64_t size, uint32_t flags)
{
    gpumem_buffer_desc desc = {.size = size, .flags = flags};
    gpumem_buffer buffer = NULL;
    OK(gpumem_buffer_create(pool, &desc, &buffer));
    return buffer;
}

static void pattern(void *data, size_t size, uint32_t seed)
{
    test_pattern(data, size, seed);
}

static void *allocate(size_t size)
{
    void *p = malloc(size);
    cr_assert_not_null(p, "malloc(%zu)", size);
    return p;
}

static size_t first_difference(const void *a, const void *b, size_t size)
{
    const uint8_t *x = a, *y = b;
    for (size_t i = 0; i < size; i++)
        if (x[i] != y[i])
            return i;
    return size;
}

#define ASSERT_SAME(actual, expected, size, what)                                           \
    do {                                                                                    \
        size_t as_at_ = first_difference((actual), (expected), (size));                     \
        cr_assert_eq(as_at_, (size_t)(size), "%s: byte %zu of %zu differs", (what), as_at_, \
                     (size_t)(size));                                                       \
    } while (0)

static size_t count_not(const uint8_t *p, size_t size, uint8_t value)
{
    size_t n = 0;
    for (size_t i = 0; i < size; i++)
        n += p[i] != value;
    return n;
}

/* Makes the device's context current for the application's own calls. */
static CUcontext context_of(gpumem_device device)
{
    gpumem_external_device native;
    OK(gpumem_device_native(device, &native));
    cr_assert_neq(native.device, 0, "a CUDA device has a context");
    return (CUcontext)(uintptr_t)native.device;
}

/* --- memory types --- */

Test(cuda, memory_types_are_honest)
{
    gpumem_device device = open_cuda();
    gpumem_device_properties p = properties_of(device);
    cr_assert_str_eq(p.backend, "cuda");
    cr_assert_eq(p.vendor_id, 0x10de, "NVIDIA's PCI vendor id, got 0x%x", p.vendor_id);
    cr_assert_geq(p.memory_type_count, 2);
    cr_assert_eq(p.memory_types[0].flags, GPUMEM_MEMORY_DEVICE_LOCAL);
    cr_assert_eq(p.memory_heaps[p.memory_types[0].heap_index].flags, GPUMEM_MEMORY_DEVICE_LOCAL);
    /* Pinned host memory: host visible and coherent, in the host's heap. */
    cr_assert(p.memory_types[1].flags & GPUMEM_MEMORY_HOST_VISIBLE);
    cr_assert(p.memory_types[1].flags & GPUMEM_MEMORY_HOST_COHERENT);
    cr_assert_not(p.memory_types[1].flags & GPUMEM_MEMORY_DEVICE_LOCAL);
    cr_assert_eq(p.memory_heaps[p.memory_types[1].heap_index].flags, 0);
    cr_assert_eq(p.min_alignment % 256, 0);
    OK(gpumem_device_close(device));
}

/* A mapped buffer of a pinned pool is host memory the device reads directly. */
Test(cuda, pinned_pool_is_mapped_and_copied)
{
    gpumem_device device = open_cuda();
    gpumem_pool_desc desc = {.required_flags = GPUMEM_MEMORY_HOST_VISIBLE,
                             .preferred_flags = GPUMEM_MEMORY_HOST_CACHED,
                             .name = "pinned"};
    gpumem_pool pinned, local = device_pool(device);
    OK(gpumem_pool_create(device, &desc, &pinned));
    gpumem_buffer host = buffer_in(pinned, 3 * MiB, 0), dev = buffer_in(local, 3 * MiB, 0);
    uint8_t *mapped, *back = allocate(3 * MiB);
    OK(gpumem_buffer_map(host, (void **)&mapped));
    pattern(mapped, 3 * MiB, 7);
    OK(gpumem_buffer_copy(host, 0, dev, 0, 3 * MiB));
    OK(gpumem_buffer_read(dev, 0, back, 3 * MiB));
    ASSERT_SAME(back, mapped, 3 * MiB, "pinned to device");
    /* The mapping itself, as pinned memory, goes straight to the runtime. */
    OK(gpumem_buffer_fill(dev, 0, 3 * MiB, 0x5a5a5a5au));
    OK(gpumem_buffer_read(dev, 0, mapped, 3 * MiB));
    cr_assert_eq(count_not(mapped, 3 * MiB, 0x5a), 0);
    OK(gpumem_buffer_unmap(host));
    free(back);
    OK(gpumem_device_close(device));
}

/* --- native pools --- */

static gpumem_pool native_pool(gpumem_device device, uint64_t release_threshold)
{
    gpumem_pool_desc desc = {.kind = GPUMEM_POOL_NATIVE,
                             .release_threshold = release_threshold,
                             .name = "native"};
    gpumem_pool pool = NULL;
    OK(gpumem_pool_create(device, &desc, &pool));
    return pool;
}

static gpumem_pool_stats stats_of(gpumem_pool pool)
{
    gpumem_pool_stats s;
    OK(gpumem_pool_stats_get(pool, &s));
    return s;
}

/* Four 16 MiB allocations, each written and read back, then freed in stream order. */
static void churn(gpumem_device device, gpumem_pool pool)
{
    gpumem_buffer buffers[4];
    uint8_t *data = allocate(16 * MiB), *back = allocate(16 * MiB);
    for (int i = 0; i < 4; i++) {
        buffers[i] = buffer_in(pool, 16 * MiB, 0);
        pattern(data, 16 * MiB, (uint32_t)i);
        OK(gpumem_buffer_write(buffers[i], 0, data, 16 * MiB));
    }
    gpumem_pool_stats s = stats_of(pool);
    cr_assert_eq(s.kind, GPUMEM_POOL_NATIVE);
    cr_assert_geq(s.used_bytes, 64 * MiB, "used %llu", (unsigned long long)s.used_bytes);
    cr_assert_geq(s.reserved_bytes, s.used_bytes);
    for (int i = 3; i >= 0; i--) {
        pattern(data, 16 * MiB, (uint32_t)i);
        OK(gpumem_buffer_read(buffers[i], 0, back, 16 * MiB));
        ASSERT_SAME(back, data, 16 * MiB, "native pool buffer");
        OK(gpumem_buffer_destroy(buffers[i]));
    }
    gpumem_stream stream;
    OK(gpumem_device_default_stream(device, &stream));
    OK(gpumem_stream_synchronize(stream));
    free(data);
    free(back);
}

Test(cuda, native_pool_keeps_memory_below_its_release_threshold)
{
    gpumem_device device = open_cuda();
    if (!properties_of(device).native_pools)
        cr_skip("this device has no stream-ordered allocator");
    gpumem_pool pool = native_pool(device, 256 * MiB);
    churn(device, pool);
    gpumem_pool_stats s = stats_of(pool);
    cr_assert_eq(s.used_bytes, 0, "used %llu after every free", (unsigned long long)s.used_bytes);
    cr_assert_geq(s.reserved_bytes, 64 * MiB,
                  "a 256 MiB threshold keeps the freed 64 MiB (reserved %llu)",
                  (unsigned long long)s.reserved_bytes);
    /* Trimming a native pool releases only what lies above its threshold. */
    OK(gpumem_pool_trim(pool));
    cr_assert_geq(stats_of(pool).reserved_bytes, 64 * MiB);
    OK(gpumem_pool_destroy(pool));
    OK(gpumem_device_close(device));
}

Test(cuda, native_pool_without_threshold_gives_memory_back)
{
    gpumem_device device = open_cuda();
    if (!properties_of(device).native_pools)
        cr_skip("this device has no stream-ordered allocator");
    gpumem_pool pool = native_pool(device, 0);
    churn(device, pool);
    OK(gpumem_pool_trim(pool));
    gpumem_pool_stats s = stats_of(pool);
    cr_assert_eq(s.reserved_bytes, 0, "reserved %llu after trim",
                 (unsigned long long)s.reserved_bytes);
    /* And it still allocates afterwards. */
    churn(device, pool);
    OK(gpumem_pool_destroy(pool));
    OK(gpumem_device_close(device));
}

Test(cuda, native_pool_of_host_memory_is_refused)
{
    gpumem_device device = open_cuda();
    if (!properties_of(device).native_pools)
        cr_skip("this device has no stream-ordered allocator");
    gpumem_pool_desc desc = {.kind = GPUMEM_POOL_NATIVE,
                             .flags = GPUMEM_POOL_MEMORY_TYPE_INDEX,
                             .memory_type_index = 1};
    gpumem_pool pool;
    cr_assert_eq(gpumem_pool_create(device, &desc, &pool), GPUMEM_ERROR_UNSUPPORTED);
    cr_assert(strstr(gpumem_last_error(), "device memory"), "%s", gpumem_last_error());
    OK(gpumem_device_close(device));
}

/* A buffer destroyed on stream S while S's work on it is still queued, then a host's create
 * of the same size in that native pool. The runtime's default would let that create, made on
 * the device's default stream, take S's memory and have only that stream wait for S: a write on
 * a third stream would then race S's work. gpumem's native pools forbid such reuse
 * (gpurt_pool.c): the create gets other memory, or that memory once S's work is done. Three
 * sizes, S kept busy by 24 fills of the buffer. The H200's driver did not take that reuse with
 * the runtime's default either (docs/backends-cuda-hip.md): the test checks the bytes, and logs
 * which memory the create got. */
Test(cuda, native_pool_host_create_does_not_take_memory_a_stream_still_uses)
{
    gpumem_device device = open_cuda();
    if (!properties_of(device).native_pools)
        cr_skip("this device has no stream-ordered allocator");
    app_cuda cu;
    app_cuda_load(&cu);
    gpumem_pool pool = native_pool(device, 0);
    gpumem_stream s, u;
    uint64_t s_native;
    OK(gpumem_stream_create(device, &s));
    OK(gpumem_stream_create(device, &u));
    OK(gpumem_stream_native(s, &s_native));
    const uint64_t sizes[] = {MiB, 64 * MiB, 512 * MiB};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint64_t size = sizes[k];
        gpumem_buffer_desc desc = {.size = size};
        gpumem_buffer x, y;
        gpumem_native_buffer nx, ny;
        OK(gpumem_buffer_create_on_stream(pool, &desc, s, &x));
        OK(gpumem_buffer_native(x, &nx));
        for (int i = 0; i < 24; i++) /* S's work on X, long enough to be running below */
            CU_OK(cu.cuMemsetD8Async(nx.address, 0xaa, size, (CUstream)(uintptr_t)s_native));
        OK(gpumem_buffer_destroy_on_stream(x, s));
        OK(gpumem_buffer_create(pool, &desc, &y)); /* the host's */
        OK(gpumem_buffer_native(y, &ny));
        uint8_t *data = allocate(size), *back = allocate(size);
        pattern(data, size, (uint32_t)k + 7);
        OK(gpumem_stream_write(u, y, 0, data, size));
        OK(gpumem_stream_synchronize(u));
        OK(gpumem_stream_synchronize(s));
        OK(gpumem_buffer_read(y, 0, back, size));
        cr_log_info("%llu bytes: the host's create got %s memory", (unsigned long long)size,
                    ny.address == nx.address ? "the destroyed buffer's" : "other");
        ASSERT_SAME(back, data, size, "a host's create beside a stream's queued work");
        OK(gpumem_buffer_destroy(y));
        free(data);
        free(back);
    }
    OK(gpumem_stream_destroy(s));
    OK(gpumem_stream_destroy(u));
    OK(gpumem_pool_destroy(pool));
    OK(gpumem_device_close(device));
}

/* The per-thread default stream is another queue on each thread, and gpumem queues and waits
 * on a stream from other threads too: wrapping it is refused, saying why. The legacy default
 * stream (0) is one queue and is wrapped. */
Test(cuda, the_per_thread_default_stream_is_not_wrapped)
{
    gpumem_device device = open_cuda();
    gpumem_stream stream;
    cr_assert_eq(gpumem_stream_wrap(device, (uint64_t)(uintptr_t)CU_STREAM_PER_THREAD, &stream),
                 GPUMEM_ERROR_UNSUPPORTED);
    cr_assert(strstr(gpumem_last_error(), "per-thread"), "%s", gpumem_last_error());
    OK(gpumem_stream_wrap(device, 0, &stream));
    OK(gpumem_stream_destroy(stream));
    OK(gpumem_device_close(device));
}

/* --- streams --- */

/* Writes, a copy, a fill and reads on one stream, synchronized once at the end: each step
 * sees the one before. The 16 MiB pageable write goes through core's staging pipeline. */
Test(cuda, stream_runs_in_order)
{
    gpumem_device device = open_cuda();
    gpumem_pool pool = device_pool(device);
    gpumem_buffer a = buffer_in(pool, 16 * MiB, 0), b = buffer_in(pool, 16 * MiB, 0);
    gpumem_stream stream;
    uint64_t native = 0;
    OK(gpumem_stream_create(device, &stream));
    OK(gpumem_stream_native(stream, &native));
    cr_assert_neq(native, 0, "a CUstream");
    uint8_t *big = allocate(16 * MiB), *small = allocate(MiB);
    uint8_t *out_b = allocate(16 * MiB), *out_a = allocate(MiB);
    pattern(big, 16 * MiB, 1);
    pattern(small, MiB, 2);
    OK(gpumem_stream_write(stream, a, 0, big, 16 * MiB));
    OK(gpumem_stream_write(stream, a, 4096, small, MiB));
    OK(gpumem_stream_copy(stream, a, 0, b, 0, 16 * MiB));
    OK(gpumem_stream_fill(stream, a, 0, 16 * MiB, 0xdeadbeefu));
    OK(gpumem_stream_read(stream, b, 0, out_b, 16 * MiB));
    OK(gpumem_stream_read(stream, a, 8 * MiB, out_a, MiB));
    OK(gpumem_stream_synchronize(stream));
    memcpy(big + 4096, small, MiB);
    ASSERT_SAME(out_b, big, 16 * MiB, "copy of the two writes");
    for (size_t i = 0; i < MiB; i += 4)
        cr_assert_eq(*(uint32_t *)(out_a + i), 0xdeadbeefu, "fill at byte %zu", i);
    OK(gpumem_stream_destroy(stream));
    free(big);
    free(small);
    free(out_b);
    free(out_a);
    OK(gpumem_device_close(device));
}

/* The application's own work on gpumem's CUstream is ordered with gpumem's. */
Test(cuda, application_work_on_the_native_stream)
{
    gpumem_device device = open_cuda();
    app_cuda cu;
    app_cuda_load(&cu);
    gpumem_pool pool = device_pool(device);
    gpumem_buffer buffer = buffer_in(pool, MiB, 0);
    gpumem_native_buffer nb;
    gpumem_stream stream;
    uint64_t native;
    uint8_t *data = allocate(MiB), *back = allocate(MiB);
    OK(gpumem_buffer_native(buffer, &nb));
    OK(gpumem_stream_create(device, &stream));
    OK(gpumem_stream_native(stream, &native));
    pattern(data, MiB, 3);
    OK(gpumem_stream_write(stream, buffer, 0, data, MiB));
    CU_OK(cu.cuCtxPushCurrent_v2(context_of(device)));
    CU_OK(cu.cuMemsetD8Async(nb.address + 1000, 0x77, 24, (CUstream)(uintptr_t)native));
    CUcontext popped;
    CU_OK(cu.cuCtxPopCurrent_v2(&popped));
    OK(gpumem_stream_read(stream, buffer, 0, back, MiB));
    OK(gpumem_stream_synchronize(stream));
    memset(data + 1000, 0x77, 24);
    ASSERT_SAME(back, data, MiB, "gpumem write, application memset, gpumem read");
    OK(gpumem_stream_destroy(stream));
    free(data);
    free(back);
    OK(gpumem_device_close(device));
}

/* The application's own CUevent, recorded after slow work on its own stream, wrapped as a gpumem
 * event: a gpumem stream that waits for it reads what that work wrote last. */
Test(cuda, a_gpumem_stream_waits_for_an_application_event)
{
    gpumem_device device = open_cuda();
    app_cuda cu;
    app_cuda_load(&cu);
    gpumem_pool pool = device_pool(device);
    const size_t big = 256 * MiB;
    gpumem_buffer buffer = buffer_in(pool, big, 0);
    gpumem_native_buffer nb;
    OK(gpumem_buffer_native(buffer, &nb));
    gpumem_stream stream;
    OK(gpumem_stream_create(device, &stream));
    uint8_t *back = allocate(MiB);
    CU_OK(cu.cuCtxPushCurrent_v2(context_of(device)));
    CUstream theirs;
    CUevent written;
    CU_OK(cu.cuStreamCreate(&theirs, CU_STREAM_NON_BLOCKING));
    CU_OK(cu.cuEventCreate(&written, CU_EVENT_DISABLE_TIMING));
    CUcontext popped;
    for (int round = 1; round <= 4; round++) {
        /* Slow work first: a read that did not wait would see an earlier value. */
        for (int i = 0; i < 16; i++)
            CU_OK(cu.cuMemsetD8Async(nb.address, (unsigned char)(100 + i), big, theirs));
        CU_OK(cu.cuMemsetD8Async(nb.address, (unsigned char)round, MiB, theirs));
        CU_OK(cu.cuEventRecord(written, theirs));
        gpumem_event wrapped;
        OK(gpumem_event_wrap(device, (uint64_t)(uintptr_t)written, 0, &wrapped));
        OK(gpumem_stream_wait_event(stream, wrapped));
        OK(gpumem_stream_read(stream, buffer, 0, back, MiB));
        OK(gpumem_stream_synchronize(stream));
        for (size_t i = 0; i < MiB; i += 4099)
            cr_assert_eq(back[i], round, "round %d: byte %zu is %u: the read did not wait",
                         round, i, back[i]);
        OK(gpumem_event_destroy(wrapped));
    }
    gpumem_event bad;
    cr_assert_eq(gpumem_event_wrap(device, (uint64_t)(uintptr_t)written, 5, &bad),
                 GPUMEM_ERROR_INVALID_ARGUMENT);
    CU_OK(cu.cuStreamSynchronize(theirs));
    CU_OK(cu.cuEventDestroy_v2(written)); /* still the application's to destroy */
    CU_OK(cu.cuStreamDestroy_v2(theirs));
    CU_OK(cu.cuCtxPopCurrent_v2(&popped));
    OK(gpumem_stream_destroy(stream));
    free(back);
    OK(gpumem_device_close(device));
}

/* --- the application's context and pointers --- */

/* gpumem runs in the application's context, leaves the caller's current context as it was,
 * and does not destroy it on close. */
Test(cuda, bring_your_own_context)
{
    require_cuda();
    app_cuda cu;
    app_cuda_load(&cu);
    CUdevice cu_device;
    CUcontext context, current;
    CU_OK(cu.cuDeviceGet(&cu_device, 0));
    CU_OK(app_context_create(&cu, &context, cu_device)); /* and current on this thread */

    gpumem_external_device external = {.physical_device = 0,
                                       .device = (uint64_t)(uintptr_t)context};
    gpumem_device_desc desc = {.backend = "cuda", .external = &external};
    gpumem_device device;
    OK(gpumem_device_open(&desc, &device));
    cr_assert_eq(properties_of(device).is_external, 1);
    cr_assert_eq(context_of(device), context);

    gpumem_pool pool = device_pool(device);
    gpumem_buffer buffer = buffer_in(pool, MiB, 0);
    uint8_t *data = allocate(MiB), *back = allocate(MiB);
    pattern(data, MiB, 4);
    OK(gpumem_buffer_write(buffer, 0, data, MiB));
    CU_OK(cu.cuCtxGetCurrent(&current));
    cr_assert_eq(current, context, "gpumem restored the caller's context");
    CU_OK(cu.cuCtxPopCurrent_v2(&current)); /* now none is current */
    OK(gpumem_buffer_read(buffer, 0, back, MiB));
    ASSERT_SAME(back, data, MiB, "in the application's context");
    CU_OK(cu.cuCtxGetCurrent(&current));
    cr_assert_null(current, "gpumem left its context current");
    OK(gpumem_device_close(device));

    CUdeviceptr p;
    CU_OK(cu.cuCtxPushCurrent_v2(context));
    CU_OK(cu.cuMemAlloc_v2(&p, MiB));
    CU_OK(cu.cuMemFree_v2(p));
    CU_OK(cu.cuCtxPopCurrent_v2(&current));
    CU_OK(cu.cuCtxDestroy_v2(context));
    free(data);
    free(back);
}

/* The CUdeviceptr gpumem gives is the buffer's first byte, usable by the application's own
 * driver calls; the neighbouring buffer stays untouched. */
Test(cuda, native_address_in_application_calls)
{
    gpumem_device device = open_cuda();
    app_cuda cu;
    app_cuda_load(&cu);
    gpumem_pool pool = device_pool(device);
    gpumem_buffer first = buffer_in(pool, 4096, 0), second = buffer_in(pool, MiB, 0);
    gpumem_native_buffer n1, n2;
    OK(gpumem_buffer_native(first, &n1));
    OK(gpumem_buffer_native(second, &n2));
    cr_assert_eq(n2.address, n2.memory + n2.offset);
    cr_assert_eq(n2.address % 256, 0);
    OK(gpumem_buffer_fill(first, 0, 4096, 0x11111111u));
    CUcontext popped;
    CU_OK(cu.cuCtxPushCurrent_v2(context_of(device)));
    CU_OK(cu.cuMemsetD8_v2(n2.address, 0xab, MiB));
    CU_OK(cu.cuCtxSynchronize());
    CU_OK(cu.cuCtxPopCurrent_v2(&popped));
    uint8_t *back = allocate(MiB);
    OK(gpumem_buffer_read(second, 0, back, MiB));
    cr_assert_eq(count_not(back, MiB, 0xab), 0, "the application's memset through gpumem");
    OK(gpumem_buffer_read(first, 0, back, 4096));
    cr_assert_eq(count_not(back, 4096, 0x11), 0, "the other buffer");
    free(back);
    OK(gpumem_device_close(device));
}

/* --- what gpumem-info shows --- */

/* The UUID is the driver's (as nvidia-smi shows it), the driver's version the kernel module's,
 * the API version the CUDA the driver supports, the PCI address the device's. */
Test(cuda, properties_name_the_device_as_the_driver_does)
{
    gpumem_device device = open_cuda();
    app_cuda cu;
    app_cuda_load(&cu);
    gpumem_device_properties p = properties_of(device);
    CUdevice ordinal;
    CUuuid uuid;
    CU_OK(cu.cuDeviceGet(&ordinal, 0));
    CU_OK(cu.cuDeviceGetUuid_v2(&uuid, ordinal));
    cr_assert_eq(p.has_uuid, 1);
    cr_assert_eq(memcmp(p.uuid, uuid.bytes, 16), 0, "the UUID of cuDeviceGetUuid");
    cr_assert(strncmp(p.api_version, "CUDA ", 5) == 0, "%s", p.api_version);
    cr_assert_neq(p.pci_address[0], 0);
    FILE *module = fopen("/sys/module/nvidia/version", "r");
    if (module) {
        char version[64] = {0};
        cr_assert(fgets(version, sizeof version, module));
        fclose(module);
        version[strcspn(version, "\n")] = 0;
        char expected[80];
        snprintf(expected, sizeof expected, "NVIDIA %s", version);
        cr_assert_str_eq(p.driver_version, expected);
    }
    OK(gpumem_device_close(device));
}

/* --- pitched images --- */

static int device_attribute(const app_cuda *cu, CUdevice_attribute which)
{
    CUdevice device;
    int value = 0;
    CU_OK(cu->cuDeviceGet(&device, 0));
    CU_OK(cu->cuDeviceGetAttribute(&value, which, device));
    return value;
}

/* A level of a layer of a 2D image is what CUDA calls pitched 2D memory: the driver binds it
 * as a texture (which checks the base and pitch alignment) and its 2D copies read what gpumem
 * wrote, and write what gpumem then reads. */
Test(cuda, pitched_2d_images_are_textures_and_cuda_2d_copies_agree)
{
    gpumem_device device = open_cuda();
    app_cuda cu;
    app_cuda_load(&cu);
    gpumem_device_properties p = properties_of(device);
    cr_assert_eq(p.image_pitch_alignment,
                 (uint64_t)device_attribute(&cu, CU_DEVICE_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT));
    cr_assert_geq(p.image_base_alignment,
                  (uint64_t)device_attribute(&cu, CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT));
    gpumem_pool pool = device_pool(device);
    gpumem_buffer before = buffer_in(pool, 1000, 0); /* the image does not start the page */
    gpumem_image_desc desc = {.type = GPUMEM_IMAGE_2D, .format = GPUMEM_FORMAT_R32_SFLOAT,
                              .width = 1001, .height = 333, .array_layers = 2, .mip_levels = 3};
    gpumem_image image;
    OK(gpumem_image_create(pool, &desc, &image));
    gpumem_native_image native;
    OK(gpumem_image_native(image, &native));
    CUcontext popped;
    CU_OK(cu.cuCtxPushCurrent_v2(context_of(device)));
    for (uint32_t level = 0; level < 3; level++)
        for (uint32_t layer = 0; layer < 2; layer++) {
            uint32_t w = 1001 >> level, h = 333 >> level;
            size_t bytes = (size_t)w * h * 4;
            uint8_t *data = allocate(bytes), *back = allocate(bytes);
            pattern(data, bytes, level * 2 + layer);
            gpumem_image_region box = {.mip_level = level, .base_layer = layer, .width = w,
                                       .height = h};
            OK(gpumem_image_write(image, &box, data));
            gpumem_image_layout layout;
            OK(gpumem_image_layout_get(image, level, &layout));
            CUdeviceptr at = native.address + layout.offset + layer * layout.layer_pitch;
            CUDA_RESOURCE_DESC resource = {.resType = CU_RESOURCE_TYPE_PITCH2D};
            resource.res.pitch2D.devPtr = at;
            resource.res.pitch2D.format = CU_AD_FORMAT_FLOAT;
            resource.res.pitch2D.numChannels = 1;
            resource.res.pitch2D.width = w;
            resource.res.pitch2D.height = h;
            resource.res.pitch2D.pitchInBytes = layout.row_pitch;
            CUDA_TEXTURE_DESC sampling = {.filterMode = CU_TR_FILTER_MODE_POINT};
            CUtexObject texture;
            CU_OK(cu.cuTexObjectCreate(&texture, &resource, &sampling, NULL));
            CU_OK(cu.cuTexObjectDestroy(texture));
            CUDA_MEMCPY2D copy = {.srcMemoryType = CU_MEMORYTYPE_DEVICE,
                                  .srcDevice = at,
                                  .srcPitch = layout.row_pitch,
                                  .dstMemoryType = CU_MEMORYTYPE_HOST,
                                  .dstHost = back,
                                  .dstPitch = (size_t)w * 4,
                                  .WidthInBytes = (size_t)w * 4,
                                  .Height = h};
            CU_OK(cu.cuMemcpy2D_v2(&copy));
            ASSERT_SAME(back, data, bytes, "cuMemcpy2D of what gpumem wrote");
            /* The other way: the driver writes a box, gpumem reads it. */
            pattern(data, bytes, 100 + level * 2 + layer);
            copy = (CUDA_MEMCPY2D){.srcMemoryType = CU_MEMORYTYPE_HOST,
                                   .srcHost = data,
                                   .srcPitch = (size_t)w * 4,
                                   .dstMemoryType = CU_MEMORYTYPE_DEVICE,
                                   .dstDevice = at,
                                   .dstPitch = layout.row_pitch,
                                   .WidthInBytes = (size_t)w * 4,
                                   .Height = h};
            CU_OK(cu.cuMemcpy2D_v2(&copy));
            /* From pageable memory the copy may return before its DMA lands, and gpumem's
             * streams do not wait for the legacy stream: the application waits first. */
            CU_OK(cu.cuCtxSynchronize());
            OK(gpumem_image_read(image, &box, back));
            ASSERT_SAME(back, data, bytes, "gpumem's read of what cuMemcpy2D wrote");
            free(data);
            free(back);
        }
    CU_OK(cu.cuCtxPopCurrent_v2(&popped));
    OK(gpumem_buffer_destroy(before));
    OK(gpumem_image_destroy(image));
    OK(gpumem_device_close(device));
}

/* A 3D image is CUDA's pitched 3D memory: cuMemcpy3D reads a box of it as gpumem wrote it,
 * and gpumem's copy of a box into a second image lands where cuMemcpy3D finds it. */
Test(cuda, pitched_3d_images_agree_with_cuda_3d_copies)
{
    gpumem_device device = open_cuda();
    app_cuda cu;
    app_cuda_load(&cu);
    gpumem_pool pool = device_pool(device);
    gpumem_image_desc desc = {.type = GPUMEM_IMAGE_3D, .format = GPUMEM_FORMAT_R8G8B8A8_UINT,
                              .width = 77, .height = 41, .depth = 13};
    gpumem_image a, b;
    OK(gpumem_image_create(pool, &desc, &a));
    OK(gpumem_image_create(pool, &desc, &b));
    size_t bytes = 77u * 41 * 13 * 4;
    uint8_t *data = allocate(bytes), *back = allocate(bytes);
    pattern(data, bytes, 7);
    gpumem_image_region all = {.width = 77, .height = 41, .depth = 13};
    OK(gpumem_image_write(a, &all, data));
    gpumem_image_region box = {.x = 5, .y = 3, .z = 2, .width = 60, .height = 30, .depth = 9};
    gpumem_image_region to = {.x = 10, .y = 7, .z = 1};
    OK(gpumem_image_copy(a, &box, b, &to));
    gpumem_image_layout layout;
    OK(gpumem_image_layout_get(b, 0, &layout));
    gpumem_native_image native;
    OK(gpumem_image_native(b, &native));
    CUcontext popped;
    CU_OK(cu.cuCtxPushCurrent_v2(context_of(device)));
    CUDA_MEMCPY3D copy = {.srcXInBytes = 10 * 4,
                          .srcY = 7,
                          .srcZ = 1,
                          .srcMemoryType = CU_MEMORYTYPE_DEVICE,
                          .srcDevice = native.address + layout.offset,
                          .srcPitch = layout.row_pitch,
                          .srcHeight = 41,
                          .dstMemoryType = CU_MEMORYTYPE_HOST,
                          .dstHost = back,
                          .dstPitch = 60 * 4,
                          .dstHeight = 30,
                          .WidthInBytes = 60 * 4,
                          .Height = 30,
                          .Depth = 9};
    CU_OK(cu.cuMemcpy3D_v2(&copy));
    CU_OK(cu.cuCtxPopCurrent_v2(&popped));
    for (uint32_t z = 0; z < 9; z++)
        for (uint32_t y = 0; y < 30; y++)
            ASSERT_SAME(back + ((size_t)z * 30 + y) * 240,
                        data + (((size_t)(z + 2) * 41 + y + 3) * 77 + 5) * 4, 240,
                        "a row of the copied box, as cuMemcpy3D reads it");
    free(data);
    free(back);
    OK(gpumem_device_close(device));
}

/* --- the application's memory imported --- */

/* cuMemAlloc'd memory of the application's own context, imported into a pool of device memory
 * at an offset: transfers through gpumem land in it and the application's own calls see them;
 * pointers that are not this device's memory, or not 4-aligned, are refused; gpumem's destroy,
 * pool destroy and close leave it allocated, and the application's cuMemFree at the end
 * succeeds (it would fail for memory gpumem had freed). */
Test(cuda, application_memory_is_imported)
{
    require_cuda();
    app_cuda cu;
    app_cuda_load(&cu);
    CUdevice cu_device;
    CUcontext context, current;
    CU_OK(cu.cuDeviceGet(&cu_device, 0));
    CU_OK(app_context_create(&cu, &context, cu_device)); /* and current on this thread */
    CUdeviceptr memory;
    CU_OK(cu.cuMemAlloc_v2(&memory, 2 * MiB));
    CU_OK(cu.cuMemsetD8_v2(memory, 0xee, 2 * MiB));
    CU_OK(cu.cuCtxSynchronize());
    CU_OK(cu.cuCtxPopCurrent_v2(&current));

    gpumem_external_device external = {.device = (uint64_t)(uintptr_t)context};
    gpumem_device_desc desc = {.backend = "cuda", .external = &external};
    gpumem_device device;
    OK(gpumem_device_open(&desc, &device));
    gpumem_pool pool = device_pool(device);
    gpumem_import_desc range = {.address = memory + 4 * 1024 + 4, .size = MiB};
    gpumem_buffer imported;
    OK(gpumem_buffer_import(pool, &range, &imported));
    gpumem_native_buffer native;
    OK(gpumem_buffer_native(imported, &native));
    cr_assert_eq(native.address, range.address);

    uint8_t *data = allocate(MiB), *back = allocate(2 * MiB);
    pattern(data, MiB, 7);
    OK(gpumem_buffer_write(imported, 0, data, MiB));
    OK(gpumem_buffer_fill(imported, 4096, 4096, 0x01010101u));
    memset(data + 4096, 0x01, 4096);
    CU_OK(cu.cuCtxPushCurrent_v2(context));
    CU_OK(cu.cuMemcpyDtoH_v2(back, memory, 2 * MiB));
    CU_OK(cu.cuMemsetD8_v2(range.address + MiB / 2, 0xab, 16));
    CU_OK(cu.cuCtxSynchronize());
    CU_OK(cu.cuCtxPopCurrent_v2(&current));
    ASSERT_SAME(back + 4 * 1024 + 4, data, MiB, "gpumem's writes, read by the application");
    cr_assert_eq(count_not(back, 4 * 1024 + 4, 0xee), 0, "the bytes before the range");
    cr_assert_eq(count_not(back + 4 * 1024 + 4 + MiB, MiB - 4 * 1024 - 4, 0xee), 0,
                 "the bytes after the range");
    memset(data + MiB / 2, 0xab, 16);
    OK(gpumem_buffer_read(imported, 0, back, MiB));
    ASSERT_SAME(back, data, MiB, "the application's memset, read through gpumem");
    gpumem_buffer found;
    uint64_t offset;
    OK(gpumem_buffer_find(device, range.address + 100, &found, &offset));
    cr_assert_eq(found, imported);
    cr_assert_eq(offset, 100);

    /* Not device memory of this device, or not 4-aligned. */
    gpumem_buffer refused;
    gpumem_import_desc bad = {.address = (uint64_t)(uintptr_t)data, .size = 4096};
    cr_assert_eq(gpumem_buffer_import(pool, &bad, &refused), GPUMEM_ERROR_INVALID_ARGUMENT,
                 "pageable host memory as device memory: %s", gpumem_last_error());
    bad = (gpumem_import_desc){.address = memory + 2, .size = 4096};
    cr_assert_eq(gpumem_buffer_import(pool, &bad, &refused), GPUMEM_ERROR_INVALID_ARGUMENT,
                 "an address that is not 4-aligned: %s", gpumem_last_error());

    /* Every way an import ends leaves the memory allocated. */
    OK(gpumem_buffer_destroy(imported));
    OK(gpumem_buffer_import(pool, &range, &imported));
    OK(gpumem_pool_destroy(pool));
    pool = device_pool(device);
    OK(gpumem_buffer_import(pool, &range, &imported));
    OK(gpumem_buffer_fill(imported, 0, MiB, 0x5a5a5a5au));
    OK(gpumem_device_close(device));
    CU_OK(cu.cuCtxPushCurrent_v2(context));
    CU_OK(cu.cuMemcpyDtoH_v2(back, range.address, MiB));
    cr_assert_eq(count_not(back, MiB, 0x5a), 0, "the memory after gpumem closed");
    CU_OK(cu.cuMemFree_v2(memory));
    CU_OK(cu.cuCtxPopCurrent_v2(&current));
    CU_OK(cu.cuCtxDestroy_v2(context));
    free(data);
    free(back);
}

/* --- the memory limit --- */

/* An allocation of the whole device memory reaches cuMemAlloc and fails there (the context
 * already holds some); one past it is refused before. Both say out of device memory, and
 * the pool and the device keep working. */
Test(cuda, out_of_device_memory_is_clean)
{
    gpumem_device device = open_cuda();
    gpumem_device_properties p = properties_of(device);
    uint64_t total = p.memory_heaps[p.memory_types[0].heap_index].size;
    gpumem_pool pool = device_pool(device);
    gpumem_buffer_desc whole = {.size = total & ~(uint64_t)255, .flags = GPUMEM_BUFFER_DEDICATED};
    gpumem_buffer_desc past = {.size = total + (1ull << 30), .flags = GPUMEM_BUFFER_DEDICATED};
    gpumem_buffer buffer;
    gpumem_result r = gpumem_buffer_create(pool, &whole, &buffer);
    cr_assert_eq(r, GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY, "%llu bytes -> %s (%s)",
                 (unsigned long long)whole.size, gpumem_result_string(r), gpumem_last_error());
    cr_assert(strstr(gpumem_last_error(), "cuMemAlloc"), "%s", gpumem_last_error());
    r = gpumem_buffer_create(pool, &past, &buffer);
    cr_assert_eq(r, GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY, "%s", gpumem_last_error());

    buffer = buffer_in(pool, MiB, 0);
    uint8_t *data = allocate(MiB), *back = allocate(MiB);
    pattern(data, MiB, 5);
    OK(gpumem_buffer_write(buffer, 0, data, MiB));
    OK(gpumem_buffer_read(buffer, 0, back, MiB));
    ASSERT_SAME(back, data, MiB, "after running out");
    free(data);
    free(back);
    OK(gpumem_device_close(device));
}

/* --- host memory registration --- */

/* The path the last transfer took, as core's debug log says it ("direct", "staged"...). */
static char last_path[32];

static void remember_path(void *user, int32_t level, const char *message)
{
    (void)user;
    const char *at = strstr(message, "': ");
    if (level == GPUMEM_LOG_DEBUG && (!strncmp(message, "write of ", 9) ||
                                      !strncmp(message, "read of ", 8)) && at)
        snprintf(last_path, sizeof last_path, "%.*s", (int)strcspn(at + 3, " "), at + 3);
}

/* Pageable memory of 8 MiB and more is staged (where the process may use two CPUs or more: on
 * one it goes to the driver's own copy); registered, the same memory goes straight to the
 * driver's copies (DMA), which the driver sees as pinned; unregistered, it is staged again.
 * Bytes are checked every time. */
Test(cuda, registered_host_memory_goes_to_the_driver_unstaged)
{
    gpumem_device device = open_cuda();
    app_cuda cu;
    app_cuda_load(&cu);
    const uint64_t size = 40 * MiB;
    gpumem_pool pool = device_pool(device);
    gpumem_buffer buffer = buffer_in(pool, size, 0);
    uint8_t *host = allocate(size), *back = allocate(size);
    gpumem_log_set_callback(remember_path, NULL);
    cpu_set_t cpus;
    cr_assert_eq(sched_getaffinity(0, sizeof cpus, &cpus), 0);
    /* (gpumem also counts a container's CPU quota; this machine has none) */
    const char *pageable = CPU_COUNT(&cpus) >= 2 ? "staged" : "direct";
    const char *expected[] = {pageable, "direct", pageable};
    for (int round = 0; round < 3; round++) {
        gpumem_host_registration registration = NULL;
        if (round == 1)
            OK(gpumem_host_register(device, host, size, 0, &registration));
        pattern(host, size, 50 + (uint32_t)round);
        last_path[0] = 0; /* each transfer must say its own path */
        OK(gpumem_buffer_write(buffer, 0, host, size));
        cr_assert_str_eq(last_path, expected[round], "the write of round %d", round);
        OK(gpumem_buffer_read(buffer, 0, back, size));
        ASSERT_SAME(back, host, size, "written");
        memset(host, 0, size);
        last_path[0] = 0;
        OK(gpumem_buffer_read(buffer, 0, host, size));
        cr_assert_str_eq(last_path, expected[round], "the read of round %d", round);
        ASSERT_SAME(host, back, size, "read back");
        if (registration)
            OK(gpumem_host_unregister(registration));
    }
    gpumem_log_set_callback(NULL, NULL);
    /* A range CUDA has registered itself is refused by the driver, with its error named. */
    CUcontext popped;
    CU_OK(cu.cuCtxPushCurrent_v2(context_of(device)));
    CU_OK(cu.cuMemHostRegister_v2(host, MiB, CU_MEMHOSTREGISTER_PORTABLE));
    gpumem_host_registration twice;
    cr_assert_eq(gpumem_host_register(device, host, MiB, 0, &twice),
                 GPUMEM_ERROR_INVALID_ARGUMENT);
    char said[96];
    snprintf(said, sizeof said, "CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED for %llu bytes at %p",
             (unsigned long long)MiB, (void *)host);
    cr_assert(strstr(gpumem_last_error(), said), "%s", gpumem_last_error());
    CU_OK(cu.cuMemHostUnregister(host));
    CU_OK(cu.cuCtxPopCurrent_v2(&popped));
    free(host);
    free(back);
    OK(gpumem_device_close(device));
}

/* --- the registration cache --- */

/* What the log said of the last transfer's path, whole, and the cache's warnings. */
static char last_line[512], cache_warning[512];

static void remember_line(void *user, int32_t level, const char *message)
{
    remember_path(user, level, message);
    if (level == GPUMEM_LOG_DEBUG && (!strncmp(message, "write of ", 9) ||
                                      !strncmp(message, "read of ", 8)))
        snprintf(last_line, sizeof last_line, "%s", message);
    if (level == GPUMEM_LOG_WARNING && strstr(message, "GPUMEM_REGISTRATION_CACHE"))
        snprintf(cache_warning, sizeof cache_warning, "%s", message);
}

/* With GPUMEM_REGISTRATION_CACHE (libgpumem-memhooks is linked into this program), large
 * synchronous transfers of pageable memory go by DMA through registrations the cache made, and
 * stay byte-exact when the memory is freed and allocated again, usually at the same address: a
 * registration that outlived its memory would have the device read and write the pages the old
 * allocation had. Every transfer is checked, in both directions, over rounds of malloc and
 * free (each 48 MiB block is a mapping of its own, unmapped inside free). */
Test(cuda, registration_cache_stays_byte_exact_as_memory_comes_and_goes, .timeout = 240)
{
    setenv("GPUMEM_REGISTRATION_CACHE", "1073741824", 1);
    gpumem_device device = open_cuda();
    const uint64_t size = 48 * MiB;
    gpumem_pool pool = device_pool(device);
    gpumem_buffer buffer = buffer_in(pool, size, 0);
    uint8_t *back = allocate(size);
    gpumem_log_set_callback(remember_line, NULL);
    uintptr_t first_address = 0;
    int same_address = 0;
    for (int round = 0; round < 6; round++) {
        uint8_t *host = allocate(size);
        if (round == 0)
            first_address = (uintptr_t)host;
        same_address += round > 0 && (uintptr_t)host == first_address;
        for (int pass = 0; pass < 2; pass++) {
            pattern(host, size, 70 + (uint32_t)(round * 2 + pass));
            last_line[0] = 0;
            OK(gpumem_buffer_write(buffer, 0, host, size));
            cr_assert(strstr(last_line, "direct") && strstr(last_line, "registration cache"),
                      "round %d pass %d: the write went '%s' (%s)", round, pass, last_line,
                      cache_warning[0] ? cache_warning : "no warning from the cache");
            OK(gpumem_buffer_read(buffer, 0, back, size));
            char what[64];
            snprintf(what, sizeof what, "written in round %d pass %d", round, pass);
            ASSERT_SAME(back, host, size, what);
            memset(host, 0, size);
            OK(gpumem_buffer_read(buffer, 0, host, size));
            cr_assert(strstr(last_line, "registration cache"), "%s", last_line);
            snprintf(what, sizeof what, "read back in round %d pass %d", round, pass);
            ASSERT_SAME(host, back, size, what);
        }
        free(host);
    }
    gpumem_log_set_callback(NULL, NULL);
    cr_log_info("the allocation came back at its first address in %d of 5 rounds",
                same_address);
    free(back);
    OK(gpumem_device_close(device));
}

/* The runtime keys registrations by address: one the cache left in place after its memory went
 * would serve the next memory mapped there to every transfer that does not ask the cache (a
 * stream's, a small one, the application's own). So once the memory is unmapped, the runtime
 * holds nothing there: new memory mapped at that address registers (the runtime refuses memory
 * already registered), and a stream's write from it, which finds no registration, is exact. */
Test(cuda, registration_cache_leaves_nothing_registered_where_memory_went, .timeout = 120)
{
    setenv("GPUMEM_REGISTRATION_CACHE", "1073741824", 1);
    gpumem_device device = open_cuda();
    app_cuda cu;
    app_cuda_load(&cu);
    const uint64_t size = 48 * MiB;
    gpumem_pool pool = device_pool(device);
    gpumem_buffer buffer = buffer_in(pool, size, 0);
    gpumem_stream stream;
    OK(gpumem_stream_create(device, &stream));
    uint8_t *back = allocate(MiB);
    gpumem_log_set_callback(remember_line, NULL);
    for (int round = 0; round < 3; round++) {
        uint8_t *host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                             -1, 0);
        cr_assert_neq(host, MAP_FAILED);
        pattern(host, size, 90 + (uint32_t)round);
        last_line[0] = 0;
        OK(gpumem_buffer_write(buffer, 0, host, size));
        cr_assert(strstr(last_line, "registration cache"), "round %d: the write went '%s' (%s)",
                  round, last_line, cache_warning[0] ? cache_warning : "no cache warning");
        cr_assert_eq(munmap(host, size), 0);
        uint8_t *again = mmap(host, size, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (again == MAP_FAILED || again != host) {
            if (again != MAP_FAILED)
                munmap(again, size);
            cr_log_info("round %d: the address was taken meanwhile", round);
            continue;
        }
        pattern(again, size, 190 + (uint32_t)round);
        OK(gpumem_stream_write(stream, buffer, 0, again, MiB));
        OK(gpumem_stream_synchronize(stream));
        OK(gpumem_buffer_read(buffer, 0, back, MiB));
        ASSERT_SAME(back, again, MiB, "a stream's write from memory mapped where cached memory was");
        CUcontext popped;
        CU_OK(cu.cuCtxPushCurrent_v2(context_of(device)));
        CU_OK(cu.cuMemHostRegister_v2(again, size, CU_MEMHOSTREGISTER_PORTABLE));
        CU_OK(cu.cuMemHostUnregister(again));
        CU_OK(cu.cuCtxPopCurrent_v2(&popped));
        munmap(again, size);
    }
    gpumem_log_set_callback(NULL, NULL);
    free(back);
    OK(gpumem_stream_destroy(stream));
    OK(gpumem_device_close(device));
}

/* --- pageable transfers --- */

/* Odd sizes at odd offsets, from and to odd host addresses: exact, and nothing around the
 * range changes. Large ones go through core's staging pipeline (from two usable CPUs), small
 * ones straight to the driver; tests/cuda/meson.build also runs this with GPUMEM_STAGING=always in small chunks. */
Test(cuda, pageable_transfers_are_byte_exact, .timeout = 240)
{
    static const uint64_t sizes[] = {1, 4097, 33 * MiB + 7};
    static const uint64_t offsets[] = {1, 3, 255};
    const uint64_t guard = 300;
    gpumem_device device = open_cuda();
    gpumem_pool pool = device_pool(device);
    gpumem_buffer buffer = buffer_in(pool, 34 * MiB, 0);
    uint8_t *source = allocate(33 * MiB + 16), *back = allocate(33 * MiB + 2 * guard + 16);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (size_t o = 0; o < sizeof offsets / sizeof offsets[0]; o++) {
            uint64_t size = sizes[s], offset = offsets[o];
            uint64_t before = offset, after = guard;
            OK(gpumem_buffer_fill(buffer, 0, 34 * MiB, 0xa5a5a5a5u));
            pattern(source + 3, size, (uint32_t)(s * 3 + o));
            OK(gpumem_buffer_write(buffer, offset, source + 3, size));
            OK(gpumem_buffer_read(buffer, 0, back + 1, before + size + after));
            cr_assert_eq(count_not(back + 1, before, 0xa5), 0, "before %llu at %llu",
                         (unsigned long long)size, (unsigned long long)offset);
            ASSERT_SAME(back + 1 + before, source + 3, size, "the range");
            cr_assert_eq(count_not(back + 1 + before + size, after, 0xa5), 0,
                         "after %llu at %llu", (unsigned long long)size,
                         (unsigned long long)offset);
            /* And the range alone, read into an odd address. */
            memset(back, 0, size + 8);
            OK(gpumem_buffer_read(buffer, offset, back + 5, size));
            ASSERT_SAME(back + 5, source + 3, size, "the range read alone");
        }
    }
    free(source);
    free(back);
    OK(gpumem_device_close(device));
}

/* --- the wrapped default stream, synchronized from any thread and any context ---
 * Its handle, CU_STREAM_LEGACY, names the legacy stream of whichever context is current: the
 * wait must be made in gpumem's. */

/* No context is current on the test's thread (gpumem pops what it pushes, and the test
 * process made none current): synchronizing the wrapped default stream must still work. */
Test(cuda, a_wrapped_default_stream_synchronizes_with_no_context_current)
{
    gpumem_device device = open_cuda();
    app_cuda cu;
    app_cuda_load(&cu);
    CUcontext current = NULL;
    CU_OK(cu.cuCtxGetCurrent(&current));
    cr_assert_null(current, "the test needs a thread with no current context");
    gpumem_pool pool = device_pool(device);
    gpumem_buffer buffer = buffer_in(pool, MiB, 0);
    uint8_t *data = allocate(MiB), *back = allocate(MiB);
    pattern(data, MiB, 11);
    gpumem_stream stream;
    OK(gpumem_stream_wrap(device, 0, &stream)); /* CU_STREAM_LEGACY of gpumem's context */
    OK(gpumem_stream_write(stream, buffer, 0, data, MiB));
    OK(gpumem_stream_read(stream, buffer, 0, back, MiB));
    OK(gpumem_stream_synchronize(stream)); /* fails: cuStreamSynchronize: ..._INVALID_CONTEXT */
    ASSERT_SAME(back, data, MiB, "through the wrapped default stream");
    OK(gpumem_stream_destroy(stream));
    free(data);
    free(back);
    OK(gpumem_device_close(device));
}

/* Another context of the same device is current (as another GPU's context is in a multi-GPU
 * program): gpumem_stream_synchronize on the wrapped default stream must wait for gpumem's
 * context's legacy stream, not the caller's. Slow work of the application's queued first on
 * that stream; the read lands in registered memory, so the driver's copy is asynchronous. */
Test(cuda, a_wrapped_default_stream_waits_in_gpumems_context_not_the_callers)
{
    gpumem_device device = open_cuda();
    app_cuda cu;
    app_cuda_load(&cu);
    gpumem_pool pool = device_pool(device);
    const size_t big = 256 * MiB;
    gpumem_buffer buffer = buffer_in(pool, big, 0);
    gpumem_native_buffer nb;
    OK(gpumem_buffer_native(buffer, &nb));
    uint8_t *back = NULL;
    cr_assert_eq(posix_memalign((void **)&back, 4096, MiB), 0);
    gpumem_host_registration registration;
    OK(gpumem_host_register(device, back, MiB, 0, &registration));

    CUdevice cu_device;
    CUcontext other, popped;
    CU_OK(cu.cuDeviceGet(&cu_device, 0));
    CU_OK(app_context_create(&cu, &other, cu_device)); /* current on this thread */
    gpumem_stream stream;
    OK(gpumem_stream_wrap(device, 0, &stream));
    for (int round = 1; round <= 4; round++) {
        memset(back, 0, MiB);
        CU_OK(cu.cuCtxPushCurrent_v2(context_of(device)));
        for (int i = 0; i < 64; i++)
            CU_OK(cu.cuMemsetD8Async(nb.address, (unsigned char)(100 + i), big, CU_STREAM_LEGACY));
        CU_OK(cu.cuMemsetD8Async(nb.address, (unsigned char)round, MiB, CU_STREAM_LEGACY));
        CU_OK(cu.cuCtxPopCurrent_v2(&popped)); /* `other` is current again */
        OK(gpumem_stream_read(stream, buffer, 0, back, MiB));
        OK(gpumem_stream_synchronize(stream)); /* without the fix: waits for `other`'s stream */
        cr_assert_eq(count_not(back, MiB, (uint8_t)round), 0,
                     "round %d: the synchronize returned before gpumem's read landed", round);
    }
    OK(gpumem_stream_destroy(stream));
    OK(gpumem_host_unregister(registration));
    OK(gpumem_device_close(device));
    CU_OK(cu.cuCtxPopCurrent_v2(&popped));
    CU_OK(cu.cuCtxDestroy_v2(other));
    free(back);
}

/* The same from a thread of the application's that never touched CUDA: core may synchronize
 * a wrapped stream from any thread (backend.h, stream_wrap). */
static void *synchronize_on_a_fresh_thread(void *stream)
{
    return (void *)(uintptr_t)gpumem_stream_synchronize((gpumem_stream)stream);
}

Test(cuda, a_wrapped_default_stream_synchronizes_from_any_thread)
{
    gpumem_device device = open_cuda();
    gpumem_pool pool = device_pool(device);
    gpumem_buffer buffer = buffer_in(pool, MiB, 0);
    gpumem_stream stream;
    OK(gpumem_stream_wrap(device, 0, &stream));
    OK(gpumem_stream_fill(stream, buffer, 0, MiB, 0x01020304u));
    pthread_t thread;
    void *result = NULL;
    cr_assert_eq(pthread_create(&thread, NULL, synchronize_on_a_fresh_thread, stream), 0);
    cr_assert_eq(pthread_join(thread, &result), 0);
    cr_assert_eq((gpumem_result)(uintptr_t)result, GPUMEM_OK, "%s", gpumem_last_error());
    OK(gpumem_stream_destroy(stream));
    OK(gpumem_device_close(device));
}

/* --- what the pinned memory type imports ---
 * Its pages are mapped by handing out their address and filled by the device over the bus:
 * device memory or pageable memory there is refused. */
Test(cuda, memory_of_another_kind_is_not_imported_as_pinned_memory)
{
    gpumem_device device = open_cuda();
    app_cuda cu;
    app_cuda_load(&cu);
    gpumem_pool_desc desc = {.flags = GPUMEM_POOL_MEMORY_TYPE_INDEX, .memory_type_index = 1,
                             .name = "pinned"};
    gpumem_device_properties p;
    OK(gpumem_device_properties_get(device, &p));
    cr_assert(p.memory_types[1].flags & GPUMEM_MEMORY_HOST_VISIBLE);
    cr_assert_not(p.memory_types[1].flags & GPUMEM_MEMORY_DEVICE_LOCAL, "type 1 is pinned");
    gpumem_pool pinned;
    OK(gpumem_pool_create(device, &desc, &pinned));

    CUdeviceptr memory;
    CUcontext popped;
    CU_OK(cu.cuCtxPushCurrent_v2(context_of(device)));
    CU_OK(cu.cuMemAlloc_v2(&memory, MiB));
    CU_OK(cu.cuCtxPopCurrent_v2(&popped));
    gpumem_buffer refused;
    gpumem_import_desc as_pinned = {.address = memory, .size = MiB};
    cr_assert_eq(gpumem_buffer_import(pinned, &as_pinned, &refused),
                 GPUMEM_ERROR_INVALID_ARGUMENT, "device memory as pinned host memory: %s",
                 gpumem_last_error());

    void *pageable = allocate(MiB);
    as_pinned.address = (uint64_t)(uintptr_t)pageable;
    cr_assert_eq(gpumem_buffer_import(pinned, &as_pinned, &refused),
                 GPUMEM_ERROR_INVALID_ARGUMENT, "pageable memory as pinned host memory: %s",
                 gpumem_last_error());

    OK(gpumem_pool_destroy(pinned));
    CU_OK(cu.cuCtxPushCurrent_v2(context_of(device)));
    CU_OK(cu.cuMemFree_v2(memory));
    CU_OK(cu.cuCtxPopCurrent_v2(&popped));
    free(pageable);
    OK(gpumem_device_close(device));
}
