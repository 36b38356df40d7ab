/* Stress 1: concurrent create, destroy and transfer in ONE shared pool (or, with --own-pools,
 * each worker in a pool of its own, so that destroys in one pool free what barriers taken for
 * other pools proved unreachable: see gpumem_epoch_known_safe; with --arenas, one pool of
 * WORKERS - 1 arenas, so that workers share some arenas and not others, and the observer's
 * stats, trims, dumps and lookups cover all of them).
 *
 * WORKERS threads each keep LIVE buffers in one pool (small pages, so pages are allocated and
 * freed all the time, and some buffers get dedicated pages), replacing one per iteration:
 * destroy, create with a random size and alignment, write a pattern and read it back byte-exact
 * (synchronously, or on the thread's own stream), fill and copy between its own buffers, and
 * check that an older buffer still holds its data. Meanwhile an observer thread reads pool
 * stats, trims the pool, dumps the device as JSON and asks for the info and native handle of
 * the buffers the workers publish, and looks them up by address, which races with their
 * destruction: such a call must return OK with the info of that very buffer, or
 * GPUMEM_ERROR_DESTROYED (NOT_FOUND, or another buffer, for the lookup). At the end the pool
 * must be empty.
 *
 * With --late, worker 0 is the main thread, which has run every call alone until then, and the
 * other workers and the observer start when it is a quarter through: core's locks hand over from
 * the lone thread to shared use (lock.h) while worker 0 is creating and destroying buffers. */
#include "stress.h"

enum {
    WORKERS = 3,
    LIVE = 6,
    MAX_SIZE = 48 * 1024,
    PAGE_SIZE = 1 << 20,
};

typedef struct published {
    _Atomic uint64_t handle; /* 0 while being replaced */
    _Atomic uint64_t size;
} published;

static gpumem_device device;
static gpumem_pool pools[WORKERS];
static int pool_count = 1; /* WORKERS with --own-pools */
static uint32_t arena_count;  /* WORKERS - 1 with --arenas */
static unsigned iterations;
static published slots[WORKERS][LIVE];
static atomic_int workers_done;
static int late;                      /* --late */
static pthread_t threads[WORKERS + 1]; /* the workers and the observer */
static int others_started;
static atomic_ullong total_ops, observer_ops, observer_hits;

typedef struct worker {
    int id;
    gpumem_stream stream;
} worker;

#define W_MUST(call)            \
    do {                        \
        if (!MUST(call))        \
            goto out;           \
        ops++;                  \
    } while (0)

static int check_read(int id, unsigned it, const char *what, const uint8_t *out, uint64_t at,
                      uint64_t size, uint64_t seed)
{
    uint64_t bad = stress_mismatch(out, at, size, seed);
    if (bad == size)
        return 1;
    STRESS_FAIL("worker %d iteration %u: %s: byte %llu of %llu read back 0x%02x, wrote 0x%02x",
                id, it, what, (unsigned long long)bad, (unsigned long long)size, out[bad],
                stress_byte(seed, at + bad));
    return 0;
}

static void *observe(void *arg);
static void start_others(worker *workers);

