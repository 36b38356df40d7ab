/* gpumem backend interface, version 8: what a backend implements for its native runtime.
 *
 * A backend is one const gpumem_backend_vtable. Core validates every argument, keeps every
 * handle, does all suballocation, mapping reference counts, staging, statistics and lifetimes;
 * a backend only makes native calls. docs/backends.md walks through writing one.
 *
 * Versions. The table is append-only: a later version of this header only adds operations at
 * its end. A module says in `version` which header it was built with, and core reads only the
 * operations that version has, so a module built for an earlier version keeps loading (one built
 * for a later version than the loading libgpumem is refused: it may need what core cannot do).
 * Version 1 (a flat table with an exact struct_size) is still accepted and translated.
 *
 * Required and optional. Only the operations every runtime has are required: probe,
 * device_open, device_close, device_properties, page_allocate, page_free, copy_page_to_page,
 * and page_map when the device has a host-visible memory type. Every other operation may be
 * NULL, and core does what its comment says instead. Some come in groups that are present
 * together or not at all (checked when the table is registered): the stream operations, the
 * event operations, and the native-pool operations.
 *
 * The contract for every operation:
 * - Arguments were validated by core: pointers are non-NULL, offsets and sizes are in range of
 *   the page (offset + size <= the page's size, never 0 unless said) and aligned as the device's
 *   properties promise, memory types are in range.
 * - Return GPUMEM_OK, or an error code after calling gpumem_backend_error() with the detail
 *   (which native call, its native error name, the sizes involved). Out of device memory is
 *   GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY, out of host memory GPUMEM_ERROR_OUT_OF_HOST_MEMORY, any
 *   other native failure GPUMEM_ERROR_BACKEND.
 * - Threads: operations on different objects may be called from several threads at once. Core
 *   never calls two operations on one stream at once. Operations that change a page's state
 *   (map, unmap, flush, invalidate, free) are serialised per pool; copies and fills into
 *   different ranges of one page may come from two streams at once. Core never frees an object
 *   while another of its operations on it runs.
 * - `stream` arguments are NULL when the backend has no stream operations: then every operation
 *   that takes a stream must have completed its work when it returns.
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

/* The version of the table this header describes. */
#define GPUMEM_BACKEND_VERSION 8u

/* Backend-defined native objects; core only stores and passes the pointers, which must be
 * non-NULL and unique while the object lives. */
typedef struct gpumem_backend_device gpumem_backend_device;
typedef struct gpumem_backend_page gpumem_backend_page;     /* one native allocation */
typedef struct gpumem_backend_buffer gpumem_backend_buffer; /* a native object over a range */
typedef struct gpumem_backend_stream gpumem_backend_stream;
typedef struct gpumem_backend_event gpumem_backend_event;
typedef struct gpumem_backend_pool gpumem_backend_pool;     /* a runtime's native pool */
typedef struct gpumem_backend_image gpumem_backend_image;   /* a runtime's image object */
typedef struct gpumem_backend_registration gpumem_backend_registration; /* registered host memory */

/* What a runtime's image needs of its memory (image_create). */
typedef struct gpumem_backend_image_requirements {
    uint64_t size;        /* bytes */
    uint64_t alignment;   /* of its offset in a page: a power of two */
    uint64_t granularity; /* bytes of the page's grid no buffer or linear image may share with
                             this image (Vulkan: bufferImageGranularity, for optimal tiling),
                             a power of two; 0 or 1: none */
    uint32_t dedicated;   /* memory of the image's own: 2 when the runtime requires it, 1 when
                             it prefers it (core follows a preference for images of at least
                             GPUMEM_IMAGE_PREFERRED_DEDICATED_SIZE bytes), else 0 */
    uint32_t reserved;
} gpumem_backend_image_requirements;

