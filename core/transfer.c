/* Transfers: write, read, copy and fill, synchronous and on streams. This file holds the
 * staging policy: for each transfer it picks the cheapest correct path among a direct runtime
 * copy, a host copy through a mapping, and core's staging pipeline (staging.c). */
#include <stdlib.h>

#include "buffer.h"
#include "error.h"
#include "host_copy.h"
#include "stream.h"

/* Pageable host memory below this goes straight to the runtime: pipelining needs chunks. */
#define STAGING_THRESHOLD (8ull << 20)

typedef enum path {
    PATH_DIRECT,  /* the runtime copies between host memory and the page */
    PATH_MAPPED,  /* the host copies through a mapping of the page */
    PATH_STAGED,  /* core's staging pipeline */
} path;

/* Looks up the stream and the buffer and checks that they belong together. */
static gpumem_result get_pair(gpumem_stream stream_handle, gpumem_buffer buffer_handle,
                              const char *function, gpumem_stream_obj **stream,
                              gpumem_buffer_obj **buffer)
{
    gpumem_result r = gpumem_stream_get(stream_handle, function, stream);
    if (r == GPUMEM_OK)
        r = gpumem_buffer_get(buffer_handle, function, buffer);
    if (r == GPUMEM_OK && (*buffer)->pool->device != (*stream)->device)
        r = gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, function,
                         "the buffer and the stream belong to different devices");
    return r;
}

static path choose_path(const gpumem_device_obj *device, const gpumem_buffer_obj *b,
                        const void *host, uint64_t size)
{
    const gpumem_staging *s = &device->staging;
    int direct = !!(device->capabilities & GPUMEM_CAPABILITY_COPY_HOST);
    if (s->mode == GPUMEM_STAGING_ALWAYS && s->has_type)
        return PATH_STAGED;
    if (direct && (s->mode == GPUMEM_STAGING_NEVER || size < STAGING_THRESHOLD ||
                   device->ops->host_memory_is_pinned(device->native, host, size)))
        return PATH_DIRECT;
    if (b->pool->memory_flags & GPUMEM_MEMORY_HOST_VISIBLE)
        return PATH_MAPPED;
    if (s->has_type && s->mode != GPUMEM_STAGING_NEVER)
        return PATH_STAGED;
    return PATH_DIRECT;
}

/* Mapped paths run on the host at once, so the stream's earlier work must be done first. */
static gpumem_result mapped_begin(gpumem_stream_obj *stream, gpumem_buffer_obj *b,
                                  const char *function, char **data)
{
    gpumem_device_obj *device = stream->device;
    gpumem_result r = device->ops->stream_synchronize(device->native, stream->native);
    if (r != GPUMEM_OK)
        return gpumem_error_from_backend(r, function, "stream_synchronize");
    return gpumem_buffer_map_internal(b, function, data);
}

/* Which way a host transfer goes. */
typedef enum direction {
    TO_DEVICE, /* write: data is read */
    TO_HOST,   /* read: data is written */
} direction;

static gpumem_result mapped_copy(gpumem_stream_obj *stream, gpumem_buffer_obj *b,
                                 uint64_t offset, void *data, uint64_t size, direction way,
                                 const char *function)
{
    char *mapped;
    gpumem_result r = mapped_begin(stream, b, function, &mapped);
    if (r != GPUMEM_OK)
        return r;
    if (way == TO_DEVICE) {
        gpumem_host_copy(mapped + offset, data, (size_t)size);
        r = gpumem_buffer_coherence(b, offset, size, 1, function);
    } else if ((r = gpumem_buffer_coherence(b, offset, size, 0, function)) == GPUMEM_OK) {
        gpumem_host_copy(data, mapped + offset, (size_t)size);
    }
    gpumem_buffer_unmap_internal(b);
    return r;
}

static gpumem_result host_transfer_locked(gpumem_stream_obj *stream, gpumem_buffer_obj *b,
                                          uint64_t offset, void *data, uint64_t size,
                                          direction way, const char *function)
{
    gpumem_device_obj *device = stream->device;
    gpumem_backend_page *page = b->page->native;
    uint64_t at = b->offset + offset;
    gpumem_result r;
    switch (choose_path(device, b, data, size)) {
    case PATH_STAGED:
        return way == TO_DEVICE
                   ? gpumem_staging_write(device, stream->native, page, at, data, size)
                   : gpumem_staging_read(device, stream->native, page, at, data, size);
    case PATH_MAPPED:
        return mapped_copy(stream, b, offset, data, size, way, function);
    case PATH_DIRECT:
        break;
    }
    if (way == TO_DEVICE)
        r = device->ops->copy_host_to_page(device->native, stream->native, data, page, at, size);
    else
        r = device->ops->copy_page_to_host(device->native, stream->native, page, at, data, size);
    return r == GPUMEM_OK ? r : gpumem_error_from_backend(r, function, "a direct copy");
}

