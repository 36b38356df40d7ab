/* Vector add on the application's own Vulkan device, with gpumem's buffers, uploads and
 * readback, and no host wait between them:
 *
 *   1. the application creates its VkInstance and VkDevice (timeline semaphores enabled) and
 *      opens gpumem on them ("bring your own device");
 *   2. gpumem uploads a and b on a stream; an event gives the stream's timeline semaphore and
 *      value, which the application's compute dispatch waits for on the GPU;
 *   3. the dispatch signals the application's own timeline semaphore, which gpumem wraps as an
 *      event: gpumem's stream waits for it on the GPU before it reads c back.
 *
 * The validation layer (with synchronization validation) runs when it is installed; any
 * message it reports makes the program fail. Usage: gpumem-vector-add SHADER.spv [N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vulkan/vulkan.h>

#include "gpumem/gpumem.h"

#define CHECK_VK(call)                                                              \
    do {                                                                            \
        VkResult check_r_ = (call);                                                 \
        if (check_r_ != VK_SUCCESS) {                                               \
            fprintf(stderr, "%s:%d: %s -> VkResult %d\n", __FILE__, __LINE__, #call, \
                    (int)check_r_);                                                 \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

#define CHECK(call)                                                                        \
    do {                                                                                   \
        gpumem_result check_r_ = (call);                                                   \
        if (check_r_ != GPUMEM_OK) {                                                       \
            fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #call,           \
                    gpumem_result_string(check_r_), gpumem_last_error());                  \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

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

/* --- the application's own Vulkan objects --- */

typedef struct app {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice physical_device;
    VkDevice device;
    uint32_t family;
    VkQueue queue;
} app;

static void app_create(app *a)
{
    int validation = has_validation_layer();
    VkDebugUtilsMessengerCreateInfoEXT messenger = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
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
                              .pApplicationName = "gpumem-vector-add",
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
}

static VkShaderModule load_shader(VkDevice device, const char *path)
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
    CHECK_VK(vkCreateShaderModule(device, &info, NULL, &module));
    free(code);
    return module;
}

/* The compute pipeline of add.comp: three storage buffers and a push constant. */
typedef struct adder {
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipeline;
    VkDescriptorPool descriptors;
    VkDescriptorSet set;
} adder;

static void adder_create(app *a, const char *shader, adder *p)
{
    VkDescriptorSetLayoutBinding bindings[3];
    for (uint32_t i = 0; i < 3; i++)
        bindings[i] = (VkDescriptorSetLayoutBinding){
            .binding = i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo set_info = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = 3,
        .pBindings = bindings};
    CHECK_VK(vkCreateDescriptorSetLayout(a->device, &set_info, NULL, &p->set_layout));
    VkPushConstantRange push = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = 4};
    VkPipelineLayoutCreateInfo layout_info = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &p->set_layout,
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &push};
    CHECK_VK(vkCreatePipelineLayout(a->device, &layout_info, NULL, &p->layout));
    VkShaderModule module = load_shader(a->device, shader);
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
    VkDescriptorPoolSize size = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = 3};
    VkDescriptorPoolCreateInfo pool_info = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                            .maxSets = 1,
                                            .poolSizeCount = 1,
                                            .pPoolSizes = &size};
    CHECK_VK(vkCreateDescriptorPool(a->device, &pool_info, NULL, &p->descriptors));
    VkDescriptorSetAllocateInfo alloc = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                         .descriptorPool = p->descriptors,
                                         .descriptorSetCount = 1,
                                         .pSetLayouts = &p->set_layout};
    CHECK_VK(vkAllocateDescriptorSets(a->device, &alloc, &p->set));
}

static void adder_destroy(app *a, adder *p)
{
    vkDestroyDescriptorPool(a->device, p->descriptors, NULL);
    vkDestroyPipeline(a->device, p->pipeline, NULL);
    vkDestroyPipelineLayout(a->device, p->layout, NULL);
    vkDestroyDescriptorSetLayout(a->device, p->set_layout, NULL);
}

