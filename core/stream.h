/* Streams: ordered queues of transfers, owned by a device. */
#ifndef GPUMEM_CORE_STREAM_H
#define GPUMEM_CORE_STREAM_H

#include "device.h"
#include "lock.h"

struct gpumem_stream_obj {
    gpumem_list link; /* in device->streams */
    uint64_t handle;
    gpumem_device_obj *device;
    gpumem_backend_stream *native;
    gpumem_lock lock; /* one submission at a time keeps multi-step transfers in order */
    int is_default;
    int wrapped; /* the application's stream (gpumem_stream_wrap): never destroyed by gpumem */
    /* Recorded by gpumem_stream_follow for other streams to wait on; made at its first use,
     * under the stream's lock. Each record of it and each wait on it (by another stream, under
     * that one's lock) also holds fence_lock: a backend's operations on one event may not
     * overlap. No other lock is taken while it is held. */
    gpumem_backend_event *fence;
    gpumem_lock fence_lock;
    /* Hosts waiting for it through gpumem_stream_wait_ended (device lock): its destroy keeps it
     * on the device's list until there are none. */
    uint32_t followers;
};

/* GPUMEM_OK, or GPUMEM_ERROR_BAD_STATE when a transfer of this thread's holds the stream (a
 * call from a log callback inside it): taking its lock would wait forever. Checked before each
 * acquisition of a stream's lock. */
gpumem_result gpumem_stream_check_not_held(const gpumem_stream_obj *stream);

/* The stream of a live handle, or the reason there is none. */
gpumem_result gpumem_stream_get(gpumem_stream handle, gpumem_stream_obj **stream);

/* The error of a stream form called without its stream (inside core, NULL means "no
 * stream"). */
gpumem_result gpumem_stream_missing(void);

/* Creates a stream of the device and its handle (device lock held by the caller). */
gpumem_result gpumem_stream_new(gpumem_device_obj *device, int is_default,
                                gpumem_stream_obj **stream);

/* Waits for the stream's work (takes the stream's lock). */
gpumem_result gpumem_stream_wait(gpumem_stream_obj *stream);

/* Orders what is submitted to `waiter` from now on after the work submitted so far to the
 * stream of `signaler` (a handle, of `device`): on the device where the backend can (an event
 * recorded on the signaler, waited for by the waiter), else on the host. waiter NULL: the host
 * waits. A signaler whose handle has ended is waited for on the host until its work is
 * (gpumem_stream_wait_ended). *on_host is 1 when the host waited (the signaler's work so far is
 * done), 0 when the waiter waits on the device. Takes the streams' locks one at a time, and the
 * device's lock for an ended signaler. */
gpumem_result gpumem_stream_follow(gpumem_device_obj *device, gpumem_stream_obj *waiter,
                                   uint64_t signaler, int *on_host);

/* The host waits for the work of the stream of `handle`, whose handle has ended. A stream stays
 * on its device's list from the end of its handle until its work has been waited for (its
 * destroy, the device's close), so one found there is waited for; one not found has no work
 * left. Takes the device's lock: not to be called with a pool's lock held. */
gpumem_result gpumem_stream_wait_ended(gpumem_device_obj *device, uint64_t handle);

/* Waits for, destroys and frees a stream that no call can reach any more (its handle ended,
 * the calls that found it have returned, it is off its device's list). */
void gpumem_stream_free(gpumem_stream_obj *stream);

#endif
