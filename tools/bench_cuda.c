/* gpumem-bench's cuda section. The raw side calls the driver directly: libcuda.so.1 opened
 * here (the backend has it open already), in gpumem's own context, so both sides use the same
 * device, the same memory and the same clock. */
#include "bench_cuda.h"

#include <cuda.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1ull << 20)
/* Timed replays of the allocation trace, one after the other (see alloc_gpumem). */
#define ALLOC_PASSES 2

/* --- the driver, as the bench uses it (exported names, exact prototypes) --- */

#define BENCH_CUDA_SYMBOLS(X)                                                                 \
    X(cuCtxPushCurrent_v2, (CUcontext context))                                               \
    X(cuCtxPopCurrent_v2, (CUcontext * context))                                              \
    X(cuCtxGetDevice, (CUdevice * device))                                                    \
    X(cuMemAlloc_v2, (CUdeviceptr * address, size_t size))                                    \
    X(cuMemFree_v2, (CUdeviceptr address))                                                    \
    X(cuMemAllocAsync, (CUdeviceptr * address, size_t size, CUstream stream))                 \
    X(cuMemFreeAsync, (CUdeviceptr address, CUstream stream))                                 \
    X(cuDeviceGetDefaultMemPool, (CUmemoryPool * pool, CUdevice device))                      \
    X(cuMemPoolSetAttribute, (CUmemoryPool pool, CUmemPool_attribute attribute, void *value)) \
    X(cuStreamCreate, (CUstream * stream, unsigned int flags))                                \
    X(cuStreamDestroy_v2, (CUstream stream))                                                  \
    X(cuStreamSynchronize, (CUstream stream))                                                 \
    X(cuMemcpyHtoD_v2, (CUdeviceptr destination, const void *source, size_t size))            \
    X(cuMemcpyDtoH_v2, (void *destination, CUdeviceptr source, size_t size))                  \
    X(cuMemcpyHtoDAsync_v2,                                                                   \
      (CUdeviceptr destination, const void *source, size_t size, CUstream stream))            \
    X(cuMemcpyDtoHAsync_v2, (void *destination, CUdeviceptr source, size_t size, CUstream s)) \
    X(cuMemcpyDtoDAsync_v2,                                                                   \
      (CUdeviceptr destination, CUdeviceptr source, size_t size, CUstream stream))

typedef struct cuda_api {
#define BENCH_CUDA_FIELD(name, parameters) CUresult (*name) parameters;
    BENCH_CUDA_SYMBOLS(BENCH_CUDA_FIELD)
#undef BENCH_CUDA_FIELD
} cuda_api;

static int load_api(cuda_api *cu)
{
    void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        fprintf(stderr, "bench cuda: %s\n", dlerror());
        return 1;
    }
