/* libgpumem-frameworks: see include/gpumem/frameworks.h. */
#include "gpumem/frameworks.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_DEVICES 64
#define MAX_STREAMS 512 /* native streams per device; frameworks pool theirs */
/* Pages of 512 MiB: a pool grows in steps of half a GiB (a small script reserves no more), and
 * requests over half a page (pages of their own) stay rare. A PyTorch training step
 * (tests/device/replay_trace.py) peaked at 0.99x the caching allocator's reserved bytes with
 * them, 1.13x with 1 GiB pages (four whole pages), 1.04x with 256 MiB ones. */
#define DEFAULT_PAGE_SIZE (512ull << 20)
#define ALIGNMENT 512    /* what the frameworks' own allocators give (paged pools; native pools
                          give the runtime's own, as the frameworks' async backends do) */

typedef struct wrapped_stream {
    uint64_t native;
    gpumem_stream stream;
} wrapped_stream;

typedef struct device_state {
    _Atomic int ready; /* device and pool made (release-stored after them) */
    gpumem_device device;
    gpumem_pool pool;
    /* Recorded on the legacy default stream at each free made there (CuPy's, Numba's) from a
     * paged pool: see release(). */
    gpumem_event legacy_marker;
    uint32_t stream_count;
    wrapped_stream streams[MAX_STREAMS];
} device_state;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* opening, wrapping, configuring */
/* Why this thread's last open of a device failed: its clean-up calls clear gpumem's error. */
static __thread char open_failure[GPUMEM_REASON_SIZE];
/* Why this thread's latest allocation or free failed (gpumem_frameworks_last_error). */
static __thread char last_failure[GPUMEM_REASON_SIZE + 128];
static device_state devices[MAX_DEVICES];
static int configured_backend_is_hip;
static uint32_t pool_kind = GPUMEM_POOL_PAGED;
static uint64_t page_size = DEFAULT_PAGE_SIZE;
static int started; /* a device was opened: the configuration is fixed */
static FILE *trace;  /* GPUMEM_FRAMEWORKS_TRACE: every allocation and free, as lines */
static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;

/* The stream a thread used last: frameworks allocate on one stream per thread, mostly. */
static __thread struct {
    int device;
    uint64_t native;
    gpumem_stream stream;
} last = {-1, 0, NULL};

/* `reason`: why, where no gpumem call failed (else NULL: gpumem's last error says why). */
static void report(const char *what, size_t size, int device, const char *reason)
{
    snprintf(last_failure, sizeof last_failure, "%s of %zu bytes on device %d failed: %s", what,
             size, device, reason ? reason : gpumem_last_error());
    fprintf(stderr, "gpumem-frameworks: %s\n", last_failure);
}

const char *gpumem_frameworks_last_error(void)
{
    return last_failure;
}


gpumem_result gpumem_frameworks_configure(const gpumem_frameworks_config *config)
{
    gpumem_frameworks_config defaults = {0};
    const gpumem_frameworks_config *c = config ? config : &defaults;
    int hip = 0;
    if (c->backend && strcmp(c->backend, "cuda") != 0) {
        if (strcmp(c->backend, "hip") != 0)
            return GPUMEM_ERROR_INVALID_ARGUMENT;
        hip = 1;
    }
    if ((c->pool_kind != GPUMEM_POOL_PAGED && c->pool_kind != GPUMEM_POOL_NATIVE) ||
        c->reserved || c->page_size > (1ull << 62))
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    pthread_mutex_lock(&lock);
    gpumem_result r = GPUMEM_OK;
    if (started) {
        r = GPUMEM_ERROR_BAD_STATE;
    } else {
        configured_backend_is_hip = hip;
        pool_kind = c->pool_kind;
        page_size = c->page_size ? c->page_size : DEFAULT_PAGE_SIZE;
    }
    pthread_mutex_unlock(&lock);
    return r;
}

