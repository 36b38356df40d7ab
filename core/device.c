#include "device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "align.h"
#include "alloc.h"
#include "backend_table.h"
#include "call.h"
#include "close_dump.h"
#include "env.h"
#include "event.h"
#include "handles.h"
#include "log.h"
#include "pool.h"
#include "registration.h"
#include "registration_cache.h"
#include "registry.h"
#include "stream.h"

gpumem_result gpumem_device_get(gpumem_device handle, gpumem_device_obj **device)
{
    return gpumem_handle_get(GPUMEM_HANDLE_OF(handle), GPUMEM_HANDLE_DEVICE, (void **)device);
}

void gpumem_device_wait_streams(gpumem_device_obj *device)
{
    pthread_mutex_lock(&device->lock);
    for (gpumem_list *l = device->streams.next; l != &device->streams; l = l->next)
        if (gpumem_stream_wait(GPUMEM_CONTAINER_OF(l, gpumem_stream_obj, link)) != GPUMEM_OK)
            gpumem_error_clear(); /* what waits goes on regardless; nothing to report it to */
    pthread_mutex_unlock(&device->lock);
}

int gpumem_device_take(gpumem_device_obj *device, uint64_t handle, gpumem_list *link)
{
    pthread_mutex_lock(&device->lock);
    int taken = gpumem_handle_destroy(handle);
    if (taken) {
        if (link)
            gpumem_list_remove(link);
        gpumem_device_hold(device);
    }
    pthread_mutex_unlock(&device->lock);
    return taken;
}

gpumem_result gpumem_device_allocation_take(gpumem_device_obj *device)
{
    uint64_t limit = device->properties.max_allocation_count;
    uint32_t held = atomic_fetch_add_explicit(&device->allocations, 1, memory_order_relaxed);
    if (!limit || held < limit)
        return GPUMEM_OK;
    gpumem_device_allocation_give(device);
    return gpumem_fail(GPUMEM_ERROR_LIMIT_EXCEEDED,
                       "the device allows %llu memory allocations (max_allocation_count), and "
                       "gpumem holds that many; larger pages, or fewer dedicated buffers, need "
                       "fewer",
                       (unsigned long long)limit);
}

void gpumem_device_release_hold(gpumem_device_obj *device)
{
    pthread_mutex_lock(&device->lock);
    if (--device->teardowns == 0)
        pthread_cond_broadcast(&device->teardown_done);
    pthread_mutex_unlock(&device->lock);
}

/* Core places buffers at multiples of min_alignment, and raises the backend's value where its
 * own promises need more: fills reach the backend at offsets that are multiples of 4, and no two
 * buffers share an atom of non-coherent memory (a flush or invalidate of one would overwrite the
 * other's bytes). Pages and their addresses follow the raised value (backend.h). */
static void raise_min_alignment(gpumem_device_properties *p)
{
    uint64_t alignment = p->min_alignment < 4 ? 4 : p->min_alignment;
    for (uint32_t i = 0; i < p->memory_type_count; i++) {
        uint32_t flags = p->memory_types[i].flags;
        if ((flags & GPUMEM_MEMORY_HOST_VISIBLE) && !(flags & GPUMEM_MEMORY_HOST_COHERENT) &&
            alignment < p->non_coherent_atom_size)
            alignment = p->non_coherent_atom_size;
    }
    p->min_alignment = alignment;
}

/* Pitched images (a backend without image operations): rows aligned as the backend says (at
 * least 4 bytes; min_alignment where it says nothing), levels as the backend says and at least
 * as buffers are; 0 where the backend's images are its own. Rows need no more than 4: every
 * transfer path takes any offset. */
static gpumem_result image_alignments(gpumem_device_properties *p, const char *backend,
                                      int pitched_images)
{
    if (!pitched_images) {
        p->image_pitch_alignment = p->image_base_alignment = 0;
        return GPUMEM_OK;
    }
    uint64_t *values[] = {&p->image_pitch_alignment, &p->image_base_alignment};
    for (int i = 0; i < 2; i++) {
        if (*values[i] && !gpumem_is_power_of_two(*values[i]))
            return gpumem_fail(GPUMEM_ERROR_BACKEND,
                               "backend '%s' reported an image %s alignment of %llu, not a "
                               "power of two",
                               backend, i ? "base" : "pitch", (unsigned long long)*values[i]);
        uint64_t least = i == 0 && *values[i] ? 4 : p->min_alignment;
        if (*values[i] < least)
            *values[i] = least;
    }
    return GPUMEM_OK;
}

