#include "tlsf.h"

#include <stdlib.h>
#include <string.h>

/* 32 linear subdivisions per power of two: a block found by the rounded-up search wastes at most
 * about 3% of its size, and one first level's bitmap is a single 32-bit word. */
#define SL_LOG2 5u
#define SL_COUNT (1u << SL_LOG2)
#define NO_CLASS UINT32_MAX

/* Record 0 is a sentinel that every link can point at: "no block" in the free lists and the two
 * ends of the physical list. Writes through an empty link land on it harmlessly, which keeps the
 * list updates free of branches; its phys_next is the first block and its phys_prev the last. */
#define NIL 0u

/* A free block's free_prev is NIL or an index; other records carry a marker there instead,
 * which is how a record's state is told. */
#define USED UINT32_MAX
#define SPARE_USED (UINT32_MAX - 1u) /* a spare record that holds used blocks */
#define SPARE_FREE (UINT32_MAX - 2u) /* a spare record that holds free blocks */
#define MAX_RECORDS (UINT32_MAX - 3u) /* so that no index reaches the markers */
#define INITIAL_RECORDS 32u
#define CACHE_LINE 64u

/* A remainder smaller than MIN_FREE_BLOCK, or than 1/16 of the request, stays in the allocation:
 * such slivers are rarely reusable, and every free range costs a record and list updates
 * whenever a neighbour changes. Measured on a log-uniform 256 B - 4 MiB trace, this lowers both
 * the time per operation and the span over the requested bytes. */
#define MIN_FREE_BLOCK 256u
#define REMAINDER_SHIFT 4u
/* Left padding at least this large becomes a free range of its own instead of being wasted. */
#define PAD_SPLIT 256u

#if defined(__GNUC__)
#define HOT_INLINE inline __attribute__((always_inline))
#else
#define HOT_INLINE inline
#endif

/* One range of [0, size), or a spare record. 32 bytes on a 32-byte boundary, so a record is one
 * cache line.
 *
 * Records come in two kinds that never mix: those that hold used blocks and those that hold free
 * blocks. Only the first kind is ever named by a handle, and its generation always has a home in
 * the record itself: in free_next while used, in offset while spare. Free blocks need every
 * field, so a record that holds one never carries a generation, and no side table has to be
 * touched on the hot path. */
typedef struct block {
    uint64_t offset;    /* or, in a spare record for used blocks, its next generation */
    uint64_t size;
    uint32_t phys_prev; /* address-order neighbours; NIL at the ends */
    uint32_t phys_next;
    uint32_t free_prev; /* class list of a free block, or USED / SPARE_USED / SPARE_FREE */
    uint32_t free_next; /* class list of a free block, a used block's generation, or the
                           chain of spare records */
} block;

