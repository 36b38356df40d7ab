/* Pools: memory of one type, in pages suballocated with TLSF, or a runtime's native pool. */
#ifndef GPUMEM_CORE_POOL_H
#define GPUMEM_CORE_POOL_H

#include <stdatomic.h>

#include "address_index.h"
#include "device.h"
#include "epoch.h"
#include "lock.h"
#include "page_ids.h"
#include "page_index.h"
#include "stream_order.h"
#include "tlsf.h"

typedef struct gpumem_page {
    gpumem_list link;            /* in pool->pages (not for native allocations) */
    gpumem_backend_page *native;
    gpumem_tlsf *tlsf;           /* NULL for dedicated pages and native allocations */
    uint64_t size;
    uint32_t id;
    uint32_t buffer_count;       /* buffers placed in the page, retired ones included */
    uint32_t kept_count;         /* of them, those the reuse cache keeps (pool_cache.h): a page
                                    never holds only kept buffers */
    uint32_t map_count;
    int dedicated;
    /* The application's memory (gpumem_buffer_import): a dedicated page that is never counted
     * as reserved or in its heap, never mapped persistently, and whose page_free releases only
     * what page_import made. */
    int imported;
    uint64_t import_offset;      /* imported pages: the range's offset in the application's
                                    memory object (gpumem_import_desc.offset); else 0 */
    uint64_t address;            /* where the page starts, or 0 where memory has no address */
    uint64_t alloc_stream;       /* native allocations: the stream they were made on; else 0 */
    /* Memory allocated for one image (page_allocate_for_image): never reused for another. */
    int for_image;
    void *host;                  /* the mapping, while map_count > 0 or persistently */
    /* Shared pages: their place in the pool's page_index, whose room is a bound on the
     * largest request (with no alignment) the page's suballocator may take, never below its
     * largest free range. The page's size at first; a refused request lowers it to one byte
     * less (no free range held it, and allocations only take room away); a free whose range,
     * merged with its free neighbours, is larger raises it to that range's size (the largest
     * free range is the larger of the two). The oldest page whose room reaches a request is
     * tried first, and pages without it are never looked at. */
    gpumem_page_index_entry index_entry;
    /* Shared pages of pools searched by address: the buffer record of each suballocator record
     * whose node is in the pool's address index (NULL for others), owner_capacity of them, so
     * that a new buffer's node goes in beside the one of the buffer just below it
     * (gpumem_tlsf_used_before) rather than by a search from the root. Grown as records are;
     * where it could not grow, the search is made. */
    struct gpumem_buffer_obj **owners;
    uint32_t owner_capacity;
} gpumem_page;

typedef struct gpumem_buffer_obj gpumem_buffer_obj;

/* The most calls whose epochs a pool remembers as holding retired buffers (`held_by`): as many
 * as a reclaim's snapshot of calls holds, and UINT64_MAX. The epochs noted are mostly those of
 * calls in the latest snapshot with births: a reclaim with one that finds a noted call ended
 * looks at every held buffer and notes their epochs afresh, and a reclaim that empties the held
 * list forgets them. Four were too few: with five threads in long calls begun at different epochs,
 * 400,000 destroys beside them took 3.0 us each instead of 0.18 (docs/performance.md,
 * "Thirty-sixth session"). */
#define GPUMEM_POOL_HELD_EPOCHS (GPUMEM_EPOCH_SNAPSHOT_MAX + 1)
/* While retired buffers with pages of their own are held by calls, one create in this many
 * reclaims first (with a barrier), so that the pages go soon after those calls end. */
#define GPUMEM_POOL_HELD_PAGE_LOOKS 64

