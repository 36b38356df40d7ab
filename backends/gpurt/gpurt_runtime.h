/* The table of runtime operations that the CUDA and HIP backends share their logic over.
 *
 * CUDA's driver API and HIP's runtime do the same stream-ordered things under other names and
 * types (CUdeviceptr and CUresult, void * and hipError_t). gpurt/ holds the logic once, written
 * against this table; backends/cuda and backends/hip each fill one table with small adapters
 * over their loaded symbols. An adapter converts types and nothing else: anything that decides
 * belongs in gpurt/.
 *
 * Conventions:
 * - Every operation returns the runtime's own status (0 is success in both runtimes), so that
 *   messages can name the native error through error_name.
 * - Device memory is a 64-bit address; both runtimes use unified addressing, where pinned host
 *   memory has the same address for the device as for the host.
 * - Streams, events, pools and contexts are the runtime's opaque pointers.
 * - Operations run on the calling thread's current device: gpurt calls enter first.
 * - Optional operations (marked) may be NULL when the loaded runtime lacks them; gpurt then
 *   reports the feature as absent.
 */
#ifndef GPUMEM_GPURT_RUNTIME_H
#define GPUMEM_GPURT_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

typedef int gpurt_status; /* CUresult, hipError_t */

/* Device attributes gpurt needs; each backend maps them to its runtime's ids. */
typedef enum gpurt_attribute {
    GPURT_ATTRIBUTE_UNIFIED_ADDRESSING, /* pinned host memory has one address everywhere */
    GPURT_ATTRIBUTE_MANAGED_MEMORY,     /* managed allocations work */
    GPURT_ATTRIBUTE_CONCURRENT_MANAGED, /* host and device may touch managed memory at once */
    GPURT_ATTRIBUTE_MEMORY_POOLS,       /* the stream-ordered allocator works */
    GPURT_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT, /* bytes a pitched 2D texture's rows align to */
    GPURT_ATTRIBUTE_TEXTURE_ALIGNMENT,       /* bytes a texture's base address aligns to */
} gpurt_attribute;

/* Native pool attributes gpurt reads or sets, as 64-bit byte counts. */
typedef enum gpurt_pool_attribute {
    GPURT_POOL_RELEASE_THRESHOLD,
    GPURT_POOL_RESERVED_CURRENT,
    GPURT_POOL_USED_CURRENT,
    /* 0 or 1: whether the runtime may hand a stream memory freed on another stream whose work
     * has not run, making the stream wait for it (an int attribute, set as 0 or 1). */
    GPURT_POOL_REUSE_INTERNAL_DEPENDENCIES,
} gpurt_pool_attribute;

/* The native calls messages name ("cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY for ..."). */
typedef enum gpurt_call {
    GPURT_CALL_DEVICE_COUNT,
    GPURT_CALL_DEVICE_QUERY,
    GPURT_CALL_CONTEXT_OPEN,
    GPURT_CALL_CONTEXT_CHECK,
    GPURT_CALL_ENTER,
    GPURT_CALL_MALLOC_DEVICE,
    GPURT_CALL_MALLOC_HOST,
    GPURT_CALL_MALLOC_MANAGED,
    GPURT_CALL_MEMORY_INFO,
    GPURT_CALL_STREAM_CREATE,
    GPURT_CALL_STREAM_SYNCHRONIZE,
    GPURT_CALL_EVENT_CREATE,
    GPURT_CALL_EVENT_RECORD,
    GPURT_CALL_EVENT_SYNCHRONIZE,
    GPURT_CALL_STREAM_WAIT_EVENT,
    GPURT_CALL_COPY,
    GPURT_CALL_COPY_TO_DEVICE,
    GPURT_CALL_COPY_TO_HOST,
    GPURT_CALL_FILL,
    GPURT_CALL_POOL_CREATE,
    GPURT_CALL_POOL_ATTRIBUTE,
    GPURT_CALL_POOL_TRIM,
    GPURT_CALL_POOL_ALLOCATE,
    GPURT_CALL_HOST_REGISTER,
    GPURT_CALL_COUNT
} gpurt_call;

/* What enter saved, for leave to restore the caller's state (CUDA needs nothing: its
 * contexts are a stack). */