#define BENCH_CUDA_LOAD(name, parameters)                                  \
    {                                                                      \
        void *p = dlsym(library, #name);                                   \
        if (!p) {                                                          \
            fprintf(stderr, "bench cuda: libcuda.so.1 lacks %s\n", #name); \
            return 1;                                                      \
        }                                                                  \
        memcpy(&cu->name, &p, sizeof p);                                   \
    }
    BENCH_CUDA_SYMBOLS(BENCH_CUDA_LOAD)
#undef BENCH_CUDA_LOAD
    return 0; /* the library stays open: the backend holds it for the whole process anyway */
}

static int cuda_failed(CUresult r, const char *what)
{
    fprintf(stderr, "bench cuda: %s: CUresult %d\n", what, (int)r);
    return 1;
}

static int gpumem_failed(gpumem_result r, const char *what)
{
    fprintf(stderr, "bench cuda: %s: %s (%s)\n", what, gpumem_result_string(r),
            gpumem_last_error());
    return 1;
}

/* --- the allocation trace: 256 live buffers, each step frees one and allocates one --- */

#define TRACE_LIVE 256

typedef struct trace {
    uint32_t steps;
    uint64_t fill[TRACE_LIVE]; /* sizes of the live set before the timed steps */
    uint32_t *victims;         /* which live slot each step replaces */
    uint64_t *sizes;           /* with how many bytes */
} trace;

static uint64_t next_random(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* Sizes spread evenly over the powers of two from 256 B to 1 MiB, as real buffers are. */
static uint64_t random_size(uint64_t *state)
{
    uint64_t r = next_random(state);
    uint64_t bits = 8 + r % 12; /* [2^bits, 2^(bits+1)): 256 B up to 1 MiB */
    return ((uint64_t)1 << bits) + (r >> 32) % ((uint64_t)1 << bits);
}

static int trace_make(trace *t, uint32_t steps)
{
    uint64_t state = 0x9e3779b97f4a7c15ull;
    t->steps = steps;
    t->victims = malloc(steps * sizeof *t->victims);
    t->sizes = malloc(steps * sizeof *t->sizes);
    if (!t->victims || !t->sizes)
        return bench_out_of_memory("cuda: allocation trace");
    for (uint32_t i = 0; i < TRACE_LIVE; i++)
        t->fill[i] = random_size(&state);
    for (uint32_t i = 0; i < steps; i++) {
        t->victims[i] = (uint32_t)(next_random(&state) % TRACE_LIVE);
        t->sizes[i] = random_size(&state);
    }
    return 0;
}

static void trace_free(trace *t)
{
    free(t->victims);
    free(t->sizes);
}

/* --- allocation: ns per free+allocate pair of each pass; nonzero when a call failed --- */

/* Each replays the trace twice after the fill and times each pass on its own: the first pays
 * for whatever the allocator sets up the first time it meets the trace's sizes (gpumem: a new
 * pool's pages and records, every repeat; cuMemAllocAsync: its default pool's growth, in the
 * first repeat only, as that pool keeps what it grew to), the second is the steady state. */
static int alloc_gpumem(gpumem_device device, const trace *t, double ns[ALLOC_PASSES])
{
    gpumem_pool_desc desc = {.required_flags = GPUMEM_MEMORY_DEVICE_LOCAL, .name = "bench"};
    gpumem_pool pool;
    gpumem_buffer live[TRACE_LIVE];
    gpumem_result r = gpumem_pool_create(device, &desc, &pool);
    if (r != GPUMEM_OK)
        return gpumem_failed(r, "pool create");
    for (uint32_t i = 0; i < TRACE_LIVE && r == GPUMEM_OK; i++)
        r = gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = t->fill[i]}, &live[i]);
    for (uint32_t pass = 0; pass < ALLOC_PASSES && r == GPUMEM_OK; pass++) {
        double start = bench_now();
        for (uint32_t i = 0; i < t->steps && r == GPUMEM_OK; i++) {
            gpumem_buffer_desc b = {.size = t->sizes[i]};
            if ((r = gpumem_buffer_destroy(live[t->victims[i]])) == GPUMEM_OK)
                r = gpumem_buffer_create(pool, &b, &live[t->victims[i]]);
        }
        ns[pass] = (bench_now() - start) * 1e9 / t->steps;
    }
    if (r != GPUMEM_OK)
        gpumem_failed(r, "gpumem trace");
    gpumem_pool_destroy(pool); /* and every buffer left in it */
    return r != GPUMEM_OK;
}

static int alloc_cumemalloc(const cuda_api *cu, const trace *t, double ns[ALLOC_PASSES])
{
    CUdeviceptr live[TRACE_LIVE] = {0};
    CUresult r = CUDA_SUCCESS;
    for (uint32_t i = 0; i < TRACE_LIVE && r == CUDA_SUCCESS; i++)
        r = cu->cuMemAlloc_v2(&live[i], t->fill[i]);
    for (uint32_t pass = 0; pass < ALLOC_PASSES && r == CUDA_SUCCESS; pass++) {
        double start = bench_now();
        for (uint32_t i = 0; i < t->steps && r == CUDA_SUCCESS; i++) {
            CUdeviceptr *slot = &live[t->victims[i]];
            r = cu->cuMemFree_v2(*slot);
            *slot = 0; /* freed, whatever comes next */
            if (r == CUDA_SUCCESS)
                r = cu->cuMemAlloc_v2(slot, t->sizes[i]);
        }
        ns[pass] = (bench_now() - start) * 1e9 / t->steps;
    }
    if (r != CUDA_SUCCESS)
        cuda_failed(r, "cuMemAlloc trace");
    for (uint32_t i = 0; i < TRACE_LIVE; i++)
        if (live[i])
            cu->cuMemFree_v2(live[i]);
    return r != CUDA_SUCCESS;
}

/* The stream-ordered allocator at its best: the default pool keeps all it frees. */
static CUresult keep_freed_memory(const cuda_api *cu)
{
    CUdevice device;
    CUmemoryPool pool;
    cuuint64_t keep = UINT64_MAX;
    CUresult r = cu->cuCtxGetDevice(&device);
    if (r == CUDA_SUCCESS)
        r = cu->cuDeviceGetDefaultMemPool(&pool, device);
    return r == CUDA_SUCCESS
               ? cu->cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &keep)
               : r;
}

