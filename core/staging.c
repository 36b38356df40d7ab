#include "staging.h"

#include <string.h>

#include "cpus.h"
#include "device.h"
#include "env.h"
#include "error.h"
#include "host_copy.h"
#include "log.h"
#include "memtype.h"

#define DEFAULT_CHUNK_COUNT 4

gpumem_result gpumem_staging_init(gpumem_device_obj *device)
{
    gpumem_staging *s = &device->staging;
    const gpumem_device_properties *p = &device->properties;
    s->mode = (gpumem_staging_mode)gpumem_env_staging_mode();
    s->usable_cpus = gpumem_usable_cpus();
    uint64_t align = p->min_alignment > p->non_coherent_atom_size ? p->min_alignment
                                                                  : p->non_coherent_atom_size;
    if (align < 4)
        align = 4; /* fills copy whole 32-bit patterns */
    s->chunk_count = DEFAULT_CHUNK_COUNT;
    s->chunk_size = gpumem_env_staging_chunk(p, align, s->chunk_count);
    /* Coherent and cached host memory suits both directions; memory the device reads fast is
     * not wanted here (it is what staging copies into). */
    s->has_type = gpumem_memtype_choose(p, GPUMEM_MEMORY_HOST_VISIBLE,
                                        GPUMEM_MEMORY_HOST_COHERENT | GPUMEM_MEMORY_HOST_CACHED, 0,
                                        s->chunk_size, &s->memory_type);
    if (s->has_type)
        s->coherent = !!(p->memory_types[s->memory_type].flags & GPUMEM_MEMORY_HOST_COHERENT);
    int unmappable = 0; /* memory the host cannot map, which the runtime copies by DMA */
    for (uint32_t i = 0; i < p->memory_type_count; i++)
        unmappable |= !(p->memory_types[i].flags & GPUMEM_MEMORY_HOST_VISIBLE);
    const gpumem_backend_vtable *ops = device->ops;
    s->dma_host_transfers =
        unmappable && ops->host_register && (ops->copy_host_to_page || ops->copy_page_to_host);
    return GPUMEM_OK;
}

/* Without events, a chunk's queued copy can only be waited for by synchronizing the stream
 * that runs it. Core may touch a stream only under that stream's lock, and a staged call holds
 * the lock of its own stream alone, so it leaves no chunk pending when it returns: work pending
 * on a chunk is always the calling stream's. */
static gpumem_result wait_for_stream(gpumem_device_obj *device, gpumem_backend_stream *stream)
{
    gpumem_staging *s = &device->staging;
    gpumem_result r = gpumem_device_stream_synchronize(device, stream);
    for (uint32_t i = 0; i < s->allocated; i++)
        s->chunks[i].pending = 0; /* after a failure too: the stream's work is lost or done */
    return r;
}

/* Waits until the device is done with the chunk's last copy: its event, or, for a backend
 * without events, the calling stream (then every chunk is done). */
static gpumem_result chunk_wait(gpumem_device_obj *device, gpumem_backend_stream *stream,
                                gpumem_staging_chunk *c)
{
    if (c->event)
        return device->ops->event_synchronize(device->native, c->event);
    return c->pending ? wait_for_stream(device, stream) : GPUMEM_OK;
}

/* The chunk is read or written by work just queued on `stream`. */
static gpumem_result chunk_used(gpumem_device_obj *device, gpumem_backend_stream *stream,
                                gpumem_staging_chunk *c)
{
    if (c->event)
        return device->ops->event_record(device->native, stream, c->event);
    c->pending = stream != NULL; /* a backend without streams has done its copies already */
    return GPUMEM_OK;
}

/* The end of a staged call: without events, no chunk may stay pending (see wait_for_stream).
 * A call that failed part way may have queued copies into or out of a chunk whose event does
 * not cover them (the record failed, or was never reached: a fill's copies from one chunk, the
 * failure among them), so the chunks' events cannot tell the next call when they are free: the
 * stream's whole work is waited for first (a stream whose wait fails runs no further work,
 * backend.h). */