/* A backend's answers are checked once, so core can rely on them everywhere else. */
static gpumem_result check_properties(gpumem_device_properties *p, const char *backend,
                                      int pitched_images)
{
    /* Text a backend left unterminated is cut, not read past; an unknown type is "other". */
    p->name[sizeof p->name - 1] = 0;
    p->driver_version[sizeof p->driver_version - 1] = 0;
    p->api_version[sizeof p->api_version - 1] = 0;
    p->pci_address[sizeof p->pci_address - 1] = 0;
    if (p->device_type > GPUMEM_DEVICE_TYPE_GPU)
        p->device_type = GPUMEM_DEVICE_TYPE_OTHER;
    if (p->memory_type_count == 0 || p->memory_type_count > GPUMEM_MAX_MEMORY_TYPES ||
        p->memory_heap_count == 0 || p->memory_heap_count > GPUMEM_MAX_MEMORY_HEAPS)
        return gpumem_fail(GPUMEM_ERROR_BACKEND, "backend '%s' reported %u memory types and %u heaps",
                           backend, p->memory_type_count, p->memory_heap_count);
    for (uint32_t i = 0; i < p->memory_type_count; i++)
        if (p->memory_types[i].heap_index >= p->memory_heap_count ||
            (p->memory_types[i].flags & ~GPUMEM_MEMORY_FLAGS_ALL))
            return gpumem_fail(GPUMEM_ERROR_BACKEND, "backend '%s' reported a bad memory type %u",
                               backend, i);
    if (!gpumem_is_power_of_two(p->min_alignment) || !gpumem_is_power_of_two(p->non_coherent_atom_size) ||
        !p->max_allocation_size)
        return gpumem_fail(GPUMEM_ERROR_BACKEND,
                           "backend '%s' reported bad limits (alignment %llu, atom %llu)", backend,
                           (unsigned long long)p->min_alignment,
                           (unsigned long long)p->non_coherent_atom_size);
    raise_min_alignment(p);
    if (p->max_allocation_size < p->min_alignment)
        return gpumem_fail(GPUMEM_ERROR_BACKEND,
                           "backend '%s' reported a largest allocation of %llu bytes, below the "
                           "alignment of %llu bytes its buffers need",
                           backend, (unsigned long long)p->max_allocation_size,
                           (unsigned long long)p->min_alignment);
    return image_alignments(p, backend, pitched_images);
}

static gpumem_result device_index(const gpumem_device_desc *desc, uint32_t count,
                                  const char *backend, uint32_t *index)
{
    int set = 0;
    *index = 0;
    if (desc && (desc->flags & GPUMEM_DEVICE_OPEN_INDEX)) {
        *index = desc->device_index;
    } else {
        gpumem_result r = gpumem_env_device(&set, index);
        if (r != GPUMEM_OK)
            return r;
    }
    if (*index >= count)
        return gpumem_fail(GPUMEM_ERROR_NOT_FOUND,
                           "backend '%s' has %u device%s; there is no device %u", backend, count,
                           count == 1 ? "" : "s", *index);
    return GPUMEM_OK;
}

static gpumem_result validate_desc(const gpumem_device_desc *desc)
{
    if (!desc)
        return GPUMEM_OK;
    const uint32_t known_flags =
        GPUMEM_DEVICE_OPEN_INDEX | GPUMEM_DEVICE_OPEN_EXTERNALLY_SYNCHRONIZED;
    if (desc->flags & ~known_flags)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "unknown flags 0x%x in desc->flags",
                           desc->flags & ~known_flags);
    const uint32_t features =
        GPUMEM_VULKAN_FEATURE_TIMELINE_SEMAPHORE | GPUMEM_VULKAN_FEATURE_BUFFER_DEVICE_ADDRESS;
    if (desc->external && (desc->external->vulkan_features & ~features))
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                           "unknown bits 0x%x in external->vulkan_features",
                           desc->external->vulkan_features & ~features);
    if (desc->external && desc->external->reserved)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "external->reserved is not 0");
    return GPUMEM_OK;
}

static void device_free(gpumem_device_obj *device)
{
    pthread_mutex_destroy(&device->staging.lock);
    pthread_cond_destroy(&device->teardown_done);
    pthread_mutex_destroy(&device->lock);
    gpumem_free(device);
}