static int alloc_async(const cuda_api *cu, CUstream stream, const trace *t,
                       double ns[ALLOC_PASSES])
{
    CUdeviceptr live[TRACE_LIVE] = {0};
    CUresult r = keep_freed_memory(cu);
    for (uint32_t i = 0; i < TRACE_LIVE && r == CUDA_SUCCESS; i++)
        r = cu->cuMemAllocAsync(&live[i], t->fill[i], stream);
    if (r == CUDA_SUCCESS)
        r = cu->cuStreamSynchronize(stream);
    for (uint32_t pass = 0; pass < ALLOC_PASSES && r == CUDA_SUCCESS; pass++) {
        double start = bench_now();
        for (uint32_t i = 0; i < t->steps && r == CUDA_SUCCESS; i++) {
            CUdeviceptr *slot = &live[t->victims[i]];
            r = cu->cuMemFreeAsync(*slot, stream);
            *slot = 0;
            if (r == CUDA_SUCCESS)
                r = cu->cuMemAllocAsync(slot, t->sizes[i], stream);
        }
        if (r == CUDA_SUCCESS)
            r = cu->cuStreamSynchronize(stream);
        ns[pass] = (bench_now() - start) * 1e9 / t->steps;
    }
    if (r != CUDA_SUCCESS)
        cuda_failed(r, "cuMemAllocAsync trace");
    for (uint32_t i = 0; i < TRACE_LIVE; i++)
        if (live[i])
            cu->cuMemFreeAsync(live[i], stream);
    cu->cuStreamSynchronize(stream);
    return r != CUDA_SUCCESS;
}

typedef struct bench_run {
    gpumem_device device;
    const bench_options *options;
    const cuda_api *cu;
    CUstream stream;
} bench_run;

/* Median of the repeats of each allocator, one repeat of each after the other, so a slow
 * moment of the machine does not fall on one side only. The first pass's rows have no suffix
 * (they are what this section has always measured), the second's end in _second_pass. */
static int bench_alloc(const bench_run *b)
{
    enum { GPUMEM, CUMEMALLOC, ASYNC, ALLOCATORS };
    static const char *const names[ALLOCATORS] = {"alloc_gpumem", "alloc_cuMemAlloc",
                                                  "alloc_cuMemAllocAsync"};
    static const char *const suffixes[ALLOC_PASSES] = {"", "_second_pass"};
    uint32_t repeats = b->options->repeats ? b->options->repeats : 5;
    trace t = {0}; /* trace_free takes it as it is, made or not */
    /* ns[(allocator * ALLOC_PASSES + pass) * repeats + repeat] */
    double *ns = malloc(ALLOCATORS * ALLOC_PASSES * repeats * sizeof *ns);
    int status = !ns ? bench_out_of_memory("cuda: allocation timings")
                     : trace_make(&t, b->options->quick ? 2000 : 20000);
    bench_progress(b->options, "cuda alloc", 0, repeats);
    for (uint32_t i = 0; i < repeats && !status; i++) {
        double pass_ns[ALLOCATORS][ALLOC_PASSES] = {{0}};
        status = alloc_gpumem(b->device, &t, pass_ns[GPUMEM]) ||
                 alloc_cumemalloc(b->cu, &t, pass_ns[CUMEMALLOC]) ||
                 alloc_async(b->cu, b->stream, &t, pass_ns[ASYNC]);
        for (uint32_t k = 0; k < ALLOCATORS; k++)
            for (uint32_t pass = 0; pass < ALLOC_PASSES; pass++)
                ns[(k * ALLOC_PASSES + pass) * repeats + i] = pass_ns[k][pass];
        bench_progress(b->options, "cuda alloc", i + 1, repeats);
    }
    for (uint32_t pass = 0; pass < ALLOC_PASSES && !status; pass++) {
        double median[ALLOCATORS];
        char name[64];
        for (uint32_t k = 0; k < ALLOCATORS; k++) {
            median[k] = bench_median(ns + (k * ALLOC_PASSES + pass) * repeats, repeats);
            snprintf(name, sizeof name, "%s%s", names[k], suffixes[pass]);
            bench_result(b->options, "cuda", name, median[k], "ns/pair");
        }
        snprintf(name, sizeof name, "alloc_speedup_vs_async%s", suffixes[pass]);
        bench_result(b->options, "cuda", name, median[ASYNC] / median[GPUMEM], "x");
        snprintf(name, sizeof name, "alloc_speedup_vs_cuMemAlloc%s", suffixes[pass]);
        bench_result(b->options, "cuda", name, median[CUMEMALLOC] / median[GPUMEM], "x");
    }
    trace_free(&t);
    free(ns);
    return status;
}

