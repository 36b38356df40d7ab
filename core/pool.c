#include "pool.h"

#include <stdio.h>
#include <string.h>

#include "align.h"
#include "alloc.h"
#include "buffer.h"
#include "call.h"
#include "env.h"
#include "handles.h"
#include "hot.h"
#include "image.h"
#include "json.h"
#include "log.h"
#include "margin.h"
#include "memtype.h"
#include "pool_cache.h"
#include "stream.h"

#define POOL_KNOWN_FLAGS                                                                 \
    (GPUMEM_POOL_EXACT_MATCH | GPUMEM_POOL_MEMORY_TYPE_INDEX | GPUMEM_POOL_PERSISTENT_MAP | \
     GPUMEM_POOL_DETECT_CORRUPTION)

gpumem_result gpumem_pool_get(gpumem_pool handle, gpumem_pool_obj **pool)
{
    return gpumem_handle_get(GPUMEM_HANDLE_OF(handle), GPUMEM_HANDLE_POOL, (void **)pool);
}

void gpumem_pool_lock_on(gpumem_pool_obj *pool, gpumem_stream_obj *stream)
{
    if (pool->kind == GPUMEM_POOL_NATIVE)
        gpumem_lock_acquire(&stream->lock);
    gpumem_lock_acquire(&pool->lock);
    pool->queue = stream;
}

void gpumem_pool_unlock_on(gpumem_pool_obj *pool, gpumem_stream_obj *stream)
{
    gpumem_lock_release(&pool->lock);
    if (pool->kind == GPUMEM_POOL_NATIVE)
        gpumem_lock_release(&stream->lock);
}

void gpumem_pool_lock(gpumem_pool_obj *pool)
{
    gpumem_pool_lock_on(pool, pool->device->default_stream);
}

void gpumem_pool_unlock(gpumem_pool_obj *pool)
{
    gpumem_pool_unlock_on(pool, pool->device->default_stream);
}

void gpumem_pool_lock_arenas(gpumem_pool_obj *pool)
{
    GPUMEM_POOL_FOR_EACH_ARENA(arena, pool)
        gpumem_pool_lock(arena);
}

void gpumem_pool_unlock_arenas(gpumem_pool_obj *pool)
{
    GPUMEM_POOL_FOR_EACH_ARENA(arena, pool)
        gpumem_pool_unlock(arena);
}

/* --- pages --- */

gpumem_result gpumem_page_map(gpumem_pool_obj *pool, gpumem_page *page)
{
    gpumem_device_obj *device = pool->device;
    if (!page->host) {
        void *host = NULL;
        gpumem_result r = device->ops->page_map(device->native, page->native, &host);
        if (r != GPUMEM_OK)
            return gpumem_fail_backend(r, "page_map");
        if (!host) {
            gpumem_device_page_unmap(device, page->native);
            return gpumem_fail(GPUMEM_ERROR_BACKEND, "backend '%s': page_map gave a NULL mapping",
                               device->properties.backend);
        }
        page->host = host;
    }
    page->map_count++;
    return GPUMEM_OK;
}

void gpumem_page_unmap(gpumem_pool_obj *pool, gpumem_page *page)
{
    /* The application's memory is left unmapped as soon as gpumem does not need it. */
    if (--page->map_count == 0 &&
        (!(pool->flags & GPUMEM_POOL_PERSISTENT_MAP) || page->imported)) {
        gpumem_device_page_unmap(pool->device, page->native);
        page->host = NULL;
    }
}

/* Gives a native allocation back, as page_new took it (a paged pool's page also gives back its
 * count of the device's allocations). */
static void native_page_free(gpumem_pool_obj *pool, gpumem_backend_page *native)
{
    gpumem_device_obj *device = pool->device;
    if (pool->kind == GPUMEM_POOL_NATIVE) {
        device->ops->native_pool_free(device->native, pool->native_pool, pool->queue->native,
                                      native);
    } else {
        device->ops->page_free(device->native, native);
        gpumem_device_allocation_give(device);
    }
}

/* Counts `size` more bytes reserved by the pool's arenas together, or says why byte_limit
 * refuses them (arena lock held: the arenas count at once, so the sum is one atomic word). */
static gpumem_result limit_take(gpumem_pool_obj *pool, uint64_t size)
{
    gpumem_pool_obj *owner = pool->owner;
    uint64_t limit = owner->byte_limit;
    uint64_t held = atomic_load_explicit(&owner->reserved_together, memory_order_relaxed);
    do {
        if (limit && size > limit - held)
            return gpumem_fail(GPUMEM_ERROR_LIMIT_EXCEEDED,
                               "pool '%s' would exceed its limit of %llu bytes (%llu reserved, "
                               "%llu more needed)",
                               pool->name, (unsigned long long)limit, (unsigned long long)held,
                               (unsigned long long)size);
    } while (!atomic_compare_exchange_weak_explicit(&owner->reserved_together, &held, held + size,
                                                    memory_order_relaxed, memory_order_relaxed));
    return GPUMEM_OK;
}

/* Page ids are the owner's: unique across a pool's arenas, as dumps show them together. */
static gpumem_result take_page_id(gpumem_pool_obj *pool, gpumem_page *page)
{
    return gpumem_page_ids_take(&pool->owner->page_ids, &page->id)
               ? GPUMEM_OK
               : gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for the pool's page ids");
}

static void limit_give(gpumem_pool_obj *pool, uint64_t size)
{
    atomic_fetch_sub_explicit(&pool->owner->reserved_together, size, memory_order_relaxed);
}

GPUMEM_RARE static void page_free(gpumem_pool_obj *pool, gpumem_page *page)
{
    gpumem_device_obj *device = pool->device;
    if (page->host)
        gpumem_device_page_unmap(device, page->native);
    gpumem_list_remove(&page->link);
    if (page->tlsf)
        gpumem_page_index_remove(&pool->page_index, &page->index_entry);
    if (page->imported) {
        /* Only what page_import made goes; the memory stays the application's. */
        device->ops->page_free(device->native, page->native);
    } else {
        native_page_free(pool, page->native);
        gpumem_device_account(device, pool->memory_type, page->size, -1);
        pool->reserved_bytes -= page->size;
        limit_give(pool, page->size);
        if (pool->kind == GPUMEM_POOL_PAGED) {
            pool->page_count--;
            gpumem_log_after_call(GPUMEM_LOG_INFO,
                                  "pool '%s': page %u of %llu bytes freed; the pool reserves "
                                  "%llu bytes in %llu pages", pool->name, page->id,
                                  (unsigned long long)page->size,
                                  (unsigned long long)pool->reserved_bytes,
                                  (unsigned long long)pool->page_count);
        }
    }
    gpumem_page_ids_give(&pool->owner->page_ids, page->id);
    gpumem_tlsf_destroy(page->tlsf);
    gpumem_free(page->owners);
    gpumem_free(page);
}

/* Core relies on a page's address to place buffers in it: one that breaks the contract in
 * backend.h (a multiple of min_alignment, room for the page below 2^64) would make every offset
 * computed from it wrong, so it is refused. An imported page holds one buffer at its start, at
 * whatever address the application's memory has: only its room counts, and that it has an
 * address at all (0 says "no address" to core). */
static gpumem_result check_page_address(const gpumem_device_obj *device, uint64_t address,
                                        uint64_t size, const char *operation, int imported)
{
    uint64_t alignment = device->properties.min_alignment;
    int aligned = imported ? address != 0 : address % alignment == 0;
    if (aligned && address <= UINT64_MAX - size)
        return GPUMEM_OK;
    if (imported)
        return gpumem_fail(GPUMEM_ERROR_BACKEND,
                           "backend '%s' broke the page contract: %s gave a page of %llu bytes "
                           "at address 0x%llx, which is 0 or leaves no room for the page",
                           device->properties.backend, operation, (unsigned long long)size,
                           (unsigned long long)address);
    return gpumem_fail(GPUMEM_ERROR_BACKEND,
                       "backend '%s' broke the page contract: %s gave a page of %llu bytes at "
                       "address 0x%llx, which is not a multiple of the device's min_alignment "
                       "%llu or leaves no room for the page",
                       device->properties.backend, operation, (unsigned long long)size,
                       (unsigned long long)address, (unsigned long long)alignment);
}

/* A new page; `dedicated` NULL for a shared page, else why it is one buffer's own; `for_image`
 * an image to allocate the page for (with page_allocate_for_image, where the backend has it). */
