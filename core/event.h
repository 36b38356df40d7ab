/* Events: points in a stream's work that the host or another stream can wait for, owned by a
 * device (gpumem_event_*). */
#ifndef GPUMEM_CORE_EVENT_H
#define GPUMEM_CORE_EVENT_H

#include <pthread.h>

#include "device.h"

typedef struct gpumem_event_obj {
    gpumem_list link; /* in device->events */
    uint64_t handle;
    gpumem_device_obj *device;
    /* The backend's event; NULL when the backend has no events. Then `stream` stands for it:
     * the handle of the stream it was last recorded on (0: never), whose whole work is waited
     * for (a stream destroyed since has finished its work). */
    gpumem_backend_event *native;
    int wrapped; /* `native` is the application's (gpumem_event_wrap): never destroyed */
    uint64_t stream;
    pthread_mutex_t lock; /* one record, wait or native query at a time */
} gpumem_event_obj;

/* Frees an event no call can reach any more (its handle ended, off its device's list). */
void gpumem_event_free(gpumem_event_obj *event);

#endif
