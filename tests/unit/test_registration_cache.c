/* The registration cache (core/registration_cache.c) with the real memory hooks
 * (libgpumem-memhooks, linked into this program ahead of the C library) and a device whose
 * backend keeps a ledger of what it registered: every free, unmap, remap and page-dropping advice
 * of cached memory must end the registration before the memory could come back at that address,
 * and no transfer may ever be handed a registration whose memory went. The runtime itself (the
 * DMA through a registration, byte-exact after the memory was freed and allocated again) is
 * tests/cuda's. */
#include <criterion/criterion.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "device.h"
#include "gpumem/memhooks.h"
#include "registration_cache.h"
#include "sanitized.h"
#include "stream.h"

#define MIB (1ull << 20)

/* --- a backend with a ledger of registrations ---------------------------------------------- */

enum { LEDGER = 8192 };
static struct {
    uintptr_t begin[LEDGER], end[LEDGER];
    int live[LEDGER];
    int count;
    /* Atomic, so that a test reads them anew after a call: the C library declares free, realloc,
     * mmap, munmap, madvise and others `leaf` (they call nothing of this file), and the compiler
     * would keep a count read before such a call in a register, although the hooks reach the
     * ledger from inside it. (ledger_escapes, below, covers the other fields.) */
    _Atomic int registered, unregistered;
    int refuse; /* the next registration fails */
} ledger;
/* The ledger's address, taken: for the compiler, a leaf call may then change any field (live[]
 * too, which tests read after unmapping) through a pointer it cannot see. */
static void *volatile ledger_escapes __attribute__((used)) = &ledger;

/* copies_queued_on_many_threads_give_back_every_window: each thread's copy whose window is
 * open, its pages [first, end) in storm_region as (first << 32) | end; 0 when none. */
static char *storm_region;
static _Atomic uint64_t storm_open[3];

/* ledger_register's check: no registration over a copy's open window. */
static void expect_no_open_window_under(uintptr_t begin, uintptr_t end)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int t = 0; t < 3; t++) {
        uint64_t open = atomic_load(&storm_open[t]);
        uintptr_t b = (uintptr_t)storm_region + (open >> 32) * page,
                  e = (uintptr_t)storm_region + (open & UINT32_MAX) * page;
        cr_assert(!open || end <= b || e <= begin,
                  "registered [%#lx, %#lx) over a copy being queued over [%#lx, %#lx)",
                  (unsigned long)begin, (unsigned long)end, (unsigned long)b, (unsigned long)e);
    }
}

static gpumem_result ledger_register(gpumem_backend_device *device, void *host, uint64_t size,
                                     gpumem_backend_registration **out)
{
    (void)device;
    if (ledger.refuse) {
        ledger.refuse = 0;
        return GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
    }
    uintptr_t b = (uintptr_t)host, e = b + size;
    expect_no_open_window_under(b, e);
    for (int i = 0; i < ledger.count; i++) /* the runtimes refuse overlapping registrations */
        cr_assert(!ledger.live[i] || e <= ledger.begin[i] || ledger.end[i] <= b,
                  "registration [%#lx, %#lx) overlaps a live one", (unsigned long)b,
                  (unsigned long)e);
    cr_assert_lt(ledger.count, LEDGER);
    int i = ledger.count++;
    ledger.begin[i] = b;
    ledger.end[i] = e;
    ledger.live[i] = 1;
    ledger.registered++;
    *out = (gpumem_backend_registration *)(uintptr_t)(i + 1);
    return GPUMEM_OK;
}

static void ledger_unregister(gpumem_backend_device *device,
                              gpumem_backend_registration *registration)
{
    (void)device;
    int i = (int)(uintptr_t)registration - 1;
    cr_assert(i >= 0 && i < ledger.count && ledger.live[i], "unregistering %d twice or never", i);
    ledger.live[i] = 0;
    ledger.unregistered++;
}

static const gpumem_backend_vtable ledger_ops = {
    .host_register = ledger_register,
    .host_unregister = ledger_unregister,
};
/* No streams: the application's registration waits for the device's streams (an empty list). */
static gpumem_device_obj device = {.ops = &ledger_ops,
                                   .streams = {&device.streams, &device.streams}};


/* Only a sanitizer's free may keep the hooks from seeing this program's frees: anywhere else the
 * cache must turn on, and a test fails if it does not. */
static void budget(const char *bytes)
{
    setenv("GPUMEM_REGISTRATION_CACHE", bytes, 1);
#if TEST_SANITIZED
    if (!gpumem_registration_cache_enabled())
        cr_skip_test("libgpumem-memhooks does not see this program's free (a sanitizer's free "
                     "comes first): the cache stays off, as it must");
#else
    cr_assert(gpumem_registration_cache_enabled(),
              "the cache stayed off although libgpumem-memhooks is linked ahead of the C "
              "library: the hooks do not see free");
#endif
}

static gpumem_registration_cache_stats stats(void)
{
    gpumem_registration_cache_stats s;
    gpumem_registration_cache_stats_get(&s);
    return s;
}

static void *map(uint64_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    return p;
}

/* Takes and releases at once; returns whether it was a hit. */
static int use(const void *host, uint64_t size)
{
    uint64_t hits = stats().hits;
    gpumem_cached_registration *r = gpumem_registration_cache_take(&device, host, size, 1);
    cr_assert_not_null(r, "no registration for %llu bytes at %p", (unsigned long long)size,
                       host);
    gpumem_registration_cache_release(r);
    return stats().hits > hits;
}

/* --- on and off ---------------------------------------------------------------------------- */

Test(registration_cache, off_without_the_variable)
{
    unsetenv("GPUMEM_REGISTRATION_CACHE");
    cr_expect_not(gpumem_registration_cache_enabled());
    cr_expect_null(gpumem_registration_cache_take(&device, map(MIB), MIB, 1));
    cr_expect_eq(ledger.registered, 0);
}

Test(registration_cache, off_with_a_value_that_is_no_number)
{
    setenv("GPUMEM_REGISTRATION_CACHE", "1G", 1);
    cr_expect_not(gpumem_registration_cache_enabled());
}

/* --- the cache's set-up, its messages and the hooks' one listener ---------------------------- */

/* A log callback may call gpumem (gpumem.h); one that asks, on a message of the cache's set-up,
 * whether the cache is on must get its answer, not wait for ever on the set-up its own thread
 * is inside. Each of the set-up's messages: the variable's warning, the cache's "on", and the
 * warning that another listener is set. */
static _Atomic int setup_messages, answers_inside;
static void ask_from_the_log(void *user, int32_t level, const char *message)
{
    (void)user;
    (void)level;
    if (!strstr(message, "GPUMEM_REGISTRATION_CACHE") && !strstr(message, "registration cache"))
        return;
    setup_messages++;
    (void)gpumem_registration_cache_enabled();
    answers_inside++;
}

static void expect_setup_messages_answered(const char *budget_value)
{
    setenv("GPUMEM_REGISTRATION_CACHE", budget_value, 1);
    cr_assert_eq(gpumem_log_set_callback(ask_from_the_log, NULL), GPUMEM_OK);
    (void)gpumem_registration_cache_enabled(); /* sets up; a hang fails by the timeout */
    cr_assert_gt(setup_messages, 0, "the set-up sent no message: nothing was tested");
    cr_expect_eq(answers_inside, setup_messages);
    gpumem_log_set_callback(NULL, NULL);
}

Test(registration_cache, a_log_callback_may_ask_about_the_cache_on_its_warning, .timeout = 30)
{
    expect_setup_messages_answered("1G");
}

Test(registration_cache, a_log_callback_may_ask_about_the_cache_on_its_start, .timeout = 30)
{
#if TEST_SANITIZED
    cr_skip_test("under a sanitizer the cache does not start (its free comes first)");
#endif
    expect_setup_messages_answered("1073741824");
    cr_expect(gpumem_registration_cache_enabled());
}

static _Atomic int others_heard;
static void another_listener(void *address, size_t size)
{
    (void)address;
    (void)size;
    others_heard++;
}

static void a_third_listener(void *address, size_t size)
{
    (void)address;
    (void)size;
}

/* A second copy of libgpumem in the process finds the hooks telling the first: it must not take
 * the first one's place (which would then never hear of a free again, its registrations left in
 * place), and its cache stays off, saying why. */
