/* Reclaims of destroyed buffers while another thread is in the middle of a call (white-box,
 * through core's objects; linked with core and the built-in backends). A buffer is freed once no
 * call in progress can reach it: one that began after the buffer's destroy cannot find it, and
 * one that began before the buffer was made cannot either, since lookups refuse a buffer born
 * after the looking call began (gpumem_handle_get_born). So a thread stopped inside a call (out
 * of its core for a time slice) holds back only buffers older than its call, and churn goes on
 * being freed. */
#include <criterion/criterion.h>
#include <printf.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "call.h"
#include "device.h"
#include "gpumem/backend.h"
#include "gpumem/gpumem.h"
#include "pool.h"
#include "stream.h"
#include "thread.h"

const gpumem_backend_vtable *gpumem_host_backend(void); /* the built-in host backend */

static gpumem_device open_host(void)
{
    gpumem_device device;
    gpumem_device_desc desc = {.backend = "host"};
    cr_assert_eq(gpumem_device_open(&desc, &device), GPUMEM_OK, "%s", gpumem_last_error());
    return device;
}

static gpumem_buffer make(gpumem_pool pool, uint64_t size)
{
    gpumem_buffer b;
    gpumem_buffer_desc desc = {.size = size};
    cr_assert_eq(gpumem_buffer_create(pool, &desc, &b), GPUMEM_OK, "%s", gpumem_last_error());
    return b;
}

/* A count of the pool's (a uint32_t field of its record at `offset`), read under its lock. */
static uint32_t locked_count(gpumem_pool pool, size_t offset)
{
    gpumem_pool_obj *p;
    cr_assert_eq(gpumem_pool_get(pool, &p), GPUMEM_OK);
    gpumem_pool_lock(p);
    uint32_t n = *(const uint32_t *)((const char *)p + offset);
    gpumem_pool_unlock(p);
    return n;
}

/* Retired buffers of the pool's first arena, and of them those with pages of their own that a
 * reclaim found held by calls. */
#define retired_count(pool) locked_count(pool, offsetof(gpumem_pool_obj, retired_count))
#define held_pages(pool) locked_count(pool, offsetof(gpumem_pool_obj, held_pages))

/* Retired buffers of every arena of `pool`. */
static uint32_t retired_in_arenas(gpumem_pool pool)
{
    gpumem_pool_obj *p;
    cr_assert_eq(gpumem_pool_get(pool, &p), GPUMEM_OK);
    uint32_t n = 0;
    gpumem_pool_lock_arenas(p);
    GPUMEM_POOL_FOR_EACH_ARENA(arena, p)
        n += arena->retired_count;
    gpumem_pool_unlock_arenas(p);
    return n;
}

/* Whether the buffer of `handle` is on `list`. */
static int listed(const gpumem_list *list, gpumem_buffer handle)
{
    for (const gpumem_list *node = list->next; node != list; node = node->next)
        if (GPUMEM_CONTAINER_OF(node, gpumem_buffer_obj, link)->handle == GPUMEM_HANDLE_OF(handle))
            return 1;
    return 0;
}

/* Whether the buffer of `handle` is still retired in `pool` (not freed, nor kept and made
 * again: a record made again has another handle), found held by a call or not yet. */
static int still_retired(gpumem_pool pool, gpumem_buffer handle)
{
    gpumem_pool_obj *p;
    if (gpumem_pool_get(pool, &p) != GPUMEM_OK)
        return 0;
    gpumem_pool_lock(p);
    int found = listed(&p->retired, handle) || listed(&p->held, handle);
    gpumem_pool_unlock(p);
    return found;
}

/* --- a thread parked in the middle of a call --- */

typedef struct parked {
    pthread_t thread;
    /* 0 starting, 1 in its call, 2 asked to leave, 3 left (and, lingering, alive until 4) */
    _Atomic int state;
    int linger; /* stays alive (its epoch record registered) after its call, until unpark */
    _Atomic int asked; /* run `inside` now (then back to 0) */
    void (*inside)(struct parked *);
    void *arg;
    uint64_t epoch; /* its call's */
} parked;

static void *park_main(void *arg)
{
    parked *p = arg;
    gpumem_call call;
    if (gpumem_call_enter(&call, "parked") != GPUMEM_OK) {
        atomic_store(&p->state, 3);
        return NULL;
    }
    p->epoch = atomic_load(&call.thread->record->epoch);
    atomic_store(&p->state, 1);
    while (atomic_load(&p->state) == 1) {
        if (atomic_load(&p->asked)) {
            p->inside(p);
            atomic_store(&p->asked, 0);
        }
        sched_yield();
    }
    gpumem_call_leave(&call, GPUMEM_OK);
    atomic_store(&p->state, 3);
    while (p->linger && atomic_load(&p->state) != 4)
        sched_yield();
    return NULL;
}

static void park(parked *p)
{
    cr_assert_eq(pthread_create(&p->thread, NULL, park_main, p), 0);
    while (atomic_load(&p->state) == 0)
        sched_yield();
    cr_assert_eq(atomic_load(&p->state), 1, "the parked thread could not enter a call");
}

static void run_inside(parked *p)
{
    atomic_store(&p->asked, 1);
    while (atomic_load(&p->asked))
        sched_yield();
}

/* Ends the parked call; a lingering thread stays alive until unpark. */
static void leave_call(parked *p)
{
    atomic_store(&p->state, 2);
    while (atomic_load(&p->state) != 3)
        sched_yield();
}

static void unpark(parked *p)
{
    if (atomic_load(&p->state) != 3)
        leave_call(p);
    atomic_store(&p->state, 4);
    pthread_join(p->thread, NULL);
}