typedef struct gpumem_backend_vtable {
    /* --- identity: first, in this order, in every version --- */
    uint32_t version;     /* GPUMEM_BACKEND_VERSION of the header the backend was built with */
    uint32_t reserved0;   /* 0 */
    const char *name;     /* lower case, [a-z0-9_-], at most GPUMEM_NAME_SIZE-1 bytes */
    uint32_t priority;    /* which backend to choose when none is named; host is 0 */
    uint32_t reserved1;   /* 0 */

    /* === version 2 === */

    /* --- devices (required) --- */

    /* Is the runtime here, and how many devices does it have? On "not here" (no runtime, no
     * device, a runtime too old), return GPUMEM_ERROR_UNAVAILABLE with the reason in `reason`
     * ("libcuda.so.1 not found"). Called when a call first needs to know whether the backend is
     * available (not at registration), never twice at once for one backend. The answer is kept
     * for the life of the process when it is GPUMEM_OK, GPUMEM_ERROR_UNAVAILABLE, _UNSUPPORTED,
     * _NOT_FOUND or _ABI_MISMATCH; any other result (GPUMEM_ERROR_OUT_OF_HOST_MEMORY when the
     * runtime ran out of memory while starting) is reported with its reason, and the next call
     * that needs the backend probes again. Must not leave the runtime initialised in a way that
     * costs much. */
    gpumem_result (*probe)(uint32_t *device_count, char *reason, size_t reason_size);

    /* Opens device `index` (< the probe's device_count), or, with `external` non-NULL, wraps
     * the application's native objects (see gpumem_external_device) without taking ownership:
     * then create only your own objects, and never destroy the application's. */
    gpumem_result (*device_open)(uint32_t index, const gpumem_external_device *external,
                                 gpumem_backend_device **device);
    /* Releases what device_open created. Every page, stream and event of the device was freed
     * before, and no other operation on it runs. */
    void (*device_close)(gpumem_backend_device *device);
    /* Fills name, vendor_id, device_id, memory types and heaps, and the limits. Core fills
     * backend, device_index and is_external, and checks the rest once per open (a device that
     * reports impossible values fails to open). The flags must be honest: HOST_VISIBLE only
     * where page_map works, HOST_COHERENT only where no flush or invalidate is ever needed.
     * min_alignment must make every offset that is a multiple of it valid for the runtime's
     * buffers. Core then raises min_alignment to at least 4 (fills), and to
     * non_coherent_atom_size where a host-visible type is not coherent (no two buffers share an
     * atom); "the device's min_alignment" below is the raised value. native_pools is 1 only
     * with the native-pool operations. */
    gpumem_result (*device_properties)(gpumem_backend_device *device,
                                       gpumem_device_properties *properties);

    /* --- pages (required) --- */

    /* One native allocation of `size` bytes (a multiple of min_alignment, at most
     * max_allocation_size) of a memory type. Called by core for a pool's pages and for its
     * staging chunks, under the pool's lock (or the staging lock). */
    gpumem_result (*page_allocate)(gpumem_backend_device *device, uint32_t memory_type,
                                   uint64_t size, gpumem_backend_page **page);
    /* Frees a page (unmapped by core first, and no work queued on it: core waited). */
    void (*page_free)(gpumem_backend_device *device, gpumem_backend_page *page);

    /* Copies `size` bytes between pages (the same page allowed, the ranges never overlap),
     * ordered on the stream (NULL: at once). Must work between any two memory types of the
     * device: core stages through it. */
    gpumem_result (*copy_page_to_page)(gpumem_backend_device *device,
                                       gpumem_backend_stream *stream,
                                       gpumem_backend_page *source, uint64_t source_offset,
                                       gpumem_backend_page *destination,
                                       uint64_t destination_offset, uint64_t size);

    /* --- mapping --- */

    /* Maps the whole page for the host; *data is its first byte and must not be NULL. Required
     * when the device has a host-visible memory type (checked when a device opens); called only
     * for host-visible pages, once per first map (core counts references), under the pool's
     * lock. */
    gpumem_result (*page_map)(gpumem_backend_device *device, gpumem_backend_page *page,
                              void **data);
    /* Ends the mapping, at the last unmap. Absent: mappings need no ending (they live as long
     * as the page, which page_free ends). */
    void (*page_unmap)(gpumem_backend_device *device, gpumem_backend_page *page);
    /* Makes host writes in a mapped range visible to the device / device writes visible to the
     * host. Called only for mapped pages of memory types without HOST_COHERENT, with the range
     * rounded out to non_coherent_atom_size (or reaching the page's end). Required when the
     * device has a host-visible type without HOST_COHERENT; otherwise never called. */
    gpumem_result (*page_flush)(gpumem_backend_device *device, gpumem_backend_page *page,
                                uint64_t offset, uint64_t size);
    gpumem_result (*page_invalidate)(gpumem_backend_device *device, gpumem_backend_page *page,
                                     uint64_t offset, uint64_t size);

    /* --- addresses and native objects --- */

    /* The address at which the page starts, for runtimes whose memory has addresses (a
     * CUdeviceptr, a host pointer): core then aligns buffers' addresses, not only their
     * offsets, and reports `address` in gpumem_native_buffer as page address + offset.
     * Contract, checked by core for every page (a page that breaks it is freed and the
     * allocation fails with GPUMEM_ERROR_BACKEND naming the backend and the operation): the
     * address is a multiple of the device's min_alignment, and address + the page's size does
     * not pass 2^64. Absent: memory has no address (Vulkan's memory objects); offsets alone are
     * aligned. */
    uint64_t (*page_address)(gpumem_backend_device *device, gpumem_backend_page *page);

    /* What the application needs to use buffer [offset, offset + size) of a page natively:
     * fill `memory` (the native allocation: VkDeviceMemory, a base pointer), `buffer` (a
     * native object over the range, where the runtime has one: VkBuffer bound at `offset`, to
     * be used from its own offset 0) and `address` (where the runtime has addresses). Core
     * fills `offset`. *cache is the buffer's own slot, NULL at first: a backend that creates a
     * native object for the buffer keeps it there, and gets it back on the next call and in
     * native_buffer_release. Called by gpumem_buffer_native under the pool's lock. Absent:
     * core reports memory = page address, address = page address + offset where page_address
     * exists, else GPUMEM_ERROR_UNSUPPORTED. A new kind of backend returns what its users pass
     * to their own kernels. */
    gpumem_result (*native_buffer)(gpumem_backend_device *device, gpumem_backend_page *page,
                                   uint64_t offset, uint64_t size,
                                   gpumem_backend_buffer **cache, gpumem_native_buffer *native);
    /* Releases what native_buffer kept in a buffer's cache (called once, when the buffer is
     * freed, only for a cache that is not NULL; in a paged pool only once no work queued
     * before the buffer's destroy may still run). Absent: nothing to release. */
    void (*native_buffer_release)(gpumem_backend_device *device, gpumem_backend_buffer *cache);

    /* The native objects of an open device (see gpumem_device_native). Absent: all zero. */
    gpumem_result (*device_native)(gpumem_backend_device *device,
                                   gpumem_external_device *native);

    /* --- streams (a group: all four, or none) --- */

    /* An in-order queue. Core serialises the calls on one stream; several streams may run at
     * once. Absent: the backend has one implicit queue that runs every operation to completion
     * before it returns; core's streams then order nothing, synchronize returns at once, and
     * stream arguments are NULL. */
    gpumem_result (*stream_create)(gpumem_backend_device *device, gpumem_backend_stream **stream);
    /* Core synchronizes the stream first. */
    void (*stream_destroy)(gpumem_backend_device *device, gpumem_backend_stream *stream);
    /* Returns when everything submitted to the stream has completed (and, for reads into host
     * memory, landed there). A failure must mean that the stream's work ran or will run no
     * further (CUDA: an error of the context, which then runs nothing): core then ends what
     * that work used, and unregisters memory it registered for one transfer. */
    gpumem_result (*stream_synchronize)(gpumem_backend_device *device,
                                        gpumem_backend_stream *stream);
    /* The runtime's own queue for gpumem_stream_native: a VkQueue, a CUstream, a hipStream_t.
     * A new kind of backend returns what its users' own work would be submitted to, or 0. */
    gpumem_result (*stream_native)(gpumem_backend_device *device, gpumem_backend_stream *stream,
                                   uint64_t *native);

    /* --- events (a group: all four, or none; only with streams) --- */

    /* A point in a stream the host can wait for: core reuses a staging chunk as soon as the
     * copy that read it is done. Absent: core waits for the whole stream instead. */
    gpumem_result (*event_create)(gpumem_backend_device *device, gpumem_backend_event **event);
    void (*event_destroy)(gpumem_backend_device *device, gpumem_backend_event *event);
    /* The event completes when all work submitted to the stream so far has completed. */
    gpumem_result (*event_record)(gpumem_backend_device *device, gpumem_backend_stream *stream,
                                  gpumem_backend_event *event);
    /* Blocks until the event completed (at once for an event never recorded). */
    gpumem_result (*event_synchronize)(gpumem_backend_device *device,
                                       gpumem_backend_event *event);

    /* --- host transfers --- */

    /* Copies between any host memory and a page, ordered on the stream. A write must have read
     * `source` before it returns, and reads it no more once it returns, whatever it answers. A
     * read may fill `destination` later, by the stream's completion. Absent (each on its own):
     * core copies through a mapping of host-visible pages, or stages through host-visible
     * chunks with copy_page_to_page. */
    gpumem_result (*copy_host_to_page)(gpumem_backend_device *device,
                                       gpumem_backend_stream *stream, const void *source,
                                       gpumem_backend_page *destination,
                                       uint64_t destination_offset, uint64_t size);
    gpumem_result (*copy_page_to_host)(gpumem_backend_device *device,
                                       gpumem_backend_stream *stream,
                                       gpumem_backend_page *source, uint64_t source_offset,
                                       void *destination, uint64_t size);
    /* 1 when the runtime reads or writes `size` bytes at `host` at full speed without staging
     * (pinned or registered memory), else 0. Asked only for transfers of 8 MiB and more.
     * Absent: core treats all host memory as pageable. */
    int (*host_memory_is_pinned)(gpumem_backend_device *device, const void *host, uint64_t size);

    /* Fills with a 32-bit pattern (offset and size multiples of 4), ordered on the stream.
     * Absent: core writes the pattern through a mapping or through staging. */
    gpumem_result (*fill)(gpumem_backend_device *device, gpumem_backend_stream *stream,
                          gpumem_backend_page *page, uint64_t offset, uint64_t size,
                          uint32_t pattern);

    /* --- memory budget --- */

    /* Budget of each heap: the bytes this process may hold in all, as the runtime estimates
     * it (arrays of properties.memory_heap_count). `usage` comes in holding the bytes of
     * gpumem's own pages in each heap (core counts them); a runtime that measures the process's
     * usage itself (VK_EXT_memory_budget) may overwrite it. Absent: the budget is the heap's
     * size, the usage core's count. */
    gpumem_result (*heap_budget)(gpumem_backend_device *device, uint64_t *budget,
                                 uint64_t *usage);

    /* --- native pools (a group: create, destroy, allocate and free, or none) --- */

    /* The runtime's stream-ordered pool (GPUMEM_POOL_NATIVE): each allocation is a page, made
     * and freed in the order of the device's default stream. Absent: GPUMEM_POOL_NATIVE is
     * GPUMEM_ERROR_UNSUPPORTED. */
    gpumem_result (*native_pool_create)(gpumem_backend_device *device, uint32_t memory_type,
                                        uint64_t release_threshold, gpumem_backend_pool **pool);
    void (*native_pool_destroy)(gpumem_backend_device *device, gpumem_backend_pool *pool);
    gpumem_result (*native_pool_allocate)(gpumem_backend_device *device,
                                          gpumem_backend_pool *pool,
                                          gpumem_backend_stream *stream, uint64_t size,
                                          gpumem_backend_page **page);
    void (*native_pool_free)(gpumem_backend_device *device, gpumem_backend_pool *pool,
                             gpumem_backend_stream *stream, gpumem_backend_page *page);
    /* Releases cached memory down to keep_bytes. Absent: trim only waits for the stream. */
    gpumem_result (*native_pool_trim)(gpumem_backend_device *device, gpumem_backend_pool *pool,
                                      uint64_t keep_bytes);
    /* reserved: bytes the pool holds from the device; used: bytes in live allocations.
     * Absent: core's own counts. */
    gpumem_result (*native_pool_stats)(gpumem_backend_device *device, gpumem_backend_pool *pool,
                                       uint64_t *reserved, uint64_t *used);

    /* === version 3: events for the application (gpumem_event_*) === */

    /* Makes work submitted to `stream` from now on wait, on the device, until `event` (recorded
     * on any stream of the device) completed. Called only with event operations. Absent: core
     * waits for the event on the host (event_synchronize) before it returns. */
    gpumem_result (*stream_wait_event)(gpumem_backend_device *device,
                                       gpumem_backend_stream *stream,
                                       gpumem_backend_event *event);
    /* The runtime's own form of an event, for gpumem_event_native: `handle` a CUevent, a
     * hipEvent_t, or (Vulkan) the timeline semaphore it waits for, with the semaphore `value`
     * that completes it (0 for runtimes without values). Called only with event operations.
     * Absent: both 0. */
    gpumem_result (*event_native)(gpumem_backend_device *device, gpumem_backend_event *event,
                                  uint64_t *handle, uint64_t *value);

    /* The application's own stream (a CUstream, a hipStream_t: what stream_native returns for
     * a stream of the runtime) as a backend stream for gpumem_stream_wrap. Core uses it as any
     * stream (its operations, stream_synchronize, events) but never calls stream_destroy on
     * it; stream_unwrap, when present, is called instead once core is done with it. A wrapped
     * stream takes operations from several threads at once, as the runtimes' own streams do:
     * the application submits its own work to it, and where it is one of core's own (the
     * application wrapped what gpumem_stream_native gave it) two core streams share it, each
     * under its own lock, and core may use either from any thread (a create follows another
     * stream's frees on the calling thread). Only with streams. Absent: gpumem_stream_wrap is
     * GPUMEM_ERROR_UNSUPPORTED. */
    gpumem_result (*stream_wrap)(gpumem_backend_device *device, uint64_t native,
                                 gpumem_backend_stream **stream);
    void (*stream_unwrap)(gpumem_backend_device *device, gpumem_backend_stream *stream);

    /* === version 4: the application's memory as buffers (gpumem_buffer_import) === */

    /* A page over memory the application allocated and keeps (see gpumem_import_desc): the
     * fields the runtime's memory is named by (`address` for runtimes with addresses, `memory`
     * and `offset` for memory objects), `size` bytes of memory type `memory_type`, which the
     * application says the memory has. Check what the runtime lets you check cheaply and
     * return GPUMEM_ERROR_INVALID_ARGUMENT with a message for fields the runtime does not use
     * that are not 0, a field it needs that is 0, and memory it can tell is not of this device
     * or type. Core checked flags, reserved, size (> 0, at most max_allocation_size) and that
     * `offset` is a multiple of min_alignment; it does not require page_address's alignment of
     * such a page (the application's pointer may be less aligned), only its room below 2^64.
     * The page is then used as any page, for its `size` bytes from its offset 0 (copies,
     * fills, mapping, native buffers, page_address), and freed with page_free, which must
     * release only what page_import made, never the application's memory. Core never maps it
     * persistently, and unmaps it (page_unmap) when its last map ends: the application's memory
     * is unmapped once the buffer is gone. Never called for native pools. Absent:
     * gpumem_buffer_import is GPUMEM_ERROR_UNSUPPORTED. */
    gpumem_result (*page_import)(gpumem_backend_device *device, uint32_t memory_type,
                                 const gpumem_import_desc *desc, gpumem_backend_page **page);

    /* === version 5: buffer usage, and the application's events === */

    /* Checks that buffers of `usage` (GPUMEM_BUFFER_USAGE_*, never 0) and `flags`
     * (GPUMEM_BUFFER_*) can live in memory type `memory_type`, and returns in *alignment the
     * alignment their offsets in a page need (a power of two; core aligns to the larger of it,
     * min_alignment and what the application asked). GPUMEM_ERROR_UNSUPPORTED with a message
     * for a usage the device cannot give (a feature not enabled, a memory type such buffers
     * cannot use). Called at every create with a usage: keep the answers. Absent: every usage
     * is accepted and min_alignment suffices. */
    gpumem_result (*buffer_requirements)(gpumem_backend_device *device, uint32_t memory_type,
                                         uint32_t usage, uint32_t flags, uint64_t *alignment);
    /* native_buffer for a buffer created with `usage` and `flags` (as buffer_requirements
     * accepted them), default buffers included (usage GPUMEM_BUFFER_USAGE_DEFAULT, flags 0);
     * core calls it instead of native_buffer when present, so a backend with it needs no
     * native_buffer. */
    gpumem_result (*native_buffer_for_usage)(gpumem_backend_device *device,
                                             gpumem_backend_page *page, uint64_t offset,
                                             uint64_t size, uint32_t usage, uint32_t flags,
                                             gpumem_backend_buffer **cache,
                                             gpumem_native_buffer *native);

    /* The application's synchronization object as an event (gpumem_event_wrap): `handle` and
     * `value` as gpumem_native_event names them (a CUevent; a timeline VkSemaphore and the value
     * that completes the event). Core uses it as any event (event_record, event_synchronize,
     * stream_wait_event, event_native) but never calls event_destroy on it; event_unwrap, when
     * present, is called instead once core is done with it. Only with event operations.
     * Absent: gpumem_event_wrap is GPUMEM_ERROR_UNSUPPORTED. */
    gpumem_result (*event_wrap)(gpumem_backend_device *device, uint64_t handle, uint64_t value,
                                gpumem_backend_event **event);
    void (*event_unwrap)(gpumem_backend_device *device, gpumem_backend_event *event);

    /* === version 6: images (gpumem_image_*) === */

    /* A group: image_create, image_bind, image_destroy, image_native, copy_page_to_image and
     * copy_image_to_page, or none. Absent: core lays images out itself, pitched, in pages (the
     * device's image_pitch_alignment and image_base_alignment), and transfers their rows with
     * the page operations; a backend whose memory is plain memory needs none of these. */

    /* An image object, not yet bound to memory, for `desc` (checked and completed by core:
     * every default filled in; `format` a GPUMEM_FORMAT_* other than NATIVE, or NATIVE with
     * `native_format` and `texel_size`) to live in memory type `memory_type`, and what it
     * needs of that memory. GPUMEM_ERROR_UNSUPPORTED with a message naming what the runtime
     * refuses (format, usage, tiling, extent, memory type), and GPUMEM_ERROR_INVALID_ARGUMENT
     * for a native format whose texels are not texel_size bytes. Called outside the pool's
     * lock. */
    gpumem_result (*image_create)(gpumem_backend_device *device, uint32_t memory_type,
                                  const gpumem_image_desc *desc, gpumem_backend_image **image,
                                  gpumem_backend_image_requirements *requirements);
    /* Binds the image to [offset, offset + requirements.size) of a page (offset aligned as
     * asked), once, before any other use, and readies it for use: from then on it is in the
     * layout image_native reports (Vulkan: moved to GENERAL, waited for). Under the pool's
     * lock. */
    gpumem_result (*image_bind)(gpumem_backend_device *device, gpumem_backend_image *image,
                                gpumem_backend_page *page, uint64_t offset);
    /* Destroys the image (no work queued on it; its memory may be freed after). */
    void (*image_destroy)(gpumem_backend_device *device, gpumem_backend_image *image);
    /* Fills `memory`, `image`, `format` and `layout` of gpumem_native_image (core fills the
     * rest). */
    gpumem_result (*image_native)(gpumem_backend_device *device, gpumem_backend_image *image,
                                  gpumem_native_image *native);
    /* Copies a box between a page and the image, ordered on the stream. In the page the texels
     * start at `offset` (a multiple of the texel size) and are packed as Vulkan's buffer-image
     * copies pack them: rows `row_length` texels apart, slices `image_height` rows apart,
     * layers one slice count after another. `region` was checked by core (inside the level,
     * layer_count, height and depth filled in; host pitches 0). The image's subresources are
     * left as image_native says (Vulkan: VK_IMAGE_LAYOUT_GENERAL); a backend whose images
     * start in another layout moves them at their first copy. */
    gpumem_result (*copy_page_to_image)(gpumem_backend_device *device,
                                        gpumem_backend_stream *stream, gpumem_backend_page *page,
                                        uint64_t offset, uint32_t row_length,
                                        uint32_t image_height, gpumem_backend_image *image,
                                        const gpumem_image_region *region);
    gpumem_result (*copy_image_to_page)(gpumem_backend_device *device,
                                        gpumem_backend_stream *stream,
                                        gpumem_backend_image *image,
                                        const gpumem_image_region *region,
                                        gpumem_backend_page *page, uint64_t offset,
                                        uint32_t row_length, uint32_t image_height);
    /* A page of `size` bytes (the image's requirements.size, exactly) allocated for one image
     * (Vulkan: VkMemoryDedicatedAllocateInfo), for images whose requirements say `dedicated`
     * or that the application made with GPUMEM_IMAGE_DEDICATED. Core binds only that image to
     * it, never copies to or from it as a page, and frees it with page_free. Optional within
     * the image group; absent: page_allocate. */
    gpumem_result (*page_allocate_for_image)(gpumem_backend_device *device,
                                             uint32_t memory_type, uint64_t size,
                                             gpumem_backend_image *image,
                                             gpumem_backend_page **page);
    /* Copies a box from one image to another, or to another subresource of the same image
     * (core never asks for a copy within one subresource, nor between a 1D image and one of
     * another type), ordered on the stream; the regions
     * have one extent and layer count. Optional within the image group; absent: core copies
     * through a staging chunk (image to chunk to image, on the stream). */
    gpumem_result (*copy_image_to_image)(gpumem_backend_device *device,
                                         gpumem_backend_stream *stream,
                                         gpumem_backend_image *source,
                                         const gpumem_image_region *source_region,
                                         gpumem_backend_image *destination,
                                         const gpumem_image_region *destination_region);

    /* Registers host memory with the device (gpumem_host_register; and core, for the length of
     * one synchronous write or read on few usable CPUs), so that its transfers go by DMA and
     * host_memory_is_pinned says 1 for it; `host` non-NULL, `size` > 0 (core
     * checked). A range the runtime refuses as overlapping a registered one, or as not memory:
     * GPUMEM_ERROR_INVALID_ARGUMENT with the runtime's error. A group of two: register and
     * unregister. Absent: gpumem_host_register is GPUMEM_ERROR_UNSUPPORTED. */
    gpumem_result (*host_register)(gpumem_backend_device *device, void *host, uint64_t size,
                                   gpumem_backend_registration **registration);
    /* Ends a registration (no transfer of the memory is queued any more: core waited, or the
     * wait failed; see stream_synchronize). */
    void (*host_unregister)(gpumem_backend_device *device,
                            gpumem_backend_registration *registration);

    /* === version 7: writes from registered memory that core waits for === */

    /* As copy_host_to_page, for `source` inside one registration made by host_register, but
     * without waiting: the copy is queued on the stream and may read `source` until the
     * stream's work completes. Core waits for the stream before it ends the registration or
     * returns to the caller; it calls this for the pieces of a write whose pages it registered
     * for that write (transfer_registration.h), registering the next piece while this one's copy
     * runs. Only with streams and host_register. Absent: core registers such a write whole
     * and copies it with copy_host_to_page. */
    gpumem_result (*queue_registered_host_to_page)(gpumem_backend_device *device,
                                                   gpumem_backend_stream *stream,
                                                   const void *source,
                                                   gpumem_backend_page *destination,
                                                   uint64_t destination_offset, uint64_t size);

    /* === version 8: read-only registration === */

    /* As host_register, for memory the device will only read: the source of a write that core
     * registers for itself (CUDA: CU_MEMHOSTREGISTER_READ_ONLY, whose pinning costs less; a
     * device that cannot register read-only memory registers it as host_register does). Ended
     * by host_unregister. Only with host_register. Absent: core uses host_register. */
    gpumem_result (*host_register_read_only)(gpumem_backend_device *device, void *host,
                                             uint64_t size,
                                             gpumem_backend_registration **registration);

    /* === later versions append here === */
} gpumem_backend_vtable;

