/* Sustained throughput of core's host copies (core/host_copy.c) in staging-sized pieces: 8 MiB
 * chunks copied into and out of a 256 MiB array, 20 times, timed whole. The whole time, not the
 * best run, because a control group's CPU quota throttles a process only once it has used its
 * share of a period (100 ms): short medians, as gpumem-bench takes, miss it.
 *
 * Built and run by tools/cpu-quota-copies.sh, against core's sources: it prints how many CPUs
 * core counts (gpumem_usable_cpus) and the copiers it then uses. GPUMEM_COPY_THREADS sets the
 * copiers, as in the library (read here by a stand-in for env.c's reader). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpus.h"
#include "host_copy.h"

unsigned gpumem_env_copy_threads(unsigned fallback, unsigned max)
{
    const char *v = getenv("GPUMEM_COPY_THREADS");
    unsigned n = v ? (unsigned)atoi(v) : 0;
    return n >= 1 && n <= max ? n : fallback;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(void)
{
    const size_t chunk = 8u << 20, total = 256u << 20;
    const int rounds = 20;
    char *big = malloc(total), *piece = aligned_alloc(4096, chunk);
    if (!big || !piece)
        return 1;
    memset(big, 1, total);
    memset(piece, 2, chunk);
    double into = 0, out = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        for (size_t o = 0; o < total; o += chunk)
            gpumem_host_copy(piece, big + o, chunk);
        double t1 = now();
        for (size_t o = 0; o < total; o += chunk)
            gpumem_host_copy_read(big + o, piece, chunk, total);
        into += t1 - t0;
        out += now() - t1;
    }
    const char *set = getenv("GPUMEM_COPY_THREADS");
    printf("usable CPUs %ld, copiers %s: into a chunk %.2f GB/s, out of a chunk %.2f GB/s\n",
           gpumem_usable_cpus(), set ? set : "(default)", rounds * (double)total / into / 1e9,
           rounds * (double)total / out / 1e9);
    free(big);
    free(piece);
    return 0;
}
