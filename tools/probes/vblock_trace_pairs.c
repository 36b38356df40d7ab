/* A virtual block's free+alloc pair on one of gpumem-bench's vblock traces (bench_trace.c's
 * trace_make with its default seed: LIVE allocations, then PAIRS times a random one freed and
 * one of a new size made in its place, in the vblock section's block and at its alignment,
 * bench_trace.h), in a loop of its own, for callgrind and other tools that count what a pair
 * costs (docs/performance.md, "Sixty-second session"). The trace is made before the loop, so the
 * loop holds gpumem's calls and little else. Built with the tools, not installed:
 *
 *   valgrind --tool=callgrind --cache-sim=yes --toggle-collect=run_pairs \
 *       build-rel/tools/vblock-trace-pairs 200000 1 10000
 *
 * (another library: LD_LIBRARY_PATH=DIR, which comes before the build's run path).
 * Arguments: PAIRS (default 200000), REPEATS (default 1: a new block each), LIVE (default
 * 10000), LOW and HIGH (default 256 and 4194304: log-uniform sizes between them; HIGH 0 makes
 * every size LOW, both 0 the bimodal trace), as trace_make takes them. Prints the time per pair
 * of each repeat. */
#include <gpumem/gpumem.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "bench_trace.h"

/* Out of line, so that a profile shows the loop apart from the setup. */
__attribute__((noinline)) static int run_pairs(gpumem_vblock vb, uint32_t pairs,
                                               const uint64_t *sizes, const uint32_t *victims,
                                               gpumem_vblock_allocation *live)
{
    for (uint32_t i = 0; i < pairs; i++) {
        gpumem_vblock_allocation *slot = &live[victims[i]];
        uint64_t offset;
        if (gpumem_vblock_free(vb, *slot) != GPUMEM_OK ||
            gpumem_vblock_alloc(vb, sizes[i], TRACE_VBLOCK_ALIGNMENT, slot, &offset) != GPUMEM_OK)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    uint32_t pairs = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 200000;
    int repeats = argc > 2 ? atoi(argv[2]) : 1;
    uint32_t live_count = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 10000;
    double low = argc > 4 ? strtod(argv[4], NULL) : 256;
    double high = argc > 5 ? strtod(argv[5], NULL) : 4 << 20;
    /* Written so that NaN fails every test: sizes from LOW to HIGH (1 <= LOW <= HIGH), LOW
     * alone (at least 1), or the bimodal trace (both 0). */
    int sizes_ok = high == 0 ? low >= 1 || low == 0 : low >= 1 && high >= low;
    if (pairs == 0 || repeats < 1 || live_count == 0 || !sizes_ok) {
        fprintf(stderr,
                "usage: %s [PAIRS] [REPEATS] [LIVE] [LOW HIGH]: counts of at least 1; sizes "
                "from LOW to HIGH, LOW alone with HIGH 0, or both 0 (bimodal)\n",
                argv[0]);
        return 2;
    }
    trace t;
    if (trace_make(&t, TRACE_SEED, live_count, pairs, low, high))
        return 1;
    gpumem_vblock_allocation *live = malloc(live_count * sizeof *live);
    if (!live) {
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        trace_free(&t);
        return 1;
    }
    int failed = 0;
    for (int r = 0; r < repeats && !failed; r++) {
        gpumem_vblock vb;
        if (gpumem_vblock_create(TRACE_VBLOCK_SIZE, &vb) != GPUMEM_OK) {
            fprintf(stderr, "%s: %s\n", argv[0], gpumem_last_error());
            failed = 1;
            break;
        }
        for (uint32_t i = 0; i < live_count && !failed; i++) {
            uint64_t offset;
            failed = gpumem_vblock_alloc(vb, t.fill_sizes[i], TRACE_VBLOCK_ALIGNMENT, &live[i],
                                         &offset) != GPUMEM_OK;
        }
        double start = bench_now();
        failed = failed || run_pairs(vb, pairs, t.sizes, t.victims, live);
        double end = bench_now();
        if (!failed)
            printf("%.2f ns/pair\n", (end - start) * 1e9 / pairs);
        else
            fprintf(stderr, "%s: %s\n", argv[0], gpumem_last_error());
        gpumem_vblock_destroy(vb);
    }
    trace_free(&t);
    free(live);
    return failed;
}
