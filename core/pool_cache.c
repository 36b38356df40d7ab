#include "pool_cache.h"

#include "alloc.h"
#include "error.h"
#include "hot.h"
#include "tlsf.h"

/* The kept buffers of one class, oldest first. */
typedef struct gpumem_pool_cache_bin {
    gpumem_list buffers;
    uint32_t count;
} gpumem_pool_cache_bin;

gpumem_result gpumem_pool_cache_init(gpumem_pool_obj *pool)
{
    uint64_t unit = pool->device->properties.min_alignment;
    /* A class's least size, so that every request up to it has its class among the bins. */
    uint64_t largest = gpumem_tlsf_class_least_size(
        gpumem_tlsf_class_of(pool->page_size / GPUMEM_POOL_CACHE_LARGEST_FRACTION));
    if (pool->kind != GPUMEM_POOL_PAGED || (pool->flags & GPUMEM_POOL_DETECT_CORRUPTION) ||
        largest < unit)
        return GPUMEM_OK;
    /* Kept buffers hold at least a unit (shared pages place whole units) and at most largest
     * bytes: their classes run from the unit's to largest's. */
    uint32_t first = gpumem_tlsf_class_of(unit);
    uint32_t count = gpumem_tlsf_class_of(largest) - first + 1;
    /* Past the last class, bins that stay empty: a take looks up to GPUMEM_POOL_CACHE_CLASSES_UP
     * classes above its own without a bound to test. */
    uint32_t bin_count = count + GPUMEM_POOL_CACHE_CLASSES_UP;
    if (bin_count >= GPUMEM_POOL_CACHE_NO_BIN) /* records keep their bin in 16 bits */
        return GPUMEM_OK;
    gpumem_pool_cache_bin *bins = gpumem_alloc(bin_count * sizeof *bins);
    /* One bit a bin, and a word past them: a take reads the word after its bin's too. */
    uint64_t *bits = gpumem_alloc_zeroed(bin_count / 64u + 2u, sizeof *bits);
    if (!bins || !bits) {
        gpumem_free(bins);
        gpumem_free(bits);
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY,
                           "no memory for the pool's reuse cache (%u classes)", count);
    }
    for (uint32_t c = 0; c < bin_count; c++) {
        gpumem_list_init(&bins[c].buffers);
        bins[c].count = 0;
    }
    pool->cache_bins = bins;
    pool->cache_kept_bits = bits;
    pool->cache_first_class = first;
    pool->cache_class_count = count;
    pool->cache_largest = largest;
    pool->cache_byte_limit = pool->page_size / GPUMEM_POOL_CACHE_BYTES_FRACTION;
    pool->cache_frontier = NULL;
    pool->frontier_misses = 0;
    return GPUMEM_OK;
}

void gpumem_pool_cache_fini(gpumem_pool_obj *pool)
{
    gpumem_free(pool->cache_bins);
    gpumem_free(pool->cache_kept_bits);
    pool->cache_bins = NULL;
    pool->cache_kept_bits = NULL;
}

/* Requests under a unit share the first class (gpumem_pool_cache_take), and every kept buffer
 * holds a unit, the first class's least size. */
static uint32_t bin_of_class(const gpumem_pool_obj *pool, uint32_t c)
{
    return c > pool->cache_first_class ? c - pool->cache_first_class : 0;
}

uint32_t gpumem_pool_cache_bin_of(const gpumem_pool_obj *pool, uint64_t size, uint64_t usable)
{
    uint32_t asked = gpumem_tlsf_class_at_least(size), holds = gpumem_tlsf_class_of(usable);
    return bin_of_class(pool, asked < holds ? asked : holds);
}

/* Whether a buffer beside free room may be kept as the frontier, given frontier_misses (the
 * candidates the gate refused, and the frontiers a placement freed untaken, since a frontier was
 * taken; a candidate refused while a frontier is kept, and a frontier emptied with the cache,
 * do not count): the first FRONTIER_TRIES are, then FRONTIER_TRIES in a row of every
 * FRONTIER_EVERY counted, until one is taken again. A run rather than one in FRONTIER_EVERY: a
 * loop whose candidates alternate (its buffer, and one that takes it) would otherwise meet the
 * one at a parity that never lets its own buffer be kept (a review found it). */
#define FRONTIER_TRIES 8u
#define FRONTIER_EVERY 256u
static inline int frontier_looks(uint32_t misses)
{
    return misses < FRONTIER_TRIES || (misses & (FRONTIER_EVERY - 1u)) < FRONTIER_TRIES;
}

