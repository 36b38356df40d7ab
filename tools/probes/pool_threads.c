/* Threads creating and destroying buffers on one pool, or each on a pool of its own: the time a
 * pair takes each thread, and the pairs all threads make a microsecond. Each thread keeps 125
 * live buffers of 256 B to 4 KiB on the default device and replaces a random one a step, as
 * gpumem-bench's `threads` rows do, in a program small enough for perf(1) and for counters
 * built into a library under test.
 *
 *   cc -O2 -pthread -Iinclude -Ibuild-rel/include tools/probes/pool_threads.c \
 *      -Lbuild-rel/lib -lgpumem -Wl,-rpath,$PWD/build-rel/lib -o pool_threads
 *   ./pool_threads THREADS [PAIRS [own]]     (default 2 threads, 100000 pairs each, one pool)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpumem/gpumem.h"

enum { LIVE = 125, MAX_THREADS = 64 };

static gpumem_device device;
static gpumem_pool shared_pool;
static long pairs;
static int own_pools;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t next(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state >> 33;
}

static int fail(const char *what)
{
    fprintf(stderr, "pool_threads: %s: %s\n", what, gpumem_last_error());
    return 1;
}

static void *work(void *arg)
{
    uint64_t state = (uintptr_t)arg * 7919u + 1u;
    gpumem_pool pool = shared_pool;
    if (own_pools && gpumem_pool_create(device, NULL, &pool) != GPUMEM_OK)
        return (void *)(uintptr_t)fail("pool create");
    gpumem_buffer live[LIVE];
    for (int i = 0; i < LIVE; i++) {
        gpumem_buffer_desc desc = {.size = 256 + next(&state) % 3840};
        if (gpumem_buffer_create(pool, &desc, &live[i]) != GPUMEM_OK)
            return (void *)(uintptr_t)fail("buffer create");
    }
    for (long k = 0; k < pairs; k++) {
        uint64_t i = next(&state) % LIVE;
        gpumem_buffer_desc desc = {.size = 256 + next(&state) % 3840};
        if (gpumem_buffer_destroy(live[i]) != GPUMEM_OK ||
            gpumem_buffer_create(pool, &desc, &live[i]) != GPUMEM_OK)
            return (void *)(uintptr_t)fail("pair");
    }
    for (int i = 0; i < LIVE; i++)
        gpumem_buffer_destroy(live[i]);
    if (own_pools)
        gpumem_pool_destroy(pool);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    pairs = argc > 2 ? atol(argv[2]) : 100000;
    own_pools = argc > 3 && strcmp(argv[3], "own") == 0;
    if (threads < 1 || threads > MAX_THREADS || pairs < 1) {
        fprintf(stderr, "usage: pool_threads THREADS(1-%d) [PAIRS [own]]\n", MAX_THREADS);
        return 2;
    }
    if (gpumem_device_open(NULL, &device) != GPUMEM_OK)
        return fail("device open");
    if (gpumem_pool_create(device, NULL, &shared_pool) != GPUMEM_OK)
        return fail("pool create");
    pthread_t t[MAX_THREADS];
    double start = now();
    for (int i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, work, (void *)(uintptr_t)(i + 1)) != 0)
            return 1;
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        void *result;
        pthread_join(t[i], &result);
        failed |= result != NULL;
    }
    double seconds = now() - start;
    if (!failed)
        printf("%d threads, %s: %.1f ns a pair each, %.2f pairs a microsecond in all\n", threads,
               own_pools ? "pools of their own" : "one pool", seconds * 1e9 / (double)pairs,
               (double)threads * (double)pairs / seconds / 1e6);
    gpumem_pool_destroy(shared_pool);
    gpumem_device_close(device);
    return failed;
}
