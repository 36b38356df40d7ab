/* The paged pool's create+destroy pair on a trace like gpumem-bench's pool section, in a loop of
 * its own, for callgrind and other tools that count what a pair costs (docs/performance.md,
 * "Fifty-second session" and "Fifty-ninth session"): LIVE buffers of log-uniform sizes from
 * 256 B to 1 MiB, then PAIRS times a random one destroyed and one of a new size made in its
 * place, on the default backend. Sizes and victims are drawn before the loop, so the loop holds
 * gpumem's calls and little else.
 *
 *   cc -O2 -o pool_trace_pairs tools/probes/pool_trace_pairs.c -Iinclude -Ibuild-rel/include \
 *       -Lbuild-rel/lib -Wl,-rpath,$PWD/build-rel/lib -lgpumem -lm
 *   GPUMEM_BACKEND=host valgrind --tool=callgrind --cache-sim=yes ./pool_trace_pairs 200000 1
 *
 * Arguments: PAIRS (default 200000), REPEATS (default 1: a new pool each), LIVE (default 256).
 * Prints the time per pair of each repeat. */
#include <gpumem/gpumem.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t next_random(uint64_t *state) /* splitmix64 */
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t random_below(uint64_t *state, uint32_t n)
{
    return (uint32_t)(((next_random(state) >> 32) * n) >> 32);
}

static uint64_t log_uniform(uint64_t *state, double low, double high)
{
    double unit = (double)(next_random(state) >> 11) * 0x1.0p-53;
    uint64_t size = (uint64_t)exp(log(low) + unit * (log(high) - log(low)));
    return size < (uint64_t)low ? (uint64_t)low : size;
}

/* Out of line, so that a profile shows the loop apart from the setup. */
__attribute__((noinline)) static int run_pairs(gpumem_pool pool, uint32_t pairs,
                                               const uint64_t *sizes, const uint32_t *victims,
                                               gpumem_buffer *live)
{
    for (uint32_t i = 0; i < pairs; i++) {
        gpumem_buffer *slot = &live[victims[i]];
        gpumem_buffer_desc desc = {.size = sizes[i]};
        if (gpumem_buffer_destroy(*slot) != GPUMEM_OK ||
            gpumem_buffer_create(pool, &desc, slot) != GPUMEM_OK)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    uint32_t pairs = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 200000;
    int repeats = argc > 2 ? atoi(argv[2]) : 1;
    uint32_t live_count = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 256;
    if (pairs == 0 || repeats < 1 || live_count == 0) {
        fprintf(stderr, "usage: %s [PAIRS] [REPEATS] [LIVE], each at least 1\n", argv[0]);
        return 2;
    }
    uint64_t state = 1;
    uint64_t *first_sizes = malloc(live_count * sizeof *first_sizes);
    uint64_t *sizes = malloc(pairs * sizeof *sizes);
    uint32_t *victims = malloc(pairs * sizeof *victims);
    gpumem_buffer *live = malloc(live_count * sizeof *live);
    if (!first_sizes || !sizes || !victims || !live) {
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        return 1;
    }
    for (uint32_t i = 0; i < live_count; i++)
        first_sizes[i] = log_uniform(&state, 256, 1 << 20);
    for (uint32_t i = 0; i < pairs; i++) {
        sizes[i] = log_uniform(&state, 256, 1 << 20);
        victims[i] = random_below(&state, live_count);
    }
    gpumem_device device;
    if (gpumem_device_open(NULL, &device) != GPUMEM_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], gpumem_last_error());
        return 1;
    }
    int failed = 0;
    for (int r = 0; r < repeats && !failed; r++) {
        gpumem_pool_desc pool_desc = {.name = "pool_trace_pairs"};
        gpumem_pool pool;
        if (gpumem_pool_create(device, &pool_desc, &pool) != GPUMEM_OK) {
            failed = 1;
            break;
        }
        for (uint32_t i = 0; i < live_count && !failed; i++) {
            gpumem_buffer_desc desc = {.size = first_sizes[i]};
            failed = gpumem_buffer_create(pool, &desc, &live[i]) != GPUMEM_OK;
        }
        struct timespec start, end;
        clock_gettime(CLOCK_MONOTONIC, &start);
        failed = failed || run_pairs(pool, pairs, sizes, victims, live);
        clock_gettime(CLOCK_MONOTONIC, &end);
        if (!failed)
            printf("%.2f ns/pair\n", ((double)(end.tv_sec - start.tv_sec) * 1e9 +
                                      (double)(end.tv_nsec - start.tv_nsec)) / pairs);
        gpumem_pool_destroy(pool);
    }
    if (failed)
        fprintf(stderr, "%s: %s\n", argv[0], gpumem_last_error());
    gpumem_device_close(device);
    free(first_sizes);
    free(sizes);
    free(victims);
    free(live);
    return failed;
}
