/* Random workload traces for gpumem-bench's sections (bench_trace.c). */
#ifndef GPUMEM_TOOLS_BENCH_TRACE_H
#define GPUMEM_TOOLS_BENCH_TRACE_H

#include <stdint.h>

/* "gpumem!\x01": any fixed value keeps traces reproducible (gpumem-bench --seed sets another). */
#define TRACE_SEED 0x6770756d656d2101ull

/* The virtual block the vblock section replays its traces in, and the alignment of every
 * allocation (gpumem-bench.c, tools/probes/vblock_trace_pairs.c). */
#define TRACE_VBLOCK_SIZE (64ull << 30)
#define TRACE_VBLOCK_ALIGNMENT 256

/* splitmix64 (bench_trace.c): a reproducible generator of one word of state. */
typedef struct rng {
    uint64_t state;
} rng;

uint64_t rng_next(rng *r);
double rng_unit(rng *r); /* [0, 1) */
uint32_t rng_below(rng *r, uint32_t n); /* [0, n), by multiply-shift: no division */

/* A steady-state churn: `live` sizes to fill with, then `steps` pairs (free victims[i], then
 * allocate sizes[i] in its place). */
typedef struct trace {
    uint32_t live;
    uint32_t steps;
    uint64_t *fill_sizes;
    uint64_t *sizes;
    uint32_t *victims;
} trace;

/* The sizes of a trace: log-uniform between low and high; all equal to low (high 0); or
 * bimodal: 90% log-uniform from 256 B to 4 KiB, 10% from 1 to 4 MiB (low and high 0). Nonzero
 * (after a message) when memory runs out. */
int trace_make(trace *t, uint64_t seed, uint32_t live, uint32_t steps, double low, double high);
void trace_free(trace *t);

#endif
