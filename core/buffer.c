#include "buffer.h"

#include <stdlib.h>

#include "error.h"
#include "handles.h"
#include "stream.h"

gpumem_result gpumem_buffer_get(gpumem_buffer handle, const char *function,
                                gpumem_buffer_obj **buffer)
{
    return gpumem_handle_get(GPUMEM_HANDLE_OF(handle), GPUMEM_HANDLE_BUFFER, function,
                             (void **)buffer);
}

static int is_power_of_two(uint64_t x)
{
    return x && !(x & (x - 1));
}

static gpumem_result check_desc(const gpumem_pool_obj *pool, const gpumem_buffer_desc *d,
                                const char *function)
{
    if (!d)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, function, "desc is NULL");
    if (d->size == 0)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, function, "size is 0");
    if (d->alignment && !is_power_of_two(d->alignment))
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, function,
                            "alignment %llu is not a power of two",
                            (unsigned long long)d->alignment);
    if (d->flags & ~(uint32_t)GPUMEM_BUFFER_DEDICATED)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, function,
                            "unknown flags 0x%x in desc->flags",
                            d->flags & ~(uint32_t)GPUMEM_BUFFER_DEDICATED);
    const gpumem_device_properties *p = &pool->device->properties;
    if (d->size > p->max_allocation_size)
        return gpumem_error(GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY, function,
                            "%llu bytes exceed the device's largest allocation (%llu bytes)",
                            (unsigned long long)d->size,
                            (unsigned long long)p->max_allocation_size);
    if (pool->kind == GPUMEM_POOL_NATIVE && d->alignment > p->min_alignment)
        return gpumem_error(GPUMEM_ERROR_UNSUPPORTED, function,
                            "native pools align to %llu bytes; %llu was asked",
                            (unsigned long long)p->min_alignment,
                            (unsigned long long)d->alignment);
    return GPUMEM_OK;
}

/* Native pools allocate in stream order, on the device's default stream. */
static gpumem_stream_obj *order_stream(const gpumem_pool_obj *pool)
{
    return pool->kind == GPUMEM_POOL_NATIVE ? pool->device->default_stream : NULL;
}

static void lock_for_change(gpumem_pool_obj *pool, gpumem_stream_obj *stream)
{
    if (stream)
        pthread_mutex_lock(&stream->lock);
    pthread_mutex_lock(&pool->lock);
}

static void unlock_for_change(gpumem_pool_obj *pool, gpumem_stream_obj *stream)
{
    pthread_mutex_unlock(&pool->lock);
    if (stream)
        pthread_mutex_unlock(&stream->lock);
}

static gpumem_result buffer_bind(gpumem_buffer_obj *b, const char *function)
{
    gpumem_device_obj *device = b->pool->device;
    gpumem_result r = device->ops->buffer_bind(device->native, b->page->native, b->offset,
                                               b->size, &b->native);
    return r == GPUMEM_OK ? r : gpumem_error_from_backend(r, function, "buffer_bind");
}

/* A buffer record: a spare one of the pool's, or a new one (pool lock held). */
static gpumem_buffer_obj *record_take(gpumem_pool_obj *pool)
{
    if (gpumem_list_empty(&pool->spare_records))
        return malloc(sizeof(gpumem_buffer_obj));
    gpumem_list *node = pool->spare_records.next;
    gpumem_list_remove(node);
    pool->spare_count--;
    return GPUMEM_CONTAINER_OF(node, gpumem_buffer_obj, link);
}

static void record_give(gpumem_pool_obj *pool, gpumem_buffer_obj *b)
{
    if (pool->spare_count == GPUMEM_POOL_SPARE_RECORDS) {
        free(b);
        return;
    }
    gpumem_list_push(&pool->spare_records, &b->link);
    pool->spare_count++;
}

/* Places, binds and registers a new buffer (pool lock held). */
static gpumem_result buffer_new(gpumem_pool_obj *pool, const gpumem_buffer_desc *desc,
                                const char *function, gpumem_buffer_obj **out)
{
    gpumem_buffer_obj *b = record_take(pool);
    if (!b)
        return gpumem_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, function, "no memory for a buffer");
    uint64_t min_alignment = pool->device->properties.min_alignment;
    uint64_t alignment = desc->alignment > min_alignment ? desc->alignment : min_alignment;
    gpumem_tlsf_allocation a;
    gpumem_page *page;
    gpumem_result r = gpumem_pool_place(pool, desc->size, alignment,
                                        desc->flags & GPUMEM_BUFFER_DEDICATED, function, &page, &a);
    if (r != GPUMEM_OK) {
        record_give(pool, b);
        return r;
    }
    *b = (gpumem_buffer_obj){.pool = pool, .page = page, .offset = a.offset,
                             .size = desc->size, .left_padding = a.left_padding,
                             .block_size = a.block_size, .tlsf_handle = a.handle};
    r = buffer_bind(b, function);
    if (r == GPUMEM_OK && !(b->handle = gpumem_handle_create(GPUMEM_HANDLE_BUFFER, b))) {
        pool->device->ops->buffer_unbind(pool->device->native, b->native);
        r = gpumem_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, function, "no handle left");
    }
    if (r != GPUMEM_OK) {
        gpumem_pool_unplace(pool, page, a.handle, a.block_size);
        record_give(pool, b);
        return r;
    }
    gpumem_list_push(&pool->buffers, &b->link);
    *out = b;
    return GPUMEM_OK;
}

