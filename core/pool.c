#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "error.h"
#include "handles.h"
#include "stream.h"

#define POOL_KNOWN_FLAGS \
    (GPUMEM_POOL_EXACT_MATCH | GPUMEM_POOL_MEMORY_TYPE_INDEX | GPUMEM_POOL_PERSISTENT_MAP)

gpumem_result gpumem_pool_get(gpumem_pool handle, const char *function, gpumem_pool_obj **pool)
{
    return gpumem_handle_get(GPUMEM_HANDLE_OF(handle), GPUMEM_HANDLE_POOL, function,
                             (void **)pool);
}

static uint64_t align_up(uint64_t value, uint64_t alignment)
{
    return (value + alignment - 1) & ~(alignment - 1);
}

/* --- pages --- */

gpumem_result gpumem_page_map(gpumem_pool_obj *pool, gpumem_page *page, const char *function)
{
    gpumem_device_obj *device = pool->device;
    if (!page->host) {
        gpumem_result r = device->ops->page_map(device->native, page->native, &page->host);
        if (r != GPUMEM_OK)
            return gpumem_error_from_backend(r, function, "page_map");
    }
    page->map_count++;
    return GPUMEM_OK;
}

void gpumem_page_unmap(gpumem_pool_obj *pool, gpumem_page *page)
{
    if (--page->map_count == 0 && !(pool->flags & GPUMEM_POOL_PERSISTENT_MAP)) {
        pool->device->ops->page_unmap(pool->device->native, page->native);
        page->host = NULL;
    }
}

static void page_free(gpumem_pool_obj *pool, gpumem_page *page)
{
    gpumem_device_obj *device = pool->device;
    if (pool->hint == page)
        pool->hint = NULL;
    if (page->host)
        device->ops->page_unmap(device->native, page->native);
    gpumem_list_remove(&page->link);
    if (pool->kind == GPUMEM_POOL_NATIVE) {
        device->ops->native_pool_free(device->native, pool->native_pool,
                                      device->default_stream->native, page->native);
    } else {
        device->ops->page_free(device->native, page->native);
        pool->page_count--;
    }
    gpumem_device_account(device, pool->memory_type, page->size, -1);
    pool->reserved_bytes -= page->size;
    gpumem_tlsf_destroy(page->tlsf);
    free(page);
}

static gpumem_result page_new(gpumem_pool_obj *pool, uint64_t size, int dedicated,
                              const char *function, gpumem_page **out)
{
    gpumem_device_obj *device = pool->device;
    const gpumem_device_properties *props = &device->properties;
    if (pool->kind == GPUMEM_POOL_PAGED && size > props->max_allocation_size)
        return gpumem_error(GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY, function,
                            "%llu bytes exceed the device's largest allocation (%llu bytes)",
                            (unsigned long long)size,
                            (unsigned long long)props->max_allocation_size);
    if (pool->byte_limit && size > pool->byte_limit - pool->reserved_bytes)
        return gpumem_error(GPUMEM_ERROR_LIMIT_EXCEEDED, function,
                            "pool '%s' would exceed its limit of %llu bytes (%llu reserved, "
                            "%llu more needed)",
                            pool->name, (unsigned long long)pool->byte_limit,
                            (unsigned long long)pool->reserved_bytes, (unsigned long long)size);
    gpumem_page *page = calloc(1, sizeof *page);
    if (!page)
        return gpumem_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, function, "no memory for a page");
    gpumem_result r;
    if (pool->kind == GPUMEM_POOL_NATIVE)
        r = device->ops->native_pool_allocate(device->native, pool->native_pool,
                                              device->default_stream->native, size,
                                              &page->native);
    else
        r = device->ops->page_allocate(device->native, pool->memory_type, size, &page->native);
    if (r != GPUMEM_OK) {
        free(page);
        return gpumem_error_from_backend(r, function, "page_allocate");
    }
    if (!dedicated && (r = gpumem_tlsf_create(size, &page->tlsf)) != GPUMEM_OK) {
        device->ops->page_free(device->native, page->native);
        free(page);
        return gpumem_error(r, function, "no memory for a page's suballocator");
    }
    page->size = size;
    page->dedicated = dedicated;
    page->address = device->ops->page_address(device->native, page->native);
    page->id = pool->next_page_id++;
    gpumem_list_push(&pool->pages, &page->link);
    gpumem_device_account(device, pool->memory_type, size, 1);
    pool->reserved_bytes += size;
    if (pool->kind == GPUMEM_POOL_PAGED)
        pool->page_count++;
    if ((pool->flags & GPUMEM_POOL_PERSISTENT_MAP) &&
        (pool->memory_flags & GPUMEM_MEMORY_HOST_VISIBLE) &&
        (r = device->ops->page_map(device->native, page->native, &page->host)) != GPUMEM_OK) {
        page->host = NULL;
        page_free(pool, page);
        return gpumem_error_from_backend(r, function, "page_map");
    }
    *out = page;
    return GPUMEM_OK;
}

