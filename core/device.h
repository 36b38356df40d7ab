/* A device: the top-level owner of pools and streams, on one backend. */
#ifndef GPUMEM_CORE_DEVICE_H
#define GPUMEM_CORE_DEVICE_H

#include <pthread.h>

#include "gpumem/backend.h"
#include "list.h"
#include "registry.h"
#include "staging.h"

typedef struct gpumem_stream_obj gpumem_stream_obj;

typedef struct gpumem_device_obj {
    uint64_t handle;
    const gpumem_backend_vtable *ops;
    uint32_t capabilities;               /* GPUMEM_CAPABILITY_* of the backend */
    gpumem_backend_device *native;
    gpumem_device_properties properties; /* as the backend reported them at open */
    pthread_mutex_t lock;                /* guards the lists */
    gpumem_list pools;
    gpumem_list streams;                 /* the default stream included */
    gpumem_stream_obj *default_stream;
    gpumem_staging staging;
} gpumem_device_obj;

gpumem_result gpumem_device_get(gpumem_device handle, const char *function,
                                gpumem_device_obj **device);

/* Flags of a memory type of the device. */
static inline uint32_t gpumem_device_type_flags(const gpumem_device_obj *device, uint32_t type)
{
    return device->properties.memory_types[type].flags;
}

#endif
