/* Loading the Vulkan runtime: libvulkan.so.1 is opened with dlopen once per process and every
 * entry point is resolved into the tables of vulkan_backend.h. Nothing links against
 * libvulkan, so the backend builds with the headers alone and reports "unavailable" with the
 * reason when the loader is missing. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "vulkan_backend.h"

#define LOADER_NAME "libvulkan.so.1"

static pthread_once_t loader_once = PTHREAD_ONCE_INIT;
static vulkan_global_functions loader_table;
static int loader_ok;
static char loader_reason[GPUMEM_REASON_SIZE];

/* The library stays open for the life of the process: ICDs keep threads and instances of
 * other gpumem devices may still be alive, so unloading is never safe. */
static void loader_open(void)
{
    void *library = dlopen(LOADER_NAME, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        const char *why = dlerror();
        gpumem_backend_log(GPUMEM_LOG_DEBUG, "vulkan: dlopen(%s): %s", LOADER_NAME,
                           why ? why : "failed");
        snprintf(loader_reason, sizeof loader_reason, "%s not found", LOADER_NAME);
        return;
    }
    loader_table.vkGetInstanceProcAddr =
        (PFN_vkGetInstanceProcAddr)dlsym(library, "vkGetInstanceProcAddr");
    if (!loader_table.vkGetInstanceProcAddr) {
        snprintf(loader_reason, sizeof loader_reason, "%s has no vkGetInstanceProcAddr",
                 LOADER_NAME);
        return;
    }
    PFN_vkGetInstanceProcAddr gipa = loader_table.vkGetInstanceProcAddr;
#define RESOLVE(name, alias, required)                                                    \
    loader_table.name = (PFN_##name)gipa(VK_NULL_HANDLE, #name);                          \
    if (!loader_table.name && (required)) {                                               \
        snprintf(loader_reason, sizeof loader_reason, "%s lacks %s", LOADER_NAME, #name); \
        return;                                                                           \
    }
    VULKAN_GLOBAL_FUNCTIONS(RESOLVE)
#undef RESOLVE
    loader_ok = 1;
}

const vulkan_global_functions *vulkan_loader(char *reason, size_t reason_size)
{
    pthread_once(&loader_once, loader_open);
    if (loader_ok)
        return &loader_table;
    snprintf(reason, reason_size, "%s", loader_reason);
    return NULL;
}

static gpumem_result missing(const char *level, const char *name)
{
    return vulkan_report(GPUMEM_ERROR_UNSUPPORTED,
                         "vulkan: the %s has no entry point %s (is its Vulkan version "
                         "1.1 or newer, with timeline semaphores?)",
                         level, name);
}

/* Each entry is looked up under its core name, then under its extension alias, which is all
 * an older instance or device (Vulkan 1.1 with the KHR extension) offers. */
gpumem_result vulkan_resolve_instance(PFN_vkGetInstanceProcAddr gipa, VkInstance instance,
                                      vulkan_instance_functions *table)
{
#define RESOLVE(name, alias, required)                                   \
    table->name = (PFN_##name)gipa(instance, #name);                     \
    if (!table->name && (alias))                                         \
        table->name = (PFN_##name)gipa(instance, (const char *)(alias)); \
    if (!table->name && (required))                                      \
        return missing("instance", #name);
    VULKAN_INSTANCE_FUNCTIONS(RESOLVE)
#undef RESOLVE
    return GPUMEM_OK;
}

gpumem_result vulkan_resolve_device(PFN_vkGetDeviceProcAddr gdpa, VkDevice device,
                                    vulkan_device_functions *table)
{
#define RESOLVE(name, alias, required)                                 \
    table->name = (PFN_##name)gdpa(device, #name);                     \
    if (!table->name && (alias))                                       \
        table->name = (PFN_##name)gdpa(device, (const char *)(alias)); \
    if (!table->name && (required))                                    \
        return missing("device", #name);
    VULKAN_DEVICE_FUNCTIONS(RESOLVE)
#undef RESOLVE
    return GPUMEM_OK;
}
