#include "stream.h"

#include "alloc.h"
#include "backoff.h"
#include "call.h"
#include "handles.h"

gpumem_result gpumem_stream_get(gpumem_stream handle, gpumem_stream_obj **stream)
{
    return gpumem_handle_get(GPUMEM_HANDLE_OF(handle), GPUMEM_HANDLE_STREAM, (void **)stream);
}

gpumem_result gpumem_stream_missing(void)
{
    return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "stream is NULL");
}

/* Gives the stream's native object back: destroys what gpumem created, lets go of what it
 * wrapped. */
static void release_native(gpumem_stream_obj *stream)
{
    gpumem_device_obj *device = stream->device;
    if (stream->fence)
        device->ops->event_destroy(device->native, stream->fence);
    if (stream->wrapped) {
        if (device->ops->stream_unwrap)
            device->ops->stream_unwrap(device->native, stream->native);
    } else if (stream->native) {
        device->ops->stream_destroy(device->native, stream->native);
    }
}

/* Makes a stream of the device, or with `wrap` takes the application's native stream, and its
 * handle (device lock held). */
static gpumem_result stream_make(gpumem_device_obj *device, int is_default, const uint64_t *wrap,
                                 gpumem_stream_obj **out)
{
    gpumem_stream_obj *stream = gpumem_alloc_zeroed(1, sizeof *stream);
    if (!stream)
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for a stream");
    /* A backend without streams runs every operation to completion: its streams are core's
     * alone (native NULL). */
    gpumem_result r = wrap ? device->ops->stream_wrap(device->native, *wrap, &stream->native)
                      : device->ops->stream_create
                          ? device->ops->stream_create(device->native, &stream->native)
                          : GPUMEM_OK;
    if (r != GPUMEM_OK) {
        gpumem_free(stream);
        return gpumem_fail_backend(r, wrap ? "stream_wrap" : "stream_create");
    }
    stream->device = device;
    stream->is_default = is_default;
    stream->wrapped = wrap != NULL;
    gpumem_lock_init(&stream->lock, device->externally_synchronized); /* before the handle */
    gpumem_lock_init(&stream->fence_lock, device->externally_synchronized);
    if (!(stream->handle = gpumem_handle_create(GPUMEM_HANDLE_STREAM, stream))) {
        release_native(stream);
        gpumem_free(stream);
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no handle left");
    }
    gpumem_list_push(&device->streams, &stream->link);
    *out = stream;
    return GPUMEM_OK;
}

gpumem_result gpumem_stream_new(gpumem_device_obj *device, int is_default,
                                gpumem_stream_obj **out)
{
    return stream_make(device, is_default, NULL, out);
}

gpumem_result gpumem_stream_check_not_held(const gpumem_stream_obj *stream)
{
    if (__builtin_expect(gpumem_this_thread.held_stream != stream, 1))
        return GPUMEM_OK;
    return gpumem_fail(GPUMEM_ERROR_BAD_STATE,
                       "called from a log callback inside a transfer on the same stream (for a "
                       "synchronous transfer: the device's default stream), which that transfer "
                       "holds: use another stream, or act after the call returns");
}

gpumem_result gpumem_stream_wait(gpumem_stream_obj *stream)
{
    gpumem_device_obj *device = stream->device;
    gpumem_result held = gpumem_stream_check_not_held(stream);
    if (held != GPUMEM_OK)
        return held;
    gpumem_lock_acquire(&stream->lock);
    gpumem_result r = gpumem_device_stream_synchronize(device, stream->native);
    gpumem_lock_release(&stream->lock);
    return r == GPUMEM_OK ? r : gpumem_fail_backend(r, "stream_synchronize");
}

/* Records the stream's fence event (stream lock held). */
static gpumem_result fence_record(gpumem_stream_obj *stream)
{
    gpumem_device_obj *device = stream->device;
    gpumem_result r = GPUMEM_OK;
    if (!stream->fence && (r = device->ops->event_create(device->native, &stream->fence)) !=
                              GPUMEM_OK)
        return gpumem_fail_backend(r, "event_create");
    r = device->ops->event_record(device->native, stream->native, stream->fence);
    return r == GPUMEM_OK ? r : gpumem_fail_backend(r, "event_record");
}

