#include "vk_app.h"

#include <string.h>

static int validation_messages;

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT types,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                 void *user)
{
    (void)types;
    (void)user;
    if (severity & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)) {
        fprintf(stderr, "validation: %s\n", data->pMessage);
        validation_messages++;
    }
    return VK_FALSE;
}

static int has_validation_layer(void)
{
    uint32_t count = 0;
    vkEnumerateInstanceLayerProperties(&count, NULL);
    VkLayerProperties *layers = calloc(count + 1, sizeof *layers);
    int found = 0;
    vkEnumerateInstanceLayerProperties(&count, layers);
    for (uint32_t i = 0; i < count; i++)
        found |= strcmp(layers[i].layerName, "VK_LAYER_KHRONOS_validation") == 0;
    free(layers);
    return found;
}

static void create_instance(app *a, const char *name)
{
    int validation = has_validation_layer();
    VkDebugUtilsMessengerCreateInfoEXT messenger = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        /* Not GENERAL: the loader's notes (layers added from the environment) are no fault
         * of the program's. */
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_message,
    };
    VkValidationFeatureEnableEXT sync = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
    VkValidationFeaturesEXT features = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                        .pNext = &messenger,
                                        .enabledValidationFeatureCount = 1,
                                        .pEnabledValidationFeatures = &sync};
    const char *layer = "VK_LAYER_KHRONOS_validation";
    const char *extensions[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME,
                                VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME};
    VkApplicationInfo info = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                              .pApplicationName = name,
                              .apiVersion = VK_API_VERSION_1_2};
    VkInstanceCreateInfo create = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                                   .pNext = validation ? &features : NULL,
                                   .pApplicationInfo = &info,
                                   .enabledLayerCount = validation ? 1 : 0,
                                   .ppEnabledLayerNames = &layer,
                                   .enabledExtensionCount = validation ? 2 : 0,
                                   .ppEnabledExtensionNames = extensions};
    CHECK_VK(vkCreateInstance(&create, NULL, &a->instance));
    if (validation) {
        PFN_vkCreateDebugUtilsMessengerEXT make = (PFN_vkCreateDebugUtilsMessengerEXT)
            vkGetInstanceProcAddr(a->instance, "vkCreateDebugUtilsMessengerEXT");
        CHECK_VK(make(a->instance, &messenger, NULL, &a->messenger));
    }
}

void app_create(app *a, const char *name)
{
    create_instance(a, name);
    uint32_t count = 1;
    VkResult r = vkEnumeratePhysicalDevices(a->instance, &count, &a->physical_device);
    if ((r != VK_SUCCESS && r != VK_INCOMPLETE) || count == 0) {
        fprintf(stderr, "no Vulkan device\n");
        exit(77);
    }
    VkQueueFamilyProperties families[16];
    count = 16;
    vkGetPhysicalDeviceQueueFamilyProperties(a->physical_device, &count, families);
    a->family = UINT32_MAX;
    for (uint32_t i = 0; i < count && a->family == UINT32_MAX; i++)
        if (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT)
            a->family = i;
    float priority = 1.0f;
    VkDeviceQueueCreateInfo queue = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                     .queueFamilyIndex = a->family,
                                     .queueCount = 1,
                                     .pQueuePriorities = &priority};
    VkPhysicalDeviceVulkan12Features v12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .timelineSemaphore = VK_TRUE}; /* gpumem's streams need it */
    VkDeviceCreateInfo device = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                                 .pNext = &v12,
                                 .queueCreateInfoCount = 1,
                                 .pQueueCreateInfos = &queue};
    CHECK_VK(vkCreateDevice(a->physical_device, &device, NULL, &a->device));
    vkGetDeviceQueue(a->device, a->family, 0, &a->queue);
    VkCommandPoolCreateInfo pool = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                    .queueFamilyIndex = a->family};
    CHECK_VK(vkCreateCommandPool(a->device, &pool, NULL, &a->commands));
}

