/* What the Vulkan examples share: their own VkInstance and VkDevice (with the validation layer
 * and its synchronization validation when installed: any message fails the program), checks
 * that stop the program on a failed call, gpumem opened on the application's device, shaders
 * read from files, one-time command buffers and timeline semaphores. */
#ifndef GPUMEM_EXAMPLES_VK_APP_H
#define GPUMEM_EXAMPLES_VK_APP_H

#include <stdio.h>
#include <stdlib.h>

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

typedef struct app {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice physical_device;
    VkDevice device;
    uint32_t family;
    VkQueue queue;
    VkCommandPool commands;
} app;

/* The application's instance and device (timeline semaphores enabled: gpumem's streams need
 * them), a queue of a compute family and a command pool. Exits 77 (skip) without a device. */
void app_create(app *a, const char *name);
/* gpumem on the application's device: gpumem owns nothing of it. */
gpumem_device app_open_gpumem(const app *a);
/* Destroys what app_create made; the validation messages seen so far, counted. */
int app_destroy(app *a);
/* The program's verdict, once the data was checked (`wrong` results) and the validation
 * messages counted (app_destroy): prints "PROGRAM: OK", or what failed; returns the exit
 * status (0 or 1). */
int app_verdict(const char *program, unsigned long wrong, int messages);

VkShaderModule app_load_shader(const app *a, const char *path);
/* A primary command buffer of the app's pool, begun for one submission. */
VkCommandBuffer app_begin(const app *a);
VkSemaphore app_timeline(const app *a);
/* Destroys a timeline semaphore that gpumem waited for, once the queue is idle: Mesa 22.3's
 * lavapipe lets go of a waited point on its submit thread after the waiting submission
 * completed, so a semaphore destroyed right after gpumem's stream synchronized could still be
 * in use there. */
void app_timeline_destroy(const app *a, VkSemaphore semaphore);
/* Ends cb and submits it: waiting for `wait` (a timeline semaphore, or VK_NULL_HANDLE) to
 * reach wait_value at wait_stage, and signalling `signal` with signal_value. */
void app_submit(const app *a, VkCommandBuffer cb, VkSemaphore wait, uint64_t wait_value,
                VkPipelineStageFlags wait_stage, VkSemaphore signal, uint64_t signal_value);

/* A compute pipeline with one descriptor set: binding i of types[i], and push constants of
 * push_size bytes (0: none). */
typedef struct app_pass {
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipeline;
    VkDescriptorPool descriptors;
    VkDescriptorSet set;
} app_pass;

/* The most bindings a pass takes; more ends the program. */
#define APP_MAX_BINDINGS 8

void app_pass_create(const app *a, const char *shader, const VkDescriptorType *types,
                     uint32_t count, uint32_t push_size, app_pass *p);
/* gpumem buffers at bindings first, first + 1, ...: the VkBuffer each has for the
 * application. */
void app_pass_bind_buffers(const app *a, app_pass *p, uint32_t first, const gpumem_buffer *buffers,
                           uint32_t count);
/* Records the pass's pipeline and set into cb. */
void app_pass_record(const app_pass *p, VkCommandBuffer cb);
void app_pass_destroy(const app *a, app_pass *p);

#endif
