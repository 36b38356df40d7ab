/* Memory: a page is one VkDeviceMemory with a VkBuffer over all of it, which transfers and
 * fills address by offset; a gpumem buffer is a VkBuffer bound at the offset core's TLSF chose,
 * created on first use. Mapping is one vkMapMemory per page (core counts the references).
 *
 * An imported page is a range of the application's VkDeviceMemory: its VkBuffer is bound at the
 * range's offset, so transfers and fills address it from 0 as any page; what names the memory
 * itself (native buffers' binding, mapping, flush and invalidate) adds page->offset. The memory
 * is never freed here. Vulkan maps a memory object once at a time, so the imported pages of one
 * object share one mapping of all of it (import_map). */
#include <pthread.h>
#include <stdlib.h>

#include "vulkan_backend.h"

gpumem_result vulkan_buffer_create(gpumem_backend_device *d, VkDeviceSize size,
                                   VkBufferUsageFlags usage, int concurrent, VkBuffer *buffer,
                                   VkMemoryRequirements *requirements)
{
    /* Concurrent sharing names two families at least; with one, exclusive is the same. */
    int shared = concurrent && d->family_count > 1;
    VkBufferCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = usage,
        .sharingMode = shared ? VK_SHARING_MODE_CONCURRENT : VK_SHARING_MODE_EXCLUSIVE,
        .queueFamilyIndexCount = shared ? d->family_count : 0,
        .pQueueFamilyIndices = shared ? d->families : NULL,
    };
    VkResult r = d->vk.vkCreateBuffer(d->device, &info, NULL, buffer);
    if (r != VK_SUCCESS)
        return vulkan_error(r, "vkCreateBuffer", "for %llu bytes", (unsigned long long)size);
    d->vk.vkGetBufferMemoryRequirements(d->device, *buffer, requirements);
    return GPUMEM_OK;
}

/* --- heap accounting --- */

/* gpumem never asks a heap for more than its size in all: Vulkan leaves oversubscription to the
 * driver, and drivers that allow it (lavapipe does, lazily) would only fail much later, when
 * the memory is touched. Refusing here makes "out of device memory" a clean, early error. */
static gpumem_result heap_reserve(gpumem_backend_device *d, uint32_t heap, uint64_t size)
{
    uint64_t capacity = d->memory.memoryHeaps[heap].size;
    uint64_t held = atomic_load(&d->heap_allocated[heap]);
    do {
        if (size > capacity || held > capacity - size)
            return vulkan_report(
                GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY,
                "vkAllocateMemory: VK_ERROR_OUT_OF_DEVICE_MEMORY for %llu bytes in heap %u "
                "(not called: gpumem already holds %llu of the heap's %llu bytes)",
                (unsigned long long)size, heap, (unsigned long long)held,
                (unsigned long long)capacity);
    } while (!atomic_compare_exchange_weak(&d->heap_allocated[heap], &held, held + size));
    return GPUMEM_OK;
}

static void heap_release(gpumem_backend_device *d, uint32_t heap, uint64_t size)
{
    atomic_fetch_sub(&d->heap_allocated[heap], size);
}

/* --- pages --- */

gpumem_result vulkan_memory_allocate(gpumem_backend_device *d, gpumem_backend_page *page,
                                     const VkMemoryDedicatedAllocateInfo *dedicated)
{
    gpumem_result r = heap_reserve(d, page->heap, page->size);
    if (r != GPUMEM_OK)
        return r;
    /* Any buffer of the page may ask for a device address: the memory must allow them. Memory
     * dedicated to an image holds no buffer. */
    VkMemoryAllocateFlagsInfo flags = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO,
        .flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT,
    };
    VkMemoryAllocateInfo info = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .pNext = dedicated ? (const void *)dedicated : d->device_address ? &flags : NULL,
        .allocationSize = page->size,
        .memoryTypeIndex = page->vk_type,
    };
    /* The page holds memory only once the call succeeds, so vulkan_page_free is right after
     * any failure. */
    VkDeviceMemory memory = VK_NULL_HANDLE;
    VkResult vr = d->vk.vkAllocateMemory(d->device, &info, NULL, &memory);
    if (vr != VK_SUCCESS) {
        heap_release(d, page->heap, page->size);
        return vulkan_error(vr, "vkAllocateMemory", "for %llu bytes in heap %u",
                            (unsigned long long)page->size, page->heap);
    }
    page->memory = memory;
    return GPUMEM_OK;
}