/* Frees the device's streams (the default one included): no call can reach them. Wrapped
 * streams go first: one may wrap the native stream of a stream gpumem made. */
static void free_streams(gpumem_device_obj *device)
{
    for (int wrapped = 1; wrapped >= 0; wrapped--) {
        GPUMEM_LIST_FOR_EACH_SAFE(node, next, &device->streams) {
            gpumem_stream_obj *stream = GPUMEM_CONTAINER_OF(node, gpumem_stream_obj, link);
            if (stream->wrapped != wrapped)
                continue;
            gpumem_list_remove(&stream->link);
            gpumem_stream_free(stream);
        }
    }
}

/* Backend device and properties are in place; adds what core owns. */
static gpumem_result device_finish_open(gpumem_device_obj *device)
{
    gpumem_result r = gpumem_staging_init(device);
    if (r != GPUMEM_OK)
        return r;
    pthread_mutex_lock(&device->lock);
    r = gpumem_stream_new(device, 1, &device->default_stream);
    pthread_mutex_unlock(&device->lock);
    if (r == GPUMEM_OK && !(device->handle = gpumem_handle_create(GPUMEM_HANDLE_DEVICE, device))) {
        gpumem_handle_destroy(device->default_stream->handle);
        free_streams(device);
        r = gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no handle left");
    }
    if (r != GPUMEM_OK)
        gpumem_staging_release(device);
    return r;
}

static gpumem_result device_open(const gpumem_device_desc *desc, gpumem_device *out)
{
    if (!out)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "device is NULL");
    gpumem_log_refresh(); /* GPUMEM_LOG as it is now, for the debug messages of hot paths */
    gpumem_result r = validate_desc(desc);
    const gpumem_backend_entry *entry = NULL;
    if (r == GPUMEM_OK)
        r = gpumem_registry_choose(desc ? desc->backend : NULL, &entry);
    if (r != GPUMEM_OK)
        return r;
    const char *backend = entry->info.name;
    uint32_t index = 0;
    const gpumem_external_device *external = desc ? desc->external : NULL;
    if (!external && (r = device_index(desc, entry->info.device_count, backend, &index)) !=
                         GPUMEM_OK)
        return r;

    gpumem_device_obj *device = gpumem_alloc_zeroed(1, sizeof *device);
    if (!device)
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for a device");
    pthread_mutex_init(&device->lock, NULL);
    pthread_cond_init(&device->teardown_done, NULL);
    pthread_mutex_init(&device->staging.lock, NULL);
    gpumem_list_init(&device->pools);
    gpumem_list_init(&device->streams);
    gpumem_list_init(&device->events);
    gpumem_list_init(&device->registrations);
    device->ops = &entry->ops;
    device->externally_synchronized =
        desc && (desc->flags & GPUMEM_DEVICE_OPEN_EXTERNALLY_SYNCHRONIZED);

    r = device->ops->device_open(index, external, &device->native);
    if (r != GPUMEM_OK) {
        device_free(device);
        return gpumem_fail_backend(r, "device_open");
    }
    r = device->ops->device_properties(device->native, &device->properties);
    if (r != GPUMEM_OK)
        r = gpumem_fail_backend(r, "device_properties");
    else
        r = check_properties(&device->properties, backend, !device->ops->image_create);
    if (r == GPUMEM_OK) /* what the memory types need of the table: map, flush, invalidate */
        r = gpumem_backend_table_fits(device->ops, &device->properties);
    if (r == GPUMEM_OK) {
        snprintf(device->properties.backend, sizeof device->properties.backend, "%s", backend);
        device->properties.device_index = index;
        device->properties.is_external = external != NULL;
        r = device_finish_open(device);
    }
    if (r != GPUMEM_OK) {
        device->ops->device_close(device->native);
        device_free(device);
        return r;
    }
    *out = (gpumem_device)(uintptr_t)device->handle;
    return GPUMEM_OK;
}

gpumem_result gpumem_device_open(const gpumem_device_desc *desc, gpumem_device *device)
{
    GPUMEM_LOGGED_PLAIN_CALL(device_open(desc, device),
                             "desc {backend \"%s\", flags %#llx, device_index %llu, external %p}"
                             GPUMEM_LOG_OUTPUTS "device %#llx",
                             GPUMEM_LOG_TEXT(desc ? desc->backend : NULL),
                             GPUMEM_LOG_FIELD(desc, flags), GPUMEM_LOG_FIELD(desc, device_index),
                             desc ? (const void *)desc->external : NULL, GPUMEM_LOG_OUT(device));
}

