#include "event.h"

#include "alloc.h"
#include "call.h"
#include "handles.h"
#include "stream.h"

static gpumem_result event_get(gpumem_event handle, gpumem_event_obj **event)
{
    return gpumem_handle_get(GPUMEM_HANDLE_OF(handle), GPUMEM_HANDLE_EVENT, (void **)event);
}

void gpumem_event_free(gpumem_event_obj *event)
{
    gpumem_device_obj *device = event->device;
    if (event->native && !event->wrapped)
        device->ops->event_destroy(device->native, event->native);
    else if (event->native && device->ops->event_unwrap)
        device->ops->event_unwrap(device->native, event->native);
    pthread_mutex_destroy(&event->lock);
    gpumem_free(event);
}

/* A new event of the device: the backend's own, or (wrap non-NULL) the application's object
 * {handle, value} wrapped. */
static gpumem_result event_open(gpumem_device handle, const uint64_t *wrap, gpumem_event *out)
{
    gpumem_device_obj *device;
    gpumem_result r = gpumem_device_get(handle, &device);
    if (r != GPUMEM_OK)
        return r;
    if (!out)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "event is NULL");
    if (wrap && !device->ops->event_wrap)
        return gpumem_fail(GPUMEM_ERROR_UNSUPPORTED,
                           "backend '%s' cannot wrap the application's events",
                           device->properties.backend);
    if (wrap && !wrap[0])
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "native_handle is 0");
    gpumem_event_obj *event = gpumem_alloc_zeroed(1, sizeof *event);
    if (!event)
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for an event");
    if (wrap) {
        if ((r = device->ops->event_wrap(device->native, wrap[0], wrap[1], &event->native)) !=
            GPUMEM_OK) {
            gpumem_free(event);
            return gpumem_fail_backend(r, "event_wrap");
        }
        event->wrapped = 1;
    } else if (device->ops->event_create &&
               (r = device->ops->event_create(device->native, &event->native)) != GPUMEM_OK) {
        gpumem_free(event);
        return gpumem_fail_backend(r, "event_create");
    }
    event->device = device;
    pthread_mutex_init(&event->lock, NULL);
    pthread_mutex_lock(&device->lock);
    if (device->closing)
        r = gpumem_fail(GPUMEM_ERROR_DESTROYED, "the device was closed");
    else if (!(event->handle = gpumem_handle_create(GPUMEM_HANDLE_EVENT, event)))
        r = gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no handle left");
    else
        gpumem_list_push(&device->events, &event->link);
    pthread_mutex_unlock(&device->lock);
    if (r != GPUMEM_OK) {
        gpumem_event_free(event);
        return r;
    }
    *out = (gpumem_event)(uintptr_t)event->handle;
    return GPUMEM_OK;
}

gpumem_result gpumem_event_create(gpumem_device device, gpumem_event *event)
{
    GPUMEM_LOGGED_CALL(event_open(device, NULL, event),
                       "device %#llx" GPUMEM_LOG_OUTPUTS "event %#llx",
                       GPUMEM_LOG_HANDLE(device), GPUMEM_LOG_OUT(event));
}

gpumem_result gpumem_event_wrap(gpumem_device device, uint64_t native_handle, uint64_t value,
                                gpumem_event *event)
{
    const uint64_t wrap[2] = {native_handle, value};
    GPUMEM_LOGGED_CALL(event_open(device, wrap, event),
                       "device %#llx, native_handle %#llx, value %llu" GPUMEM_LOG_OUTPUTS
                       "event %#llx",
                       GPUMEM_LOG_HANDLE(device), (unsigned long long)(native_handle),
                       (unsigned long long)(value), GPUMEM_LOG_OUT(event));
}

gpumem_result gpumem_event_destroy(gpumem_event handle)
{
    gpumem_call call;
    gpumem_result r = gpumem_call_enter(&call, __func__);
    gpumem_event_obj *event = NULL;
    if (r == GPUMEM_OK && (r = event_get(handle, &event)) == GPUMEM_OK &&
        gpumem_call_is_nested(&call))
        r = gpumem_fail(GPUMEM_ERROR_BAD_STATE, "an event cannot be destroyed from a log callback");
    if (r != GPUMEM_OK)
        GPUMEM_LOGGED_LEAVE(call, r,
                            "event %#llx",
                            GPUMEM_LOG_HANDLE(handle));
    gpumem_device_obj *device = event->device;
    if (!gpumem_device_take(device, event->handle, &event->link))
        GPUMEM_LOGGED_LEAVE(call, gpumem_fail(GPUMEM_ERROR_DESTROYED, "the event was destroyed"),
                            "event %#llx",
                            GPUMEM_LOG_HANDLE(handle));
    gpumem_epoch_wait(call.thread->record, gpumem_epoch_stamp());
    /* A wrapped event's object is the application's, which it may destroy once the event is
     * gone (gpumem_event_wrap): the streams' waits on it, which a backend may hold for its next
     * submission (Vulkan), must have been passed first. */
    if (event->wrapped)
        gpumem_device_wait_streams(device);
    gpumem_event_free(event);
    gpumem_device_release_hold(device);
    GPUMEM_LOGGED_LEAVE(call, GPUMEM_OK,
                        "event %#llx",
                        GPUMEM_LOG_HANDLE(handle));
}

/* The event and the stream of two handles, on one device. */
static gpumem_result event_and_stream(gpumem_event event_handle, gpumem_stream stream_handle,
                                      gpumem_event_obj **event, gpumem_stream_obj **stream)
{
    gpumem_result r = event_get(event_handle, event);
    if (r == GPUMEM_OK)
        r = gpumem_stream_get(stream_handle, stream);
    if (r == GPUMEM_OK && (*stream)->device != (*event)->device)
        r = gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                        "the event and the stream belong to different devices");
    return r;
}

