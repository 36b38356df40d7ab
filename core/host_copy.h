/* Large host-side copies spread over worker threads: one core cannot reach the memory
 * bandwidth that staging and mapped transfers need. Small copies stay a plain memcpy. */
#ifndef GPUMEM_CORE_HOST_COPY_H
#define GPUMEM_CORE_HOST_COPY_H

#include <stddef.h>
#include <stdint.h>

void gpumem_host_copy(void *destination, const void *source, size_t size);

/* Fills with a 32-bit pattern; size is a multiple of 4. */
void gpumem_host_fill(void *destination, uint32_t pattern, size_t size);

#endif