gpumem_result gpumem_stream_wait_ended(gpumem_device_obj *device, uint64_t handle)
{
    gpumem_stream_obj *stream = NULL;
    pthread_mutex_lock(&device->lock);
    for (gpumem_list *l = device->streams.next; l != &device->streams && !stream; l = l->next) {
        gpumem_stream_obj *listed = GPUMEM_CONTAINER_OF(l, gpumem_stream_obj, link);
        if (listed->handle == handle) {
            stream = listed;
            stream->followers++;
        }
    }
    pthread_mutex_unlock(&device->lock);
    if (!stream)
        return GPUMEM_OK; /* off the list: its work was waited for */
    gpumem_result r = gpumem_stream_wait(stream);
    pthread_mutex_lock(&device->lock);
    stream->followers--;
    pthread_mutex_unlock(&device->lock);
    return r;
}

gpumem_result gpumem_stream_follow(gpumem_device_obj *device, gpumem_stream_obj *waiter,
                                   uint64_t signaler_handle, int *on_host)
{
    gpumem_stream_obj *signaler;
    *on_host = 1;
    if (gpumem_stream_get((gpumem_stream)(uintptr_t)signaler_handle, &signaler) != GPUMEM_OK) {
        gpumem_error_clear(); /* its handle ended: destroyed, or the device closing */
        return gpumem_stream_wait_ended(device, signaler_handle);
    }
    if (!waiter || !signaler->native || !device->ops->stream_wait_event)
        return gpumem_stream_wait(signaler);
    *on_host = 0;
    /* One stream's lock at a time (with the signaler's fence_lock inside it), so that two
     * follows in opposite directions cannot hold each other up. A record of the fence between
     * the two steps moves its point later in the signaler's work, which orders the waiter no
     * less. */
    gpumem_result r = gpumem_stream_check_not_held(signaler);
    if (r == GPUMEM_OK)
        r = gpumem_stream_check_not_held(waiter);
    if (r != GPUMEM_OK)
        return r;
    gpumem_lock_acquire(&signaler->lock);
    gpumem_lock_acquire(&signaler->fence_lock);
    r = fence_record(signaler);
    gpumem_lock_release(&signaler->fence_lock);
    gpumem_lock_release(&signaler->lock);
    if (r != GPUMEM_OK)
        return r;
    gpumem_lock_acquire(&waiter->lock);
    gpumem_lock_acquire(&signaler->fence_lock);
    r = device->ops->stream_wait_event(device->native, waiter->native, signaler->fence);
    gpumem_lock_release(&signaler->fence_lock);
    gpumem_lock_release(&waiter->lock);
    return r == GPUMEM_OK ? r : gpumem_fail_backend(r, "stream_wait_event");
}

/* Waits for the work of a stream whose handle has ended, then takes it off its device's list
 * once no host waits on it (gpumem_stream_wait_ended). */
static void stream_unlist(gpumem_stream_obj *stream)
{
    gpumem_device_obj *device = stream->device;
    if (gpumem_stream_wait(stream) != GPUMEM_OK)
        gpumem_error_clear(); /* nothing left to report it to; the stream goes regardless */
    pthread_mutex_lock(&device->lock);
    for (unsigned round = 0; stream->followers; round++) {
        pthread_mutex_unlock(&device->lock);
        gpumem_backoff(round, 0, 16);
        pthread_mutex_lock(&device->lock);
    }
    gpumem_list_remove(&stream->link);
    pthread_mutex_unlock(&device->lock);
}

void gpumem_stream_free(gpumem_stream_obj *stream)
{
    if (gpumem_stream_wait(stream) != GPUMEM_OK)
        gpumem_error_clear(); /* nothing left to report it to; the stream goes regardless */
    release_native(stream);
    gpumem_free(stream);
}

/* A new stream of the device, or with `wrap` the application's native stream as one. */
static gpumem_result stream_open(gpumem_device handle, const uint64_t *wrap, gpumem_stream *out)
{
    gpumem_device_obj *device;
    gpumem_result r = gpumem_device_get(handle, &device);
    if (r != GPUMEM_OK)
        return r;
    if (!out)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "stream is NULL");
    if (wrap && !device->ops->stream_wrap)
        return gpumem_fail(GPUMEM_ERROR_UNSUPPORTED, "backend '%s' cannot wrap a stream of its "
                           "runtime", device->properties.backend);
    gpumem_stream_obj *stream = NULL;
    pthread_mutex_lock(&device->lock);
    r = device->closing ? gpumem_fail(GPUMEM_ERROR_DESTROYED, "the device was closed")
                        : stream_make(device, 0, wrap, &stream);
    pthread_mutex_unlock(&device->lock);
    if (r == GPUMEM_OK)
        *out = (gpumem_stream)(uintptr_t)stream->handle;
    return r;
}

