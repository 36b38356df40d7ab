#include "buffer.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "align.h"
#include "alloc.h"
#include "call.h"
#include "handles.h"
#include "hot.h"
#include "image.h"
#include "json.h"
#include "margin.h"
#include "pool_cache.h"
#include "stream.h"

gpumem_result gpumem_record_get(uint64_t handle, gpumem_handle_kind kind, const gpumem_thread *t,
                                gpumem_buffer_obj **record)
{
    if (!t)
        t = &gpumem_this_thread;
    /* Outside a read-side section (no record, or epoch 0) there is nothing to refuse. */
    uint64_t epoch = t->record ? atomic_load_explicit(&t->record->epoch, memory_order_relaxed) : 0;
    epoch = epoch ? epoch : UINT64_MAX;
    return gpumem_handle_get_born(handle, kind, epoch, t->depth, (void **)record);
}

gpumem_result gpumem_buffer_get(gpumem_buffer handle, gpumem_buffer_obj **buffer,
                                const gpumem_thread *t)
{
    return gpumem_record_get(GPUMEM_HANDLE_OF(handle), GPUMEM_HANDLE_BUFFER, t, buffer);
}

static gpumem_result check_desc(const gpumem_pool_obj *pool, const gpumem_buffer_desc *d)
{
    if (!d)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "desc is NULL");
    if (d->size == 0)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "size is 0");
    if (d->alignment && !gpumem_is_power_of_two(d->alignment))
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "alignment %llu is not a power of two",
                           (unsigned long long)d->alignment);
    const uint32_t known_flags = GPUMEM_BUFFER_DEDICATED | GPUMEM_BUFFER_CONCURRENT;
    if (d->flags & ~known_flags)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "unknown flags 0x%x in desc->flags",
                           d->flags & ~known_flags);
    if (d->usage & ~(uint32_t)GPUMEM_BUFFER_USAGE_ALL)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "unknown usage bits 0x%x in desc->usage",
                           d->usage & ~(uint32_t)GPUMEM_BUFFER_USAGE_ALL);
    const gpumem_device_properties *p = &pool->device->properties;
    if (d->size > p->max_allocation_size)
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY,
                           "%llu bytes exceed the device's largest allocation (%llu bytes)",
                           (unsigned long long)d->size,
                           (unsigned long long)p->max_allocation_size);
    if (pool->kind == GPUMEM_POOL_NATIVE && d->alignment > p->min_alignment)
        return gpumem_fail(GPUMEM_ERROR_UNSUPPORTED, "native pools align to %llu bytes; %llu was asked",
                           (unsigned long long)p->min_alignment,
                           (unsigned long long)d->alignment);
    return GPUMEM_OK;
}

void gpumem_buffer_unfind(gpumem_buffer_obj *b)
{
    if (b->indexed)
        b->address_node.size = 0;
}

void gpumem_buffer_index_drop(gpumem_pool_obj *pool, gpumem_buffer_obj *b)
{
    if (b->indexed) {
        gpumem_page *page = b->page;
        uint32_t record = (uint32_t)b->tlsf_handle;
        if (record < page->owner_capacity && page->owners[record] == b)
            page->owners[record] = NULL;
        /* A closing pool's tree went whole (arena_free): its links are not followed. */
        if (pool->addresses)
            gpumem_address_remove(&pool->addresses, &b->address_node);
        b->indexed = 0;
    }
}

/* Notes b as the owner of its suballocator record in its shared page (page->owners), growing
 * the table as needed; 0 when it could not grow (b's node then goes in by a search, and no
 * later one finds it as its neighbour: nothing is wrong, only slower). */
static int note_owner(gpumem_page *page, gpumem_buffer_obj *b)
{
    uint32_t record = (uint32_t)b->tlsf_handle;
    if (record >= page->owner_capacity) {
        uint32_t capacity = page->owner_capacity ? page->owner_capacity : 64;
        while (capacity <= record)
            capacity = capacity > UINT32_MAX / 2 ? UINT32_MAX : capacity * 2;
        gpumem_buffer_obj **owners = gpumem_realloc(page->owners, capacity * sizeof *owners);
        if (!owners)
            return 0;
        memset(owners + page->owner_capacity, 0,
               (capacity - page->owner_capacity) * sizeof *owners);
        page->owners = owners;
        page->owner_capacity = capacity;
    }
    page->owners[record] = b;
    return 1;
}

/* The node of the buffer just below b in its shared page, found through the suballocator's
 * address order: the used range before b's, when its record's owner is in the index (it may be
 * an image's, or a buffer kept, retired or waiting for a stream since before the pool's first
 * lookup: then NULL). Every other node of the pool starts below that one or above b: the ranges
 * between are free, and other pages do not overlap this one. */
static gpumem_address_node *node_below(const gpumem_buffer_obj *b)
{
    const gpumem_page *page = b->page;
    uint32_t record = gpumem_tlsf_used_before(page->tlsf, b->tlsf_handle);
    if (record == 0 || record >= page->owner_capacity)
        return NULL;
    gpumem_buffer_obj *below = page->owners[record];
    return below ? &below->address_node : NULL;
}

/* Puts a live buffer into its pool's address index, where memory has addresses (pool lock
 * held), or, where its node is there already (a record the reuse cache kept, placed where it
 * was), gives the node the buffer's size. Images are not buffers to gpumem_buffer_find. In a
 * shared page the node goes in beside the one below it, when that is known (node_below). */
static void index_buffer(gpumem_pool_obj *pool, gpumem_buffer_obj *b)
{
    if (b->indexed) {
        b->address_node.size = b->size;
        return;
    }
    if (!b->page->address || b->image)
        return;
    b->address_node.start = b->page->address + b->offset;
    b->address_node.size = b->size;
    gpumem_address_node *below = NULL;
    if (b->tlsf_handle && note_owner(b->page, b))
        below = node_below(b);
    if (below)
        gpumem_address_insert_after(&pool->addresses, below, &b->address_node);
    else
        gpumem_address_insert(&pool->addresses, &b->address_node);
    b->indexed = 1;
}

/* A copy of a buffer's name, at most GPUMEM_NAME_SIZE-1 bytes of it, cut as a pool's is: never
 * inside a UTF-8 character. */
GPUMEM_RARE static char *name_copy(const char *name)
{
    size_t n = gpumem_utf8_cut(name, GPUMEM_NAME_SIZE);
    char *copy = gpumem_alloc(n + 1);
    if (copy) {
        memcpy(copy, name, n);
        copy[n] = 0;
    }
    return copy;
}

/* Makes a placed buffer live: its name (NULL or "": none), its margins, its handle, the pool's
 * lists (pool lock held). On failure its place and record go back to the pool. */