gpumem_device app_open_gpumem(const app *a)
{
    gpumem_external_device external = {
        .instance = (uint64_t)(uintptr_t)a->instance,
        .physical_device = (uint64_t)(uintptr_t)a->physical_device,
        .device = (uint64_t)(uintptr_t)a->device,
        .queue_family = a->family,
        .get_instance_proc_addr = (void *)vkGetInstanceProcAddr,
        .vulkan_features = GPUMEM_VULKAN_FEATURE_TIMELINE_SEMAPHORE,
    };
    gpumem_device device;
    gpumem_device_desc desc = {.backend = "vulkan", .external = &external};
    CHECK(gpumem_device_open(&desc, &device));
    return device;
}

int app_verdict(const char *program, unsigned long wrong, int messages)
{
    if (!wrong && !messages) {
        printf("%s: OK\n", program);
        return 0;
    }
    printf("%s: FAILED (%lu wrong results, %d validation messages)\n", program, wrong, messages);
    return 1;
}

int app_destroy(app *a)
{
    vkDestroyCommandPool(a->device, a->commands, NULL);
    vkDestroyDevice(a->device, NULL);
    if (a->messenger) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy = (PFN_vkDestroyDebugUtilsMessengerEXT)
            vkGetInstanceProcAddr(a->instance, "vkDestroyDebugUtilsMessengerEXT");
        destroy(a->instance, a->messenger, NULL);
    }
    vkDestroyInstance(a->instance, NULL);
    if (validation_messages)
        printf("%d validation messages\n", validation_messages);
    return validation_messages;
}

VkShaderModule app_load_shader(const app *a, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint32_t *code = malloc((size_t)size);
    if (!code || fread(code, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    VkShaderModuleCreateInfo info = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                     .codeSize = (size_t)size,
                                     .pCode = code};
    VkShaderModule module;
    CHECK_VK(vkCreateShaderModule(a->device, &info, NULL, &module));
    free(code);
    return module;
}

VkCommandBuffer app_begin(const app *a)
{
    VkCommandBufferAllocateInfo alloc = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                         .commandPool = a->commands,
                                         .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                         .commandBufferCount = 1};
    VkCommandBuffer cb;
    CHECK_VK(vkAllocateCommandBuffers(a->device, &alloc, &cb));
    VkCommandBufferBeginInfo begin = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                      .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    CHECK_VK(vkBeginCommandBuffer(cb, &begin));
    return cb;
}

VkSemaphore app_timeline(const app *a)
{
    VkSemaphoreTypeCreateInfo type = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
                                      .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE};
    VkSemaphoreCreateInfo info = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO,
                                  .pNext = &type};
    VkSemaphore semaphore;
    CHECK_VK(vkCreateSemaphore(a->device, &info, NULL, &semaphore));
    return semaphore;
}

void app_timeline_destroy(const app *a, VkSemaphore semaphore)
{
    CHECK_VK(vkQueueWaitIdle(a->queue));
    vkDestroySemaphore(a->device, semaphore, NULL);
}

void app_submit(const app *a, VkCommandBuffer cb, VkSemaphore wait, uint64_t wait_value,
                VkPipelineStageFlags wait_stage, VkSemaphore signal, uint64_t signal_value)
{
    CHECK_VK(vkEndCommandBuffer(cb));
    int waits = wait != VK_NULL_HANDLE;
    VkTimelineSemaphoreSubmitInfo values = {
        .sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
        .waitSemaphoreValueCount = waits ? 1 : 0,
        .pWaitSemaphoreValues = waits ? &wait_value : NULL,
        .signalSemaphoreValueCount = 1,
        .pSignalSemaphoreValues = &signal_value};
    VkSubmitInfo submit = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                           .pNext = &values,
                           .waitSemaphoreCount = waits ? 1 : 0,
                           .pWaitSemaphores = waits ? &wait : NULL,
                           .pWaitDstStageMask = waits ? &wait_stage : NULL,
                           .commandBufferCount = 1,
                           .pCommandBuffers = &cb,
                           .signalSemaphoreCount = 1,
                           .pSignalSemaphores = &signal};
    /* gpumem submits to the same queue: one thread at a time (these programs have one). */
    CHECK_VK(vkQueueSubmit(a->queue, 1, &submit, VK_NULL_HANDLE));
}

