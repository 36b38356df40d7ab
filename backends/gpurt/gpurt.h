/* gpurt: the backend logic CUDA and HIP share, written once over a gpurt_runtime table.
 *
 * A backend supplies its table; GPURT_DEFINE_BACKEND then makes its vtable and entry function.
 * Only probe and device_open need to be told the table (they get no device); every other
 * operation finds it through the device it is given. Files are named gpurt_<concept>, so none
 * shadows a file of core's; the declarations below are grouped by the file that defines them,
 * and the private headers are gpurt_runtime.h (the runtime table), gpurt_device.h,
 * gpurt_page.h, gpurt_error.h, gpurt_loader.h, gpurt_pci.h and gpurt_properties.h.
 */
#ifndef GPUMEM_GPURT_H
#define GPUMEM_GPURT_H

#include "gpumem/backend.h"
#include "gpurt_runtime.h"

/* gpurt_device.c */
gpumem_result gpurt_probe(const gpurt_runtime *rt, uint32_t *device_count, char *reason,
                          size_t reason_size);
gpumem_result gpurt_device_open(const gpurt_runtime *rt, uint32_t index,
                                const gpumem_external_device *external,
                                gpumem_backend_device **device);
void gpurt_device_close(gpumem_backend_device *device);
gpumem_result gpurt_device_native(gpumem_backend_device *device,
                                  gpumem_external_device *native);

/* gpurt_properties.c */
gpumem_result gpurt_device_properties(gpumem_backend_device *device,
                                      gpumem_device_properties *properties);

/* gpurt_budget.c */
gpumem_result gpurt_heap_budget(gpumem_backend_device *device, uint64_t *budget,
                                uint64_t *usage);

/* gpurt_memory.c */
gpumem_result gpurt_page_allocate(gpumem_backend_device *device, uint32_t memory_type,
                                  uint64_t size, gpumem_backend_page **page);
void gpurt_page_free(gpumem_backend_device *device, gpumem_backend_page *page);
gpumem_result gpurt_page_map(gpumem_backend_device *device, gpumem_backend_page *page,
                             void **data);
uint64_t gpurt_page_address(gpumem_backend_device *device, gpumem_backend_page *page);
gpumem_result gpurt_page_import(gpumem_backend_device *device, uint32_t memory_type,
                                const gpumem_import_desc *desc, gpumem_backend_page **page);

/* gpurt_pinned.c */
gpumem_result gpurt_host_register(gpumem_backend_device *device, void *host, uint64_t size,
                                  gpumem_backend_registration **registration);
gpumem_result gpurt_host_register_read_only(gpumem_backend_device *device, void *host,
                                            uint64_t size,
                                            gpumem_backend_registration **registration);
void gpurt_host_unregister(gpumem_backend_device *device,
                           gpumem_backend_registration *registration);
int gpurt_host_memory_is_pinned(gpumem_backend_device *device, const void *host,
                                uint64_t size);

/* gpurt_stream.c */
gpumem_result gpurt_stream_create(gpumem_backend_device *device, gpumem_backend_stream **stream);
void gpurt_stream_destroy(gpumem_backend_device *device, gpumem_backend_stream *stream);
gpumem_result gpurt_stream_synchronize(gpumem_backend_device *device,
                                       gpumem_backend_stream *stream);
gpumem_result gpurt_stream_native(gpumem_backend_device *device, gpumem_backend_stream *stream,
                                  uint64_t *native);
gpumem_result gpurt_event_create(gpumem_backend_device *device, gpumem_backend_event **event);
void gpurt_event_destroy(gpumem_backend_device *device, gpumem_backend_event *event);
gpumem_result gpurt_event_record(gpumem_backend_device *device, gpumem_backend_stream *stream,
                                 gpumem_backend_event *event);
gpumem_result gpurt_stream_wrap(gpumem_backend_device *device, uint64_t native,
                                gpumem_backend_stream **stream);
gpumem_result gpurt_stream_wait_event(gpumem_backend_device *device,
                                      gpumem_backend_stream *stream, gpumem_backend_event *event);
gpumem_result gpurt_event_native(gpumem_backend_device *device, gpumem_backend_event *event,
                                 uint64_t *handle, uint64_t *value);
gpumem_result gpurt_event_synchronize(gpumem_backend_device *device,
                                      gpumem_backend_event *event);
gpumem_result gpurt_event_wrap(gpumem_backend_device *device, uint64_t handle, uint64_t value,
                               gpumem_backend_event **event);

/* gpurt_copy.c */
gpumem_result gpurt_copy_page_to_page(gpumem_backend_device *device,
                                      gpumem_backend_stream *stream, gpumem_backend_page *source,
                                      uint64_t source_offset, gpumem_backend_page *destination,
                                      uint64_t destination_offset, uint64_t size);
gpumem_result gpurt_copy_host_to_page(gpumem_backend_device *device,
                                      gpumem_backend_stream *stream, const void *source,
                                      gpumem_backend_page *destination,
                                      uint64_t destination_offset, uint64_t size);
gpumem_result gpurt_queue_registered_host_to_page(gpumem_backend_device *device,
                                                  gpumem_backend_stream *stream,
                                                  const void *source,
                                                  gpumem_backend_page *destination,
                                                  uint64_t destination_offset, uint64_t size);
