/* The backend interface as version 1 of gpumem shipped it, kept unchanged (but for this line and
 * the next) so that tests/conformance/v1/module_v1.c is built exactly as a module of that time
 * was: core must still load such a module and pass the conformance suite on it.
 *
 * gpumem backend interface: what a backend implements for its native runtime.
 *
 * A backend is one const gpumem_backend_vtable. Core validates every argument, keeps every
 * handle, does all suballocation, mapping reference counts, staging and statistics; a backend
 * only makes native calls. docs/backends.md walks through writing one.
 *
 * Contract for every operation:
 * - Arguments were validated by core: pointers are non-NULL, offsets and sizes are in range and
 *   aligned as the device's properties promise, memory types are in range.
 * - Return GPUMEM_OK, or an error code after calling gpumem_backend_error() with the detail
 *   (which native call, its native error name, the sizes involved).
 * - Operations on different objects may be called from several threads at once. Core never calls
 *   two operations on one stream at once. Operations that change a page's state (map, unmap,
 *   flush, invalidate, free) are serialised per pool; copies and fills into different ranges of
 *   one page may come from two streams at once.
 *
 * A backend built into libgpumem is registered by core. A module is a shared library in the
 * module folder (<libdir>/gpumem) or in a folder of GPUMEM_PLUGIN_PATH, named
 * libgpumem-<anything>.so, that exports GPUMEM_BACKEND_ENTRY_NAME (see gpumem_backend_entry_fn).
 * A module with the name of a registered backend replaces it.
 */
#ifndef GPUMEM_BACKEND_H
#define GPUMEM_BACKEND_H

#include <stdarg.h>

#include "gpumem/gpumem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever the vtable or a type it uses changes incompatibly. */
#define GPUMEM_BACKEND_ABI_VERSION 1u

/* Backend-defined native objects; core only stores and passes the pointers. */
typedef struct gpumem_backend_device gpumem_backend_device;
typedef struct gpumem_backend_page gpumem_backend_page;     /* one native allocation */
typedef struct gpumem_backend_buffer gpumem_backend_buffer; /* a native object bound to memory */
typedef struct gpumem_backend_stream gpumem_backend_stream;
typedef struct gpumem_backend_event gpumem_backend_event;
typedef struct gpumem_backend_pool gpumem_backend_pool;     /* a runtime's native pool */

