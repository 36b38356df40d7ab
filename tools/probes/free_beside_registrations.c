/* What the registration cache costs the rest of the process: malloc and free pairs of 64 to
 * 176 bytes (none of them registered memory) while the cache holds N registrations of 1 MiB of
 * mapped memory each, on one or more threads. With the cache on, libgpumem-memhooks calls the
 * cache's listener at every free, munmap and realloc of the process (core/registration_cache.c);
 * this measures that, with the cache's real code and a backend whose registration is a no-op.
 * docs/performance.md, "Forty-seventh session".
 *
 * Built against core's static library of a build (internal headers), with the hooks ahead of
 * the C library:
 *   gcc -O2 -flto -pthread -Icore -Iinclude -Ibuild-rel/include -Ibuild-rel/core \
 *       tools/probes/free_beside_registrations.c build-rel/lib/builtin.c \
 *       build-rel/memhooks/libgpumem-memhooks.so -Wl,-rpath,$PWD/build-rel/memhooks \
 *       build-rel/core/libgpumem-core.a build-rel/backends/host/libgpumem-backend-host.a \
 *       build-rel/backends/cuda/libgpumem-backend-cuda.a build-rel/backends/gpurt/libgpumem-gpurt.a \
 *       -ldl -lm -o free_beside_registrations
 * (the last two libraries where the build has the CUDA backend, which builtin.c then names)
 *   taskset -c 1 ./free_beside_registrations N 1 [PAIRS]          the cache off
 *   GPUMEM_REGISTRATION_CACHE=1073741824 taskset -c 1 ./free_beside_registrations N THREADS
 * Prints the mean over the threads of each one's ns per pair.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "device.h"
#include "registration_cache.h"

enum { MAX_THREADS = 64 };

static gpumem_result no_op_register(gpumem_backend_device *device, void *host, uint64_t size,
                                    gpumem_backend_registration **registration)
{
    (void)device, (void)host, (void)size;
    *registration = (gpumem_backend_registration *)(uintptr_t)1;
    return GPUMEM_OK;
}

static void no_op_unregister(gpumem_backend_device *device,
                             gpumem_backend_registration *registration)
{
    (void)device, (void)registration;
}

static const gpumem_backend_vtable ops = {.host_register = no_op_register,
                                          .host_unregister = no_op_unregister};
static gpumem_device_obj device = {.ops = &ops, .streams = {&device.streams, &device.streams}};
static long pairs = 2000000;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *malloc_free_pairs(void *ns)
{
    void *volatile last = NULL; /* keeps the pair from being optimized away */
    double start = now();
    for (long i = 0; i < pairs; i++) {
        void *p = malloc(64 + (size_t)(i & 7) * 16);
        last = p;
        free(p);
    }
    *(double *)ns = (now() - start) * 1e9 / (double)pairs;
    (void)last;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s REGISTRATIONS THREADS [PAIRS]\n", argv[0]);
        return 2;
    }
    int registrations = atoi(argv[1]), threads = atoi(argv[2]);
    if (argc > 3)
        pairs = atol(argv[3]);
    if (threads < 1 || threads > MAX_THREADS || registrations < 0 || pairs < 1) {
        fprintf(stderr, "1 to %d threads, registrations >= 0, pairs >= 1\n", MAX_THREADS);
        return 2;
    }
    int on = getenv("GPUMEM_REGISTRATION_CACHE") != NULL;
    if (on && !gpumem_registration_cache_enabled()) {
        fprintf(stderr, "GPUMEM_REGISTRATION_CACHE is set, but the cache is off (are the hooks "
                        "linked ahead of the C library?)\n");
        return 1;
    }
    if (!on && registrations) {
        fprintf(stderr, "registrations need the cache on (GPUMEM_REGISTRATION_CACHE)\n");
        return 2;
    }
    for (int i = 0; i < registrations; i++) {
        void *memory = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            -1, 0);
        gpumem_cached_registration *r =
            memory == MAP_FAILED
                ? NULL
                : gpumem_registration_cache_take(&device, memory, 1 << 20, 1);
        if (!r) {
            fprintf(stderr, "registration %d was not made (past the cache's 64 slots?)\n", i);
            return 1;
        }
        gpumem_registration_cache_release(r);
    }
    pthread_t thread[MAX_THREADS];
    double ns[MAX_THREADS], sum = 0;
    for (int i = 0; i < threads; i++)
        if (pthread_create(&thread[i], NULL, malloc_free_pairs, &ns[i]) != 0)
            return 1;
    for (int i = 0; i < threads; i++) {
        pthread_join(thread[i], NULL);
        sum += ns[i];
    }
    printf("cache %s, %d registrations, %d threads: %.1f ns a malloc+free pair\n",
           on ? "on" : "off", registrations, threads, sum / threads);
    return 0;
}
