/* Transfers: write, read, copy and fill, synchronous and on streams. This file holds the
 * staging policy: for each transfer it picks the cheapest correct path among a direct runtime
 * copy, a host copy through a mapping, and core's staging pipeline (staging.c). */
#include <stdio.h>
#include <stdlib.h>

#include "buffer.h"
#include "call.h"
#include "host_copy.h"
#include "log.h"
#include "registration_cache.h"
#include "stream.h"
#include "transfer.h"
#include "transfer_registration.h"

/* Pageable host memory below this goes straight to the runtime: pipelining needs chunks. */
#define STAGING_THRESHOLD (8ull << 20)

typedef enum path {
    PATH_DIRECT,  /* the runtime copies between host memory and the page */
    PATH_MAPPED,  /* the host copies through a mapping of the page */
    PATH_STAGED,  /* core's staging pipeline */
    PATH_NONE,    /* none that is safe (cpu_path) */
} path;

/* Which way a host transfer goes. */
typedef enum direction {
    TO_DEVICE, /* write: data is read */
    TO_HOST,   /* read: data is written */
} direction;

/* The backend copies between pageable host memory and its pages itself. */
static int has_direct_copy(const gpumem_device_obj *device, direction way)
{
    return way == TO_DEVICE ? device->ops->copy_host_to_page != NULL
                            : device->ops->copy_page_to_host != NULL;
}

/* In auto mode, memory whose path is `p` would be staged though the runtime could copy it
 * itself, on a device opened on a thread that could use fewer than `limit` CPUs (a count that
 * could not be read, 0, is not fewer): the CPU rule (choose_path) and a transfer's
 * registration for itself (registers_for_itself) then take it from staging. */
static int staged_on_fewer_cpus_than(const gpumem_device_obj *device, path p, direction way,
                                     long limit)
{
    long cpus = device->staging.usable_cpus;
    return p == PATH_STAGED && device->staging.mode == GPUMEM_STAGING_AUTO && cpus > 0 &&
           cpus < limit && has_direct_copy(device, way);
}

static path choose_path(const gpumem_device_obj *device, const gpumem_buffer_obj *b,
                        const void *host, uint64_t size, direction way, int wait);
static path path_for_memory(const gpumem_device_obj *device, const gpumem_buffer_obj *b,
                            const void *host, uint64_t size, direction way);

static const char *const path_names[] = {"direct", "mapped", "staged"};
static const char *const mode_names[] = {"auto", "always", "never", "pageable"};

/* The memory would be staged, but the CPU rule gives it to the runtime (choose_path). */
static int left_staging_for_cpus(const gpumem_device_obj *device, const gpumem_buffer_obj *b,
                                 const void *host, uint64_t size, direction way, int wait)
{
    return choose_path(device, b, host, size, way, wait) == PATH_DIRECT &&
           path_for_memory(device, b, host, size, way) == PATH_STAGED;
}

/* The path of memory the runtime must not copy (`by_cpu`, registration_cache.h): through a
 * mapping or staged, both by the CPU; PATH_NONE where the memory allows neither. */
static path cpu_path(const gpumem_device_obj *device, const gpumem_buffer_obj *b)
{
    if (b->pool->memory_flags & GPUMEM_MEMORY_HOST_VISIBLE)
        return PATH_MAPPED;
    return device->staging.has_type ? PATH_STAGED : PATH_NONE;
}

/* The path of a transfer, and why, in the debug log. Pageable memory that core registered for
 * it, by the registration cache (`cached`) or for this one transfer (`own`,
 * transfer_registration.h), goes direct as pinned memory does; memory the runtime must not
 * copy (`by_cpu`) goes by the CPU. `wait`: the call waits for its copy (see choose_path). */
