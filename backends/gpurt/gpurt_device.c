/* Probing a runtime, and opening and closing its devices (own or the application's). */
#include <stdio.h>
#include <stdlib.h>

#include "gpurt_device.h"
#include "gpurt_error.h"
#include "gpurt_properties.h"

gpumem_result gpurt_probe(const gpurt_runtime *rt, uint32_t *device_count, char *reason,
                          size_t reason_size)
{
    /* The call names are set by name (designated initializers): one left out is a build
     * mistake, told here rather than as a crash in a later message. */
    for (int call = 0; call < GPURT_CALL_COUNT; call++)
        if (!rt->calls[call]) {
            snprintf(reason, reason_size, "%s table: no name for call %d", rt->name, call);
            return GPUMEM_ERROR_UNAVAILABLE;
        }
    if (rt->load(reason, reason_size) != 0)
        return GPUMEM_ERROR_UNAVAILABLE;
    int count = 0;
    gpurt_status status = rt->device_count(&count);
    if (status != 0) {
        char buffer[32];
        const char *name = gpurt_status_name(rt, status, buffer, sizeof buffer);
        /* Out of memory may be gone at the next try (core probes again); anything else means
         * there is no usable device. */
        if (status == rt->out_of_memory) {
            snprintf(reason, reason_size, "%s: %s", rt->calls[GPURT_CALL_DEVICE_COUNT], name);
            return GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
        }
        snprintf(reason, reason_size, "no %s device (%s: %s)", rt->name,
                 rt->calls[GPURT_CALL_DEVICE_COUNT], name);
        return GPUMEM_ERROR_UNAVAILABLE;
    }
    if (count <= 0) {
        snprintf(reason, reason_size, "no %s device", rt->name);
        return GPUMEM_ERROR_UNAVAILABLE;
    }
    *device_count = (uint32_t)count;
    return GPUMEM_OK;
}

/* Core checks indices it chose; an application's ordinal is checked here. */
static gpumem_result check_ordinal(const gpurt_runtime *rt, uint64_t ordinal)
{
    int count = 0;
    gpurt_status status = rt->device_count(&count);
    if (status != 0)
        return gpurt_fail(rt, GPURT_CALL_DEVICE_COUNT, status);
    if (ordinal >= (uint64_t)count)
        return gpumem_backend_error(GPUMEM_ERROR_NOT_FOUND,
                                    "external physical_device %llu: %s has %d devices",
                                    (unsigned long long)ordinal, rt->name, count);
    return GPUMEM_OK;
}

/* The application's context stays the application's: it is checked, used, never closed. */
static gpumem_result open_context(gpurt_device *d, void *external)
{
    const gpurt_runtime *rt = d->rt;
    gpurt_status status;
    if (external && rt->context_check) {
        if ((status = rt->context_check(d->ordinal, external)) != 0)
            return gpurt_failf(rt, GPURT_CALL_CONTEXT_CHECK, status, GPUMEM_ERROR_BACKEND,
                               " for the application's context %p on device %d", external,
                               d->ordinal);
        d->context = external;
        return GPUMEM_OK;
    }
    if ((status = rt->context_open(d->ordinal, &d->context)) != 0)
        return gpurt_fail(rt, GPURT_CALL_CONTEXT_OPEN, status);
    d->owns_context = 1;
    return GPUMEM_OK;
}

gpumem_result gpurt_device_open(const gpurt_runtime *rt, uint32_t index,
                                const gpumem_external_device *external,
                                gpumem_backend_device **device)
{
    uint64_t ordinal = external ? external->physical_device : index;
    gpumem_result r = external ? check_ordinal(rt, ordinal) : GPUMEM_OK;
    if (r != GPUMEM_OK)
        return r;
    gpurt_device *d = calloc(1, sizeof *d);
    if (!d)
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for a device");
    d->rt = rt;
    d->ordinal = (int)ordinal;
    if ((r = open_context(d, external ? (void *)(uintptr_t)external->device : NULL)) !=
        GPUMEM_OK) {
        free(d);
        return r;
    }
    if ((r = gpurt_properties_init(d)) != GPUMEM_OK) {
        gpurt_device_close((gpumem_backend_device *)d);
        return r;
    }
    *device = (gpumem_backend_device *)d;
    return GPUMEM_OK;
}

void gpurt_device_close(gpumem_backend_device *device)
{
    gpurt_device *d = gpurt_device_of(device);
    if (d->owns_context)
        d->rt->context_close(d->ordinal, d->context);
    free(d);
}

gpumem_result gpurt_device_native(gpumem_backend_device *device, gpumem_external_device *native)
{
    const gpurt_device *d = gpurt_device_of(device);
    native->physical_device = (uint64_t)d->ordinal;
    native->device = (uint64_t)(uintptr_t)d->context;
    return GPUMEM_OK;
}

gpumem_result gpurt_enter(const gpurt_device *d, gpurt_scope *scope)
{
    gpurt_status status = d->rt->enter(d->ordinal, d->context, scope);
    return status == 0 ? GPUMEM_OK : gpurt_fail(d->rt, GPURT_CALL_ENTER, status);
}

void gpurt_leave(const gpurt_device *d, const gpurt_scope *scope)
{
    d->rt->leave(d->ordinal, scope);
}
