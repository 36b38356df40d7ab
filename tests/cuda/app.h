/* The tests' own CUDA application: a few driver calls of its own, through libcuda.so.1 opened
 * here as gpumem opens it, to check gpumem against what an application does natively. */
#ifndef GPUMEM_TESTS_CUDA_APP_H
#define GPUMEM_TESTS_CUDA_APP_H

#include <cuda.h>

/* Exported names with their exact types (see backends/cuda/cuda_driver.h for why). */
#define APP_CUDA_SYMBOLS(X)                                                              \
    X(cuInit, (unsigned int flags))                                                      \
    X(cuDeviceGet, (CUdevice * device, int ordinal))                                     \
    X(cuCtxDestroy_v2, (CUcontext context))                                              \
    X(cuCtxPushCurrent_v2, (CUcontext context))                                          \
    X(cuCtxPopCurrent_v2, (CUcontext * context))                                         \
    X(cuCtxGetCurrent, (CUcontext * context))                                            \
    X(cuCtxSynchronize, (void))                                                          \
    X(cuMemAlloc_v2, (CUdeviceptr * address, size_t size))                               \
    X(cuMemFree_v2, (CUdeviceptr address))                                               \
    X(cuMemsetD8_v2, (CUdeviceptr address, unsigned char value, size_t count))           \
    X(cuMemsetD8Async, (CUdeviceptr address, unsigned char value, size_t count, CUstream s)) \
    X(cuMemcpyDtoH_v2, (void *destination, CUdeviceptr source, size_t size))             \
    X(cuStreamCreate, (CUstream * stream, unsigned int flags))                           \
    X(cuStreamDestroy_v2, (CUstream stream))                                             \
    X(cuStreamSynchronize, (CUstream stream))                                            \
    X(cuEventCreate, (CUevent * event, unsigned int flags))                              \
    X(cuEventRecord, (CUevent event, CUstream stream))                                   \
    X(cuEventDestroy_v2, (CUevent event))                                                \
    X(cuDeviceGetAttribute, (int *value, CUdevice_attribute attribute, CUdevice device)) \
    X(cuMemcpy2D_v2, (const CUDA_MEMCPY2D *copy))                                        \
    X(cuMemcpy3D_v2, (const CUDA_MEMCPY3D *copy))                                        \
    X(cuTexObjectCreate, (CUtexObject * texture, const CUDA_RESOURCE_DESC *resource,     \
                          const CUDA_TEXTURE_DESC *sampling,                             \
                          const CUDA_RESOURCE_VIEW_DESC *view))                          \
    X(cuTexObjectDestroy, (CUtexObject texture)) \
    X(cuMemHostRegister_v2, (void *host, size_t size, unsigned int flags))              \
    X(cuMemHostUnregister, (void *host)) \
    X(cuDeviceGetUuid_v2, (CUuuid * uuid, CUdevice device))

typedef struct app_cuda {
#define APP_CUDA_FIELD(name, parameters) CUresult (*name) parameters;
    APP_CUDA_SYMBOLS(APP_CUDA_FIELD)
#undef APP_CUDA_FIELD
    /* Context creation changed its ABI twice; drivers export the old ones for old programs. */
    CUresult (*cuCtxCreate_v2)(CUcontext *context, unsigned int flags, CUdevice device);
    CUresult (*cuCtxCreate_v4)(CUcontext *context, CUctxCreateParams *params,
                               unsigned int flags, CUdevice device);
} app_cuda;

/* Loads the driver and runs cuInit; asserts (the tests call it only when gpumem found CUDA). */
void app_cuda_load(app_cuda *cu);

/* A new context of `device`, current on this thread, as cuCtxCreate makes it. */
CUresult app_context_create(const app_cuda *cu, CUcontext *context, CUdevice device);

/* Asserts that a driver call succeeded. */
#define CU_OK(call)                                                            \
    do {                                                                       \
        CUresult cu_ok_r_ = (call);                                            \
        cr_assert_eq(cu_ok_r_, CUDA_SUCCESS, "%s -> CUresult %d", #call, (int)cu_ok_r_); \
    } while (0)

#endif