static path choose_path_logged(const gpumem_device_obj *device, const gpumem_buffer_obj *b,
                               const void *host, uint64_t size, direction way, int cached,
                               const gpumem_transfer_registration *own, int by_cpu, int wait)
{
    path p = cached || own ? PATH_DIRECT
             : by_cpu      ? cpu_path(device, b)
                           : choose_path(device, b, host, size, way, wait);
    if (!gpumem_log_wants(GPUMEM_LOG_DEBUG) || p == PATH_NONE)
        return p;
    char why[96] = "";
    if (cached)
        snprintf(why, sizeof why, ", registered by the registration cache");
    else if (by_cpu)
        snprintf(why, sizeof why, ", on pages the registration cache registered for other bytes");
    else if (own)
        snprintf(why, sizeof why, ", usable CPUs %ld: registered for this %s in %u piece%s",
                 device->staging.usable_cpus, own->read ? "read" : "write", own->pieces,
                 own->pieces > 1 ? "s" : "");
    else if (p == PATH_DIRECT && size < STAGING_THRESHOLD)
        snprintf(why, sizeof why, ", below the staging threshold");
    else if (left_staging_for_cpus(device, b, host, size, way, wait))
        snprintf(why, sizeof why, ", usable CPUs %ld: staging pays from %d",
                 device->staging.usable_cpus, GPUMEM_STAGING_MIN_CPUS);
    /* At once, inside the transfer (docs/api.md, "Logging"): a callback's calls that would take
     * this stream again are refused (gpumem_stream_check_not_held). */
    gpumem_log(GPUMEM_LOG_DEBUG, "%s of %llu bytes %s pool '%s': %s (GPUMEM_STAGING=%s%s)",
               way == TO_DEVICE ? "write" : "read", (unsigned long long)size,
               way == TO_DEVICE ? "into" : "from", b->pool->name, path_names[p],
               mode_names[device->staging.mode], why);
    return p;
}

/* For a synchronous transfer of pageable memory (registration_cache.h): the cache's
 * registration of it, held until the copy is done (at any size: a part of a cached array left
 * to the runtime unheld could see the registration ended under its copy, and it goes by the CPU
 * instead: gpumem_registration_cache_queue_begin), or one made now where the transfer would be
 * staged; or NULL. */
static gpumem_cached_registration *registration_for(gpumem_device_obj *device,
                                                    const gpumem_buffer_obj *b, const void *host,
                                                    uint64_t size, direction way)
{
    if (device->staging.mode == GPUMEM_STAGING_ALWAYS || !gpumem_registration_cache_enabled() ||
        !has_direct_copy(device, way))
        return NULL;
    gpumem_cached_registration *held = gpumem_registration_cache_take(device, host, size, 0);
    /* Registered, such memory beats both the staged and the runtime's own copy, on few CPUs
     * too: the memory, not the CPUs, decides. */
    if (!held && size >= STAGING_THRESHOLD &&
        path_for_memory(device, b, host, size, way) == PATH_STAGED)
        held = gpumem_registration_cache_take(device, host, size, 1);
    return held;
}

/* On fewer than GPUMEM_REGISTERED_WRITES_BELOW_CPUS CPUs (writes) or
 * GPUMEM_REGISTERED_READS_BELOW_CPUS (reads), in auto mode, a synchronous transfer of pageable
 * memory that would be staged (on two CPUs or more) or given to the runtime by the CPU rule (on
 * one) registers the memory's pages for the transfer alone (transfer_registration.h), where
 * the registration cache is off: the runtime then copies it by DMA, faster than its own copy or
 * staging there (docs/performance.md, "Twenty-seventh session" to "Twenty-ninth session").
 * Called under the stream's lock; where it answers 0, the transfer takes choose_path's path. */
static int registers_for_itself(gpumem_device_obj *device, const gpumem_buffer_obj *b,
                                void *host, uint64_t size, direction way, int wait,
                                gpumem_transfer_registration *registration)
{
    long limit = way == TO_DEVICE ? GPUMEM_REGISTERED_WRITES_BELOW_CPUS
                                  : GPUMEM_REGISTERED_READS_BELOW_CPUS;
    return wait && !gpumem_registration_cache_enabled() &&
           staged_on_fewer_cpus_than(device, path_for_memory(device, b, host, size, way), way,
                                     limit) &&
           gpumem_transfer_registration_begin(device, host, size, way == TO_HOST, registration);
}

/* The path a transfer takes: the memory's, except that in auto mode, on few CPUs, pageable
 * memory the runtime can copy itself goes to the runtime instead of being staged, where the
 * call waits for the copy either way (`wait`: a synchronous call; or a read, which a staged
 * pipeline and the runtime's copy of pageable memory both finish before they return). A write
 * on a stream stays staged: it returns once its last chunks are queued, where the runtime's
 * write from pageable memory would wait for the stream (backends' contract: a write has read
 * its source when it returns). */
static path choose_path(const gpumem_device_obj *device, const gpumem_buffer_obj *b,
                        const void *host, uint64_t size, direction way, int wait)
{
    path p = path_for_memory(device, b, host, size, way);
    if ((wait || way == TO_HOST) &&
        staged_on_fewer_cpus_than(device, p, way, GPUMEM_STAGING_MIN_CPUS))
        return PATH_DIRECT;
    return p;
}