static gpumem_result buffer_publish(gpumem_pool_obj *pool, gpumem_buffer_obj *b,
                                    const char *name, gpumem_thread *thread)
{
    gpumem_result r = GPUMEM_OK;
    if (name && name[0] && !(b->name = name_copy(name)))
        r = gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for the buffer's name");
    if (r == GPUMEM_OK)
        r = gpumem_margin_write(b);
    if (r == GPUMEM_OK &&
        !(b->handle = gpumem_handle_create_own(
              b->image ? GPUMEM_HANDLE_IMAGE : GPUMEM_HANDLE_BUFFER, b, thread->record,
              b->born_at = thread->record ? atomic_load_explicit(&thread->record->epoch,
                                                                  memory_order_relaxed)
                                          : 0)))
        r = gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no handle left");
    if (r != GPUMEM_OK) {
        pool->used_bytes -= b->block_size;
        pool->allocation_count--;
        gpumem_buffer_index_drop(pool, b); /* a kept record's node */
        gpumem_pool_unplace(pool, b->page, b->tlsf_handle);
        b->image = NULL; /* still the caller's (gpumem_record_new) */
        gpumem_pool_record_give(pool, b);
        return r;
    }
    gpumem_list_push(&pool->buffers, &b->link);
    if (pool->indexed)
        index_buffer(pool, b);
    return GPUMEM_OK;
}

/* GPUMEM_ERROR_DESTROYED once the pool's handle ended (gpumem_pool_lock held). */
static gpumem_result pool_open(const gpumem_pool_obj *pool)
{
    return pool->closing ? gpumem_fail(GPUMEM_ERROR_DESTROYED, "the pool was destroyed")
                         : GPUMEM_OK;
}

/* A record for a new buffer of an open pool (gpumem_pool_lock held). */
static gpumem_result record_for_new(gpumem_pool_obj *pool, gpumem_buffer_obj **b)
{
    gpumem_result r = pool_open(pool);
    if (r != GPUMEM_OK)
        return r;
    if (!(*b = gpumem_pool_record_take(pool)))
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for a buffer");
    (*b)->indexed = 0;
    return GPUMEM_OK;
}

/* The usage a buffer is made with, and the alignment the backend says it needs beyond
 * min_alignment (0: none). The default usage without GPUMEM_BUFFER_CONCURRENT is what every
 * page already serves: the backend is not asked. */
static gpumem_result usage_alignment(const gpumem_pool_obj *pool, const gpumem_buffer_desc *desc,
                                     uint32_t *usage, uint64_t *alignment)
{
    gpumem_device_obj *device = pool->device;
    *usage = desc->usage ? desc->usage : GPUMEM_BUFFER_USAGE_DEFAULT;
    *alignment = 0;
    if ((*usage & GPUMEM_BUFFER_USAGE_DEVICE_ADDRESS) && !device->ops->buffer_requirements &&
        !device->ops->page_address)
        return gpumem_fail(GPUMEM_ERROR_UNSUPPORTED,
                           "backend '%s' gives buffers no device addresses "
                           "(GPUMEM_BUFFER_USAGE_DEVICE_ADDRESS)",
                           device->properties.backend);
    if (!device->ops->buffer_requirements ||
        (*usage == GPUMEM_BUFFER_USAGE_DEFAULT && !(desc->flags & GPUMEM_BUFFER_CONCURRENT)))
        return GPUMEM_OK;
    gpumem_result r = device->ops->buffer_requirements(device->native, pool->memory_type, *usage,
                                                       desc->flags, alignment);
    if (r != GPUMEM_OK)
        return gpumem_fail_backend(r, "buffer_requirements");
    if (!gpumem_is_power_of_two(*alignment))
        return gpumem_fail(GPUMEM_ERROR_BACKEND,
                           "backend '%s' broke the contract: buffer_requirements gave an "
                           "alignment of %llu, not a power of two",
                           device->properties.backend, (unsigned long long)*alignment);
    if (pool->kind == GPUMEM_POOL_NATIVE && *alignment > device->properties.min_alignment)
        return gpumem_fail(GPUMEM_ERROR_UNSUPPORTED,
                           "native pools align to %llu bytes; this usage needs %llu",
                           (unsigned long long)device->properties.min_alignment,
                           (unsigned long long)*alignment);
    return GPUMEM_OK;
}

gpumem_result gpumem_record_new(gpumem_pool_obj *pool, const gpumem_buffer_desc *desc,
                                uint32_t usage, gpumem_image_obj *image, gpumem_buffer_obj **out,
                                gpumem_thread *thread)
{
    gpumem_result r = pool_open(pool);
    if (r != GPUMEM_OK)
        return r;
    uint64_t min_alignment = pool->device->properties.min_alignment;
    uint64_t alignment = desc->alignment > min_alignment ? desc->alignment : min_alignment;
    uint64_t margin = image ? 0 : gpumem_margin_before(pool, alignment);
    uint64_t bytes = image ? desc->size : gpumem_margin_total(pool, desc->size, margin);
    int dedicated = !!(desc->flags & GPUMEM_BUFFER_DEDICATED);
    int shared = !image && !dedicated && bytes; /* may reuse a kept buffer (pool_cache.h) */
    uint64_t place = bytes;
    /* A kept buffer comes with its placement (pool, page, range; no margins, as pools with
     * margins keep none); a new record gets one. */
    gpumem_buffer_obj *b =
        shared ? gpumem_pool_cache_take(pool, bytes, alignment > min_alignment ? alignment : 0,
                                        &place)
               : NULL;
    if (!b) {
        if ((r = record_for_new(pool, &b)) != GPUMEM_OK)
            return r;
        gpumem_tlsf_allocation a;
        gpumem_page *page;
        gpumem_placement want = {
            .dedicated = dedicated,
            /* The runtime's image on a page of its own gets memory allocated for it. */
            .for_image = image && dedicated ? image->native : NULL,
            .unrounded = place != bytes ? bytes : 0,
        };
        r = bytes ? gpumem_pool_place(pool, place, alignment, &want, &page, &a)
                  : gpumem_fail(GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY,
                                "%llu bytes and their guard margins do not fit memory",
                                (unsigned long long)desc->size);
        if (r == GPUMEM_OK && image &&
            (r = gpumem_image_bind(pool->device, image, page, a.offset)) != GPUMEM_OK) {
            pool->used_bytes -= a.block_size; /* what placing it counted */
            pool->allocation_count--;
            gpumem_pool_unplace(pool, page, a.handle);
        }
        if (r != GPUMEM_OK) {
            gpumem_pool_record_give(pool, b);
            return r;
        }
        b->pool = pool;
        b->page = page;
        b->offset = a.offset + margin;
        b->left_padding = a.left_padding + margin;
        b->block_size = a.block_size;
        b->tlsf_handle = a.handle;
        b->margin = margin;
        b->cache_bin = shared && b->block_size <= pool->cache_largest
                           ? (uint16_t)gpumem_pool_cache_bin_of(pool, desc->size,
                                                                b->block_size - b->left_padding)
                           : GPUMEM_POOL_CACHE_NO_BIN; /* no cache keeps it */
    }
    /* Every other field but the address node, which only an indexed pool sets (index_buffer),
     * retired_at, which only a retired record has (gpumem_pool_retire sets it), and outside
     * native pools free_stream, which only a native pool's destroy sets: a create that takes a
     * kept record then leaves the record's third line untouched (buffer.h). The link is set when
     * the record joins the pool's list (buffer_publish), the name there too: a record from
     * gpumem_pool_record_take or the reuse cache has none (a new one is made so,
     * gpumem_pool_record_give and gpumem_pool_cache_keep clear it). Field by field rather than
     * a memset of the whole, which took 29 instructions of a create. */
    b->handle = 0;
    if (pool->kind == GPUMEM_POOL_NATIVE)
        b->free_stream = 0;
    b->native = NULL;
    gpumem_buffer_set_map_count(b, 0);
    b->size = desc->size;
    b->usage = usage;
    b->flags = desc->flags;
    b->user_data = desc->user_data;
    b->image = image;
    if ((r = buffer_publish(pool, b, desc->name, thread)) == GPUMEM_OK)
        *out = b;
    return r;
}