typedef struct gpumem_pool_obj {
    /* What calls read without the lock, set when the pool is made (a create reads them from the
     * pool the application holds while another thread's arena, which may be that pool, changes
     * what follows: so the lock starts a new pair of cache lines, as x86 cores fetch lines in
     * 128-byte pairs). */
    gpumem_list link; /* in device->pools (the device's lock) */
    uint64_t handle;
    gpumem_device_obj *device;
    uint32_t kind;
    uint32_t flags;
    uint32_t memory_type;
    uint32_t memory_flags;
    uint32_t max_empty_pages;
    uint64_t page_size;
    uint64_t byte_limit;
    uint64_t release_threshold;
    char name[GPUMEM_NAME_SIZE];
    gpumem_backend_pool *native_pool;
    /* Arenas (gpumem_pool_desc.arena_count > 1): the pool the application holds keeps the
     * others, each a pool of its own lock, pages and buffers with no handle, in `arenas`
     * (arenas[0] is the pool itself). Every arena's `owner` is that pool (a pool without arenas
     * is its own), which counts the bytes all of them reserve (`reserved_together`) against
     * byte_limit and numbers their pages. A pool without arenas, and each arena, is its own
     * only one (`self`). */
    struct gpumem_pool_obj *owner;
    struct gpumem_pool_obj **arenas; /* &self without arenas */
    struct gpumem_pool_obj *self;
    uint32_t arena_count;

    gpumem_lock lock __attribute__((aligned(128))); /* what follows, and the pages */
    int closing;          /* the pool's handle ended: no new buffers */
    /* Native pools: the stream the locked section queues the runtime's allocations and frees
     * on (gpumem_pool_lock_on, which sets it at every lock). */
    gpumem_stream_obj *queue;
    /* 1 in a section that gpumem_pool_lock_for opened for the host (a host's create), 0 for a
     * stream's; meaningless in other sections, which allocate nothing. */
    int host_takes;
    _Atomic uint64_t reserved_together; /* the owner's (limit_take in pool.c) */
    _Atomic uint32_t arena_turn;        /* the owner's: threads that created (gpumem_pool_arena) */
    gpumem_list pages;
    gpumem_list buffers;  /* live buffers */
    /* Live buffers by address (gpumem_buffer_find), where memory has addresses: made at the
     * first lookup in the pool, kept up to date from then on (`indexed`). */
    gpumem_address_node *addresses;
    int indexed;
    gpumem_list retired;  /* destroyed buffers that a call may still use, oldest first */
    uint32_t retired_count;
    uint32_t retired_pages; /* of them, buffers with a page of their own */
    uint64_t retired_bytes; /* their allocations' bytes */
    uint32_t retired_since_count; /* retired since the last reclaim (gpumem_pool_reclaim) */
    uint64_t retired_since_bytes;
    uint64_t reserved_bytes;
    uint64_t used_bytes;  /* of live buffers */
    uint64_t page_count;
    uint64_t allocation_count;
    uint32_t empty_pages;
    /* Buffer records of freed buffers, reused so that create+destroy pairs stay off the host
     * heap (about 100 bytes each; at most GPUMEM_POOL_SPARE_RECORDS are kept, until the pool
     * goes). */
    gpumem_list spare_records;
    uint32_t spare_count;
    /* The reuse cache (pool_cache.h): destroyed buffers kept whole, a list a class from
     * cache_first_class on (NULL: no cache). */
    struct gpumem_pool_cache_bin *cache_bins;
    uint64_t *cache_kept_bits; /* bit i % 64 of word i / 64: bin i keeps a buffer */
    uint32_t cache_first_class;
    uint32_t cache_class_count;
    uint32_t cached_count;
    uint64_t cached_bytes;   /* their allocations' bytes */
    uint64_t cache_largest;  /* the largest buffer (block bytes) kept; 0: no cache */
    uint64_t cache_byte_limit; /* the most bytes kept; 0: no cache */
    /* The one buffer kept because it bordered free room at its destroy (pool_cache.h), NULL:
     * none; and the candidates for it that the gate refused or that a placement freed untaken,
     * since one was taken (frontier_looks). */
    gpumem_buffer_obj *cache_frontier;
    uint32_t frontier_misses;
    /* Paged pools: ranges freed in stream order whose work may still run (stream_order.h).
     * While some are unsettled, pages that would be freed are kept (empty dedicated pages, and
     * empty shared pages beyond max_empty_pages; `pages_parked` is 1 once one was, until
     * release_parked: a flag, as a kept page may be taken again meanwhile) until the host has
     * waited for that work. Shared pages kept are still used for allocations, dedicated ones
     * (`parked_bytes`) for requests of about their size; once they reach
     * GPUMEM_POOL_KEPT_PAGES pages' size, an allocation on a stream has the host wait
     * (gpumem_pool_lock_for) and frees them. */
    gpumem_stream_order order;
    uint32_t pages_parked;
    uint64_t parked_bytes;
    /* Records of buffers freed while stream-ordered frees were unsettled, kept with their
     * native object (gpumem_buffer_native: a VkBuffer): work queued before a destroy on a
     * stream may still use the object, so it is released with the parked pages, once the host
     * has waited for that work; from GPUMEM_POOL_KEPT_OBJECTS on, an allocation on a stream
     * has the host wait (gpumem_pool_lock_for). */
    gpumem_list parked_records;
    uint32_t parked_record_count;
    /* Retired buffers that a reclaim found reached by calls in progress (counted in
     * retired_count and the rest), apart from `retired`: the next reclaims pass them by in one
     * test while those calls run, where a scan would cost each batch a look at every one
     * (quadratic in the buffers destroyed beside a long call). `held_by` has the epochs of the
     * calls that reach them, sorted; held_by_count is GPUMEM_POOL_HELD_EPOCHS + 1 when there
     * were more (each reclaim then looks at them all, and notes them afresh with births: rare,
     * as the epochs noted are mostly of one snapshot's calls; a batch's snapshot, taken before
     * the lock, may be older than the notes' and add its own), and the last is UINT64_MAX when a
     * held buffer waits for what a reclaim cannot tell (the same). An epoch whose buffers went
     * may stay. Late: only reclaims read it. */
    gpumem_list held;
    uint32_t held_pages; /* of them, buffers with a page of their own */
    uint32_t held_page_creates; /* creates that passed held pages by (retired_pages_due) */
    uint32_t held_by_count;
    uint64_t held_by[GPUMEM_POOL_HELD_EPOCHS];
    /* Native pools: retired buffers that no call reaches any more, destroyed on a stream that
     * lives on and that this section does not hold (frees_here): the runtime frees them on that
     * stream, so they wait for a section that holds it (a reclaim in a call on it, or a trim,
     * which takes each such stream in turn) or for its destroy. Counted in retired_count and
     * retired_bytes, not in retired_pages or held_pages: no barrier can free them, so none is
     * due for them. */
    gpumem_list on_streams;
    uint32_t on_stream_count;
    /* The shared pages of `pages`, by age, with their room (page_index.h). Late: of its
     * fields, only a create that finds no kept buffer reads any. */
    gpumem_page_index page_index;
    /* The owner's (page_ids.h; the other arenas' stay empty). On a line of its own: with a
     * native pool, every create and destroy takes its lock, from any arena. */
    gpumem_page_ids page_ids __attribute__((aligned(64)));
} gpumem_pool_obj;

