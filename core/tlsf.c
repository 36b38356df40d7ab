#include "tlsf_inline.h"

#include <string.h>
#include <sys/mman.h>

#include "alloc.h"
#include "hot.h"

#define TLSF_INITIAL_RECORDS 32u
#define TLSF_CACHE_LINE 64u
#define TLSF_HUGE_PAGE ((size_t)2u << 20)
#define TLSF_HUGE_RECORDS_FROM ((size_t)256u << 10)

/* ------------------------------------------------------------------------------------------
 * The rare paths of allocate and free (tlsf_inline.h calls them)
 * ---------------------------------------------------------------------------------------- */

/* Only reached when the good-fit search found nothing, which leaves the classes below the
 * rounded-up one (for alignment 1, just the request's own class): their blocks are walked, from
 * the request's own class up, so that an allocation fails only when no free range can hold it,
 * and largest_free_range is exact. The cost is bounded by the free blocks of those classes and is
 * paid on the way to a failure, or to a fit that the O(1) search could not promise. */
GPUMEM_RARE gpumem_result gpumem_tlsf_alloc_scanning(gpumem_tlsf *t, uint64_t size,
                                                     uint64_t mask,
                                                     gpumem_tlsf_allocation *allocation)
{
    for (uint32_t c = tlsf_first_class_at_or_above(t, tlsf_class_of(size)); c != TLSF_NO_CLASS;
         c = tlsf_first_class_at_or_above(t, c + 1u)) {
        for (uint32_t i = t->heads[c]; i != TLSF_NIL; i = t->blocks[i].free_next) {
            if (tlsf_block_fits(&t->blocks[i], size, mask))
                return tlsf_take_block(t, i, c, size, mask, allocation, 0);
        }
    }
    return GPUMEM_ERROR_LIMIT_EXCEEDED;
}

/* Turns used block i into free space merged with its free neighbours: one record keeps the
 * range (the lower neighbour's when it merges) and the others become spare. Only frees with a
 * free neighbour come here (tlsf_release_range pushes the others itself), and links are
 * rewritten only where a merge happens. */
GPUMEM_OUT_OF_LINE uint64_t gpumem_tlsf_free_and_merge(gpumem_tlsf *t, uint32_t i)
{
    tlsf_block *b = &t->blocks[i];
    uint64_t size = b->size;
    uint32_t keep = i;
    uint32_t after = b->phys_next;
    uint32_t before = b->phys_prev;
    tlsf_block *n = &t->blocks[after];
    tlsf_block *p = &t->blocks[before];
    if (tlsf_is_free(n)) {
        tlsf_list_remove(t, after, tlsf_class_of(n->size));
        size += n->size;
        tlsf_release_record(t, after);
        after = n->phys_next;
        b->phys_next = after;
        t->blocks[after].phys_prev = i;
    }
    if (tlsf_is_free(p)) {
        tlsf_list_remove(t, before, tlsf_class_of(p->size));
        size += p->size;
        tlsf_release_record(t, i);
        keep = before;
        p->phys_next = after;
        t->blocks[after].phys_prev = before;
    }
    t->blocks[keep].size = size;
    tlsf_list_push(t, keep, tlsf_class_of(size));
    return size;
}

int gpumem_tlsf_release_pending(gpumem_tlsf *t)
{
    int released = 0;
    for (uint32_t k = 0; k < TLSF_PENDING; k++) {
        uint32_t i = t->pending[k];
        if (i != TLSF_NIL) {
            t->pending[k] = TLSF_NIL;
            tlsf_release_range(t, i);
            released = 1;
        }
    }
    return released;
}

GPUMEM_RARE gpumem_result gpumem_tlsf_alloc_after_pending(gpumem_tlsf *t, uint64_t size,
                                                          uint64_t mask,
                                                          gpumem_tlsf_allocation *allocation,
                                                          gpumem_result refused)
{
    if (!gpumem_tlsf_release_pending(t))
        return refused;
    return gpumem_tlsf_alloc_inline(t, size, mask, allocation);
}

