/* Images: a VkImage per gpumem image, bound where core placed it (in a shared page, or in memory
 * allocated for it where the driver asks, VK_KHR_dedicated_allocation). At bind the whole image
 * moves from UNDEFINED to GENERAL, on a setup stream of the device that the host waits for, so
 * every image is in GENERAL from its creation on: the layout gpumem_image_native reports, in
 * which it rests between copies. Copies between a page's VkBuffer and the image, and between
 * images, are recorded on the stream like every transfer (stream.c puts a transfer barrier
 * before each); each moves its subresources to the transfer layouts and back. */
#include <stdlib.h>

#include "vulkan_backend.h"

struct gpumem_backend_image {
    VkImage image;
    VkFormat format;
    uint32_t levels, layers;
    VkDeviceMemory memory; /* once bound */
};

/* Bytes per texel of Vulkan's uncompressed color formats (VK_FORMAT_R4G4_UNORM_PACK8 = 1 to
 * VK_FORMAT_E5B9G9R9_UFLOAT_PACK32 = 123), in runs of formats of one size. Depth, stencil,
 * compressed and extension formats are not here: gpumem's copies move color texels one by
 * one. */
static uint32_t texel_size_of(VkFormat format)
{
    static const struct {
        int last;
        uint8_t size;
    } runs[] = {{1, 1},   {8, 2},   {15, 1},  {22, 2},  {36, 3},  {57, 4},  {69, 4},
                {76, 2},  {83, 4},  {90, 6},  {97, 8},  {100, 4}, {103, 8}, {106, 12},
                {109, 16}, {112, 8}, {115, 16}, {118, 24}, {121, 32}, {123, 4}};
    if ((int)format < 1)
        return 0;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++)
        if ((int)format <= runs[i].last)
            return runs[i].size;
    return 0;
}

static VkFormat vk_format(const gpumem_image_desc *desc)
{
    switch (desc->format) {
    case GPUMEM_FORMAT_NATIVE: return (VkFormat)desc->native_format;
    case GPUMEM_FORMAT_R8_UNORM: return VK_FORMAT_R8_UNORM;
    case GPUMEM_FORMAT_R8_UINT: return VK_FORMAT_R8_UINT;
    case GPUMEM_FORMAT_R8G8_UNORM: return VK_FORMAT_R8G8_UNORM;
    case GPUMEM_FORMAT_R8G8B8A8_UNORM: return VK_FORMAT_R8G8B8A8_UNORM;
    case GPUMEM_FORMAT_R8G8B8A8_UINT: return VK_FORMAT_R8G8B8A8_UINT;
    case GPUMEM_FORMAT_B8G8R8A8_UNORM: return VK_FORMAT_B8G8R8A8_UNORM;
    case GPUMEM_FORMAT_R16_UINT: return VK_FORMAT_R16_UINT;
    case GPUMEM_FORMAT_R16_SFLOAT: return VK_FORMAT_R16_SFLOAT;
    case GPUMEM_FORMAT_R16G16B16A16_SFLOAT: return VK_FORMAT_R16G16B16A16_SFLOAT;
    case GPUMEM_FORMAT_R32_UINT: return VK_FORMAT_R32_UINT;
    case GPUMEM_FORMAT_R32_SINT: return VK_FORMAT_R32_SINT;
    case GPUMEM_FORMAT_R32_SFLOAT: return VK_FORMAT_R32_SFLOAT;
    case GPUMEM_FORMAT_R32G32_SFLOAT: return VK_FORMAT_R32G32_SFLOAT;
    case GPUMEM_FORMAT_R32G32B32A32_SFLOAT: return VK_FORMAT_R32G32B32A32_SFLOAT;
    default: return VK_FORMAT_UNDEFINED;
    }
}

/* Each GPUMEM_IMAGE_USAGE_* bit: its Vulkan usage and the format feature that usage needs. */
static const struct {
    uint32_t gpumem;
    VkImageUsageFlags usage;
    VkFormatFeatureFlags feature;
} usage_bits[] = {
    {GPUMEM_IMAGE_USAGE_SAMPLED, VK_IMAGE_USAGE_SAMPLED_BIT, VK_FORMAT_FEATURE_SAMPLED_IMAGE_BIT},
    {GPUMEM_IMAGE_USAGE_STORAGE, VK_IMAGE_USAGE_STORAGE_BIT, VK_FORMAT_FEATURE_STORAGE_IMAGE_BIT},
    {GPUMEM_IMAGE_USAGE_COLOR_ATTACHMENT, VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT,
     VK_FORMAT_FEATURE_COLOR_ATTACHMENT_BIT},
};