static void *work(void *arg)
{
    worker *w = arg;
    stress_rng rng = stress_rng_seed(0x5001 + (uint64_t)w->id);
    gpumem_buffer live[LIVE] = {0};
    uint64_t sizes[LIVE] = {0}, seeds[LIVE] = {0};
    uint8_t *data = malloc(MAX_SIZE), *out = malloc(MAX_SIZE);
    uint64_t ops = 0;
    if (!data || !out) {
        STRESS_FAIL("out of memory");
        goto out;
    }
    for (unsigned it = 0; it < iterations && !stress_failed(); it++) {
        stress_tick();
        if (late && w->id == 0 && it == iterations / 4)
            start_others(w);
        int s = (int)stress_below(&rng, LIVE);
        if (live[s]) {
            atomic_store(&slots[w->id][s].handle, 0);
            W_MUST(gpumem_buffer_destroy(live[s]));
            /* A destroyed buffer stays destroyed, for every call. */
            gpumem_buffer_info info;
            if (!EXPECT(GPUMEM_ERROR_DESTROYED, gpumem_buffer_info_get(live[s], &info)) ||
                !EXPECT(GPUMEM_ERROR_DESTROYED, gpumem_buffer_write(live[s], 0, data, 1)))
                goto out;
            live[s] = NULL;
        }
        uint32_t kind = stress_below(&rng, 16);
        uint64_t size = kind == 0 ? PAGE_SIZE / 2 + 1 + stress_below(&rng, PAGE_SIZE / 4)
                                  : 1 + stress_below(&rng, MAX_SIZE);
        gpumem_buffer_desc desc = {.size = size, .alignment = 1ull << stress_below(&rng, 13),
                                   .flags = kind == 1 ? GPUMEM_BUFFER_DEDICATED : 0};
        W_MUST(gpumem_buffer_create(pools[w->id % pool_count], &desc, &live[s]));
        sizes[s] = size;
        seeds[s] = ((uint64_t)w->id << 40) | ((uint64_t)it << 8) | (uint64_t)s;
        atomic_store(&slots[w->id][s].size, size);
        atomic_store(&slots[w->id][s].handle, (uint64_t)(uintptr_t)live[s]);

        /* The whole buffer, or its first MAX_SIZE bytes for the large ones. */
        uint64_t span = size < MAX_SIZE ? size : MAX_SIZE;
        stress_pattern(data, 0, span, seeds[s]);
        memset(out, 0, span);
        if (it % 2) {
            W_MUST(gpumem_stream_write(w->stream, live[s], 0, data, span));
            W_MUST(gpumem_stream_read(w->stream, live[s], 0, out, span));
            W_MUST(gpumem_stream_synchronize(w->stream));
        } else {
            W_MUST(gpumem_buffer_write(live[s], 0, data, span));
            W_MUST(gpumem_buffer_read(live[s], 0, out, span));
        }
        if (!check_read(w->id, it, "write then read", out, 0, span, seeds[s]))
            goto out;
        gpumem_buffer_info info;
        W_MUST(gpumem_buffer_info_get(live[s], &info));
        if (info.size != size || info.mapped != 0) {
            STRESS_FAIL("worker %d: info of its own buffer says size %llu mapped %u, expected "
                        "%llu and 0", w->id, (unsigned long long)info.size, info.mapped,
                        (unsigned long long)size);
            goto out;
        }

        /* Another of this thread's buffers still holds its data (nobody else writes it). */
        int o = (s + 1 + (int)stress_below(&rng, LIVE - 1)) % LIVE;
        if (live[o]) {
            uint64_t ospan = sizes[o] < MAX_SIZE ? sizes[o] : MAX_SIZE;
            uint64_t at = stress_below(&rng, (uint32_t)ospan);
            uint64_t n = ospan - at;
            W_MUST(gpumem_buffer_read(live[o], at, out, n));
            if (!check_read(w->id, it, "an older buffer", out, at, n, seeds[o]))
                goto out;
            /* Copy a piece of it into the new buffer, read it back, put the pattern back. */
            uint64_t c = n < span ? n : span;
            uint64_t to = stress_below(&rng, (uint32_t)(span - c + 1));
            W_MUST(gpumem_buffer_copy(live[o], at, live[s], to, c));
            W_MUST(gpumem_buffer_read(live[s], to, out, c));
            if (!check_read(w->id, it, "copy", out, at, c, seeds[o]))
                goto out;
            W_MUST(gpumem_buffer_write(live[s], to, data + to, c));
        }
        /* Fill a 4-aligned piece, check it, then restore the pattern. */
        if (span >= 8) {
            uint64_t at = 4 * stress_below(&rng, (uint32_t)(span / 4));
            uint64_t n = 4 * (1 + stress_below(&rng, (uint32_t)((span - at) / 4)));
            uint32_t pattern = (uint32_t)stress_next(&rng);
            W_MUST(gpumem_buffer_fill(live[s], at, n, pattern));
            W_MUST(gpumem_buffer_read(live[s], at, out, n));
            uint64_t bad = stress_fill_mismatch(out, n, pattern);
            if (bad != n) {
                STRESS_FAIL("worker %d iteration %u: fill: byte %llu of %llu wrong", w->id, it,
                            (unsigned long long)bad, (unsigned long long)n);
                goto out;
            }
            W_MUST(gpumem_stream_fill(w->stream, live[s], at, n, ~pattern));
            W_MUST(gpumem_stream_write(w->stream, live[s], at, data + at, n));
            W_MUST(gpumem_stream_synchronize(w->stream));
            W_MUST(gpumem_buffer_read(live[s], 0, out, span));
            if (!check_read(w->id, it, "fill, then write back", out, 0, span, seeds[s]))
                goto out;
        }
    }
out:
    for (int s = 0; s < LIVE; s++) {
        atomic_store(&slots[w->id][s].handle, 0);
        if (live[s] && MUST(gpumem_buffer_destroy(live[s])))
            ops++;
    }
    free(data);
    free(out);
    atomic_fetch_add(&total_ops, ops);
    atomic_fetch_add(&workers_done, 1);
    return NULL;
}

