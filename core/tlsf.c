#include "tlsf.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* 32 linear subdivisions per power of two: a block found by the rounded-up search wastes at most
 * about 3% of its size, and one first level's bitmap is a single 32-bit word. */
#define SL_LOG2 5u
#define SL_COUNT (1u << SL_LOG2)

/* Record 0 is a sentinel that every link can point at: "no block" in the free lists and the two
 * ends of the physical list. Writes through an empty link land on it harmlessly, which spares the
 * list updates most of their branches; its phys_next is the first block and its phys_prev the
 * last. */
#define NIL 0u
/* A free block's free_prev is NIL or an index; used and dead records carry a marker there
 * instead, which is how a record's state is told. */
#define USED UINT32_MAX
#define DEAD (UINT32_MAX - 1u)
#define MAX_RECORDS (UINT32_MAX - 2u) /* so that no index reaches the markers */
#define NO_CLASS UINT32_MAX
#define INITIAL_RECORDS 32u
#define CACHE_LINE 64u
#define HUGE_PAGE ((size_t)2u << 20)
#define HUGE_RECORDS_FROM ((size_t)256u << 10)

/* A remainder stays in the allocation when it is smaller than MIN_FREE_BLOCK, than the alignment
 * asked for (it could not serve a like request once padded) or than 1/4 of the request. Such
 * remainders are rarely reused before the allocation is freed and merges them back, and every
 * free range costs a record and list updates whenever a neighbour changes. On a log-uniform
 * 256 B - 4 MiB trace aligned to 256 (10,000 live), 1/4 rather than 1/16 halves the free ranges
 * (about 1,200 to 520) and cuts the time per alloc and free pair by about a tenth, for about
 * 0.6% more span over the requested bytes (1.122 to 1.129; 1/2 would cost 3%). */
#define MIN_FREE_BLOCK 8u
#define REMAINDER_SHIFT 2u
/* Left padding at least this large becomes a free range of its own; smaller padding stays in the
 * allocation, as a free sliver that small would rarely be reused. */
#define PAD_SPLIT 256u

#if defined(__GNUC__)
#define HOT_INLINE inline __attribute__((always_inline))
#else
#define HOT_INLINE inline
#endif

/* One range of [0, size): used, free, or (dead) a spare record. 32 bytes on a 32-byte boundary, so
 * touching a record is one cache line. */
typedef struct block {
    uint64_t offset;
    uint64_t size;
    uint32_t phys_prev; /* address-order neighbours; NIL at the ends */
    uint32_t phys_next;
    uint32_t free_prev; /* class list of a free block, or USED / DEAD */
    uint32_t free_next; /* class list of a free block, a used block's generation, or the
                           spare-record chain of a dead one */
} block;

struct gpumem_tlsf {
    block *blocks;
    uint32_t block_count;  /* records handed out since the last clear (high-water mark) */
    uint32_t block_capacity;
    uint32_t spare_head;   /* dead records, reused before block_count grows */
    uint32_t spare_count;
    uint32_t class_count;  /* classes that a block of at most size can fall in */
    /* The generation of the latest allocation. Each allocation takes the next one and its record
     * keeps it, so a record's generation only grows, whether the record was freed, merged away,
     * reused or cleared in between; a handle matches only the allocation it was made for until
     * 2^32 allocations later. Keeping no generation for records out of use saves a side table
     * that alloc and free would both touch, which cost about 7% of a free and alloc pair. */
    uint32_t generation;
    uint64_t size;
    uint64_t used_bytes;
    uint64_t allocation_count;
    uint64_t free_count;
    uint64_t fl_bitmap;     /* bit fl: some class of first level fl is non-empty */
    uint32_t sl_bitmap[64]; /* bit sl of word fl: class (fl, sl) is non-empty; 60 are used */
    uint32_t heads[];       /* class_count free-list heads, NIL when empty */
};