struct gpumem_tlsf {
    block *blocks;
    uint32_t block_count; /* records ever handed out (the high-water mark) */
    uint32_t block_capacity;
    uint32_t spare_used;  /* chains of spare records of each kind, reused before block_count */
    uint32_t spare_free;
    uint32_t class_count; /* classes that a block of at most size can fall in */
    uint32_t scratch;     /* a target for link writes that turn out to be unneeded */
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

/* The first class whose every block holds at least need bytes; 0 when rounding up overflows. */
static HOT_INLINE int class_at_least(uint64_t need, uint32_t *c)
{
    uint32_t top_bit = 63u - (uint32_t)__builtin_clzll(need | SL_COUNT);
    uint32_t shift = top_bit - SL_LOG2;
    uint64_t rounded = need + ((UINT64_C(1) << shift) - 1u);
    *c = class_of(rounded);
    return rounded >= need;
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
    return b->free_prev < SPARE_FREE;
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

/* c is the class of b. Written without branches: which list neighbour exists is close to random,
 * and mispredictions cost more here than the few extra instructions. */
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

/* Only reached when the good-fit search failed: every class that could still hold a fitting
 * block is walked, so an allocation fails only when no free range can hold it. */
static uint32_t scan_classes(const gpumem_tlsf *t, uint32_t c, uint64_t size, uint64_t mask,
                             uint32_t *found_class)
{
    for (c = first_class_at_or_above(t, c); c != NO_CLASS; c = first_class_at_or_above(t, c + 1u)) {
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
    uint32_t rounded;
    uint32_t good = NO_CLASS;
    if (need >= size && class_at_least(need, &rounded))
        good = first_class_at_or_above(t, rounded);
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
    /* aligned_alloc wants a multiple of the alignment. */
    size_t bytes = ((size_t)cap * sizeof(block) + CACHE_LINE - 1u) & ~(size_t)(CACHE_LINE - 1u);
    block *blocks = aligned_alloc(CACHE_LINE, bytes);
    if (!blocks)
        return 0;
    if (old)
        memcpy(blocks, t->blocks, (size_t)old * sizeof(block));
    /* A fresh record's first generation, in case it comes to hold used blocks. */
    for (uint32_t i = old; i < cap; i++)
        blocks[i] = (block){.offset = 1};
    free(t->blocks);
    t->blocks = blocks;
    t->block_capacity = cap;
    return 1;
}

/* Growing before any change keeps a failed allocation from leaving a half-split block. */
static HOT_INLINE int reserve_records(gpumem_tlsf *t, uint32_t used, uint32_t unused)
{
    uint32_t fresh = (t->spare_used == NIL ? used : 0) + (t->spare_free == NIL ? unused : 0);
    if (t->block_capacity - t->block_count >= fresh)
        return 1;
    return grow_records(t);
}

static HOT_INLINE uint32_t take_spare(gpumem_tlsf *t, uint32_t *chain)
{
    uint32_t i = *chain;
    if (i == NIL)
        return t->block_count++;
    *chain = t->blocks[i].free_next;
    return i;
}

static HOT_INLINE void retire_used(gpumem_tlsf *t, uint32_t i, uint32_t next_generation)
{
    block *b = &t->blocks[i];
    b->offset = next_generation;
    b->free_prev = SPARE_USED;
    b->free_next = t->spare_used;
    t->spare_used = i;
}

static HOT_INLINE void retire_free(gpumem_tlsf *t, uint32_t i)
{
    block *b = &t->blocks[i];
    b->free_prev = SPARE_FREE;
    b->free_next = t->spare_free;
    t->spare_free = i;
}

static HOT_INLINE void link_blocks(gpumem_tlsf *t, uint32_t left, uint32_t right)
{
    t->blocks[left].phys_next = right;
    t->blocks[right].phys_prev = left;
}

/* Free block f = [start, end) becomes, in address order: an optional free front (padding large
 * enough to keep, in f's record), the used block, and an optional free back (in f's record when
 * there is no front). Returns the used block's record. Records must be reserved. */
static HOT_INLINE uint32_t carve(gpumem_tlsf *t, uint32_t f, uint64_t pad, uint64_t rest,
                                 int cut_pad, int cut_rest)
{
    block *fb = &t->blocks[f];
    uint32_t left = fb->phys_prev;
    uint32_t right = fb->phys_next;
    uint64_t start = fb->offset;
    uint64_t end = start + fb->size;
    uint64_t used_start = cut_pad ? start + pad : start;
    uint64_t used_end = cut_rest ? end - rest : end;
    uint32_t u = take_spare(t, &t->spare_used);
    uint32_t generation = (uint32_t)t->blocks[u].offset;
    if (cut_pad) {
        fb->size = pad;
        list_push(t, f, class_of(pad));
        left = f;
    }
    if (cut_rest) {
        uint32_t back = cut_pad ? take_spare(t, &t->spare_free) : f;
        block *bb = &t->blocks[back];
        bb->offset = used_end;
        bb->size = rest;
        list_push(t, back, class_of(rest));
        if (back != f)
            link_blocks(t, back, right);
        right = back;
    } else if (!cut_pad) {
        retire_free(t, f);
    }
    block *ub = &t->blocks[u];
    ub->offset = used_start;
    ub->size = used_end - used_start;
    ub->free_prev = USED;
    ub->free_next = generation;
    link_blocks(t, left, u);
    link_blocks(t, u, right);
    return u;
}

/* ------------------------------------------------------------------------------------------
 * Interface
 * ---------------------------------------------------------------------------------------- */

/* One free block over everything; spare records keep their kind, and so their generations. */
static void reset(gpumem_tlsf *t)
{
    memset(t->heads, 0, (size_t)t->class_count * sizeof t->heads[0]);
    memset(t->sl_bitmap, 0, sizeof t->sl_bitmap);
    t->fl_bitmap = 0;
    t->used_bytes = 0;
    t->allocation_count = 0;
    t->free_count = 0;
    uint32_t i = take_spare(t, &t->spare_free);
    t->blocks[i] = (block){.size = t->size, .phys_prev = NIL, .phys_next = NIL};
    t->blocks[NIL] = (block){.phys_prev = i, .phys_next = i, .free_prev = SPARE_FREE};
    list_push(t, i, class_of(t->size));
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
    t->block_capacity = 0;
    if (!grow_records(t)) {
        free(t);
        return GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
    }
    t->block_count = 1; /* the sentinel */
    t->spare_used = NIL;
    t->spare_free = NIL;
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
    uint32_t f = find_block(t, size, mask, &c);
    if (f == NIL)
        return GPUMEM_ERROR_LIMIT_EXCEEDED;
    const block *fb = &t->blocks[f];
    uint64_t pad = padding_at(fb->offset, mask);
    uint64_t rest = fb->size - pad - size;
    int cut_pad = pad >= PAD_SPLIT;
    int cut_rest = (rest >= MIN_FREE_BLOCK) & (rest >= size >> REMAINDER_SHIFT);
    if (!reserve_records(t, 1, (uint32_t)(cut_pad & cut_rest)))
        return GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
    list_remove(t, &t->blocks[f], c);
    uint32_t u = carve(t, f, pad, rest, cut_pad, cut_rest);
    const block *ub = &t->blocks[u];
    t->used_bytes += ub->size;
    t->allocation_count++;
    allocation->handle = ((uint64_t)ub->free_next << 32) | u;
    allocation->offset = ub->offset + (cut_pad ? 0 : pad);
    allocation->left_padding = cut_pad ? 0 : pad;
    allocation->block_size = ub->size;
    return GPUMEM_OK;
}

/* The free range [start, start + size) that replaces used block i, merged with free neighbours:
 * one record keeps it (a merged neighbour's, or a spare one for free blocks) and the others
 * become spare. Links that need no change are written to scratch instead, so that the cold
 * neighbour of a merged block is not touched for nothing. */
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
    uint64_t start = b->offset;
    uint64_t size = b->size;
    uint32_t before = b->phys_prev;
    uint32_t after = b->phys_next;
    t->used_bytes -= size;
    t->allocation_count--;
    const block *p = &t->blocks[before];
    const block *n = &t->blocks[after];
    int merge_prev = before != NIL && is_free(p);
    int merge_next = after != NIL && is_free(n);
    uint32_t left = before;
    uint32_t right = after;
    uint32_t keep;
    if (merge_prev) {
        list_remove(t, p, class_of(p->size));
        start = p->offset;
        size += p->size;
        left = p->phys_prev;
    }
    if (merge_next) {
        list_remove(t, n, class_of(n->size));
        size += n->size;
        right = n->phys_next;
    }
    if (merge_prev) {
        keep = before;
        if (merge_next)
            retire_free(t, after);
    } else if (merge_next) {
        keep = after;
    } else {
        /* Without a spare record, i itself turns into one for free blocks: it is never used
         * again, so its old handles stay dead without a generation. */
        keep = t->spare_free != NIL || t->block_count < t->block_capacity
                   ? take_spare(t, &t->spare_free)
                   : i;
    }
    if (keep != i)
        retire_used(t, i, generation + 1u);
    block *k = &t->blocks[keep];
    k->offset = start;
    k->size = size;
    k->phys_prev = left;
    k->phys_next = right;
    *(merge_prev ? &t->scratch : &t->blocks[left].phys_next) = keep;
    *(keep == after ? &t->scratch : &t->blocks[right].phys_prev) = keep;
    list_push(t, keep, class_of(size));
    return GPUMEM_OK;
}

/* Every record becomes spare of the kind it was, used ones with their generation bumped. */
void gpumem_tlsf_clear(gpumem_tlsf *t)
{
    t->spare_used = NIL;
    t->spare_free = NIL;
    for (uint32_t i = t->block_count; i-- > 1;) {
        block *b = &t->blocks[i];
        if (b->free_prev == USED)
            retire_used(t, i, b->free_next + 1u);
        else if (b->free_prev == SPARE_USED)
            retire_used(t, i, (uint32_t)b->offset);
        else
            retire_free(t, i);
    }
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
    const block *last = &t->blocks[t->blocks[NIL].phys_prev];
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
    for (uint32_t i = t->blocks[NIL].phys_next; i != NIL; i = t->blocks[i].phys_next) {
        const block *b = &t->blocks[i];
        int used = b->free_prev == USED;
        uint64_t handle = used ? ((uint64_t)b->free_next << 32) | i : 0;
        visit(user, handle, b->offset, b->size, used);
    }
}
