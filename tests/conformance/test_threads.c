/* Threads: four threads share one pool and each has its own stream; every byte is checked.
 * Failures are recorded per thread and asserted on the test's own thread (Criterion's aborting
 * asserts must not run on other threads). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "conformance.h"

enum { THREADS = 4, ROUNDS = 150, LIVE = 6, MAX_SIZE = 20000 };

typedef struct worker {
    int id;
    gpumem_pool pool;
    gpumem_stream stream;
    uint64_t ops;
    char failure[512];
} worker;

#define WORKER_CHECK(w, call)                                                               \
    do {                                                                                    \
        gpumem_result wc_r_ = (call);                                                       \
        if (wc_r_ != GPUMEM_OK) {                                                           \
            snprintf((w)->failure, sizeof (w)->failure, "thread %d, line %d: %s -> %s (%s)", \
                     (w)->id, __LINE__, #call, gpumem_result_string(wc_r_),                 \
                     gpumem_last_error());                                                  \
            goto out;                                                                       \
        }                                                                                   \
        (w)->ops++;                                                                         \
    } while (0)

static void *work(void *arg)
{
    worker *w = arg;
    gpumem_buffer live[LIVE] = {0};
    uint64_t sizes[LIVE] = {0}, seeds[LIVE] = {0};
    uint8_t *data = malloc(MAX_SIZE), *out = malloc(MAX_SIZE);
    uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(w->id + 1);
    if (!data || !out) {
        snprintf(w->failure, sizeof w->failure, "thread %d: out of memory", w->id);
        goto out;
    }
    for (int round = 0; round < ROUNDS; round++) {
        int slot = round % LIVE;
        if (live[slot])
            WORKER_CHECK(w, gpumem_buffer_destroy(live[slot]));
        live[slot] = NULL;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        sizes[slot] = 1 + (x >> 33) % MAX_SIZE;
        gpumem_buffer_desc desc = {.size = sizes[slot], .alignment = 1ull << ((x >> 13) % 9)};
        WORKER_CHECK(w, gpumem_buffer_create(w->pool, &desc, &live[slot]));
        uint64_t seed = ((uint64_t)w->id << 32) | (uint64_t)round;
        conf_pattern(data, sizes[slot], seed);
        memset(out, 0, sizes[slot]);
        if (round % 2) {
            /* Asynchronous, on this thread's own stream. */
            WORKER_CHECK(w, gpumem_stream_write(w->stream, live[slot], 0, data, sizes[slot]));
            WORKER_CHECK(w, gpumem_stream_read(w->stream, live[slot], 0, out, sizes[slot]));
            WORKER_CHECK(w, gpumem_stream_synchronize(w->stream));
        } else {
            WORKER_CHECK(w, gpumem_buffer_write(live[slot], 0, data, sizes[slot]));
            WORKER_CHECK(w, gpumem_buffer_read(live[slot], 0, out, sizes[slot]));
        }
        size_t at = conf_mismatch(out, data, sizes[slot]);
        if (at != sizes[slot]) {
            snprintf(w->failure, sizeof w->failure,
                     "thread %d round %d: byte %zu of %llu read back wrong", w->id, round, at,
                     (unsigned long long)sizes[slot]);
            goto out;
        }
        seeds[slot] = seed;
        /* Another live buffer of this thread still holds its data (nobody else wrote it). */
        int other = (slot + 1) % LIVE;
        if (live[other] && round % 3 == 0) {
            conf_pattern(data, sizes[other], seeds[other]);
            WORKER_CHECK(w, gpumem_buffer_read(live[other], 0, out, sizes[other]));
            at = conf_mismatch(out, data, sizes[other]);
            if (at != sizes[other]) {
                snprintf(w->failure, sizeof w->failure,
                         "thread %d round %d: an older buffer changed at byte %zu", w->id,
                         round, at);
                goto out;
            }
        }
        if (round % 16 == 0) {
            gpumem_pool_stats s;
            WORKER_CHECK(w, gpumem_pool_stats_get(w->pool, &s));
        }
    }
out:
    for (int i = 0; i < LIVE; i++)
        if (live[i])
            gpumem_buffer_destroy(live[i]);
    free(data);
    free(out);
    return NULL;
}