/* Lets the parked call end; then a trim frees every retired buffer, and the device closes. */
static void unpark_and_close(parked *p, gpumem_pool pool, gpumem_device device)
{
    unpark(p);
    cr_assert_eq(gpumem_pool_trim(pool), GPUMEM_OK);
    cr_expect_eq(retired_in_arenas(pool), 0u, "retired buffers outlived the parked call");
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

/* unit-reclaim-fenced runs this program with GPUMEM_MEMBARRIER=0: every call fences, as on a
 * kernel without membarrier(2), and the reclaims' barriers only fence themselves. */
Test(reclaim, gpumem_membarrier_0_has_every_call_fence)
{
    gpumem_device device = open_host();
    gpumem_pool pool; /* the first call that uses objects: the epochs' setup runs */
    cr_assert_eq(gpumem_pool_create(device, NULL, &pool), GPUMEM_OK);
    const char *value = getenv("GPUMEM_MEMBARRIER");
    int fences = gpumem_epoch_readers_fence;
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    if (!value || strcmp(value, "0") != 0)
        cr_skip_test("GPUMEM_MEMBARRIER is not 0 in this run (unit-reclaim-fenced sets it)");
    cr_expect(fences, "GPUMEM_MEMBARRIER=0 left calls without their fences");
}

/* --- buffers born after a parked call are freed; older ones wait for it --- */

Test(reclaim, buffers_born_after_a_parked_call_are_freed_and_older_ones_wait)
{
    gpumem_device device = open_host();
    gpumem_pool pool;
    cr_assert_eq(gpumem_pool_create(device, NULL, &pool), GPUMEM_OK);
    gpumem_buffer old = make(pool, 4096);

    parked p = {0};
    park(&p);
    cr_assert_eq(gpumem_buffer_destroy(old), GPUMEM_OK); /* born before the parked call */
    const int pairs = 20000;
    for (int i = 0; i < pairs; i++)
        cr_assert_eq(gpumem_buffer_destroy(make(pool, 256 + (uint64_t)(i % 61) * 64)),
                     GPUMEM_OK);
    uint32_t held = retired_count(pool);
    /* Batches of 512 with two threads (GPUMEM_POOL_RETIRE_BATCH_SHARED each); the first
     * batch's buffers were born in the parked call's epoch and wait too. */
    cr_expect_leq(held, 4u * GPUMEM_POOL_RETIRE_BATCH_SHARED * 2,
                  "%u of %d destroyed buffers wait for a call that began before they were made",
                  held, pairs);
    cr_expect(still_retired(pool, old),
              "a buffer made before the parked call began was freed under it");

    unpark_and_close(&p, pool, device);
}

/* --- reclaims under the pool's lock (a create short of room, a trim, the statistics) free young
 * buffers too ---
 *
 * A destroy that is not yet due for a batch leaves its buffer retired. The reclaims a create
 * short of room, a trim or the statistics make must free it as a batch would, although an older
 * call is in progress: else the create fails for want of room that is free in all but name. */

/* Moves the epoch past the parked call's, so that what is made next is younger than it. */
static void epoch_past(gpumem_pool pool, const parked *p)
{
    cr_assert_eq(gpumem_pool_trim(pool), GPUMEM_OK);
    gpumem_buffer probe = make(pool, 256);
    gpumem_buffer_obj *b;
    cr_assert_eq(gpumem_buffer_get(probe, &b, NULL), GPUMEM_OK);
    cr_assert_gt(b->born_at, p->epoch, "the epoch did not move past the parked call's");
    cr_assert_eq(gpumem_buffer_destroy(probe), GPUMEM_OK);
}

Test(reclaim, a_create_short_of_room_frees_young_buffers_while_an_older_call_runs)
{
    gpumem_device device = open_host();
    const uint64_t kib = 1024;
    gpumem_pool pool;
    gpumem_pool_desc desc = {.page_size = 1024 * kib, .byte_limit = 1024 * kib};
    cr_assert_eq(gpumem_pool_create(device, &desc, &pool), GPUMEM_OK, "%s", gpumem_last_error());
    parked p = {0};
    park(&p);
    epoch_past(pool, &p);
    gpumem_buffer live[7];
    for (int i = 0; i < 7; i++)
        live[i] = make(pool, 128 * kib); /* 896 KiB of the page's 1,024 */
    /* Each round's buffer takes most of what is left; its destroy is not due for a batch. */
    for (int round = 0; round < 50; round++) {
        gpumem_buffer young;
        gpumem_buffer_desc bd = {.size = (100 + (uint64_t)(round % 3)) * kib};
        cr_assert_eq(gpumem_buffer_create(pool, &bd, &young), GPUMEM_OK,
                     "round %d: %s (the room of a buffer destroyed before, younger than the "
                     "parked call, was not given back)", round, gpumem_last_error());
        cr_assert_eq(gpumem_buffer_destroy(young), GPUMEM_OK);
    }
    unpark(&p);
    for (int i = 0; i < 7; i++)
        cr_assert_eq(gpumem_buffer_destroy(live[i]), GPUMEM_OK);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

/* A buffer made by another thread, in its own arena of the pool. */
static void *make_and_destroy_elsewhere(void *arg)
{
    gpumem_pool pool = *(gpumem_pool *)arg;
    gpumem_buffer_desc desc = {.size = 4096};
    for (int i = 0; i < 10; i++) {
        gpumem_buffer b; /* no Criterion assertions off the test's thread */
        if (gpumem_buffer_create(pool, &desc, &b) != GPUMEM_OK ||
            gpumem_buffer_destroy(b) != GPUMEM_OK)
            return arg;
    }
    return NULL;
}

static void trims_and_statistics_free_young_buffers(uint32_t arenas, int by_trim)
{
    gpumem_device device = open_host();
    gpumem_pool pool;
    gpumem_pool_desc desc = {.arena_count = arenas};
    cr_assert_eq(gpumem_pool_create(device, &desc, &pool), GPUMEM_OK, "%s", gpumem_last_error());
    gpumem_buffer elder = make(pool, 4096);
    parked p = {0};
    park(&p);
    epoch_past(pool, &p);
    cr_assert_eq(gpumem_buffer_destroy(elder), GPUMEM_OK); /* older than the call: waits */
    for (int i = 0; i < 10; i++)
        cr_assert_eq(gpumem_buffer_destroy(make(pool, 4096)), GPUMEM_OK);
    pthread_t other;
    void *failed;
    cr_assert_eq(pthread_create(&other, NULL, make_and_destroy_elsewhere, &pool), 0);
    pthread_join(other, &failed);
    cr_assert_null(failed, "%s", gpumem_last_error());
    cr_assert_geq(retired_in_arenas(pool), 10u, "the test retired nothing");
    if (by_trim) {
        cr_assert_eq(gpumem_pool_trim(pool), GPUMEM_OK, "%s", gpumem_last_error());
    } else {
        gpumem_pool_stats stats;
        cr_assert_eq(gpumem_pool_stats_get(pool, &stats), GPUMEM_OK, "%s", gpumem_last_error());
    }
    cr_expect_eq(retired_in_arenas(pool), 1u,
                 "only the buffer older than the parked call should wait, in %u arena(s)",
                 arenas);
    cr_expect(still_retired(pool, elder), "a buffer older than the parked call was freed");
    unpark_and_close(&p, pool, device);
}

Test(reclaim, a_trim_frees_young_buffers_while_an_older_call_runs)
{
    trims_and_statistics_free_young_buffers(1, 1);
}

Test(reclaim, a_trim_frees_young_buffers_of_every_arena_while_an_older_call_runs)
{
    trims_and_statistics_free_young_buffers(2, 1);
}

Test(reclaim, statistics_free_young_buffers_of_every_arena_while_an_older_call_runs)
{
    trims_and_statistics_free_young_buffers(3, 0);
}

/* --- buffers held by calls: passed by while those calls run, freed once none reaches them ---
 *
 * Six calls parked one after another, a group of buffers made before each: group i is born
 * before call i began and after call i-1 did. All are destroyed after every call began, so
 * calls i and up reach group i, and it may go only once all of them have ended. The calls end
 * in a random order; after each, a reclaim (a trim, or a destroy's batch) must free exactly the
 * groups that no call still in progress reaches. The pool names all six calls as holding
 * buffers (four, as it once could, made every reclaim look at each held buffer while five or
 * more long calls ran: quadratic in the buffers destroyed beside them). */

enum { CALLS = 6, GROUP = 40 };

static void held_groups_go_when_no_call_reaches_them(unsigned seed, int by_batch)
{
    gpumem_device device = open_host();
    gpumem_pool pool;
    cr_assert_eq(gpumem_pool_create(device, NULL, &pool), GPUMEM_OK);
    gpumem_pool_obj *p_obj;
    cr_assert_eq(gpumem_pool_get(pool, &p_obj), GPUMEM_OK);
    static parked calls[CALLS];
    gpumem_buffer groups[CALLS][GROUP];
    for (int i = 0; i < CALLS; i++) {
        for (int j = 0; j < GROUP; j++)
            groups[i][j] = make(pool, 256 + 64 * (uint64_t)j);
        calls[i] = (parked){0};
        park(&calls[i]);
        epoch_past(pool, &calls[i]);
    }
    for (int i = 0; i < CALLS; i++)
        for (int j = 0; j < GROUP; j++)
            cr_assert_eq(gpumem_buffer_destroy(groups[i][j]), GPUMEM_OK);
    cr_assert_eq(gpumem_pool_trim(pool), GPUMEM_OK);
    gpumem_pool_lock(p_obj);
    cr_expect(!gpumem_list_empty(&p_obj->held), "no buffer was found held by a call");
    uint32_t named = p_obj->held_by_count;
    gpumem_pool_unlock(p_obj);
    cr_expect_eq(named, (uint32_t)CALLS, "the pool named %u calls holding buffers, not the %d",
                 named, CALLS);
    int ended[CALLS] = {0};
    srand(seed);
    for (int left = CALLS; left > 0; left--) {
        int k = rand() % left, i = 0;
        for (;; i++)
            if (!ended[i] && k-- == 0)
                break;
        unpark(&calls[i]);
        ended[i] = 1;
        if (by_batch) { /* young pairs until a destroy's batch has run */
            for (uint32_t n = 0; n <= 8 * GPUMEM_POOL_RETIRE_BATCH_SHARED * 2; n++)
                cr_assert_eq(gpumem_buffer_destroy(make(pool, 256)), GPUMEM_OK);
        } else {
            cr_assert_eq(gpumem_pool_trim(pool), GPUMEM_OK);
        }
        for (int g = 0; g < CALLS; g++) {
            int reached = 0; /* by a call still in progress: g's or a later one's */
            for (int c = g; c < CALLS; c++)
                reached |= !ended[c];
            for (int j = 0; j < GROUP; j++)
                cr_assert_eq(still_retired(pool, groups[g][j]), reached,
                             "seed %u, %s: after call %d ended, buffer %d of group %d is %s",
                             seed, by_batch ? "batches" : "trims", i, j, g,
                             reached ? "freed though a call reaches it"
                                     : "still retired though no call reaches it");
        }
    }
    cr_assert_eq(gpumem_pool_trim(pool), GPUMEM_OK);
    cr_expect_eq(retired_count(pool), 0u);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

Test(reclaim, held_buffers_go_by_trims_once_no_call_in_progress_reaches_them)
{
    for (unsigned seed = 1; seed <= 4; seed++)
        held_groups_go_when_no_call_reaches_them(seed, 0);
}

Test(reclaim, held_buffers_go_by_batches_once_no_call_in_progress_reaches_them)
{
    for (unsigned seed = 1; seed <= 4; seed++)
        held_groups_go_when_no_call_reaches_them(seed, 1);
}

/* A held buffer goes once the call that reached it ends, while a later call that began after
 * its destroy (so cannot reach it) runs on: the pool asks whether each call it named is still
 * among the calls in progress, not whether any later one is. */
Test(reclaim, a_held_buffer_goes_when_its_call_ends_though_a_later_call_runs)
{
    gpumem_device device = open_host();
    gpumem_pool pool;
    cr_assert_eq(gpumem_pool_create(device, NULL, &pool), GPUMEM_OK);
    gpumem_buffer elder = make(pool, 256);
    parked first = {0}, later = {0};
    park(&first);
    cr_assert_eq(gpumem_buffer_destroy(elder), GPUMEM_OK);
    cr_assert_eq(gpumem_pool_trim(pool), GPUMEM_OK);
    cr_assert(still_retired(pool, elder), "the buffer was freed under the call that reaches it");
    epoch_past(pool, &first);
    park(&later);
    cr_assert_gt(later.epoch, first.epoch);
    unpark(&first);
    cr_assert_eq(gpumem_pool_trim(pool), GPUMEM_OK);
    cr_expect(!still_retired(pool, elder),
              "a held buffer waited for a later call that began after its destroy");
    unpark_and_close(&later, pool, device);
}

/* Held buffers whose call has ended go at the next batch by the bound other threads' barriers
 * proved (here, another pool's trim), with no barrier of the batch's own: a batch that passed
 * them by would free nothing by that bound, and take a barrier to free them. */
Test(reclaim, a_batch_frees_held_buffers_by_a_bound_another_reclaim_proved)
{
    gpumem_device device = open_host();
    gpumem_pool pool, other;
    cr_assert_eq(gpumem_pool_create(device, NULL, &pool), GPUMEM_OK);
    cr_assert_eq(gpumem_pool_create(device, NULL, &other), GPUMEM_OK);
    enum { HELD = 8 };
    gpumem_buffer held[HELD];
    for (int i = 0; i < HELD; i++)
        held[i] = make(pool, 256);
    parked p = {.linger = 1};
    park(&p);
    for (int i = 0; i < HELD; i++)
        cr_assert_eq(gpumem_buffer_destroy(held[i]), GPUMEM_OK);
    cr_assert_eq(gpumem_pool_trim(pool), GPUMEM_OK); /* finds them held by the call */
    leave_call(&p);
    cr_assert_eq(gpumem_pool_trim(other), GPUMEM_OK); /* a barrier: the bound passes them */
    for (int i = 0; i < HELD; i++)
        cr_assert(still_retired(pool, held[i]), "a held buffer went before its batch");
    uint64_t before = atomic_load(&gpumem_epoch_global);
    for (uint32_t n = 0; n < 2 * GPUMEM_POOL_RETIRE_BATCH_SHARED; n++) /* two threads: a batch */
        cr_assert_eq(gpumem_buffer_destroy(make(pool, 256)), GPUMEM_OK);
    uint64_t barriers = atomic_load(&gpumem_epoch_global) - before;
    for (int i = 0; i < HELD; i++)
        cr_expect(!still_retired(pool, held[i]), "held buffer %d outlived the batch", i);
    cr_expect_eq(barriers, 0u, "the batch took %llu barriers of its own to free held buffers",
                 (unsigned long long)barriers);
    unpark(&p);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

/* A buffer with a page of its own, held by a long call, costs the creates and destroys beside it
 * no barrier each (each barrier moves the global epoch on): before, every create reclaimed
 * while any retired buffer had a page of its own, and every destroy made a batch due. */
Test(reclaim, a_large_buffer_held_by_a_call_costs_creates_and_destroys_no_barrier_each)
{
    gpumem_device device = open_host();
    gpumem_pool pool;
    gpumem_pool_desc desc = {.page_size = 1 << 20};
    cr_assert_eq(gpumem_pool_create(device, &desc, &pool), GPUMEM_OK);
    gpumem_buffer large = make(pool, 3 << 19); /* over half a page: a page of its own */
    parked p = {0};
    park(&p);
    cr_assert_eq(gpumem_buffer_destroy(large), GPUMEM_OK); /* a batch: held by the call */
    cr_assert_eq(held_pages(pool), 1u, "the large buffer was not found held by the call");
    uint64_t before = atomic_load(&gpumem_epoch_global);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(gpumem_buffer_destroy(make(pool, 4096)), GPUMEM_OK);
    uint64_t barriers = atomic_load(&gpumem_epoch_global) - before;
    cr_expect_lt(barriers, 5, "100 pairs beside a held large buffer took %llu barriers",
                 (unsigned long long)barriers);
    cr_expect(still_retired(pool, large), "the held large buffer was freed under the call");
    unpark_and_close(&p, pool, device);
}

/* Once the call that held them has ended (its thread alive, in no call, and no barrier since),
 * a held page goes back before the pool needs it: an import of the same memory does not fail on
 * overlapping it, and creates alone look at held pages now and then. */
Test(reclaim, held_pages_go_back_once_the_call_that_held_them_ends)
{
    gpumem_device device = open_host();
    gpumem_pool pool;
    gpumem_pool_desc desc = {.page_size = 1 << 20};
    cr_assert_eq(gpumem_pool_create(device, &desc, &pool), GPUMEM_OK);
    static uint8_t memory[64 << 10] __attribute__((aligned(4096)));
    gpumem_import_desc import = {.address = (uint64_t)(uintptr_t)memory, .size = sizeof memory};
    gpumem_buffer shared = make(pool, 4096); /* a shared page with room: creates need no new one */
    gpumem_buffer imported, large = make(pool, 3 << 19); /* a page of its own */
    cr_assert_eq(gpumem_buffer_import(pool, &import, &imported), GPUMEM_OK, "%s",
                 gpumem_last_error());
    parked p = {.linger = 1};
    park(&p);
    cr_assert_eq(gpumem_buffer_destroy(imported), GPUMEM_OK);
    cr_assert_eq(gpumem_buffer_destroy(large), GPUMEM_OK);
    cr_assert_eq(held_pages(pool), 2u, "the import and the large buffer were not found held");
    leave_call(&p);
    cr_expect_eq(gpumem_buffer_import(pool, &import, &imported), GPUMEM_OK,
                 "importing the memory of a held import after its call ended: %s",
                 gpumem_last_error());
    cr_expect(!still_retired(pool, large), "the import's reclaim left the large buffer held");
    cr_assert_eq(gpumem_buffer_destroy(imported), GPUMEM_OK);
    /* Again, with creates only after the call ends. */
    large = make(pool, 3 << 19);
    unpark(&p);
    p = (parked){.linger = 1};
    park(&p);
    cr_assert_eq(gpumem_buffer_destroy(large), GPUMEM_OK);
    leave_call(&p);
    gpumem_buffer small[GPUMEM_POOL_HELD_PAGE_LOOKS];
    for (int i = 0; i < GPUMEM_POOL_HELD_PAGE_LOOKS; i++)
        small[i] = make(pool, 4096);
    cr_expect(!still_retired(pool, large), "%d creates after the call ended left its page held",
              GPUMEM_POOL_HELD_PAGE_LOOKS);
    for (int i = 0; i < GPUMEM_POOL_HELD_PAGE_LOOKS; i++)
        cr_assert_eq(gpumem_buffer_destroy(small[i]), GPUMEM_OK);
    cr_assert_eq(gpumem_buffer_destroy(shared), GPUMEM_OK);
    unpark(&p);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

/* --- a device that refuses pages past a budget ---
 *
 * The host backend under another name, whose page_allocate fails with
 * GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY once its pages would pass `budget_bytes` (0: no budget), as
 * a GPU whose memory is full does. */
static gpumem_backend_vtable budget_table;
static uint64_t budget_bytes, budget_used;
static struct {
    gpumem_backend_page *page;
    uint64_t size;
} budget_pages[64];

static gpumem_result budget_page_allocate(gpumem_backend_device *device, uint32_t memory_type,
                                          uint64_t size, gpumem_backend_page **page)
{
    if (budget_bytes && budget_used + size > budget_bytes)
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY,
                                    "budget: %llu bytes in use, %llu more asked, %llu in all",
                                    (unsigned long long)budget_used, (unsigned long long)size,
                                    (unsigned long long)budget_bytes);
    size_t slot = 0;
    while (slot < 64 && budget_pages[slot].page)
        slot++;
    if (slot == 64)
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "budget: 64 pages at most");
    gpumem_result r = gpumem_host_backend()->page_allocate(device, memory_type, size, page);
    if (r == GPUMEM_OK) {
        budget_pages[slot].page = *page;
        budget_pages[slot].size = size;
        budget_used += size;
    }
    return r;
}

static void budget_page_free(gpumem_backend_device *device, gpumem_backend_page *page)
{
    for (size_t slot = 0; slot < 64; slot++)
        if (budget_pages[slot].page == page) {
            budget_used -= budget_pages[slot].size;
            budget_pages[slot].page = NULL;
        }
    gpumem_host_backend()->page_free(device, page);
}

/* A device of `table`: the host backend under the name `name`, with what `change` sets,
 * registered at the first call. */
static gpumem_device open_host_as(gpumem_backend_vtable *table, const char *name,
                                  void (*change)(gpumem_backend_vtable *))
{
    if (!table->name) {
        *table = *gpumem_host_backend();
        table->name = name;
        table->priority = 0;
        change(table);
        cr_assert_eq(gpumem_backend_register(table), GPUMEM_OK, "%s", gpumem_last_error());
    }
    gpumem_device device;
    gpumem_device_desc desc = {.backend = name};
    cr_assert_eq(gpumem_device_open(&desc, &device), GPUMEM_OK, "%s", gpumem_last_error());
    return device;
}

static void with_a_budget(gpumem_backend_vtable *table)
{
    table->page_allocate = budget_page_allocate;
    table->page_free = budget_page_free;
}

static gpumem_device open_budget(void)
{
    return open_host_as(&budget_table, "reclaim-budget", with_a_budget);
}

/* A page held by a call that has ended since (its thread alive, in no call, and no barrier
 * since) is still allocated until a reclaim looks. A dedicated create that the device refuses
 * for want of that memory, or that the pool's byte limit refuses, reclaims and tries again;
 * before the create's own reclaim comes round (one create in GPUMEM_POOL_HELD_PAGE_LOOKS), it
 * would have failed. */
static void a_refused_dedicated_create_takes_back_a_held_page(int by_device)
{
    budget_bytes = 0;
    gpumem_device device = open_budget();
    gpumem_pool pool;
    gpumem_pool_desc desc = {.page_size = 1 << 20, .byte_limit = by_device ? 0 : 3u << 20};
    cr_assert_eq(gpumem_pool_create(device, &desc, &pool), GPUMEM_OK, "%s", gpumem_last_error());
    gpumem_buffer shared = make(pool, 4096);      /* a shared page of 1 MiB */
    gpumem_buffer large = make(pool, 3 << 19);    /* 1.5 MiB, a page of its own */
    if (by_device)
        budget_bytes = 3u << 20; /* room for 0.5 MiB more */
    parked p = {.linger = 1};
    park(&p);
    cr_assert_eq(gpumem_buffer_destroy(large), GPUMEM_OK);
    cr_assert_eq(held_pages(pool), 1u, "the large buffer was not found held by the call");
    leave_call(&p);
    cr_assert_neq((locked_count(pool, offsetof(gpumem_pool_obj, held_page_creates)) + 1) %
                      GPUMEM_POOL_HELD_PAGE_LOOKS,
                  0u, "the next create would reclaim anyway: the test would not test the retry");
    gpumem_buffer again = NULL;
    gpumem_buffer_desc big = {.size = 3 << 19, .flags = GPUMEM_BUFFER_DEDICATED};
    cr_expect_eq(gpumem_buffer_create(pool, &big, &again), GPUMEM_OK,
                 "a dedicated create %s refused kept the page its ended call held: %s",
                 by_device ? "the device" : "the byte limit", gpumem_last_error());
    cr_expect(!still_retired(pool, large), "the held page is still retired");
    if (again)
        cr_assert_eq(gpumem_buffer_destroy(again), GPUMEM_OK);
    cr_assert_eq(gpumem_buffer_destroy(shared), GPUMEM_OK);
    budget_bytes = 0;
    unpark(&p);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    cr_expect_eq(budget_used, 0u, "the device kept %llu bytes", (unsigned long long)budget_used);
}

Test(reclaim, a_dedicated_create_the_device_refuses_takes_back_a_page_an_ended_call_held)
{
    a_refused_dedicated_create_takes_back_a_held_page(1);
}

Test(reclaim, a_dedicated_create_over_the_byte_limit_takes_back_a_page_an_ended_call_held)
{
    a_refused_dedicated_create_takes_back_a_held_page(0);
}

/* Empty pages a pool keeps (max_empty_pages) go before a page of its own is refused: by the
 * byte limit or by the device, in the creating thread's arena, and, with several arenas, in
 * the others (a review found both refused while the pool held only empty pages). */
static gpumem_pool budget_pool;
static gpumem_result budget_create_result;

static void *create_a_large_buffer(void *arg)
{
    gpumem_buffer b = NULL;
    gpumem_buffer_desc desc = {.size = 3 << 19}; /* 1.5 MiB: a page of its own */
    budget_create_result = gpumem_buffer_create(budget_pool, &desc, &b);
    if (b)
        gpumem_buffer_destroy(b);
    return arg;
}

static void empty_pages_go_before_a_large_create_fails(int by_device, uint32_t arenas)
{
    budget_bytes = 0;
    gpumem_device device = open_budget();
    gpumem_pool_desc desc = {.page_size = 1 << 20, .arena_count = arenas,
                             .byte_limit = by_device ? 0 : 2u << 20};
    cr_assert_eq(gpumem_pool_create(device, &desc, &budget_pool), GPUMEM_OK, "%s",
                 gpumem_last_error());
    /* This thread's arena keeps one empty page of 1 MiB. */
    cr_assert_eq(gpumem_buffer_destroy(make(budget_pool, 4096)), GPUMEM_OK);
    if (by_device)
        budget_bytes = 2u << 20;
    pthread_t other;
    if (arenas > 1) { /* another thread, another arena */
        cr_assert_eq(pthread_create(&other, NULL, create_a_large_buffer, NULL), 0);
        pthread_join(other, NULL);
    } else {
        create_a_large_buffer(NULL);
    }
    cr_expect_eq(budget_create_result, GPUMEM_OK,
                 "a 1.5 MiB create beside an empty page, refused by the %s, %u arena(s): %s",
                 by_device ? "device" : "byte limit", arenas, gpumem_last_error());
    budget_bytes = 0;
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    cr_expect_eq(budget_used, 0u, "the device kept %llu bytes", (unsigned long long)budget_used);
}

Test(reclaim, empty_pages_go_before_the_byte_limit_refuses_a_page_of_its_own)
{
    empty_pages_go_before_a_large_create_fails(0, 1);
    empty_pages_go_before_a_large_create_fails(0, 2);
}

Test(reclaim, empty_pages_go_before_the_device_refuses_a_page_of_its_own)
{
    empty_pages_go_before_a_large_create_fails(1, 1);
    empty_pages_go_before_a_large_create_fails(1, 2);
}

/* --- a buffer destroyed after a reclaim's barrier waits for calls the barrier did not see ---
 *
 * A reclaim takes the epochs of the calls in progress at its barrier, then the pool's lock. In
 * between, a call may begin (after the barrier: its epoch is not among them), find an older
 * buffer, and the buffer be destroyed: its stamp is past the barrier's epoch, and it must wait,
 * whatever its birth. */

static gpumem_buffer held_buffer;
static gpumem_result held_lookup;

static void hold_buffer(parked *p)
{
    (void)p;
    gpumem_buffer_obj *b;
    held_lookup = gpumem_buffer_get(held_buffer, &b, NULL);
}

Test(reclaim, a_buffer_destroyed_after_a_reclaims_barrier_waits_for_calls_it_did_not_see)
{
    gpumem_device device = open_host();
    gpumem_pool pool;
    cr_assert_eq(gpumem_pool_create(device, NULL, &pool), GPUMEM_OK);
    held_buffer = make(pool, 4096);
    gpumem_buffer_obj *record;
    cr_assert_eq(gpumem_buffer_get(held_buffer, &record, NULL), GPUMEM_OK);
    parked p = {.inside = hold_buffer};
    /* The reclaim's first half, by hand: the barrier and the epochs of the calls then. */
    gpumem_epoch_snapshot calls;
    uint64_t safe = gpumem_epoch_oldest_snapshot(gpumem_this_thread.record, &calls);
    park(&p); /* begins after the barrier */
    run_inside(&p);
    cr_assert_eq(held_lookup, GPUMEM_OK, "%s", gpumem_last_error());
    cr_assert_eq(gpumem_buffer_destroy(held_buffer), GPUMEM_OK); /* small: no reclaim due */
    cr_assert_geq(record->retired_at, calls.next);
    /* The second half: the pool's lock, and what the snapshot lets go. */
    gpumem_pool_obj *p_obj;
    cr_assert_eq(gpumem_pool_get(pool, &p_obj), GPUMEM_OK);
    gpumem_pool_lock(p_obj);
    gpumem_pool_reclaim_unreached(p_obj, safe, &calls);
    gpumem_pool_unlock(p_obj);
    cr_expect(still_retired(pool, held_buffer),
              "a buffer a call held was freed by a reclaim whose barrier came before the "
              "call began");
    unpark(&p);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

/* The same with the held list between: a reclaim with a later barrier finds the buffer held by
 * the call and moves it to pool->held, then the earlier reclaim is applied, which looks at the
 * held list (the call is not among its epochs) and must keep the buffer, stamped after its
 * barrier. And where the call began before both barriers, both keep it. */
static void held_buffer_through_an_earlier_barrier(int call_before_both)
{
    gpumem_device device = open_host();
    gpumem_pool pool;
    cr_assert_eq(gpumem_pool_create(device, NULL, &pool), GPUMEM_OK);
    held_buffer = make(pool, 4096);
    parked p = {.inside = hold_buffer};
    gpumem_epoch_snapshot calls;
    uint64_t safe;
    if (call_before_both) {
        park(&p);
        run_inside(&p);
        safe = gpumem_epoch_oldest_snapshot(gpumem_this_thread.record, &calls);
    } else {
        safe = gpumem_epoch_oldest_snapshot(gpumem_this_thread.record, &calls);
        park(&p); /* begins after the first barrier */
        run_inside(&p);
    }
    cr_assert_eq(held_lookup, GPUMEM_OK, "%s", gpumem_last_error());
    cr_assert_eq(gpumem_buffer_destroy(held_buffer), GPUMEM_OK);
    cr_assert_eq(gpumem_pool_trim(pool), GPUMEM_OK); /* the later barrier: held by the call */
    gpumem_pool_obj *p_obj;
    cr_assert_eq(gpumem_pool_get(pool, &p_obj), GPUMEM_OK);
    gpumem_pool_lock(p_obj);
    int held = listed(&p_obj->held, held_buffer);
    gpumem_pool_reclaim_unreached(p_obj, safe, &calls); /* the earlier barrier, applied now */
    gpumem_pool_unlock(p_obj);
    cr_expect(held, "the trim did not find the buffer held by the call");
    cr_expect(still_retired(pool, held_buffer),
              "a held buffer was freed by a reclaim whose barrier came %s the call began",
              call_before_both ? "after" : "before");
    unpark_and_close(&p, pool, device);
}

Test(reclaim, a_held_buffer_waits_through_a_reclaim_whose_barrier_came_before_the_call)
{
    held_buffer_through_an_earlier_barrier(0);
}

Test(reclaim, a_held_buffer_waits_through_a_reclaim_whose_barrier_came_before_the_later_one)
{
    held_buffer_through_an_earlier_barrier(1);
}

/* --- calls nested in a call: a reclaim from a log callback, a call after the outer one left ---
 *
 * A call made from a log callback runs inside another call of the same thread, which may be
 * using buffers: a reclaim it makes (a trim, stats, a create short of room) counts the thread's
 * own record too. And where the outer call has left its read-side section to wait (a teardown),
 * a nested call opens one of its own for what it finds, and closes it at its end. */

static gpumem_buffer outer_buffer;
static gpumem_pool outer_pool;
static gpumem_result outer_lookup, nested_trim;
static int outer_buffer_waits;

static void outer_looks_up(parked *p)
{
    (void)p;
    gpumem_buffer_obj *b;
    outer_lookup = gpumem_buffer_get(outer_buffer, &b, NULL);
}

static void nested_trims(parked *p)
{
    (void)p;
    nested_trim = gpumem_pool_trim(outer_pool); /* a public call inside the parked one */
    outer_buffer_waits = still_retired(outer_pool, outer_buffer);
}

Test(reclaim, a_reclaim_from_a_nested_call_waits_for_the_outer_calls_buffers)
{
    gpumem_device device = open_host();
    cr_assert_eq(gpumem_pool_create(device, NULL, &outer_pool), GPUMEM_OK);
    outer_buffer = make(outer_pool, 4096);
    parked p = {.inside = outer_looks_up};
    park(&p);
    run_inside(&p);
    cr_assert_eq(outer_lookup, GPUMEM_OK);
    cr_assert_eq(gpumem_buffer_destroy(outer_buffer), GPUMEM_OK); /* retired: two records */
    p.inside = nested_trims;
    run_inside(&p);
    cr_expect_eq(nested_trim, GPUMEM_OK);
    cr_expect(outer_buffer_waits, "a trim made inside a call freed a buffer that call held");
    unpark(&p);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

Test(reclaim, a_call_nested_after_the_outer_call_left_its_section_opens_its_own)
{
    gpumem_device device = open_host(); /* registers this thread */
    gpumem_call outer, nested;
    cr_assert_eq(gpumem_call_enter(&outer, "outer"), GPUMEM_OK);
    gpumem_epoch_record *record = outer.thread->record;
    cr_assert_neq(atomic_load(&record->epoch), 0);
    gpumem_epoch_leave(record); /* as a teardown does before it waits */
    cr_assert_eq(gpumem_call_enter(&nested, "nested"), GPUMEM_OK);
    cr_expect_neq(atomic_load(&record->epoch), 0, "the nested call runs outside any section");
    cr_expect_eq(nested.opened_own, 1);
    gpumem_call_leave(&nested, GPUMEM_OK);
    cr_expect_eq(atomic_load(&record->epoch), 0, "the nested call left its section open");
    gpumem_epoch_enter(record); /* the outer call in a section again: nesting opens none */
    cr_assert_eq(gpumem_call_enter(&nested, "nested in a section"), GPUMEM_OK);
    cr_expect_eq(nested.opened_own, 0);
    gpumem_call_leave(&nested, GPUMEM_OK);
    gpumem_call_leave(&outer, GPUMEM_OK);
    cr_expect_eq(outer.thread->depth, 0u);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

/* --- a log callback that calls gpumem on the pool whose page a call allocates or frees ---
 *
 * A pool logs its pages' allocation and release while it holds its lock. A log callback that
 * then called a trim or the statistics of that pool found the lock its own call held: a
 * deadlock once the process was shared, and for the lone thread a way in under its own call
 * (the trim freed the page the create was about to use). Such messages now reach the callback
 * when the call ends. */

static gpumem_pool logging_pool;
static int nested_kind; /* 0: trim, 1: statistics, 2: a create (destroyed after: a destroy from a
                           log callback is refused) */
static gpumem_buffer nested_made[64];
static _Atomic int nested_calls, nested_failures, nested_inside;
static char nested_error[256];

static void call_back_into_the_pool(void *user, int32_t level, const char *message)
{
    (void)user;
    /* The pool's own messages (not the debug log of the calls, which names the pool too). */
    if (level != GPUMEM_LOG_INFO || atomic_load(&nested_inside) ||
        !strstr(message, "pool 'logging'"))
        return;
    atomic_store(&nested_inside, 1);
    gpumem_pool_stats stats;
    gpumem_buffer b = NULL;
    gpumem_buffer_desc desc = {.size = 1 << 19};
    gpumem_result r = nested_kind == 0   ? gpumem_pool_trim(logging_pool)
                      : nested_kind == 1 ? gpumem_pool_stats_get(logging_pool, &stats)
                                         : gpumem_buffer_create(logging_pool, &desc, &b);
    if (b && atomic_load(&nested_calls) < 64)
        nested_made[atomic_load(&nested_calls)] = b;
    if (r != GPUMEM_OK) {
        atomic_fetch_add(&nested_failures, 1);
        snprintf(nested_error, sizeof nested_error, "%s", gpumem_last_error());
    }
    atomic_fetch_add(&nested_calls, 1);
    atomic_store(&nested_inside, 0);
}

static void *make_a_call(void *arg)
{
    gpumem_buffer b = make((gpumem_pool)arg, 64);
    cr_assert_eq(gpumem_buffer_destroy(b), GPUMEM_OK);
    return NULL;
}

/* `shared`: another thread has made a call first, so that locks are taken for real (no lone
 * thread); `arenas`: the pool's arenas (the statistics lock them all). */
static void a_log_callback_calls_the_pool_whose_page_a_call_made(int kind, int shared,
                                                                 uint32_t arenas)
{
    gpumem_device device = open_host();
    gpumem_pool_desc desc = {.name = "logging", .page_size = 1 << 20, .arena_count = arenas};
    cr_assert_eq(gpumem_pool_create(device, &desc, &logging_pool), GPUMEM_OK, "%s",
                 gpumem_last_error());
    if (shared) {
        pthread_t other;
        cr_assert_eq(pthread_create(&other, NULL, make_a_call, (void *)logging_pool), 0);
        pthread_join(other, NULL);
        cr_assert_eq(gpumem_pool_trim(logging_pool), GPUMEM_OK); /* its page goes */
    }
    nested_kind = kind;
    nested_calls = nested_failures = 0;
    cr_assert_eq(gpumem_log_set_callback(call_back_into_the_pool, NULL), GPUMEM_OK);
    gpumem_buffer b = make(logging_pool, 4096); /* the pool's first page: logged */
    cr_expect_gt(atomic_load(&nested_calls), 0, "the page's message did not reach the callback "
                 "before the create returned");
    int calls_before_trim = atomic_load(&nested_calls);
    void *data;
    cr_assert_eq(gpumem_buffer_map(b, &data), GPUMEM_OK, "%s", gpumem_last_error());
    memset(data, 0x5a, 4096); /* on a page a nested trim must not have freed */
    cr_assert_eq(gpumem_buffer_unmap(b), GPUMEM_OK);
    cr_assert_eq(gpumem_buffer_destroy(b), GPUMEM_OK);
    cr_assert_eq(gpumem_pool_trim(logging_pool), GPUMEM_OK, "%s", gpumem_last_error());
    cr_expect_gt(atomic_load(&nested_calls), calls_before_trim,
                 "the page's release did not reach the callback");
    cr_expect_eq(gpumem_last_error()[0], '\0', "a success left a message: %s",
                 gpumem_last_error());
    cr_assert_eq(gpumem_log_set_callback(NULL, NULL), GPUMEM_OK);
    cr_expect_eq(atomic_load(&nested_failures), 0, "a call from the callback failed: %s",
                 nested_error);
    for (int i = 0; i < 64; i++) {
        if (nested_made[i])
            cr_assert_eq(gpumem_buffer_destroy(nested_made[i]), GPUMEM_OK);
        nested_made[i] = NULL;
    }
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

Test(reclaim, a_log_callback_may_trim_the_pool_whose_page_was_logged)
{
    for (int shared = 0; shared <= 1; shared++)
        for (uint32_t arenas = 1; arenas <= 2; arenas++)
            a_log_callback_calls_the_pool_whose_page_a_call_made(0, shared, arenas);
}

Test(reclaim, a_log_callback_may_read_the_statistics_of_the_pool_whose_page_was_logged)
{
    for (int shared = 0; shared <= 1; shared++)
        for (uint32_t arenas = 1; arenas <= 2; arenas++)
            a_log_callback_calls_the_pool_whose_page_a_call_made(1, shared, arenas);
}

Test(reclaim, a_log_callback_may_create_in_the_pool_whose_page_was_logged)
{
    for (int shared = 0; shared <= 1; shared++)
        for (uint32_t arenas = 1; arenas <= 2; arenas++)
            a_log_callback_calls_the_pool_whose_page_a_call_made(2, shared, arenas);
}

/* A failure keeps its message through the callback's own calls at the call's end: a create
 * over the byte limit, which empties two pages of kept buffers and frees them (logged) before
 * it fails all the same. */
Test(reclaim, a_failed_calls_message_outlives_the_log_callbacks_calls)
{
    gpumem_device device = open_host();
    gpumem_pool_desc desc = {.name = "logging", .page_size = 1 << 20, .byte_limit = 3 << 20};
    cr_assert_eq(gpumem_pool_create(device, &desc, &logging_pool), GPUMEM_OK);
    gpumem_buffer kept[25]; /* two pages of 1 MiB, their buffers kept whole by the reuse cache */
    for (int i = 0; i < 25; i++)
        kept[i] = make(logging_pool, 48 << 10);
    for (int i = 0; i < 25; i++)
        cr_assert_eq(gpumem_buffer_destroy(kept[i]), GPUMEM_OK);
    nested_kind = 1;
    nested_calls = nested_failures = 0;
    cr_assert_eq(gpumem_log_set_callback(call_back_into_the_pool, NULL), GPUMEM_OK);
    gpumem_buffer big = NULL;
    gpumem_buffer_desc over = {.size = 7 << 19}; /* a page of its own, over the limit */
    cr_expect_eq(gpumem_buffer_create(logging_pool, &over, &big), GPUMEM_ERROR_LIMIT_EXCEEDED);
    cr_expect_gt(atomic_load(&nested_calls), 0, "no page was freed (and logged) by the create");
    cr_expect(strstr(gpumem_last_error(), "gpumem_buffer_create: ") == gpumem_last_error(),
              "the failure's message was lost: '%s'", gpumem_last_error());
    cr_assert_eq(gpumem_log_set_callback(NULL, NULL), GPUMEM_OK);
    cr_expect_eq(atomic_load(&nested_failures), 0, "a call from the callback failed: %s",
                 nested_error);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

/* --- a backend's message sent under a pool's lock ---
 *
 * A backend may log during any native call, such as a page's allocation, which core makes
 * holding the pool's lock (Vulkan's validation layer reports there). Until the thirty-eighth
 * session such messages reached the callback at once: one that then read the statistics of that
 * pool or trimmed it deadlocked once the process was shared. They now wait for the call's end,
 * as core's messages sent under a lock do. The host backend under another name, whose
 * page_allocate logs. */
static gpumem_backend_vtable logging_table;
static _Atomic int backend_messages;

static gpumem_result logging_page_allocate(gpumem_backend_device *device, uint32_t memory_type,
                                           uint64_t size, gpumem_backend_page **page)
{
    gpumem_backend_log(GPUMEM_LOG_INFO, "reclaim-logging: a page of %llu bytes",
                       (unsigned long long)size);
    return gpumem_host_backend()->page_allocate(device, memory_type, size, page);
}

static void with_a_logging_page_allocate(gpumem_backend_vtable *table)
{
    table->page_allocate = logging_page_allocate;
}

static void call_back_on_the_backends_message(void *user, int32_t level, const char *message)
{
    (void)user;
    (void)level;
    if (!strstr(message, "reclaim-logging: a page") || atomic_load(&nested_inside))
        return;
    atomic_store(&nested_inside, 1);
    atomic_fetch_add(&backend_messages, 1);
    gpumem_pool_stats stats;
    gpumem_result r = nested_kind == 0 ? gpumem_pool_trim(logging_pool)
                                       : gpumem_pool_stats_get(logging_pool, &stats);
    if (r != GPUMEM_OK) {
        atomic_fetch_add(&nested_failures, 1);
        snprintf(nested_error, sizeof nested_error, "%s", gpumem_last_error());
    }
    atomic_store(&nested_inside, 0);
}

Test(reclaim, a_log_callback_may_use_the_pool_a_backends_message_came_from)
{
    gpumem_device device = open_host_as(&logging_table, "reclaim-logging",
                                        with_a_logging_page_allocate);
    for (int shared = 0; shared <= 1; shared++)
        for (uint32_t arenas = 1; arenas <= 2; arenas++)
            for (int kind = 0; kind <= 1; kind++) {
                gpumem_pool_desc desc = {.name = "logging", .page_size = 1 << 20,
                                         .arena_count = arenas};
                cr_assert_eq(gpumem_pool_create(device, &desc, &logging_pool), GPUMEM_OK);
                if (shared) { /* locks are taken for real from here on */
                    pthread_t other;
                    cr_assert_eq(pthread_create(&other, NULL, make_a_call,
                                                (void *)logging_pool), 0);
                    pthread_join(other, NULL);
                    cr_assert_eq(gpumem_pool_trim(logging_pool), GPUMEM_OK);
                }
                nested_kind = kind;
                nested_failures = backend_messages = 0;
                cr_assert_eq(gpumem_log_set_callback(call_back_on_the_backends_message, NULL),
                             GPUMEM_OK);
                gpumem_buffer b = make(logging_pool, 4096); /* a page: the backend logs */
                cr_expect_eq(atomic_load(&backend_messages), 1, "the backend's message reached "
                             "the callback %d times before the create returned",
                             atomic_load(&backend_messages));
                void *data;
                cr_assert_eq(gpumem_buffer_map(b, &data), GPUMEM_OK, "%s", gpumem_last_error());
                memset(data, 0x5a, 4096); /* on a page the callback's trim must not have freed */
                cr_assert_eq(gpumem_buffer_unmap(b), GPUMEM_OK);
                cr_assert_eq(gpumem_log_set_callback(NULL, NULL), GPUMEM_OK);
                cr_expect_eq(atomic_load(&nested_failures), 0, "a call from the callback "
                             "failed: %s", nested_error);
                cr_assert_eq(gpumem_buffer_destroy(b), GPUMEM_OK);
                cr_assert_eq(gpumem_pool_destroy(logging_pool), GPUMEM_OK);
            }
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

/* A callback whose every call logs again (here each creates a buffer of a page of its own,
 * whose page is logged) gets the messages of its calls in rounds before the outermost call
 * returns, and is cut off, with a warning, after eight: the call returns, nothing is lost
 * without a word, and no message is left behind for a later call. */
static _Atomic int chained_calls, chained_warnings;
static gpumem_buffer chained[16];

static void call_back_and_log_again(void *user, int32_t level, const char *message)
{
    (void)user;
    int warning = level == GPUMEM_LOG_WARNING && strstr(message, "dropped");
    if (warning)
        atomic_fetch_add(&chained_warnings, 1);
    /* The warning too makes a call that logs again: what it keeps must not outlive the call. */
    if (!warning && (level != GPUMEM_LOG_INFO || !strstr(message, "allocated (one buffer's own")))
        return;
    int at = atomic_fetch_add(&chained_calls, 1);
    gpumem_buffer_desc desc = {.size = 3 << 19};
    if (at < 16 && gpumem_buffer_create(logging_pool, &desc, &chained[at]) != GPUMEM_OK)
        atomic_fetch_add(&nested_failures, 1);
}

Test(reclaim, a_log_callback_whose_calls_log_again_is_cut_off_after_eight_rounds)
{
    gpumem_device device = open_host();
    gpumem_pool_desc desc = {.name = "logging", .page_size = 1 << 20};
    cr_assert_eq(gpumem_pool_create(device, &desc, &logging_pool), GPUMEM_OK);
    chained_calls = chained_warnings = nested_failures = 0;
    cr_assert_eq(gpumem_log_set_callback(call_back_and_log_again, NULL), GPUMEM_OK);
    gpumem_buffer first;
    gpumem_buffer_desc big = {.size = 3 << 19}; /* a page of its own: logged */
    cr_assert_eq(gpumem_buffer_create(logging_pool, &big, &first), GPUMEM_OK);
    int calls = atomic_load(&chained_calls), warnings = atomic_load(&chained_warnings);
    cr_expect_eq(calls, 9, "the callback made %d calls, not one for the first message, one in "
                 "each of 7 further rounds and one for the warning", calls);
    cr_expect_eq(warnings, 1, "%d warnings of dropped messages", warnings);
    cr_expect_eq(gpumem_this_thread.error_pending & GPUMEM_PENDING_LOG, 0,
                 "messages were left for a later call");
    cr_expect_null(gpumem_this_thread.deferred_log, "kept messages outlived the call");
    cr_assert_eq(gpumem_log_set_callback(NULL, NULL), GPUMEM_OK);
    cr_expect_eq(atomic_load(&nested_failures), 0);
    for (int i = 0; i < calls && i < 16; i++)
        cr_assert_eq(gpumem_buffer_destroy(chained[i]), GPUMEM_OK);
    cr_assert_eq(gpumem_buffer_destroy(first), GPUMEM_OK);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

/* A message kept for the call's end is as long as one sent at once (2047 characters: Vulkan's
 * validation messages often pass 1 KiB), at the level it was sent with. */
static gpumem_backend_vtable long_message_table;
static _Atomic size_t long_message_length;
static _Atomic int long_message_level = -1;

static gpumem_result long_message_page_allocate(gpumem_backend_device *device,
                                                uint32_t memory_type, uint64_t size,
                                                gpumem_backend_page **page)
{
    char text[1601];
    memset(text, 'v', 1600);
    text[1600] = 0;
    gpumem_backend_log(7, "validation: %s", text); /* a level past the known ones */
    return gpumem_host_backend()->page_allocate(device, memory_type, size, page);
}

static void with_a_long_message(gpumem_backend_vtable *table)
{
    table->page_allocate = long_message_page_allocate;
}

static void measure_the_message(void *user, int32_t level, const char *message)
{
    (void)user;
    if (strstr(message, "validation: ")) {
        atomic_store(&long_message_length, strlen(message));
        atomic_store(&long_message_level, level);
    }
}

Test(reclaim, a_kept_message_is_as_long_and_of_the_level_as_sent)
{
    gpumem_device device = open_host_as(&long_message_table, "reclaim-long-message",
                                        with_a_long_message);
    gpumem_pool pool;
    cr_assert_eq(gpumem_pool_create(device, NULL, &pool), GPUMEM_OK);
    cr_assert_eq(gpumem_log_set_callback(measure_the_message, NULL), GPUMEM_OK);
    gpumem_buffer b = make(pool, 4096); /* a page: the backend logs inside the call */
    cr_assert_eq(gpumem_log_set_callback(NULL, NULL), GPUMEM_OK);
    cr_expect_eq(atomic_load(&long_message_length), 1612, "the callback got %zu of 1612 "
                 "characters", atomic_load(&long_message_length));
    cr_expect_eq(atomic_load(&long_message_level), 7);
    cr_assert_eq(gpumem_buffer_destroy(b), GPUMEM_OK);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

/* A callback set by another thread while a message is being formatted under a pool's lock was
 * called at once, under that lock: the routing asked whether a callback was set, then read it
 * again to send. A printf conversion of our own (glibc's register_printf_specifier) sets the
 * callback from inside the formatting, the narrowest window made wide; the callback reads the
 * statistics of that pool, which deadlocks while its lock is held. */
static gpumem_backend_vtable racing_callback_table;
static gpumem_pool racing_pool;
static _Atomic int set_while_formatting, racing_callback_calls, racing_failures;

static void read_the_racing_pool(void *user, int32_t level, const char *message)
{
    (void)user;
    (void)level;
    if (!strstr(message, "formatted:"))
        return;
    atomic_fetch_add(&racing_callback_calls, 1);
    gpumem_pool_stats stats;
    if (gpumem_pool_stats_get(racing_pool, &stats) != GPUMEM_OK)
        atomic_fetch_add(&racing_failures, 1);
}

static pthread_barrier_t racing_barrier;

static void *call_then_wait(void *arg)
{
    (void)arg;
    cr_assert_eq(gpumem_buffer_destroy(make(racing_pool, 64)), GPUMEM_OK);
    pthread_barrier_wait(&racing_barrier); /* alive, in no call */
    pthread_barrier_wait(&racing_barrier);
    return NULL;
}

static void *set_the_callback(void *arg)
{
    (void)arg;
    gpumem_log_set_callback(read_the_racing_pool, NULL);
    return NULL;
}

static int print_and_set_the_callback(FILE *stream, const struct printf_info *info,
                                      const void *const *args)
{
    (void)info;
    (void)args;
    if (atomic_exchange(&set_while_formatting, 0)) {
        pthread_t setter;
        pthread_create(&setter, NULL, set_the_callback, NULL);
        pthread_join(setter, NULL);
    }
    return fprintf(stream, "x");
}

static int one_int_argument(const struct printf_info *info, size_t n, int *types, int *size)
{
    (void)info;
    (void)size;
    if (n > 0)
        types[0] = PA_INT;
    return 1;
}

static gpumem_result racing_page_allocate(gpumem_backend_device *device, uint32_t memory_type,
                                          uint64_t size, gpumem_backend_page **page)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
    gpumem_backend_log(GPUMEM_LOG_INFO, "formatted: %W", 0);
#pragma GCC diagnostic pop
    return gpumem_host_backend()->page_allocate(device, memory_type, size, page);
}

static void with_a_racing_message(gpumem_backend_vtable *table)
{
    table->page_allocate = racing_page_allocate;
}

Test(reclaim, a_callback_set_while_a_message_is_formatted_does_not_run_under_the_lock)
{
    cr_assert_eq(register_printf_specifier('W', print_and_set_the_callback, one_int_argument), 0);
    gpumem_device device = open_host_as(&racing_callback_table, "reclaim-racing-callback",
                                        with_a_racing_message);
    cr_assert_eq(gpumem_pool_create(device, NULL, &racing_pool), GPUMEM_OK);
    /* Another thread that has made a call lives on: locks are taken for real. */
    pthread_barrier_init(&racing_barrier, NULL, 2);
    pthread_t other;
    cr_assert_eq(pthread_create(&other, NULL, call_then_wait, NULL), 0);
    pthread_barrier_wait(&racing_barrier);
    cr_assert_eq(gpumem_pool_trim(racing_pool), GPUMEM_OK);
    cr_assert_eq(gpumem_log_set_callback(NULL, NULL), GPUMEM_OK);
    atomic_store(&set_while_formatting, 1);
    gpumem_buffer b = make(racing_pool, 4096); /* a page: the backend logs under the lock */
    cr_assert_eq(gpumem_log_set_callback(NULL, NULL), GPUMEM_OK);
    pthread_barrier_wait(&racing_barrier);
    pthread_join(other, NULL);
    cr_expect_eq(atomic_load(&racing_callback_calls), 1);
    cr_expect_eq(atomic_load(&racing_failures), 0);
    cr_assert_eq(gpumem_buffer_destroy(b), GPUMEM_OK);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

/* The debug log of a failed call reaches the callback after the call has left: the callback's
 * own calls cleared the failure's message, so gpumem_last_error() said nothing (a review). */
static gpumem_pool debug_logged_pool;

static void read_the_pool_on_every_message(void *user, int32_t level, const char *message)
{
    (void)user;
    (void)level;
    (void)message;
    gpumem_pool_stats stats;
    gpumem_pool_stats_get(debug_logged_pool, &stats);
}

Test(reclaim, a_failed_calls_message_outlives_its_debug_log)
{
    gpumem_device device = open_host();
    cr_assert_eq(gpumem_pool_create(device, NULL, &debug_logged_pool), GPUMEM_OK);
    cr_assert_eq(gpumem_log_set_callback(read_the_pool_on_every_message, NULL), GPUMEM_OK);
    gpumem_buffer b;
    gpumem_buffer_desc empty = {.size = 0};
    gpumem_result r = gpumem_buffer_create(debug_logged_pool, &empty, &b);
    char message[GPUMEM_MESSAGE_SIZE];
    snprintf(message, sizeof message, "%s", gpumem_last_error());
    cr_assert_eq(gpumem_log_set_callback(NULL, NULL), GPUMEM_OK);
    cr_assert_eq(r, GPUMEM_ERROR_INVALID_ARGUMENT);
    cr_expect(strstr(message, "gpumem_buffer_create: ") == message, "the failure's message was "
              "lost: '%s'", message);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

/* The registry's first fill warns (a module folder that is not absolute) while it holds its
 * lock, outside any call: a callback that then listed the backends deadlocked on that lock. */
static _Atomic int registry_warnings;

static void list_the_backends(void *user, int32_t level, const char *message)
{
    (void)user;
    (void)level;
    if (!strstr(message, "GPUMEM_PLUGIN_PATH"))
        return;
    atomic_fetch_add(&registry_warnings, 1);
    uint32_t count;
    gpumem_backend_count(&count);
}

Test(reclaim, a_log_callback_may_list_the_backends_from_the_registrys_warnings)
{
    setenv("GPUMEM_PLUGIN_PATH", "relative/folder", 1);
    cr_assert_eq(gpumem_log_set_callback(list_the_backends, NULL), GPUMEM_OK);
    uint32_t count;
    cr_expect_eq(gpumem_backend_count(&count), GPUMEM_OK); /* the first: fills the registry */
    cr_assert_eq(gpumem_log_set_callback(NULL, NULL), GPUMEM_OK);
    unsetenv("GPUMEM_PLUGIN_PATH");
    cr_expect_gt(atomic_load(&registry_warnings), 0, "no warning about the folder: the test "
                 "tests nothing");
}

/* --- a call does not find a buffer born after it began --- */

static gpumem_buffer young, elder;
static gpumem_result young_plain, young_nested, elder_plain;
static char young_nested_message[256];

static void look_up(parked *p)
{
    (void)p;
    gpumem_buffer_obj *b;
    young_plain = gpumem_buffer_get(young, &b, NULL); /* in the parked call itself */
    elder_plain = gpumem_buffer_get(elder, &b, NULL);
    gpumem_buffer_info info;
    young_nested = gpumem_buffer_info_get(young, &info); /* a call nested in the parked one */
    strncpy(young_nested_message, gpumem_last_error(), sizeof young_nested_message - 1);
}

Test(reclaim, a_call_does_not_find_a_buffer_born_after_it_began)
{
    gpumem_device device = open_host();
    gpumem_pool pool;
    cr_assert_eq(gpumem_pool_create(device, NULL, &pool), GPUMEM_OK);
    elder = make(pool, 4096);
    parked p = {.inside = look_up};
    park(&p);
    cr_assert_eq(gpumem_pool_trim(pool), GPUMEM_OK); /* a reclaim: the epoch moves on */
    young = make(pool, 4096);
    gpumem_buffer_obj *b;
    cr_assert_eq(gpumem_buffer_get(young, &b, NULL), GPUMEM_OK);
    cr_assert_gt(b->born_at, p.epoch, "the test made no buffer younger than the parked call");
    run_inside(&p);
    cr_expect_eq(elder_plain, GPUMEM_OK, "a buffer older than the call is found");
    cr_expect_eq(young_plain, GPUMEM_ERROR_INVALID_HANDLE);
    cr_expect_eq(young_nested, GPUMEM_ERROR_BAD_STATE);
    cr_expect(strstr(young_nested_message, "log callback") != NULL, "%s", young_nested_message);
    unpark(&p);
    gpumem_buffer_info info;
    cr_expect_eq(gpumem_buffer_info_get(young, &info), GPUMEM_OK, "found by a later call");
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

/* --- readers that take handles during their calls, beside churning writers --- */

enum { SHARED = 64, WRITERS = 2, MAX_READERS = 80 };
static _Atomic uint64_t shared[SHARED];
static _Atomic int stop;
static _Atomic uint64_t reads, found, refused_young, reused_under_a_call;
static gpumem_pool churn_pool;
/* The variant's: a reader's thread ends after this many calls (0: runs until stopped), and
 * writers make one buffer in 32 with a page of its own. */
static uint32_t reader_calls;
static int large_buffers;

static uint64_t next_random(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state >> 33;
}

static void *writer(void *arg)
{
    uint64_t state = (uintptr_t)arg;
    gpumem_buffer live[SHARED / WRITERS] = {0};
    while (!atomic_load(&stop)) {
        uint64_t i = next_random(&state) % (SHARED / WRITERS);
        if (live[i])
            gpumem_buffer_destroy(live[i]);
        gpumem_buffer_desc desc = {.size = 256 + next_random(&state) % 4096};
        if (large_buffers && next_random(&state) % 32 == 0)
            desc.size = 20u << 20; /* over half the default page: a page of its own */
        if (gpumem_buffer_create(churn_pool, &desc, &live[i]) != GPUMEM_OK)
            live[i] = NULL;
        atomic_store(&shared[(uintptr_t)arg % WRITERS + i * WRITERS],
                     (uint64_t)(uintptr_t)live[i]);
    }
    for (unsigned i = 0; i < SHARED / WRITERS; i++)
        if (live[i])
            gpumem_buffer_destroy(live[i]);
    return NULL;
}

typedef struct reader_slot {
    pthread_t thread;
    uint64_t seed;
    _Atomic int done;
} reader_slot;

/* Enters a call, then takes a handle from the shared table (made, perhaps, after the call
 * began), or that handle's next generation, looks it up, and reads the record's handle for a
 * while, yielding: a record freed and made again under the call shows another handle. (A record
 * found through a next generation may not show its handle yet: the reader waits for it first.)
 * Calls of varied length: a few looks, or a few hundred. */
static void *reader(void *arg)
{
    reader_slot *slot = arg;
    uint64_t state = slot->seed * 7919u + 1;
    for (uint32_t calls = 0; !atomic_load(&stop) && (!reader_calls || calls < reader_calls);
         calls++) {
        gpumem_call call;
        if (gpumem_call_enter(&call, "reader") != GPUMEM_OK)
            break;
        int looks = next_random(&state) % 16 == 0 ? 256 : 8;
        for (int k = 0; k < looks; k++) {
            uint64_t h = atomic_load(&shared[next_random(&state) % SHARED]);
            if (!h)
                continue;
            if (next_random(&state) % 4 == 0)
                h += 1ull << 32; /* the slot's next object's handle, if it is made meanwhile */
            gpumem_buffer_obj *b;
            atomic_fetch_add(&reads, 1);
            gpumem_result r = gpumem_buffer_get((gpumem_buffer)(uintptr_t)h, &b, NULL);
            if (r == GPUMEM_ERROR_INVALID_HANDLE &&
                strstr(gpumem_last_error(), "began after this one"))
                atomic_fetch_add(&refused_young, 1);
            if (r != GPUMEM_OK)
                continue;
            atomic_fetch_add(&found, 1);
            /* The record takes its handle value just after the handle is published
             * (buffer_publish), so a lookup of a next generation may find it before that. */
            volatile uint64_t *seen = (volatile uint64_t *)&b->handle;
            int settled = 0;
            for (int j = 0; j < 100000 && !settled; j++)
                settled = *seen == h;
            if (!settled)
                continue;
            for (int j = 0; j < 64; j++) {
                if (*seen != h) {
                    atomic_fetch_add(&reused_under_a_call, 1);
                    break;
                }
                if (j % 16 == 15)
                    sched_yield();
            }
        }
        gpumem_call_leave(&call, GPUMEM_OK);
    }
    atomic_store(&slot->done, 1);
    return NULL;
}

/* `readers` readers beside WRITERS writers for 1.5 s (up to 30 s on a loaded machine, until the
 * readers have found enough buffers and met one younger than their call). With `come_and_go`,
 * each reader's thread ends after 1 to 64 calls and another takes its place (threads register
 * and go during reclaims), writers make large buffers too (held pages), and the main thread
 * trims and reads the statistics meanwhile; with more readers than a snapshot holds, reclaims
 * run on incomplete snapshots (checked). Afterwards a trim leaves nothing retired. */
static void readers_beside_writers(uint32_t readers, int come_and_go)
{
    gpumem_device device = open_host();
    cr_assert_eq(gpumem_pool_create(device, NULL, &churn_pool), GPUMEM_OK);
    atomic_store(&stop, 0);
    reads = found = refused_young = reused_under_a_call = 0;
    large_buffers = come_and_go;
    uint64_t state = 0x72656164657273ull + readers;
    pthread_t w[WRITERS];
    static reader_slot r[MAX_READERS];
    for (uintptr_t i = 0; i < WRITERS; i++)
        cr_assert_eq(pthread_create(&w[i], NULL, writer, (void *)(i + 1)), 0);
    for (uint32_t i = 0; i < readers; i++) {
        reader_calls = 0;
        r[i] = (reader_slot){.seed = i + 1};
        cr_assert_eq(pthread_create(&r[i].thread, NULL, reader, &r[i]), 0);
    }
    struct timespec tenth = {0, 100000000}, milli = {0, 1000000};
    uint64_t incomplete = 0, respawned = 0;
    for (int ms = 0; ms < 30000; ms++) {
        nanosleep(come_and_go ? &milli : &tenth, NULL);
        int tenths = come_and_go ? ms / 100 : ms;
        if (tenths >= 15 && atomic_load(&found) > 1000 && atomic_load(&refused_young) > 0 &&
            (readers <= GPUMEM_EPOCH_SNAPSHOT_MAX || incomplete > 0))
            break;
        if (!come_and_go)
            continue;
        gpumem_epoch_snapshot calls;
        gpumem_epoch_oldest_snapshot(NULL, &calls);
        incomplete += !calls.complete;
        for (uint32_t i = 0; i < readers; i++) {
            if (!atomic_load(&r[i].done))
                continue;
            pthread_join(r[i].thread, NULL);
            reader_calls = 1 + (uint32_t)(next_random(&state) % 64);
            r[i] = (reader_slot){.seed = next_random(&state)};
            cr_assert_eq(pthread_create(&r[i].thread, NULL, reader, &r[i]), 0);
            respawned++;
        }
        if (ms % 50 == 0) {
            gpumem_pool_stats stats;
            cr_assert_eq(ms % 100 ? gpumem_pool_trim(churn_pool)
                                  : gpumem_pool_stats_get(churn_pool, &stats),
                         GPUMEM_OK, "%s", gpumem_last_error());
        }
    }
    atomic_store(&stop, 1);
    for (uint32_t i = 0; i < readers; i++)
        pthread_join(r[i].thread, NULL);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(w[i], NULL);
    cr_log_info("%u readers: %llu lookups, %llu found, %llu refused as younger than their "
                "call; %llu reader threads replaced, %llu incomplete snapshots",
                readers, (unsigned long long)reads, (unsigned long long)found,
                (unsigned long long)refused_young, (unsigned long long)respawned,
                (unsigned long long)incomplete);
    cr_expect_eq(atomic_load(&reused_under_a_call), 0,
                 "%llu records were freed and made again under a call that held them",
                 (unsigned long long)reused_under_a_call);
    cr_expect_gt(found, 1000, "the readers found too few buffers to test anything");
    cr_expect_gt(refused_young, 0, "no lookup met a buffer younger than its call");
    if (come_and_go && readers > GPUMEM_EPOCH_SNAPSHOT_MAX)
        cr_expect_gt(incomplete, 0, "no snapshot of %u readers' calls was incomplete", readers);
    cr_assert_eq(gpumem_pool_trim(churn_pool), GPUMEM_OK);
    cr_expect_eq(retired_in_arenas(churn_pool), 0u, "a trim after the calls left buffers retired");
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

Test(reclaim, no_record_is_freed_under_a_call_that_took_its_handle_after_it_began, .timeout = 120)
{
    readers_beside_writers(2, 0);
}

/* More readers than a reclaim's snapshot holds, their threads coming and going, held pages,
 * trims and statistics beside them. */
Test(reclaim, no_record_is_freed_under_calls_of_more_threads_than_a_snapshot_holds,
     .timeout = 120)
{
    readers_beside_writers(MAX_READERS, 1);
}

/* --- native pools: buffers destroyed on a stream ---
 *
 * The host backend under another name, with streams (tokens: host operations finish before they
 * return) and native pools (each allocation a host page), whose native_pool_free notes the
 * stream it is queued on. A native pool's buffer destroyed on a stream is freed on that stream;
 * one that a call held, and that a reclaim on another stream then found free of calls, used to
 * wait there with no end while the stream lived: no trim freed it, and every create reclaimed
 * with a barrier for it. Its stream's destroy could also free it on another stream before the
 * stream's work was waited for. */
typedef struct native_stream {
    int unused;
} native_stream;

static gpumem_backend_vtable native_table;
static _Atomic int native_pages; /* allocated and not freed */
static struct native_free_record {
    gpumem_backend_page *page;
    gpumem_backend_stream *stream;
    int after_busy; /* queued after busy_stream's work in flight (below): done, or waited for */
} native_frees[256];
static _Atomic uint32_t native_free_count;
/* A synchronize of this stream waits until it is set to another: its work runs on. Waiters
 * counts the synchronizes that have waited so far. busy_stream's work is in flight while
 * stream_busy is 1 (a test sets it; that stream's next synchronize clears it). */
static gpumem_backend_stream *_Atomic held_stream, *_Atomic busy_stream;
static _Atomic int held_stream_waiting, stream_busy;
/* The stream made to wait for an event recorded on busy_stream while its work was in flight
 * (the tables with events, below), or NULL. */
static gpumem_backend_stream *_Atomic busy_follower;

static gpumem_result native_properties(gpumem_backend_device *device,
                                       gpumem_device_properties *properties)
{
    gpumem_result r = gpumem_host_backend()->device_properties(device, properties);
    properties->native_pools = 1;
    return r;
}

static gpumem_result native_stream_create(gpumem_backend_device *device,
                                          gpumem_backend_stream **stream)
{
    native_stream *s = calloc(1, sizeof *s);
    *stream = (gpumem_backend_stream *)s;
    return s ? GPUMEM_OK : GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
}

static void native_stream_destroy(gpumem_backend_device *device, gpumem_backend_stream *stream)
{
    free(stream);
}

/* Set: synchronizes and waits for events fail, as a runtime in error would. */
static _Atomic int native_wait_fails;

static gpumem_result native_stream_synchronize(gpumem_backend_device *device,
                                               gpumem_backend_stream *stream)
{
    if (atomic_load(&native_wait_fails))
        return gpumem_backend_error(GPUMEM_ERROR_BACKEND, "injected: the stream cannot wait");
    if (stream == atomic_load(&held_stream)) {
        atomic_fetch_add(&held_stream_waiting, 1);
        while (atomic_load(&held_stream) == stream)
            sched_yield();
    }
    if (stream == atomic_load(&busy_stream))
        atomic_store(&stream_busy, 0);
    return GPUMEM_OK;
}

static gpumem_result native_stream_native(gpumem_backend_device *device,
                                          gpumem_backend_stream *stream, uint64_t *native)
{
    *native = (uint64_t)(uintptr_t)stream;
    return GPUMEM_OK;
}

static gpumem_result native_pool_create(gpumem_backend_device *device, uint32_t memory_type,
                                        uint64_t release_threshold, gpumem_backend_pool **pool)
{
    *pool = (gpumem_backend_pool *)&native_table; /* any non-NULL token */
    return GPUMEM_OK;
}

static void native_pool_destroy(gpumem_backend_device *device, gpumem_backend_pool *pool) {}

static gpumem_result native_pool_allocate(gpumem_backend_device *device,
                                          gpumem_backend_pool *pool,
                                          gpumem_backend_stream *stream, uint64_t size,
                                          gpumem_backend_page **page)
{
    gpumem_result r = gpumem_host_backend()->page_allocate(device, 0, size, page);
    native_pages += r == GPUMEM_OK;
    return r;
}

static void native_pool_free(gpumem_backend_device *device, gpumem_backend_pool *pool,
                             gpumem_backend_stream *stream, gpumem_backend_page *page)
{
    uint32_t n = atomic_fetch_add(&native_free_count, 1);
    if (n < 256) {
        native_frees[n].page = page;
        native_frees[n].stream = stream;
        native_frees[n].after_busy = !atomic_load(&stream_busy) ||
                                     atomic_load(&busy_follower) == stream;
    }
    native_pages--;
    gpumem_host_backend()->page_free(device, page);
}

static void with_streams_and_native_pools(gpumem_backend_vtable *table)
{
    with_a_budget(table); /* paged pools' pages */
    table->device_properties = native_properties;
    table->stream_create = native_stream_create;
    table->stream_destroy = native_stream_destroy;
    table->stream_synchronize = native_stream_synchronize;
    table->stream_native = native_stream_native;
    table->native_pool_create = native_pool_create;
    table->native_pool_destroy = native_pool_destroy;
    table->native_pool_allocate = native_pool_allocate;
    table->native_pool_free = native_pool_free;
}

static gpumem_device open_native(void)
{
    atomic_store(&native_free_count, 0);
    return open_host_as(&native_table, "reclaim-native", with_streams_and_native_pools);
}

/* The same with events, which streams can wait for on the device: an event recorded while
 * busy_stream's work is in flight makes a stream that waits for it busy_follower. */
typedef struct native_event {
    gpumem_backend_stream *_Atomic stream;
    _Atomic int on_busy_work;
} native_event;

static gpumem_backend_vtable native_events_table;

static gpumem_result native_event_create(gpumem_backend_device *device,
                                         gpumem_backend_event **event)
{
    native_event *e = calloc(1, sizeof *e);
    *event = (gpumem_backend_event *)e;
    return e ? GPUMEM_OK : GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
}

static void native_event_destroy(gpumem_backend_device *device, gpumem_backend_event *event)
{
    free(event);
}

static gpumem_result native_event_record(gpumem_backend_device *device,
                                         gpumem_backend_stream *stream,
                                         gpumem_backend_event *event)
{
    native_event *e = (native_event *)event;
    atomic_store(&e->stream, stream);
    atomic_store(&e->on_busy_work,
                 stream == atomic_load(&busy_stream) && atomic_load(&stream_busy));
    return GPUMEM_OK;
}

static gpumem_result native_event_synchronize(gpumem_backend_device *device,
                                              gpumem_backend_event *event)
{
    native_event *e = (native_event *)event;
    if (atomic_load(&e->on_busy_work))
        atomic_store(&stream_busy, 0);
    return GPUMEM_OK;
}

static gpumem_result native_stream_wait_event(gpumem_backend_device *device,
                                              gpumem_backend_stream *stream,
                                              gpumem_backend_event *event)
{
    if (atomic_load(&native_wait_fails))
        return gpumem_backend_error(GPUMEM_ERROR_BACKEND, "injected: the stream cannot wait");
    native_event *e = (native_event *)event;
    if (atomic_load(&e->on_busy_work) && atomic_load(&stream_busy))
        atomic_store(&busy_follower, stream);
    return GPUMEM_OK;
}

static void with_streams_events_and_native_pools(gpumem_backend_vtable *table)
{
    with_streams_and_native_pools(table);
    table->event_create = native_event_create;
    table->event_destroy = native_event_destroy;
    table->event_record = native_event_record;
    table->event_synchronize = native_event_synchronize;
    table->stream_wait_event = native_stream_wait_event;
}

static gpumem_device open_native_with_events(void)
{
    atomic_store(&native_free_count, 0);
    return open_host_as(&native_events_table, "reclaim-native-events",
                        with_streams_events_and_native_pools);
}

static gpumem_pool native_pool(gpumem_device device)
{
    gpumem_pool pool;
    gpumem_pool_desc desc = {.kind = GPUMEM_POOL_NATIVE};
    cr_assert_eq(gpumem_pool_create(device, &desc, &pool), GPUMEM_OK, "%s", gpumem_last_error());
    return pool;
}

/* The backend's objects of a buffer's page and of a stream (NULL: the device's default). */
static gpumem_backend_page *page_of(gpumem_buffer buffer)
{
    gpumem_buffer_obj *b;
    cr_assert_eq(gpumem_buffer_get(buffer, &b, NULL), GPUMEM_OK);
    return b->page->native;
}

static gpumem_backend_stream *native_of(gpumem_device device, gpumem_stream stream)
{
    gpumem_device_obj *d;
    gpumem_stream_obj *s;
    cr_assert_eq(gpumem_device_get(device, &d), GPUMEM_OK);
    if (!stream)
        return d->default_stream->native;
    cr_assert_eq(gpumem_stream_get(stream, &s), GPUMEM_OK);
    return s->native;
}

/* The record of the native free of `page` since native_free_count was last cleared, or NULL. */
static const struct native_free_record *native_free_of(gpumem_backend_page *page)
{
    uint32_t n = atomic_load(&native_free_count);
    for (uint32_t i = 0; i < n && i < 256; i++)
        if (native_frees[i].page == page)
            return &native_frees[i];
    return NULL;
}

/* The stream the native free of `page` was queued on; `freed` 0 when it was not freed. */
static gpumem_backend_stream *freed_on(gpumem_backend_page *page, int *freed)
{
    const struct native_free_record *f = native_free_of(page);
    *freed = f != NULL;
    return f ? f->stream : NULL;
}

#define on_stream_count(pool) locked_count(pool, offsetof(gpumem_pool_obj, on_stream_count))

/* Buffers destroyed on random streams (the default one among them) while a call holds them:
 * once the call has ended, creates beside them take no barrier each, and a trim frees every one
 * on the stream it was destroyed on. */
Test(reclaim, native_buffers_held_on_their_streams_go_by_trim_on_those_streams)
{
    uint64_t state = 0x6e617469766531ull;
    for (int round = 0; round < 24; round++) {
        gpumem_device device = open_native();
        gpumem_pool pool = native_pool(device);
        uint32_t stream_count = 1 + (uint32_t)(next_random(&state) % 4);
        uint32_t count = 1 + (uint32_t)(next_random(&state) % 12);
        gpumem_stream streams[4];
        for (uint32_t s = 0; s < stream_count; s++)
            cr_assert_eq(gpumem_stream_create(device, &streams[s]), GPUMEM_OK);
        gpumem_buffer buffers[12];
        gpumem_backend_page *pages[12];
        gpumem_backend_stream *on[12];
        for (uint32_t i = 0; i < count; i++) {
            buffers[i] = make(pool, 4096 << (next_random(&state) % 8));
            pages[i] = page_of(buffers[i]);
        }
        parked p = {.linger = 1};
        park(&p);
        for (uint32_t i = 0; i < count; i++) {
            uint32_t pick = (uint32_t)(next_random(&state) % (stream_count + 1));
            gpumem_stream stream = pick < stream_count ? streams[pick] : NULL;
            on[i] = native_of(device, stream);
            cr_assert_eq(stream ? gpumem_buffer_destroy_on_stream(buffers[i], stream)
                                : gpumem_buffer_destroy(buffers[i]),
                         GPUMEM_OK, "%s", gpumem_last_error());
            int freed;
            freed_on(pages[i], &freed);
            cr_assert(!freed, "round %d: buffer %u was freed under the call", round, i);
        }
        leave_call(&p);
        /* (Each destroy in a native pool frees its page at once: a barrier each, while another
         * thread holds a record.) */
        gpumem_buffer more[100];
        uint64_t before = atomic_load(&gpumem_epoch_global);
        for (int i = 0; i < 100; i++)
            more[i] = make(pool, 4096);
        uint64_t barriers = atomic_load(&gpumem_epoch_global) - before;
        cr_expect_lt(barriers, 5, "round %d: 100 creates beside %u buffers waiting for their "
                     "streams took %llu barriers", round, count, (unsigned long long)barriers);
        for (int i = 0; i < 100; i++)
            cr_assert_eq(gpumem_buffer_destroy(more[i]), GPUMEM_OK);
        cr_assert_eq(gpumem_pool_trim(pool), GPUMEM_OK, "%s", gpumem_last_error());
        cr_expect_eq(retired_count(pool), 0u, "round %d: a trim left destroyed buffers", round);
        cr_expect_eq(on_stream_count(pool), 0u, "round %d", round);
        for (uint32_t i = 0; i < count; i++) {
            int freed;
            gpumem_backend_stream *stream = freed_on(pages[i], &freed);
            cr_expect(freed, "round %d: buffer %u of %u was not freed by the trim", round, i,
                      count);
            cr_expect(!freed || stream == on[i],
                      "round %d: buffer %u was freed on another stream than its destroy's", round,
                      i);
        }
        unpark(&p);
        cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
        cr_expect_eq(native_pages, 0, "round %d: %d pages outlived the device", round,
                     (int)native_pages);
    }
}

/* A native pool's buffer X that waits for its stream. */
typedef struct waiting_buffer {
    gpumem_device device;
    gpumem_pool pool;
    gpumem_stream stream;
    parked p; /* the call that held X, ended, its thread alive */
    gpumem_backend_page *page; /* X's */
} waiting_buffer;

/* Opens a device, a native pool and a stream; destroys X on the stream while a call holds it,
 * and ends the call (its thread stays); then a reclaim on the default stream (the
 * statistics') finds X free of calls, and X waits for its stream. */
static void native_waiting_on_its_stream(waiting_buffer *w)
{
    w->device = open_native();
    w->pool = native_pool(w->device);
    cr_assert_eq(gpumem_stream_create(w->device, &w->stream), GPUMEM_OK);
    gpumem_buffer x = make(w->pool, 1 << 16);
    w->page = page_of(x);
    w->p = (parked){.linger = 1};
    park(&w->p);
    cr_assert_eq(gpumem_buffer_destroy_on_stream(x, w->stream), GPUMEM_OK, "%s",
                 gpumem_last_error());
    leave_call(&w->p);
    gpumem_pool_stats stats;
    cr_assert_eq(gpumem_pool_stats_get(w->pool, &stats), GPUMEM_OK);
    cr_assert_eq(on_stream_count(w->pool), 1u, "the buffer does not wait for its stream");
    int freed;
    freed_on(w->page, &freed);
    cr_assert(!freed, "the buffer was freed on the default stream");
}

/* A later destroy on the stream frees the buffer that waits for it, with no trim. */
Test(reclaim, a_native_buffer_waiting_for_its_stream_goes_at_a_later_destroy_on_it)
{
    waiting_buffer w;
    native_waiting_on_its_stream(&w);
    cr_assert_eq(gpumem_buffer_destroy_on_stream(make(w.pool, 4096), w.stream), GPUMEM_OK);
    int freed;
    gpumem_backend_stream *on = freed_on(w.page, &freed);
    cr_expect(freed, "a destroy on its stream left the buffer that waited for it");
    cr_expect(!freed || on == native_of(w.device, w.stream), "freed on another stream");
    cr_expect_eq(on_stream_count(w.pool), 0u);
    unpark(&w.p);
    cr_assert_eq(gpumem_device_close(w.device), GPUMEM_OK);
    cr_expect_eq(native_pages, 0, "%d pages outlived the device", (int)native_pages);
}

static gpumem_result stream_destroyed;

static void *destroy_stream(void *arg)
{
    stream_destroyed = gpumem_stream_destroy(*(gpumem_stream *)arg);
    return NULL;
}

/* While the stream's destroy waits for its work (its handle already ended), a reclaim leaves
 * the buffer that waits for it: freed on another stream, its memory could go to a new
 * allocation under that work. Once the destroy has waited, a trim frees it on the default
 * stream. */
Test(reclaim, a_native_buffer_waits_for_its_streams_work_through_the_streams_destroy)
{
    waiting_buffer w;
    native_waiting_on_its_stream(&w);
    gpumem_device device = w.device;
    gpumem_pool pool = w.pool;
    gpumem_backend_page *page = w.page;
    atomic_store(&held_stream_waiting, 0);
    atomic_store(&held_stream, native_of(device, w.stream));
    pthread_t destroyer;
    cr_assert_eq(pthread_create(&destroyer, NULL, destroy_stream, &w.stream), 0);
    while (!atomic_load(&held_stream_waiting))
        sched_yield();
    /* A reclaim on the default stream (the statistics'; a trim of a native pool would wait for
     * the stream's work first). */
    gpumem_pool_stats stats;
    cr_assert_eq(gpumem_pool_stats_get(pool, &stats), GPUMEM_OK, "%s", gpumem_last_error());
    int freed;
    freed_on(page, &freed);
    cr_expect(!freed, "a reclaim freed the buffer while its stream's work ran");
    cr_expect_eq(on_stream_count(pool), 1u);
    atomic_store(&held_stream, NULL);
    pthread_join(destroyer, NULL);
    cr_assert_eq(stream_destroyed, GPUMEM_OK);
    cr_assert_eq(gpumem_pool_trim(pool), GPUMEM_OK, "%s", gpumem_last_error());
    gpumem_backend_stream *on = freed_on(page, &freed);
    cr_expect(freed, "a trim after the stream's destroy left the buffer");
    cr_expect(!freed || on == native_of(device, NULL), "freed on another than the default stream");
    unpark(&w.p);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    cr_expect_eq(native_pages, 0, "%d pages outlived the device", (int)native_pages);
}

/* A pool destroyed, and a device closed, with buffers waiting for their streams free them. */
Test(reclaim, native_buffers_waiting_for_their_streams_go_with_their_pool_or_device)
{
    for (int close_device = 0; close_device <= 1; close_device++) {
        waiting_buffer w;
        native_waiting_on_its_stream(&w);
        if (!close_device) {
            cr_assert_eq(gpumem_pool_destroy(w.pool), GPUMEM_OK);
            int freed;
            freed_on(w.page, &freed);
            cr_expect(freed, "the pool's destroy left the buffer that waited for its stream");
        }
        unpark(&w.p);
        cr_assert_eq(gpumem_device_close(w.device), GPUMEM_OK);
        cr_expect_eq(native_pages, 0, "%d pages outlived the device", (int)native_pages);
    }
}

/* The free of a native buffer, by the host or on a stream, is queued on a stream ordered after
 * the one the buffer was allocated on (on the device with events, else by the host waiting for
 * it): the runtime hands freed memory to that stream's later allocations at once, and a host's
 * create there could take memory whose allocation's stream (ordered after another stream's
 * free by the application's event) had not yet reached it. Random births and deaths (the
 * host's, the default stream's handle, or one of three streams), with the birth stream's work
 * in flight at each destroy: a free on another stream comes after that work; one on the same
 * stream needs no wait and makes none. `held`: another thread's call, begun after the create,
 * holds the buffer at its destroy, and creates and destroys on random streams come before the
 * trim that frees what is left: whichever section frees it, it is freed on the destroy's stream
 * (a host's destroy used to leave it to any, on a stream that had not followed the
 * allocation's). */
static void native_frees_follow_their_allocations_stream(int events, int held)
{
    static const char *const names[] = {"stream 0", "stream 1", "stream 2",
                                        "the default stream's handle", "the host's"};
    uint64_t state = 0x666f6c6c6f77ull + (uint64_t)events + 2u * (uint64_t)held;
    gpumem_device device = events ? open_native_with_events() : open_native();
    gpumem_pool pool = native_pool(device);
    gpumem_stream streams[4]; /* [3]: the default stream's handle */
    for (int s = 0; s < 3; s++)
        cr_assert_eq(gpumem_stream_create(device, &streams[s]), GPUMEM_OK);
    cr_assert_eq(gpumem_device_default_stream(device, &streams[3]), GPUMEM_OK);
    for (int i = 0; i < (held ? 80 : 300); i++) {
        uint32_t born = (uint32_t)(next_random(&state) % 5); /* 4: the host's create */
        uint32_t dies = (uint32_t)(next_random(&state) % 5); /* 4: the host's destroy */
        gpumem_stream born_on = born < 4 ? streams[born] : NULL;
        gpumem_stream dies_on = dies < 4 ? streams[dies] : NULL;
        gpumem_buffer_desc desc = {.size = 256u << (next_random(&state) % 8)};
        gpumem_buffer b;
        cr_assert_eq(born_on ? gpumem_buffer_create_on_stream(pool, &desc, born_on, &b)
                             : gpumem_buffer_create(pool, &desc, &b),
                     GPUMEM_OK, "%s", gpumem_last_error());
        gpumem_backend_page *page = page_of(b);
        gpumem_backend_stream *birth = native_of(device, born_on);
        gpumem_backend_stream *death = native_of(device, dies_on);
        parked p = {.linger = 1};
        if (held)
            park(&p); /* its call begins after the create: it may reach the buffer */
        atomic_store(&native_free_count, 0);
        atomic_store(&busy_follower, NULL);
        atomic_store(&busy_stream, birth);
        atomic_store(&stream_busy, 1);
        cr_assert_eq(dies_on ? gpumem_buffer_destroy_on_stream(b, dies_on)
                             : gpumem_buffer_destroy(b),
                     GPUMEM_OK, "%s", gpumem_last_error());
        if (held) {
            cr_assert_null(native_free_of(page), "step %d: freed under another's call", i);
            leave_call(&p);
            for (uint64_t k = next_random(&state) % 4; k; k--) {
                uint32_t x = (uint32_t)(next_random(&state) % 5);
                gpumem_stream on_x = x < 4 ? streams[x] : NULL;
                gpumem_buffer other;
                cr_assert_eq(on_x ? gpumem_buffer_create_on_stream(pool, &desc, on_x, &other)
                                  : gpumem_buffer_create(pool, &desc, &other),
                             GPUMEM_OK, "%s", gpumem_last_error());
                cr_assert_eq(on_x ? gpumem_buffer_destroy_on_stream(other, on_x)
                                  : gpumem_buffer_destroy(other),
                             GPUMEM_OK, "%s", gpumem_last_error());
            }
            cr_assert_eq(gpumem_pool_trim(pool), GPUMEM_OK, "%s", gpumem_last_error());
            unpark(&p);
        }
        const struct native_free_record *f = native_free_of(page);
        cr_assert_not_null(f, "step %d: %s did not free", i,
                           held ? "the trim" : "a destroy with no call beside it");
        cr_assert_eq(f->stream, death, "step %d: allocated by %s, destroyed by %s, freed on "
                     "another stream than its destroy's", i, names[born], names[dies]);
        if (birth != death && dies >= 3) /* the default stream: hosts' creates allocate there */
            cr_assert(!atomic_load(&busy_follower),
                      "step %d: allocated by %s, freed by %s: the default stream was made to "
                      "wait on the device, not the host", i, names[born], names[dies]);
        if (birth != death)
            cr_assert(f->after_busy,
                      "step %d: allocated by %s, freed by %s while the allocation's stream's "
                      "work was in flight and not waited for", i, names[born], names[dies]);
        else if (!held)
            cr_assert(atomic_load(&stream_busy) && !atomic_load(&busy_follower),
                      "step %d: a free on the stream the buffer was allocated on waited", i);
    }
    atomic_store(&busy_stream, NULL);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    cr_expect_eq(native_pages, 0, "%d pages outlived the device", (int)native_pages);
}

Test(reclaim, native_frees_follow_their_allocations_stream_by_the_host)
{
    native_frees_follow_their_allocations_stream(0, 0);
}

Test(reclaim, native_frees_follow_their_allocations_stream_on_the_device)
{
    native_frees_follow_their_allocations_stream(1, 0);
}

Test(reclaim, native_frees_of_held_buffers_follow_their_allocations_stream_by_the_host)
{
    native_frees_follow_their_allocations_stream(0, 1);
}

Test(reclaim, native_frees_of_held_buffers_follow_their_allocations_stream_on_the_device)
{
    native_frees_follow_their_allocations_stream(1, 1);
}

/* A host's create in a native pool waits for the default stream after its allocation (the
 * buffer is every stream's at once, and the runtime orders the allocation on that stream
 * alone); a create on a stream waits for nothing, the default stream's own handle included. */
Test(reclaim, only_a_hosts_native_create_waits_for_its_allocation)
{
    gpumem_device device = open_native();
    gpumem_pool pool = native_pool(device);
    gpumem_stream streams[2]; /* [1]: the default stream's handle */
    cr_assert_eq(gpumem_stream_create(device, &streams[0]), GPUMEM_OK);
    cr_assert_eq(gpumem_device_default_stream(device, &streams[1]), GPUMEM_OK);
    gpumem_buffer_desc desc = {.size = 4096};
    for (int on = 0; on <= 2; on++) { /* 2: the host's */
        gpumem_buffer b;
        atomic_store(&busy_stream, native_of(device, NULL));
        atomic_store(&stream_busy, 1);
        cr_assert_eq(on < 2 ? gpumem_buffer_create_on_stream(pool, &desc, streams[on], &b)
                            : gpumem_buffer_create(pool, &desc, &b),
                     GPUMEM_OK, "%s", gpumem_last_error());
        if (on < 2)
            cr_assert(atomic_load(&stream_busy), "a create on %s waited for the default stream",
                      on ? "the default stream's handle" : "a stream");
        else
            cr_assert(!atomic_load(&stream_busy),
                      "a host's create returned before the default stream's allocation");
        atomic_store(&busy_stream, NULL);
        cr_assert_eq(on < 2 ? gpumem_buffer_destroy_on_stream(b, streams[on])
                            : gpumem_buffer_destroy(b),
                     GPUMEM_OK, "%s", gpumem_last_error());
    }
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    cr_expect_eq(native_pages, 0, "%d pages outlived the device", (int)native_pages);
}

/* A native destroy whose stream cannot be made to follow the allocation's (the backend fails:
 * the host's synchronize for the host's destroy, the stream's wait for an event for one on
 * another stream) says so and leaves the buffer as it was: live, unfreed, and destroyed by a
 * later try. */
Test(reclaim, a_native_destroy_that_cannot_follow_the_allocations_stream_leaves_the_buffer)
{
    gpumem_device device = open_native_with_events();
    gpumem_pool pool = native_pool(device);
    gpumem_stream made_on, other;
    cr_assert_eq(gpumem_stream_create(device, &made_on), GPUMEM_OK);
    cr_assert_eq(gpumem_stream_create(device, &other), GPUMEM_OK);
    for (int on_host = 0; on_host <= 1; on_host++) {
        gpumem_buffer b;
        gpumem_buffer_desc desc = {.size = 4096};
        cr_assert_eq(gpumem_buffer_create_on_stream(pool, &desc, made_on, &b), GPUMEM_OK);
        gpumem_backend_page *page = page_of(b);
        atomic_store(&native_free_count, 0);
        atomic_store(&native_wait_fails, 1);
        gpumem_result r = on_host ? gpumem_buffer_destroy(b)
                                  : gpumem_buffer_destroy_on_stream(b, other);
        atomic_store(&native_wait_fails, 0);
        cr_assert_eq(r, GPUMEM_ERROR_BACKEND, "%s", gpumem_last_error());
        cr_assert(strstr(gpumem_last_error(), "was not destroyed") &&
                      strstr(gpumem_last_error(), "injected"),
                  "the message does not say what happened: %s", gpumem_last_error());
        cr_assert_null(native_free_of(page), "a destroy that failed freed the buffer");
        gpumem_buffer_info info;
        cr_assert_eq(gpumem_buffer_info_get(b, &info), GPUMEM_OK, "%s", gpumem_last_error());
        cr_assert_eq(on_host ? gpumem_buffer_destroy(b)
                             : gpumem_buffer_destroy_on_stream(b, other),
                     GPUMEM_OK, "%s", gpumem_last_error());
        cr_assert_not_null(native_free_of(page));
    }
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    cr_expect_eq(native_pages, 0, "%d pages outlived the device", (int)native_pages);
}

/* --- a stream whose handle has ended before its work was waited for ---
 *
 * A stream's destroy ends its handle, waits for the calls that found it, then for its work; a
 * device's close ends every handle first too. Meanwhile a host that follows the stream's frees
 * (a create in a paged pool, which waits for the work of ranges freed in stream order) or
 * waits for an event recorded on it, must still wait for that work: it used to take the ended
 * handle for work done, and a create took back a range the stream's work still used. */

static gpumem_pool follower_pool;
static gpumem_event follower_event;
static _Atomic int follower_done, follower_saw_busy;
static gpumem_result follower_result;

/* A host create in follower_pool, or a synchronize of follower_event; notes whether the
 * watched stream's work was still in flight when it returned. */
static void *follow_on_host(void *arg)
{
    gpumem_buffer b = NULL;
    gpumem_buffer_desc desc = {.size = 4096};
    follower_result = arg ? gpumem_event_synchronize(follower_event)
                          : gpumem_buffer_create(follower_pool, &desc, &b);
    atomic_store(&follower_saw_busy, atomic_load(&stream_busy));
    atomic_store(&follower_done, 1);
    if (b)
        gpumem_buffer_destroy(b);
    return NULL;
}

static void a_host_waits_for_an_ended_streams_work(int by_event)
{
    gpumem_device device = open_native();
    gpumem_pool_desc desc = {.page_size = 1 << 20};
    cr_assert_eq(gpumem_pool_create(device, &desc, &follower_pool), GPUMEM_OK);
    gpumem_stream stream;
    cr_assert_eq(gpumem_stream_create(device, &stream), GPUMEM_OK);
    gpumem_device_obj *d;
    gpumem_stream_obj *s;
    cr_assert_eq(gpumem_device_get(device, &d), GPUMEM_OK);
    cr_assert_eq(gpumem_stream_get(stream, &s), GPUMEM_OK); /* kept until the destroy's end */
    if (by_event) {
        cr_assert_eq(gpumem_event_create(device, &follower_event), GPUMEM_OK, "%s",
                     gpumem_last_error());
        cr_assert_eq(gpumem_event_record(follower_event, stream), GPUMEM_OK, "%s",
                     gpumem_last_error());
    } else { /* a range freed in the stream's order, its work still using it */
        cr_assert_eq(gpumem_buffer_destroy_on_stream(make(follower_pool, 4096), stream),
                     GPUMEM_OK);
    }
    atomic_store(&busy_stream, native_of(device, stream));
    atomic_store(&stream_busy, 1);
    atomic_store(&held_stream_waiting, 0);
    atomic_store(&held_stream, native_of(device, stream));
    atomic_store(&follower_done, 0);
    pthread_t destroyer, follower;
    cr_assert_eq(pthread_create(&destroyer, NULL, destroy_stream, &stream), 0);
    while (atomic_load(&held_stream_waiting) < 1) /* the handle has ended; the work runs on */
        sched_yield();
    cr_assert_eq(pthread_create(&follower, NULL, follow_on_host, by_event ? &stream : NULL), 0);
    /* The follower finds the stream on the device's list, and waits for the destroy's wait. */
    for (uint32_t followers = 0; !followers && !atomic_load(&follower_done);) {
        sched_yield();
        pthread_mutex_lock(&d->lock);
        followers = s->followers;
        pthread_mutex_unlock(&d->lock);
    }
    cr_expect(!atomic_load(&follower_done), "%s returned while the stream's work ran",
              by_event ? "an event's synchronize" : "a host create");
    atomic_store(&held_stream, NULL);
    pthread_join(follower, NULL);
    pthread_join(destroyer, NULL);
    cr_assert_eq(stream_destroyed, GPUMEM_OK);
    cr_assert_eq(follower_result, GPUMEM_OK, "%s", gpumem_last_error());
    cr_expect(!atomic_load(&follower_saw_busy), "the stream's work was still in flight");
    atomic_store(&busy_stream, NULL);
    if (by_event)
        cr_assert_eq(gpumem_event_destroy(follower_event), GPUMEM_OK);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

Test(reclaim, a_host_create_waits_for_the_work_of_a_stream_being_destroyed)
{
    a_host_waits_for_an_ended_streams_work(0);
}

Test(reclaim, an_event_synchronize_waits_for_the_work_of_a_stream_being_destroyed)
{
    a_host_waits_for_an_ended_streams_work(1);
}

/* --- one event, recorded and waited for at once ---
 *
 * A create on stream T that follows frees made on stream S records S's fence event (under S's
 * lock) and has T wait for it (under T's). Two such creates at once, on T and U, had one record
 * the event while the other's T waited for it: two operations on one backend event at once,
 * which backend.h does not allow (on Vulkan, a data race on the event's timeline value). The
 * backend below counts overlapping operations on an event. */
typedef struct counted_event {
    _Atomic int in_operation;
} counted_event;

static gpumem_backend_vtable events_table;
static _Atomic int event_overlaps;

static void event_operation(gpumem_backend_event *event)
{
    counted_event *e = (counted_event *)event;
    if (atomic_fetch_add(&e->in_operation, 1))
        atomic_fetch_add(&event_overlaps, 1);
    for (int i = 0; i < 200; i++) /* a while, for another to come in */
        sched_yield();
    atomic_fetch_sub(&e->in_operation, 1);
}

static gpumem_result counted_event_create(gpumem_backend_device *device,
                                          gpumem_backend_event **event)
{
    *event = calloc(1, sizeof(counted_event));
    return *event ? GPUMEM_OK : GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
}

static void counted_event_destroy(gpumem_backend_device *device, gpumem_backend_event *event)
{
    free(event);
}

static gpumem_result counted_event_record(gpumem_backend_device *device,
                                          gpumem_backend_stream *stream,
                                          gpumem_backend_event *event)
{
    event_operation(event);
    return GPUMEM_OK;
}

static gpumem_result counted_event_synchronize(gpumem_backend_device *device,
                                               gpumem_backend_event *event)
{
    event_operation(event);
    return GPUMEM_OK;
}

static gpumem_result counted_stream_wait_event(gpumem_backend_device *device,
                                               gpumem_backend_stream *stream,
                                               gpumem_backend_event *event)
{
    event_operation(event);
    return GPUMEM_OK;
}

static void with_counted_events(gpumem_backend_vtable *table)
{
    with_streams_and_native_pools(table);
    table->event_create = counted_event_create;
    table->event_destroy = counted_event_destroy;
    table->event_record = counted_event_record;
    table->event_synchronize = counted_event_synchronize;
    table->stream_wait_event = counted_stream_wait_event;
}

static gpumem_pool follows_pool;
static gpumem_stream follows_streams[3];
static _Atomic int follows_stop, follows_failed;

/* Counts its failures rather than asserting from threads. (The test has no Criterion timeout:
 * tests with timeouts that overlap made Criterion's runner leak 48 bytes under LeakSanitizer;
 * meson's timeout bounds it.) */
static void *create_and_destroy_on_a_stream(void *arg)
{
    gpumem_stream stream = follows_streams[(uintptr_t)arg];
    gpumem_buffer_desc desc = {.size = 4096};
    while (!atomic_load(&follows_stop)) {
        gpumem_buffer b;
        if (gpumem_buffer_create_on_stream(follows_pool, &desc, stream, &b) != GPUMEM_OK ||
            gpumem_buffer_destroy_on_stream(b, stream) != GPUMEM_OK)
            atomic_fetch_add(&follows_failed, 1);
    }
    return NULL;
}

Test(reclaim, no_two_operations_run_on_one_streams_fence_at_once)
{
    gpumem_device device = open_host_as(&events_table, "reclaim-events", with_counted_events);
    cr_assert_eq(gpumem_pool_create(device, NULL, &follows_pool), GPUMEM_OK);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(gpumem_stream_create(device, &follows_streams[i]), GPUMEM_OK);
    atomic_store(&event_overlaps, 0);
    atomic_store(&follows_stop, 0);
    pthread_t threads[3];
    for (uintptr_t i = 0; i < 3; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, create_and_destroy_on_a_stream, (void *)i),
                     0);
    struct timespec half = {0, 500000000};
    nanosleep(&half, NULL);
    atomic_store(&follows_stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(threads[i], NULL);
    cr_expect_eq(atomic_load(&follows_failed), 0, "creates or destroys on streams failed");
    cr_expect_eq(atomic_load(&event_overlaps), 0,
                 "%d operations on an event overlapped another on it", (int)event_overlaps);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

/* --- a create on a stream beside pages kept for frees made in stream order ---
 *
 * A page of its own destroyed on a stream is kept until the host has waited for the stream's
 * work (work queued before the destroy may still use it). A create on another stream that the
 * byte limit or the device then refuses tries again as the host's, which waits for that work
 * and frees the kept page: a host's create succeeded where a stream's was refused (found by a
 * review). */
static void a_stream_create_takes_back_a_page_kept_for_a_stream_free(int by_device)
{
    budget_bytes = 0;
    /* With events, T follows S's frees on the device: the host does not wait for S. */
    gpumem_device device = open_host_as(&events_table, "reclaim-events", with_counted_events);
    gpumem_pool_desc desc = {.page_size = 1 << 20, .byte_limit = by_device ? 0 : 3u << 20};
    gpumem_pool pool;
    cr_assert_eq(gpumem_pool_create(device, &desc, &pool), GPUMEM_OK);
    gpumem_stream s, t;
    cr_assert_eq(gpumem_stream_create(device, &s), GPUMEM_OK);
    cr_assert_eq(gpumem_stream_create(device, &t), GPUMEM_OK);
    gpumem_buffer kept = make(pool, 2 << 20); /* a page of its own */
    cr_assert_eq(gpumem_buffer_destroy_on_stream(kept, s), GPUMEM_OK); /* the page is kept */
    gpumem_pool_stats stats;
    cr_assert_eq(gpumem_pool_stats_get(pool, &stats), GPUMEM_OK);
    cr_assert_eq(stats.reserved_bytes, 2u << 20, "the page was not kept: the test tests nothing");
    if (by_device) /* the device's memory: the kept page and 1 MiB more */
        budget_bytes = 3u << 20;
    gpumem_buffer b = NULL;
    gpumem_buffer_desc large = {.size = 3 << 19};
    cr_expect_eq(gpumem_buffer_create_on_stream(pool, &large, t, &b), GPUMEM_OK,
                 "a create on a stream, refused by the %s beside a page kept for a free on "
                 "another stream: %s", by_device ? "device" : "byte limit", gpumem_last_error());
    budget_bytes = 0;
    if (b)
        cr_assert_eq(gpumem_buffer_destroy_on_stream(b, t), GPUMEM_OK);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    cr_expect_eq(budget_used, 0u, "the device kept %llu bytes", (unsigned long long)budget_used);
}

Test(reclaim, a_stream_create_over_the_byte_limit_takes_back_a_page_kept_for_a_stream_free)
{
    a_stream_create_takes_back_a_page_kept_for_a_stream_free(0);
}

Test(reclaim, a_stream_create_the_device_refuses_takes_back_a_page_kept_for_a_stream_free)
{
    a_stream_create_takes_back_a_page_kept_for_a_stream_free(1);
}
