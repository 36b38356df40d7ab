/* The Vulkan backend's private header: the runtime's function tables, and the backend's native
 * objects (device, page, buffer, stream, event) that core stores as opaque pointers.
 *
 * libvulkan.so.1 is opened at run time and every entry point is resolved through
 * vkGetInstanceProcAddr/vkGetDeviceProcAddr into the tables below (loader.c), so the backend
 * builds with the headers only and a machine without Vulkan gets a clean "unavailable".
 */
#ifndef GPUMEM_VULKAN_BACKEND_H
#define GPUMEM_VULKAN_BACKEND_H

#define VK_NO_PROTOTYPES /* every call goes through a resolved pointer, never a link symbol */
#include <pthread.h>
#include <stdatomic.h>
#include <vulkan/vulkan.h>

#include "gpumem/backend.h"

/* Non-dispatchable handles are pointers on 64-bit targets and integers elsewhere; gpumem's
 * native structs carry them as uint64_t either way. */
#if VK_USE_64_BIT_PTR_DEFINES == 1
#define VULKAN_HANDLE_BITS(handle) ((uint64_t)(uintptr_t)(handle))
#define VULKAN_HANDLE_FROM_BITS(type, bits) ((type)(uintptr_t)(bits))
#else
#define VULKAN_HANDLE_BITS(handle) ((uint64_t)(handle))
#define VULKAN_HANDLE_FROM_BITS(type, bits) ((type)(bits))
#endif

/* --- function tables (X-macro lists: X(name, alias or NULL, required)) --- */

/* Resolved with vkGetInstanceProcAddr(NULL, ...): usable before an instance exists. */
#define VULKAN_GLOBAL_FUNCTIONS(X)                     \
    X(vkCreateInstance, NULL, 1)                       \
    X(vkEnumerateInstanceExtensionProperties, NULL, 1) \
    X(vkEnumerateInstanceLayerProperties, NULL, 1)     \
    X(vkEnumerateInstanceVersion, NULL, 0)

#define VULKAN_INSTANCE_FUNCTIONS(X)                                                      \
    X(vkDestroyInstance, NULL, 1)                                                         \
    X(vkEnumeratePhysicalDevices, NULL, 1)                                                \
    X(vkGetPhysicalDeviceProperties, NULL, 1)                                             \
    X(vkGetPhysicalDeviceProperties2, "vkGetPhysicalDeviceProperties2KHR", 1)             \
    X(vkGetPhysicalDeviceFeatures2, "vkGetPhysicalDeviceFeatures2KHR", 1)                 \
    X(vkGetPhysicalDeviceMemoryProperties, NULL, 1)                                       \
    X(vkGetPhysicalDeviceMemoryProperties2, "vkGetPhysicalDeviceMemoryProperties2KHR", 1) \
    X(vkGetPhysicalDeviceQueueFamilyProperties, NULL, 1)                                  \
    X(vkGetPhysicalDeviceImageFormatProperties, NULL, 1)                                  \
    X(vkGetPhysicalDeviceFormatProperties, NULL, 1)                                       \
    X(vkEnumerateDeviceExtensionProperties, NULL, 1)                                      \
    X(vkCreateDevice, NULL, 1)                                                            \
    X(vkGetDeviceProcAddr, NULL, 1)                                                       \
    X(vkCreateDebugUtilsMessengerEXT, NULL, 0)                                            \
    X(vkDestroyDebugUtilsMessengerEXT, NULL, 0)

