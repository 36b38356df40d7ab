/* A Vulkan layer for tests: while FAILING_LAYER_CREATE_INSTANCE names a result
 * ("out_of_host_memory", "incompatible_driver"), vkCreateInstance fails with it before it reaches
 * the driver; otherwise every call passes through untouched. So a test can make the Vulkan
 * backend's probe fail the way a machine under memory pressure does, on a real driver
 * (lavapipe), and then let it succeed. Enabled with VK_LAYER_PATH and VK_INSTANCE_LAYERS (see
 * tests/unit/meson.build). */
#define VK_NO_PROTOTYPES
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <vulkan/vk_layer.h>
#include <vulkan/vulkan.h>

#define EXPORT __attribute__((visibility("default")))

/* The next layer's entry points (the driver's, through the loader's terminators). One instance
 * chain at a time is all the tests need, but every instance of the process has the same next. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static PFN_vkGetInstanceProcAddr next_gipa;
static PFN_vkGetDeviceProcAddr next_gdpa;

static VkResult forced_failure(void)
{
    const char *env = getenv("FAILING_LAYER_CREATE_INSTANCE");
    if (!env || !*env)
        return VK_SUCCESS;
    if (strcmp(env, "incompatible_driver") == 0)
        return VK_ERROR_INCOMPATIBLE_DRIVER;
    if (strcmp(env, "initialization_failed") == 0)
        return VK_ERROR_INITIALIZATION_FAILED;
    return VK_ERROR_OUT_OF_HOST_MEMORY;
}

static VKAPI_ATTR VkResult VKAPI_CALL layer_create_instance(const VkInstanceCreateInfo *info,
                                                            const VkAllocationCallbacks *allocator,
                                                            VkInstance *instance)
{
    VkLayerInstanceCreateInfo *chain = (VkLayerInstanceCreateInfo *)info->pNext;
    while (chain && !(chain->sType == VK_STRUCTURE_TYPE_LOADER_INSTANCE_CREATE_INFO &&
                      chain->function == VK_LAYER_LINK_INFO))
        chain = (VkLayerInstanceCreateInfo *)chain->pNext;
    if (!chain)
        return VK_ERROR_INITIALIZATION_FAILED;
    VkResult failure = forced_failure();
    if (failure != VK_SUCCESS)
        return failure;
    PFN_vkGetInstanceProcAddr gipa = chain->u.pLayerInfo->pfnNextGetInstanceProcAddr;
    chain->u.pLayerInfo = chain->u.pLayerInfo->pNext;
    PFN_vkCreateInstance create = (PFN_vkCreateInstance)gipa(VK_NULL_HANDLE, "vkCreateInstance");
    VkResult r = create(info, allocator, instance);
    if (r == VK_SUCCESS) {
        pthread_mutex_lock(&lock);
        next_gipa = gipa;
        pthread_mutex_unlock(&lock);
    }
    return r;
}

static VKAPI_ATTR VkResult VKAPI_CALL layer_create_device(VkPhysicalDevice physical_device,
                                                          const VkDeviceCreateInfo *info,
                                                          const VkAllocationCallbacks *allocator,
                                                          VkDevice *device)
{
    VkLayerDeviceCreateInfo *chain = (VkLayerDeviceCreateInfo *)info->pNext;
    while (chain && !(chain->sType == VK_STRUCTURE_TYPE_LOADER_DEVICE_CREATE_INFO &&
                      chain->function == VK_LAYER_LINK_INFO))
        chain = (VkLayerDeviceCreateInfo *)chain->pNext;
    if (!chain)
        return VK_ERROR_INITIALIZATION_FAILED;
    PFN_vkGetInstanceProcAddr gipa = chain->u.pLayerInfo->pfnNextGetInstanceProcAddr;
    PFN_vkGetDeviceProcAddr gdpa = chain->u.pLayerInfo->pfnNextGetDeviceProcAddr;
    chain->u.pLayerInfo = chain->u.pLayerInfo->pNext;
    PFN_vkCreateDevice create = (PFN_vkCreateDevice)gipa(VK_NULL_HANDLE, "vkCreateDevice");
    VkResult r = create(physical_device, info, allocator, device);
    if (r == VK_SUCCESS) {
        pthread_mutex_lock(&lock);
        next_gdpa = gdpa;
        pthread_mutex_unlock(&lock);
    }
    return r;
}

static VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL layer_gdpa(VkDevice device, const char *name);

static VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL layer_gipa(VkInstance instance, const char *name)
{
    if (strcmp(name, "vkGetInstanceProcAddr") == 0)
        return (PFN_vkVoidFunction)layer_gipa;
    if (strcmp(name, "vkCreateInstance") == 0)
        return (PFN_vkVoidFunction)layer_create_instance;
    if (strcmp(name, "vkGetDeviceProcAddr") == 0)
        return (PFN_vkVoidFunction)layer_gdpa;
    if (strcmp(name, "vkCreateDevice") == 0)
        return (PFN_vkVoidFunction)layer_create_device;
    pthread_mutex_lock(&lock);
    PFN_vkGetInstanceProcAddr next = next_gipa;
    pthread_mutex_unlock(&lock);
    return next ? next(instance, name) : NULL;
}

static VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL layer_gdpa(VkDevice device, const char *name)
{
    if (strcmp(name, "vkGetDeviceProcAddr") == 0)
        return (PFN_vkVoidFunction)layer_gdpa;
    pthread_mutex_lock(&lock);
    PFN_vkGetDeviceProcAddr next = next_gdpa;
    pthread_mutex_unlock(&lock);
    return next ? next(device, name) : NULL;
}

EXPORT VKAPI_ATTR VkResult VKAPI_CALL
vkNegotiateLoaderLayerInterfaceVersion(VkNegotiateLayerInterface *version)
{
    if (version->sType != LAYER_NEGOTIATE_INTERFACE_STRUCT)
        return VK_ERROR_INITIALIZATION_FAILED;
    if (version->loaderLayerInterfaceVersion > 2)
        version->loaderLayerInterfaceVersion = 2;
    version->pfnGetInstanceProcAddr = layer_gipa;
    version->pfnGetDeviceProcAddr = layer_gdpa;
    version->pfnGetPhysicalDeviceProcAddr = NULL;
    return VK_SUCCESS;
}