/* A kept buffer leaves the cache's counts (its bin's, b->cache_bin, and the bin's bit when it
 * was the bin's last), and the frontier where it was that one: taken again, or about to be
 * freed. */
static inline void forget(gpumem_pool_obj *pool, gpumem_buffer_obj *b)
{
    if (b == pool->cache_frontier)
        pool->cache_frontier = NULL;
    uint32_t i = b->cache_bin;
    gpumem_pool_cache_bin *bin = &pool->cache_bins[i];
    bin->count--;
    pool->cache_kept_bits[i / 64u] &= ~((uint64_t)(bin->count == 0) << (i % 64u));
    b->page->kept_count--;
    pool->cached_count--;
    pool->cached_bytes -= b->block_size;
}

/* Whether the buffers of `page` that the cache does not keep are one or none: the one going
 * now must not be kept, and the kept ones go with it (gpumem_pool_cache_leave_page). */
static inline int only_kept_would_stay(const gpumem_page *page)
{
    return page->buffer_count - page->kept_count <= 1;
}

gpumem_buffer_obj *gpumem_pool_cache_take(gpumem_pool_obj *pool, uint64_t bytes,
                                          uint64_t alignment, uint64_t *place)
{
    /* bytes over cache_largest (0 without a cache), or 0, which has no class; or an alignment
     * that sends the request to a page of its own (over half a page with its padding, as
     * gpumem.h says), which no kept range of a shared page may serve */
    if (bytes - 1u >= pool->cache_largest ||
        (__builtin_expect(alignment != 0, 0) && bytes + (alignment - 1) > pool->page_size / 2)) {
        *place = bytes;
        return NULL;
    }
    /* Every buffer kept in class c holds c's least size, which is at least any request whose
     * first fitting class is c. */
    uint32_t c = gpumem_tlsf_class_at_least(bytes);
    /* Where the request's own class keeps nothing, the next GPUMEM_POOL_CACHE_CLASSES_UP
     * classes' buffers serve it too (each class 1.6-3.1% larger than the one below; past the
     * last class, the bins are empty ones of gpumem_pool_cache_init): the lowest that keeps
     * one, else the last (empty). Picked from the bins' bits, 64 from the request's own bin on,
     * by their lowest set bit, not by a loop over the bins: which bins keep buffers is as
     * random as the sizes asked, and on the pool trace a loop's exit mispredicted 0.72 times a
     * create (callgrind's branch simulation); and two words of bits, rather than the bins' own
     * lists, are read before the bin is known, so that looking eight classes up costs a loop of
     * one size (whose own bin keeps its buffer) no more than looking two up did
     * (docs/performance.md, "Fifty-seventh session", "Fifty-eighth session"). */
    _Static_assert(GPUMEM_POOL_CACHE_CLASSES_UP < 64, "the pick reads 64 bins' bits");
    uint32_t i = bin_of_class(pool, c), shift = i % 64u;
    const uint64_t *word = &pool->cache_kept_bits[i / 64u];
    /* word[1] << 1 << (63 - shift): its bits past the first word's, none where shift is 0. */
    uint64_t kept = (word[0] >> shift) | (word[1] << 1 << (63u - shift)) |
                    (UINT64_C(1) << GPUMEM_POOL_CACHE_CLASSES_UP);
    gpumem_pool_cache_bin *bin = &pool->cache_bins[i + (uint32_t)__builtin_ctzll(kept)];
    /* The oldest. (The newest first was no faster, and kept live buffers where their
     * predecessors were rather than let placement pack them into the oldest pages: the pool
     * trace of gpumem-bench then once needed a third page, reserved over used 2.66 against
     * 1.81.) No call can reach a kept buffer (gpumem_pool_cache_keep). A miss rounds the
     * request up to the class's least size, where the cache would keep such a buffer. */
    gpumem_buffer_obj *b = gpumem_list_empty(&bin->buffers)
                               ? NULL
                               : GPUMEM_CONTAINER_OF(bin->buffers.next, gpumem_buffer_obj, link);
    if (!b || (alignment && ((b->page->address + b->offset) & (alignment - 1)))) {
        uint64_t least = gpumem_tlsf_class_least_size(c);
        *place = least <= pool->cache_largest ? least : bytes;
        return NULL;
    }
    if (b == pool->cache_frontier) /* taken: the gate opens (frontier_looks) */
        pool->frontier_misses = 0;
    gpumem_list_remove(&b->link);
    forget(pool, b);
    pool->used_bytes += b->block_size;
    pool->allocation_count++;
    return b;
}