GPUMEM_RARE static gpumem_result page_new(gpumem_pool_obj *pool, uint64_t size,
                                          const char *dedicated, gpumem_backend_image *for_image,
                                          gpumem_page **out)
{
    gpumem_device_obj *device = pool->device;
    const gpumem_device_properties *props = &device->properties;
    int native_pool = pool->kind == GPUMEM_POOL_NATIVE;
    gpumem_result r;
    if (!native_pool && size > props->max_allocation_size)
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY,
                           "%llu bytes exceed the device's largest allocation (%llu bytes)",
                           (unsigned long long)size,
                           (unsigned long long)props->max_allocation_size);
    if ((r = limit_take(pool, size)) != GPUMEM_OK)
        return r;
    if (!native_pool && (r = gpumem_device_allocation_take(device)) != GPUMEM_OK) {
        limit_give(pool, size);
        return r;
    }
    gpumem_page *page = gpumem_alloc_zeroed(1, sizeof *page);
    if (!page) {
        limit_give(pool, size);
        if (!native_pool)
            gpumem_device_allocation_give(device);
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for a page");
    }
    int image_page = for_image && device->ops->page_allocate_for_image && !native_pool;
    const char *operation = native_pool   ? "native_pool_allocate"
                            : image_page ? "page_allocate_for_image"
                                         : "page_allocate";
    r = native_pool  ? device->ops->native_pool_allocate(device->native, pool->native_pool,
                                                         pool->queue->native, size, &page->native)
        : image_page ? device->ops->page_allocate_for_image(device->native, pool->memory_type,
                                                            size, for_image, &page->native)
                     : device->ops->page_allocate(device->native, pool->memory_type, size,
                                                  &page->native);
    if (r != GPUMEM_OK) {
        gpumem_free(page);
        limit_give(pool, size);
        if (!native_pool)
            gpumem_device_allocation_give(device);
        return gpumem_fail_backend(r, operation);
    }
    /* A native allocation is ordered on the stream it was made on (pool->queue, whose lock is
     * held); one for a host's create, on the default stream, is every stream's and the host's
     * once this returns, so the host waits for the allocation (quick: core leaves no work of
     * its own queued there, follow_allocation; the application's work there, queued through
     * the stream's handle, is waited for too). A create on a stream, that one included, is
     * ordered on it and waits for nothing. */
    if (native_pool && pool->host_takes &&
        (r = gpumem_device_stream_synchronize(device, pool->queue->native)) != GPUMEM_OK)
        r = gpumem_fail_backend(r, "stream_synchronize");
    if (r == GPUMEM_OK && device->ops->page_address) {
        page->address = device->ops->page_address(device->native, page->native);
        r = check_page_address(device, page->address, size, operation, 0);
    }
    int has_id = r == GPUMEM_OK && (r = take_page_id(pool, page)) == GPUMEM_OK;
    if (r == GPUMEM_OK && !dedicated && (r = gpumem_tlsf_create(size, &page->tlsf)) != GPUMEM_OK)
        r = gpumem_fail(r, "no memory for a page's suballocator");
    if (r == GPUMEM_OK && page->tlsf &&
        (r = gpumem_page_index_add(&pool->page_index, &page->index_entry, size)) != GPUMEM_OK)
        r = gpumem_fail(r, "no memory for the pool's index of pages");
    if (r != GPUMEM_OK) {
        if (has_id)
            gpumem_page_ids_give(&pool->owner->page_ids, page->id);
        gpumem_tlsf_destroy(page->tlsf);
        native_page_free(pool, page->native);
        gpumem_free(page);
        limit_give(pool, size);
        return r;
    }
    page->size = size;
    page->alloc_stream = native_pool ? pool->queue->handle : 0;
    page->dedicated = dedicated != NULL;
    page->for_image = for_image != NULL;
    gpumem_list_push(&pool->pages, &page->link);
    gpumem_device_account(device, pool->memory_type, size, 1);
    pool->reserved_bytes += size;
    if (!native_pool) {
        pool->page_count++;
        gpumem_log_after_call(GPUMEM_LOG_INFO,
                              "pool '%s': page %u of %llu bytes allocated (%s%s); the pool "
                              "reserves %llu bytes in %llu pages", pool->name, page->id,
                              (unsigned long long)size, dedicated ? "one buffer's own: " : "shared",
                              dedicated ? dedicated : "",
                              (unsigned long long)pool->reserved_bytes,
                              (unsigned long long)pool->page_count);
    }
    if ((pool->flags & GPUMEM_POOL_PERSISTENT_MAP) &&
        (pool->memory_flags & GPUMEM_MEMORY_HOST_VISIBLE)) {
        if ((r = gpumem_page_map(pool, page)) != GPUMEM_OK) {
            page_free(pool, page);
            return r;
        }
        page->map_count = 0; /* the persistent mapping is not counted: it lives with the page */
    }
    *out = page;
    return GPUMEM_OK;
}

/* --- placement --- */

/* Why a request gets a page of its own (for the log), or NULL when it shares pages. */
static const char *wants_own_page(const gpumem_pool_obj *pool, uint64_t size, uint64_t alignment,
                                  int dedicated)
{
    if (dedicated)
        return "GPUMEM_BUFFER_DEDICATED";
    if (pool->kind == GPUMEM_POOL_NATIVE)
        return "a native pool";
    if (size > pool->page_size / 2 || alignment > pool->page_size / 2 ||
        size + alignment - 1 > pool->page_size / 2)
        return "over half a page";
    return NULL;
}

static void note_allocation(gpumem_pool_obj *pool, gpumem_page *page, uint64_t bytes)
{
    if (page->buffer_count++ == 0 && !page->dedicated)
        pool->empty_pages--;
    pool->used_bytes += bytes;
    pool->allocation_count++;
}

/* GPUMEM_ERROR_LIMIT_EXCEEDED when the page has no room (and nothing was reported). */
static gpumem_result try_page(gpumem_pool_obj *pool, gpumem_page *page, uint64_t size,
                              uint64_t alignment, gpumem_page **out,
                              gpumem_tlsf_allocation *allocation)
{
    /* Offsets are aligned within the page; where the page's own address is less aligned than
     * asked, the allocation takes `alignment` more bytes and the buffer moves up inside it.
     * Every range of a shared page starts and ends at a multiple of min_alignment (sizes are
     * rounded up to it, see gpumem_pool_place, and every alignment is at least it), so that
     * alignment needs no padding and is asked of the suballocator as none: it then finds a fit
     * in O(1) where a worst-case padding would send it looking in larger classes or on to the
     * next page (at a million live 256 B-4 KiB buffers aligned to 256, 5.6 us a pair instead of
     * 1.7-2.0 on the H200's host). */
    uint64_t misaligned = page->address & (alignment - 1);
    uint64_t min_alignment = pool->device->properties.min_alignment;
    uint64_t asked = misaligned || alignment <= min_alignment ? 1 : alignment;
    uint64_t bytes = misaligned ? size + alignment : size;
    if (asked == 1 && bytes > gpumem_page_index_room(&page->index_entry))
        return GPUMEM_ERROR_LIMIT_EXCEEDED;
    gpumem_result r = gpumem_tlsf_alloc(page->tlsf, bytes, asked, allocation);
    if (r == GPUMEM_ERROR_LIMIT_EXCEEDED) {
        if (asked == 1) /* within the room, or the test above would have returned */
            gpumem_page_index_set_room(&pool->page_index, &page->index_entry, bytes - 1);
        return r;
    }
    if (r == GPUMEM_OK && misaligned) {
        uint64_t shift = gpumem_align_up(page->address + allocation->offset, alignment) -
                         (page->address + allocation->offset);
        allocation->offset += shift;
        allocation->left_padding += shift;
    }
    if (r != GPUMEM_OK)
        return gpumem_fail(r, "no host memory for suballocation");
    note_allocation(pool, page, allocation->block_size);
    *out = page;
    return GPUMEM_OK;
}

/* A kept dedicated page (emptied by a stream-ordered free) that fits `bytes` without wasting
 * more than a quarter of them, the smallest such; never an imported one (the application's
 * memory, which it may free once the free's work is done). The caller of gpumem_pool_lock_for
 * waited for every other stream's frees, so any kept page is safe for it. */
static gpumem_page *reuse_dedicated(gpumem_pool_obj *pool, uint64_t bytes)
{
    if (!pool->parked_bytes)
        return NULL;
    gpumem_page *best = NULL;
    for (gpumem_list *n = pool->pages.next; n != &pool->pages; n = n->next) {
        gpumem_page *page = GPUMEM_CONTAINER_OF(n, gpumem_page, link);
        if (page->dedicated && !page->for_image && !page->imported && !page->buffer_count &&
            page->size >= bytes && page->size - bytes <= bytes / 4 &&
            (!best || page->size < best->size))
            best = page;
    }
    if (best)
        pool->parked_bytes -= best->size;
    return best;
}

/* Frees the arena's empty shared pages where no stream-ordered free may still use them (pool
 * lock held). */
static void free_empty_pages(gpumem_pool_obj *pool)
{
    if (!pool->empty_pages || gpumem_order_unsettled(&pool->order))
        return;
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &pool->pages) {
        gpumem_page *page = GPUMEM_CONTAINER_OF(node, gpumem_page, link);
        if (page->buffer_count == 0 && !page->dedicated) {
            pool->empty_pages--;
            page_free(pool, page);
        }
    }
}

/* A page of its own for one allocation, for `why` (logged with a new page). */
GPUMEM_RARE static gpumem_result place_dedicated(gpumem_pool_obj *pool, uint64_t size,
                                                 uint64_t alignment, const char *why,
                                                 gpumem_backend_image *for_image,
                                                 gpumem_page **out,
                                                 gpumem_tlsf_allocation *allocation)
{
    /* Pages are aligned to min_alignment; larger alignments of an address need room. */
    uint64_t min_alignment = pool->device->properties.min_alignment;
    uint64_t extra = alignment > min_alignment ? alignment - min_alignment : 0;
    /* Memory allocated for an image is exactly the image's size (Vulkan requires it of
     * dedicated allocations), and a memory object's start suits any alignment. */
    uint64_t bytes = for_image ? size : gpumem_align_up(size + extra, min_alignment);
    if (bytes < size)
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY,
                           "%llu bytes aligned to %llu do not fit memory",
                           (unsigned long long)size, (unsigned long long)alignment);
    gpumem_page *page = for_image ? NULL : reuse_dedicated(pool, bytes);
    gpumem_result r = page ? GPUMEM_OK : page_new(pool, bytes, why, for_image, &page);
    /* Destroyed buffers may hold the bytes the limit or the device needs (a page held by a
     * call that has ended since: gpumem_pool_place looks at those only now and then), and so
     * may the empty shared pages the arena keeps (max_empty_pages, and those the reclaim's
     * flush of kept buffers empties). */
    if ((r == GPUMEM_ERROR_LIMIT_EXCEEDED || r == GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY) &&
        (pool->retired_count || pool->cached_count || pool->empty_pages)) {
        gpumem_error_clear();
        gpumem_pool_reclaim(pool);
        free_empty_pages(pool);
        r = page_new(pool, bytes, why, for_image, &page);
    }
    if (r != GPUMEM_OK)
        return r;
    uint64_t shift = page->address ? gpumem_align_up(page->address, alignment) - page->address : 0;
    *allocation = (gpumem_tlsf_allocation){0, shift, shift, bytes};
    note_allocation(pool, page, bytes);
    *out = page;
    return GPUMEM_OK;
}

