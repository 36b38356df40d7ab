/* Page ids: the numbers a pool's pages show in buffer info, logs and dumps. Unique among the
 * live pages of a pool (across its arenas, as dumps show them together); a freed page's id goes
 * to a later page, so the ids stay below the most pages the pool ever held at once and never
 * wrap around, however many pages a long-running program makes and frees (a native pool makes
 * one for every buffer). A lock of its own guards the set, taken inside an arena's lock (or
 * all of them) and nothing else inside it. */
#ifndef GPUMEM_CORE_PAGE_IDS_H
#define GPUMEM_CORE_PAGE_IDS_H

#include <stdint.h>

#include "lock.h"

typedef struct gpumem_page_ids {
    gpumem_lock lock;
    uint32_t next;     /* the lowest id never given out */
    /* Ids given back, taken again last in, first out. Room for every id given out is made when
     * it is first given, so that giving one back (a page's free) never allocates nor fails. */
    uint32_t *free;
    uint32_t free_count;
    uint32_t free_capacity;
} gpumem_page_ids;

/* unshared: as gpumem_lock_init's (an externally synchronized device). */
void gpumem_page_ids_init(gpumem_page_ids *ids, int unshared);
void gpumem_page_ids_destroy(gpumem_page_ids *ids);
/* An id no live page of the set has, in *id: 1, or 0 where there is no host memory for the
 * room to give it back (nothing taken then). */
int gpumem_page_ids_take(gpumem_page_ids *ids, uint32_t *id);
/* Gives a freed page's id back. */
void gpumem_page_ids_give(gpumem_page_ids *ids, uint32_t id);

#endif