int gpumem_pool_cache_keep(gpumem_pool_obj *pool, gpumem_buffer_obj *b)
{
    uint64_t block = b->block_size;
    /* Shared pages' buffers only (dedicated ones have no suballocator handle), and of those
     * no image's and none with a native object of its own (a kept buffer's next create would
     * not want its object): their cache_bin says so (buffer.h), on the record's first line, the
     * only one a kept buffer's destroy reads. The caller found that no call can reach the
     * buffer (no other thread with an epoch record, or a barrier since its destroy:
     * gpumem_pool_reclaim_below), so it may be taken at once, at any time. Kept at the batch's
     * barrier, the cache serves a thread that works beside others: on the H200's host, one
     * worker beside an idle main thread paired 1.8x as fast as when such batches were freed
     * (docs/performance.md, "Thirty-first session"). A map that found the buffer before its
     * destroy and took the lock after its detach may have mapped it since (only with other
     * threads, so only at a batch's reclaim): gpumem_pool_buffer_free gives those mappings
     * back, a kept record would lose them. */
    if (block > pool->cache_largest || pool->cached_bytes + block > pool->cache_byte_limit ||
        b->cache_bin == GPUMEM_POOL_CACHE_NO_BIN || !b->tlsf_handle ||
        gpumem_buffer_map_count(b))
        return 0;
    /* The page's last buffer that is not kept goes (and, gpumem_pool_cache_leave_page, the
     * kept ones with it): kept, it would hold a page no live buffer uses, which the pool's
     * empty-page rules would have given back, and which other pools of the device may need. */
    if (only_kept_would_stay(b->page))
        return 0;
    gpumem_pool_cache_bin *bin = &pool->cache_bins[b->cache_bin]; /* set when placed */
    if (bin->count == GPUMEM_POOL_CACHE_PER_CLASS)
        return 0;
    /* A range beside free room is kept only as the frontier, one at a time, which the next
     * placement in a shared page frees first (gpumem_pool_cache_free_frontier): kept longer,
     * it would stand in the middle of what a larger request needs, and creates of its class
     * would take it there rather than wherever placement packs buffers best. So a buffer
     * destroyed and made again at the end of a page's used bytes (a scratch buffer in a loop)
     * is kept, and placement still sees its room. Where frontiers go untaken (random sizes),
     * few are kept (frontier_looks): each costs a keep and a free where a free would do. */
    if (gpumem_tlsf_borders_free(b->page->tlsf, b->tlsf_handle)) {
        if (pool->cache_frontier)
            return 0;
        if (!frontier_looks(pool->frontier_misses)) {
            pool->frontier_misses++; /* wraps after 2^32: FRONTIER_TRIES more looks */
            return 0;
        }
        pool->cache_frontier = b;
    }
    if (b->name) { /* as gpumem_pool_record_give: a record is reused without its name */
        gpumem_free(b->name);
        b->name = NULL;
    }
    gpumem_list_push(&bin->buffers, &b->link);
    bin->count++;
    pool->cache_kept_bits[b->cache_bin / 64u] |= UINT64_C(1) << (b->cache_bin % 64u);
    b->page->kept_count++;
    pool->cached_count++;
    pool->cached_bytes += block;
    return 1;
}

GPUMEM_RARE void gpumem_pool_cache_free_frontier(gpumem_pool_obj *pool)
{
    gpumem_buffer_obj *b = pool->cache_frontier;
    pool->frontier_misses++;
    forget(pool, b);
    gpumem_pool_buffer_free(pool, b); /* takes it off its bin's list */
}

/* Frees the kept buffers of `page` (NULL: every kept buffer). */
GPUMEM_RARE static void free_kept(gpumem_pool_obj *pool, gpumem_page *page)
{
    for (uint32_t c = 0; (page ? page->kept_count : pool->cached_count) &&
                         c < pool->cache_class_count;
         c++) {
        gpumem_pool_cache_bin *bin = &pool->cache_bins[c];
        GPUMEM_LIST_FOR_EACH_SAFE(node, next, &bin->buffers) {
            gpumem_buffer_obj *b = GPUMEM_CONTAINER_OF(node, gpumem_buffer_obj, link);
            if (page && b->page != page)
                continue;
            forget(pool, b);
            gpumem_pool_buffer_free(pool, b); /* takes it off the list */
        }
    }
}

void gpumem_pool_cache_flush(gpumem_pool_obj *pool)
{
    free_kept(pool, NULL);
}

void gpumem_pool_cache_leave_page(gpumem_pool_obj *pool, const gpumem_buffer_obj *b)
{
    if (__builtin_expect(b->page->kept_count != 0, 0) && only_kept_would_stay(b->page))
        free_kept(pool, b->page);
}
