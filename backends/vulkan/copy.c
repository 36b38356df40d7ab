/* Transfers recorded on a stream: copies between pages and fills, through the VkBuffer each
 * page has over its whole memory. stream.c orders them and decides when to submit. */
#include "vulkan_backend.h"

gpumem_result vulkan_copy_page_to_page(gpumem_backend_device *d, gpumem_backend_stream *s,
                                       gpumem_backend_page *source, uint64_t source_offset,
                                       gpumem_backend_page *destination,
                                       uint64_t destination_offset, uint64_t size)
{
    VkCommandBuffer cb;
    gpumem_result r = vulkan_stream_record(d, s, &cb);
    if (r != GPUMEM_OK)
        return r;
    VkBufferCopy region = {
        .srcOffset = source_offset,
        .dstOffset = destination_offset,
        .size = size,
    };
    d->vk.vkCmdCopyBuffer(cb, source->buffer, destination->buffer, 1, &region);
    return vulkan_stream_recorded(d, s, size);
}

gpumem_result vulkan_fill(gpumem_backend_device *d, gpumem_backend_stream *s,
                          gpumem_backend_page *page, uint64_t offset, uint64_t size,
                          uint32_t pattern)
{
    VkCommandBuffer cb;
    gpumem_result r = vulkan_stream_record(d, s, &cb);
    if (r != GPUMEM_OK)
        return r;
    d->vk.vkCmdFillBuffer(cb, page->buffer, offset, size, pattern);
    return vulkan_stream_recorded(d, s, size);
}
