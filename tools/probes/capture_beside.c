/* gpumem beside CUDA graph capture: which of gpumem's calls leave a capture intact?
 *
 * Two situations, each scenario on a capture of its own:
 *
 *   beside  another thread captures the application's own non-blocking stream (one memset
 *           before and one after) while this thread makes one gpumem call; for each capture
 *           mode (global, thread-local, relaxed) the row says whether the call succeeded and
 *           whether the other thread's capture still ended in a graph that runs. A framework
 *           that captures (torch.cuda.graph, capture mode global by default) beside a thread
 *           that uses gpumem is this case.
 *   inside  this thread captures a stream it wrapped for gpumem (gpumem_stream_wrap) and makes
 *           gpumem calls on it; the row says whether the calls succeeded, whether the capture
 *           ended in a graph, whether the graph ran, and whether it wrote the bytes it should.
 *           An application that records gpumem's stream-ordered allocation and transfers into
 *           a graph is this case.
 *
 * The "inside" rows cover the global and thread-local modes (relaxed would let through what
 * they refuse, and shows nothing more). Output: one line per scenario and mode, `situation | scenario | mode | call | capture |
 * graph`, where call is gpumem's result (and its message when it failed), capture is
 * cuStreamEndCapture's result and graph is the launched graph's (and the bytes' check, inside).
 * Nothing is asserted: the probe records what the driver does, for docs/backends-cuda-hip.md.
 *
 * Build on the GPU machine (tests/device/run-gpu.sh, part "capture"):
 *   cc -O2 -pthread -Iinclude -Ibuild-gpu/include -I/usr/local/cuda/include \
 *      tools/probes/capture_beside.c -Lbuild-gpu/lib -lgpumem \
 *      -L/usr/local/cuda/lib64/stubs -lcuda -o capture_beside
 *   LD_LIBRARY_PATH=build-gpu/lib GPUMEM_BACKEND=cuda ./capture_beside */
#include "cuda_probe.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "gpumem/gpumem.h"

#define MiB (1ull << 20)

static const char *cu_name(CUresult r)
{
    const char *s = NULL;
    cuGetErrorName(r, &s);
    return s ? s : "?";
}