/* Sizes below SL_COUNT get one class each; above, a class is a power of two (first level) and the
 * next SL_LOG2 bits (second level). Classes grow with size, so the bitmaps keep size order. */
static HOT_INLINE uint32_t class_of(uint64_t size)
{
    uint32_t top_bit = 63u - (uint32_t)__builtin_clzll(size | SL_COUNT);
    uint32_t shift = top_bit - SL_LOG2;
    return (shift << SL_LOG2) + (uint32_t)(size >> shift);
}

/* The first class whose every block holds at least need bytes: need's own class, or the next
 * one when need is not the lower bound of its class. Classes are numbered without gaps, so the
 * next one may be the first of the next power of two, or past the last class. */
static HOT_INLINE uint32_t class_at_least(uint64_t need)
{
    uint32_t top_bit = 63u - (uint32_t)__builtin_clzll(need | SL_COUNT);
    uint32_t shift = top_bit - SL_LOG2;
    uint32_t c = (shift << SL_LOG2) + (uint32_t)(need >> shift);
    return c + ((need & ((UINT64_C(1) << shift) - 1u)) != 0);
}

static HOT_INLINE uint64_t padding_at(uint64_t start, uint64_t mask)
{
    return (0u - start) & mask;
}

static HOT_INLINE int block_fits(const block *b, uint64_t size, uint64_t mask)
{
    uint64_t pad = padding_at(b->offset, mask);
    return b->size >= pad && b->size - pad >= size;
}

static HOT_INLINE int is_free(const block *b)
{
    return b->free_prev < DEAD;
}

/* ------------------------------------------------------------------------------------------
 * Free lists
 * ---------------------------------------------------------------------------------------- */

static HOT_INLINE void list_push(gpumem_tlsf *t, uint32_t i, uint32_t c)
{
    uint32_t head = t->heads[c];
    block *b = &t->blocks[i];
    b->free_prev = NIL;
    b->free_next = head;
    t->blocks[head].free_prev = i;
    t->heads[c] = i;
    t->sl_bitmap[c >> SL_LOG2] |= 1u << (c & (SL_COUNT - 1u));
    t->fl_bitmap |= UINT64_C(1) << (c >> SL_LOG2);
    t->free_count++;
}

/* c is the class of b. The bitmaps are updated without branches: whether the list empties is
 * close to random, and a misprediction costs more than the few extra instructions. */
static HOT_INLINE void list_remove(gpumem_tlsf *t, const block *b, uint32_t c)
{
    uint32_t prev = b->free_prev;
    uint32_t next = b->free_next;
    t->blocks[next].free_prev = prev;
    uint32_t *link = prev != NIL ? &t->blocks[prev].free_next : &t->heads[c];
    *link = next;
    uint32_t fl = c >> SL_LOG2;
    uint32_t emptied = (uint32_t)((prev | next) == NIL) << (c & (SL_COUNT - 1u));
    uint32_t bits = t->sl_bitmap[fl] & ~emptied;
    t->sl_bitmap[fl] = bits;
    t->fl_bitmap &= ~((uint64_t)(bits == 0) << fl);
    t->free_count--;
}

/* The first non-empty class at or above c, or NO_CLASS. */
static HOT_INLINE uint32_t first_class_at_or_above(const gpumem_tlsf *t, uint32_t c)
{
    uint32_t fl = c >> SL_LOG2;
    uint32_t bits = t->sl_bitmap[fl] & (~0u << (c & (SL_COUNT - 1u)));
    uint64_t above = t->fl_bitmap & (~UINT64_C(0) << (fl + 1u));
    /* With nothing above, the top bit picks sl_bitmap[63], which is always empty. */
    uint32_t up = (uint32_t)__builtin_ctzll(above | (UINT64_C(1) << 63));
    fl = bits ? fl : up;
    bits = bits ? bits : t->sl_bitmap[up];
    if (bits == 0)
        return NO_CLASS;
    return (fl << SL_LOG2) | (uint32_t)__builtin_ctz(bits);
}

