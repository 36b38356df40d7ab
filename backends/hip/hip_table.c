/* HIP's gpurt table. HIP has no contexts: a device is made current with hipSetDevice, and
 * device pointers are plain pointers, which unified addressing makes one with host ones.
 * Adapters convert types and choose flags; the logic that uses them is gpurt's. */
#include "hip_table.h"

#include <stdio.h>
#include <string.h>

#include "hip_library.h"

static void *pointer(uint64_t address)
{
    return (void *)(uintptr_t)address;
}

static uint64_t address_of(const void *p)
{
    return (uint64_t)(uintptr_t)p;
}

/* --- devices: a hipDevice_t is the ordinal itself --- */

static gpurt_status device_count(int *count)
{
    return HIP(hipGetDeviceCount)(count);
}

static gpurt_status device_name(int ordinal, char *name, int size)
{
    return HIP(hipDeviceGetName)(name, size, ordinal);
}

static gpurt_status device_total_memory(int ordinal, size_t *bytes)
{
    return HIP(hipDeviceTotalMem)(bytes, ordinal);
}

/* ROCm always maps pinned host memory at the host's address; its attribute for that is
 * documented as CUDA only, so it is not asked. */
static gpurt_status device_attribute(int ordinal, gpurt_attribute attribute, int *value)
{
    switch (attribute) {
    case GPURT_ATTRIBUTE_UNIFIED_ADDRESSING:
        *value = 1;
        return hipSuccess;
    case GPURT_ATTRIBUTE_MANAGED_MEMORY:
        return HIP(hipDeviceGetAttribute)(value, hipDeviceAttributeManagedMemory, ordinal);
    case GPURT_ATTRIBUTE_CONCURRENT_MANAGED:
        return HIP(hipDeviceGetAttribute)(value, hipDeviceAttributeConcurrentManagedAccess,
                                          ordinal);
    case GPURT_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT:
        return HIP(hipDeviceGetAttribute)(value, hipDeviceAttributeTexturePitchAlignment,
                                          ordinal);
    case GPURT_ATTRIBUTE_TEXTURE_ALIGNMENT:
        return HIP(hipDeviceGetAttribute)(value, hipDeviceAttributeTextureAlignment, ordinal);
    default:
        return HIP(hipDeviceGetAttribute)(value, hipDeviceAttributeMemoryPoolsSupported,
                                          ordinal);
    }
}

static gpurt_status device_uuid(int ordinal, uint8_t uuid[16])
{
    hipUUID id;
    if (!GPURT_HAS(hip_library_functions, hipDeviceGetUuid))
        return hipErrorNotSupported;
    hipError_t r = HIP(hipDeviceGetUuid)(&id, ordinal);
    if (r == hipSuccess)
        memcpy(uuid, id.bytes, 16);
    return r;
}

static gpurt_status device_pci_bus_id(int ordinal, char *bus_id, int size)
{
    return HIP(hipDeviceGetPCIBusId)(bus_id, size, ordinal);
}

/* "HIP driver 50221151": hipDriverGetVersion's number, whose encoding varies by ROCm release. */
static gpurt_status driver_version(char *text, int size)
{
    int version = 0;
    if (!GPURT_HAS(hip_library_functions, hipDriverGetVersion))
        return hipErrorNotSupported;
    hipError_t r = HIP(hipDriverGetVersion)(&version);
    if (r == hipSuccess)
        snprintf(text, (size_t)size, "HIP driver %d", version);
    return r;
}

/* --- no contexts: entering a device is making it the thread's current one --- */

static gpurt_status context_open(int ordinal, void **context)
{
    *context = NULL;
    return hipSuccess;
}

static void context_close(int ordinal, void *context)
{
}

static gpurt_status enter(int ordinal, void *context, gpurt_scope *scope)
{
    hipError_t status = HIP(hipGetDevice)(&scope->device);
    if (status != hipSuccess)
        return status;
    return scope->device == ordinal ? hipSuccess : HIP(hipSetDevice)(ordinal);
}

static void leave(int ordinal, const gpurt_scope *scope)
{
    if (scope->device != ordinal)
        HIP(hipSetDevice)(scope->device);
}

/* --- memory --- */

static gpurt_status malloc_device(uint64_t size, uint64_t *address)
{
    void *p = NULL;
    hipError_t status = HIP(hipMalloc)(&p, (size_t)size);
    *address = address_of(p);
    return status;
}

static gpurt_status free_device(uint64_t address)
{
    return HIP(hipFree)(pointer(address));
}

/* Mapped and portable, as CUDA's pinned memory: one address, usable on every device. */
static gpurt_status malloc_host(uint64_t size, void **host)
{
    return HIP(hipHostMalloc)(host, (size_t)size, hipHostMallocMapped | hipHostMallocPortable);
}

static gpurt_status free_host(void *host)
{
    return HIP(hipHostFree)(host);
}

/* Portable and mapped, as CUDA's registration under unified addressing is: the header's
 * hipHostRegisterDefault says "mapped and portable", where hipHostRegisterPortable alone leaves
 * out the mapping (ROCm 5's runtime ignores the flags; a runtime that honours them must map). */