/* --- transfers --- */

typedef struct transfer_memory {
    uint64_t size;
    gpumem_pool device_pool, pinned_pool;
    gpumem_buffer a, b, pinned_buffer; /* a, b: device memory; pinned_buffer: mapped */
    unsigned char *pinned, *pageable;
    unsigned char *registered; /* pageable memory registered with gpumem_host_register */
    gpumem_host_registration registration;
    CUdeviceptr raw_a, raw_b;
} transfer_memory;

/* The first memory type that is host visible and not device local: pinned host memory. */
static int pinned_type(gpumem_device device, uint32_t *type)
{
    gpumem_device_properties p;
    if (gpumem_device_properties_get(device, &p) != GPUMEM_OK)
        return 1;
    for (uint32_t i = 0; i < p.memory_type_count; i++) {
        uint32_t f = p.memory_types[i].flags;
        if ((f & GPUMEM_MEMORY_HOST_VISIBLE) && !(f & GPUMEM_MEMORY_DEVICE_LOCAL)) {
            *type = i;
            return 0;
        }
    }
    fprintf(stderr, "bench cuda: the device has no pinned host memory type\n");
    return 1;
}

static gpumem_result gpumem_memory(gpumem_device device, transfer_memory *m)
{
    gpumem_pool_desc local = {.required_flags = GPUMEM_MEMORY_DEVICE_LOCAL,
                              .flags = GPUMEM_POOL_EXACT_MATCH, .name = "bench device"};
    gpumem_pool_desc pinned = {.flags = GPUMEM_POOL_MEMORY_TYPE_INDEX, .name = "bench pinned"};
    gpumem_buffer_desc buffer = {.size = m->size};
    if (pinned_type(device, &pinned.memory_type_index))
        return GPUMEM_ERROR_UNSUPPORTED;
    gpumem_result r = gpumem_pool_create(device, &local, &m->device_pool);
    if (r == GPUMEM_OK && (r = gpumem_pool_create(device, &pinned, &m->pinned_pool)) == GPUMEM_OK &&
        (r = gpumem_buffer_create(m->device_pool, &buffer, &m->a)) == GPUMEM_OK &&
        (r = gpumem_buffer_create(m->device_pool, &buffer, &m->b)) == GPUMEM_OK &&
        (r = gpumem_buffer_create(m->pinned_pool, &buffer, &m->pinned_buffer)) == GPUMEM_OK)
        r = gpumem_buffer_map(m->pinned_buffer, (void **)&m->pinned);
    return r;
}

static int memory_open(const bench_run *b, transfer_memory *m)
{
    memset(m, 0, sizeof *m);
    m->size = b->options->transfer_size ? b->options->transfer_size
                                        : (b->options->quick ? 16 : 256) * MiB;
    gpumem_result r = gpumem_memory(b->device, m);
    if (r != GPUMEM_OK)
        return gpumem_failed(r, "transfer memory");
    CUresult c = b->cu->cuMemAlloc_v2(&m->raw_a, m->size);
    if (c == CUDA_SUCCESS)
        c = b->cu->cuMemAlloc_v2(&m->raw_b, m->size);
    if (c != CUDA_SUCCESS)
        return cuda_failed(c, "cuMemAlloc");
    m->pageable = malloc(m->size);
    if (!m->pageable)
        return bench_out_of_memory("cuda: pageable transfer memory");
    memset(m->pageable, 0x5a, m->size); /* resident, as real data is */
    memset(m->pinned, 0xa5, m->size);
    m->registered = malloc(m->size);
    if (!m->registered)
        return bench_out_of_memory("cuda: memory to register");
    memset(m->registered, 0x3c, m->size);
    r = gpumem_host_register(b->device, m->registered, m->size, 0, &m->registration);
    return r != GPUMEM_OK && gpumem_failed(r, "gpumem_host_register");
}

