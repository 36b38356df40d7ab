/* Native pools: a stream-ordered allocator with a runtime's rules, as CUDA's cuMemPoolCreate,
 * cuMemAllocFromPoolAsync and cuMemFreeAsync (GPUMEM_POOL_NATIVE).
 *
 * An allocation on a stream is a page of device memory whose allocation point is queued on that
 * stream (SIM_OP_ALLOCATED). A free on a stream is queued on it, and the page goes back to the
 * device when the stream's worker reaches the free (SIM_OP_FREE), after the work queued before
 * it, which may still use the page.
 *
 * The runtime's rule for a free, which simgpu checks of core: it comes after its allocation in
 * stream order, on the stream the allocation was made on, or on another one once that stream
 * has reached the allocation. simgpu has no device-side waits (stream_wait_event), so core
 * orders the freeing stream after the allocation's by waiting for the latter on the host. A
 * free on another stream before that would let the runtime hand the memory to the freeing
 * stream's next allocation while the allocating stream had not reached it; CUDA leaves that
 * undefined. The same rule holds for uses: an operation queued on another stream before the
 * allocation was reached breaks it (stream.c checks every queued operation). Work still queued
 * on the page on other streams when the free runs is reported by page_free then (core's or the application's broken promise: a host's destroy does not wait
 * for work queued on streams, gpumem.h).
 *
 * A pool lives until its destroy and its last allocation's free have run, whichever is later:
 * as cuMemPoolDestroy, a destroy with frees still queued is allowed (core waits for them
 * first, so this is never reached from it), one with allocations never freed is not. */
#include <stdlib.h>

#include "simgpu.h"

/* The pool's owner and each allocation not yet given back hold it. */
static void pool_release(sim_pool *pool)
{
    if (atomic_fetch_sub(&pool->references, 1) == 1)
        free(pool);
}

gpumem_result sim_native_pool_create(gpumem_backend_device *device, uint32_t memory_type,
                                     uint64_t release_threshold, gpumem_backend_pool **out)
{
    sim_device *d = (sim_device *)device;
    SIM_EXPECT(memory_type < d->type_count, "native_pool_create", "memory type %u of %u",
               memory_type, d->type_count);
    if (d->types[memory_type].heap_index != SIM_HEAP_DEVICE)
        return gpumem_backend_error(GPUMEM_ERROR_UNSUPPORTED,
                                    "simgpu: native pools hold device memory only (memory type "
                                    "%u is host memory)",
                                    memory_type);
    sim_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY,
                                    "simgpu: no memory for a native pool");
    pool->device = d;
    pool->memory_type = memory_type;
    atomic_init(&pool->references, 1);
    atomic_fetch_add(&d->pools, 1);
    *out = (gpumem_backend_pool *)pool;
    return GPUMEM_OK;
}

void sim_native_pool_destroy(gpumem_backend_device *device, gpumem_backend_pool *handle)
{
    sim_pool *pool = (sim_pool *)handle;
    int64_t live = atomic_load(&pool->live);
    SIM_EXPECT(live == 0, "native_pool_destroy",
               "pool %p still has %lld allocations that no free was queued for: core frees "
               "every buffer of a pool before it destroys it",
               (void *)pool, (long long)live);
    atomic_fetch_sub(&pool->device->pools, 1);
    pool_release(pool);
}

gpumem_result sim_native_pool_allocate(gpumem_backend_device *device,
                                       gpumem_backend_pool *handle,
                                       gpumem_backend_stream *stream, uint64_t size,
                                       gpumem_backend_page **out)
{
    sim_pool *pool = (sim_pool *)handle;
    sim_stream *s = (sim_stream *)stream;
    SIM_EXPECT(s != NULL, "native_pool_allocate", "no stream: allocations are stream-ordered");
    SIM_EXPECT(size > 0, "native_pool_allocate", "0 bytes");
    sim_stream_enter(s, "native_pool_allocate");
    sim_op *op = calloc(1, sizeof *op);
    if (!op) {
        sim_stream_leave(s);
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY,
                                    "simgpu: no memory to queue an allocation");
    }
    /* As many bytes as asked, so that the page's range checks hold core to them. */
    sim_page *p;
    gpumem_result r = sim_page_create((sim_device *)device, pool->memory_type, size, &p);
    if (r != GPUMEM_OK) {
        free(op);
        sim_stream_leave(s);
        return r;
    }
    p->pool = pool;
    p->allocated_on = s;
    atomic_fetch_add(&pool->references, 1);
    atomic_fetch_add(&pool->live, 1);
    atomic_fetch_add(&pool->bytes, size);
    op->kind = SIM_OP_ALLOCATED;
    op->destination = p; /* holds the page until the point is reached */
    sim_submit(stream, op);
    sim_stream_leave(s);
    *out = (gpumem_backend_page *)p;
    return GPUMEM_OK;
}

void sim_native_expect_reached(const sim_stream *s, sim_page *p, const char *operation,
                               const char *use)
{
    /* The allocating stream's pointer is only compared: that stream may be gone (then its
     * worker ran everything, the allocation point too). */
    SIM_EXPECT(s == p->allocated_on || atomic_load(&p->allocated), operation,
               "page %p (%llu bytes), allocated on stream %p, %s on stream %p before the "
               "allocating stream reached the allocation: the runtime orders a native "
               "allocation first (another stream waits for the allocating one)",
               (void *)p, (unsigned long long)p->size, (void *)p->allocated_on, use,
               (const void *)s);
}

void sim_native_pool_free(gpumem_backend_device *device, gpumem_backend_pool *handle,
                          gpumem_backend_stream *stream, gpumem_backend_page *page)
{
    sim_pool *pool = (sim_pool *)handle;
    sim_stream *s = (sim_stream *)stream;
    sim_page *p = (sim_page *)page;
    SIM_EXPECT(s != NULL, "native_pool_free", "no stream: frees are stream-ordered");
    SIM_EXPECT(p->pool == pool, "native_pool_free", "page %p is not an allocation of pool %p",
               (void *)p, (void *)pool);
    sim_native_expect_reached(s, p, "native_pool_free", "freed");
    atomic_fetch_sub(&pool->live, 1);
    sim_op *op = calloc(1, sizeof *op);
    if (!op) { /* nothing to report to: the free waits for the stream's work on the host */
        sim_stream_synchronize(device, stream);
        sim_native_pool_release(p);
        return;
    }
    sim_stream_enter(s, "native_pool_free");
    op->kind = SIM_OP_FREE;
    op->freed = p;
    sim_submit(stream, op);
    sim_stream_leave(s);
}

void sim_native_pool_release(sim_page *p)
{
    sim_pool *pool = p->pool;
    atomic_fetch_sub(&pool->bytes, p->size);
    sim_page_free((gpumem_backend_device *)p->device, (gpumem_backend_page *)p);
    pool_release(pool);
}

gpumem_result sim_native_pool_stats(gpumem_backend_device *device, gpumem_backend_pool *handle,
                                    uint64_t *reserved, uint64_t *used)
{
    sim_pool *pool = (sim_pool *)handle;
    *reserved = *used = atomic_load(&pool->bytes);
    return GPUMEM_OK;
}
