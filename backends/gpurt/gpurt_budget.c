/* Heap budgets: what this process may still use of each heap, in the sense of Vulkan's
 * VK_EXT_memory_budget (budget includes what we already hold). */
#include <unistd.h>

#include "gpurt_device.h"
#include "gpurt_error.h"

static uint64_t host_available(void)
{
    long pages = sysconf(_SC_AVPHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
    return pages > 0 && page_size > 0 ? (uint64_t)pages * (uint64_t)page_size : 0;
}

static uint64_t at_most(uint64_t value, uint64_t limit)
{
    return value < limit ? value : limit;
}

gpumem_result gpurt_heap_budget(gpumem_backend_device *device, uint64_t *budget,
                                uint64_t *usage)
{
    gpurt_device *d = gpurt_device_of(device);
    const gpumem_memory_heap *heaps = d->properties.memory_heaps;
    gpurt_scope scope;
    size_t free_bytes = 0, total_bytes = 0;
    gpumem_result r = gpurt_enter(d, &scope);
    if (r != GPUMEM_OK)
        return r;
    gpurt_status status = d->rt->memory_info(&free_bytes, &total_bytes);
    gpurt_leave(d, &scope);
    if (status != 0)
        return gpurt_fail(d->rt, GPURT_CALL_MEMORY_INFO, status);
    /* usage holds core's count of gpumem's pages, which the runtime's free memory excludes. */
    budget[GPURT_HEAP_DEVICE] = at_most(free_bytes + usage[GPURT_HEAP_DEVICE],
                                        heaps[GPURT_HEAP_DEVICE].size);
    budget[GPURT_HEAP_HOST] = at_most(host_available() + usage[GPURT_HEAP_HOST],
                                      heaps[GPURT_HEAP_HOST].size);
    return GPUMEM_OK;
}
