/* What gpumem-bench's sections share: options, timing, and one way to report a number. */
#ifndef GPUMEM_TOOLS_BENCH_H
#define GPUMEM_TOOLS_BENCH_H

#include <stdint.h>

#include "gpumem/gpumem.h"

typedef struct bench_options {
    int json;               /* print one JSON document instead of lines */
    int quick;              /* smaller sizes and fewer repeats (for smoke tests) */
    uint32_t repeats;       /* runs per measurement; the median is reported */
    uint64_t transfer_size; /* bytes per transfer measurement (default 256 MiB) */
    uint64_t seed;          /* of bench_trace.h's traces (vblock, pool, scale; default
                             * TRACE_SEED); the cuda and vulkan sections keep their own */
    uint32_t pool_live;     /* live buffers of the pool section's trace (default 256) */
} bench_options;

/* Seconds on a monotonic clock. */
double bench_now(void);

/* Says on stderr that `what` ("cuda: transfer timings") found no host memory; returns 1, the
 * failure status every section passes up. */
int bench_out_of_memory(const char *what);

/* Median of n values (sorts them in place). */
double bench_median(double *values, uint32_t n);

/* Reports one measurement: section ("vblock", "pool", "transfer", "vulkan", "cuda"), name
 * ("create_destroy_pool"), value and unit ("ns/pair", "GB/s", "x"). For a figure of one value
 * (a ratio of medians, a deterministic count). */
void bench_result(const bench_options *options, const char *section, const char *name,
                  double value, const char *unit);

/* Reports a measurement of n runs: its median, min and max (sorts `values` in place). */
void bench_result_runs(const bench_options *options, const char *section, const char *name,
                       double *values, uint32_t n, const char *unit);

/* A progress line on stderr for runs longer than a second ("transfer/write: 3/5"), rewritten in
 * place, only when stderr is a terminal: logs and pipes get results alone. */
void bench_progress(const bench_options *options, const char *what, uint32_t done,
                    uint32_t total);

#endif
