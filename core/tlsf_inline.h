/* The TLSF's records, and its allocate and free as inline functions.
 *
 * tlsf.c builds the interface of tlsf.h from these. vblock.c inlines them, because for a virtual
 * block the allocate and the free are the whole call: going through tlsf.h's functions cost about
 * 40 instructions per alloc and free pair (two more calls, registers saved twice, the result
 * passed through memory), about a twelfth of a pair's time. Internal to core, like tlsf.h.
 */
#ifndef GPUMEM_CORE_TLSF_INLINE_H
#define GPUMEM_CORE_TLSF_INLINE_H

#include <stdint.h>

#include "tlsf.h"

/* 32 linear subdivisions per power of two: a block found by the rounded-up search wastes at most
 * about 3% of its size, and one first level's bitmap is a single 32-bit word. */
#define TLSF_SL_LOG2 5u
#define TLSF_SL_COUNT (1u << TLSF_SL_LOG2)

/* Records 0 and 1 are sentinels. Record 0 is "no block" in the free lists and the spare chain:
 * writes through an empty link land on it harmlessly, which spares the list updates most of their
 * branches. Record 1 stands for both ends of the address-order list (its phys_next is the first
 * block, its phys_prev the last); no free list ever reaches it, so it always reads as not free and
 * freeing a block at either end needs no test for the end. */
#define TLSF_NIL 0u
#define TLSF_END 1u
#define TLSF_FIRST_RECORD 2u
/* A free block's free_prev is TLSF_NIL or an index; used and dead records carry a marker there
 * instead, which is how a record's state is told. */
#define TLSF_USED UINT32_MAX
#define TLSF_DEAD (UINT32_MAX - 1u)
#define TLSF_MAX_RECORDS (UINT32_MAX - 2u) /* so that no index reaches the markers */
#define TLSF_NO_CLASS UINT32_MAX

/* A remainder stays in the allocation when it is smaller than TLSF_MIN_FREE_BLOCK, than the
 * alignment asked for (it could not serve a like request once padded) or than 1/4 of the
 * request. Such remainders are rarely reused before the allocation is freed and merges them back,
 * and every free range costs a record and list updates whenever a neighbour changes. On a
 * log-uniform 256 B - 4 MiB trace aligned to 256 (10,000 live), 1/4 rather than 1/16 halves the
 * free ranges (about 1,200 to 520) and cuts the time per alloc and free pair by about a tenth,
 * for about 0.6% more span over the requested bytes (1.122 to 1.129; 1/2 would cost 3%). */
#define TLSF_MIN_FREE_BLOCK 8u
#define TLSF_REMAINDER_SHIFT 2u
/* Left padding at least this large becomes a free range of its own; smaller padding stays in the
 * allocation, as a free sliver that small would rarely be reused. */
#define TLSF_PAD_SPLIT 256u

#if defined(__GNUC__)
#define TLSF_INLINE inline __attribute__((always_inline))
#else
#define TLSF_INLINE inline
#endif

/* One range of [0, size): used, free, or (dead) a spare record. 32 bytes on a 32-byte boundary, so
 * touching a record is one cache line. */
typedef struct tlsf_block {
    uint64_t offset;
    uint64_t size;
    uint32_t phys_prev; /* address-order neighbours; TLSF_END at the ends */
    uint32_t phys_next;
    uint32_t free_prev; /* class list of a free block (a list's head: any index or TLSF_NIL,
                           meaningless), or TLSF_USED / TLSF_DEAD */
    uint32_t free_next; /* class list of a free block, or the spare-record chain of a dead one */
} tlsf_block;

/* Frees through gpumem_tlsf_free_deferred_inline wait in a ring of this many before their ranges
 * become free: see there. Sixteen rather than eight: with the retake's gate below, the 100k-live
 * trace ran 1.2-1.3x faster on the H200 host, the others within the runs' spread (log-uniform
 * 0.87x and 1.20x by medians in two runs; docs/performance.md). */
