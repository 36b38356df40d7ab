/* Allocation-failure injection: every host allocation of core goes through one funnel
 * (core/alloc.h), and this program makes the k-th one fail, for k = 1, 2, ... until a scenario
 * runs through without reaching its k-th allocation. Each injected failure must come back as an
 * error code with a message (or be absorbed where core has a fallback), must leak nothing (the
 * sanitizer build checks leaks at exit), and must leave the library working: after every
 * failed run a clean run of the same scenario must pass, byte for byte.
 *
 * The scenarios cover opening and closing devices, pools and their pages, buffers (shared and
 * dedicated pages, imported memory), streams, transfers, events, wrapped streams, lookups by address, staging
 * (run the program with GPUMEM_STAGING=always),
 * the JSON dump, virtual blocks, the handle table growing past its first chunk, a thread's first
 * call, and filling the backend registry (modules included: GPUMEM_PLUGIN_PATH names the build's
 * module folder), which happens once per process, so each of its runs is a child process forked
 * before the registry was filled. It reports how many allocations it failed and at how many
 * distinct code sites.
 *
 * It links core and the host backend directly (not libgpumem), because the failure switch is
 * internal. Exit status: 0 pass, 1 fail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "gpumem/backend.h"
#include "pattern.h"
#include "registry.h"

/* The built-in backends of this program: the host backend alone. */
const gpumem_backend_vtable *gpumem_host_backend(void);
uint32_t gpumem_builtin_backends(const gpumem_backend_vtable **tables, uint32_t max)
{
    if (max < 1)
        return 0;
    tables[0] = gpumem_host_backend();
    return 1;
}

static int failures;

#define FAIL(...)                                            \
    do {                                                     \
        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
        fprintf(stderr, __VA_ARGS__);                        \
        fputc('\n', stderr);                                 \
        failures++;                                          \
    } while (0)

/* In a scenario: a call that may fail only because an allocation was made to fail. The first
 * failure ends the scenario (after its cleanup), and must say why. */