gpumem_result gpurt_copy_page_to_host(gpumem_backend_device *device,
                                      gpumem_backend_stream *stream, gpumem_backend_page *source,
                                      uint64_t source_offset, void *destination, uint64_t size);
gpumem_result gpurt_fill(gpumem_backend_device *device, gpumem_backend_stream *stream,
                         gpumem_backend_page *page, uint64_t offset, uint64_t size,
                         uint32_t pattern);

/* gpurt_pool.c */
gpumem_result gpurt_native_pool_create(gpumem_backend_device *device, uint32_t memory_type,
                                       uint64_t release_threshold, gpumem_backend_pool **pool);
void gpurt_native_pool_destroy(gpumem_backend_device *device, gpumem_backend_pool *pool);
gpumem_result gpurt_native_pool_allocate(gpumem_backend_device *device, gpumem_backend_pool *pool,
                                         gpumem_backend_stream *stream, uint64_t size,
                                         gpumem_backend_page **page);
void gpurt_native_pool_free(gpumem_backend_device *device, gpumem_backend_pool *pool,
                            gpumem_backend_stream *stream, gpumem_backend_page *page);
gpumem_result gpurt_native_pool_trim(gpumem_backend_device *device, gpumem_backend_pool *pool,
                                     uint64_t keep_bytes);
gpumem_result gpurt_native_pool_stats(gpumem_backend_device *device, gpumem_backend_pool *pool,
                                      uint64_t *reserved, uint64_t *used);

/* Every vtable operation but identity, probe and device_open, for a designated initializer. */
#define GPURT_OPERATIONS                                                                          \
    .device_close = gpurt_device_close,                                                           \
    .device_properties = gpurt_device_properties,                                                 \
    .page_allocate = gpurt_page_allocate,                                                         \
    .page_free = gpurt_page_free,                                                                 \
    .page_map = gpurt_page_map,                                                                   \
    .page_address = gpurt_page_address,                                                           \
    .stream_create = gpurt_stream_create,                                                         \
    .stream_destroy = gpurt_stream_destroy,                                                       \
    .stream_synchronize = gpurt_stream_synchronize,                                               \
    .stream_native = gpurt_stream_native,                                                         \
    .event_create = gpurt_event_create,                                                           \
    .event_destroy = gpurt_event_destroy,                                                         \
    .event_record = gpurt_event_record,                                                           \
    .event_synchronize = gpurt_event_synchronize,                                                 \
    .stream_wait_event = gpurt_stream_wait_event,                                                 \
    .event_native = gpurt_event_native,                                                           \
    .event_wrap = gpurt_event_wrap,                                                               \
    .stream_wrap = gpurt_stream_wrap,                                                             \
    .copy_page_to_page = gpurt_copy_page_to_page,                                                 \
    .copy_host_to_page = gpurt_copy_host_to_page,                                                 \
    .queue_registered_host_to_page = gpurt_queue_registered_host_to_page,                         \
    .copy_page_to_host = gpurt_copy_page_to_host,                                                 \
    .host_memory_is_pinned = gpurt_host_memory_is_pinned,                                         \
    .host_register = gpurt_host_register,                                                         \
    .host_unregister = gpurt_host_unregister,                                                     \
    .host_register_read_only = gpurt_host_register_read_only,                                     \
    .fill = gpurt_fill,                                                                           \
    .device_native = gpurt_device_native,                                                         \
    .heap_budget = gpurt_heap_budget,                                                             \
    .native_pool_create = gpurt_native_pool_create,                                               \
    .native_pool_destroy = gpurt_native_pool_destroy,                                             \
    .native_pool_allocate = gpurt_native_pool_allocate,                                           \
    .native_pool_free = gpurt_native_pool_free,                                                   \
    .native_pool_trim = gpurt_native_pool_trim,                                                   \
    .native_pool_stats = gpurt_native_pool_stats,                                                 \
    .page_import = gpurt_page_import

/* Defines gpumem_<id>_backend(), returning a vtable whose probe and device_open use
 * `table` and whose other operations are gpurt's. */
#define GPURT_DEFINE_BACKEND(id, table, backend_priority)                                         \
    static gpumem_result id##_probe(uint32_t *device_count, char *reason, size_t reason_size)     \
    {                                                                                             \
        return gpurt_probe(&(table), device_count, reason, reason_size);                          \
    }                                                                                             \
    static gpumem_result id##_device_open(uint32_t index,                                         \
                                          const gpumem_external_device *external,                 \
                                          gpumem_backend_device **device)                         \
    {                                                                                             \
        return gpurt_device_open(&(table), index, external, device);                              \
    }                                                                                             \
    static const gpumem_backend_vtable id##_vtable = {                                            \
        .version = GPUMEM_BACKEND_VERSION,                                                        \
        .name = #id,                                                                              \
        .priority = (backend_priority),                                                           \
        .probe = id##_probe,                                                                      \
        .device_open = id##_device_open,                                                          \
        GPURT_OPERATIONS,                                                                         \
    };                                                                                            \
    const gpumem_backend_vtable *gpumem_##id##_backend(void);                                     \
    const gpumem_backend_vtable *gpumem_##id##_backend(void)                                      \
    {                                                                                             \
        return &id##_vtable;                                                                      \
    }

#endif
