/* Streams and events. A stream records its transfers into a command buffer and submits it to
 * the device's queue, signalling the stream's timeline semaphore with the next value; an event
 * is a (timeline, value) pair, so waiting for it is one vkWaitSemaphores.
 *
 * Ordering: Vulkan runs commands in submission order but does not order their memory accesses,
 * so every transfer is preceded by a transfer-to-transfer barrier (which also covers earlier
 * submissions on the queue), and every submission ends with a transfer-to-host barrier, so the
 * host sees the results once the timeline reaches the value.
 *
 * Batching: small transfers share a command buffer, submitted when a stream is synchronized,
 * an event is recorded, or the batch is large enough to be worth starting at once.
 *
 * Each command buffer has a command pool of its own, reset whole before the buffer is recorded
 * again (the validation layer's best practices advise against resetting single buffers).
 *
 * Waits (stream_wait_event): the (timeline, value) pairs the stream's next submission waits
 * for, before any of its commands: a semaphore wait only holds up the batch it is part of. */
#include <stdlib.h>
#include <string.h>

#include "vulkan_backend.h"

#define IN_FLIGHT_MAX 16         /* submitted command buffers a stream keeps in flight */
#define BATCH_COMMANDS 64        /* transfers per command buffer before it is submitted */
#define BATCH_BYTES (1ull << 20) /* bytes per command buffer before it is submitted */
#define WAITS_MAX 16             /* waits held for the next submission */

typedef struct vulkan_commands {
    VkCommandPool pool;  /* of this one command buffer */
    VkCommandBuffer buffer;
} vulkan_commands;

typedef struct vulkan_batch {
    vulkan_commands commands;
    uint64_t value; /* the timeline reaches it when the commands are done */
} vulkan_batch;

struct gpumem_backend_stream {
    vulkan_timeline *timeline;
    vulkan_commands open; /* recording, not yet submitted; open.buffer VK_NULL_HANDLE when none */
    uint32_t open_commands;
    uint64_t open_bytes;
    vulkan_batch in_flight[IN_FLIGHT_MAX]; /* a ring, oldest at head */
    uint32_t head;
    uint32_t count;
    vulkan_commands spare[IN_FLIGHT_MAX + 1]; /* done, their pools not reset yet */
    uint32_t spare_count;
    VkSemaphore wait_semaphores[WAITS_MAX]; /* for the next submission */
    uint64_t wait_values[WAITS_MAX];
    uint32_t wait_count;
    /* A submission that failed dropped transfers whose calls had answered OK: the next
     * synchronize or event record says so (and then forgets it), so that no wait for the
     * stream's work passes over work that never ran. lost_vk is VK_SUCCESS when none. */
    VkResult lost_vk;
    uint32_t lost_transfers;
};

struct gpumem_backend_event {
    vulkan_timeline *timeline; /* NULL until recorded */
    uint64_t value;
    vulkan_timeline application; /* a wrapped event's semaphore (gpumem_event_wrap) */
};

/* --- timelines --- */

static gpumem_result timeline_new(gpumem_backend_device *d, vulkan_timeline **out)
{
    pthread_mutex_lock(&d->timeline_lock);
    vulkan_timeline *t = d->spare_timelines;
    if (t)
        d->spare_timelines = t->next;
    pthread_mutex_unlock(&d->timeline_lock);
    if (t) { /* its value carries on, so events recorded on it earlier stay complete */
        *out = t;
        return GPUMEM_OK;
    }
    if (!(t = calloc(1, sizeof *t)))
        return vulkan_report(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "vulkan: no memory");
    VkSemaphoreTypeCreateInfo type = {
        .sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
        .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE,
    };
    VkSemaphoreCreateInfo info = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, .pNext = &type};
    VkResult r = d->vk.vkCreateSemaphore(d->device, &info, NULL, &t->semaphore);
    if (r != VK_SUCCESS) {
        free(t);
        return vulkan_error(r, "vkCreateSemaphore", "(timeline)");
    }
    *out = t;
    return GPUMEM_OK;
}

