/* What a device reports to core: its memory types and heaps in gpumem's flags, and the limits
 * that make every offset core chooses valid for a VkBuffer. */
#include <stdio.h>
#include <string.h>

#include "vulkan_backend.h"

/* Types gpumem cannot put its buffers in: protected memory needs protected queues, lazily
 * allocated memory is for transient images, and AMD's device-coherent memory needs a feature
 * gpumem does not enable. Offering them would let a pool choose a type that cannot work. */
#define UNUSABLE_TYPE_FLAGS                                                       \
    (VK_MEMORY_PROPERTY_PROTECTED_BIT | VK_MEMORY_PROPERTY_LAZILY_ALLOCATED_BIT | \
     VK_MEMORY_PROPERTY_DEVICE_COHERENT_BIT_AMD)

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static uint64_t power_of_two_at_least(uint64_t x)
{
    uint64_t p = 1;
    while (p < x)
        p <<= 1;
    return p;
}

static uint32_t gpumem_flags(VkMemoryPropertyFlags f)
{
    return ((f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) ? GPUMEM_MEMORY_DEVICE_LOCAL : 0) |
           ((f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) ? GPUMEM_MEMORY_HOST_VISIBLE : 0) |
           ((f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) ? GPUMEM_MEMORY_HOST_COHERENT : 0) |
           ((f & VK_MEMORY_PROPERTY_HOST_CACHED_BIT) ? GPUMEM_MEMORY_HOST_CACHED : 0);
}

/* Limits, and what identifies the device to a person: its UUID, driver and PCI address. Only
 * structures the device's version or extensions know are chained. */
static void read_limits(gpumem_backend_device *d)
{
    d->has_pci = vulkan_device_has_extension(&d->instance, d->physical_device,
                                             VK_EXT_PCI_BUS_INFO_EXTENSION_NAME);
    d->has_driver = d->api_version >= VK_API_VERSION_1_2;
    d->pci = (VkPhysicalDevicePCIBusInfoPropertiesEXT){
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PCI_BUS_INFO_PROPERTIES_EXT};
    d->driver = (VkPhysicalDeviceDriverProperties){
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES,
        .pNext = d->has_pci ? &d->pci : NULL};
    d->id = (VkPhysicalDeviceIDProperties){
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES,
        .pNext = d->has_driver ? (void *)&d->driver : d->has_pci ? (void *)&d->pci : NULL};
    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
        .pNext = &d->id,
    };
    VkPhysicalDeviceProperties2 p2 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
        .pNext = &m3,
    };
    d->instance.vk.vkGetPhysicalDeviceProperties2(d->physical_device, &p2);
    d->properties = p2.properties;
    d->max_allocation_size = m3.maxMemoryAllocationSize;
    d->instance.vk.vkGetPhysicalDeviceMemoryProperties(d->physical_device, &d->memory);
}

/* Alignment and memory types are the same for every buffer of one usage (the spec promises
 * it), so one small buffer tells them for all. */
static gpumem_result probe_buffer(gpumem_backend_device *d)
{
    VkBuffer buffer;
    VkMemoryRequirements req;
    gpumem_result r = vulkan_buffer_create(d, 4096, VULKAN_BUFFER_USAGE, 0, &buffer, &req);
    if (r != GPUMEM_OK)
        return r;
    d->vk.vkDestroyBuffer(d->device, buffer, NULL);
    d->buffer_alignment = req.alignment;
    d->buffer_type_bits = req.memoryTypeBits;
    return GPUMEM_OK;
}

static void map_types(gpumem_backend_device *d)
{
    d->type_count = 0;
    for (uint32_t i = 0; i < d->memory.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = d->memory.memoryTypes[i].propertyFlags;
        if ((d->buffer_type_bits & (1u << i)) && !(f & UNUSABLE_TYPE_FLAGS))
            d->type_map[d->type_count++] = i;
    }
}

/* Offsets core picks are multiples of min_alignment, so it must satisfy the buffer's own
 * alignment, storage descriptors' offsets, and, where some type is not coherent, the atom size
 * (so invalidating one buffer's atoms never discards a neighbour's unflushed writes).
 * bufferImageGranularity is not folded in: core keeps optimal-tiling images apart from linear
 * resources by the granularity image_create reports for each image (backend.h). */
static uint64_t min_alignment(const gpumem_backend_device *d)
{
    const VkPhysicalDeviceLimits *l = &d->properties.limits;
    uint64_t a = max_u64(d->buffer_alignment, l->minStorageBufferOffsetAlignment);
    for (uint32_t i = 0; i < d->type_count; i++) {
        VkMemoryPropertyFlags f = d->memory.memoryTypes[d->type_map[i]].propertyFlags;
        if ((f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) &&
            !(f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT))
            a = max_u64(a, l->nonCoherentAtomSize);
    }
    return power_of_two_at_least(max_u64(a, 4)); /* fills work in 32-bit words */
}