static void memory_close(const bench_run *b, transfer_memory *m)
{
    if (m->raw_a)
        b->cu->cuMemFree_v2(m->raw_a);
    if (m->raw_b)
        b->cu->cuMemFree_v2(m->raw_b);
    free(m->pageable);
    if (m->registration)
        gpumem_host_unregister(m->registration);
    free(m->registered);
    if (m->pinned)
        gpumem_buffer_unmap(m->pinned_buffer);
    if (m->pinned_pool)
        gpumem_pool_destroy(m->pinned_pool);
    if (m->device_pool)
        gpumem_pool_destroy(m->device_pool);
}

typedef enum transfer_kind {
    H2D_PINNED,
    D2H_PINNED,
    H2D_PAGEABLE,
    D2H_PAGEABLE,
    H2D_REGISTERED,
    D2H_REGISTERED,
    D2D,
    TRANSFER_KIND_COUNT
} transfer_kind;

static const char *const transfer_names[TRANSFER_KIND_COUNT] = {
    "h2d_pinned", "d2h_pinned", "h2d_pageable", "d2h_pageable", "h2d_registered",
    "d2h_registered", "d2d"};

/* One transfer through gpumem: nonzero on failure. */
static int through_gpumem(const transfer_memory *m, transfer_kind kind)
{
    gpumem_result r;
    switch (kind) {
    case H2D_PINNED:
        r = gpumem_buffer_write(m->a, 0, m->pinned, m->size);
        break;
    case D2H_PINNED:
        r = gpumem_buffer_read(m->a, 0, m->pinned, m->size);
        break;
    case H2D_PAGEABLE:
        r = gpumem_buffer_write(m->a, 0, m->pageable, m->size);
        break;
    case D2H_PAGEABLE:
        r = gpumem_buffer_read(m->a, 0, m->pageable, m->size);
        break;
    case H2D_REGISTERED:
        r = gpumem_buffer_write(m->a, 0, m->registered, m->size);
        break;
    case D2H_REGISTERED:
        r = gpumem_buffer_read(m->a, 0, m->registered, m->size);
        break;
    default:
        r = gpumem_buffer_copy(m->a, 0, m->b, 0, m->size);
        break;
    }
    return r != GPUMEM_OK && gpumem_failed(r, transfer_names[kind]);
}

/* The same transfer with the driver alone, as an application would write it. */
static int through_driver(const bench_run *b, const transfer_memory *m, transfer_kind kind)
{
    const cuda_api *cu = b->cu;
    CUresult r;
    switch (kind) {
    case H2D_PINNED:
        r = cu->cuMemcpyHtoDAsync_v2(m->raw_a, m->pinned, m->size, b->stream);
        break;
    case D2H_PINNED:
        r = cu->cuMemcpyDtoHAsync_v2(m->pinned, m->raw_a, m->size, b->stream);
        break;
    case H2D_PAGEABLE:
        r = cu->cuMemcpyHtoD_v2(m->raw_a, m->pageable, m->size);
        break;
    case D2H_PAGEABLE:
        r = cu->cuMemcpyDtoH_v2(m->pageable, m->raw_a, m->size);
        break;
    case H2D_REGISTERED: /* the driver sees the memory gpumem registered as pinned */
        r = cu->cuMemcpyHtoDAsync_v2(m->raw_a, m->registered, m->size, b->stream);
        break;
    case D2H_REGISTERED:
        r = cu->cuMemcpyDtoHAsync_v2(m->registered, m->raw_a, m->size, b->stream);
        break;
    default:
        r = cu->cuMemcpyDtoDAsync_v2(m->raw_b, m->raw_a, m->size, b->stream);
        break;
    }
    if (r == CUDA_SUCCESS)
        r = cu->cuStreamSynchronize(b->stream);
    return r != CUDA_SUCCESS && cuda_failed(r, transfer_names[kind]);
}

/* GB/s of one timed transfer, or < 0. */
static double timed(const bench_run *b, const transfer_memory *m, transfer_kind kind,
                    int raw)
{
    double start = bench_now();
    int failed = raw ? through_driver(b, m, kind) : through_gpumem(m, kind);
    double seconds = bench_now() - start;
    return failed ? -1 : (double)m->size / seconds / 1e9;
}

static void report_transfer(const bench_run *b, transfer_kind kind, double gpumem, double raw)
{
    char name[64];
    snprintf(name, sizeof name, "%s_gpumem", transfer_names[kind]);
    bench_result(b->options, "cuda", name, gpumem, "GB/s");
    snprintf(name, sizeof name, "%s_raw", transfer_names[kind]);
    bench_result(b->options, "cuda", name, raw, "GB/s");
    snprintf(name, sizeof name, "%s_ratio", transfer_names[kind]);
    bench_result(b->options, "cuda", name, gpumem / raw, "x");
}

