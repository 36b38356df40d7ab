/* A pool's shared pages in the order they were made, each with its room: a bound on the largest
 * request its suballocator may take (pool.h says how a pool keeps it). The oldest page whose
 * room reaches a request is found in O(log pages), where walking the pages' list cost a create
 * about 2.4 ns a page (at 3,134 pages, 8.5 us a pair that missed the reuse cache;
 * docs/performance.md, "Thirty-sixth session").
 *
 * A tree of maxima over slots: slots are handed out in order, so the leftmost slot is the oldest
 * page. A page that goes leaves a hole; when the slots run out, the index is compacted (the
 * pages keep their order) or, at least half full, doubled. The entries live inside the pages
 * (no allocation but the tree's). Not thread-safe: the pool's lock guards a pool's index. */
#ifndef GPUMEM_CORE_PAGE_INDEX_H
#define GPUMEM_CORE_PAGE_INDEX_H

#include <stdint.h>

#include "gpumem/gpumem.h"

typedef struct gpumem_page_index_entry {
    uint64_t room; /* as in the tree, read in the page's own cache line */
    uint32_t slot; /* set by the index */
} gpumem_page_index_entry;

typedef struct gpumem_page_index {
    gpumem_page_index_entry **entries; /* by slot, oldest first; NULL where a page has gone */
    /* 2 * capacity: room[capacity + slot] is a slot's room (0 for a hole), room[n] the larger
     * of room[2n] and room[2n + 1]. */
    uint64_t *room;
    uint32_t capacity; /* slots: a power of two, or 0 */
    uint32_t used;     /* slots handed out since the index was last compacted */
    uint32_t count;    /* entries */
} gpumem_page_index;

/* Adds `entry` as the newest, with `room`. GPUMEM_ERROR_OUT_OF_HOST_MEMORY (the index
 * unchanged) when it must grow and cannot. */
gpumem_result gpumem_page_index_add(gpumem_page_index *index, gpumem_page_index_entry *entry,
                                    uint64_t room);
void gpumem_page_index_remove(gpumem_page_index *index, gpumem_page_index_entry *entry);
void gpumem_page_index_set_room(gpumem_page_index *index, gpumem_page_index_entry *entry,
                                uint64_t room);
/* The oldest entry newer than `after` (NULL: the oldest of all) whose room is at least `need`
 * (> 0), or NULL. */
gpumem_page_index_entry *gpumem_page_index_find(const gpumem_page_index *index, uint64_t need,
                                                const gpumem_page_index_entry *after);
void gpumem_page_index_free(gpumem_page_index *index);

static inline uint64_t gpumem_page_index_room(const gpumem_page_index_entry *entry)
{
    return entry->room;
}

#endif