/* Only reached when the good-fit search found nothing, which leaves the classes below the
 * rounded-up one (for alignment 1, just the request's own class): their blocks are walked, so
 * that an allocation fails only when no free range can hold it, and largest_free_range is exact.
 * The cost is bounded by the free blocks of those classes and is paid on the way to a failure,
 * or to a fit that the O(1) search could not promise. */
static uint32_t scan_classes(const gpumem_tlsf *t, uint32_t c, uint64_t size, uint64_t mask,
                             uint32_t *found_class)
{
    for (c = first_class_at_or_above(t, c); c != NO_CLASS;
         c = first_class_at_or_above(t, c + 1u)) {
        for (uint32_t i = t->heads[c]; i != NIL; i = t->blocks[i].free_next) {
            if (block_fits(&t->blocks[i], size, mask)) {
                *found_class = c;
                return i;
            }
        }
    }
    return NIL;
}

/* A free block that can hold size bytes at the alignment (mask + 1), and its class; NIL if none
 * can. */
static HOT_INLINE uint32_t find_block(const gpumem_tlsf *t, uint64_t size, uint64_t mask,
                                      uint32_t *found_class)
{
    uint32_t c = class_of(size);
    if (c >= t->class_count)
        return NIL;
    /* Rounding the worst-case need up to a class boundary makes any block of that class fit. */
    uint64_t need = size + mask;
    uint32_t good = need >= size ? first_class_at_or_above(t, class_at_least(need)) : NO_CLASS;
    /* A block of the request's own class, when it fits, wastes less than a rounded-up one. The
     * sentinel has size 0, so an empty class never fits. */
    uint32_t i = t->heads[c];
    if (block_fits(&t->blocks[i], size, mask)) {
        *found_class = c;
        return i;
    }
    if (good != NO_CLASS) {
        *found_class = good;
        return t->heads[good];
    }
    return scan_classes(t, c, size, mask, found_class);
}

/* ------------------------------------------------------------------------------------------
 * Records
 * ---------------------------------------------------------------------------------------- */

static int grow_records(gpumem_tlsf *t)
{
    uint32_t old = t->block_capacity;
    if (old >= MAX_RECORDS)
        return 0;
    uint32_t cap = old == 0 ? INITIAL_RECORDS : old > MAX_RECORDS / 2u ? MAX_RECORDS : old * 2u;
#if SIZE_MAX / 64u < UINT32_MAX
    if (cap > (SIZE_MAX - CACHE_LINE) / sizeof(block))
        return 0;
#endif
    /* Cache-line aligned, so that no record straddles two lines; aligned_alloc wants a multiple
     * of the alignment. */
    size_t bytes = ((size_t)cap * sizeof(block) + CACHE_LINE - 1u) & ~(size_t)(CACHE_LINE - 1u);
    size_t align = CACHE_LINE;
    /* A large record array is walked at random (a freed allocation's record, its neighbours):
     * on 2 MiB pages those walks stop missing the TLB. Small arrays (a pool's pages) stay small. */
    if (bytes >= HUGE_RECORDS_FROM) {
        bytes = (bytes + HUGE_PAGE - 1u) & ~(size_t)(HUGE_PAGE - 1u);
        align = HUGE_PAGE;
    }
    block *blocks = aligned_alloc(align, bytes);
    if (!blocks)
        return 0;
    if (align == HUGE_PAGE)
        madvise(blocks, bytes, MADV_HUGEPAGE); /* a hint: without it the array still works */
    if (old)
        memcpy(blocks, t->blocks, (size_t)old * sizeof(block));
    free(t->blocks);
    t->blocks = blocks;
    t->block_capacity = cap;
    return 1;
}

/* Growing before any change keeps a failed allocation from leaving a half-split block. */
static HOT_INLINE int reserve_records(gpumem_tlsf *t, uint32_t n)
{
    if (t->spare_count + (t->block_capacity - t->block_count) >= n)
        return 1;
    return grow_records(t);
}

