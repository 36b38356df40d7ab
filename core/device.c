#include "device.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "handles.h"
#include "pool.h"
#include "registry.h"
#include "stream.h"

gpumem_result gpumem_device_get(gpumem_device handle, const char *function,
                                gpumem_device_obj **device)
{
    return gpumem_handle_get(GPUMEM_HANDLE_OF(handle), GPUMEM_HANDLE_DEVICE, function,
                             (void **)device);
}

static int is_power_of_two(uint64_t x)
{
    return x && !(x & (x - 1));
}

/* A backend's answers are checked once, so core can rely on them everywhere else. */
static gpumem_result check_properties(const gpumem_device_properties *p, const char *backend,
                                      const char *function)
{
    if (p->memory_type_count == 0 || p->memory_type_count > GPUMEM_MAX_MEMORY_TYPES ||
        p->memory_heap_count == 0 || p->memory_heap_count > GPUMEM_MAX_MEMORY_HEAPS)
        return gpumem_error(GPUMEM_ERROR_BACKEND, function,
                            "backend '%s' reported %u memory types and %u heaps", backend,
                            p->memory_type_count, p->memory_heap_count);
    for (uint32_t i = 0; i < p->memory_type_count; i++)
        if (p->memory_types[i].heap_index >= p->memory_heap_count ||
            (p->memory_types[i].flags & ~GPUMEM_MEMORY_FLAGS_ALL))
            return gpumem_error(GPUMEM_ERROR_BACKEND, function,
                                "backend '%s' reported a bad memory type %u", backend, i);
    if (!is_power_of_two(p->min_alignment) || !is_power_of_two(p->non_coherent_atom_size) ||
        !p->max_allocation_size)
        return gpumem_error(GPUMEM_ERROR_BACKEND, function,
                            "backend '%s' reported bad limits (alignment %llu, atom %llu)",
                            backend, (unsigned long long)p->min_alignment,
                            (unsigned long long)p->non_coherent_atom_size);
    return GPUMEM_OK;
}

static gpumem_result device_index(const gpumem_device_desc *desc, uint32_t count,
                                  const char *backend, const char *function, uint32_t *index)
{
    const char *env = getenv("GPUMEM_DEVICE");
    if (desc && (desc->flags & GPUMEM_DEVICE_OPEN_INDEX)) {
        *index = desc->device_index;
    } else if (env && *env) {
        char *end;
        errno = 0;
        unsigned long value = strtoul(env, &end, 10);
        if (errno || *end || env[0] == '-' || value > UINT32_MAX)
            return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, function,
                                "GPUMEM_DEVICE='%s' is not a device index", env);
        *index = (uint32_t)value;
    } else {
        *index = 0;
    }
    if (*index >= count)
        return gpumem_error(GPUMEM_ERROR_NOT_FOUND, function,
                            "backend '%s' has %u device%s; there is no device %u", backend,
                            count, count == 1 ? "" : "s", *index);
    return GPUMEM_OK;
}

static gpumem_result validate_desc(const gpumem_device_desc *desc, const char *function)
{
    if (!desc)
        return GPUMEM_OK;
    if (desc->flags & ~(uint32_t)GPUMEM_DEVICE_OPEN_INDEX)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, function,
                            "unknown flags 0x%x in desc->flags",
                            desc->flags & ~(uint32_t)GPUMEM_DEVICE_OPEN_INDEX);
    return GPUMEM_OK;
}

static void device_free(gpumem_device_obj *device)
{
    pthread_mutex_destroy(&device->lock);
    free(device);
}

/* Backend device and properties are in place; adds what core owns. */
static gpumem_result device_finish_open(gpumem_device_obj *device, const char *function)
{
    gpumem_result r = gpumem_staging_init(device);
    if (r != GPUMEM_OK)
        return r;
    pthread_mutex_lock(&device->lock);
    r = gpumem_stream_new(device, 1, function, &device->default_stream);
    pthread_mutex_unlock(&device->lock);
    if (r != GPUMEM_OK) {
        gpumem_staging_release(device);
        return r;
    }
    device->handle = gpumem_handle_create(GPUMEM_HANDLE_DEVICE, device);
    if (!device->handle) {
        pthread_mutex_lock(&device->lock);
        gpumem_stream_release(device->default_stream);
        pthread_mutex_unlock(&device->lock);
        gpumem_staging_release(device);
        return gpumem_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, function, "no handle left");
    }
    return GPUMEM_OK;
}