/* A stream's timeline is kept until the device closes: events may still name it. */
static void timeline_retire(gpumem_backend_device *d, vulkan_timeline *t)
{
    pthread_mutex_lock(&d->timeline_lock);
    t->next = d->spare_timelines;
    d->spare_timelines = t;
    pthread_mutex_unlock(&d->timeline_lock);
}

void vulkan_timelines_release(gpumem_backend_device *d)
{
    while (d->spare_timelines) {
        vulkan_timeline *t = d->spare_timelines;
        d->spare_timelines = t->next;
        d->vk.vkDestroySemaphore(d->device, t->semaphore, NULL);
        free(t);
    }
}

static gpumem_result timeline_wait(gpumem_backend_device *d, const vulkan_timeline *t,
                                   uint64_t value)
{
    VkSemaphoreWaitInfo info = {
        .sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
        .semaphoreCount = 1,
        .pSemaphores = &t->semaphore,
        .pValues = &value,
    };
    VkResult r = d->vk.vkWaitSemaphores(d->device, &info, UINT64_MAX);
    return r == VK_SUCCESS
               ? GPUMEM_OK
               : vulkan_error(r, "vkWaitSemaphores", "for value %llu", (unsigned long long)value);
}

/* --- command buffers --- */

/* Moves finished command buffers to the spares; with wait, first waits for the oldest. */
static gpumem_result reclaim(gpumem_backend_device *d, gpumem_backend_stream *s, int wait)
{
    if (s->count == 0)
        return GPUMEM_OK;
    gpumem_result r = wait ? timeline_wait(d, s->timeline, s->in_flight[s->head].value) : GPUMEM_OK;
    if (r != GPUMEM_OK)
        return r;
    uint64_t done = 0;
    VkResult vr = d->vk.vkGetSemaphoreCounterValue(d->device, s->timeline->semaphore, &done);
    if (vr != VK_SUCCESS)
        return vulkan_fail(vr, "vkGetSemaphoreCounterValue");
    while (s->count && s->in_flight[s->head].value <= done) {
        s->spare[s->spare_count++] = s->in_flight[s->head].commands;
        s->head = (s->head + 1) % IN_FLIGHT_MAX;
        s->count--;
    }
    return GPUMEM_OK;
}

static void commands_destroy(gpumem_backend_device *d, vulkan_commands *c)
{
    d->vk.vkDestroyCommandPool(d->device, c->pool, NULL); /* frees its command buffer */
    c->pool = VK_NULL_HANDLE;
    c->buffer = VK_NULL_HANDLE;
}

/* A new command pool with one command buffer. */
static gpumem_result commands_create(gpumem_backend_device *d, vulkan_commands *out)
{
    VkCommandPoolCreateInfo pool_info = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
        .queueFamilyIndex = d->queue_family,
    };
    VkResult r = d->vk.vkCreateCommandPool(d->device, &pool_info, NULL, &out->pool);
    if (r != VK_SUCCESS)
        return vulkan_fail(r, "vkCreateCommandPool");
    VkCommandBufferAllocateInfo info = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = out->pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    if ((r = d->vk.vkAllocateCommandBuffers(d->device, &info, &out->buffer)) != VK_SUCCESS) {
        commands_destroy(d, out);
        return vulkan_fail(r, "vkAllocateCommandBuffers");
    }
    return GPUMEM_OK;
}

/* A command buffer to record into, in the initial state; leaves room in the ring for it once
 * submitted. */
static gpumem_result acquire(gpumem_backend_device *d, gpumem_backend_stream *s,
                             vulkan_commands *out)
{
    if (s->spare_count == 0 || s->count == IN_FLIGHT_MAX) {
        gpumem_result r = reclaim(d, s, s->count == IN_FLIGHT_MAX);
        if (r != GPUMEM_OK)
            return r;
    }
    if (!s->spare_count)
        return commands_create(d, out);
    vulkan_commands c = s->spare[--s->spare_count];
    VkResult r = d->vk.vkResetCommandPool(d->device, c.pool, 0);
    if (r != VK_SUCCESS) {
        commands_destroy(d, &c);
        return vulkan_fail(r, "vkResetCommandPool");
    }
    *out = c;
    return GPUMEM_OK;
}