#define GOK(call)                                                                          \
    do {                                                                                   \
        gpumem_result g_ = (call);                                                         \
        if (g_ != GPUMEM_OK) {                                                             \
            fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, gpumem_last_error()); \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

/* What every scenario may use: made before any capture, outside the measured call. */
typedef struct setup {
    CUcontext context;
    gpumem_device device;
    gpumem_pool paged, native;
    gpumem_stream s;          /* a stream gpumem made */
    gpumem_buffer made_by_host, made_on_s, paged_live;
    void *host;               /* 1 MiB of pageable memory */
} setup;

typedef struct scenario {
    const char *name;
    /* Before the capture (may be NULL): prepares what the call uses. */
    void (*before)(setup *);
    /* The call, during the capture; returns gpumem's result. */
    gpumem_result (*call)(setup *);
    /* After the capture ended (may be NULL): releases what the call made. */
    void (*after)(setup *);
} scenario;

static gpumem_buffer made_now; /* what a scenario's call made, for its `after` */

/* made_now once a create succeeded (a failed create leaves it NULL). The create runs before
 * its output is read: a call made(create(..., &b), b) may read b first, as the order of a
 * call's arguments is unspecified (it did on the H100, destroying a garbage handle). */
static gpumem_result made(gpumem_result r, const gpumem_buffer *b)
{
    made_now = r == GPUMEM_OK ? *b : NULL;
    return r;
}

static gpumem_buffer create_in(gpumem_pool pool, uint64_t size, uint32_t flags)
{
    gpumem_buffer_desc desc = {.size = size, .flags = flags};
    gpumem_buffer b;
    GOK(gpumem_buffer_create(pool, &desc, &b));
    return b;
}

static void destroy_made_now(setup *x)
{
    (void)x;
    if (made_now)
        GOK(gpumem_buffer_destroy(made_now));
    made_now = NULL;
}

/* --- beside: the calls --- */

static gpumem_result native_host_create(setup *x)
{
    gpumem_buffer_desc desc = {.size = MiB};
    gpumem_buffer b;
    return made(gpumem_buffer_create(x->native, &desc, &b), &b);
}

static void make_by_host(setup *x) { x->made_by_host = create_in(x->native, MiB, 0); }
static gpumem_result native_host_destroy(setup *x) { return gpumem_buffer_destroy(x->made_by_host); }

static void make_on_s(setup *x)
{
    gpumem_buffer_desc desc = {.size = 64 * MiB};
    GOK(gpumem_buffer_create_on_stream(x->native, &desc, x->s, &x->made_on_s));
    GOK(gpumem_stream_fill(x->s, x->made_on_s, 0, 64 * MiB, 0x5a5a5a5a));
}
static gpumem_result native_host_destroy_of_streams(setup *x)
{
    return gpumem_buffer_destroy(x->made_on_s);
}
static gpumem_result native_destroy_on_stream(setup *x)
{
    return gpumem_buffer_destroy_on_stream(x->made_on_s, x->s);
}
static gpumem_result native_create_on_stream(setup *x)
{
    gpumem_buffer_desc desc = {.size = MiB};
    gpumem_buffer b;
    return made(gpumem_buffer_create_on_stream(x->native, &desc, x->s, &b), &b);
}
static gpumem_result paged_create_in_a_page(setup *x)
{
    gpumem_buffer_desc desc = {.size = 4096};
    gpumem_buffer b;
    return made(gpumem_buffer_create(x->paged, &desc, &b), &b);
}
static void make_paged(setup *x) { x->paged_live = create_in(x->paged, 4096, 0); }
static gpumem_result paged_destroy(setup *x) { return gpumem_buffer_destroy(x->paged_live); }
static gpumem_result paged_create_of_a_new_page(setup *x)
{
    gpumem_buffer_desc desc = {.size = MiB, .flags = GPUMEM_BUFFER_DEDICATED};
    gpumem_buffer b;
    return made(gpumem_buffer_create(x->paged, &desc, &b), &b);
}
static void make_target(setup *x) { made_now = create_in(x->paged, MiB, 0); }
static gpumem_result write_pageable(setup *x) { return gpumem_buffer_write(made_now, 0, x->host, MiB); }
static gpumem_result read_pageable(setup *x) { return gpumem_buffer_read(made_now, 0, x->host, MiB); }
static gpumem_result stream_write_pageable(setup *x)
{
    return gpumem_stream_write(x->s, made_now, 0, x->host, 64 * 1024);
}
static void sync_s_then_destroy(setup *x)
{
    GOK(gpumem_stream_synchronize(x->s));
    destroy_made_now(x);
}
static gpumem_result stream_synchronize(setup *x) { return gpumem_stream_synchronize(x->s); }
static void queue_on_s(setup *x)
{
    made_now = create_in(x->paged, 64 * MiB, 0);
    GOK(gpumem_stream_fill(x->s, made_now, 0, 64 * MiB, 1));
}

/* With the registration cache on (run-gpu.sh preloads libgpumem-memhooks and sets
 * GPUMEM_REGISTRATION_CACHE), a 16 MiB synchronous write registers its source; freeing the
 * source ends the registration inside free(), a runtime call beside the capture. */
static void *cached_source;
static void make_cached(setup *x)
{
    cached_source = malloc(16 * MiB);
    memset(cached_source, 0x33, 16 * MiB);
    made_now = create_in(x->paged, 16 * MiB, 0);
    GOK(gpumem_buffer_write(made_now, 0, cached_source, 16 * MiB));
}
static gpumem_result free_cached(setup *x)
{
    (void)x;
    free(cached_source);
    return GPUMEM_OK;
}

static const scenario beside[] = {
    {"native pool: the host's create", NULL, native_host_create, destroy_made_now},
    {"native pool: the host's destroy of the host's buffer", make_by_host, native_host_destroy, NULL},
    {"native pool: the host's destroy of a stream's buffer", make_on_s,
     native_host_destroy_of_streams, NULL},
    {"native pool: a create on a gpumem stream", NULL, native_create_on_stream, sync_s_then_destroy},
    {"native pool: a destroy on a gpumem stream", make_on_s, native_destroy_on_stream, NULL},
    {"paged pool: a create in a page it has", NULL, paged_create_in_a_page, destroy_made_now},
    {"paged pool: a destroy", make_paged, paged_destroy, NULL},
    {"paged pool: a create that makes a page", NULL, paged_create_of_a_new_page, destroy_made_now},
    {"a synchronous write of 1 MiB of pageable memory", make_target, write_pageable, destroy_made_now},
    {"a synchronous read of 1 MiB into pageable memory", make_target, read_pageable, destroy_made_now},
    {"a stream's write of 64 KiB of pageable memory", make_target, stream_write_pageable,
     sync_s_then_destroy},
    {"a gpumem stream's synchronize", queue_on_s, stream_synchronize, destroy_made_now},
    {"free() of memory the registration cache holds", make_cached, free_cached,
     destroy_made_now},
};

/* --- beside: the capturing thread --- */

typedef struct capturer {
    setup *x;
    CUstreamCaptureMode mode;
    pthread_barrier_t started, called;
    CUresult end, launched;
} capturer;

static CUdeviceptr app_memory;

static void *capture_thread(void *arg)
{
    capturer *c = arg;
    CHECK(cuCtxSetCurrent(c->x->context));
    CUstream stream;
    CHECK(cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING));
    CUgraph graph = NULL;
    CUgraphExec exec = NULL;
    CHECK(cuStreamBeginCapture(stream, c->mode));
    cuMemsetD8Async(app_memory, 1, MiB, stream);
    pthread_barrier_wait(&c->started);
    pthread_barrier_wait(&c->called);
    cuMemsetD8Async(app_memory, 2, MiB, stream);
    c->end = cuStreamEndCapture(stream, &graph);
    c->launched = CUDA_ERROR_UNKNOWN;
    if (c->end == CUDA_SUCCESS && graph) {
        c->launched = cuGraphInstantiate(&exec, graph, 0);
        if (c->launched == CUDA_SUCCESS)
            c->launched = cuGraphLaunch(exec, stream);
        if (c->launched == CUDA_SUCCESS)
            c->launched = cuStreamSynchronize(stream);
    }
    if (exec)
        cuGraphExecDestroy(exec);
    if (graph)
        cuGraphDestroy(graph);
    CHECK(cuStreamSynchronize(stream));
    CHECK(cuStreamDestroy(stream));
    return NULL;
}

