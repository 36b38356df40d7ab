/* Devices: probing, opening gpumem's own VkDevice or wrapping the application's (bring your own
 * Vulkan), and closing. A device has one queue; every stream submits to it under queue_lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vulkan_backend.h"

/* The probe's instance. No validation here: probing must stay cheap, and it opens nothing the
 * user sees. Once created it is kept for the life of the process: the loader unloads the
 * driver with the last instance, and drivers (Mesa's among them) leave one-time allocations
 * behind that leak checkers then report against an unloaded library, which no suppression can
 * name. Kept, the driver stays loaded, as under any application that holds an instance, and
 * later opens skip loading it again. A probe that could not create it (out of memory, say)
 * leaves nothing behind, so the next probe tries again. */
static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static vulkan_instance probe_instance;

/* Why there is no device to count: none at all, or none gpumem can use (and why not). */
static void no_device_reason(char *reason, size_t reason_size)
{
    const vulkan_instance_functions *vk = &probe_instance.vk;
    uint32_t total = 0;
    if (vk->vkEnumeratePhysicalDevices(probe_instance.instance, &total, NULL) != VK_SUCCESS ||
        total == 0) {
        snprintf(reason, reason_size, "no Vulkan physical device");
        return;
    }
    VkPhysicalDevice first;
    uint32_t one = 1;
    char why[GPUMEM_REASON_SIZE] = "";
    if (vk->vkEnumeratePhysicalDevices(probe_instance.instance, &one, &first) >= VK_SUCCESS &&
        one == 1)
        vulkan_device_usable(&probe_instance, first, why, sizeof why);
    snprintf(reason, reason_size, "no Vulkan physical device gpumem can use (%u found%s%.160s)",
             total, why[0] ? "; " : "", why);
}

/* A Vulkan that is not here (no loader, no driver, too old) is a definitive UNAVAILABLE; any
 * other failure keeps its VkResult and its code (VK_ERROR_OUT_OF_HOST_MEMORY is
 * GPUMEM_ERROR_OUT_OF_HOST_MEMORY), so core can tell it apart and probe again later. */
gpumem_result vulkan_probe(uint32_t *device_count, char *reason, size_t reason_size)
{
    const vulkan_global_functions *g = vulkan_loader(reason, reason_size);
    if (!g)
        return GPUMEM_ERROR_UNAVAILABLE;
    pthread_mutex_lock(&probe_lock);
    gpumem_result r = GPUMEM_OK;
    if (!probe_instance.instance) {
        vulkan_instance created;
        r = vulkan_instance_create(g, 0, &created);
        if (r == GPUMEM_OK)
            probe_instance = created;
    }
    uint32_t count = 0;
    if (r == GPUMEM_OK)
        r = vulkan_usable_devices(&probe_instance, 0, NULL, &count);
    if (r == GPUMEM_OK && count == 0) {
        no_device_reason(reason, reason_size);
        r = GPUMEM_ERROR_UNAVAILABLE;
    } else if (r == GPUMEM_ERROR_UNAVAILABLE) {
        snprintf(reason, reason_size, "no Vulkan physical device (%s)", vulkan_last_message());
    } else if (r != GPUMEM_OK) {
        snprintf(reason, reason_size, "%s", vulkan_last_message());
    }
    pthread_mutex_unlock(&probe_lock);
    if (r == GPUMEM_OK)
        *device_count = count;
    return r;
}

/* Compute queues can run the application's kernels too, which makes stream_native useful;
 * every graphics or compute queue also does transfers. */
