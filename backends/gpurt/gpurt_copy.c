/* Copies and fills, ordered on a stream. With unified addressing one address names any
 * memory, so a page of any kind is just its address here. */
#include "gpurt_error.h"
#include "gpurt_page.h"

static uint64_t host_address(const void *host)
{
    return (uint64_t)(uintptr_t)host;
}

gpumem_result gpurt_copy_page_to_page(gpumem_backend_device *device,
                                      gpumem_backend_stream *stream, gpumem_backend_page *source,
                                      uint64_t source_offset, gpumem_backend_page *destination,
                                      uint64_t destination_offset, uint64_t size)
{
    const gpurt_device *d = gpurt_device_of(device);
    gpurt_scope scope;
    gpumem_result r = gpurt_enter(d, &scope);
    if (r != GPUMEM_OK)
        return r;
    gpurt_status status = d->rt->copy(gpurt_page_of(destination)->address + destination_offset,
                                      gpurt_page_of(source)->address + source_offset, size,
                                      stream);
    gpurt_leave(d, &scope);
    return status == 0 ? GPUMEM_OK : gpurt_fail(d->rt, GPURT_CALL_COPY, status);
}

/* Device pages take the runtime's host-to-device path; host-visible ones a unified copy. */
static gpurt_status submit_write(const gpurt_device *d, void *stream, const void *source,
                                 const gpurt_page *destination, uint64_t offset, uint64_t size,
                                 gpurt_call *call)
{
    uint64_t to = destination->address + offset;
    if (destination->host) {
        *call = GPURT_CALL_COPY;
        return d->rt->copy(to, host_address(source), size, stream);
    }
    *call = GPURT_CALL_COPY_TO_DEVICE;
    return d->rt->copy_to_device(to, source, size, stream);
}

/* A write from host memory, and with `wait` the wait for its stream. */
static gpumem_result write_from_host(gpumem_backend_device *device, gpumem_backend_stream *stream,
                                     const void *source, gpumem_backend_page *destination,
                                     uint64_t destination_offset, uint64_t size, int wait)
{
    const gpurt_device *d = gpurt_device_of(device);
    gpurt_scope scope;
    gpurt_call call;
    gpumem_result r = gpurt_enter(d, &scope);
    if (r != GPUMEM_OK)
        return r;
    gpurt_status status = submit_write(d, stream, source, gpurt_page_of(destination),
                                       destination_offset, size, &call);
    if (status == 0 && wait) {
        call = GPURT_CALL_STREAM_SYNCHRONIZE;
        status = d->rt->stream_synchronize(stream);
    }
    gpurt_leave(d, &scope);
    return status == 0 ? GPUMEM_OK : gpurt_fail(d->rt, call, status);
}

/* The contract says a write has read `source` when it returns. The runtimes promise that for
 * pageable memory only (they stage it before returning); pinned memory is read by DMA later,
 * so the write waits for its stream. */
gpumem_result gpurt_copy_host_to_page(gpumem_backend_device *device,
                                      gpumem_backend_stream *stream, const void *source,
                                      gpumem_backend_page *destination,
                                      uint64_t destination_offset, uint64_t size)
{
    return write_from_host(device, stream, source, destination, destination_offset, size, 1);
}

/* Registered memory is read by DMA, which core waits for. */
gpumem_result gpurt_queue_registered_host_to_page(gpumem_backend_device *device,
                                                  gpumem_backend_stream *stream,
                                                  const void *source,
                                                  gpumem_backend_page *destination,
                                                  uint64_t destination_offset, uint64_t size)
{
    return write_from_host(device, stream, source, destination, destination_offset, size, 0);
}

/* A read may complete later, by the stream's completion: no wait here. */
gpumem_result gpurt_copy_page_to_host(gpumem_backend_device *device,
                                      gpumem_backend_stream *stream, gpumem_backend_page *source,
                                      uint64_t source_offset, void *destination, uint64_t size)
{
    const gpurt_device *d = gpurt_device_of(device);
    const gpurt_page *p = gpurt_page_of(source);
    uint64_t from = p->address + source_offset;
    gpurt_scope scope;
    gpumem_result r = gpurt_enter(d, &scope);
    if (r != GPUMEM_OK)
        return r;
    gpurt_call call = p->host ? GPURT_CALL_COPY : GPURT_CALL_COPY_TO_HOST;
    gpurt_status status = p->host ? d->rt->copy(host_address(destination), from, size, stream)
                                  : d->rt->copy_to_host(destination, from, size, stream);
    gpurt_leave(d, &scope);
    return status == 0 ? GPUMEM_OK : gpurt_fail(d->rt, call, status);
}

/* Offsets are multiples of 4 and pages at least 256-aligned (imported ones 4-aligned), so the
 * 32-bit fill always fits. */
gpumem_result gpurt_fill(gpumem_backend_device *device, gpumem_backend_stream *stream,
                         gpumem_backend_page *page, uint64_t offset, uint64_t size,
                         uint32_t pattern)
{
    const gpurt_device *d = gpurt_device_of(device);
    gpurt_scope scope;
    gpumem_result r = gpurt_enter(d, &scope);
    if (r != GPUMEM_OK)
        return r;
    gpurt_status status = d->rt->fill32(gpurt_page_of(page)->address + offset, pattern,
                                        size / 4, stream);
    gpurt_leave(d, &scope);
    return status == 0 ? GPUMEM_OK : gpurt_fail(d->rt, GPURT_CALL_FILL, status);
}
