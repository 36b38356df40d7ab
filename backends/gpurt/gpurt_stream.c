/* Streams and events are the runtime's own handles, passed through as core's opaque
 * pointers: nothing to keep beside them. */
#include "gpurt_device.h"
#include "gpurt_error.h"

/* Creates one handle with the device current; create is stream_create or event_create. */
static gpumem_result create_in(const gpurt_device *d, gpurt_status (*create)(void **),
                               gpurt_call call, void **handle)
{
    gpurt_scope scope;
    gpumem_result r = gpurt_enter(d, &scope);
    if (r != GPUMEM_OK)
        return r;
    gpurt_status status = create(handle);
    gpurt_leave(d, &scope);
    return status == 0 ? GPUMEM_OK : gpurt_fail(d->rt, call, status);
}

/* Destroys one handle; a failure leaves nothing to do but to let go of it. */
static void destroy_in(const gpurt_device *d, gpurt_status (*destroy)(void *), void *handle)
{
    gpurt_scope scope;
    if (gpurt_enter(d, &scope) != GPUMEM_OK)
        return;
    destroy(handle);
    gpurt_leave(d, &scope);
}

/* Waits for a stream or an event; waiting on a handle of the runtime's own needs no current
 * device. */
static gpumem_result wait_for(const gpurt_device *d, gpurt_status (*wait)(void *),
                              gpurt_call call, void *handle)
{
    gpurt_status status = wait(handle);
    return status == 0 ? GPUMEM_OK : gpurt_fail(d->rt, call, status);
}

gpumem_result gpurt_stream_create(gpumem_backend_device *device, gpumem_backend_stream **stream)
{
    const gpurt_device *d = gpurt_device_of(device);
    void *handle = NULL;
    gpumem_result r = create_in(d, d->rt->stream_create, GPURT_CALL_STREAM_CREATE, &handle);
    if (r == GPUMEM_OK)
        *stream = handle;
    return r;
}

void gpurt_stream_destroy(gpumem_backend_device *device, gpumem_backend_stream *stream)
{
    const gpurt_device *d = gpurt_device_of(device);
    destroy_in(d, d->rt->stream_destroy, stream);
}

gpumem_result gpurt_stream_synchronize(gpumem_backend_device *device,
                                       gpumem_backend_stream *stream)
{
    const gpurt_device *d = gpurt_device_of(device);
    if ((uint64_t)(uintptr_t)stream != d->rt->default_stream_handle)
        return wait_for(d, d->rt->stream_synchronize, GPURT_CALL_STREAM_SYNCHRONIZE, stream);
    /* The wrapped default stream's handle names the legacy stream of whichever context is
     * current: with none, the wait fails; with another (another device's, the application's
     * own), it waits for that context's work and returns while gpumem's still runs. */
    gpurt_scope scope;
    gpumem_result r = gpurt_enter(d, &scope);
    if (r != GPUMEM_OK)
        return r;
    r = wait_for(d, d->rt->stream_synchronize, GPURT_CALL_STREAM_SYNCHRONIZE, stream);
    gpurt_leave(d, &scope);
    return r;
}

gpumem_result gpurt_stream_wrap(gpumem_backend_device *device, uint64_t native,
                                gpumem_backend_stream **stream)
{
    const gpurt_device *d = gpurt_device_of(device);
    if (native == 0 && !(native = d->rt->default_stream_handle))
        return gpumem_backend_error(GPUMEM_ERROR_UNSUPPORTED,
                                    "%s: the default stream (0) cannot be wrapped; wrap a "
                                    "stream of the application's", d->rt->name);
    if (native == d->rt->per_thread_stream_handle)
        return gpumem_backend_error(GPUMEM_ERROR_UNSUPPORTED,
                                    "%s: the per-thread default stream cannot be wrapped: it is "
                                    "another queue on each thread, and gpumem queues and waits "
                                    "on a stream from other threads too; wrap a stream of the "
                                    "application's", d->rt->name);
    *stream = (gpumem_backend_stream *)(uintptr_t)native;
    return GPUMEM_OK;
}

gpumem_result gpurt_stream_native(gpumem_backend_device *device, gpumem_backend_stream *stream,
                                  uint64_t *native)
{
    *native = (uint64_t)(uintptr_t)stream;
    return GPUMEM_OK;
}

gpumem_result gpurt_event_create(gpumem_backend_device *device, gpumem_backend_event **event)
{
    const gpurt_device *d = gpurt_device_of(device);
    void *handle = NULL;
    gpumem_result r = create_in(d, d->rt->event_create, GPURT_CALL_EVENT_CREATE, &handle);
    if (r == GPUMEM_OK)
        *event = handle;
    return r;
}

void gpurt_event_destroy(gpumem_backend_device *device, gpumem_backend_event *event)
{
    const gpurt_device *d = gpurt_device_of(device);
    destroy_in(d, d->rt->event_destroy, event);
}

/* Runs op(first, second), an operation between an event and a stream, with the device
 * current. */
static gpumem_result pair_in(const gpurt_device *d, gpurt_status (*op)(void *, void *),
                             gpurt_call call, void *first, void *second)
{
    gpurt_scope scope;
    gpumem_result r = gpurt_enter(d, &scope);
    if (r != GPUMEM_OK)
        return r;
    gpurt_status status = op(first, second);
    gpurt_leave(d, &scope);
    return status == 0 ? GPUMEM_OK : gpurt_fail(d->rt, call, status);
}

gpumem_result gpurt_event_record(gpumem_backend_device *device, gpumem_backend_stream *stream,
                                 gpumem_backend_event *event)
{
    const gpurt_device *d = gpurt_device_of(device);
    return pair_in(d, d->rt->event_record, GPURT_CALL_EVENT_RECORD, event, stream);
}

gpumem_result gpurt_event_synchronize(gpumem_backend_device *device,
                                      gpumem_backend_event *event)
{
    const gpurt_device *d = gpurt_device_of(device);
    return wait_for(d, d->rt->event_synchronize, GPURT_CALL_EVENT_SYNCHRONIZE, event);
}

gpumem_result gpurt_stream_wait_event(gpumem_backend_device *device,
                                      gpumem_backend_stream *stream, gpumem_backend_event *event)
{
    const gpurt_device *d = gpurt_device_of(device);
    return pair_in(d, d->rt->stream_wait_event, GPURT_CALL_STREAM_WAIT_EVENT, stream, event);
}

gpumem_result gpurt_event_native(gpumem_backend_device *device, gpumem_backend_event *event,
                                 uint64_t *handle, uint64_t *value)
{
    *handle = (uint64_t)(uintptr_t)event; /* the CUevent or hipEvent_t itself */
    *value = 0;
    return GPUMEM_OK;
}

/* The application's CUevent or hipEvent_t is the backend event itself; core never destroys a
 * wrapped one. */
gpumem_result gpurt_event_wrap(gpumem_backend_device *device, uint64_t handle, uint64_t value,
                               gpumem_backend_event **event)
{
    const gpurt_device *d = gpurt_device_of(device);
    if (value != 0)
        return gpumem_backend_error(GPUMEM_ERROR_INVALID_ARGUMENT,
                                    "%s: an event is the runtime's event object alone; value "
                                    "must be 0, not %llu",
                                    d->rt->name, (unsigned long long)value);
    *event = (gpumem_backend_event *)(uintptr_t)handle;
    return GPUMEM_OK;
}