/* The page's buffer is created first: its requirements say how large the memory must be. */
static gpumem_result page_init(gpumem_backend_device *d, gpumem_backend_page *page, uint64_t size)
{
    VkMemoryRequirements req;
    gpumem_result r = vulkan_buffer_create(d, size, VULKAN_BUFFER_USAGE, 0, &page->buffer, &req);
    if (r != GPUMEM_OK)
        return r;
    if (!(req.memoryTypeBits & (1u << page->vk_type)))
        return vulkan_report(GPUMEM_ERROR_UNSUPPORTED,
                             "vulkan: buffers cannot live in memory type %u", page->vk_type);
    page->size = req.size > size ? req.size : size;
    if ((r = vulkan_memory_allocate(d, page, NULL)) != GPUMEM_OK)
        return r;
    VkResult vr = d->vk.vkBindBufferMemory(d->device, page->buffer, page->memory, 0);
    return vr == VK_SUCCESS ? GPUMEM_OK
                            : vulkan_error(vr, "vkBindBufferMemory", "for a page of %llu bytes",
                                           (unsigned long long)size);
}

gpumem_result vulkan_page_record(gpumem_backend_device *d, uint32_t memory_type, uint64_t size,
                                 gpumem_backend_page **out)
{
    gpumem_backend_page *page = calloc(1, sizeof *page);
    if (!page)
        return vulkan_report(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "vulkan: no memory for a page");
    page->vk_type = d->type_map[memory_type];
    page->heap = d->memory.memoryTypes[page->vk_type].heapIndex;
    page->requested = size;
    *out = page;
    return GPUMEM_OK;
}

gpumem_result vulkan_page_allocate(gpumem_backend_device *d, uint32_t memory_type, uint64_t size,
                                   gpumem_backend_page **out)
{
    gpumem_backend_page *page = NULL;
    gpumem_result r = vulkan_page_record(d, memory_type, size, &page);
    if (r != GPUMEM_OK)
        return r;
    r = page_init(d, page, size);
    if (r != GPUMEM_OK) {
        vulkan_page_free(d, page);
        return r;
    }
    *out = page;
    return GPUMEM_OK;
}

void vulkan_page_free(gpumem_backend_device *d, gpumem_backend_page *page)
{
    if (page->buffer)
        d->vk.vkDestroyBuffer(d->device, page->buffer, NULL);
    if (page->memory && !page->imported) {
        d->vk.vkFreeMemory(d->device, page->memory, NULL);
        heap_release(d, page->heap, page->size);
    }
    free(page);
}

/* The page's buffer bound at the range's offset, once its requirements say it fits there. */
static gpumem_result import_init(gpumem_backend_device *d, gpumem_backend_page *page)
{
    VkMemoryRequirements req;
    gpumem_result r =
        vulkan_buffer_create(d, page->requested, VULKAN_BUFFER_USAGE, 0, &page->buffer, &req);
    if (r != GPUMEM_OK)
        return r;
    if (!(req.memoryTypeBits & (1u << page->vk_type)))
        return vulkan_report(GPUMEM_ERROR_UNSUPPORTED,
                             "vulkan: buffers cannot live in memory type %u", page->vk_type);
    if (page->offset % req.alignment)
        return vulkan_report(GPUMEM_ERROR_INVALID_ARGUMENT,
                             "vulkan: offset %llu is not a multiple of %llu, the alignment a "
                             "VkBuffer of %llu bytes needs",
                             (unsigned long long)page->offset,
                             (unsigned long long)req.alignment,
                             (unsigned long long)page->requested);
    page->size = req.size > page->requested ? req.size : page->requested;
    VkResult vr = d->vk.vkBindBufferMemory(d->device, page->buffer, page->memory, page->offset);
    return vr == VK_SUCCESS ? GPUMEM_OK
                            : vulkan_error(vr, "vkBindBufferMemory",
                                           "for %llu bytes of the application's memory at "
                                           "offset %llu",
                                           (unsigned long long)page->requested,
                                           (unsigned long long)page->offset);
}

gpumem_result vulkan_page_import(gpumem_backend_device *d, uint32_t memory_type,
                                 const gpumem_import_desc *desc, gpumem_backend_page **out)
{
    if (!desc->memory || desc->address)
        return vulkan_report(GPUMEM_ERROR_INVALID_ARGUMENT,
                             "vulkan: memory is named by a VkDeviceMemory and an offset: memory "
                             "must not be 0 (it is 0x%llx) and address must be 0 (it is 0x%llx)",
                             (unsigned long long)desc->memory,
                             (unsigned long long)desc->address);
    gpumem_backend_page *page = NULL;
    gpumem_result r = vulkan_page_record(d, memory_type, desc->size, &page);
    if (r != GPUMEM_OK)
        return r;
    page->memory = VULKAN_HANDLE_FROM_BITS(VkDeviceMemory, desc->memory);
    page->imported = 1;
    page->offset = desc->offset;
    r = import_init(d, page);
    if (r != GPUMEM_OK) {
        vulkan_page_free(d, page);
        return r;
    }
    *out = page;
    return GPUMEM_OK;
}