#define VULKAN_DEVICE_FUNCTIONS(X)                \
    X(vkDestroyDevice, NULL, 1)                   \
    X(vkGetDeviceQueue, NULL, 1)                  \
    X(vkAllocateMemory, NULL, 1)                  \
    X(vkFreeMemory, NULL, 1)                      \
    X(vkMapMemory, NULL, 1)                       \
    X(vkUnmapMemory, NULL, 1)                     \
    X(vkFlushMappedMemoryRanges, NULL, 1)         \
    X(vkInvalidateMappedMemoryRanges, NULL, 1)    \
    X(vkCreateBuffer, NULL, 1)                    \
    X(vkDestroyBuffer, NULL, 1)                   \
    X(vkGetBufferMemoryRequirements, NULL, 1)     \
    X(vkBindBufferMemory, NULL, 1)                \
    X(vkCreateImage, NULL, 1)                     \
    X(vkDestroyImage, NULL, 1)                    \
    X(vkGetImageMemoryRequirements2, "vkGetImageMemoryRequirements2KHR", 1) \
    X(vkBindImageMemory, NULL, 1)                 \
    X(vkCmdCopyBufferToImage, NULL, 1)            \
    X(vkCmdCopyImageToBuffer, NULL, 1)            \
    X(vkCmdCopyImage, NULL, 1)                    \
    X(vkCreateCommandPool, NULL, 1)               \
    X(vkDestroyCommandPool, NULL, 1)              \
    X(vkResetCommandPool, NULL, 1)                \
    X(vkDeviceWaitIdle, NULL, 1)                  \
    X(vkQueueWaitIdle, NULL, 1)                   \
    X(vkAllocateCommandBuffers, NULL, 1)          \
    X(vkFreeCommandBuffers, NULL, 1)              \
    X(vkBeginCommandBuffer, NULL, 1)              \
    X(vkEndCommandBuffer, NULL, 1)                \
    X(vkCmdCopyBuffer, NULL, 1)                   \
    X(vkCmdFillBuffer, NULL, 1)                   \
    X(vkCmdPipelineBarrier, NULL, 1)              \
    X(vkQueueSubmit, NULL, 1)                     \
    X(vkCreateSemaphore, NULL, 1)                 \
    X(vkDestroySemaphore, NULL, 1)                \
    X(vkWaitSemaphores, "vkWaitSemaphoresKHR", 1) \
    X(vkGetSemaphoreCounterValue, "vkGetSemaphoreCounterValueKHR", 1) \
    X(vkGetBufferDeviceAddress, "vkGetBufferDeviceAddressKHR", 0)

#define VULKAN_FIELD(name, alias, required) PFN_##name name;

typedef struct vulkan_global_functions {
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
    VULKAN_GLOBAL_FUNCTIONS(VULKAN_FIELD)
} vulkan_global_functions;

typedef struct vulkan_instance_functions {
    VULKAN_INSTANCE_FUNCTIONS(VULKAN_FIELD)
} vulkan_instance_functions;

typedef struct vulkan_device_functions {
    VULKAN_DEVICE_FUNCTIONS(VULKAN_FIELD)
} vulkan_device_functions;

/* --- loader.c --- */

/* Opens libvulkan.so.1 once per process and resolves the global functions. NULL with the
 * reason written when the loader is not here. */
const vulkan_global_functions *vulkan_loader(char *reason, size_t reason_size);
/* Resolves the instance-level table through gipa (the loader's or the application's). */
gpumem_result vulkan_resolve_instance(PFN_vkGetInstanceProcAddr gipa, VkInstance instance,
                                      vulkan_instance_functions *table);
gpumem_result vulkan_resolve_device(PFN_vkGetDeviceProcAddr gdpa, VkDevice device,
                                    vulkan_device_functions *table);

/* --- result.c --- */