/* --- placement --- */

static int wants_own_page(const gpumem_pool_obj *pool, uint64_t size, uint64_t alignment,
                          int dedicated)
{
    return dedicated || pool->kind == GPUMEM_POOL_NATIVE || size > pool->page_size / 2 ||
           alignment > pool->page_size / 2 || size + alignment - 1 > pool->page_size / 2;
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
                              uint64_t alignment, const char *function, gpumem_page **out,
                              gpumem_tlsf_allocation *allocation)
{
    /* Offsets are aligned within the page; where the page's own address is less aligned than
     * asked, the allocation takes `alignment` more bytes and the buffer moves up inside it. */
    uint64_t misaligned = page->address & (alignment - 1);
    uint64_t min_alignment = pool->device->properties.min_alignment;
    gpumem_result r = misaligned ? gpumem_tlsf_alloc(page->tlsf, size + alignment,
                                                     min_alignment, allocation)
                                 : gpumem_tlsf_alloc(page->tlsf, size, alignment, allocation);
    if (r == GPUMEM_ERROR_LIMIT_EXCEEDED)
        return r;
    if (r == GPUMEM_OK && misaligned) {
        uint64_t shift = align_up(page->address + allocation->offset, alignment) -
                         (page->address + allocation->offset);
        allocation->offset += shift;
        allocation->left_padding += shift;
    }
    if (r != GPUMEM_OK)
        return gpumem_error(r, function, "no host memory for suballocation");
    note_allocation(pool, page, allocation->block_size);
    pool->hint = page;
    *out = page;
    return GPUMEM_OK;
}

gpumem_result gpumem_pool_place(gpumem_pool_obj *pool, uint64_t size, uint64_t alignment,
                                int dedicated, const char *function, gpumem_page **out,
                                gpumem_tlsf_allocation *allocation)
{
    gpumem_page *page;
    gpumem_result r;
    if (wants_own_page(pool, size, alignment, dedicated)) {
        /* Pages are aligned to min_alignment; larger alignments of an address need room. */
        uint64_t min_alignment = pool->device->properties.min_alignment;
        uint64_t extra = alignment > min_alignment ? alignment - min_alignment : 0;
        uint64_t bytes = align_up(size + extra, min_alignment);
        if (bytes < size || (r = page_new(pool, bytes, 1, function, &page)) != GPUMEM_OK)
            return bytes < size ? gpumem_error(GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY, function,
                                               "%llu bytes aligned to %llu do not fit memory",
                                               (unsigned long long)size,
                                               (unsigned long long)alignment)
                                : r;
        uint64_t shift = page->address ? align_up(page->address, alignment) - page->address : 0;
        *allocation = (gpumem_tlsf_allocation){0, shift, shift, bytes};
        note_allocation(pool, page, bytes);
        *out = page;
        return GPUMEM_OK;
    }
    /* The last page that had room usually has room again; the others are tried after it. */
    gpumem_page *hint = pool->hint;
    if (hint && (r = try_page(pool, hint, size, alignment, function, out, allocation)) !=
                    GPUMEM_ERROR_LIMIT_EXCEEDED)
        return r;
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &pool->pages) {
        page = GPUMEM_CONTAINER_OF(node, gpumem_page, link);
        if (!page->tlsf || page == hint)
            continue;
        r = try_page(pool, page, size, alignment, function, out, allocation);
        if (r != GPUMEM_ERROR_LIMIT_EXCEEDED)
            return r;
    }
    if ((r = page_new(pool, pool->page_size, 0, function, &page)) != GPUMEM_OK)
        return r;
    pool->empty_pages++;
    r = try_page(pool, page, size, alignment, function, out, allocation);
    if (r != GPUMEM_OK) {
        pool->empty_pages--;
        page_free(pool, page);
        if (r == GPUMEM_ERROR_LIMIT_EXCEEDED)
            r = gpumem_error(r, function, "%llu bytes aligned to %llu do not fit a new page",
                             (unsigned long long)size, (unsigned long long)alignment);
    }
    return r;
}

