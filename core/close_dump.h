/* GPUMEM_DUMP_ON_CLOSE=PREFIX: when a device closes, its dump and the dump's picture are written
 * to PREFIX-<backend>-<index>-<n>.json and .svg (docs/json.md, "Pictures"). */
#ifndef GPUMEM_CORE_CLOSE_DUMP_H
#define GPUMEM_CORE_CLOSE_DUMP_H

#include "device.h"

/* Called by the close that ended the device's handle, before anything of the device is
 * released. Nothing when the variable is unset; a file it cannot write is a warning in the log,
 * never a failed close. */
void gpumem_close_dump(gpumem_device_obj *device);

#endif
