/* Random workload traces for gpumem-bench: reproducible from their seed (a fixed one unless
 * --seed gives another), made before the clock starts. */
#include "bench_trace.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

/* splitmix64: one add and three multiply-xorshifts per number, good enough statistics for a
 * workload trace, and a single word of state to seed. */
uint64_t rng_next(rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double rng_unit(rng *r) /* [0, 1) */
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

uint32_t rng_below(rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * n) >> 32);
}

/* Log-uniform sizes: as many small allocations as large ones per doubling, as real workloads
 * have, where a uniform draw would be almost all large. */
static uint64_t rng_log_uniform(rng *r, double low, double high)
{
    uint64_t size = (uint64_t)exp(log(low) + rng_unit(r) * (log(high) - log(low)));
    return size < (uint64_t)low ? (uint64_t)low : size;
}

void trace_free(trace *t)
{
    free(t->fill_sizes);
    free(t->sizes);
    free(t->victims);
}

static uint64_t trace_size(rng *r, double low, double high)
{
    if (low == 0 && high == 0)
        return rng_below(r, 10) ? rng_log_uniform(r, 256, 4 << 10)
                                : rng_log_uniform(r, 1 << 20, 4 << 20);
    if (high == 0)
        return (uint64_t)low;
    return rng_log_uniform(r, low, high);
}

int trace_make(trace *t, uint64_t seed, uint32_t live, uint32_t steps, double low, double high)
{
    rng r = {seed};
    *t = (trace){live, steps, malloc(live * sizeof(uint64_t)), malloc(steps * sizeof(uint64_t)),
                 malloc(steps * sizeof(uint32_t))};
    if (!t->fill_sizes || !t->sizes || !t->victims) {
        trace_free(t);
        return bench_out_of_memory("trace");
    }
    for (uint32_t i = 0; i < live; i++)
        t->fill_sizes[i] = trace_size(&r, low, high);
    for (uint32_t i = 0; i < steps; i++) {
        t->sizes[i] = trace_size(&r, low, high);
        t->victims[i] = rng_below(&r, live);
    }
    return 0;
}

