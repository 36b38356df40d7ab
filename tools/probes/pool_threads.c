/* Threads creating and destroying buffers on one pool, or each on a pool of its own: the time a
 * pair takes each thread, and the pairs all threads make a microsecond. Each thread keeps 125
 * live buffers of 256 B to 4 KiB on the default device and replaces a random one a step, as
 * gpumem-bench's `threads` rows do, in a program small enough for perf(1) and for counters
 * built into a library under test.
 *
 * Two controls run the same loop without gpumem, to tell what the machine does to threads
 * from what gpumem does: `malloc` replaces each buffer with a malloc(3) block of the same size
 * (an allocator whose threads share nothing but the process), `spin` keeps only the loop's
 * arithmetic. `pin` puts thread i on the i-th CPU of the process's affinity mask.
 *
 *   cc -O2 -pthread -Iinclude -Ibuild-rel/include tools/probes/pool_threads.c \
 *      -Lbuild-rel/lib -lgpumem -Wl,-rpath,$PWD/build-rel/lib -o pool_threads
 *   ./pool_threads THREADS [PAIRS [one|own|malloc|spin [pin]]]
 *                                            (default 2 threads, 100000 pairs each, one pool)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
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
static int pin;
static enum { GPUMEM, MALLOC, SPIN } loop = GPUMEM;
static volatile uint64_t spin_sink;

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

/* The i-th CPU (from 0) of the process's affinity mask, or -1. */
static int nth_cpu(int i)
{
    cpu_set_t mask;
    if (sched_getaffinity(0, sizeof mask, &mask) != 0)
        return -1;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &mask) && i-- == 0)
            return cpu;
    return -1;
}

/* The controls: the same steps with malloc(3) blocks, or with the arithmetic alone. */
static void *control(uint64_t state)
{
    void *live[LIVE];
    uint64_t sink = 0;
    for (int i = 0; i < LIVE; i++)
        live[i] = loop == MALLOC ? malloc(256 + next(&state) % 3840) : NULL;
    for (long k = 0; k < pairs; k++) {
        uint64_t i = next(&state) % LIVE;
        uint64_t size = 256 + next(&state) % 3840;
        if (loop == MALLOC) {
            free(live[i]);
            if (!(live[i] = malloc(size)))
                return (void *)1;
        } else {
            sink += i ^ size;
        }
    }
    for (int i = 0; i < LIVE; i++)
        free(live[i]);
    spin_sink = sink;
    return NULL;
}

static void *work(void *arg)
{
    uint64_t state = (uintptr_t)arg * 7919u + 1u;
    if (pin) {
        cpu_set_t one;
        CPU_ZERO(&one);
        int cpu = nth_cpu((int)(uintptr_t)arg - 1);
        if (cpu < 0)
            return (void *)(uintptr_t)fail("pin: fewer CPUs than threads");
        CPU_SET(cpu, &one);
        if (pthread_setaffinity_np(pthread_self(), sizeof one, &one) != 0)
            return (void *)(uintptr_t)fail("pin");
    }
    if (loop != GPUMEM)
        return control(state);
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
    const char *mode = argc > 3 ? argv[3] : "one";
    own_pools = strcmp(mode, "own") == 0;
    loop = strcmp(mode, "malloc") == 0 ? MALLOC : strcmp(mode, "spin") == 0 ? SPIN : GPUMEM;
    pin = argc > 4 && strcmp(argv[4], "pin") == 0;
    if (threads < 1 || threads > MAX_THREADS || pairs < 1 ||
        (loop == GPUMEM && !own_pools && strcmp(mode, "one") != 0) ||
        (argc > 4 && !pin)) {
        fprintf(stderr, "usage: pool_threads THREADS(1-%d) [PAIRS [one|own|malloc|spin [pin]]]\n",
                MAX_THREADS);
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
        printf("%d threads%s, %s: %.1f ns a pair each, %.2f pairs a microsecond in all\n",
               threads, pin ? " (pinned)" : "",
               loop == MALLOC ? "malloc (control)"
               : loop == SPIN ? "arithmetic only (control)"
               : own_pools    ? "pools of their own"
                              : "one pool",
               seconds * 1e9 / (double)pairs,
               (double)threads * (double)pairs / seconds / 1e6);
    gpumem_pool_destroy(shared_pool);
    gpumem_device_close(device);
    return failed;
}