Test(registration_cache, the_hooks_keep_their_first_listener, .timeout = 30)
{
    cr_assert_eq(gpumem_memhooks_listen(another_listener), GPUMEM_MEMHOOKS_VERSION);
    cr_expect_eq(gpumem_memhooks_listen(another_listener), GPUMEM_MEMHOOKS_VERSION,
                 "the same listener again");
    expect_setup_messages_answered("1073741824");
    cr_expect_not(gpumem_registration_cache_enabled());
    cr_expect_null(gpumem_registration_cache_take(&device, map(MIB), MIB, 1));
#if !TEST_SANITIZED /* a sanitizer's free comes before the hooks': they hear none */
    int heard = others_heard;
    void *(*volatile allocate)(size_t) = malloc;
    void (*volatile release)(void *) = free;
    release(allocate(100));
    cr_expect_gt(others_heard, heard, "the first listener no longer hears frees");
#endif
    cr_expect_eq(gpumem_memhooks_listen(a_third_listener), 0, "a second listener");
    cr_expect_eq(gpumem_memhooks_listen(NULL), GPUMEM_MEMHOOKS_VERSION);
    cr_expect_eq(gpumem_memhooks_listen(a_third_listener), GPUMEM_MEMHOOKS_VERSION,
                 "free to set once taken away");
    gpumem_memhooks_listen(NULL);
}

/* --- hits and registrations ---------------------------------------------------------------- */

Test(registration_cache, a_second_transfer_finds_its_memory_registered)
{
    budget("1073741824");
    char *p = map(16 * MIB);
    cr_expect_not(use(p + 100, 9 * MIB));
    cr_expect(use(p + 100, 9 * MIB));
    cr_expect(use(p + 4096, 4 * MIB), "a range inside a registration is a hit");
    cr_expect_eq(ledger.registered, 1);
    long page = sysconf(_SC_PAGESIZE);
    cr_expect_eq(ledger.begin[0], (uintptr_t)p, "registrations cover whole pages");
    cr_expect_eq(ledger.end[0], ((uintptr_t)p + 100 + 9 * MIB + page - 1) & ~(uintptr_t)(page - 1));
}

Test(registration_cache, a_refused_registration_is_no_registration)
{
    budget("1073741824");
    char *p = map(8 * MIB);
    ledger.refuse = 1;
    cr_expect_null(gpumem_registration_cache_take(&device, p, 8 * MIB, 1));
    cr_expect_eq(stats().registrations, 0);
    cr_expect_not(use(p, 8 * MIB));
    cr_expect_eq(ledger.registered, 1);
}

Test(registration_cache, past_the_budget_new_memory_is_staged_and_nothing_is_evicted)
{
    budget("25165824"); /* three 8 MiB registrations */
    char *a = map(8 * MIB), *b = map(8 * MIB), *c = map(8 * MIB), *d = map(8 * MIB);
    use(a, 8 * MIB);
    use(b, 8 * MIB);
    use(c, 8 * MIB);
    cr_expect_null(gpumem_registration_cache_take(&device, d, 8 * MIB, 1));
    gpumem_registration_cache_stats s = stats();
    cr_expect_eq(s.evicted, 0);
    cr_expect_eq(s.registered_bytes, 24 * MIB);
    cr_expect(use(a, 8 * MIB));
    cr_expect(use(b, 8 * MIB));
    cr_expect(use(c, 8 * MIB));
    munmap(b, 8 * MIB); /* memory that goes makes room */
    cr_expect_not(use(d, 8 * MIB));
    cr_expect_eq(ledger.registered - ledger.unregistered, 3);
    cr_expect_null(gpumem_registration_cache_take(&device, map(32 * MIB), 32 * MIB, 1),
                   "a range over the whole budget is not cached");
}

Test(registration_cache, only_a_hit_when_asked_for_no_registration)
{
    budget("1073741824");
    char *p = map(8 * MIB);
    cr_expect_null(gpumem_registration_cache_take(&device, p, 8 * MIB, 0));
    cr_expect_eq(ledger.registered, 0);
    use(p, 8 * MIB);
    gpumem_cached_registration *r = gpumem_registration_cache_take(&device, p, 8 * MIB, 0);
    cr_expect_not_null(r);
    gpumem_registration_cache_release(r);
}

Test(registration_cache, an_overlapping_range_is_not_registered)
{
    budget("1073741824");
    char *p = map(16 * MIB);
    use(p, 8 * MIB);
    cr_expect_null(gpumem_registration_cache_take(&device, p + 4 * MIB, 8 * MIB, 1));
    cr_expect_null(gpumem_registration_cache_take(&device, p + 8 * MIB - 1, 8 * MIB, 1),
                   "sharing one page is overlapping");
    cr_expect_eq(ledger.registered, 1);
    cr_expect(use(p + 4096, MIB), "the first registration stands");
}

Test(registration_cache, a_registration_in_use_stays)
{
    budget("8388608");
    char *a = map(8 * MIB), *b = map(8 * MIB);
    gpumem_cached_registration *r = gpumem_registration_cache_take(&device, a, 8 * MIB, 1);
    cr_assert_not_null(r);
    cr_expect_null(gpumem_registration_cache_take(&device, b, 8 * MIB, 1));
    gpumem_registration_cache_release(r);
    cr_expect(use(a, 8 * MIB));
    cr_expect_eq(ledger.unregistered, 0);
}

/* --- memory that goes ---------------------------------------------------------------------- */

/* Each way the application gives memory back ends the registration with the runtime before it
 * returns: the runtimes key registrations by address, so one still in place when memory comes
 * back at that address would have the device copy from and to the pages the memory had. The
 * next transfer of that range registers anew. */
static void expect_invalidated_by(void (*give_back)(char *p, uint64_t size))
{
    budget("1073741824");
    uint64_t size = 16 * MIB;
    char *p = map(size);
    use(p, size);
    cr_expect(use(p, size));
    give_back(p, size);
    gpumem_registration_cache_stats s = stats();
    cr_expect_eq(s.invalidated, 1);
    cr_expect_eq(ledger.unregistered, 1, "the registration is ended before the memory goes");
    cr_expect_eq(s.registrations, 0);
    char *q = map(size);
    cr_expect_not(use(q, size), "memory mapped again must be registered again");
    cr_expect_eq(ledger.unregistered, 1);
}

static void by_munmap(char *p, uint64_t size) { munmap(p + size / 2, 4096); }
static void by_dontneed(char *p, uint64_t size) { madvise(p, size, MADV_DONTNEED); }
static void by_free_advice(char *p, uint64_t size) { madvise(p + 8192, 4096, MADV_FREE); }
static void by_map_fixed(char *p, uint64_t size)
{
    cr_assert_neq(mmap(p, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                       -1, 0),
                  MAP_FAILED);
}
static void by_mremap(char *p, uint64_t size)
{
    cr_assert_neq(mremap(p, size, 2 * size, MREMAP_MAYMOVE), MAP_FAILED);
}

Test(registration_cache, munmap_ends_it) { expect_invalidated_by(by_munmap); }

/* The kernel acts on whole pages: a call whose length ends inside a page takes the whole page,
 * with the transfer's bytes on it, though the call's own bytes end before them. */
static void expect_a_short_call_ends_it(int unmap)
{
    budget("1073741824");
    char *p = map(16 * MIB);
    use(p + 200, 8 * MIB);
    if (unmap)
        munmap(p, 100);
    else
        madvise(p, 100, MADV_DONTNEED);
    cr_expect_eq(ledger.unregistered, 1, "a call of 100 bytes took the page with the bytes");
    cr_expect_eq(stats().registrations, 0);
}

Test(registration_cache, a_short_munmap_ends_it) { expect_a_short_call_ends_it(1); }
Test(registration_cache, a_short_page_dropping_advice_ends_it) { expect_a_short_call_ends_it(0); }

/* A transfer of part of an array, then of all of it (a view, then the whole): the second
 * finds the first's registration, which covers the same pages. */
Test(registration_cache, a_wider_transfer_within_the_pages_finds_the_registration)
{
    budget("1073741824");
    char *p = map(8 * MIB);
    cr_expect_not(use(p + 1, 8 * MIB - 1));
    cr_expect(use(p, 8 * MIB));
    cr_expect(use(p + 4096, 4 * MIB));
    cr_expect_eq(ledger.registered, 1);
}
Test(registration_cache, madvise_dontneed_ends_it) { expect_invalidated_by(by_dontneed); }
Test(registration_cache, madvise_free_ends_it) { expect_invalidated_by(by_free_advice); }
Test(registration_cache, mmap_over_it_ends_it) { expect_invalidated_by(by_map_fixed); }
Test(registration_cache, mremap_ends_it) { expect_invalidated_by(by_mremap); }