GPUMEM_RARE int gpumem_tlsf_grow_records(gpumem_tlsf *t)
{
    uint32_t old = t->block_capacity;
    if (old >= TLSF_MAX_RECORDS)
        return 0;
    uint32_t cap = old == 0                      ? TLSF_INITIAL_RECORDS
                   : old > TLSF_MAX_RECORDS / 2u ? TLSF_MAX_RECORDS
                                                 : old * 2u;
#if SIZE_MAX / 64u < UINT32_MAX
    if (cap > (SIZE_MAX - TLSF_CACHE_LINE) / sizeof(tlsf_block))
        return 0;
#endif
    /* Cache-line aligned, so that no record straddles two lines; aligned_alloc wants a multiple
     * of the alignment. */
    size_t bytes = ((size_t)cap * sizeof(tlsf_block) + TLSF_CACHE_LINE - 1u) &
                   ~(size_t)(TLSF_CACHE_LINE - 1u);
    size_t align = TLSF_CACHE_LINE;
    /* A large record array is walked at random (a freed allocation's record, its neighbours):
     * on 2 MiB pages those walks stop missing the TLB. Small arrays (a pool's pages) stay small. */
    if (bytes >= TLSF_HUGE_RECORDS_FROM) {
        bytes = (bytes + TLSF_HUGE_PAGE - 1u) & ~(size_t)(TLSF_HUGE_PAGE - 1u);
        align = TLSF_HUGE_PAGE;
    }
    tlsf_block *blocks = gpumem_alloc_aligned(align, bytes);
    uint32_t *generations = gpumem_alloc((size_t)cap * sizeof *generations);
    if (!blocks || !generations) {
        gpumem_free(blocks);
        gpumem_free(generations);
        return 0;
    }
    if (align == TLSF_HUGE_PAGE)
        madvise(blocks, bytes, MADV_HUGEPAGE); /* a hint: without it the array still works */
    if (old) {
        memcpy(blocks, t->blocks, (size_t)old * sizeof(tlsf_block));
        memcpy(generations, t->generations, (size_t)old * sizeof *generations);
    }
    /* No record past old holds an allocation. */
    memset(generations + old, 0, (size_t)(cap - old) * sizeof *generations);
    gpumem_free(t->blocks);
    gpumem_free(t->generations);
    t->blocks = blocks;
    t->generations = generations;
    t->block_capacity = cap;
    return 1;
}

/* ------------------------------------------------------------------------------------------
 * Interface
 * ---------------------------------------------------------------------------------------- */

static void reset(gpumem_tlsf *t)
{
    /* Records below the high-water mark may hold allocations; those above hold none. */
    memset(t->generations, 0, (size_t)t->block_count * sizeof t->generations[0]);
    for (uint32_t k = 0; k < TLSF_PENDING; k++)
        t->pending[k] = TLSF_NIL;
    t->pending_slot = 0;
    t->retake_misses = 0;
    memset(t->heads, 0, (size_t)t->class_count * sizeof t->heads[0]);
    memset(t->sl_bitmap, 0, sizeof t->sl_bitmap);
    t->fl_bitmap = 0;
    t->spare_head = TLSF_NIL;
    t->spare_count = 0;
    t->block_count = TLSF_FIRST_RECORD + 1u;
    t->used_bytes = 0;
    t->allocation_count = 0;
    t->free_count = 0;
    const uint32_t whole = TLSF_FIRST_RECORD;
    t->blocks[TLSF_NIL] = (tlsf_block){.free_prev = TLSF_DEAD};
    t->blocks[TLSF_END] = (tlsf_block){.phys_prev = whole, .phys_next = whole,
                                       .free_prev = TLSF_DEAD};
    t->blocks[whole] = (tlsf_block){.size = t->size, .phys_prev = TLSF_END, .phys_next = TLSF_END};
    tlsf_list_push(t, whole, tlsf_class_of(t->size));
}

gpumem_result gpumem_tlsf_create(uint64_t size, gpumem_tlsf **tlsf)
{
    if (size == 0)
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    uint32_t class_count = tlsf_class_of(size) + 1u;
    gpumem_tlsf *t = gpumem_alloc(sizeof *t + (size_t)class_count * sizeof t->heads[0]);
    if (!t)
        return GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
    t->blocks = NULL;
    t->generations = NULL;
    t->generation = 0;
    t->block_capacity = 0;
    t->block_count = 0;
    if (!gpumem_tlsf_grow_records(t)) {
        gpumem_free(t);
        return GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
    }
    t->size = size;
    t->class_count = class_count;
    reset(t);
    *tlsf = t;
    return GPUMEM_OK;
}

void gpumem_tlsf_destroy(gpumem_tlsf *tlsf)
{
    if (!tlsf)
        return;
    gpumem_free(tlsf->blocks);
    gpumem_free(tlsf->generations);
    gpumem_free(tlsf);
}

gpumem_result gpumem_tlsf_alloc(gpumem_tlsf *t, uint64_t size, uint64_t alignment,
                                gpumem_tlsf_allocation *allocation)
{
    if ((size == 0) | (alignment == 0) | ((alignment & (alignment - 1u)) != 0))
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    return gpumem_tlsf_alloc_inline(t, size, alignment - 1u, allocation);
}

