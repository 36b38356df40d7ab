/* Pools: memory of one type, in pages suballocated with TLSF, or a runtime's native pool. */
#ifndef GPUMEM_CORE_POOL_H
#define GPUMEM_CORE_POOL_H

#include <pthread.h>

#include "device.h"
#include "tlsf.h"

typedef struct gpumem_page {
    gpumem_list link;            /* in pool->pages (not for native allocations) */
    gpumem_backend_page *native;
    gpumem_tlsf *tlsf;           /* NULL for dedicated pages and native allocations */
    uint64_t size;
    uint32_t id;
    uint32_t buffer_count;
    uint32_t map_count;
    int dedicated;
    uint64_t address;            /* where the page starts, or 0 where memory has no address */
    void *host;                  /* the mapping, while map_count > 0 or persistently */
} gpumem_page;

typedef struct gpumem_pool_obj {
    gpumem_list link; /* in device->pools */
    uint64_t handle;
    gpumem_device_obj *device;
    pthread_mutex_t lock; /* pages, buffers, counters, mappings */
    uint32_t kind;
    uint32_t flags;
    uint32_t memory_type;
    uint32_t memory_flags;
    uint32_t max_empty_pages;
    uint32_t next_page_id;
    uint64_t page_size;
    uint64_t byte_limit;
    uint64_t release_threshold;
    char name[GPUMEM_NAME_SIZE];
    gpumem_list pages;
    gpumem_list buffers;
    uint64_t reserved_bytes;
    uint64_t used_bytes;
    uint64_t page_count;
    uint64_t allocation_count;
    uint32_t empty_pages;
    gpumem_backend_pool *native_pool;
    gpumem_page *hint; /* the page that took the last allocation: tried first */
    /* Buffer records of destroyed buffers, reused so that create+destroy pairs stay off the
     * host heap (about 100 bytes each; at most GPUMEM_POOL_SPARE_RECORDS are kept, until the pool goes). */
    gpumem_list spare_records;
    uint32_t spare_count;
} gpumem_pool_obj;

#define GPUMEM_POOL_SPARE_RECORDS 65536

gpumem_result gpumem_pool_get(gpumem_pool handle, const char *function, gpumem_pool_obj **pool);

/* Destroys the pool's buffers and pages and the pool (device lock held by the caller). */
void gpumem_pool_release(gpumem_pool_obj *pool);

/* Allocates [size, alignment] in the pool (pool lock held): a page and a place in it. */
gpumem_result gpumem_pool_place(gpumem_pool_obj *pool, uint64_t size, uint64_t alignment,
                                int dedicated, const char *function, gpumem_page **page,
                                gpumem_tlsf_allocation *allocation);

/* Gives a place back (pool lock held); frees or keeps the page as the pool's policy says. */
void gpumem_pool_unplace(gpumem_pool_obj *pool, gpumem_page *page, uint64_t tlsf_handle,
                         uint64_t block_size);

/* Maps a page for the host, counting references (pool lock held). */
gpumem_result gpumem_page_map(gpumem_pool_obj *pool, gpumem_page *page, const char *function);
void gpumem_page_unmap(gpumem_pool_obj *pool, gpumem_page *page);

#endif
