/* CUDA's gpurt table: each operation in the driver API's types and names. Adapters convert
 * types and choose flags; the logic that uses them is gpurt's. */
#include "cuda_table.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "cuda_driver.h"

static CUstream stream_of(void *stream)
{
    return (CUstream)stream;
}

/* --- devices --- */

static gpurt_status device_count(int *count)
{
    return CU(cuDeviceGetCount)(count);
}

static gpurt_status device_name(int ordinal, char *name, int size)
{
    CUdevice device;
    CUresult r = CU(cuDeviceGet)(&device, ordinal);
    return r != CUDA_SUCCESS ? r : CU(cuDeviceGetName)(name, size, device);
}

static gpurt_status device_total_memory(int ordinal, size_t *bytes)
{
    CUdevice device;
    CUresult r = CU(cuDeviceGet)(&device, ordinal);
    return r != CUDA_SUCCESS ? r : CU(cuDeviceTotalMem_v2)(bytes, device);
}

static const CUdevice_attribute attributes[] = {
    [GPURT_ATTRIBUTE_UNIFIED_ADDRESSING] = CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING,
    [GPURT_ATTRIBUTE_MANAGED_MEMORY] = CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY,
    [GPURT_ATTRIBUTE_CONCURRENT_MANAGED] = CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS,
    [GPURT_ATTRIBUTE_MEMORY_POOLS] = CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED,
    [GPURT_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT] = CU_DEVICE_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT,
    [GPURT_ATTRIBUTE_TEXTURE_ALIGNMENT] = CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT,
};

static gpurt_status device_attribute(int ordinal, gpurt_attribute attribute, int *value)
{
    CUdevice device;
    CUresult r = CU(cuDeviceGet)(&device, ordinal);
    return r != CUDA_SUCCESS ? r
                             : CU(cuDeviceGetAttribute)(value, attributes[attribute], device);
}

static gpurt_status device_pci_bus_id(int ordinal, char *bus_id, int size)
{
    CUdevice device;
    CUresult r = CU(cuDeviceGet)(&device, ordinal);
    return r != CUDA_SUCCESS ? r : CU(cuDeviceGetPCIBusId)(bus_id, size, device);
}

static gpurt_status device_uuid(int ordinal, uint8_t uuid[16])
{
    CUdevice device;
    CUuuid id;
    if (!GPURT_HAS(cuda_driver_functions, cuDeviceGetUuid_v2))
        return CUDA_ERROR_NOT_SUPPORTED;
    CUresult r = CU(cuDeviceGet)(&device, ordinal);
    if (r == CUDA_SUCCESS && (r = CU(cuDeviceGetUuid_v2)(&id, device)) == CUDA_SUCCESS)
        memcpy(uuid, id.bytes, 16);
    return r;
}

/* "CUDA 13.0": the CUDA version the driver supports, as cuDriverGetVersion encodes it. */
static gpurt_status driver_version(char *text, int size)
{
    int version = 0;
    if (!GPURT_HAS(cuda_driver_functions, cuDriverGetVersion))
        return CUDA_ERROR_NOT_SUPPORTED;
    CUresult r = CU(cuDriverGetVersion)(&version);
    if (r == CUDA_SUCCESS)
        snprintf(text, (size_t)size, "CUDA %d.%d", version / 1000, version % 1000 / 10);
    return r;
}

/* --- contexts: the primary one by default, as the runtime API shares it --- */

static gpurt_status context_open(int ordinal, void **context)
{
    CUdevice device;
    CUcontext c = NULL;
    CUresult r = CU(cuDeviceGet)(&device, ordinal);
    if (r == CUDA_SUCCESS)
        r = CU(cuDevicePrimaryCtxRetain)(&c, device);
    *context = c;
    return r;
}

static void context_close(int ordinal, void *context)
{
    CUdevice device;
    if (CU(cuDeviceGet)(&device, ordinal) == CUDA_SUCCESS)
        CU(cuDevicePrimaryCtxRelease_v2)(device);
}

static gpurt_status context_check(int ordinal, void *context)
{
    CUdevice expected, actual;
    CUcontext popped;
    CUresult r = CU(cuDeviceGet)(&expected, ordinal);
    if (r == CUDA_SUCCESS)
        r = CU(cuCtxPushCurrent_v2)((CUcontext)context);
    if (r != CUDA_SUCCESS)
        return r;
    r = CU(cuCtxGetDevice)(&actual);
    CU(cuCtxPopCurrent_v2)(&popped);
    return r == CUDA_SUCCESS && actual != expected ? CUDA_ERROR_INVALID_CONTEXT : r;
}