/* gpumem_record_new in `arena`, under its lock. */
static gpumem_result record_new_locked(gpumem_pool_obj *arena, gpumem_stream_obj *taker,
                                       const gpumem_buffer_desc *desc, uint32_t usage,
                                       gpumem_image_obj *image, gpumem_buffer_obj **out,
                                       gpumem_thread *thread)
{
    gpumem_result r = gpumem_pool_lock_for(arena, taker);
    if (r != GPUMEM_OK)
        return r;
    r = gpumem_record_new(arena, desc, usage, image, out, thread);
    gpumem_pool_unlock_on(arena, arena->queue);
    return r;
}

/* A refusal that freeing memory elsewhere may undo: the byte limit, a device short of memory. */
static int short_of_memory(gpumem_result r)
{
    return r == GPUMEM_ERROR_LIMIT_EXCEEDED || r == GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY;
}

/* The further tries of a create that the byte limit or a device short of memory refused. A
 * create on a stream in a paged pool tries again as the host's: the host waits for every free
 * made in stream order in the arena, and the pages kept for them go (a host's create would have
 * found their room; a native pool allocates on the create's stream, so it does not). In one of
 * several arenas, the other arenas are trimmed (the limit counts every arena's
 * pages, the device holds them all, and the others' empty ones may make room), and it tries
 * once more. The first refusal is kept, and the thread's error state cleared for each try. Out
 * of line, as its message buffer would be on every create's stack. */
GPUMEM_RARE static gpumem_result record_create_again(gpumem_pool_obj *arena,
                                                     gpumem_stream_obj *taker,
                                                     const gpumem_buffer_desc *desc,
                                                     uint32_t usage, gpumem_image_obj *image,
                                                     gpumem_buffer_obj **out,
                                                     gpumem_thread *thread, gpumem_result r)
{
    int several = arena->owner->arena_count > 1;
    int as_host = taker && arena->kind == GPUMEM_POOL_PAGED;
    if ((!as_host && !several) || (image && image->bind_tried))
        return r;
    char refused[GPUMEM_MESSAGE_SIZE];
    snprintf(refused, sizeof refused, "%s", thread->message);
    if (as_host) {
        gpumem_error_clear();
        gpumem_result again = record_new_locked(arena, NULL, desc, usage, image, out, thread);
        if (!short_of_memory(again))
            return again;
    }
    gpumem_error_clear();
    if (!several)
        return gpumem_fail(r, "%s", refused);
    if (!gpumem_pool_trim_others(arena))
        return gpumem_fail(r, "%s (the other arenas had no room to give back)", refused);
    return record_new_locked(arena, taker, desc, usage, image, out, thread);
}

gpumem_result gpumem_record_create(gpumem_pool_obj *pool, gpumem_stream_obj *taker,
                                   const gpumem_buffer_desc *desc, uint32_t usage,
                                   gpumem_image_obj *image, gpumem_buffer_obj **out,
                                   gpumem_thread *thread)
{
    gpumem_pool_obj *arena = gpumem_pool_arena(pool);
    gpumem_result r = record_new_locked(arena, taker, desc, usage, image, out, thread);
    if (__builtin_expect(r == GPUMEM_OK, 1) || !short_of_memory(r))
        return r;
    return record_create_again(arena, taker, desc, usage, image, out, thread, r);
}

/* The stream of a handle, on the pool's device. */
static gpumem_result stream_of_pool(const gpumem_pool_obj *pool, gpumem_stream handle,
                                    gpumem_stream_obj **stream)
{
    gpumem_result r = gpumem_stream_get(handle, stream);
    if (r == GPUMEM_OK && (*stream)->device != pool->device)
        r = gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                        "the stream belongs to another device than pool '%s'", pool->name);
    return r;
}

/* A new buffer, taken by the host (stream_handle NULL) or in the order of a stream. */
static gpumem_result buffer_create(gpumem_pool pool_handle, const gpumem_buffer_desc *desc,
                                   gpumem_stream stream_handle, gpumem_buffer *out,
                                   gpumem_thread *thread)
{
    gpumem_pool_obj *pool;
    gpumem_result r = gpumem_pool_get(pool_handle, &pool);
    if (r != GPUMEM_OK)
        return r;
    gpumem_stream_obj *stream = NULL;
    if (stream_handle && (r = stream_of_pool(pool, stream_handle, &stream)) != GPUMEM_OK)
        return r;
    if (!out)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "buffer is NULL");
    if ((r = check_desc(pool, desc)) != GPUMEM_OK)
        return r;
    uint32_t usage;
    uint64_t usage_align;
    if ((r = usage_alignment(pool, desc, &usage, &usage_align)) != GPUMEM_OK)
        return r;
    gpumem_buffer_desc aligned; /* desc, where the usage asks for more alignment */
    if (usage_align > desc->alignment) {
        aligned = *desc;
        aligned.alignment = usage_align;
        desc = &aligned;
    }
    /* The host writes guard margins at once, not in the stream's order: in a paged pool with
     * margins, the host first waits for the work of every free whose range it may take, the
     * stream's own included, or that work could land on the new margins. */
    gpumem_stream_obj *taker = stream;
    if (stream && pool->kind == GPUMEM_POOL_PAGED && gpumem_margin_before(pool, 1))
        taker = NULL;
    gpumem_buffer_obj *b = NULL;
    if ((r = gpumem_record_create(pool, taker, desc, usage, NULL, &b, thread)) == GPUMEM_OK)
        *out = (gpumem_buffer)(uintptr_t)b->handle;
    return r;
}

