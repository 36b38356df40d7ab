/* A device's memory types, heaps and limits, learned once when it opens. */
#ifndef GPUMEM_GPURT_PROPERTIES_H
#define GPUMEM_GPURT_PROPERTIES_H

#include "gpurt_device.h"

/* Fills d->properties, d->kinds and d->native_pools from the runtime. */
gpumem_result gpurt_properties_init(gpurt_device *d);

#endif