/* Imported memory objects mapped for gpumem, in the process: a VkDeviceMemory may be mapped
 * once at a time, and several pages may be imported ranges of one (each buffer of an
 * application's allocation imported on its own). The object is mapped whole at the first
 * page's map and unmapped at the last page's unmap; each page's map is its range of it. */
typedef struct import_mapping {
    VkDevice device;
    VkDeviceMemory memory;
    char *base;
    unsigned pages;
    struct import_mapping *next;
} import_mapping;

static pthread_mutex_t import_mappings_lock = PTHREAD_MUTEX_INITIALIZER;
static import_mapping *import_mappings;

static gpumem_result import_map(gpumem_backend_device *d, gpumem_backend_page *page, void **data)
{
    pthread_mutex_lock(&import_mappings_lock);
    import_mapping *m = import_mappings;
    while (m && (m->device != d->device || m->memory != page->memory))
        m = m->next;
    gpumem_result r = GPUMEM_OK;
    if (!m) {
        void *base = NULL;
        VkResult vr = d->vk.vkMapMemory(d->device, page->memory, 0, VK_WHOLE_SIZE, 0, &base);
        if (vr != VK_SUCCESS)
            r = vulkan_error(vr, "vkMapMemory", "of an imported memory object");
        else if (!(m = calloc(1, sizeof *m))) {
            d->vk.vkUnmapMemory(d->device, page->memory);
            r = vulkan_report(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "vulkan: no memory for a mapping");
        } else {
            *m = (import_mapping){d->device, page->memory, base, 0, import_mappings};
            import_mappings = m;
        }
    }
    if (r == GPUMEM_OK) {
        m->pages++;
        *data = m->base + page->offset;
    }
    pthread_mutex_unlock(&import_mappings_lock);
    return r;
}

static void import_unmap(gpumem_backend_device *d, gpumem_backend_page *page)
{
    pthread_mutex_lock(&import_mappings_lock);
    for (import_mapping **at = &import_mappings; *at; at = &(*at)->next) {
        import_mapping *m = *at;
        if (m->device != d->device || m->memory != page->memory)
            continue;
        if (--m->pages == 0) {
            d->vk.vkUnmapMemory(d->device, m->memory);
            *at = m->next;
            free(m);
        }
        break;
    }
    pthread_mutex_unlock(&import_mappings_lock);
}

gpumem_result vulkan_page_map(gpumem_backend_device *d, gpumem_backend_page *page, void **data)
{
    if (page->imported)
        return import_map(d, page, data);
    VkResult r = d->vk.vkMapMemory(d->device, page->memory, 0, VK_WHOLE_SIZE, 0, data);
    return r == VK_SUCCESS ? GPUMEM_OK
                           : vulkan_error(r, "vkMapMemory", "for a page of %llu bytes",
                                          (unsigned long long)page->size);
}

void vulkan_page_unmap(gpumem_backend_device *d, gpumem_backend_page *page)
{
    if (page->imported)
        import_unmap(d, page);
    else
        d->vk.vkUnmapMemory(d->device, page->memory);
}

/* A range that reaches the end of what core asked for reaches the end of the mapping (the
 * memory's, mapped whole, imported ones too): VK_WHOLE_SIZE says so, and needs no atom-multiple
 * size. An import's offset is a multiple of min_alignment, hence of the atom where one
 * matters. */
static VkMappedMemoryRange mapped_range(const gpumem_backend_page *page, uint64_t offset,
                                        uint64_t size)
{
    return (VkMappedMemoryRange){
        .sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
        .memory = page->memory,
        .offset = page->offset + offset,
        .size = offset + size >= page->requested ? VK_WHOLE_SIZE : size,
    };
}

gpumem_result vulkan_page_flush(gpumem_backend_device *d, gpumem_backend_page *page,
                                uint64_t offset, uint64_t size)
{
    VkMappedMemoryRange range = mapped_range(page, offset, size);
    VkResult r = d->vk.vkFlushMappedMemoryRanges(d->device, 1, &range);
    return r == VK_SUCCESS ? GPUMEM_OK : vulkan_fail(r, "vkFlushMappedMemoryRanges");
}