GPUMEM_FLATTEN gpumem_result gpumem_buffer_create(gpumem_pool pool,
                                                  const gpumem_buffer_desc *desc,
                                                  gpumem_buffer *buffer)
{
    GPUMEM_LOGGED_CALL(buffer_create(pool, desc, NULL, buffer, GPUMEM_CALL_THREAD),
                       "pool %#llx, desc {size %llu, alignment %llu, flags %#llx, usage %#llx, "
                       "name \"%s\"}" GPUMEM_LOG_OUTPUTS "buffer %#llx",
                       GPUMEM_LOG_HANDLE(pool), GPUMEM_LOG_FIELD(desc, size),
                       GPUMEM_LOG_FIELD(desc, alignment), GPUMEM_LOG_FIELD(desc, flags),
                       GPUMEM_LOG_FIELD(desc, usage), GPUMEM_LOG_TEXT(desc ? desc->name : NULL),
                       GPUMEM_LOG_OUT(buffer));
}

GPUMEM_FLATTEN gpumem_result gpumem_buffer_create_on_stream(gpumem_pool pool,
                                                            const gpumem_buffer_desc *desc,
                                                            gpumem_stream stream,
                                                            gpumem_buffer *buffer)
{
    GPUMEM_LOGGED_CALL(stream ? buffer_create(pool, desc, stream, buffer, GPUMEM_CALL_THREAD)
                              : gpumem_stream_missing(),
                       "pool %#llx, desc {size %llu, alignment %llu, flags %#llx, usage %#llx, "
                       "name \"%s\"}, stream %#llx" GPUMEM_LOG_OUTPUTS "buffer %#llx",
                       GPUMEM_LOG_HANDLE(pool), GPUMEM_LOG_FIELD(desc, size),
                       GPUMEM_LOG_FIELD(desc, alignment), GPUMEM_LOG_FIELD(desc, flags),
                       GPUMEM_LOG_FIELD(desc, usage), GPUMEM_LOG_TEXT(desc ? desc->name : NULL),
                       GPUMEM_LOG_HANDLE(stream), GPUMEM_LOG_OUT(buffer));
}

/* Notes a free in a stream's order in a paged pool (pool lock held), so that other takers of
 * the range wait for the stream's work first. When every slot of the pool's table is taken by
 * unsettled frees, the host settles the oldest, with the lock let go meanwhile. */
static gpumem_result note_free(gpumem_pool_obj *pool, gpumem_stream_obj *stream)
{
    while (!gpumem_order_note_free(&pool->order, stream->handle)) {
        gpumem_order_wait oldest = gpumem_order_oldest(&pool->order);
        gpumem_lock_release(&pool->lock);
        int on_host;
        gpumem_result r = gpumem_stream_follow(pool->device, NULL, oldest.stream, &on_host);
        gpumem_lock_acquire(&pool->lock);
        if (r != GPUMEM_OK)
            return r;
        gpumem_order_waited(&pool->order, 0, oldest);
    }
    return GPUMEM_OK;
}

/* --- imported memory --- */

static gpumem_result check_import(const gpumem_pool_obj *pool, const gpumem_import_desc *d)
{
    const gpumem_device_obj *device = pool->device;
    const gpumem_device_properties *p = &device->properties;
    if (!d)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "desc is NULL");
    if (d->size == 0)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "size is 0");
    if (d->flags)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "unknown flags 0x%x in desc->flags",
                           d->flags);
    if (d->reserved)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "desc->reserved is %u; it must be 0",
                           d->reserved);
    if (d->size > p->max_allocation_size)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                           "%llu bytes exceed the device's largest allocation (%llu bytes)",
                           (unsigned long long)d->size,
                           (unsigned long long)p->max_allocation_size);
    if (d->offset % p->min_alignment)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                           "offset %llu is not a multiple of the device's min_alignment %llu",
                           (unsigned long long)d->offset,
                           (unsigned long long)p->min_alignment);
    if (d->offset > UINT64_MAX - d->size || d->address > UINT64_MAX - d->size)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                           "range [%llu, +%llu) at address 0x%llx passes 2^64",
                           (unsigned long long)d->offset, (unsigned long long)d->size,
                           (unsigned long long)d->address);
    if (pool->kind != GPUMEM_POOL_PAGED)
        return gpumem_fail(GPUMEM_ERROR_UNSUPPORTED,
                           "pool '%s' is a native pool; memory is imported into paged pools",
                           pool->name);
    if (!device->ops->page_import)
        return gpumem_fail(GPUMEM_ERROR_UNSUPPORTED,
                           "backend '%s' cannot import memory (it has no page_import)",
                           p->backend);
    return GPUMEM_OK;
}

/* The application's memory as a buffer with a page of its own (pool lock held). */
static gpumem_result import_new(gpumem_pool_obj *pool, const gpumem_import_desc *desc,
                                gpumem_buffer_obj **out)
{
    gpumem_buffer_obj *b;
    gpumem_result r = record_for_new(pool, &b);
    if (r != GPUMEM_OK)
        return r;
    gpumem_page *page;
    r = gpumem_pool_import(pool, desc, &page);
    if (r != GPUMEM_OK) {
        gpumem_pool_record_give(pool, b);
        return r;
    }
    memset(b, 0, offsetof(gpumem_buffer_obj, address_node));
    b->cache_bin = GPUMEM_POOL_CACHE_NO_BIN;
    b->pool = pool;
    b->page = page;
    b->size = desc->size;
    b->block_size = desc->size;
    b->usage = GPUMEM_BUFFER_USAGE_DEFAULT;
    if ((r = buffer_publish(pool, b, NULL, &gpumem_this_thread)) == GPUMEM_OK)
        *out = b;
    return r;
}

static gpumem_result buffer_import(gpumem_pool pool_handle, const gpumem_import_desc *desc,
                                   gpumem_buffer *out)
{
    gpumem_pool_obj *pool;
    gpumem_result r = gpumem_pool_get(pool_handle, &pool);
    if (r != GPUMEM_OK)
        return r;
    if (!out)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "buffer is NULL");
    if ((r = check_import(pool, desc)) != GPUMEM_OK)
        return r;
    /* In the first arena, checked against every arena's pages (imports are rare). */
    gpumem_buffer_obj *b = NULL;
    gpumem_pool_lock_arenas(pool);
    r = import_new(pool, desc, &b);
    gpumem_pool_unlock_arenas(pool);
    if (r == GPUMEM_OK)
        *out = (gpumem_buffer)(uintptr_t)b->handle;
    return r;
}

