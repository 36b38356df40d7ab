/* The tests' Vulkan application (see app.h). */
#include "app.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"
#define MIN_ALLOCATION (1u << 20)

PFN_vkGetInstanceProcAddr app_loader(void)
{
    void *library = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    return library ? (PFN_vkGetInstanceProcAddr)dlsym(library, "vkGetInstanceProcAddr") : NULL;
}

static app_message_fn message_fn;

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT types,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                 void *user)
{
    (void)types;
    (void)user;
    /* Best practices' note that debugging extensions are for debugging: the test's own. */
    if (data->pMessageIdName &&
        strcmp(data->pMessageIdName,
               "UNASSIGNED-BestPractices-vkCreateInstance-specialuse-extension-debugging") == 0)
        return VK_FALSE;
    int serious = (severity & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)) != 0;
    if (message_fn)
        message_fn(serious, data->pMessage);
    return VK_FALSE;
}

static int has_layer(PFN_vkGetInstanceProcAddr gipa)
{
    PFN_vkEnumerateInstanceLayerProperties enumerate =
        (PFN_vkEnumerateInstanceLayerProperties)gipa(NULL, "vkEnumerateInstanceLayerProperties");
    uint32_t count = 0;
    if (!enumerate || enumerate(&count, NULL) != VK_SUCCESS)
        return 0;
    VkLayerProperties *layers = calloc(count + 1, sizeof *layers);
    int found = 0;
    if (layers && enumerate(&count, layers) == VK_SUCCESS)
        for (uint32_t i = 0; i < count; i++)
            found |= strcmp(layers[i].layerName, VALIDATION_LAYER) == 0;
    free(layers);
    return found;
}

int app_has_validation_layer(void)
{
    PFN_vkGetInstanceProcAddr gipa = app_loader();
    return gipa && has_layer(gipa);
}

static void resolve_instance(app_vk *app)
{
#define RESOLVE(name) app->name = (PFN_##name)app->gipa(app->instance, #name);
    APP_INSTANCE_FUNCTIONS(RESOLVE)
#undef RESOLVE
}

static void resolve_device(app_vk *app)
{
#define RESOLVE(name) app->name = (PFN_##name)app->vkGetDeviceProcAddr(app->device, #name);
    APP_DEVICE_FUNCTIONS(RESOLVE)
#undef RESOLVE
}

static VkResult create_instance(app_vk *app)
{
    PFN_vkCreateInstance create = (PFN_vkCreateInstance)app->gipa(NULL, "vkCreateInstance");
    VkApplicationInfo info = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                              .pApplicationName = "gpumem-test-vulkan",
                              .apiVersion = VK_API_VERSION_1_2};
    VkDebugUtilsMessengerCreateInfoEXT messenger = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_message,
    };
    const char *layer = VALIDATION_LAYER;
    const char *extensions[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME,
                                VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME};
    int validation = has_layer(app->gipa);
    /* The layer's optional checks as GPUMEM_VULKAN_VALIDATION asks them of gpumem's own
     * instances: synchronization validation, best practices. */
    const char *wanted = getenv("GPUMEM_VULKAN_VALIDATION");
    VkValidationFeatureEnableEXT enables[2];
    uint32_t enable_count = 0;
    if (wanted && (strstr(wanted, "sync") || strcmp(wanted, "all") == 0))
        enables[enable_count++] = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
    if (wanted && (strstr(wanted, "best") || strcmp(wanted, "all") == 0))
        enables[enable_count++] = VK_VALIDATION_FEATURE_ENABLE_BEST_PRACTICES_EXT;
    VkValidationFeaturesEXT features = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                        .pNext = &messenger,
                                        .enabledValidationFeatureCount = enable_count,
                                        .pEnabledValidationFeatures = enables};
    VkInstanceCreateInfo create_info = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = !validation ? NULL : enable_count ? (const void *)&features : &messenger,
        .pApplicationInfo = &info,
        .enabledLayerCount = validation ? 1 : 0,
        .ppEnabledLayerNames = &layer,
        .enabledExtensionCount = !validation ? 0 : enable_count ? 2 : 1,
        .ppEnabledExtensionNames = extensions,
    };
    VkResult r = create(&create_info, NULL, &app->instance);
    if (r != VK_SUCCESS)
        return r;
    resolve_instance(app);
    if (validation)
        r = app->vkCreateDebugUtilsMessengerEXT(app->instance, &messenger, NULL, &app->messenger);
    return r;
}

static int pick_family(app_vk *app)
{
    uint32_t count = 0;
    app->vkGetPhysicalDeviceQueueFamilyProperties(app->physical_device, &count, NULL);
    VkQueueFamilyProperties families[16];
    if (count > 16)
        count = 16;
    app->vkGetPhysicalDeviceQueueFamilyProperties(app->physical_device, &count, families);
    for (uint32_t i = 0; i < count; i++)
        if (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            app->queue_family = i;
            return 1;
        }
    return 0;
}