/* The pool's shared pages, oldest first. LIMIT_EXCEEDED when none has room.
 *
 * Oldest first packs the live buffers into the pool's first pages and leaves its newest ones to
 * drain and be freed. Trying first the page that took the last allocation (what gpumem did
 * before) spread them instead. With destroyed buffers' large ranges given back soon
 * (gpumem_pool_retire), a PyTorch training step (tests/device/replay_trace.py) peaked at 7 pages
 * of 512 MiB, against 8 before both changes, and synthetic forward/backward sequences
 * (tests/python/test_pool_growth.py) at 1.13-1.24x their live bytes, against 1.32-1.51x. A
 * full page fails in the suballocator's first bitmap test. */
static gpumem_result place_in_pages(gpumem_pool_obj *pool, uint64_t size, uint64_t alignment,
                                    gpumem_page **out, gpumem_tlsf_allocation *allocation)
{
    const gpumem_page_index_entry *entry = NULL;
    while ((entry = gpumem_page_index_find(&pool->page_index, size, entry)) != NULL) {
        gpumem_page *page = GPUMEM_CONTAINER_OF(entry, gpumem_page, index_entry);
        gpumem_result r = try_page(pool, page, size, alignment, out, allocation);
        if (r != GPUMEM_ERROR_LIMIT_EXCEEDED)
            return r;
    }
    return GPUMEM_ERROR_LIMIT_EXCEEDED;
}

static int retired_pages_due(gpumem_pool_obj *pool);

gpumem_result gpumem_pool_place(gpumem_pool_obj *pool, uint64_t size, uint64_t alignment,
                                const gpumem_placement *want, gpumem_page **out,
                                gpumem_tlsf_allocation *allocation)
{
    if (retired_pages_due(pool)) /* a large page waits for calls that raced with its destroy */
        gpumem_pool_reclaim(pool);
    const char *own = want->for_image ? "an image's own memory (a dedicated allocation)"
                                      : wants_own_page(pool, size, alignment, want->dedicated);
    if (own)
        return place_dedicated(pool, size, alignment, own, want->for_image, out, allocation);
    if (pool->cache_frontier) /* its room may serve this request (pool_cache.h) */
        gpumem_pool_cache_free_frontier(pool);
    /* Whole units of min_alignment in shared pages (see try_page). */
    uint64_t unit = pool->device->properties.min_alignment;
    if (size > UINT64_MAX - (unit - 1))
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY, "%llu bytes do not fit memory",
                           (unsigned long long)size);
    size = gpumem_align_up(size, unit);
    gpumem_result r = place_in_pages(pool, size, alignment, out, allocation);
    /* Before a new page: the room of destroyed buffers that no call uses any more, kept ones
     * included (pool_cache.h), then the size unrounded. */
    if (r == GPUMEM_ERROR_LIMIT_EXCEEDED && (pool->retired_count || pool->cached_count)) {
        gpumem_pool_reclaim(pool);
        r = place_in_pages(pool, size, alignment, out, allocation);
    }
    if (r == GPUMEM_ERROR_LIMIT_EXCEEDED && want->unrounded &&
        gpumem_align_up(want->unrounded, unit) < size)
        r = place_in_pages(pool, gpumem_align_up(want->unrounded, unit), alignment, out,
                           allocation);
    if (r != GPUMEM_ERROR_LIMIT_EXCEEDED)
        return r;
    gpumem_page *page;
    if ((r = page_new(pool, pool->page_size, NULL, NULL, &page)) != GPUMEM_OK)
        return r;
    pool->empty_pages++;
    r = try_page(pool, page, size, alignment, out, allocation);
    if (r != GPUMEM_OK) {
        pool->empty_pages--;
        page_free(pool, page);
        if (r == GPUMEM_ERROR_LIMIT_EXCEEDED)
            r = gpumem_fail(r, "%llu bytes aligned to %llu do not fit a new page",
                            (unsigned long long)size, (unsigned long long)alignment);
    }
    return r;
}

/* The buffers of one pool never share bytes (the address index relies on it): imported memory
 * must not overlap a page the pool holds, where its own buffers are or may be placed, nor
 * another import that is still alive. An import's page kept after its buffer went (parked)
 * holds no buffer and never will. */
/* Every arena's pages (their locks held: gpumem_pool_lock_arenas). */
static gpumem_result check_overlap(gpumem_pool_obj *pool, uint64_t address, uint64_t size)
{
    GPUMEM_POOL_FOR_EACH_ARENA(arena, pool->owner) {
        for (const gpumem_list *n = arena->pages.next; n != &arena->pages; n = n->next) {
            const gpumem_page *page = GPUMEM_CONTAINER_OF(n, gpumem_page, link);
            if (page->imported && !page->buffer_count)
                continue;
            if (address < page->address + page->size && page->address < address + size)
                return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                                   "the range [0x%llx, +%llu) overlaps %s page %u of pool '%s' "
                                   "([0x%llx, +%llu)); a pool's buffers never share bytes",
                                   (unsigned long long)address, (unsigned long long)size,
                                   page->imported ? "the imported" : "the pool's own",
                                   page->id, pool->name, (unsigned long long)page->address,
                                   (unsigned long long)page->size);
        }
    }
    return GPUMEM_OK;
}

gpumem_result gpumem_pool_import(gpumem_pool_obj *pool, const gpumem_import_desc *desc,
                                 gpumem_page **out)
{
    gpumem_device_obj *device = pool->device;
    if (pool->retired_pages) /* an import that raced with its destroy may hold the range */
        gpumem_pool_reclaim(pool);
    gpumem_page *page = gpumem_alloc_zeroed(1, sizeof *page);
    if (!page)
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for a page");
    gpumem_result r = device->ops->page_import(device->native, pool->memory_type, desc,
                                               &page->native);
    if (r != GPUMEM_OK) {
        gpumem_free(page);
        return gpumem_fail_backend(r, "page_import");
    }
    if (device->ops->page_address) {
        page->address = device->ops->page_address(device->native, page->native);
        r = check_page_address(device, page->address, desc->size, "page_import", 1);
        if (r == GPUMEM_OK)
            r = check_overlap(pool, page->address, desc->size);
    }
    if (r == GPUMEM_OK) /* last: nothing after it fails */
        r = take_page_id(pool, page);
    if (r != GPUMEM_OK) {
        device->ops->page_free(device->native, page->native);
        gpumem_free(page);
        return r;
    }
    page->size = desc->size;
    page->dedicated = 1;
    page->imported = 1;
    page->import_offset = desc->offset;
    gpumem_list_push(&pool->pages, &page->link);
    note_allocation(pool, page, desc->size);
    *out = page;
    return GPUMEM_OK;
}

void gpumem_pool_unplace(gpumem_pool_obj *pool, gpumem_page *page, uint64_t tlsf_handle)
{
    if (page->tlsf) {
        /* A free range larger than the page's room raises it (page_index.h). */
        uint64_t free_range = gpumem_tlsf_free_merged(page->tlsf, tlsf_handle);
        if (free_range > gpumem_page_index_room(&page->index_entry))
            gpumem_page_index_set_room(&pool->page_index, &page->index_entry, free_range);
    }
    if (--page->buffer_count)
        return;
    int unwanted = page->dedicated || ++pool->empty_pages > pool->max_empty_pages;
    if (!unwanted)
        return;
    if (gpumem_order_unsettled(&pool->order)) {
        pool->pages_parked = 1; /* work freed in stream order may still use it */
        if (page->dedicated && !page->imported) /* reusable (reuse_dedicated) */
            pool->parked_bytes += page->size;
        return;
    }
    if (!page->dedicated)
        pool->empty_pages--;
    page_free(pool, page);
}

/* Releases the native objects of the records kept while stream-ordered frees were unsettled
 * (pool lock held; their work is done). */
static void release_parked_records(gpumem_pool_obj *pool)
{
    gpumem_device_obj *device = pool->device;
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &pool->parked_records) {
        gpumem_buffer_obj *b = GPUMEM_CONTAINER_OF(node, gpumem_buffer_obj, link);
        gpumem_list_remove(&b->link);
        device->ops->native_buffer_release(device->native, b->native);
        b->native = NULL;
        gpumem_pool_record_give(pool, b);
    }
    pool->parked_record_count = 0;
}

/* Frees the pages and native objects kept while stream-ordered frees were unsettled (pool lock
 * held). */