void gpumem_pool_unplace(gpumem_pool_obj *pool, gpumem_page *page, uint64_t tlsf_handle,
                         uint64_t block_size)
{
    if (page->tlsf)
        gpumem_tlsf_free(page->tlsf, tlsf_handle);
    pool->used_bytes -= block_size;
    pool->allocation_count--;
    if (--page->buffer_count)
        return;
    if (page->dedicated) {
        page_free(pool, page);
        return;
    }
    if (++pool->empty_pages > pool->max_empty_pages) {
        pool->empty_pages--;
        page_free(pool, page);
    }
}

/* --- creation --- */

static gpumem_result check_desc(const gpumem_device_obj *device, const gpumem_pool_desc *d,
                                const char *function)
{
    const gpumem_device_properties *p = &device->properties;
    if (d->kind != GPUMEM_POOL_PAGED && d->kind != GPUMEM_POOL_NATIVE)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, function, "unknown pool kind %u",
                            d->kind);
    if (d->flags & ~(uint32_t)POOL_KNOWN_FLAGS)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, function,
                            "unknown flags 0x%x in desc->flags",
                            d->flags & ~(uint32_t)POOL_KNOWN_FLAGS);
    if ((d->required_flags | d->preferred_flags) & ~(uint32_t)GPUMEM_MEMORY_FLAGS_ALL)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, function,
                            "unknown memory flags 0x%x",
                            (d->required_flags | d->preferred_flags) &
                                ~(uint32_t)GPUMEM_MEMORY_FLAGS_ALL);
    if ((d->flags & GPUMEM_POOL_MEMORY_TYPE_INDEX) && d->memory_type_index >= p->memory_type_count)
        return gpumem_error(GPUMEM_ERROR_NOT_FOUND, function,
                            "memory type %u does not exist (the device has %u)",
                            d->memory_type_index, p->memory_type_count);
    if (d->page_size > p->max_allocation_size)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, function,
                            "page size %llu exceeds the device's largest allocation (%llu)",
                            (unsigned long long)d->page_size,
                            (unsigned long long)p->max_allocation_size);
    if (d->kind == GPUMEM_POOL_NATIVE &&
        (!(device->capabilities & GPUMEM_CAPABILITY_NATIVE_POOLS) || !p->native_pools))
        return gpumem_error(GPUMEM_ERROR_UNSUPPORTED, function,
                            "backend '%s' has no native pools on this device", p->backend);
    return GPUMEM_OK;
}

static gpumem_result choose_type(const gpumem_device_obj *device, const gpumem_pool_desc *d,
                                 uint64_t page_size, const char *function, uint32_t *type)
{
    if (d->flags & GPUMEM_POOL_MEMORY_TYPE_INDEX) {
        *type = d->memory_type_index;
        return GPUMEM_OK;
    }
    uint32_t exact = (d->flags & GPUMEM_POOL_EXACT_MATCH) ? GPUMEM_MEMORY_TYPE_EXACT : 0;
    gpumem_result r = gpumem_memory_type_find(&device->properties, d->required_flags,
                                              d->preferred_flags, exact, page_size, type);
    if (r != GPUMEM_OK)
        return gpumem_error(r, function,
                            "no memory type has the required flags 0x%x%s with a heap of at "
                            "least %llu bytes",
                            d->required_flags, exact ? " exactly" : "",
                            (unsigned long long)page_size);
    return GPUMEM_OK;
}