Test(registration_cache, advice_that_keeps_the_pages_does_not)
{
    budget("1073741824");
    char *p = map(8 * MIB);
    use(p, 8 * MIB);
    madvise(p, 8 * MIB, MADV_WILLNEED);
    madvise(p, 8 * MIB, MADV_SEQUENTIAL);
    cr_expect(use(p, 8 * MIB));
    cr_expect_eq(stats().invalidated, 0);
}

/* malloc's large blocks are mappings of their own: free unmaps them inside the C library, which
 * only the free hook sees. The next malloc of the size usually gets the same address. */
Test(registration_cache, free_and_realloc_end_it)
{
    budget("1073741824");
    for (int round = 0; round < 2; round++) {
        char *p = malloc(24 * MIB);
        cr_assert_not_null(p);
        memset(p, round, 24 * MIB);
        cr_expect_not(use(p, 24 * MIB), "round %d", round);
        cr_expect(use(p, 24 * MIB));
        if (round == 0) {
            free(p);
        } else {
            char *moved = realloc(p, 48 * MIB);
            cr_assert_not_null(moved);
            cr_expect_eq(ledger.unregistered, 2, "realloc ends it before it moves the memory");
            free(moved);
        }
        cr_expect_eq(stats().invalidated, (uint64_t)round + 1);
        cr_expect_eq(ledger.unregistered, round + 1);
    }
}

/* Whether a transfer of [host, host + size) on device `on` must go by the CPU (no rows
 * between). */
static int by_cpu_on(const gpumem_device_obj *on, const void *host, uint64_t size)
{
    gpumem_queued_transfer queued;
    int answer = gpumem_registration_cache_queue_begin(on, host, size, 0, &queued);
    gpumem_registration_cache_queued(&queued);
    return answer;
}

static int by_cpu(const void *host, uint64_t size)
{
    return by_cpu_on(&device, host, size);
}

/* A heap block of 8 MiB and a small one on its last page (the allocator's choice: NULL when it
 * put none there). */
static char *heap_block_with_a_neighbour(char **neighbour, char **others, int count)
{
    cr_assert(mallopt(M_MMAP_THRESHOLD, 512 << 20), "mallopt");
    long page = sysconf(_SC_PAGESIZE);
    char *a = malloc(8 * MIB);
    cr_assert_not_null(a);
    uintptr_t last = ((uintptr_t)a + 8 * MIB - 1) / (uintptr_t)page;
    *neighbour = NULL;
    for (int i = 0; i < count; i++) {
        others[i] = malloc(1000);
        cr_assert_not_null(others[i]);
        if (!*neighbour && (uintptr_t)others[i] / (uintptr_t)page == last)
            *neighbour = others[i];
    }
    return a;
}

/* A page given back ends a registration exactly when it holds one of the bytes the registration
 * was made for: random registrations whose bytes start and end a byte before, at or after a page
 * boundary, each with one page unmapped, most often a page at either edge of the bytes. Both the
 * search the listener makes without the lock and the one under it are on this path. */
Test(registration_cache, a_page_given_back_ends_a_registration_exactly_when_it_holds_its_bytes)
{
    budget("1073741824");
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uint64_t state = 0x853c49e6748fea9bull;
    int ended_at_an_edge = 0, kept_at_an_edge = 0;
    for (int round = 0; round < 300; round++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t rnd = (uint32_t)(state >> 33);
        char *region = map(8 * page);
        uintptr_t first = (uintptr_t)region + 2 * page + (rnd % 3) - 1;        /* -1, 0, +1 */
        uintptr_t end = (uintptr_t)region + 5 * page + ((rnd >> 2) % 3) - 1;   /* -1, 0, +1 */
        gpumem_cached_registration *made =
            gpumem_registration_cache_take(&device, (void *)first, end - first, 1);
        cr_assert_not_null(made, "round %d: not registered", round);
        gpumem_registration_cache_release(made);
        /* the pages that hold the first byte, the one before it, the last byte, the one after
         * the last byte, or any */
        uintptr_t picks[5] = {first & ~(page - 1), (first - 1) & ~(page - 1),
                              (end - 1) & ~(page - 1), end & ~(page - 1),
                              (uintptr_t)region + ((rnd >> 8) % 8) * page};
        uintptr_t gone = picks[(rnd >> 4) % 5];
        int holds = gone < end && first < gone + page;
        int before = ledger.unregistered;
        munmap((void *)gone, page);
        cr_assert_eq(ledger.unregistered - before, holds,
                     "round %d: bytes [+%ld, +%ld) of the region, page +%ld given back: %s",
                     round, (long)(first - (uintptr_t)region), (long)(end - (uintptr_t)region),
                     (long)(gone - (uintptr_t)region),
                     holds ? "it holds some, and the registration stayed"
                           : "it holds none, and the registration ended");
        if ((rnd >> 4) % 5 < 4)
            *(holds ? &ended_at_an_edge : &kept_at_an_edge) += 1;
        munmap(region, 8 * page);
        cr_assert_eq(stats().registrations, 0);
    }
    cr_expect_gt(ended_at_an_edge, 20);
    cr_expect_gt(kept_at_an_edge, 20);
}

/* A registration covers the whole pages of its transfer's bytes; other allocations may share its
 * first and last page. Their free leaves the page (it backs the transfer's bytes still), so it
 * must leave the registration: ending it could pull memory from under a copy on a stream into
 * the transfer's bytes. Heap blocks (below the mmap threshold) sit side by side. */