static void release_parked(gpumem_pool_obj *pool)
{
    if ((!pool->pages_parked && !pool->parked_record_count) ||
        gpumem_order_unsettled(&pool->order))
        return;
    release_parked_records(pool); /* before the memory they are bound to may go */
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &pool->pages) {
        gpumem_page *page = GPUMEM_CONTAINER_OF(node, gpumem_page, link);
        if (page->buffer_count)
            continue;
        if (page->dedicated) {
            page_free(pool, page);
        } else if (pool->empty_pages > pool->max_empty_pages) {
            pool->empty_pages--;
            page_free(pool, page);
        }
    }
    pool->pages_parked = 0;
    pool->parked_bytes = 0;
}

/* The waits `taker` owes (NULL: the host), done with the pool's lock let go; then noted. */
GPUMEM_RARE static gpumem_result wait_for_frees(gpumem_pool_obj *pool,
                                                gpumem_stream_obj *taker,
                                                const gpumem_order_wait *waits, uint32_t count)
{
    int on_host[GPUMEM_ORDER_SLOTS];
    for (uint32_t i = 0; i < count; i++) {
        gpumem_result r = gpumem_stream_follow(pool->device, taker, waits[i].stream, &on_host[i]);
        if (r != GPUMEM_OK)
            return r;
    }
    gpumem_lock_acquire(&pool->lock);
    for (uint32_t i = 0; i < count; i++) /* a wait on the host settles the frees for all */
        gpumem_order_waited(&pool->order, on_host[i] ? 0 : taker->handle, waits[i]);
    release_parked(pool);
    gpumem_lock_release(&pool->lock);
    return GPUMEM_OK;
}

gpumem_result gpumem_pool_lock_for(gpumem_pool_obj *pool, gpumem_stream_obj *taker)
{
    if (pool->kind == GPUMEM_POOL_NATIVE) { /* whose lock takes the stream's */
        gpumem_result held =
            gpumem_stream_check_not_held(taker ? taker : pool->device->default_stream);
        if (held != GPUMEM_OK)
            return held;
    }
    for (;;) {
        gpumem_pool_lock_on(pool, taker ? taker : pool->device->default_stream);
        pool->host_takes = taker == NULL;
        uint64_t t = pool->order.frees ? gpumem_order_track(&pool->order,
                                                            taker ? taker->handle : 0)
                                       : 0;
        gpumem_order_wait waits[GPUMEM_ORDER_SLOTS];
        uint32_t count = gpumem_order_waits(&pool->order, t, waits);
        /* Many kept dedicated pages: a stream's allocation settles them rather than let them
         * pile up (kept pages are reused, and otherwise wait for trim or a host's create). */
        if (!count && t &&
            (pool->parked_bytes >= GPUMEM_POOL_KEPT_PAGES * pool->page_size ||
             pool->parked_record_count >= GPUMEM_POOL_KEPT_OBJECTS))
            count = gpumem_order_waits(&pool->order, t = 0, waits);
        if (!count)
            return GPUMEM_OK;
        gpumem_lock_release(&pool->lock); /* paged pools: the pool's lock alone */
        gpumem_result r = wait_for_frees(pool, t ? taker : NULL, waits, count);
        if (r != GPUMEM_OK)
            return r;
    }
}

/* --- buffer records, retiring and reclaiming --- */

gpumem_buffer_obj *gpumem_pool_record_take(gpumem_pool_obj *pool)
{
    if (gpumem_list_empty(&pool->spare_records)) {
        gpumem_buffer_obj *b =
            gpumem_alloc_aligned(_Alignof(gpumem_buffer_obj), sizeof(gpumem_buffer_obj));
        if (b) /* record_give frees the name; the rest is set when it is placed */
            b->name = NULL, b->image = NULL, b->free_stream = 0;
        return b;
    }
    gpumem_list *node = pool->spare_records.next;
    gpumem_list_remove(node);
    pool->spare_count--;
    return GPUMEM_CONTAINER_OF(node, gpumem_buffer_obj, link);
}

void gpumem_pool_record_give(gpumem_pool_obj *pool, gpumem_buffer_obj *b)
{
    if (b->name) { /* most buffers have none: no call to the allocator for them */
        gpumem_free(b->name);
        b->name = NULL;
    }
    if (pool->spare_count == GPUMEM_POOL_SPARE_RECORDS) {
        gpumem_free(b);
        return;
    }
    gpumem_list_push(&pool->spare_records, &b->link);
    pool->spare_count++;
}

void gpumem_pool_buffer_free(gpumem_pool_obj *pool, gpumem_buffer_obj *b)
{
    gpumem_device_obj *device = pool->device;
    gpumem_list_remove(&b->link);
    gpumem_buffer_index_drop(pool, b);
    for (uint32_t n = gpumem_buffer_map_count(b); n; n--)
        gpumem_page_unmap(pool, b->page);
    gpumem_buffer_set_map_count(b, 0);
    /* Work queued on a stream before a destroy on it may still use the native object: while
     * such frees are unsettled, the object waits with the parked pages (release_parked). */
    int park = 0;
    if (b->native && device->ops->native_buffer_release) {
        park = gpumem_order_unsettled(&pool->order);
        if (!park)
            device->ops->native_buffer_release(device->native, b->native);
    }
    gpumem_image_free(device, b->image); /* before its memory may go */
    b->image = NULL;
    gpumem_pool_unplace(pool, b->page, b->tlsf_handle);
    if (park) {
        gpumem_list_push(&pool->parked_records, &b->link);
        pool->parked_record_count++;
        return;
    }
    gpumem_pool_record_give(pool, b);
}

void gpumem_pool_detach(gpumem_pool_obj *pool, gpumem_buffer_obj *b)
{
    /* On a thread alone (gpumem_epoch_alone), whether the reuse cache keeps the buffer
     * (gpumem_tlsf_borders_free) or its range is freed, the page's suballocator record of it
     * is read soon: fetched from here, that cache miss overlaps the detach's own (the
     * neighbours in the pool's list) and the keep's first reads (its page's counts, its bin's)
     * instead of following them. Beside other threads the buffer waits for a batch and the
     * fetch is wasted, which costs little. Fetched earlier, before the handle ends, it made
     * the pool trace slower (docs/performance.md, "Sixty-first session"). */
    if (b->tlsf_handle)
        gpumem_tlsf_prefetch(b->page->tlsf, b->tlsf_handle);
    if (gpumem_margin_check(b, "gpumem_buffer_destroy") != GPUMEM_OK)
        gpumem_error_clear(); /* logged; the destroy itself succeeds */
    gpumem_list_remove(&b->link);
    gpumem_buffer_unfind(b);
    pool->used_bytes -= b->block_size;
    pool->allocation_count--;
    /* The application's mappings end with the buffer; the page stays mapped for calls in
     * flight only through their own (internal) mappings. */
    for (uint32_t n = gpumem_buffer_map_count(b); n; n--)
        gpumem_page_unmap(pool, b->page);
    gpumem_buffer_set_map_count(b, 0);
}

/* Retired buffers a pool keeps before it frees a batch (see GPUMEM_POOL_RETIRE_BATCH_SHARED):
 * with several threads, so that the barriers the batches cost (each interrupts every running
 * thread of the process) come rarely for each of them, however many there are. */
static uint32_t retire_batch(void)
{
    uint32_t threads = gpumem_epoch_threads();
    if (threads <= 1)
        return GPUMEM_POOL_RETIRE_BATCH;
    if (threads > GPUMEM_POOL_RETIRE_BATCH_THREADS)
        threads = GPUMEM_POOL_RETIRE_BATCH_THREADS;
    return GPUMEM_POOL_RETIRE_BATCH_SHARED * threads;
}

/* Starts a new count of what is retired before the next reclaim. */
static void restart_retire_counts(gpumem_pool_obj *pool)
{
    pool->retired_since_count = 0;
    pool->retired_since_bytes = 0;
}

/* A detached buffer that no call can reach: kept by the reuse cache where it takes it (never one
 * with a native object of its own: the next create of its size would not want its object; such
 * a record's cache_bin says so), else freed. */
static void free_unkept(gpumem_pool_obj *pool, gpumem_buffer_obj *b)
{
    gpumem_pool_cache_leave_page(pool, b);
    gpumem_pool_buffer_free(pool, b);
}

static void keep_or_free(gpumem_pool_obj *pool, gpumem_buffer_obj *b)
{
    if (!gpumem_pool_cache_keep(pool, b))
        free_unkept(pool, b);
}