/* The cheapest correct path for the memory, whatever the CPUs. */
static path path_for_memory(const gpumem_device_obj *device, const gpumem_buffer_obj *b,
                            const void *host, uint64_t size, direction way)
{
    const gpumem_staging *s = &device->staging;
    const gpumem_backend_vtable *ops = device->ops;
    int direct = has_direct_copy(device, way);
    if (s->mode == GPUMEM_STAGING_ALWAYS && s->has_type)
        return PATH_STAGED;
    if (direct && (s->mode == GPUMEM_STAGING_NEVER || size < STAGING_THRESHOLD ||
                   (ops->host_memory_is_pinned &&
                    ops->host_memory_is_pinned(device->native, host, size))))
        return PATH_DIRECT;
    if (b->pool->memory_flags & GPUMEM_MEMORY_HOST_VISIBLE)
        return PATH_MAPPED;
    if (s->has_type && s->mode != GPUMEM_STAGING_NEVER)
        return PATH_STAGED;
    return PATH_DIRECT;
}

/* Mapped paths run on the host at once, so the stream's earlier work must be done first. */
static gpumem_result mapped_begin(gpumem_stream_obj *stream, gpumem_buffer_obj *b, char **data)
{
    gpumem_result r = gpumem_device_stream_synchronize(stream->device, stream->native);
    if (r != GPUMEM_OK)
        return gpumem_fail_backend(r, "stream_synchronize");
    return gpumem_buffer_map_internal(b, data);
}

/* What the host writes through a mapping: bytes from `data`, or a 32-bit pattern (fill). */
typedef struct host_write {
    const char *data; /* NULL: a fill */
    uint32_t pattern;
    uint64_t offset;  /* where the write starts in the buffer */
} host_write;

/* Writes bytes [from, to) of the buffer (inside the write) through the mapping. A fill's pieces
 * start 4-byte aligned relative to the fill (offsets and atoms are multiples of 4). */
static void host_put(const host_write *w, char *mapped, uint64_t from, uint64_t to)
{
    if (w->data)
        gpumem_host_copy(mapped + from, w->data + (from - w->offset), (size_t)(to - from));
    else
        gpumem_host_fill(mapped + from, w->pattern, (size_t)(to - from));
}

/* Bytes [from, to) of the write, by the device: the runtime's copy or fill where the backend
 * has one, else core's staging pipeline (which copies page to page). */
static gpumem_result device_put(gpumem_stream_obj *stream, gpumem_buffer_obj *b,
                                const host_write *w, uint64_t from, uint64_t to)
{
    if (from == to)
        return GPUMEM_OK;
    gpumem_device_obj *device = stream->device;
    const gpumem_backend_vtable *ops = device->ops;
    gpumem_backend_page *page = b->page->native;
    uint64_t at = b->offset + from, n = to - from;
    gpumem_result r;
    const char *operation;
    if (w->data && ops->copy_host_to_page) {
        operation = "copy_host_to_page";
        r = ops->copy_host_to_page(device->native, stream->native, w->data + (from - w->offset),
                                   page, at, n);
    } else if (w->data) {
        operation = "a staged write";
        r = gpumem_staging_write(device, stream->native, page, at, w->data + (from - w->offset),
                                 n);
    } else if (ops->fill) {
        operation = "fill";
        r = ops->fill(device->native, stream->native, page, at, n, w->pattern);
    } else {
        operation = "a staged fill";
        r = gpumem_staging_fill(device, stream->native, page, at, n, w->pattern);
    }
    return r == GPUMEM_OK ? r : gpumem_fail_backend(r, operation);
}

/* The host's side of a write or fill of [w->offset, w->offset + size) through a mapping. On
 * non-coherent memory a flush writes back whole atoms: the host's copy of an atom's other
 * bytes would overwrite what the device, or a call on another thread, wrote there meanwhile. So
 * the host writes only the whole atoms of the range, which belong to this write alone, and the
 * device writes the atoms at its ends that the range covers in part (the device writes bytes,
 * not atoms). The stream was synchronized before; the ends are queued on it. */