#define TLSF_PENDING_LOG2 4u
#define TLSF_PENDING (1u << TLSF_PENDING_LOG2)
/* The retake's gate (gpumem_tlsf_alloc_deferred_inline): after TLSF_RETAKE_TRIES retakes in a row
 * found a range in the ring and could not take it, an allocate looks at the ring only once in
 * TLSF_RETAKE_EVERY (a power of two) until one takes a range back. */
#define TLSF_RETAKE_TRIES 8u
#define TLSF_RETAKE_EVERY 64u

/* Whether an allocate looks at the ring, given retake_misses (the gate above). */
static TLSF_INLINE int tlsf_retake_looks(uint32_t misses)
{
    return misses < TLSF_RETAKE_TRIES || (misses & (TLSF_RETAKE_EVERY - 1u)) == 0;
}

struct gpumem_tlsf {
    tlsf_block *blocks;
    /* Per record, the generation of the live allocation it holds, 0 when it holds none (free,
     * spare, or freed and pending). Dense, apart from the records, so that a free checks its
     * handle without touching the record: at 100,000 live allocations the records (32 bytes
     * each) outgrow the core's cache and this array (4 bytes each) does not. */
    uint32_t *generations;
    uint32_t block_count;  /* records handed out since the last clear (high-water mark) */
    uint32_t block_capacity;
    uint32_t spare_head;   /* dead records, reused before block_count grows */
    uint32_t spare_count;
    uint32_t class_count;  /* classes that a block of at most size can fall in */
    /* The generation of the latest allocation. Each allocation takes the next one (0 is
     * skipped: it marks records that hold none), so a handle matches only the allocation it was
     * made for until 2^32 - 1 allocations later. */
    uint32_t generation;
    /* Deferred frees (gpumem_tlsf_free_deferred_inline): records of freed allocations whose
     * ranges are not free yet, TLSF_NIL in empty slots; pending_slot is the oldest. */
    uint32_t pending_slot;
    uint32_t pending[TLSF_PENDING];
    /* Retakes that found a range in the ring and did not take it, since the last that did; from
     * TLSF_RETAKE_TRIES on, also the allocates that did not look. */
    uint32_t retake_misses;
    uint64_t size;
    uint64_t used_bytes;
    uint64_t allocation_count;
    uint64_t free_count;
    uint64_t fl_bitmap;     /* bit fl: some class of first level fl is non-empty */
    uint32_t sl_bitmap[64]; /* bit sl of word fl: class (fl, sl) is non-empty; 60 are used */
    uint32_t heads[];       /* class_count free-list heads, TLSF_NIL when empty */
};

/* Sizes below TLSF_SL_COUNT get one class each; above, a class is a power of two (first level)
 * and the next TLSF_SL_LOG2 bits (second level). Classes grow with size, so the bitmaps keep
 * size order. */
static TLSF_INLINE uint32_t tlsf_class_of(uint64_t size)
{
    uint32_t top_bit = 63u - (uint32_t)__builtin_clzll(size | TLSF_SL_COUNT);
    uint32_t shift = top_bit - TLSF_SL_LOG2;
    return (shift << TLSF_SL_LOG2) + (uint32_t)(size >> shift);
}

/* The first class whose every block holds at least need bytes (need > 0): need's own class when
 * need is its lower bound, else the next one. Both are the class after need - 1's, since classes
 * are numbered without gaps and each starts where the one before ends; the next may be the first
 * of the next power of two, or past the last class. */
static TLSF_INLINE uint32_t tlsf_class_at_least(uint64_t need)
{
    return tlsf_class_of(need - 1u) + 1u;
}

/* The least size of class c, the inverse of tlsf_class_of at the classes' lower bounds: below
 * 2 * TLSF_SL_COUNT a class is its one size; above, c's top TLSF_SL_LOG2 + 1 bits, shifted. */