static void barrier(gpumem_backend_device *d, VkCommandBuffer cb, VkPipelineStageFlags dst_stage,
                    VkAccessFlags dst_access)
{
    VkMemoryBarrier b = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = dst_access,
    };
    d->vk.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, dst_stage, 0, 1, &b, 0, NULL, 0,
                               NULL);
}

static gpumem_result begin(gpumem_backend_device *d, gpumem_backend_stream *s)
{
    vulkan_commands c;
    gpumem_result r = acquire(d, s, &c);
    if (r != GPUMEM_OK)
        return r;
    VkCommandBufferBeginInfo info = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    VkResult vr = d->vk.vkBeginCommandBuffer(c.buffer, &info);
    if (vr != VK_SUCCESS) {
        s->spare[s->spare_count++] = c;
        return vulkan_fail(vr, "vkBeginCommandBuffer");
    }
    s->open = c;
    s->open_commands = 0;
    s->open_bytes = 0;
    return GPUMEM_OK;
}

/* Submits the command buffer, waiting first for the stream's held waits, and signalling the
 * stream's timeline with `value`. */
static VkResult queue_submit(gpumem_backend_device *d, const gpumem_backend_stream *s,
                             VkCommandBuffer cb, uint64_t value)
{
    /* gpumem's commands are transfers: the waits hold up the transfer stage. */
    VkPipelineStageFlags stages[WAITS_MAX];
    for (uint32_t i = 0; i < s->wait_count; i++)
        stages[i] = VK_PIPELINE_STAGE_TRANSFER_BIT;
    int waits = s->wait_count > 0;
    VkTimelineSemaphoreSubmitInfo timeline = {
        .sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
        .waitSemaphoreValueCount = s->wait_count,
        .pWaitSemaphoreValues = waits ? s->wait_values : NULL,
        .signalSemaphoreValueCount = 1,
        .pSignalSemaphoreValues = &value,
    };
    VkSubmitInfo info = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .pNext = &timeline,
        .waitSemaphoreCount = s->wait_count,
        .pWaitSemaphores = waits ? s->wait_semaphores : NULL,
        .pWaitDstStageMask = waits ? stages : NULL,
        .commandBufferCount = 1,
        .pCommandBuffers = &cb,
        .signalSemaphoreCount = 1,
        .pSignalSemaphores = &s->timeline->semaphore,
    };
    pthread_mutex_lock(d->queue_lock);
    VkResult r = d->vk.vkQueueSubmit(d->queue, 1, &info, VK_NULL_HANDLE);
    pthread_mutex_unlock(d->queue_lock);
    return r;
}

/* Ends and submits the open command buffer, if any. */
static gpumem_result submit(gpumem_backend_device *d, gpumem_backend_stream *s)
{
    vulkan_commands c = s->open;
    if (!c.buffer)
        return GPUMEM_OK;
    s->open = (vulkan_commands){VK_NULL_HANDLE, VK_NULL_HANDLE};
    barrier(d, c.buffer, VK_PIPELINE_STAGE_HOST_BIT,
            VK_ACCESS_HOST_READ_BIT | VK_ACCESS_HOST_WRITE_BIT);
    VkResult r = d->vk.vkEndCommandBuffer(c.buffer);
    const char *call = "vkEndCommandBuffer";
    uint64_t value = s->timeline->value + 1;
    if (r == VK_SUCCESS) {
        r = queue_submit(d, s, c.buffer, value);
        call = "vkQueueSubmit";
    }
    if (r != VK_SUCCESS) {
        s->spare[s->spare_count++] = c;
        gpumem_result failed = vulkan_error(r, call, "(%u transfers)", s->open_commands);
        if (s->lost_vk == VK_SUCCESS) /* the first loss is the one to tell */
            s->lost_vk = r;
        s->lost_transfers += s->open_commands;
        return failed;
    }
    s->wait_count = 0;
    s->timeline->value = value;
    s->in_flight[(s->head + s->count) % IN_FLIGHT_MAX] = (vulkan_batch){c, value};
    s->count++;
    return GPUMEM_OK;
}