/* Opens the device of an ordinal and its pool (lock held). */
static gpumem_result open_device(device_state *d, int ordinal)
{
    gpumem_device_desc desc = {.backend = configured_backend_is_hip ? "hip" : "cuda",
                               .flags = GPUMEM_DEVICE_OPEN_INDEX,
                               .device_index = (uint32_t)ordinal};
    open_failure[0] = 0;
    gpumem_result r = gpumem_device_open(&desc, &d->device);
    if (r != GPUMEM_OK)
        return r;
    gpumem_pool_desc pool_desc = {.kind = pool_kind,
                                  .required_flags = GPUMEM_MEMORY_DEVICE_LOCAL,
                                  .page_size = pool_kind == GPUMEM_POOL_PAGED ? page_size : 0,
                                  .name = "frameworks"};
    if ((r = gpumem_pool_create(d->device, &pool_desc, &d->pool)) != GPUMEM_OK ||
        (r = gpumem_event_create(d->device, &d->legacy_marker)) != GPUMEM_OK) {
        snprintf(open_failure, sizeof open_failure, "%s", gpumem_last_error());
        gpumem_device_close(d->device);
        return r;
    }
    if (!started) {
        const char *path = getenv("GPUMEM_FRAMEWORKS_TRACE");
        if (path && *path && !(trace = fopen(path, "w")))
            fprintf(stderr, "gpumem-frameworks: cannot write the trace to %s\n", path);
    }
    started = 1;
    atomic_store_explicit(&d->ready, 1, memory_order_release);
    return GPUMEM_OK;
}

static device_state *device_of(int ordinal, int open)
{
    if (ordinal < 0 || ordinal >= MAX_DEVICES)
        return NULL;
    device_state *d = &devices[ordinal];
    if (atomic_load_explicit(&d->ready, memory_order_acquire))
        return d;
    if (!open)
        return NULL;
    pthread_mutex_lock(&lock);
    gpumem_result r = atomic_load_explicit(&d->ready, memory_order_relaxed)
                          ? GPUMEM_OK
                          : open_device(d, ordinal);
    pthread_mutex_unlock(&lock);
    return r == GPUMEM_OK ? d : NULL;
}

/* The gpumem stream over a native stream, wrapped at its first use; NULL with `*why` set where
 * no gpumem call failed (else gpumem's error says why). */
static gpumem_stream stream_of(device_state *d, int ordinal, void *native_stream,
                               const char **why)
{
    uint64_t native = (uint64_t)(uintptr_t)native_stream;
    if (last.device == ordinal && last.native == native && last.stream)
        return last.stream;
    gpumem_stream found = NULL;
    pthread_mutex_lock(&lock);
    for (uint32_t i = 0; i < d->stream_count && !found; i++)
        if (d->streams[i].native == native)
            found = d->streams[i].stream;
    if (!found && d->stream_count >= MAX_STREAMS)
        *why = "the allocator wraps at most 512 native streams a device, and this is one more";
    else if (!found && gpumem_stream_wrap(d->device, native, &found) == GPUMEM_OK)
        d->streams[d->stream_count++] = (wrapped_stream){native, found};
    pthread_mutex_unlock(&lock);
    if (found) {
        last.device = ordinal;
        last.native = native;
        last.stream = found;
    }
    return found;
}

/* One line per allocation ("a") and free ("f"): address, size, device, native stream. Nothing
 * is asked of the pool, so tracing changes no placement. */
static void trace_write(char action, const void *pointer, size_t size, int device,
                        const void *native_stream) /* trace_lock held */
{
    fprintf(trace, "%c %llu %zu %d %llu\n", action, (unsigned long long)(uintptr_t)pointer,
            size, device, (unsigned long long)(uintptr_t)native_stream);
}

static void trace_line(char action, const void *pointer, size_t size, int device,
                       const void *native_stream)
{
    pthread_mutex_lock(&trace_lock);
    trace_write(action, pointer, size, device, native_stream);
    pthread_mutex_unlock(&trace_lock);
}

/* Why there is no device state `d` for a call (device_of returned NULL), where no gpumem call
 * failed; NULL where one did (its error says why). `opening`: the call would open the device
 * (an allocation). */
static const char *no_device_reason(int ordinal, int opening)
{
    if (ordinal < 0 || ordinal >= MAX_DEVICES)
        return "the device ordinal is outside 0-63";
    if (opening)
        return open_failure[0] ? open_failure : NULL;
    return "nothing was allocated on this device through gpumem-frameworks";
}