static TLSF_INLINE uint64_t tlsf_class_least_size(uint32_t c)
{
    if (c < 2 * TLSF_SL_COUNT)
        return c;
    uint32_t shift = (c >> TLSF_SL_LOG2) - 1u;
    return (uint64_t)(TLSF_SL_COUNT + (c & (TLSF_SL_COUNT - 1u))) << shift;
}

static TLSF_INLINE uint64_t tlsf_padding_at(uint64_t start, uint64_t mask)
{
    return (0u - start) & mask;
}

static TLSF_INLINE int tlsf_block_fits(const tlsf_block *b, uint64_t size, uint64_t mask)
{
    uint64_t pad = tlsf_padding_at(b->offset, mask);
    return b->size >= pad && b->size - pad >= size;
}

static TLSF_INLINE int tlsf_is_free(const tlsf_block *b)
{
    return b->free_prev < TLSF_DEAD;
}

/* ------------------------------------------------------------------------------------------
 * Free lists
 * ---------------------------------------------------------------------------------------- */

static TLSF_INLINE void tlsf_list_push(gpumem_tlsf *t, uint32_t i, uint32_t c)
{
    uint32_t head = t->heads[c];
    tlsf_block *b = &t->blocks[i];
    b->free_prev = TLSF_NIL;
    b->free_next = head;
    t->blocks[head].free_prev = i;
    t->heads[c] = i;
    t->sl_bitmap[c >> TLSF_SL_LOG2] |= 1u << (c & (TLSF_SL_COUNT - 1u));
    t->fl_bitmap |= UINT64_C(1) << (c >> TLSF_SL_LOG2);
    t->free_count++;
}

/* A block of class c has left its list, which is now empty when `emptied` is 1. The bitmaps
 * are updated without branches: whether the list empties is close to random, and a
 * misprediction costs more than the few extra instructions. */
static TLSF_INLINE void tlsf_list_left(gpumem_tlsf *t, uint32_t c, uint32_t emptied)
{
    uint32_t fl = c >> TLSF_SL_LOG2;
    uint32_t bits = t->sl_bitmap[fl] & ~(emptied << (c & (TLSF_SL_COUNT - 1u)));
    t->sl_bitmap[fl] = bits;
    t->fl_bitmap &= ~((uint64_t)(bits == 0) << fl);
    t->free_count--;
}

/* Block i, of class c, leaves its list. A list's head keeps whatever free_prev it had (an index
 * or TLSF_NIL, so it still reads as free): whether i is the head is asked of heads[c]. */
static TLSF_INLINE void tlsf_list_remove(gpumem_tlsf *t, uint32_t i, uint32_t c)
{
    const tlsf_block *b = &t->blocks[i];
    uint32_t prev = b->free_prev;
    uint32_t next = b->free_next;
    int head = t->heads[c] == i;
    t->blocks[next].free_prev = prev;
    uint32_t *link = head ? &t->heads[c] : &t->blocks[prev].free_next;
    *link = next;
    tlsf_list_left(t, c, head & (next == TLSF_NIL));
}

/* Takes the head of class c's list (b, a block) off it: its next becomes the head, its
 * free_prev left as it is (see tlsf_list_remove). */
static TLSF_INLINE void tlsf_list_pop_head(gpumem_tlsf *t, const tlsf_block *b, uint32_t c)
{
    uint32_t next = b->free_next;
    t->heads[c] = next;
    tlsf_list_left(t, c, next == TLSF_NIL);
}