/* Contexts form a per-thread stack: pushing ours and popping it restores the caller's. */
static gpurt_status enter(int ordinal, void *context, gpurt_scope *scope)
{
    return CU(cuCtxPushCurrent_v2)((CUcontext)context);
}

static void leave(int ordinal, const gpurt_scope *scope)
{
    CUcontext popped;
    CU(cuCtxPopCurrent_v2)(&popped);
}

/* --- memory --- */

static gpurt_status malloc_device(uint64_t size, uint64_t *address)
{
    CUdeviceptr p = 0;
    CUresult r = CU(cuMemAlloc_v2)(&p, (size_t)size);
    *address = p;
    return r;
}

static gpurt_status free_device(uint64_t address)
{
    return CU(cuMemFree_v2)((CUdeviceptr)address);
}

/* Portable: usable from every context; device-mapped: one address for host and device. */
static gpurt_status malloc_host(uint64_t size, void **host)
{
    return CU(cuMemHostAlloc)(host, (size_t)size,
                              CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP);
}

static gpurt_status free_host(void *host)
{
    return CU(cuMemFreeHost)(host);
}

/* Portable: registered for every context, as gpumem's pinned pages are. */
static gpurt_status host_register(void *host, uint64_t size)
{
    return CU(cuMemHostRegister_v2)(host, (size_t)size, CU_MEMHOSTREGISTER_PORTABLE);
}

static gpurt_status host_unregister(void *host)
{
    return CU(cuMemHostUnregister)(host);
}

/* Read-only pins faster (docs/performance.md, "Twenty-eighth session"). Where a device cannot
 * (CU_DEVICE_ATTRIBUTE_READ_ONLY_HOST_REGISTER_SUPPORTED 0: the driver answers
 * CUDA_ERROR_NOT_SUPPORTED), plain registration from then on. */
static gpurt_status host_register_read_only(void *host, uint64_t size)
{
    static _Atomic int unsupported;
    if (!atomic_load_explicit(&unsupported, memory_order_relaxed)) {
        CUresult r = CU(cuMemHostRegister_v2)(host, (size_t)size,
                                              CU_MEMHOSTREGISTER_PORTABLE |
                                                  CU_MEMHOSTREGISTER_READ_ONLY);
        if (r != CUDA_ERROR_NOT_SUPPORTED)
            return r;
        atomic_store_explicit(&unsupported, 1, memory_order_relaxed);
    }
    return host_register(host, size);
}

static gpurt_status malloc_managed(uint64_t size, uint64_t *address)
{
    CUdeviceptr p = 0;
    CUresult r = CU(cuMemAllocManaged)(&p, (size_t)size, CU_MEM_ATTACH_GLOBAL);
    *address = p;
    return r;
}

static gpurt_status memory_info(size_t *free_bytes, size_t *total_bytes)
{
    return CU(cuMemGetInfo_v2)(free_bytes, total_bytes);
}

/* The memory type attribute covers cuMemHostAlloc'd and cuMemHostRegister'ed memory alike
 * (cuMemHostGetFlags knows only the former). The plural query answers "no type" for pageable
 * memory instead of failing, so asking does not count as an API error (compute-sanitizer
 * reports every failed call). */
static gpurt_status host_pointer(const void *host, int *pinned, uint64_t *allocation)
{
    unsigned int type = 0;
    unsigned long long id = 0;
    CUpointer_attribute asked[] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
                                   CU_POINTER_ATTRIBUTE_BUFFER_ID};
    void *data[] = {&type, &id};
    CUresult r = CU(cuPointerGetAttributes)(2, asked, data, (CUdeviceptr)(uintptr_t)host);
    *pinned = r == CUDA_SUCCESS && type == CU_MEMORYTYPE_HOST;
    *allocation = r == CUDA_SUCCESS ? id : 0;
    return r;
}

/* The plural query again: memory CUDA does not know gets no type instead of an error. */
static gpurt_status pointer_device(uint64_t address, int *ordinal)
{
    unsigned int type = 0;
    int device = -1;
    CUpointer_attribute asked[] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
                                   CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL};
    void *data[] = {&type, &device};
    CUresult r = CU(cuPointerGetAttributes)(2, asked, data, (CUdeviceptr)address);
    *ordinal = r == CUDA_SUCCESS && type == CU_MEMORYTYPE_DEVICE ? device : -1;
    return r;
}