gpumem_result vulkan_stream_record(gpumem_backend_device *d, gpumem_backend_stream *s,
                                   VkCommandBuffer *command_buffer)
{
    if (!s->open.buffer) {
        gpumem_result r = begin(d, s);
        if (r != GPUMEM_OK)
            return r;
    }
    barrier(d, s->open.buffer, VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
    *command_buffer = s->open.buffer;
    return GPUMEM_OK;
}

gpumem_result vulkan_stream_recorded(gpumem_backend_device *d, gpumem_backend_stream *s,
                                     uint64_t bytes)
{
    s->open_commands++;
    s->open_bytes += bytes;
    if (s->open_commands >= BATCH_COMMANDS || s->open_bytes >= BATCH_BYTES)
        return submit(d, s);
    return GPUMEM_OK;
}

/* --- streams --- */

gpumem_result vulkan_stream_create(gpumem_backend_device *d, gpumem_backend_stream **out)
{
    gpumem_backend_stream *s = calloc(1, sizeof *s);
    if (!s)
        return vulkan_report(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "vulkan: no memory for a stream");
    gpumem_result r = timeline_new(d, &s->timeline);
    if (r != GPUMEM_OK) {
        free(s);
        return r;
    }
    *out = s;
    return GPUMEM_OK;
}

void vulkan_stream_destroy(gpumem_backend_device *d, gpumem_backend_stream *s)
{
    /* Core synchronized the stream, but a failed synchronize may have left work behind. */
    if (s->open.buffer || s->count)
        vulkan_stream_synchronize(d, s);
    if (s->count) { /* it failed again: whatever still runs must end before its pools go */
        pthread_mutex_lock(d->queue_lock); /* the queue's host access, as Vulkan asks */
        d->vk.vkQueueWaitIdle(d->queue);
        pthread_mutex_unlock(d->queue_lock);
    }
    if (s->open.buffer)
        commands_destroy(d, &s->open);
    for (; s->count; s->count--, s->head = (s->head + 1) % IN_FLIGHT_MAX)
        commands_destroy(d, &s->in_flight[s->head].commands);
    while (s->spare_count)
        commands_destroy(d, &s->spare[--s->spare_count]);
    timeline_retire(d, s->timeline);
    free(s);
}

/* The loss a failed submission left (and forgets it), or GPUMEM_OK. */
static gpumem_result lost_work(gpumem_backend_stream *s)
{
    if (s->lost_vk == VK_SUCCESS)
        return GPUMEM_OK;
    gpumem_result r = vulkan_report(vulkan_result_code(s->lost_vk), "vulkan: %u transfers of this stream never ran: their submission "
                         "failed (%s); the calls that queued them had answered GPUMEM_OK",
                      s->lost_transfers, vulkan_result_name(s->lost_vk));
    s->lost_vk = VK_SUCCESS;
    s->lost_transfers = 0;
    return r;
}

gpumem_result vulkan_stream_synchronize(gpumem_backend_device *d, gpumem_backend_stream *s)
{
    submit(d, s); /* a failure is kept as a loss, told below */
    /* Whatever was submitted is waited for even when a submission failed: a failed synchronize
     * must leave nothing running (backend.h). Waits no submission took yet are part of the
     * stream's order too: core runs some of a stream's operations on the host (through
     * mappings) once the stream is synchronized. */
    gpumem_result r = GPUMEM_OK;
    for (; r == GPUMEM_OK && s->wait_count; s->wait_count--) {
        vulkan_timeline held = {.semaphore = s->wait_semaphores[s->wait_count - 1]};
        r = timeline_wait(d, &held, s->wait_values[s->wait_count - 1]);
    }
    if (r == GPUMEM_OK && s->count)
        r = timeline_wait(d, s->timeline, s->timeline->value);
    if (r == GPUMEM_OK)
        r = reclaim(d, s, 0);
    gpumem_result lost = lost_work(s);
    return lost != GPUMEM_OK ? lost : r;
}

gpumem_result vulkan_stream_native(gpumem_backend_device *d, gpumem_backend_stream *s,
                                   uint64_t *native)
{
    *native = (uint64_t)(uintptr_t)d->queue;
    return GPUMEM_OK;
}

/* --- events --- */

gpumem_result vulkan_event_create(gpumem_backend_device *d, gpumem_backend_event **out)
{
    gpumem_backend_event *e = calloc(1, sizeof *e);
    if (!e)
        return vulkan_report(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "vulkan: no memory for an event");
    *out = e;
    return GPUMEM_OK;
}

void vulkan_event_destroy(gpumem_backend_device *d, gpumem_backend_event *e)
{
    free(e);
}

gpumem_result vulkan_event_record(gpumem_backend_device *d, gpumem_backend_stream *s,
                                  gpumem_backend_event *e)
{
    /* Waits the stream holds for its next submission are work submitted before the record
     * (backend.h): with no commands open, an empty submission carries them, and the event's
     * value is the one it signals. */
    gpumem_result r = s->wait_count && !s->open.buffer ? begin(d, s) : GPUMEM_OK;
    if (r == GPUMEM_OK)
        r = submit(d, s);
    if (r == GPUMEM_OK)
        r = lost_work(s); /* an event after lost work would say it was done */
    if (r != GPUMEM_OK)
        return r;
    e->timeline = s->timeline;
    e->value = s->timeline->value;
    return GPUMEM_OK;
}

gpumem_result vulkan_event_synchronize(gpumem_backend_device *d, gpumem_backend_event *e)
{
    if (!e->timeline || e->value == 0)
        return GPUMEM_OK;
    return timeline_wait(d, e->timeline, e->value);
}

/* The timeline semaphore of the stream the event was recorded on, and the value that completes
 * it (the application waits for it with VkSemaphoreWaitInfo or a submit's wait). */
gpumem_result vulkan_event_native(gpumem_backend_device *d, gpumem_backend_event *e,
                                  uint64_t *handle, uint64_t *value)
{
    *handle = e->timeline ? (uint64_t)e->timeline->semaphore : 0;
    *value = e->timeline ? e->value : 0;
    return GPUMEM_OK;
}

/* The stream's next submission waits for the event's timeline value (work already submitted is
 * not held up: it was queued before the wait). With WAITS_MAX waits held already, the host
 * waits for the oldest instead, which orders no less. */
gpumem_result vulkan_stream_wait_event(gpumem_backend_device *d, gpumem_backend_stream *s,
                                       gpumem_backend_event *e)
{
    if (!e->timeline || e->value == 0)
        return GPUMEM_OK; /* never recorded: complete */
    if (e->timeline == s->timeline)
        return GPUMEM_OK; /* the stream's own earlier point: its order has it */
    for (uint32_t i = 0; i < s->wait_count; i++)
        if (s->wait_semaphores[i] == e->timeline->semaphore) {
            if (s->wait_values[i] < e->value)
                s->wait_values[i] = e->value;
            return GPUMEM_OK;
        }
    if (s->wait_count == WAITS_MAX) {
        vulkan_timeline oldest = {.semaphore = s->wait_semaphores[0]};
        gpumem_result r = timeline_wait(d, &oldest, s->wait_values[0]);
        if (r != GPUMEM_OK)
            return r;
        s->wait_count--;
        memmove(s->wait_semaphores, s->wait_semaphores + 1,
                s->wait_count * sizeof s->wait_semaphores[0]);
        memmove(s->wait_values, s->wait_values + 1, s->wait_count * sizeof s->wait_values[0]);
    }
    s->wait_semaphores[s->wait_count] = e->timeline->semaphore;
    s->wait_values[s->wait_count++] = e->value;
    return GPUMEM_OK;
}

/* The application's timeline semaphore and the value that completes the event (0: complete from
 * the start, as gpumem_event_native says of an event before its first submitted work). */
gpumem_result vulkan_event_wrap(gpumem_backend_device *d, uint64_t handle, uint64_t value,
                                gpumem_backend_event **out)
{
    gpumem_backend_event *e = calloc(1, sizeof *e);
    if (!e)
        return vulkan_report(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "vulkan: no memory for an event");
    e->application.semaphore = (VkSemaphore)(uintptr_t)handle;
    e->timeline = &e->application;
    e->value = value;
    *out = e;
    return GPUMEM_OK;
}

void vulkan_event_unwrap(gpumem_backend_device *d, gpumem_backend_event *e)
{
    free(e); /* the semaphore stays the application's */
}
