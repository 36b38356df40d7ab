/* A device: the top-level owner of pools and streams, on one backend. */
#ifndef GPUMEM_CORE_DEVICE_H
#define GPUMEM_CORE_DEVICE_H

#include <pthread.h>
#include <stdatomic.h>

#include "gpumem/backend.h"
#include "list.h"
#include "registry.h"
#include "staging.h"

typedef struct gpumem_stream_obj gpumem_stream_obj;

typedef struct gpumem_device_obj {
    uint64_t handle;
    const gpumem_backend_vtable *ops;
    gpumem_backend_device *native;
    gpumem_device_properties properties; /* as the backend reported them at open */
    pthread_mutex_t lock;                /* guards the lists, closing and teardowns */
    pthread_cond_t teardown_done;        /* teardowns went down */
    int closing;                         /* the device's handle ended: no new pools or streams */
    /* GPUMEM_DEVICE_OPEN_EXTERNALLY_SYNCHRONIZED: its pools' and streams' locks are not taken
     * (gpumem_lock_init). */
    int externally_synchronized;
    uint32_t teardowns;                  /* pool, stream and event destroys that still use it */
    gpumem_list pools;
    gpumem_list streams;                 /* the default stream included */
    gpumem_list events;
    gpumem_list registrations;           /* host memory registered (registration.h) */
    gpumem_stream_obj *default_stream;
    gpumem_staging staging;
    _Atomic uint64_t heap_usage[GPUMEM_MAX_MEMORY_HEAPS]; /* bytes of gpumem's pages per heap */
    /* The runtime's allocations gpumem holds (pages and staging chunks, not imports or native
     * pools' allocations), against properties.max_allocation_count. */
    _Atomic uint32_t allocations;
    /* Streams whose handle may have ended before their work was waited for: counted before a
     * stream destroy ends the handle and until the stream is freed, and for good from a close's
     * first step. A native pool's buffer destroyed on a stream whose handle has ended is freed on
     * another only while this is 0 (pool.c, frees_here). */
    _Atomic uint32_t streams_closing;
} gpumem_device_obj;

/* The device of a live handle, or the reason there is none. */
gpumem_result gpumem_device_get(gpumem_device handle, gpumem_device_obj **device);

/* A pool or stream destroy that has ended its object's handle, and goes on using the device
 * outside the read-side section (while it waits for the calls that use the object), holds the
 * device with these; closing the device waits until no teardown holds it. Device lock held. */
static inline void gpumem_device_hold(gpumem_device_obj *device)
{
    device->teardowns++;
}
void gpumem_device_release_hold(gpumem_device_obj *device); /* takes the device lock */

/* The first step of destroying a pool, stream or event: ends its handle and takes it off its
 * device's list (`link`; NULL: left there, for the destroy to take off), holding the device
 * (takes the device lock). Of two destroys at once (or a
 * destroy and the device's close), only the one that ends the handle gets 1 and goes on; the
 * device stays held until it calls gpumem_device_release_hold. */
int gpumem_device_take(gpumem_device_obj *device, uint64_t handle, gpumem_list *link);

/* Waits for the work queued on every stream of the device (takes the device lock). */
void gpumem_device_wait_streams(gpumem_device_obj *device);

/* Counts `bytes` of a page of memory type `type` in (sign 1) or out (sign -1) of its heap. */
static inline void gpumem_device_account(gpumem_device_obj *device, uint32_t type,
                                         uint64_t bytes, int sign)
{
    _Atomic uint64_t *usage = &device->heap_usage[device->properties.memory_types[type].heap_index];
    if (sign > 0)
        atomic_fetch_add_explicit(usage, bytes, memory_order_relaxed);
    else
        atomic_fetch_sub_explicit(usage, bytes, memory_order_relaxed);
}

/* Counts one more of the runtime's allocations before it is made, or refuses it with
 * GPUMEM_ERROR_LIMIT_EXCEEDED when max_allocation_count of them are held (0: no known limit;
 * Vulkan's maxMemoryAllocationCount is a valid-usage rule, not an error drivers must give). */
gpumem_result gpumem_device_allocation_take(gpumem_device_obj *device);

static inline void gpumem_device_allocation_give(gpumem_device_obj *device)
{
    atomic_fetch_sub_explicit(&device->allocations, 1, memory_order_relaxed);
}

/* The backend's optional operations where core calls them from several places, with what
 * core does when one is absent (include/gpumem/backend.h says the same). */
static inline void gpumem_device_page_unmap(gpumem_device_obj *device, gpumem_backend_page *page)
{
    if (device->ops->page_unmap) /* absent: mappings need no ending */
        device->ops->page_unmap(device->native, page);
}

static inline gpumem_result gpumem_device_stream_synchronize(gpumem_device_obj *device,
                                                             gpumem_backend_stream *stream)
{
    /* absent: every operation completed when it returned */
    return device->ops->stream_synchronize
               ? device->ops->stream_synchronize(device->native, stream)
               : GPUMEM_OK;
}

/* Flags of a memory type of the device. */
static inline uint32_t gpumem_device_type_flags(const gpumem_device_obj *device, uint32_t type)
{
    return device->properties.memory_types[type].flags;
}

#endif
