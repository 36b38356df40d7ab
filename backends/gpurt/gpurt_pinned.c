/* Whether host memory is pinned, so that core can hand it straight to the runtime's copies. */
#include "gpurt_device.h"

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