gpumem_result gpumem_buffer_import(gpumem_pool pool, const gpumem_import_desc *desc,
                                   gpumem_buffer *buffer)
{
    GPUMEM_LOGGED_CALL(buffer_import(pool, desc, buffer),
                       "pool %#llx, desc {address %#llx, memory %#llx, offset %llu, size %llu, "
                       "flags %#llx}" GPUMEM_LOG_OUTPUTS "buffer %#llx",
                       GPUMEM_LOG_HANDLE(pool), GPUMEM_LOG_FIELD(desc, address),
                       GPUMEM_LOG_FIELD(desc, memory), GPUMEM_LOG_FIELD(desc, offset),
                       GPUMEM_LOG_FIELD(desc, size), GPUMEM_LOG_FIELD(desc, flags),
                       GPUMEM_LOG_OUT(buffer));
}

/* A destroy's batch reclaim: the barrier outside the lock (the pool lives on until the call
 * ends, epoch.h), with the epochs of the calls in progress; out of line, so that the snapshot
 * stays out of the destroy's own frame. */
GPUMEM_OUT_OF_LINE static void reclaim_batch(gpumem_pool_obj *pool, gpumem_stream_obj *queue,
                                             const gpumem_epoch_record *self)
{
    gpumem_epoch_snapshot calls;
    uint64_t safe = gpumem_epoch_oldest_snapshot(self, &calls);
    gpumem_pool_lock_on(pool, queue);
    gpumem_pool_reclaim_unreached(pool, safe, &calls);
    gpumem_pool_unlock_on(pool, queue);
}

/* A native pool's buffer is freed on `queue` (a destroy's stream, or the default one for the
 * host's), and the runtime hands memory freed on a stream to that stream's later allocations at
 * once: the free must come after the allocation's stream. Else a buffer allocated on stream T
 * in memory that T took after waiting for another stream S's free (an event of the
 * application's) could be freed on the default stream and taken by a host's create there while
 * S's work still used it. So `queue` first follows T: on the device where the backend can, else
 * the host waits for T. The default stream, where hosts' creates allocate, follows on the host:
 * a create there hands its buffer to every stream and the host at once, which is right only
 * while that stream has no work of core's queued (a wait on the device would leave one, and the
 * create could reuse the freed memory behind it). Not under the pool's lock: a native pool's
 * lock holds its queue's. */
static gpumem_result follow_allocation(gpumem_pool_obj *pool, gpumem_stream_obj *queue,
                                       const gpumem_buffer_obj *b)
{
    uint64_t alloc_stream = b->page->alloc_stream;
    gpumem_stream_obj *waiter = queue == pool->device->default_stream ? NULL : queue;
    int on_host;
    return alloc_stream == queue->handle
               ? GPUMEM_OK
               : gpumem_stream_follow(pool->device, waiter, alloc_stream, &on_host);
}

/* Why a destroy of b is refused: its handle ended first (another destroy, or its pool's). */
GPUMEM_RARE static gpumem_result refuse_destroyed(const gpumem_buffer_obj *b)
{
    return gpumem_fail(GPUMEM_ERROR_DESTROYED, "the %s was destroyed",
                       b->image ? "image" : "buffer");
}

/* Why a destroy from a log callback is refused: the call the callback runs in may be using the
 * buffer, and this thread's own calls are what a destroyed buffer's range waits for only
 * across threads (gpumem_epoch_oldest). */
GPUMEM_RARE static gpumem_result refuse_destroy_in_callback(const gpumem_buffer_obj *b)
{
    return gpumem_fail(GPUMEM_ERROR_BAD_STATE, "a%s cannot be destroyed from a log callback",
                       b->image ? "n image" : " buffer");
}

/* The destroy of b, found by the call from its `handle`, on `stream` (NULL: the host's);
 * `native` 1 when b's pool is a native one, `ended` 1 when the call ended b's handle already
 * (gpumem_record_end); both constants where it is inlined. The handle is the call's, not read
 * from the record: a paged pool's destroy reads only the record's first line (buffer.h). */
static inline __attribute__((always_inline)) gpumem_result
record_destroy_found(gpumem_buffer_obj *b, uint64_t handle, gpumem_handle_kind kind,
                     gpumem_stream_obj *stream, gpumem_thread *t, int native, int ended)
{
    gpumem_pool_obj *pool = b->pool;
    gpumem_stream_obj *queue = stream ? stream : pool->device->default_stream;
    gpumem_result r = GPUMEM_OK;
    gpumem_pool_lock_on(pool, queue);
    /* Noted before the range can go back: a note whose destroy then fails costs a wait, no
     * more. A backend without streams has finished a stream's work already. */
    if (stream && !native && stream->native &&
        (r = note_free(pool, stream)) != GPUMEM_OK) {
        gpumem_pool_unlock_on(pool, queue);
        return r;
    }
    /* Of two destroys at once (or a destroy and its pool's), the one that ends the handle
     * retires the buffer (or, alone, keeps or frees it: gpumem_pool_retire). */
    int reclaim = 0;
    if (ended || gpumem_handle_end(handle, kind, t->record)) {
        /* Freed on `queue`, which has followed the allocation's stream: a host's destroy on
         * the default stream too, though a section on another stream reclaims it. */
        if (native)
            b->free_stream = queue->handle;
        reclaim = gpumem_pool_retire(pool, b);
    } else {
        r = refuse_destroyed(b);
    }
    gpumem_pool_unlock_on(pool, queue);
    if (reclaim)
        reclaim_batch(pool, queue, t->record);
    return r;
}

/* A destroy from a log callback, refused, or one in a native pool: its free is queued on a
 * stream that first follows the one the buffer was allocated on (follow_allocation). Out of
 * line, so that the paged pools' destroy keeps its registers. */
GPUMEM_RARE static gpumem_result record_destroy_rare(gpumem_buffer_obj *b, uint64_t handle,
                                                     gpumem_handle_kind kind,
                                                     gpumem_stream stream_handle,
                                                     gpumem_thread *t)
{
    if (t->depth > 1)
        return refuse_destroy_in_callback(b);
    gpumem_pool_obj *pool = b->pool; /* native, as the call was not a callback's */
    gpumem_stream_obj *stream = NULL;
    gpumem_result r;
    if (stream_handle && (r = stream_of_pool(pool, stream_handle, &stream)) != GPUMEM_OK)
        return r;
    if ((r = follow_allocation(pool, stream ? stream : pool->device->default_stream, b)) !=
        GPUMEM_OK) {
        char why[GPUMEM_MESSAGE_SIZE];
        snprintf(why, sizeof why, "%s", t->message);
        return gpumem_fail(r, "the buffer was not destroyed: its free could not be ordered "
                              "after the stream it was made on (%s)", why);
    }
    return record_destroy_found(b, handle, kind, stream, t, 1, 0);
}

