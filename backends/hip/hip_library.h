/* The HIP runtime as gpumem uses it: libamdhip64.so.<major> (or GPUMEM_HIP_LIBRARY) opened at run
 * time, its symbols in a table. ROCm's headers give the types only; the prototypes are
 * written here so the table says exactly what is called. */
#ifndef GPUMEM_HIP_LIBRARY_H
#define GPUMEM_HIP_LIBRARY_H

#include <hip/hip_runtime_api.h>

#include "gpurt_loader.h"

/* X(exported name, API name, version, required, result, parameters), as gpurt/loader.h
 * describes; HIP exports every API name once, unversioned, so the version is unused. */
#define HIP_LIBRARY_SYMBOLS(X)                                                                    \
    X(hipInit, "hipInit", 0, 1, hipError_t, (unsigned int flags))                                 \
    X(hipGetErrorName, "hipGetErrorName", 0, 1, const char *, (hipError_t error))                 \
    X(hipGetDeviceCount, "hipGetDeviceCount", 0, 1, hipError_t, (int *count))                     \
    X(hipGetDevice, "hipGetDevice", 0, 1, hipError_t, (int *device))                              \
    X(hipSetDevice, "hipSetDevice", 0, 1, hipError_t, (int device))                               \
    X(hipDeviceGetName, "hipDeviceGetName", 0, 1, hipError_t,                                     \
      (char *name, int size, hipDevice_t device))                                                 \
    X(hipDeviceTotalMem, "hipDeviceTotalMem", 0, 1, hipError_t,                                   \
      (size_t * bytes, hipDevice_t device))                                                       \
    X(hipDeviceGetAttribute, "hipDeviceGetAttribute", 0, 1, hipError_t,                           \
      (int *value, hipDeviceAttribute_t attribute, int device))                                   \
    X(hipDeviceGetPCIBusId, "hipDeviceGetPCIBusId", 0, 1, hipError_t,                             \
      (char *bus_id, int size, int device))                                                       \
    X(hipDriverGetVersion, "hipDriverGetVersion", 0, 0, hipError_t, (int *version))               \
    X(hipRuntimeGetVersion, "hipRuntimeGetVersion", 0, 1, hipError_t, (int *version))             \
    X(hipMalloc, "hipMalloc", 0, 1, hipError_t, (void **pointer, size_t size))                    \
    X(hipFree, "hipFree", 0, 1, hipError_t, (void *pointer))                                      \
    X(hipHostMalloc, "hipHostMalloc", 0, 1, hipError_t,                                           \
      (void **pointer, size_t size, unsigned int flags))                                          \
    X(hipHostFree, "hipHostFree", 0, 1, hipError_t, (void *pointer))                              \
    X(hipDeviceGetUuid, "hipDeviceGetUuid", 0, 0, hipError_t, (hipUUID * uuid, int device))       \
    X(hipHostRegister, "hipHostRegister", 0, 1, hipError_t,                                       \
      (void *pointer, size_t size, unsigned int flags))                                           \
    X(hipHostUnregister, "hipHostUnregister", 0, 1, hipError_t, (void *pointer))                  \
    X(hipMallocManaged, "hipMallocManaged", 0, 1, hipError_t,                                     \
      (void **pointer, size_t size, unsigned int flags))                                          \
    X(hipMemGetInfo, "hipMemGetInfo", 0, 1, hipError_t,                                           \
      (size_t * free_bytes, size_t * total_bytes))                                                \
    X(hipPointerGetAttribute, "hipPointerGetAttribute", 0, 1, hipError_t,                         \
      (void *data, hipPointer_attribute attribute, hipDeviceptr_t pointer))                       \
    X(hipStreamCreateWithFlags, "hipStreamCreateWithFlags", 0, 1, hipError_t,                     \
      (hipStream_t * stream, unsigned int flags))                                                 \
    X(hipStreamDestroy, "hipStreamDestroy", 0, 1, hipError_t, (hipStream_t stream))               \
    X(hipStreamSynchronize, "hipStreamSynchronize", 0, 1, hipError_t, (hipStream_t stream))       \
    X(hipEventCreateWithFlags, "hipEventCreateWithFlags", 0, 1, hipError_t,                       \
      (hipEvent_t * event, unsigned int flags))                                                   \
    X(hipEventDestroy, "hipEventDestroy", 0, 1, hipError_t, (hipEvent_t event))                   \
    X(hipEventRecord, "hipEventRecord", 0, 1, hipError_t,                                         \
      (hipEvent_t event, hipStream_t stream))                                                     \
    X(hipEventSynchronize, "hipEventSynchronize", 0, 1, hipError_t, (hipEvent_t event))           \
    X(hipStreamWaitEvent, "hipStreamWaitEvent", 0, 1, hipError_t,                                 \
      (hipStream_t stream, hipEvent_t event, unsigned int flags))                                 \
    X(hipMemcpyAsync, "hipMemcpyAsync", 0, 1, hipError_t,                                         \
      (void *destination, const void *source, size_t size, hipMemcpyKind kind,                    \
       hipStream_t stream))                                                                       \
    X(hipMemcpyHtoDAsync, "hipMemcpyHtoDAsync", 0, 1, hipError_t,                                 \
      (hipDeviceptr_t destination, void *source, size_t size, hipStream_t stream))                \
    X(hipMemcpyDtoHAsync, "hipMemcpyDtoHAsync", 0, 1, hipError_t,                                 \
      (void *destination, hipDeviceptr_t source, size_t size, hipStream_t stream))                \
    X(hipMemsetD32Async, "hipMemsetD32Async", 0, 1, hipError_t,                                   \
      (hipDeviceptr_t destination, int value, size_t count, hipStream_t stream))                  \
    X(hipMemPoolCreate, "hipMemPoolCreate", 0, 0, hipError_t,                                     \
      (hipMemPool_t * pool, const hipMemPoolProps *properties))                                   \
    X(hipMemPoolDestroy, "hipMemPoolDestroy", 0, 0, hipError_t, (hipMemPool_t pool))              \
    X(hipMemPoolSetAttribute, "hipMemPoolSetAttribute", 0, 0, hipError_t,                         \
      (hipMemPool_t pool, hipMemPoolAttr attribute, void *value))                                 \
    X(hipMemPoolGetAttribute, "hipMemPoolGetAttribute", 0, 0, hipError_t,                         \
      (hipMemPool_t pool, hipMemPoolAttr attribute, void *value))                                 \
    X(hipMemPoolTrimTo, "hipMemPoolTrimTo", 0, 0, hipError_t, (hipMemPool_t pool, size_t keep))   \
    X(hipMallocFromPoolAsync, "hipMallocFromPoolAsync", 0, 0, hipError_t,                         \
      (void **pointer, size_t size, hipMemPool_t pool, hipStream_t stream))                       \
    X(hipFreeAsync, "hipFreeAsync", 0, 0, hipError_t, (void *pointer, hipStream_t stream))

GPURT_DECLARE_SYMBOLS(HIP_LIBRARY_SYMBOLS, hip_library_functions);

/* The loaded runtime function, with its type: HIP(hipMalloc)(&pointer, size). */
#define HIP(id) GPURT_CALL(hip_library_functions, id)

/* Opens the runtime once per process; nonzero with the reason ("libamdhip64.so not found"). */
int hip_library_load(char *reason, size_t reason_size);

/* "hipErrorOutOfMemory", or NULL. */
const char *hip_error_name(int status);

#endif