static const char *mode_name(CUstreamCaptureMode mode)
{
    return mode == CU_STREAM_CAPTURE_MODE_GLOBAL         ? "global"
           : mode == CU_STREAM_CAPTURE_MODE_THREAD_LOCAL ? "thread-local"
                                                         : "relaxed";
}

static void run_beside(setup *x, const scenario *s, CUstreamCaptureMode mode)
{
    capturer c = {.x = x, .mode = mode};
    pthread_barrier_init(&c.started, NULL, 2);
    pthread_barrier_init(&c.called, NULL, 2);
    CHECK(cuCtxSynchronize()); /* before `before`: the work it queues stays queued */
    if (s->before)
        s->before(x);
    pthread_t thread;
    pthread_create(&thread, NULL, capture_thread, &c);
    pthread_barrier_wait(&c.started);
    gpumem_result r = s->call(x);
    char message[160] = "";
    if (r != GPUMEM_OK)
        snprintf(message, sizeof message, " (%s)", gpumem_last_error());
    pthread_barrier_wait(&c.called);
    pthread_join(thread, NULL);
    printf("beside | %s | %s | %s%s | %s | %s\n", s->name, mode_name(mode),
           r == GPUMEM_OK ? "ok" : "failed", message, cu_name(c.end),
           c.end == CUDA_SUCCESS ? cu_name(c.launched) : "-");
    fflush(stdout);
    if (s->after)
        s->after(x);
    /* A call that failed left its buffer: let it go now that nothing captures. */
    if (r != GPUMEM_OK && s->call == native_host_destroy)
        gpumem_buffer_destroy(x->made_by_host);
    if (r != GPUMEM_OK && (s->call == native_host_destroy_of_streams ||
                           s->call == native_destroy_on_stream))
        gpumem_buffer_destroy(x->made_on_s);
    if (r != GPUMEM_OK && s->call == paged_destroy)
        gpumem_buffer_destroy(x->paged_live);
    gpumem_stream_synchronize(x->s);
    pthread_barrier_destroy(&c.started);
    pthread_barrier_destroy(&c.called);
}