/* --- streams and events --- */

/* Non-blocking: gpumem's streams must not wait for, or hold up, the application's work on the
 * legacy default stream. */
static gpurt_status stream_create(void **stream)
{
    return CU(cuStreamCreate)((CUstream *)stream, CU_STREAM_NON_BLOCKING);
}

static gpurt_status stream_destroy(void *stream)
{
    return CU(cuStreamDestroy_v2)(stream_of(stream));
}

static gpurt_status stream_synchronize(void *stream)
{
    return CU(cuStreamSynchronize)(stream_of(stream));
}

static gpurt_status event_create(void **event)
{
    return CU(cuEventCreate)((CUevent *)event, CU_EVENT_DISABLE_TIMING);
}

static gpurt_status event_destroy(void *event)
{
    return CU(cuEventDestroy_v2)((CUevent)event);
}

static gpurt_status event_record(void *event, void *stream)
{
    return CU(cuEventRecord)((CUevent)event, stream_of(stream));
}

static gpurt_status event_synchronize(void *event)
{
    return CU(cuEventSynchronize)((CUevent)event);
}

static gpurt_status stream_wait_event(void *stream, void *event)
{
    return CU(cuStreamWaitEvent)(stream_of(stream), (CUevent)event, 0);
}

/* --- work on a stream --- */

static gpurt_status copy(uint64_t destination, uint64_t source, uint64_t size, void *stream)
{
    return CU(cuMemcpyAsync)(destination, source, (size_t)size, stream_of(stream));
}

static gpurt_status copy_to_device(uint64_t destination, const void *source, uint64_t size,
                                   void *stream)
{
    return CU(cuMemcpyHtoDAsync_v2)(destination, source, (size_t)size, stream_of(stream));
}

static gpurt_status copy_to_host(void *destination, uint64_t source, uint64_t size,
                                 void *stream)
{
    return CU(cuMemcpyDtoHAsync_v2)(destination, source, (size_t)size, stream_of(stream));
}

static gpurt_status fill32(uint64_t destination, uint32_t pattern, uint64_t count, void *stream)
{
    return CU(cuMemsetD32Async)(destination, pattern, (size_t)count, stream_of(stream));
}

/* --- native pools --- */

static gpurt_status pool_create(int ordinal, void **pool)
{
    CUmemPoolProps properties = {
        .allocType = CU_MEM_ALLOCATION_TYPE_PINNED, /* "pinned" here means not migratable */
        .handleTypes = CU_MEM_HANDLE_TYPE_NONE,
        .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = ordinal},
    };
    /* Drivers before 11.2 lack the whole allocator (their device attribute says so too);
     * from 11.2 on every pool function is there, so one check guards them all. */
    if (!GPURT_HAS(cuda_driver_functions, cuMemPoolCreate))
        return CUDA_ERROR_NOT_SUPPORTED;
    return CU(cuMemPoolCreate)((CUmemoryPool *)pool, &properties);
}

static gpurt_status pool_destroy(void *pool)
{
    return CU(cuMemPoolDestroy)((CUmemoryPool)pool);
}

static const CUmemPool_attribute pool_attributes[] = {
    [GPURT_POOL_RELEASE_THRESHOLD] = CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
    [GPURT_POOL_RESERVED_CURRENT] = CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT,
    [GPURT_POOL_USED_CURRENT] = CU_MEMPOOL_ATTR_USED_MEM_CURRENT,
    [GPURT_POOL_REUSE_INTERNAL_DEPENDENCIES] = CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES,
};

static gpurt_status pool_set(void *pool, gpurt_pool_attribute attribute, uint64_t value)
{
    if (attribute == GPURT_POOL_REUSE_INTERNAL_DEPENDENCIES) { /* an int */
        int flag = value != 0;
        return CU(cuMemPoolSetAttribute)((CUmemoryPool)pool, pool_attributes[attribute], &flag);
    }
    cuuint64_t v = value;
    return CU(cuMemPoolSetAttribute)((CUmemoryPool)pool, pool_attributes[attribute], &v);
}

