/* Validation: with GPUMEM_VULKAN_VALIDATION=1, gpumem's own instances enable the Khronos
 * validation layer and a debug utils messenger, and every message goes to gpumem's log with the
 * prefix "vulkan validation: ", so tests can fail on any of them. A comma-separated list adds
 * the layer's optional checks: "sync" (synchronization validation), "best" (best practices),
 * "all" (both); e.g. GPUMEM_VULKAN_VALIDATION=sync,best. */
#include <stdlib.h>
#include <string.h>

#include "vulkan_backend.h"

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

int vulkan_validation_wanted(void)
{
    const char *env = getenv("GPUMEM_VULKAN_VALIDATION");
    return env && *env && strcmp(env, "0") != 0;
}

/* 1 when `value` is one of `words` (NULL-terminated). The values are core's (core/env.c, which
 * warns about any other and says it is taken as 1): a list in another order or with other
 * words turns on the layer alone, as core says. */
static int one_of(const char *value, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(value, *words) == 0)
            return 1;
    return 0;
}

static int32_t level_of(VkDebugUtilsMessageSeverityFlagBitsEXT severity)
{
    if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)
        return GPUMEM_LOG_ERROR;
    if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT)
        return GPUMEM_LOG_WARNING;
    return GPUMEM_LOG_DEBUG;
}

/* Called by the layer (or the loader) on whichever thread made the offending call. */
static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT types,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                 void *user)
{
    /* Best practices notes that the debugging extensions gpumem asks for only to validate
     * (debug utils, validation features) are for debugging: so they are. */
    if (data && data->pMessageIdName &&
        strcmp(data->pMessageIdName,
               "UNASSIGNED-BestPractices-vkCreateInstance-specialuse-extension-debugging") == 0)
        return VK_FALSE;
    const char *text = data && data->pMessage ? data->pMessage : "(no message)";
    gpumem_backend_log(level_of(severity), "vulkan validation: %s", text);
    return VK_FALSE; /* the call goes on as it would without the layer */
}

static int layer_present(const vulkan_global_functions *vk)
{
    uint32_t count = 0;
    if (vk->vkEnumerateInstanceLayerProperties(&count, NULL) != VK_SUCCESS || count == 0)
        return 0;
    VkLayerProperties *layers = calloc(count, sizeof *layers);
    int found = 0;
    if (layers && vk->vkEnumerateInstanceLayerProperties(&count, layers) >= VK_SUCCESS)
        for (uint32_t i = 0; i < count && !found; i++)
            found = strcmp(layers[i].layerName, VALIDATION_LAYER) == 0;
    free(layers);
    return found;
}

void vulkan_validation_prepare(const vulkan_global_functions *vk, vulkan_validation_setup *setup)
{
    memset(setup, 0, sizeof *setup);
    if (!layer_present(vk)) {
        /* With the validation messages' prefix: a run that asked for validation and got none
         * fails as one that it reported on does (the tests look for the prefix). */
        gpumem_backend_log(GPUMEM_LOG_WARNING,
                           "vulkan validation: GPUMEM_VULKAN_VALIDATION is set but the layer %s "
                           "is not installed; running without validation",
                           VALIDATION_LAYER);
        return;
    }
    setup->enabled = 1;
    setup->layer = VALIDATION_LAYER;
    /* The layer itself provides these extensions, so asking for them with it is safe. */
    setup->extensions[setup->extension_count++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    const char *env = getenv("GPUMEM_VULKAN_VALIDATION");
    static const char *const with_sync[] = {"sync", "all", "sync,best", "best,sync", NULL};
    static const char *const with_best[] = {"best", "all", "sync,best", "best,sync", NULL};
    int sync = env && one_of(env, with_sync);
    int best = env && one_of(env, with_best);
    if (sync)
        setup->features[setup->feature_count++] =
            VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
    if (best)
        setup->features[setup->feature_count++] = VK_VALIDATION_FEATURE_ENABLE_BEST_PRACTICES_EXT;
    if (setup->feature_count)
        setup->extensions[setup->extension_count++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME;
    setup->messenger_info = (VkDebugUtilsMessengerCreateInfoEXT){
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_VERBOSE_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_INFO_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_message,
    };
}

gpumem_result vulkan_validation_start(const vulkan_instance_functions *vk, VkInstance instance,
                                      const vulkan_validation_setup *setup,
                                      VkDebugUtilsMessengerEXT *messenger)
{
    *messenger = VK_NULL_HANDLE;
    if (!setup->enabled)
        return GPUMEM_OK;
    if (!vk->vkCreateDebugUtilsMessengerEXT)
        return vulkan_report(GPUMEM_ERROR_BACKEND,
                             "vulkan: validation is on but the instance has no "
                             "vkCreateDebugUtilsMessengerEXT");
    VkResult r =
        vk->vkCreateDebugUtilsMessengerEXT(instance, &setup->messenger_info, NULL, messenger);
    return r == VK_SUCCESS ? GPUMEM_OK : vulkan_fail(r, "vkCreateDebugUtilsMessengerEXT");
}