Test(registration_cache, a_neighbours_free_on_a_shared_page_leaves_it)
{
    budget("1073741824");
    char *neighbour, *others[64];
    char *a = heap_block_with_a_neighbour(&neighbour, others, 64);
    if (!neighbour)
        cr_skip_test("the allocator put no small block on the 8 MiB block's last page");
    cr_expect_not(by_cpu(neighbour, 1000), "nothing registered yet");
    cr_expect_not(use(a, 8 * MIB));
    cr_expect(use(a, 8 * MIB));
    /* The runtime would copy the neighbour through the registration, which the block's free
     * ends: by the CPU. */
    cr_expect(by_cpu(neighbour, 1000));
    cr_expect_not(by_cpu(a, 8 * MIB), "the registration's own bytes");
    for (int i = 0; i < 64; i++)
        others[i] = others[i] == neighbour ? NULL : others[i];
    free(neighbour);
    cr_expect_eq(ledger.unregistered, 0, "a neighbour's free ended the registration");
    cr_expect(use(a, 8 * MIB), "the registration stands");
    cr_expect_null(gpumem_registration_cache_take(&device, a + 8 * MIB - 2000, 8 * MIB + 3000, 0),
                   "bytes past the transfer's are not found registered");
    free(a);
    cr_expect_eq(ledger.unregistered, 1, "its own free ends it");
    cr_expect_eq(stats().registrations, 0);
    for (int i = 0; i < 64; i++)
        free(others[i]);
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

Test(registration_cache, freed_while_in_use_it_ends_on_release)
{
    budget("1073741824");
    char *p = map(8 * MIB);
    gpumem_cached_registration *r = gpumem_registration_cache_take(&device, p, 8 * MIB, 1);
    cr_assert_not_null(r);
    munmap(p, 8 * MIB);
    cr_expect_eq(ledger.unregistered, 0, "a transfer still uses it");
    gpumem_registration_cache_release(r);
    cr_expect_eq(ledger.unregistered, 1);
    cr_expect_eq(stats().registrations, 0);
}

/* Memory freed while the runtime registers it (another thread's transfer of memory the
 * application frees: its own mistake) is ended as soon as the registration returns. */
static char *registering_region;
static gpumem_result unmap_while_registering(gpumem_backend_device *d, void *host, uint64_t size,
                                             gpumem_backend_registration **out)
{
    gpumem_result r = ledger_register(d, host, size, out);
    munmap(registering_region, 4096);
    return r;
}

Test(registration_cache, freed_while_being_registered_it_ends_once_registered)
{
    budget("1073741824");
    static const gpumem_backend_vtable racing = {.host_register = unmap_while_registering,
                                                 .host_unregister = ledger_unregister};
    gpumem_device_obj racer = {.ops = &racing};
    registering_region = map(8 * MIB);
    cr_expect_null(gpumem_registration_cache_take(&racer, registering_region, 8 * MIB, 1),
                   "memory that went is no registration");
    cr_expect_eq(ledger.registered, 1);
    cr_expect_eq(ledger.unregistered, 1);
    gpumem_registration_cache_stats st = stats();
    cr_expect_eq(st.registrations, 0);
    cr_expect_eq(st.registered, 1, "made, then ended: counted as both");
    cr_expect_eq(st.invalidated, 1);
}

Test(registration_cache, the_applications_registration_takes_the_place_of_the_caches)
{
    budget("1073741824");
    char *p = map(16 * MIB);
    use(p, 8 * MIB);
    use(p + 8 * MIB, 8 * MIB);
    gpumem_cached_registration *r = gpumem_registration_cache_take(&device, p, 8 * MIB, 1);
    cr_expect_not(gpumem_registration_cache_evict(&device, p + 4096, 4096),
                  "in use by a transfer");
    gpumem_registration_cache_release(r);
    cr_expect(gpumem_registration_cache_evict(&device, p + 4096, 4096));
    cr_expect_eq(stats().registrations, 1, "only the overlapping one went");
    cr_expect(use(p + 8 * MIB, 8 * MIB));
}

/* The memory's going ends the registrations of every device that has one of it. */
Test(registration_cache, the_memorys_going_ends_every_devices_registration)
{
    budget("1073741824");
    gpumem_device_obj other = {.ops = &ledger_ops};
    char *p = map(16 * MIB);
    use(p, 8 * MIB);
    gpumem_cached_registration *r = gpumem_registration_cache_take(&other, p + 8 * MIB, 8 * MIB, 1);
    cr_assert_not_null(r);
    gpumem_registration_cache_release(r);
    munmap(p, 16 * MIB);
    cr_expect_eq(ledger.unregistered, 2);
    cr_expect_eq(stats().registrations, 0);
}

/* A device's close waits for a registration of it that another thread's free is ending: that
 * free calls into the device's runtime. */
static gpumem_backend_vtable slow_ops;
static _Atomic int unregistering;
static void slow_unregister(gpumem_backend_device *d, gpumem_backend_registration *registration)
{
    atomic_store(&unregistering, 1);
    usleep(200 * 1000);
    ledger_unregister(d, registration);
    atomic_store(&unregistering, 2);
}

static void *unmap_thread(void *p)
{
    munmap(p, 8 * MIB);
    return NULL;
}

static void *unmap_a_page_thread(void *p)
{
    munmap((char *)p + 4 * MIB, 4096);
    return NULL;
}

/* Two threads give back bytes of one registration at once: the second must not return while
 * the first is still ending it (its pages would go with the runtime holding them). */
/* Registers 8 MiB of new memory on `slow` (whose unregister takes 200 ms), starts a thread
 * that gives back (part of) it, and returns once that thread is inside the unregister. */
static char *slow_ending_started(gpumem_device_obj *slow, void *(*give_back)(void *),
                                 pthread_t *thread)
{
    budget("1073741824");
    slow_ops = (gpumem_backend_vtable){.host_register = ledger_register,
                                       .host_unregister = slow_unregister};
    *slow = (gpumem_device_obj){.ops = &slow_ops};
    char *p = map(8 * MIB);
    gpumem_registration_cache_release(gpumem_registration_cache_take(slow, p, 8 * MIB, 1));
    cr_assert_eq(pthread_create(thread, NULL, give_back, p), 0);
    for (int waited = 0; !atomic_load(&unregistering); waited++) {
        cr_assert_lt(waited, 5000, "the unmap did not end the registration");
        usleep(1000);
    }
    return p;
}

Test(registration_cache, a_second_free_waits_for_the_first_to_end_the_registration)
{
    gpumem_device_obj slow;
    pthread_t thread;
    char *p = slow_ending_started(&slow, unmap_a_page_thread, &thread);
    madvise(p, 8 * MIB, MADV_DONTNEED);
    cr_expect_eq(atomic_load(&unregistering), 2,
                 "the advice returned while the registration was being ended");
    cr_expect_eq(ledger.unregistered, 1);
    pthread_join(thread, NULL);
}

Test(registration_cache, a_devices_close_waits_for_a_free_that_ends_its_registration)
{
    gpumem_device_obj slow;
    pthread_t thread;
    slow_ending_started(&slow, unmap_thread, &thread);
    gpumem_registration_cache_drop(&slow);
    cr_expect_eq(atomic_load(&unregistering), 2, "the close returned while its runtime was called");
    pthread_join(thread, NULL);
    cr_expect_eq(ledger.unregistered, 1);
}

Test(registration_cache, closing_the_device_ends_its_registrations)
{
    budget("1073741824");
    use(map(8 * MIB), 8 * MIB);
    use(map(8 * MIB), 8 * MIB);
    gpumem_registration_cache_drop(&device);
    cr_expect_eq(ledger.unregistered, 2);
    cr_expect_eq(stats().registered_bytes, 0);
}

/* Forks; the child runs `body`. Whether the child found `body` true (its exit status 0). */
static int in_child(int (*body)(void))
{
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0)
        _exit(body() ? 0 : 1);
    int status = 0;
    cr_assert_eq(waitpid(child, &status, 0), child);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static char *child_unmapped;

/* In the child: no registrations, and the listener runs (an unmap) without waiting. */
static int child_forgets(void)
{
    gpumem_registration_cache_stats s;
    gpumem_registration_cache_stats_get(&s);
    munmap(child_unmapped, 8 * MIB);
    return s.registrations == 0 && s.registered_bytes == 0;
}

static int exit_at_once(void)
{
    return 1;
}

/* A child of fork has no registrations (the runtimes do not carry them over), and its frees do
 * not wait for a lock some thread of the parent held at the fork. */
Test(registration_cache, a_forked_child_forgets_the_registrations)
{
    budget("1073741824");
    char *p = map(8 * MIB);
    use(p, 8 * MIB);
    child_unmapped = p;
    cr_expect(in_child(child_forgets), "the child still held registrations");
    cr_expect(use(p, 8 * MIB), "the parent's registration stands");
}

/* Other libraries' fork handlers run while the cache holds its lock around the fork (and, in the
 * child, before the cache's own handler): when they give back registered memory, the listener
 * must not wait for that lock, and marks the registrations for the next take to end. These
 * handlers are registered before the cache's, so they run after its prepare handler and before
 * its child handler. Each gives back a page of its own that a registration was made for (memory
 * that holds no registered bytes never reaches the lock). */
static char *fork_garbage[3];
static void give_back_fork_garbage(int i) { munmap(fork_garbage[i], (size_t)sysconf(_SC_PAGESIZE)); }
static void give_back_in_prepare(void) { give_back_fork_garbage(0); }
static void give_back_in_parent(void) { give_back_fork_garbage(1); }
static void give_back_in_child(void) { give_back_fork_garbage(2); }

Test(registration_cache, fork_handlers_that_give_back_registered_memory_do_not_deadlock,
     .timeout = 20)
{
    cr_assert_eq(pthread_atfork(give_back_in_prepare, give_back_in_parent, give_back_in_child), 0);
    budget("1073741824");
    for (int i = 0; i < 3; i++)
        use(fork_garbage[i] = map((uint64_t)sysconf(_SC_PAGESIZE)), 64);
    char *p = map(8 * MIB);
    use(p, 8 * MIB);
    int ended = ledger.unregistered;
    cr_expect(in_child(exit_at_once));
    cr_expect_eq(ledger.unregistered, ended, "ended inside the fork, under the cache's lock");
    cr_expect(use(p, 8 * MIB));
    cr_expect_eq(ledger.unregistered - ended, 2,
                 "the next take did not end the registrations of the memory the parent's "
                 "handlers gave back");
    cr_expect_eq(stats().registrations, 2); /* p's, and the page only the child gave back */
}

/* A fork's child forgets the copies being queued. A copy of the forking thread that opened its
 * window before the fork and lets it go in the child must not let go of the window the child's
 * own copy took in that entry since: the child still has all 64, one taken. */
static gpumem_queued_transfer parents_copy;
static char *child_copies_memory;

static int child_keeps_its_window(void)
{
    gpumem_queued_transfer mine, many[64];
    if (gpumem_registration_cache_queue_begin(&device, child_copies_memory, 100, 0, &mine))
        return 0;
    gpumem_registration_cache_queued(&parents_copy);
    int ok = 1;
    for (int i = 0; i < 63; i++)
        ok &= !gpumem_registration_cache_queue_begin(&device, child_copies_memory, 100, 0,
                                                     &many[i]);
    ok &= gpumem_registration_cache_queue_begin(&device, child_copies_memory, 100, 0, &many[63]);
    return ok;
}

Test(registration_cache, a_copy_queued_across_a_fork_leaves_the_childs_window_alone)
{
    budget("1073741824");
    child_copies_memory = map(MIB);
    cr_assert_not(gpumem_registration_cache_queue_begin(&device, child_copies_memory, 100, 0,
                                                        &parents_copy));
    cr_expect(in_child(child_keeps_its_window),
              "the parent's copy let go of the window the child's copy held");
    gpumem_registration_cache_queued(&parents_copy);
    gpumem_queued_transfer many[65];
    for (int i = 0; i < 64; i++)
        cr_expect_not(gpumem_registration_cache_queue_begin(&device, child_copies_memory, 100, 0,
                                                            &many[i]));
    cr_expect(gpumem_registration_cache_queue_begin(&device, child_copies_memory, 100, 0,
                                                    &many[64]));
    for (int i = 0; i < 65; i++)
        gpumem_registration_cache_queued(&many[i]);
}

/* --- random sequences against a model ------------------------------------------------------ */

/* One step of a random model over `count` regions of `pages` pages each: a random word, a
 * region, and a run of whole pages in it (from `first`, `count` of them, `bytes` long, at `at`). */
typedef struct model_step {
    uint32_t rnd;
    int region;
    uint64_t first, count, bytes;
    char *at;
} model_step;

static model_step model_next(uint64_t *state, char *const *regions, int region_count,
                             uint64_t pages)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    model_step m = {.rnd = (uint32_t)(*state >> 33)};
    m.region = (int)(m.rnd % (uint32_t)region_count);
    m.first = (m.rnd >> 4) % pages;
    m.count = 1 + (m.rnd >> 12) % (pages - m.first);
    m.at = regions[m.region] + m.first * page;
    m.bytes = m.count * page;
    return m;
}