/* Copies a name, cut at a character boundary so that a long UTF-8 name stays valid. */
static void copy_name(char *out, size_t size, const char *name)
{
    size_t n = strlen(name);
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, name, n);
    out[n] = '\0';
}

static gpumem_result pool_init(gpumem_pool_obj *pool, gpumem_device_obj *device,
                               const gpumem_pool_desc *d, const char *function)
{
    const gpumem_device_properties *p = &device->properties;
    pool->device = device;
    pool->kind = d->kind;
    pool->flags = d->flags;
    pool->page_size = align_up(d->page_size ? d->page_size : GPUMEM_DEFAULT_PAGE_SIZE,
                               p->min_alignment);
    if (pool->page_size > p->max_allocation_size)
        pool->page_size = p->max_allocation_size & ~(p->min_alignment - 1);
    pool->byte_limit = d->byte_limit;
    pool->release_threshold = d->release_threshold;
    pool->max_empty_pages = d->max_empty_pages ? d->max_empty_pages : 1;
    copy_name(pool->name, sizeof pool->name, d->name ? d->name : "pool");
    gpumem_list_init(&pool->pages);
    gpumem_list_init(&pool->buffers);
    gpumem_list_init(&pool->spare_records);
    gpumem_result r = choose_type(device, d, pool->kind == GPUMEM_POOL_PAGED ? pool->page_size
                                                                              : 1,
                                  function, &pool->memory_type);
    if (r != GPUMEM_OK)
        return r;
    pool->memory_flags = p->memory_types[pool->memory_type].flags;
    if (pool->kind == GPUMEM_POOL_NATIVE) {
        r = device->ops->native_pool_create(device->native, pool->memory_type,
                                            pool->release_threshold, &pool->native_pool);
        if (r != GPUMEM_OK)
            return gpumem_error_from_backend(r, function, "native_pool_create");
    }
    return GPUMEM_OK;
}

gpumem_result gpumem_pool_create(gpumem_device device_handle, const gpumem_pool_desc *desc,
                                 gpumem_pool *out)
{
    gpumem_error_clear();
    gpumem_device_obj *device;
    gpumem_result r = gpumem_device_get(device_handle, __func__, &device);
    if (r != GPUMEM_OK)
        return r;
    if (!out)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "pool is NULL");
    const gpumem_pool_desc defaults = {0};
    const gpumem_pool_desc *d = desc ? desc : &defaults;
    if ((r = check_desc(device, d, __func__)) != GPUMEM_OK)
        return r;
    gpumem_pool_obj *pool = calloc(1, sizeof *pool);
    if (!pool)
        return gpumem_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, __func__, "no memory for a pool");
    if ((r = pool_init(pool, device, d, __func__)) != GPUMEM_OK) {
        free(pool);
        return r;
    }
    pool->handle = gpumem_handle_create(GPUMEM_HANDLE_POOL, pool);
    if (!pool->handle) {
        if (pool->native_pool)
            device->ops->native_pool_destroy(device->native, pool->native_pool);
        free(pool);
        return gpumem_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, __func__, "no handle left");
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_mutex_lock(&device->lock);
    gpumem_list_push(&device->pools, &pool->link);
    pthread_mutex_unlock(&device->lock);
    *out = (gpumem_pool)(uintptr_t)pool->handle;
    return GPUMEM_OK;
}

void gpumem_pool_release(gpumem_pool_obj *pool)
{
    gpumem_device_obj *device = pool->device;
    gpumem_handle_destroy(pool->handle);
    gpumem_list_remove(&pool->link);
    gpumem_stream_obj *order = NULL;
    if (pool->kind == GPUMEM_POOL_NATIVE) { /* native frees are queued on the default stream */
        gpumem_stream_synchronize_locked(device->default_stream);
        order = device->default_stream;
        pthread_mutex_lock(&order->lock);
    }
    pthread_mutex_lock(&pool->lock);
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &pool->buffers)
        gpumem_buffer_release(GPUMEM_CONTAINER_OF(node, gpumem_buffer_obj, link));
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &pool->pages)
        page_free(pool, GPUMEM_CONTAINER_OF(node, gpumem_page, link));
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &pool->spare_records)
        free(node);
    pthread_mutex_unlock(&pool->lock);
    if (order)
        pthread_mutex_unlock(&order->lock);
    if (pool->native_pool) {
        gpumem_stream_synchronize_locked(device->default_stream);
        device->ops->native_pool_destroy(device->native, pool->native_pool);
    }
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