static VkResult create_device(app_vk *app)
{
    VkPhysicalDeviceVulkan12Features v12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .timelineSemaphore = VK_TRUE,
        .bufferDeviceAddress = VK_TRUE,
    };
    const float priority = 1.0f;
    VkDeviceQueueCreateInfo queue = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                     .queueFamilyIndex = app->queue_family,
                                     .queueCount = 1,
                                     .pQueuePriorities = &priority};
    VkDeviceCreateInfo info = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                               .pNext = &v12,
                               .queueCreateInfoCount = 1,
                               .pQueueCreateInfos = &queue};
    VkResult r = app->vkCreateDevice(app->physical_device, &info, NULL, &app->device);
    if (r != VK_SUCCESS)
        return r;
    resolve_device(app);
    app->vkGetDeviceQueue(app->device, app->queue_family, 0, &app->queue);
    return VK_SUCCESS;
}

int app_create(app_vk *app, app_message_fn fn, char *why, size_t why_size)
{
    memset(app, 0, sizeof *app);
    message_fn = fn;
    app->owns = 1;
    if (!(app->gipa = app_loader())) {
        snprintf(why, why_size, "libvulkan.so.1 not found");
        return -1;
    }
    VkResult r = create_instance(app);
    if (r != VK_SUCCESS) {
        snprintf(why, why_size, "vkCreateInstance or messenger: %d", (int)r);
        return r;
    }
    uint32_t count = 1;
    r = app->vkEnumeratePhysicalDevices(app->instance, &count, &app->physical_device);
    if ((r != VK_SUCCESS && r != VK_INCOMPLETE) || count == 0) {
        snprintf(why, why_size, "no physical device (%d)", (int)r);
        return -1;
    }
    if (!pick_family(app)) {
        snprintf(why, why_size, "no compute queue family");
        return -1;
    }
    if ((r = create_device(app)) != VK_SUCCESS)
        snprintf(why, why_size, "vkCreateDevice: %d", (int)r);
    return r;
}

int app_wrap(app_vk *app, uint64_t instance, uint64_t physical_device, uint64_t device,
             uint32_t queue_family, uint32_t queue_index, void *get_instance_proc_addr)
{
    memset(app, 0, sizeof *app);
    app->gipa = (PFN_vkGetInstanceProcAddr)get_instance_proc_addr;
    app->instance = (VkInstance)(uintptr_t)instance;
    app->physical_device = (VkPhysicalDevice)(uintptr_t)physical_device;
    app->device = (VkDevice)(uintptr_t)device;
    app->queue_family = queue_family;
    if (!app->gipa)
        return -1;
    resolve_instance(app);
    resolve_device(app);
    app->vkGetDeviceQueue(app->device, queue_family, queue_index, &app->queue);
    return 0;
}

void app_destroy(app_vk *app)
{
    if (!app->owns)
        return;
    if (app->device)
        app->vkDestroyDevice(app->device, NULL);
    if (app->messenger)
        app->vkDestroyDebugUtilsMessengerEXT(app->instance, app->messenger, NULL);
    if (app->instance)
        app->vkDestroyInstance(app->instance, NULL);
    memset(app, 0, sizeof *app);
}

static uint32_t host_visible_type(app_vk *app, uint32_t bits)
{
    VkPhysicalDeviceMemoryProperties m;
    app->vkGetPhysicalDeviceMemoryProperties(app->physical_device, &m);
    const VkMemoryPropertyFlags want =
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    for (uint32_t i = 0; i < m.memoryTypeCount; i++)
        if ((bits & (1u << i)) && (m.memoryTypes[i].propertyFlags & want) == want)
            return i;
    return UINT32_MAX;
}

VkResult app_buffer_create(app_vk *app, uint64_t size, app_buffer *b)
{
    memset(b, 0, sizeof *b);
    b->size = size;
    VkBufferCreateInfo info = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                               .size = size,
                               .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                        VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                               .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = app->vkCreateBuffer(app->device, &info, NULL, &b->buffer);
    if (r != VK_SUCCESS)
        return r;
    VkMemoryRequirements req;
    app->vkGetBufferMemoryRequirements(app->device, b->buffer, &req);
    /* At least 1 MiB: smaller allocations draw the best-practices layer's warnings. */
    VkMemoryAllocateInfo alloc = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                  .allocationSize = req.size > MIN_ALLOCATION ? req.size
                                                                              : MIN_ALLOCATION,
                                  .memoryTypeIndex = host_visible_type(app, req.memoryTypeBits)};
    if (alloc.memoryTypeIndex == UINT32_MAX)
        return VK_ERROR_FEATURE_NOT_PRESENT;
    if ((r = app->vkAllocateMemory(app->device, &alloc, NULL, &b->memory)) != VK_SUCCESS)
        return r;
    if ((r = app->vkBindBufferMemory(app->device, b->buffer, b->memory, 0)) != VK_SUCCESS)
        return r;
    return app->vkMapMemory(app->device, b->memory, 0, VK_WHOLE_SIZE, 0, &b->data);
}