static gpumem_result put_through_mapping(gpumem_stream_obj *stream, gpumem_buffer_obj *b,
                                         const host_write *w, char *mapped, uint64_t size)
{
    uint64_t offset = w->offset;
    if (b->pool->memory_flags & GPUMEM_MEMORY_HOST_COHERENT) {
        host_put(w, mapped, offset, offset + size);
        return GPUMEM_OK;
    }
    /* Atoms are on the page's grid; buffer offsets are multiples of the atom (min_alignment). */
    uint64_t atom = b->pool->device->properties.non_coherent_atom_size;
    uint64_t end = offset + size;
    uint64_t head_end = (offset + atom - 1) & ~(atom - 1); /* where the first whole atom starts */
    if (head_end > end)
        head_end = end;
    uint64_t tail_begin = end & ~(atom - 1); /* where the last atom covered in part starts */
    if (tail_begin < head_end)
        tail_begin = head_end;
    gpumem_result r = device_put(stream, b, w, offset, head_end);
    if (r == GPUMEM_OK)
        r = device_put(stream, b, w, tail_begin, end);
    if (r == GPUMEM_OK && tail_begin > head_end) {
        host_put(w, mapped, head_end, tail_begin);
        r = gpumem_buffer_coherence(b, head_end, tail_begin - head_end, 1);
    }
    return r;
}

static gpumem_result mapped_copy(gpumem_stream_obj *stream, gpumem_buffer_obj *b,
                                 uint64_t offset, void *data, uint64_t size, direction way)
{
    char *mapped;
    gpumem_result r = mapped_begin(stream, b, &mapped);
    if (r != GPUMEM_OK)
        return r;
    if (way == TO_DEVICE)
        r = put_through_mapping(stream, b, &(host_write){.data = data, .offset = offset}, mapped,
                                size);
    else if ((r = gpumem_buffer_coherence(b, offset, size, 0)) == GPUMEM_OK)
        gpumem_host_copy_read(data, mapped + offset, (size_t)size, size);
    gpumem_buffer_unmap_internal(b);
    return r;
}

/* `cached`, `own`, `by_cpu`: as choose_path_logged's. */
static gpumem_result host_transfer_locked(gpumem_stream_obj *stream, gpumem_buffer_obj *b,
                                          uint64_t offset, void *data, uint64_t size,
                                          direction way, int cached,
                                          gpumem_transfer_registration *own, int by_cpu,
                                          int wait)
{
    gpumem_device_obj *device = stream->device;
    gpumem_backend_page *page = b->page->native;
    uint64_t at = b->offset + offset;
    gpumem_result r;
    switch (choose_path_logged(device, b, data, size, way, cached, own, by_cpu, wait)) {
    case PATH_NONE:
        return gpumem_fail(GPUMEM_ERROR_BAD_STATE,
                           "%llu bytes at %p share pages with memory the registration cache "
                           "registered, and memory type %u can neither be mapped nor staged: "
                           "the runtime's copy could outlive that registration",
                           (unsigned long long)size, data, b->pool->memory_type);
    case PATH_STAGED:
        return way == TO_DEVICE
                   ? gpumem_staging_write(device, stream->native, page, at, data, size)
                   : gpumem_staging_read(device, stream->native, page, at, data, size);
    case PATH_MAPPED:
        return mapped_copy(stream, b, offset, data, size, way);
    case PATH_DIRECT:
        break;
    }
    if (!has_direct_copy(device, way))
        return gpumem_fail(GPUMEM_ERROR_UNSUPPORTED,
                           "memory type %u cannot be mapped, staging is %s, and backend '%s' "
                           "has no %s",
                           b->pool->memory_type,
                           device->staging.has_type ? "off (GPUMEM_STAGING=never)"
                                                    : "impossible (no host-visible memory)",
                           device->properties.backend,
                           way == TO_DEVICE ? "copy_host_to_page" : "copy_page_to_host");
    if (own)
        return gpumem_transfer_registration_copy(own, stream->native, page, at);
    if (way == TO_DEVICE)
        r = device->ops->copy_host_to_page(device->native, stream->native, data, page, at, size);
    else
        r = device->ops->copy_page_to_host(device->native, stream->native, page, at, data, size);
    return r == GPUMEM_OK ? r
                          : gpumem_fail_backend(r, way == TO_DEVICE ? "copy_host_to_page"
                                                                    : "copy_page_to_host");
}