gpumem_result gpumem_device_open(const gpumem_device_desc *desc, gpumem_device *out)
{
    gpumem_error_clear();
    if (!out)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "device is NULL");
    gpumem_result r = validate_desc(desc, __func__);
    const gpumem_backend_entry *entry = NULL;
    if (r == GPUMEM_OK)
        r = gpumem_registry_choose(desc ? desc->backend : NULL, __func__, &entry);
    if (r != GPUMEM_OK)
        return r;
    const char *backend = entry->info.name;
    uint32_t index = 0;
    const gpumem_external_device *external = desc ? desc->external : NULL;
    if (!external && (r = device_index(desc, entry->info.device_count, backend, __func__,
                                       &index)) != GPUMEM_OK)
        return r;

    gpumem_device_obj *device = calloc(1, sizeof *device);
    if (!device)
        return gpumem_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, __func__, "no memory for a device");
    pthread_mutex_init(&device->lock, NULL);
    gpumem_list_init(&device->pools);
    gpumem_list_init(&device->streams);
    device->ops = &entry->ops;
    device->capabilities = entry->capabilities;

    r = device->ops->device_open(index, external, &device->native);
    if (r != GPUMEM_OK) {
        device_free(device);
        return gpumem_error_from_backend(r, __func__, "device_open");
    }
    r = device->ops->device_properties(device->native, &device->properties);
    if (r != GPUMEM_OK)
        r = gpumem_error_from_backend(r, __func__, "device_properties");
    else
        r = check_properties(&device->properties, backend, __func__);
    if (r == GPUMEM_OK) {
        snprintf(device->properties.backend, sizeof device->properties.backend, "%s", backend);
        device->properties.device_index = index;
        device->properties.is_external = external != NULL;
        r = device_finish_open(device, __func__);
    }
    if (r != GPUMEM_OK) {
        device->ops->device_close(device->native);
        device_free(device);
        return r;
    }
    *out = (gpumem_device)(uintptr_t)device->handle;
    return GPUMEM_OK;
}

gpumem_result gpumem_device_close(gpumem_device handle)
{
    gpumem_error_clear();
    gpumem_device_obj *device;
    gpumem_result r = gpumem_device_get(handle, __func__, &device);
    if (r != GPUMEM_OK)
        return r;
    /* The handle ends first, so no new call finds the device while it is torn down; of two
     * closes at once, only the one that ended it goes on. */
    if (!gpumem_handle_destroy(device->handle))
        return gpumem_error(GPUMEM_ERROR_DESTROYED, __func__, "the device was destroyed");
    pthread_mutex_lock(&device->lock);
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &device->streams)
        gpumem_stream_synchronize_locked(GPUMEM_CONTAINER_OF(node, gpumem_stream_obj, link));
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &device->pools)
        gpumem_pool_release(GPUMEM_CONTAINER_OF(node, gpumem_pool_obj, link));
    gpumem_staging_release(device);
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &device->streams)
        gpumem_stream_release(GPUMEM_CONTAINER_OF(node, gpumem_stream_obj, link));
    pthread_mutex_unlock(&device->lock);
    device->ops->device_close(device->native);
    device_free(device);
    return GPUMEM_OK;
}

gpumem_result gpumem_device_properties_get(gpumem_device handle,
                                           gpumem_device_properties *properties)
{
    gpumem_error_clear();
    gpumem_device_obj *device;
    gpumem_result r = gpumem_device_get(handle, __func__, &device);
    if (r != GPUMEM_OK)
        return r;
    if (!properties)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "properties is NULL");
    *properties = device->properties;
    uint32_t heaps = properties->memory_heap_count;
    uint64_t budget[GPUMEM_MAX_MEMORY_HEAPS], usage[GPUMEM_MAX_MEMORY_HEAPS];
    for (uint32_t i = 0; i < heaps; i++)
        usage[i] = atomic_load_explicit(&device->heap_usage[i], memory_order_relaxed);
    int fresh = (device->capabilities & GPUMEM_CAPABILITY_BUDGET) &&
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

gpumem_result gpumem_device_native(gpumem_device handle, gpumem_external_device *native)
{
    gpumem_error_clear();
    gpumem_device_obj *device;
    gpumem_result r = gpumem_device_get(handle, __func__, &device);
    if (r != GPUMEM_OK)
        return r;
    if (!native)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "native is NULL");
    gpumem_external_device n = {0};
    r = device->ops->device_native(device->native, &n);
    if (r != GPUMEM_OK)
        return gpumem_error_from_backend(r, __func__, "device_native");
    *native = n;
    return GPUMEM_OK;
}

gpumem_result gpumem_device_count(const char *backend, uint32_t *count)
{
    gpumem_error_clear();
    if (!count)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "count is NULL");
    const gpumem_backend_entry *entry;
    gpumem_result r = gpumem_registry_choose(backend, __func__, &entry);
    if (r != GPUMEM_OK)
        return r;
    *count = entry->info.device_count;
    return GPUMEM_OK;
}

gpumem_result gpumem_device_default_stream(gpumem_device handle, gpumem_stream *stream)
{
    gpumem_error_clear();
    gpumem_device_obj *device;
    gpumem_result r = gpumem_device_get(handle, __func__, &device);
    if (r != GPUMEM_OK)
        return r;
    if (!stream)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "stream is NULL");
    *stream = (gpumem_stream)(uintptr_t)device->default_stream->handle;
    return GPUMEM_OK;
}

uint32_t gpumem_version(void)
{
    return GPUMEM_VERSION_MAJOR * 10000u + GPUMEM_VERSION_MINOR * 100u + GPUMEM_VERSION_PATCH;
}
