#include "stream.h"

#include <stdlib.h>

#include "error.h"
#include "handles.h"

gpumem_result gpumem_stream_get(gpumem_stream handle, const char *function,
                                gpumem_stream_obj **stream)
{
    return gpumem_handle_get(GPUMEM_HANDLE_OF(handle), GPUMEM_HANDLE_STREAM, function,
                             (void **)stream);
}

gpumem_result gpumem_stream_new(gpumem_device_obj *device, int is_default, const char *function,
                                gpumem_stream_obj **out)
{
    gpumem_stream_obj *stream = calloc(1, sizeof *stream);
    if (!stream)
        return gpumem_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, function, "no memory for a stream");
    gpumem_result r = device->ops->stream_create(device->native, &stream->native);
    if (r != GPUMEM_OK) {
        free(stream);
        return gpumem_error_from_backend(r, function, "stream_create");
    }
    stream->handle = gpumem_handle_create(GPUMEM_HANDLE_STREAM, stream);
    if (!stream->handle) {
        device->ops->stream_destroy(device->native, stream->native);
        free(stream);
        return gpumem_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, function, "no handle left");
    }
    pthread_mutex_init(&stream->lock, NULL);
    stream->device = device;
    stream->is_default = is_default;
    gpumem_list_push(&device->streams, &stream->link);
    *out = stream;
    return GPUMEM_OK;
}

gpumem_result gpumem_stream_synchronize_locked(gpumem_stream_obj *stream)
{
    gpumem_device_obj *device = stream->device;
    pthread_mutex_lock(&stream->lock);
    gpumem_result r = device->ops->stream_synchronize(device->native, stream->native);
    pthread_mutex_unlock(&stream->lock);
    return r;
}

void gpumem_stream_release(gpumem_stream_obj *stream)
{
    gpumem_device_obj *device = stream->device;
    gpumem_handle_destroy(stream->handle);
    gpumem_list_remove(&stream->link);
    if (gpumem_stream_synchronize_locked(stream) != GPUMEM_OK)
        gpumem_error_clear(); /* nothing left to report it to; the stream goes regardless */
    device->ops->stream_destroy(device->native, stream->native);
    pthread_mutex_destroy(&stream->lock);
    free(stream);
}

gpumem_result gpumem_stream_create(gpumem_device handle, gpumem_stream *out)
{
    gpumem_error_clear();
    gpumem_device_obj *device;
    gpumem_result r = gpumem_device_get(handle, __func__, &device);
    if (r != GPUMEM_OK)
        return r;
    if (!out)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "stream is NULL");
    gpumem_stream_obj *stream;
    pthread_mutex_lock(&device->lock);
    r = gpumem_stream_new(device, 0, __func__, &stream);
    pthread_mutex_unlock(&device->lock);
    if (r == GPUMEM_OK)
        *out = (gpumem_stream)(uintptr_t)stream->handle;
    return r;
}

gpumem_result gpumem_stream_destroy(gpumem_stream handle)
{
    gpumem_error_clear();
    gpumem_stream_obj *stream;
    gpumem_result r = gpumem_stream_get(handle, __func__, &stream);
    if (r != GPUMEM_OK)
        return r;
    if (stream->is_default)
        return gpumem_error(GPUMEM_ERROR_BAD_STATE, __func__,
                            "the default stream lives as long as its device");
    gpumem_device_obj *device = stream->device;
    pthread_mutex_lock(&device->lock);
    /* Checked again under the lock: of two destroys at once, only the first releases. */
    if ((r = gpumem_stream_get(handle, __func__, &stream)) == GPUMEM_OK)
        gpumem_stream_release(stream);
    pthread_mutex_unlock(&device->lock);
    return r;
}

gpumem_result gpumem_stream_synchronize(gpumem_stream handle)
{
    gpumem_error_clear();
    gpumem_stream_obj *stream;
    gpumem_result r = gpumem_stream_get(handle, __func__, &stream);
    if (r != GPUMEM_OK)
        return r;
    r = gpumem_stream_synchronize_locked(stream);
    return r == GPUMEM_OK ? r : gpumem_error_from_backend(r, __func__, "stream_synchronize");
}

gpumem_result gpumem_stream_native(gpumem_stream handle, uint64_t *native)
{
    gpumem_error_clear();
    gpumem_stream_obj *stream;
    gpumem_result r = gpumem_stream_get(handle, __func__, &stream);
    if (r != GPUMEM_OK)
        return r;
    if (!native)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "native is NULL");
    gpumem_device_obj *device = stream->device;
    r = device->ops->stream_native(device->native, stream->native, native);
    return r == GPUMEM_OK ? r : gpumem_error_from_backend(r, __func__, "stream_native");
}
