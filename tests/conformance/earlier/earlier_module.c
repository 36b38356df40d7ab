/* A module built for an earlier version of the backend table, MODULE_VERSION, under the name
 * MODULE_NAME ("hostv2" and so on): the host backend's operations in a table that ends where
 * that version ended, with MODULE_LAST_OPERATION. Core must read only that much: the bytes
 * after it, where later versions put their operations, hold a pattern that no valid pointer
 * has, so a libgpumem that read them would call through garbage, or refuse the table where an
 * operation is present without its group. The conformance suite runs on each version's module
 * (meson.build beside this file says what each version lacks). */
#include <stddef.h>
#include <string.h>

#include "gpumem/backend.h"

const gpumem_backend_vtable *gpumem_host_backend(void); /* the host backend's static library */

#define EARLIER_SIZE (offsetof(gpumem_backend_vtable, MODULE_LAST_OPERATION) + sizeof(void *))

/* Room for a whole current table, so that a reader that goes too far reads the pattern. */
static union {
    gpumem_backend_vtable table;
    unsigned char bytes[sizeof(gpumem_backend_vtable)];
} earlier;

GPUMEM_API const gpumem_backend_vtable *gpumem_backend_entry(void);

const gpumem_backend_vtable *gpumem_backend_entry(void)
{
    memcpy(earlier.bytes, gpumem_host_backend(), EARLIER_SIZE);
    memset(earlier.bytes + EARLIER_SIZE, 0xA5, sizeof earlier.bytes - EARLIER_SIZE);
    earlier.table.version = MODULE_VERSION;
    earlier.table.name = MODULE_NAME;
    return &earlier.table;
}