gpumem_result gpumem_tlsf_alloc_deferred(gpumem_tlsf *t, uint64_t size, uint64_t alignment,
                                         gpumem_tlsf_allocation *allocation)
{
    if ((size == 0) | (alignment == 0) | ((alignment & (alignment - 1u)) != 0))
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    return gpumem_tlsf_alloc_deferred_inline(t, size, alignment - 1u, allocation);
}

int gpumem_tlsf_borders_free(const gpumem_tlsf *t, uint64_t handle)
{
    const tlsf_block *b = &t->blocks[(uint32_t)handle];
    return tlsf_is_free(&t->blocks[b->phys_next]) | tlsf_is_free(&t->blocks[b->phys_prev]);
}

void gpumem_tlsf_prefetch(const gpumem_tlsf *t, uint64_t handle)
{
    __builtin_prefetch(&t->blocks[(uint32_t)handle]);
}

uint32_t gpumem_tlsf_used_before(const gpumem_tlsf *t, uint64_t handle)
{
    uint32_t before = t->blocks[(uint32_t)handle].phys_prev;
    if (tlsf_is_free(&t->blocks[before]))
        before = t->blocks[before].phys_prev;
    /* The end sentinel reads as not free; a second free range (deferred frees) as none. */
    return before == TLSF_END || tlsf_is_free(&t->blocks[before]) ? 0 : before;
}

uint32_t gpumem_tlsf_class_at_least(uint64_t size)
{
    return tlsf_class_at_least(size);
}

uint64_t gpumem_tlsf_class_least_size(uint32_t c)
{
    return tlsf_class_least_size(c);
}

uint32_t gpumem_tlsf_class_of(uint64_t size)
{
    return tlsf_class_of(size);
}

gpumem_result gpumem_tlsf_free(gpumem_tlsf *t, uint64_t handle)
{
    return gpumem_tlsf_free_inline(t, handle);
}

uint64_t gpumem_tlsf_free_merged(gpumem_tlsf *t, uint64_t handle)
{
    if (!tlsf_end_allocation(t, handle))
        return 0;
    return tlsf_release_range(t, (uint32_t)handle);
}

gpumem_result gpumem_tlsf_free_deferred(gpumem_tlsf *t, uint64_t handle)
{
    return gpumem_tlsf_free_deferred_inline(t, handle);
}

/* Handles from before are refused: reset zeroes the generations of every record below the old
 * high-water mark, and records past the new one fail free's index check. The ring of deferred
 * frees is dropped with the rest. */
void gpumem_tlsf_clear(gpumem_tlsf *t)
{
    reset(t);
}

static uint64_t largest_free(const gpumem_tlsf *t)
{
    if (t->fl_bitmap == 0)
        return 0;
    uint32_t fl = 63u - (uint32_t)__builtin_clzll(t->fl_bitmap);
    uint32_t sl = 31u - (uint32_t)__builtin_clz(t->sl_bitmap[fl]);
    uint64_t largest = 0;
    uint32_t c = (fl << TLSF_SL_LOG2) | sl;
    for (uint32_t i = t->heads[c]; i != TLSF_NIL; i = t->blocks[i].free_next) {
        if (t->blocks[i].size > largest)
            largest = t->blocks[i].size;
    }
    return largest;
}

void gpumem_tlsf_stats_get(gpumem_tlsf *t, gpumem_tlsf_stats *stats)
{
    gpumem_tlsf_release_pending(t);
    const tlsf_block *last = &t->blocks[t->blocks[TLSF_END].phys_prev];
    stats->size = t->size;
    stats->used_bytes = t->used_bytes;
    stats->allocation_count = t->allocation_count;
    stats->free_range_count = t->free_count;
    stats->largest_free_range = largest_free(t);
    stats->span = last->free_prev == TLSF_USED ? t->size : last->offset;
}

int gpumem_tlsf_is_empty(const gpumem_tlsf *t)
{
    return t->allocation_count == 0;
}

void gpumem_tlsf_walk(gpumem_tlsf *t, gpumem_tlsf_visit_fn visit, void *user)
{
    gpumem_tlsf_release_pending(t);
    for (uint32_t i = t->blocks[TLSF_END].phys_next; i != TLSF_END; i = t->blocks[i].phys_next) {
        const tlsf_block *b = &t->blocks[i];
        int used = b->free_prev == TLSF_USED;
        uint64_t handle = used ? ((uint64_t)t->generations[i] << 32) | i : 0;
        visit(user, handle, b->offset, b->size, used);
    }
}
