/* Memory-type choice: a pure function of a device's properties. */
#ifndef GPUMEM_CORE_MEMTYPE_H
#define GPUMEM_CORE_MEMTYPE_H

#include "gpumem/gpumem.h"

/* As gpumem_memory_type_find, with arguments the caller has checked: 1 and *memory_type when a
 * type qualifies, else 0. */
int gpumem_memtype_choose(const gpumem_device_properties *properties, uint32_t required,
                          uint32_t preferred, uint32_t flags, uint64_t min_heap_size,
                          uint32_t *memory_type);

#endif