/* The buffer's memory is given back once no call can use it any more (gpumem_pool_retire);
 * from this point on its handle says DESTROYED. With a stream, in its order: a paged pool's
 * range may be taken again at once by that stream, by others after its work; a native pool's
 * buffer is freed by the runtime on the stream. */
gpumem_result gpumem_record_destroy(uint64_t handle, gpumem_handle_kind kind,
                                    gpumem_stream stream_handle, gpumem_thread *t)
{
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_record_get(handle, kind, t, &b);
    if (r != GPUMEM_OK)
        return r;
    gpumem_pool_obj *pool = b->pool;
    if (__builtin_expect((t->depth > 1) | (pool->kind == GPUMEM_POOL_NATIVE), 0))
        return record_destroy_rare(b, handle, kind, stream_handle, t);
    gpumem_stream_obj *stream = NULL;
    if (stream_handle && (r = stream_of_pool(pool, stream_handle, &stream)) != GPUMEM_OK)
        return r;
    return record_destroy_found(b, handle, kind, stream, t, 0, 0);
}

gpumem_result gpumem_record_end(gpumem_buffer_obj *b, gpumem_handle_kind kind, gpumem_thread *t)
{
    if (t->depth > 1)
        return refuse_destroy_in_callback(b);
    if (!gpumem_handle_end(b->handle, kind, t->record))
        return refuse_destroyed(b);
    return GPUMEM_OK;
}

gpumem_result gpumem_record_retire_ended(gpumem_buffer_obj *b, gpumem_thread *t)
{
    /* The kind only ends the handle, which is ended already. */
    return record_destroy_found(b, b->handle, GPUMEM_HANDLE_BUFFER, NULL, t, 0, 1);
}

GPUMEM_FLATTEN gpumem_result gpumem_buffer_destroy(gpumem_buffer buffer)
{
    GPUMEM_LOGGED_CALL(gpumem_record_destroy(GPUMEM_HANDLE_OF(buffer), GPUMEM_HANDLE_BUFFER, NULL,
                                             GPUMEM_CALL_THREAD),
                       "buffer %#llx",
                       GPUMEM_LOG_HANDLE(buffer));
}

static gpumem_result destroy_on_stream(gpumem_buffer buffer, gpumem_stream stream,
                                       gpumem_thread *thread)
{
    return stream ? gpumem_record_destroy(GPUMEM_HANDLE_OF(buffer), GPUMEM_HANDLE_BUFFER, stream,
                                          thread)
                  : gpumem_stream_missing();
}

GPUMEM_FLATTEN gpumem_result gpumem_buffer_destroy_on_stream(gpumem_buffer buffer,
                                                             gpumem_stream stream)
{
    GPUMEM_LOGGED_CALL(destroy_on_stream(buffer, stream, GPUMEM_CALL_THREAD),
                       "buffer %#llx, stream %#llx",
                       GPUMEM_LOG_HANDLE(buffer), GPUMEM_LOG_HANDLE(stream));
}

gpumem_result gpumem_record_info(uint64_t handle, gpumem_handle_kind kind,
                                 gpumem_buffer_info *info, const gpumem_thread *t)
{
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_record_get(handle, kind, t, &b);
    if (r != GPUMEM_OK)
        return r;
    if (!info)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "info is NULL");
    /* No lock: all but the map count stays as it is while the buffer lives. */
    *info = (gpumem_buffer_info){
        .size = b->size,
        .offset = b->offset,
        .left_padding = b->left_padding,
        .allocation_size = b->block_size,
        .page_size = b->page->size,
        .page = b->page->id,
        .memory_type = b->pool->memory_type,
        .dedicated = b->page->dedicated,
        .mapped = gpumem_buffer_map_count(b),
    };
    return GPUMEM_OK;
}

gpumem_result gpumem_buffer_info_get(gpumem_buffer buffer, gpumem_buffer_info *info)
{
    GPUMEM_LOGGED_CALL(gpumem_record_info(GPUMEM_HANDLE_OF(buffer), GPUMEM_HANDLE_BUFFER, info,
                                          GPUMEM_CALL_THREAD),
                       "buffer %#llx" GPUMEM_LOG_OUTPUTS
                       "page %llu, offset %llu, size %llu, allocation_size %llu, dedicated %llu",
                       GPUMEM_LOG_HANDLE(buffer), GPUMEM_LOG_OUT_FIELD(info, page),
                       GPUMEM_LOG_OUT_FIELD(info, offset), GPUMEM_LOG_OUT_FIELD(info, size),
                       GPUMEM_LOG_OUT_FIELD(info, allocation_size),
                       GPUMEM_LOG_OUT_FIELD(info, dedicated));
}

static gpumem_result buffer_native(gpumem_buffer handle, gpumem_native_buffer *native,
                                   const gpumem_thread *t)
{
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_buffer_get(handle, &b, t);
    if (r != GPUMEM_OK)
        return r;
    if (!native)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "native is NULL");
    gpumem_device_obj *device = b->pool->device;
    gpumem_native_buffer n = {0};
    if (!device->ops->native_buffer && !device->ops->native_buffer_for_usage) {
        /* Memory with addresses needs no native object: the address says it all. */
        if (!b->page->address)
            return gpumem_fail(GPUMEM_ERROR_UNSUPPORTED,
                               "backend '%s' gives no native buffers (it has neither "
                               "native_buffer, native_buffer_for_usage nor page_address)",
                               device->properties.backend);
        n.memory = b->page->address;
        n.address = b->page->address + b->offset;
    } else {
        gpumem_lock_acquire(&b->pool->lock);
        r = device->ops->native_buffer_for_usage
                ? device->ops->native_buffer_for_usage(device->native, b->page->native,
                                                       b->offset, b->size, b->usage,
                                                       b->flags & GPUMEM_BUFFER_CONCURRENT,
                                                       &b->native, &n)
                : device->ops->native_buffer(device->native, b->page->native, b->offset,
                                             b->size, &b->native, &n);
        if (b->native) /* never kept: the next create of its size would not want the object */
            b->cache_bin = GPUMEM_POOL_CACHE_NO_BIN;
        gpumem_lock_release(&b->pool->lock);
        if (r != GPUMEM_OK)
            return gpumem_fail_backend(r, device->ops->native_buffer_for_usage
                                              ? "native_buffer_for_usage"
                                              : "native_buffer");
    }
    n.offset = b->page->import_offset + b->offset; /* in the memory object */
    *native = n;
    return GPUMEM_OK;
}

