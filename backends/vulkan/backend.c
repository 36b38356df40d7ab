/* The Vulkan backend's table: what core calls. Each operation lives in the file of its concept
 * (device.c, properties.c, memory.c, usage.c, image.c, stream.c, copy.c). copy_host_to_page and
 * copy_page_to_host are absent on purpose: core maps host-visible pages or stages through them
 * with copy_page_to_page and events, which is all Vulkan could do itself. */
#include "vulkan_backend.h"

/* Above the host backend (0): a Vulkan device is a GPU, or at least a device of its own;
 * below the vendor runtimes, which reach the same GPUs with less in between. */
#define VULKAN_PRIORITY 10

static const gpumem_backend_vtable vulkan_vtable = {
    .version = GPUMEM_BACKEND_VERSION,
    .name = "vulkan",
    .priority = VULKAN_PRIORITY,
    .probe = vulkan_probe,
    .device_open = vulkan_device_open,
    .device_close = vulkan_device_close,
    .device_properties = vulkan_device_properties,
    .page_allocate = vulkan_page_allocate,
    .page_free = vulkan_page_free,
    .page_map = vulkan_page_map,
    .page_unmap = vulkan_page_unmap,
    .page_flush = vulkan_page_flush,
    .page_invalidate = vulkan_page_invalidate,
    .stream_create = vulkan_stream_create,
    .stream_destroy = vulkan_stream_destroy,
    .stream_synchronize = vulkan_stream_synchronize,
    .stream_native = vulkan_stream_native,
    .event_create = vulkan_event_create,
    .event_destroy = vulkan_event_destroy,
    .event_record = vulkan_event_record,
    .event_synchronize = vulkan_event_synchronize,
    .event_native = vulkan_event_native,
    .copy_page_to_page = vulkan_copy_page_to_page,
    .fill = vulkan_fill,
    .native_buffer_release = vulkan_native_buffer_release,
    .device_native = vulkan_device_native,
    .heap_budget = vulkan_heap_budget,
    .page_import = vulkan_page_import,
    .buffer_requirements = vulkan_buffer_requirements,
    .native_buffer_for_usage = vulkan_native_buffer_for_usage,
    .stream_wait_event = vulkan_stream_wait_event,
    .event_wrap = vulkan_event_wrap,
    .event_unwrap = vulkan_event_unwrap,
    .image_create = vulkan_image_create,
    .image_bind = vulkan_image_bind,
    .image_destroy = vulkan_image_destroy,
    .image_native = vulkan_image_native,
    .copy_page_to_image = vulkan_copy_page_to_image,
    .copy_image_to_page = vulkan_copy_image_to_page,
    .page_allocate_for_image = vulkan_page_allocate_for_image,
    .copy_image_to_image = vulkan_copy_image_to_image,
};

const gpumem_backend_vtable *gpumem_vulkan_backend(void);

const gpumem_backend_vtable *gpumem_vulkan_backend(void)
{
    return &vulkan_vtable;
}