/* gpumem's own copies need transfer source and destination whatever the application asked. */
static VkImageUsageFlags vk_usage(uint32_t usage)
{
    VkImageUsageFlags u = VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT;
    for (size_t i = 0; i < sizeof usage_bits / sizeof usage_bits[0]; i++)
        if (usage & usage_bits[i].gpumem)
            u |= usage_bits[i].usage;
    return u;
}

/* The format features an image of `usage` needs. */
static VkFormatFeatureFlags features_for(VkImageUsageFlags usage)
{
    VkFormatFeatureFlags f = VK_FORMAT_FEATURE_TRANSFER_SRC_BIT | VK_FORMAT_FEATURE_TRANSFER_DST_BIT;
    for (size_t i = 0; i < sizeof usage_bits / sizeof usage_bits[0]; i++)
        if (usage & usage_bits[i].usage)
            f |= usage_bits[i].feature;
    return f;
}

/* What the driver says it can make, before making it: a refusal names what was refused. The
 * format's features are asked first (the image query's "not supported" is an error result,
 * which the validation layer's best practices report). */
static gpumem_result check_support(gpumem_backend_device *d, const gpumem_image_desc *desc,
                                   const VkImageCreateInfo *info)
{
    const char *tiling = info->tiling == VK_IMAGE_TILING_LINEAR ? "linear" : "optimal";
    VkFormatProperties features;
    d->instance.vk.vkGetPhysicalDeviceFormatProperties(d->physical_device, info->format,
                                                       &features);
    VkFormatFeatureFlags have = info->tiling == VK_IMAGE_TILING_LINEAR
                                    ? features.linearTilingFeatures
                                    : features.optimalTilingFeatures;
    VkFormatFeatureFlags need = features_for(info->usage);
    if ((have & need) != need)
        return vulkan_report(GPUMEM_ERROR_UNSUPPORTED,
                             "vulkan: VkFormat %d with %s tiling lacks format features 0x%x "
                             "for usage 0x%x (gpumem usage 0x%x)",
                             (int)info->format, tiling, (unsigned)(need & ~have),
                             (unsigned)info->usage, desc->usage);
    VkImageFormatProperties p;
    VkResult vr = d->instance.vk.vkGetPhysicalDeviceImageFormatProperties(
        d->physical_device, info->format, info->imageType, info->tiling, info->usage, 0, &p);
    if (vr == VK_ERROR_FORMAT_NOT_SUPPORTED)
        return vulkan_report(GPUMEM_ERROR_UNSUPPORTED,
                             "vulkan: the device has no %uD images of VkFormat %d with %s tiling "
                             "and usage 0x%x (gpumem usage 0x%x)",
                             desc->type, (int)info->format, tiling, (unsigned)info->usage,
                             desc->usage);
    if (vr != VK_SUCCESS)
        return vulkan_fail(vr, "vkGetPhysicalDeviceImageFormatProperties");
    if (info->extent.width > p.maxExtent.width || info->extent.height > p.maxExtent.height ||
        info->extent.depth > p.maxExtent.depth || info->mipLevels > p.maxMipLevels ||
        info->arrayLayers > p.maxArrayLayers)
        return vulkan_report(GPUMEM_ERROR_UNSUPPORTED,
                             "vulkan: %ux%ux%u texels, %u levels, %u layers of VkFormat %d with "
                             "%s tiling exceed the device's %ux%ux%u, %u levels, %u layers",
                             info->extent.width, info->extent.height, info->extent.depth,
                             info->mipLevels, info->arrayLayers, (int)info->format, tiling,
                             p.maxExtent.width, p.maxExtent.height, p.maxExtent.depth,
                             p.maxMipLevels, p.maxArrayLayers);
    return GPUMEM_OK;
}