/* Four threads in one pool of `arenas` arenas (0: one). */
static void share_a_pool(uint32_t arenas)
{
    gpumem_pool_desc desc = {.page_size = 1 << 20, .max_empty_pages = 2, .name = "threads",
                             .arena_count = arenas};
    gpumem_pool pool;
    OK(gpumem_pool_create(conf_dev, &desc, &pool));
    worker workers[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (worker){.id = i, .pool = pool};
        OK(gpumem_stream_create(conf_dev, &workers[i].stream));
    }
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, work, &workers[i]), 0);
    /* Meanwhile this thread reads the pool's statistics and dumps the device. */
    for (int i = 0; i < 20; i++) {
        gpumem_pool_stats s;
        OK(gpumem_pool_stats_get(pool, &s));
        uint64_t length;
        OK(gpumem_device_dump_json(conf_dev, NULL, 0, &length));
    }
    uint64_t ops = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        cr_expect_eq(workers[i].failure[0], '\0', "%s", workers[i].failure);
        ops += workers[i].ops;
    }
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(workers[i].failure[0], '\0', "%s", workers[i].failure);
    cr_assert_geq(ops, THREADS * ROUNDS * 3);
    gpumem_pool_stats s;
    OK(gpumem_pool_stats_get(pool, &s));
    cr_assert_eq(s.allocation_count, 0);
    cr_assert_eq(s.used_bytes, 0);
    cr_assert_leq(s.page_count, 2 * (arenas ? arenas : 1)); /* max_empty_pages each */
    /* The four threads took the pool's arenas in turn: every arena was used, and keeps a
     * page. */
    if (arenas)
        cr_assert_geq(s.page_count, arenas, "%llu pages: not every arena was used",
                      (unsigned long long)s.page_count);
    for (int i = 0; i < THREADS; i++)
        OK(gpumem_stream_destroy(workers[i].stream));
    OK(gpumem_pool_destroy(pool));
}

CONF_TEST(threads_share_a_pool_with_own_streams)
{
    CONF_SKIP_IF_EXTERNALLY_SYNCHRONIZED();
    share_a_pool(0);
}

/* The same with three arenas: two threads share one, the others have theirs. */
CONF_TEST(threads_share_a_pool_of_arenas)
{
    CONF_SKIP_IF_EXTERNALLY_SYNCHRONIZED();
    share_a_pool(THREADS - 1);
}

/* Threads that write, fill and read disjoint ranges of one buffer whose atoms of non-coherent
 * memory they share: one large range (9 MiB: large enough for the mapped path where the runtime
 * also copies directly), and 24-byte pieces on both sides of it, in its first and last atoms.
 * A write through a mapping must not bring back, or write back, a neighbour's bytes of a shared
 * atom at the wrong moment. */
enum { PIECE = 24, PIECES = 4, BIG = 9 << 20, BIG_ROUNDS = 12, MIN_PIECE_ROUNDS = 50 };

typedef struct range_worker {
    int id;
    gpumem_buffer buffer;
    gpumem_stream stream;
    uint64_t offset, size;
    int rounds;            /* 0: until *stop */
    volatile int *stop;
    uint8_t *data, *out;
    char failure[512];
} range_worker;

static void *write_range(void *arg)
{
    range_worker *w = arg;
    uint64_t n = w->size;
    for (int round = 0; !w->failure[0] && (w->rounds ? round < w->rounds
                                                      : round < MIN_PIECE_ROUNDS || !*w->stop);
         round++) {
        uint32_t pattern = 0x01010101u * (uint32_t)(w->id * 16 + round % 16);
        gpumem_result r;
        if (round % 3 == 2) {
            r = round % 2 ? gpumem_stream_fill(w->stream, w->buffer, w->offset, n, pattern)
                          : gpumem_buffer_fill(w->buffer, w->offset, n, pattern);
            memset(w->data, (int)(pattern & 0xFF), n);
        } else {
            conf_pattern(w->data, n, (uint64_t)w->id << 32 | (uint64_t)round);
            r = round % 2 ? gpumem_stream_write(w->stream, w->buffer, w->offset, w->data, n)
                          : gpumem_buffer_write(w->buffer, w->offset, w->data, n);
        }
        if (r == GPUMEM_OK)
            r = gpumem_stream_read(w->stream, w->buffer, w->offset, w->out, n);
        if (r == GPUMEM_OK)
            r = gpumem_stream_synchronize(w->stream);
        size_t at = r == GPUMEM_OK ? conf_mismatch(w->out, w->data, n) : 0;
        if (r != GPUMEM_OK)
            snprintf(w->failure, sizeof w->failure, "thread %d, round %d: %s (%s)", w->id, round,
                     gpumem_result_string(r), gpumem_last_error());
        else if (at != n)
            snprintf(w->failure, sizeof w->failure,
                     "thread %d, round %d: byte %llu of the buffer read back 0x%02x after a %s "
                     "of 0x%02x", w->id, round, (unsigned long long)(w->offset + at), w->out[at],
                     round % 3 == 2 ? "fill" : "write", w->data[at]);
    }
    if (w->rounds)
        *w->stop = 1;
    return NULL;
}