gpumem_result gpumem_buffer_create(gpumem_pool pool_handle, const gpumem_buffer_desc *desc,
                                   gpumem_buffer *out)
{
    gpumem_error_clear();
    gpumem_pool_obj *pool;
    gpumem_result r = gpumem_pool_get(pool_handle, __func__, &pool);
    if (r != GPUMEM_OK)
        return r;
    if (!out)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "buffer is NULL");
    if ((r = check_desc(pool, desc, __func__)) != GPUMEM_OK)
        return r;
    gpumem_stream_obj *stream = order_stream(pool);
    gpumem_buffer_obj *b = NULL;
    lock_for_change(pool, stream);
    r = buffer_new(pool, desc, __func__, &b);
    unlock_for_change(pool, stream);
    if (r == GPUMEM_OK)
        *out = (gpumem_buffer)(uintptr_t)b->handle;
    return r;
}

void gpumem_buffer_release(gpumem_buffer_obj *b)
{
    gpumem_pool_obj *pool = b->pool;
    gpumem_handle_destroy(b->handle);
    gpumem_list_remove(&b->link);
    for (; b->map_count; b->map_count--)
        gpumem_page_unmap(pool, b->page);
    pool->device->ops->buffer_unbind(pool->device->native, b->native);
    gpumem_pool_unplace(pool, b->page, b->tlsf_handle, b->block_size);
    record_give(pool, b);
}

gpumem_result gpumem_buffer_destroy(gpumem_buffer handle)
{
    gpumem_error_clear();
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_buffer_get(handle, __func__, &b);
    if (r != GPUMEM_OK)
        return r;
    gpumem_pool_obj *pool = b->pool;
    gpumem_stream_obj *stream = order_stream(pool);
    lock_for_change(pool, stream);
    /* Checked again under the lock: of two destroys at once, only the first releases. */
    if ((r = gpumem_buffer_get(handle, __func__, &b)) == GPUMEM_OK)
        gpumem_buffer_release(b);
    unlock_for_change(pool, stream);
    return r;
}

gpumem_result gpumem_buffer_info_get(gpumem_buffer handle, gpumem_buffer_info *info)
{
    gpumem_error_clear();
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_buffer_get(handle, __func__, &b);
    if (r != GPUMEM_OK)
        return r;
    if (!info)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "info is NULL");
    pthread_mutex_lock(&b->pool->lock);
    *info = (gpumem_buffer_info){
        .size = b->size,
        .offset = b->offset,
        .left_padding = b->left_padding,
        .allocation_size = b->block_size,
        .page_size = b->page->size,
        .page = b->page->id,
        .memory_type = b->pool->memory_type,
        .dedicated = b->page->dedicated,
        .mapped = b->map_count,
    };
    pthread_mutex_unlock(&b->pool->lock);
    return GPUMEM_OK;
}

gpumem_result gpumem_buffer_native(gpumem_buffer handle, gpumem_native_buffer *native)
{
    gpumem_error_clear();
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_buffer_get(handle, __func__, &b);
    if (r != GPUMEM_OK)
        return r;
    if (!native)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "native is NULL");
    gpumem_device_obj *device = b->pool->device;
    gpumem_native_buffer n = {0};
    pthread_mutex_lock(&b->pool->lock);
    r = device->ops->native_buffer(device->native, b->page->native, b->offset, b->size,
                                   &b->native, &n);
    pthread_mutex_unlock(&b->pool->lock);
    if (r != GPUMEM_OK)
        return gpumem_error_from_backend(r, __func__, "native_buffer");
    n.offset = b->offset;
    *native = n;
    return GPUMEM_OK;
}

/* --- mapping --- */

