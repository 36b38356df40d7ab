/* The pool's index of pages by age and room (core/page_index.c): random adds, removes, room
 * changes and finds against a model (a list in the order of the adds), through growth and
 * compaction; the slots keep the order of the adds, and each leaf of the tree is its page's
 * room; an add that cannot grow changes nothing. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "alloc.h"
#include "page_index.h"
#include "sanitized.h"

#define PAGES 3000

typedef struct model_page {
    gpumem_page_index_entry entry;
    uint64_t room;
    uint32_t order; /* of its add: ever larger */
    int in;
} model_page;

static model_page pages[PAGES];
static uint32_t adds;

static uint64_t next_random(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state >> 33;
}

/* A random value below `bound` + 1 over all 64 bits. */
static uint64_t random_upto(uint64_t *state, uint64_t bound)
{
    uint64_t wide = next_random(state) << 33 ^ next_random(state) << 2 ^ next_random(state);
    return bound == UINT64_MAX ? wide : wide % (bound + 1);
}

/* The oldest page in the index added after `after` (NULL: any) with room >= need. */
static model_page *model_find(uint64_t need, const model_page *after)
{
    model_page *found = NULL;
    for (int i = 0; i < PAGES; i++)
        if (pages[i].in && pages[i].room >= need && (!after || pages[i].order > after->order) &&
            (!found || pages[i].order < found->order))
            found = &pages[i];
    return found;
}

/* Every page's room as set, slots in the order of the adds, and the count. */
static void check(const gpumem_page_index *index)
{
    uint32_t count = 0;
    const model_page *previous = NULL;
    for (uint32_t slot = 0; slot < index->used; slot++) {
        const gpumem_page_index_entry *entry = index->entries[slot];
        if (!entry)
            continue;
        const model_page *p = (const model_page *)entry;
        cr_assert(p->in, "slot %u holds a page that was removed", slot);
        cr_assert_eq(entry->slot, slot);
        cr_assert_eq(gpumem_page_index_room(entry), p->room);
        cr_assert_eq(index->room[index->capacity + slot], p->room);
        cr_assert(!previous || previous->order < p->order, "slot %u is out of order", slot);
        previous = p;
        count++;
    }
    cr_assert_eq(count, index->count);
}

static void find_all_ways(const gpumem_page_index *index, uint64_t *state, uint64_t largest)
{
    for (int k = 0; k < 8; k++) {
        uint64_t need = 1 + random_upto(state, largest);
        model_page *after = NULL;
        if (next_random(state) % 2) {
            model_page *p = &pages[next_random(state) % PAGES];
            after = p->in ? p : NULL;
        }
        gpumem_page_index_entry *found =
            gpumem_page_index_find(index, need, after ? &after->entry : NULL);
        model_page *expected = model_find(need, after);
        cr_assert_eq((model_page *)found, expected,
                     "need %llu after %d: found page %ld, expected %ld",
                     (unsigned long long)need, after ? (int)(after - pages) : -1,
                     found ? (long)((model_page *)found - pages) : -1L,
                     expected ? (long)(expected - pages) : -1L);
    }
}

/* Phases of 4,096 steps take turns: in one, a page not in the index is mostly added and one in
 * it mostly kept (its room changed); in the next, pages are mostly removed. So the index grows,
 * then empties to a few pages while slots run out, and compacts. */
static void random_operations(uint64_t seed, uint64_t largest, int steps)
{
    gpumem_page_index index = {0};
    for (int i = 0; i < PAGES; i++)
        pages[i] = (model_page){0};
    uint64_t state = seed;
    uint32_t compactions = 0;
    for (int step = 0; step < steps; step++) {
        int emptying = (step / 4096) % 2;
        model_page *p = &pages[next_random(&state) % PAGES];
        uint64_t room = random_upto(&state, largest);
        int what = (int)(next_random(&state) % 8);
        if (!p->in && (!emptying || what == 0)) {
            uint32_t used = index.used, capacity = index.capacity;
            cr_assert_eq(gpumem_page_index_add(&index, &p->entry, room), GPUMEM_OK);
            compactions += index.capacity == capacity && index.used != used + 1;
            p->in = 1;
            p->room = room;
            p->order = ++adds;
        } else if (!p->in) {
            continue;
        } else if (emptying ? what != 0 : what < 2) {
            gpumem_page_index_remove(&index, &p->entry);
            p->in = 0;
        } else {
            gpumem_page_index_set_room(&index, &p->entry, room);
            p->room = room;
        }
        find_all_ways(&index, &state, largest);
        if (step % 97 == 0)
            check(&index);
    }
    check(&index);
    cr_assert_gt(compactions, 0u, "seed %llu: the index never compacted",
                 (unsigned long long)seed);
    gpumem_page_index_free(&index);
}

Test(page_index, random_operations_against_a_model)
{
    for (uint64_t seed = 1; seed <= 6; seed++)
        random_operations(seed, seed % 2 ? 8 : UINT64_MAX / 2, TEST_SANITIZED_STEPS(40000));
}

/* Pages that come and go one by one, as a pool's do: at most a few in the index at once, so
 * that it compacts again and again instead of growing. */
Test(page_index, compacts_instead_of_growing_while_pages_come_and_go)
{
    gpumem_page_index index = {0};
    for (int i = 0; i < PAGES; i++)
        pages[i] = (model_page){0};
    for (int i = 0; i < PAGES; i++) {
        cr_assert_eq(gpumem_page_index_add(&index, &pages[i].entry, (uint64_t)i + 1), GPUMEM_OK);
        pages[i].in = 1;
        pages[i].room = (uint64_t)i + 1;
        pages[i].order = ++adds;
        if (i >= 3) {
            gpumem_page_index_remove(&index, &pages[i - 3].entry);
            pages[i - 3].in = 0;
        }
        cr_assert_eq(gpumem_page_index_find(&index, 1, NULL), &pages[i < 3 ? 0 : i - 2].entry);
    }
    cr_assert_leq(index.capacity, 8u, "the index grew to %u slots for 3 pages", index.capacity);
    check(&index);
    gpumem_page_index_free(&index);
}

Test(page_index, an_add_that_cannot_grow_changes_nothing)
{
    gpumem_page_index index = {0};
    for (int i = 0; i < PAGES; i++)
        pages[i] = (model_page){0};
    int i = 0;
    for (; index.used < index.capacity || i == 0; i++) {
        cr_assert_eq(gpumem_page_index_add(&index, &pages[i].entry, 100 + (uint64_t)i),
                     GPUMEM_OK);
        pages[i] = (model_page){.entry = pages[i].entry, .room = 100 + (uint64_t)i,
                                .order = ++adds, .in = 1};
    }
    uint32_t capacity = index.capacity;
    gpumem_alloc_fail_at(1, 1);
    gpumem_result r = gpumem_page_index_add(&index, &pages[i].entry, 5);
    gpumem_alloc_fail_at(0, 0);
    cr_assert_eq(r, GPUMEM_ERROR_OUT_OF_HOST_MEMORY);
    cr_assert_eq(index.capacity, capacity);
    check(&index);
    cr_assert_eq(gpumem_page_index_find(&index, 100 + (uint64_t)i - 1, NULL),
                 &pages[i - 1].entry);
    gpumem_page_index_free(&index);
}