void app_buffer_destroy(app_vk *app, app_buffer *b)
{
    if (b->data)
        app->vkUnmapMemory(app->device, b->memory);
    if (b->buffer)
        app->vkDestroyBuffer(app->device, b->buffer, NULL);
    if (b->memory)
        app->vkFreeMemory(app->device, b->memory, NULL);
    memset(b, 0, sizeof *b);
}

static VkResult record_copy(app_vk *app, VkCommandBuffer cb, VkBuffer source, VkBuffer destination,
                            uint64_t size)
{
    VkCommandBufferBeginInfo begin = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                      .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VkResult r = app->vkBeginCommandBuffer(cb, &begin);
    if (r != VK_SUCCESS)
        return r;
    VkBufferCopy region = {.size = size};
    app->vkCmdCopyBuffer(cb, source, destination, 1, &region);
    VkMemoryBarrier to_host = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                               .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                               .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
    app->vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1,
                              &to_host, 0, NULL, 0, NULL);
    return app->vkEndCommandBuffer(cb);
}

VkResult app_copy(app_vk *app, VkBuffer source, VkBuffer destination, uint64_t size)
{
    return app_copy_ordered(app, source, destination, size, VK_NULL_HANDLE, 0, VK_NULL_HANDLE, 0);
}

VkResult app_timeline_create(app_vk *app, VkSemaphore *semaphore)
{
    VkSemaphoreTypeCreateInfo type = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
                                      .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE};
    VkSemaphoreCreateInfo info = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, .pNext = &type};
    return app->vkCreateSemaphore(app->device, &info, NULL, semaphore);
}

VkResult app_copy_submit(app_vk *app, VkBuffer source, VkBuffer destination, uint64_t size,
                         VkSemaphore wait, uint64_t wait_value, VkSemaphore signal,
                         uint64_t signal_value, app_submission *submission)
{
    *submission = (app_submission){VK_NULL_HANDLE, VK_NULL_HANDLE};
    VkCommandPoolCreateInfo pool_info = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                         .queueFamilyIndex = app->queue_family};
    VkResult r = app->vkCreateCommandPool(app->device, &pool_info, NULL, &submission->pool);
    if (r != VK_SUCCESS)
        return r;
    VkCommandBufferAllocateInfo alloc = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                         .commandPool = submission->pool,
                                         .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                         .commandBufferCount = 1};
    VkCommandBuffer cb;
    VkFenceCreateInfo fence_info = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((r = app->vkAllocateCommandBuffers(app->device, &alloc, &cb)) == VK_SUCCESS &&
        (r = record_copy(app, cb, source, destination, size)) == VK_SUCCESS &&
        (r = app->vkCreateFence(app->device, &fence_info, NULL, &submission->fence)) ==
            VK_SUCCESS) {
        VkPipelineStageFlags stage = VK_PIPELINE_STAGE_TRANSFER_BIT;
        VkTimelineSemaphoreSubmitInfo values = {
            .sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
            .waitSemaphoreValueCount = wait ? 1 : 0,
            .pWaitSemaphoreValues = &wait_value,
            .signalSemaphoreValueCount = signal ? 1 : 0,
            .pSignalSemaphoreValues = &signal_value};
        VkSubmitInfo submit = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                               .pNext = wait || signal ? &values : NULL,
                               .waitSemaphoreCount = wait ? 1 : 0,
                               .pWaitSemaphores = wait ? &wait : NULL,
                               .pWaitDstStageMask = wait ? &stage : NULL,
                               .commandBufferCount = 1,
                               .pCommandBuffers = &cb,
                               .signalSemaphoreCount = signal ? 1 : 0,
                               .pSignalSemaphores = signal ? &signal : NULL};
        r = app->vkQueueSubmit(app->queue, 1, &submit, submission->fence);
        if (r == VK_SUCCESS)
            return r;
    }
    /* Nothing was submitted: nothing to wait for. */
    if (submission->fence)
        app->vkDestroyFence(app->device, submission->fence, NULL);
    app->vkDestroyCommandPool(app->device, submission->pool, NULL);
    *submission = (app_submission){VK_NULL_HANDLE, VK_NULL_HANDLE};
    return r;
}

VkResult app_submission_finish(app_vk *app, app_submission *submission)
{
    VkResult r = VK_SUCCESS;
    if (submission->fence) {
        r = app->vkWaitForFences(app->device, 1, &submission->fence, VK_TRUE, UINT64_MAX);
        app->vkDestroyFence(app->device, submission->fence, NULL);
    }
    if (submission->pool)
        app->vkDestroyCommandPool(app->device, submission->pool, NULL);
    *submission = (app_submission){VK_NULL_HANDLE, VK_NULL_HANDLE};
    return r;
}

VkResult app_copy_ordered(app_vk *app, VkBuffer source, VkBuffer destination, uint64_t size,
                          VkSemaphore wait, uint64_t wait_value, VkSemaphore signal,
                          uint64_t signal_value)
{
    app_submission submission;
    VkResult r = app_copy_submit(app, source, destination, size, wait, wait_value, signal,
                                 signal_value, &submission);
    if (r != VK_SUCCESS)
        return r;
    return app_submission_finish(app, &submission);
}