int gpumem_pool_retire(gpumem_pool_obj *pool, gpumem_buffer_obj *b)
{
    gpumem_pool_detach(pool, b);
    /* No other thread holds an epoch record: no call but this thread's can have found the
     * buffer before its handle ended, none can find it after (a thread that registers later
     * fences after counting itself, gpumem_epoch_register), and this thread's own calls are not
     * nested in a destroy (gpumem_record_destroy refuses a log callback's). Then nothing waits
     * for a barrier: the buffer is kept whole for the next create of its size, or its range
     * goes back to the suballocator now, where the next create may take it (a native pool's
     * buffer destroyed on a stream is freed on it: this call holds that stream, pool->queue).
     * A buffer with a native object of its own (gpumem_buffer_native) is not kept whole: the
     * next create of its size would not want its object; that object waits for stream-ordered
     * work where it must (gpumem_pool_buffer_free). What is retired waits for a batch, kept
     * or freed once a barrier proves that no call reaches it (gpumem_pool_reclaim_below). */
    if (__builtin_expect(gpumem_epoch_alone(), 1)) {
        keep_or_free(pool, b);
        /* What was retired while other threads made calls goes at a batch of destroys alone
         * (not at each: some may wait for a stream's work, frees_here), pages of their own at
         * the next. */
        if (__builtin_expect(pool->retired_count > pool->on_stream_count, 0) &&
            (pool->retired_pages || ++pool->retired_since_count >= GPUMEM_POOL_RETIRE_BATCH)) {
            restart_retire_counts(pool);
            return 1;
        }
        return 0;
    }
    b->retired_at = gpumem_epoch_stamp();
    gpumem_list_push(&pool->retired, &b->link);
    pool->retired_pages += b->page->dedicated;
    pool->retired_bytes += b->block_size;
    pool->retired_count++;
    pool->retired_since_count++;
    pool->retired_since_bytes += b->block_size;
    /* A page of its own is worth giving back at once; small buffers wait for a batch, large
     * ones hardly: while a range is held back, later allocations are placed around it, which
     * scatters the pages' free room (see place_in_pages). Counted since the last reclaim, not
     * in all: while a call runs long (or its thread waits for a core), what was retired since
     * it began stays, and trying again at every destroy would cost a barrier each time. */
    int due = pool->retired_pages > pool->held_pages ||
              pool->retired_since_bytes >= pool->page_size / GPUMEM_POOL_RETIRE_PAGE_FRACTION;
    if (!due) {
        if (pool->retired_since_count < retire_batch())
            return 0;
        /* When several threads retire, what the others' barriers have proved frees most
         * batches: a barrier of this thread's own only when that freed nothing. */
        if (gpumem_pool_reclaim_below(pool, gpumem_epoch_known_safe(), 1)) {
            pool->retired_since_count = 0;
            return 0;
        }
    }
    restart_retire_counts(pool);
    return 1;
}

/* A native buffer is freed on the stream its destroy chose (the default one for the host's),
 * which has followed the stream it was allocated on: by a section that holds that stream
 * (pool->queue), or by any once the stream is gone: its handle ended, and its work waited for
 * (no stream of the device is between the two, device.h). */
static int frees_here(const gpumem_pool_obj *pool, const gpumem_buffer_obj *b)
{
    gpumem_stream_obj *stream;
    if (!b->free_stream || b->free_stream == pool->queue->handle)
        return 1;
    if (gpumem_stream_get((gpumem_stream)(uintptr_t)b->free_stream, &stream) == GPUMEM_OK)
        return 0;
    gpumem_error_clear();
    return atomic_load(&pool->device->streams_closing) == 0;
}

/* A retired buffer that no call can reach any more and that is off retired_pages, off its
 * list: kept or freed. */
static void release_retired(gpumem_pool_obj *pool, gpumem_buffer_obj *b, int keep)
{
    pool->retired_count--;
    pool->retired_bytes -= b->block_size;
    if (keep) {
        gpumem_list_remove(&b->link); /* off its list, for the cache's bin */
        keep_or_free(pool, b);
    } else {
        free_unkept(pool, b);
    }
}

/* A retired buffer that no call can reach any more, off its list: kept or freed. */
static void give_back(gpumem_pool_obj *pool, gpumem_buffer_obj *b, int keep)
{
    pool->retired_pages -= b->page->dedicated;
    release_retired(pool, b, keep);
}

/* A retired buffer that no call reaches, off its list (retired; held, its held_pages already
 * taken off), to wait for its stream (pool->on_streams). */
static void wait_for_stream(gpumem_pool_obj *pool, gpumem_buffer_obj *b)
{
    pool->retired_pages -= b->page->dedicated;
    gpumem_list_remove(&b->link);
    gpumem_list_push(&pool->on_streams, &b->link);
    pool->on_stream_count++;
}

/* Frees (or keeps) the buffers of pool->on_streams that this section may free (frees_here). */
static uint32_t free_on_streams(gpumem_pool_obj *pool, int keep)
{
    uint32_t freed = 0;
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &pool->on_streams) {
        gpumem_buffer_obj *b = GPUMEM_CONTAINER_OF(node, gpumem_buffer_obj, link);
        if (!frees_here(pool, b))
            continue;
        pool->on_stream_count--;
        release_retired(pool, b, keep);
        freed++;
    }
    return freed;
}

/* Notes `epoch` among those of calls that hold retired buffers (pool->held_by). */
static void note_held_by(gpumem_pool_obj *pool, uint64_t epoch)
{
    uint32_t n = pool->held_by_count;
    if (n > GPUMEM_POOL_HELD_EPOCHS)
        return;
    uint32_t i = gpumem_epoch_lower_bound(pool->held_by, n, epoch);
    if (i < n && pool->held_by[i] == epoch)
        return;
    if (n == GPUMEM_POOL_HELD_EPOCHS) {
        pool->held_by_count = n + 1; /* too many to name: look at them all from now on */
        return;
    }
    memmove(&pool->held_by[i + 1], &pool->held_by[i], (n - i) * sizeof pool->held_by[0]);
    pool->held_by[i] = epoch;
    pool->held_by_count = n + 1;
}

/* 0 when no held buffer can go at this reclaim, by the rules reclaim applies to each: every one
 * was found reached by a call of held_by, and stamped at or above its epoch. With births, it
 * stays while that call is among the snapshot's (which puts the bound at or below its epoch);
 * by the bound alone, while the oldest of them is at or above the bound. */
static int held_may_go(const gpumem_pool_obj *pool, uint64_t safe,
                       const gpumem_epoch_snapshot *snapshot)
{
    if (gpumem_list_empty(&pool->held))
        return 0;
    uint32_t n = pool->held_by_count;
    if (n == 0 || n > GPUMEM_POOL_HELD_EPOCHS || pool->held_by[n - 1] == UINT64_MAX)
        return 1;
    if (!snapshot || !snapshot->complete)
        return pool->held_by[0] < safe;
    /* Both sorted: one walk. */
    for (uint32_t i = 0, j = 0; i < n; i++, j++) {
        while (j < snapshot->count && snapshot->epochs[j] < pool->held_by[i])
            j++;
        if (j == snapshot->count || snapshot->epochs[j] != pool->held_by[i])
            return 1;
    }
    return 0;
}

/* Whether a create should reclaim first for retired buffers with pages of their own: for one
 * not yet looked at, or one held by calls of which the oldest has ended by the bound other
 * threads' barriers published, or else at one create in GPUMEM_POOL_HELD_PAGE_LOOKS (only
 * barriers raise that bound: a thread that only creates would keep the page until a trim).
 * Not at every create: while a long call holds a large buffer, each would take a barrier. */
static int retired_pages_due(gpumem_pool_obj *pool)
{
    if (pool->retired_pages > pool->held_pages)
        return 1;
    if (!pool->held_pages)
        return 0;
    return held_may_go(pool, gpumem_epoch_known_safe(), NULL) ||
           ++pool->held_page_creates % GPUMEM_POOL_HELD_PAGE_LOOKS == 0;
}

/* Frees (or keeps, pool_cache.h) the retired buffers that no call can reach: those stamped below
 * `safe`, and with a complete snapshot of the calls in progress, those stamped before its
 * barrier that no call of it reaches (births, epoch.h); those a call reaches go to pool->held. */
static uint32_t reclaim(gpumem_pool_obj *pool, uint64_t safe, int keep,
                        const gpumem_epoch_snapshot *snapshot)
{
    int births = snapshot && snapshot->complete;
    uint32_t freed = pool->on_stream_count ? free_on_streams(pool, keep) : 0;
    if (gpumem_list_empty(&pool->held))
        pool->held_by_count = 0; /* emptied by a reclaim without births, which notes nothing */
    else if (held_may_go(pool, safe, snapshot)) {
        if (births)
            pool->held_by_count = 0; /* noted again for those that stay */
        GPUMEM_LIST_FOR_EACH_SAFE(node, next, &pool->held) {
            gpumem_buffer_obj *b = GPUMEM_CONTAINER_OF(node, gpumem_buffer_obj, link);
            /* UINT64_MAX: waits for what this reclaim cannot tell (a later one looks again):
             * with births, a stamp after this snapshot's barrier (a reclaim whose barrier came
             * later held it). */
            uint64_t by = b->retired_at < safe                 ? 0
                          : !births                            ? UINT64_MAX
                          : b->retired_at >= snapshot->next    ? UINT64_MAX
                          : gpumem_epoch_snapshot_reaches(snapshot, b->born_at, b->retired_at);
            if (!by) {
                pool->held_pages -= b->page->dedicated;
                if (frees_here(pool, b)) {
                    give_back(pool, b, keep);
                    freed++;
                } else {
                    wait_for_stream(pool, b);
                }
            } else if (births) {
                note_held_by(pool, by);
            }
        }
    }
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &pool->retired) {
        gpumem_buffer_obj *b = GPUMEM_CONTAINER_OF(node, gpumem_buffer_obj, link);
        if (b->retired_at >= safe) {
            /* Stamps grow along the list: the rest are younger still. Those stamped after the
             * snapshot's barrier may be reached by calls it did not see. */
            if (!births || b->retired_at >= snapshot->next)
                break;
            uint64_t by = gpumem_epoch_snapshot_reaches(snapshot, b->born_at, b->retired_at);
            if (by) {
                gpumem_list_remove(&b->link);
                gpumem_list_push(&pool->held, &b->link);
                pool->held_pages += b->page->dedicated;
                note_held_by(pool, by);
                continue;
            }
        }
        if (!frees_here(pool, b)) {
            wait_for_stream(pool, b);
            continue;
        }
        give_back(pool, b, keep);
        freed++;
    }
    return freed;
}

