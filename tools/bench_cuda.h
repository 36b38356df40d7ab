/* gpumem-bench's cuda section: gpumem against the plain CUDA driver API on the same device. */
#ifndef GPUMEM_TOOLS_BENCH_CUDA_H
#define GPUMEM_TOOLS_BENCH_CUDA_H

#include "bench.h"
#include "gpumem/gpumem.h"

/* Runs the section on `device` (a cuda device) and reports through bench_result, section
 * "cuda":
 * - alloc_gpumem, alloc_cuMemAlloc, alloc_cuMemAllocAsync (ns/pair), and
 *   alloc_speedup_vs_async, alloc_speedup_vs_cuMemAlloc (x): one random trace of buffer sizes
 *   (256 B to 1 MiB, 256 live) replayed on a gpumem paged pool of device memory, on
 *   cuMemAlloc/cuMemFree, and on cuMemAllocAsync/cuMemFreeAsync (the device's default pool,
 *   release threshold raised so it caches: its best case; the final stream wait is timed);
 *   the same five with the suffix _second_pass: the trace replayed once more right after, on
 *   the same live set, the steady state;
 * - h2d_pinned_gpumem / h2d_pinned_raw, d2h_pinned_* (GB/s) and *_ratio (x, gpumem over raw):
 *   gpumem_buffer_write/read from a mapped buffer of a pinned pool against cuMemcpyHtoDAsync /
 *   cuMemcpyDtoHAsync from the same memory, plus a stream wait;
 * - h2d_pageable_*, d2h_pageable_*: the same from malloc'ed memory against cuMemcpyHtoD /
 *   cuMemcpyDtoH from the same buffer;
 * - h2d_registered_*, d2h_registered_*: the same from malloc'ed memory registered with
 *   gpumem_host_register (gpumem's transfers then go by DMA, unstaged);
 * - d2d_gpumem / d2d_raw: gpumem_buffer_copy against cuMemcpyDtoDAsync plus a stream wait;
 * - register_<N>_MiB / unregister_<N>_MiB (ms): gpumem_host_register and
 *   gpumem_host_unregister of the transfer size of resident pageable memory.
 * Transfers move options->transfer_size bytes. Failures are printed on stderr; the section then
 * reports what it measured, and returns 1 (0 when everything was measured). */
int bench_cuda(gpumem_device device, const bench_options *options);

#endif