static HOT_INLINE uint32_t take_record(gpumem_tlsf *t)
{
    uint32_t i = t->spare_head;
    if (i == NIL)
        return t->block_count++;
    t->spare_head = t->blocks[i].free_next;
    t->spare_count--;
    return i;
}

static HOT_INLINE void release_record(gpumem_tlsf *t, uint32_t i)
{
    block *b = &t->blocks[i];
    b->free_prev = DEAD;
    b->free_next = t->spare_head;
    t->spare_head = i;
    t->spare_count++;
}

/* Cuts block i after its first `at` bytes; the new record, returned, takes the rest and follows
 * i in address order. A record must be reserved. */
static HOT_INLINE uint32_t split_block(gpumem_tlsf *t, uint32_t i, uint64_t at)
{
    uint32_t n = take_record(t);
    block *b = &t->blocks[i];
    block *nb = &t->blocks[n];
    uint32_t after = b->phys_next;
    nb->offset = b->offset + at;
    nb->size = b->size - at;
    nb->phys_prev = i;
    nb->phys_next = after;
    t->blocks[after].phys_prev = n;
    b->size = at;
    b->phys_next = n;
    return n;
}

/* Padding worth keeping stays free in block i; returns the record of the rest. */
static HOT_INLINE uint32_t split_off_front(gpumem_tlsf *t, uint32_t i, uint64_t pad)
{
    uint32_t rest = split_block(t, i, pad);
    list_push(t, i, class_of(pad));
    return rest;
}

/* Turns used block i into free space merged with its free neighbours: one record keeps the
 * range (the lower neighbour's when it merges) and the others become spare. The range is
 * gathered first and written once. */
static HOT_INLINE void free_and_merge(gpumem_tlsf *t, uint32_t i)
{
    block *b = &t->blocks[i];
    uint64_t size = b->size;
    uint32_t keep = i;
    uint32_t after = b->phys_next;
    block *n = &t->blocks[after];
    if (after != NIL && is_free(n)) {
        list_remove(t, n, class_of(n->size));
        size += n->size;
        release_record(t, after);
        after = n->phys_next;
    }
    uint32_t before = b->phys_prev;
    block *p = &t->blocks[before];
    if (before != NIL && is_free(p)) {
        list_remove(t, p, class_of(p->size));
        size += p->size;
        release_record(t, keep);
        keep = before;
    }
    block *k = &t->blocks[keep];
    k->size = size;
    k->phys_next = after;
    t->blocks[after].phys_prev = keep;
    list_push(t, keep, class_of(size));
}

/* ------------------------------------------------------------------------------------------
 * Interface
 * ---------------------------------------------------------------------------------------- */

static void reset(gpumem_tlsf *t)
{
    memset(t->heads, 0, (size_t)t->class_count * sizeof t->heads[0]);
    memset(t->sl_bitmap, 0, sizeof t->sl_bitmap);
    t->fl_bitmap = 0;
    t->spare_head = NIL;
    t->spare_count = 0;
    t->block_count = 2;
    t->used_bytes = 0;
    t->allocation_count = 0;
    t->free_count = 0;
    t->blocks[0] = (block){.phys_prev = 1, .phys_next = 1, .free_prev = DEAD};
    t->blocks[1] = (block){.size = t->size, .phys_prev = NIL, .phys_next = NIL};
    list_push(t, 1, class_of(t->size));
}