gpumem_result vulkan_page_invalidate(gpumem_backend_device *d, gpumem_backend_page *page,
                                     uint64_t offset, uint64_t size)
{
    VkMappedMemoryRange range = mapped_range(page, offset, size);
    VkResult r = d->vk.vkInvalidateMappedMemoryRanges(d->device, 1, &range);
    return r == VK_SUCCESS ? GPUMEM_OK : vulkan_fail(r, "vkInvalidateMappedMemoryRanges");
}

/* --- buffers --- */

/* A buffer's VkBuffer is created when someone first asks for it (gpumem_buffer_native) and kept
 * in core's per-buffer cache: gpumem's own transfers address the page's buffer, so most buffers
 * never need one, and creating, binding and destroying one costs more than all of core's
 * suballocation (on lavapipe about 0.8 us against 0.15 us). Its placement is checked against
 * this very buffer's requirements when it is made. */
_Static_assert(sizeof(VkBuffer) <= sizeof(gpumem_backend_buffer *),
               "a VkBuffer is kept in core's per-buffer slot");

/* The VkBuffer native_buffer made for a buffer, when the buffer goes. */
void vulkan_native_buffer_release(gpumem_backend_device *d, gpumem_backend_buffer *b)
{
    d->vk.vkDestroyBuffer(d->device, (VkBuffer)(uintptr_t)b, NULL);
}

/* The requirements of this very buffer, in case a driver's differ after all. */
static gpumem_result check_placement(const gpumem_backend_page *page, uint64_t offset,
                                     const VkMemoryRequirements *req)
{
    if (!(req->memoryTypeBits & (1u << page->vk_type)) ||
        (page->offset + offset) % req->alignment ||
        req->size > page->size - offset)
        return vulkan_report(GPUMEM_ERROR_BACKEND,
                             "vulkan: the buffer needs %llu bytes aligned to %llu in types 0x%x; "
                             "offset %llu of a %llu-byte page of type %u does not fit them",
                             (unsigned long long)req->size, (unsigned long long)req->alignment,
                             req->memoryTypeBits, (unsigned long long)offset,
                             (unsigned long long)page->size, page->vk_type);
    return GPUMEM_OK;
}

static gpumem_result create_bound(gpumem_backend_device *d, gpumem_backend_page *page,
                                  uint64_t offset, uint64_t size, VkBufferUsageFlags usage,
                                  int concurrent, VkBuffer *out)
{
    VkMemoryRequirements req;
    VkBuffer buffer;
    gpumem_result r = vulkan_buffer_create(d, size, usage, concurrent, &buffer, &req);
    if (r != GPUMEM_OK)
        return r;
    if ((r = check_placement(page, offset, &req)) == GPUMEM_OK) {
        VkResult vr = d->vk.vkBindBufferMemory(d->device, buffer, page->memory,
                                               page->offset + offset);
        if (vr != VK_SUCCESS)
            r = vulkan_error(vr, "vkBindBufferMemory", "at offset %llu",
                             (unsigned long long)(page->offset + offset));
    }
    if (r != GPUMEM_OK) {
        d->vk.vkDestroyBuffer(d->device, buffer, NULL);
        return r;
    }
    *out = buffer;
    return GPUMEM_OK;
}

gpumem_result vulkan_native_buffer_for_usage(gpumem_backend_device *d,
                                             gpumem_backend_page *page, uint64_t offset,
                                             uint64_t size, uint32_t usage, uint32_t flags,
                                             gpumem_backend_buffer **b,
                                             gpumem_native_buffer *native)
{
    VkBuffer buffer = (VkBuffer)(uintptr_t)*b;
    if (!buffer) {
        gpumem_result r = create_bound(d, page, offset, size, vulkan_usage_flags(usage),
                                       (flags & GPUMEM_BUFFER_CONCURRENT) != 0, &buffer);
        if (r != GPUMEM_OK)
            return r;
        *b = (gpumem_backend_buffer *)(uintptr_t)buffer; /* core serialises these calls */
    }
    native->memory = VULKAN_HANDLE_BITS(page->memory);
    native->buffer = VULKAN_HANDLE_BITS(buffer);
    if ((usage & GPUMEM_BUFFER_USAGE_DEVICE_ADDRESS) && d->vk.vkGetBufferDeviceAddress) {
        VkBufferDeviceAddressInfo info = {
            .sType = VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO,
            .buffer = buffer,
        };
        native->address = d->vk.vkGetBufferDeviceAddress(d->device, &info);
    }
    return GPUMEM_OK;
}
