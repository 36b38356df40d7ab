/* The paged pool's create+destroy pair on gpumem-bench's pool trace (bench_trace.c's
 * trace_make with its default seed: LIVE buffers of log-uniform sizes from 256 B to 1 MiB, then
 * PAIRS times a random one destroyed and one of a new size made in its place), in a loop of its
 * own on the default backend, for callgrind and other tools that count what a pair costs
 * (docs/performance.md, "Fifty-ninth session"). The trace is made before the loop, so the loop
 * holds gpumem's calls and little else. Built with the tools, not installed:
 *
 *   GPUMEM_BACKEND=host valgrind --tool=callgrind --cache-sim=yes \
 *       build-rel/tools/pool-trace-pairs 200000 1
 *
 * (another library: LD_LIBRARY_PATH=DIR, which comes before the build's run path).
 * Arguments: PAIRS (default 200000), REPEATS (default 1: a new pool each), LIVE (default 256).
 * Prints the time per pair of each repeat. */
#include <gpumem/gpumem.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "bench_trace.h"

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
    trace t;
    if (trace_make(&t, TRACE_SEED, live_count, pairs, 256, 1 << 20))
        return 1;
    gpumem_buffer *live = malloc(live_count * sizeof *live);
    if (!live) {
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        trace_free(&t);
        return 1;
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
            gpumem_buffer_desc desc = {.size = t.fill_sizes[i]};
            failed = gpumem_buffer_create(pool, &desc, &live[i]) != GPUMEM_OK;
        }
        double start = bench_now();
        failed = failed || run_pairs(pool, pairs, t.sizes, t.victims, live);
        double end = bench_now();
        if (!failed)
            printf("%.2f ns/pair\n", (end - start) * 1e9 / pairs);
        gpumem_pool_destroy(pool);
    }
    if (failed)
        fprintf(stderr, "%s: %s\n", argv[0], gpumem_last_error());
    gpumem_device_close(device);
    trace_free(&t);
    free(live);
    return failed;
}