uint32_t gpumem_pool_reclaim_below(gpumem_pool_obj *pool, uint64_t safe, int keep)
{
    return reclaim(pool, safe, keep, NULL);
}

uint32_t gpumem_pool_reclaim_unreached(gpumem_pool_obj *pool, uint64_t safe,
                                       const gpumem_epoch_snapshot *snapshot)
{
    return reclaim(pool, safe, 1, snapshot);
}

/* The record a reclaim may leave out of its bound: the caller's own, unless its call runs in a
 * log callback, inside a call of the same thread that may be using buffers of the pool. */
static const gpumem_epoch_record *reclaimer(void)
{
    const gpumem_thread *t = &gpumem_this_thread;
    return t->depth > 1 ? NULL : t->record;
}

/* Frees what no call in progress can reach, by the epochs of the calls at one barrier (their
 * births, as a destroy's batch does): a young buffer is freed while another thread, out of its
 * core in the middle of a call, holds back only what is older than its call. So a create short
 * of room, a trim or the statistics do not come short for buffers that are free in all but
 * name. */
static void reclaim_all(gpumem_pool_obj *pool, uint64_t safe, const gpumem_epoch_snapshot *calls)
{
    gpumem_pool_cache_flush(pool); /* no call reaches kept buffers: no barrier for them */
    restart_retire_counts(pool);
    reclaim(pool, safe, 0, calls);
}

GPUMEM_RARE void gpumem_pool_reclaim(gpumem_pool_obj *pool)
{
    gpumem_epoch_snapshot calls;
    uint64_t safe = gpumem_epoch_oldest_snapshot(reclaimer(), &calls);
    reclaim_all(pool, safe, &calls);
}

void gpumem_pool_lock_arenas_reclaimed(gpumem_pool_obj *pool)
{
    gpumem_pool_lock_arenas(pool);
    int retired = 0;
    GPUMEM_POOL_FOR_EACH_ARENA(arena, pool) {
        gpumem_pool_cache_flush(arena); /* no call reaches kept buffers: no barrier for them */
        retired |= arena->retired_count != 0;
    }
    if (!retired)
        return;
    gpumem_pool_unlock_arenas(pool);
    gpumem_epoch_snapshot calls; /* one barrier for all */
    uint64_t safe = gpumem_epoch_oldest_snapshot(reclaimer(), &calls);
    gpumem_pool_lock_arenas(pool);
    /* Other threads' batches may have been kept while the locks were let go. */
    GPUMEM_POOL_FOR_EACH_ARENA(arena, pool)
        reclaim_all(arena, safe, &calls);
}

/* --- creation --- */

static gpumem_result check_desc(const gpumem_device_obj *device, const gpumem_pool_desc *d)
{
    const gpumem_device_properties *p = &device->properties;
    if (d->kind != GPUMEM_POOL_PAGED && d->kind != GPUMEM_POOL_NATIVE)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "unknown pool kind %u", d->kind);
    if (d->flags & ~(uint32_t)POOL_KNOWN_FLAGS)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "unknown flags 0x%x in desc->flags",
                           d->flags & ~(uint32_t)POOL_KNOWN_FLAGS);
    if ((d->required_flags | d->preferred_flags) & ~(uint32_t)GPUMEM_MEMORY_FLAGS_ALL)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "unknown memory flags 0x%x",
                           (d->required_flags | d->preferred_flags) &
                               ~(uint32_t)GPUMEM_MEMORY_FLAGS_ALL);
    if ((d->flags & GPUMEM_POOL_MEMORY_TYPE_INDEX) && d->memory_type_index >= p->memory_type_count)
        return gpumem_fail(GPUMEM_ERROR_NOT_FOUND,
                           "memory type %u does not exist (the device has %u)",
                           d->memory_type_index, p->memory_type_count);
    if (d->page_size > p->max_allocation_size)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                           "page size %llu exceeds the device's largest allocation (%llu)",
                           (unsigned long long)d->page_size,
                           (unsigned long long)p->max_allocation_size);
    if (d->kind == GPUMEM_POOL_NATIVE && (!device->ops->native_pool_create || !p->native_pools))
        return gpumem_fail(GPUMEM_ERROR_UNSUPPORTED,
                           "backend '%s' has no native pools on this device", p->backend);
    if (d->arena_count > GPUMEM_POOL_MAX_ARENAS)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                           "arena_count %u exceeds GPUMEM_POOL_MAX_ARENAS (%u)", d->arena_count,
                           GPUMEM_POOL_MAX_ARENAS);
    if (d->kind == GPUMEM_POOL_NATIVE && d->arena_count > 1)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                           "arena_count %u: native pools have one arena (the runtime's pool "
                           "takes threads itself)",
                           d->arena_count);
    return GPUMEM_OK;
}

static gpumem_result choose_type(const gpumem_device_obj *device, const gpumem_pool_desc *d,
                                 uint64_t page_size, uint32_t *type)
{
    if (d->flags & GPUMEM_POOL_MEMORY_TYPE_INDEX) {
        *type = d->memory_type_index;
        return GPUMEM_OK;
    }
    uint32_t exact = (d->flags & GPUMEM_POOL_EXACT_MATCH) ? GPUMEM_MEMORY_TYPE_EXACT : 0;
    if (gpumem_memtype_choose(&device->properties, d->required_flags, d->preferred_flags, exact,
                              page_size, type))
        return GPUMEM_OK;
    return gpumem_fail(GPUMEM_ERROR_NOT_FOUND,
                       "no memory type has the required flags 0x%x%s with a heap of at least "
                       "%llu bytes",
                       d->required_flags, exact ? " exactly" : "", (unsigned long long)page_size);
}

/* Copies a name, cut at a character boundary so that a long UTF-8 name stays valid. */
static void copy_name(char *out, size_t size, const char *name)
{
    size_t n = gpumem_utf8_cut(name, size);
    memcpy(out, name, n);
    out[n] = '\0';
}

static gpumem_result pool_init(gpumem_pool_obj *pool, gpumem_device_obj *device,
                               const gpumem_pool_desc *d)
{
    const gpumem_device_properties *p = &device->properties;
    pool->device = device;
    pool->owner = pool;
    pool->self = pool;
    gpumem_page_ids_init(&pool->page_ids, device->externally_synchronized);
    pool->arenas = &pool->self;
    pool->arena_count = 1;
    pool->kind = d->kind;
    pool->flags = d->flags;
    pool->page_size = gpumem_align_up(d->page_size ? d->page_size : GPUMEM_DEFAULT_PAGE_SIZE,
                               p->min_alignment);
    if (pool->page_size > p->max_allocation_size)
        pool->page_size = p->max_allocation_size & ~(p->min_alignment - 1);
    pool->byte_limit = d->byte_limit;
    pool->release_threshold = d->release_threshold;
    pool->max_empty_pages = d->max_empty_pages ? d->max_empty_pages : 1;
    copy_name(pool->name, sizeof pool->name, d->name ? d->name : "pool");
    gpumem_list_init(&pool->pages);
    gpumem_list_init(&pool->buffers);
    gpumem_list_init(&pool->retired);
    gpumem_list_init(&pool->held);
    gpumem_list_init(&pool->on_streams);
    gpumem_list_init(&pool->parked_records);
    gpumem_list_init(&pool->spare_records);
    gpumem_result r = choose_type(device, d, pool->kind == GPUMEM_POOL_PAGED ? pool->page_size
                                                                              : 1,
                                  &pool->memory_type);
    if (r != GPUMEM_OK)
        return r;
    pool->memory_flags = p->memory_types[pool->memory_type].flags;
    /* The environment asks for margins wherever they can be; the flag asks for them here. */
    if (gpumem_env_detect_corruption() && pool->kind == GPUMEM_POOL_PAGED &&
        (pool->memory_flags & GPUMEM_MEMORY_HOST_VISIBLE))
        pool->flags |= GPUMEM_POOL_DETECT_CORRUPTION;
    if ((pool->flags & GPUMEM_POOL_DETECT_CORRUPTION) &&
        (pool->kind != GPUMEM_POOL_PAGED || !(pool->memory_flags & GPUMEM_MEMORY_HOST_VISIBLE)))
        return gpumem_fail(GPUMEM_ERROR_UNSUPPORTED,
                           "GPUMEM_POOL_DETECT_CORRUPTION needs a paged pool of host-visible "
                           "memory; memory type %u is not host-visible",
                           pool->memory_type);
    if (pool->kind == GPUMEM_POOL_NATIVE) {
        r = device->ops->native_pool_create(device->native, pool->memory_type,
                                            pool->release_threshold, &pool->native_pool);
        if (r != GPUMEM_OK)
            return gpumem_fail_backend(r, "native_pool_create");
    }
    return gpumem_pool_cache_init(pool);
}

/* A zeroed pool record, on the boundary its lock needs. */
static gpumem_pool_obj *pool_alloc(void)
{
    gpumem_pool_obj *pool = gpumem_alloc_aligned(_Alignof(gpumem_pool_obj), sizeof *pool);
    if (pool)
        memset(pool, 0, sizeof *pool);
    return pool;
}

/* Frees what pool_init made. */
static void pool_discard(gpumem_pool_obj *pool)
{
    gpumem_device_obj *device = pool->device;
    if (pool->native_pool)
        device->ops->native_pool_destroy(device->native, pool->native_pool);
    gpumem_pool_cache_fini(pool);
    gpumem_page_index_free(&pool->page_index);
    gpumem_page_ids_destroy(&pool->page_ids);
    gpumem_free(pool);
}