static gpumem_result staging_done(gpumem_device_obj *device, gpumem_backend_stream *stream,
                                  gpumem_result r)
{
    gpumem_staging *s = &device->staging;
    if (r != GPUMEM_OK && s->allocated) {
        wait_for_stream(device, stream); /* the call's own failure is the one to report */
        return r;
    }
    for (uint32_t i = 0; i < s->allocated; i++)
        if (s->chunks[i].pending) {
            gpumem_result w = wait_for_stream(device, stream);
            if (r != GPUMEM_OK)
                return r;
            return w == GPUMEM_OK ? w : gpumem_fail_backend(w, "stream_synchronize");
        }
    return r;
}

static void chunk_free(gpumem_device_obj *device, gpumem_staging_chunk *c)
{
    const gpumem_backend_vtable *ops = device->ops;
    if (c->event && device->ops->event_synchronize(device->native, c->event) != GPUMEM_OK)
        gpumem_error_clear(); /* the chunk goes regardless */
    if (c->event)
        ops->event_destroy(device->native, c->event);
    if (c->host)
        gpumem_device_page_unmap(device, c->page);
    if (c->page) {
        ops->page_free(device->native, c->page);
        gpumem_device_account(device, device->staging.memory_type, device->staging.chunk_size, -1);
        gpumem_device_allocation_give(device);
    }
    memset(c, 0, sizeof *c);
}

void gpumem_staging_release(gpumem_device_obj *device)
{
    gpumem_staging *s = &device->staging;
    for (uint32_t i = 0; i < s->allocated; i++)
        chunk_free(device, &s->chunks[i]);
    s->allocated = 0;
}

static gpumem_result chunk_new(gpumem_device_obj *device, gpumem_staging_chunk *c)
{
    const gpumem_backend_vtable *ops = device->ops;
    gpumem_staging *s = &device->staging;
    const char *operation = "page_allocate";
    gpumem_result r = gpumem_device_allocation_take(device);
    if (r != GPUMEM_OK)
        return r;
    r = ops->page_allocate(device->native, s->memory_type, s->chunk_size, &c->page);
    if (r == GPUMEM_OK) {
        gpumem_device_account(device, s->memory_type, s->chunk_size, 1);
    } else {
        c->page = NULL;
        gpumem_device_allocation_give(device);
    }
    if (r == GPUMEM_OK && (r = ops->page_map(device->native, c->page, &c->host)) != GPUMEM_OK) {
        operation = "page_map";
        c->host = NULL;
    }
    if (r == GPUMEM_OK && !c->host) {
        chunk_free(device, c);
        return gpumem_fail(GPUMEM_ERROR_BACKEND, "backend '%s': page_map gave a NULL mapping",
                           device->properties.backend);
    }
    if (r == GPUMEM_OK && ops->event_create &&
        (r = ops->event_create(device->native, &c->event)) != GPUMEM_OK)
        operation = "event_create";
    if (r != GPUMEM_OK) {
        r = gpumem_fail_backend(r, operation);
        chunk_free(device, c);
    }
    return r;
}