static gpumem_result fill_locked(gpumem_stream_obj *stream, gpumem_buffer_obj *b,
                                 uint64_t offset, uint64_t size, uint32_t pattern)
{
    gpumem_device_obj *device = stream->device;
    const gpumem_staging *s = &device->staging;
    gpumem_result r;
    char *mapped;
    if (device->ops->fill && !(s->mode == GPUMEM_STAGING_ALWAYS && s->has_type)) {
        r = device->ops->fill(device->native, stream->native, b->page->native,
                              b->offset + offset, size, pattern);
        return r == GPUMEM_OK ? r : gpumem_fail_backend(r, "fill");
    }
    if (!(b->pool->memory_flags & GPUMEM_MEMORY_HOST_VISIBLE) ||
        s->mode == GPUMEM_STAGING_ALWAYS)
        return gpumem_staging_fill(device, stream->native, b->page->native, b->offset + offset,
                                   size, pattern);
    if ((r = mapped_begin(stream, b, &mapped)) != GPUMEM_OK)
        return r;
    r = put_through_mapping(stream, b, &(host_write){.pattern = pattern, .offset = offset},
                            mapped, size);
    gpumem_buffer_unmap_internal(b);
    return r;
}

static gpumem_result copy_locked(gpumem_stream_obj *stream, gpumem_buffer_obj *source,
                                 uint64_t source_offset, gpumem_buffer_obj *destination,
                                 uint64_t destination_offset, uint64_t size)
{
    gpumem_device_obj *device = stream->device;
    gpumem_result r = device->ops->copy_page_to_page(
        device->native, stream->native, source->page->native, source->offset + source_offset,
        destination->page->native, destination->offset + destination_offset, size);
    return r == GPUMEM_OK ? r : gpumem_fail_backend(r, "copy_page_to_page");
}

/* --- argument checks shared by the stream and synchronous forms --- */

gpumem_result gpumem_transfer_check_host(const void *data)
{
    return data ? GPUMEM_OK : gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "data is NULL");
}

static gpumem_result check_fill(const gpumem_buffer_obj *b, uint64_t offset, uint64_t size)
{
    gpumem_result r = gpumem_buffer_check_range(b, offset, size);
    if (r == GPUMEM_OK && ((offset | size) & 3))
        r = gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                        "fill offset %llu and size %llu must be multiples of 4",
                        (unsigned long long)offset, (unsigned long long)size);
    return r;
}

static gpumem_result check_copy(const gpumem_buffer_obj *source, uint64_t source_offset,
                                const gpumem_buffer_obj *destination,
                                uint64_t destination_offset, uint64_t size)
{
    gpumem_result r = gpumem_buffer_check_range(source, source_offset, size);
    if (r == GPUMEM_OK)
        r = gpumem_buffer_check_range(destination, destination_offset, size);
    if (r != GPUMEM_OK)
        return r;
    if (source->pool->device != destination->pool->device)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                           "the buffers belong to different devices");
    uint64_t a = source->offset + source_offset, b = destination->offset + destination_offset;
    if (source->page == destination->page && a < b + size && b < a + size)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "source and destination ranges overlap");
    /* Two pages may share memory: an import of another pool's buffer. Where pages have
     * addresses, the bytes themselves must not overlap either. */
    uint64_t x = source->page->address + a, y = destination->page->address + b;
    if (source->page != destination->page && source->page->address &&
        destination->page->address && x < y + size && y < x + size)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                           "source and destination ranges overlap: the buffers share memory "
                           "(one imports the other's)");
    return GPUMEM_OK;
}

/* --- the transfers, on stream objects: each public call looks its handles up once --- */

gpumem_result gpumem_transfer_same_device(const gpumem_stream_obj *stream,
                                          const gpumem_buffer_obj *b)
{
    return b->pool->device == stream->device
               ? GPUMEM_OK
               : gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                             "the %s and the stream belong to different devices",
                             b->image ? "image" : "buffer");
}

/* The stream's lock keeps the steps of one transfer in order among others on the stream. A
 * backend without streams completes every step before it returns: nothing to order, no lock. */
gpumem_result gpumem_transfer_enter(gpumem_stream_obj *stream, gpumem_stream_obj **outer)
{
    gpumem_thread *t = &gpumem_this_thread;
    *outer = t->held_stream;
    if (!stream->native)
        return GPUMEM_OK;
    gpumem_result r = gpumem_stream_check_not_held(stream);
    if (r != GPUMEM_OK)
        return r;
    gpumem_lock_acquire(&stream->lock);
    t->held_stream = stream;
    return GPUMEM_OK;
}

/* With `wait` (the synchronous forms), waits for the stream's work after a successful
 * submission, under the same lock; then lets the stream go. */