/* The passes' arrays hold APP_MAX_BINDINGS bindings: more is a programming error. */
static void app_check_bindings(uint32_t count)
{
    if (count > APP_MAX_BINDINGS) {
        fprintf(stderr, "a pass takes at most %d bindings, not %u\n", APP_MAX_BINDINGS, count);
        exit(2);
    }
}

void app_pass_create(const app *a, const char *shader, const VkDescriptorType *types,
                     uint32_t count, uint32_t push_size, app_pass *p)
{
    VkDescriptorSetLayoutBinding bindings[APP_MAX_BINDINGS];
    VkDescriptorPoolSize sizes[APP_MAX_BINDINGS];
    app_check_bindings(count);
    for (uint32_t i = 0; i < count; i++) {
        bindings[i] = (VkDescriptorSetLayoutBinding){.binding = i,
                                                     .descriptorType = types[i],
                                                     .descriptorCount = 1,
                                                     .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
        sizes[i] = (VkDescriptorPoolSize){types[i], 1};
    }
    VkDescriptorSetLayoutCreateInfo set_info = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = count,
        .pBindings = bindings};
    CHECK_VK(vkCreateDescriptorSetLayout(a->device, &set_info, NULL, &p->set_layout));
    VkPushConstantRange push = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = push_size};
    VkPipelineLayoutCreateInfo layout_info = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &p->set_layout,
        .pushConstantRangeCount = push_size ? 1 : 0,
        .pPushConstantRanges = push_size ? &push : NULL};
    CHECK_VK(vkCreatePipelineLayout(a->device, &layout_info, NULL, &p->layout));
    VkShaderModule module = app_load_shader(a, shader);
    VkComputePipelineCreateInfo pipeline_info = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = module,
                  .pName = "main"},
        .layout = p->layout};
    CHECK_VK(vkCreateComputePipelines(a->device, VK_NULL_HANDLE, 1, &pipeline_info, NULL,
                                      &p->pipeline));
    vkDestroyShaderModule(a->device, module, NULL);
    VkDescriptorPoolCreateInfo pool_info = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                            .maxSets = 1,
                                            .poolSizeCount = count,
                                            .pPoolSizes = sizes};
    CHECK_VK(vkCreateDescriptorPool(a->device, &pool_info, NULL, &p->descriptors));
    VkDescriptorSetAllocateInfo alloc = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                         .descriptorPool = p->descriptors,
                                         .descriptorSetCount = 1,
                                         .pSetLayouts = &p->set_layout};
    CHECK_VK(vkAllocateDescriptorSets(a->device, &alloc, &p->set));
}

void app_pass_bind_buffers(const app *a, app_pass *p, uint32_t first, const gpumem_buffer *buffers,
                           uint32_t count)
{
    VkDescriptorBufferInfo infos[APP_MAX_BINDINGS];
    VkWriteDescriptorSet writes[APP_MAX_BINDINGS];
    app_check_bindings(count);
    for (uint32_t i = 0; i < count; i++) {
        gpumem_native_buffer native;
        CHECK(gpumem_buffer_native(buffers[i], &native));
        infos[i] = (VkDescriptorBufferInfo){.buffer = (VkBuffer)(uintptr_t)native.buffer,
                                            .range = VK_WHOLE_SIZE};
        writes[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                           .dstSet = p->set,
                                           .dstBinding = first + i,
                                           .descriptorCount = 1,
                                           .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                           .pBufferInfo = &infos[i]};
    }
    vkUpdateDescriptorSets(a->device, count, writes, 0, NULL);
}

void app_pass_record(const app_pass *p, VkCommandBuffer cb)
{
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &p->set, 0,
                            NULL);
}

void app_pass_destroy(const app *a, app_pass *p)
{
    vkDestroyDescriptorPool(a->device, p->descriptors, NULL);
    vkDestroyPipeline(a->device, p->pipeline, NULL);
    vkDestroyPipelineLayout(a->device, p->layout, NULL);
    vkDestroyDescriptorSetLayout(a->device, p->set_layout, NULL);
}