gpumem_result gpumem_pool_destroy(gpumem_pool handle)
{
    gpumem_error_clear();
    gpumem_pool_obj *pool;
    gpumem_result r = gpumem_pool_get(handle, __func__, &pool);
    if (r != GPUMEM_OK)
        return r;
    gpumem_device_obj *device = pool->device;
    pthread_mutex_lock(&device->lock);
    /* Checked again under the lock: of two destroys at once, only the first releases. */
    if ((r = gpumem_pool_get(handle, __func__, &pool)) == GPUMEM_OK)
        gpumem_pool_release(pool);
    pthread_mutex_unlock(&device->lock);
    return r;
}

gpumem_result gpumem_pool_trim(gpumem_pool handle)
{
    gpumem_error_clear();
    gpumem_pool_obj *pool;
    gpumem_result r = gpumem_pool_get(handle, __func__, &pool);
    if (r != GPUMEM_OK)
        return r;
    gpumem_device_obj *device = pool->device;
    if (pool->kind == GPUMEM_POOL_NATIVE) {
        gpumem_stream_synchronize_locked(device->default_stream);
        r = device->ops->native_pool_trim(device->native, pool->native_pool,
                                          pool->release_threshold);
        return r == GPUMEM_OK ? r : gpumem_error_from_backend(r, __func__, "native_pool_trim");
    }
    pthread_mutex_lock(&pool->lock);
    GPUMEM_LIST_FOR_EACH_SAFE(node, next, &pool->pages) {
        gpumem_page *page = GPUMEM_CONTAINER_OF(node, gpumem_page, link);
        if (page->buffer_count == 0) {
            pool->empty_pages--;
            page_free(pool, page);
        }
    }
    pthread_mutex_unlock(&pool->lock);
    return GPUMEM_OK;
}

static uint64_t largest_free_range(const gpumem_pool_obj *pool)
{
    uint64_t largest = 0;
    for (const gpumem_list *n = pool->pages.next; n != &pool->pages; n = n->next) {
        const gpumem_page *page = GPUMEM_CONTAINER_OF(n, gpumem_page, link);
        if (!page->tlsf)
            continue;
        gpumem_tlsf_stats s;
        gpumem_tlsf_stats_get(page->tlsf, &s);
        if (s.largest_free_range > largest)
            largest = s.largest_free_range;
    }
    return largest;
}

gpumem_result gpumem_pool_stats_get(gpumem_pool handle, gpumem_pool_stats *stats)
{
    gpumem_error_clear();
    gpumem_pool_obj *pool;
    gpumem_result r = gpumem_pool_get(handle, __func__, &pool);
    if (r != GPUMEM_OK)
        return r;
    if (!stats)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "stats is NULL");
    gpumem_device_obj *device = pool->device;
    pthread_mutex_lock(&pool->lock);
    gpumem_pool_stats s = {
        .reserved_bytes = pool->reserved_bytes,
        .used_bytes = pool->used_bytes,
        .page_count = pool->page_count,
        .allocation_count = pool->allocation_count,
        .largest_free_range = largest_free_range(pool),
        .memory_type = pool->memory_type,
        .kind = pool->kind,
    };
    pthread_mutex_unlock(&pool->lock);
    if (pool->kind == GPUMEM_POOL_NATIVE &&
        device->ops->native_pool_stats(device->native, pool->native_pool, &s.reserved_bytes,
                                       &s.used_bytes) != GPUMEM_OK)
        gpumem_error_clear(); /* core's own counts stand in */
    *stats = s;
    return GPUMEM_OK;
}