static int pick_queue_family(const vulkan_instance *instance, VkPhysicalDevice pd, uint32_t *family)
{
    uint32_t count = 0;
    instance->vk.vkGetPhysicalDeviceQueueFamilyProperties(pd, &count, NULL);
    VkQueueFamilyProperties *f = calloc(count ? count : 1, sizeof *f);
    if (!f)
        return 0;
    instance->vk.vkGetPhysicalDeviceQueueFamilyProperties(pd, &count, f);
    static const VkQueueFlags preference[] = {VK_QUEUE_COMPUTE_BIT, VK_QUEUE_GRAPHICS_BIT,
                                              VK_QUEUE_TRANSFER_BIT};
    int found = 0;
    for (size_t p = 0; p < sizeof preference / sizeof *preference && !found; p++)
        for (uint32_t i = 0; i < count && !found; i++)
            if ((f[i].queueFlags & preference[p]) && f[i].queueCount > 0) {
                *family = i;
                found = 1;
            }
    free(f);
    return found;
}

/* bufferDeviceAddress (core in Vulkan 1.2): enabled on gpumem's own devices where supported. */
static int supports_device_address(const gpumem_backend_device *d)
{
    if (d->api_version < VK_API_VERSION_1_2)
        return 0;
    VkPhysicalDeviceBufferDeviceAddressFeatures address = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_BUFFER_DEVICE_ADDRESS_FEATURES,
    };
    VkPhysicalDeviceFeatures2 features = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
        .pNext = &address,
    };
    d->instance.vk.vkGetPhysicalDeviceFeatures2(d->physical_device, &features);
    return address.bufferDeviceAddress == VK_TRUE;
}

static gpumem_result create_device(gpumem_backend_device *d)
{
    const char *extensions[2];
    uint32_t extension_count = 0;
    if (d->api_version < VK_API_VERSION_1_2)
        extensions[extension_count++] = VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME;
    if (d->has_memory_budget)
        extensions[extension_count++] = VK_EXT_MEMORY_BUDGET_EXTENSION_NAME;
    d->device_address = supports_device_address(d);
    VkPhysicalDeviceBufferDeviceAddressFeatures address = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_BUFFER_DEVICE_ADDRESS_FEATURES,
        .bufferDeviceAddress = VK_TRUE,
    };
    VkPhysicalDeviceTimelineSemaphoreFeatures timeline = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES,
        .pNext = d->device_address ? &address : NULL,
        .timelineSemaphore = VK_TRUE,
    };
    const float priority = 1.0f;
    VkDeviceQueueCreateInfo queue = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = d->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &priority,
    };
    VkDeviceCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = &timeline,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &queue,
        .enabledExtensionCount = extension_count,
        .ppEnabledExtensionNames = extensions,
    };
    VkResult r = d->instance.vk.vkCreateDevice(d->physical_device, &info, NULL, &d->device);
    if (r != VK_SUCCESS)
        return vulkan_fail(r, "vkCreateDevice");
    d->owns_device = 1;
    return GPUMEM_OK;
}

static uint32_t device_api_version(const gpumem_backend_device *d)
{
    uint32_t version = d->properties.apiVersion;
    return version < d->instance.api_version ? version : d->instance.api_version;
}

/* What both kinds of open share, once instance, physical device, queue family are known. */
/* One lock per VkQueue in the process: two gpumem devices opened on one queue (a device
 * opened again on gpumem_device_native's objects) submit under the same lock, as Vulkan asks
 * of a queue's host access. */
typedef struct queue_lock {
    VkQueue queue;
    pthread_mutex_t lock;
    unsigned users;
    struct queue_lock *next;
} queue_lock;

static pthread_mutex_t queue_locks_lock = PTHREAD_MUTEX_INITIALIZER;
static queue_lock *queue_locks;

static pthread_mutex_t *queue_lock_take(VkQueue queue)
{
    pthread_mutex_lock(&queue_locks_lock);
    queue_lock *l = queue_locks;
    while (l && l->queue != queue)
        l = l->next;
    if (!l && (l = calloc(1, sizeof *l)) != NULL) {
        l->queue = queue;
        pthread_mutex_init(&l->lock, NULL);
        l->next = queue_locks;
        queue_locks = l;
    }
    if (l)
        l->users++;
    pthread_mutex_unlock(&queue_locks_lock);
    return l ? &l->lock : NULL;
}