/* --- inside: gpumem's calls on a captured stream --- */

static void run_inside(setup *x, const char *name, gpumem_pool pool, int other_stream_free,
                       int copy, CUstreamCaptureMode mode)
{
    CUstream native;
    CHECK(cuStreamCreate(&native, CU_STREAM_NON_BLOCKING));
    gpumem_stream w;
    GOK(gpumem_stream_wrap(x->device, (uint64_t)(uintptr_t)native, &w));
    if (other_stream_free) { /* a free on S that W has not seen: a create on W owes S a wait */
        gpumem_buffer_desc desc = {.size = MiB};
        gpumem_buffer f;
        GOK(gpumem_buffer_create_on_stream(pool, &desc, x->s, &f));
        GOK(gpumem_stream_fill(x->s, f, 0, MiB, 3));
        GOK(gpumem_buffer_destroy_on_stream(f, x->s));
    }
    CHECK(cuCtxSynchronize());
    CUgraph graph = NULL;
    CUgraphExec exec = NULL;
    CHECK(cuStreamBeginCapture(native, mode));
    gpumem_buffer_desc desc = {.size = MiB};
    gpumem_buffer a = NULL, b = NULL;
    const char *failed = NULL;
    char message[160] = "";
    gpumem_result r = gpumem_buffer_create_on_stream(pool, &desc, w, &a);
    if (r != GPUMEM_OK)
        failed = "create";
    if (!failed && (r = gpumem_stream_fill(w, a, 0, MiB, 0x77777777)) != GPUMEM_OK)
        failed = "fill";
    if (!failed && copy) {
        if ((r = gpumem_buffer_create_on_stream(pool, &desc, w, &b)) != GPUMEM_OK)
            failed = "second create";
        else if ((r = gpumem_stream_copy(w, a, 0, b, 0, MiB)) != GPUMEM_OK)
            failed = "copy";
    }
    if (failed)
        snprintf(message, sizeof message, " (%s: %s)", failed, gpumem_last_error());
    /* Copy the result into the application's memory inside the graph, so that the graph's
     * run can be checked: the buffer's address is gpumem's native address. */
    if (!failed) {
        gpumem_native_buffer n;
        GOK(gpumem_buffer_native(copy ? b : a, &n));
        cuMemcpyDtoDAsync(app_memory, n.address, MiB, native);
    }
    gpumem_result destroyed = GPUMEM_OK;
    if (b && (destroyed = gpumem_buffer_destroy_on_stream(b, w)) == GPUMEM_OK)
        b = NULL;
    if (a && destroyed == GPUMEM_OK && (destroyed = gpumem_buffer_destroy_on_stream(a, w)) == GPUMEM_OK)
        a = NULL;
    if (!failed && destroyed != GPUMEM_OK)
        snprintf(message, sizeof message, " (destroy: %s)", gpumem_last_error());
    CUresult end = cuStreamEndCapture(native, &graph);
    CUresult launched = CUDA_ERROR_UNKNOWN;
    const char *bytes = "-";
    if (end == CUDA_SUCCESS && graph) {
        CHECK(cuMemsetD8(app_memory, 0, MiB));
        launched = cuGraphInstantiate(&exec, graph, 0);
        if (launched == CUDA_SUCCESS)
            launched = cuGraphLaunch(exec, native);
        if (launched == CUDA_SUCCESS)
            launched = cuStreamSynchronize(native);
        if (launched == CUDA_SUCCESS) {
            unsigned char *back = malloc(MiB);
            CHECK(cuMemcpyDtoH(back, app_memory, MiB));
            size_t wrong = 0;
            for (size_t i = 0; i < MiB; i++)
                wrong += back[i] != 0x77;
            bytes = wrong ? "wrong bytes" : "bytes right";
            free(back);
        }
    }
    printf("inside | %s | %s | %s%s | %s | %s, %s\n", name, mode_name(mode),
           !failed && destroyed == GPUMEM_OK ? "ok" : "failed", message, cu_name(end),
           end == CUDA_SUCCESS ? cu_name(launched) : "-", bytes);
    fflush(stdout);
    if (exec)
        cuGraphExecDestroy(exec);
    if (graph)
        cuGraphDestroy(graph);
    cuStreamSynchronize(native);
    if (b)
        gpumem_buffer_destroy(b);
    if (a)
        gpumem_buffer_destroy(a);
    GOK(gpumem_stream_destroy(w));
    CHECK(cuStreamDestroy(native));
    GOK(gpumem_stream_synchronize(x->s));
}

