/* The text summary of a device's memory (gpumem_device_summary), for people: what a pool holds
 * and how scattered its free room is, as vmaBuildStatsString does for VMA. The numbers are the
 * pools' own (the same as gpumem_pool_stats_get), with destroyed buffers' ranges given back. */
#include <inttypes.h>
#include <stdio.h>

#include "call.h"
#include "json.h"
#include "pool.h"

/* "512 B", "64.0 KiB", "1.50 GiB": binary units. */
static const char *human(uint64_t bytes, char *out, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = (double)bytes;
    int unit = 0;
    while (value >= 1024.0 && unit < 4) {
        value /= 1024.0;
        unit++;
    }
    if (unit == 0)
        snprintf(out, size, "%" PRIu64 " B", bytes);
    else
        snprintf(out, size, "%.*f %s", value < 10.0 ? 2 : 1, value, units[unit]);
    return out;
}

typedef struct totals {
    uint64_t pools, pages, dedicated, reserved, used, allocations, free;
} totals;

/* 1 - largest free range / free bytes, in percent: 0 when all free room is one range. */
static double fragmentation(uint64_t free_bytes, uint64_t largest)
{
    return free_bytes ? 100.0 * (1.0 - (double)largest / (double)free_bytes) : 0.0;
}

static void summarize_pool(gpumem_json *t, gpumem_pool_obj *pool, totals *all)
{
    char a[32], b[32], c[32], d[32];
    totals one = {.pools = 1};
    uint64_t largest = 0;
    gpumem_pool_lock_arenas_reclaimed(pool); /* the pages as the application's destroys left them */
    GPUMEM_POOL_FOR_EACH_ARENA(arena, pool) {
        /* The pool's pages as the stats count them: the application's memory, and a native
         * pool's allocations (the runtime's, each one buffer's), are not among them. */
        one.pages += arena->page_count;
        for (const gpumem_list *n = arena->pages.next;
             pool->kind == GPUMEM_POOL_PAGED && n != &arena->pages; n = n->next) {
            const gpumem_page *page = GPUMEM_CONTAINER_OF(n, gpumem_page, link);
            one.dedicated += page->dedicated && !page->imported;
        }
        uint64_t free_bytes, arena_largest;
        gpumem_pool_free_room(arena, &free_bytes, &arena_largest);
        one.free += free_bytes;
        largest = arena_largest > largest ? arena_largest : largest;
        one.reserved += arena->reserved_bytes;
        one.used += arena->used_bytes;
        one.allocations += arena->allocation_count;
    }
    gpumem_pool_unlock_arenas(pool);
    if (pool->kind == GPUMEM_POOL_NATIVE)
        gpumem_json_append(t, "pool '%s' (native, memory type %u", pool->name, pool->memory_type);
    else
        gpumem_json_append(t, "pool '%s' (paged, memory type %u, pages of %s", pool->name,
                           pool->memory_type, human(pool->page_size, a, sizeof a));
    if (pool->arena_count > 1)
        gpumem_json_append(t, ", %u arenas", pool->arena_count);
    gpumem_json_append(t, ")\n");
    gpumem_json_append(t,
                       "  %" PRIu64 " pages (%" PRIu64 " of their own), reserved %s, used %s in "
                       "%" PRIu64 " allocations\n",
                       one.pages, one.dedicated, human(one.reserved, a, sizeof a),
                       human(one.used, b, sizeof b), one.allocations);
    gpumem_json_append(t, "  free %s in shared pages, largest free range %s, fragmentation %.1f%%\n",
                       human(one.free, c, sizeof c), human(largest, d, sizeof d),
                       fragmentation(one.free, largest));
    all->pools += one.pools;
    all->pages += one.pages;
    all->dedicated += one.dedicated;
    all->reserved += one.reserved;
    all->used += one.used;
    all->allocations += one.allocations;
    all->free += one.free;
}

static gpumem_result device_summary(gpumem_device handle, char *buffer, uint64_t capacity,
                                    uint64_t *length)
{
    gpumem_device_obj *device;
    gpumem_result r = gpumem_device_get(handle, &device);
    if (r == GPUMEM_OK)
        r = gpumem_json_check_out("buffer", buffer, capacity, length);
    if (r != GPUMEM_OK)
        return r;
    const gpumem_device_properties *p = &device->properties;
    gpumem_json t = {0};
    totals all = {0};
    gpumem_json_append(&t, "device '%s' (%s, device %u%s)\n", p->name, p->backend,
                       p->device_index, p->is_external ? ", the application's" : "");
    pthread_mutex_lock(&device->lock);
    for (gpumem_list *l = device->pools.next; l != &device->pools; l = l->next)
        summarize_pool(&t, GPUMEM_CONTAINER_OF(l, gpumem_pool_obj, link), &all);
    pthread_mutex_unlock(&device->lock);
    char a[32], b[32], c[32];
    gpumem_json_append(&t,
                       "total: %" PRIu64 " pools, %" PRIu64 " pages (%" PRIu64 " of their own), "
                       "reserved %s, used %s in %" PRIu64 " allocations, free %s\n",
                       all.pools, all.pages, all.dedicated, human(all.reserved, a, sizeof a),
                       human(all.used, b, sizeof b), all.allocations, human(all.free, c, sizeof c));
    return gpumem_json_hand_out(&t, buffer, capacity, length, "summary");
}

gpumem_result gpumem_device_summary(gpumem_device device, char *buffer, uint64_t capacity,
                                    uint64_t *length)
{
    GPUMEM_LOGGED_CALL(device_summary(device, buffer, capacity, length),
                       "device %#llx, buffer %p, capacity %llu" GPUMEM_LOG_OUTPUTS "length %llu",
                       GPUMEM_LOG_HANDLE(device), (void *)buffer, (unsigned long long)(capacity),
                       GPUMEM_LOG_OUT(length));
}