gpumem_result vulkan_image_create(gpumem_backend_device *d, uint32_t memory_type,
                                  const gpumem_image_desc *desc, gpumem_backend_image **out,
                                  gpumem_backend_image_requirements *requirements)
{
    static const VkImageType types[] = {VK_IMAGE_TYPE_1D, VK_IMAGE_TYPE_1D, VK_IMAGE_TYPE_2D,
                                        VK_IMAGE_TYPE_3D};
    VkImageCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO,
        .imageType = types[desc->type],
        .format = vk_format(desc),
        .extent = {desc->width, desc->height, desc->depth},
        .mipLevels = desc->mip_levels,
        .arrayLayers = desc->array_layers,
        .samples = VK_SAMPLE_COUNT_1_BIT,
        .tiling = desc->tiling == GPUMEM_IMAGE_TILING_LINEAR ? VK_IMAGE_TILING_LINEAR
                                                             : VK_IMAGE_TILING_OPTIMAL,
        .usage = vk_usage(desc->usage),
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
        .initialLayout = VK_IMAGE_LAYOUT_UNDEFINED,
    };
    if (info.format == VK_FORMAT_UNDEFINED)
        return vulkan_report(GPUMEM_ERROR_UNSUPPORTED, "vulkan: format %u has no VkFormat",
                             desc->format);
    uint32_t texel = texel_size_of(info.format);
    if (!texel)
        return vulkan_report(GPUMEM_ERROR_UNSUPPORTED,
                             "vulkan: VkFormat %d is not an uncompressed color format (depth, "
                             "stencil, block-compressed and multi-planar formats are not "
                             "supported: gpumem's copies move color texels)",
                             (int)info.format);
    if (texel != desc->texel_size && desc->format == GPUMEM_FORMAT_NATIVE)
        return vulkan_report(GPUMEM_ERROR_INVALID_ARGUMENT,
                             "vulkan: VkFormat %d has texels of %u bytes; texel_size says %u",
                             (int)info.format, texel, desc->texel_size);
    VkExtent3D g = d->transfer_granularity;
    if (g.width != 1 || g.height != 1 || g.depth != 1)
        return vulkan_report(GPUMEM_ERROR_UNSUPPORTED,
                             "vulkan: gpumem's queue (family %u) copies images only in units of "
                             "%ux%ux%u texels (minImageTransferGranularity); images need a queue "
                             "that copies any box (graphics or compute)",
                             d->queue_family, g.width, g.height, g.depth);
    gpumem_result r = check_support(d, desc, &info);
    if (r != GPUMEM_OK)
        return r;
    gpumem_backend_image *image = calloc(1, sizeof *image);
    if (!image)
        return vulkan_report(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "vulkan: no memory for an image");
    VkResult vr = d->vk.vkCreateImage(d->device, &info, NULL, &image->image);
    if (vr != VK_SUCCESS) {
        free(image);
        return vulkan_error(vr, "vkCreateImage", "of %ux%ux%u texels", desc->width,
                            desc->height, desc->depth);
    }
    image->format = info.format;
    image->levels = desc->mip_levels;
    image->layers = desc->array_layers;
    VkMemoryDedicatedRequirements dedicated = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_DEDICATED_REQUIREMENTS};
    VkMemoryRequirements2 req = {.sType = VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2,
                                 .pNext = &dedicated};
    VkImageMemoryRequirementsInfo2 which = {
        .sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_REQUIREMENTS_INFO_2, .image = image->image};
    d->vk.vkGetImageMemoryRequirements2(d->device, &which, &req);
    uint32_t vk_type = d->type_map[memory_type];
    if (!(req.memoryRequirements.memoryTypeBits & (1u << vk_type))) {
        vulkan_image_destroy(d, image);
        return vulkan_report(GPUMEM_ERROR_UNSUPPORTED,
                             "vulkan: images of VkFormat %d with %s tiling cannot live in memory "
                             "type %u (Vulkan type %u; they can in types 0x%x of Vulkan's)",
                             (int)info.format,
                             info.tiling == VK_IMAGE_TILING_LINEAR ? "linear" : "optimal",
                             memory_type, vk_type, req.memoryRequirements.memoryTypeBits);
    }
    *requirements = (gpumem_backend_image_requirements){
        .size = req.memoryRequirements.size,
        .alignment = req.memoryRequirements.alignment,
        .granularity = info.tiling == VK_IMAGE_TILING_OPTIMAL
                           ? d->properties.limits.bufferImageGranularity
                           : 0,
        .dedicated = dedicated.requiresDedicatedAllocation  ? 2
                     : dedicated.prefersDedicatedAllocation ? 1
                                                            : 0,
    };
    *out = image;
    return GPUMEM_OK;
}

static void transition(gpumem_backend_device *d, VkCommandBuffer cb, gpumem_backend_image *image,
                       VkImageLayout from, VkImageLayout to, VkImageSubresourceRange range);

static VkImageSubresourceRange whole(const gpumem_backend_image *image)
{
    return (VkImageSubresourceRange){VK_IMAGE_ASPECT_COLOR_BIT, 0, image->levels, 0,
                                     image->layers};
}