/* A hit of a transfer of [from, from + size) in `region` at `step`: the one live registration
 * that covers it (in the ledger) must have been made (at made_step[entry]) after the last time
 * any of its pages went (went[page of the region]): else it would copy pages that went. */
static void expect_hit_on_memory_that_stayed(int step, const char *region, const int *went,
                                             const char *from, uint64_t size,
                                             const int *made_step)
{
    int found = -1;
    for (int i = 0; i < ledger.count; i++)
        if (ledger.live[i] && ledger.begin[i] <= (uintptr_t)from &&
            (uintptr_t)from + size <= ledger.end[i])
            found = i;
    cr_assert_geq(found, 0, "a hit with no live registration under it");
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    for (uint64_t p = (uint64_t)(from - region) / page;
         p <= (uint64_t)(from + size - 1 - region) / page; p++)
        cr_assert_lt(went[p], made_step[found],
                     "step %d: a hit on page %llu, which went at step %d, after the "
                     "registration was made at step %d",
                     step, (unsigned long long)p, went[p], made_step[found]);
}

/* A synchronous transfer's take in a random model at `step`: a hit is checked
 * (expect_hit_on_memory_that_stayed), a new registration's step noted in made_step. */
static gpumem_cached_registration *model_take(int step, const char *region, const int *went,
                                              char *from, uint64_t size, int *made_step)
{
    uint64_t hits = stats().hits;
    int before = ledger.registered;
    gpumem_cached_registration *c = gpumem_registration_cache_take(&device, from, size, 1);
    if (c && stats().hits > hits) {
        expect_hit_on_memory_that_stayed(step, region, went, from, size, made_step);
    } else if (c) {
        cr_assert_eq(ledger.registered, before + 1);
        made_step[ledger.count - 1] = step;
    }
    return c;
}

/* Random takes, frees, unmaps of parts, page-dropping advice and maps over, on a few regions:
 * every hit must be a registration made after the last time any byte of its range went, and
 * the backend never holds two overlapping registrations (the ledger checks that). */
Test(registration_cache, random_operations_never_reuse_a_registration_of_memory_that_went)
{
    budget("67108864");
    enum { REGIONS = 6, STEPS = 4000 };
    const uint64_t region_size = 12 * MIB;
    char *regions[REGIONS];
    /* The step at which each page last went (or was mapped), per region: a hit over a page that
     * went after the registration was made would be data loss. */
    long page = sysconf(_SC_PAGESIZE);
    uint64_t pages = region_size / (uint64_t)page;
    int *went[REGIONS];
    for (int i = 0; i < REGIONS; i++) {
        regions[i] = map(region_size);
        went[i] = calloc(pages, sizeof(int));
        cr_assert_not_null(went[i]);
    }
    static int registered_step[LEDGER];
    uint64_t state = 0x9e3779b97f4a7c15ull;
    for (int step = 1; step <= STEPS; step++) {
        model_step m = model_next(&state, regions, REGIONS, pages);
        uint32_t rnd = m.rnd;
        int r = m.region;
        uint64_t first = m.first, count = m.count, bytes = m.bytes;
        char *at = m.at;
        /* System calls of a length that ends inside their last page (the kernel takes it whole). */
        uint64_t short_by = (rnd >> 20) % (uint64_t)page;
        uint64_t call_bytes = bytes - short_by;
        switch ((rnd >> 24) % 8) {
        case 0:
            munmap(at, call_bytes);
            cr_assert_neq(mmap(at, bytes, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
                          MAP_FAILED);
            break;
        case 1:
            madvise(at, call_bytes, MADV_DONTNEED);
            break;
        default: {
            /* A transfer: a range of at least 8 MiB when the region has it. */
            uint64_t size = bytes < 8 * MIB ? region_size - first * (uint64_t)page : bytes;
            if (size > region_size - first * (uint64_t)page)
                size = region_size - first * (uint64_t)page;
            /* Half of the transfers start inside their first page and end inside their last:
             * the bytes, not whole pages, make and end registrations. */
            char *from = at;
            if ((rnd >> 8) & 1) {
                uint64_t skew = 1 + (rnd >> 14) % ((uint64_t)page - 1);
                from += skew;
                size -= skew + (size > skew + 1 ? short_by % (size - skew) : 0);
            }
            gpumem_registration_cache_release(
                model_take(step, regions[r], went[r], from, size, registered_step));
            continue;
        }
        }
        for (uint64_t p = first; p < first + count; p++)
            went[r][p] = step;
        /* No transfer holds one now: the runtime keeps no registration of memory that went. */
        for (int i = 0; i < ledger.count; i++)
            cr_assert(!ledger.live[i] || ledger.end[i] <= (uintptr_t)at ||
                          (uintptr_t)at + bytes <= ledger.begin[i],
                      "step %d: memory went at %p (%llu bytes), and the runtime still holds a "
                      "registration of it", step, (void *)at, (unsigned long long)bytes);
    }
    for (int i = 0; i < REGIONS; i++)
        free(went[i]);
}

/* Random registrations of many small ranges, each made, hit and ended (by an unmap of one of
 * its pages) against a model of which are registered: the table fills (a 65th registration
 * finds no slot, and the transfer goes as without the cache), empties and refills in random
 * orders, and the cache's searches, which visit the slots it knows are taken, always find what
 * the model says is there. */
Test(registration_cache, random_registrations_fill_and_empty_every_slot)
{
    budget("1073741824");
    enum { RANGES = 80, RANGE_PAGES = 4, STEPS = 3000, SLOTS = 64 };
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), span = RANGE_PAGES * page;
    char *region = map(RANGES * span);
    int registered[RANGES] = {0}, live = 0, refused = 0, fewest_after_full = SLOTS;
    char *made_from[RANGES]; /* the bytes of the transfer that registered it */
    uint64_t made_size[RANGES];
    uint64_t state = 0x2545f4914f6cdd1dull;
    for (int step = 1; step <= STEPS; step++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t rnd = (uint32_t)(state >> 33);
        int r = (int)(rnd % RANGES);
        char *at = region + (uint64_t)r * span;
        /* the bytes of a transfer: inside the range's pages, from its first byte or a few on */
        char *from = at + (rnd >> 8) % 64;
        uint64_t size = span - (uint64_t)(from - at) - (rnd >> 16) % 64;
        /* Phases of 500 steps: one that mostly registers, one that mostly ends. */
        int draining = (step / 500) % 2;
        if ((rnd >> 24) % 16 < (draining ? 15u : 2u)) { /* the memory goes: its registration too */
            int before = ledger.unregistered;
            munmap(at + ((rnd >> 28) % RANGE_PAGES) * page, page);
            cr_assert_neq(mmap(at, span, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
                          MAP_FAILED);
            cr_assert_eq(ledger.unregistered, before + registered[r],
                         "step %d: range %d went, and %d registrations ended", step, r,
                         ledger.unregistered - before);
            live -= registered[r];
            registered[r] = 0;
            continue;
        }
        uint64_t hits = stats().hits;
        int made = ledger.registered;
        gpumem_cached_registration *c = gpumem_registration_cache_take(&device, from, size, 1);
        if (registered[r]) {
            cr_assert(c && stats().hits == hits + 1, "step %d: range %d is registered, no hit",
                      step, r);
        } else if (live < SLOTS) {
            cr_assert(c && ledger.registered == made + 1,
                      "step %d: range %d not registered with %d of %d slots taken", step, r,
                      live, SLOTS);
            registered[r] = 1;
            live++;
            made_from[r] = from;
            made_size[r] = size;
        } else {
            cr_assert(!c && ledger.registered == made,
                      "step %d: a registration past the %d slots", step, SLOTS);
            refused++;
        }
        gpumem_registration_cache_release(c);
        cr_assert_eq(stats().registrations, (uint64_t)live, "step %d", step);
        /* A copy left to the runtime must hold all of the bytes the registration was made for. */
        int holds = registered[r] && from <= made_from[r] &&
                    made_from[r] + made_size[r] <= from + size;
        cr_assert_eq(by_cpu(from, size), registered[r] && !holds,
                     "step %d: range %d, %llu bytes at +%d", step, r, (unsigned long long)size,
                     (int)(from - at));
        cr_assert_eq(by_cpu(at + span - 1, 1), registered[r],
                     "step %d: the last byte of range %d", step, r);
        if (refused && live < fewest_after_full)
            fewest_after_full = live;
    }
    cr_expect_gt(refused, 0, "the table never filled");
    cr_expect_leq(fewest_after_full, 4, "the table never emptied after it filled");
}

/* Copies queued on three threads at once, beside registrations made, hit and ended on this one:
 * a copy lets its window go without the lock, and none may be lost or kept. Afterwards the 64
 * windows are all free again (64 copies queue at once, the 65th goes by the CPU), and the ledger
 * saw no overlap and no second end. */
static _Atomic int storm_over;
static _Atomic long storm_copies;

static void *queue_copies(void *seed)
{
    int me = (int)(uintptr_t)seed - 1;
    uint64_t state = (uintptr_t)seed, page = (uint64_t)sysconf(_SC_PAGESIZE);
    long copies = 0;
    while (!atomic_load_explicit(&storm_over, memory_order_relaxed)) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t at = (state >> 33) % (32 * MIB), size = 1 + (state >> 17) % (2 * MIB);
        gpumem_queued_transfer queued;
        if (!gpumem_registration_cache_queue_begin(&device, storm_region + at, size, 0,
                                                   &queued)) {
            /* Its window is open from inside queue_begin: published a little later. */
            atomic_store(&storm_open[me], (at / page) << 32 | (at + size + page - 1) / page);
            for (volatile int spin = 0; spin < 2000; spin++)
                ;
            atomic_store(&storm_open[me], 0);
        }
        gpumem_registration_cache_queued(&queued);
        copies++;
    }
    atomic_fetch_add(&storm_copies, copies);
    return NULL;
}

