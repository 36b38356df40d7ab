/* VkResult names and their gpumem results: every failed Vulkan call is reported with the call,
 * the VkResult's name and the sizes involved, as gpumem_last_error() promises. */
#include <stdarg.h>
#include <stdio.h>

#include "vulkan_backend.h"

const char *vulkan_result_name(VkResult result)
{
    switch (result) {
#define NAME(r) \
    case r:     \
        return #r;
        NAME(VK_SUCCESS)
        NAME(VK_NOT_READY)
        NAME(VK_TIMEOUT)
        NAME(VK_EVENT_SET)
        NAME(VK_EVENT_RESET)
        NAME(VK_INCOMPLETE)
        NAME(VK_ERROR_OUT_OF_HOST_MEMORY)
        NAME(VK_ERROR_OUT_OF_DEVICE_MEMORY)
        NAME(VK_ERROR_INITIALIZATION_FAILED)
        NAME(VK_ERROR_DEVICE_LOST)
        NAME(VK_ERROR_MEMORY_MAP_FAILED)
        NAME(VK_ERROR_LAYER_NOT_PRESENT)
        NAME(VK_ERROR_EXTENSION_NOT_PRESENT)
        NAME(VK_ERROR_FEATURE_NOT_PRESENT)
        NAME(VK_ERROR_INCOMPATIBLE_DRIVER)
        NAME(VK_ERROR_TOO_MANY_OBJECTS)
        NAME(VK_ERROR_FORMAT_NOT_SUPPORTED)
        NAME(VK_ERROR_FRAGMENTED_POOL)
        NAME(VK_ERROR_UNKNOWN)
        NAME(VK_ERROR_OUT_OF_POOL_MEMORY)
        NAME(VK_ERROR_INVALID_EXTERNAL_HANDLE)
        NAME(VK_ERROR_FRAGMENTATION)
        NAME(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
        NAME(VK_ERROR_VALIDATION_FAILED_EXT)
#undef NAME
    default:
        return "VK_RESULT_UNKNOWN";
    }
}

gpumem_result vulkan_result_code(VkResult result)
{
    switch (result) {
    case VK_SUCCESS:
        return GPUMEM_OK;
    case VK_ERROR_OUT_OF_HOST_MEMORY:
        return GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
    case VK_ERROR_FRAGMENTATION:
        return GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY;
    case VK_ERROR_TOO_MANY_OBJECTS: /* maxMemoryAllocationCount reached */
        return GPUMEM_ERROR_LIMIT_EXCEEDED;
    case VK_ERROR_INCOMPATIBLE_DRIVER:
    case VK_ERROR_INITIALIZATION_FAILED:
        return GPUMEM_ERROR_UNAVAILABLE;
    case VK_ERROR_FEATURE_NOT_PRESENT:
    case VK_ERROR_EXTENSION_NOT_PRESENT:
        return GPUMEM_ERROR_UNSUPPORTED;
    default:
        return GPUMEM_ERROR_BACKEND;
    }
}

/* A copy of the last message on this thread: core keeps its own out of reach of backends, and
 * probe needs the words for its reason. */
static _Thread_local char last_message[GPUMEM_REASON_SIZE * 2];

const char *vulkan_last_message(void)
{
    return last_message;
}

gpumem_result vulkan_report(gpumem_result result, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(last_message, sizeof last_message, format, args);
    va_end(args);
    return gpumem_backend_error(result, "%s", last_message);
}

gpumem_result vulkan_error(VkResult result, const char *call, const char *detail_format, ...)
{
    char detail[512];
    va_list args;
    va_start(args, detail_format);
    vsnprintf(detail, sizeof detail, detail_format, args);
    va_end(args);
    return vulkan_report(vulkan_result_code(result), "%s: %s %s", call, vulkan_result_name(result),
                         detail);
}

gpumem_result vulkan_fail(VkResult result, const char *call)
{
    return vulkan_report(vulkan_result_code(result), "%s: %s", call, vulkan_result_name(result));
}