/* Reads what the workers publish; every call here races with a worker's destroy. */
static void *observe(void *arg)
{
    stress_rng rng = stress_rng_seed(0x5F00);
    uint64_t ops = 0, hits = 0;
    char *json = malloc(1 << 20);
    while (atomic_load(&workers_done) < WORKERS && !stress_failed()) {
        gpumem_pool pool = pools[stress_below(&rng, (uint32_t)pool_count)];
        gpumem_pool_stats st;
        if (!MUST(gpumem_pool_stats_get(pool, &st)))
            break;
        ops++;
        if (st.used_bytes > st.reserved_bytes || st.allocation_count > WORKERS * LIVE) {
            STRESS_FAIL("pool stats inconsistent: used %llu reserved %llu pages %llu buffers %llu",
                        (unsigned long long)st.used_bytes, (unsigned long long)st.reserved_bytes,
                        (unsigned long long)st.page_count,
                        (unsigned long long)st.allocation_count);
            break;
        }
        uint32_t pick = stress_below(&rng, 64);
        if (pick == 0) {
            if (!MUST(gpumem_pool_trim(pool)))
                break;
            ops++;
        } else if (pick == 1 && json) {
            uint64_t length;
            gpumem_result r = gpumem_device_dump_json(device, json, 1 << 20, &length);
            if (r != GPUMEM_OK && r != GPUMEM_ERROR_INSUFFICIENT_BUFFER) {
                STRESS_FAIL("gpumem_device_dump_json -> %s (%s)", rs(r), gpumem_last_error());
                break;
            }
            ops++;
        }
        for (int i = 0; i < 8; i++) {
            published *p = &slots[stress_below(&rng, WORKERS)][stress_below(&rng, LIVE)];
            uint64_t h = atomic_load(&p->handle);
            uint64_t size = atomic_load(&p->size);
            if (!h || atomic_load(&p->handle) != h)
                continue; /* being replaced: size may belong to another buffer */
            gpumem_buffer b = (gpumem_buffer)(uintptr_t)h;
            gpumem_buffer_info info;
            gpumem_result r = gpumem_buffer_info_get(b, &info);
            ops++;
            if (r == GPUMEM_OK) {
                hits++;
                if (info.size != size || info.mapped != 0 ||
                    info.offset + info.size > info.page_size) {
                    STRESS_FAIL("gpumem_buffer_info_get of buffer 0x%llx (size %llu) raced with "
                                "its destroy and returned OK with size %llu, offset %llu, page "
                                "size %llu, mapped %u: the info of another buffer",
                                (unsigned long long)h, (unsigned long long)size,
                                (unsigned long long)info.size, (unsigned long long)info.offset,
                                (unsigned long long)info.page_size, info.mapped);
                    goto out;
                }
            } else if (r != GPUMEM_ERROR_DESTROYED) {
                STRESS_FAIL("gpumem_buffer_info_get racing with destroy -> %s (%s), expected OK "
                            "or DESTROYED", rs(r), gpumem_last_error());
                goto out;
            }
            gpumem_native_buffer native;
            r = gpumem_buffer_native(b, &native);
            ops++;
            if (r != GPUMEM_OK && r != GPUMEM_ERROR_DESTROYED) {
                STRESS_FAIL("gpumem_buffer_native racing with destroy -> %s (%s)", rs(r),
                            gpumem_last_error());
                goto out;
            }
            if (r != GPUMEM_OK || !native.address)
                continue;
            /* Looked up by address while the workers replace buffers: this buffer, at the
             * right offset, or (once it is gone) another one or none. */
            gpumem_buffer found;
            uint64_t offset;
            r = gpumem_buffer_find(device, native.address + size / 2, &found, &offset);
            ops++;
            if ((r != GPUMEM_OK && r != GPUMEM_ERROR_NOT_FOUND) ||
                (r == GPUMEM_OK && found == b && offset != size / 2)) {
                STRESS_FAIL("gpumem_buffer_find racing with destroy -> %s (%s), offset %llu of "
                            "%llu", rs(r), gpumem_last_error(), (unsigned long long)offset,
                            (unsigned long long)size / 2);
                goto out;
            }
        }
    }
out:
    free(json);
    atomic_store(&observer_ops, ops);
    atomic_store(&observer_hits, hits);
    return NULL;
}