/* Ends every handle of the device's objects, and refuses new ones (the device's own handle is
 * already ended). */
static void end_handles(gpumem_device_obj *device)
{
    pthread_mutex_lock(&device->lock);
    device->closing = 1;
    for (gpumem_list *l = device->pools.next; l != &device->pools; l = l->next) {
        gpumem_pool_obj *pool = GPUMEM_CONTAINER_OF(l, gpumem_pool_obj, link);
        gpumem_handle_destroy(pool->handle);
        gpumem_pool_close(pool);
    }
    for (gpumem_list *l = device->streams.next; l != &device->streams; l = l->next)
        gpumem_handle_destroy(GPUMEM_CONTAINER_OF(l, gpumem_stream_obj, link)->handle);
    for (gpumem_list *l = device->events.next; l != &device->events; l = l->next)
        gpumem_handle_destroy(GPUMEM_CONTAINER_OF(l, gpumem_event_obj, link)->handle);
    for (gpumem_list *l = device->registrations.next; l != &device->registrations; l = l->next)
        gpumem_handle_destroy(GPUMEM_CONTAINER_OF(l, gpumem_registration_obj, link)->handle);
    pthread_mutex_unlock(&device->lock);
}

/* Closing goes in three steps: end every handle (from then on calls say DESTROYED, and no new
 * object is made), wait until no call and no pool, stream or event destroy still uses what the
 * device owns, then free it all, after the streams' work. */
gpumem_result gpumem_device_close(gpumem_device handle)
{
    gpumem_call call;
    gpumem_result r = gpumem_call_enter(&call, __func__);
    gpumem_device_obj *device = NULL;
    if (r == GPUMEM_OK && (r = gpumem_device_get(handle, &device)) == GPUMEM_OK &&
        gpumem_call_is_nested(&call))
        r = gpumem_fail(GPUMEM_ERROR_BAD_STATE, "a device cannot be closed from a log callback");
    /* Of two closes at once, only the one that ends the handle goes on. */
    if (r == GPUMEM_OK && !gpumem_handle_destroy(device->handle))
        r = gpumem_fail(GPUMEM_ERROR_DESTROYED, "the device was destroyed");
    if (r != GPUMEM_OK)
        GPUMEM_LOGGED_LEAVE(call, r,
                            "device %#llx",
                            GPUMEM_LOG_HANDLE(handle));
    gpumem_close_dump(device); /* GPUMEM_DUMP_ON_CLOSE, before anything is released */
    atomic_fetch_add(&device->streams_closing, 1); /* their handles end before their work */
    end_handles(device);
    uint64_t stamp = gpumem_epoch_stamp();
    gpumem_epoch_leave(call.thread->record); /* the device is this thread's alone now */
    pthread_mutex_lock(&device->lock);
    while (device->teardowns)
        pthread_cond_wait(&device->teardown_done, &device->lock);
    pthread_mutex_unlock(&device->lock);
    gpumem_epoch_wait(call.thread->record, stamp);
    gpumem_device_wait_streams(device);
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &device->pools) {
        gpumem_pool_obj *pool = GPUMEM_CONTAINER_OF(node, gpumem_pool_obj, link);
        gpumem_list_remove(&pool->link);
        gpumem_pool_free(pool);
    }
    gpumem_staging_release(device);
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &device->events) {
        gpumem_event_obj *event = GPUMEM_CONTAINER_OF(node, gpumem_event_obj, link);
        gpumem_list_remove(&event->link);
        gpumem_event_free(event);
    }
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &device->registrations) {
        gpumem_registration_obj *registration =
            GPUMEM_CONTAINER_OF(node, gpumem_registration_obj, link);
        gpumem_list_remove(&registration->link);
        gpumem_registration_free(registration);
    }
    gpumem_registration_cache_drop(device);
    free_streams(device);
    device->ops->device_close(device->native);
    device_free(device);
    GPUMEM_LOGGED_LEAVE(call, GPUMEM_OK,
                        "device %#llx",
                        GPUMEM_LOG_HANDLE(handle));
}