#define TRY(call)                                                                        \
    do {                                                                                 \
        gpumem_result try_r_ = (call);                                                   \
        if (try_r_ != GPUMEM_OK) {                                                       \
            if (!gpumem_last_error()[0])                                                 \
                FAIL("%s -> %s without a message", #call, gpumem_result_string(try_r_)); \
            r = try_r_;                                                                  \
            goto done;                                                                   \
        }                                                                                \
    } while (0)

/* A scenario returns GPUMEM_OK when it ran through, else the first failure's code; it always
 * releases what it made. Data it reads back is checked: a failure must never corrupt. */
typedef gpumem_result (*scenario_fn)(void);

static gpumem_result check_bytes(const unsigned char *a, const unsigned char *b, size_t n,
                                 const char *what)
{
    if (memcmp(a, b, n) != 0)
        FAIL("%s: read back differs from what was written", what);
    return GPUMEM_OK;
}

static gpumem_result scenario_open_close(void)
{
    gpumem_result r = GPUMEM_OK;
    gpumem_device dev = NULL;
    gpumem_device_properties props;
    TRY(gpumem_device_open(NULL, &dev));
    TRY(gpumem_device_properties_get(dev, &props));
done:
    if (dev && gpumem_device_close(dev) != GPUMEM_OK)
        FAIL("close after a failure: %s", gpumem_last_error());
    return r;
}

static gpumem_result scenario_pools_and_buffers(void)
{
    gpumem_result r = GPUMEM_OK;
    gpumem_device dev = NULL;
    gpumem_pool pool;
    gpumem_buffer buffers[40];
    unsigned char data[3000], back[3000];
    test_pattern(data, sizeof data, 11);
    TRY(gpumem_device_open(NULL, &dev));
    gpumem_pool_desc pd = {.page_size = 1 << 20, .name = "inject", .max_empty_pages = 2};
    TRY(gpumem_pool_create(dev, &pd, &pool));
    /* A pool of arenas, made and used (its other arenas, and the first create's arena). */
    gpumem_pool arenas;
    gpumem_buffer in_arena;
    gpumem_pool_desc ad = {.page_size = 1 << 20, .name = "inject-arenas", .arena_count = 3};
    TRY(gpumem_pool_create(dev, &ad, &arenas));
    TRY(gpumem_buffer_create(arenas, &(gpumem_buffer_desc){.size = 5000}, &in_arena));
    TRY(gpumem_buffer_write(in_arena, 0, data, 1000));
    TRY(gpumem_buffer_read(in_arena, 0, back, 1000));
    check_bytes(back, data, 1000, "a buffer of an arena");
    TRY(gpumem_pool_destroy(arenas));
    /* Enough buffers for several pages, one dedicated, and records beyond the spares. */
    for (int i = 0; i < 40; i++) {
        gpumem_buffer_desc bd = {.size = (uint64_t)(i == 7 ? 3u << 20 : 1000u + 97u * i),
                                 .alignment = i % 3 ? 256 : 0,
                                 .flags = i == 9 ? GPUMEM_BUFFER_DEDICATED : 0,
                                 .name = i % 4 == 1 ? "named" : NULL}; /* a copy to fail */
        TRY(gpumem_buffer_create(pool, &bd, &buffers[i]));
        TRY(gpumem_buffer_write(buffers[i], 0, data, 1000));
    }
    for (int i = 0; i < 40; i += 2)
        TRY(gpumem_buffer_destroy(buffers[i]));
    for (int i = 1; i < 40; i += 2) {
        TRY(gpumem_buffer_read(buffers[i], 0, back, 1000));
        check_bytes(back, data, 1000, "buffer read");
    }
    /* The scenario's own memory as a buffer: its page and record, and the address index. */
    static unsigned char mine[4096];
    gpumem_import_desc id = {.address = (uint64_t)(uintptr_t)mine, .size = sizeof mine};
    gpumem_buffer imported, found;
    uint64_t at;
    TRY(gpumem_buffer_import(pool, &id, &imported));
    TRY(gpumem_buffer_write(imported, 0, data, 1000));
    check_bytes(mine, data, 1000, "imported memory");
    TRY(gpumem_buffer_find(dev, id.address + 10, &found, &at));
    if (found != imported || at != 10)
        FAIL("the import was not found at its address");
    TRY(gpumem_buffer_destroy(imported));
    gpumem_pool_stats stats;
    TRY(gpumem_pool_stats_get(pool, &stats));
    TRY(gpumem_pool_trim(pool));
    TRY(gpumem_pool_destroy(pool));
done:
    if (dev && gpumem_device_close(dev) != GPUMEM_OK)
        FAIL("close after a failure: %s", gpumem_last_error());
    return r;
}

static gpumem_result scenario_streams_and_transfers(void)
{
    gpumem_result r = GPUMEM_OK;
    gpumem_device dev = NULL;
    gpumem_pool pool;
    gpumem_buffer a, b;
    gpumem_stream streams[3];
    static unsigned char data[5 << 20], back[5 << 20];
    test_pattern(data, sizeof data, 12);
    TRY(gpumem_device_open(NULL, &dev));
    TRY(gpumem_pool_create(dev, NULL, &pool));
    gpumem_buffer_desc bd = {.size = sizeof data};
    TRY(gpumem_buffer_create(pool, &bd, &a));
    TRY(gpumem_buffer_create(pool, &bd, &b));
    for (int i = 0; i < 3; i++)
        TRY(gpumem_stream_create(dev, &streams[i]));
    TRY(gpumem_stream_write(streams[0], a, 0, data, sizeof data));
    TRY(gpumem_stream_copy(streams[0], a, 0, b, 0, sizeof data));
    TRY(gpumem_stream_fill(streams[0], a, 0, 4096, 0x01020304u));
    TRY(gpumem_stream_read(streams[0], b, 0, back, sizeof back));
    TRY(gpumem_stream_synchronize(streams[0]));
    check_bytes(back, data, sizeof data, "stream transfers");
    TRY(gpumem_buffer_copy(b, 0, a, 0, sizeof data));
    void *mapped;
    TRY(gpumem_buffer_map(a, &mapped));
    check_bytes(mapped, data, sizeof data, "mapped read");
    TRY(gpumem_buffer_unmap(a));
    TRY(gpumem_stream_destroy(streams[1]));
    /* Events ordering two streams, a wrapped stream where the backend has them, lookups. */
    gpumem_event event;
    TRY(gpumem_event_create(dev, &event));
    TRY(gpumem_stream_write(streams[0], a, 0, data, 4096));
    TRY(gpumem_event_record(event, streams[0]));
    TRY(gpumem_stream_wait_event(streams[2], event));
    TRY(gpumem_stream_read(streams[2], a, 0, back, 4096));
    TRY(gpumem_event_synchronize(event));
    TRY(gpumem_stream_synchronize(streams[2]));
    check_bytes(back, data, 4096, "read after an event");
    uint64_t native;
    gpumem_stream wrapped;
    TRY(gpumem_stream_native(streams[0], &native));
    gpumem_result wrap = gpumem_stream_wrap(dev, native, &wrapped);
    if (wrap != GPUMEM_ERROR_UNSUPPORTED) { /* host and Vulkan cannot wrap */
        TRY(wrap);
        TRY(gpumem_stream_destroy(wrapped));
    }
    gpumem_native_buffer nb;
    gpumem_buffer found;
    uint64_t at;
    TRY(gpumem_buffer_native(b, &nb));
    if (nb.address)
        TRY(gpumem_buffer_find(dev, nb.address + 100, &found, &at));
    uint64_t length;
    TRY(gpumem_device_dump_json(dev, NULL, 0, &length));
done:
    if (dev && gpumem_device_close(dev) != GPUMEM_OK)
        FAIL("close after a failure: %s", gpumem_last_error());
    return r;
}

static gpumem_result scenario_vblocks(void)
{
    gpumem_result r = GPUMEM_OK;
    gpumem_vblock blocks[3];
    int made = 0;
    for (; made < 3; made++)
        TRY(gpumem_vblock_create(1 << 20, &blocks[made]));
    gpumem_vblock_allocation allocations[300];
    uint64_t offset;
    for (int i = 0; i < 300; i++) /* the record array grows several times */
        TRY(gpumem_vblock_alloc(blocks[i % 3], 100 + i, 64, &allocations[i], &offset));
    TRY(gpumem_vblock_free(blocks[0], allocations[0]));
    TRY(gpumem_vblock_clear(blocks[1]));
done:
    for (int i = 0; i < made; i++)
        if (gpumem_vblock_destroy(blocks[i]) != GPUMEM_OK)
            FAIL("vblock destroy after a failure: %s", gpumem_last_error());
    return r;
}

/* One handle more than the table's first chunk holds: the table's next chunk is allocated
 * (once per process, so main fills the first chunk just before this scenario's first run). */
static gpumem_result scenario_handle_chunk(void)
{
    gpumem_result r = GPUMEM_OK;
    gpumem_vblock block = NULL;
    TRY(gpumem_vblock_create(4096, &block));
done:
    if (block && gpumem_vblock_destroy(block) != GPUMEM_OK)
        FAIL("vblock destroy: %s", gpumem_last_error());
    return r;
}

/* A create that takes a buffer the reuse cache kept, in a pool searched by address (the kept
 * record's node stays in the pool's index), failing where its name is copied: the record must
 * leave the index with its range, so that after the failure the pool still places, finds and
 * frees buffers of that size (a node left behind would be inserted a second time). Checked
 * whether the run failed or not. */
static gpumem_result scenario_kept_buffer_made_again(void)
{
    gpumem_result r = GPUMEM_OK;
    gpumem_device dev = NULL;
    gpumem_pool pool = NULL;
    gpumem_buffer neighbour, kept, again = NULL, found;
    gpumem_native_buffer nb;
    uint64_t at;
    TRY(gpumem_device_open(NULL, &dev));
    gpumem_pool_desc pd = {.page_size = 1 << 20, .name = "inject-kept"};
    TRY(gpumem_pool_create(dev, &pd, &pool));
    gpumem_buffer_desc bd = {.size = 3000};
    /* Made first, so that the page keeps a live buffer: a page's last one is not kept. */
    TRY(gpumem_buffer_create(pool, &bd, &neighbour));
    TRY(gpumem_buffer_create(pool, &bd, &kept));
    TRY(gpumem_buffer_native(kept, &nb));
    TRY(gpumem_buffer_find(dev, nb.address, &found, &at)); /* the pool is indexed from here */
    TRY(gpumem_buffer_destroy(kept));
    gpumem_buffer_desc named = {.size = 3000, .name = "named"}; /* a copy to fail */
    TRY(gpumem_buffer_create(pool, &named, &again));
done:
    if (pool) {
        /* The failure injected may fall here too: its refusal, out of host memory, ends the
         * checks (a wrong index finds the wrong buffer, or none). */
        gpumem_result first = r, step = GPUMEM_OK;
        gpumem_buffer more[3];
        for (int i = 0; i < 3 && step == GPUMEM_OK; i++) {
            if ((step = gpumem_buffer_create(pool, &bd, &more[i])) != GPUMEM_OK)
                break;
            if ((step = gpumem_buffer_native(more[i], &nb)) == GPUMEM_OK &&
                (step = gpumem_buffer_find(dev, nb.address + 5, &found, &at)) == GPUMEM_OK &&
                (found != more[i] || at != 5))
                step = GPUMEM_ERROR_BAD_STATE;
            gpumem_result destroyed = gpumem_buffer_destroy(more[i]);
            step = step == GPUMEM_OK ? destroyed : step;
        }
        if (step == GPUMEM_ERROR_OUT_OF_HOST_MEMORY) /* the injected failure (inject_all) */
            r = r == GPUMEM_OK ? step : r;
        else if (step != GPUMEM_OK)
            FAIL("a kept buffer's create (%s) left the pool's index wrong: %s (%s)",
                 gpumem_result_string(first), gpumem_result_string(step), gpumem_last_error());
        if (again && gpumem_buffer_destroy(again) != GPUMEM_OK)
            FAIL("destroy of the buffer made again: %s", gpumem_last_error());
    }
    if (dev && gpumem_device_close(dev) != GPUMEM_OK)
        FAIL("close after a failure: %s", gpumem_last_error());
    return r;
}

typedef struct scenario {
    const char *name;
    scenario_fn run;
    /* Every failed allocation must fail the run: the calls have nothing to recover with (pools
     * may reclaim and retry; a virtual block never tries an allocate twice). */
    int no_recovery;
} scenario;

static const scenario scenarios[] = {
    {"open and close", scenario_open_close, 0},
    {"pools and buffers", scenario_pools_and_buffers, 0},
    {"streams and transfers", scenario_streams_and_transfers, 0},
    {"virtual blocks", scenario_vblocks, 1},
    {"kept buffer made again", scenario_kept_buffer_made_again, 0},
};

#define MAX_SITES 256
static void *sites[MAX_SITES];
static unsigned site_count;

static void note_site(void *site)
{
    if (!site)
        return;
    for (unsigned i = 0; i < site_count; i++)
        if (sites[i] == site)
            return;
    if (site_count < MAX_SITES)
        sites[site_count++] = site;
}

/* Fails allocation k = 1, 2, ... of the scenario until a run no longer reaches the k-th. */
static uint64_t inject_all(const scenario *s, uint64_t *refused)
{
    uint64_t k = 1;
    for (;; k++) {
        gpumem_alloc_fail_at(k, 0);
        gpumem_result r = s->run();
        void *site = gpumem_alloc_failed_site();
        uint64_t made = gpumem_alloc_fail_at(0, 0);
        note_site(site);
        if (site && r != GPUMEM_OK)
            ++*refused;
        else if (site && s->no_recovery)
            FAIL("%s, allocation %llu failed, yet the run succeeded", s->name,
                 (unsigned long long)k);
        else if (r != GPUMEM_OK)
            FAIL("%s, allocation %llu: %s (%s) with no allocation failed", s->name,
                 (unsigned long long)k, gpumem_result_string(r), gpumem_last_error());
        /* The library still works: the same scenario, with nothing failing, runs through. */
        if ((r = s->run()) != GPUMEM_OK)
            FAIL("%s after failing allocation %llu: %s (%s)", s->name, (unsigned long long)k,
                 gpumem_result_string(r), gpumem_last_error());
        if (!site && made < k)
            break; /* the run made fewer than k allocations: every one of them was failed */
        if (failures > 20)
            break;
    }
    return k - 1;
}

/* A thread's first call that uses objects registers the thread (once per thread, and records
 * of exited threads are reused): refused cleanly when that fails, and retried by the next call. */
static void first_call_of_a_thread(void)
{
    gpumem_buffer_info info;
    gpumem_alloc_fail_at(1, 1);
    gpumem_result r = gpumem_buffer_info_get(NULL, &info);
    note_site(gpumem_alloc_failed_site());
    gpumem_alloc_fail_at(0, 0);
    if (r != GPUMEM_ERROR_OUT_OF_HOST_MEMORY || !strstr(gpumem_last_error(), "record"))
        FAIL("a thread's first call with no memory for its record: %s (%s)",
             gpumem_result_string(r), gpumem_last_error());
    if ((r = gpumem_buffer_info_get(NULL, &info)) != GPUMEM_ERROR_INVALID_HANDLE)
        FAIL("the next call: %s (%s)", gpumem_result_string(r), gpumem_last_error());
}

/* Fills the handle table's first chunk (handles are slot + 1 in their low half), so that the
 * next handle needs a new chunk. Must run before any handle was destroyed. */
static int fill_first_chunk(gpumem_vblock *blocks, int capacity)
{
    int n = 0;
    while (n < capacity && gpumem_vblock_create(64, &blocks[n]) == GPUMEM_OK)
        if ((uint32_t)(uintptr_t)blocks[n++] >= 4096)
            return n;
    FAIL("could not fill the handle table's first chunk (%d handles)", n);
    return n;
}

/* --- the registry, once per process: one child per injected failure --- */

typedef struct registry_run {
    uint64_t made;     /* allocations the run asked for */
    long site;         /* the failed allocation's site, relative to gpumem_alloc; 0 when none */
    gpumem_result first, after; /* the listing with the failure, and the one after it */
    uint32_t count;    /* backends listed after it */
} registry_run;

static registry_run registry_child(uint64_t k)
{
    registry_run run = {0};
    uint32_t count = 0;
    gpumem_alloc_fail_at(k, 0);
    run.first = gpumem_backend_count(&count);
    if (run.first != GPUMEM_OK && !gpumem_last_error()[0])
        run.first = 1; /* a failure without a message */
    void *site = gpumem_alloc_failed_site();
    run.made = gpumem_alloc_fail_at(0, 0);
    run.site = site ? (long)((char *)site - (char *)(void *)gpumem_alloc) : 0;
    run.after = gpumem_backend_count(&run.count);
    return run;
}

/* Fails allocation k = 1, 2, ... of filling the registry, each in a fresh child; the listing
 * must fail cleanly and the next one must list every backend. */
static uint64_t inject_registry(void)
{
    uint32_t expected = 0;
    uint64_t k = 1;
    for (;; k++) {
        int channel[2];
        if (pipe(channel) != 0) {
            FAIL("pipe");
            return 0;
        }
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            registry_run run = registry_child(k);
            ssize_t written = write(channel[1], &run, sizeof run);
            exit(written == (ssize_t)sizeof run ? 0 : 1); /* exit, not _exit: leak checks run */
        }
        close(channel[1]);
        registry_run run;
        ssize_t got = read(channel[0], &run, sizeof run);
        close(channel[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        if (got != (ssize_t)sizeof run || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            FAIL("registry, allocation %llu: the child failed (status 0x%x)",
                 (unsigned long long)k, status);
            return k;
        }
        if (run.site)
            note_site((char *)(void *)gpumem_alloc + run.site);
        if (run.first == 1)
            FAIL("registry, allocation %llu: failed without a message", (unsigned long long)k);
        if (run.site && run.first != GPUMEM_ERROR_OUT_OF_HOST_MEMORY)
            FAIL("registry, allocation %llu failed, listing gave %s", (unsigned long long)k,
                 gpumem_result_string(run.first));
        if (run.after != GPUMEM_OK || (expected && run.count != expected))
            FAIL("registry after failing allocation %llu: %s, %u backends (expected %u)",
                 (unsigned long long)k, gpumem_result_string(run.after), run.count, expected);
        if (!run.site) {
            expected = run.count;
            if (run.made < k)
                break;
        }
        if (failures > 20)
            break;
    }
    printf("inject_failures: %-28s %4llu allocations failed one at a time (%u backends and "
           "refused modules listed)\n",
           "backend registry", (unsigned long long)(k - 1), expected);
    return k - 1;
}

int main(void)
{
    uint64_t total = 0, refused = 0;
    total += inject_registry(); /* first: the registry must not be filled in this process */
    first_call_of_a_thread();
    static gpumem_vblock filler[4096];
    int fillers = fill_first_chunk(filler, 4096);
    const scenario chunk = {"handle table growth", scenario_handle_chunk, 0};
    uint64_t n = inject_all(&chunk, &refused);
    total += n;
    printf("inject_failures: %-28s %4llu allocations failed one at a time\n", chunk.name,
           (unsigned long long)n);
    for (int i = 0; i < fillers; i++)
        gpumem_vblock_destroy(filler[i]);
    for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios; i++) {
        uint64_t before = refused;
        n = inject_all(&scenarios[i], &refused);
        printf("inject_failures: %-28s %4llu allocations failed one at a time, %llu refused "
               "with an error\n",
               scenarios[i].name, (unsigned long long)n, (unsigned long long)(refused - before));
        total += n;
    }
    printf("inject_failures: %llu injected failures at %u distinct allocation sites%s: %s\n",
           (unsigned long long)total + 1, site_count,
           getenv("GPUMEM_STAGING") ? " (staging always)" : "", failures ? "FAIL" : "ok");
    return failures ? 1 : 0;
}
