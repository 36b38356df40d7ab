/* Buffers: ranges of a pool's pages. */
#ifndef GPUMEM_CORE_BUFFER_H
#define GPUMEM_CORE_BUFFER_H

#include <stdatomic.h>

#include "pool.h"

struct gpumem_buffer_obj {
    gpumem_list link; /* in pool->buffers, pool->retired or pool->spare_records */
    uint64_t handle;
    gpumem_pool_obj *pool;
    gpumem_page *page;
    uint64_t offset; /* in the page */
    uint64_t size;
    uint64_t left_padding;
    uint64_t block_size;
    uint64_t tlsf_handle; /* 0 for dedicated pages and native allocations */
    uint64_t retired_at;  /* the epoch stamp of its destroy (retired buffers) */
    uint64_t margin;      /* guard bytes just before offset (GPUMEM_POOL_DETECT_CORRUPTION) */
    uint64_t free_stream; /* native pools: the stream it was destroyed on, to free it on */
    gpumem_backend_buffer *native;
    uint32_t usage; /* GPUMEM_BUFFER_USAGE_* (never 0) */
    uint32_t flags; /* GPUMEM_BUFFER_* */
    char *name;      /* the application's, copied; NULL when none (freed with the record) */
    void *user_data; /* the application's */
    /* The application's maps not yet unmapped. Changed under the pool's lock; read without it
     * (gpumem_buffer_info_get), so atomic, with plain loads and stores: the lock orders the
     * writers. */
    _Atomic uint32_t map_count;
    /* In pool->addresses while live, once the pool is indexed (gpumem_buffer_find). Last: the
     * fields above are the ones every call reads. */
    gpumem_address_node address_node;
};

static inline uint32_t gpumem_buffer_map_count(const gpumem_buffer_obj *b)
{
    return atomic_load_explicit(&b->map_count, memory_order_relaxed);
}

/* Pool lock held. */
static inline void gpumem_buffer_set_map_count(gpumem_buffer_obj *b, uint32_t count)
{
    atomic_store_explicit(&b->map_count, count, memory_order_relaxed);
}

/* The buffer of a live handle, or the reason there is none. */
gpumem_result gpumem_buffer_get(gpumem_buffer handle, gpumem_buffer_obj **buffer);

/* OK when [offset, offset + size) is a non-empty range inside the buffer; otherwise the error
 * (GPUMEM_ERROR_INVALID_ARGUMENT for size 0, GPUMEM_ERROR_OUT_OF_RANGE) with its message. */
gpumem_result gpumem_buffer_check_range(const gpumem_buffer_obj *buffer, uint64_t offset,
                                        uint64_t size);

/* Flushes (or invalidates) a range of a mapped buffer, rounded out to the atom size; a no-op
 * for coherent memory. Takes the pool lock. */
gpumem_result gpumem_buffer_coherence(gpumem_buffer_obj *buffer, uint64_t offset, uint64_t size,
                                      int flush);

/* Takes a buffer out of its pool's address index, if the pool keeps one (pool lock held). */
void gpumem_buffer_unindex(gpumem_pool_obj *pool, gpumem_buffer_obj *buffer);

/* Maps / unmaps for core's own use (no user-visible map count). */
gpumem_result gpumem_buffer_map_internal(gpumem_buffer_obj *buffer, char **data);
void gpumem_buffer_unmap_internal(gpumem_buffer_obj *buffer);

#endif