/* The threads besides worker 0's (the workers array starts at worker 0). */
static void start_others(worker *w)
{
    others_started = 1;
    for (int i = 1; i < WORKERS; i++)
        stress_start(&threads[i], work, &w[i]);
    stress_start(&threads[WORKERS], observe, NULL);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--own-pools") == 0)
        pool_count = WORKERS;
    else if (argc > 1 && strcmp(argv[1], "--arenas") == 0)
        arena_count = WORKERS - 1;
    else if (argc > 1 && strcmp(argv[1], "--late") == 0)
        late = 1;
    else if (argc > 1)
        return fprintf(stderr, "stress_pool: unknown argument '%s'\n", argv[1]) > 0;
    double t0 = stress_now();
    stress_watchdog();
    stress_progress("workers and observer", 0);
    /* --late's subject is one hand-over, a quarter through: a quarter of the iterations. */
    iterations = stress_count(late ? 3000 : 12000, 4, 3);
    device = stress_open_or_exit();
    char backend[GPUMEM_NAME_SIZE];
    stress_backend_name(device, backend, sizeof backend);
    gpumem_pool_desc pd = {.page_size = PAGE_SIZE, .name = "stress-shared",
                           .arena_count = arena_count};
    for (int i = 0; i < pool_count; i++)
        if (!MUST(gpumem_pool_create(device, &pd, &pools[i])))
            return 1;
    worker w[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i].id = i;
        if (!MUST(gpumem_stream_create(device, &w[i].stream)))
            return 1;
    }
    if (late) {
        work(&w[0]); /* starts the others a quarter through */
        if (!others_started) /* too few iterations, or a failure before a quarter */
            start_others(w);
    } else {
        for (int i = 0; i < WORKERS; i++)
            stress_start(&threads[i], work, &w[i]);
        stress_start(&threads[WORKERS], observe, NULL);
    }
    for (int i = late ? 1 : 0; i <= WORKERS; i++)
        pthread_join(threads[i], NULL);

    for (int i = 0; i < pool_count; i++) {
        gpumem_pool_stats st;
        if (MUST(gpumem_pool_stats_get(pools[i], &st)) &&
            (st.allocation_count != 0 || st.used_bytes != 0))
            STRESS_FAIL("after every buffer was destroyed pool %d still counts %llu buffers, "
                        "%llu bytes", i, (unsigned long long)st.allocation_count,
                        (unsigned long long)st.used_bytes);
    }
    for (int i = 0; i < WORKERS; i++)
        MUST(gpumem_stream_destroy(w[i].stream));
    for (int i = 0; i < pool_count; i++)
        MUST(gpumem_pool_destroy(pools[i]));
    MUST(gpumem_device_close(device));

    char summary[256], arenas[32] = "";
    if (arena_count)
        snprintf(arenas, sizeof arenas, " of %u arenas", arena_count);
    snprintf(summary, sizeof summary,
             "%s, %d worker threads in %d pool%s%s + 1 observer%s, %u iterations each, %llu worker "
             "ops, %llu observer ops (%llu racing info calls returned OK)",
             backend, WORKERS, pool_count, pool_count > 1 ? "s" : "", arenas,
             late ? " (all but worker 0 from a quarter through)" : "", iterations,
             (unsigned long long)atomic_load(&total_ops),
             (unsigned long long)atomic_load(&observer_ops),
             (unsigned long long)atomic_load(&observer_hits));
    return stress_finish("stress-pool", summary, stress_now() - t0);
}