gpumem_result gpumem_transfer_leave(gpumem_stream_obj *stream, gpumem_stream_obj *outer,
                                    gpumem_result r, int wait)
{
    if (r == GPUMEM_OK && wait &&
        (r = gpumem_device_stream_synchronize(stream->device, stream->native)) != GPUMEM_OK)
        r = gpumem_fail_backend(r, "stream_synchronize");
    if (stream->native) {
        gpumem_this_thread.held_stream = outer;
        gpumem_lock_release(&stream->lock);
    }
    return r;
}

static gpumem_result host_transfer(gpumem_stream_obj *stream, gpumem_buffer_obj *b,
                                   uint64_t offset, void *data, uint64_t size, direction way,
                                   int wait)
{
    gpumem_result r = gpumem_transfer_same_device(stream, b);
    if (r == GPUMEM_OK && (r = gpumem_transfer_check_host(data)) == GPUMEM_OK &&
        (r = gpumem_buffer_check_range(b, offset, size)) == GPUMEM_OK) {
        gpumem_device_obj *device = stream->device;
        /* Inside a transfer of this thread's that holds its pages registered (a call from a
         * log callback): the copy must be done before that transfer can unregister them. */
        int inside = gpumem_transfer_registration_enter(device);
        gpumem_stream_obj *outer;
        if ((r = gpumem_transfer_enter(stream, &outer)) != GPUMEM_OK) {
            gpumem_transfer_registration_leave(device);
            return r;
        }
        /* Under the stream's lock, so that no thread that holds it can be waiting for it. */
        gpumem_transfer_registration own;
        int registered = registers_for_itself(device, b, data, size, way, wait, &own);
        /* Released after the wait: the copy must not outlive the registration. */
        gpumem_cached_registration *cached =
            wait && !registered ? registration_for(device, b, data, size, way) : NULL;
        gpumem_queued_transfer queued = {0};
        int by_cpu = !cached && !registered &&
                     gpumem_registration_cache_queue_begin(device, data, size, 0, &queued);
        r = host_transfer_locked(stream, b, offset, data, size, way, cached != NULL,
                                 registered ? &own : NULL, by_cpu, wait);
        gpumem_registration_cache_queued(&queued);
        if (registered) /* its copies are done (gpumem_transfer_registration_copy) */
            gpumem_transfer_registration_end(&own);
        r = gpumem_transfer_leave(stream, outer, r, wait || inside);
        gpumem_registration_cache_release(cached);
        gpumem_transfer_registration_leave(device);
    }
    return r;
}

static gpumem_result fill(gpumem_stream_obj *stream, gpumem_buffer_obj *b, uint64_t offset,
                          uint64_t size, uint32_t pattern, int wait)
{
    gpumem_result r = gpumem_transfer_same_device(stream, b);
    gpumem_stream_obj *outer;
    if (r == GPUMEM_OK && (r = check_fill(b, offset, size)) == GPUMEM_OK &&
        (r = gpumem_transfer_enter(stream, &outer)) == GPUMEM_OK)
        r = gpumem_transfer_leave(stream, outer, fill_locked(stream, b, offset, size, pattern),
                                  wait);
    return r;
}

static gpumem_result copy(gpumem_stream_obj *stream, gpumem_buffer_obj *source,
                          uint64_t source_offset, gpumem_buffer_obj *destination,
                          uint64_t destination_offset, uint64_t size, int wait)
{
    /* check_copy compares the buffers' devices */
    gpumem_result r = gpumem_transfer_same_device(stream, source);
    gpumem_stream_obj *outer;
    if (r == GPUMEM_OK &&
        (r = check_copy(source, source_offset, destination, destination_offset, size)) ==
            GPUMEM_OK &&
        (r = gpumem_transfer_enter(stream, &outer)) == GPUMEM_OK)
        r = gpumem_transfer_leave(stream, outer,
                                  copy_locked(stream, source, source_offset, destination,
                                              destination_offset, size),
                                  wait);
    return r;
}

gpumem_result gpumem_transfer_host_locked(gpumem_stream_obj *stream, gpumem_buffer_obj *record,
                                          uint64_t offset, void *data, uint64_t size, int read,
                                          int by_cpu, int wait)
{
    return host_transfer_locked(stream, record, offset, data, size, read ? TO_HOST : TO_DEVICE,
                                0, NULL, by_cpu, wait);
}

