/* gpumem as the device allocator of PyTorch and CuPy (libgpumem-frameworks).
 *
 * The entry points have the exact signatures the frameworks load: PyTorch's
 * torch.cuda.memory.CUDAPluggableAllocator (alloc and free) and CuPy's
 * cupy.cuda.memory.CFunctionAllocator (malloc and free). Each device ordinal the framework asks
 * for gets one gpumem device (the runtime's primary context, as the frameworks use) and one
 * pool of device-local memory; allocations are stream-ordered buffers of that pool
 * (gpumem_buffer_create_on_stream) on the framework's stream, wrapped once per native stream
 * (gpumem_stream_wrap), and frees find their buffer by address (gpumem_buffer_find). CuPy's
 * entry points carry no stream: they order on the runtime's legacy default stream (0), and each
 * such free from a paged pool first records an event there, so that the memory's next user on
 * any blocking stream runs after its last (non-blocking streams do not synchronize with the
 * legacy stream: docs/python.md). PyTorch's frees name their stream, the default one (0, the
 * legacy stream) too, and are reused on it with nothing queued. The python package's
 * gpumem.torch and gpumem.cupy install them. The same library serves HIP builds of the frameworks (backend "hip": the
 * streams are hipStream_t).
 *
 * With GPUMEM_FRAMEWORKS_TRACE=FILE in the environment, every allocation and free is written to
 * FILE as a line "a|f ADDRESS SIZE DEVICE STREAM" (decimal; CuPy's frees have SIZE 0), for
 * replaying a workload's allocations against other pool settings
 * (tests/device/replay_trace.py). */
#ifndef GPUMEM_FRAMEWORKS_H
#define GPUMEM_FRAMEWORKS_H

#include <stddef.h>

#include "gpumem/gpumem.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gpumem_frameworks_config {
    const char *backend; /* "cuda" (NULL: "cuda") or "hip" */
    uint32_t pool_kind;  /* GPUMEM_POOL_PAGED (default) or GPUMEM_POOL_NATIVE */
    uint32_t reserved;
    uint64_t page_size;  /* paged pools (0: 512 MiB, at most 2^62): requests up to half a page
                            share pages */
} gpumem_frameworks_config;

/* Sets how devices are opened; only until an allocation has opened a device (the first that
 * succeeded in opening one, whether or not its buffer could then be made: GPUMEM_ERROR_BAD_STATE
 * after). config NULL: the defaults. */
GPUMEM_API gpumem_result gpumem_frameworks_configure(const gpumem_frameworks_config *config);

/* PyTorch (CUDAPluggableAllocator): NULL when the allocation fails (gpumem_frameworks_last_error
 * says why, and it is printed to stderr). */
GPUMEM_API void *gpumem_frameworks_torch_alloc(size_t size, int device, void *stream);
GPUMEM_API void gpumem_frameworks_torch_free(void *pointer, size_t size, int device,
                                             void *stream);

/* CuPy (CFunctionAllocator); `param` is unused. */
GPUMEM_API void *gpumem_frameworks_cupy_malloc(void *param, size_t size, int device);
GPUMEM_API void gpumem_frameworks_cupy_free(void *param, void *pointer, int device);

/* Why this thread's latest failed allocation or free failed ("" before any failed): the line
 * printed to stderr, without its prefix. The reason stays until the next failure; gpumem's own
 * last error may be another call's, as not every failure here is a gpumem call's. */
GPUMEM_API const char *gpumem_frameworks_last_error(void);

/* The pool of a device ordinal: its statistics, and a trim (waits for the work of
 * stream-ordered frees, then releases empty pages). GPUMEM_ERROR_NOT_FOUND for an ordinal
 * nothing was allocated on. */
GPUMEM_API gpumem_result gpumem_frameworks_stats(int device, gpumem_pool_stats *stats);
GPUMEM_API gpumem_result gpumem_frameworks_trim(int device);

#ifdef __cplusplus
}
#endif

#endif