Test(registration_cache, copies_queued_on_many_threads_give_back_every_window)
{
    budget("1073741824");
    storm_region = map(34 * MIB);
    pthread_t threads[3];
    for (uintptr_t i = 0; i < 3; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, queue_copies, (void *)(i + 1)), 0);
    uint64_t state = 7;
    for (int step = 0; step < 8000; step++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        char *at = storm_region + ((state >> 33) % 32) * MIB;
        if ((state >> 20) % 4 == 0) {
            munmap(at, 4096);
            cr_assert_neq(mmap(at, 4096, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
                          MAP_FAILED);
        } else {
            gpumem_registration_cache_release(
                gpumem_registration_cache_take(&device, at, MIB, 1));
        }
    }
    atomic_store(&storm_over, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(threads[i], NULL);
    cr_expect_gt(atomic_load(&storm_copies), 1000, "the threads queued few copies");
    cr_expect_gt(ledger.registered, 10, "few registrations were made beside them");
    char *elsewhere = map(MIB);
    gpumem_queued_transfer many[65];
    for (int i = 0; i < 64; i++)
        cr_expect_not(gpumem_registration_cache_queue_begin(&device, elsewhere, 100, 0, &many[i]),
                      "copy %d of 64: a window was never given back", i);
    cr_expect(gpumem_registration_cache_queue_begin(&device, elsewhere, 100, 0, &many[64]));
    for (int i = 0; i < 65; i++)
        gpumem_registration_cache_queued(&many[i]);
}

/* Three threads: B ends registration I (slowly), the main thread's advice over I and J waits for
 * it, and meanwhile D starts ending J, whose slot the main thread's wait had passed. The advice
 * must not return before J is ended too. */
static _Atomic int endings_running, endings_started, endings_overlapped;
static void counted_slow_unregister(gpumem_backend_device *d,
                                    gpumem_backend_registration *registration)
{
    if (atomic_fetch_add(&endings_running, 1) > 0)
        atomic_store(&endings_overlapped, 1);
    atomic_fetch_add(&endings_started, 1);
    usleep(300 * 1000);
    ledger_unregister(d, registration);
    atomic_fetch_sub(&endings_running, 1);
}

static char *two_registrations;
static void *unmap_a_page_of_the_second(void *unused)
{
    (void)unused;
    munmap(two_registrations + 12 * MIB, 4096);
    return NULL;
}

static void *unmap_a_page_of_the_first_later(void *unused)
{
    (void)unused;
    usleep(100 * 1000);
    munmap(two_registrations + 4 * MIB, 4096);
    return NULL;
}

Test(registration_cache, a_free_waits_for_an_ending_that_began_while_it_waited)
{
    budget("1073741824");
    static gpumem_backend_vtable ops = {.host_register = ledger_register,
                                        .host_unregister = counted_slow_unregister};
    static gpumem_device_obj slow = {.ops = &ops};
    two_registrations = map(16 * MIB);
    gpumem_registration_cache_release(
        gpumem_registration_cache_take(&slow, two_registrations, 8 * MIB, 1));
    gpumem_registration_cache_release(
        gpumem_registration_cache_take(&slow, two_registrations + 8 * MIB, 8 * MIB, 1));
    cr_assert_eq(ledger.registered, 2);
    pthread_t b, d;
    cr_assert_eq(pthread_create(&b, NULL, unmap_a_page_of_the_second, NULL), 0);
    for (int waited = 0; !atomic_load(&endings_started); waited++) {
        cr_assert_lt(waited, 5000, "the unmap did not end the registration");
        usleep(1000);
    }
    cr_assert_eq(pthread_create(&d, NULL, unmap_a_page_of_the_first_later, NULL), 0);
    madvise(two_registrations, 16 * MIB, MADV_DONTNEED);
    int running = atomic_load(&endings_running);
    pthread_join(b, NULL);
    pthread_join(d, NULL);
    cr_expect_eq(running, 0, "the advice returned while %d registration(s) of its bytes were "
                 "still being ended", running);
    cr_expect_eq(ledger.unregistered, 2);
    /* Else D began after B's ending was over, and the case was not made (a machine too busy
     * for 100 ms against 300 ms): not a pass. */
    cr_expect(atomic_load(&endings_overlapped), "the two endings did not overlap: nothing tested");
}

/* --- transfers that leave the runtime copying host memory -------------------------------- */

/* Only a range that holds all of a registration's bytes may be copied through it: a part of
 * them could see another part unmapped under its copy. */
Test(registration_cache, only_all_of_a_registrations_bytes_go_by_the_runtime)
{
    budget("1073741824");
    char *p = map(16 * MIB);
    use(p + 100, 8 * MIB);
    cr_expect(by_cpu(p + 4 * MIB, MIB), "a part of its bytes");
    cr_expect(by_cpu(p + 8 * MIB, 200), "its last page, past its bytes");
    cr_expect(by_cpu(p, 99), "its first page, before its bytes");
    cr_expect(by_cpu(p + 8 * MIB, MIB), "across its last page");
    cr_expect_not(by_cpu(p + 100, 8 * MIB), "its bytes");
    cr_expect_not(by_cpu(p, 16 * MIB), "more than its bytes");
    cr_expect_not(by_cpu(p + 9 * MIB, MIB), "other pages");
    gpumem_queued_transfer queued;
    cr_expect(gpumem_registration_cache_queue_begin(&device, p, 16 * MIB, 1, &queued),
              "rows with other memory between them");
    gpumem_registration_cache_queued(&queued);
    /* Another device's registration is portable, but that device's close or the application's
     * registration would end it without waiting for this device's streams. */
    static gpumem_device_obj other = {.ops = &ledger_ops};
    cr_expect(by_cpu_on(&other, p + 100, 8 * MIB), "another device's registration");
}

/* Between queue_begin and queued, no registration over the copy's pages is made (it would come
 * under the copy unseen); others are. With every entry taken, a copy goes by the CPU. */
Test(registration_cache, no_registration_is_made_over_a_copy_being_queued)
{
    budget("1073741824");
    char *p = map(16 * MIB), *q = map(8 * MIB);
    gpumem_queued_transfer queued;
    cr_expect_not(gpumem_registration_cache_queue_begin(&device, p + 8 * MIB + 100, 50, 0,
                                                        &queued));
    cr_expect_null(gpumem_registration_cache_take(&device, p + 200, 8 * MIB, 1),
                   "registered over a copy being queued");
    cr_expect_eq(ledger.registered, 0);
    cr_expect_not(use(q, 8 * MIB), "other pages are registered");
    cr_expect_eq(ledger.registered, 1);
    gpumem_registration_cache_queued(&queued);
    cr_expect_not(use(p + 200, 8 * MIB), "registered once it was queued");
    cr_expect_eq(ledger.registered, 2);
    gpumem_queued_transfer many[65];
    for (int i = 0; i < 64; i++)
        cr_expect_not(gpumem_registration_cache_queue_begin(&device, p + 9 * MIB, 100, 0,
                                                            &many[i]),
                      "copy %d of 64 queued at once", i);
    cr_expect(gpumem_registration_cache_queue_begin(&device, p + 9 * MIB, 100, 0, &many[64]),
              "a 65th at once goes by the CPU");
    for (int i = 0; i < 65; i++)
        gpumem_registration_cache_queued(&many[i]);
    cr_expect_not(by_cpu(p + 9 * MIB, 100));
}

Test(registration_cache, off_every_copy_may_go_by_the_runtime)
{
    unsetenv("GPUMEM_REGISTRATION_CACHE");
    gpumem_queued_transfer queued;
    cr_expect_not(gpumem_registration_cache_queue_begin(&device, map(MIB), MIB, 1, &queued));
    gpumem_registration_cache_queued(&queued);
}

/* A registration a transfer holds while its memory goes stays in the runtime until the transfer
 * lets it go: memory mapped anew at those addresses would be copied from and to the pages that
 * went. */
Test(registration_cache, memory_where_a_held_registrations_memory_went_goes_by_the_cpu)
{
    budget("1073741824");
    char *p = map(8 * MIB);
    gpumem_cached_registration *r = gpumem_registration_cache_take(&device, p, 8 * MIB, 1);
    cr_assert_not_null(r);
    munmap(p, MIB);
    cr_assert_neq(mmap(p, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                       -1, 0),
                  MAP_FAILED);
    cr_expect(by_cpu(p, 4096), "through the registration of the memory that went");
    cr_expect(by_cpu(p, 8 * MIB));
    gpumem_registration_cache_release(r);
    cr_expect_eq(ledger.unregistered, 1);
    cr_expect_not(by_cpu(p, 4096));
}

/* A slot being registered over the range may or may not be registered when the copy is queued,
 * and its bytes may go at once after: by the CPU. */
static _Atomic int registering_now;
static gpumem_result slow_register(gpumem_backend_device *d, void *host, uint64_t size,
                                   gpumem_backend_registration **out)
{
    atomic_store(&registering_now, 1);
    usleep(200 * 1000);
    gpumem_result r = ledger_register(d, host, size, out);
    atomic_store(&registering_now, 2);
    return r;
}

static char *slowly_registered;
static gpumem_device_obj slow_registering;
static void *take_slowly(void *unused)
{
    (void)unused;
    gpumem_registration_cache_release(
        gpumem_registration_cache_take(&slow_registering, slowly_registered, 4 * MIB, 1));
    return NULL;
}

Test(registration_cache, memory_being_registered_goes_by_the_cpu)
{
    budget("1073741824");
    static const gpumem_backend_vtable ops = {.host_register = slow_register,
                                              .host_unregister = ledger_unregister};
    slow_registering = (gpumem_device_obj){.ops = &ops};
    slowly_registered = map(8 * MIB);
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, take_slowly, NULL), 0);
    for (int waited = 0; !atomic_load(&registering_now); waited++) {
        cr_assert_lt(waited, 5000, "the take did not register");
        usleep(1000);
    }
    cr_expect(by_cpu_on(&slow_registering, slowly_registered, 4 * MIB),
              "its own bytes, but not registered yet");
    cr_expect_eq(atomic_load(&registering_now), 1, "the answer waited for the registration");
    pthread_join(thread, NULL);
    cr_expect_not(by_cpu_on(&slow_registering, slowly_registered, 4 * MIB));
}

