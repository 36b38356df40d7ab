/* A check of the stress programs themselves, not a test: a preloadable wrapper that runs every
 * gpumem call under one process-wide lock. A library whose every call is atomic meets the
 * concurrency rule the stress programs check (a call racing with a destroy completes as if it
 * ran just before it, or returns GPUMEM_ERROR_DESTROYED), so under this wrapper every stress
 * program must pass, in every build, even on a library with races; a failure there (or a
 * ThreadSanitizer report naming the test's own code) is a bug in the test.
 *
 *   LD_PRELOAD=build/tests/stress/libgpumem-serialize.so GPUMEM_BACKEND=host \
 *       build/tests/stress/stress_close
 *
 * (Under ThreadSanitizer preload the runtime first: LD_PRELOAD="$(gcc
 * -print-file-name=libtsan.so) build/.../libgpumem-serialize.so"; under AddressSanitizer add
 * ASAN_OPTIONS=verify_asan_link_order=0.) */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "gpumem/gpumem.h"

/* Recursive, in case the library calls its own public functions. */
static pthread_mutex_t serial = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

static void *real(const char *name)
{
    void *fn = dlsym(RTLD_NEXT, name);
    if (!fn) {
        fprintf(stderr, "libgpumem-serialize: %s not found after this library\n", name);
        abort();
    }
    return fn;
}

/* WRAP(name, (parameters), (arguments)) for a function returning gpumem_result. The real
 * function is looked up under the lock, once. */
#define WRAP(name, params, args)                                                   \
    GPUMEM_API gpumem_result name params                                           \
    {                                                                              \
        static gpumem_result(*fn) params;                                          \
        pthread_mutex_lock(&serial);                                               \
        if (!fn)                                                                   \
            *(void **)&fn = real(#name);                                           \
        gpumem_result r = fn args;                                                 \
        pthread_mutex_unlock(&serial);                                             \
        return r;                                                                  \
    }

WRAP(gpumem_log_set_callback, (gpumem_log_fn fn_, void *user), (fn_, user))
WRAP(gpumem_backend_count, (uint32_t *count), (count))
WRAP(gpumem_backend_info_get, (uint32_t index, gpumem_backend_info *info), (index, info))
WRAP(gpumem_backend_find, (const char *name, gpumem_backend_info *info), (name, info))
WRAP(gpumem_device_count, (const char *backend, uint32_t *count), (backend, count))
WRAP(gpumem_device_open, (const gpumem_device_desc *desc, gpumem_device *device),
     (desc, device))
WRAP(gpumem_device_native, (gpumem_device device, gpumem_external_device *native),
     (device, native))
WRAP(gpumem_device_close, (gpumem_device device), (device))
WRAP(gpumem_device_properties_get, (gpumem_device device, gpumem_device_properties *properties),
     (device, properties))
WRAP(gpumem_device_dump_json,
     (gpumem_device device, char *buffer, uint64_t capacity, uint64_t *length),
     (device, buffer, capacity, length))
WRAP(gpumem_pool_create, (gpumem_device device, const gpumem_pool_desc *desc, gpumem_pool *pool),
     (device, desc, pool))
WRAP(gpumem_pool_destroy, (gpumem_pool pool), (pool))
WRAP(gpumem_pool_trim, (gpumem_pool pool), (pool))
WRAP(gpumem_pool_stats_get, (gpumem_pool pool, gpumem_pool_stats *stats), (pool, stats))
WRAP(gpumem_buffer_create,
     (gpumem_pool pool, const gpumem_buffer_desc *desc, gpumem_buffer *buffer),
     (pool, desc, buffer))
WRAP(gpumem_buffer_destroy, (gpumem_buffer buffer), (buffer))
WRAP(gpumem_buffer_info_get, (gpumem_buffer buffer, gpumem_buffer_info *info), (buffer, info))
WRAP(gpumem_buffer_native, (gpumem_buffer buffer, gpumem_native_buffer *native),
     (buffer, native))
WRAP(gpumem_buffer_map, (gpumem_buffer buffer, void **data), (buffer, data))
WRAP(gpumem_buffer_unmap, (gpumem_buffer buffer), (buffer))
WRAP(gpumem_buffer_flush, (gpumem_buffer buffer, uint64_t offset, uint64_t size),
     (buffer, offset, size))
WRAP(gpumem_buffer_invalidate, (gpumem_buffer buffer, uint64_t offset, uint64_t size),
     (buffer, offset, size))
WRAP(gpumem_buffer_write,
     (gpumem_buffer buffer, uint64_t offset, const void *data, uint64_t size),
     (buffer, offset, data, size))
WRAP(gpumem_buffer_read, (gpumem_buffer buffer, uint64_t offset, void *data, uint64_t size),
     (buffer, offset, data, size))
WRAP(gpumem_buffer_copy,
     (gpumem_buffer source, uint64_t source_offset, gpumem_buffer destination,
      uint64_t destination_offset, uint64_t size),
     (source, source_offset, destination, destination_offset, size))
WRAP(gpumem_buffer_fill, (gpumem_buffer buffer, uint64_t offset, uint64_t size, uint32_t pattern),
     (buffer, offset, size, pattern))
WRAP(gpumem_device_default_stream, (gpumem_device device, gpumem_stream *stream),
     (device, stream))
WRAP(gpumem_stream_create, (gpumem_device device, gpumem_stream *stream), (device, stream))
WRAP(gpumem_stream_destroy, (gpumem_stream stream), (stream))
WRAP(gpumem_stream_synchronize, (gpumem_stream stream), (stream))
WRAP(gpumem_stream_native, (gpumem_stream stream, uint64_t *native), (stream, native))
WRAP(gpumem_stream_write,
     (gpumem_stream stream, gpumem_buffer buffer, uint64_t offset, const void *data,
      uint64_t size),
     (stream, buffer, offset, data, size))
WRAP(gpumem_stream_read,
     (gpumem_stream stream, gpumem_buffer buffer, uint64_t offset, void *data, uint64_t size),
     (stream, buffer, offset, data, size))
WRAP(gpumem_stream_copy,
     (gpumem_stream stream, gpumem_buffer source, uint64_t source_offset,
      gpumem_buffer destination, uint64_t destination_offset, uint64_t size),
     (stream, source, source_offset, destination, destination_offset, size))
WRAP(gpumem_stream_fill,
     (gpumem_stream stream, gpumem_buffer buffer, uint64_t offset, uint64_t size,
      uint32_t pattern),
     (stream, buffer, offset, size, pattern))
WRAP(gpumem_vblock_create, (uint64_t size, gpumem_vblock *vblock), (size, vblock))
WRAP(gpumem_vblock_destroy, (gpumem_vblock vblock), (vblock))
WRAP(gpumem_vblock_alloc,
     (gpumem_vblock vblock, uint64_t size, uint64_t alignment,
      gpumem_vblock_allocation *allocation, uint64_t *offset),
     (vblock, size, alignment, allocation, offset))
WRAP(gpumem_vblock_free, (gpumem_vblock vblock, gpumem_vblock_allocation allocation),
     (vblock, allocation))
WRAP(gpumem_vblock_clear, (gpumem_vblock vblock), (vblock))
WRAP(gpumem_vblock_stats_get, (gpumem_vblock vblock, gpumem_vblock_stats *stats),
     (vblock, stats))
