/* The tests' own Vulkan "application": what a program that brings its own VkDevice, or uses
 * gpumem's objects in its own commands, does. libvulkan.so.1 is opened with dlopen here as in
 * the backend, so the tests need the Vulkan headers only. */
#ifndef GPUMEM_TESTS_VULKAN_APP_H
#define GPUMEM_TESTS_VULKAN_APP_H

#define VK_NO_PROTOTYPES
#include <stdint.h>
#include <vulkan/vulkan.h>

#define APP_INSTANCE_FUNCTIONS(X)               \
    X(vkDestroyInstance)                        \
    X(vkEnumeratePhysicalDevices)               \
    X(vkGetPhysicalDeviceMemoryProperties)      \
    X(vkGetPhysicalDeviceProperties)            \
    X(vkGetPhysicalDeviceQueueFamilyProperties) \
    X(vkCreateDevice)                           \
    X(vkGetDeviceProcAddr)                      \
    X(vkCreateDebugUtilsMessengerEXT)           \
    X(vkDestroyDebugUtilsMessengerEXT)

#define APP_DEVICE_FUNCTIONS(X)      \
    X(vkDestroyDevice)               \
    X(vkGetDeviceQueue)              \
    X(vkCreateBuffer)                \
    X(vkDestroyBuffer)               \
    X(vkGetBufferMemoryRequirements) \
    X(vkAllocateMemory)              \
    X(vkFreeMemory)                  \
    X(vkBindBufferMemory)            \
    X(vkMapMemory)                   \
    X(vkUnmapMemory)                 \
    X(vkCreateCommandPool)           \
    X(vkDestroyCommandPool)          \
    X(vkAllocateCommandBuffers)      \
    X(vkBeginCommandBuffer)          \
    X(vkEndCommandBuffer)            \
    X(vkCmdCopyBuffer)               \
    X(vkCmdPipelineBarrier)          \
    X(vkQueueSubmit)                 \
    X(vkQueueWaitIdle)               \
    X(vkCreateFence)                 \
    X(vkDestroyFence)                \
    X(vkWaitForFences)               \
    X(vkCreateSemaphore)             \
    X(vkDestroySemaphore)            \
    X(vkGetBufferDeviceAddress)      \
    X(vkSignalSemaphore)             \
    X(vkGetSemaphoreCounterValue)

#define APP_FIELD(name) PFN_##name name;

typedef struct app_vk {
    PFN_vkGetInstanceProcAddr gipa;
    APP_INSTANCE_FUNCTIONS(APP_FIELD)
    APP_DEVICE_FUNCTIONS(APP_FIELD)
    VkInstance instance;
    VkPhysicalDevice physical_device;
    VkDevice device;
    uint32_t queue_family;
    VkQueue queue;
    VkDebugUtilsMessengerEXT messenger;
    int owns; /* 1: the test created instance and device, and destroys them */
} app_vk;

/* A host-visible buffer of the application's own. */
typedef struct app_buffer {
    VkBuffer buffer;
    VkDeviceMemory memory;
    void *data;
    uint64_t size;
} app_buffer;

/* Receives every message of the application's validation messenger. */
typedef void (*app_message_fn)(int is_error_or_warning, const char *message);

/* vkGetInstanceProcAddr from libvulkan.so.1, or NULL. */
PFN_vkGetInstanceProcAddr app_loader(void);

/* Whether the Khronos validation layer is installed (and so whether a wrong call must be
 * reported). */
int app_has_validation_layer(void);

/* Creates an instance (Vulkan 1.2, with the validation layer and a messenger calling
 * on_message), picks physical device 0 and creates a device with one queue of a family that
 * can compute, with timeline semaphores enabled (gpumem needs them). 0 on success, else the
 * VkResult of the call that failed, or -1 with the reason in `why`. */
int app_create(app_vk *app, app_message_fn on_message, char *why, size_t why_size);

/* Wraps gpumem's objects (from gpumem_device_native) without owning them. */
int app_wrap(app_vk *app, uint64_t instance, uint64_t physical_device, uint64_t device,
             uint32_t queue_family, uint32_t queue_index, void *get_instance_proc_addr);

/* Destroys what app_create created; for a wrapped app, nothing. */
void app_destroy(app_vk *app);

/* A host-visible, coherent buffer with transfer source and destination usage, mapped. */
VkResult app_buffer_create(app_vk *app, uint64_t size, app_buffer *buffer);
void app_buffer_destroy(app_vk *app, app_buffer *buffer);

/* Records vkCmdCopyBuffer(source -> destination, size bytes from offset 0), submits it to the
 * app's queue with a barrier that makes the result visible to the host, and waits for it. */
VkResult app_copy(app_vk *app, VkBuffer source, VkBuffer destination, uint64_t size);

/* The same copy, its submission first waiting for timeline `wait` to reach `wait_value` and
 * signalling timeline `signal` with `signal_value` when done (either semaphore may be
 * VK_NULL_HANDLE); then waits for it on the host. */
VkResult app_copy_ordered(app_vk *app, VkBuffer source, VkBuffer destination, uint64_t size,
                          VkSemaphore wait, uint64_t wait_value, VkSemaphore signal,
                          uint64_t signal_value);

/* A submission in flight: what app_submission_finish waits for and destroys. */
typedef struct app_submission {
    VkCommandPool pool;
    VkFence fence;
} app_submission;

/* The same copy, submitted as app_copy_ordered's but not waited for: app_submission_finish
 * waits for it and destroys what it used. */
VkResult app_copy_submit(app_vk *app, VkBuffer source, VkBuffer destination, uint64_t size,
                         VkSemaphore wait, uint64_t wait_value, VkSemaphore signal,
                         uint64_t signal_value, app_submission *submission);
VkResult app_submission_finish(app_vk *app, app_submission *submission);

/* A timeline semaphore of the app's device, starting at 0. */
VkResult app_timeline_create(app_vk *app, VkSemaphore *semaphore);

#endif
