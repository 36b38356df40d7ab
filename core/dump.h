/* The JSON dump of a device (gpumem_device_dump_json; docs/json.md). */
#ifndef GPUMEM_CORE_DUMP_H
#define GPUMEM_CORE_DUMP_H

#include "device.h"
#include "json.h"

/* The dump's schema and version (docs/json.md): raised when a field changes meaning or goes;
 * new fields keep it. Pictures read only this version. */
#define GPUMEM_DUMP_SCHEMA "gpumem-dump"
#define GPUMEM_DUMP_SCHEMA_VERSION 1

/* Appends the device's dump to `json` (the pools' locks and the device's taken in turn). Works
 * on a device whose handle has ended, as long as it is not torn down yet. */
void gpumem_dump_device(gpumem_device_obj *device, gpumem_json *json);

#endif