gpumem_result gpumem_buffer_map(gpumem_buffer handle, void **data)
{
    gpumem_error_clear();
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_buffer_get(handle, __func__, &b);
    if (r != GPUMEM_OK)
        return r;
    if (!data)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "data is NULL");
    gpumem_pool_obj *pool = b->pool;
    if (!(pool->memory_flags & GPUMEM_MEMORY_HOST_VISIBLE))
        return gpumem_error(GPUMEM_ERROR_NOT_MAPPABLE, __func__,
                            "memory type %u of pool '%s' is not host-visible", pool->memory_type,
                            pool->name);
    if (b->map_count == UINT32_MAX)
        return gpumem_error(GPUMEM_ERROR_LIMIT_EXCEEDED, __func__, "mapped 2^32-1 times");
    pthread_mutex_lock(&pool->lock);
    r = gpumem_page_map(pool, b->page, __func__);
    if (r == GPUMEM_OK) {
        b->map_count++;
        *data = (char *)b->page->host + b->offset;
    }
    pthread_mutex_unlock(&pool->lock);
    return r;
}

gpumem_result gpumem_buffer_unmap(gpumem_buffer handle)
{
    gpumem_error_clear();
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_buffer_get(handle, __func__, &b);
    if (r != GPUMEM_OK)
        return r;
    gpumem_pool_obj *pool = b->pool;
    pthread_mutex_lock(&pool->lock);
    if (b->map_count) {
        b->map_count--;
        gpumem_page_unmap(pool, b->page);
    } else {
        r = gpumem_error(GPUMEM_ERROR_BAD_STATE, __func__, "the buffer is not mapped");
    }
    pthread_mutex_unlock(&pool->lock);
    return r;
}

gpumem_result gpumem_buffer_check_range(const gpumem_buffer_obj *b, uint64_t offset,
                                        uint64_t size, const char *function)
{
    if (size == 0)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, function, "size is 0");
    if (offset > b->size || size > b->size - offset)
        return gpumem_error(GPUMEM_ERROR_OUT_OF_RANGE, function,
                            "range [%llu, +%llu) is outside the buffer's %llu bytes",
                            (unsigned long long)offset, (unsigned long long)size,
                            (unsigned long long)b->size);
    return GPUMEM_OK;
}

typedef gpumem_result (*range_op)(gpumem_backend_device *, gpumem_backend_page *, uint64_t,
                                  uint64_t);

gpumem_result gpumem_buffer_coherence(gpumem_buffer_obj *b, uint64_t offset, uint64_t size,
                                      int flush, const char *function)
{
    gpumem_pool_obj *pool = b->pool;
    if (pool->memory_flags & GPUMEM_MEMORY_HOST_COHERENT)
        return GPUMEM_OK;
    pthread_mutex_lock(&pool->lock);
    if (!b->page->host) {
        pthread_mutex_unlock(&pool->lock);
        return gpumem_error(GPUMEM_ERROR_BAD_STATE, function, "the buffer is not mapped");
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
    pthread_mutex_unlock(&pool->lock);
    return r == GPUMEM_OK ? r : gpumem_error_from_backend(r, function, "flush/invalidate");
}

/* flush and invalidate: the checks, then the shared range operation. */
static gpumem_result coherence_op(gpumem_buffer handle, uint64_t offset, uint64_t size,
                                  int flush, const char *function)
{
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_buffer_get(handle, function, &b);
    if (r != GPUMEM_OK)
        return r;
    if ((r = gpumem_buffer_check_range(b, offset, size, function)) != GPUMEM_OK)
        return r;
    if (!(b->pool->memory_flags & GPUMEM_MEMORY_HOST_VISIBLE))
        return gpumem_error(GPUMEM_ERROR_NOT_MAPPABLE, function,
                            "memory type %u is not host-visible", b->pool->memory_type);
    return gpumem_buffer_coherence(b, offset, size, flush, function);
}

gpumem_result gpumem_buffer_map_internal(gpumem_buffer_obj *b, const char *function, char **data)
{
    pthread_mutex_lock(&b->pool->lock);
    gpumem_result r = gpumem_page_map(b->pool, b->page, function);
    if (r == GPUMEM_OK)
        *data = (char *)b->page->host + b->offset;
    pthread_mutex_unlock(&b->pool->lock);
    return r;
}

void gpumem_buffer_unmap_internal(gpumem_buffer_obj *b)
{
    pthread_mutex_lock(&b->pool->lock);
    gpumem_page_unmap(b->pool, b->page);
    pthread_mutex_unlock(&b->pool->lock);
}

gpumem_result gpumem_buffer_flush(gpumem_buffer handle, uint64_t offset, uint64_t size)
{
    gpumem_error_clear();
    return coherence_op(handle, offset, size, 1, __func__);
}

gpumem_result gpumem_buffer_invalidate(gpumem_buffer handle, uint64_t offset, uint64_t size)
{
    gpumem_error_clear();
    return coherence_op(handle, offset, size, 0, __func__);
}
