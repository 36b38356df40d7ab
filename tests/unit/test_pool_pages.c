/* A paged pool's page index against its pages, through random creates (plain, on a stream,
 * aligned, dedicated, imports, with host allocations made to fail), destroys and trims: every
 * shared page has an entry, in the order the pages were made, and its room is at least its
 * largest free range; a create that needs no alignment and fits a page's largest free range
 * never makes a new page. A room below the largest free range would send creates to new pages
 * for room the pool has. (The index alone: test_page_index.c.) */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "alloc.h"
#include "buffer.h"
#include "gpumem/gpumem.h"
#include "pool.h"
#include "tlsf.h"

#define LIVE 600
#define IMPORT_SIZE 65536

static uint64_t next_random(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state >> 33;
}

/* One arena's index against its shared pages (its lock held); the largest free range of any of
 * them, and how many pages it has, in `largest` and `pages`. */
static void check_arena(gpumem_pool_obj *arena, const char *when, uint64_t *largest,
                        uint64_t *pages)
{
    const gpumem_page_index *index = &arena->page_index;
    uint32_t shared = 0, last_slot = 0;
    for (gpumem_list *node = arena->pages.next; node != &arena->pages; node = node->next) {
        gpumem_page *page = GPUMEM_CONTAINER_OF(node, gpumem_page, link);
        (*pages)++;
        if (!page->tlsf)
            continue;
        const gpumem_page_index_entry *entry = &page->index_entry;
        cr_assert(entry->slot < index->used && index->entries[entry->slot] == entry,
                  "%s: page %u has no entry of its own", when, page->id);
        cr_assert(shared == 0 || entry->slot > last_slot,
                  "%s: page %u's slot is out of the order the pages were made", when, page->id);
        last_slot = entry->slot;
        shared++;
        gpumem_tlsf_stats stats;
        gpumem_tlsf_stats_get(page->tlsf, &stats);
        cr_assert_geq(gpumem_page_index_room(entry), stats.largest_free_range,
                      "%s: page %u's room %llu is below its largest free range %llu", when,
                      page->id, (unsigned long long)gpumem_page_index_room(entry),
                      (unsigned long long)stats.largest_free_range);
        if (stats.largest_free_range > *largest)
            *largest = stats.largest_free_range;
    }
    cr_assert_eq(index->count, shared, "%s: %u entries for %u shared pages", when, index->count,
                 shared);
}

/* Every arena's index; the largest free range of all shared pages and the pages there are. */
static uint64_t check_pool(gpumem_pool pool, const char *when, uint64_t *pages)
{
    gpumem_pool_obj *p;
    cr_assert_eq(gpumem_pool_get(pool, &p), GPUMEM_OK);
    uint64_t largest = 0;
    *pages = 0;
    gpumem_pool_lock_arenas(p);
    GPUMEM_POOL_FOR_EACH_ARENA(arena, p)
        check_arena(arena, when, &largest, pages);
    gpumem_pool_unlock_arenas(p);
    return largest;
}