/* Records the event on the stream (wait 0), or has the stream wait for it on the device (wait
 * 1), in the stream's order of submissions. The event's lock, then the stream's: a record that
 * waits behind a host wait for the event holds up no work of the stream's. Without backend
 * events a record only notes the stream. */
static gpumem_result between(gpumem_event_obj *event, gpumem_stream_obj *stream, int wait)
{
    gpumem_device_obj *device = event->device;
    gpumem_result r = gpumem_stream_check_not_held(stream);
    if (r != GPUMEM_OK)
        return r;
    pthread_mutex_lock(&event->lock);
    gpumem_lock_acquire(&stream->lock);
    if (wait)
        r = device->ops->stream_wait_event(device->native, stream->native, event->native);
    else if (event->native)
        r = device->ops->event_record(device->native, stream->native, event->native);
    else
        event->stream = stream->handle;
    gpumem_lock_release(&stream->lock);
    pthread_mutex_unlock(&event->lock);
    return r == GPUMEM_OK ? r : gpumem_fail_backend(r, wait ? "stream_wait_event" : "event_record");
}

static gpumem_result event_record(gpumem_event event_handle, gpumem_stream stream_handle)
{
    gpumem_event_obj *event;
    gpumem_stream_obj *stream;
    gpumem_result r = event_and_stream(event_handle, stream_handle, &event, &stream);
    if (r != GPUMEM_OK)
        return r;
    return between(event, stream, 0);
}

gpumem_result gpumem_event_record(gpumem_event event, gpumem_stream stream)
{
    GPUMEM_LOGGED_CALL(event_record(event, stream),
                       "event %#llx, stream %#llx",
                       GPUMEM_LOG_HANDLE(event), GPUMEM_LOG_HANDLE(stream));
}

/* Waits on the host for an event. Without backend events the event's lock is let go before the
 * stream is waited for, so that records of the event are not held up by the wait. */
static gpumem_result wait_on_host(gpumem_event_obj *event)
{
    gpumem_device_obj *device = event->device;
    pthread_mutex_lock(&event->lock);
    gpumem_result r = GPUMEM_OK;
    if (event->native)
        r = device->ops->event_synchronize(device->native, event->native);
    uint64_t stream_handle = event->stream;
    pthread_mutex_unlock(&event->lock);
    if (event->native)
        return r == GPUMEM_OK ? r : gpumem_fail_backend(r, "event_synchronize");
    gpumem_stream_obj *stream;
    if (!stream_handle)
        return GPUMEM_OK; /* never recorded */
    if (gpumem_stream_get((gpumem_stream)(uintptr_t)stream_handle, &stream) != GPUMEM_OK) {
        gpumem_error_clear(); /* its handle ended: destroyed, or the device closing */
        return gpumem_stream_wait_ended(device, stream_handle);
    }
    return gpumem_stream_wait(stream);
}

static gpumem_result event_synchronize(gpumem_event handle)
{
    gpumem_event_obj *event;
    gpumem_result r = event_get(handle, &event);
    return r == GPUMEM_OK ? wait_on_host(event) : r;
}

gpumem_result gpumem_event_synchronize(gpumem_event event)
{
    GPUMEM_LOGGED_CALL(event_synchronize(event),
                       "event %#llx",
                       GPUMEM_LOG_HANDLE(event));
}

static gpumem_result stream_wait_event(gpumem_stream stream_handle, gpumem_event event_handle)
{
    gpumem_event_obj *event;
    gpumem_stream_obj *stream;
    gpumem_result r = event_and_stream(event_handle, stream_handle, &event, &stream);
    if (r != GPUMEM_OK)
        return r;
    gpumem_device_obj *device = event->device;
    if (event->native && device->ops->stream_wait_event)
        return between(event, stream, 1);
    /* Without a wait on the device: the host waits, so nothing submitted to the stream after
     * this call can start before the event. */
    return wait_on_host(event);
}

gpumem_result gpumem_stream_wait_event(gpumem_stream stream, gpumem_event event)
{
    GPUMEM_LOGGED_CALL(stream_wait_event(stream, event),
                       "stream %#llx, event %#llx",
                       GPUMEM_LOG_HANDLE(stream), GPUMEM_LOG_HANDLE(event));
}

static gpumem_result event_native(gpumem_event handle, gpumem_native_event *native)
{
    gpumem_event_obj *event;
    gpumem_result r = event_get(handle, &event);
    if (r != GPUMEM_OK)
        return r;
    if (!native)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "native is NULL");
    gpumem_native_event n = {0};
    gpumem_device_obj *device = event->device;
    if (event->native && device->ops->event_native) {
        pthread_mutex_lock(&event->lock);
        r = device->ops->event_native(device->native, event->native, &n.handle, &n.value);
        pthread_mutex_unlock(&event->lock);
        if (r != GPUMEM_OK)
            return gpumem_fail_backend(r, "event_native");
    }
    *native = n;
    return GPUMEM_OK;
}

gpumem_result gpumem_event_native(gpumem_event event, gpumem_native_event *native)
{
    GPUMEM_LOGGED_CALL(event_native(event, native),
                       "event %#llx" GPUMEM_LOG_OUTPUTS "handle %#llx, value %llu",
                       GPUMEM_LOG_HANDLE(event), GPUMEM_LOG_OUT_FIELD(native, handle),
                       GPUMEM_LOG_OUT_FIELD(native, value));
}