const char *vulkan_result_name(VkResult result);
/* The gpumem result for a failed call. */
gpumem_result vulkan_result_code(VkResult result);
/* gpumem_backend_error, keeping a thread-local copy of the message (vulkan_last_message). */
gpumem_result vulkan_report(gpumem_result result, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
const char *vulkan_last_message(void);
/* Records "<call>: <VK_ERROR_NAME>" for gpumem_last_error() and returns the gpumem code. */
gpumem_result vulkan_fail(VkResult result, const char *call);
/* The same, with a detail after the name ("for 4096 bytes in heap 0"). */
gpumem_result vulkan_error(VkResult result, const char *call, const char *detail_format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* --- validation.c --- */

/* GPUMEM_VULKAN_VALIDATION=1 (or any value but 0 and empty); "sync" adds the layer's
 * synchronization validation, which checks the barriers between transfers. */
int vulkan_validation_wanted(void);
/* What vkCreateInstance needs for validation: the layer (if installed), its extensions, and a
 * messenger description chained into pNext, so that messages of instance creation and
 * destruction are logged too. */
typedef struct vulkan_validation_setup {
    int enabled;
    const char *layer;
    const char *extensions[2];
    uint32_t extension_count;
    VkDebugUtilsMessengerCreateInfoEXT messenger_info;
    /* Synchronization validation, best practices: the layer's optional checks asked for. */
    VkValidationFeatureEnableEXT features[2];
    uint32_t feature_count;
} vulkan_validation_setup;
void vulkan_validation_prepare(const vulkan_global_functions *vk, vulkan_validation_setup *setup);
gpumem_result vulkan_validation_start(const vulkan_instance_functions *vk, VkInstance instance,
                                      const vulkan_validation_setup *setup,
                                      VkDebugUtilsMessengerEXT *messenger);

/* --- instance.c --- */

typedef struct vulkan_instance {
    VkInstance instance;
    PFN_vkGetInstanceProcAddr gipa;
    vulkan_instance_functions vk;
    VkDebugUtilsMessengerEXT messenger;
    uint32_t api_version; /* as asked of vkCreateInstance */
    int owned;            /* 0: the application's; never destroyed by gpumem */
} vulkan_instance;

/* Creates gpumem's own instance (with validation when asked). */
gpumem_result vulkan_instance_create(const vulkan_global_functions *g, int validation,
                                     vulkan_instance *out);
void vulkan_instance_destroy(vulkan_instance *instance);
/* The physical devices gpumem can open (Vulkan 1.1+, timeline semaphores), in the loader's
 * order: *count, how many; *found (unless NULL), the one of index `want`, VK_NULL_HANDLE when
 * there are not that many. */
gpumem_result vulkan_usable_devices(const vulkan_instance *instance, uint32_t want,
                                    VkPhysicalDevice *found, uint32_t *count);
/* 1 when a physical device has what gpumem needs; else 0 with the reason. */
int vulkan_device_usable(const vulkan_instance *instance, VkPhysicalDevice device, char *why,
                         size_t why_size);
int vulkan_device_has_extension(const vulkan_instance *instance, VkPhysicalDevice device,
                                const char *name);

/* --- device.c, properties.c --- */

#define VULKAN_FAMILIES_MAX 16

#define VULKAN_BUFFER_USAGE                                                  \
    (VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | \
     VK_BUFFER_USAGE_TRANSFER_DST_BIT)

struct gpumem_backend_device {
    vulkan_instance instance;
    VkPhysicalDevice physical_device;
    VkDevice device;
    int owns_device;
    vulkan_device_functions vk;
    uint32_t queue_family;
    uint32_t queue_index;
    VkQueue queue;
    /* vkQueueSubmit and the queue's waits: several streams share the queue, and so do two
     * gpumem devices opened on one VkQueue (gpumem_device_native's objects opened again), so
     * the lock is the queue's, shared by every device of this process that uses it. */
    pthread_mutex_t *queue_lock;
    uint32_t api_version;       /* the device's, capped by the instance's */
    int has_memory_budget;      /* VK_EXT_memory_budget */
    VkPhysicalDeviceProperties properties;
    VkPhysicalDeviceIDProperties id;           /* deviceUUID (Vulkan 1.1) */
    VkPhysicalDeviceDriverProperties driver;   /* driverName, driverInfo (Vulkan 1.2) */
    VkPhysicalDevicePCIBusInfoPropertiesEXT pci; /* with VK_EXT_pci_bus_info */
    int has_driver, has_pci;
    VkPhysicalDeviceMemoryProperties memory;
    VkDeviceSize max_allocation_size;       /* maxMemoryAllocationSize (Vulkan 1.1) */
    VkDeviceSize buffer_alignment;          /* of a buffer with VULKAN_BUFFER_USAGE */
    uint32_t buffer_type_bits;              /* memory types such a buffer can live in */
    VkDeviceSize min_alignment;             /* reported to core: every offset satisfies all of it */
    uint32_t type_count;                    /* gpumem's memory types ... */
    uint32_t type_map[VK_MAX_MEMORY_TYPES]; /* ... and the Vulkan type of each */
    _Atomic uint64_t heap_allocated[VK_MAX_MEMORY_HEAPS]; /* bytes of gpumem's pages per heap */
    pthread_mutex_t timeline_lock;                        /* guards spare_timelines */
    struct vulkan_timeline *spare_timelines;
    int device_address;          /* bufferDeviceAddress enabled: pages allocated for it */
    /* Images: the stream that moves new images to GENERAL at bind (made at the first), and
     * the queue family's minImageTransferGranularity (copies of any box need 1x1x1). */
    pthread_mutex_t setup_lock;
    struct gpumem_backend_stream *setup_stream;
    VkExtent3D transfer_granularity;
    uint32_t family_count;       /* queue families, for concurrent sharing */
    uint32_t families[VULKAN_FAMILIES_MAX];
    /* Per usage (GPUMEM_BUFFER_USAGE_*) and sharing: the requirements of such a VkBuffer, found
     * once (buffer_requirements); `known` is 0 until then. Guarded by usage_lock. */
    pthread_mutex_t usage_lock;
    struct {
        int known;
        uint32_t type_bits;
        VkDeviceSize alignment;
    } usage_requirements[GPUMEM_BUFFER_USAGE_ALL + 1][2];
};

/* Fills what properties.c reports, from the physical device (device.c calls it at open). */
gpumem_result vulkan_device_describe(gpumem_backend_device *device);
gpumem_result vulkan_device_properties(gpumem_backend_device *device,
                                       gpumem_device_properties *properties);
gpumem_result vulkan_heap_budget(gpumem_backend_device *device, uint64_t *budget, uint64_t *usage);

gpumem_result vulkan_probe(uint32_t *device_count, char *reason, size_t reason_size);
gpumem_result vulkan_device_open(uint32_t index, const gpumem_external_device *external,
                                 gpumem_backend_device **device);
void vulkan_device_close(gpumem_backend_device *device);
gpumem_result vulkan_device_native(gpumem_backend_device *device, gpumem_external_device *native);

/* --- memory.c --- */

struct gpumem_backend_page {
    VkDeviceMemory memory;
    VkBuffer buffer;        /* over the whole page: what transfers and fills address */
    VkDeviceSize requested; /* what core asked for: the size of `buffer` */
    VkDeviceSize size;      /* of the allocation (at least `requested`); imported: of the range
                               `buffer` needs */
    VkDeviceSize offset;    /* where the page starts in `memory`: 0, or an import's offset */
    uint32_t vk_type;
    uint32_t heap;
    int imported;           /* `memory` is the application's (page_import): never freed, and
                               mapped only over the page's range */
};

/* Creates a VkBuffer of `usage` (VULKAN_BUFFER_USAGE for pages), shared by every queue family
 * when `concurrent`, and returns its memory requirements. */
gpumem_result vulkan_buffer_create(gpumem_backend_device *device, VkDeviceSize size,
                                   VkBufferUsageFlags usage, int concurrent, VkBuffer *buffer,
                                   VkMemoryRequirements *requirements);

gpumem_result vulkan_page_allocate(gpumem_backend_device *device, uint32_t memory_type,
                                   uint64_t size, gpumem_backend_page **page);
void vulkan_page_free(gpumem_backend_device *device, gpumem_backend_page *page);
gpumem_result vulkan_page_import(gpumem_backend_device *device, uint32_t memory_type,
                                 const gpumem_import_desc *desc, gpumem_backend_page **page);
gpumem_result vulkan_page_map(gpumem_backend_device *device, gpumem_backend_page *page,
                              void **data);
void vulkan_page_unmap(gpumem_backend_device *device, gpumem_backend_page *page);
gpumem_result vulkan_page_flush(gpumem_backend_device *device, gpumem_backend_page *page,
                                uint64_t offset, uint64_t size);
gpumem_result vulkan_page_invalidate(gpumem_backend_device *device, gpumem_backend_page *page,
                                     uint64_t offset, uint64_t size);
void vulkan_native_buffer_release(gpumem_backend_device *device, gpumem_backend_buffer *buffer);
gpumem_result vulkan_native_buffer_for_usage(gpumem_backend_device *device,
                                             gpumem_backend_page *page, uint64_t offset,
                                             uint64_t size, uint32_t usage, uint32_t flags,
                                             gpumem_backend_buffer **buffer,
                                             gpumem_native_buffer *native);

/* A page record of `size` bytes of a memory type, with no memory yet. */
gpumem_result vulkan_page_record(gpumem_backend_device *device, uint32_t memory_type,
                                 uint64_t size, gpumem_backend_page **page);
/* Allocates the page's memory (page->size bytes of page->vk_type), with `dedicated` (a
 * VkMemoryDedicatedAllocateInfo, or NULL) chained. */
gpumem_result vulkan_memory_allocate(gpumem_backend_device *device, gpumem_backend_page *page,
                                     const VkMemoryDedicatedAllocateInfo *dedicated);

/* --- image.c --- */

gpumem_result vulkan_image_create(gpumem_backend_device *device, uint32_t memory_type,
                                  const gpumem_image_desc *desc, gpumem_backend_image **image,
                                  gpumem_backend_image_requirements *requirements);
gpumem_result vulkan_image_bind(gpumem_backend_device *device, gpumem_backend_image *image,
                                gpumem_backend_page *page, uint64_t offset);
void vulkan_image_destroy(gpumem_backend_device *device, gpumem_backend_image *image);
gpumem_result vulkan_image_native(gpumem_backend_device *device, gpumem_backend_image *image,
                                  gpumem_native_image *native);
gpumem_result vulkan_copy_page_to_image(gpumem_backend_device *device,
                                        gpumem_backend_stream *stream, gpumem_backend_page *page,
                                        uint64_t offset, uint32_t row_length,
                                        uint32_t image_height, gpumem_backend_image *image,
                                        const gpumem_image_region *region);
gpumem_result vulkan_copy_image_to_image(gpumem_backend_device *device,
                                         gpumem_backend_stream *stream,
                                         gpumem_backend_image *source,
                                         const gpumem_image_region *source_region,
                                         gpumem_backend_image *destination,
                                         const gpumem_image_region *destination_region);
/* Destroys the image setup stream (device close). */
void vulkan_images_release(gpumem_backend_device *device);
gpumem_result vulkan_copy_image_to_page(gpumem_backend_device *device,
                                        gpumem_backend_stream *stream,
                                        gpumem_backend_image *image,
                                        const gpumem_image_region *region,
                                        gpumem_backend_page *page, uint64_t offset,
                                        uint32_t row_length, uint32_t image_height);
gpumem_result vulkan_page_allocate_for_image(gpumem_backend_device *device, uint32_t memory_type,
                                             uint64_t size, gpumem_backend_image *image,
                                             gpumem_backend_page **page);

/* --- usage.c --- */

VkBufferUsageFlags vulkan_usage_flags(uint32_t usage);
gpumem_result vulkan_buffer_requirements(gpumem_backend_device *device, uint32_t memory_type,
                                         uint32_t usage, uint32_t flags, uint64_t *alignment);

/* --- stream.c: streams, events and submission --- */

/* A timeline semaphore and the last value submitted to signal it. Timelines outlive their
 * streams (they go to the device's spare list), so an event never points at a destroyed one. */
typedef struct vulkan_timeline {
    struct vulkan_timeline *next; /* in the spare list */
    VkSemaphore semaphore;
    uint64_t value;
} vulkan_timeline;

void vulkan_timelines_release(gpumem_backend_device *device);

gpumem_result vulkan_stream_create(gpumem_backend_device *device, gpumem_backend_stream **stream);
void vulkan_stream_destroy(gpumem_backend_device *device, gpumem_backend_stream *stream);
gpumem_result vulkan_stream_synchronize(gpumem_backend_device *device,
                                        gpumem_backend_stream *stream);
gpumem_result vulkan_stream_native(gpumem_backend_device *device, gpumem_backend_stream *stream,
                                   uint64_t *native);
gpumem_result vulkan_event_create(gpumem_backend_device *device, gpumem_backend_event **event);
void vulkan_event_destroy(gpumem_backend_device *device, gpumem_backend_event *event);
gpumem_result vulkan_event_record(gpumem_backend_device *device, gpumem_backend_stream *stream,
                                  gpumem_backend_event *event);
gpumem_result vulkan_event_synchronize(gpumem_backend_device *device, gpumem_backend_event *event);
gpumem_result vulkan_event_native(gpumem_backend_device *device, gpumem_backend_event *event,
                                  uint64_t *handle, uint64_t *value);
gpumem_result vulkan_stream_wait_event(gpumem_backend_device *device,
                                       gpumem_backend_stream *stream, gpumem_backend_event *event);
gpumem_result vulkan_event_wrap(gpumem_backend_device *device, uint64_t handle, uint64_t value,
                                gpumem_backend_event **event);
void vulkan_event_unwrap(gpumem_backend_device *device, gpumem_backend_event *event);

/* The stream's open command buffer, with a barrier recorded after the stream's earlier
 * transfers, ready for one more transfer of `bytes` bytes. */
gpumem_result vulkan_stream_record(gpumem_backend_device *device, gpumem_backend_stream *stream,
                                   VkCommandBuffer *command_buffer);
/* Called after the transfer was recorded: submits when the batch is large enough. */
gpumem_result vulkan_stream_recorded(gpumem_backend_device *device, gpumem_backend_stream *stream,
                                     uint64_t bytes);

/* --- copy.c --- */

gpumem_result vulkan_copy_page_to_page(gpumem_backend_device *device, gpumem_backend_stream *stream,
                                       gpumem_backend_page *source, uint64_t source_offset,
                                       gpumem_backend_page *destination,
                                       uint64_t destination_offset, uint64_t size);
gpumem_result vulkan_fill(gpumem_backend_device *device, gpumem_backend_stream *stream,
                          gpumem_backend_page *page, uint64_t offset, uint64_t size,
                          uint32_t pattern);

#endif