static void random_pool_operations(uint64_t seed, uint64_t page_size, int steps)
{
    uint64_t state = seed;
    gpumem_device device;
    gpumem_device_desc device_desc = {.backend = "host"};
    cr_assert_eq(gpumem_device_open(&device_desc, &device), GPUMEM_OK, "%s", gpumem_last_error());
    gpumem_stream stream;
    cr_assert_eq(gpumem_stream_create(device, &stream), GPUMEM_OK);
    gpumem_pool_desc desc = {.page_size = page_size,
                             .max_empty_pages = (uint32_t)(next_random(&state) % 3)};
    gpumem_pool pool;
    cr_assert_eq(gpumem_pool_create(device, &desc, &pool), GPUMEM_OK, "%s", gpumem_last_error());
    uint64_t unit = 0;
    {
        gpumem_device_properties properties;
        cr_assert_eq(gpumem_device_properties_get(device, &properties), GPUMEM_OK);
        unit = properties.min_alignment;
    }
    static gpumem_buffer live[LIVE];
    static void *imported[LIVE];
    uint64_t pages = 0, new_pages_with_room = 0;
    for (int step = 0; step < steps; step++) {
        uint32_t k = (uint32_t)(next_random(&state) % LIVE);
        uint32_t what = (uint32_t)(next_random(&state) % 100);
        if (live[k]) {
            cr_assert_eq(what < 30 ? gpumem_buffer_destroy_on_stream(live[k], stream)
                                   : gpumem_buffer_destroy(live[k]),
                         GPUMEM_OK, "%s", gpumem_last_error());
            live[k] = NULL;
            free(imported[k]);
            imported[k] = NULL;
        } else if (what < 2) {
            imported[k] = aligned_alloc(4096, IMPORT_SIZE);
            gpumem_import_desc import = {.address = (uint64_t)(uintptr_t)imported[k],
                                         .size = IMPORT_SIZE};
            cr_assert_eq(gpumem_buffer_import(pool, &import, &live[k]), GPUMEM_OK, "%s",
                         gpumem_last_error());
        } else {
            uint32_t kind = (uint32_t)(next_random(&state) % 10);
            uint64_t limit = kind < 7 ? 65536 : kind < 9 ? page_size / 16 : page_size * 2 / 3;
            gpumem_buffer_desc buffer = {.size = 1 + next_random(&state) % limit};
            if (next_random(&state) % 10 == 0)
                buffer.alignment = 1ull << (6 + next_random(&state) % 17); /* up to 4 MiB */
            if (next_random(&state) % 50 == 0)
                buffer.flags = GPUMEM_BUFFER_DEDICATED;
            uint64_t before;
            uint64_t largest = check_pool(pool, "before a create", &before);
            int inject = what < 4;
            if (inject)
                gpumem_alloc_fail_at(1 + next_random(&state) % 4, 0);
            gpumem_result r = what < 20
                                  ? gpumem_buffer_create_on_stream(pool, &buffer, stream, &live[k])
                                  : gpumem_buffer_create(pool, &buffer, &live[k]);
            if (inject)
                gpumem_alloc_fail_at(0, 0);
            cr_assert(r == GPUMEM_OK || (inject && r == GPUMEM_ERROR_OUT_OF_HOST_MEMORY),
                      "step %d: %s", step, gpumem_last_error());
            if (r != GPUMEM_OK) {
                live[k] = NULL;
                check_pool(pool, "after a failed create", &pages);
                continue;
            }
            uint64_t rounded = (buffer.size + unit - 1) & ~(unit - 1);
            check_pool(pool, "after a create", &pages);
            if (pages > before && !buffer.flags && buffer.alignment <= unit &&
                rounded <= page_size / 2 && largest >= rounded)
                new_pages_with_room++;
        }
        if (what == 99 && next_random(&state) % 8 == 0)
            cr_assert_eq(gpumem_pool_trim(pool), GPUMEM_OK);
    }
    cr_expect_eq(new_pages_with_room, 0,
                 "seed %llu: %llu creates made a new page while a page had room for them",
                 (unsigned long long)seed, (unsigned long long)new_pages_with_room);
    for (uint32_t k = 0; k < LIVE; k++) {
        if (live[k])
            cr_assert_eq(gpumem_buffer_destroy(live[k]), GPUMEM_OK);
        live[k] = NULL;
    }
    check_pool(pool, "all destroyed", &pages);
    cr_assert_eq(gpumem_pool_trim(pool), GPUMEM_OK);
    check_pool(pool, "trimmed", &pages);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    for (uint32_t k = 0; k < LIVE; k++) {
        free(imported[k]);
        imported[k] = NULL;
    }
}

Test(pool_pages, the_index_follows_the_pages_through_random_operations, .timeout = 240)
{
    for (uint64_t seed = 1; seed <= 6; seed++)
        random_pool_operations(seed, (seed % 2 ? 4ull : 8ull) << 20, 40000);
}
