/* Host memory registered with a device (gpumem_host_register), owned by the device. */
#ifndef GPUMEM_CORE_REGISTRATION_H
#define GPUMEM_CORE_REGISTRATION_H

#include "device.h"

typedef struct gpumem_registration_obj {
    gpumem_list link; /* in device->registrations */
    uint64_t handle;
    gpumem_device_obj *device;
    gpumem_backend_registration *native;
    void *host;
    uint64_t size;
} gpumem_registration_obj;

/* Ends the registration with the runtime and frees it (its handle ended, off the device's list,
 * no transfer of the memory queued any more). */
void gpumem_registration_free(gpumem_registration_obj *registration);

#endif