gpumem_result gpumem_tlsf_create(uint64_t size, gpumem_tlsf **tlsf)
{
    if (size == 0)
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    uint32_t class_count = class_of(size) + 1u;
    gpumem_tlsf *t = malloc(sizeof *t + (size_t)class_count * sizeof t->heads[0]);
    if (!t)
        return GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
    t->blocks = NULL;
    t->generation = 0;
    t->block_capacity = 0;
    if (!grow_records(t)) {
        free(t);
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
    free(tlsf->blocks);
    free(tlsf);
}

gpumem_result gpumem_tlsf_alloc(gpumem_tlsf *t, uint64_t size, uint64_t alignment,
                                gpumem_tlsf_allocation *allocation)
{
    if ((size == 0) | (alignment == 0) | ((alignment & (alignment - 1u)) != 0))
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    uint64_t mask = alignment - 1u;
    uint32_t c;
    uint32_t i = find_block(t, size, mask, &c);
    if (i == NIL)
        return GPUMEM_ERROR_LIMIT_EXCEEDED;
    const block *b = &t->blocks[i];
    uint64_t pad = padding_at(b->offset, mask);
    uint64_t rest = b->size - pad - size;
    int cut_pad = pad >= PAD_SPLIT;
    int cut_rest = (rest >= MIN_FREE_BLOCK) & (rest > mask) & (rest >= size >> REMAINDER_SHIFT);
    if (!reserve_records(t, (uint32_t)(cut_pad + cut_rest)))
        return GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
    list_remove(t, &t->blocks[i], c);
    if (cut_pad) {
        i = split_off_front(t, i, pad);
        pad = 0;
    }
    if (cut_rest)
        list_push(t, split_block(t, i, pad + size), class_of(rest));
    block *used = &t->blocks[i];
    uint32_t generation = ++t->generation;
    used->free_prev = USED;
    used->free_next = generation;
    t->used_bytes += used->size;
    t->allocation_count++;
    allocation->handle = ((uint64_t)generation << 32) | i;
    allocation->offset = used->offset + pad;
    allocation->left_padding = pad;
    allocation->block_size = used->size;
    return GPUMEM_OK;
}

gpumem_result gpumem_tlsf_free(gpumem_tlsf *t, uint64_t handle)
{
    /* Record indices start at 1 (0 is the sentinel), so the low half is index + 1 of the
     * records the caller can see. */
    uint32_t i = (uint32_t)handle;
    uint32_t generation = (uint32_t)(handle >> 32);
    if (i - 1u >= t->block_count - 1u) /* also catches NIL, by wrapping */
        return GPUMEM_ERROR_INVALID_HANDLE;
    block *b = &t->blocks[i];
    if ((b->free_prev != USED) | (b->free_next != generation))
        return GPUMEM_ERROR_INVALID_HANDLE;
    t->used_bytes -= b->size;
    t->allocation_count--;
    free_and_merge(t, i);
    return GPUMEM_OK;
}

/* Records past the new high-water mark fail the index check of free, and the ones below it are
 * written before use, with new generations for used ones. */
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
    for (uint32_t i = t->heads[(fl << SL_LOG2) | sl]; i != NIL; i = t->blocks[i].free_next) {
        if (t->blocks[i].size > largest)
            largest = t->blocks[i].size;
    }
    return largest;
}

void gpumem_tlsf_stats_get(const gpumem_tlsf *t, gpumem_tlsf_stats *stats)
{
    const block *last = &t->blocks[t->blocks[0].phys_prev];
    stats->size = t->size;
    stats->used_bytes = t->used_bytes;
    stats->allocation_count = t->allocation_count;
    stats->free_range_count = t->free_count;
    stats->largest_free_range = largest_free(t);
    stats->span = last->free_prev == USED ? t->size : last->offset;
}

int gpumem_tlsf_is_empty(const gpumem_tlsf *t)
{
    return t->allocation_count == 0;
}

void gpumem_tlsf_walk(const gpumem_tlsf *t, gpumem_tlsf_visit_fn visit, void *user)
{
    for (uint32_t i = t->blocks[0].phys_next; i != NIL; i = t->blocks[i].phys_next) {
        const block *b = &t->blocks[i];
        int used = b->free_prev == USED;
        uint64_t handle = used ? ((uint64_t)b->free_next << 32) | i : 0;
        visit(user, handle, b->offset, b->size, used);
    }
}