typedef struct gpurt_scope {
    int device; /* HIP: the caller's current device */
} gpurt_scope;

typedef struct gpurt_runtime {
    /* --- constants --- */
    const char *name;                    /* "CUDA": in messages */
    const char *const *calls;            /* the runtime's name of each gpurt_call */
    uint32_t vendor_id;                  /* PCI vendor, when sysfs does not say */
    gpurt_status out_of_memory;          /* the status of an allocation that did not fit */
    /* The statuses of a host registration of a range the runtime will not take: one that
     * overlaps a registered range, and an invalid value (not memory, say). */
    gpurt_status already_registered, invalid_value;
    /* A handle that names the runtime's default stream (0) and is not NULL, for wrapping it
     * (CUDA: CU_STREAM_LEGACY); 0 when the runtime has none (the default stream is then not
     * wrapped). */
    uint64_t default_stream_handle;
    /* The handle of the calling thread's own default stream (CUDA: CU_STREAM_PER_THREAD, HIP:
     * hipStreamPerThread), which names another queue on each thread: never wrapped, since core
     * queues and waits on a stream from other threads too. 0: none. */
    uint64_t per_thread_stream_handle;

    /* --- the runtime as a whole --- */

    /* Loads the runtime once per process; on failure writes the reason ("libcuda.so.1 not
     * found", "cuInit: CUDA_ERROR_NO_DEVICE") and returns nonzero. */
    int (*load)(char *reason, size_t reason_size);
    /* The runtime's name of a status ("CUDA_ERROR_OUT_OF_MEMORY"), or NULL. */
    const char *(*error_name)(gpurt_status status);

    /* --- devices, by ordinal --- */
    gpurt_status (*device_count)(int *count);
    gpurt_status (*device_name)(int ordinal, char *name, int size);
    gpurt_status (*device_total_memory)(int ordinal, size_t *bytes);
    gpurt_status (*device_attribute)(int ordinal, gpurt_attribute attribute, int *value);
    gpurt_status (*device_pci_bus_id)(int ordinal, char *bus_id, int size); /* optional */
    /* The driver's version as text ("CUDA 13.0"); optional. */
    gpurt_status (*driver_version)(char *text, int size);
    /* The device's 16-byte UUID; optional. */
    gpurt_status (*device_uuid)(int ordinal, uint8_t uuid[16]);
    /* The kernel module whose /sys/module/<name>/version is the driver's version ("nvidia",
     * "amdgpu"), and how to name it ("NVIDIA"); NULL: not asked. */
    const char *kernel_module, *kernel_driver_name;

    /* --- what makes a device current --- */

    /* Opens the runtime's own context of device `ordinal` (CUDA: retains the primary one);
     * *context is then given to enter, and to context_close. */
    gpurt_status (*context_open)(int ordinal, void **context);
    void (*context_close)(int ordinal, void *context);
    /* Checks that an application's context (CUDA: a CUcontext) belongs to device `ordinal`;
     * gpurt then uses it as it is and never closes it. Optional: NULL for runtimes without
     * contexts, which ignore the field. */
    gpurt_status (*context_check)(int ordinal, void *context);
    /* Makes the device current on this thread, saving the caller's state in *scope... */
    gpurt_status (*enter)(int ordinal, void *context, gpurt_scope *scope);
    /* ...and restores it. */
    void (*leave)(int ordinal, const gpurt_scope *scope);

    /* --- memory --- */
    gpurt_status (*malloc_device)(uint64_t size, uint64_t *address);
    gpurt_status (*free_device)(uint64_t address); /* device and managed memory */
    /* Pinned, mapped for every device, usable from any context. */
    gpurt_status (*malloc_host)(uint64_t size, void **host);
    gpurt_status (*free_host)(void *host);
    gpurt_status (*malloc_managed)(uint64_t size, uint64_t *address); /* optional */
    gpurt_status (*memory_info)(size_t *free_bytes, size_t *total_bytes); /* as both report */
    /* Is `host` in pinned or registered host memory; and the allocation's process-wide id (0
     * when the runtime does not say), so that two addresses can be told to be one allocation.
     * Fails, or says 0, for pageable memory. */
    gpurt_status (*host_pointer)(const void *host, int *pinned, uint64_t *allocation);
    /* The device whose device memory holds `address` in *ordinal, or -1 for memory that is
     * not the runtime's device memory (pinned, managed where the runtime says so, pageable,
     * unknown). Optional: without it, imported device pointers are taken on trust. */
    gpurt_status (*pointer_device)(uint64_t address, int *ordinal);
    /* Registers host memory for DMA with every device (portable), and ends that. */
    gpurt_status (*host_register)(void *host, uint64_t size);
    /* The same for memory the devices will only read. Optional: without it, host_register. */
    gpurt_status (*host_register_read_only)(void *host, uint64_t size);
    gpurt_status (*host_unregister)(void *host);

    /* --- streams and events --- */
    gpurt_status (*stream_create)(void **stream); /* does not wait for the legacy stream */
    gpurt_status (*stream_destroy)(void *stream);
    gpurt_status (*stream_synchronize)(void *stream);
    gpurt_status (*event_create)(void **event);   /* without timing: cheaper */
    gpurt_status (*event_destroy)(void *event);
    gpurt_status (*event_record)(void *event, void *stream);
    gpurt_status (*event_synchronize)(void *event);
    gpurt_status (*stream_wait_event)(void *stream, void *event); /* on the device */

    /* --- work on a stream --- */
    /* Between any two addresses (device, managed or pinned host: unified addressing). */
    gpurt_status (*copy)(uint64_t destination, uint64_t source, uint64_t size, void *stream);
    /* From any host memory, pageable too, into device memory. */
    gpurt_status (*copy_to_device)(uint64_t destination, const void *source, uint64_t size,
                                   void *stream);
    gpurt_status (*copy_to_host)(void *destination, uint64_t source, uint64_t size,
                                 void *stream);
    /* `count` 32-bit words at a 4-aligned address. */
    gpurt_status (*fill32)(uint64_t destination, uint32_t pattern, uint64_t count, void *stream);

    /* --- native stream-ordered pools: all optional, together --- */
    gpurt_status (*pool_create)(int ordinal, void **pool); /* device memory of `ordinal` */
    gpurt_status (*pool_destroy)(void *pool);
    gpurt_status (*pool_set)(void *pool, gpurt_pool_attribute attribute, uint64_t value);
    gpurt_status (*pool_get)(void *pool, gpurt_pool_attribute attribute, uint64_t *value);
    gpurt_status (*pool_trim)(void *pool, uint64_t keep_bytes);
    gpurt_status (*pool_allocate)(void *pool, uint64_t size, void *stream, uint64_t *address);
    gpurt_status (*pool_free)(uint64_t address, void *stream);
} gpurt_runtime;