/* gpumem's buffers in the descriptor set: the VkBuffer each buffer has for the application. */
static void bind_buffers(app *a, adder *p, gpumem_buffer buffers[3])
{
    VkDescriptorBufferInfo infos[3];
    VkWriteDescriptorSet writes[3];
    for (int i = 0; i < 3; i++) {
        gpumem_native_buffer native;
        CHECK(gpumem_buffer_native(buffers[i], &native));
        infos[i] = (VkDescriptorBufferInfo){.buffer = (VkBuffer)(uintptr_t)native.buffer,
                                            .range = VK_WHOLE_SIZE};
        writes[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                           .dstSet = p->set,
                                           .dstBinding = (uint32_t)i,
                                           .descriptorCount = 1,
                                           .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                           .pBufferInfo = &infos[i]};
    }
    vkUpdateDescriptorSets(a->device, 3, writes, 0, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: gpumem-vector-add SHADER.spv [N]\n");
        return 2;
    }
    uint32_t n = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1u << 20;
    app a = {0};
    app_create(&a);

    /* gpumem on the application's device: it owns nothing of it. */
    gpumem_external_device external = {
        .instance = (uint64_t)(uintptr_t)a.instance,
        .physical_device = (uint64_t)(uintptr_t)a.physical_device,
        .device = (uint64_t)(uintptr_t)a.device,
        .queue_family = a.family,
        .get_instance_proc_addr = (void *)vkGetInstanceProcAddr,
        .vulkan_features = GPUMEM_VULKAN_FEATURE_TIMELINE_SEMAPHORE,
    };
    gpumem_device device;
    CHECK(gpumem_device_open(&(gpumem_device_desc){.backend = "vulkan", .external = &external},
                             &device));
    gpumem_pool pool;
    CHECK(gpumem_pool_create(device,
                             &(gpumem_pool_desc){.preferred_flags = GPUMEM_MEMORY_DEVICE_LOCAL,
                                                 .name = "vectors"},
                             &pool));
    gpumem_buffer buffers[3];
    for (int i = 0; i < 3; i++)
        CHECK(gpumem_buffer_create(pool,
                                   &(gpumem_buffer_desc){.size = n * sizeof(float),
                                                         .usage = GPUMEM_BUFFER_USAGE_STORAGE},
                                   &buffers[i]));
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *sum = malloc(n * sizeof *sum);
    for (uint32_t i = 0; i < n; i++) {
        x[i] = (float)i;
        y[i] = 0.5f * (float)(n - i);
    }

    /* 1. gpumem uploads on a stream; the event's timeline value is what the dispatch waits for. */
    gpumem_stream stream;
    gpumem_event uploaded;
    CHECK(gpumem_stream_create(device, &stream));
    CHECK(gpumem_event_create(device, &uploaded));
    CHECK(gpumem_stream_write(stream, buffers[0], 0, x, n * sizeof(float)));
    CHECK(gpumem_stream_write(stream, buffers[1], 0, y, n * sizeof(float)));
    CHECK(gpumem_event_record(uploaded, stream));
    gpumem_native_event upload_done;
    CHECK(gpumem_event_native(uploaded, &upload_done));

    /* 2. The application's dispatch waits for the upload and signals its own timeline. */
    adder p;
    adder_create(&a, argv[1], &p);
    bind_buffers(&a, &p, buffers);
    VkSemaphoreTypeCreateInfo type = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
                                      .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE};
    VkSemaphoreCreateInfo semaphore_info = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO,
                                            .pNext = &type};
    VkSemaphore computed;
    CHECK_VK(vkCreateSemaphore(a.device, &semaphore_info, NULL, &computed));
    VkCommandPool commands;
    CHECK_VK(vkCreateCommandPool(
        a.device,
        &(VkCommandPoolCreateInfo){.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .queueFamilyIndex = a.family},
        NULL, &commands));
    VkCommandBuffer cb;
    CHECK_VK(vkAllocateCommandBuffers(
        a.device,
        &(VkCommandBufferAllocateInfo){.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = commands,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1},
        &cb));
    CHECK_VK(vkBeginCommandBuffer(
        cb, &(VkCommandBufferBeginInfo){.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT}));
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p.pipeline);
    vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p.layout, 0, 1, &p.set, 0, NULL);
    vkCmdPushConstants(cb, p.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, 4, &n);
    vkCmdDispatch(cb, (n + 63) / 64, 1, 1);
    CHECK_VK(vkEndCommandBuffer(cb));
    VkSemaphore upload_semaphore = (VkSemaphore)(uintptr_t)upload_done.handle;
    uint64_t signal_value = 1;
    VkPipelineStageFlags wait_stage = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
    VkTimelineSemaphoreSubmitInfo values = {
        .sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
        .waitSemaphoreValueCount = upload_done.value ? 1 : 0,
        .pWaitSemaphoreValues = upload_done.value ? &upload_done.value : NULL,
        .signalSemaphoreValueCount = 1,
        .pSignalSemaphoreValues = &signal_value};
    VkSubmitInfo submit = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                           .pNext = &values,
                           .waitSemaphoreCount = upload_done.value ? 1 : 0,
                           .pWaitSemaphores = upload_done.value ? &upload_semaphore : NULL,
                           .pWaitDstStageMask = upload_done.value ? &wait_stage : NULL,
                           .commandBufferCount = 1,
                           .pCommandBuffers = &cb,
                           .signalSemaphoreCount = 1,
                           .pSignalSemaphores = &computed};
    /* gpumem submits to the same queue: one thread at a time (this program has one). */
    CHECK_VK(vkQueueSubmit(a.queue, 1, &submit, VK_NULL_HANDLE));

    /* 3. gpumem's stream waits for the dispatch on the GPU, then reads the sum back. */
    gpumem_event dispatch_done;
    CHECK(gpumem_event_wrap(device, (uint64_t)(uintptr_t)computed, signal_value,
                            &dispatch_done));
    CHECK(gpumem_stream_wait_event(stream, dispatch_done));
    CHECK(gpumem_stream_read(stream, buffers[2], 0, sum, n * sizeof(float)));
    CHECK(gpumem_stream_synchronize(stream));

    uint32_t wrong = 0;
    for (uint32_t i = 0; i < n; i++)
        wrong += sum[i] != x[i] + y[i];
    printf("vector add of %u floats on the application's own VkDevice: %s\n", n,
           wrong ? "WRONG" : "OK");
    if (wrong)
        printf("%u of %u sums are wrong (sum[0] = %g, expected %g)\n", wrong, n, sum[0],
               x[0] + y[0]);

    CHECK(gpumem_event_destroy(dispatch_done));
    CHECK(gpumem_event_destroy(uploaded));
    CHECK(gpumem_device_close(device)); /* gpumem's objects; the device stays the app's */
    vkDestroyCommandPool(a.device, commands, NULL);
    vkDestroySemaphore(a.device, computed, NULL);
    adder_destroy(&a, &p);
    vkDestroyDevice(a.device, NULL);
    if (a.messenger) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy = (PFN_vkDestroyDebugUtilsMessengerEXT)
            vkGetInstanceProcAddr(a.instance, "vkDestroyDebugUtilsMessengerEXT");
        destroy(a.instance, a.messenger, NULL);
    }
    vkDestroyInstance(a.instance, NULL);
    free(x);
    free(y);
    free(sum);
    if (validation_messages)
        printf("%d validation messages\n", validation_messages);
    return wrong || validation_messages ? 1 : 0;
}