/* The first non-empty class at or above c, or TLSF_NO_CLASS. */
static TLSF_INLINE uint32_t tlsf_first_class_at_or_above(const gpumem_tlsf *t, uint32_t c)
{
    uint32_t fl = c >> TLSF_SL_LOG2;
    uint32_t bits = t->sl_bitmap[fl] & (~0u << (c & (TLSF_SL_COUNT - 1u)));
    uint64_t above = t->fl_bitmap & (~UINT64_C(0) << (fl + 1u));
    /* With nothing above, the top bit picks sl_bitmap[63], which is always empty. */
    uint32_t up = (uint32_t)__builtin_ctzll(above | (UINT64_C(1) << 63));
    fl = bits ? fl : up;
    bits = bits ? bits : t->sl_bitmap[up];
    if (bits == 0)
        return TLSF_NO_CLASS;
    return (fl << TLSF_SL_LOG2) | (uint32_t)__builtin_ctz(bits);
}

/* Out of line in tlsf.c: the paths that alloc and free rarely take. */
int gpumem_tlsf_grow_records(gpumem_tlsf *t); /* 0 when the record array cannot grow */
/* Used block i, which has a free neighbour, becomes free space merged with its neighbours; the
 * merged range's size. */
uint64_t gpumem_tlsf_free_and_merge(gpumem_tlsf *t, uint32_t i);
/* A deferred allocate that failed with `refused` (no room, or no record to split with: a pending
 * range may need neither): releases the pending frees' ranges and tries again; `refused` when
 * none were pending. */
gpumem_result gpumem_tlsf_alloc_after_pending(gpumem_tlsf *t, uint64_t size, uint64_t mask,
                                              gpumem_tlsf_allocation *allocation,
                                              gpumem_result refused);
/* The allocate when no non-empty class holds the request at any padding (tlsf.c): the blocks of
 * the classes below that rounded-up one, from the request's own class, are walked for one that
 * holds it at its own padding. */
gpumem_result gpumem_tlsf_alloc_scanning(gpumem_tlsf *t, uint64_t size, uint64_t mask,
                                         gpumem_tlsf_allocation *allocation);


/* ------------------------------------------------------------------------------------------
 * Records
 * ---------------------------------------------------------------------------------------- */

/* Growing before any change keeps a failed allocation from leaving a half-split block. */
static TLSF_INLINE int tlsf_reserve_records(gpumem_tlsf *t, uint32_t n)
{
    if (t->spare_count + (t->block_capacity - t->block_count) >= n)
        return 1;
    return gpumem_tlsf_grow_records(t);
}

static TLSF_INLINE uint32_t tlsf_take_record(gpumem_tlsf *t)
{
    uint32_t i = t->spare_head;
    if (i == TLSF_NIL)
        return t->block_count++;
    t->spare_head = t->blocks[i].free_next;
    t->spare_count--;
    return i;
}

static TLSF_INLINE void tlsf_release_record(gpumem_tlsf *t, uint32_t i)
{
    tlsf_block *b = &t->blocks[i];
    b->free_prev = TLSF_DEAD;
    b->free_next = t->spare_head;
    t->spare_head = i;
    t->spare_count++;
}

/* Cuts block i after its first `at` bytes; the new record, returned, takes the rest and follows
 * i in address order. A record must be reserved. */
