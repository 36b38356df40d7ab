/* gpumem's own VkInstance, and which physical devices it can use: Vulkan 1.1 or newer with
 * timeline semaphores (core in 1.2, VK_KHR_timeline_semaphore in 1.1), which order each
 * stream's work and give events their values. Each opened device has its own instance, so
 * devices are independent of each other and close without shared state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vulkan_backend.h"

/* Highest version gpumem asks for: it uses nothing newer. */
#define WANTED_API_VERSION VK_API_VERSION_1_2

static uint32_t instance_version(const vulkan_global_functions *g)
{
    uint32_t version = VK_API_VERSION_1_0;
    if (g->vkEnumerateInstanceVersion && g->vkEnumerateInstanceVersion(&version) != VK_SUCCESS)
        version = VK_API_VERSION_1_0;
    return version;
}

static gpumem_result create_vk_instance(const vulkan_global_functions *g, uint32_t api_version,
                                        const vulkan_validation_setup *validation,
                                        VkInstance *instance)
{
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "gpumem",
        .pEngineName = "gpumem",
        .engineVersion = VK_MAKE_API_VERSION(0, GPUMEM_VERSION_MAJOR, GPUMEM_VERSION_MINOR,
                                             GPUMEM_VERSION_PATCH),
        .apiVersion = api_version,
    };
    VkInstanceCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pApplicationInfo = &app,
    };
    /* The messenger description ends the chain: it is passed alone to create the messenger. */
    VkValidationFeaturesEXT features = {
        .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
        .pNext = &validation->messenger_info,
        .enabledValidationFeatureCount = validation->feature_count,
        .pEnabledValidationFeatures = validation->features,
    };
    if (validation->enabled) {
        info.pNext = validation->feature_count ? (const void *)&features
                                               : (const void *)&validation->messenger_info;
        info.enabledLayerCount = 1;
        info.ppEnabledLayerNames = &validation->layer;
        info.enabledExtensionCount = validation->extension_count;
        info.ppEnabledExtensionNames = validation->extensions;
    }
    VkResult r = g->vkCreateInstance(&info, NULL, instance);
    return r == VK_SUCCESS ? GPUMEM_OK : vulkan_fail(r, "vkCreateInstance");
}

gpumem_result vulkan_instance_create(const vulkan_global_functions *g, int validation,
                                     vulkan_instance *out)
{
    memset(out, 0, sizeof *out);
    uint32_t version = instance_version(g);
    if (version < VK_API_VERSION_1_1)
        return vulkan_report(GPUMEM_ERROR_UNAVAILABLE,
                             "vulkan: the loader offers Vulkan %u.%u; gpumem needs 1.1",
                             VK_API_VERSION_MAJOR(version), VK_API_VERSION_MINOR(version));
    vulkan_validation_setup setup = {0};
    if (validation)
        vulkan_validation_prepare(g, &setup);
    out->api_version = version < WANTED_API_VERSION ? version : WANTED_API_VERSION;
    gpumem_result r = create_vk_instance(g, out->api_version, &setup, &out->instance);
    if (r != GPUMEM_OK)
        return r;
    out->owned = 1;
    out->gipa = g->vkGetInstanceProcAddr;
    r = vulkan_resolve_instance(out->gipa, out->instance, &out->vk);
    if (r == GPUMEM_OK)
        r = vulkan_validation_start(&out->vk, out->instance, &setup, &out->messenger);
    if (r != GPUMEM_OK)
        vulkan_instance_destroy(out);
    return r;
}

void vulkan_instance_destroy(vulkan_instance *instance)
{
    if (!instance->owned || !instance->instance)
        return;
    if (instance->messenger && instance->vk.vkDestroyDebugUtilsMessengerEXT)
        instance->vk.vkDestroyDebugUtilsMessengerEXT(instance->instance, instance->messenger, NULL);
    PFN_vkDestroyInstance destroy = instance->vk.vkDestroyInstance;
    if (!destroy) /* resolution failed half-way */
        destroy = (PFN_vkDestroyInstance)instance->gipa(instance->instance, "vkDestroyInstance");
    if (destroy)
        destroy(instance->instance, NULL);
    memset(instance, 0, sizeof *instance);
}

int vulkan_device_has_extension(const vulkan_instance *instance, VkPhysicalDevice device,
                                const char *name)
{
    const vulkan_instance_functions *vk = &instance->vk;
    uint32_t count = 0;
    if (vk->vkEnumerateDeviceExtensionProperties(device, NULL, &count, NULL) != VK_SUCCESS)
        return 0;
    VkExtensionProperties *list = calloc(count ? count : 1, sizeof *list);
    int found = 0;
    if (list && vk->vkEnumerateDeviceExtensionProperties(device, NULL, &count, list) >= 0)
        for (uint32_t i = 0; i < count && !found; i++)
            found = strcmp(list[i].extensionName, name) == 0;
    free(list);
    return found;
}

static int has_timeline_semaphores(const vulkan_instance *instance, VkPhysicalDevice device,
                                   uint32_t api_version)
{
    if (api_version < VK_API_VERSION_1_2 &&
        !vulkan_device_has_extension(instance, device, VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME))
        return 0;
    VkPhysicalDeviceTimelineSemaphoreFeatures timeline = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES,
    };
    VkPhysicalDeviceFeatures2 features = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
        .pNext = &timeline,
    };
    instance->vk.vkGetPhysicalDeviceFeatures2(device, &features);
    return timeline.timelineSemaphore == VK_TRUE;
}

int vulkan_device_usable(const vulkan_instance *instance, VkPhysicalDevice device, char *why,
                         size_t why_size)
{
    VkPhysicalDeviceProperties p;
    instance->vk.vkGetPhysicalDeviceProperties(device, &p);
    if (p.apiVersion < VK_API_VERSION_1_1) {
        snprintf(why, why_size, "%s offers Vulkan %u.%u; gpumem needs 1.1", p.deviceName,
                 VK_API_VERSION_MAJOR(p.apiVersion), VK_API_VERSION_MINOR(p.apiVersion));
        return 0;
    }
    if (!has_timeline_semaphores(instance, device, p.apiVersion)) {
        snprintf(why, why_size, "%s has no timeline semaphores", p.deviceName);
        return 0;
    }
    return 1;
}

gpumem_result vulkan_usable_devices(const vulkan_instance *instance, uint32_t want,
                                    VkPhysicalDevice *found, uint32_t *count)
{
    const vulkan_instance_functions *vk = &instance->vk;
    uint32_t total = 0;
    VkResult r = vk->vkEnumeratePhysicalDevices(instance->instance, &total, NULL);
    if (r != VK_SUCCESS)
        return vulkan_fail(r, "vkEnumeratePhysicalDevices");
    if (found)
        *found = VK_NULL_HANDLE;
    VkPhysicalDevice *all = calloc(total ? total : 1, sizeof *all);
    if (!all)
        return vulkan_report(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "vulkan: no memory");
    r = vk->vkEnumeratePhysicalDevices(instance->instance, &total, all);
    uint32_t usable = 0;
    for (uint32_t i = 0; r >= VK_SUCCESS && i < total; i++) {
        char why[GPUMEM_REASON_SIZE];
        if (!vulkan_device_usable(instance, all[i], why, sizeof why)) {
            gpumem_backend_log(GPUMEM_LOG_INFO, "vulkan: skipping a device: %s", why);
            continue;
        }
        if (found && usable == want)
            *found = all[i];
        usable++;
    }
    free(all);
    if (r < VK_SUCCESS)
        return vulkan_fail(r, "vkEnumeratePhysicalDevices");
    *count = usable;
    return GPUMEM_OK;
}