static gpurt_status host_register(void *host, uint64_t size)
{
    return HIP(hipHostRegister)(host, (size_t)size,
                                hipHostRegisterPortable | hipHostRegisterMapped);
}

static gpurt_status host_unregister(void *host)
{
    return HIP(hipHostUnregister)(host);
}

static gpurt_status malloc_managed(uint64_t size, uint64_t *address)
{
    void *p = NULL;
    hipError_t status = HIP(hipMallocManaged)(&p, (size_t)size, hipMemAttachGlobal);
    *address = address_of(p);
    return status;
}

static gpurt_status memory_info(size_t *free_bytes, size_t *total_bytes)
{
    return HIP(hipMemGetInfo)(free_bytes, total_bytes);
}

/* hipHostMalloc'ed and hipHostRegister'ed memory report a host memory type; pageable memory
 * is an error. The id is read into 64 bits whatever width the runtime writes. */
static gpurt_status host_pointer(const void *host, int *pinned, uint64_t *allocation)
{
    unsigned int type = hipMemoryTypeDevice;
    uint64_t id = 0;
    hipDeviceptr_t p = (hipDeviceptr_t)(uintptr_t)host;
    hipError_t status = HIP(hipPointerGetAttribute)(&type, HIP_POINTER_ATTRIBUTE_MEMORY_TYPE, p);
    *pinned = status == hipSuccess && type == hipMemoryTypeHost;
    if (*pinned && HIP(hipPointerGetAttribute)(&id, HIP_POINTER_ATTRIBUTE_BUFFER_ID, p))
        id = 0;
    *allocation = id;
    return status;
}

/* --- streams and events --- */

/* Non-blocking: no implicit wait on the null stream, which belongs to the application. */
static gpurt_status stream_create(void **stream)
{
    hipStream_t s = NULL;
    hipError_t status = HIP(hipStreamCreateWithFlags)(&s, hipStreamNonBlocking);
    *stream = s;
    return status;
}

static gpurt_status stream_destroy(void *stream)
{
    return HIP(hipStreamDestroy)(stream);
}

static gpurt_status stream_synchronize(void *stream)
{
    return HIP(hipStreamSynchronize)(stream);
}

static gpurt_status event_create(void **event)
{
    hipEvent_t e = NULL;
    hipError_t status = HIP(hipEventCreateWithFlags)(&e, hipEventDisableTiming);
    *event = e;
    return status;
}

static gpurt_status event_destroy(void *event)
{
    return HIP(hipEventDestroy)(event);
}

static gpurt_status event_record(void *event, void *stream)
{
    return HIP(hipEventRecord)(event, stream);
}

static gpurt_status event_synchronize(void *event)
{
    return HIP(hipEventSynchronize)(event);
}

static gpurt_status stream_wait_event(void *stream, void *event)
{
    return HIP(hipStreamWaitEvent)(stream, event, 0);
}

/* --- work on a stream --- */

/* hipMemcpyDefault: the runtime tells host from device memory by the addresses. */
static gpurt_status copy(uint64_t destination, uint64_t source, uint64_t size, void *stream)
{
    return HIP(hipMemcpyAsync)(pointer(destination), pointer(source), (size_t)size,
                               hipMemcpyDefault, stream);
}

/* hipMemcpyHtoDAsync takes a non-const source, which it only reads. */
static gpurt_status copy_to_device(uint64_t destination, const void *source, uint64_t size,
                                   void *stream)
{
    return HIP(hipMemcpyHtoDAsync)(pointer(destination), (void *)(uintptr_t)source,
                                   (size_t)size, stream);
}

static gpurt_status copy_to_host(void *destination, uint64_t source, uint64_t size,
                                 void *stream)
{
    return HIP(hipMemcpyDtoHAsync)(destination, pointer(source), (size_t)size, stream);
}

/* The pattern's bits are written as they are; HIP merely declares them int. */
static gpurt_status fill32(uint64_t destination, uint32_t pattern, uint64_t count, void *stream)
{
    int value;
    memcpy(&value, &pattern, sizeof value);
    return HIP(hipMemsetD32Async)(pointer(destination), value, (size_t)count, stream);
}

/* --- native pools --- */

static gpurt_status pool_create(int ordinal, void **pool)
{
    hipMemPoolProps properties = {
        .allocType = hipMemAllocationTypePinned,
        .handleTypes = hipMemHandleTypeNone,
        .location = {.type = hipMemLocationTypeDevice, .id = ordinal},
    };
    hipMemPool_t p = NULL;
    /* The pool functions came in one release: with this one, the others are there too. */
    if (!GPURT_HAS(hip_library_functions, hipMemPoolCreate))
        return hipErrorNotSupported;
    hipError_t status = HIP(hipMemPoolCreate)(&p, &properties);
    *pool = p;
    return status;
}

static gpurt_status pool_destroy(void *pool)
{
    return HIP(hipMemPoolDestroy)(pool);
}