static gpurt_status pool_get(void *pool, gpurt_pool_attribute attribute, uint64_t *value)
{
    cuuint64_t v = 0;
    CUresult r = CU(cuMemPoolGetAttribute)((CUmemoryPool)pool, pool_attributes[attribute], &v);
    *value = v;
    return r;
}

static gpurt_status pool_trim(void *pool, uint64_t keep_bytes)
{
    return CU(cuMemPoolTrimTo)((CUmemoryPool)pool, (size_t)keep_bytes);
}

static gpurt_status pool_allocate(void *pool, uint64_t size, void *stream, uint64_t *address)
{
    CUdeviceptr p = 0;
    CUresult r = CU(cuMemAllocFromPoolAsync)(&p, (size_t)size, (CUmemoryPool)pool,
                                             stream_of(stream));
    *address = p;
    return r;
}

static gpurt_status pool_free(uint64_t address, void *stream)
{
    return CU(cuMemFreeAsync)((CUdeviceptr)address, stream_of(stream));
}

/* --- the table --- */

/* The driver's name of each gpurt_call, by name: the order of the enum cannot drift from it. */
static const char *const calls[GPURT_CALL_COUNT] = {
    [GPURT_CALL_DEVICE_COUNT] = "cuDeviceGetCount",
    [GPURT_CALL_DEVICE_QUERY] = "cuDeviceGetName/cuDeviceTotalMem",
    [GPURT_CALL_CONTEXT_OPEN] = "cuDevicePrimaryCtxRetain",
    [GPURT_CALL_CONTEXT_CHECK] = "cuCtxGetDevice",
    [GPURT_CALL_ENTER] = "cuCtxPushCurrent",
    [GPURT_CALL_MALLOC_DEVICE] = "cuMemAlloc",
    [GPURT_CALL_MALLOC_HOST] = "cuMemHostAlloc",
    [GPURT_CALL_HOST_REGISTER] = "cuMemHostRegister",
    [GPURT_CALL_MALLOC_MANAGED] = "cuMemAllocManaged",
    [GPURT_CALL_MEMORY_INFO] = "cuMemGetInfo",
    [GPURT_CALL_STREAM_CREATE] = "cuStreamCreate",
    [GPURT_CALL_STREAM_SYNCHRONIZE] = "cuStreamSynchronize",
    [GPURT_CALL_EVENT_CREATE] = "cuEventCreate",
    [GPURT_CALL_EVENT_RECORD] = "cuEventRecord",
    [GPURT_CALL_STREAM_WAIT_EVENT] = "cuStreamWaitEvent",
    [GPURT_CALL_EVENT_SYNCHRONIZE] = "cuEventSynchronize",
    [GPURT_CALL_COPY] = "cuMemcpyAsync",
    [GPURT_CALL_COPY_TO_DEVICE] = "cuMemcpyHtoDAsync",
    [GPURT_CALL_COPY_TO_HOST] = "cuMemcpyDtoHAsync",
    [GPURT_CALL_FILL] = "cuMemsetD32Async",
    [GPURT_CALL_POOL_CREATE] = "cuMemPoolCreate",
    [GPURT_CALL_POOL_ATTRIBUTE] = "cuMemPoolGetAttribute/cuMemPoolSetAttribute",
    [GPURT_CALL_POOL_TRIM] = "cuMemPoolTrimTo",
    [GPURT_CALL_POOL_ALLOCATE] = "cuMemAllocFromPoolAsync",
};
/* gpurt_probe refuses a table with a call left unnamed. */

const gpurt_runtime cuda_table = {
    .name = "CUDA", .calls = calls, .vendor_id = 0x10de,
    .default_stream_handle = (uint64_t)(uintptr_t)CU_STREAM_LEGACY,
    .per_thread_stream_handle = (uint64_t)(uintptr_t)CU_STREAM_PER_THREAD,
    .out_of_memory = CUDA_ERROR_OUT_OF_MEMORY, .load = cuda_driver_load,
    .already_registered = CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED,
    .invalid_value = CUDA_ERROR_INVALID_VALUE,
    .error_name = cuda_error_name, .context_check = context_check,
    .pointer_device = pointer_device, .driver_version = driver_version,
    .host_register_read_only = host_register_read_only,
    .device_uuid = device_uuid, .kernel_module = "nvidia", .kernel_driver_name = "NVIDIA",
    GPURT_RUNTIME_OPERATIONS,
};