gpumem_result gpumem_stream_create(gpumem_device device, gpumem_stream *stream)
{
    GPUMEM_LOGGED_CALL(stream_open(device, NULL, stream),
                       "device %#llx" GPUMEM_LOG_OUTPUTS "stream %#llx",
                       GPUMEM_LOG_HANDLE(device), GPUMEM_LOG_OUT(stream));
}

gpumem_result gpumem_stream_wrap(gpumem_device device, uint64_t native, gpumem_stream *stream)
{
    GPUMEM_LOGGED_CALL(stream_open(device, &native, stream),
                       "device %#llx, native %#llx" GPUMEM_LOG_OUTPUTS "stream %#llx",
                       GPUMEM_LOG_HANDLE(device), (unsigned long long)(native),
                       GPUMEM_LOG_OUT(stream));
}

gpumem_result gpumem_stream_destroy(gpumem_stream handle)
{
    gpumem_call call;
    gpumem_result r = gpumem_call_enter(&call, __func__);
    gpumem_stream_obj *stream = NULL;
    if (r == GPUMEM_OK && (r = gpumem_stream_get(handle, &stream)) == GPUMEM_OK) {
        if (stream->is_default)
            r = gpumem_fail(GPUMEM_ERROR_BAD_STATE,
                            "the default stream lives as long as its device");
        else if (gpumem_call_is_nested(&call))
            r = gpumem_fail(GPUMEM_ERROR_BAD_STATE,
                            "a stream cannot be destroyed from a log callback");
    }
    if (r != GPUMEM_OK)
        GPUMEM_LOGGED_LEAVE(call, r,
                            "stream %#llx",
                            GPUMEM_LOG_HANDLE(handle));
    gpumem_device_obj *device = stream->device;
    /* Counted before the handle ends: whoever finds it ended finds the count (device.h). The
     * stream stays on the device's list until its work has been waited for
     * (gpumem_stream_wait_ended). */
    atomic_fetch_add(&device->streams_closing, 1);
    if (!gpumem_device_take(device, stream->handle, NULL)) {
        atomic_fetch_sub(&device->streams_closing, 1);
        GPUMEM_LOGGED_LEAVE(call, gpumem_fail(GPUMEM_ERROR_DESTROYED, "the stream was destroyed"),
                            "stream %#llx",
                            GPUMEM_LOG_HANDLE(handle));
    }
    /* Calls that found the stream finish their submissions first; then its work is waited
     * for, and it goes. */
    gpumem_epoch_wait(call.thread->record, gpumem_epoch_stamp());
    stream_unlist(stream);
    gpumem_stream_free(stream);
    atomic_fetch_sub(&device->streams_closing, 1);
    gpumem_device_release_hold(device);
    GPUMEM_LOGGED_LEAVE(call, GPUMEM_OK,
                        "stream %#llx",
                        GPUMEM_LOG_HANDLE(handle));
}

static gpumem_result stream_synchronize(gpumem_stream handle)
{
    gpumem_stream_obj *stream;
    gpumem_result r = gpumem_stream_get(handle, &stream);
    return r == GPUMEM_OK ? gpumem_stream_wait(stream) : r;
}

gpumem_result gpumem_stream_synchronize(gpumem_stream stream)
{
    GPUMEM_LOGGED_CALL(stream_synchronize(stream),
                       "stream %#llx",
                       GPUMEM_LOG_HANDLE(stream));
}

static gpumem_result stream_native(gpumem_stream handle, uint64_t *native)
{
    gpumem_stream_obj *stream;
    gpumem_result r = gpumem_stream_get(handle, &stream);
    if (r != GPUMEM_OK)
        return r;
    if (!native)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "native is NULL");
    gpumem_device_obj *device = stream->device;
    if (!stream->native) { /* a backend without streams has no queue of its own to show */
        *native = 0;
        return GPUMEM_OK;
    }
    r = device->ops->stream_native(device->native, stream->native, native);
    return r == GPUMEM_OK ? r : gpumem_fail_backend(r, "stream_native");
}

gpumem_result gpumem_stream_native(gpumem_stream stream, uint64_t *native)
{
    GPUMEM_LOGGED_CALL(stream_native(stream, native),
                       "stream %#llx" GPUMEM_LOG_OUTPUTS "native %#llx",
                       GPUMEM_LOG_HANDLE(stream), GPUMEM_LOG_OUT(native));
}