static gpumem_result fill_locked(gpumem_stream_obj *stream, gpumem_buffer_obj *b,
                                 uint64_t offset, uint64_t size, uint32_t pattern,
                                 const char *function)
{
    gpumem_device_obj *device = stream->device;
    const gpumem_staging *s = &device->staging;
    gpumem_result r;
    char *mapped;
    if ((device->capabilities & GPUMEM_CAPABILITY_FILL) &&
        !(s->mode == GPUMEM_STAGING_ALWAYS && s->has_type)) {
        r = device->ops->fill(device->native, stream->native, b->page->native,
                              b->offset + offset, size, pattern);
        return r == GPUMEM_OK ? r : gpumem_error_from_backend(r, function, "fill");
    }
    if (!(b->pool->memory_flags & GPUMEM_MEMORY_HOST_VISIBLE) ||
        s->mode == GPUMEM_STAGING_ALWAYS)
        return gpumem_staging_fill(device, stream->native, b->page->native, b->offset + offset,
                                   size, pattern);
    if ((r = mapped_begin(stream, b, function, &mapped)) != GPUMEM_OK)
        return r;
    gpumem_host_fill(mapped + offset, pattern, (size_t)size);
    r = gpumem_buffer_coherence(b, offset, size, 1, function);
    gpumem_buffer_unmap_internal(b);
    return r;
}

static gpumem_result copy_locked(gpumem_stream_obj *stream, gpumem_buffer_obj *source,
                                 uint64_t source_offset, gpumem_buffer_obj *destination,
                                 uint64_t destination_offset, uint64_t size,
                                 const char *function)
{
    gpumem_device_obj *device = stream->device;
    gpumem_result r = device->ops->copy_page_to_page(
        device->native, stream->native, source->page->native, source->offset + source_offset,
        destination->page->native, destination->offset + destination_offset, size);
    return r == GPUMEM_OK ? r : gpumem_error_from_backend(r, function, "copy_page_to_page");
}

/* --- argument checks shared by the stream and synchronous forms --- */

static gpumem_result check_host(const void *data, const char *function)
{
    return data ? GPUMEM_OK
                : gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, function, "data is NULL");
}

static gpumem_result check_fill(const gpumem_buffer_obj *b, uint64_t offset, uint64_t size,
                                const char *function)
{
    gpumem_result r = gpumem_buffer_check_range(b, offset, size, function);
    if (r == GPUMEM_OK && ((offset | size) & 3))
        r = gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, function,
                         "fill offset %llu and size %llu must be multiples of 4",
                         (unsigned long long)offset, (unsigned long long)size);
    return r;
}

static gpumem_result check_copy(const gpumem_buffer_obj *source, uint64_t source_offset,
                                const gpumem_buffer_obj *destination,
                                uint64_t destination_offset, uint64_t size,
                                const char *function)
{
    gpumem_result r = gpumem_buffer_check_range(source, source_offset, size, function);
    if (r == GPUMEM_OK)
        r = gpumem_buffer_check_range(destination, destination_offset, size, function);
    if (r != GPUMEM_OK)
        return r;
    if (source->pool->device != destination->pool->device)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, function,
                            "the buffers belong to different devices");
    uint64_t a = source->offset + source_offset, b = destination->offset + destination_offset;
    if (source->page == destination->page && a < b + size && b < a + size)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, function,
                            "source and destination ranges overlap");
    return GPUMEM_OK;
}

/* --- stream forms --- */

static gpumem_result stream_host_transfer(gpumem_stream stream_handle, gpumem_buffer buffer,
                                          uint64_t offset, void *data, uint64_t size,
                                          direction way, const char *function)
{
    gpumem_stream_obj *stream;
    gpumem_buffer_obj *b;
    gpumem_result r = get_pair(stream_handle, buffer, function, &stream, &b);
    if (r == GPUMEM_OK && (r = check_host(data, function)) == GPUMEM_OK &&
        (r = gpumem_buffer_check_range(b, offset, size, function)) == GPUMEM_OK) {
        pthread_mutex_lock(&stream->lock);
        r = host_transfer_locked(stream, b, offset, data, size, way, function);
        pthread_mutex_unlock(&stream->lock);
    }
    return r;
}

/* The write only reads `data`; one function serves both directions. */
gpumem_result gpumem_stream_write(gpumem_stream stream_handle, gpumem_buffer buffer,
                                  uint64_t offset, const void *data, uint64_t size)
{
    gpumem_error_clear();
    return stream_host_transfer(stream_handle, buffer, offset, (void *)(uintptr_t)data, size,
                                TO_DEVICE, __func__);
}

gpumem_result gpumem_stream_read(gpumem_stream stream_handle, gpumem_buffer buffer,
                                 uint64_t offset, void *data, uint64_t size)
{
    gpumem_error_clear();
    return stream_host_transfer(stream_handle, buffer, offset, data, size, TO_HOST, __func__);
}