/* After a warm-up of each side, gpumem and the driver alternate, repeat after repeat. */
static int measure_transfer(const bench_run *b, const transfer_memory *m, transfer_kind kind)
{
    uint32_t repeats = b->options->repeats ? b->options->repeats : 5;
    double *gbs = malloc(2 * repeats * sizeof *gbs);
    int status = (!gbs && bench_out_of_memory("cuda: transfer timings")) ||
                 timed(b, m, kind, 0) < 0 || timed(b, m, kind, 1) < 0;
    bench_progress(b->options, transfer_names[kind], 0, repeats);
    for (uint32_t i = 0; i < repeats && !status; i++) {
        gbs[i] = timed(b, m, kind, 0);
        gbs[repeats + i] = timed(b, m, kind, 1);
        status = gbs[i] < 0 || gbs[repeats + i] < 0;
        bench_progress(b->options, transfer_names[kind], i + 1, repeats);
    }
    if (!status)
        report_transfer(b, kind, bench_median(gbs, repeats),
                        bench_median(gbs + repeats, repeats));
    free(gbs);
    return status;
}

/* What registering costs: gpumem_host_register and gpumem_host_unregister of the transfer
 * size of resident pageable memory, in milliseconds (medians, with min and max). */
static int measure_registration(const bench_run *b, const transfer_memory *m)
{
    uint32_t repeats = b->options->repeats ? b->options->repeats : 5;
    double *ms = malloc(2 * repeats * sizeof *ms);
    unsigned char *host = malloc(m->size);
    int status = (!ms && bench_out_of_memory("cuda: registration timings")) ||
                 (!host && bench_out_of_memory("cuda: memory to register"));
    if (host)
        memset(host, 0x77, m->size);
    for (uint32_t i = 0; i < repeats && !status; i++) {
        gpumem_host_registration registration;
        double start = bench_now();
        gpumem_result r = gpumem_host_register(b->device, host, m->size, 0, &registration);
        double registered = bench_now();
        if (r == GPUMEM_OK)
            r = gpumem_host_unregister(registration);
        ms[i] = (registered - start) * 1e3;
        ms[repeats + i] = (bench_now() - registered) * 1e3;
        status = r != GPUMEM_OK && gpumem_failed(r, "host registration");
    }
    if (!status) {
        char name[64];
        snprintf(name, sizeof name, "register_%llu_MiB", (unsigned long long)(m->size >> 20));
        bench_result_runs(b->options, "cuda", name, ms, repeats, "ms");
        snprintf(name, sizeof name, "unregister_%llu_MiB", (unsigned long long)(m->size >> 20));
        bench_result_runs(b->options, "cuda", name, ms + repeats, repeats, "ms");
    }
    free(ms);
    free(host);
    return status;
}

static int bench_transfers(const bench_run *b)
{
    transfer_memory m;
    int status = memory_open(b, &m);
    for (int kind = 0; kind < TRANSFER_KIND_COUNT && !status; kind++)
        status = measure_transfer(b, &m, (transfer_kind)kind);
    if (!status)
        status = measure_registration(b, &m);
    memory_close(b, &m);
    return status;
}

/* --- the section --- */

static int context_enter(const cuda_api *cu, gpumem_device device)
{
    gpumem_external_device native;
    gpumem_result r = gpumem_device_native(device, &native);
    if (r != GPUMEM_OK)
        return gpumem_failed(r, "gpumem_device_native");
    CUresult c = cu->cuCtxPushCurrent_v2((CUcontext)(uintptr_t)native.device);
    return c != CUDA_SUCCESS && cuda_failed(c, "cuCtxPushCurrent");
}

int bench_cuda(gpumem_device device, const bench_options *options)
{
    cuda_api cu;
    if (load_api(&cu) || context_enter(&cu, device))
        return 1;
    bench_run b = {.device = device, .options = options, .cu = &cu};
    CUresult r = cu.cuStreamCreate(&b.stream, CU_STREAM_NON_BLOCKING);
    int status = 1;
    if (r != CUDA_SUCCESS) {
        cuda_failed(r, "cuStreamCreate");
    } else {
        status = bench_alloc(&b);
        status |= bench_transfers(&b);
        cu.cuStreamDestroy_v2(b.stream);
    }
    CUcontext popped;
    cu.cuCtxPopCurrent_v2(&popped);
    return status;
}