CONF_TEST(threads_write_ranges_that_share_atoms)
{
    CONF_SKIP_IF_EXTERNALLY_SYNCHRONIZED();
    /* Non-coherent memory where the device has it, else any host-visible memory, else any. */
    uint32_t type = conf_find_type(GPUMEM_MEMORY_HOST_VISIBLE, GPUMEM_MEMORY_HOST_COHERENT);
    if (type == UINT32_MAX)
        type = conf_find_type(GPUMEM_MEMORY_HOST_VISIBLE, 0);
    if (type == UINT32_MAX)
        type = 0;
    enum { WORKERS = 2 * PIECES + 1 };
    gpumem_pool pool = conf_type_pool(type, 16 << 20, 0, "shared atoms");
    gpumem_buffer buffer = conf_buffer(pool, 2 * PIECES * PIECE + BIG, 0);
    range_worker workers[WORKERS];
    pthread_t threads[WORKERS];
    volatile int stop = 0;
    for (int i = 0; i < WORKERS; i++) {
        int big = i == WORKERS - 1;
        uint64_t offset = big ? PIECES * PIECE
                              : (uint64_t)(i % PIECES) * PIECE + (i >= PIECES ? PIECES * PIECE + BIG : 0);
        workers[i] = (range_worker){.id = i, .buffer = buffer, .offset = offset,
                                    .size = big ? BIG : PIECE, .rounds = big ? BIG_ROUNDS : 0,
                                    .stop = &stop};
        workers[i].data = conf_alloc(workers[i].size);
        workers[i].out = conf_alloc(workers[i].size);
        OK(gpumem_stream_create(conf_dev, &workers[i].stream));
    }
    for (int i = 0; i < WORKERS; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, write_range, &workers[i]), 0);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < WORKERS; i++)
        cr_expect_eq(workers[i].failure[0], '\0', "memory type %u: %s", type,
                     workers[i].failure);
    for (int i = 0; i < WORKERS; i++) {
        OK(gpumem_stream_destroy(workers[i].stream));
        free(workers[i].data);
        free(workers[i].out);
    }
    OK(gpumem_pool_destroy(pool));
}

/* Devices opened and closed on several threads at once. */
static void *open_close(void *arg)
{
    char *failure = arg;
    for (int i = 0; i < 5; i++) {
        gpumem_device dev;
        gpumem_result r = conf_open(&dev);
        if (r != GPUMEM_OK) {
            snprintf(failure, 512, "open: %s (%s)", gpumem_result_string(r),
                     gpumem_last_error());
            return NULL;
        }
        gpumem_pool pool;
        gpumem_buffer b;
        uint32_t v = 0x12345678u + (uint32_t)i, o = 0;
        if ((r = gpumem_pool_create(dev, &(gpumem_pool_desc){.page_size = 1 << 20}, &pool)) ||
            (r = gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = 4}, &b)) ||
            (r = gpumem_buffer_write(b, 0, &v, 4)) || (r = gpumem_buffer_read(b, 0, &o, 4))) {
            snprintf(failure, 512, "%s (%s)", gpumem_result_string(r), gpumem_last_error());
            gpumem_device_close(dev);
            return NULL;
        }
        if (o != v)
            snprintf(failure, 512, "read 0x%08x, wrote 0x%08x", o, v);
        if ((r = gpumem_device_close(dev)) != GPUMEM_OK)
            snprintf(failure, 512, "close: %s (%s)", gpumem_result_string(r),
                     gpumem_last_error());
        if (failure[0])
            return NULL;
    }
    return NULL;
}

CONF_TEST(devices_opened_and_closed_on_several_threads)
{
    char failures[2][512] = {"", ""};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, open_close, failures[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(failures[i][0], '\0', "thread %d: %s", i, failures[i]);
}
