#include "registration.h"

#include "alloc.h"
#include "call.h"
#include "handles.h"
#include "log.h"
#include "registration_cache.h"
#include "transfer_registration.h"

void gpumem_registration_free(gpumem_registration_obj *registration)
{
    gpumem_device_obj *device = registration->device;
    device->ops->host_unregister(device->native, registration->native);
    gpumem_free(registration);
}

/* A live registration of the device that shares a byte with [host, host + size), or NULL
 * (device lock held). The runtimes refuse such a range too, but not all backends have one. */
static const gpumem_registration_obj *overlapping(const gpumem_device_obj *device,
                                                  const void *host, uint64_t size)
{
    uintptr_t begin = (uintptr_t)host, end = begin + size;
    for (const gpumem_list *l = device->registrations.next; l != &device->registrations;
         l = l->next) {
        const gpumem_registration_obj *o = GPUMEM_CONTAINER_OF(l, gpumem_registration_obj, link);
        uintptr_t b = (uintptr_t)o->host;
        if (begin < b + o->size && b < end)
            return o;
    }
    return NULL;
}

static gpumem_result refuse_overlap(const gpumem_device_obj *device, const void *host,
                                    uint64_t size)
{
    const gpumem_registration_obj *other = overlapping(device, host, size);
    return other ? gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                               "%llu bytes at %p overlap %llu bytes at %p, registered already",
                               (unsigned long long)size, host,
                               (unsigned long long)other->size, other->host)
                 : GPUMEM_OK;
}

/* Memory a synchronous transfer has registered for its length (transfer_registration.h), right
 * now. */
static gpumem_result refuse_busy(const void *host, uint64_t size)
{
    if (!gpumem_transfer_registration_overlaps(host, size))
        return GPUMEM_OK;
    return gpumem_fail(GPUMEM_ERROR_BAD_STATE,
                       "%llu bytes at %p share pages with a write or read that has them "
                       "registered for its length, right now; register them when it has returned",
                       (unsigned long long)size, host);
}

static gpumem_result host_register(gpumem_device handle, void *host, uint64_t size,
                                   uint32_t flags, gpumem_host_registration *out)
{
    gpumem_device_obj *device;
    gpumem_result r = gpumem_device_get(handle, &device);
    if (r != GPUMEM_OK)
        return r;
    if (!out || !host)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "%s is NULL",
                           !host ? "host" : "registration");
    if (size == 0)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "size is 0");
    if ((uintptr_t)host > UINTPTR_MAX - size)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                           "%llu bytes at %p pass the end of the address space",
                           (unsigned long long)size, host);
    if (flags)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
    if (!device->ops->host_register)
        return gpumem_fail(GPUMEM_ERROR_UNSUPPORTED,
                           "backend '%s' cannot register host memory (it has no host_register)",
                           device->properties.backend);
    /* Overlaps are refused before the runtime sees them (CUDA reports them as errors of its
     * own), and again under the lock below, for two registrations racing. */
    pthread_mutex_lock(&device->lock);
    r = refuse_overlap(device, host, size);
    pthread_mutex_unlock(&device->lock);
    if (r == GPUMEM_OK)
        r = refuse_busy(host, size);
    if (r != GPUMEM_OK)
        return r;
    /* The registration cache's own registrations of this memory give way to the application's. */
    if (!gpumem_registration_cache_evict(device, host, size))
        return gpumem_fail(GPUMEM_ERROR_BAD_STATE,
                           "%llu bytes at %p are in a transfer through the registration cache "
                           "right now; register them when it has finished",
                           (unsigned long long)size, host);
    gpumem_registration_obj *registration = gpumem_alloc_zeroed(1, sizeof *registration);
    if (!registration)
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for a registration");
    if ((r = device->ops->host_register(device->native, host, size, &registration->native)) !=
        GPUMEM_OK) {
        gpumem_free(registration);
        r = gpumem_fail_backend(r, "host_register");
        /* The runtime's refusal, where a write registered the pages after the check above. */
        return refuse_busy(host, size) != GPUMEM_OK ? GPUMEM_ERROR_BAD_STATE : r;
    }
    registration->device = device;
    registration->host = host;
    registration->size = size;
    pthread_mutex_lock(&device->lock);
    r = device->closing ? gpumem_fail(GPUMEM_ERROR_DESTROYED, "the device was closed")
                        : refuse_overlap(device, host, size);
    if (r == GPUMEM_OK && !(registration->handle = gpumem_handle_create(
                              GPUMEM_HANDLE_REGISTRATION, registration)))
        r = gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no handle left");
    if (r == GPUMEM_OK)
        gpumem_list_push(&device->registrations, &registration->link);
    pthread_mutex_unlock(&device->lock);
    if (r != GPUMEM_OK) {
        gpumem_registration_free(registration);
        return r;
    }
    gpumem_log(GPUMEM_LOG_INFO, "host memory registered: %llu bytes at %p (backend '%s')",
               (unsigned long long)size, host, device->properties.backend);
    *out = (gpumem_host_registration)(uintptr_t)registration->handle;
    return GPUMEM_OK;
}

gpumem_result gpumem_host_register(gpumem_device device, void *host, uint64_t size,
                                   uint32_t flags, gpumem_host_registration *registration)
{
    GPUMEM_LOGGED_CALL(host_register(device, host, size, flags, registration),
                       "device %#llx, host %p, size %llu, flags %#llx" GPUMEM_LOG_OUTPUTS
                       "registration %#llx",
                       GPUMEM_LOG_HANDLE(device), host, (unsigned long long)(size),
                       (unsigned long long)(flags), GPUMEM_LOG_OUT(registration));
}

/* As an event's destroy: the handle ends first, then no call can still be using the
 * registration once the epoch has moved on. Transfers of the memory queued on streams are the
 * application's to wait for, as for a buffer's destroy. */
gpumem_result gpumem_host_unregister(gpumem_host_registration handle)
{
    gpumem_call call;
    gpumem_result r = gpumem_call_enter(&call, __func__);
    gpumem_registration_obj *registration = NULL;
    if (r == GPUMEM_OK)
        r = gpumem_handle_get(GPUMEM_HANDLE_OF(handle), GPUMEM_HANDLE_REGISTRATION,
                              (void **)&registration);
    if (r == GPUMEM_OK && gpumem_call_is_nested(&call))
        r = gpumem_fail(GPUMEM_ERROR_BAD_STATE,
                        "host memory cannot be unregistered from a log callback");
    if (r != GPUMEM_OK)
        GPUMEM_LOGGED_LEAVE(call, r,
                            "registration %#llx",
                            GPUMEM_LOG_HANDLE(handle));
    gpumem_device_obj *device = registration->device;
    if (!gpumem_device_take(device, registration->handle, &registration->link))
        GPUMEM_LOGGED_LEAVE(call, gpumem_fail(GPUMEM_ERROR_DESTROYED, "the registration was ended"),
                            "registration %#llx",
                            GPUMEM_LOG_HANDLE(handle));
    gpumem_epoch_wait(call.thread->record, gpumem_epoch_stamp());
    gpumem_registration_free(registration);
    gpumem_device_release_hold(device);
    GPUMEM_LOGGED_LEAVE(call, GPUMEM_OK,
                        "registration %#llx",
                        GPUMEM_LOG_HANDLE(handle));
}