typedef struct gpumem_backend_vtable {
    /* --- identity: first, in this order, in every ABI version --- */
    uint32_t abi_version; /* GPUMEM_BACKEND_ABI_VERSION */
    uint32_t struct_size; /* sizeof(gpumem_backend_vtable) */
    const char *name;     /* lower case, [a-z0-9_-], at most GPUMEM_NAME_SIZE-1 bytes */
    uint32_t priority;    /* which backend to choose when none is named; host is 0 */
    uint32_t reserved;

    /* --- required --- */

    /* Is the runtime here, and how many devices does it have? On "not here", return
     * GPUMEM_ERROR_UNAVAILABLE with the reason in `reason` ("libcuda.so.1 not found"). Called once,
     * at registration; must not leave the runtime initialised in a way that costs much. */
    gpumem_result (*probe)(uint32_t *device_count, char *reason, size_t reason_size);

    /* Opens device `index` (< device_count), or, with `external` non-NULL, wraps the application's
     * native objects (see gpumem_external_device) without taking ownership of them. */
    gpumem_result (*device_open)(uint32_t index, const gpumem_external_device *external,
                                 gpumem_backend_device **device);
    /* Releases what device_open created. Everything else of the device was freed before. */
    void (*device_close)(gpumem_backend_device *device);
    /* Fills name, vendor_id, device_id, memory types and heaps, and limits. Core fills backend,
     * device_index and is_external. Called once per open. */
    gpumem_result (*device_properties)(gpumem_backend_device *device,
                                       gpumem_device_properties *properties);

    /* One native allocation of `size` bytes (a multiple of min_alignment) of a memory type. */
    gpumem_result (*page_allocate)(gpumem_backend_device *device, uint32_t memory_type,
                                   uint64_t size, gpumem_backend_page **page);
    void (*page_free)(gpumem_backend_device *device, gpumem_backend_page *page);
    /* Maps the whole page; core counts references and calls this once per first map. Only for
     * HOST_VISIBLE types. */
    gpumem_result (*page_map)(gpumem_backend_device *device, gpumem_backend_page *page,
                              void **data);
    void (*page_unmap)(gpumem_backend_device *device, gpumem_backend_page *page);
    /* Only called for mapped pages of types without HOST_COHERENT; the range is rounded to
     * non_coherent_atom_size by core (or reaches the page's end). */
    gpumem_result (*page_flush)(gpumem_backend_device *device, gpumem_backend_page *page,
                                uint64_t offset, uint64_t size);
    gpumem_result (*page_invalidate)(gpumem_backend_device *device, gpumem_backend_page *page,
                                     uint64_t offset, uint64_t size);

    /* What the application needs to use a buffer (page + offset + size) natively. `*buffer` is
     * what buffer_bind returned (or NULL); a backend that creates its native object only when
     * first asked (Vulkan's VkBuffer) may store it in *buffer, which core later passes to
     * buffer_unbind. Core holds the buffer's pool lock during the call. Core fills `offset`. */
    gpumem_result (*native_buffer)(gpumem_backend_device *device, gpumem_backend_page *page,
                                   uint64_t offset, uint64_t size,
                                   gpumem_backend_buffer **buffer, gpumem_native_buffer *native);

    /* Streams run their work in submission order. */
    gpumem_result (*stream_create)(gpumem_backend_device *device, gpumem_backend_stream **stream);
    /* Core synchronizes the stream before destroying it. */
    void (*stream_destroy)(gpumem_backend_device *device, gpumem_backend_stream *stream);
    gpumem_result (*stream_synchronize)(gpumem_backend_device *device,
                                        gpumem_backend_stream *stream);
    gpumem_result (*stream_native)(gpumem_backend_device *device, gpumem_backend_stream *stream,
                                   uint64_t *native);

    /* Events mark a point in a stream; the host can wait for it. Core uses them to reuse staging
     * memory as soon as the copy that read it is done. */
    gpumem_result (*event_create)(gpumem_backend_device *device, gpumem_backend_event **event);
    void (*event_destroy)(gpumem_backend_device *device, gpumem_backend_event *event);
    /* The event completes when all work submitted to the stream so far has completed. */
    gpumem_result (*event_record)(gpumem_backend_device *device, gpumem_backend_stream *stream,
                                  gpumem_backend_event *event);
    /* Blocks until the event completed (at once for an event never recorded). */
    gpumem_result (*event_synchronize)(gpumem_backend_device *device,
                                       gpumem_backend_event *event);

    /* Copies between pages (the same page allowed, ranges never overlap), ordered on the stream.
     * Must work between any two memory types of the device: core stages through them. */
    gpumem_result (*copy_page_to_page)(gpumem_backend_device *device,
                                       gpumem_backend_stream *stream,
                                       gpumem_backend_page *source, uint64_t source_offset,
                                       gpumem_backend_page *destination,
                                       uint64_t destination_offset, uint64_t size);

    /* --- optional: NULL when absent; core fills them with defaults that return
     * GPUMEM_ERROR_UNSUPPORTED and works around them where it can --- */

    /* Copies between any host memory and a page, ordered on the stream. A write must have read
     * `source` before it returns. A read may fill `destination` later, by the stream's completion.
     * Absent: core maps host-visible pages or stages through them. */
    gpumem_result (*copy_host_to_page)(gpumem_backend_device *device,
                                       gpumem_backend_stream *stream, const void *source,
                                       gpumem_backend_page *destination,
                                       uint64_t destination_offset, uint64_t size);
    gpumem_result (*copy_page_to_host)(gpumem_backend_device *device,
                                       gpumem_backend_stream *stream,
                                       gpumem_backend_page *source, uint64_t source_offset,
                                       void *destination, uint64_t size);
    /* 1 when the runtime reads `size` bytes at `host` at full speed without staging (pinned or
     * registered memory), else 0. Absent: core treats all host memory as pageable. */
    int (*host_memory_is_pinned)(gpumem_backend_device *device, const void *host, uint64_t size);

    /* Fills with a 32-bit pattern (offset and size multiples of 4). Absent: core writes the
     * pattern through a mapping or through staging. */
    gpumem_result (*fill)(gpumem_backend_device *device, gpumem_backend_stream *stream,
                          gpumem_backend_page *page, uint64_t offset, uint64_t size,
                          uint32_t pattern);

    /* Creates and binds a native buffer object over page [offset, offset+size), for runtimes
     * whose memory is used through such objects (Vulkan). Absent: buffers are plain ranges. */
    gpumem_result (*buffer_bind)(gpumem_backend_device *device, gpumem_backend_page *page,
                                 uint64_t offset, uint64_t size, gpumem_backend_buffer **buffer);
    void (*buffer_unbind)(gpumem_backend_device *device, gpumem_backend_buffer *buffer);

    /* The address at which the page starts, for runtimes whose memory has addresses (a
     * CUdeviceptr, a host pointer). Core uses it to align buffers' addresses, not only their
     * offsets. Absent: offsets alone are aligned (Vulkan's memory objects have no address). */
    uint64_t (*page_address)(gpumem_backend_device *device, gpumem_backend_page *page);

    /* The native objects of an open device (see gpumem_device_native). Absent: all zero. */
    gpumem_result (*device_native)(gpumem_backend_device *device,
                                   gpumem_external_device *native);

    /* Budget of each heap: the bytes this process may hold in all, as the runtime estimates
     * it (arrays of properties.memory_heap_count). `usage` comes in holding the bytes of
     * gpumem's own pages in each heap (core counts them); a runtime that measures the process's
     * usage itself (VK_EXT_memory_budget) may overwrite it. */
    gpumem_result (*heap_budget)(gpumem_backend_device *device, uint64_t *budget,
                                 uint64_t *usage);

    /* Native stream-ordered pools (GPUMEM_POOL_NATIVE). Allocations are pages. */
    gpumem_result (*native_pool_create)(gpumem_backend_device *device, uint32_t memory_type,
                                        uint64_t release_threshold, gpumem_backend_pool **pool);
    void (*native_pool_destroy)(gpumem_backend_device *device, gpumem_backend_pool *pool);
    gpumem_result (*native_pool_allocate)(gpumem_backend_device *device,
                                          gpumem_backend_pool *pool,
                                          gpumem_backend_stream *stream, uint64_t size,
                                          gpumem_backend_page **page);
    void (*native_pool_free)(gpumem_backend_device *device, gpumem_backend_pool *pool,
                             gpumem_backend_stream *stream, gpumem_backend_page *page);
    /* Releases cached memory down to keep_bytes. */
    gpumem_result (*native_pool_trim)(gpumem_backend_device *device, gpumem_backend_pool *pool,
                                      uint64_t keep_bytes);
    /* reserved: bytes the pool holds from the device; used: bytes in live allocations. */
    gpumem_result (*native_pool_stats)(gpumem_backend_device *device, gpumem_backend_pool *pool,
                                       uint64_t *reserved, uint64_t *used);
} gpumem_backend_vtable;

/* A module exports this function, under this name. */
#define GPUMEM_BACKEND_ENTRY_NAME "gpumem_backend_entry"
typedef const gpumem_backend_vtable *(*gpumem_backend_entry_fn)(void);

/* Registers a backend in this process (as built-in backends are). Checks the table: the ABI
 * version, the struct size, the name, every required operation (a missing one is refused with
 * a message naming it). A name already registered: GPUMEM_ERROR_INVALID_ARGUMENT. The table must
 * stay valid for the life of the process. */
GPUMEM_API gpumem_result gpumem_backend_register(const gpumem_backend_vtable *vtable);

/* For backends: records the detail of a failure for gpumem_last_error() and returns `result`,
 * so that `return gpumem_backend_error(GPUMEM_ERROR_BACKEND, "cuMemAlloc: %s", name);` works. */
GPUMEM_API gpumem_result gpumem_backend_error(gpumem_result result, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* For backends: writes to gpumem's log (GPUMEM_LOG_* level). */
GPUMEM_API void gpumem_backend_log(int32_t level, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif

#endif /* GPUMEM_BACKEND_H */