static void queue_lock_give(pthread_mutex_t *lock)
{
    pthread_mutex_lock(&queue_locks_lock);
    for (queue_lock **at = &queue_locks; *at; at = &(*at)->next)
        if (&(*at)->lock == lock) {
            queue_lock *l = *at;
            if (--l->users == 0) {
                *at = l->next;
                pthread_mutex_destroy(&l->lock);
                free(l);
            }
            break;
        }
    pthread_mutex_unlock(&queue_locks_lock);
}

static gpumem_result finish_open(gpumem_backend_device *d)
{
    gpumem_result r = vulkan_resolve_device(d->instance.vk.vkGetDeviceProcAddr, d->device, &d->vk);
    if (r != GPUMEM_OK)
        return r;
    d->vk.vkGetDeviceQueue(d->device, d->queue_family, d->queue_index, &d->queue);
    if (!(d->queue_lock = queue_lock_take(d->queue)))
        return vulkan_report(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "vulkan: no memory for a queue's lock");
    if (d->device_address && !d->vk.vkGetBufferDeviceAddress)
        d->device_address = 0; /* said enabled, but the entry point is not there */
    uint32_t families = 0;
    d->instance.vk.vkGetPhysicalDeviceQueueFamilyProperties(d->physical_device, &families, NULL);
    d->family_count = families < VULKAN_FAMILIES_MAX ? families : VULKAN_FAMILIES_MAX;
    for (uint32_t i = 0; i < d->family_count; i++)
        d->families[i] = i;
    VkQueueFamilyProperties f[VULKAN_FAMILIES_MAX];
    uint32_t count = d->family_count;
    d->instance.vk.vkGetPhysicalDeviceQueueFamilyProperties(d->physical_device, &count, f);
    if (d->queue_family < count)
        d->transfer_granularity = f[d->queue_family].minImageTransferGranularity;
    return vulkan_device_describe(d);
}