gpumem_result vulkan_device_describe(gpumem_backend_device *d)
{
    read_limits(d);
    gpumem_result r = probe_buffer(d);
    if (r != GPUMEM_OK)
        return r;
    map_types(d);
    if (d->type_count == 0)
        return vulkan_report(GPUMEM_ERROR_UNSUPPORTED,
                             "vulkan: %s has no memory type for storage buffers",
                             d->properties.deviceName);
    d->min_alignment = min_alignment(d);
    return GPUMEM_OK;
}

static uint64_t largest_heap(const VkPhysicalDeviceMemoryProperties *m)
{
    uint64_t largest = 0;
    for (uint32_t i = 0; i < m->memoryHeapCount; i++)
        largest = max_u64(largest, m->memoryHeaps[i].size);
    return largest;
}

static uint32_t device_type(VkPhysicalDeviceType type)
{
    switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return GPUMEM_DEVICE_TYPE_INTEGRATED_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return GPUMEM_DEVICE_TYPE_DISCRETE_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return GPUMEM_DEVICE_TYPE_VIRTUAL_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return GPUMEM_DEVICE_TYPE_CPU;
    default: return GPUMEM_DEVICE_TYPE_OTHER;
    }
}

static void describe_identity(const gpumem_backend_device *d, gpumem_device_properties *p)
{
    uint32_t v = d->properties.apiVersion;
    p->device_type = device_type(d->properties.deviceType);
    snprintf(p->api_version, sizeof p->api_version, "Vulkan %u.%u.%u", VK_API_VERSION_MAJOR(v),
             VK_API_VERSION_MINOR(v), VK_API_VERSION_PATCH(v));
    if (d->has_driver)
        snprintf(p->driver_version, sizeof p->driver_version, "%.24s %.38s",
                 d->driver.driverName, d->driver.driverInfo);
    else /* the vendor's own encoding of driverVersion: shown as a number */
        snprintf(p->driver_version, sizeof p->driver_version, "driver %u",
                 d->properties.driverVersion);
    memcpy(p->uuid, d->id.deviceUUID, sizeof p->uuid);
    p->has_uuid = 1;
    if (d->has_pci)
        snprintf(p->pci_address, sizeof p->pci_address, "%04x:%02x:%02x.%x", d->pci.pciDomain,
                 d->pci.pciBus, d->pci.pciDevice, d->pci.pciFunction);
}

gpumem_result vulkan_device_properties(gpumem_backend_device *d, gpumem_device_properties *p)
{
    snprintf(p->name, sizeof p->name, "%s", d->properties.deviceName);
    p->vendor_id = d->properties.vendorID;
    p->device_id = d->properties.deviceID;
    p->memory_heap_count = d->memory.memoryHeapCount;
    for (uint32_t i = 0; i < d->memory.memoryHeapCount; i++) {
        const VkMemoryHeap *h = &d->memory.memoryHeaps[i];
        p->memory_heaps[i] = (gpumem_memory_heap){
            .size = h->size,
            .budget = h->size,
            .flags = (h->flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) ? GPUMEM_MEMORY_DEVICE_LOCAL : 0,
        };
    }
    p->memory_type_count = d->type_count;
    for (uint32_t i = 0; i < d->type_count; i++) {
        const VkMemoryType *t = &d->memory.memoryTypes[d->type_map[i]];
        p->memory_types[i] = (gpumem_memory_type){.flags = gpumem_flags(t->propertyFlags),
                                                  .heap_index = t->heapIndex};
    }
    const VkPhysicalDeviceLimits *l = &d->properties.limits;
    p->min_alignment = d->min_alignment;
    p->non_coherent_atom_size = power_of_two_at_least(max_u64(l->nonCoherentAtomSize, 1));
    /* No single allocation can be larger than every heap, whatever the driver's limit says. */
    p->max_allocation_size = d->max_allocation_size < largest_heap(&d->memory)
                                 ? d->max_allocation_size
                                 : largest_heap(&d->memory);
    p->max_allocation_count = l->maxMemoryAllocationCount;
    describe_identity(d, p);
    return GPUMEM_OK;
}

gpumem_result vulkan_heap_budget(gpumem_backend_device *d, uint64_t *budget, uint64_t *usage)
{
    if (!d->has_memory_budget)
        return vulkan_report(GPUMEM_ERROR_UNSUPPORTED, "vulkan: %s has no VK_EXT_memory_budget",
                             d->properties.deviceName);
    VkPhysicalDeviceMemoryBudgetPropertiesEXT b = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT,
    };
    VkPhysicalDeviceMemoryProperties2 m = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2,
        .pNext = &b,
    };
    d->instance.vk.vkGetPhysicalDeviceMemoryProperties2(d->physical_device, &m);
    for (uint32_t i = 0; i < m.memoryProperties.memoryHeapCount; i++) {
        budget[i] = b.heapBudget[i];
        usage[i] = b.heapUsage[i];
    }
    return GPUMEM_OK;
}