/* --- the application's registration: the cache's own ends once the streams are done -------- */

/* These tests, like most here, have no Criterion timeout of their own (meson's bounds the
 * program): under AddressSanitizer, where they skip at once, Criterion's workers lost the record
 * of a timeout now and then (48 bytes from its calloc, which LeakSanitizer reported in one run of
 * three with five more timed tests; none in 15 without them). */

/* A device with one stream whose synchronize waits until the test opens its gate: a test acts
 * inside gpumem_registration_cache_evict's wait for the device's streams, between the mark that
 * takes the registration out of use and its end. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int inside, open;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static gpumem_result gated_synchronize(gpumem_backend_device *d, gpumem_backend_stream *s)
{
    (void)d, (void)s;
    pthread_mutex_lock(&gate.lock);
    gate.inside = 1;
    pthread_cond_broadcast(&gate.changed);
    while (!gate.open)
        pthread_cond_wait(&gate.changed, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
    return GPUMEM_OK;
}

static const gpumem_backend_vtable gated_ops = {.host_register = ledger_register,
                                                .host_unregister = ledger_unregister,
                                                .stream_synchronize = gated_synchronize};
static gpumem_device_obj gated;
static gpumem_stream_obj gated_stream;

typedef struct eviction {
    pthread_t thread;
    char *host;
    uint64_t size;
    int result;
} eviction;

static void *evict_thread(void *argument)
{
    eviction *e = argument;
    e->result = gpumem_registration_cache_evict(&gated, e->host, e->size);
    return NULL;
}

/* Registers [host, host + size) on the gated device, then starts the application's
 * registration of it on another thread and returns once that thread waits for the stream. */
