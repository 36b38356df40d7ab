/* What the CUDA probes share: a driver call that must succeed, the device's context and a
 * stream, a monotonic clock, and an order for qsort of doubles. Header-only, so that each probe
 * still builds with one gcc line. */
#ifndef GPUMEM_CUDA_PROBE_H
#define GPUMEM_CUDA_PROBE_H

#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHECK(call)                                                               \
    do {                                                                          \
        CUresult r_ = (call);                                                     \
        if (r_ != CUDA_SUCCESS) {                                                 \
            const char *s_ = NULL;                                                \
            cuGetErrorName(r_, &s_);                                              \
            fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, s_);    \
            exit(1);                                                              \
        }                                                                         \
    } while (0)

/* The primary context of CUDA's device 0 (the one gpumem opens by default), made current, and a
 * non-blocking stream on it. */
static inline CUcontext probe_open(CUstream *stream)
{
    CUdevice device;
    CUcontext context;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&device, 0));
    CHECK(cuDevicePrimaryCtxRetain(&context, device));
    CHECK(cuCtxSetCurrent(context));
    CHECK(cuStreamCreate(stream, CU_STREAM_NON_BLOCKING));
    return context;
}

/* Ends what probe_open made. */
static inline void probe_close(CUstream stream)
{
    CUdevice device;
    CHECK(cuStreamDestroy(stream));
    CHECK(cuDeviceGet(&device, 0));
    CHECK(cuDevicePrimaryCtxRelease(device));
}

static inline double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static inline int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