/* The operations of a table, for its designated initializer, from static functions named as
 * the fields (context_check and pointer_device, optional and CUDA's only, are left to the
 * table). */
#define GPURT_RUNTIME_OPERATIONS                                                                  \
    .device_count = device_count, .device_name = device_name,                                     \
    .device_total_memory = device_total_memory, .device_attribute = device_attribute,             \
    .device_pci_bus_id = device_pci_bus_id, .context_open = context_open,                         \
    .context_close = context_close, .enter = enter, .leave = leave,                               \
    .malloc_device = malloc_device, .free_device = free_device, .malloc_host = malloc_host,       \
    .free_host = free_host, .malloc_managed = malloc_managed, .memory_info = memory_info,         \
    .host_pointer = host_pointer, .host_register = host_register,                                 \
    .host_unregister = host_unregister, .stream_create = stream_create,                           \
    .stream_destroy = stream_destroy, .stream_synchronize = stream_synchronize,                   \
    .event_create = event_create, .event_destroy = event_destroy, .event_record = event_record,   \
    .event_synchronize = event_synchronize, .stream_wait_event = stream_wait_event,             \
    .copy = copy, .copy_to_device = copy_to_device,                                               \
    .copy_to_host = copy_to_host, .fill32 = fill32, .pool_create = pool_create,                   \
    .pool_destroy = pool_destroy, .pool_set = pool_set, .pool_get = pool_get,                     \
    .pool_trim = pool_trim, .pool_allocate = pool_allocate, .pool_free = pool_free

#endif
