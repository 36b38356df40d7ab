/* Whether host memory is pinned, so that core can hand it straight to the runtime's copies; and
 * the application's host memory registered, so that it is. */
#include <stdlib.h>

#include "gpurt_device.h"
#include "gpurt_error.h"

typedef struct host_allocation {
    int pinned;
    uint64_t id;
} host_allocation;

static host_allocation allocation_at(const gpurt_device *d, const void *host)
{
    host_allocation a = {0, 0};
    if (d->rt->host_pointer(host, &a.pinned, &a.id) != 0)
        a.pinned = 0; /* pageable memory is an error to the runtime, not to us */
    return a;
}

/* The first and the last byte must lie in one pinned allocation: a range that runs from a
 * pinned block into pageable memory would be read at pageable speed, or not at all by DMA.
 * Where the runtime gives no allocation id, two pinned ends are taken as one allocation;
 * a wrong "yes" only costs speed, since the runtime copies pageable memory correctly too. */
int gpurt_host_memory_is_pinned(gpumem_backend_device *device, const void *host, uint64_t size)
{
    const gpurt_device *d = gpurt_device_of(device);
    gpurt_scope scope;
    if (size == 0 || gpurt_enter(d, &scope) != GPUMEM_OK)
        return 0;
    host_allocation first = allocation_at(d, host);
    host_allocation last = first;
    if (first.pinned && size > 1)
        last = allocation_at(d, (const char *)host + size - 1);
    gpurt_leave(d, &scope);
    return first.pinned && last.pinned && first.id == last.id;
}

struct gpumem_backend_registration {
    void *host;
};

static gpumem_result register_memory(gpumem_backend_device *device, void *host, uint64_t size,
                                     gpumem_backend_registration **out, int read_only)
{
    const gpurt_device *d = gpurt_device_of(device);
    gpumem_backend_registration *registration = malloc(sizeof *registration);
    if (!registration)
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY,
                                    "%s: no memory for a registration", d->rt->name);
    gpurt_scope scope;
    gpumem_result r = gpurt_enter(d, &scope);
    gpurt_status status = 0;
    if (r == GPUMEM_OK) {
        status = read_only && d->rt->host_register_read_only
                     ? d->rt->host_register_read_only(host, size)
                     : d->rt->host_register(host, size);
        gpurt_leave(d, &scope);
    }
    if (r == GPUMEM_OK && status != 0) {
        r = gpurt_failf(d->rt, GPURT_CALL_HOST_REGISTER, status, GPUMEM_ERROR_OUT_OF_HOST_MEMORY,
                        " for %llu bytes at %p", (unsigned long long)size, host);
        /* A range the runtime will not take is the caller's mistake, told in its words. */
        if (status == d->rt->already_registered || status == d->rt->invalid_value)
            r = GPUMEM_ERROR_INVALID_ARGUMENT;
    }
    if (r != GPUMEM_OK) {
        free(registration);
        return r;
    }
    registration->host = host;
    *out = registration;
    return GPUMEM_OK;
}

gpumem_result gpurt_host_register(gpumem_backend_device *device, void *host, uint64_t size,
                                  gpumem_backend_registration **out)
{
    return register_memory(device, host, size, out, 0);
}

gpumem_result gpurt_host_register_read_only(gpumem_backend_device *device, void *host,
                                            uint64_t size, gpumem_backend_registration **out)
{
    return register_memory(device, host, size, out, 1);
}

void gpurt_host_unregister(gpumem_backend_device *device, gpumem_backend_registration *registration)
{
    const gpurt_device *d = gpurt_device_of(device);
    gpurt_scope scope;
    if (gpurt_enter(d, &scope) == GPUMEM_OK) {
        d->rt->host_unregister(registration->host); /* nothing to do about a failure here */
        gpurt_leave(d, &scope);
    }
    free(registration);
}
