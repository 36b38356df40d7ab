/* The CUDA driver API as gpumem uses it: libcuda.so.1 opened at run time and its symbols in a
 * table. cuda.h from the toolkit gives the types only; the prototypes are written here, per
 * exported ABI version, so that a newer header remapping a name (cuCtxCreate to
 * cuCtxCreate_v4 in CUDA 13) cannot change what is called. */
#ifndef GPUMEM_CUDA_DRIVER_H
#define GPUMEM_CUDA_DRIVER_H

#include <cuda.h>

#include "gpurt_loader.h"

/* X(exported name, API name, ABI version, required, result, parameters): the API name and
 * version are what cuGetProcAddress takes, the exported name what dlsym finds. Versions are
 * those of the PFN_<name>_v<version> types in cudaTypedefs.h. */
#define CUDA_DRIVER_SYMBOLS(X)                                                                    \
    X(cuInit, "cuInit", 2000, 1, CUresult, (unsigned int flags))                                  \
    X(cuGetErrorName, "cuGetErrorName", 6000, 1, CUresult, (CUresult error, const char **name))   \
    X(cuDeviceGetCount, "cuDeviceGetCount", 2000, 1, CUresult, (int *count))                      \
    X(cuDeviceGet, "cuDeviceGet", 2000, 1, CUresult, (CUdevice * device, int ordinal))            \
    X(cuDeviceGetName, "cuDeviceGetName", 2000, 1, CUresult,                                      \
      (char *name, int size, CUdevice device))                                                    \
    X(cuDeviceTotalMem_v2, "cuDeviceTotalMem", 3020, 1, CUresult,                                 \
      (size_t * bytes, CUdevice device))                                                          \
    X(cuDeviceGetAttribute, "cuDeviceGetAttribute", 2000, 1, CUresult,                            \
      (int *value, CUdevice_attribute attribute, CUdevice device))                                \
    X(cuDeviceGetPCIBusId, "cuDeviceGetPCIBusId", 4010, 1, CUresult,                              \
      (char *bus_id, int size, CUdevice device))                                                  \
    X(cuDriverGetVersion, "cuDriverGetVersion", 2020, 0, CUresult, (int *version))                \
    X(cuDeviceGetUuid_v2, "cuDeviceGetUuid", 11040, 0, CUresult, (CUuuid * uuid, CUdevice device)) \
    X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", 7000, 1, CUresult,                    \
      (CUcontext * context, CUdevice device))                                                     \
    X(cuDevicePrimaryCtxRelease_v2, "cuDevicePrimaryCtxRelease", 11000, 1, CUresult,              \
      (CUdevice device))                                                                          \
    X(cuCtxPushCurrent_v2, "cuCtxPushCurrent", 4000, 1, CUresult, (CUcontext context))            \
    X(cuCtxPopCurrent_v2, "cuCtxPopCurrent", 4000, 1, CUresult, (CUcontext * context))            \
    X(cuCtxGetDevice, "cuCtxGetDevice", 2000, 1, CUresult, (CUdevice * device))                   \
    X(cuMemAlloc_v2, "cuMemAlloc", 3020, 1, CUresult, (CUdeviceptr * address, size_t size))       \
    X(cuMemFree_v2, "cuMemFree", 3020, 1, CUresult, (CUdeviceptr address))                        \
    X(cuMemHostAlloc, "cuMemHostAlloc", 2020, 1, CUresult,                                        \
      (void **host, size_t size, unsigned int flags))                                             \
    X(cuMemFreeHost, "cuMemFreeHost", 2000, 1, CUresult, (void *host))                            \
    X(cuMemHostRegister_v2, "cuMemHostRegister", 6050, 1, CUresult,                              \
      (void *host, size_t size, unsigned int flags))                                              \
    X(cuMemHostUnregister, "cuMemHostUnregister", 4000, 1, CUresult, (void *host))                \
    X(cuMemAllocManaged, "cuMemAllocManaged", 6000, 1, CUresult,                                  \
      (CUdeviceptr * address, size_t size, unsigned int flags))                                   \
    X(cuMemGetInfo_v2, "cuMemGetInfo", 3020, 1, CUresult,                                         \
      (size_t * free_bytes, size_t * total_bytes))                                                \
    X(cuPointerGetAttributes, "cuPointerGetAttributes", 7000, 1, CUresult,                        \
      (unsigned int count, CUpointer_attribute *attributes, void **data, CUdeviceptr pointer))    \
    X(cuStreamCreate, "cuStreamCreate", 2000, 1, CUresult,                                        \
      (CUstream * stream, unsigned int flags))                                                    \
    X(cuStreamDestroy_v2, "cuStreamDestroy", 4000, 1, CUresult, (CUstream stream))                \
    X(cuStreamSynchronize, "cuStreamSynchronize", 2000, 1, CUresult, (CUstream stream))           \
    X(cuEventCreate, "cuEventCreate", 2000, 1, CUresult, (CUevent * event, unsigned int flags))   \
    X(cuEventDestroy_v2, "cuEventDestroy", 4000, 1, CUresult, (CUevent event))                    \
    X(cuEventRecord, "cuEventRecord", 2000, 1, CUresult, (CUevent event, CUstream stream))        \
    X(cuEventSynchronize, "cuEventSynchronize", 2000, 1, CUresult, (CUevent event))               \
    X(cuStreamWaitEvent, "cuStreamWaitEvent", 2000, 1, CUresult,                                  \
      (CUstream stream, CUevent event, unsigned int flags))                                       \
    X(cuMemcpyAsync, "cuMemcpyAsync", 4000, 1, CUresult,                                          \
      (CUdeviceptr destination, CUdeviceptr source, size_t size, CUstream stream))                \
    X(cuMemcpyHtoDAsync_v2, "cuMemcpyHtoDAsync", 3020, 1, CUresult,                               \
      (CUdeviceptr destination, const void *source, size_t size, CUstream stream))                \
    X(cuMemcpyDtoHAsync_v2, "cuMemcpyDtoHAsync", 3020, 1, CUresult,                               \
      (void *destination, CUdeviceptr source, size_t size, CUstream stream))                      \
    X(cuMemsetD32Async, "cuMemsetD32Async", 3020, 1, CUresult,                                    \
      (CUdeviceptr destination, unsigned int value, size_t count, CUstream stream))               \
    X(cuMemPoolCreate, "cuMemPoolCreate", 11020, 0, CUresult,                                     \
      (CUmemoryPool * pool, const CUmemPoolProps *properties))                                    \
    X(cuMemPoolDestroy, "cuMemPoolDestroy", 11020, 0, CUresult, (CUmemoryPool pool))              \
    X(cuMemPoolSetAttribute, "cuMemPoolSetAttribute", 11020, 0, CUresult,                         \
      (CUmemoryPool pool, CUmemPool_attribute attribute, void *value))                            \
    X(cuMemPoolGetAttribute, "cuMemPoolGetAttribute", 11020, 0, CUresult,                         \
      (CUmemoryPool pool, CUmemPool_attribute attribute, void *value))                            \
    X(cuMemPoolTrimTo, "cuMemPoolTrimTo", 11020, 0, CUresult, (CUmemoryPool pool, size_t keep))   \
    X(cuMemAllocFromPoolAsync, "cuMemAllocFromPoolAsync", 11020, 0, CUresult,                     \
      (CUdeviceptr * address, size_t size, CUmemoryPool pool, CUstream stream))                   \
    X(cuMemFreeAsync, "cuMemFreeAsync", 11020, 0, CUresult,                                       \
      (CUdeviceptr address, CUstream stream))

GPURT_DECLARE_SYMBOLS(CUDA_DRIVER_SYMBOLS, cuda_driver_functions);

/* The loaded driver function, with its type: CU(cuMemAlloc_v2)(&address, size). */
#define CU(id) GPURT_CALL(cuda_driver_functions, id)

/* Opens libcuda.so.1 and runs cuInit once per process; nonzero with the reason on failure. */
int cuda_driver_load(char *reason, size_t reason_size);

/* "CUDA_ERROR_OUT_OF_MEMORY", or NULL for a code the driver does not know. */
const char *cuda_error_name(int status);

#endif