static gpumem_result stream_fill(gpumem_stream stream_handle, gpumem_buffer buffer,
                                 uint64_t offset, uint64_t size, uint32_t pattern,
                                 const char *function)
{
    gpumem_stream_obj *stream;
    gpumem_buffer_obj *b;
    gpumem_result r = get_pair(stream_handle, buffer, function, &stream, &b);
    if (r == GPUMEM_OK && (r = check_fill(b, offset, size, function)) == GPUMEM_OK) {
        pthread_mutex_lock(&stream->lock);
        r = fill_locked(stream, b, offset, size, pattern, function);
        pthread_mutex_unlock(&stream->lock);
    }
    return r;
}

gpumem_result gpumem_stream_fill(gpumem_stream stream_handle, gpumem_buffer buffer,
                                 uint64_t offset, uint64_t size, uint32_t pattern)
{
    gpumem_error_clear();
    return stream_fill(stream_handle, buffer, offset, size, pattern, __func__);
}

static gpumem_result stream_copy(gpumem_stream stream_handle, gpumem_buffer source,
                                 uint64_t source_offset, gpumem_buffer destination,
                                 uint64_t destination_offset, uint64_t size,
                                 const char *function)
{
    gpumem_stream_obj *stream;
    gpumem_buffer_obj *src, *dst;
    gpumem_result r = get_pair(stream_handle, source, function, &stream, &src);
    if (r == GPUMEM_OK)
        r = get_pair(stream_handle, destination, function, &stream, &dst);
    if (r == GPUMEM_OK &&
        (r = check_copy(src, source_offset, dst, destination_offset, size, function)) ==
            GPUMEM_OK) {
        pthread_mutex_lock(&stream->lock);
        r = copy_locked(stream, src, source_offset, dst, destination_offset, size, function);
        pthread_mutex_unlock(&stream->lock);
    }
    return r;
}

gpumem_result gpumem_stream_copy(gpumem_stream stream_handle, gpumem_buffer source,
                                 uint64_t source_offset, gpumem_buffer destination,
                                 uint64_t destination_offset, uint64_t size)
{
    gpumem_error_clear();
    return stream_copy(stream_handle, source, source_offset, destination, destination_offset,
                       size, __func__);
}

/* --- synchronous forms: the device's default stream, then wait --- */

static gpumem_stream default_stream_of(const gpumem_buffer_obj *b)
{
    return (gpumem_stream)(uintptr_t)b->pool->device->default_stream->handle;
}

/* Waits for the default stream after a successful submission. */
static gpumem_result finish(gpumem_result r, gpumem_stream stream, const char *function)
{
    if (r != GPUMEM_OK)
        return r;
    gpumem_stream_obj *s;
    if ((r = gpumem_stream_get(stream, function, &s)) != GPUMEM_OK)
        return r;
    r = gpumem_stream_synchronize_locked(s);
    return r == GPUMEM_OK ? r : gpumem_error_from_backend(r, function, "stream_synchronize");
}

gpumem_result gpumem_buffer_write(gpumem_buffer buffer, uint64_t offset, const void *data,
                                  uint64_t size)
{
    gpumem_buffer_obj *b;
    gpumem_error_clear();
    gpumem_result r = gpumem_buffer_get(buffer, __func__, &b);
    if (r != GPUMEM_OK)
        return r;
    gpumem_stream s = default_stream_of(b);
    r = stream_host_transfer(s, buffer, offset, (void *)(uintptr_t)data, size, TO_DEVICE,
                             __func__);
    return finish(r, s, __func__);
}

gpumem_result gpumem_buffer_read(gpumem_buffer buffer, uint64_t offset, void *data,
                                 uint64_t size)
{
    gpumem_buffer_obj *b;
    gpumem_error_clear();
    gpumem_result r = gpumem_buffer_get(buffer, __func__, &b);
    if (r != GPUMEM_OK)
        return r;
    gpumem_stream s = default_stream_of(b);
    r = stream_host_transfer(s, buffer, offset, data, size, TO_HOST, __func__);
    return finish(r, s, __func__);
}

gpumem_result gpumem_buffer_fill(gpumem_buffer buffer, uint64_t offset, uint64_t size,
                                 uint32_t pattern)
{
    gpumem_buffer_obj *b;
    gpumem_error_clear();
    gpumem_result r = gpumem_buffer_get(buffer, __func__, &b);
    if (r != GPUMEM_OK)
        return r;
    gpumem_stream s = default_stream_of(b);
    return finish(stream_fill(s, buffer, offset, size, pattern, __func__), s, __func__);
}

gpumem_result gpumem_buffer_copy(gpumem_buffer source, uint64_t source_offset,
                                 gpumem_buffer destination, uint64_t destination_offset,
                                 uint64_t size)
{
    gpumem_buffer_obj *b;
    gpumem_error_clear();
    gpumem_result r = gpumem_buffer_get(source, __func__, &b);
    if (r != GPUMEM_OK)
        return r;
    gpumem_stream s = default_stream_of(b);
    return finish(stream_copy(s, source, source_offset, destination, destination_offset,
                                size, __func__),
                  s, __func__);
}
