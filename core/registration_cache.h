/* The registration cache (GPUMEM_REGISTRATION_CACHE=bytes, off by default): pageable host memory
 * that synchronous transfers would stage (on any number of CPUs: transfer.c) is registered with
 * the device at its first such transfer and kept registered, so that the next transfers from or
 * to it go by DMA, unstaged.
 *
 * It is safe only while gpumem hears of every free and unmap of that memory before the memory
 * goes: a registration outliving its memory would have the device read or write the pages the
 * memory had, not the ones an allocation at the same address has now. So the cache turns on only
 * where libgpumem-memhooks (gpumem/memhooks.h) is loaded and is seen to catch a free; its
 * listener ends every registration made for bytes of a range being freed or unmapped before
 * the memory goes (the runtimes key registrations by address, so one left in place would serve
 * the next memory at that address), unless a transfer still holds it (the application freed
 * memory under its own transfer: ended when the transfer lets it go). A neighbour's bytes on a
 * registration's first or last page do not end it: that page stays while it backs the
 * transfer's bytes (and the neighbour's transfers go by the CPU: gpumem_registration_cache_
 * queue_begin). A listener that finds another thread ending a registration of its bytes
 * waits for it. At most GPUMEM_REGISTRATION_CACHE bytes stay
 * registered: past that, new memory goes as without the cache; nothing is evicted, since
 * a transfer on a stream may be copying through a registration (the driver sees registered
 * memory as pinned), and only the memory's own end may end it, as it ends any memory a transfer
 * uses. Only synchronous transfers make registrations, and hold theirs until the copy is done.
 */
#ifndef GPUMEM_CORE_REGISTRATION_CACHE_H
#define GPUMEM_CORE_REGISTRATION_CACHE_H

#include "device.h"

typedef struct gpumem_cached_registration gpumem_cached_registration;

/* Whether the cache is on (set up at the first call: the variable, then the hooks). */
int gpumem_registration_cache_enabled(void);

/* A registration of the device that covers [host, host + size): one the cache holds (whose
 * pages hold the range), or with
 * `may_register` one made now; NULL when the cache is off or has none, or (making one) when the
 * budget is spent, a registration of the cache overlaps the range, or the runtime refuses (the
 * transfer then goes its usual way). The caller releases it once the transfer has finished, DMA
 * included. */
gpumem_cached_registration *gpumem_registration_cache_take(gpumem_device_obj *device,
                                                           const void *host, uint64_t size,
                                                           int may_register);
void gpumem_registration_cache_release(gpumem_cached_registration *registration); /* NULL: none */

/* A transfer between host memory [host, host + size) and the device, taking no registration of
 * the cache for itself (gpumem_registration_cache_take), calls this before it queues its copies,
 * and gpumem_registration_cache_queued once they are queued. Where a registration of the cache
 * shares a page with the range, the runtime copies the range by DMA as pinned memory, also after
 * the call returned (a transfer on a stream), through that registration. That is safe only
 * where the registration is the device's own and the range holds all of the bytes it was made
 * for: any of them going ends it (the cache cannot wait for streams inside `free`), and they go
 * under the transfer only if the application frees memory under its own transfer. Otherwise (a
 * neighbouring allocation on a shared page; a part of an array of which another part may be
 * unmapped; another device's registration, which the runtimes make portable, and which that
 * device's close ends without waiting for this device's streams; a registration being made,
 * ended or evicted, or one whose memory went while a transfer held it, which the runtime would
 * copy from and to the pages that went; with `gaps`, any: the range is an image's rows, with
 * other memory between them) the answer is 1: the transfer must copy the host's memory by the
 * CPU (staged or through a mapping), never have the runtime copy it. Until the second call, no
 * registration over the range's pages is made, so none comes under a copy being queued unseen
 * (where 64 transfers are queueing at once, the next goes by the CPU). 0 when the cache is off. */
typedef struct gpumem_queued_transfer {
    int window; /* its entry among the transfers between the two calls, plus 1; 0: none */
} gpumem_queued_transfer;
int gpumem_registration_cache_queue_begin(const gpumem_device_obj *device, const void *host,
                                          uint64_t size, int gaps,
                                          gpumem_queued_transfer *queued);
void gpumem_registration_cache_queued(gpumem_queued_transfer *queued);

/* Ends the cache's registrations of the device that share a byte with [host, host + size), for
 * the application's own registration of that memory (gpumem_host_register), which the runtime
 * would refuse over them; where there is one, after marking it (no transfer takes it or leaves a
 * copy to the runtime over it any more) and waiting for the device's streams (their queued
 * transfers may copy through it as pinned memory). 0 when one of them is in use by a
 * synchronous transfer. Call with no lock held. */
int gpumem_registration_cache_evict(gpumem_device_obj *device, const void *host, uint64_t size);

/* Ends the device's registrations (its close, when no call uses the device any more). */
void gpumem_registration_cache_drop(gpumem_device_obj *device);

typedef struct gpumem_registration_cache_stats {
    uint64_t registered_bytes; /* held now, stale ones not yet ended included */
    uint32_t registrations;
    uint64_t hits;             /* transfers that found their memory registered */
    uint64_t registered;       /* registrations made */
    uint64_t invalidated;      /* registrations whose memory was freed or unmapped */
    uint64_t evicted;          /* registrations ended for the application's own registration
                                  of their memory (gpumem_host_register) */
} gpumem_registration_cache_stats;

void gpumem_registration_cache_stats_get(gpumem_registration_cache_stats *stats);

#endif
