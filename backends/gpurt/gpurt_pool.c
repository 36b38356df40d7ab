/* Native pools: the runtime's stream-ordered allocator (cuMemPoolCreate, hipMemPoolCreate).
 * The pool handle is the runtime's own; allocations are pages like any other, so copies and
 * native handles need not know where a page came from. */
#include <stdlib.h>

#include "gpurt_error.h"
#include "gpurt_page.h"

static gpumem_result set_threshold(const gpurt_device *d, void *pool, uint64_t threshold)
{
    /* 0 keeps the runtime's default, as the pool descriptor documents. */
    gpurt_status status = threshold ? d->rt->pool_set(pool, GPURT_POOL_RELEASE_THRESHOLD,
                                                      threshold)
                                    : 0;
    return status == 0 ? GPUMEM_OK : gpurt_fail(d->rt, GPURT_CALL_POOL_ATTRIBUTE, status);
}

/* The runtime's default lets it give an allocation on one stream memory freed on another whose
 * work is still queued, making only the allocating stream wait for that work. Core allocates a
 * host's create on the device's default stream and hands the buffer to every stream and the
 * host: such memory would be in use by the freeing stream's work meanwhile. Reuse then needs
 * the free's work done, or an event the allocating stream waited for (the application's). */
static gpumem_result forbid_internal_dependencies(const gpurt_device *d, void *pool)
{
    gpurt_status status = d->rt->pool_set(pool, GPURT_POOL_REUSE_INTERNAL_DEPENDENCIES, 0);
    return status == 0 ? GPUMEM_OK : gpurt_fail(d->rt, GPURT_CALL_POOL_ATTRIBUTE, status);
}

static gpumem_result create_pool(const gpurt_device *d, uint64_t threshold, void **pool)
{
    gpurt_status status = d->rt->pool_create(d->ordinal, pool);
    if (status != 0)
        return gpurt_fail(d->rt, GPURT_CALL_POOL_CREATE, status);
    gpumem_result r = forbid_internal_dependencies(d, *pool);
    if (r == GPUMEM_OK)
        r = set_threshold(d, *pool, threshold);
    if (r != GPUMEM_OK)
        d->rt->pool_destroy(*pool);
    return r;
}

gpumem_result gpurt_native_pool_create(gpumem_backend_device *device, uint32_t memory_type,
                                       uint64_t release_threshold, gpumem_backend_pool **pool)
{
    const gpurt_device *d = gpurt_device_of(device); /* core checked properties.native_pools */
    if (d->kinds[memory_type] != GPURT_MEMORY_DEVICE)
        return gpumem_backend_error(GPUMEM_ERROR_UNSUPPORTED,
                                    "native pools hold device memory only (type %u is not)",
                                    memory_type);
    gpurt_scope scope;
    void *handle = NULL;
    gpumem_result r = gpurt_enter(d, &scope);
    if (r != GPUMEM_OK)
        return r;
    r = create_pool(d, release_threshold, &handle);
    gpurt_leave(d, &scope);
    if (r == GPUMEM_OK)
        *pool = handle;
    return r;
}

void gpurt_native_pool_destroy(gpumem_backend_device *device, gpumem_backend_pool *pool)
{
    const gpurt_device *d = gpurt_device_of(device);
    gpurt_scope scope;
    if (gpurt_enter(d, &scope) != GPUMEM_OK)
        return;
    d->rt->pool_destroy(pool);
    gpurt_leave(d, &scope);
}

gpumem_result gpurt_native_pool_allocate(gpumem_backend_device *device, gpumem_backend_pool *pool,
                                         gpumem_backend_stream *stream, uint64_t size,
                                         gpumem_backend_page **page)
{
    gpurt_device *d = gpurt_device_of(device);
    gpurt_page *p = calloc(1, sizeof *p);
    if (!p)
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for a page");
    p->kind = GPURT_MEMORY_DEVICE;
    p->size = size;
    gpurt_scope scope;
    gpumem_result r = gpurt_enter(d, &scope);
    if (r == GPUMEM_OK) {
        gpurt_status status = d->rt->pool_allocate(pool, size, stream, &p->address);
        gpurt_leave(d, &scope);
        if (status != 0)
            r = gpurt_fail_allocation(d->rt, GPURT_CALL_POOL_ALLOCATE, status,
                                      GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY, size);
    }
    if (r != GPUMEM_OK) {
        free(p);
        return r;
    }
    *page = (gpumem_backend_page *)p;
    return GPUMEM_OK;
}

void gpurt_native_pool_free(gpumem_backend_device *device, gpumem_backend_pool *pool,
                            gpumem_backend_stream *stream, gpumem_backend_page *page)
{
    gpurt_device *d = gpurt_device_of(device);
    gpurt_page *p = gpurt_page_of(page);
    gpurt_scope scope;
    if (gpurt_enter(d, &scope) == GPUMEM_OK) {
        d->rt->pool_free(p->address, stream);
        gpurt_leave(d, &scope);
    }
    free(p);
}

gpumem_result gpurt_native_pool_trim(gpumem_backend_device *device, gpumem_backend_pool *pool,
                                     uint64_t keep_bytes)
{
    const gpurt_device *d = gpurt_device_of(device);
    gpurt_scope scope;
    gpumem_result r = gpurt_enter(d, &scope);
    if (r != GPUMEM_OK)
        return r;
    gpurt_status status = d->rt->pool_trim(pool, keep_bytes);
    gpurt_leave(d, &scope);
    return status == 0 ? GPUMEM_OK : gpurt_fail(d->rt, GPURT_CALL_POOL_TRIM, status);
}

/* Attribute reads need no current device. */
gpumem_result gpurt_native_pool_stats(gpumem_backend_device *device, gpumem_backend_pool *pool,
                                      uint64_t *reserved, uint64_t *used)
{
    const gpurt_device *d = gpurt_device_of(device);
    gpurt_status status = d->rt->pool_get(pool, GPURT_POOL_RESERVED_CURRENT, reserved);
    if (status == 0)
        status = d->rt->pool_get(pool, GPURT_POOL_USED_CURRENT, used);
    return status == 0 ? GPUMEM_OK : gpurt_fail(d->rt, GPURT_CALL_POOL_ATTRIBUTE, status);
}