static void *allocate(size_t size, int ordinal, void *native_stream)
{
    if (size == 0)
        return NULL;
    device_state *d = device_of(ordinal, 1);
    const char *reason = NULL;
    gpumem_stream stream = d ? stream_of(d, ordinal, native_stream, &reason)
                             : (reason = no_device_reason(ordinal, 1), NULL);
    gpumem_buffer buffer;
    gpumem_native_buffer native;
    gpumem_buffer_desc desc = {.size = size,
                               .alignment = pool_kind == GPUMEM_POOL_PAGED ? ALIGNMENT : 0};
    if (!stream || gpumem_buffer_create_on_stream(d->pool, &desc, stream, &buffer) != GPUMEM_OK)
        goto failed;
    if (gpumem_buffer_native(buffer, &native) != GPUMEM_OK) {
        gpumem_buffer_destroy_on_stream(buffer, stream);
        goto failed;
    }
    if (trace)
        trace_line('a', (void *)(uintptr_t)native.address, size, ordinal, native_stream);
    return (void *)(uintptr_t)native.address;
failed:
    report("an allocation", size, ordinal, reason);
    return NULL;
}

/* `streamless`: the framework's free names no stream (CuPy's, Numba's), and the memory may have
 * been used on any of its streams; PyTorch's frees name the stream the memory was allocated and
 * used on, its default stream too (0, the legacy stream), and the memory is reused there. */
static void release(void *pointer, size_t size, int ordinal, void *native_stream,
                    int streamless)
{
    if (!pointer)
        return;
    device_state *d = device_of(ordinal, 0);
    const char *reason = NULL;
    gpumem_stream stream = d ? stream_of(d, ordinal, native_stream, &reason)
                             : (reason = no_device_reason(ordinal, 0), NULL);
    gpumem_buffer buffer;
    uint64_t offset;
    if (!stream ||
        gpumem_buffer_find(d->device, (uint64_t)(uintptr_t)pointer, &buffer, &offset) !=
            GPUMEM_OK) {
        report("a free", size, ordinal, reason);
        return;
    }
    if (offset != 0) { /* inside an allocation: freeing it would free memory still in use */
        report("a free", size, ordinal,
               "the pointer is inside an allocation, not its start: nothing was freed");
        return;
    }
    /* A paged pool gives a range freed on a stream back to that stream's next allocations at
     * once, with no work queued: right for one stream's order, PyTorch's (whose record_stream
     * is the application's promise for other streams). Frees without a stream (CuPy's,
     * Numba's) are the legacy default stream's, and the memory was used on any of the
     * application's streams. A wait on the legacy stream (CUDA names stream waits among the
     * operations that take its implicit barrier; the record before it gives it something to
     * wait for), queued before the range goes back, waits for all blocking streams' work queued
     * so far, and their work queued after it waits for it: the range's next user, on any
     * blocking stream, runs after the freed memory's last (a native pool's free is such work
     * itself). Non-blocking streams do not take part (docs/python.md). */
    if (streamless && pool_kind == GPUMEM_POOL_PAGED &&
        (gpumem_event_record(d->legacy_marker, stream) != GPUMEM_OK ||
         gpumem_stream_wait_event(stream, d->legacy_marker) != GPUMEM_OK)) {
        report("a free (its order on the legacy stream)", size, ordinal, NULL);
        return; /* kept: better a leak than memory reused under the application's work */
    }
    /* Traced, the line is written before the trace lock lets another thread's allocation
     * line out, so that a range taken again is never traced before its free. */
    if (trace)
        pthread_mutex_lock(&trace_lock);
    gpumem_result r = gpumem_buffer_destroy_on_stream(buffer, stream);
    if (trace) {
        if (r == GPUMEM_OK)
            trace_write('f', pointer, size, ordinal, native_stream);
        pthread_mutex_unlock(&trace_lock);
    }
    if (r != GPUMEM_OK)
        report("a free", size, ordinal, NULL);
}

void *gpumem_frameworks_torch_alloc(size_t size, int device, void *stream)
{
    return allocate(size, device, stream);
}

void gpumem_frameworks_torch_free(void *pointer, size_t size, int device, void *stream)
{
    release(pointer, size, device, stream, 0);
}

void *gpumem_frameworks_cupy_malloc(void *param, size_t size, int device)
{
    (void)param;
    return allocate(size, device, NULL);
}

void gpumem_frameworks_cupy_free(void *param, void *pointer, int device)
{
    (void)param;
    release(pointer, 0, device, NULL, 1);
}

gpumem_result gpumem_frameworks_stats(int device, gpumem_pool_stats *stats)
{
    device_state *d = device_of(device, 0);
    return d ? gpumem_pool_stats_get(d->pool, stats) : GPUMEM_ERROR_NOT_FOUND;
}

gpumem_result gpumem_frameworks_trim(int device)
{
    device_state *d = device_of(device, 0);
    return d ? gpumem_pool_trim(d->pool) : GPUMEM_ERROR_NOT_FOUND;
}
