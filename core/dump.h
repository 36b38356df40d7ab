/* The JSON dump of a device (gpumem_device_dump_json; docs/json.md). */
#ifndef GPUMEM_CORE_DUMP_H
#define GPUMEM_CORE_DUMP_H

#include "device.h"
#include "json.h"

/* Appends the device's dump to `json` (the pools' locks and the device's taken in turn). Works
 * on a device whose handle has ended, as long as it is not torn down yet. */
void gpumem_dump_device(gpumem_device_obj *device, gpumem_json *json);

#endif
