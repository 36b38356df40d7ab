/* A module built for version 6 of the backend table, under the name "hostv6": the host
 * backend's operations in a table that ends where version 6 ended (host_unregister). Core must
 * read only that much: the bytes after it, where version 7 put queue_registered_host_to_page,
 * hold a pattern that no valid pointer has, so a libgpumem that read them would refuse the
 * table (the operation without streams) or call through garbage. The conformance suite runs on
 * it. */
#include <stddef.h>
#include <string.h>

#include "gpumem/backend.h"

const gpumem_backend_vtable *gpumem_host_backend(void); /* the host backend's static library */

#define VERSION_6_SIZE (offsetof(gpumem_backend_vtable, host_unregister) + sizeof(void *))

/* Room for a whole current table, so that a reader that goes too far reads the pattern. */
static union {
    gpumem_backend_vtable table;
    unsigned char bytes[sizeof(gpumem_backend_vtable)];
} v6;

GPUMEM_API const gpumem_backend_vtable *gpumem_backend_entry(void);

const gpumem_backend_vtable *gpumem_backend_entry(void)
{
    memcpy(v6.bytes, gpumem_host_backend(), VERSION_6_SIZE);
    memset(v6.bytes + VERSION_6_SIZE, 0xA5, sizeof v6.bytes - VERSION_6_SIZE);
    v6.table.version = 6;
    v6.table.name = "hostv6";
    return &v6.table;
}