static hipMemPoolAttr pool_attribute(gpurt_pool_attribute attribute)
{
    switch (attribute) {
    case GPURT_POOL_RELEASE_THRESHOLD:
        return hipMemPoolAttrReleaseThreshold;
    case GPURT_POOL_RESERVED_CURRENT:
        return hipMemPoolAttrReservedMemCurrent;
    case GPURT_POOL_REUSE_INTERNAL_DEPENDENCIES:
        return hipMemPoolReuseAllowInternalDependencies;
    default:
        return hipMemPoolAttrUsedMemCurrent;
    }
}

/* HIP reads and writes the byte counts as 64-bit values, as CUDA does; the reuse flag is an
 * int. */
static gpurt_status pool_set(void *pool, gpurt_pool_attribute attribute, uint64_t value)
{
    if (attribute == GPURT_POOL_REUSE_INTERNAL_DEPENDENCIES) {
        int flag = value != 0;
        return HIP(hipMemPoolSetAttribute)(pool, pool_attribute(attribute), &flag);
    }
    return HIP(hipMemPoolSetAttribute)(pool, pool_attribute(attribute), &value);
}

static gpurt_status pool_get(void *pool, gpurt_pool_attribute attribute, uint64_t *value)
{
    *value = 0;
    return HIP(hipMemPoolGetAttribute)(pool, pool_attribute(attribute), value);
}

static gpurt_status pool_trim(void *pool, uint64_t keep_bytes)
{
    return HIP(hipMemPoolTrimTo)(pool, (size_t)keep_bytes);
}

static gpurt_status pool_allocate(void *pool, uint64_t size, void *stream, uint64_t *address)
{
    void *p = NULL;
    hipError_t status = HIP(hipMallocFromPoolAsync)(&p, (size_t)size, pool, stream);
    *address = address_of(p);
    return status;
}

static gpurt_status pool_free(uint64_t address, void *stream)
{
    return HIP(hipFreeAsync)(pointer(address), stream);
}

/* The runtime's name of each gpurt_call, by name: the order of the enum cannot drift from it. */
static const char *const calls[GPURT_CALL_COUNT] = {
    [GPURT_CALL_DEVICE_COUNT] = "hipGetDeviceCount",
    [GPURT_CALL_DEVICE_QUERY] = "hipDeviceGetName/hipDeviceTotalMem",
    [GPURT_CALL_CONTEXT_OPEN] = "hipSetDevice",
    [GPURT_CALL_CONTEXT_CHECK] = "hipGetDevice",
    [GPURT_CALL_ENTER] = "hipSetDevice",
    [GPURT_CALL_MALLOC_DEVICE] = "hipMalloc",
    [GPURT_CALL_MALLOC_HOST] = "hipHostMalloc",
    [GPURT_CALL_HOST_REGISTER] = "hipHostRegister",
    [GPURT_CALL_MALLOC_MANAGED] = "hipMallocManaged",
    [GPURT_CALL_MEMORY_INFO] = "hipMemGetInfo",
    [GPURT_CALL_STREAM_CREATE] = "hipStreamCreateWithFlags",
    [GPURT_CALL_STREAM_SYNCHRONIZE] = "hipStreamSynchronize",
    [GPURT_CALL_EVENT_CREATE] = "hipEventCreateWithFlags",
    [GPURT_CALL_EVENT_RECORD] = "hipEventRecord",
    [GPURT_CALL_STREAM_WAIT_EVENT] = "hipStreamWaitEvent",
    [GPURT_CALL_EVENT_SYNCHRONIZE] = "hipEventSynchronize",
    [GPURT_CALL_COPY] = "hipMemcpyAsync",
    [GPURT_CALL_COPY_TO_DEVICE] = "hipMemcpyHtoDAsync",
    [GPURT_CALL_COPY_TO_HOST] = "hipMemcpyDtoHAsync",
    [GPURT_CALL_FILL] = "hipMemsetD32Async",
    [GPURT_CALL_POOL_CREATE] = "hipMemPoolCreate",
    [GPURT_CALL_POOL_ATTRIBUTE] = "hipMemPoolGetAttribute/hipMemPoolSetAttribute",
    [GPURT_CALL_POOL_TRIM] = "hipMemPoolTrimTo",
    [GPURT_CALL_POOL_ALLOCATE] = "hipMallocFromPoolAsync",
};
/* gpurt_probe refuses a table with a call left unnamed. */

/* No context_check: HIP has no contexts to bring, only the device ordinal. */
const gpurt_runtime hip_table = {
    .name = "HIP", .calls = calls, .vendor_id = 0x1002, .out_of_memory = hipErrorOutOfMemory,
    .per_thread_stream_handle = (uint64_t)(uintptr_t)hipStreamPerThread,
    .already_registered = hipErrorHostMemoryAlreadyRegistered,
    .invalid_value = hipErrorInvalidValue,
    .load = hip_library_load, .error_name = hip_error_name, .driver_version = driver_version,
    .device_uuid = device_uuid, .kernel_module = "amdgpu", .kernel_driver_name = "amdgpu",
    GPURT_RUNTIME_OPERATIONS,
};