gpumem_result gpumem_transfer_copy_locked(gpumem_stream_obj *stream, gpumem_buffer_obj *source,
                                          uint64_t source_offset,
                                          gpumem_buffer_obj *destination,
                                          uint64_t destination_offset, uint64_t size)
{
    return copy_locked(stream, source, source_offset, destination, destination_offset, size);
}

/* --- stream forms --- */

/* Looks up a stream and a buffer. */
static gpumem_result get_pair(gpumem_stream stream_handle, gpumem_buffer buffer_handle,
                              gpumem_stream_obj **stream, gpumem_buffer_obj **buffer,
                              const gpumem_thread *t)
{
    gpumem_result r = gpumem_stream_get(stream_handle, stream);
    return r == GPUMEM_OK ? gpumem_buffer_get(buffer_handle, buffer, t) : r;
}

static gpumem_result stream_host_transfer(gpumem_stream stream_handle, gpumem_buffer buffer,
                                          uint64_t offset, void *data, uint64_t size,
                                          direction way, const gpumem_thread *t)
{
    gpumem_stream_obj *stream;
    gpumem_buffer_obj *b;
    gpumem_result r = get_pair(stream_handle, buffer, &stream, &b, t);
    return r == GPUMEM_OK ? host_transfer(stream, b, offset, data, size, way, 0) : r;
}

/* The write only reads `data`; one function serves both directions. */
gpumem_result gpumem_stream_write(gpumem_stream stream, gpumem_buffer buffer, uint64_t offset,
                                  const void *data, uint64_t size)
{
    GPUMEM_LOGGED_CALL(
        stream_host_transfer(stream, buffer, offset, (void *)(uintptr_t)data, size, TO_DEVICE,
                             GPUMEM_CALL_THREAD),
        "stream %#llx, buffer %#llx, offset %llu, data %p, size %llu",
        GPUMEM_LOG_HANDLE(stream), GPUMEM_LOG_HANDLE(buffer), (unsigned long long)(offset), data,
        (unsigned long long)(size));
}

gpumem_result gpumem_stream_read(gpumem_stream stream, gpumem_buffer buffer, uint64_t offset,
                                 void *data, uint64_t size)
{
    GPUMEM_LOGGED_CALL(stream_host_transfer(stream, buffer, offset, data, size, TO_HOST,
                                            GPUMEM_CALL_THREAD),
                       "stream %#llx, buffer %#llx, offset %llu, data %p, size %llu",
                       GPUMEM_LOG_HANDLE(stream), GPUMEM_LOG_HANDLE(buffer),
                       (unsigned long long)(offset), data, (unsigned long long)(size));
}

static gpumem_result stream_fill(gpumem_stream stream_handle, gpumem_buffer buffer,
                                 uint64_t offset, uint64_t size, uint32_t pattern,
                                 const gpumem_thread *t)
{
    gpumem_stream_obj *stream;
    gpumem_buffer_obj *b;
    gpumem_result r = get_pair(stream_handle, buffer, &stream, &b, t);
    return r == GPUMEM_OK ? fill(stream, b, offset, size, pattern, 0) : r;
}

gpumem_result gpumem_stream_fill(gpumem_stream stream, gpumem_buffer buffer, uint64_t offset,
                                 uint64_t size, uint32_t pattern)
{
    GPUMEM_LOGGED_CALL(stream_fill(stream, buffer, offset, size, pattern, GPUMEM_CALL_THREAD),
                       "stream %#llx, buffer %#llx, offset %llu, size %llu, pattern %#llx",
                       GPUMEM_LOG_HANDLE(stream), GPUMEM_LOG_HANDLE(buffer),
                       (unsigned long long)(offset), (unsigned long long)(size),
                       (unsigned long long)(pattern));
}

static gpumem_result stream_copy(gpumem_stream stream_handle, gpumem_buffer source,
                                 uint64_t source_offset, gpumem_buffer destination,
                                 uint64_t destination_offset, uint64_t size,
                                 const gpumem_thread *t)
{
    gpumem_stream_obj *stream;
    gpumem_buffer_obj *src, *dst;
    gpumem_result r = get_pair(stream_handle, source, &stream, &src, t);
    if (r == GPUMEM_OK)
        r = gpumem_buffer_get(destination, &dst, t);
    return r == GPUMEM_OK ? copy(stream, src, source_offset, dst, destination_offset, size, 0)
                          : r;
}