static gpumem_result device_properties_get(gpumem_device handle,
                                           gpumem_device_properties *properties)
{
    gpumem_device_obj *device;
    gpumem_result r = gpumem_device_get(handle, &device);
    if (r != GPUMEM_OK)
        return r;
    if (!properties)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "properties is NULL");
    *properties = device->properties;
    uint32_t heaps = properties->memory_heap_count;
    uint64_t budget[GPUMEM_MAX_MEMORY_HEAPS], usage[GPUMEM_MAX_MEMORY_HEAPS];
    for (uint32_t i = 0; i < heaps; i++)
        usage[i] = atomic_load_explicit(&device->heap_usage[i], memory_order_relaxed);
    int fresh = device->ops->heap_budget &&
                device->ops->heap_budget(device->native, budget, usage) == GPUMEM_OK;
    for (uint32_t i = 0; i < heaps; i++) {
        gpumem_memory_heap *heap = &properties->memory_heaps[i];
        heap->usage = usage[i];
        if (fresh)
            heap->budget = budget[i];
        else if (!heap->budget)
            heap->budget = heap->size;
    }
    gpumem_error_clear(); /* a failed budget query is not the caller's failure */
    return GPUMEM_OK;
}

gpumem_result gpumem_device_properties_get(gpumem_device device,
                                           gpumem_device_properties *properties)
{
    GPUMEM_LOGGED_CALL(device_properties_get(device, properties),
                       "device %#llx" GPUMEM_LOG_OUTPUTS "name \"%s\", backend \"%s\"",
                       GPUMEM_LOG_HANDLE(device),
                       GPUMEM_LOG_TEXT(gpumem_r_ == GPUMEM_OK ? properties->name : NULL),
                       GPUMEM_LOG_TEXT(gpumem_r_ == GPUMEM_OK ? properties->backend : NULL));
}

static gpumem_result device_native(gpumem_device handle, gpumem_external_device *native)
{
    gpumem_device_obj *device;
    gpumem_result r = gpumem_device_get(handle, &device);
    if (r != GPUMEM_OK)
        return r;
    if (!native)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "native is NULL");
    gpumem_external_device n = {0};
    if (device->ops->device_native && (r = device->ops->device_native(device->native, &n)) !=
                                          GPUMEM_OK)
        return gpumem_fail_backend(r, "device_native");
    *native = n;
    return GPUMEM_OK;
}

gpumem_result gpumem_device_native(gpumem_device device, gpumem_external_device *native)
{
    GPUMEM_LOGGED_CALL(device_native(device, native),
                       "device %#llx" GPUMEM_LOG_OUTPUTS
                       "instance %#llx, physical_device %#llx, device %#llx",
                       GPUMEM_LOG_HANDLE(device), GPUMEM_LOG_OUT_FIELD(native, instance),
                       GPUMEM_LOG_OUT_FIELD(native, physical_device),
                       GPUMEM_LOG_OUT_FIELD(native, device));
}

static gpumem_result device_count(const char *backend, uint32_t *count)
{
    if (!count)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "count is NULL");
    const gpumem_backend_entry *entry;
    gpumem_result r = gpumem_registry_choose(backend, &entry);
    if (r != GPUMEM_OK)
        return r;
    *count = entry->info.device_count;
    return GPUMEM_OK;
}

gpumem_result gpumem_device_count(const char *backend, uint32_t *count)
{
    GPUMEM_LOGGED_PLAIN_CALL(device_count(backend, count),
                             "backend \"%s\"" GPUMEM_LOG_OUTPUTS "count %llu",
                             GPUMEM_LOG_TEXT(backend), GPUMEM_LOG_OUT(count));
}

static gpumem_result device_default_stream(gpumem_device handle, gpumem_stream *stream)
{
    gpumem_device_obj *device;
    gpumem_result r = gpumem_device_get(handle, &device);
    if (r != GPUMEM_OK)
        return r;
    if (!stream)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "stream is NULL");
    *stream = (gpumem_stream)(uintptr_t)device->default_stream->handle;
    return GPUMEM_OK;
}

gpumem_result gpumem_device_default_stream(gpumem_device device, gpumem_stream *stream)
{
    GPUMEM_LOGGED_CALL(device_default_stream(device, stream),
                       "device %#llx" GPUMEM_LOG_OUTPUTS "stream %#llx",
                       GPUMEM_LOG_HANDLE(device), GPUMEM_LOG_OUT(stream));
}

uint32_t gpumem_version(void)
{
    return GPUMEM_VERSION_MAJOR * 10000u + GPUMEM_VERSION_MINOR * 100u + GPUMEM_VERSION_PATCH;
}