static void evict_started(eviction *e, char *host, uint64_t size)
{
    gated = (gpumem_device_obj){.ops = &gated_ops};
    pthread_mutex_init(&gated.lock, NULL);
    gpumem_list_init(&gated.streams);
    gated_stream = (gpumem_stream_obj){.device = &gated};
    gpumem_list_push(&gated.streams, &gated_stream.link);
    gpumem_registration_cache_release(gpumem_registration_cache_take(&gated, host, size, 1));
    cr_assert_eq(ledger.registered, 1, "the cache did not register the memory");
    *e = (eviction){.host = host, .size = size};
    cr_assert_eq(pthread_create(&e->thread, NULL, evict_thread, e), 0);
    pthread_mutex_lock(&gate.lock);
    while (!gate.inside)
        pthread_cond_wait(&gate.changed, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
}

static void evict_finished(eviction *e)
{
    pthread_mutex_lock(&gate.lock);
    gate.open = 1;
    pthread_cond_broadcast(&gate.changed);
    pthread_mutex_unlock(&gate.lock);
    cr_assert_eq(pthread_join(e->thread, NULL), 0);
}

/* While the application's registration waits for the device's streams, the registration it
 * ends is still in the runtime, and a copy the runtime made of its pages from then on could
 * still be running when it ends: every copy over those pages, of any range and for any device,
 * goes by the CPU, and no transfer takes it or registers over it; copies of other pages go on
 * as before. Random ranges around the registration's pages. */
Test(registration_cache, while_the_application_registers_its_memory_no_copy_is_left_to_the_runtime)
{
    budget("1073741824");
    long page = sysconf(_SC_PAGESIZE);
    char *region = map(16 * MIB), *p = region + 4 * MIB;
    uint64_t size = 8 * MIB - 300; /* its last page holds other bytes too */
    eviction e;
    evict_started(&e, p + 100, size);
    uintptr_t first = (uintptr_t)p, last = ((uintptr_t)p + 100 + size + page - 1) & ~(page - 1);
    static gpumem_device_obj other = {.ops = &ledger_ops};
    srand(14);
    for (int i = 0; i < 400; i++) {
        /* from two pages before the registration to two after, by the page or the byte */
        uintptr_t from = first - 2 * page + (uintptr_t)rand() % (last - first + 4 * page);
        uint64_t length = 1 + (uint64_t)rand() % (i % 2 ? 3 * (uint64_t)page : 9 * MIB);
        const gpumem_device_obj *on = i % 3 ? &gated : &other;
        int over = from < last && first < from + length;
        cr_expect_eq(by_cpu_on(on, (void *)from, length), over,
                     "copy %d, %llu bytes at %+lld from the registration's pages, %s: %s", i,
                     (unsigned long long)length, (long long)(from - first),
                     on == &gated ? "its device" : "another device",
                     over ? "left to the runtime over a registration being ended"
                          : "sent by the CPU over other pages");
    }
    cr_expect_null(gpumem_registration_cache_take(&gated, p + 100, size, 1),
                   "a transfer took a registration being ended");
    cr_expect_null(gpumem_registration_cache_take(&gated, p, 8 * MIB, 1),
                   "registered over a registration being ended");
    cr_expect_eq(ledger.unregistered, 0, "ended before the device's streams were done");
    cr_expect_eq(ledger.registered, 1);
    evict_finished(&e);
    cr_expect(e.result, "the application's registration was refused");
    cr_expect_eq(ledger.unregistered, 1);
    cr_expect_eq(stats().evicted, 1);
    cr_expect_eq(stats().registrations, 0);
    cr_expect_not(by_cpu_on(&gated, p + 100, size), "after it ended");
}

/* The memory goes while the application's registration waits: the free ends it at once (the
 * memory must not come back at that address with it in the runtime), and the application's
 * registration then finds nothing left to end. Once only, whichever part goes. */
static void expect_given_back_while_evicting(void (*give_back)(char *p))
{
    budget("1073741824");
    char *p = map(8 * MIB);
    eviction e;
    evict_started(&e, p, 8 * MIB);
    give_back(p);
    cr_expect_eq(ledger.unregistered, 1, "the memory went, and its registration stayed");
    evict_finished(&e);
    cr_expect(e.result);
    cr_expect_eq(ledger.unregistered, 1); /* the ledger fails a second end itself */
    cr_expect_eq(stats().evicted, 0);
    cr_expect_eq(stats().invalidated, 1);
    cr_expect_eq(stats().registrations, 0);
}

static void unmap_all(char *p) { munmap(p, 8 * MIB); }
static void unmap_a_page(char *p) { munmap(p + 4096, 4096); }
static void drop_the_pages(char *p) { madvise(p, 8 * MIB, MADV_DONTNEED); }

Test(registration_cache, memory_unmapped_while_the_application_registers_it_is_ended_once)
{
    expect_given_back_while_evicting(unmap_all);
}

Test(registration_cache, a_page_unmapped_while_the_application_registers_it_ends_it_once)
{
    expect_given_back_while_evicting(unmap_a_page);
}

Test(registration_cache, pages_dropped_while_the_application_registers_them_end_it_once)
{
    expect_given_back_while_evicting(drop_the_pages);
}

/* Random synchronous transfers (take and release), unmaps, page-dropping advice and maps over,
 * and copies left to the runtime (up to four in flight, each finished some steps later), on a
 * few regions. A copy is left to the runtime only where every registration on its pages was
 * made for bytes it holds all of, is registered and live; and while it is in flight, each of
 * them stays registered unless the application gave back the copy's own bytes meanwhile. Every
 * hit is a registration made after the last time its pages went. */
Test(registration_cache, random_copies_left_to_the_runtime_keep_their_registrations)
{
    budget("67108864");
    enum { REGIONS = 4, STEPS = 6000, FLIGHT = 4, WATCH = 64 };
    const uint64_t region_size = 12 * MIB;
    long page = sysconf(_SC_PAGESIZE);
    uint64_t pages = region_size / (uint64_t)page;
    char *regions[REGIONS];
    int *went[REGIONS];
    for (int i = 0; i < REGIONS; i++) {
        regions[i] = map(region_size);
        went[i] = calloc(pages, sizeof(int));
        cr_assert_not_null(went[i]);
    }
    /* Per ledger entry: the bytes it was made for, the step it was made at, whether its memory
     * went (a transfer held it then: it ends when the transfer lets it go). */
    static uintptr_t made_begin[LEDGER], made_end[LEDGER];
    static int made_step[LEDGER], stale[LEDGER];
    struct {
        int flying, spoiled;
        uintptr_t begin, end;
        int under[WATCH], under_count;
    } copy[FLIGHT];
    memset(copy, 0, sizeof copy);
    gpumem_cached_registration *held = NULL; /* a synchronous transfer in progress */
    int copies = 0, by_runtime = 0;
    uint64_t state = 0x2545f4914f6cdd1dull;
    for (int step = 1; step <= STEPS; step++) {
        model_step m = model_next(&state, regions, REGIONS, pages);
        uint32_t rnd = m.rnd;
        int r = m.region;
        uint64_t first = m.first, count = m.count, bytes = m.bytes;
        char *at = m.at;
        int op = (rnd >> 24) % 10;
        /* A range inside the region: a few bytes to several MiB, starting at any byte. */
        uint64_t skew = (rnd >> 8) % (uint64_t)page;
        uint64_t room = region_size - first * (uint64_t)page - skew;
        uint64_t size = (state >> 63) ? 1 + (state >> 17) % 5000 : 1 + (state >> 17) % room;
        if (size > room)
            size = room;
        char *from = at + skew;
        if (op <= 1) { /* memory goes */
            if (op == 0) {
                munmap(at, bytes);
                cr_assert_neq(mmap(at, bytes, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
                              MAP_FAILED);
            } else {
                madvise(at, bytes, MADV_DONTNEED);
            }
            for (uint64_t p = first; p < first + count; p++)
                went[r][p] = step;
            for (int i = 0; i < ledger.count; i++)
                if (made_begin[i] < (uintptr_t)at + bytes && (uintptr_t)at < made_end[i])
                    stale[i] = 1;
            for (int k = 0; k < FLIGHT; k++)
                if (copy[k].flying && copy[k].begin < (uintptr_t)at + bytes &&
                    (uintptr_t)at < copy[k].end)
                    copy[k].spoiled = 1; /* the application took the copy's own bytes */
        } else if (op <= 4) { /* a synchronous transfer begins, or the one in progress ends */
            if (held) {
                gpumem_registration_cache_release(held);
                held = NULL;
                continue;
            }
            int made = ledger.count;
            gpumem_cached_registration *c =
                model_take(step, regions[r], went[r], from, size, made_step);
            if (ledger.count > made) {
                made_begin[ledger.count - 1] = (uintptr_t)from;
                made_end[ledger.count - 1] = (uintptr_t)from + size;
            }
            held = c;
        } else if (op <= 7) { /* a copy: by the runtime, in flight, or by the CPU */
            int k = 0;
            while (k < FLIGHT && copy[k].flying)
                k++;
            if (k == FLIGHT)
                continue;
            uintptr_t b = (uintptr_t)from, e = b + size;
            uintptr_t pb = b & ~(uintptr_t)(page - 1), pe = (e + page - 1) & ~(uintptr_t)(page - 1);
            int expect_cpu = 0;
            copy[k].under_count = 0;
            for (int i = 0; i < ledger.count; i++) {
                if (!ledger.live[i] || ledger.end[i] <= pb || pe <= ledger.begin[i])
                    continue;
                expect_cpu |= stale[i] || made_begin[i] < b || e < made_end[i];
                cr_assert_lt(copy[k].under_count, WATCH);
                copy[k].under[copy[k].under_count++] = i;
            }
            int cpu = by_cpu(from, size);
            cr_assert_eq(cpu, expect_cpu, "step %d: %llu bytes at %p: by the CPU %d, expected %d",
                         step, (unsigned long long)size, (void *)from, cpu, expect_cpu);
            copies++;
            if (!cpu) {
                by_runtime += copy[k].under_count > 0;
                copy[k].flying = 1;
                copy[k].spoiled = 0;
                copy[k].begin = b;
                copy[k].end = e;
            }
        } else { /* a copy in flight is done */
            copy[(rnd >> 4) % FLIGHT].flying = 0;
            continue;
        }
        for (int k = 0; k < FLIGHT; k++) {
            if (!copy[k].flying || copy[k].spoiled)
                continue;
            for (int j = 0; j < copy[k].under_count; j++)
                cr_assert(ledger.live[copy[k].under[j]],
                          "step %d: a registration under a copy in flight of %llu bytes at %p "
                          "was ended, and none of those bytes went",
                          step, (unsigned long long)(copy[k].end - copy[k].begin),
                          (void *)copy[k].begin);
        }
    }
    gpumem_registration_cache_release(held);
    for (int i = 0; i < REGIONS; i++) {
        munmap(regions[i], region_size);
        free(went[i]);
    }
    for (int i = 0; i < ledger.count; i++)
        cr_expect_not(ledger.live[i], "registration %d outlived its memory", i);
    cr_expect_gt(by_runtime, 20, "only %d of %d copies went by the runtime through a "
                 "registration: the case was hardly made", by_runtime, copies);
}