gpumem_result gpumem_stream_copy(gpumem_stream stream, gpumem_buffer source,
                                 uint64_t source_offset, gpumem_buffer destination,
                                 uint64_t destination_offset, uint64_t size)
{
    GPUMEM_LOGGED_CALL(
        stream_copy(stream, source, source_offset, destination, destination_offset, size,
                    GPUMEM_CALL_THREAD),
        "stream %#llx, source %#llx, source_offset %llu, destination %#llx, "
        "destination_offset %llu, size %llu",
        GPUMEM_LOG_HANDLE(stream), GPUMEM_LOG_HANDLE(source), (unsigned long long)(source_offset),
        GPUMEM_LOG_HANDLE(destination), (unsigned long long)(destination_offset),
        (unsigned long long)(size));
}

/* --- synchronous forms: the device's default stream, waited for before they return --- */

static gpumem_stream_obj *default_stream_of(const gpumem_buffer_obj *b)
{
    return b->pool->device->default_stream;
}

static gpumem_result buffer_host_transfer(gpumem_buffer buffer, uint64_t offset, void *data,
                                          uint64_t size, direction way, const gpumem_thread *t)
{
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_buffer_get(buffer, &b, t);
    if (r != GPUMEM_OK)
        return r;
    return host_transfer(default_stream_of(b), b, offset, data, size, way, 1);
}

gpumem_result gpumem_buffer_write(gpumem_buffer buffer, uint64_t offset, const void *data,
                                  uint64_t size)
{
    GPUMEM_LOGGED_CALL(
        buffer_host_transfer(buffer, offset, (void *)(uintptr_t)data, size, TO_DEVICE,
                             GPUMEM_CALL_THREAD),
        "buffer %#llx, offset %llu, data %p, size %llu",
        GPUMEM_LOG_HANDLE(buffer), (unsigned long long)(offset), data, (unsigned long long)(size));
}

gpumem_result gpumem_buffer_read(gpumem_buffer buffer, uint64_t offset, void *data,
                                 uint64_t size)
{
    GPUMEM_LOGGED_CALL(buffer_host_transfer(buffer, offset, data, size, TO_HOST,
                                            GPUMEM_CALL_THREAD),
                       "buffer %#llx, offset %llu, data %p, size %llu",
                       GPUMEM_LOG_HANDLE(buffer), (unsigned long long)(offset), data,
                       (unsigned long long)(size));
}

static gpumem_result buffer_fill(gpumem_buffer buffer, uint64_t offset, uint64_t size,
                                 uint32_t pattern, const gpumem_thread *t)
{
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_buffer_get(buffer, &b, t);
    if (r != GPUMEM_OK)
        return r;
    return fill(default_stream_of(b), b, offset, size, pattern, 1);
}

gpumem_result gpumem_buffer_fill(gpumem_buffer buffer, uint64_t offset, uint64_t size,
                                 uint32_t pattern)
{
    GPUMEM_LOGGED_CALL(buffer_fill(buffer, offset, size, pattern, GPUMEM_CALL_THREAD),
                       "buffer %#llx, offset %llu, size %llu, pattern %#llx",
                       GPUMEM_LOG_HANDLE(buffer), (unsigned long long)(offset),
                       (unsigned long long)(size), (unsigned long long)(pattern));
}

static gpumem_result buffer_copy(gpumem_buffer source, uint64_t source_offset,
                                 gpumem_buffer destination, uint64_t destination_offset,
                                 uint64_t size, const gpumem_thread *t)
{
    gpumem_buffer_obj *src, *dst;
    gpumem_result r = gpumem_buffer_get(source, &src, t);
    if (r == GPUMEM_OK)
        r = gpumem_buffer_get(destination, &dst, t);
    if (r != GPUMEM_OK)
        return r;
    return copy(default_stream_of(src), src, source_offset, dst, destination_offset, size, 1);
}

gpumem_result gpumem_buffer_copy(gpumem_buffer source, uint64_t source_offset,
                                 gpumem_buffer destination, uint64_t destination_offset,
                                 uint64_t size)
{
    GPUMEM_LOGGED_CALL(buffer_copy(source, source_offset, destination, destination_offset, size,
                                   GPUMEM_CALL_THREAD),
                       "source %#llx, source_offset %llu, destination %#llx, "
                       "destination_offset %llu, size %llu",
                       GPUMEM_LOG_HANDLE(source), (unsigned long long)(source_offset),
                       GPUMEM_LOG_HANDLE(destination), (unsigned long long)(destination_offset),
                       (unsigned long long)(size));
}