/* Moves a new image to GENERAL, and waits: from here on its layout is always known. */
static gpumem_result into_general(gpumem_backend_device *d, gpumem_backend_image *image)
{
    pthread_mutex_lock(&d->setup_lock);
    gpumem_result r = d->setup_stream ? GPUMEM_OK : vulkan_stream_create(d, &d->setup_stream);
    VkCommandBuffer cb;
    if (r == GPUMEM_OK && (r = vulkan_stream_record(d, d->setup_stream, &cb)) == GPUMEM_OK) {
        transition(d, cb, image, VK_IMAGE_LAYOUT_UNDEFINED, VK_IMAGE_LAYOUT_GENERAL,
                   whole(image));
        r = vulkan_stream_recorded(d, d->setup_stream, 0);
    }
    if (r == GPUMEM_OK)
        r = vulkan_stream_synchronize(d, d->setup_stream);
    pthread_mutex_unlock(&d->setup_lock);
    return r;
}

void vulkan_images_release(gpumem_backend_device *d)
{
    if (d->setup_stream)
        vulkan_stream_destroy(d, d->setup_stream);
    d->setup_stream = NULL;
}

gpumem_result vulkan_image_bind(gpumem_backend_device *d, gpumem_backend_image *image,
                                gpumem_backend_page *page, uint64_t offset)
{
    VkResult vr = d->vk.vkBindImageMemory(d->device, image->image, page->memory,
                                          page->offset + offset);
    if (vr != VK_SUCCESS)
        return vulkan_error(vr, "vkBindImageMemory", "at offset %llu",
                            (unsigned long long)(page->offset + offset));
    image->memory = page->memory;
    return into_general(d, image);
}

void vulkan_image_destroy(gpumem_backend_device *d, gpumem_backend_image *image)
{
    d->vk.vkDestroyImage(d->device, image->image, NULL);
    free(image);
}

gpumem_result vulkan_image_native(gpumem_backend_device *d, gpumem_backend_image *image,
                                  gpumem_native_image *native)
{
    native->memory = VULKAN_HANDLE_BITS(image->memory);
    native->image = VULKAN_HANDLE_BITS(image->image);
    native->format = (uint32_t)image->format;
    native->layout = VK_IMAGE_LAYOUT_GENERAL;
    return GPUMEM_OK;
}

gpumem_result vulkan_page_allocate_for_image(gpumem_backend_device *d, uint32_t memory_type,
                                             uint64_t size, gpumem_backend_image *image,
                                             gpumem_backend_page **out)
{
    gpumem_backend_page *page = NULL;
    gpumem_result r = vulkan_page_record(d, memory_type, size, &page);
    if (r != GPUMEM_OK)
        return r;
    page->size = size;
    VkMemoryDedicatedAllocateInfo dedicated = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO, .image = image->image};
    /* No VkBuffer over it: memory allocated for an image may be bound to that image alone. */
    r = vulkan_memory_allocate(d, page, &dedicated);
    if (r != GPUMEM_OK) {
        vulkan_page_free(d, page);
        return r;
    }
    *out = page;
    return GPUMEM_OK;
}

/* --- copies --- */

static VkBufferImageCopy region_of(const gpumem_image_region *region, uint64_t offset,
                                   uint32_t row_length, uint32_t image_height);
static VkImageSubresourceRange range_of(const gpumem_image_region *region);
static uint64_t bytes_of(const gpumem_backend_image *image, const gpumem_image_region *region);

/* The transfer accesses a layout is for (what best practices expects a barrier to name). */
static VkAccessFlags access_of(VkImageLayout layout)
{
    switch (layout) {
    case VK_IMAGE_LAYOUT_UNDEFINED: return 0;
    case VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL: return VK_ACCESS_TRANSFER_WRITE_BIT;
    case VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL: return VK_ACCESS_TRANSFER_READ_BIT;
    default: return VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    }
}

/* A layout transition of subresources, between transfer stages: the transfers submitted
 * before it on the queue finish first, and those after it wait for it. */
static void transition(gpumem_backend_device *d, VkCommandBuffer cb, gpumem_backend_image *image,
                       VkImageLayout from, VkImageLayout to, VkImageSubresourceRange range)
{
    VkImageMemoryBarrier b = {
        .sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER,
        .srcAccessMask = access_of(from),
        .dstAccessMask = access_of(to),
        .oldLayout = from,
        .newLayout = to,
        .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
        .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
        .image = image->image,
        .subresourceRange = range,
    };
    d->vk.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT,
                               0, 0, NULL, 0, NULL, 1, &b);
}

/* Records a copy between the image and a page: it moves the copy's subresources from GENERAL,
 * where images rest, to the transfer layout drivers copy fastest in, and back. */
