/* A module built for version 4 of the backend table, under the name "hostv4": the host
 * backend's operations in a table that ends where version 4 ended (page_import). Core must read
 * only that much: the bytes after it, where version 5 put buffer usage and wrapped events, hold
 * a pattern that no valid pointer has, so a libgpumem that read them would call through garbage
 * (the suite's usage tests must still pass, and wrapping events is UNSUPPORTED here). The
 * conformance suite runs on it. */
#include <stddef.h>
#include <string.h>

#include "gpumem/backend.h"

const gpumem_backend_vtable *gpumem_host_backend(void); /* the host backend's static library */

#define VERSION_4_SIZE (offsetof(gpumem_backend_vtable, page_import) + sizeof(void *))

/* Room for a whole current table, so that a reader that goes too far reads the pattern. */
static union {
    gpumem_backend_vtable table;
    unsigned char bytes[sizeof(gpumem_backend_vtable)];
} v4;

GPUMEM_API const gpumem_backend_vtable *gpumem_backend_entry(void);

const gpumem_backend_vtable *gpumem_backend_entry(void)
{
    memcpy(v4.bytes, gpumem_host_backend(), VERSION_4_SIZE);
    memset(v4.bytes + VERSION_4_SIZE, 0xA5, sizeof v4.bytes - VERSION_4_SIZE);
    v4.table.version = 4;
    v4.table.name = "hostv4";
    return &v4.table;
}