/* Frees the arenas beside the first that arenas_create made (they hold nothing yet). */
static void arenas_discard(gpumem_pool_obj *pool)
{
    if (pool->arenas == &pool->self)
        return;
    for (uint32_t k = 1; k < pool->arena_count; k++)
        pool_discard(pool->arenas[k]);
    gpumem_free(pool->arenas);
    pool->arenas = &pool->self;
    pool->arena_count = 1;
}

/* The pool's arenas (desc->arena_count > 1): pools made from the same description, each with
 * its own lock, and no handle. The pool itself is the first. */
static gpumem_result arenas_create(gpumem_pool_obj *pool, const gpumem_pool_desc *d)
{
    if (d->arena_count <= 1)
        return GPUMEM_OK;
    /* Every create reads the array: cache lines of its own, which no write shares. */
    size_t bytes = gpumem_align_up(d->arena_count * sizeof(gpumem_pool_obj *), 128);
    gpumem_pool_obj **arenas = gpumem_alloc_aligned(128, bytes);
    if (arenas)
        memset(arenas, 0, bytes);
    else
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for %u arenas",
                           d->arena_count);
    arenas[0] = pool;
    pool->arenas = arenas;
    for (uint32_t k = 1; k < d->arena_count; k++) {
        gpumem_pool_obj *arena = pool_alloc();
        gpumem_result r = arena ? pool_init(arena, pool->device, d)
                                : gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY,
                                              "no memory for an arena");
        if (r != GPUMEM_OK) {
            if (arena)
                pool_discard(arena);
            arenas_discard(pool);
            return r;
        }
        gpumem_lock_init(&arena->lock, pool->device->externally_synchronized);
        arena->owner = pool;
        pool->arenas[k] = arena;
        pool->arena_count = k + 1;
    }
    return GPUMEM_OK;
}

/* Threads are dealt a pool's arenas in turn, in the order of their first create in it. A thread
 * remembers its arena in the last GPUMEM_THREAD_ARENA_SLOTS such pools; one that creates in more
 * takes a new turn when it comes back to a pool it forgot. */
gpumem_pool_obj *gpumem_pool_arena(gpumem_pool_obj *pool)
{
    if (pool->arena_count == 1)
        return pool;
    gpumem_thread *t = &gpumem_this_thread;
    for (uint32_t k = 0; k < GPUMEM_THREAD_ARENA_SLOTS; k++)
        if (t->arena_slots[k].pool == pool->handle)
            return pool->arenas[t->arena_slots[k].index];
    uint32_t turn = atomic_fetch_add_explicit(&pool->arena_turn, 1, memory_order_relaxed);
    uint32_t k = t->arena_slot_next++ % GPUMEM_THREAD_ARENA_SLOTS;
    t->arena_slots[k].pool = pool->handle;
    t->arena_slots[k].index = turn % pool->arena_count;
    return pool->arenas[t->arena_slots[k].index];
}

static gpumem_result pool_create(gpumem_device device_handle, const gpumem_pool_desc *desc,
                                 gpumem_pool *out)
{
    gpumem_device_obj *device;
    gpumem_result r = gpumem_device_get(device_handle, &device);
    if (r != GPUMEM_OK)
        return r;
    if (!out)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "pool is NULL");
    const gpumem_pool_desc defaults = {0};
    const gpumem_pool_desc *d = desc ? desc : &defaults;
    if ((r = check_desc(device, d)) != GPUMEM_OK)
        return r;
    gpumem_pool_obj *pool = pool_alloc();
    if (!pool)
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for a pool");
    pool->device = device;
    if ((r = pool_init(pool, device, d)) != GPUMEM_OK) {
        pool_discard(pool);
        return r;
    }
    if ((r = arenas_create(pool, d)) != GPUMEM_OK) {
        pool_discard(pool);
        return r;
    }
    gpumem_lock_init(&pool->lock, device->externally_synchronized);
    /* The handle is made under the device lock, so that a close either sees the pool in the
     * list (and ends its handle) or has already refused it. */
    pthread_mutex_lock(&device->lock);
    if (device->closing)
        r = gpumem_fail(GPUMEM_ERROR_DESTROYED, "the device was closed");
    else if (!(pool->handle = gpumem_handle_create(GPUMEM_HANDLE_POOL, pool)))
        r = gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no handle left");
    else
        gpumem_list_push(&device->pools, &pool->link);
    pthread_mutex_unlock(&device->lock);
    if (r != GPUMEM_OK) {
        arenas_discard(pool);
        pool_discard(pool);
        return r;
    }
    *out = (gpumem_pool)(uintptr_t)pool->handle;
    return GPUMEM_OK;
}

gpumem_result gpumem_pool_create(gpumem_device device, const gpumem_pool_desc *desc,
                                 gpumem_pool *pool)
{
    GPUMEM_LOGGED_CALL(pool_create(device, desc, pool),
                       "device %#llx, desc {kind %llu, flags %#llx, required_flags %#llx, "
                       "preferred_flags %#llx, memory_type_index %llu, page_size %llu, "
                       "byte_limit %llu, name \"%s\"}" GPUMEM_LOG_OUTPUTS "pool %#llx",
                       GPUMEM_LOG_HANDLE(device), GPUMEM_LOG_FIELD(desc, kind),
                       GPUMEM_LOG_FIELD(desc, flags), GPUMEM_LOG_FIELD(desc, required_flags),
                       GPUMEM_LOG_FIELD(desc, preferred_flags),
                       GPUMEM_LOG_FIELD(desc, memory_type_index), GPUMEM_LOG_FIELD(desc, page_size),
                       GPUMEM_LOG_FIELD(desc, byte_limit),
                       GPUMEM_LOG_TEXT(desc ? desc->name : NULL), GPUMEM_LOG_OUT(pool));
}

/* --- destruction --- */

void gpumem_pool_close(gpumem_pool_obj *pool)
{
    GPUMEM_POOL_FOR_EACH_ARENA(arena, pool) {
        gpumem_lock_acquire(&arena->lock);
        arena->closing = 1;
        for (gpumem_list *l = arena->buffers.next; l != &arena->buffers; l = l->next)
            gpumem_handle_destroy(GPUMEM_CONTAINER_OF(l, gpumem_buffer_obj, link)->handle);
        gpumem_lock_release(&arena->lock);
    }
}

/* Frees every buffer of one of a pool's lists of destroyed buffers (retired, held or
 * on_streams), at its teardown: no call can reach them any more. */
static void free_destroyed(gpumem_pool_obj *pool, gpumem_list *list)
{
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, list)
        gpumem_pool_buffer_free(pool, GPUMEM_CONTAINER_OF(node, gpumem_buffer_obj, link));
}

/* Frees one arena: its buffers, pages and records. */
static void arena_free(gpumem_pool_obj *pool)
{
    gpumem_device_obj *device = pool->device;
    /* Native frees are queued on the default stream: its lock orders them, and the stream is
     * waited for before the runtime's pool goes. */
    gpumem_pool_lock(pool);
    /* The address index goes whole: no node need leave it one by one as its record is freed
     * (gpumem_buffer_index_drop finds an empty tree). No lookup reaches a closing pool. */
    pool->addresses = NULL;
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &pool->buffers) {
        gpumem_buffer_obj *b = GPUMEM_CONTAINER_OF(node, gpumem_buffer_obj, link);
        if (gpumem_margin_check(b, "gpumem_pool_destroy") != GPUMEM_OK)
            gpumem_error_clear(); /* logged; the pool goes regardless */
        gpumem_pool_buffer_free(pool, b);
    }
    gpumem_pool_cache_flush(pool);
    gpumem_pool_cache_fini(pool);
    free_destroyed(pool, &pool->retired);
    free_destroyed(pool, &pool->held);
    free_destroyed(pool, &pool->on_streams);
    release_parked_records(pool); /* the streams were waited for (pool destroy, device close) */
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &pool->pages)
        page_free(pool, GPUMEM_CONTAINER_OF(node, gpumem_page, link));
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &pool->spare_records)
        gpumem_free(node);
    gpumem_pool_unlock(pool);
    if (pool->native_pool) {
        gpumem_stream_wait(device->default_stream);
        device->ops->native_pool_destroy(device->native, pool->native_pool);
    }
    gpumem_page_index_free(&pool->page_index);
    gpumem_page_ids_destroy(&pool->page_ids); /* the owner's last: the arenas' pages went first */
    gpumem_free(pool);
}

void gpumem_pool_free(gpumem_pool_obj *pool)
{
    for (uint32_t k = 1; k < pool->arena_count; k++)
        arena_free(pool->arenas[k]);
    if (pool->arenas != &pool->self)
        gpumem_free(pool->arenas);
    arena_free(pool);
}

gpumem_result gpumem_pool_destroy(gpumem_pool handle)
{
    gpumem_call call;
    gpumem_result r = gpumem_call_enter(&call, __func__);
    gpumem_pool_obj *pool = NULL;
    if (r == GPUMEM_OK && (r = gpumem_pool_get(handle, &pool)) == GPUMEM_OK &&
        gpumem_call_is_nested(&call))
        r = gpumem_fail(GPUMEM_ERROR_BAD_STATE, "a pool cannot be destroyed from a log callback");
    if (r != GPUMEM_OK)
        GPUMEM_LOGGED_LEAVE(call, r,
                            "pool %#llx",
                            GPUMEM_LOG_HANDLE(handle));
    gpumem_device_obj *device = pool->device;
    if (!gpumem_device_take(device, pool->handle, &pool->link))
        GPUMEM_LOGGED_LEAVE(call, gpumem_fail(GPUMEM_ERROR_DESTROYED, "the pool was destroyed"),
                            "pool %#llx",
                            GPUMEM_LOG_HANDLE(handle));
    gpumem_pool_close(pool);
    gpumem_epoch_wait(call.thread->record, gpumem_epoch_stamp());
    gpumem_device_wait_streams(device); /* their queued work may use the pool's pages */
    gpumem_pool_free(pool);
    gpumem_device_release_hold(device);
    GPUMEM_LOGGED_LEAVE(call, GPUMEM_OK,
                        "pool %#llx",
                        GPUMEM_LOG_HANDLE(handle));
}