static gpumem_result open_own(gpumem_backend_device *d, uint32_t index)
{
    char reason[GPUMEM_REASON_SIZE];
    const vulkan_global_functions *g = vulkan_loader(reason, sizeof reason);
    if (!g)
        return vulkan_report(GPUMEM_ERROR_UNAVAILABLE, "vulkan: %s", reason);
    gpumem_result r = vulkan_instance_create(g, vulkan_validation_wanted(), &d->instance);
    if (r != GPUMEM_OK)
        return r;
    /* One enumeration, however many devices there are (a machine of many ICDs). */
    uint32_t count = 0;
    if ((r = vulkan_usable_devices(&d->instance, index, &d->physical_device, &count)) !=
        GPUMEM_OK)
        return r;
    if (d->physical_device == VK_NULL_HANDLE)
        return vulkan_report(GPUMEM_ERROR_NOT_FOUND, "vulkan: device %u not found (%u usable)",
                             index, count);
    d->instance.vk.vkGetPhysicalDeviceProperties(d->physical_device, &d->properties);
    d->api_version = device_api_version(d);
    d->has_memory_budget = vulkan_device_has_extension(&d->instance, d->physical_device,
                                                       VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    if (!pick_queue_family(&d->instance, d->physical_device, &d->queue_family))
        return vulkan_report(GPUMEM_ERROR_UNSUPPORTED, "vulkan: %s has no queue that can transfer",
                             d->properties.deviceName);
    d->queue_index = 0;
    if ((r = create_device(d)) != GPUMEM_OK)
        return r;
    return finish_open(d);
}

static gpumem_result check_external_queue(const gpumem_backend_device *d)
{
    uint32_t count = 0;
    d->instance.vk.vkGetPhysicalDeviceQueueFamilyProperties(d->physical_device, &count, NULL);
    VkQueueFamilyProperties f[64];
    if (count > sizeof f / sizeof *f)
        count = sizeof f / sizeof *f;
    d->instance.vk.vkGetPhysicalDeviceQueueFamilyProperties(d->physical_device, &count, f);
    if (d->queue_family >= count || d->queue_index >= f[d->queue_family].queueCount)
        return vulkan_report(GPUMEM_ERROR_INVALID_ARGUMENT,
                             "vulkan: the device has no queue %u in family %u", d->queue_index,
                             d->queue_family);
    if (!(f[d->queue_family].queueFlags &
          (VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT | VK_QUEUE_TRANSFER_BIT)))
        return vulkan_report(GPUMEM_ERROR_INVALID_ARGUMENT,
                             "vulkan: queue family %u cannot transfer", d->queue_family);
    return GPUMEM_OK;
}

/* The application's objects: gpumem resolves its tables through them and owns none of them.
 * The device must have been created with the timelineSemaphore feature enabled, which the
 * application says in vulkan_features (Vulkan cannot be asked which features a VkDevice has
 * enabled). */
static gpumem_result open_external(gpumem_backend_device *d, const gpumem_external_device *e)
{
    if (!(e->vulkan_features & GPUMEM_VULKAN_FEATURE_TIMELINE_SEMAPHORE))
        return vulkan_report(GPUMEM_ERROR_UNSUPPORTED,
                             "vulkan: gpumem's streams need the timelineSemaphore feature: create "
                             "the VkDevice with it enabled (VkPhysicalDeviceVulkan12Features or "
                             "VkPhysicalDeviceTimelineSemaphoreFeatures) and say so with "
                             "GPUMEM_VULKAN_FEATURE_TIMELINE_SEMAPHORE in "
                             "gpumem_external_device.vulkan_features");
    if (vulkan_validation_wanted())
        gpumem_backend_log(GPUMEM_LOG_WARNING,
                           "vulkan: GPUMEM_VULKAN_VALIDATION has no effect on the application's "
                           "device: validation is enabled on the VkInstance, which is the "
                           "application's (enable VK_LAYER_KHRONOS_validation there)");
    char reason[GPUMEM_REASON_SIZE];
    PFN_vkGetInstanceProcAddr gipa = (PFN_vkGetInstanceProcAddr)e->get_instance_proc_addr;
    if (!gipa) {
        const vulkan_global_functions *g = vulkan_loader(reason, sizeof reason);
        if (!g)
            return vulkan_report(GPUMEM_ERROR_UNAVAILABLE, "vulkan: %s", reason);
        gipa = g->vkGetInstanceProcAddr;
    }
    if (!e->instance || !e->physical_device || !e->device)
        return vulkan_report(GPUMEM_ERROR_INVALID_ARGUMENT,
                             "vulkan: an external device needs instance, "
                             "physical_device and device");
    d->instance.instance = (VkInstance)(uintptr_t)e->instance;
    d->instance.gipa = gipa;
    gpumem_result r = vulkan_resolve_instance(gipa, d->instance.instance, &d->instance.vk);
    if (r != GPUMEM_OK)
        return r;
    d->physical_device = (VkPhysicalDevice)(uintptr_t)e->physical_device;
    d->device = (VkDevice)(uintptr_t)e->device;
    d->queue_family = e->queue_family;
    d->queue_index = e->queue_index;
    if (!vulkan_device_usable(&d->instance, d->physical_device, reason, sizeof reason))
        return vulkan_report(GPUMEM_ERROR_UNSUPPORTED, "vulkan: %s", reason);
    d->instance.vk.vkGetPhysicalDeviceProperties(d->physical_device, &d->properties);
    /* The application's instance version is unknown; its device's own is the best guess, and
     * entry points are resolved with their KHR aliases as a fallback anyway. */
    d->instance.api_version = d->properties.apiVersion;
    d->api_version = device_api_version(d);
    d->has_memory_budget = vulkan_device_has_extension(&d->instance, d->physical_device,
                                                       VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    /* Vulkan 1.2, or VK_KHR_buffer_device_address on an earlier device (gpumem.h): the
     * application says it enabled it; finish_open drops it where the entry point is not there. */
    d->device_address = (e->vulkan_features & GPUMEM_VULKAN_FEATURE_BUFFER_DEVICE_ADDRESS) != 0;
    if ((r = check_external_queue(d)) != GPUMEM_OK)
        return r;
    return finish_open(d);
}

gpumem_result vulkan_device_open(uint32_t index, const gpumem_external_device *external,
                                 gpumem_backend_device **device)
{
    gpumem_backend_device *d = calloc(1, sizeof *d);
    if (!d)
        return vulkan_report(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "vulkan: no memory for a device");
    pthread_mutex_init(&d->timeline_lock, NULL);
    pthread_mutex_init(&d->usage_lock, NULL);
    pthread_mutex_init(&d->setup_lock, NULL);
    gpumem_result r = external ? open_external(d, external) : open_own(d, index);
    if (r != GPUMEM_OK) {
        vulkan_device_close(d);
        return r;
    }
    *device = d;
    return GPUMEM_OK;
}

/* Waits until the queue has let go of everything gpumem submitted or made others wait for.
 * Every stream was synchronized, so its work is done; but a driver may still hold a semaphore
 * after its value was reached: Mesa 22.3's queue thread (lavapipe) releases a submission's time
 * points after the submission signalled, so destroying a timeline that the application's work
 * had waited for (an event's semaphore) crashed that thread about once in ten closes on a
 * loaded machine. Waiting for the queue to be idle is what every driver's release follows. On
 * an application's device the queue is the application's too, which must not use it from
 * another thread during a gpumem call (docs/backends-vulkan.md). */
static void let_the_queue_go(gpumem_backend_device *d)
{
    if (!d->queue || !d->queue_lock || !d->vk.vkQueueWaitIdle)
        return;
    pthread_mutex_lock(d->queue_lock);
    VkResult r = d->vk.vkQueueWaitIdle(d->queue);
    pthread_mutex_unlock(d->queue_lock);
    if (r != VK_SUCCESS)
        gpumem_backend_log(GPUMEM_LOG_WARNING,
                           "vulkan: vkQueueWaitIdle at close failed (%s): destroying gpumem's "
                           "semaphores anyway",
                           vulkan_result_name(r));
}

void vulkan_device_close(gpumem_backend_device *d)
{
    if (d->device) {
        let_the_queue_go(d);
        vulkan_images_release(d);
        vulkan_timelines_release(d);
    }
    if (d->owns_device && d->device) {
        PFN_vkDestroyDevice destroy = d->vk.vkDestroyDevice;
        if (!destroy) /* resolution failed half-way */
            destroy = (PFN_vkDestroyDevice)d->instance.vk.vkGetDeviceProcAddr(d->device,
                                                                              "vkDestroyDevice");
        if (destroy)
            destroy(d->device, NULL);
    }
    vulkan_instance_destroy(&d->instance);
    pthread_mutex_destroy(&d->usage_lock);
    pthread_mutex_destroy(&d->setup_lock);
    pthread_mutex_destroy(&d->timeline_lock);
    if (d->queue_lock)
        queue_lock_give(d->queue_lock);
    free(d);
}

gpumem_result vulkan_device_native(gpumem_backend_device *d, gpumem_external_device *native)
{
    native->instance = (uint64_t)(uintptr_t)d->instance.instance;
    native->physical_device = (uint64_t)(uintptr_t)d->physical_device;
    native->device = (uint64_t)(uintptr_t)d->device;
    native->queue_family = d->queue_family;
    native->queue_index = d->queue_index;
    native->get_instance_proc_addr = (void *)d->instance.gipa;
    native->vulkan_features = GPUMEM_VULKAN_FEATURE_TIMELINE_SEMAPHORE |
                              (d->device_address ? GPUMEM_VULKAN_FEATURE_BUFFER_DEVICE_ADDRESS : 0);
    return GPUMEM_OK;
}