/* A module exports this function, under this name. gpumem calls it (and runs the module's
 * constructors) while it loads the module, inside the fill of its list of backends: neither may
 * call gpumem, whose registry calls then answer GPUMEM_ERROR_BAD_STATE. */
#define GPUMEM_BACKEND_ENTRY_NAME "gpumem_backend_entry"
typedef const gpumem_backend_vtable *(*gpumem_backend_entry_fn)(void);

/* Registers a backend in this process (as built-in backends are). Checks the table: the version
 * (GPUMEM_ERROR_ABI_MISMATCH for one this libgpumem does not know), the name, every required
 * operation and every group (GPUMEM_ERROR_INVALID_ARGUMENT, with a message naming what is
 * missing). A name already registered: GPUMEM_ERROR_INVALID_ARGUMENT. The table must stay valid
 * for the life of the process. */
GPUMEM_API gpumem_result gpumem_backend_register(const gpumem_backend_vtable *vtable);

/* For backends: records the detail of a failure for gpumem_last_error() and returns `result`,
 * so that `return gpumem_backend_error(GPUMEM_ERROR_BACKEND, "cuMemAlloc: %s", name);` works. */
GPUMEM_API gpumem_result gpumem_backend_error(gpumem_result result, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* For backends: writes to gpumem's log (GPUMEM_LOG_* level). During a call, a log callback gets
 * the message at the call's end (gpumem_log_set_callback), so it may be sent under any lock. */
GPUMEM_API void gpumem_backend_log(int32_t level, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif

#endif /* GPUMEM_BACKEND_H */
