/* Two-level segregated fit suballocator over a range of offsets [0, size).
 *
 * Used by paged pools (one per page) and by virtual blocks. O(1) allocate and free with
 * coalescing of neighbouring free ranges (at once, or for deferred frees when the ring of pending
 * ranges releases them); alignment by padding, reported as
 * left padding. Block records live in an internal array that grows geometrically, so steady
 * state alloc/free pairs never touch the host heap. Not thread-safe: callers lock.
 */
#ifndef GPUMEM_CORE_TLSF_H
#define GPUMEM_CORE_TLSF_H

#include <stdint.h>

#include "gpumem/gpumem.h"

typedef struct gpumem_tlsf gpumem_tlsf;

typedef struct gpumem_tlsf_allocation {
    uint64_t handle;       /* non-zero; (generation << 32) | record index. Generations come
                              from a per-allocator counter, so a handle matches only the
                              allocation it was issued for (stale, freed and pre-clear handles
                              are refused) */
    uint64_t offset;       /* aligned start of the allocation */
    uint64_t left_padding; /* offset - start of the block (padding under 256 bytes stays in the
                              block; larger padding becomes a free range of its own) */
    uint64_t block_size;   /* bytes the allocation takes: padding, and a remainder too small to
                              be worth a free range (under 1/4 of the request), included */
} gpumem_tlsf_allocation;

typedef struct gpumem_tlsf_stats {
    uint64_t size;
    uint64_t used_bytes;         /* sum of block_size of live allocations */
    uint64_t allocation_count;
    uint64_t free_range_count;
    uint64_t largest_free_range; /* largest size that alloc(size, 1) would satisfy */
    uint64_t span;               /* end of the highest live allocation (0 when empty) */
} gpumem_tlsf_stats;

/* GPUMEM_ERROR_INVALID_ARGUMENT for size 0, GPUMEM_ERROR_OUT_OF_HOST_MEMORY. */
gpumem_result gpumem_tlsf_create(uint64_t size, gpumem_tlsf **tlsf);
void gpumem_tlsf_destroy(gpumem_tlsf *tlsf); /* NULL is fine */

/* size > 0; alignment a power of two (callers validate both; GPUMEM_ERROR_INVALID_ARGUMENT
 * otherwise). GPUMEM_ERROR_LIMIT_EXCEEDED only when no free range fits (the O(1) search falls
 * back to walking the blocks of the classes from the request's own up to the one it searched
 * from, before giving up); GPUMEM_ERROR_OUT_OF_HOST_MEMORY when the record array cannot grow.
 * The state is unchanged on failure. */
gpumem_result gpumem_tlsf_alloc(gpumem_tlsf *tlsf, uint64_t size, uint64_t alignment,
                                gpumem_tlsf_allocation *allocation);

/* GPUMEM_ERROR_INVALID_HANDLE when handle is not a live allocation of this tlsf (never freed
 * twice, never corrupts). */
gpumem_result gpumem_tlsf_free(gpumem_tlsf *tlsf, uint64_t handle);
/* gpumem_tlsf_free that says what came of the range: the size of the free range it is now part
 * of (merged with free neighbours), or 0 when handle is not a live allocation (nothing changed).
 * For suballocators freed at once (pools' pages): with deferred frees pending, the size leaves
 * out neighbours still in the ring, and ranges the ring releases later are reported nowhere. */
uint64_t gpumem_tlsf_free_merged(gpumem_tlsf *tlsf, uint64_t handle);

/* As gpumem_tlsf_free, but the range becomes free only some frees later (at most TLSF_PENDING,
 * 16): the handle is checked and the allocation ended at once (a second free is refused, the
 * allocation count drops), while the record waits, prefetched, in a ring. Stats and walk release
 * the ring's ranges first (used bytes and free ranges are exact), as does
 * gpumem_tlsf_alloc_deferred when it would fail; clear and destroy drop it. Virtual blocks free
 * this way (tlsf_inline.h says why). */
gpumem_result gpumem_tlsf_free_deferred(gpumem_tlsf *tlsf, uint64_t handle);
/* Releases the ranges of pending deferred frees now; 0 when there were none. */
int gpumem_tlsf_release_pending(gpumem_tlsf *tlsf);
/* gpumem_tlsf_alloc for a suballocator freed with gpumem_tlsf_free_deferred: the range freed last
 * is taken back as it is when it fits the request closely (tlsf_inline.h). A failure leaves the
 * allocations as they were, but has released the pending frees' ranges (and tried again). */
gpumem_result gpumem_tlsf_alloc_deferred(gpumem_tlsf *tlsf, uint64_t size, uint64_t alignment,
                                         gpumem_tlsf_allocation *allocation);

/* 1 when a live allocation (a handle alloc gave, not yet freed) has a free range beside it, so
 * that freeing it would merge the two into a larger one. For suballocators freed at once (pools,
 * on every destroy the reuse cache weighs): a range still pending in the deferred-free ring reads
 * as used, so a caller that defers releases them first (gpumem_tlsf_release_pending). */
int gpumem_tlsf_borders_free(const gpumem_tlsf *tlsf, uint64_t handle);
/* Starts fetching the record of allocation `handle` (a live one) into the cache, for a caller
 * that will soon ask gpumem_tlsf_borders_free or free it and has other memory to wait for first. */
void gpumem_tlsf_prefetch(const gpumem_tlsf *tlsf, uint64_t handle);

/* The record index of the used block nearest before handle's block in address order (a live
 * allocation's handle; for suballocators freed at once, whose free ranges are never
 * neighbours, so at most one free range lies between), or 0 when there is none (the block, or
 * the free range before it, begins the suballocator's range). Lets a caller that keeps its own
 * record per allocation (an address index) find the allocation just below a new one without a
 * search. */
uint32_t gpumem_tlsf_used_before(const gpumem_tlsf *tlsf, uint64_t handle);

/* Frees everything: one free range again. Handles given out before are no longer live. */
void gpumem_tlsf_clear(gpumem_tlsf *tlsf);

void gpumem_tlsf_stats_get(gpumem_tlsf *tlsf, gpumem_tlsf_stats *stats);
int gpumem_tlsf_is_empty(const gpumem_tlsf *tlsf);

/* The size classes the suballocator keeps its free ranges in (32 to each power of two): a
 * request's class (the first whose every range holds it; size > 0), and the least size of a
 * class, which every request of that class fits. Rounding a request up to its class's least
 * size wastes at most about 3%; gpumem_pool_cache (pool_cache.h) keys destroyed buffers by
 * these. */
uint32_t gpumem_tlsf_class_at_least(uint64_t size);
uint64_t gpumem_tlsf_class_least_size(uint32_t c);
/* The class of a range of `size` bytes: every request whose class it is fits it. */
uint32_t gpumem_tlsf_class_of(uint64_t size);

/* Visits every range in address order: used blocks (whole: from offset - left_padding) with
 * their handle, free ranges with 0. */
typedef void (*gpumem_tlsf_visit_fn)(void *user, uint64_t handle, uint64_t offset,
                                     uint64_t size, int used);
void gpumem_tlsf_walk(gpumem_tlsf *tlsf, gpumem_tlsf_visit_fn visit, void *user);

#endif
