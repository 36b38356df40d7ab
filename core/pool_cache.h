/* A pool's reuse cache: destroyed buffers kept whole, by size class, for the next creates.
 *
 * A create+destroy pair that goes through the suballocator allocates a range (finding a class,
 * splitting a block) and at its destroy frees it (merging it with its neighbours): about half
 * of the pair's instructions (docs/performance.md). A destroyed buffer of a shared page whose
 * size fits the cache keeps its range and its record instead; the next create of the same
 * suballocator class (gpumem_tlsf_class_at_least), or of one up to GPUMEM_POOL_CACHE_CLASSES_UP
 * below it, takes both as they are. A buffer is kept only once no call can reach it: at its
 * destroy where no other thread holds an epoch record (epoch.h), with no barrier; with other
 * threads, destroys retire (pool.h), and a batch of retired buffers that a barrier proved
 * unreachable is kept rather than freed (gpumem_pool_reclaim_below). So that a buffer destroyed
 * and created again at the same size finds
 * its class, paged pools round cacheable requests up to their class's least size (at most about
 * 3% more bytes).
 *
 * Bounds, per arena: GPUMEM_POOL_CACHE_PER_CLASS buffers a class, a page's bytes divided by
 * GPUMEM_POOL_CACHE_BYTES_FRACTION in all, and buffers of at most a page divided by
 * GPUMEM_POOL_CACHE_LARGEST_FRACTION; past them destroyed buffers are freed (at once, or at
 * their batch's reclaim). A buffer mapped again by a call that raced with its destroy is
 * freed too (the free gives its mappings back). The
 * cache is emptied (its buffers freed) before a new page is made, by trim, by statistics, and
 * when the pool goes: kept ranges are never the reason for more memory, and the pool's figures
 * show them as free. Of the buffers beside free room, one at a time is kept, the frontier
 * (pool->cache_frontier: a scratch buffer made and destroyed in a loop at the end of a page's
 * used bytes), and the next placement in a shared page frees it first
 * (gpumem_pool_cache_free_frontier), so that its room serves that placement as if it had been
 * freed at its destroy; other buffers beside free room are freed (that room grows). Buffers
 * destroyed beside the frontier before that placement (temporaries freed in reverse order) do
 * not border free room then, and are kept as any other: the next creates of their sizes take
 * them in place, as a loop of nested temporaries wants (training-like sequences peak as they
 * did, docs/performance.md "Fifty-first session"). Where frontiers are freed untaken again and
 * again, only a run of 8 candidates in every 256 that the gate counts is kept, until one is
 * taken (frontier_looks in pool_cache.c).
 * Pools with guard margins
 * (GPUMEM_POOL_DETECT_CORRUPTION) and native pools have no cache; buffers with a page of their
 * own, an image or a native object of their own are never kept.
 *
 * Every function runs under the pool's lock (gpumem_pool_lock).
 */
#ifndef GPUMEM_CORE_POOL_CACHE_H
#define GPUMEM_CORE_POOL_CACHE_H

#include "buffer.h"
#include "pool.h"

#define GPUMEM_POOL_CACHE_PER_CLASS 8
/* A third of a page: over 16 seeds of gpumem-bench's pool trace, reserved over used as with a
 * quarter (2.016 against 2.010 on average, +0.006 +- 0.006) for a pair 8% faster; half a page
 * needed a third page (docs/performance.md, "Fifty-seventh session", "Fifteenth session"). */
#define GPUMEM_POOL_CACHE_BYTES_FRACTION 3
#define GPUMEM_POOL_CACHE_LARGEST_FRACTION 16
/* A create whose own class keeps no buffer takes one of up to this many classes above. Eight
 * classes up have a least size at most 40/32 of the class's own (25% more, at the start of a
 * power of two; about 19% on average over an octave). On the pool trace, over 16 seeds, they
 * reserve the same bytes as two classes up (the twenty-fourth session's choice), and over 6
 * seeds with 2,000 live buffers too, and count 2-3.5% more used, for a pair 12-17% faster; four
 * classes up were about 5% faster for 1.1% more used (docs/performance.md, "Fifty-eighth
 * session"). Less than 64: a take reads the bins' bits 64 at a time. */
#define GPUMEM_POOL_CACHE_CLASSES_UP 8

/* A record's cache_bin where the cache must never keep it (buffer.h). */
#define GPUMEM_POOL_CACHE_NO_BIN UINT16_MAX

/* Makes the cache of a paged pool without margins (no cache otherwise, which is no failure). */
gpumem_result gpumem_pool_cache_init(gpumem_pool_obj *pool);
/* Frees the cache's own memory; the cache must be empty (gpumem_pool_cache_flush). */
void gpumem_pool_cache_fini(gpumem_pool_obj *pool);

/* A kept buffer that holds `bytes` (a shared-page request, margins included; 0 finds none) and
 * that no call can reach, of the request's class or, where that class keeps none, of one of the
 * GPUMEM_POOL_CACHE_CLASSES_UP classes above (the lowest that keeps one), taken out of the
 * cache and counted as placed again (used bytes, allocations), with its page, range and record
 * as they were; NULL when there is none.
 * `alignment` is 0 for min_alignment (which every range of a shared page has), else a larger
 * power of two. *place is what to place on a miss: bytes rounded up to their class's least size
 * where the cache would keep such a buffer, else bytes. */
gpumem_buffer_obj *gpumem_pool_cache_take(gpumem_pool_obj *pool, uint64_t bytes,
                                          uint64_t alignment, uint64_t *place);

/* The bin of a buffer of `size` bytes (as asked; pools with a cache have no margins) placed in a
 * range holding `usable` bytes past its padding, for gpumem_pool_cache_keep: the class it was
 * rounded to, or the one its bytes fill where it was placed unrounded
 * (gpumem_placement.unrounded). Either way it holds that class's least size. A buffer taken
 * from a bin holds at least that bin's least size still, whatever it was taken for (a size of
 * that class or of a class below): a record taken from the cache keeps the bin it has. For
 * ranges of at most the cache's largest bytes. */
uint32_t gpumem_pool_cache_bin_of(const gpumem_pool_obj *pool, uint64_t size, uint64_t usable);

/* Keeps a destroyed buffer that no call can reach (detached by gpumem_pool_retire: with no other
 * thread holding an epoch record, or retired and then proved unreachable by a barrier,
 * gpumem_pool_reclaim_below); 0 when it is not kept (the caller frees it): never one whose
 * cache_bin is GPUMEM_POOL_CACHE_NO_BIN, which a buffer with a native object of its own has. */
int gpumem_pool_cache_keep(gpumem_pool_obj *pool, gpumem_buffer_obj *buffer);

/* Frees the frontier (pool->cache_frontier, which must be set), the buffer kept because it
 * bordered free room, so that a placement sees that room: called before every placement in a
 * shared page. */
void gpumem_pool_cache_free_frontier(gpumem_pool_obj *pool);

/* A buffer about to be freed rather than kept: where it is the last buffer of its page that the
 * cache does not keep, the page's kept buffers are freed first, so that the page empties as it
 * would without the cache (kept ranges never hold a page that no live buffer uses). */
void gpumem_pool_cache_leave_page(gpumem_pool_obj *pool, const gpumem_buffer_obj *buffer);

/* Empties the cache: its buffers are freed (no call can reach them). */
void gpumem_pool_cache_flush(gpumem_pool_obj *pool);

#endif
