/* A module built for version 5 of the backend table, under the name "hostv5": the host
 * backend's operations in a table that ends where version 5 ended (event_unwrap). Core must read
 * only that much: the bytes after it, where version 6 put the image operations, hold a pattern
 * that no valid pointer has, so a libgpumem that read them would call through garbage (the
 * suite's image tests must still pass: core lays images out pitched for a module without
 * image operations). The conformance suite runs on it. */
#include <stddef.h>
#include <string.h>

#include "gpumem/backend.h"

const gpumem_backend_vtable *gpumem_host_backend(void); /* the host backend's static library */

#define VERSION_5_SIZE (offsetof(gpumem_backend_vtable, event_unwrap) + sizeof(void *))

/* Room for a whole current table, so that a reader that goes too far reads the pattern. */
static union {
    gpumem_backend_vtable table;
    unsigned char bytes[sizeof(gpumem_backend_vtable)];
} v5;

GPUMEM_API const gpumem_backend_vtable *gpumem_backend_entry(void);

const gpumem_backend_vtable *gpumem_backend_entry(void)
{
    memcpy(v5.bytes, gpumem_host_backend(), VERSION_5_SIZE);
    memset(v5.bytes + VERSION_5_SIZE, 0xA5, sizeof v5.bytes - VERSION_5_SIZE);
    v5.table.version = 5;
    v5.table.name = "hostv5";
    return &v5.table;
}
