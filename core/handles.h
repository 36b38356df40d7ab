/* Generation-checked handles: an index into a table of slots plus the slot's generation.
 *
 * Destroying an object bumps its slot's generation, so every later use of the old handle is
 * recognised as destroyed instead of reaching freed memory. Slots live in chunks that never
 * move, so a lookup takes no lock. Using a handle on one thread while another thread destroys
 * it is a race in the application, as with any API.
 */
#ifndef GPUMEM_CORE_HANDLES_H
#define GPUMEM_CORE_HANDLES_H

#include <stdint.h>

#include "gpumem/gpumem.h"

typedef enum gpumem_handle_kind {
    GPUMEM_HANDLE_DEVICE = 1,
    GPUMEM_HANDLE_POOL = 2,
    GPUMEM_HANDLE_BUFFER = 3,
    GPUMEM_HANDLE_STREAM = 4,
    GPUMEM_HANDLE_VBLOCK = 5,
} gpumem_handle_kind;

/* A new handle for object, or 0 when the table is full or out of memory. */
uint64_t gpumem_handle_create(gpumem_handle_kind kind, void *object);

/* Ends a handle: from now on lookups of it report GPUMEM_ERROR_DESTROYED. */
void gpumem_handle_destroy(uint64_t handle);

/* The object behind a live handle of `kind`. On failure writes "<function>: <what> ..." as the
 * last error and returns GPUMEM_ERROR_INVALID_HANDLE or GPUMEM_ERROR_DESTROYED. */
gpumem_result gpumem_handle_get(uint64_t handle, gpumem_handle_kind kind, const char *function,
                                void **object);

/* The handle value behind a public handle type. */
#define GPUMEM_HANDLE_OF(h) ((uint64_t)(uintptr_t)(h))

#endif