/* --- trim and statistics --- */

/* The first buffer of pool->on_streams whose stream lives (the handle of a stream of the
 * pool's device, whose object the call's section keeps), or 0 (pool lock held). */
static uint64_t next_free_stream(gpumem_pool_obj *pool, gpumem_stream_obj **stream)
{
    for (gpumem_list *node = pool->on_streams.next; node != &pool->on_streams; node = node->next) {
        uint64_t handle = GPUMEM_CONTAINER_OF(node, gpumem_buffer_obj, link)->free_stream;
        if (gpumem_stream_get((gpumem_stream)(uintptr_t)handle, stream) == GPUMEM_OK)
            return handle;
        gpumem_error_clear();
    }
    return 0;
}

/* A native pool's trim, last: the buffers that wait for their streams (on_streams) are freed on
 * each stream in turn, its lock taken as a destroy on it takes it (the pool's lock not held
 * between). Each turn frees every such buffer of one stream, so there are at most as many as
 * buffers waited; those of a stream whose destroy is under way wait for a later reclaim. */
static void trim_on_streams(gpumem_pool_obj *pool)
{
    gpumem_pool_lock(pool);
    for (uint32_t turns = pool->on_stream_count; turns; turns--) {
        gpumem_stream_obj *stream;
        if (!next_free_stream(pool, &stream))
            break;
        gpumem_pool_unlock(pool);
        gpumem_pool_lock_on(pool, stream);
        free_on_streams(pool, 0);
        gpumem_pool_unlock_on(pool, stream);
        gpumem_pool_lock(pool);
    }
    gpumem_pool_unlock(pool);
}

/* Releases one arena's empty pages (a native pool's buffers that wait for their streams too). */
static gpumem_result trim_arena(gpumem_pool_obj *pool)
{
    /* The host waits for stream-ordered frees first: their pages may be freed then. */
    gpumem_result r = gpumem_pool_lock_for(pool, NULL);
    if (r != GPUMEM_OK)
        return r;
    release_parked(pool);
    gpumem_pool_reclaim(pool);
    free_empty_pages(pool);
    gpumem_pool_unlock(pool);
    if (pool->kind == GPUMEM_POOL_NATIVE)
        trim_on_streams(pool);
    return GPUMEM_OK;
}

GPUMEM_RARE int gpumem_pool_trim_others(gpumem_pool_obj *arena)
{
    gpumem_pool_obj *owner = arena->owner;
    uint64_t before = atomic_load_explicit(&owner->reserved_together, memory_order_relaxed);
    GPUMEM_POOL_FOR_EACH_ARENA(other, owner) {
        if (other != arena && trim_arena(other) != GPUMEM_OK)
            gpumem_error_clear(); /* a stream's failed wait: its frees stay; the others go on */
    }
    return atomic_load_explicit(&owner->reserved_together, memory_order_relaxed) < before;
}

/* Of calls over several arenas: keeps the first failure and its message, for the answer. */
static void keep_first_failure(gpumem_result r, gpumem_result *first, char *message)
{
    if (r != GPUMEM_OK && *first == GPUMEM_OK) {
        *first = r;
        snprintf(message, GPUMEM_MESSAGE_SIZE, "%s", gpumem_this_thread.message);
    }
}

static gpumem_result pool_trim(gpumem_pool handle)
{
    gpumem_pool_obj *pool;
    gpumem_result r = gpumem_pool_get(handle, &pool);
    if (r != GPUMEM_OK)
        return r;
    gpumem_device_obj *device = pool->device;
    /* Every arena is trimmed; the first failure (a stream's wait) is the answer. */
    gpumem_result first = GPUMEM_OK;
    char message[GPUMEM_MESSAGE_SIZE] = "";
    GPUMEM_POOL_FOR_EACH_ARENA(arena, pool)
        keep_first_failure(trim_arena(arena), &first, message);
    if (first != GPUMEM_OK)
        return gpumem_fail(first, "%s", message);
    if (pool->kind == GPUMEM_POOL_NATIVE) {
        /* Frees queued on other streams (gpumem_buffer_destroy_on_stream) give their memory
         * back to the runtime's pool once those streams reach them. */
        if ((r = gpumem_stream_wait(device->default_stream)) != GPUMEM_OK)
            return r;
        gpumem_device_wait_streams(device);
        if (!device->ops->native_pool_trim)
            return r;
        r = device->ops->native_pool_trim(device->native, pool->native_pool,
                                          pool->release_threshold);
        return r == GPUMEM_OK ? r : gpumem_fail_backend(r, "native_pool_trim");
    }
    return GPUMEM_OK;
}

gpumem_result gpumem_pool_trim(gpumem_pool pool)
{
    GPUMEM_LOGGED_CALL(pool_trim(pool),
                       "pool %#llx",
                       GPUMEM_LOG_HANDLE(pool));
}

void gpumem_pool_free_room(const gpumem_pool_obj *pool, uint64_t *free_bytes, uint64_t *largest)
{
    *free_bytes = 0;
    *largest = 0;
    for (const gpumem_list *n = pool->pages.next; n != &pool->pages; n = n->next) {
        const gpumem_page *page = GPUMEM_CONTAINER_OF(n, gpumem_page, link);
        if (!page->tlsf)
            continue;
        gpumem_tlsf_stats s;
        gpumem_tlsf_stats_get(page->tlsf, &s);
        *free_bytes += s.size - s.used_bytes;
        if (s.largest_free_range > *largest)
            *largest = s.largest_free_range;
    }
}

static gpumem_result pool_stats_get(gpumem_pool handle, gpumem_pool_stats *stats)
{
    gpumem_pool_obj *pool;
    gpumem_result r = gpumem_pool_get(handle, &pool);
    if (r != GPUMEM_OK)
        return r;
    if (!stats)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "stats is NULL");
    gpumem_device_obj *device = pool->device;
    gpumem_pool_stats s = {.memory_type = pool->memory_type, .kind = pool->kind};
    /* the free ranges as the application's destroys left them */
    gpumem_pool_lock_arenas_reclaimed(pool);
    GPUMEM_POOL_FOR_EACH_ARENA(arena, pool) {
        uint64_t free_bytes, largest;
        gpumem_pool_free_room(arena, &free_bytes, &largest);
        s.reserved_bytes += arena->reserved_bytes;
        s.used_bytes += arena->used_bytes;
        s.page_count += arena->page_count;
        s.allocation_count += arena->allocation_count;
        if (largest > s.largest_free_range)
            s.largest_free_range = largest;
    }
    gpumem_pool_unlock_arenas(pool);
    if (pool->kind == GPUMEM_POOL_NATIVE && device->ops->native_pool_stats &&
        device->ops->native_pool_stats(device->native, pool->native_pool, &s.reserved_bytes,
                                       &s.used_bytes) != GPUMEM_OK)
        gpumem_error_clear(); /* core's own counts stand in */
    *stats = s;
    return GPUMEM_OK;
}

gpumem_result gpumem_pool_stats_get(gpumem_pool pool, gpumem_pool_stats *stats)
{
    GPUMEM_LOGGED_CALL(pool_stats_get(pool, stats),
                       "pool %#llx" GPUMEM_LOG_OUTPUTS
                       "reserved %llu, used %llu, pages %llu, allocations %llu",
                       GPUMEM_LOG_HANDLE(pool), GPUMEM_LOG_OUT_FIELD(stats, reserved_bytes),
                       GPUMEM_LOG_OUT_FIELD(stats, used_bytes),
                       GPUMEM_LOG_OUT_FIELD(stats, page_count),
                       GPUMEM_LOG_OUT_FIELD(stats, allocation_count));
}

static gpumem_result pool_check(gpumem_pool handle)
{
    gpumem_pool_obj *pool;
    gpumem_result r = gpumem_pool_get(handle, &pool);
    if (r != GPUMEM_OK)
        return r;
    gpumem_result first = GPUMEM_OK;
    char message[GPUMEM_MESSAGE_SIZE] = "";
    GPUMEM_POOL_FOR_EACH_ARENA(arena, pool) {
        gpumem_lock_acquire(&arena->lock);
        for (gpumem_list *l = arena->buffers.next; l != &arena->buffers; l = l->next) {
            /* each is logged; the first reported */
            keep_first_failure(gpumem_margin_check(GPUMEM_CONTAINER_OF(l, gpumem_buffer_obj,
                                                                       link),
                                                   "gpumem_pool_check"),
                               &first, message);
        }
        gpumem_lock_release(&arena->lock);
    }
    return first == GPUMEM_OK ? first : gpumem_fail(first, "%s", message);
}

gpumem_result gpumem_pool_check(gpumem_pool pool)
{
    GPUMEM_LOGGED_CALL(pool_check(pool),
                       "pool %#llx",
                       GPUMEM_LOG_HANDLE(pool));
}