/* Chunks are allocated on first use: most devices never stage. Staging lock held. */
static gpumem_result ensure_chunks(gpumem_device_obj *device)
{
    gpumem_staging *s = &device->staging;
    if (!s->has_type)
        return gpumem_fail(GPUMEM_ERROR_UNSUPPORTED,
                           "the device has no host-visible memory to stage through");
    if (s->allocated == s->chunk_count)
        return GPUMEM_OK;
    while (s->allocated < s->chunk_count) {
        gpumem_result r = chunk_new(device, &s->chunks[s->allocated]);
        if (r != GPUMEM_OK)
            return r;
        s->allocated++;
    }
    gpumem_log_after_call(GPUMEM_LOG_INFO, /* the stream and the staging lock are held */
               "staging: %u chunks of %llu bytes in memory type %u (%s), each reused once %s",
               s->chunk_count, (unsigned long long)s->chunk_size, s->memory_type,
               s->coherent ? "coherent" : "flushed and invalidated",
               device->ops->event_create ? "its copy's event completed"
                                         : "the stream that copied it was synchronized");
    return GPUMEM_OK;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Makes host writes to a chunk visible to the device (non-coherent staging memory only). */
static gpumem_result chunk_flush(gpumem_device_obj *device, gpumem_staging_chunk *c,
                                 uint64_t size, int invalidate)
{
    gpumem_staging *s = &device->staging;
    if (s->coherent)
        return GPUMEM_OK;
    uint64_t atom = device->properties.non_coherent_atom_size;
    uint64_t n = min_u64((size + atom - 1) & ~(atom - 1), s->chunk_size);
    return invalidate ? device->ops->page_invalidate(device->native, c->page, 0, n)
                      : device->ops->page_flush(device->native, c->page, 0, n);
}

/* The next chunk whose previous copy has finished. */
static gpumem_result next_chunk(gpumem_device_obj *device, gpumem_backend_stream *stream,
                                gpumem_staging_chunk **out)
{
    gpumem_staging *s = &device->staging;
    gpumem_staging_chunk *c = &s->chunks[s->next];
    s->next = (s->next + 1) % s->chunk_count;
    *out = c;
    return chunk_wait(device, stream, c);
}

uint64_t gpumem_staging_chunk_size(const gpumem_device_obj *device)
{
    return device->staging.chunk_size;
}

static gpumem_result write_job(gpumem_device_obj *device, gpumem_backend_stream *stream,
                               const gpumem_staging_job *job)
{
    gpumem_result r = GPUMEM_OK;
    for (uint64_t i = 0; i < job->count && r == GPUMEM_OK; i++) {
        gpumem_staging_chunk *c;
        if ((r = next_chunk(device, stream, &c)) != GPUMEM_OK)
            break;
        job->host(job, i, c->host);
        if ((r = chunk_flush(device, c, job->bytes(job, i), 0)) != GPUMEM_OK)
            break;
        if ((r = job->device(job, i, c->page)) == GPUMEM_OK)
            r = chunk_used(device, stream, c);
    }
    return r;
}

/* Starts the device copy of piece `index` of a read into its staging chunk. */
static gpumem_result read_issue(gpumem_device_obj *device, gpumem_backend_stream *stream,
                                const gpumem_staging_job *job, uint64_t index)
{
    gpumem_staging_chunk *c = &device->staging.chunks[index % device->staging.chunk_count];
    gpumem_result r = chunk_wait(device, stream, c);
    if (r == GPUMEM_OK)
        r = job->device(job, index, c->page);
    return r == GPUMEM_OK ? chunk_used(device, stream, c) : r;
}

static gpumem_result read_job(gpumem_device_obj *device, gpumem_backend_stream *stream,
                              const gpumem_staging_job *job)
{
    gpumem_staging *s = &device->staging;
    gpumem_result r = GPUMEM_OK;
    for (uint64_t i = 0; i < job->count && i < s->chunk_count && r == GPUMEM_OK; i++)
        r = read_issue(device, stream, job, i);
    for (uint64_t i = 0; i < job->count && r == GPUMEM_OK; i++) {
        gpumem_staging_chunk *c = &s->chunks[i % s->chunk_count];
        if ((r = chunk_wait(device, stream, c)) != GPUMEM_OK ||
            (r = chunk_flush(device, c, job->bytes(job, i), 1)) != GPUMEM_OK)
            break;
        job->host(job, i, c->host);
        if (i + s->chunk_count < job->count)
            r = read_issue(device, stream, job, i + s->chunk_count);
    }
    return r;
}

gpumem_result gpumem_staging_run(gpumem_device_obj *device, gpumem_backend_stream *stream,
                                 const gpumem_staging_job *job, int read, const char *what)
{
    gpumem_staging *s = &device->staging;
    pthread_mutex_lock(&s->lock);
    gpumem_result r = ensure_chunks(device);
    if (r == GPUMEM_OK && (r = read ? read_job(device, stream, job)
                                    : write_job(device, stream, job)) != GPUMEM_OK)
        r = gpumem_fail_backend(r, what);
    r = staging_done(device, stream, r);
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* A buffer's transfer as a job: chunk-sized pieces of one range of a page. */
typedef struct range_job {
    gpumem_staging_job job;
    gpumem_device_obj *device;
    gpumem_backend_stream *stream;
    gpumem_backend_page *page;
    uint64_t offset;
    char *host;
    uint64_t size;
    int read;
} range_job;

static uint64_t range_bytes(const gpumem_staging_job *job, uint64_t i)
{
    const range_job *j = (const range_job *)job;
    return min_u64(j->device->staging.chunk_size, j->size - i * j->device->staging.chunk_size);
}

static void range_host(const gpumem_staging_job *job, uint64_t i, void *chunk)
{
    const range_job *j = (const range_job *)job;
    char *host = j->host + i * j->device->staging.chunk_size;
    if (j->read)
        gpumem_host_copy_read(host, chunk, (size_t)range_bytes(job, i), j->size);
    else
        gpumem_host_copy(chunk, host, (size_t)range_bytes(job, i));
}

static gpumem_result range_device(const gpumem_staging_job *job, uint64_t i,
                                  gpumem_backend_page *chunk)
{
    const range_job *j = (const range_job *)job;
    gpumem_device_obj *device = j->device;
    uint64_t at = j->offset + i * device->staging.chunk_size, n = range_bytes(job, i);
    return j->read ? device->ops->copy_page_to_page(device->native, j->stream, j->page, at, chunk,
                                                    0, n)
                   : device->ops->copy_page_to_page(device->native, j->stream, chunk, 0, j->page,
                                                    at, n);
}

static gpumem_result range_run(gpumem_device_obj *device, gpumem_backend_stream *stream,
                               gpumem_backend_page *page, uint64_t offset, char *host,
                               uint64_t size, int read)
{
    uint64_t chunk = device->staging.chunk_size;
    range_job j = {
        .job = {(size + chunk - 1) / chunk, range_bytes, range_host, range_device},
        .device = device,
        .stream = stream,
        .page = page,
        .offset = offset,
        .host = host,
        .size = size,
        .read = read,
    };
    return gpumem_staging_run(device, stream, &j.job, read,
                              read ? "a staged read" : "a staged write");
}

gpumem_result gpumem_staging_write(gpumem_device_obj *device, gpumem_backend_stream *stream,
                                   gpumem_backend_page *page, uint64_t offset, const void *source,
                                   uint64_t size)
{
    return range_run(device, stream, page, offset, (char *)(uintptr_t)source, size, 0);
}

gpumem_result gpumem_staging_read(gpumem_device_obj *device, gpumem_backend_stream *stream,
                                  gpumem_backend_page *page, uint64_t offset, void *destination,
                                  uint64_t size)
{
    return range_run(device, stream, page, offset, destination, size, 1);
}

static gpumem_result fill_chunks(gpumem_device_obj *device, gpumem_backend_stream *stream,
                                 gpumem_backend_page *page, uint64_t offset, uint64_t size,
                                 uint32_t pattern)
{
    gpumem_staging_chunk *c;
    gpumem_result r = next_chunk(device, stream, &c);
    uint64_t n = min_u64(device->staging.chunk_size, size);
    if (r != GPUMEM_OK)
        return r;
    gpumem_host_fill(c->host, pattern, (size_t)n);
    if ((r = chunk_flush(device, c, n, 0)) != GPUMEM_OK)
        return r;
    /* One chunk of the pattern is copied as often as needed; chunk sizes are multiples of 4. */
    for (uint64_t done = 0; done < size && r == GPUMEM_OK; done += n) {
        n = min_u64(device->staging.chunk_size, size - done);
        r = device->ops->copy_page_to_page(device->native, stream, c->page, 0, page,
                                           offset + done, n);
    }
    return r == GPUMEM_OK ? chunk_used(device, stream, c) : r;
}

gpumem_result gpumem_staging_fill(gpumem_device_obj *device, gpumem_backend_stream *stream,
                                  gpumem_backend_page *page, uint64_t offset, uint64_t size,
                                  uint32_t pattern)
{
    gpumem_staging *s = &device->staging;
    pthread_mutex_lock(&s->lock);
    gpumem_result r = ensure_chunks(device);
    if (r == GPUMEM_OK &&
        (r = fill_chunks(device, stream, page, offset, size, pattern)) != GPUMEM_OK)
        r = gpumem_fail_backend(r, "a staged fill");
    r = staging_done(device, stream, r);
    pthread_mutex_unlock(&s->lock);
    return r;
}