static TLSF_INLINE uint32_t tlsf_split_block(gpumem_tlsf *t, uint32_t i, uint64_t at)
{
    uint32_t n = tlsf_take_record(t);
    tlsf_block *b = &t->blocks[i];
    tlsf_block *nb = &t->blocks[n];
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
static TLSF_INLINE uint32_t tlsf_split_off_front(gpumem_tlsf *t, uint32_t i, uint64_t pad)
{
    uint32_t rest = tlsf_split_block(t, i, pad);
    tlsf_list_push(t, i, tlsf_class_of(pad));
    return rest;
}

/* ------------------------------------------------------------------------------------------
 * Allocate and free
 * ---------------------------------------------------------------------------------------- */

/* A remainder of `rest` bytes after an allocation of size at alignment mask + 1 becomes a free
 * range of its own (see TLSF_REMAINDER_SHIFT). */
static TLSF_INLINE int tlsf_rest_is_cut(uint64_t rest, uint64_t size, uint64_t mask)
{
    return (rest > (mask | (TLSF_MIN_FREE_BLOCK - 1u))) & (rest >= size >> TLSF_REMAINDER_SHIFT);
}

/* Block i, out of the free lists and cut to size, becomes the allocation. */
static TLSF_INLINE void tlsf_mark_used(gpumem_tlsf *t, uint32_t i, uint64_t pad,
                                       gpumem_tlsf_allocation *allocation)
{
    tlsf_block *used = &t->blocks[i];
    uint32_t generation = t->generation + 1u;
    generation += generation == 0;
    t->generation = generation;
    t->generations[i] = generation;
    used->free_prev = TLSF_USED;
    t->used_bytes += used->size;
    t->allocation_count++;
    allocation->handle = ((uint64_t)generation << 32) | i;
    allocation->offset = used->offset + pad;
    allocation->left_padding = pad;
    allocation->block_size = used->size;
}

/* Free block i of class c, which holds size at the alignment, becomes the allocation: padding
 * worth a free range and a remainder worth one are cut off first. `head` (a constant where it is
 * inlined) is 1 when i is the head of its list, which leaves it by the shorter way. */
static TLSF_INLINE gpumem_result tlsf_take_block(gpumem_tlsf *t, uint32_t i, uint32_t c,
                                                 uint64_t size, uint64_t mask,
                                                 gpumem_tlsf_allocation *allocation, int head)
{
    const tlsf_block *b = &t->blocks[i];
    uint64_t pad = tlsf_padding_at(b->offset, mask);
    uint64_t rest = b->size - pad - size;
    int cut_pad = pad >= TLSF_PAD_SPLIT;
    int cut_rest = tlsf_rest_is_cut(rest, size, mask);
    if (!tlsf_reserve_records(t, (uint32_t)(cut_pad + cut_rest)))
        return GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
    if (head)
        tlsf_list_pop_head(t, &t->blocks[i], c);
    else
        tlsf_list_remove(t, i, c);
    if (cut_pad) {
        i = tlsf_split_off_front(t, i, pad);
        pad = 0;
    }
    if (cut_rest)
        tlsf_list_push(t, tlsf_split_block(t, i, pad + size), tlsf_class_of(rest));
    tlsf_mark_used(t, i, pad, allocation);
    return GPUMEM_OK;
}

/* gpumem_tlsf_alloc without its argument checks: size > 0, and mask is a power-of-two alignment
 * less one.
 *
 * A block of the request's own class, when it fits, wastes less than a rounded-up one, so the
 * head of that class is tried first (an empty list's head is record 0, of size 0, which never
 * fits). In a steady workload that head is often the range the previous free gave back, and it
 * is taken whole on a short path of its own (no split, no record to reserve, the list's head
 * known) unless its padding is large enough to become a free range, which only alignments above
 * TLSF_PAD_SPLIT can ask. The placement is the same on either path; on the equal-size trace the
 * short path saves about a quarter of the allocate's instructions (192 to 146, in vblock).
 * Otherwise the block is the head of the first non-empty class whose every block holds the
 * request at any padding (or the own class's head, when only its padding sends it the long way),
 * and leaves its list as a head, with no link before it to rewrite; only when no such class
 * exists are the blocks of the classes below walked, out of line. */
static TLSF_INLINE gpumem_result gpumem_tlsf_alloc_inline(gpumem_tlsf *t, uint64_t size,
                                                          uint64_t mask,
                                                          gpumem_tlsf_allocation *allocation)
{
    uint32_t c = tlsf_class_of(size);
    if (__builtin_expect(c >= t->class_count, 0))
        return GPUMEM_ERROR_LIMIT_EXCEEDED;
    uint32_t i = t->heads[c];
    tlsf_block *b = &t->blocks[i];
    if (tlsf_block_fits(b, size, mask)) {
        /* No remainder is ever cut here: the ranges of one class differ in size by less than
         * 1/32 of the smallest, and a remainder is cut from 1/4 of the request up. */
        _Static_assert(TLSF_REMAINDER_SHIFT < TLSF_SL_LOG2, "own-class remainders are cut");
        uint64_t pad = tlsf_padding_at(b->offset, mask);
        if (pad < TLSF_PAD_SPLIT) {
            tlsf_list_pop_head(t, b, c);
            tlsf_mark_used(t, i, pad, allocation);
            return GPUMEM_OK;
        }
    } else {
        /* The head of the first non-empty class whose every block holds the request at any
         * padding: its worst-case need rounded up to a class bound. */
        uint64_t need = size + mask;
        c = need >= size ? tlsf_first_class_at_or_above(t, tlsf_class_at_least(need))
                         : TLSF_NO_CLASS;
        if (__builtin_expect(c == TLSF_NO_CLASS, 0))
            return gpumem_tlsf_alloc_scanning(t, size, mask, allocation);
        i = t->heads[c];
    }
    return tlsf_take_block(t, i, c, size, mask, allocation, 1);
}

/* gpumem_tlsf_alloc_inline for a suballocator freed through gpumem_tlsf_free_deferred_inline:
 * the range freed last, still waiting in the ring, is taken back whole when it holds the request
 * with at most 1/32 of it to spare (about what a range of the request's own class may hold more)
 * and its padding would stay in the allocation: the placement the own class's head would have
 * given, had that free released its range at once. A steady workload of like sizes then never
 * touches the free lists (once the gate below lets an allocate look): on the equal-size trace a
 * free and allocate pair takes 203 instructions (196 before the gate) instead of 240 (vblock,
 * callgrind). Only the newest entry is looked at: older ones would cost a load each on every
 * allocate.
 *
 * When sizes do not repeat, the look costs more than its instructions: with many live
 * allocations the newest entry's record is a cache miss that the free just before has only begun
 * to fetch. So after TLSF_RETAKE_TRIES looks in a row found a range and could not take it, only
 * one allocate in TLSF_RETAKE_EVERY looks, until one takes a range back. An allocate that finds
 * the newest slot empty (as in a fill with no frees) does not count: a workload of like sizes
 * starting after a fill must find the retake on, or the ring would place its first ranges anew.
 * One that starts after a run of misses waits for the next look, up to TLSF_RETAKE_EVERY -
 * TLSF_RETAKE_TRIES allocates; meanwhile its ranges go round the ring, and its span may grow by
 * the ring's TLSF_PENDING ranges. */
static TLSF_INLINE gpumem_result gpumem_tlsf_alloc_deferred_inline(
    gpumem_tlsf *t, uint64_t size, uint64_t mask, gpumem_tlsf_allocation *allocation)
{
    uint32_t misses = t->retake_misses;
    if (tlsf_retake_looks(misses)) {
        uint32_t slot = (t->pending_slot - 1u) & (TLSF_PENDING - 1u);
        uint32_t i = t->pending[slot];
        const tlsf_block *b = &t->blocks[i]; /* record 0, of size 0, when the slot is empty */
        uint64_t pad = tlsf_padding_at(b->offset, mask);
        uint64_t room = b->size - pad;
        /* The spare room first, on its own: unless sizes repeat it is almost never small, so
         * this branch predicts well; testing `room >= size` first, true half the time for
         * random sizes, cost the log-uniform trace a fifth of its time on the H200 host. The
         * wrapped difference when room < size only passes for sizes near 2^64, which the second
         * test refuses. */
        if (__builtin_expect(room - size <= size >> TLSF_SL_LOG2, 0) &&
            (b->size >= pad) & (room >= size) & (pad < TLSF_PAD_SPLIT)) {
            t->pending[slot] = TLSF_NIL;
            t->retake_misses = 0;
            /* The record is still used and its bytes still counted: only the allocation is new. */
            t->used_bytes -= b->size;
            tlsf_mark_used(t, i, pad, allocation);
            return GPUMEM_OK;
        }
        t->retake_misses = misses + (i != TLSF_NIL);
    } else {
        t->retake_misses = misses + 1u; /* wraps after 2^32 allocates: eight more looks */
    }
    gpumem_result r = gpumem_tlsf_alloc_inline(t, size, mask, allocation);
    if (__builtin_expect(r != GPUMEM_OK, 0))
        return gpumem_tlsf_alloc_after_pending(t, size, mask, allocation, r);
    return r;
}

/* Checks that handle is a live allocation and ends it (its record stays used until its range is
 * released); 0 when it is not. Only the dense generations array is read. */
static TLSF_INLINE int tlsf_end_allocation(gpumem_tlsf *t, uint64_t handle)
{
    uint32_t i = (uint32_t)handle;
    uint32_t generation = (uint32_t)(handle >> 32);
    if (i - TLSF_FIRST_RECORD >= t->block_count - TLSF_FIRST_RECORD) /* sentinels wrap around */
        return 0;
    if ((t->generations[i] != generation) | (generation == 0))
        return 0;
    t->generations[i] = 0;
    t->allocation_count--;
    return 1;
}

/* The range of ended allocation i becomes free space. Most have no free neighbour (free ranges
 * are few, and a steady workload reuses them soon): the block just joins its class's list.
 * Merging is out of line, so that this path keeps few registers (on the equal-size trace the free
 * takes 95 instructions instead of 115). */
static TLSF_INLINE uint64_t tlsf_release_range(gpumem_tlsf *t, uint32_t i)
{
    tlsf_block *b = &t->blocks[i];
    t->used_bytes -= b->size;
    int next_free = tlsf_is_free(&t->blocks[b->phys_next]);
    int prev_free = tlsf_is_free(&t->blocks[b->phys_prev]);
    if (__builtin_expect((next_free | prev_free) == 0, 1)) {
        tlsf_list_push(t, i, tlsf_class_of(b->size));
        return b->size;
    }
    return gpumem_tlsf_free_and_merge(t, i);
}

static TLSF_INLINE gpumem_result gpumem_tlsf_free_inline(gpumem_tlsf *t, uint64_t handle)
{
    if (!tlsf_end_allocation(t, handle))
        return GPUMEM_ERROR_INVALID_HANDLE;
    tlsf_release_range(t, (uint32_t)handle);
    return GPUMEM_OK;
}

/* A free whose range becomes free TLSF_PENDING frees later (or at the next observation: an
 * allocate that finds no room, stats, walk, clear). The handle is checked and ended at once, so
 * a second free is refused as before; only the range waits. Meanwhile the record, and half way
 * its neighbours, are fetched into the cache ahead of use: with many live allocations those
 * records are cache misses, which a free that releases its range at once waits for one after
 * another. Used by virtual blocks; a pool's pages free at once. */
static TLSF_INLINE gpumem_result gpumem_tlsf_free_deferred_inline(gpumem_tlsf *t, uint64_t handle)
{
    if (!tlsf_end_allocation(t, handle))
        return GPUMEM_ERROR_INVALID_HANDLE;
    uint32_t i = (uint32_t)handle;
    __builtin_prefetch(&t->blocks[i], 1);
    uint32_t slot = t->pending_slot;
    uint32_t halfway = t->pending[(slot + TLSF_PENDING / 2u) & (TLSF_PENDING - 1u)];
    const tlsf_block *half = &t->blocks[halfway]; /* record 0 when that slot is empty */
    __builtin_prefetch(&t->blocks[half->phys_next], 1);
    __builtin_prefetch(&t->blocks[half->phys_prev], 1);
    uint32_t ripe = t->pending[slot];
    t->pending[slot] = i;
    t->pending_slot = (slot + 1u) & (TLSF_PENDING - 1u);
    if (ripe != TLSF_NIL)
        tlsf_release_range(t, ripe);
    return GPUMEM_OK;
}

#endif