gpumem_result gpumem_buffer_native(gpumem_buffer buffer, gpumem_native_buffer *native)
{
    GPUMEM_LOGGED_CALL(buffer_native(buffer, native, GPUMEM_CALL_THREAD),
                       "buffer %#llx" GPUMEM_LOG_OUTPUTS
                       "memory %#llx, offset %llu, buffer %#llx, address %#llx",
                       GPUMEM_LOG_HANDLE(buffer), GPUMEM_LOG_OUT_FIELD(native, memory),
                       GPUMEM_LOG_OUT_FIELD(native, offset), GPUMEM_LOG_OUT_FIELD(native, buffer),
                       GPUMEM_LOG_OUT_FIELD(native, address));
}

gpumem_result gpumem_record_name(uint64_t handle, gpumem_handle_kind kind, char *name,
                                 size_t capacity, const gpumem_thread *t)
{
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_record_get(handle, kind, t, &b);
    if (r != GPUMEM_OK)
        return r;
    if (!name || capacity == 0)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "name is NULL or capacity is 0");
    const char *own = b->name ? b->name : "";
    size_t n = strlen(own);
    if (n >= capacity)
        return gpumem_fail(GPUMEM_ERROR_INSUFFICIENT_BUFFER,
                           "the name has %zu bytes and a NUL; capacity is %zu", n, capacity);
    memcpy(name, own, n + 1);
    return GPUMEM_OK;
}

gpumem_result gpumem_buffer_name(gpumem_buffer buffer, char *name, size_t capacity)
{
    GPUMEM_LOGGED_CALL(
        gpumem_record_name(GPUMEM_HANDLE_OF(buffer), GPUMEM_HANDLE_BUFFER, name, capacity,
                           GPUMEM_CALL_THREAD),
        "buffer %#llx, name %p, capacity %llu" GPUMEM_LOG_OUTPUTS "name \"%s\"",
        GPUMEM_LOG_HANDLE(buffer), (void *)name, (unsigned long long)(capacity),
        GPUMEM_LOG_TEXT(gpumem_r_ == GPUMEM_OK ? name : NULL));
}

gpumem_result gpumem_record_user_data(uint64_t handle, gpumem_handle_kind kind,
                                      void **user_data, const gpumem_thread *t)
{
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_record_get(handle, kind, t, &b);
    if (r != GPUMEM_OK)
        return r;
    if (!user_data)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "user_data is NULL");
    *user_data = b->user_data;
    return GPUMEM_OK;
}

gpumem_result gpumem_buffer_user_data(gpumem_buffer buffer, void **user_data)
{
    GPUMEM_LOGGED_CALL(
        gpumem_record_user_data(GPUMEM_HANDLE_OF(buffer), GPUMEM_HANDLE_BUFFER, user_data,
                                GPUMEM_CALL_THREAD),
        "buffer %#llx" GPUMEM_LOG_OUTPUTS "user_data %#llx",
        GPUMEM_LOG_HANDLE(buffer), GPUMEM_LOG_OUT(user_data));
}

/* --- mapping --- */

static gpumem_result buffer_map(gpumem_buffer handle, void **data, const gpumem_thread *t)
{
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_buffer_get(handle, &b, t);
    if (r != GPUMEM_OK)
        return r;
    if (!data)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "data is NULL");
    gpumem_pool_obj *pool = b->pool;
    if (!(pool->memory_flags & GPUMEM_MEMORY_HOST_VISIBLE))
        return gpumem_fail(GPUMEM_ERROR_NOT_MAPPABLE,
                           "memory type %u of pool '%s' is not host-visible", pool->memory_type,
                           pool->name);
    gpumem_lock_acquire(&pool->lock);
    uint32_t count = gpumem_buffer_map_count(b);
    if (count == UINT32_MAX)
        r = gpumem_fail(GPUMEM_ERROR_LIMIT_EXCEEDED, "mapped 2^32-1 times");
    else
        r = gpumem_page_map(pool, b->page);
    if (r == GPUMEM_OK) {
        gpumem_buffer_set_map_count(b, count + 1);
        *data = (char *)b->page->host + b->offset;
    }
    gpumem_lock_release(&pool->lock);
    return r;
}

gpumem_result gpumem_buffer_map(gpumem_buffer buffer, void **data)
{
    GPUMEM_LOGGED_CALL(buffer_map(buffer, data, GPUMEM_CALL_THREAD),
                       "buffer %#llx" GPUMEM_LOG_OUTPUTS "data %#llx",
                       GPUMEM_LOG_HANDLE(buffer), GPUMEM_LOG_OUT(data));
}

static gpumem_result buffer_unmap(gpumem_buffer handle, const gpumem_thread *t)
{
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_buffer_get(handle, &b, t);
    if (r != GPUMEM_OK)
        return r;
    gpumem_pool_obj *pool = b->pool;
    gpumem_lock_acquire(&pool->lock);
    uint32_t count = gpumem_buffer_map_count(b);
    if (count) {
        gpumem_buffer_set_map_count(b, count - 1);
        gpumem_page_unmap(pool, b->page);
    } else {
        r = gpumem_fail(GPUMEM_ERROR_BAD_STATE, "the buffer is not mapped");
    }
    gpumem_lock_release(&pool->lock);
    return r;
}

gpumem_result gpumem_buffer_unmap(gpumem_buffer buffer)
{
    GPUMEM_LOGGED_CALL(buffer_unmap(buffer, GPUMEM_CALL_THREAD),
                       "buffer %#llx",
                       GPUMEM_LOG_HANDLE(buffer));
}

gpumem_result gpumem_buffer_check_range(const gpumem_buffer_obj *b, uint64_t offset,
                                        uint64_t size)
{
    if (size == 0)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "size is 0");
    if (offset > b->size || size > b->size - offset)
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_RANGE,
                           "range [%llu, +%llu) is outside the buffer's %llu bytes",
                           (unsigned long long)offset, (unsigned long long)size,
                           (unsigned long long)b->size);
    return GPUMEM_OK;
}

typedef gpumem_result (*range_op)(gpumem_backend_device *, gpumem_backend_page *, uint64_t,
                                  uint64_t);

