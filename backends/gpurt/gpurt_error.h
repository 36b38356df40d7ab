/* Failures of native calls, told in the runtime's words for gpumem_last_error(). */
#ifndef GPUMEM_GPURT_ERROR_H
#define GPUMEM_GPURT_ERROR_H

#include "gpurt_runtime.h"
#include "gpumem/backend.h"

/* "cuStreamCreate: CUDA_ERROR_INVALID_CONTEXT"; GPUMEM_ERROR_BACKEND (or, for the runtime's
 * out-of-memory status, GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY). */
gpumem_result gpurt_fail(const gpurt_runtime *rt, gpurt_call call, gpurt_status status);

/* The same with a detail after the error ("... for 4096 bytes"); the runtime's out-of-memory
 * status gives `out_of_memory` (device or host memory, as the call allocates). */
gpumem_result gpurt_failf(const gpurt_runtime *rt, gpurt_call call, gpurt_status status,
                          gpumem_result out_of_memory, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* An allocation of `size` bytes that failed. */
gpumem_result gpurt_fail_allocation(const gpurt_runtime *rt, gpurt_call call,
                                    gpurt_status status, gpumem_result out_of_memory,
                                    uint64_t size);

/* The runtime's name of a status, or "error <n>" in `buffer`. */
const char *gpurt_status_name(const gpurt_runtime *rt, gpurt_status status, char *buffer,
                              size_t size);

#endif