static gpumem_result record_copy(gpumem_backend_device *d, gpumem_backend_stream *s,
                                 gpumem_backend_image *image, gpumem_backend_page *page,
                                 const gpumem_image_region *region, uint64_t offset,
                                 uint32_t row_length, uint32_t image_height, int to_image)
{
    VkCommandBuffer cb;
    gpumem_result r = vulkan_stream_record(d, s, &cb);
    if (r != GPUMEM_OK)
        return r;
    VkImageLayout layout = to_image ? VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL
                                    : VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
    VkImageSubresourceRange range = range_of(region);
    transition(d, cb, image, VK_IMAGE_LAYOUT_GENERAL, layout, range);
    VkBufferImageCopy copy = region_of(region, offset, row_length, image_height);
    if (to_image)
        d->vk.vkCmdCopyBufferToImage(cb, page->buffer, image->image, layout, 1, &copy);
    else
        d->vk.vkCmdCopyImageToBuffer(cb, image->image, layout, page->buffer, 1, &copy);
    transition(d, cb, image, layout, VK_IMAGE_LAYOUT_GENERAL, range);
    return vulkan_stream_recorded(d, s, bytes_of(image, region));
}

static VkBufferImageCopy region_of(const gpumem_image_region *region, uint64_t offset,
                                   uint32_t row_length, uint32_t image_height)
{
    return (VkBufferImageCopy){
        .bufferOffset = offset,
        .bufferRowLength = row_length,
        .bufferImageHeight = image_height,
        .imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, region->mip_level, region->base_layer,
                             region->layer_count},
        .imageOffset = {(int32_t)region->x, (int32_t)region->y, (int32_t)region->z},
        .imageExtent = {region->width, region->height, region->depth},
    };
}

/* The bytes a copy moves, for the stream's batching. */
static uint64_t bytes_of(const gpumem_backend_image *image, const gpumem_image_region *region)
{
    return (uint64_t)region->width * region->height * region->depth * region->layer_count *
           texel_size_of(image->format);
}

gpumem_result vulkan_copy_page_to_image(gpumem_backend_device *d, gpumem_backend_stream *s,
                                        gpumem_backend_page *page, uint64_t offset,
                                        uint32_t row_length, uint32_t image_height,
                                        gpumem_backend_image *image,
                                        const gpumem_image_region *region)
{
    return record_copy(d, s, image, page, region, offset, row_length, image_height, 1);
}

gpumem_result vulkan_copy_image_to_page(gpumem_backend_device *d, gpumem_backend_stream *s,
                                        gpumem_backend_image *image,
                                        const gpumem_image_region *region,
                                        gpumem_backend_page *page, uint64_t offset,
                                        uint32_t row_length, uint32_t image_height)
{
    return record_copy(d, s, image, page, region, offset, row_length, image_height, 0);
}

static VkImageSubresourceRange range_of(const gpumem_image_region *region)
{
    return (VkImageSubresourceRange){VK_IMAGE_ASPECT_COLOR_BIT, region->mip_level, 1,
                                     region->base_layer, region->layer_count};
}

/* Between images, or two places of one image in different subresources (core stages copies
 * within one subresource, which Vulkan allows in GENERAL only). */
gpumem_result vulkan_copy_image_to_image(gpumem_backend_device *d, gpumem_backend_stream *s,
                                         gpumem_backend_image *source,
                                         const gpumem_image_region *from,
                                         gpumem_backend_image *destination,
                                         const gpumem_image_region *to)
{
    VkCommandBuffer cb;
    gpumem_result r = vulkan_stream_record(d, s, &cb);
    if (r != GPUMEM_OK)
        return r;
    transition(d, cb, source, VK_IMAGE_LAYOUT_GENERAL, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
               range_of(from));
    transition(d, cb, destination, VK_IMAGE_LAYOUT_GENERAL, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL,
               range_of(to));
    VkImageCopy copy = {
        .srcSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, from->mip_level, from->base_layer,
                           from->layer_count},
        .srcOffset = {(int32_t)from->x, (int32_t)from->y, (int32_t)from->z},
        .dstSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, to->mip_level, to->base_layer,
                           to->layer_count},
        .dstOffset = {(int32_t)to->x, (int32_t)to->y, (int32_t)to->z},
        .extent = {from->width, from->height, from->depth},
    };
    d->vk.vkCmdCopyImage(cb, source->image, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
                         destination->image, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &copy);
    transition(d, cb, source, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, VK_IMAGE_LAYOUT_GENERAL,
               range_of(from));
    transition(d, cb, destination, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_IMAGE_LAYOUT_GENERAL,
               range_of(to));
    return vulkan_stream_recorded(d, s, bytes_of(source, from));
}