gpumem_result gpumem_buffer_coherence(gpumem_buffer_obj *b, uint64_t offset, uint64_t size,
                                      int flush)
{
    gpumem_pool_obj *pool = b->pool;
    if (pool->memory_flags & GPUMEM_MEMORY_HOST_COHERENT)
        return GPUMEM_OK;
    gpumem_lock_acquire(&pool->lock);
    if (!b->page->host) {
        gpumem_lock_release(&pool->lock);
        return gpumem_fail(GPUMEM_ERROR_BAD_STATE, "the buffer is not mapped");
    }
    gpumem_device_obj *device = pool->device;
    uint64_t atom = device->properties.non_coherent_atom_size;
    uint64_t begin = (b->offset + offset) & ~(atom - 1);
    uint64_t end = b->offset + offset + size;
    end = (end + atom - 1) & ~(atom - 1);
    if (end > b->page->size) /* a page's end is a valid end, even off the atom grid */
        end = b->page->size;
    range_op op = flush ? device->ops->page_flush : device->ops->page_invalidate;
    gpumem_result r = op(device->native, b->page->native, begin, end - begin);
    gpumem_lock_release(&pool->lock);
    return r == GPUMEM_OK ? r
                          : gpumem_fail_backend(r, flush ? "page_flush" : "page_invalidate");
}

/* flush and invalidate: the checks, then the shared range operation. */
static gpumem_result coherence_op(gpumem_buffer handle, uint64_t offset, uint64_t size,
                                  int flush, const gpumem_thread *t)
{
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_buffer_get(handle, &b, t);
    if (r != GPUMEM_OK)
        return r;
    if ((r = gpumem_buffer_check_range(b, offset, size)) != GPUMEM_OK)
        return r;
    if (!(b->pool->memory_flags & GPUMEM_MEMORY_HOST_VISIBLE))
        return gpumem_fail(GPUMEM_ERROR_NOT_MAPPABLE, "memory type %u is not host-visible",
                           b->pool->memory_type);
    /* The buffer's own mapping, not its page's (which a neighbour's map may hold): the call
     * answers the same whatever other buffers do. Core's transfers map the page themselves. */
    if (!(b->pool->memory_flags & GPUMEM_MEMORY_HOST_COHERENT) && !gpumem_buffer_map_count(b) &&
        !(b->pool->flags & GPUMEM_POOL_PERSISTENT_MAP))
        return gpumem_fail(GPUMEM_ERROR_BAD_STATE,
                           "the buffer is not mapped: memory without HOST_COHERENT is flushed "
                           "and invalidated through the buffer's mapping (gpumem_buffer_map)");
    return gpumem_buffer_coherence(b, offset, size, flush);
}

gpumem_result gpumem_buffer_map_internal(gpumem_buffer_obj *b, char **data)
{
    gpumem_lock_acquire(&b->pool->lock);
    gpumem_result r = gpumem_page_map(b->pool, b->page);
    if (r == GPUMEM_OK)
        *data = (char *)b->page->host + b->offset;
    gpumem_lock_release(&b->pool->lock);
    return r;
}

void gpumem_buffer_unmap_internal(gpumem_buffer_obj *b)
{
    gpumem_lock_acquire(&b->pool->lock);
    gpumem_page_unmap(b->pool, b->page);
    gpumem_lock_release(&b->pool->lock);
}

gpumem_result gpumem_buffer_flush(gpumem_buffer buffer, uint64_t offset, uint64_t size)
{
    GPUMEM_LOGGED_CALL(coherence_op(buffer, offset, size, 1, GPUMEM_CALL_THREAD),
                       "buffer %#llx, offset %llu, size %llu",
                       GPUMEM_LOG_HANDLE(buffer), (unsigned long long)(offset),
                       (unsigned long long)(size));
}

gpumem_result gpumem_buffer_invalidate(gpumem_buffer buffer, uint64_t offset, uint64_t size)
{
    GPUMEM_LOGGED_CALL(coherence_op(buffer, offset, size, 0, GPUMEM_CALL_THREAD),
                       "buffer %#llx, offset %llu, size %llu",
                       GPUMEM_LOG_HANDLE(buffer), (unsigned long long)(offset),
                       (unsigned long long)(size));
}

/* Indexes a pool's live buffers by address, at its first lookup (pool lock held): pools that
 * are never searched pay nothing for the index when buffers come and go. */
static void index_pool(gpumem_pool_obj *pool)
{
    for (gpumem_list *l = pool->buffers.next; l != &pool->buffers; l = l->next)
        index_buffer(pool, GPUMEM_CONTAINER_OF(l, gpumem_buffer_obj, link));
    pool->indexed = 1;
}

/* Device lock, then each pool's lock: the order a device close takes them in. */
static gpumem_result buffer_find(gpumem_device device_handle, uint64_t address,
                                 gpumem_buffer *buffer, uint64_t *offset)
{
    gpumem_device_obj *device;
    gpumem_result r = gpumem_device_get(device_handle, &device);
    if (r != GPUMEM_OK)
        return r;
    if (!buffer || !offset)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "%s is NULL",
                           !buffer ? "buffer" : "offset");
    if (!device->ops->page_address)
        return gpumem_fail(GPUMEM_ERROR_UNSUPPORTED,
                           "memory of backend '%s' has no addresses to look buffers up by",
                           device->properties.backend);
    gpumem_buffer found = NULL;
    uint64_t found_offset = 0;
    pthread_mutex_lock(&device->lock);
    for (gpumem_list *l = device->pools.next; l != &device->pools && !found; l = l->next) {
        GPUMEM_POOL_FOR_EACH_ARENA(pool, GPUMEM_CONTAINER_OF(l, gpumem_pool_obj, link)) {
            gpumem_lock_acquire(&pool->lock);
            if (!pool->indexed && !pool->closing)
                index_pool(pool);
            gpumem_address_node *node =
                pool->closing ? NULL : gpumem_address_find(pool->addresses, address);
            if (node) {
                gpumem_buffer_obj *b = GPUMEM_CONTAINER_OF(node, gpumem_buffer_obj, address_node);
                found = (gpumem_buffer)(uintptr_t)b->handle;
                found_offset = address - node->start;
            }
            gpumem_lock_release(&pool->lock);
            if (found)
                break;
        }
    }
    pthread_mutex_unlock(&device->lock);
    if (!found)
        return gpumem_fail(GPUMEM_ERROR_NOT_FOUND, "no live buffer of the device holds address 0x%llx",
                           (unsigned long long)address);
    *buffer = found;
    *offset = found_offset;
    return GPUMEM_OK;
}

gpumem_result gpumem_buffer_find(gpumem_device device, uint64_t address, gpumem_buffer *buffer,
                                 uint64_t *offset)
{
    GPUMEM_LOGGED_CALL(buffer_find(device, address, buffer, offset),
                       "device %#llx, address %#llx" GPUMEM_LOG_OUTPUTS "buffer %#llx, offset %llu",
                       GPUMEM_LOG_HANDLE(device), (unsigned long long)(address),
                       GPUMEM_LOG_OUT(buffer), GPUMEM_LOG_OUT(offset));
}
