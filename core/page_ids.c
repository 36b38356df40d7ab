#include "page_ids.h"

#include "alloc.h"

void gpumem_page_ids_init(gpumem_page_ids *ids, int unshared)
{
    *ids = (gpumem_page_ids){0};
    gpumem_lock_init(&ids->lock, unshared);
}

void gpumem_page_ids_destroy(gpumem_page_ids *ids)
{
    gpumem_free(ids->free); /* the set goes with its pool's record */
}

int gpumem_page_ids_take(gpumem_page_ids *ids, uint32_t *id)
{
    gpumem_lock_acquire(&ids->lock);
    if (ids->free_count) {
        *id = ids->free[--ids->free_count];
        gpumem_lock_release(&ids->lock);
        return 1;
    }
    if (ids->next == ids->free_capacity) {
        uint32_t capacity = ids->free_capacity ? 2 * ids->free_capacity : 16;
        uint32_t *grown = gpumem_realloc(ids->free, (size_t)capacity * sizeof *grown);
        if (!grown) {
            gpumem_lock_release(&ids->lock);
            return 0;
        }
        ids->free = grown;
        ids->free_capacity = capacity;
    }
    *id = ids->next++;
    gpumem_lock_release(&ids->lock);
    return 1;
}

void gpumem_page_ids_give(gpumem_page_ids *ids, uint32_t id)
{
    gpumem_lock_acquire(&ids->lock);
    ids->free[ids->free_count++] = id; /* room made when the id was first taken */
    gpumem_lock_release(&ids->lock);
}