int main(void)
{
    setup x = {0};
    gpumem_device_desc dd = {.backend = "cuda"};
    GOK(gpumem_device_open(&dd, &x.device));
    gpumem_external_device ext;
    GOK(gpumem_device_native(x.device, &ext));
    x.context = (CUcontext)(uintptr_t)ext.device;
    CHECK(cuInit(0));
    CHECK(cuCtxSetCurrent(x.context));
    CHECK(cuMemAlloc(&app_memory, MiB));
    gpumem_pool_desc pd = {.required_flags = GPUMEM_MEMORY_DEVICE_LOCAL,
                           .flags = GPUMEM_POOL_EXACT_MATCH, .name = "paged"};
    GOK(gpumem_pool_create(x.device, &pd, &x.paged));
    gpumem_pool_desc nd = {.kind = GPUMEM_POOL_NATIVE, .name = "native"};
    gpumem_device_properties p;
    GOK(gpumem_device_properties_get(x.device, &p));
    if (p.native_pools)
        GOK(gpumem_pool_create(x.device, &nd, &x.native));
    GOK(gpumem_stream_create(x.device, &x.s));
    x.host = malloc(MiB);
    memset(x.host, 0x11, MiB);
    /* A first buffer, so that the paged pool has a page before any capture. */
    gpumem_buffer first = create_in(x.paged, 4096, 0);

    const CUstreamCaptureMode modes[] = {CU_STREAM_CAPTURE_MODE_GLOBAL,
                                         CU_STREAM_CAPTURE_MODE_THREAD_LOCAL,
                                         CU_STREAM_CAPTURE_MODE_RELAXED};
    printf("situation | scenario | capture mode | gpumem's call | cuStreamEndCapture | graph\n");
    for (size_t i = 0; i < sizeof beside / sizeof beside[0]; i++) {
        if (!x.native && strncmp(beside[i].name, "native", 6) == 0)
            continue;
        for (int m = 0; m < 3; m++)
            run_beside(&x, &beside[i], modes[m]);
    }
    for (int m = 0; m < 2; m++) {
        if (x.native) {
            run_inside(&x, "native pool: create, fill, destroy", x.native, 0, 0, modes[m]);
            run_inside(&x, "native pool: create, fill, copy, destroys", x.native, 0, 1, modes[m]);
            run_inside(&x, "native pool: after a free on another stream", x.native, 1, 0, modes[m]);
        }
        run_inside(&x, "paged pool: create, fill, destroy", x.paged, 0, 0, modes[m]);
        run_inside(&x, "paged pool: create, fill, copy, destroys", x.paged, 0, 1, modes[m]);
        run_inside(&x, "paged pool: after a free on another stream", x.paged, 1, 0, modes[m]);
    }
    GOK(gpumem_buffer_destroy(first));
    GOK(gpumem_stream_destroy(x.s));
    if (x.native)
        GOK(gpumem_pool_destroy(x.native));
    GOK(gpumem_pool_destroy(x.paged));
    CHECK(cuMemFree(app_memory));
    free(x.host);
    GOK(gpumem_device_close(x.device));
    return 0;
}
