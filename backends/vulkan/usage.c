/* Buffer usage: what the application creates a buffer for (GPUMEM_BUFFER_USAGE_*) as Vulkan's
 * VkBufferUsageFlags and sharing mode, and what such a VkBuffer needs of its place in a page:
 * the memory types it may live in and the alignment of its offset. Both are the same for every
 * buffer of one usage and sharing (the spec promises it), so one small probe buffer per usage
 * tells them, once per device.
 *
 * gpumem's own transfers and fills go through each page's VkBuffer (storage and transfer): the
 * usage concerns only the VkBuffer the application gets from gpumem_buffer_native. */
#include "vulkan_backend.h"

VkBufferUsageFlags vulkan_usage_flags(uint32_t usage)
{
    VkBufferUsageFlags flags = 0;
    if (usage & GPUMEM_BUFFER_USAGE_STORAGE)
        flags |= VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
    if (usage & GPUMEM_BUFFER_USAGE_UNIFORM)
        flags |= VK_BUFFER_USAGE_UNIFORM_BUFFER_BIT;
    if (usage & GPUMEM_BUFFER_USAGE_VERTEX)
        flags |= VK_BUFFER_USAGE_VERTEX_BUFFER_BIT;
    if (usage & GPUMEM_BUFFER_USAGE_INDEX)
        flags |= VK_BUFFER_USAGE_INDEX_BUFFER_BIT;
    if (usage & GPUMEM_BUFFER_USAGE_INDIRECT)
        flags |= VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT;
    if (usage & GPUMEM_BUFFER_USAGE_TRANSFER)
        flags |= VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    if (usage & GPUMEM_BUFFER_USAGE_DEVICE_ADDRESS)
        flags |= VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT;
    return flags;
}

/* The offset alignment the usage's descriptors or commands need, beyond the buffer's own. */
static VkDeviceSize usage_offset_alignment(const gpumem_backend_device *d, uint32_t usage)
{
    const VkPhysicalDeviceLimits *l = &d->properties.limits;
    VkDeviceSize a = 1;
    if ((usage & GPUMEM_BUFFER_USAGE_STORAGE) && l->minStorageBufferOffsetAlignment > a)
        a = l->minStorageBufferOffsetAlignment;
    if ((usage & GPUMEM_BUFFER_USAGE_UNIFORM) && l->minUniformBufferOffsetAlignment > a)
        a = l->minUniformBufferOffsetAlignment;
    if ((usage & GPUMEM_BUFFER_USAGE_INDIRECT) && a < 4)
        a = 4; /* indirect arguments are read from multiples of 4 */
    return a;
}

gpumem_result vulkan_buffer_requirements(gpumem_backend_device *d, uint32_t memory_type,
                                         uint32_t usage, uint32_t flags, uint64_t *alignment)
{
    if ((usage & GPUMEM_BUFFER_USAGE_DEVICE_ADDRESS) && !d->device_address)
        return vulkan_report(GPUMEM_ERROR_UNSUPPORTED,
                             "vulkan: GPUMEM_BUFFER_USAGE_DEVICE_ADDRESS needs the "
                             "bufferDeviceAddress feature, which this device %s",
                             d->owns_device ? "does not have"
                                            : "was not said to have enabled "
                                              "(GPUMEM_VULKAN_FEATURE_BUFFER_DEVICE_ADDRESS)");
    int concurrent = (flags & GPUMEM_BUFFER_CONCURRENT) != 0;
    pthread_mutex_lock(&d->usage_lock);
    __typeof__(d->usage_requirements[0][0]) *known = &d->usage_requirements[usage][concurrent];
    gpumem_result r = GPUMEM_OK;
    if (!known->known) {
        VkBuffer buffer;
        VkMemoryRequirements req;
        r = vulkan_buffer_create(d, 4096, vulkan_usage_flags(usage), concurrent, &buffer,
                                 &req);
        if (r == GPUMEM_OK) {
            d->vk.vkDestroyBuffer(d->device, buffer, NULL);
            known->type_bits = req.memoryTypeBits;
            known->alignment = req.alignment;
            known->known = 1;
        }
    }
    uint32_t type_bits = known->type_bits;
    VkDeviceSize a = known->alignment;
    pthread_mutex_unlock(&d->usage_lock);
    if (r != GPUMEM_OK)
        return r;
    uint32_t vk_type = d->type_map[memory_type];
    if (!(type_bits & (1u << vk_type)))
        return vulkan_report(GPUMEM_ERROR_UNSUPPORTED,
                             "vulkan: buffers of usage 0x%x cannot live in Vulkan memory type %u "
                             "(they can in types 0x%x)",
                             usage, vk_type, type_bits);
    VkDeviceSize extra = usage_offset_alignment(d, usage);
    *alignment = a > extra ? a : extra;
    return GPUMEM_OK;
}