/* The pool's arenas one by one (the pool itself first); `break` leaves the loop. */
#define GPUMEM_POOL_FOR_EACH_ARENA(arena, pool)                                                 \
    for (gpumem_pool_obj **arena##_at_ = (pool)->arenas, *arena;                               \
         arena##_at_ < (pool)->arenas + (pool)->arena_count && ((arena = *arena##_at_), 1);   \
         arena##_at_++)

/* The arena the calling thread creates in: the pool itself without arenas. */
gpumem_pool_obj *gpumem_pool_arena(gpumem_pool_obj *pool);

/* Trims every arena of arena's pool but arena (as gpumem_pool_trim: retired buffers, settled
 * parked pages and empty shared pages go), taking their locks one at a time, none held on
 * entry; 1 when the pool's arenas then reserve fewer bytes. */
int gpumem_pool_trim_others(gpumem_pool_obj *arena);

#define GPUMEM_POOL_SPARE_RECORDS 65536
/* Kept dedicated pages (see parked_bytes) up to this many pages' size are reused by later
 * allocations before a stream's allocation has the host wait and frees them. */
#define GPUMEM_POOL_KEPT_PAGES 4
/* Native objects kept for stream-ordered frees (see parked_records) before a stream's
 * allocation has the host wait and releases them. */
#define GPUMEM_POOL_KEPT_OBJECTS 256
/* Retired buffers (those destroyed while another thread held an epoch record:
 * gpumem_pool_retire frees the rest at once) are freed in batches,
 * or earlier when their room is needed. Each batch asks every thread whether it is still in a
 * call (a barrier, see epoch.h): batches are GPUMEM_POOL_RETIRE_BATCH_SHARED for each thread
 * that holds a record, up to GPUMEM_POOL_RETIRE_BATCH_THREADS threads, or
 * GPUMEM_POOL_RETIRE_BATCH with one. On the 2-core
 * VM two threads churning pools of their own took 2.4x the time of one with 64 a thread, 1.5x
 * with 256 and 1.3x with 1,024 (docs/performance.md, "Scale"). */
#define GPUMEM_POOL_RETIRE_BATCH 64
#define GPUMEM_POOL_RETIRE_BATCH_SHARED 256
#define GPUMEM_POOL_RETIRE_BATCH_THREADS 64
/* ... or once they hold a page's bytes divided by this (64 MiB of 512 MiB pages, 4 MiB of the
 * default 32 MiB): large ranges go back soon. Each reclaim costs a membarrier(2) while other
 * threads have made calls: a churn of random sizes up to 64 MiB in 512 MiB pages, with one
 * other thread, took 133 ns per replace without this rule, 154 ns with 1/8, 170 ns with 1/16,
 * 260 ns with 1/256; peak reserved bytes (tests/python/test_pool_growth.py, the PyTorch
 * trace) were the same from 1/8 down, and worse with 1/4. */
#define GPUMEM_POOL_RETIRE_PAGE_FRACTION 8

/* The pool of a live handle, or the reason there is none. */
gpumem_result gpumem_pool_get(gpumem_pool handle, gpumem_pool_obj **pool);

/* Native pools allocate and free in the order of the device's default stream, and take its
 * lock before the pool's; paged pools take the pool's alone. */
void gpumem_pool_lock(gpumem_pool_obj *pool);
void gpumem_pool_unlock(gpumem_pool_obj *pool);
/* gpumem_pool_lock of every arena of a pool the application holds, in the arenas' order (the
 * only way two arena locks are held at once). */
void gpumem_pool_lock_arenas(gpumem_pool_obj *pool);
void gpumem_pool_unlock_arenas(gpumem_pool_obj *pool);
/* The same, with `stream` in place of the device's default stream for a native pool's
 * allocations and frees (stream-ordered buffers). */
void gpumem_pool_lock_on(gpumem_pool_obj *pool, gpumem_stream_obj *stream);
void gpumem_pool_unlock_on(gpumem_pool_obj *pool, gpumem_stream_obj *stream);

/* Takes the pool's lock for an allocation by `taker` (NULL: the host) after the waits that
 * ranges freed in stream order ask of it (paged pools; the lock is taken and let go while
 * waiting). On an error the lock is not held. */
gpumem_result gpumem_pool_lock_for(gpumem_pool_obj *pool, gpumem_stream_obj *taker);

/* Ends the handles of the pool's buffers and refuses new buffers (takes the pool lock). The
 * pool's own handle is ended by the caller. */
void gpumem_pool_close(gpumem_pool_obj *pool);

/* Frees a closed pool, its buffers (live and retired) and pages, once no call can reach it. */
void gpumem_pool_free(gpumem_pool_obj *pool);

/* A buffer record: a spare one of the pool's, or a new one (pool lock held). */
gpumem_buffer_obj *gpumem_pool_record_take(gpumem_pool_obj *pool);
void gpumem_pool_record_give(gpumem_pool_obj *pool, gpumem_buffer_obj *buffer);

/* What a placement asks beyond its size and alignment. */
typedef struct gpumem_placement {
    int dedicated; /* a page of its own (GPUMEM_BUFFER_DEDICATED) */
    /* An image whose memory the runtime wants allocated for it (VK_KHR_dedicated_allocation):
     * a page of its own, from page_allocate_for_image where the backend has it. */
    gpumem_backend_image *for_image;
    /* Shared pages: the bytes really needed, where the size asked was rounded up for the reuse
     * cache (gpumem_pool_cache_take; 0: not rounded). When the rounded size fits no page, these
     * are placed instead before a new page is made (which then takes the rounded size), so
     * rounding never costs a page nor refuses what fits. */
    uint64_t unrounded;
} gpumem_placement;

/* Allocates [size, alignment] in the pool (gpumem_pool_lock held): a page and a place in it.
 * Retired buffers are freed first when their room could save a new page, and retired pages of
 * their own are given back at every chance. */
gpumem_result gpumem_pool_place(gpumem_pool_obj *pool, uint64_t size, uint64_t alignment,
                                const gpumem_placement *want, gpumem_page **page,
                                gpumem_tlsf_allocation *allocation);

/* A page over the application's memory, holding one buffer of desc->size bytes, counted as
 * used (desc checked by the caller; the pool is paged; every arena's lock held,
 * gpumem_pool_lock_arenas: the range must not overlap any arena's pages). */
gpumem_result gpumem_pool_import(gpumem_pool_obj *pool, const gpumem_import_desc *desc,
                                 gpumem_page **page);

/* Gives a place back (gpumem_pool_lock held); frees or keeps the page as the pool's policy
 * says. */
void gpumem_pool_unplace(gpumem_pool_obj *pool, gpumem_page *page, uint64_t tlsf_handle);

/* Takes a destroyed buffer (its handle ended) off the live list, the address index, the counts
 * and the application's mappings (gpumem_pool_lock held). */
void gpumem_pool_detach(gpumem_pool_obj *pool, gpumem_buffer_obj *buffer);

/* Detaches a destroyed buffer (gpumem_pool_lock held). Where no other thread holds an epoch
 * record (gpumem_epoch_alone), no call can reach it any more: it is kept by the reuse cache
 * (pool_cache.h; never one with a native object of its own) or freed at once. Otherwise it is
 * retired until no call can reach it. Returns
 * 1 when a batch of retired buffers is due (or, alone, some were retired while other threads
 * made calls): the caller lets the lock go, finds the epoch below
 * which no call reaches them (gpumem_epoch_oldest: a barrier, which should not hold other
 * threads' calls on the pool up), and keeps or frees them with gpumem_pool_reclaim_below under
 * the lock again. */
int gpumem_pool_retire(gpumem_pool_obj *pool, gpumem_buffer_obj *buffer);

/* Frees a detached buffer that no call can reach (gpumem_pool_lock held): its native object,
 * its place, its record. While stream-ordered frees are unsettled, the native object and the
 * record wait on parked_records instead (work queued before a destroy on a stream may use the
 * object). */
void gpumem_pool_buffer_free(gpumem_pool_obj *pool, gpumem_buffer_obj *buffer);

/* The free bytes of the pool's shared pages and their largest free range (dedicated pages have
 * none to give); pool lock held. */
void gpumem_pool_free_room(const gpumem_pool_obj *pool, uint64_t *free_bytes, uint64_t *largest);

/* Frees the retired buffers no call can reach any more (gpumem_pool_lock held). */
void gpumem_pool_reclaim(gpumem_pool_obj *pool);
/* Frees the retired buffers stamped below `safe` (see epoch.h), oldest first, and those held by
 * calls (pool->held) stamped below it (gpumem_pool_lock held); returns how many went. `keep`:
 * those the reuse cache takes are kept whole instead (gpumem_pool_cache_keep: no call can reach
 * them now), for the batches of a pool used while other threads hold epoch records; 0 where the
 * cache is being emptied (gpumem_pool_reclaim). */
uint32_t gpumem_pool_reclaim_below(gpumem_pool_obj *pool, uint64_t safe, int keep);
/* gpumem_pool_reclaim_below, and also those stamped before the snapshot's barrier
 * (snapshot->next) that no call of `snapshot` reaches (born after every call in progress that
 * began before their destroy). */
uint32_t gpumem_pool_reclaim_unreached(gpumem_pool_obj *pool, uint64_t safe,
                                       const gpumem_epoch_snapshot *snapshot);
/* Takes every arena's lock (gpumem_pool_lock_arenas) with the retired buffers that no call can
 * reach any more freed: for queries that show the pool as the application's destroys left it.
 * The barrier that finds them runs with the locks let go. */
void gpumem_pool_lock_arenas_reclaimed(gpumem_pool_obj *pool);

/* Maps a page for the host, counting references (pool lock held). */
gpumem_result gpumem_page_map(gpumem_pool_obj *pool, gpumem_page *page);
void gpumem_page_unmap(gpumem_pool_obj *pool, gpumem_page *page);

#endif
